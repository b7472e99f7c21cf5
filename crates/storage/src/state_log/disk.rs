//! The disk side of state logs: the directory swap protocol (with its recovery and the test crash
//! points), encoding updates as batches, reading records back (`Scan`), replay, and filling a
//! fresh log (`FreshWriter`). Layouts and the protocol are in the parent module's doc.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{
    Keys, StateLogConfig, Update, HEADER_BYTES, KEY_BYTES_MAX, READ_CHUNK_BYTES, RETIRED_SUFFIX,
    STAGED_SUFFIX, STATE_BATCH_BYTES_MAX,
};
use crate::batch::validate_one;
use crate::error::{Error, Result};
use crate::log::{now_ms, FlushPolicy, Log};
use crate::records::{decode_batch_records, encode_batch, BatchMeta, Compression, Record};
use crate::rt::fs::sync_dir;
use crate::validate::AppendOrigin;

/// `path` with `suffix` appended to its last component.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

pub(super) fn parent(path: &Path) -> &Path {
    path.parent().expect("state log paths have a parent")
}

pub(super) fn exists(path: &Path) -> Result<bool> {
    path.try_exists().map_err(|e| Error::io("stat", path, e))
}

pub(super) async fn fsync_parent(path: &Path) -> Result<()> {
    let dir = parent(path);
    sync_dir(dir)
        .await
        .map_err(|e| Error::io("fsync dir", dir, e))
}

pub(super) async fn remove_dir_if_exists(path: &Path) -> Result<()> {
    if exists(path)? {
        std::fs::remove_dir_all(path).map_err(|e| Error::io("rmdir", path, e))?;
        fsync_parent(path).await?;
    }
    Ok(())
}

pub(super) async fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io("rename", from, e))?;
    fsync_parent(to).await
}

/// Points where tests stop a compaction or re-sharding as a crash would (nothing is cleaned up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The staged log is partly written and not synced.
    BuildStaged,
    /// The staged log is complete; the live one is untouched.
    RetireLive,
    /// The live log was renamed to `.old`; no log has the live name.
    InstallStaged,
    /// The staged log is live; the old one is still on disk.
    RemoveRetired,
}

#[cfg(test)]
thread_local! {
    pub(super) static CRASH_AT: std::cell::Cell<Option<Step>> = const { std::cell::Cell::new(None) };
}

/// In tests: fail here, like a crash (the caller cleans nothing up), when asked to.
pub(super) fn crash_point(step: Step) -> Result<()> {
    #[cfg(test)]
    if CRASH_AT.with(|c| c.get()) == Some(step) {
        CRASH_AT.with(|c| c.set(None));
        return Err(Error::InvalidArgument {
            what: format!("injected crash at {step:?}"),
        });
    }
    let _ = step;
    Ok(())
}

/// Replaces directory `live` with the complete directory `staged` (steps 2-4 of the swap
/// protocol in the module doc; the caller did step 1).
pub(super) async fn swap_in(live: &Path, staged: &Path) -> Result<()> {
    let retired = sibling(live, RETIRED_SUFFIX);
    crash_point(Step::RetireLive)?;
    if exists(live)? {
        rename(live, &retired).await?;
    }
    crash_point(Step::InstallStaged)?;
    rename(staged, live).await?;
    crash_point(Step::RemoveRetired)?;
    remove_dir_if_exists(&retired).await
}

/// Finishes or undoes a swap of `live` interrupted by a crash (see the module doc). Returns
/// whether anything was left over.
pub(super) async fn recover_swap(live: &Path) -> Result<bool> {
    let staged = sibling(live, STAGED_SUFFIX);
    let retired = sibling(live, RETIRED_SUFFIX);
    let mut recovered = false;
    if exists(&retired)? {
        if !exists(live)? {
            if !exists(&staged)? {
                return Err(Error::CorruptSegment {
                    path: live.to_path_buf(),
                    position: 0,
                    reason: format!(
                        "a swap was interrupted but neither the live directory nor {} exists",
                        staged.display()
                    ),
                });
            }
            rename(&staged, live).await?;
        }
        remove_dir_if_exists(&retired).await?;
        recovered = true;
    }
    if exists(&staged)? {
        remove_dir_if_exists(&staged).await?;
        recovered = true;
    }
    Ok(recovered)
}

/// Encodes `updates` (one record each) as uncompressed batches of at most
/// [`STATE_BATCH_BYTES_MAX`] bytes.
pub fn encode_updates(updates: &[Update], out: &mut Vec<u8>) -> Result<()> {
    let meta = BatchMeta {
        base_timestamp: now_ms(),
        ..BatchMeta::default()
    };
    let mut chunk: Vec<Record> = Vec::new();
    let mut chunk_bytes = HEADER_BYTES;
    // `estimate` bounds the batch: the header plus each record's upper bound.
    let flush = |chunk: &mut Vec<Record>, estimate: usize, out: &mut Vec<u8>| -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let start = out.len();
        encode_batch(&meta, chunk, Compression::None, out).map_err(|e| Error::InvalidArgument {
            what: format!("encoding a state log batch: {e}"),
        })?;
        debug_assert!(out.len() - start <= estimate && estimate <= STATE_BATCH_BYTES_MAX);
        chunk.clear();
        Ok(())
    };
    for u in updates {
        debug_assert!(u.key.len() <= KEY_BYTES_MAX);
        let bytes = u.record_bytes();
        if chunk_bytes + bytes > STATE_BATCH_BYTES_MAX {
            flush(&mut chunk, chunk_bytes, out)?;
            chunk_bytes = HEADER_BYTES;
        }
        chunk.push(Record {
            offset_delta: chunk.len() as i32,
            timestamp_delta: 0,
            key: Some(u.key.clone()),
            value: u.value.clone(),
            headers: Vec::new(),
        });
        chunk_bytes += bytes;
    }
    flush(&mut chunk, chunk_bytes, out)
}

/// One record read back.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The record's offset.
    pub offset: i64,
    /// Its key (never null in a state log).
    pub key: Bytes,
    /// Its value (`None`: a tombstone).
    pub value: Option<Bytes>,
}

/// Reads a log's records in offset order, [`READ_CHUNK_BYTES`] at a time, checking every batch
/// again (CRC, record count, offsets contiguous, keys present).
pub struct Scan<'a> {
    log: &'a Log,
    next: i64,
    end: i64,
    /// Records below this offset (in the first batch read) are skipped, unless `whole`.
    from: i64,
    chunk_bytes: u64,
    /// Keep every record of the first batch, also those before `from`.
    whole: bool,
}

impl<'a> Scan<'a> {
    /// A scan of the whole log, from its start to its high watermark.
    pub fn new(log: &'a Log) -> Scan<'a> {
        Scan::at(log, log.log_start_offset(), READ_CHUNK_BYTES)
    }

    /// A scan from `offset` (in `[log_start_offset, high_watermark]`) to the high watermark,
    /// reading about `chunk_bytes` per step (at least one whole batch: a small value reads one
    /// batch at a time, for random access by offset).
    pub fn at(log: &'a Log, offset: i64, chunk_bytes: u64) -> Scan<'a> {
        Scan {
            log,
            next: offset,
            end: log.high_watermark(),
            from: offset,
            chunk_bytes: chunk_bytes.max(1),
            whole: false,
        }
    }

    /// A scan from the start of the batch that holds `offset` (every record of that batch is
    /// returned, also those before `offset`): random access that caches whole batches.
    pub fn from_batch_of(log: &'a Log, offset: i64, chunk_bytes: u64) -> Scan<'a> {
        Scan {
            whole: true,
            ..Scan::at(log, offset, chunk_bytes)
        }
    }

    /// The records of the next chunk, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<Entry>>> {
        if self.next >= self.end {
            return Ok(None);
        }
        let read = self.log.read(self.next, self.chunk_bytes).await?;
        assert!(
            !read.slices.is_empty(),
            "{}: read at {} below the high watermark {} returned nothing",
            self.log.dir().display(),
            self.next,
            self.end
        );
        let mut out = Vec::new();
        for slice in &read.slices {
            let bytes = Bytes::from(
                slice
                    .read_to_vec()
                    .await
                    .map_err(|e| Error::io("read", self.log.dir(), e))?,
            );
            let mut at = 0usize;
            while at < bytes.len() {
                let corrupt = |reason: String| Error::CorruptSegment {
                    path: self.log.dir().to_path_buf(),
                    position: slice.position + at as u64,
                    reason,
                };
                let header = validate_one(&bytes[at..], STATE_BATCH_BYTES_MAX as u64)
                    .map_err(|e| corrupt(e.to_string()))?;
                // The first batch of a scan `at` an offset may start before it.
                let first_holds_from = out.is_empty()
                    && self.next == self.from
                    && header.base_offset <= self.from
                    && self.from <= header.last_offset();
                if header.base_offset != self.next && !first_holds_from {
                    return Err(corrupt(format!(
                        "batch at offset {}, expected {}",
                        header.base_offset, self.next
                    )));
                }
                let size = header.size_bytes() as usize;
                let records = decode_batch_records(
                    &bytes.slice(at..at + size),
                    &header,
                    STATE_BATCH_BYTES_MAX,
                )
                .map_err(|e| corrupt(e.to_string()))?;
                for (i, r) in records.into_iter().enumerate() {
                    if r.offset_delta as usize != i {
                        return Err(corrupt(format!(
                            "record {i} has offset delta {}",
                            r.offset_delta
                        )));
                    }
                    let key = r
                        .key
                        .ok_or_else(|| corrupt(format!("record {i} has no key")))?;
                    let offset = header.base_offset + i as i64;
                    if offset < self.from && !self.whole {
                        continue;
                    }
                    out.push(Entry {
                        offset,
                        key,
                        value: r.value,
                    });
                }
                self.next = header
                    .next_offset()
                    .ok_or_else(|| corrupt("offset overflow".into()))?;
                at += size;
            }
        }
        Ok(Some(out))
    }
}

/// Opens the engine log of a state log directory (named `{family}-{shard}` in the engine's
/// errors). A damaged sealed segment fails the open: acknowledged state is never cut off.
pub(super) async fn open_log(
    dir: &Path,
    family: &str,
    shard: usize,
    config: &StateLogConfig,
    flush: FlushPolicy,
) -> Result<Log> {
    Log::open(dir, family, shard as i32, config.log_config(flush), false).await
}

/// Every live record of `log` in log order, after a first pass that finds the latest record of
/// each key.
pub(super) async fn scan_live(
    log: &Log,
    mut each: impl FnMut(Entry) -> Result<()>,
) -> Result<Keys> {
    let mut keys = Keys::default();
    let mut scan = Scan::new(log);
    while let Some(chunk) = scan.next_chunk().await? {
        for e in chunk {
            keys.apply(e.offset, &e.key, e.value.as_ref().map(Bytes::len));
        }
    }
    let mut scan = Scan::new(log);
    let mut live = 0usize;
    while let Some(chunk) = scan.next_chunk().await? {
        for e in chunk {
            if keys.is_latest(&e.key, e.offset) {
                assert!(
                    e.value.is_some(),
                    "a live key's latest record is a tombstone"
                );
                live += 1;
                each(e)?;
            }
        }
    }
    assert_eq!(live, keys.map.len(), "replay saw every live key once");
    Ok(keys)
}

/// Fills a fresh log (compaction, re-sharding): records are buffered into batches of up to
/// [`STATE_BATCH_BYTES_MAX`], one engine append each; record `i` gets offset `i`.
pub(super) struct FreshWriter<'a> {
    log: &'a Log,
    pending: Vec<Update>,
    pending_bytes: usize,
    written: i64,
}

impl<'a> FreshWriter<'a> {
    pub(super) fn new(log: &'a Log) -> FreshWriter<'a> {
        assert_eq!(log.log_end_offset(), 0, "a fresh log is empty");
        FreshWriter {
            log,
            pending: Vec::new(),
            pending_bytes: HEADER_BYTES,
            written: 0,
        }
    }

    /// Buffers `u`; its key and value are copied (they may be slices of a large read buffer).
    pub(super) async fn push(&mut self, u: &Update) -> Result<()> {
        if self.pending_bytes + u.record_bytes() > STATE_BATCH_BYTES_MAX {
            self.write_pending().await?;
        }
        self.pending_bytes += u.record_bytes();
        self.pending.push(Update {
            key: Bytes::copy_from_slice(&u.key),
            value: u.value.as_deref().map(Bytes::copy_from_slice),
        });
        Ok(())
    }

    async fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(self.pending_bytes);
        encode_updates(&self.pending, &mut buf)?;
        let base = self.log.append_as(buf, AppendOrigin::Internal).await?;
        assert_eq!(
            base, self.written,
            "a fresh log's records are numbered from 0"
        );
        self.written += self.pending.len() as i64;
        self.pending.clear();
        self.pending_bytes = HEADER_BYTES;
        crash_point(Step::BuildStaged)
    }

    /// Writes what is buffered and makes the whole log durable; returns the record count.
    pub(super) async fn finish(mut self) -> Result<i64> {
        self.write_pending().await?;
        self.log.flush().await?;
        assert_eq!(self.log.log_end_offset(), self.written);
        sync_dir(self.log.dir())
            .await
            .map_err(|e| Error::io("fsync dir", self.log.dir(), e))?;
        Ok(self.written)
    }
}
