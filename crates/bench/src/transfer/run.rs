//! Running the transfer benchmark: the raw matrix (a warmed file sent over loopback by every
//! path x slice x driver to a discarding reader), then the broker section (`broker`).
//!
//! ```text
//!  sender thread (shard, SENDER_CPU)              reader thread (std, RECEIVER_CPU)
//!   warm file; bind; accept ───────────────────── connect
//!   snapshot CPU; t0
//!   Transfer::send([header, slice]) x N ──loopback──> read until EOF; own CPU time
//!   shutdown_write                                    report bytes, end, CPU
//!   wait for the reader; snapshot CPU
//! ```
//!
//! # Invariants
//! - The file is warmed right before each run; the run ends at the reader's end of stream.
//! - Every byte sent is accounted for: a run whose reader got a different count fails.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::broker::broker_section;
use super::measure::{CpuSplit, RawSample, TransferBenchReport, READER_THREAD};
use super::report::size;
use super::{
    TransferBenchConfig, HEADER_BYTES, READ_BUFFER_BYTES, RECEIVER_CPU, RUN_TIMEOUT_MS, SENDER_CPU,
};
use crate::cpu::{ThreadCpu, ThreadsSnapshot};
use crate::Machine;
use ringlog_broker::transfer::{FileRange, Piece, Transfer, TransferPath};
use ringlog_runtime::fs::File;
use ringlog_runtime::net::TcpListener;
use ringlog_runtime::shard::pin_to_cpu;
use ringlog_runtime::{IoKind, RuntimeConfig};

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
pub(super) fn warm(path: &Path) -> io::Result<u64> {
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

pub(super) fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("transfer bench: {what} timed out"),
    )
}

pub(super) fn run_timeout() -> Duration {
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
        .name(READER_THREAD.into())
        .spawn(move || {
            pin_to_cpu(RECEIVER_CPU);
            let result = (|| {
                let mut buf = vec![0u8; READ_BUFFER_BYTES];
                let addr = addr_rx
                    .recv_timeout(run_timeout())
                    .map_err(|_| timed_out("sender setup"))?;
                let mut s = std::net::TcpStream::connect(addr)?;
                s.set_read_timeout(Some(run_timeout()))?;
                let cpu0 = ThreadCpu::current()?;
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
                    cpu_seconds: ThreadCpu::current()?.since(&cpu0).seconds,
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
    let plan = SendPlan {
        io,
        path,
        slice,
        slices,
        usable,
        file: file.to_path_buf(),
    };
    let sender = thread::Builder::new()
        .name("bench-sender".into())
        .spawn(move || plan.run(addr_tx, done_rx))?;
    let joined = sender
        .join()
        .map_err(|_| io::Error::other("transfer bench sender panicked"))?;
    let _ = reader.join();
    let sent = joined?;
    let done = sent.done;
    let header_bytes = slices * HEADER_BYTES as u64;
    if done.bytes != slices * slice + header_bytes {
        return Err(io::Error::other(format!(
            "{path} on {io}: reader got {} bytes, {} were sent",
            done.bytes,
            slices * slice + header_bytes
        )));
    }
    Ok(RawSample {
        driver: sent.driver,
        path,
        slice,
        bytes: done.bytes,
        seconds: done.end.duration_since(sent.start).as_secs_f64(),
        cpu: sent.cpu,
    })
}

/// What the sender of one raw run sends: `slices` slices of `slice` bytes of `file`, from
/// position 0 round and round within its first `usable` bytes, with `path` on `io`.
struct SendPlan {
    io: IoKind,
    path: TransferPath,
    slice: u64,
    slices: u64,
    usable: u64,
    file: PathBuf,
}

/// What the sender of one raw run saw.
struct Sent {
    /// The driver that really ran.
    driver: IoKind,
    /// When the first slice was sent.
    start: Instant,
    /// CPU by thread, the reader's own included.
    cpu: CpuSplit,
    /// The reader's report.
    done: ReaderDone,
}

impl SendPlan {
    /// On the sender thread: listen, send every slice to the reader, wait for its end of stream,
    /// and attribute the CPU time of the run.
    fn run(
        self,
        addr_tx: mpsc::Sender<SocketAddr>,
        done_rx: mpsc::Receiver<io::Result<ReaderDone>>,
    ) -> io::Result<Sent> {
        pin_to_cpu(SENDER_CPU);
        ringlog_runtime::block_on(&RuntimeConfig::single(self.io), async move {
            let driver = ringlog_runtime::io_kind().expect("inside a runtime");
            let file = File::from_std(std::fs::File::open(&self.file)?);
            let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            let _ = addr_tx.send(listener.local_addr());
            let (stream, peer) = ringlog_runtime::time::timeout(run_timeout(), listener.accept())
                .await
                .map_err(|_| timed_out("accept"))??;
            let header = Bytes::from(vec![0xA5u8; HEADER_BYTES]);
            let mut transfer = Transfer::new(self.path, peer);
            let before = ThreadsSnapshot::take()?;
            let start = Instant::now();
            for i in 0..self.slices {
                let position = (i * self.slice) % self.usable;
                let pieces = vec![
                    Piece::Bytes(header.clone()),
                    Piece::File(FileRange {
                        file: file.clone(),
                        position,
                        len: self.slice,
                        hold: None,
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
            let after = ThreadsSnapshot::take()?;
            let mut cpu = CpuSplit::between(&before, &after, &[]);
            cpu.receiver = done.cpu_seconds;
            drop(stream);
            Ok(Sent {
                driver,
                start,
                cpu,
                done,
            })
        })?
    }
}
