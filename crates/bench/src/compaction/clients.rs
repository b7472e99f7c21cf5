//! Part 2's clients: the measured producer (a thread of its own for the whole run), the fill of
//! the dirty topic, and the admin requests (topics, `cleanup.policy`).
//!
//! ```text
//!  producer thread (pinned to the last CPU, io_uring runtime for ns timers):
//!    conn ── Produce `live` p0, acks=1, N x 1 KiB, request k due at t_k = t0 + k * interval,
//!            sent then when fewer than 5 are unanswered ──> broker
//!         <── response: sample (t_k, now - t_k, now - sent)
//!  coordinator thread:
//!    conn ── Produce `dirty` p0, 500 keyed records per batch, codec C, 16 in flight ──> broker
//!    conn ── IncrementalAlterConfigs dirty cleanup.policy=compact | delete ──> broker
//! ```
//!
//! # Invariants
//! - The producer stops sending once told to and returns after its last response; a broker
//!   error ends it with that error, never counted as a sample. It keeps at most
//!   [`SAMPLES_MAX`] samples (the rest are counted).
//! - The dirty fill writes key `i % keys` in turn, so every key is rewritten many times and a
//!   pass keeps about one record per key; it stops once it has written the asked bytes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::*;
use super::stats::Sample;
use crate::load::LoadError;
use ringlog_broker::topic_config::defs::CLEANUP_POLICY;
use ringlog_client::api::{self, RESOURCE_TYPE_TOPIC};
use ringlog_client::{ConnectOptions, Connection};
use ringlog_protocol::messages::ProduceRequest;
use ringlog_protocol::ApiKey;
use ringlog_runtime::shard::pin_to_cpu;
use ringlog_runtime::{time, IoKind, RuntimeConfig};
use ringlog_storage::records::{encode_batch, BatchMeta, Compression, Record};

/// The topic the measured load writes.
pub const LIVE_TOPIC: &str = "live";
/// The topic the cleaner compacts.
pub const DIRTY_TOPIC: &str = "dirty";
/// acks=1: the measured load waits for the leader's append (and, with `--flush always`, its
/// group commit), not for replicas (there are none).
const LIVE_ACKS: i16 = 1;
/// The producer keeps at most this many samples (16 bytes each): at the default 500 requests/s,
/// 5.5 hours.
pub const SAMPLES_MAX: usize = 10_000_000;
/// Distinct prebuilt batches of the measured load (sent in turn; their content does not matter).
const LIVE_BATCHES: usize = 8;
/// Most measured requests unanswered at once: Kafka's producer default
/// (`max.in.flight.requests.per.connection`).
pub const LIVE_IN_FLIGHT_MAX: usize = 5;
/// The producer's first request is scheduled this long after it connected.
const START_DELAY_MS: u64 = 50;
/// How long the producer may take to connect.
const CONNECT_WAIT_MS: u64 = 10_000;

/// A connection named for this benchmark.
pub async fn connect(addr: SocketAddr) -> Result<Connection, LoadError> {
    let options = ConnectOptions {
        client_id: "ringlog-bench-compaction".into(),
        ..ConnectOptions::default()
    };
    Ok(Connection::connect_with(addr, options).await?)
}

/// Wall-clock time in milliseconds since the epoch (batch timestamps).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Admin work against `addr` from this thread (a runtime of its own for the call).
pub fn admin<T>(
    addr: SocketAddr,
    f: impl AsyncFnOnce(&mut Connection) -> Result<T, LoadError>,
) -> Result<T, LoadError> {
    ringlog_runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async move {
        let mut conn = connect(addr).await?;
        f(&mut conn).await
    })?
}

/// Creates `live` and `dirty` (one partition each, `dirty` with `cleanup.policy=delete` until a
/// compaction window switches it) and waits until Metadata lists both.
pub async fn create_topics(conn: &mut Connection) -> Result<(), LoadError> {
    let delete: &[(&str, &str)] = &[(CLEANUP_POLICY, "delete")];
    conn.create_topics_with_configs(&[(LIVE_TOPIC, 1, &[]), (DIRTY_TOPIC, 1, delete)])
        .await?;
    let wait = Duration::from_millis(crate::load::topic_wait::TOPIC_VISIBLE_WAIT_MS_MAX);
    for topic in [LIVE_TOPIC, DIRTY_TOPIC] {
        crate::load::topic_wait::wait_until_visible(conn, topic, wait).await?;
    }
    Ok(())
}

/// Sets the dirty topic's `cleanup.policy` (IncrementalAlterConfigs).
pub async fn set_policy(conn: &mut Connection, policy: &str) -> Result<(), LoadError> {
    conn.set_configs(
        RESOURCE_TYPE_TOPIC,
        DIRTY_TOPIC,
        &[(CLEANUP_POLICY, policy)],
    )
    .await
    .map_err(|e| {
        LoadError(format!(
            "setting {CLEANUP_POLICY}={policy} on {DIRTY_TOPIC}: {e}"
        ))
    })
}

/// Text-like value bytes (words of a small vocabulary picked by a linear congruential
/// sequence from `seed`): codecs compress them about as they compress real values.
pub fn text_value(bytes: usize, seed: u64) -> Bytes {
    const WORDS: [&str; 16] = [
        "order",
        "id",
        "status",
        "shipped",
        "pending",
        "customer",
        "amount",
        "eur",
        "usd",
        "warehouse",
        "north",
        "south",
        "item",
        "qty",
        "price",
        "note",
    ];
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut out = Vec::with_capacity(bytes + 16);
    while out.len() < bytes {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.extend_from_slice(WORDS[(state >> 60) as usize].as_bytes());
        out.push(if (state >> 56) & 3 == 0 { b',' } else { b' ' });
    }
    out.truncate(bytes);
    Bytes::from(out)
}

/// The key of dirty record `i` (its position in the fill).
fn dirty_key(i: u64, keys: u64) -> Bytes {
    Bytes::from(format!("key-{:012}", i % keys.max(1)))
}

/// Encodes one batch; the error names it.
fn encode(records: &[Record], codec: Compression, what: &str) -> Result<Bytes, LoadError> {
    let meta = BatchMeta {
        base_timestamp: now_ms(),
        ..BatchMeta::default()
    };
    let mut out = Vec::new();
    encode_batch(&meta, records, codec, &mut out)
        .map_err(|e| LoadError(format!("encoding {what}: {e}")))?;
    Ok(Bytes::from(out))
}

/// The batches of the dirty fill, sent in turn: batch `b` holds records `b * per ..` of the key
/// cycle (`per` = [`DIRTY_BATCH_RECORDS`]), so the batches together hold every key (the last
/// one wraps around).
pub fn dirty_batches(keys: u64, codec: Compression) -> Result<Vec<Bytes>, LoadError> {
    let per = DIRTY_BATCH_RECORDS as u64;
    (0..keys.div_ceil(per).max(1))
        .map(|b| {
            let records: Vec<Record> = (0..per)
                .map(|j| {
                    let i = b * per + j;
                    Record {
                        offset_delta: j as i32,
                        key: Some(dirty_key(i, keys)),
                        value: Some(text_value(DIRTY_VALUE_BYTES, i)),
                        ..Record::default()
                    }
                })
                .collect();
            encode(&records, codec, &format!("dirty batch {b}"))
        })
        .collect()
}

/// What a fill wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Filled {
    /// Batch bytes acknowledged (the bytes they take in the log).
    pub bytes: u64,
    /// Records acknowledged.
    pub records: u64,
    /// From the first send to the last acknowledgement.
    pub seconds: f64,
}

/// Writes `batches` in turn to the dirty topic ([`FILL_IN_FLIGHT`] requests in flight, acks=1)
/// until at least `bytes` are acknowledged.
pub async fn fill_dirty(
    conn: &mut Connection,
    batches: &[Bytes],
    bytes: u64,
) -> Result<Filled, LoadError> {
    if batches.is_empty() {
        return Err(LoadError("no dirty batch to send".into()));
    }
    let version = conn.version(ApiKey::Produce)?;
    let requests: Vec<ProduceRequest> = batches
        .iter()
        .map(|b| api::produce_request(DIRTY_TOPIC, 0, b.clone(), LIVE_ACKS))
        .collect();
    let started = Instant::now();
    let (mut sent_bytes, mut k) = (0u64, 0usize);
    let mut in_flight: VecDeque<u64> = VecDeque::with_capacity(FILL_IN_FLIGHT);
    let mut filled = Filled::default();
    loop {
        while sent_bytes < bytes && in_flight.len() < FILL_IN_FLIGHT {
            let i = k % requests.len();
            conn.send(&requests[i], version).await?;
            let n = batches[i].len() as u64;
            sent_bytes += n;
            in_flight.push_back(n);
            k += 1;
        }
        let Some(n) = in_flight.pop_front() else {
            break;
        };
        let response = conn.recv::<ProduceRequest>().await?;
        api::produce_result(&response, DIRTY_TOPIC, 0)?;
        filled.bytes += n;
        filled.records += DIRTY_BATCH_RECORDS as u64;
    }
    filled.seconds = started.elapsed().as_secs_f64();
    Ok(filled)
}

/// What the measured producer did.
#[derive(Debug, Default)]
pub struct Produced {
    /// One per answered request, in schedule order (at most [`SAMPLES_MAX`]).
    pub samples: Vec<Sample>,
    /// Requests answered past [`SAMPLES_MAX`] (not kept).
    pub dropped: u64,
}

/// The measured producer, running on its own thread until [`Producer::stop`].
pub struct Producer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Produced, LoadError>>,
}

impl Producer {
    /// Starts the measured load against `addr`: `c.live_batch_records` records of
    /// [`LIVE_RECORD_BYTES`] per request to `live`, one request every `c.live_interval()`;
    /// sample times count from `epoch`. Returns once the producer is connected.
    pub fn start(
        addr: SocketAddr,
        c: &CompactionBenchConfig,
        epoch: Instant,
    ) -> Result<Producer, LoadError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let (records, interval) = (c.live_batch_records, c.live_interval());
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-compaction-produce".into())
            .spawn(move || {
                // The broker's one shard is pinned to CPU 0: the producer gets the other.
                pin_to_cpu(ringlog_runtime::online_cpus().saturating_sub(1));
                ringlog_runtime::block_on(&RuntimeConfig::single(IoKind::Uring), async move {
                    let mut conn = connect(addr).await?;
                    let _ = ready_tx.send(());
                    produce(&mut conn, records, interval, epoch, &flag).await
                })?
            })
            .map_err(|e| LoadError(format!("starting the producer thread: {e}")))?;
        let producer = Producer { stop, thread };
        if ready_rx
            .recv_timeout(Duration::from_millis(CONNECT_WAIT_MS))
            .is_err()
        {
            // Either it failed (its error says why) or it is still connecting.
            return Err(producer
                .stop()
                .err()
                .unwrap_or_else(|| LoadError("the producer did not connect in time".into())));
        }
        Ok(producer)
    }

    /// Stops sending; returns the samples once the last request is answered.
    pub fn stop(self) -> Result<Produced, LoadError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| LoadError("the producer thread panicked".into()))?
    }
}

/// The measured load on `conn` until `stop`: request `k` is scheduled at `first + k *
/// interval` and sent then if fewer than [`LIVE_IN_FLIGHT_MAX`] are unanswered. While one is
/// unanswered the producer waits for its response (read at once, so round trips are exact), and
/// then sends every request that fell due meanwhile, up to the bound: a slow broker delays
/// sends, and the delay counts in the latency from the schedule.
async fn produce(
    conn: &mut Connection,
    records: usize,
    interval: Duration,
    epoch: Instant,
    stop: &AtomicBool,
) -> Result<Produced, LoadError> {
    let version = conn.version(ApiKey::Produce)?;
    let requests = (0..LIVE_BATCHES)
        .map(|b| {
            let batch: Vec<Record> = (0..records)
                .map(|j| Record {
                    offset_delta: j as i32,
                    value: Some(text_value(LIVE_RECORD_BYTES, (b * records + j) as u64)),
                    ..Record::default()
                })
                .collect();
            let bytes = encode(&batch, Compression::None, "a measured batch")?;
            Ok(api::produce_request(LIVE_TOPIC, 0, bytes, LIVE_ACKS))
        })
        .collect::<Result<Vec<_>, LoadError>>()?;
    let first = Instant::now() + Duration::from_millis(START_DELAY_MS);
    let mut out = Produced::default();
    // (scheduled, sent) of each unanswered request, oldest first.
    let mut in_flight: VecDeque<(Instant, Instant)> = VecDeque::with_capacity(LIVE_IN_FLIGHT_MAX);
    let mut k = 0u64;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let due = first + interval.mul_f64(k as f64);
        if !stopping && in_flight.len() < LIVE_IN_FLIGHT_MAX && Instant::now() >= due {
            conn.send(&requests[k as usize % requests.len()], version)
                .await?;
            in_flight.push_back((due, Instant::now()));
            k += 1;
            continue;
        }
        let Some(&(scheduled, sent)) = in_flight.front() else {
            if stopping {
                return Ok(out);
            }
            time::sleep_until(due).await;
            continue;
        };
        let response = conn.recv::<ProduceRequest>().await?;
        in_flight.pop_front();
        api::produce_result(&response, LIVE_TOPIC, 0)?;
        if out.samples.len() < SAMPLES_MAX {
            out.samples.push(Sample {
                scheduled_ns: scheduled.saturating_duration_since(epoch).as_nanos() as u64,
                latency_us: scheduled.elapsed().as_micros() as u64,
                round_trip_us: sent.elapsed().as_micros() as u64,
            });
        } else {
            out.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_client::records::decode_batches;

    #[test]
    fn text_values_are_sized_deterministic_and_compressible() {
        let v = text_value(100, 7);
        assert_eq!(v.len(), 100);
        assert_eq!(v, text_value(100, 7));
        assert_ne!(v, text_value(100, 8));
        assert!(v
            .iter()
            .all(|b| b.is_ascii_lowercase() || b" ,".contains(b)));
        assert!(text_value(0, 1).is_empty());
        // Words of a 16-word vocabulary: lz4 takes a batch of them well below its size.
        let records: Vec<Record> = (0..100)
            .map(|i| Record {
                offset_delta: i,
                key: Some(dirty_key(i as u64, 1_000)),
                value: Some(text_value(100, i as u64)),
                ..Record::default()
            })
            .collect();
        let plain = encode(&records, Compression::None, "t").unwrap();
        let lz4 = encode(&records, Compression::Lz4, "t").unwrap();
        assert!(
            lz4.len() * 2 < plain.len(),
            "{} vs {}",
            lz4.len(),
            plain.len()
        );
    }

    #[test]
    fn dirty_batches_cycle_through_every_key() {
        let batches = dirty_batches(1_250, Compression::Lz4).unwrap();
        assert_eq!(batches.len(), 3);
        let mut keys = std::collections::BTreeSet::new();
        for b in &batches {
            let d = decode_batches(b, "dirty").unwrap();
            assert_eq!(d.records.len(), DIRTY_BATCH_RECORDS);
            for r in &d.records {
                keys.insert(r.key.clone().unwrap());
                assert_eq!(r.value.as_ref().unwrap().len(), DIRTY_VALUE_BYTES);
            }
        }
        assert_eq!(keys.len(), 1_250);
        // Fewer keys than a batch: one batch, keys repeating inside it.
        let one = dirty_batches(7, Compression::None).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(dirty_key(7, 7), Bytes::from_static(b"key-000000000000"));
    }
}
