//! The per-shard log cleaner: compacts this shard's logs of `cleanup.policy=compact` topics
//! ([`crate::storage::compact`]) in bounded steps between requests.
//!
//! One task per shard. It picks the dirtiest log that is due ([`Log::compaction_due`], dirtiest
//! by [`Log::cleanable_ratio`], as Kafka's cleaner manager picks), then runs that log's pass in
//! steps of [`CLEANER_STEP_BYTES`] of I/O, yielding to the shard's other tasks after each step:
//! a request waits at most one step (about 1 MiB of reading, rewriting and the CPU to decode
//! it), never a whole segment. Why on the shard and not on a thread of its own: a log is
//! single-threaded by design (no locks on its segment list, producer state or files), so a
//! cleaner thread would need locks on the append path; a bounded step on the owning core costs
//! the shard at most that step, and what it costs is what "MB/s per core" measures. When no log
//! is due the task sleeps [`CLEANER_IDLE_MS`] (or until shutdown).
//!
//! A step that fails is logged and the log is left alone for [`CLEANER_BACKOFF_MS`]: a failed
//! pass removes its own files and the log stays as it was (see the storage module), so the next
//! pass starts again from the checkpoint.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::runtime as rt;
use crate::runtime::future::{select, Either};
use crate::shard::ShardState;
use crate::storage::log::{now_ms, Log};
use crate::storage::stats::{record_cleaner_pass, CleanerPass};
use crate::storage::{CompactBudget, CompactProgress};

/// Bytes of I/O one step may do before the cleaner yields to the shard's requests.
pub const CLEANER_STEP_BYTES: u64 = crate::storage::compact::COMPACT_STEP_BYTES_DEFAULT;
/// How long the cleaner sleeps when no log is due.
pub const CLEANER_IDLE_MS: u64 = 1_000;
/// How long a log whose step failed is left alone.
pub const CLEANER_BACKOFF_MS: u64 = 30_000;

/// Runs this shard's cleaner until shutdown.
pub async fn run(shard: Rc<ShardState>) {
    let mut failed: HashMap<(String, i32), Instant> = HashMap::new();
    loop {
        if shard.shutting_down.get() {
            return;
        }
        failed.retain(|_, at| at.elapsed() < Duration::from_millis(CLEANER_BACKOFF_MS));
        let Some(log) = dirtiest_due(&shard, &failed) else {
            let idle = rt::time::sleep(Duration::from_millis(CLEANER_IDLE_MS));
            if let Either::Right(()) = select(idle, shard.shutdown.notified()).await {
                return;
            }
            continue;
        };
        if let Err(e) = clean(&shard, &log).await {
            tracing::error!(
                "shard {}: compacting {}-{} failed (retried in {} s): {e}",
                shard.id,
                log.topic(),
                log.partition(),
                CLEANER_BACKOFF_MS / 1000
            );
            failed.insert((log.topic().to_string(), log.partition()), Instant::now());
        }
    }
}

/// The due log with the highest dirty ratio, if any (skipping logs that failed lately).
fn dirtiest_due(shard: &ShardState, failed: &HashMap<(String, i32), Instant>) -> Option<Rc<Log>> {
    let now = now_ms();
    let mut best: Option<(f64, String, i32)> = None;
    shard.engine.for_each_log(|log| {
        if log.config().cleanup_compact
            && !failed.contains_key(&(log.topic().to_string(), log.partition()))
            && log.compaction_due(now)
        {
            let ratio = log.cleanable_ratio(now);
            if best.as_ref().is_none_or(|(r, ..)| ratio > *r) {
                best = Some((ratio, log.topic().to_string(), log.partition()));
            }
        }
    });
    let (_, topic, partition) = best?;
    shard.engine.find_log(&topic, partition).ok()
}

/// Runs one pass of `log` to its end in bounded steps.
async fn clean(shard: &ShardState, log: &Rc<Log>) -> crate::storage::Result<()> {
    let now = now_ms();
    loop {
        if shard.shutting_down.get() {
            // The pass waits in the log; a restart starts again from the checkpoint.
            return Ok(());
        }
        let mut budget = CompactBudget::with_bytes(CLEANER_STEP_BYTES);
        match log.compact_step(now, &mut budget).await? {
            CompactProgress::Idle => return Ok(()),
            CompactProgress::InProgress => rt::yield_now().await,
            CompactProgress::Finished(stats) => {
                record_cleaner_pass(&CleanerPass {
                    segments: stats.segments_read,
                    bytes_read: stats.bytes_read,
                    bytes_written: stats.bytes_written,
                    records_removed: stats.records_removed,
                    tombstones_removed: stats.tombstones_removed,
                    duration: stats.busy,
                });
                tracing::debug!(
                    topic = %log.topic(),
                    partition = log.partition(),
                    read = stats.bytes_read,
                    written = stats.bytes_written,
                    removed = stats.records_removed,
                    tombstones = stats.tombstones_removed,
                    "compacted"
                );
                // Let the shard's requests run before the next log.
                rt::yield_now().await;
                return Ok(());
            }
        }
    }
}
