//! `ringlog bench delay`: what scheduled delivery (issue 15) costs and how precise it is, in
//! one run, against a `ringlog serve` child on `--cores` shards:
//!
//! ```text
//!  1 precision:  fresh broker per round; pending 10k -> 100k -> 1M (due hours ahead), at each:
//!                  plain load at 50% of the machine's max (calibrated first, same run)
//!                  + measured stream: deliver-at records produced 3 s ahead, 2,000/s
//!                  + one non-delayed record per tick (the consumer's own latency)
//!                  -> lateness = receipt - due, p50/p99/max
//!  2 throughput: fresh broker: enqueue rate (acks=all, 4 conns, 250-record batches)
//!                fresh broker: N records due at one instant -> delivered/s from that instant
//!  3 capacity:   fresh broker: 10M pending -> VmRSS/VmHWM, timer log bytes per record
//!  4 cost:       per round: this build plain | this build delay topic, no headers |
//!                the build before scheduled delivery (--baseline-exe): records/s, CPU s/GB
//!  -> bench-results/delay-<date>.{md,json}
//! ```
//!
//! - `config`: the parts, every knob and its limit.
//! - `wire`: topics, batches with `ringlog-deliver-at`, the broker's pending count.
//! - `clients`: the enqueue load, the measured stream, the consumers (threads of their own).
//! - `run`: a fresh broker per round (compare's launcher), each part.
//! - `stats`: nearest-rank percentiles, the broker's memory from /proc.
//! - `measure`: the runs, medians, ratios and the issue's goals; `report`: Markdown, JSON.
//!
//! # Invariants
//! - Bounded: every count and window is a named constant or a validated knob, every consumer
//!   has a deadline, traffic is loopback only; the benchmark stops by itself and removes its
//!   data directories.
//! - Due times are exact (`ringlog-deliver-at`, epoch ms) and the consumer's clock is the
//!   broker's (one machine), so lateness needs no clock correction.
//! - Ratios compare medians of the same run; variants alternate within each round.

mod clients;
mod config;
mod measure;
mod report;
mod run;
mod stats;
mod wire;

pub use config::*;
pub use measure::{
    CapacityRun, CostRun, DelayReport, Goal, LevelSummary, PrecisionRun, ThroughputRun, Variant,
};
pub use run::run;
pub use stats::{memory_of, nearest_rank, Memory, Percentiles};
