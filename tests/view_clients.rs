//! Filtered views (issue #17) through real clients, on both drivers: kafka-python consumers
//! (driven through `tests/python/kafka_python_view.py`) and librdkafka consumers (the `rdkafka`
//! crate), with the record batches also read raw from the wire and the filter index's sidecar
//! files read from the disk.
//!
//! A view is created through CreateTopics with `ringlog.view.source` and `ringlog.view.filter`;
//! consumers read it like a topic and must get exactly the source's records that match the filter,
//! in order, with the source's offsets. The expected records come from a reference evaluation of
//! the filter language written here from its specification (the module docs of
//! `crates/broker/src/view/filter.rs`), over the records as produced: the filters are built as
//! syntax trees, rendered to text for the broker and evaluated here on each record.
//!
//! The checks:
//! - batches that all match, none match (also at the tail: a consumer's position must reach the
//!   high watermark; for librdkafka its fetch position, from its statistics, since its
//!   `position()` stops after the last record it handed over, as on a compacted topic) and some
//!   match, uncompressed and with every codec; ListOffsets answers the source's offsets; on the
//!   wire a whole-match batch is the source's bytes, a mixed one is cut to its matching records
//!   with the source's base offset, last offset delta and codec and a valid CRC, a no-match tail
//!   is one empty batch;
//! - every operator of the filter language (a view per operator family) over random records with
//!   random headers (missing, null, repeated, numeric, string, long values, many names), read by
//!   both clients;
//! - a consumer group (each client) commits half of a view and a new member resumes after the
//!   commit;
//! - a view created after its source's data: the same records (raw and through librdkafka)
//!   before and after the background builder indexed it;
//! - views and indexes survive restarts; sidecars damaged between restarts (bytes flipped, cut,
//!   overwritten, deleted, swapped with another partition's) never change what is delivered,
//!   and the builder indexes every batch again;
//! - a produce to a view is refused with INVALID_TOPIC_EXCEPTION (17);
//! - when the broker serves DescribeViews: on homogeneous batches nearly every delivered byte
//!   went out zero-copy and every no-match batch was skipped unread.
//!
//! Each test runs every check and then fails listing all that did not hold. Loopback only;
//! every wait is bounded.

#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use ringlog::broker::topic_config::{VIEW_FILTER, VIEW_SOURCE};
use ringlog::broker::{Broker, BrokerConfig};
use ringlog::client::api::ViewInfo;
use ringlog::client::{cli, ClientError, Connection};
use ringlog::runtime::IoKind;
use ringlog::storage::batch::BatchHeader;
use ringlog::storage::FlushPolicy;

both_drivers!(
    kafka_python_reads_views,
    rdkafka_all_match_no_match_and_mixed_batches_every_codec,
    rdkafka_every_operator_against_the_reference,
    rdkafka_group_commits_and_resumes_on_a_view,
    view_created_after_the_data_exists,
    restart_keeps_views_and_a_damaged_index_is_never_trusted,
    rdkafka_produce_to_a_view_is_refused,
);

/// Longest any single wait may take (a flush, reading a view to its end, a raw read).
const STEP_WAIT: Duration = Duration::from_secs(20);
/// After every partition reached its end, a consumer reads this much longer, to catch extras.
const QUIET: Duration = Duration::from_millis(300);
/// The kafka-python script's run may take this long before it is killed.
const SCRIPT_WAIT: Duration = Duration::from_secs(60);
/// The background index builder must have indexed every batch within this (it looks every
/// second).
const REBUILD_WAIT: Duration = Duration::from_secs(10);
/// Every codec a batch can have.
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
/// How long librdkafka's producer gathers records into a batch, ms: a round of the test (at
/// most a few dozen records sent in a loop) is one batch per partition, nearly always.
const LINGER_MS: &str = "50";
/// linger.ms of a producer whose batches are cut by their record count: longer than any
/// stall, never what sends a batch.
const EXACT_LINGER_MS: &str = "10000";
/// How often librdkafka reports its statistics (its fetch positions), ms.
const STATS_INTERVAL_MS: &str = "100";
/// Bytes of every record value (text, so that the codecs compress it).
const VALUE_BYTES: usize = 160;
/// Segment roll size of the restart test's broker: several segments (and sidecars) per
/// partition.
const RESTART_SEGMENT_BYTES: u64 = 8 << 10;
/// Records per batch of the restart test.
const RESTART_RECORDS: usize = 8;
/// Largest decompressed batch the raw reader decodes.
const DECOMPRESSED_BYTES_MAX: usize = 64 << 20;
/// Bytes of a record batch header (v2).
const BATCH_HEADER_BYTES: usize = 61;
/// The share of delivered bytes that must go out zero-copy on homogeneous batches, per mille
/// (the goal: at least 95%).
const ZERO_COPY_PER_MILLE_MIN: u64 = 950;

// ---------------------------------------------------------------------------------------------
// Checks

/// Every check of a test, run to the end; `finish` fails the test listing those that failed.
#[derive(Default)]
struct Report {
    results: Vec<(String, Result<(), String>)>,
}

impl Report {
    fn check(&mut self, name: impl Into<String>, ok: bool, why: impl FnOnce() -> String) {
        let name = name.into();
        let outcome = if ok { Ok(()) } else { Err(why()) };
        match &outcome {
            Ok(()) => eprintln!("PASS {name}"),
            Err(why) => eprintln!("FAIL {name}: {why}"),
        }
        self.results.push((name, outcome));
    }

    fn result(&mut self, name: impl Into<String>, r: Result<(), String>) {
        let why = r.as_ref().err().cloned().unwrap_or_default();
        self.check(name, r.is_ok(), || why);
    }

    fn finish(self, what: &str) {
        let failed: Vec<String> = self
            .results
            .iter()
            .filter_map(|(n, r)| r.as_ref().err().map(|why| format!("  {n}: {why}")))
            .collect();
        assert!(
            failed.is_empty(),
            "{what}: {} of {} checks failed:\n{}",
            failed.len(),
            self.results.len(),
            failed.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Records

/// A record's headers in order: (name, value; `None` = a null value).
type RecordHeaders = Vec<(String, Option<Vec<u8>>)>;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    headers: RecordHeaders,
}

impl Rec {
    /// The id the value starts with (for messages).
    fn id(&self) -> String {
        let end = self
            .value
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(self.value.len());
        String::from_utf8_lossy(&self.value[..end]).into_owned()
    }
}

/// A value of [`VALUE_BYTES`]: the id, then text.
fn value(id: &str) -> Vec<u8> {
    let mut v = format!("{id} ").into_bytes();
    let words = [
        "ringlog ",
        "view ",
        "filter ",
        "batch ",
        "record ",
        "zero-copy ",
    ];
    let mut i = id.len();
    while v.len() < VALUE_BYTES {
        v.extend_from_slice(words[i % words.len()].as_bytes());
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    v.truncate(VALUE_BYTES);
    v
}

/// Records at their place in a partition: (partition, offset) -> record. What a source holds,
/// or what a view must deliver.
type Placed = BTreeMap<(i32, i64), Rec>;

/// What a consumer got, in the order it came: (topic, partition, offset, record).
type Got = Vec<(String, i32, i64, Rec)>;

/// What each view must deliver: view -> its records.
type Want = BTreeMap<String, Placed>;

/// Checks that `got` holds, for every view of `want`, exactly its records: no record missing,
/// none extra, none twice, each with its key, value and headers, each partition in offset
/// order; and nothing of a topic `want` does not name.
fn compare(report: &mut Report, what: &str, got: &Got, want: &Want) {
    let mut by_topic: BTreeMap<&str, Vec<(i32, i64, &Rec)>> = BTreeMap::new();
    for (t, p, o, r) in got {
        by_topic.entry(t).or_default().push((*p, *o, r));
    }
    let strays: Vec<&&str> = by_topic
        .keys()
        .filter(|t| !want.contains_key(**t))
        .collect();
    report.check(
        format!("{what}: nothing from topics not read"),
        strays.is_empty(),
        || format!("records of {strays:?}"),
    );
    for (view, placed) in want {
        let seen = by_topic.remove(view.as_str()).unwrap_or_default();
        report.result(format!("{what}: view {view}"), same_records(&seen, placed));
    }
}

fn same_records(seen: &[(i32, i64, &Rec)], want: &Placed) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut last: HashMap<i32, i64> = HashMap::new();
    let mut at: BTreeSet<(i32, i64)> = BTreeSet::new();
    for (p, o, r) in seen {
        if !at.insert((*p, *o)) {
            problems.push(format!("{p}@{o} twice"));
        }
        if let Some(prev) = last.insert(*p, *o) {
            if *o <= prev {
                problems.push(format!("{p}@{o} after {p}@{prev}"));
            }
        }
        if let Some(w) = want.get(&(*p, *o)) {
            if w != *r {
                problems.push(format!(
                    "{p}@{o} is {} {:?}, not {} {:?}",
                    r.id(),
                    r.headers,
                    w.id(),
                    w.headers
                ));
            }
        }
    }
    let missing: Vec<String> = want
        .iter()
        .filter(|(k, _)| !at.contains(k))
        .map(|((p, o), r)| format!("{p}@{o} ({} {:?} key {:?})", r.id(), r.headers, r.key))
        .collect();
    let extra: Vec<String> = seen
        .iter()
        .filter(|(p, o, _)| !want.contains_key(&(*p, *o)))
        .map(|(p, o, r)| format!("{p}@{o} ({} {:?} key {:?})", r.id(), r.headers, r.key))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} missing, first {:?}",
            missing.len(),
            &missing[..missing.len().min(4)]
        ));
    }
    if !extra.is_empty() {
        problems.push(format!(
            "{} not matching, first {:?}",
            extra.len(),
            &extra[..extra.len().min(4)]
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.truncate(8);
        Err(format!(
            "{} records expected, {} got: {}",
            want.len(),
            seen.len(),
            problems.join("; ")
        ))
    }
}

/// The records of `source` that `filter` matches.
fn expected(source: &Placed, filter: &Expr) -> Placed {
    source
        .iter()
        .filter(|(_, r)| matches(filter, r))
        .map(|(k, r)| (*k, r.clone()))
        .collect()
}

/// End offset (one past the last record) of every partition `0..partitions` of `source`.
fn ends(source: &Placed, partitions: i32) -> Vec<i64> {
    (0..partitions)
        .map(|p| {
            source
                .range((p, 0)..=(p, i64::MAX))
                .next_back()
                .map_or(0, |((_, o), _)| o + 1)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The reference: the filter language evaluated on one record, from its specification

/// SQL's three truth values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tv {
    True,
    False,
    Unknown,
}

impl Tv {
    fn of(b: bool) -> Tv {
        if b {
            Tv::True
        } else {
            Tv::False
        }
    }

    fn not(self) -> Tv {
        match self {
            Tv::True => Tv::False,
            Tv::False => Tv::True,
            Tv::Unknown => Tv::Unknown,
        }
    }

    fn and(self, other: Tv) -> Tv {
        match (self, other) {
            (Tv::False, _) | (_, Tv::False) => Tv::False,
            (Tv::True, Tv::True) => Tv::True,
            _ => Tv::Unknown,
        }
    }

    fn or(self, other: Tv) -> Tv {
        match (self, other) {
            (Tv::True, _) | (_, Tv::True) => Tv::True,
            (Tv::False, Tv::False) => Tv::False,
            _ => Tv::Unknown,
        }
    }
}

#[derive(Clone, Debug)]
enum Operand {
    /// `__key`: the record key.
    Key,
    /// A header by an unquoted name.
    Header(String),
    /// A header by a quoted name (`"__key"` is a header, not the key).
    Quoted(String),
    /// A string literal.
    Str(String),
    /// A numeric literal, as written.
    Num(String),
    /// `TRUE` / `FALSE`: the strings `true` / `false`.
    Bool(bool),
}

#[derive(Clone, Copy, Debug)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug)]
enum Expr {
    Cmp(Operand, CmpOp, Operand),
    Between {
        v: Operand,
        lo: Operand,
        hi: Operand,
        negated: bool,
    },
    In {
        v: Operand,
        list: Vec<Operand>,
        negated: bool,
    },
    IsNull {
        v: Operand,
        negated: bool,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

/// An operand's value in a record; `None` is NULL (no key, a missing header, or a first header
/// of that name with a null value).
fn value_of(op: &Operand, r: &Rec) -> Option<Vec<u8>> {
    match op {
        Operand::Key => r.key.clone(),
        Operand::Header(name) | Operand::Quoted(name) => r
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone()),
        Operand::Str(s) | Operand::Num(s) => Some(s.as_bytes().to_vec()),
        Operand::Bool(b) => Some(if *b {
            b"true".to_vec()
        } else {
            b"false".to_vec()
        }),
    }
}

/// The number `bytes` spell: `['+'|'-'] (digits ['.' [digits]] | '.' digits) [('e'|'E')
/// ['+'|'-'] digits]`, nothing else.
fn number(bytes: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(bytes).ok()?;
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || int.len() + frac.len() == 0 {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if e.is_empty() || !digits(e) {
            return None;
        }
    }
    s.parse::<f64>().ok()
}

/// Numerically when both are numbers, else byte-wise.
fn order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).expect("never NaN"),
        _ => a.cmp(b),
    }
}

fn compare_tv(a: Option<Vec<u8>>, op: CmpOp, b: Option<Vec<u8>>) -> Tv {
    use std::cmp::Ordering::*;
    let (Some(a), Some(b)) = (a, b) else {
        return Tv::Unknown;
    };
    let o = order(&a, &b);
    Tv::of(match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
    })
}

fn eval(e: &Expr, r: &Rec) -> Tv {
    match e {
        Expr::Cmp(a, op, b) => compare_tv(value_of(a, r), *op, value_of(b, r)),
        Expr::Between { v, lo, hi, negated } => {
            let t = compare_tv(value_of(v, r), CmpOp::Ge, value_of(lo, r)).and(compare_tv(
                value_of(v, r),
                CmpOp::Le,
                value_of(hi, r),
            ));
            if *negated {
                t.not()
            } else {
                t
            }
        }
        Expr::In { v, list, negated } => {
            let t = match value_of(v, r) {
                None => Tv::Unknown,
                Some(x) => Tv::of(list.iter().any(|l| {
                    value_of(l, r).is_some_and(|l| order(&x, &l) == std::cmp::Ordering::Equal)
                })),
            };
            if *negated {
                t.not()
            } else {
                t
            }
        }
        Expr::IsNull { v, negated } => Tv::of(value_of(v, r).is_none() != *negated),
        Expr::And(a, b) => eval(a, r).and(eval(b, r)),
        Expr::Or(a, b) => eval(a, r).or(eval(b, r)),
        Expr::Not(a) => eval(a, r).not(),
    }
}

/// A record matches when the filter is TRUE for it.
fn matches(e: &Expr, r: &Rec) -> bool {
    eval(e, r) == Tv::True
}

/// How a filter is written: keywords in lower case, and every sub-expression in parentheses.
#[derive(Clone, Copy, Default)]
struct Style {
    lower: bool,
    parens: bool,
}

impl Style {
    fn kw(self, k: &str) -> String {
        if self.lower {
            k.to_lowercase()
        } else {
            k.to_string()
        }
    }
}

fn render_operand(op: &Operand, style: Style) -> String {
    match op {
        Operand::Key => "__key".into(),
        Operand::Header(n) => n.clone(),
        Operand::Quoted(n) => format!("\"{}\"", n.replace('"', "\"\"")),
        Operand::Str(s) => format!("'{}'", s.replace('\'', "''")),
        Operand::Num(n) => n.clone(),
        Operand::Bool(b) => style.kw(if *b { "TRUE" } else { "FALSE" }),
    }
}

/// Binding strength: OR < AND < NOT < a predicate.
fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Or(..) => 1,
        Expr::And(..) => 2,
        Expr::Not(_) => 3,
        _ => 4,
    }
}

/// The filter's text: only the parentheses precedence needs, unless the style wants them all.
fn render(e: &Expr, style: Style) -> String {
    let child = |c: &Expr, parent: u8| {
        let text = render(c, style);
        if style.parens || precedence(c) < parent {
            format!("({text})")
        } else {
            text
        }
    };
    let op = |o: &Operand| render_operand(o, style);
    let not = |negated: bool| {
        if negated {
            format!("{} ", style.kw("NOT"))
        } else {
            String::new()
        }
    };
    match e {
        Expr::Cmp(a, c, b) => {
            let sym = match c {
                CmpOp::Eq => "=",
                CmpOp::Ne => "<>",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
            };
            format!("{} {sym} {}", op(a), op(b))
        }
        Expr::Between { v, lo, hi, negated } => format!(
            "{} {}{} {} {} {}",
            op(v),
            not(*negated),
            style.kw("BETWEEN"),
            op(lo),
            style.kw("AND"),
            op(hi)
        ),
        Expr::In { v, list, negated } => format!(
            "{} {}{} ({})",
            op(v),
            not(*negated),
            style.kw("IN"),
            list.iter().map(op).collect::<Vec<_>>().join(", ")
        ),
        Expr::IsNull { v, negated } => format!(
            "{} {} {}{}",
            op(v),
            style.kw("IS"),
            not(*negated),
            style.kw("NULL")
        ),
        Expr::And(a, b) => format!("{} {} {}", child(a, 2), style.kw("AND"), child(b, 2)),
        Expr::Or(a, b) => format!("{} {} {}", child(a, 1), style.kw("OR"), child(b, 1)),
        Expr::Not(a) => format!("{} {}", style.kw("NOT"), child(a, 3)),
    }
}

// Builders, to keep the view list readable.
fn hdr(name: &str) -> Operand {
    Operand::Header(name.into())
}
fn s(v: &str) -> Operand {
    Operand::Str(v.into())
}
fn n(v: &str) -> Operand {
    Operand::Num(v.into())
}
fn cmp(a: Operand, op: CmpOp, b: Operand) -> Expr {
    Expr::Cmp(a, op, b)
}
fn between(v: Operand, lo: Operand, hi: Operand, negated: bool) -> Expr {
    Expr::Between { v, lo, hi, negated }
}
fn is_in(v: Operand, list: Vec<Operand>, negated: bool) -> Expr {
    Expr::In { v, list, negated }
}
fn is_null(v: Operand, negated: bool) -> Expr {
    Expr::IsNull { v, negated }
}
fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}
fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}
fn not(a: Expr) -> Expr {
    Expr::Not(Box::new(a))
}

/// A header name longer than a summary describes (64 bytes).
fn long_name() -> String {
    "l".repeat(70)
}

/// One view per operator family (plus logic, precedence, spelling): (suffix, filter, style).
fn operator_views() -> Vec<(&'static str, Expr, Style)> {
    use CmpOp::*;
    let plain = Style::default();
    let lower = Style {
        lower: true,
        parens: false,
    };
    let parens = Style {
        lower: false,
        parens: true,
    };
    vec![
        ("eq-num", cmp(hdr("amount"), Eq, n("100")), plain),
        ("eq-str", cmp(hdr("tag"), Eq, s("red")), plain),
        ("eq-quote", cmp(hdr("tag"), Eq, s("it's")), plain),
        ("eq-utf8", cmp(hdr("tag"), Eq, s("ü")), plain),
        ("ne", cmp(hdr("region"), Ne, s("eu")), plain),
        ("lt", cmp(hdr("amount"), Lt, n("50")), plain),
        ("lt-neg", cmp(hdr("amount"), Lt, n("-0.5")), plain),
        ("le-str", cmp(hdr("s"), Le, s("m")), plain),
        (
            "gt-numeric-string",
            cmp(hdr("amount"), Gt, s("99.5")),
            plain,
        ),
        ("gt-huge", cmp(hdr("amount"), Gt, n("1e300")), plain),
        ("ge-exp", cmp(hdr("amount"), Ge, n("1E3")), plain),
        ("ge-key", cmp(Operand::Key, Ge, n("500")), plain),
        ("key-eq", cmp(Operand::Key, Eq, s("red")), plain),
        ("literal-left", cmp(n("100"), Le, hdr("amount")), plain),
        ("header-header", cmp(hdr("amount"), Gt, hdr("s")), plain),
        (
            "header-eq-header",
            cmp(hdr("tag"), Eq, hdr("region")),
            plain,
        ),
        (
            "between",
            between(hdr("amount"), n("10"), n("200"), false),
            plain,
        ),
        (
            "not-between",
            between(hdr("amount"), n("-1"), n("42.5"), true),
            plain,
        ),
        (
            "between-str",
            between(hdr("s"), s("b"), s("n"), false),
            plain,
        ),
        (
            "in-str",
            is_in(
                hdr("tag"),
                vec![s("red"), s("green"), s("7"), n("100")],
                false,
            ),
            plain,
        ),
        (
            "not-in",
            is_in(hdr("tag"), vec![s("red"), s("blue")], true),
            plain,
        ),
        (
            "in-num",
            is_in(
                hdr("amount"),
                vec![n("7"), n("1e2"), n("-3"), n(".5")],
                false,
            ),
            plain,
        ),
        ("is-null", is_null(hdr("region"), false), plain),
        ("is-not-null", is_null(hdr("region"), true), plain),
        (
            "quoted-key-header",
            is_null(Operand::Quoted("__key".into()), true),
            plain,
        ),
        ("key-is-null", is_null(Operand::Key, false), plain),
        (
            "bool-true",
            cmp(hdr("flag"), Eq, Operand::Bool(true)),
            plain,
        ),
        (
            "bool-ne-false",
            cmp(hdr("flag"), Ne, Operand::Bool(false)),
            plain,
        ),
        (
            "and",
            and(
                cmp(hdr("tag"), Eq, s("red")),
                cmp(hdr("amount"), Gt, n("50")),
            ),
            plain,
        ),
        (
            "or",
            or(
                cmp(hdr("tag"), Eq, s("red")),
                cmp(hdr("amount"), Gt, n("50")),
            ),
            plain,
        ),
        ("not", not(cmp(hdr("tag"), Eq, s("red"))), plain),
        ("not-not", not(not(cmp(hdr("amount"), Ge, n("10")))), plain),
        (
            "precedence",
            or(
                cmp(hdr("tag"), Eq, s("red")),
                and(
                    cmp(hdr("amount"), Gt, n("50")),
                    not(is_null(hdr("region"), false)),
                ),
            ),
            plain,
        ),
        (
            "nested",
            and(
                or(
                    is_in(hdr("tag"), vec![s("red"), s("blue")], false),
                    is_null(hdr("s"), false),
                ),
                not(or(
                    between(hdr("amount"), n("0"), n("10"), false),
                    cmp(hdr("region"), Eq, s("us")),
                )),
            ),
            plain,
        ),
        (
            "lower-case",
            or(
                and(
                    is_in(hdr("tag"), vec![s("red")], false),
                    between(hdr("amount"), n("1"), n("100"), false),
                ),
                is_null(hdr("region"), true),
            ),
            lower,
        ),
        (
            "parens",
            or(
                cmp(hdr("tag"), Eq, s("red")),
                not(cmp(hdr("amount"), Lt, n("7"))),
            ),
            parens,
        ),
        (
            "constants",
            and(cmp(s("a"), Lt, s("b")), is_null(hdr("amount"), true)),
            plain,
        ),
        (
            "constant-false",
            or(cmp(n("1"), Eq, n("2")), cmp(hdr("tag"), Eq, s("green"))),
            plain,
        ),
        ("long-name", cmp(hdr(&long_name()), Eq, s("v")), plain),
        ("wide", cmp(hdr("x3"), Eq, s("w")), plain),
    ]
}

// ---------------------------------------------------------------------------------------------
// Random records

/// xorshift64: the same data on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }
}

/// Values that are numbers by the language's rule (some equal to each other: 100, 100.0, 1e2).
const NUMBERS: [&str; 24] = [
    "0", "7", "10", "42", "50", "99.5", "100", "100.0", "1e2", "-3", "-0.5", "200", "201", "500",
    "1000", "+5", "007", ".5", "5.", "1E3", "1e400", "-1e400", "42.50", "1e300",
];
/// Values that are not (some look close: 10x, 1e, e5, NaN, inf, " 5", "-", ".").
const STRINGS: [&str; 30] = [
    "red", "green", "blue", "eu", "us", "apac", "", "abc", "m", "zz", "10x", "1e", "e5", "NaN",
    "inf", "true", "TRUE", "false", "Red", "ü", "it's", " 5", "b", "n", "-", "+", ".", "w", "v",
    "7",
];
/// Header names the operator views read.
const NAMES: [&str; 6] = ["tag", "amount", "region", "s", "flag", "__key"];

fn random_value(rng: &mut Rng, name: &str) -> Option<Vec<u8>> {
    if rng.chance(10) {
        return None;
    }
    if rng.chance(3) {
        // Longer than a summary keeps exactly (64 bytes): a string and a number.
        return Some(if rng.chance(50) {
            format!("red{}", "z".repeat(70)).into_bytes()
        } else {
            format!("1{}", "0".repeat(70)).into_bytes()
        });
    }
    let v = match name {
        "tag" if rng.chance(70) => *rng.pick(&["red", "green", "blue", "7", "it's", "ü", "Red"]),
        "amount" if rng.chance(75) => *rng.pick(&NUMBERS),
        "region" if rng.chance(70) => *rng.pick(&["eu", "us", "apac", "10"]),
        "flag" => *rng.pick(&["true", "false", "TRUE", "1", ""]),
        _ if rng.chance(50) => *rng.pick(&NUMBERS),
        _ => *rng.pick(&STRINGS),
    };
    Some(v.as_bytes().to_vec())
}

fn random_headers(rng: &mut Rng) -> RecordHeaders {
    let mut names = NAMES.to_vec();
    for i in (1..names.len()).rev() {
        names.swap(i, rng.below(i + 1));
    }
    let mut out = Vec::new();
    for name in names {
        if rng.chance(25) {
            continue; // missing
        }
        if rng.chance(5) {
            // A null first header: the record's value for the name is NULL whatever follows.
            out.push((name.to_string(), None));
        }
        out.push((name.to_string(), random_value(rng, name)));
        if rng.chance(8) {
            // A second header of the name, never read.
            out.push((name.to_string(), random_value(rng, name)));
        }
    }
    out
}

fn random_key(rng: &mut Rng) -> Option<Vec<u8>> {
    if rng.chance(15) {
        None
    } else if rng.chance(45) {
        Some(rng.below(1000).to_string().into_bytes())
    } else if rng.chance(50) {
        Some(rng.pick(&STRINGS).as_bytes().to_vec())
    } else {
        Some(rng.pick(&NUMBERS).as_bytes().to_vec())
    }
}

/// A batch of `count` random records of one of five kinds: all alike (one summary value per
/// name: whole-match or no-match decisions), two or three kinds of record, all different, with
/// 18 more header names (more names than a summary describes), with long names and values.
fn random_batch(rng: &mut Rng, count: usize, id: &dyn Fn(usize) -> String) -> Vec<Rec> {
    let kind = rng.below(5);
    let templates: Vec<(Option<Vec<u8>>, RecordHeaders)> = (0..3)
        .map(|_| (random_key(rng), random_headers(rng)))
        .collect();
    (0..count)
        .map(|i| {
            let (key, mut headers) = match kind {
                0 => templates[0].clone(),
                1 => templates[rng.below(2 + i % 2)].clone(),
                _ => (random_key(rng), random_headers(rng)),
            };
            if kind == 3 {
                for j in 0..18 {
                    if rng.chance(70) {
                        let v = *rng.pick(&["w", "v", "1"]);
                        headers.push((format!("x{j}"), Some(v.as_bytes().to_vec())));
                    }
                }
            }
            if kind == 4 {
                let v = *rng.pick(&["v", "u"]);
                headers.push((long_name(), Some(v.as_bytes().to_vec())));
            }
            Rec {
                key,
                value: value(&id(i)),
                headers,
            }
        })
        .collect()
}

/// One batch to produce: the partition and its records.
type Batch = (i32, Vec<Rec>);

/// `rounds` rounds of one random batch (1-25 records) per partition (a tenth left out).
fn random_rounds(seed: u64, prefix: &str, rounds: usize, partitions: i32) -> Vec<Vec<Batch>> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let mut batches = Vec::new();
        for p in 0..partitions {
            if rng.chance(10) {
                continue;
            }
            let count = 1 + rng.below(25);
            let id = |i: usize| format!("{prefix}/{round}/{p}/{i}");
            batches.push((p, random_batch(&mut rng, count, &id)));
        }
        out.push(batches);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Batches of known shapes

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Every record tag = 'red'.
    AllRed,
    /// Every record tag = 'blue'.
    NoneBlue,
    /// red, blue, no tag, a null tag, red then blue (matches), blue then red (does not).
    Mixed,
    /// Only the first record is red.
    MixedFirst,
    /// Only the last record is red.
    MixedLast,
    /// 20 distinct tags, none red: more values than a summary keeps exactly, so the batch may
    /// have to be read to find that nothing matches.
    NoneMany,
}

/// Per partition, its batches in order: partition 0 ends with two no-match batches, partition 1
/// starts with two and ends with a batch read to find no match, partition 2 never matches.
const SHAPES: [&[Shape]; 3] = [
    &[
        Shape::AllRed,
        Shape::NoneBlue,
        Shape::Mixed,
        Shape::AllRed,
        Shape::NoneBlue,
        Shape::NoneBlue,
    ],
    &[
        Shape::NoneBlue,
        Shape::NoneBlue,
        Shape::Mixed,
        Shape::AllRed,
        Shape::MixedFirst,
        Shape::MixedLast,
        Shape::NoneMany,
    ],
    &[Shape::NoneBlue, Shape::NoneBlue, Shape::NoneBlue],
];
/// Records per shaped batch.
const SHAPE_RECORDS: usize = 20;

fn tag(v: &str) -> (String, Option<Vec<u8>>) {
    ("tag".to_string(), Some(v.as_bytes().to_vec()))
}

fn shape_batch(shape: Shape, id: &dyn Fn(usize) -> String) -> Vec<Rec> {
    (0..SHAPE_RECORDS)
        .map(|i| {
            let mut headers = match shape {
                Shape::AllRed => vec![tag("red")],
                Shape::NoneBlue => vec![tag("blue")],
                Shape::Mixed => match i % 6 {
                    0 => vec![tag("red")],
                    1 => vec![tag("blue")],
                    2 => vec![],
                    3 => vec![("tag".to_string(), None)],
                    4 => vec![tag("red"), tag("blue")],
                    _ => vec![tag("blue"), tag("red")],
                },
                Shape::MixedFirst if i == 0 => vec![tag("red")],
                Shape::MixedLast if i == SHAPE_RECORDS - 1 => vec![tag("red")],
                Shape::MixedFirst | Shape::MixedLast => vec![tag("green")],
                Shape::NoneMany => vec![tag(&format!("t{i}"))],
            };
            headers.push(("n".to_string(), Some(i.to_string().into_bytes())));
            Rec {
                key: (i % 4 != 0).then(|| format!("k{i}").into_bytes()),
                value: value(&id(i)),
                headers,
            }
        })
        .collect()
}

/// The shaped batches of [`SHAPES`] for `topic`, round by round.
fn shape_rounds(topic: &str) -> Vec<Vec<Batch>> {
    let rounds = SHAPES.iter().map(|s| s.len()).max().unwrap_or(0);
    (0..rounds)
        .map(|round| {
            SHAPES
                .iter()
                .enumerate()
                .filter_map(|(p, shapes)| {
                    let shape = *shapes.get(round)?;
                    let id = |i: usize| format!("{topic}/{p}/{round}/{i}");
                    Some((p as i32, shape_batch(shape, &id)))
                })
                .collect()
        })
        .collect()
}

fn red() -> Expr {
    cmp(hdr("tag"), CmpOp::Eq, s("red"))
}

// ---------------------------------------------------------------------------------------------
// librdkafka: admin, producer, consumers

fn client(addr: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr)
        .set("socket.timeout.ms", "10000")
        .set("log_level", "3");
    c
}

/// A topic to create: name, partitions, configs.
type TopicSpec<'a> = (&'a str, i32, Vec<(&'a str, &'a str)>);

/// Creates topics; each creation's outcome.
fn create_topics(addr: &str, topics: &[TopicSpec<'_>]) -> Vec<Result<(), String>> {
    let admin: AdminClient<DefaultClientContext> = client(addr).create().expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions, configs)| {
            configs.iter().fold(
                NewTopic::new(name, *partitions, TopicReplication::Fixed(1)),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    futures_executor::block_on(admin.create_topics(&new, &opts))
        .expect("create_topics")
        .into_iter()
        .map(|r| r.map(|_| ()).map_err(|(t, e)| format!("{t}: {e:?}")))
        .collect()
}

fn create_sources(addr: &str, sources: &[(&str, i32)]) {
    let topics: Vec<TopicSpec<'_>> = sources.iter().map(|&(t, p)| (t, p, Vec::new())).collect();
    for r in create_topics(addr, &topics) {
        r.expect("source topic created");
    }
}

/// Creates views (name, source, filter) with -1 partitions: the source's count.
fn create_views(addr: &str, views: &[(String, String, String)]) {
    let topics: Vec<TopicSpec<'_>> = views
        .iter()
        .map(|(name, source, filter)| {
            (
                name.as_str(),
                -1,
                vec![
                    (VIEW_SOURCE, source.as_str()),
                    (VIEW_FILTER, filter.as_str()),
                ],
            )
        })
        .collect();
    for (r, (name, _, filter)) in create_topics(addr, &topics).into_iter().zip(views) {
        if let Err(e) = r {
            panic!("view {name} with filter {filter:?} not created: {e}");
        }
    }
}

/// Delivery reports by the index each record was sent with: (partition, offset) or the error.
#[derive(Default)]
struct Acks(Mutex<HashMap<usize, Ack>>);

/// Where a record landed (partition, offset), or why not.
type Ack = Result<(i32, i64), KafkaError>;

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let outcome = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.clone()),
        };
        self.0.lock().unwrap().insert(index, outcome);
    }
}

/// How a producer cuts batches.
#[derive(Clone, Copy)]
enum Batching {
    /// Exactly this many records per batch (librdkafka sends a partition's batch as soon as it
    /// holds `batch.num.messages`): a test whose rounds have that many records per partition
    /// gets one batch per round and partition, however slow the machine.
    Exact(usize),
    /// Whatever gathers within [`LINGER_MS`]: a round is one batch per partition unless the
    /// sending thread stalls that long, which changes no check of the tests that use it.
    Linger,
}

/// A producer whose batches are the test's rounds (the next round is sent only once every
/// record of the last one is acknowledged).
fn producer(addr: &str, codec: &str, batching: Batching) -> BaseProducer<Acks> {
    let mut c = client(addr);
    c.set("acks", "all")
        .set("enable.idempotence", "false")
        .set("compression.codec", codec)
        .set("message.timeout.ms", "20000");
    match batching {
        Batching::Exact(n) => c
            .set("batch.num.messages", n.to_string())
            .set("linger.ms", EXACT_LINGER_MS),
        Batching::Linger => c.set("linger.ms", LINGER_MS),
    };
    c.create_with_context(Acks::default()).expect("producer")
}

fn send(p: &BaseProducer<Acks>, topic: &str, partition: i32, r: &Rec, index: usize) {
    let headers = r.headers.iter().fold(
        OwnedHeaders::new_with_capacity(r.headers.len()),
        |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: v.as_deref(),
            })
        },
    );
    let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, index)
        .partition(partition)
        .payload(&r.value[..])
        .headers(headers);
    if let Some(k) = &r.key {
        record = record.key(&k[..]);
    }
    let deadline = Instant::now() + STEP_WAIT;
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if Instant::now() < deadline =>
            {
                p.poll(Duration::from_millis(10));
                record = back;
            }
            Err((e, _)) => panic!("send to {topic}-{partition}: {e}"),
        }
    }
}

/// Produces the rounds to `topic`, round by round with `producers[round % len]` (each round's
/// batches go out together at the flush: one batch per partition); returns where each record
/// landed.
fn produce(producers: &[BaseProducer<Acks>], topic: &str, rounds: &[Vec<Batch>]) -> Placed {
    let mut placed = Placed::new();
    let started = Instant::now();
    for (round, batches) in rounds.iter().enumerate() {
        let p = &producers[round % producers.len()];
        let mut sent: Vec<(i32, &Rec)> = Vec::new();
        for (partition, recs) in batches {
            for r in recs {
                send(p, topic, *partition, r, sent.len());
                sent.push((*partition, r));
            }
        }
        // Not `flush`: the rdkafka crate's flush lets linger.ms run out (it asks librdkafka to
        // flush for 0 ms at a time), which is what ends a round here anyway; this waits for the
        // acknowledgements without its 100 ms poll steps.
        let deadline = Instant::now() + STEP_WAIT;
        while p.in_flight_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "{topic} round {round} not acknowledged within {STEP_WAIT:?}"
            );
            p.poll(Duration::from_millis(2));
        }
        let acks = std::mem::take(&mut *p.context().0.lock().unwrap());
        for (i, (partition, r)) in sent.into_iter().enumerate() {
            match acks.get(&i) {
                Some(Ok((ack_partition, offset))) => {
                    assert_eq!(*ack_partition, partition, "{}", r.id());
                    placed.insert((partition, *offset), r.clone());
                }
                other => panic!("{topic}: {} not acknowledged: {other:?}", r.id()),
            }
        }
    }
    eprintln!(
        "{topic}: {} rounds produced in {:?}",
        rounds.len(),
        started.elapsed()
    );
    placed
}

fn rec_of(m: &BorrowedMessage<'_>) -> (String, i32, i64, Rec) {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    (
        m.topic().to_string(),
        m.partition(),
        m.offset(),
        Rec {
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().unwrap_or_default().to_vec(),
            headers,
        },
    )
}

/// A partition to read to its end: (topic, partition, end offset).
type ToEnd = Vec<(String, i32, i64)>;

/// The partitions of `views` (each over a source with these ends) with their end offsets.
fn to_end(views: &[String], ends: &[i64]) -> ToEnd {
    views
        .iter()
        .flat_map(|v| {
            ends.iter()
                .enumerate()
                .map(move |(p, end)| (v.clone(), p as i32, *end))
        })
        .collect()
}

/// What a consumer read: its records, where it fetches from at the end ([`Progress`]), and the
/// errors it reported.
#[derive(Default)]
struct Read {
    got: Got,
    positions: BTreeMap<(String, i32), i64>,
    errors: Vec<String>,
}

impl Read {
    /// Every partition's fetch position reached its end offset (a no-match tail included).
    fn check_positions(&self, report: &mut Report, what: &str, parts: &ToEnd) {
        let short: Vec<String> = parts
            .iter()
            .filter(|(t, p, end)| self.positions.get(&(t.clone(), *p)) != Some(end))
            .map(|(t, p, end)| {
                format!(
                    "{t}-{p} at {:?}, end {end}",
                    self.positions.get(&(t.clone(), *p))
                )
            })
            .collect();
        report.check(
            format!("{what}: every partition's fetch position reached the high watermark"),
            short.is_empty(),
            || {
                format!(
                    "{} partitions short: {:?}",
                    short.len(),
                    &short[..short.len().min(6)]
                )
            },
        );
        report.check(
            format!("{what}: no consumer errors"),
            self.errors.is_empty(),
            || format!("{:?}", &self.errors[..self.errors.len().min(6)]),
        );
    }
}

/// librdkafka's own view of each partition, from its statistics: the next offset it fetches
/// from. This is where a consumer moved on to: librdkafka's `position()` is the offset after the
/// last record handed to the application, so it never passes a tail of offsets without records
/// (a view's no-match tail, as a compacted topic's), while its fetch position does.
#[derive(Default)]
struct Progress(Mutex<BTreeMap<(String, i32), i64>>);

impl ClientContext for Progress {
    fn stats(&self, statistics: Statistics) {
        let mut at = self.0.lock().unwrap();
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                // -1 is librdkafka's internal unassigned partition.
                if partition >= 0 && p.next_offset >= 0 {
                    at.insert((topic.clone(), partition), p.next_offset);
                }
            }
        }
    }
}

impl ConsumerContext for Progress {}

type RdConsumer = BaseConsumer<Progress>;

/// A librdkafka consumer reporting [`Progress`].
fn rd_consumer(config: &mut ClientConfig) -> RdConsumer {
    config
        .set("statistics.interval.ms", STATS_INTERVAL_MS)
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create_with_context(Progress::default())
        .expect("consumer")
}

/// Polls `c` until it fetches past the end of every partition of `parts` and `want` records
/// came (then [`QUIET`] more), or [`STEP_WAIT`].
fn poll_to_end(c: &RdConsumer, parts: &ToEnd, want: usize, read: &mut Read) {
    let deadline = Instant::now() + STEP_WAIT;
    let mut quiet_until: Option<Instant> = None;
    loop {
        match c.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => read.got.push(rec_of(&m)),
            Some(Err(e)) => read.errors.push(e.to_string()),
            None => {}
        }
        let now = Instant::now();
        if quiet_until.is_some_and(|q| now > q) || now > deadline {
            break;
        }
        if quiet_until.is_none() && read.got.len() >= want {
            let at = c.context().0.lock().unwrap().clone();
            if parts
                .iter()
                .all(|(t, p, end)| at.get(&(t.clone(), *p)).is_some_and(|o| o >= end))
            {
                quiet_until = Some(now + QUIET);
            }
        }
    }
    read.positions = c.context().0.lock().unwrap().clone();
}

/// Reads `parts` from the beginning with a librdkafka consumer (assign, no group).
fn rd_read(addr: &str, parts: &ToEnd, want: usize) -> Read {
    // librdkafka's assign() needs a group.id; with assign and no commits no group API is used.
    let c = rd_consumer(client(addr).set("group.id", "view-assign"));
    let mut tpl = TopicPartitionList::new();
    for (t, p, _) in parts {
        tpl.add_partition_offset(t, *p, Offset::Beginning)
            .expect("add partition");
    }
    c.assign(&tpl).expect("assign");
    let mut read = Read::default();
    poll_to_end(&c, parts, want, &mut read);
    read
}

/// Reads the views with librdkafka and checks everything: records, positions.
fn rd_check(report: &mut Report, what: &str, addr: &str, want: &Want, ends: &[i64]) {
    let views: Vec<String> = want.keys().cloned().collect();
    let parts = to_end(&views, ends);
    let total = want.values().map(BTreeMap::len).sum();
    let started = Instant::now();
    let read = rd_read(addr, &parts, total);
    eprintln!(
        "{what}: librdkafka read {total} records in {:?}",
        started.elapsed()
    );
    compare(report, what, &read.got, want);
    read.check_positions(report, what, &parts);
}

// ---------------------------------------------------------------------------------------------
// The wire and the disk, read directly

/// One record batch as it came on the wire.
#[derive(Clone, Debug)]
struct RawBatch {
    header: BatchHeader,
    bytes: Vec<u8>,
}

impl RawBatch {
    fn last(&self) -> i64 {
        self.header.base_offset + i64::from(self.header.last_offset_delta)
    }

    /// Its records with their offsets (none for an empty batch).
    fn records(&self) -> Result<Vec<(i64, Rec)>, String> {
        if self.header.records_count == 0 {
            return Ok(Vec::new());
        }
        let recs = ringlog::storage::records::decode_batch_records(
            &Bytes::from(self.bytes.clone()),
            &self.header,
            DECOMPRESSED_BYTES_MAX,
        )
        .map_err(|e| format!("batch at {}: {e}", self.header.base_offset))?;
        Ok(recs
            .into_iter()
            .map(|r| {
                let headers = r
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(k).into_owned(),
                            v.as_ref().map(|v| v.to_vec()),
                        )
                    })
                    .collect();
                (
                    self.header.base_offset + i64::from(r.offset_delta),
                    Rec {
                        key: r.key.map(|k| k.to_vec()),
                        value: r.value.map(|v| v.to_vec()).unwrap_or_default(),
                        headers,
                    },
                )
            })
            .collect())
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

/// The whole batches of a Fetch answer's record bytes (a cut tail is left out), each checked:
/// magic 2, a length that covers its header, and a CRC-32C over everything after the CRC field
/// that equals the stored one. The record count is not checked against the offsets: a view's
/// batches keep their offset span with fewer records.
fn parse_batches(bytes: &[u8]) -> Result<Vec<RawBatch>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + BATCH_HEADER_BYTES <= bytes.len() {
        let b = &bytes[at..];
        let batch_length = be_i32(b, 8);
        let size =
            usize::try_from(batch_length).map_err(|_| format!("length {batch_length}"))? + 12;
        if size < BATCH_HEADER_BYTES {
            return Err(format!("batch at byte {at}: length {batch_length}"));
        }
        if b.len() < size {
            break;
        }
        let header = BatchHeader {
            base_offset: be_i64(b, 0),
            batch_length,
            partition_leader_epoch: be_i32(b, 12),
            magic: b[16] as i8,
            crc: be_i32(b, 17) as u32,
            attributes: be_i16(b, 21),
            last_offset_delta: be_i32(b, 23),
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, 35),
            producer_id: be_i64(b, 43),
            producer_epoch: be_i16(b, 51),
            base_sequence: be_i32(b, 53),
            records_count: be_i32(b, 57),
        };
        if header.magic != 2 {
            return Err(format!(
                "batch at {}: magic {}",
                header.base_offset, header.magic
            ));
        }
        let crc = crc32c::crc32c(&b[21..size]);
        if crc != header.crc {
            return Err(format!(
                "batch at {}: CRC {:#x} stored, {crc:#x} computed",
                header.base_offset, header.crc
            ));
        }
        out.push(RawBatch {
            header,
            bytes: b[..size].to_vec(),
        });
        at += size;
    }
    Ok(out)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    ringlog::runtime::block_on(&cli::runtime_config(), f).expect("client runtime")
}

/// Every batch of `topic`-`partition` below `end`, fetched raw (ringlog's client, which does
/// not decode).
fn raw_read(
    addr: SocketAddr,
    topic: &str,
    partition: i32,
    end: i64,
) -> Result<Vec<RawBatch>, String> {
    block_on(async move {
        let mut conn = Connection::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let deadline = Instant::now() + STEP_WAIT;
        let mut out: Vec<RawBatch> = Vec::new();
        let mut offset = 0;
        while offset < end {
            if Instant::now() > deadline {
                return Err(format!(
                    "{topic}-{partition}: stuck at offset {offset} of {end}"
                ));
            }
            let f = conn
                .fetch(
                    topic,
                    partition,
                    offset,
                    8 << 20,
                    Duration::from_millis(100),
                )
                .await
                .map_err(|e| format!("fetch {topic}-{partition} at {offset}: {e}"))?;
            let batches =
                parse_batches(&f.records).map_err(|e| format!("{topic}-{partition}: {e}"))?;
            if let Some(last) = batches.last() {
                offset = last.last() + 1;
            }
            out.extend(batches);
        }
        Ok(out)
    })
}

/// The records of `views` (over a source with these ends) read raw from the wire, as a consumer
/// would see them.
fn raw_read_views(addr: SocketAddr, views: &[String], ends: &[i64]) -> Result<Got, String> {
    let mut got = Got::new();
    for v in views {
        for (p, end) in ends.iter().enumerate() {
            for b in raw_read(addr, v, p as i32, *end)? {
                for (o, r) in b.records()? {
                    got.push((v.clone(), p as i32, o, r));
                }
            }
        }
    }
    Ok(got)
}

/// How a view must send one source batch.
#[derive(Debug, PartialEq)]
enum Sent {
    /// The source's bytes.
    Whole,
    /// Cut to this many records.
    Cut(i32),
    /// Not at all (unless at the tail: then in an empty batch).
    Skipped,
}

/// The wire form of a view partition against its source's batches: whole-match batches are the
/// source's bytes, mixed ones keep base offset, last offset delta and codec with only the
/// matching records, no-match ones are left out, and a no-match tail is one empty batch
/// spanning it.
fn check_wire(source: &[RawBatch], view: &[RawBatch], filter: &Expr) -> Result<(), String> {
    let mut want: Vec<(Sent, &RawBatch)> = Vec::new();
    for b in source {
        let recs = b.records()?;
        let matching = recs.iter().filter(|(_, r)| matches(filter, r)).count();
        let sent = if matching == recs.len() {
            Sent::Whole
        } else if matching == 0 {
            Sent::Skipped
        } else {
            Sent::Cut(matching as i32)
        };
        want.push((sent, b));
    }
    let mut got = view.iter();
    let mut tail_from: Option<i64> = None;
    for (sent, b) in &want {
        let h = &b.header;
        match sent {
            Sent::Skipped => {
                tail_from.get_or_insert(h.base_offset);
                continue;
            }
            _ => tail_from = None,
        }
        let Some(v) = got.next() else {
            return Err(format!(
                "batch {}..={} ({sent:?}) not sent",
                h.base_offset,
                b.last()
            ));
        };
        match sent {
            Sent::Whole if v.bytes != b.bytes => {
                return Err(format!(
                    "batch {}..={} matches whole but was not sent as stored (got {}..={}, {} \
                     records)",
                    h.base_offset,
                    b.last(),
                    v.header.base_offset,
                    v.last(),
                    v.header.records_count
                ))
            }
            Sent::Cut(count) => {
                let vh = &v.header;
                if vh.base_offset != h.base_offset
                    || vh.last_offset_delta != h.last_offset_delta
                    || vh.attributes & 7 != h.attributes & 7
                    || vh.records_count != *count
                {
                    return Err(format!(
                        "mixed batch {}..={} (codec {}, {count} of {} records match) sent as \
                         {}..={} codec {} with {} records",
                        h.base_offset,
                        b.last(),
                        h.attributes & 7,
                        h.records_count,
                        vh.base_offset,
                        v.last(),
                        vh.attributes & 7,
                        vh.records_count
                    ));
                }
                let kept: Vec<(i64, Rec)> = b
                    .records()?
                    .into_iter()
                    .filter(|(_, r)| matches(filter, r))
                    .collect();
                if v.records()? != kept {
                    return Err(format!(
                        "mixed batch {}..={}: the cut batch's records are not the matching ones",
                        h.base_offset,
                        b.last()
                    ));
                }
            }
            _ => {}
        }
    }
    if let Some(from) = tail_from {
        let to = source.last().map_or(from, RawBatch::last);
        match got.next() {
            Some(v)
                if v.header.records_count == 0
                    && v.header.base_offset == from
                    && v.last() == to => {}
            other => {
                return Err(format!(
                    "the no-match tail {from}..={to} is not one empty batch: {:?}",
                    other.map(|v| (v.header.base_offset, v.last(), v.header.records_count))
                ))
            }
        }
    }
    if let Some(v) = got.next() {
        return Err(format!(
            "an extra batch {}..={} with {} records",
            v.header.base_offset,
            v.last(),
            v.header.records_count
        ));
    }
    Ok(())
}

fn partition_dir(data: &Path, topic: &str, partition: i32) -> PathBuf {
    data.join(format!("{topic}-{partition}"))
}

/// Files of `dir` named `{20 digits}.{ext}`, by that number.
fn numbered_files(dir: &Path, ext: &str) -> BTreeMap<i64, PathBuf> {
    let mut out = BTreeMap::new();
    if let Ok(listing) = std::fs::read_dir(dir) {
        for e in listing.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(&format!(".{ext}")) {
                if stem.len() == 20 {
                    if let Ok(n) = stem.parse::<i64>() {
                        out.insert(n, e.path());
                    }
                }
            }
        }
    }
    out
}

/// The entries of a filter index sidecar up to its first damaged one, as (batch base offset,
/// last offset, batch CRC), read by the layout in `crates/broker/src/view/index.rs`: a 16-byte
/// file header (magic `RLFI`, version 2, reserved 0, segment base), then entries of length,
/// CRC-32C of the rest, base offset, last offset, batch CRC, batch size, summary.
fn sidecar_entries(path: &Path, segment_base: i64) -> BTreeSet<(i64, i64, u32)> {
    let mut out = BTreeSet::new();
    let Ok(bytes) = std::fs::read(path) else {
        return out;
    };
    let mut header = b"RLFI".to_vec();
    header.extend_from_slice(&2u16.to_be_bytes());
    header.extend_from_slice(&0u16.to_be_bytes());
    header.extend_from_slice(&segment_base.to_be_bytes());
    if !bytes.starts_with(&header) {
        return out;
    }
    let mut at = header.len();
    while at + 8 <= bytes.len() {
        let len = be_i32(&bytes, at) as u32 as usize;
        let crc = be_i32(&bytes, at + 4) as u32;
        let Some(body) = bytes.get(at + 8..at + 4 + len) else {
            break;
        };
        if len < 28 || crc32c::crc32c(body) != crc {
            break;
        }
        out.insert((be_i64(body, 0), be_i64(body, 8), be_i32(body, 16) as u32));
        at += 4 + len;
    }
    out
}

/// Every batch of `source` (`topic`-`partition`'s batches) has an entry in its segment's
/// sidecar that matches its offsets and CRC.
fn indexed(data: &Path, topic: &str, partition: i32, source: &[RawBatch]) -> Result<(), String> {
    let dir = partition_dir(data, topic, partition);
    let segments = numbered_files(&dir, "log");
    let sidecars = numbered_files(&dir, "filter");
    let mut entries: HashMap<i64, BTreeSet<(i64, i64, u32)>> = HashMap::new();
    let mut missing = Vec::new();
    for b in source {
        let Some((&seg, _)) = segments.range(..=b.header.base_offset).next_back() else {
            return Err(format!("no segment holds offset {}", b.header.base_offset));
        };
        let e = entries.entry(seg).or_insert_with(|| {
            sidecars
                .get(&seg)
                .map(|p| sidecar_entries(p, seg))
                .unwrap_or_default()
        });
        if !e.contains(&(b.header.base_offset, b.last(), b.header.crc)) {
            missing.push(b.header.base_offset);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{topic}-{partition}: {} of {} batches without an index entry (first at {:?}); \
             segments {:?}, sidecars {:?}",
            missing.len(),
            source.len(),
            &missing[..missing.len().min(5)],
            segments.keys().collect::<Vec<_>>(),
            sidecars.keys().collect::<Vec<_>>()
        ))
    }
}

/// Waits until every batch of every partition of `topic` is indexed (or [`REBUILD_WAIT`]).
fn wait_indexed(data: &Path, topic: &str, sources: &[Vec<RawBatch>]) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let r: Result<(), String> = sources
            .iter()
            .enumerate()
            .try_for_each(|(p, batches)| indexed(data, topic, p as i32, batches));
        match r {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) if start.elapsed() > REBUILD_WAIT => {
                return Err(format!("after {REBUILD_WAIT:?}: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The raw batches of every partition of `topic` (ends per partition).
fn raw_source(addr: SocketAddr, topic: &str, ends: &[i64]) -> Vec<Vec<RawBatch>> {
    ends.iter()
        .enumerate()
        .map(|(p, end)| raw_read(addr, topic, p as i32, *end).expect("raw read of the source"))
        .collect()
}

/// The views' counters, when the broker serves DescribeViews (`None`, said loudly, when not).
fn describe_views(addr: SocketAddr, names: &[String]) -> Option<Vec<ViewInfo>> {
    let names = names.to_vec();
    let r = block_on(async move {
        let mut conn = Connection::connect(addr).await?;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        conn.describe_views(&names).await
    });
    match r {
        Ok(v) => Some(v),
        Err(e @ ClientError::Closed { .. }) => {
            eprintln!(
                "SKIPPED: the view counters check: this broker does not serve DescribeViews ({e})"
            );
            None
        }
        Err(e) => panic!("DescribeViews: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared setups

/// A broker with two shards over `dir` that acknowledges appends without waiting for their
/// fdatasync (durability is not what these tests are about, and the test rounds wait for every
/// acknowledgement; a clean shutdown leaves the data for a restart all the same).
fn start_broker(io: IoKind, dir: &Path, edit: impl FnOnce(&mut BrokerConfig)) -> Broker {
    support::start_broker(io, dir, 2, |c| {
        c.flush = FlushPolicy::Never;
        edit(c);
    })
}

/// The shaped sources (one per codec, 3 partitions) with their views `tag = 'red'`, created
/// before the data (indexed at append); returns what each view must deliver and the ends.
fn setup_shapes(addr: &str, prefix: &str) -> (Want, Vec<i64>) {
    let sources: Vec<String> = CODECS.iter().map(|c| format!("{prefix}-{c}")).collect();
    let specs: Vec<(&str, i32)> = sources.iter().map(|s| (s.as_str(), 3)).collect();
    create_sources(addr, &specs);
    let views: Vec<(String, String, String)> = sources
        .iter()
        .map(|s| {
            (
                format!("{s}-red"),
                s.clone(),
                render(&red(), Style::default()),
            )
        })
        .collect();
    create_views(addr, &views);
    let mut want = Want::new();
    let mut end = Vec::new();
    for (codec, source) in CODECS.iter().zip(&sources) {
        let placed = produce(
            &[producer(addr, codec, Batching::Exact(SHAPE_RECORDS))],
            source,
            &shape_rounds(source),
        );
        end = ends(&placed, 3);
        want.insert(format!("{source}-red"), expected(&placed, &red()));
    }
    (want, end)
}

/// Random records on `source` (3 partitions, batches of every codec in turn, or only `codec`),
/// and, for each operator view, its name (`{source}-{suffix}`), what it must deliver, and its
/// filter. The views are created before the data when `views_first`, else not at all.
fn setup_operators(
    addr: &str,
    source: &str,
    rounds: usize,
    codecs: &[&str],
    views_first: bool,
) -> (Placed, Vec<(String, Expr, Style)>) {
    create_sources(addr, &[(source, 3)]);
    let views: Vec<(String, Expr, Style)> = operator_views()
        .into_iter()
        .map(|(suffix, e, style)| (format!("{source}-{suffix}"), e, style))
        .collect();
    let specs: Vec<(String, String, String)> = views
        .iter()
        .map(|(name, e, style)| (name.clone(), source.to_string(), render(e, *style)))
        .collect();
    if views_first {
        create_views(addr, &specs);
    }
    let producers: Vec<BaseProducer<Acks>> = codecs
        .iter()
        .map(|c| producer(addr, c, Batching::Linger))
        .collect();
    let placed = produce(
        &producers,
        source,
        &random_rounds(0x170f_17e5, source, rounds, 3),
    );
    (placed, views)
}

fn want_of(placed: &Placed, views: &[(String, Expr, Style)]) -> Want {
    views
        .iter()
        .map(|(name, e, _)| (name.clone(), expected(placed, e)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// kafka-python

/// What one run of the script printed.
#[derive(Default)]
struct PyOut {
    /// Records by line kind (R, A, B).
    records: BTreeMap<String, Got>,
    /// (topic, partition) -> (position, end).
    positions: BTreeMap<(String, i32), (i64, i64)>,
    /// partition -> committed offset (-1: none).
    committed: BTreeMap<i32, i64>,
    /// Topics skipped (codec not available).
    skipped: BTreeSet<String>,
    ok: bool,
    text: String,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return None;
    }
    Some(
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
            .collect(),
    )
}

fn run_script(py: &Path, args: &[&str]) -> PyOut {
    let started = Instant::now();
    let out = support::run_bounded(
        Command::new(py)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/kafka_python_view.py"
            ))
            .args(args),
        SCRIPT_WAIT,
    );
    eprintln!("kafka-python {}: {:?}", args[0], started.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut parsed = PyOut {
        ok: out.status.success(),
        ..PyOut::default()
    };
    for line in stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[..] {
            [kind @ ("R" | "A" | "B"), t, p, o, k, v, h] => {
                let headers = h
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| {
                        let (name, val) = x.split_once('=').expect("name=value");
                        let name =
                            String::from_utf8(unhex(name).unwrap_or_default()).expect("utf-8");
                        (name, if val == "~" { None } else { unhex(val) })
                    })
                    .collect();
                let rec = Rec {
                    key: unhex(k),
                    value: unhex(v).unwrap_or_default(),
                    headers,
                };
                parsed.records.entry(kind.to_string()).or_default().push((
                    t.to_string(),
                    p.parse().expect("partition"),
                    o.parse().expect("offset"),
                    rec,
                ));
            }
            ["P", t, p, pos, end] => {
                parsed.positions.insert(
                    (t.to_string(), p.parse().expect("partition")),
                    (pos.parse().expect("position"), end.parse().expect("end")),
                );
            }
            ["C", _, p, c] => {
                parsed
                    .committed
                    .insert(p.parse().expect("partition"), c.parse().expect("offset"));
            }
            ["S", t, _] => {
                parsed.skipped.insert(t.to_string());
            }
            _ => {}
        }
    }
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| !["R\t", "A\t", "B\t"].iter().any(|k| l.starts_with(k)))
        .collect();
    parsed.text = format!(
        "status {:?}; stdout (records left out):\n{}\nstderr:\n{}",
        out.status,
        lines.join("\n"),
        stderr
    );
    parsed
}

/// One run of the group scenario.
struct GroupRun {
    /// What consumer 1 took (and committed).
    taken: Got,
    /// The committed offsets consumer 2 found (-1: none).
    committed: BTreeMap<i32, i64>,
    /// What consumer 2 read.
    rest: Got,
}

/// Consumer 1 took `taken` and committed, consumer 2 found `committed` and read `rest`: the
/// commit is the next offset of each partition consumer 1 took from, consumer 2 starts there,
/// and together they read the view exactly once.
fn group_checks(
    report: &mut Report,
    what: &str,
    (view, want, half): (&str, &Placed, usize),
    run: &GroupRun,
) {
    let GroupRun {
        taken,
        committed,
        rest,
    } = run;
    report.check(
        format!("{what}: consumer 1 took half"),
        taken.len() == half,
        || format!("{} of {half}", taken.len()),
    );
    let mut nexts: BTreeMap<i32, i64> = BTreeMap::new();
    for (_, p, o, _) in taken {
        let n = nexts.entry(*p).or_default();
        *n = (*n).max(o + 1);
    }
    let found: BTreeMap<i32, i64> = committed
        .iter()
        .filter(|(_, o)| **o >= 0)
        .map(|(p, o)| (*p, *o))
        .collect();
    report.check(
        format!("{what}: committed offsets are the next after what consumer 1 took"),
        found == nexts,
        || format!("committed {found:?}, took up to {nexts:?}"),
    );
    let early: Vec<(i32, i64)> = rest
        .iter()
        .filter(|(_, p, o, _)| nexts.get(p).is_some_and(|n| o < n))
        .map(|(_, p, o, _)| (*p, *o))
        .collect();
    report.check(
        format!("{what}: consumer 2 resumed after the commit"),
        early.is_empty(),
        || {
            format!(
                "read again below the commit: {:?}",
                &early[..early.len().min(6)]
            )
        },
    );
    let mut all = taken.clone();
    all.extend(rest.iter().cloned());
    // Per partition in offset order: consumer 1's prefix, then consumer 2's.
    all.sort_by_key(|(_, p, _, _)| *p);
    let want: Want = [(view.to_string(), want.clone())].into();
    compare(
        report,
        &format!("{what}: both consumers together"),
        &all,
        &want,
    );
}

fn kafka_python_reads_views(io: IoKind) {
    let Some(py) = support::python_or_skip("kafka-python view tests") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(io, dir.path(), |_| {});
    let addr = broker.local_addr().to_string();
    let mut report = Report::default();

    let (mut want, shape_ends) = setup_shapes(&addr, "pyshape");
    let mut specs: Vec<String> = CODECS
        .iter()
        .map(|c| format!("pyshape-{c}-red:3:{c}"))
        .collect();
    // A view created by kafka-python's admin client reads like the others.
    let created = run_script(
        &py,
        &[
            "create",
            &addr,
            "pyshape-none-pyred",
            "pyshape-none",
            "tag = 'red'",
        ],
    );
    report.check("kafka-python admin creates a view", created.ok, || {
        created.text.clone()
    });
    want.insert(
        "pyshape-none-pyred".into(),
        want["pyshape-none-red"].clone(),
    );
    specs.push("pyshape-none-pyred:3:none".into());
    let (ops, views) = setup_operators(&addr, "pyops", 10, &["none"], true);
    want.extend(want_of(&ops, &views));
    let ops_ends = ends(&ops, 3);
    specs.extend(views.iter().map(|(v, _, _)| format!("{v}:3:none")));

    let mut args = vec!["consume", addr.as_str()];
    args.extend(specs.iter().map(String::as_str));
    let out = run_script(&py, &args);
    report.check("kafka-python consumer ran", out.ok, || out.text.clone());
    for topic in &out.skipped {
        eprintln!("SKIPPED: kafka-python did not read {topic}: its codec's package is missing");
    }
    let readable: Want = want
        .iter()
        .filter(|(v, _)| !out.skipped.contains(*v))
        .map(|(v, p)| (v.clone(), p.clone()))
        .collect();
    let got = out.records.get("R").cloned().unwrap_or_default();
    compare(&mut report, "kafka-python", &got, &readable);
    let mut short = Vec::new();
    for view in readable.keys() {
        let view_ends = if view.starts_with("pyops") {
            &ops_ends
        } else {
            &shape_ends
        };
        for (p, end) in view_ends.iter().enumerate() {
            let at = out.positions.get(&(view.clone(), p as i32));
            if at != Some(&(*end, *end)) {
                short.push(format!("{view}-{p}: (position, end) {at:?}, want {end}"));
            }
        }
    }
    report.check(
        "kafka-python: every position reached the high watermark (no-match tails included)",
        short.is_empty(),
        || format!("{} short: {:?}", short.len(), &short[..short.len().min(6)]),
    );

    // A group commits half of a view and a new member resumes.
    let view = "pyops-or".to_string();
    let half = want[&view].len() / 2;
    let g = run_script(
        &py,
        &[
            "group",
            &addr,
            &view,
            "3",
            "pyview-group",
            &half.to_string(),
        ],
    );
    report.check("kafka-python group run", g.ok, || g.text.clone());
    let run = GroupRun {
        taken: g.records.get("A").cloned().unwrap_or_default(),
        committed: g.committed.clone(),
        rest: g.records.get("B").cloned().unwrap_or_default(),
    };
    group_checks(
        &mut report,
        "kafka-python group",
        (&view, &want[&view], half),
        &run,
    );

    let refused = run_script(&py, &["refused", &addr, "pyshape-none-red"]);
    report.check(
        "kafka-python: a produce to a view is refused with InvalidTopicError",
        refused.ok,
        || refused.text.clone(),
    );

    broker.shutdown();
    broker.join().unwrap();
    report.finish("kafka-python on views");
}

// ---------------------------------------------------------------------------------------------
// librdkafka

fn rdkafka_all_match_no_match_and_mixed_batches_every_codec(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(io, dir.path(), |_| {});
    let sock = broker.local_addr();
    let addr = sock.to_string();
    let mut report = Report::default();

    let (want, shape_ends) = setup_shapes(&addr, "shape");
    rd_check(&mut report, "librdkafka", &addr, &want, &shape_ends);
    // ListOffsets on a view answers its source's offsets.
    let c: BaseConsumer = client(&addr).create().expect("consumer");
    for view in want.keys() {
        let marks: Vec<_> = (0..3)
            .map(|p| c.fetch_watermarks(view, p, STEP_WAIT).ok())
            .collect();
        let source: Vec<_> = shape_ends.iter().map(|e| Some((0, *e))).collect();
        report.check(
            format!("{view}: watermarks are the source's"),
            marks == source,
            || format!("{marks:?}, source {source:?}"),
        );
    }

    // The wire: every view partition against its source's batches, batch by batch.
    for codec in CODECS {
        let source = format!("shape-{codec}");
        let view = format!("{source}-red");
        let sources = raw_source(sock, &source, &shape_ends);
        report.check(
            format!("{source}: one batch per round as produced"),
            sources
                .iter()
                .zip(SHAPES)
                .all(|(b, shapes)| b.len() == shapes.len()),
            || format!("{:?}", sources.iter().map(Vec::len).collect::<Vec<_>>()),
        );
        for (p, (src, end)) in sources.iter().zip(&shape_ends).enumerate() {
            let r = raw_read(sock, &view, p as i32, *end).and_then(|v| check_wire(src, &v, &red()));
            report.result(format!("wire form of {view}-{p}"), r);
        }
    }

    // Homogeneous batches, a tenth of them matching: the counters, when the broker has them.
    create_sources(&addr, &[("homog", 2)]);
    create_views(
        &addr,
        &[(
            "homog-red".into(),
            "homog".into(),
            render(&red(), Style::default()),
        )],
    );
    let rounds: Vec<Vec<Batch>> = (0..20)
        .map(|round| {
            (0..2)
                .map(|p| {
                    let shape = if round % 10 == 3 + 4 * p as usize {
                        Shape::AllRed
                    } else {
                        Shape::NoneBlue
                    };
                    let id = |i: usize| format!("homog/{p}/{round}/{i}");
                    (p, shape_batch(shape, &id))
                })
                .collect()
        })
        .collect();
    let placed = produce(
        &[producer(&addr, "lz4", Batching::Exact(SHAPE_RECORDS))],
        "homog",
        &rounds,
    );
    let homog_ends = ends(&placed, 2);
    let homog_want: Want = [("homog-red".to_string(), expected(&placed, &red()))].into();
    let before = describe_views(sock, &["homog-red".to_string()]);
    rd_check(
        &mut report,
        "librdkafka homogeneous",
        &addr,
        &homog_want,
        &homog_ends,
    );
    if let (Some(before), Some(after)) = (before, describe_views(sock, &["homog-red".to_string()]))
    {
        let (b, a) = (&before[0], &after[0]);
        let delta = ViewInfo {
            bytes_zero_copy: a.bytes_zero_copy - b.bytes_zero_copy,
            bytes_rewritten: a.bytes_rewritten - b.bytes_rewritten,
            ..ViewInfo::default()
        };
        let share = delta.zero_copy_per_mille();
        report.check(
            "homogeneous batches: at least 95% of the delivered bytes went out zero-copy",
            share.is_some_and(|s| s >= ZERO_COPY_PER_MILLE_MIN),
            || format!("{share:?} per mille; before {b:?}, after {a:?}"),
        );
        let blue = rounds.iter().flatten().count() as u64 - 4;
        report.check(
            "homogeneous batches: every no-match batch skipped unread",
            a.batches_skipped - b.batches_skipped >= blue
                && a.batches_rewritten == b.batches_rewritten
                && a.batches_unindexed == b.batches_unindexed,
            || format!("{blue} no-match batches; before {b:?}, after {a:?}"),
        );
    }

    broker.shutdown();
    broker.join().unwrap();
    report.finish("librdkafka on all-match, no-match and mixed batches");
}

fn rdkafka_every_operator_against_the_reference(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(io, dir.path(), |_| {});
    let addr = broker.local_addr().to_string();
    let mut report = Report::default();

    let (placed, views) = setup_operators(&addr, "ops", 30, &CODECS, true);
    let want = want_of(&placed, &views);
    // The data must tell the filters apart: each view matches some records and misses some
    // (the constant-false view's right side matches some too).
    for (v, w) in &want {
        report.check(
            format!("{v}: the data has matching and non-matching records"),
            !w.is_empty() && w.len() < placed.len(),
            || format!("{} of {} match", w.len(), placed.len()),
        );
    }
    rd_check(&mut report, "librdkafka", &addr, &want, &ends(&placed, 3));

    broker.shutdown();
    broker.join().unwrap();
    report.finish("every operator against the reference");
}

/// A librdkafka member of group `group` subscribed to `topic`.
fn group_member(addr: &str, group: &str, topic: &str) -> RdConsumer {
    let c = rd_consumer(
        client(addr)
            .set("group.id", group)
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "300")
            .set("auto.offset.reset", "earliest"),
    );
    c.subscribe(&[topic]).expect("subscribe");
    c
}

fn rdkafka_group_commits_and_resumes_on_a_view(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(io, dir.path(), |_| {});
    let addr = broker.local_addr().to_string();
    let mut report = Report::default();

    create_sources(&addr, &[("grp", 3)]);
    let filter = or(
        is_in(hdr("tag"), vec![s("red"), s("green")], false),
        cmp(hdr("amount"), CmpOp::Gt, n("100")),
    );
    let view = "grp-view".to_string();
    create_views(
        &addr,
        &[(
            view.clone(),
            "grp".into(),
            render(&filter, Style::default()),
        )],
    );
    let placed = produce(
        &[producer(&addr, "zstd", Batching::Linger)],
        "grp",
        &random_rounds(0x6e00b, "grp", 16, 3),
    );
    let want = expected(&placed, &filter);
    let half = want.len() / 2;

    // Member 1 takes the first half, commits exactly that, and leaves.
    let c1 = group_member(&addr, "view-group", &view);
    let mut taken = Got::new();
    let deadline = Instant::now() + STEP_WAIT;
    while taken.len() < half && Instant::now() < deadline {
        if let Some(Ok(m)) = c1.poll(Duration::from_millis(50)) {
            taken.push(rec_of(&m));
        }
    }
    let mut tpl = TopicPartitionList::new();
    let mut nexts: BTreeMap<i32, i64> = BTreeMap::new();
    for (_, p, o, _) in &taken {
        nexts.insert(*p, o + 1);
    }
    for (p, o) in &nexts {
        tpl.add_partition_offset(&view, *p, Offset::Offset(*o))
            .expect("add");
    }
    let commit = c1.commit(&tpl, CommitMode::Sync);
    report.check("member 1 commits", commit.is_ok(), || format!("{commit:?}"));
    drop(c1);

    // Member 2 finds the commit and reads the rest.
    let c2 = group_member(&addr, "view-group", &view);
    let committed: BTreeMap<i32, i64> = c2
        .committed_offsets(
            {
                let mut all = TopicPartitionList::new();
                for p in 0..3 {
                    all.add_partition(&view, p);
                }
                all
            },
            STEP_WAIT,
        )
        .map(|tpl| {
            tpl.elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let parts = to_end(std::slice::from_ref(&view), &ends(&placed, 3));
    let mut read = Read::default();
    poll_to_end(&c2, &parts, want.len() - half, &mut read);
    read.check_positions(&mut report, "member 2", &parts);
    let run = GroupRun {
        taken,
        committed,
        rest: read.got,
    };
    group_checks(&mut report, "librdkafka group", (&view, &want, half), &run);
    drop(c2);

    broker.shutdown();
    broker.join().unwrap();
    report.finish("a group on a view");
}

fn view_created_after_the_data_exists(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(io, dir.path(), |_| {});
    let sock = broker.local_addr();
    let addr = sock.to_string();
    let mut report = Report::default();

    // The source has no view while its data is written: no index.
    let (placed, views) = setup_operators(&addr, "late", 16, &CODECS, false);
    let want = want_of(&placed, &views);
    let ends = ends(&placed, 3);
    let names: Vec<String> = views.iter().map(|(v, _, _)| v.clone()).collect();
    let sidecars = || {
        (0..3)
            .map(|p| numbered_files(&partition_dir(dir.path(), "late", p), "filter").len())
            .sum::<usize>()
    };
    report.check("no index without views", sidecars() == 0, || {
        format!("{} sidecars", sidecars())
    });
    let specs: Vec<(String, String, String)> = views
        .iter()
        .map(|(name, e, style)| (name.clone(), "late".to_string(), render(e, *style)))
        .collect();

    // One view, read raw right after its creation, before the builder (which looks once a
    // second) got to the source: its batches are read and filtered record by record.
    let (first, rest) = specs.split_first().expect("views");
    create_views(&addr, std::slice::from_ref(first));
    let first_want: Want = [(first.0.clone(), want[&first.0].clone())].into();
    match raw_read_views(sock, std::slice::from_ref(&first.0), &ends) {
        Ok(got) => compare(&mut report, "at once, raw", &got, &first_want),
        Err(e) => report.check("at once, raw", false, || e),
    }
    if sidecars() > 0 {
        eprintln!("NOTE: the builder wrote sidecars before the first read was done");
    }
    if let Some(v) = describe_views(sock, std::slice::from_ref(&first.0)) {
        // Not a check: the builder may have run in the few ms since the view was created.
        eprintln!(
            "{}: the first read found {} batches without a summary (read and filtered)",
            first.0, v[0].batches_unindexed
        );
    }
    create_views(&addr, rest);
    rd_check(
        &mut report,
        "before or while indexing, librdkafka",
        &addr,
        &want,
        &ends,
    );

    let sources = raw_source(sock, "late", &ends);
    let built = wait_indexed(dir.path(), "late", &sources);
    report.check(
        "the builder indexes every batch of the source",
        built.is_ok(),
        || format!("{built:?}"),
    );
    let before = describe_views(sock, &names);
    rd_check(&mut report, "indexed, librdkafka", &addr, &want, &ends);
    match raw_read_views(sock, &names, &ends) {
        Ok(got) => compare(&mut report, "indexed, raw", &got, &want),
        Err(e) => report.check("indexed, raw", false, || e),
    }
    if let (Some(before), Some(after)) = (before, describe_views(sock, &names)) {
        let unindexed = |v: &[ViewInfo]| v.iter().map(|v| v.batches_unindexed).sum::<u64>();
        let backlog: u64 = after.iter().map(|v| v.index_backlog_offsets).sum();
        report.check(
            "once built, no batch is read for want of a summary, and no backlog",
            unindexed(&after) == unindexed(&before) && backlog == 0,
            || {
                format!(
                    "unindexed reads {} -> {}, backlog {backlog}",
                    unindexed(&before),
                    unindexed(&after)
                )
            },
        );
    }

    broker.shutdown();
    broker.join().unwrap();
    report.finish("a view created after the data");
}

/// How the sidecars are damaged between two runs of the broker.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// None: a clean restart.
    Clean,
    /// Each file one of: bytes flipped, cut short, overwritten with garbage, deleted, kept.
    Mixed(u64),
    /// Every file deleted.
    DeleteAll,
    /// Partition 0's and 1's sidecars of the same segments swapped: well-formed entries for
    /// the same offsets, of other batches (other CRCs).
    Swap,
}

/// Damages the sidecars of `topic`'s partitions 0 and 1; returns what was done, per file.
fn damage(data: &Path, topic: &str, how: Damage) -> Vec<String> {
    let dirs = [partition_dir(data, topic, 0), partition_dir(data, topic, 1)];
    let mut done = Vec::new();
    match how {
        Damage::Clean => {}
        Damage::Swap => {
            let (a, b) = (
                numbered_files(&dirs[0], "filter"),
                numbered_files(&dirs[1], "filter"),
            );
            for (base, pa) in &a {
                if let Some(pb) = b.get(base) {
                    let (ba, bb) = (std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
                    std::fs::write(pa, bb).unwrap();
                    std::fs::write(pb, ba).unwrap();
                    done.push(format!("swapped {base}"));
                }
            }
        }
        Damage::DeleteAll | Damage::Mixed(_) => {
            let mut rng = Rng(match how {
                Damage::Mixed(seed) => seed,
                _ => 1,
            });
            for (i, path) in dirs
                .iter()
                .flat_map(|d| numbered_files(d, "filter").into_values())
                .enumerate()
            {
                let mut bytes = std::fs::read(&path).unwrap();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let action = match how {
                    Damage::DeleteAll => 3,
                    _ => (i + rng.below(5)) % 5,
                };
                match action {
                    0 => {
                        for _ in 0..3 {
                            let at = rng.below(bytes.len().max(1));
                            if let Some(b) = bytes.get_mut(at) {
                                *b ^= 1 << rng.below(8);
                            }
                        }
                        std::fs::write(&path, &bytes).unwrap();
                        done.push(format!("{name}: flipped 3 bits"));
                    }
                    1 => {
                        let len = rng.below(bytes.len().max(1));
                        bytes.truncate(len);
                        std::fs::write(&path, &bytes).unwrap();
                        done.push(format!("{name}: cut to {len} bytes"));
                    }
                    2 => {
                        let len = 1 + rng.below(2 * bytes.len() + 1);
                        let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                        std::fs::write(&path, garbage).unwrap();
                        done.push(format!("{name}: {len} bytes of garbage"));
                    }
                    3 => {
                        std::fs::remove_file(&path).unwrap();
                        done.push(format!("{name}: deleted"));
                    }
                    _ => done.push(format!("{name}: kept")),
                }
            }
        }
    }
    done
}

fn restart_keeps_views_and_a_damaged_index_is_never_trusted(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        start_broker(io, dir.path(), |c| {
            c.segment_bytes = RESTART_SEGMENT_BYTES;
        })
    };
    let mut broker = start();
    let addr = broker.local_addr().to_string();
    let mut report = Report::default();

    create_sources(&addr, &[("rs", 2)]);
    let filters: Vec<(String, Expr)> = vec![
        ("rs-red".into(), red()),
        (
            "rs-amount".into(),
            between(hdr("amount"), n("300"), n("600"), false),
        ),
        (
            "rs-both".into(),
            and(
                is_in(hdr("tag"), vec![s("red"), s("blu")], false),
                not(cmp(hdr("amount"), CmpOp::Lt, n("500"))),
            ),
        ),
    ];
    let specs: Vec<(String, String, String)> = filters
        .iter()
        .map(|(v, e)| (v.clone(), "rs".into(), render(e, Style::default())))
        .collect();
    create_views(&addr, &specs);
    // The two partitions get batches of the same record counts (so the same offsets), partition
    // 1 with red and blu swapped: an index entry trusted for its offsets alone would be wrong.
    let mut rng = Rng(0x5e57a27);
    let rounds: Vec<Vec<Batch>> = (0..40)
        .map(|round| {
            let kind = round % 3;
            let amounts: Vec<u64> = (0..RESTART_RECORDS)
                .map(|_| 100 + rng.below(900) as u64)
                .collect();
            (0..2)
                .map(|p| {
                    let recs = (0..RESTART_RECORDS)
                        .map(|i| {
                            let t = match (kind, p, i % 2) {
                                (0, 0, _) | (1, 1, _) | (2, 0, 0) | (2, 1, 1) => "red",
                                _ => "blu",
                            };
                            Rec {
                                key: Some(format!("k{round:03}{i}").into_bytes()),
                                value: value(&format!("rs/{p}/{round}/{i}")),
                                headers: vec![
                                    tag(t),
                                    ("amount".into(), Some(amounts[i].to_string().into_bytes())),
                                ],
                            }
                        })
                        .collect();
                    (p, recs)
                })
                .collect()
        })
        .collect();
    let placed = produce(
        &[producer(&addr, "none", Batching::Exact(RESTART_RECORDS))],
        "rs",
        &rounds,
    );
    let ends = ends(&placed, 2);
    let want: Want = filters
        .iter()
        .map(|(v, e)| (v.clone(), expected(&placed, e)))
        .collect();
    let sources = raw_source(broker.local_addr(), "rs", &ends);
    report.check(
        "several segments per partition",
        (0..2).all(|p| numbered_files(&partition_dir(dir.path(), "rs", p), "log").len() >= 3),
        || "segments did not roll".into(),
    );
    rd_check(&mut report, "before any restart", &addr, &want, &ends);
    let built = wait_indexed(dir.path(), "rs", &sources);
    report.check("indexed at append", built.is_ok(), || format!("{built:?}"));

    for (cycle, how) in [
        Damage::Clean,
        Damage::Mixed(0xd1),
        Damage::Swap,
        Damage::Mixed(0xd2),
        Damage::DeleteAll,
    ]
    .into_iter()
    .enumerate()
    {
        broker.shutdown();
        broker.join().unwrap();
        let done = damage(dir.path(), "rs", how);
        let what = format!("restart {cycle} ({how:?})");
        if let Damage::Swap = how {
            report.check(
                format!("{what}: sidecars to swap"),
                !done.is_empty(),
                || "no segment base in both partitions".into(),
            );
        }
        eprintln!("{what}: {done:?}");
        broker = start();
        let addr = broker.local_addr().to_string();
        let listed = describe_views(broker.local_addr(), &[]).map(|v| {
            v.iter()
                .map(|v| {
                    (
                        v.name.clone(),
                        v.source.clone(),
                        v.filter.clone(),
                        v.partitions,
                    )
                })
                .collect::<Vec<_>>()
        });
        // Sorted by name, as DescribeViews lists them.
        let defined: BTreeSet<(String, String, String, i32)> = specs
            .iter()
            .map(|(v, src, f)| (v.clone(), src.clone(), f.clone(), 2))
            .collect();
        let defined: Vec<_> = defined.into_iter().collect();
        report.check(
            format!("{what}: the views are kept"),
            listed.as_ref().is_none_or(|l| *l == defined),
            || format!("{listed:?}"),
        );
        rd_check(&mut report, &what, &addr, &want, &ends);
        let rebuilt = wait_indexed(dir.path(), "rs", &sources);
        report.check(format!("{what}: index rebuilt"), rebuilt.is_ok(), || {
            format!("{rebuilt:?}")
        });
        rd_check(
            &mut report,
            &format!("{what}, rebuilt"),
            &addr,
            &want,
            &ends,
        );
    }

    broker.shutdown();
    broker.join().unwrap();
    report.finish("restarts and damaged indexes");
}

fn rdkafka_produce_to_a_view_is_refused(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(io, dir.path(), |_| {});
    let addr = broker.local_addr().to_string();
    let mut report = Report::default();

    create_sources(&addr, &[("orders", 2)]);
    create_views(
        &addr,
        &[("orders-red".into(), "orders".into(), "tag = 'red'".into())],
    );
    let p = producer(&addr, "none", Batching::Linger);
    let r = Rec {
        key: None,
        value: value("refused"),
        headers: vec![tag("red")],
    };
    send(&p, "orders-red", 0, &r, 0);
    let flushed = p.flush(STEP_WAIT);
    let ack = p.context().0.lock().unwrap().remove(&0);
    report.check(
        "a produce to a view is refused with INVALID_TOPIC_EXCEPTION",
        matches!(
            ack,
            Some(Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::InvalidTopic
            )))
        ),
        || format!("delivery report {ack:?}, flush {flushed:?}"),
    );
    // Nothing reached the source; the source itself still takes records.
    let c: BaseConsumer = client(&addr).create().expect("consumer");
    let marks = c.fetch_watermarks("orders", 0, STEP_WAIT);
    report.check(
        "the source got nothing",
        matches!(marks, Ok((0, 0))),
        || format!("{marks:?}"),
    );
    let placed = produce(
        &[producer(&addr, "none", Batching::Exact(1))],
        "orders",
        &[vec![(0, vec![r])]],
    );
    report.check("the source takes records", placed.len() == 1, || {
        format!("{placed:?}")
    });

    broker.shutdown();
    broker.join().unwrap();
    report.finish("produce to a view");
}
