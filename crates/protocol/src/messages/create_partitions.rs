//! CreatePartitions (key 37): more partitions for existing topics (`kafka-topics.sh --alter
//! --partitions`, Admin.createPartitions). Defined at v0-3, Kafka 4.4's versions (flexible from
//! v2).

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The topics to grow.
    pub struct CreatePartitionsRequest: key 37, versions "0-3", flexible "2+" {
        topics: Vec<CreatePartitionsTopic> => "0+";
        /// How long to wait for the change (ms).
        timeout_ms: i32 => "0+";
        /// Whether only to validate the change, not make it.
        validate_only: bool => "0+";
    }
}

wire_struct! {
    /// One topic and its new partition count.
    pub struct CreatePartitionsTopic {
        name: Str => "0+";
        /// The partition count wanted (the total, not how many to add).
        count: i32 => "0+";
        /// The replicas of each new partition, or null (the broker chooses).
        assignments: Option<Vec<CreatePartitionsAssignment>> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// The replicas of one new partition.
    pub struct CreatePartitionsAssignment {
        broker_ids: Vec<i32> => "0+";
    }
}

api_message! {
    /// The outcome for each topic.
    pub struct CreatePartitionsResponse: key 37, versions "0-3", flexible "2+" {
        throttle_time_ms: i32 => "0+";
        results: Vec<CreatePartitionsTopicResult> => "0+";
    }
}

wire_struct! {
    /// One topic's outcome.
    pub struct CreatePartitionsTopicResult {
        name: Str => "0+";
        error_code: i16 => "0+";
        /// The error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
    }
}
