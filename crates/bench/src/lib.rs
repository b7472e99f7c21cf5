//! Benchmarks that run from the `ringlog bench` command: each answers one question, prints the
//! machine it ran on (kernel, CPU), the path or driver under test, and ratios against a baseline
//! measured in the same run.
//!
//! Each benchmark is split the same way: `config` (what runs, every limit named), `run` (the
//! threads, shards and connections that generate the load), `measure` (the samples, and what is
//! derived from them), `report` (text, JSON, charts). What they share lives here:
//!
//! - [`machine`]: the machine a benchmark ran on.
//! - [`summary`]: median and spread of repeated rounds.
//! - [`cpu`]: CPU accounting from /proc (process, thread, every thread, machine), the one place
//!   that parses `stat` and `schedstat`.
//! - `format`: the JSON writer of `--json` output, human-readable numbers and table cells, the
//!   dated report files.
//! - `round_broker`: the broker under test of `share` and `views` (started here per round, or
//!   at `--bootstrap`) and their loop over rounds.
//! - `batches`: the walk over the whole record batches of a Fetch response.
//!
//! The benchmarks:
//! - [`runtime`]: ring NOP cost and loopback ping-pong, io_uring against epoll.
//! - [`load`]: the Kafka-protocol load generator (`produce`, `consume`, `e2e`), the machine's raw
//!   limits, and the broker comparison io_uring against epoll (`compare`).
//! - [`transfer`]: every consumer transfer path x slice size x driver over loopback, and a broker
//!   consume per path against the best raw path of the same run.
//! - [`delay`]: scheduled delivery (issue 15): lateness, enqueue and delivery rates, memory with
//!   millions pending, and the cost on topics without delay against the build before it.
//! - [`share`]: share groups (issue 16): share consume throughput with 1, 4 and 16 members
//!   against a classic consumer of the same topic, and acknowledgement round trips.
//! - [`views`]: filtered views (issue 17): consuming a view against consuming the whole topic
//!   and filtering in the client, and against the unfiltered consume, on homogeneous and mixed
//!   batches; the zero-copy share of what the view sends.
//! - [`compaction`]: log compaction (issue 19): the cleaning rate per core by codec, and the
//!   produce p99 of a topic on the core a cleaner works on against the same load without it.
//!
//! # Invariants
//! - Every benchmark is bounded: fixed counts and durations, each limit a named constant, and
//!   network traffic only on 127.0.0.1. A benchmark stops by itself.
//! - Drivers under comparison run alternately (A B A B ...) in the same process, so slow drift of
//!   the machine (other tenants, thermal state) spreads over both sides instead of biasing one.
//! - Reported ratios compare medians measured in the same run, never numbers from elsewhere.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod batches;
pub mod compaction;
pub mod cpu;
pub mod delay;
mod format;
pub mod load;
pub mod machine;
mod round_broker;
pub mod runtime;
pub mod share;
pub mod summary;
pub mod transfer;
pub mod views;

pub use format::human;
pub use machine::Machine;
pub use summary::Summary;

pub(crate) use batches::{whole_batches, WholeBatches};
pub(crate) use format::{cell, json_array, json_number, summary_json, xml, JsonObject};
