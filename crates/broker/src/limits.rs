//! Connection and memory limits: how many connections the broker takes (all together and per
//! client address), how long a connection may stay idle or take to deliver a request frame, and
//! how many request bytes are held in memory at once.
//!
//! ```text
//!   Broker::start ── Arc<BrokerLimits> (connection counts, memory budget, log limiters)
//!                        │  shared by every shard; touched on accept/close and for frames over
//!                        │  UNBUDGETED_BYTES_MAX, never for a small request
//!        ┌───────────────┴───────────────┐
//!   shard 0: Rc<ShardLimits>        shard 1: Rc<ShardLimits>
//!     ├─ reaper task: every tick, closes connections past their idle / frame / send deadline
//!     └─ budget pump: grants waiting reservations in arrival order as the budget frees up
//! ```
//!
//! The Kafka settings and how they behave here:
//! - `max.connections` ([`ConnectionQuotas`]): at the broker-wide limit a shard stops accepting
//!   (new clients wait in the listen backlog) until a connection closes, as Kafka's acceptor
//!   blocks; it does not accept and close.
//! - `max.connections.per.ip` (+ overrides): a connection over its address's limit is accepted
//!   and closed at once, as Kafka does; rejections are logged at most once per
//!   [`LIMIT_LOG_INTERVAL_MS`] with a count.
//! - `connections.max.idle.ms`: a connection waiting for the first byte of its next request for
//!   this long is closed. A request in progress (a long-poll Fetch, a Produce waiting for its
//!   fsync) is not idle. A response whose bytes make no progress for this long also closes the
//!   connection (Kafka's idle timer counts any socket activity; a reader that stopped reading
//!   would otherwise hold its buffers forever).
//! - `frame.read.timeout.ms` (ringlog's; Kafka relies on the idle timer): once the first byte of a
//!   frame has arrived, the whole frame must arrive within it (slowloris). Time spent waiting for
//!   the memory budget does not count.
//! - `queued.max.request.bytes` ([`MemoryBudget`]): one broker-wide budget for the bytes of
//!   request frames over [`UNBUDGETED_BYTES_MAX`] and of `copy`/`mmap` Fetch buffers. A
//!   connection reserves a frame's size as soon as the size prefix is read, before its buffer
//!   grows; while the budget is spent it stops reading (Kafka mutes the channel) until other
//!   requests release theirs. Smaller frames live in the connection's standing read buffer and
//!   are never held up, so ApiVersions, Metadata and small Produce/Fetch keep working while big
//!   frames wait.
//! - At `EMFILE`/`ENFILE` on accept, a shard backs off ([`ACCEPT_BACKOFF_MS_MIN`] doubling to
//!   [`ACCEPT_BACKOFF_MS_MAX`]) and the broker logs one line per [`LIMIT_LOG_INTERVAL_MS`].
//!
//! Memory bound: request and transfer buffers beyond the budget are at most
//! [`STANDING_BYTES_PER_CONNECTION_MAX`] per connection, so the broker's buffer memory stays
//! under `queued_max_request_bytes + connections x STANDING_BYTES_PER_CONNECTION_MAX` plus
//! responses being written (encoded responses are not counted, as in Kafka).
//!
//! # Invariants
//! - The broker-wide connection count never exceeds `max_connections`, nor an address's count
//!   its limit: counts change only under [`ConnectionQuotas`]' lock, and a
//!   [`ConnectionPermit`] gives its slot back exactly once (on drop).
//! - The budget's used bytes never exceed its limit; a [`Reservation`] gives back exactly what
//!   it took (on drop). A reservation is never larger than the whole budget, so every waiter can
//!   eventually be served.
//! - A connection is expired (socket shut down) only in the phases that have a deadline:
//!   waiting for a request, reading a frame, writing a response; never while its request is
//!   being handled or while it waits for the budget.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::config::{BrokerConfig, FdPlan};
use crate::runtime::future::{select, Either};
use crate::runtime::net::TcpStream;
use crate::runtime::sync::Notify;
use crate::runtime::time::sleep;
use crate::shard::ShardState;

/// Buffers up to this size are a connection's own standing allowance and take nothing from the
/// memory budget: the read buffer every connection keeps for small frames is this big, and
/// touching a shared atomic for every small request would put a contended cache line on the data
/// path for no gain.
pub const UNBUDGETED_BYTES_MAX: usize = 64 * 1024;
/// Most buffer bytes a connection holds outside the budget: its standing read buffer (at most
/// twice [`UNBUDGETED_BYTES_MAX`] while a small frame straddles a buffer refill) plus one
/// unbudgeted Fetch copy buffer.
pub const STANDING_BYTES_PER_CONNECTION_MAX: usize = 3 * UNBUDGETED_BYTES_MAX;
/// How often a shard at `max_connections` looks again for a free slot (slots freed on another
/// shard are not signalled across threads; a closing connection on this shard wakes it at once).
pub const ACCEPT_SLOT_POLL_MS: u64 = 5;
/// First pause after a failed accept (`EMFILE` and friends): long enough not to spin on a full
/// descriptor table, short enough that a freed descriptor is used soon.
pub const ACCEPT_BACKOFF_MS_MIN: u64 = 10;
/// Longest pause between accepts while they keep failing (doubling from the minimum).
pub const ACCEPT_BACKOFF_MS_MAX: u64 = 1_000;
/// At most one log line per this interval for each recurring limit event (accept failures,
/// per-address rejections), with the count of the ones not logged.
pub const LIMIT_LOG_INTERVAL_MS: u64 = 10_000;
/// How often a shard with connections waiting for the memory budget checks it again. Releases
/// happen on every shard; a short poll of one atomic per shard is cheaper than cross-thread
/// wakeups, and 2 ms is small next to the time it takes to receive a frame worth waiting for.
pub const BUDGET_POLL_MS: u64 = 2;
/// Deadline checks per timeout period: a connection is closed at most a tenth of its timeout
/// after its deadline.
pub const REAP_TICKS_PER_TIMEOUT: u32 = 10;
/// Shortest interval between deadline checks.
pub const REAP_INTERVAL_MS_MIN: u64 = 10;
/// Longest interval between deadline checks.
pub const REAP_INTERVAL_MS_MAX: u64 = 1_000;

/// The limits every shard shares (created once by `Broker::start`).
pub struct BrokerLimits {
    /// `max.connections` and `max.connections.per.ip`.
    pub connections: Arc<ConnectionQuotas>,
    /// `queued.max.request.bytes`.
    pub memory: Arc<MemoryBudget>,
    /// Segment file ranges held by Fetch responses in flight (`FdPlan::fetch_files`), counted
    /// one per range: a read that finds it spent answers its partition without data for now.
    pub fetch_files: Arc<MemoryBudget>,
    /// Rate limit of the "accept failed" line.
    pub accept_failures: LogLimiter,
    /// Rate limit of the "over max.connections.per.ip" line.
    pub per_ip_rejections: LogLimiter,
}

impl BrokerLimits {
    /// Limits from the configuration and the fd plan (which holds the broker-wide connection
    /// cap, configured or derived). Fails only on overrides that do not parse, which
    /// `BrokerConfig::validate` has already refused.
    pub fn new(config: &BrokerConfig, fd_plan: &FdPlan) -> Result<BrokerLimits, String> {
        let interval = Duration::from_millis(LIMIT_LOG_INTERVAL_MS);
        Ok(BrokerLimits {
            connections: Arc::new(ConnectionQuotas::new(
                fd_plan.connections,
                config.max_connections_per_ip,
                config.connections_per_ip_overrides()?,
            )),
            memory: Arc::new(MemoryBudget::new(config.queued_max_request_bytes)),
            fetch_files: Arc::new(MemoryBudget::new(fd_plan.fetch_files)),
            accept_failures: LogLimiter::new(interval),
            per_ip_rejections: LogLimiter::new(interval),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Connection counts.

/// Broker-wide connection counts: total and per client address (Kafka's `ConnectionQuotas`).
/// Touched on accept and on close only.
pub struct ConnectionQuotas {
    total_max: u64,
    per_ip_default: u32,
    per_ip_overrides: HashMap<IpAddr, u32>,
    counts: Mutex<Counts>,
    /// Copy of `counts.total` for the lock-free "is a slot free" check before an accept.
    total: AtomicU64,
}

#[derive(Default)]
struct Counts {
    total: u64,
    per_ip: HashMap<IpAddr, u32>,
}

/// The answer to a connection that was just accepted.
pub enum Admission {
    /// Serve it; the permit holds its slot.
    Admitted(ConnectionPermit),
    /// `max_connections` is reached (another shard took the last slot): wait for one.
    Full,
    /// Its address has `max` connections already: close it.
    OverPerIpLimit {
        /// The limit that applies to that address.
        max: u32,
    },
}

impl ConnectionQuotas {
    /// Counts with these limits (overrides win over the default for their address).
    pub fn new(total_max: u64, per_ip_default: u32, overrides: Vec<(IpAddr, u32)>) -> Self {
        ConnectionQuotas {
            total_max,
            per_ip_default,
            per_ip_overrides: overrides.into_iter().collect(),
            counts: Mutex::new(Counts::default()),
            total: AtomicU64::new(0),
        }
    }

    /// Is a connection slot free (a hint: [`admit`](Self::admit) decides)?
    pub fn slot_free(&self) -> bool {
        self.total.load(Ordering::Acquire) < self.total_max
    }

    /// Connections open now, broker-wide.
    pub fn open(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }

    /// The limit for one address.
    pub fn per_ip_max(&self, ip: IpAddr) -> u32 {
        *self
            .per_ip_overrides
            .get(&ip)
            .unwrap_or(&self.per_ip_default)
    }

    /// Count an accepted connection from `peer`, in Kafka's order: the broker-wide slot first,
    /// then the address's limit.
    pub fn admit(self: &Arc<Self>, peer: Option<SocketAddr>) -> Admission {
        let ip = peer.map(|p| p.ip().to_canonical());
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.total >= self.total_max {
            return Admission::Full;
        }
        if let Some(ip) = ip {
            let max = self.per_ip_max(ip);
            let n = counts.per_ip.entry(ip).or_insert(0);
            if *n >= max {
                if *n == 0 {
                    counts.per_ip.remove(&ip);
                }
                return Admission::OverPerIpLimit { max };
            }
            *n += 1;
        }
        counts.total += 1;
        assert!(counts.total <= self.total_max, "connection count over max");
        self.total.store(counts.total, Ordering::Release);
        Admission::Admitted(ConnectionPermit {
            quotas: self.clone(),
            ip,
        })
    }

    fn release(&self, ip: Option<IpAddr>) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        assert!(counts.total > 0, "connection released twice");
        counts.total -= 1;
        if let Some(ip) = ip {
            let n = counts
                .per_ip
                .get_mut(&ip)
                .expect("a permit's address is counted");
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
        self.total.store(counts.total, Ordering::Release);
    }
}

/// One counted connection; gives its slot back when dropped.
pub struct ConnectionPermit {
    quotas: Arc<ConnectionQuotas>,
    ip: Option<IpAddr>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.quotas.release(self.ip);
    }
}

// ---------------------------------------------------------------------------------------------
// Memory budget.

/// The broker-wide budget of buffer bytes (`queued.max.request.bytes`).
pub struct MemoryBudget {
    limit_bytes: u64,
    used_bytes: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit_bytes`.
    pub fn new(limit_bytes: u64) -> MemoryBudget {
        MemoryBudget {
            limit_bytes,
            used_bytes: AtomicU64::new(0),
        }
    }

    /// Bytes reserved now.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes.load(Ordering::Acquire)
    }

    /// The budget.
    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    /// Take `bytes` (at most the whole budget) if they are free.
    pub fn try_reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let bytes = bytes.min(self.limit_bytes);
        self.used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&n| n <= self.limit_bytes)
            })
            .ok()?;
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }
}

/// Bytes taken from the [`MemoryBudget`]; given back when dropped.
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Reservation({} of {})",
            self.bytes, self.budget.limit_bytes
        )
    }
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let before = self
            .budget
            .used_bytes
            .fetch_sub(self.bytes, Ordering::AcqRel);
        assert!(
            before >= self.bytes,
            "budget released more than it reserved"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Rate-limited log lines.

/// Lets one log line through per interval and counts the ones held back (shared by all shards).
pub struct LogLimiter {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimiter {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> LogLimiter {
        LogLimiter {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last line)` when a line may be written now; `None` counts one
    /// more held back.
    pub fn admit(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.interval => {
                state.1 += 1;
                None
            }
            _ => {
                state.0 = Some(now);
                Some(std::mem::take(&mut state.1))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Accept backoff.

/// The pause between failing accepts: [`ACCEPT_BACKOFF_MS_MIN`] doubling to
/// [`ACCEPT_BACKOFF_MS_MAX`], back to none after a success.
#[derive(Default)]
pub struct AcceptBackoff {
    next_ms: u64,
}

impl AcceptBackoff {
    /// The pause after one more failure.
    pub fn failed(&mut self) -> Duration {
        self.next_ms = (self.next_ms * 2).clamp(ACCEPT_BACKOFF_MS_MIN, ACCEPT_BACKOFF_MS_MAX);
        Duration::from_millis(self.next_ms)
    }

    /// An accept succeeded.
    pub fn succeeded(&mut self) {
        self.next_ms = 0;
    }
}

/// Does this accept error mean the process or system is out of a resource (back off), rather
/// than one connection having gone wrong (retry at once)?
pub fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

// ---------------------------------------------------------------------------------------------
// Per-connection deadlines.

/// What a connection is doing, for its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the first byte of the next request (deadline: `connections_max_idle_ms`).
    Idle,
    /// Receiving a frame whose first byte has arrived (deadline: `frame_read_timeout_ms`).
    Frame,
    /// Handling a request or waiting for the budget (no deadline).
    Busy,
    /// Writing a response (deadline: `connections_max_idle_ms` after the last progress).
    Sending,
}

/// Why a connection was closed from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No request for `connections_max_idle_ms`.
    Idle,
    /// A frame took longer than `frame_read_timeout_ms` to arrive.
    FrameTimeout,
    /// A response made no progress for `connections_max_idle_ms`.
    SendStalled,
}

/// One served connection: its socket, its broker-wide slot, and its deadline clock.
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// The peer, as accepted.
    pub peer: Option<SocketAddr>,
    phase: Cell<Phase>,
    since: Cell<Instant>,
    expired: Cell<Option<Expiry>>,
    _permit: ConnectionPermit,
}

impl Conn {
    /// Enter `phase` as of `since` (for `Frame`: when its first byte arrived).
    pub fn enter(&self, phase: Phase, since: Instant) {
        self.phase.set(phase);
        self.since.set(since);
    }

    /// The current phase and when it began.
    pub fn phase(&self) -> (Phase, Instant) {
        (self.phase.get(), self.since.get())
    }

    /// A response made progress: its idle clock starts again.
    pub fn progress(&self) {
        if self.phase.get() == Phase::Sending {
            self.since.set(Instant::now());
        }
    }

    /// Why the connection was closed from outside, if it was.
    pub fn expired(&self) -> Option<Expiry> {
        self.expired.get()
    }

    fn due(&self, now: Instant, idle: Duration, frame: Duration) -> Option<Expiry> {
        let since = self.since.get();
        let (limit, why) = match self.phase.get() {
            Phase::Idle => (idle, Expiry::Idle),
            Phase::Frame => (frame, Expiry::FrameTimeout),
            Phase::Sending => (idle, Expiry::SendStalled),
            Phase::Busy => return None,
        };
        (now.saturating_duration_since(since) >= limit).then_some(why)
    }

    fn expire(&self, why: Expiry, idle: Duration, frame: Duration) {
        debug_assert!(self.phase.get() != Phase::Busy, "a busy connection expired");
        self.expired.set(Some(why));
        let peer = self.peer;
        match why {
            Expiry::Idle => tracing::debug!(
                ?peer,
                "closing connection: no request for {} ms (connections.max.idle.ms)",
                idle.as_millis()
            ),
            Expiry::FrameTimeout => tracing::debug!(
                ?peer,
                "closing connection: a request frame took over {} ms to arrive (frame-read-timeout-ms)",
                frame.as_millis()
            ),
            Expiry::SendStalled => tracing::debug!(
                ?peer,
                "closing connection: its response made no progress for {} ms (connections.max.idle.ms)",
                idle.as_millis()
            ),
        }
        // The task serving the connection sees its recv end (0) or its send fail (EPIPE) and
        // closes by its normal path. ENOTCONN: the peer is gone already, same outcome.
        let _ = self.stream.shutdown_both();
    }
}

// ---------------------------------------------------------------------------------------------
// One shard's share: deadlines and budget waiters.

/// A connection waiting for the budget.
struct BudgetWaiter {
    bytes: u64,
    granted: RefCell<Option<Reservation>>,
    waker: RefCell<Option<Waker>>,
    gone: Cell<bool>,
}

/// One shard's view of the limits: its connections' deadlines and its queue of budget waiters.
pub struct ShardLimits {
    /// The broker-wide limits.
    pub broker: Arc<BrokerLimits>,
    idle: Duration,
    frame: Duration,
    reap_every: Duration,
    conns: RefCell<Vec<Weak<Conn>>>,
    waiters: RefCell<VecDeque<Rc<BudgetWaiter>>>,
    waiter_added: Notify,
}

impl ShardLimits {
    /// A shard's limits over the broker's.
    pub fn new(broker: Arc<BrokerLimits>, config: &BrokerConfig) -> ShardLimits {
        let idle = Duration::from_millis(config.connections_max_idle_ms);
        let frame = Duration::from_millis(config.frame_read_timeout_ms);
        let reap_every = (idle.min(frame) / REAP_TICKS_PER_TIMEOUT).clamp(
            Duration::from_millis(REAP_INTERVAL_MS_MIN),
            Duration::from_millis(REAP_INTERVAL_MS_MAX),
        );
        ShardLimits {
            broker,
            idle,
            frame,
            reap_every,
            conns: RefCell::new(Vec::new()),
            waiters: RefCell::new(VecDeque::new()),
            waiter_added: Notify::new(),
        }
    }

    /// Start watching an admitted connection's deadlines (it starts idle).
    pub fn register(
        &self,
        stream: TcpStream,
        peer: Option<SocketAddr>,
        permit: ConnectionPermit,
    ) -> Rc<Conn> {
        let conn = Rc::new(Conn {
            stream,
            peer,
            phase: Cell::new(Phase::Idle),
            since: Cell::new(Instant::now()),
            expired: Cell::new(None),
            _permit: permit,
        });
        self.conns.borrow_mut().push(Rc::downgrade(&conn));
        conn
    }

    /// Reserve `bytes` of the budget for a buffer, waiting in arrival order while it is spent.
    /// `None` for buffers up to [`UNBUDGETED_BYTES_MAX`] (the connection's own allowance).
    pub async fn reserve(&self, bytes: usize) -> Option<Reservation> {
        if bytes <= UNBUDGETED_BYTES_MAX {
            return None;
        }
        let bytes = bytes as u64;
        if self.waiters.borrow().is_empty() {
            if let Some(r) = self.broker.memory.try_reserve(bytes) {
                return Some(r);
            }
        }
        let waiter = Rc::new(BudgetWaiter {
            bytes,
            granted: RefCell::new(None),
            waker: RefCell::new(None),
            gone: Cell::new(false),
        });
        self.waiters.borrow_mut().push_back(waiter.clone());
        self.waiter_added.notify_waiters();
        // Cancelled (the connection closes): the pump drops the waiter, and with it a
        // reservation granted but never taken.
        struct Leave(Rc<BudgetWaiter>);
        impl Drop for Leave {
            fn drop(&mut self) {
                self.0.gone.set(true);
            }
        }
        let leave = Leave(waiter);
        let granted = poll_fn(|cx| match leave.0.granted.borrow_mut().take() {
            Some(r) => Poll::Ready(r),
            None => {
                *leave.0.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        Some(granted)
    }

    /// Grant the waiters at the head of the queue what the budget has free now.
    fn grant(&self) {
        let mut waiters = self.waiters.borrow_mut();
        while let Some(head) = waiters.front() {
            if head.gone.get() {
                waiters.pop_front();
                continue;
            }
            let Some(r) = self.broker.memory.try_reserve(head.bytes) else {
                break;
            };
            *head.granted.borrow_mut() = Some(r);
            if let Some(w) = head.waker.borrow_mut().take() {
                w.wake();
            }
            waiters.pop_front();
        }
    }

    /// The budget pump: while connections wait, look at the budget every [`BUDGET_POLL_MS`].
    /// Runs until the shard shuts down.
    pub async fn run_budget_pump(self: Rc<Self>, shard: Rc<ShardState>) {
        while !shard.shutting_down.get() {
            self.grant();
            let waiting = !self.waiters.borrow().is_empty();
            let wait = async {
                if waiting {
                    sleep(Duration::from_millis(BUDGET_POLL_MS)).await
                } else {
                    self.waiter_added.notified().await
                }
            };
            if let Either::Right(()) = select(wait, shard.shutdown.notified()).await {
                return;
            }
        }
    }

    /// The reaper: every tick, close the connections past their deadline. Runs until the shard
    /// shuts down.
    pub async fn run_reaper(self: Rc<Self>, shard: Rc<ShardState>) {
        while !shard.shutting_down.get() {
            if let Either::Right(()) =
                select(sleep(self.reap_every), shard.shutdown.notified()).await
            {
                return;
            }
            let now = Instant::now();
            self.conns.borrow_mut().retain(|weak| {
                let Some(conn) = weak.upgrade() else {
                    return false;
                };
                if conn.expired.get().is_none() {
                    if let Some(why) = conn.due(now, self.idle, self.frame) {
                        conn.expire(why, self.idle, self.frame);
                        if why == Expiry::FrameTimeout {
                            crate::metrics::RejectLog::reject(
                                &shard.metrics,
                                crate::metrics::RejectReason::FrameTimeout,
                                &format_args!(
                                    "a request frame from {:?} took over {} ms to arrive \
                                     (frame-read-timeout-ms); closing the connection",
                                    conn.peer,
                                    self.frame.as_millis()
                                ),
                            );
                        }
                    }
                }
                true
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_never_exceeds_its_limit_and_clamps_oversize() {
        let b = Arc::new(MemoryBudget::new(100));
        let r1 = b.try_reserve(60).unwrap();
        assert!(b.try_reserve(41).is_none());
        let r2 = b.try_reserve(40).unwrap();
        assert_eq!(b.used_bytes(), 100);
        drop(r1);
        assert_eq!(b.used_bytes(), 40);
        assert!(b.try_reserve(1_000).is_none(), "clamped to 100, 40 in use");
        drop(r2);
        let all = b.try_reserve(1_000).unwrap();
        assert_eq!(all.bytes(), 100);
        drop(all);
        assert_eq!(b.used_bytes(), 0);
    }

    #[test]
    fn quotas_count_total_and_per_address_with_overrides() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:1".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:2".parse().unwrap();
        let q = Arc::new(ConnectionQuotas::new(
            5,
            2,
            vec![("127.0.0.2".parse().unwrap(), 3)],
        ));
        let mut held = Vec::new();
        for peer in [a, mapped] {
            match q.admit(Some(peer)) {
                Admission::Admitted(p) => held.push(p),
                _ => panic!("{peer} admitted"),
            }
        }
        assert!(matches!(
            q.admit(Some(a)),
            Admission::OverPerIpLimit { max: 2 }
        ));
        for _ in 0..3 {
            match q.admit(Some(b)) {
                Admission::Admitted(p) => held.push(p),
                _ => panic!("override of 3"),
            }
        }
        assert_eq!(q.open(), 5);
        assert!(!q.slot_free());
        assert!(matches!(q.admit(None), Admission::Full));
        held.remove(0);
        assert!(q.slot_free());
        match q.admit(Some(a)) {
            Admission::Admitted(p) => held.push(p),
            _ => panic!("a slot of 127.0.0.1 was freed"),
        }
        drop(held);
        assert_eq!(q.open(), 0);
        assert!(q.counts.lock().unwrap().per_ip.is_empty());
    }

    #[test]
    fn log_limiter_lets_one_line_through_per_interval_and_counts_the_rest() {
        let l = LogLimiter::new(Duration::from_millis(50));
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), None);
        assert_eq!(l.admit(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(l.admit(), Some(2));
    }

    #[test]
    fn accept_backoff_doubles_to_the_cap_and_resets() {
        let mut b = AcceptBackoff::default();
        let steps: Vec<u64> = (0..10).map(|_| b.failed().as_millis() as u64).collect();
        assert_eq!(steps[..4], [10, 20, 40, 80]);
        assert_eq!(*steps.last().unwrap(), ACCEPT_BACKOFF_MS_MAX);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(ACCEPT_BACKOFF_MS_MIN));
    }
}
