//! Log compaction ([`ringlog::storage::compact`]): a property test against a model (latest
//! record per key among the sealed segments, tombstones dropped only after
//! `delete_retention_ms`, offsets and order kept), bounded steps, several passes with a small
//! offset map, crashes at every point of a swap, idempotent producers and transactions.

use std::collections::HashMap;

use bytes::Bytes;
use proptest::prelude::*;
use ringlog::storage::batch::{BatchHeader, ATTR_TRANSACTIONAL};
use ringlog::storage::compact::{testing, CompactBudget, CompactProgress, CRASH_POINTS};
use ringlog::storage::records::{
    decode_batch_records, encode_batch, BatchMeta, Compression, Record,
};
use ringlog::storage::{Error, FlushPolicy, Log, LogConfig};

use crate::common::block_on;

/// Timestamps of the test records start here (ms since the epoch).
const T0: i64 = 1_700_000_000_000;
/// `delete_retention_ms` of the tests.
const RETENTION_MS: u64 = 500;
/// An offset map large enough for every test's keys: one pass cleans everything.
const MAP_LARGE: usize = 1 << 16;

fn compacted_config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        segment_ms: None,
        index_interval_bytes: 128,
        flush: FlushPolicy::Never,
        cleanup_compact: true,
        cleanup_delete: false,
        delete_retention_ms: RETENTION_MS,
        ..LogConfig::default()
    }
}

/// One record to write: key, value (`None`: tombstone), timestamp delta from the batch base.
type Rec = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

fn batch_with(records: &[Rec], ts: i64, codec: Compression, meta: BatchMeta) -> Vec<u8> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v, d))| Record {
            offset_delta: i as i32,
            timestamp_delta: *d,
            key: k.clone().map(Bytes::from),
            value: v.clone().map(Bytes::from),
            headers: Vec::new(),
        })
        .collect();
    let mut out = Vec::new();
    encode_batch(
        &BatchMeta {
            base_timestamp: ts,
            ..meta
        },
        &records,
        codec,
        &mut out,
    )
    .expect("encode");
    out
}

fn keyed(records: &[Rec], ts: i64, codec: Compression) -> Vec<u8> {
    batch_with(records, ts, codec, BatchMeta::default())
}

fn rec(key: &str, value: Option<&str>) -> Rec {
    (
        Some(key.as_bytes().to_vec()),
        value.map(|v| v.as_bytes().to_vec()),
        0,
    )
}

/// A record read back: offset, key, value.
type Read = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Every batch (base, last offset, records count) and record of the log, start to end.
fn read_log(log: &Log) -> (Vec<(i64, i64, i32)>, Vec<Read>) {
    block_on(async {
        let start = log.log_start_offset();
        let bytes = log
            .read(start, u64::MAX)
            .await
            .expect("read")
            .read_to_vec()
            .await
            .expect("bytes");
        let (mut batches, mut records) = (Vec::new(), Vec::new());
        let mut pos = 0;
        let mut last = i64::MIN;
        while pos < bytes.len() {
            let h = BatchHeader::parse_fetched(&bytes[pos..]).expect("header");
            assert!(
                h.base_offset > last,
                "offsets increase: {} after {last}",
                h.base_offset
            );
            last = h.last_offset();
            let size = h.size_bytes() as usize;
            let b = Bytes::copy_from_slice(&bytes[pos..pos + size]);
            ringlog::storage::batch::validate_fetched(&b, u64::MAX).expect("crc");
            batches.push((h.base_offset, h.last_offset(), h.records_count));
            for r in decode_batch_records(&b, &h, 64 << 20).expect("records") {
                let offset = h.base_offset + i64::from(r.offset_delta);
                assert!(offset <= h.last_offset());
                records.push((
                    offset,
                    r.key.map(|k| k.to_vec()),
                    r.value.map(|v| v.to_vec()),
                ));
            }
            pos += size;
        }
        (batches, records)
    })
}

fn open_with(dir: &std::path::Path, config: &LogConfig) -> Log {
    block_on(Log::open(dir, "t", 0, config.clone(), false)).expect("open")
}

fn append(log: &Log, batch: Vec<u8>) -> i64 {
    block_on(log.append(batch)).expect("append")
}

fn compact(log: &Log, now: i64, map_keys_max: usize) -> Option<ringlog::storage::CompactStats> {
    block_on(log.compact(now, map_keys_max)).expect("compact")
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

/// A model record: offset, key, value, timestamp.
type ModelRecord = (i64, Vec<u8>, Option<Vec<u8>>, i64);
/// A generated batch: records (key number, tombstone, timestamp), codec number.
type GenBatch = (Vec<(u8, bool, u16)>, u8);

/// The model: every record written, with the current max timestamp of its batch.
#[derive(Debug, Clone)]
struct ModelBatch {
    base: i64,
    last: i64,
    max_ts: i64,
    records: Vec<ModelRecord>,
}

#[derive(Debug, Default)]
struct Model {
    batches: Vec<ModelBatch>,
}

impl Model {
    /// One full pass at `now` over the batches below `sealed_end` (the active segment's base).
    fn clean(&mut self, sealed_end: i64, now: i64) {
        let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
        for b in self.batches.iter().filter(|b| b.last < sealed_end) {
            for (o, k, _, _) in &b.records {
                latest.insert(k.clone(), *o);
            }
        }
        let retention = RETENTION_MS as i64;
        for b in self.batches.iter_mut().filter(|b| b.last < sealed_end) {
            let expired = b.max_ts >= 0 && b.max_ts + retention < now;
            let before = b.records.len();
            b.records
                .retain(|(o, k, v, _)| latest[k] == *o && (v.is_some() || !expired));
            if b.records.len() != before && !b.records.is_empty() {
                b.max_ts = b.records.iter().map(|r| r.3).max().unwrap();
            }
        }
        self.batches.retain(|b| !b.records.is_empty());
    }

    fn expected(&self) -> (Vec<(i64, i64)>, Vec<Read>) {
        let batches = self.batches.iter().map(|b| (b.base, b.last)).collect();
        let records = self
            .batches
            .iter()
            .flat_map(|b| b.records.iter())
            .map(|(o, k, v, _)| (*o, Some(k.clone()), v.clone()))
            .collect();
        (batches, records)
    }
}

fn check_against(log: &Log, model: &Model, what: &str) {
    let (batches, records) = read_log(log);
    let (want_batches, want_records) = model.expected();
    assert_eq!(records, want_records, "{what}: records");
    let got: Vec<(i64, i64)> = batches.iter().map(|b| (b.0, b.1)).collect();
    assert_eq!(got, want_batches, "{what}: batch offsets");
}

#[derive(Debug, Clone)]
enum Op {
    /// Batches of (key, tombstone?, timestamp delta) records, one codec each.
    Append(Vec<GenBatch>),
    Roll,
    /// Clean at `now` = the previous clean's now + this.
    Clean(u16),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let record = (0u8..6, prop::bool::weighted(0.2), 0u16..1000);
    let batch = (prop::collection::vec(record, 1..5), 0u8..5);
    prop_oneof![
        6 => prop::collection::vec(batch, 1..3).prop_map(Op::Append),
        2 => Just(Op::Roll),
        3 => (0u16..700).prop_map(Op::Clean),
        1 => Just(Op::Reopen),
    ]
}

fn run_model(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let config = compacted_config();
    let mut log = open_with(dir.path(), &config);
    let mut model = Model::default();
    let mut now = T0;
    for op in ops {
        match op {
            Op::Append(batches) => {
                for (recs, codec) in batches {
                    let codec = Compression::ALL[usize::from(codec) % Compression::ALL.len()];
                    let base_ts = T0 + i64::from(recs[0].2);
                    let records: Vec<Rec> = recs
                        .iter()
                        .map(|&(k, tomb, ts)| {
                            let key = format!("key-{k}").into_bytes();
                            let value = (!tomb).then(|| format!("v{ts}-{k}").into_bytes());
                            (Some(key), value, T0 + i64::from(ts) - base_ts)
                        })
                        .collect();
                    let base = append(&log, keyed(&records, base_ts, codec));
                    let recs: Vec<_> = records
                        .iter()
                        .enumerate()
                        .map(|(i, (k, v, d))| {
                            (base + i as i64, k.clone().unwrap(), v.clone(), base_ts + d)
                        })
                        .collect();
                    model.batches.push(ModelBatch {
                        base,
                        last: base + recs.len() as i64 - 1,
                        max_ts: recs.iter().map(|r| r.3).max().unwrap(),
                        records: recs,
                    });
                }
            }
            Op::Roll => block_on(log.roll()).expect("roll"),
            Op::Clean(step) => {
                now += i64::from(step);
                compact(&log, now, MAP_LARGE);
                let active = *log.segment_base_offsets().last().unwrap();
                model.clean(active, now);
                check_against(&log, &model, "after a clean");
            }
            Op::Reopen => {
                drop(log);
                log = open_with(dir.path(), &config);
                check_against(&log, &model, "after a reopen");
            }
        }
    }
    check_against(&log, &model, "at the end");
    drop(log);
    let log = open_with(dir.path(), &config);
    check_against(&log, &model, "reopened at the end");
    assert!(leftovers(dir.path()).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// After any sequence of appends, rolls, cleans and reopens the log reads back exactly as
    /// the model: the latest record per key among the sealed segments, tombstones dropped only
    /// once `delete_retention_ms` past their batch, every kept record at its offset, in order,
    /// and every kept batch with its offsets.
    #[test]
    fn compaction_matches_the_model(ops in prop::collection::vec(op(), 1..40)) {
        run_model(ops);
    }
}

/// A log of `keys` keys written `rounds` times (a tombstone for key 0 in the last round),
/// rolled: every segment sealed.
fn overwritten_log(dir: &std::path::Path, config: &LogConfig, keys: usize, rounds: usize) -> Log {
    let log = open_with(dir, config);
    for round in 0..rounds {
        for k in 0..keys {
            let value = (round + 1 < rounds || k != 0).then(|| format!("r{round}"));
            let r = rec(&format!("key-{k}"), value.as_deref());
            append(&log, keyed(&[r], T0 + round as i64, Compression::None));
        }
    }
    block_on(log.roll()).unwrap();
    log
}

/// The latest record of each key, in offset order.
fn latest(records: &[Read]) -> Vec<Read> {
    let mut last: HashMap<Vec<u8>, i64> = HashMap::new();
    for (o, k, _) in records {
        last.insert(k.clone().unwrap(), *o);
    }
    records
        .iter()
        .filter(|(o, k, _)| last[k.as_ref().unwrap()] == *o)
        .cloned()
        .collect()
}

/// With an offset map of 3 keys a pass maps only part of the dirty log; passes repeat until
/// nothing is dirty and the log is then the latest record per key; each step stays within its
/// budget (plus one batch); segments merge so the count falls.
#[test]
fn small_maps_take_several_passes_and_steps_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 512,
        ..compacted_config()
    };
    let log = overwritten_log(dir.path(), &config, 10, 8);
    let (_, before) = read_log(&log);
    let segments_before = log.segment_count();
    assert!(segments_before > 5, "{segments_before}");
    assert!(log.compaction_due(T0));
    assert!(log.cleanable_ratio(T0) > 0.99);
    let (mut passes, mut steps, mut work) = (0, 0, 0);
    loop {
        let mut budget = CompactBudget {
            bytes: 1024,
            map_keys_max: 3,
        };
        let progress = block_on(log.compact_step(T0, &mut budget)).expect("step");
        steps += 1;
        assert!(steps < 10_000, "compaction does not end");
        match progress {
            CompactProgress::Idle => break,
            CompactProgress::InProgress => {}
            CompactProgress::Finished(stats) => {
                passes += 1;
                work += stats.bytes_read + stats.bytes_written;
                assert!(stats.bytes_read > 0 && stats.clean_end > 0, "{stats:?}");
            }
        }
        // Appends and reads go on between steps (to the active segment).
        if steps % 7 == 0 {
            read_log(&log);
        }
    }
    assert!(passes >= 3, "{passes} passes with a 3-key map");
    // A step does its budget's bytes and at most one batch (of a few dozen bytes) more.
    assert!(
        steps * (1024 + 128) >= work,
        "{steps} steps for {work} bytes"
    );
    let (_, after) = read_log(&log);
    assert_eq!(after, latest(&before));
    assert!(log.segment_count() < segments_before);
    assert_eq!(log.cleanable_ratio(T0), 0.0);
    assert!(!log.compaction_due(T0));
    // The tombstone of key 0 goes once it is older than the retention.
    let stats = compact(&log, T0 + 10 + RETENTION_MS as i64, MAP_LARGE).expect("a pass");
    assert_eq!(stats.tombstones_removed, 1);
    let (_, after) = read_log(&log);
    assert!(after
        .iter()
        .all(|(_, k, _)| k.as_deref() != Some(&b"key-0"[..])));
    assert_eq!(after.len(), 9);
}

/// `cleanup.policy=compact` alone: retention deletes nothing; with delete too it does. A
/// compacted log refuses a record without a key (INVALID_RECORD's error), a delete-only one
/// takes it; the config changes at runtime.
#[test]
fn policy_changes_apply_at_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: Some(1),
        ..compacted_config()
    };
    let log = overwritten_log(dir.path(), &config, 4, 4);
    let segments = log.segment_count();
    assert_eq!(block_on(log.apply_retention(T0)).unwrap(), 0);
    assert_eq!(log.segment_count(), segments);
    let keyless = keyed(&[(None, Some(b"v".to_vec()), 0)], T0, Compression::None);
    match block_on(log.append(keyless.clone())) {
        Err(Error::InvalidBatch { source, .. }) => {
            assert!(source.to_string().contains("without a key"), "{source}")
        }
        other => panic!("a keyless record on a compacted log: {other:?}"),
    }
    let bad = LogConfig {
        min_cleanable_dirty_ratio: 1.5,
        ..config.clone()
    };
    assert!(log.set_config(bad).is_err());
    log.set_config(LogConfig {
        cleanup_compact: false,
        cleanup_delete: true,
        ..config.clone()
    })
    .unwrap();
    append(&log, keyless);
    assert!(block_on(log.apply_retention(T0)).unwrap() > 0);
    assert_eq!(compact(&log, T0, MAP_LARGE), None, "not compacted any more");
}

/// A crash at every point of a swap: reopening gives either the log as it was (before the
/// commit point) or the cleaned log (after it), readable, with no temporary left; a pass
/// afterwards finishes the job.
#[test]
fn a_crash_anywhere_in_a_swap_leaves_a_whole_log() {
    for point in CRASH_POINTS {
        let dir = tempfile::tempdir().unwrap();
        let config = compacted_config();
        let log = overwritten_log(dir.path(), &config, 6, 6);
        let (_, before) = read_log(&log);
        testing::stop_at(Some(point));
        let r = block_on(log.compact(T0, MAP_LARGE));
        testing::stop_at(None);
        assert!(r.is_err(), "{point}: the pass stopped");
        drop(log);
        let log = open_with(dir.path(), &config);
        assert!(
            leftovers(dir.path()).is_empty(),
            "{point}: {:?}",
            leftovers(dir.path())
        );
        let (_, records) = read_log(&log);
        if point == "compact-cleaned" {
            assert_eq!(records, before, "{point}: not committed, the log as it was");
        } else {
            // The first group committed: it is cleaned; later sources may be uncleaned still.
            let want = latest(&before);
            assert!(records.len() < before.len(), "{point}");
            assert!(
                want.iter().all(|r| records.contains(r)),
                "{point}: latest kept"
            );
        }
        compact(&log, T0, MAP_LARGE);
        let (_, records) = read_log(&log);
        assert_eq!(records, latest(&before), "{point}: after a full pass");
        // Appends continue after the cleaned segments.
        let end = log.log_end_offset();
        assert_eq!(
            append(&log, keyed(&[rec("k", Some("v"))], T0, Compression::None)),
            end
        );
    }
}

/// A read that got its file slices before a swap still reads the old bytes after it (the old
/// file stays open), and a read after it sees the cleaned log.
#[test]
fn a_read_in_flight_keeps_the_replaced_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = overwritten_log(dir.path(), &compacted_config(), 5, 5);
    let (slices, old) = block_on(async {
        let r = log.read(0, u64::MAX).await.unwrap();
        let bytes = r.read_to_vec().await.unwrap();
        (r, bytes)
    });
    compact(&log, T0, MAP_LARGE).expect("a pass");
    let again = block_on(slices.read_to_vec()).unwrap();
    assert_eq!(again, old, "the slices read the replaced files");
    let (_, records) = read_log(&log);
    assert_eq!(records.len(), 5);
}

/// An idempotent producer whose every record was superseded keeps its last batch, empty: after
/// cleaning and a reopen that rebuilds the producer state from the log alone (snapshots
/// removed), its retried last batch is still a duplicate and its next batch follows.
#[test]
fn idempotent_producer_state_survives_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let config = compacted_config();
    let log = open_with(dir.path(), &config);
    let producer = |seq: i32, key: &str| {
        batch_with(
            &[rec(key, Some("p"))],
            T0,
            Compression::Lz4,
            BatchMeta {
                producer_id: 7,
                producer_epoch: 0,
                base_sequence: seq,
                ..BatchMeta::default()
            },
        )
    };
    append(&log, producer(0, "a"));
    let last_base = append(&log, producer(1, "b"));
    // Both keys overwritten by a plain producer.
    append(
        &log,
        keyed(
            &[rec("a", Some("x")), rec("b", Some("y"))],
            T0,
            Compression::None,
        ),
    );
    block_on(log.roll()).unwrap();
    let stats = compact(&log, T0, MAP_LARGE).expect("a pass");
    assert_eq!(stats.batches_emptied, 1, "{stats:?}");
    let (batches, records) = read_log(&log);
    assert_eq!(
        batches[0],
        (last_base, last_base, 0),
        "the empty batch: {batches:?}"
    );
    assert_eq!(records.len(), 2);
    drop(log);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "snapshot") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let log = open_with(dir.path(), &config);
    let end = log.log_end_offset();
    assert_eq!(
        append(&log, producer(1, "b")),
        last_base,
        "a retry is a duplicate"
    );
    assert_eq!(log.log_end_offset(), end, "nothing appended for the retry");
    assert_eq!(
        append(&log, producer(2, "c")),
        end,
        "the next sequence follows"
    );
}

/// Aborted transactions' records go, committed ones stay (latest per key); the aborted
/// transaction's index entry goes with its records, and markers stay while needed.
#[test]
fn aborted_records_are_removed_and_committed_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = compacted_config();
    let log = open_with(dir.path(), &config);
    let txn = |pid: i64, seq: i32, key: &str, value: &str| {
        batch_with(
            &[rec(key, Some(value))],
            T0,
            Compression::None,
            BatchMeta {
                attributes: ATTR_TRANSACTIONAL,
                producer_id: pid,
                producer_epoch: 0,
                base_sequence: seq,
                ..BatchMeta::default()
            },
        )
    };
    append(
        &log,
        keyed(&[rec("plain", Some("p"))], T0, Compression::None),
    );
    append(&log, txn(8, 0, "aborted-1", "x"));
    append(&log, txn(9, 0, "committed", "c"));
    append(&log, txn(8, 1, "aborted-2", "x"));
    block_on(log.append_marker(8, 0, false, 0)).unwrap();
    block_on(log.append_marker(9, 0, true, 0)).unwrap();
    // Producer 8 writes again, so its aborted batches are not its last.
    append(
        &log,
        keyed(&[rec("after", Some("a"))], T0, Compression::None),
    );
    let p8 = batch_with(
        &[rec("p8-later", Some("l"))],
        T0,
        Compression::None,
        BatchMeta {
            producer_id: 8,
            producer_epoch: 0,
            base_sequence: 2,
            ..BatchMeta::default()
        },
    );
    append(&log, p8);
    block_on(log.roll()).unwrap();
    assert_eq!(log.aborted_count(), 1);
    compact(&log, T0, MAP_LARGE).expect("a pass");
    let (_, records) = read_log(&log);
    let keys: Vec<&[u8]> = records.iter().filter_map(|r| r.1.as_deref()).collect();
    assert!(!keys.iter().any(|k| k.starts_with(b"aborted")), "{keys:?}");
    for want in [&b"plain"[..], b"committed", b"after", b"p8-later"] {
        assert!(keys.contains(&want), "{keys:?}");
    }
    assert_eq!(log.aborted_count(), 0, "the entry went with its records");
    assert!(log.aborted_between(0, i64::MAX).is_empty());
    drop(log);
    let log = open_with(dir.path(), &config);
    assert_eq!(read_log(&log).1, records, "reopened");
    assert!(log.aborted_between(0, i64::MAX).is_empty());
}
