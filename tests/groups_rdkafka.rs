//! Consumer groups with librdkafka (the `rdkafka` crate, BaseConsumer + subscribe) against a live
//! ringlog broker, on both drivers: three members split a six-partition topic; a member that
//! leaves and a member that stops heartbeating (a raw-protocol member that goes silent) both
//! cause a rebalance that leaves no partition unassigned; committed offsets resume after a broker
//! restart; with synchronous commits nothing committed is consumed twice. Loopback only; every
//! wait is bounded.

#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use ringlog::broker::group::admin::AdminClient as RinglogAdmin;
use ringlog::broker::Broker;
use ringlog::runtime::IoKind;

mod groups_common;
use groups_common::RawClient;

both_drivers!(
    three_members_share_six_partitions_through_leave_and_expiry,
    committed_offsets_resume_after_a_restart,
    sync_commits_mean_nothing_committed_is_consumed_twice,
);

const WAIT_MAX: Duration = Duration::from_secs(90);
const SESSION_TIMEOUT_MS: &str = "6000";

fn start(io: IoKind, dir: &std::path::Path) -> Broker {
    support::start_broker(io, dir, 2, |_| {})
}

fn client(broker: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.local_addr().to_string())
        .set("socket.timeout.ms", "10000")
        .set("log_level", "3");
    c
}

fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client(broker).create().expect("admin");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in futures_executor::block_on(admin.create_topics([&topic], &opts)).expect("create") {
        r.expect("topic created");
    }
}

fn produce(broker: &Broker, topic: &str, partitions: i32, per_partition: usize) {
    let p: BaseProducer = client(broker)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for part in 0..partitions {
        for i in 0..per_partition {
            let value = format!("p{part}-{i}");
            let mut rec = Some(
                BaseRecord::<str, str>::to(topic)
                    .partition(part)
                    .payload(&value),
            );
            while let Some(r) = rec.take() {
                if let Err((_, r)) = p.send(r) {
                    p.poll(Duration::from_millis(10));
                    rec = Some(r);
                }
            }
        }
    }
    p.flush(WAIT_MAX).expect("all acknowledged");
}

fn consumer(broker: &Broker, group: &str, topic: &str) -> BaseConsumer {
    let c: BaseConsumer = client(broker)
        .set("group.id", group)
        .set("session.timeout.ms", SESSION_TIMEOUT_MS)
        .set("heartbeat.interval.ms", "300")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

fn assigned(c: &BaseConsumer) -> BTreeSet<i32> {
    c.assignment()
        .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// Poll every consumer until `done` holds for their assignments (each poll drives rebalances).
fn poll_until(consumers: &[&BaseConsumer], what: &str, done: impl Fn(&[BTreeSet<i32>]) -> bool) {
    let deadline = Instant::now() + WAIT_MAX;
    loop {
        for c in consumers {
            // Messages are not the point here; polling serves rebalance callbacks.
            let _ = c.poll(Duration::from_millis(20));
        }
        let sets: Vec<BTreeSet<i32>> = consumers.iter().map(|c| assigned(c)).collect();
        if done(&sets) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: assignments stuck at {sets:?}"
        );
    }
}

/// Every partition in 0..n assigned to exactly one consumer, and every consumer has one.
fn exact_cover(sets: &[BTreeSet<i32>], n: i32) -> bool {
    let total: usize = sets.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
    total == n as usize && union == (0..n).collect() && sets.iter().all(|s| !s.is_empty())
}

fn three_members_share_six_partitions_through_leave_and_expiry(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    create_topic(&broker, "six", 6);
    produce(&broker, "six", 6, 5);

    let (a, b, c) = (
        consumer(&broker, "g3", "six"),
        consumer(&broker, "g3", "six"),
        consumer(&broker, "g3", "six"),
    );
    poll_until(&[&a, &b, &c], "three members", |s| {
        exact_cover(s, 6) && s.iter().all(|p| p.len() == 2)
    });
    let addr = broker.local_addr().to_string();
    let d = RinglogAdmin::connect(&addr)
        .unwrap()
        .describe_group("g3")
        .unwrap();
    assert_eq!(d.state, "Stable");
    assert_eq!(d.members.len(), 3);

    // A member leaves (unsubscribe sends LeaveGroup): the other two take over everything.
    c.unsubscribe();
    poll_until(&[&a, &b], "after a leave", |s| exact_cover(s, 6));
    drop(c);

    // A member that joins, takes its partitions, then goes silent (no heartbeats, no leave):
    // expired after its session timeout, and its partitions move back.
    let silent = std::thread::spawn({
        let addr = addr.clone();
        move || {
            let mut raw = RawClient::connect(&addr);
            raw.join_and_sync_consumer("g3", "six", 6000)
        }
    });
    let deadline = Instant::now() + WAIT_MAX;
    while !silent.is_finished() {
        let _ = a.poll(Duration::from_millis(20));
        let _ = b.poll(Duration::from_millis(20));
        assert!(
            Instant::now() < deadline,
            "the raw member never got through sync"
        );
    }
    let (silent_member, silent_parts) = silent.join().unwrap();
    assert!(
        !silent_parts.is_empty(),
        "range gives the third member partitions"
    );
    poll_until(&[&a, &b], "with the silent member", |s| {
        let mine: BTreeSet<i32> = s.iter().flatten().copied().collect();
        let theirs: BTreeSet<i32> = silent_parts.iter().copied().collect();
        mine.is_disjoint(&theirs) && mine.len() + theirs.len() == 6
    });
    let went_silent = Instant::now();
    poll_until(&[&a, &b], "after the silent member expired", |s| {
        exact_cover(s, 6)
    });
    let waited = went_silent.elapsed();
    assert!(
        waited >= Duration::from_millis(4000),
        "partitions moved after {waited:?}, before the 6 s session timeout could expire"
    );
    let d = RinglogAdmin::connect(&addr)
        .unwrap()
        .describe_group("g3")
        .unwrap();
    assert!(d.members.iter().all(|m| m.0 != silent_member));
    drop((a, b));
    broker.shutdown();
    broker.join().unwrap();
}

/// Consume up to `n` records, committing each synchronously; returns (partition, offset, value).
fn consume_committing(c: &BaseConsumer, n: usize) -> Vec<(i32, i64, String)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT_MAX;
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "consumed only {} of {n}",
            out.len()
        );
        match c.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => panic!("consumer error: {e}"),
            Some(Ok(m)) => {
                c.commit_message(&m, CommitMode::Sync).expect("commit");
                let v = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
                out.push((m.partition(), m.offset(), v));
            }
        }
    }
    out
}

fn committed_offsets_resume_after_a_restart(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    create_topic(&broker, "resume", 2);
    produce(&broker, "resume", 2, 50);
    let first = {
        let c = consumer(&broker, "rg", "resume");
        let got = consume_committing(&c, 40);
        c.unsubscribe();
        got
    };
    broker.shutdown();
    broker.join().unwrap();

    let broker = start(io, dir.path());
    let c = consumer(&broker, "rg", "resume");
    let second = consume_committing(&c, 60);
    let mut seen = HashSet::new();
    for (p, o, _) in first.iter().chain(&second) {
        assert!(
            seen.insert((*p, *o)),
            "{p}/{o} consumed twice across the restart"
        );
    }
    assert_eq!(seen.len(), 100);
    // Where the second consumer started is exactly where the first left off.
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o, _) in &first {
        next.insert(*p, o + 1);
    }
    for (p, o, _) in &second {
        let start = *next.get(p).unwrap_or(&0);
        assert!(
            *o >= start,
            "partition {p} rewound to {o} (committed {start})"
        );
    }
    drop(c);
    broker.shutdown();
    broker.join().unwrap();
}

fn sync_commits_mean_nothing_committed_is_consumed_twice(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    create_topic(&broker, "once", 6);
    produce(&broker, "once", 6, 40);
    let total = 240;
    let a = consumer(&broker, "og", "once");
    let mut committed: HashSet<(i32, i64)> = HashSet::new();
    let mut all: HashSet<(i32, i64)> = HashSet::new();
    let mut b: Option<BaseConsumer> = None;
    let deadline = Instant::now() + WAIT_MAX;
    while all.len() < total {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {total}",
            all.len()
        );
        // A second member joins part-way: a rebalance in the middle of consumption.
        if b.is_none() && all.len() >= 60 {
            b = Some(consumer(&broker, "og", "once"));
        }
        for c in std::iter::once(&a).chain(b.as_ref()) {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(20)) {
                let key = (m.partition(), m.offset());
                all.insert(key);
                if c.commit_message(&m, CommitMode::Sync).is_ok() {
                    assert!(
                        committed.insert(key),
                        "{key:?} was consumed again after its commit succeeded"
                    );
                }
            }
        }
    }
    drop((a, b));
    broker.shutdown();
    broker.join().unwrap();
}
