//! The loopback ping-pong run: a server shard on the driver under test echoes; a client shard
//! (always epoll) keeps `connections` connections with one message each in flight; both sample
//! their counters and their thread's CPU time (through [`crate::cpu`]) at the same instants.
//!
//! # Invariants
//! - Both sides measure the same window: the client publishes the schedule before the warm-up
//!   ends, and the server waits for it (bounded) before it samples.
//! - Every connection is closed and drained before the run returns; a crossed or short echo is
//!   an error, never a count.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::measure::{CpuTime, PingPongSample};
use super::run::{join, setup_timeout, timed_out};
use super::{RuntimeBenchConfig, CLIENT_CPU, SERVER_CPU};
use crate::cpu::ThreadCpu;
use ringlog_runtime::net::{TcpListener, TcpStream};
use ringlog_runtime::shard::pin_to_cpu;
use ringlog_runtime::uring::RingSetup;
use ringlog_runtime::{time, IoKind, RuntimeConfig};

/// Poll interval of the server while it waits for the client to publish the schedule (setup
/// only, never inside the measured window).
const SCHEDULE_POLL_MS: u64 = 1;

/// When the client measures: both sides sample at these instants (one monotonic clock).
#[derive(Clone, Copy, Debug)]
struct Schedule {
    warm_end: Instant,
    end: Instant,
}

/// One ping-pong run with the server on `io`.
pub(super) fn ping_pong(config: &RuntimeBenchConfig, io: IoKind) -> io::Result<PingPongSample> {
    let schedule = Arc::new(OnceLock::new());
    let (addr_tx, addr_rx) = mpsc::channel();
    thread::scope(|scope| {
        let server_schedule = schedule.clone();
        let server = thread::Builder::new()
            .name("bench-server".into())
            .spawn_scoped(scope, move || {
                pin_to_cpu(SERVER_CPU);
                ringlog_runtime::block_on(
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
                ringlog_runtime::block_on(
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
    let driver = ringlog_runtime::io_kind().expect("inside a runtime");
    let ring = ringlog_runtime::ring_setup();
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
        echoes.push(ringlog_runtime::spawn(echo(
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
    let (t0, bytes0, cpu0) = (Instant::now(), echoed_bytes.get(), ThreadCpu::current()?);
    time::sleep_until(schedule.end).await;
    let (t1, bytes1, cpu1) = (Instant::now(), echoed_bytes.get(), ThreadCpu::current()?);

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
            ringlog_runtime::spawn(ping(stream, message, stop, completed))
        })
        .collect();

    time::sleep_until(s.warm_end).await;
    let (t0, done0, cpu0) = (Instant::now(), completed.get(), ThreadCpu::current()?);
    time::sleep_until(s.end).await;
    let (t1, done1, cpu1) = (Instant::now(), completed.get(), ThreadCpu::current()?);
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
