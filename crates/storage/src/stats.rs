//! Counters of the storage engine for the broker's metrics endpoint: fdatasync latency, group
//! commit batch sizes, and the compaction cleaner's per-pass numbers.
//!
//! The counters are thread-local plain [`Cell`]s: a shard is one pinned thread and its engine
//! and logs are `!Send`, so "this thread's counters" are "this shard's counters", and a hook on
//! the write path costs a thread-local lookup and a few non-atomic adds, never a lock or an
//! atomic shared with another shard. A reader on the same thread takes a [`StorageStatsSnapshot`]
//! (plain numbers, `Send`) and merges it with the other shards' snapshots.
//!
//! Hooks (one line each where the work happens):
//! - [`record_fsync`]: after each group-commit fdatasync of a log (`Log::flush_once`).
//! - [`record_cleaner_pass`]: after each compaction pass of a log (the cleaner fills a
//!   [`CleanerPass`]).
//!
//! # Invariants
//! - A [`Histogram`] counts every recorded value in exactly one bucket (the first whose upper
//!   bound is `>=` the value, or the overflow bucket) and adds it to `sum` and `count`; its
//!   bucket counts always add up to `count`.

use std::cell::Cell;
use std::time::Duration;

/// Upper bounds (ns) of the fdatasync latency buckets: 50 µs (a fast NVMe with a write cache)
/// to 2.5 s (a stalled disk); anything slower lands in the overflow bucket.
pub const FSYNC_BUCKETS_NS: &[u64] = &[
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// Upper bounds of the group-commit batch size buckets: records made durable by one fdatasync,
/// powers of two up to 64 Ki (a Produce of many small records in one batch can pass that).
pub const GROUP_COMMIT_BUCKETS: &[u64] = &[
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536,
];

/// A fixed-bucket histogram of `u64` values in plain cells (one thread's).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One count per bound, then the overflow bucket (not cumulative).
    counts: Box<[Cell<u64>]>,
    sum: Cell<u64>,
    count: Cell<u64>,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending upper bounds).
    pub fn new(bounds: &'static [u64]) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| Cell::new(0)).collect(),
            sum: Cell::new(0),
            count: Cell::new(0),
        }
    }

    /// Count one value.
    #[inline]
    pub fn record(&self, value: u64) {
        // Linear: at most ~20 bounds, and small values (the common case) stop early.
        let i = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        let c = &self.counts[i];
        c.set(c.get() + 1);
        self.sum.set(self.sum.get().saturating_add(value));
        self.count.set(self.count.get() + 1);
    }

    /// Count a duration in nanoseconds (saturating at `u64::MAX` ns, 584 years).
    #[inline]
    pub fn record_duration(&self, d: Duration) {
        self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Values recorded so far.
    pub fn count(&self) -> u64 {
        self.count.get()
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            counts: self.counts.iter().map(Cell::get).collect(),
            sum: self.sum.get(),
            count: self.count.get(),
        }
    }
}

/// A histogram's counts at one moment (`Send`: crosses shards on a scrape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Upper bounds of the buckets.
    pub bounds: &'static [u64],
    /// Count per bucket (not cumulative), the overflow bucket last.
    pub counts: Vec<u64>,
    /// Sum of the values.
    pub sum: u64,
    /// Number of values.
    pub count: u64,
}

impl HistogramSnapshot {
    /// Cumulative counts per bound (Prometheus `le` buckets), without the `+Inf` bucket (which
    /// is `count`).
    pub fn cumulative(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut acc = 0u64;
        self.bounds
            .iter()
            .zip(&self.counts)
            .map(move |(&bound, &n)| {
                acc += n;
                (bound, acc)
            })
    }
}

/// What the compaction cleaner reports after one pass over one log (it fills this and calls
/// [`record_cleaner_pass`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanerPass {
    /// Segments rewritten.
    pub segments: u64,
    /// Bytes of the segments read.
    pub bytes_read: u64,
    /// Bytes written to the cleaned segments.
    pub bytes_written: u64,
    /// Records dropped (superseded by a later record with the same key).
    pub records_removed: u64,
    /// Tombstones dropped (past `delete.retention.ms`).
    pub tombstones_removed: u64,
    /// Time the pass took.
    pub duration: Duration,
}

/// The cleaner's totals on this thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanerStats {
    /// Passes finished.
    pub passes: u64,
    /// Sums of every pass's [`CleanerPass`] fields.
    pub segments: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Records dropped.
    pub records_removed: u64,
    /// Tombstones dropped.
    pub tombstones_removed: u64,
    /// Time spent cleaning, in nanoseconds.
    pub busy_ns: u64,
}

impl CleanerStats {
    fn add(&mut self, pass: &CleanerPass) {
        self.passes += 1;
        self.segments += pass.segments;
        self.bytes_read += pass.bytes_read;
        self.bytes_written += pass.bytes_written;
        self.records_removed += pass.records_removed;
        self.tombstones_removed += pass.tombstones_removed;
        self.busy_ns = self
            .busy_ns
            .saturating_add(u64::try_from(pass.duration.as_nanos()).unwrap_or(u64::MAX));
    }
}

/// One thread's storage counters.
struct StorageStats {
    fsync: Histogram,
    fsync_failures: Cell<u64>,
    group_commit_records: Histogram,
    cleaner: Cell<CleanerStats>,
}

thread_local! {
    static STATS: StorageStats = StorageStats {
        fsync: Histogram::new(FSYNC_BUCKETS_NS),
        fsync_failures: Cell::new(0),
        group_commit_records: Histogram::new(GROUP_COMMIT_BUCKETS),
        cleaner: Cell::new(CleanerStats::default()),
    };
}

/// A group-commit fdatasync finished after `took`, making `records` offsets durable (0 when it
/// covered nothing new), `ok` unless it failed.
#[inline]
pub fn record_fsync(took: Duration, records: u64, ok: bool) {
    STATS.with(|s| {
        s.fsync.record_duration(took);
        if ok {
            s.group_commit_records.record(records);
        } else {
            s.fsync_failures.set(s.fsync_failures.get() + 1);
        }
    });
}

/// A compaction pass finished.
pub fn record_cleaner_pass(pass: &CleanerPass) {
    STATS.with(|s| {
        let mut c = s.cleaner.get();
        c.add(pass);
        s.cleaner.set(c);
    });
}

/// This thread's storage counters at one moment.
#[derive(Clone, Debug)]
pub struct StorageStatsSnapshot {
    /// fdatasync latency, ns.
    pub fsync_ns: HistogramSnapshot,
    /// fdatasyncs that failed (the log was poisoned).
    pub fsync_failures: u64,
    /// Records made durable per successful fdatasync.
    pub group_commit_records: HistogramSnapshot,
    /// Compaction totals.
    pub cleaner: CleanerStats,
}

/// This thread's (shard's) counters.
pub fn snapshot() -> StorageStatsSnapshot {
    STATS.with(|s| StorageStatsSnapshot {
        fsync_ns: s.fsync.snapshot(),
        fsync_failures: s.fsync_failures.get(),
        group_commit_records: s.group_commit_records.snapshot(),
        cleaner: s.cleaner.get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_puts_each_value_in_one_bucket_and_cumulates() {
        let h = Histogram::new(&[1, 10, 100]);
        for v in [0, 1, 2, 10, 11, 100, 101, u64::MAX] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.counts, vec![2, 2, 2, 2]);
        assert_eq!(s.count, 8);
        assert_eq!(s.counts.iter().sum::<u64>(), s.count);
        assert_eq!(s.sum, u64::MAX, "the sum saturates");
        let cum: Vec<_> = s.cumulative().collect();
        assert_eq!(cum, vec![(1, 2), (10, 4), (100, 6)]);
    }

    #[test]
    fn fsync_and_cleaner_hooks_count_on_this_thread_only() {
        let before = snapshot();
        record_fsync(Duration::from_micros(70), 5, true);
        record_fsync(Duration::from_secs(10), 0, false);
        record_cleaner_pass(&CleanerPass {
            segments: 2,
            bytes_read: 100,
            bytes_written: 40,
            records_removed: 3,
            tombstones_removed: 1,
            duration: Duration::from_millis(2),
        });
        let after = snapshot();
        assert_eq!(after.fsync_ns.count - before.fsync_ns.count, 2);
        assert_eq!(after.fsync_failures - before.fsync_failures, 1);
        assert_eq!(
            after.group_commit_records.count - before.group_commit_records.count,
            1
        );
        assert_eq!(after.cleaner.passes - before.cleaner.passes, 1);
        assert_eq!(after.cleaner.bytes_read - before.cleaner.bytes_read, 100);
        let other = std::thread::spawn(|| snapshot().fsync_ns.count)
            .join()
            .unwrap();
        assert_eq!(other, 0, "another thread (shard) has its own counters");
    }
}
