//! `ringlog bench views`: what a filtered view (issue #17) delivers against what a Kafka user
//! does today (consume the whole topic and filter in the client) and against the unfiltered
//! consume of the same topic, in one run, against a broker started here or a ringlog at
//! `--bootstrap`:
//!
//! ```text
//!  per round, per layout (homogeneous: every batch one tag; mixed: every batch ~10% red):
//!              new topic, 1 partition, and its view `tag = 'red'` (CreateTopics configs),
//!              then N records of B bytes, 10% with header tag=red (default 200,000 x 1 KiB)
//!    view:     Fetch the view from offset 0 to the source's end  -> delivered MB/s, records/s,
//!              DescribeViews before/after                          zero-copy share, batches
//!    client:   Fetch the whole topic, keep tag=red               -> wire bytes, time to all
//!                                                                   matches, delivered MB/s
//!    all:      Fetch the whole topic                             -> MB/s
//!    (order rotated per round; page cache warmed right before each; broker CPU s per
//!     delivered GB for each, summed over the broker's threads from /proc/PID/task/*)
//!  -> medians over rounds, ratios of medians, the goals on homogeneous batches, the cost on
//!     mixed ones; bench-results/views-<date>.{md,json}
//! ```
//!
//! - `config`: what runs, every knob and its limit, the layouts.
//! - `clients`: the tag plan and fill, the page-cache warmer, the consumers, DescribeViews.
//! - `run`: brokers, rounds, layouts; `measure`: runs, medians, ratios, the goals; `report`:
//!   Markdown, JSON, files.
//!
//! The consumers are ringlog's own client ([`ringlog_client`]) for all three reads, so the
//! comparison is between ways of reading, not between clients.
//!
//! # Invariants
//! - Bounded: every count is a validated knob, every wait has a deadline ([`RUN_TIMEOUT_MS`]
//!   per consume, [`INDEX_WAIT_MS`] for the filter index, the topic-visibility wait), traffic
//!   is loopback only for a broker started here; the benchmark stops by itself.
//! - Every consume reads to the source's log end and must have seen every matching record
//!   (counted from the fill's tag plan); a view record that does not match is counted, never
//!   hidden.
//! - Ratios compare medians of the same run.

mod clients;
mod config;
mod measure;
mod report;
mod run;

pub use clients::{is_match, Reader, TagPlan};
pub use config::*;
pub use measure::{
    Consume, Goal, LayoutRun, RoundRun, ViewCounters, ViewsReport, DELIVERED_GOAL_RATIO,
    TIME_GOAL_RATIO, WIRE_GOAL_RATIO, ZERO_COPY_GOAL_SHARE,
};
pub use run::run;
