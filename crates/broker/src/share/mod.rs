//! Share groups (KIP-932, "Queues for Kafka"): many consumers share a partition, every record
//! is acquired, then accepted, released or rejected, with a delivery-count limit, a dead-letter
//! topic (KIP-1191) and, beyond Kafka, a retry backoff.
//!
//! ```text
//!  connection shard                     group coordinator shard          partition owner shards
//!  ShareGroupHeartbeat ──────────────▶ membership, assignment (group.rs)
//!  ShareFetch / ShareAcknowledge ───▶ share session step, configs ──▶ per partition (owner):
//!     (handlers/share_fetch.rs)          (group.rs, config.rs)          expire locks, apply acks,
//!                                                                       read batches, acquire,
//!                                                                       persist, then answer
//!  the answer: the stored batches as they are (file slices, the Fetch transfer paths) with the
//!  acquired offset ranges and delivery counts.
//! ```
//!
//! Durable state: the state log family `share_state`, one log per shard (the design's "one
//! durable-state mechanism"): on a partition's owner, one key per (group, topic, partition)
//! whose value is the whole share-partition ([`partition::SharePartition::encode`]: start offset
//! and the runs of the in-flight window, acquired records stored as available with their
//! delivery counts); on a group's coordinator, one key per group holding its configs. A
//! ShareFetch is answered only after the acquisitions it made are written, and an
//! acknowledgement only after it is, so after a crash or SIGKILL no acknowledged record is
//! delivered again and an unacknowledged one comes back with its delivery count kept. The
//! fdatasync that a power loss needs follows within [`STATE_SYNC_INTERVAL_MS`] under `--flush
//! always` ([`state_flush`] says what a power loss can do).
//!
//! # Invariants
//! - A share-partition is touched only by its partition's owner shard; membership, sessions and
//!   configs only by the group's coordinator shard.
//! - Every change to a share-partition is written (one state-log append per request and owner,
//!   a second one only when a read gave back acquired records) before the request it served is
//!   answered; memory may run ahead of the log only while that append is in flight. The append
//!   runs concurrently with the reads of the records it acquires.
//! - The in-flight window of a share-partition is at most `record_locks_max` offsets
//!   (`group.share.partition.max.record.locks`), so its state is bounded.

pub mod config;
pub mod dlq;
pub mod group;
pub mod partition;

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::error::BrokerError;
use crate::runtime::IoKind;
use crate::shard::{ReadReq, ReadResultMsg, ShardState};
use crate::storage::codec::BeReader;
use crate::storage::state_log::{self, StateLog, StateLogConfig, Update};
use config::{AutoReset, GroupConfigs};
use partition::{AckBatch, AckError, Acquired, Archived, SharePartition, ShareSettings};

/// The state log family of share groups (`{data_dir}/__ringlog_state/share_state`).
pub const FAMILY: &str = "share_state";
/// Key kind: a share-partition (on the partition's owner).
const KEY_PARTITION: u8 = 1;
/// Key kind: a share group's configs (on the group's coordinator).
const KEY_GROUP_CONFIGS: u8 = 2;
/// Key kind: a share group exists (on its coordinator; written when it first forms, so it is
/// listed and described after a restart, before its members come back).
const KEY_GROUP: u8 = 3;
/// Share-partitions per shard (each holds at most a window of `record_locks_max` records).
/// Beyond: the fetch of a new one is refused (COORDINATOR_NOT_AVAILABLE-like, retriable).
pub const PARTITIONS_PER_SHARD_MAX: usize = 100_000;
/// How often each shard ends expired acquisition locks of its share-partitions (fetches end
/// them too, on the partitions they touch).
pub const SWEEP_MS: u64 = 250;

/// A share-partition's key: (group, topic, partition).
pub type PartKey = (String, Arc<str>, i32);

/// One share-partition on its owner, with the bytes last written for it.
struct Slot {
    part: SharePartition,
    persisted: Vec<u8>,
    settings: ShareSettings,
    /// The dead-letter copies planned in writes that completed (the writer only takes these: a
    /// copy planned in memory but not yet durable could be planned again after a crash).
    durable_pending: Vec<partition::PendingDlq>,
    /// The group's settings were seen since the broker started (by a ShareFetch or
    /// ShareAcknowledge): until then the sweep leaves the share-partition alone, so records held
    /// before a restart are judged by the group's own delivery limit, not the broker default.
    live: bool,
    /// The group's dead-letter topic as last seen (by the last ShareFetch/ShareAcknowledge):
    /// records archived by the sweep or a member's departure go there too.
    dlq: Option<dlq::Target>,
}

impl Slot {
    /// A share-partition as read back (`persisted` its stored bytes) or just created (empty).
    fn new(part: SharePartition, persisted: Vec<u8>, settings: ShareSettings) -> Slot {
        Slot {
            durable_pending: part.pending_dlq().to_vec(),
            part,
            persisted,
            settings,
            dlq: None,
            live: false,
        }
    }
}

/// The share-group state of one shard.
#[derive(Default)]
pub struct Shares {
    log: OnceCell<StateLog>,
    parts: RefCell<HashMap<PartKey, Slot>>,
    /// Coordinator role: membership by group.
    pub groups: RefCell<HashMap<String, group::ShareGroup>>,
    /// Coordinator role: share sessions by (group, member).
    pub sessions: RefCell<HashMap<(String, String), group::Session>>,
    /// Coordinator role: configs by group.
    pub configs: RefCell<HashMap<String, GroupConfigs>>,
    /// Dead-letter copies: the next sequence by dead-letter partition.
    dlq_next: RefCell<HashMap<(String, i32), i32>>,
    /// Wakes the dead-letter writer.
    dlq_wake: crate::runtime::sync::Notify,
    /// Changes that can make records acquirable on this shard (acknowledgements, releases,
    /// ended locks, given-back acquisitions), counted; [`Shares::window`] wakes the long polls
    /// waiting for one.
    window_changes: std::cell::Cell<u64>,
    /// Wakes share long polls whose share-partitions had nothing to acquire (an empty or full
    /// window): without it a poll waiting on a full window would sleep its whole wait although
    /// an acknowledgement freed the window.
    window: crate::runtime::sync::Notify,
}

fn put_str16(out: &mut Vec<u8>, s: &str) {
    let n = u16::try_from(s.len()).expect("group ids and topic names are bounded far below 64 KiB");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn part_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 2 + group.len() + 2 + topic.len() + 4);
    out.push(KEY_PARTITION);
    put_str16(&mut out, group);
    put_str16(&mut out, topic);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

fn configs_key(group: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + group.len());
    out.push(KEY_GROUP_CONFIGS);
    put_str16(&mut out, group);
    out
}

fn group_key(group: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + group.len());
    out.push(KEY_GROUP);
    put_str16(&mut out, group);
    out
}

enum Key {
    Part(String, String, i32),
    Configs(String),
    Group(String),
}

fn decode_key(bytes: &[u8]) -> Option<Key> {
    let mut r = BeReader::new(bytes);
    let key = match r.u8()? {
        KEY_PARTITION => {
            let group = r.str16()?;
            let topic = r.str16()?;
            Key::Part(group, topic, r.i32()?)
        }
        KEY_GROUP_CONFIGS => Key::Configs(r.str16()?),
        KEY_GROUP => Key::Group(r.str16()?),
        _ => return None,
    };
    let consumed = match &key {
        Key::Part(g, t, _) => 1 + 2 + g.len() + 2 + t.len() + 4,
        Key::Configs(g) | Key::Group(g) => 1 + 2 + g.len(),
    };
    (consumed == bytes.len()).then_some(key)
}

/// The shard a share-state key belongs to: a share-partition's is its partition's owner (a
/// view's partitions are owned with its source's, issue #17), a group's its coordinator.
fn route(key: &[u8], shards: usize, catalog: &Catalog) -> Option<usize> {
    match decode_key(key)? {
        Key::Part(_, topic, partition) => Some(crate::routing::owner(
            catalog.routing_name(&topic),
            partition,
            shards,
        )),
        Key::Configs(group) | Key::Group(group) => {
            Some(crate::routing::group_coordinator(&group, shards))
        }
    }
}

/// Re-routes the family when the shard count changed (once, before the shards start).
pub fn prepare(data_dir: &Path, shards: usize, io: IoKind, catalog: &Catalog) -> io::Result<()> {
    let route = move |key: &[u8]| route(key, shards, catalog);
    crate::state::prepare_family(data_dir, FAMILY, shards, io, &route, Vec::new()).map(drop)
}

/// Under `--flush always`, how long share-state writes may go without an fdatasync while
/// writes keep coming (see [`state_flush`]).
pub const STATE_SYNC_INTERVAL_MS: u64 = 20;

/// The default flush policy of the share state log for the broker's `--flush` policy
/// (`--share-state-flush` overrides it; `always` there restores an fdatasync before every
/// answer).
///
/// A share-state write is answered once it is written (in the page cache): a broker crash,
/// SIGKILL or restart loses none of it, which is the contract of share groups (no acknowledged
/// record delivered again, acquired ones delivered again with their counts). Under `--flush
/// always` the fdatasync follows instead of preceding the answer: the first write at least
/// [`STATE_SYNC_INTERVAL_MS`] after the last sync waits for one (group commit: the writes
/// queued meanwhile share it), and a log whose writes stop is synced that long after the last
/// one by its writer (`StateLog`'s idle sync). What only a
/// power loss can do is therefore bounded and at-least-once: records acknowledged in the last
/// unsynced writes are delivered again (never lost), acquisitions then are not counted (as Kafka
/// never counts them), and a dead-letter copy planned then may be made twice. Waiting for an
/// fdatasync per request made every ShareFetch (it carries the last poll's acknowledgements)
/// cost one device flush: one consumer's throughput was records-per-fetch / fdatasync latency,
/// 0.15-0.35 x a classic consumer's (measured, kernel-notes.md "Share groups").
/// `interval` and `never` apply to the share state as they are.
pub fn state_flush(broker: crate::storage::log::FlushPolicy) -> crate::storage::log::FlushPolicy {
    use crate::storage::log::FlushPolicy;
    match broker {
        FlushPolicy::Always => {
            FlushPolicy::Interval(std::time::Duration::from_millis(STATE_SYNC_INTERVAL_MS))
        }
        other => other,
    }
}

/// One share-partition as `ringlog groups describe` shows it.
#[derive(Clone, Debug)]
pub struct PartitionState {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The share-partition start offset.
    pub start: i64,
    /// The first offset never delivered.
    pub end: i64,
    /// Records per state in the window.
    pub counts: partition::Counts,
    /// Archived records whose dead-letter copy is not written yet.
    pub dlq_pending: i64,
}

/// One partition's work in a ShareFetch/ShareAcknowledge, for its owner.
#[derive(Clone, Debug)]
pub struct PartWork {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// Its acknowledgements.
    pub acks: Vec<AckBatch>,
    /// Acquire and read too.
    pub fetch: bool,
}

/// What the owner does for one member's request.
#[derive(Clone, Debug)]
pub struct OwnerArgs {
    /// The share group.
    pub group: String,
    /// The member.
    pub member: String,
    /// Lock, delivery limit, window and backoff.
    pub settings: ShareSettings,
    /// Where a new share-partition starts.
    pub reset: AutoReset,
    /// Most records to acquire.
    pub max_records: i64,
    /// Most bytes to read.
    pub max_bytes: u64,
    /// Acquire to the end of the last batch read ([`FetchLimits::whole_batches`]).
    pub whole_batches: bool,
    /// Release everything the member holds on these partitions (session closed).
    pub release: bool,
    /// The group's valid dead-letter topic, if any.
    pub dlq: Option<dlq::Target>,
}

/// The owner's answer for one partition.
pub struct PartOutcome {
    /// Why the acknowledgements were refused (code, message).
    pub ack_error: Option<(i16, String)>,
    /// Why the fetch failed.
    pub fetch_error: Option<BrokerError>,
    /// The acquired offset ranges with their delivery counts.
    pub acquired: Vec<Acquired>,
    /// The batches holding them.
    pub read: Option<ReadResultMsg>,
    /// The offset new data would arrive at (for the long poll), when the window has room.
    pub wait_offset: Option<i64>,
    /// When held or backed-off records become available (ms since the epoch).
    pub wakeup_ms: Option<i64>,
    /// The owner's count of window changes when this outcome was made (a long poll waits for
    /// the next one).
    pub window_seen: u64,
    /// Nothing was acquired because the window is full, and this member holds records of it:
    /// only its own acknowledgements can free the window, and they come with its next request
    /// (a pipelined consumer fetches before acknowledging what it holds), so the poll answers
    /// at once instead of waiting.
    pub holds_full_window: bool,
}

impl Shares {
    /// Something may have become acquirable: wake the share long polls of this shard.
    fn window_changed(&self) {
        self.window_changes.set(self.window_changes.get() + 1);
        self.window.notify_waiters();
    }

    /// Resolves at the first window change after `seen` (at once if one happened already), or
    /// after `wait`.
    pub async fn window_change_after(&self, seen: u64, wait: std::time::Duration) {
        if self.window_changes.get() == seen {
            let _ = crate::runtime::time::timeout(wait, self.window.notified()).await;
        }
    }

    /// Opens this shard's share state log and replays it.
    pub async fn open(
        &self,
        data_dir: &Path,
        shard: usize,
        shards: usize,
        broker: &config::BrokerShareConfig,
        flush: crate::storage::log::FlushPolicy,
        catalog: &Catalog,
    ) -> io::Result<()> {
        let root = state_log::state_root(data_dir);
        let mut parts = HashMap::new();
        let mut configs = HashMap::new();
        let mut groups = HashMap::new();
        let config = StateLogConfig {
            flush,
            ..StateLogConfig::default()
        };
        let log = StateLog::open(&root, FAMILY, shard, config, |k, v| {
            match decode_key(k).ok_or("not a share state key")? {
                Key::Part(group, topic, partition) => {
                    let owner =
                        crate::routing::owner(catalog.routing_name(&topic), partition, shards);
                    if owner != shard {
                        return Err(format!("{topic}-{partition} belongs to shard {owner}"));
                    }
                    let part = SharePartition::decode(v)?;
                    parts.insert(
                        (group, Arc::from(topic.as_str()), partition),
                        Slot::new(part, v.to_vec(), GroupConfigs::default().settings(broker)),
                    );
                }
                Key::Configs(group) => {
                    configs.insert(group, GroupConfigs::decode(v)?);
                }
                Key::Group(group) => {
                    groups.insert(group, group::ShareGroup::default());
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| io::Error::other(format!("shard {shard}: share state: {e}")))?;
        *self.parts.borrow_mut() = parts;
        *self.configs.borrow_mut() = configs;
        *self.groups.borrow_mut() = groups;
        let _ = self.log.set(log);
        Ok(())
    }

    fn log(&self) -> Result<&StateLog, BrokerError> {
        self.log.get().ok_or_else(|| BrokerError::ShareState {
            reason: "the share state log is not open".to_string(),
        })
    }

    /// Stores `group`'s configs (coordinator shard); resolves once durable.
    pub async fn store_configs(
        &self,
        group: &str,
        configs: GroupConfigs,
    ) -> Result<(), BrokerError> {
        let update = if configs.raw.is_empty() {
            Update::delete(configs_key(group))
        } else {
            Update::put(configs_key(group), configs.encode())
        };
        self.log()?
            .append(vec![update], || {})
            .await
            .map_err(|e| BrokerError::ShareState {
                reason: e.to_string(),
            })?;
        if configs.raw.is_empty() {
            self.configs.borrow_mut().remove(group);
        } else {
            self.configs.borrow_mut().insert(group.to_string(), configs);
        }
        Ok(())
    }

    /// Records that `group` exists (coordinator shard), once; resolves once durable.
    pub async fn remember_group(&self, group: &str) -> Result<(), BrokerError> {
        self.log()?
            .append(vec![Update::put(group_key(group), Vec::new())], || {})
            .await
            .map_err(|e| BrokerError::ShareState {
                reason: e.to_string(),
            })
    }

    /// Forgets share group `group` on its coordinator: membership, sessions, configs and its
    /// marker, durably. Its share-partitions are dropped by [`Shares::drop_group_parts`] on
    /// every shard.
    pub async fn forget_group(&self, group: &str) -> Result<(), BrokerError> {
        self.log()?
            .append(
                vec![
                    Update::delete(group_key(group)),
                    Update::delete(configs_key(group)),
                ],
                || {},
            )
            .await
            .map_err(|e| BrokerError::ShareState {
                reason: e.to_string(),
            })?;
        self.groups.borrow_mut().remove(group);
        self.configs.borrow_mut().remove(group);
        self.sessions.borrow_mut().retain(|(g, _), _| g != group);
        Ok(())
    }

    /// Drops `group`'s share-partitions on this shard (of `topic` only, when given), durably.
    pub async fn drop_group_parts(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<(), BrokerError> {
        let keys: Vec<PartKey> = self
            .parts
            .borrow()
            .keys()
            .filter(|(g, t, _)| g == group && topic.is_none_or(|x| x == &**t))
            .cloned()
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let updates = keys
            .iter()
            .map(|(g, t, p)| Update::delete(part_key(g, t, *p)))
            .collect();
        self.log()?
            .append(updates, || {})
            .await
            .map_err(|e| BrokerError::ShareState {
                reason: e.to_string(),
            })?;
        let mut parts = self.parts.borrow_mut();
        for k in &keys {
            parts.remove(k);
        }
        Ok(())
    }

    /// Sets the start of `group`'s share-partition `topic`-`partition` (this shard owns it):
    /// everything in flight is forgotten, delivery starts again at `offset`. Durable.
    pub async fn reset_start(
        &self,
        group: &str,
        topic: &Arc<str>,
        partition: i32,
        offset: i64,
    ) -> Result<(), BrokerError> {
        let key: PartKey = (group.to_string(), topic.clone(), partition);
        {
            let mut parts = self.parts.borrow_mut();
            match parts.get_mut(&key) {
                Some(slot) => {
                    let pending = slot.part.pending_dlq().to_vec();
                    slot.part = SharePartition::new(offset);
                    slot.part.add_pending_dlq(pending);
                }
                None => {
                    parts.insert(
                        key.clone(),
                        Slot::new(
                            SharePartition::new(offset),
                            Vec::new(),
                            GroupConfigs::default().settings(&config::BrokerShareConfig::default()),
                        ),
                    );
                }
            }
        }
        let written = self.persist(&[key]).await;
        self.window_changed();
        written
    }

    /// `group`'s share-partitions on this shard: (topic, partition, start offset, lag), where
    /// lag counts the records from the start to `high_watermark(topic, partition)` not yet
    /// acknowledged or archived.
    pub fn offsets_of(
        &self,
        group: &str,
        high_watermark: impl Fn(&str, i32) -> Option<i64>,
    ) -> Vec<(Arc<str>, i32, i64, i64)> {
        let mut out: Vec<_> = self
            .parts
            .borrow()
            .iter()
            .filter(|((g, _, _), _)| g == group)
            .map(|((_, t, p), s)| {
                let start = s.part.start_offset();
                let c = s.part.counts();
                let lag = high_watermark(t, *p)
                    .map_or(-1, |hw| (hw - start - c.acknowledged - c.archived).max(0));
                (t.clone(), *p, start, lag)
            })
            .collect();
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    }

    /// One group's share-partitions on this shard: (topic, partition, start, end, counts,
    /// dead-letter copies pending), sorted.
    pub fn describe_partitions(&self, group: &str) -> Vec<PartitionState> {
        let mut out: Vec<PartitionState> = self
            .parts
            .borrow()
            .iter()
            .filter(|((g, _, _), _)| g == group)
            .map(|((_, t, p), s)| PartitionState {
                topic: t.clone(),
                partition: *p,
                start: s.part.start_offset(),
                end: s.part.end_offset(),
                counts: s.part.counts(),
                dlq_pending: s
                    .part
                    .pending_dlq()
                    .iter()
                    .map(|d| d.last - d.first + 1)
                    .sum(),
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        out
    }

    /// Drops every share-partition of a deleted topic (with tombstones).
    pub async fn topic_deleted(&self, topic: &str) {
        let keys: Vec<PartKey> = self
            .parts
            .borrow()
            .keys()
            .filter(|(_, t, _)| &**t == topic)
            .cloned()
            .collect();
        if keys.is_empty() {
            return;
        }
        let updates = keys
            .iter()
            .map(|(g, t, p)| Update::delete(part_key(g, t, *p)))
            .collect();
        {
            let mut parts = self.parts.borrow_mut();
            for k in &keys {
                parts.remove(k);
            }
        }
        if let Ok(log) = self.log() {
            if let Err(e) = log.append(updates, || {}).await {
                tracing::error!("share state: dropping the share-partitions of {topic}: {e}");
            }
        }
    }

    /// Every pending dead-letter copy of this shard, with whether to copy the records' data.
    fn all_pending(&self) -> Vec<(PartKey, partition::PendingDlq, bool)> {
        self.parts
            .borrow()
            .iter()
            .flat_map(|(k, s)| {
                s.durable_pending
                    .iter()
                    .map(move |p| (k.clone(), p.clone(), p.copy_record))
            })
            .collect()
    }

    /// Forgets dead-letter copies that are done, durably.
    async fn forget_pending(&self, done: &[(PartKey, partition::PendingDlq)]) {
        let mut keys: Vec<PartKey> = Vec::new();
        {
            let mut parts = self.parts.borrow_mut();
            for (k, p) in done {
                if let Some(slot) = parts.get_mut(k) {
                    slot.part.remove_pending_dlq(|x| x == p);
                    slot.durable_pending.retain(|x| x != p);
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
        if let Err(e) = self.persist(&keys).await {
            tracing::error!("share state write failed: {e}");
        }
    }

    /// Persists every slot whose encoding changed; one append.
    async fn persist(&self, keys: &[PartKey]) -> Result<(), BrokerError> {
        let mut updates = Vec::new();
        // The dead-letter copies each written value plans: durable once the append resolves.
        let mut planned: Vec<(PartKey, Vec<partition::PendingDlq>)> = Vec::new();
        {
            let mut parts = self.parts.borrow_mut();
            for k in keys {
                if let Some(slot) = parts.get_mut(k) {
                    let bytes = slot.part.encode();
                    if bytes != slot.persisted {
                        updates.push(Update::put(part_key(&k.0, &k.1, k.2), bytes.clone()));
                        slot.persisted = bytes;
                        planned.push((k.clone(), slot.part.pending_dlq().to_vec()));
                    }
                }
            }
        }
        if updates.is_empty() {
            return Ok(());
        }
        self.log()?
            .append(updates, || {})
            .await
            .map_err(|e| BrokerError::ShareState {
                reason: e.to_string(),
            })?;
        // Appends resolve in order, so the last one to resolve wrote the latest plans; copies
        // the writer forgot meanwhile are not brought back.
        let mut parts = self.parts.borrow_mut();
        for (k, pending) in planned {
            if let Some(slot) = parts.get_mut(&k) {
                slot.durable_pending = pending
                    .into_iter()
                    .filter(|p| slot.part.pending_dlq().contains(p))
                    .collect();
            }
        }
        Ok(())
    }
}

/// One partition's acquisition whose records are being read.
struct PendingRead {
    /// Its place in the answer.
    index: usize,
    key: PartKey,
    req: ReadReq,
    acquired: Vec<Acquired>,
    /// The acquisitions' lock deadline (names them for [`SharePartition::unacquire`]).
    deadline: i64,
    /// When they were acquired (the deadline's start, shared by a whole-batch extension).
    acquired_at: i64,
    /// The partition's log (read_committed looks up aborted transactions in it).
    log: Rc<crate::storage::Log>,
}

/// The owner's work for one member's request: for each partition, end expired locks, apply
/// the acknowledgements, then acquire and read; everything changed is durable before this
/// returns.
///
/// The state write and the reads run at once: the acquisitions are made (in memory) before
/// either starts, the write carries them and the acknowledgements, and the reads fetch exactly
/// the acquired ranges. A read that does not reach all it acquired (a byte budget, an error)
/// gives the rest back undelivered, and that change gets a second write before the answer. So
/// a request costs max(read, write) instead of their sum; a crash between the two writes
/// leaves the given-back records counted as delivered once more, which errs on the side the
/// delivery limit allows (never under-counting).
pub async fn on_owner(
    shard: Rc<ShardState>,
    args: OwnerArgs,
    work: Vec<PartWork>,
) -> Vec<PartOutcome> {
    let shares = &shard.shares;
    let member: Rc<str> = Rc::from(args.member.as_str());
    let mut out = Vec::with_capacity(work.len());
    let mut touched = Vec::with_capacity(work.len());
    let mut archived_all: Vec<(PartKey, Vec<Archived>)> = Vec::new();
    let mut reads: Vec<PendingRead> = Vec::new();
    // Partitions fetched from (their long-poll hints are computed once the reads are done).
    let mut fetched: Vec<(usize, PartKey, i64)> = Vec::new();
    let mut any_freed = false;
    // Each touched share-partition's high watermark (what a woken poll could acquire below).
    let mut high_watermarks: Vec<i64> = Vec::with_capacity(touched.capacity());
    for w in work {
        let key: PartKey = (args.group.clone(), w.topic.clone(), w.partition);
        let mut outcome = PartOutcome {
            ack_error: None,
            fetch_error: None,
            acquired: Vec::new(),
            read: None,
            wait_offset: None,
            wakeup_ms: None,
            window_seen: 0,
            holds_full_window: false,
        };
        // A view's records are its source's (issue #17); the view's read filters them.
        let log = match shard.log_of(&w.topic, w.partition) {
            Ok(log) => log,
            Err(e) => {
                let e = BrokerError::Storage(e);
                if !w.acks.is_empty() {
                    outcome.ack_error = Some((e.kafka_code(), e.to_string()));
                }
                outcome.fetch_error = Some(e);
                out.push(outcome);
                continue;
            }
        };
        if let Err(e) = ensure_slot(&shard, &key, &args, &log).await {
            if !w.acks.is_empty() {
                outcome.ack_error = Some((e.kafka_code(), e.to_string()));
            }
            outcome.fetch_error = Some(e);
            out.push(outcome);
            continue;
        }
        touched.push(key.clone());
        // read_committed acquires below the last stable offset only (KIP-932).
        let hw = log.high_watermark();
        let limit = if args.settings.read_committed {
            log.last_stable_offset()
        } else {
            hw
        };
        high_watermarks.push(limit);
        let now = crate::storage::log::now_ms();
        let mut archived = Vec::new();
        // Records of the window were archived, released or came back: other members' polls
        // may acquire now.
        let mut freed = args.release;
        {
            let mut parts = shares.parts.borrow_mut();
            let slot = parts.get_mut(&key).expect("ensured");
            slot.settings = args.settings.clone();
            slot.dlq = args.dlq.clone();
            slot.live = true;
            slot.part.truncate_below(log.log_start_offset());
            archived.extend(slot.part.expire_locks(now, &args.settings));
            if !w.acks.is_empty() {
                match slot
                    .part
                    .acknowledge(&args.member, &w.acks, now, &args.settings)
                {
                    Ok(a) => {
                        archived.extend(a);
                        freed = true;
                    }
                    Err(AckError::InvalidState { offset }) => {
                        outcome.ack_error = Some((
                            group::codes::INVALID_RECORD_STATE,
                            format!("The record at offset {offset} is not acquired by this member"),
                        ))
                    }
                    Err(AckError::Invalid { reason }) => {
                        outcome.ack_error = Some((group::codes::INVALID_REQUEST, reason))
                    }
                }
            }
            if args.release {
                archived.extend(slot.part.release_member(&args.member, now, &args.settings));
            }
        }
        if w.fetch {
            // Acquire first, from what the log holds (every offset below the high watermark
            // exists, or is a gap the client acknowledges as one), then read exactly that:
            // concurrent fetches of one partition never read the same records for nothing.
            let now = crate::storage::log::now_ms();
            let deadline = now.saturating_add(args.settings.lock_ms);
            let acquired = {
                let mut parts = shares.parts.borrow_mut();
                let slot = parts.get_mut(&key).expect("ensured");
                match slot.part.next_acquirable(now, &args.settings) {
                    Some(from) if from < limit => slot.part.acquire(
                        &member,
                        from,
                        limit - 1,
                        args.max_records,
                        now,
                        &args.settings,
                    ),
                    _ => Vec::new(),
                }
            };
            if let (Some(first), Some(last)) = (acquired.first(), acquired.last()) {
                let req = ReadReq {
                    topic: w.topic.clone(),
                    partition: w.partition,
                    offset: first.first,
                    max_bytes: args.max_bytes.max(1),
                    last_wanted: last.last,
                    read_committed: false,
                };
                reads.push(PendingRead {
                    index: out.len(),
                    key: key.clone(),
                    req,
                    acquired,
                    deadline,
                    acquired_at: now,
                    log: log.clone(),
                });
            }
            // Under read_committed with an open transaction the window's end is the last
            // stable offset, below the high watermark: the long poll waits for the next append
            // (the transaction's marker among them), not for one past the window's end.
            let wait_floor = if limit < hw { hw } else { 0 };
            fetched.push((out.len(), key.clone(), wait_floor));
        }
        if !archived.is_empty() {
            archived_all.push((key, archived));
        }
        any_freed |= freed;
        out.push(outcome);
    }
    // Archived records get their dead-letter copies planned, in the same durable write.
    plan_copies(&shard, &archived_all).await;
    let read_all = crate::runtime::future::join_all(
        reads
            .iter()
            .map(|r| shard.read_one(&r.req))
            .collect::<Vec<_>>(),
    );
    // The read comes first and the state write after it: with whole batches the acquisition
    // ends where the read's last batch ends, which only the read knows, and one write then
    // holds all of it (the write beside the read saved less than the batch the next answer
    // used to send again; kernel-notes.md "Share groups").
    let results = read_all.await;
    let mut given_back = false;
    for (mut r, read) in reads.into_iter().zip(results) {
        if args.whole_batches && read.error.is_none() {
            extend_to_batch_end(shares, &mut r, &member, read.next_offset, &args.settings);
        }
        if args.settings.read_committed && read.error.is_none() {
            archive_aborted(shares, &mut r, &member).await;
            if r.acquired.is_empty() {
                // All aborted: archived, nothing to send; the window moved.
                given_back = true;
                continue;
            }
        }
        let outcome = &mut out[r.index];
        let (first, last) = (r.acquired[0].first, r.acquired[r.acquired.len() - 1].last);
        // What the read did not reach (an error, or the byte budget ended it) is given back
        // undelivered.
        let reached = if read.error.is_some() {
            first
        } else {
            read.next_offset
        };
        if reached <= last {
            let mut parts = shares.parts.borrow_mut();
            let slot = parts.get_mut(&r.key).expect("ensured");
            slot.part.unacquire(&args.member, r.deadline, reached);
            given_back = true;
        }
        let sent: Vec<Acquired> = r
            .acquired
            .iter()
            .filter(|a| a.first < reached)
            .map(|a| Acquired {
                last: a.last.min(reached - 1),
                ..*a
            })
            .collect();
        if let Some(e) = read.error {
            outcome.fetch_error = Some(e);
        } else if !sent.is_empty() {
            outcome.acquired = sent;
            outcome.read = Some(shard.sendable(&r.req, read));
        }
    }
    {
        let parts = shares.parts.borrow();
        let now = crate::storage::log::now_ms();
        for (index, key, wait_floor) in &fetched {
            if let Some(slot) = parts.get(key) {
                let p = &slot.part;
                out[*index].wait_offset = p
                    .next_acquirable(i64::MAX, &args.settings)
                    .map(|_| p.end_offset().max(*wait_floor));
                out[*index].wakeup_ms = p.next_wakeup(now);
                out[*index].holds_full_window = out[*index].acquired.is_empty()
                    && p.next_acquirable(i64::MAX, &args.settings).is_none()
                    && p.held_by(&args.member);
            }
        }
    }
    if let Err(e) = shares.persist(&touched).await {
        tracing::error!("shard {}: share state write failed: {e}", shard.id);
        for o in &mut out {
            o.acquired.clear();
            o.read = None;
            if o.ack_error.is_none() {
                o.ack_error = Some((e.kafka_code(), e.to_string()));
            }
            o.fetch_error = Some(BrokerError::ShareState {
                reason: e.to_string(),
            });
        }
        return out;
    }
    if !archived_all.is_empty() {
        shares.dlq_wake.notify_waiters();
    }
    // Wake the polls waiting on these windows only if something is left for them to acquire:
    // a fetch that acknowledges usually takes what its acknowledgements freed itself, and
    // waking every waiting member for nothing cost each of them a look (16 members on a
    // 2,000-record window: 12 waiting, woken at every acknowledgement).
    if (any_freed || given_back)
        && left_to_acquire(shares, &touched, &high_watermarks, &args.settings)
    {
        shares.window_changed();
    }
    let seen = shares.window_changes.get();
    for o in &mut out {
        o.window_seen = seen;
    }
    for (key, archived) in archived_all {
        for a in archived {
            tracing::debug!(
                "share group {}: {}-{} offsets {}..={} archived ({:?}, delivered {} times)",
                key.0,
                key.1,
                key.2,
                a.first,
                a.last,
                a.reason,
                a.delivery_count
            );
        }
    }
    out
}

/// Batch-optimized acquisition (KIP-1206, Kafka's default): the read returned whole batches
/// up to `next_offset`, so the records after the acquisition up to there are acquired too
/// (those still available, within the window) instead of being sent unacquired and sent
/// again by the next answer.
fn extend_to_batch_end(
    shares: &Shares,
    r: &mut PendingRead,
    member: &Rc<str>,
    next_offset: i64,
    settings: &ShareSettings,
) {
    let last = r.acquired[r.acquired.len() - 1].last;
    if next_offset <= last + 1 {
        return;
    }
    let more = {
        let mut parts = shares.parts.borrow_mut();
        let Some(slot) = parts.get_mut(&r.key) else {
            return;
        };
        slot.part.acquire(
            member,
            last + 1,
            next_offset - 1,
            next_offset - 1 - last,
            r.acquired_at,
            settings,
        )
    };
    for a in more {
        match r.acquired.last_mut() {
            Some(p) if p.last + 1 == a.first && p.delivery_count == a.delivery_count => {
                p.last = a.last
            }
            _ => r.acquired.push(a),
        }
    }
}

/// read_committed (KIP-932): the acquired records of aborted transactions are archived
/// undelivered (no delivery counted, no dead-letter copy) and left out of the acquired ranges,
/// as Kafka's share-partition does; their bytes may still travel in a batch the answer sends
/// (the client drops records it did not acquire). Only when an aborted transaction overlaps
/// the acquisition are the batch headers looked at (read again from the page cache).
async fn archive_aborted(shares: &Shares, r: &mut PendingRead, member: &Rc<str>) {
    let (first, last) = (r.acquired[0].first, r.acquired[r.acquired.len() - 1].last);
    let aborted = r.log.aborted_ranges_between(first, last + 1);
    if aborted.is_empty() {
        return;
    }
    let batches = match r.log.read_batches(first, u64::MAX, last).await {
        Ok((_, batches)) => batches,
        Err(e) => {
            // The records stay acquired and go out: better delivered than lost; logged.
            tracing::error!(
                "share group {}: {}-{}: aborted transactions not filtered: {e}",
                r.key.0,
                r.key.1,
                r.key.2
            );
            return;
        }
    };
    let mut cut: Vec<(i64, i64)> = Vec::new();
    for b in &batches {
        let h = &b.header;
        if !h.is_transactional() || h.is_control() {
            continue;
        }
        let is_aborted = aborted.iter().any(|&(pid, from, marker)| {
            pid == h.producer_id && from <= h.base_offset && h.base_offset < marker
        });
        if is_aborted {
            let (lo, hi) = (h.base_offset.max(first), h.last_offset().min(last));
            if lo <= hi {
                cut.push((lo, hi));
            }
        }
    }
    if cut.is_empty() {
        return;
    }
    {
        let mut parts = shares.parts.borrow_mut();
        if let Some(slot) = parts.get_mut(&r.key) {
            for &(lo, hi) in &cut {
                slot.part.archive_acquired(member, r.deadline, lo, hi);
            }
        }
    }
    r.acquired = subtract_ranges(&r.acquired, &cut);
}

/// `acquired` without the offsets in `cut` (both in offset order).
fn subtract_ranges(acquired: &[Acquired], cut: &[(i64, i64)]) -> Vec<Acquired> {
    let mut out = Vec::new();
    for a in acquired {
        let mut lo = a.first;
        for &(c_lo, c_hi) in cut {
            if c_hi < lo || c_lo > a.last {
                continue;
            }
            if c_lo > lo {
                out.push(Acquired {
                    first: lo,
                    last: c_lo - 1,
                    ..*a
                });
            }
            lo = lo.max(c_hi + 1);
        }
        if lo <= a.last {
            out.push(Acquired { first: lo, ..*a });
        }
    }
    out
}

/// Whether any of `keys` has records another member could acquire now (below its high
/// watermark in `high_watermarks`, the same order).
fn left_to_acquire(
    shares: &Shares,
    keys: &[PartKey],
    high_watermarks: &[i64],
    settings: &ShareSettings,
) -> bool {
    let parts = shares.parts.borrow();
    let now = crate::storage::log::now_ms();
    keys.iter().zip(high_watermarks).any(|(key, &hw)| {
        parts.get(key).is_some_and(|slot| {
            slot.part
                .next_acquirable(now, settings)
                .is_some_and(|from| from < hw)
        })
    })
}

/// Creates the slot of a share-partition the group reads for the first time, starting where
/// `share.auto.offset.reset` says.
async fn ensure_slot(
    shard: &ShardState,
    key: &PartKey,
    args: &OwnerArgs,
    log: &Rc<crate::storage::Log>,
) -> Result<(), BrokerError> {
    if shard.shares.parts.borrow().contains_key(key) {
        return Ok(());
    }
    if shard.shares.parts.borrow().len() >= PARTITIONS_PER_SHARD_MAX {
        return Err(BrokerError::ShareState {
            reason: format!(
                "this shard holds {PARTITIONS_PER_SHARD_MAX} share-partitions, its bound"
            ),
        });
    }
    let start = match args.reset {
        AutoReset::Latest => log.high_watermark(),
        AutoReset::Earliest => log.log_start_offset(),
        AutoReset::ByDuration(ms) => {
            let at = crate::storage::log::now_ms().saturating_sub(ms);
            match log.record_for_timestamp(at).await {
                Ok(Some((offset, _))) => offset,
                Ok(None) => log.high_watermark(),
                Err(e) => return Err(BrokerError::Storage(e)),
            }
        }
    };
    // Another request may have created it while the lookup above waited.
    shard
        .shares
        .parts
        .borrow_mut()
        .entry(key.clone())
        .or_insert_with(|| {
            Slot::new(
                SharePartition::new(start),
                Vec::new(),
                args.settings.clone(),
            )
        });
    Ok(())
}

/// Ends expired locks on every share-partition of this shard (and persists what changed).
pub async fn sweep(shard: &Rc<ShardState>) {
    let now = crate::storage::log::now_ms();
    let mut touched = Vec::new();
    let mut archived_all = Vec::new();
    {
        let mut parts = shard.shares.parts.borrow_mut();
        for (key, slot) in parts.iter_mut() {
            if slot.live && slot.part.next_wakeup(now).is_some_and(|t| t <= now) {
                let settings = slot.settings.clone();
                let archived = slot.part.expire_locks(now, &settings);
                if !archived.is_empty() {
                    archived_all.push((key.clone(), archived));
                }
                touched.push(key.clone());
            }
        }
    }
    finish_changes(shard, &touched, archived_all).await;
}

/// Plans the dead-letter copies of archived records (each share-partition's last seen
/// dead-letter topic), persists `touched` (with the plans, in one write) and wakes the writer.
async fn finish_changes(
    shard: &Rc<ShardState>,
    touched: &[PartKey],
    archived_all: Vec<(PartKey, Vec<Archived>)>,
) {
    if touched.is_empty() {
        return;
    }
    plan_copies(shard, &archived_all).await;
    if let Err(e) = shard.shares.persist(touched).await {
        tracing::error!("shard {}: share state write failed: {e}", shard.id);
    }
    if !archived_all.is_empty() {
        shard.shares.dlq_wake.notify_waiters();
    }
    // Ended locks and released records are available again.
    shard.shares.window_changed();
}

/// Adds the planned dead-letter copies of `archived_all` to their share-partitions (not yet
/// persisted: the caller's next write carries them).
async fn plan_copies(shard: &Rc<ShardState>, archived_all: &[(PartKey, Vec<Archived>)]) {
    for (key, archived) in archived_all {
        let target = shard
            .shares
            .parts
            .borrow()
            .get(key)
            .and_then(|s| s.dlq.clone());
        let Some(target) = target else { continue };
        match dlq::plan(shard, key, archived, &target).await {
            Ok(planned) => {
                if let Some(slot) = shard.shares.parts.borrow_mut().get_mut(key) {
                    slot.part.add_pending_dlq(planned);
                }
            }
            Err(e) => tracing::warn!(
                "share group {}: {}-{}: no dead-letter copy: {e}",
                key.0,
                key.1,
                key.2
            ),
        }
    }
}

/// Releases everything `member` holds in `group` on this shard (it left the group).
pub async fn release_member(shard: Rc<ShardState>, group: String, member: String) {
    let now = crate::storage::log::now_ms();
    let mut touched = Vec::new();
    let mut archived_all = Vec::new();
    {
        let mut parts = shard.shares.parts.borrow_mut();
        for (key, slot) in parts.iter_mut() {
            if key.0 == group {
                let settings = slot.settings.clone();
                let archived = slot.part.release_member(&member, now, &settings);
                if !archived.is_empty() {
                    archived_all.push((key.clone(), archived));
                }
                touched.push(key.clone());
            }
        }
    }
    finish_changes(&shard, &touched, archived_all).await;
}

/// Runs the sweep on this shard until shutdown.
pub async fn run_sweeper(shard: Rc<ShardState>) {
    use crate::runtime::future::{select, Either};
    loop {
        if shard.shutting_down.get() {
            return;
        }
        let tick = crate::runtime::time::sleep(std::time::Duration::from_millis(SWEEP_MS));
        if let Either::Right(()) = select(tick, shard.shutdown.notified()).await {
            return;
        }
        sweep(&shard).await;
    }
}

/// The share sessions a connection opened, ended when it closes (Kafka removes a
/// connection's share sessions and releases their members' records when it disconnects, so
/// a crashed consumer's records come back at once instead of when their locks end).
#[derive(Default)]
pub struct ConnectionShares {
    /// (shard, connection number).
    pub id: std::cell::Cell<(usize, u64)>,
    opened: RefCell<Vec<(String, String)>>,
}

/// Most (group, member) pairs one connection's close releases; a connection opening more
/// (a client cycling member ids) leaves the rest to their locks.
pub const CONNECTION_SESSIONS_MAX: usize = 64;

impl ConnectionShares {
    /// The connection opened (epoch 0) a share session of `member` in `group`.
    pub fn opened(&self, group: &str, member: &str) {
        let mut opened = self.opened.borrow_mut();
        if opened.len() < CONNECTION_SESSIONS_MAX
            && !opened.iter().any(|(g, m)| g == group && m == member)
        {
            opened.push((group.to_string(), member.to_string()));
        }
    }

    /// The connection closed: each session it opened and still holds ends on its group's
    /// coordinator, and its member's records are released on every shard (in the background).
    pub fn closed(&self, shard: &Rc<ShardState>) {
        let id = self.id.get();
        for (group, member) in self.opened.take() {
            let target = crate::routing::group_coordinator(&group, shard.count);
            let shard = shard.clone();
            crate::runtime::spawn(async move {
                shard
                    .call(target, move |s| async move {
                        let owned = s
                            .shares
                            .sessions
                            .borrow()
                            .get(&(group.clone(), member.clone()))
                            .is_some_and(|session| session.connection == Some(id));
                        if owned {
                            tracing::debug!(
                                "share group {group}: member {member}'s connection closed: \
                                 its session ends and its records are released"
                            );
                            release_everywhere(&s, group, member);
                        }
                    })
                    .await;
            });
        }
    }
}

/// Releases, on every shard, what `member` of `group` holds (it left or timed out); in the
/// background.
pub fn release_everywhere(shard: &Rc<ShardState>, group: String, member: String) {
    // Also forget its share session (this is the coordinator shard).
    shard
        .shares
        .sessions
        .borrow_mut()
        .remove(&(group.clone(), member.clone()));
    for target in 0..shard.count {
        let (shard, group, member) = (shard.clone(), group.clone(), member.clone());
        crate::runtime::spawn(async move {
            shard
                .call(target, move |s| release_member(s, group, member))
                .await;
        });
    }
}

/// One partition named by a ShareFetch/ShareAcknowledge request, or in its session.
#[derive(Clone, Debug)]
pub struct Wanted {
    /// The topic id the client used.
    pub topic_id: uuid::Uuid,
    /// The partition index.
    pub partition: i32,
    /// Its acknowledgements in this request.
    pub acks: Vec<AckBatch>,
}

impl Wanted {
    /// A named partition with the acknowledgement batches a request carries for it.
    pub fn new(
        topic_id: uuid::Uuid,
        partition: i32,
        batches: &[crate::protocol::messages::ShareAcknowledgementBatch],
    ) -> Wanted {
        Wanted {
            topic_id,
            partition,
            acks: batches
                .iter()
                .map(|b| AckBatch {
                    first: b.first_offset,
                    last: b.last_offset,
                    types: b.acknowledge_types.clone(),
                })
                .collect(),
        }
    }
}

/// A served share request: per partition, what its owner did (or why it could not).
pub struct Served {
    /// `share.record.lock.duration.ms` in effect.
    pub lock_ms: i64,
    /// In request order, then the session's other partitions.
    pub parts: Vec<(uuid::Uuid, i32, Result<PartOutcome, BrokerError>)>,
}

/// What a ShareFetch asks beyond acknowledging (`None` for ShareAcknowledge).
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
    /// Most records to acquire.
    pub max_records: i64,
    /// Most bytes to read.
    pub max_bytes: u64,
    /// Acquisition ends with the last batch read (KIP-1206 batch_optimized; `max_records` is
    /// then a soft limit) instead of at exactly `max_records` (record_limit).
    pub whole_batches: bool,
    /// Bytes to wait for.
    pub min_bytes: u64,
    /// The connection the ShareFetch came on ([`ConnectionShares::id`]).
    pub connection: (usize, u64),
    /// Longest long poll.
    pub max_wait: std::time::Duration,
}

/// Longest pause of a share long poll between looks at the share-partitions: locks and
/// backoffs end without an append to wake the poll.
pub const POLL_SLICE_MS: u64 = 200;

/// Serves a ShareFetch (with `fetch`) or ShareAcknowledge: the session step on the group's
/// coordinator, then each owner's work, then (ShareFetch) the long poll until something was
/// acquired, `min_bytes` or the wait ends.
pub async fn serve(
    shard: &Rc<ShardState>,
    group: String,
    member: String,
    epoch: i32,
    wanted: Vec<Wanted>,
    forgotten: Vec<(uuid::Uuid, i32)>,
    fetch: Option<FetchLimits>,
) -> Result<Served, group::Refusal> {
    let target = crate::routing::group_coordinator(&group, shard.count);
    let step = group::SessionStep {
        epoch,
        added: wanted.iter().map(|w| (w.topic_id, w.partition)).collect(),
        forgotten,
        has_acks: wanted.iter().any(|w| !w.acks.is_empty()),
        ack_only: fetch.is_none(),
        connection: fetch.map(|f| f.connection),
    };
    let (g, m) = (group.clone(), member.clone());
    let (view, configs) = shard
        .call(target, move |s| async move {
            let view = group::session_step(&mut s.shares.sessions.borrow_mut(), &g, &m, step)?;
            let configs = s
                .shares
                .configs
                .borrow()
                .get(&g)
                .cloned()
                .unwrap_or_default();
            Ok((view, configs))
        })
        .await
        .unwrap_or_else(|| {
            Err(group::Refusal::new(
                group::codes::COORDINATOR_NOT_AVAILABLE,
                "the group coordinator shard is not available",
            ))
        })?;
    let settings = configs.settings(&shard.config.share);
    // Partitions to work on: those named (with their acks), then the session's others (to
    // fetch from), each once.
    let mut todo: Vec<Wanted> = Vec::new();
    for w in wanted {
        match todo
            .iter_mut()
            .find(|t| (t.topic_id, t.partition) == (w.topic_id, w.partition))
        {
            Some(t) => t.acks.extend(w.acks),
            None => todo.push(w),
        }
    }
    if fetch.is_some() || view.closed {
        for &(topic_id, partition) in &view.partitions {
            if !todo
                .iter()
                .any(|t| (t.topic_id, t.partition) == (topic_id, partition))
            {
                todo.push(Wanted {
                    topic_id,
                    partition,
                    acks: Vec::new(),
                });
            }
        }
    }
    let do_fetch = fetch.is_some() && !view.closed;
    let dlq = dlq::target(shard, &group, &configs).await;
    let args = OwnerArgs {
        group,
        member,
        settings: settings.clone(),
        reset: configs.auto_reset.unwrap_or_default(),
        // `max_records` bounds the whole request (as in Kafka): shared by its partitions.
        max_records: fetch.map_or(0, |f| (f.max_records / todo.len().max(1) as i64).max(1)),
        // The response's bytes shared by its partitions (each still returns at least a batch).
        max_bytes: fetch.map_or(0, |f| f.max_bytes / todo.len().max(1) as u64),
        whole_batches: fetch.is_some_and(|f| f.whole_batches),
        release: view.closed,
        dlq,
    };
    let resolved: Vec<Result<Arc<str>, Unresolved>> = {
        let catalog = shard.catalog.borrow();
        todo.iter()
            .map(|t| match catalog.name_of(t.topic_id) {
                None => Err(Unresolved::TopicId(t.topic_id)),
                Some(name) => match catalog.get(name) {
                    Some(meta) if t.partition >= 0 && t.partition < meta.partitions => {
                        Ok(Arc::from(name))
                    }
                    _ => Err(Unresolved::Partition(name.to_string(), t.partition)),
                },
            })
            .collect()
    };
    let mut results = run_owners(shard, &args, &todo, &resolved, do_fetch, true).await;
    if let Some(limits) = fetch.filter(|_| do_fetch) {
        let deadline = std::time::Instant::now() + limits.max_wait;
        loop {
            let bytes: u64 = results
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .filter_map(|o| o.read.as_ref())
                .map(ReadResultMsg::bytes)
                .sum();
            let acquired = results
                .iter()
                .any(|r| r.as_ref().is_ok_and(|o| !o.acquired.is_empty()));
            let now = std::time::Instant::now();
            let blocked_by_own = results
                .iter()
                .any(|r| r.as_ref().is_ok_and(|o| o.holds_full_window));
            if acquired && bytes >= limits.min_bytes.max(1)
                || blocked_by_own
                || now >= deadline
                || shard.shutting_down.get()
                || (acquired && limits.min_bytes <= 1)
            {
                break;
            }
            // Wait for an append past a window's end, a lock or backoff to end, or the deadline.
            let now_ms = crate::storage::log::now_ms();
            let mut slice = (deadline - now).min(std::time::Duration::from_millis(POLL_SLICE_MS));
            let mut waits = Vec::new();
            for (t, r) in resolved.iter().zip(&results) {
                let (Ok(topic), Ok(o)) = (t, r) else { continue };
                if let Some(at) = o.wakeup_ms {
                    let until = std::time::Duration::from_millis((at - now_ms).max(0) as u64);
                    slice = slice.min(until);
                }
                if let Some(offset) = o.wait_offset {
                    let w = todo
                        .iter()
                        .zip(&resolved)
                        .find(|(_, x)| x.as_ref().ok() == Some(topic));
                    if let Some((w, _)) = w {
                        waits.push((topic.clone(), w.partition, offset));
                    }
                }
            }
            // ... or for an acknowledgement, release or ended lock on an owner, which can free
            // a full window or make records available again.
            let mut owners: Vec<(usize, u64)> = Vec::new();
            for ((w, t), r) in todo.iter().zip(&resolved).zip(&results) {
                if let (Ok(topic), Ok(o)) = (t, r) {
                    let owner = shard.owner(topic, w.partition);
                    if !owners.iter().any(|&(s, _)| s == owner) {
                        owners.push((owner, o.window_seen));
                    }
                }
            }
            let data = async {
                if waits.is_empty() {
                    crate::runtime::time::sleep(slice).await;
                } else {
                    shard.wait_for_data(waits, slice).await;
                }
            };
            crate::runtime::future::select(data, window_change(shard, owners, slice)).await;
            if acquired {
                break;
            }
            // Fetch again (the acknowledgements were applied in the first pass; their
            // outcomes stay in the answer).
            let again = run_owners(shard, &args, &todo, &resolved, true, false).await;
            results = results
                .into_iter()
                .zip(again)
                .map(|(old, new)| match (old, new) {
                    (Ok(old), Ok(mut new)) => {
                        new.ack_error = old.ack_error;
                        Ok(new)
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                })
                .collect();
        }
    }
    Ok(Served {
        lock_ms: settings.lock_ms,
        parts: todo
            .iter()
            .zip(results)
            .map(|(t, r)| (t.topic_id, t.partition, r))
            .collect(),
    })
}

/// Resolves at the first window change on any of `owners` after the count seen there, or
/// after `wait` (each owner's wait is bounded by it too, so none outlives this poll by more).
async fn window_change(
    shard: &Rc<ShardState>,
    owners: Vec<(usize, u64)>,
    wait: std::time::Duration,
) {
    let waits: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>> = owners
        .into_iter()
        .map(|(owner, seen)| {
            Box::pin(async move {
                shard
                    .call(owner, move |s| async move {
                        s.shares.window_change_after(seen, wait).await
                    })
                    .await;
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
        })
        .collect();
    if waits.is_empty() {
        crate::runtime::time::sleep(wait).await;
        return;
    }
    let _ = crate::runtime::time::timeout(wait, crate::runtime::future::select_any(waits)).await;
}

/// A partition the catalog does not know.
#[derive(Clone, Debug)]
enum Unresolved {
    TopicId(uuid::Uuid),
    Partition(String, i32),
}

impl Unresolved {
    fn error(&self) -> BrokerError {
        match self {
            Unresolved::TopicId(id) => BrokerError::UnknownTopicId { id: *id },
            Unresolved::Partition(topic, partition) => BrokerError::UnknownPartition {
                topic: topic.clone(),
                partition: *partition,
            },
        }
    }
}

/// Sends each owner its partitions' work (acks only with `with_acks`) and collects the
/// outcomes in `todo` order.
async fn run_owners(
    shard: &Rc<ShardState>,
    args: &OwnerArgs,
    todo: &[Wanted],
    resolved: &[Result<Arc<str>, Unresolved>],
    fetch: bool,
    with_acks: bool,
) -> Vec<Result<PartOutcome, BrokerError>> {
    let mut by_owner: HashMap<usize, Vec<(usize, PartWork)>> = HashMap::new();
    let mut out: Vec<Option<Result<PartOutcome, BrokerError>>> = Vec::with_capacity(todo.len());
    for (i, (t, r)) in todo.iter().zip(resolved).enumerate() {
        match r {
            Err(e) => out.push(Some(Err(e.error()))),
            Ok(topic) => {
                out.push(None);
                by_owner
                    .entry(shard.owner(topic, t.partition))
                    .or_default()
                    .push((
                        i,
                        PartWork {
                            topic: topic.clone(),
                            partition: t.partition,
                            acks: if with_acks {
                                t.acks.clone()
                            } else {
                                Vec::new()
                            },
                            fetch,
                        },
                    ));
            }
        }
    }
    let calls = by_owner.into_iter().map(|(owner, work)| {
        let (idx, work): (Vec<usize>, Vec<PartWork>) = work.into_iter().unzip();
        let args = args.clone();
        async move {
            let outcomes = shard.call(owner, move |s| on_owner(s, args, work)).await;
            (owner, idx, outcomes)
        }
    });
    for (owner, idx, outcomes) in crate::runtime::future::join_all(calls.collect()).await {
        let mut outcomes = outcomes.map(|o| o.into_iter());
        for i in idx {
            out[i] = Some(match outcomes.as_mut().and_then(|o| o.next()) {
                Some(o) => Ok(o),
                None => Err(BrokerError::ShardUnavailable {
                    shard: owner,
                    op: "share fetch",
                }),
            });
        }
    }
    out.into_iter()
        .map(|o| o.expect("every partition answered"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::log::FlushPolicy;
    use std::time::Duration;

    #[test]
    fn share_state_syncs_at_an_interval_under_flush_always_and_follows_the_others() {
        assert_eq!(
            state_flush(FlushPolicy::Always),
            FlushPolicy::Interval(Duration::from_millis(STATE_SYNC_INTERVAL_MS))
        );
        let every = FlushPolicy::Interval(Duration::from_millis(7));
        assert_eq!(state_flush(every), every);
        assert_eq!(state_flush(FlushPolicy::Never), FlushPolicy::Never);
    }
}
