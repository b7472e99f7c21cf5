//! The durable log start offset of one partition: where DeleteRecords (KIP-107) moved it, which
//! may be inside a segment (Kafka's `log-start-offset-checkpoint`, kept here per partition).
//!
//! Without this file a log's start is the base offset of its first segment. With it, the start
//! is the larger of the two: retention deleting whole segments may carry the start past the
//! stored value (the file is then stale but harmless), and nothing ever moves it back. On open
//! the stored value is also capped at the log end: data a crash took back (unflushed appends
//! under a lax flush policy) cannot leave the start past the end.
//!
//! File `{partition dir}/log-start.offset`, 20 bytes, big-endian, replaced atomically and
//! durably with [`crate::fsutil`] (so it is never torn: a reader sees the old value or the new):
//! ```text
//! +--------+---------+----------+--------------------+---------------------------+
//! | "RLLS" | version | reserved | log start (i64)    | crc32c of bytes 0..16     |
//! | 4      | 1 (= 1) | 3 (zero) | 8                  | 4                         |
//! +--------+---------+----------+--------------------+---------------------------+
//! ```
//!
//! # Invariants
//! - A stored value is `>= 0` (checked on decode: a negative start is corrupt).
//! - A value is written before the in-memory start moves to it ([`crate::log::Log`]), so a
//!   crash can only leave the durable start ahead of what readers were told, never behind.

use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// File name of the stored log start inside a partition directory.
pub const LOG_START_FILE: &str = "log-start.offset";
const MAGIC: &[u8; 4] = b"RLLS";
const VERSION: u8 = 1;
/// Magic + version + reserved + offset.
const BODY_BYTES: usize = 16;
/// The whole file: body + crc32c.
pub const LOG_START_FILE_BYTES: usize = BODY_BYTES + 4;

/// The path of the stored log start in partition directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(LOG_START_FILE)
}

/// The file's bytes for `offset`.
pub fn encode(offset: i64) -> [u8; LOG_START_FILE_BYTES] {
    let mut out = [0u8; LOG_START_FILE_BYTES];
    out[..4].copy_from_slice(MAGIC);
    out[4] = VERSION;
    out[8..16].copy_from_slice(&offset.to_be_bytes());
    let crc = crc32c::crc32c(&out[..BODY_BYTES]);
    out[BODY_BYTES..].copy_from_slice(&crc.to_be_bytes());
    out
}

/// The offset in the file's bytes, or why they are not a valid file.
pub fn decode(bytes: &[u8]) -> std::result::Result<i64, String> {
    if bytes.len() != LOG_START_FILE_BYTES {
        return Err(format!(
            "{} bytes, expected {LOG_START_FILE_BYTES}",
            bytes.len()
        ));
    }
    let (body, crc) = bytes.split_at(BODY_BYTES);
    let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(format!(
            "crc32c mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
    }
    if &body[..4] != MAGIC {
        return Err("bad magic".to_string());
    }
    if body[4] != VERSION {
        return Err(format!("unknown version {}", body[4]));
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&body[8..16]);
    let offset = i64::from_be_bytes(offset);
    if offset < 0 {
        return Err(format!("negative log start offset {offset}"));
    }
    Ok(offset)
}

/// The stored log start of partition directory `dir`, `None` when none was ever stored. A
/// file that is there but not valid is an error (it is written atomically: damage is not a
/// torn write, and silently starting lower would resurrect deleted records).
pub fn load(dir: &Path) -> Result<Option<i64>> {
    let path = path(dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read log start", path, e)),
    };
    decode(&bytes)
        .map(Some)
        .map_err(|reason| Error::CorruptSegment {
            path,
            position: 0,
            reason: format!("stored log start offset: {reason}"),
        })
}

/// Stores `offset` as the log start of partition directory `dir`, atomically and durably, on
/// the shard's driver.
pub async fn store(dir: &Path, offset: i64) -> Result<()> {
    debug_assert!(
        offset >= 0,
        "log start {offset} stored for {}",
        dir.display()
    );
    let path = path(dir);
    crate::fsutil::replace_atomically_on_shard(&path, encode(offset).to_vec())
        .await
        .map_err(|e| {
            if Error::is_no_space(&e) {
                Error::DiskFull {
                    op: "store log start",
                    path: path.clone(),
                    source: e,
                }
            } else {
                Error::io("store log start", path.clone(), e)
            }
        })
}

/// The log start of a log whose segments span `[first_base, end)`, given what was stored: the
/// stored value when it lies in between, else the nearer bound.
pub fn effective(stored: Option<i64>, first_base: i64, end: i64) -> i64 {
    stored.map_or(first_base, |s| s.max(first_base).min(end.max(first_base)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::testing::build_batch;
    use crate::log::{now_ms, FlushPolicy, Log, LogConfig};

    #[test]
    fn round_trips_and_rejects_damage() {
        for offset in [0, 1, 4242, i64::MAX] {
            assert_eq!(decode(&encode(offset)), Ok(offset));
        }
        let good = encode(77);
        // Every single-bit flip is caught (by the crc, or the magic/version behind it).
        for byte in 0..LOG_START_FILE_BYTES {
            for bit in 0..8 {
                let mut bad = good;
                bad[byte] ^= 1 << bit;
                assert!(decode(&bad).is_err(), "flip of bit {bit} of byte {byte}");
            }
        }
        // Every truncation and an extra byte.
        for len in 0..LOG_START_FILE_BYTES {
            assert!(decode(&good[..len]).is_err(), "{len} bytes");
        }
        let mut long = good.to_vec();
        long.push(0);
        assert!(decode(&long).is_err());
        // A negative start with a valid crc.
        assert!(decode(&encode(-1)).unwrap_err().contains("negative"));
    }

    #[test]
    fn effective_start_stays_within_the_segments() {
        assert_eq!(effective(None, 10, 50), 10);
        assert_eq!(effective(Some(20), 10, 50), 20);
        // Retention went past the stored value.
        assert_eq!(effective(Some(5), 10, 50), 10);
        // A crash took back data the start had reached.
        assert_eq!(effective(Some(60), 10, 50), 50);
        assert_eq!(effective(Some(60), 10, 10), 10);
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::runtime::block_on(
            &crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Uring),
            f,
        )
        .expect("runtime")
    }

    /// Segments of a few batches (so a log has several), every append fdatasynced.
    fn small_segments() -> LogConfig {
        LogConfig {
            segment_bytes: 400,
            segment_ms: None,
            index_interval_bytes: 64,
            flush: FlushPolicy::Always,
            ..LogConfig::default()
        }
    }

    /// Batches of two records stamped with timestamps `t0 + 10 * i`: `n` batches, offsets
    /// `0..2n`.
    async fn filled(dir: &Path, config: LogConfig, n: i64, t0: i64) -> Log {
        let log = Log::open(dir, "t", 0, config, false).await.expect("open");
        for i in 0..n {
            let b = build_batch(t0 + 10 * i, &[b"a-value-of-some-length", b"another"]);
            assert_eq!(log.append(b).await.expect("append"), 2 * i);
        }
        log
    }

    async fn reopen(dir: &Path, config: LogConfig) -> Log {
        Log::open(dir, "t", 0, config, false).await.expect("reopen")
    }

    fn is_out_of_range<T: std::fmt::Debug>(r: Result<T>) -> bool {
        matches!(r, Err(Error::OffsetOutOfRange { .. }))
    }

    /// The start moves inside a segment, durably: reads below it are out of range, the batch
    /// holding it still reads, whole segments below are deleted, it survives a reopen, and it
    /// never moves back (a smaller offset, retention, reopen).
    #[test]
    fn delete_records_moves_the_start_inside_a_segment_durably() {
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let log = filled(dir.path(), small_segments(), 20, now_ms()).await;
            let bases = log.segment_base_offsets();
            assert!(bases.len() >= 4, "several segments: {bases:?}");
            // Inside the third segment, and inside a batch (odd offset).
            let target = bases[2] + 3;
            assert_eq!(target % 2, 1);
            assert_eq!(log.delete_records(target).await.unwrap(), target);
            assert_eq!(log.log_start_offset(), target);
            assert_eq!(
                log.segment_base_offsets()[0],
                bases[2],
                "two segments deleted"
            );
            assert!(is_out_of_range(log.read(target - 1, 1 << 20).await));
            let read = log.read(target, 1).await.unwrap();
            assert_eq!(read.log_start_offset, target);
            assert!(!read.slices.is_empty());
            // Backwards is no change.
            assert_eq!(log.delete_records(target - 2).await.unwrap(), target);
            assert_eq!(log.delete_records(0).await.unwrap(), target);
            drop(log);

            let log = reopen(dir.path(), small_segments()).await;
            assert_eq!(log.log_start_offset(), target);
            assert!(is_out_of_range(log.read(target - 1, 1).await));
            // Retention deleting the segment holding the start keeps a start past it.
            let config = LogConfig {
                retention_bytes: Some(1),
                ..small_segments()
            };
            drop(log);
            let log = reopen(dir.path(), config).await;
            log.delete_records(log.segment_base_offsets()[1] + 1)
                .await
                .unwrap();
            let start = log.log_start_offset();
            assert!(log.apply_retention(now_ms()).await.unwrap() > 0);
            assert!(log.log_start_offset() >= start);
            assert_eq!(
                log.log_start_offset(),
                start.max(log.segment_base_offsets()[0])
            );
        });
    }

    /// -1 is the high watermark; past it, or negative otherwise, is out of range and changes
    /// nothing; the high watermark itself empties the log, which then takes appends on.
    #[test]
    fn delete_records_bounds() {
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let log = filled(dir.path(), small_segments(), 6, now_ms()).await;
            let hw = log.high_watermark();
            assert!(is_out_of_range(log.delete_records(hw + 1).await));
            assert!(is_out_of_range(log.delete_records(-2).await));
            assert!(is_out_of_range(log.delete_records(i64::MIN).await));
            assert_eq!(log.log_start_offset(), 0);
            assert!(!path(dir.path()).exists(), "nothing stored for a refusal");
            assert_eq!(
                log.delete_records(crate::log::DELETE_TO_HIGH_WATERMARK)
                    .await
                    .unwrap(),
                hw
            );
            assert_eq!(log.log_start_offset(), hw);
            assert_eq!(log.segment_count(), 1, "every sealed segment deleted");
            assert_eq!(log.read(hw, 1 << 20).await.unwrap().slices.len(), 0);
            let b = build_batch(now_ms(), &[b"after"]);
            assert_eq!(log.append(b).await.unwrap(), hw);
            assert_eq!(log.read(hw, 1 << 20).await.unwrap().slices.len(), 1);
            drop(log);
            let log = reopen(dir.path(), small_segments()).await;
            assert_eq!(log.log_start_offset(), hw);
            assert_eq!(log.high_watermark(), hw + 1);
        });
    }

    /// Under a lax flush policy the high watermark is the page cache: moving the start there
    /// syncs first, so the stored start never passes the durable end.
    #[test]
    fn delete_records_to_unsynced_data_syncs_it_first() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            flush: FlushPolicy::Never,
            ..small_segments()
        };
        block_on(async {
            let log = filled(dir.path(), config.clone(), 3, now_ms()).await;
            let hw = log.high_watermark();
            assert_eq!(log.delete_records(hw).await.unwrap(), hw);
            assert_eq!(log.durable_offset(), hw);
        });
    }

    /// Crash points of a deletion, as the files they leave: the new start stored but the
    /// segments below it not deleted yet (the reopened log starts there and a later deletion
    /// or retention removes them); a temporary of an interrupted store (removed on open, the
    /// old start kept); a start stored past what a crash kept of the log (capped at the end).
    #[test]
    fn crash_between_the_writes_of_a_deletion() {
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let log = filled(dir.path(), small_segments(), 20, now_ms()).await;
            let bases = log.segment_base_offsets();
            let end = log.log_end_offset();
            drop(log);
            // Stored, segments not deleted.
            store(dir.path(), bases[3] + 1).await.unwrap();
            let log = reopen(dir.path(), small_segments()).await;
            assert_eq!(log.log_start_offset(), bases[3] + 1);
            assert_eq!(
                log.segment_base_offsets(),
                bases,
                "nothing deleted by the open"
            );
            assert!(is_out_of_range(log.read(bases[1], 1).await));
            assert_eq!(
                log.delete_records(bases[3] + 2).await.unwrap(),
                bases[3] + 2
            );
            assert_eq!(log.segment_base_offsets()[0], bases[3]);
            drop(log);
            // An interrupted store: its temporary (another, dead, process's) holds garbage.
            let tmp = dir.path().join(format!("{LOG_START_FILE}.tmp.1.0"));
            std::fs::write(&tmp, b"torn").unwrap();
            let log = reopen(dir.path(), small_segments()).await;
            assert!(!tmp.exists(), "stale temporary removed");
            assert_eq!(log.log_start_offset(), bases[3] + 2);
            drop(log);
            // Stored past the end (the data it reached was lost): capped at the end.
            store(dir.path(), end + 100).await.unwrap();
            let log = reopen(dir.path(), small_segments()).await;
            assert_eq!(log.log_start_offset(), end);
            assert_eq!(log.high_watermark(), end);
            drop(log);
            // A damaged file fails the open, naming it, rather than resurrecting records.
            std::fs::write(path(dir.path()), [0u8; LOG_START_FILE_BYTES]).unwrap();
            let e = Log::open(dir.path(), "t", 0, small_segments(), false)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(LOG_START_FILE), "{e}");
        });
    }

    /// ListOffsets by timestamp never answers below the start: a time matching a deleted batch
    /// answers the start, one matching a batch the start cut answers the start too.
    #[test]
    fn timestamps_below_the_start_answer_the_start() {
        let dir = tempfile::tempdir().unwrap();
        block_on(async {
            let t0 = now_ms() - 1_000_000;
            let log = filled(dir.path(), small_segments(), 20, t0).await;
            let bases = log.segment_base_offsets();
            let target = bases[2] + 1;
            log.delete_records(target).await.unwrap();
            let (offset, _) = log.record_for_timestamp(t0).await.unwrap().unwrap();
            assert_eq!(offset, target);
            let (offset, ts) = log
                .record_for_timestamp(t0 + 10 * 15)
                .await
                .unwrap()
                .unwrap();
            assert_eq!((offset, ts), (30, t0 + 150));
            assert_eq!(
                log.offset_for_timestamp(t0).await.unwrap(),
                Some(target - 1)
            );
        });
    }

    #[test]
    fn missing_is_none_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        std::fs::write(path(dir.path()), encode(9)).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(9));
        std::fs::write(path(dir.path()), b"garbage").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("log start"), "{e}");
    }
}
