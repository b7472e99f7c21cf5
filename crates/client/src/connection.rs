//! One TCP connection to a Kafka broker: framing, correlation ids, version negotiation, and
//! pipelining (many requests written before their responses are read, in order).
//!
//! ```text
//!  send(req, v) ──> [size i32 BE | request header v1/v2 | body] ──> broker
//!                    in_flight: VecDeque<(correlation_id, api_key, version)>  (≤ in_flight_max)
//!  recv::<R>()  <── [size i32 BE | response header v0/v1 | body] <── broker (in request order)
//! ```
//!
//! Kafka answers requests on one connection strictly in order, so the front of `in_flight` is
//! always the request the next response frame answers; its correlation id is checked anyway.
//!
//! # Invariants
//! - At most `in_flight_max` requests await responses; a further `send` is refused
//!   ([`ClientError::InFlightFull`]), never queued without bound.
//! - Every socket wait has a deadline: `request_timeout`, plus a Fetch's `max_wait` for Fetch.
//! - A response frame larger than `response_bytes_max` is refused before it is buffered.
//! - After a timeout, a close, or a bad frame the connection is marked broken and every later
//!   call fails with [`ClientError::Broken`]: the stream can no longer be trusted to be in step.

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::error::{ClientError, Result};
use ringlog_protocol::frame::{
    check_frame, split_frame, FrameLimits, FrameStatus, REQUEST_BYTES_MAX_DEFAULT,
};
use ringlog_protocol::header::{decode_response_header, response_header_version};
use ringlog_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use ringlog_protocol::wire::{Reader, Str};
use ringlog_protocol::{error, ApiKey, ApiRequest, Message};
use ringlog_runtime::net::TcpStream;
use ringlog_runtime::time;

/// Default bound on every wait (connect, send, a response beyond any Fetch `max_wait`). Kafka
/// clients default `request.timeout.ms` to 30 s; a CLI wants to fail sooner on a dead broker.
pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Default bound on requests awaiting responses on one connection. librdkafka's
/// `max.in.flight` defaults to 1,000,000; a load generator needs a few hundred at most, and the
/// bound keeps a stalled broker from growing the queue (and its unread responses) forever.
pub const IN_FLIGHT_MAX_DEFAULT: usize = 256;
/// Default bound on one response frame body: 100 MiB, the broker's default request bound; Fetch
/// `max_bytes` (Kafka's default 50 MiB) must stay below it.
pub const RESPONSE_BYTES_MAX_DEFAULT: u32 = REQUEST_BYTES_MAX_DEFAULT;
/// Read chunk: how much spare capacity a `recv` gets when the frame size is not yet known or
/// larger. Large enough for a pipelined burst of small responses in one syscall.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The API versions this client can build and parse, per API. Floors are where the request
/// first carries what the client needs (RecordBatch v2 from Produce v3 and Fetch v4, a single
/// offset per partition from ListOffsets v1). Ceilings stop where the request would need
/// something the client does not track (Fetch v13+ names topics by id), and never go past the
/// versions [`ringlog_protocol::messages`] defines (both checked in the tests below). The share
/// APIs start at v1, the first stable version (Kafka 4.4 has no v0 any more).
#[rustfmt::skip] // one row per API reads as a table
pub const CLIENT_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::FindCoordinator, 1, 4),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareFetch, 1, 2),
    (ApiKey::ShareAcknowledge, 1, 2),
];

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Client id sent in every request header.
    pub client_id: String,
    /// Bound on connect, on each send, and on each response (plus a Fetch's `max_wait`).
    pub request_timeout: Duration,
    /// Bound on requests awaiting responses ([`IN_FLIGHT_MAX_DEFAULT`]).
    pub in_flight_max: usize,
    /// Bound on one response frame body in bytes ([`RESPONSE_BYTES_MAX_DEFAULT`]).
    pub response_bytes_max: u32,
    /// TLS (SSL and SASL_SSL listeners): the rustls configuration and the name the server's
    /// certificate must carry (`None`: the broker's IP address). No TLS when `None`.
    pub tls: Option<(Arc<rustls::ClientConfig>, Option<String>)>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            client_id: "ringlog".to_string(),
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS_DEFAULT),
            in_flight_max: IN_FLIGHT_MAX_DEFAULT,
            response_bytes_max: RESPONSE_BYTES_MAX_DEFAULT,
            tls: None,
        }
    }
}

/// A request written and not yet answered.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    /// Extra time the broker may legitimately hold the response (a Fetch long poll).
    extra_wait: Duration,
}

/// A client TLS session over the connection's socket (one task uses it: no sharing).
struct ClientTls {
    conn: rustls::ClientConnection,
    /// Ciphertext received and not yet taken by rustls.
    pending: BytesMut,
}

/// Ciphertext asked of the socket per receive on a TLS connection.
const TLS_READ_BYTES: usize = 64 * 1024;

/// A connection to one broker. Not `Send`: it lives on the shard that opened it.
pub struct Connection {
    stream: TcpStream,
    tls: Option<ClientTls>,
    addr: SocketAddr,
    options: ConnectOptions,
    next_correlation_id: i32,
    in_flight: VecDeque<InFlight>,
    /// Bytes read and not yet consumed as frames.
    read_buf: BytesMut,
    /// The broker's advertised (api_key, min, max), from ApiVersions at connect.
    broker_apis: Vec<(i16, i16, i16)>,
    broken: bool,
}

impl Connection {
    /// Connects with default options and negotiates versions (ApiVersions).
    pub async fn connect(addr: SocketAddr) -> Result<Connection> {
        Self::connect_with(addr, ConnectOptions::default()).await
    }

    /// Connects and sends ApiVersions, so [`Connection::version`] can pick the highest version
    /// both sides speak.
    pub async fn connect_with(addr: SocketAddr, options: ConnectOptions) -> Result<Connection> {
        if options.in_flight_max == 0 {
            return Err(ClientError::InvalidArgument(
                "in_flight_max must be at least 1".into(),
            ));
        }
        let stream = match time::timeout(options.request_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(ClientError::Io {
                    op: "connect",
                    addr,
                    source,
                })
            }
            Err(_) => {
                return Err(ClientError::Timeout {
                    op: "connect".into(),
                    addr,
                    after: options.request_timeout,
                })
            }
        };
        // Small requests (metadata, pipelined produces) must not wait for Nagle.
        stream.set_nodelay(true).map_err(|source| ClientError::Io {
            op: "setsockopt TCP_NODELAY",
            addr,
            source,
        })?;
        let tls = match &options.tls {
            None => None,
            Some((config, name)) => {
                let name = match name {
                    Some(n) => rustls::pki_types::ServerName::try_from(n.clone()).map_err(|e| {
                        ClientError::InvalidArgument(format!("tls server name {n:?}: {e}"))
                    })?,
                    None => rustls::pki_types::ServerName::IpAddress(addr.ip().into()),
                };
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| ClientError::InvalidArgument(format!("tls: {e}")))?;
                Some(ClientTls {
                    conn,
                    pending: BytesMut::new(),
                })
            }
        };
        let mut conn = Connection {
            stream,
            tls,
            addr,
            options,
            next_correlation_id: 0,
            in_flight: VecDeque::new(),
            read_buf: BytesMut::new(),
            broker_apis: Vec::new(),
            broken: false,
        };
        if conn.tls.is_some() {
            let after = conn.options.request_timeout;
            match time::timeout(after, conn.tls_handshake()).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(ClientError::Timeout {
                        op: "tls handshake".into(),
                        addr,
                        after,
                    })
                }
            }
        }
        conn.negotiate().await?;
        Ok(conn)
    }

    fn tls_error(&self, op: &'static str, e: impl std::fmt::Display) -> ClientError {
        ClientError::Io {
            op,
            addr: self.addr,
            source: std::io::Error::other(format!("tls: {e}")),
        }
    }

    /// Sends every record rustls has waiting.
    async fn tls_flush(&mut self) -> std::io::Result<()> {
        let Some(tls) = &mut self.tls else {
            return Ok(());
        };
        let mut out = Vec::new();
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut out)?;
        }
        if out.is_empty() {
            return Ok(());
        }
        let (res, _) = self.stream.send_all(out).await;
        res
    }

    /// Gives rustls what was received; errors on a bad record.
    fn tls_feed(&mut self) -> Result<()> {
        let Some(tls) = &mut self.tls else {
            return Ok(());
        };
        while !tls.pending.is_empty() {
            let mut rd: &[u8] = &tls.pending;
            let n = match tls.conn.read_tls(&mut rd) {
                Ok(n) => n,
                // Its plaintext buffer is full: read plaintext first.
                Err(_) => break,
            };
            let _ = tls.pending.split_to(n);
            let state = tls.conn.process_new_packets();
            if let Err(e) = state {
                return Err(self.tls_error("tls record", e));
            }
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// The TLS handshake right after the connect.
    async fn tls_handshake(&mut self) -> Result<()> {
        loop {
            let flushed = self.tls_flush().await;
            flushed.map_err(|e| self.tls_error("tls handshake send", e))?;
            let handshaking = self.tls.as_ref().is_some_and(|t| t.conn.is_handshaking());
            if !handshaking {
                return Ok(());
            }
            let mut pending = std::mem::take(&mut self.tls.as_mut().expect("tls").pending);
            pending.reserve(TLS_READ_BYTES);
            let (res, pending) = self.stream.recv(pending).await;
            self.tls.as_mut().expect("tls").pending = pending;
            match res {
                Ok(0) => {
                    return Err(ClientError::Closed {
                        addr: self.addr,
                        op: "tls handshake".into(),
                    })
                }
                Ok(_) => {}
                Err(e) => return Err(self.tls_error("tls handshake recv", e)),
            }
            if let Err(e) = self.tls_feed() {
                // The alert, then fail.
                let _ = self.tls_flush().await;
                return Err(e);
            }
        }
    }

    /// Writes `frame`, through TLS when the connection has it.
    async fn write_all(&mut self, frame: Bytes) -> std::io::Result<()> {
        if self.tls.is_none() {
            let (res, _) = self.stream.send_all(frame).await;
            return res;
        }
        let mut rest: &[u8] = &frame;
        while !rest.is_empty() {
            let n = self.tls.as_mut().expect("tls").conn.writer().write(rest)?;
            rest = &rest[n..];
            self.tls_flush().await?;
            if n == 0 && !self.tls.as_ref().expect("tls").conn.wants_write() {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// As [`TcpStream::recv_timeout`], decrypted on a TLS connection.
    async fn read_some(
        &mut self,
        mut buf: BytesMut,
        wait: Duration,
    ) -> (std::io::Result<usize>, BytesMut) {
        if self.tls.is_none() {
            return self.stream.recv_timeout(buf, wait).await;
        }
        let deadline = Instant::now() + wait;
        loop {
            let spare = buf.capacity() - buf.len();
            let start = buf.len();
            buf.resize(start + spare.min(TLS_READ_BYTES), 0);
            let tls = self.tls.as_mut().expect("tls");
            let read = tls.conn.reader().read(&mut buf[start..]);
            match read {
                Ok(n) if n > 0 => {
                    buf.truncate(start + n);
                    return (Ok(n), buf);
                }
                // A clean close_notify.
                Ok(_) => {
                    buf.truncate(start);
                    return (Ok(0), buf);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => buf.truncate(start),
                Err(e) => {
                    buf.truncate(start);
                    return (Err(e), buf);
                }
            }
            if !tls.pending.is_empty() {
                let before = tls.pending.len();
                if let Err(e) = self.tls_feed() {
                    return (Err(std::io::Error::other(e.to_string())), buf);
                }
                if self.tls.as_ref().expect("tls").pending.len() < before {
                    continue;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return (Err(std::io::ErrorKind::TimedOut.into()), buf);
            }
            let tls = self.tls.as_mut().expect("tls");
            let mut pending = std::mem::take(&mut tls.pending);
            pending.reserve(TLS_READ_BYTES);
            let (res, pending) = self.stream.recv_timeout(pending, deadline - now).await;
            self.tls.as_mut().expect("tls").pending = pending;
            match res {
                Ok(0) => return (Ok(0), buf),
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
            if let Err(e) = self.tls_feed() {
                return (Err(std::io::Error::other(e.to_string())), buf);
            }
        }
    }

    /// ApiVersions at our highest version; a broker that does not serve it answers with error 35
    /// and a v0 body listing its range, and we retry once at its highest.
    async fn negotiate(&mut self) -> Result<()> {
        let (_, _, ours) = client_range(ApiKey::ApiVersions);
        let request = ApiVersionsRequest {
            client_software_name: Str::from_static("ringlog"),
            client_software_version: Str::from_static(env!("CARGO_PKG_VERSION")),
            // Any cluster, any node (KIP-1242's check is for clients that cached metadata).
            cluster_id: None,
            node_id: -1,
        };
        let mut version = ours;
        for _attempt in 0..2 {
            self.send(&request, version).await?;
            let body = self.recv_frame_body().await?;
            // error_code is the first field of every ApiVersions response version.
            let code = if body.len() >= 2 {
                i16::from_be_bytes([body[0], body[1]])
            } else {
                0
            };
            let decode_version = if code == error::UNSUPPORTED_VERSION {
                0
            } else {
                version
            };
            let response: ApiVersionsResponse =
                self.decode_body(body, ApiKey::ApiVersions, decode_version)?;
            self.broker_apis = response
                .api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version))
                .collect();
            if code == error::UNSUPPORTED_VERSION {
                version = self.version(ApiKey::ApiVersions)?;
                continue;
            }
            return ClientError::check(code, None, || format!("ApiVersions to {}", self.addr));
        }
        Err(self.protocol_error(
            ApiKey::ApiVersions,
            version,
            "broker refused every ApiVersions version offered".into(),
        ))
    }

    /// The broker's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests written and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The options this connection was opened with.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// The broker's advertised range for `api_key`, if it serves it.
    pub fn broker_range(&self, api_key: ApiKey) -> Option<(i16, i16)> {
        self.broker_apis
            .iter()
            .find(|(k, _, _)| *k == api_key as i16)
            .map(|&(_, lo, hi)| (lo, hi))
    }

    /// The highest version of `api_key` both the broker and this client speak.
    pub fn version(&self, api_key: ApiKey) -> Result<i16> {
        let (_, lo, hi) = client_range(api_key);
        let broker = self.broker_range(api_key);
        match broker {
            Some((blo, bhi)) if blo.max(lo) <= bhi.min(hi) => Ok(bhi.min(hi)),
            _ => Err(ClientError::UnsupportedApi {
                api_key,
                broker,
                client: (lo, hi),
            }),
        }
    }

    /// Writes `request` at `version` and records it as awaiting a response. Pair every `send`
    /// with one [`Connection::recv`] of the same request type, in order.
    pub async fn send<R: ApiRequest>(&mut self, request: &R, version: i16) -> Result<()> {
        self.send_inner(request, version, true, Duration::ZERO)
            .await
    }

    /// Like [`Connection::send`], but the broker may hold the response for `extra_wait` on top
    /// of the request timeout (a Fetch's `max_wait`).
    pub async fn send_with_wait<R: ApiRequest>(
        &mut self,
        request: &R,
        version: i16,
        extra_wait: Duration,
    ) -> Result<()> {
        self.send_inner(request, version, true, extra_wait).await
    }

    /// Writes a request the broker does not answer (Produce with `acks = 0`).
    pub async fn send_without_response<R: ApiRequest>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<()> {
        self.send_inner(request, version, false, Duration::ZERO)
            .await
    }

    async fn send_inner<R: ApiRequest>(
        &mut self,
        request: &R,
        version: i16,
        expect_response: bool,
        extra_wait: Duration,
    ) -> Result<()> {
        if self.broken {
            return Err(ClientError::Broken { addr: self.addr });
        }
        if expect_response && self.in_flight.len() >= self.options.in_flight_max {
            return Err(ClientError::InFlightFull {
                in_flight_max: self.options.in_flight_max,
            });
        }
        let api_key = R::KEY;
        if !R::VERSIONS.contains(version) {
            return Err(encode_error(
                api_key,
                version,
                "the version is outside the message definition",
            ));
        }
        let correlation_id = self.next_correlation_id;
        let mut frame = BytesMut::new();
        ringlog_protocol::encode_request(
            request,
            version,
            correlation_id,
            Some(&self.options.client_id),
            &mut frame,
        )
        .map_err(|e| encode_error(api_key, version, e))?;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1) & i32::MAX;
        if expect_response {
            self.in_flight.push_back(InFlight {
                correlation_id,
                api_key,
                api_version: version,
                extra_wait,
            });
        }
        // Until the whole frame is written the stream is out of step (a dropped or failed send
        // may have written part of it).
        self.broken = true;
        let after = self.options.request_timeout;
        match time::timeout(after, self.write_all(frame.freeze())).await {
            Ok(Ok(())) => {
                self.broken = false;
                Ok(())
            }
            Ok(Err(source)) => Err(ClientError::Io {
                op: "send",
                addr: self.addr,
                source,
            }),
            Err(_) => Err(ClientError::Timeout {
                op: format!("sending a {api_key:?} v{version} request"),
                addr: self.addr,
                after,
            }),
        }
    }

    /// Reads the response to the oldest request in flight, which must be an `R`.
    pub async fn recv<R: ApiRequest>(&mut self) -> Result<R::Response> {
        let Some(front) = self.in_flight.front().copied() else {
            return Err(ClientError::NothingInFlight);
        };
        if front.api_key != R::KEY {
            return Err(ClientError::InvalidArgument(format!(
                "recv of a {:?} response but the next response answers {:?}",
                R::KEY,
                front.api_key
            )));
        }
        let body = self.recv_frame_body().await?;
        self.decode_body(body, front.api_key, front.api_version)
    }

    /// `send` then `recv`: one request, one response.
    pub async fn request<R: ApiRequest>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response> {
        self.send(request, version).await?;
        self.recv::<R>().await
    }

    /// Reads the next response frame, checks its header against the oldest request in flight,
    /// pops that request, and returns the body.
    async fn recv_frame_body(&mut self) -> Result<Bytes> {
        if self.broken {
            return Err(ClientError::Broken { addr: self.addr });
        }
        let front = *self.in_flight.front().ok_or(ClientError::NothingInFlight)?;
        let wait = self.options.request_timeout + front.extra_wait;
        let deadline = Instant::now() + wait;
        let frame = match self.read_frame(deadline, wait, front).await {
            Ok(f) => f,
            Err(e) => {
                self.broken = true;
                return Err(e);
            }
        };
        self.in_flight.pop_front();
        let mut r = Reader::new(frame);
        let header_version = response_header_version(front.api_key, front.api_version);
        let correlation_id = decode_response_header(&mut r, header_version).map_err(|e| {
            self.broken = true;
            self.protocol_error(front.api_key, front.api_version, format!("header: {e}"))
        })?;
        if correlation_id != front.correlation_id {
            self.broken = true;
            return Err(self.protocol_error(
                front.api_key,
                front.api_version,
                format!(
                    "correlation id {correlation_id} but {} was expected",
                    front.correlation_id
                ),
            ));
        }
        Ok(r.rest())
    }

    fn decode_body<T: Message>(&mut self, body: Bytes, key: ApiKey, version: i16) -> Result<T> {
        T::decode(body, version).map_err(|e| {
            // The frame was whole, so the stream is still in step; only this response is lost.
            self.protocol_error(key, version, format!("body: {e}"))
        })
    }

    /// One whole frame body (without its size prefix), read by `deadline`.
    async fn read_frame(
        &mut self,
        deadline: Instant,
        wait: Duration,
        front: InFlight,
    ) -> Result<Bytes> {
        let op = || {
            format!(
                "waiting for the {:?} v{} response (correlation id {})",
                front.api_key, front.api_version, front.correlation_id
            )
        };
        let limits = FrameLimits {
            body_bytes_max: self.options.response_bytes_max,
        };
        loop {
            match split_frame(&mut self.read_buf, limits) {
                Ok(Some(body)) => return Ok(body),
                Ok(None) => {}
                Err(e) => {
                    return Err(self.protocol_error(
                        front.api_key,
                        front.api_version,
                        format!("response {e} (response_bytes_max)"),
                    ))
                }
            }
            // The prefix was accepted above; reserve the rest of the frame, or a read chunk
            // while the size is not known yet.
            let missing = match check_frame(&self.read_buf, limits) {
                Ok(FrameStatus::Incomplete {
                    frame_bytes: Some(n),
                }) => n - self.read_buf.len(),
                _ => READ_CHUNK_BYTES,
            };
            self.read_buf.reserve(missing);
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    op: op(),
                    addr: self.addr,
                    after: wait,
                });
            }
            let buf = std::mem::take(&mut self.read_buf);
            let (res, buf) = self.read_some(buf, deadline - now).await;
            self.read_buf = buf;
            match res {
                Ok(0) => {
                    return Err(ClientError::Closed {
                        addr: self.addr,
                        op: op(),
                    })
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(ClientError::Timeout {
                        op: op(),
                        addr: self.addr,
                        after: wait,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ClientError::Io {
                        op: "recv",
                        addr: self.addr,
                        source,
                    })
                }
            }
        }
    }

    fn protocol_error(&self, api_key: ApiKey, api_version: i16, reason: String) -> ClientError {
        ClientError::Protocol {
            addr: self.addr,
            api_key,
            api_version,
            reason,
        }
    }
}

fn encode_error(api_key: ApiKey, version: i16, e: impl std::fmt::Display) -> ClientError {
    ClientError::InvalidArgument(format!("cannot encode {api_key:?} v{version}: {e}"))
}

/// A rustls client configuration that trusts the CA certificates of the PEM file `ca` (TLS 1.3
/// and 1.2, ring's cipher suites), without a client certificate: for `ConnectOptions::tls`.
pub fn tls_client_config(
    ca: &std::path::Path,
) -> std::result::Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(ca).map_err(|e| format!("tls ca {}: {e}", ca.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("tls ca {}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("tls ca {}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("tls ca {}: no CERTIFICATE in it", ca.display()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| format!("tls: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// This client's (api_key, min, max) for `api_key`.
pub fn client_range(api_key: ApiKey) -> (ApiKey, i16, i16) {
    CLIENT_APIS
        .iter()
        .copied()
        .find(|(k, _, _)| *k == api_key)
        .unwrap_or((api_key, 0, -1))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::thread;

    use super::*;
    use crate::cli;
    use ringlog_protocol::messages::{
        ApiVersion, FetchTopic, FetchableTopicResponse, ListOffsetsPartitionResponse,
        MetadataRequest, MetadataResponse, MetadataResponsePartition, MetadataResponseTopic,
        ProduceRequest, TopicProduceData, TopicProduceResponse,
    };
    use ringlog_protocol::{messages, Request, RequestHeader, Response};

    #[test]
    fn client_ranges_lie_inside_the_definitions() {
        for &(key, lo, hi) in CLIENT_APIS {
            let defined = messages::defined_versions(key).expect("a defined API");
            assert!(lo <= hi, "{key:?}");
            assert!(
                defined.contains(lo) && defined.contains(hi),
                "{key:?} {lo}..={hi}"
            );
            assert_eq!(client_range(key), (key, lo, hi));
        }
        // The client names topics, and reads one offset per partition.
        let (_, _, fetch_hi) = client_range(ApiKey::Fetch);
        assert!(FetchTopic::carries("topic", fetch_hi));
        assert!(FetchableTopicResponse::carries("topic", fetch_hi));
        let (_, _, produce_hi) = client_range(ApiKey::Produce);
        assert!(TopicProduceData::carries("name", produce_hi));
        assert!(TopicProduceResponse::carries("name", produce_hi));
        let (_, list_lo, _) = client_range(ApiKey::ListOffsets);
        assert!(ListOffsetsPartitionResponse::carries("offset", list_lo));
        assert_eq!(client_range(ApiKey::Heartbeat), (ApiKey::Heartbeat, 0, -1));
    }

    fn read_request(s: &mut std::net::TcpStream) -> (RequestHeader, Request) {
        let mut size = [0u8; 4];
        s.read_exact(&mut size).unwrap();
        let mut body = vec![0; i32::from_be_bytes(size) as usize];
        s.read_exact(&mut body).unwrap();
        ringlog_protocol::decode_request(Bytes::from(body)).unwrap()
    }

    fn reply(s: &mut std::net::TcpStream, header: &RequestHeader, response: Response) {
        let mut out = BytesMut::new();
        ringlog_protocol::encode_response(header, &response, &mut out).unwrap();
        s.write_all(&out).unwrap();
    }

    fn api(api_key: ApiKey, min_version: i16, max_version: i16) -> ApiVersion {
        ApiVersion {
            api_key: api_key as i16,
            min_version,
            max_version,
        }
    }

    /// A broker that refuses ApiVersions v3 (as an old Kafka does), then answers a Metadata
    /// request, then answers one with the wrong correlation id.
    fn old_broker(listener: std::net::TcpListener) {
        let (mut s, _) = listener.accept().unwrap();
        let (header, request) = read_request(&mut s);
        assert_eq!(header.api_key, ApiKey::ApiVersions);
        assert_eq!(header.api_version, 3);
        assert_eq!(header.client_id.as_deref(), Some("ringlog"));
        let Request::ApiVersions(r) = request else {
            panic!("{request:?}")
        };
        assert_eq!(&*r.client_software_name, "ringlog");
        let apis = vec![
            api(ApiKey::Produce, 3, 7),
            api(ApiKey::Metadata, 1, 9),
            api(ApiKey::ApiVersions, 0, 2),
        ];
        // Error 35 goes with a v0 body, whatever version was asked.
        let v0 = RequestHeader {
            api_version: 0,
            ..header
        };
        let refusal = messages::ApiVersionsResponse {
            error_code: error::UNSUPPORTED_VERSION,
            api_keys: apis.clone(),
            ..Default::default()
        };
        reply(&mut s, &v0, refusal.into());

        let (header, _) = read_request(&mut s);
        assert_eq!(
            (header.api_key, header.api_version),
            (ApiKey::ApiVersions, 2)
        );
        let accepted = messages::ApiVersionsResponse {
            api_keys: apis,
            ..Default::default()
        };
        reply(&mut s, &header, accepted.into());

        let (header, request) = read_request(&mut s);
        assert_eq!((header.api_key, header.api_version), (ApiKey::Metadata, 9));
        let Request::Metadata(r) = request else {
            panic!("{request:?}")
        };
        let names: Vec<_> = r.topics.iter().flatten().map(|t| t.name.clone()).collect();
        assert_eq!(names, [Some(Str::from("b")), Some(Str::from("a"))]);
        assert!(r.allow_auto_topic_creation);
        let partition = |partition_index| MetadataResponsePartition {
            partition_index,
            ..Default::default()
        };
        let metadata = MetadataResponse {
            topics: vec![
                MetadataResponseTopic {
                    name: Some("b".into()),
                    partitions: vec![partition(1), partition(0)],
                    ..Default::default()
                },
                MetadataResponseTopic {
                    name: Some("a".into()),
                    error_code: error::UNKNOWN_TOPIC_OR_PARTITION,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        reply(&mut s, &header, metadata.clone().into());

        let (header, request) = read_request(&mut s);
        let Request::Metadata(r) = request else {
            panic!("{request:?}")
        };
        assert_eq!(r.topics, None);
        let wrong = RequestHeader {
            correlation_id: header.correlation_id + 1,
            ..header
        };
        reply(&mut s, &wrong, metadata.into());
    }

    /// Body bound of the framing test: small, so an oversized prefix is cheap to send.
    const SMALL_RESPONSE_BYTES_MAX: u32 = 4096;

    /// Answers ApiVersions, then two pipelined Metadata requests with both responses dribbled
    /// out 3 bytes at a time, then a third with a size prefix above the client's bound.
    fn dribbling_broker(listener: std::net::TcpListener) {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let (header, _) = read_request(&mut s);
        let apis = vec![api(ApiKey::Metadata, 1, 9), api(ApiKey::ApiVersions, 0, 3)];
        let versions = messages::ApiVersionsResponse {
            api_keys: apis,
            ..Default::default()
        };
        reply(&mut s, &header, versions.into());
        let mut out = BytesMut::new();
        for _ in 0..2 {
            let (header, _) = read_request(&mut s);
            ringlog_protocol::encode_response(
                &header,
                &MetadataResponse::default().into(),
                &mut out,
            )
            .unwrap();
        }
        for piece in out.chunks(3) {
            s.write_all(piece).unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        let _ = read_request(&mut s);
        s.write_all(&(SMALL_RESPONSE_BYTES_MAX as i32 + 1).to_be_bytes())
            .unwrap();
        // Hold the socket open until the client has given up on the frame.
        let _ = s.read(&mut [0u8; 1]);
    }

    #[test]
    fn response_frames_are_split_and_bounded_by_the_protocol_framer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let broker = thread::spawn(move || dribbling_broker(listener));
        ringlog_runtime::block_on(&cli::runtime_config(), async move {
            let options = ConnectOptions {
                request_timeout: Duration::from_secs(5),
                response_bytes_max: SMALL_RESPONSE_BYTES_MAX,
                ..ConnectOptions::default()
            };
            let mut conn = Connection::connect_with(addr, options).await.unwrap();
            conn.send(&MetadataRequest::default(), 9).await.unwrap();
            conn.send(&MetadataRequest::default(), 9).await.unwrap();
            for _ in 0..2 {
                let r = conn.recv::<MetadataRequest>().await.unwrap();
                assert_eq!(r, MetadataResponse::default());
            }
            conn.send(&MetadataRequest::default(), 9).await.unwrap();
            let e = conn.recv::<MetadataRequest>().await.unwrap_err();
            assert!(matches!(e, ClientError::Protocol { .. }), "{e}");
            assert!(
                e.to_string().contains("exceeds") && e.to_string().contains("response_bytes_max"),
                "{e}"
            );
            assert!(matches!(
                conn.metadata(&[], false).await,
                Err(ClientError::Broken { .. })
            ));
        })
        .unwrap();
        broker.join().unwrap();
    }

    #[test]
    fn negotiates_down_and_checks_every_response() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let broker = thread::spawn(move || old_broker(listener));
        ringlog_runtime::block_on(&cli::runtime_config(), async move {
            let options = ConnectOptions {
                request_timeout: Duration::from_secs(5),
                ..ConnectOptions::default()
            };
            let mut conn = Connection::connect_with(addr, options).await.unwrap();
            assert_eq!(conn.version(ApiKey::ApiVersions).unwrap(), 2);
            assert_eq!(conn.version(ApiKey::Metadata).unwrap(), 9);
            assert_eq!(conn.version(ApiKey::Produce).unwrap(), 7);
            assert_eq!(conn.broker_range(ApiKey::Fetch), None);
            let e = conn.version(ApiKey::Fetch).unwrap_err();
            assert_eq!(e.to_string(), "the broker does not serve Fetch");

            // Versions the definitions do not cover, and mismatched recv, are refused locally.
            let e = conn
                .send(&MetadataRequest::default(), 13)
                .await
                .unwrap_err();
            assert!(matches!(e, ClientError::InvalidArgument(_)), "{e}");
            assert_eq!(conn.in_flight(), 0);
            assert!(matches!(
                conn.recv::<MetadataRequest>().await,
                Err(ClientError::NothingInFlight)
            ));

            let topics = conn.metadata(&["b", "a"], true).await.unwrap();
            assert_eq!(topics.len(), 2);
            assert_eq!((topics[0].name.as_str(), topics[0].error_code), ("a", 3));
            assert_eq!(topics[1].name, "b");
            let indices: Vec<i32> = topics[1].partitions.iter().map(|p| p.partition).collect();
            assert_eq!(indices, [0, 1]);

            conn.send(&MetadataRequest::default(), 9).await.unwrap();
            let e = conn.recv::<ProduceRequest>().await.unwrap_err();
            assert!(e.to_string().contains("answers Metadata"), "{e}");
            let e = conn.recv::<MetadataRequest>().await.unwrap_err();
            assert!(
                e.to_string()
                    .contains("correlation id 4 but 3 was expected"),
                "{e}"
            );
            assert!(matches!(
                conn.metadata(&[], false).await,
                Err(ClientError::Broken { .. })
            ));
        })
        .unwrap();
        broker.join().unwrap();
    }
}
