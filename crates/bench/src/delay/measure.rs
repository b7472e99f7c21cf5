//! What `bench delay` measured: every run of every part, the medians over rounds, the ratios
//! of part 4, and the goals judged from them.
//!
//! # Invariants
//! - A figure over rounds is the median of the per-round figures (their min..max beside it);
//!   ratios are ratios of medians of the same invocation.
//! - A record that was acknowledged but never received, or received before its due time, is
//!   counted and shown; it is never left out of the figures silently.

use super::config::{DelayBenchConfig, RSS_GOAL_BYTES};
use super::stats::{Memory, Percentiles};
use crate::format::count;
use crate::load::LoadReport;
use crate::{Machine, Summary};

/// Issue 15's precision goal: p99 lateness at most this many ms.
pub const LATENESS_P99_GOAL_MS: f64 = 10.0;
/// Issue 15's throughput goal, records/s enqueued and delivered.
pub const THROUGHPUT_GOAL_PER_S: f64 = 200_000.0;
/// Part 4 counts a ratio as "unchanged within noise" from this value up (the run-to-run
/// spread of produce throughput on a shared 2-core machine is a few percent).
pub const COST_RATIO_MIN: f64 = 0.95;

/// Part 1: one pending count in one round.
#[derive(Clone, Debug)]
pub struct PrecisionRun {
    /// Round (1-based).
    pub round: usize,
    /// Pending records asked for.
    pub level: u64,
    /// Pending records the broker reported (DescribeDelays) before the window.
    pub pending_seen: u64,
    /// Broker memory before the window.
    pub memory: Memory,
    /// Broker peak memory in the window.
    pub peak: Memory,
    /// Delayed records of the measured stream acknowledged.
    pub expected: u64,
    /// Delayed records of the measured stream received.
    pub received: u64,
    /// Of those, received before their due time.
    pub early: u64,
    /// Receipt minus due time.
    pub lateness: Option<Percentiles>,
    /// Receipt minus send time of the non-delayed records of the same stream.
    pub baseline: Option<Percentiles>,
    /// The concurrent plain load (`None`: run without).
    pub load: Option<LoadReport>,
}

/// Part 2: one round.
#[derive(Clone, Debug)]
pub struct ThroughputRun {
    /// Round (1-based).
    pub round: usize,
    /// Delayed records acknowledged in the enqueue window.
    pub enqueue_records: u64,
    /// The enqueue window, first send to last acknowledgement.
    pub enqueue_seconds: f64,
    /// The one due time of the delivery run, epoch ms.
    pub due_ms: i64,
    /// Enqueue rate while the delivery run's records were produced.
    pub delivery_enqueue_rate: f64,
    /// How long after the due time the last of them was acknowledged (0: before).
    pub enqueue_overran_ms: i64,
    /// Records due at that instant.
    pub delivery_records: u64,
    /// Records the consumers received.
    pub received: u64,
    /// First record received, ms after the due time.
    pub first_after_due_ms: Option<f64>,
    /// Last record received, ms after the due time.
    pub all_after_due_ms: Option<f64>,
    /// The broker's peak memory from the due instant's enqueue to the end of the delivery.
    pub delivery_peak: Memory,
}

impl ThroughputRun {
    /// Delayed records acknowledged per second.
    pub fn enqueue_per_s(&self) -> f64 {
        self.enqueue_records as f64 / self.enqueue_seconds
    }

    /// Records delivered per second from the due instant (or from the last acknowledgement,
    /// if that came later) until the consumers had them all; NaN if they did not.
    pub fn delivery_per_s(&self) -> f64 {
        match self.all_after_due_ms {
            Some(ms) if self.received >= self.delivery_records => {
                let from = self.enqueue_overran_ms as f64;
                self.delivery_records as f64 / ((ms - from).max(1e-3) / 1e3)
            }
            _ => f64::NAN,
        }
    }
}

/// Part 3.
#[derive(Clone, Debug)]
pub struct CapacityRun {
    /// Records acknowledged.
    pub records: u64,
    /// Their enqueue rate.
    pub enqueue_per_s: f64,
    /// Pending records the broker reported.
    pub pending_seen: u64,
    /// Broker memory before enqueuing.
    pub before: Memory,
    /// Broker memory after (its `hwm` is the peak of the whole run).
    pub after: Memory,
    /// Bytes of the timer logs' files.
    pub timer_bytes: u64,
    /// Bytes allocated on disk for them.
    pub timer_allocated: u64,
}

impl CapacityRun {
    /// Timer log bytes per pending record.
    pub fn bytes_per_record(&self) -> f64 {
        self.timer_bytes as f64 / self.records.max(1) as f64
    }
}

/// Part 4's brokers and topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// This build, a plain topic.
    Plain,
    /// This build, a delay-enabled topic, records without delay headers.
    DelayTopic,
    /// The build before scheduled delivery, a plain topic.
    Baseline,
}

impl Variant {
    /// Every variant, in round order.
    pub const ALL: [Variant; 3] = [Variant::Plain, Variant::DelayTopic, Variant::Baseline];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain topic",
            Variant::DelayTopic => "delay-enabled topic, no delay headers",
            Variant::Baseline => "plain topic, build before scheduled delivery",
        }
    }
}

/// Part 4: one variant in one round.
#[derive(Clone, Debug)]
pub struct CostRun {
    /// Round (1-based).
    pub round: usize,
    /// Which broker and topic.
    pub variant: Variant,
    /// The produce load.
    pub report: LoadReport,
}

/// Medians over rounds of one pending count of part 1.
#[derive(Clone, Copy, Debug)]
pub struct LevelSummary {
    /// Pending records.
    pub level: u64,
    /// Lateness p50, p99, max (ms).
    pub lateness_ms: [Option<Summary>; 3],
    /// Baseline p50, p99, max (ms).
    pub baseline_ms: [Option<Summary>; 3],
    /// Acknowledged minus received, all rounds.
    pub missing: u64,
    /// Received early, all rounds.
    pub early: u64,
    /// Samples, all rounds.
    pub samples: u64,
    /// The concurrent load's achieved records/s and p99 ack latency (us).
    pub load: [Option<Summary>; 2],
    /// Broker VmRSS before the window and its peak in the window (bytes).
    pub rss: [Option<Summary>; 2],
}

fn summary_of(values: impl Iterator<Item = Option<f64>>) -> Option<Summary> {
    let v: Option<Vec<f64>> = values.collect();
    Summary::of(&v?)
}

/// Everything one `bench delay` measured.
#[derive(Clone, Debug)]
pub struct DelayReport {
    /// Where it ran.
    pub machine: Machine,
    /// The machine's load averages (1, 5, 15 min) when the run started and ended.
    pub loadavg: [String; 2],
    /// With what.
    pub config: DelayBenchConfig,
    /// Part 1's plain load alone, closed loop: records/s.
    pub calibration: Option<f64>,
    /// Part 1.
    pub precision: Vec<PrecisionRun>,
    /// Part 2.
    pub throughput: Vec<ThroughputRun>,
    /// Part 3.
    pub capacity: Option<CapacityRun>,
    /// Part 4.
    pub cost: Vec<CostRun>,
    /// Rounds (or parts) that failed, and why: the rest was measured all the same.
    pub failures: Vec<String>,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
}

/// One goal of issue 15, judged from this run.
#[derive(Clone, Debug)]
pub struct Goal {
    /// What is asked.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met or not.
    pub met: bool,
}

impl DelayReport {
    /// Part 1 per pending count, medians over rounds.
    pub fn levels(&self) -> Vec<LevelSummary> {
        let ms = |us: i64| us as f64 / 1e3;
        self.config
            .pending_levels
            .iter()
            .filter_map(|&level| {
                let runs: Vec<&PrecisionRun> =
                    self.precision.iter().filter(|r| r.level == level).collect();
                if runs.is_empty() {
                    return None;
                }
                let pick = |f: &dyn Fn(&PrecisionRun) -> Option<f64>| {
                    summary_of(runs.iter().map(|r| f(r)))
                };
                Some(LevelSummary {
                    level,
                    lateness_ms: [
                        pick(&|r| r.lateness.map(|p| ms(p.p50_us))),
                        pick(&|r| r.lateness.map(|p| ms(p.p99_us))),
                        pick(&|r| r.lateness.map(|p| ms(p.max_us))),
                    ],
                    baseline_ms: [
                        pick(&|r| r.baseline.map(|p| ms(p.p50_us))),
                        pick(&|r| r.baseline.map(|p| ms(p.p99_us))),
                        pick(&|r| r.baseline.map(|p| ms(p.max_us))),
                    ],
                    missing: runs
                        .iter()
                        .map(|r| r.expected.saturating_sub(r.received))
                        .sum(),
                    early: runs.iter().map(|r| r.early).sum(),
                    samples: runs.iter().map(|r| r.received).sum(),
                    load: [
                        pick(&|r| r.load.as_ref().map(|l| l.records_per_s())),
                        pick(&|r| r.load.as_ref()?.latency.map(|l| l.p99_us)),
                    ],
                    rss: [
                        pick(&|r| Some(r.memory.rss as f64)),
                        pick(&|r| Some(r.peak.rss as f64)),
                    ],
                })
            })
            .collect()
    }

    /// Part 2: enqueue and delivery rates over rounds.
    pub fn throughput_summary(&self) -> [Option<Summary>; 2] {
        let t = &self.throughput;
        [
            summary_of(t.iter().map(|r| Some(r.enqueue_per_s()))),
            summary_of(t.iter().map(|r| Some(r.delivery_per_s()))),
        ]
    }

    /// Part 4 per variant: records/s and broker CPU s/GB over rounds.
    pub fn cost_summary(&self, v: Variant) -> [Option<Summary>; 2] {
        let runs = self.cost.iter().filter(|r| r.variant == v);
        [
            summary_of(runs.clone().map(|r| Some(r.report.records_per_s()))),
            summary_of(runs.map(|r| r.report.broker_cpu_s_per_gb())),
        ]
    }

    /// Part 4: `v`'s throughput over `base`'s: ratio of medians, and the per-round ratios.
    pub fn cost_ratio(&self, v: Variant, base: Variant) -> Option<(f64, Summary)> {
        let (a, b) = (self.cost_summary(v)[0]?, self.cost_summary(base)[0]?);
        let per_round: Vec<f64> = (1..=self.config.rounds)
            .filter_map(|round| {
                let of = |x: Variant| {
                    self.cost
                        .iter()
                        .find(|r| r.round == round && r.variant == x)
                        .map(|r| r.report.records_per_s())
                };
                Some(of(v)? / of(base)?)
            })
            .collect();
        Some((a.median / b.median, Summary::of(&per_round)?))
    }

    /// The goals of issue 15 against this run.
    pub fn goals(&self) -> Vec<Goal> {
        let mut goals = Vec::new();
        for l in self.levels() {
            if let Some(p99) = l.lateness_ms[1] {
                goals.push(Goal {
                    goal: format!(
                        "lateness p99 <= {LATENESS_P99_GOAL_MS} ms with {} pending",
                        count(l.level)
                    ),
                    measured: format!(
                        "{:.2} ms (rounds {:.2}..{:.2})",
                        p99.median, p99.min, p99.max
                    ),
                    met: p99.median <= LATENESS_P99_GOAL_MS && l.missing == 0 && l.early == 0,
                });
            }
        }
        let [enq, del] = self.throughput_summary();
        for (what, s) in [("enqueued", enq), ("delivered", del)] {
            if !self.throughput.is_empty() {
                goals.push(Goal {
                    goal: format!("delayed 100 B records {what} >= 200,000/s on 2 cores"),
                    measured: s.map_or("not measured (records missing)".into(), |s| {
                        format!("{}/s", crate::human(s.median))
                    }),
                    met: s.is_some_and(|s| s.median >= THROUGHPUT_GOAL_PER_S),
                });
            }
        }
        if let Some(cap) = &self.capacity {
            goals.push(Goal {
                goal: format!("{} pending with broker RSS <= 256 MiB", count(cap.records)),
                measured: format!(
                    "VmRSS {:.0} MiB, VmHWM {:.0} MiB, {} pending reported",
                    cap.after.rss as f64 / (1 << 20) as f64,
                    cap.after.hwm as f64 / (1 << 20) as f64,
                    count(cap.pending_seen)
                ),
                met: cap.after.hwm <= RSS_GOAL_BYTES && cap.pending_seen == cap.records,
            });
        }
        for (v, base) in [
            (Variant::DelayTopic, Variant::Plain),
            (Variant::Plain, Variant::Baseline),
        ] {
            if let Some((ratio, spread)) = self.cost_ratio(v, base) {
                goals.push(Goal {
                    goal: format!(
                        "produce throughput: {} / {}: unchanged",
                        v.name(),
                        base.name()
                    ),
                    measured: format!("{ratio:.3}x (rounds {:.3}..{:.3})", spread.min, spread.max),
                    met: ratio >= COST_RATIO_MIN,
                });
            }
        }
        goals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(received: u64, overran: i64, all_ms: Option<f64>) -> ThroughputRun {
        ThroughputRun {
            round: 1,
            enqueue_records: 600_000,
            enqueue_seconds: 3.0,
            due_ms: 0,
            delivery_enqueue_rate: 0.0,
            enqueue_overran_ms: overran,
            delivery_records: 1_000,
            received,
            first_after_due_ms: Some(1.0),
            all_after_due_ms: all_ms,
            delivery_peak: Memory::default(),
        }
    }

    #[test]
    fn delivery_rate_counts_from_the_due_instant_or_the_last_ack() {
        assert_eq!(run(1_000, 0, Some(500.0)).delivery_per_s(), 2_000.0);
        assert_eq!(run(1_000, 0, Some(500.0)).enqueue_per_s(), 200_000.0);
        // The last ack came 250 ms after the due time: delivery is timed from then.
        assert_eq!(run(1_000, 250, Some(500.0)).delivery_per_s(), 4_000.0);
        assert!(run(999, 0, Some(500.0)).delivery_per_s().is_nan());
        assert!(run(1_000, 0, None).delivery_per_s().is_nan());
    }
}
