//! ListOffsets (key 2): the offset for a timestamp (or earliest/latest). Served at v1-8.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks, per partition, for the offset of a timestamp or a special one (-1 latest,
    /// -2 earliest, -3 max timestamp, -4 earliest local, -5 earliest pending upload).
    pub struct ListOffsetsRequest: key 2, versions "0-10", flexible "6+" {
        /// The requesting broker's id, or -1 for a consumer.
        replica_id: i32 => "0+";
        /// 0 = READ_UNCOMMITTED (up to the high watermark), 1 = READ_COMMITTED (up to the LSO).
        isolation_level: i8 => "2+";
        topics: Vec<ListOffsetsTopic> => "0+";
        /// The timeout for reads from remote (tiered) storage.
        timeout_ms: i32 => "10+";
    }
}

wire_struct! {
    /// One topic asked about.
    pub struct ListOffsetsTopic {
        name: Str => "0+";
        partitions: Vec<ListOffsetsPartition> => "0+";
    }
}

wire_struct! {
    /// One partition asked about.
    pub struct ListOffsetsPartition {
        partition_index: i32 => "0+";
        current_leader_epoch: i32 => "4+", default -1;
        /// The timestamp to look up, or a special value (see [`ListOffsetsRequest`]).
        timestamp: i64 => "0+";
        /// The maximum number of offsets to report (v0 only).
        max_num_offsets: i32 => "0", default 1;
    }
}

api_message! {
    /// The offsets found.
    pub struct ListOffsetsResponse: key 2, versions "0-10", flexible "6+" {
        throttle_time_ms: i32 => "2+";
        topics: Vec<ListOffsetsTopicResponse> => "0+";
    }
}

wire_struct! {
    /// One topic's answers.
    pub struct ListOffsetsTopicResponse {
        name: Str => "0+";
        partitions: Vec<ListOffsetsPartitionResponse> => "0+";
    }
}

wire_struct! {
    /// One partition's answer.
    pub struct ListOffsetsPartitionResponse {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
        /// The offsets found (v0 only).
        old_style_offsets: Vec<i64> => "0";
        /// The timestamp of the returned offset.
        timestamp: i64 => "1+", default -1;
        offset: i64 => "1+", default -1;
        leader_epoch: i32 => "4+", default -1;
    }
}
