//! Partitions on both shards behind one connection (Produce, Fetch, ListOffsets), pipelining,
//! acks=0, and shutdown with connections open.

use std::io::Write;
use std::time::Duration;

use kafka_protocol::messages::{
    list_offsets_request, ApiKey, ApiVersionsRequest, FetchRequest, ListOffsetsRequest,
    MetadataRequest, ProduceRequest,
};
use ringlog::broker::routing::owner;
use ringlog::runtime::IoKind;

use super::client::*;

const T0: i64 = 1_700_000_000_000;
const PARTITIONS: i32 = 4;

/// Record timestamps of partition `p`: batch 0 is one record at `first_ts(p)`, batch 1 two
/// records at `second_ts(p)` and `second_ts(p) + 1`.
fn first_ts(p: i32) -> i64 {
    T0 + 100 * i64::from(p)
}
fn second_ts(p: i32) -> i64 {
    T0 + 10_000 + 100 * i64::from(p)
}

/// Creates a 4-partition topic whose partitions live on both shards, produces two batches to
/// every partition in two requests (one per round) on `c`, and returns the topic id and the
/// expected bytes of each partition.
fn spread_topic(c: &mut Client, topic: &str) -> (uuid::Uuid, Vec<Vec<u8>>) {
    let id = create_topic(c, topic, PARTITIONS);
    let owners: Vec<usize> = (0..PARTITIONS).map(|p| owner(topic, p, CORES)).collect();
    assert!(
        owners.contains(&0) && owners.contains(&1),
        "{topic}: partitions must span both shards, owners {owners:?}"
    );
    let mut expected = vec![Vec::new(); PARTITIONS as usize];
    let v = *versions(ApiKey::Produce).end();
    for round in 0..2i64 {
        let parts: Vec<(i32, Vec<u8>)> = (0..PARTITIONS)
            .map(|p| {
                let b = if round == 0 {
                    batch(first_ts(p), &[format!("p{p}-r0").as_bytes()])
                } else {
                    batch(
                        second_ts(p),
                        &[
                            format!("p{p}-r1a").as_bytes(),
                            format!("p{p}-r1b").as_bytes(),
                        ],
                    )
                };
                (p, b)
            })
            .collect();
        let resp = c.call(v, &produce_request(topic, -1, &parts));
        let got: Vec<(i32, i16, i64)> = resp.responses[0]
            .partition_responses
            .iter()
            .map(|r| (r.index, r.error_code, r.base_offset))
            .collect();
        let want: Vec<(i32, i16, i64)> = (0..PARTITIONS).map(|p| (p, 0, round)).collect();
        assert_eq!(
            got, want,
            "produce round {round} to all partitions (owners {owners:?})"
        );
        for (p, b) in parts {
            expected[p as usize].extend(stamped(&b, round));
        }
    }
    (id, expected)
}

pub fn partitions_on_both_shards_behind_one_connection(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "spread";
    let (id, expected) = spread_topic(&mut c, topic);
    for v in [
        *versions(ApiKey::Fetch).start(),
        12,
        *versions(ApiKey::Fetch).end(),
    ] {
        let at: Vec<FetchAt> = (0..PARTITIONS)
            .map(|p| FetchAt {
                topic,
                topic_id: id,
                partition: p,
                offset: 0,
            })
            .collect();
        let resp = c.call::<FetchRequest>(v, &fetch_request(v, &at, 500, 1));
        assert_eq!(resp.responses.len(), 1);
        let parts = &resp.responses[0].partitions;
        assert_eq!(parts.len(), PARTITIONS as usize, "Fetch v{v}");
        for (i, p) in parts.iter().enumerate() {
            let shard = owner(topic, i as i32, CORES);
            assert_eq!(
                (p.partition_index, p.error_code, p.high_watermark),
                (i as i32, 0, 3),
                "Fetch v{v} partition {i} on shard {shard}"
            );
            let got = p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default();
            assert!(
                got == expected[i],
                "Fetch v{v} partition {i} on shard {shard}: record bytes"
            );
        }
    }
}

fn list_offsets_request(topic: &str, partitions: &[(i32, i64)]) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|(p, ts)| {
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(*p)
                            .with_timestamp(*ts)
                    })
                    .collect(),
            )])
}

pub fn list_offsets_on_both_shards_every_version(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "offsets";
    spread_topic(&mut c, topic);
    // (query timestamp, expected offset, expected timestamp) per partition.
    type Query = (i64, i64, i64);
    let queries = |p: i32| -> Vec<Query> {
        vec![
            (-2, 0, -1),                     // earliest
            (-1, 3, -1),                     // latest (the high watermark)
            (first_ts(p), 0, first_ts(p)),   // exactly the first record
            (0, 0, first_ts(p)),             // before everything: the first record
            (second_ts(p), 1, second_ts(p)), // exactly the first record of batch 1
            (T0 + 1_000_000, -1, -1),        // after everything: none
        ]
    };
    for v in versions(ApiKey::ListOffsets) {
        for (i, _) in queries(0).iter().enumerate() {
            let asks: Vec<(i32, i64)> = (0..PARTITIONS).map(|p| (p, queries(p)[i].0)).collect();
            let mut asks_plus_unknown = asks.clone();
            asks_plus_unknown.push((PARTITIONS, -1));
            let resp = c.call(v, &list_offsets_request(topic, &asks_plus_unknown));
            assert_eq!(resp.topics.len(), 1);
            let parts = &resp.topics[0].partitions;
            assert_eq!(parts.len(), asks_plus_unknown.len(), "ListOffsets v{v}");
            for p in 0..PARTITIONS {
                let (ts, offset, found_ts) = queries(p)[i];
                let r = &parts[p as usize];
                let shard = owner(topic, p, CORES);
                assert_eq!(r.partition_index, p);
                assert_eq!(
                    r.error_code, 0,
                    "ListOffsets v{v} p{p} (shard {shard}) ts={ts}"
                );
                assert_eq!(
                    r.offset, offset,
                    "ListOffsets v{v} p{p} (shard {shard}) ts={ts}: offset"
                );
                // Earliest/latest carry timestamp -1; a query that names a record's exact timestamp
                // gets it back (other targets: see the Kafka-conformance test below).
                if ts > 0 {
                    assert_eq!(
                        r.timestamp, found_ts,
                        "ListOffsets v{v} p{p} (shard {shard}) ts={ts}: timestamp"
                    );
                }
            }
            let unknown = &parts[PARTITIONS as usize];
            assert_eq!(
                (unknown.partition_index, unknown.error_code),
                (PARTITIONS, 3)
            );
        }
    }
}

/// Kafka answers a ListOffsets timestamp query with the first *record* whose timestamp is at or
/// after the target, and that record's timestamp (`LogSegment.findOffsetByTimestamp`).
pub fn list_offsets_by_timestamp_answers_the_record_kafka_would(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "offsets-kafka";
    spread_topic(&mut c, topic);
    let mut wrong = Vec::new();
    for v in [
        *versions(ApiKey::ListOffsets).start(),
        *versions(ApiKey::ListOffsets).end(),
    ] {
        for p in 0..PARTITIONS {
            let cases = [
                ("before everything", 0, 0, first_ts(p)),
                (
                    "between batch 0 and batch 1",
                    first_ts(p) + 1,
                    1,
                    second_ts(p),
                ),
                (
                    "the second record of batch 1",
                    second_ts(p) + 1,
                    2,
                    second_ts(p) + 1,
                ),
            ];
            for (what, target, offset, timestamp) in cases {
                let resp = c.call(v, &list_offsets_request(topic, &[(p, target)]));
                let r = &resp.topics[0].partitions[0];
                let got = (r.error_code, r.offset, r.timestamp);
                if got != (0, offset, timestamp) {
                    wrong.push(format!(
                        "v{v} p{p} {what} (target {target}): got (error, offset, timestamp) {got:?}, Kafka gives {:?}",
                        (0, offset, timestamp)
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "ListOffsets by timestamp differs from Kafka:\n{}",
        wrong.join("\n")
    );
}

/// One pipelined request and how to check its response.
enum Sent {
    Metadata(i16),
    Produce(i16, i32),
    ApiVersions(i16),
}

pub fn pipelined_requests_are_answered_in_order(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "pipelined";
    let id = create_topic(&mut c, topic, 2);
    let meta = versions(ApiKey::Metadata);
    let prod = versions(ApiKey::Produce);
    let apiv = versions(ApiKey::ApiVersions);
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    let mut batches: Vec<Vec<Vec<u8>>> = vec![Vec::new(), Vec::new()];
    for i in 0..20i32 {
        let corr = 5000 + i * 7; // distinct, not consecutive
        let k = i as i16;
        let s = match i % 3 {
            0 => {
                let v = meta.start() + k % (meta.end() - meta.start() + 1);
                wire.extend(encode_frame(
                    v,
                    corr,
                    &metadata_request(v, Some(&[topic]), false),
                ));
                Sent::Metadata(v)
            }
            1 => {
                let v = prod.start() + k % (prod.end() - prod.start() + 1);
                let p = i % 2;
                let b = batch(T0 + i64::from(i), &[format!("pipelined-{i}").as_bytes()]);
                wire.extend(encode_frame(
                    v,
                    corr,
                    &produce_request(topic, -1, &[(p, b.clone())]),
                ));
                batches[p as usize].push(b);
                Sent::Produce(v, p)
            }
            _ => {
                let v = apiv.start() + k % (apiv.end() - apiv.start() + 1);
                wire.extend(encode_frame(v, corr, &ApiVersionsRequest::default()));
                Sent::ApiVersions(v)
            }
        };
        sent.push((corr, s));
    }
    // Everything in one write before reading anything.
    c.stream.write_all(&wire).unwrap();
    let mut next_offset = [0i64; 2];
    for (corr, s) in &sent {
        let frame = c.read_frame().expect("pipelined response");
        match s {
            Sent::Metadata(v) => {
                let (got, resp) = decode_response::<MetadataRequest>(*v, &frame);
                assert_eq!(got, *corr, "responses in request order");
                assert_eq!(resp.topics[0].error_code, 0);
            }
            Sent::Produce(v, p) => {
                let (got, resp) = decode_response::<ProduceRequest>(*v, &frame);
                assert_eq!(got, *corr, "responses in request order");
                let r = &resp.responses[0].partition_responses[0];
                assert_eq!(
                    (r.index, r.error_code, r.base_offset),
                    (*p, 0, next_offset[*p as usize])
                );
                next_offset[*p as usize] += 1;
            }
            Sent::ApiVersions(v) => {
                let (got, resp) = decode_response::<ApiVersionsRequest>(*v, &frame);
                assert_eq!(got, *corr, "responses in request order");
                assert_eq!(resp.error_code, 0);
            }
        }
    }
    for p in 0..2 {
        let (err, hw, records) = fetch_one(&mut c, topic, id, p, 0);
        let want: Vec<u8> = batches[p as usize]
            .iter()
            .enumerate()
            .flat_map(|(o, b)| stamped(b, o as i64))
            .collect();
        assert_eq!((err, hw), (0, batches[p as usize].len() as i64));
        assert!(
            records == want,
            "partition {p}: pipelined produces stored in order"
        );
    }
}

pub fn acks_zero_produce_is_appended_without_a_response(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "fire-and-forget";
    let id = create_topic(&mut c, topic, 1);
    let b = batch(T0, &[b"no reply expected"]);
    let v = *versions(ApiKey::Produce).end();
    c.send(v, &produce_request(topic, 0, &[(0, b.clone())]));
    // The next response on the wire must be the ApiVersions one.
    let resp = c.call(3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
    let (err, hw, records) = fetch_one(&mut c, topic, id, 0, 0);
    assert_eq!((err, hw), (0, 1));
    assert_eq!(records, stamped(&b, 0));
    // A failing acks=0 produce closes the connection so that the client notices (as Kafka does).
    c.send(v, &produce_request("no-such-topic", 0, &[(0, b.clone())]));
    c.assert_closed("acks=0 produce to an unknown topic");
}

/// Opens `polls_per_partition` long-polling connections per partition of a 2-partition topic (so
/// some wait on the other shard) plus an idle one, stops the broker, and returns how long the stop
/// took. Each long poll must get an empty answer or a close, not silence.
fn stop_with_long_polls(io: IoKind, polls_per_partition: usize) -> Duration {
    let broker = TestBroker::start(io);
    let mut setup = broker.connect();
    let topic = "shutdown";
    let id = create_topic(&mut setup, topic, 2);
    let _idle = broker.connect();
    let v = *versions(ApiKey::Fetch).end();
    let mut polls = Vec::new();
    for _ in 0..polls_per_partition {
        for p in 0..2 {
            let mut c = broker.connect();
            let at = [FetchAt {
                topic,
                topic_id: id,
                partition: p,
                offset: 0,
            }];
            let corr = c.send(v, &fetch_request(v, &at, 30_000, 1));
            polls.push((c, corr));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let took = broker.stop();
    for (mut c, corr) in polls {
        c.stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        if let Ok(frame) = c.read_frame() {
            let (got, resp) = decode_response::<FetchRequest>(v, &frame);
            assert_eq!(got, corr);
            let p = &resp.responses[0].partitions[0];
            assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
        }
    }
    took
}

/// The documented bound: requests in progress get `SHUTDOWN_GRACE_MS`, then the broker closes.
pub fn shutdown_with_idle_and_long_polling_connections_is_bounded(io: IoKind) {
    let took = stop_with_long_polls(io, 1);
    let bound = Duration::from_millis(ringlog::broker::SHUTDOWN_GRACE_MS + 1_000);
    assert!(
        took < bound,
        "shutdown with long polls took {took:?}, bound {bound:?}"
    );
}

/// Long polls are interrupted by shutdown (fetch.rs checks `shutting_down`, `wait_local` selects
/// on the shutdown notification), so stopping should not wait out the grace period.
pub fn shutdown_interrupts_long_polls_promptly(io: IoKind) {
    for round in 0..5 {
        let took = stop_with_long_polls(io, 4);
        assert!(
            took < Duration::from_secs(3),
            "round {round}: shutdown with 8 long polls (max_wait_ms 30000) took {took:?}"
        );
    }
}

/// Topic creations and deletions from many connections at once, on every shard's connections:
/// each is acknowledged, and after a restart the catalog holds exactly the topics that were
/// acknowledged as created and not deleted (overlapping catalog saves once lost some).
pub fn concurrent_creates_and_deletes_survive_a_restart(io: IoKind) {
    const CLIENTS: usize = 6;
    const TOPICS_PER_CLIENT: usize = 8;
    let dir = tempfile::tempdir().expect("temp dir");
    let start = |dir: &std::path::Path| {
        ringlog::broker::Broker::start(ringlog::broker::BrokerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.to_path_buf(),
            cores: CORES,
            io,
            ..Default::default()
        })
        .expect("broker starts")
    };
    let broker = start(dir.path());
    let addr = broker.local_addr();
    let create_v = *versions(ApiKey::CreateTopics).end();
    let delete_v = *versions(ApiKey::DeleteTopics).end();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut kept = Vec::new();
                for t in 0..TOPICS_PER_CLIENT {
                    let name = format!("race-{c}-{t}");
                    let resp = client.call(create_v, &create_topics_request(&[(&name, 2, 1)]));
                    assert_eq!(resp.topics[0].error_code, 0, "create {name}");
                    // Delete every third one again, racing the other clients' creations.
                    if t % 3 == 2 {
                        // v6 names topics in `topics` (by name or id).
                        let req = kafka_protocol::messages::DeleteTopicsRequest::default()
                            .with_timeout_ms(5_000)
                            .with_topics(vec![
                                kafka_protocol::messages::delete_topics_request::DeleteTopicState::default()
                                    .with_name(Some(topic_name(&name))),
                            ]);
                        let resp = client.call(delete_v, &req);
                        assert_eq!(resp.responses[0].error_code, 0, "delete {name}");
                    } else {
                        kept.push(name);
                    }
                }
                kept
            })
        })
        .collect();
    let mut expected: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();
    expected.sort();
    broker.shutdown();
    broker.join().expect("broker stops cleanly");

    let broker = start(dir.path());
    let mut client = Client::connect(broker.local_addr());
    let resp = client.call(12, &metadata_request(12, None, false));
    let mut got: Vec<String> = resp
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    got.sort();
    assert_eq!(got, expected, "topics after the restart");
    broker.shutdown();
    broker.join().expect("broker stops cleanly");
}

/// A Fetch naming one partition 2,200 times reads it once (Kafka keys a fetch by
/// topic-partition), and the broker's `fetch_max_bytes` caps a response whatever `max_bytes`
/// the client sends (the first batch always goes whole, KIP-74).
pub fn fetch_duplicates_collapse_and_the_broker_caps_response_bytes(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.fetch_max_bytes = 1024);
    let mut c = broker.connect();
    let id = create_topic(&mut c, "capped", 2);
    let value = [7u8; 900];
    let records = batch(1_700_000_000_000, &[&value]);
    for p in 0..2 {
        assert_eq!(produce_one(&mut c, "capped", p, &records), 0);
    }
    let v = *versions(ApiKey::Fetch).end();
    let at = |partition| FetchAt {
        topic: "capped",
        topic_id: id,
        partition,
        offset: 0,
    };

    let dup: Vec<FetchAt> = (0..2_200).map(|_| at(0)).collect();
    let resp = c.call(v, &fetch_request(v, &dup, 0, 0));
    assert_eq!(resp.responses.len(), 1, "one topic");
    assert_eq!(
        resp.responses[0].partitions.len(),
        1,
        "one partition, not 2,200"
    );
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 1));
    assert_eq!(p.records.as_deref().map(<[u8]>::len), Some(records.len()));

    // Both partitions hold one ~1 KiB batch; the client allows 2 GiB, the broker 1 KiB: the
    // first partition's batch comes whole, the second partition none (its watermark still).
    let resp = c.call(v, &fetch_request(v, &[at(0), at(1)], 0, 0));
    let parts = &resp.responses[0].partitions;
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[0].records.as_deref().map(<[u8]>::len),
        Some(records.len())
    );
    assert_eq!(parts[1].records.as_deref().map(<[u8]>::len).unwrap_or(0), 0);
    assert_eq!(parts[1].high_watermark, 1);

    // Within one partition too: with three ~1 KiB batches there and 2 GiB allowed by the
    // client, the broker's 1 KiB gives the first batch only (it used to give the partition whole).
    for _ in 0..2 {
        produce_one(&mut c, "capped", 0, &records);
    }
    let resp = c.call(v, &fetch_request(v, &[at(0)], 0, 0));
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 3);
    assert_eq!(
        p.records.as_deref().map(<[u8]>::len),
        Some(records.len()),
        "one batch of the partition's three"
    );
}

/// Segment files held by Fetch responses in flight are bounded (the fd plan's `fetch_files`,
/// half the segment-file budget): one Fetch naming 40 partitions with data, against a broker
/// whose budget is 16 segment files (so 16 for fetches), answers at most 16 partitions with data
/// and the others with their high watermark only; the budget comes back once the response is
/// sent, so fetching on reads every partition.
pub fn fetch_responses_hold_a_bounded_number_of_segment_files(io: IoKind) {
    const PARTITIONS: i32 = 40;
    let broker = TestBroker::start_with(io, |c| c.open_segment_files_max = Some(16));
    let mut c = broker.connect();
    let id = create_topic(&mut c, "many", PARTITIONS);
    let value = [9u8; 64];
    let records = batch(1_700_000_000_000, &[&value]);
    for p in 0..PARTITIONS {
        assert_eq!(produce_one(&mut c, "many", p, &records), 0);
    }
    let v = *versions(ApiKey::Fetch).end();
    let mut next = vec![0i64; PARTITIONS as usize];
    let mut rounds = 0;
    while next.contains(&0) {
        rounds += 1;
        assert!(rounds <= 10, "partitions never served: {next:?}");
        let at: Vec<FetchAt> = (0..PARTITIONS)
            .map(|p| FetchAt {
                topic: "many",
                topic_id: id,
                partition: p,
                offset: next[p as usize],
            })
            .collect();
        let resp = c.call(v, &fetch_request(v, &at, 0, 0));
        let mut with_data = 0;
        for part in &resp.responses[0].partitions {
            assert_eq!((part.error_code, part.high_watermark), (0, 1));
            if part.records.as_ref().is_some_and(|r| !r.is_empty()) {
                with_data += 1;
                next[part.partition_index as usize] = 1;
            }
        }
        assert!(
            (1..=16).contains(&with_data),
            "round {rounds}: {with_data} partitions with data, budget 16"
        );
    }
    assert!(
        rounds >= 3,
        "40 partitions in {rounds} rounds of at most 16"
    );
}

/// Produce requests pipelined on one connection (issue 14: the connection reads and validates
/// the next while the owners write the previous): many more than the pipeline holds, each to
/// partitions on both shards, some frames over the unbudgeted size. Every response comes back
/// in request order with consecutive base offsets, and every partition stores the batches in
/// request order (a later append overtaking an earlier one on the owner would show here).
pub fn pipelined_produces_reach_every_partition_in_request_order(io: IoKind) {
    pipelined_produces_in_order(TestBroker::start(io));
}

/// The same with a memory budget of about two large frames: pipelined frames (small ones too)
/// must hold a reservation, so the connection mostly waits for the previous response instead,
/// and the answers and the stored order are the same.
pub fn pipelined_produces_keep_order_under_a_tight_memory_budget(io: IoKind) {
    pipelined_produces_in_order(TestBroker::start_with(io, |c| {
        c.request_bytes_max = 100_000;
        c.queued_max_request_bytes = 150_000;
    }));
}

fn pipelined_produces_in_order(broker: TestBroker) {
    let mut c = broker.connect();
    let topic = "pipelined-produce";
    let id = create_topic(&mut c, topic, PARTITIONS);
    let owners: Vec<usize> = (0..PARTITIONS).map(|p| owner(topic, p, CORES)).collect();
    assert!(owners.contains(&0) && owners.contains(&1), "{owners:?}");
    let v = *versions(ApiKey::Produce).end();
    let requests = 120i32;
    let mut wire = Vec::new();
    let mut batches: Vec<Vec<Vec<u8>>> = vec![Vec::new(); PARTITIONS as usize];
    for i in 0..requests {
        // Every 10th request is over 64 KiB (a budgeted frame).
        let filler = if i % 10 == 0 { 70_000 } else { i as usize * 13 };
        let parts: Vec<(i32, Vec<u8>)> = (0..PARTITIONS)
            .map(|p| {
                let value = format!("r{i}-p{p}-{}", "x".repeat(filler / PARTITIONS as usize));
                (p, batch(T0 + i64::from(i), &[value.as_bytes()]))
            })
            .collect();
        for (p, b) in &parts {
            batches[*p as usize].push(b.clone());
        }
        wire.extend(encode_frame(
            v,
            9000 + i,
            &produce_request(topic, 1, &parts),
        ));
    }
    // Written from another thread while responses are read here: the broker stops reading
    // when its pipeline is full, so one blocking write of everything could deadlock the test.
    let mut writer = c.stream.try_clone().expect("clone stream");
    let sender = std::thread::spawn(move || writer.write_all(&wire).expect("write requests"));
    for i in 0..requests {
        let frame = c.read_frame().expect("pipelined produce response");
        let (corr, resp) = decode_response::<ProduceRequest>(v, &frame);
        assert_eq!(corr, 9000 + i, "responses in request order");
        let got: Vec<(i32, i16, i64)> = resp.responses[0]
            .partition_responses
            .iter()
            .map(|r| (r.index, r.error_code, r.base_offset))
            .collect();
        let want: Vec<(i32, i16, i64)> = (0..PARTITIONS).map(|p| (p, 0, i64::from(i))).collect();
        assert_eq!(got, want, "request {i} (owners {owners:?})");
    }
    sender.join().expect("sender");
    for p in 0..PARTITIONS {
        let want: Vec<u8> = batches[p as usize]
            .iter()
            .enumerate()
            .flat_map(|(o, b)| stamped(b, o as i64))
            .collect();
        let mut got = Vec::new();
        while (got.len() as u64) < want.len() as u64 {
            let at = batches[p as usize]
                .iter()
                .scan(0usize, |len, b| {
                    *len += b.len();
                    Some(*len)
                })
                .position(|end| end > got.len())
                .unwrap_or(0) as i64;
            let (err, hw, records) = fetch_one(&mut c, topic, id, p, at);
            assert_eq!((err, hw), (0, i64::from(requests)), "partition {p}");
            assert!(!records.is_empty(), "partition {p} at {at}");
            got.extend(records);
        }
        assert!(
            got == want,
            "partition {p} (shard {}): batches stored in request order",
            owners[p as usize]
        );
    }
}

/// The broker's side of a served connection has TCP_NODELAY: responses leave in pieces (a
/// header, file ranges, a small tail), and with Nagle the tail waits for the client's delayed
/// ACK, ~40 ms per Fetch (a consume benchmark fell 4-8x when a refactoring lost the option).
/// The broker runs in this process, so its socket is found among this process's descriptors.
pub fn served_connections_have_tcp_nodelay(io: IoKind) {
    use std::os::fd::RawFd;
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let _ = c.call(
        *versions(ApiKey::ApiVersions).end(),
        &ApiVersionsRequest::default(),
    );
    let client_side = c.stream.local_addr().expect("client address");
    let server_side = c.stream.peer_addr().expect("server address");
    let sockaddr = |fd: RawFd, peer: bool| -> Option<std::net::SocketAddr> {
        let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let p = (&mut addr as *mut libc::sockaddr_storage).cast::<libc::sockaddr>();
        // SAFETY: addr/len describe a valid sockaddr_storage owned by this frame.
        let rc = unsafe {
            if peer {
                libc::getpeername(fd, p, &mut len)
            } else {
                libc::getsockname(fd, p, &mut len)
            }
        };
        if rc != 0 || addr.ss_family != libc::AF_INET as libc::sa_family_t {
            return None;
        }
        // SAFETY: the family says this is a sockaddr_in.
        let sin = unsafe { *(p as *const libc::sockaddr_in) };
        Some(std::net::SocketAddr::from((
            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
            u16::from_be(sin.sin_port),
        )))
    };
    let served: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .expect("own descriptors")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|&fd| {
            sockaddr(fd, false) == Some(server_side) && sockaddr(fd, true) == Some(client_side)
        })
        .collect();
    assert_eq!(served.len(), 1, "the broker's end of the connection");
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: reads one int option into `on`.
    let rc = unsafe {
        libc::getsockopt(
            served[0],
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&mut on as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt");
    assert_ne!(on, 0, "TCP_NODELAY on the broker's end");
}

/// The Produce pipeline of a connection is bounded: while appends stall (a test fault standing in
/// for a stalled disk), the broker stops reading a producer that keeps sending, so the producer's
/// writes block instead of the broker buffering every frame it sends; once appends go on, every
/// request is answered in order.
pub fn a_connection_reads_ahead_only_a_bounded_number_of_produces(io: IoKind) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let hold = Arc::new(AtomicBool::new(true));
    let broker = TestBroker::start_with(io, |c| c.fault_hold_appends = hold.clone());
    let mut c = broker.connect();
    let topic = "held";
    create_topic(&mut c, topic, 1);
    let v = *versions(ApiKey::Produce).end();
    // 40 frames of ~600 KB: far more than the pipeline (5) holds, and more than loopback socket
    // buffers (a few MB each way) absorb.
    let requests = 40i32;
    let value = vec![b'v'; 600_000];
    let frames: Vec<Vec<u8>> = (0..requests)
        .map(|i| {
            let b = batch(T0 + i64::from(i), &[&value[..]]);
            encode_frame(v, 7000 + i, &produce_request(topic, 1, &[(0, b)]))
        })
        .collect();
    let total: usize = frames.iter().map(Vec::len).sum();
    let written = Arc::new(AtomicUsize::new(0));
    let mut writer = c.stream.try_clone().expect("clone stream");
    writer
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let sender = std::thread::spawn({
        let written = written.clone();
        move || {
            for f in frames {
                for chunk in f.chunks(64 * 1024) {
                    writer.write_all(chunk).expect("write");
                    written.fetch_add(chunk.len(), Ordering::Relaxed);
                }
            }
        }
    });
    // Appends are held: the writer must get stuck well before the end.
    std::thread::sleep(Duration::from_millis(1500));
    let stuck_at = written.load(Ordering::Relaxed);
    assert!(
        stuck_at < total / 2,
        "the broker took {stuck_at} of {total} bytes while no append could finish"
    );
    hold.store(false, Ordering::Release);
    for i in 0..requests {
        let frame = c.read_frame().expect("response once appends go on");
        let (corr, resp) = decode_response::<ProduceRequest>(v, &frame);
        assert_eq!(corr, 7000 + i, "in order");
        let r = &resp.responses[0].partition_responses[0];
        assert_eq!((r.error_code, r.base_offset), (0, i64::from(i)));
    }
    sender.join().expect("sender");
}
