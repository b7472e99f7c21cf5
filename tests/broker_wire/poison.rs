//! Poison batches (issue 13, hole 1): batches with a valid header and CRC whose records no
//! consumer could read (`storage::batch::testing::poison_batches`: garbage records, garbage
//! compressed bytes of every codec, unknown codecs, a client's control bit, record counts that do
//! not match the records, offset deltas beyond the last or not increasing, bad varints, trailing
//! bytes, a null header key, an inflation bomb, log-append time). Each is refused at every
//! Produce version with Kafka's code, with `record_errors` and an `error_message` from v8, nothing
//! of it is stored, and the partition goes on serving good produces and fetches.

use kafka_protocol::messages::{ApiKey, ProduceResponse};
use ringlog::runtime::IoKind;
use ringlog::storage::batch::testing::poison_batches;

use super::client::*;

/// Base timestamp of every batch here (any value: Kafka's default timestamp window is open).
const TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// The Kafka error code ringlog answers for a poison batch, by name.
fn expected_code(name: &str) -> i16 {
    match name {
        // UNSUPPORTED_COMPRESSION_TYPE (Kafka: UNKNOWN_SERVER_ERROR, the whole request).
        n if n.starts_with("unknown-codec") => 76,
        // MESSAGE_TOO_LARGE (Kafka has no inflation bound).
        "inflation-bomb" => 10,
        // INVALID_TIMESTAMP.
        "log-append-time" => 32,
        // INVALID_RECORD (garbage compressed bytes: UNKNOWN_SERVER_ERROR in Kafka).
        _ => 87,
    }
}

/// The records a Produce v8+ response blames (`record_errors` batch indexes), by name; `None`
/// where either answer is right (random bytes may pass for a raw snappy block).
fn expected_blame(name: &str) -> Option<Vec<i32>> {
    Some(match name {
        "garbage-snappy" => return None,
        "garbage-records" | "zstd-garbage-records" | "bad-varint" | "null-header-key" => vec![0],
        "offset-delta-beyond-last" | "offset-deltas-not-increasing" | "lz4-offset-delta" => {
            vec![1]
        }
        "count-above-records" | "gzip-count-above-records" => vec![3],
        _ => vec![],
    })
}

/// (error code, record_errors indexes, error_message) of the one partition of a response.
fn outcome(resp: &ProduceResponse) -> (i16, Vec<i32>, Option<String>) {
    assert_eq!(resp.responses.len(), 1);
    let parts = &resp.responses[0].partition_responses;
    assert_eq!(parts.len(), 1);
    let p = &parts[0];
    (
        p.error_code,
        p.record_errors.iter().map(|r| r.batch_index).collect(),
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// High watermark of partition 0 (Fetch at the end of the log, which is empty).
fn high_watermark(c: &mut Client, topic: &str, id: uuid::Uuid) -> i64 {
    let (err, hw, _) = fetch_one(c, topic, id, 0, 0);
    assert_eq!(err, 0, "fetch {topic}-0");
    hw
}

pub fn poison_batches_are_refused_at_every_version_and_nothing_is_stored(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "poison";
    let id = create_topic(&mut c, topic, 1);
    let first = batch(TIMESTAMP_MS, &[b"good-0", b"good-1"]);
    assert_eq!(produce_one(&mut c, topic, 0, &first), 0);
    let cases = poison_batches(TIMESTAMP_MS);
    assert!(cases.len() >= 20, "the poison list shrank: {}", cases.len());
    for case in &cases {
        for v in versions(ApiKey::Produce) {
            let what = format!("Produce v{v} {}", case.name);
            let resp = c.call(v, &produce_request(topic, -1, &[(0, case.bytes.clone())]));
            let (code, blamed, message) = outcome(&resp);
            assert_eq!(code, expected_code(case.name), "{what}: error code");
            let p = &resp.responses[0].partition_responses[0];
            assert_eq!(p.base_offset, -1, "{what}: base offset");
            if v >= 8 {
                if let Some(want) = expected_blame(case.name) {
                    assert_eq!(blamed, want, "{what}: record_errors");
                }
                assert!(
                    p.record_errors.iter().all(|r| r
                        .batch_index_error_message
                        .as_ref()
                        .is_some_and(|m| !m.is_empty())),
                    "{what}: every blamed record says why"
                );
                let message = message.unwrap_or_else(|| panic!("{what}: no error_message"));
                assert!(message.contains("poison-0"), "{what}: {message}");
            } else {
                assert!(
                    blamed.is_empty() && message.is_none(),
                    "{what}: v{v} has no such fields"
                );
            }
        }
        // Nothing of it was stored: the log still ends after the first good batch.
        assert_eq!(
            high_watermark(&mut c, topic, id),
            2,
            "{} left data behind",
            case.name
        );
    }
    // The partition goes on serving: the next good batch gets the next offsets, and a fetch
    // returns exactly the two good batches.
    let second = batch(TIMESTAMP_MS + 5, &[b"good-2"]);
    assert_eq!(produce_one(&mut c, topic, 0, &second), 2);
    let (err, hw, records) = fetch_one(&mut c, topic, id, 0, 0);
    assert_eq!((err, hw), (0, 3));
    assert_eq!(records, [stamped(&first, 0), stamped(&second, 2)].concat());
}

pub fn a_poison_batch_refuses_its_whole_partition_and_only_it(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "poison-mixed";
    let id = create_topic(&mut c, topic, 2);
    let good = batch(TIMESTAMP_MS, &[b"ok"]);
    let poison = poison_batches(TIMESTAMP_MS)
        .into_iter()
        .find(|p| p.name == "offset-delta-beyond-last")
        .expect("poison case");
    // A good batch followed by a poison one in the same partition's records: all refused.
    let both = [good.clone(), poison.bytes.clone()].concat();
    let v = *versions(ApiKey::Produce).end();
    let resp = c.call(
        v,
        &produce_request(topic, -1, &[(0, both), (1, good.clone())]),
    );
    let parts = &resp.responses[0].partition_responses;
    let by_index = |i: i32| {
        parts
            .iter()
            .find(|p| p.index == i)
            .expect("partition answered")
    };
    let p0 = by_index(0);
    assert_eq!((p0.error_code, p0.base_offset), (87, -1), "{p0:?}");
    assert_eq!(
        p0.record_errors
            .iter()
            .map(|r| r.batch_index)
            .collect::<Vec<_>>(),
        [1],
        "the record of the second batch is blamed by its index in that batch"
    );
    let message = p0
        .error_message
        .as_ref()
        .expect("error_message")
        .to_string();
    assert!(message.contains("batch #1"), "{message}");
    // The other partition of the same request is appended.
    let p1 = by_index(1);
    assert_eq!((p1.error_code, p1.base_offset), (0, 0), "{p1:?}");
    let (err, hw, records) = fetch_one(&mut c, topic, id, 0, 0);
    assert_eq!(
        (err, hw, records.len()),
        (0, 0, 0),
        "partition 0 stored something"
    );
    let (err, hw, records) = fetch_one(&mut c, topic, id, 1, 0);
    assert_eq!((err, hw), (0, 1));
    assert_eq!(records, stamped(&good, 0));
}

/// Kafka 4.4's timestamp window: `message.timestamp.after.max.ms` defaults to one hour, so a
/// record stamped two hours ahead of the broker's clock is refused with INVALID_TIMESTAMP (and
/// blamed in `record_errors`), half an hour ahead is accepted, and old timestamps are (the
/// `before` bound is open by default). A broker configured with a wider window takes it.
pub fn client_timestamps_outside_kafkas_window_are_refused(io: IoKind) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let hour = 3_600_000;
    let v = *versions(ApiKey::Produce).end();
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let id = create_topic(&mut c, "ts", 1);
    let resp = c.call(
        v,
        &produce_request("ts", -1, &[(0, batch(now + 2 * hour, &[b"future"]))]),
    );
    let (code, blamed, message) = outcome(&resp);
    assert_eq!(
        (code, blamed),
        (32, vec![0]),
        "two hours ahead: {message:?}"
    );
    assert_eq!(high_watermark(&mut c, "ts", id), 0, "nothing stored");
    assert_eq!(
        produce_one(&mut c, "ts", 0, &batch(now + hour / 2, &[b"soon"])),
        0
    );
    assert_eq!(produce_one(&mut c, "ts", 0, &batch(1_000, &[b"1970"])), 1);
    drop(c);
    drop(broker);

    let broker = TestBroker::start_with(io, |c| c.message_timestamp_after_max_ms = 3 * hour);
    let mut c = broker.connect();
    create_topic(&mut c, "ts", 1);
    assert_eq!(
        produce_one(&mut c, "ts", 0, &batch(now + 2 * hour, &[b"future"])),
        0
    );
}

/// Records for a partition another shard owns are validated on the connection's shard and handed
/// over checked (issue 14): a poison batch is refused the same on either side, good records are
/// stored on either side. One connection, four partitions spread over both shards, so whichever
/// shard the connection lands on, some partitions are local and some remote.
pub fn poison_is_refused_on_either_side_of_the_shard_hand_off(io: IoKind) {
    use ringlog::broker::routing::owner;
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "poison-spread";
    let partitions = 4;
    let id = create_topic(&mut c, topic, partitions);
    let owners: Vec<usize> = (0..partitions).map(|p| owner(topic, p, CORES)).collect();
    assert!(owners.contains(&0) && owners.contains(&1), "{owners:?}");
    let v = *versions(ApiKey::Produce).end();
    for case in poison_batches(TIMESTAMP_MS) {
        // Even partitions get the poison, odd ones a good batch.
        let parts: Vec<(i32, Vec<u8>)> = (0..partitions)
            .map(|p| {
                let bytes = if p % 2 == 0 {
                    case.bytes.clone()
                } else {
                    batch(TIMESTAMP_MS, &[format!("good-{p}").as_bytes()])
                };
                (p, bytes)
            })
            .collect();
        let resp = c.call(v, &produce_request(topic, -1, &parts));
        for r in &resp.responses[0].partition_responses {
            let what = format!(
                "{} partition {} (shard {})",
                case.name, r.index, owners[r.index as usize]
            );
            if r.index % 2 == 0 {
                assert_eq!(r.error_code, expected_code(case.name), "{what}");
                assert_eq!(r.base_offset, -1, "{what}");
                if let Some(want) = expected_blame(case.name) {
                    let blamed: Vec<i32> = r.record_errors.iter().map(|e| e.batch_index).collect();
                    assert_eq!(blamed, want, "{what}: record_errors");
                }
                assert!(r.error_message.is_some(), "{what}: error_message");
            } else {
                assert_eq!(r.error_code, 0, "{what}");
            }
        }
    }
    // Nothing of the poison was stored anywhere; every good batch was, at consecutive offsets.
    let rounds = poison_batches(TIMESTAMP_MS).len() as i64;
    for p in 0..partitions {
        let (err, hw, _) = fetch_one(&mut c, topic, id, p, 0);
        let want = if p % 2 == 0 { 0 } else { rounds };
        assert_eq!(
            (err, hw),
            (0, want),
            "partition {p} on shard {}",
            owners[p as usize]
        );
    }
}
