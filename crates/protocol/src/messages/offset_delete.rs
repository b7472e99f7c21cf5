//! OffsetDelete (key 47, KIP-496): deletes a group's committed offsets of some partitions
//! (`kafka-consumer-groups.sh --delete-offsets`, `Admin.deleteConsumerGroupOffsets`). Defined
//! at v0, Kafka 4.4's only version (not flexible).

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The partitions whose committed offsets of `group_id` to delete.
    pub struct OffsetDeleteRequest: key 47, versions "0", flexible "none" {
        group_id: Str => "0+";
        topics: Vec<OffsetDeleteRequestTopic> => "0+";
    }
}

wire_struct! {
    /// One topic's partitions.
    pub struct OffsetDeleteRequestTopic {
        name: Str => "0+";
        partitions: Vec<OffsetDeleteRequestPartition> => "0+";
    }
}

wire_struct! {
    /// One partition.
    pub struct OffsetDeleteRequestPartition {
        partition_index: i32 => "0+";
    }
}

api_message! {
    /// A group-level error (then no topics), or one result per partition asked for.
    pub struct OffsetDeleteResponse: key 47, versions "0", flexible "none" {
        error_code: i16 => "0+";
        throttle_time_ms: i32 => "0+";
        topics: Vec<OffsetDeleteResponseTopic> => "0+";
    }
}

wire_struct! {
    /// One topic's results.
    pub struct OffsetDeleteResponseTopic {
        name: Str => "0+";
        partitions: Vec<OffsetDeleteResponsePartition> => "0+";
    }
}

wire_struct! {
    /// One partition's result: 0 (deleted, or there was nothing to delete) or its error.
    pub struct OffsetDeleteResponsePartition {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
    }
}
