//! The runtime benchmark (issue 2): does the io_uring driver serve small request/response traffic
//! at least as fast, and at no more CPU per request, than the epoll driver, and what does one
//! ring round trip cost?
//!
//! Two measurements, each run once per driver per round, drivers alternating (uring, epoll,
//! uring, epoll, ...) so machine drift spreads over both:
//!
//! - **Ring NOP**: `nops` calls of [`runtime::nop`] on one shard, first from one task (every NOP
//!   is one `io_uring_enter`), then from `nop_tasks` concurrent tasks (NOPs batched per enter).
//!   On an epoll shard `nop()` is a task yield: that column is executor overhead only, and the
//!   difference between the two is the cost of the ring round trip itself.
//! - **Loopback ping-pong**: a server shard (driver under test, one thread pinned to
//!   [`SERVER_CPU`]) echoes `message_bytes`-byte messages; a client shard (always the **epoll**
//!   driver, so the load generator is identical for both servers, pinned to [`CLIENT_CPU`]) keeps
//!   `connections` connections each with one message in flight. After `warmup`, both sides sample
//!   their counters and their thread's CPU time, run for `measure`, and sample again.
//!
//! ```text
//!  CPU 1: client shard (epoll)             CPU 0: server shard (uring | epoll)
//!   conn task x C: send 64 B ──loopback──>  echo task x C: recv ─> send_all
//!                  recv 64 B <──loopback──
//!   |--- warm-up ---|------------ measured window ------------|  stop, close, drain
//!                  sample                                     sample
//! ```
//!
//! Server CPU time is the on-CPU time of the server thread (`/proc/thread-self/schedstat`, in ns;
//! the same total `getrusage(RUSAGE_THREAD)` reports as user+sys), read by the server thread
//! itself at both window edges. It includes the loopback TCP processing the kernel does on that
//! thread's behalf, which is the same work for both drivers.
//!
//! # Invariants
//! - Bounded: fixed counts and durations, every limit below is a named constant, sockets only on
//!   127.0.0.1, every wait for the other side has a timeout. The benchmark stops by itself.
//! - The client shard always runs the epoll driver; only the server's driver changes.
//! - The driver that really ran is recorded (a ring that cannot be set up falls back to epoll),
//!   and a fallback is reported, never silently compared.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::{human, json_array, parse_stat_times, JsonObject, Machine, Summary};
use crate::runtime::net::{TcpListener, TcpStream};
use crate::runtime::shard::pin_to_cpu;
use crate::runtime::uring::RingSetup;
use crate::runtime::{self, time, IoKind, RuntimeConfig};

/// The drivers compared, in the order each round runs them; the first is the one under test,
/// the second the baseline of the ratios.
pub const DRIVERS: [IoKind; 2] = [IoKind::Uring, IoKind::Epoll];

/// CPU the server shard (and the NOP shard) is pinned to.
pub const SERVER_CPU: usize = 0;
/// CPU the client shard is pinned to: a different core from the server, so the server thread's
/// CPU time is its own and the client never steals its core (needs 2 CPUs; with 1 both share).
pub const CLIENT_CPU: usize = 1;

/// Default rounds: 5 gives a median that one disturbed round cannot move.
pub const ROUNDS_DEFAULT: usize = 5;
/// Upper bound on rounds (each round takes ~2 x (warm-up + measure) seconds).
pub const ROUNDS_MAX: usize = 100;
/// Default measured window per ping-pong run.
pub const MEASURE_MS_DEFAULT: u64 = 5_000;
/// Default warm-up before the window: long enough for connections, caches and the CPU
/// frequency to settle.
pub const WARMUP_MS_DEFAULT: u64 = 1_000;
/// Upper bound on warm-up and on the measured window, each.
pub const PHASE_MS_MAX: u64 = 600_000;
/// Default concurrent connections, each with one message in flight.
pub const CONNECTIONS_DEFAULT: usize = 64;
/// Upper bound on connections: every connection is two sockets in this process and a slot in
/// each shard's slab (16 Ki by default), and the listen backlog is 1024.
pub const CONNECTIONS_MAX: usize = 1_024;
/// Default message size: a small request, where per-request driver overhead dominates.
pub const MESSAGE_BYTES_DEFAULT: usize = 64;
/// Upper bound on the message size: one socket buffer's worth, so a message is one send.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Default NOPs per NOP run: about a second of sequential round trips.
pub const NOPS_DEFAULT: u64 = 1_000_000;
/// Upper bound on NOPs per run.
pub const NOPS_MAX: u64 = 100_000_000;
/// Default concurrent tasks of the batched NOP run: enough NOPs per `io_uring_enter` to amortise
/// it, far below the SQ size (1024) so no submission is forced by a full SQ.
pub const NOP_TASKS_DEFAULT: usize = 32;
/// Upper bound on concurrent NOP tasks (the SQ has 1024 entries).
pub const NOP_TASKS_MAX: usize = 1_024;
/// How long either side waits for the other to come up (bind, connect, accept, the schedule)
/// and, at the end, for connections to drain.
pub const SETUP_TIMEOUT_MS: u64 = 10_000;
/// Poll interval of the server while it waits for the client to publish the schedule (setup
/// only, never inside the measured window).
const SCHEDULE_POLL_MS: u64 = 1;
/// Clock ticks per second of /proc/*/stat times (USER_HZ, fixed at 100 by the Linux ABI).
const USER_HZ: f64 = 100.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct RuntimeBenchConfig {
    /// Rounds; each runs every measurement once per driver.
    pub rounds: usize,
    /// Ping-pong warm-up before the measured window.
    pub warmup: Duration,
    /// Ping-pong measured window.
    pub measure: Duration,
    /// Ping-pong connections.
    pub connections: usize,
    /// Ping-pong message size in bytes.
    pub message_bytes: usize,
    /// NOPs per NOP run (0 skips the NOP measurement).
    pub nops: u64,
    /// Concurrent tasks of the batched NOP run.
    pub nop_tasks: usize,
}

impl Default for RuntimeBenchConfig {
    fn default() -> Self {
        RuntimeBenchConfig {
            rounds: ROUNDS_DEFAULT,
            warmup: Duration::from_millis(WARMUP_MS_DEFAULT),
            measure: Duration::from_millis(MEASURE_MS_DEFAULT),
            connections: CONNECTIONS_DEFAULT,
            message_bytes: MESSAGE_BYTES_DEFAULT,
            nops: NOPS_DEFAULT,
            nop_tasks: NOP_TASKS_DEFAULT,
        }
    }
}

impl RuntimeBenchConfig {
    /// Check every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        let phase_max = Duration::from_millis(PHASE_MS_MAX);
        let checks = [
            (
                (1..=ROUNDS_MAX).contains(&self.rounds),
                format!("rounds must be 1..={ROUNDS_MAX}"),
            ),
            (
                self.warmup <= phase_max,
                format!("warm-up must be at most {PHASE_MS_MAX} ms"),
            ),
            (
                !self.measure.is_zero() && self.measure <= phase_max,
                format!("the measured window must be >0 and at most {PHASE_MS_MAX} ms"),
            ),
            (
                (1..=CONNECTIONS_MAX).contains(&self.connections),
                format!("connections must be 1..={CONNECTIONS_MAX}"),
            ),
            (
                (1..=MESSAGE_BYTES_MAX).contains(&self.message_bytes),
                format!("message size must be 1..={MESSAGE_BYTES_MAX} bytes"),
            ),
            (
                self.nops <= NOPS_MAX,
                format!("nops must be at most {NOPS_MAX}"),
            ),
            (
                (1..=NOP_TASKS_MAX).contains(&self.nop_tasks),
                format!("nop tasks must be 1..={NOP_TASKS_MAX}"),
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }
}

/// One NOP run.
#[derive(Clone, Debug)]
pub struct NopSample {
    /// The driver that really ran.
    pub driver: IoKind,
    /// Concurrent tasks.
    pub tasks: usize,
    /// NOPs completed.
    pub ops: u64,
    /// Wall time of the run.
    pub seconds: f64,
}

impl NopSample {
    /// NOPs per second.
    pub fn ops_per_second(&self) -> f64 {
        self.ops as f64 / self.seconds
    }
    /// Nanoseconds per NOP.
    pub fn ns_per_op(&self) -> f64 {
        self.seconds * 1e9 / self.ops as f64
    }
}

/// On-CPU time of one thread over the measured window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    /// user+sys seconds.
    pub seconds: f64,
    /// Share of it spent in the kernel (from the tick-sampled utime/stime split), 0..=1.
    pub sys_share: f64,
}

/// One ping-pong run.
#[derive(Clone, Debug)]
pub struct PingPongSample {
    /// The server driver asked for.
    pub requested: IoKind,
    /// The server driver that really ran.
    pub driver: IoKind,
    /// Requests (round trips) the client completed in its measured window.
    pub requests: u64,
    /// Length of the client's measured window.
    pub seconds: f64,
    /// Messages the server echoed in its measured window (bytes / message size).
    pub server_requests: f64,
    /// Server thread CPU over its window.
    pub server_cpu: CpuTime,
    /// Length of the server's measured window.
    pub server_seconds: f64,
    /// Client thread CPU over its window.
    pub client_cpu: CpuTime,
    /// The server shard's ring setup (io_uring only).
    pub ring: Option<RingSetup>,
}

impl PingPongSample {
    /// Requests per second seen by the client.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    /// Server CPU microseconds per echoed request.
    pub fn server_cpu_us_per_request(&self) -> f64 {
        self.server_cpu.seconds * 1e6 / self.server_requests
    }
    /// Client CPU microseconds per completed request.
    pub fn client_cpu_us_per_request(&self) -> f64 {
        self.client_cpu.seconds * 1e6 / self.requests as f64
    }
    /// Server thread busy share of its window, 0..=1.
    pub fn server_busy(&self) -> f64 {
        self.server_cpu.seconds / self.server_seconds
    }
}

/// Every measurement of one driver in one round.
#[derive(Clone, Debug)]
pub struct DriverRound {
    /// The driver asked for.
    pub requested: IoKind,
    /// NOPs from one task (`None` when NOPs were skipped).
    pub nop_sequential: Option<NopSample>,
    /// NOPs from `nop_tasks` tasks.
    pub nop_batched: Option<NopSample>,
    /// The ping-pong run.
    pub ping_pong: PingPongSample,
}

/// One row of the comparison: a quantity summarised over the rounds, per driver.
#[derive(Clone, Debug)]
pub struct Metric {
    /// What is measured.
    pub name: String,
    /// Unit of the values.
    pub unit: &'static str,
    /// Whether a larger value is better (throughput) or worse (cost).
    pub higher_is_better: bool,
    /// Summary for [`DRIVERS`]`[0]` (uring).
    pub uring: Summary,
    /// Summary for [`DRIVERS`]`[1]` (epoll).
    pub epoll: Summary,
    /// A caveat printed under the table.
    pub note: Option<&'static str>,
}

impl Metric {
    /// Ratio of the medians, uring / epoll.
    pub fn ratio(&self) -> f64 {
        self.uring.median / self.epoll.median
    }
}

/// Everything the benchmark measured.
#[derive(Clone, Debug)]
pub struct RuntimeBenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// What ran.
    pub config: RuntimeBenchConfig,
    /// Per round, one entry per driver in [`DRIVERS`] order.
    pub rounds: Vec<[DriverRound; 2]>,
}

/// Run the benchmark: `config.rounds` rounds, each measuring every driver of [`DRIVERS`] in turn.
/// Progress goes to the `tracing` log; the result is returned, not printed.
pub fn run(config: &RuntimeBenchConfig) -> io::Result<RuntimeBenchReport> {
    config.validate().map_err(io::Error::other)?;
    let machine = Machine::current();
    if machine.cpus <= CLIENT_CPU {
        tracing::warn!(
            cpus = machine.cpus,
            "fewer CPUs than the benchmark pins to: client and server share a core"
        );
    }
    let mut rounds = Vec::with_capacity(config.rounds);
    for round in 1..=config.rounds {
        let mut one = Vec::with_capacity(DRIVERS.len());
        for io in DRIVERS {
            let measured = run_driver(config, io)?;
            let pp = &measured.ping_pong;
            tracing::info!(
                "round {round}/{} {io}: {:.0} req/s, server {:.2} us/req ({:.0}% busy), \
                 client {:.2} us/req{}",
                config.rounds,
                pp.requests_per_second(),
                pp.server_cpu_us_per_request(),
                pp.server_busy() * 100.0,
                pp.client_cpu_us_per_request(),
                measured
                    .nop_sequential
                    .as_ref()
                    .map(|n| format!(", nop {:.0} ns", n.ns_per_op()))
                    .unwrap_or_default(),
            );
            one.push(measured);
        }
        let pair: [DriverRound; 2] = one
            .try_into()
            .unwrap_or_else(|_| unreachable!("one entry per driver"));
        rounds.push(pair);
    }
    Ok(RuntimeBenchReport {
        machine,
        config: config.clone(),
        rounds,
    })
}

fn run_driver(config: &RuntimeBenchConfig, io: IoKind) -> io::Result<DriverRound> {
    let (nop_sequential, nop_batched) = if config.nops == 0 {
        (None, None)
    } else {
        (
            Some(nop_run(io, config.nops, 1)?),
            Some(nop_run(io, config.nops, config.nop_tasks)?),
        )
    };
    let ping_pong = ping_pong(config, io)?;
    Ok(DriverRound {
        requested: io,
        nop_sequential,
        nop_batched,
        ping_pong,
    })
}

/// Join a benchmark thread, re-raising its panic.
fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} took longer than {SETUP_TIMEOUT_MS} ms"),
    )
}

fn setup_timeout() -> Duration {
    Duration::from_millis(SETUP_TIMEOUT_MS)
}

/// `ops` NOPs split over `tasks` tasks on a fresh single-shard runtime pinned to [`SERVER_CPU`].
fn nop_run(io: IoKind, ops: u64, tasks: usize) -> io::Result<NopSample> {
    thread::scope(|scope| {
        let handle = thread::Builder::new()
            .name("bench-nop".into())
            .spawn_scoped(scope, move || {
                pin_to_cpu(SERVER_CPU);
                runtime::block_on(&RuntimeConfig::single(io), async move {
                    let driver = runtime::io_kind().expect("inside a runtime");
                    let tasks_u64 = tasks as u64;
                    let start = Instant::now();
                    let handles: Vec<_> = (0..tasks_u64)
                        .map(|t| {
                            // The first tasks take one more NOP each when `ops` does not divide.
                            let n = ops / tasks_u64 + u64::from(t < ops % tasks_u64);
                            runtime::spawn(async move {
                                for _ in 0..n {
                                    runtime::nop().await?;
                                }
                                Ok::<(), io::Error>(())
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await?;
                    }
                    Ok(NopSample {
                        driver,
                        tasks,
                        ops,
                        seconds: start.elapsed().as_secs_f64(),
                    })
                })?
            })?;
        join(handle)
    })
}

/// When the client measures: both sides sample at these instants (one monotonic clock).
#[derive(Clone, Copy, Debug)]
struct Schedule {
    warm_end: Instant,
    end: Instant,
}

/// One ping-pong run with the server on `io`.
fn ping_pong(config: &RuntimeBenchConfig, io: IoKind) -> io::Result<PingPongSample> {
    let schedule = Arc::new(OnceLock::new());
    let (addr_tx, addr_rx) = mpsc::channel();
    thread::scope(|scope| {
        let server_schedule = schedule.clone();
        let server = thread::Builder::new()
            .name("bench-server".into())
            .spawn_scoped(scope, move || {
                pin_to_cpu(SERVER_CPU);
                runtime::block_on(
                    &RuntimeConfig::single(io),
                    server(config, addr_tx, server_schedule),
                )?
            })?;
        let addr = match addr_rx.recv_timeout(setup_timeout()) {
            Ok(addr) => addr,
            // The server failed before listening (its error says why) or hangs.
            Err(_) => {
                return Err(match server.is_finished() {
                    true => join(server)
                        .err()
                        .unwrap_or_else(|| timed_out("server setup")),
                    false => timed_out("server setup"),
                })
            }
        };
        let client = thread::Builder::new()
            .name("bench-client".into())
            .spawn_scoped(scope, move || {
                pin_to_cpu(CLIENT_CPU);
                runtime::block_on(
                    &RuntimeConfig::single(IoKind::Epoll),
                    client(config, addr, schedule),
                )?
            })?;
        let client = join(client);
        let server = join(server);
        let (client, server) = (client?, server?);
        if client.requests == 0 || server.requests == 0.0 {
            return Err(io::Error::other(
                "no request completed in the measured window",
            ));
        }
        Ok(PingPongSample {
            requested: io,
            driver: server.driver,
            requests: client.requests,
            seconds: client.seconds,
            server_requests: server.requests,
            server_cpu: server.cpu,
            server_seconds: server.seconds,
            client_cpu: client.cpu,
            ring: server.ring,
        })
    })
}

struct ServerSample {
    driver: IoKind,
    ring: Option<RingSetup>,
    requests: f64,
    seconds: f64,
    cpu: CpuTime,
}

/// The server shard: accept every connection, echo on each, sample at the schedule's edges, then
/// wait for the client to close.
async fn server(
    config: &RuntimeBenchConfig,
    addr_tx: mpsc::Sender<SocketAddr>,
    schedule: Arc<OnceLock<Schedule>>,
) -> io::Result<ServerSample> {
    let driver = runtime::io_kind().expect("inside a runtime");
    let ring = runtime::ring_setup();
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    addr_tx
        .send(listener.local_addr())
        .map_err(|_| io::Error::other("the benchmark stopped before the client started"))?;
    let echoed_bytes = Rc::new(Cell::new(0u64));
    let mut echoes = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let (stream, _) = time::timeout(setup_timeout(), listener.accept())
            .await
            .map_err(|_| timed_out("accepting the client's connections"))??;
        stream.set_nodelay(true)?;
        echoes.push(runtime::spawn(echo(
            stream,
            config.message_bytes,
            echoed_bytes.clone(),
        )));
    }
    drop(listener);
    let schedule = time::timeout(setup_timeout(), async {
        loop {
            if let Some(s) = schedule.get() {
                return *s;
            }
            time::sleep(Duration::from_millis(SCHEDULE_POLL_MS)).await;
        }
    })
    .await
    .map_err(|_| timed_out("waiting for the client's schedule"))?;

    time::sleep_until(schedule.warm_end).await;
    let (t0, bytes0, cpu0) = (Instant::now(), echoed_bytes.get(), ThreadCpu::read()?);
    time::sleep_until(schedule.end).await;
    let (t1, bytes1, cpu1) = (Instant::now(), echoed_bytes.get(), ThreadCpu::read()?);

    for e in echoes {
        time::timeout(setup_timeout(), e)
            .await
            .map_err(|_| timed_out("draining the connections"))??;
    }
    Ok(ServerSample {
        driver,
        ring,
        requests: (bytes1 - bytes0) as f64 / config.message_bytes as f64,
        seconds: (t1 - t0).as_secs_f64(),
        cpu: cpu1.since(&cpu0),
    })
}

/// Echo whatever arrives until the peer closes.
async fn echo(
    stream: TcpStream,
    message_bytes: usize,
    echoed_bytes: Rc<Cell<u64>>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(message_bytes);
    loop {
        buf.clear();
        let (res, b) = stream.recv(buf).await;
        buf = b;
        let n = match res {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e),
        };
        let (res, b) = stream.send_all(buf).await;
        buf = b;
        res?;
        echoed_bytes.set(echoed_bytes.get() + n as u64);
    }
}

struct ClientSample {
    requests: u64,
    seconds: f64,
    cpu: CpuTime,
}

/// The client shard (epoll): connect, publish the schedule, run every connection until the
/// window ends, then close them all.
async fn client(
    config: &RuntimeBenchConfig,
    addr: SocketAddr,
    schedule: Arc<OnceLock<Schedule>>,
) -> io::Result<ClientSample> {
    let mut streams = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let stream = time::timeout(setup_timeout(), TcpStream::connect(addr))
            .await
            .map_err(|_| timed_out("connecting to the server"))??;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    let warm_end = Instant::now() + config.warmup;
    let s = Schedule {
        warm_end,
        end: warm_end + config.measure,
    };
    schedule
        .set(s)
        .unwrap_or_else(|_| unreachable!("only the client sets the schedule"));

    let stop = Rc::new(Cell::new(false));
    let completed = Rc::new(Cell::new(0u64));
    let conns: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let (stop, completed) = (stop.clone(), completed.clone());
            // Each connection sends its own byte pattern, so a crossed echo is caught.
            let message = vec![i as u8; config.message_bytes];
            runtime::spawn(ping(stream, message, stop, completed))
        })
        .collect();

    time::sleep_until(s.warm_end).await;
    let (t0, done0, cpu0) = (Instant::now(), completed.get(), ThreadCpu::read()?);
    time::sleep_until(s.end).await;
    let (t1, done1, cpu1) = (Instant::now(), completed.get(), ThreadCpu::read()?);
    stop.set(true);

    for c in conns {
        time::timeout(setup_timeout(), c)
            .await
            .map_err(|_| timed_out("finishing the last requests"))??;
    }
    Ok(ClientSample {
        requests: done1 - done0,
        seconds: (t1 - t0).as_secs_f64(),
        cpu: cpu1.since(&cpu0),
    })
}

/// Send `message`, wait for all of its echo, count one request; until `stop`.
async fn ping(
    stream: TcpStream,
    message: Vec<u8>,
    stop: Rc<Cell<bool>>,
    completed: Rc<Cell<u64>>,
) -> io::Result<()> {
    let mut out = message;
    let mut back = Vec::with_capacity(out.len());
    while !stop.get() {
        let (res, o) = stream.send_all(out).await;
        out = o;
        res?;
        back.clear();
        while back.len() < out.len() {
            let (res, b) = stream.recv(back).await;
            back = b;
            if res? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed a connection mid-request",
                ));
            }
        }
        if back != out {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the echo differs from the message sent",
            ));
        }
        completed.set(completed.get() + 1);
    }
    Ok(())
}

/// The calling thread's CPU counters.
struct ThreadCpu {
    /// `se.sum_exec_runtime` in ns from /proc/thread-self/schedstat; `None` when the kernel
    /// reports no schedstat (CONFIG_SCHED_INFO off), then the tick counts are used.
    run_ns: Option<u64>,
    /// utime and stime in clock ticks from /proc/thread-self/stat.
    user_ticks: u64,
    sys_ticks: u64,
}

impl ThreadCpu {
    fn read() -> io::Result<ThreadCpu> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
        let (user_ticks, sys_ticks) = parse_stat_times(&stat).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "cannot parse utime/stime of /proc/thread-self/stat",
            )
        })?;
        let run_ns = std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .filter(|&ns| ns > 0);
        Ok(ThreadCpu {
            run_ns,
            user_ticks,
            sys_ticks,
        })
    }

    fn since(&self, earlier: &ThreadCpu) -> CpuTime {
        let user = self.user_ticks.saturating_sub(earlier.user_ticks) as f64;
        let sys = self.sys_ticks.saturating_sub(earlier.sys_ticks) as f64;
        let seconds = match (self.run_ns, earlier.run_ns) {
            (Some(now), Some(then)) => now.saturating_sub(then) as f64 / 1e9,
            _ => (user + sys) / USER_HZ,
        };
        CpuTime {
            seconds,
            sys_share: if user + sys > 0.0 {
                sys / (user + sys)
            } else {
                0.0
            },
        }
    }
}

impl RuntimeBenchReport {
    fn values(&self, driver: usize, f: impl Fn(&DriverRound) -> Option<f64>) -> Option<Summary> {
        let v: Vec<f64> = self.rounds.iter().filter_map(|r| f(&r[driver])).collect();
        Summary::of(&v)
    }

    fn metric(
        &self,
        name: String,
        unit: &'static str,
        higher_is_better: bool,
        note: Option<&'static str>,
        f: impl Fn(&DriverRound) -> Option<f64> + Copy,
    ) -> Option<Metric> {
        Some(Metric {
            name,
            unit,
            higher_is_better,
            uring: self.values(0, f)?,
            epoll: self.values(1, f)?,
            note,
        })
    }

    /// The comparison rows: each quantity's median and spread per driver.
    pub fn metrics(&self) -> Vec<Metric> {
        const NOP_NOTE: Option<&str> = Some(
            "epoll column of the NOP rows: runtime::nop() on epoll is a task yield, i.e. \
             executor overhead only (no syscall); uring minus epoll = cost of the ring round trip",
        );
        [
            self.metric("ping-pong requests/s".into(), "req/s", true, None, |r| {
                Some(r.ping_pong.requests_per_second())
            }),
            self.metric("server CPU per request".into(), "us", false, None, |r| {
                Some(r.ping_pong.server_cpu_us_per_request())
            }),
            self.metric("server CPU busy".into(), "%", false, None, |r| {
                Some(r.ping_pong.server_busy() * 100.0)
            }),
            self.metric("server CPU in kernel".into(), "%", false, None, |r| {
                Some(r.ping_pong.server_cpu.sys_share * 100.0)
            }),
            self.metric("client CPU per request".into(), "us", false, None, |r| {
                Some(r.ping_pong.client_cpu_us_per_request())
            }),
            self.metric("NOP, 1 task".into(), "ns/op", false, NOP_NOTE, |r| {
                r.nop_sequential.as_ref().map(NopSample::ns_per_op)
            }),
            self.metric(
                format!("NOP, {} tasks", self.config.nop_tasks),
                "ns/op",
                false,
                NOP_NOTE,
                |r| r.nop_batched.as_ref().map(NopSample::ns_per_op),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The ring setup of the io_uring server shard (from the first round that ran io_uring).
    pub fn ring_setup(&self) -> Option<&RingSetup> {
        self.rounds
            .iter()
            .find_map(|r| r[0].ping_pong.ring.as_ref())
    }

    /// Rounds in which the requested driver did not run (io_uring fell back to epoll).
    pub fn fallbacks(&self) -> usize {
        self.rounds
            .iter()
            .flatten()
            .filter(|d| d.ping_pong.driver != d.requested)
            .count()
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let c = &self.config;
        let machine = JsonObject::new()
            .str("kernel", &self.machine.kernel)
            .str("cpu_model", &self.machine.cpu_model)
            .num("cpus", self.machine.cpus as f64)
            .finish();
        let config = JsonObject::new()
            .num("rounds", c.rounds as f64)
            .num("warmup_s", c.warmup.as_secs_f64())
            .num("measure_s", c.measure.as_secs_f64())
            .num("connections", c.connections as f64)
            .num("message_bytes", c.message_bytes as f64)
            .num("nops", c.nops as f64)
            .num("nop_tasks", c.nop_tasks as f64)
            .num("server_cpu", SERVER_CPU as f64)
            .num("client_cpu", CLIENT_CPU as f64)
            .str("client_driver", "epoll")
            .finish();
        let ring = match self.ring_setup() {
            Some(r) => JsonObject::new()
                .num("entries", r.entries as f64)
                .bool("defer_taskrun", r.defer_taskrun)
                .bool("coop_taskrun", r.coop_taskrun)
                .bool("sqpoll", r.sqpoll)
                .bool("registered_ring", r.registered_ring)
                .finish(),
            None => "null".to_string(),
        };
        let summary = |s: &Summary| {
            JsonObject::new()
                .num("median", s.median)
                .num("min", s.min)
                .num("max", s.max)
                .finish()
        };
        let metrics = json_array(self.metrics().iter().map(|m| {
            JsonObject::new()
                .str("name", &m.name)
                .str("unit", m.unit)
                .bool("higher_is_better", m.higher_is_better)
                .raw("uring", &summary(&m.uring))
                .raw("epoll", &summary(&m.epoll))
                .num("ratio_uring_over_epoll", m.ratio())
                .finish()
        }));
        let nop = |n: &Option<NopSample>| match n {
            Some(n) => JsonObject::new()
                .str("driver", &n.driver.to_string())
                .num("tasks", n.tasks as f64)
                .num("ops", n.ops as f64)
                .num("seconds", n.seconds)
                .num("ns_per_op", n.ns_per_op())
                .finish(),
            None => "null".to_string(),
        };
        let rounds = json_array(self.rounds.iter().enumerate().flat_map(|(i, pair)| {
            pair.iter()
                .map(|d| {
                    let p = &d.ping_pong;
                    JsonObject::new()
                        .num("round", (i + 1) as f64)
                        .str("requested", &d.requested.to_string())
                        .str("driver", &p.driver.to_string())
                        .num("requests", p.requests as f64)
                        .num("seconds", p.seconds)
                        .num("requests_per_s", p.requests_per_second())
                        .num("server_cpu_s", p.server_cpu.seconds)
                        .num("server_sys_share", p.server_cpu.sys_share)
                        .num("server_cpu_us_per_request", p.server_cpu_us_per_request())
                        .num("client_cpu_s", p.client_cpu.seconds)
                        .num("client_cpu_us_per_request", p.client_cpu_us_per_request())
                        .raw("nop_sequential", &nop(&d.nop_sequential))
                        .raw("nop_batched", &nop(&d.nop_batched))
                        .finish()
                })
                .collect::<Vec<_>>()
        }));
        JsonObject::new()
            .str("benchmark", "runtime")
            .str(
                "question",
                "io_uring vs epoll server driver: loopback ping-pong throughput and CPU per \
                 request; ring NOP cost",
            )
            .raw("machine", &machine)
            .raw("config", &config)
            .raw("ring_setup", &ring)
            .num("fallbacks", self.fallbacks() as f64)
            .raw("metrics", &metrics)
            .raw("rounds", &rounds)
            .finish()
    }
}

fn summary_cell(s: &Summary) -> String {
    format!("{} ({}..{})", human(s.median), human(s.min), human(s.max))
}

impl fmt::Display for RuntimeBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "ringlog bench runtime: ring NOP and loopback ping-pong, server on io_uring vs epoll"
        )?;
        writeln!(
            f,
            "machine: {}, {} CPUs, kernel {}",
            self.machine.cpu_model, self.machine.cpus, self.machine.kernel
        )?;
        match self.ring_setup() {
            Some(r) => writeln!(
                f,
                "io_uring server ring: {} entries, SINGLE_ISSUER|DEFER_TASKRUN {}, COOP_TASKRUN {}, \
                 SQPOLL {}, registered ring fd {}",
                r.entries,
                yes(r.defer_taskrun),
                yes(r.coop_taskrun),
                yes(r.sqpoll),
                yes(r.registered_ring)
            )?,
            None => writeln!(f, "io_uring server ring: none (io_uring never ran)")?,
        }
        if self.fallbacks() > 0 {
            writeln!(
                f,
                "WARNING: io_uring could not be set up in {} run(s) and fell back to epoll: the \
                 uring column is not io_uring",
                self.fallbacks()
            )?;
        }
        writeln!(
            f,
            "rounds: {} (uring, epoll alternately); ping-pong: {} connections x {} B, {:.1} s \
             warm-up + {:.1} s measured; server shard on CPU {SERVER_CPU}, client shard (epoll) on \
             CPU {CLIENT_CPU}",
            c.rounds,
            c.connections,
            c.message_bytes,
            c.warmup.as_secs_f64(),
            c.measure.as_secs_f64()
        )?;
        if c.nops > 0 {
            writeln!(
                f,
                "NOP: {} runtime::nop() per run, from 1 task and from {} tasks, on CPU {SERVER_CPU}",
                c.nops, c.nop_tasks
            )?;
        }
        writeln!(f)?;
        let metrics = self.metrics();
        writeln!(
            f,
            "{:<28} {:>6}  {:>32}  {:>32}  {:>11}",
            "metric", "unit", "uring median (min..max)", "epoll median (min..max)", "uring/epoll"
        )?;
        for m in &metrics {
            writeln!(
                f,
                "{:<28} {:>6}  {:>32}  {:>32}  {:>11.3}",
                m.name,
                m.unit,
                summary_cell(&m.uring),
                summary_cell(&m.epoll),
                m.ratio()
            )?;
        }
        let mut notes: Vec<&str> = metrics.iter().filter_map(|m| m.note).collect();
        notes.dedup();
        for n in notes {
            writeln!(f, "note: {n}")?;
        }
        writeln!(f)?;
        writeln!(f, "per round:")?;
        for (i, pair) in self.rounds.iter().enumerate() {
            for d in pair {
                let p = &d.ping_pong;
                write!(
                    f,
                    "  {:>2} {:<5} {:>9} req/s  server {:>5.2} us/req {:>3.0}% busy  client {:>5.2} \
                     us/req",
                    i + 1,
                    p.driver.to_string(),
                    human(p.requests_per_second()),
                    p.server_cpu_us_per_request(),
                    p.server_busy() * 100.0,
                    p.client_cpu_us_per_request(),
                )?;
                if let (Some(s), Some(b)) = (&d.nop_sequential, &d.nop_batched) {
                    write!(
                        f,
                        "  nop {:>6.1} ns (1 task) {:>6.1} ns ({} tasks)",
                        s.ns_per_op(),
                        b.ns_per_op(),
                        b.tasks
                    )?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_fields_14_and_15_even_with_odd_command_names() {
        let stat = "28744 (a b) c)) R 28741 28741 22162 0 -1 4194304 101 0 0 0 32 7 0 0 20 0 1 0";
        assert_eq!(parse_stat_times(stat), Some((32, 7)));
        assert_eq!(parse_stat_times("1 (x) R 1 2"), None);
        assert_eq!(parse_stat_times("no parenthesis"), None);
    }

    #[test]
    fn reading_this_threads_cpu_time_works_and_grows() {
        let before = ThreadCpu::read().unwrap();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = ThreadCpu::read().unwrap();
        let cpu = after.since(&before);
        assert!(cpu.seconds > 0.0 && cpu.seconds < 1.0, "{cpu:?}");
        assert!((0.0..=1.0).contains(&cpu.sys_share));
    }

    #[test]
    fn config_limits_are_enforced() {
        assert!(RuntimeBenchConfig::default().validate().is_ok());
        let bad = [
            RuntimeBenchConfig {
                rounds: 0,
                ..Default::default()
            },
            RuntimeBenchConfig {
                connections: CONNECTIONS_MAX + 1,
                ..Default::default()
            },
            RuntimeBenchConfig {
                measure: Duration::ZERO,
                ..Default::default()
            },
            RuntimeBenchConfig {
                nop_tasks: 0,
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn human_groups_thousands() {
        assert_eq!(human(1_234_567.8), "1,234,568");
        assert_eq!(human(214_000.0), "214,000");
        assert_eq!(human(4.257), "4.26");
        assert_eq!(human(f64::NAN), "n/a");
    }

    /// A short end-to-end run of both drivers: every number comes out positive and the JSON
    /// names both drivers. Bounded to well under two seconds of traffic.
    #[test]
    fn a_short_run_reports_both_drivers() {
        let config = RuntimeBenchConfig {
            rounds: 1,
            warmup: Duration::from_millis(50),
            measure: Duration::from_millis(200),
            connections: 4,
            nops: 2_000,
            nop_tasks: 4,
            ..Default::default()
        };
        let report = run(&config).unwrap();
        assert_eq!(report.rounds.len(), 1);
        let metrics = report.metrics();
        assert_eq!(metrics.len(), 7);
        for m in &metrics {
            assert!(m.uring.median > 0.0 && m.epoll.median >= 0.0, "{m:?}");
        }
        let json = report.to_json();
        assert!(json.contains("\"requested\":\"uring\""));
        assert!(json.contains("\"requested\":\"epoll\""));
        let text = report.to_string();
        assert!(
            text.contains("kernel") && text.contains("uring/epoll"),
            "{text}"
        );
    }
}
