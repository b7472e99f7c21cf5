//! TxnOffsetCommit (key 28): a transactional producer commits a consumer group's offsets as
//! part of its transaction (visible once the transaction commits). Defined at v0-5 as in Kafka
//! 4.4 (flexible from v3; v4 and v5 add error codes only, no fields).

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Offsets to commit for a group within the producer's transaction.
    pub struct TxnOffsetCommitRequest: key 28, versions "0-5", flexible "3+" {
        transactional_id: Str => "0+";
        group_id: Str => "0+";
        producer_id: i64 => "0+";
        producer_epoch: i16 => "0+";
        /// The consumer's generation, -1 if unknown (v3+).
        generation_id: i32 => "3+", default -1;
        /// The member id assigned by the group coordinator, empty if unknown (v3+).
        member_id: Str => "3+";
        /// The static member's instance id, if any (v3+).
        group_instance_id: Option<Str> => "3+", nullable "3+";
        topics: Vec<TxnOffsetCommitRequestTopic> => "0+";
    }
}

wire_struct! {
    /// The offsets to commit for one topic.
    pub struct TxnOffsetCommitRequestTopic {
        name: Str => "0+";
        partitions: Vec<TxnOffsetCommitRequestPartition> => "0+";
    }
}

wire_struct! {
    /// The offset to commit for one partition.
    pub struct TxnOffsetCommitRequestPartition {
        partition_index: i32 => "0+";
        /// The next offset to consume.
        committed_offset: i64 => "0+";
        /// The leader epoch of the last consumed record, or -1 (v2+).
        committed_leader_epoch: i32 => "2+", default -1;
        /// Client metadata stored with the offset.
        committed_metadata: Option<Str> => "0+", nullable "0+";
    }
}

api_message! {
    /// One error code per partition.
    pub struct TxnOffsetCommitResponse: key 28, versions "0-5", flexible "3+" {
        throttle_time_ms: i32 => "0+";
        topics: Vec<TxnOffsetCommitResponseTopic> => "0+";
    }
}

wire_struct! {
    /// The results for one topic.
    pub struct TxnOffsetCommitResponseTopic {
        name: Str => "0+";
        partitions: Vec<TxnOffsetCommitResponsePartition> => "0+";
    }
}

wire_struct! {
    /// The result for one partition.
    pub struct TxnOffsetCommitResponsePartition {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
    }
}
