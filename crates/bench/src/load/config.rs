//! What a load run is: its mode, its shape (connections, records, batches, acks, pacing), and
//! the limit of every knob.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use super::payload::STAMP_BYTES;
use ringlog_runtime::IoKind;
use ringlog_storage::records::Compression;

/// Default connections.
pub const CONNECTIONS_DEFAULT: usize = 16;
/// Upper bound on connections: each is a socket and a task on one generator thread, and a
/// connection slot on the broker.
pub const CONNECTIONS_MAX: usize = 4_096;
/// Default record value size: 1 KiB, the size most published Kafka benchmarks use.
pub const RECORD_BYTES_DEFAULT: usize = 1_024;
/// Upper bound on one record's value.
pub const RECORD_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Default records per batch: 64 x 1 KiB = 64 KiB, a tuned producer's `batch.size`.
pub const RECORDS_PER_BATCH_DEFAULT: usize = 64;
/// Upper bound on records per batch.
pub const RECORDS_PER_BATCH_MAX: usize = 100_000;
/// Upper bound on one batch: it must fit the broker's default request bound (100 MiB) with room.
pub const BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Default produce requests in flight per connection: Kafka's `max.in.flight.requests` is 5.
pub const IN_FLIGHT_DEFAULT: usize = 5;
/// Upper bound on requests in flight per connection (the client's own bound is 256).
pub const IN_FLIGHT_MAX: usize = 256;
/// Default measured window.
pub const DURATION_MS_DEFAULT: u64 = 10_000;
/// Default warm-up.
pub const WARMUP_MS_DEFAULT: u64 = 1_000;
/// Upper bound on warm-up and on the measured window, each.
pub const PHASE_MS_MAX: u64 = 3_600_000;
/// Default Fetch `max_bytes` (per partition and per request): 1 MiB, Kafka's
/// `max.partition.fetch.bytes`.
pub const FETCH_BYTES_DEFAULT: i32 = 1024 * 1024;
/// Default bytes a `consume` run makes sure the topic holds before measuring.
pub const FILL_BYTES_DEFAULT: u64 = 256 * 1024 * 1024;
/// Upper bound on the fill.
pub const FILL_BYTES_MAX: u64 = 64 * 1024 * 1024 * 1024;

/// What a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Produce; latency = time to ack.
    Produce,
    /// Fetch from the start of each partition (page cache), wrapping at the end.
    Consume,
    /// Paced produce plus long-polling consumers; latency = produce stamp to consumer receipt.
    E2e,
}

impl Mode {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Produce => "produce",
            Mode::Consume => "consume",
            Mode::E2e => "e2e",
        }
    }
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// What to measure.
    pub mode: Mode,
    /// Broker address (any Kafka-compatible broker).
    pub broker: SocketAddr,
    /// Topic; created with `partitions` if missing.
    pub topic: String,
    /// Partitions of the topic when this run creates it (an existing topic keeps its own).
    pub partitions: i32,
    /// Connections (each producer or consumer task has one).
    pub connections: usize,
    /// Value bytes per record (keys are null).
    pub record_bytes: usize,
    /// Records per produced batch (one batch per Produce request).
    pub records_per_batch: usize,
    /// Produce acks: -1 (all), 1, 0.
    pub acks: i16,
    /// Batch compression.
    pub compression: Compression,
    /// Warm-up before the window.
    pub warmup: Duration,
    /// Measured window (an upper bound when `count` is set).
    pub duration: Duration,
    /// Stop the window after this many records (optional).
    pub count: Option<u64>,
    /// Offered load in records/s over all connections; `None` = as fast as acks come back.
    pub rate: Option<f64>,
    /// Produce requests in flight per connection when not paced.
    pub in_flight: usize,
    /// Consume: bytes the topic must hold before measuring (produced first if it holds less).
    pub fill_bytes: u64,
    /// Fetch `max_bytes`.
    pub fetch_bytes: i32,
    /// Broker pid whose CPU time is sampled (a local broker).
    pub broker_pid: Option<u32>,
    /// Pin the generator thread to this CPU.
    pub client_cpu: Option<usize>,
    /// Driver of the generator's runtime (epoll by default: the same load generator whatever
    /// the broker runs).
    pub client_io: IoKind,
    /// Draw a progress line on stderr.
    pub progress: bool,
    /// TLS to the broker (an SSL listener): the PEM file of the CA its certificate chains to,
    /// and the name the certificate must carry (`None`: the broker's IP address).
    pub tls: Option<(std::path::PathBuf, Option<String>)>,
}

impl LoadConfig {
    /// Defaults for `mode` against `broker`.
    pub fn new(mode: Mode, broker: SocketAddr) -> LoadConfig {
        LoadConfig {
            mode,
            broker,
            topic: "ringlog-bench".to_string(),
            partitions: 4,
            connections: CONNECTIONS_DEFAULT,
            record_bytes: RECORD_BYTES_DEFAULT,
            records_per_batch: RECORDS_PER_BATCH_DEFAULT,
            acks: 1,
            compression: Compression::None,
            warmup: Duration::from_millis(WARMUP_MS_DEFAULT),
            duration: Duration::from_millis(DURATION_MS_DEFAULT),
            count: None,
            rate: None,
            in_flight: IN_FLIGHT_DEFAULT,
            fill_bytes: FILL_BYTES_DEFAULT,
            fetch_bytes: FETCH_BYTES_DEFAULT,
            broker_pid: None,
            client_cpu: None,
            client_io: IoKind::Epoll,
            progress: std::io::stdout().is_terminal(),
            tls: None,
        }
    }

    /// Check every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        let phase_max = Duration::from_millis(PHASE_MS_MAX);
        let batch = self.record_bytes.saturating_mul(self.records_per_batch);
        let checks = [
            (
                (1..=CONNECTIONS_MAX).contains(&self.connections),
                format!("connections must be 1..={CONNECTIONS_MAX}"),
            ),
            (
                (1..=ringlog_storage::names::PARTITIONS_PER_TOPIC_MAX).contains(&self.partitions),
                "partitions must be at least 1".to_string(),
            ),
            (
                self.record_bytes <= RECORD_BYTES_MAX,
                format!("record size must be at most {RECORD_BYTES_MAX} bytes"),
            ),
            (
                (1..=RECORDS_PER_BATCH_MAX).contains(&self.records_per_batch),
                format!("records per batch must be 1..={RECORDS_PER_BATCH_MAX}"),
            ),
            (
                batch <= BATCH_BYTES_MAX,
                format!("a batch must be at most {BATCH_BYTES_MAX} bytes"),
            ),
            (
                matches!(self.acks, -1..=1),
                "acks must be -1 (all), 0 or 1".to_string(),
            ),
            (
                self.warmup <= phase_max,
                format!("warm-up must be at most {PHASE_MS_MAX} ms"),
            ),
            (
                !self.duration.is_zero() && self.duration <= phase_max,
                format!("duration must be >0 and at most {PHASE_MS_MAX} ms"),
            ),
            (
                (1..=IN_FLIGHT_MAX).contains(&self.in_flight),
                format!("in-flight must be 1..={IN_FLIGHT_MAX}"),
            ),
            (
                self.rate.is_none_or(|r| r.is_finite() && r > 0.0),
                "rate must be a positive number of records/s".to_string(),
            ),
            (
                self.fill_bytes <= FILL_BYTES_MAX,
                format!("fill must be at most {FILL_BYTES_MAX} bytes"),
            ),
            (self.fetch_bytes > 0, "fetch bytes must be > 0".to_string()),
            (
                self.mode != Mode::E2e
                    || (self.compression == Compression::None
                        && self.record_bytes >= STAMP_BYTES
                        && self.acks != 0),
                format!(
                    "e2e stamps uncompressed batches: needs compression none, acks 1 or all, and \
                     records of at least {STAMP_BYTES} bytes"
                ),
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }

    /// Offered batches per second per connection when paced.
    pub(super) fn batches_per_s_per_connection(&self) -> Option<f64> {
        self.rate
            .map(|r| r / self.records_per_batch as f64 / self.connections as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_limits_are_enforced() {
        let ok = LoadConfig::new(Mode::Produce, "127.0.0.1:1".parse().unwrap());
        assert!(ok.validate().is_ok());
        let bad = [
            LoadConfig {
                connections: 0,
                ..ok.clone()
            },
            LoadConfig {
                acks: 2,
                ..ok.clone()
            },
            LoadConfig {
                rate: Some(0.0),
                ..ok.clone()
            },
            LoadConfig {
                duration: Duration::ZERO,
                ..ok.clone()
            },
            LoadConfig {
                mode: Mode::E2e,
                compression: Compression::Lz4,
                ..ok.clone()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
