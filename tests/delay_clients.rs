//! Scheduled delivery (issue #15) through real clients, on both drivers: kafka-python (driven
//! through `tests/python/kafka_python_delay.py`) and librdkafka (the `rdkafka` crate).
//!
//! On a topic created with `ringlog.delivery.delay.enable=true`, a record with a
//! `ringlog-deliver-at` (epoch ms) or `ringlog-delay-ms` (ms after the broker received it) header
//! is held until due and gets its offset then; the header stays on the record. The checks:
//! mixed batches (delayed and undelayed records, every codec, plain and idempotent producers) are
//! acknowledged; a consumer started before the produce sees no delayed record before it is due,
//! every one by due + [`LATE_MS_MAX`], each exactly once with its headers, a partition's delayed
//! records in due-time order, and undelayed or already-due records at once; hostile header values
//! refuse the whole batch with INVALID_RECORD (87) and nothing of it is ever appended; on a topic
//! without the config the headers are ignored.
//!
//! Each test runs every check and then fails listing all that did not hold (so a run shows which
//! parts of the contract a broker keeps). Loopback only; every wait is bounded.

#[macro_use]
mod support;
mod delay_common;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use delay_common::{
    consume, consumer, create_topics, delivery_checks, flush, high_watermarks, now_ms, producer,
    send, Delivery, Kind, RecordHeaders, Report, Rng, Sent, DELAY_MS, DELIVER_AT, STEP_WAIT,
};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;
use ringlog::runtime::IoKind;

both_drivers!(
    kafka_python_scheduled_delivery,
    rdkafka_mixed_batches_every_codec,
    rdkafka_idempotent_producer,
    rdkafka_hostile_values_refuse_the_batch,
    rdkafka_headers_ignored_without_the_config,
);

/// Delays are drawn from this range (ms): long enough to tell "held" from "at once", short
/// enough for a test of a few seconds.
const DELAY_MS_RANGE: std::ops::RangeInclusive<i64> = 300..=2_500;
/// A delayed record must be seen by its due time plus this (ms).
const LATE_MS_MAX: f64 = 3_000.0;
/// An undelayed (or already due) record must be seen this soon (ms) after its acknowledgement.
const AT_ONCE_MS_MAX: f64 = 1_500.0;
/// Per topic: delayed records (half of each header form), undelayed, already due.
const DELAYED: usize = 120;
const UNDELAYED: usize = 40;
const ALREADY_DUE: usize = 8;
/// Partitions of each delivery topic.
const PARTITIONS: i32 = 3;
/// A consumer polls this long before anything is produced (librdkafka's first fetches of an
/// assignment take a few hundred ms), so that later records are seen as they appear.
const CONSUMER_WARM_UP: Duration = Duration::from_millis(1_000);
/// A consumer reads this long past the last record's due + [`LATE_MS_MAX`] before giving up, so
/// that a record delivered late is told from one never delivered.
const CONSUMER_SLACK: Duration = Duration::from_secs(5);
/// The kafka-python script's whole run may take this long before it is killed.
const SCRIPT_WAIT: Duration = Duration::from_secs(90);
const DAY_MS: i64 = 86_400_000;

// ---------------------------------------------------------------------------------------------
// kafka-python

fn kafka_python_scheduled_delivery(io: IoKind) {
    let py = support::python();
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let out = support::run_bounded(
        Command::new(py)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/kafka_python_delay.py"
            ))
            .arg(broker.local_addr().to_string()),
        SCRIPT_WAIT,
    );
    broker.shutdown();
    broker.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The per-check lines (and any codec skipped) show with --nocapture, or below on failure.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "kafka-python scheduled delivery failed (killed after {SCRIPT_WAIT:?} if no status: {:?}):\n\
         stdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// librdkafka: delivery checks

/// Mixed batches on one delay topic per (label, producer settings), plus one all-delayed batch;
/// then every delivery check, per topic.
fn mixed_batches(io: IoKind, variants: &[(&str, &[(&str, &str)])], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let addr = broker.local_addr().to_string();
    let mut report = Report::default();
    let all_delayed_topic = "rkd-alldelayed";
    let mut topics: Vec<(String, i32)> = variants
        .iter()
        .map(|(l, _)| (format!("rkd-{l}"), PARTITIONS))
        .collect();
    topics.push((all_delayed_topic.to_string(), 1));
    let create: Vec<(&str, i32, bool)> =
        topics.iter().map(|(t, n)| (t.as_str(), *n, true)).collect();
    create_topics(&addr, &create);
    let assigned: Vec<(&str, i32)> = topics.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let c = consumer(&addr, &assigned);
    // Connected and fetching before anything is produced, so that records are seen as they appear.
    let mut got = consume(&c, &HashSet::new(), Instant::now() + CONSUMER_WARM_UP);

    let mut rng = Rng(0x15_d31a7);
    let mut sent: Vec<Sent> = Vec::new();
    let mut producers = Vec::new();
    for ((label, settings), (topic, _)) in variants.iter().zip(&topics) {
        let p = producer(&addr, |c| {
            for (k, v) in settings.iter() {
                c.set(*k, *v);
            }
        });
        let mut kinds: Vec<u8> = [0u8, 1]
            .repeat(DELAYED / 2)
            .into_iter()
            .chain(std::iter::repeat_n(2, UNDELAYED))
            .chain(std::iter::repeat_n(3, ALREADY_DUE))
            .collect();
        rng.shuffle(&mut kinds);
        for (i, k) in kinds.into_iter().enumerate() {
            let kind = match k {
                0 => Kind::Delay(rng.range(&DELAY_MS_RANGE)),
                1 => Kind::At(now_ms() as i64 + rng.range(&DELAY_MS_RANGE)),
                2 => Kind::Now,
                _ => Kind::Due,
            };
            let id = format!("{label}:{i}");
            let mut headers = vec![("trace".to_string(), id.clone().into_bytes())];
            headers.extend(kind.header());
            if kind == Kind::Due {
                headers.push(if rng.next() % 2 == 0 {
                    (DELAY_MS.into(), b"0".to_vec())
                } else {
                    let past = now_ms() as i64 - 10_000;
                    (DELIVER_AT.into(), past.to_string().into_bytes())
                });
            }
            let partition = Some(i as i32 % PARTITIONS);
            send(&p, &mut sent, topic, partition, id, kind, headers);
        }
        producers.push(p);
    }
    // An all-delayed batch: its records get their offsets only when due, so the answer has none.
    let all_delayed = producer(&addr, |_| {});
    let all_delayed_from = sent.len();
    for i in 0..5 {
        let kind = Kind::Delay(600 + 100 * i);
        let id = format!("alldelayed:{i}");
        let mut headers = vec![("trace".to_string(), id.clone().into_bytes())];
        headers.extend(kind.header());
        send(
            &all_delayed,
            &mut sent,
            all_delayed_topic,
            Some(0),
            id,
            kind,
            headers,
        );
    }
    producers.push(all_delayed);
    for p in &producers {
        flush(p);
    }
    let flushed_ms = now_ms();

    let acks: HashMap<usize, (f64, Result<i64, String>)> = producers
        .iter()
        .flat_map(|p| {
            std::mem::take(&mut *p.context().0.lock().unwrap())
                .into_iter()
                .map(|(i, a)| (i, (a.at_ms, a.outcome.map_err(|e| e.to_string()))))
                .collect::<Vec<_>>()
        })
        .collect();
    drop(producers);
    let unacked: Vec<String> = (0..sent.len())
        .filter(|i| !matches!(acks.get(i), Some((_, Ok(_)))))
        .map(|i| format!("{} {:?}", sent[i].id, acks.get(&i).map(|a| &a.1)))
        .collect();
    report.check(
        format!("{what}: mixed batches acknowledged"),
        unacked.is_empty(),
        || {
            format!(
                "{} not acknowledged, e.g. {:?}",
                unacked.len(),
                &unacked[..unacked.len().min(3)]
            )
        },
    );
    // librdkafka numbers a batch's records from the answered base offset on (-1, 0, 1, ...),
    // so only the first record's report carries the broker's -1.
    let first = acks.get(&all_delayed_from).map(|a| a.1.clone());
    report.check(
        format!("{what}: all-delayed batch answered with offset -1"),
        first == Some(Ok(-1)),
        || format!("first record's report: {first:?}"),
    );
    for (i, s) in sent.iter_mut().enumerate() {
        s.acknowledged(acks.get(&i).map_or(flushed_ms, |a| a.0));
    }

    let due_max = sent.iter().filter_map(|s| s.due_hi).fold(0.0, f64::max);
    let wait_ms = (due_max + LATE_MS_MAX - now_ms()).clamp(0.0, STEP_WAIT.as_millis() as f64);
    let want: HashSet<String> = sent.iter().map(|s| s.id.clone()).collect();
    let until = Instant::now() + Duration::from_millis(wait_ms as u64) + CONSUMER_SLACK;
    got.extend(consume(&c, &want, until));
    let high_watermarks: HashMap<&str, HashMap<i32, i64>> = topics
        .iter()
        .map(|(t, n)| (t.as_str(), high_watermarks(&c, t, *n)))
        .collect();
    drop(c);

    let acked_at: HashMap<&str, f64> = sent
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(acks.get(i), Some((_, Ok(_)))))
        .map(|(i, s)| (s.id.as_str(), acks[&i].0))
        .collect();
    for (topic, _) in &topics {
        let label = format!("{what}: {topic}");
        delivery_checks(
            &mut report,
            &Delivery {
                label: &label,
                must: sent
                    .iter()
                    .filter(|s| &s.topic == topic)
                    .map(|s| (s.id.as_str(), s))
                    .collect(),
                may: HashMap::new(),
                seen: got.iter().filter(|g| &g.topic == topic).collect(),
                late_ms_max: Some(LATE_MS_MAX),
                at_once: Some((AT_ONCE_MS_MAX, &acked_at)),
                high_watermarks: high_watermarks[topic.as_str()].clone(),
            },
        );
    }
    broker.shutdown();
    broker.join().unwrap();
    report.finish(what);
}

fn rdkafka_mixed_batches_every_codec(io: IoKind) {
    mixed_batches(
        io,
        &[
            ("none", &[("compression.codec", "none")]),
            ("gzip", &[("compression.codec", "gzip")]),
            ("snappy", &[("compression.codec", "snappy")]),
            ("lz4", &[("compression.codec", "lz4")]),
            ("zstd", &[("compression.codec", "zstd")]),
        ],
        "librdkafka every codec",
    );
}

fn rdkafka_idempotent_producer(io: IoKind) {
    mixed_batches(
        io,
        &[
            (
                "idem-none",
                &[
                    ("enable.idempotence", "true"),
                    ("compression.codec", "none"),
                ],
            ),
            (
                "idem-zstd",
                &[
                    ("enable.idempotence", "true"),
                    ("compression.codec", "zstd"),
                ],
            ),
        ],
        "librdkafka idempotent",
    );
}

// ---------------------------------------------------------------------------------------------
// librdkafka: hostile values, and topics without the config

/// Sends `records` (headers each) to partition 0 of `topic` as one batch; returns each record's
/// outcome.
fn one_batch(
    addr: &str,
    topic: &str,
    records: &[(&str, RecordHeaders)],
) -> Vec<Result<i64, KafkaError>> {
    let p = producer(addr, |c| {
        c.set("message.send.max.retries", "0")
            .set("linger.ms", "200");
    });
    let mut sent = Vec::new();
    for (id, headers) in records {
        send(
            &p,
            &mut sent,
            topic,
            Some(0),
            id.to_string(),
            Kind::Now,
            headers.clone(),
        );
    }
    flush(&p);
    let mut acks = p.context().0.lock().unwrap();
    (0..records.len())
        .map(|i| {
            acks.remove(&i)
                .map(|a| a.outcome)
                .unwrap_or(Err(KafkaError::Canceled))
        })
        .collect()
}

fn is_invalid_record(r: &Result<i64, KafkaError>) -> bool {
    matches!(
        r,
        Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::InvalidRecord
        ))
    )
}

fn rdkafka_hostile_values_refuse_the_batch(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let addr = broker.local_addr().to_string();
    let mut report = Report::default();
    let topic = "rkd-hostile";
    create_topics(&addr, &[(topic, 1, true)]);
    let far = now_ms() as i64 + 366 * DAY_MS;
    let mut cases: Vec<(&str, String)> = Vec::new();
    for header in [DELAY_MS, DELIVER_AT] {
        for value in ["abc", "-5", "1e3", "", &"1".repeat(30)] {
            cases.push((header, value.to_string()));
        }
    }
    cases.push((DELAY_MS, (366 * DAY_MS).to_string()));
    cases.push((DELIVER_AT, far.to_string()));
    cases.push((DELIVER_AT, "99999999999999".to_string()));
    for (header, value) in &cases {
        let outcome = one_batch(
            &addr,
            topic,
            &[(
                &format!("hostile:{header}={value}"),
                vec![(header.to_string(), value.clone().into_bytes())],
            )],
        );
        report.check(
            format!("hostile {header}={value:?} refused with INVALID_RECORD"),
            is_invalid_record(&outcome[0]),
            || format!("outcome {:?}", outcome[0]),
        );
    }
    // One bad record refuses its batch: the good delayed and undelayed records with it are not
    // kept.
    let outcomes = one_batch(
        &addr,
        topic,
        &[
            ("mixed:now", vec![]),
            ("mixed:delayed", vec![(DELAY_MS.into(), b"300".to_vec())]),
            ("mixed:bad", vec![(DELAY_MS.into(), b"abc".to_vec())]),
        ],
    );
    report.check(
        "a batch with one bad record is refused whole",
        outcomes.iter().all(is_invalid_record),
        || format!("outcomes {outcomes:?}"),
    );
    // Nothing refused is ever appended: after the longest good delay above has passed, the
    // partition holds only a sentinel sent last.
    std::thread::sleep(Duration::from_secs(1));
    let sentinel = one_batch(&addr, topic, &[("sentinel", vec![])]);
    report.check(
        "a good record after the refused ones",
        sentinel[0].is_ok(),
        || format!("{:?}", sentinel[0]),
    );
    let c = consumer(&addr, &[(topic, 1)]);
    let want: HashSet<String> = ["sentinel".to_string()].into();
    let kept: Vec<String> = consume(&c, &want, Instant::now() + Duration::from_secs(10))
        .into_iter()
        .map(|g| g.id)
        .collect();
    report.check(
        "nothing of a refused batch is appended",
        kept == ["sentinel"],
        || format!("partition holds {:?}", &kept[..kept.len().min(6)]),
    );
    drop(c);
    broker.shutdown();
    broker.join().unwrap();
    report.finish("librdkafka hostile values");
}

fn rdkafka_headers_ignored_without_the_config(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let addr = broker.local_addr().to_string();
    let mut report = Report::default();
    let topic = "rkd-plain";
    create_topics(&addr, &[(topic, 1, false)]);
    let c = consumer(&addr, &[(topic, 1)]);
    let mut read = consume(&c, &HashSet::new(), Instant::now() + CONSUMER_WARM_UP);
    let cases: RecordHeaders = vec![
        (DELAY_MS.into(), b"2000".to_vec()),
        (
            DELIVER_AT.into(),
            (now_ms() as i64 + 2_000).to_string().into_bytes(),
        ),
        (DELAY_MS.into(), b"abc".to_vec()),
    ];
    let mut answers = Vec::new();
    let mut acked_ms = Vec::new();
    for (i, h) in cases.iter().enumerate() {
        let outcome = one_batch(&addr, topic, &[(&format!("plain:{i}"), vec![h.clone()])]);
        answers.push(outcome[0].as_ref().map_err(|e| e.to_string()).cloned());
        acked_ms.push(now_ms());
    }
    report.check(
        "plain topic: delay headers ignored, records acknowledged with their offsets",
        answers == [Ok(0), Ok(1), Ok(2)],
        || format!("answers {answers:?}"),
    );
    let want: HashSet<String> = (0..3).map(|i| format!("plain:{i}")).collect();
    read.extend(consume(&c, &want, Instant::now() + STEP_WAIT));
    let got: Vec<(String, RecordHeaders)> = read
        .iter()
        .map(|g| (g.id.clone(), g.headers.clone()))
        .collect();
    let expected: Vec<(String, RecordHeaders)> = cases
        .iter()
        .enumerate()
        .map(|(i, h)| (format!("plain:{i}"), vec![h.clone()]))
        .collect();
    report.check(
        "plain topic: records read back once each, with their headers",
        got == expected,
        || format!("read {got:?}"),
    );
    let held: Vec<(String, f64)> = read
        .iter()
        .zip(&acked_ms)
        .filter(|(g, a)| g.seen_ms > *a + AT_ONCE_MS_MAX)
        .map(|(g, a)| (g.id.clone(), (g.seen_ms - a).round()))
        .collect();
    report.check(
        "plain topic: records readable at once",
        held.is_empty(),
        || format!("seen this many ms after their acknowledgement: {held:?}"),
    );
    drop(c);
    broker.shutdown();
    broker.join().unwrap();
    report.finish("librdkafka without the config");
}
