//! One partition's log: ordered segments, append with group commit, read as file slices, roll,
//! retention, truncation, and the high-watermark notification for long-poll fetch.
//!
//! # Offsets
//! - `log_start_offset`: base offset of the first segment (moves up with retention), or past
//!   it, inside the segment, where DeleteRecords moved it ([`crate::log_start`], durable).
//! - `dirty`: one past the last batch written to the page cache (the log end offset).
//! - `durable`: one past the last batch known fdatasynced.
//! - `high_watermark`: what reads and `latest` see. Under [`FlushPolicy::Always`] it is
//!   `durable`, so a consumer never sees data a crash could take back; otherwise it is `dirty`.
//!
//! # What survives a crash (machine crash / power loss)
//! - `Always`: every append whose future resolved `Ok` (its data was fdatasynced before the
//!   future resolved; concurrent appends share one fdatasync: group commit). Nothing a reader saw
//!   is lost.
//! - `Interval(d)`: everything synced by the last flush: appends older than `d` at the time of a
//!   later append or [`Log::flush_if_due`] call, plus all data of sealed segments (a roll fsyncs).
//!   Up to `d` of acknowledged appends may be lost.
//! - `Never`: data of sealed segments (a roll fsyncs) and whatever the kernel wrote back.
//!
//! In every mode recovery truncates a torn tail, so what survives is a prefix of what was written.
//! A process crash without a machine crash loses nothing written (it is in the page cache).
//!
//! # Transactions ([`crate::txn`])
//! - `last_stable_offset`: the first offset of the oldest open transaction, or the high
//!   watermark when none is open (never above it). read_committed readers stop there.
//! - Every abort marker written adds an [`AbortedTxn`] to the log's ordered list and to its
//!   segment's `.txnindex`; retention keeps every segment at or after the oldest open
//!   transaction's first offset.
//!
//! # Invariants
//! - `log_start_offset <= durable <= dirty` after open and after every completed append, and
//!   `high_watermark <= dirty`.
//! - Appends, rolls, retention and truncation are serialized by the write lock; reads are not
//!   and only look at bytes below the `size_bytes` of a segment (fully written batches).
//! - After a failed write or fsync the log is poisoned: it refuses appends until reopened, and
//!   fsync is never retried (the kernel may have dropped the dirty pages).

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::batch::{
    first_record_at_or_after, stamp, BatchHeader, BatchInfo, BASE_OFFSET_AT, LEADER_EPOCH_AT,
};
use super::error::{BatchError, Error, Result};
use super::files::FileCache;
use super::names::partition_name;
use super::producer::{
    DescribedProducer, ProducerError, ProducerStateTable, Verdict,
    PRODUCERS_PER_PARTITION_MAX_DEFAULT, PRODUCER_ID_EXPIRATION_MS_DEFAULT,
};
use super::recovery::{self, RecoverOptions, RecoveryReport};
use super::rt::fs::File;
use super::rt::sync::Notify;
use super::rt::time::Instant;
use super::segment::{HeaderScan, Segment, WrittenBatch, SEGMENT_BYTES_MAX};
use super::txn::{self, AbortedTxn};
use super::validate::{with_thread_validator, AppendOrigin, ValidationConfig};

/// Durability policy of appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// An append resolves only after its data is fdatasynced; concurrent appends share one sync.
    Always,
    /// Appends resolve after the write; a sync runs when this long has passed since the last.
    Interval(Duration),
    /// Never sync on append (sealed segments are still synced when rolled).
    Never,
}

/// Default `segment_bytes`: 1 GiB, Kafka's `log.segment.bytes` default.
pub const SEGMENT_BYTES_DEFAULT: u64 = 1 << 30;
/// Default `index_interval_bytes`: 4 KiB, Kafka's `log.index.interval.bytes` default; a lookup
/// scans at most about this many bytes of headers past the index entry.
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4096;
/// Default `batch_bytes_max`: Kafka's `message.max.bytes` default (1 MiB + 12 bytes of log
/// overhead).
pub const BATCH_BYTES_MAX_DEFAULT: u32 = 1_048_588;
/// Default `segment_ms`: 7 days, Kafka's `log.roll.ms` default.
pub const SEGMENT_MS_DEFAULT: u64 = 7 * 24 * 3600 * 1000;
/// Files a log opened on its own ([`Log::open`], outside an engine) keeps open: its active
/// segment's three files plus a few sealed `.log`s for readers. More would only save reopens.
pub const LOG_OPEN_FILES_MAX_DEFAULT: usize = 8;

/// The offset [`Log::delete_records`] reads as "the high watermark" (Kafka's DeleteRecords -1).
pub const DELETE_TO_HIGH_WATERMARK: i64 = -1;

/// Per-partition configuration.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Roll the active segment when an append would make it larger than this.
    pub segment_bytes: u64,
    /// Roll the active segment once it is this old (since created or opened), if non-empty.
    pub segment_ms: Option<u64>,
    /// Bytes of log between sparse index entries.
    pub index_interval_bytes: u32,
    /// Largest accepted batch (MESSAGE_TOO_LARGE above).
    pub batch_bytes_max: u32,
    /// Delete the oldest sealed segments while the rest still holds at least this many bytes.
    pub retention_bytes: Option<u64>,
    /// Delete sealed segments whose newest batch max timestamp is older than this.
    pub retention_ms: Option<u64>,
    /// When appends are fdatasynced (and so when they are acknowledged and visible).
    pub flush: FlushPolicy,
    /// Verify every batch CRC of sealed segments on open (slow: reads all data).
    pub verify_sealed_on_open: bool,
    /// Idempotent producers idle this long (by batch timestamp) are forgotten (Kafka's
    /// `producer.id.expiration.ms`).
    pub producer_id_expiration_ms: u64,
    /// Most idempotent producers tracked per partition (least recently seen evicted first).
    pub producers_max: usize,
    /// Bounds of append validation (decompressed size, client timestamps).
    pub validation: ValidationConfig,
    /// `cleanup.policy` contains `delete`: `retention_bytes` and `retention_ms` delete whole
    /// sealed segments. Without it (`compact` alone) retention deletes nothing.
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`: the cleaner ([`crate::compact`]) keeps the latest
    /// record of each key in the sealed segments, and records without a key are refused at
    /// append (Kafka's INVALID_RECORD).
    pub cleanup_compact: bool,
    /// A record stays uncompacted at least this long after it was written (by its segment's
    /// newest batch timestamp; Kafka's `min.compaction.lag.ms`).
    pub min_compaction_lag_ms: u64,
    /// A dirty record is compacted at the latest this long after it was written, whatever the
    /// dirty ratio (Kafka's `max.compaction.lag.ms`); the active segment rolls this often too.
    pub max_compaction_lag_ms: u64,
    /// Tombstones (records with a null value) and transaction markers stay this long before
    /// the cleaner may drop them (Kafka's `delete.retention.ms`; see [`crate::compact`] for the
    /// clock it is measured on).
    pub delete_retention_ms: u64,
    /// A log is worth cleaning once its dirty (not yet cleaned) bytes are at least this share
    /// of its cleanable bytes (Kafka's `min.cleanable.dirty.ratio`, `0.0..=1.0`).
    pub min_cleanable_dirty_ratio: f64,
    /// Kafka's `message.timestamp.type=LogAppendTime`: every appended batch gets the broker's
    /// clock as its max timestamp and the log-append-time attribute (CRC recomputed); the
    /// producer's record timestamps stay in the batch, unread by consumers.
    pub log_append_time: bool,
}

/// Default `delete_retention_ms`: 1 day, Kafka's `delete.retention.ms` default.
pub const DELETE_RETENTION_MS_DEFAULT: u64 = 86_400_000;
/// Default `max_compaction_lag_ms`: unbounded (`i64::MAX`), Kafka's default.
pub const MAX_COMPACTION_LAG_MS_DEFAULT: u64 = i64::MAX as u64;
/// Default `min_cleanable_dirty_ratio`: Kafka's `min.cleanable.dirty.ratio` default.
pub const MIN_CLEANABLE_DIRTY_RATIO_DEFAULT: f64 = 0.5;
/// Largest millisecond setting: the cleaner adds them to i64 timestamps (Kafka's are longs).
pub const CONFIG_MS_MAX: u64 = i64::MAX as u64;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: Some(SEGMENT_MS_DEFAULT),
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            batch_bytes_max: BATCH_BYTES_MAX_DEFAULT,
            retention_bytes: None,
            retention_ms: None,
            flush: FlushPolicy::Always,
            verify_sealed_on_open: false,
            producer_id_expiration_ms: PRODUCER_ID_EXPIRATION_MS_DEFAULT,
            producers_max: PRODUCERS_PER_PARTITION_MAX_DEFAULT,
            validation: ValidationConfig::default(),
            cleanup_delete: true,
            cleanup_compact: false,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: MAX_COMPACTION_LAG_MS_DEFAULT,
            delete_retention_ms: DELETE_RETENTION_MS_DEFAULT,
            min_cleanable_dirty_ratio: MIN_CLEANABLE_DIRTY_RATIO_DEFAULT,
            log_append_time: false,
        }
    }
}

impl LogConfig {
    /// Checks bounds (segment size fits u32 positions; non-zero sizes).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidArgument { what });
        if self.segment_bytes == 0 || self.segment_bytes > SEGMENT_BYTES_MAX {
            return bad(format!(
                "segment_bytes {} not in 1..={SEGMENT_BYTES_MAX}",
                self.segment_bytes
            ));
        }
        if self.batch_bytes_max == 0 || u64::from(self.batch_bytes_max) > SEGMENT_BYTES_MAX {
            return bad(format!(
                "batch_bytes_max {} out of range",
                self.batch_bytes_max
            ));
        }
        for (name, ms) in [
            ("min_compaction_lag_ms", self.min_compaction_lag_ms),
            ("max_compaction_lag_ms", self.max_compaction_lag_ms),
            ("delete_retention_ms", self.delete_retention_ms),
        ] {
            if ms > CONFIG_MS_MAX {
                return bad(format!("{name} {ms} above {CONFIG_MS_MAX}"));
            }
        }
        // Kafka: max.compaction.lag.ms is at least 1 and not below min.compaction.lag.ms.
        if self.max_compaction_lag_ms == 0 {
            return bad("max_compaction_lag_ms must be at least 1".to_string());
        }
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return bad(format!(
                "min_compaction_lag_ms {} above max_compaction_lag_ms {}",
                self.min_compaction_lag_ms, self.max_compaction_lag_ms
            ));
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return bad(format!(
                "min_cleanable_dirty_ratio {} not in 0.0..=1.0",
                self.min_cleanable_dirty_ratio
            ));
        }
        Ok(())
    }
}

/// A run of whole batches in one segment file, to be sent as is.
#[derive(Debug, Clone)]
pub struct FileSlice {
    /// The segment's `.log` (stays readable even if the segment is deleted meanwhile).
    pub file: Rc<File>,
    /// Byte position of the first batch in the file.
    pub position: u64,
    /// Bytes in the slice (whole batches).
    pub length: u64,
    /// Base offset of the first batch in the slice.
    pub first_offset: i64,
    /// Last offset of the last batch in the slice.
    pub last_offset: i64,
}

impl FileSlice {
    /// Copies the slice's bytes into memory (the `copy` transfer path, and tests).
    pub async fn read_to_vec(&self) -> std::io::Result<Vec<u8>> {
        let (r, buf) = self
            .file
            .read_exact_at(vec![0u8; self.length as usize], self.position)
            .await;
        r.map(|()| buf)
    }
}

/// One batch of a [`Log::read_batches`]: its header (as read from the segment) and where it is.
#[derive(Debug, Clone)]
pub struct BatchRef {
    /// The segment's `.log` (stays readable even if the segment is deleted meanwhile).
    pub file: Rc<File>,
    /// Byte position of the batch in the file.
    pub position: u64,
    /// The batch's header.
    pub header: BatchHeader,
}

impl BatchRef {
    /// The whole batch's bytes.
    pub async fn read(&self) -> std::io::Result<Vec<u8>> {
        let len = self.header.size_bytes() as usize;
        let (r, buf) = self.file.read_exact_at(vec![0u8; len], self.position).await;
        r.map(|()| buf)
    }
}

/// Result of [`Log::read`].
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole batches in offset order; contiguous batches of one file are one slice.
    pub slices: Vec<FileSlice>,
    /// High watermark when the read started (for the Fetch response).
    pub high_watermark: i64,
    /// Log start offset when the read started (for the Fetch response).
    pub log_start_offset: i64,
    /// The offset after the last record of the slices (the requested offset when they are
    /// empty): the slices hold every record from their first batch's base offset up to it.
    pub next_offset: i64,
}

impl ReadResult {
    /// Total bytes in the slices.
    pub fn size_bytes(&self) -> u64 {
        self.slices.iter().map(|s| s.length).sum()
    }
    /// All slices' bytes concatenated.
    pub async fn read_to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.size_bytes() as usize);
        for s in &self.slices {
            out.extend_from_slice(&s.read_to_vec().await?);
        }
        Ok(out)
    }
}

#[derive(Debug)]
struct LogState {
    dirty: i64,
    durable: i64,
    log_start: i64,
    leader_epoch: i32,
    poisoned: Option<String>,
    deleted: bool,
    flushing: bool,
    last_flush: Instant,
}

impl LogState {
    /// The module invariant `log_start <= durable <= dirty`; checked after every change to one
    /// of them (cheap, and a violation means the log's offsets can no longer be trusted).
    fn assert_offsets(&self, partition: &str) {
        assert!(
            self.log_start <= self.durable && self.durable <= self.dirty,
            "{partition}: offsets out of order: log_start {} <= durable {} <= dirty {} broken",
            self.log_start,
            self.durable,
            self.dirty
        );
    }
}

/// Serializes writers; single-threaded async mutex.
/// The append lock: first come, first served, by the order in which `lock` is first polled.
/// FIFO matters: a connection's pipelined Produce requests hand their appends to the owner in
/// request order, and the lock must not let a later one overtake an earlier one that is already
/// waiting (a woken waiter is only scheduled; a task arriving meanwhile would otherwise barge in
/// and reorder the producer's batches). A release wakes only the next ticket's holder, so many
/// connections appending to one partition cost one wake-up per append, not one per waiter.
#[derive(Default)]
struct WriteLock {
    /// The next ticket to hand out.
    next: Cell<u64>,
    /// The ticket whose turn it is.
    serving: Cell<u64>,
    /// Tickets given up while waiting (their futures dropped): skipped when their turn comes.
    abandoned: RefCell<std::collections::BTreeSet<u64>>,
    /// The waker of each waiting ticket.
    waiting: RefCell<std::collections::BTreeMap<u64, std::task::Waker>>,
}

struct WriteGuard<'a>(&'a WriteLock);

/// A waiting turn: gives its ticket up if the waiting future is dropped.
struct Ticket<'a> {
    lock: &'a WriteLock,
    number: u64,
    served: bool,
}

impl WriteLock {
    async fn lock(&self) -> WriteGuard<'_> {
        let number = self.take();
        self.wait(number).await
    }

    /// The next ticket, taken now.
    fn take(&self) -> u64 {
        let number = self.next.get();
        self.next.set(number + 1);
        number
    }

    /// Waits for ticket `number`'s turn; a dropped wait gives the ticket up.
    async fn wait(&self, number: u64) -> WriteGuard<'_> {
        let mut ticket = Ticket {
            lock: self,
            number,
            served: false,
        };
        std::future::poll_fn(|cx| {
            if self.serving.get() == number {
                ticket.served = true;
                self.waiting.borrow_mut().remove(&number);
                return std::task::Poll::Ready(());
            }
            self.waiting.borrow_mut().insert(number, cx.waker().clone());
            std::task::Poll::Pending
        })
        .await;
        WriteGuard(self)
    }

    /// Ticket `number` will not be used: skip it (now, if it is its turn).
    fn give_up(&self, number: u64) {
        self.waiting.borrow_mut().remove(&number);
        if self.serving.get() == number {
            self.advance();
        } else {
            self.abandoned.borrow_mut().insert(number);
        }
    }

    /// The current turn is over: serve the next ticket nobody abandoned, and wake its holder.
    fn advance(&self) {
        let mut next = self.serving.get() + 1;
        {
            let mut abandoned = self.abandoned.borrow_mut();
            while abandoned.remove(&next) {
                next += 1;
            }
        }
        self.serving.set(next);
        let waker = self.waiting.borrow_mut().remove(&next);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.served {
            self.lock.give_up(self.number);
        }
    }
}

/// A place in a log's append order, taken when it is made ([`Log::append_turn`]) and used by
/// [`Log::append_checked_in_turn`], possibly much later and from a task spawned meanwhile:
/// appends whose turns were taken in some order reach the log in that order, however their
/// tasks are scheduled. A turn dropped unused is skipped.
pub struct AppendTurn {
    log: Rc<Log>,
    number: u64,
    used: bool,
}

impl AppendTurn {
    /// The log this turn is for.
    pub fn log(&self) -> &Rc<Log> {
        &self.log
    }
}

impl Drop for AppendTurn {
    fn drop(&mut self) {
        if !self.used {
            self.log.write_lock.give_up(self.number);
        }
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.0.advance();
    }
}

/// Clears the flush-leader flag even if the leader's future is dropped mid-sync.
struct FlushLeader<'a>(&'a Log);

impl Drop for FlushLeader<'_> {
    fn drop(&mut self) {
        self.0.state.borrow_mut().flushing = false;
        self.0.flushed.notify_waiters();
    }
}

/// One partition's log. Single-threaded (`!Send`); share it as `Rc<Log>`.
pub struct Log {
    topic: String,
    partition: i32,
    pub(crate) name: String,
    dir: PathBuf,
    /// The configuration now ([`Log::set_config`] replaces it). An `Rc`, so an append takes
    /// it with one reference count, never a copy of the config.
    config: RefCell<Rc<LogConfig>>,
    /// Where segment files are opened: the engine's cache (shared by its logs) or the log's own.
    pub(crate) files: Rc<FileCache>,
    pub(crate) segments: RefCell<Vec<Rc<Segment>>>,
    state: RefCell<LogState>,
    write_lock: WriteLock,
    /// High watermark moved (or the log was poisoned, deleted or truncated).
    appended: Notify,
    /// A flush finished (successfully or not).
    flushed: Notify,
    recovery: RecoveryReport,
    /// Idempotent-producer state (sequence checks, duplicate detection, open transactions).
    pub(crate) producers: RefCell<ProducerStateTable>,
    /// Aborted transactions of the retained segments, ordered by marker offset.
    pub(crate) aborted: RefCell<Vec<AbortedTxn>>,
    /// The cleaner's state of this log: where the clean part ends, a pass in progress
    /// ([`crate::compact`]).
    pub(crate) cleaner: RefCell<crate::compact::CleanerState>,
    /// Segments the cleaner swapped in so far: a read that found a segment gone while this
    /// moved reads again instead of failing.
    pub(crate) segment_swaps: Cell<u64>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("name", &self.name)
            .field("state", &self.state.borrow())
            .finish()
    }
}

impl Log {
    /// Opens (creating if needed) the log in partition directory `dir`, recovering its segments.
    /// With `repair`, a damaged sealed segment truncates the log instead of failing. The log
    /// keeps at most [`LOG_OPEN_FILES_MAX_DEFAULT`] files open; an engine shares one budget
    /// between its logs instead ([`Log::open_with_files`]).
    pub async fn open(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        repair: bool,
    ) -> Result<Log> {
        let files = FileCache::new(LOG_OPEN_FILES_MAX_DEFAULT);
        Self::open_with_files(dir, topic, partition, config, repair, files).await
    }

    /// [`Log::open`], opening segment files through `files` (shared with other logs: the
    /// engine's budget of open files).
    pub async fn open_with_files(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        repair: bool,
        files: Rc<FileCache>,
    ) -> Result<Log> {
        config.validate()?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io("mkdir", dir, e))?;
        // Temporaries of a snapshot write interrupted by a crash.
        crate::fsutil::remove_stale_temps(dir)
            .map_err(|e| Error::io("remove temporaries", dir, e))?;
        let opts = RecoverOptions {
            index_interval_bytes: u64::from(config.index_interval_bytes),
            verify_sealed: config.verify_sealed_on_open,
            repair,
        };
        let (segments, report) = recovery::recover(dir, opts, &files).await?;
        let (start, end, active) = {
            let first = segments
                .first()
                .expect("recover returns at least one segment");
            let last = segments
                .last()
                .expect("recover returns at least one segment");
            (first.base_offset, last.next_offset(), last.clone())
        };
        // DeleteRecords may have moved the start inside the first segment (crate::log_start).
        let start = super::log_start::effective(super::log_start::load(dir)?, start, end);
        // What we recovered is in the page cache; make it durable so `durable == dirty` is true.
        active
            .log_file()?
            .fdatasync()
            .await
            .map_err(|e| Error::io("fdatasync", active.log_path(), e))?;
        files.sync_dir(dir).await?;
        let (producers, aborted) = rebuild_producers(dir, &segments, config.producers_max).await?;
        // Opening keeps nothing open: a broker starting with thousands of partitions holds no
        // segment file until a partition is used (its files are opened again then).
        for seg in &segments {
            seg.release_files();
        }
        let log = Log {
            topic: topic.to_string(),
            partition,
            name: partition_name(topic, partition),
            dir: dir.to_path_buf(),
            config: RefCell::new(Rc::new(config)),
            files,
            segments: RefCell::new(segments),
            state: RefCell::new(LogState {
                dirty: end,
                durable: end,
                log_start: start,
                leader_epoch: 0,
                poisoned: None,
                deleted: false,
                flushing: false,
                last_flush: Instant::now(),
            }),
            write_lock: WriteLock::default(),
            appended: Notify::new(),
            flushed: Notify::new(),
            recovery: report,
            producers: RefCell::new(producers),
            aborted: RefCell::new(aborted),
            cleaner: RefCell::new(crate::compact::CleanerState::load(dir, start, end)),
            segment_swaps: Cell::new(0),
        };
        log.state.borrow().assert_offsets(&log.name);
        Ok(log)
    }

    /// The topic this log belongs to.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// The partition number within the topic.
    pub fn partition(&self) -> i32 {
        self.partition
    }
    /// The partition directory holding the segment files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The configuration now (the one the log was opened with, or the last
    /// [`Log::set_config`]). Cheap: a shared handle, not a copy.
    pub fn config(&self) -> Rc<LogConfig> {
        self.config.borrow().clone()
    }

    /// Replaces the configuration (a topic's configs changed; the broker also calls it right
    /// after opening a topic's logs). Validated first; on error nothing changes. Takes effect
    /// at once for what is decided per operation (appends' validation and roll, retention,
    /// cleanup policy, compaction); settings only read when a log opens
    /// (`verify_sealed_on_open`, `producers_max` of the already built producer table) or when
    /// a segment is created (`index_interval_bytes`) apply from then on. The flush policy may
    /// change only while everything written is durable when the new policy is
    /// [`FlushPolicy::Always`], since its high watermark is the durable offset and must not
    /// go back below what readers saw ([`Log::flush`] first).
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        let old_flush = self.flush_policy();
        if config.flush == FlushPolicy::Always && old_flush != FlushPolicy::Always {
            let st = self.state.borrow();
            if st.durable < st.dirty {
                return Err(Error::InvalidArgument {
                    what: format!(
                        "{}: flush policy Always while offsets {}..{} are visible but not \
                         durable; flush the log first",
                        self.name, st.durable, st.dirty
                    ),
                });
            }
        }
        *self.config.borrow_mut() = Rc::new(config);
        Ok(())
    }

    /// The flush policy now (read on every append and read: no handle cloned).
    fn flush_policy(&self) -> FlushPolicy {
        self.config.borrow().flush
    }
    /// What recovery did when this log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Offsets visible to readers end here (exclusive).
    pub fn high_watermark(&self) -> i64 {
        let st = self.state.borrow();
        match self.flush_policy() {
            FlushPolicy::Always => st.durable,
            _ => st.dirty,
        }
    }
    /// The last stable offset: the first offset of the oldest open transaction, or the high
    /// watermark when none is open (read_committed reads stop here).
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        // Never below the log start, as Kafka's first unstable offset (DeleteRecords may pass an
        // open transaction's first record).
        let start = self.log_start_offset();
        self.producers
            .borrow()
            .first_unstable_offset()
            .map_or(hw, |first| first.max(start).min(hw))
    }

    /// The aborted transactions a read_committed fetch of `[from, to)` must list: every one
    /// whose marker is at or after `from` and whose first offset is below `to`, as (producer
    /// id, first offset), in marker order.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let aborted = self.aborted.borrow();
        let at = aborted.partition_point(|a| a.last_offset < from);
        aborted[at..]
            .iter()
            .filter(|a| a.first_offset < to)
            .map(|a| (a.producer_id, a.first_offset))
            .collect()
    }

    /// [`Log::aborted_between`] with each transaction's marker offset: (producer id, first
    /// offset, marker offset). A batch of that producer between the two is aborted.
    pub fn aborted_ranges_between(&self, from: i64, to: i64) -> Vec<(i64, i64, i64)> {
        let aborted = self.aborted.borrow();
        let at = aborted.partition_point(|a| a.last_offset < from);
        aborted[at..]
            .iter()
            .filter(|a| a.first_offset < to)
            .map(|a| (a.producer_id, a.first_offset, a.last_offset))
            .collect()
    }

    /// Aborted transactions the log remembers (those of its retained segments).
    pub fn aborted_count(&self) -> usize {
        self.aborted.borrow().len()
    }

    /// The producers this log tracks (at most `producers_max`), by producer id: epoch, last
    /// sequence, when last seen and the first offset of an open transaction
    /// (DescribeProducers).
    pub fn producers(&self) -> Vec<DescribedProducer> {
        self.producers.borrow().describe()
    }

    /// Open transactions in this log: (first offset, producer id), oldest first.
    pub fn open_transactions(&self) -> Vec<(i64, i64)> {
        self.producers.borrow().open_transactions().collect()
    }

    /// Writes `producer_id`'s transaction marker (commit or abort) with `producer_epoch` (the
    /// producer's, or the newer one its coordinator bumped to) and returns its offset. Under
    /// `FlushPolicy::Always` it resolves once the marker is durable. A marker for a producer with
    /// no open transaction here is written anyway (the coordinator completing a transaction
    /// again after a restart) and changes nothing.
    pub async fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<i64> {
        let batch = txn::marker_batch(
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
            now_ms(),
        );
        self.append_as(batch, AppendOrigin::Internal).await
    }

    /// After a control batch `h` was written at `offset` (under the write lock): ends its
    /// producer's transaction, and indexes it when it was aborted.
    fn end_txn_locked(&self, h: &BatchHeader, offset: i64, batch: &[u8], now: i64) -> Result<()> {
        let Some(commit) = txn::marker_kind(h, batch) else {
            return Ok(());
        };
        let mut producers = self.producers.borrow_mut();
        let Some(first_offset) = producers.end_txn(h.producer_id, h.producer_epoch, now) else {
            return Ok(());
        };
        if commit {
            return Ok(());
        }
        let lso = producers.first_unstable_offset().unwrap_or(offset + 1);
        drop(producers);
        let entry = AbortedTxn {
            producer_id: h.producer_id,
            first_offset,
            last_offset: offset,
            last_stable_offset: lso.min(offset + 1),
        };
        self.aborted.borrow_mut().push(entry);
        let base = self.active().base_offset;
        let r = txn::append_entry(&txn::index_path(&self.dir, base), &entry);
        self.poison_on_err(r)
    }

    /// The earliest offset (Kafka ListOffsets `earliest`).
    pub fn log_start_offset(&self) -> i64 {
        self.state.borrow().log_start
    }
    /// One past the last written offset (written, maybe not durable).
    pub fn log_end_offset(&self) -> i64 {
        self.state.borrow().dirty
    }
    /// One past the last fdatasynced offset.
    pub fn durable_offset(&self) -> i64 {
        self.state.borrow().durable
    }
    /// Number of segments (sealed + active).
    pub fn segment_count(&self) -> usize {
        self.segments.borrow().len()
    }
    /// Total bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.borrow().iter().map(|s| s.size_bytes()).sum()
    }
    /// Base offsets of all segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments
            .borrow()
            .iter()
            .map(|s| s.base_offset)
            .collect()
    }
    /// Sets the partition leader epoch stamped into appended batches.
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.state.borrow_mut().leader_epoch = epoch;
    }
    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<String> {
        self.state.borrow().poisoned.clone()
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        let st = self.state.borrow();
        if st.deleted {
            return Err(Error::Deleted {
                partition: self.name.clone(),
            });
        }
        if let Some(cause) = &st.poisoned {
            return Err(Error::Poisoned {
                partition: self.name.clone(),
                cause: cause.clone(),
            });
        }
        Ok(())
    }

    /// Runs `f` holding the write lock: no append, roll, retention or truncation runs
    /// meanwhile (the cleaner's segment swap).
    pub(crate) async fn under_write_lock<T, Fut>(&self, f: impl FnOnce() -> Fut) -> T
    where
        Fut: std::future::Future<Output = T>,
    {
        let _guard = self.write_lock.lock().await;
        f().await
    }

    pub(crate) fn poison(&self, e: &Error) {
        {
            let mut st = self.state.borrow_mut();
            if st.poisoned.is_none() {
                st.poisoned = Some(e.to_string());
            }
        }
        self.appended.notify_waiters();
        self.flushed.notify_waiters();
    }

    /// Runs an I/O step; a failure poisons the log, except running out of file descriptors
    /// (every step that opens a file does so before it writes anything, or cleans up what it
    /// made) and a full disk (a write that finds no space is undone: [`Error::DiskFull`]). Both
    /// leave the log as it was, so a retry may succeed.
    fn poison_on_err<T>(&self, r: Result<T>) -> Result<T> {
        match &r {
            Err(Error::OpenFilesExhausted { .. } | Error::DiskFull { .. }) => {}
            Err(e) => self.poison(e),
            Ok(_) => {}
        }
        r
    }

    /// The log was deleted (its directory is being removed): refuse further use and stop
    /// holding its files open, so their space is freed as soon as in-flight readers finish.
    pub(crate) fn mark_deleted(&self) {
        self.state.borrow_mut().deleted = true;
        self.close_files();
        self.appended.notify_waiters();
        self.flushed.notify_waiters();
    }

    /// Stops holding any of this log's segment files open (they are reopened on the next use).
    pub fn close_files(&self) {
        for seg in self.segments.borrow().iter() {
            seg.release_files();
        }
    }

    /// The budget of open files this log uses.
    pub fn file_cache(&self) -> &Rc<FileCache> {
        &self.files
    }

    fn active(&self) -> Rc<Segment> {
        self.segments
            .borrow()
            .last()
            .expect("a log always has an active segment")
            .clone()
    }

    /// Validates, stamps and appends a buffer of one or more concatenated RecordBatch v2 batches
    /// (a Produce request's `records`) from a client ([`AppendOrigin::Client`]). Returns the
    /// base offset of the first batch. Either every batch is appended or (on validation failure)
    /// none is. Under `FlushPolicy::Always` the future resolves once the data is durable.
    pub async fn append(&self, buf: Vec<u8>) -> Result<i64> {
        self.append_as(buf, AppendOrigin::Client).await
    }

    /// [`Log::append`] for an explicit origin: [`AppendOrigin::Internal`] for batches the
    /// broker or the embedding application writes itself (may be control batches).
    pub async fn append_as(&self, buf: Vec<u8>, origin: AppendOrigin) -> Result<i64> {
        self.append_bytes_as(Bytes::from(buf), origin).await
    }

    /// [`Log::append`] of batches in a shared buffer (a slice of a Produce request's frame):
    /// nothing is copied before the write. `records` is not modified: the offsets and leader
    /// epoch are stamped into a copy of each batch's first [`STAMPED_PREFIX_BYTES`] bytes, and
    /// each prefix and the rest of its batch go to the file in one vectored write.
    pub async fn append_bytes(&self, records: Bytes) -> Result<i64> {
        self.append_bytes_as(records, AppendOrigin::Client).await
    }

    /// [`Log::append_bytes`] for an explicit origin (see [`Log::append_as`]).
    pub async fn append_bytes_as(&self, records: Bytes, origin: AppendOrigin) -> Result<i64> {
        let checked =
            CheckedAppend::check(&self.config(), &self.topic, self.partition, records, origin)?;
        self.append_checked(checked).await
    }

    /// [`Log::append_bytes`] of a buffer already validated by [`CheckedAppend::check`], possibly
    /// on another thread: only what needs the log's state is left (idempotence, offsets, the
    /// write). A buffer checked under other validation bounds than this log's is checked again.
    pub async fn append_checked(&self, checked: CheckedAppend) -> Result<i64> {
        let number = self.write_lock.take();
        self.append_checked_at(number, checked).await
    }

    /// Takes this log's next place in append order now (see [`AppendTurn`]).
    pub fn append_turn(self: &Rc<Self>) -> AppendTurn {
        AppendTurn {
            log: self.clone(),
            number: self.write_lock.take(),
            used: false,
        }
    }

    /// [`Log::append_checked`] in a turn taken earlier with [`Log::append_turn`] on this log.
    pub async fn append_checked_in_turn(
        &self,
        mut turn: AppendTurn,
        checked: CheckedAppend,
    ) -> Result<i64> {
        assert!(
            std::ptr::eq(Rc::as_ptr(&turn.log), self),
            "{}: an append turn of another log",
            self.name
        );
        turn.used = true;
        self.append_checked_at(turn.number, checked).await
    }

    /// An append whose records are held elsewhere first (the broker's timer log of delayed
    /// records), in a turn taken with [`Log::append_turn`]. Under the write lock, in order:
    /// 1. the idempotence of `client` (the producer's batch headers, none of whose records need
    ///    be written here) is checked against this log's producers: a retried batch answers
    ///    [`HeldAppend::Duplicate`] and nothing else happens;
    /// 2. `stage` runs: it makes the held records durable where they are kept and returns the
    ///    batches to append here now, if any (built after the check, so from this log's producer
    ///    state: [`Log::producer_last`]);
    /// 3. those batches are written, and the client's batches are recorded as appended at
    ///    their base offset (or -1 when nothing was written here): a retry of them is a
    ///    duplicate from now on.
    ///
    /// The lock is held across `stage`, so no other append of this log runs between the check
    /// and the record. If `stage` fails nothing is recorded (the producer's retry is checked
    /// again). Records of `client` are never appended by this call; after a restart the caller
    /// puts the recorded batches back with [`Log::restore_producer_batch`].
    pub async fn append_held<F, Fut>(
        &self,
        mut turn: AppendTurn,
        client: &[BatchHeader],
        stage: F,
    ) -> Result<HeldAppend>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<CheckedAppend>>>,
    {
        assert!(
            std::ptr::eq(Rc::as_ptr(&turn.log), self),
            "{}: an append turn of another log",
            self.name
        );
        turn.used = true;
        let guard = self.write_lock.wait(turn.number).await;
        self.check_writable()?;
        let infos: Vec<BatchInfo> = client
            .iter()
            .map(|h| BatchInfo {
                position: 0,
                header: *h,
            })
            .collect();
        if let ProducerCheck::Duplicate {
            base_offset,
            next_offset,
        } = self.check_producers(&infos)?
        {
            drop(guard);
            if self.flush_policy() == FlushPolicy::Always && base_offset >= 0 {
                self.wait_durable(next_offset).await?;
            }
            return Ok(HeldAppend::Duplicate { base_offset });
        }
        let now_batches = stage().await?;
        let mut written = None;
        if let Some(checked) = now_batches {
            let checked = if checked.bounds_match(&self.config()) {
                checked
            } else {
                CheckedAppend::check(
                    &self.config(),
                    &self.topic,
                    self.partition,
                    checked.records,
                    checked.origin,
                )?
            };
            let count = checked.offset_count;
            match self
                .write_locked(checked.records, &checked.infos, count)
                .await?
            {
                Written::Appended { next } => written = Some((next - count, next)),
                Written::Duplicate { .. } => {
                    return Err(Error::InvalidArgument {
                        what: format!(
                            "{}: a held append's own batches were taken for a retry",
                            self.name
                        ),
                    })
                }
            }
        }
        {
            let base = written.map_or(-1, |(base, _)| base);
            let now = now_ms();
            let mut producers = self.producers.borrow_mut();
            for h in client {
                producers.update(h, base, now);
            }
        }
        drop(guard);
        if let Some((_, next)) = written {
            self.after_write(next).await?;
        }
        Ok(HeldAppend::Admitted {
            base_offset: written.map(|(base, _)| base),
        })
    }

    /// The epoch and last sequence this log holds for an idempotent producer, if it tracks it.
    pub fn producer_last(&self, producer_id: i64) -> Option<(i16, i32)> {
        let producers = self.producers.borrow();
        let entry = producers.get(producer_id)?;
        let last = entry.batches.back()?;
        Some((entry.epoch, last.last_seq))
    }

    /// Puts back a batch [`Log::append_held`] recorded before a restart (the records went
    /// elsewhere, so the log's own replay does not see it). Recorded only if it comes next for
    /// its producer (or the producer is unknown here): a batch the log already has, or an older
    /// one, changes nothing. Returns whether it was recorded.
    pub fn restore_producer_batch(&self, h: &BatchHeader) -> bool {
        let mut producers = self.producers.borrow_mut();
        match producers.check(h) {
            Ok(Verdict::Append) | Err(ProducerError::UnknownProducer { .. }) => {
                producers.update(h, -1, now_ms());
                true
            }
            _ => false,
        }
    }

    /// Makes the producer state durable now (a snapshot at the current end, which is a segment
    /// boundary: the active segment is rolled unless it is empty). State recorded by
    /// [`Log::append_held`] then survives a restart without its caller's help.
    pub async fn snapshot_producers(&self) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        self.check_writable()?;
        if !self.active().is_empty() {
            let r = self.roll_locked().await;
            return self.poison_on_err(r);
        }
        let dirty = self.state.borrow().dirty;
        self.write_producer_snapshot(dirty).await
    }

    /// Deletes whole sealed segments every record of which is below `offset` (the caller no
    /// longer needs them: a drained internal log). The active segment is kept. Returns how many
    /// were deleted.
    pub async fn delete_below(&self, offset: i64) -> Result<usize> {
        let _guard = self.write_lock.lock().await;
        self.check_writable()?;
        let mut deleted = 0;
        loop {
            let first = {
                let segs = self.segments.borrow();
                if segs.len() <= 1 || segs[1].base_offset > offset {
                    break;
                }
                segs[0].clone()
            };
            self.delete_first_segment(&first)?;
            deleted += 1;
        }
        if deleted > 0 {
            self.after_deleting_segments().await?;
        }
        Ok(deleted)
    }

    /// DeleteRecords (KIP-107): moves the log start up to `offset` (may be inside a segment,
    /// [`DELETE_TO_HIGH_WATERMARK`] for the high watermark), durably, then deletes the whole
    /// sealed segments below it, except from the one holding an open transaction's first record
    /// on (the producer state is rebuilt from them, as retention keeps them). Returns the new
    /// log start (Kafka's low watermark); a start already past `offset` is kept, never moved
    /// back. `OffsetOutOfRange` when `offset` is negative (other than -1) or past the high
    /// watermark.
    pub async fn delete_records(&self, offset: i64) -> Result<i64> {
        let hw = self.high_watermark();
        let target = if offset == DELETE_TO_HIGH_WATERMARK {
            hw
        } else {
            offset
        };
        if target < 0 || target > hw {
            return Err(self.out_of_range(offset, self.log_start_offset(), hw));
        }
        // The stored start must not pass the durable end (FlushPolicy::Interval/Never read up to
        // the page cache): sync first, so a crash cannot keep a start past the data it lost.
        if target > self.durable_offset() {
            self.flush().await?;
        }
        let _guard = self.write_lock.lock().await;
        self.check_writable()?;
        let start = self.log_start_offset();
        if target <= start {
            return Ok(start);
        }
        let r = super::log_start::store(&self.dir, target).await;
        self.poison_on_err(r)?;
        {
            let mut st = self.state.borrow_mut();
            st.log_start = target;
            st.assert_offsets(&self.name);
        }
        let mut deleted = 0;
        loop {
            let first = {
                let segs = self.segments.borrow();
                if segs.len() <= 1 || segs[1].base_offset > target {
                    break;
                }
                segs[0].clone()
            };
            if self
                .producers
                .borrow()
                .first_unstable_offset()
                .is_some_and(|f| f < first.next_offset())
            {
                break;
            }
            self.delete_first_segment(&first)?;
            deleted += 1;
        }
        if deleted > 0 {
            self.after_deleting_segments().await?;
        }
        Ok(self.log_start_offset())
    }

    /// Deletes the first (sealed) segment `first` and moves the log start to the next one; under
    /// the write lock (retention and `delete_below`).
    fn delete_first_segment(&self, first: &Segment) -> Result<()> {
        let r = first.delete_files();
        self.poison_on_err(r)?;
        let r = txn::remove(&txn::index_path(&self.dir, first.base_offset));
        self.poison_on_err(r)?;
        let next_start = {
            let mut segs = self.segments.borrow_mut();
            segs.remove(0);
            segs[0].base_offset
        };
        self.aborted
            .borrow_mut()
            .retain(|a| a.last_offset >= next_start);
        let mut st = self.state.borrow_mut();
        // A start DeleteRecords moved past this segment stays where it is.
        st.log_start = st.log_start.max(next_start);
        st.assert_offsets(&self.name);
        Ok(())
    }

    /// After segments were deleted: drop the snapshots below the new start and make the
    /// deletions durable.
    async fn after_deleting_segments(&self) -> Result<()> {
        let start = self.state.borrow().log_start;
        remove_snapshots(&self.dir, |base| base < start);
        let r = self.files.sync_dir(&self.dir).await;
        self.poison_on_err(r)
    }

    /// The append in ticket `number` of the write lock (given up if refused before its turn).
    async fn append_checked_at(&self, number: u64, checked: CheckedAppend) -> Result<i64> {
        let checked = if checked.bounds_match(&self.config()) {
            checked
        } else {
            match CheckedAppend::check(
                &self.config(),
                &self.topic,
                self.partition,
                checked.records,
                checked.origin,
            ) {
                Ok(checked) => checked,
                Err(e) => {
                    self.write_lock.give_up(number);
                    return Err(e);
                }
            }
        };
        let CheckedAppend {
            records,
            infos,
            offset_count,
            ..
        } = checked;
        let guard = self.write_lock.wait(number).await;
        let next = match self.write_locked(records, &infos, offset_count).await? {
            Written::Appended { next } => next,
            Written::Duplicate {
                base_offset,
                next_offset,
            } => {
                drop(guard);
                if self.flush_policy() == FlushPolicy::Always {
                    self.wait_durable(next_offset).await?;
                }
                return Ok(base_offset);
            }
        };
        drop(guard);
        let base = next - offset_count;
        self.after_write(next).await?;
        Ok(base)
    }

    /// After a write that moved the log end to `next` (write lock released): under `Always`
    /// wait until it is durable (group commit); under `Interval` sync if one is due; wake
    /// readers of what is visible now.
    async fn after_write(&self, next: i64) -> Result<()> {
        match self.flush_policy() {
            FlushPolicy::Always => self.wait_durable(next).await?,
            FlushPolicy::Interval(d) => {
                self.appended.notify_waiters();
                let due = self.state.borrow().last_flush.elapsed() >= d;
                if due {
                    self.wait_durable(next).await?;
                }
            }
            FlushPolicy::Never => self.appended.notify_waiters(),
        }
        Ok(())
    }

    /// The write of an append, under the write lock: roll if needed, check idempotence, stamp
    /// offsets from the log end, write, and move the log end.
    async fn write_locked(
        &self,
        records: Bytes,
        infos: &[BatchInfo],
        offset_count: i64,
    ) -> Result<Written> {
        self.check_writable()?;
        let r = self.maybe_roll(records.len() as u64, offset_count).await;
        self.poison_on_err(r)?;
        let (base, epoch) = {
            let st = self.state.borrow();
            (st.dirty, st.leader_epoch)
        };
        if base.checked_add(offset_count).is_none() {
            return Err(Error::InvalidArgument {
                what: format!("{}: offset overflow", self.name),
            });
        }
        // Idempotence: checked under the write lock, so checks and updates are serialized.
        if let ProducerCheck::Duplicate {
            base_offset,
            next_offset,
        } = self.check_producers(infos)?
        {
            return Ok(Written::Duplicate {
                base_offset,
                next_offset,
            });
        }
        let append_time = self.config().log_append_time.then(now_ms);
        let (pieces, written, next) = stamp_batches(&records, infos, base, epoch, append_time);
        debug_assert_eq!(
            next,
            base + offset_count,
            "{}: stamped offsets not contiguous",
            self.name
        );
        let active = self.active();
        // The log end and the active segment's end are the same offset (segment/log agreement).
        assert_eq!(
            active.next_offset(),
            base,
            "{}: active segment {} ends at another offset than the log",
            self.name,
            active.base_offset
        );
        let r = active.append(pieces, &written).await;
        self.poison_on_err(r)?;
        active.set_next_offset(next);
        {
            let mut st = self.state.borrow_mut();
            st.dirty = next;
            st.assert_offsets(&self.name);
        }
        // Expiry runs on the broker's clock, not the producer's timestamps (which may be old or
        // skewed).
        let now = now_ms();
        let mut markers = false;
        {
            let mut producers = self.producers.borrow_mut();
            for (info, w) in infos.iter().zip(&written) {
                producers.update(&info.header, w.base_offset, now);
                markers |= info.header.is_control();
            }
        }
        if markers {
            for (info, w) in infos.iter().zip(&written) {
                if info.header.is_control() {
                    let at = info.position as usize;
                    let batch = records.get(at..).unwrap_or_default();
                    self.end_txn_locked(&info.header, w.base_offset, batch, now)?;
                }
            }
        }
        Ok(Written::Appended { next })
    }

    /// Group commit: resolves when `durable >= target`. The first waiter that finds no flush in
    /// flight becomes the leader and runs one fdatasync covering everything written so far;
    /// the others wait for it and re-check.
    async fn wait_durable(&self, target: i64) -> Result<()> {
        loop {
            let flushed = self.flushed.notified();
            let flushing = {
                let st = self.state.borrow();
                if let Some(cause) = &st.poisoned {
                    return Err(Error::Poisoned {
                        partition: self.name.clone(),
                        cause: cause.clone(),
                    });
                }
                if st.durable >= target {
                    return Ok(());
                }
                st.flushing
            };
            if flushing {
                flushed.await;
                continue;
            }
            self.flush_once().await?;
        }
    }

    /// One fdatasync of the active segment as flush leader (caller checked none is in flight).
    async fn flush_once(&self) -> Result<()> {
        self.state.borrow_mut().flushing = true;
        let leader = FlushLeader(self);
        // Waiting for a write permit (other partitions' syncs) lets more appends join this one.
        let permit = self.files.write_permit().await;
        let active = self.active();
        // Out of descriptors: no sync ran, nothing is lost; the log stays writable and the next
        // flush covers this data.
        let log_file = active.log_file()?;
        let (covered, durable_before) = {
            let st = self.state.borrow();
            (st.dirty, st.durable)
        };
        let sync_started = Instant::now();
        let r = log_file
            .fdatasync()
            .await
            .map_err(|e| Error::io("fdatasync", active.log_path(), e));
        let records = u64::try_from(covered - durable_before).unwrap_or(0);
        super::stats::record_fsync(sync_started.elapsed(), records, r.is_ok());
        drop((log_file, permit));
        match r {
            Ok(()) => {
                let advanced = {
                    let mut st = self.state.borrow_mut();
                    st.last_flush = Instant::now();
                    // A truncation during the sync may have moved the log end below `covered`.
                    let covered = covered.min(st.dirty);
                    let advanced = covered > st.durable;
                    st.durable = st.durable.max(covered);
                    st.assert_offsets(&self.name);
                    advanced
                };
                drop(leader);
                if advanced {
                    self.appended.notify_waiters();
                }
                Ok(())
            }
            Err(e) => {
                self.poison(&e);
                drop(leader);
                Err(e)
            }
        }
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> Result<()> {
        let target = self.state.borrow().dirty;
        self.wait_durable(target).await
    }

    /// Whether some written data is not fdatasynced yet.
    pub fn has_unsynced(&self) -> bool {
        let st = self.state.borrow();
        st.durable < st.dirty
    }

    /// Under `FlushPolicy::Interval(d)`: flushes if `d` has passed since the last flush and there
    /// is unsynced data. Call it from a timer so idle partitions also get synced.
    pub async fn flush_if_due(&self) -> Result<()> {
        if let FlushPolicy::Interval(d) = self.flush_policy() {
            let (due, target) = {
                let st = self.state.borrow();
                (
                    st.durable < st.dirty && st.last_flush.elapsed() >= d,
                    st.dirty,
                )
            };
            if due {
                return self.wait_durable(target).await;
            }
        }
        Ok(())
    }

    /// Rolls if the incoming append would overflow the active segment or it is too old, or if
    /// the last roll sealed it but could not start the next one.
    async fn maybe_roll(&self, incoming_bytes: u64, incoming_offsets: i64) -> Result<()> {
        let active = self.active();
        if active.state.borrow().sealed {
            return self.roll_locked().await;
        }
        if active.is_empty() {
            return Ok(());
        }
        let dirty = self.state.borrow().dirty;
        let config = self.config();
        let too_big = active.size_bytes() + incoming_bytes > config.segment_bytes;
        let rel_overflow = dirty + incoming_offsets - 1 - active.base_offset > i64::from(u32::MAX);
        let too_old = roll_after_ms(&config)
            .is_some_and(|ms| active.created.elapsed() >= Duration::from_millis(ms));
        if too_big || rel_overflow || too_old {
            self.roll_locked().await?;
        }
        Ok(())
    }

    /// Seals the active segment (fsyncing it) and starts a new one at the log end offset.
    ///
    /// Each step either completes or leaves the log as the previous step left it, so a roll
    /// that ran out of file descriptors is finished by the next append: the active segment may
    /// be sealed (then it is not sealed again), and a new segment is added only once its files
    /// exist and its directory entry is durable.
    async fn roll_locked(&self) -> Result<()> {
        let active = self.active();
        if !active.state.borrow().sealed {
            active.seal().await?;
        }
        // Its aborted transactions are not rebuilt from the log after the snapshot below.
        txn::sync(&txn::index_path(&self.dir, active.base_offset))?;
        let dirty = self.state.borrow().dirty;
        let seg = Segment::create(
            &self.dir,
            dirty,
            u64::from(self.config().index_interval_bytes),
            &self.files,
        )?;
        if let Err(e) = self.files.sync_dir(&self.dir).await {
            // Not durable yet: appends to it could be acknowledged and then lost with its entry.
            let _ = seg.delete_files();
            return Err(e);
        }
        self.segments.borrow_mut().push(Rc::new(seg));
        self.write_producer_snapshot(dirty).await?;
        let advanced = {
            let mut st = self.state.borrow_mut();
            let advanced = dirty > st.durable;
            st.durable = st.durable.max(dirty);
            st.assert_offsets(&self.name);
            advanced
        };
        if advanced {
            self.appended.notify_waiters();
            self.flushed.notify_waiters();
        }
        Ok(())
    }

    /// Run the idempotent-producer checks of every batch of an append buffer.
    fn check_producers(&self, infos: &[BatchInfo]) -> Result<ProducerCheck> {
        let producers = self.producers.borrow();
        let idempotent = infos.iter().filter(|i| i.header.producer_id >= 0).count();
        if idempotent == 0 {
            return Ok(ProducerCheck::Append);
        }
        // Several batches of one buffer: later ones are checked against the earlier ones.
        let mut scratch = (infos.len() > 1).then(|| producers.clone());
        for (i, info) in infos.iter().enumerate() {
            let table = scratch.as_ref().unwrap_or(&producers);
            match table.check(&info.header) {
                Ok(Verdict::Append) => {
                    if let Some(t) = scratch.as_mut() {
                        t.update(&info.header, i64::MAX / 2, info.header.max_timestamp);
                    }
                }
                Ok(Verdict::Duplicate { base_offset }) if infos.len() == 1 => {
                    let next_offset = base_offset + info.header.offset_count();
                    return Ok(ProducerCheck::Duplicate {
                        base_offset,
                        next_offset,
                    });
                }
                // A retried batch inside a larger buffer cannot be half-applied.
                Ok(Verdict::Duplicate { .. }) => {
                    return Err(Error::Producer {
                        partition: self.name.clone(),
                        batch_index: i,
                        source: ProducerError::OutOfOrder {
                            got: info.header.base_sequence,
                            expected: info.header.base_sequence,
                        },
                    })
                }
                Err(source) => {
                    return Err(Error::Producer {
                        partition: self.name.clone(),
                        batch_index: i,
                        source,
                    })
                }
            }
        }
        Ok(ProducerCheck::Append)
    }

    /// Persist the producer state as of `offset` (`{offset:020}.snapshot`), replaced atomically
    /// and durably ([`crate::fsutil`]).
    async fn write_producer_snapshot(&self, offset: i64) -> Result<()> {
        let bytes = self.producers.borrow().encode_snapshot();
        let path = self.dir.join(format!("{offset:020}.{SNAPSHOT_SUFFIX}"));
        crate::fsutil::replace_atomically_on_shard(&path, bytes)
            .await
            .map_err(|source| {
                // A missing snapshot only costs a longer replay at the next open: out of
                // descriptors here is not a reason to poison the log.
                if super::files::is_exhaustion(&source) {
                    Error::OpenFilesExhausted {
                        path: path.clone(),
                        held: self.files.held(),
                        source,
                    }
                } else if Error::is_no_space(&source) {
                    // Nor is a full disk (the replace leaves no partial file behind).
                    Error::DiskFull {
                        op: "replace snapshot",
                        path: path.clone(),
                        source,
                    }
                } else {
                    Error::io("replace snapshot", &path, source)
                }
            })?;
        // Older snapshots are superseded; keep the previous one as a fallback.
        let keep_from = self
            .segments
            .borrow()
            .iter()
            .rev()
            .nth(1)
            .map_or(offset, |s| s.base_offset);
        remove_snapshots(&self.dir, |base| base < keep_from);
        Ok(())
    }

    /// Producers whose state this partition tracks.
    pub fn producer_count(&self) -> usize {
        self.producers.borrow().len()
    }

    /// Seals the active segment now (no-op if it is empty).
    pub async fn roll(&self) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        self.check_writable()?;
        if self.active().is_empty() {
            return Ok(());
        }
        let r = self.roll_locked().await;
        self.poison_on_err(r)
    }

    fn out_of_range(&self, offset: i64, start: i64, hw: i64) -> Error {
        Error::OffsetOutOfRange {
            partition: self.name.clone(),
            offset,
            log_start_offset: start,
            high_watermark: hw,
        }
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes` but at
    /// least one batch (KIP-74), never beyond the high watermark. `offset == high_watermark`
    /// gives no slices; outside `[log_start_offset, high_watermark]` is `OffsetOutOfRange`.
    pub async fn read(&self, offset: i64, max_bytes: u64) -> Result<ReadResult> {
        self.read_through(offset, max_bytes, i64::MAX).await
    }

    /// [`Log::read`] that also stops after the batch holding `last_wanted` (share groups read
    /// only as many records as they may acquire).
    pub async fn read_through(
        &self,
        offset: i64,
        max_bytes: u64,
        last_wanted: i64,
    ) -> Result<ReadResult> {
        self.read_inner(offset, max_bytes, last_wanted, None).await
    }

    /// [`Log::read_through`] that also lists every batch of the slices with its header and
    /// place (filtered views decide per batch what to send; the headers were read anyway).
    pub async fn read_batches(
        &self,
        offset: i64,
        max_bytes: u64,
        last_wanted: i64,
    ) -> Result<(ReadResult, Vec<BatchRef>)> {
        let mut batches = Vec::new();
        let read = self
            .read_inner(offset, max_bytes, last_wanted, Some(&mut batches))
            .await?;
        Ok((read, batches))
    }

    /// A read that found a segment the cleaner replaced meanwhile reads again (from the new
    /// segments), at most [`crate::compact::READ_ATTEMPTS_MAX`] times.
    async fn read_inner(
        &self,
        offset: i64,
        max_bytes: u64,
        last_wanted: i64,
        mut batches: Option<&mut Vec<BatchRef>>,
    ) -> Result<ReadResult> {
        let mut attempts = 1;
        loop {
            let swaps = self.segment_swaps.get();
            if let Some(b) = batches.as_deref_mut() {
                b.clear();
            }
            let r = self
                .read_once(offset, max_bytes, last_wanted, batches.as_deref_mut())
                .await;
            match r {
                Err(_)
                    if self.segment_swaps.get() != swaps
                        && attempts < crate::compact::READ_ATTEMPTS_MAX =>
                {
                    attempts += 1
                }
                r => return r,
            }
        }
    }

    async fn read_once(
        &self,
        offset: i64,
        max_bytes: u64,
        last_wanted: i64,
        mut batches: Option<&mut Vec<BatchRef>>,
    ) -> Result<ReadResult> {
        let hw = self.high_watermark();
        let start = self.log_start_offset();
        if offset < start || offset > hw {
            return Err(self.out_of_range(offset, start, hw));
        }
        let mut result = ReadResult {
            slices: Vec::new(),
            high_watermark: hw,
            log_start_offset: start,
            next_offset: offset,
        };
        if offset == hw {
            return Ok(result);
        }
        let segments: Vec<Rc<Segment>> = {
            let segs = self.segments.borrow();
            let i = segs
                .partition_point(|s| s.base_offset <= offset)
                .saturating_sub(1);
            segs[i..].to_vec()
        };
        let mut total = 0u64;
        // Offsets increase across batches and segments (contiguous but where a clean removed
        // batches); read-back checks it again.
        let mut expected = offset;
        'segments: for (k, seg) in segments.iter().enumerate() {
            let end = seg.size_bytes();
            // Held by the slices (and the transfer that sends them): an eviction meanwhile
            // does not close it.
            let file = self.segment_file(seg, offset, start, hw)?;
            let mut scan = HeaderScan::new(seg);
            let mut pos = if k == 0 {
                match seg.find_batch_with(&mut scan, offset, end).await? {
                    Some((pos, _)) => pos,
                    None => continue,
                }
            } else {
                0
            };
            while pos < end {
                let h = scan.header_at(pos, end).await?;
                if h.base_offset >= hw {
                    break 'segments;
                }
                debug_assert!(
                    expected <= h.last_offset(),
                    "{}: batch {}..={} at {pos} of segment {} where offset {expected} or later \
                     was expected",
                    self.name,
                    h.base_offset,
                    h.last_offset(),
                    seg.base_offset
                );
                expected = h.last_offset() + 1;
                let size = h.size_bytes();
                if total > 0 && total + size > max_bytes {
                    break 'segments;
                }
                push_batch(&mut result.slices, &file, pos, &h);
                if let Some(batches) = batches.as_deref_mut() {
                    batches.push(BatchRef {
                        file: file.clone(),
                        position: pos,
                        header: h,
                    });
                }
                result.next_offset = h.last_offset() + 1;
                total += size;
                pos += size;
                if total >= max_bytes || h.last_offset() >= last_wanted {
                    break 'segments;
                }
            }
        }
        Ok(result)
    }

    /// The `.log` of `seg` for a read at `offset`. A segment deleted meanwhile (retention or
    /// truncation) answers as if the read had come after the deletion: out of range, or
    /// `Deleted` when the whole partition went.
    fn segment_file(&self, seg: &Segment, offset: i64, start: i64, hw: i64) -> Result<Rc<File>> {
        seg.log_file().map_err(|e| {
            if self.state.borrow().deleted {
                Error::Deleted {
                    partition: self.name.clone(),
                }
            } else if seg.is_deleted() {
                self.out_of_range(offset, start.max(self.log_start_offset()), hw)
            } else {
                e
            }
        })
    }

    /// Kafka ListOffsets by timestamp: base offset of the first batch whose max timestamp is
    /// `>= timestamp_ms`, below the high watermark; `None` if there is none.
    pub async fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<i64>> {
        // As a read: a segment the cleaner replaced meanwhile is looked up again.
        let mut attempts = 1;
        loop {
            let swaps = self.segment_swaps.get();
            match self.offset_for_timestamp_once(timestamp_ms).await {
                Err(_)
                    if self.segment_swaps.get() != swaps
                        && attempts < crate::compact::READ_ATTEMPTS_MAX =>
                {
                    attempts += 1
                }
                r => return r,
            }
        }
    }

    async fn offset_for_timestamp_once(&self, timestamp_ms: i64) -> Result<Option<i64>> {
        let hw = self.high_watermark();
        let start = self.log_start_offset();
        let segments: Vec<Rc<Segment>> = self.segments.borrow().clone();
        for seg in segments {
            if seg.base_offset >= hw {
                break;
            }
            if seg.max_timestamp() < timestamp_ms {
                continue;
            }
            let start_rel = seg.state.borrow().indexes.time_scan_start(timestamp_ms);
            let end = seg.size_bytes();
            let mut scan = HeaderScan::new(&seg);
            let Some((mut pos, _)) = seg
                .find_batch_with(&mut scan, seg.base_offset + i64::from(start_rel), end)
                .await?
            else {
                continue;
            };
            while pos < end {
                let h = scan.header_at(pos, end).await?;
                if h.base_offset >= hw {
                    return Ok(None);
                }
                // Batches wholly below the log start (DeleteRecords) are gone.
                if h.max_timestamp >= timestamp_ms && h.last_offset() >= start {
                    return Ok(Some(h.base_offset));
                }
                pos += h.size_bytes();
            }
        }
        Ok(None)
    }

    /// ListOffsets by timestamp, as Kafka answers it: the first *record* whose timestamp is
    /// `>= timestamp_ms`, with that timestamp. Inside an uncompressed batch the exact record is
    /// found; for a compressed batch the answer is the batch's base offset with its max
    /// timestamp (records are not decompressed on the broker).
    pub async fn record_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>> {
        self.record_at_or_after(timestamp_ms).await
    }

    /// The record with the largest timestamp in the log and that timestamp (Kafka's
    /// ListOffsets MAX_TIMESTAMP, -3): the first record that reaches the largest batch max
    /// timestamp of the visible log (exact inside uncompressed batches; the batch's first
    /// offset for compressed ones, as [`Log::record_for_timestamp`]). `None` when the log has
    /// no timestamped record.
    pub async fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>> {
        let max = self
            .segments
            .borrow()
            .iter()
            .map(|s| s.max_timestamp())
            .max()
            .unwrap_or(-1);
        if max < 0 {
            return Ok(None);
        }
        self.record_at_or_after(max).await
    }

    async fn record_at_or_after(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>> {
        let Some(base) = self.offset_for_timestamp(timestamp_ms).await? else {
            return Ok(None);
        };
        // A batch the log start cut (DeleteRecords) answers from the start on.
        let start = self.log_start_offset();
        let read = self.read(base.max(start), 1).await?;
        let Some(slice) = read.slices.first() else {
            return Ok(None);
        };
        let (res, bytes) = slice
            .file
            .read_at(
                vec![0u8; slice.length.min(u64::from(self.config().batch_bytes_max)) as usize],
                slice.position,
            )
            .await;
        let n = res.map_err(|e| Error::io("read", &self.dir, e))?;
        let batch = &bytes[..n];
        // A stored batch may be one the cleaner rewrote (fewer records than offsets, or none).
        let header = BatchHeader::parse_stored(batch).map_err(|e| Error::CorruptSegment {
            path: self.dir.clone(),
            position: slice.position,
            reason: e.to_string(),
        })?;
        let (offset, ts) = match first_record_at_or_after(batch, timestamp_ms) {
            Some((delta, ts)) => (header.base_offset + i64::from(delta), ts),
            None => (header.base_offset, header.max_timestamp),
        };
        Ok(Some((offset.max(start), ts)))
    }

    /// Resolves once the high watermark is above `past_offset` (returns it), or fails if the log
    /// is poisoned or deleted. For long-poll fetch: combine with a timeout.
    pub async fn wait_for_append(&self, past_offset: i64) -> Result<i64> {
        loop {
            let appended = self.appended.notified();
            self.check_writable()?;
            let hw = self.high_watermark();
            if hw > past_offset {
                return Ok(hw);
            }
            appended.await;
        }
    }

    /// Removes every batch at or after the one holding `offset` (whole batches: the new log end
    /// is that batch's base offset, `<= offset`). Returns the new log end offset. No-op if
    /// `offset >= log_end_offset`; `OffsetOutOfRange` below `log_start_offset`.
    pub async fn truncate_to(&self, offset: i64) -> Result<i64> {
        let _guard = self.write_lock.lock().await;
        self.check_writable()?;
        let (dirty, start) = {
            let st = self.state.borrow();
            (st.dirty, st.log_start)
        };
        if offset >= dirty {
            return Ok(dirty);
        }
        if offset < start {
            return Err(self.out_of_range(offset, start, self.high_watermark()));
        }
        // Any failure poisons here, running out of descriptors too: the truncation spans several
        // files and cannot be left half done.
        let new_end = self
            .truncate_locked(offset)
            .await
            .inspect_err(|e| self.poison(e))?;
        self.appended.notify_waiters();
        Ok(new_end)
    }

    async fn truncate_locked(&self, offset: i64) -> Result<i64> {
        let (keep, drop_after) = {
            let segs = self.segments.borrow();
            let i = segs
                .partition_point(|s| s.base_offset <= offset)
                .saturating_sub(1);
            (segs[i].clone(), segs[i + 1..].to_vec())
        };
        let keep_file = keep.log_file()?;
        // Unlink the later segments durably first: a crash in between then leaves a longer
        // tail (harmless) rather than a gap in the offset chain.
        for s in drop_after.iter().rev() {
            s.delete_files()?;
        }
        if !drop_after.is_empty() {
            self.files.sync_dir(&self.dir).await?;
        }
        let (pos, new_end) = match keep.find_batch(offset, keep.size_bytes()).await? {
            Some((pos, h)) => (pos, h.base_offset),
            None => (keep.size_bytes(), keep.next_offset()),
        };
        keep_file
            .set_len(pos)
            .map_err(|e| Error::io("truncate", keep.log_path(), e))?;
        recovery::rebuild_indexes(&keep, u64::from(self.config().index_interval_bytes), false)
            .await?;
        keep_file
            .fdatasync()
            .await
            .map_err(|e| Error::io("fdatasync", keep.log_path(), e))?;
        // The clean part of a compacted log cannot extend past the new end.
        crate::compact::on_truncate(self, new_end)?;
        self.files.sync_dir(&self.dir).await?;
        {
            let mut segs = self.segments.borrow_mut();
            let n = segs.len() - drop_after.len();
            segs.truncate(n);
        }
        self.producers.borrow_mut().truncate_to(new_end);
        for s in &drop_after {
            txn::remove(&txn::index_path(&self.dir, s.base_offset))?;
        }
        {
            let mut aborted = self.aborted.borrow_mut();
            aborted.retain(|a| a.last_offset < new_end);
            let kept: Vec<AbortedTxn> = aborted
                .iter()
                .filter(|a| a.last_offset >= keep.base_offset)
                .copied()
                .collect();
            txn::rewrite(&txn::index_path(&self.dir, keep.base_offset), &kept)?;
        }
        remove_snapshots(&self.dir, |base| base > new_end);
        let mut st = self.state.borrow_mut();
        st.dirty = new_end;
        st.durable = st.durable.min(new_end);
        // A start inside the batch cut off (DeleteRecords) comes down to its base: the stored one
        // is capped at the log end when the log is opened again (crate::log_start::effective).
        st.log_start = st.log_start.min(new_end);
        st.assert_offsets(&self.name);
        Ok(new_end)
    }

    /// Deletes whole sealed segments by `retention_bytes` and `retention_ms` (measured against
    /// `now_ms`, wall-clock milliseconds since the epoch) when the cleanup policy includes
    /// `delete` ([`LogConfig::cleanup_delete`]). Returns how many were deleted.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<usize> {
        let _guard = self.write_lock.lock().await;
        self.check_writable()?;
        let mut deleted = 0;
        loop {
            let first = {
                let segs = self.segments.borrow();
                if segs.len() <= 1 {
                    break;
                }
                segs[0].clone()
            };
            // A segment holding (or after) an open transaction's first record stays: its
            // marker will need the records, and the LSO must not pass the log start.
            if self
                .producers
                .borrow()
                .first_unstable_offset()
                .is_some_and(|f| f < first.next_offset())
            {
                break;
            }
            let total = self.size_bytes();
            let config = self.config();
            // `cleanup.policy=compact` alone: the cleaner bounds the log, retention does not.
            let by_size = config.cleanup_delete
                && config
                    .retention_bytes
                    .is_some_and(|r| total - first.size_bytes() >= r);
            let by_age = config.cleanup_delete
                && config
                    .retention_ms
                    .is_some_and(|r| first.max_timestamp() < now_ms.saturating_sub(r as i64));
            if !(by_size || by_age) {
                break;
            }
            self.delete_first_segment(&first)?;
            deleted += 1;
        }
        self.producers
            .borrow_mut()
            .expire(now_ms, self.config().producer_id_expiration_ms);
        if deleted > 0 {
            self.after_deleting_segments().await?;
        }
        Ok(deleted)
    }
}

/// What [`Log::append_held`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldAppend {
    /// The producer's batches were recorded; `base_offset` is where the batches staged for now
    /// went (`None`: everything is held).
    Admitted {
        /// Offset of the first batch written here.
        base_offset: Option<i64>,
    },
    /// A retry of batches recorded before (at this base offset, -1 if all were held): nothing
    /// was done.
    Duplicate {
        /// The earlier answer's base offset.
        base_offset: i64,
    },
}

enum ProducerCheck {
    Append,
    Duplicate { base_offset: i64, next_offset: i64 },
}

/// Adds the batch `h` at `position` of `file` to `slices`: it extends the last slice when it
/// follows it in the same file, else starts a new one.
fn push_batch(slices: &mut Vec<FileSlice>, file: &Rc<File>, position: u64, h: &BatchHeader) {
    let size = h.size_bytes();
    match slices.last_mut() {
        Some(s) if Rc::ptr_eq(&s.file, file) && s.position + s.length == position => {
            s.length += size;
            s.last_offset = h.last_offset();
        }
        _ => slices.push(FileSlice {
            file: file.clone(),
            position,
            length: size,
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
        }),
    }
}

/// What [`Log::write_locked`] did.
enum Written {
    /// The batches were written; the log end is now `next`.
    Appended { next: i64 },
    /// A retried idempotent batch already in the log, at these offsets: nothing written.
    Duplicate { base_offset: i64, next_offset: i64 },
}

/// Bytes at the start of a batch that an append stamps: the base offset (bytes 0..8) and the
/// partition leader epoch (12..16); the batch length between them is copied as it is. The CRC
/// covers bytes 21.. only, so the stamp leaves it valid.
pub const STAMPED_PREFIX_BYTES: usize = 16;
const _: () = assert!(BASE_OFFSET_AT + 8 <= STAMPED_PREFIX_BYTES);
const _: () = assert!(LEADER_EPOCH_AT + 4 == STAMPED_PREFIX_BYTES);

/// Stamps the batches of `records` with contiguous offsets from `base` and the leader `epoch`
/// without modifying `records`: returns the pieces to write back to back (each batch's stamped
/// prefix, from one small buffer, then the rest of the batch, a slice of `records`), where each
/// batch sits, and one past the last offset.
fn stamp_batches(
    records: &Bytes,
    infos: &[BatchInfo],
    base: i64,
    epoch: i32,
    append_time: Option<i64>,
) -> (Vec<Bytes>, Vec<WrittenBatch>, i64) {
    // With log-append time, a data batch's whole header is stamped (attributes and max
    // timestamp are under the CRC, which is recomputed over the stamped header and the
    // untouched records: one pass of CRC32C, no copy of the records).
    let prefix_len = |info: &BatchInfo| match append_time {
        Some(_) if !info.header.is_control() => crate::batch::HEADER_BYTES,
        _ => STAMPED_PREFIX_BYTES,
    };
    let mut prefixes = Vec::with_capacity(infos.iter().map(prefix_len).sum());
    let mut ranges = Vec::with_capacity(infos.len());
    let mut written = Vec::with_capacity(infos.len());
    let mut next = base;
    for info in infos {
        let p = info.position as usize;
        let (at, len) = (prefixes.len(), prefix_len(info));
        prefixes.extend_from_slice(&records[p..p + len]);
        stamp(&mut prefixes[at..], next, epoch);
        let mut max_timestamp = info.header.max_timestamp;
        if let (Some(now), true) = (append_time, len == crate::batch::HEADER_BYTES) {
            let header = &mut prefixes[at..at + len];
            stamp_append_time(
                header,
                &records[p + len..p + info.header.size_bytes() as usize],
                now,
            );
            max_timestamp = now;
        }
        ranges.push(at..at + len);
        written.push(WrittenBatch {
            base_offset: next,
            buffer_position: info.position,
            size_bytes: info.header.size_bytes(),
            max_timestamp,
        });
        next += info.header.offset_count();
    }
    let prefixes = Bytes::from(prefixes);
    let mut pieces = Vec::with_capacity(2 * infos.len());
    for (w, range) in written.iter().zip(ranges) {
        let (p, size, len) = (
            w.buffer_position as usize,
            w.size_bytes as usize,
            range.len(),
        );
        // Validation parsed a whole header from every batch, so each is at least its header.
        debug_assert!(size >= len && p + size <= records.len());
        pieces.push(prefixes.slice(range));
        if size > len {
            pieces.push(records.slice(p + len..p + size));
        }
    }
    (pieces, written, next)
}

/// Gives a batch header log-append time `now` (Kafka's `setMaxTimestamp(LOG_APPEND_TIME,
/// now)`): the timestamp-type attribute set, the max timestamp `now`, and the CRC recomputed
/// over the header's CRC-covered part and `records` (the rest of the batch).
fn stamp_append_time(header: &mut [u8], records: &[u8], now: i64) {
    use crate::batch::{ATTRIBUTES_AT, ATTR_TIMESTAMP_TYPE, CRC_AT, CRC_FROM, MAX_TIMESTAMP_AT};
    let attributes = i16::from_be_bytes([header[ATTRIBUTES_AT], header[ATTRIBUTES_AT + 1]]);
    header[ATTRIBUTES_AT..ATTRIBUTES_AT + 2]
        .copy_from_slice(&(attributes | ATTR_TIMESTAMP_TYPE).to_be_bytes());
    header[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[CRC_FROM..]), records);
    header[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// File suffix of producer-state snapshots.
pub const SNAPSHOT_SUFFIX: &str = "snapshot";

fn snapshot_bases(dir: &Path) -> Vec<i64> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut bases: Vec<i64> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let stem = name
                .to_str()?
                .strip_suffix(&format!(".{SNAPSHOT_SUFFIX}"))?
                .to_string();
            (stem.len() == 20).then(|| stem.parse().ok()).flatten()
        })
        .collect();
    bases.sort_unstable();
    bases
}

/// Best effort: a snapshot left behind is only a wasted file (the newest valid one is used).
fn remove_snapshots(dir: &Path, remove: impl Fn(i64) -> bool) {
    for base in snapshot_bases(dir) {
        if remove(base) {
            let _ = std::fs::remove_file(dir.join(format!("{base:020}.{SNAPSHOT_SUFFIX}")));
        }
    }
}

/// Producer state on open: the newest readable snapshot at a segment boundary, then every batch
/// header after it (the headers carry producer id, epoch and sequences; a marker's control
/// record says commit or abort). The aborted transactions: the `.txnindex` of every segment
/// before the snapshot, and those of the replayed segments rebuilt from the log (their index
/// files rewritten).
async fn rebuild_producers(
    dir: &Path,
    segments: &[Rc<Segment>],
    producers_max: usize,
) -> Result<(ProducerStateTable, Vec<AbortedTxn>)> {
    let end = segments.last().map_or(0, |s| s.next_offset());
    let mut table = ProducerStateTable::new(producers_max);
    let mut from = segments.first().map_or(0, |s| s.base_offset);
    for base in snapshot_bases(dir).into_iter().rev() {
        if base > end || !segments.iter().any(|s| s.base_offset == base) {
            continue;
        }
        let path = dir.join(format!("{base:020}.{SNAPSHOT_SUFFIX}"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if let Some(t) = ProducerStateTable::decode_snapshot(&bytes, producers_max) {
            table = t;
            from = base;
            break;
        }
    }
    let mut aborted = Vec::new();
    for seg in segments.iter().filter(|s| s.base_offset < from) {
        aborted.extend(txn::load(&txn::index_path(dir, seg.base_offset))?);
    }
    // Replayed producers count as seen now: the broker just came back, they get a full window.
    let now = now_ms();
    for seg in segments.iter().filter(|s| s.base_offset >= from) {
        let mut pos = 0u64;
        let size = seg.size_bytes();
        let mut scan = HeaderScan::new(seg);
        let mut seg_aborted = Vec::new();
        while pos < size {
            let h = scan.header_at(pos, size).await?;
            table.update(&h, h.base_offset, now);
            if h.is_control() && h.producer_id >= 0 {
                let want = (h.size_bytes() as usize)
                    .min(crate::batch::HEADER_BYTES + txn::MARKER_PEEK_BYTES);
                let file = seg.log_file()?;
                let (r, bytes) = file.read_exact_at(vec![0u8; want], pos).await;
                r.map_err(|e| Error::io("read", seg.log_path(), e))?;
                if let Some(commit) = txn::marker_kind(&h, &bytes) {
                    if let Some(first_offset) = table.end_txn(h.producer_id, h.producer_epoch, now)
                    {
                        if !commit {
                            seg_aborted.push(AbortedTxn {
                                producer_id: h.producer_id,
                                first_offset,
                                last_offset: h.base_offset,
                                last_stable_offset: table
                                    .first_unstable_offset()
                                    .unwrap_or(h.base_offset + 1)
                                    .min(h.base_offset + 1),
                            });
                        }
                    }
                }
            }
            pos += h.size_bytes();
        }
        txn::rewrite(&txn::index_path(dir, seg.base_offset), &seg_aborted)?;
        aborted.extend(seg_aborted);
    }
    // Indexes of segments that no longer exist (a crash between unlinks) are stray files.
    let start = segments.first().map_or(0, |s| s.base_offset);
    aborted.retain(|a| a.last_offset >= start);
    Ok((table, aborted))
}

/// An append buffer whose batches and records passed validation ([`crate::validate`]) and
/// which fits in one segment: what an append needs no lock and no log state for. It is `Send`,
/// so a broker may check a Produce on the thread that received it and append it on the thread
/// that owns the partition ([`Log::append_checked`]). It keeps the bounds it was checked under;
/// a log with other bounds checks it again.
#[derive(Debug, Clone)]
pub struct CheckedAppend {
    records: Bytes,
    infos: Vec<BatchInfo>,
    offset_count: i64,
    origin: AppendOrigin,
    batch_bytes_max: u32,
    validation: ValidationConfig,
    /// Checked for a compacted log: every data record has a key.
    keys_required: bool,
}

impl CheckedAppend {
    /// Validates `records` (concatenated RecordBatch v2 batches) as an append by `origin` to a
    /// log with `config`; `topic` and `partition` name the log in errors.
    pub fn check(
        config: &LogConfig,
        topic: &str,
        partition: i32,
        records: Bytes,
        origin: AppendOrigin,
    ) -> Result<CheckedAppend> {
        // Named only on an error: a name per append would be an allocation on the hot path.
        let name = || partition_name(topic, partition);
        let infos = with_thread_validator(|v| {
            v.validate_buffer_keyed(
                &records,
                u64::from(config.batch_bytes_max),
                origin,
                &config.validation,
                now_ms(),
                config.cleanup_compact,
            )
        })
        .map_err(|e| Error::InvalidBatch {
            partition: name(),
            batch_index: e.batch_index,
            position: e.position,
            source: e.error,
        })?;
        let buf_len = records.len() as u64;
        if buf_len > SEGMENT_BYTES_MAX {
            return Err(Error::RecordListTooLarge {
                partition: name(),
                size_bytes: buf_len,
                max_bytes: SEGMENT_BYTES_MAX,
            });
        }
        let offset_count: i64 = infos.iter().map(|i| i.header.offset_count()).sum();
        // Relative offsets are u32: a buffer must fit in one (fresh) segment. Only compressed
        // batches can claim this many records.
        if offset_count > i64::from(u32::MAX) {
            let last = infos.len() - 1;
            return Err(Error::InvalidBatch {
                partition: name(),
                batch_index: last,
                position: infos[last].position,
                source: BatchError::BadRecordCount {
                    records_count: infos[last].header.records_count,
                    last_offset_delta: infos[last].header.last_offset_delta,
                },
            });
        }
        Ok(CheckedAppend {
            records,
            infos,
            offset_count,
            origin,
            batch_bytes_max: config.batch_bytes_max,
            validation: config.validation.clone(),
            keys_required: config.cleanup_compact,
        })
    }

    /// The buffer as it was checked.
    pub fn records(&self) -> &Bytes {
        &self.records
    }

    /// Where each batch of the buffer starts, with its validated header.
    pub fn batches(&self) -> &[BatchInfo] {
        &self.infos
    }

    /// Offsets the buffer takes.
    pub fn offset_count(&self) -> i64 {
        self.offset_count
    }

    /// Bytes of the buffer.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the buffer is empty (never, once checked: an empty buffer is refused).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether this buffer was checked under `config`'s bounds.
    fn bounds_match(&self, config: &LogConfig) -> bool {
        self.batch_bytes_max == config.batch_bytes_max
            && self.validation == config.validation
            // A buffer checked without the key rule is checked again for a compacted log (the
            // other way round the stricter check already passed).
            && (self.keys_required || !config.cleanup_compact)
    }
}

/// Age at which the active segment rolls: `segment_ms`, or sooner on a compacted log whose
/// `max_compaction_lag_ms` is shorter (the cleaner never cleans the active segment, so a record
/// could otherwise stay uncompacted longer than that; Kafka's `LogConfig.maxSegmentMs`).
fn roll_after_ms(config: &LogConfig) -> Option<u64> {
    let lag = config
        .cleanup_compact
        .then_some(config.max_compaction_lag_ms)
        .filter(|&lag| lag < MAX_COMPACTION_LAG_MS_DEFAULT);
    match (config.segment_ms, lag) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Wall-clock now in milliseconds since the epoch (for retention).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::super::batch::testing::build_batch;
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::runtime::block_on(
            &crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Uring),
            f,
        )
        .expect("runtime")
    }

    /// Segments of a few batches, so appends roll often; every append fdatasynced.
    fn rolling_config() -> LogConfig {
        LogConfig {
            segment_bytes: 400,
            segment_ms: None,
            index_interval_bytes: 64,
            flush: FlushPolicy::Always,
            ..LogConfig::default()
        }
    }

    fn batch(seed: usize) -> Vec<u8> {
        let value = format!("value {seed} {}", "x".repeat(seed % 40));
        build_batch(seed as i64, &[value.as_bytes()])
    }

    /// Every acknowledged batch reads back at its offset, as stamped.
    async fn check_acknowledged(log: &Log, acknowledged: &[(i64, Vec<u8>)]) {
        for (base, b) in acknowledged {
            let read = log.read(*base, 1).await.expect("read");
            let mut stamped = b.clone();
            stamp(&mut stamped, *base, 0);
            assert_eq!(read.read_to_vec().await.expect("bytes"), stamped);
        }
    }

    /// A batch of producer `pid` from sequence `seq`, `n` records.
    fn producer_batch(pid: i64, seq: i32, n: usize) -> Vec<u8> {
        use super::super::batch::testing::{build_batch_with, BatchSpec, TestRecord};
        build_batch_with(&BatchSpec {
            base_timestamp_ms: now_ms(),
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: seq,
            records: (0..n)
                .map(|i| TestRecord {
                    value: Some(format!("r{i}").into_bytes()),
                    ..TestRecord::default()
                })
                .collect(),
            ..BatchSpec::default()
        })
    }

    fn header_of(b: &[u8]) -> BatchHeader {
        BatchHeader::parse(b).expect("header")
    }

    /// Held appends (the delayed records of a produce): the producer's batch is checked and
    /// recorded without its records being written here; a retry is a duplicate, the producer's
    /// next batch is taken, a failed stage records nothing, batches staged for now are written,
    /// and after a reopen the recorded batch is put back only where it comes next.
    #[test]
    fn held_appends_check_and_record_the_producer_and_are_restored_where_they_come_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        block_on(async {
            let log = Rc::new(
                Log::open(dir.path(), "t", 0, LogConfig::default(), false)
                    .await
                    .expect("open"),
            );
            let held = header_of(&producer_batch(7, 0, 5));
            let staged = Cell::new(0);
            let r = log
                .append_held(log.append_turn(), &[held], || async {
                    staged.set(staged.get() + 1);
                    Ok(None)
                })
                .await;
            assert_eq!(r.unwrap(), HeldAppend::Admitted { base_offset: None });
            // The retry: a duplicate, the stage does not run.
            let r = log
                .append_held(log.append_turn(), &[held], || async {
                    staged.set(staged.get() + 1);
                    Ok(None)
                })
                .await;
            assert_eq!(r.unwrap(), HeldAppend::Duplicate { base_offset: -1 });
            assert_eq!(staged.get(), 1);
            assert_eq!(log.high_watermark(), 0, "nothing written for held records");
            // The producer's next batch continues the sequence.
            assert_eq!(log.append(producer_batch(7, 5, 2)).await.unwrap(), 0);
            // A failed stage records nothing: the same batch is checked again afterwards.
            let next = header_of(&producer_batch(7, 7, 3));
            let r = log
                .append_held(log.append_turn(), &[next], || async {
                    Err(Error::InvalidArgument {
                        what: "stage failed".into(),
                    })
                })
                .await;
            assert!(r.is_err());
            // Batches staged for now are written, as another producer's.
            let now = CheckedAppend::check(
                &log.config(),
                "t",
                0,
                Bytes::from(producer_batch(99, 0, 4)),
                AppendOrigin::Internal,
            )
            .unwrap();
            let r = log
                .append_held(log.append_turn(), &[next], || async { Ok(Some(now)) })
                .await;
            assert_eq!(
                r.unwrap(),
                HeldAppend::Admitted {
                    base_offset: Some(2)
                }
            );
            assert_eq!(log.high_watermark(), 6);
            assert_eq!(log.producer_last(7), Some((0, 9)));
            assert_eq!(log.producer_last(99), Some((0, 3)));
        });
        // Reopened: the log's replay knows producer 7 up to sequence 6 (its written batch) only.
        block_on(async {
            let log = Log::open(dir.path(), "t", 0, LogConfig::default(), false)
                .await
                .expect("reopen");
            assert_eq!(log.producer_last(7), Some((0, 6)));
            assert!(
                !log.restore_producer_batch(&header_of(&producer_batch(7, 0, 5))),
                "older"
            );
            assert!(
                log.restore_producer_batch(&header_of(&producer_batch(7, 7, 3))),
                "next"
            );
            assert!(
                !log.restore_producer_batch(&header_of(&producer_batch(7, 7, 3))),
                "again"
            );
            assert_eq!(log.producer_last(7), Some((0, 9)));
            // A producer the log does not know is put back wherever its batch starts.
            assert!(log.restore_producer_batch(&header_of(&producer_batch(8, 40, 2))));
            assert_eq!(log.producer_last(8), Some((0, 41)));
            // Made durable by a snapshot: survives the next reopen without being restored.
            log.snapshot_producers().await.expect("snapshot");
        });
        block_on(async {
            let log = Log::open(dir.path(), "t", 0, LogConfig::default(), false)
                .await
                .expect("reopen");
            assert_eq!(log.producer_last(8), Some((0, 41)));
            assert_eq!(log.producer_last(7), Some((0, 9)));
        });
    }

    /// `delete_below` drops whole sealed segments below an offset, never the active one.
    #[test]
    fn delete_below_drops_whole_sealed_segments_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        block_on(async {
            let log = Log::open(dir.path(), "t", 0, rolling_config(), false)
                .await
                .expect("open");
            for seed in 0..20 {
                log.append(batch(seed)).await.expect("append");
            }
            let bases = log.segment_base_offsets();
            assert!(bases.len() > 3, "{bases:?}");
            // Below the second segment's base + 1: only the first segment goes.
            assert_eq!(log.delete_below(bases[1] + 1).await.unwrap(), 1);
            assert_eq!(log.log_start_offset(), bases[1]);
            // Below everything: every sealed segment goes, the active one stays.
            let deleted = log.delete_below(i64::MAX).await.unwrap();
            assert_eq!(deleted, bases.len() - 2);
            assert_eq!(log.segment_count(), 1);
            assert_eq!(log.log_start_offset(), *bases.last().unwrap());
            assert_eq!(log.high_watermark(), 20);
        });
    }

    /// The append lock is FIFO: a holder that releases and asks again queues behind the waiter
    /// (no barging, which could reorder a connection's pipelined appends), and a waiter that
    /// gives up does not block the ones behind it.
    #[test]
    fn the_append_lock_serves_in_arrival_order_and_skips_abandoned_waiters() {
        use crate::runtime::future::{select, Either};
        block_on(async {
            let lock = Rc::new(WriteLock::default());
            let order = Rc::new(RefCell::new(Vec::new()));
            let first = lock.lock().await;
            // A waiter that gives up: polled once (it queues), then dropped.
            let gave_up = select(lock.lock(), std::future::ready(())).await;
            assert!(matches!(gave_up, Either::Right(())));
            let waiter = crate::runtime::spawn({
                let (lock, order) = (lock.clone(), order.clone());
                async move {
                    let _g = lock.lock().await;
                    order.borrow_mut().push("waiter");
                }
            });
            crate::runtime::yield_now().await; // the waiter queues
            drop(first);
            // Asking again right after the release, before the woken waiter ran.
            {
                let _again = lock.lock().await;
                order.borrow_mut().push("again");
            }
            waiter.await;
            assert_eq!(*order.borrow(), ["waiter", "again"]);
            assert!(lock.abandoned.borrow().is_empty());
        });
    }

    /// Turns fix the append order when they are taken: appends started in one order reach the
    /// log in that order even when their tasks run in the other, and a turn dropped unused is
    /// skipped.
    #[test]
    fn appends_land_in_the_order_their_turns_were_taken() {
        let dir = tempfile::tempdir().expect("tempdir");
        block_on(async {
            let log = Rc::new(
                Log::open(dir.path(), "t", 0, LogConfig::default(), false)
                    .await
                    .expect("open"),
            );
            let check = |seed: usize| {
                CheckedAppend::check(
                    &log.config(),
                    "t",
                    0,
                    batch(seed).into(),
                    AppendOrigin::Client,
                )
                .expect("valid")
            };
            let first = log.append_turn();
            let skipped = log.append_turn();
            let second = log.append_turn();
            drop(skipped);
            // The later turn's task is spawned (and so runs) first.
            let late = crate::runtime::spawn({
                let (log, checked) = (log.clone(), check(2));
                async move { log.append_checked_in_turn(second, checked).await }
            });
            let early = crate::runtime::spawn({
                let (log, checked) = (log.clone(), check(1));
                async move { log.append_checked_in_turn(first, checked).await }
            });
            assert_eq!(late.await.expect("append"), 1);
            assert_eq!(early.await.expect("append"), 0);
            // A plain append after them takes the next place.
            assert_eq!(log.append_checked(check(3)).await.expect("append"), 2);
        });
    }

    /// A buffer checked on another thread appends as a local one does; one checked under other
    /// bounds than the log's is checked again, so a larger bound elsewhere cannot smuggle in a
    /// batch this log refuses.
    #[test]
    fn a_buffer_checked_on_another_thread_appends_and_other_bounds_are_checked_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            batch_bytes_max: 200,
            ..LogConfig::default()
        };
        let small = batch(1);
        let large = build_batch(7, &[&[b'x'; 400][..]]);
        let (checked_small, checked_large) = std::thread::spawn({
            let config = config.clone();
            let (small, large) = (small.clone(), large.clone());
            move || {
                let small =
                    CheckedAppend::check(&config, "t", 0, small.into(), AppendOrigin::Client)
                        .expect("a small batch passes");
                assert!(matches!(
                    CheckedAppend::check(
                        &config,
                        "t",
                        0,
                        large.clone().into(),
                        AppendOrigin::Client
                    ),
                    Err(Error::InvalidBatch { .. })
                ));
                let roomy = LogConfig {
                    batch_bytes_max: 1 << 20,
                    ..config
                };
                let large =
                    CheckedAppend::check(&roomy, "t", 0, large.into(), AppendOrigin::Client)
                        .expect("passes under the larger bound");
                (small, large)
            }
        })
        .join()
        .expect("checking thread");
        assert_eq!(checked_small.offset_count(), 1);
        block_on(async {
            let log = Log::open(dir.path(), "t", 0, config, false)
                .await
                .expect("open");
            assert_eq!(log.append_checked(checked_small).await.expect("append"), 0);
            let refused = log.append_checked(checked_large).await;
            assert!(
                matches!(refused, Err(Error::InvalidBatch { .. })),
                "checked again under the log's bound: {refused:?}"
            );
            assert_eq!(
                log.log_end_offset(),
                1,
                "nothing of the refused buffer stored"
            );
            let read = log.read(0, 1 << 20).await.expect("read");
            let mut stamped = small.clone();
            stamp(&mut stamped, 0, 0);
            assert_eq!(read.read_to_vec().await.expect("bytes"), stamped);
        });
    }

    /// Out of descriptors at every open an append makes (roll: seal, create, directory sync;
    /// write; flush): each such append fails with the typed error, the log is never poisoned,
    /// the next append works, and what was acknowledged reads back the same, also after a
    /// reopen.
    #[test]
    fn running_out_of_descriptors_anywhere_in_an_append_never_poisons_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        block_on(async {
            let log = Log::open(dir.path(), "t", 0, rolling_config(), false)
                .await
                .expect("open");
            let mut acknowledged: Vec<(i64, Vec<u8>)> = Vec::new();
            let mut refused = 0;
            for k in 0..60u32 {
                // Nothing held: the append has to open every file it touches.
                log.close_files();
                log.file_cache().fail_opens(k % 10, 2);
                let b = batch(k as usize);
                match log.append(b.clone()).await {
                    Ok(base) => acknowledged.push((base, b)),
                    Err(Error::OpenFilesExhausted { .. }) => refused += 1,
                    Err(e) => panic!("append {k}: unexpected {e}"),
                }
                log.file_cache().fail_opens(0, 0);
                assert_eq!(log.poisoned(), None, "append {k}");
                let b = batch(1000 + k as usize);
                let base = log.append(b.clone()).await.expect("the next append works");
                acknowledged.push((base, b));
            }
            assert!(
                refused >= 20,
                "only {refused} appends ran out of descriptors"
            );
            assert!(log.segment_count() > 10, "appends rolled");
            check_acknowledged(&log, &acknowledged).await;
            let end = log.log_end_offset();
            drop(log);
            let log = Log::open(dir.path(), "t", 0, rolling_config(), false)
                .await
                .expect("reopen recovers a consistent log");
            assert_eq!(log.log_end_offset(), end);
            check_acknowledged(&log, &acknowledged).await;
        });
    }

    /// A transactional batch of producer `pid` (epoch `epoch`) from sequence `seq`, `n` records.
    fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
        use super::super::batch::testing::{build_batch_with, BatchSpec, TestRecord};
        build_batch_with(&BatchSpec {
            base_timestamp_ms: now_ms(),
            attributes: super::super::batch::ATTR_TRANSACTIONAL,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records: (0..n)
                .map(|i| TestRecord {
                    value: Some(format!("t{i}").into_bytes()),
                    ..TestRecord::default()
                })
                .collect(),
            ..BatchSpec::default()
        })
    }

    /// The LSO stops at the oldest open transaction; markers end transactions; aborted ones are
    /// listed for the ranges they overlap; a reopen (with and without a snapshot in between)
    /// rebuilds both; retention keeps an open transaction's segment; a client cannot write a
    /// marker, and a non-transactional batch of a producer in a transaction is refused.
    #[test]
    fn transactions_bound_the_lso_and_aborts_are_indexed_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 400,
            retention_bytes: Some(1),
            ..rolling_config()
        };
        block_on(async {
            let log = Log::open(dir.path(), "t", 0, config.clone(), false)
                .await
                .unwrap();
            assert_eq!(log.append(batch(1)).await.unwrap(), 0);
            // Producer 7 opens at 1, producer 8 at 3.
            assert_eq!(log.append(txn_batch(7, 0, 0, 2)).await.unwrap(), 1);
            assert_eq!(log.append(txn_batch(8, 0, 0, 1)).await.unwrap(), 3);
            assert_eq!(log.append(batch(2)).await.unwrap(), 4);
            assert_eq!((log.high_watermark(), log.last_stable_offset()), (5, 1));
            assert!(matches!(
                log.append(producer_batch(7, 2, 1)).await,
                Err(Error::Producer {
                    source: ProducerError::TransactionOpen { producer_id: 7 },
                    ..
                })
            ));
            let forged = txn::marker_batch(7, 0, true, 0, now_ms());
            assert!(
                log.append(forged).await.is_err(),
                "clients write no markers"
            );
            // Abort 7 (with a bumped epoch): the LSO moves to 8's first offset.
            assert_eq!(log.append_marker(7, 1, false, 0).await.unwrap(), 5);
            assert_eq!(log.last_stable_offset(), 3);
            assert_eq!(log.aborted_between(0, 6), vec![(7, 1)]);
            assert_eq!(
                log.aborted_between(6, 100),
                vec![],
                "marker before the range"
            );
            assert_eq!(
                log.aborted_between(0, 1),
                vec![],
                "first offset at the range end"
            );
            assert!(
                log.append(txn_batch(7, 0, 2, 1)).await.is_err(),
                "the zombie's old epoch is fenced by the marker's"
            );
            // A marker again (a coordinator's retry after a restart) changes nothing.
            assert_eq!(log.append_marker(7, 1, false, 0).await.unwrap(), 6);
            assert_eq!(log.aborted_count(), 1);
            // Retention: the segment of 8's open transaction stays.
            log.apply_retention(now_ms()).await.unwrap();
            assert!(log.log_start_offset() <= 3, "open transaction kept");
            log.append_marker(8, 0, true, 0).await.unwrap();
            assert_eq!(log.last_stable_offset(), log.high_watermark());
            assert_eq!(log.aborted_between(0, 100), vec![(7, 1)]);
            // Producer 9: open at reopen time.
            let open9 = log.append(txn_batch(9, 0, 0, 3)).await.unwrap();
            let aborted = log.aborted_between(0, i64::MAX);
            drop(log);

            let log = Log::open(dir.path(), "t", 0, config.clone(), false)
                .await
                .unwrap();
            assert_eq!(log.aborted_between(0, i64::MAX), aborted, "rebuilt");
            assert_eq!(log.last_stable_offset(), open9, "open transaction rebuilt");
            assert_eq!(log.open_transactions(), vec![(open9, 9)]);
            // Roll past it (snapshots at every roll) and abort 9 in a later segment.
            for i in 0..6 {
                log.append(batch(10 + i)).await.unwrap();
            }
            let marker = log.append_marker(9, 0, false, 0).await.unwrap();
            assert_eq!(log.last_stable_offset(), log.high_watermark());
            for i in 0..6 {
                log.append(batch(20 + i)).await.unwrap();
            }
            let aborted = log.aborted_between(0, i64::MAX);
            assert_eq!(aborted.last(), Some(&(9, open9)));
            drop(log);
            let log = Log::open(dir.path(), "t", 0, config.clone(), false)
                .await
                .unwrap();
            assert_eq!(log.aborted_between(0, i64::MAX), aborted);
            assert_eq!(log.last_stable_offset(), log.high_watermark());
            // Retention drops segments and their aborted transactions with them.
            log.apply_retention(now_ms()).await.unwrap();
            assert!(log.log_start_offset() > marker);
            assert_eq!(log.aborted_count(), 0);
        });
    }
}
