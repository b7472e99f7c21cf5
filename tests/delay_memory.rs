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
use kafka_protocol::messages::{create_topics_request, ApiKey};
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

#[test]
fn a_million_pending_records_keep_the_broker_small() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let serve = spawn_serve(dir.path(), port);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = connect_retry(addr);
    let v = *versions(ApiKey::CreateTopics).end();
    let mut req = create_topics_request(&[("mem", 4, 1)]);
    req.topics[0].configs = vec![create_topics_request::CreatableTopicConfig::default()
        .with_name(StrBytes::from_static_str("ringlog.delivery.delay.enable"))
        .with_value(Some(StrBytes::from_static_str("true")))];
    assert_eq!(c.call(v, &req).topics[0].error_code, 0);
    let pid = serve.0.id();
    let before = rss_bytes(pid);
    let started = Instant::now();
    let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
    // Due in an hour and more: nothing is loaded during the test.
    let delay = Bytes::from_static(b"3600000");
    let pv = *versions(ApiKey::Produce).end();
    for b in 0..PENDING / PER_BATCH {
        let records: Vec<Record> = (0..PER_BATCH)
            .map(|i| Record {
                offset_delta: i as i32,
                value: Some(value.clone()),
                headers: vec![(Bytes::from_static(b"ringlog-delay-ms"), Some(delay.clone()))],
                ..Record::default()
            })
            .collect();
        let mut buf = Vec::new();
        let meta = BatchMeta {
            base_timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
            ..BatchMeta::default()
        };
        encode_batch(&meta, &records, Compression::None, &mut buf).unwrap();
        let resp = c.call(pv, &produce_request("mem", -1, &[((b % 4) as i32, buf)]));
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, -1), "{p:?}");
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "taking in {PENDING} records took too long (at batch {b})"
        );
    }
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
