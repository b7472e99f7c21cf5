//! What `bench share` measured: per round a classic consume, a share run per consumer count and
//! the acknowledgement round trips; over rounds the medians, the ratios of medians to the
//! classic consumer of the same run, and the goal (share >= 0.8 x classic bytes/s).

use super::config::ShareBenchConfig;
use crate::delay::Percentiles;
use crate::{Machine, Summary};

/// The goal: share consumption at least this share of classic consumption's bytes/s.
pub const SHARE_GOAL_RATIO: f64 = 0.8;

/// Records consumed in a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    /// Records consumed (each once).
    pub records: u64,
    /// Their value bytes.
    pub bytes: u64,
    /// Seconds from the start to the last record (share: to its confirmed acceptance).
    pub seconds: f64,
    /// Broker CPU seconds in that time, when the broker's pid is known.
    pub broker_cpu_s: Option<f64>,
}

impl Throughput {
    /// Value MB (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }

    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    /// Broker CPU seconds per GB (10^9 bytes) of values.
    pub fn cpu_s_per_gb(&self) -> Option<f64> {
        self.broker_cpu_s.map(|s| s / (self.bytes as f64 / 1e9))
    }
}

/// One share run: `consumers` members of a new group until every record was accepted once.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareRun {
    /// Members.
    pub consumers: usize,
    /// Until every record's acceptance was confirmed.
    pub throughput: Throughput,
    /// Seconds until every record had been delivered at least once.
    pub delivered_seconds: f64,
    /// Records handed out with a delivery count above 1.
    pub redelivered: u64,
    /// Records handed out again after an earlier delivery in this run.
    pub duplicates: u64,
    /// Acknowledged offsets the broker refused (or that were dropped).
    pub ack_errors: u64,
    /// The first of those errors.
    pub first_ack_error: Option<String>,
    /// ShareFetch requests answered.
    pub polls: u64,
    /// Those that brought no record.
    pub empty_polls: u64,
    /// Records the least busy member got.
    pub per_member_min: u64,
    /// Records the busiest member got.
    pub per_member_max: u64,
}

/// ShareAcknowledge round trips of one round.
#[derive(Clone, Debug, PartialEq)]
pub struct AckRun {
    /// Send-to-response times, µs.
    pub rtt: Option<Percentiles>,
    /// Acknowledgements the broker refused.
    pub errors: u64,
    /// The first of those errors.
    pub first_error: Option<String>,
}

/// One round: everything measured on one topic (and, for a broker started here, one broker).
#[derive(Clone, Debug, PartialEq)]
pub struct RoundRun {
    /// 1-based.
    pub round: usize,
    /// The topic.
    pub topic: String,
    /// Seconds the fill took (not a measurement: context).
    pub fill_seconds: f64,
    /// The classic consumer.
    pub classic: Throughput,
    /// One per consumer count, in the configured order.
    pub share: Vec<ShareRun>,
    /// The acknowledgement round trips (`None` with 0 samples).
    pub ack: Option<AckRun>,
}

/// The whole benchmark.
#[derive(Clone, Debug)]
pub struct ShareReport {
    /// Where it ran.
    pub machine: Machine,
    /// Load averages at the start and the end.
    pub loadavg: [String; 2],
    /// What ran.
    pub config: ShareBenchConfig,
    /// The broker, as a sentence (command line or address).
    pub broker: String,
    /// Rounds that completed.
    pub rounds: Vec<RoundRun>,
    /// Rounds that failed, with why.
    pub failures: Vec<String>,
    /// Wall time of the whole run.
    pub wall_seconds: f64,
}

/// The share goal for one consumer count.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// Members.
    pub consumers: usize,
    /// Median share MB/s over median classic MB/s.
    pub ratio: f64,
    /// `ratio >= SHARE_GOAL_RATIO`.
    pub met: bool,
}

impl ShareReport {
    fn summary(&self, f: impl Fn(&RoundRun) -> Option<f64>) -> Option<Summary> {
        let values: Vec<f64> = self.rounds.iter().filter_map(f).collect();
        Summary::of(&values)
    }

    /// The classic consumer's MB/s over rounds.
    pub fn classic_mb(&self) -> Option<Summary> {
        self.summary(|r| Some(r.classic.mb_per_s()))
    }

    /// The classic consumer's records/s over rounds.
    pub fn classic_records(&self) -> Option<Summary> {
        self.summary(|r| Some(r.classic.records_per_s()))
    }

    /// The classic consumer's broker CPU s/GB over rounds.
    pub fn classic_cpu(&self) -> Option<Summary> {
        self.summary(|r| r.classic.cpu_s_per_gb())
    }

    /// A share run's quantity over rounds.
    pub fn share_summary(
        &self,
        consumers: usize,
        f: impl Fn(&ShareRun) -> Option<f64>,
    ) -> Option<Summary> {
        self.summary(|r| {
            r.share
                .iter()
                .find(|s| s.consumers == consumers)
                .and_then(&f)
        })
    }

    /// Share MB/s with `consumers` members over rounds.
    pub fn share_mb(&self, consumers: usize) -> Option<Summary> {
        self.share_summary(consumers, |s| Some(s.throughput.mb_per_s()))
    }

    /// Median share MB/s over median classic MB/s (both from this run).
    pub fn share_ratio(&self, consumers: usize) -> Option<f64> {
        Some(self.share_mb(consumers)?.median / self.classic_mb()?.median)
    }

    /// A sum over rounds of a share run's counter (redeliveries, errors, ...).
    pub fn share_total(&self, consumers: usize, f: impl Fn(&ShareRun) -> u64) -> u64 {
        self.rounds
            .iter()
            .flat_map(|r| r.share.iter())
            .filter(|s| s.consumers == consumers)
            .map(f)
            .sum()
    }

    /// Acknowledgement round-trip percentile (`p50` or `p99` picked by `f`), µs, over rounds.
    pub fn ack_summary(&self, f: impl Fn(&Percentiles) -> i64) -> Option<Summary> {
        self.summary(|r| r.ack.as_ref()?.rtt.as_ref().map(|p| f(p) as f64))
    }

    /// The share goal per consumer count measured.
    pub fn goals(&self) -> Vec<Goal> {
        self.config
            .consumers
            .iter()
            .filter_map(|&consumers| {
                let ratio = self.share_ratio(consumers)?;
                Some(Goal {
                    consumers,
                    ratio,
                    met: ratio >= SHARE_GOAL_RATIO,
                })
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::share::config::Target;

    fn throughput(mb: f64) -> Throughput {
        Throughput {
            records: 1_000,
            bytes: (mb * 1e6) as u64,
            seconds: 1.0,
            broker_cpu_s: Some(0.5),
        }
    }

    fn share_run(consumers: usize, mb: f64) -> ShareRun {
        ShareRun {
            consumers,
            throughput: throughput(mb),
            delivered_seconds: 0.9,
            redelivered: 1,
            duplicates: 0,
            ack_errors: 0,
            first_ack_error: None,
            polls: 10,
            empty_polls: 2,
            per_member_min: 400,
            per_member_max: 600,
        }
    }

    pub(crate) fn report() -> ShareReport {
        let config = ShareBenchConfig {
            consumers: vec![1, 4],
            ..ShareBenchConfig::new(Target::Bootstrap(SocketAddr::from(([127, 0, 0, 1], 9))))
        };
        let round = |round, classic, one, four| RoundRun {
            round,
            topic: format!("t{round}"),
            fill_seconds: 1.0,
            classic: throughput(classic),
            share: vec![share_run(1, one), share_run(4, four)],
            ack: Some(AckRun {
                rtt: Percentiles::of(&mut [100 * round as i64, 300, 900]),
                errors: 0,
                first_error: None,
            }),
        };
        ShareReport {
            machine: Machine::current(),
            loadavg: ["0.1".into(), "0.2".into()],
            config,
            broker: "a broker at 127.0.0.1:9".into(),
            rounds: vec![
                round(1, 100.0, 90.0, 70.0),
                round(2, 120.0, 100.0, 60.0),
                round(3, 110.0, 80.0, 90.0),
            ],
            failures: Vec::new(),
            wall_seconds: 10.0,
        }
    }

    #[test]
    fn ratios_are_ratios_of_medians_and_goals_follow() {
        let r = report();
        assert_eq!(r.classic_mb().unwrap().median, 110.0);
        assert_eq!(r.share_mb(1).unwrap().median, 90.0);
        let goals = r.goals();
        assert_eq!(goals.len(), 2);
        assert!((goals[0].ratio - 90.0 / 110.0).abs() < 1e-9 && goals[0].met);
        assert!((goals[1].ratio - 70.0 / 110.0).abs() < 1e-9 && !goals[1].met);
        assert_eq!(r.share_total(4, |s| s.redelivered), 3);
        assert_eq!(r.ack_summary(|p| p.p99_us).unwrap().median, 900.0);
        assert_eq!(r.ack_summary(|p| p.p50_us).unwrap().median, 300.0);
        assert!((r.classic_cpu().unwrap().median - 0.5 / 0.11).abs() < 1e-9);
        assert_eq!(throughput(2.0).records_per_s(), 1_000.0);
    }
}
