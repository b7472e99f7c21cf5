//! One shard's timer: the timer log (durable), the wheel of slots over it, the loaded queue,
//! and the delivery rounds. Design and invariants are in the module doc (`delay/mod.rs`).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::header::{HeldBatch, HeldRecord};
use super::record::{
    decode_record, encode_record, AcceptRec, CheckpointRec, EntryRec, IntentRec, TimerRecord,
};
use super::TopicDelays;
use crate::error::BrokerError;
use crate::runtime::future::{join_all, select, Either};
use crate::runtime::sync::Notify;
use crate::storage::batch::BatchHeader;
use crate::storage::log::now_ms;
use crate::storage::producer::seq_add;
use crate::storage::records::{encode_batch, BatchMeta, Record};
use crate::storage::state_log::{self, Entry, Scan, Update};
use crate::storage::validate::AppendOrigin;
use crate::storage::{
    AppendTurn, CheckedAppend, Engine, Error as StorageError, FlushPolicy, HeldAppend, Log,
    LogConfig,
};

/// Family of the timer logs under the state directory: `__ringlog_state/timers/shard-{n}`.
pub const FAMILY: &str = "timers";
/// Slots of the wheel, one per second: 2^17 s is about 36.4 hours. A record due later sits in
/// the last slot of the window and is written again ("rolled") when that slot comes: once per
/// 36 hours of its wait. A slot costs 16 bytes (its second and the offset of its newest
/// entry), so the wheel is 2 MiB per shard whatever is pending.
pub const WHEEL_SLOTS: i64 = 1 << 17;
/// Slots are loaded this many seconds before their time (so a slot's records are in memory,
/// ordered by due millisecond, before the first is due).
pub const LOOKAHEAD_SECS: i64 = 1;
/// Most loaded records held in memory (about 150 bytes each besides their own bytes, so at
/// most ~40 MiB plus [`LOADED_BYTES_MAX`]); loading pauses above it. It is also about what
/// one shard delivers in a second: a second with more records due than this keeps due order
/// within that second only as far as it fits. Records taken in for a slot
/// already loaded (due within about `LOOKAHEAD_SECS`) are added all the same: what they add
/// is bounded by the produce rate over the look-ahead, not by how much is pending.
pub const LOADED_MAX: usize = 1 << 18;
/// Most bytes of loaded records (their keys, values and headers) held in memory.
pub const LOADED_BYTES_MAX: usize = 64 << 20;
/// Most records one delivery round moves (one intent write, one append per partition).
pub const ROUND_RECORDS_MAX: usize = 8_192;
/// Most record bytes one delivery round moves.
pub const ROUND_BYTES_MAX: usize = 4 << 20;
/// Uncompressed bytes of records per delivery batch (well under Kafka's 1 MiB batch default
/// also when a codec compresses badly).
pub const DELIVERY_BATCH_BYTES: usize = 512 << 10;
/// How often the timer writes a checkpoint and drops drained segments of its log.
pub const CHECKPOINT_INTERVAL_MS: u64 = 500;
/// Pending records are counted per run of 2^12 timer log offsets: the lowest non-empty run
/// bounds what the log may drop.
const BUCKET_SHIFT: u32 = 12;
/// Bytes read per step when a slot's chain leads to a batch not in the cache: 1 reads exactly
/// the batch holding the entry (a chain's next entry is often in another produce's batch, so
/// reading ahead decodes records the walk does not want).
const WALK_READ_BYTES: u64 = 1;
/// Batches of the timer log kept decoded while walking chains (at most 4 MiB each, so at most
/// 32 MiB; a walk mostly hits the last few).
const WALK_CACHE_BLOCKS: usize = 8;
/// Chain steps one loading pass takes before due records are delivered again: a backlog of
/// slots (after a restart) is loaded while the records already loaded go out.
const LOAD_STEPS_MAX: usize = 4_096;
/// Segment size of the timer log: drained segments are dropped whole.
pub const TIMER_SEGMENT_BYTES: u64 = 64 << 20;

/// Sizes of a timer (tests shrink them to reach rolls and the memory bound quickly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// Slots of the wheel ([`WHEEL_SLOTS`]).
    pub wheel_slots: i64,
    /// Most loaded records ([`LOADED_MAX`]).
    pub loaded_max: usize,
    /// Most bytes of loaded records ([`LOADED_BYTES_MAX`]).
    pub loaded_bytes_max: usize,
    /// Segment size of the timer log ([`TIMER_SEGMENT_BYTES`]): drained segments are dropped
    /// whole.
    pub segment_bytes: u64,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            wheel_slots: WHEEL_SLOTS,
            loaded_max: LOADED_MAX,
            loaded_bytes_max: LOADED_BYTES_MAX,
            segment_bytes: TIMER_SEGMENT_BYTES,
        }
    }
}

/// The idempotent producer id with which shard `shard` delivers due records. Above every id
/// the broker hands out (Produce refuses ids at or above the allocator's bound), so no client
/// can write with it.
pub fn rounds_producer_id(shard: usize) -> i64 {
    i64::MAX - 2 * shard as i64
}

/// The producer id with which shard `shard` appends the records due now of a batch that also
/// held delayed ones (a second id: its sequences are taken under the partition's lock, the
/// rounds' ones by the single delivery loop).
pub fn now_producer_id(shard: usize) -> i64 {
    i64::MAX - 2 * shard as i64 - 1
}

/// A partition by topic and index.
type PartitionKey = (Arc<str>, i32);

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    sec: i64,
    head: i64,
}

/// A loaded record, ordered by when it is taken out (`at`), then by its offset.
#[derive(Debug)]
struct Loaded {
    at: i64,
    offset: i64,
    entry: EntryRec,
}

impl PartialEq for Loaded {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.offset) == (other.at, other.offset)
    }
}
impl Eq for Loaded {}
impl PartialOrd for Loaded {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Loaded {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.offset).cmp(&(other.at, other.offset))
    }
}

/// When a loaded entry is taken out: at its due time, or at the start of its slot when it is
/// due later than the wheel reaches (it is rolled then).
fn take_at(e: &EntryRec) -> i64 {
    if e.fire < e.due.div_euclid(1000) {
        e.fire.saturating_mul(1000)
    } else {
        e.due
    }
}

#[derive(Default, Debug)]
struct TopicStats {
    pending: u64,
    delivered: u64,
    /// Pending records per slot second.
    fires: BTreeMap<i64, u32>,
}

/// A slot being loaded: its second and the next entry of its chain.
#[derive(Clone, Copy, Debug)]
struct Walk {
    sec: i64,
    next: i64,
}

struct Block {
    first: i64,
    last: i64,
    entries: Vec<Entry>,
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    /// The next second the loader loads (every earlier slot is loaded or done).
    cursor: i64,
    walk: Option<Walk>,
    loaded: BinaryHeap<Reverse<Loaded>>,
    loaded_bytes: usize,
    /// The offset the next timer log record gets (writes are staged in order).
    next_offset: i64,
    /// Slots of entries staged and not yet accounted (written or failed).
    staged_fires: BTreeMap<i64, u32>,
    /// Slots of the entries of the round being delivered, until its intents are durable.
    round_fires: BTreeMap<i64, u32>,
    /// Partitions the round being delivered appends to.
    round_partitions: HashSet<PartitionKey>,
    /// Intents whose appends have not completed.
    open_intents: BTreeSet<i64>,
    /// The last checkpoint written.
    done_through: i64,
    checkpoint_offset: i64,
    redo_from: i64,
    /// Pending entries per bucket of offsets.
    buckets: BTreeMap<i64, u64>,
    topics: HashMap<Arc<str>, TopicStats>,
    /// Entries found done at open (by intents or rolls after the checkpoint).
    done_at_open: HashSet<i64>,
    /// Partitions whose producer state took batches since their last snapshot.
    accepted: HashSet<(Arc<str>, i32)>,
    cache: VecDeque<Block>,
}

impl State {
    fn count(&mut self, e: &EntryRec, offset: i64, delta: i64) {
        let b = self.buckets.entry(offset >> BUCKET_SHIFT).or_default();
        *b = b.saturating_add_signed(delta);
        if *b == 0 {
            self.buckets.remove(&(offset >> BUCKET_SHIFT));
        }
        let t = self.topics.entry(e.topic.clone()).or_default();
        t.pending = t.pending.saturating_add_signed(delta);
        let f = t.fires.entry(e.fire).or_default();
        *f = (i64::from(*f) + delta).max(0) as u32;
        if *f == 0 {
            t.fires.remove(&e.fire);
        }
    }

    fn forget(&mut self, topic: &Arc<str>, offset: i64, fire: i64) {
        let b = self.buckets.entry(offset >> BUCKET_SHIFT).or_default();
        *b = b.saturating_sub(1);
        if *b == 0 {
            self.buckets.remove(&(offset >> BUCKET_SHIFT));
        }
        let t = self.topics.entry(topic.clone()).or_default();
        t.pending = t.pending.saturating_sub(1);
        if let Some(f) = t.fires.get_mut(&fire) {
            *f = f.saturating_sub(1);
            if *f == 0 {
                t.fires.remove(&fire);
            }
        }
    }

    fn push(&mut self, offset: i64, mut entry: EntryRec) {
        // A record read back is a slice of the batch it was read in: copied, so a loaded record
        // holds its own bytes and not its whole batch (up to 4 MiB each) in memory.
        entry.record = Bytes::copy_from_slice(&entry.record);
        // One allocation per topic name, not one per loaded record.
        if let Some((name, _)) = self.topics.get_key_value(&entry.topic) {
            entry.topic = name.clone();
        }
        self.loaded_bytes += entry.record.len();
        self.loaded.push(Reverse(Loaded {
            at: take_at(&entry),
            offset,
            entry,
        }));
    }

    fn add_fire(map: &mut BTreeMap<i64, u32>, fire: i64, delta: i64) {
        let f = map.entry(fire).or_default();
        *f = (i64::from(*f) + delta).max(0) as u32;
        if *f == 0 {
            map.remove(&fire);
        }
    }
}

/// Records staged for one write: their turn in the timer log's order, the encoded buffer, and
/// the offset of the first.
struct Staged {
    turn: AppendTurn,
    bytes: Vec<u8>,
    first: i64,
    records: Vec<TimerRecord>,
    /// Per record: an entry the loader will not find (its slot was loaded, or is being
    /// loaded from an older head), so the write loads it itself. Decided when staged: by the
    /// time the write is durable the loader may already have walked the slot.
    direct: Vec<bool>,
}

/// One shard's timer.
pub struct Timer {
    config: TimerConfig,
    shard: usize,
    shards: usize,
    log: Rc<Log>,
    st: RefCell<State>,
    /// Wakes the delivery loop (a record was loaded or taken in).
    wake: Notify,
    failed: RefCell<Option<String>>,
}

impl Timer {
    /// Opens shard `shard`'s timer log under `data_dir`, puts the producer state it recorded
    /// back into the partitions, finishes the deliveries a crash interrupted, and rebuilds the
    /// wheel. The broker does not serve before this returns.
    pub async fn open(
        data_dir: &Path,
        shard: usize,
        shards: usize,
        flush: FlushPolicy,
        config: TimerConfig,
        engine: &Engine,
    ) -> Result<Rc<Timer>, String> {
        if config.wheel_slots < 4
            || config.loaded_max == 0
            || config.loaded_bytes_max == 0
            || config.segment_bytes == 0
        {
            return Err(format!("timer sizes out of range: {config:?}"));
        }
        let dir = state_log::shard_dir(&state_log::state_root(data_dir), FAMILY, shard);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("creating the timer log {}: {e}", dir.display()))?;
        let log = Log::open(
            &dir,
            FAMILY,
            shard as i32,
            timer_log_config(flush, config.segment_bytes),
            false,
        )
        .await
        .map_err(|e| format!("opening the timer log {}: {e}", dir.display()))?;
        let timer = Rc::new(Timer {
            config,
            shard,
            shards,
            log: Rc::new(log),
            st: RefCell::new(State {
                slots: vec![Slot { sec: -1, head: -1 }; config.wheel_slots as usize],
                ..State::default()
            }),
            wake: Notify::new(),
            failed: RefCell::new(None),
        });
        timer
            .recover(Some(engine))
            .await
            .map_err(|e| format!("timer log {}: {e}", dir.display()))?;
        // A checkpoint at once: the shard count and what recovery finished are on disk before
        // anything new is taken in.
        timer
            .write_checkpoint()
            .await
            .map_err(|e| format!("timer log {}: {e}", dir.display()))?;
        if shard == 0 {
            Self::check_retired_shards(data_dir, shards, flush).await?;
        }
        timer
            .catch_up(engine)
            .await
            .map_err(|e| format!("timer log {}: {e}", dir.display()))?;
        Ok(timer)
    }

    /// Delivers every record that fell due while the broker was down, in due order, before
    /// the broker serves: a record produced after the restart (one due on receipt is appended
    /// at once) can then never come before them.
    async fn catch_up(&self, engine: &Engine) -> Result<(), String> {
        let started = std::time::Instant::now();
        let mut delivered = 0usize;
        loop {
            self.load().await.map_err(|e| e.to_string())?;
            let now = now_ms();
            let round = self.take_round(now);
            if round.is_empty() {
                let st = self.st.borrow();
                let loaded_due = st.loaded.peek().is_some_and(|Reverse(l)| l.at <= now);
                if st.cursor > now.div_euclid(1000) && st.walk.is_none() && !loaded_due {
                    break;
                }
                continue;
            }
            delivered += round.len();
            self.deliver(engine, round).await?;
        }
        if delivered > 0 {
            tracing::info!(
                "shard {}: {delivered} delayed records that fell due while the broker was down \
                 delivered in {} ms",
                self.shard,
                started.elapsed().as_millis()
            );
        }
        Ok(())
    }

    /// The timer logs of shards this broker does not have (it was started with more cores
    /// before): refused if they hold pending records, removed if drained.
    async fn check_retired_shards(
        data_dir: &Path,
        shards: usize,
        flush: FlushPolicy,
    ) -> Result<(), String> {
        let family = state_log::state_root(data_dir).join(FAMILY);
        let Ok(dirs) = std::fs::read_dir(&family) else {
            return Ok(());
        };
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let Some(k) = name
                .strip_prefix("shard-")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            if k < shards {
                continue;
            }
            let log = Log::open(
                &d.path(),
                FAMILY,
                k as i32,
                timer_log_config(flush, TIMER_SEGMENT_BYTES),
                false,
            )
            .await
            .map_err(|e| format!("opening the timer log {}: {e}", d.path().display()))?;
            let retired = Timer {
                config: TimerConfig::default(),
                shard: k,
                shards,
                log: Rc::new(log),
                st: RefCell::new(State {
                    slots: vec![Slot { sec: -1, head: -1 }; WHEEL_SLOTS as usize],
                    ..State::default()
                }),
                wake: Notify::new(),
                failed: RefCell::new(None),
            };
            retired
                .recover(None)
                .await
                .map_err(|e| format!("timer log {}: {e}", d.path().display()))?;
            let pending = retired.pending();
            drop(retired);
            if pending > 0 {
                return Err(format!(
                    "{pending} delayed records wait in the timer log of shard {k}, and this                      broker has {shards} shards: start it with --cores {} until they are                      delivered",
                    k + 1
                ));
            }
            std::fs::remove_dir_all(d.path()).map_err(|e| {
                format!("removing the drained timer log {}: {e}", d.path().display())
            })?;
        }
        Ok(())
    }

    /// Rebuilds the wheel and the counts from the log; with an engine also puts the producer
    /// batches back and finishes interrupted deliveries (without one: counting only).
    async fn recover(&self, engine: Option<&Engine>) -> Result<(), String> {
        // Pass 1: the last checkpoint, the slots' newest entries, and the producer batches
        // taken in (put back in log order).
        let mut checkpoint = CheckpointRec {
            done_through: i64::MIN / 4,
            redo_from: self.log.log_start_offset(),
            shards: self.shards as u32,
        };
        let mut checkpoint_offset = -1;
        {
            let mut scan = Scan::new(&self.log);
            while let Some(chunk) = scan.next_chunk().await.map_err(|e| e.to_string())? {
                for e in chunk {
                    let rec = decode(&e)?;
                    match rec {
                        TimerRecord::Checkpoint(c) => {
                            checkpoint = c;
                            checkpoint_offset = e.offset;
                        }
                        TimerRecord::Entry(en) if en.fire >= 0 => {
                            let mut st = self.st.borrow_mut();
                            let slot =
                                &mut st.slots[en.fire.rem_euclid(self.config.wheel_slots) as usize];
                            if en.fire > slot.sec || (en.fire == slot.sec && e.offset > slot.head) {
                                *slot = Slot {
                                    sec: en.fire,
                                    head: e.offset,
                                };
                            }
                        }
                        TimerRecord::Accept(a) => {
                            if let Some(Ok(log)) = engine.map(|e| e.find_log(&a.topic, a.partition))
                            {
                                log.restore_producer_batch(&accept_header(&a));
                                self.st
                                    .borrow_mut()
                                    .accepted
                                    .insert((a.topic.clone(), a.partition));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        let d = checkpoint.done_through;
        // Pass 2: what is pending, what is done, and the intents to finish.
        let start = self.log.log_start_offset();
        let mut redo: Vec<(i64, IntentRec)> = Vec::new();
        let mut min_fire = i64::MAX;
        {
            let mut scan = Scan::new(&self.log);
            while let Some(chunk) = scan.next_chunk().await.map_err(|e| e.to_string())? {
                for e in chunk {
                    let mut st = self.st.borrow_mut();
                    match decode(&e)? {
                        TimerRecord::Entry(en) => {
                            if en.rolled_from >= start
                                && en.rolled_from_fire > d
                                && st.done_at_open.insert(en.rolled_from)
                            {
                                st.forget(&en.topic, en.rolled_from, en.rolled_from_fire);
                            }
                            if en.fire > d {
                                st.count(&en, e.offset, 1);
                                min_fire = min_fire.min(en.fire);
                            }
                        }
                        TimerRecord::Intent(i) => {
                            for &(offset, fire) in &i.entries {
                                if offset >= start && fire > d && st.done_at_open.insert(offset) {
                                    st.forget(&i.topic, offset, fire);
                                }
                            }
                            if e.offset >= checkpoint.redo_from && i.producer_id >= 0 {
                                redo.push((e.offset, i));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        let pending: u64 = self.st.borrow().buckets.values().sum();
        if pending > 0 && checkpoint.shards != self.shards as u32 {
            return Err(format!(
                "{pending} delayed records were taken in by a broker of {} shards; this one has \
                 {}: start it with --cores {} until they are delivered",
                checkpoint.shards, self.shards, checkpoint.shards
            ));
        }
        {
            let mut st = self.st.borrow_mut();
            st.checkpoint_offset = checkpoint_offset;
            st.redo_from = checkpoint.redo_from;
            st.next_offset = self.log.log_end_offset();
            let now_sec = now_ms().div_euclid(1000);
            st.cursor = if min_fire == i64::MAX {
                now_sec
            } else {
                min_fire.max(d + 1)
            };
            // Without a checkpoint nothing is done yet: the window of slots starts where
            // loading starts (new records' slots are placed relative to it).
            st.done_through = if checkpoint_offset >= 0 {
                d
            } else {
                st.cursor - 1
            };
        }
        if let Some(engine) = engine {
            let mut unfinished = None;
            for (offset, intent) in redo {
                if !self.redo(engine, &intent).await && unfinished.is_none() {
                    unfinished = Some(offset);
                }
            }
            let mut st = self.st.borrow_mut();
            st.redo_from = unfinished.unwrap_or(st.next_offset);
        }
        tracing::info!(
            "shard {}: timer log open: {pending} delayed records pending, loading from {}",
            self.shard,
            self.st.borrow().cursor
        );
        Ok(())
    }

    /// Appends an intent's records to its partition again: the partition's producer state
    /// answers a duplicate if they got there before the crash. False if it could not be
    /// finished (its partition is gone counts as finished: there is nowhere to deliver).
    async fn redo(&self, engine: &Engine, i: &IntentRec) -> bool {
        let Ok(log) = engine.find_log(&i.topic, i.partition) else {
            return true;
        };
        // The partition's producer state says whether the intent got there: its sequences are
        // this producer's only, handed out in order (the last 5 batches Kafka's duplicate check
        // keeps would not do: many rounds may have followed the intent before the crash).
        let n = i.entries.len() as i64;
        let intent_last = seq_add(i.base_sequence, n - 1);
        let mut base_sequence = i.base_sequence;
        match log.producer_last(i.producer_id) {
            Some((epoch, last)) if epoch == i.epoch => {
                if seq_add(last, 1) != i.base_sequence {
                    if seq_at_or_after(last, intent_last) {
                        return true;
                    }
                    tracing::error!(
                        "shard {}: an interrupted delivery to {}-{} starts at sequence {} but                          the partition's last is {last}: records between are missing",
                        self.shard,
                        i.topic,
                        i.partition,
                        i.base_sequence
                    );
                    return false;
                }
            }
            Some(_) => {}
            // Forgotten by the partition (expired or evicted): it cannot tell, so the records
            // are delivered (at least once rather than lost), as a producer starting over.
            None => base_sequence = 0,
        }
        let mut entries = Vec::with_capacity(i.entries.len());
        for &(offset, _) in &i.entries {
            match self.read_entry(offset).await {
                Ok(Some(e)) => entries.push(e),
                Ok(None) | Err(_) => {
                    tracing::error!(
                        "shard {}: timer log entry {offset} of an interrupted delivery to \
                         {}-{} is gone; its delivery cannot be finished",
                        self.shard,
                        i.topic,
                        i.partition
                    );
                    return false;
                }
            }
        }
        let records: Vec<HeldRecord> = match entries.iter().map(held_of).collect() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("shard {}: timer log: {e}", self.shard);
                return false;
            }
        };
        let buf = match delivery_batches(&records, i.producer_id, i.epoch, base_sequence) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("shard {}: timer log: {e}", self.shard);
                return false;
            }
        };
        match log.append_as(buf, AppendOrigin::Internal).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(
                    "shard {}: finishing an interrupted delivery to {}-{}: {e}",
                    self.shard,
                    i.topic,
                    i.partition
                );
                false
            }
        }
    }

    fn check_failed(&self) -> Result<(), BrokerError> {
        match &*self.failed.borrow() {
            Some(reason) => Err(BrokerError::TimerFailed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn fail(&self, e: &dyn std::fmt::Display) -> BrokerError {
        let reason = e.to_string();
        tracing::error!(
            "shard {}: the timer log failed, delayed records are refused until a restart: \
             {reason}",
            self.shard
        );
        *self.failed.borrow_mut() = Some(reason.clone());
        BrokerError::TimerFailed { reason }
    }

    /// Assigns offsets (and chains entries into their slots), counts the entries as pending,
    /// encodes, and takes the timer log's next turn: all at once, so the offsets are the ones
    /// the write gets (a failed write fails the timer, so nothing is counted twice or lost
    /// track of).
    fn stage(&self, mut records: Vec<TimerRecord>) -> Result<Staged, BrokerError> {
        let mut st = self.st.borrow_mut();
        let first = st.next_offset;
        let mut direct = vec![false; records.len()];
        for (k, rec) in records.iter_mut().enumerate() {
            if let TimerRecord::Entry(e) = rec {
                if e.rolled_from >= 0 {
                    let topic = e.topic.clone();
                    st.forget(&topic, e.rolled_from, e.rolled_from_fire);
                }
                if e.fire >= 0 {
                    let offset = first + k as i64;
                    let slot = &mut st.slots[e.fire.rem_euclid(self.config.wheel_slots) as usize];
                    e.prev = if slot.sec == e.fire { slot.head } else { -1 };
                    *slot = Slot {
                        sec: e.fire,
                        head: offset,
                    };
                    State::add_fire(&mut st.staged_fires, e.fire, 1);
                    st.count(e, offset, 1);
                    direct[k] = e.fire < st.cursor || st.walk.is_some_and(|w| w.sec == e.fire);
                }
            }
        }
        let updates: Vec<Update> = records
            .iter()
            .map(|r| {
                let (k, v) = r.encode();
                Update::put(k, v)
            })
            .collect();
        let mut bytes = Vec::new();
        state_log::encode_records(&updates, &mut bytes).map_err(|e| self.fail(&e))?;
        st.next_offset += records.len() as i64;
        for (k, rec) in records.iter().enumerate() {
            if let TimerRecord::Intent(_) = rec {
                st.open_intents.insert(first + k as i64);
            }
        }
        Ok(Staged {
            turn: self.log.append_turn(),
            bytes,
            first,
            records,
            direct,
        })
    }

    /// Writes staged records (durable under the broker's flush policy when this returns) and
    /// loads the entries the loader will not find.
    async fn write(&self, staged: Staged) -> Result<(), BrokerError> {
        let Staged {
            turn,
            bytes,
            first,
            records,
            direct,
        } = staged;
        let result = match CheckedAppend::check(
            &self.log.config(),
            FAMILY,
            self.shard as i32,
            Bytes::from(bytes),
            AppendOrigin::Internal,
        ) {
            Ok(checked) => self.log.append_checked_in_turn(turn, checked).await,
            Err(e) => Err(e),
        };
        let mut st = self.st.borrow_mut();
        for rec in &records {
            if let TimerRecord::Entry(e) = rec {
                if e.fire >= 0 {
                    State::add_fire(&mut st.staged_fires, e.fire, -1);
                }
            }
        }
        match result {
            Ok(base) if base == first => {}
            Ok(base) => {
                drop(st);
                return Err(self.fail(&format!(
                    "records staged for offset {first} were written at {base}"
                )));
            }
            Err(e) => {
                drop(st);
                return Err(self.fail(&e));
            }
        }
        let mut wake = false;
        for (k, rec) in records.into_iter().enumerate() {
            if !direct[k] {
                continue;
            }
            let TimerRecord::Entry(e) = rec else { continue };
            st.push(first + k as i64, e);
            wake = true;
        }
        drop(st);
        if wake {
            self.wake.notify_waiters();
        }
        Ok(())
    }

    /// Takes in the held records of a produced buffer for partition `turn.log()`, in the
    /// partition's append turn: the producer's idempotence is checked, the delayed records and
    /// the ones due now are written to the timer log (with an intent for the latter) and then
    /// the latter appended. Returns the base offset of the records appended now (-1: none).
    pub async fn admit(
        &self,
        turn: AppendTurn,
        topic: &Arc<str>,
        partition: i32,
        held: HeldBatch,
    ) -> Result<i64, BrokerError> {
        self.check_failed()?;
        let log = turn.log().clone();
        let HeldBatch {
            client,
            mut now,
            mut delayed,
        } = held;
        // Records due on receipt are appended at once, unless records due before them are
        // still to be delivered (a backlog, or a round writing to this partition): then they
        // queue behind those, due at their receipt.
        if !now.is_empty() && self.behind(topic, partition) {
            delayed.append(&mut now);
        }
        let intent_offset = Cell::new(None);
        let outcome = log
            .append_held(turn, &client, || async {
                let mut records = Vec::with_capacity(client.len() + delayed.len() + now.len() + 1);
                for h in &client {
                    records.push(TimerRecord::Accept(AcceptRec {
                        topic: topic.clone(),
                        partition,
                        producer_id: h.producer_id,
                        epoch: h.producer_epoch,
                        base_sequence: h.base_sequence,
                        last_offset_delta: h.last_offset_delta,
                        max_timestamp: h.max_timestamp,
                    }));
                }
                let done_through = self.st.borrow().done_through;
                for r in &delayed {
                    let fire = fire_for(r.due_ms, done_through, self.config.wheel_slots);
                    records.push(TimerRecord::Entry(entry_of(topic, partition, r, fire)));
                }
                let pid = now_producer_id(self.shard);
                let (epoch, seq) = next_sequence(&log, pid);
                let first_now = records.len();
                for r in &now {
                    records.push(TimerRecord::Entry(entry_of(topic, partition, r, -1)));
                }
                if !now.is_empty() {
                    let base = self.st.borrow().next_offset + first_now as i64;
                    records.push(TimerRecord::Intent(IntentRec {
                        topic: topic.clone(),
                        partition,
                        producer_id: pid,
                        epoch,
                        base_sequence: seq,
                        entries: (0..now.len() as i64).map(|k| (base + k, -1)).collect(),
                    }));
                }
                let staged = self.stage(records).map_err(to_storage)?;
                if !now.is_empty() {
                    intent_offset.set(Some(staged.first + staged.records.len() as i64 - 1));
                }
                self.write(staged).await.map_err(to_storage)?;
                if !client.is_empty() {
                    self.st
                        .borrow_mut()
                        .accepted
                        .insert((topic.clone(), partition));
                }
                if now.is_empty() {
                    return Ok(None);
                }
                let buf = delivery_batches(&now, pid, epoch, seq)
                    .map_err(|what| StorageError::InvalidArgument { what })?;
                CheckedAppend::check(
                    &log.config(),
                    topic,
                    partition,
                    Bytes::from(buf),
                    AppendOrigin::Internal,
                )
                .map(Some)
            })
            .await;
        let base = match outcome {
            Ok(HeldAppend::Admitted { base_offset }) => base_offset.unwrap_or(-1),
            Ok(HeldAppend::Duplicate { base_offset }) => base_offset,
            Err(e) => {
                return Err(match e {
                    StorageError::InvalidArgument { what } if what.starts_with(TIMER_ERR) => {
                        BrokerError::TimerFailed {
                            reason: what[TIMER_ERR.len()..].to_string(),
                        }
                    }
                    e => BrokerError::Storage(e),
                })
            }
        };
        // The intent reached its partition: nothing to finish after a restart.
        if let Some(offset) = intent_offset.get() {
            self.st.borrow_mut().open_intents.remove(&offset);
        }
        Ok(base)
    }

    /// Whether records already due wait to be delivered, to this partition or (conservatively)
    /// any: a loaded record due by now, or a round writing to it.
    fn behind(&self, topic: &Arc<str>, partition: i32) -> bool {
        let st = self.st.borrow();
        let now = now_ms();
        st.loaded.peek().is_some_and(|Reverse(l)| l.at <= now)
            || st.round_partitions.contains(&(topic.clone(), partition))
    }

    /// The delivery loop of this shard: loads slots as their time nears, moves due records to
    /// their partitions, writes checkpoints and drops drained segments. Runs until shutdown.
    pub async fn run(self: Rc<Timer>, shard: Rc<crate::shard::ShardState>) {
        let mut last_checkpoint = std::time::Instant::now();
        loop {
            if shard.shutting_down.get() {
                return;
            }
            if self.failed.borrow().is_some() {
                let _ = select(
                    crate::runtime::time::sleep(Duration::from_secs(1)),
                    shard.shutdown.notified(),
                )
                .await;
                continue;
            }
            if let Err(e) = self.load().await {
                self.fail(&e);
                continue;
            }
            // Also between rounds: under a steady stream of due records the log must still
            // drain and the checkpoint move.
            if last_checkpoint.elapsed() >= Duration::from_millis(CHECKPOINT_INTERVAL_MS) {
                last_checkpoint = std::time::Instant::now();
                if let Err(e) = self.checkpoint(&shard.engine).await {
                    self.fail(&e);
                    continue;
                }
            }
            let now = now_ms();
            let round = self.take_round(now);
            if !round.is_empty() {
                if let Err(e) = self.deliver(&shard.engine, round).await {
                    tracing::error!("shard {}: delivering delayed records: {e}", self.shard);
                }
                continue;
            }
            // Sleep until the next record is due, the next slot is to be loaded, or a record
            // is taken in.
            let next_at = self
                .st
                .borrow()
                .loaded
                .peek()
                .map_or(i64::MAX, |Reverse(l)| l.at);
            let next_load = (self.st.borrow().cursor - LOOKAHEAD_SECS).saturating_mul(1000);
            let wait_ms = next_at
                .min(next_load)
                .saturating_sub(now_ms())
                .clamp(0, CHECKPOINT_INTERVAL_MS as i64);
            let woken = self.wake.notified();
            let sleep = crate::runtime::time::sleep(Duration::from_millis(wait_ms as u64));
            match select(select(sleep, woken), shard.shutdown.notified()).await {
                Either::Left(_) => {}
                Either::Right(()) => return,
            }
        }
    }

    /// Loads slots whose time is within the look-ahead, while memory allows.
    async fn load(&self) -> Result<(), StorageError> {
        for _ in 0..LOAD_STEPS_MAX {
            let (walk, cursor, full) = {
                let st = self.st.borrow();
                (
                    st.walk,
                    st.cursor,
                    st.loaded.len() >= self.config.loaded_max
                        || st.loaded_bytes >= self.config.loaded_bytes_max,
                )
            };
            if full {
                return Ok(());
            }
            let Some(walk) = walk else {
                if cursor > now_ms().div_euclid(1000) + LOOKAHEAD_SECS {
                    return Ok(());
                }
                let slot =
                    self.st.borrow().slots[cursor.rem_euclid(self.config.wheel_slots) as usize];
                let mut st = self.st.borrow_mut();
                if slot.sec == cursor && slot.head >= 0 {
                    // Started now even if its newest entry is still being written (the step
                    // waits for it): entries staged for this slot from now on are loaded by
                    // their writers, so a slot that keeps being written to is not starved.
                    st.walk = Some(Walk {
                        sec: cursor,
                        next: slot.head,
                    });
                } else {
                    st.cursor += 1;
                }
                continue;
            };
            // One step of the chain.
            if walk.next >= self.log.high_watermark() {
                // Staged before the walk began, not durable yet: a write is under way.
                return Ok(());
            }
            if walk.next < self.log.log_start_offset() {
                let mut st = self.st.borrow_mut();
                st.walk = None;
                st.cursor = walk.sec + 1;
                continue;
            }
            let Some(entry) = self.read_entry(walk.next).await? else {
                let mut st = self.st.borrow_mut();
                st.walk = None;
                st.cursor = walk.sec + 1;
                continue;
            };
            let rec =
                TimerRecord::decode(&entry.key, entry.value.as_ref().unwrap_or(&Bytes::new()))
                    .map_err(|what| StorageError::InvalidArgument { what })?;
            let TimerRecord::Entry(e) = rec else {
                return Err(StorageError::InvalidArgument {
                    what: format!(
                        "timer log offset {} in a slot chain is not an entry",
                        walk.next
                    ),
                });
            };
            let mut st = self.st.borrow_mut();
            let prev = e.prev;
            if e.fire == walk.sec && !st.done_at_open.remove(&entry.offset) {
                st.push(entry.offset, e);
            }
            if prev < 0 {
                st.walk = None;
                st.cursor = walk.sec + 1;
                drop(st);
                self.wake.notify_waiters();
            } else {
                st.walk = Some(Walk {
                    sec: walk.sec,
                    next: prev,
                });
            }
        }
        Ok(())
    }

    /// The entry at `offset` of the timer log, through a small cache of decoded batches.
    async fn read_entry(&self, offset: i64) -> Result<Option<Entry>, StorageError> {
        {
            let st = self.st.borrow();
            for b in &st.cache {
                if b.first <= offset && offset <= b.last {
                    let i = b.entries.partition_point(|e| e.offset < offset);
                    return Ok(b.entries.get(i).filter(|e| e.offset == offset).cloned());
                }
            }
        }
        if offset < self.log.log_start_offset() || offset >= self.log.high_watermark() {
            return Ok(None);
        }
        let mut scan = Scan::from_batch_of(&self.log, offset, WALK_READ_BYTES);
        let Some(entries) = scan.next_chunk().await? else {
            return Ok(None);
        };
        let found = {
            let i = entries.partition_point(|e| e.offset < offset);
            entries.get(i).filter(|e| e.offset == offset).cloned()
        };
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            let block = Block {
                first: first.offset,
                last: last.offset,
                entries,
            };
            let mut st = self.st.borrow_mut();
            if st.cache.len() == WALK_CACHE_BLOCKS {
                st.cache.pop_front();
            }
            st.cache.push_back(block);
        }
        Ok(found)
    }

    /// The loaded records due by `now`, up to a round's bounds.
    fn take_round(&self, now: i64) -> Vec<Loaded> {
        let mut st = self.st.borrow_mut();
        let mut round = Vec::new();
        let mut bytes = 0;
        // The records of a slot still being loaded wait for the rest of it (an unloaded one may
        // be due earlier), unless the loaded bound stops its loading: then order within that
        // second gives way to progress (more records due in one second than the bound).
        let full = st.loaded.len() >= self.config.loaded_max
            || st.loaded_bytes >= self.config.loaded_bytes_max;
        // Records of slots not loaded yet are due no earlier than the first of them, so what is
        // loaded below it may go (a backlog after a restart is delivered as it is loaded).
        let gate = match st.walk {
            Some(_) if full => i64::MAX,
            Some(w) => w.sec,
            None => st.cursor,
        };
        while round.len() < ROUND_RECORDS_MAX && bytes < ROUND_BYTES_MAX {
            match st.loaded.peek() {
                Some(Reverse(l)) if l.at <= now && l.entry.fire < gate => {}
                _ => break,
            }
            let Reverse(l) = st.loaded.pop().expect("peeked");
            st.loaded_bytes -= l.entry.record.len();
            bytes += l.entry.record.len();
            State::add_fire(&mut st.round_fires, l.entry.fire, 1);
            round.push(l);
        }
        round
    }

    /// One delivery round: intents (and rolls) made durable, then one append per partition.
    async fn deliver(&self, engine: &Engine, round: Vec<Loaded>) -> Result<(), String> {
        let r = self.deliver_round(engine, round).await;
        self.st.borrow_mut().round_partitions.clear();
        r
    }

    async fn deliver_round(&self, engine: &Engine, round: Vec<Loaded>) -> Result<(), String> {
        let mut by_partition: Vec<(PartitionKey, Vec<Loaded>)> = Vec::new();
        let mut index: HashMap<PartitionKey, usize> = HashMap::new();
        let mut rolls = Vec::new();
        for l in round {
            if l.entry.fire < l.entry.due.div_euclid(1000) {
                rolls.push(l);
                continue;
            }
            let key = (l.entry.topic.clone(), l.entry.partition);
            let i = *index.entry(key.clone()).or_insert_with(|| {
                by_partition.push((key, Vec::new()));
                by_partition.len() - 1
            });
            by_partition[i].1.push(l);
        }
        let pid = rounds_producer_id(self.shard);
        let mut records = Vec::new();
        let mut plans = Vec::new();
        self.st
            .borrow_mut()
            .round_partitions
            .extend(by_partition.iter().map(|(k, _)| k.clone()));
        let done_through = self.st.borrow().done_through;
        for l in &rolls {
            let mut e = l.entry.clone();
            e.rolled_from = l.offset;
            e.rolled_from_fire = l.entry.fire;
            e.fire = fire_for(e.due, done_through, self.config.wheel_slots);
            records.push(TimerRecord::Entry(e));
        }
        for ((topic, partition), entries) in &by_partition {
            let log = engine.find_log(topic, *partition).ok();
            let (producer_id, epoch, seq) = match &log {
                Some(log) => {
                    let (epoch, seq) = next_sequence(log, pid);
                    (pid, epoch, seq)
                }
                None => (-1, -1, -1),
            };
            records.push(TimerRecord::Intent(IntentRec {
                topic: topic.clone(),
                partition: *partition,
                producer_id,
                epoch,
                base_sequence: seq,
                entries: entries.iter().map(|l| (l.offset, l.entry.fire)).collect(),
            }));
            plans.push((log, epoch, seq));
        }
        let staged = self.stage(records).map_err(|e| e.to_string())?;
        let first = staged.first + rolls.len() as i64;
        let written = self.write(staged).await;
        {
            let mut st = self.st.borrow_mut();
            for (_, entries) in &by_partition {
                for l in entries {
                    State::add_fire(&mut st.round_fires, l.entry.fire, -1);
                }
            }
            for l in &rolls {
                State::add_fire(&mut st.round_fires, l.entry.fire, -1);
            }
        }
        written.map_err(|e| e.to_string())?;
        // The intents are durable: these entries are done (delivered now, or after a restart).
        {
            let mut st = self.st.borrow_mut();
            for (_, entries) in &by_partition {
                for l in entries {
                    st.forget(&l.entry.topic, l.offset, l.entry.fire);
                    if let Some(t) = st.topics.get_mut(&l.entry.topic) {
                        t.delivered += 1;
                    }
                }
            }
        }
        let mut appends = Vec::new();
        for (k, ((topic, partition), entries)) in by_partition.iter().enumerate() {
            let (log, epoch, seq) = &plans[k];
            let intent = first + k as i64;
            let Some(log) = log.clone() else {
                self.st.borrow_mut().open_intents.remove(&intent);
                tracing::warn!(
                    "shard {}: {} delayed records of {topic}-{partition} dropped: the partition \
                     is gone",
                    self.shard,
                    entries.len()
                );
                continue;
            };
            let held: Vec<HeldRecord> = entries
                .iter()
                .map(|l| held_of_entry(&l.entry))
                .collect::<Result<_, _>>()?;
            let buf = delivery_batches(&held, pid, *epoch, *seq)?;
            let topic = topic.clone();
            let partition = *partition;
            appends.push(async move {
                let r = log.append_as(buf, AppendOrigin::Internal).await;
                (intent, topic, partition, r)
            });
        }
        for (intent, topic, partition, r) in join_all(appends).await {
            match r {
                Ok(_) => {
                    self.st.borrow_mut().open_intents.remove(&intent);
                }
                // The intent stays open: the next start appends its records again.
                Err(e) => tracing::error!(
                    "shard {}: appending due records to {topic}-{partition}: {e}",
                    self.shard
                ),
            }
        }
        Ok(())
    }

    /// Writes a checkpoint when delivery moved on, then drops the segments every pending
    /// record is past (after a producer-state snapshot of the partitions that took batches).
    async fn checkpoint(&self, engine: &Engine) -> Result<(), String> {
        let (done_through, redo_from, changed) = {
            let st = self.st.borrow();
            // Never past the second before now: a record taken in now is due now or later, so
            // its own second is never below the checkpoint (no slot clamped up, none late).
            let mut d = (st.cursor - 1).min(now_ms().div_euclid(1000) - 1);
            if let Some(w) = st.walk {
                d = d.min(w.sec - 1);
            }
            // Loaded records are ordered by take-out time, not slot: the lowest slot is searched
            // (a bounded queue, twice a second).
            let loaded_min = st.loaded.iter().map(|Reverse(l)| l.entry.fire).min();
            for m in [
                loaded_min,
                st.staged_fires.keys().next().copied(),
                st.round_fires.keys().next().copied(),
            ]
            .into_iter()
            .flatten()
            {
                d = d.min(m - 1);
            }
            let d = d.max(st.done_through);
            let redo_from = st
                .open_intents
                .iter()
                .next()
                .copied()
                .unwrap_or(st.next_offset);
            (
                d,
                redo_from,
                d != st.done_through || redo_from != st.redo_from,
            )
        };
        if changed {
            self.write_checkpoint_of(done_through, redo_from).await?;
        }
        // Drop what every pending record, open intent and the checkpoint are past.
        let bound = {
            let st = self.st.borrow();
            let pending = st
                .buckets
                .keys()
                .next()
                .map_or(i64::MAX, |b| b << BUCKET_SHIFT);
            pending
                .min(st.redo_from)
                .min(st.checkpoint_offset.max(0))
                .min(st.next_offset)
        };
        if self.log.segment_count() > 1
            && self
                .log
                .segment_base_offsets()
                .get(1)
                .is_some_and(|&b| b <= bound)
        {
            let accepted: Vec<(Arc<str>, i32)> = self.st.borrow_mut().accepted.drain().collect();
            for (topic, partition) in accepted {
                if let Ok(log) = engine.find_log(&topic, partition) {
                    log.snapshot_producers()
                        .await
                        .map_err(|e| format!("snapshot of {topic}-{partition}: {e}"))?;
                }
            }
            self.log
                .delete_below(bound)
                .await
                .map_err(|e| e.to_string())?;
            self.st.borrow_mut().cache.clear();
        }
        Ok(())
    }

    /// Writes a checkpoint of the state as it is (at open).
    async fn write_checkpoint(&self) -> Result<(), String> {
        let (d, r) = {
            let st = self.st.borrow();
            (st.done_through, st.redo_from)
        };
        self.write_checkpoint_of(d, r).await
    }

    async fn write_checkpoint_of(&self, done_through: i64, redo_from: i64) -> Result<(), String> {
        let staged = self
            .stage(vec![TimerRecord::Checkpoint(CheckpointRec {
                done_through,
                redo_from,
                shards: self.shards as u32,
            })])
            .map_err(|e| e.to_string())?;
        let offset = staged.first;
        self.write(staged).await.map_err(|e| e.to_string())?;
        let mut st = self.st.borrow_mut();
        st.done_through = done_through;
        st.redo_from = redo_from;
        st.checkpoint_offset = offset;
        Ok(())
    }

    /// Per-topic numbers for `ringlog delays`.
    pub fn describe(&self, topics: Option<&[String]>) -> Vec<TopicDelays> {
        let st = self.st.borrow();
        let now = now_ms();
        let mut loaded_min: HashMap<&Arc<str>, i64> = HashMap::new();
        for Reverse(l) in st.loaded.iter() {
            let m = loaded_min.entry(&l.entry.topic).or_insert(i64::MAX);
            *m = (*m).min(l.entry.due);
        }
        let mut out = Vec::new();
        for (topic, t) in &st.topics {
            if topics.is_some_and(|names| !names.iter().any(|n| **n == **topic)) {
                continue;
            }
            if t.pending == 0 && t.delivered == 0 {
                continue;
            }
            let unloaded = t.fires.keys().next().map(|&f| f.saturating_mul(1000));
            let next = match (loaded_min.get(topic).copied(), unloaded) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
            .filter(|_| t.pending > 0);
            out.push(TopicDelays {
                topic: topic.to_string(),
                pending: t.pending,
                next_due_ms: next,
                oldest_overdue_lag_ms: next.map_or(0, |n| now.saturating_sub(n).max(0) as u64),
                delivered: t.delivered,
            });
        }
        out
    }

    /// Records pending on this shard.
    pub fn pending(&self) -> u64 {
        self.st.borrow().buckets.values().sum()
    }

    /// Records loaded in memory (for tests of the memory bound).
    pub fn loaded(&self) -> usize {
        self.st.borrow().loaded.len()
    }
}

/// The engine log configuration of a timer log.
fn timer_log_config(flush: FlushPolicy, segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_ms: None,
        batch_bytes_max: state_log::STATE_BATCH_BYTES_MAX as u32,
        flush,
        ..LogConfig::default()
    }
}

/// Prefix of a timer failure carried through the storage error of [`Log::append_held`].
const TIMER_ERR: &str = "timer: ";

fn to_storage(e: BrokerError) -> StorageError {
    StorageError::InvalidArgument {
        what: format!("{TIMER_ERR}{e}"),
    }
}

fn decode(e: &Entry) -> Result<TimerRecord, String> {
    let empty = Bytes::new();
    TimerRecord::decode(&e.key, e.value.as_ref().unwrap_or(&empty))
        .map_err(|what| format!("offset {}: {what}", e.offset))
}

fn accept_header(a: &AcceptRec) -> BatchHeader {
    BatchHeader {
        base_offset: 0,
        batch_length: 0,
        partition_leader_epoch: -1,
        magic: 2,
        crc: 0,
        attributes: 0,
        last_offset_delta: a.last_offset_delta,
        base_timestamp: a.max_timestamp,
        max_timestamp: a.max_timestamp,
        producer_id: a.producer_id,
        producer_epoch: a.epoch,
        base_sequence: a.base_sequence,
        records_count: a.last_offset_delta.saturating_add(1),
    }
}

/// Whether sequence `a` is `b` or after it on Kafka's sequence ring (sequences wrap from
/// `i32::MAX` to 0; "after" is within half the ring).
fn seq_at_or_after(a: i32, b: i32) -> bool {
    let ring = i64::from(i32::MAX) + 1;
    (i64::from(a) - i64::from(b)).rem_euclid(ring) < ring / 2
}

/// The epoch and first sequence of `pid`'s next batch on `log`: after the last one the log
/// holds, or from 0 when it holds none (a producer it does not know starts at 0).
fn next_sequence(log: &Log, pid: i64) -> (i16, i32) {
    match log.producer_last(pid) {
        Some((epoch, last)) => (epoch, seq_add(last, 1)),
        None => (0, 0),
    }
}

/// The slot second of a record due at `due`: its own second, moved into the window
/// `(done_through, done_through + WHEEL_SLOTS)` so that no two pending seconds share a slot and
/// none is below the checkpoint (which would make it look done at the next open). A record due
/// beyond the window is re-written ("rolled") when its slot comes.
fn fire_for(due: i64, done_through: i64, wheel_slots: i64) -> i64 {
    due.div_euclid(1000)
        .clamp(done_through + 1, done_through + wheel_slots - 1)
}

fn entry_of(topic: &Arc<str>, partition: i32, r: &HeldRecord, fire: i64) -> EntryRec {
    EntryRec {
        fire,
        due: r.due_ms,
        prev: -1,
        rolled_from: -1,
        rolled_from_fire: -1,
        topic: topic.clone(),
        partition,
        codec: r.codec,
        timestamp: r.timestamp_ms,
        record: encode_record(&r.record),
    }
}

fn held_of_entry(e: &EntryRec) -> Result<HeldRecord, String> {
    Ok(HeldRecord {
        due_ms: e.due,
        timestamp_ms: e.timestamp,
        codec: e.codec,
        record: decode_record(&e.record)?,
    })
}

fn held_of(e: &Entry) -> Result<HeldRecord, String> {
    match decode(e)? {
        TimerRecord::Entry(en) => held_of_entry(&en),
        other => Err(format!("offset {} is not an entry: {other:?}", e.offset)),
    }
}

/// The batches that deliver `records` (in order) as producer `pid`: one batch per run of
/// records of one codec and at most [`DELIVERY_BATCH_BYTES`], sequences from `seq`, each
/// record with its own timestamp.
pub fn delivery_batches(
    records: &[HeldRecord],
    pid: i64,
    epoch: i16,
    seq: i32,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut seq = seq;
    let mut i = 0;
    while i < records.len() {
        let codec = records[i].codec;
        let mut j = i;
        let mut bytes = 0;
        while j < records.len()
            && records[j].codec == codec
            && (j == i || bytes + record_bytes(&records[j].record) <= DELIVERY_BATCH_BYTES)
        {
            bytes += record_bytes(&records[j].record);
            j += 1;
        }
        let run = &records[i..j];
        let base_timestamp = run.iter().map(|r| r.timestamp_ms).min().unwrap_or(0);
        let batch: Vec<Record> = run
            .iter()
            .enumerate()
            .map(|(k, r)| Record {
                offset_delta: k as i32,
                timestamp_delta: r.timestamp_ms - base_timestamp,
                ..r.record.clone()
            })
            .collect();
        let meta = BatchMeta {
            base_timestamp,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            ..BatchMeta::default()
        };
        encode_batch(&meta, &batch, codec, &mut out)
            .map_err(|e| format!("encoding a delivery batch: {e}"))?;
        seq = seq_add(seq, run.len() as i64);
        i = j;
    }
    Ok(out)
}

fn record_bytes(r: &Record) -> usize {
    r.key.as_ref().map_or(0, Bytes::len)
        + r.value.as_ref().map_or(0, Bytes::len)
        + r.headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len))
            .sum::<usize>()
        + 32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_compare_on_the_ring() {
        assert!(seq_at_or_after(5, 5));
        assert!(seq_at_or_after(9, 5));
        assert!(!seq_at_or_after(4, 5));
        // Across the wrap: 3 comes after i32::MAX - 2.
        assert!(seq_at_or_after(3, i32::MAX - 2));
        assert!(!seq_at_or_after(i32::MAX - 2, 3));
    }

    #[test]
    fn slots_stay_in_the_window_after_the_checkpoint() {
        // Due in the past of the checkpoint: the first slot after it.
        assert_eq!(fire_for(5_000, 9, 16), 10);
        // Due inside the window: its own second.
        assert_eq!(fire_for(12_500, 9, 16), 12);
        // Due beyond it: the window's last slot (rolled from there).
        assert_eq!(fire_for(100_000, 9, 16), 24);
    }
}
