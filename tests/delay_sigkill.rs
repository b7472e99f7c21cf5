//! Scheduled delivery (issue #15) across a SIGKILL: a `ringlog serve` child holds thousands of
//! delayed records of an idempotent librdkafka producer (acks=all, `--flush always`) on a
//! 4-partition delay topic, is SIGKILLed while records are still being produced and many are
//! pending, some of which fall due while it is down, and is restarted on the same data directory.
//! Then every acknowledged record is delivered exactly once (none lost, none doubled), none
//! before it was due, a partition's delayed records in due-time order. Both drivers; loopback
//! only; bounded in time.

#[macro_use]
mod support;
mod delay_common;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod wire;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use delay_common::{
    consume, consume_until, consumer, create_topics, delivery_checks, flush, high_watermarks,
    now_ms, producer, send, Delivery, Kind, Report, Rng, Sent,
};
use rdkafka::producer::Producer;
use ringlog::runtime::IoKind;
use support::{free_port, Serve};

both_drivers!(acknowledged_delayed_records_are_delivered_once_across_a_sigkill);

/// Delayed records produced.
const RECORDS: usize = 5_000;
/// Partitions of the delay topic.
const PARTITIONS: i32 = 4;
/// Delays are drawn from this range (ms): some fall due before the kill, some while the broker
/// is down, most after the restart.
const DELAY_MS_RANGE: std::ops::RangeInclusive<i64> = 500..=8_000;
/// The records are sent evenly over this long, so the kill lands in the middle of producing.
const PRODUCE_FOR: Duration = Duration::from_millis(2_500);
/// The broker is SIGKILLed this long after producing started...
const KILL_AFTER: Duration = Duration::from_secs(2);
/// ...and restarted this long after the kill.
const DOWN_FOR: Duration = Duration::from_millis(1_500);
/// After the last acknowledged record is due, the consumer waits this much longer for it.
const DELIVERY_SLACK: Duration = Duration::from_secs(5);
/// The consumer reads at least this long past the last acknowledged record's due time, so that
/// a second copy of any record would be seen.
const DOUBLES_WATCH: Duration = Duration::from_secs(1);
/// How long the producer may take to have every record acknowledged (it retries through the
/// downtime); librdkafka's message.timeout.ms is set to this.
const ACK_WAIT: Duration = Duration::from_secs(20);

/// `ringlog serve` with two shards on `io`, durable (`--flush always`), on 127.0.0.1:`port` over
/// `dir` (a fixed port, so the restarted broker is found where its predecessor was).
fn serve(dir: &Path, port: u16, io: IoKind) -> Serve {
    let io = match io {
        IoKind::Uring => "uring",
        IoKind::Epoll => "epoll",
    };
    Serve(
        Command::new(env!("CARGO_BIN_EXE_ringlog"))
            .args(["serve", "--cores", "2", "--flush", "always", "--io", io])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ringlog serve"),
    )
}

fn acknowledged_delayed_records_are_delivered_once_across_a_sigkill(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let topic = "sk-delayed";
    let mut broker = serve(dir.path(), port, io);
    drop(wire::connect_retry(addr.parse().unwrap()));
    create_topics(&addr, &[(topic, PARTITIONS, true)]);

    // The producer runs on its own thread while this one kills and restarts the broker.
    let producing = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let p = producer(&addr, |c| {
                c.set("enable.idempotence", "true")
                    .set("linger.ms", "5")
                    .set("message.timeout.ms", ACK_WAIT.as_millis().to_string())
                    .set("reconnect.backoff.ms", "50")
                    .set("reconnect.backoff.max.ms", "200")
                    .set("retry.backoff.ms", "50");
            });
            let mut rng = Rng(0x15_5161);
            let mut sent: Vec<Sent> = Vec::with_capacity(RECORDS);
            let started = Instant::now();
            for i in 0..RECORDS {
                let pace = PRODUCE_FOR.mul_f64(i as f64 / RECORDS as f64);
                if let Some(ahead) = pace.checked_sub(started.elapsed()) {
                    std::thread::sleep(ahead);
                }
                let delay = rng.range(&DELAY_MS_RANGE);
                let kind = if i % 2 == 0 {
                    Kind::Delay(delay)
                } else {
                    Kind::At(now_ms() as i64 + delay)
                };
                let id = format!("sk:{i}");
                let headers = kind.header().into_iter().collect();
                send(&p, &mut sent, topic, None, id, kind, headers);
            }
            flush(&p);
            let acks = std::mem::take(&mut *p.context().0.lock().unwrap());
            (sent, acks)
        })
    };
    std::thread::sleep(KILL_AFTER);
    broker.0.kill().expect("SIGKILL");
    broker.0.wait().expect("reap");
    let killed_ms = now_ms();
    std::thread::sleep(DOWN_FOR);
    let _broker = serve(dir.path(), port, io);
    drop(wire::connect_retry(addr.parse().unwrap()));
    let restarted_ms = now_ms();
    let (mut sent, acks) = producing.join().expect("producer thread");

    let mut report = Report::default();
    let acked: Vec<usize> = (0..sent.len())
        .filter(|i| matches!(acks.get(i), Some(a) if a.outcome.is_ok()))
        .collect();
    let failures: Vec<String> = acks
        .iter()
        .filter_map(|(i, a)| {
            a.outcome
                .as_ref()
                .err()
                .map(|e| format!("{}: {e}", sent[*i].id))
        })
        .take(3)
        .collect();
    report.check(
        format!(
            "the idempotent producer had all {RECORDS} records acknowledged through the restart"
        ),
        acked.len() == RECORDS,
        || {
            format!(
                "{} acknowledged, {} failed (e.g. {failures:?}), {} without a report",
                acked.len(),
                acks.values().filter(|a| a.outcome.is_err()).count(),
                RECORDS - acks.len()
            )
        },
    );
    for (i, s) in sent.iter_mut().enumerate() {
        if let Some(a) = acks.get(&i) {
            s.acknowledged(a.at_ms);
        }
    }
    let due_during_downtime = acked
        .iter()
        .filter(|&&i| {
            sent[i]
                .due_lo
                .is_some_and(|d| d >= killed_ms && d < restarted_ms)
        })
        .count();
    eprintln!(
        "{} acknowledged; {due_during_downtime} of them fell due while the broker was down",
        acked.len()
    );
    report.check(
        "some acknowledged records fell due while the broker was down (the test's premise)",
        due_during_downtime > 0,
        || "none".to_string(),
    );

    // Consume from the beginning until every acknowledged record is in (and a little longer,
    // to catch doubles), or until the last one is overdue by DELIVERY_SLACK.
    let due_max = acked
        .iter()
        .filter_map(|&i| sent[i].due_hi)
        .fold(now_ms(), f64::max);
    let until =
        Instant::now() + Duration::from_millis((due_max - now_ms()) as u64) + DELIVERY_SLACK;
    let c = consumer(&addr, &[(topic, PARTITIONS)]);
    let want: HashSet<String> = acked.iter().map(|&i| sent[i].id.clone()).collect();
    let mut got = consume(&c, &want, until);
    // A record stored twice would show its second copy by its own due time at the latest.
    let watch_until = due_max + DOUBLES_WATCH.as_millis() as f64 - now_ms();
    if watch_until > 0.0 {
        got.extend(consume_until(
            &c,
            Instant::now() + Duration::from_millis(watch_until as u64),
        ));
    }
    let high_watermarks = high_watermarks(&c, topic, PARTITIONS);
    drop(c);

    let acked_set: HashSet<usize> = acked.iter().copied().collect();
    let (must, may): (HashMap<&str, &Sent>, HashMap<&str, &Sent>) = {
        let mut must = HashMap::new();
        let mut may = HashMap::new();
        for (i, s) in sent.iter().enumerate() {
            if acked_set.contains(&i) {
                must.insert(s.id.as_str(), s);
            } else {
                may.insert(s.id.as_str(), s);
            }
        }
        (must, may)
    };
    delivery_checks(
        &mut report,
        &Delivery {
            label: "after SIGKILL and restart",
            must,
            may,
            seen: got.iter().collect(),
            // Lateness right after a restart is not this test's question: everything acknowledged
            // must arrive before the consumer gives up, which the first check covers.
            late_ms_max: None,
            at_once: None,
            high_watermarks,
        },
    );
    report.finish("delayed records across a SIGKILL");
}
