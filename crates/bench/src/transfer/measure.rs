//! What the transfer benchmark measures: per run the bytes, the time and the CPU time
//! attributed by thread (sender, receiver, io-wq workers, other, outside the process); per cell
//! (driver x path x slice) the median and spread; per path the broker consume against the best
//! raw path of the same run.
//!
//! # Invariants
//! - CPU time is read through [`crate::cpu`] and attributed here, by thread name and id only.
//! - Ratios compare medians of the same invocation.

use ringlog_broker::transfer::TransferPath;
use ringlog_runtime::IoKind;

use super::TransferBenchConfig;
use crate::cpu::ThreadsSnapshot;
use crate::{Machine, Summary};

/// CPU seconds of one run, attributed by thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSplit {
    /// The sending shard (or the broker's shard).
    pub sender: f64,
    /// The reader (or the consumer).
    pub receiver: f64,
    /// Kernel worker threads of this process (`iou-wrk-*`, `iou-sqp-*`).
    pub workers: f64,
    /// Other threads of this process.
    pub other: f64,
    /// Busy CPU time of the whole machine not spent in this process (ksoftirqd, kworkers, and
    /// other tenants): noisy.
    pub outside: f64,
}

impl CpuSplit {
    /// The CPU time between two snapshots of this process, by thread: the thread that took
    /// `after` is the sender; threads whose name starts with one of `receivers` are the
    /// receiver; `iou-*` are workers; the rest is other. The raw runs' reader measures itself
    /// (it may exit before the snapshot), so it is left out here. Threads that appeared count
    /// from 0.
    pub(super) fn between(
        before: &ThreadsSnapshot,
        after: &ThreadsSnapshot,
        receivers: &[&str],
    ) -> CpuSplit {
        let mut split = CpuSplit::default();
        for d in after.deltas_since(before) {
            if d.tid == after.taker() {
                split.sender += d.seconds;
            } else if receivers.iter().any(|r| d.name.starts_with(r)) {
                split.receiver += d.seconds;
            } else if d.name.starts_with("iou-") {
                split.workers += d.seconds;
            } else if d.name == READER_THREAD {
                // Measured by the reader itself.
            } else {
                split.other += d.seconds;
            }
        }
        split.outside = after.outside_since(before);
        split
    }
}

/// Name of the raw runs' reader thread.
pub(super) const READER_THREAD: &str = "bench-reader";

/// One raw run.
#[derive(Clone, Debug)]
pub struct RawSample {
    /// Driver that ran (a ring that cannot be set up falls back to epoll).
    pub driver: IoKind,
    /// Path under test.
    pub path: TransferPath,
    /// Slice bytes.
    pub slice: u64,
    /// Bytes the reader got (headers included).
    pub bytes: u64,
    /// From the first send to the reader's end of stream.
    pub seconds: f64,
    /// CPU by thread.
    pub cpu: CpuSplit,
}

impl RawSample {
    pub(super) fn gbps(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e9
    }
}

/// One broker consume run.
#[derive(Clone, Debug)]
pub struct BrokerSample {
    /// The broker's transfer path.
    pub path: TransferPath,
    /// Record bytes the consumer received.
    pub bytes: u64,
    /// Fetches it took.
    pub fetches: u64,
    /// From the first fetch to the last response.
    pub seconds: f64,
    /// CPU by thread (sender = broker shard, receiver = consumer).
    pub cpu: CpuSplit,
}

/// Everything one invocation measured.
#[derive(Clone, Debug)]
pub struct TransferBenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// What ran.
    pub config: TransferBenchConfig,
    /// Raw runs, in the order they ran.
    pub raw: Vec<RawSample>,
    /// Broker runs.
    pub broker: Vec<BrokerSample>,
    /// Raw runs of the broker section (the segment file in 1 MiB slices, io_uring sender).
    pub broker_raw: Vec<RawSample>,
    /// Bytes of the segment file the broker section sent.
    pub segment_bytes: u64,
}

/// Median/spread of one (driver, path, slice) cell.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Driver.
    pub driver: IoKind,
    /// Path.
    pub path: TransferPath,
    /// Slice bytes.
    pub slice: u64,
    /// GB/s.
    pub gbps: Summary,
    /// CPU seconds per GB: sender, receiver, workers, outside.
    pub cpu_per_gb: [Summary; 4],
}

fn cpu_per_gb(samples: &[&RawSample], f: impl Fn(&CpuSplit) -> f64) -> Summary {
    let v: Vec<f64> = samples
        .iter()
        .map(|s| f(&s.cpu) / (s.bytes as f64 / 1e9))
        .collect();
    Summary::of(&v).unwrap_or(Summary {
        median: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
    })
}

fn cells_of(samples: &[RawSample]) -> Vec<Cell> {
    let mut keys: Vec<(IoKind, TransferPath, u64)> = Vec::new();
    for s in samples {
        let k = (s.driver, s.path, s.slice);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .filter_map(|(driver, path, slice)| {
            let mine: Vec<&RawSample> = samples
                .iter()
                .filter(|s| (s.driver, s.path, s.slice) == (driver, path, slice))
                .collect();
            let g: Vec<f64> = mine.iter().map(|s| s.gbps()).collect();
            Some(Cell {
                driver,
                path,
                slice,
                gbps: Summary::of(&g)?,
                cpu_per_gb: [
                    cpu_per_gb(&mine, |c| c.sender),
                    cpu_per_gb(&mine, |c| c.receiver),
                    cpu_per_gb(&mine, |c| c.workers),
                    cpu_per_gb(&mine, |c| c.outside),
                ],
            })
        })
        .collect()
}

/// The broker comparison of one path.
#[derive(Clone, Debug)]
pub struct BrokerRow {
    /// Path.
    pub path: TransferPath,
    /// Consume GB/s (record bytes).
    pub gbps: Summary,
    /// Raw GB/s of the same path, same file, 1 MiB slices, same run.
    pub raw_gbps: Summary,
    /// Broker shard CPU-s per GB.
    pub broker_cpu_per_gb: f64,
    /// Consumer CPU-s per GB.
    pub consumer_cpu_per_gb: f64,
    /// io-wq workers CPU-s per GB.
    pub workers_cpu_per_gb: f64,
    /// Consume median / best raw median of the run.
    pub ratio_to_best_raw: f64,
}

impl TransferBenchReport {
    /// Median/spread per raw cell, in run order.
    pub fn cells(&self) -> Vec<Cell> {
        cells_of(&self.raw)
    }

    /// The broker rows and the best raw path of the broker section.
    pub fn broker_rows(&self) -> (Vec<BrokerRow>, Option<(TransferPath, f64)>) {
        let raw = cells_of(&self.broker_raw);
        let best = raw
            .iter()
            .max_by(|a, b| a.gbps.median.total_cmp(&b.gbps.median))
            .map(|c| (c.path, c.gbps.median));
        let mut rows = Vec::new();
        for cell in &raw {
            let mine: Vec<&BrokerSample> =
                self.broker.iter().filter(|b| b.path == cell.path).collect();
            let g: Vec<f64> = mine
                .iter()
                .map(|b| b.bytes as f64 / b.seconds / 1e9)
                .collect();
            let Some(gbps) = Summary::of(&g) else {
                continue;
            };
            let per_gb = |f: &dyn Fn(&CpuSplit) -> f64| {
                Summary::of(
                    &mine
                        .iter()
                        .map(|b| f(&b.cpu) / (b.bytes as f64 / 1e9))
                        .collect::<Vec<_>>(),
                )
                .map_or(f64::NAN, |s| s.median)
            };
            rows.push(BrokerRow {
                path: cell.path,
                gbps,
                raw_gbps: cell.gbps,
                broker_cpu_per_gb: per_gb(&|c| c.sender),
                consumer_cpu_per_gb: per_gb(&|c| c.receiver),
                workers_cpu_per_gb: per_gb(&|c| c.workers),
                ratio_to_best_raw: best.map_or(f64::NAN, |(_, b)| gbps.median / b),
            });
        }
        (rows, best)
    }
}
