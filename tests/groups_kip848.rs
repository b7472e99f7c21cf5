//! KIP-848 consumer groups (`group.protocol=consumer`: ConsumerGroupHeartbeat, the broker's
//! assignor, incremental reconciliation) with librdkafka 2.12 through the `rdkafka` crate, against
//! a live ringlog broker on both drivers:
//! - three members split a six-partition topic, each partition owned by exactly one member once
//!   stable; a member that closes hands its partitions to the other two, which keep theirs and are
//!   never asked to give anything up, and no partition is ever owned by two members at once;
//! - records are each consumed once with synchronous commits, a partition that moved resumes at
//!   its committed offset, and the committed offsets librdkafka reads back are the ones ringlog's
//!   group admin reads;
//! - a member that stops polling leaves after its `max.poll.interval.ms` (librdkafka's doing),
//!   its partitions move the same way, and it rejoins when it polls again;
//! - ConsumerGroupDescribe (raw protocol: the `rdkafka` crate has no describe_consumer_groups)
//!   shows the group, its members, their epochs and their assignments as the clients hold them,
//!   refuses unknown and classic groups, and still describes a group whose members all left.
//!
//! Every scenario was also run against a Kafka 4.4 broker (with the ringlog-admin check left
//! out) and passed there.
//!
//! What "owned" means here: a member owns a partition from the end of the assign callback that
//! gave it (librdkafka's incremental_assign has run) to the start of the revoke callback that
//! takes it (before incremental_unassign, when an application would commit and stop), or until
//! the test stops polling it. Every member is polled from the test's thread and callbacks run
//! inside `poll`, so one shared log holds all callbacks in the order they ran. A broker that
//! gave a partition to a new owner before telling the old one to let go shows as an assign
//! callback before the old owner's revoke callback, since the old owner hears of it at its next
//! heartbeat, seconds later; a broker that told both at once would be seen only when the new
//! owner happened to be polled first. The members' `assignment()` sets, read after every round,
//! must agree with the log and be disjoint.
//!
//! Not covered: a member that stops heartbeating (a hung process). ringlog expires KIP-848
//! members after Kafka's `group.consumer.session.timeout.ms` default, 45 s
//! (`group::consumer::SESSION_TIMEOUT_MS`, not a setting; the client's `session.timeout.ms` does
//! not apply to this protocol), too long for a test run; the state machine's unit tests cover
//! the expiry.
//!
//! Loopback only; every wait is bounded.

#[macro_use]
mod support;
mod delay_common;
mod groups_common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use ringlog::broker::group::admin::AdminClient as RinglogAdmin;
use ringlog::broker::Broker;
use ringlog::runtime::IoKind;

use delay_common::Kind;
use groups_common::{gid, RawClient};

both_drivers!(
    three_members_split_six_partitions_and_a_closing_member_hands_its_own_over,
    records_are_consumed_once_and_committed_offsets_match,
    a_member_that_stops_polling_loses_its_partitions_and_rejoins,
    consumer_group_describe_answers_unknown_and_classic_groups,
    a_group_whose_members_all_left_is_described_empty,
);

/// Longest any one wait (a rebalance, a consume, a close) may take. KIP-848 members learn of a
/// change at their next heartbeat, every 5 s (ringlog's and Kafka's
/// `group.consumer.heartbeat.interval.ms`), and a partition moves in two of them (its owner
/// releases it, then the new owner is given it).
const WAIT_MAX: Duration = Duration::from_secs(90);
/// How long each member's `poll` may block in a round.
const POLL: Duration = Duration::from_millis(20);
/// Partitions of the test topics.
const PARTITIONS: i32 = 6;
/// Kafka's error code GROUP_ID_NOT_FOUND.
const GROUP_ID_NOT_FOUND: i16 = 69;
/// ConsumerGroupDescribe's `member_type` for a member of the consumer protocol (v1+).
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn start(io: IoKind, dir: &std::path::Path) -> Broker {
    support::start_broker(io, dir, 2, |_| {})
}

// ---------------------------------------------------------------------------------------------
// Members and their rebalance callbacks.

/// What one rebalance callback did.
#[derive(Clone, Debug, PartialEq)]
enum Change {
    /// Assign callback, after the partitions were added.
    Assigned(BTreeSet<i32>),
    /// Revoke callback, before the partitions are taken away.
    Revoked(BTreeSet<i32>),
    /// Revoke callback for partitions librdkafka says were lost (fenced or expired member).
    Lost(BTreeSet<i32>),
    /// The rebalance callback reported an error.
    Failed(String),
    /// Not a callback: the test stopped polling the member here. It processes nothing from
    /// now on, so it owns nothing; the lost-partitions callback it gets when it polls again
    /// must name what it held.
    Stalled,
}

/// Every member's callbacks, in the order they ran: (member, change).
type Log = Arc<Mutex<Vec<(usize, Change)>>>;

/// A member's context: files its rebalance callbacks in the shared log.
struct Recorder {
    member: usize,
    log: Log,
}

impl Recorder {
    fn file(&self, change: Change) {
        self.log.lock().unwrap().push((self.member, change));
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> BTreeSet<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) if c.assignment_lost() => {
                self.file(Change::Lost(partitions_of(tpl)))
            }
            Rebalance::Revoke(tpl) => self.file(Change::Revoked(partitions_of(tpl))),
            Rebalance::Error(e) => self.file(Change::Failed(e.to_string())),
            Rebalance::Assign(_) => {}
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.file(Change::Assigned(partitions_of(tpl)));
        }
    }
}

type Member = BaseConsumer<Recorder>;

/// The client id member `i` sends, which ConsumerGroupDescribe reports back.
fn client_id(i: usize) -> String {
    format!("kip848-member-{i}")
}

/// Member `i` of `group`, subscribed to `topic` with the consumer protocol; `edit` adjusts the
/// rest of its configuration.
fn member(
    addr: &str,
    group: &str,
    topic: &str,
    i: usize,
    log: &Log,
    edit: &dyn Fn(&mut ClientConfig),
) -> Member {
    let mut config = delay_common::client(addr);
    config
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("client.id", client_id(i))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    edit(&mut config);
    let c: Member = config
        .create_with_context(Recorder {
            member: i,
            log: log.clone(),
        })
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

/// The members still open, by index (closed ones are `None`).
struct Group {
    topic: String,
    members: Vec<Option<Member>>,
    /// The member being closed: librdkafka answers its `assignment()` with an error ("broker
    /// handle destroyed for termination"), so only its callbacks tell what it owns.
    closing: Option<usize>,
    /// A member the rounds do not poll. Its `assignment()` still lists what it was given until
    /// its lost-partitions callback ran, after it polls again; until then only the callbacks
    /// tell what it owns (nothing).
    stalled: Option<usize>,
    log: Log,
}

impl Group {
    fn join(addr: &str, group: &str, topic: &str, n: usize) -> Group {
        Group::join_with(addr, group, topic, n, &|_| {})
    }

    fn join_with(
        addr: &str,
        group: &str,
        topic: &str,
        n: usize,
        edit: &dyn Fn(&mut ClientConfig),
    ) -> Group {
        let log = Log::default();
        let members = (0..n)
            .map(|i| Some(member(addr, group, topic, i, &log, edit)))
            .collect();
        Group {
            topic: topic.to_string(),
            members,
            closing: None,
            stalled: None,
            log,
        }
    }

    /// Each open member's assignment, by index, but those of the closing member and of a
    /// stalled member whose lost-partitions callback has not run yet.
    fn assignments(&self) -> BTreeMap<usize, BTreeSet<i32>> {
        let log = self.log.lock().unwrap().clone();
        let not_lost_yet = replay(&log).map(|r| r.not_lost_yet).unwrap_or_default();
        self.members
            .iter()
            .enumerate()
            .filter(|(i, _)| self.closing != Some(*i) && !not_lost_yet.contains(i))
            .filter_map(|(i, m)| m.as_ref().map(|m| (i, assigned(m, &self.topic))))
            .collect()
    }

    /// One poll of every open member but a stalled one; `on_message` sees (member, record) for
    /// each record.
    fn round(&self, on_message: &mut dyn FnMut(usize, &Member, &BorrowedMessage<'_>)) {
        for (i, m) in self.members.iter().enumerate() {
            let Some(m) = m else { continue };
            if self.stalled == Some(i) {
                continue;
            }
            match m.poll(POLL) {
                None => {}
                // A member that was stalled hears first that it overran max.poll.interval.ms.
                Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::PollExceeded)))
                    if self.was_stalled(i) => {}
                Some(Err(e)) => panic!("member {i}: consumer error: {e}"),
                Some(Ok(record)) => on_message(i, m, &record),
            }
        }
        self.check_ownership();
    }

    fn was_stalled(&self, i: usize) -> bool {
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|(m, c)| *m == i && *c == Change::Stalled)
    }

    /// The callbacks so far replay without a partition owned twice, and what they say each
    /// member owns is what its `assignment()` says.
    fn check_ownership(&self) {
        let log = self.log.lock().unwrap().clone();
        let owned = replay(&log)
            .unwrap_or_else(|e| panic!("{e}\ncallbacks in order: {log:#?}"))
            .owned;
        let sets = self.assignments();
        for (i, set) in &sets {
            let from_log = owned.get(i).cloned().unwrap_or_default();
            assert_eq!(
                &from_log, set,
                "member {i}: the callbacks say it owns {from_log:?}, assignment() says {set:?}\n\
                 callbacks in order: {log:#?}"
            );
        }
        let mut seen = BTreeMap::new();
        for (i, set) in &sets {
            for p in set {
                if let Some(j) = seen.insert(*p, *i) {
                    panic!("partition {p} in the assignments of members {j} and {i}: {sets:?}");
                }
            }
        }
    }

    /// Rounds until `done` holds for the open members' assignments.
    fn settle(&self, what: &str, done: impl Fn(&BTreeMap<usize, BTreeSet<i32>>) -> bool) {
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            self.round(&mut |i, _, m| {
                panic!(
                    "member {i}: unexpected record {}/{}",
                    m.partition(),
                    m.offset()
                )
            });
            let sets = self.assignments();
            if done(&sets) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: assignments stuck at {sets:?}"
            );
        }
    }

    /// Closes member `i` (its revoke callback runs, then it leaves the group), polling the others
    /// meanwhile, all within [`WAIT_MAX`]; its callbacks must leave it owning nothing.
    fn close(&mut self, i: usize) {
        self.members[i]
            .as_ref()
            .expect("open")
            .close_queue()
            .expect("close starts");
        self.closing = Some(i);
        let deadline = Instant::now() + WAIT_MAX;
        while !self.members[i].as_ref().expect("open").closed() {
            self.round(&mut |j, _, m| {
                panic!(
                    "member {j}: unexpected record {}/{}",
                    m.partition(),
                    m.offset()
                )
            });
            assert!(Instant::now() < deadline, "member {i} did not close");
        }
        // Closed: dropping it does not wait any more.
        self.members[i] = None;
        self.closing = None;
        let log = self.log.lock().unwrap().clone();
        let owned = replay(&log).expect("checked by the rounds").owned;
        assert!(
            owned.get(&i).is_none_or(BTreeSet::is_empty),
            "member {i} closed still owning {:?}",
            owned[&i]
        );
    }

    /// Stops polling member `i`: from here on it processes nothing, so it owns nothing.
    fn stall(&mut self, i: usize) {
        self.log.lock().unwrap().push((i, Change::Stalled));
        self.stalled = Some(i);
    }

    /// Polls the stalled member again.
    fn resume(&mut self) {
        self.stalled = None;
    }

    /// Closes every open member.
    fn close_all(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].is_some() {
                self.close(i);
            }
        }
    }
}

impl Drop for Group {
    /// A test that failed half-way drops its members still open. librdkafka's drop waits for the
    /// close without a bound, so each gets [`WAIT_MAX`] to close here, or is leaked.
    fn drop(&mut self) {
        for c in self.members.iter_mut().filter_map(Option::take) {
            let _ = c.close_queue();
            let deadline = Instant::now() + WAIT_MAX;
            while !c.closed() && Instant::now() < deadline {
                let _ = c.poll(POLL);
            }
            if !c.closed() {
                std::mem::forget(c);
            }
        }
    }
}

fn assigned(c: &Member, topic: &str) -> BTreeSet<i32> {
    c.assignment()
        .expect("assignment")
        .elements()
        .iter()
        .filter(|e| e.topic() == topic)
        .map(|e| e.partition())
        .collect()
}

/// Replays the callbacks: a partition is owned from its assign callback to its revoke callback,
/// or until the test stalled its member. Fails on a partition assigned while another member (or
/// the same one) owns it, a revoke of a partition the member does not own, lost partitions other
/// than a stalled member's, and callback errors. Returns what each member owns at the end.
fn replay(log: &[(usize, Change)]) -> Result<Replayed, String> {
    let mut owner: BTreeMap<i32, usize> = BTreeMap::new();
    // What each stalled member held when it stalled, until its lost-partitions callback.
    let mut held_when_stalled: BTreeMap<usize, BTreeSet<i32>> = BTreeMap::new();
    for (n, (member, change)) in log.iter().enumerate() {
        match change {
            Change::Assigned(ps) => {
                for p in ps {
                    if let Some(old) = owner.insert(*p, *member) {
                        return Err(format!(
                            "callback {n}: partition {p} assigned to member {member} while member \
                             {old} still owned it (its revoke callback had not run)"
                        ));
                    }
                }
            }
            Change::Revoked(ps) => {
                for p in ps {
                    if owner.get(p) != Some(member) {
                        return Err(format!(
                            "callback {n}: member {member} revoked partition {p}, owned by {:?}",
                            owner.get(p)
                        ));
                    }
                    owner.remove(p);
                }
            }
            Change::Stalled => {
                let held: BTreeSet<i32> = owner
                    .iter()
                    .filter(|(_, m)| *m == member)
                    .map(|(p, _)| *p)
                    .collect();
                owner.retain(|_, m| m != member);
                held_when_stalled.insert(*member, held);
            }
            Change::Lost(ps) => {
                if held_when_stalled.remove(member).as_ref() != Some(ps) {
                    return Err(format!(
                        "callback {n}: member {member} lost {ps:?} (it was not stalled holding \
                         exactly those)"
                    ));
                }
            }
            Change::Failed(e) => {
                return Err(format!(
                    "callback {n}: member {member}: rebalance error {e}"
                ));
            }
        }
    }
    let mut owned: BTreeMap<usize, BTreeSet<i32>> = BTreeMap::new();
    for (p, m) in owner {
        owned.entry(m).or_default().insert(p);
    }
    Ok(Replayed {
        owned,
        not_lost_yet: held_when_stalled.into_keys().collect(),
    })
}

/// The replay, on logs written by hand: it is what fails the tests when a broker hands a
/// partition on too early, so it must be able to.
#[test]
fn replay_flags_what_two_members_own_at_once() {
    let set = |ps: &[i32]| ps.iter().copied().collect::<BTreeSet<i32>>();
    let handed_over = [
        (0, Change::Assigned(set(&[0, 1]))),
        (0, Change::Revoked(set(&[1]))),
        (1, Change::Assigned(set(&[1]))),
    ];
    let r = replay(&handed_over).expect("released, then given");
    assert_eq!(r.owned, BTreeMap::from([(0, set(&[0])), (1, set(&[1]))]));
    let too_early = [
        (0, Change::Assigned(set(&[0, 1]))),
        (1, Change::Assigned(set(&[1]))),
        (0, Change::Revoked(set(&[1]))),
    ];
    assert!(replay(&too_early).is_err());
    assert!(replay(&[(0, Change::Revoked(set(&[3])))]).is_err());
    assert!(replay(&[
        (0, Change::Assigned(set(&[2]))),
        (0, Change::Lost(set(&[2])))
    ])
    .is_err());
    let stalled = [
        (0, Change::Assigned(set(&[2]))),
        (0, Change::Stalled),
        (1, Change::Assigned(set(&[2]))),
    ];
    let r = replay(&stalled).expect("a stalled member owns nothing");
    assert_eq!(r.not_lost_yet, BTreeSet::from([0]));
    let mut lost = stalled.to_vec();
    lost.push((0, Change::Lost(set(&[2]))));
    assert!(replay(&lost)
        .expect("lost what it held")
        .not_lost_yet
        .is_empty());
    lost.push((0, Change::Lost(set(&[2]))));
    assert!(replay(&lost).is_err(), "lost twice");
}

/// Where [`replay`] ends.
struct Replayed {
    /// What each member owns.
    owned: BTreeMap<usize, BTreeSet<i32>>,
    /// Stalled members whose lost-partitions callback has not run yet.
    not_lost_yet: BTreeSet<usize>,
}

/// Every partition of the topic owned by exactly one open member, and `per_member` each.
fn split_evenly(sets: &BTreeMap<usize, BTreeSet<i32>>, per_member: usize) -> bool {
    let union: BTreeSet<i32> = sets.values().flatten().copied().collect();
    union == (0..PARTITIONS).collect() && sets.values().all(|s| s.len() == per_member)
}

// ---------------------------------------------------------------------------------------------
// ConsumerGroupDescribe through the raw protocol.

fn describe(addr: &str, group: &str, version: i16) -> DescribedGroup {
    let mut raw = RawClient::connect(addr);
    let resp: ConsumerGroupDescribeResponse = raw.call(
        ApiKey::ConsumerGroupDescribe,
        version,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![gid(group)]),
    );
    assert_eq!(resp.groups.len(), 1, "one group asked for: {resp:?}");
    resp.groups.into_iter().next().unwrap()
}

/// The group described at v0 and v1 is Stable with exactly these members (by client id), each
/// at the assignment epoch, holding its target assignment, which is `expected`.
fn check_described(
    addr: &str,
    group: &str,
    topic: &str,
    expected: &BTreeMap<String, BTreeSet<i32>>,
) {
    for version in [0, 1] {
        let g = describe(addr, group, version);
        let ctx = format!("ConsumerGroupDescribe v{version} of {group}: {g:#?}");
        assert_eq!(g.error_code, 0, "{ctx}");
        assert_eq!(g.group_id.0.as_str(), group, "{ctx}");
        assert_eq!(g.group_state.as_str(), "Stable", "{ctx}");
        assert_eq!(g.assignment_epoch, g.group_epoch, "{ctx}");
        assert_eq!(g.assignor_name.as_str(), "uniform", "{ctx}");
        let mut seen = BTreeMap::new();
        let mut ids = HashSet::new();
        for m in &g.members {
            assert!(
                !m.member_id.is_empty() && ids.insert(m.member_id.clone()),
                "{ctx}"
            );
            assert_eq!(m.member_epoch, g.assignment_epoch, "{ctx}");
            // The member's address as Kafka shows it (the clients connect over loopback).
            assert_eq!(m.client_host.as_str(), "/127.0.0.1", "{ctx}");
            let names: Vec<&str> = m
                .subscribed_topic_names
                .iter()
                .map(|t| t.0.as_str())
                .collect();
            assert_eq!(names, [topic], "{ctx}");
            assert_eq!(m.assignment, m.target_assignment, "{ctx}");
            let mut parts = BTreeSet::new();
            for t in &m.assignment.topic_partitions {
                assert_eq!(t.topic_name.0.as_str(), topic, "{ctx}");
                assert!(!t.topic_id.is_nil(), "{ctx}");
                parts.extend(t.partitions.iter().copied());
            }
            if version >= 1 {
                assert_eq!(m.member_type, MEMBER_TYPE_CONSUMER, "{ctx}");
            }
            seen.insert(m.client_id.to_string(), parts);
        }
        assert_eq!(&seen, expected, "{ctx}");
    }
}

/// The members' assignments by client id, as ConsumerGroupDescribe names them.
fn by_client_id(sets: &BTreeMap<usize, BTreeSet<i32>>) -> BTreeMap<String, BTreeSet<i32>> {
    sets.iter()
        .map(|(i, s)| (client_id(*i), s.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// (a) + (d): three members, then one closes.

fn three_members_split_six_partitions_and_a_closing_member_hands_its_own_over(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let addr = broker.local_addr().to_string();
    split_and_hand_over(&addr, "kip848-split", "kip848-six");
    broker.shutdown();
    broker.join().unwrap();
}

fn split_and_hand_over(addr: &str, group: &str, topic: &str) {
    delay_common::create_topics(addr, &[(topic, PARTITIONS, false)]);
    let mut g = Group::join(addr, group, topic, 3);
    g.settle("three members", |s| split_evenly(s, 2));
    let three = g.assignments();
    check_described(addr, group, topic, &by_client_id(&three));

    // Member 2 closes: its two partitions go to the others, which keep their own throughout.
    let before_close = g.log.lock().unwrap().len();
    g.close(2);
    g.settle("after member 2 closed", |s| split_evenly(s, 3));
    let two = g.assignments();
    check_hand_over(&g, before_close, &three, 2);
    check_described(addr, group, topic, &by_client_id(&two));

    g.close_all();
}

/// After member `gone` left the group (callbacks from index `from` on): the members that stay
/// kept what they had (`before`) and were never asked to give anything up (no stop-the-world),
/// and exactly `gone`'s partitions moved to them.
fn check_hand_over(g: &Group, from: usize, before: &BTreeMap<usize, BTreeSet<i32>>, gone: usize) {
    let after = g.assignments();
    for (i, had) in before.iter().filter(|(i, _)| **i != gone) {
        assert!(
            had.is_subset(&after[i]),
            "member {i} lost partitions it kept a right to: {had:?} then {:?}",
            after[i]
        );
    }
    let log = g.log.lock().unwrap().clone();
    let taken_from_stayers: Vec<&(usize, Change)> = log[from..]
        .iter()
        .filter(|(m, c)| *m != gone && !matches!(c, Change::Assigned(_)))
        .collect();
    assert!(
        taken_from_stayers.is_empty(),
        "the members that stay are never asked to give anything up, got {taken_from_stayers:?}"
    );
    let moved: BTreeSet<i32> = log[from..]
        .iter()
        .filter_map(|(m, c)| match c {
            Change::Assigned(ps) if *m != gone => Some(ps.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        moved, before[&gone],
        "exactly member {gone}'s partitions moved"
    );
}

// ---------------------------------------------------------------------------------------------
// (c): a member that stops polling.

/// librdkafka's `max.poll.interval.ms` in the stalled-member test: a member that has not polled
/// for this long leaves the group (a heartbeat with epoch -1, without revoking first). Short,
/// so that the test is quick; far longer than a round of polls of the other members.
const MAX_POLL_INTERVAL_MS: u64 = 6_000;

fn a_member_that_stops_polling_loses_its_partitions_and_rejoins(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let addr = broker.local_addr().to_string();
    stall_and_resume(&addr, "kip848-stall", "kip848-stall");
    broker.shutdown();
    broker.join().unwrap();
}

/// Member 2 stops polling: after `max.poll.interval.ms` librdkafka takes it out of the group,
/// and its partitions go to the others, which keep their own. When it polls again it hears of
/// the overrun, gets its partitions' lost callback, rejoins, and the three split the topic
/// again.
fn stall_and_resume(addr: &str, group: &str, topic: &str) {
    delay_common::create_topics(addr, &[(topic, PARTITIONS, false)]);
    let mut g = Group::join_with(addr, group, topic, 3, &|c| {
        c.set("max.poll.interval.ms", MAX_POLL_INTERVAL_MS.to_string());
    });
    g.settle("three members", |s| split_evenly(s, 2));
    let three = g.assignments();

    let before_stall = g.log.lock().unwrap().len();
    g.stall(2);
    let stalled_at = Instant::now();
    g.settle("after member 2 stalled", |s| split_evenly(s, 3));
    let waited = stalled_at.elapsed();
    assert!(
        waited >= Duration::from_millis(MAX_POLL_INTERVAL_MS),
        "member 2's partitions moved {waited:?} after it stopped polling, before it overran \
         max.poll.interval.ms ({MAX_POLL_INTERVAL_MS} ms) and left"
    );
    check_hand_over(&g, before_stall, &three, 2);
    check_described(addr, group, topic, &by_client_id(&g.assignments()));

    g.resume();
    g.settle("after member 2 polled again", |s| {
        s.len() == 3 && split_evenly(s, 2)
    });
    let log = g.log.lock().unwrap().clone();
    assert!(
        log[before_stall..].contains(&(2, Change::Lost(three[&2].clone()))),
        "member 2 was told it lost {:?}: {log:?}",
        three[&2]
    );
    check_described(addr, group, topic, &by_client_id(&g.assignments()));
    g.close_all();
}

// ---------------------------------------------------------------------------------------------
// (b): each record consumed once, commits and committed offsets.

/// Produces `per_partition` records to each partition; returns (partition, offset) -> value
/// from the delivery reports.
fn produce(
    addr: &str,
    topic: &str,
    round: usize,
    per_partition: usize,
) -> HashMap<(i32, i64), String> {
    let p = delay_common::producer(addr, |_| {});
    let mut sent = Vec::new();
    let mut partition_of = Vec::new();
    for part in 0..PARTITIONS {
        for i in 0..per_partition {
            let id = format!("r{round}-p{part}-{i}");
            delay_common::send(&p, &mut sent, topic, Some(part), id, Kind::Now, Vec::new());
            partition_of.push(part);
        }
    }
    p.flush(WAIT_MAX).expect("every record acknowledged");
    let acks = p.context().0.lock().unwrap();
    sent.iter()
        .zip(partition_of)
        .enumerate()
        .map(|(index, (s, part))| match &acks[&index].outcome {
            Ok(offset) => ((part, *offset), s.id.clone()),
            Err(e) => panic!("{} not acknowledged: {e}", s.id),
        })
        .collect()
}

/// Consumes until every record of `want` is in, committing each synchronously by the member that
/// read it, a member that owns its partition; then [`delay_common::QUIET`] more rounds, to
/// catch doubles.
/// Returns (partition, offset) -> member for what was consumed.
fn consume_committing(
    g: &Group,
    want: &HashMap<(i32, i64), String>,
) -> BTreeMap<(i32, i64), usize> {
    let mut got: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let deadline = Instant::now() + WAIT_MAX;
    let mut quiet_until = None;
    while quiet_until.is_none_or(|q| Instant::now() < q) {
        g.round(&mut |i, c, m| {
            let key = (m.partition(), m.offset());
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            assert_eq!(want.get(&key), Some(&value), "member {i} read {key:?}");
            assert!(
                assigned(c, &g.topic).contains(&key.0),
                "member {i} read {key:?} from a partition it does not own"
            );
            if let Some(first) = got.insert(key, i) {
                panic!("{key:?} consumed twice: by member {first}, then by member {i}");
            }
            c.commit_message(m, CommitMode::Sync)
                .unwrap_or_else(|e| panic!("member {i}: commit of {key:?}: {e}"));
        });
        if quiet_until.is_none() && got.len() == want.len() {
            quiet_until = Some(Instant::now() + delay_common::QUIET);
        }
        assert!(
            Instant::now() < deadline,
            "consumed {} of {} records",
            got.len(),
            want.len()
        );
    }
    got
}

/// The committed offset of every partition as a member reads it (librdkafka's OffsetFetch,
/// including partitions the member does not own).
fn committed_by_librdkafka(c: &Member, topic: &str) -> BTreeMap<i32, i64> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    c.committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets")
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => (e.partition(), o),
            other => panic!("partition {}: committed {other:?}", e.partition()),
        })
        .collect()
}

/// The committed offsets and high watermarks of `topic` as ringlog's group admin reads them.
fn committed_by_ringlog(addr: &str, group: &str, topic: &str) -> BTreeMap<i32, (i64, i64)> {
    let d = RinglogAdmin::connect(addr)
        .unwrap()
        .describe_group(group)
        .unwrap_or_else(|e| panic!("ringlog admin describe {group}: {e}"));
    d.offsets
        .iter()
        .filter(|o| o.0 == topic)
        .map(|o| (o.1, (o.2, o.3)))
        .collect()
}

fn records_are_consumed_once_and_committed_offsets_match(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let addr = broker.local_addr().to_string();
    let (group, topic) = ("kip848-once", "kip848-once");
    let ends = consume_once_and_commit(&addr, group, topic);
    // ringlog's admin reads the same committed offsets, at the log end.
    let by_ringlog = committed_by_ringlog(&addr, group, topic);
    let want: BTreeMap<i32, (i64, i64)> = ends.iter().map(|(p, o)| (*p, (*o, *o))).collect();
    assert_eq!(
        by_ringlog, want,
        "ringlog admin: partition -> (committed, high watermark)"
    );
    broker.shutdown();
    broker.join().unwrap();
}

/// Three members consume a first round of records, member 2 closes, the other two consume a
/// second round (member 2's partitions from where it committed); returns the committed offsets
/// librdkafka read at the end, which are the log ends.
fn consume_once_and_commit(addr: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    const FIRST: usize = 40;
    const SECOND: usize = 20;
    delay_common::create_topics(addr, &[(topic, PARTITIONS, false)]);
    let mut g = Group::join(addr, group, topic, 3);
    // Stable before records arrive: no member's epoch moves while it commits.
    g.settle("three members", |s| split_evenly(s, 2));
    let three = g.assignments();

    let first = produce(addr, topic, 1, FIRST);
    let got = consume_committing(&g, &first);
    for ((p, _), i) in &got {
        assert!(
            three[i].contains(p),
            "member {i} read partition {p}, not its own"
        );
    }
    let ends: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, FIRST as i64)).collect();
    for i in 0..3 {
        let c = g.members[i].as_ref().unwrap();
        assert_eq!(
            committed_by_librdkafka(c, topic),
            ends,
            "member {i} reads the commits"
        );
    }

    g.close(2);
    g.settle("after member 2 closed", |s| split_evenly(s, 3));
    let second = produce(addr, topic, 2, SECOND);
    // The moved partitions resume where member 2 committed: nothing of the first round again
    // (consume_committing fails on a record it was not waiting for), nothing of the second
    // skipped.
    let got = consume_committing(&g, &second);
    let two = g.assignments();
    for ((p, _), i) in &got {
        assert!(
            two[i].contains(p),
            "member {i} read partition {p}, not its own"
        );
    }
    let ends: BTreeMap<i32, i64> = (0..PARTITIONS)
        .map(|p| (p, (FIRST + SECOND) as i64))
        .collect();
    for i in [0, 1] {
        let c = g.members[i].as_ref().unwrap();
        assert_eq!(
            committed_by_librdkafka(c, topic),
            ends,
            "member {i} reads the commits"
        );
    }
    g.close_all();
    ends
}

// ---------------------------------------------------------------------------------------------
// (d), the refusals.

fn consumer_group_describe_answers_unknown_and_classic_groups(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let addr = broker.local_addr().to_string();
    describe_unknown_and_classic(&addr);
    broker.shutdown();
    broker.join().unwrap();
}

/// A group nobody heard of, and a classic group with a member (one JoinGroup), are both
/// GROUP_ID_NOT_FOUND to ConsumerGroupDescribe, as Kafka 4.4 answers ("Group … not found.",
/// "Group … is not a consumer group.").
fn describe_unknown_and_classic(addr: &str) {
    delay_common::create_topics(addr, &[("kip848-classic", 1, false)]);
    let mut classic = RawClient::connect(addr);
    let joined = classic.join_consumer("kip848-classic", "kip848-classic", 10_000);
    assert_eq!(joined.error_code, 0, "classic join: {joined:?}");
    for group in ["kip848-nobody", "kip848-classic"] {
        for version in [0, 1] {
            let g = describe(addr, group, version);
            assert_eq!(
                g.error_code, GROUP_ID_NOT_FOUND,
                "{group} v{version}: {g:?}"
            );
            assert!(g.members.is_empty(), "{group} v{version}: {g:?}");
        }
    }
}

fn a_group_whose_members_all_left_is_described_empty(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(io, dir.path());
    let addr = broker.local_addr().to_string();
    join_leave_describe(&addr, "kip848-left", "kip848-left");
    broker.shutdown();
    broker.join().unwrap();
}

/// Kafka 4.4 keeps a consumer group whose last member left (its offsets, its epochs):
/// ConsumerGroupDescribe answers it without error, state Empty, no members.
fn join_leave_describe(addr: &str, group: &str, topic: &str) {
    delay_common::create_topics(addr, &[(topic, PARTITIONS, false)]);
    let mut g = Group::join(addr, group, topic, 1);
    g.settle("one member", |s| split_evenly(s, PARTITIONS as usize));
    let stable = describe(addr, group, 1);
    assert_eq!(stable.group_state.as_str(), "Stable", "{stable:?}");
    g.close_all();
    for version in [0, 1] {
        let left = describe(addr, group, version);
        assert_eq!(
            (
                left.error_code,
                left.group_state.as_str(),
                left.members.len()
            ),
            (0, "Empty", 0),
            "v{version}: {left:?}"
        );
        assert!(
            left.group_epoch > stable.group_epoch,
            "v{version}: {left:?}"
        );
        assert_eq!(
            left.assignment_epoch, left.group_epoch,
            "v{version}: {left:?}"
        );
    }
}
