//! Running `compare`: the raw limits, then per workload `rounds` rounds of [uring broker, epoll
//! broker], each run a fresh broker with a fresh data directory, stopped right after.
//!
//! # Invariants
//! - Every broker is stopped and its data directory removed, also on errors; the whole tree of
//!   data directories is removed when the run ends.
//! - The driver a broker really ran is recorded beside the one asked for.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::measure::{CompareReport, Run, WorkloadResult};
use super::workloads::PARTITIONS;
use super::{load_of, CompareConfig, Launcher, Workload, DRIVERS, LATENCY_LOAD_SHARE, WORKLOADS};
use crate::load::limits::{self, Limits};
use crate::load::{self as load, LoadError};
use crate::Machine;
use ringlog_runtime::IoKind;

/// How long a started broker may take to accept connections.
pub const BROKER_START_TIMEOUT_MS: u64 = 10_000;

/// A broker under test (also started by `bench delay`).
pub(crate) struct BrokerUnderTest {
    pub(crate) addr: SocketAddr,
    pub(crate) pid: u32,
    inner: Running,
    dir: PathBuf,
}

enum Running {
    Child(Child),
    InProcess(ringlog_broker::Broker),
}

impl BrokerUnderTest {
    pub(crate) fn start(
        c: &CompareConfig,
        io: IoKind,
        flush: &str,
        dir: PathBuf,
    ) -> Result<Self, LoadError> {
        std::fs::create_dir_all(&dir)?;
        match &c.launcher {
            Launcher::InProcess => {
                let config = ringlog_broker::BrokerConfig {
                    listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                    data_dir: dir.clone(),
                    cores: c.broker_cores,
                    io,
                    flush: ringlog_broker::config::parse_flush(flush).map_err(LoadError)?,
                    default_partitions: Some(PARTITIONS),
                    ..Default::default()
                };
                let broker = ringlog_broker::Broker::start(config)?;
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

    pub(crate) fn stop(self) -> Result<(), LoadError> {
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

/// Remove a directory tree when dropped.
pub(crate) struct DirGuard(pub(crate) PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the comparison.
pub fn run(config: &CompareConfig) -> Result<CompareReport, LoadError> {
    config.validate().map_err(LoadError)?;
    let started = Instant::now();
    let root = data_root(config)?;
    let _guard = DirGuard(root.clone());
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let w2_bytes = load::batch_bytes_of(&load_of(2, any, config, None))?;
    say(config, "measuring the raw limits");
    let limits = Limits::measure(&root, w2_bytes, config.limits_seconds)?;

    let mut runner = Runner::new(config, &root);
    let mut calibration = None;
    let mut results = Vec::new();
    for &id in &config.workloads {
        let w = WORKLOADS[id - 1];
        let mut rate = None;
        if id == 6 {
            let max = runner.calibrate(&w)?;
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
            let a = runner.one(DRIVERS[0], &w, rate)?;
            let b = runner.one(DRIVERS[1], &w, rate)?;
            rounds.push([a, b]);
        }
        let batch_bytes = load::batch_bytes_of(&load_of(id, any, config, rate))?;
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

/// The directory this run's data directories go under (created; not on tmpfs, where workload 2
/// would measure nothing).
fn data_root(config: &CompareConfig) -> Result<PathBuf, LoadError> {
    data_root_in(&config.base_dir, "compare")
}

/// `<base>/ringlog-<name>-<pid>`, created (under ./target/bench-data instead when `base` is
/// tmpfs). Shared with `bench delay`.
pub(crate) fn data_root_in(base: &Path, name: &str) -> Result<PathBuf, LoadError> {
    let mut base = base.to_path_buf();
    if limits::is_tmpfs(&base) {
        eprintln!(
            "note: {} is tmpfs; data directories go under ./target/bench-data instead",
            base.display()
        );
        base = PathBuf::from("target/bench-data");
    }
    let root = base.join(format!("ringlog-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    Ok(root)
}

/// Runs one broker + load at a time, each in a data directory of its own under `root`.
struct Runner<'a> {
    config: &'a CompareConfig,
    root: &'a Path,
    /// Runs started so far (names the data directories).
    runs: usize,
    /// Whether this machine can set up a ring (a broker asked for io_uring falls back otherwise).
    uring_works: bool,
}

impl<'a> Runner<'a> {
    fn new(config: &'a CompareConfig, root: &'a Path) -> Runner<'a> {
        Runner {
            config,
            root,
            runs: 0,
            uring_works: ringlog_runtime::probe().setup_error.is_none(),
        }
    }

    /// The driver a broker asked to run `io` really runs.
    fn effective(&self, io: IoKind) -> IoKind {
        if io == IoKind::Uring && !self.uring_works {
            IoKind::Epoll
        } else {
            io
        }
    }

    /// Start a fresh broker on `io`, run workload `w` against it, stop it.
    fn one(&mut self, io: IoKind, w: &Workload, rate: Option<f64>) -> Result<Run, LoadError> {
        self.runs += 1;
        let dir = self.root.join(format!("run-{}", self.runs));
        let broker = BrokerUnderTest::start(self.config, io, w.flush, dir)?;
        let mut load = load_of(w.id, broker.addr, self.config, rate);
        load.broker_pid = Some(broker.pid);
        let report = load::run(&load);
        let stopped = broker.stop();
        let report = report?;
        stopped?;
        Ok(Run {
            requested: io,
            effective: self.effective(io),
            report,
        })
    }

    /// Workload 6's maximum rate per driver (closed loop), in [`DRIVERS`] order.
    fn calibrate(&mut self, w: &Workload) -> Result<[f64; 2], LoadError> {
        say(
            self.config,
            "workload 6: measuring the maximum rate of its shape",
        );
        let mut max = [0.0; 2];
        for (i, io) in DRIVERS.iter().enumerate() {
            max[i] = self.one(*io, w, None)?.report.records_per_s();
        }
        Ok(max)
    }
}

fn say(c: &CompareConfig, what: &str) {
    if c.progress {
        eprintln!("compare: {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole comparison, very briefly, against in-process brokers: every workload runs on
    /// both drivers and the outputs name them. Bounded: ~0.35 s per run, 14 runs.
    #[test]
    fn a_quick_in_process_compare_runs_every_workload() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-test");
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
}
