//! DescribeShareState (key 32001, ringlog-private): per share-partition of one share group, the
//! start and end of its in-flight window and how many records are in each delivery state
//! (issue #16; behind `ringlog groups describe`). Served at v0 and never advertised in
//! ApiVersions (see [`crate::versions::PRIVATE_APIS`]); Kafka has no API for these numbers.
//!
//! Flexible at every version, as DescribeDelays. v0 body layouts:
//!
//! ```text
//!  request                              response
//!  +-------------------------------+    +----------------------------------------------+
//!  | group_id   compact string     |    | throttle_time_ms  i32                        |
//!  | tagged fields                 |    | error_code        i16                        |
//!  +-------------------------------+    | partitions: compact array of                 |
//!                                       |   topic            compact string            |
//!                                       |   partition        i32                       |
//!                                       |   start_offset     i64                       |
//!                                       |   end_offset       i64                       |
//!                                       |   available        i64                       |
//!                                       |   acquired         i64                       |
//!                                       |   acknowledged     i64                       |
//!                                       |   archived         i64                       |
//!                                       |   dlq_pending      i64                       |
//!                                       |   tagged fields                              |
//!                                       | tagged fields                                |
//!                                       +----------------------------------------------+
//! ```

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for the share state of one share group, on every shard.
    pub struct DescribeShareStateRequest: key 32_001, versions "0", flexible "0+" {
        group_id: Str => "0+";
    }
}

api_message! {
    /// The share-partitions of the group, sorted by topic and partition.
    pub struct DescribeShareStateResponse: key 32_001, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        /// INVALID_GROUP_ID for an invalid id, else 0.
        error_code: i16 => "0+";
        partitions: Vec<DescribedSharePartition> => "0+";
    }
}

wire_struct! {
    /// One share-partition's window and counts.
    pub struct DescribedSharePartition {
        topic: Str => "0+";
        partition: i32 => "0+";
        /// The share-partition start offset (every record below is done).
        start_offset: i64 => "0+";
        /// The first offset never delivered.
        end_offset: i64 => "0+";
        /// Records in the window waiting for a consumer (or for their retry backoff).
        available: i64 => "0+";
        /// Records held by a consumer (in flight).
        acquired: i64 => "0+";
        /// Records accepted, in the window (not yet passed by the start offset).
        acknowledged: i64 => "0+";
        /// Records archived (rejected or at the delivery limit), in the window.
        archived: i64 => "0+";
        /// Archived records whose dead-letter copy is not written yet.
        dlq_pending: i64 => "0+";
    }
}
