//! DescribeShareGroupOffsets (key 90, KIP-932): each share partition's start offset (and, from
//! v1, its lag, KIP-1226) for share groups; the Java Admin client's
//! `listShareGroupOffsets`. Defined at v0-1, Kafka 4.4's versions. Served and advertised at v0-1,
//! the range a Kafka 4.4 broker advertises (issue #16).

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for the share-partition offsets of each named group.
    pub struct DescribeShareGroupOffsetsRequest: key 90, versions "0-1", flexible "0+" {
        groups: Vec<DescribeShareGroupOffsetsRequestGroup> => "0+";
    }
}

wire_struct! {
    /// One group, and the partitions to describe.
    pub struct DescribeShareGroupOffsetsRequestGroup {
        group_id: Str => "0+";
        /// The topics to describe, or null for every topic-partition the group has state for.
        topics: Option<Vec<DescribeShareGroupOffsetsRequestTopic>> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// One topic's partitions, by name.
    pub struct DescribeShareGroupOffsetsRequestTopic {
        topic_name: Str => "0+";
        /// The partition indexes.
        partitions: Vec<i32> => "0+";
    }
}

api_message! {
    /// The offsets per group, topic and partition.
    pub struct DescribeShareGroupOffsetsResponse: key 90, versions "0-1", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        groups: Vec<DescribeShareGroupOffsetsResponseGroup> => "0+";
    }
}

wire_struct! {
    /// One group's offsets, or its error.
    pub struct DescribeShareGroupOffsetsResponseGroup {
        group_id: Str => "0+";
        topics: Vec<DescribeShareGroupOffsetsResponseTopic> => "0+";
        error_code: i16 => "0+";
        /// The group-level error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// One topic's partitions, by name and id.
    pub struct DescribeShareGroupOffsetsResponseTopic {
        topic_name: Str => "0+";
        topic_id: Uuid => "0+";
        partitions: Vec<DescribeShareGroupOffsetsResponsePartition> => "0+";
    }
}

wire_struct! {
    /// One share partition's start offset and lag.
    pub struct DescribeShareGroupOffsetsResponsePartition {
        partition_index: i32 => "0+";
        /// The share-partition start offset.
        start_offset: i64 => "0+";
        leader_epoch: i32 => "0+";
        /// The share-partition lag (v1+, KIP-1226), -1 when unknown.
        lag: i64 => "1+", default -1;
        error_code: i16 => "0+";
        /// The partition-level error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
    }
}
