//! KIP-848 consumer groups ("the next-generation consumer rebalance protocol"): membership,
//! the server-side assignor and incremental reconciliation, as a pure state machine kept in a
//! [`super::state::Group`] (which also holds the group's committed offsets), on the group's
//! coordinator shard.
//!
//! ```text
//!   heartbeat ──▶ membership (join epoch 0, leave -1/-2, fence by epoch, session timeout)
//!            ──▶ group epoch moves on any change ──▶ target assignment (the assignor)
//!            ──▶ reconcile this member toward its target:
//!                  1. it still owns partitions outside its target: tell it to keep only
//!                     `assigned ∩ target` (it revokes the rest); its epoch stays
//!                  2. once its owned partitions are within its target: its epoch becomes the
//!                     target's, it gets `target − partitions other members still own`; the
//!                     rest arrive in later heartbeats, as their owners release them
//! ```
//! No stop-the-world: members that keep their partitions are never interrupted; a partition
//! moves only after its old owner said it no longer owns it.
//!
//! The assignor ("uniform", Kafka's default name; "range" is accepted as the same): for each
//! topic, its partitions are spread in contiguous ranges over the members subscribed to it
//! (sorted by member id), and a member keeps the partitions it owns whenever the balance
//! allows (sticky), so a member joining or leaving moves as few partitions as possible.
//!
//! # Invariants
//! - A partition is in at most one member's `assigned` set at a time.
//! - A member's epoch only grows, and is at most the group's assignment epoch.
//! - Every bound is a named constant ([`MEMBERS_MAX`], [`TOPICS_MAX`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// Kafka's `group.consumer.max.size` default... Kafka has no bound by default; ringlog bounds
/// it as classic groups (see `super::GROUP_MEMBERS_MAX`).
pub const MEMBERS_MAX: usize = super::GROUP_MEMBERS_MAX;
/// Topics one member may subscribe to.
pub const TOPICS_MAX: usize = 10_000;
/// Kafka's `group.consumer.session.timeout.ms` default.
pub const SESSION_TIMEOUT_MS: u64 = 45_000;
/// Kafka's `group.consumer.heartbeat.interval.ms` default.
pub const HEARTBEAT_INTERVAL_MS: i32 = 5_000;
/// Rebalance timeout when the member gives none (Kafka's `max.poll.interval.ms` default).
pub const REBALANCE_TIMEOUT_MS_DEFAULT: u64 = 300_000;
/// The assignor names accepted in `server_assignor` (Kafka's two built-in ones).
pub const ASSIGNORS: &[&str] = &["uniform", "range"];
/// The assignor ringlog runs.
pub const ASSIGNOR_NAME: &str = "uniform";

/// The Kafka error codes this module answers with (the protocol crate's table).
pub mod codes {
    pub use crate::protocol::error::{
        FENCED_MEMBER_EPOCH, GROUP_MAX_SIZE_REACHED, INVALID_REGULAR_EXPRESSION, INVALID_REQUEST,
        STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, UNSUPPORTED_ASSIGNOR,
    };
}

/// A partition: (topic name, partition).
pub type Tp = (String, i32);

/// One member of a consumer group.
#[derive(Clone, Debug)]
pub struct CMember {
    /// The member's epoch.
    pub epoch: i32,
    /// The epoch before the last change (a heartbeat whose answer was lost may carry it).
    pub previous_epoch: i32,
    /// Static membership id.
    pub instance_id: Option<String>,
    /// The member's rack.
    pub rack: Option<String>,
    /// Client id and host.
    pub client_id: String,
    /// Where it connects from.
    pub client_host: String,
    /// Subscribed topic names, sorted.
    pub topics: Vec<String>,
    /// The partitions it owns (as told by the coordinator; revoked ones leave when it says so).
    pub assigned: BTreeSet<Tp>,
    /// How long it may take to revoke.
    pub rebalance_timeout: Duration,
    /// When it started revoking (fenced when it takes longer than its rebalance timeout).
    pub revoking_since: Option<Instant>,
    /// The assignment last sent to it (the next answer carries one only when it changed).
    pub told: Option<BTreeSet<Tp>>,
    /// When it last heartbeat.
    pub last_seen: Instant,
}

/// A consumer group's membership and assignment.
#[derive(Clone, Debug, Default)]
pub struct ConsumerGroup {
    /// Moves with every change of membership, subscription or topic metadata.
    pub epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    /// Members by id.
    pub members: BTreeMap<String, CMember>,
    /// The target assignment by member.
    pub target: BTreeMap<String, BTreeSet<Tp>>,
    /// The subscribed topics' (name, partitions) the target was computed from.
    topology: Vec<(String, i32)>,
}

/// A heartbeat as the handler decoded it (fields as ConsumerGroupHeartbeat names them).
#[allow(missing_docs)]
#[derive(Clone, Debug)]
pub struct CBeat {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub topics: Option<Vec<String>>,
    pub regex: Option<String>,
    pub assignor: Option<String>,
    /// The partitions the member says it owns (`None`: unchanged since the last heartbeat).
    pub owned: Option<Vec<Tp>>,
    pub client_id: String,
    pub client_host: String,
}

/// The answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CReply {
    /// The member's epoch.
    pub member_epoch: i32,
    /// How often to heartbeat.
    pub heartbeat_interval_ms: i32,
    /// The member's assignment, when it changed since it was last told.
    pub assignment: Option<BTreeSet<Tp>>,
}

/// A coded refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CRefusal {
    /// The Kafka error code.
    pub code: i16,
    /// Why.
    pub message: String,
}

fn refuse(code: i16, message: impl Into<String>) -> CRefusal {
    CRefusal {
        code,
        message: message.into(),
    }
}

/// Topic metadata the assignor needs: partitions by topic name.
pub trait Topics {
    /// The partition count of `topic`, if it exists.
    fn partitions(&self, topic: &str) -> Option<i32>;
}

impl ConsumerGroup {
    /// Group state as ConsumerGroupDescribe and ListGroups name it.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.epoch {
            "Assigning"
        } else if self.members.iter().any(|(id, m)| {
            m.epoch != self.assignment_epoch || Some(&m.assigned) != self.target.get(id)
        }) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Removes members not heard from within the session timeout, and members that took
    /// longer than their rebalance timeout to revoke; returns their ids.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let session = Duration::from_millis(SESSION_TIMEOUT_MS);
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| {
                now.duration_since(m.last_seen) > session
                    || m.revoking_since
                        .is_some_and(|t| now.duration_since(t) > m.rebalance_timeout)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.members.remove(id);
            self.target.remove(id);
        }
        if !gone.is_empty() {
            self.epoch += 1;
            if self.members.is_empty() {
                // Nobody left to assign to: the (empty) target is current.
                self.target.clear();
                self.assignment_epoch = self.epoch;
            }
        }
        gone
    }

    /// Applies one heartbeat.
    pub fn heartbeat(
        &mut self,
        beat: CBeat,
        now: Instant,
        topics: &dyn Topics,
    ) -> Result<CReply, CRefusal> {
        self.expire(now);
        if let Some(a) = beat.assignor.as_deref() {
            if !ASSIGNORS.contains(&a) {
                return Err(refuse(
                    codes::UNSUPPORTED_ASSIGNOR,
                    format!(
                        "ServerAssignor {a} is not supported. Supported assignors: uniform, range."
                    ),
                ));
            }
        }
        if beat.regex.as_deref().is_some_and(|r| !r.is_empty()) {
            return Err(refuse(
                codes::INVALID_REGULAR_EXPRESSION,
                "ringlog does not evaluate SubscribedTopicRegex yet: subscribe to topic names",
            ));
        }
        if beat.member_epoch == -1 || beat.member_epoch == -2 {
            if self.members.remove(&beat.member_id).is_some() {
                self.target.remove(&beat.member_id);
                self.epoch += 1;
                // The others' target follows at once (Kafka's assignment epoch moves too).
                self.retarget(topics);
            }
            return Ok(CReply {
                member_epoch: beat.member_epoch,
                heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
                assignment: None,
            });
        }
        if beat.member_epoch == 0 {
            if !self.members.contains_key(&beat.member_id) {
                if self.members.len() >= MEMBERS_MAX {
                    return Err(refuse(
                        codes::GROUP_MAX_SIZE_REACHED,
                        format!(
                            "The consumer group has reached its maximum size of {MEMBERS_MAX}."
                        ),
                    ));
                }
                let Some(topics) = beat.topics.clone() else {
                    return Err(refuse(
                        codes::INVALID_REQUEST,
                        "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                    ));
                };
                // A static member rejoining under a new id takes its place.
                if let Some(instance) = &beat.instance_id {
                    let old: Vec<String> = self
                        .members
                        .iter()
                        .filter(|(_, m)| m.instance_id.as_ref() == Some(instance))
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in old {
                        self.members.remove(&id);
                        self.target.remove(&id);
                    }
                }
                let timeout = if beat.rebalance_timeout_ms > 0 {
                    beat.rebalance_timeout_ms as u64
                } else {
                    REBALANCE_TIMEOUT_MS_DEFAULT
                };
                self.members.insert(
                    beat.member_id.clone(),
                    CMember {
                        epoch: 0,
                        previous_epoch: 0,
                        instance_id: beat.instance_id.clone(),
                        rack: beat.rack.clone(),
                        client_id: beat.client_id.clone(),
                        client_host: beat.client_host.clone(),
                        topics: sorted(topics),
                        assigned: BTreeSet::new(),
                        rebalance_timeout: Duration::from_millis(timeout),
                        revoking_since: None,
                        told: None,
                        last_seen: now,
                    },
                );
                self.epoch += 1;
            } else {
                // A rejoin (the member lost its state): it owns nothing any more.
                let m = self.members.get_mut(&beat.member_id).expect("present");
                m.assigned.clear();
                m.told = None;
                m.epoch = 0;
                self.epoch += 1;
            }
        } else {
            let Some(m) = self.members.get(&beat.member_id) else {
                return Err(refuse(
                    codes::UNKNOWN_MEMBER_ID,
                    format!("Member {} is not a member of group.", beat.member_id),
                ));
            };
            let owned_within = beat
                .owned
                .as_ref()
                .is_some_and(|o| o.iter().all(|tp| m.assigned.contains(tp)));
            let ok = beat.member_epoch == m.epoch
                || (beat.member_epoch == m.previous_epoch && owned_within);
            if !ok {
                return Err(refuse(
                    codes::FENCED_MEMBER_EPOCH,
                    format!(
                        "The consumer group member has a greater member epoch ({}) than the one \
                         known by the group coordinator ({}). The member must abandon all its \
                         partitions and rejoin.",
                        beat.member_epoch, m.epoch
                    ),
                ));
            }
        }
        let m = self.members.get_mut(&beat.member_id).expect("present");
        m.last_seen = now;
        if let Some(rack) = beat.rack {
            m.rack = Some(rack);
        }
        if let Some(t) = beat.topics {
            let t = sorted(t);
            if t != m.topics {
                m.topics = t;
                self.epoch += 1;
            }
        }
        if let Some(owned) = &beat.owned {
            // What the member no longer owns is released.
            let owned: BTreeSet<Tp> = owned.iter().cloned().collect();
            m.assigned.retain(|tp| owned.contains(tp));
        }
        self.retarget(topics);
        Ok(self.reconcile(&beat.member_id, now))
    }

    /// Recomputes the target assignment when the group epoch or the topology moved.
    fn retarget(&mut self, topics: &dyn Topics) {
        let mut names: Vec<String> = self
            .members
            .values()
            .flat_map(|m| m.topics.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        let topology: Vec<(String, i32)> = names
            .iter()
            .filter_map(|t| topics.partitions(t).map(|n| (t.clone(), n)))
            .collect();
        if topology != self.topology {
            self.topology = topology.clone();
            self.epoch += 1;
        }
        if self.assignment_epoch == self.epoch {
            return;
        }
        let mut target: BTreeMap<String, BTreeSet<Tp>> = self
            .members
            .keys()
            .map(|id| (id.clone(), BTreeSet::new()))
            .collect();
        for (topic, n) in &topology {
            let readers: Vec<&String> = self
                .members
                .iter()
                .filter(|(_, m)| m.topics.contains(topic))
                .map(|(id, _)| id)
                .collect();
            if readers.is_empty() || *n <= 0 {
                continue;
            }
            // Quotas: n / r each, the first n % r members one more.
            let r = readers.len() as i32;
            let quota = |i: usize| n / r + i32::from((i as i32) < n % r);
            let mut left: BTreeSet<i32> = (0..*n).collect();
            let mut counts = vec![0i32; readers.len()];
            // Sticky: each member keeps what it owns, up to its quota.
            for (i, id) in readers.iter().enumerate() {
                for tp in self.members[*id]
                    .assigned
                    .iter()
                    .filter(|tp| &tp.0 == topic)
                {
                    if counts[i] < quota(i) && left.remove(&tp.1) {
                        target.get_mut(*id).expect("listed").insert(tp.clone());
                        counts[i] += 1;
                    }
                }
            }
            for (i, id) in readers.iter().enumerate() {
                while counts[i] < quota(i) {
                    let Some(p) = left.pop_first() else { break };
                    target
                        .get_mut(*id)
                        .expect("listed")
                        .insert((topic.clone(), p));
                    counts[i] += 1;
                }
            }
        }
        self.target = target;
        self.assignment_epoch = self.epoch;
    }

    /// Moves `member` toward its target and builds its answer.
    fn reconcile(&mut self, member: &str, now: Instant) -> CReply {
        let target = self.target.get(member).cloned().unwrap_or_default();
        let owned_by_others: BTreeSet<Tp> = self
            .members
            .iter()
            .filter(|(id, _)| id.as_str() != member)
            .flat_map(|(_, m)| m.assigned.iter().cloned())
            .collect();
        let assignment_epoch = self.assignment_epoch;
        let m = self.members.get_mut(member).expect("present");
        let revoke: BTreeSet<Tp> = m.assigned.difference(&target).cloned().collect();
        if !revoke.is_empty() {
            // Step 1: keep only what stays; the epoch moves only once the rest is released.
            m.revoking_since.get_or_insert(now);
            let keep: BTreeSet<Tp> = m.assigned.intersection(&target).cloned().collect();
            let assignment = (m.told.as_ref() != Some(&keep)).then(|| keep.clone());
            m.told = Some(keep);
            return CReply {
                member_epoch: m.epoch,
                heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
                assignment,
            };
        }
        m.revoking_since = None;
        // Step 2: the target, less what others still hold.
        let next: BTreeSet<Tp> = target.difference(&owned_by_others).cloned().collect();
        if m.epoch != assignment_epoch {
            m.previous_epoch = m.epoch;
            m.epoch = assignment_epoch;
        }
        m.assigned = next.clone();
        let assignment = (m.told.as_ref() != Some(&next)).then(|| next.clone());
        m.told = Some(next);
        CReply {
            member_epoch: m.epoch,
            heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
            assignment,
        }
    }

    /// Whether `member` may commit offsets with `epoch` (Kafka: the member's current epoch;
    /// STALE_MEMBER_EPOCH for any other, UNKNOWN_MEMBER_ID for a stranger).
    pub fn may_commit(&self, member: &str, epoch: i32) -> Result<(), CRefusal> {
        let Some(m) = self.members.get(member) else {
            return Err(refuse(
                codes::UNKNOWN_MEMBER_ID,
                format!("Member {member} is not a member of group."),
            ));
        };
        if epoch != m.epoch {
            return Err(refuse(
                codes::STALE_MEMBER_EPOCH,
                format!(
                    "The member epoch {epoch} is not the member's current epoch {}.",
                    m.epoch
                ),
            ));
        }
        Ok(())
    }
}

/// Topic ids for an assignment answer.
pub fn by_topic_id(
    assignment: &BTreeSet<Tp>,
    id_of: impl Fn(&str) -> Option<Uuid>,
) -> Vec<(Uuid, Vec<i32>)> {
    let mut out: Vec<(Uuid, Vec<i32>)> = Vec::new();
    for (topic, p) in assignment {
        let Some(id) = id_of(topic) else { continue };
        match out.iter_mut().find(|(i, _)| *i == id) {
            Some((_, ps)) => ps.push(*p),
            None => out.push((id, vec![*p])),
        }
    }
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct T(HashMap<String, i32>);
    impl Topics for T {
        fn partitions(&self, topic: &str) -> Option<i32> {
            self.0.get(topic).copied()
        }
    }

    fn topics(list: &[(&str, i32)]) -> T {
        T(list.iter().map(|(n, p)| (n.to_string(), *p)).collect())
    }

    fn beat(member: &str, epoch: i32, subscribe: Option<&[&str]>, owned: Option<Vec<Tp>>) -> CBeat {
        CBeat {
            member_id: member.to_string(),
            member_epoch: epoch,
            instance_id: None,
            rack: None,
            rebalance_timeout_ms: 60_000,
            topics: subscribe.map(|t| t.iter().map(|s| s.to_string()).collect()),
            regex: None,
            assignor: None,
            owned,
            client_id: "c".to_string(),
            client_host: "/127.0.0.1".to_string(),
        }
    }

    fn tps(r: &CReply) -> Vec<Tp> {
        r.assignment
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    #[test]
    fn a_second_member_gets_partitions_only_after_the_first_revokes() {
        let t = topics(&[("t", 4)]);
        let mut g = ConsumerGroup::default();
        let now = Instant::now();
        let a = g
            .heartbeat(beat("a", 0, Some(&["t"]), Some(vec![])), now, &t)
            .unwrap();
        assert_eq!(tps(&a).len(), 4);
        let a_epoch = a.member_epoch;
        let a_owned = tps(&a);
        // b joins: its target is two partitions a still owns, so it gets nothing yet.
        let b = g
            .heartbeat(beat("b", 0, Some(&["t"]), Some(vec![])), now, &t)
            .unwrap();
        assert!(tps(&b).is_empty());
        // a is told to keep two (revocation); its epoch stays.
        let a2 = g
            .heartbeat(beat("a", a_epoch, None, Some(a_owned.clone())), now, &t)
            .unwrap();
        assert_eq!(a2.member_epoch, a_epoch);
        let kept = tps(&a2);
        assert_eq!(kept.len(), 2);
        // a says it owns only those: its epoch moves on.
        let a3 = g
            .heartbeat(beat("a", a_epoch, None, Some(kept.clone())), now, &t)
            .unwrap();
        assert!(a3.member_epoch > a_epoch);
        // b now gets the released two.
        let b2 = g
            .heartbeat(beat("b", b.member_epoch, None, Some(vec![])), now, &t)
            .unwrap();
        let got = tps(&b2);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|tp| !kept.contains(tp)));
        assert_eq!(g.state_name(), "Stable");
    }

    #[test]
    fn fencing_leaving_and_commit_epochs() {
        let t = topics(&[("t", 2)]);
        let mut g = ConsumerGroup::default();
        let now = Instant::now();
        let a = g
            .heartbeat(beat("a", 0, Some(&["t"]), None), now, &t)
            .unwrap();
        let bad = g.heartbeat(beat("a", a.member_epoch + 5, None, None), now, &t);
        assert_eq!(bad.unwrap_err().code, codes::FENCED_MEMBER_EPOCH);
        let unknown = g.heartbeat(beat("z", 3, None, None), now, &t);
        assert_eq!(unknown.unwrap_err().code, codes::UNKNOWN_MEMBER_ID);
        assert!(g.may_commit("a", a.member_epoch).is_ok());
        assert_eq!(
            g.may_commit("a", a.member_epoch - 1).unwrap_err().code,
            codes::STALE_MEMBER_EPOCH
        );
        assert_eq!(
            g.may_commit("z", 1).unwrap_err().code,
            codes::UNKNOWN_MEMBER_ID
        );
        let left = g.heartbeat(beat("a", -1, None, None), now, &t).unwrap();
        assert_eq!(left.member_epoch, -1);
        assert_eq!(g.state_name(), "Empty");
        let assignor = CBeat {
            assignor: Some("sticky".to_string()),
            ..beat("b", 0, Some(&["t"]), None)
        };
        assert_eq!(
            g.heartbeat(assignor, now, &t).unwrap_err().code,
            codes::UNSUPPORTED_ASSIGNOR
        );
    }

    #[test]
    fn session_timeout_frees_partitions_and_sticky_keeps_them() {
        let t = topics(&[("t", 4)]);
        let mut g = ConsumerGroup::default();
        let now = Instant::now();
        let a = g
            .heartbeat(beat("a", 0, Some(&["t"]), None), now, &t)
            .unwrap();
        let b = g
            .heartbeat(beat("b", 0, Some(&["t"]), None), now, &t)
            .unwrap();
        let owned_a = tps(&g
            .heartbeat(beat("a", a.member_epoch, None, Some(tps(&a))), now, &t)
            .unwrap());
        let a_epoch = g.members["a"].epoch;
        g.heartbeat(beat("a", a_epoch, None, Some(owned_a.clone())), now, &t)
            .unwrap();
        let later = now + Duration::from_millis(SESSION_TIMEOUT_MS / 2);
        let b_epoch = g.members["b"].epoch;
        g.heartbeat(beat("b", b_epoch, None, Some(vec![])), later, &t)
            .unwrap();
        // a goes silent: after the session timeout b gets everything.
        let end = now + Duration::from_millis(SESSION_TIMEOUT_MS + 1);
        let b_epoch = g.members["b"].epoch;
        let r = g
            .heartbeat(beat("b", b_epoch, None, None), end, &t)
            .unwrap();
        let _ = b;
        assert_eq!(g.members.len(), 1);
        assert_eq!(g.members["b"].assigned.len(), 4, "{r:?}");
    }
}
