//! Scheduled delivery (issue 15) on the wire: records of a delay-enabled topic with
//! `ringlog-delay-ms` / `ringlog-deliver-at` reach their partition when due (not before), in
//! due order, each once, with their headers; mixed and compressed batches; bad values refused
//! with INVALID_RECORD; a topic without the config ignores the headers; a restart delivers
//! what is pending exactly once and keeps the producer's idempotence; records due beyond the
//! wheel are rolled; the loaded queue stays within its bound.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    create_topics_request, ApiKey, CreateTopicsRequest, InitProducerIdRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::delay::timer::TimerConfig;
use ringlog::broker::delay::{DELAY_MS_HEADER, DELIVER_AT_HEADER};
use ringlog::broker::topic_config::DELIVERY_DELAY_ENABLE;
use ringlog::broker::{Broker, BrokerConfig};
use ringlog::runtime::IoKind;
use ringlog::storage::batch::{validate_one, BatchHeader};
use ringlog::storage::records::{
    decode_batch_records, encode_batch, BatchMeta, Compression, Record,
};

use super::client::*;

/// How long a test waits for a record past its due time before failing.
const LATE_MAX: Duration = Duration::from_secs(5);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Creates `name` with `partitions`, delay-enabled or not; returns its id.
fn create(
    c: &mut Client,
    name: &str,
    partitions: i32,
    delay: bool,
) -> kafka_protocol::messages::TopicName {
    let v = *versions(ApiKey::CreateTopics).end();
    let mut req: CreateTopicsRequest = create_topics_request(&[(name, partitions, 1)]);
    if delay {
        req.topics[0].configs = vec![create_topics_request::CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str(DELIVERY_DELAY_ENABLE))
            .with_value(Some(StrBytes::from_static_str("true")))];
    }
    let resp = c.call(v, &req);
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0]);
    topic_name(name)
}

/// A record with value `value` and the given headers.
fn rec(value: &str, headers: &[(&str, &str)]) -> Record {
    Record {
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    Bytes::copy_from_slice(k.as_bytes()),
                    Some(Bytes::copy_from_slice(v.as_bytes())),
                )
            })
            .collect(),
        ..Record::default()
    }
}

/// One batch of `records` (deltas set here) with `codec` and producer fields from `meta`.
fn batch_of(records: &[Record], codec: Compression, meta: BatchMeta) -> Vec<u8> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            offset_delta: i as i32,
            ..r.clone()
        })
        .collect();
    let mut out = Vec::new();
    let meta = BatchMeta {
        base_timestamp: now_ms(),
        ..meta
    };
    encode_batch(&meta, &records, codec, &mut out).unwrap();
    out
}

/// Produces and returns (error code, base offset, error message).
fn produce(
    c: &mut Client,
    topic: &str,
    partition: i32,
    records: Vec<u8>,
) -> (i16, i64, Option<String>) {
    let v = *versions(ApiKey::Produce).end();
    let resp = c.call(v, &produce_request(topic, -1, &[(partition, records)]));
    let p = &resp.responses[0].partition_responses[0];
    (
        p.error_code,
        p.base_offset,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// One record read back: offset, value, headers.
#[derive(Clone, Debug)]
struct Got {
    offset: i64,
    value: String,
    headers: Vec<(String, String)>,
    /// When the test first saw it.
    seen_ms: i64,
}

/// Every record of `topic-partition` from `from`, fetched by name at Fetch v12.
fn read_all(c: &mut Client, topic: &str, partition: i32, from: i64) -> Vec<Got> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let at = [FetchAt {
            topic,
            topic_id: Default::default(),
            partition,
            offset,
        }];
        let resp = c.call(12, &fetch_request(12, &at, 0, 0));
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch {topic}-{partition}@{offset}");
        let bytes = Bytes::from(p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default());
        if bytes.is_empty() {
            return out;
        }
        let mut at = 0;
        let seen_ms = now_ms();
        while at < bytes.len() {
            let h: BatchHeader = validate_one(&bytes[at..], 1 << 24).expect("valid batch");
            let size = h.size_bytes() as usize;
            let records = decode_batch_records(&bytes.slice(at..at + size), &h, 1 << 26).unwrap();
            for r in records {
                let o = h.base_offset + i64::from(r.offset_delta);
                if o >= offset {
                    out.push(Got {
                        offset: o,
                        value: String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                            .into_owned(),
                        headers: r
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    String::from_utf8_lossy(k).into_owned(),
                                    String::from_utf8_lossy(v.as_deref().unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect(),
                        seen_ms,
                    });
                }
            }
            offset = h.last_offset() + 1;
            at += size;
        }
    }
}

/// Polls the partitions every few ms until `expected` records were seen or the deadline;
/// returns them per partition.
fn collect(
    c: &mut Client,
    topic: &str,
    partitions: i32,
    expected: usize,
    deadline: Instant,
) -> BTreeMap<i32, Vec<Got>> {
    let mut got: BTreeMap<i32, Vec<Got>> = (0..partitions).map(|p| (p, Vec::new())).collect();
    loop {
        for p in 0..partitions {
            let from = got[&p].last().map_or(0, |g| g.offset + 1);
            let more = read_all(c, topic, p, from);
            got.get_mut(&p).unwrap().extend(more);
        }
        let n: usize = got.values().map(Vec::len).sum();
        if n >= expected || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn header<'a>(g: &'a Got, name: &str) -> Option<&'a str> {
    g.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Every codec; in one batch per codec: records due now, delayed by each header form, a
/// deliver-at in the past. The ones due now are readable at once; the others arrive not
/// before their due time, within `LATE_MAX`, in due order, once each, headers kept.
pub fn delayed_records_arrive_when_due_in_due_order(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    create(&mut c, "dly", 2, true);
    let mut expected = 0;
    let mut dues: BTreeMap<String, i64> = BTreeMap::new();
    for (k, codec) in Compression::ALL.into_iter().enumerate() {
        let now = now_ms();
        let at = (now + 900).to_string();
        let past = (now - 10_000).to_string();
        let records = vec![
            rec(&format!("{k}-now"), &[]),
            rec(&format!("{k}-d1200"), &[(DELAY_MS_HEADER, "1200")]),
            rec(&format!("{k}-d300"), &[(DELAY_MS_HEADER, "300")]),
            rec(&format!("{k}-past"), &[(DELIVER_AT_HEADER, &past)]),
            rec(&format!("{k}-at900"), &[(DELIVER_AT_HEADER, &at)]),
            rec(&format!("{k}-other"), &[("x", "1")]),
        ];
        let (code, base, msg) = produce(
            &mut c,
            "dly",
            k as i32 % 2,
            batch_of(&records, codec, BatchMeta::default()),
        );
        assert_eq!(code, 0, "{codec}: {msg:?}");
        assert!(
            base >= 0,
            "{codec}: the records due now were appended: {base}"
        );
        dues.insert(format!("{k}-d1200"), now + 1200);
        dues.insert(format!("{k}-d300"), now + 300);
        dues.insert(format!("{k}-at900"), now + 900);
        expected += records.len();
    }
    // Right away: only the records due now.
    for p in 0..2 {
        for g in read_all(&mut c, "dly", p, 0) {
            assert!(
                !dues.contains_key(&g.value),
                "{} seen before its time",
                g.value
            );
        }
    }
    let got = collect(
        &mut c,
        "dly",
        2,
        expected,
        Instant::now() + LATE_MAX + Duration::from_secs(2),
    );
    let mut seen = HashSet::new();
    for (p, list) in &got {
        let mut last_due = i64::MIN;
        for g in list {
            assert!(seen.insert(g.value.clone()), "{} twice", g.value);
            if let Some(&due) = dues.get(&g.value) {
                assert!(
                    g.seen_ms + 50 >= due,
                    "{} seen {} ms early",
                    g.value,
                    due - g.seen_ms
                );
                assert!(
                    due >= last_due,
                    "partition {p}: {} out of due order",
                    g.value
                );
                last_due = due;
                assert!(
                    header(g, DELAY_MS_HEADER).is_some() || header(g, DELIVER_AT_HEADER).is_some(),
                    "{}: header kept",
                    g.value
                );
            }
        }
    }
    assert_eq!(seen.len(), expected, "every record once: {got:?}");
}

/// Hostile header values refuse the batch with INVALID_RECORD (87) and say why, nothing of it
/// is stored; on a topic without the config the same headers are ignored.
pub fn bad_delays_are_refused_and_topics_without_the_config_ignore_them(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    create(&mut c, "strict", 1, true);
    create(&mut c, "plain", 1, false);
    let far = (now_ms() + 400 * 24 * 3600 * 1000).to_string();
    let long = "7".repeat(30);
    for (name, value) in [
        (DELAY_MS_HEADER, "abc"),
        (DELAY_MS_HEADER, "-5"),
        (DELAY_MS_HEADER, "1e3"),
        (DELAY_MS_HEADER, ""),
        (DELAY_MS_HEADER, "31622400000"),
        (DELAY_MS_HEADER, long.as_str()),
        (DELIVER_AT_HEADER, far.as_str()),
    ] {
        let records = vec![rec("ok", &[]), rec("bad", &[(name, value)])];
        let (code, _, msg) = produce(
            &mut c,
            "strict",
            0,
            batch_of(&records, Compression::None, BatchMeta::default()),
        );
        assert_eq!(code, 87, "{name}={value:?}: {msg:?}");
        let msg = msg.unwrap_or_default();
        assert!(
            msg.contains("record 1") && msg.contains(name),
            "{name}={value:?}: {msg}"
        );
        let (code, base, _) = produce(
            &mut c,
            "plain",
            0,
            batch_of(&records, Compression::None, BatchMeta::default()),
        );
        assert_eq!(
            (code, base >= 0),
            (0, true),
            "plain topic ignores {name}={value:?}"
        );
    }
    assert!(
        read_all(&mut c, "strict", 0, 0).is_empty(),
        "nothing of a refused batch stored"
    );
    let delayed = vec![rec("later", &[(DELAY_MS_HEADER, "60000")])];
    produce(
        &mut c,
        "plain",
        0,
        batch_of(&delayed, Compression::None, BatchMeta::default()),
    );
    let plain = read_all(&mut c, "plain", 0, 0);
    let later = plain
        .iter()
        .find(|g| g.value == "later")
        .expect("appended at once");
    assert_eq!(header(later, DELAY_MS_HEADER), Some("60000"));
}

fn start(io: IoKind, dir: &std::path::Path, timer: TimerConfig) -> Broker {
    Broker::start(BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        cores: 2,
        io,
        delay_timer: timer,
        ..Default::default()
    })
    .expect("broker starts")
}

/// An idempotent producer's delayed batches survive a restart: every acknowledged record is
/// delivered once (also those due while the broker was down), a retry of an acknowledged
/// batch after the restart is answered as a duplicate, and the producer's next batch is taken.
pub fn a_restart_delivers_pending_records_once_and_keeps_idempotence(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path(), TimerConfig::default());
    let mut c = Client::connect(broker.local_addr());
    create(&mut c, "idem", 3, true);
    let v = *versions(ApiKey::InitProducerId).end();
    let init = c.call(
        v,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    );
    assert_eq!(init.error_code, 0);
    let pid = init.producer_id.0;
    let mut seqs = [0i32; 3];
    let mut sent = 0;
    let mut batches: Vec<(i32, Vec<u8>)> = Vec::new();
    for round in 0..30 {
        let p = round % 3;
        let records: Vec<Record> = (0..20)
            .map(|i| {
                let delay = 300 + 100 * ((round * 20 + i) % 25);
                rec(
                    &format!("{round}-{i}"),
                    &[(DELAY_MS_HEADER, &delay.to_string())],
                )
            })
            .collect();
        let meta = BatchMeta {
            producer_id: pid,
            producer_epoch: init.producer_epoch,
            base_sequence: seqs[p as usize],
            ..BatchMeta::default()
        };
        let b = batch_of(&records, Compression::Lz4, meta);
        let (code, base, msg) = produce(&mut c, "idem", p, b.clone());
        assert_eq!(
            (code, base),
            (0, -1),
            "all delayed: no offset yet ({msg:?})"
        );
        seqs[p as usize] += 20;
        sent += 20;
        batches.push((p, b));
    }
    drop(c);
    stop(broker);
    // Down for longer than some delays.
    std::thread::sleep(Duration::from_millis(1200));
    let broker = start(io, dir.path(), TimerConfig::default());
    let mut c = Client::connect(broker.local_addr());
    // A retry of the last acknowledged batch: a duplicate, answered without a second copy.
    let (p, last) = batches.last().unwrap().clone();
    let (code, base, msg) = produce(&mut c, "idem", p, last);
    assert_eq!((code, base), (0, -1), "retry after restart: {msg:?}");
    // The producer's next batch continues its sequence.
    let meta = BatchMeta {
        producer_id: pid,
        producer_epoch: init.producer_epoch,
        base_sequence: seqs[p as usize],
        ..BatchMeta::default()
    };
    let next = batch_of(&[rec("next", &[])], Compression::None, meta);
    let (code, _, msg) = produce(&mut c, "idem", p, next);
    assert_eq!(code, 0, "next batch after restart: {msg:?}");
    let got = collect(
        &mut c,
        "idem",
        3,
        sent + 1,
        Instant::now() + LATE_MAX + Duration::from_secs(3),
    );
    let mut seen = HashSet::new();
    for list in got.values() {
        for g in list {
            assert!(seen.insert(g.value.clone()), "{} delivered twice", g.value);
        }
    }
    assert_eq!(seen.len(), sent + 1, "every acknowledged record once");
    drop(c);
    stop(broker);
}

/// With a 4-second wheel, records due 5-7 s ahead are rolled (written again as their slot
/// comes) and still arrive on time; with at most 250 records loaded, 400 records due within
/// about two seconds (200 per slot) are all delivered, in due order per partition: loading
/// pauses at the bound and a slot's records wait until the whole slot is loaded.
pub fn rolled_records_and_a_tiny_loaded_bound_still_deliver_in_order(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let timer = TimerConfig {
        wheel_slots: 4,
        loaded_max: 250,
        loaded_bytes_max: 1 << 20,
        ..TimerConfig::default()
    };
    let broker = start(io, dir.path(), timer);
    let mut c = Client::connect(broker.local_addr());
    create(&mut c, "roll", 2, true);
    let base = now_ms();
    let mut dues = BTreeMap::new();
    let mut n = 0;
    for k in 0..20 {
        let records: Vec<Record> = (0..20)
            .map(|i| {
                let j = k * 20 + i;
                // Most due within 1.5-3.5 s, every 10th beyond the wheel (5-7 s).
                let due = if j % 10 == 0 {
                    base + 5000 + (j * 5) as i64
                } else {
                    base + 1500 + (j * 5) as i64
                };
                let v = format!("r{j}");
                dues.insert(v.clone(), due);
                rec(&v, &[(DELIVER_AT_HEADER, &due.to_string())])
            })
            .collect();
        let (code, _, msg) = produce(
            &mut c,
            "roll",
            k % 2,
            batch_of(&records, Compression::None, BatchMeta::default()),
        );
        assert_eq!(code, 0, "{msg:?}");
        n += 20;
    }
    let got = collect(
        &mut c,
        "roll",
        2,
        n,
        Instant::now() + Duration::from_secs(7) + LATE_MAX,
    );
    let mut seen = HashSet::new();
    for (p, list) in &got {
        let mut last = i64::MIN;
        for g in list {
            let due = dues[&g.value];
            assert!(seen.insert(g.value.clone()), "{} twice", g.value);
            assert!(
                g.seen_ms + 50 >= due,
                "{} early by {} ms",
                g.value,
                due - g.seen_ms
            );
            assert!(
                g.seen_ms <= due + LATE_MAX.as_millis() as i64,
                "{} late",
                g.value
            );
            assert!(due >= last, "partition {p}: {} out of order", g.value);
            last = due;
        }
    }
    assert_eq!(seen.len(), n);
    drop(c);
    stop(broker);
}

/// A broker restarted with another shard count while delayed records are pending refuses to
/// start and says how to drain them; with the old count it starts and delivers them.
pub fn another_core_count_with_pending_records_is_refused_at_start(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path(), TimerConfig::default());
    let mut c = Client::connect(broker.local_addr());
    create(&mut c, "cores", 2, true);
    for p in 0..2 {
        let records = vec![rec(&format!("p{p}"), &[(DELAY_MS_HEADER, "1500")])];
        let (code, _, msg) = produce(
            &mut c,
            "cores",
            p,
            batch_of(&records, Compression::None, BatchMeta::default()),
        );
        assert_eq!(code, 0, "{msg:?}");
    }
    drop(c);
    stop(broker);
    let refused = Broker::start(BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        cores: 1,
        io,
        ..Default::default()
    });
    // The shard fails while opening: start or join reports it.
    let err = match refused {
        Err(e) => e.to_string(),
        Ok(b) => {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(b.join());
            });
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => panic!("a broker with another shard count served pending records"),
                Err(_) => panic!("a broker with another shard count neither failed nor stopped"),
            }
        }
    };
    assert!(err.contains("--cores 2"), "{err}");
    let broker = start(io, dir.path(), TimerConfig::default());
    let mut c = Client::connect(broker.local_addr());
    let got = collect(&mut c, "cores", 2, 2, Instant::now() + LATE_MAX);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 2, "{got:?}");
    drop(c);
    stop(broker);
}

/// The timer log drains: with 16 KiB segments, once everything is delivered the segments that
/// held it are deleted, and the producer state that only they recorded (an idempotent
/// producer's delayed batches) survives that and a restart: a retry is still a duplicate and
/// the next batch is still taken.
pub fn the_timer_log_drains_and_keeps_the_producer_state_it_held(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let timer = TimerConfig {
        segment_bytes: 16 << 10,
        ..TimerConfig::default()
    };
    let timer_dir = dir.path().join("__ringlog_state/timers");
    let timer_bytes = || -> u64 { walk_bytes(&timer_dir) };
    let broker = start(io, dir.path(), timer);
    let mut c = Client::connect(broker.local_addr());
    create(&mut c, "drain", 1, true);
    let v = *versions(ApiKey::InitProducerId).end();
    let init = c.call(
        v,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    );
    let pid = init.producer_id.0;
    let mut last = Vec::new();
    for k in 0..40 {
        let records: Vec<Record> = (0..20)
            .map(|i| {
                rec(
                    &format!("{k}-{i}-{}", "x".repeat(100)),
                    &[(DELAY_MS_HEADER, "200")],
                )
            })
            .collect();
        let meta = BatchMeta {
            producer_id: pid,
            producer_epoch: init.producer_epoch,
            base_sequence: k * 20,
            ..BatchMeta::default()
        };
        last = batch_of(&records, Compression::None, meta);
        let (code, _, msg) = produce(&mut c, "drain", 0, last.clone());
        assert_eq!(code, 0, "{msg:?}");
    }
    let got = collect(&mut c, "drain", 1, 800, Instant::now() + LATE_MAX);
    assert_eq!(got[&0].len(), 800);
    let full = timer_bytes();
    assert!(
        full > 100 << 10,
        "the records went through the timer log: {full} bytes"
    );
    // Checkpoints twice a second drop the drained segments.
    let deadline = Instant::now() + Duration::from_secs(5);
    while timer_bytes() > 64 << 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let drained = timer_bytes();
    assert!(
        drained <= 64 << 10,
        "timer log still {drained} bytes (was {full})"
    );
    drop(c);
    stop(broker);
    let broker = start(io, dir.path(), timer);
    let mut c = Client::connect(broker.local_addr());
    let (code, base, msg) = produce(&mut c, "drain", 0, last);
    assert_eq!(
        (code, base),
        (0, -1),
        "the retry is a duplicate after the drain: {msg:?}"
    );
    let meta = BatchMeta {
        producer_id: pid,
        producer_epoch: init.producer_epoch,
        base_sequence: 800,
        ..BatchMeta::default()
    };
    let next = batch_of(&[rec("next", &[])], Compression::None, meta);
    let (code, _, msg) = produce(&mut c, "drain", 0, next);
    assert_eq!(code, 0, "the next batch is taken after the drain: {msg:?}");
    let got = collect(&mut c, "drain", 1, 801, Instant::now() + LATE_MAX);
    assert_eq!(got[&0].len(), 801, "nothing delivered twice");
    drop(c);
    stop(broker);
}

/// Bytes of the files under `dir`, recursively (a file deleted meanwhile counts 0).
fn walk_bytes(dir: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = e.metadata() else { continue };
        n += if meta.is_dir() {
            walk_bytes(&e.path())
        } else {
            meta.len()
        };
    }
    n
}
