//! Consumer-group APIs at the wire level on both drivers: Kafka's error codes for bad input
//! (unknown protocols, wrong generations, huge metadata, bad session timeouts, fenced static
//! members, non-empty deletes), FindCoordinator in both forms, offsets of deleted topics and
//! groups cleaned up, committed offsets surviving SIGKILL of a `ringlog serve` process,
//! `ringlog groups` refusing to reset a live group, and `group.initial.rebalance.delay.ms`.

#[macro_use]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::*;
use ringlog::broker::{Broker, BrokerConfig};
use ringlog::runtime::IoKind;

mod groups_common;
use groups_common::{gid, s, subscription, RawClient};

both_drivers!(
    bad_joins_get_kafka_error_codes,
    generations_members_and_static_fencing,
    find_coordinator_single_and_batched,
    offsets_of_deleted_topics_and_groups_are_cleaned_up,
    internal_state_is_hidden_and_refused_as_a_topic,
    an_old_offsets_directory_is_migrated_at_startup,
    initial_rebalance_delay_zero_answers_at_once_and_a_delay_gathers_members,
);

fn start(io: IoKind, dir: &std::path::Path) -> Broker {
    support::start_broker(io, dir, 3, |_| {})
}

fn join_req(group: &str, member: &str, protocols: &[(&str, bytes::Bytes)]) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(
            protocols
                .iter()
                .map(|(n, m)| {
                    join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(s(n))
                        .with_metadata(m.clone())
                })
                .collect(),
        )
}

fn create_topic(raw: &mut RawClient, name: &str, partitions: i32) {
    let r: CreateTopicsResponse = raw.call(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(partitions)
                .with_replication_factor(1)]),
    );
    assert_eq!(r.topics[0].error_code, 0);
}

/// A one-member group, joined and synced: (member id, generation).
fn stable_member(raw: &mut RawClient, group: &str, instance: Option<&str>) -> (String, i32) {
    let mut req = join_req(group, "", &[("range", subscription("t"))]);
    req.group_instance_id = instance.map(s);
    let mut j = raw.join(5, &req);
    if j.error_code == 79 {
        req.member_id = j.member_id.clone();
        j = raw.join(5, &req);
    }
    assert_eq!(j.error_code, 0, "{j:?}");
    assert_eq!(j.leader, j.member_id);
    assert_eq!(j.members.len(), 1);
    let sync: SyncGroupResponse = raw.call(
        ApiKey::SyncGroup,
        5,
        &SyncGroupRequest::default()
            .with_group_id(gid(group))
            .with_generation_id(j.generation_id)
            .with_member_id(j.member_id.clone())
            .with_group_instance_id(instance.map(s))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(j.member_id.clone())
                    .with_assignment(bytes::Bytes::from_static(b"opaque")),
            ]),
    );
    assert_eq!(sync.error_code, 0);
    assert_eq!(
        &sync.assignment[..],
        b"opaque",
        "assignments pass through unchanged"
    );
    (j.member_id.to_string(), j.generation_id)
}

fn bad_joins_get_kafka_error_codes(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let mut raw = RawClient::connect(&broker.local_addr().to_string());
    let md = subscription("t");
    // v4+: the first join hands out a member id.
    let j = raw.join(4, &join_req("bad", "", &[("range", md.clone())]));
    assert_eq!(j.error_code, 79, "MEMBER_ID_REQUIRED");
    assert!(!j.member_id.is_empty());
    // Session timeout outside [6 s, 30 min].
    let mut r = join_req("bad", "", &[("range", md.clone())]);
    r.session_timeout_ms = 1000;
    assert_eq!(raw.join(5, &r).error_code, 26, "INVALID_SESSION_TIMEOUT");
    // No protocols, no protocol type.
    assert_eq!(raw.join(5, &join_req("bad", "", &[])).error_code, 23);
    let mut r = join_req("bad", "", &[("range", md.clone())]);
    r.protocol_type = s("");
    assert_eq!(raw.join(5, &r).error_code, 23);
    // Huge metadata (2 MiB) is refused, not stored.
    let huge = bytes::Bytes::from(vec![7u8; 2 << 20]);
    assert_eq!(
        raw.join(5, &join_req("bad", "", &[("range", huge)]))
            .error_code,
        42
    );
    // Empty group id.
    assert_eq!(
        raw.join(5, &join_req("", "", &[("range", md.clone())]))
            .error_code,
        24
    );
    // Unknown member id of a group that does not exist.
    assert_eq!(
        raw.join(5, &join_req("nobody", "ghost", &[("range", md.clone())]))
            .error_code,
        25
    );
    // A group running "range": a member speaking only an unknown protocol is inconsistent.
    let (_m, _g) = stable_member(&mut raw, "proto", None);
    let mut other = RawClient::connect(&broker.local_addr().to_string());
    let j = other.join(
        5,
        &join_req("proto", "", &[("my-own-assignor", md.clone())]),
    );
    assert_eq!(j.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    let mut r = join_req("proto", "", &[("range", md.clone())]);
    r.protocol_type = s("connect");
    assert_eq!(other.join(5, &r).error_code, 23);
    broker.shutdown();
    broker.join().unwrap();
}

fn generations_members_and_static_fencing(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let addr = broker.local_addr().to_string();
    let mut raw = RawClient::connect(&addr);
    create_topic(&mut raw, "t", 2);
    let (member, generation) = stable_member(&mut raw, "gen", None);
    let hb = |raw: &mut RawClient, m: &str, g: i32, inst: Option<&str>| -> i16 {
        let r: HeartbeatResponse = raw.call(
            ApiKey::Heartbeat,
            4,
            &HeartbeatRequest::default()
                .with_group_id(gid("gen"))
                .with_generation_id(g)
                .with_member_id(s(m))
                .with_group_instance_id(inst.map(s)),
        );
        r.error_code
    };
    assert_eq!(hb(&mut raw, &member, generation, None), 0);
    assert_eq!(
        hb(&mut raw, &member, generation + 1, None),
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(
        hb(&mut raw, "stranger", generation, None),
        25,
        "UNKNOWN_MEMBER_ID"
    );
    let sync: SyncGroupResponse = raw.call(
        ApiKey::SyncGroup,
        3,
        &SyncGroupRequest::default()
            .with_group_id(gid("gen"))
            .with_generation_id(generation - 1)
            .with_member_id(s(&member)),
    );
    assert_eq!(sync.error_code, 22);
    // Offset commits: right generation ok, wrong generation refused, "simple" commit refused
    // while the group has members.
    let commit = |raw: &mut RawClient, g: i32, m: &str| -> i16 {
        let r: OffsetCommitResponse = raw.call(
            ApiKey::OffsetCommit,
            8,
            &OffsetCommitRequest::default()
                .with_group_id(gid("gen"))
                .with_generation_id_or_member_epoch(g)
                .with_member_id(s(m))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(1)
                                .with_committed_offset(17),
                        ]),
                ]),
        );
        r.topics[0].partitions[0].error_code
    };
    assert_eq!(commit(&mut raw, generation, &member), 0);
    assert_eq!(commit(&mut raw, generation + 5, &member), 22);
    assert_eq!(commit(&mut raw, -1, ""), 25);
    let del: DeleteGroupsResponse = raw.call(
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default().with_groups_names(vec![gid("gen"), gid("never")]),
    );
    assert_eq!(del.results[0].error_code, 68, "NON_EMPTY_GROUP");
    assert_eq!(del.results[1].error_code, 69, "GROUP_ID_NOT_FOUND");
    // Leave, then the group is empty and deletable; its offsets go with it.
    let leave: LeaveGroupResponse = raw.call(
        ApiKey::LeaveGroup,
        1,
        &LeaveGroupRequest::default()
            .with_group_id(gid("gen"))
            .with_member_id(s(&member)),
    );
    assert_eq!(leave.error_code, 0);
    let del: DeleteGroupsResponse = raw.call(
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default().with_groups_names(vec![gid("gen")]),
    );
    assert_eq!(del.results[0].error_code, 0);

    // Static membership: the same instance id joining again fences the old member id.
    let mut a = RawClient::connect(&addr);
    let (old, g) = stable_member(&mut a, "static", Some("inst-1"));
    let mut b = RawClient::connect(&addr);
    let mut req = join_req("static", "", &[("range", subscription("t"))]);
    req.group_instance_id = Some(s("inst-1"));
    let j = b.join(5, &req);
    assert_eq!(j.error_code, 0, "{j:?}");
    assert_ne!(j.member_id.as_str(), old);
    assert_eq!(
        hb(&mut a, &old, g, Some("inst-1")),
        25,
        "old id now unknown to group gen"
    );
    let r: HeartbeatResponse = a.call(
        ApiKey::Heartbeat,
        4,
        &HeartbeatRequest::default()
            .with_group_id(gid("static"))
            .with_generation_id(j.generation_id)
            .with_member_id(s(&old))
            .with_group_instance_id(Some(s("inst-1"))),
    );
    assert_eq!(r.error_code, 82, "FENCED_INSTANCE_ID");
    // DescribeGroups shows the static member under its new id.
    let d: DescribeGroupsResponse = a.call(
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![gid("static"), gid("missing")]),
    );
    assert_eq!(d.groups[0].members.len(), 1);
    assert_eq!(d.groups[0].members[0].member_id, j.member_id);
    assert_eq!(
        d.groups[0].members[0].group_instance_id.as_deref(),
        Some("inst-1")
    );
    assert_eq!(
        d.groups[0].members[0].client_host.as_str(),
        "/127.0.0.1",
        "the member's address, as Kafka shows it"
    );
    assert_eq!(d.groups[1].group_state.as_str(), "Dead");
    let l: ListGroupsResponse = a.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default());
    assert!(l.groups.iter().any(|g| g.group_id.0.as_str() == "static"));
    broker.shutdown();
    broker.join().unwrap();
}

fn find_coordinator_single_and_batched(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let addr = broker.local_addr();
    let mut raw = RawClient::connect(&addr.to_string());
    for v in 0..=3 {
        let mut req = FindCoordinatorRequest::default().with_key(s("g"));
        if v >= 1 {
            req.key_type = 0;
        }
        let r: FindCoordinatorResponse = raw.call(ApiKey::FindCoordinator, v, &req);
        assert_eq!(
            (r.error_code, r.node_id.0, r.port),
            (0, 0, addr.port() as i32),
            "v{v}"
        );
        assert_eq!(r.host.as_str(), "127.0.0.1");
    }
    let r: FindCoordinatorResponse = raw.call(
        ApiKey::FindCoordinator,
        4,
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b"), s("")]),
    );
    assert_eq!(r.coordinators.len(), 3);
    assert_eq!(r.coordinators[0].error_code, 0);
    assert_eq!(r.coordinators[1].port, addr.port() as i32);
    assert_eq!(r.coordinators[2].error_code, 24, "INVALID_GROUP_ID");
    let r: FindCoordinatorResponse = raw.call(
        ApiKey::FindCoordinator,
        2,
        &FindCoordinatorRequest::default()
            .with_key(s("tx"))
            .with_key_type(1),
    );
    assert_eq!(
        (r.error_code, r.node_id.0, r.port),
        (0, 0, addr.port() as i32),
        "a transaction coordinator: this broker (issue #18)"
    );
    broker.shutdown();
    broker.join().unwrap();
}

fn fetch_offsets(raw: &mut RawClient, group: &str) -> Vec<(String, i32, i64)> {
    let r: OffsetFetchResponse = raw.call(
        ApiKey::OffsetFetch,
        8,
        &OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(gid(group))
                .with_topics(None),
        ]),
    );
    assert_eq!(r.groups[0].error_code, 0);
    r.groups[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.committed_offset))
        })
        .collect()
}

fn simple_commit(
    raw: &mut RawClient,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> i16 {
    let r: OffsetCommitResponse = raw.call(
        ApiKey::OffsetCommit,
        2,
        &OffsetCommitRequest::default()
            .with_group_id(gid(group))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(offset),
                    ]),
            ]),
    );
    r.topics[0].partitions[0].error_code
}

fn offsets_of_deleted_topics_and_groups_are_cleaned_up(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let mut raw = RawClient::connect(&broker.local_addr().to_string());
    create_topic(&mut raw, "keep", 2);
    create_topic(&mut raw, "drop", 2);
    assert_eq!(simple_commit(&mut raw, "cg", "keep", 0, 5), 0);
    assert_eq!(simple_commit(&mut raw, "cg", "drop", 1, 9), 0);
    assert_eq!(
        simple_commit(&mut raw, "cg", "absent", 0, 1),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(simple_commit(&mut raw, "cg", "keep", 7, 1), 3);
    assert_eq!(simple_commit(&mut raw, "cg2", "drop", 0, 3), 0);
    assert_eq!(fetch_offsets(&mut raw, "cg").len(), 2);
    let d: DeleteTopicsResponse = raw.call(
        ApiKey::DeleteTopics,
        4,
        &DeleteTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topic_names(vec![TopicName(s("drop"))]),
    );
    assert_eq!(d.responses[0].error_code, 0);
    assert_eq!(fetch_offsets(&mut raw, "cg"), vec![("keep".into(), 0, 5)]);
    assert!(fetch_offsets(&mut raw, "cg2").is_empty());
    let del: DeleteGroupsResponse = raw.call(
        ApiKey::DeleteGroups,
        1,
        &DeleteGroupsRequest::default().with_groups_names(vec![gid("cg")]),
    );
    assert_eq!(del.results[0].error_code, 0);
    assert!(fetch_offsets(&mut raw, "cg").is_empty());
    broker.shutdown();
    broker.join().unwrap();

    // Still gone after a restart (tombstones replayed), and "keep" commits of a new group stay.
    let broker = start(io, dir.path());
    let mut raw = RawClient::connect(&broker.local_addr().to_string());
    assert!(fetch_offsets(&mut raw, "cg").is_empty());
    assert!(fetch_offsets(&mut raw, "cg2").is_empty());
    broker.shutdown();
    broker.join().unwrap();
}

fn topic_names(raw: &mut RawClient) -> Vec<String> {
    let m: MetadataResponse = raw.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    );
    m.topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect()
}

/// Committed offsets live in `{data_dir}/__ringlog_state`, which is no topic: Metadata does not
/// list it (not even after a restart scanned the data dir), and Kafka's internal topic names are
/// refused. Kafka answers a Produce to an internal topic with INVALID_TOPIC_EXCEPTION (its
/// `ReplicaManager` refuses appends to internal topics); CreateTopics, DeleteTopics and Metadata
/// of those names get the same code, as any invalid name does.
fn internal_state_is_hidden_and_refused_as_a_topic(io: IoKind) {
    const INVALID_TOPIC_EXCEPTION: i16 = 17;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let mut raw = RawClient::connect(&broker.local_addr().to_string());
    create_topic(&mut raw, "t", 1);
    assert_eq!(simple_commit(&mut raw, "cg", "t", 0, 5), 0);
    assert!(dir.path().join("__ringlog_state").is_dir());
    assert_eq!(topic_names(&mut raw), ["t"]);
    for internal in [
        "__consumer_offsets",
        "__transaction_state",
        "__share_group_state",
    ] {
        let p: ProduceResponse = raw.call(
            ApiKey::Produce,
            9,
            &ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(TopicName(s(internal)))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(groups_common::record_batch(1))),
                    ])]),
        );
        let code = p.responses[0].partition_responses[0].error_code;
        assert_eq!(code, INVALID_TOPIC_EXCEPTION, "produce to {internal}");
        let c: CreateTopicsResponse = raw.call(
            ApiKey::CreateTopics,
            5,
            &CreateTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(s(internal)))
                    .with_num_partitions(1)
                    .with_replication_factor(1)]),
        );
        assert_eq!(
            c.topics[0].error_code, INVALID_TOPIC_EXCEPTION,
            "create {internal}"
        );
        let d: DeleteTopicsResponse = raw.call(
            ApiKey::DeleteTopics,
            4,
            &DeleteTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topic_names(vec![TopicName(s(internal))]),
        );
        assert_eq!(
            d.responses[0].error_code, INVALID_TOPIC_EXCEPTION,
            "delete {internal}"
        );
        let m: MetadataResponse = raw.call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(TopicName(s(internal))))])),
        );
        assert_eq!(
            m.topics[0].error_code, INVALID_TOPIC_EXCEPTION,
            "metadata {internal}"
        );
    }
    broker.shutdown();
    broker.join().unwrap();

    let broker = start(io, dir.path());
    let mut raw = RawClient::connect(&broker.local_addr().to_string());
    assert_eq!(topic_names(&mut raw), ["t"]);
    assert_eq!(fetch_offsets(&mut raw, "cg"), vec![("t".into(), 0, 5)]);
    broker.shutdown();
    broker.join().unwrap();
}

/// A data dir of an older ringlog keeps its committed offsets in `__groups/shard-N.log`: the
/// broker moves them into its state logs at startup, removes the old files, and serves them
/// (also after another restart, with another shard count).
fn an_old_offsets_directory_is_migrated_at_startup(io: IoKind) {
    use ringlog::broker::group::offsets_log::{legacy::testing, StoredOffset};
    let dir = tempfile::tempdir().unwrap();
    let stored = |offset| StoredOffset {
        offset,
        leader_epoch: -1,
        commit_timestamp_ms: 1_700_000_000_000,
        metadata: Some("m".into()),
    };
    std::fs::create_dir_all(dir.path().join("__groups")).unwrap();
    let shard0 = [
        testing::commit_frame("old-a", &[("t", 0, stored(10)), ("t", 1, stored(11))]),
        testing::commit_frame("old-gone", &[("t", 0, stored(3))]),
        testing::group_deleted_frame("old-gone"),
    ]
    .concat();
    let shard1 = testing::commit_frame("old-b", &[("u", 0, stored(7))]);
    std::fs::write(testing::log_path(dir.path(), 0), shard0).unwrap();
    std::fs::write(testing::log_path(dir.path(), 1), shard1).unwrap();
    std::fs::write(dir.path().join("__groups").join("shards"), "2\n").unwrap();
    for cores in [3, 1] {
        let broker = support::start_broker(io, dir.path(), cores, |_| {});
        assert!(
            !dir.path().join("__groups").exists(),
            "the old files are gone"
        );
        let mut raw = RawClient::connect(&broker.local_addr().to_string());
        let mut a = fetch_offsets(&mut raw, "old-a");
        a.sort();
        assert_eq!(
            a,
            vec![("t".into(), 0, 10), ("t".into(), 1, 11)],
            "{cores} cores"
        );
        assert_eq!(fetch_offsets(&mut raw, "old-b"), vec![("u".into(), 0, 7)]);
        assert!(fetch_offsets(&mut raw, "old-gone").is_empty());
        broker.shutdown();
        broker.join().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// A real `ringlog serve` process: acknowledged commits survive SIGKILL; the CLI.

struct Served {
    child: std::process::Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(dir: &std::path::Path) -> Served {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(["serve", "--listen", &addr, "--cores", "2", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ringlog serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "ringlog serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Served { child, addr }
}

fn cli(addr: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(["groups", "--broker", addr])
        .args(args)
        .output()
        .expect("run ringlog groups")
}

#[test]
fn acknowledged_commits_survive_sigkill_and_the_cli_resets_only_idle_groups() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let mut raw = RawClient::connect(&served.addr);
    create_topic(&mut raw, "t", 2);
    let p: ProduceResponse = raw.call(
        ApiKey::Produce,
        9,
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(TopicName(s("t")))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(groups_common::record_batch(10))),
                ])]),
    );
    assert_eq!(p.responses[0].partition_responses[0].error_code, 0);
    for i in 0..50 {
        assert_eq!(
            simple_commit(&mut raw, &format!("k{}", i % 5), "t", i % 2, i as i64),
            0
        );
    }
    let mut served = served;
    served.child.kill().unwrap(); // SIGKILL
    served.child.wait().unwrap();
    drop(served);

    let served = serve(dir.path());
    let mut raw = RawClient::connect(&served.addr);
    for k in 0..5 {
        let got = fetch_offsets(&mut raw, &format!("k{k}"));
        // Group k got commits i = k, k+5, ..., 45+k on partition i%2; the last of each wins.
        let last = 45 + k as i64;
        assert!(
            got.contains(&("t".into(), (last % 2) as i32, last)),
            "k{k}: {got:?}"
        );
        assert!(
            got.contains(&("t".into(), ((last - 5) % 2) as i32, last - 5)),
            "k{k}: {got:?}"
        );
    }

    // The CLI: list, describe, reset while idle, refusal while a member is live.
    let out = cli(&served.addr, &["list"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("k3"));
    let out = cli(
        &served.addr,
        &["reset-offsets", "k0", "--topic", "t", "--to-earliest"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fetch_offsets(&mut raw, "k0")
        .iter()
        .all(|(_, _, o)| *o == 0));
    let out = cli(
        &served.addr,
        &["reset-offsets", "k0", "--topic", "t", "--to-latest"],
    );
    assert!(out.status.success());
    assert!(fetch_offsets(&mut raw, "k0").contains(&("t".into(), 0, 10)));
    let out = cli(
        &served.addr,
        &["reset-offsets", "k0", "--topic", "t", "--to-time", "0"],
    );
    assert!(out.status.success());
    assert!(fetch_offsets(&mut raw, "k0").contains(&("t".into(), 0, 0)));
    let mut member = RawClient::connect(&served.addr);
    let _ = stable_member(&mut member, "k0", None);
    let out = cli(
        &served.addr,
        &["reset-offsets", "k0", "--topic", "t", "--to-latest"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("live member"), "{err}");
    let out = cli(&served.addr, &["describe", "k0"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 member(s)"));
}

/// A v5 join as a Java consumer does it: MEMBER_ID_REQUIRED, then again with the id.
fn join_twice(raw: &mut RawClient, group: &str) -> JoinGroupResponse {
    let mut req = join_req(group, "", &[("range", subscription("t"))]);
    let first = raw.join(5, &req);
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED: {first:?}");
    req.member_id = first.member_id;
    raw.join(5, &req)
}

/// With `group.initial.rebalance.delay.ms = 0` (the default) a lone member's join is answered
/// at once (before: a fixed 500 ms delay plus up to one 100 ms timer tick); with a delay, the
/// first join waits it out and a member arriving within it lands in the same generation.
fn initial_rebalance_delay_zero_answers_at_once_and_a_delay_gathers_members(io: IoKind) {
    // Far below the old fixed delay (500 ms), far above a loopback round trip on a busy VM.
    const AT_ONCE_MS_MAX: u64 = 300;
    const DELAY_MS: u64 = 1_500;
    // When the second member arrives: well inside the delay.
    const SECOND_AFTER_MS: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        BrokerConfig::default().group_initial_rebalance_delay_ms,
        0,
        "the default"
    );
    let broker = start(io, dir.path());
    let mut raw = RawClient::connect(&broker.local_addr().to_string());
    for group in ["lone-1", "lone-2", "lone-3"] {
        let started = Instant::now();
        let j = join_twice(&mut raw, group);
        let took = started.elapsed();
        assert_eq!(j.error_code, 0, "{j:?}");
        assert_eq!((j.generation_id, j.members.len()), (1, 1));
        assert!(
            took < Duration::from_millis(AT_ONCE_MS_MAX),
            "{group}: a lone member's join took {took:?}"
        );
    }
    broker.shutdown();
    broker.join().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 3, |c| {
        c.group_initial_rebalance_delay_ms = DELAY_MS;
    });
    let addr = broker.local_addr().to_string();
    let started = Instant::now();
    let first = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut raw = RawClient::connect(&addr);
            let j = join_twice(&mut raw, "gathered");
            (j, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(SECOND_AFTER_MS));
    let mut raw = RawClient::connect(&addr);
    let second = join_twice(&mut raw, "gathered");
    let (first, first_took) = first.join().unwrap();
    assert_eq!((first.error_code, second.error_code), (0, 0));
    assert_eq!(
        (first.generation_id, second.generation_id),
        (1, 1),
        "both members in the first generation"
    );
    assert_eq!(first.leader, first.member_id);
    assert_eq!(first.members.len(), 2, "the leader sees both members");
    assert!(
        first_took >= Duration::from_millis(DELAY_MS),
        "the delay is honoured: {first_took:?}"
    );
    broker.shutdown();
    broker.join().unwrap();
}
