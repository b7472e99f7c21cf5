//! Transactions (issue #18) at the wire: the coordinator's answers and Kafka's error codes
//! (fencing, states, unknown partitions, timeouts), markers and the last stable offset as Fetch
//! and ListOffsets show them under both isolation levels, the aborted-transactions list,
//! transactional offset commits visible only on commit, and all of it across a restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    add_partitions_to_txn_request, list_offsets_request, offset_fetch_request,
    txn_offset_commit_request, AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey,
    DescribeTransactionsRequest, EndTxnRequest, FetchRequest, FindCoordinatorRequest, GroupId,
    InitProducerIdRequest, ListOffsetsRequest, ListTransactionsRequest, OffsetFetchRequest,
    ProducerId, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::runtime::IoKind;
use ringlog::storage::batch::testing::{build_batch_with, BatchSpec, TestRecord};
use ringlog::storage::batch::ATTR_TRANSACTIONAL;
use uuid::Uuid;

use super::client::*;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REQUEST: i16 = 42;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;

fn v(key: ApiKey) -> i16 {
    *versions(key).end()
}

fn txn_id(s: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(s.to_string()))
}

pub(crate) fn init(c: &mut Client, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let r = c.call(
        v(ApiKey::InitProducerId),
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id(id)))
            .with_transaction_timeout_ms(timeout_ms),
    );
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// AddPartitionsToTxn at `version` (v0-3 form): each (topic, partition)'s code.
fn add_at(
    c: &mut Client,
    version: i16,
    id: &str,
    (pid, epoch): (i64, i16),
    parts: &[(&str, i32)],
) -> Vec<((String, i32), i16)> {
    let mut topics: Vec<add_partitions_to_txn_request::AddPartitionsToTxnTopic> = Vec::new();
    for (t, p) in parts {
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(*p),
            None => topics.push(
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(vec![*p]),
            ),
        }
    }
    let r = c.call(
        version,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn_id(id))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(topics),
    );
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition.iter().map(move |p| {
                (
                    (t.name.0.to_string(), p.partition_index),
                    p.partition_error_code,
                )
            })
        })
        .collect()
}

pub(crate) fn add(c: &mut Client, id: &str, producer: (i64, i16), parts: &[(&str, i32)]) -> i16 {
    let codes = add_at(c, 3, id, producer, parts);
    assert_eq!(codes.len(), parts.len());
    codes
        .iter()
        .map(|(_, e)| *e)
        .max_by_key(|e| *e != 0)
        .unwrap_or(0)
}

fn end_at(c: &mut Client, version: i16, id: &str, (pid, epoch): (i64, i16), commit: bool) -> i16 {
    c.call(
        version,
        &EndTxnRequest::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
    )
    .error_code
}

pub(crate) fn end(c: &mut Client, id: &str, producer: (i64, i16), commit: bool) -> i16 {
    end_at(c, v(ApiKey::EndTxn), id, producer, commit)
}

/// A transactional (or, with `transactional` false, only idempotent) batch of `n` records.
pub(crate) fn txn_batch(
    (pid, epoch): (i64, i16),
    seq: i32,
    n: usize,
    transactional: bool,
) -> Vec<u8> {
    let mut b = build_batch_with(&BatchSpec {
        base_timestamp_ms: ringlog::storage::log::now_ms(),
        attributes: if transactional { ATTR_TRANSACTIONAL } else { 0 },
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        records: (0..n)
            .map(|i| TestRecord {
                value: Some(format!("r{seq}-{i}").into_bytes()),
                ..TestRecord::default()
            })
            .collect(),
        ..BatchSpec::default()
    });
    ringlog::storage::batch::stamp(&mut b, 0, 0);
    b
}

/// Produce one batch as transactional id "tx"'s producer; (error, base offset).
fn produce(c: &mut Client, topic: &str, partition: i32, records: Vec<u8>) -> (i16, i64) {
    produce_as(c, Some("tx"), topic, partition, records)
}

/// Produce one batch with the request's transactional id `id`; (error, base offset).
pub(crate) fn produce_as(
    c: &mut Client,
    id: Option<&str>,
    topic: &str,
    partition: i32,
    records: Vec<u8>,
) -> (i16, i64) {
    let resp = c.call(
        v(ApiKey::Produce),
        &produce_request(topic, -1, &[(partition, records)]).with_transactional_id(id.map(txn_id)),
    );
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// What one Fetch of a partition shows.
#[derive(Debug)]
struct Fetched {
    error: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Option<Vec<(i64, i64)>>,
    /// (base offset, is control, producer id) of each batch.
    batches: Vec<(i64, bool, i64)>,
}

fn fetch(c: &mut Client, topic: &str, id: Uuid, offset: i64, read_committed: bool) -> Fetched {
    let version = v(ApiKey::Fetch);
    let at = [FetchAt {
        topic,
        topic_id: id,
        partition: 0,
        offset,
    }];
    let req: FetchRequest =
        fetch_request(version, &at, 0, 0).with_isolation_level(i8::from(read_committed));
    let resp = c.call(version, &req);
    let p = &resp.responses[0].partitions[0];
    let mut batches = Vec::new();
    let mut rest: Bytes = p.records.clone().unwrap_or_default();
    while rest.len() >= 61 {
        let h = ringlog::storage::batch::BatchHeader::parse(&rest[..61]).expect("batch header");
        batches.push((h.base_offset, h.is_control(), h.producer_id));
        let size = h.size_bytes() as usize;
        if size > rest.len() {
            break;
        }
        rest = rest.slice(size..);
    }
    Fetched {
        error: p.error_code,
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        aborted: p.aborted_transactions.as_ref().map(|list| {
            list.iter()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect()
        }),
        batches,
    }
}

fn latest(c: &mut Client, topic: &str, isolation: i8) -> i64 {
    let r = c.call(
        v(ApiKey::ListOffsets),
        &ListOffsetsRequest::default()
            .with_isolation_level(isolation)
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ])]),
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "ListOffsets");
    p.offset
}

/// (state, producer id, epoch, partitions) of a transactional id.
type DescribedTxn = (String, i64, i16, Vec<(String, i32)>);

/// A transactional id as DescribeTransactions shows it, or its error code.
fn describe(c: &mut Client, id: &str) -> Result<DescribedTxn, i16> {
    let r = c.call(
        v(ApiKey::DescribeTransactions),
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id(id)]),
    );
    let s = &r.transaction_states[0];
    if s.error_code != 0 {
        return Err(s.error_code);
    }
    let parts = s
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
        .collect();
    Ok((
        s.transaction_state.to_string(),
        s.producer_id.0,
        s.producer_epoch,
        parts,
    ))
}

fn txn_commit(
    c: &mut Client,
    id: &str,
    group: &str,
    (pid, epoch): (i64, i16),
    topic: &str,
    offset: i64,
) -> i16 {
    let r = c.call(
        v(ApiKey::TxnOffsetCommit),
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(txn_id(id))
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(offset),
                    ]),
            ]),
    );
    r.topics[0].partitions[0].error_code
}

/// OffsetFetch v7 of one partition: (error code, offset).
fn committed(c: &mut Client, group: &str, topic: &str, require_stable: bool) -> (i16, i64) {
    let r = c.call(
        7,
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_require_stable(require_stable)
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(vec![0]),
            ])),
    );
    assert_eq!(r.error_code, 0, "OffsetFetch");
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

fn add_offsets(c: &mut Client, id: &str, (pid, epoch): (i64, i16), group: &str) -> i16 {
    c.call(
        v(ApiKey::AddOffsetsToTxn),
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(StrBytes::from_string(group.to_string()))),
    )
    .error_code
}

/// The coordinator, the transaction's states and codes, markers, the LSO under both isolation
/// levels and the aborted list, as Kafka 4.4 answers them.
pub fn transactions_at_the_wire(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = "txw";
    let id = create_topic(&mut c, t, 2);

    // FindCoordinator for a transactional id: this broker; an empty id is refused.
    for (key, want) in [("tx", NONE), ("", INVALID_REQUEST)] {
        let r = c.call(
            3,
            &FindCoordinatorRequest::default()
                .with_key(StrBytes::from_static_str(key))
                .with_key_type(1),
        );
        assert_eq!(r.error_code, want, "FindCoordinator {key:?}");
    }
    assert_eq!(init(&mut c, "tx", 0).0, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(init(&mut c, "tx", 900_001).0, INVALID_TRANSACTION_TIMEOUT);
    let (e, pid, epoch) = init(&mut c, "tx", 60_000);
    assert_eq!((e, epoch), (NONE, 0));
    let p = (pid, 0);
    assert_eq!(describe(&mut c, "tx"), Ok(("Empty".into(), pid, 0, vec![])));
    assert_eq!(describe(&mut c, "nope"), Err(TRANSACTIONAL_ID_NOT_FOUND));

    // An unknown partition: refused, the others not attempted, nothing added.
    let codes = add_at(&mut c, 3, "tx", p, &[(t, 0), (t, 9)]);
    assert_eq!(
        codes,
        vec![
            ((t.to_string(), 0), OPERATION_NOT_ATTEMPTED),
            ((t.to_string(), 9), UNKNOWN_TOPIC_OR_PARTITION)
        ]
    );
    assert_eq!(
        add(&mut c, "tx", (pid + 1, 0), &[(t, 0)]),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(add(&mut c, "tx", (pid, 3), &[(t, 0)]), PRODUCER_FENCED);
    assert_eq!(
        add_at(&mut c, 1, "tx", (pid, 3), &[(t, 0)])[0].1,
        INVALID_PRODUCER_EPOCH,
        "v1 predates PRODUCER_FENCED"
    );
    assert_eq!(
        end(&mut c, "tx", p, true),
        INVALID_TXN_STATE,
        "nothing to end"
    );
    assert_eq!(add(&mut c, "tx", p, &[(t, 0)]), NONE);
    let (state, _, _, parts) = describe(&mut c, "tx").unwrap();
    assert_eq!(
        (state.as_str(), parts),
        ("Ongoing", vec![(t.to_string(), 0)])
    );

    // Produce is checked with the coordinator (KIP-890 part 1): a partition not added, and
    // transactional records without a transactional id, are refused; nothing is stored.
    assert_eq!(
        produce(&mut c, t, 1, txn_batch(p, 0, 1, true)).0,
        INVALID_TXN_STATE,
        "partition 1 was not added"
    );
    assert_eq!(
        produce_as(&mut c, None, t, 0, txn_batch(p, 0, 1, true)).0,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    // An open transaction: read_committed stops at its first offset.
    assert_eq!(produce(&mut c, t, 0, txn_batch(p, 0, 3, true)), (NONE, 0));
    assert_eq!(
        produce(&mut c, t, 0, txn_batch(p, 3, 1, false)).0,
        INVALID_TXN_STATE,
        "a non-transactional batch inside the producer's transaction"
    );
    let f = fetch(&mut c, t, id, 0, true);
    assert_eq!(
        (
            f.error,
            f.high_watermark,
            f.last_stable_offset,
            f.batches.len()
        ),
        (NONE, 3, 0, 0)
    );
    assert_eq!(f.aborted, Some(vec![]));
    let f = fetch(&mut c, t, id, 0, false);
    assert_eq!(
        (f.last_stable_offset, f.batches.len(), f.aborted),
        (0, 1, None)
    );
    assert_eq!((latest(&mut c, t, 0), latest(&mut c, t, 1)), (3, 0));

    // Commit: a marker ends it, everything is stable, a retry succeeds, the other way not.
    assert_eq!(end(&mut c, "tx", (pid, 1), true), PRODUCER_FENCED);
    assert_eq!(
        end_at(&mut c, 1, "tx", (pid, 1), true),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(end(&mut c, "tx", p, true), NONE);
    assert_eq!(end(&mut c, "tx", p, true), NONE, "a retried commit");
    assert_eq!(end(&mut c, "tx", p, false), INVALID_TXN_STATE);
    let f = fetch(&mut c, t, id, 0, true);
    assert_eq!((f.high_watermark, f.last_stable_offset), (4, 4));
    assert_eq!(f.batches, vec![(0, false, pid), (3, true, pid)]);
    assert_eq!(f.aborted, Some(vec![]));
    assert_eq!(describe(&mut c, "tx").unwrap().0, "CompleteCommit");

    // Abort: the records stay in the log, read_committed lists the transaction as aborted.
    assert_eq!(add(&mut c, "tx", p, &[(t, 0), (t, 1)]), NONE);
    assert_eq!(produce(&mut c, t, 0, txn_batch(p, 3, 2, true)), (NONE, 4));
    assert_eq!(end(&mut c, "tx", p, false), NONE);
    let f = fetch(&mut c, t, id, 0, true);
    assert_eq!((f.high_watermark, f.last_stable_offset), (7, 7));
    assert_eq!(f.aborted, Some(vec![(pid, 4)]));
    assert_eq!(
        fetch(&mut c, t, id, 6, true).aborted,
        Some(vec![(pid, 4)]),
        "the marker's range"
    );
    assert_eq!(
        fetch(&mut c, t, id, 7, true).aborted,
        Some(vec![]),
        "after the marker"
    );

    // A zombie: a new InitProducerId aborts its open transaction with a bumped epoch.
    assert_eq!(add(&mut c, "tx", p, &[(t, 0)]), NONE);
    assert_eq!(produce(&mut c, t, 0, txn_batch(p, 5, 1, true)), (NONE, 7));
    let (e, pid2, epoch2) = init(&mut c, "tx", 60_000);
    // As Kafka: the abort fences the zombie with epoch + 1, the new producer gets the next one.
    assert_eq!((e, pid2, epoch2), (NONE, pid, 2), "the epoch is bumped");
    assert_eq!(
        end(&mut c, "tx", p, true),
        PRODUCER_FENCED,
        "the zombie's commit"
    );
    assert_eq!(
        produce(&mut c, t, 0, txn_batch(p, 6, 1, true)).0,
        INVALID_PRODUCER_EPOCH,
        "the zombie's records: the abort marker carried the new epoch"
    );
    assert_eq!(
        produce(&mut c, t, 1, txn_batch(p, 0, 1, true)).0,
        INVALID_PRODUCER_EPOCH,
        "nor where its transaction never was (no marker would end it there)"
    );
    let f = fetch(&mut c, t, id, 0, true);
    assert_eq!(f.last_stable_offset, f.high_watermark);
    let f = fetch(&mut c, t, id, 7, true);
    assert_eq!(f.aborted, Some(vec![(pid, 7)]));
    assert_eq!(f.last_stable_offset, f.high_watermark);

    // ListTransactions with its filters.
    let r = c.call(
        v(ApiKey::ListTransactions),
        &ListTransactionsRequest::default().with_state_filters(vec![
            StrBytes::from_static_str("Empty"),
            StrBytes::from_static_str("Nope"),
        ]),
    );
    assert_eq!(
        r.unknown_state_filters,
        vec![StrBytes::from_static_str("Nope")]
    );
    assert_eq!(r.transaction_states.len(), 1);
    assert_eq!(r.transaction_states[0].transactional_id.0.as_str(), "tx");
    let r = c.call(
        v(ApiKey::ListTransactions),
        &ListTransactionsRequest::default()
            .with_transactional_id_pattern(Some(StrBytes::from_static_str("x.*"))),
    );
    assert!(
        r.transaction_states.is_empty(),
        "the pattern matches whole ids only"
    );
    let r = c.call(
        v(ApiKey::ListTransactions),
        &ListTransactionsRequest::default()
            .with_transactional_id_pattern(Some(StrBytes::from_static_str("("))),
    );
    assert_eq!(r.error_code, 128, "INVALID_REGULAR_EXPRESSION");
    drop(c);
    broker.stop();
}

/// Transactional offset commits: invisible (unstable to require_stable) until the commit, dropped
/// by an abort; a transaction left open past its timeout is aborted and its producer fenced.
pub fn offsets_and_timeouts(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.transaction_abort_check_ms = 100);
    let mut c = broker.connect();
    let t = "txo";
    let id = create_topic(&mut c, t, 1);
    let (_, pid, _) = init(&mut c, "to", 60_000);
    let p = (pid, 0);
    assert_eq!(
        txn_commit(&mut c, "to", "g", p, t, 1),
        INVALID_TXN_STATE,
        "the group was not added to a transaction"
    );
    for (commit, offset) in [(true, 5), (false, 9)] {
        assert_eq!(add_offsets(&mut c, "to", p, "g"), NONE);
        assert_eq!(txn_commit(&mut c, "to", "g", p, t, offset), NONE);
        let before = if commit { -1 } else { 5 };
        assert_eq!(
            committed(&mut c, "g", t, true),
            (UNSTABLE_OFFSET_COMMIT, -1)
        );
        assert_eq!(committed(&mut c, "g", t, false), (NONE, before));
        assert_eq!(end(&mut c, "to", p, commit), NONE);
        assert_eq!(
            committed(&mut c, "g", t, true),
            (NONE, 5),
            "commit {commit}"
        );
    }
    // A zombie's offsets (its epoch is older than the transactional id's) are fenced.
    let (_, _, epoch) = init(&mut c, "to", 60_000);
    assert_eq!(add_offsets(&mut c, "to", (pid, epoch), "g"), NONE);
    assert_eq!(txn_commit(&mut c, "to", "g", p, t, 7), PRODUCER_FENCED);
    assert_eq!(end(&mut c, "to", (pid, epoch), true), NONE);
    assert_eq!(
        committed(&mut c, "g", t, true),
        (NONE, 5),
        "nothing of the zombie's"
    );

    let (_, pid, _) = init(&mut c, "slow", 500);
    let p = (pid, 0);
    assert_eq!(add(&mut c, "slow", p, &[(t, 0)]), NONE);
    assert_eq!(
        produce_as(&mut c, Some("slow"), t, 0, txn_batch(p, 0, 2, true)),
        (NONE, 0)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (state, _, epoch, _) = describe(&mut c, "slow").unwrap();
        if state == "CompleteAbort" {
            assert_eq!(epoch, 1, "aborted with a bumped epoch");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not aborted after its timeout: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(end(&mut c, "slow", p, true), PRODUCER_FENCED);
    let f = fetch(&mut c, t, id, 0, true);
    assert_eq!(f.aborted, Some(vec![(pid, 0)]));
    assert_eq!(f.last_stable_offset, f.high_watermark);
    drop(c);
    broker.stop();
}

/// An open transaction, its pending offsets and an aborted one survive a restart: the LSO is
/// rebuilt, the coordinator still knows the producer, and the commit after the restart lands.
pub fn transactions_survive_a_restart(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = start_in(dir.path(), io, |_| {});
    let mut c = Client::connect(broker.local_addr());
    let t = "txr";
    let id = create_topic(&mut c, t, 1);
    let (_, pid, _) = init(&mut c, "tr", 60_000);
    let p = (pid, 0);
    assert_eq!(add(&mut c, "tr", p, &[(t, 0)]), NONE);
    assert_eq!(
        produce_as(&mut c, Some("tr"), t, 0, txn_batch(p, 0, 2, true)),
        (NONE, 0)
    );
    assert_eq!(end(&mut c, "tr", p, false), NONE);
    assert_eq!(add(&mut c, "tr", p, &[(t, 0)]), NONE);
    assert_eq!(add_offsets(&mut c, "tr", p, "gr"), NONE);
    assert_eq!(
        produce_as(&mut c, Some("tr"), t, 0, txn_batch(p, 2, 2, true)),
        (NONE, 3)
    );
    assert_eq!(txn_commit(&mut c, "tr", "gr", p, t, 5), NONE);
    drop(c);
    stop(broker);

    let broker = start_in(dir.path(), io, |_| {});
    let mut c = Client::connect(broker.local_addr());
    let f = fetch(&mut c, t, id, 0, true);
    assert_eq!(
        (f.last_stable_offset, f.high_watermark),
        (3, 5),
        "open transaction rebuilt"
    );
    assert_eq!(f.aborted, Some(vec![(pid, 0)]), "aborted index rebuilt");
    assert_eq!(describe(&mut c, "tr").unwrap().0, "Ongoing");
    assert_eq!(
        committed(&mut c, "gr", t, true),
        (UNSTABLE_OFFSET_COMMIT, -1)
    );
    assert_eq!(end(&mut c, "tr", p, true), NONE);
    let f = fetch(&mut c, t, id, 0, true);
    assert_eq!(f.last_stable_offset, f.high_watermark);
    assert_eq!(committed(&mut c, "gr", t, true), (NONE, 5));
    drop(c);
    stop(broker);
}
