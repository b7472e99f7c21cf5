//! Shared by the scheduled-delivery tests (issue #15: `delay_clients.rs`, `delay_sigkill.rs`):
//! librdkafka producers that record every delivery report, what was sent and what a consumer saw,
//! and the delivery checks (exactly once, headers kept, never before due, on time, due-time order
//! within a partition) collected into a [`Report`] that lists every check that failed.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use ringlog::broker::topic_config::DELIVERY_DELAY_ENABLE;

/// The header naming an absolute due time, epoch ms in ASCII decimal.
pub const DELIVER_AT: &str = "ringlog-deliver-at";
/// The header naming a delay in ms after the broker received the record, ASCII decimal.
pub const DELAY_MS: &str = "ringlog-delay-ms";
/// A record's headers, in order: (key, value).
pub type RecordHeaders = Vec<(String, Vec<u8>)>;
/// Longest any single wait (a flush, a queue that is full) may take.
pub const STEP_WAIT: Duration = Duration::from_secs(30);
/// After every awaited record is in, a consumer reads this much longer, to catch doubles.
pub const QUIET: Duration = Duration::from_millis(500);

/// Wall-clock time in ms (the broker reads the same clock for `ringlog-deliver-at`).
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
        * 1000.0
}

/// Every check of a test, run to the end; `finish` fails the test listing those that failed.
#[derive(Default)]
pub struct Report {
    results: Vec<(String, Result<(), String>)>,
}

impl Report {
    pub fn check(&mut self, name: impl Into<String>, ok: bool, why: impl FnOnce() -> String) {
        let name = name.into();
        let outcome = if ok { Ok(()) } else { Err(why()) };
        match &outcome {
            Ok(()) => eprintln!("PASS {name}"),
            Err(why) => eprintln!("FAIL {name}: {why}"),
        }
        self.results.push((name, outcome));
    }

    pub fn finish(self, what: &str) {
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

/// A client of the broker at `addr` with bounded timeouts.
pub fn client(addr: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", addr)
        .set("socket.timeout.ms", "10000")
        .set("message.timeout.ms", "20000")
        .set("log_level", "3");
    c
}

/// Creates (name, partitions, delay enabled) topics, every one acknowledged.
pub fn create_topics(addr: &str, topics: &[(&str, i32, bool)]) {
    let admin: AdminClient<DefaultClientContext> = client(addr).create().expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|&(name, partitions, delayed)| {
            let t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
            if delayed {
                t.set(DELIVERY_DELAY_ENABLE, "true")
            } else {
                t
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results =
        futures_executor::block_on(admin.create_topics(&new, &opts)).expect("create_topics");
    for r in results {
        r.expect("topic created");
    }
}

/// A delivery report: when it came and the offset (or the error).
pub struct Ack {
    pub at_ms: f64,
    pub outcome: Result<i64, KafkaError>,
}

/// Collects delivery reports by the index each record was sent with.
#[derive(Default)]
pub struct Acks(pub Mutex<HashMap<usize, Ack>>);

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let at_ms = now_ms();
        let outcome = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.clone()),
        };
        self.0.lock().unwrap().insert(index, Ack { at_ms, outcome });
    }
}

pub type AckedProducer = BaseProducer<Acks>;

/// An acks=all producer (not idempotent unless `edit` says so) that records delivery reports.
pub fn producer(addr: &str, edit: impl FnOnce(&mut ClientConfig)) -> AckedProducer {
    let mut c = client(addr);
    c.set("acks", "all")
        .set("linger.ms", "100")
        .set("enable.idempotence", "false");
    edit(&mut c);
    c.create_with_context(Acks::default()).expect("producer")
}

/// Flushes, reporting (not failing on) a flush that did not finish: the records left are then
/// unacknowledged, which the checks see.
pub fn flush(p: &AckedProducer) {
    if let Err(e) = p.flush(STEP_WAIT) {
        eprintln!("flush did not finish: {e}");
    }
}

/// How a record asks for its delivery.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// `ringlog-delay-ms`.
    Delay(i64),
    /// `ringlog-deliver-at`.
    At(i64),
    /// No header.
    Now,
    /// A header that is already due (delay 0, or a deliver-at in the past).
    Due,
}

impl Kind {
    /// The header a record of this kind carries (`Due` picks its own).
    pub fn header(self) -> Option<(String, Vec<u8>)> {
        match self {
            Kind::Delay(ms) => Some((DELAY_MS.into(), ms.to_string().into_bytes())),
            Kind::At(at) => Some((DELIVER_AT.into(), at.to_string().into_bytes())),
            Kind::Now | Kind::Due => None,
        }
    }
}

/// One record sent, and what is known of its due time (ms, wall clock).
pub struct Sent {
    pub id: String,
    pub topic: String,
    pub kind: Kind,
    pub headers: RecordHeaders,
    pub sent_ms: f64,
    /// No earlier than this (ms) may it be seen: its deliver-at, or its delay after it was sent.
    pub due_lo: Option<f64>,
    /// It is due by this (ms), once acknowledged ([`Sent::acknowledged`]).
    pub due_hi: Option<f64>,
}

impl Sent {
    /// The broker received the record before it answered at `ack_ms`: a `Delay` record is due
    /// at most its delay after that, an `At` record at its time or, if the broker only received
    /// it later (a retry after a restart), at once on receipt.
    pub fn acknowledged(&mut self, ack_ms: f64) {
        match self.kind {
            Kind::Delay(ms) => self.due_hi = Some(ack_ms + ms as f64),
            Kind::At(at) => self.due_hi = Some(ack_ms.max(at as f64)),
            Kind::Now | Kind::Due => {}
        }
    }

    /// When it was due at the earliest, for its place in the partition: not before its due
    /// time nor before the broker had it (it was sent at `sent_ms`; floored, as `due_lo`).
    fn placed_from(&self) -> Option<f64> {
        self.due_lo.map(|d| d.max(self.sent_ms.floor()))
    }
}

/// Sends one record with value and key `id` (retrying while the producer's queue is full); its
/// delivery report is filed under its index in `sent`.
pub fn send(
    p: &AckedProducer,
    sent: &mut Vec<Sent>,
    topic: &str,
    partition: Option<i32>,
    id: String,
    kind: Kind,
    headers: RecordHeaders,
) {
    let t = now_ms();
    let (due_lo, due_hi) = match kind {
        // The broker received it no earlier than it was sent; floored, since a broker reading its
        // clock in whole ms may count from the ms the receive fell in.
        Kind::Delay(ms) => (Some(t.floor() + ms as f64), None),
        Kind::At(at) => (Some(at as f64), None),
        Kind::Now | Kind::Due => (None, None),
    };
    let index = sent.len();
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (k, v) in &headers {
        owned = owned.insert(Header {
            key: k,
            value: Some(v.as_slice()),
        });
    }
    let mut record = BaseRecord::with_opaque_to(topic, index)
        .payload(id.as_bytes())
        .key(id.as_bytes())
        .headers(owned);
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
    let deadline = Instant::now() + STEP_WAIT;
    let mut record = Some(record);
    while let Some(r) = record.take() {
        if let Err((e, r)) = p.send(r) {
            assert!(
                Instant::now() < deadline,
                "producer queue never drained: {e}"
            );
            p.poll(Duration::from_millis(10));
            record = Some(r);
        }
    }
    p.poll(Duration::ZERO);
    sent.push(Sent {
        id,
        topic: topic.to_string(),
        kind,
        headers,
        sent_ms: t,
        due_lo,
        due_hi,
    });
}

/// A record as a consumer saw it.
pub struct Seen {
    pub id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub headers: RecordHeaders,
    pub seen_ms: f64,
}

/// A consumer without a group's protocol (assign) at the beginning of every partition of
/// `topics`.
pub fn consumer(addr: &str, topics: &[(&str, i32)]) -> BaseConsumer {
    // librdkafka's assign() needs a group.id, but with assign and no commits no group API is used.
    let c: BaseConsumer = client(addr)
        .set("group.id", "delay-assign")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for &(topic, partitions) in topics {
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
    }
    c.assign(&tpl).expect("assign");
    c
}

/// Polls until every id in `want` has been seen (then [`QUIET`] more, to catch doubles) or until
/// `until`.
pub fn consume(c: &BaseConsumer, want: &HashSet<String>, until: Instant) -> Vec<Seen> {
    consume_while(c, Some(want), until)
}

/// Polls until `until`, whatever arrives.
pub fn consume_until(c: &BaseConsumer, until: Instant) -> Vec<Seen> {
    consume_while(c, None, until)
}

fn consume_while(c: &BaseConsumer, want: Option<&HashSet<String>>, until: Instant) -> Vec<Seen> {
    let mut got = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    let mut quiet_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now > until || quiet_until.is_some_and(|q| now > q) {
            return got;
        }
        match c.poll(Duration::from_millis(50)) {
            None => {}
            Some(Err(e)) => eprintln!("consumer error (polling on): {e}"),
            Some(Ok(m)) => {
                let id = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                ids.insert(id.clone());
                got.push(Seen {
                    id,
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    headers,
                    seen_ms: now_ms(),
                });
            }
        }
        if quiet_until.is_none() && want.is_some_and(|w| w.is_subset(&ids)) {
            quiet_until = Some(Instant::now() + QUIET);
        }
    }
}

/// What the delivery checks are told about one topic's records.
pub struct Delivery<'a> {
    /// The checks' names start with this.
    pub label: &'a str,
    /// The records that must each be seen exactly once (id -> record).
    pub must: HashMap<&'a str, &'a Sent>,
    /// Records whose outcome is unknown (not acknowledged): seen at most once, never early.
    pub may: HashMap<&'a str, &'a Sent>,
    /// Everything the consumer saw of this topic, in the order it saw it.
    pub seen: Vec<&'a Seen>,
    /// A delayed record must be seen by its due time plus this (ms); `None`: not checked.
    pub late_ms_max: Option<f64>,
    /// An undelayed record must be seen this soon (ms) after its acknowledgement (id -> ms);
    /// `None`: not checked.
    pub at_once: Option<(f64, &'a HashMap<&'a str, f64>)>,
    /// Each partition's high watermark after the consumer gave up, to tell a record never
    /// appended from one appended but not fetched.
    pub high_watermarks: HashMap<i32, i64>,
}

/// Each partition's high watermark (-1 where it could not be had).
pub fn high_watermarks(c: &BaseConsumer, topic: &str, partitions: i32) -> HashMap<i32, i64> {
    (0..partitions)
        .map(|p| {
            let hw = c
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .map_or(-1, |(_, high)| high);
            (p, hw)
        })
        .collect()
}

/// Exactly once, headers kept, never early, on time, undelayed at once, due-time order.
pub fn delivery_checks(report: &mut Report, d: &Delivery<'_>) {
    let label = d.label;
    let mut count: HashMap<&str, usize> = HashMap::new();
    for g in &d.seen {
        *count.entry(g.id.as_str()).or_default() += 1;
    }
    let doubled: Vec<&str> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    let missing: Vec<&str> = d
        .must
        .keys()
        .filter(|id| !count.contains_key(*id))
        .copied()
        .collect();
    let strangers: Vec<&str> = count
        .keys()
        .filter(|id| !d.must.contains_key(*id) && !d.may.contains_key(*id))
        .copied()
        .collect();
    report.check(
        format!(
            "{label}: every acknowledged record delivered ({} records)",
            d.must.len()
        ),
        missing.is_empty(),
        || {
            let mut per_partition: Vec<String> = d
                .high_watermarks
                .iter()
                .map(|(p, hw)| {
                    let seen = d.seen.iter().filter(|g| g.partition == *p).count();
                    format!("partition {p}: high watermark {hw}, {seen} read")
                })
                .collect();
            per_partition.sort();
            format!(
                "{} missing, e.g. {:?} ({})",
                missing.len(),
                &missing[..missing.len().min(3)],
                per_partition.join(", ")
            )
        },
    );
    report.check(
        format!("{label}: no record delivered twice, none never sent"),
        doubled.is_empty() && strangers.is_empty(),
        || {
            format!(
                "{} doubled (e.g. {:?}), {} never sent (e.g. {:?})",
                doubled.len(),
                &doubled[..doubled.len().min(3)],
                strangers.len(),
                &strangers[..strangers.len().min(3)]
            )
        },
    );
    let mut first: HashMap<&str, &Seen> = HashMap::new();
    for g in &d.seen {
        first.entry(g.id.as_str()).or_insert(g);
    }
    let first: Vec<(&Sent, &Seen)> = first
        .into_iter()
        .filter_map(|(id, g)| d.must.get(id).or(d.may.get(id)).map(|s| (*s, g)))
        .collect();
    let describe = |s: &Sent, g: &Seen| {
        format!(
            "{} ({:?}, due {:?}..{:?} ms after send) seen {:.0} ms after send",
            s.id,
            s.kind,
            s.due_lo.map(|d| (d - s.sent_ms).round()),
            s.due_hi.map(|d| (d - s.sent_ms).round()),
            g.seen_ms - s.sent_ms
        )
    };
    let examples = |v: &[(&Sent, &Seen)]| {
        v.iter()
            .take(3)
            .map(|(s, g)| describe(s, g))
            .collect::<Vec<_>>()
            .join("; ")
    };

    let bad_headers: Vec<&str> = first
        .iter()
        .filter(|(s, g)| {
            let mut a = s.headers.clone();
            let mut b = g.headers.clone();
            a.sort();
            b.sort();
            a != b
        })
        .map(|(s, _)| s.id.as_str())
        .collect();
    report.check(
        format!("{label}: headers kept on every record"),
        bad_headers.is_empty(),
        || format!("e.g. {:?}", &bad_headers[..bad_headers.len().min(3)]),
    );
    let delayed = first.iter().filter(|(s, _)| s.due_lo.is_some()).count();
    let early: Vec<(&Sent, &Seen)> = first
        .iter()
        .filter(|(s, g)| s.due_lo.is_some_and(|d| g.seen_ms < d))
        .copied()
        .collect();
    report.check(
        format!("{label}: no delayed record seen before it is due"),
        early.is_empty(),
        || {
            format!(
                "{} of {delayed} early, e.g. {}",
                early.len(),
                examples(&early)
            )
        },
    );
    if let Some(late_ms_max) = d.late_ms_max {
        let late: Vec<(&Sent, &Seen)> = first
            .iter()
            .filter(|(s, g)| s.due_hi.is_some_and(|d| g.seen_ms > d + late_ms_max))
            .copied()
            .collect();
        report.check(
            format!("{label}: every delayed record seen within due + {late_ms_max} ms"),
            late.is_empty(),
            || format!("{} late, e.g. {}", late.len(), examples(&late)),
        );
    }
    if let Some((at_once_ms_max, acked_at)) = d.at_once {
        let slow: Vec<(&Sent, &Seen)> = first
            .iter()
            .filter(|(s, g)| {
                matches!(s.kind, Kind::Now | Kind::Due)
                    && acked_at
                        .get(s.id.as_str())
                        .is_none_or(|a| g.seen_ms > a + at_once_ms_max)
            })
            .copied()
            .collect();
        report.check(
            format!("{label}: undelayed and already-due records readable at once"),
            slow.is_empty(),
            || format!("{} held, e.g. {}", slow.len(), examples(&slow)),
        );
    }
    // Due-time order within a partition: a record placed before another must not be due later
    // than that one can be (a delay-ms record is due somewhere in [sent + delay, acked + delay];
    // a deliver-at record at its time, or on receipt if it came later: by its acknowledgement).
    let mut by_place: Vec<(&Sent, &Seen)> = first
        .iter()
        .filter(|(s, _)| s.due_lo.is_some())
        .copied()
        .collect();
    by_place.sort_by_key(|(_, g)| (g.partition, g.offset));
    let mut disorder: Vec<String> = Vec::new();
    let mut latest: Option<(i32, &Sent, &Seen, f64)> = None;
    for (s, g) in by_place {
        let lo = s.placed_from().expect("delayed");
        let hi = s.due_hi.unwrap_or(f64::INFINITY);
        match latest {
            Some((p, ls, lg, l)) if p == g.partition => {
                if l > hi {
                    disorder.push(format!(
                        "partition {p}: {} {:?} sent at {:.0} (due from {l:.0}) at offset {} \
                         before {} {:?} sent at {:.0} (due by {hi:.0}) at offset {}",
                        ls.id, ls.kind, ls.sent_ms, lg.offset, s.id, s.kind, s.sent_ms, g.offset
                    ));
                }
                if lo > l {
                    latest = Some((p, s, g, lo));
                }
            }
            _ => latest = Some((g.partition, s, g, lo)),
        }
    }
    report.check(
        format!("{label}: delayed records in due-time order within each partition"),
        disorder.is_empty(),
        || {
            format!(
                "{} out of order, e.g. {:?}",
                disorder.len(),
                &disorder[..disorder.len().min(3)]
            )
        },
    );
}

/// A small deterministic generator (xorshift64*), so a failing run can be repeated as it was.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `r` (modulo bias is irrelevant here).
    pub fn range(&mut self, r: &std::ops::RangeInclusive<i64>) -> i64 {
        r.start() + (self.next() % (r.end() - r.start() + 1) as u64) as i64
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}
