//! Idempotent producers: InitProducerId, sequence checks, no duplicates on retry, state that
//! survives a restart and a SIGKILL. Both drivers; loopback only; bounded in time.

#[macro_use]
mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use client::{connect_retry, create_topic, fetch_one, produce_request, versions, Client};
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProduceRequest};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use ringlog::broker::{Broker, BrokerConfig};
use ringlog::runtime::IoKind;
use ringlog::storage::batch::testing::{build_batch_with, BatchSpec, TestRecord};
use support::spawn_serve;

both_drivers!(
    rdkafka_retries_after_dropped_responses_leave_every_record_once,
    duplicates_are_detected_after_a_restart,
    bad_epochs_gaps_and_unknown_producers_get_kafka_codes,
);

fn start(io: IoKind, dir: &std::path::Path) -> Broker {
    support::start_broker(io, dir, 2, |_| {})
}

fn init_producer_id(c: &mut Client) -> (i64, i16) {
    let v = *versions(ApiKey::InitProducerId).end();
    // Non-transactional producers send a null transactional id (kafka-protocol defaults to "").
    let resp = c.call(
        v,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    );
    assert_eq!(resp.error_code, 0, "InitProducerId v{v}: {resp:?}");
    assert!(resp.producer_id.0 >= 0);
    (resp.producer_id.0, resp.producer_epoch)
}

fn idem_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    build_batch_with(&BatchSpec {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        base_timestamp_ms: 1_700_000_000_000,
        records: (0..n)
            .map(|i| TestRecord {
                value: Some(format!("seq {}", seq as usize + i).into_bytes()),
                ..Default::default()
            })
            .collect(),
        ..BatchSpec::default()
    })
}

/// Produce and return (error code, base offset).
fn produce(c: &mut Client, topic: &str, partition: i32, records: Vec<u8>) -> (i16, i64) {
    let v = *versions(ApiKey::Produce).end();
    let req: ProduceRequest = produce_request(topic, -1, &[(partition, records)]);
    let resp = c.call(v, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn high_watermark(c: &mut Client, topic: &str, id: uuid::Uuid) -> i64 {
    fetch_one(c, topic, id, 0, 0).1
}

fn rdkafka_retries_after_dropped_responses_leave_every_record_once(io: IoKind) {
    const RECORDS: usize = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        cores: 2,
        io,
        ..BrokerConfig::default()
    };
    let faults = config.fault_drop_after_append.clone();
    let broker = Broker::start(config).unwrap();
    let addr = broker.local_addr().to_string();
    let mut c = Client::connect(broker.local_addr());
    create_topic(&mut c, "idem", 2);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("batch.num.messages", "100")
        .set("message.timeout.ms", "60000")
        .set("log_level", "3")
        .create()
        .unwrap();
    let send = |i: usize| {
        let (key, value) = (format!("k{}", i % 8), format!("v{i}"));
        let mut rec = Some(BaseRecord::to("idem").key(&key).payload(&value));
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(r) = rec.take() {
            if let Err((_, r)) = producer.send(r) {
                assert!(Instant::now() < deadline, "producer queue stuck");
                producer.poll(Duration::from_millis(5));
                rec = Some(r);
            }
        }
    };
    for i in 0..RECORDS / 3 {
        send(i);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    // From now on the broker appends the next 3 Produce requests and then drops the connection
    // instead of answering: librdkafka must retry them and the broker must not append twice.
    faults.store(3, Ordering::SeqCst);
    for i in RECORDS / 3..RECORDS {
        send(i);
        if i % 200 == 0 {
            producer.poll(Duration::from_millis(1));
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("every record acknowledged despite the drops");
    assert_eq!(faults.load(Ordering::SeqCst), 0, "the fault hook fired");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .set("group.id", "idem-check")
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("idem", 0, Offset::Beginning)
        .unwrap();
    tpl.add_partition_offset("idem", 1, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut seen = vec![false; RECORDS];
    let mut last_per_key = std::collections::HashMap::new();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while got < RECORDS {
        assert!(Instant::now() < deadline, "consumed {got} of {RECORDS}");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let i: usize = std::str::from_utf8(m.payload().unwrap()).unwrap()[1..]
                .parse()
                .unwrap();
            assert!(!seen[i], "record {i} stored twice");
            seen[i] = true;
            let key = m.key().unwrap().to_vec();
            if let Some(prev) = last_per_key.insert(key, i) {
                assert!(prev < i, "order broken: {i} after {prev}");
            }
            got += 1;
        }
    }
    let total: i64 = (0..2)
        .map(|p| {
            consumer
                .fetch_watermarks("idem", p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum();
    assert_eq!(
        total, RECORDS as i64,
        "the logs hold every record exactly once"
    );
    drop(consumer);
    drop(producer);
    broker.shutdown();
    broker.join().unwrap();
}

fn duplicates_are_detected_after_a_restart(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let mut c = Client::connect(broker.local_addr());
    let id = create_topic(&mut c, "restart", 1);
    let (pid, epoch) = init_producer_id(&mut c);
    assert_eq!(
        produce(&mut c, "restart", 0, idem_batch(pid, epoch, 0, 3)),
        (0, 0)
    );
    let retried = idem_batch(pid, epoch, 3, 2);
    assert_eq!(produce(&mut c, "restart", 0, retried.clone()), (0, 3));
    drop(c);
    broker.shutdown();
    broker.join().unwrap();

    let broker = start(io, dir.path());
    let mut c = Client::connect(broker.local_addr());
    assert_eq!(
        produce(&mut c, "restart", 0, retried),
        (0, 3),
        "a retry from before the restart is a duplicate"
    );
    assert_eq!(
        high_watermark(&mut c, "restart", id),
        5,
        "nothing appended for it"
    );
    assert_eq!(
        produce(&mut c, "restart", 0, idem_batch(pid, epoch, 5, 1)),
        (0, 5),
        "the sequence continues"
    );
    let (pid2, _) = init_producer_id(&mut c);
    assert!(
        pid2 > pid,
        "producer ids are never reused across restarts ({pid2} after {pid})"
    );
    drop(c);
    broker.shutdown();
    broker.join().unwrap();
}

fn bad_epochs_gaps_and_unknown_producers_get_kafka_codes(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let mut c = Client::connect(broker.local_addr());
    let id = create_topic(&mut c, "bad", 1);
    let (pid, _) = init_producer_id(&mut c);
    assert_eq!(produce(&mut c, "bad", 0, idem_batch(pid, 1, 0, 2)).0, 0);
    // Sequence gap: 2 is next, 10 is not.
    assert_eq!(
        produce(&mut c, "bad", 0, idem_batch(pid, 1, 10, 1)).0,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    // A stale epoch.
    assert_eq!(
        produce(&mut c, "bad", 0, idem_batch(pid, 0, 2, 1)).0,
        47,
        "INVALID_PRODUCER_EPOCH"
    );
    // A new epoch must restart at 0.
    assert_eq!(produce(&mut c, "bad", 0, idem_batch(pid, 2, 5, 1)).0, 45);
    // An id this broker never handed out, even at sequence 0.
    assert_eq!(
        produce(&mut c, "bad", 0, idem_batch(1 << 60, 0, 0, 1)).0,
        59,
        "UNKNOWN_PRODUCER_ID"
    );
    // A real id that never wrote to this partition, not starting at 0.
    let (other, _) = init_producer_id(&mut c);
    assert_eq!(produce(&mut c, "bad", 0, idem_batch(other, 0, 7, 1)).0, 59);
    assert_eq!(
        high_watermark(&mut c, "bad", id),
        2,
        "nothing of the refused batches was appended"
    );
    // And the producer goes on where it was.
    assert_eq!(produce(&mut c, "bad", 0, idem_batch(pid, 1, 2, 1)), (0, 2));
    // A transactional id with a timeout above transaction.max.timeout.ms (900,000 by default)
    // is refused with INVALID_TRANSACTION_TIMEOUT, as Kafka does.
    let v = *versions(ApiKey::InitProducerId).end();
    let resp = c.call(
        v,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(kafka_protocol::messages::TransactionalId(
                kafka_protocol::protocol::StrBytes::from_static_str("tx"),
            )))
            .with_transaction_timeout_ms(900_001),
    );
    assert_eq!(resp.error_code, 50);
    drop(c);
    broker.shutdown();
    broker.join().unwrap();
}

#[test]
fn duplicates_are_detected_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = spawn_serve(dir.path(), port);
    let mut c = connect_retry(addr);
    let id = create_topic(&mut c, "killed", 1);
    let (pid, epoch) = init_producer_id(&mut c);
    let mut next = 0;
    let mut last = Vec::new();
    for _ in 0..50 {
        last = idem_batch(pid, epoch, next, 4);
        // acks=-1 under the default flush=always: acknowledged means fdatasynced.
        assert_eq!(
            produce(&mut c, "killed", 0, last.clone()),
            (0, i64::from(next))
        );
        next += 4;
    }
    drop(c);
    child.0.kill().expect("SIGKILL");
    child.0.wait().unwrap();

    if let Ok(keep) = std::env::var("RINGLOG_KEEP_DIR") {
        let _ = std::process::Command::new("cp")
            .arg("-r")
            .arg(dir.path())
            .arg(&keep)
            .status();
    }
    let _child = spawn_serve(dir.path(), port);
    // Let housekeeping (producer expiry among it) run once before the retry.
    std::thread::sleep(Duration::from_millis(1500));
    let mut c = connect_retry(addr);
    assert_eq!(
        produce(&mut c, "killed", 0, last),
        (0, i64::from(next - 4)),
        "the last batch is still a duplicate"
    );
    assert_eq!(high_watermark(&mut c, "killed", id), i64::from(next));
    assert_eq!(
        produce(&mut c, "killed", 0, idem_batch(pid, epoch, next, 1)),
        (0, i64::from(next))
    );
    let (pid2, _) = init_producer_id(&mut c);
    assert!(pid2 > pid, "producer ids are never reused after a crash");
}
