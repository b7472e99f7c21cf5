//! One scrape: ask every shard for its samples over the mesh and assemble the exposition.
//!
//! Two rounds of [`ShardState::call`], both fanned out to every shard at once:
//! 1. each shard lists the committed offsets of the groups it coordinates;
//! 2. each shard renders its own families ([`render_shard`]): its counters, the partitions it
//!    owns, and the lag of the committed offsets of those partitions (a group's coordinator and
//!    a partition's owner are usually different shards, hence the first round).
//!
//! Then the controller adds the broker-wide families and [`render::assemble`]s the text.

use std::rc::Rc;
use std::sync::Arc;

use super::render::{self, Chunks, Family, Label};
use super::{slot_api, zero_copy, RejectReason, API_SLOTS};
use crate::limits::BrokerLimits;
use crate::runtime::future::join_all;
use crate::shard::ShardState;
use crate::transfer::TransferPath;

/// One committed offset, as listed by its group's coordinator.
#[derive(Clone, Debug)]
pub struct Committed {
    /// Group id.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset.
    pub offset: i64,
}

/// Most `iou-wrk` threads counted (a bound on the `/proc/self/task` walk).
pub const IO_WQ_THREADS_COUNTED_MAX: usize = 65_536;

/// Builds the whole exposition, from the shard that serves the endpoint.
pub async fn scrape(state: &Rc<ShardState>, limits: &BrokerLimits) -> String {
    // Round 1: committed offsets from every coordinator.
    let lists = fan_out(state, |s| {
        let mut out = Vec::new();
        s.groups
            .for_each_committed(|group, topic, partition, offset| {
                out.push(Committed {
                    group: group.to_string(),
                    topic: topic.to_string(),
                    partition,
                    offset,
                })
            });
        out
    })
    .await;
    let committed: Arc<Vec<Committed>> = Arc::new(lists.into_iter().flatten().collect());
    // Round 2: every shard renders its own samples.
    let mut parts = fan_out(state, move |s| render_shard(&s, &committed)).await;
    parts.push(render_broker(limits));
    render::assemble(&parts)
}

/// Runs `f` on every shard at once and returns the results in shard order (a shard that cannot
/// be reached, because it is shutting down, contributes nothing).
async fn fan_out<T, F>(state: &Rc<ShardState>, f: F) -> Vec<T>
where
    T: Send + Default + 'static,
    F: Fn(Rc<ShardState>) -> T + Clone + Send + 'static,
{
    // The other shards first, this one last: the messages are out before this shard renders
    // its own share, so the shards work in parallel.
    let mut order: Vec<usize> = (0..state.count).filter(|&i| i != state.id).collect();
    order.push(state.id);
    let calls = order
        .iter()
        .map(|&shard| {
            let f = f.clone();
            let state = state.clone();
            async move { state.call(shard, move |s| async move { f(s) }).await }
        })
        .collect();
    let results = join_all(calls).await;
    let mut by_shard: Vec<(usize, T)> = order
        .into_iter()
        .zip(results)
        .map(|(shard, r)| (shard, r.unwrap_or_default()))
        .collect();
    by_shard.sort_by_key(|(shard, _)| *shard);
    by_shard.into_iter().map(|(_, t)| t).collect()
}

/// One shard's samples: its counters, its partitions, and the lag of committed offsets of the
/// partitions it owns. Runs on that shard.
pub fn render_shard(state: &ShardState, committed: &[Committed]) -> Chunks {
    let mut c = Chunks::new();
    let shard = [("shard", Label::Int(state.id as i64))];
    let m = &state.metrics;

    for slot in 0..API_SLOTS {
        let api = &m.apis[slot];
        if api.requests.get() == 0 {
            continue;
        }
        let name = slot_api(slot).map_or_else(|| "unknown".to_string(), |k| format!("{k:?}"));
        let labels = [shard[0], ("api", Label::Str(&name))];
        render::uint(
            c.of(Family::Requests),
            Family::Requests,
            &labels,
            api.requests.get(),
        );
        render::histogram(
            c.of(Family::RequestDuration),
            Family::RequestDuration,
            &labels,
            &api.latency.snapshot(),
            1e9,
        );
    }
    for (&(slot, code), &n) in m.errors.borrow().iter() {
        let name = slot_api(slot).map_or_else(|| "unknown".to_string(), |k| format!("{k:?}"));
        let code_name = crate::protocol::error::name(code).unwrap_or("UNKNOWN");
        let labels = [
            shard[0],
            ("api", Label::Str(&name)),
            ("code", Label::Str(code_name)),
        ];
        render::uint(
            c.of(Family::RequestErrors),
            Family::RequestErrors,
            &labels,
            n,
        );
    }
    for reason in RejectReason::ALL {
        let labels = [shard[0], ("reason", Label::Str(reason.label()))];
        let n = m.rejected[reason as usize].get();
        render::uint(
            c.of(Family::RequestsRejected),
            Family::RequestsRejected,
            &labels,
            n,
        );
    }
    render::uint(
        c.of(Family::BytesIn),
        Family::BytesIn,
        &shard,
        m.bytes_in.get(),
    );
    render::uint(
        c.of(Family::BytesOut),
        Family::BytesOut,
        &shard,
        m.bytes_out.get(),
    );
    let open = m.connections_open();
    render::uint(
        c.of(Family::ConnectionsOpen),
        Family::ConnectionsOpen,
        &shard,
        open,
    );
    render::uint(
        c.of(Family::ConnectionsAccepted),
        Family::ConnectionsAccepted,
        &shard,
        m.connections_accepted.get(),
    );
    render::uint(
        c.of(Family::StandingBufferBytes),
        Family::StandingBufferBytes,
        &shard,
        open * crate::connection::READ_CHUNK_BYTES as u64,
    );
    let mut zero = 0u64;
    for (i, path) in TransferPath::ALL.iter().enumerate() {
        let n = m.transfer_bytes[i].get();
        if zero_copy(*path) {
            zero += n;
        }
        let name = path.to_string();
        let labels = [shard[0], ("path", Label::Str(&name))];
        render::uint(
            c.of(Family::TransferBytes),
            Family::TransferBytes,
            &labels,
            n,
        );
    }
    render::uint(
        c.of(Family::TransferZeroCopyBytes),
        Family::TransferZeroCopyBytes,
        &shard,
        zero,
    );

    // Storage (this thread's counters) and the ring.
    let st = crate::storage::stats::snapshot();
    render::histogram(
        c.of(Family::FsyncDuration),
        Family::FsyncDuration,
        &shard,
        &st.fsync_ns,
        1e9,
    );
    render::uint(
        c.of(Family::FsyncFailures),
        Family::FsyncFailures,
        &shard,
        st.fsync_failures,
    );
    render::histogram(
        c.of(Family::GroupCommitRecords),
        Family::GroupCommitRecords,
        &shard,
        &st.group_commit_records,
        1.0,
    );
    if let Some(ring) = crate::runtime::driver_stats() {
        render::uint(
            c.of(Family::UringSqes),
            Family::UringSqes,
            &shard,
            ring.sqes_submitted,
        );
        render::uint(
            c.of(Family::UringCqes),
            Family::UringCqes,
            &shard,
            ring.cqes_reaped,
        );
        render::uint(
            c.of(Family::UringEnters),
            Family::UringEnters,
            &shard,
            ring.enters,
        );
    }
    let in_flight = crate::runtime::in_flight() as u64;
    render::uint(
        c.of(Family::OpsInFlight),
        Family::OpsInFlight,
        &shard,
        in_flight,
    );
    let cl = st.cleaner;
    for (family, value) in [
        (Family::CleanerPasses, cl.passes),
        (Family::CleanerSegments, cl.segments),
        (Family::CleanerBytesRead, cl.bytes_read),
        (Family::CleanerBytesWritten, cl.bytes_written),
        (Family::CleanerRecordsRemoved, cl.records_removed),
        (Family::CleanerTombstonesRemoved, cl.tombstones_removed),
    ] {
        render::uint(c.of(family), family, &shard, value);
    }
    render::float(
        c.of(Family::CleanerSeconds),
        Family::CleanerSeconds,
        &shard,
        cl.busy_ns as f64 / 1e9,
    );

    for view in state.views.served() {
        let labels = [shard[0], ("view", Label::Str(&view.name))];
        let st = &view.stats;
        render::uint(
            c.of(Family::ViewBytesZeroCopy),
            Family::ViewBytesZeroCopy,
            &labels,
            st.bytes_zero_copy.get(),
        );
        render::uint(
            c.of(Family::ViewBytesRewritten),
            Family::ViewBytesRewritten,
            &labels,
            st.bytes_rewritten.get(),
        );
        for (outcome, n) in [
            ("whole", st.batches_whole.get()),
            ("skipped", st.batches_skipped.get()),
            ("rewritten", st.batches_rewritten.get()),
            ("unindexed", st.batches_unindexed.get()),
        ] {
            let labels = [labels[0], labels[1], ("outcome", Label::Str(outcome))];
            render::uint(c.of(Family::ViewBatches), Family::ViewBatches, &labels, n);
        }
    }

    render_partitions(state, &mut c, committed);
    c
}

/// Bytes one partition's five lines take, roughly (sizes the chunks once).
const PARTITION_LINE_BYTES: usize = 72;

/// The partitions this shard owns, and the lag of the committed offsets among them.
fn render_partitions(state: &ShardState, c: &mut Chunks, committed: &[Committed]) {
    let mut count = 0usize;
    state.engine.for_each_log(|_| count += 1);
    for f in [
        Family::PartitionLogEnd,
        Family::PartitionLogStart,
        Family::PartitionHighWatermark,
        Family::PartitionSize,
        Family::PartitionSegments,
    ] {
        c.of(f).reserve(count * PARTITION_LINE_BYTES);
    }
    state.engine.for_each_log(|log| {
        let labels = [
            ("topic", Label::Str(log.topic())),
            ("partition", Label::Int(i64::from(log.partition()))),
        ];
        let rows = [
            (Family::PartitionLogEnd, log.log_end_offset()),
            (Family::PartitionLogStart, log.log_start_offset()),
            (Family::PartitionHighWatermark, log.high_watermark()),
            (
                Family::PartitionSize,
                i64::try_from(log.size_bytes()).unwrap_or(i64::MAX),
            ),
            (
                Family::PartitionSegments,
                i64::try_from(log.segment_count()).unwrap_or(i64::MAX),
            ),
        ];
        for (family, value) in rows {
            render::int(c.of(family), family, &labels, value);
        }
    });
    let shard = [("shard", Label::Int(state.id as i64))];
    render::uint(
        c.of(Family::Partitions),
        Family::Partitions,
        &shard,
        count as u64,
    );

    for entry in committed {
        // The partition's log lives on its owner (a view's on its source's owner).
        if state.owner(&entry.topic, entry.partition) != state.id {
            continue;
        }
        let Ok(log) = state.log_of(&entry.topic, entry.partition) else {
            continue; // committed for a partition that does not exist (any more)
        };
        let labels = [
            ("group", Label::Str(&entry.group)),
            ("topic", Label::Str(&entry.topic)),
            ("partition", Label::Int(i64::from(entry.partition))),
        ];
        render::int(
            c.of(Family::ConsumerCommitted),
            Family::ConsumerCommitted,
            &labels,
            entry.offset,
        );
        let lag = (log.high_watermark() - entry.offset).max(0);
        render::int(c.of(Family::ConsumerLag), Family::ConsumerLag, &labels, lag);
    }
}

/// Broker-wide samples, rendered by the shard serving the endpoint.
fn render_broker(limits: &BrokerLimits) -> Chunks {
    let mut c = Chunks::new();
    render::uint(
        c.of(Family::RequestBudgetUsed),
        Family::RequestBudgetUsed,
        &[],
        limits.memory.used_bytes(),
    );
    render::uint(
        c.of(Family::RequestBudgetLimit),
        Family::RequestBudgetLimit,
        &[],
        limits.memory.limit_bytes(),
    );
    if let Some(n) = io_wq_workers() {
        render::uint(c.of(Family::IoWqWorkers), Family::IoWqWorkers, &[], n);
    }
    c
}

/// The process's `iou-wrk-*` threads now (`None` where `/proc` is not readable). Reads one small
/// procfs file per thread of the process: microseconds for a broker's few dozen threads.
pub fn io_wq_workers() -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut n = 0u64;
    let mut comm = std::path::PathBuf::new();
    for entry in tasks.take(IO_WQ_THREADS_COUNTED_MAX).flatten() {
        comm.clear();
        comm.push(entry.path());
        comm.push("comm");
        if let Ok(name) = std::fs::read(&comm) {
            if name.starts_with(b"iou-wrk") {
                n += 1;
            }
        }
    }
    Some(n)
}
