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
//! [`Engine::refresh`].
//!
//! Directory operations (mkdir, readdir, rename, unlink) use `std::fs` directly: the runtime's file
//! API covers data I/O only; these calls are rare and off the append/read path (except roll).
//!
//! # Invariants
//! - A partition is open in at most one engine of a process when the `owns` filters partition
//!   the key space (the broker's routing function guarantees it).
//! - Every path is built from a validated topic name and a partition `>= 0`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::error::{Error, Result};
use super::log::{now_ms, Log, LogConfig, ReadResult};
use super::names::{
    parse_partition_dir, partition_dir, validate_topic, DELETING_SUFFIX, PARTITIONS_PER_TOPIC_MAX,
};
use super::rt::fs::sync_dir;

/// Decides whether this engine owns partition `(topic, partition)`.
pub type OwnsFn = Arc<dyn Fn(&str, i32) -> bool + Send + Sync>;

/// Engine configuration.
#[derive(Clone, Default)]
pub struct EngineConfig {
    /// Configuration applied to every partition log.
    pub log: LogConfig,
    /// Ownership filter; `None` owns every partition.
    pub owns: Option<OwnsFn>,
    /// Open damaged sealed segments by truncating the log at the damage instead of failing.
    pub repair: bool,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("log", &self.log)
            .field("owns", &self.owns.as_ref().map(|_| "<filter>"))
            .field("repair", &self.repair)
            .finish()
    }
}

/// The storage engine of one shard. Single-threaded (`!Send`).
pub struct Engine {
    dir: PathBuf,
    config: EngineConfig,
    logs: RefCell<BTreeMap<(String, i32), Rc<Log>>>,
}

impl Engine {
    /// Opens the data directory (creating it), recovering every owned partition found there.
    pub async fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        config.log.validate()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("mkdir", &dir, e))?;
        let engine = Engine {
            dir,
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

    fn owns(&self, topic: &str, partition: i32) -> bool {
        self.config
            .owns
            .as_ref()
            .is_none_or(|f| f(topic, partition))
    }

    /// Partition directories on disk: (topic, partition) -> path.
    fn scan_dir(&self) -> Result<Vec<(String, i32, PathBuf)>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.dir).map_err(|e| Error::io("readdir", &self.dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("readdir", &self.dir, e))?;
            let is_dir = entry
                .file_type()
                .map_err(|e| Error::io("stat", entry.path(), e))?
                .is_dir();
            if let (true, Some((t, p))) = (
                is_dir,
                entry.file_name().to_str().and_then(parse_partition_dir),
            ) {
                out.push((t, p, entry.path()));
            }
        }
        Ok(out)
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

    /// Opens owned partitions present on disk but not yet open (e.g. created by another shard).
    /// Returns how many were opened.
    pub async fn refresh(&self) -> Result<usize> {
        let mut opened = 0;
        for (topic, p, path) in self.scan_dir()? {
            if !self.owns(&topic, p) || self.logs.borrow().contains_key(&(topic.clone(), p)) {
                continue;
            }
            let log = Log::open(
                &path,
                &topic,
                p,
                self.config.log.clone(),
                self.config.repair,
            )
            .await?;
            self.logs.borrow_mut().insert((topic, p), Rc::new(log));
            opened += 1;
        }
        Ok(opened)
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

    /// Partitions open in this engine.
    pub fn partitions(&self) -> Vec<(String, i32)> {
        self.logs.borrow().keys().cloned().collect()
    }

    /// Creates a topic: every partition directory, then opens the owned ones.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
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
        for p in 0..partitions {
            let path = partition_dir(&self.dir, name, p)?;
            std::fs::create_dir(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::TopicAlreadyExists {
                    topic: name.to_string(),
                },
                _ => Error::io("mkdir", &path, e),
            })?;
        }
        sync_dir(&self.dir)
            .await
            .map_err(|e| Error::io("fsync dir", &self.dir, e))?;
        for p in 0..partitions {
            if self.owns(name, p) {
                let path = partition_dir(&self.dir, name, p)?;
                let log =
                    Log::open(&path, name, p, self.config.log.clone(), self.config.repair).await?;
                self.logs
                    .borrow_mut()
                    .insert((name.to_string(), p), Rc::new(log));
            }
        }
        Ok(())
    }

    /// Deletes the owned partitions of a topic (directories and open logs; handles still held
    /// elsewhere fail with `Deleted`). Returns how many partitions were deleted.
    pub async fn delete_topic(&self, name: &str) -> Result<usize> {
        validate_topic(name)?;
        let on_disk: Vec<(i32, PathBuf)> = self
            .scan_dir()?
            .into_iter()
            .filter(|(t, _, _)| t == name)
            .map(|(_, p, path)| (p, path))
            .collect();
        if on_disk.is_empty() {
            return Err(Error::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            });
        }
        let mut deleted = 0;
        for (p, path) in on_disk {
            if !self.owns(name, p) {
                continue;
            }
            if let Some(log) = self.logs.borrow_mut().remove(&(name.to_string(), p)) {
                log.mark_deleted();
            }
            // Rename first so a crash mid-removal leaves no half-deleted partition behind.
            let mut doomed = path.clone().into_os_string();
            doomed.push(DELETING_SUFFIX);
            std::fs::rename(&path, &doomed).map_err(|e| Error::io("rename", &path, e))?;
            sync_dir(&self.dir)
                .await
                .map_err(|e| Error::io("fsync dir", &self.dir, e))?;
            std::fs::remove_dir_all(&doomed)
                .map_err(|e| Error::io("rmdir", PathBuf::from(&doomed), e))?;
            deleted += 1;
        }
        sync_dir(&self.dir)
            .await
            .map_err(|e| Error::io("fsync dir", &self.dir, e))?;
        Ok(deleted)
    }

    /// The open log of an owned partition.
    pub fn log(&self, topic: &str, partition: i32) -> Result<Rc<Log>> {
        validate_topic(topic)?;
        self.logs
            .borrow()
            .get(&(topic.to_string(), partition))
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
