//! ShareAcknowledge (key 79, KIP-932): a share-group member acknowledges acquired records
//! without fetching more. Defined at v1-2, Kafka 4.4's versions (v2 adds `is_renew_ack` and the
//! response's `acquisition_lock_timeout_ms`, KIP-1222). Served and advertised at v1-2, the range
//! a Kafka 4.4 broker advertises (issue #16).
//!
//! Reuses [`super::ShareAcknowledgementBatch`], [`super::ShareLeaderIdAndEpoch`] and
//! [`super::ShareNodeEndpoint`] from ShareFetch.

use uuid::Uuid;

use super::share_fetch::{ShareAcknowledgementBatch, ShareLeaderIdAndEpoch, ShareNodeEndpoint};
use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Acknowledges acquired records, per partition, in a share session.
    pub struct ShareAcknowledgeRequest: key 79, versions "1-2", flexible "0+" {
        /// The group id, or null.
        group_id: Option<Str> => "0+", nullable "0+";
        member_id: Option<Str> => "0+", nullable "0+";
        /// The share session epoch: 0 opens a session, -1 closes it, otherwise it increments
        /// with each request.
        share_session_epoch: i32 => "0+";
        /// Whether the acknowledgement batches hold renew acknowledgements (KIP-1222).
        is_renew_ack: bool => "2+";
        topics: Vec<ShareAcknowledgeTopic> => "0+";
    }
}

wire_struct! {
    /// One topic's acknowledgements, by id.
    pub struct ShareAcknowledgeTopic {
        topic_id: Uuid => "0+";
        partitions: Vec<ShareAcknowledgePartition> => "0+";
    }
}

wire_struct! {
    /// One partition's acknowledgements.
    pub struct ShareAcknowledgePartition {
        partition_index: i32 => "0+";
        acknowledgement_batches: Vec<ShareAcknowledgementBatch> => "0+";
    }
}

api_message! {
    /// The acknowledgement outcome per partition.
    pub struct ShareAcknowledgeResponse: key 79, versions "1-2", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        /// The top-level error message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        /// How long acquired records stay locked to this member (v2+, after a renew).
        acquisition_lock_timeout_ms: i32 => "2+";
        responses: Vec<ShareAcknowledgeTopicResponse> => "0+";
        /// Endpoints of the current leaders named in NOT_LEADER_OR_FOLLOWER partition errors.
        node_endpoints: Vec<ShareNodeEndpoint> => "0+";
    }
}

wire_struct! {
    /// One topic's partitions, by id.
    pub struct ShareAcknowledgeTopicResponse {
        topic_id: Uuid => "0+";
        partitions: Vec<ShareAcknowledgePartitionData> => "0+";
    }
}

wire_struct! {
    /// One partition's acknowledgement outcome.
    pub struct ShareAcknowledgePartitionData {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
        /// The error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        current_leader: ShareLeaderIdAndEpoch => "0+";
    }
}
