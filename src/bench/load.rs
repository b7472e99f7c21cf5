//! The Kafka-protocol load generator behind `ringlog bench produce|consume|e2e` (and the
//! workloads of `compare`): how many records/s and MB/s does a broker take, at what latency, and
//! at what CPU cost?
//!
//! It speaks only the Kafka protocol (through [`crate::client`]), so `--broker ADDR` can point it
//! at ringlog or at any Kafka-compatible broker.
//!
//! ```text
//!  generator thread (one shard, epoll by default, pinned when asked)
//!   conn task x C ── Produce (pipelined, depth D | paced: depth 1 at t_k = t0 + k*interval) ──> broker
//!                 <── ack: latency = ack time - send time (paced: - *scheduled* send time)
//!   consumer task x C ── Fetch (page cache, wraps to the start at the end of the log) ──> broker
//!   coordinator: |-- warm-up --|------------- measured window -------------| stop, drain
//!                            sample counters, /proc/self/stat, /proc/<broker>/stat
//! ```
//!
//! - **produce**: time to ack. Paced runs (`rate`) measure from the scheduled send time, so a
//!   stalled broker shows up as latency instead of silently lowering the offered load
//!   (no coordinated omission).
//! - **consume**: fetch round trip; records and bytes are those of whole batches received.
//! - **e2e**: paced producers stamp the first record of every batch with the send time (ns
//!   since the run's epoch, followed by [`STAMP_MARKER`]); consumers long-poll from the log end
//!   and record `receipt - stamp` once per record of the batch.
//!
//! Payloads (record batches, and the Produce requests around them) are built before the clock
//! starts; in the window the generator only frames and sends them (e2e patches the 8-byte stamp
//! and the batch CRC). The generator's own CPU time is reported (`/proc/self/stat`); when the
//! broker runs in the same process that number includes the broker.
//!
//! # Invariants
//! - Bounded: every run has a duration (and optionally a count); every wait has a timeout (the
//!   client's request timeout); every limit is a named constant.
//! - Only completions inside the measured window are counted, and the histogram records only
//!   inside it.
//! - A broker error fails the run; it is never counted as a success.

pub mod compare;
pub mod limits;
pub mod report;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write as _};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;

use super::{whole_batches, WholeBatches};
use crate::client::{api, records, ClientError, ConnectOptions, Connection};
use crate::protocol::error::TOPIC_ALREADY_EXISTS;
use crate::protocol::messages::{FetchRequest, FetchResponse, ProduceRequest};
use crate::protocol::ApiKey;
use crate::runtime::shard::pin_to_cpu;
use crate::runtime::{self, time, IoKind, RuntimeConfig};
use crate::storage::batch;
use crate::storage::records::Compression;

/// Default connections.
pub const CONNECTIONS_DEFAULT: usize = 16;
/// Upper bound on connections: each is a socket and a task on one generator thread, and a
/// connection slot on the broker.
pub const CONNECTIONS_MAX: usize = 4_096;
/// Default record value size: 1 KiB, the size most published Kafka benchmarks use.
pub const RECORD_BYTES_DEFAULT: usize = 1_024;
/// Upper bound on one record's value.
pub const RECORD_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Default records per batch: 64 x 1 KiB = 64 KiB, a tuned producer's `batch.size`.
pub const RECORDS_PER_BATCH_DEFAULT: usize = 64;
/// Upper bound on records per batch.
pub const RECORDS_PER_BATCH_MAX: usize = 100_000;
/// Upper bound on one batch: it must fit the broker's default request bound (100 MiB) with room.
pub const BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Default produce requests in flight per connection: Kafka's `max.in.flight.requests` is 5.
pub const IN_FLIGHT_DEFAULT: usize = 5;
/// Upper bound on requests in flight per connection (the client's own bound is 256).
pub const IN_FLIGHT_MAX: usize = 256;
/// Distinct prebuilt batches per connection, cycled: enough that no two consecutive requests
/// are byte-identical, few enough to stay in cache.
pub const PREBUILT_BATCHES: usize = 4;
/// Default measured window.
pub const DURATION_MS_DEFAULT: u64 = 10_000;
/// Default warm-up.
pub const WARMUP_MS_DEFAULT: u64 = 1_000;
/// Upper bound on warm-up and on the measured window, each.
pub const PHASE_MS_MAX: u64 = 3_600_000;
/// Default Fetch `max_bytes` (per partition and per request): 1 MiB, Kafka's
/// `max.partition.fetch.bytes`.
pub const FETCH_BYTES_DEFAULT: i32 = 1024 * 1024;
/// Fetch long-poll wait of e2e consumers: short, so the end of the run is not held up.
pub const E2E_FETCH_WAIT_MS: u64 = 100;
/// Fetch wait of page-cache consumers: they read data that is there; 0 would spin at the end.
pub const CONSUME_FETCH_WAIT_MS: u64 = 10;
/// Default bytes a `consume` run makes sure the topic holds before measuring.
pub const FILL_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
/// Upper bound on the fill.
pub const FILL_BYTES_MAX: u64 = 64 * 1024 * 1024 * 1024;
/// How often the coordinator wakes in the window (count check, progress line).
const TICK_MS: u64 = 100;
/// How often the progress line is redrawn.
const PROGRESS_MS: u64 = 500;
/// Histogram range: 1 ns .. 100 s, 3 significant digits (0.1% resolution).
const HIST_LOW_NS: u64 = 1;
const HIST_HIGH_NS: u64 = 100_000_000_000;
const HIST_SIGFIG: u8 = 3;
/// Marker after the 8-byte send stamp in e2e payloads, so a consumer never mistakes other
/// records for stamped ones.
pub const STAMP_MARKER: &[u8; 8] = b"RLBENCH!";
/// Bytes of a stamp: ns since the run epoch (u64 BE) + the marker.
const STAMP_BYTES: usize = 16;
/// Clock ticks per second of /proc/*/stat times (USER_HZ, fixed at 100 by the Linux ABI).
const USER_HZ: f64 = 100.0;

/// What a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Produce; latency = time to ack.
    Produce,
    /// Fetch from the start of each partition (page cache), wrapping at the end.
    Consume,
    /// Paced produce plus long-polling consumers; latency = produce stamp to consumer receipt.
    E2e,
}

impl Mode {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Produce => "produce",
            Mode::Consume => "consume",
            Mode::E2e => "e2e",
        }
    }
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// What to measure.
    pub mode: Mode,
    /// Broker address (any Kafka-compatible broker).
    pub broker: SocketAddr,
    /// Topic; created with `partitions` if missing.
    pub topic: String,
    /// Partitions of the topic when this run creates it (an existing topic keeps its own).
    pub partitions: i32,
    /// Connections (each producer or consumer task has one).
    pub connections: usize,
    /// Value bytes per record (keys are null).
    pub record_bytes: usize,
    /// Records per produced batch (one batch per Produce request).
    pub records_per_batch: usize,
    /// Produce acks: -1 (all), 1, 0.
    pub acks: i16,
    /// Batch compression.
    pub compression: Compression,
    /// Warm-up before the window.
    pub warmup: Duration,
    /// Measured window (an upper bound when `count` is set).
    pub duration: Duration,
    /// Stop the window after this many records (optional).
    pub count: Option<u64>,
    /// Offered load in records/s over all connections; `None` = as fast as acks come back.
    pub rate: Option<f64>,
    /// Produce requests in flight per connection when not paced.
    pub in_flight: usize,
    /// Consume: bytes the topic must hold before measuring (produced first if it holds less).
    pub fill_bytes: u64,
    /// Fetch `max_bytes`.
    pub fetch_bytes: i32,
    /// Broker pid whose CPU time is sampled (a local broker).
    pub broker_pid: Option<u32>,
    /// Pin the generator thread to this CPU.
    pub client_cpu: Option<usize>,
    /// Driver of the generator's runtime (epoll by default: the same load generator whatever
    /// the broker runs).
    pub client_io: IoKind,
    /// Draw a progress line on stderr.
    pub progress: bool,
}

impl LoadConfig {
    /// Defaults for `mode` against `broker`.
    pub fn new(mode: Mode, broker: SocketAddr) -> LoadConfig {
        LoadConfig {
            mode,
            broker,
            topic: "ringlog-bench".to_string(),
            partitions: 4,
            connections: CONNECTIONS_DEFAULT,
            record_bytes: RECORD_BYTES_DEFAULT,
            records_per_batch: RECORDS_PER_BATCH_DEFAULT,
            acks: 1,
            compression: Compression::None,
            warmup: Duration::from_millis(WARMUP_MS_DEFAULT),
            duration: Duration::from_millis(DURATION_MS_DEFAULT),
            count: None,
            rate: None,
            in_flight: IN_FLIGHT_DEFAULT,
            fill_bytes: FILL_BYTES_DEFAULT,
            fetch_bytes: FETCH_BYTES_DEFAULT,
            broker_pid: None,
            client_cpu: None,
            client_io: IoKind::Epoll,
            progress: std::io::stdout().is_terminal(),
        }
    }

    /// Check every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        let phase_max = Duration::from_millis(PHASE_MS_MAX);
        let batch = self.record_bytes.saturating_mul(self.records_per_batch);
        let checks = [
            (
                (1..=CONNECTIONS_MAX).contains(&self.connections),
                format!("connections must be 1..={CONNECTIONS_MAX}"),
            ),
            (
                (1..=crate::storage::names::PARTITIONS_PER_TOPIC_MAX).contains(&self.partitions),
                "partitions must be at least 1".to_string(),
            ),
            (
                self.record_bytes <= RECORD_BYTES_MAX,
                format!("record size must be at most {RECORD_BYTES_MAX} bytes"),
            ),
            (
                (1..=RECORDS_PER_BATCH_MAX).contains(&self.records_per_batch),
                format!("records per batch must be 1..={RECORDS_PER_BATCH_MAX}"),
            ),
            (
                batch <= BATCH_BYTES_MAX,
                format!("a batch must be at most {BATCH_BYTES_MAX} bytes"),
            ),
            (
                matches!(self.acks, -1..=1),
                "acks must be -1 (all), 0 or 1".to_string(),
            ),
            (
                self.warmup <= phase_max,
                format!("warm-up must be at most {PHASE_MS_MAX} ms"),
            ),
            (
                !self.duration.is_zero() && self.duration <= phase_max,
                format!("duration must be >0 and at most {PHASE_MS_MAX} ms"),
            ),
            (
                (1..=IN_FLIGHT_MAX).contains(&self.in_flight),
                format!("in-flight must be 1..={IN_FLIGHT_MAX}"),
            ),
            (
                self.rate.is_none_or(|r| r.is_finite() && r > 0.0),
                "rate must be a positive number of records/s".to_string(),
            ),
            (
                self.fill_bytes <= FILL_BYTES_MAX,
                format!("fill must be at most {FILL_BYTES_MAX} bytes"),
            ),
            (self.fetch_bytes > 0, "fetch bytes must be > 0".to_string()),
            (
                self.mode != Mode::E2e
                    || (self.compression == Compression::None
                        && self.record_bytes >= STAMP_BYTES
                        && self.acks != 0),
                format!(
                    "e2e stamps uncompressed batches: needs compression none, acks 1 or all, and \
                     records of at least {STAMP_BYTES} bytes"
                ),
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }

    /// Offered batches per second per connection when paced.
    fn batches_per_s_per_connection(&self) -> Option<f64> {
        self.rate
            .map(|r| r / self.records_per_batch as f64 / self.connections as f64)
    }
}

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

/// Error of a load run.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

impl From<ClientError> for LoadError {
    fn from(e: ClientError) -> Self {
        LoadError(e.to_string())
    }
}

impl From<std::io::Error> for LoadError {
    fn from(e: std::io::Error) -> Self {
        LoadError(e.to_string())
    }
}

/// The monotonic epoch of e2e stamps (shared by producers and consumers of this process).
fn stamp_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Run one load on a fresh generator thread; returns when the window has ended and every
/// connection has drained.
pub fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    config.validate().map_err(LoadError)?;
    let config = config.clone();
    std::thread::Builder::new()
        .name("bench-load".into())
        .spawn(move || {
            if let Some(cpu) = config.client_cpu {
                pin_to_cpu(cpu);
            }
            runtime::block_on(&RuntimeConfig::single(config.client_io), run_async(config))?
        })?
        .join()
        .map_err(|_| LoadError("the load generator thread panicked".into()))?
}

/// Counters shared by the tasks of one run (one thread: `Cell`s).
struct Shared {
    /// Inside the measured window: record latencies.
    measuring: Cell<bool>,
    /// Stop sending.
    stop: Cell<bool>,
    records: Cell<u64>,
    bytes: Cell<u64>,
    requests: Cell<u64>,
    hist: RefCell<Histogram<u64>>,
}

impl Shared {
    fn new() -> Shared {
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

    fn count(&self, records: u64, bytes: u64) {
        self.records.set(self.records.get() + records);
        self.bytes.set(self.bytes.get() + bytes);
        self.requests.set(self.requests.get() + 1);
    }

    fn latency(&self, d: Duration, n: u64) {
        if self.measuring.get() {
            let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            self.hist
                .borrow_mut()
                .saturating_record_n(ns.clamp(HIST_LOW_NS, HIST_HIGH_NS), n);
        }
    }

    fn snapshot(&self) -> (u64, u64, u64) {
        (self.records.get(), self.bytes.get(), self.requests.get())
    }
}

async fn connect(addr: SocketAddr) -> Result<Connection, LoadError> {
    let options = ConnectOptions {
        client_id: "ringlog-bench".into(),
        ..ConnectOptions::default()
    };
    Ok(Connection::connect_with(addr, options).await?)
}

/// Create the topic (an existing one is kept) and return its partition count.
async fn ensure_topic(
    conn: &mut Connection,
    topic: &str,
    partitions: i32,
) -> Result<i32, LoadError> {
    match conn.create_topics(&[(topic, partitions)]).await {
        Ok(()) => {}
        Err(e) if e.kafka_code() == Some(TOPIC_ALREADY_EXISTS) => {}
        Err(e) => return Err(e.into()),
    }
    let info = conn.topic(topic, false).await?;
    i32::try_from(info.partitions.len())
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| LoadError(format!("topic {topic} has no partitions")))
}

async fn run_async(config: LoadConfig) -> Result<LoadReport, LoadError> {
    let mut admin = connect(config.broker).await?;
    let partitions = ensure_topic(&mut admin, &config.topic, config.partitions).await?;
    let _ = stamp_epoch();

    // Everything the window sends is built here, before the clock starts.
    let batch = Prebuilt::new(&config)?;
    if config.mode == Mode::Consume {
        fill(&config, &mut admin, partitions, &batch).await?;
    }
    let shared = Rc::new(Shared::new());
    let mut conns = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        conns.push(connect(config.broker).await?);
    }
    // e2e consumers: one per partition, from the current end.
    let mut consumers = Vec::new();
    if config.mode == Mode::E2e {
        let ends = admin
            .list_offsets(
                &config.topic,
                &(0..partitions).collect::<Vec<_>>(),
                api::LATEST_TIMESTAMP,
            )
            .await?;
        for (p, end) in ends.into_iter().enumerate() {
            consumers.push((connect(config.broker).await?, p as i32, end));
        }
    }
    let starts = match config.mode {
        Mode::Consume => {
            admin
                .list_offsets(
                    &config.topic,
                    &(0..partitions).collect::<Vec<_>>(),
                    api::EARLIEST_TIMESTAMP,
                )
                .await?
        }
        _ => Vec::new(),
    };
    drop(admin);

    let start = Instant::now();
    let warm_end = start + config.warmup;
    let end = warm_end + config.duration;
    let config = Rc::new(config);
    let batch = Rc::new(batch);
    let mut tasks = Vec::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let partition = (i as i32) % partitions;
        let (config, shared, batch) = (config.clone(), shared.clone(), batch.clone());
        tasks.push(match config.mode {
            Mode::Produce | Mode::E2e => runtime::spawn(async move {
                let pace = config.batches_per_s_per_connection().map(|per_s| {
                    let interval = Duration::from_secs_f64(1.0 / per_s);
                    // Stagger the connections over one interval.
                    let offset = interval.mul_f64(i as f64 / config.connections as f64);
                    (start + offset, interval)
                });
                produce_task(conn, &config, partition, i, &batch, pace, &shared).await
            }),
            Mode::Consume => {
                let offset = starts[partition as usize];
                runtime::spawn(async move {
                    consume_task(conn, &config, partition, offset, &shared).await
                })
            }
        });
    }
    let mut e2e_tasks = Vec::new();
    for (conn, partition, offset) in consumers {
        let (config, shared) = (config.clone(), shared.clone());
        e2e_tasks.push(runtime::spawn(async move {
            e2e_consume_task(conn, &config, partition, offset, &shared).await
        }));
    }

    let window = coordinate(&config, &shared, warm_end, end).await;
    let mut first_error = None;
    for t in tasks.into_iter().chain(e2e_tasks) {
        if let Err(e) = t.await {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let window = window?;
    let latency = Latency::of(&shared.hist.borrow());
    Ok(LoadReport {
        config: (*config).clone(),
        seconds: window.seconds,
        records: window.records,
        bytes: window.bytes,
        requests: window.requests,
        latency,
        client_cpu_s: window.client_cpu_s,
        broker_cpu_s: window.broker_cpu_s,
        broker_in_process: config.broker_pid == Some(std::process::id()),
    })
}

/// What the coordinator sampled at the window's edges.
struct Window {
    seconds: f64,
    records: u64,
    bytes: u64,
    requests: u64,
    client_cpu_s: f64,
    broker_cpu_s: Option<f64>,
}

/// Sleep through the warm-up, sample, run the window (drawing progress, watching the count),
/// sample again, and tell every task to stop.
async fn coordinate(
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
        let client0 = process_cpu_seconds(None)?;
        let broker0 = broker_pid
            .map(|p| process_cpu_seconds(Some(p)))
            .transpose()?;
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
        let client1 = process_cpu_seconds(None)?;
        let broker1 = broker_pid
            .map(|p| process_cpu_seconds(Some(p)))
            .transpose()?;
        shared.measuring.set(false);
        progress.finish();
        Ok(Window {
            seconds: (t1 - t0).as_secs_f64(),
            records: r1 - r0,
            bytes: b1 - b0,
            requests: q1 - q0,
            client_cpu_s: client1 - client0,
            broker_cpu_s: broker0.zip(broker1).map(|(a, b)| b - a),
        })
    }
    .await;
    shared.stop.set(true);
    result
}

/// The progress line (stderr, only when asked: stdout is a terminal).
struct Progress {
    enabled: bool,
    last: Instant,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            last: Instant::now(),
        }
    }

    fn draw(
        &mut self,
        phase: &str,
        shared: &Shared,
        now: Instant,
        until: Instant,
        since: Option<(Instant, u64, u64)>,
    ) {
        if !self.enabled || now.duration_since(self.last) < Duration::from_millis(PROGRESS_MS) {
            return;
        }
        self.last = now;
        let left = until.saturating_duration_since(now).as_secs_f64();
        let rates = match since {
            Some((t0, r0, b0)) => {
                let s = now.duration_since(t0).as_secs_f64().max(1e-9);
                let p99 = Latency::of(&shared.hist.borrow())
                    .map(|l| format!("  p99 {:.0} us", l.p99_us))
                    .unwrap_or_default();
                format!(
                    "  {} rec/s  {:.1} MB/s{p99}",
                    report::human((shared.records.get() - r0) as f64 / s),
                    (shared.bytes.get() - b0) as f64 / s / 1e6
                )
            }
            None => String::new(),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{phase} {left:>5.1} s left{rates}");
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// CPU seconds (user + system, all threads, exited ones included) of this process or of `pid`.
pub fn process_cpu_seconds(pid: Option<u32>) -> Result<f64, LoadError> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path).map_err(|e| LoadError(format!("{path}: {e}")))?;
    let (user, sys) = report::parse_stat_times(&stat)
        .ok_or_else(|| LoadError(format!("{path}: cannot parse utime/stime")))?;
    Ok((user + sys) as f64 / USER_HZ)
}

/// The batches a run sends, built before the clock starts.
struct Prebuilt {
    /// `PREBUILT_BATCHES` distinct encoded batches.
    batches: Vec<Bytes>,
    /// Where the e2e stamp sits in each batch (uncompressed batches only).
    stamp_at: Option<usize>,
    /// Value bytes per batch.
    value_bytes: u64,
}

impl Prebuilt {
    fn new(config: &LoadConfig) -> Result<Prebuilt, LoadError> {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut batches = Vec::with_capacity(PREBUILT_BATCHES);
        let mut stamp_at = None;
        for _ in 0..PREBUILT_BATCHES {
            let records: Vec<records::ProducerRecord> = (0..config.records_per_batch)
                .enumerate()
                .map(|(i, _)| {
                    let mut value = payload(&mut rng, config.record_bytes);
                    if i == 0 && value.len() >= STAMP_BYTES {
                        value[8..STAMP_BYTES].copy_from_slice(STAMP_MARKER);
                    }
                    records::ProducerRecord {
                        key: None,
                        value: Some(Bytes::from(value)),
                    }
                })
                .collect();
            let batch = records::encode_batch(&records, timestamp_ms, config.compression)?;
            if config.compression == Compression::None {
                stamp_at = find(&batch, STAMP_MARKER).map(|at| at - 8);
            }
            batches.push(batch);
        }
        Ok(Prebuilt {
            batches,
            stamp_at,
            value_bytes: (config.record_bytes * config.records_per_batch) as u64,
        })
    }

    /// Bytes of one encoded batch (the broker's write size per request).
    fn batch_bytes(&self) -> usize {
        self.batches[0].len()
    }

    /// Batch `k` with the send stamp `ns` patched in and the CRC recomputed.
    fn stamped(&self, k: usize, ns: u64) -> Bytes {
        let at = self
            .stamp_at
            .expect("e2e batches are uncompressed and stamped");
        let mut b = BytesMut::from(&self.batches[k % self.batches.len()][..]);
        b[at..at + 8].copy_from_slice(&ns.to_be_bytes());
        let crc = batch::compute_crc(&b);
        b[batch::CRC_AT..batch::CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }
}

/// The encoded size of one batch of `config`'s shape (the write size of its Produce requests).
pub fn batch_bytes_of(config: &LoadConfig) -> Result<usize, LoadError> {
    Ok(Prebuilt::new(config)?.batch_bytes())
}

/// Record values: bytes from a 32-letter alphabet, so compressors find some (but not much)
/// redundancy, as in text-like payloads.
fn payload(rng: &mut XorShift, n: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";
    (0..n)
        .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize])
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A tiny deterministic generator for payload bytes (not for anything secret).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// One producer connection. Unpaced: keep `in_flight` requests outstanding, latency from send.
/// Paced (`pace = (first, interval)`): one request at a time at `first + k * interval`, latency
/// from the scheduled time.
async fn produce_task(
    mut conn: Connection,
    config: &LoadConfig,
    partition: i32,
    index: usize,
    batch: &Prebuilt,
    pace: Option<(Instant, Duration)>,
    shared: &Shared,
) -> Result<(), LoadError> {
    let version = conn.version(ApiKey::Produce)?;
    let topic = config.topic.as_str();
    let requests: Vec<ProduceRequest> = batch
        .batches
        .iter()
        .map(|b| api::produce_request(topic, partition, b.clone(), config.acks))
        .collect();
    let records = config.records_per_batch as u64;
    let depth = if pace.is_some() { 1 } else { config.in_flight };
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let mut k = index; // different connections start on different prebuilt batches
    loop {
        while sent_at.len() < depth && !shared.stop.get() {
            let scheduled = match pace {
                Some((first, interval)) => {
                    let t = first + interval.mul_f64((k - index) as f64);
                    time::sleep_until(t).await;
                    if shared.stop.get() {
                        break;
                    }
                    t
                }
                None => Instant::now(),
            };
            if config.mode == Mode::E2e {
                let ns = stamp_epoch().elapsed().as_nanos() as u64;
                let request =
                    api::produce_request(topic, partition, batch.stamped(k, ns), config.acks);
                conn.send(&request, version).await?;
            } else if config.acks == 0 {
                conn.send_without_response(&requests[k % requests.len()], version)
                    .await?;
                shared.count(records, batch.value_bytes);
            } else {
                conn.send(&requests[k % requests.len()], version).await?;
            }
            k += 1;
            if config.acks != 0 {
                sent_at.push_back(scheduled);
            }
        }
        let Some(sent) = sent_at.pop_front() else {
            if shared.stop.get() {
                return Ok(());
            }
            continue;
        };
        let response = conn.recv::<ProduceRequest>().await?;
        api::produce_result(&response, topic, partition)?;
        shared.latency(sent.elapsed(), 1);
        shared.count(records, batch.value_bytes);
    }
}

/// One page-cache consumer: fetch from `start`, wrap to `start` at the end of the log.
async fn consume_task(
    mut conn: Connection,
    config: &LoadConfig,
    partition: i32,
    start: i64,
    shared: &Shared,
) -> Result<(), LoadError> {
    let version = conn.version(ApiKey::Fetch)?;
    let wait = Duration::from_millis(CONSUME_FETCH_WAIT_MS);
    let mut offset = start;
    while !shared.stop.get() {
        let request = api::fetch_request(
            &[(&config.topic, partition, offset)],
            config.fetch_bytes,
            wait,
        );
        let sent = Instant::now();
        conn.send_with_wait(&request, version, wait).await?;
        let response = conn.recv::<FetchRequest>().await?;
        let p = fetched(&response, partition)?;
        let whole = WholeBatches::of(&p.0);
        match whole.next_offset {
            Some(next) => {
                shared.latency(sent.elapsed(), 1);
                shared.count(whole.records, whole.bytes);
                offset = next;
            }
            _ if offset >= p.1 => offset = start, // end of the log: read it again
            _ => {
                return Err(LoadError(format!(
                    "fetch {}-{partition} at {offset}: no whole batch below the high watermark {} \
                     (a batch larger than fetch bytes {}?)",
                    config.topic, p.1, config.fetch_bytes
                )))
            }
        }
    }
    Ok(())
}

/// The one partition of a Fetch response: (record bytes, high watermark).
fn fetched(response: &FetchResponse, partition: i32) -> Result<(Bytes, i64), LoadError> {
    ClientError::check(response.error_code, None, || "fetch".to_string())?;
    let p = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| {
            LoadError(format!(
                "fetch: partition {partition} missing from the response"
            ))
        })?;
    ClientError::check(p.error_code, None, || {
        format!("fetch partition {partition}")
    })?;
    Ok((p.records.clone().unwrap_or_default(), p.high_watermark))
}

/// One e2e consumer: long-poll from the end; each stamped batch gives `records` samples of
/// receipt - stamp.
async fn e2e_consume_task(
    mut conn: Connection,
    config: &LoadConfig,
    partition: i32,
    start: i64,
    shared: &Shared,
) -> Result<(), LoadError> {
    let version = conn.version(ApiKey::Fetch)?;
    let wait = Duration::from_millis(E2E_FETCH_WAIT_MS);
    let mut offset = start;
    while !shared.stop.get() {
        let request = api::fetch_request(
            &[(&config.topic, partition, offset)],
            config.fetch_bytes,
            wait,
        );
        conn.send_with_wait(&request, version, wait).await?;
        let response = conn.recv::<FetchRequest>().await?;
        let now_ns = stamp_epoch().elapsed().as_nanos() as u64;
        let (records, _) = fetched(&response, partition)?;
        // One whole batch at a time: its records, its stamp.
        for (at, header) in whole_batches(&records) {
            let batch = &records[at..at + header.size_bytes() as usize];
            let n = header.offset_count() as u64;
            if let Some(stamp) = read_stamp(batch) {
                shared.latency(Duration::from_nanos(now_ns.saturating_sub(stamp)), n);
            }
            shared.count(n, n * config.record_bytes as u64);
            offset = header.last_offset() + 1;
        }
    }
    Ok(())
}

/// The send stamp of a batch this generator produced, found by its marker in the first record.
fn read_stamp(batch: &[u8]) -> Option<u64> {
    // The first record starts right after the header; its value sits within a few varints.
    let window =
        &batch[batch::RECORDS_AT.min(batch.len())..batch.len().min(batch::RECORDS_AT + 40)];
    let m = find(window, STAMP_MARKER)?;
    let at = m.checked_sub(8)?;
    Some(u64::from_be_bytes(window[at..at + 8].try_into().ok()?))
}

/// Consume: make sure the topic holds `fill_bytes` (spread over its partitions) before the
/// measured run, producing the missing part as fast as it goes (not measured).
async fn fill(
    config: &LoadConfig,
    conn: &mut Connection,
    partitions: i32,
    batch: &Prebuilt,
) -> Result<(), LoadError> {
    let parts: Vec<i32> = (0..partitions).collect();
    let earliest = conn
        .list_offsets(&config.topic, &parts, api::EARLIEST_TIMESTAMP)
        .await?;
    let latest = conn
        .list_offsets(&config.topic, &parts, api::LATEST_TIMESTAMP)
        .await?;
    let have: i64 = earliest.iter().zip(&latest).map(|(a, b)| b - a).sum();
    let have_bytes = have.max(0) as u64 * config.record_bytes as u64;
    if have_bytes >= config.fill_bytes {
        return Ok(());
    }
    let batches = (config.fill_bytes - have_bytes).div_ceil(batch.value_bytes.max(1));
    let version = conn.version(ApiKey::Produce)?;
    let requests: Vec<Vec<ProduceRequest>> = parts
        .iter()
        .map(|&p| {
            batch
                .batches
                .iter()
                .map(|b| api::produce_request(&config.topic, p, b.clone(), 1))
                .collect()
        })
        .collect();
    let depth = IN_FLIGHT_DEFAULT as u64;
    let mut in_flight: VecDeque<i32> = VecDeque::new();
    for k in 0..batches + depth {
        if k < batches {
            let p = (k % partitions as u64) as usize;
            let r = &requests[p][(k / partitions as u64) as usize % PREBUILT_BATCHES];
            conn.send(r, version).await?;
            in_flight.push_back(p as i32);
        }
        if in_flight.len() as u64 >= depth || k >= batches {
            if let Some(p) = in_flight.pop_front() {
                let response = conn.recv::<ProduceRequest>().await?;
                api::produce_result(&response, &config.topic, p)?;
            }
        }
    }
    Ok(())
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

    #[test]
    fn stamps_survive_the_crc_patch_and_are_found_again() {
        let config = LoadConfig {
            records_per_batch: 3,
            record_bytes: 100,
            ..LoadConfig::new(Mode::E2e, "127.0.0.1:1".parse().unwrap())
        };
        let p = Prebuilt::new(&config).unwrap();
        let b = p.stamped(1, 123_456_789);
        assert_eq!(read_stamp(&b), Some(123_456_789));
        batch::validate_one(&b, u64::MAX).expect("CRC recomputed");
        let whole = WholeBatches::of(&b);
        assert_eq!(
            (whole.records, whole.bytes as usize, whole.next_offset),
            (3, b.len(), Some(3))
        );
        // A cut batch is not whole.
        assert_eq!(WholeBatches::of(&b[..b.len() - 1]).records, 0);
    }

    #[test]
    fn config_limits_are_enforced() {
        let ok = LoadConfig::new(Mode::Produce, "127.0.0.1:1".parse().unwrap());
        assert!(ok.validate().is_ok());
        let bad = [
            LoadConfig {
                connections: 0,
                ..ok.clone()
            },
            LoadConfig {
                acks: 2,
                ..ok.clone()
            },
            LoadConfig {
                rate: Some(0.0),
                ..ok.clone()
            },
            LoadConfig {
                duration: Duration::ZERO,
                ..ok.clone()
            },
            LoadConfig {
                mode: Mode::E2e,
                compression: Compression::Lz4,
                ..ok.clone()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
