//! ringlog: a thread-per-core message-log storage engine and Kafka-protocol broker on io_uring.
//!
//! # Crate map
//! - [`runtime`]: the only code that talks to io_uring or epoll. Shards (one pinned thread per
//!   core), ops that own their buffers, timers, the cross-shard mesh.
//! - [`protocol`]: the Kafka wire: framing, headers, request decoding, response encoding, and
//!   the hand-framed Fetch response whose record bytes go from the file to the socket.
//! - [`bench`]: the benchmarks behind `ringlog bench`; each answers one question, with ratios
//!   against a baseline measured in the same run.
//! - [`storage`]: the segmented log engine (RecordBatch v2 segments, sparse indexes, recovery),
//!   usable as an embedded library.
//! - [`transfer`]: how Fetch record bytes go from segment files to sockets (copy, mmap,
//!   sendfile, splice, io_uring splice, io_uring send_zc, auto).
//! - [`broker`]: the Kafka-protocol broker: partitions sharded over cores, request handlers.
//!
//! # Invariants
//! - `unsafe` lives only in `runtime/` (and, later, the transfer/mmap code); every block says why
//!   it holds.
//! - Per-shard state is `!Send`; the mesh is the only way across shards.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod bench;
/// An async Kafka client on the runtime, and the logic of the `produce`/`consume`/`topics`/`inspect` commands.
pub mod client;

// Protocol items mirror names from the Kafka protocol spec (API keys, error codes, fields);
// their documentation is the spec itself.
pub mod broker;
mod codec;
#[allow(missing_docs)]
pub mod protocol;
pub mod runtime;
pub mod storage;
pub mod transfer;
