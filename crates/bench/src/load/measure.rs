//! What a load run measures and how: the counters and the latency histogram the tasks update,
//! the coordinator that samples them (and CPU time) at the edges of the measured window, and
//! the rates derived from the samples.
//!
//! # Invariants
//! - Counters only grow; the window's numbers are differences of two samples.
//! - The histogram records only while `measuring` is set, i.e. inside the window.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::report::Progress;
use super::{LoadConfig, LoadError};
use crate::cpu;
use ringlog_runtime::time;

/// How often the coordinator wakes in the window (count check, progress line).
const TICK_MS: u64 = 100;
/// Histogram range: 1 ns .. 100 s, 3 significant digits (0.1% resolution).
const HIST_LOW_NS: u64 = 1;
const HIST_HIGH_NS: u64 = 100_000_000_000;
const HIST_SIGFIG: u8 = 3;

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// Samples (records for e2e, requests otherwise).
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// Percentiles of a histogram in ns; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Some(Latency {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1_000.0,
        })
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct LoadReport {
    /// The configuration it ran with.
    pub config: LoadConfig,
    /// Measured window, seconds.
    pub seconds: f64,
    /// Records produced (acked) or consumed in the window.
    pub records: u64,
    /// Value bytes (produce, e2e) or record-batch bytes (consume) in the window.
    pub bytes: u64,
    /// Requests completed in the window.
    pub requests: u64,
    /// Latency (produce: ack; consume: fetch round trip; e2e: stamp to receipt).
    pub latency: Option<Latency>,
    /// CPU seconds of this process in the window.
    pub client_cpu_s: f64,
    /// CPU seconds of the broker process in the window (when its pid is known and it is not this
    /// process).
    pub broker_cpu_s: Option<f64>,
    /// The broker runs in this process: `client_cpu_s` includes it.
    pub broker_in_process: bool,
}

impl LoadReport {
    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }
    /// MB/s (10^6 bytes).
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }
    /// Requests per second.
    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    /// Broker CPU seconds per GB (10^9 bytes) moved.
    pub fn broker_cpu_s_per_gb(&self) -> Option<f64> {
        let cpu = self.broker_cpu_s?;
        (self.bytes > 0).then(|| cpu / (self.bytes as f64 / 1e9))
    }
    /// Generator CPU seconds per GB.
    pub fn client_cpu_s_per_gb(&self) -> f64 {
        self.client_cpu_s / (self.bytes as f64 / 1e9)
    }
}

/// Counters shared by the tasks of one run (one thread: `Cell`s).
pub(super) struct Shared {
    /// Inside the measured window: record latencies.
    pub(super) measuring: Cell<bool>,
    /// Stop sending.
    pub(super) stop: Cell<bool>,
    pub(super) records: Cell<u64>,
    pub(super) bytes: Cell<u64>,
    pub(super) requests: Cell<u64>,
    pub(super) hist: RefCell<Histogram<u64>>,
}

impl Shared {
    pub(super) fn new() -> Shared {
        Shared {
            measuring: Cell::new(false),
            stop: Cell::new(false),
            records: Cell::new(0),
            bytes: Cell::new(0),
            requests: Cell::new(0),
            hist: RefCell::new(
                Histogram::new_with_bounds(HIST_LOW_NS, HIST_HIGH_NS, HIST_SIGFIG)
                    .expect("valid histogram bounds"),
            ),
        }
    }

    pub(super) fn count(&self, records: u64, bytes: u64) {
        self.records.set(self.records.get() + records);
        self.bytes.set(self.bytes.get() + bytes);
        self.requests.set(self.requests.get() + 1);
    }

    pub(super) fn latency(&self, d: Duration, n: u64) {
        if self.measuring.get() {
            let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            self.hist
                .borrow_mut()
                .saturating_record_n(ns.clamp(HIST_LOW_NS, HIST_HIGH_NS), n);
        }
    }

    pub(super) fn snapshot(&self) -> (u64, u64, u64) {
        (self.records.get(), self.bytes.get(), self.requests.get())
    }
}

/// What the coordinator sampled at the window's edges.
pub(super) struct Window {
    pub(super) seconds: f64,
    pub(super) records: u64,
    pub(super) bytes: u64,
    pub(super) requests: u64,
    pub(super) client_cpu_s: f64,
    pub(super) broker_cpu_s: Option<f64>,
}

/// Sleep through the warm-up, sample, run the window (drawing progress, watching the count),
/// sample again, and tell every task to stop.
pub(super) async fn coordinate(
    config: &LoadConfig,
    shared: &Shared,
    warm_end: Instant,
    end: Instant,
) -> Result<Window, LoadError> {
    let broker_pid = config.broker_pid.filter(|&pid| pid != std::process::id());
    let result = async {
        let mut progress = Progress::new(config.progress);
        while Instant::now() < warm_end {
            time::sleep_until(warm_end.min(Instant::now() + Duration::from_millis(TICK_MS))).await;
            progress.draw("warm-up", shared, Instant::now(), warm_end, None);
        }
        shared.measuring.set(true);
        let t0 = Instant::now();
        let (r0, b0, q0) = shared.snapshot();
        let cpu0 = CpuReading::take(broker_pid)?;
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            if let Some(count) = config.count {
                if shared.records.get() - r0 >= count {
                    break;
                }
            }
            time::sleep_until(end.min(now + Duration::from_millis(TICK_MS))).await;
            progress.draw("measure", shared, Instant::now(), end, Some((t0, r0, b0)));
        }
        let t1 = Instant::now();
        let (r1, b1, q1) = shared.snapshot();
        let cpu1 = CpuReading::take(broker_pid)?;
        shared.measuring.set(false);
        progress.finish();
        Ok(Window {
            seconds: (t1 - t0).as_secs_f64(),
            records: r1 - r0,
            bytes: b1 - b0,
            requests: q1 - q0,
            client_cpu_s: cpu1.client - cpu0.client,
            broker_cpu_s: cpu0.broker.zip(cpu1.broker).map(|(a, b)| b - a),
        })
    }
    .await;
    shared.stop.set(true);
    result
}

/// CPU seconds of the generator's process and of the broker's at one edge of the window.
struct CpuReading {
    client: f64,
    broker: Option<f64>,
}

impl CpuReading {
    fn take(broker_pid: Option<u32>) -> Result<CpuReading, LoadError> {
        Ok(CpuReading {
            client: cpu::process_seconds(None)?,
            broker: broker_pid
                .map(|p| cpu::process_seconds(Some(p)))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_come_from_the_histogram() {
        let mut h =
            Histogram::<u64>::new_with_bounds(HIST_LOW_NS, HIST_HIGH_NS, HIST_SIGFIG).unwrap();
        for us in 1..=1000u64 {
            h.record(us * 1_000).unwrap();
        }
        let l = Latency::of(&h).unwrap();
        assert_eq!(l.count, 1000);
        assert!((l.p50_us - 500.0).abs() <= 1.0, "{l:?}");
        assert!((l.p99_us - 990.0).abs() <= 1.0, "{l:?}");
        assert!((l.p999_us - 999.0).abs() <= 1.0, "{l:?}");
        assert!((l.max_us - 1000.0).abs() <= 1.0, "{l:?}");
        h.reset();
        assert!(Latency::of(&h).is_none());
    }
}
