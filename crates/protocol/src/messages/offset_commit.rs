//! OffsetCommit (key 8): a group member stores its consumed positions. Served at v2-9.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Commits offsets for a group, per topic and partition.
    pub struct OffsetCommitRequest: key 8, versions "0-9", flexible "8+" {
        group_id: Str => "0+";
        /// The classic group's generation, or the member epoch under the consumer protocol
        /// (KIP-848); -1 commits as a simple (non-member) consumer.
        generation_id_or_member_epoch: i32 => "1+", default -1;
        /// The member id assigned by the coordinator (empty for a simple consumer).
        member_id: Str => "1+";
        /// The static member's instance id (KIP-345), if any.
        group_instance_id: Option<Str> => "7+", nullable "7+";
        /// How long to keep the offsets; -1 = the broker's retention (v2-4 only).
        retention_time_ms: i64 => "2-4", default -1;
        topics: Vec<OffsetCommitRequestTopic> => "0+";
    }
}

wire_struct! {
    /// The offsets to commit for one topic.
    pub struct OffsetCommitRequestTopic {
        name: Str => "0+";
        partitions: Vec<OffsetCommitRequestPartition> => "0+";
    }
}

wire_struct! {
    /// The offset to commit for one partition.
    pub struct OffsetCommitRequestPartition {
        partition_index: i32 => "0+";
        /// The next offset to consume.
        committed_offset: i64 => "0+";
        /// The leader epoch of the last consumed record, or -1.
        committed_leader_epoch: i32 => "6+", default -1;
        /// The commit's timestamp (v1 only; not in the kafka-protocol crate, which starts at v2).
        commit_timestamp: i64 => "1", default -1;
        /// Client metadata stored with the offset.
        committed_metadata: Option<Str> => "0+", nullable "0+";
    }
}

api_message! {
    /// One error code per partition committed.
    pub struct OffsetCommitResponse: key 8, versions "0-9", flexible "8+" {
        throttle_time_ms: i32 => "3+";
        topics: Vec<OffsetCommitResponseTopic> => "0+";
    }
}

wire_struct! {
    /// The results for one topic.
    pub struct OffsetCommitResponseTopic {
        name: Str => "0+";
        partitions: Vec<OffsetCommitResponsePartition> => "0+";
    }
}

wire_struct! {
    /// The result for one partition.
    pub struct OffsetCommitResponsePartition {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
    }
}
