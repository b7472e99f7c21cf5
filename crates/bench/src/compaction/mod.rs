//! `ringlog bench compaction`: how fast log compaction (issue #19) cleans, per core, and what it
//! does to the produce latency of a topic on the same core while it works:
//!
//! ```text
//!  1 rate:     per round, per codec (none, lz4, zstd): compact::measure::compaction_rate on
//!              this thread: a fresh log of N MiB (keys round-robin), one pass in 1 MiB steps
//!              -> input MB/s per core (busy time), wall MB/s, output / input
//!  2 latency:  one broker in this process, ONE shard (cleaner and producer share its core),
//!              flush always; a producer thread: 1 conn, 10 x 1 KiB per request, acks=1,
//!              5,000 records/s, at most 5 unanswered, latency from each request's scheduled
//!              send time (and its round trip)
//!              per round:  fill `dirty` (delete) with 512 MiB of keyed lz4 batches, 1,000 keys
//!                          baseline window (T s)                  -> p50/p99/p99.9/max
//!                          alter `dirty` cleanup.policy=compact
//!                          compaction window (until the pass ends) -> p50/p99/p99.9/max,
//!                                                                    cleaner bytes read / s
//!                          alter `dirty` back to delete
//!  -> medians over rounds, compaction / baseline ratios; bench-results/compaction-<date>.{md,json}
//! ```
//!
//! - `config`: the parts, every knob and its limit.
//! - `clients`: the measured producer, the dirty fill, the topics and their policy.
//! - `metrics`: the broker's cleaner counters, scraped from its `--metrics` endpoint.
//! - `stats`: samples, windows, nearest-rank percentiles.
//! - `run`: part 1's cleans, part 2's broker and rounds; `measure`: runs, medians, ratios;
//!   `report`: Markdown, JSON, files.
//!
//! # Invariants
//! - Bounded: every size and window is a validated knob or a named constant, a compaction
//!   window ends at [`PASS_WAIT_MS_DEFAULT`] (or `--pass-wait`) even if the pass does not,
//!   traffic is loopback only; the benchmark stops by itself and removes its data directories.
//! - A compaction window is counted as one only with the pass it waited for: the cleaner's
//!   counters across it show that pass (or it is marked unfinished).
//! - Ratios compare medians of the same run; baseline and compaction windows alternate.

mod clients;
mod config;
mod measure;
mod metrics;
mod report;
mod run;
mod stats;

pub use clients::{Filled, DIRTY_TOPIC, LIVE_TOPIC};
pub use config::*;
pub use measure::{CompactionReport, RateRun, Which, Window, WindowKind};
pub use metrics::CleanerCounters;
pub use run::run;
pub use stats::{Latencies, Sample, Span};
