//! Transactions (issue #18) through the real Java client, on both drivers: Kafka 4.4's
//! transactional `KafkaProducer`, read_committed `KafkaConsumer` and `Admin`, driven one scenario
//! per run by `tests/java/TxnDriver.java` (built by `tests/java/setup.sh` with the share-group
//! driver, whose JSON writer it uses; every test is skipped, loudly, where java, javac or mvn is
//! missing). The broker under test is a `ringlog serve` child on a free loopback port over a
//! temporary directory, two shards.
//!
//! The expectations are Apache Kafka 4.4's, as the same driver observed them against a 4.4 broker
//! (`../shared/peers/kafka.sh`) in both of its transaction protocols: `transaction.version=2`
//! (Kafka 4.4's default, where the client adds partitions implicitly and bumps the epoch on every
//! commit) and `transaction.version=1` (the classic protocol ringlog serves: the client sends
//! AddPartitionsToTxn itself; a Kafka downgraded with `FeatureCommand downgrade --feature
//! transaction.version=1`). What Kafka 4.4 did:
//! - consume-transform-produce with `sendOffsetsToTransaction(offsets, groupMetadata())`, classic
//!   and KIP-848 groups: the output has every input record once (read_committed), the group's
//!   committed offsets (listConsumerGroupOffsets with requireStable) equal the input's end offsets;
//! - 20 transactions of 10 records over 3 partitions, every third aborted: read_committed gets
//!   exactly the committed records once, in offset order per partition; read_uncommitted gets
//!   every record, aborted ones included. With a transaction open, the read_committed end offset
//!   (consumer `endOffsets` and `Admin.listOffsets` alike) of each partition is the open
//!   transaction's first offset there (the LSO) and read_uncommitted's is one past its last
//!   record (the high watermark); after its commit both equal the log end, one past the commit
//!   marker (with transaction.version 1, commitTransaction returns once PrepareCommit is written,
//!   so the LSO may lag the commit by a few ms: the driver asks again until they agree);
//! - an aborted transaction with sendOffsetsToTransaction leaves the group's committed offset
//!   where the last committed transaction put it, and a new member resumes there;
//! - zombie fencing: producer B's initTransactions with A's transactional id aborts A's open
//!   transaction (B's init waits ~220 ms for it); A's next send then fails with
//!   `InvalidProducerEpochException` ("Producer attempted to produce with an old epoch", the
//!   partition's INVALID_PRODUCER_EPOCH) and so does its commitTransaction (the abortable error
//!   rethrown); A committing without another send gets `ProducerFencedException` (EndTxn's
//!   PRODUCER_FENCED). Both protocols alike. read_committed never sees A's records; B commits;
//! - transaction timeout: a producer whose transaction.timeout.ms exceeds the broker's
//!   transaction.max.timeout.ms fails initTransactions with a `KafkaException` "Unexpected error
//!   in InitProducerIdResponse; The transaction timeout is larger than the maximum value allowed
//!   by the broker" (INVALID_TRANSACTION_TIMEOUT); a transaction left open past its 2 s timeout
//!   is aborted by the broker (describeTransactions: CompleteAbort, epoch bumped from 0 to 1), and
//!   the late commitTransaction fails with `ProducerFencedException` (transaction.version 1; with
//!   2 it is `InvalidTxnStateException`); read_committed sees nothing of it, and a fresh producer
//!   with the same id commits;
//! - describeTransactions of an open transaction: state Ongoing, both partitions, the producer
//!   id and epoch (0 for a new id), the timeout asked for (45000), a start time between begin and
//!   the flush; listTransactions lists it as Ongoing (also filtered by state and by producer id);
//!   right after the commit the state is PrepareCommit (version 1, markers not written yet) or
//!   CompleteCommit (version 2, and version 1 soon after); an unknown id fails with
//!   `TransactionalIdNotFoundException`. describeProducers (not in the issue) is reported only.
//!
//! The SIGKILL tests (ringlog only: skipped against another broker) kill `ringlog serve`
//! (`--flush always`) between AddPartitionsToTxn and EndTxn, and, with
//! `RINGLOG_TEST_CRASH_AT=txn-prepared`, right after an EndTxn's PrepareCommit is durable; after
//! a restart on the same data directory read_committed must see every committed record and no
//! aborted one.
//!
//! Each test runs every check and then fails listing all that did not hold, with the driver's
//! output. Loopback only; every driver run is killed at its deadline.
//!
//! `RINGLOG_TXN_JAVA_BOOTSTRAP=127.0.0.1:19092 cargo test --test txn_java` runs the same checks
//! against another broker (a Kafka 4.4 from `../shared/peers/kafka.sh start`): all hold there,
//! with either transaction.version; the SIGKILL tests are skipped, and the timeout test sleeps
//! past Kafka's default abort check interval (10 s) instead of ringlog's `--transaction-abort-check-ms
//! 500`.

#[macro_use]
mod support;
mod share_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringlog::runtime::IoKind;
use share_common::{java_classpath, Event, Json, Report, Run};
use support::{free_port, Serve};

both_drivers!(
    consume_transform_produce_classic_group,
    consume_transform_produce_consumer_group,
    aborts_interleaved_with_commits,
    aborted_transaction_keeps_the_group_offset,
    zombie_fenced_on_its_next_send,
    zombie_fenced_on_commit,
    transaction_past_its_timeout_is_aborted,
    describe_and_list_transactions,
    sigkill_between_add_partitions_and_end_txn,
    sigkill_after_prepare_commit_completes_it,
);

/// A driver run is killed after this long (its own deadline is `DRIVER_MARGIN` shorter).
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// A driver run reports what it waited for this long before it would be killed.
const DRIVER_MARGIN: Duration = Duration::from_secs(20);
/// How long a started `ringlog serve` may take to listen.
const LISTEN_WAIT: Duration = Duration::from_secs(20);
/// The producers' max.block.ms in the crash test: the client's commitTransaction retries EndTxn
/// through the broker's death and restart within it.
const CRASH_BLOCK_MS: u64 = 60_000;
/// How long a `ringlog serve` with the crash hook may take to kill itself after the commit began.
const CRASH_WAIT: Duration = Duration::from_secs(60);
/// Consume-transform-produce: input records, partitions, records per poll (so several
/// transactions).
const CTP_RECORDS: usize = 30;
const CTP_PARTITIONS: i64 = 3;
const CTP_MAX_POLL: usize = 7;
/// Interleaved aborts: transactions (plus one left open, then committed), records each,
/// partitions, every this-many-th aborted.
const TXNS: usize = 20;
const PER_TXN: usize = 10;
const TXN_PARTITIONS: i64 = 3;
const ABORT_EVERY: usize = 3;
/// Aborted-offsets scenario: input records, and where the committed transaction moves the group.
const OFFSET_RECORDS: usize = 10;
const COMMIT_AT: i64 = 4;
/// Records per transaction in the fencing, timeout and SIGKILL scenarios.
const RECORDS: usize = 6;
/// The timeout scenario's transaction.timeout.ms, ringlog's abort check interval for it, and how
/// long the driver sleeps with the transaction open: past the timeout plus one check interval
/// plus slack on ringlog; past Kafka's default check interval (10 s) on another broker.
const TXN_TIMEOUT_MS: u64 = 2_000;
const ABORT_CHECK_MS: u64 = 500;
const TIMEOUT_SLEEP_MS: u64 = TXN_TIMEOUT_MS + ABORT_CHECK_MS + 2_000;
const EXTERNAL_TIMEOUT_SLEEP_MS: u64 = TXN_TIMEOUT_MS + 10_000 + 1_000;
/// The describe scenario's transaction.timeout.ms (not the client default, so it shows it came
/// from the client).
const DESCRIBE_TIMEOUT_MS: i64 = 45_000;
/// describeTransactions' start time may be this far outside [begin, flushed] of the driver's
/// clock (the broker's clock is the same host's; the margin covers reading it).
const START_SLACK_MS: i64 = 1_000;

/// Set to a bootstrap address (e.g. `127.0.0.1:19092`, Apache Kafka 4.4 from
/// `../shared/peers/kafka.sh`), the tests run against that broker instead of ringlog: how the
/// expectations were checked against Kafka. Topic, group and transactional ids then get a
/// unique suffix (Kafka keeps them across runs); the SIGKILL tests are skipped.
const EXTERNAL_BROKER_ENV: &str = "RINGLOG_TXN_JAVA_BOOTSTRAP";
/// `ringlog serve` kills itself at this point when the env var says so (the broker's test hook).
const CRASH_ENV: &str = "RINGLOG_TEST_CRASH_AT";
const CRASH_AT_PREPARED: &str = "txn-prepared";
/// How the hook may end the process: SIGKILL, or SIGABRT (`std::process::abort`, which the broker
/// uses): either way without any cleanup.
const CRASH_SIGNALS: [i32; 2] = [9, 6];

/// Exceptions Kafka's client may throw at a fenced zombie (InvalidProducerEpoch from a
/// partition, ProducerFenced from the coordinator).
const FENCED: &[&str] = &["ProducerFencedException", "InvalidProducerEpochException"];
/// ...and at a producer whose transaction the broker aborted on timeout (InvalidTxnState is
/// Kafka's answer with transaction.version 2).
const TIMED_OUT: &[&str] = &[
    "ProducerFencedException",
    "InvalidProducerEpochException",
    "InvalidTxnStateException",
];

// ---------------------------------------------------------------------------------------------
// Brokers and driver runs

/// `ringlog serve` with two shards on `io` on 127.0.0.1:`port` over `dir`, with `args` added and
/// `env` set; returns once it listens.
fn serve(dir: &Path, port: u16, io: IoKind, args: &[&str], env: &[(&str, &str)]) -> Serve {
    let io = match io {
        IoKind::Uring => "uring",
        IoKind::Epoll => "epoll",
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringlog"));
    cmd.args(["serve", "--cores", "2", "--io", io])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut serve = Serve(cmd.spawn().expect("spawn ringlog serve"));
    let addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .expect("a loopback address");
    let deadline = Instant::now() + LISTEN_WAIT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = serve.0.try_wait() {
            panic!("ringlog serve {args:?} exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "ringlog serve: nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    serve
}

/// Runs `TxnDriver BOOTSTRAP TOPIC GROUP SCENARIO name=value...`, killed at [`RUN_LIMIT`] (its
/// own `timeout_ms` is [`DRIVER_MARGIN`] shorter).
fn driver(
    cp: &str,
    bootstrap: &str,
    topic: &str,
    group: &str,
    scenario: &str,
    params: &[(&str, String)],
) -> Run {
    let mut cmd = Command::new("java");
    cmd.arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .args(["-cp", cp, "TxnDriver", bootstrap, topic, group, scenario])
        .arg(format!(
            "timeout_ms={}",
            RUN_LIMIT.saturating_sub(DRIVER_MARGIN).as_millis()
        ));
    for (k, v) in params {
        cmd.arg(format!("{k}={v}"));
    }
    let output = support::run_bounded(cmd.stdin(Stdio::null()), RUN_LIMIT);
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| Json::parse(l).ok().map(Event))
        .collect();
    Run {
        scenario: scenario.to_string(),
        topic: topic.to_string(),
        group: group.to_string(),
        output,
        events,
    }
}

/// The broker under test (a `ringlog serve` child, or the external one) and the driver's
/// classpath; `None` (the test passes, after saying so) without Java.
struct Setup {
    cp: &'static str,
    broker: Option<Serve>,
    addr: String,
    /// Appended to topic, group and transactional ids.
    suffix: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// `serve_args` are added to `ringlog serve`'s command line (unused against another broker).
    fn start(io: IoKind, serve_args: &[&str]) -> Option<Setup> {
        let cp = java_classpath()?;
        let dir = tempfile::tempdir().expect("temp dir");
        if let Ok(addr) = std::env::var(EXTERNAL_BROKER_ENV) {
            let unique = SystemTime::now()
                .duration_since(UNIX_EPOCH)
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
        let port = free_port();
        let broker = serve(dir.path(), port, io, serve_args, &[]);
        Some(Setup {
            cp,
            broker: Some(broker),
            addr: format!("127.0.0.1:{port}"),
            suffix: String::new(),
            _dir: dir,
        })
    }

    fn external(&self) -> bool {
        self.broker.is_none()
    }

    /// Runs `scenario` on topic `txn-{name}` and group `g-{name}` (plus the suffix); the driver
    /// names the transactional id after the topic.
    fn run(&self, name: &str, scenario: &str, params: &[(&str, String)]) -> Run {
        let topic = format!("txn-{name}{}", self.suffix);
        let group = format!("g-{name}{}", self.suffix);
        driver(self.cp, &self.addr, &topic, &group, scenario, params)
    }
}

fn p(k: &'static str, v: impl ToString) -> (&'static str, String) {
    (k, v.to_string())
}

// ---------------------------------------------------------------------------------------------
// What a run saw

/// A record as produced or read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    partition: i64,
    offset: i64,
    key: String,
    value: String,
}

impl Rec {
    fn of(e: &Event) -> Rec {
        Rec {
            partition: e.int("partition").unwrap_or(-1),
            offset: e.int("offset").unwrap_or(-1),
            key: e.str("key").unwrap_or("").to_string(),
            value: e.str("value").unwrap_or("").to_string(),
        }
    }
}

/// `produced` lines to `topic` accepted by `keep`, in order.
fn produced(run: &Run, topic: &str, keep: impl Fn(&Event) -> bool) -> Vec<Rec> {
    run.all("produced")
        .into_iter()
        .filter(|e| e.str("topic") == Some(topic) && keep(e))
        .map(Rec::of)
        .collect()
}

/// `record` lines of `reader` from `topic`, in the order the consumer returned them.
fn read(run: &Run, reader: &str, topic: &str) -> Vec<Rec> {
    run.all("record")
        .into_iter()
        .filter(|e| e.str("reader") == Some(reader) && e.str("topic") == Some(topic))
        .map(Rec::of)
        .collect()
}

/// The first `txn` line of `producer` for `op`.
fn txn_op<'a>(run: &'a Run, producer: &str, op: &str) -> Option<&'a Event> {
    run.all("txn")
        .into_iter()
        .find(|e| e.str("producer") == Some(producer) && e.str("op") == Some(op))
}

/// The first `admin` line of `op` at `step`.
fn admin_op<'a>(run: &'a Run, op: &str, step: &str) -> Option<&'a Event> {
    run.all("admin")
        .into_iter()
        .find(|e| e.str("op") == Some(op) && e.str("step") == Some(step))
}

/// A field of an admin line's result object.
fn result_field<'a>(e: Option<&'a Event>, key: &str) -> Option<&'a Json> {
    e?.get("result")?.get(key)
}

/// Up to this many items are listed in a failure's detail.
const DETAIL_ITEMS: usize = 12;

fn few<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<T> = items.into_iter().collect();
    let shown: Vec<&T> = items.iter().take(DETAIL_ITEMS).collect();
    if items.len() > DETAIL_ITEMS {
        format!("{shown:?} and {} more", items.len() - DETAIL_ITEMS)
    } else {
        format!("{shown:?}")
    }
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

/// Every transactional call of `producers` returned normally, and every send of theirs was
/// acknowledged.
fn check_calls_ok(report: &mut Report, run: &Run, producers: &[&str]) {
    let ours = |e: &&Event| producers.contains(&e.str("producer").unwrap_or(""));
    let failed: Vec<String> = run
        .all("txn")
        .into_iter()
        .filter(ours)
        .filter(|e| !e.is_null("error"))
        .map(|e| {
            format!(
                "{} {} {}: {}",
                e.str("producer").unwrap_or("?"),
                e.str("txn").unwrap_or("-"),
                e.str("op").unwrap_or("?"),
                e.str("error").unwrap_or("?")
            )
        })
        .chain(run.all("unsent").into_iter().filter(ours).map(|e| {
            format!(
                "send of {} by {}: {}",
                e.str("key").unwrap_or("?"),
                e.str("producer").unwrap_or("?"),
                e.str("error").unwrap_or("?")
            )
        }))
        .collect();
    report.check(
        format!(
            "{}: every transactional call and send of {producers:?} succeeded",
            run.scenario
        ),
        failed.is_empty(),
        || few(failed),
    );
}

/// `got` (what a reader returned, in order) holds exactly `want` (by partition, offset, key and
/// value), each record once, in offset order within each partition.
fn check_exactly(report: &mut Report, what: &str, got: &[Rec], want: &[Rec]) {
    let mut count: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for r in got {
        *count.entry((r.partition, r.offset)).or_default() += 1;
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    report.check(format!("{what}: no record twice"), twice.is_empty(), || {
        few(twice)
    });
    let got_set: BTreeSet<&Rec> = got.iter().collect();
    let want_set: BTreeSet<&Rec> = want.iter().collect();
    let missing: Vec<_> = want_set.difference(&got_set).collect();
    let extra: Vec<_> = got_set.difference(&want_set).collect();
    report.check(
        format!("{what}: exactly the expected {} records", want_set.len()),
        missing.is_empty() && extra.is_empty() && !want.is_empty(),
        || format!("missing {}; unexpected {}", few(missing), few(extra)),
    );
    let mut last: BTreeMap<i64, i64> = BTreeMap::new();
    let mut disorder = Vec::new();
    for r in got {
        if let Some(prev) = last.insert(r.partition, r.offset) {
            if prev >= r.offset {
                disorder.push((r.partition, prev, r.offset));
            }
        }
    }
    report.check(
        format!("{what}: in offset order within each partition"),
        disorder.is_empty(),
        || format!("(partition, offset, then offset) {}", few(disorder)),
    );
}

/// The producer's `op` failed with one of `classes` (anywhere in the exception chain).
fn check_failed_with(report: &mut Report, what: &str, e: Option<&Event>, classes: &[&str]) {
    let error = e.and_then(|e| e.str("error"));
    report.check(
        format!("{what} fails with one of {classes:?}"),
        error.is_some_and(|m| classes.iter().any(|c| m.contains(c))),
        || format!("{e:?}"),
    );
    if let Some(error) = error {
        eprintln!("info: {what}: {error}");
    }
}

/// `end_offset` lines of `step`: (isolation, via, partition) -> offset (-1: an error).
fn end_offsets(run: &Run, step: &str) -> BTreeMap<(String, String, i64), i64> {
    run.all("end_offset")
        .into_iter()
        .filter(|e| e.str("step") == Some(step))
        .map(|e| {
            (
                (
                    e.str("isolation").unwrap_or("?").to_string(),
                    e.str("via").unwrap_or("?").to_string(),
                    e.int("partition").unwrap_or(-1),
                ),
                e.int("offset").unwrap_or(-1),
            )
        })
        .collect()
}

/// Every isolation/via pair of `step` answers `want(isolation, partition)` for each partition.
fn check_end_offsets(
    report: &mut Report,
    run: &Run,
    step: &str,
    partitions: i64,
    what: &str,
    want: impl Fn(&str, i64) -> i64,
) {
    let got = end_offsets(run, step);
    let mut wrong = Vec::new();
    for isolation in ["read_committed", "read_uncommitted"] {
        for via in ["consumer", "admin"] {
            for partition in 0..partitions {
                let key = (isolation.to_string(), via.to_string(), partition);
                let w = want(isolation, partition);
                match got.get(&key) {
                    Some(o) if *o == w => {}
                    other => wrong.push(format!(
                        "{isolation} by {via} p{partition}: want {w}, got {other:?}"
                    )),
                }
            }
        }
    }
    report.check(
        format!("{}: {what}", run.scenario),
        wrong.is_empty(),
        || wrong.join("; "),
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Consume-transform-produce with a classic (JoinGroup/SyncGroup) consumer group.
fn consume_transform_produce_classic_group(io: IoKind) {
    consume_transform_produce(io, "ctp-classic", "classic");
}

/// Consume-transform-produce with a KIP-848 (ConsumerGroupHeartbeat) consumer group: the
/// TxnOffsetCommit carries the member epoch as the generation.
fn consume_transform_produce_consumer_group(io: IoKind) {
    consume_transform_produce(io, "ctp-consumer", "consumer");
}

/// 30 plain records over 3 partitions; a read_committed consumer of the group and a
/// transactional producer transform them to TOPIC-out, 7 a transaction, each with
/// sendOffsetsToTransaction: the output holds every input record once (read_committed), and the
/// group's committed offsets are the input's end offsets.
fn consume_transform_produce(io: IoKind, name: &str, protocol: &str) {
    let Some(s) = Setup::start(io, &[]) else {
        return;
    };
    let run = s.run(
        name,
        "ctp",
        &[
            p("records", CTP_RECORDS),
            p("partitions", CTP_PARTITIONS),
            p("max_poll", CTP_MAX_POLL),
            p("consumer.group.protocol", protocol),
        ],
    );
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_calls_ok(&mut report, &run, &["P"]);
    let input = produced(&run, &run.topic, |e| e.str("fate") == Some("plain"));
    report.check(
        "ctp: the input was produced",
        input.len() == CTP_RECORDS,
        || format!("{} records", input.len()),
    );
    let out = format!("{}-out", run.topic);
    // The output's offsets are the transactional producer's.
    let mut want: Vec<Rec> = produced(&run, &out, |e| e.str("fate") == Some("commit"));
    want.sort();
    check_exactly(
        &mut report,
        "ctp: read_committed output",
        &read(&run, "read_committed", &out),
        &want,
    );
    let transformed: BTreeMap<String, (i64, String)> = want
        .iter()
        .map(|r| (r.key.clone(), (r.partition, r.value.clone())))
        .collect();
    let wrong: Vec<_> = input
        .iter()
        .filter(|r| transformed.get(&r.key) != Some(&(r.partition, format!("T:{}", r.value))))
        .map(|r| (&r.key, transformed.get(&r.key)))
        .collect();
    report.check(
        "ctp: every input record transformed into the output once, same partition",
        wrong.is_empty() && want.len() == input.len(),
        || format!("{} output records; wrong {}", want.len(), few(wrong)),
    );
    let transactions = run
        .all("txn")
        .iter()
        .filter(|e| e.str("op") == Some("commit"))
        .count();
    report.check(
        "ctp: the input took several transactions",
        transactions >= CTP_RECORDS.div_ceil(CTP_MAX_POLL),
        || format!("{transactions} commits"),
    );
    let ends = end_offsets(&run, "input");
    let committed: BTreeMap<i64, Option<i64>> = run
        .all("committed")
        .into_iter()
        .filter(|e| e.str("step") == Some("after"))
        .map(|e| (e.int("partition").unwrap_or(-1), e.int("offset")))
        .collect();
    let wrong: Vec<_> = (0..CTP_PARTITIONS)
        .filter(|p| {
            let end = ends.get(&("read_uncommitted".into(), "consumer".into(), *p));
            end.is_none() || committed.get(p).copied().flatten() != end.copied()
        })
        .map(|p| (p, committed.get(&p)))
        .collect();
    report.check(
        "ctp: the group's committed offsets equal the input's end offsets",
        wrong.is_empty(),
        || format!("ends {ends:?}, committed (partition, offset) {wrong:?}"),
    );
    report.finish(&[&run]);
}

/// 20 transactions of 10 records over 3 partitions, every third aborted, then one left open
/// while the end offsets are read and committed: read_committed sees exactly the committed
/// records once, in order; read_uncommitted sees them all; the end offsets are the LSO and the
/// high watermark while the transaction is open, and both the log end after its commit.
fn aborts_interleaved_with_commits(io: IoKind) {
    let Some(s) = Setup::start(io, &[]) else {
        return;
    };
    let run = s.run(
        "interleaved",
        "interleaved",
        &[
            p("txns", TXNS),
            p("per_txn", PER_TXN),
            p("partitions", TXN_PARTITIONS),
            p("abort_every", ABORT_EVERY),
        ],
    );
    let topic = run.topic.clone();
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_calls_ok(&mut report, &run, &["P"]);
    let all = produced(&run, &topic, |_| true);
    let committed = produced(&run, &topic, |e| e.str("fate") == Some("commit"));
    let aborted = produced(&run, &topic, |e| e.str("fate") == Some("abort"));
    let aborted_txns = TXNS / ABORT_EVERY;
    report.check(
        "interleaved: every record produced, the aborted ones in their transactions",
        all.len() == (TXNS + 1) * PER_TXN && aborted.len() == aborted_txns * PER_TXN,
        || format!("{} produced, {} aborted", all.len(), aborted.len()),
    );
    let mut want = committed.clone();
    want.sort();
    check_exactly(
        &mut report,
        "interleaved: read_committed",
        &read(&run, "read_committed", &topic),
        &want,
    );
    let mut want_all = all.clone();
    want_all.sort();
    check_exactly(
        &mut report,
        "interleaved: read_uncommitted",
        &read(&run, "read_uncommitted", &topic),
        &want_all,
    );
    let open_label = format!("t{TXNS}");
    let open = produced(&run, &topic, |e| e.str("txn") == Some(open_label.as_str()));
    let first_open = |p: i64| {
        open.iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .min()
            .unwrap_or(-1)
    };
    let last = |records: &[Rec], p: i64| {
        records
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .max()
            .unwrap_or(-1)
    };
    check_end_offsets(
        &mut report,
        &run,
        "open",
        TXN_PARTITIONS,
        "with a transaction open, read_committed's end offset is its first offset (the LSO), \
         read_uncommitted's one past its last record",
        |isolation, p| {
            if isolation == "read_committed" {
                first_open(p)
            } else {
                last(&open, p) + 1
            }
        },
    );
    check_end_offsets(
        &mut report,
        &run,
        "after",
        TXN_PARTITIONS,
        "after the commit, both end offsets are the log end (one past the commit marker)",
        |_, p| last(&all, p) + 2,
    );
    report.finish(&[&run]);
}

/// A committed transaction moves the group's offset to 4; an aborted one with
/// sendOffsetsToTransaction(10) leaves it there: Admin reads 4 and a new member of the group
/// resumes at 4; the output holds only the committed transaction's records.
fn aborted_transaction_keeps_the_group_offset(io: IoKind) {
    let Some(s) = Setup::start(io, &[]) else {
        return;
    };
    let run = s.run(
        "abort-offsets",
        "abort-offsets",
        &[p("records", OFFSET_RECORDS), p("commit_at", COMMIT_AT)],
    );
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_calls_ok(&mut report, &run, &["P"]);
    let committed = |step: &str| {
        run.all("committed")
            .into_iter()
            .find(|e| e.str("step") == Some(step))
            .map(|e| e.int("offset"))
    };
    report.check(
        "abort-offsets: no committed offset before",
        committed("before") == Some(None),
        || format!("{:?}", committed("before")),
    );
    report.check(
        format!("abort-offsets: the committed transaction moved the group to {COMMIT_AT}"),
        committed("after-commit") == Some(Some(COMMIT_AT)),
        || format!("{:?}", committed("after-commit")),
    );
    let resumed = read(&run, "resumed", &run.topic);
    report.check(
        format!("abort-offsets: after the abort a new member resumes at {COMMIT_AT}"),
        resumed.iter().map(|r| r.offset).min() == Some(COMMIT_AT),
        || few(resumed.iter().map(|r| r.offset)),
    );
    report.check(
        format!("abort-offsets: after the abort the committed offset is still {COMMIT_AT}"),
        committed("after-abort") == Some(Some(COMMIT_AT)),
        || format!("{:?}", committed("after-abort")),
    );
    let out = format!("{}-out", run.topic);
    let mut want = produced(&run, &out, |e| e.str("fate") == Some("commit"));
    want.sort();
    report.check(
        "abort-offsets: the committed transaction wrote the records before the offset",
        want.len() == COMMIT_AT as usize,
        || few(&want),
    );
    check_exactly(
        &mut report,
        "abort-offsets: read_committed output",
        &read(&run, "read_committed", &out),
        &want,
    );
    report.finish(&[&run]);
}

/// Producer A opens a transaction; producer B with the same transactional id initTransactions
/// (fencing A and aborting its transaction); A sends once more (Kafka 4.4: the send and the
/// commit fail with InvalidProducerEpochException); B commits.
fn zombie_fenced_on_its_next_send(io: IoKind) {
    zombie_fencing(io, "fenced-send", "send");
}

/// As [`zombie_fenced_on_its_next_send`], but A commits right away (Kafka 4.4:
/// ProducerFencedException from EndTxn).
fn zombie_fenced_on_commit(io: IoKind) {
    zombie_fencing(io, "fenced-commit", "commit");
}

fn zombie_fencing(io: IoKind, name: &str, op: &str) {
    let Some(s) = Setup::start(io, &[]) else {
        return;
    };
    let run = s.run(
        name,
        "fencing",
        &[p("records", RECORDS), p("fenced_op", op)],
    );
    let topic = run.topic.clone();
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_calls_ok(&mut report, &run, &["B"]);
    for step in ["init", "begin", "flush"] {
        report.check(
            format!("fencing: A's {step} before B's init succeeded"),
            txn_op(&run, "A", step).is_some_and(|e| e.is_null("error")),
            || format!("{:?}", txn_op(&run, "A", step)),
        );
    }
    if op == "send" {
        check_failed_with(
            &mut report,
            "fencing: A's send after B's init",
            txn_op(&run, "A", "send-result"),
            FENCED,
        );
    }
    check_failed_with(
        &mut report,
        "fencing: A's commit after B's init",
        txn_op(&run, "A", "commit"),
        FENCED,
    );
    let a = produced(&run, &topic, |e| e.str("producer") == Some("A"));
    let mut b = produced(&run, &topic, |e| e.str("producer") == Some("B"));
    b.sort();
    report.check(
        "fencing: A's records before the fence were written",
        a.len() == RECORDS,
        || few(&a),
    );
    check_exactly(
        &mut report,
        "fencing: read_committed (B's records only)",
        &read(&run, "read_committed", &topic),
        &b,
    );
    let mut everything: Vec<Rec> = a.iter().chain(&b).cloned().collect();
    everything.sort();
    check_exactly(
        &mut report,
        "fencing: read_uncommitted (A's and B's)",
        &read(&run, "read_uncommitted", &topic),
        &everything,
    );
    report.finish(&[&run]);
}

/// A transaction.timeout.ms above the broker's maximum is refused at initTransactions; a
/// transaction left open past its 2 s timeout is aborted by the broker: the late commit fails,
/// read_committed sees none of it, and a fresh producer with the same id commits.
fn transaction_past_its_timeout_is_aborted(io: IoKind) {
    let check_ms = ABORT_CHECK_MS.to_string();
    let Some(s) = Setup::start(io, &["--transaction-abort-check-ms", &check_ms]) else {
        return;
    };
    let sleep_ms = if s.external() {
        EXTERNAL_TIMEOUT_SLEEP_MS
    } else {
        TIMEOUT_SLEEP_MS
    };
    let run = s.run(
        "timeout",
        "timeout",
        &[
            p("records", RECORDS),
            p("txn_timeout_ms", TXN_TIMEOUT_MS),
            p("sleep_ms", sleep_ms),
        ],
    );
    let topic = run.topic.clone();
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_calls_ok(&mut report, &run, &["Q"]);
    let too_long = txn_op(&run, "L", "init");
    report.check(
        "timeout: initTransactions with a timeout above transaction.max.timeout.ms fails \
         (INVALID_TRANSACTION_TIMEOUT)",
        too_long
            .and_then(|e| e.str("error"))
            .is_some_and(|m| m.contains("transaction timeout is larger than the maximum")),
        || format!("{too_long:?}"),
    );
    for step in ["init", "begin", "flush"] {
        report.check(
            format!("timeout: P's {step} succeeded"),
            txn_op(&run, "P", step).is_some_and(|e| e.is_null("error")),
            || format!("{:?}", txn_op(&run, "P", step)),
        );
    }
    let described = admin_op(&run, "describeTransactions", "after-timeout");
    let state = result_field(described, "state").and_then(Json::as_str);
    report.check(
        "timeout: past the timeout, describeTransactions shows the transaction aborted",
        matches!(state, Some("PrepareAbort" | "CompleteAbort")),
        || format!("{described:?}"),
    );
    check_failed_with(
        &mut report,
        "timeout: P's commit after the broker aborted it",
        txn_op(&run, "P", "commit"),
        TIMED_OUT,
    );
    let x = produced(&run, &topic, |e| e.str("producer") == Some("P"));
    let mut y = produced(&run, &topic, |e| e.str("producer") == Some("Q"));
    y.sort();
    report.check(
        "timeout: P's records were written",
        x.len() == RECORDS,
        || few(&x),
    );
    check_exactly(
        &mut report,
        "timeout: read_committed (the fresh producer's records only)",
        &read(&run, "read_committed", &topic),
        &y,
    );
    let mut everything: Vec<Rec> = x.iter().chain(&y).cloned().collect();
    everything.sort();
    check_exactly(
        &mut report,
        "timeout: read_uncommitted (both)",
        &read(&run, "read_uncommitted", &topic),
        &everything,
    );
    report.finish(&[&run]);
}

/// kafka-transactions.sh's calls through Admin: describeTransactions and listTransactions of an
/// open transaction (Ongoing, its partitions, producer id and epoch, timeout, start time), again
/// after its commit, and of an unknown id.
fn describe_and_list_transactions(io: IoKind) {
    let Some(s) = Setup::start(io, &[]) else {
        return;
    };
    let run = s.run(
        "describe",
        "describe",
        &[p("records", 4), p("txn_timeout_ms", DESCRIBE_TIMEOUT_MS)],
    );
    let topic = run.topic.clone();
    let tid = format!("tx-{topic}");
    let mut report = Report::default();
    check_completed(&mut report, &run);
    check_calls_ok(&mut report, &run, &["P"]);
    let open = admin_op(&run, "describeTransactions", "open");
    let field = |k: &str| result_field(open, k);
    let producer_id = field("producer_id").and_then(Json::as_i64);
    let partitions: Option<Vec<&str>> = field("partitions")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect());
    let want_partitions = vec![format!("{topic}-0"), format!("{topic}-1")];
    report.check(
        "describe: the open transaction is Ongoing on both partitions, with the client's timeout",
        field("state").and_then(Json::as_str) == Some("Ongoing")
            && partitions.is_some_and(|p| p == want_partitions)
            && field("timeout_ms").and_then(Json::as_i64) == Some(DESCRIBE_TIMEOUT_MS)
            && producer_id.is_some_and(|id| id >= 0)
            && field("producer_epoch")
                .and_then(Json::as_i64)
                .is_some_and(|e| e >= 0),
        || format!("{open:?}"),
    );
    let done = run.done();
    let begin = done.and_then(|d| d.int("begin_ms")).unwrap_or(i64::MAX);
    let flushed = done.and_then(|d| d.int("flushed_ms")).unwrap_or(i64::MIN);
    let start = field("start_ms").and_then(Json::as_i64);
    report.check(
        "describe: its start time lies between begin and the flush",
        start.is_some_and(|t| t >= begin - START_SLACK_MS && t <= flushed + START_SLACK_MS),
        || format!("start {start:?}, begin {begin}, flushed {flushed}"),
    );
    let listed = |step: &str| -> Vec<(String, Option<i64>, String)> {
        admin_op(&run, "listTransactions", step)
            .and_then(|e| e.get("result"))
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .map(|l| {
                (
                    l.get("transactional_id")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    l.get("producer_id").and_then(Json::as_i64),
                    l.get("state")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    };
    let ongoing = (tid.clone(), producer_id, "Ongoing".to_string());
    for step in ["open", "open-ongoing", "open-by-producer"] {
        let l = listed(step);
        report.check(
            format!("describe: listTransactions ({step}) lists it as Ongoing with its producer id"),
            l.contains(&ongoing),
            || few(&l),
        );
    }
    let filtered = listed("open-ongoing");
    report.check(
        "describe: listTransactions filtered by state Ongoing lists only Ongoing transactions",
        filtered.iter().all(|(_, _, state)| state == "Ongoing"),
        || few(&filtered),
    );
    let by_producer = listed("open-by-producer");
    report.check(
        "describe: listTransactions filtered by producer id lists only that producer",
        by_producer.iter().all(|(_, id, _)| *id == producer_id),
        || few(&by_producer),
    );
    if let Some(producers) = admin_op(&run, "describeProducers", "open") {
        eprintln!(
            "info: describeProducers of the open transaction: {:?} {:?}",
            producers.get("result"),
            producers.str("error")
        );
    }
    let committed = admin_op(&run, "describeTransactions", "committed");
    let state = result_field(committed, "state").and_then(Json::as_str);
    report.check(
        "describe: after the commit it is PrepareCommit or CompleteCommit, same producer id",
        matches!(state, Some("PrepareCommit" | "CompleteCommit"))
            && result_field(committed, "producer_id").and_then(Json::as_i64) == producer_id,
        || format!("{committed:?}"),
    );
    let after = listed("committed");
    report.check(
        "describe: after the commit listTransactions lists it committing or committed",
        after.iter().any(|(id, pid, state)| {
            *id == tid
                && *pid == producer_id
                && (state == "PrepareCommit" || state == "CompleteCommit")
        }),
        || few(&after),
    );
    let unknown = admin_op(&run, "describeTransactions", "unknown");
    report.check(
        "describe: an unknown transactional id fails with TransactionalIdNotFoundException",
        unknown.and_then(|e| e.str("error_class")) == Some("TransactionalIdNotFoundException"),
        || format!("{unknown:?}"),
    );
    report.finish(&[&run]);
}

/// A ringlog data directory and port for the SIGKILL tests, and the driver's classpath; `None`
/// without Java or against another broker (after saying so).
fn sigkill_setup() -> Option<(&'static str, tempfile::TempDir, u16)> {
    let cp = java_classpath()?;
    if std::env::var(EXTERNAL_BROKER_ENV).is_ok() {
        eprintln!("SKIPPED against an external broker: this test kills and restarts its broker");
        return None;
    }
    Some((cp, tempfile::tempdir().expect("temp dir"), free_port()))
}

/// `ringlog serve --flush always` killed (SIGKILL) between AddPartitionsToTxn and EndTxn: a
/// committed transaction (c*), then an open one (o*, flushed, the driver halts); after the
/// restart a new producer with the same transactional id commits n*: read_committed sees c* and
/// n* only, read_uncommitted all three.
fn sigkill_between_add_partitions_and_end_txn(io: IoKind) {
    let Some((cp, dir, port)) = sigkill_setup() else {
        return;
    };
    let addr = format!("127.0.0.1:{port}");
    let (topic, group) = ("txn-sigkill-open", "g-sigkill-open");
    let run = |scenario: &str, params: &[(&str, String)]| {
        driver(cp, &addr, topic, group, scenario, params)
    };
    let txn = |prefix: &str, end: &str| {
        run(
            "txn",
            &[
                p("prefix", prefix),
                p("end", end),
                p("records", RECORDS),
                p("partitions", 2),
            ],
        )
    };
    let mut broker = serve(dir.path(), port, io, &["--flush", "always"], &[]);
    let first = txn("c", "commit");
    let open = txn("o", "open");
    broker.0.kill().expect("SIGKILL ringlog serve");
    broker.0.wait().expect("reap ringlog serve");
    let _broker = serve(dir.path(), port, io, &["--flush", "always"], &[]);
    let after = txn("n", "commit");
    let reads = run("read", &[]);

    let mut report = Report::default();
    for r in [&first, &after, &reads] {
        check_completed(&mut report, r);
    }
    let committed = |r: &Run| r.done().and_then(|d| d.get("committed")) == Some(&Json::Bool(true));
    report.check("before the kill: c* committed", committed(&first), || {
        first.transcript()
    });
    report.check(
        "before the kill: o* written and left open",
        open.all("open").len() == 1 && produced(&open, topic, |_| true).len() == RECORDS,
        || open.transcript(),
    );
    report.check(
        "after the restart: a new producer with the same id commits n*",
        committed(&after),
        || after.transcript(),
    );
    let c = produced(&first, topic, |_| true);
    let o = produced(&open, topic, |_| true);
    let n = produced(&after, topic, |_| true);
    let mut want: Vec<Rec> = c.iter().chain(&n).cloned().collect();
    want.sort();
    let got = read(&reads, "read_committed", topic);
    check_exactly(
        &mut report,
        "after the restart: read_committed (c*, n*)",
        &got,
        &want,
    );
    let leaked: Vec<_> = got.iter().filter(|r| r.key.starts_with('o')).collect();
    report.check(
        "after the restart: read_committed never sees the killed transaction's records",
        leaked.is_empty(),
        || few(leaked),
    );
    let mut everything: Vec<Rec> = c.iter().chain(&o).chain(&n).cloned().collect();
    everything.sort();
    check_exactly(
        &mut report,
        "after the restart: read_uncommitted (c*, o*, n*)",
        &read(&reads, "read_uncommitted", topic),
        &everything,
    );
    report.finish(&[&first, &open, &after, &reads]);
}

/// `ringlog serve` with `RINGLOG_TEST_CRASH_AT=txn-prepared` kills (or aborts) itself right after the
/// PrepareCommit of a transaction (p*) is durable; restarted without it, the broker completes the
/// commit: read_committed sees p* and the transaction committed before (c*, on an earlier
/// serve). The client's commitTransaction, which retries EndTxn across the restart, succeeds
/// (Kafka's coordinator answers a retried EndTxn of the same epoch with CONCURRENT_TRANSACTIONS
/// while PrepareCommit, NONE once CompleteCommit).
fn sigkill_after_prepare_commit_completes_it(io: IoKind) {
    let Some((cp, dir, port)) = sigkill_setup() else {
        return;
    };
    let addr = format!("127.0.0.1:{port}");
    let (topic, group) = ("txn-sigkill-prepared", "g-sigkill-prepared");
    let txn_params = |prefix: &str| {
        vec![
            p("prefix", prefix),
            p("end", "commit"),
            p("records", RECORDS),
            p("partitions", 2),
            p("block_ms", CRASH_BLOCK_MS),
        ]
    };
    let flush = ["--flush", "always"];
    let mut broker = serve(dir.path(), port, io, &flush, &[]);
    let first = driver(cp, &addr, topic, group, "txn", &txn_params("c"));
    broker.0.kill().expect("SIGKILL ringlog serve");
    broker.0.wait().expect("reap ringlog serve");

    let mut crashing = serve(
        dir.path(),
        port,
        io,
        &flush,
        &[(CRASH_ENV, CRASH_AT_PREPARED)],
    );
    let committing = {
        let addr = addr.clone();
        let params = txn_params("p");
        std::thread::spawn(move || driver(cp, &addr, topic, group, "txn", &params))
    };
    // The broker kills itself at the commit's prepare; killed here if it does not.
    let deadline = Instant::now() + CRASH_WAIT;
    let crashed = loop {
        match crashing.0.try_wait().expect("wait for ringlog serve") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    if crashed.is_none() {
        let _ = crashing.0.kill();
        let _ = crashing.0.wait();
    }
    let _broker = serve(dir.path(), port, io, &flush, &[]);
    let commit = committing.join().expect("the committing driver thread");
    let reads = driver(cp, &addr, topic, group, "read", &[]);

    let mut report = Report::default();
    for r in [&first, &commit, &reads] {
        check_completed(&mut report, r);
    }
    let committed = |r: &Run| r.done().and_then(|d| d.get("committed")) == Some(&Json::Bool(true));
    report.check("before: c* committed", committed(&first), || {
        first.transcript()
    });
    {
        use std::os::unix::process::ExitStatusExt;
        report.check(
            format!(
                "{CRASH_ENV}={CRASH_AT_PREPARED}: ringlog serve killed itself (SIGKILL or \
                 SIGABRT) during the commit"
            ),
            crashed.is_some_and(|s| s.signal().is_some_and(|sig| CRASH_SIGNALS.contains(&sig))),
            || format!("exit status {crashed:?} (None: still running after {CRASH_WAIT:?})"),
        );
    }
    report.check(
        "the commit retried across the restart succeeded",
        committed(&commit),
        || format!("{:?}", txn_op(&commit, "P", "commit")),
    );
    let c = produced(&first, topic, |_| true);
    let pending = produced(&commit, topic, |_| true);
    report.check(
        "p* were written before the commit",
        pending.len() == RECORDS,
        || few(&pending),
    );
    let mut want: Vec<Rec> = c.iter().chain(&pending).cloned().collect();
    want.sort();
    check_exactly(
        &mut report,
        "after the restart: read_committed (c*, and p* whose prepared commit completed)",
        &read(&reads, "read_committed", topic),
        &want,
    );
    check_exactly(
        &mut report,
        "after the restart: read_uncommitted (c*, p*)",
        &read(&reads, "read_uncommitted", topic),
        &want,
    );
    report.finish(&[&first, &commit, &reads]);
}
