//! Log compaction (`cleanup.policy=compact`): the cleaner rewrites a log's sealed segments
//! keeping the latest record of each key, as Kafka's `LogCleaner` does, in bounded steps on the
//! log's own shard.
//!
//! # What a pass does
//! A log has a *clean* part (offsets below `clean_end`, cleaned by an earlier pass, persisted in
//! `cleaner.checkpoint`) and a *dirty* part after it. Only the *cleanable* range is touched: the
//! sealed segments (never the active one) that end at or below the first unstable offset (the
//! oldest open transaction; it is never above the high watermark), stopping at the first
//! segment whose newest batch is younger than `min_compaction_lag_ms`.
//!
//! 1. **Map**: the dirty cleanable batches are read in offset order and every keyed record of a
//!    data batch that is not part of an aborted transaction goes into the *offset map*: a hash
//!    of its key (128 bits: two SipHash-1-3 with keys drawn for the pass, so collisions are as
//!    unlikely as Kafka's MD5 and cannot be provoked by chosen keys) to its offset, the latest
//!    winning. The map holds at most [`CompactBudget::map_keys_max`] keys (about 30 bytes
//!    each); when the next batch would not fit, mapping stops there (at a batch boundary) and
//!    the rest stays dirty for the next pass. `map_end` is one past the last mapped batch.
//! 2. **Rewrite**: every cleanable segment that starts below `map_end` is copied, from the log
//!    start, into cleaned segments. For a batch below `map_end`:
//!    - a data record is kept when it has a key, the map has no later offset for that key, and
//!      it is not a tombstone (null value) older than `delete_retention_ms`; records of aborted
//!      transactions ([`crate::txn`]'s aborted list) are removed;
//!    - a transaction marker (control batch) is removed once no batch of its transaction is
//!      left and it is older than `delete_retention_ms`;
//!    - a batch keeping every record is copied byte for byte; one keeping some is rewritten
//!      with its original base offset, last offset delta (so the producer's last sequence stays
//!      what it was), producer id, epoch, base sequence, attributes, base timestamp and codec,
//!      the kept records' bytes unchanged (offset and timestamp deltas stay right), the max
//!      timestamp recomputed over the kept records (create time), and a new CRC; one keeping
//!      none is dropped, leaving a gap in the offsets.
//!
//!    Batches at or after `map_end` are copied as they are. Offsets of kept records never
//!    change, nor does their order; the log start offset stays.
//! 3. **Swap**: consecutive source segments are merged into one cleaned segment while the
//!    cleaned bytes so far plus the next source's bytes fit `segment_bytes` (and its offsets fit
//!    a segment), so a compacted log's segment count falls. Each cleaned segment replaces its
//!    sources on disk and in memory (below), then the next group starts.
//! 4. The checkpoint records `clean_end = map_end` and when the earliest tombstone or marker
//!    kept becomes removable (a log with nothing dirty is cleaned again then).
//!
//! # Tombstone and marker retention
//! Kafka keeps a tombstone `delete.retention.ms` past the time the cleaner first cleaned it
//! (a delete horizon written into the batch, KIP-534). ringlog measures from the batch instead:
//! a tombstone or marker is removable once its batch's max timestamp plus
//! `delete_retention_ms` is in the past (`max_timestamp + delete_retention_ms < now`). The
//! marker's timestamp is the broker's clock; a tombstone's is its producer's (create time) or
//! the broker's (log-append time). A batch without a timestamp (-1) is never removable by age.
//! A consumer that reads the log from the start within `delete_retention_ms` of a delete
//! (by its timestamp) sees the tombstone.
//!
//! # Idempotent producers and transactions
//! The last data batch of every producer the log tracks is kept, even when the cleaner removes
//! all its records: it is written with **zero records** (`records_count = 0`, no records, codec
//! none, the original header fields otherwise), as Kafka writes it (`BatchRetention.RETAIN_EMPTY`).
//! An empty batch rather than its last record: the header alone carries the producer id,
//! epoch and last sequence, it costs 61 bytes whatever the records were, and it does not bring
//! back a record the key's newer value superseded. A rebuild of the producer state from the
//! log (no snapshot) then finds every producer where it was, so a retried batch is still a
//! duplicate. A marker after the producer's last data batch, in its current epoch, is kept too
//! (its epoch fences zombies). The pass never cleans at or past the first unstable offset.
//! Aborted transactions' `.txnindex` entries go with their data: a cleaned segment's index keeps
//! an entry only while a batch of that transaction is kept (a read_committed consumer would
//! otherwise skip the producer's later batches until a marker the cleaner may remove).
//!
//! # Bounded steps on the shard
//! [`Log::compact_step`] does at most a budget of bytes of reading and writing
//! ([`CompactBudget`], [`COMPACT_STEP_BYTES_DEFAULT`]) and returns; the pass's state waits in
//! the log for the next step. The broker calls it from a per-shard cleaner task between
//! requests. On the shard rather than on a thread of its own, because a log is `!Send` and
//! single-threaded by design (the segment list, the producer state and the file cache have no
//! locks): a cleaner thread would need a second owner of every compacted log's state, locks on
//! the append path, or a copy of the segment list kept in sync across threads. A step's cost
//! is bounded instead (about 1 MiB of I/O and the CPU to decompress and recompress it), so a
//! shard's requests wait at most one step, and a shard's cleaning uses that shard's core, which
//! is what "MB/s per core" measures.
//!
//! Reads and appends go on while a pass runs: appends touch only the active segment, which the
//! cleaner never touches; reads use the segments they looked up (a reader holding a replaced
//! segment's `.log` keeps reading the old file, see [`crate::files`]; a read that finds a
//! replaced segment gone reads again). Only the swap takes the log's write lock (appends wait
//! for it): a few renames and unlinks and two directory fsyncs. Retention, truncation or
//! deletion of the log during a pass is found at the next swap, which then abandons the pass
//! (its files are removed; nothing of the log changed).
//!
//! # Files and crash protocol
//! A cleaned segment based at `B` (the first source's base offset) is written as
//! `{B:020}.log.cleaned`, `.index.cleaned`, `.timeindex.cleaned`, `.txnindex.cleaned`
//! (formats as in [`crate::segment`], [`crate::index`], [`crate::txn`]; the txnindex file may be
//! empty) and `.compacted.cleaned` (empty: the marker that lets recovery accept the gaps a
//! clean leaves, [`crate::segment::COMPACTED_EXT`]), each fdatasynced. Then, under the write
//! lock:
//! 1. the index files are renamed `.cleaned` -> `.swap`, then the log; the directory is fsynced.
//!    The log's `.swap` name is the commit point: from here the swap is completed, never undone;
//! 2. the other sources (bases in `(B, end)`) and their index files are renamed to trash names
//!    (`*.deleted`); directory fsync; a short-lived thread unlinks them afterwards, so the shard
//!    never waits while the file system frees their blocks (5-10 ms per 16 MiB file, measured:
//!    a swap of 32 sources held the shard for ~0.4 s before);
//! 3. each `.swap` is renamed over its final name (the log last), and the new segment replaces
//!    its sources in memory; after the lock, a directory fsync.
//!
//! On open ([`finish_interrupted`], before recovery): every `.cleaned` and `.deleted` file is
//! removed (a `.cleaned` one belongs to a pass
//! that had not committed: its sources are intact). For every `{B}.log.swap`, the segments with
//! a base offset in `(B, E)`, `E` one past the swap's last batch, are removed, then the swap's
//! files take their final names. Segments of the group at or after `E` may survive a crash in
//! step 2; they hold only records the clean removed, an uncleaned and still valid copy, which
//! the next pass cleans again. Stray index `.swap` files without a log `.swap` are removed.
//!
//! Test hooks: with `RINGLOG_TEST_CRASH_AT` set to `compact-cleaned` (files written, nothing
//! renamed), `compact-swap` (commit point durable) or `compact-delete` (sources unlinked, final
//! renames not done) the process aborts there, like a SIGKILL; [`testing::stop_at`] makes the
//! pass stop there with an error instead, leaving the files as a crash would, for in-process
//! tests (which then drop the log and open it again).
//!
//! Checkpoint `cleaner.checkpoint` (replaced atomically, [`crate::fsutil`]), big-endian:
//! ```text
//! +--------+-------------+-----------------+------------------------+--------------------+
//! | "RLCC" | version u16 | clean_end i64   | removable_at_ms i64    | crc32c u32 of the  |
//! |        | = 1         | (first dirty    | (i64::MIN: none)       | 22 bytes before    |
//! |        |             |  offset)        |                        |                    |
//! +--------+-------------+-----------------+------------------------+--------------------+
//! ```
//! A missing or damaged checkpoint makes the whole log dirty (one full pass more, nothing lost).
//!
//! # Invariants
//! - The cleaner never touches the active segment nor anything at or past the first unstable
//!   offset, and never changes the offset of a kept record.
//! - A record is removed only if a later record of its key is below `map_end`, or it is an
//!   expired tombstone with no later record of its key below `map_end`, or it has no key, or
//!   its transaction was aborted; a marker only once no batch of its transaction is left.
//! - At every instant the files on disk are either the sources or the cleaned segment (plus
//!   `.cleaned`/`.swap` files [`finish_interrupted`] resolves).
//! - The offset map never holds more than `map_keys_max` keys, except when a single batch has
//!   more records than that (a pass maps at least one batch).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::batch::{self, BatchHeader, ATTR_COMPRESSION_MASK, HEADER_BYTES, RECORDS_AT};
use crate::codec::BeReader;
use crate::error::{Error, Result};
use crate::index::SegmentIndexes;
use crate::log::{Log, LogConfig};
use crate::names::{parse_segment_file, segment_file, INDEX_EXT, LOG_EXT, TIMEINDEX_EXT};
use crate::records::{read_record, Compression, Decoders};
use crate::rt::fs::File;
use crate::rt::time::Instant;
use crate::segment::{Segment, COMPACTED_EXT, SEGMENT_BYTES_MAX};
use crate::txn::{self, AbortedTxn, TXN_INDEX_SUFFIX};

/// Default [`CompactBudget::bytes`]: 1 MiB of reading and writing per step. At the cleaner's
/// rate (hundreds of MB/s uncompressed, tens with a codec) that is a few milliseconds of a
/// shard's time, about what a large Produce costs.
pub const COMPACT_STEP_BYTES_DEFAULT: u64 = 1 << 20;
/// Default [`CompactBudget::map_keys_max`]: 512 Ki keys, at about 30 bytes each (16-byte hash,
/// 8-byte offset, the table's overhead) up to ~16 MiB per pass, freed when the pass ends. One
/// pass runs per shard at a time when the broker's cleaner task drives one log at a time.
pub const OFFSET_MAP_KEYS_MAX_DEFAULT: usize = 512 * 1024;
/// Bytes read from a source segment at a time (whole batches; a larger batch is read alone).
pub const READ_CHUNK_BYTES: u64 = 128 * 1024;
/// Bytes of cleaned output gathered before one write.
pub const WRITE_BUFFER_BYTES: usize = 256 * 1024;
/// Times a read or time lookup starts again when the cleaner replaced a segment it was using
/// (each attempt sees the segments of a later swap; swaps are seconds apart at most).
pub const READ_ATTEMPTS_MAX: u32 = 4;
/// The cleaner's checkpoint in the partition directory.
pub const CHECKPOINT_FILE: &str = "cleaner.checkpoint";
/// Suffix of a cleaned segment's files before the swap (`{base:020}.log.cleaned`).
pub const CLEANED_SUFFIX: &str = "cleaned";
/// Suffix of a cleaned segment's files past the commit point (`{base:020}.log.swap`).
pub const SWAP_SUFFIX: &str = "swap";
/// Environment variable naming a crash point where the process aborts (tests only).
pub const CRASH_AT_ENV: &str = "RINGLOG_TEST_CRASH_AT";
/// The crash points, in the order a swap reaches them.
pub const CRASH_POINTS: [&str; 3] = ["compact-cleaned", "compact-swap", "compact-delete"];

const CHECKPOINT_MAGIC: &[u8; 4] = b"RLCC";
const CHECKPOINT_VERSION: u16 = 1;
const CHECKPOINT_BYTES: usize = 4 + 2 + 8 + 8 + 4;

/// How much one [`Log::compact_step`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactBudget {
    /// Bytes the step may still read and write; each batch handled takes its bytes off. A step
    /// ends once it is spent (after the batch in hand: at least one batch per step) or after a
    /// swap. Shared by the steps of one round over several logs.
    pub bytes: u64,
    /// Keys the offset map of a pass started by this step may hold.
    pub map_keys_max: usize,
}

impl Default for CompactBudget {
    fn default() -> Self {
        CompactBudget {
            bytes: COMPACT_STEP_BYTES_DEFAULT,
            map_keys_max: OFFSET_MAP_KEYS_MAX_DEFAULT,
        }
    }
}

impl CompactBudget {
    /// A budget of `bytes` with the default map size.
    pub fn with_bytes(bytes: u64) -> CompactBudget {
        CompactBudget {
            bytes,
            ..CompactBudget::default()
        }
    }

    fn spend(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }
}

/// What one [`Log::compact_step`] left.
#[derive(Debug, Clone, PartialEq)]
pub enum CompactProgress {
    /// Nothing to clean: the log is not compacted, has no dirty cleanable segment and no
    /// tombstone due, or a pass was abandoned (the log changed under it; a later step starts
    /// again).
    Idle,
    /// A pass is under way and the budget is spent: call again.
    InProgress,
    /// A pass ended (every cleaned segment swapped in) with these numbers.
    Finished(CompactStats),
}

/// The numbers of one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactStats {
    /// Source segments rewritten.
    pub segments_read: u64,
    /// Cleaned segments swapped in (a source left unchanged is not swapped).
    pub segments_written: u64,
    /// Bytes read (mapping and rewriting).
    pub bytes_read: u64,
    /// Bytes written to cleaned segments (not counting index files).
    pub bytes_written: u64,
    /// Keys put in the offset map.
    pub keys_mapped: u64,
    /// Records removed: superseded by a later record of their key, without a key, or in an
    /// aborted transaction (tombstones are counted apart).
    pub records_removed: u64,
    /// Tombstones removed (older than `delete_retention_ms`).
    pub tombstones_removed: u64,
    /// Transaction markers removed.
    pub markers_removed: u64,
    /// Batches dropped whole.
    pub batches_removed: u64,
    /// Batches kept with zero records (a producer's last batch).
    pub batches_emptied: u64,
    /// Time spent in this pass's steps.
    pub busy: Duration,
    /// Time from the pass's first step to its last.
    pub elapsed: Duration,
    /// Where the clean part ends now (the first dirty offset).
    pub clean_end: i64,
}

/// The cleaner's state of one log (held by the log).
#[derive(Debug, Default)]
pub(crate) struct CleanerState {
    /// Offsets below this are clean (cleaned by a finished pass).
    clean_end: i64,
    /// When the earliest tombstone or marker a pass kept becomes removable.
    removable_at_ms: Option<i64>,
    /// The pass in progress.
    pass: Option<Box<Pass>>,
}

impl CleanerState {
    /// The state of a log opened in `dir` with offsets `start..end`: its checkpoint, clamped
    /// to them (a missing or damaged checkpoint: everything dirty).
    pub(crate) fn load(dir: &Path, start: i64, end: i64) -> CleanerState {
        let (clean_end, removable_at_ms) = std::fs::read(dir.join(CHECKPOINT_FILE))
            .ok()
            .and_then(|b| decode_checkpoint(&b))
            .unwrap_or((start, None));
        CleanerState {
            clean_end: clean_end.clamp(start.min(end), end),
            removable_at_ms,
            pass: None,
        }
    }
}

fn encode_checkpoint(clean_end: i64, removable_at_ms: Option<i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHECKPOINT_BYTES);
    out.extend_from_slice(CHECKPOINT_MAGIC);
    out.extend_from_slice(&CHECKPOINT_VERSION.to_be_bytes());
    out.extend_from_slice(&clean_end.to_be_bytes());
    out.extend_from_slice(&removable_at_ms.unwrap_or(i64::MIN).to_be_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn decode_checkpoint(bytes: &[u8]) -> Option<(i64, Option<i64>)> {
    if bytes.len() != CHECKPOINT_BYTES {
        return None;
    }
    let (body, crc) = bytes.split_at(CHECKPOINT_BYTES - 4);
    let mut r = BeReader::new(crc);
    if r.u32()? != crc32c::crc32c(body) {
        return None;
    }
    let mut r = BeReader::new(body);
    if r.take(4)? != CHECKPOINT_MAGIC || r.u16()? != CHECKPOINT_VERSION {
        return None;
    }
    let clean_end = r.i64()?;
    let removable = r.i64()?;
    Some((clean_end, (removable != i64::MIN).then_some(removable)))
}

/// After `truncate_to` cut the log at `new_end` (under the write lock): the clean part cannot
/// extend past it, and a pass that mapped what was cut is abandoned. The checkpoint is removed
/// rather than rewritten (the truncation's directory sync makes that durable): the next pass
/// treats everything as dirty.
pub(crate) fn on_truncate(log: &Log, new_end: i64) -> Result<()> {
    let mut cleaner = log.cleaner.borrow_mut();
    if let Some(pass) = cleaner.pass.take() {
        pass.discard_files(log.dir());
    }
    if cleaner.clean_end > new_end {
        cleaner.clean_end = log.log_start_offset().min(new_end);
        let path = log.dir().join(CHECKPOINT_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("unlink", &path, e)),
        }
    }
    Ok(())
}

/// A passthrough hasher for the offset map: its keys are already uniform 128-bit hashes.
#[derive(Default)]
struct KeyHashHasher(u64);

impl Hasher for KeyHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Key hash -> latest offset of that key below `map_end`.
type OffsetMap = HashMap<u128, i64, BuildHasherDefault<KeyHashHasher>>;

/// The pass's key hash: two SipHash-1-3 with independent random keys.
struct KeyHasher(RandomState, RandomState);

impl KeyHasher {
    fn new() -> KeyHasher {
        KeyHasher(RandomState::new(), RandomState::new())
    }
    fn hash(&self, key: &[u8]) -> u128 {
        (u128::from(self.0.hash_one(key)) << 64) | u128::from(self.1.hash_one(key))
    }
}

/// What the pass needs of a producer the log tracks.
#[derive(Debug, Clone, Copy)]
struct ProducerLast {
    epoch: i16,
    /// Last offset of its last data batch in this log.
    last_data_offset: Option<i64>,
}

/// Where the pass reads in its source segments.
#[derive(Default)]
struct Cursor {
    source: usize,
    position: u64,
    /// The source's `.log`, taken at its first read and held to its end (retention deleting
    /// the segment meanwhile does not stop the read; the swap notices).
    file: Option<Rc<File>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Map,
    Rewrite,
}

/// The cleaned segment being written.
struct Group {
    /// Index of its first source.
    first: usize,
    base: i64,
    file: File,
    /// Output not written yet, at file position `written`.
    buf: Vec<u8>,
    written: u64,
    indexes: SegmentIndexes,
    /// One past the last batch written (the base while empty).
    next_offset: i64,
    /// Any batch dropped or rewritten (a single unchanged source is not swapped).
    changed: bool,
}

impl Group {
    fn size(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    async fn flush(&mut self, stats: &mut CompactStats, dir: &Path) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len() as u64;
        let (r, mut buf) = self.file.write_all_at(buf, self.written).await;
        r.map_err(|e| Error::io("write", cleaned_path(dir, self.base, LOG_EXT), e))?;
        self.written += len;
        stats.bytes_written += len;
        buf.clear();
        self.buf = buf;
        Ok(())
    }
}

/// A pass in progress.
pub(crate) struct Pass {
    started: Instant,
    now_ms: i64,
    config: Rc<LogConfig>,
    /// The cleanable sealed segments, oldest first, as the pass found them.
    sources: Vec<Rc<Segment>>,
    /// The first source holding dirty offsets.
    first_dirty: usize,
    clean_end: i64,
    map: OffsetMap,
    map_keys_max: usize,
    keys: KeyHasher,
    /// Offsets below this are covered by the map.
    map_end: i64,
    /// Sources `first_dirty..mapped_through` were (partly) mapped: the swap checks they are
    /// still there.
    mapped_through: usize,
    phase: Phase,
    cursor: Cursor,
    /// Sources `..rewrite_end` are rewritten (those starting below `map_end`).
    rewrite_end: usize,
    group: Option<Group>,
    /// Aborted transactions of the log when the pass started, and by producer their ranges.
    aborted: Vec<AbortedTxn>,
    aborted_ranges: HashMap<i64, Vec<(i64, i64)>>,
    producers: HashMap<i64, ProducerLast>,
    /// Producers whose current transaction has a batch in the output.
    txn_kept: HashSet<i64>,
    /// Abort markers (producer id, offset) whose transaction has a batch in the output.
    aborts_kept: HashSet<(i64, i64)>,
    removable_at_ms: Option<i64>,
    decoders: Decoders,
    plain: Vec<u8>,
    kept: Vec<u8>,
    compressed: Vec<u8>,
    stats: CompactStats,
    /// A test stop point ended the pass: leave its files as a crash would.
    stopped: bool,
}

impl std::fmt::Debug for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pass")
            .field("phase", &self.phase)
            .field("sources", &self.sources.len())
            .field("map_keys", &self.map.len())
            .field("map_end", &self.map_end)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Pass {
    /// Removes the files of the group being written (the pass is abandoned).
    fn discard_files(&self, dir: &Path) {
        if self.stopped {
            return;
        }
        if let Some(g) = &self.group {
            remove_group_files(dir, g.base, CLEANED_SUFFIX);
        }
    }

    fn expired(&self, max_timestamp: i64) -> bool {
        max_timestamp >= 0
            && max_timestamp.saturating_add(self.config.delete_retention_ms as i64) < self.now_ms
    }

    fn note_kept_until_expiry(&mut self, max_timestamp: i64) {
        if max_timestamp >= 0 {
            let at = max_timestamp.saturating_add(self.config.delete_retention_ms as i64);
            self.removable_at_ms = Some(self.removable_at_ms.map_or(at, |t| t.min(at)));
        }
    }

    fn is_aborted(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && self.aborted_ranges.get(&h.producer_id).is_some_and(|r| {
                r.iter()
                    .any(|&(f, l)| f <= h.base_offset && h.base_offset <= l)
            })
    }

    /// The records region of `batch` uncompressed, in `self.plain` (or `None`: it is the
    /// region itself, uncompressed).
    fn inflate(&mut self, batch: &[u8], h: &BatchHeader, path: &Path, pos: u64) -> Result<bool> {
        let codec =
            Compression::from_attributes(h.attributes).map_err(|e| corrupt(path, pos, e))?;
        if codec == Compression::None {
            return Ok(false);
        }
        self.plain.clear();
        codec
            .decompress_with(
                &batch[RECORDS_AT..],
                &mut self.plain,
                self.config.validation.decompressed_bytes_max,
                &mut self.decoders,
            )
            .map_err(|e| corrupt(path, pos, e))?;
        Ok(true)
    }
}

fn corrupt(path: &Path, position: u64, reason: impl std::fmt::Display) -> Error {
    Error::CorruptSegment {
        path: path.to_path_buf(),
        position,
        reason: reason.to_string(),
    }
}

/// `{base:020}.{ext}.{suffix}` in `dir`.
fn cleaned_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    suffixed(dir, base, ext, CLEANED_SUFFIX)
}

fn suffixed(dir: &Path, base: i64, ext: &str, suffix: &str) -> PathBuf {
    segment_file(dir, base, &format!("{ext}.{suffix}"))
}

/// The files of a cleaned segment, the log last (the compacted marker is empty).
const GROUP_EXTS: [&str; 5] = [
    INDEX_EXT,
    TIMEINDEX_EXT,
    TXN_INDEX_SUFFIX,
    COMPACTED_EXT,
    LOG_EXT,
];

fn remove_group_files(dir: &Path, base: i64, suffix: &str) {
    for ext in GROUP_EXTS {
        // Best effort: a leftover is removed when the log is opened again.
        let _ = std::fs::remove_file(suffixed(dir, base, ext, suffix));
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
}

/// Suffix of a swapped-out source file waiting to be unlinked (removed at the next open if a
/// crash came first).
pub const TRASH_SUFFIX: &str = "deleted";

fn trashed(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(TRASH_SUFFIX);
    PathBuf::from(name)
}

/// Unlinks `paths` on a short-lived thread of its own, so the shard does not wait while the
/// file system frees their blocks. A failure is logged; the next open removes what is left.
fn unlink_off_shard(paths: Vec<PathBuf>) {
    if paths.is_empty() {
        return;
    }
    let work = move || {
        for p in &paths {
            if let Err(e) = std::fs::remove_file(p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("unlinking {}: {e} (removed at the next open)", p.display());
                }
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("ringlog-unlink".to_string())
        .spawn(work)
    {
        // No thread to be had: the files wait for the next open.
        tracing::warn!(
            "no thread to unlink swapped-out segment files ({e}); removed at the next open"
        );
    }
}

fn unlink_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("unlink", path, e)),
    }
}

/// A crash point: aborts the process when [`CRASH_AT_ENV`] names it; fails the pass (without
/// cleaning up) when [`testing::stop_at`] does.
fn crash_point(name: &'static str) -> Result<()> {
    if std::env::var(CRASH_AT_ENV).is_ok_and(|v| v == name) {
        tracing::warn!("{CRASH_AT_ENV}={name}: aborting the process in the middle of a compaction");
        // No cleanup, no flush, like a SIGKILL: what is on disk is what a crash leaves.
        std::process::abort();
    }
    if testing::STOP_AT.with(|s| s.get() == Some(name)) {
        return Err(Error::InvalidArgument {
            what: format!("compaction stopped at {name} (test hook)"),
        });
    }
    Ok(())
}

/// Test hooks.
pub mod testing {
    use std::cell::Cell;

    thread_local! {
        pub(super) static STOP_AT: Cell<Option<&'static str>> = const { Cell::new(None) };
    }

    /// Makes every compaction pass of this thread stop at crash point `point` (one of
    /// [`super::CRASH_POINTS`]) with an error, leaving its files as a crash there would; `None`
    /// turns it off. The log is then in an undefined state in memory: drop it and open it
    /// again (which finishes or undoes the swap).
    pub fn stop_at(point: Option<&'static str>) {
        STOP_AT.with(|s| s.set(point));
    }
}

/// What the pass found cleanable.
struct Cleanable {
    segments: Vec<Rc<Segment>>,
    first_dirty: usize,
    dirty_bytes: u64,
    total_bytes: u64,
}

impl Log {
    /// The cleanable sealed segments now: below the first unstable offset (never above the
    /// high watermark), older than `min_compaction_lag_ms`.
    fn cleanable(&self, now_ms: i64, config: &LogConfig) -> Cleanable {
        let upper = self.last_stable_offset();
        let lag_horizon = now_ms.saturating_sub(config.min_compaction_lag_ms as i64);
        let clean_end = self.cleaner.borrow().clean_end;
        let segs = self.segments.borrow();
        let sealed = &segs[..segs.len().saturating_sub(1)];
        let mut out = Cleanable {
            segments: Vec::new(),
            first_dirty: 0,
            dirty_bytes: 0,
            total_bytes: 0,
        };
        let mut first_dirty = None;
        for seg in sealed {
            if seg.next_offset() > upper {
                break;
            }
            if config.min_compaction_lag_ms > 0 && seg.max_timestamp() > lag_horizon {
                break;
            }
            let size = seg.size_bytes();
            out.total_bytes += size;
            if seg.next_offset() > clean_end && seg.size_bytes() > 0 {
                first_dirty.get_or_insert(out.segments.len());
                out.dirty_bytes += size;
            }
            out.segments.push(seg.clone());
        }
        out.first_dirty = first_dirty.unwrap_or(out.segments.len());
        out
    }

    /// Dirty bytes over cleanable bytes (`0.0` when nothing is cleanable, or the log is not
    /// compacted): the scheduler cleans the dirtiest log first, once this reaches
    /// `min_cleanable_dirty_ratio` ([`Log::compaction_due`]).
    pub fn cleanable_ratio(&self, now_ms: i64) -> f64 {
        let config = self.config();
        if !config.cleanup_compact {
            return 0.0;
        }
        let c = self.cleanable(now_ms, &config);
        if c.total_bytes == 0 {
            return 0.0;
        }
        c.dirty_bytes as f64 / c.total_bytes as f64
    }

    /// Whether a compacted log should be cleaned now, as Kafka's cleaner manager decides: a
    /// pass is under way, or its dirty ratio is at least `min_cleanable_dirty_ratio` (and
    /// something is dirty), or a dirty cleanable segment is older than `max_compaction_lag_ms`,
    /// or a tombstone or marker a pass kept has become removable.
    pub fn compaction_due(&self, now_ms: i64) -> bool {
        let config = self.config();
        if !config.cleanup_compact {
            return false;
        }
        {
            let cleaner = self.cleaner.borrow();
            if cleaner.pass.is_some() {
                return true;
            }
            if cleaner.removable_at_ms.is_some_and(|t| t < now_ms) {
                return true;
            }
        }
        let c = self.cleanable(now_ms, &config);
        if c.dirty_bytes == 0 {
            return false;
        }
        if c.dirty_bytes as f64 >= config.min_cleanable_dirty_ratio * c.total_bytes as f64 {
            return true;
        }
        // The oldest dirty segment's earliest time we know of: its first time index entry.
        let lag_horizon = now_ms.saturating_sub(config.max_compaction_lag_ms as i64);
        c.segments.get(c.first_dirty).is_some_and(|seg| {
            let st = seg.state.borrow();
            let earliest = st
                .indexes
                .times
                .first()
                .map_or(st.indexes.max_timestamp, |t| t.timestamp);
            earliest >= 0 && earliest < lag_horizon
        })
    }

    /// Whether a compaction pass of this log is under way.
    pub fn compaction_in_progress(&self) -> bool {
        self.cleaner.borrow().pass.is_some()
    }

    /// Where the clean part of the log ends: offsets below were cleaned by a finished pass.
    pub fn clean_end_offset(&self) -> i64 {
        self.cleaner.borrow().clean_end
    }

    /// Abandons a pass in progress (its files are removed; the log is as it was). The next
    /// [`Log::compact_step`] starts a new one.
    pub fn abort_compaction(&self) {
        if let Some(pass) = self.cleaner.borrow_mut().pass.take() {
            pass.discard_files(self.dir());
        }
    }

    /// One bounded step of compaction (module docs): starts a pass if none is under way and
    /// the log has dirty cleanable segments (or a kept tombstone became removable), then maps
    /// or rewrites until `budget` is spent or a cleaned segment was swapped in. `now_ms` (wall
    /// clock, ms since the epoch) is taken when a pass starts and used for all of it. A failed
    /// step abandons its pass (removing its files) and never poisons the log, except when a
    /// swap fails past its commit point (then the log refuses writes until reopened, which
    /// completes the swap).
    pub async fn compact_step(
        &self,
        now_ms: i64,
        budget: &mut CompactBudget,
    ) -> Result<CompactProgress> {
        if let Err(e) = self.check_writable() {
            self.abort_compaction();
            return Err(e);
        }
        let config = self.config();
        if !config.cleanup_compact {
            self.abort_compaction();
            return Ok(CompactProgress::Idle);
        }
        let pass = self.cleaner.borrow_mut().pass.take();
        let mut pass = match pass {
            Some(pass) => pass,
            None => match self.start_pass(now_ms, budget.map_keys_max, config) {
                Some(pass) => pass,
                None => return Ok(CompactProgress::Idle),
            },
        };
        let step_started = Instant::now();
        let r = self.run(&mut pass, budget).await;
        pass.stats.busy += step_started.elapsed();
        match r {
            Ok(Run::Budget) => {
                self.cleaner.borrow_mut().pass = Some(pass);
                Ok(CompactProgress::InProgress)
            }
            Ok(Run::Abandoned) => {
                pass.discard_files(self.dir());
                Ok(CompactProgress::Idle)
            }
            Ok(Run::Done) => {
                let stats = self.finish_pass(pass).await?;
                Ok(CompactProgress::Finished(stats))
            }
            Err(e) => {
                pass.discard_files(self.dir());
                Err(e)
            }
        }
    }

    /// Runs steps until a pass ends (no budget between steps): `None` when there was nothing
    /// to clean or the pass was abandoned. For tests, benchmarks and tools; a shard uses
    /// [`Log::compact_step`].
    pub async fn compact(&self, now_ms: i64, map_keys_max: usize) -> Result<Option<CompactStats>> {
        loop {
            let mut budget = CompactBudget {
                bytes: COMPACT_STEP_BYTES_DEFAULT,
                map_keys_max,
            };
            match self.compact_step(now_ms, &mut budget).await? {
                CompactProgress::Idle => return Ok(None),
                CompactProgress::InProgress => {}
                CompactProgress::Finished(stats) => return Ok(Some(stats)),
            }
        }
    }

    fn start_pass(
        &self,
        now_ms: i64,
        map_keys_max: usize,
        config: Rc<LogConfig>,
    ) -> Option<Box<Pass>> {
        let c = self.cleanable(now_ms, &config);
        if c.segments.is_empty() {
            return None;
        }
        let (clean_end, removable_at) = {
            let cleaner = self.cleaner.borrow();
            (cleaner.clean_end, cleaner.removable_at_ms)
        };
        let dirty = c.first_dirty < c.segments.len();
        if !dirty && removable_at.is_none_or(|t| t >= now_ms) {
            return None;
        }
        let aborted = self.aborted.borrow().clone();
        let mut aborted_ranges: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for a in &aborted {
            aborted_ranges
                .entry(a.producer_id)
                .or_default()
                .push((a.first_offset, a.last_offset));
        }
        let producers = {
            let table = self.producers.borrow();
            table
                .describe()
                .into_iter()
                .filter_map(|d| {
                    let e = table.get(d.producer_id)?;
                    let last_data_offset = e
                        .batches
                        .iter()
                        .filter(|b| b.base_offset >= 0)
                        .map(|b| b.last_offset)
                        .max();
                    Some((
                        d.producer_id,
                        ProducerLast {
                            epoch: e.epoch,
                            last_data_offset,
                        },
                    ))
                })
                .collect()
        };
        let phase = if dirty { Phase::Map } else { Phase::Rewrite };
        let mut pass = Box::new(Pass {
            started: Instant::now(),
            now_ms,
            config,
            first_dirty: c.first_dirty,
            clean_end,
            map: OffsetMap::default(),
            map_keys_max: map_keys_max.max(1),
            keys: KeyHasher::new(),
            map_end: clean_end,
            mapped_through: c.first_dirty,
            phase,
            cursor: Cursor {
                source: c.first_dirty,
                ..Cursor::default()
            },
            rewrite_end: 0,
            group: None,
            aborted,
            aborted_ranges,
            producers,
            txn_kept: HashSet::new(),
            aborts_kept: HashSet::new(),
            removable_at_ms: None,
            decoders: Decoders::default(),
            plain: Vec::new(),
            kept: Vec::new(),
            compressed: Vec::new(),
            stats: CompactStats::default(),
            stopped: false,
            sources: c.segments,
        });
        if phase == Phase::Rewrite {
            begin_rewrite(&mut pass);
        }
        Some(pass)
    }

    /// Works on `pass` until the budget is spent, a swap happened, or the pass ends.
    async fn run(&self, pass: &mut Pass, budget: &mut CompactBudget) -> Result<Run> {
        while budget.bytes > 0 {
            let r = match pass.phase {
                Phase::Map => self.map_some(pass, budget).await,
                Phase::Rewrite => self.rewrite_some(pass, budget).await,
            };
            match r {
                Ok(Some(run)) => return Ok(run),
                Ok(None) => {}
                Err(e) => {
                    if e.to_string().contains("(test hook)") {
                        pass.stopped = true;
                    }
                    return Err(e);
                }
            }
        }
        Ok(Run::Budget)
    }

    /// Reads the next whole batches of the current source into memory.
    async fn next_chunk(
        &self,
        pass: &mut Pass,
        budget: &CompactBudget,
    ) -> Result<Option<(Vec<u8>, u64, Rc<Segment>)>> {
        let Some(seg) = pass.sources.get(pass.cursor.source).cloned() else {
            return Ok(None);
        };
        let end = seg.size_bytes();
        if pass.cursor.position >= end {
            // The source is done: an empty chunk says so, the cursor moves to the next one.
            pass.cursor = Cursor {
                source: pass.cursor.source + 1,
                ..Cursor::default()
            };
            return Ok(Some((Vec::new(), end, seg)));
        }
        let file = match &pass.cursor.file {
            Some(f) => f.clone(),
            None => {
                let f = seg.log_file()?;
                pass.cursor.file = Some(f.clone());
                f
            }
        };
        let at = pass.cursor.position;
        // Within the step's budget, but at least one batch.
        let want = budget.bytes.min(READ_CHUNK_BYTES);
        let chunk = read_batches(&seg, &file, at, want).await?;
        Ok(Some((chunk, at, seg)))
    }

    /// Maps some batches; `Some` ends the step.
    async fn map_some(&self, pass: &mut Pass, budget: &mut CompactBudget) -> Result<Option<Run>> {
        let Some((chunk, at, seg)) = self.next_chunk(pass, budget).await? else {
            begin_rewrite(pass);
            return Ok(None);
        };
        if chunk.is_empty() {
            // A source mapped to its end.
            pass.mapped_through = pass.cursor.source;
            pass.map_end = pass.map_end.max(seg.next_offset());
            if pass.cursor.source >= pass.sources.len() {
                begin_rewrite(pass);
            }
            return Ok(None);
        }
        pass.mapped_through = pass.cursor.source + 1;
        let path = seg.log_path().to_path_buf();
        let mut pos = 0usize;
        while pos < chunk.len() {
            let batch = &chunk[pos..];
            let position = at + pos as u64;
            let h = checked_batch(batch, &path, position)?;
            let size = h.size_bytes() as usize;
            let batch = &batch[..size];
            if h.last_offset() >= pass.clean_end && !h.is_control() && !pass.is_aborted(&h) {
                let records = u64::try_from(h.records_count).unwrap_or(0) as usize;
                if !pass.map.is_empty() && pass.map.len() + records > pass.map_keys_max {
                    // Full: the rest stays dirty for the next pass.
                    pass.cursor.position = position;
                    begin_rewrite(pass);
                    return Ok(None);
                }
                let inflated = pass.inflate(batch, &h, &path, position)?;
                let plain = if inflated {
                    std::mem::take(&mut pass.plain)
                } else {
                    Vec::new()
                };
                let region = if inflated {
                    &plain[..]
                } else {
                    &batch[RECORDS_AT..]
                };
                let mut rp = 0usize;
                for _ in 0..h.records_count.max(0) {
                    let r = read_record(region, &mut rp, &mut |_, _| {})
                        .map_err(|e| corrupt(&path, position, e))?;
                    if let Some(key) = r.key {
                        let offset = h.base_offset + i64::from(r.offset_delta);
                        pass.map.insert(pass.keys.hash(key), offset);
                        pass.stats.keys_mapped += 1;
                    }
                }
                if inflated {
                    pass.plain = plain;
                }
            }
            if let Some(next) = h.next_offset() {
                pass.map_end = pass.map_end.max(next);
            }
            pos += size;
            pass.stats.bytes_read += size as u64;
            budget.spend(size as u64);
        }
        pass.cursor.position = at + chunk.len() as u64;
        Ok(None)
    }

    /// Rewrites some batches; `Some` ends the step.
    async fn rewrite_some(
        &self,
        pass: &mut Pass,
        budget: &mut CompactBudget,
    ) -> Result<Option<Run>> {
        if pass.group.is_none() {
            if pass.cursor.source >= pass.rewrite_end {
                return Ok(Some(Run::Done));
            }
            let first = pass.cursor.source;
            let base = pass.sources[first].base_offset;
            let path = cleaned_path(self.dir(), base, LOG_EXT);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(|e| Error::io("create", &path, e))?;
            pass.group = Some(Group {
                first,
                base,
                file: File::from_std(file),
                buf: Vec::with_capacity(WRITE_BUFFER_BYTES),
                written: 0,
                indexes: SegmentIndexes::new(u64::from(pass.config.index_interval_bytes)),
                next_offset: base,
                changed: false,
            });
            pass.stats.segments_read += 1;
        }
        let Some((chunk, at, seg)) = self.next_chunk(pass, budget).await? else {
            return self.end_group(pass).await;
        };
        if chunk.is_empty() {
            // The source is done: take the next one into this group if it fits.
            let next = pass.cursor.source;
            let group = pass.group.as_ref().expect("a group is being written");
            let fits = next < pass.rewrite_end && {
                let s = &pass.sources[next];
                group.size() + s.size_bytes() <= pass.config.segment_bytes.min(SEGMENT_BYTES_MAX)
                    && s.next_offset() - 1 - group.base <= i64::from(u32::MAX)
            };
            if fits {
                pass.stats.segments_read += 1;
                if let Some(g) = pass.group.as_mut() {
                    // Merging two sources always changes the segment files.
                    g.changed = true;
                }
                return Ok(None);
            }
            return self.end_group(pass).await;
        }
        let path = seg.log_path().to_path_buf();
        let mut pos = 0usize;
        while pos < chunk.len() {
            let position = at + pos as u64;
            let h = checked_batch(&chunk[pos..], &path, position)?;
            let size = h.size_bytes() as usize;
            clean_batch(pass, &chunk[pos..pos + size], &h, &path, position)?;
            pos += size;
            pass.stats.bytes_read += size as u64;
            budget.spend(size as u64);
        }
        pass.cursor.position = at + chunk.len() as u64;
        let dir = self.dir().to_path_buf();
        let Pass { group, stats, .. } = pass;
        let group = group.as_mut().expect("a group is being written");
        if group.buf.len() >= WRITE_BUFFER_BYTES {
            let before = stats.bytes_written;
            group.flush(stats, &dir).await?;
            budget.spend(stats.bytes_written - before);
        }
        Ok(None)
    }

    /// The group's sources are all copied: swap it in (or drop it when nothing changed).
    async fn end_group(&self, pass: &mut Pass) -> Result<Option<Run>> {
        let dir = self.dir().to_path_buf();
        let mut group = pass.group.take().expect("a group is being written");
        let end = pass.cursor.source;
        if !group.changed && end == group.first + 1 {
            // One source, every batch copied as it was: keep the source.
            remove_group_files(&dir, group.base, CLEANED_SUFFIX);
            return Ok(None);
        }
        pass.group = Some(group);
        let r = self.swap(pass, end).await;
        group = pass.group.take().expect("the group is still there");
        match r {
            Ok(true) => {
                pass.stats.segments_written += 1;
                Ok(Some(Run::Budget))
            }
            Ok(false) => {
                remove_group_files(&dir, group.base, CLEANED_SUFFIX);
                Ok(Some(Run::Abandoned))
            }
            Err(e) => {
                pass.group = Some(group);
                Err(e)
            }
        }
    }

    /// Writes the group's files out and swaps the cleaned segment in for sources
    /// `group.first..end` (module docs, crash protocol). `false`: the log changed under the
    /// pass, nothing was swapped.
    async fn swap(&self, pass: &mut Pass, end: usize) -> Result<bool> {
        let dir = self.dir().to_path_buf();
        let Pass {
            group,
            stats,
            sources,
            aborted,
            aborts_kept,
            map_end,
            first_dirty,
            mapped_through,
            ..
        } = pass;
        let group = group.as_mut().expect("a group is being written");
        group.flush(stats, &dir).await?;
        let log_path = cleaned_path(&dir, group.base, LOG_EXT);
        group
            .file
            .fdatasync()
            .await
            .map_err(|e| Error::io("fdatasync", &log_path, e))?;
        group.indexes.seal();
        let group_end = sources[end - 1].next_offset();
        let kept_aborts: Vec<AbortedTxn> = aborted
            .iter()
            .filter(|a| a.last_offset >= group.base && a.last_offset < group_end)
            .filter(|a| {
                a.last_offset >= *map_end || aborts_kept.contains(&(a.producer_id, a.last_offset))
            })
            .copied()
            .collect();
        let txn_bytes = txn::encode_entries(&kept_aborts);
        for (ext, bytes) in [
            (INDEX_EXT, group.indexes.encode_offsets()),
            (TIMEINDEX_EXT, group.indexes.encode_times()),
            (TXN_INDEX_SUFFIX, txn_bytes),
            (COMPACTED_EXT, Vec::new()),
        ] {
            write_synced(&cleaned_path(&dir, group.base, ext), bytes).await?;
        }
        crash_point("compact-cleaned")?;
        let (first, base) = (group.first, group.base);
        let checked_from = first.max(*first_dirty);
        let mapped = sources[checked_from..(*mapped_through).max(checked_from)].to_vec();
        let group_sources = sources[first..end].to_vec();
        let new_seg = {
            let seg = Segment::open(&dir, base, &self.files);
            {
                let mut st = seg.state.borrow_mut();
                st.indexes = group.indexes.clone();
                st.size_bytes = group.size();
                st.next_offset = group.next_offset;
                st.sealed = true;
            }
            Rc::new(seg)
        };
        let swapped = self
            .under_write_lock(|| async {
                if self.check_writable().is_err() || !self.intact(&group_sources, &mapped) {
                    return Ok(false);
                }
                // 1. The commit point: the log's `.swap` name, durable.
                for ext in GROUP_EXTS {
                    rename(
                        &cleaned_path(&dir, base, ext),
                        &suffixed(&dir, base, ext, SWAP_SUFFIX),
                    )?;
                }
                self.files.sync_dir(&dir).await?;
                // From here the swap must complete: a failure poisons the log (reopening it
                // completes the swap).
                let r = self
                    .complete_swap(&dir, base, &group_sources, new_seg.clone(), group_end)
                    .await;
                if let Err(e) = &r {
                    if !e.to_string().contains("(test hook)") {
                        self.poison(e);
                    }
                }
                r.map(|()| true)
            })
            .await?;
        if swapped {
            let r = self.files.sync_dir(&dir).await;
            if let Err(e) = &r {
                self.poison(e);
            }
            r?;
        }
        Ok(swapped)
    }

    /// Whether the group's sources are still the log's segments, in order, sealed, with the
    /// active segment after them, and every source the map read is still there (a truncation
    /// or deletion would have removed or unsealed one).
    fn intact(&self, group: &[Rc<Segment>], mapped: &[Rc<Segment>]) -> bool {
        let segs = self.segments.borrow();
        let Some(at) = segs.iter().position(|s| Rc::ptr_eq(s, &group[0])) else {
            return false;
        };
        let live = |s: &Rc<Segment>| !s.is_deleted() && s.state.borrow().sealed;
        at + group.len() < segs.len()
            && group
                .iter()
                .enumerate()
                .all(|(k, s)| Rc::ptr_eq(&segs[at + k], s) && live(s))
            && mapped.iter().all(live)
    }

    /// Steps 2 and 3 of a swap, under the write lock, past the commit point.
    async fn complete_swap(
        &self,
        dir: &Path,
        base: i64,
        group: &[Rc<Segment>],
        new_seg: Rc<Segment>,
        group_end: i64,
    ) -> Result<()> {
        crash_point("compact-swap")?;
        // 2. The other sources go, durably, before the cleaned segment takes its name: renamed
        // to trash names (a rename frees nothing, so it is quick), unlinked off the shard
        // afterwards (freeing a 16 MiB file's extents takes the file system 5-10 ms, which a
        // swap of many sources would otherwise spend on the shard under the write lock).
        let mut trash = Vec::new();
        for s in &group[1..] {
            s.retire();
            let txn_index = txn::index_path(dir, s.base_offset);
            let compacted = s.compacted_path();
            for p in [
                s.log_path(),
                s.index_path(),
                s.time_path(),
                compacted.as_path(),
                txn_index.as_path(),
            ] {
                let to = trashed(p);
                match std::fs::rename(p, &to) {
                    Ok(()) => trash.push(to),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("rename", p, e)),
                }
            }
        }
        if group.len() > 1 {
            self.files.sync_dir(dir).await?;
        }
        unlink_off_shard(trash);
        crash_point("compact-delete")?;
        // 3. Final names, the log last.
        for ext in GROUP_EXTS {
            rename(
                &suffixed(dir, base, ext, SWAP_SUFFIX),
                &segment_file(dir, base, ext),
            )?;
        }
        group[0].retire();
        {
            let mut segs = self.segments.borrow_mut();
            let at = segs
                .iter()
                .position(|s| Rc::ptr_eq(s, &group[0]))
                .expect("checked under the same lock");
            segs.splice(at..at + group.len(), [new_seg]);
        }
        {
            let kept = txn::load(&txn::index_path(dir, base))?;
            let mut aborted = self.aborted.borrow_mut();
            aborted.retain(|a| a.last_offset < base || a.last_offset >= group_end);
            let at = aborted.partition_point(|a| a.last_offset < base);
            aborted.splice(at..at, kept);
        }
        self.segment_swaps.set(self.segment_swaps.get() + 1);
        Ok(())
    }

    /// After the last group: persist where the clean part ends.
    async fn finish_pass(&self, pass: Box<Pass>) -> Result<CompactStats> {
        let mut stats = pass.stats.clone();
        stats.elapsed = pass.started.elapsed();
        stats.clean_end = pass.map_end;
        let bytes = encode_checkpoint(pass.map_end, pass.removable_at_ms);
        let path = self.dir().join(CHECKPOINT_FILE);
        crate::fsutil::replace_atomically_on_shard(&path, bytes)
            .await
            .map_err(|e| Error::io("replace checkpoint", &path, e))?;
        let mut cleaner = self.cleaner.borrow_mut();
        cleaner.clean_end = pass.map_end;
        cleaner.removable_at_ms = pass.removable_at_ms;
        Ok(stats)
    }
}

/// How a step's work ended.
enum Run {
    /// The budget is spent or a swap happened: the pass goes on at the next step.
    Budget,
    /// The log changed under the pass: dropped.
    Abandoned,
    /// Every group is swapped in.
    Done,
}

/// Mapping is over: rewrite the sources starting below `map_end`, from the first.
fn begin_rewrite(pass: &mut Pass) {
    pass.phase = Phase::Rewrite;
    pass.rewrite_end = pass
        .sources
        .iter()
        .take_while(|s| s.base_offset < pass.map_end)
        .count();
    pass.cursor = Cursor::default();
}

/// The header of the whole batch at the start of `bytes`, CRC checked (the cleaner writes what
/// it keeps with a new CRC: damage must not be blessed).
fn checked_batch(bytes: &[u8], path: &Path, position: u64) -> Result<BatchHeader> {
    let h = BatchHeader::parse_stored(bytes).map_err(|e| corrupt(path, position, e))?;
    let size = h.size_bytes() as usize;
    if size > bytes.len() {
        return Err(corrupt(path, position, "batch cut short"));
    }
    let computed = batch::compute_crc(&bytes[..size]);
    if computed != h.crc {
        return Err(corrupt(
            path,
            position,
            format!("crc32c {:#010x}, computed {computed:#010x}", h.crc),
        ));
    }
    Ok(h)
}

/// Reads whole batches of `seg` from `position`: as many as fit in `want` bytes, at least one.
async fn read_batches(seg: &Segment, file: &File, position: u64, want: u64) -> Result<Vec<u8>> {
    let end = seg.size_bytes();
    let left = end - position;
    let len = want.min(left).max((HEADER_BYTES as u64).min(left));
    let read = |len: u64, at: u64| async move {
        let (r, buf) = file.read_exact_at(vec![0u8; len as usize], at).await;
        r.map_err(|e| Error::io("read", seg.log_path(), e))
            .map(|()| buf)
    };
    let mut buf = read(len, position).await?;
    let mut whole = 0usize;
    while buf.len() - whole >= HEADER_BYTES {
        let h = BatchHeader::parse_stored(&buf[whole..])
            .map_err(|e| corrupt(seg.log_path(), position + whole as u64, e))?;
        let size = h.size_bytes() as usize;
        if whole + size > buf.len() {
            break;
        }
        whole += size;
    }
    if whole == 0 {
        let h =
            BatchHeader::parse_stored(&buf).map_err(|e| corrupt(seg.log_path(), position, e))?;
        if h.size_bytes() > left {
            return Err(corrupt(
                seg.log_path(),
                position,
                "batch past the segment end",
            ));
        }
        return read(h.size_bytes(), position).await;
    }
    buf.truncate(whole);
    Ok(buf)
}

/// Decides one source batch and appends what is kept of it to the group.
fn clean_batch(
    pass: &mut Pass,
    batch: &[u8],
    h: &BatchHeader,
    path: &Path,
    position: u64,
) -> Result<()> {
    let processed = h.last_offset() < pass.map_end;
    let out = if !processed {
        if h.is_transactional() && !h.is_control() {
            pass.txn_kept.insert(h.producer_id);
        }
        Out::Whole
    } else if h.is_control() {
        clean_marker(pass, batch, h)
    } else {
        clean_data(pass, batch, h, path, position)?
    };
    let group = pass.group.as_mut().expect("a group is being written");
    let at = group.size();
    let written_from = group.buf.len();
    match out {
        Out::Drop => {
            group.changed = true;
            pass.stats.batches_removed += 1;
            return Ok(());
        }
        Out::Whole => group.buf.extend_from_slice(batch),
        Out::Empty => {
            let empty = BatchHeader {
                attributes: h.attributes & !ATTR_COMPRESSION_MASK,
                records_count: 0,
                ..*h
            };
            batch::write_batch(&empty, &[], &mut group.buf)
                .map_err(|e| corrupt(path, position, e))?;
            group.changed = true;
            pass.stats.batches_emptied += 1;
        }
        Out::Some {
            count,
            max_timestamp,
        } => {
            let codec = Compression::from_attributes(h.attributes)
                .map_err(|e| corrupt(path, position, e))?;
            let region = if codec == Compression::None {
                &pass.kept[..]
            } else {
                pass.compressed.clear();
                codec
                    .compress(&pass.kept, &mut pass.compressed)
                    .map_err(|e| corrupt(path, position, e))?;
                &pass.compressed[..]
            };
            let rewritten = BatchHeader {
                records_count: count,
                max_timestamp,
                ..*h
            };
            batch::write_batch(&rewritten, region, &mut group.buf)
                .map_err(|e| corrupt(path, position, e))?;
            group.changed = true;
        }
    }
    let size = (group.buf.len() - written_from) as u64;
    let rel = u32::try_from(h.base_offset - group.base).expect("group offsets fit a segment");
    let pos = u32::try_from(at).expect("group bytes fit a segment");
    let max_ts = batch::BatchHeader::parse_stored(&group.buf[written_from..])
        .map(|w| w.max_timestamp)
        .unwrap_or(h.max_timestamp);
    group.indexes.on_batch(rel, pos, size, max_ts);
    group.next_offset = h.last_offset() + 1;
    Ok(())
}

/// What is written of a batch.
enum Out {
    Drop,
    Whole,
    /// The header alone, zero records (a producer's last batch).
    Empty,
    /// The records gathered in `pass.kept`.
    Some {
        count: i32,
        max_timestamp: i64,
    },
}

fn clean_marker(pass: &mut Pass, batch: &[u8], h: &BatchHeader) -> Out {
    let pid = h.producer_id;
    let kind = txn::marker_kind(h, batch);
    let data_kept = pass.txn_kept.remove(&pid);
    if kind == Some(false) && data_kept {
        pass.aborts_kept.insert((pid, h.base_offset));
    }
    let for_producer = pass.producers.get(&pid).is_some_and(|p| {
        h.producer_epoch == p.epoch && p.last_data_offset.is_none_or(|o| h.base_offset > o)
    });
    if kind.is_some() && !data_kept && !for_producer && pass.expired(h.max_timestamp) {
        pass.stats.markers_removed += 1;
        return Out::Drop;
    }
    pass.note_kept_until_expiry(h.max_timestamp);
    Out::Whole
}

fn clean_data(
    pass: &mut Pass,
    batch: &[u8],
    h: &BatchHeader,
    path: &Path,
    position: u64,
) -> Result<Out> {
    let pid = h.producer_id;
    let last_of_producer = pid >= 0
        && pass
            .producers
            .get(&pid)
            .is_some_and(|p| p.last_data_offset == Some(h.last_offset()));
    let records = u64::try_from(h.records_count).unwrap_or(0);
    if pass.is_aborted(h) {
        pass.stats.records_removed += records;
        if last_of_producer {
            pass.txn_kept.insert(pid);
            return Ok(Out::Empty);
        }
        return Ok(Out::Drop);
    }
    let inflated = pass.inflate(batch, h, path, position)?;
    let plain = if inflated {
        std::mem::take(&mut pass.plain)
    } else {
        Vec::new()
    };
    let region = if inflated {
        &plain[..]
    } else {
        &batch[RECORDS_AT..]
    };
    pass.kept.clear();
    let expired = pass.expired(h.max_timestamp);
    let (mut count, mut max_timestamp, mut tombstones_kept) = (0i32, i64::MIN, false);
    let mut rp = 0usize;
    for _ in 0..h.records_count.max(0) {
        let start = rp;
        let r =
            read_record(region, &mut rp, &mut |_, _| {}).map_err(|e| corrupt(path, position, e))?;
        let offset = h.base_offset + i64::from(r.offset_delta);
        let keep = match r.key {
            None => false,
            Some(key) => {
                let latest = pass
                    .map
                    .get(&pass.keys.hash(key))
                    .is_none_or(|&o| o <= offset);
                latest && (r.value.is_some() || !expired)
            }
        };
        if keep {
            count += 1;
            tombstones_kept |= r.value.is_none();
            max_timestamp = max_timestamp.max(h.base_timestamp.wrapping_add(r.timestamp_delta));
            pass.kept.extend_from_slice(&region[start..rp]);
        } else if r.key.is_some() && r.value.is_none() && expired {
            pass.stats.tombstones_removed += 1;
        } else {
            pass.stats.records_removed += 1;
        }
    }
    if inflated {
        pass.plain = plain;
    }
    let out = if count == h.records_count {
        Out::Whole
    } else if count > 0 {
        Out::Some {
            count,
            // Log-append time: every record's timestamp is the batch's, kept.
            max_timestamp: if h.is_log_append_time() {
                h.max_timestamp
            } else {
                max_timestamp
            },
        }
    } else if last_of_producer {
        Out::Empty
    } else {
        Out::Drop
    };
    if h.is_transactional() && !matches!(out, Out::Drop) {
        pass.txn_kept.insert(pid);
    }
    if tombstones_kept {
        // By the batch as written: a rewritten batch's max timestamp is its kept records'.
        match out {
            Out::Some { max_timestamp, .. } => pass.note_kept_until_expiry(max_timestamp),
            _ => pass.note_kept_until_expiry(h.max_timestamp),
        }
    }
    Ok(out)
}

/// Writes `bytes` as the whole file at `path` (created or truncated) and fdatasyncs it.
async fn write_synced(path: &Path, bytes: Vec<u8>) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    let file = File::from_std(file);
    if !bytes.is_empty() {
        let (r, _) = file.write_all_at(bytes, 0).await;
        r.map_err(|e| Error::io("write", path, e))?;
    }
    file.fdatasync()
        .await
        .map_err(|e| Error::io("fdatasync", path, e))
}

/// One past the last batch of the segment file at `path` (its `base` when empty): header
/// reads only.
async fn end_offset_of(path: &Path, base: i64) -> Result<i64> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let file = File::from_std(file);
    let len = file.len().map_err(|e| Error::io("stat", path, e))?;
    let mut pos = 0u64;
    let mut end = base;
    while pos < len {
        if len - pos < HEADER_BYTES as u64 {
            return Err(corrupt(path, pos, "torn batch header in a swap file"));
        }
        let (r, buf) = file.read_exact_at(vec![0u8; HEADER_BYTES], pos).await;
        r.map_err(|e| Error::io("read", path, e))?;
        let h = BatchHeader::parse_stored(&buf).map_err(|e| corrupt(path, pos, e))?;
        if h.size_bytes() > len - pos {
            return Err(corrupt(path, pos, "torn batch in a swap file"));
        }
        end = h
            .next_offset()
            .ok_or_else(|| corrupt(path, pos, "offsets overflow"))?;
        pos += h.size_bytes();
    }
    Ok(end)
}

/// Finishes or undoes a compaction a crash interrupted (module docs), before the segments of
/// `dir` are recovered. Returns how many swaps it completed.
pub async fn finish_interrupted(dir: &Path) -> Result<usize> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("readdir", dir, e))? {
        let entry = entry.map_err(|e| Error::io("readdir", dir, e))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    let mut changed = false;
    let cleaned = format!(".{CLEANED_SUFFIX}");
    let swap = format!(".{SWAP_SUFFIX}");
    let trash = format!(".{TRASH_SUFFIX}");
    let mut swaps = Vec::new();
    for name in &names {
        if name.ends_with(&cleaned) || name.ends_with(&trash) {
            unlink_if_present(&dir.join(name))?;
            changed = true;
        } else if let Some(base) = name.strip_suffix(&swap).and_then(parse_segment_file) {
            swaps.push(base);
        }
    }
    swaps.sort_unstable();
    let segments: Vec<i64> = names.iter().filter_map(|n| parse_segment_file(n)).collect();
    for &base in &swaps {
        let log_swap = suffixed(dir, base, LOG_EXT, SWAP_SUFFIX);
        let end = end_offset_of(&log_swap, base).await?;
        for &b in segments.iter().filter(|&&b| b > base && b < end) {
            for ext in [
                LOG_EXT,
                INDEX_EXT,
                TIMEINDEX_EXT,
                TXN_INDEX_SUFFIX,
                COMPACTED_EXT,
            ] {
                unlink_if_present(&segment_file(dir, b, ext))?;
            }
        }
        crate::runtime::fs::sync_dir(dir)
            .await
            .map_err(|e| Error::io("fsync dir", dir, e))?;
        for ext in GROUP_EXTS {
            let from = suffixed(dir, base, ext, SWAP_SUFFIX);
            if from.exists() {
                rename(&from, &segment_file(dir, base, ext))?;
            }
        }
        tracing::info!(
            "{}: completed a compaction swap a crash interrupted (segment {base}, up to {end})",
            dir.display()
        );
        changed = true;
    }
    // Index `.swap` files of a swap whose log never reached its `.swap` name: not committed.
    for name in &names {
        if name.ends_with(&swap) {
            let p = dir.join(name);
            if p.exists() {
                unlink_if_present(&p)?;
                changed = true;
            }
        }
    }
    if changed {
        crate::runtime::fs::sync_dir(dir)
            .await
            .map_err(|e| Error::io("fsync dir", dir, e))?;
    }
    Ok(swaps.len())
}

/// A measurement for `ringlog bench` (or a criterion bench): the cleaner's rate in MB/s of
/// input on the calling shard's core.
pub mod measure {
    use super::*;
    use crate::log::FlushPolicy;
    use crate::records::{encode_batch, BatchMeta, Record};

    /// Records per batch of the generated log.
    pub const RECORDS_PER_BATCH: usize = 100;

    /// What [`compaction_rate`] measured.
    #[derive(Debug, Clone)]
    pub struct RateReport {
        /// Bytes of log cleaned (the input).
        pub input_bytes: u64,
        /// Bytes of log left.
        pub output_bytes: u64,
        /// The pass's numbers.
        pub stats: CompactStats,
        /// Input megabytes (10^6 bytes) per second of busy time: the rate per core.
        pub input_mb_per_s: f64,
    }

    /// Writes a compacted log of about `input_bytes` in `dir` (`distinct_keys` keys written
    /// round-robin, `value_bytes` values, batches of [`RECORDS_PER_BATCH`] records compressed
    /// with `codec`, 64 MiB segments, no fsync), then cleans it in default-sized steps and
    /// reports the rate. Run it on a shard ([`crate::runtime::block_on`]).
    pub async fn compaction_rate(
        dir: &Path,
        input_bytes: u64,
        distinct_keys: u64,
        value_bytes: usize,
        codec: Compression,
    ) -> Result<RateReport> {
        let config = LogConfig {
            segment_bytes: 64 << 20,
            segment_ms: None,
            flush: FlushPolicy::Never,
            cleanup_compact: true,
            cleanup_delete: false,
            ..LogConfig::default()
        };
        let log = Log::open(dir, "compaction-rate", 0, config, false).await?;
        let value = vec![b'v'; value_bytes];
        let mut key = 0u64;
        while log.size_bytes() < input_bytes {
            let records: Vec<Record> = (0..RECORDS_PER_BATCH)
                .map(|i| {
                    key = (key + 1) % distinct_keys.max(1);
                    Record {
                        offset_delta: i as i32,
                        key: Some(bytes::Bytes::from(format!("key-{key:012}"))),
                        value: Some(bytes::Bytes::from(value.clone())),
                        ..Record::default()
                    }
                })
                .collect();
            let mut batch = Vec::new();
            let meta = BatchMeta {
                base_timestamp: crate::log::now_ms(),
                ..BatchMeta::default()
            };
            encode_batch(&meta, &records, codec, &mut batch).map_err(|e| {
                Error::InvalidArgument {
                    what: format!("encoding a benchmark batch: {e}"),
                }
            })?;
            log.append(batch).await?;
        }
        log.roll().await?;
        let input = log.size_bytes();
        let stats = log
            .compact(crate::log::now_ms(), OFFSET_MAP_KEYS_MAX_DEFAULT)
            .await?
            .unwrap_or_default();
        let secs = stats.busy.as_secs_f64().max(1e-9);
        Ok(RateReport {
            input_bytes: input,
            output_bytes: log.size_bytes(),
            input_mb_per_s: input as f64 / 1e6 / secs,
            stats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measurement runs and cleans (a small log; `cargo test --release -- --ignored
    /// compaction_rate` prints a rate worth reading).
    #[test]
    fn compaction_rate_measures_a_pass() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Uring);
        let report = crate::runtime::block_on(
            &cfg,
            measure::compaction_rate(dir.path(), 2 << 20, 1000, 100, Compression::Lz4),
        )
        .unwrap()
        .unwrap();
        assert!(report.output_bytes < report.input_bytes / 10, "{report:?}");
        assert!(report.input_mb_per_s > 0.0);
    }

    #[test]
    #[ignore = "a measurement: run in release"]
    fn compaction_rate() {
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            let cfg = crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Uring);
            let r = crate::runtime::block_on(
                &cfg,
                measure::compaction_rate(dir.path(), 256 << 20, 100_000, 100, codec),
            )
            .unwrap()
            .unwrap();
            println!(
                "compaction {codec}: {:.0} MB/s of input per core ({} -> {} bytes, {:?} busy)",
                r.input_mb_per_s, r.input_bytes, r.output_bytes, r.stats.busy
            );
        }
    }

    #[test]
    fn checkpoint_round_trips_and_damage_is_refused() {
        let b = encode_checkpoint(1234, Some(99));
        assert_eq!(b.len(), CHECKPOINT_BYTES);
        assert_eq!(decode_checkpoint(&b), Some((1234, Some(99))));
        assert_eq!(
            decode_checkpoint(&encode_checkpoint(7, None)),
            Some((7, None))
        );
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x40;
            assert_eq!(decode_checkpoint(&bad), None, "byte {i} flipped");
        }
        assert_eq!(decode_checkpoint(&b[..b.len() - 1]), None);
    }

    #[test]
    fn key_hashes_differ_between_passes_and_agree_within_one() {
        let (a, b) = (KeyHasher::new(), KeyHasher::new());
        assert_eq!(a.hash(b"k"), a.hash(b"k"));
        assert_ne!(a.hash(b"k"), a.hash(b"l"));
        assert_ne!(a.hash(b"k"), b.hash(b"k"));
        // The length is part of the hash: a prefix is another key.
        assert_ne!(a.hash(b""), a.hash(b"\0"));
    }
}
