//! ringlog: a thread-per-core message-log storage engine and Kafka-protocol broker on io_uring.
//!
//! # Crate map
//! - [`runtime`]: the only code that talks to io_uring or epoll. Shards (one pinned thread per
//!   core), ops that own their buffers, timers, the cross-shard mesh.
//! - [`protocol`]: the Kafka wire: framing, headers, request decoding, response encoding, and
//!   the hand-framed Fetch response whose record bytes go from the file to the socket.
//!
//! # Invariants
//! - `unsafe` lives only in `runtime/` (and, later, the transfer/mmap code); every block says why
//!   it holds.
//! - Per-shard state is `!Send`; the mesh is the only way across shards.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// Protocol items mirror names from the Kafka protocol spec (API keys, error codes, fields);
// their documentation is the spec itself.
#[allow(missing_docs)]
pub mod protocol;
pub mod runtime;
