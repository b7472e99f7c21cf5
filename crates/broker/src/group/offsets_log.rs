//! The committed-offsets log of one coordinator shard: `{data_dir}/__groups/shard-{N}.log`.
//!
//! An append-only file of framed records. A commit is acknowledged only after its frame was
//! written and `fdatasync`ed; concurrent commits share one write and one fdatasync (group commit,
//! strictly in queue order, so a later frame is never durable while an earlier one is not).
//! At startup the file is replayed; a torn or corrupt tail (a crash mid-write) is cut off at the
//! first bad frame. When the file has grown well past the live state it is rewritten as a
//! snapshot (`.compact` written, fdatasynced, renamed over, directory fsynced).
//!
//! ```text
//! frame:   +--------------+----------------+------------------------------+
//!          | len u32 BE   | crc32c u32 BE  | body (len bytes)             |
//!          +--------------+----------------+------------------------------+
//!          crc32c covers the body; len <= FRAME_BYTES_MAX
//! body:    kind u8, then
//!   1 COMMIT         group str | count u32 | count x entry
//!                    entry: topic str | partition i32 | offset i64 | leader_epoch i32
//!                           | commit_timestamp_ms i64 | metadata nstr
//!   2 GROUP_DELETED  group str
//!   3 TOPIC_DELETED  topic str
//! str:  len u16 BE + UTF-8 bytes;   nstr: len i16 BE (-1 = null) + UTF-8 bytes
//! ```
//! All integers are big-endian, fixed width.
//!
//! # Invariants
//! - A frame is applied to memory (its `apply` callback runs) only after it is durable, and
//!   callbacks run in file order.
//! - After a failed write or fdatasync the log refuses every later append until the broker
//!   restarts (an fsync is never retried: the page cache state is unknown).
//! - Replay applies exactly the frames that pass length and CRC checks, in order, and truncates
//!   the file after the last good one.

// Record fields are documented in the byte diagram above.
#![allow(missing_docs)]

use crate::storage::codec::BeReader;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use crate::runtime::fs::File;
use crate::runtime::mesh::{self, OneshotSender};
use crate::runtime::sync::Notify;

/// Largest frame body accepted on replay (a commit of many partitions with metadata fits
/// easily; anything larger is corruption).
pub const FRAME_BYTES_MAX: usize = 64 << 20;
/// Frame header: len + crc.
pub const FRAME_HEADER_BYTES: usize = 8;
/// Do not compact below this file size (compaction costs a full rewrite).
pub const COMPACT_BYTES_MIN: u64 = 16 << 20;
/// Compact when the file is this many times larger than the live snapshot.
pub const COMPACT_RATIO: u64 = 4;
/// The directory under the data dir.
pub const DIR_NAME: &str = "__groups";

const KIND_COMMIT: u8 = 1;
const KIND_GROUP_DELETED: u8 = 2;
const KIND_TOPIC_DELETED: u8 = 3;

/// One committed offset as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub commit_timestamp_ms: i64,
    pub metadata: Option<String>,
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Commit {
        group: String,
        entries: Vec<(String, i32, StoredOffset)>,
    },
    GroupDeleted {
        group: String,
    },
    TopicDeleted {
        topic: String,
    },
}

/// Offsets by group, then (topic, partition): what replay produces and snapshots hold.
pub type OffsetsByGroup = HashMap<String, BTreeMap<(String, i32), StoredOffset>>;

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Group ids and topic names are bounded well below u16::MAX by the callers.
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

impl Record {
    /// The whole frame (header + body).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(64);
        match self {
            Record::Commit { group, entries } => {
                body.push(KIND_COMMIT);
                put_str(&mut body, group);
                body.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                for (topic, partition, o) in entries {
                    put_str(&mut body, topic);
                    body.extend_from_slice(&partition.to_be_bytes());
                    body.extend_from_slice(&o.offset.to_be_bytes());
                    body.extend_from_slice(&o.leader_epoch.to_be_bytes());
                    body.extend_from_slice(&o.commit_timestamp_ms.to_be_bytes());
                    match &o.metadata {
                        None => body.extend_from_slice(&(-1i16).to_be_bytes()),
                        Some(m) => {
                            let b = &m.as_bytes()[..m.len().min(i16::MAX as usize)];
                            body.extend_from_slice(&(b.len() as i16).to_be_bytes());
                            body.extend_from_slice(b);
                        }
                    }
                }
            }
            Record::GroupDeleted { group } => {
                body.push(KIND_GROUP_DELETED);
                put_str(&mut body, group);
            }
            Record::TopicDeleted { topic } => {
                body.push(KIND_TOPIC_DELETED);
                put_str(&mut body, topic);
            }
        }
        let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        frame.extend_from_slice(&body);
        frame
    }

    fn decode_body(body: &[u8]) -> Option<Record> {
        let mut r = BeReader::new(body);
        let rec = match r.u8()? {
            KIND_COMMIT => {
                let group = r.str16()?;
                let n = r.u32()? as usize;
                // Each entry is at least 2 + 4 + 8 + 4 + 8 + 2 bytes: bound before allocating.
                if n > r.rest.len() / 28 {
                    return None;
                }
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let topic = r.str16()?;
                    let partition = r.i32()?;
                    let offset = r.i64()?;
                    let leader_epoch = r.i32()?;
                    let commit_timestamp_ms = r.i64()?;
                    let len = r.i16()?;
                    let metadata = if len < 0 {
                        None
                    } else {
                        Some(String::from_utf8(r.take(len as usize)?.to_vec()).ok()?)
                    };
                    entries.push((
                        topic,
                        partition,
                        StoredOffset {
                            offset,
                            leader_epoch,
                            commit_timestamp_ms,
                            metadata,
                        },
                    ));
                }
                Record::Commit { group, entries }
            }
            KIND_GROUP_DELETED => Record::GroupDeleted { group: r.str16()? },
            KIND_TOPIC_DELETED => Record::TopicDeleted { topic: r.str16()? },
            _ => return None,
        };
        r.rest.is_empty().then_some(rec)
    }

    /// Apply to an offsets map (replay and tests use the same rules as the live coordinator).
    pub fn apply_to(self, map: &mut OffsetsByGroup) {
        match self {
            Record::Commit { group, entries } => {
                let g = map.entry(group).or_default();
                for (t, p, o) in entries {
                    g.insert((t, p), o);
                }
            }
            Record::GroupDeleted { group } => {
                map.remove(&group);
            }
            Record::TopicDeleted { topic } => {
                for g in map.values_mut() {
                    g.retain(|(t, _), _| *t != topic);
                }
                map.retain(|_, g| !g.is_empty());
            }
        }
    }
}

/// Decode frames from the start of `bytes`; returns the records and the length of the valid
/// prefix (everything after it is a torn or corrupt tail).
pub fn decode_frames(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while bytes.len() - pos >= FRAME_HEADER_BYTES {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
        if len == 0 || len > FRAME_BYTES_MAX || bytes.len() - pos - FRAME_HEADER_BYTES < len {
            break;
        }
        let body = &bytes[pos + FRAME_HEADER_BYTES..pos + FRAME_HEADER_BYTES + len];
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Some(rec) = Record::decode_body(body) else {
            break;
        };
        out.push(rec);
        pos += FRAME_HEADER_BYTES + len;
    }
    (out, pos)
}

/// The snapshot of an offsets map: one COMMIT frame per group.
pub fn snapshot_frames(map: &OffsetsByGroup) -> Vec<u8> {
    let mut out = Vec::new();
    for (group, offsets) in map {
        if offsets.is_empty() {
            continue;
        }
        let entries = offsets
            .iter()
            .map(|((t, p), o)| (t.clone(), *p, o.clone()))
            .collect();
        out.extend(
            Record::Commit {
                group: group.clone(),
                entries,
            }
            .encode(),
        );
    }
    out
}

/// Path of shard `shard`'s log.
pub fn log_path(data_dir: &Path, shard: usize) -> PathBuf {
    data_dir.join(DIR_NAME).join(format!("shard-{shard}.log"))
}

/// Before the shards start (blocking, once): make sure every group's offsets are in the log of
/// the shard that coordinates it under the current shard count. If the broker last ran with a
/// different `--cores`, every log is read, re-routed by [`super::super::routing::group_coordinator`]
/// and rewritten. Torn tails are dropped here too.
pub fn prepare_dir(data_dir: &Path, shards: usize) -> io::Result<()> {
    let dir = data_dir.join(DIR_NAME);
    std::fs::create_dir_all(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("mkdir {}: {e}", dir.display())))?;
    let layout = dir.join("shards");
    let recorded = std::fs::read_to_string(&layout)
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix("shard-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        logs.push((n, entry.path()));
    }
    if recorded == Some(shards) || logs.is_empty() {
        if recorded != Some(shards) {
            write_durably(&layout, format!("{shards}\n").as_bytes())?;
        }
        return Ok(());
    }
    tracing::info!(
        "re-routing committed offsets from {} log(s) to {shards} shard(s)",
        logs.len()
    );
    let mut map = OffsetsByGroup::new();
    logs.sort();
    for (_, path) in &logs {
        let bytes = std::fs::read(path)?;
        for rec in decode_frames(&bytes).0 {
            rec.apply_to(&mut map);
        }
    }
    let mut per_shard: Vec<OffsetsByGroup> = (0..shards).map(|_| OffsetsByGroup::new()).collect();
    for (group, offsets) in map {
        per_shard[super::super::routing::group_coordinator(&group, shards)].insert(group, offsets);
    }
    for (n, m) in per_shard.iter().enumerate() {
        write_durably(&log_path(data_dir, n), &snapshot_frames(m))?;
    }
    for (n, path) in &logs {
        if *n >= shards {
            std::fs::remove_file(path)?;
        }
    }
    write_durably(&layout, format!("{shards}\n").as_bytes())?;
    std::fs::File::open(&dir)?.sync_all()
}

fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(path.parent().expect("inside __groups"))?.sync_all()
}

/// What runs after an appended frame is durable (in file order).
pub type Apply = Box<dyn FnOnce()>;
/// Builds the live snapshot for compaction.
pub type Snapshot = Box<dyn Fn() -> Vec<u8>>;

struct Pending {
    frame: Vec<u8>,
    apply: Apply,
    done: OneshotSender<Result<(), String>>,
}

/// One shard's offsets log (`!Send`: lives on its shard).
pub struct OffsetsLog {
    path: PathBuf,
    file: RefCell<File>,
    len: Cell<u64>,
    queue: RefCell<Vec<Pending>>,
    writing: Cell<bool>,
    failed: RefCell<Option<String>>,
    snapshot: RefCell<Option<Snapshot>>,
    idle: Notify,
}

impl OffsetsLog {
    /// Open (creating) shard `shard`'s log and replay it: returns the log and the offsets.
    pub fn open(data_dir: &Path, shard: usize) -> io::Result<(OffsetsLog, OffsetsByGroup)> {
        let path = log_path(data_dir, shard);
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(ctx)?;
        let bytes = std::fs::read(&path).map_err(ctx)?;
        let (records, valid) = decode_frames(&bytes);
        if valid < bytes.len() {
            tracing::warn!(
                "{}: dropping {} byte(s) of torn or corrupt tail after {} good record(s)",
                path.display(),
                bytes.len() - valid,
                records.len()
            );
            file.set_len(valid as u64).map_err(ctx)?;
            file.sync_all().map_err(ctx)?;
        }
        let mut map = OffsetsByGroup::new();
        for r in records {
            r.apply_to(&mut map);
        }
        Ok((
            OffsetsLog {
                path,
                file: RefCell::new(File::from_std(file)),
                len: Cell::new(valid as u64),
                queue: RefCell::new(Vec::new()),
                writing: Cell::new(false),
                failed: RefCell::new(None),
                snapshot: RefCell::new(None),
                idle: Notify::new(),
            },
            map,
        ))
    }

    /// Install the snapshot builder compaction uses.
    pub fn set_snapshot(&self, f: Snapshot) {
        *self.snapshot.borrow_mut() = Some(f);
    }

    /// Current file size.
    pub fn len(&self) -> u64 {
        self.len.get()
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// Append a record; returns once it is durable and `apply` has run (or with the error).
    pub async fn append(&self, record: &Record, apply: Apply) -> Result<(), String> {
        if let Some(e) = self.failed.borrow().as_ref() {
            return Err(e.clone());
        }
        let (tx, rx) = mesh::oneshot();
        self.queue.borrow_mut().push(Pending {
            frame: record.encode(),
            apply,
            done: tx,
        });
        if !self.writing.get() {
            self.writing.set(true);
            self.drain().await;
            self.writing.set(false);
            self.idle.notify_waiters();
        }
        rx.recv()
            .await
            .unwrap_or_else(|| Err("offsets log writer went away".into()))
    }

    async fn drain(&self) {
        loop {
            let batch = std::mem::take(&mut *self.queue.borrow_mut());
            if batch.is_empty() {
                return;
            }
            if let Some(e) = self.failed.borrow().clone() {
                for p in batch {
                    p.done.send(Err(e.clone()));
                }
                continue;
            }
            let bytes: Vec<u8> = batch.iter().flat_map(|p| p.frame.iter().copied()).collect();
            let n = bytes.len() as u64;
            let file = self.file.borrow().clone();
            let (res, _) = file.write_all_at(bytes, self.len.get()).await;
            let res = match res {
                Ok(()) => file.fdatasync().await,
                Err(e) => Err(e),
            };
            match res {
                Ok(()) => {
                    self.len.set(self.len.get() + n);
                    for p in batch {
                        (p.apply)();
                        p.done.send(Ok(()));
                    }
                    self.maybe_compact().await;
                }
                Err(e) => {
                    let msg = format!("{}: write or fdatasync failed: {e}", self.path.display());
                    tracing::error!("{msg}; refusing offset commits until restart");
                    *self.failed.borrow_mut() = Some(msg.clone());
                    for p in batch {
                        p.done.send(Err(msg.clone()));
                    }
                }
            }
        }
    }

    /// Called by the writer between batches: rewrite the file as a snapshot when it has grown
    /// [`COMPACT_RATIO`] times past the live state (and past [`COMPACT_BYTES_MIN`]).
    async fn maybe_compact(&self) {
        if self.len.get() < COMPACT_BYTES_MIN {
            return;
        }
        let snapshot = match self.snapshot.borrow().as_ref() {
            Some(f) => f(),
            None => return,
        };
        if (snapshot.len() as u64).saturating_mul(COMPACT_RATIO) > self.len.get() {
            return;
        }
        let tmp = self.path.with_extension("compact");
        let res: io::Result<File> = async {
            let f = File::from_std(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&tmp)?,
            );
            let n = snapshot.len() as u64;
            let (r, _) = f.write_all_at(snapshot, 0).await;
            r?;
            f.fdatasync().await?;
            std::fs::rename(&tmp, &self.path)?;
            crate::runtime::fs::sync_dir(self.path.parent().expect("inside __groups")).await?;
            self.len.set(n);
            Ok(f)
        }
        .await;
        match res {
            Ok(f) => {
                tracing::info!(
                    "{}: compacted to {} bytes",
                    self.path.display(),
                    self.len.get()
                );
                *self.file.borrow_mut() = f;
            }
            // The old file is intact and still current: keep appending to it.
            Err(e) => tracing::warn!("{}: compaction failed: {e}", self.path.display()),
        }
    }

    /// Wait until no write is in progress (tests, shutdown).
    pub async fn quiesce(&self) {
        while self.writing.get() {
            self.idle.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(group: &str, topic: &str, p: i32, offset: i64) -> Record {
        Record::Commit {
            group: group.into(),
            entries: vec![(
                topic.into(),
                p,
                StoredOffset {
                    offset,
                    leader_epoch: -1,
                    commit_timestamp_ms: 7,
                    metadata: Some("m".into()),
                },
            )],
        }
    }

    #[test]
    fn frames_round_trip_and_torn_tails_are_cut_at_every_byte() {
        let records = vec![
            commit("g", "t", 0, 5),
            Record::TopicDeleted { topic: "x".into() },
            commit("g2", "t", 1, 9),
            Record::GroupDeleted { group: "g2".into() },
        ];
        let bytes: Vec<u8> = records.iter().flat_map(|r| r.encode()).collect();
        assert_eq!(decode_frames(&bytes), (records.clone(), bytes.len()));
        let first = records[0].encode().len();
        for cut in 0..bytes.len() {
            let (got, valid) = decode_frames(&bytes[..cut]);
            assert!(valid <= cut);
            assert_eq!(&got[..], &records[..got.len()]);
            if cut >= first {
                assert!(!got.is_empty());
            }
        }
        let mut bad = bytes.clone();
        bad[first + 9] ^= 1;
        assert_eq!(decode_frames(&bad).0, records[..1].to_vec());
    }

    #[test]
    fn apply_follows_deletions() {
        let mut m = OffsetsByGroup::new();
        commit("g", "t", 0, 5).apply_to(&mut m);
        commit("g", "u", 0, 6).apply_to(&mut m);
        commit("h", "t", 0, 1).apply_to(&mut m);
        Record::TopicDeleted { topic: "t".into() }.apply_to(&mut m);
        assert_eq!(m.len(), 1);
        assert_eq!(m["g"].len(), 1);
        Record::GroupDeleted { group: "g".into() }.apply_to(&mut m);
        assert!(m.is_empty());
        let snap = snapshot_frames(&m);
        assert!(snap.is_empty());
    }

    #[test]
    fn prepare_dir_reroutes_when_the_shard_count_changes() {
        let dir = tempfile::tempdir().unwrap();
        prepare_dir(dir.path(), 3).unwrap();
        let groups: Vec<String> = (0..20).map(|i| format!("group-{i}")).collect();
        for (i, g) in groups.iter().enumerate() {
            let shard = super::super::super::routing::group_coordinator(g, 3);
            let path = log_path(dir.path(), shard);
            let mut old = std::fs::read(&path).unwrap_or_default();
            old.extend(commit(g, "t", 0, i as i64).encode());
            std::fs::write(&path, old).unwrap();
        }
        prepare_dir(dir.path(), 2).unwrap();
        assert!(!log_path(dir.path(), 2).exists());
        for (i, g) in groups.iter().enumerate() {
            let shard = super::super::super::routing::group_coordinator(g, 2);
            let bytes = std::fs::read(log_path(dir.path(), shard)).unwrap();
            let mut m = OffsetsByGroup::new();
            for r in decode_frames(&bytes).0 {
                r.apply_to(&mut m);
            }
            assert_eq!(m[g][&("t".to_string(), 0)].offset, i as i64);
        }
    }
}
