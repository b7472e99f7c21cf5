//! State log tests: replay against a plain `HashMap` model through random appends, tombstones,
//! compactions and reopens; torn tails at every byte; a crash at every step of compaction and
//! re-sharding; group commit; failed syncs; limits.

use std::collections::HashMap;
use std::future::Future;

use super::disk::{Step, CRASH_AT};
use super::*;
use crate::runtime::fs::fault;
use crate::runtime::future::join_all;
use crate::runtime::rng::Rng;
use crate::runtime::RuntimeConfig;

fn run<F: Future>(f: F) -> F::Output {
    let config = RuntimeConfig {
        cores: 1,
        pin: false,
        ..RuntimeConfig::default()
    };
    crate::runtime::block_on(&config, f).expect("runtime")
}

/// Small segments and an early compaction threshold, so a few hundred updates exercise both.
fn small() -> StateLogConfig {
    StateLogConfig {
        segment_bytes: 16 << 10,
        compact_bytes_min: 8 << 10,
        compact_ratio: 2,
        live_bytes_max: 1 << 20,
        ..StateLogConfig::default()
    }
}

/// Never compacts on its own (the test compacts explicitly).
fn manual() -> StateLogConfig {
    StateLogConfig {
        compact_bytes_min: u64::MAX,
        ..small()
    }
}

const FAMILY: &str = "test";

/// Opens shard 0 of the test family; returns the live records in replay order.
async fn open(root: &Path, config: StateLogConfig) -> (StateLog, Vec<(Vec<u8>, Vec<u8>)>) {
    open_shard(root, FAMILY, 0, config).await
}

async fn open_shard(
    root: &Path,
    family: &str,
    shard: usize,
    config: StateLogConfig,
) -> (StateLog, Vec<(Vec<u8>, Vec<u8>)>) {
    let mut seen = Vec::new();
    let log = StateLog::open(root, family, shard, config, |k, v| {
        seen.push((k.to_vec(), v.to_vec()));
        Ok(())
    })
    .await
    .expect("open");
    assert_eq!(log.live_keys(), seen.len());
    (log, seen)
}

fn as_map(records: &[(Vec<u8>, Vec<u8>)]) -> HashMap<Vec<u8>, Vec<u8>> {
    let map: HashMap<_, _> = records.iter().cloned().collect();
    assert_eq!(map.len(), records.len(), "replay gave a key twice");
    map
}

fn put(k: &str, v: &str) -> Update {
    Update::put(k.as_bytes().to_vec(), v.as_bytes().to_vec())
}

fn del(k: &str) -> Update {
    Update::delete(k.as_bytes().to_vec())
}

/// What the log should replay: values, and the order of each key's last write.
#[derive(Default)]
struct Model {
    values: HashMap<Vec<u8>, (Vec<u8>, u64)>,
    seq: u64,
}

impl Model {
    fn apply(&mut self, updates: &[Update]) {
        for u in updates {
            self.seq += 1;
            match &u.value {
                Some(v) => {
                    self.values.insert(u.key.to_vec(), (v.to_vec(), self.seq));
                }
                None => {
                    self.values.remove(&u.key[..]);
                }
            }
        }
    }

    /// Replay must give exactly the live keys, with their values, in the order of their last
    /// write.
    fn check_replay(&self, replayed: &[(Vec<u8>, Vec<u8>)]) {
        assert_eq!(replayed.len(), self.values.len());
        let mut last = 0;
        for (k, v) in replayed {
            let (want, seq) = self.values.get(k).expect("replayed a dead key");
            assert_eq!(v, want);
            assert!(*seq > last, "replay out of log order");
            last = *seq;
        }
    }

    fn plain(&self) -> HashMap<Vec<u8>, Vec<u8>> {
        self.values
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

fn random_updates(rng: &mut Rng, keys: usize) -> Vec<Update> {
    (0..1 + rng.below(4))
        .map(|_| {
            let key = format!("key-{}", rng.below(keys)).into_bytes();
            if rng.chance(3) {
                Update::delete(key)
            } else {
                let len = rng.below(300);
                Update::put(key, rng.bytes(len))
            }
        })
        .collect()
}

/// An `apply` callback that replays `updates` into `memory`, as a caller's in-memory view.
fn apply_to(
    memory: &Rc<RefCell<HashMap<Vec<u8>, Vec<u8>>>>,
    updates: &[Update],
) -> impl FnOnce() + 'static {
    let memory = memory.clone();
    let updates = updates.to_vec();
    move || {
        let mut m = memory.borrow_mut();
        for u in updates {
            match u.value {
                Some(v) => m.insert(u.key.to_vec(), v.to_vec()),
                None => m.remove(&u.key[..]),
            };
        }
    }
}

#[test]
fn replay_matches_a_hashmap_model_through_appends_compactions_and_reopens() {
    for seed in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let auto_compactions = run(async {
            let mut rng = Rng::new(seed);
            let mut model = Model::default();
            let memory = Rc::new(RefCell::new(HashMap::new()));
            let (mut log, replayed) = open(root, small()).await;
            assert!(replayed.is_empty());
            let (mut auto, mut manual_since_open) = (0, 0);
            for step in 0..600 {
                match rng.below(20) {
                    0 => {
                        log.compact().await.unwrap();
                        manual_since_open += 1;
                        assert!(log.size_bytes() <= log.live_bytes() + 4096, "step {step}");
                    }
                    1 => {
                        auto += log.compactions() - manual_since_open;
                        manual_since_open = 0;
                        log.close().await;
                        let (reopened, replayed) = open(root, small()).await;
                        model.check_replay(&replayed);
                        *memory.borrow_mut() = as_map(&replayed);
                        log = reopened;
                    }
                    2..=4 => {
                        // Concurrent appends: applied in the order they were queued.
                        let batches: Vec<Vec<Update>> = (0..1 + rng.below(8))
                            .map(|_| random_updates(&mut rng, 40))
                            .collect();
                        for b in &batches {
                            model.apply(b);
                        }
                        let appends = batches
                            .iter()
                            .map(|b| log.append(b.clone(), apply_to(&memory, b)))
                            .collect();
                        for r in join_all(appends).await {
                            r.unwrap();
                        }
                    }
                    _ => {
                        let b = random_updates(&mut rng, 40);
                        model.apply(&b);
                        log.append(b.clone(), apply_to(&memory, &b)).await.unwrap();
                    }
                }
                assert_eq!(*memory.borrow(), model.plain(), "seed {seed} step {step}");
                assert_eq!(log.live_keys(), model.values.len());
            }
            auto += log.compactions() - manual_since_open;
            log.close().await;
            let (_log, replayed) = open(root, small()).await;
            model.check_replay(&replayed);
            auto
        });
        assert!(
            auto_compactions > 0,
            "seed {seed}: the log never compacted itself"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_torn_tail_at_every_byte_loses_only_the_last_unacknowledged_append() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let (before, after, size_before, size_after) = run(async {
        let (log, _) = open(&root, manual()).await;
        let mut model = Model::default();
        for i in 0..5 {
            let b = vec![
                put(&format!("k{i}"), &"v".repeat(i * 10)),
                put(&format!("k{}", i + 10), "x"),
            ];
            model.apply(&b);
            log.append(b, || {}).await.unwrap();
        }
        let before = model.plain();
        let size_before = log.size_bytes();
        let last = vec![put("k1", "changed"), del("k2"), put("new", "value")];
        model.apply(&last);
        log.append(last, || {}).await.unwrap();
        (before, model.plain(), size_before, log.size_bytes())
    });
    let shard = shard_dir(&root, FAMILY, 0);
    let segment = crate::names::segment_file(&shard, 0, crate::names::LOG_EXT);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), size_after);
    run(async {
        for cut in size_before..=size_after {
            let trial = tempfile::tempdir().unwrap();
            let trial_root = trial.path().join("state");
            copy_dir(&shard, &shard_dir(&trial_root, FAMILY, 0));
            let torn = crate::names::segment_file(&shard_dir(&trial_root, FAMILY, 0), 0, "log");
            let f = std::fs::OpenOptions::new().write(true).open(&torn).unwrap();
            f.set_len(cut).unwrap();
            let (log, replayed) = open(&trial_root, manual()).await;
            let want = if cut == size_after { &after } else { &before };
            assert_eq!(&as_map(&replayed), want, "cut at byte {cut}");
            // The torn bytes are gone and the log takes appends again.
            assert_eq!(
                log.size_bytes(),
                if cut == size_after { cut } else { size_before }
            );
            log.append(vec![put("again", "1")], || {}).await.unwrap();
        }
    });
}

fn siblings_left(live: &Path) -> Vec<PathBuf> {
    [STAGED_SUFFIX, RETIRED_SUFFIX]
        .iter()
        .map(|s| sibling(live, s))
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn a_crash_at_any_compaction_step_leaves_the_old_or_the_new_log() {
    for step in [
        Step::BuildStaged,
        Step::RetireLive,
        Step::InstallStaged,
        Step::RemoveRetired,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        run(async {
            let (log, _) = open(root, manual()).await;
            let mut model = Model::default();
            for round in 0..30 {
                let b: Vec<Update> = (0..10)
                    .map(|k| put(&format!("k{k}"), &format!("round {round}")))
                    .chain([del(&format!("k{}", round % 10))])
                    .collect();
                model.apply(&b);
                log.append(b, || {}).await.unwrap();
            }
            let old_size = log.size_bytes();
            CRASH_AT.with(|c| c.set(Some(step)));
            let err = log.compact().await.unwrap_err();
            assert!(err.to_string().contains("injected crash"), "{err}");
            let live = shard_dir(root, FAMILY, 0);
            // What the crash left on disk.
            let left: Vec<bool> = [
                live.exists(),
                sibling(&live, STAGED_SUFFIX).exists(),
                sibling(&live, RETIRED_SUFFIX).exists(),
            ]
            .to_vec();
            let expected = match step {
                Step::BuildStaged | Step::RetireLive => [true, true, false],
                Step::InstallStaged => [false, true, true],
                Step::RemoveRetired => [true, false, true],
            };
            assert_eq!(left, expected, "{step:?}");
            // A crash after the live log moved away leaves the handle refusing appends.
            let refused = log.append(vec![put("late", "1")], || {}).await;
            assert_eq!(refused.is_err(), step != Step::BuildStaged, "{step:?}");
            if refused.is_ok() {
                model.apply(&[put("late", "1")]);
            }
            log.close().await;
            let (log, replayed) = open(root, manual()).await;
            model.check_replay(&replayed);
            assert!(siblings_left(&live).is_empty(), "{step:?}");
            let compacted = matches!(step, Step::InstallStaged | Step::RemoveRetired);
            assert_eq!(log.size_bytes() < old_size, compacted, "{step:?}");
            log.append(vec![put("after", "crash")], || {})
                .await
                .unwrap();
            log.compact().await.unwrap();
            model.apply(&[put("after", "crash")]);
            log.close().await;
            let (_log, replayed) = open(root, manual()).await;
            model.check_replay(&replayed);
        });
    }
}

#[test]
fn concurrent_appends_share_one_fdatasync() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let (log, _) = open(dir.path(), manual()).await;
        let before = fault::sync_calls();
        let appends: Vec<_> = (0..64)
            .map(|i| log.append(vec![put(&format!("k{i}"), "v")], || {}))
            .collect();
        for r in join_all(appends).await {
            r.unwrap();
        }
        let syncs = fault::sync_calls() - before;
        assert!(syncs <= 2, "64 concurrent appends took {syncs} fdatasyncs");
        assert_eq!(log.live_keys(), 64);
    });
}

#[test]
fn an_interval_log_syncs_its_last_writes_when_no_more_come() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let interval = |ms| StateLogConfig {
            flush: FlushPolicy::Interval(std::time::Duration::from_millis(ms)),
            ..manual()
        };
        // An hour's interval: the write is answered unsynced and stays so.
        let (log, _) = open_shard(dir.path(), "hour", 0, interval(3_600_000)).await;
        log.append(vec![put("k", "v")], || {}).await.unwrap();
        assert!(log.has_unsynced());
        crate::runtime::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(log.has_unsynced(), "synced before its interval");
        // 20 ms: synced about then although nothing else is written.
        let (log, _) = open_shard(dir.path(), "short", 0, interval(20)).await;
        log.append(vec![put("k", "v")], || {}).await.unwrap();
        let start = std::time::Instant::now();
        while log.has_unsynced() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "the last write of an interval log was never synced"
            );
            crate::runtime::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
}

#[test]
fn a_failed_write_or_fdatasync_refuses_every_later_append_until_reopened() {
    for fail_sync in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        run(async {
            let (log, _) = open(dir.path(), manual()).await;
            log.append(vec![put("a", "1")], || {}).await.unwrap();
            if fail_sync {
                fault::fail_next_syncs(1);
            } else {
                fault::fail_next_writes(1);
            }
            let applied = Rc::new(Cell::new(false));
            let flag = applied.clone();
            let r = log
                .append(vec![put("b", "2")], move || flag.set(true))
                .await;
            assert!(matches!(r, Err(Error::Poisoned { .. })), "{r:?}");
            assert!(!applied.get(), "apply ran for a failed append");
            assert!(log.failed().is_some());
            // Never retried: later appends and compactions are refused without touching the disk.
            let syncs = fault::sync_calls();
            let r = log.append(vec![put("c", "3")], || {}).await;
            assert!(matches!(r, Err(Error::Poisoned { .. })), "{r:?}");
            assert!(log.compact().await.is_err());
            assert_eq!(fault::sync_calls(), syncs);
            log.close().await;
            let (log, replayed) = open(dir.path(), manual()).await;
            let replayed = as_map(&replayed);
            assert_eq!(replayed.get(&b"a"[..]), Some(&b"1".to_vec()));
            assert!(!replayed.contains_key(&b"c"[..]));
            log.append(vec![put("c", "3")], || {}).await.unwrap();
        });
    }
}

#[test]
fn oversized_records_and_a_full_state_are_refused_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let config = StateLogConfig {
            live_bytes_max: 10_000,
            ..manual()
        };
        let (log, _) = open(dir.path(), config).await;
        let big_key = Update::put(vec![0u8; KEY_BYTES_MAX + 1], Bytes::new());
        let r = log.append(vec![big_key], || {}).await;
        assert!(matches!(r, Err(Error::RecordListTooLarge { .. })), "{r:?}");
        let big_value = Update::put(&b"k"[..], vec![0u8; VALUE_BYTES_MAX + 1]);
        let r = log.append(vec![big_value], || {}).await;
        assert!(matches!(r, Err(Error::RecordListTooLarge { .. })), "{r:?}");
        let r = log.append(Vec::new(), || {}).await;
        assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{r:?}");
        let v9000 = "x".repeat(9_000);
        log.append(vec![put("k", &v9000)], || {}).await.unwrap();
        let r = log
            .append(vec![put("other", &"y".repeat(2_000))], || {})
            .await;
        assert!(matches!(r, Err(Error::StateFull { .. })), "{r:?}");
        // Replacing a value with one no larger grows nothing; deleting frees.
        log.append(vec![put("k", &v9000[..8_000])], || {})
            .await
            .unwrap();
        log.append(vec![del("k")], || {}).await.unwrap();
        assert_eq!(log.live_bytes(), 0);
        log.append(vec![put("other", &"y".repeat(2_000))], || {})
            .await
            .unwrap();
        assert!(log.failed().is_none());
    });
}

/// Shard of a test key: its first byte.
fn route(shards: usize) -> impl Fn(&[u8]) -> Option<usize> {
    move |k: &[u8]| k.first().map(|b| *b as usize % shards)
}

#[test]
fn prepare_family_reroutes_every_live_key_and_survives_a_crash_at_every_step() {
    let steps = [
        None,
        Some(Step::BuildStaged),
        Some(Step::RetireLive),
        Some(Step::InstallStaged),
        Some(Step::RemoveRetired),
    ];
    for crash in steps {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        run(async {
            let family = "fam";
            assert!(
                !prepare_family(root, family, 3, &manual(), &route(3), Vec::new())
                    .await
                    .unwrap()
            );
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for n in 0..3 {
                let (log, _) = open_shard(root, family, n, manual()).await;
                let mine: Vec<u8> = (0u8..60).filter(|b| *b as usize % 3 == n).collect();
                for &b in &mine {
                    log.append(vec![Update::put(vec![b, 1], vec![b; 3])], || {})
                        .await
                        .unwrap();
                    model.insert(vec![b, 1], vec![b; 3]);
                }
                // Overwrite and delete some, so tombstones and old values are on disk.
                for &b in mine.iter().filter(|b| *b % 4 == 0) {
                    log.append(vec![Update::delete(vec![b, 1])], || {})
                        .await
                        .unwrap();
                    model.remove(&vec![b, 1]);
                }
            }
            // A migration's seed: a new key, an overwrite, a deletion.
            let seed = vec![
                Update::put(vec![200, 1], vec![7]),
                Update::put(vec![1, 1], vec![8]),
                Update::delete(vec![2, 1]),
            ];
            model.insert(vec![200, 1], vec![7]);
            model.insert(vec![1, 1], vec![8]);
            model.remove(&vec![2, 1]);
            if let Some(step) = crash {
                CRASH_AT.with(|c| c.set(Some(step)));
                let err = prepare_family(root, family, 2, &manual(), &route(2), seed.clone())
                    .await
                    .unwrap_err();
                assert!(err.to_string().contains("injected crash"), "{err}");
            }
            // The restart runs it again (with the same seed, as a migration would).
            assert!(prepare_family(root, family, 2, &manual(), &route(2), seed)
                .await
                .unwrap());
            let mut union = HashMap::new();
            for n in 0..2 {
                let (_log, replayed) = open_shard(root, family, n, manual()).await;
                for (k, v) in replayed {
                    assert_eq!(k[0] as usize % 2, n, "key {k:?} on the wrong shard");
                    assert!(union.insert(k, v).is_none());
                }
            }
            assert_eq!(union, model, "{crash:?}");
            let fam = root.join(family);
            assert!(!shard_dir(root, family, 2).exists());
            assert!(siblings_left(&fam).is_empty());
            // Nothing to do on the next start.
            assert!(
                !prepare_family(root, family, 2, &manual(), &route(2), Vec::new())
                    .await
                    .unwrap()
            );
        });
    }
}

#[test]
fn the_state_dir_is_never_taken_for_a_topic() {
    assert!(crate::names::parse_partition_dir(STATE_DIR).is_none());
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let root = state_root(dir.path());
        let (log, _) = open_shard(&root, "consumer_offsets", 0, manual()).await;
        log.append(vec![put("k", "v")], || {}).await.unwrap();
        log.close().await;
        let engine = crate::Engine::open(dir.path(), crate::EngineConfig::default())
            .await
            .unwrap();
        assert!(engine.topics().unwrap().is_empty());
        assert!(engine.partitions().is_empty());
    });
}

#[test]
fn family_names_and_shard_counts_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let long = "a".repeat(FAMILY_NAME_BYTES_MAX + 1);
        for bad in ["", "Upper", "a/b", "..", long.as_str()] {
            let r = StateLog::open(dir.path(), bad, 0, manual(), |_, _| Ok(())).await;
            assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{bad:?}");
        }
        for shards in [0, SHARDS_MAX + 1] {
            let r = prepare_family(dir.path(), "f", shards, &manual(), &route(1), Vec::new()).await;
            assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{shards}");
        }
        // A record the caller cannot decode fails the open (never silently dropped).
        let (log, _) = open(dir.path(), manual()).await;
        log.append(vec![put("k", "v")], || {}).await.unwrap();
        log.close().await;
        let r = StateLog::open(dir.path(), FAMILY, 0, manual(), |_, _| Err("bad".into())).await;
        assert!(matches!(r, Err(Error::CorruptSegment { .. })), "{r:?}");
    });
}
