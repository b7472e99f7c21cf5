//! The ringlog storage engine, usable as an embedded library.
//!
//! A per-partition segmented log of Kafka RecordBatch v2 bytes, stored exactly as the producer
//! sent them (the broker stamps only the base offset and partition leader epoch, which lie outside
//! the CRC), so a fetch can send file bytes unchanged.
//!
//! - [`batch`]: RecordBatch v2 layout (every byte position and attribute bit), header parse /
//!   validate / write / stamp, and `batch::testing` builders.
//! - [`records`]: the records inside a batch (varints, encode, bounded decode) and the
//!   compression codecs with bounded decompression.
//! - [`validate`]: append validation of every record of every batch (Kafka's `LogValidator`),
//!   with the append's origin (client or internal).
//! - [`index`]: sparse offset index and time index (byte layouts in its docs).
//! - [`segment`]: `{base_offset:020}.log` + `.index` + `.timeindex`; active -> sealed.
//! - [`files`]: the budget of open segment files: a per-engine LRU of descriptors, files
//!   opened on use and closed when evicted (readers keep theirs until done).
//! - [`log`]: one partition: append with group commit, read as file slices, roll, retention,
//!   truncate, high-watermark notification; durability per [`FlushPolicy`].
//! - [`recovery`]: verify the tail on open, truncate torn writes, rebuild indexes.
//! - [`compact`]: log compaction (`cleanup.policy=compact`): the cleaner keeps the latest
//!   record per key in sealed segments, in bounded steps on the log's shard, crash-safe swaps.
//! - [`engine`]: many logs under one directory; the embedding API.
//! - [`log_start`]: the durable log start offset of a partition, where DeleteRecords moved it
//!   (inside a segment if need be).
//! - [`state_log`]: internal state logs: a durable, compacted, keyed state log per shard on top
//!   of [`log`] (group commit, replay, compaction by key, re-sharding); the broker's committed
//!   offsets live there.
//! - [`txn`]: transactions in a partition: commit/abort marker batches, the per-segment
//!   aborted-transactions index, and what the last stable offset is made of.
//! - [`stats`]: per-shard (thread-local) counters for the broker's metrics: fdatasync latency,
//!   group-commit batch sizes, compaction passes.
//! - [`names`]: Kafka topic-name rules and every path built from names.
//! - [`error`]: errors with context (the broker maps them to Kafka error codes).
//! - [`codec`]: the bounds-checked big-endian reader of the on-disk formats ringlog decodes
//!   itself (producer-state snapshots here, the broker's group offsets log).
//! - [`fsutil`]: atomic, durable replacement of a whole file (temp, fdatasync, rename, fsync
//!   dir): the one way any ringlog crate rewrites a state file.
//! - [`runtime`]: the `ringlog-runtime` crate, re-exported: an embedder runs the engine on its
//!   shards ([`runtime::block_on`], [`runtime::run`]).
//!
//! All data I/O goes through the runtime file API ([`crate::runtime::fs`]), so the same code runs
//! on io_uring and on epoll shards; directory operations (mkdir, readdir, rename, unlink) are
//! rare and use `std::fs`.
//!
//! # Invariants
//! - Nothing of a rejected append buffer becomes visible: every batch is validated (magic 2,
//!   lengths, CRC32C, record count, size bound, and every record: [`validate`]) before any byte
//!   is written.
//! - Offsets within a partition are contiguous from `log_start_offset` to the log end; each
//!   segment's first batch has the segment's base offset.
//! - Reads return whole batches below the high watermark only; under `FlushPolicy::Always` the
//!   high watermark is the durable (fdatasynced) offset.
//! - After recovery every `.log` holds only whole, verified batches; a torn tail never becomes
//!   visible and nothing before the first damaged byte is lost.
//! - After a failed write or fsync a log is poisoned and refuses appends until reopened; fsync is
//!   never retried.
//! - Topic names are validated before they become paths; no path leaves the data directory.
//! - `Engine` and `Log` are single-threaded (`!Send`); a partition belongs to one engine (shard).
//! - An engine holds at most `EngineConfig::open_segment_files_max` segment files open; running
//!   out of descriptors fails an operation with `Error::OpenFilesExhausted` before it writes,
//!   and never poisons a log.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub use ringlog_runtime as runtime;

use crate::runtime as rt;

pub mod batch;
pub mod codec;
pub mod compact;
pub mod engine;
pub mod error;
pub mod files;
pub mod fsutil;
pub mod index;
pub mod log;
pub mod log_start;
pub mod names;
pub mod producer;
pub mod records;
pub mod recovery;
pub mod segment;
pub mod state_log;
pub mod stats;
pub mod txn;
pub mod validate;

pub use compact::{CompactBudget, CompactProgress, CompactStats};
pub use engine::{Engine, EngineConfig, OwnsFn};
pub use error::{BatchError, Error, Result};
pub use log::{
    AppendTurn, CheckedAppend, FileSlice, FlushPolicy, HeldAppend, Log, LogConfig, ReadResult,
};
