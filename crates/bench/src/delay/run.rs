//! Running `bench delay`: a fresh broker (`ringlog serve` as a child process, `--cores`
//! shards, a fresh data directory) for every round of every part, stopped right after; the
//! load and the consumers on threads of this process.
//!
//! # Invariants
//! - Every broker is stopped and its data directory removed, also on errors; the whole tree of
//!   data directories is removed when the run ends.
//! - Part 4's variants run alternately within each round (A B C A B C ...).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::clients::{self, join, Dues, Until};
use super::config::*;
use super::measure::*;
use super::stats::{memory_of, Memory, Percentiles, Watchdog};
use super::wire::{self, now_ms};
use crate::load::compare::{data_root_in, BrokerUnderTest, CompareConfig, DirGuard, Launcher};
use crate::load::{self, LoadConfig, LoadError, Mode};
use crate::machine::loadavg;
use crate::Machine;
use ringlog_runtime::{IoKind, RuntimeConfig};

/// Topic of part 1's measured stream.
const STREAM_TOPIC: &str = "delay-stream";
/// Topic of part 1's pending records.
const PENDING_TOPIC: &str = "delay-pending";
/// Topic of part 1's concurrent plain load.
const LOAD_TOPIC: &str = "delay-load";
/// Topic of parts 2 and 3.
const ENQUEUE_TOPIC: &str = "delay-enqueue";
/// Part 1's concurrent load: connections, records per batch, record bytes (compare's
/// latency workload). Paced connections have one request in flight each, so there are enough
/// of them for half the closed-loop rate to fit one fsync per request (`--flush always`).
pub(super) const LOAD_SHAPE: (usize, usize, usize) = (32, 16, 1_024);
/// Part 4's produce load: connections, records per batch, record bytes (the enqueue shape,
/// without delays).
const COST_SHAPE: (usize, usize, usize) = (4, ENQUEUE_BATCH_RECORDS, RECORD_BYTES);
/// How long the broker may take to report pending records it acknowledged.
const PENDING_WAIT_MS: u64 = 30_000;

/// Run the benchmark.
pub fn run(config: &DelayBenchConfig) -> Result<DelayReport, LoadError> {
    config.validate().map_err(LoadError)?;
    let started = Instant::now();
    let root = data_root_in(&config.base_dir, "delay")?;
    let _guard = DirGuard(root.clone());
    let mut b = Brokers {
        c: config,
        root: &root,
        runs: 0,
    };
    let mut report = DelayReport {
        machine: Machine::current(),
        loadavg: [loadavg(), String::new()],
        config: config.clone(),
        calibration: None,
        precision: Vec::new(),
        throughput: Vec::new(),
        capacity: None,
        cost: Vec::new(),
        failures: Vec::new(),
        wall_seconds: 0.0,
    };
    // A failed round (or part) is recorded and the run goes on with the next one.
    let mut failed = |what: String, e: LoadError| {
        say(config, &format!("{what} failed: {e}"));
        report.failures.push(format!("{what}: {e}"));
    };
    for &part in &config.parts {
        match part {
            Part::Precision => match b.calibrate() {
                Ok(max) => {
                    report.calibration = max;
                    let rate = max.map(|m| config.load_share * m);
                    for round in 1..=config.rounds {
                        match b.precision_round(round, rate) {
                            Ok(runs) => report.precision.extend(runs),
                            Err(e) => failed(format!("part 1, round {round}"), e),
                        }
                    }
                }
                Err(e) => failed("part 1, calibration".into(), e),
            },
            Part::Throughput => {
                for round in 1..=config.rounds {
                    match b.throughput_round(round) {
                        Ok(r) => report.throughput.push(r),
                        Err(e) => failed(format!("part 2, round {round}"), e),
                    }
                }
            }
            Part::Capacity => match b.capacity() {
                Ok(r) => report.capacity = Some(r),
                Err(e) => failed("part 3".into(), e),
            },
            Part::Cost => {
                for round in 1..=config.rounds {
                    match b.cost_round(round) {
                        Ok(runs) => report.cost.extend(runs),
                        Err(e) => failed(format!("part 4, round {round}"), e),
                    }
                }
            }
        }
    }
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.loadavg[1] = loadavg();
    if let Some(out) = &config.out_dir {
        report.write_files(out)?;
    }
    Ok(report)
}

/// Bytes of the files under `dir`: (length, allocated on disk).
pub(super) fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut sum = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return sum;
    };
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            let (a, b) = dir_bytes(&e.path());
            sum = (sum.0 + a, sum.1 + b);
        } else {
            sum = (sum.0 + m.len(), sum.1 + m.blocks() * 512);
        }
    }
    sum
}

/// Admin work on a broker from this thread.
fn admin<T>(
    addr: SocketAddr,
    f: impl AsyncFnOnce(&mut ringlog_client::Connection) -> Result<T, LoadError>,
) -> Result<T, LoadError> {
    ringlog_runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async move {
        let mut conn = wire::connect(addr).await?;
        f(&mut conn).await
    })?
}

/// Starts brokers, each in a data directory of its own under `root`.
struct Brokers<'a> {
    c: &'a DelayBenchConfig,
    root: &'a Path,
    runs: usize,
}

fn say(c: &DelayBenchConfig, what: &str) {
    if c.progress {
        eprintln!("bench delay: {what}");
    }
}

impl Brokers<'_> {
    fn say(&self, what: &str) {
        say(self.c, what);
    }

    /// A fresh broker from `exe` with `flush`; returns it and its data directory.
    fn start(&mut self, exe: &Path, flush: &str) -> Result<(BrokerUnderTest, PathBuf), LoadError> {
        self.runs += 1;
        let dir = self.root.join(format!("run-{}", self.runs));
        let compare = CompareConfig {
            broker_cores: self.c.cores,
            launcher: Launcher::Child(exe.to_path_buf()),
            ..CompareConfig::new(exe.to_path_buf())
        };
        let broker = BrokerUnderTest::start(&compare, self.c.io, flush, dir.clone())?;
        Ok((broker, dir))
    }

    /// A plain produce load of `shape` against `broker` (closed loop, or paced at `rate`).
    fn load(
        broker: &BrokerUnderTest,
        topic: &str,
        shape: (usize, usize, usize),
        rate: Option<f64>,
        warmup: Duration,
        duration: Duration,
    ) -> LoadConfig {
        LoadConfig {
            topic: topic.into(),
            partitions: PARTITIONS,
            connections: shape.0,
            records_per_batch: shape.1,
            record_bytes: shape.2,
            acks: 1,
            rate,
            warmup,
            duration,
            broker_pid: Some(broker.pid),
            client_io: if rate.is_some() {
                IoKind::Uring
            } else {
                IoKind::Epoll
            },
            progress: false,
            ..LoadConfig::new(Mode::Produce, broker.addr)
        }
    }

    /// What the machine does alone with part 1's load shape (closed loop, fresh broker);
    /// `None` when part 1 runs without the load.
    fn calibrate(&mut self) -> Result<Option<f64>, LoadError> {
        let c = self.c;
        if c.load_share == 0.0 {
            return Ok(None);
        }
        self.say("part 1: the plain load's maximum rate alone");
        let (broker, _) = self.start(&c.exe, &c.flush)?;
        let config = LoadConfig {
            // As the paced load: one request in flight per connection.
            in_flight: 1,
            ..Self::load(
                &broker,
                LOAD_TOPIC,
                LOAD_SHAPE,
                None,
                Duration::from_millis(WARMUP_MS),
                Duration::from_millis(COST_MS_DEFAULT),
            )
        };
        let r = load::run(&config);
        broker.stop()?;
        Ok(Some(r?.records_per_s()))
    }

    /// Part 1, one round: one broker, the pending counts in ascending order, at each the
    /// measured stream under the concurrent load.
    fn precision_round(
        &mut self,
        round: usize,
        load_rate: Option<f64>,
    ) -> Result<Vec<PrecisionRun>, LoadError> {
        let c = self.c;
        let (broker, _) = self.start(&c.exe, &c.flush)?;
        let r = self.precision_levels(&broker, round, load_rate);
        broker.stop()?;
        r
    }

    fn precision_levels(
        &mut self,
        broker: &BrokerUnderTest,
        round: usize,
        load_rate: Option<f64>,
    ) -> Result<Vec<PrecisionRun>, LoadError> {
        let addr = broker.addr;
        admin(addr, async |conn| {
            wire::create_topic(conn, STREAM_TOPIC, PARTITIONS, true).await?;
            wire::create_topic(conn, PENDING_TOPIC, PARTITIONS, true).await?;
            wire::create_topic(conn, LOAD_TOPIC, PARTITIONS, false).await
        })?;
        let mut runs = Vec::new();
        let mut have = 0;
        for &level in &self.c.pending_levels {
            self.say(&format!(
                "part 1, round {round}/{}: {level} pending",
                self.c.rounds
            ));
            let dues = Dues::Spread {
                first_ms: now_ms() + PENDING_AHEAD_MS,
                slots: PENDING_SPREAD_SLOTS,
            };
            let filled = clients::enqueue(
                addr,
                PENDING_TOPIC,
                PARTITIONS,
                dues,
                Until::Records(level - have),
            )?;
            have += filled.records;
            let pending = admin(addr, async |conn| {
                wire::wait_pending(
                    conn,
                    PENDING_TOPIC,
                    have,
                    Duration::from_millis(PENDING_WAIT_MS),
                )
                .await
            })?;
            let memory = memory_of(broker.pid)?;
            runs.push(self.precision_window(broker, round, level, pending, memory, load_rate)?);
        }
        Ok(runs)
    }

    /// The measured stream and its consumers while the plain load runs at `load_rate`.
    fn precision_window(
        &self,
        broker: &BrokerUnderTest,
        round: usize,
        level: u64,
        pending: u64,
        memory: Memory,
        load_rate: Option<f64>,
    ) -> Result<PrecisionRun, LoadError> {
        let c = self.c;
        let addr = broker.addr;
        let warmup = Duration::from_millis(WARMUP_MS);
        let span = Duration::from_millis(STREAM_LEAD_MS) + c.stream;
        let load_config = load_rate.map(|rate| {
            Self::load(
                broker,
                LOAD_TOPIC,
                LOAD_SHAPE,
                Some(rate),
                warmup,
                span + Duration::from_millis(500),
            )
        });
        let watchdog = Watchdog::start(broker.pid, BROKER_RSS_ABORT_BYTES);
        let load = std::thread::spawn(move || load_config.map(|c| load::run(&c)).transpose());
        let first_tick = Instant::now() + warmup;
        let delayed = (c.ticks() * c.records_per_tick() as u64) as usize;
        let deadline = first_tick + span + Duration::from_millis(DRAIN_TIMEOUT_MS);
        let consumers = clients::receive(
            addr,
            STREAM_TOPIC,
            PARTITIONS,
            delayed as u64,
            c.ticks(),
            deadline,
        )?;
        let streamed = join(clients::stream(
            addr,
            STREAM_TOPIC,
            PARTITIONS,
            c,
            first_tick,
        ));
        let received = join(consumers);
        let load = load
            .join()
            .map_err(|_| LoadError("the load thread panicked".into()))?;
        let (peak, killed) = watchdog.finish();
        if killed {
            return Err(LoadError(format!(
                "the broker's VmRSS passed {} MiB (killed by the benchmark)",
                BROKER_RSS_ABORT_BYTES >> 20
            )));
        }
        let (streamed, mut received, load) = (streamed?, received?, load?);
        Ok(PrecisionRun {
            round,
            level,
            pending_seen: pending,
            memory,
            peak,
            expected: streamed.delayed,
            received: received.lateness_us.len() as u64,
            early: received.lateness_us.iter().filter(|&&l| l < 0).count() as u64,
            lateness: Percentiles::of(&mut received.lateness_us),
            baseline: Percentiles::of(&mut received.baseline_us),
            load,
        })
    }

    /// Part 2, one round: the enqueue rate (records due hours ahead), then on a fresh broker
    /// the delivery rate of `delivery_records` due at one instant.
    fn throughput_round(&mut self, round: usize) -> Result<ThroughputRun, LoadError> {
        let c = self.c;
        self.say(&format!("part 2, round {round}/{}: enqueue", c.rounds));
        let (broker, _) = self.start(&c.exe, &c.flush)?;
        let enqueued = admin(broker.addr, async |conn| {
            wire::create_topic(conn, ENQUEUE_TOPIC, PARTITIONS, true).await
        })
        .and_then(|()| {
            clients::enqueue(
                broker.addr,
                ENQUEUE_TOPIC,
                PARTITIONS,
                Dues::At(now_ms() + PENDING_AHEAD_MS),
                Until::Window(c.enqueue),
            )
        });
        broker.stop()?;
        let enqueued = enqueued?;

        self.say(&format!("part 2, round {round}/{}: delivery", c.rounds));
        let (broker, _) = self.start(&c.exe, &c.flush)?;
        let r = self.delivery(&broker, enqueued.per_s());
        broker.stop()?;
        let (due_ms, filled, drained, delivery_peak) = r?;
        Ok(ThroughputRun {
            round,
            enqueue_records: enqueued.records,
            enqueue_seconds: enqueued.seconds,
            due_ms,
            delivery_enqueue_rate: filled.per_s(),
            enqueue_overran_ms: (filled.last_ack_ms - due_ms).max(0),
            delivery_records: c.delivery_records,
            received: drained.records,
            first_after_due_ms: drained.first_us.map(|t| (t - due_ms * 1_000) as f64 / 1e3),
            all_after_due_ms: drained.all_us.map(|t| (t - due_ms * 1_000) as f64 / 1e3),
            delivery_peak,
        })
    }

    fn delivery(
        &self,
        broker: &BrokerUnderTest,
        enqueue_rate: f64,
    ) -> Result<(i64, clients::Enqueued, clients::Drained, Memory), LoadError> {
        let c = self.c;
        admin(broker.addr, async |conn| {
            wire::create_topic(conn, ENQUEUE_TOPIC, PARTITIONS, true).await
        })?;
        // Due after the enqueue is expected to end, with room for a slower run.
        let expect_ms = (c.delivery_records as f64 / enqueue_rate.max(1.0) * 1_000.0 * 1.5) as i64;
        let due_ms = now_ms() + expect_ms + DELIVERY_MARGIN_MS;
        let deadline = Instant::now()
            + Duration::from_millis((expect_ms + DELIVERY_MARGIN_MS) as u64 + DRAIN_TIMEOUT_MS);
        let drain = clients::drain(
            broker.addr,
            ENQUEUE_TOPIC,
            PARTITIONS,
            c.delivery_records,
            deadline,
        );
        let watchdog = Watchdog::start(broker.pid, BROKER_RSS_ABORT_BYTES);
        let filled = clients::enqueue(
            broker.addr,
            ENQUEUE_TOPIC,
            PARTITIONS,
            Dues::At(due_ms),
            Until::Records(c.delivery_records),
        );
        let drained = join(drain);
        let (peak, killed) = watchdog.finish();
        if killed {
            return Err(LoadError(format!(
                "the broker's VmRSS passed {} MiB while delivering (killed by the benchmark)",
                BROKER_RSS_ABORT_BYTES >> 20
            )));
        }
        Ok((due_ms, filled?, drained?, peak))
    }

    /// Part 3: `capacity_records` pending on one broker; its memory and the timer log's bytes.
    fn capacity(&mut self) -> Result<CapacityRun, LoadError> {
        let c = self.c;
        self.say(&format!(
            "part 3: enqueueing {} records due hours ahead",
            c.capacity_records
        ));
        let (broker, dir) = self.start(&c.exe, &c.flush)?;
        let r = self.capacity_on(&broker, &dir);
        broker.stop()?;
        r
    }

    fn capacity_on(&self, broker: &BrokerUnderTest, dir: &Path) -> Result<CapacityRun, LoadError> {
        let c = self.c;
        admin(broker.addr, async |conn| {
            wire::create_topic(conn, ENQUEUE_TOPIC, PARTITIONS, true).await
        })?;
        let before = memory_of(broker.pid)?;
        let dues = Dues::Spread {
            first_ms: now_ms() + PENDING_AHEAD_MS,
            slots: PENDING_SPREAD_SLOTS,
        };
        let enqueued = clients::enqueue(
            broker.addr,
            ENQUEUE_TOPIC,
            PARTITIONS,
            dues,
            Until::Records(c.capacity_records),
        )?;
        let pending = admin(broker.addr, async |conn| {
            wire::wait_pending(
                conn,
                ENQUEUE_TOPIC,
                enqueued.records,
                Duration::from_millis(PENDING_WAIT_MS),
            )
            .await
        })?;
        // A checkpoint interval or two, so the memory read is the steady state.
        std::thread::sleep(Duration::from_millis(1_500));
        let after = memory_of(broker.pid)?;
        let timers =
            ringlog_storage::state_log::state_root(dir).join(ringlog_broker::delay::timer::FAMILY);
        let (timer_bytes, timer_allocated) = dir_bytes(&timers);
        Ok(CapacityRun {
            records: enqueued.records,
            enqueue_per_s: enqueued.per_s(),
            pending_seen: pending,
            before,
            after,
            timer_bytes,
            timer_allocated,
        })
    }

    /// Part 4, one round: the same produce load against this build (plain topic, then a
    /// delay-enabled topic whose records carry no delay) and against the baseline build.
    fn cost_round(&mut self, round: usize) -> Result<Vec<CostRun>, LoadError> {
        let c = self.c;
        let mut variants = vec![
            (Variant::Plain, c.exe.clone()),
            (Variant::DelayTopic, c.exe.clone()),
        ];
        if let Some(base) = &c.baseline_exe {
            variants.push((Variant::Baseline, base.clone()));
        }
        let mut out = Vec::new();
        for (variant, exe) in variants {
            self.say(&format!(
                "part 4, round {round}/{}: {}",
                c.rounds,
                variant.name()
            ));
            let (broker, _) = self.start(&exe, "never")?;
            let topic = "delay-cost";
            let mut config = Self::load(
                &broker,
                topic,
                COST_SHAPE,
                None,
                Duration::from_millis(WARMUP_MS),
                c.cost,
            );
            config.client_cpu = Some(ringlog_runtime::online_cpus().saturating_sub(1));
            let r = admin(broker.addr, async |conn| {
                wire::create_topic(conn, topic, PARTITIONS, variant == Variant::DelayTopic).await
            })
            .and_then(|()| load::run(&config));
            broker.stop()?;
            out.push(CostRun {
                round,
                variant,
                report: r?,
            });
        }
        Ok(out)
    }
}
