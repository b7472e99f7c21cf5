//! What `compare` measured: every run (driver asked for, driver that ran, its load report),
//! per workload the medians and the io_uring advantage, and the goals of issue 6 judged from
//! them.
//!
//! # Invariants
//! - The advantage is oriented so that > 1 means io_uring is better, for throughput and for
//!   latency alike.
//! - Ratios compare medians of the same invocation; per-round ratios give their spread.

use super::{CompareConfig, Workload, DRIVERS};
use crate::load::limits::Limits;
use crate::load::LoadReport;
use crate::{Machine, Summary};
use ringlog_runtime::IoKind;

/// One run: which driver was asked for, which really ran, and what was measured.
#[derive(Clone, Debug)]
pub struct Run {
    /// Requested broker driver.
    pub requested: IoKind,
    /// Driver the broker really ran (io_uring falls back to epoll when it cannot be set up).
    pub effective: IoKind,
    /// The measurement.
    pub report: LoadReport,
}

/// All rounds of one workload.
#[derive(Clone, Debug)]
pub struct WorkloadResult {
    /// Which workload.
    pub workload: Workload,
    /// Per round: [uring, epoll].
    pub rounds: Vec<[Run; 2]>,
    /// Offered load (workload 6), records/s.
    pub rate: Option<f64>,
    /// Encoded bytes per Produce batch (the broker's write size).
    pub batch_bytes: usize,
}

impl WorkloadResult {
    pub(super) fn values(&self, driver: usize, f: impl Fn(&LoadReport) -> f64) -> Option<Summary> {
        let v: Vec<f64> = self.rounds.iter().map(|r| f(&r[driver].report)).collect();
        Summary::of(&v)
    }

    /// The judged metric per driver.
    pub fn metric(&self, driver: usize) -> Option<Summary> {
        self.values(driver, |r| self.workload.metric.of(r))
    }

    /// uring over epoll, oriented so > 1 means io_uring is better: ratio of medians, and the
    /// min..max of the per-round ratios.
    pub fn advantage(&self) -> Option<(f64, Summary)> {
        let (u, e) = (self.metric(0)?, self.metric(1)?);
        let orient = |u: f64, e: f64| {
            if self.workload.metric.higher_is_better() {
                u / e
            } else {
                e / u
            }
        };
        let per_round: Vec<f64> = self
            .rounds
            .iter()
            .map(|r| {
                let m = self.workload.metric;
                orient(m.of(&r[0].report), m.of(&r[1].report))
            })
            .collect();
        Some((orient(u.median, e.median), Summary::of(&per_round)?))
    }

    /// Broker CPU seconds per GB per driver.
    pub fn cpu_per_gb(&self, driver: usize) -> Option<Summary> {
        self.values(driver, |r| r.broker_cpu_s_per_gb().unwrap_or(f64::NAN))
    }

    pub(super) fn fallbacks(&self) -> usize {
        self.rounds
            .iter()
            .flatten()
            .filter(|r| r.requested != r.effective)
            .count()
    }
}

/// Everything one `compare` measured.
#[derive(Clone, Debug)]
pub struct CompareReport {
    /// Where it ran.
    pub machine: Machine,
    /// With what.
    pub config: CompareConfig,
    /// Raw limits, same run.
    pub limits: Limits,
    /// Workload 6 calibration: max records/s per driver (closed loop).
    pub calibration: Option<[f64; 2]>,
    /// Per workload.
    pub workloads: Vec<WorkloadResult>,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
}

/// One goal of issue 6, judged from this run.
#[derive(Clone, Debug)]
pub struct Goal {
    /// What is asked.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met or not (`None` when the workload did not run).
    pub met: Option<bool>,
}

impl CompareReport {
    pub(super) fn workload(&self, id: usize) -> Option<&WorkloadResult> {
        self.workloads.iter().find(|w| w.workload.id == id)
    }

    /// The goals of issue 6 against this run.
    pub fn goals(&self) -> Vec<Goal> {
        let mut goals = Vec::new();
        let l = &self.limits;
        if let Some(w) = self.workload(1).and_then(|w| w.metric(0)) {
            let share = w.median / l.loopback_tcp_mb_s;
            goals.push(Goal {
                goal: "workload 1 MB/s >= 50% of one raw loopback TCP stream".into(),
                measured: format!(
                    "{:.0} / {:.0} MB/s = {:.1}% (io_uring broker)",
                    w.median,
                    l.loopback_tcp_mb_s,
                    share * 100.0
                ),
                met: Some(share >= 0.5),
            });
        }
        if let Some(w) = self.workload(2).and_then(|w| w.metric(0)) {
            // Compare record-batch bytes written per second with the raw loop's bytes.
            let r = self.workload(2).expect("present");
            let wire = w.median * r.batch_bytes as f64 / (1024.0 * 64.0);
            let ratio = wire / l.fsync_mb_s;
            goals.push(Goal {
                goal: format!(
                    "workload 2 >= 1.0x raw append+fdatasync per write at the same write size ({} B)",
                    l.fsync_write_bytes
                ),
                measured: format!(
                    "{wire:.1} MB/s of batches / {:.1} MB/s = {ratio:.2}x (io_uring broker)",
                    l.fsync_mb_s
                ),
                met: Some(ratio >= 1.0),
            });
        }
        for w in &self.workloads {
            if let Some((adv, spread)) = w.advantage() {
                let need = if matches!(w.workload.id, 2 | 5) {
                    1.2
                } else {
                    1.0
                };
                goals.push(Goal {
                    goal: format!("workload {}: io_uring >= {need:.1}x epoll", w.workload.id),
                    measured: format!("{adv:.2}x (rounds {:.2}..{:.2})", spread.min, spread.max),
                    met: Some(adv >= need),
                });
            }
        }
        if let Some(w) = self.workload(6) {
            for (i, io) in DRIVERS.iter().enumerate() {
                if let Some(p99) = w.metric(i) {
                    goals.push(Goal {
                        goal: format!("p99 produce latency at 50% load <= 1 ms ({io})"),
                        measured: format!("{:.0} us", p99.median),
                        met: Some(p99.median <= 1000.0),
                    });
                }
            }
        }
        goals
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use super::*;
    use crate::load::compare::{load_of, CompareConfig, WORKLOADS};
    use crate::load::Latency;

    #[test]
    fn advantage_is_oriented_so_higher_means_uring_is_better() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let c = CompareConfig::new(PathBuf::new());
        let mk = |io, mb: f64, p99: f64| Run {
            requested: io,
            effective: io,
            report: LoadReport {
                config: load_of(1, addr, &c, None),
                seconds: 1.0,
                records: 1,
                bytes: (mb * 1e6) as u64,
                requests: 1,
                latency: Some(Latency {
                    count: 1,
                    p50_us: p99,
                    p99_us: p99,
                    p999_us: p99,
                    max_us: p99,
                    mean_us: p99,
                }),
                client_cpu_s: 0.1,
                broker_cpu_s: Some(0.5),
                broker_in_process: false,
            },
        };
        let rounds = vec![
            [
                mk(IoKind::Uring, 200.0, 100.0),
                mk(IoKind::Epoll, 100.0, 200.0),
            ],
            [
                mk(IoKind::Uring, 300.0, 100.0),
                mk(IoKind::Epoll, 100.0, 400.0),
            ],
        ];
        let tput = WorkloadResult {
            workload: WORKLOADS[0],
            rounds: rounds.clone(),
            rate: None,
            batch_bytes: 1,
        };
        let (a, r) = tput.advantage().unwrap();
        assert_eq!((a, r.min, r.max), (2.5, 2.0, 3.0));
        let lat = WorkloadResult {
            workload: WORKLOADS[5],
            rounds,
            rate: Some(1.0),
            batch_bytes: 1,
        };
        let (a, r) = lat.advantage().unwrap();
        assert_eq!((a, r.min, r.max), (3.0, 2.0, 4.0));
        // 0.5 CPU-s over 200 MB and over 300 MB: 2.5 and 1.67 s/GB, median of the two.
        let cpu = tput.cpu_per_gb(0).unwrap().median;
        assert!((cpu - (2.5 + 0.5 / 0.3) / 2.0).abs() < 1e-9, "{cpu}");
    }
}
