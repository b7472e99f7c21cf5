//! DescribeTopicPartitions (key 75, KIP-966): the partitions of some topics (or all), paginated
//! by a cursor and a partition limit, what `kafka-topics.sh --describe` and
//! `Admin.describeTopics` ask in Kafka 4.x before falling back to Metadata. Defined at v0 as in
//! Kafka 4.4 (flexible from v0). The cursor is a nullable struct ([`crate::nullable_struct!`]).

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, nullable_struct, wire_struct};

/// Kafka's default `response_partition_limit`, and the most it answers in one response.
pub const DESCRIBE_TOPIC_PARTITIONS_LIMIT_DEFAULT: i32 = 2000;

api_message! {
    /// The topics to describe (empty: all), how many partitions to answer at most, and where to
    /// start.
    pub struct DescribeTopicPartitionsRequest: key 75, versions "0", flexible "0+" {
        topics: Vec<DescribeTopicPartitionsRequestTopic> => "0+";
        response_partition_limit: i32 => "0+", default DESCRIBE_TOPIC_PARTITIONS_LIMIT_DEFAULT;
        /// The first topic and partition to describe, or null to start at the beginning.
        cursor: Option<DescribeTopicPartitionsCursor> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// One topic asked for, by name.
    pub struct DescribeTopicPartitionsRequestTopic {
        name: Str => "0+";
    }
}

wire_struct! {
    /// A place in the (topic name, partition) order: where to start, or where the next page
    /// starts.
    pub struct DescribeTopicPartitionsCursor {
        topic_name: Str => "0+";
        partition_index: i32 => "0+";
    }
}

nullable_struct!(DescribeTopicPartitionsCursor);

api_message! {
    /// The topics' partitions, and where the next page starts (null: nothing left).
    pub struct DescribeTopicPartitionsResponse: key 75, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        topics: Vec<DescribeTopicPartitionsResponseTopic> => "0+";
        next_cursor: Option<DescribeTopicPartitionsCursor> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// One topic: an error, or its partitions.
    pub struct DescribeTopicPartitionsResponseTopic {
        error_code: i16 => "0+";
        name: Option<Str> => "0+", nullable "0+";
        topic_id: Uuid => "0+";
        is_internal: bool => "0+";
        partitions: Vec<DescribeTopicPartitionsResponsePartition> => "0+";
        /// A bit per ACL operation code, or `i32::MIN` when not asked for.
        topic_authorized_operations: i32 => "0+", default i32::MIN;
    }
}

wire_struct! {
    /// One partition: its leader and replica sets.
    pub struct DescribeTopicPartitionsResponsePartition {
        error_code: i16 => "0+";
        partition_index: i32 => "0+";
        leader_id: i32 => "0+";
        leader_epoch: i32 => "0+", default -1;
        replica_nodes: Vec<i32> => "0+";
        isr_nodes: Vec<i32> => "0+";
        /// Eligible leader replicas (KIP-966), or null.
        eligible_leader_replicas: Option<Vec<i32>> => "0+", nullable "0+";
        /// The last known eligible leader replicas, or null.
        last_known_elr: Option<Vec<i32>> => "0+", nullable "0+";
        offline_replicas: Vec<i32> => "0+";
    }
}
