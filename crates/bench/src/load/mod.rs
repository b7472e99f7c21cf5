//! The Kafka-protocol load generator behind `ringlog bench produce|consume|e2e` (and the
//! workloads of `compare`): how many records/s and MB/s does a broker take, at what latency, and
//! at what CPU cost?
//!
//! It speaks only the Kafka protocol (through [`ringlog_client`]), so `--broker ADDR` can point it
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
//! - `config`: the shape of a run and every limit.
//! - `payload`: the batches (and e2e stamps) built before the clock starts.
//! - `run`: the generator thread, setup, one task per connection (`tasks`), the drain.
//! - `topic_wait`: after creating the topic, wait (bounded) until Metadata lists it with leaders.
//! - `measure`: counters, latency histogram, the window's samples (CPU via [`crate::cpu`]).
//! - [`report`]: text, JSON, the progress line.
//! - [`limits`]: the machine's raw limits; [`compare`]: the broker on io_uring against epoll.
//!
//! # Invariants
//! - Bounded: every run has a duration (and optionally a count); every wait has a timeout (the
//!   client's request timeout); every limit is a named constant.
//! - Only completions inside the measured window are counted, and the histogram records only
//!   inside it.
//! - A broker error fails the run; it is never counted as a success.

pub mod compare;
mod config;
pub mod limits;
mod measure;
mod payload;
pub mod report;
mod run;
mod tasks;
pub(crate) mod topic_wait;

pub use config::*;
pub use measure::{Latency, LoadReport};
pub use payload::{batch_bytes_of, PREBUILT_BATCHES, STAMP_MARKER};
pub use run::run;
pub use tasks::{CONSUME_FETCH_WAIT_MS, E2E_FETCH_WAIT_MS};

use ringlog_client::ClientError;

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
