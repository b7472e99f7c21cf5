//! The committed-offsets files of ringlog versions before the internal state logs. At startup
//! [`super::prepare`] reads them once ([`read`]), writes their offsets into the state log, and
//! then removes them ([`remove`]). Nothing writes this format any more; the encoder in
//! [`testing`] exists only so tests can build old data directories.
//!
//! ```text
//! {data_dir}/__groups/
//!   shard-{N}.log     framed records, below
//!   shards            the shard count the logs were routed for (decimal text)
//!   *.tmp *.compact   leftovers of an interrupted rewrite
//!
//! frame:   +--------------+----------------+------------------------------+
//!          | len u32 BE   | crc32c u32 BE  | body (len bytes)             |
//!          +--------------+----------------+------------------------------+
//!          crc32c covers the body; 0 < len <= FRAME_BYTES_MAX
//! body:    kind u8, then
//!   1 COMMIT         group str | count u32 | count x entry
//!                    entry: topic str | partition i32 | offset i64 | leader_epoch i32
//!                           | commit_timestamp_ms i64 | metadata nstr
//!   2 GROUP_DELETED  group str
//!   3 TOPIC_DELETED  topic str
//! str:  len u16 BE + UTF-8 bytes;   nstr: len i16 BE (-1 = null) + UTF-8 bytes
//! ```
//!
//! # Invariants
//! - Read only: this module never writes an offsets file (outside [`testing`]).
//! - Records are applied in file order, files in shard order; a torn or corrupt tail is ignored
//!   from its first bad frame on, as the old reader did at startup.
//! - The files are removed only after [`super::prepare`] made their offsets durable in the state
//!   log; a crash before or during the removal re-runs the migration, which writes the same
//!   offsets again.

use std::io;
use std::path::{Path, PathBuf};

use super::{OffsetsByGroup, StoredOffset};
use crate::storage::codec::BeReader;
use crate::storage::fsutil::{context, fsync_dir};

/// The old directory under the data dir.
pub const DIR_NAME: &str = "__groups";
/// Largest frame body the old writer produced; anything larger is corruption.
pub const FRAME_BYTES_MAX: usize = 64 << 20;
/// Frame header: len + crc.
pub const FRAME_HEADER_BYTES: usize = 8;
/// Smallest encoded COMMIT entry: topic length (2), partition (4), offset (8), leader epoch (4),
/// timestamp (8), metadata length (2). Bounds the entry count before allocating.
const COMMIT_ENTRY_BYTES_MIN: usize = 28;

const KIND_COMMIT: u8 = 1;
const KIND_GROUP_DELETED: u8 = 2;
const KIND_TOPIC_DELETED: u8 = 3;

/// One decoded record of the old format.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Record {
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

impl Record {
    fn decode_body(body: &[u8]) -> Option<Record> {
        let mut r = BeReader::new(body);
        let rec = match r.u8()? {
            KIND_COMMIT => {
                let group = r.str16()?;
                let n = r.u32()? as usize;
                if n > r.rest.len() / COMMIT_ENTRY_BYTES_MIN {
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

    /// Apply to an offsets map, by the old coordinator's rules.
    fn apply_to(self, map: &mut OffsetsByGroup) {
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

/// Decodes frames from the start of `bytes`; returns the records and the length of the valid
/// prefix (everything after it is a torn or corrupt tail).
fn decode_frames(bytes: &[u8]) -> (Vec<Record>, usize) {
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

/// An old offsets directory, read.
#[derive(Debug)]
pub struct Legacy {
    /// `{data_dir}/__groups`.
    pub dir: PathBuf,
    /// The live offsets its logs held.
    pub offsets: OffsetsByGroup,
}

/// `shard-{N}.log` -> N.
fn shard_of(name: &str) -> Option<usize> {
    name.strip_prefix("shard-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// Files of the old layout (removed with the directory).
fn is_old_file(name: &str) -> bool {
    shard_of(name).is_some()
        || name == "shards"
        || name.ends_with(".tmp")
        || name.ends_with(".compact")
}

/// Reads the old offsets directory, if there is one.
pub fn read(data_dir: &Path) -> io::Result<Option<Legacy>> {
    let dir = data_dir.join(DIR_NAME);
    let entries = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(context("readdir", &dir)(e)),
    };
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(context("readdir", &dir))?;
        if let Some(n) = entry.file_name().to_str().and_then(shard_of) {
            logs.push((n, entry.path()));
        }
    }
    logs.sort();
    let mut offsets = OffsetsByGroup::new();
    for (_, path) in &logs {
        let bytes = std::fs::read(path).map_err(context("read", path))?;
        let (records, valid) = decode_frames(&bytes);
        if valid < bytes.len() {
            tracing::warn!(
                "{}: ignoring {} byte(s) of torn or corrupt tail after {} good record(s)",
                path.display(),
                bytes.len() - valid,
                records.len()
            );
        }
        for r in records {
            r.apply_to(&mut offsets);
        }
    }
    Ok(Some(Legacy { dir, offsets }))
}

/// Removes the old offsets directory (its files of the old layout, then the directory when
/// nothing else is in it). Call only once its offsets are durable elsewhere.
pub fn remove(old: &Legacy) -> io::Result<()> {
    let dir = &old.dir;
    let mut others = 0;
    for entry in std::fs::read_dir(dir).map_err(context("readdir", dir))? {
        let entry = entry.map_err(context("readdir", dir))?;
        if entry.file_name().to_str().is_some_and(is_old_file) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(context("remove", &path))?;
        } else {
            others += 1;
        }
    }
    fsync_dir(dir)?;
    if others > 0 {
        tracing::warn!(
            "{}: {others} unknown file(s) left; the directory is kept",
            dir.display()
        );
        return Ok(());
    }
    std::fs::remove_dir(dir).map_err(context("rmdir", dir))?;
    fsync_dir(dir.parent().expect("inside the data directory"))
}

/// The old encoder, for tests that build a data directory of an older ringlog.
#[doc(hidden)]
pub mod testing {
    use super::*;

    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    fn frame(body: Vec<u8>) -> Vec<u8> {
        let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        frame.extend_from_slice(&body);
        frame
    }

    /// A COMMIT frame.
    pub fn commit_frame(group: &str, entries: &[(&str, i32, StoredOffset)]) -> Vec<u8> {
        let mut body = vec![KIND_COMMIT];
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
                    body.extend_from_slice(&(m.len() as i16).to_be_bytes());
                    body.extend_from_slice(m.as_bytes());
                }
            }
        }
        frame(body)
    }

    /// A GROUP_DELETED frame.
    pub fn group_deleted_frame(group: &str) -> Vec<u8> {
        let mut body = vec![KIND_GROUP_DELETED];
        put_str(&mut body, group);
        frame(body)
    }

    /// A TOPIC_DELETED frame.
    pub fn topic_deleted_frame(topic: &str) -> Vec<u8> {
        let mut body = vec![KIND_TOPIC_DELETED];
        put_str(&mut body, topic);
        frame(body)
    }

    /// `{data_dir}/__groups/shard-{shard}.log`.
    pub fn log_path(data_dir: &Path, shard: usize) -> PathBuf {
        data_dir.join(DIR_NAME).join(format!("shard-{shard}.log"))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::group::offsets_log::{prepare, OffsetsLog};
    use crate::runtime::{IoKind, RuntimeConfig};
    use crate::storage::state_log;

    fn offset(offset: i64, metadata: Option<&str>) -> StoredOffset {
        StoredOffset {
            offset,
            leader_epoch: 3,
            commit_timestamp_ms: 1_700_000_000_000 + offset,
            metadata: metadata.map(str::to_string),
        }
    }

    #[test]
    fn frames_decode_and_torn_tails_are_cut_at_every_byte() {
        let frames = [
            commit_frame("g", &[("t", 0, offset(5, Some("m")))]),
            topic_deleted_frame("x"),
            commit_frame("g2", &[("t", 1, offset(9, None))]),
            group_deleted_frame("g2"),
        ];
        let bytes: Vec<u8> = frames.concat();
        let (all, valid) = decode_frames(&bytes);
        assert_eq!((all.len(), valid), (4, bytes.len()));
        for cut in 0..bytes.len() {
            let (got, valid) = decode_frames(&bytes[..cut]);
            assert!(valid <= cut);
            assert_eq!(&got[..], &all[..got.len()]);
            assert_eq!(cut >= frames[0].len(), !got.is_empty());
        }
        let mut bad = bytes.clone();
        bad[frames[0].len() + 9] ^= 1;
        assert_eq!(decode_frames(&bad).0, all[..1].to_vec());
    }

    /// The data directory of an older ringlog that ran with 2 shards: offsets in both logs, a
    /// deleted group, a deleted topic and a torn tail.
    fn old_data_dir(dir: &Path) -> OffsetsByGroup {
        std::fs::create_dir_all(dir.join(DIR_NAME)).unwrap();
        let shard0 = [
            commit_frame(
                "orders",
                &[
                    ("t", 0, offset(10, Some("meta"))),
                    ("t", 1, offset(11, None)),
                ],
            ),
            commit_frame("gone", &[("t", 0, offset(1, None))]),
            group_deleted_frame("gone"),
            commit_frame("orders", &[("t", 0, offset(12, Some("")))]),
            // A torn tail: the old writer crashed mid-frame.
            commit_frame("orders", &[("t", 0, offset(99, None))])[..20].to_vec(),
        ]
        .concat();
        let shard1 = [
            commit_frame(
                "billing",
                &[("u", 0, offset(7, None)), ("dead", 0, offset(1, None))],
            ),
            topic_deleted_frame("dead"),
        ]
        .concat();
        std::fs::write(log_path(dir, 0), shard0).unwrap();
        std::fs::write(log_path(dir, 1), shard1).unwrap();
        std::fs::write(dir.join(DIR_NAME).join("shards"), "2\n").unwrap();
        std::fs::write(dir.join(DIR_NAME).join("shard-1.tmp"), "x").unwrap();
        let mut want = OffsetsByGroup::new();
        let orders = want.entry("orders".into()).or_default();
        orders.insert(("t".into(), 0), offset(12, Some("")));
        orders.insert(("t".into(), 1), offset(11, None));
        want.entry("billing".into())
            .or_default()
            .insert(("u".into(), 0), offset(7, None));
        want
    }

    /// Every shard's offsets (the open checks each group is on its coordinator shard).
    fn served(dir: &Path, shards: usize) -> OffsetsByGroup {
        let config = RuntimeConfig {
            cores: 1,
            pin: false,
            ..RuntimeConfig::default()
        };
        crate::runtime::block_on(&config, async {
            let mut all = OffsetsByGroup::new();
            for shard in 0..shards {
                let (_log, offsets, _) = OffsetsLog::open(dir, shard, shards).await.unwrap();
                for (group, o) in offsets {
                    assert!(all.insert(group, o).is_none());
                }
            }
            all
        })
        .unwrap()
    }

    #[test]
    fn an_old_offsets_directory_is_migrated_once_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let want = old_data_dir(dir.path());
        prepare(dir.path(), 3, IoKind::Uring).unwrap();
        assert!(
            !dir.path().join(DIR_NAME).exists(),
            "the old directory is gone"
        );
        assert_eq!(served(dir.path(), 3), want);
        // Opening with another shard count than `prepare` laid out finds misrouted groups.
        let misrouted = want.keys().any(|g| {
            crate::routing::group_coordinator(g, 3) != crate::routing::group_coordinator(g, 5)
        });
        let config = RuntimeConfig {
            cores: 1,
            pin: false,
            ..RuntimeConfig::default()
        };
        let refused = crate::runtime::block_on(&config, async {
            let mut refused = false;
            for shard in 0..3 {
                refused |= OffsetsLog::open(dir.path(), shard, 5).await.is_err();
            }
            refused
        })
        .unwrap();
        assert_eq!(refused, misrouted);
        // A restart (same or other shard count) keeps them.
        prepare(dir.path(), 3, IoKind::Uring).unwrap();
        assert_eq!(served(dir.path(), 3), want);
        prepare(dir.path(), 1, IoKind::Uring).unwrap();
        assert_eq!(served(dir.path(), 1), want);
    }

    #[test]
    fn a_crash_mid_migration_re_runs_it_without_losing_or_doubling_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let want = old_data_dir(dir.path());
        // Crash after the new logs were swapped in, before the old files were removed: the
        // migration runs again over the same files.
        let old = read(dir.path()).unwrap().unwrap();
        prepare(dir.path(), 2, IoKind::Uring).unwrap();
        std::fs::create_dir_all(&old.dir).unwrap();
        std::fs::write(
            log_path(dir.path(), 0),
            commit_frame("orders", &[("t", 0, offset(12, Some("")))]),
        )
        .unwrap();
        prepare(dir.path(), 2, IoKind::Uring).unwrap();
        assert!(!old.dir.exists());
        assert_eq!(served(dir.path(), 2), want);
        // Crash before the swap: a half-built family is discarded and the old files are still
        // there, so the next start migrates from scratch.
        let dir = tempfile::tempdir().unwrap();
        let want = old_data_dir(dir.path());
        let staged = state_log::state_root(dir.path()).join("consumer_offsets.new");
        std::fs::create_dir_all(staged.join("shard-0")).unwrap();
        std::fs::write(staged.join("shard-0").join("garbage"), "x").unwrap();
        prepare(dir.path(), 2, IoKind::Uring).unwrap();
        assert!(!staged.exists());
        assert_eq!(served(dir.path(), 2), want);
    }
}
