//! Share groups (issue #16, KIP-932) through the real Java client, on both drivers: Kafka 4.4's
//! `KafkaShareConsumer`, driven one scenario per run by `tests/java/ShareDriver.java` (built by
//! `tests/java/setup.sh`; every test is skipped, loudly, where java, javac or mvn is missing).
//!
//! The expectations are Apache Kafka 4.4's, as the same driver observed them against a 4.4 broker
//! (`../shared/peers/kafka.sh`), except the retry backoff, which is ringlog's own:
//! - implicit and explicit acknowledgement: every record once, delivery count 1, acknowledged
//!   without error, never again to a new consumer of the group;
//! - three consumers on one partition: every record accepted once, none held by two at once;
//! - RELEASE: redelivered with delivery count 2;
//! - REJECT: archived and written to the group's dead-letter topic (KIP-1191): to partition
//!   `source partition % DLQ partitions`, with exactly Kafka's six headers (`__dlq.errors.topic`,
//!   `.partition`, `.offset`, `.group`, `.delivery.count`, `.message`, values UTF-8 text), key and
//!   value null unless `errors.deadletterqueue.copy.record.enable=true` (then the source's key and
//!   value, never its headers), a CreateTime timestamp of the moment it was written;
//! - the delivery count limit: a record released on its last allowed delivery goes to the DLQ;
//! - a consumer that dies holding records (its JVM halts): another gets them, delivery count 2,
//!   by the acquisition lock's end at the latest (Kafka releases them as soon as the connection
//!   closes); a consumer that stays connected but never acknowledges: only when the lock expires;
//! - ringlog's `ringlog.share.retry.backoff.ms`: a released record comes back no sooner than the
//!   backoff of its delivery count (Kafka has no such config and answers INVALID_CONFIG);
//! - `ringlog serve` SIGKILLed and restarted on its data directory: accepted records never come
//!   back, released ones come back with their persisted delivery count (2), acquired but
//!   unacknowledged ones come back (Kafka 4.4: with delivery count 1, it persists no acquisition).
//!
//! Each test runs every check and then fails listing all that did not hold, with the driver's
//! output. Loopback only; every run is killed at its deadline.
//!
//! `RINGLOG_SHARE_JAVA_BOOTSTRAP=127.0.0.1:19092 cargo test --test share_java` runs the same
//! checks against another broker (a Kafka 4.4 from `../shared/peers/kafka.sh start`): all hold
//! there but the retry backoff (Kafka refuses the config); the SIGKILL test is skipped.

#[macro_use]
mod support;
mod share_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ringlog::broker::Broker;
use ringlog::runtime::IoKind;
use share_common::{driver, java_classpath, serve, Event, Json, Report, Run};
use support::free_port;

both_drivers!(
    implicit_acknowledgement,
    explicit_acknowledgement,
    three_consumers_share_one_partition,
    release_redelivers_with_delivery_count_2,
    reject_goes_to_the_dead_letter_topic,
    delivery_limit_goes_to_the_dead_letter_topic,
    released_record_waits_for_the_retry_backoff,
    killed_consumer_records_are_redelivered,
    unacknowledged_records_come_back_when_the_lock_expires,
    acknowledgements_survive_a_broker_sigkill,
    admin_calls_of_share_groups,
    read_committed_skips_aborted_transactions,
);

/// A driver run is killed after this long (its own deadline is 20 s shorter).
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// Records of the acknowledgement scenarios.
const RECORDS: usize = 10;
/// Records and consumers of the shared-partition scenario.
const SHARED_RECORDS: usize = 200;
const SHARED_CONSUMERS: usize = 3;
/// The acquisition lock of the lock scenarios: Kafka 4.4's lowest allowed group value
/// (`group.share.min.record.lock.duration.ms`, default 15000; the group config
/// `share.record.lock.duration.ms` must lie between it and the max, 60000).
const LOCK_MS: i64 = 15_000;
/// A lock-expired record may come back this much before `LOCK_MS` after the client saw it (the
/// broker acquired it, and started the lock, a little before the client's clock read)...
const LOCK_EARLY_MS: i64 = 1_000;
/// ...and must come back within this much after `LOCK_MS` (a new consumer's join included:
/// Kafka 4.4 assigns a new member after ~5 s, its heartbeat interval).
const LOCK_LATE_MS: i64 = 12_000;
/// ringlog's retry backoff for the backoff scenario: 1 s after the first delivery, 2 s after
/// the second.
const BACKOFF_MS: [i64; 2] = [1_000, 2_000];
/// A backed-off redelivery may come this much early (the driver starts its clock after
/// commitSync returned, the broker a little before)...
const BACKOFF_EARLY_MS: i64 = 100;
/// ...and this much late.
const BACKOFF_LATE_MS: i64 = 3_000;
/// The delivery-limit scenario's `share.delivery.count.limit`: Kafka 4.4's lowest allowed
/// (`group.share.min.delivery.count.limit`, default 2).
const DELIVERY_LIMIT: i64 = 2;
/// `__dlq.errors.message` of a REJECTed record and of one that reached the delivery limit.
const REJECTED_MESSAGE: &str = "Offset rejected by client.";
const LIMIT_MESSAGE: &str = "Offset delivery count exceeded the threshold.";
/// A DLQ record must be written no sooner than this before the client's acknowledgement (clock
/// reads differ by the acknowledgement's round trip).
const DLQ_TIMESTAMP_EARLY_MS: i64 = 1_000;
/// The verification consumer's key for the marker record (index 1000000000).
const MARKER_KEY: &str = "k1000000000";
/// SIGKILL scenario: records produced, accepted, released before the kill (the rest of what the
/// consumer acquired stays acquired).
const SIGKILL_RECORDS: usize = 20;
const SIGKILL_ACCEPT: usize = 7;
const SIGKILL_RELEASE: usize = 3;

/// Set to a bootstrap address (e.g. `127.0.0.1:19092`, Apache Kafka 4.4 from
/// `../shared/peers/kafka.sh`), the tests run against that broker instead of ringlog: how the
/// expectations were checked against Kafka. Topic and group names then get a unique suffix
/// (Kafka keeps them across runs); the SIGKILL test, which kills its own broker, is skipped.
const EXTERNAL_BROKER_ENV: &str = "RINGLOG_SHARE_JAVA_BOOTSTRAP";

/// The broker under test (a ringlog broker in this process over a temporary directory, or the
/// external one) and the driver's classpath; `None` (the test passes, after saying so) without
/// Java.
struct Setup {
    cp: &'static str,
    broker: Option<Broker>,
    addr: String,
    /// Appended to topic and group names.
    suffix: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn start(io: IoKind) -> Option<Setup> {
        let cp = java_classpath()?;
        let dir = tempfile::tempdir().expect("temp dir");
        if let Ok(addr) = std::env::var(EXTERNAL_BROKER_ENV) {
            let unique = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_millis();
            return Some(Setup {
                cp,
                broker: None,
                addr,
                suffix: format!("-{io:?}-{}-{unique}", std::process::id()).to_lowercase(),
                _dir: dir,
            });
        }
        let broker = support::start_broker(io, dir.path(), 2, |_| {});
        let addr = broker.local_addr().to_string();
        Some(Setup {
            cp,
            broker: Some(broker),
            addr,
            suffix: String::new(),
            _dir: dir,
        })
    }

    /// Runs `scenario` on topic `share-{name}` and group `g-{name}` (plus the suffix).
    fn run(&self, name: &str, scenario: &str, params: &[(&str, String)]) -> Run {
        let topic = format!("share-{name}{}", self.suffix);
        let group = format!("g-{name}{}", self.suffix);
        driver(
            self.cp, &self.addr, &topic, &group, scenario, params, RUN_LIMIT,
        )
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            b.shutdown();
            let _ = b.join();
        }
    }
}

fn p(k: &'static str, v: impl ToString) -> (&'static str, String) {
    (k, v.to_string())
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the scenarios

/// The run completed (exit 0 and a `done` line); otherwise the driver's own reason.
fn check_completed(report: &mut Report, run: &Run) {
    report.check(
        format!("{}: the driver completed", run.scenario),
        run.completed(),
        || {
            run.all("failed")
                .first()
                .and_then(|f| f.str("message"))
                .unwrap_or("no failed line (killed at the deadline?)")
                .to_string()
        },
    );
}

/// Every group config the driver set was accepted (`except`: keys judged elsewhere).
fn check_configs_accepted(report: &mut Report, run: &Run, except: &[&str]) {
    let refused: Vec<String> = run
        .all("config")
        .into_iter()
        .filter(|c| !except.contains(&c.str("key").unwrap_or("")) && !c.is_null("error"))
        .map(|c| {
            format!(
                "{}: {}",
                c.str("key").unwrap_or("?"),
                c.str("error").unwrap_or("?")
            )
        })
        .collect();
    report.check(
        format!(
            "{}: IncrementalAlterConfigs on the GROUP accepted",
            run.scenario
        ),
        refused.is_empty(),
        || format!("{refused:?}"),
    );
}

/// What the driver produced: (partition, offset) -> index i of key k{i} (the marker excluded).
fn produced(run: &Run) -> BTreeMap<(i64, i64), i64> {
    run.all("produced")
        .into_iter()
        .filter(|e| e.str("key") != Some(MARKER_KEY))
        .map(|e| {
            let i = e.str("key").and_then(|k| k[1..].parse().ok()).unwrap_or(-1);
            (e.at(), i)
        })
        .collect()
}

/// `record` lines of one consumer (`None`: all consumers), in order.
fn records<'a>(run: &'a Run, consumer: Option<&str>) -> Vec<&'a Event> {
    run.all("record")
        .into_iter()
        .filter(|r| consumer.is_none_or(|c| r.str("consumer") == Some(c)))
        .collect()
}

/// A record carries the key, value and header the driver produced for index `i`.
fn record_is_intact(r: &Event, i: i64) -> bool {
    r.str("key") == Some(&format!("k{i}"))
        && r.str("value") == Some(&format!("v{i}"))
        && r.headers() == vec![("trace".to_string(), Some(format!("t{i}")))]
}

/// Every acknowledgement the broker answered (callbacks and commitSync) carried no error.
fn check_acknowledgements_ok(report: &mut Report, run: &Run) {
    let errors: Vec<String> = run
        .all("acked")
        .into_iter()
        .chain(run.all("commit"))
        .filter(|e| !e.is_null("error"))
        .map(|e| {
            format!(
                "{} {}: {}",
                e.name(),
                e.str("consumer").unwrap_or("?"),
                e.str("error").unwrap_or("?")
            )
        })
        .chain(run.all("error").into_iter().map(|e| {
            format!(
                "error during {}: {}",
                e.str("during").unwrap_or("?"),
                e.str("message").unwrap_or("?")
            )
        }))
        .collect();
    report.check(
        format!(
            "{}: every acknowledgement answered without error",
            run.scenario
        ),
        errors.is_empty(),
        || format!("{errors:?}"),
    );
}

/// The offsets the AcknowledgementCommitCallback reported as done for `consumer`.
fn acked_offsets(run: &Run, consumer: &str) -> BTreeSet<(i64, i64)> {
    run.all("acked")
        .into_iter()
        .filter(|e| e.str("consumer") == Some(consumer) && e.is_null("error"))
        .flat_map(|e| {
            let partition = e.int("partition").unwrap_or(-1);
            e.get("offsets")
                .and_then(|o| o.as_array())
                .unwrap_or(&[])
                .iter()
                .filter_map(|o| o.as_i64())
                .map(move |o| (partition, o))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The verifying consumer (a new member, after the marker record and a quiet period) got
/// nothing but the marker.
fn check_nothing_came_again(report: &mut Report, run: &Run) {
    let again: Vec<(i64, i64)> = records(run, Some("verify"))
        .into_iter()
        .filter(|r| r.str("key") != Some(MARKER_KEY))
        .map(Event::at)
        .collect();
    let marker = records(run, Some("verify"))
        .iter()
        .any(|r| r.str("key") == Some(MARKER_KEY));
    report.check(
        format!(
            "{}: a new consumer of the group gets nothing again",
            run.scenario
        ),
        again.is_empty() && marker,
        || format!("redelivered {again:?}; marker seen: {marker}"),
    );
}

/// Dead-letter records: one per source record in `expected` ((partition, offset) -> index),
/// with Kafka 4.4's six headers in its order, on partition `source % dlq_partitions`, key and
/// value copied only when `copy`, a CreateTime timestamp no sooner than the acknowledgement.
#[allow(clippy::too_many_arguments)]
fn check_dead_letters(
    report: &mut Report,
    run: &Run,
    expected: &BTreeMap<(i64, i64), i64>,
    dlq_partitions: i64,
    copy: bool,
    delivery_count: i64,
    message: &str,
) {
    let dlq = run.all("dlq");
    let mut by_source: BTreeMap<(i64, i64), Vec<&Event>> = BTreeMap::new();
    let mut unparsable = Vec::new();
    for d in &dlq {
        let h = d.headers();
        let num = |i: usize| {
            h.get(i)
                .and_then(|(_, v)| v.as_deref()?.parse::<i64>().ok())
        };
        match (num(1), num(2)) {
            (Some(sp), Some(so)) => by_source.entry((sp, so)).or_default().push(d),
            _ => unparsable.push(format!("{:?}", h)),
        }
    }
    let wanted: BTreeSet<(i64, i64)> = expected.keys().copied().collect();
    let got: BTreeSet<(i64, i64)> = by_source.keys().copied().collect();
    let doubled: Vec<_> = by_source
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, _)| *k)
        .collect();
    report.check(
        format!("{}: one dead-letter record per record", run.scenario),
        got == wanted && doubled.is_empty() && unparsable.is_empty(),
        || {
            format!(
                "want {wanted:?}, got {got:?}, doubled {doubled:?}, without source headers {unparsable:?}"
            )
        },
    );
    let first_ack_ms = run
        .all("ack")
        .iter()
        .filter_map(|a| a.int("t_ms"))
        .min()
        .unwrap_or(0);
    let mut wrong = Vec::new();
    for ((sp, so), ds) in &by_source {
        let d = ds[0];
        let want_headers: Vec<(String, Option<String>)> = [
            ("__dlq.errors.topic", run.topic.clone()),
            ("__dlq.errors.partition", sp.to_string()),
            ("__dlq.errors.offset", so.to_string()),
            ("__dlq.errors.group", run.group.clone()),
            ("__dlq.errors.delivery.count", delivery_count.to_string()),
            ("__dlq.errors.message", message.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Some(v)))
        .collect();
        if d.headers() != want_headers {
            wrong.push(format!("{sp}:{so} headers {:?}", d.headers()));
        }
        if d.int("partition") != Some(sp % dlq_partitions) {
            wrong.push(format!(
                "{sp}:{so} on DLQ partition {:?}",
                d.int("partition")
            ));
        }
        let i = expected.get(&(*sp, *so)).copied().unwrap_or(-1);
        let (key, value) = if copy {
            (Some(format!("k{i}")), Some(format!("v{i}")))
        } else {
            (None, None)
        };
        if d.str("key").map(str::to_string) != key || d.str("value").map(str::to_string) != value {
            wrong.push(format!(
                "{sp}:{so} key {:?} value {:?} (copy {copy})",
                d.str("key"),
                d.str("value")
            ));
        }
        let ts = d.int("timestamp").unwrap_or(0);
        if d.str("timestamp_type") != Some("CreateTime")
            || ts < first_ack_ms - DLQ_TIMESTAMP_EARLY_MS
            || ts > d.int("t_ms").unwrap_or(0)
        {
            wrong.push(format!(
                "{sp}:{so} timestamp {ts} {:?} (first ack at {first_ack_ms})",
                d.str("timestamp_type")
            ));
        }
    }
    report.check(
        format!(
            "{}: dead-letter records as Kafka 4.4 writes them",
            run.scenario
        ),
        wrong.is_empty(),
        || wrong.join("; "),
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// share.isolation.level=read_committed with Kafka's transactional producer and
/// KafkaShareConsumer: the committed records once each, none of the aborted transaction's.
fn read_committed_skips_aborted_transactions(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let n = 20;
    let run = s.run("read-committed", "read-committed", &[p("records", n)]);
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_configs_accepted(&mut report, &run, &[]);
    let values: Vec<String> = records(&run, Some("c0"))
        .iter()
        .filter_map(|r| r.str("value").map(str::to_string))
        .collect();
    let want: Vec<String> = [0, 2]
        .iter()
        .flat_map(|round| (0..n).map(move |i| format!("c{round}-{i}")))
        .collect();
    report.check(
        "read-committed: the committed records once each, in order, none aborted",
        values == want,
        || format!("{values:?}"),
    );
    report.finish(&[&run]);
}

fn implicit_acknowledgement(io: IoKind) {
    every_record_once(io, "implicit");
}

fn explicit_acknowledgement(io: IoKind) {
    every_record_once(io, "explicit");
}

/// One consumer gets every record once (delivery count 1, intact), acknowledges it (implicitly
/// or explicitly), and a new consumer of the group then gets none of them.
fn every_record_once(io: IoKind, mode: &str) {
    let Some(s) = Setup::start(io) else { return };
    let run = s.run(mode, mode, &[p("records", RECORDS)]);
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_configs_accepted(&mut report, &run, &[]);
    let sent = produced(&run);
    report.check(
        format!("{mode}: {RECORDS} records produced"),
        sent.len() == RECORDS,
        || format!("{sent:?}"),
    );
    let got = records(&run, Some("c0"));
    let mut seen: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for r in &got {
        *seen.entry(r.at()).or_default() += 1;
        let i = sent.get(&r.at()).copied().unwrap_or(-1);
        if r.int("delivery_count") != Some(1) || !record_is_intact(r, i) {
            bad.push(format!("{:?}", r.0));
        }
    }
    report.check(
        format!("{mode}: every record delivered once"),
        seen.keys().copied().collect::<BTreeSet<_>>() == sent.keys().copied().collect()
            && seen.values().all(|n| *n == 1),
        || format!("deliveries per record {seen:?}"),
    );
    report.check(
        format!("{mode}: delivery count 1, key, value and headers intact"),
        bad.is_empty(),
        || bad.join("; "),
    );
    check_acknowledgements_ok(&mut report, &run);
    let acked = acked_offsets(&run, "c0");
    report.check(
        format!("{mode}: every record's acknowledgement reported done"),
        sent.keys().all(|k| acked.contains(k)),
        || format!("acknowledged {acked:?}"),
    );
    if mode == "explicit" {
        let accepts: BTreeSet<(i64, i64)> = run
            .all("ack")
            .into_iter()
            .filter(|a| a.str("consumer") == Some("c0") && a.str("type") == Some("ACCEPT"))
            .map(Event::at)
            .collect();
        report.check(
            "explicit: every record ACCEPTed",
            accepts == sent.keys().copied().collect(),
            || format!("{accepts:?}"),
        );
    }
    check_nothing_came_again(&mut report, &run);
    report.finish(&[&run]);
}

/// Three consumers (threads) in one group on one partition: every record accepted exactly once,
/// by whichever consumer got it; no record ever held by two consumers at once; the partition
/// really shared (records reach at least two of them: at most 10 acquired per fetch).
fn three_consumers_share_one_partition(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let run = s.run(
        "shared",
        "shared",
        &[
            p("records", SHARED_RECORDS),
            p("consumers", SHARED_CONSUMERS),
        ],
    );
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_configs_accepted(&mut report, &run, &[]);
    check_acknowledgements_ok(&mut report, &run);
    let sent = produced(&run);
    let got = records(&run, None);
    let mut per_record: BTreeMap<(i64, i64), Vec<&Event>> = BTreeMap::new();
    for r in &got {
        per_record.entry(r.at()).or_default().push(r);
    }
    let not_once: Vec<_> = sent
        .keys()
        .filter(|k| per_record.get(k).map_or(0, Vec::len) != 1)
        .map(|k| (k, per_record.get(k).map_or(0, Vec::len)))
        .collect();
    report.check(
        format!("shared: each of {SHARED_RECORDS} records delivered exactly once"),
        sent.len() == SHARED_RECORDS && not_once.is_empty(),
        || format!("{} produced; deliveries != 1: {not_once:?}", sent.len()),
    );
    report.check(
        "shared: delivery count 1 everywhere",
        got.iter().all(|r| r.int("delivery_count") == Some(1)),
        || "a record came with another count".to_string(),
    );
    // Hold intervals: from the poll that returned a record to the commit that acknowledged it.
    let commits: BTreeMap<String, Vec<i64>> =
        run.all("commit")
            .into_iter()
            .fold(BTreeMap::new(), |mut m, c| {
                m.entry(c.str("consumer").unwrap_or("").to_string())
                    .or_default()
                    .push(c.int("t_ms").unwrap_or(0));
                m
            });
    let mut overlaps = Vec::new();
    for (at, rs) in &per_record {
        let spans: Vec<(&str, i64, i64)> = rs
            .iter()
            .map(|r| {
                let who = r.str("consumer").unwrap_or("");
                let from = r.int("t_ms").unwrap_or(0);
                let to = commits
                    .get(who)
                    .and_then(|ts| ts.iter().copied().find(|t| *t >= from))
                    .unwrap_or(i64::MAX);
                (who, from, to)
            })
            .collect();
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                if a.0 != b.0 && a.1 < b.2 && b.1 < a.2 {
                    overlaps.push(format!("{at:?}: {a:?} and {b:?}"));
                }
            }
        }
    }
    report.check(
        "shared: no record held by two consumers at once",
        overlaps.is_empty(),
        || overlaps.join("; "),
    );
    let per_consumer: BTreeMap<&str, usize> = got.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.str("consumer").unwrap_or("")).or_default() += 1;
        m
    });
    eprintln!("records per consumer: {per_consumer:?}");
    report.check(
        "shared: the partition is shared (records reach at least two consumers)",
        per_consumer.len() >= 2,
        || format!("{per_consumer:?}"),
    );
    report.finish(&[&run]);
}

/// RELEASE on the first delivery: the record comes again, delivery count 2, and is accepted.
fn release_redelivers_with_delivery_count_2(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let run = s.run("release", "release", &[p("records", 3)]);
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_configs_accepted(&mut report, &run, &[]);
    check_acknowledgements_ok(&mut report, &run);
    let sent = produced(&run);
    let mut counts: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for r in records(&run, Some("c0")) {
        counts
            .entry(r.at())
            .or_default()
            .push(r.int("delivery_count").unwrap_or(-1));
    }
    let wrong: Vec<_> = sent
        .keys()
        .filter(|k| counts.get(k).map(Vec::as_slice) != Some(&[1, 2]))
        .map(|k| (k, counts.get(k)))
        .collect();
    report.check(
        "release: each record delivered twice, delivery counts 1 then 2",
        !sent.is_empty() && wrong.is_empty(),
        || format!("{wrong:?}"),
    );
    report.finish(&[&run]);
}

/// REJECT: the records go to the group's DLQ topic (one DLQ partition, headers only), and, in a
/// second group, from 3 source partitions to 2 DLQ partitions with the records copied.
fn reject_goes_to_the_dead_letter_topic(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let mut report = Report::default();
    let plain = s.run("reject", "reject", &[p("records", 3)]);
    let copied = s.run(
        "reject-copy",
        "reject",
        &[
            p("records", 6),
            p("partitions", 3),
            p("dlq_partitions", 2),
            p("copy", true),
        ],
    );
    for (run, dlq_partitions, copy) in [(&plain, 1, false), (&copied, 2, true)] {
        check_completed(&mut report, run);
        check_configs_accepted(&mut report, run, &[]);
        check_acknowledgements_ok(&mut report, run);
        let sent = produced(run);
        let rejected: BTreeSet<(i64, i64)> = run
            .all("ack")
            .into_iter()
            .filter(|a| a.str("type") == Some("REJECT"))
            .map(Event::at)
            .collect();
        report.check(
            format!("reject (copy {copy}): every record rejected"),
            !sent.is_empty() && rejected == sent.keys().copied().collect(),
            || format!("rejected {rejected:?}, produced {sent:?}"),
        );
        check_dead_letters(
            &mut report,
            run,
            &sent,
            dlq_partitions,
            copy,
            1,
            REJECTED_MESSAGE,
        );
        check_nothing_came_again(&mut report, run);
    }
    report.finish(&[&plain, &copied]);
}

/// RELEASE every delivery with `share.delivery.count.limit=2`: each record is delivered twice,
/// then archived and written to the DLQ with delivery count 2.
fn delivery_limit_goes_to_the_dead_letter_topic(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let run = s.run(
        "limit",
        "delivery-limit",
        &[p("records", 2), p("limit", DELIVERY_LIMIT)],
    );
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_configs_accepted(&mut report, &run, &[]);
    check_acknowledgements_ok(&mut report, &run);
    let sent = produced(&run);
    let mut counts: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for r in records(&run, Some("c0")) {
        counts
            .entry(r.at())
            .or_default()
            .push(r.int("delivery_count").unwrap_or(-1));
    }
    let want: Vec<i64> = (1..=DELIVERY_LIMIT).collect();
    let wrong: Vec<_> = sent
        .keys()
        .filter(|k| counts.get(k) != Some(&want))
        .map(|k| (k, counts.get(k)))
        .collect();
    report.check(
        format!("delivery-limit: each record delivered {DELIVERY_LIMIT} times, then never again"),
        !sent.is_empty() && wrong.is_empty(),
        || format!("{wrong:?}"),
    );
    check_dead_letters(
        &mut report,
        &run,
        &sent,
        1,
        false,
        DELIVERY_LIMIT,
        LIMIT_MESSAGE,
    );
    report.finish(&[&run]);
}

/// ringlog's retry backoff: with `ringlog.share.retry.backoff.ms=1000,2000` a record released
/// on its first delivery comes back after 1 s, released again after 2 s.
fn released_record_waits_for_the_retry_backoff(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let list = BACKOFF_MS.map(|ms| ms.to_string()).join(",");
    let run = s.run(
        "backoff",
        "backoff",
        &[p("backoff", &list), p("releases", BACKOFF_MS.len())],
    );
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_configs_accepted(&mut report, &run, &[]);
    check_acknowledgements_ok(&mut report, &run);
    let redelivered = run.all("redelivered");
    report.check(
        format!("backoff: redelivered {} times", BACKOFF_MS.len()),
        redelivered.len() == BACKOFF_MS.len(),
        || format!("{}", redelivered.len()),
    );
    for (n, (r, backoff)) in redelivered.iter().zip(BACKOFF_MS).enumerate() {
        let waited = r.int("waited_ms").unwrap_or(-1);
        report.check(
            format!(
                "backoff: redelivery {} (delivery count {}) after {backoff} ms",
                n + 1,
                n + 2
            ),
            r.int("delivery_count") == Some(n as i64 + 2)
                && waited >= backoff - BACKOFF_EARLY_MS
                && waited <= backoff + BACKOFF_LATE_MS,
            || {
                format!(
                    "delivery count {:?}, waited {waited} ms (the commit took {:?} ms)",
                    r.int("delivery_count"),
                    r.int("commit_ms")
                )
            },
        );
    }
    report.finish(&[&run]);
}

/// The records a consumer acquired (`holder`) come back to c0 with delivery count 2, each
/// between `early` and `late` ms after the holder got it.
fn check_redelivered_after(report: &mut Report, run: &Run, holder: &str, early: i64, late: i64) {
    let held: BTreeMap<(i64, i64), i64> = records(run, Some(holder))
        .into_iter()
        .map(|r| (r.at(), r.int("t_ms").unwrap_or(0)))
        .collect();
    report.check(
        format!("{holder}: held records before it stopped"),
        !held.is_empty(),
        || "none".to_string(),
    );
    let again: BTreeMap<(i64, i64), (i64, i64)> = records(run, Some("c0"))
        .into_iter()
        .map(|r| {
            (
                r.at(),
                (
                    r.int("t_ms").unwrap_or(0),
                    r.int("delivery_count").unwrap_or(-1),
                ),
            )
        })
        .collect();
    let mut wrong = Vec::new();
    for (at, acquired) in &held {
        match again.get(at) {
            Some((t, 2)) if t - acquired >= early && t - acquired <= late => {}
            Some((t, dc)) => wrong.push(format!(
                "{at:?}: delivery count {dc} after {} ms",
                t - acquired
            )),
            None => wrong.push(format!("{at:?}: never redelivered")),
        }
    }
    report.check(
        format!(
            "{holder}: its records redelivered with delivery count 2, {early}..={late} ms after it got them"
        ),
        wrong.is_empty(),
        || wrong.join("; "),
    );
}

/// A consumer JVM acquires records and halts (no acknowledgement, close or leave): another
/// consumer gets them with delivery count 2, by the end of the acquisition lock at the latest
/// (Kafka 4.4 releases them as soon as it sees the connection closed).
fn killed_consumer_records_are_redelivered(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let run = s.run(
        "killed",
        "lock-expiry",
        &[p("records", 3), p("lock_ms", LOCK_MS), p("mode", "halt")],
    );
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_configs_accepted(&mut report, &run, &[]);
    check_redelivered_after(&mut report, &run, "killed", 0, LOCK_MS + LOCK_LATE_MS);
    report.finish(&[&run]);
}

/// A consumer acquires records and then stays connected and heartbeating without ever
/// acknowledging: the records come back (delivery count 2) only when their acquisition lock of
/// `share.record.lock.duration.ms` expires.
fn unacknowledged_records_come_back_when_the_lock_expires(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let run = s.run(
        "abandoned",
        "lock-expiry",
        &[p("records", 3), p("lock_ms", LOCK_MS), p("mode", "abandon")],
    );
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_configs_accepted(&mut report, &run, &[]);
    check_redelivered_after(
        &mut report,
        &run,
        "abandoned",
        LOCK_MS - LOCK_EARLY_MS,
        LOCK_MS + LOCK_LATE_MS,
    );
    report.finish(&[&run]);
}

/// `ringlog serve` (a child, `--flush always`) holds a share group's state across a SIGKILL: a
/// consumer ACCEPTs 7 of 20 records, RELEASEs 3, keeps the rest of what it acquired, and halts;
/// the broker is SIGKILLed and restarted on the same data directory; a new consumer then gets
/// every record but the accepted ones, exactly once: the released ones with delivery count 2
/// (persisted), the held ones with 1 or 2 (Kafka 4.4 answers 1: it persists no acquisition).
fn acknowledgements_survive_a_broker_sigkill(io: IoKind) {
    let Some(cp) = java_classpath() else { return };
    if std::env::var(EXTERNAL_BROKER_ENV).is_ok() {
        eprintln!("SKIPPED against an external broker: this test kills and restarts its broker");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (topic, group) = ("share-sigkill", "g-sigkill");
    let mut broker = serve(dir.path(), port, io);
    let run = |scenario: &str, params: &[(&str, String)]| {
        driver(cp, &addr, topic, group, scenario, params, RUN_LIMIT)
    };
    let produce = run("produce", &[p("records", SIGKILL_RECORDS)]);
    let first = run(
        "consume-ack",
        &[
            p("count", SIGKILL_ACCEPT),
            p("release", SIGKILL_RELEASE),
            p("hold", SIGKILL_RECORDS - SIGKILL_ACCEPT - SIGKILL_RELEASE),
        ],
    );
    broker.0.kill().expect("SIGKILL ringlog serve");
    broker.0.wait().expect("reap ringlog serve");
    let _broker = serve(dir.path(), port, io);
    let rest = SIGKILL_RECORDS - SIGKILL_ACCEPT;
    let last = run("consume-all", &[p("expect", rest)]);

    let mut report = Report::default();
    for r in [&produce, &first, &last] {
        check_completed(&mut report, r);
    }
    check_acknowledgements_ok(&mut report, &first);
    let sent = produced(&produce);
    let acked = |kind: &str| -> BTreeSet<(i64, i64)> {
        first
            .all("ack")
            .into_iter()
            .filter(|a| a.str("type") == Some(kind))
            .map(Event::at)
            .collect()
    };
    let (accepted, released) = (acked("ACCEPT"), acked("RELEASE"));
    let held: BTreeSet<(i64, i64)> = first
        .done()
        .and_then(|d| d.get("held"))
        .and_then(|h| h.as_array())
        .unwrap_or(&[])
        .iter()
        .filter_map(|o| o.as_i64())
        .map(|o| (0, o))
        .collect();
    report.check(
        format!(
            "before the kill: {SIGKILL_ACCEPT} accepted, {SIGKILL_RELEASE} released, some held"
        ),
        accepted.len() == SIGKILL_ACCEPT && released.len() == SIGKILL_RELEASE && !held.is_empty(),
        || format!("accepted {accepted:?}, released {released:?}, held {held:?}"),
    );
    let acked_before = acked_offsets(&first, "c0");
    report.check(
        "before the kill: the acknowledgements were reported done",
        accepted
            .iter()
            .chain(&released)
            .all(|k| acked_before.contains(k)),
        || format!("{acked_before:?}"),
    );
    let mut after: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for r in records(&last, None) {
        after
            .entry(r.at())
            .or_default()
            .push(r.int("delivery_count").unwrap_or(-1));
    }
    let again: Vec<_> = accepted.iter().filter(|k| after.contains_key(k)).collect();
    report.check(
        "after the restart: no accepted record is redelivered",
        again.is_empty(),
        || format!("{again:?}"),
    );
    let want: BTreeSet<(i64, i64)> = sent
        .keys()
        .filter(|k| !accepted.contains(k))
        .copied()
        .collect();
    let not_once: Vec<_> = want
        .iter()
        .filter(|k| after.get(k).map_or(0, Vec::len) != 1)
        .map(|k| (k, after.get(k)))
        .collect();
    report.check(
        "after the restart: every other record delivered exactly once",
        !want.is_empty() && not_once.is_empty(),
        || format!("{not_once:?}"),
    );
    // Count 2 (released once, delivered again after the restart), or 3 when the first
    // consumer's background fetch acquired them again between its commit and the kill (the
    // KafkaShareConsumer prefetches; that acquisition is durable, so the restart counts it:
    // seen once in a fresh-clone CI run). Never less than 2: a crash does not under-count.
    let released_wrong: Vec<_> = released
        .iter()
        .filter(|k| !matches!(after.get(k).map(Vec::as_slice), Some([2]) | Some([3])))
        .map(|k| (k, after.get(k)))
        .collect();
    report.check(
        "after the restart: released records come back with delivery count 2 (3 if prefetched)",
        released_wrong.is_empty(),
        || format!("{released_wrong:?}"),
    );
    let held_wrong: Vec<_> = held
        .iter()
        .filter(|k| !matches!(after.get(k).map(Vec::as_slice), Some([1]) | Some([2])))
        .map(|k| (k, after.get(k)))
        .collect();
    report.check(
        "after the restart: acquired, unacknowledged records come back (delivery count 1 or 2)",
        held_wrong.is_empty(),
        || format!("{held_wrong:?}"),
    );
    report.finish(&[&produce, &first, &last]);
}

/// The Java Admin client's share-group calls (the driver's `admin` scenario): listGroups with the
/// Share type, describeShareGroups, listShareGroupOffsets (start offset and lag),
/// alterShareGroupOffsets refused while a member is in the group and done after it left,
/// deleteShareGroupOffsets, deleteShareGroups (then not listed any more).
fn admin_calls_of_share_groups(io: IoKind) {
    let Some(s) = Setup::start(io) else { return };
    let run = s.run("admin", "admin", &[p("records", RECORDS)]);
    let mut report = Report::default();
    check_completed(&mut report, &run);
    let ops: Vec<&Event> = run.all("admin");
    fn nth_op<'a>(ops: &[&'a Event], name: &str, n: usize) -> Option<&'a Event> {
        ops.iter()
            .filter(|e| e.str("op") == Some(name))
            .nth(n)
            .copied()
    }
    let first_ok = |name: &str| nth_op(&ops, name, 0).is_some_and(|e| e.is_null("error"));
    let listed = nth_op(&ops, "listGroups", 0)
        .and_then(|e| e.get("result"))
        .cloned();
    report.check(
        "admin: listGroups shows the group with type Share, protocol share",
        listed.as_ref().and_then(Json::as_array).is_some_and(|a| {
            a.iter().any(|g| {
                g.get("type").and_then(Json::as_str) == Some("Share")
                    && g.get("protocol").and_then(Json::as_str) == Some("share")
            })
        }),
        || format!("{listed:?}"),
    );
    let described = nth_op(&ops, "describeShareGroups", 0)
        .and_then(|e| e.get("result"))
        .cloned();
    report.check(
        "admin: describeShareGroups is Stable with one member holding the partition",
        described.as_ref().is_some_and(|d| {
            d.get("state").and_then(Json::as_str) == Some("Stable")
                && d.get("members").and_then(Json::as_array).map(<[Json]>::len) == Some(1)
        }),
        || format!("{described:?}"),
    );
    let offsets = nth_op(&ops, "listShareGroupOffsets", 0)
        .and_then(|e| e.get("result"))
        .cloned();
    report.check(
        "admin: listShareGroupOffsets gives start offset 0 and a lag of every record",
        offsets.as_ref().is_some_and(|o| {
            o.get("start_offset").and_then(Json::as_i64) == Some(0)
                && o.get("lag").and_then(Json::as_i64) == Some(RECORDS as i64)
        }),
        || format!("{offsets:?}"),
    );
    let refused = nth_op(&ops, "alterShareGroupOffsets(member present)", 0);
    report.check(
        "admin: alterShareGroupOffsets with a member present fails with GroupNotEmptyException",
        refused
            .and_then(|e| e.str("error"))
            .is_some_and(|e| e.contains("GroupNotEmpty")),
        || format!("{refused:?}"),
    );
    for name in [
        "alterShareGroupOffsets",
        "deleteShareGroupOffsets",
        "deleteShareGroups",
    ] {
        report.check(format!("admin: {name} succeeds"), first_ok(name), || {
            format!("{:?}", nth_op(&ops, name, 0))
        });
    }
    let after = nth_op(&ops, "listGroups", 1)
        .and_then(|e| e.get("result"))
        .cloned();
    report.check(
        "admin: the deleted group is not listed any more",
        after
            .as_ref()
            .and_then(Json::as_array)
            .is_some_and(<[Json]>::is_empty),
        || format!("{after:?}"),
    );
    report.finish(&[&run]);
}
