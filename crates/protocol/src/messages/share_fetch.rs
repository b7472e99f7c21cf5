//! ShareFetch (key 78, KIP-932): a share-group member acquires records from partitions and
//! acknowledges records it acquired before. Defined at v1-2, Kafka 4.4's versions (v1 is the
//! first stable one; v2 adds `share_acquire_mode` (KIP-1206) and renew acknowledgements,
//! `is_renew_ack` (KIP-1222)). Served and advertised at v1-2, the range a Kafka 4.4 broker
//! advertises (issue #16); the broker frames its responses with
//! [`crate::share_fetch_frame::frame_share_fetch_response`] so records are sent as stored.
//!
//! Kafka's schema also lists v0 fields (`partition_max_bytes`, nullable `records`); v0 is not a
//! valid version any more, so they are left out here.

use bytes::Bytes;
use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Acquires records from each partition and acknowledges earlier ones, in a share session.
    pub struct ShareFetchRequest: key 78, versions "1-2", flexible "0+" {
        /// The group id, or null.
        group_id: Option<Str> => "0+", nullable "0+";
        member_id: Option<Str> => "0+", nullable "0+";
        /// The share session epoch: 0 opens a session, -1 closes it, otherwise it increments
        /// with each request.
        share_session_epoch: i32 => "0+";
        max_wait_ms: i32 => "0+";
        min_bytes: i32 => "0+";
        /// The maximum bytes to return (KIP-74: at least one batch is returned regardless).
        max_bytes: i32 => "0+", default 0x7fff_ffff;
        /// The maximum records to acquire (exceeded to keep whole batches).
        max_records: i32 => "1+";
        /// The preferred number of records per acquired and acknowledged batch.
        batch_size: i32 => "1+";
        /// 0 = batch-optimized, 1 = record-limit (KIP-1206).
        share_acquire_mode: i8 => "2+";
        /// Whether the acknowledgement batches hold renew acknowledgements (KIP-1222).
        is_renew_ack: bool => "2+";
        topics: Vec<ShareFetchTopic> => "0+";
        /// The partitions to remove from the share session.
        forgotten_topics_data: Vec<ShareForgottenTopic> => "0+";
    }
}

wire_struct! {
    /// One topic to fetch from, by id.
    pub struct ShareFetchTopic {
        topic_id: Uuid => "0+";
        partitions: Vec<ShareFetchPartition> => "0+";
    }
}

wire_struct! {
    /// One partition to fetch from, with the acknowledgements for it.
    pub struct ShareFetchPartition {
        partition_index: i32 => "0+";
        acknowledgement_batches: Vec<ShareAcknowledgementBatch> => "0+";
    }
}

wire_struct! {
    /// A range of offsets and how each is acknowledged. Shared by ShareFetch and
    /// ShareAcknowledge requests, whose schemas declare the same fields.
    pub struct ShareAcknowledgementBatch {
        first_offset: i64 => "0+";
        /// The last offset, inclusive.
        last_offset: i64 => "0+";
        /// One type for the whole range or one per offset: 0 gap, 1 accept, 2 release,
        /// 3 reject, 4 renew (v2+).
        acknowledge_types: Vec<i8> => "0+";
    }
}

wire_struct! {
    /// Partitions to drop from the share session.
    pub struct ShareForgottenTopic {
        topic_id: Uuid => "0+";
        /// The partition indexes.
        partitions: Vec<i32> => "0+";
    }
}

api_message! {
    /// Acquired records and acknowledgement results per partition.
    pub struct ShareFetchResponse: key 78, versions "1-2", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        /// The top-level error message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        /// How long acquired records stay locked to this member.
        acquisition_lock_timeout_ms: i32 => "1+";
        responses: Vec<ShareFetchableTopicResponse> => "0+";
        /// Endpoints of the current leaders named in NOT_LEADER_OR_FOLLOWER partition errors.
        node_endpoints: Vec<ShareNodeEndpoint> => "0+";
    }
}

wire_struct! {
    /// One topic's partitions, by id.
    pub struct ShareFetchableTopicResponse {
        topic_id: Uuid => "0+";
        partitions: Vec<ShareFetchPartitionData> => "0+";
    }
}

wire_struct! {
    /// One partition's acquired records and its fetch and acknowledge outcomes.
    pub struct ShareFetchPartitionData {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
        /// The fetch error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        acknowledge_error_code: i16 => "0+";
        /// The acknowledge error's message, or null.
        acknowledge_error_message: Option<Str> => "0+", nullable "0+";
        current_leader: ShareLeaderIdAndEpoch => "0+";
        /// The record batches (not nullable from v1).
        records: Bytes => "0+";
        acquired_records: Vec<ShareAcquiredRecords> => "0+";
    }
}

wire_struct! {
    /// A range of acquired offsets and how often they have been delivered.
    pub struct ShareAcquiredRecords {
        first_offset: i64 => "0+";
        /// The last offset, inclusive.
        last_offset: i64 => "0+";
        delivery_count: i16 => "0+";
    }
}

wire_struct! {
    /// A partition's current leader and epoch (share APIs: positional, no -1 defaults, unlike
    /// the tagged [`super::LeaderIdAndEpoch`] of Produce and Fetch).
    pub struct ShareLeaderIdAndEpoch {
        /// The leader's id, or -1 when unknown.
        leader_id: i32 => "0+";
        leader_epoch: i32 => "0+";
    }
}

wire_struct! {
    /// Where a broker listens (share APIs, all versions; [`super::NodeEndpoint`] is Produce's
    /// and Fetch's, from their v10 and v16).
    pub struct ShareNodeEndpoint {
        node_id: i32 => "0+";
        host: Str => "0+";
        port: i32 => "0+";
        /// The broker's rack, or null.
        rack: Option<Str> => "0+", nullable "0+";
    }
}
