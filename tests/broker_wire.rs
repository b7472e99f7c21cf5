//! Black-box wire tests of the broker: a real broker (two shards) on 127.0.0.1, driven over TCP by
//! a tiny blocking client that encodes requests and decodes responses with kafka-protocol. Every
//! test runs once per I/O driver (`mod uring`, `mod epoll`), every socket has a timeout, and the
//! whole file runs in a few seconds.
//!
//! - `versions`: every advertised version of ApiVersions, Metadata, Produce and Fetch, byte-level,
//!   plus Fetch long polls (timing out, and woken by a Produce from another connection).
//! - `errors`: unsupported versions and keys, malformed frames, and the Kafka error codes of
//!   CreateTopics and Produce.
//! - `shards`: partitions on both shards behind one connection, ListOffsets, pipelining, shutdown.
//! - `chaos`: seeded garbage from several connections, then a normal round trip.
//! - `hostile`: counts and lengths of 2^31-1 in frames of a few bytes, each closing only its own
//!   connection while another client keeps producing and consuming.
//! - `poison`: batches with a valid header and CRC but unreadable records, each refused with
//!   Kafka's code (and `record_errors` from Produce v8), nothing stored, the partition serving on.
//! - `delay`: scheduled delivery (issue 15): due order, not before due, exactly once across a
//!   restart, bad values refused, rolls past the wheel, the loaded queue's bound.
//! - `limits`: idle and slowloris deadlines, max.connections (+ per IP), the memory budget with
//!   the broker's RSS measured, and a broker out of file descriptors.
//! - `delays_api`: DescribeDelays (key 32000, ringlog-private, behind `ringlog delays`) answered
//!   and checked, refused outside its version, never listed by ApiVersions.
//! - `views_api`: filtered views (issue 17) as an operator meets them: created through
//!   CreateTopics with their two configs, refused with Kafka's codes, read-only, their source kept
//!   while they exist, and DescribeViews (key 32002, ringlog-private, behind `ringlog views`)
//!   with counters summed over both shards.
//! - `txn`: transactions (issue 18): the coordinator's codes (fencing, states, unknown
//!   partitions, timeouts), markers, the LSO and the aborted list under both isolation levels,
//!   transactional offset commits, and all of it across a restart.
//! - `admin_apis`: DescribeTopicPartitions (key 75), DescribeLogDirs (key 35) and DeleteRecords
//!   (key 21): pagination and errors as Kafka 4.4, log sizes, a durable mid-segment log start.
//! - `describe_cluster`: DescribeCluster (key 60): this broker, Metadata's cluster id and
//!   controller, authorized operations when asked, Kafka's endpoint-type errors.
//! - `authorization`: the ACLs checked on every API with Kafka's codes (issue #20).
//! - `acls`: CreateAcls, DescribeAcls and DeleteAcls (keys 29-31, issue #20) as Kafka 4.4
//!   answers them: messages, filters (MATCH), unknown codes, every shard at once, restarts.
//! - `quotas`: DescribeClientQuotas and AlterClientQuotas (keys 48-49, issue #20) as Kafka 4.4
//!   answers them, on every shard at once and across restarts; a greedy producer and consumer
//!   throttled (throttle_time_ms, muted connection) near their quota while another client's
//!   round trips stay short.
//! - `offset_delete`: OffsetDelete (key 47): Kafka's group rules (empty, unknown, subscribed
//!   topics, other protocol types) and the deletion across a restart.
//! - `sasl`: listeners with security protocols and SASL (issue #20): Kafka's rules before
//!   authentication, PLAIN and SCRAM logins, bad logins within a second, per-listener
//!   advertised addresses, the SCRAM admin APIs across a restart, TLS listeners refused without
//!   certificates (TLS itself: tests/tls.rs).
//! - `describe_producers`: DescribeProducers (key 61): idempotent and transactional producers
//!   with their open transactions' first offsets, unknown partitions, repeated asks.
//! - `share`: share groups (issue 16): membership and assignment, share sessions, acquisition,
//!   ACCEPT/RELEASE/REJECT, locks, the delivery limit, retry backoff, dead-letter topics, group
//!   configs, the share state across restarts, and the share-group admin APIs.
//!

#[path = "broker_wire/acls.rs"]
mod acls;
#[path = "broker_wire/admin_apis.rs"]
mod admin_apis;
#[path = "broker_wire/alter_configs.rs"]
mod alter_configs;
#[path = "broker_wire/authorization.rs"]
mod authorization;
#[path = "broker_wire/chaos.rs"]
mod chaos;
#[path = "broker_wire/client.rs"]
mod client;
#[path = "broker_wire/delay.rs"]
mod delay;
#[path = "broker_wire/delays_api.rs"]
mod delays_api;
#[path = "broker_wire/describe_cluster.rs"]
mod describe_cluster;
#[path = "broker_wire/describe_producers.rs"]
mod describe_producers;
#[path = "broker_wire/errors.rs"]
mod errors;
#[path = "broker_wire/hostile.rs"]
mod hostile;
#[path = "broker_wire/limits.rs"]
mod limits;
#[path = "broker_wire/offset_delete.rs"]
mod offset_delete;
#[path = "broker_wire/poison.rs"]
mod poison;
#[path = "broker_wire/quotas.rs"]
mod quotas;
#[path = "broker_wire/sasl.rs"]
mod sasl;
#[path = "broker_wire/shards.rs"]
mod shards;
#[path = "broker_wire/share.rs"]
mod share;
#[path = "broker_wire/topic_configs.rs"]
mod topic_configs;
#[path = "broker_wire/txn.rs"]
mod txn;
#[path = "broker_wire/versions.rs"]
mod versions;
#[path = "broker_wire/views_api.rs"]
mod views_api;

use ringlog::runtime::IoKind;

/// Runs a test body on one driver; the io_uring variant skips loudly when the kernel cannot set up
/// a ring (the broker would silently fall back to epoll, testing nothing new).
fn run(io: IoKind, name: &str, body: fn(IoKind)) {
    if io == IoKind::Uring {
        if let Some(e) = uring_setup_error() {
            eprintln!("SKIPPED {name} on io_uring: the kernel cannot set up a ring ({e})");
            return;
        }
    }
    body(io)
}

/// Why io_uring cannot be used here, probed once on a thread of its own: the probe creates and
/// drops rings (one with SQPOLL), and a test thread that owned a ring can see EINTR from blocking
/// socket calls afterwards.
fn uring_setup_error() -> Option<String> {
    static PROBED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PROBED
        .get_or_init(|| {
            std::thread::spawn(|| ringlog::runtime::probe().setup_error)
                .join()
                .expect("io_uring probe")
        })
        .clone()
}

/// `both_drivers!(module::test, ...)` generates `mod uring { #[test] fn test() }` and
/// `mod epoll { ... }` calling `module::test(io)`. A leading `#[ignore = "..."]` applies to both.
macro_rules! both_drivers {
    ($( $(#[$attr:meta])* $module:ident :: $name:ident ),* $(,)?) => {
        mod uring {
            $( $(#[$attr])* #[test] fn $name() {
                super::run(ringlog::runtime::IoKind::Uring, stringify!($name), super::$module::$name)
            } )*
        }
        mod epoll {
            $( $(#[$attr])* #[test] fn $name() {
                super::run(ringlog::runtime::IoKind::Epoll, stringify!($name), super::$module::$name)
            } )*
        }
    };
}

both_drivers!(
    versions::api_versions_every_version_lists_exactly_the_supported_apis,
    versions::metadata_every_version_auto_creates_and_advertises_this_broker,
    versions::produce_every_version_appends_at_consecutive_offsets,
    versions::fetch_every_version_returns_the_produced_bytes,
    versions::fetch_long_poll_times_out_empty,
    versions::fetch_long_poll_is_woken_by_a_produce_on_another_connection,
    errors::api_versions_unsupported_version_gets_the_v0_error_reply,
    errors::unknown_api_key_or_unsupported_version_closes_the_connection,
    errors::bad_frames_close_the_connection_and_the_broker_keeps_serving,
    errors::frame_of_exactly_request_bytes_max_is_served,
    errors::create_topics_error_codes,
    errors::produce_error_codes_and_nothing_is_appended,
    shards::partitions_on_both_shards_behind_one_connection,
    shards::list_offsets_on_both_shards_every_version,
    shards::list_offsets_by_timestamp_answers_the_record_kafka_would,
    shards::pipelined_requests_are_answered_in_order,
    shards::pipelined_produces_reach_every_partition_in_request_order,
    shards::pipelined_produces_keep_order_under_a_tight_memory_budget,
    shards::served_connections_have_tcp_nodelay,
    shards::a_connection_reads_ahead_only_a_bounded_number_of_produces,
    shards::acks_zero_produce_is_appended_without_a_response,
    shards::shutdown_with_idle_and_long_polling_connections_is_bounded,
    shards::shutdown_interrupts_long_polls_promptly,
    shards::concurrent_creates_and_deletes_survive_a_restart,
    shards::fetch_duplicates_collapse_and_the_broker_caps_response_bytes,
    shards::fetch_responses_hold_a_bounded_number_of_segment_files,
    chaos::garbage_from_many_connections_then_a_normal_round_trip,
    hostile::hostile_counts_and_lengths_close_the_connection_while_others_are_served,
    poison::poison_batches_are_refused_at_every_version_and_nothing_is_stored,
    poison::a_poison_batch_refuses_its_whole_partition_and_only_it,
    poison::client_timestamps_outside_kafkas_window_are_refused,
    poison::poison_is_refused_on_either_side_of_the_shard_hand_off,
    errors::api_versions_v5_checks_the_cluster_and_node_the_client_means,
    topic_configs::topic_configs_are_validated_and_listed_at_creation,
    topic_configs::topic_configs_survive_a_restart,
    alter_configs::topic_configs_are_described_and_altered_as_kafka_does,
    alter_configs::create_partitions_grows_topics_and_their_views,
    alter_configs::topic_configs_act_on_the_partition_logs,
    delay::delayed_records_arrive_when_due_in_due_order,
    delay::bad_delays_are_refused_and_topics_without_the_config_ignore_them,
    delay::a_restart_delivers_pending_records_once_and_keeps_idempotence,
    delay::rolled_records_and_a_tiny_loaded_bound_still_deliver_in_order,
    delay::another_core_count_with_pending_records_is_refused_at_start,
    delay::the_timer_log_drains_and_keeps_the_producer_state_it_held,
    limits::idle_connections_close_after_connections_max_idle_ms,
    limits::slowloris_frames_close_at_the_frame_read_deadline,
    limits::max_connections_holds_new_clients_until_one_closes,
    limits::max_connections_per_ip_closes_the_extra_connection_with_overrides,
    limits::memory_budget_bounds_partial_frames,
    limits::memory_budget_bounds_slow_copy_fetches,
    limits::out_of_file_descriptors_keeps_serving_with_one_log_line,
    delays_api::describe_delays_is_answered_and_never_advertised,
    delays_api::describe_delays_outside_its_version_closes_the_connection,
    txn::transactions_at_the_wire,
    txn::offsets_and_timeouts,
    txn::transactions_survive_a_restart,
    describe_producers::describe_producers_shows_idempotent_and_open_transactions,
    acls::acl_apis_answer_as_kafka,
    acls::acls_reach_every_shard_and_survive_a_restart,
    authorization::acls_are_enforced_on_every_api,
    offset_delete::offset_delete_follows_kafkas_rules,
    offset_delete::offset_delete_survives_a_restart,
    sasl::sasl_listener_follows_kafkas_rules,
    sasl::scram_admin_apis_follow_kafka_and_survive_a_restart,
    sasl::tls_listeners_need_certificates,
    describe_cluster::describe_cluster_every_version_answers_this_broker,
    quotas::quota_apis_answer_as_kafka,
    quotas::quotas_reach_every_shard_and_survive_a_restart,
    quotas::quotas_throttle_a_greedy_producer_while_another_keeps_its_latency,
    quotas::quotas_throttle_a_greedy_consumer_while_another_keeps_its_latency,
    quotas::a_client_spread_over_shards_has_one_quota,
    quotas::request_percentage_throttles_a_busy_client,
    admin_apis::describe_topic_partitions_pages_like_kafka,
    admin_apis::describe_topic_partitions_caps_the_limit,
    admin_apis::describe_log_dirs_sizes_every_partition,
    admin_apis::delete_records_moves_the_log_start,
    admin_apis::list_offsets_max_timestamp_finds_the_newest_record,
    views_api::views_are_created_refused_and_described,
    views_api::describe_views_outside_its_version_closes_the_connection,
    views_api::a_topic_indexed_before_its_views_serves_them_from_the_index,
    views_api::a_view_read_looks_at_a_bounded_span_of_its_source,
    share::share_members_join_get_partitions_are_fenced_and_leave,
    share::share_sessions_follow_kafkas_epoch_rules,
    share::share_records_are_acquired_once_accepted_and_released,
    share::share_piggybacked_ack_errors_survive_the_long_poll,
    share::share_read_committed_skips_aborted_and_open_transactions,
    share::share_closed_connection_releases_its_sessions_records,
    share::share_session_close_or_leaving_releases_held_records,
    share::share_expired_lock_hands_records_to_another_member,
    share::share_full_window_answers_its_holder_and_wakes_on_acknowledgement,
    share::share_delivery_limit_archives_records,
    share::share_retry_backoff_delays_redelivery,
    share::share_rejected_and_exhausted_records_reach_the_dead_letter_topic,
    share::share_limit_reached_by_lock_end_or_leaving_copies_to_the_dead_letter_topic,
    share::share_group_configs_are_validated_described_and_deleted,
    share::share_state_and_group_configs_survive_a_restart,
    share::share_restart_never_delivers_past_the_delivery_limit,
    share::share_admin_alters_and_deletes_offsets_and_groups,
    share::share_groups_through_the_cli,
);
