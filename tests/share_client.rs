//! Share groups (issue #16, KIP-932) through ringlog's own share consumer
//! (`ringlog::client::share::ShareConsumer`) against a ringlog broker in this process (a
//! `ringlog serve` child for the SIGKILL test), on both drivers (the client's one-shard runtime
//! runs the broker's driver too): the scenarios that
//! tests/share_java.rs runs with Kafka 4.4's `KafkaShareConsumer`, with the same expectations
//! (Apache Kafka 4.4's, except the retry backoff, ringlog's own):
//! - implicit and explicit acknowledgement: every record once, delivery count 1, key, value and
//!   headers intact, acknowledged without error, never again to a new consumer of the group;
//! - three consumers on one partition (at most 10 records per fetch): every record accepted
//!   once, none held by two consumers at once, records reach at least two of them;
//! - RELEASE: redelivered with delivery count 2;
//! - REJECT: archived and written to the group's dead-letter topic (KIP-1191) on partition
//!   `source partition % DLQ partitions`, with exactly Kafka's six `__dlq.errors.*` headers,
//!   key and value null unless `errors.deadletterqueue.copy.record.enable=true` (then the
//!   source's key and value, never its headers), a CreateTime timestamp of when it was written;
//! - the delivery count limit: a record released on its last allowed delivery goes to the DLQ;
//! - ringlog's `ringlog.share.retry.backoff.ms`: a released record comes back no sooner than the
//!   backoff of its delivery count;
//! - a consumer dropped while holding records (its connection closes, no acknowledgement, no
//!   close): another consumer gets them with delivery count 2, by the end of the acquisition
//!   lock at the latest; one that stays connected and never acknowledges: only when the lock
//!   expires (the broker's lock is shortened to [`LOCK_MS`] for these two);
//! - the broker restarted (shut down and started again on its data directory) or SIGKILLed
//!   (`ringlog serve`, `--flush always`) while a consumer holds records: accepted records never
//!   come back, released ones come back with their persisted delivery count (2), acquired but
//!   unacknowledged ones come back (delivery count 1 or 2);
//! - a share group on a filtered view (issue #17): exactly the matching records, at the source's
//!   offsets, the offsets between them acknowledged as gaps.
//!
//! Each test runs its client code under [`TEST_LIMIT`], collects every check in a [`Report`] and
//! fails listing all that did not hold. Loopback only.

#[macro_use]
mod support;
mod share_common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ringlog::broker::group::admin::AdminClient;
use ringlog::broker::Broker;
use ringlog::client::records::{decode_batches, ConsumedRecord};
use ringlog::client::share::{AcknowledgeType, Acknowledged, AcknowledgementMode};
use ringlog::client::{Connection, ShareConsumer, ShareConsumerConfig, ShareRecord};
use ringlog::runtime::{IoKind, RuntimeConfig};
use ringlog::storage::batch::BatchHeader;
use ringlog::storage::records::{encode_batch, BatchMeta, Compression, Record};
use share_common::{serve, Report};
use support::free_port;

both_drivers!(
    implicit_acknowledgement,
    explicit_acknowledgement,
    three_consumers_share_one_partition,
    release_redelivers_with_delivery_count_2,
    reject_goes_to_the_dead_letter_topic,
    delivery_limit_goes_to_the_dead_letter_topic,
    released_record_waits_for_the_retry_backoff,
    dropped_consumer_records_are_redelivered,
    unacknowledged_records_come_back_when_the_lock_expires,
    acknowledgements_survive_a_broker_restart,
    acknowledgements_survive_a_broker_sigkill,
    share_group_on_a_view,
    acquire_modes_batch_optimized_and_record_limit,
);

/// The client code of one test runs at most this long (the broker's start and stop aside).
const TEST_LIMIT: Duration = Duration::from_secs(25);
/// A broker must stop within this long.
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// One connection attempt of [`wait_refused`], and the pause between attempts.
const REFUSED_PROBE: Duration = Duration::from_millis(200);
const REFUSED_PAUSE: Duration = Duration::from_millis(5);
/// How long a consumer may wait to be assigned a partition.
const ASSIGN_WAIT: Duration = Duration::from_secs(5);
/// How long available records may take to reach a consumer.
const ARRIVE_WAIT: Duration = Duration::from_secs(5);
/// How long the verifying consumer keeps polling after the marker, for anything else.
const QUIET: Duration = Duration::from_millis(1_000);
/// A poll's long-poll wait (Kafka's default is 500 ms): short, so loops see their deadlines.
const POLL_WAIT: Duration = Duration::from_millis(250);
/// After a failed poll, this pause before the next (a broken connection must not spin).
const ERROR_PAUSE: Duration = Duration::from_millis(100);
/// Records of the acknowledgement scenarios.
const RECORDS: i64 = 10;
/// Records, consumers and records per fetch of the shared-partition scenario.
const SHARED_RECORDS: i64 = 200;
const SHARED_CONSUMERS: usize = 3;
const SHARED_MAX_RECORDS: i32 = 10;
/// The shared-partition scenario's consumers stop polling after this long.
const SHARED_WAIT: Duration = Duration::from_secs(15);
/// The broker's acquisition lock in the lock scenarios: the lowest the broker setting
/// (`group.share.record.lock.duration.ms`) allows; a group config may not go below 15 s.
const LOCK_MS: u64 = 1_000;
/// A lock-expired record may come back this much before [`LOCK_MS`] after the holder's poll
/// returned (the broker started the lock a little before)...
const LOCK_EARLY_MS: u64 = 250;
/// ...and must come back within this much after it (the new consumer's join included).
const LOCK_LATE_MS: u64 = 5_000;
/// ringlog's retry backoff for the backoff scenario: 1 s after the first delivery, 2 s after
/// the second.
const BACKOFF_MS: [u64; 2] = [1_000, 2_000];
/// A backed-off redelivery may come this much early (the clock starts when the release's
/// commit returned, the broker's a little before)...
const BACKOFF_EARLY_MS: u64 = 100;
/// ...and this much late.
const BACKOFF_LATE_MS: u64 = 3_000;
/// The delivery-limit scenario's `share.delivery.count.limit`: Kafka 4.4's lowest allowed.
const DELIVERY_LIMIT: i16 = 2;
/// `__dlq.errors.message` of a REJECTed record and of one that reached the delivery limit.
const REJECTED_MESSAGE: &str = "Offset rejected by client.";
const LIMIT_MESSAGE: &str = "Offset delivery count exceeded the threshold.";
/// How long dead-letter copies may take to appear (the broker writes them after answering).
const DLQ_WAIT: Duration = Duration::from_secs(10);
/// After the expected dead-letter copies appeared, how long to wait for extra ones.
const DLQ_SETTLE: Duration = Duration::from_millis(300);
/// A DLQ record must be written no sooner than this before the acknowledgement's send.
const DLQ_TIMESTAMP_EARLY_MS: i64 = 1_000;
/// Bytes one Fetch of a DLQ partition may return (the copies are small).
const DLQ_FETCH_BYTES: i32 = 1 << 20;
/// The index of the marker record the verifying consumer waits for.
const MARKER: i64 = 1_000_000_000;
/// Restart scenarios: records produced, accepted, released before the restart (the rest of
/// what the consumer acquired stays acquired).
const RESTART_RECORDS: i64 = 20;
const RESTART_ACCEPT: i64 = 7;
const RESTART_RELEASE: i64 = 3;
/// After a restart, how long the records not accepted may take to come back.
const RESTART_ARRIVE_WAIT: Duration = Duration::from_secs(10);

// Group and topic configs (Kafka 4.4's names) and ringlog's backoff.
const AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
const DELIVERY_COUNT_LIMIT: &str = "share.delivery.count.limit";
const RETRY_BACKOFF_MS: &str = "ringlog.share.retry.backoff.ms";
const DLQ_TOPIC_NAME: &str = "errors.deadletterqueue.topic.name";
const DLQ_COPY_RECORD: &str = "errors.deadletterqueue.copy.record.enable";
const DLQ_GROUP_ENABLE: &str = "errors.deadletterqueue.group.enable";

/// A record: (partition, offset).
type At = (i32, i64);

// ---------------------------------------------------------------------------------------------
// Broker and client runtime

/// A ringlog broker in this process (two shards) over a temporary directory.
struct Setup {
    io: IoKind,
    lock_ms: Option<u64>,
    broker: Option<Broker>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start(io: IoKind) -> Setup {
        Setup::start_with_lock(io, None)
    }

    /// With the broker's acquisition lock set to `lock_ms` (`None`: Kafka's default, 30 s).
    fn start_with_lock(io: IoKind, lock_ms: Option<u64>) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = boot(io, dir.path(), lock_ms);
        Setup {
            io,
            lock_ms,
            addr: broker.local_addr(),
            broker: Some(broker),
            dir,
        }
    }

    /// Shuts the broker down and starts it again on the same directory (a new port).
    fn restart(&mut self) -> SocketAddr {
        stop(self.broker.take().expect("a running broker"));
        let broker = boot(self.io, self.dir.path(), self.lock_ms);
        self.addr = broker.local_addr();
        self.broker = Some(broker);
        self.addr
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            if std::thread::panicking() {
                b.shutdown();
            } else {
                stop(b);
            }
        }
    }
}

fn boot(io: IoKind, dir: &Path, lock_ms: Option<u64>) -> Broker {
    support::start_broker(io, dir, 2, |c| {
        if let Some(ms) = lock_ms {
            c.share.record_lock_duration_ms = ms as i64;
        }
    })
}

/// Shuts a broker down and joins it within [`STOP_LIMIT`].
fn stop(broker: Broker) {
    broker.shutdown();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(broker.join());
    });
    match rx.recv_timeout(STOP_LIMIT) {
        Ok(res) => res.expect("broker stops cleanly"),
        Err(_) => panic!("broker did not stop within {STOP_LIMIT:?}"),
    }
}

/// Returns once nothing accepts connections on `addr` (panics after [`STOP_LIMIT`]). A
/// SIGKILLed io_uring broker's port was seen to accept connections for 5-10 ms after its process
/// was reaped (the kernel tears a ring down after its process exits; the listener apparently
/// goes with it), and to reset them then: a wait for "something listens" is fooled by it.
fn wait_refused(addr: SocketAddr) {
    let deadline = Instant::now() + STOP_LIMIT;
    while std::net::TcpStream::connect_timeout(&addr, REFUSED_PROBE).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        std::thread::sleep(REFUSED_PAUSE);
    }
}

/// Runs `body` on a one-shard client runtime with the broker's driver, for at most
/// [`TEST_LIMIT`].
fn client<T>(io: IoKind, body: impl AsyncFnOnce() -> T) -> T {
    let config = RuntimeConfig {
        cores: 1,
        io,
        pin: false,
        ..RuntimeConfig::default()
    };
    ringlog::runtime::block_on(&config, async {
        match ringlog::runtime::time::timeout(TEST_LIMIT, body()).await {
            Ok(v) => v,
            Err(_) => panic!("the test's client code ran longer than {TEST_LIMIT:?}"),
        }
    })
    .expect("the client runtime starts")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Sets `share.auto.offset.reset=earliest` and `configs` on `group` (the broker's group admin
/// client: IncrementalAlterConfigs on the GROUP resource).
fn set_group_configs(addr: SocketAddr, group: &str, configs: &[(&str, String)]) {
    let mut admin = AdminClient::connect(&addr.to_string())
        .unwrap_or_else(|e| panic!("admin connection to {addr}: {e}"));
    let mut changes = vec![(AUTO_OFFSET_RESET.to_string(), Some("earliest".to_string()))];
    changes.extend(
        configs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.clone()))),
    );
    admin
        .alter_group_configs(group, &changes)
        .unwrap_or_else(|e| panic!("group configs {changes:?} of {group}: {e}"));
}

// ---------------------------------------------------------------------------------------------
// Producing and reading back

/// Record `i`: key `k{i}`, value `v{i}`, header `trace: t{i}`.
fn record_of(i: i64, offset_delta: i32) -> Record {
    Record {
        offset_delta,
        timestamp_delta: 0,
        key: Some(Bytes::from(format!("k{i}"))),
        value: Some(Bytes::from(format!("v{i}"))),
        headers: vec![(
            Bytes::from_static(b"trace"),
            Some(Bytes::from(format!("t{i}"))),
        )],
    }
}

/// Produces records `indexes` to `topic`, record `i` to partition `i % partitions`, one batch
/// per partition; where each went: (partition, offset) -> i.
async fn produce(
    conn: &mut Connection,
    topic: &str,
    partitions: i32,
    indexes: impl IntoIterator<Item = i64>,
) -> BTreeMap<At, i64> {
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for i in indexes {
        by_partition
            .entry((i % i64::from(partitions)) as i32)
            .or_default()
            .push(i);
    }
    let mut at = BTreeMap::new();
    for (partition, indexes) in by_partition {
        let records: Vec<Record> = indexes
            .iter()
            .enumerate()
            .map(|(n, &i)| record_of(i, n as i32))
            .collect();
        let meta = BatchMeta {
            base_timestamp: now_ms(),
            ..BatchMeta::default()
        };
        let mut batch = Vec::new();
        encode_batch(&meta, &records, Compression::None, &mut batch).expect("encode a batch");
        let base = conn
            .produce(topic, partition, Bytes::from(batch), -1)
            .await
            .unwrap_or_else(|e| panic!("produce to {topic}-{partition}: {e}"));
        for (n, i) in indexes.into_iter().enumerate() {
            at.insert((partition, base + n as i64), i);
        }
    }
    at
}

/// A record carries the key, value and header produced for index `i`.
fn intact(r: &ConsumedRecord, i: i64) -> bool {
    r.key.as_deref() == Some(format!("k{i}").as_bytes())
        && r.value.as_deref() == Some(format!("v{i}").as_bytes())
        && r.headers
            == vec![(
                Bytes::from_static(b"trace"),
                Some(Bytes::from(format!("t{i}"))),
            )]
}

/// One record of a dead-letter topic.
#[derive(Debug)]
struct DeadLetter {
    partition: i32,
    /// Its batch's timestamps are log-append times.
    log_append_time: bool,
    record: ConsumedRecord,
}

impl DeadLetter {
    fn headers(&self) -> Vec<(String, Option<String>)> {
        self.record
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v)
    }

    /// The source record it names: (`__dlq.errors.partition`, `__dlq.errors.offset`).
    fn source(&self) -> Option<At> {
        Some((
            self.header("__dlq.errors.partition")?.parse().ok()?,
            self.header("__dlq.errors.offset")?.parse().ok()?,
        ))
    }
}

/// Every record of `topic`'s `partitions`, batch by batch (each batch's timestamp type kept).
async fn read_topic(conn: &mut Connection, topic: &str, partitions: i32) -> Vec<DeadLetter> {
    let mut out = Vec::new();
    for partition in 0..partitions {
        let mut offset = 0;
        loop {
            let f = conn
                .fetch(topic, partition, offset, DLQ_FETCH_BYTES, Duration::ZERO)
                .await
                .unwrap_or_else(|e| panic!("fetch {topic}-{partition} at {offset}: {e}"));
            let mut pos = 0;
            while pos < f.records.len() {
                let Ok(h) = BatchHeader::parse(&f.records[pos..]) else {
                    break;
                };
                let end = pos + h.size_bytes() as usize;
                if end > f.records.len() {
                    break;
                }
                let context = format!("{topic}-{partition}");
                let decoded = decode_batches(&f.records.slice(pos..end), &context)
                    .unwrap_or_else(|e| panic!("decode {context}: {e}"));
                out.extend(decoded.records.into_iter().map(|record| DeadLetter {
                    partition,
                    log_append_time: h.is_log_append_time(),
                    record,
                }));
                offset = h.next_offset().expect("offsets fit an i64");
                pos = end;
            }
            if pos == 0 || offset >= f.high_watermark {
                break;
            }
        }
    }
    out
}

/// The dead-letter records of `topic` once there are `want` (or [`DLQ_WAIT`] passed), read
/// again [`DLQ_SETTLE`] later so that extra copies show.
async fn dead_letters(
    conn: &mut Connection,
    topic: &str,
    partitions: i32,
    want: usize,
) -> Vec<DeadLetter> {
    let deadline = Instant::now() + DLQ_WAIT;
    while read_topic(conn, topic, partitions).await.len() < want && Instant::now() < deadline {
        ringlog::runtime::time::sleep(Duration::from_millis(50)).await;
    }
    ringlog::runtime::time::sleep(DLQ_SETTLE).await;
    read_topic(conn, topic, partitions).await
}
// ---------------------------------------------------------------------------------------------
// A consumer and its log

/// One delivery to a member.
#[derive(Debug)]
struct Delivery {
    at: At,
    delivery_count: i16,
    /// When the poll that brought it returned.
    when: Instant,
    record: ShareRecord,
}

/// A share consumer with everything it saw: deliveries, the broker's verdicts on its
/// acknowledgements, and errors (kept, not raised, so that a test reports all it found).
struct Member {
    name: String,
    c: Option<ShareConsumer>,
    /// Explicit mode: how every record is acknowledged as it arrives (`None`: not at all).
    answer: Option<AcknowledgeType>,
    got: Vec<Delivery>,
    verdicts: Vec<Acknowledged>,
    errors: Vec<String>,
}

impl Member {
    /// Joins `group` on `addr` and waits for an assignment.
    async fn join(
        addr: SocketAddr,
        name: &str,
        group: &str,
        topic: &str,
        mode: AcknowledgementMode,
        max_records: Option<i32>,
    ) -> Member {
        let mut config = ShareConsumerConfig::new(group, &[topic]);
        config.mode = mode;
        config.max_wait = POLL_WAIT;
        if let Some(n) = max_records {
            config.max_records = n;
        }
        let mut c = ShareConsumer::join(addr, config)
            .await
            .unwrap_or_else(|e| panic!("{name} joins {group}: {e}"));
        c.wait_for_assignment(ASSIGN_WAIT)
            .await
            .unwrap_or_else(|e| panic!("{name} in {group}: {e}"));
        Member {
            name: name.to_string(),
            c: Some(c),
            answer: None,
            got: Vec::new(),
            verdicts: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// An explicit-mode member that acknowledges every record as `answer` when it arrives.
    async fn join_answering(
        addr: SocketAddr,
        name: &str,
        group: &str,
        topic: &str,
        answer: Option<AcknowledgeType>,
    ) -> Member {
        let mut m = Member::join(
            addr,
            name,
            group,
            topic,
            AcknowledgementMode::Explicit,
            None,
        )
        .await;
        m.answer = answer;
        m
    }

    fn consumer(&mut self) -> &mut ShareConsumer {
        self.c.as_mut().expect("the member is open")
    }

    /// One poll; what it brought is logged (and acknowledged as [`Member::answer`]) and
    /// returned.
    async fn poll(&mut self) -> Vec<ShareRecord> {
        match self.consumer().poll().await {
            Ok(p) => {
                let when = Instant::now();
                self.verdicts.extend(p.acknowledged);
                self.errors
                    .extend(p.fetch_errors.iter().map(|e| format!("fetch: {e}")));
                self.got.extend(p.records.iter().map(|r| Delivery {
                    at: (r.partition, r.record.offset),
                    delivery_count: r.delivery_count,
                    when,
                    record: r.clone(),
                }));
                if let Some(ack) = self.answer {
                    self.acknowledge(&p.records, ack);
                }
                p.records
            }
            Err(e) => {
                self.errors.push(format!("poll: {e}"));
                ringlog::runtime::time::sleep(ERROR_PAUSE).await;
                Vec::new()
            }
        }
    }

    /// Polls until `done(self)` holds or `wait` has passed; whether it held.
    async fn poll_until(&mut self, wait: Duration, done: impl Fn(&Member) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while !done(self) {
            if Instant::now() >= deadline {
                return false;
            }
            self.poll().await;
        }
        true
    }

    /// Polls for `wait`.
    async fn poll_for(&mut self, wait: Duration) {
        self.poll_until(wait, |_| false).await;
    }

    fn acknowledge(&mut self, records: &[ShareRecord], ack: AcknowledgeType) {
        for r in records {
            if let Err(e) = self.consumer().acknowledge(r, ack) {
                self.errors.push(format!(
                    "acknowledge {} {}: {e}",
                    r.record.offset,
                    ack.name()
                ));
            }
        }
    }

    /// Sends the pending acknowledgements (ShareAcknowledge) and logs the verdicts.
    async fn commit(&mut self) {
        match self.consumer().commit().await {
            Ok(v) => self.verdicts.extend(v),
            Err(e) => self.errors.push(format!("commit: {e}")),
        }
    }

    /// Leaves the group (what is pending goes with the session's close).
    async fn close(&mut self) {
        let c = self.c.take().expect("the member is open");
        match c.close().await {
            Ok(v) => self.verdicts.extend(v),
            Err(e) => self.errors.push(format!("close: {e}")),
        }
    }

    /// Drops the consumer without a word to the broker (its connection closes).
    fn drop_consumer(&mut self) {
        self.c = None;
    }

    /// Delivery counts of each record, in delivery order.
    fn deliveries(&self) -> BTreeMap<At, Vec<i16>> {
        let mut m: BTreeMap<At, Vec<i16>> = BTreeMap::new();
        for d in &self.got {
            m.entry(d.at).or_default().push(d.delivery_count);
        }
        m
    }

    fn distinct(&self) -> BTreeSet<At> {
        self.got.iter().map(|d| d.at).collect()
    }

    /// The records of the first delivery of each, in offset order.
    fn first_deliveries(&self) -> Vec<ShareRecord> {
        let mut firsts: BTreeMap<At, ShareRecord> = BTreeMap::new();
        for d in &self.got {
            firsts.entry(d.at).or_insert_with(|| d.record.clone());
        }
        firsts.into_values().collect()
    }

    /// Records the broker took as acknowledged with `ack` (verdicts without error).
    fn acknowledged(&self, ack: AcknowledgeType) -> BTreeSet<At> {
        self.verdicts
            .iter()
            .filter(|v| v.error.is_none())
            .flat_map(|v| {
                v.acks
                    .runs()
                    .iter()
                    .filter(|run| run.ack == ack)
                    .flat_map(|run| (run.first..=run.last).map(|o| (v.partition, o)))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Errors and refused acknowledgements, one line each.
    fn problems(&self) -> Vec<String> {
        self.errors
            .iter()
            .cloned()
            .chain(self.verdicts.iter().filter_map(|v| {
                v.error.as_ref().map(|e| {
                    format!(
                        "acknowledgement {:?} of {}-{}: {e}",
                        v.acks.runs(),
                        v.topic,
                        v.partition
                    )
                })
            }))
            .collect()
    }
}

/// Every request of `m` succeeded and the broker took every acknowledgement.
fn check_no_problems(report: &mut Report, scenario: &str, m: &Member) {
    let problems = m.problems();
    report.check(
        format!(
            "{scenario}: {} saw no error, every acknowledgement taken",
            m.name
        ),
        problems.is_empty(),
        || problems.join("; "),
    );
}

/// A new member of `group` (after a marker record produced to partition 0 and a quiet
/// period) gets nothing but the marker.
async fn check_nothing_comes_again(
    report: &mut Report,
    scenario: &str,
    addr: SocketAddr,
    conn: &mut Connection,
    (topic, group): (&str, &str),
) {
    let marker = produce(conn, topic, 1, [MARKER]).await;
    let marker_at = *marker.keys().next().expect("the marker's offset");
    let mut v = Member::join(
        addr,
        "verify",
        group,
        topic,
        AcknowledgementMode::Implicit,
        None,
    )
    .await;
    let seen = v
        .poll_until(ARRIVE_WAIT, |m| m.distinct().contains(&marker_at))
        .await;
    v.poll_for(QUIET).await;
    v.close().await;
    let again: Vec<At> = v
        .distinct()
        .into_iter()
        .filter(|at| *at != marker_at)
        .collect();
    report.check(
        format!("{scenario}: a new consumer of the group gets nothing again"),
        seen && again.is_empty(),
        || format!("redelivered {again:?}; marker {marker_at:?} seen: {seen}"),
    );
    check_no_problems(report, scenario, &v);
}

/// What a dead-letter record must say: the source topic and group, the delivery count and
/// message of its headers, the DLQ's partitions, whether key and value are copied, and when
/// its record was first acknowledged at the earliest (wall clock ms).
struct DlqWant<'a> {
    topic: &'a str,
    group: &'a str,
    delivery_count: i16,
    message: &'a str,
    dlq_partitions: i32,
    copy: bool,
    acked_ms: i64,
}

/// Dead-letter records: one per source record in `expected` ((partition, offset) -> index),
/// with Kafka 4.4's six headers in its order, on partition `source % dlq_partitions`, key and
/// value copied only when `copy`, a CreateTime timestamp from `acked_ms` (less
/// [`DLQ_TIMESTAMP_EARLY_MS`]) to now.
fn check_dead_letters(
    report: &mut Report,
    scenario: &str,
    dlq: &[DeadLetter],
    expected: &BTreeMap<At, i64>,
    want: &DlqWant<'_>,
) {
    let mut by_source: BTreeMap<At, Vec<&DeadLetter>> = BTreeMap::new();
    let mut unnamed = Vec::new();
    for d in dlq {
        match d.source() {
            Some(at) => by_source.entry(at).or_default().push(d),
            None => unnamed.push(format!("{:?}", d.headers())),
        }
    }
    let wanted: BTreeSet<At> = expected.keys().copied().collect();
    let got: BTreeSet<At> = by_source.keys().copied().collect();
    let doubled: Vec<At> = by_source
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, _)| *k)
        .collect();
    report.check(
        format!("{scenario}: one dead-letter record per record"),
        got == wanted && doubled.is_empty() && unnamed.is_empty(),
        || {
            format!(
                "want {wanted:?}, got {got:?}, doubled {doubled:?}, without source headers \
                 {unnamed:?}"
            )
        },
    );
    let now = now_ms();
    let mut wrong = Vec::new();
    for ((sp, so), ds) in &by_source {
        let d = ds[0];
        let want_headers: Vec<(String, Option<String>)> = [
            ("__dlq.errors.topic", want.topic.to_string()),
            ("__dlq.errors.partition", sp.to_string()),
            ("__dlq.errors.offset", so.to_string()),
            ("__dlq.errors.group", want.group.to_string()),
            (
                "__dlq.errors.delivery.count",
                want.delivery_count.to_string(),
            ),
            ("__dlq.errors.message", want.message.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Some(v)))
        .collect();
        if d.headers() != want_headers {
            wrong.push(format!("{sp}:{so} headers {:?}", d.headers()));
        }
        if d.partition != sp % want.dlq_partitions {
            wrong.push(format!("{sp}:{so} on DLQ partition {}", d.partition));
        }
        let i = expected.get(&(*sp, *so)).copied().unwrap_or(-1);
        let (key, value) = if want.copy {
            (
                Some(Bytes::from(format!("k{i}"))),
                Some(Bytes::from(format!("v{i}"))),
            )
        } else {
            (None, None)
        };
        if d.record.key != key || d.record.value != value {
            wrong.push(format!(
                "{sp}:{so} key {:?} value {:?} (copy {})",
                d.record.key, d.record.value, want.copy
            ));
        }
        let ts = d.record.timestamp;
        if d.log_append_time || ts < want.acked_ms - DLQ_TIMESTAMP_EARLY_MS || ts > now {
            wrong.push(format!(
                "{sp}:{so} timestamp {ts} (log-append time: {}; acknowledged from {}, read at \
                 {now})",
                d.log_append_time, want.acked_ms
            ));
        }
    }
    report.check(
        format!("{scenario}: dead-letter records as Kafka 4.4 writes them"),
        wrong.is_empty(),
        || wrong.join("; "),
    );
}

/// Each record in `records` was delivered exactly as `want` says (delivery counts in order).
fn check_delivery_counts(
    report: &mut Report,
    what: String,
    m: &Member,
    records: &BTreeMap<At, i64>,
    want: &[i16],
) {
    let deliveries = m.deliveries();
    let wrong: Vec<_> = records
        .keys()
        .filter(|k| deliveries.get(k).map(Vec::as_slice) != Some(want))
        .map(|k| (k, deliveries.get(k)))
        .collect();
    report.check(what, !records.is_empty() && wrong.is_empty(), || {
        format!("{wrong:?}")
    });
}

// ---------------------------------------------------------------------------------------------
// Scenarios

fn implicit_acknowledgement(io: IoKind) {
    every_record_once(io, AcknowledgementMode::Implicit);
}

fn explicit_acknowledgement(io: IoKind) {
    every_record_once(io, AcknowledgementMode::Explicit);
}

/// One consumer gets every record once (delivery count 1, intact) and acknowledges it
/// (implicitly, or explicitly with ACCEPT as it arrives); the broker takes every
/// acknowledgement, and a new consumer of the group then gets none of them.
fn every_record_once(io: IoKind, mode: AcknowledgementMode) {
    let s = Setup::start(io);
    let scenario = format!("{mode:?}").to_lowercase();
    let (topic, group) = (format!("share-{scenario}"), format!("g-{scenario}"));
    let mut report = Report::default();
    client(io, async || {
        let mut conn = Connection::connect(s.addr).await.expect("connect");
        conn.create_topics(&[(&topic, 1)])
            .await
            .expect("create topic");
        set_group_configs(s.addr, &group, &[]);
        let sent = produce(&mut conn, &topic, 1, 0..RECORDS).await;
        let mut c0 = Member::join(s.addr, "c0", &group, &topic, mode, None).await;
        if mode == AcknowledgementMode::Explicit {
            c0.answer = Some(AcknowledgeType::Accept);
        }
        c0.poll_until(ARRIVE_WAIT, |m| m.distinct().len() >= sent.len())
            .await;
        c0.commit().await;
        let pending = c0.consumer().pending_acknowledgements();
        c0.close().await;

        check_delivery_counts(
            &mut report,
            format!("{scenario}: every record delivered once, delivery count 1"),
            &c0,
            &sent,
            &[1],
        );
        let damaged: Vec<String> = c0
            .got
            .iter()
            .filter(|d| !intact(&d.record.record, sent.get(&d.at).copied().unwrap_or(-1)))
            .map(|d| format!("{:?}", d.record))
            .collect();
        report.check(
            format!("{scenario}: key, value and headers intact"),
            damaged.is_empty(),
            || damaged.join("; "),
        );
        check_no_problems(&mut report, &scenario, &c0);
        let accepted = c0.acknowledged(AcknowledgeType::Accept);
        report.check(
            format!("{scenario}: every record's ACCEPT taken by the broker"),
            sent.keys().all(|k| accepted.contains(k)),
            || format!("accepted {accepted:?}"),
        );
        report.check(
            format!("{scenario}: nothing left pending after commit"),
            pending == 0,
            || format!("{pending} pending"),
        );
        check_nothing_comes_again(&mut report, &scenario, s.addr, &mut conn, (&topic, &group))
            .await;
    });
    report.finish(&[]);
}

/// A record one consumer of the shared scenario held: from its poll's return to the return of
/// the commit that acknowledged it.
struct Hold {
    at: At,
    delivery_count: i16,
    from: Instant,
    to: Instant,
}

/// Three consumers (tasks on one runtime, their long polls in flight together) in one group on
/// one partition, at most 10 records per fetch, each committing after every poll: every record
/// accepted exactly once, by whichever consumer got it; no record ever held by two consumers
/// at once (from the poll that returned it to the commit that acknowledged it); the partition
/// really shared (records reach at least two consumers).
fn three_consumers_share_one_partition(io: IoKind) {
    /// Records per produced batch: the broker acquires whole batches.
    const PER_BATCH: i64 = 5;
    let s = Setup::start(io);
    let (topic, group) = ("share-shared", "g-shared");
    let scenario = "shared";
    let mut report = Report::default();
    client(io, async || {
        let mut conn = Connection::connect(s.addr).await.expect("connect");
        conn.create_topics(&[(topic, 1)])
            .await
            .expect("create topic");
        set_group_configs(s.addr, group, &[]);
        let mut sent = BTreeMap::new();
        for first in (0..SHARED_RECORDS).step_by(PER_BATCH as usize) {
            sent.extend(produce(&mut conn, topic, 1, first..first + PER_BATCH).await);
        }
        let mut members = Vec::new();
        for n in 0..SHARED_CONSUMERS {
            members.push(
                Member::join(
                    s.addr,
                    &format!("c{n}"),
                    group,
                    topic,
                    AcknowledgementMode::Implicit,
                    Some(SHARED_MAX_RECORDS),
                )
                .await,
            );
        }
        let done: Rc<RefCell<BTreeSet<At>>> = Rc::default();
        let tasks: Vec<_> = members
            .into_iter()
            .map(|mut m| {
                let done = done.clone();
                ringlog::runtime::spawn(async move {
                    let deadline = Instant::now() + SHARED_WAIT;
                    let mut held: Vec<Hold> = Vec::new();
                    while done.borrow().len() < SHARED_RECORDS as usize && Instant::now() < deadline
                    {
                        let got = m.poll().await;
                        if got.is_empty() {
                            continue;
                        }
                        let from = Instant::now();
                        m.commit().await;
                        let to = Instant::now();
                        for r in &got {
                            let at = (r.partition, r.record.offset);
                            held.push(Hold {
                                at,
                                delivery_count: r.delivery_count,
                                from,
                                to,
                            });
                            done.borrow_mut().insert(at);
                        }
                    }
                    m.close().await;
                    (m, held)
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await);
        }

        // Every poll that brought records was followed by the commit of their ACCEPTs: the
        // holds are every delivery.
        let mut per_record: BTreeMap<At, Vec<(&str, &Hold)>> = BTreeMap::new();
        for (m, held) in &results {
            for h in held {
                per_record.entry(h.at).or_default().push((&m.name, h));
            }
        }
        let not_once: Vec<(At, usize)> = sent
            .keys()
            .filter(|k| per_record.get(k).map_or(0, Vec::len) != 1)
            .map(|k| (*k, per_record.get(k).map_or(0, Vec::len)))
            .collect();
        report.check(
            format!("{scenario}: each of {SHARED_RECORDS} records delivered exactly once"),
            not_once.is_empty(),
            || format!("deliveries != 1: {not_once:?}"),
        );
        let counts: BTreeSet<i16> = per_record
            .values()
            .flatten()
            .map(|(_, h)| h.delivery_count)
            .collect();
        report.check(
            format!("{scenario}: delivery count 1 everywhere"),
            counts.iter().all(|c| *c == 1),
            || format!("delivery counts seen: {counts:?}"),
        );
        let mut overlaps = Vec::new();
        for (at, holds) in &per_record {
            for (i, a) in holds.iter().enumerate() {
                for b in &holds[i + 1..] {
                    if a.0 != b.0 && a.1.from < b.1.to && b.1.from < a.1.to {
                        overlaps.push(format!("{at:?}: {} and {}", a.0, b.0));
                    }
                }
            }
        }
        report.check(
            format!("{scenario}: no record held by two consumers at once"),
            overlaps.is_empty(),
            || overlaps.join("; "),
        );
        let per_consumer: BTreeMap<&str, usize> = results
            .iter()
            .map(|(m, _)| (m.name.as_str(), m.got.len()))
            .collect();
        eprintln!("records per consumer: {per_consumer:?}");
        report.check(
            format!("{scenario}: the partition is shared (records reach at least two consumers)"),
            per_consumer.values().filter(|n| **n > 0).count() >= 2,
            || format!("{per_consumer:?}"),
        );
        let mut accepted = BTreeSet::new();
        for (m, _) in &results {
            check_no_problems(&mut report, scenario, m);
            accepted.extend(m.acknowledged(AcknowledgeType::Accept));
        }
        let missing: Vec<&At> = sent.keys().filter(|k| !accepted.contains(k)).collect();
        report.check(
            format!("{scenario}: every record's ACCEPT taken by the broker"),
            missing.is_empty(),
            || format!("not accepted: {missing:?}"),
        );
        check_nothing_comes_again(&mut report, scenario, s.addr, &mut conn, (topic, group)).await;
    });
    report.finish(&[]);
}

/// RELEASE on the first delivery: each record comes again with delivery count 2, and is then
/// accepted; never again after that.
fn release_redelivers_with_delivery_count_2(io: IoKind) {
    let s = Setup::start(io);
    let (topic, group) = ("share-release", "g-release");
    let scenario = "release";
    let mut report = Report::default();
    client(io, async || {
        let mut conn = Connection::connect(s.addr).await.expect("connect");
        conn.create_topics(&[(topic, 1)])
            .await
            .expect("create topic");
        set_group_configs(s.addr, group, &[]);
        let sent = produce(&mut conn, topic, 1, 0..3).await;
        let mut c0 =
            Member::join_answering(s.addr, "c0", group, topic, Some(AcknowledgeType::Release))
                .await;
        c0.poll_until(ARRIVE_WAIT, |m| m.distinct().len() >= sent.len())
            .await;
        c0.commit().await;
        c0.answer = Some(AcknowledgeType::Accept);
        c0.poll_until(ARRIVE_WAIT, |m| {
            m.got.len() >= 2 * sent.len() || m.got.iter().any(|d| d.delivery_count > 2)
        })
        .await;
        c0.commit().await;
        c0.close().await;
        check_delivery_counts(
            &mut report,
            format!("{scenario}: each record delivered twice, delivery counts 1 then 2"),
            &c0,
            &sent,
            &[1, 2],
        );
        check_no_problems(&mut report, scenario, &c0);
        let (released, accepted) = (
            c0.acknowledged(AcknowledgeType::Release),
            c0.acknowledged(AcknowledgeType::Accept),
        );
        report.check(
            format!("{scenario}: RELEASE then ACCEPT of every record taken by the broker"),
            sent.keys()
                .all(|k| released.contains(k) && accepted.contains(k)),
            || format!("released {released:?}, accepted {accepted:?}"),
        );
        check_nothing_comes_again(&mut report, scenario, s.addr, &mut conn, (topic, group)).await;
    });
    report.finish(&[]);
}

/// REJECT: the records go to the group's DLQ topic (one DLQ partition, headers only), and, in a
/// second group, from 3 source partitions to 2 DLQ partitions with key and value copied.
fn reject_goes_to_the_dead_letter_topic(io: IoKind) {
    let s = Setup::start(io);
    let mut report = Report::default();
    client(io, async || {
        reject_to_dead_letters(&mut report, s.addr, "reject", 3, 1, 1, false).await;
        reject_to_dead_letters(&mut report, s.addr, "reject-copy", 6, 3, 2, true).await;
    });
    report.finish(&[]);
}

/// `records` records on `partitions` partitions of `share-{name}`, each REJECTed by group
/// `g-{name}` whose DLQ is `dlq.share-{name}` (`dlq_partitions`, copy.record.enable `copy`).
async fn reject_to_dead_letters(
    report: &mut Report,
    addr: SocketAddr,
    name: &str,
    records: i64,
    partitions: i32,
    dlq_partitions: i32,
    copy: bool,
) {
    let (topic, dlq, group) = (
        format!("share-{name}"),
        format!("dlq.share-{name}"),
        format!("g-{name}"),
    );
    let mut conn = Connection::connect(addr).await.expect("connect");
    conn.create_topics(&[(&topic, partitions)])
        .await
        .expect("create topic");
    conn.create_topics_with_configs(&[(&dlq, dlq_partitions, &[(DLQ_GROUP_ENABLE, "true")])])
        .await
        .expect("create the DLQ topic");
    let mut configs = vec![(DLQ_TOPIC_NAME, dlq.clone())];
    if copy {
        configs.push((DLQ_COPY_RECORD, "true".to_string()));
    }
    set_group_configs(addr, &group, &configs);
    let sent = produce(&mut conn, &topic, partitions, 0..records).await;
    let acked_ms = now_ms();
    let mut c0 =
        Member::join_answering(addr, "c0", &group, &topic, Some(AcknowledgeType::Reject)).await;
    c0.poll_until(ARRIVE_WAIT, |m| m.distinct().len() >= sent.len())
        .await;
    c0.commit().await;
    c0.close().await;
    check_delivery_counts(
        report,
        format!("{name}: every record delivered once, delivery count 1"),
        &c0,
        &sent,
        &[1],
    );
    check_no_problems(report, name, &c0);
    let rejected = c0.acknowledged(AcknowledgeType::Reject);
    report.check(
        format!("{name}: every record's REJECT taken by the broker"),
        rejected == sent.keys().copied().collect(),
        || format!("rejected {rejected:?}, produced {sent:?}"),
    );
    let letters = dead_letters(&mut conn, &dlq, dlq_partitions, sent.len()).await;
    check_dead_letters(
        report,
        name,
        &letters,
        &sent,
        &DlqWant {
            topic: &topic,
            group: &group,
            delivery_count: 1,
            message: REJECTED_MESSAGE,
            dlq_partitions,
            copy,
            acked_ms,
        },
    );
    check_nothing_comes_again(report, name, addr, &mut conn, (&topic, &group)).await;
}

/// RELEASE every delivery with `share.delivery.count.limit=2`: each record is delivered twice,
/// then archived and written to the DLQ with delivery count 2.
fn delivery_limit_goes_to_the_dead_letter_topic(io: IoKind) {
    let s = Setup::start(io);
    let (topic, dlq, group) = ("share-limit", "dlq.share-limit", "g-limit");
    let scenario = "delivery-limit";
    let mut report = Report::default();
    client(io, async || {
        let mut conn = Connection::connect(s.addr).await.expect("connect");
        conn.create_topics(&[(topic, 1)])
            .await
            .expect("create topic");
        conn.create_topics_with_configs(&[(dlq, 1, &[(DLQ_GROUP_ENABLE, "true")])])
            .await
            .expect("create the DLQ topic");
        set_group_configs(
            s.addr,
            group,
            &[
                (DELIVERY_COUNT_LIMIT, DELIVERY_LIMIT.to_string()),
                (DLQ_TOPIC_NAME, dlq.to_string()),
            ],
        );
        let sent = produce(&mut conn, topic, 1, 0..2).await;
        let acked_ms = now_ms();
        let mut c0 =
            Member::join_answering(s.addr, "c0", group, topic, Some(AcknowledgeType::Release))
                .await;
        let limit = DELIVERY_LIMIT as usize;
        c0.poll_until(ARRIVE_WAIT, |m| m.got.len() >= limit * sent.len())
            .await;
        c0.commit().await;
        // Whatever the limit let through would come now.
        c0.poll_for(QUIET).await;
        c0.commit().await;
        c0.close().await;
        let want: Vec<i16> = (1..=DELIVERY_LIMIT).collect();
        check_delivery_counts(
            &mut report,
            format!("{scenario}: each record delivered {DELIVERY_LIMIT} times, then never again"),
            &c0,
            &sent,
            &want,
        );
        check_no_problems(&mut report, scenario, &c0);
        let letters = dead_letters(&mut conn, dlq, 1, sent.len()).await;
        check_dead_letters(
            &mut report,
            scenario,
            &letters,
            &sent,
            &DlqWant {
                topic,
                group,
                delivery_count: DELIVERY_LIMIT,
                message: LIMIT_MESSAGE,
                dlq_partitions: 1,
                copy: false,
                acked_ms,
            },
        );
        check_nothing_comes_again(&mut report, scenario, s.addr, &mut conn, (topic, group)).await;
    });
    report.finish(&[]);
}

/// ringlog's retry backoff: with `ringlog.share.retry.backoff.ms=1000,2000` a record released
/// on its first delivery comes back after 1 s, released again after 2 s (not before: a
/// consumer polls all along), then is accepted.
fn released_record_waits_for_the_retry_backoff(io: IoKind) {
    let s = Setup::start(io);
    let (topic, group) = ("share-backoff", "g-backoff");
    let scenario = "backoff";
    let mut report = Report::default();
    client(io, async || {
        let mut conn = Connection::connect(s.addr).await.expect("connect");
        conn.create_topics(&[(topic, 1)])
            .await
            .expect("create topic");
        let list = BACKOFF_MS.map(|ms| ms.to_string()).join(",");
        set_group_configs(s.addr, group, &[(RETRY_BACKOFF_MS, list)]);
        produce(&mut conn, topic, 1, [0]).await;
        let mut c0 =
            Member::join_answering(s.addr, "c0", group, topic, Some(AcknowledgeType::Release))
                .await;
        c0.poll_until(ARRIVE_WAIT, |m| !m.got.is_empty()).await;
        // Timed from the commit's start: the broker starts the backoff while it runs, so a
        // slow answer on a loaded machine cannot make a correct redelivery look early.
        let mut released_at = Instant::now();
        c0.commit().await;
        for (n, backoff) in BACKOFF_MS.into_iter().enumerate() {
            let last = n + 1 == BACKOFF_MS.len();
            c0.answer = Some(if last {
                AcknowledgeType::Accept
            } else {
                AcknowledgeType::Release
            });
            let came = c0
                .poll_until(Duration::from_millis(backoff + BACKOFF_LATE_MS), |m| {
                    m.got.len() >= n + 2
                })
                .await;
            let waited = c0
                .got
                .get(n + 1)
                .map(|d| d.when.duration_since(released_at).as_millis() as u64);
            let delivery_count = c0.got.get(n + 1).map(|d| d.delivery_count);
            eprintln!(
                "{scenario}: redelivery {} came {waited:?} ms after the release",
                n + 1
            );
            released_at = Instant::now();
            c0.commit().await;
            report.check(
                format!(
                    "{scenario}: redelivery {} (delivery count {}) after {backoff} ms",
                    n + 1,
                    n + 2
                ),
                came && delivery_count == Some(n as i16 + 2)
                    && waited.is_some_and(|w| {
                        w + BACKOFF_EARLY_MS >= backoff && w <= backoff + BACKOFF_LATE_MS
                    }),
                || format!("delivery count {delivery_count:?}, waited {waited:?} ms"),
            );
        }
        c0.close().await;
        check_no_problems(&mut report, scenario, &c0);
    });
    report.finish(&[]);
}

/// A consumer acquires records and is dropped (its connection closes; no acknowledgement, close
/// or leave): another consumer gets them with delivery count 2, by the end of the acquisition
/// lock at the latest (Kafka 4.4 releases them as soon as it sees the connection closed).
fn dropped_consumer_records_are_redelivered(io: IoKind) {
    held_records_come_back(io, "dropped", true);
}

/// A consumer acquires records and stays connected without ever acknowledging: the records
/// come back (delivery count 2) to another consumer only when their lock expires.
fn unacknowledged_records_come_back_when_the_lock_expires(io: IoKind) {
    held_records_come_back(io, "abandoned", false);
}

fn held_records_come_back(io: IoKind, scenario: &str, drop_holder: bool) {
    let s = Setup::start_with_lock(io, Some(LOCK_MS));
    let (topic, group) = (format!("share-{scenario}"), format!("g-{scenario}"));
    let mut report = Report::default();
    client(io, async || {
        let mut conn = Connection::connect(s.addr).await.expect("connect");
        conn.create_topics(&[(&topic, 1)])
            .await
            .expect("create topic");
        set_group_configs(s.addr, &group, &[]);
        let sent = produce(&mut conn, &topic, 1, 0..3).await;
        let mut holder = Member::join_answering(s.addr, scenario, &group, &topic, None).await;
        holder
            .poll_until(ARRIVE_WAIT, |m| m.distinct().len() >= sent.len())
            .await;
        if drop_holder {
            holder.drop_consumer();
        }
        let mut c0 =
            Member::join_answering(s.addr, "c0", &group, &topic, Some(AcknowledgeType::Accept))
                .await;
        let held: BTreeMap<At, Instant> = holder.got.iter().map(|d| (d.at, d.when)).collect();
        c0.poll_until(Duration::from_millis(LOCK_MS + LOCK_LATE_MS), |m| {
            held.keys().all(|k| m.distinct().contains(k))
        })
        .await;
        c0.commit().await;
        c0.close().await;
        if !drop_holder {
            holder.close().await;
        }
        report.check(
            format!("{scenario}: held the records before it stopped"),
            held.len() == sent.len(),
            || format!("held {held:?}, produced {sent:?}"),
        );
        let (early, late) = if drop_holder {
            (0, LOCK_MS + LOCK_LATE_MS)
        } else {
            (LOCK_MS - LOCK_EARLY_MS, LOCK_MS + LOCK_LATE_MS)
        };
        let mut wrong = Vec::new();
        for (at, acquired) in &held {
            match c0.got.iter().find(|d| d.at == *at) {
                Some(d) => {
                    let after = d.when.duration_since(*acquired).as_millis() as u64;
                    eprintln!(
                        "{scenario}: {at:?} came back to c0 {after} ms after the holder got it"
                    );
                    if d.delivery_count != 2 || after < early || after > late {
                        wrong.push(format!(
                            "{at:?}: delivery count {} after {after} ms",
                            d.delivery_count
                        ));
                    }
                }
                None => wrong.push(format!("{at:?}: never redelivered")),
            }
        }
        report.check(
            format!(
                "{scenario}: its records redelivered with delivery count 2, {early}..={late} ms \
                 after it got them"
            ),
            wrong.is_empty(),
            || wrong.join("; "),
        );
        check_no_problems(&mut report, scenario, &c0);
        if !drop_holder {
            check_no_problems(&mut report, scenario, &holder);
        }
    });
    report.finish(&[]);
}

/// The broker shut down and started again on its data directory while a consumer holds
/// records; see [`across_a_restart`].
fn acknowledgements_survive_a_broker_restart(io: IoKind) {
    let mut s = Setup::start(io);
    let mut report = Report::default();
    let addr = s.addr;
    client(io, async || {
        across_a_restart(&mut report, "restart", addr, || s.restart()).await;
    });
    report.finish(&[]);
}

/// `ringlog serve` (`--flush always`) SIGKILLed and restarted on its data directory while a
/// consumer holds records; see [`across_a_restart`].
fn acknowledgements_survive_a_broker_sigkill(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut broker = serve(dir.path(), port, io);
    let mut report = Report::default();
    client(io, async || {
        across_a_restart(&mut report, "sigkill", addr, || {
            broker.0.kill().expect("SIGKILL ringlog serve");
            broker.0.wait().expect("reap ringlog serve");
            wait_refused(addr);
            broker = serve(dir.path(), port, io);
            addr
        })
        .await;
    });
    report.finish(&[]);
}

/// A consumer ACCEPTs 7 of 20 records, RELEASEs 3 and keeps the rest of what it acquired;
/// `restart` restarts the broker (and gives its address); a new consumer then gets every record
/// but the accepted ones, exactly once: the released ones with delivery count 2 (persisted),
/// the held ones with 1 or 2 (Kafka 4.4 answers 1: it persists no acquisition).
async fn across_a_restart(
    report: &mut Report,
    scenario: &str,
    addr: SocketAddr,
    restart: impl FnOnce() -> SocketAddr,
) {
    let (topic, group) = (format!("share-{scenario}"), format!("g-{scenario}"));
    let mut conn = Connection::connect(addr).await.expect("connect");
    conn.create_topics(&[(&topic, 1)])
        .await
        .expect("create topic");
    set_group_configs(addr, &group, &[]);
    let sent = produce(&mut conn, &topic, 1, 0..RESTART_RECORDS).await;
    drop(conn);
    let mut c0 = Member::join_answering(addr, "c0", &group, &topic, None).await;
    c0.poll_until(ARRIVE_WAIT, |m| m.distinct().len() >= sent.len())
        .await;
    let got = c0.first_deliveries();
    let (accept, rest) = got.split_at(got.len().min(RESTART_ACCEPT as usize));
    let (release, hold) = rest.split_at(rest.len().min(RESTART_RELEASE as usize));
    c0.acknowledge(accept, AcknowledgeType::Accept);
    c0.acknowledge(release, AcknowledgeType::Release);
    c0.commit().await;
    let at = |rs: &[ShareRecord]| -> BTreeSet<At> {
        rs.iter().map(|r| (r.partition, r.record.offset)).collect()
    };
    let (accepted, released, held) = (at(accept), at(release), at(hold));
    report.check(
        format!(
            "{scenario}: before the restart, {RESTART_ACCEPT} accepted and {RESTART_RELEASE} \
             released (taken by the broker), {} held",
            RESTART_RECORDS - RESTART_ACCEPT - RESTART_RELEASE
        ),
        accepted.len() == RESTART_ACCEPT as usize
            && released.len() == RESTART_RELEASE as usize
            && !held.is_empty()
            && c0.acknowledged(AcknowledgeType::Accept) == accepted
            && c0.acknowledged(AcknowledgeType::Release) == released,
        || {
            format!(
                "accepted {accepted:?}, released {released:?}, held {held:?}; the broker took \
                 ACCEPT {:?}, RELEASE {:?}",
                c0.acknowledged(AcknowledgeType::Accept),
                c0.acknowledged(AcknowledgeType::Release)
            )
        },
    );
    check_no_problems(report, scenario, &c0);
    // c0 holds its records across the restart; its connection dies with the broker.
    let addr = restart();
    c0.drop_consumer();
    let mut after =
        Member::join_answering(addr, "after", &group, &topic, Some(AcknowledgeType::Accept)).await;
    let want: BTreeSet<At> = sent
        .keys()
        .filter(|k| !accepted.contains(k))
        .copied()
        .collect();
    after
        .poll_until(RESTART_ARRIVE_WAIT, |m| want.is_subset(&m.distinct()))
        .await;
    after.poll_for(QUIET).await;
    after.commit().await;
    after.close().await;
    let deliveries = after.deliveries();
    let again: Vec<&At> = accepted
        .iter()
        .filter(|k| deliveries.contains_key(k))
        .collect();
    report.check(
        format!("{scenario}: after the restart, no accepted record is redelivered"),
        again.is_empty(),
        || format!("{again:?}"),
    );
    let not_once: Vec<_> = want
        .iter()
        .filter(|k| deliveries.get(k).map_or(0, Vec::len) != 1)
        .map(|k| (k, deliveries.get(k)))
        .collect();
    report.check(
        format!("{scenario}: after the restart, every other record delivered exactly once"),
        !want.is_empty() && not_once.is_empty(),
        || format!("{not_once:?}"),
    );
    let released_wrong: Vec<_> = released
        .iter()
        .filter(|k| deliveries.get(k).map(Vec::as_slice) != Some(&[2]))
        .map(|k| (k, deliveries.get(k)))
        .collect();
    report.check(
        format!("{scenario}: after the restart, released records come back with delivery count 2"),
        released_wrong.is_empty(),
        || format!("{released_wrong:?}"),
    );
    let held_wrong: Vec<_> = held
        .iter()
        .filter(|k| !matches!(deliveries.get(k).map(Vec::as_slice), Some([1]) | Some([2])))
        .map(|k| (k, deliveries.get(k)))
        .collect();
    report.check(
        format!(
            "{scenario}: after the restart, acquired, unacknowledged records come back \
             (delivery count 1 or 2)"
        ),
        held_wrong.is_empty(),
        || format!("{held_wrong:?}"),
    );
    check_no_problems(report, scenario, &after);
}

/// A share group on a filtered view (issue #17): three batches of the source, one whose records
/// all match, one whose records none match, one with two matches; the consumer gets exactly the
/// matching records at the source's offsets (the acquired offsets without a record are gaps it
/// acknowledges as such), and a new member of the group then gets only a later matching record.
fn share_group_on_a_view(io: IoKind) {
    let s = Setup::start(io);
    let (topic, view, group) = ("share-view-source", "share-view", "g-view");
    let mut report = Report::default();
    client(io, async || {
        let mut conn = Connection::connect(s.addr).await.expect("connect");
        conn.create_topics(&[(topic, 1)])
            .await
            .expect("create topic");
        // String comparison: 't100'..'t119' (and the marker 't1000000000') are between
        // 't100' and 't119'; 't20'..'t59' are not.
        let filter =
            format!("trace BETWEEN 't100' AND 't119' OR trace IN ('t45', 't47', 't{MARKER}')");
        conn.create_view(view, topic, &filter)
            .await
            .expect("create view");
        set_group_configs(s.addr, group, &[]);
        let mut sent = BTreeMap::new();
        for batch in [100..120, 20..40, 40..60] {
            sent.extend(produce(&mut conn, topic, 1, batch).await);
        }
        let want: BTreeSet<At> = sent
            .iter()
            .filter(|(_, i)| (100..120).contains(*i) || [45, 47].contains(*i))
            .map(|(at, _)| *at)
            .collect();
        let mut c0 = Member::join(
            s.addr,
            "c0",
            group,
            view,
            AcknowledgementMode::Implicit,
            None,
        )
        .await;
        c0.poll_until(ARRIVE_WAIT, |m| m.distinct().len() >= want.len())
            .await;
        c0.poll_for(QUIET).await;
        c0.commit().await;
        c0.close().await;
        let got = c0.distinct();
        report.check(
            "view: exactly the matching records, at the source's offsets",
            got == want,
            || format!("want {want:?}, got {got:?}"),
        );
        let damaged: Vec<String> = c0
            .got
            .iter()
            .filter(|d| !intact(&d.record.record, sent.get(&d.at).copied().unwrap_or(-1)))
            .map(|d| format!("{:?}", d.record))
            .collect();
        report.check("view: records intact", damaged.is_empty(), || {
            damaged.join("; ")
        });
        check_no_problems(&mut report, "view", &c0);
        let marker = produce(&mut conn, topic, 1, [MARKER]).await;
        let marker_at = *marker.keys().next().expect("the marker's offset");
        let mut v = Member::join(
            s.addr,
            "verify",
            group,
            view,
            AcknowledgementMode::Implicit,
            None,
        )
        .await;
        let seen = v
            .poll_until(ARRIVE_WAIT, |m| m.distinct().contains(&marker_at))
            .await;
        v.poll_for(QUIET).await;
        v.close().await;
        let again: Vec<At> = v
            .distinct()
            .into_iter()
            .filter(|at| *at != marker_at)
            .collect();
        report.check(
            "view: a new member gets only the later matching record",
            seen && again.is_empty(),
            || format!("again {again:?}; marker {marker_at:?} seen: {seen}"),
        );
        check_no_problems(&mut report, "view verify", &v);
    });
    report.finish(&[]);
}

/// KIP-1206: one 10-record batch and `max_records` 3. batch_optimized (Kafka's default and
/// ShareFetch v1's behaviour) acquires the whole batch, so no record is sent unacquired and
/// sent again by the next answer; record_limit acquires exactly 3, then the next 3.
fn acquire_modes_batch_optimized_and_record_limit(io: IoKind) {
    let s = Setup::start(io);
    let mut report = Report::default();
    client(io, async || {
        let mut conn = Connection::connect(s.addr).await.expect("connect");
        for (topic, record_limit) in [
            ("share-batch-optimized", false),
            ("share-record-limit", true),
        ] {
            conn.create_topics(&[(topic, 1)])
                .await
                .expect("create topic");
            let group = format!("g-{topic}");
            set_group_configs(s.addr, &group, &[]);
            produce(&mut conn, topic, 1, 0..10).await;
            let mut config = ShareConsumerConfig::new(&group, &[topic]);
            config.max_wait = POLL_WAIT;
            config.max_records = 3;
            config.record_limit = record_limit;
            let mut c = ShareConsumer::join(s.addr, config)
                .await
                .unwrap_or_else(|e| panic!("join {group}: {e}"));
            c.wait_for_assignment(ASSIGN_WAIT)
                .await
                .unwrap_or_else(|e| panic!("{group}: {e}"));
            let mut polls: Vec<Vec<i64>> = Vec::new();
            let deadline = Instant::now() + ARRIVE_WAIT;
            while polls.iter().map(Vec::len).sum::<usize>() < 10 && Instant::now() < deadline {
                let polled = c
                    .poll()
                    .await
                    .unwrap_or_else(|e| panic!("poll {group}: {e}"));
                if !polled.records.is_empty() {
                    polls.push(polled.records.iter().map(|r| r.record.offset).collect());
                }
            }
            c.close()
                .await
                .unwrap_or_else(|e| panic!("close {group}: {e}"));
            let want: Vec<Vec<i64>> = if record_limit {
                vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
            } else {
                vec![(0..10).collect()]
            };
            report.check(
                format!("{topic}: records per poll with max_records 3"),
                polls == want,
                || format!("{polls:?}"),
            );
        }
    });
    report.finish(&[]);
}
