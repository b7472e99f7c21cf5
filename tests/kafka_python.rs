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
