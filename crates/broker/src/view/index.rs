//! The filter index: for every batch of an indexed topic, a [`BatchSummary`] written at append
//! time, from which a view's filter decides "every record matches" / "no record matches" without
//! reading the batch.
//!
//! One sidecar file per segment, next to it in the partition's directory,
//! `{segment base offset:020}.filter`:
//! ```text
//! file header (16 bytes): magic "RLFI" | version u16 BE = 2 | reserved u16 = 0 | segment base i64 BE
//! entry: length u32 BE (bytes after this field) | crc32c u32 BE (of the bytes after it)
//!        | batch base offset i64 BE | batch last offset i64 BE | batch CRC u32 BE (as stored in
//!        the batch header) | batch size u32 BE | summary (BatchSummary::encode, the rest)
//! ```
//! Entries are appended in no particular order (an append's entries, a batch summarized when a
//! fetch or the builder read it); the file is read until its first damaged entry.
//!
//! # Never trusted
//! The sidecar is written without fsync and may be stale, torn or damaged, so an entry read from
//! it is *unverified*: it is used for a batch only when its base offset, last offset and batch
//! CRC equal those of the header a read found in the segment, which makes it *verified* (with
//! the header's size). Entries made in this process from the batch itself (at append, or when a
//! read or the builder summarized it) are verified. A damaged, stale or missing entry makes the
//! batch *unindexed*: it is read and filtered record by record (and its summary recorded
//! again). The per-shard builder ([`crate::view::run_upkeep`]) walks every indexed partition
//! from its start after each start of the broker, reading only batch headers, which verifies
//! the entries that hold and summarizes what is missing, so a damaged index is rebuilt in the
//! background.
//!
//! Verified entries let a view's read walk a segment without reading it
//! ([`Indexes::next_verified`]): from a batch whose place it knows, the next batch of the
//! segment starts where that one ends (a segment's batches are contiguous in offsets and
//! bytes), so a run of batches that no record of which matches costs a few map lookups, not a
//! header read each.
//!
//! # Bounds
//! Summaries held in memory are bounded per shard ([`LOADED_BYTES_MAX`]; least recently used
//! segments are dropped from memory and read again from their sidecar when needed), entries per
//! segment by [`ENTRIES_PER_SEGMENT_MAX`], and unwritten entries per segment by
//! [`PENDING_BYTES_MAX`] (written at once past it, else by the periodic flush).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use crate::storage::batch::BatchHeader;
use crate::view::summary::{BatchSummary, SUMMARY_BYTES_MAX};

/// File extension of a segment's filter index.
pub const SIDECAR_EXT: &str = "filter";
/// Magic bytes at the start of a sidecar.
const MAGIC: &[u8; 4] = b"RLFI";
/// Format version (2: entries carry the batch size; a sidecar of another version is not read,
/// and its segment is indexed again).
const VERSION: u16 = 2;
/// Bytes of the file header.
const FILE_HEADER_BYTES: usize = 16;
/// Bytes of an entry before its summary, after its length field.
const ENTRY_FIXED_BYTES: usize = 4 + 8 + 8 + 4 + 4;
/// Bytes of an entry's body (after the crc) before its summary.
const BODY_FIXED_BYTES: usize = ENTRY_FIXED_BYTES - 4;
/// Summaries a shard keeps in memory at most, in bytes (estimated): 64 MiB holds the summaries
/// of some 500,000 batches, the batches of ~8 GiB of 16 KiB batches; more is read back from the
/// sidecars as fetches need it.
pub const LOADED_BYTES_MAX: usize = 64 << 20;
/// Entries of one segment at most: a segment of tiny batches past this is indexed in part (the
/// rest is read and filtered record by record), so no segment can take the whole budget.
pub const ENTRIES_PER_SEGMENT_MAX: usize = 262_144;
/// Unwritten entry bytes of one segment past which they are written at once (else every
/// [`FLUSH_INTERVAL_MS`]).
pub const PENDING_BYTES_MAX: usize = 64 << 10;
/// How often unwritten entries are written.
pub const FLUSH_INTERVAL_MS: u64 = 200;
/// Largest sidecar read into memory (the largest a full segment's entries can take).
const SIDECAR_BYTES_MAX: u64 = (FILE_HEADER_BYTES
    + ENTRIES_PER_SEGMENT_MAX * (8 + ENTRY_FIXED_BYTES + SUMMARY_BYTES_MAX))
    as u64;

/// A batch's summary, with the last decision a view made from it (views re-read the same
/// batches; a filter's decision can cost thousands of small evaluations).
#[derive(Debug)]
pub struct Summarized {
    /// The summary.
    pub summary: BatchSummary,
    /// `(view id, decision)` of the last view that decided this batch (id 0: none).
    pub decided: Cell<(u64, crate::view::filter::Decision)>,
}

impl Summarized {
    fn new(summary: BatchSummary) -> Rc<Summarized> {
        Rc::new(Summarized {
            summary,
            decided: Cell::new((0, crate::view::filter::Decision::Mixed)),
        })
    }
}

/// What the index knows about one batch.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The batch's last offset.
    pub last_offset: i64,
    /// The batch's CRC, as stored in its header.
    pub crc: u32,
    /// The batch's size in bytes.
    pub size: u32,
    /// Checked against the batch's header (or made from the batch) in this process.
    pub verified: bool,
    /// The summary.
    pub summary: Rc<Summarized>,
    /// Its encoded size (for the memory estimate).
    encoded_bytes: usize,
}

/// Estimated memory of one entry with a summary of `encoded` bytes.
fn entry_cost(encoded: usize) -> usize {
    std::mem::size_of::<Entry>() + 48 + 2 * encoded
}

/// One segment's part of a partition's index.
#[derive(Debug, Default)]
struct Seg {
    /// Entries by batch base offset; `None` when not in memory (they are in the sidecar).
    entries: Option<BTreeMap<i64, Entry>>,
    /// Estimated memory of `entries`.
    bytes: usize,
    /// Bytes of the sidecar written or being written (the next write goes here).
    file_len: u64,
    /// Encoded entries not written yet.
    pending: Vec<u8>,
    /// Entries written or pending (bounded by [`ENTRIES_PER_SEGMENT_MAX`]).
    count: usize,
    /// Use clock for eviction.
    last_used: u64,
}

/// One partition's index.
#[derive(Debug)]
struct Part {
    dir: PathBuf,
    segs: BTreeMap<i64, Seg>,
    /// The builder has checked every batch below this offset (since the broker started).
    built_to: i64,
}

/// Every indexed partition of one shard.
pub struct Indexes {
    parts: RefCell<HashMap<(Arc<str>, i32), Part>>,
    loaded_bytes: Cell<usize>,
    clock: Cell<u64>,
    /// [`LOADED_BYTES_MAX`] (smaller in tests).
    loaded_bytes_max: usize,
    /// [`ENTRIES_PER_SEGMENT_MAX`] (smaller in tests).
    entries_per_segment_max: usize,
}

impl Default for Indexes {
    fn default() -> Indexes {
        Indexes::with_bounds(LOADED_BYTES_MAX, ENTRIES_PER_SEGMENT_MAX)
    }
}

/// The sidecar of segment `base` in `dir`.
pub fn sidecar_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.{SIDECAR_EXT}"))
}

/// Parses `{base:020}.filter`.
fn parse_sidecar_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".filter")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Encodes one entry.
fn encode_entry(h: &BatchHeader, summary: &BatchSummary, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0u8; 8]); // length and crc, filled below
    out.extend_from_slice(&h.base_offset.to_be_bytes());
    out.extend_from_slice(&h.last_offset().to_be_bytes());
    out.extend_from_slice(&h.crc.to_be_bytes());
    out.extend_from_slice(&(h.size_bytes() as u32).to_be_bytes());
    summary.encode(out);
    let len = (out.len() - at - 4) as u32;
    let crc = crc32c::crc32c(&out[at + 8..]);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    out[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
}

/// The file header of segment `base`'s sidecar.
fn file_header(base: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_HEADER_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&base.to_be_bytes());
    out
}

/// Decodes a sidecar: its entries up to the first damaged one, and the length of the good
/// prefix (where the next entry is written). A file of another segment or format has none.
fn decode_sidecar(base: i64, bytes: &[u8]) -> (Vec<(i64, Entry)>, u64) {
    if bytes.len() < FILE_HEADER_BYTES || bytes[..FILE_HEADER_BYTES] != file_header(base)[..] {
        return (Vec::new(), 0);
    }
    let mut out = Vec::new();
    let mut at = FILE_HEADER_BYTES;
    while out.len() < ENTRIES_PER_SEGMENT_MAX {
        let Some(head) = bytes.get(at..at + 8) else {
            break;
        };
        let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(head[4..].try_into().expect("4 bytes"));
        if !(ENTRY_FIXED_BYTES..=ENTRY_FIXED_BYTES + SUMMARY_BYTES_MAX).contains(&len) {
            break;
        }
        let Some(body) = bytes.get(at + 8..at + 4 + len) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        let base_offset = i64::from_be_bytes(body[..8].try_into().expect("8 bytes"));
        let last_offset = i64::from_be_bytes(body[8..16].try_into().expect("8 bytes"));
        let batch_crc = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes"));
        let size = u32::from_be_bytes(body[20..24].try_into().expect("4 bytes"));
        let Ok(summary) = BatchSummary::decode(&body[BODY_FIXED_BYTES..]) else {
            break;
        };
        if base_offset < base || last_offset < base_offset {
            break;
        }
        out.push((
            base_offset,
            Entry {
                last_offset,
                crc: batch_crc,
                size,
                verified: false,
                summary: Summarized::new(summary),
                encoded_bytes: body.len() - BODY_FIXED_BYTES,
            },
        ));
        at += 4 + len;
    }
    (out, at as u64)
}

/// The segment holding `offset`: the greatest of `bases` not above it.
pub fn segment_of(bases: &[i64], offset: i64) -> Option<i64> {
    let i = bases.partition_point(|b| *b <= offset);
    (i > 0).then(|| bases[i - 1])
}

impl Indexes {
    /// Indexes with other bounds than the broker's (tests reach them with a few entries).
    pub fn with_bounds(loaded_bytes_max: usize, entries_per_segment_max: usize) -> Indexes {
        Indexes {
            parts: RefCell::default(),
            loaded_bytes: Cell::new(0),
            clock: Cell::new(0),
            loaded_bytes_max,
            entries_per_segment_max: entries_per_segment_max.min(ENTRIES_PER_SEGMENT_MAX),
        }
    }

    /// Estimated bytes of the summaries in memory.
    pub fn loaded_bytes(&self) -> usize {
        self.loaded_bytes.get()
    }

    fn tick(&self) -> u64 {
        let t = self.clock.get() + 1;
        self.clock.set(t);
        t
    }

    /// Starts indexing a partition whose log is in `dir`: the segments that have a sidecar are
    /// known (their entries are read when first needed). Nothing happens if it is indexed
    /// already.
    pub fn open(&self, topic: &Arc<str>, partition: i32, dir: &Path, log_start: i64) {
        let key = (topic.clone(), partition);
        if self.parts.borrow().contains_key(&key) {
            return;
        }
        let mut segs = BTreeMap::new();
        if let Ok(listing) = std::fs::read_dir(dir) {
            for entry in listing.flatten() {
                let name = entry.file_name();
                let Some(base) = name.to_str().and_then(parse_sidecar_name) else {
                    continue;
                };
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                segs.insert(
                    base,
                    Seg {
                        file_len: len,
                        ..Seg::default()
                    },
                );
            }
        }
        self.parts.borrow_mut().insert(
            key,
            Part {
                dir: dir.to_path_buf(),
                segs,
                built_to: log_start,
            },
        );
    }

    /// Stops indexing a partition (its topic was deleted, or has no views left); its entries
    /// leave memory (the sidecars stay with the log).
    pub fn close(&self, topic: &Arc<str>, partition: i32) {
        let key = (topic.clone(), partition);
        if let Some(part) = self.parts.borrow_mut().remove(&key) {
            let freed: usize = part.segs.values().map(|s| s.bytes).sum();
            self.loaded_bytes
                .set(self.loaded_bytes.get().saturating_sub(freed));
        }
    }

    /// The partitions indexed on this shard.
    pub fn partitions(&self) -> Vec<(Arc<str>, i32)> {
        self.parts.borrow().keys().cloned().collect()
    }

    /// Where the builder goes on in this partition.
    pub fn built_to(&self, topic: &Arc<str>, partition: i32) -> Option<i64> {
        self.parts
            .borrow()
            .get(&(topic.clone(), partition))
            .map(|p| p.built_to)
    }

    /// Records the builder's progress.
    pub fn set_built_to(&self, topic: &Arc<str>, partition: i32, offset: i64) {
        if let Some(p) = self.parts.borrow_mut().get_mut(&(topic.clone(), partition)) {
            p.built_to = offset;
        }
    }

    /// Reads into memory the entries of the segments (of `bases`, the log's segments) that
    /// hold offsets `from..=to`, within the memory budget.
    pub async fn load(&self, topic: &Arc<str>, partition: i32, bases: &[i64], from: i64, to: i64) {
        let key = (topic.clone(), partition);
        let wanted: Vec<(i64, PathBuf, u64)> = {
            let parts = self.parts.borrow();
            let Some(part) = parts.get(&key) else {
                return;
            };
            let first = segment_of(bases, from).unwrap_or(from);
            part.segs
                .range(first..=to)
                .filter(|(_, s)| s.entries.is_none())
                .map(|(b, s)| (*b, sidecar_path(&part.dir, *b), s.file_len))
                .collect()
        };
        for (base, path, len) in wanted {
            let (entries, good) = if len == 0 || len > SIDECAR_BYTES_MAX {
                (Vec::new(), 0)
            } else {
                match read_file(&path, len).await {
                    Ok(bytes) => decode_sidecar(base, &bytes),
                    Err(e) => {
                        tracing::warn!(
                            "reading the filter index {}: {e}; its batches are filtered by \
                             reading them until it is rebuilt",
                            path.display()
                        );
                        (Vec::new(), 0)
                    }
                }
            };
            let cost: usize = entries
                .iter()
                .map(|(_, e)| entry_cost(e.encoded_bytes))
                .sum();
            self.make_room(cost);
            if self.loaded_bytes.get() + cost > self.loaded_bytes_max {
                // Nothing more can leave memory: this segment's batches are read and filtered
                // record by record until it can be loaded.
                tracing::debug!(
                    "filter index {}: {cost} bytes do not fit the budget of {} now",
                    path.display(),
                    self.loaded_bytes_max
                );
                continue;
            }
            let now = self.tick();
            let mut parts = self.parts.borrow_mut();
            let Some(seg) = parts.get_mut(&key).and_then(|p| p.segs.get_mut(&base)) else {
                continue;
            };
            if seg.entries.is_some() {
                continue; // loaded meanwhile
            }
            if good < len && seg.pending.is_empty() {
                // A damaged tail: the next entry overwrites it (the file is cut first).
                if let Err(e) = cut_file(&path, good) {
                    tracing::warn!("cutting the damaged filter index {}: {e}", path.display());
                }
                seg.file_len = good;
            }
            let mut map = BTreeMap::new();
            for (b, e) in entries {
                map.insert(b, e);
            }
            seg.count = seg.count.max(map.len());
            seg.entries = Some(map);
            seg.bytes = cost;
            seg.last_used = now;
            self.loaded_bytes.set(self.loaded_bytes.get() + cost);
        }
    }

    /// Drops least recently used segments' entries from memory until `cost` more fits the
    /// budget (segments with unwritten entries stay).
    fn make_room(&self, cost: usize) {
        while self.loaded_bytes.get() + cost > self.loaded_bytes_max {
            let mut parts = self.parts.borrow_mut();
            let victim = parts
                .iter()
                .flat_map(|(k, p)| p.segs.iter().map(move |(b, s)| (k, *b, s)))
                .filter(|(_, _, s)| s.entries.is_some() && s.pending.is_empty() && s.bytes > 0)
                .min_by_key(|(_, _, s)| s.last_used)
                .map(|(k, b, _)| (k.clone(), b));
            let Some((key, base)) = victim else {
                return;
            };
            if let Some(seg) = parts.get_mut(&key).and_then(|p| p.segs.get_mut(&base)) {
                seg.entries = None;
                self.loaded_bytes
                    .set(self.loaded_bytes.get().saturating_sub(seg.bytes));
                seg.bytes = 0;
            }
        }
    }

    /// The summary of the batch whose header is `h`, if the index has a matching entry (same
    /// offsets and CRC) in memory.
    pub fn lookup(
        &self,
        topic: &Arc<str>,
        partition: i32,
        bases: &[i64],
        h: &BatchHeader,
    ) -> Option<Rc<Summarized>> {
        let seg_base = segment_of(bases, h.base_offset)?;
        let now = self.tick();
        let mut parts = self.parts.borrow_mut();
        let seg = parts
            .get_mut(&(topic.clone(), partition))?
            .segs
            .get_mut(&seg_base)?;
        seg.last_used = now;
        let e = seg.entries.as_mut()?.get_mut(&h.base_offset)?;
        if e.last_offset != h.last_offset() || e.crc != h.crc {
            return None;
        }
        // The header the read found vouches for the entry from now on.
        e.verified = true;
        e.size = h.size_bytes() as u32;
        Some(e.summary.clone())
    }

    /// The verified entry of the batch at `offset` of segment `seg_base` (in memory): its last
    /// offset, size and summary. A verified entry describes the batch the segment holds there,
    /// so a read that knows where the batch before it ended knows where this one is.
    pub fn next_verified(
        &self,
        topic: &Arc<str>,
        partition: i32,
        seg_base: i64,
        offset: i64,
    ) -> Option<(i64, u64, Rc<Summarized>)> {
        let now = self.tick();
        let mut parts = self.parts.borrow_mut();
        let seg = parts
            .get_mut(&(topic.clone(), partition))?
            .segs
            .get_mut(&seg_base)?;
        seg.last_used = now;
        let e = seg.entries.as_ref()?.get(&offset)?;
        e.verified
            .then(|| (e.last_offset, u64::from(e.size), e.summary.clone()))
    }

    /// True when the index has an entry for the batch `h` (in memory, matching), or cannot
    /// take one (its segment is full of entries).
    pub fn covers(&self, topic: &Arc<str>, partition: i32, bases: &[i64], h: &BatchHeader) -> bool {
        if self.lookup(topic, partition, bases, h).is_some() {
            return true;
        }
        let Some(seg_base) = segment_of(bases, h.base_offset) else {
            return true;
        };
        let parts = self.parts.borrow();
        parts
            .get(&(topic.clone(), partition))
            .and_then(|p| p.segs.get(&seg_base))
            .is_some_and(|s| s.count >= self.entries_per_segment_max)
    }

    /// Records the summary of batch `h` (of the segment of `bases` that holds it); written to
    /// the sidecar with the next flush, or at once past [`PENDING_BYTES_MAX`]. Returns true when
    /// a flush is due now.
    pub fn record(
        &self,
        topic: &Arc<str>,
        partition: i32,
        bases: &[i64],
        h: &BatchHeader,
        summary: BatchSummary,
    ) -> bool {
        let Some(seg_base) = segment_of(bases, h.base_offset) else {
            return false;
        };
        let now = self.tick();
        let mut parts = self.parts.borrow_mut();
        let Some(part) = parts.get_mut(&(topic.clone(), partition)) else {
            return false;
        };
        let seg = part.segs.entry(seg_base).or_insert_with(|| Seg {
            // A segment new to the index: nothing on disk, nothing to read back.
            entries: Some(BTreeMap::new()),
            ..Seg::default()
        });
        if seg.count >= self.entries_per_segment_max {
            return false;
        }
        if let Some(entries) = seg.entries.as_ref() {
            if entries
                .get(&h.base_offset)
                .is_some_and(|e| e.last_offset == h.last_offset() && e.crc == h.crc)
            {
                return false;
            }
        }
        let before = seg.pending.len();
        encode_entry(h, &summary, &mut seg.pending);
        let encoded_bytes = seg.pending.len() - before - 4 - ENTRY_FIXED_BYTES;
        seg.count += 1;
        seg.last_used = now;
        if let Some(entries) = seg.entries.as_mut() {
            let cost = entry_cost(encoded_bytes);
            entries.insert(
                h.base_offset,
                Entry {
                    last_offset: h.last_offset(),
                    crc: h.crc,
                    size: h.size_bytes() as u32,
                    verified: true,
                    summary: Summarized::new(summary),
                    encoded_bytes,
                },
            );
            seg.bytes += cost;
            self.loaded_bytes.set(self.loaded_bytes.get() + cost);
        }
        let flush_now = seg.pending.len() >= PENDING_BYTES_MAX;
        drop(parts);
        if self.loaded_bytes.get() > self.loaded_bytes_max {
            self.make_room(0);
        }
        flush_now
    }

    /// Writes every partition's unwritten entries, and forgets the sidecars of segments the
    /// log no longer has (`bases_of` gives a partition's segments, `None` once it is gone).
    pub async fn flush(&self, bases_of: impl Fn(&str, i32) -> Option<Vec<i64>>) {
        let keys = self.partitions();
        for (topic, partition) in keys {
            let Some(bases) = bases_of(&topic, partition) else {
                self.close(&topic, partition);
                continue;
            };
            self.forget_deleted(&topic, partition, &bases);
            self.flush_partition(&topic, partition).await;
        }
    }

    /// Drops the entries and sidecars of segments below the log's first segment (retention
    /// deleted them).
    fn forget_deleted(&self, topic: &Arc<str>, partition: i32, bases: &[i64]) {
        let first = bases.first().copied().unwrap_or(i64::MAX);
        let mut parts = self.parts.borrow_mut();
        let Some(part) = parts.get_mut(&(topic.clone(), partition)) else {
            return;
        };
        let gone: Vec<i64> = part.segs.range(..first).map(|(b, _)| *b).collect();
        for base in gone {
            if let Some(seg) = part.segs.remove(&base) {
                self.loaded_bytes
                    .set(self.loaded_bytes.get().saturating_sub(seg.bytes));
            }
            let path = sidecar_path(&part.dir, base);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("removing the filter index {}: {e}", path.display()),
            }
        }
    }

    /// Writes one partition's unwritten entries.
    pub async fn flush_partition(&self, topic: &Arc<str>, partition: i32) {
        let writes: Vec<(PathBuf, u64, Vec<u8>)> = {
            let mut parts = self.parts.borrow_mut();
            let Some(part) = parts.get_mut(&(topic.clone(), partition)) else {
                return;
            };
            let dir = part.dir.clone();
            part.segs
                .iter_mut()
                .filter(|(_, s)| !s.pending.is_empty())
                .map(|(base, s)| {
                    let mut buf = std::mem::take(&mut s.pending);
                    if s.file_len == 0 {
                        let mut with_header = file_header(*base);
                        with_header.append(&mut buf);
                        buf = with_header;
                    }
                    let at = s.file_len;
                    s.file_len += buf.len() as u64;
                    (sidecar_path(&dir, *base), at, buf)
                })
                .collect()
        };
        for (path, at, buf) in writes {
            if let Err(e) = write_file(&path, at, buf).await {
                // The entries are lost on disk (a later start rebuilds them); in memory they
                // stay right.
                tracing::warn!("writing the filter index {}: {e}", path.display());
            }
        }
    }
}

/// Reads a whole small file.
async fn read_file(path: &Path, len: u64) -> std::io::Result<Vec<u8>> {
    let file = crate::runtime::fs::File::from_std(std::fs::File::open(path)?);
    let (r, buf) = file.read_exact_at(vec![0u8; len as usize], 0).await;
    r.map(|()| buf)
}

/// Writes `buf` at `at` of `path` (created if missing).
async fn write_file(path: &Path, at: u64, buf: Vec<u8>) -> std::io::Result<()> {
    let file = crate::runtime::fs::File::from_std(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?,
    );
    let (r, _) = file.write_all_at(buf, at).await;
    r
}

/// Cuts `path` to `len` bytes.
fn cut_file(path: &Path, len: u64) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .set_len(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base: i64, last: i64, crc: u32) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc,
            attributes: 0,
            last_offset_delta: (last - base) as i32,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: (last - base + 1) as i32,
        }
    }

    fn summary() -> BatchSummary {
        BatchSummary::of_records(&[])
    }

    #[test]
    fn sidecars_decode_up_to_the_first_damaged_entry() {
        let mut bytes = file_header(100);
        for (b, l) in [(100, 104), (105, 105), (106, 120)] {
            encode_entry(&header(b, l, b as u32), &summary(), &mut bytes);
        }
        let (all, len) = decode_sidecar(100, &bytes);
        assert_eq!(all.len(), 3);
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(all[2].0, 106);
        assert_eq!(all[2].1.last_offset, 120);
        // Torn tail.
        let (some, len) = decode_sidecar(100, &bytes[..bytes.len() - 3]);
        assert_eq!(some.len(), 2);
        assert!(len < bytes.len() as u64);
        // A flipped byte in the second entry: only the first is kept.
        let mut flipped = bytes.clone();
        let second = FILE_HEADER_BYTES + (bytes.len() - FILE_HEADER_BYTES) / 3 + 10;
        flipped[second] ^= 0x40;
        assert_eq!(decode_sidecar(100, &flipped).0.len(), 1);
        // Another segment's file, or garbage, has nothing.
        assert!(decode_sidecar(0, &bytes).0.is_empty());
        assert!(decode_sidecar(100, b"garbage").0.is_empty());
        assert!(decode_sidecar(100, &[]).0.is_empty());
    }

    #[test]
    fn lookups_need_matching_offsets_and_crc() {
        let ix = Indexes::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let t: Arc<str> = Arc::from("t");
        ix.open(&t, 0, dir.path(), 0);
        let bases = [0, 50];
        assert!(!ix.record(&t, 0, &bases, &header(10, 19, 7), summary()));
        assert!(ix.lookup(&t, 0, &bases, &header(10, 19, 7)).is_some());
        assert!(ix.lookup(&t, 0, &bases, &header(10, 19, 8)).is_none());
        assert!(ix.lookup(&t, 0, &bases, &header(10, 18, 7)).is_none());
        assert!(ix.lookup(&t, 0, &bases, &header(20, 29, 7)).is_none());
        assert!(ix.lookup(&t, 1, &bases, &header(10, 19, 7)).is_none());
        // Made from the batch: verified, with its size.
        let (last, size, _) = ix.next_verified(&t, 0, 0, 10).expect("verified");
        assert_eq!((last, size), (19, header(10, 19, 7).size_bytes()));
        assert!(ix.next_verified(&t, 0, 0, 11).is_none());
        assert!(ix.next_verified(&t, 0, 50, 10).is_none());
    }

    #[test]
    fn entries_read_back_are_verified_only_by_a_matching_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t: Arc<str> = Arc::from("t");
        let bases = [0];
        let mut h = header(0, 9, 7);
        h.batch_length = 100;
        {
            let ix = Indexes::default();
            ix.open(&t, 0, dir.path(), 0);
            ix.record(&t, 0, &bases, &h, summary());
            crate::runtime::block_on(
                &crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Epoll),
                ix.flush_partition(&t, 0),
            )
            .expect("runtime");
        }
        let ix = Indexes::default();
        ix.open(&t, 0, dir.path(), 0);
        crate::runtime::block_on(
            &crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Epoll),
            ix.load(&t, 0, &bases, 0, 9),
        )
        .expect("runtime");
        assert!(
            ix.next_verified(&t, 0, 0, 0).is_none(),
            "read back: unverified"
        );
        assert!(
            ix.lookup(&t, 0, &bases, &header(0, 9, 8)).is_none(),
            "another CRC"
        );
        assert!(ix.next_verified(&t, 0, 0, 0).is_none());
        assert!(ix.lookup(&t, 0, &bases, &h).is_some());
        let (last, size, _) = ix
            .next_verified(&t, 0, 0, 0)
            .expect("verified by its header");
        assert_eq!((last, size), (9, h.size_bytes()));
        assert_eq!(segment_of(&[0, 50], 49), Some(0));
        assert_eq!(segment_of(&[0, 50], 50), Some(50));
        assert_eq!(segment_of(&[0, 50], -1), None);
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        crate::runtime::block_on(
            &crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Epoll),
            f,
        )
        .expect("runtime")
    }

    #[test]
    fn memory_stays_within_the_budget_and_evicted_segments_come_back_from_their_sidecar() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t: Arc<str> = Arc::from("t");
        // Room for about 10 entries.
        let budget = 10 * entry_cost(BatchSummary::of_records(&[]).encoded_len());
        let ix = Indexes::with_bounds(budget, ENTRIES_PER_SEGMENT_MAX);
        ix.open(&t, 0, dir.path(), 0);
        let bases = [0, 100, 200];
        for base in bases {
            for k in 0..8 {
                let h = header(base + k * 10, base + k * 10 + 9, k as u32);
                ix.record(&t, 0, &bases, &h, summary());
            }
            // Written: only segments without unwritten entries may leave memory.
            run(ix.flush_partition(&t, 0));
        }
        assert!(
            ix.loaded_bytes() <= budget,
            "{} bytes loaded, budget {budget}",
            ix.loaded_bytes()
        );
        // The oldest segment left memory; its batches are unindexed until loaded again.
        assert!(ix.next_verified(&t, 0, 0, 0).is_none());
        assert!(ix.next_verified(&t, 0, 200, 200).is_some());
        run(ix.load(&t, 0, &bases, 0, 79));
        assert!(ix.loaded_bytes() <= budget);
        assert!(
            ix.lookup(&t, 0, &bases, &header(0, 9, 0)).is_some(),
            "read back"
        );
        assert!(
            ix.next_verified(&t, 0, 0, 10).is_none(),
            "read back: unverified"
        );
    }

    #[test]
    fn a_segment_takes_at_most_its_entry_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t: Arc<str> = Arc::from("t");
        let ix = Indexes::with_bounds(LOADED_BYTES_MAX, 3);
        ix.open(&t, 0, dir.path(), 0);
        let bases = [0];
        for k in 0..5 {
            ix.record(&t, 0, &bases, &header(k * 10, k * 10 + 9, 1), summary());
        }
        assert!(ix.next_verified(&t, 0, 0, 20).is_some());
        assert!(ix.next_verified(&t, 0, 0, 30).is_none(), "past the bound");
        // A full segment counts as covered: nobody reads its other batches to index them.
        assert!(ix.covers(&t, 0, &bases, &header(40, 49, 1)));
    }

    #[test]
    fn names_parse() {
        assert_eq!(parse_sidecar_name("00000000000000000042.filter"), Some(42));
        assert_eq!(parse_sidecar_name("00000000000000000042.log"), None);
        assert_eq!(parse_sidecar_name("42.filter"), None);
        assert_eq!(
            sidecar_path(Path::new("d"), 7),
            Path::new("d").join("00000000000000000007.filter")
        );
    }
}
