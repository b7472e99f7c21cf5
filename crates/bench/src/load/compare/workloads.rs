//! The six workloads of issue 6: what each one runs (a [`LoadConfig`]), against which broker
//! `--flush`, and the quantity it is judged by.

use std::net::SocketAddr;

use super::CompareConfig;
use crate::load::{LoadConfig, LoadReport, Mode};
use ringlog_runtime::IoKind;
use ringlog_storage::records::Compression;

/// Partitions of every workload's topic (workload 3 writes one of them): more than one, so the
/// broker serves several logs, few enough that each gets long appends.
pub(super) const PARTITIONS: i32 = 4;

/// The quantity a workload is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// MB/s (higher is better).
    MbPerS,
    /// Records/s (higher is better).
    RecordsPerS,
    /// Requests/s (higher is better).
    RequestsPerS,
    /// p99 latency in us (lower is better).
    P99Us,
}

impl Metric {
    pub(super) fn unit(self) -> &'static str {
        match self {
            Metric::MbPerS => "MB/s",
            Metric::RecordsPerS => "records/s",
            Metric::RequestsPerS => "requests/s",
            Metric::P99Us => "p99 us",
        }
    }
    pub(super) fn higher_is_better(self) -> bool {
        self != Metric::P99Us
    }
    pub(super) fn of(self, r: &LoadReport) -> f64 {
        match self {
            Metric::MbPerS => r.mb_per_s(),
            Metric::RecordsPerS => r.records_per_s(),
            Metric::RequestsPerS => r.requests_per_s(),
            Metric::P99Us => r.latency.map_or(f64::NAN, |l| l.p99_us),
        }
    }
}

/// One workload of the comparison.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// 1..=6, as numbered in issue 6.
    pub id: usize,
    /// Short name.
    pub name: &'static str,
    /// Broker `--flush`.
    pub flush: &'static str,
    /// What it is judged by.
    pub metric: Metric,
}

/// The six workloads.
pub const WORKLOADS: [Workload; 6] = [
    Workload {
        id: 1,
        name: "produce 1 KiB, 16 conns, acks=1, flush never",
        flush: "never",
        metric: Metric::MbPerS,
    },
    Workload {
        id: 2,
        name: "produce 1 KiB, 16 conns, acks=all, flush always",
        flush: "always",
        metric: Metric::MbPerS,
    },
    Workload {
        id: 3,
        name: "produce 100 B x 80/batch, 1 conn (Kafka 2014 shape)",
        flush: "never",
        metric: Metric::RecordsPerS,
    },
    Workload {
        id: 4,
        name: "consume from page cache, 4 conns",
        flush: "never",
        metric: Metric::MbPerS,
    },
    Workload {
        id: 5,
        name: "256 conns, 1 x 100 B record per request",
        flush: "never",
        metric: Metric::RequestsPerS,
    },
    Workload {
        id: 6,
        name: "produce latency at 50% of max rate",
        flush: "never",
        metric: Metric::P99Us,
    },
];

/// The load of workload `id` against `addr` (`rate` for workload 6).
pub fn load_of(id: usize, addr: SocketAddr, c: &CompareConfig, rate: Option<f64>) -> LoadConfig {
    let base = LoadConfig {
        topic: format!("bench-w{id}"),
        partitions: PARTITIONS,
        warmup: c.warmup,
        duration: c.measure,
        progress: c.progress,
        fill_bytes: c.fill_bytes,
        compression: Compression::None,
        client_cpu: Some(ringlog_runtime::online_cpus().saturating_sub(1)),
        ..LoadConfig::new(Mode::Produce, addr)
    };
    match id {
        1 => LoadConfig {
            connections: 16,
            record_bytes: 1024,
            records_per_batch: 64,
            acks: 1,
            ..base
        },
        2 => LoadConfig {
            connections: 16,
            record_bytes: 1024,
            records_per_batch: 64,
            acks: -1,
            ..base
        },
        // Kreps 2014, "single producer thread, no replication": 100-byte records, batch.size 8196.
        3 => LoadConfig {
            connections: 1,
            partitions: 1,
            record_bytes: 100,
            records_per_batch: 80,
            acks: 1,
            ..base
        },
        4 => LoadConfig {
            mode: Mode::Consume,
            connections: 4,
            record_bytes: 1024,
            records_per_batch: 64,
            ..base
        },
        5 => LoadConfig {
            connections: 256,
            record_bytes: 100,
            records_per_batch: 1,
            in_flight: 1,
            acks: 1,
            ..base
        },
        // Paced: the generator runs io_uring, whose timeouts have ns resolution; the epoll
        // driver's timers round up to whole ms, which would add up to 1 ms of lateness to every
        // scheduled send and so to the measured latency.
        _ => LoadConfig {
            connections: 16,
            record_bytes: 1024,
            records_per_batch: 16,
            acks: 1,
            rate,
            client_io: IoKind::Uring,
            ..base
        },
    }
}
