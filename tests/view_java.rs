//! Filtered views (issue #17) read by Kafka's own Java consumer (kafka-clients 4.4, the
//! `KafkaConsumer` of `tests/java/ViewDriver.java`, CRCs checked), on both drivers: batches whose
//! records all match (sent as stored), none match (skipped), some match (cut to the matching
//! records, in every codec), and a partition ending in non-matching batches (answered with an
//! empty batch). The consumer must get exactly the matching records at the source's offsets,
//! reach the end offsets (move past the non-matching tail), commit, and on its next run resume
//! after what it committed. Skips loudly without Java or Maven (tests/java/setup.sh).

#[macro_use]
mod support;
mod share_common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ringlog::client::Connection;
use ringlog::runtime::{IoKind, RuntimeConfig};
use ringlog::storage::records::{encode_batch, BatchMeta, Compression, Record};

both_drivers!(java_consumer_reads_a_view);

/// One run of the Java driver may take this long (a JVM start and a group join included).
const DRIVER_LIMIT: Duration = Duration::from_secs(60);
/// The driver's own deadline for reaching the end offsets.
const DRIVER_READ_MS: u64 = 30_000;
const PARTITIONS: i32 = 2;

/// (partition, offset, key) of a record.
type Seen = (i32, i64, String);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// One batch: its records' tags, and its codec.
struct Batch {
    tags: &'static [&'static str],
    codec: Compression,
}

fn batches() -> Vec<Batch> {
    let b = |tags, codec| Batch { tags, codec };
    vec![
        b(&["red", "red", "red", "red"], Compression::None),
        b(&["blue", "blue", "blue"], Compression::None),
        b(&["red", "blue", "red", "green"], Compression::None),
        b(&["blue", "red", "blue", "red", "red"], Compression::Gzip),
        b(&["red", "blue", "blue"], Compression::Snappy),
        b(&["blue", "blue", "red"], Compression::Lz4),
        b(&["red", "green", "red"], Compression::Zstd),
        b(&["red", "red"], Compression::Lz4),
        // A non-matching tail.
        b(&["blue", "green"], Compression::None),
        b(&["blue"], Compression::Gzip),
    ]
}

/// Produces `batches` to every partition of `topic` (keys name partition, batch and record);
/// returns the red records.
async fn produce(conn: &mut Connection, topic: &str, round: u32, batches: &[Batch]) -> Vec<Seen> {
    let mut red = Vec::new();
    for partition in 0..PARTITIONS {
        for (n, batch) in batches.iter().enumerate() {
            let records: Vec<Record> = batch
                .tags
                .iter()
                .enumerate()
                .map(|(i, tag)| Record {
                    offset_delta: i as i32,
                    timestamp_delta: 0,
                    key: Some(Bytes::from(format!("r{round}-p{partition}-b{n}-{i}"))),
                    value: Some(Bytes::from(vec![b'v'; 200])),
                    headers: vec![(
                        Bytes::from_static(b"tag"),
                        Some(Bytes::from_static(tag.as_bytes())),
                    )],
                })
                .collect();
            let meta = BatchMeta {
                base_timestamp: now_ms(),
                ..BatchMeta::default()
            };
            let mut bytes = Vec::new();
            encode_batch(&meta, &records, batch.codec, &mut bytes).expect("encode a batch");
            let base = conn
                .produce(topic, partition, Bytes::from(bytes), -1)
                .await
                .unwrap_or_else(|e| panic!("produce to {topic}-{partition}: {e}"));
            for (i, tag) in batch.tags.iter().enumerate() {
                if *tag == "red" {
                    red.push((
                        partition,
                        base + i as i64,
                        format!("r{round}-p{partition}-b{n}-{i}"),
                    ));
                }
            }
        }
    }
    red
}

fn client<T>(io: IoKind, body: impl AsyncFnOnce() -> T) -> T {
    let config = RuntimeConfig {
        cores: 1,
        io,
        pin: false,
        ..RuntimeConfig::default()
    };
    ringlog::runtime::block_on(&config, body()).expect("the client runtime starts")
}

/// What one driver run saw: its records and, per partition, (position, end offset).
struct Read {
    records: Vec<Seen>,
    positions: Vec<(i32, i64, i64)>,
    done: bool,
    transcript: String,
}

fn read_view(cp: &str, bootstrap: &str, view: &str, group: &str) -> Read {
    let out = support::run_bounded(
        Command::new("java")
            .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
            .args(["-cp", cp, "ViewDriver", bootstrap, view, group])
            .arg(PARTITIONS.to_string())
            .arg(DRIVER_READ_MS.to_string())
            .stdin(Stdio::null()),
        DRIVER_LIMIT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let mut read = Read {
        records: Vec::new(),
        positions: Vec::new(),
        done: out.status.success() && stdout.lines().any(|l| l == "done"),
        transcript: format!(
            "{:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    };
    for line in stdout.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["record", p, o, k] => {
                read.records
                    .push((p.parse().unwrap(), o.parse().unwrap(), k.to_string()))
            }
            ["position", p, pos, end] => read.positions.push((
                p.parse().unwrap(),
                pos.parse().unwrap(),
                end.parse().unwrap(),
            )),
            _ => {}
        }
    }
    read
}

/// Exactly `want`, each once, in offset order per partition, and every partition's position at
/// its end offset.
fn check(read: &Read, want: &[Seen], what: &str) {
    assert!(
        read.done,
        "{what}: the driver did not finish: {}",
        read.transcript
    );
    let got: BTreeSet<&Seen> = read.records.iter().collect();
    let wanted: BTreeSet<&Seen> = want.iter().collect();
    assert_eq!(
        got.len(),
        read.records.len(),
        "{what}: a record came twice: {}",
        read.transcript
    );
    assert_eq!(
        got, wanted,
        "{what}: the records differ: {}",
        read.transcript
    );
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = read
            .records
            .iter()
            .filter(|r| r.0 == p)
            .map(|r| r.1)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "{what}: partition {p} out of order: {offsets:?}"
        );
    }
    assert_eq!(
        read.positions.len(),
        PARTITIONS as usize,
        "{what}: {}",
        read.transcript
    );
    for (p, position, end) in &read.positions {
        assert_eq!(
            position, end,
            "{what}: partition {p} did not move past its non-matching tail: {}",
            read.transcript
        );
    }
}

fn java_consumer_reads_a_view(io: IoKind) {
    let Some(cp) = share_common::java_classpath() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let addr = broker.local_addr();
    let (source, view, group) = ("orders", "red-orders", "java-view");
    let first = client(io, async || {
        let mut conn = Connection::connect(addr).await.expect("connect");
        conn.create_topics(&[(source, PARTITIONS)])
            .await
            .expect("create the source");
        conn.create_view(view, source, "tag = 'red'")
            .await
            .expect("create the view");
        produce(&mut conn, source, 0, &batches()).await
    });
    let read = read_view(cp, &addr.to_string(), view, group);
    check(&read, &first, "first read");
    // More records; the group resumes after what it committed.
    let second = client(io, async || {
        let mut conn = Connection::connect(addr).await.expect("connect");
        produce(&mut conn, source, 1, &batches()[..4]).await
    });
    let read = read_view(cp, &addr.to_string(), view, group);
    check(&read, &second, "resumed read");
    broker.shutdown();
}
