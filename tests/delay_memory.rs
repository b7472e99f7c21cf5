//! One million delayed records pending in a `ringlog serve` child: its resident memory grows by
//! far less than the records' bytes (they wait on disk, in the timer log; only the wheel and
//! counters are in memory), and every record is still pending after the load. Loopback only;
//! bounded in time.

mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod wire;

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    create_topics_request, list_offsets_request, ApiKey, ListOffsetsRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::storage::records::{encode_batch, BatchMeta, Compression, Record};
use support::{free_port, spawn_serve};
use wire::{connect_retry, create_topics_request, produce_request, versions};

/// Records made pending.
const PENDING: usize = 1_000_000;
/// Records per produced batch (about 250 KB).
const PER_BATCH: usize = 2_000;
/// Bytes of each record's value.
const VALUE_BYTES: usize = 100;
/// Most the broker's resident memory may grow while they are taken in: the wheel is 2 MiB per
/// shard and nothing of a pending record stays in memory; the records themselves are ~110 MB
/// (a broker that kept them would fail this).
const RSS_GROWTH_MAX_BYTES: u64 = 48 << 20;

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A `ringlog serve` child with a delay-enabled topic of `partitions`, and a client of it.
fn broker_with_delay_topic(
    dir: &std::path::Path,
    topic: &str,
    partitions: i32,
) -> (support::Serve, wire::Client) {
    let port = free_port();
    let serve = spawn_serve(dir, port);
    let mut c = connect_retry(format!("127.0.0.1:{port}").parse().unwrap());
    let v = *versions(ApiKey::CreateTopics).end();
    let mut req = create_topics_request(&[(topic, partitions, 1)]);
    req.topics[0].configs = vec![create_topics_request::CreatableTopicConfig::default()
        .with_name(StrBytes::from_static_str("ringlog.delivery.delay.enable"))
        .with_value(Some(StrBytes::from_static_str("true")))];
    assert_eq!(c.call(v, &req).topics[0].error_code, 0);
    (serve, c)
}

/// Produces `records` records of [`VALUE_BYTES`] with header `name` = `value`, in batches of
/// [`PER_BATCH`] spread over `partitions`, each acknowledged with every record held (-1).
fn produce_held(
    c: &mut wire::Client,
    topic: &str,
    partitions: i32,
    records: usize,
    (name, value): (&'static str, Bytes),
) {
    let started = Instant::now();
    let payload = Bytes::from(vec![b'v'; VALUE_BYTES]);
    let pv = *versions(ApiKey::Produce).end();
    for b in 0..records / PER_BATCH {
        let batch: Vec<Record> = (0..PER_BATCH)
            .map(|i| Record {
                offset_delta: i as i32,
                value: Some(payload.clone()),
                headers: vec![(Bytes::from_static(name.as_bytes()), Some(value.clone()))],
                ..Record::default()
            })
            .collect();
        let mut buf = Vec::new();
        let meta = BatchMeta {
            base_timestamp: now_ms(),
            ..BatchMeta::default()
        };
        encode_batch(&meta, &batch, Compression::None, &mut buf).unwrap();
        let partition = (b % partitions as usize) as i32;
        let resp = c.call(pv, &produce_request(topic, -1, &[(partition, buf)]));
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, -1), "{p:?}");
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "taking in {records} records took too long (at batch {b})"
        );
    }
}

#[test]
fn a_million_pending_records_keep_the_broker_small() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, mut c) = broker_with_delay_topic(dir.path(), "mem", 4);
    let pid = serve.0.id();
    let before = rss_bytes(pid);
    let started = Instant::now();
    // Due in an hour: nothing is loaded during the test.
    produce_held(
        &mut c,
        "mem",
        4,
        PENDING,
        ("ringlog-delay-ms", Bytes::from_static(b"3600000")),
    );
    let after = rss_bytes(pid);
    eprintln!(
        "{PENDING} pending in {:.1} s: broker RSS {} -> {} MiB",
        started.elapsed().as_secs_f64(),
        before >> 20,
        after >> 20
    );
    assert!(
        after.saturating_sub(before) <= RSS_GROWTH_MAX_BYTES,
        "RSS grew by {} MiB with {PENDING} records pending",
        (after - before) >> 20
    );
    drop(c);
    drop(serve);
}

/// Records read back from the timer log to be delivered hold their own bytes only: 100,000
/// records of 100 bytes due in the same second are delivered with the broker's resident memory
/// growing by a bounded amount (a record that kept the batch it was read in alive held ~46 KB).
#[test]
fn records_due_at_once_are_delivered_in_bounded_memory() {
    const RECORDS: usize = 100_000;
    /// ~150 bytes of bookkeeping and 100 of value per loaded record, twice over, plus slack.
    const PEAK_GROWTH_MAX_BYTES: u64 = 96 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (serve, mut c) = broker_with_delay_topic(dir.path(), "burst", 2);
    let pid = serve.0.id();
    let before = rss_bytes(pid);
    // All due in the same second, a few seconds from now.
    let due = Bytes::from(((now_ms() / 1000 + 5) * 1000 + 500).to_string());
    produce_held(&mut c, "burst", 2, RECORDS, ("ringlog-deliver-at", due));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut peak = before;
    let lv = *versions(ApiKey::ListOffsets).end();
    loop {
        peak = peak.max(rss_bytes(pid));
        let req = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(wire::topic_name("burst"))
                .with_partitions(
                    (0..2)
                        .map(|p| {
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_timestamp(-1)
                        })
                        .collect(),
                )]);
        let resp = c.call(lv, &req);
        let total: i64 = resp.topics[0].partitions.iter().map(|p| p.offset).sum();
        if total as usize >= RECORDS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {total} of {RECORDS} delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "{RECORDS} due at once: broker RSS {} MiB, peak {} MiB",
        before >> 20,
        peak >> 20
    );
    assert!(
        peak.saturating_sub(before) <= PEAK_GROWTH_MAX_BYTES,
        "RSS grew by {} MiB delivering {RECORDS} records due at once",
        (peak - before) >> 20
    );
    drop(c);
    drop(serve);
}
