//! DeleteRecords (key 21, KIP-107): moves partitions' log start offsets up, deleting the
//! records below (`kafka-delete-records.sh`, `Admin.deleteRecords`). Defined at v0-2 as in
//! Kafka 4.4 (v1 as v0; flexible from v2).

use crate::wire::Str;
use crate::{api_message, wire_struct};

/// The `offset` that means "the high watermark".
pub const DELETE_RECORDS_TO_HIGH_WATERMARK: i64 = -1;

api_message! {
    /// Per partition, the offset below which records go.
    pub struct DeleteRecordsRequest: key 21, versions "0-2", flexible "2+" {
        topics: Vec<DeleteRecordsTopic> => "0+";
        /// How long to wait for the deletion to complete.
        timeout_ms: i32 => "0+";
    }
}

wire_struct! {
    /// One topic's partitions.
    pub struct DeleteRecordsTopic {
        name: Str => "0+";
        partitions: Vec<DeleteRecordsPartition> => "0+";
    }
}

wire_struct! {
    /// One partition and its new start (-1: the high watermark).
    pub struct DeleteRecordsPartition {
        partition_index: i32 => "0+";
        offset: i64 => "0+";
    }
}

api_message! {
    /// One answer per partition asked for.
    pub struct DeleteRecordsResponse: key 21, versions "0-2", flexible "2+" {
        throttle_time_ms: i32 => "0+";
        topics: Vec<DeleteRecordsTopicResult> => "0+";
    }
}

wire_struct! {
    /// One topic's answers.
    pub struct DeleteRecordsTopicResult {
        name: Str => "0+";
        partitions: Vec<DeleteRecordsPartitionResult> => "0+";
    }
}

wire_struct! {
    /// One partition's new log start offset (its low watermark), or an error.
    pub struct DeleteRecordsPartitionResult {
        partition_index: i32 => "0+";
        low_watermark: i64 => "0+";
        error_code: i16 => "0+";
    }
}
