//! Fetch (key 1): records read from partitions. Served at v4-16 (topics named by id from v13).
//!
//! The response reuses [`super::LeaderIdAndEpoch`] and [`super::NodeEndpoint`] from Produce.

use bytes::Bytes;
use uuid::Uuid;

use super::produce::{LeaderIdAndEpoch, NodeEndpoint};
use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for records from each partition from an offset on.
    pub struct FetchRequest: key 1, versions "0-17", flexible "12+" {
        /// The cluster id if known (KRaft metadata fetches).
        cluster_id: Option<Str> => "12+", nullable "12+", tag 0;
        /// The follower's broker id, or -1 for a consumer.
        replica_id: i32 => "0-14", default -1;
        /// The follower's id and epoch (replaces `replica_id` from v15).
        replica_state: ReplicaState => "15+", tag 1;
        max_wait_ms: i32 => "0+";
        min_bytes: i32 => "0+";
        /// The maximum bytes to return (KIP-74: at least one batch is returned regardless).
        max_bytes: i32 => "3+", default 0x7fff_ffff;
        /// 0 = READ_UNCOMMITTED, 1 = READ_COMMITTED.
        isolation_level: i8 => "4+";
        /// The fetch session id (KIP-227), 0 for none.
        session_id: i32 => "7+";
        /// The fetch session epoch, -1 for a full fetch without a session.
        session_epoch: i32 => "7+", default -1;
        topics: Vec<FetchTopic> => "0+";
        /// In an incremental fetch, the partitions to remove from the session.
        forgotten_topics_data: Vec<ForgottenTopic> => "7+";
        /// The consumer's rack, for follower fetching (KIP-392).
        rack_id: Str => "11+";
    }
}

wire_struct! {
    /// A follower's identity (Fetch v15+).
    pub struct ReplicaState {
        replica_id: i32 => "15+", default -1;
        replica_epoch: i64 => "15+", default -1;
    }
}

wire_struct! {
    /// One topic to fetch from, by name (v0-12) or id (v13+).
    pub struct FetchTopic {
        topic: Str => "0-12";
        topic_id: Uuid => "13+";
        partitions: Vec<FetchPartition> => "0+";
    }
}

wire_struct! {
    /// One partition to fetch from.
    pub struct FetchPartition {
        /// The partition index.
        partition: i32 => "0+";
        current_leader_epoch: i32 => "9+", default -1;
        /// The offset to read from.
        fetch_offset: i64 => "0+";
        /// The epoch of the last fetched record, or -1.
        last_fetched_epoch: i32 => "12+", default -1;
        /// The follower's log start offset (followers only).
        log_start_offset: i64 => "5+", default -1;
        partition_max_bytes: i32 => "0+";
        /// The fetching follower's log directory.
        replica_directory_id: Uuid => "17+", tag 0;
    }
}

wire_struct! {
    /// Partitions to drop from an incremental fetch session.
    pub struct ForgottenTopic {
        topic: Str => "7-12";
        topic_id: Uuid => "13+";
        /// The partition indexes.
        partitions: Vec<i32> => "7+";
    }
}

api_message! {
    /// Records and offsets per partition.
    pub struct FetchResponse: key 1, versions "0-17", flexible "12+" {
        throttle_time_ms: i32 => "1+";
        /// The top-level error (fetch session errors).
        error_code: i16 => "7+";
        /// The fetch session id, or 0 outside a session.
        session_id: i32 => "7+";
        responses: Vec<FetchableTopicResponse> => "0+";
        /// Endpoints of the current leaders named in NOT_LEADER_OR_FOLLOWER and
        /// FENCED_LEADER_EPOCH partition errors.
        node_endpoints: Vec<NodeEndpoint> => "16+", tag 0;
    }
}

wire_struct! {
    /// One topic's partitions, by name (v0-12) or id (v13+).
    pub struct FetchableTopicResponse {
        topic: Str => "0-12";
        topic_id: Uuid => "13+";
        partitions: Vec<PartitionData> => "0+";
    }
}

wire_struct! {
    /// One partition's records and offsets.
    pub struct PartitionData {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
        high_watermark: i64 => "0+";
        /// The last stable offset: every transaction before it is decided.
        last_stable_offset: i64 => "4+", default -1;
        log_start_offset: i64 => "5+", default -1;
        /// Where the follower's log diverges from the leader's (KIP-595).
        diverging_epoch: EpochEndOffset => "12+", tag 0;
        current_leader: LeaderIdAndEpoch => "12+", tag 1;
        /// The snapshot to fetch instead when the offset is below the log start (KIP-630).
        snapshot_id: SnapshotId => "12+", tag 2;
        /// The aborted transactions in the returned range (READ_COMMITTED), or null.
        aborted_transactions: Option<Vec<AbortedTransaction>> => "4+", nullable "4+";
        /// The replica the consumer should fetch from next, or -1.
        preferred_read_replica: i32 => "11+", default -1;
        /// The record batches.
        records: Option<Bytes> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// An epoch and its end offset, -1 each when unset.
    pub struct EpochEndOffset {
        epoch: i32 => "12+", default -1;
        end_offset: i64 => "12+", default -1;
    }
}

wire_struct! {
    /// A snapshot's end offset and epoch, -1 each when unset.
    pub struct SnapshotId {
        end_offset: i64 => "0+", default -1;
        epoch: i32 => "0+", default -1;
    }
}

wire_struct! {
    /// One aborted transaction: its producer and first offset.
    pub struct AbortedTransaction {
        producer_id: i64 => "4+";
        first_offset: i64 => "4+";
    }
}
