//! OffsetDelete (key 47, KIP-496) at the wire, as Kafka 4.4 answers it: an Empty group loses the
//! offsets asked for (a partition without one included, no error) and keeps the others; an
//! unknown group is GROUP_ID_NOT_FOUND and an empty id INVALID_GROUP_ID; a classic "consumer"
//! group with members keeps the offsets of the topics its members subscribe to
//! (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others; a group of another protocol type with
//! members is NON_EMPTY_GROUP; and a deletion survives a restart.

use bytes::Bytes;
use kafka_protocol::messages::{
    join_group_request, offset_commit_request, offset_delete_request, offset_fetch_request, ApiKey,
    GroupId, JoinGroupRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::runtime::IoKind;

use super::client::*;

const NONE: i16 = 0;
const INVALID_GROUP_ID: i16 = 24;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

fn gid(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_string()))
}

fn s(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Commits `offset` for each partition of each topic, as a consumer outside any generation.
fn commit(c: &mut Client, group: &str, topics: &[(&str, &[i32])], offset: i64) {
    let r = c.call(
        8,
        &OffsetCommitRequest::default()
            .with_group_id(gid(group))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(
                topics
                    .iter()
                    .map(|(t, ps)| {
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(
                                ps.iter()
                                    .map(|&p| {
                                        offset_commit_request::OffsetCommitRequestPartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
    );
    for t in &r.topics {
        for p in &t.partitions {
            assert_eq!(
                p.error_code, NONE,
                "commit {group} {:?}-{}",
                t.name, p.partition_index
            );
        }
    }
}

/// The committed offset of one partition, -1 if none.
fn committed(c: &mut Client, group: &str, topic: &str, partition: i32) -> i64 {
    let r = c.call(
        7,
        &OffsetFetchRequest::default()
            .with_group_id(gid(group))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(vec![partition]),
            ])),
    );
    assert_eq!(r.error_code, NONE, "OffsetFetch {group}");
    r.topics[0].partitions[0].committed_offset
}

fn delete(c: &mut Client, group: &str, topics: &[(&str, &[i32])]) -> OffsetDeleteResponse {
    assert_eq!(versions(ApiKey::OffsetDelete), 0..=0);
    let topics = topics.iter().map(|(t, ps)| delete_topic(t, ps)).collect();
    c.call(
        0,
        &OffsetDeleteRequest::default()
            .with_group_id(gid(group))
            .with_topics(topics),
    )
}

fn delete_topic(
    topic: &str,
    partitions: &[i32],
) -> offset_delete_request::OffsetDeleteRequestTopic {
    use offset_delete_request::OffsetDeleteRequestPartition as Partition;
    let partitions = partitions
        .iter()
        .map(|&p| Partition::default().with_partition_index(p))
        .collect();
    offset_delete_request::OffsetDeleteRequestTopic::default()
        .with_name(topic_name(topic))
        .with_partitions(partitions)
}

/// Each partition's (topic, partition, error code), in response order.
fn outcomes(r: &OffsetDeleteResponse) -> Vec<(String, i32, i16)> {
    assert_eq!(r.error_code, NONE, "group-level error");
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

fn row(t: &str, p: i32, code: i16) -> (String, i32, i16) {
    (t.to_string(), p, code)
}

/// ConsumerProtocolSubscription v0: the topics, no user data.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = vec![0, 0];
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

/// One member joins `group` with JoinGroup v3 (no MEMBER_ID_REQUIRED round trip); the group
/// then has a member and a chosen protocol.
fn join(c: &mut Client, group: &str, protocol_type: &str, metadata: Bytes) {
    let r = c.call(
        3,
        &JoinGroupRequest::default()
            .with_group_id(gid(group))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_protocol_type(s(protocol_type))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))
            .with_metadata(metadata)]),
    );
    assert_eq!(r.error_code, NONE, "JoinGroup {group}");
}

/// Empty, unknown and invalid groups; a consumer group with a member keeps its subscribed
/// topics' offsets; another protocol type with members is refused whole.
pub fn offset_delete_follows_kafkas_rules(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    create_topic(&mut c, "od", 3);
    create_topic(&mut c, "keep", 1);

    // An Empty group: the offsets asked for go, partition 2 (never committed) too, no error.
    commit(&mut c, "g", &[("od", &[0, 1]), ("keep", &[0])], 7);
    let r = delete(&mut c, "g", &[("od", &[0, 2])]);
    assert_eq!(outcomes(&r), vec![row("od", 0, NONE), row("od", 2, NONE)]);
    assert_eq!(committed(&mut c, "g", "od", 0), -1);
    assert_eq!(committed(&mut c, "g", "od", 1), 7);
    assert_eq!(committed(&mut c, "g", "keep", 0), 7);
    // Again: nothing left to delete is still no error.
    let r = delete(&mut c, "g", &[("od", &[0])]);
    assert_eq!(outcomes(&r), vec![row("od", 0, NONE)]);

    // Group-level errors answer alone.
    let r = delete(&mut c, "nobody", &[("od", &[0])]);
    assert_eq!((r.error_code, r.topics.len()), (GROUP_ID_NOT_FOUND, 0));
    let r = delete(&mut c, "", &[("od", &[0])]);
    assert_eq!((r.error_code, r.topics.len()), (INVALID_GROUP_ID, 0));

    // A classic consumer group with a member subscribed to "od".
    commit(&mut c, "active", &[("od", &[0]), ("keep", &[0])], 5);
    join(&mut c, "active", "consumer", subscription(&["od"]));
    let r = delete(&mut c, "active", &[("od", &[0, 1]), ("keep", &[0])]);
    assert_eq!(
        outcomes(&r),
        vec![
            row("od", 0, GROUP_SUBSCRIBED_TO_TOPIC),
            row("od", 1, GROUP_SUBSCRIBED_TO_TOPIC),
            row("keep", 0, NONE),
        ]
    );
    assert_eq!(committed(&mut c, "active", "od", 0), 5);
    assert_eq!(committed(&mut c, "active", "keep", 0), -1);

    // Another protocol type with a member: its topics cannot be known.
    commit(&mut c, "connect", &[("od", &[0])], 3);
    join(&mut c, "connect", "connect", Bytes::from_static(b"opaque"));
    let r = delete(&mut c, "connect", &[("od", &[0])]);
    assert_eq!((r.error_code, r.topics.len()), (NON_EMPTY_GROUP, 0));
    assert_eq!(committed(&mut c, "connect", "od", 0), 3);

    drop(c);
    broker.stop();
}

/// A deletion is durable: after a restart the deleted offset stays gone, the others stay.
pub fn offset_delete_survives_a_restart(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = start_in(dir.path(), io, |_| {});
    let mut c = Client::connect(broker.local_addr());
    create_topic(&mut c, "odr", 2);
    commit(&mut c, "gr", &[("odr", &[0, 1])], 11);
    let r = delete(&mut c, "gr", &[("odr", &[1])]);
    assert_eq!(outcomes(&r), vec![row("odr", 1, NONE)]);
    drop(c);
    stop(broker);

    let broker = start_in(dir.path(), io, |_| {});
    let mut c = connect_retry(broker.local_addr());
    assert_eq!(committed(&mut c, "gr", "odr", 0), 11);
    assert_eq!(committed(&mut c, "gr", "odr", 1), -1);
    drop(c);
    stop(broker);
}
