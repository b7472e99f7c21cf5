//! ringlog: a thread-per-core message-log storage engine and Kafka-protocol broker on io_uring.
//!
//! # Crate map
//! The layers are crates of one workspace (`crates/`), so the compiler enforces which layer may
//! use which; this crate re-exports them under their old module names.
//! - [`runtime`] (`ringlog-runtime`): the only code that talks to io_uring or epoll. Shards (one
//!   pinned thread per core), ops that own their buffers, timers, the cross-shard mesh.
//! - [`storage`] (`ringlog-storage`, on the runtime): the segmented log engine (RecordBatch v2
//!   segments, sparse indexes, recovery), usable as an embedded library.
//! - [`protocol`] (`ringlog-protocol`, no I/O): the Kafka wire: framing, headers, request
//!   decoding, response encoding, and the hand-framed Fetch response whose record bytes go from
//!   the file to the socket.
//! - [`broker`] (`ringlog-broker`, on the three above): the Kafka-protocol broker: partitions
//!   sharded over cores, request handlers.
//! - [`transfer`] (`ringlog_broker::transfer`): how Fetch record bytes go from segment files to
//!   sockets (copy, mmap, sendfile, splice, io_uring splice, io_uring send_zc, auto).
//! - [`client`] (`ringlog-client`, on runtime, storage and protocol): an async Kafka client and
//!   the CLI commands built on it.
//! - [`bench`] (`ringlog-bench`, on all of the above): the benchmarks behind `ringlog bench`;
//!   each answers one question, with ratios against a baseline measured in the same run.
//!
//! This package itself is the `ringlog` binary (`src/bin/ringlog.rs`, argument parsing only) and
//! these re-exports.
//!
//! # Invariants
//! - `unsafe` lives only in `runtime` and `transfer` (the other crates deny it); every block
//!   says why it holds.
//! - Per-shard state is `!Send`; the mesh is the only way across shards.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub use ringlog_bench as bench;
pub use ringlog_broker as broker;
pub use ringlog_broker::transfer;
pub use ringlog_client as client;
pub use ringlog_protocol as protocol;
pub use ringlog_runtime as runtime;
pub use ringlog_storage as storage;
