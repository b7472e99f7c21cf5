//! `ringlog bench compare`: the broker on io_uring against the broker on epoll, same settings,
//! on six workloads; plus the machine's raw limits from the same run, so every goal is a ratio
//! of numbers measured together.
//!
//! ```text
//!  limits (loopback TCP, append+fdatasync at workload 2's write size, memcpy)
//!  workload 6 calibration: max rate, closed loop, uring then epoll -> target = 50% of the lower
//!  for each workload 1..6:
//!     round 1: [fresh broker uring, run, stop] [fresh broker epoll, run, stop]
//!     round 2: ... (A B A B ..., `rounds` times)
//!  -> medians, min..max, per-round ratios; bench-results/compare.{md,svg,json}
//! ```
//!
//! Every run starts a fresh broker (`ringlog serve` as a child process: its CPU time comes from
//! /proc/<pid>/stat) with a fresh data directory, on `broker_cores` shards pinned from CPU 0; the
//! generator thread runs the epoll driver, pinned to the last CPU, so the load generator is the
//! same for both brokers.
//!
//! # Invariants
//! - Drivers alternate within each round; ratios compare medians of the same run.
//! - A broker whose io_uring could not be set up (it falls back to epoll) is reported, never
//!   silently compared.
//! - Every broker is stopped and its data directory removed, also on errors.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::limits::{self, Limits};
use super::report::human;
use super::{LoadConfig, LoadError, LoadReport, Mode};
use crate::bench::{json_array, JsonObject, Machine, Summary};
use crate::runtime::IoKind;
use crate::storage::records::Compression;

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
/// How long a started broker may take to accept connections.
pub const BROKER_START_TIMEOUT_MS: u64 = 10_000;
/// Partitions of every workload's topic (workload 3 writes one of them): more than one, so the
/// broker serves several logs, few enough that each gets long appends.
const PARTITIONS: i32 = 4;

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

    fn validate(&self) -> Result<(), String> {
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
    fn unit(self) -> &'static str {
        match self {
            Metric::MbPerS => "MB/s",
            Metric::RecordsPerS => "records/s",
            Metric::RequestsPerS => "requests/s",
            Metric::P99Us => "p99 us",
        }
    }
    fn higher_is_better(self) -> bool {
        self != Metric::P99Us
    }
    fn of(self, r: &LoadReport) -> f64 {
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
        client_cpu: Some(crate::runtime::online_cpus().saturating_sub(1)),
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

/// A broker under test.
struct BrokerUnderTest {
    addr: SocketAddr,
    pid: u32,
    inner: Running,
    dir: PathBuf,
}

enum Running {
    Child(Child),
    InProcess(crate::broker::Broker),
}

impl BrokerUnderTest {
    fn start(c: &CompareConfig, io: IoKind, flush: &str, dir: PathBuf) -> Result<Self, LoadError> {
        std::fs::create_dir_all(&dir)?;
        match &c.launcher {
            Launcher::InProcess => {
                let config = crate::broker::BrokerConfig {
                    listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                    data_dir: dir.clone(),
                    cores: c.broker_cores,
                    io,
                    flush: crate::broker::config::parse_flush(flush).map_err(LoadError)?,
                    default_partitions: Some(PARTITIONS),
                    ..Default::default()
                };
                let broker = crate::broker::Broker::start(config)?;
                Ok(BrokerUnderTest {
                    addr: broker.local_addr(),
                    pid: std::process::id(),
                    inner: Running::InProcess(broker),
                    dir,
                })
            }
            Launcher::Child(exe) => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                let log = std::fs::File::create(dir.with_extension("log"))?;
                let child = Command::new(exe)
                    .arg("serve")
                    .args(["--listen", &addr.to_string()])
                    .arg("--data-dir")
                    .arg(&dir)
                    .args(["--cores", &c.broker_cores.to_string()])
                    .args(["--io", &io.to_string()])
                    .args(["--flush", flush])
                    .args(["--default-partitions", &PARTITIONS.to_string()])
                    .env("RUST_LOG", "warn")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .map_err(|e| LoadError(format!("starting {} serve: {e}", exe.display())))?;
                let mut b = BrokerUnderTest {
                    addr,
                    pid: child.id(),
                    inner: Running::Child(child),
                    dir,
                };
                b.wait_ready()?;
                Ok(b)
            }
        }
    }

    fn wait_ready(&mut self) -> Result<(), LoadError> {
        let deadline = Instant::now() + Duration::from_millis(BROKER_START_TIMEOUT_MS);
        while Instant::now() < deadline {
            if let Running::Child(child) = &mut self.inner {
                if let Some(status) = child.try_wait()? {
                    let log =
                        std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default();
                    return Err(LoadError(format!("the broker exited ({status}): {log}")));
                }
            }
            if std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(LoadError(format!(
            "the broker did not listen on {} in time",
            self.addr
        )))
    }

    fn stop(self) -> Result<(), LoadError> {
        let result = match self.inner {
            Running::Child(mut child) => {
                // Data is thrown away: no graceful flush needed.
                let _ = child.kill();
                child.wait().map(|_| ()).map_err(LoadError::from)
            }
            Running::InProcess(broker) => {
                broker.shutdown();
                broker.join().map_err(LoadError::from)
            }
        };
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
        result
    }
}

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
    fn values(&self, driver: usize, f: impl Fn(&LoadReport) -> f64) -> Option<Summary> {
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

    fn fallbacks(&self) -> usize {
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

/// Remove a directory tree when dropped.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the comparison.
pub fn run(config: &CompareConfig) -> Result<CompareReport, LoadError> {
    config.validate().map_err(LoadError)?;
    let started = Instant::now();
    let mut base = config.base_dir.clone();
    if limits::is_tmpfs(&base) {
        eprintln!(
            "note: {} is tmpfs; data directories go under ./target/bench-data instead",
            base.display()
        );
        base = PathBuf::from("target/bench-data");
    }
    let root = base.join(format!("ringlog-compare-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let _guard = DirGuard(root.clone());
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let w2_bytes = super::batch_bytes_of(&load_of(2, any, config, None))?;
    say(config, "measuring the raw limits");
    let limits = Limits::measure(&root, w2_bytes, config.limits_seconds)?;
    let probe_uring = crate::runtime::probe().setup_error.is_none();
    let effective = |io: IoKind| {
        if io == IoKind::Uring && !probe_uring {
            IoKind::Epoll
        } else {
            io
        }
    };

    let mut n = 0usize;
    let mut one = |io: IoKind, w: &Workload, rate: Option<f64>| -> Result<Run, LoadError> {
        n += 1;
        let broker = BrokerUnderTest::start(config, io, w.flush, root.join(format!("run-{n}")))?;
        let mut load = load_of(w.id, broker.addr, config, rate);
        load.broker_pid = Some(broker.pid);
        let report = super::run(&load);
        let stopped = broker.stop();
        let report = report?;
        stopped?;
        Ok(Run {
            requested: io,
            effective: effective(io),
            report,
        })
    };

    let mut calibration = None;
    let mut results = Vec::new();
    for &id in &config.workloads {
        let w = WORKLOADS[id - 1];
        let mut rate = None;
        if id == 6 {
            say(
                config,
                "workload 6: measuring the maximum rate of its shape",
            );
            let mut max = [0.0; 2];
            for (i, io) in DRIVERS.iter().enumerate() {
                max[i] = one(*io, &w, None)?.report.records_per_s();
            }
            calibration = Some(max);
            rate = Some(LATENCY_LOAD_SHARE * max[0].min(max[1]));
        }
        let mut rounds = Vec::with_capacity(config.rounds);
        for round in 1..=config.rounds {
            say(
                config,
                &format!(
                    "workload {id} ({}), round {round}/{}",
                    w.name, config.rounds
                ),
            );
            let a = one(DRIVERS[0], &w, rate)?;
            let b = one(DRIVERS[1], &w, rate)?;
            rounds.push([a, b]);
        }
        let batch_bytes = super::batch_bytes_of(&load_of(id, any, config, rate))?;
        results.push(WorkloadResult {
            workload: w,
            rounds,
            rate,
            batch_bytes,
        });
    }
    let report = CompareReport {
        machine: Machine::current(),
        config: config.clone(),
        limits,
        calibration,
        workloads: results,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if let Some(out) = &config.out_dir {
        report.write_files(out)?;
    }
    Ok(report)
}

fn say(c: &CompareConfig, what: &str) {
    if c.progress {
        eprintln!("compare: {what}");
    }
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
    fn workload(&self, id: usize) -> Option<&WorkloadResult> {
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

    /// The results table in Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let c = &self.config;
        let _ = writeln!(s, "# ringlog bench compare: broker on io_uring vs epoll\n");
        let _ = writeln!(
            s,
            "Machine: {} CPUs, `{}`, kernel `{}`. Command: `{}`. {} rounds per workload (uring, \
             epoll alternately, a fresh broker and data directory per run), {:.1} s warm-up + \
             {:.1} s measured per run; broker: {} shard(s) pinned from CPU 0, `ringlog serve` as \
             a child process; generator: one thread pinned to CPU {} (epoll driver; io_uring for the paced workload 6, for ns timers). Wall clock {:.0} s.\n",
            m.cpus,
            m.cpu_model,
            m.kernel,
            c.command,
            c.rounds,
            c.warmup.as_secs_f64(),
            c.measure.as_secs_f64(),
            c.broker_cores,
            m.cpus.saturating_sub(1),
            self.wall_seconds
        );
        let _ = writeln!(s, "Raw limits, same run:\n");
        for line in self.limits.to_string().lines() {
            let _ = writeln!(s, "- {line}");
        }
        if let Some([u, e]) = self.calibration {
            let _ = writeln!(
                s,
                "- workload 6 calibration (its shape, closed loop): uring {} records/s, epoll {} \
                 records/s; offered load = 50% of the lower",
                human(u),
                human(e)
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| # | workload | metric | io_uring median (min..max) | epoll median (min..max) | \
             io_uring advantage (rounds min..max) | broker CPU s/GB uring | epoll |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for w in &self.workloads {
            let cell = |x: Option<Summary>| match x {
                Some(x) => format!("{} ({}..{})", human(x.median), human(x.min), human(x.max)),
                None => "n/a".into(),
            };
            let adv = match w.advantage() {
                Some((a, r)) => format!("**{a:.2}x** ({:.2}..{:.2})", r.min, r.max),
                None => "n/a".into(),
            };
            let cpu = |i| {
                w.cpu_per_gb(i)
                    .map_or("n/a".into(), |x| format!("{:.2}", x.median))
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                w.workload.id,
                w.workload.name,
                w.workload.metric.unit(),
                cell(w.metric(0)),
                cell(w.metric(1)),
                adv,
                cpu(0),
                cpu(1)
            );
        }
        let _ = writeln!(
            s,
            "\nAdvantage > 1 means io_uring is better (throughput: uring/epoll; latency: \
             epoll/uring). CPU s/GB: broker process CPU (user+sys, /proc/<pid>/stat) per 10^9 \
             payload bytes."
        );
        let fallbacks: usize = self.workloads.iter().map(WorkloadResult::fallbacks).sum();
        if fallbacks > 0 {
            let _ = writeln!(
                s,
                "\n**WARNING**: io_uring could not be set up in {fallbacks} run(s); those broker \
                 runs used epoll."
            );
        }
        let _ = writeln!(s, "\n| goal | measured | met |\n|---|---|---|");
        for g in self.goals() {
            let met = match g.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "n/a",
            };
            let _ = writeln!(s, "| {} | {} | {met} |", g.goal, g.measured);
        }
        let _ = writeln!(s, "\nLatency and CPU detail (medians over rounds):\n");
        let _ = writeln!(
            s,
            "| # | driver | records/s | MB/s | p50 us | p99 us | p99.9 us | max us | generator CPU s/GB |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for w in &self.workloads {
            for (i, io) in DRIVERS.iter().enumerate() {
                let med =
                    |f: &dyn Fn(&LoadReport) -> f64| w.values(i, f).map_or(f64::NAN, |x| x.median);
                let lat = |f: fn(&super::Latency) -> f64| {
                    move |r: &LoadReport| r.latency.as_ref().map_or(f64::NAN, f)
                };
                let _ = writeln!(
                    s,
                    "| {} | {io} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
                    w.workload.id,
                    human(med(&|r| r.records_per_s())),
                    med(&|r| r.mb_per_s()),
                    med(&lat(|l| l.p50_us)),
                    med(&lat(|l| l.p99_us)),
                    med(&lat(|l| l.p999_us)),
                    med(&lat(|l| l.max_us)),
                    med(&|r| r.client_cpu_s_per_gb()),
                );
            }
        }
        s
    }

    /// A bar chart of the io_uring advantage per workload, hand-written SVG.
    pub fn svg(&self) -> String {
        const W: f64 = 760.0;
        const H: f64 = 400.0;
        const LEFT: f64 = 60.0;
        const BOTTOM: f64 = 330.0;
        const TOP: f64 = 50.0;
        let bars: Vec<(usize, f64, Summary)> = self
            .workloads
            .iter()
            .filter_map(|w| w.advantage().map(|(a, s)| (w.workload.id, a, s)))
            .collect();
        let top_value = bars
            .iter()
            .map(|(_, a, s)| a.max(s.max))
            .fold(1.5f64, f64::max)
            .min(10.0);
        let y = |v: f64| BOTTOM - (v.min(top_value) / top_value) * (BOTTOM - TOP);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">ringlog broker: io_uring advantage over epoll (median, whiskers = per-round min..max)</text>"#,
            W / 2.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="40" text-anchor="middle" fill="#555">{} CPUs, {}, kernel {}; {} rounds; &gt;1 = io_uring better</text>"##,
            W / 2.0,
            self.machine.cpus,
            xml(&self.machine.cpu_model),
            xml(&self.machine.kernel),
            self.config.rounds
        );
        // Axis and grid.
        let mut tick = 0.0;
        while tick <= top_value + 1e-9 {
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{tick:.1}x</text>"##,
                W - 20.0,
                LEFT - 6.0,
                y(tick) + 4.0,
                y = y(tick)
            );
            tick += if top_value > 3.0 { 1.0 } else { 0.25 };
        }
        for (goal, color) in [(1.0, "#333"), (1.2, "#c60")] {
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="{color}" stroke-dasharray="6,4"/>"#,
                W - 20.0,
                y = y(goal)
            );
        }
        let slot = (W - LEFT - 20.0) / bars.len().max(1) as f64;
        for (i, (id, adv, spread)) in bars.iter().enumerate() {
            let x = LEFT + slot * i as f64 + slot * 0.2;
            let bw = slot * 0.6;
            let color = if *adv >= 1.0 { "#2a7ab9" } else { "#c0392b" };
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{color}"/>"#,
                y(*adv),
                BOTTOM - y(*adv)
            );
            let cx = x + bw / 2.0;
            let _ = writeln!(
                s,
                r#"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{adv:.2}x</text>"#,
                y(spread.min),
                y(spread.max),
                y(adv.max(spread.max)) - 6.0
            );
            let name = WORKLOADS[id - 1].name;
            let (a, b) = split_label(name);
            let _ = writeln!(
                s,
                r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{id}. {}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                BOTTOM + 18.0,
                xml(a),
                BOTTOM + 34.0,
                xml(b)
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{}" fill="#555">dashed: 1.0x (parity), 1.2x (goal for workloads 2 and 5)</text>"##,
            H - 12.0
        );
        s.push_str("</svg>\n");
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        let machine = JsonObject::new()
            .str("kernel", &self.machine.kernel)
            .str("cpu_model", &self.machine.cpu_model)
            .num("cpus", self.machine.cpus as f64)
            .finish();
        let workloads = json_array(self.workloads.iter().map(|w| {
            let runs = json_array(w.rounds.iter().enumerate().flat_map(|(i, pair)| {
                pair.iter()
                    .map(|r| {
                        JsonObject::new()
                            .num("round", (i + 1) as f64)
                            .str("requested", &r.requested.to_string())
                            .str("effective", &r.effective.to_string())
                            .raw("report", &r.report.to_json(&self.machine))
                            .finish()
                    })
                    .collect::<Vec<_>>()
            }));
            let adv = w.advantage();
            JsonObject::new()
                .num("id", w.workload.id as f64)
                .str("name", w.workload.name)
                .str("metric", w.workload.metric.unit())
                .num("uring_median", w.metric(0).map_or(f64::NAN, |x| x.median))
                .num("epoll_median", w.metric(1).map_or(f64::NAN, |x| x.median))
                .num("advantage", adv.map_or(f64::NAN, |a| a.0))
                .num("advantage_min", adv.map_or(f64::NAN, |a| a.1.min))
                .num("advantage_max", adv.map_or(f64::NAN, |a| a.1.max))
                .raw(
                    "rate",
                    &w.rate.map_or("null".into(), crate::bench::json_number),
                )
                .num("batch_bytes", w.batch_bytes as f64)
                .raw("runs", &runs)
                .finish()
        }));
        let goals = json_array(self.goals().into_iter().map(|g| {
            JsonObject::new()
                .str("goal", &g.goal)
                .str("measured", &g.measured)
                .raw("met", &g.met.map_or("null".into(), |m| m.to_string()))
                .finish()
        }));
        JsonObject::new()
            .str("benchmark", "compare")
            .str("command", &self.config.command)
            .raw("machine", &machine)
            .num("rounds", self.config.rounds as f64)
            .num("warmup_s", self.config.warmup.as_secs_f64())
            .num("measure_s", self.config.measure.as_secs_f64())
            .num("broker_cores", self.config.broker_cores as f64)
            .raw("limits", &self.limits.to_json())
            .raw("workloads", &workloads)
            .raw("goals", &goals)
            .num("wall_seconds", self.wall_seconds)
            .finish()
    }

    /// Write compare.md, compare.svg, compare.json into `dir`.
    pub fn write_files(&self, dir: &Path) -> Result<(), LoadError> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, text: String| {
            std::fs::write(dir.join(name), text)
                .map_err(|e| LoadError(format!("{}: {e}", dir.join(name).display())))
        };
        write("compare.md", self.markdown())?;
        write("compare.svg", self.svg())?;
        write("compare.json", self.to_json() + "\n")
    }
}

impl std::fmt::Display for CompareReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.markdown())
    }
}

/// Split a workload name at the first ", " for a two-line chart label.
fn split_label(name: &str) -> (&str, &str) {
    name.split_once(", ").unwrap_or((name, ""))
}

/// Escape text for SVG.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole comparison, very briefly, against in-process brokers: every workload runs on
    /// both drivers and the outputs name them. Bounded: ~0.35 s per run, 14 runs.
    #[test]
    fn a_quick_in_process_compare_runs_every_workload() {
        let dir = std::env::current_dir().unwrap().join("target/bench-test");
        let out = dir.join(format!("out-{}", std::process::id()));
        let config = CompareConfig {
            rounds: 1,
            warmup: Duration::from_millis(50),
            measure: Duration::from_millis(250),
            base_dir: dir.clone(),
            out_dir: Some(out.clone()),
            limits_seconds: 0.05,
            fill_bytes: 2 * 1024 * 1024,
            launcher: Launcher::InProcess,
            ..CompareConfig::new(PathBuf::new())
        };
        let report = run(&config).unwrap();
        assert_eq!(report.workloads.len(), 6);
        for w in &report.workloads {
            for d in 0..2 {
                let m = w.metric(d).unwrap();
                assert!(
                    m.median > 0.0,
                    "workload {} driver {d}: {m:?}",
                    w.workload.id
                );
            }
        }
        let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
        assert!(md.contains("| 6 |") && md.contains("kernel"), "{md}");
        let svg = std::fs::read_to_string(out.join("compare.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(report.to_json().contains("\"effective\":\"epoll\""));
        let _ = std::fs::remove_dir_all(&out);
    }

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
                latency: Some(super::super::Latency {
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
