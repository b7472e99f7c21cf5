//! librdkafka (the `rdkafka` crate, built from source) against a live ringlog broker, on both
//! drivers: round trips with keys and headers under every compression codec, ListOffsets by
//! timestamp, Metadata auto-creation, acknowledged data surviving a broker restart, and
//! consumers (librdkafka and kcat) of a partition that was sent poison batches reading exactly
//! the good records. Everything is on 127.0.0.1 and bounded in time.

#[macro_use]
mod support;
/// The wire tests' blocking client, to send batches no real producer builds.
#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod wire;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use ringlog::broker::Broker;
use ringlog::runtime::IoKind;
use ringlog::storage::FlushPolicy;

both_drivers!(
    every_codec_round_trips_keys_headers_and_order,
    list_offsets_by_timestamp,
    metadata_auto_creates_topics,
    acknowledged_records_survive_a_restart,
    consumers_of_a_poisoned_partition_read_only_the_good_records,
);

const WAIT_MAX: Duration = Duration::from_secs(120);

fn start(io: IoKind, dir: &std::path::Path, flush: FlushPolicy) -> Broker {
    support::start_broker(io, dir, 2, |c| c.flush = flush)
}

fn client(broker: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.local_addr().to_string())
        .set("socket.timeout.ms", "10000")
        .set("message.timeout.ms", "60000")
        .set("log_level", "3");
    c
}

fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client(broker).create().expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results =
        futures_executor::block_on(admin.create_topics([&topic], &opts)).expect("create_topics");
    for r in results {
        r.expect("topic created");
    }
}

fn producer(broker: &Broker, codec: &str) -> BaseProducer {
    client(broker)
        .set("compression.codec", codec)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "5000")
        .create()
        .expect("producer")
}

fn produce_all(
    p: &BaseProducer,
    records: impl IntoIterator<Item = (String, String, i64)>,
    topic: &str,
) {
    for (key, value, ts) in records {
        let headers = OwnedHeaders::new().insert(Header {
            key: "seq",
            value: Some(value.as_bytes()),
        });
        let mut record = BaseRecord::to(topic)
            .key(&key)
            .payload(&value)
            .headers(headers);
        if ts >= 0 {
            record = record.timestamp(ts);
        }
        let mut record = Some(record);
        let deadline = Instant::now() + WAIT_MAX;
        while let Some(r) = record.take() {
            match p.send(r) {
                Ok(()) => {}
                Err((e, r)) => {
                    assert!(
                        Instant::now() < deadline,
                        "producer queue never drained: {e}"
                    );
                    p.poll(Duration::from_millis(10));
                    record = Some(r);
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(WAIT_MAX).expect("every record acknowledged");
}

/// Consume `expected` records from every partition of `topic` from the beginning, without a
/// group (assign).
fn consume_all(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<(i32, i64, String, String, String)> {
    // librdkafka's assign() needs a group.id, but with assign and no commits no group API is used.
    let consumer: BaseConsumer = client(broker)
        .set("group.id", "rt-assign")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::with_capacity(expected);
    let deadline = Instant::now() + WAIT_MAX;
    while out.len() < expected {
        assert!(
            Instant::now() < deadline,
            "consumed only {} of {expected}",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => panic!("consumer error: {e}"),
            Some(Ok(m)) => {
                let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
                let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
                let header = m
                    .headers()
                    .and_then(|h| {
                        h.iter()
                            .find(|h| h.key == "seq")
                            .and_then(|h| h.value.map(|v| String::from_utf8(v.to_vec()).unwrap()))
                    })
                    .unwrap_or_default();
                out.push((m.partition(), m.offset(), key, value, header));
            }
        }
    }
    out
}

fn check_round_trip(got: &[(i32, i64, String, String, String)], sent: usize) {
    assert_eq!(got.len(), sent);
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    let mut last_seq_per_key: HashMap<String, usize> = HashMap::new();
    let mut partition_of_key: HashMap<String, i32> = HashMap::new();
    let mut seen = vec![false; sent];
    for (partition, offset, key, value, header) in got {
        assert_eq!(value, header, "the header carries the value");
        let seq: usize = value.rsplit(':').next().unwrap().parse().unwrap();
        assert!(!seen[seq], "record {seq} delivered twice");
        seen[seq] = true;
        assert_eq!(key, &format!("k{}", seq % 64));
        let prev = last_offset.insert(*partition, *offset);
        assert!(
            prev.is_none_or(|p| p + 1 == *offset),
            "offsets of partition {partition} not contiguous"
        );
        // One key always lands on one partition, and its records keep the producer's order.
        assert_eq!(
            *partition_of_key.entry(key.clone()).or_insert(*partition),
            *partition
        );
        if let Some(prev) = last_seq_per_key.insert(key.clone(), seq) {
            assert!(prev < seq, "key {key}: record {seq} after {prev}");
        }
    }
    assert!(seen.iter().all(|s| *s));
}

fn every_codec_round_trips_keys_headers_and_order(io: IoKind) {
    const RECORDS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path(), FlushPolicy::Never);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("rt-{codec}");
        create_topic(&broker, &topic, 4);
        let p = producer(&broker, codec);
        produce_all(
            &p,
            (0..RECORDS).map(|i| (format!("k{}", i % 64), format!("{codec}:{i}"), -1)),
            &topic,
        );
        let got = consume_all(&broker, &topic, 4, RECORDS);
        check_round_trip(&got, RECORDS);
        let partitions: std::collections::HashSet<i32> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            partitions.len(),
            4,
            "{codec}: records spread over all partitions"
        );
    }
    broker.shutdown();
    broker.join().unwrap();
}

fn list_offsets_by_timestamp(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path(), FlushPolicy::Never);
    create_topic(&broker, "times", 1);
    let base = 1_700_000_000_000i64;
    let p: BaseProducer = client(&broker)
        .set("linger.ms", "0")
        .set("acks", "all")
        .create()
        .unwrap();
    // One record per batch (flush each), at base + 1000*i.
    for i in 0..20i64 {
        produce_all(
            &p,
            [(format!("k{i}"), format!("t:{i}"), base + 1000 * i)],
            "times",
        );
    }
    let consumer: BaseConsumer = client(&broker).create().unwrap();
    for (ts, want) in [
        (base - 1, 0i64),
        (base, 0),
        (base + 1, 1),
        (base + 5_500, 6),
        (base + 19_000, 19),
    ] {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("times", 0, Offset::Offset(ts))
            .unwrap();
        let got = consumer
            .offsets_for_times(tpl, Duration::from_secs(10))
            .expect("offsets_for_times");
        let off = got.find_partition("times", 0).unwrap().offset();
        assert_eq!(off, Offset::Offset(want), "first offset at or after {ts}");
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("times", 0, Offset::Offset(base + 1_000_000))
        .unwrap();
    let got = consumer
        .offsets_for_times(tpl, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        got.find_partition("times", 0).unwrap().offset(),
        Offset::End,
        "past the last record"
    );
    let (low, high) = consumer
        .fetch_watermarks("times", 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!((low, high), (0, 20));
    broker.shutdown();
    broker.join().unwrap();
}

fn metadata_auto_creates_topics(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path(), FlushPolicy::Never);
    let consumer: BaseConsumer = client(&broker)
        .set("allow.auto.create.topics", "true")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some("made-on-demand"), Duration::from_secs(10))
        .expect("metadata");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == "made-on-demand")
        .expect("topic listed");
    assert!(t.error().is_none(), "{:?}", t.error());
    assert_eq!(t.partitions().len(), 2, "default partitions = shards");
    assert_eq!(md.brokers().len(), 1);
    assert_eq!(md.brokers()[0].port() as u16, broker.local_addr().port());
    // And the producer can use it at once.
    let p = producer(&broker, "none");
    produce_all(
        &p,
        (0..10).map(|i| (format!("k{i}"), format!("auto:{i}"), -1)),
        "made-on-demand",
    );
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    assert!(md.topics().iter().any(|t| t.name() == "made-on-demand"));
    broker.shutdown();
    broker.join().unwrap();
}

fn acknowledged_records_survive_a_restart(io: IoKind) {
    const RECORDS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path(), FlushPolicy::Always);
    create_topic(&broker, "durable", 3);
    let p = producer(&broker, "lz4");
    produce_all(
        &p,
        (0..RECORDS / 2).map(|i| (format!("k{}", i % 64), format!("d:{i}"), -1)),
        "durable",
    );
    drop(p);
    broker.shutdown();
    broker.join().unwrap();
    // Restart on the same data directory (a new port): everything acknowledged is there, and
    // producing continues at the right offsets.
    let broker = start(io, dir.path(), FlushPolicy::Always);
    let p = producer(&broker, "lz4");
    produce_all(
        &p,
        (RECORDS / 2..RECORDS).map(|i| (format!("k{}", i % 64), format!("d:{i}"), -1)),
        "durable",
    );
    let got = consume_all(&broker, "durable", 3, RECORDS);
    check_round_trip(&got, RECORDS);
    broker.shutdown();
    broker.join().unwrap();
}

/// How long the poison test waits for consumers: far above what reading six records takes,
/// short enough that a consumer stuck on a stored poison batch fails the test in bounded time.
const POISON_WAIT: Duration = Duration::from_secs(20);

/// Every poison batch (`storage::batch::testing::poison_batches`) is sent raw between good
/// records and refused; afterwards a librdkafka consumer and kcat read the partition from the
/// beginning and get exactly the good records, in order, with no error (before record
/// validation, a stored poison batch made librdkafka refetch one offset forever).
fn consumers_of_a_poisoned_partition_read_only_the_good_records(io: IoKind) {
    use kafka_protocol::messages::ApiKey;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path(), FlushPolicy::Never);
    let topic = "poisoned";
    create_topic(&broker, topic, 1);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut raw = wire::Client::connect(broker.local_addr());
    assert_eq!(
        wire::produce_one(
            &mut raw,
            topic,
            0,
            &wire::batch(now_ms, &[b"good-0", b"good-1", b"good-2"])
        ),
        0
    );
    let v = *wire::versions(ApiKey::Produce).end();
    for poison in ringlog::storage::batch::testing::poison_batches(now_ms) {
        let resp = raw.call(
            v,
            &wire::produce_request(topic, -1, &[(0, poison.bytes.clone())]),
        );
        let code = resp.responses[0].partition_responses[0].error_code;
        assert_ne!(code, 0, "poison batch {} was acknowledged", poison.name);
    }
    let p = producer(&broker, "lz4");
    produce_all(
        &p,
        (3..6).map(|i| (format!("k{i}"), format!("good-{i}"), -1)),
        topic,
    );
    let expected: Vec<String> = (0..6).map(|i| format!("good-{i}")).collect();

    let consumer: BaseConsumer = client(&broker)
        .set("group.id", "poison-assign")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).expect("assign");
    let mut got: Vec<(i64, String)> = Vec::new();
    let deadline = Instant::now() + POISON_WAIT;
    // Read until every good record is in, then a little longer: nothing else may arrive.
    let mut quiet_until: Option<Instant> = None;
    while quiet_until.is_none_or(|q| Instant::now() < q) {
        assert!(
            Instant::now() < deadline,
            "librdkafka read {got:?} of {expected:?} (stuck on a stored poison batch?)"
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => panic!("librdkafka consumer error: {e}"),
            Some(Ok(m)) => got.push((
                m.offset(),
                String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap(),
            )),
        }
        if got.len() >= expected.len() && quiet_until.is_none() {
            quiet_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    assert_eq!(
        got,
        expected
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64, v.clone()))
            .collect::<Vec<_>>(),
        "librdkafka: exactly the good records at offsets 0..6"
    );
    drop(consumer);

    match std::process::Command::new("kcat").arg("-V").output() {
        Ok(o) if o.status.success() => {
            let addr = broker.local_addr().to_string();
            let out = support::run_bounded(
                std::process::Command::new("kcat").args([
                    "-C",
                    "-b",
                    &addr,
                    "-t",
                    topic,
                    "-p",
                    "0",
                    "-o",
                    "beginning",
                    "-e",
                    "-q",
                    "-f",
                    "%o %s\\n",
                ]),
                POISON_WAIT,
            );
            assert!(
                out.status.success(),
                "kcat failed or was stuck (killed after {POISON_WAIT:?}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect();
            let want: Vec<String> = expected
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{i} {v}"))
                .collect();
            assert_eq!(lines, want, "kcat: exactly the good records");
        }
        _ => eprintln!(
            "SKIPPED: kcat is not installed; the kcat consumer of a poisoned partition did not run"
        ),
    }
    broker.shutdown();
    broker.join().unwrap();
}
