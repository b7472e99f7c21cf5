//! Transactions (issue #18) through real clients, on both drivers: librdkafka (the `rdkafka`
//! crate, the library confluent-kafka wraps) and kafka-python (driven through
//! `tests/python/txn_kafka_python.py`, its version pinned in `tests/python/requirements.txt`).
//!
//! The scenarios:
//! - a transactional producer of each client (init, then transactions sending to two partitions,
//!   commits and aborts interleaved, the last one left open by a producer that died or hangs),
//!   then a later transaction of another transactional id committed after the open one:
//!   read_committed consumers of both clients see exactly the committed records once, in order
//!   per partition, and nothing past the open transaction (the last stable offset: their end
//!   offset is its first record); read_uncommitted consumers see every record. A new producer
//!   instance with the same transactional id then aborts the open transaction, and
//!   read_committed consumers see the later transaction too;
//! - consume-transform-produce with send_offsets_to_transaction (librdkafka, and kafka-python,
//!   which supports it since 2.1): after each commit the group's committed offsets are exactly
//!   what was sent, after each abort they are unchanged (and the loop rewinds to them); in the
//!   end the output read_committed holds every input record transformed exactly once, in order;
//! - zombie fencing (librdkafka): a new instance with the same transactional id aborts the
//!   previous one's open transaction; the previous one gets a fatal fenced error, at its next
//!   produce (the partition refuses its old epoch) or at its commit (EndTxn with an old epoch),
//!   and read_committed consumers see only committed transactions.
//!
//! By default each test starts a ringlog broker (two shards) on a free loopback port. With
//! `RINGLOG_TXN_CLIENTS_BOOTSTRAP=host:port` the tests run against that broker instead (Apache
//! Kafka 4.4 as the reference); every topic, group and transactional id then carries the test,
//! driver, process and time, so runs never meet.
//!
//! Each test runs its checks to the end and then fails listing all that did not hold. Loopback
//! only; every wait is bounded.

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use ringlog::broker::Broker;
use ringlog::runtime::IoKind;

both_drivers!(
    rdkafka_transactions_read_by_both_clients,
    kafka_python_transactions_read_by_both_clients,
    rdkafka_consume_transform_produce_with_offsets,
    kafka_python_consume_transform_produce_with_offsets,
    rdkafka_zombie_producer_is_fenced,
);

/// Points the tests at another broker (host:port) instead of starting ringlog.
const BOOTSTRAP_ENV: &str = "RINGLOG_TXN_CLIENTS_BOOTSTRAP";
/// Longest one client operation may take (init, commit, abort, flush, a topic's creation).
const STEP_WAIT: Duration = Duration::from_secs(30);
/// Longest a consumer may take to get its expected records.
const CONSUME_WAIT: Duration = Duration::from_secs(45);
/// After a consumer has its expected records it reads this much longer, to catch extras.
const QUIET: Duration = Duration::from_secs(1);
/// A kafka-python script run is killed after this (its own steps are bounded by 45 s each).
const SCRIPT_WAIT: Duration = Duration::from_secs(120);
/// Every topic's partition count (a transaction spans both).
const PARTITIONS: i32 = 2;
/// Records per partition per transaction.
const PER_PARTITION: usize = 5;
/// The transactions of the read_committed scenario, in order: C commit, A abort, O left open
/// (last only).
const PLAN: &str = "CACCAACO";
/// The transaction timeout asked by every transactional producer, ms: an open transaction must
/// outlive the consumers that look at it.
const TRANSACTION_TIMEOUT_MS: &str = "60000";
/// Records per input partition of a consume-transform-produce run.
const CTP_RECORDS: usize = 20;
/// Most input records a consume-transform-produce round takes.
const CTP_BATCH: usize = 7;
/// Commits and aborts of consume-transform-produce rounds, repeated.
const CTP_PLAN: &str = "CAACAC";
/// Most rounds of a consume-transform-produce run.
const CTP_ROUNDS_MAX: usize = 60;
/// How long a consume-transform-produce round gathers records before it uses what it has.
const CTP_GATHER: Duration = Duration::from_secs(1);
/// A whole consume-transform-produce run must end within this.
const CTP_WAIT: Duration = Duration::from_secs(90);
/// How many differing records a failed check lists.
const SHOWN_MAX: usize = 6;

// ---------------------------------------------------------------------------------------------
// Checks

/// Every check of a test, run to the end; `finish` fails the test listing those that failed.
#[derive(Default)]
struct Checks {
    failed: Vec<String>,
    total: usize,
}

impl Checks {
    fn check(&mut self, name: impl Into<String>, ok: bool, why: impl FnOnce() -> String) {
        let name = name.into();
        self.total += 1;
        if ok {
            eprintln!("PASS {name}");
        } else {
            let why = why();
            eprintln!("FAIL {name}: {why}");
            self.failed.push(format!("  {name}: {why}"));
        }
    }

    /// A step the rest of the scenario depends on: its error ends the scenario as a failure.
    fn steps(&mut self, name: &str, r: Result<(), String>) {
        let why = r.as_ref().err().cloned().unwrap_or_default();
        self.check(name, r.is_ok(), || why);
    }

    fn finish(self, what: &str) {
        assert!(
            self.failed.is_empty(),
            "{what}: {} of {} checks failed:\n{}",
            self.failed.len(),
            self.total,
            self.failed.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The broker under test

/// The broker the clients talk to: a ringlog started here, or the one `BOOTSTRAP_ENV` names.
struct Target {
    bootstrap: String,
    /// Unique per test run: the start of every name the test creates.
    prefix: String,
    broker: Option<Broker>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    fn new(io: IoKind, scenario: &str) -> Target {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() % 1_000_000_000_000)
            .unwrap_or_default();
        let io_name = format!("{io:?}").to_lowercase();
        let prefix = format!("txn-{scenario}-{io_name}-{}-{nanos}", std::process::id());
        match std::env::var(BOOTSTRAP_ENV) {
            Ok(bootstrap) if !bootstrap.is_empty() => {
                eprintln!("{BOOTSTRAP_ENV}: testing the broker at {bootstrap}");
                Target {
                    bootstrap,
                    prefix,
                    broker: None,
                    _dir: None,
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let broker = support::start_broker(io, dir.path(), 2, |_| {});
                Target {
                    bootstrap: broker.local_addr().to_string(),
                    prefix,
                    broker: Some(broker),
                    _dir: Some(dir),
                }
            }
        }
    }

    fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("socket.timeout.ms", "10000")
            .set("log_level", "3");
        c
    }

    fn create_topics(&self, names: &[&str]) -> Result<(), String> {
        let admin: AdminClient<DefaultClientContext> = self
            .client()
            .create()
            .map_err(|e| format!("admin client: {e}"))?;
        let topics: Vec<NewTopic> = names
            .iter()
            .map(|n| NewTopic::new(n, PARTITIONS, TopicReplication::Fixed(1)))
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(STEP_WAIT));
        let results = futures_executor::block_on(admin.create_topics(&topics, &opts))
            .map_err(|e| format!("create topics {names:?}: {e}"))?;
        for r in results {
            r.map_err(|(t, e)| format!("create topic {t}: {e}"))?;
        }
        Ok(())
    }

    /// A transactional producer with `txn_id`, initialised.
    fn txn_producer(&self, txn_id: &str) -> Result<BaseProducer, String> {
        let p: BaseProducer = self
            .client()
            .set("transactional.id", txn_id)
            .set("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS)
            .set("message.timeout.ms", "30000")
            .set("linger.ms", "5")
            .create()
            .map_err(|e| format!("producer {txn_id}: {e}"))?;
        p.init_transactions(STEP_WAIT)
            .map_err(|e| format!("init_transactions of {txn_id}: {e}"))?;
        Ok(p)
    }

    /// A librdkafka consumer with `level`, no group membership (assign), every partition of
    /// `topic` from the beginning: reads until it has `expected` records, then `QUIET` more.
    /// Its end offsets come from ListOffsets with its isolation level.
    fn rd_consume(&self, topic: &str, level: &str, expected: usize) -> Consumed {
        let mut got = Consumed::default();
        let consumer: BaseConsumer = match self
            .client()
            .set("group.id", self.name("assign-only"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", level)
            .set("fetch.wait.max.ms", "100")
            .create()
        {
            Ok(c) => c,
            Err(e) => {
                got.errors.push(format!("consumer: {e}"));
                return got;
            }
        };
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            let _ = tpl.add_partition_offset(topic, p, Offset::Beginning);
        }
        if let Err(e) = consumer.assign(&tpl) {
            got.errors.push(format!("assign: {e}"));
            return got;
        }
        let deadline = Instant::now() + CONSUME_WAIT;
        let mut quiet_until: Option<Instant> = None;
        let mut count = 0;
        loop {
            let now = Instant::now();
            if quiet_until.is_none() && (count >= expected || now > deadline) {
                quiet_until = Some(now + QUIET);
            }
            if quiet_until.is_some_and(|q| now > q) {
                break;
            }
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(e)) => got.errors.push(format!("poll: {e}")),
                Some(Ok(m)) => {
                    let value = String::from_utf8_lossy(m.payload().unwrap_or_default());
                    got.records
                        .entry(m.partition())
                        .or_default()
                        .push((m.offset(), value.into_owned()));
                    count += 1;
                }
            }
        }
        for p in 0..PARTITIONS {
            match consumer.fetch_watermarks(topic, p, STEP_WAIT) {
                Ok((_, high)) => {
                    got.ends.insert(p, (None, high));
                }
                Err(e) => got.errors.push(format!("watermarks of {p}: {e}")),
            }
        }
        got
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.take() {
            broker.shutdown();
            let _ = broker.join();
        }
    }
}

/// Sends `value` to `partition` of `topic`, waiting (bounded) while the local queue is full.
fn send(p: &BaseProducer, topic: &str, partition: i32, value: &str) -> Result<(), String> {
    let deadline = Instant::now() + STEP_WAIT;
    let mut record = BaseRecord::<(), str>::to(topic)
        .partition(partition)
        .payload(value);
    loop {
        match p.send(record) {
            Ok(()) => {
                p.poll(Duration::ZERO);
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                if Instant::now() < deadline =>
            {
                p.poll(Duration::from_millis(10));
                record = r;
            }
            Err((e, _)) => return Err(format!("send {value} to {topic}/{partition}: {e}")),
        }
    }
}

/// Ends the open transaction of `p`: commit (`'C'`) or abort (`'A'`), after a flush so that its
/// records are in the log either way.
fn end_transaction(p: &BaseProducer, letter: char) -> Result<(), String> {
    p.flush(STEP_WAIT).map_err(|e| format!("flush: {e}"))?;
    match letter {
        'C' => p
            .commit_transaction(STEP_WAIT)
            .map_err(|e| format!("commit_transaction: {e}")),
        'A' => p
            .abort_transaction(STEP_WAIT)
            .map_err(|e| format!("abort_transaction: {e}")),
        other => Err(format!("no transaction end {other:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// What consumers saw, and what they should see

/// Values per partition, in order.
type Values = BTreeMap<i32, Vec<String>>;

/// What one consumer saw.
#[derive(Default, Debug, Clone)]
struct Consumed {
    /// partition -> (offset, value), in delivery order.
    records: BTreeMap<i32, Vec<(i64, String)>>,
    /// partition -> (position when the client reports it, end offset for its isolation level).
    ends: BTreeMap<i32, (Option<i64>, i64)>,
    errors: Vec<String>,
}

impl Consumed {
    fn count(&self) -> usize {
        self.records.values().map(Vec::len).sum()
    }

    fn offset_of(&self, partition: i32, value: &str) -> Option<i64> {
        self.records
            .get(&partition)?
            .iter()
            .find(|(_, v)| v == value)
            .map(|(o, _)| *o)
    }
}

fn count(values: &Values) -> usize {
    values.values().map(Vec::len).sum()
}

/// `got` holds exactly `want`: per partition the same values in the same order, each once, at
/// increasing offsets, and no error.
fn check_records(c: &mut Checks, name: &str, got: &Consumed, want: &Values) {
    c.check(
        format!("{name}: no client error"),
        got.errors.is_empty(),
        || got.errors.join("; "),
    );
    for p in 0..PARTITIONS {
        let seen: Vec<&str> = got
            .records
            .get(&p)
            .map(|r| r.iter().map(|(_, v)| v.as_str()).collect())
            .unwrap_or_default();
        let expected: Vec<&str> = want
            .get(&p)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        c.check(
            format!("{name}: partition {p} holds exactly the expected records, in order"),
            seen == expected,
            || describe_difference(&seen, &expected),
        );
        let offsets: Vec<i64> = got
            .records
            .get(&p)
            .map(|r| r.iter().map(|(o, _)| *o).collect())
            .unwrap_or_default();
        c.check(
            format!("{name}: partition {p} offsets increase"),
            offsets.windows(2).all(|w| w[0] < w[1]),
            || format!("offsets {offsets:?}"),
        );
    }
}

fn describe_difference(seen: &[&str], expected: &[&str]) -> String {
    let first = seen
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(seen.len().min(expected.len()));
    let missing: Vec<&&str> = expected
        .iter()
        .filter(|v| !seen.contains(v))
        .take(SHOWN_MAX)
        .collect();
    let extra: Vec<&&str> = seen
        .iter()
        .filter(|v| !expected.contains(v))
        .take(SHOWN_MAX)
        .collect();
    format!(
        "saw {} records, expected {}; first difference at #{first} (saw {:?}, expected {:?}); \
         missing (first {SHOWN_MAX}) {missing:?}; unexpected (first {SHOWN_MAX}) {extra:?}",
        seen.len(),
        expected.len(),
        seen.get(first),
        expected.get(first)
    )
}

/// Every record `a` saw is at the same offset in `b` (two consumers of one log agree).
fn check_same_offsets(c: &mut Checks, name: &str, a: &Consumed, b: &Consumed) {
    let differing: Vec<String> = a
        .records
        .iter()
        .flat_map(|(p, r)| r.iter().map(move |(o, v)| (*p, *o, v)))
        .filter(|(p, o, v)| b.offset_of(*p, v) != Some(*o))
        .take(SHOWN_MAX)
        .map(|(p, o, v)| format!("{v} at {p}/{o} vs {:?}", b.offset_of(p, v)))
        .collect();
    c.check(name, differing.is_empty(), || differing.join(", "));
}

/// The end offset each partition's consumer reported is `want`, and so is its position when the
/// client reports one.
fn check_ends(c: &mut Checks, name: &str, got: &Consumed, want: &BTreeMap<i32, i64>) {
    for (p, end) in want {
        let seen = got.ends.get(p);
        c.check(
            format!("{name}: partition {p} end offset is {end}"),
            seen.is_some_and(|(_, e)| e == end),
            || format!("end (position, end) {seen:?}"),
        );
        if let Some((Some(position), _)) = seen {
            c.check(
                format!("{name}: partition {p} position reached {end}"),
                position == end,
                || format!("position {position}"),
            );
        }
    }
}

/// The values of the read_committed scenario's transactions: per partition, every record and
/// only those of committed transactions, in the order sent.
fn plan_values(tag: &str, plan: &str) -> (Values, Values) {
    let (mut committed, mut all) = (Values::new(), Values::new());
    for (round, letter) in plan.chars().enumerate() {
        for p in 0..PARTITIONS {
            for i in 0..PER_PARTITION {
                let v = format!("{tag}-r{round}-p{p}-{i}");
                all.entry(p).or_default().push(v.clone());
                if letter == 'C' {
                    committed.entry(p).or_default().push(v);
                }
            }
        }
    }
    (committed, all)
}

fn concat(a: &Values, b: &Values) -> Values {
    let mut out = a.clone();
    for (p, v) in b {
        out.entry(*p).or_default().extend(v.iter().cloned());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// kafka-python

/// What one run of the script printed.
#[derive(Default)]
struct Script {
    /// Consumers by isolation level.
    consumed: BTreeMap<String, Consumed>,
    /// Transactions ended by `produce`: (round, letter).
    ended: Vec<(usize, char)>,
    /// `ctp` rounds: (letter, partition -> offset sent).
    rounds: Vec<(char, BTreeMap<i32, i64>)>,
    /// The script's own failed checks and errors.
    failures: Vec<String>,
    ok: bool,
    text: String,
}

fn run_script(py: &Path, args: &[&str]) -> Script {
    let started = Instant::now();
    let out = support::run_bounded(
        Command::new(py)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/txn_kafka_python.py"
            ))
            .args(args),
        SCRIPT_WAIT,
    );
    eprintln!("kafka-python {}: {:?}", args[0], started.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut s = Script {
        ok: out.status.success(),
        ..Script::default()
    };
    for line in stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[..] {
            ["R", level, p, o, v] => {
                if let (Ok(p), Ok(o)) = (p.parse(), o.parse()) {
                    s.consumed
                        .entry(level.to_string())
                        .or_default()
                        .records
                        .entry(p)
                        .or_default()
                        .push((o, v.to_string()));
                    continue;
                }
            }
            ["P", level, p, position, end] => {
                if let (Ok(p), Ok(position), Ok(end)) = (p.parse(), position.parse(), end.parse()) {
                    s.consumed
                        .entry(level.to_string())
                        .or_default()
                        .ends
                        .insert(p, (Some(position), end));
                    continue;
                }
            }
            ["T", round, letter] => {
                if let (Ok(round), Some(letter)) = (round.parse(), letter.chars().next()) {
                    s.ended.push((round, letter));
                    continue;
                }
            }
            ["K", _, letter, sent] => {
                let offsets: Option<BTreeMap<i32, i64>> = sent
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| {
                        let (p, o) = x.split_once('=')?;
                        Some((p.parse().ok()?, o.parse().ok()?))
                    })
                    .collect();
                if let (Some(letter), Some(offsets)) = (letter.chars().next(), offsets) {
                    s.rounds.push((letter, offsets));
                    continue;
                }
            }
            _ if line.starts_with("PASS ") => continue,
            _ if line.starts_with("FAIL ") || line.starts_with("E\t") => {
                s.failures.push(line.to_string());
                continue;
            }
            _ => {}
        }
        s.failures.push(format!("unparsed line {line:?}"));
    }
    s.text = format!(
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    s
}

impl Script {
    /// Fails the check `name` with the script's output unless it exited 0 with no failure.
    fn check_ran(&self, c: &mut Checks, name: &str) {
        c.check(name, self.ok && self.failures.is_empty(), || {
            format!("failures {:?}; {}", self.failures, self.text)
        });
    }
}

/// kafka-python consumers of `topic` from the beginning, one per `(level, expected)`.
fn py_consume(py: &Path, t: &Target, topic: &str, levels: &[(&str, usize)]) -> Script {
    let partitions = PARTITIONS.to_string();
    let specs: Vec<String> = levels.iter().map(|(l, n)| format!("{l}:{n}")).collect();
    let mut args = vec!["consume", &t.bootstrap, topic, &partitions];
    args.extend(specs.iter().map(String::as_str));
    run_script(py, &args)
}

fn py_consumed<'a>(s: &'a Script, level: &str) -> std::borrow::Cow<'a, Consumed> {
    match s.consumed.get(level) {
        Some(c) => std::borrow::Cow::Borrowed(c),
        None => std::borrow::Cow::Owned(Consumed {
            errors: vec![format!("no output for {level}: {:?}", s.failures)],
            ..Consumed::default()
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// A transactional producer of each client, read by consumers of both

/// Which client runs the transactional producer.
#[derive(Clone, Copy, PartialEq)]
enum Client {
    Rdkafka,
    KafkaPython,
}

fn rdkafka_transactions_read_by_both_clients(io: IoKind) {
    transactions_read_by_both_clients(io, Client::Rdkafka);
}

fn kafka_python_transactions_read_by_both_clients(io: IoKind) {
    transactions_read_by_both_clients(io, Client::KafkaPython);
}

fn transactions_read_by_both_clients(io: IoKind, producer: Client) {
    let what = match producer {
        Client::Rdkafka => "librdkafka transactions",
        Client::KafkaPython => "kafka-python transactions",
    };
    let py = support::python_or_skip(what);
    if producer == Client::KafkaPython && py.is_none() {
        return;
    }
    let t = Target::new(
        io,
        if producer == Client::Rdkafka {
            "rd"
        } else {
            "py"
        },
    );
    let mut c = Checks::default();
    let r = read_committed_steps(&t, &mut c, producer, py.as_deref());
    c.steps("every step ran", r);
    c.finish(what);
}

fn read_committed_steps(
    t: &Target,
    c: &mut Checks,
    producer: Client,
    py: Option<&Path>,
) -> Result<(), String> {
    let topic = t.name("data");
    t.create_topics(&[&topic])?;
    let txn_id = t.name("producer");
    let (committed, all) = plan_values("tx", PLAN);

    // 1. The plan's transactions; the last stays open. librdkafka's producer is kept (a hung
    // producer), kafka-python's script dies with it open.
    let hung = match producer {
        Client::Rdkafka => {
            let p = t.txn_producer(&txn_id)?;
            for (round, letter) in PLAN.chars().enumerate() {
                p.begin_transaction()
                    .map_err(|e| format!("begin_transaction {round}: {e}"))?;
                for part in 0..PARTITIONS {
                    for i in 0..PER_PARTITION {
                        send(&p, &topic, part, &format!("tx-r{round}-p{part}-{i}"))?;
                    }
                }
                if letter == 'O' {
                    p.flush(STEP_WAIT)
                        .map_err(|e| format!("flush of the open transaction: {e}"))?;
                } else {
                    end_transaction(&p, letter).map_err(|e| format!("round {round}: {e}"))?;
                }
            }
            Some(p)
        }
        Client::KafkaPython => {
            let py = py.ok_or("no python")?;
            let per = PER_PARTITION.to_string();
            let s = run_script(
                py,
                &["produce", &t.bootstrap, &topic, &txn_id, PLAN, &per, "tx"],
            );
            s.check_ran(c, "kafka-python producer ran its plan");
            let want: Vec<(usize, char)> = PLAN.chars().enumerate().collect();
            if s.ended != want {
                return Err(format!(
                    "kafka-python producer ended {:?}, planned {want:?}: {}",
                    s.ended, s.text
                ));
            }
            None
        }
    };

    // 2. A later transaction of another transactional id, committed after the open one's
    // records: read_committed must not see it while the open one is before it.
    let later: Values = (0..PARTITIONS)
        .map(|p| {
            let v = (0..PER_PARTITION).map(|i| format!("later-p{p}-{i}"));
            (p, v.collect())
        })
        .collect();
    {
        let p = t.txn_producer(&t.name("later"))?;
        p.begin_transaction()
            .map_err(|e| format!("later begin_transaction: {e}"))?;
        for (part, values) in &later {
            for v in values {
                send(&p, &topic, *part, v)?;
            }
        }
        end_transaction(&p, 'C').map_err(|e| format!("later transaction: {e}"))?;
    }
    let everything = concat(&all, &later);

    // 3. Consumers while the transaction is open.
    let rd_ru = t.rd_consume(&topic, "read_uncommitted", count(&everything));
    check_records(c, "open: librdkafka read_uncommitted", &rd_ru, &everything);
    let rd_rc = t.rd_consume(&topic, "read_committed", count(&committed));
    check_records(c, "open: librdkafka read_committed", &rd_rc, &committed);
    check_same_offsets(
        c,
        "open: librdkafka read_committed offsets = read_uncommitted offsets",
        &rd_rc,
        &rd_ru,
    );
    // The last stable offset of each partition is the open transaction's first record.
    let open_round = PLAN.len() - 1;
    let lso: BTreeMap<i32, i64> = (0..PARTITIONS)
        .filter_map(|p| {
            let first = format!("tx-r{open_round}-p{p}-0");
            Some((p, rd_ru.offset_of(p, &first)?))
        })
        .collect();
    c.check(
        "open: the open transaction's first offsets are known",
        lso.len() == PARTITIONS as usize,
        || format!("{lso:?}"),
    );
    check_ends(c, "open: librdkafka read_committed", &rd_rc, &lso);
    let hw: BTreeMap<i32, i64> = rd_ru.ends.iter().map(|(p, (_, e))| (*p, *e)).collect();
    if let Some(py) = py {
        let s = py_consume(
            py,
            t,
            &topic,
            &[
                ("read_committed", count(&committed)),
                ("read_uncommitted", count(&everything)),
            ],
        );
        s.check_ran(c, "open: kafka-python consumers ran");
        let rc = py_consumed(&s, "read_committed");
        let ru = py_consumed(&s, "read_uncommitted");
        check_records(c, "open: kafka-python read_committed", &rc, &committed);
        check_records(c, "open: kafka-python read_uncommitted", &ru, &everything);
        check_same_offsets(
            c,
            "open: kafka-python read_uncommitted offsets = librdkafka's",
            &ru,
            &rd_ru,
        );
        check_ends(c, "open: kafka-python read_committed", &rc, &lso);
        check_ends(c, "open: kafka-python read_uncommitted", &ru, &hw);
    } else {
        eprintln!("SKIPPED: kafka-python consumers (no Python clients here)");
    }

    // 4. A new instance with the same transactional id aborts the open transaction.
    {
        let _new = t.txn_producer(&txn_id)?;
    }
    drop(hung);

    // 5. Now read_committed sees the later transaction as well.
    let committed_after = concat(&committed, &later);
    let rd_rc = t.rd_consume(&topic, "read_committed", count(&committed_after));
    check_records(
        c,
        "resolved: librdkafka read_committed",
        &rd_rc,
        &committed_after,
    );
    check_same_offsets(
        c,
        "resolved: librdkafka read_committed offsets = read_uncommitted offsets",
        &rd_rc,
        &rd_ru,
    );
    // No open transaction: the end is the log end (past the abort markers).
    let rd_ru_after = t.rd_consume(&topic, "read_uncommitted", count(&everything));
    check_records(
        c,
        "resolved: librdkafka read_uncommitted",
        &rd_ru_after,
        &everything,
    );
    let hw_after: BTreeMap<i32, i64> = rd_ru_after
        .ends
        .iter()
        .map(|(p, (_, e))| (*p, *e))
        .collect();
    check_ends(c, "resolved: librdkafka read_committed", &rd_rc, &hw_after);
    if let Some(py) = py {
        let s = py_consume(
            py,
            t,
            &topic,
            &[("read_committed", count(&committed_after))],
        );
        s.check_ran(c, "resolved: kafka-python consumer ran");
        let rc = py_consumed(&s, "read_committed");
        check_records(
            c,
            "resolved: kafka-python read_committed",
            &rc,
            &committed_after,
        );
        check_ends(c, "resolved: kafka-python read_committed", &rc, &hw_after);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Consume-transform-produce with offsets in the transaction

fn rdkafka_consume_transform_produce_with_offsets(io: IoKind) {
    let py = support::python_or_skip("kafka-python consumers of the output");
    let t = Target::new(io, "rdctp");
    let mut c = Checks::default();
    let r = ctp_steps(&t, &mut c, Client::Rdkafka, py.as_deref());
    c.steps("every step ran", r);
    c.finish("librdkafka consume-transform-produce");
}

fn kafka_python_consume_transform_produce_with_offsets(io: IoKind) {
    let Some(py) = support::python_or_skip("kafka-python consume-transform-produce") else {
        return;
    };
    let t = Target::new(io, "pyctp");
    let mut c = Checks::default();
    let r = ctp_steps(&t, &mut c, Client::KafkaPython, Some(&py));
    c.steps("every step ran", r);
    c.finish("kafka-python consume-transform-produce");
}

fn ctp_steps(t: &Target, c: &mut Checks, who: Client, py: Option<&Path>) -> Result<(), String> {
    let input = t.name("in");
    let output = t.name("out");
    t.create_topics(&[&input, &output])?;
    let input_values: Values = (0..PARTITIONS)
        .map(|p| {
            let v = (0..CTP_RECORDS).map(|i| format!("in-p{p}-{i}"));
            (p, v.collect())
        })
        .collect();
    {
        let p: BaseProducer = t
            .client()
            .set("linger.ms", "5")
            .create()
            .map_err(|e| format!("input producer: {e}"))?;
        for (part, values) in &input_values {
            for v in values {
                send(&p, &input, *part, v)?;
            }
        }
        p.flush(STEP_WAIT)
            .map_err(|e| format!("flush of the input: {e}"))?;
    }
    let group = t.name("group");
    let txn_id = t.name("ctp");

    // Records the loop sent to the output, aborted ones included.
    let sent_total = match who {
        Client::Rdkafka => rdkafka_ctp_loop(t, c, &input, &output, &group, &txn_id)?,
        Client::KafkaPython => {
            let py = py.ok_or("no python")?;
            let (partitions, batch) = (PARTITIONS.to_string(), CTP_BATCH.to_string());
            let s = run_script(
                py,
                &[
                    "ctp",
                    &t.bootstrap,
                    &input,
                    &output,
                    &partitions,
                    &group,
                    &txn_id,
                    CTP_PLAN,
                    &batch,
                ],
            );
            if let Some(e) = s.failures.iter().find(|f| f.starts_with("E\t")) {
                return Err(format!("kafka-python loop: {e}: {}", s.text));
            }
            s.check_ran(
                c,
                "kafka-python loop: committed offsets right after every commit and abort",
            );
            c.check(
                "kafka-python loop: some rounds aborted",
                s.rounds.iter().any(|(l, _)| *l == 'A'),
                || format!("rounds {:?}", s.rounds),
            );
            None
        }
    };

    // The output: every input record transformed exactly once, in order, for both clients.
    let want: Values = input_values
        .iter()
        .map(|(p, v)| (*p, v.iter().map(|x| format!("out-{x}")).collect()))
        .collect();
    let rc = t.rd_consume(&output, "read_committed", count(&want));
    check_records(c, "output: librdkafka read_committed", &rc, &want);
    let ru = t.rd_consume(
        &output,
        "read_uncommitted",
        sent_total.unwrap_or(count(&want)),
    );
    c.check(
        "output: read_uncommitted also sees the aborted rounds' records",
        ru.count() > count(&want) && sent_total.is_none_or(|n| ru.count() == n),
        || format!("saw {}, sent {sent_total:?}", ru.count()),
    );
    if let Some(py) = py {
        let s = py_consume(py, t, &output, &[("read_committed", count(&want))]);
        s.check_ran(c, "output: kafka-python consumer ran");
        let rc = py_consumed(&s, "read_committed");
        check_records(c, "output: kafka-python read_committed", &rc, &want);
    }
    Ok(())
}

/// The librdkafka loop; returns how many records it sent to the output.
fn rdkafka_ctp_loop(
    t: &Target,
    c: &mut Checks,
    input: &str,
    output: &str,
    group: &str,
    txn_id: &str,
) -> Result<Option<usize>, String> {
    let consumer: BaseConsumer = t
        .client()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "100")
        .set("session.timeout.ms", "10000")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    consumer
        .subscribe(&[input])
        .map_err(|e| format!("subscribe: {e}"))?;
    let producer = t.txn_producer(txn_id)?;
    let end = CTP_RECORDS as i64;
    // The group's committed offsets as this loop knows them (-1: none).
    let mut committed: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, -1)).collect();
    let deadline = Instant::now() + CTP_WAIT;
    let (mut rounds, mut sent_total, mut aborted) = (0, 0, 0);
    while committed.values().any(|o| *o < end) {
        if Instant::now() > deadline || rounds >= CTP_ROUNDS_MAX {
            return Err(format!(
                "committed {committed:?} of {end} per partition after {rounds} rounds"
            ));
        }
        let mut taken = Vec::new();
        let gather_until = Instant::now() + CTP_GATHER;
        while taken.len() < CTP_BATCH && Instant::now() < gather_until {
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(e)) => return Err(format!("poll: {e}")),
                Some(Ok(m)) => {
                    let v = String::from_utf8_lossy(m.payload().unwrap_or_default());
                    taken.push((m.partition(), m.offset(), v.into_owned()));
                }
            }
        }
        if taken.is_empty() {
            continue;
        }
        let letter = CTP_PLAN.chars().nth(rounds % CTP_PLAN.len()).unwrap_or('C');
        producer
            .begin_transaction()
            .map_err(|e| format!("round {rounds}: begin_transaction: {e}"))?;
        let mut sent: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, o, v) in &taken {
            send(&producer, output, *p, &format!("out-{v}"))?;
            sent.insert(*p, o + 1);
        }
        sent_total += taken.len();
        let mut offsets = TopicPartitionList::new();
        for (p, o) in &sent {
            offsets
                .add_partition_offset(input, *p, Offset::Offset(*o))
                .map_err(|e| format!("offsets list: {e}"))?;
        }
        let cgm = consumer
            .group_metadata()
            .ok_or("the consumer has no group metadata")?;
        producer
            .send_offsets_to_transaction(&offsets, &cgm, STEP_WAIT)
            .map_err(|e| format!("round {rounds}: send_offsets_to_transaction: {e}"))?;
        end_transaction(&producer, letter).map_err(|e| format!("round {rounds}: {e}"))?;
        if letter == 'C' {
            committed.extend(&sent);
        } else {
            aborted += 1;
        }
        let now = group_committed(&consumer, input)?;
        c.check(
            format!("round {rounds} ({letter}, sent {sent:?}): the group's committed offsets"),
            now == committed,
            || format!("group committed {now:?}, expected {committed:?}"),
        );
        if letter == 'A' {
            // Rewind to what the group committed, as the application must after an abort.
            for p in sent.keys() {
                let to = match committed.get(p) {
                    Some(o) if *o >= 0 => Offset::Offset(*o),
                    _ => Offset::Beginning,
                };
                consumer
                    .seek(input, *p, to, STEP_WAIT)
                    .map_err(|e| format!("seek {p} to {to:?}: {e}"))?;
            }
        }
        rounds += 1;
    }
    c.check("librdkafka loop: some rounds aborted", aborted > 0, || {
        format!("{rounds} rounds, none aborted")
    });
    Ok(Some(sent_total))
}

/// The group's committed offsets of every partition of `topic` (-1: none), asked of the
/// coordinator (read_committed: librdkafka asks for stable offsets).
fn group_committed(consumer: &BaseConsumer, topic: &str) -> Result<BTreeMap<i32, i64>, String> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, STEP_WAIT)
        .map_err(|e| format!("committed offsets: {e}"))?;
    Ok((0..PARTITIONS)
        .map(|p| {
            let o = match got.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            };
            (p, o)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Zombie fencing

fn rdkafka_zombie_producer_is_fenced(io: IoKind) {
    let py = support::python_or_skip("kafka-python consumers of the fenced topic");
    let t = Target::new(io, "zombie");
    let mut c = Checks::default();
    let r = zombie_steps(&t, &mut c, py.as_deref());
    c.steps("every step ran", r);
    c.finish("zombie fencing");
}

/// librdkafka's codes for a fenced producer: its own fatal `_FENCED`, or the broker's.
fn is_fenced_code(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
    )
}

/// Sends one record to each partition in a new transaction of `p` and flushes, leaving the
/// transaction open.
fn open_transaction(p: &BaseProducer, topic: &str, tag: &str) -> Result<Values, String> {
    p.begin_transaction()
        .map_err(|e| format!("{tag}: begin_transaction: {e}"))?;
    let mut sent = Values::new();
    for part in 0..PARTITIONS {
        let v = format!("{tag}-p{part}-0");
        send(p, topic, part, &v)?;
        sent.insert(part, vec![v]);
    }
    p.flush(STEP_WAIT)
        .map_err(|e| format!("{tag}: flush: {e}"))?;
    Ok(sent)
}

/// A committed transaction of `p` with `PER_PARTITION` records per partition.
fn committed_transaction(p: &BaseProducer, topic: &str, tag: &str) -> Result<Values, String> {
    p.begin_transaction()
        .map_err(|e| format!("{tag}: begin_transaction: {e}"))?;
    let mut sent = Values::new();
    for part in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            let v = format!("{tag}-p{part}-{i}");
            send(p, topic, part, &v)?;
            sent.entry(part).or_default().push(v);
        }
    }
    end_transaction(p, 'C').map_err(|e| format!("{tag}: {e}"))?;
    Ok(sent)
}

/// `zombie`, whose transactional id a newer instance initialised, tries to commit its open
/// transaction (after one more record when `late` names it): the commit must fail as fenced and
/// leave the producer in a fatal state.
fn check_fenced(c: &mut Checks, name: &str, zombie: &BaseProducer, late: Option<(&str, &str)>) {
    let late = late.map(|(topic, value)| send(zombie, topic, 0, value));
    let commit = zombie.commit_transaction(STEP_WAIT);
    let commit_code = match &commit {
        Err(KafkaError::Transaction(e)) => Some((e.code(), e.is_fatal())),
        Err(e) => e.rdkafka_error_code().map(|code| (code, false)),
        Ok(()) => None,
    };
    let fatal = zombie.client().fatal_error();
    eprintln!("{name}: late send {late:?}; commit {commit:?}; fatal error {fatal:?}");
    c.check(
        format!("{name}: commit_transaction fails as fenced"),
        commit_code.is_some_and(|(code, _)| is_fenced_code(code)),
        || format!("late send {late:?}, commit {commit:?}"),
    );
    c.check(
        format!("{name}: the producer is in a fatal fenced state"),
        fatal
            .as_ref()
            .is_some_and(|(code, _)| is_fenced_code(*code))
            || commit_code.is_some_and(|(code, f)| f && is_fenced_code(code)),
        || format!("fatal error {fatal:?}, commit {commit_code:?}"),
    );
    c.check(
        format!("{name}: no new transaction after being fenced"),
        zombie.begin_transaction().is_err(),
        || "begin_transaction succeeded".into(),
    );
}

/// Three instances of one transactional id, each initialised while the previous one has a
/// transaction open: the first is fenced at its next produce (the partition refuses its old
/// epoch), the second at its commit (EndTxn with an old epoch: its records were all sent).
fn zombie_steps(t: &Target, c: &mut Checks, py: Option<&Path>) -> Result<(), String> {
    let topic = t.name("data");
    t.create_topics(&[&topic])?;
    let txn_id = t.name("shared");

    let first = t.txn_producer(&txn_id)?;
    let first_open = open_transaction(&first, &topic, "first-open")?;
    // The second instance's init aborts the first's transaction and fences it.
    let second = t.txn_producer(&txn_id)?;
    check_fenced(
        c,
        "first instance, fenced at a produce",
        &first,
        Some((&topic, "first-late")),
    );
    drop(first);

    let second_committed = committed_transaction(&second, &topic, "second-committed")?;
    let second_open = open_transaction(&second, &topic, "second-open")?;
    let third = t.txn_producer(&txn_id)?;
    check_fenced(c, "second instance, fenced at its commit", &second, None);
    drop(second);

    let third_committed = committed_transaction(&third, &topic, "third-committed")?;

    // read_committed sees only committed transactions; read_uncommitted also the aborted open
    // ones, but never the record sent after fencing.
    let committed = concat(&second_committed, &third_committed);
    let everything = concat(
        &concat(&concat(&first_open, &second_committed), &second_open),
        &third_committed,
    );
    let rd_rc = t.rd_consume(&topic, "read_committed", count(&committed));
    check_records(c, "librdkafka read_committed", &rd_rc, &committed);
    let rd_ru = t.rd_consume(&topic, "read_uncommitted", count(&everything));
    check_records(c, "librdkafka read_uncommitted", &rd_ru, &everything);
    if let Some(py) = py {
        let s = py_consume(py, t, &topic, &[("read_committed", count(&committed))]);
        s.check_ran(c, "kafka-python consumer ran");
        let rc = py_consumed(&s, "read_committed");
        check_records(c, "kafka-python read_committed", &rc, &committed);
    }
    Ok(())
}
