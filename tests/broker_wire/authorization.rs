//! ACLs enforced on every API (issue #20): a broker with a SASL_PLAINTEXT listener (so
//! `allow.everyone.if.no.acl.found` is false and unauthenticated callers are `User:ANONYMOUS`
//! under the ACLs), a super user who creates topics and ACLs, and a user with READ/WRITE on one
//! topic and READ on one group. The user sees only its topic in Metadata, gets
//! TOPIC_AUTHORIZATION_FAILED for the other in every data and admin API, GROUP_AUTHORIZATION_FAILED
//! for a group without an ACL (at FindCoordinator already), TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//! for a transactional id, CLUSTER_AUTHORIZATION_FAILED for broker configs; a deleted ACL takes
//! effect on the next request; ANONYMOUS on the PLAINTEXT listener sees nothing. Codes as Kafka
//! 4.4's `KafkaApis` answers them (the table in `handlers/authorize.rs`).

use kafka_protocol::messages::{
    create_acls_request::AclCreation, delete_acls_request::DeleteAclsFilter,
    describe_configs_request::DescribeConfigsResource, list_offsets_request, offset_commit_request,
    ApiKey, CreateAclsRequest, DeleteAclsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, FindCoordinatorRequest, InitProducerIdRequest, JoinGroupRequest,
    ListGroupsRequest, ListOffsetsRequest, OffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::auth::credentials::offline;
use ringlog::runtime::IoKind;

use super::client::*;
use super::sasl::{plain_token, start_sasl};

const NONE: i16 = 0;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const LITERAL: i8 = 3;
const READ: i8 = 3;
const WRITE: i8 = 4;
const ALLOW: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A connection logged in with PLAIN (verified against the user's SCRAM credential).
fn login(addr: std::net::SocketAddr, user: &str, password: &str) -> Client {
    let mut c = Client::connect(addr);
    assert_eq!(super::sasl::handshake(&mut c, "PLAIN").0, NONE);
    let (code, message, _, _) = super::sasl::authenticate(&mut c, 2, &plain_token(user, password));
    assert_eq!(code, NONE, "{user} logs in: {message:?}");
    c
}

fn acl(t: i8, name: &str, principal: &str, op: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(t)
        .with_resource_name(s(name))
        .with_resource_pattern_type(LITERAL)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(ALLOW)
}

/// Topic names Metadata lists for all topics.
fn visible_topics(c: &mut Client) -> Vec<String> {
    let v = *versions(ApiKey::Metadata).end();
    let r = c.call(v, &metadata_request(v, None, false));
    let mut names: Vec<String> = r
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    names.sort();
    names
}

/// The error of one named topic in Metadata (auto-creation allowed).
fn metadata_error(c: &mut Client, topic: &str) -> i16 {
    let v = *versions(ApiKey::Metadata).end();
    let r = c.call(v, &metadata_request(v, Some(&[topic]), true));
    assert_eq!(r.topics.len(), 1);
    r.topics[0].error_code
}

fn produce_error(c: &mut Client, topic: &str) -> i16 {
    let v = *versions(ApiKey::Produce).end();
    let r = c.call(v, &produce_request(topic, -1, &[(0, batch(1, &[b"x"]))]));
    r.responses[0].partition_responses[0].error_code
}

fn fetch_error(c: &mut Client, topic: &str) -> i16 {
    // By name (v12), so an unauthorized topic's id is not needed.
    let at = [FetchAt {
        topic,
        topic_id: Default::default(),
        partition: 0,
        offset: 0,
    }];
    let r = c.call(12, &fetch_request(12, &at, 0, 0));
    r.responses[0].partitions[0].error_code
}

fn list_offsets_error(c: &mut Client, topic: &str) -> i16 {
    let v = *versions(ApiKey::ListOffsets).end();
    let r = c.call(
        v,
        &ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ])]),
    );
    r.topics[0].partitions[0].error_code
}

fn find_coordinator_error(c: &mut Client, v: i16, key: &str, key_type: i8) -> i16 {
    let mut req = FindCoordinatorRequest::default().with_key_type(key_type);
    if v >= 4 {
        req = req.with_coordinator_keys(vec![s(key)]);
    } else {
        req = req.with_key(s(key));
    }
    let r = c.call(v, &req);
    if v >= 4 {
        r.coordinators[0].error_code
    } else {
        r.error_code
    }
}

fn commit_error(c: &mut Client, group: &str, topic: &str) -> i16 {
    let r = c.call(
        2,
        &OffsetCommitRequest::default()
            .with_group_id(s(group).into())
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ]),
    );
    r.topics[0].partitions[0].error_code
}

fn describe_config_error(c: &mut Client, resource_type: i8, name: &str) -> i16 {
    let r = c.call(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))]),
    );
    r.results[0].error_code
}

fn init_producer_id_error(c: &mut Client, transactional_id: Option<&str>) -> i16 {
    let r = c.call(
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(transactional_id.map(|t| s(t).into()))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1),
    );
    r.error_code
}

pub fn acls_are_enforced_on_every_api(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    offline::set(dir.path(), "alice", "SCRAM-SHA-256", 4096, "alice-secret").unwrap();
    offline::set(dir.path(), "bob", "SCRAM-SHA-512", 4096, "bob-secret").unwrap();
    let (broker, sasl, plain) = start_sasl(dir.path(), io);

    // The super user (alice) sets the scene.
    let mut admin = login(sasl, "alice", "alice-secret");
    create_topic(&mut admin, "orders", 1);
    create_topic(&mut admin, "secret", 1);
    produce_one(&mut admin, "secret", 0, &batch(1, &[b"hidden"]));
    let created = admin.call(
        3,
        &CreateAclsRequest::default().with_creations(vec![
            acl(TOPIC, "orders", "User:bob", READ),
            acl(TOPIC, "orders", "User:bob", WRITE),
            acl(GROUP, "g1", "User:bob", READ),
        ]),
    );
    assert!(created.results.iter().all(|r| r.error_code == NONE));
    assert_eq!(visible_topics(&mut admin), ["orders", "secret"]);

    let mut bob = login(sasl, "bob", "bob-secret");
    // Metadata hides what bob may not describe; naming it is refused; auto-creation needs CREATE.
    assert_eq!(visible_topics(&mut bob), ["orders"]);
    assert_eq!(
        metadata_error(&mut bob, "secret"),
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        metadata_error(&mut bob, "brand-new"),
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(metadata_error(&mut bob, "orders"), NONE);
    assert_eq!(
        visible_topics(&mut admin),
        ["orders", "secret"],
        "no topic was auto-created for bob"
    );
    // The data path.
    assert_eq!(produce_error(&mut bob, "orders"), NONE);
    assert_eq!(
        produce_error(&mut bob, "secret"),
        TOPIC_AUTHORIZATION_FAILED
    );
    // A topic that does not exist is refused the same way (its absence does not leak).
    assert_eq!(
        produce_error(&mut bob, "missing"),
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        produce_error(&mut admin, "missing"),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(fetch_error(&mut bob, "orders"), NONE);
    assert_eq!(fetch_error(&mut bob, "secret"), TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(list_offsets_error(&mut bob, "orders"), NONE);
    assert_eq!(
        list_offsets_error(&mut bob, "secret"),
        TOPIC_AUTHORIZATION_FAILED
    );
    // Groups: a group without an ACL is refused at FindCoordinator (every version form).
    for v in [3, 4] {
        assert_eq!(find_coordinator_error(&mut bob, v, "g1", 0), NONE, "v{v}");
        assert_eq!(
            find_coordinator_error(&mut bob, v, "g2", 0),
            GROUP_AUTHORIZATION_FAILED,
            "v{v}"
        );
        assert_eq!(
            find_coordinator_error(&mut bob, v, "txn-1", 1),
            TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            "v{v}"
        );
    }
    let join = bob.call(
        5,
        &JoinGroupRequest::default()
            .with_group_id(s("g2").into())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(""))
            .with_protocol_type(s("consumer")),
    );
    assert_eq!(join.error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(commit_error(&mut bob, "g1", "orders"), NONE);
    assert_eq!(
        commit_error(&mut bob, "g1", "secret"),
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        commit_error(&mut bob, "g2", "orders"),
        GROUP_AUTHORIZATION_FAILED
    );
    // DescribeGroups: a group bob may not describe is refused alone; the other reports bob's
    // operations on it (READ, and DESCRIBE which READ implies: bits 3 and 8).
    let described = bob.call(
        5,
        &DescribeGroupsRequest::default()
            .with_groups(vec![s("g1").into(), s("g2").into()])
            .with_include_authorized_operations(true),
    );
    let answers: Vec<(String, i16, i32)> = described
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.error_code,
                g.authorized_operations,
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("g1".to_string(), NONE, (1 << 3) | (1 << 8)),
            ("g2".to_string(), GROUP_AUTHORIZATION_FAILED, i32::MIN),
        ]
    );
    // ListGroups without CLUSTER DESCRIBE: only the groups bob may describe.
    assert_eq!(commit_error(&mut admin, "g3", "orders"), NONE);
    let groups = |c: &mut Client| -> Vec<String> {
        let r = c.call(4, &ListGroupsRequest::default());
        let mut g: Vec<String> = r.groups.iter().map(|g| g.group_id.to_string()).collect();
        g.sort();
        g
    };
    assert_eq!(groups(&mut admin), ["g1", "g3"]);
    assert_eq!(groups(&mut bob), ["g1"]);
    // Administration.
    let created = bob.call(7, &create_topics_request(&[("bobs-topic", 1, 1)]));
    assert_eq!(created.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    let deleted = bob.call(
        5,
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![topic_name("secret")])
            .with_timeout_ms(5_000),
    );
    assert_eq!(deleted.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(visible_topics(&mut admin), ["orders", "secret"]);
    assert_eq!(
        describe_config_error(&mut bob, 2, "secret"),
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        describe_config_error(&mut bob, 4, "0"),
        CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(describe_config_error(&mut admin, 4, "0"), NONE);
    // Producer ids: idempotence needs WRITE on some topic (bob has it), transactions their id.
    assert_eq!(init_producer_id_error(&mut bob, None), NONE);
    assert_eq!(
        init_producer_id_error(&mut bob, Some("txn-1")),
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );

    // Deleting an ACL takes effect on bob's next request.
    let deleted = admin.call(
        3,
        &DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(Some(s("orders")))
            .with_pattern_type_filter(LITERAL)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(READ)
            .with_permission_type(ALLOW)]),
    );
    let result = &deleted.filter_results[0];
    assert_eq!(
        (result.error_code, result.matching_acls.len()),
        (NONE, 1),
        "{result:?}"
    );
    assert_eq!(fetch_error(&mut bob, "orders"), TOPIC_AUTHORIZATION_FAILED);
    // WRITE implies DESCRIBE: still visible, still writable.
    assert_eq!(visible_topics(&mut bob), ["orders"]);
    assert_eq!(produce_error(&mut bob, "orders"), NONE);

    // An unauthenticated caller on the PLAINTEXT listener is User:ANONYMOUS under the ACLs.
    let mut anonymous = Client::connect(plain);
    assert_eq!(visible_topics(&mut anonymous), Vec::<String>::new());
    assert_eq!(
        produce_error(&mut anonymous, "orders"),
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        init_producer_id_error(&mut anonymous, None),
        CLUSTER_AUTHORIZATION_FAILED
    );
    stop(broker);
}
