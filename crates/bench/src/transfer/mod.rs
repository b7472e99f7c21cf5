//! The transfer benchmark (issue 5): what does each consumer transfer path cost on this machine,
//! per slice size and driver, and how close does a real broker consume come to the best raw path?
//!
//! **Raw runs.** A file warmed into the page cache right before each run is sent over loopback
//! TCP with [`Transfer::send`](ringlog_broker::transfer::Transfer::send) (one fetch-like header +
//! one file slice per call, as a Fetch response is framed) to a discarding reader: a plain
//! blocking std socket on its own thread reading into one reusable buffer. Every path (and
//! `auto`) x slice size x driver; the uring-* paths run on the io_uring driver only.
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
//! - `config`: what runs, the CPUs, every limit.
//! - `run`: the raw matrix (sender shard, discarding reader); `broker`: the broker section.
//! - `measure`: samples, CPU attribution by thread (read through [`crate::cpu`]), cells, the
//!   broker rows.
//! - `report`: text tables, JSON, SVG.
//!
//! # Invariants
//! - Bounded: every size and count has a named limit, every wait has a timeout, traffic only on
//!   127.0.0.1. The benchmark stops by itself.
//! - The file is read (warmed) right before each run: this VM evicts idle page cache after about
//!   a minute, and a cold run would measure the disk.
//! - Runs are interleaved (round r runs every driver x slice x path once) so machine drift spreads

mod broker;
mod config;
mod measure;
mod report;
mod run;

pub use config::*;
pub use measure::{BrokerRow, BrokerSample, Cell, CpuSplit, RawSample, TransferBenchReport};
pub use run::{raw_run, run};
