//! Broker configuration: defaults that work with zero flags, command-line flags, and an optional
//! TOML file with the same keys (flags win over the file).
//!
//! ```toml
//! listen = "127.0.0.1:9092"   # or ["SASL_PLAINTEXT://127.0.0.1:9093", "PLAINTEXT://127.0.0.1:9092"]
//! advertise = "127.0.0.1:9092" # or "SASL_PLAINTEXT://broker.example:9093,PLAINTEXT://..."
//! sasl-mechanisms = "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"
//! data-dir = "./data"
//! cores = 2
//! io = "uring"              # or "epoll"
//! transfer = "auto"         # copy | mmap | sendfile | splice | uring-splice | uring-send-zc | auto
//! flush = "always"          # always | never | interval:<ms>
//! default-partitions = 2
//! request-bytes-max = 104857600
//! fetch-max-bytes = 57671680
//! segment-bytes = 1073741824
//! max-partitions = 10000
//! open-segment-files-max = 4096       # default: derived from RLIMIT_NOFILE
//! connections-max-idle-ms = 600000
//! frame-read-timeout-ms = 60000
//! max-connections = 8192              # default: derived from RLIMIT_NOFILE
//! max-connections-per-ip = 1000
//! max-connections-per-ip-overrides = "127.0.0.1:2000,10.0.0.7:50"
//! queued-max-request-bytes = 268435456
//! message-timestamp-after-max-ms = 3600000
//! group-initial-rebalance-delay-ms = 0   # Kafka's code default is 3000
//! metrics = "127.0.0.1:9644"          # Prometheus text on GET /metrics (default: off)
//! log-format = "text"                 # or "json"
//! super-users = "User:admin;User:ops"   # Kafka's super.users: allowed everything
//! allow-everyone-if-no-acl-found = false   # Kafka's allow.everyone.if.no.acl.found
//! tls-cert = "server.pem"             # TLS (SSL, SASL_SSL listeners): chain, leaf first
//! tls-key = "server.key"
//! tls-ca = "ca.pem"                   # CA for client certificates (mTLS)
//! tls-client-auth = "none"            # or "requested" / "required" (ssl.client.auth)
//! ```

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
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

/// Default cap on partitions hosted by the broker (all topics together); a CreateTopics that
/// would pass it is refused with POLICY_VIOLATION before anything is created.
pub const MAX_PARTITIONS_DEFAULT: u32 = 10_000;
/// Kafka's `connections.max.idle.ms` default: a connection with no request for 10 minutes is
/// closed.
pub const CONNECTIONS_MAX_IDLE_MS_DEFAULT: u64 = 600_000;
/// Longest time a request frame may take to arrive once its first byte has (slowloris bound).
pub const FRAME_READ_TIMEOUT_MS_DEFAULT: u64 = 60_000;
/// Default broker-wide budget of request bytes held in memory (Kafka's
/// `queued.max.request.bytes`, which Kafka leaves unbounded by default).
pub const QUEUED_MAX_REQUEST_BYTES_DEFAULT: u64 = 256 << 20;

/// File descriptors kept back from every budget for what the broker must always be able to open:
/// catalog and state-log saves, temp files, the offsets logs, epoll/io_uring, eventfds, the
/// listening sockets (a broker that runs out of these cannot save its state).
pub const FD_RESERVE: u64 = 128;
/// Share of the remaining descriptors given to open segment files by default (the rest go to
/// connections).
pub const FD_SEGMENT_FILES_SHARE: f64 = 0.25;
/// Fewest segment files a derived budget leaves open (each open log needs its active files).
pub const FD_SEGMENT_FILES_MIN: u64 = 16;
/// Fewest descriptors kept for Fetch responses in flight.
pub const FD_FETCH_FILES_MIN: u64 = 16;
/// Descriptors one connection may hold at once: its socket plus a splice pipe pair.
pub const FDS_PER_CONNECTION: u64 = 3;

/// How the open-files limit is shared out (see [`BrokerConfig::fd_plan`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdPlan {
    /// RLIMIT_NOFILE (soft) the plan was made from.
    pub nofile: u64,
    /// Segment files open at once, all shards together.
    pub segment_files: u64,
    /// Segment file ranges held by Fetch responses in flight, all shards together (a response
    /// from another shard's partition holds a `dup` of its segment file until it is sent; a
    /// cached file evicted while a response uses it stays open): half of `segment_files`, at
    /// least [`FD_FETCH_FILES_MIN`].
    pub fetch_files: u64,
    /// Client connections, all shards together.
    pub connections: u64,
}

/// Kafka 4.4's `message.timestamp.after.max.ms` default: a client record may carry a timestamp
/// at most one hour ahead of the broker's clock (INVALID_TIMESTAMP beyond). Kafka's
/// `message.timestamp.before.max.ms` default is unbounded, and so is ringlog's.
pub const MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT: i64 = 3_600_000;

/// Default listen address: loopback only, Kafka's port.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:9092";
/// Longest a Fetch may wait for data, whatever `max_wait_ms` the client asks for. Kafka clients
/// default to 500 ms; 30 s bounds how long a shutdown can be held up by a long poll.
pub const FETCH_WAIT_MS_MAX: u64 = 30_000;

/// Everything `ringlog serve` needs.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// Address to listen on (every shard binds it with SO_REUSEPORT): the one PLAINTEXT
    /// listener when `listeners` is empty, else the first listener's address.
    pub listen: SocketAddr,
    /// Every listener with its security protocol (`--listen PROTOCOL://host:port,...`); empty
    /// means one PLAINTEXT listener on `listen` (see [`BrokerConfig::listeners`]).
    pub listeners: Vec<crate::auth::ListenerSpec>,
    /// Addresses given to clients in Metadata: Kafka's `advertised.listeners` form, or one
    /// `host:port` for the first listener (default: each listener's bound address).
    pub advertise: Option<String>,
    /// SASL mechanisms offered on SASL listeners (`sasl.enabled.mechanisms`).
    pub sasl_mechanisms: Vec<crate::auth::SaslMechanism>,
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
    /// Durability policy of share-group state (`--share-state-flush`); `None`: the default for
    /// `flush` ([`crate::share::state_flush`]).
    pub share_state_flush: Option<FlushPolicy>,
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
    /// Most partitions the broker hosts, all topics together (`max.partitions`).
    pub max_partitions: u32,
    /// Segment files kept open at once, all shards together (None: derived from RLIMIT_NOFILE at
    /// start, after the connection reserve).
    pub open_segment_files_max: Option<u64>,
    /// Close a connection after this long without a request (`connections.max.idle.ms`).
    pub connections_max_idle_ms: u64,
    /// Close a connection whose started request frame has not fully arrived after this long.
    pub frame_read_timeout_ms: u64,
    /// Most client connections, all shards together (`max.connections`; None: derived from
    /// RLIMIT_NOFILE at start).
    pub max_connections: Option<u32>,
    /// Most connections from one IP address (`max.connections.per.ip`).
    pub max_connections_per_ip: u32,
    /// Per-address exceptions, `host:count` comma-separated (`max.connections.per.ip.overrides`).
    pub max_connections_per_ip_overrides: String,
    /// Request bytes held in memory at once, all connections together
    /// (`queued.max.request.bytes`); reading pauses while it is spent.
    pub queued_max_request_bytes: u64,
    /// How far behind the broker's clock a client record's timestamp may be
    /// (`message.timestamp.before.max.ms`; `i64::MAX`: no bound).
    pub message_timestamp_before_max_ms: i64,
    /// Longest delay a record of a delay-enabled topic may ask for (`ringlog-delay-ms`, or
    /// `ringlog-deliver-at` this far ahead); longer is refused with INVALID_RECORD.
    pub delivery_delay_max_ms: i64,
    /// Sizes of each shard's timer of delayed records (wheel slots, loaded records); the
    /// defaults suit every broker, tests shrink them.
    pub delay_timer: crate::delay::timer::TimerConfig,
    /// Longest `transaction.timeout.ms` a transactional producer may ask for
    /// (`transaction.max.timeout.ms`); longer is refused with INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: i32,
    /// How often each coordinator shard looks for transactions open past their timeout (and
    /// prepared ones to finish): Kafka's
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub transaction_abort_check_ms: u64,
    /// How far ahead of the broker's clock a client record's timestamp may be
    /// (`message.timestamp.after.max.ms`).
    pub message_timestamp_after_max_ms: i64,
    /// How long the first join phase of a new (Empty) group waits for more members before it
    /// completes (`group.initial.rebalance.delay.ms`; see
    /// [`crate::group::INITIAL_REBALANCE_DELAY_MS_DEFAULT`] for the default and its reason).
    pub group_initial_rebalance_delay_ms: u64,
    /// Share groups' broker-wide settings (Kafka's `group.share.*` and
    /// `errors.deadletterqueue.*` broker configs); group configs override some of them.
    pub share: crate::share::config::BrokerShareConfig,
    /// Broker defaults of Kafka's topic configs (`--topic-default KEY=VALUE`): what a topic
    /// that does not set a config gets, ahead of ringlog's own defaults.
    pub topic_defaults: crate::topic_config::TopicConfigs,
    /// Where the Prometheus metrics endpoint listens (`None`: no endpoint).
    pub metrics: Option<SocketAddr>,
    /// How log lines are written (read by the binary that sets up logging).
    pub log_format: LogFormat,
    /// Principals allowed everything, whatever the ACLs say (Kafka's `super.users`).
    pub super_users: Vec<String>,
    /// Whether a resource no ACL names is open to every principal (Kafka's
    /// `allow.everyone.if.no.acl.found`, default false); see [`crate::acl`].
    pub allow_everyone_if_no_acl_found: bool,
    /// TLS certificate, key, CA and client authentication (`--tls-*`), checked and loaded by
    /// [`BrokerConfig::validate`] ([`crate::tls`]).
    pub tls: crate::tls::TlsOptions,
    /// Test-only fault: the next N Produce requests are appended and then the connection is
    /// dropped instead of answered (the client must retry; idempotence must catch it).
    pub fault_drop_after_append: std::sync::Arc<std::sync::atomic::AtomicU32>,
    /// Test-only fault: while set, appends wait before they write (a stalled disk), so a test
    /// can see what a connection holds meanwhile.
    pub fault_hold_appends: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: LISTEN_DEFAULT.parse().expect("valid default"),
            listeners: Vec::new(),
            advertise: None,
            sasl_mechanisms: crate::auth::SaslMechanism::ALL.to_vec(),
            data_dir: PathBuf::from("./data"),
            cores: crate::runtime::online_cpus(),
            io: IoKind::Uring,
            transfer: TransferPath::Auto,
            flush: FlushPolicy::Always,
            share_state_flush: None,
            default_partitions: None,
            request_bytes_max: crate::protocol::frame::REQUEST_BYTES_MAX_DEFAULT,
            fetch_max_bytes: FETCH_MAX_BYTES_DEFAULT,
            segment_bytes: crate::storage::log::SEGMENT_BYTES_DEFAULT,
            retention_bytes: None,
            retention_ms: None,
            max_partitions: MAX_PARTITIONS_DEFAULT,
            open_segment_files_max: None,
            connections_max_idle_ms: CONNECTIONS_MAX_IDLE_MS_DEFAULT,
            frame_read_timeout_ms: FRAME_READ_TIMEOUT_MS_DEFAULT,
            max_connections: None,
            max_connections_per_ip: i32::MAX as u32,
            max_connections_per_ip_overrides: String::new(),
            queued_max_request_bytes: QUEUED_MAX_REQUEST_BYTES_DEFAULT,
            message_timestamp_before_max_ms: i64::MAX,
            delivery_delay_max_ms: crate::delay::DELAY_MAX_MS_DEFAULT,
            delay_timer: crate::delay::timer::TimerConfig::default(),
            transaction_max_timeout_ms: crate::txn::TRANSACTION_MAX_TIMEOUT_MS_DEFAULT,
            transaction_abort_check_ms: crate::txn::ABORT_CHECK_MS_DEFAULT,
            message_timestamp_after_max_ms: MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT,
            group_initial_rebalance_delay_ms: crate::group::INITIAL_REBALANCE_DELAY_MS_DEFAULT,
            share: crate::share::config::BrokerShareConfig::default(),
            topic_defaults: Default::default(),
            metrics: None,
            log_format: LogFormat::Text,
            super_users: Vec::new(),
            allow_everyone_if_no_acl_found: false,
            tls: Default::default(),
            fault_drop_after_append: Default::default(),
            fault_hold_appends: Default::default(),
        }
    }
}

impl BrokerConfig {
    /// The flush policy of the share state logs: `--share-state-flush`, else the default for
    /// `--flush`.
    pub fn share_state_flush(&self) -> FlushPolicy {
        self.share_state_flush
            .unwrap_or_else(|| crate::share::state_flush(self.flush))
    }

    /// Every listener to bind, in order: `listeners`, or one PLAINTEXT listener on `listen`.
    pub fn listeners(&self) -> Vec<crate::auth::ListenerSpec> {
        if self.listeners.is_empty() {
            vec![crate::auth::ListenerSpec {
                protocol: crate::auth::SecurityProtocol::Plaintext,
                addr: self.listen,
            }]
        } else {
            self.listeners.clone()
        }
    }

    /// The advertised addresses `advertise` names, by listener (checked against the listeners).
    pub fn advertised_listeners(&self) -> Result<Vec<crate::auth::listener::Advertised>, String> {
        match &self.advertise {
            Some(text) => crate::auth::listener::parse_advertised(text, &self.listeners()),
            None => Ok(Vec::new()),
        }
    }

    /// The `host:port` clients of the first listener are told to connect to, before the
    /// broker bound it (a connection's own listener says where its clients go:
    /// [`crate::auth::ListenerInfo::advertised`]).
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

    /// Shares out `nofile` descriptors: [`FD_RESERVE`] first, then segment files (the configured
    /// budget, or [`FD_SEGMENT_FILES_SHARE`] of the rest), then connections at
    /// [`FDS_PER_CONNECTION`] each (or the configured `max_connections`, which may not overcommit).
    /// Errors when the configured numbers do not fit in the limit.
    pub fn fd_plan(&self, nofile: u64) -> Result<FdPlan, String> {
        let usable = nofile.saturating_sub(FD_RESERVE);
        let segment_files = match self.open_segment_files_max {
            Some(n) => n,
            None => ((usable as f64 * FD_SEGMENT_FILES_SHARE) as u64).max(FD_SEGMENT_FILES_MIN),
        };
        let fetch_files = (segment_files / 2).max(FD_FETCH_FILES_MIN);
        let left = usable.saturating_sub(segment_files + fetch_files);
        let fit = left / FDS_PER_CONNECTION;
        let connections = match self.max_connections {
            Some(n) => u64::from(n),
            None => fit,
        };
        let needed = segment_files + fetch_files + connections * FDS_PER_CONNECTION;
        if needed > usable || connections == 0 {
            return Err(format!(
                "the open-files limit ({nofile}) is too small: {FD_RESERVE} reserved, \
                 {segment_files} segment files, {fetch_files} for fetches in flight and \
                 {connections} connections x {FDS_PER_CONNECTION} need {}; raise `ulimit -n` \
                 or lower open-segment-files-max / max-connections",
                FD_RESERVE + needed
            ));
        }
        Ok(FdPlan {
            nofile,
            segment_files,
            fetch_files,
            connections,
        })
    }

    /// The per-address exceptions of `max_connections_per_ip_overrides`: `host:count` pairs
    /// separated by commas (spaces around them allowed), split at the *last* colon so an IPv6
    /// address may be written as is (`::1:50`) or in brackets (`[::1]:50`), as Kafka's
    /// `max.connections.per.ip.overrides`. A host name stands for every address it resolves to
    /// (resolved once, here); a later entry for the same address wins.
    pub fn connections_per_ip_overrides(&self) -> Result<Vec<(IpAddr, u32)>, String> {
        let text = self.max_connections_per_ip_overrides.trim();
        let mut out = Vec::new();
        if text.is_empty() {
            return Ok(out);
        }
        for entry in text.split(',').map(str::trim) {
            let bad = |why: &str| {
                format!(
                    "max-connections-per-ip-overrides entry {entry:?}: {why} (expected host:count)"
                )
            };
            let (host, count) = entry.rsplit_once(':').ok_or_else(|| bad("no ':'"))?;
            let count: u32 = count
                .trim()
                .parse()
                .map_err(|e| bad(&format!("count: {e}")))?;
            let host = host.trim().trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(bad("empty host"));
            }
            match host.parse::<IpAddr>() {
                Ok(ip) => out.push((ip.to_canonical(), count)),
                Err(_) => {
                    let addrs = (host, 0u16)
                        .to_socket_addrs()
                        .map_err(|e| bad(&format!("cannot resolve {host:?}: {e}")))?;
                    let before = out.len();
                    out.extend(addrs.map(|a| (a.ip().to_canonical(), count)));
                    if out.len() == before {
                        return Err(bad(&format!("{host:?} resolves to no address")));
                    }
                }
            }
        }
        Ok(out)
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
        if !(1..=crate::delay::DELAY_MAX_MS_DEFAULT * 100).contains(&self.delivery_delay_max_ms) {
            return Err(format!(
                "delivery-delay-max-ms must be in 1..={} (100 years), got {}",
                crate::delay::DELAY_MAX_MS_DEFAULT * 100,
                self.delivery_delay_max_ms
            ));
        }
        if self.transaction_max_timeout_ms < 1 {
            return Err(format!(
                "transaction-max-timeout-ms must be at least 1, got {}",
                self.transaction_max_timeout_ms
            ));
        }
        if !(1..=crate::txn::ABORT_CHECK_MS_MAX).contains(&self.transaction_abort_check_ms) {
            return Err(format!(
                "transaction-abort-check-ms must be in 1..={}, got {}",
                crate::txn::ABORT_CHECK_MS_MAX,
                self.transaction_abort_check_ms
            ));
        }
        if self.message_timestamp_before_max_ms < 0 || self.message_timestamp_after_max_ms < 0 {
            return Err("message-timestamp-before-max-ms and -after-max-ms must be >= 0".into());
        }
        self.share.validate()?;
        self.topic_defaults
            .log_config(&crate::storage::log::LogConfig {
                segment_bytes: self.segment_bytes,
                ..Default::default()
            })
            .validate()
            .map_err(|e| format!("topic-default: {e}"))?;
        if self.group_initial_rebalance_delay_ms > crate::group::INITIAL_REBALANCE_DELAY_MS_MAX {
            return Err(format!(
                "group-initial-rebalance-delay-ms must be at most {} (Kafka's int), got {}",
                crate::group::INITIAL_REBALANCE_DELAY_MS_MAX,
                self.group_initial_rebalance_delay_ms
            ));
        }
        if self.max_partitions == 0 {
            return Err("max-partitions must be at least 1".into());
        }
        if self.open_segment_files_max == Some(0) {
            return Err("open-segment-files-max must be at least 1".into());
        }
        if self.connections_max_idle_ms == 0 || self.frame_read_timeout_ms == 0 {
            return Err("connections-max-idle-ms and frame-read-timeout-ms must be above 0".into());
        }
        if self.max_connections == Some(0) {
            return Err("max-connections must be at least 1".into());
        }
        let overrides = self.connections_per_ip_overrides()?;
        // As Kafka: 0 per address only makes sense when the overrides name who may connect.
        if self.max_connections_per_ip == 0 && overrides.is_empty() {
            return Err(
                "max-connections-per-ip can be 0 only with max-connections-per-ip-overrides".into(),
            );
        }
        if self.queued_max_request_bytes < u64::from(self.request_bytes_max) {
            return Err(format!(
                "queued-max-request-bytes ({}) must be at least request-bytes-max ({})",
                self.queued_max_request_bytes, self.request_bytes_max
            ));
        }
        let listeners = self.listeners();
        let tls = self.tls.settings()?;
        if let Some(settings) = &tls {
            // Missing files, bad PEM, a key that is not the certificate's: refused at start.
            settings.load().map_err(|e| e.to_string())?;
        }
        if let Some(l) = listeners.iter().find(|l| l.protocol.uses_tls()) {
            if tls.is_none() {
                return Err(format!(
                    "listener {l}: TLS listeners need --tls-cert and --tls-key"
                ));
            }
        }
        if self.sasl_mechanisms.is_empty() {
            return Err("sasl-mechanisms: no mechanism given".into());
        }
        self.advertised_listeners()?;
        Ok(())
    }

    /// Apply a TOML file's keys over `self`.
    pub fn merge_toml(&mut self, text: &str) -> Result<(), String> {
        let file: ConfigOverrides =
            toml::from_str(text).map_err(|e| format!("config file: {e}"))?;
        self.apply(file)
    }

    /// Apply every setting `file` gives over `self` (from a TOML file or the command line).
    pub fn apply(&mut self, file: ConfigOverrides) -> Result<(), String> {
        if !file.listen.is_empty() {
            let listeners =
                crate::auth::listener::parse_listeners(file.listen.iter().map(String::as_str))?;
            self.listen = listeners[0].addr;
            // One bare PLAINTEXT address stays the classic form (`listeners` empty).
            self.listeners = if listeners.len() == 1
                && listeners[0].protocol == crate::auth::SecurityProtocol::Plaintext
            {
                Vec::new()
            } else {
                listeners
            };
        }
        if let Some(v) = file.advertise {
            self.advertise = Some(v);
        }
        if let Some(v) = file.sasl_mechanisms {
            self.sasl_mechanisms = crate::auth::parse_mechanisms(&v)?;
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
        if let Some(v) = file.share_state_flush {
            self.share_state_flush = Some(parse_flush(&v)?);
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
        if let Some(v) = file.max_partitions {
            self.max_partitions = v;
        }
        if let Some(v) = file.open_segment_files_max {
            self.open_segment_files_max = Some(v);
        }
        if let Some(v) = file.connections_max_idle_ms {
            self.connections_max_idle_ms = v;
        }
        if let Some(v) = file.frame_read_timeout_ms {
            self.frame_read_timeout_ms = v;
        }
        if let Some(v) = file.max_connections {
            self.max_connections = Some(v);
        }
        if let Some(v) = file.max_connections_per_ip {
            self.max_connections_per_ip = v;
        }
        if let Some(v) = file.max_connections_per_ip_overrides {
            self.max_connections_per_ip_overrides = v;
        }
        if let Some(v) = file.queued_max_request_bytes {
            self.queued_max_request_bytes = v;
        }
        if let Some(v) = file.message_timestamp_before_max_ms {
            self.message_timestamp_before_max_ms = v;
        }
        if let Some(v) = file.message_timestamp_after_max_ms {
            self.message_timestamp_after_max_ms = v;
        }
        if let Some(v) = file.delivery_delay_max_ms {
            self.delivery_delay_max_ms = v;
        }
        if let Some(v) = file.transaction_max_timeout_ms {
            self.transaction_max_timeout_ms = v;
        }
        if let Some(v) = file.transaction_abort_check_ms {
            self.transaction_abort_check_ms = v;
        }
        if let Some(v) = file.group_initial_rebalance_delay_ms {
            self.group_initial_rebalance_delay_ms = v;
        }
        if let Some(v) = file.metrics {
            self.metrics = Some(v.parse().map_err(|e| format!("metrics {v:?}: {e}"))?);
        }
        if let Some(v) = file.log_format {
            self.log_format = v.parse()?;
        }
        if let Some(v) = &file.super_users {
            self.super_users = crate::acl::parse_super_users(v)?;
        }
        if let Some(v) = file.allow_everyone_if_no_acl_found {
            self.allow_everyone_if_no_acl_found = v;
        }
        if let Some(v) = file.tls_cert {
            self.tls.cert = Some(v);
        }
        if let Some(v) = file.tls_key {
            self.tls.key = Some(v);
        }
        if let Some(v) = file.tls_ca {
            self.tls.ca = Some(v);
        }
        if let Some(v) = file.tls_client_auth {
            self.tls.client_auth = Some(v.parse()?);
        }
        if let Some(v) = file.group_share_delivery_count_limit {
            self.share.delivery_count_limit = v;
        }
        if let Some(v) = file.group_share_record_lock_duration_ms {
            self.share.record_lock_duration_ms = v;
        }
        if let Some(v) = file.group_share_partition_max_record_locks {
            self.share.partition_max_record_locks = v;
        }
        if let Some(v) = file.group_share_max_partition_max_record_locks {
            self.share.max_partition_max_record_locks = v;
        }
        if let Some(v) = file.group_share_min_record_lock_duration_ms {
            self.share.min_record_lock_duration_ms = v;
        }
        if let Some(v) = file.group_share_max_record_lock_duration_ms {
            self.share.max_record_lock_duration_ms = v;
        }
        if let Some(v) = &file.errors_deadletterqueue_topic_name_prefix {
            self.share.dlq_topic_name_prefix = v.clone();
        }
        if let Some(v) = file.errors_deadletterqueue_auto_create_topics_enable {
            self.share.dlq_auto_create_topics = v;
        }
        if !file.topic_default.is_empty() {
            let mut pairs = Vec::with_capacity(file.topic_default.len());
            for kv in &file.topic_default {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("topic-default {kv:?}: expected KEY=VALUE"))?;
                if k.starts_with(crate::topic_config::RINGLOG_PREFIX) {
                    return Err(format!(
                        "topic-default {kv:?}: only Kafka's topic configs have broker defaults"
                    ));
                }
                pairs.push((k.trim(), Some(v)));
            }
            // Later settings (flags after the file) win over earlier ones for the same key.
            let mut merged = self.topic_defaults.kafka.clone();
            let given = crate::topic_config::TopicConfigs::from_request("(topic-default)", pairs)
                .map_err(|e| format!("topic-default: {e}"))?;
            merged.extend(given.kafka);
            self.topic_defaults.dlq_enable |= given.dlq_enable;
            self.topic_defaults.kafka = merged;
        }
        Ok(())
    }
}

/// Settings given in a TOML file or as `ringlog serve` flags: every field optional, the same
/// names in both (kebab-case), applied over a [`BrokerConfig`] by [`BrokerConfig::apply`]. One
/// definition, so a new setting is a field here and a line in `apply`.
#[derive(Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigOverrides {
    /// Listeners: `PROTOCOL://host:port` (PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL; the TLS
    /// ones need --tls-cert and --tls-key) or a bare `host:port` (PLAINTEXT); comma-separated or
    /// repeated (TOML: a string or a list).
    #[arg(long, value_name = "[PROTOCOL://]HOST:PORT")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub listen: Vec<String>,
    /// Addresses given to clients in Metadata, Kafka's advertised.listeners form
    /// (`PROTOCOL://host:port,...`), or one HOST:PORT for the first listener (default: each
    /// listener's bound address).
    #[arg(long)]
    pub advertise: Option<String>,
    /// SASL mechanisms offered on SASL listeners, comma-separated (default
    /// SCRAM-SHA-256,SCRAM-SHA-512,PLAIN).
    #[arg(long)]
    pub sasl_mechanisms: Option<String>,
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Shards (threads, one per core; default: all online cores).
    #[arg(long)]
    pub cores: Option<usize>,
    /// I/O driver: uring or epoll.
    #[arg(long)]
    pub io: Option<String>,
    /// Fetch transfer path: copy, mmap, sendfile, splice, uring-splice, uring-send-zc, auto.
    #[arg(long)]
    pub transfer: Option<String>,
    /// Durability: always (group commit), never, or interval:<ms>.
    #[arg(long)]
    pub flush: Option<String>,
    /// Durability of share-group state (acknowledgements, acquisitions, delivery counts):
    /// always, never or interval:<ms>. Default: interval:20 under --flush always (answered once
    /// written, fdatasynced within 20 ms), else as --flush.
    #[arg(long)]
    pub share_state_flush: Option<String>,
    /// Partitions of auto-created topics (default: the number of shards).
    #[arg(long)]
    pub default_partitions: Option<i32>,
    /// Largest request frame accepted, in bytes.
    #[arg(long)]
    pub request_bytes_max: Option<u32>,
    /// Most record bytes in one Fetch response, whatever the client asks (default 55 MiB,
    /// Kafka's `fetch.max.bytes`).
    #[arg(long)]
    pub fetch_max_bytes: Option<u32>,
    /// Segment size in bytes before rolling.
    #[arg(long)]
    pub segment_bytes: Option<u64>,
    /// Delete whole segments beyond this many bytes per partition (default: none).
    #[arg(long)]
    pub retention_bytes: Option<u64>,
    /// Delete whole segments older than this, in ms (default: none).
    #[arg(long)]
    pub retention_ms: Option<u64>,
    /// Most partitions the broker hosts, all topics together (default 10,000).
    #[arg(long)]
    pub max_partitions: Option<u32>,
    /// Segment files kept open at once (default: derived from the open-files limit).
    #[arg(long)]
    pub open_segment_files_max: Option<u64>,
    /// Close connections idle this long (default 600,000 ms, Kafka's connections.max.idle.ms).
    #[arg(long)]
    pub connections_max_idle_ms: Option<u64>,
    /// Close a connection whose started request has not fully arrived after this long (ms).
    #[arg(long)]
    pub frame_read_timeout_ms: Option<u64>,
    /// Most client connections (default: derived from the open-files limit).
    #[arg(long)]
    pub max_connections: Option<u32>,
    /// Most connections from one IP address.
    #[arg(long)]
    pub max_connections_per_ip: Option<u32>,
    /// Per-address exceptions to max-connections-per-ip: `host:count,host:count`.
    #[arg(long)]
    pub max_connections_per_ip_overrides: Option<String>,
    /// Request bytes held in memory at once, all connections together (default 256 MiB).
    #[arg(long)]
    pub queued_max_request_bytes: Option<u64>,
    /// Oldest client record timestamp accepted, ms behind the broker's clock (default: no bound).
    #[arg(long)]
    pub message_timestamp_before_max_ms: Option<i64>,
    /// Newest client record timestamp accepted, ms ahead of the broker's clock (default one hour,
    /// as Kafka 4.4).
    #[arg(long)]
    pub message_timestamp_after_max_ms: Option<i64>,
    /// Longest delay a record of a delay-enabled topic may ask for, ms (`ringlog-delay-ms`, or
    /// `ringlog-deliver-at` this far ahead; default 365 days). Longer is refused with
    /// INVALID_RECORD.
    #[arg(long)]
    pub delivery_delay_max_ms: Option<i64>,
    /// Longest transaction timeout a transactional producer may ask for, ms (Kafka's
    /// transaction.max.timeout.ms; default 900,000). Longer is refused with
    /// INVALID_TRANSACTION_TIMEOUT.
    #[arg(long)]
    pub transaction_max_timeout_ms: Option<i32>,
    /// How often transactions open past their timeout are aborted, ms (Kafka's
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms; default 10,000).
    #[arg(long)]
    pub transaction_abort_check_ms: Option<u64>,
    /// How long a new consumer group's first rebalance waits for more members, ms (Kafka's
    /// group.initial.rebalance.delay.ms; default 0: a lone consumer joins at once).
    #[arg(long)]
    pub group_initial_rebalance_delay_ms: Option<u64>,
    /// Serve Prometheus metrics over HTTP on this HOST:PORT (GET /metrics; default: off).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Log line format: text or json (one JSON object per line).
    #[arg(long)]
    pub log_format: Option<String>,
    /// Share groups: deliveries of a record before it is archived (Kafka's
    /// group.share.delivery.count.limit, 2..=10, default 5); a group's
    /// share.delivery.count.limit overrides it.
    #[arg(long)]
    pub group_share_delivery_count_limit: Option<u16>,
    /// Share groups: how long an acquired record stays locked to its consumer, ms (Kafka's
    /// group.share.record.lock.duration.ms, 1,000..=3,600,000, default 30,000).
    #[arg(long)]
    pub group_share_record_lock_duration_ms: Option<i64>,
    /// Share groups: records in flight per share-partition (Kafka's
    /// group.share.partition.max.record.locks, 100..=10,000, default 2,000).
    #[arg(long)]
    pub group_share_partition_max_record_locks: Option<i64>,
    /// Share groups: the largest share.partition.max.record.locks a group may set (Kafka's
    /// group.share.max.partition.max.record.locks, default 4,000).
    #[arg(long)]
    pub group_share_max_partition_max_record_locks: Option<i64>,
    /// Share groups: the shortest share.record.lock.duration.ms a group may set, ms (Kafka's
    /// group.share.min.record.lock.duration.ms, default 15,000).
    #[arg(long)]
    pub group_share_min_record_lock_duration_ms: Option<i64>,
    /// Share groups: the longest share.record.lock.duration.ms a group may set, ms (Kafka's
    /// group.share.max.record.lock.duration.ms, default 60,000).
    #[arg(long)]
    pub group_share_max_record_lock_duration_ms: Option<i64>,
    /// Share groups: the prefix every dead-letter topic name must start with (Kafka's
    /// errors.deadletterqueue.topic.name.prefix, default "dlq."; empty lifts the rule).
    #[arg(long)]
    pub errors_deadletterqueue_topic_name_prefix: Option<String>,
    /// Share groups: create a missing dead-letter topic when a record is first sent there
    /// (Kafka's errors.deadletterqueue.auto.create.topics.enable, default false).
    #[arg(long)]
    pub errors_deadletterqueue_auto_create_topics_enable: Option<bool>,
    /// The default of a Kafka topic config for every topic that does not set it, by its topic
    /// config name: `--topic-default cleanup.policy=compact --topic-default retention.ms=60000`
    /// (TOML: `topic-default = ["retention.ms=60000"]`). Checked as the topic config is.
    #[arg(long = "topic-default", value_name = "KEY=VALUE")]
    #[serde(default)]
    pub topic_default: Vec<String>,
    /// Principals allowed everything whatever the ACLs say, `;`-separated (Kafka's
    /// super.users): `--super-users 'User:admin;User:ops'`.
    #[arg(long)]
    pub super_users: Option<String>,
    /// Whether a resource no ACL names is open to every principal (Kafka's
    /// allow.everyone.if.no.acl.found, default false). Connections of a broker whose listeners
    /// are all PLAINTEXT are not checked at all (see the README's "Authorization: ACLs").
    #[arg(long)]
    pub allow_everyone_if_no_acl_found: Option<bool>,
    /// TLS: PEM file with the server's certificate chain, leaf first (SSL and SASL_SSL
    /// listeners).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: PEM file with the certificate's private key (PKCS#8, RSA or EC).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// TLS: PEM file with the CA certificates client certificates are checked against.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// TLS client certificates (Kafka's ssl.client.auth): none (default), requested or
    /// required; requested and required need --tls-ca.
    #[arg(long, value_name = "none|requested|required")]
    pub tls_client_auth: Option<String>,
}

/// A TOML value that is one string or a list of strings (`listen`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (tracing's default format).
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's JSON format), with the connection's span.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format {other:?}: expected text or json"
            )),
        }
    }
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
    fn share_state_flush_defaults_from_flush_and_can_be_set() {
        let mut c = BrokerConfig::default();
        assert_eq!(
            c.share_state_flush(),
            FlushPolicy::Interval(Duration::from_millis(crate::share::STATE_SYNC_INTERVAL_MS))
        );
        c.merge_toml("flush = \"never\"\n").unwrap();
        assert_eq!(c.share_state_flush(), FlushPolicy::Never);
        c.merge_toml("share-state-flush = \"always\"\n").unwrap();
        assert_eq!(c.share_state_flush(), FlushPolicy::Always);
        assert!(c
            .merge_toml("share-state-flush = \"later\"\n")
            .unwrap_err()
            .contains("later"));
    }

    #[test]
    fn group_initial_rebalance_delay_is_a_bounded_toml_key() {
        let mut c = BrokerConfig::default();
        assert!(c.validate().is_ok());
        c.merge_toml("group-initial-rebalance-delay-ms = 3000\n")
            .unwrap();
        assert_eq!(c.group_initial_rebalance_delay_ms, 3_000);
        c.group_initial_rebalance_delay_ms = u64::MAX;
        let e = c.validate().unwrap_err();
        assert!(e.contains("group-initial-rebalance-delay-ms"), "{e}");
    }

    #[test]
    fn fd_plan_shares_the_limit_and_refuses_overcommit() {
        let mut c = BrokerConfig::default();
        let p = c.fd_plan(20_000).unwrap();
        assert_eq!((p.segment_files, p.fetch_files), (4_968, 2_484));
        assert_eq!(
            p.connections,
            (20_000 - FD_RESERVE - 4_968 - 2_484) / FDS_PER_CONNECTION
        );
        assert!(
            FD_RESERVE + p.segment_files + p.fetch_files + p.connections * FDS_PER_CONNECTION
                <= 20_000
        );
        // A tiny limit still leaves the minimum of segment files, or says why it cannot.
        let small = c.fd_plan(256).unwrap();
        assert_eq!(small.segment_files, 32);
        assert!(c.fd_plan(140).unwrap_err().contains("open-files limit"));
        c.max_connections = Some(100_000);
        assert!(c.fd_plan(20_000).is_err());
        c.max_connections = Some(10);
        c.open_segment_files_max = Some(64);
        let fixed = c.fd_plan(20_000).unwrap();
        assert_eq!(
            (fixed.segment_files, fixed.fetch_files, fixed.connections),
            (64, 32, 10)
        );
    }

    #[test]
    fn per_ip_overrides_parse_as_kafka_writes_them() {
        let mut c = BrokerConfig {
            max_connections_per_ip_overrides: " 127.0.0.2:3, ::1:7 ,[::2]:0,localhost:9".into(),
            ..BrokerConfig::default()
        };
        let o = c.connections_per_ip_overrides().unwrap();
        assert_eq!(o[0], ("127.0.0.2".parse().unwrap(), 3));
        assert_eq!(o[1], ("::1".parse().unwrap(), 7));
        assert_eq!(o[2], ("::2".parse().unwrap(), 0));
        assert!(o[3..].iter().all(|&(ip, n)| ip.is_loopback() && n == 9));
        c.validate().unwrap();
        for bad in ["127.0.0.1", "127.0.0.1:x", ":5", "127.0.0.1:-1"] {
            c.max_connections_per_ip_overrides = bad.into();
            let e = c.validate().unwrap_err();
            assert!(e.contains("overrides"), "{bad}: {e}");
        }
        c.max_connections_per_ip_overrides = String::new();
        c.max_connections_per_ip = 0;
        assert!(c.validate().unwrap_err().contains("overrides"));
        c.max_connections_per_ip_overrides = "127.0.0.1:5".into();
        c.validate().unwrap();
    }

    /// The flags and the TOML keys are one struct: the same setting written either way gives the
    /// same configuration, and a bad value is refused with the setting's name.
    #[test]
    fn flags_and_toml_keys_are_the_same_settings() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: ConfigOverrides,
        }
        let flags = <Cli as clap::Parser>::try_parse_from([
            "serve",
            "--listen",
            "127.0.0.1:19093",
            "--io",
            "epoll",
            "--max-connections-per-ip-overrides",
            "127.0.0.2:5",
            "--message-timestamp-after-max-ms",
            "60000",
        ])
        .unwrap();
        let mut by_flags = BrokerConfig::default();
        by_flags.apply(flags.settings).unwrap();
        let mut by_file = BrokerConfig::default();
        by_file
            .merge_toml(
                "listen = \"127.0.0.1:19093\"\nio = \"epoll\"\n\
                 max-connections-per-ip-overrides = \"127.0.0.2:5\"\n\
                 message-timestamp-after-max-ms = 60000\n",
            )
            .unwrap();
        assert_eq!(format!("{by_flags:?}"), format!("{by_file:?}"));
        assert_eq!(by_flags.listen.port(), 19093);
        assert_eq!(by_flags.message_timestamp_after_max_ms, 60_000);
        let bad = <Cli as clap::Parser>::try_parse_from(["serve", "--listen", "nowhere"]).unwrap();
        let err = BrokerConfig::default().apply(bad.settings).unwrap_err();
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn metrics_and_log_format_are_flags_and_toml_keys() {
        let mut c = BrokerConfig::default();
        assert_eq!((c.metrics, c.log_format), (None, LogFormat::Text));
        c.merge_toml("metrics = \"127.0.0.1:9644\"\nlog-format = \"json\"\n")
            .unwrap();
        assert_eq!(c.metrics, Some("127.0.0.1:9644".parse().unwrap()));
        assert_eq!(c.log_format, LogFormat::Json);
        let e = c.merge_toml("metrics = \"nowhere\"\n").unwrap_err();
        assert!(e.contains("metrics"), "{e}");
        let e = c.merge_toml("log-format = \"xml\"\n").unwrap_err();
        assert!(e.contains("log format"), "{e}");
    }

    #[test]
    fn listeners_are_flags_and_toml_keys() {
        use crate::auth::SecurityProtocol;
        let mut c = BrokerConfig::default();
        assert_eq!(c.listeners().len(), 1);
        assert_eq!(c.listeners()[0].protocol, SecurityProtocol::Plaintext);
        c.merge_toml(
            "listen = [\"SASL_PLAINTEXT://127.0.0.1:9093\", \"PLAINTEXT://127.0.0.1:9092\"]\n\
             advertise = \"SASL_PLAINTEXT://broker.example:19093\"\n\
             sasl-mechanisms = \"SCRAM-SHA-512\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        let l = c.listeners();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(c.listen.port(), 9093);
        assert_eq!(c.sasl_mechanisms.len(), 1);
        // A bare address is the classic PLAINTEXT listener.
        c.merge_toml("listen = \"127.0.0.1:7\"\nadvertise = \"h:8\"\n")
            .unwrap();
        assert!(c.listeners.is_empty());
        assert_eq!(c.listeners()[0].addr.port(), 7);
        c.validate().unwrap();
        // A TLS listener without certificate files is refused for the missing TLS settings.
        c.merge_toml("listen = \"SSL://127.0.0.1:9094\"\n").unwrap();
        let e = c.validate().unwrap_err();
        assert!(e.contains("need --tls-cert and --tls-key"), "{e}");
        c.merge_toml(
            "listen = \"PLAINTEXT://127.0.0.1:1\"\nadvertise = \"SASL_PLAINTEXT://h:1\"\n",
        )
        .unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .contains("no SASL_PLAINTEXT listener"));
        assert!(c.merge_toml("sasl-mechanisms = \"GSSAPI\"\n").is_err());
    }

    #[test]
    fn advertised_address_splits_host_and_port() {
        let mut c = BrokerConfig::default();
        assert_eq!(c.advertised(), ("127.0.0.1".to_string(), 9092));
        c.advertise = Some("[::1]:19092".into());
        assert_eq!(c.advertised(), ("::1".to_string(), 19092));
    }

    #[test]
    fn tls_flags_from_toml_are_checked_at_start() {
        let pki = crate::tls::test_certs::TestPki::new();
        let d = pki.dir().display();
        let mut c = BrokerConfig::default();
        c.merge_toml(&format!(
            "tls-cert = \"{d}/server.pem\"\ntls-key = \"{d}/server.key\"\n\
             tls-ca = \"{d}/ca.pem\"\ntls-client-auth = \"required\"\n"
        ))
        .unwrap();
        let s = c.tls.settings().unwrap().unwrap();
        assert_eq!(s.client_auth, crate::tls::ClientAuth::Required);
        c.validate().unwrap();

        let mut bad = c.clone();
        bad.tls.key = Some(pki.dir().join("nope.key"));
        let e = bad.validate().unwrap_err();
        assert!(e.contains("tls-key") && e.contains("nope.key"), "{e}");
        let mut bad = c.clone();
        bad.tls.ca = None;
        assert!(bad.validate().unwrap_err().contains("needs tls-ca"));
        assert!(c.merge_toml("tls-client-auth = \"maybe\"").is_err());

        // An SSL listener without a certificate says what is missing; with one, it is served.
        let mut l = BrokerConfig::default();
        l.merge_toml("listen = \"SSL://127.0.0.1:9093\"").unwrap();
        assert!(l.validate().unwrap_err().contains("--tls-cert"));
        l.tls = c.tls.clone();
        l.validate().unwrap();
    }
}
