//! Append, read, offsets, roll, retention, truncation, durability and poisoning of one log.

use std::rc::Rc;
use std::time::Duration;

use crate::common::*;
use crate::common::{block_on, spawn};
use ringlog::broker::error::kafka_code as error_code;
use ringlog::protocol::error as kafka_code;
use ringlog::runtime::fs::fault;
use ringlog::storage::batch::testing::{
    build_batch, build_batch_with, field, fix_crc, BatchSpec, TestRecord,
};
use ringlog::storage::{Error, FlushPolicy, Log, LogConfig};

fn append(log: &Log, b: Vec<u8>) -> i64 {
    block_on(log.append(b)).expect("append")
}

/// Appends a batch whose records are not what its header claims, as a replica would (no record
/// validation): for offset arithmetic no valid batch reaches cheaply.
fn append_unread(log: &Log, b: Vec<u8>) -> i64 {
    use ringlog::storage::validate::AppendOrigin;
    block_on(log.append_as(b, AppendOrigin::Replication)).expect("append")
}

#[test]
fn append_then_read_whole_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), &small_config());
    let b0 = test_batch(0, 3, 100);
    let b1 = test_batch(1, 1, 200);
    let b2 = test_batch(2, 5, 300);
    assert_eq!(append(&log, b0.clone()), 0);
    assert_eq!(append(&log, b1.clone()), 3);
    assert_eq!(append(&log, b2.clone()), 4);
    assert_eq!(log.high_watermark(), 9);
    assert_eq!(log.log_start_offset(), 0);
    let mut all = stamped(&b0, 0);
    all.extend(stamped(&b1, 3));
    all.extend(stamped(&b2, 4));
    assert_eq!(read_all(&log, 0), all);
    // an offset inside a batch starts with that whole batch
    assert_eq!(read_all(&log, 5), stamped(&b2, 4));
    assert_eq!(read_all(&log, 3)[..b1.len()], stamped(&b1, 3)[..]);
    block_on(async {
        // KIP-74: at least one batch even if larger than max_bytes
        let r = log.read(0, 1).await.expect("read");
        assert_eq!(r.size_bytes(), b0.len() as u64);
        assert_eq!((r.high_watermark, r.log_start_offset), (9, 0));
        // max_bytes bounds whole batches
        let r = log
            .read(0, (b0.len() + b1.len() + 1) as u64)
            .await
            .expect("read");
        assert_eq!(r.size_bytes(), (b0.len() + b1.len()) as u64);
        assert_eq!(
            r.slices.len(),
            1,
            "contiguous batches coalesce into one slice"
        );
        assert_eq!((r.slices[0].first_offset, r.slices[0].last_offset), (0, 3));
        // at the high watermark: nothing, outside: out of range
        assert!(log
            .read(9, 100)
            .await
            .expect("read at hw")
            .slices
            .is_empty());
        let e = log.read(10, 100).await.expect_err("past hw");
        assert_eq!(error_code(&e), kafka_code::OFFSET_OUT_OF_RANGE);
        assert!(log.read(-1, 100).await.is_err());
    });
}

#[test]
fn several_batches_in_one_append_and_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), &small_config());
    let mut buf = test_batch(0, 2, 0);
    buf.extend(test_batch(1, 3, 0));
    assert_eq!(append(&log, buf.clone()), 0);
    assert_eq!(log.high_watermark(), 5);
    // second batch corrupt: nothing of the buffer is appended
    let mut bad = test_batch(2, 1, 0);
    let good_len = bad.len();
    bad.extend(test_batch(3, 1, 0));
    let n = bad.len();
    bad[n - 1] ^= 0x55;
    let before = log.size_bytes();
    match block_on(log.append(bad)) {
        Err(Error::InvalidBatch {
            batch_index: 1,
            position,
            ..
        }) => assert_eq!(position, good_len as u64),
        other => panic!("expected InvalidBatch #1, got {other:?}"),
    }
    assert_eq!((log.high_watermark(), log.size_bytes()), (5, before));
    assert_eq!(append(&log, test_batch(4, 1, 0)), 5);
}

#[test]
fn bad_input_rejected_with_kafka_codes_and_nothing_appended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_config();
    cfg.batch_bytes_max = 400;
    let log = open(dir.path(), &cfg);
    append(&log, test_batch(0, 1, 0));
    let good = test_batch(1, 2, 0);
    let mut cases: Vec<(&str, Vec<u8>, i16)> = Vec::new();
    cases.push(("empty", Vec::new(), kafka_code::INVALID_RECORD));
    cases.push((
        "truncated",
        good[..good.len() - 1].to_vec(),
        kafka_code::CORRUPT_MESSAGE,
    ));
    cases.push((
        "short header",
        good[..20].to_vec(),
        kafka_code::CORRUPT_MESSAGE,
    ));
    let mut b = good.clone();
    b[good.len() - 3] ^= 1;
    cases.push(("wrong crc", b, kafka_code::CORRUPT_MESSAGE));
    let mut b = good.clone();
    b[field::MAGIC] = 1;
    cases.push(("magic 1", b, kafka_code::INVALID_RECORD));
    for (name, len) in [
        ("negative length", -1i32),
        ("tiny length", 3),
        ("overflowing length", i32::MAX),
    ] {
        let mut b = good.clone();
        b[field::BATCH_LENGTH..field::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
        let code = if len == i32::MAX {
            kafka_code::MESSAGE_TOO_LARGE
        } else {
            kafka_code::CORRUPT_MESSAGE
        };
        cases.push((name, b, code));
    }
    let big: Vec<u8> = vec![7u8; 500];
    cases.push((
        "oversize",
        build_batch(0, &[&big]),
        kafka_code::MESSAGE_TOO_LARGE,
    ));
    let mut b = good.clone();
    b[field::RECORDS_COUNT..field::RECORDS_COUNT + 4].copy_from_slice(&5i32.to_be_bytes());
    fix_crc(&mut b);
    cases.push(("count mismatch", b, kafka_code::INVALID_RECORD));
    let mut b = good.clone();
    b.extend_from_slice(&[0u8; 5]);
    cases.push(("trailing garbage", b, kafka_code::CORRUPT_MESSAGE));
    let mut b = good.clone();
    b[field::RECORDS_COUNT..field::RECORDS_COUNT + 4].copy_from_slice(&1_000_000i32.to_be_bytes());
    b[field::LAST_OFFSET_DELTA..field::LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&999_999i32.to_be_bytes());
    fix_crc(&mut b);
    cases.push((
        "uncompressed count larger than its bytes allow",
        b,
        kafka_code::INVALID_RECORD,
    ));
    // three "compressed" batches claiming 2^31 - 1 offsets each: more than a segment can address
    let mut huge = build_batch_with(&BatchSpec {
        attributes: 1,
        records: vec![TestRecord {
            value: Some(b"z".to_vec()),
            ..TestRecord::default()
        }],
        ..BatchSpec::default()
    });
    huge[field::RECORDS_COUNT..field::RECORDS_COUNT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    huge[field::LAST_OFFSET_DELTA..field::LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    fix_crc(&mut huge);
    let three: Vec<u8> = [&huge[..], &huge[..], &huge[..]].concat();
    cases.push(("offset range beyond u32", three, kafka_code::INVALID_RECORD));
    for (name, bytes, code) in cases {
        let e = block_on(log.append(bytes)).expect_err(name);
        assert_eq!(error_code(&e), code, "{name}: {e}");
        assert_eq!(log.high_watermark(), 1, "{name}");
    }
    assert_eq!(log.size_bytes(), test_batch(0, 1, 0).len() as u64);
    assert_eq!(append(&log, good), 1);
}

#[test]
fn rolls_by_size_and_reads_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), &small_config());
    let mut expected = Vec::new();
    let mut next = 0;
    for i in 0..40 {
        let b = test_batch(i, 1 + (i % 3) as usize, i as i64 * 10);
        let base = append(&log, b.clone());
        assert_eq!(base, next);
        next += 1 + (i % 3) as i64;
        expected.extend(stamped(&b, base));
    }
    assert!(log.segment_count() > 3, "segments: {}", log.segment_count());
    for s in log.segment_base_offsets() {
        assert!(dir.path().join(format!("{s:020}.log")).exists());
    }
    assert_eq!(read_all(&log, 0), expected);
    assert!(log.size_bytes() as usize == expected.len());
    // reopen sees the same
    drop(log);
    let log = open(dir.path(), &small_config());
    assert_eq!(log.high_watermark(), next);
    assert_eq!(read_all(&log, 0), expected);
    assert_eq!(log.recovery_report().truncated_bytes, 0);
}

#[test]
fn rolls_by_age() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_config();
    cfg.segment_ms = Some(0);
    let log = open(dir.path(), &cfg);
    for i in 0..4 {
        append(&log, test_batch(i, 1, 0));
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 1, 2, 3]);
}

#[test]
fn retention_by_size_and_age_deletes_whole_sealed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_config();
    cfg.retention_bytes = Some(2048);
    let log = open(dir.path(), &cfg);
    for i in 0..60 {
        append(&log, test_batch(i, 1, 1000 + i as i64));
    }
    let before = log.segment_count();
    let deleted = block_on(log.apply_retention(0)).expect("retention");
    assert!(deleted > 0 && log.segment_count() == before - deleted);
    assert!(log.size_bytes() >= 2048 && log.size_bytes() < 2048 + 1024);
    let start = log.log_start_offset();
    assert_eq!(start, log.segment_base_offsets()[0]);
    assert!(block_on(log.read(start - 1, 10)).is_err());
    assert_eq!(read_all(&log, start).len() as u64, log.size_bytes());
    // age: every sealed segment's newest timestamp (<= 1059) is older than now - 10
    drop(log);
    let mut cfg2 = small_config();
    cfg2.retention_ms = Some(10);
    let log = open(dir.path(), &cfg2);
    let n = log.segment_count();
    block_on(log.apply_retention(1000 + 10)).expect("retention");
    assert_eq!(
        log.segment_count(),
        n,
        "segments younger than the limit survive"
    );
    block_on(log.apply_retention(100_000)).expect("retention");
    assert_eq!(log.segment_count(), 1, "only the active segment remains");
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    assert_eq!(append(&log, test_batch(99, 1, 0)), 60);
}

#[test]
fn offset_for_timestamp_uses_batch_max_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), &small_config());
    // timestamps not monotonic across batches; max ts of batch i = ts_i + records - 1
    let ts = [100i64, 50, 300, 200, 400, 400, 900, 10];
    let mut bases = Vec::new();
    for (i, t) in ts.iter().enumerate() {
        bases.push(append(&log, test_batch(i as u64, 2, *t)));
        if i == 3 {
            block_on(log.roll()).expect("roll");
        }
    }
    let model = |q: i64| ts.iter().position(|t| t + 1 >= q).map(|i| bases[i]);
    for q in [-5, 0, 101, 102, 150, 301, 302, 401, 402, 901, 902, 5000] {
        assert_eq!(
            block_on(log.offset_for_timestamp(q)).expect("lookup"),
            model(q),
            "ts {q}"
        );
    }
}

#[test]
fn truncate_to_cuts_whole_batches_and_appends_continue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), &small_config());
    let mut batches = Vec::new();
    for i in 0..30 {
        let b = test_batch(i, 2, 0);
        let base = append(&log, b.clone());
        batches.push((base, b));
    }
    // offset 31 is inside the batch based at 30
    assert_eq!(block_on(log.truncate_to(31)).expect("truncate"), 30);
    assert_eq!(log.high_watermark(), 30);
    let expected: Vec<u8> = batches
        .iter()
        .take(15)
        .flat_map(|(o, b)| stamped(b, *o))
        .collect();
    assert_eq!(read_all(&log, 0), expected);
    assert_eq!(append(&log, test_batch(100, 1, 0)), 30);
    assert_eq!(block_on(log.truncate_to(1000)).expect("no-op"), 31);
    drop(log);
    let log = open(dir.path(), &small_config());
    assert_eq!(log.high_watermark(), 31);
    assert_eq!(block_on(log.truncate_to(0)).expect("to zero"), 0);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(append(&log, test_batch(5, 1, 0)), 0);
}

#[test]
fn group_commit_shares_fdatasync_and_acks_only_durable_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_config();
    cfg.segment_bytes = 1 << 20;
    cfg.flush = FlushPolicy::Always;
    let log = Rc::new(open(dir.path(), &cfg));
    let syncs_before = fault::sync_calls();
    let n = 20;
    let bases = block_on(async {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let log = log.clone();
                spawn(async move { log.append(test_batch(i, 1, 0)).await })
            })
            .collect();
        let mut bases = Vec::new();
        for h in handles {
            bases.push(h.await.expect("append"));
        }
        bases
    });
    let syncs = fault::sync_calls() - syncs_before;
    let mut sorted = bases.clone();
    sorted.sort();
    assert_eq!(sorted, (0..n as i64).collect::<Vec<_>>());
    assert!(syncs < n, "{syncs} fdatasyncs for {n} concurrent appends");
    assert_eq!(log.durable_offset(), n as i64);
    assert_eq!(log.high_watermark(), n as i64);
}

#[test]
fn high_watermark_under_always_excludes_unsynced_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_config();
    cfg.flush = FlushPolicy::Always;
    let log = Rc::new(open(dir.path(), &cfg));
    block_on(async {
        // Hold the group commit's fdatasync back so the written-not-durable state is observable.
        fault::delay_next_sync(Duration::from_millis(200));
        let l2 = log.clone();
        let h = spawn(async move { l2.append(test_batch(0, 1, 0)).await });
        let mut seen_dirty_not_visible = false;
        for _ in 0..1000 {
            if log.log_end_offset() == 1 && log.durable_offset() == 0 {
                assert_eq!(log.high_watermark(), 0);
                assert!(log.read(0, 100).await.expect("read").slices.is_empty());
                seen_dirty_not_visible = true;
                break;
            }
            ringlog::runtime::time::sleep(Duration::from_millis(0)).await;
            yield_now().await;
        }
        assert!(seen_dirty_not_visible);
        h.await.expect("append");
        assert_eq!(log.high_watermark(), 1);
    });
}

async fn yield_now() {
    let mut polled = false;
    std::future::poll_fn(|cx| {
        if polled {
            std::task::Poll::Ready(())
        } else {
            polled = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn wait_for_append_wakes_on_new_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Rc::new(open(dir.path(), &small_config()));
    block_on(async {
        let l2 = log.clone();
        let waiter = spawn(async move { l2.wait_for_append(0).await });
        yield_now().await;
        log.append(test_batch(0, 3, 0)).await.expect("append");
        assert_eq!(waiter.await.expect("woken"), 3);
        // already past: resolves at once
        assert_eq!(log.wait_for_append(2).await.expect("ready"), 3);
    });
}

#[test]
fn failed_write_poisons_until_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), &small_config());
    append(&log, test_batch(0, 1, 0));
    fault::fail_next_writes(1);
    let e = block_on(log.append(test_batch(1, 1, 0))).expect_err("write fails");
    assert!(matches!(e, Error::Io { op: "write", .. }), "{e}");
    let e = block_on(log.append(test_batch(2, 1, 0))).expect_err("poisoned");
    assert!(matches!(e, Error::Poisoned { .. }));
    assert_eq!(error_code(&e), kafka_code::KAFKA_STORAGE_ERROR);
    assert_eq!(
        log.high_watermark(),
        1,
        "nothing of the failed append is visible"
    );
    drop(log);
    let log = open(dir.path(), &small_config());
    assert_eq!(append(&log, test_batch(3, 1, 0)), 1);
}

/// Sizes of every file under `dir` (the segment files and snapshots of the log).
fn file_sizes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let e = e.expect("entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                out.push((e.path(), meta.len()));
            }
        }
    }
    out.sort();
    out
}

/// A write that finds the disk full (ENOSPC, injected: the segment write itself, or the index
/// write right after a segment write went through) is undone - the files are cut back to where
/// the append began, the indexes rewound - and answered DiskFull (KAFKA_STORAGE_ERROR) without
/// poisoning the log: the next append succeeds at the next offset, and a reopen finds exactly
/// the acknowledged batches. (`tests/disk_full.rs` does this on a real full tmpfs, where the
/// test may mount one.)
#[test]
fn a_write_that_finds_the_disk_full_is_undone_and_the_log_stays_writable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LogConfig {
        // Every batch adds an offset index entry, so an index write follows each segment write.
        index_interval_bytes: 1,
        ..small_config()
    };
    let log = open(dir.path(), &cfg);
    let mut acked = vec![test_batch(0, 2, 0)];
    append(&log, acked[0].clone());
    for (skip, what) in [(0, "the segment write"), (1, "the index write")] {
        let before = file_sizes(dir.path());
        let hw = log.high_watermark();
        fault::fail_writes_with(skip, 1, libc::ENOSPC);
        let e = block_on(log.append(test_batch(10 + skip as u64, 2, 0)))
            .expect_err("the injected ENOSPC fails the append");
        assert!(matches!(e, Error::DiskFull { .. }), "{what}: {e}");
        assert_eq!(error_code(&e), kafka_code::KAFKA_STORAGE_ERROR);
        assert!(
            log.poisoned().is_none(),
            "{what}: a full disk does not poison"
        );
        assert_eq!(log.high_watermark(), hw, "{what}: nothing visible");
        assert_eq!(file_sizes(dir.path()), before, "{what}: files cut back");
        let b = test_batch(20 + skip as u64, 1, 0);
        assert_eq!(
            append(&log, b.clone()),
            hw,
            "{what}: the next append continues"
        );
        acked.push(b);
    }
    let want: Vec<u8> = {
        let mut offset = 0;
        acked
            .iter()
            .flat_map(|b| {
                let s = stamped(b, offset);
                offset += ringlog::storage::batch::BatchHeader::parse(b)
                    .expect("header")
                    .offset_count();
                s
            })
            .collect()
    };
    assert_eq!(read_all(&log, 0), want);
    drop(log);
    let log = open(dir.path(), &cfg);
    assert_eq!(read_all(&log, 0), want, "after a reopen");
}

#[test]
fn failed_fdatasync_poisons_and_is_not_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_config();
    cfg.flush = FlushPolicy::Always;
    let log = open(dir.path(), &cfg);
    append(&log, test_batch(0, 1, 0));
    fault::fail_next_syncs(1);
    let e = block_on(log.append(test_batch(1, 1, 0))).expect_err("sync fails");
    assert!(
        matches!(
            e,
            Error::Io {
                op: "fdatasync",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        log.high_watermark(),
        1,
        "unsynced data never became visible"
    );
    let syncs = fault::sync_calls();
    assert!(matches!(
        block_on(log.append(test_batch(2, 1, 0))),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(block_on(log.flush()), Err(Error::Poisoned { .. })));
    assert_eq!(fault::sync_calls(), syncs, "no fsync retried after failure");
}

#[test]
fn interval_flush_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_config();
    cfg.flush = FlushPolicy::Interval(Duration::from_secs(3600));
    let log = open(dir.path(), &cfg);
    append(&log, test_batch(0, 1, 0));
    assert_eq!((log.high_watermark(), log.durable_offset()), (1, 0));
    block_on(log.flush_if_due()).expect("not due");
    assert_eq!(log.durable_offset(), 0);
    block_on(log.flush()).expect("flush");
    assert_eq!(log.durable_offset(), 1);
    let mut cfg = small_config();
    cfg.flush = FlushPolicy::Interval(Duration::ZERO);
    drop(log);
    let log = open(dir.path(), &cfg);
    append(&log, test_batch(1, 1, 0));
    assert_eq!(log.durable_offset(), 2, "due interval flushes on append");
}

#[test]
fn leader_epoch_is_stamped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(
        dir.path(),
        &LogConfig {
            flush: FlushPolicy::Never,
            ..LogConfig::default()
        },
    );
    log.set_leader_epoch(9);
    append(&log, test_batch(0, 1, 0));
    let bytes = read_all(&log, 0);
    assert_eq!(&bytes[12..16], &9i32.to_be_bytes());
}

#[test]
fn relative_offsets_near_u32_max_roll_the_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LogConfig {
        segment_bytes: 1 << 20,
        ..small_config()
    };
    let log = open(dir.path(), &cfg);
    let mut huge = build_batch_with(&BatchSpec {
        attributes: 1, // "compressed": the record count cannot be bounded by the bytes
        records: vec![TestRecord {
            value: Some(b"z".to_vec()),
            ..TestRecord::default()
        }],
        ..BatchSpec::default()
    });
    huge[field::RECORDS_COUNT..field::RECORDS_COUNT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    huge[field::LAST_OFFSET_DELTA..field::LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    fix_crc(&mut huge);
    let step = i64::from(i32::MAX);
    assert_eq!(append(&log, test_batch(0, 1, 0)), 0);
    assert_eq!(append_unread(&log, huge.clone()), 1);
    assert_eq!(append_unread(&log, huge.clone()), 1 + step);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(append_unread(&log, huge.clone()), 1 + 2 * step);
    assert_eq!(
        log.segment_base_offsets(),
        vec![0, 1 + 2 * step],
        "u32 relative offsets forced a roll"
    );
    drop(log);
    let log = open(dir.path(), &cfg);
    assert_eq!(log.high_watermark(), 1 + 3 * step);
    let r = block_on(log.read(2 * step, 1)).expect("read");
    assert_eq!(r.slices[0].first_offset, 1 + step);
    assert_eq!(block_on(log.offset_for_timestamp(0)).expect("ts"), Some(0));
}

#[test]
fn producer_state_is_rebuilt_from_the_log_on_reopen() {
    use ringlog::storage::batch::testing::{build_batch_with, BatchSpec, TestRecord};
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = small_config();
    let idem = |seq: i32| {
        build_batch_with(&BatchSpec {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: seq,
            records: vec![
                TestRecord {
                    value: Some(vec![b'x'; 100]),
                    ..Default::default()
                };
                2
            ],
            ..BatchSpec::default()
        })
    };
    {
        let log = open(dir.path(), &cfg);
        block_on(async {
            for i in 0..20 {
                assert_eq!(
                    log.append(idem(i * 2)).await.expect("append"),
                    i64::from(i) * 2
                );
            }
        });
        assert!(
            log.segment_count() > 1,
            "the small segments rolled (snapshots written)"
        );
    }
    let log = open(dir.path(), &cfg);
    assert_eq!(log.producer_count(), 1);
    block_on(async {
        // The last batch retried after reopening is a duplicate; the next one continues.
        assert_eq!(log.append(idem(38)).await.expect("duplicate"), 38);
        assert_eq!(log.log_end_offset(), 40);
        assert_eq!(log.append(idem(40)).await.expect("next"), 40);
        let err = log.append(idem(50)).await.expect_err("gap");
        assert_eq!(error_code(&err), 45);
    });
}
