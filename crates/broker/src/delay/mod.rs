//! Scheduled delivery: records of a delay-enabled topic (`ringlog.delivery.delay.enable=true`)
//! that carry `ringlog-deliver-at` or `ringlog-delay-ms` are held by the broker and appended to
//! their partition when due. Other topics never reach this module: their produce path is
//! unchanged byte for byte.
//!
//! # Where records wait: a timer log per shard
//! The shard that owns a partition holds its delayed records in its timer log, an internal log
//! on the storage engine (`__ringlog_state/timers/shard-{n}`, the same segments, CRCs, group
//! commit and torn-tail recovery as every log; records listed in `record.rs`). A produced batch
//! with delayed records is taken in, in the partition's append turn ([`Log::append_held`]):
//! 1. the producer's idempotence is checked against the partition (a retry answers as before);
//! 2. one write to the timer log holds an *accept* (the producer's batch, so the partition's
//!    producer state can be rebuilt after a restart), an *entry* per delayed record, and the
//!    records due now as entries with an *intent* naming the producer id and sequences they
//!    will be appended with; the write is durable under `--flush` before anything else;
//! 3. the records due now are appended (an idempotent batch of the shard's second internal
//!    producer), and the produce is answered: its base offset, or -1 if every record waits.
//!
//! # When records are found again: the wheel
//! A wheel of [`timer::WHEEL_SLOTS`] one-second slots (2 MiB) keeps, per second, the offset of
//! the newest entry due in it; each entry keeps the offset of the previous entry of its slot
//! (`prev`), so a slot's records are a chain through the log (RocketMQ 5's TimerWheel and
//! TimerLog do the same). One second ahead of its time a slot's chain is walked and its
//! records are loaded into a queue ordered by due millisecond; nothing else of the pending
//! records is in memory, so memory does not grow with how many are pending (the queue is
//! bounded by [`timer::LOADED_MAX`] and [`timer::LOADED_BYTES_MAX`]). A record due beyond the
//! wheel's 36 hours is chained into its last slot and written again ("rolled") when that slot
//! comes.
//!
//! # How records leave: delivery rounds, exactly once
//! The shard's delivery loop takes the due records (up to [`timer::ROUND_RECORDS_MAX`]), writes
//! one intent per partition (entries, producer id, epoch, first sequence) durably, then
//! appends them to each partition as batches of the shard's internal idempotent producer
//! ([`timer::rounds_producer_id`]), in due order, each record with its own timestamp and the
//! codec of the batch it came in. After a crash, the intents the last checkpoint does not
//! cover are appended again with the same producer id and sequences: the partition's sequence
//! checks answer "duplicate" for those that got there. So each record reaches its partition
//! once: never lost after its produce was acknowledged, never twice.
//!
//! # Checkpoints and draining
//! Twice a second the loop writes a checkpoint (every slot up to `done_through` is delivered;
//! intents from `redo_from` on may be unfinished) and drops the timer log's segments that hold
//! no pending record, open intent or the last checkpoint. Pending records are counted per run
//! of offsets for this.
//!
//! # Restart
//! The timer log is read twice: the first pass finds the last checkpoint and the newest entry
//! of each slot and puts the accepted producer batches back into their partitions; the second
//! counts what is pending (entries in slots after the checkpoint, less those an intent or a
//! roll already took) and collects the intents to finish. The broker serves once they are
//! finished; the loop then loads every overdue slot in order, so records due while the broker
//! was down are delivered first, in due order.
//!
//! [`Log::append_held`]: crate::storage::Log::append_held

pub mod header;
pub mod record;
pub mod timer;

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::runtime::mesh;
use crate::shard::{ShardMsg, ShardState};

pub use header::{HeldBatch, DELAY_MAX_MS_DEFAULT, DELAY_MS_HEADER, DELIVER_AT_HEADER};
pub use timer::Timer;

/// What `ringlog delays` shows for one topic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicDelays {
    /// The topic.
    pub topic: String,
    /// Records waiting.
    pub pending: u64,
    /// When the next one is due (epoch ms): exact for records due within about a second,
    /// else the start of the second its slot is loaded at.
    pub next_due_ms: Option<i64>,
    /// How late the oldest overdue record is (0: none overdue).
    pub oldest_overdue_lag_ms: u64,
    /// Records delivered since the broker started.
    pub delivered: u64,
}

/// The delay numbers of every shard, per topic (all topics, or those named).
pub async fn describe(shard: &Rc<ShardState>, topics: Option<Vec<String>>) -> Vec<TopicDelays> {
    let mut replies = Vec::new();
    for id in 0..shard.count {
        let (tx, rx) = mesh::oneshot();
        if shard
            .send(
                id,
                ShardMsg::DescribeDelays {
                    topics: topics.clone(),
                    reply: tx,
                },
            )
            .await
        {
            replies.push(rx);
        }
    }
    let mut merged: BTreeMap<String, TopicDelays> = BTreeMap::new();
    for rx in replies {
        let Some(list) = rx.recv().await else {
            continue;
        };
        for t in list {
            let m = merged
                .entry(t.topic.clone())
                .or_insert_with(|| TopicDelays {
                    topic: t.topic.clone(),
                    ..TopicDelays::default()
                });
            m.pending += t.pending;
            m.delivered += t.delivered;
            m.next_due_ms = match (m.next_due_ms, t.next_due_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            m.oldest_overdue_lag_ms = m.oldest_overdue_lag_ms.max(t.oldest_overdue_lag_ms);
        }
    }
    merged.into_values().collect()
}
