//! What the transfer benchmark runs: runs per cell, bytes, slice sizes, paths, drivers, the
//! broker section; the CPUs it pins to, and the limit of every knob.

use std::path::PathBuf;

use ringlog_broker::transfer::TransferPath;
use ringlog_runtime::IoKind;

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
/// How long any side waits for the other (connect, accept, a run's end).
pub const RUN_TIMEOUT_MS: u64 = 120_000;

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
