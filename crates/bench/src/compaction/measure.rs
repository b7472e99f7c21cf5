//! What `bench compaction` measured: part 1's cleans (one per codec and round), part 2's
//! windows (a baseline and a compaction window per round) with their latencies and the
//! cleaner's counters; over rounds the medians and the ratios of medians of the same run.

use ringlog_storage::records::Compression;

use super::clients::Filled;
use super::config::CompactionBenchConfig;
use super::metrics::CleanerCounters;
use super::stats::{Latencies, Span};
use crate::{Machine, Summary};

/// One clean of part 1 (`compact::measure::compaction_rate`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateRun {
    /// The batches' codec.
    pub codec: Compression,
    /// 1-based.
    pub round: usize,
    /// Log bytes before the clean (the input).
    pub input_bytes: u64,
    /// Log bytes after it.
    pub output_bytes: u64,
    /// Bytes the pass read (mapping, then rewriting: about twice the input).
    pub read_bytes: u64,
    /// Records the pass removed.
    pub records_removed: u64,
    /// Seconds inside the pass's steps (wall time within them, I/O waits included): the time
    /// the log's shard was busy cleaning.
    pub busy_seconds: f64,
    /// Seconds from the pass's first step to its last.
    pub elapsed_seconds: f64,
    /// Seconds of the whole measurement (fill, then clean).
    pub call_seconds: f64,
}

impl RateRun {
    /// Input MB (10^6 bytes) per busy second: the rate per core.
    pub fn mb_per_s_per_core(&self) -> f64 {
        self.input_bytes as f64 / 1e6 / self.busy_seconds.max(1e-9)
    }

    /// Input MB per second of the pass's wall time.
    pub fn wall_mb_per_s(&self) -> f64 {
        self.input_bytes as f64 / 1e6 / self.elapsed_seconds.max(1e-9)
    }

    /// Output bytes over input bytes.
    pub fn output_ratio(&self) -> f64 {
        self.output_bytes as f64 / (self.input_bytes.max(1)) as f64
    }
}

/// The kind of a part 2 window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// The measured load alone (the dirty topic is `cleanup.policy=delete`).
    Baseline,
    /// The measured load while the cleaner compacts the dirty topic.
    Compaction,
}

impl WindowKind {
    /// Both kinds, in window order within a round.
    pub const ALL: [WindowKind; 2] = [WindowKind::Baseline, WindowKind::Compaction];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Baseline => "baseline",
            WindowKind::Compaction => "compaction",
        }
    }
}

/// One window of part 2.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// 1-based round.
    pub round: usize,
    /// Its kind.
    pub kind: WindowKind,
    /// When it ran, ns since the run's epoch.
    pub span: Span,
    /// Latency of the measured requests scheduled inside it, from their scheduled send times
    /// (`None`: none was).
    pub latency: Option<Latencies>,
    /// Their round trips, from their actual sends.
    pub round_trip: Option<Latencies>,
    /// When the request with the longest round trip was scheduled, seconds into the window
    /// (where the shard's longest stall was).
    pub worst_at_s: Option<f64>,
    /// What the cleaner's counters grew by across it (the dirty partition's size at its end).
    pub cleaner: CleanerCounters,
    /// The dirty partition's size at its start, bytes.
    pub dirty_bytes_before: f64,
    /// A compaction window: the cleaner's pass ended inside it (a baseline window: true).
    pub finished: bool,
    /// A baseline window: the fill of the dirty topic right before it.
    pub fill: Option<Filled>,
}

impl Window {
    /// Its length, seconds.
    pub fn seconds(&self) -> f64 {
        self.span.seconds()
    }

    /// Bytes the cleaner read per second of the window, MB/s.
    pub fn cleaner_read_mb_per_s(&self) -> f64 {
        self.cleaner.read_bytes / 1e6 / self.seconds().max(1e-9)
    }

    /// The dirty partition's bytes before the window per second of it, MB/s: the input rate
    /// of a pass that took the whole window (part 1's measure).
    pub fn input_mb_per_s(&self) -> f64 {
        self.dirty_bytes_before / 1e6 / self.seconds().max(1e-9)
    }

    /// Share of the window the cleaner spent in its steps (0..=1 normally).
    pub fn busy_share(&self) -> f64 {
        self.cleaner.seconds / self.seconds().max(1e-9)
    }
}

/// Which latencies of a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// From each request's scheduled send time (what the application waits).
    Scheduled,
    /// From each request's actual send (the request's own round trip).
    RoundTrip,
}

impl Which {
    /// Both, in report order.
    pub const ALL: [Which; 2] = [Which::Scheduled, Which::RoundTrip];

    /// Those latencies of `w`.
    pub fn of(self, w: &Window) -> Option<Latencies> {
        match self {
            Which::Scheduled => w.latency,
            Which::RoundTrip => w.round_trip,
        }
    }

    /// Lower-case name (JSON).
    pub fn name(self) -> &'static str {
        match self {
            Which::Scheduled => "scheduled",
            Which::RoundTrip => "round_trip",
        }
    }
}

/// The whole benchmark.
#[derive(Clone, Debug)]
pub struct CompactionReport {
    /// Where it ran.
    pub machine: Machine,
    /// Load averages at the start and the end.
    pub loadavg: [String; 2],
    /// What ran.
    pub config: CompactionBenchConfig,
    /// Part 1's cleans.
    pub rate: Vec<RateRun>,
    /// Part 2's windows, in run order.
    pub windows: Vec<Window>,
    /// Part 2: measured requests answered but not kept (past the sample bound).
    pub dropped_samples: u64,
    /// Parts or rounds that failed, with why.
    pub failures: Vec<String>,
    /// Wall time of the whole run.
    pub wall_seconds: f64,
}

/// `a / b`, `None` when `b` is not positive or either is not finite.
pub(crate) fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

impl CompactionReport {
    /// A quantity of one codec's cleans over rounds.
    pub fn rate_summary(&self, codec: Compression, f: impl Fn(&RateRun) -> f64) -> Option<Summary> {
        let v: Vec<f64> = self
            .rate
            .iter()
            .filter(|r| r.codec == codec)
            .map(f)
            .collect();
        Summary::of(&v)
    }

    /// The codecs with at least one clean, in the configured order.
    pub fn codecs(&self) -> Vec<Compression> {
        self.config
            .codecs
            .iter()
            .copied()
            .filter(|&c| self.rate.iter().any(|r| r.codec == c))
            .collect()
    }

    /// A quantity of one kind of window over rounds (windows where it is `None` left out).
    pub fn window_summary(
        &self,
        kind: WindowKind,
        f: impl Fn(&Window) -> Option<f64>,
    ) -> Option<Summary> {
        let v: Vec<f64> = self
            .windows
            .iter()
            .filter(|w| w.kind == kind)
            .filter_map(f)
            .collect();
        Summary::of(&v)
    }

    /// Median over rounds of a figure (µs) of one kind of window's latencies from the schedule
    /// (`Which::Scheduled`) or round trips (`Which::RoundTrip`).
    pub fn latency_median(
        &self,
        kind: WindowKind,
        which: Which,
        f: fn(&Latencies) -> u64,
    ) -> Option<f64> {
        Some(
            self.window_summary(kind, |w| which.of(w).map(|l| f(&l) as f64))?
                .median,
        )
    }

    /// Median compaction-window figure over median baseline figure.
    pub fn latency_ratio(&self, which: Which, f: fn(&Latencies) -> u64) -> Option<f64> {
        ratio(
            self.latency_median(WindowKind::Compaction, which, f)?,
            self.latency_median(WindowKind::Baseline, which, f)?,
        )
    }

    /// Compaction windows whose pass did not end inside them.
    pub fn unfinished(&self) -> usize {
        self.windows
            .iter()
            .filter(|w| w.kind == WindowKind::Compaction && !w.finished)
            .count()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn rate_run(codec: Compression, round: usize, busy: f64) -> RateRun {
        RateRun {
            codec,
            round,
            input_bytes: 100_000_000,
            output_bytes: 1_000_000,
            read_bytes: 200_000_000,
            records_removed: 900_000,
            busy_seconds: busy,
            elapsed_seconds: busy * 1.25,
            call_seconds: busy * 3.0,
        }
    }

    fn latencies(p50: u64, p99: u64) -> Latencies {
        Latencies {
            count: 2_500,
            p50_us: p50,
            p99_us: p99,
            p999_us: p99 * 2,
            max_us: p99 * 3,
        }
    }

    fn window(round: usize, kind: WindowKind, seconds: u64, p99: u64) -> Window {
        let compaction = kind == WindowKind::Compaction;
        let start_ns = round as u64 * 100_000_000_000;
        Window {
            round,
            kind,
            span: Span {
                start_ns,
                end_ns: start_ns + seconds * 1_000_000_000,
            },
            latency: Some(latencies(p99 / 4, p99)),
            round_trip: Some(latencies(p99 / 8, p99 / 2)),
            worst_at_s: Some(1.5),
            cleaner: CleanerCounters {
                passes: if compaction { 1.0 } else { 0.0 },
                read_bytes: if compaction { 400e6 } else { 0.0 },
                written_bytes: if compaction { 1e6 } else { 0.0 },
                records_removed: if compaction { 1e6 } else { 0.0 },
                seconds: if compaction {
                    seconds as f64 * 0.8
                } else {
                    0.0
                },
                partition_bytes: if compaction { 1e6 } else { 200e6 },
            },
            dirty_bytes_before: 200e6,
            finished: true,
            fill: (!compaction).then_some(Filled {
                bytes: 200_000_000,
                records: 2_000_000,
                seconds: 1.0,
            }),
        }
    }

    pub(crate) fn report() -> CompactionReport {
        let mut windows = Vec::new();
        // Baseline p99 1,000 / 1,200 / 1,100 us; compaction 4,000 / 8,000 / 6,000 us over
        // 4 / 5 / 8 s windows.
        for (round, (b, cmp, s)) in [(1_000, 4_000, 4), (1_200, 8_000, 5), (1_100, 6_000, 8)]
            .into_iter()
            .enumerate()
        {
            windows.push(window(round + 1, WindowKind::Baseline, 5, b));
            windows.push(window(round + 1, WindowKind::Compaction, s, cmp));
        }
        windows[5].finished = false;
        CompactionReport {
            machine: Machine {
                kernel: "6.18.44".into(),
                cpu_model: "AMD EPYC".into(),
                cpus: 2,
            },
            loadavg: ["0.10 0.20 0.30".into(), "1.00 0.50 0.40".into()],
            config: CompactionBenchConfig {
                codecs: vec![Compression::None, Compression::Lz4, Compression::Zstd],
                ..CompactionBenchConfig::default()
            },
            rate: vec![
                rate_run(Compression::None, 1, 1.0),
                rate_run(Compression::None, 2, 0.5),
                rate_run(Compression::None, 3, 0.8),
                rate_run(Compression::Lz4, 1, 2.0),
            ],
            windows,
            dropped_samples: 0,
            failures: Vec::new(),
            wall_seconds: 100.0,
        }
    }

    #[test]
    fn rates_are_input_over_busy_and_wall_time() {
        let r = rate_run(Compression::None, 1, 0.5);
        assert!((r.mb_per_s_per_core() - 200.0).abs() < 1e-9);
        assert!((r.wall_mb_per_s() - 160.0).abs() < 1e-9);
        assert!((r.output_ratio() - 0.01).abs() < 1e-12);
        let rep = report();
        // None: 100, 200, 125 MB/s per core -> median 125.
        let s = rep
            .rate_summary(Compression::None, RateRun::mb_per_s_per_core)
            .unwrap();
        assert_eq!((s.median, s.min, s.max), (125.0, 100.0, 200.0));
        // Zstd never ran: it is not listed.
        assert_eq!(rep.codecs(), vec![Compression::None, Compression::Lz4]);
        assert!(rep
            .rate_summary(Compression::Zstd, |r| r.busy_seconds)
            .is_none());
    }

    #[test]
    fn window_medians_and_ratios_are_of_medians() {
        let r = report();
        let s = Which::Scheduled;
        assert_eq!(
            r.latency_median(WindowKind::Baseline, s, |l| l.p99_us),
            Some(1_100.0)
        );
        assert_eq!(
            r.latency_median(WindowKind::Compaction, s, |l| l.p99_us),
            Some(6_000.0)
        );
        let p99 = r.latency_ratio(s, |l| l.p99_us).unwrap();
        assert!((p99 - 6_000.0 / 1_100.0).abs() < 1e-12);
        // Round trips: half the p99s.
        assert_eq!(
            r.latency_median(WindowKind::Baseline, Which::RoundTrip, |l| l.p99_us),
            Some(550.0)
        );
        // The cleaner read 400 MB in 4 / 5 / 8 s: 100 / 80 / 50 MB/s, median 80.
        let read = r
            .window_summary(WindowKind::Compaction, |w| Some(w.cleaner_read_mb_per_s()))
            .unwrap();
        assert_eq!((read.median, read.min, read.max), (80.0, 50.0, 100.0));
        let busy = r
            .window_summary(WindowKind::Compaction, |w| Some(w.busy_share()))
            .unwrap();
        assert!((busy.median - 0.8).abs() < 1e-12);
        assert!((r.windows[1].input_mb_per_s() - 50.0).abs() < 1e-9);
        assert_eq!(r.unfinished(), 1);
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
    }
}
