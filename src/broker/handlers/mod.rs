//! One file per Kafka API: decode has happened already; each handler applies the request to the
//! shard (and, through the mesh, to other shards) and builds the response.
//!
//! # Invariants
//! - Handlers never panic on request content: every field is checked and answered with the Kafka
//!   error code the real broker would use.
//! - Version-dependent response fields are set only for versions that carry them (kafka-protocol
//!   refuses to encode a non-default value the version lacks).

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod fetch;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
// Consumer groups (state lives in crate::broker::group).
pub mod delete_groups;
pub mod describe_groups;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_fetch;
pub mod sync_group;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// A topic name for a response.
pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}
