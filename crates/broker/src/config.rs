//! Broker configuration: defaults that work with zero flags, command-line flags, and an optional
//! TOML file with the same keys (flags win over the file).
//!
//! ```toml
//! listen = "127.0.0.1:9092"
//! advertise = "127.0.0.1:9092"
//! data-dir = "./data"
//! cores = 2
//! io = "uring"              # or "epoll"
//! transfer = "auto"         # copy | mmap | sendfile | splice | uring-splice | uring-send-zc | auto
//! flush = "always"          # always | never | interval:<ms>
//! default-partitions = 2
//! request-bytes-max = 104857600
//! fetch-max-bytes = 57671680
//! segment-bytes = 1073741824
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::runtime::IoKind;
use crate::storage::FlushPolicy;
use crate::transfer::TransferPath;

/// Default broker-side cap on a Fetch response's record bytes: Kafka's `fetch.max.bytes`
/// default (55 MiB). Whatever `max_bytes` a client sends, one response holds at most this much
/// (but always the first batch, as KIP-74 wants), so one request cannot make a gigabyte reply.
pub const FETCH_MAX_BYTES_DEFAULT: u32 = 55 * 1024 * 1024;

/// Default listen address: loopback only, Kafka's port.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:9092";
/// Longest a Fetch may wait for data, whatever `max_wait_ms` the client asks for. Kafka clients
/// default to 500 ms; 30 s bounds how long a shutdown can be held up by a long poll.
pub const FETCH_WAIT_MS_MAX: u64 = 30_000;
/// Connections per shard; beyond it new connections are closed at once (each costs a buffer of
/// up to `request_bytes_max`, so this bounds memory).
pub const CONNECTIONS_PER_SHARD_MAX: usize = 10_000;

/// Everything `ringlog serve` needs.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// Address to listen on (every shard binds it with SO_REUSEPORT).
    pub listen: SocketAddr,
    /// Address given to clients in Metadata (default: the listen address).
    pub advertise: Option<String>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Shards (default: online cores).
    pub cores: usize,
    /// I/O driver.
    pub io: IoKind,
    /// How Fetch record bytes go from the segment file to the socket.
    pub transfer: TransferPath,
    /// Durability policy of appends.
    pub flush: FlushPolicy,
    /// Partitions for auto-created topics and CreateTopics with -1 (default: shards).
    pub default_partitions: Option<i32>,
    /// Largest request frame accepted (bytes).
    pub request_bytes_max: u32,
    /// Most record bytes in one Fetch response, whatever the client asks (Kafka's
    /// `fetch.max.bytes`).
    pub fetch_max_bytes: u32,
    /// Segment roll size (bytes).
    pub segment_bytes: u64,
    /// Delete whole segments beyond this many bytes per partition.
    pub retention_bytes: Option<u64>,
    /// Delete whole segments older than this.
    pub retention_ms: Option<u64>,
    /// Test-only fault: the next N Produce requests are appended and then the connection is
    /// dropped instead of answered (the client must retry; idempotence must catch it).
    pub fault_drop_after_append: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: LISTEN_DEFAULT.parse().expect("valid default"),
            advertise: None,
            data_dir: PathBuf::from("./data"),
            cores: crate::runtime::online_cpus(),
            io: IoKind::Uring,
            transfer: TransferPath::Auto,
            flush: FlushPolicy::Always,
            default_partitions: None,
            request_bytes_max: crate::protocol::frame::REQUEST_BYTES_MAX_DEFAULT,
            fetch_max_bytes: FETCH_MAX_BYTES_DEFAULT,
            segment_bytes: crate::storage::log::SEGMENT_BYTES_DEFAULT,
            retention_bytes: None,
            retention_ms: None,
            fault_drop_after_append: Default::default(),
        }
    }
}

impl BrokerConfig {
    /// The `host:port` clients are told to connect to.
    pub fn advertised(&self) -> (String, i32) {
        let text = self
            .advertise
            .clone()
            .unwrap_or_else(|| self.listen.to_string());
        match text.rsplit_once(':') {
            Some((host, port)) => {
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                (host, port.parse().unwrap_or(9092))
            }
            None => (text, 9092),
        }
    }

    /// Partitions for auto-created topics.
    pub fn default_partitions(&self) -> i32 {
        self.default_partitions.unwrap_or(self.cores.max(1) as i32)
    }

    /// Check values that parsing cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.cores == 0 || self.cores > 1024 {
            return Err(format!("cores must be in 1..=1024, got {}", self.cores));
        }
        if let Some(p) = self.default_partitions {
            if !(1..=crate::storage::names::PARTITIONS_PER_TOPIC_MAX).contains(&p) {
                return Err(format!("default-partitions must be >= 1, got {p}"));
            }
        }
        if self.request_bytes_max < 1024 {
            return Err("request-bytes-max must be at least 1024".into());
        }
        if self.fetch_max_bytes < 1024 {
            return Err("fetch-max-bytes must be at least 1024".into());
        }
        if let Some(adv) = &self.advertise {
            if !adv.contains(':') {
                return Err(format!("advertise must be HOST:PORT, got {adv:?}"));
            }
        }
        Ok(())
    }

    /// Apply a TOML file's keys over `self`.
    pub fn merge_toml(&mut self, text: &str) -> Result<(), String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| format!("config file: {e}"))?;
        if let Some(v) = file.listen {
            self.listen = v.parse().map_err(|e| format!("config listen {v:?}: {e}"))?;
        }
        if let Some(v) = file.advertise {
            self.advertise = Some(v);
        }
        if let Some(v) = file.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = file.cores {
            self.cores = v;
        }
        if let Some(v) = file.io {
            self.io = v.parse()?;
        }
        if let Some(v) = file.transfer {
            self.transfer = v.parse()?;
        }
        if let Some(v) = file.flush {
            self.flush = parse_flush(&v)?;
        }
        if let Some(v) = file.default_partitions {
            self.default_partitions = Some(v);
        }
        if let Some(v) = file.request_bytes_max {
            self.request_bytes_max = v;
        }
        if let Some(v) = file.fetch_max_bytes {
            self.fetch_max_bytes = v;
        }
        if let Some(v) = file.segment_bytes {
            self.segment_bytes = v;
        }
        if let Some(v) = file.retention_bytes {
            self.retention_bytes = Some(v);
        }
        if let Some(v) = file.retention_ms {
            self.retention_ms = Some(v);
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<String>,
    advertise: Option<String>,
    data_dir: Option<PathBuf>,
    cores: Option<usize>,
    io: Option<String>,
    transfer: Option<String>,
    flush: Option<String>,
    default_partitions: Option<i32>,
    request_bytes_max: Option<u32>,
    fetch_max_bytes: Option<u32>,
    segment_bytes: Option<u64>,
    retention_bytes: Option<u64>,
    retention_ms: Option<u64>,
}

/// Parse `always`, `never` or `interval:<ms>`.
pub fn parse_flush(s: &str) -> Result<FlushPolicy, String> {
    match s {
        "always" => Ok(FlushPolicy::Always),
        "never" => Ok(FlushPolicy::Never),
        other => match other.strip_prefix("interval:").map(str::parse::<u64>) {
            Some(Ok(ms)) if ms > 0 => Ok(FlushPolicy::Interval(Duration::from_millis(ms))),
            _ => Err(format!(
                "unknown flush policy {other:?}: expected always, never or interval:<ms>"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_match_flags() {
        let mut c = BrokerConfig::default();
        c.merge_toml("listen = \"127.0.0.1:19092\"\ncores = 1\nflush = \"interval:50\"\nio = \"epoll\"\ntransfer = \"sendfile\"\ndefault-partitions = 3\n")
            .unwrap();
        assert_eq!(c.listen.port(), 19092);
        assert_eq!(c.cores, 1);
        assert_eq!(c.flush, FlushPolicy::Interval(Duration::from_millis(50)));
        assert_eq!(c.io, IoKind::Epoll);
        assert_eq!(c.transfer, TransferPath::Sendfile);
        assert_eq!(c.default_partitions(), 3);
        assert!(c.merge_toml("bogus = 1").unwrap_err().contains("bogus"));
        assert!(parse_flush("sometimes").is_err());
        assert!(parse_flush("interval:0").is_err());
    }

    #[test]
    fn advertised_address_splits_host_and_port() {
        let mut c = BrokerConfig::default();
        assert_eq!(c.advertised(), ("127.0.0.1".to_string(), 9092));
        c.advertise = Some("[::1]:19092".into());
        assert_eq!(c.advertised(), ("::1".to_string(), 19092));
    }
}
