//! The client side of `bench delay`, each on a thread of its own with its own runtime: the
//! pipelined enqueue load (delayed records as fast as they are acknowledged), the paced
//! measured stream of part 1 with its baseline records, and the consumers that timestamp what
//! they receive.
//!
//! ```text
//!  enqueue:  conn x ENQUEUE_CONNECTIONS ── Produce (ENQUEUE_IN_FLIGHT deep, acks=all) ──> broker
//!  stream:   1 conn, every STREAM_TICK_MS: [n delayed records, due = tick + lead + i/n tick]
//!                                          [1 baseline record, sent-us header]
//!  consumers: 1 conn per partition, long-poll Fetch; receipt time taken when a response is in
//!             lateness = receipt - due, baseline = receipt - sent
//! ```
//!
//! # Invariants
//! - A task stops sending once its count or deadline is reached and returns only after every
//!   request it sent is answered; a broker error fails the run and is never counted.
//! - Consumers stop when they have every record they wait for, or at their deadline; what was
//!   missing then is reported, never silently dropped.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::{
    DelayBenchConfig, ENQUEUE_BATCH_RECORDS, ENQUEUE_CONNECTIONS, ENQUEUE_IN_FLIGHT,
    STREAM_LEAD_MS, STREAM_TICK_MS,
};
use super::wire::{
    batch_with_header, connect, delayed_batch, header_number, now_ms, now_us, value, SENT_US_HEADER,
};
use crate::load::LoadError;
use crate::WholeBatches;
use ringlog_broker::delay::DELIVER_AT_HEADER;
use ringlog_client::records::decode_batches;
use ringlog_client::{api, Connection};
use ringlog_protocol::messages::ProduceRequest;
use ringlog_protocol::ApiKey;
use ringlog_runtime::{IoKind, RuntimeConfig};

/// acks=all: an enqueued delayed record is acknowledged once it is durable in the timer log.
const ACKS_ALL: i16 = -1;
/// Long-poll wait of the consumers: short, so a consumer notices its deadline.
const FETCH_WAIT_MS: u64 = 100;
/// Fetch max_bytes per partition (Kafka's max.partition.fetch.bytes).
const FETCH_BYTES: i32 = 1 << 20;

/// Runs `f` on a fresh thread with a single-shard runtime of driver `io`.
pub fn on_thread<T: Send + 'static, F>(
    name: &str,
    io: IoKind,
    f: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<Result<T, LoadError>>
where
    F: std::future::Future<Output = Result<T, LoadError>>,
{
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || ringlog_runtime::block_on(&RuntimeConfig::single(io), f())?)
        .expect("spawning a benchmark thread")
}

/// Joins a benchmark thread.
pub fn join<T>(h: std::thread::JoinHandle<Result<T, LoadError>>) -> Result<T, LoadError> {
    h.join()
        .map_err(|_| LoadError("a benchmark thread panicked".into()))?
}

/// When the records of enqueue batch `k` are due.
#[derive(Clone, Copy, Debug)]
pub enum Dues {
    /// All at one instant (epoch ms).
    At(i64),
    /// Batch `k` at `first_ms + (k % slots)` seconds: spread over `slots` slots of the wheel.
    Spread {
        /// Due time of batch 0, epoch ms.
        first_ms: i64,
        /// Distinct seconds.
        slots: i64,
    },
}

impl Dues {
    fn of(self, k: u64) -> i64 {
        match self {
            Dues::At(d) => d,
            Dues::Spread { first_ms, slots } => first_ms + (k as i64 % slots.max(1)) * 1_000,
        }
    }
}

/// How long an enqueue runs: a count of records, or a window.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// This many records.
    Records(u64),
    /// Sending stops after this long (what is in flight is still counted).
    Window(Duration),
}

/// What an enqueue did.
#[derive(Clone, Copy, Debug)]
pub struct Enqueued {
    /// Records acknowledged.
    pub records: u64,
    /// From the first send to the last acknowledgement.
    pub seconds: f64,
    /// Wall-clock time of the last acknowledgement, epoch ms.
    pub last_ack_ms: i64,
}

impl Enqueued {
    /// Records acknowledged per second.
    pub fn per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }
}

/// Delayed records to `topic` (partitions round robin over the connections) as fast as they
/// are acknowledged, acks=all, until `until`.
pub fn enqueue(
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
    dues: Dues,
    until: Until,
) -> Result<Enqueued, LoadError> {
    let topic = topic.to_string();
    join(on_thread(
        "bench-enqueue",
        IoKind::Epoll,
        move || async move {
            let mut conns = Vec::with_capacity(ENQUEUE_CONNECTIONS);
            for _ in 0..ENQUEUE_CONNECTIONS {
                conns.push(connect(addr).await?);
            }
            let start = Instant::now();
            let state = Rc::new(EnqueueState {
                until: match until {
                    Until::Records(n) => Ok(n),
                    Until::Window(w) => Err(start + w),
                },
                issued: Cell::new(0),
                batches: Cell::new(0),
                acked: Cell::new(0),
                cache: RefCell::new(None),
                value: value(),
            });
            let tasks: Vec<_> = conns
                .into_iter()
                .enumerate()
                .map(|(i, conn)| {
                    let (state, topic) = (state.clone(), topic.clone());
                    let partition = i as i32 % partitions;
                    ringlog_runtime::spawn(async move {
                        enqueue_task(conn, &topic, partition, dues, &state).await
                    })
                })
                .collect();
            for t in tasks {
                t.await?;
            }
            Ok(Enqueued {
                records: state.acked.get(),
                seconds: start.elapsed().as_secs_f64(),
                last_ack_ms: now_ms(),
            })
        },
    ))
}

struct EnqueueState {
    /// A count of records, or the instant sending stops.
    until: Result<u64, Instant>,
    issued: Cell<u64>,
    batches: Cell<u64>,
    acked: Cell<u64>,
    /// The last batch built, by due time and size (all batches of `Dues::At` are the same).
    cache: RefCell<Option<(i64, usize, Bytes)>>,
    value: Bytes,
}

impl EnqueueState {
    /// The next batch to send (its records), or `None` when the enqueue is done.
    fn claim(&self, dues: Dues) -> Option<(Bytes, u64)> {
        let n = match self.until {
            Ok(count) => (count - self.issued.get()).min(ENQUEUE_BATCH_RECORDS as u64),
            Err(stop) if Instant::now() < stop => ENQUEUE_BATCH_RECORDS as u64,
            Err(_) => 0,
        };
        if n == 0 {
            return None;
        }
        let k = self.batches.get();
        self.batches.set(k + 1);
        self.issued.set(self.issued.get() + n);
        let due = dues.of(k);
        let mut cache = self.cache.borrow_mut();
        match &*cache {
            Some((d, len, b)) if *d == due && *len == n as usize => Some((b.clone(), n)),
            _ => {
                let b = delayed_batch(&self.value, &vec![due; n as usize]);
                *cache = Some((due, n as usize, b.clone()));
                Some((b, n))
            }
        }
    }
}

async fn enqueue_task(
    mut conn: Connection,
    topic: &str,
    partition: i32,
    dues: Dues,
    state: &EnqueueState,
) -> Result<(), LoadError> {
    let version = conn.version(ApiKey::Produce)?;
    let mut in_flight: VecDeque<u64> = VecDeque::with_capacity(ENQUEUE_IN_FLIGHT);
    loop {
        while in_flight.len() < ENQUEUE_IN_FLIGHT {
            let Some((batch, n)) = state.claim(dues) else {
                break;
            };
            let request = api::produce_request(topic, partition, batch, ACKS_ALL);
            conn.send(&request, version).await?;
            in_flight.push_back(n);
        }
        let Some(n) = in_flight.pop_front() else {
            return Ok(());
        };
        let response = conn.recv::<ProduceRequest>().await?;
        api::produce_result(&response, topic, partition)?;
        state.acked.set(state.acked.get() + n);
    }
}

/// Part 1's measured stream, as produced.
#[derive(Clone, Copy, Debug)]
pub struct Streamed {
    /// Delayed records acknowledged.
    pub delayed: u64,
    /// Baseline records acknowledged.
    pub baseline: u64,
    /// Due time of the last delayed record, epoch ms.
    pub last_due_ms: i64,
}

/// Produces part 1's measured stream to `topic`: every tick a batch of delayed records due
/// [`STREAM_LEAD_MS`] later (spread over the tick) and one baseline record, alternating
/// partitions. Paced from `first_tick` (epoch ms); runs on the io_uring driver, whose timers
/// have ns resolution.
pub fn stream(
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
    c: &DelayBenchConfig,
    first_tick: Instant,
) -> std::thread::JoinHandle<Result<Streamed, LoadError>> {
    let topic = topic.to_string();
    let (per_tick, ticks) = (c.records_per_tick(), c.ticks());
    on_thread("bench-stream", IoKind::Uring, move || async move {
        let mut conn = connect(addr).await?;
        let version = conn.version(ApiKey::Produce)?;
        let value = value();
        let mut in_flight: VecDeque<(i32, bool, u64)> = VecDeque::new();
        let mut out = Streamed {
            delayed: 0,
            baseline: 0,
            last_due_ms: 0,
        };
        let t0_ms =
            now_ms() + (first_tick.saturating_duration_since(Instant::now())).as_millis() as i64;
        for k in 0..ticks {
            ringlog_runtime::time::sleep_until(
                first_tick + Duration::from_millis(k * STREAM_TICK_MS),
            )
            .await;
            let partition = (k % partitions as u64) as i32;
            let tick_due = t0_ms + (STREAM_LEAD_MS + k * STREAM_TICK_MS) as i64;
            let dues: Vec<i64> = (0..per_tick)
                .map(|i| tick_due + (i as u64 * STREAM_TICK_MS / per_tick as u64) as i64)
                .collect();
            out.last_due_ms = *dues.last().expect("at least one record per tick");
            let delayed = delayed_batch(&value, &dues);
            let request = api::produce_request(&topic, partition, delayed, ACKS_ALL);
            conn.send(&request, version).await?;
            in_flight.push_back((partition, true, per_tick as u64));
            let baseline = batch_with_header(&value, SENT_US_HEADER, &[Some(now_us())]);
            let request = api::produce_request(&topic, partition, baseline, ACKS_ALL);
            conn.send(&request, version).await?;
            in_flight.push_back((partition, false, 1));
            // Answers are read as they come; a slow broker shows as lateness, not as a slower
            // stream (up to ENQUEUE_IN_FLIGHT ticks ahead).
            while in_flight.len() > 2 * ENQUEUE_IN_FLIGHT
                || (k + 1 == ticks && !in_flight.is_empty())
            {
                let (p, delayed, n) = in_flight.pop_front().expect("non-empty");
                let response = conn.recv::<ProduceRequest>().await?;
                api::produce_result(&response, &topic, p)?;
                if delayed {
                    out.delayed += n;
                } else {
                    out.baseline += n;
                }
            }
        }
        Ok(out)
    })
}

/// What part 1's consumers saw, in microseconds.
#[derive(Debug, Default)]
pub struct Received {
    /// Receipt minus due time of each delayed record.
    pub lateness_us: Vec<i64>,
    /// Receipt minus send time of each baseline record.
    pub baseline_us: Vec<i64>,
}

/// Records a consumer was handed: (fetched record bytes, receipt time in epoch us); returns
/// the offset after the last whole batch, if there was one.
type Seen = Rc<dyn Fn(&Bytes, i64) -> Result<Option<i64>, LoadError>>;

/// One long-polling consumer per partition of `topic` (its own connection, from `starts[p]`),
/// on this thread, until `done()` or `deadline`; every response goes to `seen`.
async fn consume_partitions(
    conns: Vec<Connection>,
    topic: &str,
    starts: Vec<i64>,
    deadline: Instant,
    done: Rc<dyn Fn() -> bool>,
    seen: Seen,
) -> Result<(), LoadError> {
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(starts)
        .enumerate()
        .map(|(p, (mut conn, mut offset))| {
            let (done, seen, topic) = (done.clone(), seen.clone(), topic.to_string());
            ringlog_runtime::spawn(async move {
                while !done() && Instant::now() < deadline {
                    let wait = Duration::from_millis(FETCH_WAIT_MS);
                    let f = conn
                        .fetch(&topic, p as i32, offset, FETCH_BYTES, wait)
                        .await?;
                    if let Some(next) = seen(&f.records, now_us())? {
                        offset = next;
                    }
                }
                Ok::<(), LoadError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    Ok(())
}

/// `n` connections to `addr`.
async fn connections(addr: SocketAddr, n: i32) -> Result<Vec<Connection>, LoadError> {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(connect(addr).await?);
    }
    Ok(conns)
}

/// Part 1's consumers: one long-polling connection per partition of `topic` from its current
/// end, until `delayed` delayed and `baseline` baseline records are in or at `deadline`.
/// Returns once every consumer is connected and positioned (the handle then yields the samples).
pub fn receive(
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
    delayed: u64,
    baseline: u64,
    deadline: Instant,
) -> Result<std::thread::JoinHandle<Result<Received, LoadError>>, LoadError> {
    let topic = topic.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let h = on_thread("bench-receive", IoKind::Epoll, move || async move {
        let all: Vec<i32> = (0..partitions).collect();
        let ends = connect(addr)
            .await?
            .list_offsets(&topic, &all, api::LATEST_TIMESTAMP)
            .await?;
        let conns = connections(addr, partitions).await?;
        let _ = ready_tx.send(());
        let got = Rc::new(RefCell::new(Received::default()));
        let g = got.clone();
        let done = move || {
            let g = g.borrow();
            g.lateness_us.len() as u64 >= delayed && g.baseline_us.len() as u64 >= baseline
        };
        let (g, t) = (got.clone(), topic.clone());
        let seen = move |bytes: &Bytes, at: i64| {
            let records = decode_batches(bytes, &t)?;
            let mut g = g.borrow_mut();
            for r in &records.records {
                if let Some(due) = header_number(&r.headers, DELIVER_AT_HEADER) {
                    g.lateness_us.push(at - due * 1_000);
                } else if let Some(sent) = header_number(&r.headers, SENT_US_HEADER) {
                    g.baseline_us.push(at - sent);
                }
            }
            Ok(records.next_offset)
        };
        consume_partitions(conns, &topic, ends, deadline, Rc::new(done), Rc::new(seen)).await?;
        Ok(got.take())
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| LoadError("the consumers did not connect in time".into()))?;
    Ok(h)
}

/// What part 2's draining consumers saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Drained {
    /// Records received.
    pub records: u64,
    /// Wall-clock time the first record was received, epoch us.
    pub first_us: Option<i64>,
    /// Wall-clock time the last of `want` records was received, epoch us.
    pub all_us: Option<i64>,
}

/// Part 2's consumers: one long-polling connection per partition of `topic` from offset 0,
/// counting records (whole batches, not decoded) until `want` are in or at `deadline`.
pub fn drain(
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
    want: u64,
    deadline: Instant,
) -> std::thread::JoinHandle<Result<Drained, LoadError>> {
    let topic = topic.to_string();
    on_thread("bench-drain", IoKind::Epoll, move || async move {
        let conns = connections(addr, partitions).await?;
        let got = Rc::new(Cell::new(Drained::default()));
        let g = got.clone();
        let done = move || g.get().records >= want;
        let g = got.clone();
        let seen = move |bytes: &Bytes, at: i64| {
            let whole = WholeBatches::of(bytes);
            if whole.records > 0 {
                let mut d = g.get();
                d.records += whole.records;
                d.first_us.get_or_insert(at);
                if d.records >= want {
                    d.all_us.get_or_insert(at);
                }
                g.set(d);
            }
            Ok(whole.next_offset)
        };
        let starts = vec![0; partitions as usize];
        consume_partitions(
            conns,
            &topic,
            starts,
            deadline,
            Rc::new(done),
            Rc::new(seen),
        )
        .await?;
        Ok(got.get())
    })
}
