//! The transfer benchmark (issue 5): what does each consumer transfer path cost on this machine,
//! per slice size and driver, and how close does a real broker consume come to the best raw path?
//!
//! **Raw runs.** A file warmed into the page cache right before each run is sent over loopback
//! TCP with [`Transfer::send`] (one fetch-like header + one file slice per call, as a Fetch
//! response is framed) to a discarding reader: a plain blocking std socket on its own thread
//! reading into one reusable buffer. Every path (and `auto`) x slice size x driver; the uring-*
//! paths run on the io_uring driver only.
//!
//! ```text
//!  CPU 0: sender shard (uring | epoll)                 CPU 1: reader thread (std, blocking)
//!   Transfer::send([64 B header, slice]) x N ──loopback──> read(256 KiB buffer) until EOF
//!   io-wq workers (iou-wrk-*): wherever the kernel runs them
//! ```
//!
//! CPU time is taken per thread of this process from `/proc/self/task/*/schedstat` (ns on CPU,
//! user + system; utime+stime ticks of `stat` where schedstat is missing) and attributed by
//! thread: the sender shard, the reader, kernel io-wq workers (`iou-wrk-*`, `iou-sqp-*`), and
//! anything else in the process. Loopback TCP processing (softirq) runs in the context of the
//! thread that triggers it, so it lands on the sender or the reader, as it does in production.
//! CPU outside this process (ksoftirqd, kworkers, and other tenants of the machine) is reported
//! separately from `/proc/stat` and is noisy by nature.
//!
//! **Broker runs.** A broker is started in-process (`cores = 1`, io_uring, `--flush never`), a
//! topic of 1 KiB records is produced once (pipelined), and for each path the broker is restarted
//! on the same data with `transfer = path`; the segment file is warmed and one consumer fetches
//! from offset 0 to the end with 1 MiB fetches. In the same round, the raw benchmark sends the
//! same segment file in 1 MiB slices with every path, so the consume rate is compared with the
//! best raw path measured in the same run.
//!
//! # Invariants
//! - Bounded: every size and count has a named limit, every wait has a timeout, traffic only on
//!   127.0.0.1. The benchmark stops by itself.
//! - The file is read (warmed) right before each run: this VM evicts idle page cache after about
//!   a minute, and a cold run would measure the disk.
//! - Runs are interleaved (round r runs every driver x slice x path once) so machine drift spreads
//!   over all cells; ratios compare medians of the same invocation.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{json_array, JsonObject, Machine, Summary};
use crate::runtime::fs::File;
use crate::runtime::net::TcpListener;
use crate::runtime::shard::pin_to_cpu;
use crate::runtime::{self, IoKind, RuntimeConfig};
use crate::transfer::{FileRange, Piece, Transfer, TransferPath};

/// CPU of the sending shard (and of the broker's one shard).
pub const SENDER_CPU: usize = 0;
/// CPU of the discarding reader (and of the consumer).
pub const RECEIVER_CPU: usize = 1;
/// Default runs per cell: 5 gives a median one disturbed run cannot move.
pub const RUNS_DEFAULT: usize = 5;
/// Upper bound on runs.
pub const RUNS_MAX: usize = 100;
/// Default bytes per raw run: long enough (~0.1-1 s) that setup and the clock do not matter.
pub const BYTES_DEFAULT: u64 = 512 << 20;
/// Upper bound on bytes per run.
pub const BYTES_MAX: u64 = 64 << 30;
/// Default size of the file sent by the raw runs (sent round and round when a run is longer):
/// large against the CPU caches, small enough to warm in ~30 ms.
pub const FILE_BYTES_DEFAULT: u64 = 256 << 20;
/// The slice sizes of the issue: a small fetch, a medium one, the default `max.partition.fetch
/// .bytes` (1 MiB), and a large one (8 pipes' worth).
pub const SLICES_DEFAULT: [u64; 4] = [16 << 10, 256 << 10, 1 << 20, 8 << 20];
/// Upper bound on a slice (and on a fetch): 64 MiB.
pub const SLICE_BYTES_MAX: u64 = 64 << 20;
/// Bytes of the fetch-like header sent with every slice (a one-partition Fetch v12 response
/// header is ~70 bytes).
pub const HEADER_BYTES: usize = 64;
/// The reader's buffer: larger than one TCP segment train, small enough to stay in L2.
pub const READ_BUFFER_BYTES: usize = 256 << 10;
/// Default bytes produced for the broker run.
pub const BROKER_BYTES_DEFAULT: u64 = 256 << 20;
/// Upper bound on bytes produced for the broker run (one segment holds them all).
pub const BROKER_BYTES_MAX: u64 = 900 << 20;
/// Record value size of the broker run.
pub const RECORD_BYTES: usize = 1024;
/// Records per produced batch (~256 KiB batches: a producer with linger at full speed).
pub const RECORDS_PER_BATCH: usize = 256;
/// Produce requests in flight while filling the topic.
pub const PRODUCE_IN_FLIGHT: usize = 16;
/// The consumer's fetch size (`max_bytes` and `partition_max_bytes`).
pub const FETCH_BYTES: u64 = 1 << 20;
/// Segment size of the broker run: everything in one segment, one file to send raw.
const BROKER_SEGMENT_BYTES: u64 = 1 << 30;
/// Topic of the broker run.
const TOPIC: &str = "bench-transfer";
/// How long any side waits for the other (connect, accept, a run's end).
pub const RUN_TIMEOUT_MS: u64 = 120_000;
/// Clock ticks per second of /proc/*/stat times (USER_HZ, fixed at 100 by the Linux ABI).
const USER_HZ: f64 = 100.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct TransferBenchConfig {
    /// Runs per cell.
    pub runs: usize,
    /// Bytes per raw run.
    pub bytes: u64,
    /// Size of the raw runs' file.
    pub file_bytes: u64,
    /// Slice sizes.
    pub slices: Vec<u64>,
    /// Paths (with `auto`); uring-* run on the io_uring driver only.
    pub paths: Vec<TransferPath>,
    /// Drivers of the sender.
    pub drivers: Vec<IoKind>,
    /// Run the raw matrix.
    pub raw: bool,
    /// Run the broker consume comparison.
    pub broker: bool,
    /// Bytes produced for the broker run.
    pub broker_bytes: u64,
    /// Where the files go (a directory on a real filesystem, not tmpfs: the page cache of a
    /// disk file is what a broker sends from).
    pub dir: PathBuf,
}

impl Default for TransferBenchConfig {
    fn default() -> Self {
        TransferBenchConfig {
            runs: RUNS_DEFAULT,
            bytes: BYTES_DEFAULT,
            file_bytes: FILE_BYTES_DEFAULT,
            slices: SLICES_DEFAULT.to_vec(),
            paths: TransferPath::ALL
                .into_iter()
                .chain([TransferPath::Auto])
                .collect(),
            drivers: vec![IoKind::Uring, IoKind::Epoll],
            raw: true,
            broker: true,
            broker_bytes: BROKER_BYTES_DEFAULT,
            dir: PathBuf::from("bench-results"),
        }
    }
}

impl TransferBenchConfig {
    /// Check every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=RUNS_MAX).contains(&self.runs) {
            return Err(format!("runs must be in 1..={RUNS_MAX}"));
        }
        if !(1..=BYTES_MAX).contains(&self.bytes) {
            return Err(format!("bytes must be in 1..={BYTES_MAX}"));
        }
        if self.slices.is_empty() || self.paths.is_empty() || self.drivers.is_empty() {
            return Err("need at least one slice size, path and driver".into());
        }
        for &s in &self.slices {
            if !(1..=SLICE_BYTES_MAX).contains(&s) {
                return Err(format!("slice {s} not in 1..={SLICE_BYTES_MAX}"));
            }
            if self.file_bytes < s {
                return Err(format!("file_bytes {} below slice {s}", self.file_bytes));
            }
        }
        if !(RECORD_BYTES as u64 * RECORDS_PER_BATCH as u64..=BROKER_BYTES_MAX)
            .contains(&self.broker_bytes)
        {
            return Err(format!(
                "broker bytes must be in 256 KiB..={BROKER_BYTES_MAX}"
            ));
        }
        Ok(())
    }
}

/// CPU seconds of one run, attributed by thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSplit {
    /// The sending shard (or the broker's shard).
    pub sender: f64,
    /// The reader (or the consumer).
    pub receiver: f64,
    /// Kernel worker threads of this process (`iou-wrk-*`, `iou-sqp-*`).
    pub workers: f64,
    /// Other threads of this process.
    pub other: f64,
    /// Busy CPU time of the whole machine not spent in this process (ksoftirqd, kworkers, and
    /// other tenants): noisy.
    pub outside: f64,
}

/// One raw run.
#[derive(Clone, Debug)]
pub struct RawSample {
    /// Driver that ran (a ring that cannot be set up falls back to epoll).
    pub driver: IoKind,
    /// Path under test.
    pub path: TransferPath,
    /// Slice bytes.
    pub slice: u64,
    /// Bytes the reader got (headers included).
    pub bytes: u64,
    /// From the first send to the reader's end of stream.
    pub seconds: f64,
    /// CPU by thread.
    pub cpu: CpuSplit,
}

impl RawSample {
    fn gbps(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e9
    }
}

/// One broker consume run.
#[derive(Clone, Debug)]
pub struct BrokerSample {
    /// The broker's transfer path.
    pub path: TransferPath,
    /// Record bytes the consumer received.
    pub bytes: u64,
    /// Fetches it took.
    pub fetches: u64,
    /// From the first fetch to the last response.
    pub seconds: f64,
    /// CPU by thread (sender = broker shard, receiver = consumer).
    pub cpu: CpuSplit,
}

/// Everything one invocation measured.
#[derive(Clone, Debug)]
pub struct TransferBenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// What ran.
    pub config: TransferBenchConfig,
    /// Raw runs, in the order they ran.
    pub raw: Vec<RawSample>,
    /// Broker runs.
    pub broker: Vec<BrokerSample>,
    /// Raw runs of the broker section (the segment file in 1 MiB slices, io_uring sender).
    pub broker_raw: Vec<RawSample>,
    /// Bytes of the segment file the broker section sent.
    pub segment_bytes: u64,
}

/// Run the benchmark; `progress` gets one line per finished run.
pub fn run(
    config: &TransferBenchConfig,
    progress: &mut dyn FnMut(&str),
) -> io::Result<TransferBenchReport> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    std::fs::create_dir_all(&config.dir)?;
    let mut report = TransferBenchReport {
        machine: Machine::current(),
        config: config.clone(),
        raw: Vec::new(),
        broker: Vec::new(),
        broker_raw: Vec::new(),
        segment_bytes: 0,
    };
    if config.raw {
        let file = config.dir.join("transfer-bench.data");
        write_file(&file, config.file_bytes)?;
        let result = raw_matrix(config, &file, &mut report.raw, progress);
        let _ = std::fs::remove_file(&file);
        result?;
    }
    if config.broker {
        broker_section(config, &mut report, progress)?;
    }
    Ok(report)
}

fn raw_matrix(
    config: &TransferBenchConfig,
    file: &Path,
    out: &mut Vec<RawSample>,
    progress: &mut dyn FnMut(&str),
) -> io::Result<()> {
    for round in 0..config.runs {
        for &io in &config.drivers {
            for &slice in &config.slices {
                for &path in &config.paths {
                    if !path.runs_on(io) {
                        continue;
                    }
                    let s = raw_run(io, path, slice, config.bytes, file)?;
                    progress(&format!(
                        "run {}/{} {io} {path} {}: {:.2} GB/s",
                        round + 1,
                        config.runs,
                        size(slice),
                        s.gbps()
                    ));
                    out.push(s);
                }
            }
        }
    }
    Ok(())
}

/// Fill `path` with `len` bytes of a fixed pattern (not a hole: holes are the zero page).
fn write_file(path: &Path, len: u64) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    let chunk: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// Read the whole file so its pages are in the page cache right now.
fn warm(path: &Path) -> io::Result<u64> {
    let f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    loop {
        let n = f.read_at(&mut buf, pos)?;
        if n == 0 {
            return Ok(pos);
        }
        pos += n as u64;
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("transfer bench: {what} timed out"),
    )
}

fn run_timeout() -> Duration {
    Duration::from_millis(RUN_TIMEOUT_MS)
}

/// What the reader thread reports.
struct ReaderDone {
    bytes: u64,
    end: Instant,
    cpu_seconds: f64,
}

/// A discarding reader: connect, read into one buffer until end of stream.
fn spawn_reader(
    addr_rx: mpsc::Receiver<SocketAddr>,
    done_tx: mpsc::Sender<io::Result<ReaderDone>>,
) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("bench-reader".into())
        .spawn(move || {
            pin_to_cpu(RECEIVER_CPU);
            let result = (|| {
                let mut buf = vec![0u8; READ_BUFFER_BYTES];
                let addr = addr_rx
                    .recv_timeout(run_timeout())
                    .map_err(|_| timed_out("sender setup"))?;
                let mut s = std::net::TcpStream::connect(addr)?;
                s.set_read_timeout(Some(run_timeout()))?;
                let cpu0 = thread_cpu_seconds()?;
                let mut bytes = 0u64;
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => bytes += n as u64,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                let end = Instant::now();
                Ok(ReaderDone {
                    bytes,
                    end,
                    cpu_seconds: thread_cpu_seconds()? - cpu0,
                })
            })();
            let _ = done_tx.send(result);
        })
}

/// One raw run: `bytes` in `slice`-byte slices of `file` (round and round), each with a header.
pub fn raw_run(
    io: IoKind,
    path: TransferPath,
    slice: u64,
    bytes: u64,
    file: &Path,
) -> io::Result<RawSample> {
    let file_len = warm(file)?;
    let usable = file_len - file_len % slice;
    if usable == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file smaller than a slice",
        ));
    }
    let slices = bytes.div_ceil(slice);
    let (addr_tx, addr_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let reader = spawn_reader(addr_rx, done_tx)?;
    let file = file.to_path_buf();
    let sender = thread::Builder::new().name("bench-sender".into()).spawn(
        move || -> io::Result<(IoKind, Instant, CpuSplit, ReaderDone)> {
            pin_to_cpu(SENDER_CPU);
            runtime::block_on(&RuntimeConfig::single(io), async move {
                let driver = runtime::io_kind().expect("inside a runtime");
                let file = File::from_std(std::fs::File::open(&file)?);
                let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
                let _ = addr_tx.send(listener.local_addr());
                let (stream, peer) = runtime::time::timeout(run_timeout(), listener.accept())
                    .await
                    .map_err(|_| timed_out("accept"))??;
                let header = Bytes::from(vec![0xA5u8; HEADER_BYTES]);
                let mut transfer = Transfer::new(path, peer);
                let before = CpuSnapshot::take()?;
                let start = Instant::now();
                for i in 0..slices {
                    let position = (i * slice) % usable;
                    let pieces = vec![
                        Piece::Bytes(header.clone()),
                        Piece::File(FileRange {
                            file: file.clone(),
                            position,
                            len: slice,
                        }),
                    ];
                    transfer.send(&stream, pieces).await?;
                }
                stream.shutdown_write()?;
                // The reader's end of stream closes the measured window; then every thread is
                // sampled while the sender's ring (and its io-wq workers) still exist.
                let done = done_rx
                    .recv_timeout(run_timeout())
                    .map_err(|_| timed_out("reader"))??;
                let after = CpuSnapshot::take()?;
                let mut cpu = after.since(&before, &[]);
                cpu.receiver = done.cpu_seconds;
                drop(stream);
                Ok((driver, start, cpu, done))
            })?
        },
    )?;
    let joined = sender
        .join()
        .map_err(|_| io::Error::other("transfer bench sender panicked"))?;
    let _ = reader.join();
    let (driver, start, cpu, done) = joined?;
    let header_bytes = slices * HEADER_BYTES as u64;
    if done.bytes != slices * slice + header_bytes {
        return Err(io::Error::other(format!(
            "{path} on {io}: reader got {} bytes, {} were sent",
            done.bytes,
            slices * slice + header_bytes
        )));
    }
    Ok(RawSample {
        driver,
        path,
        slice,
        bytes: done.bytes,
        seconds: done.end.duration_since(start).as_secs_f64(),
        cpu,
    })
}

/// This thread's CPU seconds (user + system).
fn thread_cpu_seconds() -> io::Result<f64> {
    task_cpu_seconds(Path::new("/proc/thread-self"))
        .ok_or_else(|| io::Error::other("cannot read /proc/thread-self CPU time"))
}

/// CPU seconds of one task directory: schedstat (ns) where present, else stat ticks.
fn task_cpu_seconds(dir: &Path) -> Option<f64> {
    if let Some(ns) = std::fs::read_to_string(dir.join("schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
    {
        return Some(ns as f64 / 1e9);
    }
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let sys: u64 = fields.next()?.parse().ok()?;
    Some((user + sys) as f64 / USER_HZ)
}

/// CPU time of every thread of this process, and of the whole machine.
struct CpuSnapshot {
    /// tid -> (name, seconds).
    tasks: BTreeMap<u32, (String, f64)>,
    /// Busy seconds of all CPUs (/proc/stat, everything but idle and iowait).
    machine_busy: f64,
    /// This thread's tid.
    me: u32,
}

impl CpuSnapshot {
    fn take() -> io::Result<CpuSnapshot> {
        let mut tasks = BTreeMap::new();
        for e in std::fs::read_dir("/proc/self/task")? {
            let e = e?;
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let name = std::fs::read_to_string(e.path().join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if let Some(secs) = task_cpu_seconds(&e.path()) {
                tasks.insert(tid, (name, secs));
            }
        }
        Ok(CpuSnapshot {
            tasks,
            machine_busy: machine_busy_seconds().unwrap_or(f64::NAN),
            me: current_tid(),
        })
    }

    /// Deltas since `before`: this thread is the sender; threads named in `receivers` are the
    /// receiver; `iou-*` are workers; the rest is other. Threads that appeared count from 0.
    fn since(&self, before: &CpuSnapshot, receivers: &[&str]) -> CpuSplit {
        let mut split = CpuSplit::default();
        let mut process = 0.0;
        for (tid, (name, now)) in &self.tasks {
            let then = before.tasks.get(tid).map_or(0.0, |t| t.1);
            let d = (now - then).max(0.0);
            process += d;
            if *tid == self.me {
                split.sender += d;
            } else if receivers.iter().any(|r| name.starts_with(r)) {
                split.receiver += d;
            } else if name.starts_with("iou-") {
                split.workers += d;
            } else if name == "bench-reader" {
                // Measured by the reader itself (it may exit before this snapshot).
            } else {
                split.other += d;
            }
        }
        split.outside = (self.machine_busy - before.machine_busy - process).max(0.0);
        split
    }
}

/// Busy seconds of all CPUs since boot (/proc/stat "cpu" line; idle and iowait excluded).
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return None;
    }
    // user nice system idle iowait irq softirq steal
    let busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    Some(busy as f64 / USER_HZ)
}

// ---------------------------------------------------------------------------------------------
// Broker section

fn broker_section(
    config: &TransferBenchConfig,
    report: &mut TransferBenchReport,
    progress: &mut dyn FnMut(&str),
) -> io::Result<()> {
    let data = config.dir.join("transfer-bench-broker");
    let _ = std::fs::remove_dir_all(&data);
    let result = broker_section_in(config, &data, report, progress);
    let _ = std::fs::remove_dir_all(&data);
    result
}

fn broker_config(data: &Path, path: TransferPath) -> crate::broker::config::BrokerConfig {
    crate::broker::config::BrokerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data.to_path_buf(),
        cores: 1,
        io: IoKind::Uring,
        transfer: path,
        flush: crate::storage::FlushPolicy::Never,
        default_partitions: Some(1),
        segment_bytes: BROKER_SEGMENT_BYTES,
        ..Default::default()
    }
}

fn broker_section_in(
    config: &TransferBenchConfig,
    data: &Path,
    report: &mut TransferBenchReport,
    progress: &mut dyn FnMut(&str),
) -> io::Result<()> {
    // Fill the topic once.
    let broker = crate::broker::Broker::start(broker_config(data, TransferPath::Auto))?;
    let addr = broker.local_addr();
    let bytes = config.broker_bytes;
    let produced = on_client(move || produce(addr, bytes));
    broker.shutdown();
    broker.join()?;
    let produced = produced?;
    progress(&format!(
        "produced {} MiB of {RECORD_BYTES} B records",
        produced >> 20
    ));
    let segment = segment_file(data)?;
    report.segment_bytes = std::fs::metadata(&segment)?.len();
    let paths: Vec<TransferPath> = config
        .paths
        .iter()
        .copied()
        .filter(|p| p.runs_on(IoKind::Uring))
        .collect();
    for round in 0..config.runs {
        for &path in &paths {
            let raw = raw_run(
                IoKind::Uring,
                path,
                FETCH_BYTES,
                report.segment_bytes,
                &segment,
            )?;
            let b = broker_run(data, &segment, path)?;
            progress(&format!(
                "broker run {}/{} {path}: consume {:.2} GB/s, raw {:.2} GB/s",
                round + 1,
                config.runs,
                b.bytes as f64 / b.seconds / 1e9,
                raw.gbps()
            ));
            report.broker_raw.push(raw);
            report.broker.push(b);
        }
    }
    Ok(())
}

/// Run `f` on a client thread pinned to the receiver CPU and return its result.
fn on_client<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    thread::Builder::new()
        .name("bench-consumer".into())
        .spawn(move || {
            pin_to_cpu(RECEIVER_CPU);
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("transfer bench client panicked"))?
}

fn client_err(e: crate::client::ClientError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Produce `bytes` of `RECORD_BYTES` records with `PRODUCE_IN_FLIGHT` requests in flight;
/// returns the record bytes produced.
fn produce(addr: SocketAddr, bytes: u64) -> io::Result<u64> {
    use crate::client::{api, records, Connection};
    use crate::protocol::messages::ProduceRequest;
    use crate::protocol::ApiKey;
    let batches = bytes.div_ceil((RECORD_BYTES * RECORDS_PER_BATCH) as u64);
    runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async move {
        let mut conn = Connection::connect(addr).await.map_err(client_err)?;
        conn.create_topics(&[(TOPIC, 1)])
            .await
            .map_err(client_err)?;
        let value = Bytes::from(vec![b'r'; RECORD_BYTES]);
        let recs: Vec<records::ProducerRecord> = (0..RECORDS_PER_BATCH)
            .map(|_| records::ProducerRecord {
                key: None,
                value: Some(value.clone()),
            })
            .collect();
        let batch = records::encode_batch(&recs, 0, crate::storage::records::Compression::None)
            .map_err(client_err)?;
        let version = conn.version(ApiKey::Produce).map_err(client_err)?;
        let mut in_flight = 0usize;
        let mut sent = 0u64;
        let mut acked = 0u64;
        while acked < batches {
            while sent < batches && in_flight < PRODUCE_IN_FLIGHT {
                let req = api::produce_request(TOPIC, 0, batch.clone(), 1);
                conn.send(&req, version).await.map_err(client_err)?;
                in_flight += 1;
                sent += 1;
            }
            let resp = conn.recv::<ProduceRequest>().await.map_err(client_err)?;
            api::produce_result(&resp, TOPIC, 0).map_err(client_err)?;
            in_flight -= 1;
            acked += 1;
        }
        Ok(batches * (RECORD_BYTES * RECORDS_PER_BATCH) as u64)
    })?
}

/// The partition's segment file (the broker section keeps everything in one).
fn segment_file(data: &Path) -> io::Result<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "log")
                && p.parent()
                    .and_then(|d| d.file_name())
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(TOPIC))
            {
                found.push(p);
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(io::Error::other(format!(
            "expected one segment file of {TOPIC} under {}, found {found:?}",
            data.display()
        ))),
    }
}

/// Restart the broker on `data` with `path`, warm the segment, consume it all once.
fn broker_run(data: &Path, segment: &Path, path: TransferPath) -> io::Result<BrokerSample> {
    let broker = crate::broker::Broker::start(broker_config(data, path))?;
    let addr = broker.local_addr();
    warm(segment)?;
    let result = on_client(move || consume(addr));
    broker.shutdown();
    broker.join()?;
    let (bytes, fetches, seconds, cpu) = result?;
    Ok(BrokerSample {
        path,
        bytes,
        fetches,
        seconds,
        cpu,
    })
}

/// One consumer: fetch from 0 to the high watermark with 1 MiB fetches; returns (record bytes,
/// fetches, seconds, CPU split with the broker shard as sender).
fn consume(addr: SocketAddr) -> io::Result<(u64, u64, f64, CpuSplit)> {
    use crate::client::Connection;
    runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async move {
        let mut conn = Connection::connect(addr).await.map_err(client_err)?;
        let wait = Duration::from_millis(100);
        // A first small fetch learns the high watermark and warms the connection.
        let first = conn
            .fetch(TOPIC, 0, 0, 1024, wait)
            .await
            .map_err(client_err)?;
        let end = first.high_watermark;
        let before = CpuSnapshot::take()?;
        let me0 = thread_cpu_seconds()?;
        let start = Instant::now();
        let (mut offset, mut bytes, mut fetches) = (0i64, 0u64, 0u64);
        while offset < end {
            let p = conn
                .fetch(TOPIC, 0, offset, FETCH_BYTES as i32, wait)
                .await
                .map_err(client_err)?;
            fetches += 1;
            bytes += p.records.len() as u64;
            offset = super::WholeBatches::of(&p.records)
                .next_offset
                .ok_or_else(|| {
                    io::Error::other(format!("fetch at {offset}: no whole batch in the response"))
                })?;
        }
        let seconds = start.elapsed().as_secs_f64();
        let after = CpuSnapshot::take()?;
        let me = thread_cpu_seconds()? - me0;
        // Seen from the consumer's thread: the broker shard is "other"; re-attribute.
        let mut cpu = after.since(&before, &["ringlog-shard"]);
        let shard = cpu.receiver;
        cpu.receiver = me;
        cpu.sender = shard;
        Ok((bytes, fetches, seconds, cpu))
    })?
}

// ---------------------------------------------------------------------------------------------
// Report

/// Median/spread of one (driver, path, slice) cell.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Driver.
    pub driver: IoKind,
    /// Path.
    pub path: TransferPath,
    /// Slice bytes.
    pub slice: u64,
    /// GB/s.
    pub gbps: Summary,
    /// CPU seconds per GB: sender, receiver, workers, outside.
    pub cpu_per_gb: [Summary; 4],
}

fn cpu_per_gb(samples: &[&RawSample], f: impl Fn(&CpuSplit) -> f64) -> Summary {
    let v: Vec<f64> = samples
        .iter()
        .map(|s| f(&s.cpu) / (s.bytes as f64 / 1e9))
        .collect();
    Summary::of(&v).unwrap_or(Summary {
        median: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
    })
}

fn cells_of(samples: &[RawSample]) -> Vec<Cell> {
    let mut keys: Vec<(IoKind, TransferPath, u64)> = Vec::new();
    for s in samples {
        let k = (s.driver, s.path, s.slice);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .filter_map(|(driver, path, slice)| {
            let mine: Vec<&RawSample> = samples
                .iter()
                .filter(|s| (s.driver, s.path, s.slice) == (driver, path, slice))
                .collect();
            let g: Vec<f64> = mine.iter().map(|s| s.gbps()).collect();
            Some(Cell {
                driver,
                path,
                slice,
                gbps: Summary::of(&g)?,
                cpu_per_gb: [
                    cpu_per_gb(&mine, |c| c.sender),
                    cpu_per_gb(&mine, |c| c.receiver),
                    cpu_per_gb(&mine, |c| c.workers),
                    cpu_per_gb(&mine, |c| c.outside),
                ],
            })
        })
        .collect()
}

/// The broker comparison of one path.
#[derive(Clone, Debug)]
pub struct BrokerRow {
    /// Path.
    pub path: TransferPath,
    /// Consume GB/s (record bytes).
    pub gbps: Summary,
    /// Raw GB/s of the same path, same file, 1 MiB slices, same run.
    pub raw_gbps: Summary,
    /// Broker shard CPU-s per GB.
    pub broker_cpu_per_gb: f64,
    /// Consumer CPU-s per GB.
    pub consumer_cpu_per_gb: f64,
    /// io-wq workers CPU-s per GB.
    pub workers_cpu_per_gb: f64,
    /// Consume median / best raw median of the run.
    pub ratio_to_best_raw: f64,
}

impl TransferBenchReport {
    /// Median/spread per raw cell, in run order.
    pub fn cells(&self) -> Vec<Cell> {
        cells_of(&self.raw)
    }

    /// The broker rows and the best raw path of the broker section.
    pub fn broker_rows(&self) -> (Vec<BrokerRow>, Option<(TransferPath, f64)>) {
        let raw = cells_of(&self.broker_raw);
        let best = raw
            .iter()
            .max_by(|a, b| a.gbps.median.total_cmp(&b.gbps.median))
            .map(|c| (c.path, c.gbps.median));
        let mut rows = Vec::new();
        for cell in &raw {
            let mine: Vec<&BrokerSample> =
                self.broker.iter().filter(|b| b.path == cell.path).collect();
            let g: Vec<f64> = mine
                .iter()
                .map(|b| b.bytes as f64 / b.seconds / 1e9)
                .collect();
            let Some(gbps) = Summary::of(&g) else {
                continue;
            };
            let per_gb = |f: &dyn Fn(&CpuSplit) -> f64| {
                Summary::of(
                    &mine
                        .iter()
                        .map(|b| f(&b.cpu) / (b.bytes as f64 / 1e9))
                        .collect::<Vec<_>>(),
                )
                .map_or(f64::NAN, |s| s.median)
            };
            rows.push(BrokerRow {
                path: cell.path,
                gbps,
                raw_gbps: cell.gbps,
                broker_cpu_per_gb: per_gb(&|c| c.sender),
                consumer_cpu_per_gb: per_gb(&|c| c.receiver),
                workers_cpu_per_gb: per_gb(&|c| c.workers),
                ratio_to_best_raw: best.map_or(f64::NAN, |(_, b)| gbps.median / b),
            });
        }
        (rows, best)
    }

    /// One JSON object with the machine, the configuration, every cell and every sample.
    pub fn to_json(&self) -> String {
        let summary = |s: &Summary| {
            JsonObject::new()
                .num("median", s.median)
                .num("min", s.min)
                .num("max", s.max)
                .num("spread_percent", s.spread_percent())
                .finish()
        };
        let cells = json_array(self.cells().iter().map(|c| {
            JsonObject::new()
                .str("driver", &c.driver.to_string())
                .str("path", &c.path.to_string())
                .num("slice_bytes", c.slice as f64)
                .raw("gbps", &summary(&c.gbps))
                .raw("sender_cpu_s_per_gb", &summary(&c.cpu_per_gb[0]))
                .raw("receiver_cpu_s_per_gb", &summary(&c.cpu_per_gb[1]))
                .raw("worker_cpu_s_per_gb", &summary(&c.cpu_per_gb[2]))
                .raw("outside_cpu_s_per_gb", &summary(&c.cpu_per_gb[3]))
                .finish()
        }));
        let sample = |s: &RawSample| {
            JsonObject::new()
                .str("driver", &s.driver.to_string())
                .str("path", &s.path.to_string())
                .num("slice_bytes", s.slice as f64)
                .num("bytes", s.bytes as f64)
                .num("seconds", s.seconds)
                .num("sender_cpu_s", s.cpu.sender)
                .num("receiver_cpu_s", s.cpu.receiver)
                .num("worker_cpu_s", s.cpu.workers)
                .num("other_cpu_s", s.cpu.other)
                .num("outside_cpu_s", s.cpu.outside)
                .finish()
        };
        let (rows, best) = self.broker_rows();
        let broker = json_array(rows.iter().map(|r| {
            JsonObject::new()
                .str("path", &r.path.to_string())
                .raw("consume_gbps", &summary(&r.gbps))
                .raw("raw_gbps", &summary(&r.raw_gbps))
                .num("broker_cpu_s_per_gb", r.broker_cpu_per_gb)
                .num("consumer_cpu_s_per_gb", r.consumer_cpu_per_gb)
                .num("worker_cpu_s_per_gb", r.workers_cpu_per_gb)
                .num("ratio_to_best_raw", r.ratio_to_best_raw)
                .finish()
        }));
        let broker_samples = json_array(self.broker.iter().map(|b| {
            JsonObject::new()
                .str("path", &b.path.to_string())
                .num("bytes", b.bytes as f64)
                .num("fetches", b.fetches as f64)
                .num("seconds", b.seconds)
                .num("broker_cpu_s", b.cpu.sender)
                .num("consumer_cpu_s", b.cpu.receiver)
                .num("worker_cpu_s", b.cpu.workers)
                .num("other_cpu_s", b.cpu.other)
                .num("outside_cpu_s", b.cpu.outside)
                .finish()
        }));
        JsonObject::new()
            .str("benchmark", "transfer")
            .str("kernel", &self.machine.kernel)
            .str("cpu", &self.machine.cpu_model)
            .num("cpus", self.machine.cpus as f64)
            .num("runs", self.config.runs as f64)
            .num("bytes_per_run", self.config.bytes as f64)
            .num("file_bytes", self.config.file_bytes as f64)
            .num("header_bytes", HEADER_BYTES as f64)
            .raw("cells", &cells)
            .raw("samples", &json_array(self.raw.iter().map(sample)))
            .num("broker_segment_bytes", self.segment_bytes as f64)
            .num("broker_fetch_bytes", FETCH_BYTES as f64)
            .str(
                "broker_best_raw_path",
                &best.map_or(String::new(), |b| b.0.to_string()),
            )
            .num("broker_best_raw_gbps", best.map_or(f64::NAN, |b| b.1))
            .raw("broker", &broker)
            .raw("broker_samples", &broker_samples)
            .raw(
                "broker_raw_samples",
                &json_array(self.broker_raw.iter().map(sample)),
            )
            .finish()
    }

    /// A grouped bar chart (GB/s median with min..max whiskers) per slice size, one bar per
    /// driver x path; hand-written SVG.
    pub fn to_svg(&self) -> String {
        let cells = self.cells();
        let slices: Vec<u64> = self.config.slices.clone();
        let series: Vec<(IoKind, TransferPath)> = {
            let mut v = Vec::new();
            for c in &cells {
                if !v.contains(&(c.driver, c.path)) {
                    v.push((c.driver, c.path));
                }
            }
            v
        };
        let max = cells
            .iter()
            .map(|c| c.gbps.max)
            .fold(1.0f64, f64::max)
            .ceil();
        let (bar_w, gap, left, top, plot_h) = (12.0, 24.0, 60.0, 40.0, 300.0);
        let group_w = series.len() as f64 * bar_w + gap;
        let width = left + group_w * slices.len() as f64 + 260.0;
        let height = top + plot_h + 60.0;
        let palette = [
            "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
        ];
        let mut s = String::new();
        use std::fmt::Write as _;
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
        );
        let _ = write!(
            s,
            r#"<text x="{left}" y="20" font-size="14">ringlog bench transfer: GB/s over loopback (median, min..max of {} runs); kernel {}</text>"#,
            self.config.runs,
            xml(&self.machine.kernel)
        );
        for i in 0..=max as usize {
            let y = top + plot_h - plot_h * i as f64 / max;
            let _ = write!(
                s,
                r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{i}</text>"##,
                width - 260.0,
                left - 6.0,
                y + 4.0
            );
        }
        for (g, &slice) in slices.iter().enumerate() {
            let x0 = left + g as f64 * group_w + gap / 2.0;
            for (k, &(driver, path)) in series.iter().enumerate() {
                let Some(c) = cells
                    .iter()
                    .find(|c| (c.driver, c.path, c.slice) == (driver, path, slice))
                else {
                    continue;
                };
                let x = x0 + k as f64 * bar_w;
                let h = plot_h * c.gbps.median / max;
                let color = palette[TransferPath::ALL
                    .iter()
                    .chain([TransferPath::Auto].iter())
                    .position(|p| *p == path)
                    .unwrap_or(0)
                    % palette.len()];
                let opacity = if driver == IoKind::Uring { "1" } else { "0.5" };
                let _ = write!(
                    s,
                    r#"<rect x="{x}" y="{}" width="{}" height="{h}" fill="{color}" fill-opacity="{opacity}"><title>{driver} {path} {}: {:.2} GB/s</title></rect>"#,
                    top + plot_h - h,
                    bar_w - 1.0,
                    size(slice),
                    c.gbps.median
                );
                let (y1, y2) = (
                    top + plot_h - plot_h * c.gbps.min / max,
                    top + plot_h - plot_h * c.gbps.max / max,
                );
                let xm = x + bar_w / 2.0 - 0.5;
                let _ = write!(
                    s,
                    r##"<line x1="{xm}" y1="{y1}" x2="{xm}" y2="{y2}" stroke="#333"/>"##
                );
            }
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                x0 + series.len() as f64 * bar_w / 2.0,
                top + plot_h + 16.0,
                size(slice)
            );
        }
        let lx = width - 250.0;
        for (k, &(driver, path)) in series.iter().enumerate() {
            let y = top + k as f64 * 16.0;
            let color = palette[TransferPath::ALL
                .iter()
                .chain([TransferPath::Auto].iter())
                .position(|p| *p == path)
                .unwrap_or(0)
                % palette.len()];
            let opacity = if driver == IoKind::Uring { "1" } else { "0.5" };
            let _ = write!(
                s,
                r#"<rect x="{lx}" y="{y}" width="10" height="10" fill="{color}" fill-opacity="{opacity}"/><text x="{}" y="{}">{driver} {path}</text>"#,
                lx + 14.0,
                y + 9.0
            );
        }
        let _ = write!(
            s,
            r#"<text x="{left}" y="{}">slice size (one 64 B header + one file slice per Transfer::send); sender CPU {SENDER_CPU}, reader CPU {RECEIVER_CPU}</text></svg>"#,
            top + plot_h + 40.0
        );
        s.push('\n');
        s
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// "16 KiB", "1 MiB".
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

fn cell_text(s: &Summary, digits: usize) -> String {
    format!("{:.*} ±{:.0}%", digits, s.median, s.spread_percent())
}

impl fmt::Display for TransferBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "transfer bench: kernel {}, CPU {} x{}; sender on CPU {SENDER_CPU}, reader on CPU {RECEIVER_CPU}",
            self.machine.kernel, self.machine.cpu_model, self.machine.cpus
        )?;
        writeln!(
            f,
            "raw: {} per run from a {} file warmed before each run, {HEADER_BYTES} B header + one slice per send, median ±half-range of {} runs; CPU in seconds per GB",
            size(self.config.bytes),
            size(self.config.file_bytes),
            self.config.runs
        )?;
        let cells = self.cells();
        if !cells.is_empty() {
            writeln!(
                f,
                "| driver | path | slice | GB/s | sender CPU-s/GB | receiver CPU-s/GB | io-wq CPU-s/GB | outside CPU-s/GB | vs best of row |"
            )?;
            writeln!(f, "|---|---|---|---|---|---|---|---|---|")?;
            for c in &cells {
                let best = cells
                    .iter()
                    .filter(|o| o.slice == c.slice)
                    .map(|o| o.gbps.median)
                    .fold(0.0, f64::max);
                writeln!(
                    f,
                    "| {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.2} |",
                    c.driver,
                    c.path,
                    size(c.slice),
                    cell_text(&c.gbps, 2),
                    cell_text(&c.cpu_per_gb[0], 3),
                    cell_text(&c.cpu_per_gb[1], 3),
                    c.cpu_per_gb[2].median,
                    c.cpu_per_gb[3].median,
                    c.gbps.median / best
                )?;
            }
        }
        let (rows, best) = self.broker_rows();
        if let Some((best_path, best_gbps)) = best {
            writeln!(
                f,
                "\nbroker: one shard (io_uring, flush never), {} segment of {RECORD_BYTES} B records, one consumer (CPU {RECEIVER_CPU}) with {} fetches from offset 0; raw = same segment file in {} slices, same run",
                size(self.segment_bytes - self.segment_bytes % 1024),
                size(FETCH_BYTES),
                size(FETCH_BYTES)
            )?;
            writeln!(
                f,
                "| path | consume GB/s | raw GB/s (same path) | broker CPU-s/GB | consumer CPU-s/GB | io-wq CPU-s/GB | consume / best raw ({best_path} {best_gbps:.2}) |"
            )?;
            writeln!(f, "|---|---|---|---|---|---|---|")?;
            for r in &rows {
                writeln!(
                    f,
                    "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.2} |",
                    r.path,
                    cell_text(&r.gbps, 2),
                    cell_text(&r.raw_gbps, 2),
                    r.broker_cpu_per_gb,
                    r.consumer_cpu_per_gb,
                    r.workers_cpu_per_gb,
                    r.ratio_to_best_raw
                )?;
            }
        }
        Ok(())
    }
}

/// The calling thread's id, from `/proc/thread-self` (a link to `PID/task/TID`); keeps `unsafe`
/// out of the benchmarks.
fn current_tid() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(size(16 << 10), "16 KiB");
        assert_eq!(size(8 << 20), "8 MiB");
        assert_eq!(size(100), "100 B");
    }
}
