//! One file per Kafka API: decode has happened already; each handler applies the request to the
//! shard (and, through the mesh, to other shards) and builds the response.
//!
//! # Invariants
//! - Handlers never panic on request content: every field is checked and answered with the Kafka
//!   error code the real broker would use.
//! - Errors travel as [`crate::error::BrokerError`] (from the shard inbox, the coordinator and
//!   the handlers' own checks) and become Kafka codes only where the response is built, through
//!   `BrokerError::kafka_code` (and `message` where the response carries text).
//! - Handlers set every response field they know, whatever the request's version: which field
//!   exists at which version is the message definitions' business (the encoder leaves out the
//!   fields a version lacks). A handler looks at the version only to decide what the client could
//!   have sent or expects, through the definitions (`carries`, or a named rule next to them).

pub mod api_versions;
pub mod authorize; // ACLs checked on every API (issue #20)
pub mod create_acls; // ACLs (issue #20): the model and store live in crate::acl
pub mod create_topics;
pub mod delete_acls;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_log_dirs;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
// Consumer groups (state lives in crate::group).
pub mod delete_groups;
pub mod describe_groups;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
// SCRAM credentials (issue #20; the store lives in crate::auth).
pub mod scram_credentials;
// Client quotas (issue #20; the model, store and enforcement live in crate::quota).
pub mod alter_client_quotas;
pub mod describe_client_quotas;
pub mod sync_group;
pub mod txn;
// Transactions' partition side (the producer state each log keeps).
pub mod describe_producers;
// ringlog-private APIs (served, never advertised: protocol::versions::PRIVATE_APIS).
pub mod describe_delays;
pub mod describe_views;
// Share groups (state lives in crate::share).
pub mod share_acknowledge;
pub mod share_fetch;
pub mod share_group_describe;
pub mod share_group_heartbeat;
// Configs (group, topic and broker) and partitions (issue #19).
pub mod alter_configs;
pub mod create_partitions;
pub mod describe_cluster;
pub mod describe_configs;
pub mod incremental_alter_configs;
pub mod share_group_offsets;
// KIP-848 consumer groups (state lives in crate::group::consumer).
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod describe_share_state;
