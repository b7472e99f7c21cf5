//! Every advertised version of ApiVersions, Metadata, Produce and Fetch against a live broker, and
//! the Fetch long poll.

use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, FetchRequest, MetadataRequest, ProduceRequest};
use ringlog::protocol::versions::SUPPORTED_APIS;
use ringlog::runtime::IoKind;
use uuid::Uuid;

use super::client::*;

/// Base timestamp of the records these tests produce.
const T0: i64 = 1_700_000_000_000;

pub fn api_versions_every_version_lists_exactly_the_supported_apis(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let expected: Vec<(i16, i16, i16)> = SUPPORTED_APIS
        .iter()
        .map(|r| (r.api_key as i16, r.min_version, r.max_version))
        .collect();
    for v in versions(ApiKey::ApiVersions) {
        let req = api_versions_request(v);
        // decode_response reads the response header at v0 for every version (kafka-protocol's
        // ApiVersionsResponse header version) and insists the body consumes the whole frame.
        let resp = c.call(v, &req);
        assert_eq!(resp.error_code, 0, "ApiVersions v{v}");
        let mut got: Vec<(i16, i16, i16)> = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want, "ApiVersions v{v} lists exactly SUPPORTED_APIS");
    }
}

pub fn metadata_every_version_auto_creates_and_advertises_this_broker(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let port = i32::from(broker.addr.port());
    let mut ids = Vec::new();
    for v in versions(ApiKey::Metadata) {
        let name = format!("meta-v{v}");
        let resp = c.call(v, &metadata_request(v, Some(&[name.as_str()]), true));
        assert_eq!(resp.brokers.len(), 1, "Metadata v{v}: one broker");
        let b = &resp.brokers[0];
        assert_eq!(
            (b.node_id.0, b.host.as_str(), b.port),
            (0, "127.0.0.1", port),
            "Metadata v{v}"
        );
        if v >= 2 {
            assert!(resp.cluster_id.is_some(), "Metadata v{v}: cluster id");
        }
        assert_eq!(resp.controller_id.0, 0, "Metadata v{v}: controller");
        assert_eq!(resp.topics.len(), 1, "Metadata v{v}: {:?}", resp.topics);
        let t = &resp.topics[0];
        assert_eq!(t.error_code, 0, "Metadata v{v}: auto-created {name}");
        assert_eq!(t.name.as_ref().map(|n| n.0.as_str()), Some(name.as_str()));
        assert_eq!(
            t.partitions.len(),
            CORES,
            "Metadata v{v}: default partitions = shards"
        );
        for (i, p) in t.partitions.iter().enumerate() {
            assert_eq!(
                (p.partition_index, p.error_code, p.leader_id.0),
                (i as i32, 0, 0)
            );
            assert_eq!(p.replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>(), [0]);
            assert_eq!(p.isr_nodes.iter().map(|b| b.0).collect::<Vec<_>>(), [0]);
        }
        if v >= 10 {
            assert!(!t.topic_id.is_nil(), "Metadata v{v}: topic id");
            ids.push((name.clone(), t.topic_id));
        } else {
            assert!(t.topic_id.is_nil(), "Metadata v{v} carries no topic id");
        }

        if v >= 4 {
            let missing = format!("meta-noauto-v{v}");
            let resp = c.call(v, &metadata_request(v, Some(&[missing.as_str()]), false));
            assert_eq!(
                resp.topics[0].error_code, 3,
                "Metadata v{v}, auto-create off: UNKNOWN_TOPIC_OR_PARTITION"
            );
            assert!(resp.topics[0].partitions.is_empty());
        }
    }

    // All topics (null list): exactly the auto-created ones, with stable ids.
    let v = *versions(ApiKey::Metadata).end();
    let resp = c.call(
        v,
        &MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(true),
    );
    let mut names: Vec<String> = resp
        .topics
        .iter()
        .map(|t| t.name.as_ref().unwrap().0.to_string())
        .collect();
    names.sort();
    let mut want: Vec<String> = versions(ApiKey::Metadata)
        .map(|v| format!("meta-v{v}"))
        .collect();
    want.sort();
    assert_eq!(names, want, "only the auto-created topics exist");
    for (name, id) in ids {
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().unwrap().0.as_str() == name)
            .unwrap();
        assert_eq!(t.topic_id, id, "{name}: topic id is stable");
    }
}

pub fn produce_every_version_appends_at_consecutive_offsets(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "produce-wire";
    let id = create_topic(&mut c, topic, 2);
    let mut expected = Vec::new();
    let mut next = 0i64;
    for v in versions(ApiKey::Produce) {
        let b = batch(
            T0 + 10 * i64::from(v),
            &[format!("v{v}-a").as_bytes(), format!("v{v}-b").as_bytes()],
        );
        let resp = c.call(v, &produce_request(topic, -1, &[(0, b.clone())]));
        assert_eq!(resp.responses.len(), 1, "Produce v{v}");
        assert_eq!(resp.responses[0].name.0.as_str(), topic);
        let p = &resp.responses[0].partition_responses;
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].index, p[0].error_code),
            (0, 0),
            "Produce v{v}: {:?}",
            p[0]
        );
        assert_eq!(
            p[0].base_offset, next,
            "Produce v{v}: consecutive base offsets"
        );
        if v >= 5 {
            assert_eq!(p[0].log_start_offset, 0, "Produce v{v}: log start offset");
        }
        expected.extend(stamped(&b, next));
        next += 2;
    }
    let (err, hw, records) = fetch_one(&mut c, topic, id, 0, 0);
    assert_eq!((err, hw), (0, next));
    assert_eq!(
        records, expected,
        "every produced batch is stored byte for byte"
    );
    // Partition 1 was never written.
    let (err, hw, records) = fetch_one(&mut c, topic, id, 1, 0);
    assert_eq!((err, hw, records.len()), (0, 0, 0));
}

pub fn fetch_every_version_returns_the_produced_bytes(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut producer = broker.connect();
    let topic = "fetch-wire";
    // Metadata v12 auto-creates the topic and gives its id, as a v13+ consumer learns it.
    let meta = producer.call(12, &metadata_request(12, Some(&[topic]), true));
    assert_eq!(meta.topics[0].error_code, 0);
    let id = meta.topics[0].topic_id;
    assert!(!id.is_nil());
    let batches = [
        batch(T0, &[b"one"]),
        batch(T0 + 100, &[b"two", b"three"]),
        batch(T0 + 200, &[b"four", b"five", b"six"]),
    ];
    let mut expected = Vec::new();
    let mut bases = Vec::new();
    for b in &batches {
        let base = produce_one(&mut producer, topic, 0, b);
        bases.push(base);
        expected.push(stamped(b, base));
    }
    assert_eq!(bases, [0, 1, 3]);
    let hw = 6;

    let mut c = broker.connect();
    for v in versions(ApiKey::Fetch) {
        for (from, first_batch) in [(0i64, 0usize), (1, 1), (4, 2)] {
            let at = [FetchAt {
                topic,
                topic_id: id,
                partition: 0,
                offset: from,
            }];
            let resp = c.call(v, &fetch_request(v, &at, 500, 1));
            if v >= 7 {
                assert_eq!(
                    (resp.error_code, resp.session_id),
                    (0, 0),
                    "Fetch v{v}: no session"
                );
            }
            assert_eq!(resp.responses.len(), 1, "Fetch v{v}");
            let t = &resp.responses[0];
            if v >= 13 {
                assert_eq!(t.topic_id, id, "Fetch v{v}: topic id");
            } else {
                assert_eq!(t.topic.0.as_str(), topic, "Fetch v{v}: topic name");
            }
            assert_eq!(t.partitions.len(), 1);
            let p = &t.partitions[0];
            assert_eq!(
                (p.partition_index, p.error_code),
                (0, 0),
                "Fetch v{v} from {from}"
            );
            assert_eq!(p.high_watermark, hw, "Fetch v{v}: high watermark");
            assert_eq!(p.last_stable_offset, hw, "Fetch v{v}: last stable offset");
            if v >= 5 {
                assert_eq!(p.log_start_offset, 0, "Fetch v{v}: log start offset");
            }
            // Whole batches: a fetch from inside a batch starts at that batch.
            let want: Vec<u8> = expected[first_batch..].concat();
            let got = p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default();
            assert_eq!(
                got.len(),
                want.len(),
                "Fetch v{v} from {from}: record bytes length"
            );
            assert!(
                got == want,
                "Fetch v{v} from {from}: record bytes differ from what was produced"
            );
        }
    }
}

fn fetch_at_hw(topic: &str, id: Uuid, partition: i32, offset: i64) -> [FetchAt<'_>; 1] {
    [FetchAt {
        topic,
        topic_id: id,
        partition,
        offset,
    }]
}

pub fn fetch_long_poll_times_out_empty(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "long-poll";
    let id = create_topic(&mut c, topic, 1);
    produce_one(&mut c, topic, 0, &batch(T0, &[b"x"]));
    let range = versions(ApiKey::Fetch);
    for v in [*range.start(), 12, *range.end()] {
        let req = fetch_request(v, &fetch_at_hw(topic, id, 0, 1), 200, 1);
        let started = Instant::now();
        let resp = c.call::<FetchRequest>(v, &req);
        let took = started.elapsed();
        let p = &resp.responses[0].partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (0, 1), "Fetch v{v}");
        assert!(
            p.records.as_ref().is_none_or(|r| r.is_empty()),
            "Fetch v{v}: no records"
        );
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(2),
            "Fetch v{v} with max_wait_ms=200 at the high watermark answered after {took:?}"
        );
    }
}

pub fn fetch_long_poll_is_woken_by_a_produce_on_another_connection(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut setup = broker.connect();
    let topic = "wake-up";
    // Two partitions with different owners: whichever shard accepted the fetching connection,
    // one of the two waits is forwarded to the other shard.
    let id = create_topic(&mut setup, topic, 2);
    let owners: Vec<usize> = (0..2)
        .map(|p| ringlog::broker::routing::owner(topic, p, CORES))
        .collect();
    assert_ne!(owners[0], owners[1]);
    let v = *versions(ApiKey::Fetch).end();
    for partition in 0..2 {
        let mut consumer = broker.connect();
        let mut producer = broker.connect();
        let req = fetch_request(v, &fetch_at_hw(topic, id, partition, 0), 5_000, 1);
        let started = Instant::now();
        let corr = consumer.send(v, &req);
        std::thread::sleep(Duration::from_millis(100));
        let b = batch(T0, &[format!("wake-{partition}").as_bytes()]);
        let pv = *versions(ApiKey::Produce).end();
        let resp = producer
            .call::<ProduceRequest>(pv, &produce_request(topic, 1, &[(partition, b.clone())]));
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
        let resp = consumer.recv::<FetchRequest>(v, corr);
        let took = started.elapsed();
        let p = &resp.responses[0].partitions[0];
        assert_eq!(
            (p.error_code, p.high_watermark),
            (0, 1),
            "partition {partition}"
        );
        assert_eq!(
            p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default(),
            stamped(&b, 0),
            "partition {partition} (shard {}): the long poll returns the new batch",
            owners[partition as usize]
        );
        assert!(
            took < Duration::from_secs(2),
            "partition {partition} (shard {}): long poll woken after {took:?}, max_wait_ms was 5000",
            owners[partition as usize]
        );
    }
}
