//! The broker section of the transfer benchmark: a broker started in-process (one io_uring
//! shard, `--flush never`) on a topic produced once; per path, the broker restarted with
//! `transfer = path` and one consumer fetching the whole segment, against a raw run of the same
//! segment file in [`FETCH_BYTES`] slices in the same round.
//!
//! # Invariants
//! - Every record lives in one segment file, so the raw runs send exactly the bytes the broker
//!   serves.
//! - The broker data directory is removed when the section ends, also on errors.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::measure::{BrokerSample, CpuSplit, TransferBenchReport};
use super::run::{raw_run, warm};
use super::{
    TransferBenchConfig, FETCH_BYTES, PRODUCE_IN_FLIGHT, RECEIVER_CPU, RECORDS_PER_BATCH,
    RECORD_BYTES,
};
use crate::cpu::{ThreadCpu, ThreadsSnapshot};
use crate::WholeBatches;
use ringlog_broker::transfer::TransferPath;
use ringlog_runtime::shard::pin_to_cpu;
use ringlog_runtime::{IoKind, RuntimeConfig};

/// Segment size of the broker run: everything in one segment, one file to send raw.
const BROKER_SEGMENT_BYTES: u64 = 1 << 30;
/// Topic of the broker run.
const TOPIC: &str = "bench-transfer";

pub(super) fn broker_section(
    config: &TransferBenchConfig,
    report: &mut TransferBenchReport,
    progress: &mut dyn FnMut(&str),
) -> io::Result<()> {
    let data = config.dir.join("transfer-bench-broker");
    let _ = std::fs::remove_dir_all(&data);
    let result = broker_section_in(config, &data, report, progress);
    let _ = std::fs::remove_dir_all(&data);
    result
}

fn broker_config(data: &Path, path: TransferPath) -> ringlog_broker::config::BrokerConfig {
    ringlog_broker::config::BrokerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data.to_path_buf(),
        cores: 1,
        io: IoKind::Uring,
        transfer: path,
        flush: ringlog_storage::FlushPolicy::Never,
        default_partitions: Some(1),
        segment_bytes: BROKER_SEGMENT_BYTES,
        ..Default::default()
    }
}

fn broker_section_in(
    config: &TransferBenchConfig,
    data: &Path,
    report: &mut TransferBenchReport,
    progress: &mut dyn FnMut(&str),
) -> io::Result<()> {
    // Fill the topic once.
    let broker = ringlog_broker::Broker::start(broker_config(data, TransferPath::Auto))?;
    let addr = broker.local_addr();
    let bytes = config.broker_bytes;
    let produced = on_client(move || produce(addr, bytes));
    broker.shutdown();
    broker.join()?;
    let produced = produced?;
    progress(&format!(
        "produced {} MiB of {RECORD_BYTES} B records",
        produced >> 20
    ));
    let segment = segment_file(data)?;
    report.segment_bytes = std::fs::metadata(&segment)?.len();
    let paths: Vec<TransferPath> = config
        .paths
        .iter()
        .copied()
        .filter(|p| p.runs_on(IoKind::Uring))
        .collect();
    for round in 0..config.runs {
        for &path in &paths {
            let raw = raw_run(
                IoKind::Uring,
                path,
                FETCH_BYTES,
                report.segment_bytes,
                &segment,
            )?;
            let b = broker_run(data, &segment, path)?;
            progress(&format!(
                "broker run {}/{} {path}: consume {:.2} GB/s, raw {:.2} GB/s",
                round + 1,
                config.runs,
                b.bytes as f64 / b.seconds / 1e9,
                raw.gbps()
            ));
            report.broker_raw.push(raw);
            report.broker.push(b);
        }
    }
    Ok(())
}

/// Run `f` on a client thread pinned to the receiver CPU and return its result.
fn on_client<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    thread::Builder::new()
        .name("bench-consumer".into())
        .spawn(move || {
            pin_to_cpu(RECEIVER_CPU);
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("transfer bench client panicked"))?
}

fn client_err(e: ringlog_client::ClientError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Produce `bytes` of `RECORD_BYTES` records with `PRODUCE_IN_FLIGHT` requests in flight;
/// returns the record bytes produced.
fn produce(addr: SocketAddr, bytes: u64) -> io::Result<u64> {
    use ringlog_client::{api, records, Connection};
    use ringlog_protocol::messages::ProduceRequest;
    use ringlog_protocol::ApiKey;
    let batches = bytes.div_ceil((RECORD_BYTES * RECORDS_PER_BATCH) as u64);
    ringlog_runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async move {
        let mut conn = Connection::connect(addr).await.map_err(client_err)?;
        conn.create_topics(&[(TOPIC, 1)])
            .await
            .map_err(client_err)?;
        let value = Bytes::from(vec![b'r'; RECORD_BYTES]);
        let recs: Vec<records::ProducerRecord> = (0..RECORDS_PER_BATCH)
            .map(|_| records::ProducerRecord {
                key: None,
                value: Some(value.clone()),
            })
            .collect();
        let batch = records::encode_batch(&recs, 0, ringlog_storage::records::Compression::None)
            .map_err(client_err)?;
        let version = conn.version(ApiKey::Produce).map_err(client_err)?;
        let mut in_flight = 0usize;
        let mut sent = 0u64;
        let mut acked = 0u64;
        while acked < batches {
            while sent < batches && in_flight < PRODUCE_IN_FLIGHT {
                let req = api::produce_request(TOPIC, 0, batch.clone(), 1);
                conn.send(&req, version).await.map_err(client_err)?;
                in_flight += 1;
                sent += 1;
            }
            let resp = conn.recv::<ProduceRequest>().await.map_err(client_err)?;
            api::produce_result(&resp, TOPIC, 0).map_err(client_err)?;
            in_flight -= 1;
            acked += 1;
        }
        Ok(batches * (RECORD_BYTES * RECORDS_PER_BATCH) as u64)
    })?
}

/// The partition's segment file (the broker section keeps everything in one).
fn segment_file(data: &Path) -> io::Result<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "log")
                && p.parent()
                    .and_then(|d| d.file_name())
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(TOPIC))
            {
                found.push(p);
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(io::Error::other(format!(
            "expected one segment file of {TOPIC} under {}, found {found:?}",
            data.display()
        ))),
    }
}

/// Restart the broker on `data` with `path`, warm the segment, consume it all once.
fn broker_run(data: &Path, segment: &Path, path: TransferPath) -> io::Result<BrokerSample> {
    let broker = ringlog_broker::Broker::start(broker_config(data, path))?;
    let addr = broker.local_addr();
    warm(segment)?;
    let result = on_client(move || consume(addr));
    broker.shutdown();
    broker.join()?;
    let (bytes, fetches, seconds, cpu) = result?;
    Ok(BrokerSample {
        path,
        bytes,
        fetches,
        seconds,
        cpu,
    })
}

/// One consumer: fetch from 0 to the high watermark with 1 MiB fetches; returns (record bytes,
/// fetches, seconds, CPU split with the broker shard as sender).
fn consume(addr: SocketAddr) -> io::Result<(u64, u64, f64, CpuSplit)> {
    use ringlog_client::Connection;
    ringlog_runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async move {
        let mut conn = Connection::connect(addr).await.map_err(client_err)?;
        let wait = Duration::from_millis(100);
        // A first small fetch learns the high watermark and warms the connection.
        let first = conn
            .fetch(TOPIC, 0, 0, 1024, wait)
            .await
            .map_err(client_err)?;
        let end = first.high_watermark;
        let before = ThreadsSnapshot::take()?;
        let me0 = ThreadCpu::current()?;
        let start = Instant::now();
        let (mut offset, mut bytes, mut fetches) = (0i64, 0u64, 0u64);
        while offset < end {
            let p = conn
                .fetch(TOPIC, 0, offset, FETCH_BYTES as i32, wait)
                .await
                .map_err(client_err)?;
            fetches += 1;
            bytes += p.records.len() as u64;
            offset = WholeBatches::of(&p.records).next_offset.ok_or_else(|| {
                io::Error::other(format!("fetch at {offset}: no whole batch in the response"))
            })?;
        }
        let seconds = start.elapsed().as_secs_f64();
        let after = ThreadsSnapshot::take()?;
        let me = ThreadCpu::current()?.since(&me0).seconds;
        // Seen from the consumer's thread: the broker shard is "other"; re-attribute.
        let mut cpu = CpuSplit::between(&before, &after, &["ringlog-shard"]);
        let shard = cpu.receiver;
        cpu.receiver = me;
        cpu.sender = shard;
        Ok((bytes, fetches, seconds, cpu))
    })?
}
