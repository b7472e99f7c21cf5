//! An async Kafka client on ringlog's runtime, and the logic behind `ringlog produce`,
//! `consume`, `topics`, `delays` and `inspect`.
//!
//! - [`connection`]: one TCP connection: framing, correlation ids, ApiVersions negotiation,
//!   pipelining with a bounded in-flight count, a deadline on every wait.
//! - [`api`]: Metadata (with topic ids), CreateTopics, DeleteTopics, ListOffsets, Produce, Fetch,
//!   FindCoordinator, IncrementalAlterConfigs as methods on [`Connection`], with request builders
//!   for pipelined use; and ringlog's private DescribeDelays (scheduled delivery per topic), sent
//!   without negotiation.
//! - [`records`]: RecordBatch v2 encode (none/gzip/snappy/lz4/zstd) and a guarded decode.
//! - [`share`]: a share-group consumer (KIP-932): join, share sessions, acquired records with
//!   their delivery counts, acknowledgements piggybacked on ShareFetch or sent with
//!   ShareAcknowledge.
//! - [`cli`]: the command implementations (`produce` from a reader, `consume` to a writer,
//!   `topics`, `delays`, `inspect` of a segment file), so the binary only parses arguments.
//! - [`error`]: [`ClientError`], with context and Kafka error codes.
//!
//! Requests and responses are the message definitions of [`ringlog_protocol::messages`], encoded
//! and decoded by ringlog's own codec (the broker's); versions are the highest both the broker
//! (ApiVersions at connect) and [`connection::CLIENT_APIS`] speak, so the client works against
//! ringlog and against Kafka.
//!
//! ```no_run
//! use ringlog_client::{records, Connection};
//! use ringlog_runtime::{block_on, RuntimeConfig};
//! let config = RuntimeConfig { cores: 1, pin: false, ..RuntimeConfig::default() };
//! block_on(&config, async {
//!     let mut conn = Connection::connect("127.0.0.1:9092".parse().unwrap()).await?;
//!     let batch = records::encode_batch(
//!         &[records::ProducerRecord { key: None, value: Some("hi".into()) }],
//!         0,
//!         records::Compression::None,
//!     )?;
//!     let offset = conn.produce("greetings", 0, batch, -1).await?;
//!     println!("appended at {offset}");
//!     Ok::<_, ringlog_client::ClientError>(())
//! })
//! .unwrap()
//! .unwrap();
//! ```
//!
//! # Invariants
//! - Every wait (connect, send, response) has a deadline; nothing blocks forever.
//! - Requests in flight per connection are bounded; responses are matched to requests in order
//!   and by correlation id.
//! - Bytes from the network or a file are decoded only after their counts and lengths have been
//!   checked against the bytes present (see [`records`]); bad input is an error, never a panic.
//! - A `Connection` is `!Send`: it belongs to the shard that opened it.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod connection;
pub mod error;
pub mod records;
pub mod share;

pub use api::{FetchedPartition, PartitionInfo, TopicDelays, TopicInfo};
pub use connection::{tls_client_config, ConnectOptions, Connection};
pub use error::{ClientError, Result};
pub use share::{ShareConsumer, ShareConsumerConfig, ShareRecord};
