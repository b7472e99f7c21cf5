//! One client connection: read whole frames, handle requests, write responses in request order.
//!
//! Produce requests are pipelined: once a Produce's appends are under way (validated here and
//! handed to the partitions' owners, [`handlers::produce::dispatch`]), the next frame is read
//! while the owners write, up to [`PIPELINED_PRODUCES_MAX`] Produce requests per connection, so
//! one producer connection keeps the connection's shard (network, decoding, validation) and the
//! owner's (the write) busy at once. Appends reach each partition in request order, and a
//! separate writer answers in request order. Every other request is handled as Kafka handles all
//! of them, alone: the responses before it are written first, and the next frame is read only
//! after its own response was written. A pipelined frame beyond the first holds a reservation of
//! the memory budget (also a small one), so pipelining never adds unbudgeted memory.
//!
//! Frames up to [`READ_CHUNK_BYTES`] are received into the connection's standing buffer. A larger
//! frame first reserves its size from the broker's memory budget (`queued_max_request_bytes`,
//! see [`crate::limits`]) as soon as its size prefix has arrived, and is then received into a
//! buffer of exactly its size; the reservation is held until its response has been written.
//! While the budget is spent the connection stops reading, as Kafka mutes the channel.
//!
//! # Invariants
//! - The standing buffer never holds more than 2 x [`READ_CHUNK_BYTES`]; a frame over
//!   [`READ_CHUNK_BYTES`] is held in a buffer of its own size, only with a budget reservation of
//!   that size; a frame whose size prefix exceeds `request_bytes_max` (or is negative) closes the
//!   connection before anything is allocated for it.
//! - The connection's phase ([`Phase`]) says which deadline applies: idle between requests,
//!   frame-read while a started frame arrives, none while a request is handled or waits for the
//!   budget, idle-since-progress while a response is written.
//! - A request that cannot be decoded gets the answer Kafka gives (ApiVersions: the v0
//!   UNSUPPORTED_VERSION reply) or closes the connection; either way it is counted in
//!   `ringlog_requests_rejected_total` and logged by the shard's rate-limited rejection log
//!   ([`crate::metrics::reject_log`]); other connections are unaffected.
//! - A request over a client quota ([`crate::quota`]) is answered with its throttle time (at
//!   once for clients that hold off themselves, KIP-219; after the throttle time for older
//!   versions), and the connection reads no further request until the throttle time passed
//!   (Kafka's muted channel).
//! - Everything the connection logs is inside its `conn` span (shard, connection number, peer,
//!   client id once a request named one).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::handlers;
use super::shard::ShardState;
use crate::acl::Operation;
use crate::auth::{Principal, Session};
use crate::limits::{Conn, Phase, Reservation, ShardLimits, UNBUDGETED_BYTES_MAX};
use crate::metrics::{RejectLog, RejectReason};
use crate::protocol::frame::{check_frame, split_frame, FrameLimits, FrameStatus};
use crate::protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    AddPartitionsToTxnResult, DescribeDelaysResponse, DescribeLogDirsResponse,
    DescribeShareStateResponse, DescribeViewsResponse, EndTxnResponse, FindCoordinatorRequest,
    HeartbeatResponse, InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse,
    OffsetCommitResponse, SyncGroupResponse,
};
use crate::protocol::{
    decode_request, encode_response, error, versions, ApiKey, DecodeError, Request, RequestHeader,
    Response,
};
use crate::quota::rate::{ConnQuotas, Enforcer, PollTimed};
use crate::quota::Measured;
use crate::runtime::future::{select, Either};
use crate::runtime::net::TcpStream;
use crate::runtime::sync::Notify;
use crate::tls::transport::{Established, TlsContext, TlsIo};
use crate::transfer::{Piece, Transfer};

/// Size of the standing read buffer, and so the largest frame read without a budget
/// reservation: each recv asks for at least this much room. Kafka clients' requests other than
/// Produce, and small Produce requests, fit.
pub const READ_CHUNK_BYTES: usize = UNBUDGETED_BYTES_MAX;

/// A response body to encode (boxed: it is large and most outcomes are not).
fn respond(resp: impl Into<Response>) -> Outcome {
    Outcome::Respond(Box::new(resp.into()))
}

/// The response, or (`Err`) close the connection, saying why in the log.
fn respond_or_close<R: Into<Response>>(resp: Result<R, String>) -> Outcome {
    match resp {
        Ok(r) => respond(r),
        Err(why) => Outcome::Close(why),
    }
}

/// The response, or (`Err`) close the connection, saying why in the log.
enum Outcome {
    Respond(Box<Response>),
    /// Respond, then close the connection (a failed login), saying why in the log.
    RespondThenClose(Box<Response>, String),
    Pieces(Vec<Piece>),
    NoResponse,
    Close(String),
}

/// A whole request frame (without its size prefix) and the budget it holds until its response
/// has been written.
struct Frame {
    body: Bytes,
    _budget: Option<Reservation>,
}

/// Produce requests a connection may have under way and not yet answered (Kafka's producers
/// default to `max.in.flight.requests.per.connection` = 5). Each one beyond the first holds a
/// reservation of the memory budget for its frame.
pub const PIPELINED_PRODUCES_MAX: usize = 5;

/// A request read and accepted, waiting for its response to be written.
struct Job {
    work: Work,
    /// When its frame was read whole (the start of its latency).
    started: Instant,
    /// The frame's budget reservation, released once the response was written.
    _budget: Option<Reservation>,
    /// The frame's size (a Produce's bytes against its quota).
    frame_bytes: usize,
    /// Time spent on the shard's thread so far (measured only while quotas are enforced).
    spent: Duration,
}

enum Work {
    /// A Produce whose appends are under way.
    Produce {
        header: RequestHeader,
        acks: i16,
        dispatched: handlers::produce::Dispatched,
        /// The partitions the caller may not write to, answered with the others.
        denied: handlers::authorize::ProduceDenied,
    },
    /// Any other request, handled by the writer once everything before it was answered.
    Alone(RequestHeader, Request),
    /// An ApiVersions request of a version this broker does not know: the v0 answer.
    ApiVersionsUnsupported { correlation_id: i32 },
}

/// The jobs between the connection's reader and its writer.
#[derive(Default)]
struct Pipeline {
    jobs: RefCell<VecDeque<Job>>,
    /// The writer holds a job (handling it or writing its response).
    writing: Cell<bool>,
    /// The reader is done: the writer answers what is queued and stops.
    closed: Cell<bool>,
    /// A job was queued, taken or finished, or the reader closed.
    changed: Notify,
    /// Throttled over a quota: no request is read before this instant.
    muted_until: Cell<Option<Instant>>,
    /// The quotas that apply to this connection's requests.
    quotas: ConnQuotas,
}

impl Pipeline {
    /// Jobs queued or being answered.
    fn in_progress(&self) -> usize {
        self.jobs.borrow().len() + usize::from(self.writing.get())
    }

    fn push(&self, job: Job) {
        self.jobs.borrow_mut().push_back(job);
        self.changed.notify_waiters();
    }

    /// Waits until at most `n` jobs are in progress.
    async fn wait_until_at_most(&self, n: usize) {
        loop {
            let changed = self.changed.notified();
            if self.in_progress() <= n {
                return;
            }
            changed.await;
        }
    }

    /// The next job, or `None` once the reader closed and everything was answered.
    async fn next(&self) -> Option<Job> {
        loop {
            let changed = self.changed.notified();
            if let Some(job) = self.jobs.borrow_mut().pop_front() {
                self.writing.set(true);
                return Some(job);
            }
            if self.closed.get() {
                return None;
            }
            changed.await;
        }
    }

    fn finished(&self) {
        self.writing.set(false);
        self.changed.notify_waiters();
    }

    fn close(&self) {
        self.closed.set(true);
        self.changed.notify_waiters();
    }
}

/// Serve one connection until the peer closes, an error occurs, a deadline passes (the shard's
/// reaper shuts the socket down), or the broker shuts down. Requests already accepted are
/// answered before the connection ends (unless writing fails).
pub async fn serve(
    shard: Rc<ShardState>,
    limits: Rc<ShardLimits>,
    conn: Rc<Conn>,
    listener: std::sync::Arc<crate::auth::ListenerInfo>,
    tls: Option<std::sync::Arc<TlsContext>>,
) {
    use tracing::Instrument;
    let number = shard.metrics.connection_opened();
    let peer = conn
        .peer
        .map_or_else(|| "unknown".to_string(), |p| p.to_string());
    let span = tracing::info_span!(
        "conn",
        shard = shard.id,
        number,
        peer = %peer,
        client_id = tracing::field::Empty
    );
    async {
        // TLS listeners: the handshake first, bounded by the frame-read deadline from the
        // accept (a silent or stalling client is shut down by the reaper).
        let (transport, principal, first, kernel_tls) = match &tls {
            None => (Transport::Plain, None, Vec::new(), false),
            Some(ctx) => {
                conn.enter(Phase::Frame, Instant::now());
                match crate::tls::transport::handshake(ctx, &conn.stream).await {
                    Ok(Established::Kernel {
                        principal,
                        plaintext,
                        ..
                    }) => (Transport::Plain, Some(principal), plaintext, true),
                    Ok(Established::User { principal, io, .. }) => {
                        (Transport::Tls(io), Some(principal), Vec::new(), false)
                    }
                    Err(why) => {
                        if conn.expired().is_none() {
                            tracing::debug!("closing the connection: {why}");
                        } else {
                            tracing::debug!(
                                "closing the connection: tls handshake not done \
                                             within frame-read-timeout-ms ({why})"
                            );
                        }
                        return;
                    }
                }
            }
        };
        conn.enter(Phase::Idle, Instant::now());
        let mut session = Session::new(listener, conn.peer);
        if let Some(principal) = principal {
            session = session.with_tls_principal(principal);
        }
        session.shares().id.set((shard.id, number));
        let streams = Streams {
            transport: &transport,
            first,
            kernel_tls,
        };
        serve_in_span(shard.clone(), limits, conn.clone(), &session, streams).await;
        // Kafka ends the share sessions of a closed connection and releases their records.
        session.shares().closed(&shard);
        if let Transport::Tls(io) = &transport {
            // close_notify, as Kafka's SslTransportLayer; bounded: the peer may not read.
            let _ = crate::runtime::time::timeout(
                std::time::Duration::from_millis(TLS_CLOSE_NOTIFY_MS),
                io.close(&conn.stream),
            )
            .await;
        }
    }
    .instrument(span)
    .await;
    shard.metrics.connection_closed();
}

/// How long a closing TLS connection tries to send its close_notify alert.
pub const TLS_CLOSE_NOTIFY_MS: u64 = 100;

/// How a connection's bytes reach the socket: as they are (PLAINTEXT, SASL_PLAINTEXT, and TLS
/// listeners whose records the kernel makes after the hand-off), or through the user-space TLS
/// record layer.
enum Transport {
    Plain,
    /// Boxed: a rustls session is large, and most connections are not TLS.
    Tls(Box<TlsIo>),
}

impl Transport {
    /// As [`TcpStream::recv`]: request bytes into the spare capacity of `buf`.
    async fn recv(&self, stream: &TcpStream, buf: BytesMut) -> (std::io::Result<usize>, BytesMut) {
        match self {
            Transport::Plain => stream.recv(buf).await,
            Transport::Tls(io) => io.recv(stream, buf).await,
        }
    }
}

/// How a connection's bytes move after the accept (and the TLS handshake).
struct Streams<'t> {
    transport: &'t Transport,
    /// Request bytes already decrypted (before a kTLS hand-off): read before the socket.
    first: Vec<u8>,
    /// The socket carries kernel TLS.
    kernel_tls: bool,
}

async fn serve_in_span(
    shard: Rc<ShardState>,
    limits: Rc<ShardLimits>,
    conn: Rc<Conn>,
    session: &Session,
    streams: Streams<'_>,
) {
    let Streams {
        transport,
        first,
        kernel_tls,
    } = streams;
    // Responses go out in pieces (a header, file ranges, a tail): Nagle would hold a small tail
    // back until the client's delayed ACK (~40 ms).
    let _ = conn.stream.set_nodelay(true);
    let pipeline = Pipeline::default();
    let transfer = Transfer::new(shard.config.transfer, conn.peer)
        .with_limits(limits.clone(), conn.clone())
        .with_metrics(shard.clone())
        .with_kernel_tls(kernel_tls);
    let reader = std::pin::pin!(read_requests(
        &shard, &limits, &conn, &pipeline, session, transport, first
    ));
    let mut writer = std::pin::pin!(write_responses(
        &shard, &conn, &pipeline, transfer, session, transport
    ));
    // The writer is polled first: answers that are ready go out before the reader asks the
    // socket for more (a receive issued first mostly finds half a request, or nothing yet).
    if let Either::Right(()) = select(writer.as_mut(), reader).await {
        pipeline.close();
        writer.await;
    }
}

/// The reader: frames in, jobs out, in order; Produce requests dispatched as they come.
async fn read_requests(
    shard: &Rc<ShardState>,
    limits: &ShardLimits,
    conn: &Conn,
    pipeline: &Pipeline,
    session: &Session,
    transport: &Transport,
    first: Vec<u8>,
) {
    let frame_limits = FrameLimits {
        body_bytes_max: shard.config.request_bytes_max,
    };
    let mut reader = FrameReader::new(transport);
    // Request bytes decrypted before a kTLS hand-off come before the socket's.
    reader.standing.extend_from_slice(&first);
    let span = tracing::Span::current();
    let mut client_id_known = false;
    loop {
        let Some(frame) = reader.read_frame(shard, limits, conn, frame_limits).await else {
            return;
        };
        if let Some(until) = pipeline.muted_until.take() {
            // Muted (Kafka's throttled channel): a request that arrives within the throttle
            // time waits for its end before it is handled, with no deadline meanwhile (the
            // client holds off as long; shutdown ends the wait). Held here rather than left in the
            // socket because a Produce's next frame is often being received already.
            conn.enter(Phase::Busy, Instant::now());
            let mute = crate::runtime::time::sleep_until(until);
            if let Either::Right(()) = select(mute, shard.shutdown.notified()).await {
                return;
            }
        }
        let started = Instant::now();
        let Frame { body, _budget } = frame;
        let frame_bytes = body.len();
        shard.metrics.bytes_in(frame_bytes + 4);
        let decoded = decode_request(body);
        if let (false, Ok((header, _))) = (client_id_known, &decoded) {
            if let Some(id) = &header.client_id {
                span.record("client_id", &**id);
                client_id_known = true;
            }
        }
        // Before authentication, only the SASL exchange's requests (Kafka closes the
        // connection on anything else). Responses before this one were all written, so the
        // session is up to date.
        if let Ok((header, _)) = &decoded {
            if let Err(why) = session.admit(header.api_key) {
                tracing::debug!("closing the connection: {why}");
                return;
            }
        }
        let work = match decoded {
            Ok((header, Request::Produce(r))) => {
                // Behind other Produce requests only with a reservation for this frame.
                let mut budget = _budget;
                if budget.is_none() && pipeline.in_progress() > 0 {
                    budget = limits.broker.memory.try_reserve(frame_bytes as u64);
                    if budget.is_none() {
                        conn.enter(Phase::Sending, Instant::now());
                        pipeline.wait_until_at_most(0).await;
                        conn.enter(Phase::Busy, Instant::now());
                    }
                }
                let acks = r.acks;
                let mut r = r;
                let denied = handlers::authorize::produce(&session.access(&shard.acls), &mut r);
                let spent = std::cell::Cell::new(Duration::ZERO);
                let dispatched = if shard.quotas.enforced() {
                    PollTimed::new(Box::pin(handlers::produce::dispatch(shard, r)), &spent).await
                } else {
                    handlers::produce::dispatch(shard, r).await
                };
                pipeline.push(Job {
                    work: Work::Produce {
                        header,
                        acks,
                        dispatched,
                        denied,
                    },
                    started,
                    _budget: budget,
                    frame_bytes,
                    spent: spent.get(),
                });
                if pipeline.in_progress() >= PIPELINED_PRODUCES_MAX {
                    conn.enter(Phase::Sending, Instant::now());
                    pipeline
                        .wait_until_at_most(PIPELINED_PRODUCES_MAX - 1)
                        .await;
                } else if !reader.has_whole_frame(frame_limits) {
                    // Let the appends and the writer run before asking the socket for more: a
                    // receive issued right away mostly finds nothing yet, and an idle shard
                    // parks (a context switch) where it could have written meanwhile.
                    crate::runtime::yield_now().await;
                }
                continue;
            }
            Ok((header, request)) => Work::Alone(header, request),
            Err(DecodeError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                api_version,
                correlation_id,
            }) => {
                RejectLog::reject(
                    &shard.metrics,
                    RejectReason::UnsupportedVersion,
                    &format_args!(
                        "ApiVersions v{api_version} is not served; answered with the v0 \
                         UNSUPPORTED_VERSION reply"
                    ),
                );
                Work::ApiVersionsUnsupported { correlation_id }
            }
            Err(e) => {
                let reason = match &e {
                    DecodeError::HeaderTooShort { .. } => RejectReason::HeaderTooShort,
                    DecodeError::UnknownApiKey { .. } => RejectReason::UnknownApi,
                    DecodeError::UnsupportedVersion { .. } => RejectReason::UnsupportedVersion,
                    DecodeError::Malformed { .. } => RejectReason::Malformed,
                };
                RejectLog::reject(
                    &shard.metrics,
                    reason,
                    &format_args!("{e}; closing the connection"),
                );
                return;
            }
        };
        // Alone: after everything before it, and the next frame only after its response.
        conn.enter(Phase::Sending, Instant::now());
        pipeline.wait_until_at_most(0).await;
        pipeline.push(Job {
            work,
            started,
            _budget,
            frame_bytes,
            spent: Duration::ZERO,
        });
        pipeline.wait_until_at_most(0).await;
    }
}

/// The writer: answers jobs in order. Returns when the reader closed and everything queued was
/// answered, or when the connection must close.
async fn write_responses(
    shard: &Rc<ShardState>,
    conn: &Conn,
    pipeline: &Pipeline,
    mut transfer: Transfer,
    session: &Session,
    transport: &Transport,
) {
    let stream = &conn.stream;
    let peer = conn.peer;
    let mut out = BytesMut::with_capacity(4096);
    let metrics = &shard.metrics;
    while let Some(job) = pipeline.next().await {
        let spent = std::cell::Cell::new(job.spent);
        let (header, mut outcome, throttle_ms) = match job.work {
            Work::Produce {
                header,
                acks,
                dispatched,
                denied,
            } => {
                let mut resp = dispatched.response().await;
                denied.into(&mut resp);
                let outcome = produce_outcome(shard, acks, resp);
                let quota = enforcer(shard, session, &pipeline.quotas, &header);
                let throttle_ms = quota.map_or(0, |q| {
                    q.record(Measured::Produce, job.frame_bytes as f64)
                        .max(q.record(Measured::Request, time_percent(&spent)))
                });
                (header, outcome, throttle_ms)
            }
            Work::Alone(header, request) => {
                conn.enter(Phase::Busy, Instant::now());
                let quota = enforcer(shard, session, &pipeline.quotas, &header);
                let outcome = match &quota {
                    Some(q) => {
                        let handled = handle(shard, session, &header, request, Some(q));
                        PollTimed::new(Box::pin(handled), &spent).await
                    }
                    None => handle(shard, session, &header, request, None).await,
                };
                let throttle_ms = quota.map_or(0, |q| {
                    let mut ms = q.throttled_ms();
                    if crate::quota::rate::request_quota_applies(header.api_key) {
                        ms = ms.max(q.record(Measured::Request, time_percent(&spent)));
                    }
                    ms
                });
                conn.enter(Phase::Sending, Instant::now());
                (header, outcome, throttle_ms)
            }
            Work::ApiVersionsUnsupported { correlation_id } => {
                versions::encode_api_versions_unsupported(correlation_id, &mut out);
                metrics.bytes_out(out.len() as u64);
                if !send_out(stream, transport, &mut out).await {
                    return;
                }
                metrics.error(ApiKey::ApiVersions as i16, error::UNSUPPORTED_VERSION);
                metrics.request_done(ApiKey::ApiVersions as i16, job.started);
                pipeline.finished();
                continue;
            }
        };
        let api = header.api_key as i16;
        if throttle_ms > 0 {
            if let Outcome::Respond(resp) = &mut outcome {
                let ms = i32::try_from(throttle_ms).unwrap_or(i32::MAX);
                crate::quota::rate::set_throttle_time(resp, ms);
            }
            // Older clients do not hold off by themselves: the answer waits instead.
            if !crate::quota::rate::client_throttles(header.api_key, header.api_version) {
                conn.enter(Phase::Busy, Instant::now());
                let wait = crate::runtime::time::sleep(Duration::from_millis(throttle_ms));
                // Shutdown cuts the wait short: the answer goes out at once.
                let _ = select(wait, shard.shutdown.notified()).await;
                conn.enter(Phase::Sending, Instant::now());
            }
        }
        match outcome {
            Outcome::Respond(resp) => {
                if let Err(e) = encode_response(&header, &resp, &mut out) {
                    tracing::error!(?peer, "closing connection: {e}");
                    return;
                }
                metrics.bytes_out(out.len() as u64);
                crate::metrics::response_errors(&resp, |code| metrics.error(api, code));
                if !send_out(stream, transport, &mut out).await {
                    return;
                }
            }
            Outcome::Pieces(pieces) => {
                metrics.bytes_out(pieces.iter().map(Piece::len).sum());
                let sent = match transport {
                    Transport::Plain => transfer.send(stream, pieces).await,
                    Transport::Tls(io) => transfer.send_through(stream, io, pieces).await,
                };
                if let Err(e) = sent {
                    if conn.expired().is_none() {
                        tracing::debug!(?peer, "fetch transfer failed: {e}");
                    }
                    return;
                }
            }
            Outcome::RespondThenClose(resp, why) => {
                if let Err(e) = encode_response(&header, &resp, &mut out) {
                    tracing::error!(?peer, "closing connection: {e}");
                    return;
                }
                metrics.bytes_out(out.len() as u64);
                crate::metrics::response_errors(&resp, |code| metrics.error(api, code));
                let _ = send_out(stream, transport, &mut out).await;
                metrics.request_done(api, job.started);
                tracing::debug!(?peer, "closing connection: {why}");
                return;
            }
            Outcome::NoResponse => {}
            Outcome::Close(why) => {
                tracing::warn!(?peer, "closing connection: {why}");
                return;
            }
        }
        metrics.request_done(api, job.started);
        if throttle_ms > 0 {
            pipeline
                .muted_until
                .set(Some(Instant::now() + Duration::from_millis(throttle_ms)));
        }
        // The frame's budget reservation (`job._budget`) is released here, after the response.
        drop(job._budget);
        pipeline.finished();
    }
}

/// The receive side of a connection: the standing buffer for small frames (and the start of the
/// next frame, when a client pipelines), and the buffer of one large frame with its reservation.
struct FrameReader<'t> {
    standing: BytesMut,
    large: Option<(BytesMut, Reservation)>,
    transport: &'t Transport,
}

impl<'t> FrameReader<'t> {
    fn new(transport: &'t Transport) -> FrameReader<'t> {
        FrameReader {
            standing: BytesMut::with_capacity(READ_CHUNK_BYTES),
            large: None,
            transport,
        }
    }

    /// Receives until a whole frame is buffered and splits it off. `None` ends the connection:
    /// the peer closed, a receive failed (also: the reaper shut the socket down at a deadline),
    /// the size prefix is out of bounds, or the broker is shutting down while the connection is
    /// between requests or waiting for the budget.
    async fn read_frame(
        &mut self,
        shard: &ShardState,
        limits: &ShardLimits,
        conn: &Conn,
        frame_limits: FrameLimits,
    ) -> Option<Frame> {
        let peer = conn.peer;
        loop {
            let status = match check_frame(self.buffered(), frame_limits) {
                Ok(status) => status,
                Err(e) => {
                    RejectLog::reject(
                        &shard.metrics,
                        RejectReason::FrameSize,
                        &format_args!("{e}; closing the connection"),
                    );
                    return None;
                }
            };
            match status {
                FrameStatus::Complete { .. } => {
                    conn.enter(Phase::Busy, Instant::now());
                    return Some(self.split(frame_limits));
                }
                FrameStatus::Incomplete {
                    frame_bytes: Some(n),
                } if n > READ_CHUNK_BYTES && self.large.is_none() => {
                    // Reserve before the buffer grows; reading pauses meanwhile. The wait does
                    // not count against the frame's read deadline.
                    let paused = Instant::now();
                    let first_byte = match conn.phase() {
                        (Phase::Frame, since) => since,
                        _ => paused, // a pipelined frame: its bytes were already here
                    };
                    conn.enter(Phase::Busy, paused);
                    let reservation = match select(limits.reserve(n), shard.shutdown.notified())
                        .await
                    {
                        Either::Left(r) => r.expect("a frame over the standing buffer is budgeted"),
                        Either::Right(()) => return None,
                    };
                    conn.enter(Phase::Frame, first_byte + paused.elapsed());
                    let mut buf = BytesMut::with_capacity(n);
                    buf.extend_from_slice(&self.standing);
                    self.standing.clear();
                    self.large = Some((buf, reservation));
                    continue;
                }
                FrameStatus::Incomplete { frame_bytes } => {
                    if self.large.is_none() {
                        // Room in the standing buffer for the rest of a small frame, or for a
                        // chunk when the size is not known yet.
                        let want = frame_bytes
                            .map_or(READ_CHUNK_BYTES, |n| n.saturating_sub(self.standing.len()));
                        let room = self.standing.capacity() - self.standing.len();
                        if room < want.min(READ_CHUNK_BYTES) || room == 0 {
                            self.standing.reserve(READ_CHUNK_BYTES);
                        }
                    }
                }
            }
            let idle = self.large.is_none() && self.standing.is_empty();
            match conn.phase().0 {
                Phase::Idle if !idle => conn.enter(Phase::Frame, Instant::now()),
                Phase::Busy | Phase::Sending if idle => conn.enter(Phase::Idle, Instant::now()),
                Phase::Busy | Phase::Sending => conn.enter(Phase::Frame, Instant::now()),
                _ => {}
            }
            if idle && shard.shutting_down.get() {
                return None;
            }
            let buf = match &mut self.large {
                Some((buf, _)) => buf,
                None => &mut self.standing,
            };
            let recv = self.transport.recv(&conn.stream, std::mem::take(buf));
            // Shutdown interrupts only a connection that is between requests.
            let res = if idle {
                match select(recv, shard.shutdown.notified()).await {
                    Either::Left(r) => r,
                    Either::Right(()) => return None,
                }
            } else {
                recv.await
            };
            let (res, b) = res;
            *buf = b;
            match res {
                Ok(0) => return None, // peer closed, or the reaper shut the socket down
                Ok(_) => {
                    if idle {
                        conn.enter(Phase::Frame, Instant::now());
                    }
                }
                Err(e) => {
                    if conn.expired().is_none() {
                        tracing::debug!(?peer, "recv failed: {e}");
                    }
                    return None;
                }
            }
        }
    }

    /// The bytes received and not yet split off: the large frame's buffer while one is being
    /// received, else the standing buffer.
    fn buffered(&self) -> &[u8] {
        match &self.large {
            Some((buf, _)) => buf,
            None => &self.standing,
        }
    }

    /// Whether a whole frame is buffered already (the next `read_frame` needs no receive).
    fn has_whole_frame(&self, frame_limits: FrameLimits) -> bool {
        matches!(
            check_frame(self.buffered(), frame_limits),
            Ok(FrameStatus::Complete { .. })
        )
    }

    /// Split off the whole frame at the front of the buffer being filled.
    fn split(&mut self, frame_limits: FrameLimits) -> Frame {
        let whole = "check_frame said the frame is complete";
        match self.large.take() {
            Some((mut buf, reservation)) => {
                let body = split_frame(&mut buf, frame_limits)
                    .expect(whole)
                    .expect(whole);
                // The buffer was sized to the frame, so it holds nothing of the next one unless
                // the allocator rounded the capacity up; anything there is the next frame's.
                debug_assert!(self.standing.is_empty());
                self.standing.extend_from_slice(&buf);
                Frame {
                    body,
                    _budget: Some(reservation),
                }
            }
            None => Frame {
                body: split_frame(&mut self.standing, frame_limits)
                    .expect(whole)
                    .expect(whole),
                _budget: None,
            },
        }
    }
}

/// The quota enforcer of a request of this connection, or `None` while no quota is enforced.
fn enforcer<'a>(
    shard: &'a ShardState,
    session: &Session,
    quotas: &'a ConnQuotas,
    header: &'a RequestHeader,
) -> Option<Enforcer<'a>> {
    let user = || {
        session
            .principal()
            .unwrap_or_else(Principal::anonymous)
            .name
    };
    Enforcer::of(shard, quotas, user, header.client_id.as_deref())
}

fn time_percent(spent: &std::cell::Cell<Duration>) -> f64 {
    crate::quota::rate::time_as_percentage(spent.get())
}

async fn send_out(stream: &TcpStream, transport: &Transport, out: &mut BytesMut) -> bool {
    match transport {
        Transport::Plain => {
            let bytes = out.split().freeze();
            let (res, _) = stream.send_all(bytes).await;
            res.is_ok()
        }
        Transport::Tls(io) => {
            let ok = io.send(stream, out).await.is_ok();
            out.clear();
            ok
        }
    }
}

/// Handles one request of the connection whose authentication is `session`: its principal
/// ([`Session::principal`], `User:ANONYMOUS` on PLAINTEXT listeners) is who the authorizer
/// decides for, and its listener says which address Metadata and friends advertise.
async fn handle(
    shard: &Rc<ShardState>,
    session: &Session,
    header: &RequestHeader,
    request: Request,
    quota: Option<&Enforcer<'_>>,
) -> Outcome {
    let v = header.api_version;
    let advertised = session.listener().advertised();
    // `admit` let nothing else through before authentication.
    let principal = session.principal().unwrap_or_else(Principal::anonymous);
    // Every resource a request names is checked with Kafka's operations (handlers::authorize).
    let access = session.access(&shard.acls);
    let az = &access;
    match request {
        // Between SaslHandshake and the end of the SASL exchange Kafka refuses it and closes.
        Request::ApiVersions(r) => match session.refuse_api_versions() {
            Some(refusal) => sasl_outcome(refusal),
            None => respond(handlers::api_versions::handle(v, &r)),
        },
        Request::Metadata(r) => respond(handlers::metadata::handle(shard, az, advertised, r).await),
        // The reader dispatches Produce requests itself (pipelined); this arm keeps `handle`
        // an answer to every request.
        Request::Produce(mut r) => {
            let acks = r.acks;
            let denied = handlers::authorize::produce(az, &mut r);
            let dispatched = handlers::produce::dispatch(shard, r).await;
            let mut resp = dispatched.response().await;
            denied.into(&mut resp);
            produce_outcome(shard, acks, resp)
        }
        Request::Fetch(r) => match handlers::fetch::handle(shard, az, header, *r, quota).await {
            Ok(pieces) => Outcome::Pieces(pieces),
            Err(e) => Outcome::Close(format!("cannot frame fetch response: {e}")),
        },
        Request::ListOffsets(mut r) => {
            let denied = handlers::authorize::list_offsets(az, &mut r);
            let mut resp = handlers::list_offsets::handle(shard, r).await;
            denied.into(&mut resp);
            respond(resp)
        }
        Request::CreateTopics(mut r) => {
            let denied = handlers::authorize::create_topics(az, &mut r);
            let mut resp = handlers::create_topics::handle(shard, r).await;
            denied.into(&mut resp);
            respond(resp)
        }
        Request::DeleteTopics(mut r) => {
            let denied = handlers::authorize::delete_topics(shard, az, &mut r);
            let mut resp = handlers::delete_topics::handle(shard, r).await;
            denied.into(&mut resp);
            respond(resp)
        }
        // Consumer groups.
        Request::FindCoordinator(r) => {
            let key_type = r.key_type;
            if !FindCoordinatorRequest::carries("coordinator_keys", v) {
                if let Some(refused) =
                    handlers::authorize::find_coordinator_one(az, key_type, &r.key)
                {
                    return respond(refused);
                }
            }
            let mut resp = handlers::find_coordinator::handle(shard, advertised, v, r);
            handlers::authorize::find_coordinator(az, key_type, &mut resp);
            respond(resp)
        }
        Request::JoinGroup(r) => match az.group(Operation::Read, &r.group_id) {
            true => respond(
                handlers::join_group::handle(
                    shard,
                    v,
                    header.client_id.as_deref(),
                    az.client_host(),
                    *r,
                )
                .await,
            ),
            false => respond(JoinGroupResponse {
                error_code: error::GROUP_AUTHORIZATION_FAILED,
                generation_id: -1,
                ..Default::default()
            }),
        },
        Request::SyncGroup(r) => match az.group(Operation::Read, &r.group_id) {
            true => respond(handlers::sync_group::handle(shard, *r).await),
            false => respond(SyncGroupResponse {
                error_code: error::GROUP_AUTHORIZATION_FAILED,
                ..Default::default()
            }),
        },
        Request::Heartbeat(r) => match az.group(Operation::Read, &r.group_id) {
            true => respond(handlers::heartbeat::handle(shard, *r).await),
            false => respond(HeartbeatResponse {
                error_code: error::GROUP_AUTHORIZATION_FAILED,
                ..Default::default()
            }),
        },
        Request::LeaveGroup(r) => match az.group(Operation::Read, &r.group_id) {
            true => respond(handlers::leave_group::handle(shard, v, *r).await),
            false => respond(LeaveGroupResponse {
                error_code: error::GROUP_AUTHORIZATION_FAILED,
                ..Default::default()
            }),
        },
        Request::OffsetCommit(mut r) => {
            let denied = handlers::authorize::offset_commit(az, &mut r);
            let mut resp = if r.topics.is_empty() && !denied.is_empty() {
                OffsetCommitResponse::default()
            } else {
                handlers::offset_commit::handle(shard, *r).await
            };
            denied.into(&mut resp);
            respond(resp)
        }
        Request::OffsetFetch(r) => {
            let asked = handlers::authorize::offset_fetch_asked(az, v, &r);
            let mut resp = handlers::offset_fetch::handle(shard, v, *r).await;
            handlers::authorize::offset_fetch(az, v, &asked, &mut resp);
            respond(resp)
        }
        Request::DescribeGroups(mut r) => {
            let asked_ops = r.include_authorized_operations;
            let denied = handlers::authorize::describe_groups(az, &mut r.groups);
            let mut resp = handlers::describe_groups::handle(shard, r).await;
            denied.into_described(az, asked_ops, &mut resp.groups);
            respond(resp)
        }
        Request::ListGroups(r) => {
            let mut resp = handlers::list_groups::handle(shard, r).await;
            handlers::authorize::list_groups(az, &mut resp);
            respond(resp)
        }
        Request::DeleteGroups(mut r) => {
            let denied = handlers::authorize::delete_groups(az, &mut r.groups_names);
            let mut resp = handlers::delete_groups::handle(shard, r).await;
            denied.into_delete(&mut resp);
            respond(resp)
        }
        Request::OffsetDelete(mut r) => match handlers::authorize::offset_delete(az, &mut r) {
            Ok(denied) => {
                let mut resp = handlers::offset_delete::handle(shard, r).await;
                resp.topics.extend(denied);
                respond(resp)
            }
            Err(refused) => respond(refused),
        },
        Request::InitProducerId(r) => match handlers::authorize::init_producer_id(az, &r) {
            None => respond(handlers::init_producer_id::handle(shard, v, r).await),
            Some(code) => respond(InitProducerIdResponse {
                error_code: code,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            }),
        },
        Request::AddPartitionsToTxn(r) => {
            respond(add_partitions_to_txn_authorized(shard, az, v, *r).await)
        }
        Request::AddOffsetsToTxn(r) => match handlers::authorize::add_offsets_to_txn(az, &r) {
            None => respond(handlers::txn::add_offsets_to_txn(shard, v, *r).await),
            Some(code) => respond(AddOffsetsToTxnResponse {
                error_code: code,
                ..Default::default()
            }),
        },
        Request::EndTxn(r) => match handlers::authorize::end_txn(az, &r) {
            None => respond(handlers::txn::end_txn(shard, v, r).await),
            Some(code) => respond(EndTxnResponse {
                error_code: code,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            }),
        },
        Request::TxnOffsetCommit(mut r) => {
            let denied = handlers::authorize::txn_offset_commit(az, &mut r);
            let mut resp = handlers::txn::txn_offset_commit(shard, v, *r).await;
            denied.into(&mut resp);
            respond(resp)
        }
        Request::DescribeTransactions(r) => {
            let mut resp = handlers::txn::describe_transactions(shard, r).await;
            handlers::authorize::describe_transactions(az, &mut resp);
            respond(resp)
        }
        Request::ListTransactions(r) => {
            let mut resp = handlers::txn::list_transactions(shard, r).await;
            handlers::authorize::list_transactions(az, &mut resp);
            respond(resp)
        }
        Request::DescribeCluster(r) => {
            let asked_ops = r.include_cluster_authorized_operations;
            let mut resp = handlers::describe_cluster::handle(shard, advertised, r);
            if asked_ops && !az.everything() {
                resp.cluster_authorized_operations =
                    az.operations(crate::acl::ResourceType::Cluster, crate::acl::CLUSTER_NAME);
            }
            respond(resp)
        }
        Request::DescribeTopicPartitions(r) => {
            let asked_all = r.topics.is_empty();
            let mut resp = handlers::describe_topic_partitions::handle(shard, r);
            handlers::authorize::describe_topic_partitions(az, asked_all, &mut resp);
            respond(resp)
        }
        // ACLs (issue #20): a request Kafka cannot parse closes the connection, as in Kafka.
        // The ACL and SCRAM admin APIs need CLUSTER DESCRIBE / ALTER, as in Kafka (every
        // caller may on a broker whose listeners are all PLAINTEXT: see crate::acl).
        Request::DescribeAcls(r) => match az.cluster(Operation::Describe) {
            true => respond_or_close(handlers::describe_acls::handle(shard, &r)),
            false => respond(handlers::describe_acls::refused()),
        },
        Request::CreateAcls(r) => match az.cluster(Operation::Alter) {
            true => respond_or_close(handlers::create_acls::handle(shard, r).await),
            false => respond(handlers::create_acls::refused(&r)),
        },
        Request::DeleteAcls(r) => match az.cluster(Operation::Alter) {
            true => respond_or_close(handlers::delete_acls::handle(shard, r).await),
            false => respond(handlers::delete_acls::refused(&r)),
        },
        // SASL (issue #20): the session answers; a failed login closes the connection.
        Request::SaslHandshake(r) => sasl_outcome(session.handshake(shard, r)),
        Request::SaslAuthenticate(r) => sasl_outcome(session.authenticate(shard, r).await),
        // SCRAM credentials: CLUSTER DESCRIBE / ALTER, as Kafka.
        Request::DescribeUserScramCredentials(r) => match az.cluster(Operation::Describe) {
            true => respond(handlers::scram_credentials::describe(shard, &principal, r)),
            false => respond(handlers::scram_credentials::describe_refused()),
        },
        Request::AlterUserScramCredentials(r) => match az.cluster(Operation::Alter) {
            true => respond(handlers::scram_credentials::alter(shard, &principal, r)),
            false => respond(handlers::scram_credentials::alter_refused(&r)),
        },
        // Client quotas (issue #20): CLUSTER DESCRIBE_CONFIGS / ALTER_CONFIGS, as in Kafka.
        Request::DescribeClientQuotas(r) => match az.cluster(Operation::DescribeConfigs) {
            true => respond(handlers::describe_client_quotas::handle(shard, &r)),
            false => respond(handlers::describe_client_quotas::refused()),
        },
        Request::AlterClientQuotas(r) => match az.cluster(Operation::AlterConfigs) {
            true => respond(handlers::alter_client_quotas::handle(shard, r).await),
            false => respond(handlers::alter_client_quotas::refused(&r)),
        },
        Request::DescribeLogDirs(r) => match az.cluster(Operation::Describe) {
            true => respond(handlers::describe_log_dirs::handle(shard, r).await),
            false => respond(DescribeLogDirsResponse {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                ..Default::default()
            }),
        },
        Request::DeleteRecords(mut r) => {
            let denied = handlers::authorize::delete_records(az, &mut r);
            let mut resp = handlers::delete_records::handle(shard, r).await;
            denied.into(&mut resp);
            respond(resp)
        }
        Request::DescribeProducers(mut r) => {
            let denied = handlers::authorize::describe_producers(az, &mut r);
            let mut resp = handlers::describe_producers::handle(shard, r).await;
            denied.into(&mut resp);
            respond(resp)
        }
        // ringlog's private views of broker state: CLUSTER DESCRIBE.
        Request::DescribeDelays(r) => match az.cluster(Operation::Describe) {
            true => respond(handlers::describe_delays::handle(shard, r).await),
            false => respond(DescribeDelaysResponse {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                ..Default::default()
            }),
        },
        Request::DescribeShareState(r) => match az.cluster(Operation::Describe) {
            true => respond(handlers::describe_share_state::handle(shard, r).await),
            false => respond(DescribeShareStateResponse {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                ..Default::default()
            }),
        },
        Request::DescribeViews(r) => match az.cluster(Operation::Describe) {
            true => respond(handlers::describe_views::handle(shard, r).await),
            false => respond(DescribeViewsResponse {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                ..Default::default()
            }),
        },
        Request::DescribeConfigs(mut r) => {
            let denied = handlers::authorize::describe_configs(az, &mut r);
            let mut resp = handlers::describe_configs::handle(shard, r).await;
            denied.into_describe(&mut resp);
            respond(resp)
        }
        Request::IncrementalAlterConfigs(mut r) => {
            let denied = handlers::authorize::incremental_alter_configs(az, &mut r);
            let mut resp = handlers::incremental_alter_configs::handle(shard, r).await;
            denied.into_incremental(&mut resp);
            respond(resp)
        }
        Request::AlterConfigs(mut r) => {
            let denied = handlers::authorize::alter_configs(az, &mut r);
            let mut resp = handlers::alter_configs::handle(shard, r).await;
            denied.into_alter(&mut resp);
            respond(resp)
        }
        Request::CreatePartitions(mut r) => {
            let denied = handlers::authorize::create_partitions(az, &mut r);
            let mut resp = handlers::create_partitions::handle(shard, r).await;
            denied.into(&mut resp);
            respond(resp)
        }
        // KIP-848 consumer groups.
        Request::ConsumerGroupHeartbeat(r) => {
            match handlers::authorize::consumer_group_heartbeat(az, &r) {
                None => respond(
                    handlers::consumer_group_heartbeat::handle(
                        shard,
                        header.client_id.as_deref(),
                        az.client_host(),
                        *r,
                    )
                    .await,
                ),
                Some(refused) => respond(refused),
            }
        }
        Request::ConsumerGroupDescribe(mut r) => {
            let asked_ops = r.include_authorized_operations;
            let denied = handlers::authorize::describe_groups(az, &mut r.group_ids);
            let mut resp = handlers::consumer_group_describe::handle(shard, r).await;
            denied.into_described(az, asked_ops, &mut resp.groups);
            respond(resp)
        }
        // Share groups.
        Request::ShareGroupHeartbeat(r) => match handlers::authorize::share_group_heartbeat(az, &r)
        {
            None => respond(
                handlers::share_group_heartbeat::handle(
                    shard,
                    header.client_id.as_deref(),
                    az.client_host(),
                    *r,
                )
                .await,
            ),
            Some(refused) => respond(refused),
        },
        Request::ShareGroupDescribe(mut r) => {
            let asked_ops = r.include_authorized_operations;
            let denied = handlers::authorize::describe_groups(az, &mut r.group_ids);
            let mut resp = handlers::share_group_describe::handle(shard, r).await;
            denied.into_described(az, asked_ops, &mut resp.groups);
            respond(resp)
        }
        Request::ShareFetch(r) => {
            match handlers::share_fetch::handle(shard, az, session.shares(), header, *r).await {
                Ok(pieces) => Outcome::Pieces(pieces),
                Err(e) => Outcome::Close(format!("cannot frame share fetch response: {e}")),
            }
        }
        Request::ShareAcknowledge(mut r) => {
            match handlers::authorize::share_acknowledge(shard, az, &mut r) {
                Ok(denied) => {
                    let mut resp = handlers::share_acknowledge::handle(shard, *r).await;
                    denied.into(&mut resp);
                    respond(resp)
                }
                Err(refused) => respond(refused),
            }
        }
        Request::DescribeShareGroupOffsets(r) => {
            let mut resp = handlers::share_group_offsets::describe(shard, r).await;
            handlers::authorize::describe_share_group_offsets(az, &mut resp);
            respond(resp)
        }
        Request::AlterShareGroupOffsets(mut r) => {
            match handlers::authorize::alter_share_group_offsets(az, &mut r) {
                Ok(denied) => {
                    let mut resp = handlers::share_group_offsets::alter(shard, r).await;
                    resp.responses.extend(denied);
                    respond(resp)
                }
                Err(refused) => respond(refused),
            }
        }
        Request::DeleteShareGroupOffsets(mut r) => {
            match handlers::authorize::delete_share_group_offsets(az, &mut r) {
                Ok(denied) => {
                    let mut resp = handlers::share_group_offsets::delete(shard, r).await;
                    resp.responses.extend(denied);
                    respond(resp)
                }
                Err(refused) => respond(refused),
            }
        }
    }
}

/// AddPartitionsToTxn with each transaction checked (handlers::authorize): a transaction the
/// caller may not write, or with a topic it may not write to, is answered without being run.
async fn add_partitions_to_txn_authorized(
    shard: &Rc<ShardState>,
    az: &crate::acl::Access,
    v: i16,
    mut r: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    use handlers::authorize::add_partitions_refusal;
    if az.everything() {
        return handlers::txn::add_partitions_to_txn(shard, v, r).await;
    }
    if !AddPartitionsToTxnRequest::carries("transactions", v) {
        return match add_partitions_refusal(
            az,
            &r.v3_and_below_transactional_id,
            &r.v3_and_below_topics,
        ) {
            None => handlers::txn::add_partitions_to_txn(shard, v, r).await,
            Some(results) => AddPartitionsToTxnResponse {
                results_by_topic_v3_and_below: results,
                ..Default::default()
            },
        };
    }
    let mut refused = Vec::new();
    r.transactions.retain(
        |t| match add_partitions_refusal(az, &t.transactional_id, &t.topics) {
            None => true,
            Some(topic_results) => {
                refused.push(AddPartitionsToTxnResult {
                    transactional_id: t.transactional_id.clone(),
                    topic_results,
                });
                false
            }
        },
    );
    let mut resp = handlers::txn::add_partitions_to_txn(shard, v, r).await;
    resp.results_by_transaction.extend(refused);
    resp
}

/// A SASL answer, and whether the connection closes after it.
fn sasl_outcome<R: Into<Response>>((resp, after): (R, crate::auth::sasl::After)) -> Outcome {
    match after {
        crate::auth::sasl::After::Continue => respond(resp),
        crate::auth::sasl::After::Close(why) => {
            Outcome::RespondThenClose(Box::new(resp.into()), why)
        }
    }
}

/// What a Produce response becomes on the wire: nothing for acks=0 (Kafka answers nothing, and
/// closes the connection on an error so the client notices), else the response.
fn produce_outcome(
    shard: &ShardState,
    acks: i16,
    resp: crate::protocol::messages::ProduceResponse,
) -> Outcome {
    let drop_now = shard
        .config
        .fault_drop_after_append
        .fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |n| n.checked_sub(1),
        )
        .is_ok();
    if drop_now {
        return Outcome::Close("test fault: dropping the connection after the append".into());
    }
    if acks == 0 {
        let failed = resp
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .any(|p| p.error_code != error::NONE);
        if failed {
            Outcome::Close("acks=0 produce failed".into())
        } else {
            Outcome::NoResponse
        }
    } else {
        respond(resp)
    }
}
