//! DescribeProducers (key 61, KIP-664) at the wire: an idempotent producer and a transactional
//! one with an open transaction, each shown with its epoch, last sequence, last append time and
//! the first offset of its open transaction (what `kafka-transactions.sh find-hanging` reads),
//! on partitions of both shards; unknown topics and partitions answered with Kafka's code; a
//! repeated ask answered once; and the transaction's start gone once its marker is written.

use kafka_protocol::messages::{
    add_partitions_to_txn_request, describe_producers_request, AddPartitionsToTxnRequest, ApiKey,
    DescribeProducersRequest, EndTxnRequest, InitProducerIdRequest, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::runtime::IoKind;
use ringlog::storage::batch::testing::{build_batch_with, BatchSpec, TestRecord};
use ringlog::storage::batch::ATTR_TRANSACTIONAL;
use ringlog::storage::log::now_ms;

use super::client::*;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn v(key: ApiKey) -> i16 {
    *versions(key).end()
}

fn txn_id(s: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(s.to_string()))
}

/// A producer id from InitProducerId: idempotent only when `transactional_id` is `None`.
fn init(c: &mut Client, transactional_id: Option<&str>) -> i64 {
    let r = c.call(
        v(ApiKey::InitProducerId),
        &InitProducerIdRequest::default()
            .with_transactional_id(transactional_id.map(txn_id))
            .with_transaction_timeout_ms(60_000),
    );
    assert_eq!(
        (r.error_code, r.producer_epoch),
        (NONE, 0),
        "InitProducerId"
    );
    r.producer_id.0
}

/// Produces `n` records at `seq` as producer `pid` (epoch 0); returns the base offset.
fn produce(
    c: &mut Client,
    transactional_id: Option<&str>,
    (topic, partition): (&str, i32),
    pid: i64,
    seq: i32,
    n: usize,
) -> i64 {
    let mut records = build_batch_with(&BatchSpec {
        base_timestamp_ms: now_ms(),
        attributes: if transactional_id.is_some() {
            ATTR_TRANSACTIONAL
        } else {
            0
        },
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
        records: (0..n)
            .map(|i| TestRecord {
                value: Some(format!("p{pid}-{seq}-{i}").into_bytes()),
                ..TestRecord::default()
            })
            .collect(),
        ..BatchSpec::default()
    });
    ringlog::storage::batch::stamp(&mut records, 0, 0);
    let resp = c.call(
        v(ApiKey::Produce),
        &produce_request(topic, -1, &[(partition, records)])
            .with_transactional_id(transactional_id.map(txn_id)),
    );
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, NONE, "produce to {topic}-{partition}");
    p.base_offset
}

/// One described producer: (id, epoch, last sequence, last timestamp, coordinator epoch,
/// current transaction's first offset).
type Described = (i64, i32, i32, i64, i32, i64);

/// One answered partition: (topic, partition, error code, error message, producers).
type Answered = (String, i32, i16, Option<String>, Vec<Described>);

fn describe(c: &mut Client, asked: &[(&str, &[i32])]) -> Vec<Answered> {
    let topics = asked
        .iter()
        .map(|(t, parts)| {
            describe_producers_request::TopicRequest::default()
                .with_name(topic_name(t))
                .with_partition_indexes(parts.to_vec())
        })
        .collect();
    let r = c.call(
        v(ApiKey::DescribeProducers),
        &DescribeProducersRequest::default().with_topics(topics),
    );
    assert_eq!(r.throttle_time_ms, 0);
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.to_string()),
                    p.active_producers
                        .iter()
                        .map(|s| {
                            (
                                s.producer_id.0,
                                s.producer_epoch,
                                s.last_sequence,
                                s.last_timestamp,
                                s.coordinator_epoch,
                                s.current_txn_start_offset,
                            )
                        })
                        .collect(),
                )
            })
        })
        .collect()
}

/// The producers of one partition (which must be answered without error).
fn producers_of(c: &mut Client, topic: &str, partition: i32) -> Vec<Described> {
    let mut answered = describe(c, &[(topic, &[partition])]);
    assert_eq!(answered.len(), 1);
    let (t, p, code, message, producers) = answered.remove(0);
    assert_eq!(
        (t.as_str(), p, code, message),
        (topic, partition, NONE, None)
    );
    producers
}

/// Replaces each producer's last timestamp by whether it lies in `[from, to]`.
fn timestamps_within(producers: &mut [Described], from: i64, to: i64) {
    for p in producers.iter_mut() {
        assert!(
            (from..=to).contains(&p.3),
            "producer {}: last timestamp {} outside [{from}, {to}]",
            p.0,
            p.3
        );
        p.3 = 0;
    }
}

pub fn describe_producers_shows_idempotent_and_open_transactions(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = "dprod";
    create_topic(&mut c, t, 2);
    let before = now_ms();

    // Partition 0: an idempotent producer, two batches (sequences 0-2, 3-4).
    let idem = init(&mut c, None);
    assert_eq!(produce(&mut c, None, (t, 0), idem, 0, 3), 0);
    assert_eq!(produce(&mut c, None, (t, 0), idem, 3, 2), 3);
    // Partition 1: the same idempotent producer first, then a transactional one whose
    // transaction stays open (its first batch at offset 1).
    assert_eq!(produce(&mut c, None, (t, 1), idem, 0, 1), 0);
    let tx = init(&mut c, Some("dp-tx"));
    let added = c.call(
        3,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn_id("dp-tx"))
            .with_v3_and_below_producer_id(ProducerId(tx))
            .with_v3_and_below_producer_epoch(0)
            .with_v3_and_below_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(vec![1]),
            ]),
    );
    assert_eq!(
        added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        NONE
    );
    assert_eq!(produce(&mut c, Some("dp-tx"), (t, 1), tx, 0, 2), 1);
    assert_eq!(produce(&mut c, Some("dp-tx"), (t, 1), tx, 2, 2), 3);
    let after = now_ms();

    let mut p0 = producers_of(&mut c, t, 0);
    timestamps_within(&mut p0, before, after);
    assert_eq!(p0, vec![(idem, 0, 4, 0, -1, -1)]);
    let mut p1 = producers_of(&mut c, t, 1);
    timestamps_within(&mut p1, before, after);
    let mut want = vec![(idem, 0, 0, 0, -1, -1), (tx, 0, 3, 0, -1, 1)];
    want.sort();
    assert_eq!(p1, want, "the open transaction starts at offset 1");

    // Unknown topics and partitions: Kafka's code, a null message, no producers; a partition
    // asked twice is answered once, in request order.
    let answered = describe(
        &mut c,
        &[(t, &[1, 2, -1, 1]), ("dprod-none", &[0]), (t, &[0])],
    );
    let unknown = |topic: &str, p| {
        (
            topic.to_string(),
            p,
            UNKNOWN_TOPIC_OR_PARTITION,
            None,
            vec![],
        )
    };
    let mut answered_p1 = answered[0].clone();
    timestamps_within(&mut answered_p1.4, before, after);
    assert_eq!(answered_p1, (t.to_string(), 1, NONE, None, want.clone()));
    assert_eq!(
        answered[1..],
        [
            unknown(t, 2),
            unknown(t, -1),
            unknown("dprod-none", 0),
            answered[4].clone(),
        ]
    );
    assert_eq!(
        (answered[4].0.as_str(), answered[4].1, answered[4].2),
        (t, 0, NONE)
    );
    assert_eq!(
        describe(&mut c, &[]),
        vec![],
        "nothing asked, nothing answered"
    );

    // The marker closes the transaction: the producer stays, its transaction start is gone.
    let ended = c.call(
        v(ApiKey::EndTxn),
        &EndTxnRequest::default()
            .with_transactional_id(txn_id("dp-tx"))
            .with_producer_id(ProducerId(tx))
            .with_producer_epoch(0)
            .with_committed(true),
    );
    assert_eq!(ended.error_code, NONE);
    let mut p1 = producers_of(&mut c, t, 1);
    timestamps_within(&mut p1, before, now_ms());
    let mut want = vec![(idem, 0, 0, 0, -1, -1), (tx, 0, 3, 0, -1, -1)];
    want.sort();
    assert_eq!(p1, want, "committed: no open transaction");
    drop(c);
    broker.stop();
}
