//! Crash recovery: torn tails at every byte, corruption in the middle, damaged sealed segments.

use std::fs::OpenOptions;
use std::path::Path;

use crate::common::block_on;
use crate::common::*;
use ringlog::storage::{Error, Log, LogConfig};

fn seg_path(dir: &Path, base: i64, ext: &str) -> std::path::PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Writes `n` batches, returns (base offset, unstamped bytes) of each.
fn fill(dir: &Path, cfg: &LogConfig, n: u64) -> Vec<(i64, Vec<u8>)> {
    let log = open(dir, cfg);
    let mut out = Vec::new();
    for i in 0..n {
        let b = test_batch(i, 1 + (i % 2) as usize, i as i64);
        let base = block_on(log.append(b.clone())).expect("append");
        out.push((base, b));
    }
    out
}

fn expected_bytes(batches: &[(i64, Vec<u8>)]) -> Vec<u8> {
    batches.iter().flat_map(|(o, b)| stamped(b, *o)).collect()
}

fn next_after(batches: &[(i64, Vec<u8>)]) -> i64 {
    batches.last().map_or(0, |(o, b)| {
        let h = ringlog::storage::batch::BatchHeader::parse(b).expect("header");
        o + h.offset_count()
    })
}

/// After recovery: exactly `good` is readable, appends continue right after it.
fn check_recovered(dir: &Path, cfg: &LogConfig, good: &[(i64, Vec<u8>)]) {
    let log = open(dir, cfg);
    let next = next_after(good);
    assert_eq!(log.high_watermark(), next);
    assert_eq!(read_all(&log, 0), expected_bytes(good));
    assert!(
        block_on(log.read(next + 1, 100)).is_err(),
        "nothing past the damage is visible"
    );
    let extra = test_batch(1000, 2, 5);
    assert_eq!(
        block_on(log.append(extra.clone())).expect("append after recovery"),
        next
    );
    let mut all = expected_bytes(good);
    all.extend(stamped(&extra, next));
    assert_eq!(read_all(&log, 0), all);
    drop(log);
    // and it survives another reopen unchanged
    let log = open(dir, cfg);
    assert_eq!(log.high_watermark(), next + 2);
    assert_eq!(log.recovery_report().truncated_bytes, 0);
}

#[test]
fn torn_tail_at_every_byte_boundary() {
    let cfg = LogConfig {
        segment_bytes: 1 << 20,
        ..small_config()
    };
    let template = tempfile::tempdir().expect("tempdir");
    let batches = fill(template.path(), &cfg, 4);
    let log_file = seg_path(template.path(), 0, "log");
    let full = std::fs::read(&log_file).expect("read log");
    let last_len = batches[3].1.len();
    let index = std::fs::read(seg_path(template.path(), 0, "index")).expect("index");
    let timeindex = std::fs::read(seg_path(template.path(), 0, "timeindex")).expect("timeindex");
    for keep in 0..last_len {
        let dir = tempfile::tempdir().expect("tempdir");
        let torn = full.len() - last_len + keep;
        std::fs::write(seg_path(dir.path(), 0, "log"), &full[..torn]).expect("write");
        std::fs::write(seg_path(dir.path(), 0, "index"), &index).expect("write");
        std::fs::write(seg_path(dir.path(), 0, "timeindex"), &timeindex).expect("write");
        let log = open(dir.path(), &cfg);
        assert_eq!(
            log.recovery_report().truncated_bytes,
            keep as u64,
            "keep {keep}"
        );
        drop(log);
        check_recovered(dir.path(), &cfg, &batches[..3]);
    }
}

#[test]
fn garbage_tail_is_cut() {
    let cfg = small_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = fill(dir.path(), &cfg, 3);
    let mut f = OpenOptions::new()
        .append(true)
        .open(seg_path(dir.path(), 0, "log"))
        .expect("open");
    std::io::Write::write_all(&mut f, &[0u8; 100]).expect("append zeros");
    drop(f);
    check_recovered(dir.path(), &cfg, &batches);
}

#[test]
fn crc_corruption_in_the_middle_of_the_active_segment() {
    let cfg = LogConfig {
        segment_bytes: 1 << 20,
        ..small_config()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = fill(dir.path(), &cfg, 10);
    let path = seg_path(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&path).expect("read");
    let pos5: usize = batches[..5].iter().map(|(_, b)| b.len()).sum();
    bytes[pos5 + 70] ^= 0x01; // inside batch 5's records, covered by its CRC
    std::fs::write(&path, &bytes).expect("write");
    check_recovered(dir.path(), &cfg, &batches[..5]);
}

#[test]
fn damaged_sealed_segment_is_an_error_unless_repair() {
    let cfg = LogConfig {
        verify_sealed_on_open: true,
        ..small_config()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = fill(dir.path(), &cfg, 40);
    let bases = open(dir.path(), &cfg).segment_base_offsets();
    assert!(bases.len() >= 3);
    // corrupt the 2nd batch of the first (sealed) segment
    let path = seg_path(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&path).expect("read");
    let pos1 = batches[0].1.len();
    bytes[pos1 + 65] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let e = block_on(Log::open(dir.path(), "t", 0, cfg.clone(), false))
        .expect_err("corrupt sealed segment");
    match &e {
        Error::CorruptSegment {
            path: p, position, ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*position, pos1 as u64);
        }
        other => panic!("expected CorruptSegment, got {other:?}"),
    }
    let log = block_on(Log::open(dir.path(), "t", 0, cfg.clone(), true)).expect("repair");
    assert_eq!(log.segment_base_offsets(), vec![0]);
    assert_eq!(log.recovery_report().segments_removed, bases.len() - 1);
    drop(log);
    check_recovered(dir.path(), &cfg, &batches[..1]);
}

#[test]
fn structural_damage_in_sealed_segment_tail_detected_without_crc_verification() {
    let cfg = small_config();
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), &cfg, 40);
    let bases = open(dir.path(), &cfg).segment_base_offsets();
    // cut the last byte of the first sealed segment
    let path = seg_path(dir.path(), 0, "log");
    let len = std::fs::metadata(&path).expect("stat").len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(len - 1)
        .expect("truncate");
    assert!(matches!(
        block_on(Log::open(dir.path(), "t", 0, cfg.clone(), false)),
        Err(Error::CorruptSegment { .. })
    ));
    // a missing middle segment breaks the offset chain
    let dir2 = tempfile::tempdir().expect("tempdir");
    fill(dir2.path(), &cfg, 40);
    std::fs::remove_file(seg_path(dir2.path(), bases[1], "log")).expect("rm");
    assert!(matches!(
        block_on(Log::open(dir2.path(), "t", 0, cfg.clone(), false)),
        Err(Error::CorruptSegment { .. })
    ));
    let log = block_on(Log::open(dir2.path(), "t", 0, cfg.clone(), true)).expect("repair");
    assert_eq!(log.segment_base_offsets(), vec![0]);
    assert_eq!(log.high_watermark(), bases[1]);
}

#[test]
fn lost_or_damaged_index_files_are_rebuilt() {
    let cfg = small_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = fill(dir.path(), &cfg, 40);
    let bases = open(dir.path(), &cfg).segment_base_offsets();
    let original = std::fs::read(seg_path(dir.path(), bases[0], "index")).expect("index");
    assert!(!original.is_empty(), "test needs a non-empty sparse index");
    std::fs::remove_file(seg_path(dir.path(), bases[0], "index")).expect("rm");
    std::fs::write(seg_path(dir.path(), bases[1], "timeindex"), [1u8; 7]).expect("damage");
    let log = open(dir.path(), &cfg);
    assert_eq!(log.recovery_report().indexes_rebuilt, 2);
    assert_eq!(read_all(&log, 0), expected_bytes(&batches));
    drop(log);
    assert_eq!(
        std::fs::read(seg_path(dir.path(), bases[0], "index")).expect("index"),
        original
    );
}
