//! Log compaction end to end (issue #19): kafka-python produces keyed records and tombstones to
//! a topic, the topic is switched to `cleanup.policy=compact` with IncrementalAlterConfigs, and
//! the broker (a `ringlog serve` child) dies in the middle of cleaning at each step of the
//! segment swap (`RINGLOG_TEST_CRASH_AT=compact-cleaned|compact-swap|compact-delete` abort the
//! process there, as a SIGKILL would). After the last restart the cleaner finishes, and
//! kafka-python reading the topic from the start gets exactly the model: the latest record of
//! every key that was not deleted, at the offset the producer was given, in offset order, then
//! the records of the active segment. Loopback only; bounded in time; skips loudly without the
//! Python clients.

mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use client::{connect_retry, create_topics_request, versions, Client};
use kafka_protocol::messages::{
    incremental_alter_configs_request, ApiKey, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use support::{free_port, python_or_skip, run_bounded, Serve};

const TOPIC: &str = "compacted";
const PARTITIONS: i32 = 2;
/// Records the producer sends (keys, values and tombstones from a fixed seed).
const RECORDS: usize = 2_000;
/// Distinct keys per partition.
const KEYS: usize = 40;
/// Segment size of the child broker: small, so the topic has dozens of sealed segments.
const SEGMENT_BYTES: &str = "16384";
/// Longest a crash run may take to reach its crash point.
const CRASH_WAIT: Duration = Duration::from_secs(60);
/// Longest the final run may take to clean everything.
const CLEAN_WAIT: Duration = Duration::from_secs(90);
/// Longest one kafka-python run may take.
const SCRIPT_LIMIT: Duration = Duration::from_secs(150);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One shard: its cleaner takes the two partitions one after the other, so a crash point stops
/// exactly one pass. With two shards both passes could reach the same point before the abort,
/// and a swap committed on both leaves nothing for the next run's crash point (the test then
/// waited for a crash that could not come).
fn serve(dir: &Path, port: u16, crash_at: Option<&str>) -> Serve {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    cmd.args([
        "serve",
        "--cores",
        "1",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .args(["--segment-bytes", SEGMENT_BYTES, "--data-dir"])
    .arg(dir)
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    if let Some(point) = crash_at {
        cmd.env("RINGLOG_TEST_CRASH_AT", point);
    }
    Serve(cmd.spawn().expect("spawn ringlog serve"))
}

fn alter(c: &mut Client, configs: &[(&str, &str)]) -> i16 {
    let v = *versions(ApiKey::IncrementalAlterConfigs).end();
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(TOPIC))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, val)| {
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s(k))
                            .with_config_operation(0)
                            .with_value(Some(s(val)))
                    })
                    .collect(),
            ),
    ]);
    c.call(v, &req).responses[0].error_code
}

/// One record as the script prints it: (partition, offset) -> (key, value; "-" is null).
type Records = BTreeMap<(i32, i64), (String, String)>;

fn script(py: &Path, args: &[&str], tag: &str) -> Records {
    let out = run_bounded(
        Command::new(py)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/kafka_python_compact.py"
            ))
            .args(args),
        SCRIPT_LIMIT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kafka-python {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut records = Records::new();
    for line in stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == tag {
            let key = (f[1].parse().unwrap(), f[2].parse().unwrap());
            records.insert(key, (f[3].to_string(), f[4].to_string()));
        }
    }
    records
}

/// Waits for a crash run's child to die at its crash point.
fn wait_for_crash(mut serve: Serve, point: &str) {
    let deadline = Instant::now() + CRASH_WAIT;
    loop {
        if let Some(status) = serve.0.try_wait().expect("wait") {
            assert!(
                !status.success(),
                "{point}: the broker exited cleanly instead of at its crash point"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{point}: the cleaner did not reach its crash point in {CRASH_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The plan: (partition, key, value or "-"), from a fixed seed; every key of a partition is
/// written many times, some deleted (and some written again after the delete).
fn plan() -> Vec<(i32, String, String)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..RECORDS)
        .map(|i| {
            let partition = (next() % PARTITIONS as u64) as i32;
            let key = format!("k{}", next() % KEYS as u64);
            let value = if next() % 10 == 0 {
                "-".to_string()
            } else {
                format!("v{i}-{}", "x".repeat(40))
            };
            (partition, key, value)
        })
        .collect()
}

#[test]
fn compaction_survives_crashes_and_kafka_python_reads_the_model() {
    let Some(py) = python_or_skip("compaction with kafka-python") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let bootstrap = addr.to_string();
    let plan = plan();
    let plan_file = dir.path().join("plan.tsv");
    let text: String = plan
        .iter()
        .map(|(p, k, v)| format!("{p}\t{k}\t{v}\n"))
        .collect();
    std::fs::write(&plan_file, text).expect("plan file");
    let data = dir.path().join("data");

    // Run 1: the records go to a topic that is not compacted yet.
    let sent = {
        let _serve = serve(&data, port, None);
        let mut c = connect_retry(addr);
        let v = *versions(ApiKey::CreateTopics).end();
        let req = create_topics_request(&[(TOPIC, PARTITIONS, 1)]);
        assert_eq!(c.call(v, &req).topics[0].error_code, 0);
        let sent = script(
            &py,
            &[
                "produce",
                &bootstrap,
                TOPIC,
                plan_file.to_str().expect("utf-8 path"),
            ],
            "O",
        );
        assert_eq!(sent.len(), RECORDS, "every record acknowledged");
        // A last record per partition in a segment of its own: every planned record is in a
        // sealed segment, which the cleaner may clean.
        assert_eq!(alter(&mut c, &[("segment.ms", "1")]), 0);
        std::thread::sleep(Duration::from_millis(20));
        let end_file = dir.path().join("end.tsv");
        std::fs::write(&end_file, "0\tend\tlast\n1\tend\tlast\n").expect("end file");
        let ends = script(
            &py,
            &["produce", &bootstrap, TOPIC, end_file.to_str().unwrap()],
            "O",
        );
        assert_eq!(alter(&mut c, &[("segment.ms", "604800000")]), 0);
        sent.into_iter().chain(ends).collect::<Records>()
    };

    // The model: per partition, the last record of each key unless it is a tombstone (they
    // go: delete.retention.ms is 0), at the offset the producer was given.
    let mut last: BTreeMap<(i32, String), (i64, String)> = BTreeMap::new();
    for ((partition, offset), (key, value)) in &sent {
        last.insert((*partition, key.clone()), (*offset, value.clone()));
    }
    let model: Records = last
        .into_iter()
        .filter(|(_, (_, value))| value != "-")
        .map(|((partition, key), (offset, value))| ((partition, offset), (key, value)))
        .collect();
    assert!(model.len() < sent.len() / 10, "compaction has work to do");

    // Runs 2-4: compaction is switched on, and the broker dies at each step of a swap.
    for (i, point) in ["compact-cleaned", "compact-swap", "compact-delete"]
        .into_iter()
        .enumerate()
    {
        let child = serve(&data, port, Some(point));
        if i == 0 {
            let mut c = connect_retry(addr);
            let code = alter(
                &mut c,
                &[
                    ("cleanup.policy", "compact"),
                    ("min.cleanable.dirty.ratio", "0.01"),
                    ("delete.retention.ms", "0"),
                ],
            );
            assert_eq!(code, 0, "switching to compaction");
        }
        wait_for_crash(child, point);
    }

    // Run 5: the cleaner finishes; a kafka-python consumer from the start reads the model.
    let _serve = serve(&data, port, None);
    drop(connect_retry(addr));
    let deadline = Instant::now() + CLEAN_WAIT;
    loop {
        let read = script(
            &py,
            &["consume", &bootstrap, TOPIC, &PARTITIONS.to_string()],
            "R",
        );
        // Whatever a reader sees, at any time, is a subset of what was sent, at the offsets
        // the producer was given.
        for (at, record) in &read {
            assert_eq!(sent.get(at), Some(record), "{at:?} was not sent so");
        }
        let end: Records = sent
            .iter()
            .filter(|(_, (k, _))| k == "end")
            .map(|(at, r)| (*at, r.clone()))
            .collect();
        let mut expected = model.clone();
        expected.extend(end);
        if read == expected {
            eprintln!(
                "compaction: {} records sent, {} read back after cleaning (the model)",
                sent.len(),
                read.len()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {CLEAN_WAIT:?}, {} records read, {} expected; extra: {:?}; missing: {:?}",
            read.len(),
            expected.len(),
            read.keys()
                .filter(|k| !expected.contains_key(k))
                .take(10)
                .collect::<Vec<_>>(),
            expected
                .keys()
                .filter(|k| !read.contains_key(k))
                .take(10)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
