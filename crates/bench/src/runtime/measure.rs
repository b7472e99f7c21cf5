//! What the runtime benchmark measures: one sample per NOP run and per ping-pong run, the
//! rounds they make up, and per quantity the median and spread of each driver (the rows of the
//! comparison).
//!
//! # Invariants
//! - Each sample records the driver that really ran beside the one asked for.
//! - A [`Metric`]'s two summaries come from the same rounds; its ratio is uring / epoll.

use ringlog_runtime::uring::RingSetup;
use ringlog_runtime::IoKind;

use super::RuntimeBenchConfig;
pub use crate::cpu::CpuTime;
use crate::{Machine, Summary};

/// One NOP run.
#[derive(Clone, Debug)]
pub struct NopSample {
    /// The driver that really ran.
    pub driver: IoKind,
    /// Concurrent tasks.
    pub tasks: usize,
    /// NOPs completed.
    pub ops: u64,
    /// Wall time of the run.
    pub seconds: f64,
}

impl NopSample {
    /// Nanoseconds per NOP.
    pub fn ns_per_op(&self) -> f64 {
        self.seconds * 1e9 / self.ops as f64
    }
}

/// One ping-pong run.
#[derive(Clone, Debug)]
pub struct PingPongSample {
    /// The server driver asked for.
    pub requested: IoKind,
    /// The server driver that really ran.
    pub driver: IoKind,
    /// Requests (round trips) the client completed in its measured window.
    pub requests: u64,
    /// Length of the client's measured window.
    pub seconds: f64,
    /// Messages the server echoed in its measured window (bytes / message size).
    pub server_requests: f64,
    /// Server thread CPU over its window.
    pub server_cpu: CpuTime,
    /// Length of the server's measured window.
    pub server_seconds: f64,
    /// Client thread CPU over its window.
    pub client_cpu: CpuTime,
    /// The server shard's ring setup (io_uring only).
    pub ring: Option<RingSetup>,
}

impl PingPongSample {
    /// Requests per second seen by the client.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    /// Server CPU microseconds per echoed request.
    pub fn server_cpu_us_per_request(&self) -> f64 {
        self.server_cpu.seconds * 1e6 / self.server_requests
    }
    /// Client CPU microseconds per completed request.
    pub fn client_cpu_us_per_request(&self) -> f64 {
        self.client_cpu.seconds * 1e6 / self.requests as f64
    }
    /// Server thread busy share of its window, 0..=1.
    pub fn server_busy(&self) -> f64 {
        self.server_cpu.seconds / self.server_seconds
    }
}

/// Every measurement of one driver in one round.
#[derive(Clone, Debug)]
pub struct DriverRound {
    /// The driver asked for.
    pub requested: IoKind,
    /// NOPs from one task (`None` when NOPs were skipped).
    pub nop_sequential: Option<NopSample>,
    /// NOPs from `nop_tasks` tasks.
    pub nop_batched: Option<NopSample>,
    /// The ping-pong run.
    pub ping_pong: PingPongSample,
}

/// One row of the comparison: a quantity summarised over the rounds, per driver.
#[derive(Clone, Debug)]
pub struct Metric {
    /// What is measured.
    pub name: String,
    /// Unit of the values.
    pub unit: &'static str,
    /// Whether a larger value is better (throughput) or worse (cost).
    pub higher_is_better: bool,
    /// Summary for [`DRIVERS`](super::DRIVERS)`[0]` (uring).
    pub uring: Summary,
    /// Summary for [`DRIVERS`](super::DRIVERS)`[1]` (epoll).
    pub epoll: Summary,
    /// A caveat printed under the table.
    pub note: Option<&'static str>,
}

impl Metric {
    /// Ratio of the medians, uring / epoll.
    pub fn ratio(&self) -> f64 {
        self.uring.median / self.epoll.median
    }
}

/// Everything the benchmark measured.
#[derive(Clone, Debug)]
pub struct RuntimeBenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// What ran.
    pub config: RuntimeBenchConfig,
    /// Per round, one entry per driver in [`DRIVERS`](super::DRIVERS) order.
    pub rounds: Vec<[DriverRound; 2]>,
}

impl RuntimeBenchReport {
    pub(super) fn values(
        &self,
        driver: usize,
        f: impl Fn(&DriverRound) -> Option<f64>,
    ) -> Option<Summary> {
        let v: Vec<f64> = self.rounds.iter().filter_map(|r| f(&r[driver])).collect();
        Summary::of(&v)
    }

    pub(super) fn metric(
        &self,
        name: String,
        unit: &'static str,
        higher_is_better: bool,
        note: Option<&'static str>,
        f: impl Fn(&DriverRound) -> Option<f64> + Copy,
    ) -> Option<Metric> {
        Some(Metric {
            name,
            unit,
            higher_is_better,
            uring: self.values(0, f)?,
            epoll: self.values(1, f)?,
            note,
        })
    }

    /// The comparison rows: each quantity's median and spread per driver.
    pub fn metrics(&self) -> Vec<Metric> {
        const NOP_NOTE: Option<&str> = Some(
            "epoll column of the NOP rows: runtime::nop() on epoll is a task yield, i.e. \
             executor overhead only (no syscall); uring minus epoll = cost of the ring round trip",
        );
        [
            self.metric("ping-pong requests/s".into(), "req/s", true, None, |r| {
                Some(r.ping_pong.requests_per_second())
            }),
            self.metric("server CPU per request".into(), "us", false, None, |r| {
                Some(r.ping_pong.server_cpu_us_per_request())
            }),
            self.metric("server CPU busy".into(), "%", false, None, |r| {
                Some(r.ping_pong.server_busy() * 100.0)
            }),
            self.metric("server CPU in kernel".into(), "%", false, None, |r| {
                Some(r.ping_pong.server_cpu.sys_share * 100.0)
            }),
            self.metric("client CPU per request".into(), "us", false, None, |r| {
                Some(r.ping_pong.client_cpu_us_per_request())
            }),
            self.metric("NOP, 1 task".into(), "ns/op", false, NOP_NOTE, |r| {
                r.nop_sequential.as_ref().map(NopSample::ns_per_op)
            }),
            self.metric(
                format!("NOP, {} tasks", self.config.nop_tasks),
                "ns/op",
                false,
                NOP_NOTE,
                |r| r.nop_batched.as_ref().map(NopSample::ns_per_op),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The ring setup of the io_uring server shard (from the first round that ran io_uring).
    pub fn ring_setup(&self) -> Option<&RingSetup> {
        self.rounds
            .iter()
            .find_map(|r| r[0].ping_pong.ring.as_ref())
    }

    /// Rounds in which the requested driver did not run (io_uring fell back to epoll).
    pub fn fallbacks(&self) -> usize {
        self.rounds
            .iter()
            .flatten()
            .filter(|d| d.ping_pong.driver != d.requested)
            .count()
    }
}
