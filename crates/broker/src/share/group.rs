//! Share-group membership, server-side assignment and share sessions, on the group's
//! coordinator shard (`routing::group_coordinator`, as classic groups).
//!
//! Membership (ShareGroupHeartbeat): a member joins with epoch 0 and its subscription, then
//! heartbeats with the epoch it was given; -1 leaves. A member not heard from for the session
//! timeout is removed (checked at every heartbeat of its group and by the shard's sweep). The
//! group epoch moves whenever membership, a subscription or a subscribed topic's partition
//! count changes; the assignment is then recomputed, and a member whose assignment changed gets
//! the new epoch and the assignment in its next heartbeat response. Share groups need no
//! revocation: a partition may be read by several members at once, so a new assignment takes
//! effect at once.
//!
//! The assignor (Kafka's "simple" share assignor in spirit): for each topic, with `m`
//! subscribed members (sorted by id) and `p` partitions, member `i` gets partitions `j` with
//! `j % m == i` when `m <= p`, and partition `i % p` when `m > p`, so every partition has a
//! reader and extra members share partitions.
//!
//! Share sessions (ShareFetch/ShareAcknowledge): per (group, member), the partitions the member
//! fetches and the epoch the next request must carry: 0 opens (replacing an old session), -1
//! closes, anything else must equal the session's epoch, which then moves on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::config::GroupConfigs;
use crate::catalog::Catalog;

/// Kafka's `group.share.max.size` default: members per share group. Beyond:
/// GROUP_MAX_SIZE_REACHED.
pub const MEMBERS_MAX: usize = 200;
/// Share groups per coordinator shard. Beyond: COORDINATOR_NOT_AVAILABLE (retriable).
pub const GROUPS_PER_SHARD_MAX: usize = 10_000;
/// Share sessions per coordinator shard (Kafka's `group.share.max.share.sessions` default is
/// 2000 per broker). Beyond: SHARE_SESSION_LIMIT_REACHED.
pub const SESSIONS_PER_SHARD_MAX: usize = 2_000;
/// Partitions in one share session (a member fetching more is refused: INVALID_REQUEST).
pub const SESSION_PARTITIONS_MAX: usize = 10_000;
/// Topics one member may subscribe to.
pub const SUBSCRIBED_TOPICS_MAX: usize = 10_000;
/// Longest member id (Kafka generates 22-character ids).
pub const MEMBER_ID_BYTES_MAX: usize = 256;
/// The assignor's name in ShareGroupDescribe.
pub const ASSIGNOR_NAME: &str = "simple";

/// The Kafka error codes share groups answer with (the protocol crate's table).
pub mod codes {
    pub use crate::protocol::error::{
        COORDINATOR_NOT_AVAILABLE, FENCED_MEMBER_EPOCH, GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED,
        INVALID_GROUP_ID, INVALID_RECORD_STATE, INVALID_REQUEST, INVALID_SHARE_SESSION_EPOCH,
        SHARE_SESSION_LIMIT_REACHED, SHARE_SESSION_NOT_FOUND, UNKNOWN_MEMBER_ID,
    };
}

/// A coded refusal with its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The Kafka error code.
    pub code: i16,
    /// What went wrong, for the error message field.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: i16, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// One member of a share group.
#[derive(Clone, Debug)]
pub struct Member {
    /// The epoch.
    pub epoch: i32,
    /// The rack the member reported.
    pub rack: Option<String>,
    /// The client id of its requests.
    pub client_id: String,
    /// Where it connects from.
    pub client_host: String,
    /// The subscribed topic names, sorted.
    pub topics: Vec<String>,
    /// Assigned partitions by topic (name, id).
    pub assignment: BTreeMap<String, (Uuid, Vec<i32>)>,
    /// The assignment changed since the member was last told.
    pub untold: bool,
    /// When it last heartbeat.
    pub last_seen: Instant,
}

/// One share group's membership.
#[derive(Clone, Debug, Default)]
pub struct ShareGroup {
    /// The epoch.
    pub epoch: i32,
    /// The group epoch the assignment was computed at.
    pub assignment_epoch: i32,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// The subscribed topics' (name, partitions) the last assignment was computed from.
    topology: Vec<(String, i32)>,
}

/// A heartbeat as the handler decoded it.
#[derive(Clone, Debug)]
pub struct Beat {
    /// The member id.
    pub member_id: String,
    /// The epoch sent.
    pub member_epoch: i32,
    /// The rack the member reported.
    pub rack: Option<String>,
    /// The subscribed topic names, sorted.
    pub topics: Option<Vec<String>>,
    /// The client id of its requests.
    pub client_id: String,
    /// Where it connects from.
    pub client_host: String,
}

/// The answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeatReply {
    /// The epoch sent.
    pub member_epoch: i32,
    /// The heartbeat interval to use.
    pub heartbeat_interval_ms: i32,
    /// The member's assignment by topic id, when it changed (or on join).
    pub assignment: Option<Vec<(Uuid, Vec<i32>)>>,
}

impl ShareGroup {
    /// Group state as ShareGroupDescribe names it.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }

    /// Removes members not heard from within the session timeout; returns their ids.
    pub fn expire(&mut self, now: Instant, configs: &GroupConfigs) -> Vec<String> {
        let timeout = Duration::from_millis(configs.session_timeout_ms() as u64);
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| now.duration_since(m.last_seen) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.members.remove(id);
        }
        if !gone.is_empty() {
            self.epoch += 1;
        }
        gone
    }

    /// Applies one heartbeat. `left`: member ids whose records should be released (the member
    /// that left and those that timed out).
    pub fn heartbeat(
        &mut self,
        beat: Beat,
        now: Instant,
        configs: &GroupConfigs,
        catalog: &Catalog,
        left: &mut Vec<String>,
    ) -> Result<BeatReply, Refusal> {
        left.extend(self.expire(now, configs));
        let interval = configs.heartbeat_interval_ms() as i32;
        if beat.member_epoch == -1 {
            if self.members.remove(&beat.member_id).is_some() {
                self.epoch += 1;
                left.push(beat.member_id.clone());
                self.reassign(catalog);
            }
            return Ok(BeatReply {
                member_epoch: -1,
                heartbeat_interval_ms: interval,
                assignment: None,
            });
        }
        let mut joined = false;
        if beat.member_epoch == 0 {
            if !self.members.contains_key(&beat.member_id) {
                if self.members.len() >= MEMBERS_MAX {
                    return Err(Refusal::new(
                        codes::GROUP_MAX_SIZE_REACHED,
                        format!(
                            "The share group has reached its maximum size of {MEMBERS_MAX} members"
                        ),
                    ));
                }
                let Some(topics) = beat.topics.clone() else {
                    return Err(Refusal::new(
                        codes::INVALID_REQUEST,
                        "SubscribedTopicNames must be set in first request",
                    ));
                };
                self.members.insert(
                    beat.member_id.clone(),
                    Member {
                        epoch: 0,
                        rack: beat.rack.clone(),
                        client_id: beat.client_id.clone(),
                        client_host: beat.client_host.clone(),
                        topics,
                        assignment: BTreeMap::new(),
                        untold: true,
                        last_seen: now,
                    },
                );
                self.epoch += 1;
            }
            joined = true;
        } else {
            let Some(m) = self.members.get(&beat.member_id) else {
                return Err(Refusal::new(
                    codes::UNKNOWN_MEMBER_ID,
                    format!(
                        "Member {} is not a member of the share group",
                        beat.member_id
                    ),
                ));
            };
            if m.epoch != beat.member_epoch {
                return Err(Refusal::new(
                    codes::FENCED_MEMBER_EPOCH,
                    format!(
                        "The share group member has a member epoch ({}) different from the \
                         epoch the coordinator holds ({})",
                        beat.member_epoch, m.epoch
                    ),
                ));
            }
        }
        let member = self.members.get_mut(&beat.member_id).expect("present");
        member.last_seen = now;
        if let Some(rack) = beat.rack {
            member.rack = Some(rack);
        }
        if let Some(mut topics) = beat.topics {
            topics.sort();
            topics.dedup();
            if topics != member.topics {
                member.topics = topics;
                self.epoch += 1;
            }
        }
        self.reassign(catalog);
        let member = self.members.get_mut(&beat.member_id).expect("present");
        let changed = member.untold || joined || member.epoch == 0;
        if changed {
            member.epoch = self.epoch.max(1);
            member.untold = false;
        }
        Ok(BeatReply {
            member_epoch: member.epoch,
            heartbeat_interval_ms: interval,
            assignment: changed.then(|| {
                member
                    .assignment
                    .values()
                    .map(|(id, parts)| (*id, parts.clone()))
                    .collect()
            }),
        })
    }

    /// Recomputes every member's assignment when the membership or topology changed.
    fn reassign(&mut self, catalog: &Catalog) {
        let mut topics: Vec<String> = self
            .members
            .values()
            .flat_map(|m| m.topics.iter().cloned())
            .collect();
        topics.sort();
        topics.dedup();
        let topology: Vec<(String, i32)> = topics
            .iter()
            .filter_map(|t| catalog.get(t).map(|meta| (t.clone(), meta.partitions)))
            .collect();
        if topology != self.topology {
            self.topology = topology.clone();
            self.epoch += 1;
        }
        if self.assignment_epoch == self.epoch {
            return;
        }
        let before: Vec<BTreeMap<String, (Uuid, Vec<i32>)>> = self
            .members
            .values_mut()
            .map(|m| std::mem::take(&mut m.assignment))
            .collect();
        for (topic, partitions) in &topology {
            let Some(id) = catalog.get(topic).map(|meta| meta.id) else {
                continue;
            };
            let readers: Vec<String> = self
                .members
                .iter()
                .filter(|(_, m)| m.topics.contains(topic))
                .map(|(id, _)| id.clone())
                .collect();
            let (m, p) = (readers.len() as i32, *partitions);
            if m == 0 || p <= 0 {
                continue;
            }
            for (i, reader) in readers.iter().enumerate() {
                let i = i as i32;
                let parts: Vec<i32> = if m <= p {
                    (0..p).filter(|j| j % m == i).collect()
                } else {
                    vec![i % p]
                };
                self.members
                    .get_mut(reader)
                    .expect("listed")
                    .assignment
                    .insert(topic.clone(), (id, parts));
            }
        }
        for (m, before) in self.members.values_mut().zip(before) {
            if m.assignment != before {
                m.untold = true;
            }
        }
        self.assignment_epoch = self.epoch;
    }
}

/// One member's share session.
#[derive(Clone, Debug, Default)]
pub struct Session {
    /// The epoch the next request must carry.
    pub next_epoch: i32,
    /// The partitions the member fetches, by topic id.
    pub partitions: Vec<(Uuid, i32)>,
    /// The connection that opened it (shard, connection number): when that connection
    /// closes, the session ends and the member's records are released, as Kafka does.
    pub connection: Option<(usize, u64)>,
}

/// What a ShareFetch/ShareAcknowledge does to its session.
#[derive(Clone, Debug)]
pub struct SessionStep {
    /// The epoch.
    pub epoch: i32,
    /// Partitions named in the request (added to the session).
    pub added: Vec<(Uuid, i32)>,
    /// Partitions to drop from the session.
    pub forgotten: Vec<(Uuid, i32)>,
    /// The request carries acknowledgements.
    pub has_acks: bool,
    /// ShareAcknowledge (no fetching, no partitions added).
    pub ack_only: bool,
    /// The connection the request came on (recorded by an epoch-0 request).
    pub connection: Option<(usize, u64)>,
}

/// The session after a step: the partitions to fetch from, or that it closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    /// The partitions, by topic id.
    pub partitions: Vec<(Uuid, i32)>,
    /// The session closed with this request.
    pub closed: bool,
}

/// Applies `step` to the sessions of a coordinator shard.
pub fn session_step(
    sessions: &mut HashMap<(String, String), Session>,
    group: &str,
    member: &str,
    step: SessionStep,
) -> Result<SessionView, Refusal> {
    let key = (group.to_string(), member.to_string());
    match step.epoch {
        0 => {
            if step.ack_only {
                return Err(Refusal::new(
                    codes::INVALID_SHARE_SESSION_EPOCH,
                    "ShareAcknowledge cannot open a share session (epoch 0)",
                ));
            }
            if step.has_acks {
                return Err(Refusal::new(
                    codes::INVALID_REQUEST,
                    "Acknowledge data present on initial share fetch request",
                ));
            }
            if !sessions.contains_key(&key) && sessions.len() >= SESSIONS_PER_SHARD_MAX {
                return Err(Refusal::new(
                    codes::SHARE_SESSION_LIMIT_REACHED,
                    format!("The limit of {SESSIONS_PER_SHARD_MAX} share sessions is reached"),
                ));
            }
            let mut partitions = step.added;
            partitions.sort();
            partitions.dedup();
            if partitions.len() > SESSION_PARTITIONS_MAX {
                return Err(too_many_partitions());
            }
            sessions.insert(
                key,
                Session {
                    next_epoch: 1,
                    partitions: partitions.clone(),
                    connection: step.connection,
                },
            );
            Ok(SessionView {
                partitions,
                closed: false,
            })
        }
        -1 => {
            let Some(session) = sessions.remove(&key) else {
                return Err(Refusal::new(
                    codes::SHARE_SESSION_NOT_FOUND,
                    format!("Share session for member {member} not found"),
                ));
            };
            let mut partitions = session.partitions;
            partitions.extend(step.added);
            partitions.sort();
            partitions.dedup();
            Ok(SessionView {
                partitions,
                closed: true,
            })
        }
        epoch => {
            let Some(session) = sessions.get_mut(&key) else {
                return Err(Refusal::new(
                    codes::SHARE_SESSION_NOT_FOUND,
                    format!("Share session for member {member} not found"),
                ));
            };
            if epoch != session.next_epoch {
                return Err(Refusal::new(
                    codes::INVALID_SHARE_SESSION_EPOCH,
                    format!(
                        "The share session epoch {epoch} is not the expected {}",
                        session.next_epoch
                    ),
                ));
            }
            session.next_epoch = if session.next_epoch == i32::MAX {
                1
            } else {
                session.next_epoch + 1
            };
            if !step.ack_only {
                for p in step.added {
                    if !session.partitions.contains(&p) {
                        session.partitions.push(p);
                    }
                }
                session.partitions.retain(|p| !step.forgotten.contains(p));
                if session.partitions.len() > SESSION_PARTITIONS_MAX {
                    session.partitions.truncate(SESSION_PARTITIONS_MAX);
                    return Err(too_many_partitions());
                }
            }
            Ok(SessionView {
                partitions: session.partitions.clone(),
                closed: false,
            })
        }
    }
}

fn too_many_partitions() -> Refusal {
    Refusal::new(
        codes::INVALID_REQUEST,
        format!("A share session holds at most {SESSION_PARTITIONS_MAX} partitions"),
    )
}

/// Topic names of a catalog by id (for answers that name topics by id).
pub fn topic_name(catalog: &Catalog, id: Uuid) -> Option<Arc<str>> {
    catalog.name_of(id).map(Arc::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TopicMeta;

    fn catalog(topics: &[(&str, i32)]) -> Catalog {
        let mut c = Catalog::default();
        for (name, partitions) in topics {
            c.insert(
                name.to_string(),
                TopicMeta {
                    partitions: *partitions,
                    id: crate::catalog::new_topic_id(),
                    configs: Default::default(),
                },
            );
        }
        c
    }

    fn beat(member: &str, epoch: i32, topics: Option<&[&str]>) -> Beat {
        Beat {
            member_id: member.to_string(),
            member_epoch: epoch,
            rack: None,
            topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
            client_id: "c".to_string(),
            client_host: "/127.0.0.1".to_string(),
        }
    }

    #[test]
    fn members_share_a_single_partition_and_epochs_fence() {
        let cat = catalog(&[("t", 1)]);
        let cfg = GroupConfigs::default();
        let mut g = ShareGroup::default();
        let now = Instant::now();
        let mut left = Vec::new();
        let a = g
            .heartbeat(beat("a", 0, Some(&["t"])), now, &cfg, &cat, &mut left)
            .unwrap();
        let b = g
            .heartbeat(beat("b", 0, Some(&["t"])), now, &cfg, &cat, &mut left)
            .unwrap();
        let parts = |r: &BeatReply| r.assignment.clone().unwrap()[0].1.clone();
        assert_eq!(parts(&a), vec![0]);
        assert_eq!(parts(&b), vec![0]);
        let again = g
            .heartbeat(beat("a", a.member_epoch, None), now, &cfg, &cat, &mut left)
            .unwrap();
        assert_eq!(again.assignment, None, "unchanged: no assignment sent");
        let fenced = g.heartbeat(
            beat("a", a.member_epoch + 7, None),
            now,
            &cfg,
            &cat,
            &mut left,
        );
        assert_eq!(fenced.unwrap_err().code, codes::FENCED_MEMBER_EPOCH);
        let unknown = g.heartbeat(beat("z", 3, None), now, &cfg, &cat, &mut left);
        assert_eq!(unknown.unwrap_err().code, codes::UNKNOWN_MEMBER_ID);
        let no_topics = g.heartbeat(beat("y", 0, None), now, &cfg, &cat, &mut left);
        assert_eq!(no_topics.unwrap_err().code, codes::INVALID_REQUEST);
        let gone = g
            .heartbeat(beat("b", -1, None), now, &cfg, &cat, &mut left)
            .unwrap();
        assert_eq!(gone.member_epoch, -1);
        assert_eq!(left, vec!["b".to_string()]);
    }

    #[test]
    fn partitions_spread_over_members_and_timeouts_remove() {
        let cat = catalog(&[("t", 4)]);
        let cfg = GroupConfigs::default();
        let mut g = ShareGroup::default();
        let now = Instant::now();
        let mut left = Vec::new();
        g.heartbeat(beat("a", 0, Some(&["t"])), now, &cfg, &cat, &mut left)
            .unwrap();
        let b = g
            .heartbeat(beat("b", 0, Some(&["t"])), now, &cfg, &cat, &mut left)
            .unwrap();
        assert_eq!(b.assignment.unwrap()[0].1, vec![1, 3]);
        // a's assignment changed from all four to 0 and 2: its next heartbeat says so.
        let a_epoch = g.members["a"].epoch;
        let a = g
            .heartbeat(beat("a", a_epoch, None), now, &cfg, &cat, &mut left)
            .unwrap();
        assert_eq!(a.assignment.unwrap()[0].1, vec![0, 2]);
        let timeout = cfg.session_timeout_ms() as u64;
        let b_epoch = g.members["b"].epoch;
        let mid = now + Duration::from_millis(timeout / 2);
        g.heartbeat(beat("b", b_epoch, None), mid, &cfg, &cat, &mut left)
            .unwrap();
        let later = now + Duration::from_millis(timeout + 1);
        let b = g
            .heartbeat(beat("b", b_epoch, None), later, &cfg, &cat, &mut left)
            .unwrap();
        assert_eq!(left, vec!["a".to_string()]);
        assert_eq!(b.assignment.unwrap()[0].1, vec![0, 1, 2, 3]);
    }

    #[test]
    fn session_epochs() {
        let mut s = HashMap::new();
        let id = Uuid::from_u128(1);
        let step = |epoch, added: Vec<(Uuid, i32)>, has_acks| SessionStep {
            epoch,
            added,
            forgotten: Vec::new(),
            has_acks,
            ack_only: false,
            connection: None,
        };
        assert_eq!(
            session_step(&mut s, "g", "m", step(1, vec![], false))
                .unwrap_err()
                .code,
            codes::SHARE_SESSION_NOT_FOUND
        );
        assert_eq!(
            session_step(&mut s, "g", "m", step(0, vec![(id, 0)], true))
                .unwrap_err()
                .code,
            codes::INVALID_REQUEST
        );
        let v = session_step(&mut s, "g", "m", step(0, vec![(id, 0)], false)).unwrap();
        assert_eq!(v.partitions, vec![(id, 0)]);
        assert_eq!(
            session_step(&mut s, "g", "m", step(2, vec![], false))
                .unwrap_err()
                .code,
            codes::INVALID_SHARE_SESSION_EPOCH
        );
        let v = session_step(&mut s, "g", "m", step(1, vec![(id, 1)], true)).unwrap();
        assert_eq!(v.partitions, vec![(id, 0), (id, 1)]);
        let v = session_step(&mut s, "g", "m", step(-1, vec![], true)).unwrap();
        assert!(v.closed);
        assert!(s.is_empty());
    }
}
