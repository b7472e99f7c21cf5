//! Property test against a plain in-memory model (`Vec<Batch>`): random sequences of append,
//! read, roll, retention, truncate, timestamp lookup and reopen.

use crate::common::block_on;
use crate::common::*;
use proptest::prelude::*;
use ringlog::storage::batch::BatchHeader;
use ringlog::storage::{FlushPolicy, Log, LogConfig};

#[derive(Debug, Clone)]
enum Op {
    /// Batches (records, timestamp) appended in one buffer.
    Append(Vec<(usize, i64)>),
    Read {
        at: u16,
        max_bytes: u16,
    },
    Roll,
    Retention,
    Truncate {
        at: u16,
    },
    Timestamp(i64),
    Reopen,
    /// Crash with the active segment's tail torn at a random byte, then reopen.
    Tear {
        at: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((1usize..4, 0i64..1000), 1..4).prop_map(Op::Append),
        4 => (any::<u16>(), any::<u16>()).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => Just(Op::Roll),
        1 => Just(Op::Retention),
        1 => any::<u16>().prop_map(|at| Op::Truncate { at }),
        2 => (-10i64..1100).prop_map(Op::Timestamp),
        1 => Just(Op::Reopen),
        1 => any::<u16>().prop_map(|at| Op::Tear { at }),
    ]
}

#[derive(Debug, Clone)]
struct Batch {
    base: i64,
    count: i64,
    bytes: Vec<u8>, // unstamped
    max_ts: i64,
}

#[derive(Default)]
struct Model {
    batches: Vec<Batch>,
    next: i64,
}

impl Model {
    fn start(&self) -> i64 {
        self.batches.first().map_or(self.next, |b| b.base)
    }
    /// Index of the batch holding `offset`.
    fn find(&self, offset: i64) -> Option<usize> {
        self.batches.iter().position(|b| b.base + b.count > offset)
    }
}

fn pick(at: u16, lo: i64, hi: i64) -> i64 {
    // map into [lo - 1, hi + 1] to also probe just outside the range
    let span = (hi - lo + 3).max(1);
    lo - 1 + i64::from(at) % span
}

fn run(ops: Vec<Op>, cfg: LogConfig) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), &cfg);
    let mut model = Model::default();
    let mut seed = 0u64;
    for op in ops {
        match op {
            Op::Append(specs) => {
                let mut buf = Vec::new();
                let mut new = Vec::new();
                let mut next = model.next;
                for (records, ts) in specs {
                    seed += 1;
                    let b = test_batch(seed, records, ts);
                    let h = BatchHeader::parse(&b).expect("header");
                    new.push(Batch {
                        base: next,
                        count: h.offset_count(),
                        bytes: b.clone(),
                        max_ts: h.max_timestamp,
                    });
                    next += h.offset_count();
                    buf.extend(b);
                }
                let base = block_on(log.append(buf)).expect("append");
                prop_assert_eq!(base, model.next);
                model.batches.extend(new);
                model.next = next;
            }
            Op::Read { at, max_bytes } => {
                let offset = pick(at, model.start(), model.next);
                let max = u64::from(max_bytes % 2000);
                let r = block_on(log.read(offset, max));
                if offset < model.start() || offset > model.next {
                    prop_assert!(
                        r.is_err(),
                        "read {} outside [{}, {}]",
                        offset,
                        model.start(),
                        model.next
                    );
                    continue;
                }
                let r = r.expect("read");
                prop_assert_eq!(r.high_watermark, model.next);
                prop_assert_eq!(r.log_start_offset, model.start());
                let mut expected = Vec::new();
                if let Some(i) = model.find(offset) {
                    for b in &model.batches[i..] {
                        if !expected.is_empty() && (expected.len() + b.bytes.len()) as u64 > max {
                            break;
                        }
                        expected.extend(stamped(&b.bytes, b.base));
                        if expected.len() as u64 >= max {
                            break;
                        }
                    }
                }
                let got = block_on(r.read_to_vec()).expect("bytes");
                prop_assert_eq!(got, expected);
            }
            Op::Roll => block_on(log.roll()).expect("roll"),
            Op::Retention => {
                // Simulate Kafka's rule on the model's view of the segments: delete the oldest
                // sealed segment while the rest is >= retention_bytes or its newest batch is
                // older than now - retention_ms.
                let bases = log.segment_base_offsets();
                let seg_of = |b: &Batch| bases.partition_point(|s| *s <= b.base) - 1;
                let mut sizes = vec![0u64; bases.len()];
                let mut max_ts = vec![i64::MIN; bases.len()];
                for b in &model.batches {
                    sizes[seg_of(b)] += b.bytes.len() as u64;
                    max_ts[seg_of(b)] = max_ts[seg_of(b)].max(b.max_ts);
                }
                let mut total: u64 = sizes.iter().sum();
                let mut first = 0;
                let cutoff = RETENTION_NOW_MS - RETENTION_MS as i64;
                while first + 1 < bases.len() {
                    let by_size = cfg
                        .retention_bytes
                        .is_some_and(|r| total - sizes[first] >= r);
                    let by_age = max_ts[first] < cutoff;
                    if !(by_size || by_age) {
                        break;
                    }
                    total -= sizes[first];
                    first += 1;
                }
                let deleted = block_on(log.apply_retention(RETENTION_NOW_MS)).expect("retention");
                prop_assert_eq!(deleted, first);
                prop_assert_eq!(log.log_start_offset(), bases[first]);
                model.batches.retain(|b| b.base >= bases[first]);
                prop_assert_eq!(log.size_bytes(), total);
            }
            Op::Truncate { at } => {
                let offset = pick(at, model.start(), model.next);
                let r = block_on(log.truncate_to(offset));
                if offset < model.start() {
                    prop_assert!(r.is_err());
                    continue;
                }
                let new_end = r.expect("truncate");
                if let Some(i) = model.find(offset) {
                    model.next = model.batches[i].base;
                    model.batches.truncate(i);
                }
                prop_assert_eq!(new_end, model.next);
            }
            Op::Timestamp(ts) => {
                let got = block_on(log.offset_for_timestamp(ts)).expect("lookup");
                let expected = model
                    .batches
                    .iter()
                    .find(|b| b.max_ts >= ts)
                    .map(|b| b.base);
                prop_assert_eq!(got, expected, "timestamp {}", ts);
            }
            Op::Tear { at } => {
                let active = *log.segment_base_offsets().last().expect("active segment");
                drop(log);
                let path = dir.path().join(format!("{active:020}.log"));
                let len = std::fs::metadata(&path).expect("stat").len();
                let cut = u64::from(at) % (len + 1);
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .expect("open")
                    .set_len(cut)
                    .expect("tear");
                // model: batches of the active segment that end within `cut` survive
                let mut pos = 0u64;
                let mut keep = model.batches.len();
                for (i, b) in model
                    .batches
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.base >= active)
                {
                    pos += b.bytes.len() as u64;
                    if pos > cut {
                        keep = i;
                        break;
                    }
                }
                if keep < model.batches.len() {
                    model.next = model.batches[keep].base;
                    model.batches.truncate(keep);
                }
                log = open(dir.path(), &cfg);
                let cut_expected: u64 = cut
                    - model
                        .batches
                        .iter()
                        .filter(|b| b.base >= active)
                        .map(|b| b.bytes.len() as u64)
                        .sum::<u64>();
                prop_assert_eq!(log.recovery_report().truncated_bytes, cut_expected);
            }
            Op::Reopen => {
                drop(log);
                log = open(dir.path(), &cfg);
                prop_assert_eq!(log.recovery_report().truncated_bytes, 0);
            }
        }
        prop_assert_eq!(log.high_watermark(), model.next);
        prop_assert_eq!(log.log_start_offset(), model.start());
    }
    // Finally everything readable matches the model.
    let all: Vec<u8> = model
        .batches
        .iter()
        .flat_map(|b| stamped(&b.bytes, b.base))
        .collect();
    prop_assert_eq!(read_all(&log, model.start()), all);
    Ok(())
}

/// Retention runs "now" at this wall-clock time; batch timestamps are 0..1000.
const RETENTION_NOW_MS: i64 = 1400;
const RETENTION_MS: u64 = 500;

fn model_config(retention_bytes: Option<u64>, flush: FlushPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 100,
        retention_bytes,
        retention_ms: Some(RETENTION_MS),
        flush,
        ..small_config()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..60), retention in prop::option::of(200u64..3000)) {
        run(ops, model_config(retention, FlushPolicy::Never))?;
    }

    #[test]
    fn log_matches_model_group_commit(ops in prop::collection::vec(op(), 1..25)) {
        run(ops, model_config(Some(1500), FlushPolicy::Always))?;
    }
}

#[test]
fn reopen_with_different_index_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = model_config(None, FlushPolicy::Never);
    let log = open(dir.path(), &cfg);
    for i in 0..50 {
        block_on(log.append(test_batch(i, 1, i as i64))).expect("append");
    }
    drop(log);
    cfg.index_interval_bytes = 10;
    let log: Log = open(dir.path(), &cfg);
    assert_eq!(log.high_watermark(), 50);
    // an index built with another interval is still a valid (coarser or finer) sparse index
    for o in 0..50 {
        assert_eq!(block_on(log.offset_for_timestamp(o)).expect("ts"), Some(o));
        let r = block_on(log.read(o, 1)).expect("read");
        assert_eq!(r.slices[0].first_offset, o);
    }
}
