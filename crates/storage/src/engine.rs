//! Many partition logs under one data directory: the embedding API.
//!
//! ```text
//! data_dir/
//!   {topic}-{partition}/            one directory per partition (names validated, see names.rs)
//!     00000000000000000000.log      segments, named by base offset (see segment.rs)
//!     00000000000000000000.index
//!     00000000000000000000.timeindex
//!   {topic}-{partition}.deleting/   a partition being deleted (removed again on open)
//!   __ringlog_state/                internal state logs (state_log.rs): no `-{partition}`
//!                                   suffix, so never taken for a partition here
//! ```
//! The broker runs one `Engine` per shard over the same directory; `EngineConfig::owns` decides
//! which partitions this engine opens. Topic-level operations (`create_topic`) create every
//! partition directory but open only owned ones; `delete_topic` deletes only owned partitions,
//! so the broker calls it on every shard. Other shards learn of new partitions with
//! [`Engine::refresh`] or [`Engine::open_topic`].
//!
//! Each engine keeps at most `EngineConfig::open_segment_files_max` segment files open, shared by
//! all its partitions through one [`FileCache`] (see [`crate::files`]): files are opened when
//! used and the least recently used is closed when the budget is spent. Opening a partition
//! (at start or creation) leaves none of its files open.
//!
//! Creating a topic is all or nothing: if any partition directory cannot be made or any owned
//! partition cannot be opened, every directory the call made is removed again and the error is
//! returned. Partition directories that the embedder's catalog does not name (left by a crash
//! during a creation) are moved aside into `orphaned/` by [`set_aside_unclaimed`], never opened.
//!
//! Directory operations (mkdir, readdir, rename, unlink) use `std::fs` directly: the runtime's file
//! API covers data I/O only; these calls are rare and off the append/read path (except roll).
//!
//! # Invariants
//! - A partition is open in at most one engine of a process when the `owns` filters partition
//!   the key space (the broker's routing function guarantees it).
//! - Every path is built from a validated topic name and a partition `>= 0`.
//! - The engine's cache holds at most `open_segment_files_max` files open.
//! - A failed `create_topic` leaves no partition directory of the topic and no open log.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::error::{Error, Result};
use super::files::FileCache;
use super::log::{now_ms, Log, LogConfig, ReadResult};
use super::names::{
    parse_partition_dir, partition_dir, validate_topic, DELETING_SUFFIX, PARTITIONS_PER_TOPIC_MAX,
};
use super::rt::future::join_all;

/// Decides whether this engine owns partition `(topic, partition)`.
pub type OwnsFn = Arc<dyn Fn(&str, i32) -> bool + Send + Sync>;

/// Default [`EngineConfig::open_segment_files_max`]: a quarter of the common 1,024-descriptor
/// soft limit, leaving the rest to the embedding program. 256 files keep the active segments
/// (three files each) of about 85 partitions open at once; beyond that, files are reopened as
/// they are used.
pub const OPEN_SEGMENT_FILES_MAX_DEFAULT: usize = 256;

/// Partitions an engine opens at once (at start, and for a new topic): their recoveries'
/// fdatasyncs and directory syncs overlap (write permits still bound them) instead of running one
/// after the other, while the memory of their scans (one batch each) stays small.
pub const PARTITION_OPENS_IN_FLIGHT_MAX: usize = 16;

/// Directory under the data directory that partition directories nobody claims are moved into
/// ([`set_aside_unclaimed`]). Its name has no `-{partition}` suffix, so it is never taken for a
/// partition.
pub const ORPHANED_DIR: &str = "orphaned";

/// Names tried for a directory moved into [`ORPHANED_DIR`] (`{name}`, `{name}.1`, ...) before
/// giving up: enough for any number of crashes an operator would let pile up.
const SET_ASIDE_NAMES_MAX: u32 = 1000;

/// Engine configuration.
#[derive(Clone)]
pub struct EngineConfig {
    /// Configuration applied to every partition log.
    pub log: LogConfig,
    /// Ownership filter; `None` owns every partition.
    pub owns: Option<OwnsFn>,
    /// Open damaged sealed segments by truncating the log at the damage instead of failing.
    pub repair: bool,
    /// Segment files (`.log`, `.index`, `.timeindex`) this engine keeps open at once, all its
    /// partitions together (at least 1). Files in use by a read or a transfer when they are
    /// evicted stay open until it ends, outside this count.
    pub open_segment_files_max: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            log: LogConfig::default(),
            owns: None,
            repair: false,
            open_segment_files_max: OPEN_SEGMENT_FILES_MAX_DEFAULT,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("log", &self.log)
            .field("owns", &self.owns.as_ref().map(|_| "<filter>"))
            .field("repair", &self.repair)
            .field("open_segment_files_max", &self.open_segment_files_max)
            .finish()
    }
}

/// A key of the map of open logs, `(topic, partition)`, that a borrowed `(&str, i32)` can stand
/// for, so a lookup needs no `String`. Ordered as the tuple `(String, i32)` is.
trait PartitionKey {
    fn topic(&self) -> &str;
    fn partition(&self) -> i32;
}

impl PartitionKey for (String, i32) {
    fn topic(&self) -> &str {
        &self.0
    }
    fn partition(&self) -> i32 {
        self.1
    }
}

impl PartitionKey for (&str, i32) {
    fn topic(&self) -> &str {
        self.0
    }
    fn partition(&self) -> i32 {
        self.1
    }
}

impl<'a> std::borrow::Borrow<dyn PartitionKey + 'a> for (String, i32) {
    fn borrow(&self) -> &(dyn PartitionKey + 'a) {
        self
    }
}

impl PartialEq for dyn PartitionKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.topic() == other.topic() && self.partition() == other.partition()
    }
}

impl Eq for dyn PartitionKey + '_ {}

impl PartialOrd for dyn PartitionKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn PartitionKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.topic(), self.partition()).cmp(&(other.topic(), other.partition()))
    }
}

/// The storage engine of one shard. Single-threaded (`!Send`).
pub struct Engine {
    dir: PathBuf,
    config: EngineConfig,
    /// The open segment files of every partition of this engine, within the budget.
    files: Rc<FileCache>,
    logs: RefCell<BTreeMap<(String, i32), Rc<Log>>>,
}

impl Engine {
    /// Opens the data directory (creating it), recovering every owned partition found there.
    pub async fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        config.log.validate()?;
        if config.open_segment_files_max == 0 {
            return Err(Error::InvalidArgument {
                what: "open_segment_files_max must be at least 1".to_string(),
            });
        }
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("mkdir", &dir, e))?;
        let engine = Engine {
            dir,
            files: FileCache::new(config.open_segment_files_max),
            config,
            logs: RefCell::new(BTreeMap::new()),
        };
        engine.remove_leftover_deletions()?;
        engine.refresh().await?;
        Ok(engine)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache of open segment files (its budget, what it holds, its counters).
    pub fn file_cache(&self) -> &Rc<FileCache> {
        &self.files
    }

    /// The configuration every log of this engine is opened with.
    pub fn log_config(&self) -> &LogConfig {
        &self.config.log
    }

    /// Applies `config` to every open partition of `topic` in this engine ([`Log::set_config`]:
    /// a topic's configs changed, or its logs were just opened). Validated once before any log
    /// changes; returns how many logs took it. Partitions opened later start with the engine's
    /// [`Engine::log_config`]: the caller sets theirs again after opening them.
    pub fn set_topic_config(&self, topic: &str, config: LogConfig) -> Result<usize> {
        config.validate()?;
        let logs: Vec<Rc<Log>> = self
            .logs
            .borrow()
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, log)| log.clone())
            .collect();
        for log in &logs {
            log.set_config(config.clone())?;
        }
        Ok(logs.len())
    }

    fn owns(&self, topic: &str, partition: i32) -> bool {
        self.config
            .owns
            .as_ref()
            .is_none_or(|f| f(topic, partition))
    }

    /// Partition directories on disk: (topic, partition) -> path.
    fn scan_dir(&self) -> Result<Vec<(String, i32, PathBuf)>> {
        scan_partition_dirs(&self.dir)
    }

    fn remove_leftover_deletions(&self) -> Result<()> {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| Error::io("readdir", &self.dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("readdir", &self.dir, e))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(DELETING_SUFFIX)) else {
                continue;
            };
            if let Some((t, p)) = parse_partition_dir(stem) {
                if self.owns(&t, p) {
                    std::fs::remove_dir_all(entry.path())
                        .map_err(|e| Error::io("rmdir", entry.path(), e))?;
                }
            }
        }
        Ok(())
    }

    async fn open_log(&self, topic: &str, partition: i32, path: &Path) -> Result<Rc<Log>> {
        let log = Log::open_with_files(
            path,
            topic,
            partition,
            self.config.log.clone(),
            self.config.repair,
            self.files.clone(),
        )
        .await?;
        Ok(Rc::new(log))
    }

    /// Opens owned partitions present on disk but not yet open (e.g. created by another shard).
    /// Returns how many were opened.
    pub async fn refresh(&self) -> Result<usize> {
        let wanted: Vec<(String, i32, PathBuf)> = self
            .scan_dir()?
            .into_iter()
            .filter(|(t, p, _)| {
                self.owns(t, *p) && !self.logs.borrow().contains_key(&(t.clone(), *p))
            })
            .collect();
        for chunk in wanted.chunks(PARTITION_OPENS_IN_FLIGHT_MAX) {
            let opening = chunk.iter().map(|(t, p, path)| self.open_log(t, *p, path));
            for ((topic, p, _), log) in chunk.iter().zip(join_all(opening.collect()).await) {
                self.logs.borrow_mut().insert((topic.clone(), *p), log?);
            }
        }
        Ok(wanted.len())
    }

    /// Topics on disk (whether owned or not): name -> partition count (highest partition + 1).
    pub fn topics(&self) -> Result<BTreeMap<String, i32>> {
        let mut out: BTreeMap<String, i32> = BTreeMap::new();
        for (t, p, _) in self.scan_dir()? {
            let n = out.entry(t).or_insert(0);
            *n = (*n).max(p.saturating_add(1));
        }
        Ok(out)
    }

    /// Calls `f` with every open log, in (topic, partition) order, without copying names or
    /// handles (the metrics endpoint reads each log's offsets and sizes). `f` must not open or
    /// close logs of this engine.
    pub fn for_each_log(&self, mut f: impl FnMut(&Log)) {
        for log in self.logs.borrow().values() {
            f(log);
        }
    }

    /// Partitions open in this engine.
    pub fn partitions(&self) -> Vec<(String, i32)> {
        self.logs.borrow().keys().cloned().collect()
    }

    /// Creates a topic: every partition directory, then opens the owned ones. All or nothing:
    /// on any failure the logs this call opened are closed and every directory it made is
    /// removed before the error is returned.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.create_partition_dirs(name, partitions).await?;
        if let Err(e) = self.open_topic(name, partitions).await {
            self.close_topic(name);
            if let Err(cleanup) = self.remove_topic_dirs(name).await {
                tracing::error!(
                    "creating topic {name} failed ({e}); removing its directories failed too: \
                     {cleanup}"
                );
            }
            return Err(e);
        }
        Ok(())
    }

    /// The first step of a topic creation: every partition directory of topic `name`, opened
    /// by no engine yet. All or nothing: if one cannot be made, those made are removed again.
    /// `TopicAlreadyExists` if any directory of the topic is already on disk.
    pub async fn create_partition_dirs(&self, name: &str, partitions: i32) -> Result<()> {
        validate_topic(name)?;
        if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            return Err(Error::InvalidPartition {
                topic: name.to_string(),
                partition: partitions.into(),
            });
        }
        if self.scan_dir()?.iter().any(|(t, _, _)| t == name) {
            return Err(Error::TopicAlreadyExists {
                topic: name.to_string(),
            });
        }
        self.make_partition_dirs(name, 0..partitions).await
    }

    /// Creates the directories of partitions `from..to` of an existing topic `name` (more
    /// partitions for it: Kafka's CreatePartitions), all or none, durably. A directory of one of
    /// them that is already there is refused with [`Error::TopicAlreadyExists`] (leftovers of an
    /// addition that did not commit: the caller sets them aside).
    pub async fn add_partition_dirs(&self, name: &str, from: i32, to: i32) -> Result<()> {
        validate_topic(name)?;
        if !(0..=to).contains(&from) || !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&to) {
            return Err(Error::InvalidPartition {
                topic: name.to_string(),
                partition: to.into(),
            });
        }
        if self
            .scan_dir()?
            .iter()
            .any(|(t, p, _)| t == name && (from..to).contains(p))
        {
            return Err(Error::TopicAlreadyExists {
                topic: name.to_string(),
            });
        }
        self.make_partition_dirs(name, from..to).await
    }

    async fn make_partition_dirs(&self, name: &str, range: std::ops::Range<i32>) -> Result<()> {
        let mut made: Vec<PathBuf> = Vec::with_capacity(range.len());
        let mut failed = None;
        for p in range {
            let path = partition_dir(&self.dir, name, p)?;
            match std::fs::create_dir(&path) {
                Ok(()) => made.push(path),
                Err(e) => {
                    // A directory of that name is the topic (created meanwhile); anything else
                    // in the way is a storage problem, not an existing topic.
                    failed = Some(match e.kind() {
                        std::io::ErrorKind::AlreadyExists if path.is_dir() => {
                            Error::TopicAlreadyExists {
                                topic: name.to_string(),
                            }
                        }
                        _ => Error::io("mkdir", &path, e),
                    });
                    break;
                }
            }
        }
        if let Some(e) = failed {
            for path in made.iter().rev() {
                if let Err(cleanup) = std::fs::remove_dir_all(path) {
                    tracing::error!(
                        "removing {} after a failed creation: {cleanup}",
                        path.display()
                    );
                }
            }
            // Best effort: a removal that is not durable only brings back an empty directory,
            // which the next start sets aside.
            let _ = self.files.sync_dir(&self.dir).await;
            return Err(e);
        }
        self.files.sync_dir(&self.dir).await
    }

    /// Opens this engine's partitions `0..partitions` of topic `name` (those already open are
    /// kept). All or nothing for this engine: if one cannot be opened, those this call opened
    /// are closed again. Returns how many were opened.
    pub async fn open_topic(&self, name: &str, partitions: i32) -> Result<usize> {
        validate_topic(name)?;
        let wanted: Vec<(i32, PathBuf)> = (0..partitions)
            .filter(|&p| {
                self.owns(name, p) && !self.logs.borrow().contains_key(&(name.to_string(), p))
            })
            .map(|p| Ok((p, partition_dir(&self.dir, name, p)?)))
            .collect::<Result<_>>()?;
        let mut opened: Vec<i32> = Vec::with_capacity(wanted.len());
        let mut failed = None;
        for chunk in wanted.chunks(PARTITION_OPENS_IN_FLIGHT_MAX) {
            let opening = chunk.iter().map(|(p, path)| self.open_log(name, *p, path));
            for ((p, _), log) in chunk.iter().zip(join_all(opening.collect()).await) {
                match log {
                    Ok(log) => {
                        self.logs.borrow_mut().insert((name.to_string(), *p), log);
                        opened.push(*p);
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            if failed.is_some() {
                break;
            }
        }
        if let Some(e) = failed {
            for p in opened {
                if let Some(log) = self.logs.borrow_mut().remove(&(name.to_string(), p)) {
                    log.mark_deleted();
                }
            }
            return Err(e);
        }
        Ok(opened.len())
    }

    /// Closes this engine's open partitions of topic `name` without touching the disk (handles
    /// still held elsewhere fail with `Deleted`). Returns how many were closed.
    pub fn close_topic(&self, name: &str) -> usize {
        self.close_partitions_from(name, 0)
    }

    /// Closes this engine's open partitions `from..` of topic `name` without touching the disk
    /// (the roll-back of partitions being added). Returns how many were closed.
    pub fn close_partitions_from(&self, name: &str, from: i32) -> usize {
        let doomed: Vec<(String, i32)> = self
            .logs
            .borrow()
            .keys()
            .filter(|(t, p)| t == name && *p >= from)
            .cloned()
            .collect();
        for key in &doomed {
            if let Some(log) = self.logs.borrow_mut().remove(key) {
                log.mark_deleted();
            }
        }
        doomed.len()
    }

    /// Removes every partition directory of topic `name`, whichever engine owns it (the
    /// roll-back of a failed creation, once every engine closed its partitions). Returns how
    /// many were removed.
    pub async fn remove_topic_dirs(&self, name: &str) -> Result<usize> {
        validate_topic(name)?;
        self.remove_partition_dirs(name, false).await
    }

    /// Deletes the owned partitions of a topic (directories and open logs; handles still held
    /// elsewhere fail with `Deleted`). Returns how many partitions were deleted.
    pub async fn delete_topic(&self, name: &str) -> Result<usize> {
        validate_topic(name)?;
        if !self.scan_dir()?.iter().any(|(t, _, _)| t == name) {
            return Err(Error::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            });
        }
        self.remove_partition_dirs(name, true).await
    }

    /// Closes and removes the partition directories of `name` (only owned ones if
    /// `only_owned`): each is renamed first, so a crash mid-removal leaves no half-deleted
    /// partition behind.
    async fn remove_partition_dirs(&self, name: &str, only_owned: bool) -> Result<usize> {
        let on_disk: Vec<(i32, PathBuf)> = self
            .scan_dir()?
            .into_iter()
            .filter(|(t, _, _)| t == name)
            .map(|(_, p, path)| (p, path))
            .collect();
        let mut removed = 0;
        for (p, path) in on_disk {
            if only_owned && !self.owns(name, p) {
                continue;
            }
            if let Some(log) = self.logs.borrow_mut().remove(&(name.to_string(), p)) {
                log.mark_deleted();
            }
            let mut doomed = path.clone().into_os_string();
            doomed.push(DELETING_SUFFIX);
            std::fs::rename(&path, &doomed).map_err(|e| Error::io("rename", &path, e))?;
            self.files.sync_dir(&self.dir).await?;
            std::fs::remove_dir_all(&doomed)
                .map_err(|e| Error::io("rmdir", PathBuf::from(&doomed), e))?;
            removed += 1;
        }
        self.files.sync_dir(&self.dir).await?;
        Ok(removed)
    }

    /// The open log of an owned partition.
    pub fn log(&self, topic: &str, partition: i32) -> Result<Rc<Log>> {
        validate_topic(topic)?;
        self.find_log(topic, partition)
    }

    /// [`Engine::log`] for a topic name the caller has validated already (a Produce handler,
    /// once per topic): one map lookup, no allocation. An invalid name is never in the map, so
    /// it is answered `UnknownTopicOrPartition` here.
    pub fn find_log(&self, topic: &str, partition: i32) -> Result<Rc<Log>> {
        self.logs
            .borrow()
            .get(&(topic, partition) as &dyn PartitionKey)
            .cloned()
            .ok_or_else(|| Error::UnknownTopicOrPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// Appends one or more concatenated batches; returns the first batch's base offset.
    pub async fn append(&self, topic: &str, partition: i32, records: Vec<u8>) -> Result<i64> {
        self.log(topic, partition)?.append(records).await
    }

    /// [`Engine::append`] from a shared buffer, written without a copy (see [`Log::append_bytes`]).
    pub async fn append_bytes(&self, topic: &str, partition: i32, records: Bytes) -> Result<i64> {
        self.log(topic, partition)?.append_bytes(records).await
    }

    /// Reads whole batches from `offset` (see [`Log::read`]).
    pub async fn read(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: u64,
    ) -> Result<ReadResult> {
        self.log(topic, partition)?.read(offset, max_bytes).await
    }

    /// ListOffsets `earliest`.
    pub fn earliest_offset(&self, topic: &str, partition: i32) -> Result<i64> {
        Ok(self.log(topic, partition)?.log_start_offset())
    }

    /// ListOffsets `latest` (the high watermark).
    pub fn latest_offset(&self, topic: &str, partition: i32) -> Result<i64> {
        Ok(self.log(topic, partition)?.high_watermark())
    }

    /// ListOffsets by timestamp, record-exact where possible (see [`Log::record_for_timestamp`]):
    /// `(offset, timestamp)` of the first record at or after `timestamp_ms`.
    pub async fn record_for_timestamp(
        &self,
        topic: &str,
        partition: i32,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>> {
        self.log(topic, partition)?
            .record_for_timestamp(timestamp_ms)
            .await
    }

    /// The first batch whose max timestamp is at or after a time (see [`Log::offset_for_timestamp`]).
    pub async fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: i32,
        timestamp_ms: i64,
    ) -> Result<Option<i64>> {
        self.log(topic, partition)?
            .offset_for_timestamp(timestamp_ms)
            .await
    }

    /// Resolves when the partition's high watermark passes `past_offset` (long-poll fetch).
    pub async fn wait_for_append(
        &self,
        topic: &str,
        partition: i32,
        past_offset: i64,
    ) -> Result<i64> {
        let log = self.log(topic, partition)?;
        log.wait_for_append(past_offset).await
    }

    fn all_logs(&self) -> Vec<Rc<Log>> {
        self.logs.borrow().values().cloned().collect()
    }

    /// Flushes every open log.
    pub async fn flush_all(&self) -> Result<()> {
        for log in self.all_logs() {
            log.flush().await?;
        }
        Ok(())
    }

    /// Runs due interval flushes; call from a timer under `FlushPolicy::Interval`.
    pub async fn flush_due(&self) -> Result<()> {
        for log in self.all_logs() {
            log.flush_if_due().await?;
        }
        Ok(())
    }

    /// Applies retention to every open log against the wall clock; returns segments deleted.
    pub async fn apply_retention(&self) -> Result<usize> {
        let now = now_ms();
        let mut n = 0;
        for log in self.all_logs() {
            n += log.apply_retention(now).await?;
        }
        Ok(n)
    }
}

/// Partition directories in `data_dir`: (topic, partition, path).
fn scan_partition_dirs(data_dir: &Path) -> Result<Vec<(String, i32, PathBuf)>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(data_dir).map_err(|e| Error::io("readdir", data_dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("readdir", data_dir, e))?;
        let is_dir = match entry.file_type() {
            Ok(t) => t.is_dir(),
            // Renamed meanwhile (another engine of the process deleting or setting it aside).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("stat", entry.path(), e)),
        };
        if let (true, Some((t, p))) = (
            is_dir,
            entry.file_name().to_str().and_then(parse_partition_dir),
        ) {
            out.push((t, p, entry.path()));
        }
    }
    Ok(out)
}

/// Moves every partition directory of `data_dir` that `claimed` does not claim into
/// `data_dir/`[`ORPHANED_DIR`] (as `{topic}-{partition}`, or `{topic}-{partition}.{n}` if that
/// name is taken), with a WARN line naming it. Run it before opening an engine, with a filter
/// that claims what the embedder's catalog names (and what other engines own): an orphan is then
/// never opened, and nothing is deleted. Blocking (directory operations only). Returns where
/// each directory went.
pub fn set_aside_unclaimed(
    data_dir: &Path,
    claimed: impl Fn(&str, i32) -> bool,
) -> Result<Vec<PathBuf>> {
    let mut moved = Vec::new();
    for (topic, p, path) in scan_partition_dirs(data_dir)? {
        if claimed(&topic, p) {
            continue;
        }
        let aside = data_dir.join(ORPHANED_DIR);
        std::fs::create_dir_all(&aside).map_err(|e| Error::io("mkdir", &aside, e))?;
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut target = None;
        for n in 0..SET_ASIDE_NAMES_MAX {
            let candidate = if n == 0 {
                aside.join(&base)
            } else {
                aside.join(format!("{base}.{n}"))
            };
            if !candidate.exists() {
                target = Some(candidate);
                break;
            }
        }
        let Some(target) = target else {
            return Err(Error::InvalidArgument {
                what: format!(
                    "{}: {SET_ASIDE_NAMES_MAX} earlier copies of {base} already set aside; \
                     clean it up",
                    aside.display()
                ),
            });
        };
        std::fs::rename(&path, &target).map_err(|e| Error::io("rename", &path, e))?;
        tracing::warn!(
            "partition directory {} is not in the catalog (left by an interrupted topic \
             creation?): moved aside to {}, not opened",
            path.display(),
            target.display()
        );
        moved.push(target);
    }
    if !moved.is_empty() {
        for dir in [&data_dir.join(ORPHANED_DIR), data_dir] {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io("fsync dir", dir, e))?;
        }
    }
    Ok(moved)
}
