//! One consumer group's state machine: the classic Kafka group protocol (KIP-62, KIP-345,
//! KIP-394), without any I/O. Everything here is synchronous: waiting JoinGroup and SyncGroup
//! requests are one-shot senders stored on the member and completed by a later event (another
//! join, a sync from the leader, a timer tick).
//!
//! ```text
//!            join                    all joined / rebalance timeout       leader's SyncGroup
//!   Empty ───────> PreparingRebalance ─────────────────> CompletingRebalance ─────────> Stable
//!     ^                ^      |  last member leaves/expires        |                       |
//!     └────────────────┼──────┘                                    |                       |
//!                      └──── member joins/leaves/expires, sync timeout ─────────────────────┘
//! ```
//!
//! # Invariants
//! - `generation` only grows; it is bumped exactly when a join phase completes.
//! - An Empty group has no members; member ids are unique.
//! - In CompletingRebalance and Stable, `protocol_name` is a protocol every member supports and
//!   `leader` is a member.
//! - Every static member's instance id maps to exactly one member id (`static_members`), and the
//!   map holds nothing else.
//! - A member awaiting a join or sync response is never expired by the session timeout (Kafka's
//!   rule: it is waiting on us); the rebalance timeout bounds those phases instead.
//! - An initial rebalance delay runs only in PreparingRebalance (it is set when a join phase
//!   starts from Empty and cleared when the phase ends).

// Field and variant names are Kafka's own (KIP-345, the group state names): docs would repeat them.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::offsets_log::StoredOffset;
use super::GROUP_MEMBERS_MAX;
use crate::error::BrokerError;
use crate::runtime::mesh::{self, OneshotReceiver, OneshotSender};

/// Kafka's group states (names as DescribeGroups and ListGroups spell them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// What a JoinGroup request gets back (the handler builds the response from it, and turns the
/// error into its Kafka code there).
#[derive(Debug, Default)]
pub struct JoinOutcome {
    pub error: Option<BrokerError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only for the leader: (member id, group instance id, metadata for the chosen protocol).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinOutcome {
    pub fn error(error: BrokerError, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error: Some(error),
            generation: -1,
            member_id: member_id.to_string(),
            ..JoinOutcome::default()
        }
    }
}

/// What a SyncGroup request gets back.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    pub error: Option<BrokerError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(error: BrokerError) -> SyncOutcome {
        SyncOutcome {
            error: Some(error),
            ..SyncOutcome::default()
        }
    }
}

/// A join request, as the state machine needs it.
#[derive(Clone, Debug)]
pub struct JoinArgs {
    /// A new member without an instance id first gets its id with MEMBER_ID_REQUIRED and must
    /// rejoin with it (KIP-394; see `JoinGroupRequest::requires_known_member_id`).
    pub known_member_id_required: bool,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// The broker's `group.initial.rebalance.delay.ms` (a broker setting, carried with each
    /// join so the state machine stays free of configuration).
    pub initial_rebalance_delay: Duration,
}

/// A group member.
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat: Instant,
    join_waiter: Option<OneshotSender<JoinOutcome>>,
    sync_waiter: Option<OneshotSender<SyncOutcome>>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Answer the member's waiting join and sync with `error(member id)`.
    fn fail_waiters(&mut self, error: impl Fn(&str) -> BrokerError) {
        if let Some(w) = self.join_waiter.take() {
            w.send(JoinOutcome::error(error(&self.id), &self.id));
        }
        if let Some(w) = self.sync_waiter.take() {
            w.send(SyncOutcome::error(error(&self.id)));
        }
    }
}

/// Either an answer now, or one that comes later.
pub enum Reply<T> {
    Now(T),
    Later(OneshotReceiver<T>),
}

/// One consumer group.
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// Members in join order (the first is leader when a new one must be chosen).
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined: id -> expiry.
    pub pending: HashMap<String, Instant>,
    /// Static membership: group instance id -> member id.
    pub static_members: HashMap<String, String>,
    /// End of the current join phase (PreparingRebalance) or sync phase (CompletingRebalance).
    deadline: Option<Instant>,
    /// The initial delay of a join phase that started from Empty: it completes no earlier than
    /// this (see [`Group::initial_delay_end`]). `None` outside that phase and with a 0 delay.
    join_not_before: Option<Instant>,
    /// Committed offsets: (topic, partition) -> offset.
    pub offsets: std::collections::BTreeMap<(String, i32), StoredOffset>,
    /// Transactional offset commits whose transaction has not ended: by producer id (issue
    /// #18). They become `offsets` on the transaction's commit, and are dropped on its abort.
    pub txn_offsets: super::offsets_log::PendingOffsets,
}

impl Group {
    pub fn new(id: String) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            deadline: None,
            join_not_before: None,
            offsets: Default::default(),
            txn_offsets: Default::default(),
        }
    }

    fn member_index(&self, id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Whether this group may be forgotten (no members, nothing committed, nobody pending).
    pub fn is_disposable(&self) -> bool {
        self.members.is_empty()
            && self.pending.is_empty()
            && self.offsets.is_empty()
            && self.txn_offsets.is_empty()
    }

    /// The member's protocol type, as the group reports it (from members when present).
    pub fn current_protocol_type(&self) -> Option<String> {
        self.members
            .first()
            .map(|m| m.protocol_type.clone())
            .or_else(|| self.protocol_type.clone())
    }

    /// Kafka's checks for a (possibly new) member's protocols against the group: same protocol
    /// type, and at least one protocol every other member also supports.
    fn supports(&self, exclude: Option<&str>, protocol_type: &str, names: &[&str]) -> bool {
        let others: Vec<&Member> = self
            .members
            .iter()
            .filter(|m| Some(m.id.as_str()) != exclude)
            .collect();
        if others.is_empty() {
            return true;
        }
        if others[0].protocol_type != protocol_type {
            return false;
        }
        names.iter().any(|n| {
            others
                .iter()
                .all(|m| m.protocols.iter().any(|(p, _)| p == n))
        })
    }

    /// "Static member with this instance id exists, under another member id."
    pub fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(current) => current != member_id,
            None => false,
        }
    }

    fn unknown_member(&self, member_id: &str) -> BrokerError {
        unknown_member(&self.id, member_id)
    }

    fn fenced(&self, member_id: &str) -> BrokerError {
        fenced(&self.id, member_id)
    }

    fn rebalancing(&self) -> BrokerError {
        rebalancing(&self.id)
    }

    fn inconsistent_protocol(&self, member_id: &str) -> BrokerError {
        BrokerError::InconsistentGroupProtocol {
            group: self.id.clone(),
            member_id: member_id.to_string(),
        }
    }

    fn full(&self) -> BrokerError {
        BrokerError::GroupMaxSizeReached {
            group: self.id.clone(),
            members_max: GROUP_MEMBERS_MAX,
        }
    }

    fn new_member_id(client_id: &str) -> String {
        let prefix: String = client_id.chars().take(64).collect();
        format!("{prefix}-{}", uuid::Uuid::new_v4())
    }

    // -----------------------------------------------------------------------------------------
    // JoinGroup

    /// Handle a JoinGroup (validated by the caller: group id, session timeout, sizes).
    pub fn join(&mut self, a: JoinArgs, now: Instant) -> Reply<JoinOutcome> {
        let reply = self.join_member(a, now);
        self.debug_assert_invariants();
        reply
    }

    fn join_member(&mut self, a: JoinArgs, now: Instant) -> Reply<JoinOutcome> {
        let names: Vec<&str> = a.protocols.iter().map(|(n, _)| n.as_str()).collect();
        let exclude = (!a.member_id.is_empty()).then_some(a.member_id.as_str());
        if a.protocol_type.is_empty()
            || a.protocols.is_empty()
            || !self.supports(exclude, &a.protocol_type, &names)
        {
            let e = self.inconsistent_protocol(&a.member_id);
            return Reply::Now(JoinOutcome::error(e, &a.member_id));
        }
        if a.member_id.is_empty() {
            return self.join_unknown(a, now);
        }
        // A known member id (or one we handed out).
        if self.is_fenced(a.instance_id.as_deref(), &a.member_id) {
            let e = self.fenced(&a.member_id);
            return Reply::Now(JoinOutcome::error(e, &a.member_id));
        }
        if self.pending.remove(&a.member_id).is_some() {
            if self.members.len() >= GROUP_MEMBERS_MAX {
                return Reply::Now(JoinOutcome::error(self.full(), &a.member_id));
            }
            let id = a.member_id.clone();
            return self.add_member_and_wait(id, a, now);
        }
        let Some(i) = self.member_index(&a.member_id) else {
            let e = self.unknown_member(&a.member_id);
            return Reply::Now(JoinOutcome::error(e, &a.member_id));
        };
        let unchanged = self.members[i].same_protocols(&a.protocols);
        {
            let m = &mut self.members[i];
            m.protocols = a.protocols.clone();
            m.protocol_type = a.protocol_type.clone();
            m.session_timeout = a.session_timeout;
            m.rebalance_timeout = a.rebalance_timeout;
            m.client_id = a.client_id.clone();
            m.client_host = a.client_host.clone();
            m.last_heartbeat = now;
        }
        let is_leader = self.leader.as_deref() == Some(a.member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.wait_for_join(i, now),
            GroupState::CompletingRebalance if unchanged => {
                Reply::Now(self.current_join_outcome(&a.member_id))
            }
            GroupState::Stable if unchanged && !is_leader => {
                Reply::Now(self.current_join_outcome(&a.member_id))
            }
            _ => {
                self.prepare_rebalance(now);
                self.wait_for_join(i, now)
            }
        }
    }

    fn join_unknown(&mut self, a: JoinArgs, now: Instant) -> Reply<JoinOutcome> {
        if let Some(inst) = a.instance_id.clone() {
            if let Some(old) = self.static_members.get(&inst).cloned() {
                return self.replace_static_member(&old, a, now);
            }
        }
        if self.members.len() + self.pending.len() >= GROUP_MEMBERS_MAX {
            return Reply::Now(JoinOutcome::error(self.full(), ""));
        }
        let id = Self::new_member_id(&a.client_id);
        if a.known_member_id_required && a.instance_id.is_none() {
            // KIP-394: hand out the id first, so a client that times out on a long join
            // rejoins as the same member instead of leaving a ghost behind.
            self.pending.insert(id.clone(), now + a.session_timeout);
            let e = BrokerError::MemberIdRequired {
                group: self.id.clone(),
                member_id: id.clone(),
            };
            return Reply::Now(JoinOutcome::error(e, &id));
        }
        self.add_member_and_wait(id, a, now)
    }

    /// A static member rejoins with a new member id: the old id is fenced, the member keeps its
    /// place (and, in a Stable group with unchanged protocols, its assignment without a
    /// rebalance).
    fn replace_static_member(
        &mut self,
        old: &str,
        a: JoinArgs,
        now: Instant,
    ) -> Reply<JoinOutcome> {
        let Some(i) = self.member_index(old) else {
            self.static_members
                .remove(a.instance_id.as_deref().unwrap_or_default());
            return self.add_member_and_wait(Self::new_member_id(&a.client_id), a, now);
        };
        let new_id = Self::new_member_id(&a.client_id);
        let unchanged = self.members[i].same_protocols(&a.protocols);
        {
            let m = &mut self.members[i];
            m.fail_waiters(|id| fenced(&self.id, id));
            m.id = new_id.clone();
            m.protocols = a.protocols.clone();
            m.protocol_type = a.protocol_type.clone();
            m.session_timeout = a.session_timeout;
            m.rebalance_timeout = a.rebalance_timeout;
            m.client_id = a.client_id.clone();
            m.client_host = a.client_host.clone();
            m.last_heartbeat = now;
        }
        if let Some(inst) = &a.instance_id {
            self.static_members.insert(inst.clone(), new_id.clone());
        }
        let was_leader = self.leader.as_deref() == Some(old);
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        match self.state {
            GroupState::Stable if unchanged && !was_leader => {
                Reply::Now(self.current_join_outcome(&new_id))
            }
            GroupState::PreparingRebalance => self.wait_for_join(i, now),
            _ => {
                self.prepare_rebalance(now);
                self.wait_for_join(i, now)
            }
        }
    }

    fn add_member_and_wait(&mut self, id: String, a: JoinArgs, now: Instant) -> Reply<JoinOutcome> {
        if let Some(inst) = &a.instance_id {
            self.static_members.insert(inst.clone(), id.clone());
        }
        self.members.push(Member {
            id,
            instance_id: a.instance_id,
            client_id: a.client_id,
            client_host: a.client_host,
            session_timeout: a.session_timeout,
            rebalance_timeout: a.rebalance_timeout,
            protocol_type: a.protocol_type,
            protocols: a.protocols,
            assignment: Bytes::new(),
            last_heartbeat: now,
            join_waiter: None,
            sync_waiter: None,
        });
        let i = self.members.len() - 1;
        let from_empty = self.state == GroupState::Empty;
        let initial_phase = from_empty || self.join_not_before.is_some();
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        // Kafka's group.initial.rebalance.delay.ms: the first generation of a new group waits
        // for more members, and each new member arriving in that wait extends it by another
        // delay (Kafka's InitialDelayedJoin extends once per delay in which a member arrived),
        // so a burst of starting consumers lands in one generation instead of one rebalance
        // each. The rebalance timeout (`deadline`) still ends the phase. A 0 delay sets no
        // wait at all: a lone member's join completes in this call.
        if initial_phase && !a.initial_rebalance_delay.is_zero() {
            self.join_not_before = Some(now + a.initial_rebalance_delay);
        }
        self.wait_for_join(i, now)
    }

    /// When the initial delay of a new group's first join phase ends, if one is running: the
    /// coordinator's timer wakes then instead of at its next tick.
    pub fn initial_delay_end(&self) -> Option<Instant> {
        self.join_not_before
            .filter(|_| self.state == GroupState::PreparingRebalance)
    }

    fn wait_for_join(&mut self, i: usize, now: Instant) -> Reply<JoinOutcome> {
        let (tx, rx) = mesh::oneshot();
        if let Some(old) = self.members[i].join_waiter.replace(tx) {
            // The same member joined again before its first join was answered (a client
            // timeout and retry): the older request is superseded.
            old.send(JoinOutcome::error(self.rebalancing(), &self.members[i].id));
        }
        self.try_complete_join(now);
        Reply::Later(rx)
    }

    /// The join response for a member joining a group whose generation is already settled.
    fn current_join_outcome(&self, member_id: &str) -> JoinOutcome {
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.member_list()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }

    fn member_list(&self) -> Vec<(String, Option<String>, Bytes)> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|m| {
                (
                    m.id.clone(),
                    m.instance_id.clone(),
                    m.metadata_for(&protocol),
                )
            })
            .collect()
    }

    /// Start a join phase: members must rejoin within the largest rebalance timeout.
    pub fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            for m in &mut self.members {
                if let Some(w) = m.sync_waiter.take() {
                    w.send(SyncOutcome::error(rebalancing(&self.id)));
                }
            }
        }
        let timeout = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        self.state = GroupState::PreparingRebalance;
        self.deadline = Some(now + timeout);
        // Set by the caller when this phase starts from Empty (`add_member_and_wait`).
        self.join_not_before = None;
        self.debug_assert_invariants();
    }

    /// Complete the join phase when every member (and nobody pending) has joined, or when the
    /// rebalance timeout has passed (members that did not rejoin are dropped).
    pub fn try_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined =
            self.members.iter().all(|m| m.join_waiter.is_some()) && self.pending.is_empty();
        let delay_over = self.join_not_before.is_none_or(|t| now >= t);
        let timed_out = self.deadline.is_some_and(|d| now >= d);
        let ready = (all_joined && delay_over) || timed_out;
        if !ready {
            return;
        }
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.drop_member(&id, unknown_member);
        }
        self.pending.clear();
        let previous = self.generation;
        self.generation = self.generation.wrapping_add(1).max(1);
        // Only the wrap at i32::MAX (back to 1) may go down.
        assert!(
            self.generation > previous || previous == i32::MAX,
            "group {}: generation went from {previous} to {}",
            self.id,
            self.generation
        );
        self.join_not_before = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            self.deadline = None;
            self.debug_assert_invariants();
            return;
        }
        self.protocol_type = Some(self.members[0].protocol_type.clone());
        self.protocol_name = Some(self.select_protocol());
        let leader_present = self
            .leader
            .as_deref()
            .is_some_and(|l| self.member_index(l).is_some());
        if !leader_present {
            self.leader = Some(self.members[0].id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        let timeout = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        self.deadline = Some(now + timeout);
        for i in 0..self.members.len() {
            let id = self.members[i].id.clone();
            let outcome = self.current_join_outcome(&id);
            let m = &mut self.members[i];
            m.last_heartbeat = now;
            m.assignment = Bytes::new();
            if let Some(w) = m.join_waiter.take() {
                w.send(outcome);
            }
        }
        self.debug_assert_invariants();
    }

    /// Kafka's vote: among protocols every member supports, each member votes for the first one
    /// in its own preference order; most votes wins, ties go to the earlier candidate.
    fn select_protocol(&self) -> String {
        let candidates: Vec<&str> = self.members[0]
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == n))
            })
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for m in &self.members {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|(p, _)| candidates.iter().position(|c| c == p))
            {
                votes[i] += 1;
            }
        }
        let best = (0..candidates.len())
            .max_by_key(|&i| (votes[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        candidates
            .get(best)
            .copied()
            .unwrap_or_default()
            .to_string()
    }

    // -----------------------------------------------------------------------------------------
    // SyncGroup, Heartbeat, LeaveGroup

    /// Handle a SyncGroup.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Reply<SyncOutcome> {
        let i = match self.may_sync(member_id, instance_id, generation, protocol) {
            Ok(i) => i,
            Err(e) => return Reply::Now(SyncOutcome::error(e)),
        };
        self.members[i].last_heartbeat = now;
        match self.state {
            GroupState::Empty => Reply::Now(SyncOutcome::error(self.unknown_member(member_id))),
            GroupState::PreparingRebalance => Reply::Now(SyncOutcome::error(self.rebalancing())),
            GroupState::Stable => Reply::Now(self.sync_outcome(i)),
            GroupState::CompletingRebalance => {
                let (tx, rx) = mesh::oneshot();
                if let Some(old) = self.members[i].sync_waiter.replace(tx) {
                    old.send(SyncOutcome::error(self.rebalancing()));
                }
                if self.leader.as_deref() == Some(member_id) {
                    let mut by_member: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in &mut self.members {
                        m.assignment = by_member.remove(&m.id).unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                    self.deadline = None;
                    self.debug_assert_invariants();
                    for j in 0..self.members.len() {
                        let out = self.sync_outcome(j);
                        if let Some(w) = self.members[j].sync_waiter.take() {
                            w.send(out);
                        }
                    }
                }
                Reply::Later(rx)
            }
        }
    }

    /// A SyncGroup's checks before the group's state is looked at, in Kafka's order; the
    /// member's index when they pass.
    fn may_sync(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        (ptype, pname): (Option<&str>, Option<&str>),
    ) -> Result<usize, BrokerError> {
        let i = self.known_member(member_id, instance_id, generation)?;
        if ptype.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || pname.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return Err(self.inconsistent_protocol(member_id));
        }
        Ok(i)
    }

    /// The checks SyncGroup and Heartbeat share, in Kafka's order: a fenced static member, an
    /// unknown member, a stale generation. The member's index when they pass.
    fn known_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<usize, BrokerError> {
        if self.is_fenced(instance_id, member_id) {
            return Err(self.fenced(member_id));
        }
        let Some(i) = self.member_index(member_id) else {
            return Err(self.unknown_member(member_id));
        };
        if generation != self.generation {
            return Err(self.illegal_generation(generation));
        }
        Ok(i)
    }

    fn illegal_generation(&self, generation: i32) -> BrokerError {
        BrokerError::IllegalGeneration {
            group: self.id.clone(),
            generation,
        }
    }

    fn sync_outcome(&self, i: usize) -> SyncOutcome {
        SyncOutcome {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self.members[i].assignment.clone(),
        }
    }

    /// Handle a Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), BrokerError> {
        let i = self.known_member(member_id, instance_id, generation)?;
        self.members[i].last_heartbeat = now;
        match self.state {
            GroupState::Empty => Err(self.unknown_member(member_id)),
            GroupState::PreparingRebalance => Err(self.rebalancing()),
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
        }
    }

    /// Handle one member of a LeaveGroup.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> Result<(), BrokerError> {
        let id = match instance_id {
            Some(inst) => match self.static_members.get(inst) {
                None => return Err(self.unknown_member(member_id)),
                Some(current) if !member_id.is_empty() && current != member_id => {
                    return Err(self.fenced(member_id))
                }
                Some(current) => current.clone(),
            },
            None => member_id.to_string(),
        };
        if self.pending.remove(&id).is_some() {
            self.try_complete_join(now);
            return Ok(());
        }
        if self.member_index(&id).is_none() {
            return Err(self.unknown_member(&id));
        }
        self.remove_member(&id, now);
        Ok(())
    }

    /// Drop a member (left or expired) and rebalance the rest.
    pub fn remove_member(&mut self, id: &str, now: Instant) {
        self.drop_member(id, unknown_member);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now),
            GroupState::PreparingRebalance | GroupState::Empty => {}
        }
        if self.members.is_empty() && self.state != GroupState::PreparingRebalance {
            self.state = GroupState::Empty;
        }
        self.try_complete_join(now);
        self.debug_assert_invariants();
    }

    /// Remove member `id`, answering its waiting requests with `error(group, member id)`.
    fn drop_member(&mut self, id: &str, error: fn(&str, &str) -> BrokerError) {
        if let Some(i) = self.member_index(id) {
            let mut m = self.members.remove(i);
            m.fail_waiters(|member| error(&self.id, member));
            if let Some(inst) = &m.instance_id {
                if self.static_members.get(inst).map(String::as_str) == Some(id) {
                    self.static_members.remove(inst);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Timers

    /// Expire members whose session timed out, pending member ids never used, and overdue
    /// join or sync phases. Returns how many members expired.
    pub fn tick(&mut self, now: Instant) -> usize {
        self.pending.retain(|_, expiry| *expiry > now);
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| {
                m.join_waiter.is_none()
                    && m.sync_waiter.is_none()
                    && now.duration_since(m.last_heartbeat) > m.session_timeout
            })
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            tracing::info!(group = %self.id, member = %id, "member expired: no heartbeat within its session timeout");
            self.remove_member(id, now);
        }
        match self.state {
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::CompletingRebalance if self.deadline.is_some_and(|d| now >= d) => {
                // The leader never sent its assignment: drop whoever did not sync, start over.
                let lagging: Vec<String> = self
                    .members
                    .iter()
                    .filter(|m| m.sync_waiter.is_none())
                    .map(|m| m.id.clone())
                    .collect();
                for id in lagging {
                    self.drop_member(&id, |group, _| rebalancing(group));
                }
                if self.members.is_empty() {
                    self.state = GroupState::Empty;
                    self.deadline = None;
                } else {
                    self.prepare_rebalance(now);
                }
            }
            _ => {}
        }
        self.debug_assert_invariants();
        expired.len()
    }

    /// Fail every waiting request (shutdown, group deletion) with `error()`.
    pub fn fail_all_waiters(&mut self, error: impl Fn() -> BrokerError) {
        for m in &mut self.members {
            m.fail_waiters(|_| error());
        }
    }

    /// The module invariants, checked after every transition when debug assertions are on (they
    /// walk all members: at most [`GROUP_MEMBERS_MAX`]).
    fn debug_assert_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        let id = &self.id;
        let state = self.state;
        assert!(
            self.generation >= 0,
            "group {id}: generation {}",
            self.generation
        );
        let mut ids = std::collections::HashSet::with_capacity(self.members.len());
        for m in &self.members {
            assert!(
                ids.insert(m.id.as_str()),
                "group {id}: member {} twice",
                m.id
            );
        }
        assert!(
            self.join_not_before.is_none() || state == GroupState::PreparingRebalance,
            "group {id}: an initial delay running in {state:?}"
        );
        if state == GroupState::Empty {
            assert!(
                self.members.is_empty(),
                "group {id}: Empty with {} members",
                self.members.len()
            );
        }
        if matches!(state, GroupState::CompletingRebalance | GroupState::Stable) {
            let leader = self.leader.as_deref().unwrap_or_default();
            assert!(
                self.member(leader).is_some(),
                "group {id}: {state:?} with leader {:?}, not a member",
                self.leader
            );
            let protocol = self.protocol_name.as_deref();
            assert!(
                protocol.is_some_and(|p| self
                    .members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == p))),
                "group {id}: {state:?} with protocol {protocol:?} not supported by every member"
            );
        }
        for (instance, member_id) in &self.static_members {
            assert!(
                self.member(member_id)
                    .is_some_and(|m| m.instance_id.as_deref() == Some(instance.as_str())),
                "group {id}: static member {instance} maps to {member_id}, not a member with it"
            );
        }
        for m in &self.members {
            if let Some(instance) = &m.instance_id {
                assert_eq!(
                    self.static_members.get(instance),
                    Some(&m.id),
                    "group {id}: static member {instance} not mapped to its member id"
                );
            }
        }
    }
}

/// The member is not (or no longer) in the group.
fn unknown_member(group: &str, member_id: &str) -> BrokerError {
    BrokerError::UnknownMember {
        group: group.to_string(),
        member_id: member_id.to_string(),
    }
}

/// The member's instance id belongs to another member id now.
fn fenced(group: &str, member_id: &str) -> BrokerError {
    BrokerError::FencedInstanceId {
        group: group.to_string(),
        member_id: member_id.to_string(),
    }
}

/// The group is rebalancing: the member must (re)join.
fn rebalancing(group: &str) -> BrokerError {
    BrokerError::RebalanceInProgress {
        group: group.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code_of;
    use crate::protocol::error as code;

    /// The Kafka code a heartbeat or leave result is answered with.
    fn code(r: Result<(), BrokerError>) -> i16 {
        code_of(r.err().as_ref())
    }

    fn args(version: i16, member_id: &str, protocols: &[&str]) -> JoinArgs {
        JoinArgs {
            known_member_id_required:
                crate::protocol::messages::JoinGroupRequest::requires_known_member_id(version),
            member_id: member_id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("md-{p}"))))
                .collect(),
            initial_rebalance_delay: Duration::from_millis(DELAY_MS),
        }
    }

    /// The initial rebalance delay the tests' groups run with (0 in `zero_delay_*`).
    const DELAY_MS: u64 = 500;

    fn now_rx<T>(r: Reply<T>) -> T {
        match r {
            Reply::Now(t) => t,
            Reply::Later(_) => panic!("expected an immediate reply"),
        }
    }

    fn later<T: Send>(r: Reply<T>) -> OneshotReceiver<T> {
        match r {
            Reply::Later(rx) => rx,
            Reply::Now(_) => panic!("expected a delayed reply"),
        }
    }

    fn poll<T: Send>(rx: OneshotReceiver<T>) -> T {
        futures_executor::block_on(rx.recv()).expect("answered")
    }

    #[test]
    fn two_members_join_sync_and_rebalance_on_leave() {
        let t0 = Instant::now();
        let mut g = Group::new("g".into());
        let first = now_rx(g.join(args(5, "", &["range"]), t0));
        assert_eq!(code_of(first.error.as_ref()), code::MEMBER_ID_REQUIRED);
        let a = first.member_id;
        let rx_a = later(g.join(args(5, &a, &["range"]), t0));
        // Initial delay holds the first generation open for a second member.
        let second = now_rx(g.join(args(5, "", &["range", "roundrobin"]), t0));
        let b = second.member_id;
        let rx_b = later(g.join(args(5, &b, &["range", "roundrobin"]), t0));
        g.tick(t0 + Duration::from_millis(DELAY_MS + 1));
        let (ja, jb) = (poll(rx_a), poll(rx_b));
        assert!(ja.error.is_none() && jb.error.is_none(), "{ja:?} {jb:?}");
        assert_eq!(ja.generation, 1);
        assert_eq!(ja.leader, a);
        assert_eq!(ja.members.len(), 2);
        assert!(jb.members.is_empty());
        assert_eq!(ja.protocol_name.as_deref(), Some("range"));
        let t1 = t0 + Duration::from_secs(1);
        let rx_sb = later(g.sync(&b, None, 1, (None, None), vec![], t1));
        let rx_sa = later(g.sync(
            &a,
            None,
            1,
            (Some("consumer"), Some("range")),
            vec![
                (a.clone(), Bytes::from_static(b"A")),
                (b.clone(), Bytes::from_static(b"B")),
            ],
            t1,
        ));
        assert_eq!(&poll(rx_sa).assignment[..], b"A");
        assert_eq!(&poll(rx_sb).assignment[..], b"B");
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(code(g.heartbeat(&b, None, 0, t1)), code::ILLEGAL_GENERATION);
        assert_eq!(
            code(g.heartbeat("nope", None, 1, t1)),
            code::UNKNOWN_MEMBER_ID
        );
        assert_eq!(code(g.leave(&b, None, t1)), code::NONE);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(
            code(g.heartbeat(&a, None, 1, t1)),
            code::REBALANCE_IN_PROGRESS
        );
        let ja2 = poll(later(g.join(args(5, &a, &["range"]), t1)));
        assert!(ja2.error.is_none(), "{:?}", ja2.error);
        assert_eq!((ja2.generation, ja2.members.len()), (2, 1));
    }

    #[test]
    fn zero_delay_completes_a_lone_members_join_in_the_call() {
        let t0 = Instant::now();
        let mut g = Group::new("g".into());
        let first = now_rx(g.join(args(5, "", &["range"]), t0));
        let mut a = args(5, &first.member_id, &["range"]);
        a.initial_rebalance_delay = Duration::ZERO;
        let rx = later(g.join(a, t0));
        // No tick: the join phase is over.
        assert_eq!(g.state, GroupState::CompletingRebalance);
        assert_eq!(g.initial_delay_end(), None);
        let j = poll(rx);
        assert_eq!((j.generation, j.members.len()), (1, 1));
        assert_eq!(j.leader, first.member_id);
    }

    #[test]
    fn zero_delay_waits_for_a_pending_member_id() {
        let t0 = Instant::now();
        let mut g = Group::new("g".into());
        let zero = |v, id: &str| JoinArgs {
            initial_rebalance_delay: Duration::ZERO,
            ..args(v, id, &["range"])
        };
        let a = now_rx(g.join(zero(5, ""), t0)).member_id;
        let b = now_rx(g.join(zero(5, ""), t0)).member_id;
        let rx_a = later(g.join(zero(5, &a), t0));
        assert_eq!(g.state, GroupState::PreparingRebalance, "{b} is pending");
        let rx_b = later(g.join(zero(5, &b), t0));
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let (ja, jb) = (poll(rx_a), poll(rx_b));
        assert_eq!((ja.generation, jb.generation), (1, 1));
        assert_eq!(ja.members.len(), 2);
    }

    #[test]
    fn a_member_arriving_in_the_initial_delay_extends_it() {
        let t0 = Instant::now();
        let delay = Duration::from_millis(DELAY_MS);
        let mut g = Group::new("g".into());
        let rx_a = later(g.join(args(3, "", &["range"]), t0));
        assert_eq!(g.initial_delay_end(), Some(t0 + delay));
        let t1 = t0 + delay * 4 / 5;
        let rx_b = later(g.join(args(3, "", &["range"]), t1));
        assert_eq!(g.initial_delay_end(), Some(t1 + delay));
        g.tick(t0 + delay + Duration::from_millis(1));
        assert_eq!(g.state, GroupState::PreparingRebalance, "extended");
        g.tick(t1 + delay);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let (ja, jb) = (poll(rx_a), poll(rx_b));
        assert_eq!((ja.generation, jb.generation), (1, 1));
        assert_eq!(ja.members.len(), 2);
        // A later rebalance of the same group has no initial delay.
        let rx_c = later(g.join(args(3, "", &["range"]), t1 + delay));
        assert_eq!(g.initial_delay_end(), None);
        drop(rx_c);
    }

    #[test]
    fn session_timeout_expires_a_silent_member() {
        let t0 = Instant::now();
        let mut g = Group::new("g".into());
        let rx = later(g.join(args(3, "", &["range"]), t0));
        g.tick(t0 + Duration::from_secs(1));
        let j = poll(rx);
        assert_eq!(j.generation, 1);
        let _ = g.sync(&j.member_id, None, 1, (None, None), vec![], t0);
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.tick(t0 + Duration::from_secs(5)), 0);
        assert_eq!(g.tick(t0 + Duration::from_secs(11)), 1);
        assert!(g.members.is_empty());
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.generation, 2);
    }

    #[test]
    fn inconsistent_protocols_and_static_fencing() {
        let t0 = Instant::now();
        let mut g = Group::new("g".into());
        let mut a = args(5, "", &["range"]);
        a.instance_id = Some("i1".into());
        let rx = later(g.join(a.clone(), t0));
        g.tick(t0 + Duration::from_secs(1));
        let j = poll(rx);
        let _ = g.sync(&j.member_id, Some("i1"), 1, (None, None), vec![], t0);
        let bad = now_rx(g.join(args(5, "", &["sticky"]), t0));
        assert_eq!(
            code_of(bad.error.as_ref()),
            code::INCONSISTENT_GROUP_PROTOCOL
        );
        let mut other_type = args(5, "", &["range"]);
        other_type.protocol_type = "connect".into();
        assert_eq!(
            code_of(now_rx(g.join(other_type, t0)).error.as_ref()),
            code::INCONSISTENT_GROUP_PROTOCOL
        );
        // The static member restarts: new member id, same assignment, no rebalance... but it
        // is the leader, so Kafka rebalances; the old id is fenced either way.
        let _ = g.join(a, t0);
        assert_eq!(
            code(g.heartbeat(&j.member_id, Some("i1"), 1, t0)),
            code::FENCED_INSTANCE_ID
        );
    }
}
