//! Metrics: per-shard counters, gathered on request and served as Prometheus text (format 0.0.4)
//! by `ringlog serve --metrics HOST:PORT` on `GET /metrics`.
//!
//! ```text
//!   Prometheus ──GET /metrics──> shard 0 (controller): http::serve
//!                                   │ 1. every shard: its groups' committed offsets (ShardMsg::Call)
//!                                   │ 2. every shard: render its own families into text chunks,
//!                                   │    lag from the committed offsets of partitions it owns
//!                                   │ 3. per family: HELP/TYPE, then each shard's chunk in order
//!                                   └──> one String, Content-Length, Connection: close
//! ```
//!
//! What is counted where:
//! - [`ShardMetrics`] (a field of [`crate::shard::ShardState`]): requests, errors and latency per
//!   API, rejected requests per reason, bytes in and out, connections, Fetch transfer bytes per
//!   path. Updated by the connection's shard (`connection.rs`, `transfer`).
//! - `ringlog_storage::stats` (thread-local, so per shard): fdatasync latency, group-commit batch
//!   sizes, compaction passes. Updated by the logs.
//! - `ringlog_runtime::driver_stats` (the shard's ring): SQEs, CQEs, `io_uring_enter` calls.
//! - Partitions (offsets, size, segments) and committed offsets are read from the engine and the
//!   group coordinator at scrape time; nothing is kept for them between scrapes.
//!
//! Rendering happens on every shard in parallel (each writes only its own samples), so a scrape
//! of a broker with 10,000 partitions costs each shard its own share of them; the controller
//! only concatenates.
//!
//! # Invariants
//! - Counting adds nothing shared between shards to the request path: every counter is a plain
//!   [`Cell`] of the shard that counts, read by that shard when asked (never by another thread).
//! - Every metric family is declared once in [`render::FAMILIES`], with its HELP and TYPE; every
//!   sample of a family is written contiguously under them (each shard's chunk of a family is
//!   appended in shard order).
//! - Label values are escaped as the text format requires (`\\`, `\"`, `\n`).
//! - Counters only grow while the broker runs (gauges are read fresh each scrape).

pub mod http;
pub mod reject_log;
pub mod render;
pub mod scrape;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::protocol::api_key::{ApiKey, RINGLOG_PRIVATE, RINGLOG_PRIVATE_KEY_MIN};
use crate::protocol::Response;
use crate::storage::stats::Histogram;
use crate::transfer::TransferPath;

pub use reject_log::{RejectLog, RejectReason};

/// Kafka's api keys 0..=KAFKA_API_KEY_MAX each get a slot (Kafka 4.x defines up to 92; a few
/// spare slots for keys added later); ringlog's private APIs follow.
pub const KAFKA_API_KEY_MAX: usize = 99;
/// Slots of per-API counters: Kafka's keys, ringlog's private keys, and one for requests whose
/// api key is not served (counted by the rejection reasons too).
pub const API_SLOTS: usize = KAFKA_API_KEY_MAX + 1 + RINGLOG_PRIVATE.len() + 1;
/// The slot of requests whose key no served API has.
pub const API_SLOT_UNKNOWN: usize = API_SLOTS - 1;

/// Upper bounds (ns) of the request latency buckets, from the frame read to the response
/// written: 100 µs (an ApiVersions on loopback) to 30 s (the longest Fetch long poll,
/// `FETCH_WAIT_MS_MAX`).
pub const REQUEST_BUCKETS_NS: &[u64] = &[
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// Most distinct (api, error code) pairs a shard counts; error codes come from the broker's own
/// responses (Kafka defines ~130), so this is never reached in practice and bounds memory if it
/// were.
pub const ERROR_SERIES_MAX: usize = 4096;

/// The counter slot of an api key (raw, as on the wire).
pub fn api_slot(key: i16) -> usize {
    match usize::try_from(key) {
        Ok(k) if k <= KAFKA_API_KEY_MAX => k,
        _ => match key.checked_sub(RINGLOG_PRIVATE_KEY_MIN) {
            Some(i) if (0..RINGLOG_PRIVATE.len() as i16).contains(&i) => {
                KAFKA_API_KEY_MAX + 1 + i as usize
            }
            _ => API_SLOT_UNKNOWN,
        },
    }
}

/// The api of a slot, if it names one.
pub fn slot_api(slot: usize) -> Option<ApiKey> {
    if slot <= KAFKA_API_KEY_MAX {
        ApiKey::ALL.iter().copied().find(|k| *k as usize == slot)
    } else {
        RINGLOG_PRIVATE.get(slot - KAFKA_API_KEY_MAX - 1).copied()
    }
}

/// One API's counters on one shard.
struct ApiCounters {
    requests: Cell<u64>,
    latency: Histogram,
}

/// One shard's request-path counters (see the module doc). Plain cells, this shard's only.
pub struct ShardMetrics {
    apis: Box<[ApiCounters]>,
    /// (api slot, error code) -> responses or partitions answered with that code.
    errors: RefCell<BTreeMap<(usize, i16), u64>>,
    rejected: [Cell<u64>; RejectReason::COUNT],
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    connections_accepted: Cell<u64>,
    connections_closed: Cell<u64>,
    /// Fetch record bytes per concrete path, in [`TransferPath::ALL`] order.
    transfer_bytes: [Cell<u64>; TransferPath::ALL.len()],
    /// The rate limit of this shard's "rejected request" log lines.
    pub reject_log: RejectLog,
}

impl Default for ShardMetrics {
    fn default() -> Self {
        ShardMetrics::new()
    }
}

impl ShardMetrics {
    /// Zeroed counters.
    pub fn new() -> ShardMetrics {
        ShardMetrics {
            apis: (0..API_SLOTS)
                .map(|_| ApiCounters {
                    requests: Cell::new(0),
                    latency: Histogram::new(REQUEST_BUCKETS_NS),
                })
                .collect(),
            errors: RefCell::new(BTreeMap::new()),
            rejected: Default::default(),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            connections_accepted: Cell::new(0),
            connections_closed: Cell::new(0),
            transfer_bytes: Default::default(),
            reject_log: RejectLog::new(),
        }
    }

    /// A request of `api_key` was answered (or, for acks=0, handled) `started` ago.
    #[inline]
    pub fn request_done(&self, api_key: i16, started: Instant) {
        let api = &self.apis[api_slot(api_key)];
        api.requests.set(api.requests.get() + 1);
        api.latency.record_duration(started.elapsed());
    }

    /// A response (or one partition of it) of `api_key` carried `code` (non-zero).
    pub fn error(&self, api_key: i16, code: i16) {
        let mut errors = self.errors.borrow_mut();
        let key = (api_slot(api_key), code);
        if let Some(n) = errors.get_mut(&key) {
            *n += 1;
        } else if errors.len() < ERROR_SERIES_MAX {
            errors.insert(key, 1);
        }
    }

    /// A request was refused before it reached a handler.
    pub fn rejected(&self, reason: RejectReason) {
        let c = &self.rejected[reason as usize];
        c.set(c.get() + 1);
    }

    /// Request frame bytes received (with the size prefix).
    #[inline]
    pub fn bytes_in(&self, n: usize) {
        self.bytes_in.set(self.bytes_in.get() + n as u64);
    }

    /// Response bytes sent (with the size prefix).
    #[inline]
    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.set(self.bytes_out.get() + n);
    }

    /// A connection was accepted; returns its number on this shard (from 1).
    pub fn connection_opened(&self) -> u64 {
        let n = self.connections_accepted.get() + 1;
        self.connections_accepted.set(n);
        n
    }

    /// A connection ended.
    pub fn connection_closed(&self) {
        self.connections_closed
            .set(self.connections_closed.get() + 1);
        debug_assert!(self.connections_closed.get() <= self.connections_accepted.get());
    }

    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_accepted
            .get()
            .saturating_sub(self.connections_closed.get())
    }

    /// Fetch record bytes sent by `path` (a concrete path, never `Auto`).
    #[inline]
    pub fn transferred(&self, path: TransferPath, bytes: u64) {
        if let Some(i) = TransferPath::ALL.iter().position(|p| *p == path) {
            let c = &self.transfer_bytes[i];
            c.set(c.get() + bytes);
        }
    }

    /// Requests counted for `api_key` so far.
    pub fn requests(&self, api_key: i16) -> u64 {
        self.apis[api_slot(api_key)].requests.get()
    }
}

/// Calls `f` with every non-zero error code of a response that has one at its top level, and
/// with every partition's code of a Produce response (the APIs whose errors an operator watches;
/// per-item codes of admin responses are left out).
pub fn response_errors(resp: &Response, mut f: impl FnMut(i16)) {
    let top = match resp {
        Response::Produce(r) => {
            for p in r.responses.iter().flat_map(|t| &t.partition_responses) {
                if p.error_code != 0 {
                    f(p.error_code);
                }
            }
            return;
        }
        Response::ApiVersions(r) => r.error_code,
        Response::JoinGroup(r) => r.error_code,
        Response::SyncGroup(r) => r.error_code,
        Response::Heartbeat(r) => r.error_code,
        Response::LeaveGroup(r) => r.error_code,
        Response::ListGroups(r) => r.error_code,
        Response::InitProducerId(r) => r.error_code,
        Response::AddOffsetsToTxn(r) => r.error_code,
        Response::EndTxn(r) => r.error_code,
        Response::DescribeCluster(r) => r.error_code,
        Response::ConsumerGroupHeartbeat(r) => r.error_code,
        Response::ShareGroupHeartbeat(r) => r.error_code,
        _ => return,
    };
    if top != 0 {
        f(top);
    }
}

/// Whether a path sends file bytes without copying them through user space.
pub fn zero_copy(path: TransferPath) -> bool {
    matches!(
        path,
        TransferPath::Sendfile
            | TransferPath::Splice
            | TransferPath::UringSplice
            | TransferPath::UringSendZc
    )
}

/// `Duration` in seconds as Prometheus wants it.
pub fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_api_has_its_own_slot() {
        let mut seen = std::collections::HashSet::new();
        for key in ApiKey::ALL.iter().chain(RINGLOG_PRIVATE) {
            let slot = api_slot(*key as i16);
            assert_ne!(slot, API_SLOT_UNKNOWN, "{key:?}");
            assert!(seen.insert(slot), "{key:?} shares a slot");
            assert_eq!(slot_api(slot), Some(*key));
        }
        for raw in [-1, 100, 1000, 31_999, 32_003, i16::MAX, i16::MIN] {
            assert_eq!(api_slot(raw), API_SLOT_UNKNOWN, "{raw}");
        }
        assert_eq!(slot_api(API_SLOT_UNKNOWN), None);
    }

    #[test]
    fn counters_count_per_api_and_connections_balance() {
        let m = ShardMetrics::new();
        let t = Instant::now();
        m.request_done(ApiKey::Produce as i16, t);
        m.request_done(ApiKey::Produce as i16, t);
        m.request_done(-5, t);
        assert_eq!(m.requests(ApiKey::Produce as i16), 2);
        assert_eq!(m.requests(ApiKey::Fetch as i16), 0);
        assert_eq!(m.apis[API_SLOT_UNKNOWN].requests.get(), 1);
        assert_eq!(m.connection_opened(), 1);
        assert_eq!(m.connection_opened(), 2);
        m.connection_closed();
        assert_eq!(m.connections_open(), 1);
        m.transferred(TransferPath::Sendfile, 10);
        m.transferred(TransferPath::Auto, 10); // never a concrete path: not counted
        assert_eq!(m.transfer_bytes.iter().map(Cell::get).sum::<u64>(), 10);
    }

    #[test]
    fn error_series_are_bounded() {
        let m = ShardMetrics::new();
        for code in 0..(ERROR_SERIES_MAX as i16 + 100) {
            m.error(code % 200, code);
        }
        assert_eq!(m.errors.borrow().len(), ERROR_SERIES_MAX);
        let first = *m.errors.borrow().keys().next().unwrap();
        m.error(first.0 as i16, first.1);
        assert_eq!(m.errors.borrow()[&first], 2, "known series still count");
    }
}
