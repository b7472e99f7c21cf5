//! Dead-letter copies of share groups (issue #16, KIP-1191) are made exactly once across
//! SIGKILLs: a `ringlog serve` child holds 2,000 records on a 2-partition topic read by a share
//! group whose dead-letter topic has 3 partitions (`copy.record.enable=true`). In each of
//! eleven cycles a new member acquires 200 of the records and REJECTs them, 20 records per
//! ShareAcknowledge, and the broker is SIGKILLed while it is writing the copies: five times
//! while the acknowledgements are still being sent (0 to 3 ms after a third of them were
//! answered), four times 0, 2, 10 and 50 ms after the last one was answered, and twice right
//! after a restart (while it appends the copies planned before the previous kill). After every
//! restart on the same data directory:
//! - the dead-letter topic holds every record whose REJECT was answered, each exactly once, in
//!   partition `source partition % 3`, with Kafka's headers and the source value; no copy of a
//!   record never rejected, no duplicate;
//! - no record whose REJECT was answered, and none that has a dead-letter copy, is delivered
//!   again; delivery counts count the deliveries.
//!
//! Finally the records never acknowledged (or whose unanswered REJECT the kill undid) are
//! acquired, rejected too, and every source record is in the dead-letter topic exactly once.
//! Both drivers; loopback only; bounded in time (a few seconds a driver here). A broken
//! promise fails the test with what differs, which copies (source ranges), when they were
//! written (by which restarted broker, from the copies' timestamps) and every kill before it.

#[macro_use]
mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use client::{
    batch, connect_retry, create_topics_request, decode_response, encode_frame, fetch_one,
    produce_one, topic_name, versions, Client,
};
use kafka_protocol::messages::{
    create_topics_request, incremental_alter_configs_request, share_acknowledge_request,
    share_fetch_request, ApiKey, GroupId, IncrementalAlterConfigsRequest, ShareAcknowledgeRequest,
    ShareFetchRequest, ShareFetchResponse, ShareGroupHeartbeatRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use ringlog::runtime::IoKind;
use support::{free_port, Serve};
use uuid::Uuid;

both_drivers!(rejected_records_reach_the_dead_letter_topic_once_across_sigkills);

/// The source topic.
const SOURCE: &str = "src";
/// Its partitions.
const SOURCE_PARTITIONS: i32 = 2;
/// The dead-letter topic (the broker's default prefix `dlq.`).
const DLQ: &str = "dlq.x";
/// Its partitions: source partition p is copied to p % 3.
const DLQ_PARTITIONS: i32 = 3;
/// The share group.
const GROUP: &str = "gsk";
/// Records produced to each source partition (2,000 in all).
const RECORDS_PER_PARTITION: i64 = 1_000;
/// Records per produced batch.
const PRODUCE_BATCH: i64 = 100;
/// Records per REJECT (one ShareAcknowledge each).
const ACK_RECORDS: i64 = 20;
/// Records a cycle acquires and rejects (nine rejecting cycles take 1,800 of the 2,000; the
/// rest, and what the mid-stream kills left unacknowledged, come back in the final phase).
const CYCLE_QUOTA: i64 = 200;
/// `max_records` of one ShareFetch.
const FETCH_RECORDS_MAX: i64 = 500;
/// Long poll of the first ShareFetch of a cycle (records are there: it answers at once).
const ARRIVE_WAIT_MS: i32 = 5_000;
/// Long poll of the following ones (the broker answers at its end when nothing is left).
const QUIET_WAIT_MS: i32 = 300;
/// How long the dead-letter topic may take after a restart to hold every answered REJECT (the
/// writer starts with the broker and retries every second).
const DLQ_SETTLE: Duration = Duration::from_secs(20);
/// After that, how much longer the topic is watched for copies it must not get.
const DLQ_WATCH: Duration = Duration::from_millis(500);

/// The group configs (Kafka 4.4's names).
const GROUP_CONFIGS: [(&str, &str); 3] = [
    ("share.auto.offset.reset", "earliest"),
    ("errors.deadletterqueue.topic.name", DLQ),
    ("errors.deadletterqueue.copy.record.enable", "true"),
];
/// The topic config that lets a topic receive dead-letter copies.
const DLQ_GROUP_ENABLE: &str = "errors.deadletterqueue.group.enable";
/// Kafka's `__dlq.errors.message` of a rejected record.
const MESSAGE_REJECTED: &str = "Offset rejected by client.";
/// AcknowledgeType REJECT (KIP-932).
const REJECT: i8 = 3;
/// ConfigResource type GROUP.
const RESOURCE_GROUP: i8 = 32;

/// When a cycle kills the broker.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// While the REJECTs are still being sent: a second thread kills this long after a third
    /// of the cycle's acknowledgements are answered, while this one goes on sending. (On a
    /// busy machine the sender may finish first: that cycle then kills after the last answer,
    /// and at least one mid-stream cycle must land.)
    MidStream(Duration),
    /// This long after the answer to the cycle's last REJECT.
    AfterLastAnswer(Duration),
    /// Right after the broker answers its first request following a restart, while it may be
    /// appending the copies planned before the previous kill; nothing is acquired.
    DuringRecovery,
}

/// The cycles, in order.
const CYCLES: [Kill; 11] = [
    Kill::MidStream(Duration::ZERO),
    Kill::AfterLastAnswer(Duration::ZERO),
    Kill::DuringRecovery,
    Kill::AfterLastAnswer(Duration::from_millis(2)),
    Kill::MidStream(Duration::from_micros(500)),
    Kill::AfterLastAnswer(Duration::from_millis(10)),
    Kill::MidStream(Duration::from_millis(1)),
    Kill::DuringRecovery,
    Kill::AfterLastAnswer(Duration::from_millis(50)),
    Kill::MidStream(Duration::from_millis(2)),
    Kill::MidStream(Duration::from_millis(3)),
];

/// A source record: (partition, offset).
type Rec = (i32, i64);

/// The value of a source record.
fn value_of((partition, offset): Rec) -> String {
    format!("src-{partition}-{offset}")
}

fn v(key: ApiKey) -> i16 {
    *versions(key).end()
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `ringlog serve` with two shards on `io` on 127.0.0.1:`port` over `dir` (a fixed port, so the
/// restarted broker is found where its predecessor was).
fn serve(dir: &Path, port: u16, io: IoKind) -> Serve {
    let io = match io {
        IoKind::Uring => "uring",
        IoKind::Epoll => "epoll",
    };
    Serve(
        Command::new(env!("CARGO_BIN_EXE_ringlog"))
            .args(["serve", "--cores", "2", "--io", io])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ringlog serve"),
    )
}

/// SIGKILLs the broker and reaps it.
fn kill(mut broker: Serve) {
    broker.0.kill().expect("SIGKILL");
    broker.0.wait().expect("reap");
}

/// Request and answer; `None` when the connection fails (the broker was killed).
fn try_call<R: Request>(c: &mut Client, version: i16, req: &R) -> Option<R::Response> {
    let id = c.next_correlation_id();
    c.write_raw(&encode_frame(version, id, req)).ok()?;
    let frame = c.read_frame().ok()?;
    let (got, resp) = decode_response::<R>(version, &frame);
    assert_eq!(got, id, "correlation id");
    Some(resp)
}

// ---------------------------------------------------------------------------------------------
// What the clients were told.

/// Everything the test did to one source record.
#[derive(Debug, Default, Clone)]
struct Fate {
    /// Delivery counts of the acquisitions answered, in order.
    acquired: Vec<i16>,
    /// (cycle, delivery count) of each REJECT sent for it, answered or not.
    rejects_sent: Vec<(usize, i16)>,
    /// The cycle whose answer confirmed a REJECT of it.
    answered_in: Option<usize>,
    /// When that answer came (wall-clock ms).
    answered_ms: Option<i64>,
}

/// A dead-letter record, decoded.
#[derive(Debug, Clone)]
struct DlqCopy {
    dlq_partition: i32,
    dlq_offset: i64,
    /// The copy's timestamp (the time of the copy).
    timestamp: i64,
    source: Option<Rec>,
    topic: Option<String>,
    group: Option<String>,
    delivery_count: Option<String>,
    message: Option<String>,
    value: Option<Bytes>,
}

/// The run's ledger, and what went wrong (with the kill that preceded it).
struct Run {
    fates: BTreeMap<Rec, Fate>,
    /// What each kill interrupted, for the failure report.
    kills: Vec<String>,
    /// (cycle, wall-clock ms) of each kill, to tell when a copy was written.
    killed_at: Vec<(usize, i64)>,
    failures: Vec<String>,
}

impl Run {
    fn fail(&mut self, what: String) {
        eprintln!("FAILED: {what}");
        self.failures.push(what);
    }

    fn answered(&self) -> BTreeSet<Rec> {
        self.fates
            .iter()
            .filter(|(_, f)| f.answered_in.is_some())
            .map(|(r, _)| *r)
            .collect()
    }

    /// How many of the copies stamped `timestamps` were written before the first kill, and
    /// after each.
    fn written_when(&self, timestamps: impl Iterator<Item = i64>) -> String {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for t in timestamps {
            let after = self.killed_at.iter().rev().find(|(_, at)| *at <= t);
            let key = match after {
                Some((cycle, _)) => {
                    format!("by the broker restarted after the kill of cycle {cycle}")
                }
                None => "before the first kill".to_string(),
            };
            *counts.entry(key).or_default() += 1;
        }
        counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Where the kills were, for a failure message.
    fn history(&self) -> String {
        self.kills.join("; ")
    }
}

// ---------------------------------------------------------------------------------------------
// The member.

/// A share-group member on its own connection, with its share session's next epoch.
struct Member {
    c: Client,
    id: String,
    session: i32,
}

impl Member {
    /// Joins the group subscribed to the source topic; asserts it reads both partitions.
    fn join(addr: SocketAddr, id: &str, topic: Uuid) -> Member {
        let mut c = connect_retry(addr);
        let req = ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(str_bytes(GROUP)))
            .with_member_id(str_bytes(id))
            .with_member_epoch(0)
            .with_subscribed_topic_names(Some(vec![topic_name(SOURCE)]));
        let r = c.call(v(ApiKey::ShareGroupHeartbeat), &req);
        assert_eq!(r.error_code, 0, "{id} joins: {:?}", r.error_message);
        let mut parts: Vec<(Uuid, Vec<i32>)> = r
            .assignment
            .as_ref()
            .map(|a| {
                a.topic_partitions
                    .iter()
                    .map(|t| (t.topic_id, t.partitions.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for p in &mut parts {
            p.1.sort();
        }
        assert_eq!(
            parts,
            vec![(topic, (0..SOURCE_PARTITIONS).collect())],
            "{id}, the only member, reads both partitions"
        );
        Member {
            c,
            id: id.to_string(),
            session: 0,
        }
    }

    /// A ShareFetch of both partitions in the session, no acknowledgements.
    fn fetch(&mut self, topic: Uuid, wait_ms: i32, max_records: i64) -> ShareFetchResponse {
        let req = ShareFetchRequest::default()
            .with_group_id(Some(GroupId(str_bytes(GROUP))))
            .with_member_id(Some(str_bytes(&self.id)))
            .with_share_session_epoch(self.session)
            .with_max_wait_ms(wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(i32::MAX)
            .with_max_records(max_records as i32)
            .with_batch_size(max_records as i32)
            .with_topics(vec![share_fetch_request::FetchTopic::default()
                .with_topic_id(topic)
                .with_partitions(
                    (0..SOURCE_PARTITIONS)
                        .map(|p| {
                            share_fetch_request::FetchPartition::default().with_partition_index(p)
                        })
                        .collect(),
                )]);
        let r = self.c.call(v(ApiKey::ShareFetch), &req);
        assert_eq!(
            r.error_code, 0,
            "{} ShareFetch at session epoch {}: {:?}",
            self.id, self.session, r.error_message
        );
        self.session += 1;
        r
    }

    /// REJECTs `first..=last` of `partition`: `Some(())` when answered without error, `None`
    /// when no answer came (the broker was killed). An error answer fails the test.
    fn reject(&mut self, topic: Uuid, partition: i32, first: i64, last: i64) -> Option<()> {
        let req = ShareAcknowledgeRequest::default()
            .with_group_id(Some(GroupId(str_bytes(GROUP))))
            .with_member_id(Some(str_bytes(&self.id)))
            .with_share_session_epoch(self.session)
            .with_topics(vec![share_acknowledge_request::AcknowledgeTopic::default()
                .with_topic_id(topic)
                .with_partitions(vec![
                    share_acknowledge_request::AcknowledgePartition::default()
                        .with_partition_index(partition)
                        .with_acknowledgement_batches(vec![
                            share_acknowledge_request::AcknowledgementBatch::default()
                                .with_first_offset(first)
                                .with_last_offset(last)
                                .with_acknowledge_types(vec![REJECT]),
                        ]),
                ])]);
        let r = try_call(&mut self.c, v(ApiKey::ShareAcknowledge), &req)?;
        assert_eq!(
            r.error_code, 0,
            "{} ShareAcknowledge at session epoch {}: {:?}",
            self.id, self.session, r.error_message
        );
        self.session += 1;
        let code = r
            .responses
            .iter()
            .filter(|t| t.topic_id == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .map(|p| p.error_code);
        assert_eq!(
            code,
            Some(0),
            "{}: REJECT of {SOURCE}-{partition} {first}..={last}: {r:?}",
            self.id
        );
        Some(())
    }
}

/// An acquired range: (partition, first, last, delivery count).
type Acquired = (i32, i64, i64, i16);

/// Acquires up to `quota` records (fewer when no more come within [`QUIET_WAIT_MS`]); checks
/// that none was confirmed rejected or copied to the dead-letter topic, and that its delivery
/// count counts its deliveries.
fn acquire(
    m: &mut Member,
    topic: Uuid,
    quota: i64,
    run: &mut Run,
    copied: &BTreeSet<Rec>,
    when: &str,
) -> Vec<Acquired> {
    let mut out = Vec::new();
    let mut count = 0;
    while count < quota {
        let wait = if count == 0 {
            ARRIVE_WAIT_MS
        } else {
            QUIET_WAIT_MS
        };
        // ringlog applies max_records to each partition of the request: ask each for its share.
        let per_partition =
            (quota - count + i64::from(SOURCE_PARTITIONS) - 1) / i64::from(SOURCE_PARTITIONS);
        let r = m.fetch(topic, wait, per_partition.min(FETCH_RECORDS_MAX));
        let before = count;
        for t in r.responses.iter().filter(|t| t.topic_id == topic) {
            for p in &t.partitions {
                assert_eq!(
                    p.error_code, 0,
                    "{when}: ShareFetch of {SOURCE}-{}",
                    p.partition_index
                );
                for a in &p.acquired_records {
                    out.push((
                        p.partition_index,
                        a.first_offset,
                        a.last_offset,
                        a.delivery_count,
                    ));
                    count += a.last_offset - a.first_offset + 1;
                }
            }
        }
        if count == before {
            break;
        }
    }
    // Records delivered again although done, and delivery counts that do not count, by kind.
    let mut after_answer: Vec<(Rec, Fate)> = Vec::new();
    let mut after_copy: Vec<(Rec, Fate)> = Vec::new();
    let mut miscounted: Vec<(Rec, Fate)> = Vec::new();
    for &(partition, first, last, dc) in &out {
        for offset in first..=last {
            let rec = (partition, offset);
            let fate = run.fates.entry(rec).or_default();
            fate.acquired.push(dc);
            let fate = fate.clone();
            if fate.answered_in.is_some() {
                after_answer.push((rec, fate.clone()));
            } else if copied.contains(&rec) {
                after_copy.push((rec, fate.clone()));
            }
            if dc as usize != fate.acquired.len() {
                miscounted.push((rec, fate));
            }
        }
    }
    for (list, what) in [
        (
            after_answer,
            "delivered again although their REJECT was answered",
        ),
        (
            after_copy,
            "delivered again although they already have a dead-letter copy",
        ),
        (
            miscounted,
            "acquired with a delivery count other than their number of deliveries",
        ),
    ] {
        if let Some((rec, fate)) = list.first() {
            run.fail(format!(
                "{when}: {} records {what}: {}; e.g. {SOURCE}-{}@{} (acquisitions' delivery \
                 counts {:?}, REJECTs (cycle, delivery count) {:?}, answered in cycle {:?}) [{}]",
                list.len(),
                ranges(list.iter().map(|l| l.0)),
                rec.0,
                rec.1,
                fate.acquired,
                fate.rejects_sent,
                fate.answered_in,
                run.history()
            ));
        }
    }
    out
}

/// The acquired ranges cut into REJECTs of at most [`ACK_RECORDS`], the partitions taking
/// turns.
fn chunks(acquired: &[Acquired]) -> Vec<Acquired> {
    let mut per_partition: Vec<Vec<Acquired>> = vec![Vec::new(); SOURCE_PARTITIONS as usize];
    for &(partition, first, last, dc) in acquired {
        let mut at = first;
        while at <= last {
            let end = last.min(at + ACK_RECORDS - 1);
            per_partition[partition as usize].push((partition, at, end, dc));
            at = end + 1;
        }
    }
    let mut out = Vec::new();
    let longest = per_partition.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for p in &per_partition {
            if let Some(c) = p.get(i) {
                out.push(*c);
            }
        }
    }
    out
}

/// Sends the REJECTs in order, one request each, until one gets no answer; records what was
/// sent and answered; `on_answer(i)` runs after the i-th answer. Returns how many were answered.
fn reject_all(
    m: &mut Member,
    topic: Uuid,
    chunks: &[Acquired],
    cycle: usize,
    run: &mut Run,
    mut on_answer: impl FnMut(usize),
) -> usize {
    for (i, &(partition, first, last, dc)) in chunks.iter().enumerate() {
        for offset in first..=last {
            let fate = run.fates.entry((partition, offset)).or_default();
            fate.rejects_sent.push((cycle, dc));
        }
        if m.reject(topic, partition, first, last).is_none() {
            return i;
        }
        for offset in first..=last {
            let fate = run.fates.entry((partition, offset)).or_default();
            if fate.answered_in.is_none() {
                fate.answered_in = Some(cycle);
                fate.answered_ms = Some(now_ms());
            }
        }
        on_answer(i);
    }
    chunks.len()
}

// ---------------------------------------------------------------------------------------------
// The dead-letter topic.

/// Source records as ranges, `src-P a..=b`, for a failure message.
fn ranges(recs: impl Iterator<Item = Rec>) -> String {
    let sorted: BTreeSet<Rec> = recs.collect();
    let mut out: Vec<(i32, i64, i64)> = Vec::new();
    for (p, o) in sorted {
        match out.last_mut() {
            Some((lp, _, last)) if *lp == p && *last + 1 == o => *last = o,
            _ => out.push((p, o, o)),
        }
    }
    out.iter()
        .map(|(p, a, b)| format!("{SOURCE}-{p} {a}..={b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The complete batches at the start of `bytes` (a fetch may end inside one).
fn complete_batches(bytes: &[u8]) -> &[u8] {
    let mut at = 0;
    while bytes.len() - at >= 12 {
        let size = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        let end = at + 12 + size.max(0) as usize;
        if end > bytes.len() {
            break;
        }
        at = end;
    }
    &bytes[..at]
}

/// Every record of the dead-letter topic, decoded with kafka-protocol.
fn read_dlq(c: &mut Client, dlq: Uuid) -> Vec<DlqCopy> {
    /// Fetches per partition before giving up (each returns up to 1 MiB).
    const FETCHES_MAX: usize = 100;
    let mut out = Vec::new();
    for partition in 0..DLQ_PARTITIONS {
        let mut offset = 0;
        for _ in 0..FETCHES_MAX {
            let (code, high_watermark, bytes) = fetch_one(c, DLQ, dlq, partition, offset);
            assert_eq!(code, 0, "fetch {DLQ}-{partition} at {offset}");
            if offset >= high_watermark {
                break;
            }
            let mut buf = Bytes::copy_from_slice(complete_batches(&bytes));
            assert!(
                !buf.is_empty(),
                "{DLQ}-{partition}: no complete batch at {offset} below the high watermark \
                 {high_watermark}"
            );
            let sets = RecordBatchDecoder::decode_all(&mut buf).expect("dead-letter batches");
            for r in sets.into_iter().flat_map(|s| s.records) {
                if r.offset < offset {
                    continue;
                }
                offset = r.offset + 1;
                let header = |name: &str| {
                    r.headers
                        .iter()
                        .find(|(k, _)| k.as_str() == name)
                        .and_then(|(_, v)| v.as_ref())
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                };
                let source = match (
                    header("__dlq.errors.partition").and_then(|p| p.parse().ok()),
                    header("__dlq.errors.offset").and_then(|o| o.parse().ok()),
                ) {
                    (Some(p), Some(o)) => Some((p, o)),
                    _ => None,
                };
                out.push(DlqCopy {
                    dlq_partition: partition,
                    dlq_offset: r.offset,
                    timestamp: r.timestamp,
                    source,
                    topic: header("__dlq.errors.topic"),
                    group: header("__dlq.errors.group"),
                    delivery_count: header("__dlq.errors.delivery.count"),
                    message: header("__dlq.errors.message"),
                    value: r.value.clone(),
                });
            }
        }
    }
    out
}

/// Waits (bounded by [`DLQ_SETTLE`]) until the dead-letter topic holds at least as many records
/// as REJECTs were answered, a copy of each among them, then [`DLQ_WATCH`] longer, and checks it: every answered REJECT copied exactly
/// once where Kafka puts it, with Kafka's headers and the source value; no copy of a record
/// never rejected. Returns the copied source records.
fn check_dlq(c: &mut Client, dlq: Uuid, run: &mut Run, when: &str) -> BTreeSet<Rec> {
    let answered = run.answered();
    let deadline = Instant::now() + DLQ_SETTLE;
    let started = Instant::now();
    loop {
        let copies = read_dlq(c, dlq);
        let held: BTreeSet<Rec> = copies.iter().filter_map(|c| c.source).collect();
        if copies.len() >= answered.len() && answered.is_subset(&held) {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let settled = started.elapsed();
    std::thread::sleep(DLQ_WATCH);
    let copies = read_dlq(c, dlq);
    // How long after its REJECT was answered a copy was written by the same broker process.
    let mut lags_ms: Vec<i64> = copies
        .iter()
        .filter_map(|copy| {
            let answered = run.fates.get(&copy.source?)?.answered_ms?;
            let killed_between = run
                .killed_at
                .iter()
                .any(|(_, k)| answered <= *k && *k <= copy.timestamp);
            (!killed_between).then_some(copy.timestamp - answered)
        })
        .collect();
    lags_ms.sort_unstable();
    eprintln!(
        "{when}: {} REJECTs answered, {} sent; the dead-letter topic holds {} copies \
         (settled in {settled:?}); copy written after the answer, same process: median {:?} \
         ms, max {:?} ms",
        answered.len(),
        run.fates
            .values()
            .filter(|f| !f.rejects_sent.is_empty())
            .count(),
        copies.len(),
        lags_ms.get(lags_ms.len() / 2),
        lags_ms.last()
    );
    let mut by_source: BTreeMap<Rec, Vec<&DlqCopy>> = BTreeMap::new();
    let mut malformed = Vec::new();
    for copy in &copies {
        match copy.source {
            Some(rec) => by_source.entry(rec).or_default().push(copy),
            None => malformed.push(copy),
        }
    }
    if !malformed.is_empty() {
        run.fail(format!(
            "{when}: {} dead-letter records without source headers, e.g. {:?} [{}]",
            malformed.len(),
            malformed[0],
            run.history()
        ));
    }
    let missing: Vec<Rec> = answered
        .iter()
        .filter(|r| !by_source.contains_key(r))
        .copied()
        .collect();
    if !missing.is_empty() {
        let cycles: BTreeSet<usize> = missing
            .iter()
            .filter_map(|r| run.fates[r].answered_in)
            .collect();
        run.fail(format!(
            "{when}: {} records whose REJECT was answered (in cycles {cycles:?}) have no \
             dead-letter copy after {DLQ_SETTLE:?}, e.g. {:?} [{}]",
            missing.len(),
            &missing[..missing.len().min(5)],
            run.history()
        ));
    }
    let mut doubled = Vec::new();
    let mut extra = Vec::new();
    // Copies unlike Kafka's, by what differs.
    let mut wrong: BTreeMap<&str, Vec<(Rec, Fate, DlqCopy)>> = BTreeMap::new();
    for (rec, list) in &by_source {
        let fate = run.fates.get(rec).cloned().unwrap_or_default();
        if fate.rejects_sent.is_empty() {
            extra.push((*rec, list[0].clone()));
            continue;
        }
        if list.len() > 1 {
            doubled.push((
                *rec,
                list.len(),
                fate.clone(),
                list[0].clone(),
                list[1].clone(),
            ));
        }
        let dcs: Vec<String> = fate
            .rejects_sent
            .iter()
            .map(|(_, dc)| dc.to_string())
            .collect();
        let value = value_of(*rec);
        for copy in list {
            let checks = [
                (
                    copy.dlq_partition == rec.0 % DLQ_PARTITIONS,
                    "not in partition source % 3",
                ),
                (copy.topic.as_deref() == Some(SOURCE), "__dlq.errors.topic"),
                (copy.group.as_deref() == Some(GROUP), "__dlq.errors.group"),
                (
                    copy.message.as_deref() == Some(MESSAGE_REJECTED),
                    "__dlq.errors.message",
                ),
                (
                    copy.delivery_count
                        .as_ref()
                        .is_some_and(|dc| dcs.contains(dc)),
                    "__dlq.errors.delivery.count is none of the rejected deliveries",
                ),
                (
                    copy.value.as_deref() == Some(value.as_bytes()),
                    "value not copied (copy.record.enable=true)",
                ),
            ];
            for (ok, what) in checks {
                if !ok {
                    wrong
                        .entry(what)
                        .or_default()
                        .push((*rec, fate.clone(), (*copy).clone()));
                }
            }
        }
    }
    if !doubled.is_empty() {
        let (rec, n, fate, a, b) = &doubled[0];
        run.fail(format!(
            "{when}: {} source records have more than one dead-letter copy ({}); e.g. \
             {SOURCE}-{}@{} has {n} (at {DLQ}-{}@{} and {DLQ}-{}@{}; its fate: {fate:?}) [{}]",
            doubled.len(),
            ranges(doubled.iter().map(|d| d.0)),
            rec.0,
            rec.1,
            a.dlq_partition,
            a.dlq_offset,
            b.dlq_partition,
            b.dlq_offset,
            run.history()
        ));
    }
    if !extra.is_empty() {
        run.fail(format!(
            "{when}: {} dead-letter copies of records never rejected ({}), e.g. {:?} [{}]",
            extra.len(),
            ranges(extra.iter().map(|e| e.0)),
            extra[0],
            run.history()
        ));
    }
    for (what, list) in wrong {
        let (rec, fate, copy) = &list[0];
        run.fail(format!(
            "{when}: {} dead-letter copies differ from Kafka's: {what}: source records {}; \
             written {}; e.g. {SOURCE}-{}@{} (its fate {fate:?}): {copy:?} [{}]",
            list.len(),
            ranges(list.iter().map(|l| l.0)),
            run.written_when(list.iter().map(|l| l.2.timestamp)),
            rec.0,
            rec.1,
            run.history()
        ));
    }
    by_source.keys().copied().collect()
}

// ---------------------------------------------------------------------------------------------
// Setup.

/// Creates the topics, sets the group configs, produces the records; returns the topic ids.
fn setup(addr: SocketAddr) -> (Uuid, Uuid) {
    let mut c = connect_retry(addr);
    let mut req =
        create_topics_request(&[(SOURCE, SOURCE_PARTITIONS, 1), (DLQ, DLQ_PARTITIONS, 1)]);
    req.topics[1].configs = vec![create_topics_request::CreatableTopicConfig::default()
        .with_name(str_bytes(DLQ_GROUP_ENABLE))
        .with_value(Some(str_bytes("true")))];
    let resp = c.call(v(ApiKey::CreateTopics), &req);
    for t in &resp.topics {
        assert_eq!(
            t.error_code, 0,
            "create {:?}: {:?}",
            t.name, t.error_message
        );
    }
    let (source, dlq) = (resp.topics[0].topic_id, resp.topics[1].topic_id);

    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(RESOURCE_GROUP)
            .with_resource_name(str_bytes(GROUP))
            .with_configs(
                GROUP_CONFIGS
                    .iter()
                    .map(|(k, val)| {
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(str_bytes(k))
                            .with_config_operation(0) // SET
                            .with_value(Some(str_bytes(val)))
                    })
                    .collect(),
            ),
    ]);
    let resp = c.call(v(ApiKey::IncrementalAlterConfigs), &req);
    assert_eq!(
        resp.responses[0].error_code, 0,
        "group configs: {:?}",
        resp.responses[0].error_message
    );

    for partition in 0..SOURCE_PARTITIONS {
        let mut at = 0;
        while at < RECORDS_PER_PARTITION {
            let values: Vec<String> = (at..at + PRODUCE_BATCH)
                .map(|o| value_of((partition, o)))
                .collect();
            let refs: Vec<&[u8]> = values.iter().map(|s| s.as_bytes()).collect();
            let base = produce_one(&mut c, SOURCE, partition, &batch(now_ms(), &refs));
            assert_eq!(base, at, "produce to {SOURCE}-{partition}");
            at += PRODUCE_BATCH;
        }
    }
    (source, dlq)
}

// ---------------------------------------------------------------------------------------------
// The test.

fn rejected_records_reach_the_dead_letter_topic_once_across_sigkills(io: IoKind) {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut broker = Some(serve(dir.path(), port, io));
    let (topic, dlq) = setup(addr);
    let mut run = Run {
        fates: BTreeMap::new(),
        kills: Vec::new(),
        killed_at: Vec::new(),
        failures: Vec::new(),
    };
    // Source records with a dead-letter copy, as last read.
    let mut copied: BTreeSet<Rec> = BTreeSet::new();
    // Mid-stream cycles whose kill came while REJECTs were unanswered.
    let mut mid_stream_landed = 0;

    for (cycle, kill_at) in CYCLES.iter().enumerate() {
        let when = format!("cycle {cycle} ({kill_at:?})");
        match *kill_at {
            Kill::DuringRecovery => {
                // The previous cycle's kill was not followed by a restart: this one restarts
                // the broker and kills it as soon as it answers.
                assert!(broker.is_none(), "{when}: the broker is down");
                broker = Some(serve(dir.path(), port, io));
                drop(connect_retry(addr));
                kill(broker.take().expect("running"));
                run.killed_at.push((cycle, now_ms()));
                run.kills.push(format!(
                    "cycle {cycle}: killed right after a restart answered its first request"
                ));
            }
            Kill::MidStream(delay) => {
                let mut m = Member::join(addr, &format!("member-{cycle}"), topic);
                let acquired = acquire(&mut m, topic, CYCLE_QUOTA, &mut run, &copied, &when);
                let chunks = chunks(&acquired);
                let third = (chunks.len() / 3).max(1);
                let (go, wait) = std::sync::mpsc::channel::<()>();
                let running = broker.take().expect("running");
                let killer = std::thread::spawn(move || {
                    let _ = wait.recv();
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                    kill(running);
                    now_ms()
                });
                let mut go = Some(go);
                let answered = reject_all(&mut m, topic, &chunks, cycle, &mut run, |i| {
                    if i + 1 == third {
                        if let Some(go) = go.take() {
                            let _ = go.send(());
                        }
                    }
                });
                drop(go);
                let killed_ms = killer.join().expect("killer thread");
                run.killed_at.push((cycle, killed_ms));
                if answered < chunks.len() {
                    mid_stream_landed += 1;
                } else {
                    eprintln!("{when}: every REJECT was answered before the kill");
                }
                run.kills.push(format!(
                    "cycle {cycle}: killed {delay:?} after {third} of {} REJECTs were \
                     answered, while more were sent: {answered} answered, the next unanswered ({:?})",
                    chunks.len(),
                    chunks.get(answered)
                ));
            }
            Kill::AfterLastAnswer(delay) => {
                let mut m = Member::join(addr, &format!("member-{cycle}"), topic);
                let acquired = acquire(&mut m, topic, CYCLE_QUOTA, &mut run, &copied, &when);
                let chunks = chunks(&acquired);
                let answered = reject_all(&mut m, topic, &chunks, cycle, &mut run, |_| {});
                assert_eq!(answered, chunks.len(), "{when}: every REJECT answered");
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                kill(broker.take().expect("running"));
                run.killed_at.push((cycle, now_ms()));
                run.kills.push(format!(
                    "cycle {cycle}: killed {delay:?} after the last of {} REJECTs ({} records) \
                     was answered",
                    chunks.len(),
                    acquired.iter().map(|a| a.2 - a.1 + 1).sum::<i64>()
                ));
            }
        }
        if matches!(CYCLES.get(cycle + 1), Some(Kill::DuringRecovery)) {
            continue; // the next cycle restarts it into its recovery
        }
        broker = Some(serve(dir.path(), port, io));
        let mut c = connect_retry(addr);
        copied = check_dlq(&mut c, dlq, &mut run, &format!("after {when}"));
    }

    assert!(
        mid_stream_landed > 0,
        "no mid-stream kill landed while REJECTs were unanswered (the test's premise)"
    );

    // The records never acknowledged (or whose REJECT the kill left undone) come back; every
    // other one has its copy. Reject them too: then every record is copied exactly once.
    let when = "final".to_string();
    let mut m = Member::join(addr, "member-final", topic);
    let acquired = acquire(
        &mut m,
        topic,
        RECORDS_PER_PARTITION * i64::from(SOURCE_PARTITIONS),
        &mut run,
        &copied,
        &when,
    );
    let back: BTreeSet<Rec> = acquired
        .iter()
        .flat_map(|&(p, first, last, _)| (first..=last).map(move |o| (p, o)))
        .collect();
    let all: BTreeSet<Rec> = (0..SOURCE_PARTITIONS)
        .flat_map(|p| (0..RECORDS_PER_PARTITION).map(move |o| (p, o)))
        .collect();
    let accounted: BTreeSet<Rec> = back.union(&copied).copied().collect();
    let lost: Vec<Rec> = all.difference(&accounted).copied().collect();
    if !lost.is_empty() {
        let fates: Vec<(Rec, Fate)> = lost
            .iter()
            .take(3)
            .map(|r| (*r, run.fates.get(r).cloned().unwrap_or_default()))
            .collect();
        run.fail(format!(
            "{when}: {} records neither delivered again nor copied to the dead-letter topic, \
             e.g. {fates:?} [{}]",
            lost.len(),
            run.history()
        ));
    }
    eprintln!(
        "{when}: {} records delivered again after the last restart",
        back.len()
    );
    let chunks = chunks(&acquired);
    let answered = reject_all(&mut m, topic, &chunks, CYCLES.len(), &mut run, |_| {});
    assert_eq!(answered, chunks.len(), "{when}: every REJECT answered");
    let mut c = connect_retry(addr);
    let copied = check_dlq(&mut c, dlq, &mut run, "at the end");
    let uncopied: Vec<Rec> = all.difference(&copied).copied().collect();
    if !uncopied.is_empty() {
        run.fail(format!(
            "at the end: {} source records have no dead-letter copy, e.g. {:?} [{}]",
            uncopied.len(),
            &uncopied[..uncopied.len().min(5)],
            run.history()
        ));
    }
    drop(broker);
    eprintln!("{:?}: done in {:?}", io, started.elapsed());
    assert!(
        run.failures.is_empty(),
        "dead-letter copies across SIGKILLs ({io:?}), {} failures:\n{}",
        run.failures.len(),
        run.failures.join("\n")
    );
}
