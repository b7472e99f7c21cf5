//! DescribeProducers (key 61, KIP-664): the producers a partition's log is tracking, with the
//! first offset of each one's open transaction (`kafka-transactions.sh describe-producers` and
//! `find-hanging`). Defined at v0 as in Kafka 4.4 (flexible).

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The partitions to describe, by topic name.
    pub struct DescribeProducersRequest: key 61, versions "0", flexible "0+" {
        topics: Vec<DescribeProducersTopic> => "0+";
    }
}

wire_struct! {
    /// The partitions of one topic to describe (Kafka's `TopicRequest`).
    pub struct DescribeProducersTopic {
        name: Str => "0+";
        partition_indexes: Vec<i32> => "0+";
    }
}

api_message! {
    /// One answer per partition asked for.
    pub struct DescribeProducersResponse: key 61, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        topics: Vec<DescribedProducersTopic> => "0+";
    }
}

wire_struct! {
    /// The partitions of one topic (Kafka's `TopicResponse`).
    pub struct DescribedProducersTopic {
        name: Str => "0+";
        partitions: Vec<DescribedProducersPartition> => "0+";
    }
}

wire_struct! {
    /// One partition's producers, or its error (Kafka's `PartitionResponse`).
    pub struct DescribedProducersPartition {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        active_producers: Vec<DescribedProducer> => "0+";
    }
}

wire_struct! {
    /// One producer the partition's log tracks (Kafka's `ProducerState`).
    pub struct DescribedProducer {
        producer_id: i64 => "0+";
        /// The epoch of the producer's last batch (an i32 on this wire, an i16 everywhere else).
        producer_epoch: i32 => "0+";
        /// The sequence of the last record the producer appended, -1 if none.
        last_sequence: i32 => "0+", default -1;
        /// When the producer last appended (ms since the epoch), -1 if unknown.
        last_timestamp: i64 => "0+", default -1;
        /// The coordinator epoch of the producer's last transaction marker, -1 if none.
        coordinator_epoch: i32 => "0+";
        /// The first offset of the producer's open transaction here, -1 if none.
        current_txn_start_offset: i64 => "0+", default -1;
    }
}
