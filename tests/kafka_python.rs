//! kafka-python, an independent client implementation, against a live ringlog broker on both
//! drivers. The client is installed into a virtualenv under the target directory by
//! `tests/python/setup.sh` (pinned in `tests/python/requirements.txt`).

mod support;

use support::python;

use std::process::Command;

use ringlog::broker::{Broker, BrokerConfig};
use ringlog::runtime::IoKind;

fn round_trip(io: IoKind, extra: &[&str]) {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        cores: 2,
        io,
        ..BrokerConfig::default()
    };
    let broker = Broker::start(config).unwrap();
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
