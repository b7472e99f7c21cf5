//! kafka-python, an independent client implementation, against a live ringlog broker on both
//! drivers. The client is installed into a virtualenv under the target directory by
//! `tests/python/setup.sh` (pinned in `tests/python/requirements.txt`).

mod support;
/// The wire tests' blocking client, to send batches no real producer builds.
#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod wire;

use support::python;

use std::process::Command;

use kafka_protocol::protocol::StrBytes;

use ringlog::runtime::IoKind;

fn round_trip(io: IoKind, extra: &[&str]) {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let out = Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/kafka_python_roundtrip.py"
        ))
        .arg(broker.local_addr().to_string())
        .arg("3000")
        .args(extra)
        .output()
        .expect("run the kafka-python script");
    broker.shutdown();
    broker.join().unwrap();
    assert!(
        out.status.success(),
        "kafka-python round trip failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kafka_python_round_trip_uring() {
    round_trip(IoKind::Uring, &[]);
}

#[test]
fn kafka_python_round_trip_epoll() {
    round_trip(IoKind::Epoll, &[]);
}

/// kafka-python 3.x enables idempotence by default (InitProducerId before the first Produce).
#[test]
fn kafka_python_default_idempotent_producer_uring() {
    round_trip(IoKind::Uring, &["--idempotent"]);
}

#[test]
fn kafka_python_default_idempotent_producer_epoll() {
    round_trip(IoKind::Epoll, &["--idempotent"]);
}

/// Every poison batch (`storage::batch::testing::poison_batches`) is sent raw between two good
/// batches and refused; kafka-python then reads the partition from the beginning and gets exactly
/// the good records, with no error (before record validation, a stored poison batch made it raise
/// CorruptRecordError).
fn poisoned_partition(io: IoKind) {
    use kafka_protocol::messages::ApiKey;
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let topic = "py-poisoned";
    let mut raw = wire::Client::connect(broker.local_addr());
    wire::create_topic(&mut raw, topic, 1);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let first = wire::batch(now_ms, &[b"good-0", b"good-1"]);
    assert_eq!(wire::produce_one(&mut raw, topic, 0, &first), 0);
    let v = *wire::versions(ApiKey::Produce).end();
    for poison in ringlog::storage::batch::testing::poison_batches(now_ms) {
        let resp = raw.call(
            v,
            &wire::produce_request(topic, -1, &[(0, poison.bytes.clone())]),
        );
        let code = resp.responses[0].partition_responses[0].error_code;
        assert_ne!(code, 0, "poison batch {} was acknowledged", poison.name);
    }
    let second = wire::batch(now_ms + 1, &[b"good-2"]);
    assert_eq!(wire::produce_one(&mut raw, topic, 0, &second), 2);
    let out = Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/kafka_python_poison.py"
        ))
        .arg(broker.local_addr().to_string())
        .arg(topic)
        .arg("3")
        .output()
        .expect("run the kafka-python script");
    broker.shutdown();
    broker.join().unwrap();
    assert!(
        out.status.success(),
        "kafka-python consumer of a poisoned partition failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "0 good-0\n1 good-1\n2 good-2\n",
        "kafka-python: exactly the good records"
    );
}

#[test]
fn kafka_python_consumer_of_a_poisoned_partition_uring() {
    poisoned_partition(IoKind::Uring);
}

#[test]
fn kafka_python_consumer_of_a_poisoned_partition_epoll() {
    poisoned_partition(IoKind::Epoll);
}

/// A kafka-python producer whose client id has a 256 KiB/s producer quota, producing as fast as
/// it can for 6 s: its own 'throttle-time-max' metric shows the broker's throttle times, and the
/// bytes acknowledged stay within the quota over the run plus Kafka's 11 s window (what a
/// window that has not filled yet lets through).
fn quota_throttles(io: IoKind) {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let addr = broker.local_addr();
    let mut admin = wire::Client::connect(addr);
    wire::create_topic(&mut admin, "py-quota", 1);
    let quota = 256.0 * 1024.0;
    let req = kafka_protocol::messages::AlterClientQuotasRequest::default().with_entries(vec![
        kafka_protocol::messages::alter_client_quotas_request::EntryData::default()
            .with_entity(vec![
                kafka_protocol::messages::alter_client_quotas_request::EntityData::default()
                    .with_entity_type(StrBytes::from_static_str("client-id"))
                    .with_entity_name(Some(StrBytes::from_static_str("py-greedy"))),
            ])
            .with_ops(vec![
                kafka_protocol::messages::alter_client_quotas_request::OpData::default()
                    .with_key(StrBytes::from_static_str("producer_byte_rate"))
                    .with_value(quota),
            ]),
    ]);
    let resp = admin.call(1, &req);
    assert_eq!(resp.entries[0].error_code, 0, "{resp:?}");
    let out = Command::new(py)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/kafka_python_quota.py"
        ))
        .arg(addr.to_string())
        .arg("py-quota")
        .arg("6")
        .output()
        .expect("run the kafka-python script");
    broker.shutdown();
    broker.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kafka-python quota script failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| -> f64 {
        let at = stdout
            .find(&format!("\"{name}\": "))
            .unwrap_or_else(|| panic!("{name} in {stdout}"));
        let rest = &stdout[at + name.len() + 4..];
        let end = rest.find([',', '}']).expect("a JSON number");
        rest[..end].trim().parse().expect("a number")
    };
    let (bytes, elapsed, throttle) = (field("bytes"), field("elapsed"), field("throttle_max_ms"));
    eprintln!("kafka-python: {bytes} bytes in {elapsed:.1} s, throttle-time-max {throttle} ms");
    assert!(
        throttle > 0.0,
        "kafka-python saw no throttle time: {stdout}"
    );
    let most = quota * (elapsed + 11.0) + 64.0 * 1024.0;
    assert!(
        bytes <= most,
        "kafka-python sent {bytes} bytes in {elapsed:.1} s, over what the quota allows ({most})"
    );
    assert!(bytes > 0.0);
}

#[test]
fn kafka_python_producer_is_throttled_by_its_quota_uring() {
    quota_throttles(IoKind::Uring);
}

#[test]
fn kafka_python_producer_is_throttled_by_its_quota_epoll() {
    quota_throttles(IoKind::Epoll);
}
