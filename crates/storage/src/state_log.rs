//! Internal state logs: a durable, compacted, keyed state log per shard, on the engine's [`Log`].
//!
//! A state log holds a map from key bytes to value bytes as an append-only engine log, exactly
//! like a Kafka compacted topic: every update is one record whose key is the key and whose value
//! is the new value, or null for a tombstone (the key is deleted). There is no file format of its
//! own: segments, indexes, CRCs, torn-tail recovery and fdatasync are the engine's. The broker
//! keeps committed offsets here; every later piece of durable broker state (timers, share-group
//! state, transaction state) is meant to as well.
//!
//! ```text
//! {data_dir}/__ringlog_state/          STATE_DIR: not `{topic}-{partition}`, so no Engine opens it
//!   {family}/                          one family of per-shard logs, e.g. consumer_offsets
//!     shard-{n}/                       one state log = one engine Log directory
//!       00000000000000000000.log       RecordBatch v2 segments (segment.rs), .index, .timeindex
//!     shard-{n}.new/                   compaction: the rewritten log, being built
//!     shard-{n}.old/                   compaction: the replaced log, until removed
//!   {family}.new/  {family}.old/       the same, for a whole family being re-sharded
//!
//! one update = one record of an uncompressed batch (layout in records.rs, batch.rs):
//!   key    key bytes, never null                    0..=KEY_BYTES_MAX bytes
//!   value  value bytes                              0..=VALUE_BYTES_MAX bytes
//!          or null: a tombstone (the key is deleted)
//!   batch  <= STATE_BATCH_BYTES_MAX bytes, producer id -1, timestamps = append time
//! ```
//!
//! - **Append** ([`StateLog::append`]): the updates of one call are queued; a writer task owned
//!   by the state log takes everything queued, writes it with one [`Log::append`] (one write, one
//!   fdatasync: concurrent appends share it, group commit) and then, in queue order, runs each
//!   call's `apply` callback and resolves its future. So a caller's in-memory view changes only
//!   after the change is durable, and always in log order.
//! - **Replay** ([`StateLog::open`]): two passes over the log. The first finds the latest record
//!   of every key; the second hands each live key's latest value to a callback, in log order.
//! - **Compaction**: when the log is [`StateLogConfig::compact_ratio`] times larger than its live
//!   set (and at least [`StateLogConfig::compact_bytes_min`]), the writer copies only the latest
//!   value of each live key into `shard-{n}.new` (tombstones and older values dropped), syncs it
//!   and swaps it in. Appends that arrive meanwhile wait in the queue.
//! - **Re-sharding** ([`prepare_family`]): when a family's shard count changes (the broker was
//!   restarted with another `--cores`), every live record is routed to its new shard by the
//!   caller's function and the family is rebuilt in `{family}.new` and swapped in. The same step
//!   writes seed records (migrations from older formats).
//!
//! Swapping directory `d` for a complete `d.new` (compaction and re-sharding):
//! ```text
//!   1. write d.new, fdatasync its logs, fsync d.new and its parent
//!   2. rename d -> d.old, fsync parent           (skipped when d does not exist)
//!   3. rename d.new -> d, fsync parent
//!   4. remove d.old, fsync parent
//! on open (recover_swap):  d.old exists  -> step 1 had finished: do 3 if d is missing, then 4
//!                          else d.new exists -> the crash came before step 2: remove d.new
//! ```
//! A crash at any point therefore leaves either the old or the new directory, never a mix.
//!
//! Code: this file holds the API, the writer task and compaction; `disk` the swap protocol,
//! batch encoding, scans and replay; `family` re-sharding.
//!
//! # Invariants
//! - An append resolves `Ok` only after its records are durable; `apply` callbacks run in log
//!   order, each after its records are durable and before any later append's.
//! - The key map holds exactly the live keys of the log, each with the offset of its latest
//!   record; `live_bytes` is the sum of their entry sizes (asserted on every update: a key's
//!   offsets only grow).
//! - `live_bytes` never grows past `max(live_bytes_max, live_bytes at open)`: growth is reserved
//!   before an append is queued (asserted after every write).
//! - After a failed write, fdatasync or swap, the state log refuses every append until it is
//!   reopened; an fsync is never retried.
//! - Compaction keeps the live set: exactly one record per live key, with its latest value
//!   (asserted: records kept == live keys, bytes kept == `live_bytes`).
//! - At every step of compaction and re-sharding the directory opens to the old or the new log.
//! - Only the writer task writes to the log; compaction runs inside it, between appends.

mod disk;
mod family;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use crate::batch::HEADER_BYTES;
use crate::error::{Error, Result};
use crate::log::{FlushPolicy, Log, LogConfig};
use crate::rt::mesh::{self, OneshotSender};
use crate::rt::sync::Notify;
use crate::validate::AppendOrigin;
use disk::{
    encode_updates, fsync_parent, open_log, parent, recover_swap, remove_dir_if_exists, scan_live,
    sibling, swap_in, FreshWriter,
};
pub use disk::{encode_updates as encode_records, Entry, Scan};
pub use family::prepare_family;

/// The reserved directory of internal state under a data directory. It has no `-{partition}`
/// suffix, so [`crate::names::parse_partition_dir`] rejects it and no engine opens it as a topic.
pub const STATE_DIR: &str = "__ringlog_state";
/// Largest key. Internal keys are short (a group id of at most 1 KiB, a topic name of at most
/// 249 bytes, a partition); anything larger is a caller bug.
pub const KEY_BYTES_MAX: usize = 4 << 10;
/// Largest value. Committed offsets take at most ~4 KiB (their metadata bound); 1 MiB leaves
/// room for the larger values of later state (share-group state of one partition).
pub const VALUE_BYTES_MAX: usize = 1 << 20;
/// Largest record: the largest key and value with their framing.
pub const RECORD_BYTES_MAX: usize = KEY_BYTES_MAX + VALUE_BYTES_MAX + RECORD_OVERHEAD_BYTES_MAX;
/// Most bytes one record adds beyond its key and value: length varint (5), attributes (1),
/// timestamp delta (1: always 0), offset delta (5), key and value length varints (5 + 5),
/// header count (1).
pub const RECORD_OVERHEAD_BYTES_MAX: usize = 23;
/// Largest batch of a state log (the engine's `batch_bytes_max` for it): the largest record plus
/// room for many small ones.
pub const STATE_BATCH_BYTES_MAX: usize = 4 << 20;
/// Largest encoded append (one call): bounds the memory one caller can queue. The offsets of a
/// very large OffsetCommit stay below it; bulk deletions are split by their callers.
pub const APPEND_BYTES_MAX: usize = 64 << 20;
/// Most bytes the writer hands to one [`Log::append`] (one write, one fdatasync).
pub const WRITE_BYTES_MAX: usize = 64 << 20;
/// Appends queued before callers wait for room (back-pressure on a slow disk).
pub const QUEUED_APPENDS_MAX: usize = 4_096;
/// Default [`StateLogConfig::live_bytes_max`]: the live set is also held in memory by the
/// caller, so it is bounded (1 GiB per shard).
pub const LIVE_BYTES_MAX_DEFAULT: u64 = 1 << 30;
/// Default [`StateLogConfig::compact_bytes_min`]: compaction rewrites the whole live set, so a
/// small log is never worth it.
pub const COMPACT_BYTES_MIN_DEFAULT: u64 = 16 << 20;
/// Default [`StateLogConfig::compact_ratio`].
pub const COMPACT_RATIO_DEFAULT: u64 = 4;
/// Default [`StateLogConfig::segment_bytes`]: compaction rewrites whole logs, so segments only
/// keep single files at a manageable size.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;
/// Bytes read per step by replay, compaction and re-sharding (at least one whole batch).
pub const READ_CHUNK_BYTES: u64 = 1 << 20;
/// Most shards of one family.
pub const SHARDS_MAX: usize = 1_024;
/// Longest family name (`[a-z0-9_]`).
pub const FAMILY_NAME_BYTES_MAX: usize = 64;

/// Suffix of a directory being built to replace its sibling.
const STAGED_SUFFIX: &str = ".new";
/// Suffix of a replaced directory, until it is removed.
const RETIRED_SUFFIX: &str = ".old";

// A largest record always fits one batch.
const _: () = assert!(HEADER_BYTES + RECORD_BYTES_MAX <= STATE_BATCH_BYTES_MAX);
const _: () = assert!(STATE_BATCH_BYTES_MAX <= APPEND_BYTES_MAX);

/// One change to a state log: `value` is the key's new value, `None` deletes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The key.
    pub key: Bytes,
    /// The new value, or `None` for a tombstone.
    pub value: Option<Bytes>,
}

impl Update {
    /// Set `key` to `value`.
    pub fn put(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Update {
        Update {
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// Delete `key` (a tombstone).
    pub fn delete(key: impl Into<Bytes>) -> Update {
        Update {
            key: key.into(),
            value: None,
        }
    }

    /// Upper bound of the record's encoded size.
    fn record_bytes(&self) -> usize {
        self.key.len() + self.value.as_ref().map_or(0, Bytes::len) + RECORD_OVERHEAD_BYTES_MAX
    }
}

/// How much a live key counts against [`StateLogConfig::live_bytes_max`]: an upper bound of its
/// record's size, so a compacted log is never larger than its live bytes plus batch headers.
fn entry_bytes(key_len: usize, value_len: usize) -> u64 {
    (key_len + value_len + RECORD_OVERHEAD_BYTES_MAX) as u64
}

/// Bounds and compaction policy of a state log.
#[derive(Clone, Debug)]
pub struct StateLogConfig {
    /// Segment size of the underlying log.
    pub segment_bytes: u64,
    /// Never compact a log smaller than this.
    pub compact_bytes_min: u64,
    /// Compact when the log is this many times larger than its live bytes.
    pub compact_ratio: u64,
    /// Appends that would grow the live set past this are refused ([`Error::StateFull`]).
    pub live_bytes_max: u64,
    /// When an append resolves: after its fdatasync ([`FlushPolicy::Always`], the default), or
    /// after its write (the data then survives a crash of the process, not of the machine,
    /// until the log syncs).
    pub flush: FlushPolicy,
}

impl Default for StateLogConfig {
    fn default() -> Self {
        StateLogConfig {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            compact_bytes_min: COMPACT_BYTES_MIN_DEFAULT,
            compact_ratio: COMPACT_RATIO_DEFAULT,
            live_bytes_max: LIVE_BYTES_MAX_DEFAULT,
            flush: FlushPolicy::Always,
        }
    }
}

impl StateLogConfig {
    fn validate(&self) -> Result<()> {
        if self.compact_ratio < 2 {
            return Err(Error::InvalidArgument {
                what: format!(
                    "state log compact_ratio {} < 2 would compact forever",
                    self.compact_ratio
                ),
            });
        }
        self.log_config(FlushPolicy::Always).validate()
    }

    /// The engine log configuration of a state log.
    fn log_config(&self, flush: FlushPolicy) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes,
            segment_ms: None,
            batch_bytes_max: STATE_BATCH_BYTES_MAX as u32,
            retention_bytes: None,
            retention_ms: None,
            flush,
            ..LogConfig::default()
        }
    }
}

/// `{data_dir}/__ringlog_state`: the root of every family.
pub fn state_root(data_dir: &Path) -> PathBuf {
    data_dir.join(STATE_DIR)
}

/// The directory of shard `shard`'s log of `family`.
pub fn shard_dir(root: &Path, family: &str, shard: usize) -> PathBuf {
    root.join(family).join(format!("shard-{shard}"))
}

fn validate_family(family: &str) -> Result<()> {
    let ok = !family.is_empty()
        && family.len() <= FAMILY_NAME_BYTES_MAX
        && family
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: format!(
                "state log family name {family:?}: need 1..={FAMILY_NAME_BYTES_MAX} of [a-z0-9_]"
            ),
        })
    }
}

fn validate_shards(shards: usize) -> Result<()> {
    if (1..=SHARDS_MAX).contains(&shards) {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: format!("state log shard count {shards} not in 1..={SHARDS_MAX}"),
        })
    }
}

/// Where a live key's latest record is.
#[derive(Clone, Copy, Debug)]
struct Live {
    offset: i64,
    bytes: u64,
}

/// The live keys of a log (not their values: the caller keeps those in its own form).
#[derive(Default)]
struct Keys {
    map: HashMap<Box<[u8]>, Live>,
    bytes: u64,
}

impl Keys {
    /// Record that `key`'s record at `offset` set it to a value of `value_len` bytes, or deleted
    /// it (`None`).
    fn apply(&mut self, offset: i64, key: &[u8], value_len: Option<usize>) {
        let old = match value_len {
            Some(n) => {
                let bytes = entry_bytes(key.len(), n);
                self.bytes += bytes;
                match self.map.get_mut(key) {
                    Some(live) => Some(std::mem::replace(live, Live { offset, bytes })),
                    None => {
                        self.map.insert(key.into(), Live { offset, bytes });
                        None
                    }
                }
            }
            None => self.map.remove(key),
        };
        if let Some(old) = old {
            assert!(
                old.offset < offset,
                "state log key updated at offset {offset}, not after its offset {}",
                old.offset
            );
            self.bytes -= old.bytes;
        }
    }

    fn is_latest(&self, key: &[u8], offset: i64) -> bool {
        self.map.get(key).is_some_and(|l| l.offset == offset)
    }

    /// Live bytes `updates` would add (ignoring what they free), against the current keys.
    fn growth(&self, updates: &[Update]) -> u64 {
        updates
            .iter()
            .filter_map(|u| {
                let new = entry_bytes(u.key.len(), u.value.as_ref()?.len());
                let old = self.map.get(&u.key[..]).map_or(0, |l| l.bytes);
                Some(new.saturating_sub(old))
            })
            .sum()
    }
}

/// An append waiting for the writer.
struct Pending {
    /// The encoded batches.
    buf: Vec<u8>,
    updates: Vec<Update>,
    /// Live bytes reserved for it (released once written or failed).
    growth: u64,
    apply: Box<dyn FnOnce()>,
    done: OneshotSender<Result<()>>,
}

enum Job {
    Append(Pending),
    Compact(OneshotSender<Result<()>>),
}

struct Inner {
    /// `{family}/shard-{n}`, for errors and logs.
    name: String,
    family: String,
    shard: usize,
    dir: PathBuf,
    config: StateLogConfig,
    log: RefCell<Rc<Log>>,
    keys: RefCell<Keys>,
    /// `max(live_bytes_max, live bytes at open)`: what `live_bytes` may never pass.
    live_cap: u64,
    /// Growth reserved by queued appends.
    reserved: Cell<u64>,
    queue: RefCell<VecDeque<Job>>,
    /// Why appends are refused, after a failed write, fdatasync or swap.
    failed: RefCell<Option<String>>,
    /// The handle was dropped: the writer exits once the queue is empty.
    closed: Cell<bool>,
    /// A job was queued, or the handle closed.
    work: Notify,
    /// The queue has room again.
    space: Notify,
    /// No compaction is tried below this log size (set after a failed attempt).
    compact_retry_bytes: Cell<u64>,
    compactions: Cell<u64>,
}

/// One shard's state log (`!Send`: it lives on its shard). Dropping it stops its writer task
/// once the queue is empty.
pub struct StateLog {
    inner: Rc<Inner>,
    /// The writer task, awaited by [`StateLog::close`].
    writer: Option<crate::rt::JoinHandle<()>>,
}

impl std::fmt::Debug for StateLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateLog")
            .field("name", &self.inner.name)
            .field("live_keys", &self.live_keys())
            .field("live_bytes", &self.live_bytes())
            .finish()
    }
}

impl StateLog {
    /// Opens (creating) shard `shard`'s log of `family` under `root` (see [`state_root`]),
    /// finishing any interrupted compaction, and hands every live `(key, value)` to `replay`, in
    /// log order. An error from `replay` (a record the caller cannot decode) fails the open.
    /// Spawns the writer task on the current shard.
    pub async fn open(
        root: &Path,
        family: &str,
        shard: usize,
        config: StateLogConfig,
        mut replay: impl FnMut(&[u8], &[u8]) -> std::result::Result<(), String>,
    ) -> Result<StateLog> {
        validate_family(family)?;
        validate_shards(shard + 1)?;
        config.validate()?;
        let dir = shard_dir(root, family, shard);
        let name = format!("{family}/shard-{shard}");
        std::fs::create_dir_all(parent(&dir)).map_err(|e| Error::io("mkdir", parent(&dir), e))?;
        if recover_swap(&dir).await? {
            tracing::info!("{name}: finished a compaction interrupted by a crash");
        }
        let log = open_log(&dir, family, shard, &config, config.flush).await?;
        let keys = scan_live(&log, |e| {
            let value = e.value.expect("live records have values");
            replay(&e.key, &value).map_err(|reason| Error::CorruptSegment {
                path: dir.clone(),
                position: 0,
                reason: format!("record at offset {}: {reason}", e.offset),
            })
        })
        .await?;
        let inner = Rc::new(Inner {
            name,
            family: family.to_string(),
            shard,
            dir,
            live_cap: config.live_bytes_max.max(keys.bytes),
            config,
            log: RefCell::new(Rc::new(log)),
            keys: RefCell::new(keys),
            reserved: Cell::new(0),
            queue: RefCell::new(VecDeque::new()),
            failed: RefCell::new(None),
            closed: Cell::new(false),
            work: Notify::new(),
            space: Notify::new(),
            compact_retry_bytes: Cell::new(0),
            compactions: Cell::new(0),
        });
        let writer = Some(crate::rt::spawn(run_writer(inner.clone())));
        Ok(StateLog { inner, writer })
    }

    /// Appends `updates` (in order, as one unit of group commit). Resolves once they are durable
    /// and `apply` has run, after the `apply` of every earlier append; `apply` does not run if
    /// the write fails. Refused without writing: an empty or oversized append
    /// ([`Error::InvalidArgument`], [`Error::RecordListTooLarge`]), growth past
    /// [`StateLogConfig::live_bytes_max`] ([`Error::StateFull`]), and every append after a failed
    /// write or fdatasync ([`Error::Poisoned`], until reopened).
    ///
    /// A crash before this resolves may keep a prefix of the append's batches (each batch of at
    /// most [`STATE_BATCH_BYTES_MAX`] is all or nothing).
    pub async fn append(&self, updates: Vec<Update>, apply: impl FnOnce() + 'static) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        if updates.is_empty() {
            return Err(Error::InvalidArgument {
                what: format!("{}: empty append", inner.name),
            });
        }
        for u in &updates {
            let value = u.value.as_ref().map_or(0, Bytes::len);
            if u.key.len() > KEY_BYTES_MAX || value > VALUE_BYTES_MAX {
                return Err(inner.too_large("record", u.record_bytes(), RECORD_BYTES_MAX));
            }
        }
        let estimate: usize = updates.iter().map(Update::record_bytes).sum();
        if estimate > APPEND_BYTES_MAX {
            return Err(inner.too_large("append", estimate, APPEND_BYTES_MAX));
        }
        let mut buf = Vec::with_capacity(estimate + HEADER_BYTES);
        encode_updates(&updates, &mut buf)?;
        loop {
            let space = inner.space.notified();
            inner.check_writable()?;
            if inner.queue.borrow().len() < QUEUED_APPENDS_MAX {
                break;
            }
            space.await;
        }
        // From here to the push nothing awaits: the reservation sees every queued append.
        let growth = inner.keys.borrow().growth(&updates);
        let live = inner.keys.borrow().bytes;
        if live + inner.reserved.get() + growth > inner.config.live_bytes_max {
            return Err(Error::StateFull {
                log: inner.name.clone(),
                live_bytes: live + inner.reserved.get(),
                requested_bytes: growth,
                max_bytes: inner.config.live_bytes_max,
            });
        }
        inner.reserved.set(inner.reserved.get() + growth);
        let (done, result) = mesh::oneshot();
        inner.queue.borrow_mut().push_back(Job::Append(Pending {
            buf,
            updates,
            growth,
            apply: Box::new(apply),
            done,
        }));
        inner.work.notify_waiters();
        result
            .recv()
            .await
            .unwrap_or_else(|| Err(inner.poisoned("the writer task stopped")))
    }

    /// Compacts now (between appends), whatever the size: only the latest value of each live key
    /// remains. Appends wait meanwhile.
    pub async fn compact(&self) -> Result<()> {
        self.inner.check_writable()?;
        let (done, result) = mesh::oneshot();
        self.inner.queue.borrow_mut().push_back(Job::Compact(done));
        self.inner.work.notify_waiters();
        result
            .recv()
            .await
            .unwrap_or_else(|| Err(self.inner.poisoned("the writer task stopped")))
    }

    /// Whether some acknowledged write is not fdatasynced yet (under `FlushPolicy::Interval`
    /// or `Never`).
    pub fn has_unsynced(&self) -> bool {
        self.inner.log.borrow().has_unsynced()
    }

    /// Number of live keys.
    pub fn live_keys(&self) -> usize {
        self.inner.keys.borrow().map.len()
    }

    /// Live bytes: the sum over live keys of key + value + [`RECORD_OVERHEAD_BYTES_MAX`].
    pub fn live_bytes(&self) -> u64 {
        self.inner.keys.borrow().bytes
    }

    /// Bytes of the log on disk (all segments).
    pub fn size_bytes(&self) -> u64 {
        self.inner.log.borrow().size_bytes()
    }

    /// Compactions done since open.
    pub fn compactions(&self) -> u64 {
        self.inner.compactions.get()
    }

    /// Why appends are refused, if they are.
    pub fn failed(&self) -> Option<String> {
        self.inner.failed.borrow().clone()
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

impl StateLog {
    /// Closes the log and waits until its writer task has stopped: the queued appends are
    /// written, and a compaction the last append started has finished (or failed). Reopen the
    /// same directory in this process only after this: a writer still running would race the
    /// new log's recovery of an interrupted swap. Dropping the handle instead stops the writer
    /// in the background.
    pub async fn close(mut self) {
        self.inner.closed.set(true);
        self.inner.work.notify_waiters();
        if let Some(writer) = self.writer.take() {
            writer.await;
        }
    }
}

impl Drop for StateLog {
    fn drop(&mut self) {
        self.inner.closed.set(true);
        self.inner.work.notify_waiters();
    }
}

impl Inner {
    fn check_writable(&self) -> Result<()> {
        match self.failed.borrow().as_ref() {
            Some(cause) => Err(self.poisoned(cause)),
            None => Ok(()),
        }
    }

    fn poisoned(&self, cause: &str) -> Error {
        Error::Poisoned {
            partition: self.name.clone(),
            cause: cause.to_string(),
        }
    }

    fn too_large(&self, what: &str, size_bytes: usize, max_bytes: usize) -> Error {
        Error::RecordListTooLarge {
            partition: format!("{} ({what})", self.name),
            size_bytes: size_bytes as u64,
            max_bytes: max_bytes as u64,
        }
    }

    /// Refuse every later append (the first cause is kept).
    fn fail(&self, cause: String) {
        tracing::error!("{}: {cause}; refusing appends until restart", self.name);
        self.failed.borrow_mut().get_or_insert(cause);
        self.space.notify_waiters();
    }

    /// Takes the next jobs: a compaction alone, or consecutive appends up to [`WRITE_BYTES_MAX`].
    fn next_jobs(&self) -> Option<Result<Vec<Pending>, OneshotSender<Result<()>>>> {
        let mut queue = self.queue.borrow_mut();
        match queue.pop_front()? {
            Job::Compact(done) => Some(Err(done)),
            Job::Append(first) => {
                let mut bytes = first.buf.len();
                let mut jobs = vec![first];
                while let Some(Job::Append(next)) = queue.front() {
                    if bytes + next.buf.len() > WRITE_BYTES_MAX {
                        break;
                    }
                    bytes += next.buf.len();
                    let Some(Job::Append(next)) = queue.pop_front() else {
                        unreachable!("front was an append")
                    };
                    jobs.push(next);
                }
                Some(Ok(jobs))
            }
        }
    }

    /// Writes the appends with one engine append (one write, one fdatasync), then applies them
    /// in order.
    async fn write(&self, jobs: Vec<Pending>) {
        let mut buf = Vec::with_capacity(jobs.iter().map(|p| p.buf.len()).sum());
        for p in &jobs {
            buf.extend_from_slice(&p.buf);
        }
        let records: i64 = jobs.iter().map(|p| p.updates.len() as i64).sum();
        let log = self.log.borrow().clone();
        // The broker writes its own state: an internal append (Kafka: AppendOrigin.COORDINATOR).
        let result = log.append_as(buf, AppendOrigin::Internal).await;
        for p in &jobs {
            self.reserved.set(self.reserved.get() - p.growth);
        }
        match result {
            Ok(base) => {
                assert_eq!(
                    base + records,
                    log.log_end_offset(),
                    "{}: the writer is the only writer",
                    self.name
                );
                let mut offset = base;
                for p in jobs {
                    {
                        let mut keys = self.keys.borrow_mut();
                        for u in &p.updates {
                            keys.apply(offset, &u.key, u.value.as_ref().map(Bytes::len));
                            offset += 1;
                        }
                        assert!(
                            keys.bytes <= self.live_cap,
                            "{}: live bytes {} past the cap {}",
                            self.name,
                            keys.bytes,
                            self.live_cap
                        );
                    }
                    (p.apply)();
                    p.done.send(Ok(()));
                }
            }
            Err(e) => {
                let cause = format!("append failed: {e}");
                self.fail(cause.clone());
                for p in jobs {
                    p.done.send(Err(self.poisoned(&cause)));
                }
            }
        }
    }

    fn compaction_due(&self) -> bool {
        let size = self.log.borrow().size_bytes();
        let live = self.keys.borrow().bytes;
        size >= self.config.compact_bytes_min
            && size >= self.compact_retry_bytes.get()
            && size / self.config.compact_ratio >= live
    }

    /// Rewrites the log with only the latest record of each live key and swaps it in (see the
    /// module doc). A failure while building leaves the live log in use; a failure while
    /// swapping poisons the state log (the next open finishes the swap).
    async fn compact(&self) -> Result<()> {
        let old = self.log.borrow().clone();
        let staged = sibling(&self.dir, STAGED_SUFFIX);
        let before = old.size_bytes();
        if let Err(e) = self.build_compacted(&old, &staged).await {
            self.compact_retry_bytes
                .set(before.saturating_add(self.config.compact_bytes_min));
            return Err(e);
        }
        let swapped = async {
            swap_in(&self.dir, &staged).await?;
            open_log(
                &self.dir,
                &self.family,
                self.shard,
                &self.config,
                self.config.flush,
            )
            .await
        }
        .await;
        let new = match swapped {
            Ok(log) => log,
            Err(e) => {
                let cause = format!("compaction failed while swapping logs: {e}");
                self.fail(cause.clone());
                return Err(self.poisoned(&cause));
            }
        };
        // The new log numbers the live records 0.. in the order of the old one: a key's new
        // offset is the rank of its old one.
        let kept = {
            let mut keys = self.keys.borrow_mut();
            let mut old_offsets: Vec<i64> = keys.map.values().map(|l| l.offset).collect();
            old_offsets.sort_unstable();
            for live in keys.map.values_mut() {
                let rank = old_offsets
                    .binary_search(&live.offset)
                    .expect("a live offset");
                live.offset = rank as i64;
            }
            old_offsets.len()
        };
        assert_eq!(
            new.log_end_offset(),
            kept as i64,
            "{}: the compacted log holds one record per live key",
            self.name
        );
        *self.log.borrow_mut() = Rc::new(new);
        self.compactions.set(self.compactions.get() + 1);
        self.compact_retry_bytes.set(0);
        tracing::info!(
            "{}: compacted {before} bytes to {} ({kept} live keys)",
            self.name,
            self.log.borrow().size_bytes()
        );
        Ok(())
    }

    /// Step 1 of the swap: `staged` holds the live records of `old`, durably.
    async fn build_compacted(&self, old: &Log, staged: &Path) -> Result<()> {
        remove_dir_if_exists(staged).await?;
        let new = open_log(
            staged,
            &self.family,
            self.shard,
            &self.config,
            FlushPolicy::Never,
        )
        .await?;
        let mut writer = FreshWriter::new(&new);
        let mut kept_bytes = 0u64;
        let mut scan = Scan::new(old);
        while let Some(chunk) = scan.next_chunk().await? {
            for e in chunk {
                if !self.keys.borrow().is_latest(&e.key, e.offset) {
                    continue;
                }
                let value = e.value.expect("a live key's latest record has a value");
                kept_bytes += entry_bytes(e.key.len(), value.len());
                writer
                    .push(&Update {
                        key: e.key,
                        value: Some(value),
                    })
                    .await?;
            }
        }
        let kept = writer.finish().await?;
        {
            let keys = self.keys.borrow();
            assert_eq!(
                kept,
                keys.map.len() as i64,
                "{}: compaction keeps every live key",
                self.name
            );
            assert_eq!(
                kept_bytes, keys.bytes,
                "{}: compaction keeps the live bytes",
                self.name
            );
        }
        fsync_parent(staged).await
    }
}

/// The writer task: owns every write to the log, so appends are applied in log order and
/// compaction never races an append.
impl Inner {
    /// Waits for `work`. Under `FlushPolicy::Interval(d)` a log left with unsynced writes is
    /// synced `d` after them if no work comes first, so the interval bounds what a machine crash
    /// can lose even when the writes stop (the append path syncs only when a later write finds
    /// one due).
    async fn idle(&self, work: impl std::future::Future<Output = ()>) {
        let FlushPolicy::Interval(d) = self.config.flush else {
            return work.await;
        };
        let log = self.log.borrow().clone();
        if !log.has_unsynced() {
            return work.await;
        }
        if let crate::rt::future::Either::Right(()) =
            crate::rt::future::select(work, crate::rt::time::sleep(d)).await
        {
            if let Err(e) = log.flush().await {
                tracing::warn!("{}: interval sync failed: {e}", self.name);
            }
        }
    }
}

async fn run_writer(inner: Rc<Inner>) {
    loop {
        let work = inner.work.notified();
        let Some(jobs) = inner.next_jobs() else {
            if inner.closed.get() {
                return;
            }
            inner.idle(work).await;
            continue;
        };
        inner.space.notify_waiters();
        match jobs {
            Err(done) => {
                let r = match inner.check_writable() {
                    Ok(()) => inner.compact().await,
                    Err(e) => Err(e),
                };
                done.send(r);
            }
            Ok(jobs) => {
                if let Err(e) = inner.check_writable() {
                    for p in jobs {
                        inner.reserved.set(inner.reserved.get() - p.growth);
                        p.done.send(Err(inner.poisoned(&e.to_string())));
                    }
                    continue;
                }
                inner.write(jobs).await;
                if inner.failed.borrow().is_none() && inner.compaction_due() {
                    if let Err(e) = inner.compact().await {
                        tracing::warn!("{}: compaction failed, the log is kept: {e}", inner.name);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
