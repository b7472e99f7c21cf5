//! Opening a partition's segments after a clean stop or a crash.
//!
//! - Sealed segments: their `.index`/`.timeindex` files are decoded and checked; the batches after
//!   the last index entry are walked (header checks, increasing offsets) and must end exactly at
//!   the file's end. Damaged or missing index files are rebuilt from the log. With
//!   `verify_sealed_on_open` every batch's CRC is checked too. A damaged sealed segment, or an
//!   overlap between segments, is [`Error::CorruptSegment`] unless `repair` is set; then the
//!   log is truncated at the first bad byte and every later segment is deleted.
//! - Offsets are contiguous from batch to batch and segment to segment, except in and after a
//!   segment the cleaner ([`crate::compact`]) wrote (its `.compacted` marker): it removes
//!   batches and keeps the offsets of the rest, so there offsets only increase.
//! - A compaction interrupted by a crash is finished or undone first ([`crate::compact`]'s
//!   crash protocol): `.cleaned` files are removed, a `.swap` completes its swap.
//! - The active (last) segment: every batch is verified (header, offsets, CRC32C); the segment is
//!   truncated at the first bad byte (a torn or corrupt tail never becomes visible) and its
//!   indexes are rebuilt and rewritten.
//!
//! # Invariants
//! - After recovery the segments' offsets increase from the first base offset to the active
//!   segment's `next_offset` (contiguous unless compacted), and every byte of every `.log`
//!   belongs to a whole batch.
//! - Recovery never deletes data before the first damaged byte.
//! - Recovery opens files only through the engine's [`FileCache`] (within its budget); a sealed
//!   segment's index files are released once its indexes are in memory.

use std::path::Path;
use std::rc::Rc;

use super::batch::{compute_crc, BatchHeader, HEADER_BYTES};
use super::error::{Error, Result};
use super::files::FileCache;
use super::index::{decode_offset_index, decode_time_index, SegmentIndexes};
use super::names::parse_segment_file;
use super::segment::{Segment, SEGMENT_BYTES_MAX};

/// The first damaged byte found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte position in the `.log` of the first batch that failed a check.
    pub position: u64,
    /// Which check failed (truncated, CRC, offset gap, ...).
    pub reason: String,
}

/// Result of walking a segment's batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Position after the last good batch.
    pub end_position: u64,
    /// One past the last good batch's last offset.
    pub next_offset: i64,
    /// Where and why the scan stopped early; `None` if it reached the end cleanly.
    pub damage: Option<Damage>,
}

/// What recovery did, for logging and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Bytes cut from the tail (torn or corrupt data).
    pub truncated_bytes: u64,
    /// Segments deleted because they followed damage (only with `repair`).
    pub segments_removed: usize,
    /// Segments whose index files were rebuilt.
    pub indexes_rebuilt: usize,
}

/// Walks batches of `seg` from `start_position` (a batch boundary whose base offset is
/// `start_offset`) up to `file_len`. Checks each header, offset continuity and (if `verify_crc`)
/// the CRC. If `indexes` is given, every good batch is indexed. With `index_gap_bytes`, a batch
/// starting that far or farther past `start_position` counts as damage: the sparse index that
/// pointed at `start_position` should have had a later entry (it is incomplete). Stops at the
/// first damage.
pub async fn scan(
    seg: &Segment,
    start_position: u64,
    start_offset: i64,
    file_len: u64,
    verify_crc: bool,
    mut indexes: Option<&mut SegmentIndexes>,
    index_gap_bytes: Option<u64>,
) -> Result<ScanOutcome> {
    let mut pos = start_position;
    let mut expected = start_offset;
    let mut buf: Vec<u8> = Vec::new();
    // Only a segment the cleaner wrote may skip offsets.
    let gaps = seg.is_compacted();
    // Held for the whole walk: one cache lookup, and an eviction meanwhile cannot close it.
    let log = seg.log_file()?;
    let stop = |position: u64, next_offset: i64, reason: String| ScanOutcome {
        end_position: position,
        next_offset,
        damage: Some(Damage { position, reason }),
    };
    while pos < file_len {
        if file_len - pos < HEADER_BYTES as u64 {
            return Ok(stop(pos, expected, "torn batch header".into()));
        }
        buf.resize(HEADER_BYTES, 0);
        let (r, b) = log.read_exact_at(buf, pos).await;
        buf = b;
        r.map_err(|e| Error::io("read", seg.log_path(), e))?;
        let h = match BatchHeader::parse_stored(&buf) {
            Ok(h) => h,
            Err(e) => return Ok(stop(pos, expected, e.to_string())),
        };
        let size = h.size_bytes();
        let index_gap =
            index_gap_bytes.is_some_and(|g| pos > start_position && pos - start_position >= g);
        if let Some(reason) = header_problem(seg, &h, pos, file_len, expected, index_gap, gaps) {
            return Ok(stop(pos, expected, reason));
        }
        if verify_crc {
            buf.resize(size as usize, 0);
            let (r, b) = log.read_exact_at(buf, pos).await;
            buf = b;
            r.map_err(|e| Error::io("read", seg.log_path(), e))?;
            let computed = compute_crc(&buf);
            if computed != h.crc {
                let reason = format!(
                    "crc32c mismatch: stored {:#010x}, computed {computed:#010x}",
                    h.crc
                );
                return Ok(stop(pos, expected, reason));
            }
        }
        if let Some(ix) = indexes.as_deref_mut() {
            let rel = (h.base_offset - seg.base_offset) as u32;
            ix.on_batch(rel, pos as u32, size, h.max_timestamp);
        }
        expected = h.last_offset() + 1;
        pos += size;
    }
    Ok(ScanOutcome {
        end_position: pos,
        next_offset: expected,
        damage: None,
    })
}

/// What is wrong with the batch whose header `h` was read at `pos`, judged without its body:
/// the sparse index skipped it (`index_gap`), it runs past `file_len`, it is larger than any
/// segment, it does not start at `expected` (or, in a segment the cleaner wrote, `gaps`,
/// before it), or its offsets do not fit the segment.
fn header_problem(
    seg: &Segment,
    h: &BatchHeader,
    pos: u64,
    file_len: u64,
    expected: i64,
    index_gap: bool,
    gaps: bool,
) -> Option<String> {
    let size = h.size_bytes();
    if index_gap {
        Some("sparse index is missing an entry".to_string())
    } else if size > file_len - pos {
        Some(format!(
            "torn batch: {size} bytes announced, {} present",
            file_len - pos
        ))
    } else if size > SEGMENT_BYTES_MAX {
        Some(format!("batch of {size} bytes larger than any segment"))
    } else if h.base_offset < expected || (h.base_offset > expected && !gaps) {
        Some(format!(
            "base offset {} where {expected}{} was expected",
            h.base_offset,
            if gaps { " or later" } else { "" }
        ))
    } else if u32::try_from(h.last_offset() - seg.base_offset).is_err() {
        Some(format!(
            "offset {} not representable relative to {}",
            h.last_offset(),
            seg.base_offset
        ))
    } else {
        None
    }
}

/// Rebuilds a segment's indexes from its log (no CRC check), truncating nothing. Used after
/// `truncate_to`.
pub async fn rebuild_indexes(
    seg: &Segment,
    index_interval_bytes: u64,
    sealed: bool,
) -> Result<ScanOutcome> {
    let len = seg.log_file_len()?;
    let mut ix = SegmentIndexes::new(index_interval_bytes);
    let out = scan(seg, 0, seg.base_offset, len, false, Some(&mut ix), None).await?;
    if sealed {
        ix.seal();
    }
    {
        let mut st = seg.state.borrow_mut();
        st.indexes = ix;
        st.size_bytes = out.end_position;
        st.next_offset = out.next_offset;
        st.sealed = sealed;
    }
    seg.rewrite_index_files().await?;
    Ok(out)
}

/// Options for [`recover`].
#[derive(Debug, Clone, Copy)]
pub struct RecoverOptions {
    /// Bytes of log between sparse index entries when indexes are rebuilt.
    pub index_interval_bytes: u64,
    /// Read and CRC-check every batch of sealed segments too (slow: reads all data).
    pub verify_sealed: bool,
    /// Truncate the log at damage in a sealed segment instead of failing the open.
    pub repair: bool,
}

/// Opens (or creates) all segments of a partition directory and recovers them, opening files
/// through `files`.
pub async fn recover(
    dir: &Path,
    opts: RecoverOptions,
    files: &Rc<FileCache>,
) -> Result<(Vec<Rc<Segment>>, RecoveryReport)> {
    let mut report = RecoveryReport::default();
    // A compaction a crash interrupted is undone or completed before the segments are listed.
    crate::compact::finish_interrupted(dir).await?;
    let mut bases = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("readdir", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("readdir", dir, e))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_segment_file) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    if bases.is_empty() {
        let seg = Segment::create(dir, 0, opts.index_interval_bytes, files)?;
        return Ok((vec![Rc::new(seg)], report));
    }
    let mut segments: Vec<Rc<Segment>> = Vec::with_capacity(bases.len());
    let last = bases.len() - 1;
    let mut i = 0;
    let mut prev_compacted = false;
    while i < bases.len() {
        let seg = Segment::open(dir, bases[i], files);
        let expected_base = segments.last().map(|s| s.next_offset());
        let file_len = seg.log_file_len()?;
        // A segment may start after the previous one's end only if the cleaner wrote the
        // previous one (it removed its last batches); never inside it.
        let chain_break = expected_base
            .is_some_and(|b| b > seg.base_offset || (b < seg.base_offset && !prev_compacted));
        if chain_break {
            let reason = format!(
                "segment base offset {} overlaps the previous segment (next offset {})",
                seg.base_offset,
                expected_base.unwrap_or_default()
            );
            if !opts.repair {
                return Err(Error::CorruptSegment {
                    path: seg.log_path().to_path_buf(),
                    position: 0,
                    reason,
                });
            }
            // Everything from here on is unreachable: drop it. The previous segment becomes active.
            report.segments_removed += remove_segments(dir, &bases[i..], files)?;
            break;
        }
        if i == last {
            recover_active(&seg, file_len, opts, &mut report).await?;
            segments.push(Rc::new(seg));
            break;
        }
        match recover_sealed(&seg, file_len, opts, &mut report).await? {
            None => {
                seg.state.borrow_mut().sealed = true;
                prev_compacted = seg.is_compacted();
                segments.push(Rc::new(seg));
            }
            Some(d) => {
                if !opts.repair {
                    return Err(Error::CorruptSegment {
                        path: seg.log_path().to_path_buf(),
                        position: d.position,
                        reason: d.reason,
                    });
                }
                recover_active(&seg, file_len, opts, &mut report).await?;
                segments.push(Rc::new(seg));
                report.segments_removed += remove_segments(dir, &bases[i + 1..], files)?;
                break;
            }
        }
        i += 1;
    }
    // With repair, a former sealed segment may have become the last one: make it active.
    if let Some(active) = segments.last() {
        if active.state.borrow().sealed {
            active.state.borrow_mut().sealed = false;
            // its time index had a closing entry; rebuilding keeps the indexes deterministic
            rebuild_indexes(active, opts.index_interval_bytes, false).await?;
        }
    }
    assert_recovered(&segments);
    Ok((segments, report))
}

/// The module invariants on the recovered chain (once per open, so always checked): offsets
/// increasing from segment to segment, only the last segment active, and every index entry
/// inside its segment's bytes.
fn assert_recovered(segments: &[Rc<Segment>]) {
    for (k, seg) in segments.iter().enumerate() {
        let st = seg.state.borrow();
        let path = seg.log_path().display();
        assert_eq!(
            st.sealed,
            k + 1 < segments.len(),
            "recovered segment {path}: sealed must mean not last ({k} of {})",
            segments.len()
        );
        assert!(
            st.next_offset >= seg.base_offset,
            "recovered segment {path}: next offset {} below its base offset",
            st.next_offset
        );
        let last_entry = st.indexes.offsets.last();
        assert!(
            last_entry.is_none_or(|e| u64::from(e.position) < st.size_bytes),
            "recovered segment {path}: index entry {last_entry:?} past its {} bytes",
            st.size_bytes
        );
        if let Some(next) = segments.get(k + 1) {
            assert!(
                next.base_offset >= st.next_offset,
                "recovered segment {} starts at {}, inside {path} (next offset {})",
                next.log_path().display(),
                next.base_offset,
                st.next_offset
            );
        }
    }
}

fn remove_segments(dir: &Path, bases: &[i64], files: &Rc<FileCache>) -> Result<usize> {
    for &b in bases {
        // Opens nothing: only the paths are needed.
        Segment::open(dir, b, files).delete_files()?;
    }
    Ok(bases.len())
}

/// Full verification of the active segment; truncates at the first bad byte.
async fn recover_active(
    seg: &Segment,
    file_len: u64,
    opts: RecoverOptions,
    report: &mut RecoveryReport,
) -> Result<()> {
    let mut ix = SegmentIndexes::new(opts.index_interval_bytes);
    let out = scan(seg, 0, seg.base_offset, file_len, true, Some(&mut ix), None).await?;
    if out.end_position < file_len {
        let log = seg.log_file()?;
        log.set_len(out.end_position)
            .map_err(|e| Error::io("truncate", seg.log_path(), e))?;
        log.fdatasync()
            .await
            .map_err(|e| Error::io("fdatasync", seg.log_path(), e))?;
        report.truncated_bytes += file_len - out.end_position;
    }
    {
        let mut st = seg.state.borrow_mut();
        st.indexes = ix;
        st.size_bytes = out.end_position;
        st.next_offset = out.next_offset;
        st.sealed = false;
    }
    seg.rewrite_index_files().await?;
    Ok(())
}

/// Loads a sealed segment; returns the damage if it is not whole.
async fn recover_sealed(
    seg: &Segment,
    file_len: u64,
    opts: RecoverOptions,
    report: &mut RecoveryReport,
) -> Result<Option<Damage>> {
    if !opts.verify_sealed {
        let (ib, tb) = seg.read_index_files().await?;
        let decoded = (decode_offset_index(&ib, file_len), decode_time_index(&tb));
        // A sealed non-empty segment always has a closing time index entry.
        let times_present = file_len == 0 || !tb.is_empty();
        if let (Ok(offsets), Ok(times), true) = (decoded.0, decoded.1, times_present) {
            let (start_pos, start_off) = offsets.last().map_or((0, seg.base_offset), |e| {
                (
                    u64::from(e.position),
                    seg.base_offset + i64::from(e.relative_offset),
                )
            });
            let ix = SegmentIndexes::from_sealed(opts.index_interval_bytes, offsets, times);
            let gap = Some(opts.index_interval_bytes);
            let out = scan(seg, start_pos, start_off, file_len, false, None, gap).await?;
            if out.damage.is_none() {
                assert_eq!(
                    out.end_position,
                    file_len,
                    "scan of {} ended early without damage",
                    seg.log_path().display()
                );
                let mut st = seg.state.borrow_mut();
                st.indexes = ix;
                st.size_bytes = out.end_position;
                st.next_offset = out.next_offset;
                seg.release_index_files();
                return Ok(None);
            }
            // The index may be what is wrong: fall through to a full walk.
        }
    }
    let mut ix = SegmentIndexes::new(opts.index_interval_bytes);
    let out = scan(
        seg,
        0,
        seg.base_offset,
        file_len,
        opts.verify_sealed,
        Some(&mut ix),
        None,
    )
    .await?;
    if let Some(d) = out.damage {
        return Ok(Some(d));
    }
    ix.seal();
    {
        let mut st = seg.state.borrow_mut();
        st.indexes = ix;
        st.size_bytes = out.end_position;
        st.next_offset = out.next_offset;
    }
    seg.rewrite_index_files().await?;
    seg.sync_all().await?;
    seg.release_index_files();
    report.indexes_rebuilt += 1;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::batch::stamp;
    use super::super::batch::testing::build_batch;
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::runtime::block_on(
            &crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Uring),
            f,
        )
        .expect("runtime")
    }
    use super::*;

    #[test]
    fn scan_stops_at_offset_discontinuity_and_torn_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        for base in [0i64, 1, 5] {
            let mut b = build_batch(0, &[b"x"]);
            stamp(&mut b, base, 0);
            bytes.extend(b);
        }
        let one = bytes.len() / 3;
        bytes.extend_from_slice(&[0u8; 10]);
        let path = dir.path().join(format!("{:020}.log", 0));
        std::fs::write(&path, &bytes).expect("write");
        let seg = Segment::open(dir.path(), 0, &FileCache::new(4));
        block_on(async {
            let out = scan(&seg, 0, 0, bytes.len() as u64, true, None, None)
                .await
                .expect("scan");
            assert_eq!((out.end_position, out.next_offset), (2 * one as u64, 2));
            assert!(out.damage.expect("damage").reason.contains("base offset 5"));
            // starting after the gap: the only problem is the torn 10-byte tail
            let out = scan(
                &seg,
                2 * one as u64,
                5,
                bytes.len() as u64,
                true,
                None,
                None,
            )
            .await
            .expect("scan");
            assert_eq!((out.end_position, out.next_offset), (3 * one as u64, 6));
            assert!(out.damage.expect("damage").reason.contains("torn"));
        });
    }

    #[test]
    fn scan_of_a_compacted_segment_passes_gaps_and_stops_at_an_offset_going_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        // 0, 1, then a gap a clean may leave (2..=4 removed), then 3: going back.
        for base in [0i64, 1, 5, 3] {
            let mut b = build_batch(0, &[b"x"]);
            stamp(&mut b, base, 0);
            bytes.extend(b);
        }
        let one = bytes.len() / 4;
        bytes.extend_from_slice(&[0u8; 10]);
        let path = dir.path().join(format!("{:020}.log", 0));
        std::fs::write(&path, &bytes).expect("write");
        let seg = Segment::open(dir.path(), 0, &FileCache::new(4));
        // Written by the cleaner: gaps are allowed, going back is not.
        std::fs::write(seg.compacted_path(), b"").expect("marker");
        block_on(async {
            let out = scan(&seg, 0, 0, bytes.len() as u64, true, None, None)
                .await
                .expect("scan");
            assert_eq!((out.end_position, out.next_offset), (3 * one as u64, 6));
            assert!(out.damage.expect("damage").reason.contains("base offset 3"));
            // starting after the offset going back: the only problem is the torn 10-byte tail
            let out = scan(
                &seg,
                3 * one as u64,
                3,
                bytes.len() as u64,
                true,
                None,
                None,
            )
            .await
            .expect("scan");
            assert_eq!((out.end_position, out.next_offset), (4 * one as u64, 4));
            assert!(out.damage.expect("damage").reason.contains("torn"));
        });
    }
}
