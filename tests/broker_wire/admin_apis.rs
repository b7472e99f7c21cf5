//! The admin APIs of issue #19 at the wire, as Kafka 4.4 answers them:
//! - DescribeTopicPartitions (key 75): every topic or the ones asked, in name order, paginated by
//!   the partition limit and cursor (the last partition answered exactly at the limit gives a
//!   cursor at the next topic's partition 0; the limit is capped at 2000 and floored at 1),
//!   unknown and invalid names, invalid cursors (INVALID_REQUEST on every topic asked), and
//!   partitions as Metadata answers them.
//! - DescribeLogDirs (key 35): the data directory (absolute) with the size of every partition's
//!   log, all or those asked (others left out), the volume's bytes from v4.
//! - DeleteRecords (key 21): the log start moves inside a batch and segment, -1 is the high
//!   watermark, past it is OFFSET_OUT_OF_RANGE, backwards is no change, unknown partitions and
//!   views are refused; Fetch and ListOffsets honour the new start, also after a restart.

use kafka_protocol::messages::{
    delete_records_request, describe_log_dirs_request, describe_topic_partitions_request,
    list_offsets_request, ApiKey, BrokerId, DeleteRecordsRequest, DeleteRecordsResponse,
    DescribeLogDirsRequest, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    ListOffsetsRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::topic_config::{VIEW_FILTER, VIEW_SOURCE};
use ringlog::runtime::IoKind;
use uuid::Uuid;

use super::client::*;

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUEST: i16 = 42;
/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: every
/// operation on a topic, what Kafka 4.4 without an authorizer answers.
const ALL_TOPIC_OPERATIONS: i32 = 0x0df8;
/// Kafka's `max.request.partition.size.limit` default: the most partitions in one response.
const PARTITIONS_PER_RESPONSE_MAX: i32 = 2000;

/// A topic, its partition count, and one of its partitions as DescribeTopicPartitions answers.
type Row = (String, i32);

fn dtp(
    c: &mut Client,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsResponse {
    use describe_topic_partitions_request::{Cursor, TopicRequest};
    assert_eq!(versions(ApiKey::DescribeTopicPartitions), 0..=0);
    c.call(
        0,
        &DescribeTopicPartitionsRequest::default()
            .with_topics(
                topics
                    .iter()
                    .map(|t| TopicRequest::default().with_name(topic_name(t)))
                    .collect(),
            )
            .with_response_partition_limit(limit)
            .with_cursor(cursor.map(|(t, p)| {
                Cursor::default()
                    .with_topic_name(topic_name(t))
                    .with_partition_index(p)
            })),
    )
}

/// The (topic, partition) rows of a response, checking every partition and topic answered
/// without an error looks as Metadata answers it.
fn rows(r: &DescribeTopicPartitionsResponse) -> Vec<Row> {
    let mut out = Vec::new();
    for t in &r.topics {
        let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        assert_eq!(t.error_code, NONE, "{name}: {t:?}");
        assert!(!t.topic_id.is_nil(), "{name}");
        assert!(!t.is_internal, "{name}");
        assert_eq!(
            t.topic_authorized_operations, ALL_TOPIC_OPERATIONS,
            "{name}"
        );
        for p in &t.partitions {
            assert_eq!(p.error_code, NONE, "{name}-{}", p.partition_index);
            assert_eq!(p.leader_id, BrokerId(0));
            assert_eq!(p.leader_epoch, 0);
            assert_eq!(p.replica_nodes, vec![BrokerId(0)]);
            assert_eq!(p.isr_nodes, vec![BrokerId(0)]);
            assert_eq!(p.eligible_leader_replicas, Some(vec![]));
            assert_eq!(p.last_known_elr, Some(vec![]));
            assert!(p.offline_replicas.is_empty());
            out.push((name.clone(), p.partition_index));
        }
    }
    out
}

fn cursor_of(r: &DescribeTopicPartitionsResponse) -> Option<(String, i32)> {
    r.next_cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index))
}

/// Each topic entry's (name, error code, partition count).
fn entries(r: &DescribeTopicPartitionsResponse) -> Vec<(String, i16, usize)> {
    r.topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                t.error_code,
                t.partitions.len(),
            )
        })
        .collect()
}

fn create_view(c: &mut Client, name: &str, source: &str) {
    let v = *versions(ApiKey::CreateTopics).end();
    let mut req = create_topics_request(&[(name, -1, -1)]);
    req.topics[0].configs = [(VIEW_SOURCE, source), (VIEW_FILTER, "tag = 'red'")]
        .iter()
        .map(|(k, v)| {
            kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let r = c.call(v, &req);
    assert_eq!(r.topics[0].error_code, NONE, "create view {name}: {r:?}");
}

pub fn describe_topic_partitions_pages_like_kafka(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let ids: Vec<Uuid> = [("dtp-c", 1), ("dtp-a", 3), ("dtp-b", 2)]
        .iter()
        .map(|(t, n)| create_topic(&mut c, t, *n))
        .collect();
    create_view(&mut c, "dtp-b-view", "dtp-b");
    let all: Vec<Row> = [
        ("dtp-a", 0),
        ("dtp-a", 1),
        ("dtp-a", 2),
        ("dtp-b", 0),
        ("dtp-b", 1),
        ("dtp-b-view", 0),
        ("dtp-b-view", 1),
        ("dtp-c", 0),
    ]
    .iter()
    .map(|(t, p)| (t.to_string(), *p))
    .collect();

    // Every topic (a view too), in name order, with the ids CreateTopics gave.
    let r = dtp(&mut c, &[], PARTITIONS_PER_RESPONSE_MAX, None);
    assert_eq!(rows(&r), all);
    assert_eq!(cursor_of(&r), None);
    assert_eq!(r.topics[0].topic_id, ids[1]);
    assert_eq!(r.topics[3].topic_id, ids[0]);

    // Pages of 2: a topic cut short continues at its next partition.
    let mut paged = Vec::new();
    let mut cursor: Option<(String, i32)> = None;
    let mut pages = 0;
    loop {
        let r = dtp(
            &mut c,
            &[],
            2,
            cursor.as_ref().map(|(t, p)| (t.as_str(), *p)),
        );
        let page = rows(&r);
        assert!(page.len() <= 2, "{page:?}");
        paged.extend(page);
        pages += 1;
        assert!(pages <= all.len(), "pagination does not end");
        cursor = cursor_of(&r);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, all);
    let r = dtp(&mut c, &[], 2, None);
    assert_eq!(cursor_of(&r), Some(("dtp-a".to_string(), 2)));
    // The limit used up exactly at a topic's end: the next topic's partition 0.
    let r = dtp(&mut c, &[], 3, None);
    assert_eq!(rows(&r), all[..3].to_vec());
    assert_eq!(cursor_of(&r), Some(("dtp-b".to_string(), 0)));
    // A limit below 1 answers one partition.
    for limit in [0, -5, i32::MIN] {
        let r = dtp(&mut c, &[], limit, None);
        assert_eq!(rows(&r), all[..1].to_vec(), "limit {limit}");
        assert_eq!(
            cursor_of(&r),
            Some(("dtp-a".to_string(), 1)),
            "limit {limit}"
        );
    }

    // Topics asked: distinct, in name order; unknown and invalid names answered.
    let asked = ["dtp-c", "nope", "dtp-a", "dtp-a", "bad/name"];
    let r = dtp(&mut c, &asked, PARTITIONS_PER_RESPONSE_MAX, None);
    assert_eq!(
        entries(&r),
        vec![
            ("bad/name".to_string(), INVALID_TOPIC_EXCEPTION, 0),
            ("dtp-a".to_string(), NONE, 3),
            ("dtp-c".to_string(), NONE, 1),
            ("nope".to_string(), UNKNOWN_TOPIC_OR_PARTITION, 0),
        ]
    );
    for t in r.topics.iter().filter(|t| t.error_code != NONE) {
        assert!(t.topic_id.is_nil(), "{t:?}");
        assert_eq!(t.topic_authorized_operations, ALL_TOPIC_OPERATIONS);
    }
    // A cursor with topics: names before its topic are skipped, its topic starts at its
    // partition.
    let r = dtp(&mut c, &["dtp-c", "dtp-a"], 10, Some(("dtp-a", 1)));
    assert_eq!(
        rows(&r),
        vec![
            ("dtp-a".to_string(), 1),
            ("dtp-a".to_string(), 2),
            ("dtp-c".to_string(), 0)
        ]
    );
    let r = dtp(&mut c, &["dtp-c", "dtp-a"], 10, Some(("dtp-c", 0)));
    assert_eq!(rows(&r), vec![("dtp-c".to_string(), 0)]);
    // A cursor past the topic's partitions: the topic with none, and no cursor.
    let r = dtp(&mut c, &["dtp-a"], 10, Some(("dtp-a", 7)));
    assert_eq!(entries(&r), vec![("dtp-a".to_string(), NONE, 0)]);
    assert_eq!(cursor_of(&r), None);

    // Invalid cursors: INVALID_REQUEST on every topic asked, as asked.
    let r = dtp(&mut c, &["dtp-a", "dtp-a"], 10, Some(("dtp-b", 0)));
    assert_eq!(
        entries(&r),
        vec![
            ("dtp-a".to_string(), INVALID_REQUEST, 0),
            ("dtp-a".to_string(), INVALID_REQUEST, 0)
        ]
    );
    assert_eq!(cursor_of(&r), None);
    let r = dtp(&mut c, &["dtp-a"], 10, Some(("dtp-a", -1)));
    assert_eq!(entries(&r), vec![("dtp-a".to_string(), INVALID_REQUEST, 0)]);
    let r = dtp(&mut c, &[], 10, Some(("dtp-a", -1)));
    assert!(r.topics.is_empty(), "{r:?}");
}

/// The response holds at most 2000 partitions, whatever limit the client asks.
pub fn describe_topic_partitions_caps_the_limit(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let n = PARTITIONS_PER_RESPONSE_MAX + 1;
    create_topic(&mut c, "dtp-wide", n);
    for limit in [i32::MAX, PARTITIONS_PER_RESPONSE_MAX + 1] {
        let r = dtp(&mut c, &[], limit, None);
        assert_eq!(rows(&r).len(), PARTITIONS_PER_RESPONSE_MAX as usize);
        assert_eq!(
            cursor_of(&r),
            Some(("dtp-wide".to_string(), PARTITIONS_PER_RESPONSE_MAX))
        );
    }
    let r = dtp(
        &mut c,
        &[],
        i32::MAX,
        Some(("dtp-wide", PARTITIONS_PER_RESPONSE_MAX)),
    );
    assert_eq!(
        rows(&r),
        vec![("dtp-wide".to_string(), PARTITIONS_PER_RESPONSE_MAX)]
    );
    assert_eq!(cursor_of(&r), None);
}

pub fn describe_log_dirs_sizes_every_partition(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "ldirs";
    create_topic(&mut c, topic, 3);
    create_topic(&mut c, "ldirs-other", 1);
    create_view(&mut c, "ldirs-view", topic);
    let b0 = batch(1, &[b"zero", b"zero again"]);
    let b2 = batch(2, &[b"two"]);
    produce_one(&mut c, topic, 0, &b0);
    produce_one(&mut c, topic, 2, &b2);
    produce_one(&mut c, topic, 2, &b2);
    let log_dir = std::path::absolute(broker.data_dir()).unwrap();
    let want = |parts: &[i32]| -> Vec<(i32, i64)> {
        parts
            .iter()
            .map(|&p| {
                let size = match p {
                    0 => b0.len(),
                    2 => 2 * b2.len(),
                    _ => 0,
                };
                (p, size as i64)
            })
            .collect()
    };
    assert_eq!(*versions(ApiKey::DescribeLogDirs).start(), 1);
    for v in versions(ApiKey::DescribeLogDirs) {
        for asked in [
            None,
            Some(vec![
                (topic, vec![2, 0, 2, 9]),
                ("nope", vec![0]),
                ("ldirs-view", vec![0]),
            ]),
        ] {
            let what = format!("v{v} asked {asked:?}");
            let req = DescribeLogDirsRequest::default().with_topics(asked.as_ref().map(|ts| {
                ts.iter()
                    .map(|(t, ps)| {
                        describe_log_dirs_request::DescribableLogDirTopic::default()
                            .with_topic(topic_name(t))
                            .with_partitions(ps.clone())
                    })
                    .collect()
            }));
            let r = c.call(v, &req);
            assert_eq!(r.error_code, NONE, "{what}");
            assert_eq!(r.results.len(), 1, "{what}: one log dir");
            let dir = &r.results[0];
            assert_eq!(dir.error_code, NONE, "{what}");
            assert_eq!(
                dir.log_dir.to_string(),
                log_dir.display().to_string(),
                "{what}"
            );
            if v >= 4 {
                assert!(
                    dir.total_bytes > 0 && (0..=dir.total_bytes).contains(&dir.usable_bytes),
                    "{what}: {} total, {} usable",
                    dir.total_bytes,
                    dir.usable_bytes
                );
            }
            let topics: Vec<(String, Vec<(i32, i64)>)> = dir
                .topics
                .iter()
                .map(|t| {
                    for p in &t.partitions {
                        assert_eq!((p.offset_lag, p.is_future_key), (0, false), "{what}");
                    }
                    (
                        t.name.0.to_string(),
                        t.partitions
                            .iter()
                            .map(|p| (p.partition_index, p.partition_size))
                            .collect(),
                    )
                })
                .collect();
            let expected = if asked.is_none() {
                vec![
                    (topic.to_string(), want(&[0, 1, 2])),
                    ("ldirs-other".to_string(), vec![(0, 0)]),
                ]
            } else {
                vec![(topic.to_string(), want(&[0, 2]))]
            };
            assert_eq!(topics, expected, "{what}");
        }
    }
}

fn delete_records(
    c: &mut Client,
    v: i16,
    asked: &[(&str, &[(i32, i64)])],
) -> Vec<(String, i32, i64, i16)> {
    use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    let r: DeleteRecordsResponse = c.call(
        v,
        &DeleteRecordsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(
                asked
                    .iter()
                    .map(|(t, ps)| {
                        DeleteRecordsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(
                                ps.iter()
                                    .map(|&(p, o)| {
                                        DeleteRecordsPartition::default()
                                            .with_partition_index(p)
                                            .with_offset(o)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
    );
    assert_eq!(r.throttle_time_ms, 0);
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.low_watermark,
                    p.error_code,
                )
            })
        })
        .collect()
}

fn row(t: &str, p: i32, low: i64, code: i16) -> (String, i32, i64, i16) {
    (t.to_string(), p, low, code)
}

/// ListOffsets of one partition at `timestamp` (-2 earliest, -1 latest): (error, offset).
fn list_offset(c: &mut Client, topic: &str, partition: i32, timestamp: i64) -> (i16, i64) {
    let v = *versions(ApiKey::ListOffsets).end();
    let r = c.call(
        v,
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(timestamp),
                ])]),
    );
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset)
}

pub fn delete_records_moves_the_log_start(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_in(dir.path(), io, |_| {});
    let mut c = Client::connect(broker.local_addr());
    let topic = "delrec";
    let id = create_topic(&mut c, topic, 2);
    create_view(&mut c, "delrec-view", topic);
    // Partition 0: three batches of two records (offsets 0..6, timestamps 1000.., 2000.., ...);
    // partition 1: one batch (0..2).
    for i in 0..3 {
        let b = batch(1000 * (i + 1), &[b"first", b"second"]);
        assert_eq!(produce_one(&mut c, topic, 0, &b), 2 * i);
    }
    produce_one(&mut c, topic, 1, &batch(1, &[b"a", b"b"]));
    assert_eq!(versions(ApiKey::DeleteRecords), 0..=2);

    // v0: inside the first batch, and -1 (the high watermark).
    assert_eq!(
        delete_records(&mut c, 0, &[(topic, &[(0, 1), (1, -1)])]),
        vec![row(topic, 0, 1, NONE), row(topic, 1, 2, NONE)]
    );
    assert_eq!(fetch_one(&mut c, topic, id, 0, 0).0, OFFSET_OUT_OF_RANGE);
    let (code, hw, records) = fetch_one(&mut c, topic, id, 0, 1);
    assert_eq!((code, hw), (NONE, 6));
    assert!(
        !records.is_empty(),
        "the batch holding the start is served whole"
    );
    assert_eq!(list_offset(&mut c, topic, 0, -2), (NONE, 1));
    assert_eq!(list_offset(&mut c, topic, 1, -2), (NONE, 2));
    assert_eq!(
        list_offset(&mut c, topic, 0, 0),
        (NONE, 1),
        "by time: not below the start"
    );

    // v1: backwards is no change; past the high watermark or negative is out of range;
    // unknown topics and partitions, and views, are refused; every answer in request order.
    assert_eq!(
        delete_records(
            &mut c,
            1,
            &[
                (topic, &[(0, 0), (1, 3), (5, 0), (1, -2)]),
                ("nope", &[(0, 0)]),
                ("delrec-view", &[(0, 1)]),
            ]
        ),
        vec![
            row(topic, 0, 1, NONE),
            row(topic, 1, -1, OFFSET_OUT_OF_RANGE),
            row(topic, 5, -1, UNKNOWN_TOPIC_OR_PARTITION),
            row("nope", 0, -1, UNKNOWN_TOPIC_OR_PARTITION),
            row("delrec-view", 0, -1, INVALID_TOPIC_EXCEPTION),
        ]
    );
    assert_eq!(
        list_offset(&mut c, topic, 1, -2),
        (NONE, 2),
        "refusal changed nothing"
    );

    // v2 (flexible): to a batch boundary; a partition asked twice is answered once, the
    // last offset asked wins.
    assert_eq!(
        delete_records(&mut c, 2, &[(topic, &[(0, 3), (0, 4)])]),
        vec![row(topic, 0, 4, NONE)]
    );
    assert_eq!(list_offset(&mut c, topic, 0, 1000), (NONE, 4));
    assert_eq!(list_offset(&mut c, topic, 0, 3000), (NONE, 4));
    assert_eq!(list_offset(&mut c, topic, 0, -1), (NONE, 6));

    // Durable: the starts survive a restart.
    drop(c);
    stop(broker);
    let broker = start_in(dir.path(), io, |_| {});
    let mut c = Client::connect(broker.local_addr());
    assert_eq!(list_offset(&mut c, topic, 0, -2), (NONE, 4));
    assert_eq!(list_offset(&mut c, topic, 1, -2), (NONE, 2));
    assert_eq!(fetch_one(&mut c, topic, id, 0, 3).0, OFFSET_OUT_OF_RANGE);
    assert_eq!(fetch_one(&mut c, topic, id, 0, 4).0, NONE);
    // Everything: the log is empty and takes appends on from there.
    assert_eq!(
        delete_records(&mut c, 2, &[(topic, &[(0, -1)])]),
        vec![row(topic, 0, 6, NONE)]
    );
    assert_eq!(produce_one(&mut c, topic, 0, &batch(9, &[b"after"])), 6);
    assert_eq!(list_offset(&mut c, topic, 0, -2), (NONE, 6));
    drop(c);
    stop(broker);
}

/// ListOffsets MAX_TIMESTAMP (-3, `kafka-get-offsets --time max-timestamp`): the first record
/// with the partition's largest timestamp, and that timestamp; -1/-1 for a partition without
/// records, as Kafka 4.4 answers.
pub fn list_offsets_max_timestamp_finds_the_newest_record(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    create_topic(&mut c, "maxts", 2);
    // Record i of a batch has timestamp base + i: the newest is the second record of the
    // middle batch (offset 3, 5001), not the last record written.
    produce_one(&mut c, "maxts", 0, &batch(1_000, &[b"a", b"b"]));
    produce_one(&mut c, "maxts", 0, &batch(5_000, &[b"c", b"d"]));
    produce_one(&mut c, "maxts", 0, &batch(3_000, &[b"e"]));
    let v = *versions(ApiKey::ListOffsets).end();
    let ask = |c: &mut Client, partition: i32| {
        let r = c.call(
            v,
            &ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic_name("maxts"))
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_timestamp(-3),
                    ])]),
        );
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.offset, p.timestamp)
    };
    assert_eq!(ask(&mut c, 0), (0, 3, 5_001));
    assert_eq!(ask(&mut c, 1), (0, -1, -1), "an empty partition");
    drop(c);
    broker.stop();
}
