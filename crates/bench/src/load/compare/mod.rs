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
//! `/proc/<pid>/stat`) with a fresh data directory, on `broker_cores` shards pinned from CPU 0; the
//! generator thread runs the epoll driver, pinned to the last CPU, so the load generator is the
//! same for both brokers.
//!
//! - `config`: what runs; `workloads`: the six workloads and what each is judged by.
//! - `run`: limits, calibration, the rounds, a fresh broker per run.
//! - `measure`: per-run results, medians, the io_uring advantage, the goals.
//! - `report`: Markdown, SVG, JSON, the files.
//!
//! # Invariants
//! - Drivers alternate within each round; ratios compare medians of the same run.
//! - A broker whose io_uring could not be set up (it falls back to epoll) is reported, never
//!   silently compared.

mod config;
mod measure;
mod report;
mod run;
mod workloads;

pub use config::*;
pub use measure::{CompareReport, Goal, Run, WorkloadResult};
pub(crate) use run::{data_root_in, BrokerUnderTest, DirGuard};
pub use run::{run, BROKER_START_TIMEOUT_MS};
pub use workloads::{load_of, Metric, Workload, WORKLOADS};
