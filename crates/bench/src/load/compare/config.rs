//! What `compare` runs: rounds, windows, broker shards, where data and results go, how brokers
//! are started; and the limit of every knob.

use std::path::PathBuf;
use std::time::Duration;

use crate::load::limits;
use ringlog_runtime::IoKind;

/// Drivers compared, in round order; the first is under test, the second the baseline.
pub const DRIVERS: [IoKind; 2] = [IoKind::Uring, IoKind::Epoll];
/// Default rounds (the issue asks for at least 5).
pub const ROUNDS_DEFAULT: usize = 5;
/// Upper bound on rounds.
pub const ROUNDS_MAX: usize = 50;
/// Default measured window per run.
pub const MEASURE_MS_DEFAULT: u64 = 3_000;
/// Default warm-up per run.
pub const WARMUP_MS_DEFAULT: u64 = 1_000;
/// Default bytes in the topic before the consume workload measures: in the page cache of any
/// machine that runs this, large enough that a fetch loop does not live in the CPU caches.
pub const FILL_BYTES_DEFAULT: u64 = 128 * 1024 * 1024;
/// Workload 6 runs at this share of the measured maximum rate.
pub const LATENCY_LOAD_SHARE: f64 = 0.5;

/// How the broker under test is started.
#[derive(Clone, Debug)]
pub enum Launcher {
    /// `exe serve ...` as a child process (its CPU time is measurable).
    Child(PathBuf),
    /// `Broker::start` in this process (tests; broker CPU is not separable).
    InProcess,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct CompareConfig {
    /// Rounds per workload.
    pub rounds: usize,
    /// Warm-up per run.
    pub warmup: Duration,
    /// Measured window per run.
    pub measure: Duration,
    /// Shards of the broker under test.
    pub broker_cores: usize,
    /// Where fresh data directories go (must not be tmpfs: workload 2 measures fdatasync).
    pub base_dir: PathBuf,
    /// Where the table, chart and JSON are written (`None`: nowhere).
    pub out_dir: Option<PathBuf>,
    /// Seconds per raw limit measurement.
    pub limits_seconds: f64,
    /// Bytes in the topic before workload 4 measures.
    pub fill_bytes: u64,
    /// How brokers are started.
    pub launcher: Launcher,
    /// Workloads to run (1..=6), in order.
    pub workloads: Vec<usize>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// The command line that reproduces this run (recorded in the outputs).
    pub command: String,
}

impl CompareConfig {
    /// Defaults, brokers started from `exe`.
    pub fn new(exe: PathBuf) -> CompareConfig {
        CompareConfig {
            rounds: ROUNDS_DEFAULT,
            warmup: Duration::from_millis(WARMUP_MS_DEFAULT),
            measure: Duration::from_millis(MEASURE_MS_DEFAULT),
            broker_cores: 1,
            base_dir: std::env::temp_dir(),
            out_dir: Some(PathBuf::from("bench-results")),
            limits_seconds: limits::SECONDS_DEFAULT,
            fill_bytes: FILL_BYTES_DEFAULT,
            launcher: Launcher::Child(exe),
            workloads: (1..=6).collect(),
            progress: false,
            command: "ringlog bench compare".into(),
        }
    }

    /// `--quick`: a smoke test (2 rounds, short windows, small fill).
    pub fn quick(mut self) -> CompareConfig {
        self.rounds = 2;
        self.warmup = Duration::from_millis(300);
        self.measure = Duration::from_millis(1_000);
        self.limits_seconds = 1.0;
        self.fill_bytes = 32 * 1024 * 1024;
        self
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if !(1..=ROUNDS_MAX).contains(&self.rounds) {
            return Err(format!("rounds must be 1..={ROUNDS_MAX}"));
        }
        if self.workloads.iter().any(|w| !(1..=6).contains(w)) || self.workloads.is_empty() {
            return Err("workloads are 1..=6".into());
        }
        if self.broker_cores == 0 {
            return Err("broker cores must be at least 1".into());
        }
        Ok(())
    }
}
