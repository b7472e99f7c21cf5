//! `ringlog bench share`: what share groups (issue #16, KIP-932) deliver against a classic
//! consumer of the same topic, in one run, against a broker started here or any Kafka-protocol
//! broker at `--bootstrap` (Apache Kafka 4.4 included):
//!
//! ```text
//!  per round:  new topic, 1 partition, N records of B bytes (default 200,000 x 1 KiB)
//!              warm-up (not reported): classic and share reads of the first records
//!    classic:  one consumer, Fetch from offset 0 to the end            -> MB/s, records/s
//!    share:    1, 4, 16 members of a new group (a task and connection each), implicit
//!              acknowledgement, until every record was accepted once   -> MB/s, x classic
//!    ack:      one member, one ShareAcknowledge of one record at a time -> p50/p99 µs
//!  -> medians over rounds, broker CPU s/GB (/proc/PID/stat), bench-results/share-<date>.{md,json}
//! ```
//!
//! - `config`: what runs, every knob and its limit.
//! - `clients`: the fill, the classic consumer, the share members, the round-trip sampler.
//! - `run`: brokers and rounds; `measure`: runs, medians, ratios, the goal; `report`: Markdown,
//!   JSON, files.
//!
//! The consumers are ringlog's own client ([`ringlog_client::share`]) on both sides, so a
//! comparison between brokers (`bench/peers/share-side-by-side.sh`) compares brokers.
//!
//! # Invariants
//! - Bounded: every count is a validated knob, every wait has a deadline (joining,
//!   [`RUN_TIMEOUT_MS`] per run), traffic is loopback only for a broker started here; the
//!   benchmark stops by itself.
//! - A share run counts a record once however often it is delivered, and ends only when every
//!   record's acceptance was confirmed by the broker.
//! - Ratios compare medians of the same run.

mod clients;
mod config;
mod measure;
mod report;
mod run;

pub use clients::AUTO_OFFSET_RESET;
pub use config::*;
pub use measure::{AckRun, Goal, RoundRun, ShareReport, ShareRun, Throughput, SHARE_GOAL_RATIO};
pub use run::run;
