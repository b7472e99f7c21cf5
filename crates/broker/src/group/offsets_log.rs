//! Committed offsets of one coordinator shard, kept in the shard's internal state log
//! ([`crate::storage::state_log`]): one record per (group, topic, partition), whose value is the
//! committed offset. Deleting a group or a topic writes a tombstone for each of its keys. This
//! module is only the typed layer: the byte layout of keys and values, and the calls the
//! coordinator makes; durability, group commit, replay and compaction are the state log's.
//!
//! ```text
//! {data_dir}/__ringlog_state/consumer_offsets/shard-{N}/   engine segments (state_log.rs)
//!
//! key:    +------+---------------------------+---------------------------+--------------+
//!         | kind | group                     | topic                     | partition    |
//!         | u8=1 | len u16 BE + UTF-8 bytes  | len u16 BE + UTF-8 bytes  | i32 BE       |
//!         +------+---------------------------+---------------------------+--------------+
//! value:  +---------+-----------+--------------+---------------------+------------------------+
//!         | version | offset    | leader_epoch | commit_timestamp_ms | metadata               |
//!         | u8=0    | i64 BE    | i32 BE       | i64 BE              | len i16 BE (-1 = null) |
//!         |         |           |              |                     | + UTF-8 bytes          |
//!         +---------+-----------+--------------+---------------------+------------------------+
//! tombstone: the key with a null value (group deleted, topic deleted)
//!
//! A transactional offset commit (TxnOffsetCommit, issue #18) is pending until its transaction
//! ends: kept under its own key, with the same value layout, until the coordinator's commit
//! moves it to the offset key (one append: puts, then the pending keys' tombstones) or its
//! abort deletes it.
//!
//! pending key: +------+-------------------------+-------------+-----------+-----------+
//!              | kind | group                   | producer_id | topic     | partition |
//!              | u8=2 | len u16 BE + UTF-8      | i64 BE      | as above  | i32 BE    |
//!              +------+-------------------------+-------------+-----------+-----------+
//! ```
//! All integers are big-endian, fixed width. Group ids are at most
//! [`super::GROUP_ID_BYTES_MAX`] bytes and metadata at most [`super::OFFSET_METADATA_BYTES_MAX`],
//! so a key and a value are far below the state log's bounds.
//!
//! Shard `N`'s log holds the groups that [`crate::routing::group_coordinator`] gives to shard
//! `N`. [`prepare`] (once, before the shards start) re-routes them when the shard count changed,
//! and migrates the offsets file of older ringlog versions ([`legacy`]).
//!
//! # Invariants
//! - The coordinator's in-memory offsets change only in `apply` callbacks, which run after the
//!   records are durable and in log order: memory always equals what a replay would give.
//! - An OffsetCommit is answered only after its append resolved; after a failed write or
//!   fdatasync every later commit is refused until the broker restarts (the state log's rule).
//! - Every key and value in the log decodes; one that does not fails the shard's start (never
//!   silently dropped).
//! - A group's keys are all in the log of its coordinator shard (checked when a shard opens its
//!   log: a misrouted group fails the start).

// Record fields are documented in the byte diagram above.
#![allow(missing_docs)]

pub mod legacy;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::rc::Rc;

use crate::runtime::IoKind;
use crate::storage::codec::BeReader;
use crate::storage::state_log::{self, StateLog, StateLogConfig, Update};
use crate::storage::Error;

/// The state log family of committed offsets (`{data_dir}/__ringlog_state/consumer_offsets`).
pub const FAMILY: &str = "consumer_offsets";
/// First byte of a key: what kind of record it is (room for group metadata later).
pub const KEY_KIND_OFFSET: u8 = 1;
/// First byte of a pending transactional offset's key.
pub const KEY_KIND_PENDING: u8 = 2;
/// First byte of a value: its layout version.
pub const VALUE_VERSION: u8 = 0;
/// Tombstones per append when a group or topic is deleted: a deletion of many partitions is
/// written in steps, each durable before the next (an interrupted deletion is finished by the
/// client's retry).
pub const TOMBSTONES_PER_APPEND_MAX: usize = 10_000;

/// One committed offset as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub commit_timestamp_ms: i64,
    pub metadata: Option<String>,
}

/// Offsets by group, then (topic, partition): what replay produces.
pub type OffsetsByGroup = HashMap<String, BTreeMap<(String, i32), StoredOffset>>;
/// A group's pending transactional offsets: by producer id, then (topic, partition).
pub type PendingOffsets = BTreeMap<i64, BTreeMap<(String, i32), StoredOffset>>;
/// Pending transactional offsets by group: what replay produces.
pub type PendingByGroup = HashMap<String, PendingOffsets>;

/// (group, topic, partition): what a key names.
pub type OffsetKey = (String, String, i32);

fn put_str16(out: &mut Vec<u8>, s: &str) {
    let n = u16::try_from(s.len()).expect("group ids and topic names are bounded far below 64 KiB");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The key of `group`'s offset of `topic`-`partition`.
pub fn encode_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 2 + group.len() + 2 + topic.len() + 4);
    out.push(KEY_KIND_OFFSET);
    put_str16(&mut out, group);
    put_str16(&mut out, topic);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

/// The key of `group`'s pending offset of `topic`-`partition` in `producer_id`'s transaction.
pub fn encode_pending_key(group: &str, producer_id: i64, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 2 + group.len() + 8 + 2 + topic.len() + 4);
    out.push(KEY_KIND_PENDING);
    put_str16(&mut out, group);
    out.extend_from_slice(&producer_id.to_be_bytes());
    put_str16(&mut out, topic);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

/// The (group, producer id, topic, partition) of a pending key; `None` for anything else.
pub fn decode_pending_key(bytes: &[u8]) -> Option<(String, i64, String, i32)> {
    let mut r = BeReader::new(bytes);
    if r.u8()? != KEY_KIND_PENDING {
        return None;
    }
    let key = (r.str16()?, r.i64()?, r.str16()?, r.i32()?);
    r.rest.is_empty().then_some(key)
}

/// The group a key of either kind belongs to.
fn group_of(key: &[u8]) -> Option<String> {
    decode_key(key)
        .map(|(g, _, _)| g)
        .or_else(|| decode_pending_key(key).map(|(g, _, _, _)| g))
}

/// The (group, topic, partition) of a key; `None` for anything else.
pub fn decode_key(bytes: &[u8]) -> Option<OffsetKey> {
    let mut r = BeReader::new(bytes);
    if r.u8()? != KEY_KIND_OFFSET {
        return None;
    }
    let key = (r.str16()?, r.str16()?, r.i32()?);
    r.rest.is_empty().then_some(key)
}

/// The value of a committed offset.
pub fn encode_value(o: &StoredOffset) -> Vec<u8> {
    let metadata = o.metadata.as_deref().map(str::as_bytes);
    let mut out = Vec::with_capacity(1 + 8 + 4 + 8 + 2 + metadata.map_or(0, <[u8]>::len));
    out.push(VALUE_VERSION);
    out.extend_from_slice(&o.offset.to_be_bytes());
    out.extend_from_slice(&o.leader_epoch.to_be_bytes());
    out.extend_from_slice(&o.commit_timestamp_ms.to_be_bytes());
    match metadata {
        None => out.extend_from_slice(&(-1i16).to_be_bytes()),
        Some(m) => {
            let n = i16::try_from(m.len()).expect("offset metadata is bounded below 32 KiB");
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(m);
        }
    }
    out
}

/// A committed offset from its value; `None` for anything else.
pub fn decode_value(bytes: &[u8]) -> Option<StoredOffset> {
    let mut r = BeReader::new(bytes);
    if r.u8()? != VALUE_VERSION {
        return None;
    }
    let offset = r.i64()?;
    let leader_epoch = r.i32()?;
    let commit_timestamp_ms = r.i64()?;
    let len = r.i16()?;
    let metadata = if len == -1 {
        None
    } else {
        let n = usize::try_from(len).ok()?;
        Some(String::from_utf8(r.take(n)?.to_vec()).ok()?)
    };
    r.rest.is_empty().then_some(StoredOffset {
        offset,
        leader_epoch,
        commit_timestamp_ms,
        metadata,
    })
}

/// The state log records of one group's commit.
fn commit_updates(group: &str, entries: &[(String, i32, StoredOffset)]) -> Vec<Update> {
    entries
        .iter()
        .map(|(topic, partition, o)| {
            Update::put(encode_key(group, topic, *partition), encode_value(o))
        })
        .collect()
}

/// The coordinator shard a key belongs to under `shards` shards.
fn route(key: &[u8], shards: usize) -> Option<usize> {
    group_of(key).map(|group| crate::routing::group_coordinator(&group, shards))
}

/// One shard's committed offsets (`!Send`: lives on its shard).
pub struct OffsetsLog {
    log: StateLog,
}

impl OffsetsLog {
    /// Opens shard `shard`'s log (of `shards`) and replays it: returns the log and the offsets.
    /// Call [`prepare`] once before any shard opens: a group found on another shard's log fails
    /// the open.
    pub async fn open(
        data_dir: &Path,
        shard: usize,
        shards: usize,
    ) -> io::Result<(OffsetsLog, OffsetsByGroup, PendingByGroup)> {
        let mut offsets = OffsetsByGroup::new();
        let mut pending = PendingByGroup::new();
        let root = state_log::state_root(data_dir);
        let log = StateLog::open(&root, FAMILY, shard, StateLogConfig::default(), |k, v| {
            let group = group_of(k).ok_or("not a committed-offset key")?;
            let owner = crate::routing::group_coordinator(&group, shards);
            if owner != shard {
                return Err(format!("group {group:?} belongs to shard {owner}"));
            }
            let o = decode_value(v).ok_or("not a committed-offset value")?;
            if let Some((_, topic, partition)) = decode_key(k) {
                offsets
                    .entry(group)
                    .or_default()
                    .insert((topic, partition), o);
            } else if let Some((_, producer_id, topic, partition)) = decode_pending_key(k) {
                pending
                    .entry(group)
                    .or_default()
                    .entry(producer_id)
                    .or_default()
                    .insert((topic, partition), o);
            }
            Ok(())
        })
        .await
        .map_err(|e| io::Error::other(format!("shard {shard}: committed offsets: {e}")))?;
        Ok((OffsetsLog { log }, offsets, pending))
    }

    /// Stores `group`'s pending offsets of `producer_id`'s transaction; resolves once durable
    /// and `apply` has run.
    pub async fn commit_pending(
        &self,
        group: &str,
        producer_id: i64,
        entries: &[(String, i32, StoredOffset)],
        apply: impl FnOnce() + 'static,
    ) -> Result<(), Error> {
        let updates = entries
            .iter()
            .map(|(topic, partition, o)| {
                Update::put(
                    encode_pending_key(group, producer_id, topic, *partition),
                    encode_value(o),
                )
            })
            .collect();
        self.log.append(updates, apply).await
    }

    /// Ends `producer_id`'s pending offsets of `group`: on commit they become the group's
    /// offsets (written first), then the pending keys are deleted, in one append (a crash
    /// keeps a prefix: the coordinator completes the transaction again after a restart).
    pub async fn complete_pending(
        &self,
        group: &str,
        producer_id: i64,
        entries: &[(String, i32, StoredOffset)],
        commit: bool,
        apply: impl FnOnce() + 'static,
    ) -> Result<(), Error> {
        let mut updates = if commit {
            commit_updates(group, entries)
        } else {
            Vec::new()
        };
        updates.extend(entries.iter().map(|(topic, partition, _)| {
            Update::delete(encode_pending_key(group, producer_id, topic, *partition))
        }));
        self.log.append(updates, apply).await
    }

    /// Stores `group`'s offsets; resolves once they are durable and `apply` has run.
    pub async fn commit(
        &self,
        group: &str,
        entries: &[(String, i32, StoredOffset)],
        apply: impl FnOnce() + 'static,
    ) -> Result<(), Error> {
        self.log.append(commit_updates(group, entries), apply).await
    }

    /// Deletes these offsets (tombstones, [`TOMBSTONES_PER_APPEND_MAX`] per append). `forget`
    /// runs once per append, after it is durable, with the keys it deleted.
    pub async fn delete(
        &self,
        keys: Vec<OffsetKey>,
        forget: impl Fn(&[OffsetKey]) + 'static,
    ) -> Result<(), Error> {
        let forget = Rc::new(forget);
        for chunk in keys.chunks(TOMBSTONES_PER_APPEND_MAX) {
            let updates = chunk
                .iter()
                .map(|(g, t, p)| Update::delete(encode_key(g, t, *p)))
                .collect();
            let (forget, chunk) = (forget.clone(), chunk.to_vec());
            self.log.append(updates, move || forget(&chunk)).await?;
        }
        Ok(())
    }
}

/// Before the shards start (blocking, once): migrate an offsets directory of an older ringlog
/// ([`legacy`]) and make sure every group's offsets are in the log of the shard that
/// coordinates it under `shards` shards (re-routed when the shard count changed). Crash-safe:
/// the new logs are swapped in whole before the old files are removed, and a crash anywhere
/// re-runs the same steps (offsets are keyed, so writing them twice changes nothing).
pub fn prepare(data_dir: &Path, shards: usize, io: IoKind) -> io::Result<()> {
    let old = legacy::read(data_dir)?;
    let seed: Vec<Update> = old
        .as_ref()
        .map(|old| {
            old.offsets
                .iter()
                .flat_map(|(group, offsets)| {
                    offsets.iter().map(move |((topic, partition), o)| {
                        Update::put(encode_key(group, topic, *partition), encode_value(o))
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let route = move |key: &[u8]| route(key, shards);
    let rewritten = crate::state::prepare_family(data_dir, FAMILY, shards, io, &route, seed)?;
    if rewritten {
        tracing::info!("committed offsets laid out for {shards} shard(s)");
    }
    if let Some(old) = old {
        tracing::info!(
            "migrated the committed offsets of {} group(s) from {}",
            old.offsets.len(),
            old.dir.display()
        );
        legacy::remove(&old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip_and_reject_anything_else() {
        let key = encode_key("group", "topic", 7);
        assert_eq!(decode_key(&key), Some(("group".into(), "topic".into(), 7)));
        assert_eq!(decode_key(&key[..key.len() - 1]), None);
        let mut longer = key.clone();
        longer.push(0);
        assert_eq!(decode_key(&longer), None);
        let mut other_kind = key.clone();
        other_kind[0] = 3;
        assert_eq!(decode_key(&other_kind), None);
        let pending = encode_pending_key("group", 77, "topic", 7);
        assert_eq!(
            decode_pending_key(&pending),
            Some(("group".into(), 77, "topic".into(), 7))
        );
        assert_eq!(decode_key(&pending), None, "kinds are told apart");
        assert_eq!(decode_pending_key(&key), None);
        assert_eq!(decode_pending_key(&pending[..pending.len() - 1]), None);
        assert_eq!(group_of(&pending).as_deref(), Some("group"));
        assert_eq!(
            route(&pending, 4),
            route(&key, 4),
            "both kinds follow the group"
        );
        for metadata in [None, Some(String::new()), Some("m".repeat(4096))] {
            let o = StoredOffset {
                offset: 42,
                leader_epoch: -1,
                commit_timestamp_ms: 1_700_000_000_000,
                metadata,
            };
            let v = encode_value(&o);
            assert_eq!(decode_value(&v), Some(o));
            for cut in 0..v.len() {
                assert_eq!(decode_value(&v[..cut]), None, "cut {cut}");
            }
        }
    }
}
