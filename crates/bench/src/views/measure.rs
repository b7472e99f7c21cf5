//! What `bench views` measured: per round and layout the three consumers (the view, the whole
//! topic filtered in the client, the whole topic) and the view's counters; over rounds the
//! medians, the ratios of medians of the same run, and the goals (checked on
//! homogeneous batches; mixed batches are reported without a verdict).

use super::config::{Layout, ViewsBenchConfig, LAYOUTS};
use crate::{Machine, Summary};

/// Goal: the view's delivered bytes/s at least this share of the unfiltered consume's.
pub const DELIVERED_GOAL_RATIO: f64 = 0.8;
/// Goal: at least this share of the view's delivered bytes sent zero-copy.
pub const ZERO_COPY_GOAL_SHARE: f64 = 0.95;
/// Goal: client-side filtering moves at least this many times the view's bytes over the wire.
pub const WIRE_GOAL_RATIO: f64 = 5.0;
/// Goal: client-side filtering takes at least this many times the view's time to see every
/// matching record.
pub const TIME_GOAL_RATIO: f64 = 3.0;

/// One consumer's read of a topic from offset 0 to the source's log end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Consume {
    /// Records handed to the application: the matching ones (view, client-side filter) or
    /// every one (unfiltered).
    pub records: u64,
    /// Their value bytes: the delivered bytes.
    pub bytes: u64,
    /// Record-batch bytes of the Fetch responses (the wire, without the responses' framing).
    pub wire_bytes: u64,
    /// Fetch requests answered.
    pub fetches: u64,
    /// Seconds from the first Fetch until the consumer was past the source's log end.
    pub seconds: f64,
    /// Seconds from the first Fetch until the last matching record had been received.
    pub all_matches_seconds: f64,
    /// Broker CPU seconds in `seconds`, when the broker's pid is known.
    pub broker_cpu_s: Option<f64>,
    /// CPU seconds of the consuming process in `seconds` (fetching and decoding).
    pub client_cpu_s: Option<f64>,
    /// Records delivered that do not match the filter (a view: must be 0).
    pub foreign: u64,
}

impl Consume {
    /// Delivered value MB (10^6 bytes) per second, to the log end.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }

    /// Delivered records per second, to the log end.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    /// Wire MB (10^6 bytes).
    pub fn wire_mb(&self) -> f64 {
        self.wire_bytes as f64 / 1e6
    }

    /// `cpu` seconds per delivered GB (10^9 bytes); `None` when nothing was delivered.
    fn per_gb(&self, cpu: Option<f64>) -> Option<f64> {
        (self.bytes > 0).then_some(())?;
        cpu.map(|s| s / (self.bytes as f64 / 1e9))
    }

    /// Broker CPU seconds per delivered GB.
    pub fn cpu_s_per_gb(&self) -> Option<f64> {
        self.per_gb(self.broker_cpu_s)
    }

    /// Consumer CPU seconds per delivered GB.
    pub fn client_cpu_s_per_gb(&self) -> Option<f64> {
        self.per_gb(self.client_cpu_s)
    }
}

/// A view's counters (DescribeViews), or the difference of two readings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViewCounters {
    /// Bytes of whole-match batches sent as stored.
    pub bytes_zero_copy: u64,
    /// Bytes of batches rewritten to their matching records.
    pub bytes_rewritten: u64,
    /// Batches sent whole.
    pub batches_whole: u64,
    /// Batches skipped unread.
    pub batches_skipped: u64,
    /// Batches read and rewritten.
    pub batches_rewritten: u64,
    /// Batches read because the index had no summary for them.
    pub batches_unindexed: u64,
}

impl ViewCounters {
    /// What was counted after `before` (a counter that went backwards, a restarted broker,
    /// counts 0).
    pub fn since(&self, before: &ViewCounters) -> ViewCounters {
        ViewCounters {
            bytes_zero_copy: self.bytes_zero_copy.saturating_sub(before.bytes_zero_copy),
            bytes_rewritten: self.bytes_rewritten.saturating_sub(before.bytes_rewritten),
            batches_whole: self.batches_whole.saturating_sub(before.batches_whole),
            batches_skipped: self.batches_skipped.saturating_sub(before.batches_skipped),
            batches_rewritten: self
                .batches_rewritten
                .saturating_sub(before.batches_rewritten),
            batches_unindexed: self
                .batches_unindexed
                .saturating_sub(before.batches_unindexed),
        }
    }

    /// Zero-copy bytes over all delivered bytes (0..=1); `None` when nothing was delivered.
    pub fn zero_copy_share(&self) -> Option<f64> {
        let total = self.bytes_zero_copy as f64 + self.bytes_rewritten as f64;
        (total > 0.0).then(|| self.bytes_zero_copy as f64 / total)
    }
}

/// One layout in one round: a topic, its view, the three consumers.
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutRun {
    /// The layout.
    pub layout: Layout,
    /// The source topic (its view is `<topic>-red`).
    pub topic: String,
    /// Seconds the fill took (context, not a measurement).
    pub fill_seconds: f64,
    /// Matching records in the topic.
    pub matching: u64,
    /// Offsets the filter index had not covered when the consumes began (0 normally).
    pub index_backlog: Option<u64>,
    /// The view's consumer.
    pub view: Consume,
    /// The view's counters over its consume (`None` when DescribeViews failed).
    pub counters: Option<ViewCounters>,
    /// Why DescribeViews failed, when it did.
    pub counters_error: Option<String>,
    /// The whole topic, filtered in the client.
    pub client_filter: Consume,
    /// The whole topic.
    pub unfiltered: Consume,
}

/// One round: each layout on its own topic (and, for a broker started here, one broker).
#[derive(Clone, Debug, PartialEq)]
pub struct RoundRun {
    /// 1-based.
    pub round: usize,
    /// One per layout, in [`LAYOUTS`] order.
    pub layouts: Vec<LayoutRun>,
}

/// The whole benchmark.
#[derive(Clone, Debug)]
pub struct ViewsReport {
    /// Where it ran.
    pub machine: Machine,
    /// Load averages at the start and the end.
    pub loadavg: [String; 2],
    /// What ran.
    pub config: ViewsBenchConfig,
    /// The broker, as a sentence (command line or address).
    pub broker: String,
    /// Rounds that completed.
    pub rounds: Vec<RoundRun>,
    /// Rounds that failed, with why.
    pub failures: Vec<String>,
    /// Wall time of the whole run.
    pub wall_seconds: f64,
}

/// One of the goals, as measured on one layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// What is compared.
    pub what: &'static str,
    /// The measured value (a ratio or a share).
    pub value: f64,
    /// The goal: `value >= goal`.
    pub goal: f64,
    /// `value >= goal`.
    pub met: bool,
}

impl ViewsReport {
    /// A quantity of one layout over rounds.
    pub fn summary(
        &self,
        layout: Layout,
        f: impl Fn(&LayoutRun) -> Option<f64>,
    ) -> Option<Summary> {
        let values: Vec<f64> = self
            .rounds
            .iter()
            .flat_map(|r| r.layouts.iter())
            .filter(|l| l.layout == layout)
            .filter_map(f)
            .collect();
        Summary::of(&values)
    }

    /// Median of a quantity of one layout.
    fn median(&self, layout: Layout, f: impl Fn(&LayoutRun) -> Option<f64>) -> Option<f64> {
        Some(self.summary(layout, f)?.median)
    }

    /// A sum over rounds of one layout's counter.
    pub fn total(&self, layout: Layout, f: impl Fn(&LayoutRun) -> u64) -> u64 {
        self.rounds
            .iter()
            .flat_map(|r| r.layouts.iter())
            .filter(|l| l.layout == layout)
            .map(f)
            .sum()
    }

    /// Median view MB/s over median unfiltered MB/s (delivered bytes).
    pub fn delivered_ratio(&self, layout: Layout) -> Option<f64> {
        ratio(
            self.median(layout, |l| Some(l.view.mb_per_s()))?,
            self.median(layout, |l| Some(l.unfiltered.mb_per_s()))?,
        )
    }

    /// Median share of the view's delivered bytes sent zero-copy.
    pub fn zero_copy_share(&self, layout: Layout) -> Option<f64> {
        self.median(layout, |l| l.counters?.zero_copy_share())
    }

    /// Median client-side wire bytes over median view wire bytes.
    pub fn wire_ratio(&self, layout: Layout) -> Option<f64> {
        ratio(
            self.median(layout, |l| Some(l.client_filter.wire_bytes as f64))?,
            self.median(layout, |l| Some(l.view.wire_bytes as f64))?,
        )
    }

    /// Median client-side time to all matches over the view's.
    pub fn time_ratio(&self, layout: Layout) -> Option<f64> {
        ratio(
            self.median(layout, |l| Some(l.client_filter.all_matches_seconds))?,
            self.median(layout, |l| Some(l.view.all_matches_seconds))?,
        )
    }

    /// Median broker CPU s/GB of the view over the client-side filter's (per delivered GB).
    pub fn cpu_ratio(&self, layout: Layout) -> Option<f64> {
        ratio(
            self.median(layout, |l| l.view.cpu_s_per_gb())?,
            self.median(layout, |l| l.client_filter.cpu_s_per_gb())?,
        )
    }

    /// Median broker + consumer CPU s/GB of the view over the client-side filter's (per
    /// delivered GB): what filtering costs the whole system, wherever it runs.
    pub fn total_cpu_ratio(&self, layout: Layout) -> Option<f64> {
        let total = |c: &Consume| Some(c.cpu_s_per_gb()? + c.client_cpu_s_per_gb()?);
        ratio(
            self.median(layout, |l| total(&l.view))?,
            self.median(layout, |l| total(&l.client_filter))?,
        )
    }

    /// The four goals on `layout` (those that could be measured).
    pub fn goals(&self, layout: Layout) -> Vec<Goal> {
        let goal = |what, value: Option<f64>, goal| {
            value.map(|value| Goal {
                what,
                value,
                goal,
                met: value >= goal,
            })
        };
        [
            goal(
                "view / unfiltered delivered bytes/s",
                self.delivered_ratio(layout),
                DELIVERED_GOAL_RATIO,
            ),
            goal(
                "share of the view's delivered bytes sent zero-copy",
                self.zero_copy_share(layout),
                ZERO_COPY_GOAL_SHARE,
            ),
            goal(
                "wire bytes, client-side filter / view",
                self.wire_ratio(layout),
                WIRE_GOAL_RATIO,
            ),
            goal(
                "time to all matches, client-side filter / view",
                self.time_ratio(layout),
                TIME_GOAL_RATIO,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The layouts with at least one completed run, in [`LAYOUTS`] order.
    pub fn layouts(&self) -> Vec<Layout> {
        LAYOUTS
            .into_iter()
            .filter(|&l| self.summary(l, |_| Some(0.0)).is_some())
            .collect()
    }
}

/// `a / b`, `None` when `b` is not positive or either is not finite.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::views::config::Target;

    pub(crate) fn consume(bytes_mb: f64, seconds: f64, wire_mb: f64, all: f64) -> Consume {
        Consume {
            records: (bytes_mb * 1e3) as u64,
            bytes: (bytes_mb * 1e6) as u64,
            wire_bytes: (wire_mb * 1e6) as u64,
            fetches: 10,
            seconds,
            all_matches_seconds: all,
            broker_cpu_s: Some(0.1),
            client_cpu_s: Some(0.2),
            foreign: 0,
        }
    }

    fn counters(zero_copy: u64, rewritten: u64) -> ViewCounters {
        ViewCounters {
            bytes_zero_copy: zero_copy,
            bytes_rewritten: rewritten,
            batches_whole: 1,
            batches_skipped: 9,
            batches_rewritten: 0,
            batches_unindexed: 0,
        }
    }

    fn layout_run(layout: Layout, view_s: f64, unfiltered_s: f64, zc: u64) -> LayoutRun {
        LayoutRun {
            layout,
            topic: "t".into(),
            fill_seconds: 1.0,
            matching: 20_000,
            index_backlog: Some(0),
            // 20 MB delivered; 21 MB on the wire.
            view: consume(20.0, view_s, 21.0, view_s * 0.9),
            counters: Some(counters(zc, 100 - zc)),
            counters_error: None,
            // 20 MB kept of 210 MB fetched in 2 s, all matches after 1.9 s.
            client_filter: consume(20.0, 2.0, 210.0, 1.9),
            unfiltered: consume(200.0, unfiltered_s, 210.0, unfiltered_s),
        }
    }

    pub(crate) fn report() -> ViewsReport {
        let round = |round, view_s, zc| RoundRun {
            round,
            layouts: vec![
                layout_run(Layout::Homogeneous, view_s, 1.0, zc),
                layout_run(Layout::Mixed, 0.5, 1.0, 0),
            ],
        };
        ViewsReport {
            machine: Machine::current(),
            loadavg: ["0.1".into(), "0.2".into()],
            config: ViewsBenchConfig::new(Target::Bootstrap(SocketAddr::from(([127, 0, 0, 1], 9)))),
            broker: "a broker at 127.0.0.1:9".into(),
            // View 20 MB in 0.1/0.125/0.2 s: 200/160/100 MB/s against 200 MB/s unfiltered.
            rounds: vec![round(1, 0.1, 100), round(2, 0.125, 96), round(3, 0.2, 90)],
            failures: Vec::new(),
            wall_seconds: 10.0,
        }
    }

    #[test]
    fn ratios_are_ratios_of_medians_and_goals_follow() {
        let r = report();
        let h = Layout::Homogeneous;
        assert_eq!(
            r.summary(h, |l| Some(l.view.mb_per_s())).unwrap().median,
            160.0
        );
        assert!((r.delivered_ratio(h).unwrap() - 0.8).abs() < 1e-9);
        assert!((r.zero_copy_share(h).unwrap() - 0.96).abs() < 1e-9);
        assert!((r.wire_ratio(h).unwrap() - 10.0).abs() < 1e-9);
        // Client 1.9 s against the view's median 0.1125 s.
        assert!((r.time_ratio(h).unwrap() - 1.9 / 0.1125).abs() < 1e-9);
        let goals = r.goals(h);
        assert_eq!(goals.len(), 4);
        assert!(goals.iter().all(|g| g.met), "{goals:?}");
        // Mixed: nothing sent zero-copy, and the view at 40 MB/s is 0.2 x unfiltered.
        let m = r.goals(Layout::Mixed);
        assert_eq!(m[0].value, 0.2);
        assert!(!m[0].met && !m[1].met && m[1].value == 0.0);
        assert_eq!(r.layouts(), vec![Layout::Homogeneous, Layout::Mixed]);
        assert_eq!(r.total(h, |l| l.counters.unwrap().batches_skipped), 27);
        // Same broker CPU (0.1 s) for the same delivered 20 MB: 5 s/GB each, ratio 1; with the
        // consumer's 0.2 s: 15 s/GB each.
        assert!((r.cpu_ratio(h).unwrap() - 1.0).abs() < 1e-9);
        assert!((r.total_cpu_ratio(h).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn consume_rates_and_cpu_per_delivered_gb() {
        let c = consume(20.0, 0.5, 21.0, 0.4);
        assert_eq!(c.mb_per_s(), 40.0);
        assert_eq!(c.records_per_s(), 40_000.0);
        assert_eq!(c.wire_mb(), 21.0);
        assert!((c.cpu_s_per_gb().unwrap() - 5.0).abs() < 1e-9);
        assert!((c.client_cpu_s_per_gb().unwrap() - 10.0).abs() < 1e-9);
        let none = Consume { bytes: 0, ..c };
        assert_eq!(none.cpu_s_per_gb(), None);
        let unknown = Consume {
            broker_cpu_s: None,
            ..c
        };
        assert_eq!(unknown.cpu_s_per_gb(), None);
    }

    #[test]
    fn counter_deltas_saturate_and_shares_need_bytes() {
        let before = counters(1_000, 50);
        let after = ViewCounters {
            batches_skipped: 20,
            ..counters(20_000, 50)
        };
        let d = after.since(&before);
        assert_eq!((d.bytes_zero_copy, d.bytes_rewritten), (19_000, 0));
        assert_eq!(d.batches_skipped, 11);
        assert_eq!(d.zero_copy_share(), Some(1.0));
        assert_eq!(before.since(&after).bytes_zero_copy, 0);
        assert_eq!(ViewCounters::default().zero_copy_share(), None);
        assert_eq!(counters(95, 5).zero_copy_share(), Some(0.95));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
    }
}
