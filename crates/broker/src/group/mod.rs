//! Consumer groups: the classic Kafka group coordinator (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup) and committed offsets (OffsetCommit, OffsetFetch), sharded by group id.
//!
//! ```text
//!   any shard: connection ── handler ──┐  routing::group_coordinator(group_id, shards)
//!                                      ├── local call, or ShardMsg::Group through the mesh
//!   coordinator shard: Coordinator ────┘
//!        groups: HashMap<group id, state::Group>   (members, generation, offsets in memory)
//!        log:    offsets_log::OffsetsLog           (internal state log of shard N:
//!                                                  {data_dir}/__ringlog_state/consumer_offsets/shard-N/)
//! ```
//! The broker is always node 0, so FindCoordinator answers with this broker; *which shard*
//! coordinates a group is a pure function of the group id (FNV-1a mod shards, see
//! [`crate::routing::group_coordinator`]). Each group's state is touched only by its
//! coordinator shard; there is no lock and no shared map. A timer task on every shard ticks
//! every [`TICK_MS`] to expire members (session timeout) and finish overdue join/sync phases
//! (rebalance timeout); it also wakes exactly when a new group's initial rebalance delay ends
//! (`group.initial.rebalance.delay.ms`), so that delay is not rounded up to the next tick.
//!
//! A Java-like consumer joins with JoinGroup (no id) -> MEMBER_ID_REQUIRED -> JoinGroup (with
//! the id) -> SyncGroup. The first and the last are answered at once; the second waits only for
//! the initial delay (0 by default: answered at once when every member the group knows of,
//! pending ids included, has joined) or, in a rebalance, for the other members to rejoin.
//!
//! Committed offsets are written to the shard's internal state log and fdatasynced before the
//! commit is acknowledged; the log is replayed at startup (see [`offsets_log`]). Group membership is
//! not persisted: after a restart members rejoin (their old member ids get UNKNOWN_MEMBER_ID and
//! the clients rejoin as new members, which they do on their own).
//!
//! Supported: the classic protocol with any client-side assignor (metadata and assignments pass
//! through unchanged), static membership, MEMBER_ID_REQUIRED (JoinGroup v4+). Not supported:
//! KIP-848 (ConsumerGroupHeartbeat), transactional offset commits, offset retention expiry.
//!
//! # Invariants
//! - Only the coordinator shard of a group reads or writes its state (`handle` asserts it).
//! - An acknowledged OffsetCommit is durable (fdatasync) and visible to OffsetFetch; offsets of
//!   deleted groups and deleted topics are removed from memory and, through a tombstone record,
//!   from the log.
//! - No `RefCell` borrow of the group map is held across an await.
//! - `initial_delay_due` is at or before the end of every running initial rebalance delay, so
//!   the timer task never wakes late for one (it may wake early when a delay was extended).
//! - Every bound is a named constant below: members per group, groups per shard, metadata and
//!   assignment bytes, offsets metadata bytes.

pub mod admin;
pub mod consumer;
pub mod offsets_log;
pub mod state;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::error::BrokerError;
use super::routing;
use super::shard::{ShardMsg, ShardState};
use crate::protocol::messages::{
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest, SyncGroupRequest,
};
use crate::protocol::wire::{Cx, Reader, Str, Wire, WireError};
use crate::runtime::future::{select, Either};
use crate::runtime::mesh;
use crate::runtime::sync::Notify;
use offsets_log::{OffsetKey, OffsetsLog, StoredOffset};
use state::{Group, GroupState, JoinArgs, JoinOutcome, Reply, SyncOutcome};

/// Timer granularity of session and rebalance timeouts.
pub const TICK_MS: u64 = 100;
/// Default of `group.initial.rebalance.delay.ms`: 0, as in the `server.properties` Kafka ships
/// (Kafka 4.4's code default, `GroupCoordinatorConfig.GROUP_INITIAL_REBALANCE_DELAY_MS_DEFAULT`,
/// is 3000, which that file overrides "for a better out-of-the-box experience"). Why 0 here:
/// - A lone consumer (the common case on a single-node broker) joins in one round trip instead
///   of waiting out the delay: the reason the setting exists is fleets, which can set it.
/// - Consumers that start together often still share the first generation without any
///   delay: a member id handed out with MEMBER_ID_REQUIRED but not yet used holds the join
///   phase open (as in Kafka), and Java, librdkafka and kafka-python consumers all start with
///   that round trip, so a second consumer whose first JoinGroup arrives before the first
///   one's second JoinGroup is waited for.
/// - A consumer arriving after the first generation formed costs one more rebalance, which
///   the classic protocol resolves at the members' next heartbeat. (kafka-python 3.0.12 can
///   hang in such a quick second rebalance: tests/groups_clients.rs runs with a delay.)
///
/// Rejected: ending a positive delay early after a short quiet period. It would change what
/// Kafka's setting means (consumers starting a second apart would no longer share a generation
/// though the operator asked for 3 s), so a positive delay is honoured as Kafka honours it.
pub const INITIAL_REBALANCE_DELAY_MS_DEFAULT: u64 = 0;
/// Largest accepted `group.initial.rebalance.delay.ms`: Kafka's setting is an `int`. The
/// rebalance timeout of the members ends the phase earlier anyway.
pub const INITIAL_REBALANCE_DELAY_MS_MAX: u64 = i32::MAX as u64;
/// Kafka's `group.min.session.timeout.ms` default.
pub const SESSION_TIMEOUT_MS_MIN: i32 = 6_000;
/// Kafka's `group.max.session.timeout.ms` default (30 min).
pub const SESSION_TIMEOUT_MS_MAX: i32 = 1_800_000;
/// Members per group (Kafka's `group.max.size` is unbounded by default; each member costs its
/// metadata and assignment, so ringlog bounds it). Joins beyond it: GROUP_MAX_SIZE_REACHED.
pub const GROUP_MEMBERS_MAX: usize = 1_000;
/// Groups per coordinator shard. Creating more: COORDINATOR_NOT_AVAILABLE (retriable; deleting
/// groups makes room).
pub const GROUPS_PER_SHARD_MAX: usize = 100_000;
/// Total protocol metadata bytes of one JoinGroup (cooperative-sticky metadata lists owned
/// partitions: 1 MiB is far above any sane subscription). Beyond it: INVALID_REQUEST.
pub const JOIN_METADATA_BYTES_MAX: usize = 1 << 20;
/// Protocols listed in one JoinGroup.
pub const JOIN_PROTOCOLS_MAX: usize = 32;
/// One member's assignment in a SyncGroup. Beyond it: INVALID_REQUEST.
pub const ASSIGNMENT_BYTES_MAX: usize = 1 << 20;
/// Kafka's `offset.metadata.max.bytes`. Beyond it: OFFSET_METADATA_TOO_LARGE.
pub const OFFSET_METADATA_BYTES_MAX: usize = 4_096;
/// Group ids longer than this are refused with INVALID_GROUP_ID (they are stored as u16-length
/// strings in the offsets log).
pub const GROUP_ID_BYTES_MAX: usize = 1_024;

/// Work for a group's coordinator shard (crosses shards inside [`ShardMsg::Group`]).
#[allow(missing_docs)]
pub enum GroupOp {
    Join {
        version: i16,
        client_id: String,
        client_host: String,
        req: JoinGroupRequest,
    },
    Sync {
        req: SyncGroupRequest,
    },
    Heartbeat {
        req: HeartbeatRequest,
    },
    Leave {
        version: i16,
        req: LeaveGroupRequest,
    },
    Commit {
        req: OffsetCommitRequest,
    },
    /// TxnOffsetCommit: offsets pending until the producer's transaction ends.
    TxnCommit {
        req: Box<crate::protocol::messages::TxnOffsetCommitRequest>,
    },
    /// From a transaction coordinator: `producer_id`'s transaction ended; its pending offsets
    /// of `group` become committed (`commit`) or are dropped.
    TxnComplete {
        group: String,
        producer_id: i64,
        commit: bool,
    },
    /// Committed offsets of one group: all of them (`None`) or these partitions.
    FetchOffsets {
        group: String,
        partitions: Option<Vec<(String, i32)>>,
    },
    Describe {
        group: String,
    },
    /// Every group this shard coordinates.
    List,
    Delete {
        group: String,
    },
    /// OffsetDelete: forget the group's committed offsets of these partitions, by topic.
    DeleteOffsets {
        group: String,
        topics: Vec<(String, Vec<i32>)>,
    },
    /// A topic was deleted: forget its committed offsets in every group.
    TopicDeleted {
        topic: String,
    },
    /// KIP-848: a consumer group member's heartbeat.
    ConsumerHeartbeat {
        group: String,
        beat: consumer::CBeat,
    },
    /// KIP-848: a consumer group's membership, for ConsumerGroupDescribe.
    ConsumerDescribe {
        group: String,
    },
}

/// A member as DescribeGroups shows it.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    /// The member's address as Kafka shows it (`/127.0.0.1`).
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups and ListGroups show it.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct GroupSummary {
    pub group_id: String,
    /// Kafka state name; "Dead" for a group that does not exist.
    pub state: String,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberSummary>,
    /// "Classic" or "Consumer" (KIP-848), as Kafka 4.4 writes group types.
    pub group_type: &'static str,
}

/// One partition's committed offset in an OffsetFetch answer.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// A transaction's commit for this partition is pending (OffsetFetch with require_stable
    /// answers UNSTABLE_OFFSET_COMMIT).
    pub pending: bool,
}

/// One topic's outcome in an OffsetDelete: the group consumes it (`subscribed`, its offsets
/// kept: GROUP_SUBSCRIBED_TO_TOPIC for each partition), or the partitions' offsets are gone
/// (those that had none included: deleting nothing is no error, as in Kafka).
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct TopicOffsetsDeleted {
    pub topic: String,
    pub subscribed: bool,
    pub partitions: Vec<i32>,
}

/// Per topic, each partition's commit outcome, in request order.
pub type CommitResults = Vec<(String, Vec<(i32, Result<(), BrokerError>)>)>;

/// Each leaving member's outcome: (member id, instance id, result).
pub type LeaveResults = Vec<(String, Option<String>, Result<(), BrokerError>)>;

/// A KIP-848 heartbeat's outcome: the answer and its assignment by topic id, or a refusal.
pub type ConsumerBeatResult =
    Result<(consumer::CReply, Vec<(uuid::Uuid, Vec<i32>)>), consumer::CRefusal>;

/// Answers from the coordinator shard, with typed errors (the handlers turn them into codes).
#[allow(missing_docs)]
pub enum GroupReply {
    Join(JoinOutcome),
    Sync(SyncOutcome),
    Heartbeat(Result<(), BrokerError>),
    /// Per member, in request order (v0-2 name one member: the handler answers its result at
    /// the top level).
    Leave(LeaveResults),
    /// A group-level refusal (every partition gets it), or each partition's outcome.
    Commit(Result<CommitResults, BrokerError>),
    Offsets(Result<Vec<FetchedOffset>, BrokerError>),
    Describe(GroupSummary),
    List(Vec<GroupSummary>),
    Delete(Result<(), BrokerError>),
    /// A group-level refusal, or each topic's outcome in request order.
    DeleteOffsets(Result<Vec<TopicOffsetsDeleted>, BrokerError>),
    /// KIP-848 heartbeat: the answer with the assignment by topic id, or a refusal.
    ConsumerHeartbeat(ConsumerBeatResult),
    /// KIP-848 describe: the group, if it is a consumer group.
    ConsumerDescribe(Option<consumer::ConsumerGroup>),
    Done,
}

/// The coordinator state of one shard: the groups it coordinates and its offsets log.
pub struct Coordinator {
    shard: usize,
    groups: Rc<RefCell<HashMap<String, Group>>>,
    log: OffsetsLog,
    /// The earliest end of a running initial rebalance delay (see
    /// [`Group::initial_delay_end`]): the timer task sleeps until then at most.
    initial_delay_due: Cell<Option<Instant>>,
    /// Wakes the timer task when `initial_delay_due` moved earlier.
    timer_wake: Notify,
    /// KIP-848 consumer groups' membership by group id (their committed offsets are in
    /// `groups`, as classic groups' are).
    consumers: RefCell<HashMap<String, consumer::ConsumerGroup>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Kafka's rule for group ids: non-empty (and ours: bounded).
pub fn valid_group_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= GROUP_ID_BYTES_MAX
}

/// After a failed write of a commit: every partition that passed the checks answers that its
/// offset was not stored.
fn not_stored(results: &mut CommitResults, group: &str) {
    for (_, rs) in results {
        for (_, outcome) in rs.iter_mut().filter(|(_, o)| o.is_ok()) {
            *outcome = Err(BrokerError::OffsetsNotStored {
                group: group.to_string(),
            });
        }
    }
}

/// One partition's offset in an OffsetCommit or TxnOffsetCommit request.
struct OffsetToStore<'a> {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<&'a str>,
}

/// The checks every committed offset passes (the partition exists, the metadata fits), shared by
/// OffsetCommit and TxnOffsetCommit: each partition's outcome, per topic in request order, and
/// the offsets to store.
fn checked_offsets<'a, P>(
    shard: &ShardState,
    group: &str,
    topics: impl Iterator<Item = (&'a str, P)>,
) -> (CommitResults, Vec<(String, i32, StoredOffset)>)
where
    P: Iterator<Item = OffsetToStore<'a>>,
{
    let ts = now_ms();
    let mut results = Vec::new();
    let mut entries = Vec::new();
    for (name, parts) in topics {
        let topic = name.to_string();
        let partitions = shard.catalog.borrow().get(&topic).map(|m| m.partitions);
        let mut rs = Vec::new();
        for p in parts {
            let metadata_bytes = p.metadata.map_or(0, str::len);
            let outcome = if !partitions.is_some_and(|n| p.partition >= 0 && p.partition < n) {
                Err(BrokerError::UnknownPartition {
                    topic: topic.clone(),
                    partition: p.partition,
                })
            } else if metadata_bytes > OFFSET_METADATA_BYTES_MAX {
                Err(BrokerError::OffsetMetadataTooLarge {
                    group: group.to_string(),
                    metadata_bytes,
                })
            } else {
                entries.push((
                    topic.clone(),
                    p.partition,
                    StoredOffset {
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        commit_timestamp_ms: ts,
                        metadata: p.metadata.map(str::to_string),
                    },
                ));
                Ok(())
            };
            rs.push((p.partition, outcome));
        }
        results.push((topic, rs));
    }
    (results, entries)
}

impl Coordinator {
    /// Open shard `shard`'s offsets log and rebuild the groups that have committed offsets.
    /// Call [`offsets_log::prepare`] once before any shard opens.
    pub async fn open(data_dir: &Path, shard: usize, shards: usize) -> io::Result<Coordinator> {
        let (log, offsets, mut pending) = OffsetsLog::open(data_dir, shard, shards).await?;
        let mut groups = HashMap::new();
        for (id, offsets) in offsets {
            let mut g = Group::new(id.clone());
            g.offsets = offsets;
            g.txn_offsets = pending.remove(&id).unwrap_or_default();
            groups.insert(id, g);
        }
        for (id, txn_offsets) in pending {
            let mut g = Group::new(id.clone());
            g.txn_offsets = txn_offsets;
            groups.insert(id, g);
        }
        if !groups.is_empty() {
            tracing::info!(
                "shard {shard}: {} group(s) with committed offsets loaded",
                groups.len()
            );
        }
        let groups = Rc::new(RefCell::new(groups));
        Ok(Coordinator {
            shard,
            groups,
            log,
            initial_delay_due: Cell::new(None),
            timer_wake: Notify::new(),
            consumers: RefCell::new(HashMap::new()),
        })
    }

    /// Whether a classic group `id` is known here (members or committed offsets): a share group
    /// may not take its id.
    pub fn has_group(&self, id: &str) -> bool {
        self.groups.borrow().contains_key(id) || self.consumers.borrow().contains_key(id)
    }

    /// Number of groups this shard holds (members or offsets).
    pub fn group_count(&self) -> usize {
        self.groups.borrow().len()
    }

    /// Calls `f(group, topic, partition, offset)` for every committed offset of the groups this
    /// shard coordinates (the metrics endpoint's consumer lag). `f` must not call back into the
    /// coordinator.
    pub fn for_each_committed(&self, mut f: impl FnMut(&str, &str, i32, i64)) {
        for (id, group) in self.groups.borrow().iter() {
            for ((topic, partition), stored) in &group.offsets {
                f(id, topic, *partition, stored.offset);
            }
        }
    }

    /// One timer tick: expire members, finish overdue phases, forget empty groups.
    pub fn tick(&self) {
        let now = Instant::now();
        {
            // Empty consumer groups stay (Kafka keeps them, Empty, with their epochs) until
            // DeleteGroups removes them or a classic member takes the id over.
            for c in self.consumers.borrow_mut().values_mut() {
                c.expire(now);
            }
        }
        let mut groups = self.groups.borrow_mut();
        for g in groups.values_mut() {
            g.tick(now);
        }
        groups.retain(|_, g| !(g.state == GroupState::Empty && g.is_disposable()));
        self.initial_delay_due
            .set(groups.values().filter_map(Group::initial_delay_end).min());
    }

    /// Complete the join phases whose initial delay is over (between ticks).
    fn complete_initial_delays(&self, now: Instant) {
        let mut groups = self.groups.borrow_mut();
        for g in groups.values_mut() {
            if g.initial_delay_end().is_some_and(|end| end <= now) {
                g.try_complete_join(now);
            }
        }
        self.initial_delay_due
            .set(groups.values().filter_map(Group::initial_delay_end).min());
    }

    /// Answer every waiting join and sync (shutdown).
    pub fn fail_waiters(&self) {
        for g in self.groups.borrow_mut().values_mut() {
            g.fail_all_waiters(|| BrokerError::ShuttingDown);
        }
    }

    /// Do `op` for a group this shard coordinates.
    pub async fn handle(&self, shard: &ShardState, op: GroupOp) -> GroupReply {
        match op {
            GroupOp::Join {
                version,
                client_id,
                client_host,
                req,
            } => {
                let consumer_live = self
                    .consumers
                    .borrow()
                    .get(&*req.group_id)
                    .map(|c| !c.members.is_empty());
                if consumer_live == Some(false) {
                    // An empty KIP-848 group: a classic member takes the id over (its offsets
                    // carry over, as in Kafka's group conversion).
                    self.consumers.borrow_mut().remove(&*req.group_id);
                }
                if consumer_live == Some(true) {
                    // A KIP-848 group with members: a classic member may not join it.
                    let e = BrokerError::InconsistentGroupProtocol {
                        group: req.group_id.to_string(),
                        member_id: req.member_id.to_string(),
                    };
                    return GroupReply::Join(JoinOutcome::error(e, &req.member_id));
                }
                let delay = Duration::from_millis(shard.config.group_initial_rebalance_delay_ms);
                let reply = self.join(version, client_id, client_host, req, delay);
                GroupReply::Join(match reply {
                    Reply::Now(o) => o,
                    Reply::Later(rx) => match select(rx.recv(), shard.shutdown.notified()).await {
                        Either::Left(Some(o)) => o,
                        Either::Left(None) | Either::Right(()) => {
                            JoinOutcome::error(BrokerError::ShuttingDown, "")
                        }
                    },
                })
            }
            GroupOp::Sync { req } => {
                let reply = self.sync(req);
                GroupReply::Sync(match reply {
                    Reply::Now(o) => o,
                    Reply::Later(rx) => match select(rx.recv(), shard.shutdown.notified()).await {
                        Either::Left(Some(o)) => o,
                        Either::Left(None) | Either::Right(()) => {
                            SyncOutcome::error(BrokerError::ShuttingDown)
                        }
                    },
                })
            }
            GroupOp::Heartbeat { req } => {
                let group = req.group_id.to_string();
                let mut groups = self.groups.borrow_mut();
                GroupReply::Heartbeat(match groups.get_mut(&group) {
                    None => Err(unknown_member(group, &req.member_id)),
                    Some(g) => g.heartbeat(
                        &req.member_id,
                        req.group_instance_id.as_deref(),
                        req.generation_id,
                        Instant::now(),
                    ),
                })
            }
            GroupOp::Leave { version, req } => GroupReply::Leave(self.leave(version, req)),
            GroupOp::Commit { req } => self.commit(shard, req).await,
            GroupOp::TxnCommit { req } => self.txn_commit(shard, *req).await,
            GroupOp::TxnComplete {
                group,
                producer_id,
                commit,
            } => GroupReply::Delete(self.txn_complete(&group, producer_id, commit).await),
            GroupOp::FetchOffsets { group, partitions } => self.fetch_offsets(&group, partitions),
            GroupOp::Describe { group } => GroupReply::Describe(
                self.groups
                    .borrow()
                    .get(&group)
                    .map(summarize)
                    .unwrap_or_else(|| dead_group(&group)),
            ),
            GroupOp::List => {
                let consumers = self.consumers.borrow();
                let mut list: Vec<GroupSummary> = self
                    .groups
                    .borrow()
                    .values()
                    .filter(|g| !consumers.contains_key(&g.id))
                    .map(summarize)
                    .collect();
                list.extend(consumers.iter().map(|(id, c)| GroupSummary {
                    group_id: id.clone(),
                    state: c.state_name().to_string(),
                    protocol_type: "consumer".to_string(),
                    protocol_name: String::new(),
                    members: Vec::new(),
                    group_type: "Consumer",
                }));
                GroupReply::List(list)
            }
            GroupOp::Delete { group } => GroupReply::Delete(self.delete(&group).await),
            GroupOp::DeleteOffsets { group, topics } => {
                GroupReply::DeleteOffsets(self.delete_offsets(&group, topics).await)
            }
            GroupOp::TopicDeleted { topic } => {
                self.topic_deleted(&topic).await;
                GroupReply::Done
            }
            GroupOp::ConsumerHeartbeat { group, beat } => {
                GroupReply::ConsumerHeartbeat(self.consumer_heartbeat(shard, &group, beat))
            }
            GroupOp::ConsumerDescribe { group } => {
                GroupReply::ConsumerDescribe(self.consumers.borrow().get(&group).cloned())
            }
        }
    }

    /// A KIP-848 heartbeat. A group id held by a classic group with members is refused (as
    /// Kafka does); one with only committed offsets becomes a consumer group.
    fn consumer_heartbeat(
        &self,
        shard: &ShardState,
        group: &str,
        beat: consumer::CBeat,
    ) -> ConsumerBeatResult {
        let classic_busy = self
            .groups
            .borrow()
            .get(group)
            .is_some_and(|g| !g.members.is_empty() || g.state != GroupState::Empty);
        if classic_busy {
            return Err(consumer::CRefusal {
                code: crate::protocol::error::GROUP_ID_NOT_FOUND,
                message: format!("Group {group} is not a consumer group."),
            });
        }
        let mut consumers = self.consumers.borrow_mut();
        if !consumers.contains_key(group)
            && self.groups.borrow().len() + consumers.len() >= GROUPS_PER_SHARD_MAX
        {
            return Err(consumer::CRefusal {
                code: crate::protocol::error::COORDINATOR_NOT_AVAILABLE,
                message: format!(
                    "shard {} coordinates {GROUPS_PER_SHARD_MAX} groups",
                    self.shard
                ),
            });
        }
        let catalog = shard.catalog.borrow();
        let g = consumers.entry(group.to_string()).or_default();
        let reply = g.heartbeat(beat, Instant::now(), &CatalogTopics(&catalog))?;
        let by_id = reply
            .assignment
            .as_ref()
            .map(|a| consumer::by_topic_id(a, |t| catalog.get(t).map(|m| m.id)))
            .unwrap_or_default();
        Ok((reply, by_id))
    }

    fn join(
        &self,
        version: i16,
        client_id: String,
        client_host: String,
        req: JoinGroupRequest,
        initial_rebalance_delay: Duration,
    ) -> Reply<JoinOutcome> {
        let group = req.group_id.to_string();
        let member_id = req.member_id.to_string();
        let fail = |e: BrokerError| Reply::Now(JoinOutcome::error(e, &member_id));
        if !valid_group_id(&group) {
            return fail(BrokerError::InvalidGroupId { group });
        }
        if !(SESSION_TIMEOUT_MS_MIN..=SESSION_TIMEOUT_MS_MAX).contains(&req.session_timeout_ms) {
            return fail(BrokerError::InvalidSessionTimeout {
                group,
                session_timeout_ms: req.session_timeout_ms,
            });
        }
        let metadata_bytes: usize = req
            .protocols
            .iter()
            .map(|p| p.metadata.len() + p.name.len())
            .sum();
        if metadata_bytes > JOIN_METADATA_BYTES_MAX || req.protocols.len() > JOIN_PROTOCOLS_MAX {
            let e = BrokerError::JoinMetadataTooLarge {
                group,
                metadata_bytes,
                protocols: req.protocols.len(),
            };
            tracing::warn!("{e}");
            return fail(e);
        }
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        let rebalance_ms = if req.rebalance_timeout_ms > 0 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        };
        let args = JoinArgs {
            known_member_id_required: JoinGroupRequest::requires_known_member_id(version),
            member_id: member_id.clone(),
            instance_id: req.group_instance_id.as_deref().map(str::to_string),
            client_id,
            client_host,
            session_timeout: Duration::from_millis(req.session_timeout_ms as u64),
            rebalance_timeout: Duration::from_millis(rebalance_ms as u64),
            protocol_type: req.protocol_type.to_string(),
            protocols: req
                .protocols
                .iter()
                // Copied out of the request frame: a slice would keep the whole frame (up to
                // request-bytes-max) alive as long as the member lives, outside the request
                // memory budget, which is given back when the request is done.
                .map(|p| (p.name.to_string(), Bytes::copy_from_slice(&p.metadata)))
                .collect(),
            initial_rebalance_delay,
        };
        let mut groups = self.groups.borrow_mut();
        if !groups.contains_key(&group) {
            if !member_id.is_empty() {
                return fail(BrokerError::UnknownMember {
                    group,
                    member_id: member_id.clone(),
                });
            }
            if groups.len() >= GROUPS_PER_SHARD_MAX {
                let e = BrokerError::GroupsFull {
                    shard: self.shard,
                    group,
                };
                tracing::warn!("{e} ({GROUPS_PER_SHARD_MAX} groups)");
                return fail(e);
            }
            groups.insert(group.clone(), Group::new(group.clone()));
        }
        let g = groups.get_mut(&group).expect("inserted above");
        let reply = g.join(args, Instant::now());
        if let Some(end) = g.initial_delay_end() {
            if self.initial_delay_due.get().is_none_or(|due| end < due) {
                self.initial_delay_due.set(Some(end));
                self.timer_wake.notify_waiters();
            }
        }
        reply
    }

    fn sync(&self, req: SyncGroupRequest) -> Reply<SyncOutcome> {
        let group = req.group_id.to_string();
        if req
            .assignments
            .iter()
            .any(|a| a.assignment.len() > ASSIGNMENT_BYTES_MAX)
        {
            let e = BrokerError::AssignmentTooLarge { group };
            return Reply::Now(SyncOutcome::error(e));
        }
        let mut groups = self.groups.borrow_mut();
        let Some(g) = groups.get_mut(&group) else {
            return Reply::Now(SyncOutcome::error(unknown_member(group, &req.member_id)));
        };
        g.sync(
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
            (req.protocol_type.as_deref(), req.protocol_name.as_deref()),
            req.assignments
                .into_iter()
                // Copied out of the frame, as the join metadata above.
                .map(|a| {
                    (
                        a.member_id.to_string(),
                        Bytes::copy_from_slice(&a.assignment),
                    )
                })
                .collect(),
            Instant::now(),
        )
    }

    fn leave(&self, version: i16, req: LeaveGroupRequest) -> LeaveResults {
        let group = req.group_id.to_string();
        // v0-2 name one member (its error is answered at the top level); v3+ a batch, answered
        // per member.
        let batch = LeaveGroupRequest::carries("members", version);
        let leaving: Vec<(String, Option<String>)> = if !batch {
            vec![(req.member_id.to_string(), None)]
        } else {
            req.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_deref().map(str::to_string),
                    )
                })
                .collect()
        };
        let mut groups = self.groups.borrow_mut();
        let now = Instant::now();
        leaving
            .into_iter()
            .map(|(id, inst)| {
                let left = match groups.get_mut(&group) {
                    None => Err(unknown_member(group.clone(), &id)),
                    Some(g) => g.leave(&id, inst.as_deref(), now),
                };
                (id, inst, left)
            })
            .collect()
    }

    async fn commit(&self, shard: &ShardState, req: OffsetCommitRequest) -> GroupReply {
        let group = req.group_id.to_string();
        if let Err(e) = self.may_commit(&group, &req) {
            return GroupReply::Commit(Err(e));
        }
        let (mut results, entries) = checked_offsets(
            shard,
            &group,
            req.topics.iter().map(|t| {
                let parts = t.partitions.iter().map(|p| OffsetToStore {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_deref(),
                });
                (&*t.name, parts)
            }),
        );
        if entries.is_empty() {
            return GroupReply::Commit(Ok(results));
        }
        let groups = self.groups.clone();
        let (id, stored) = (group.clone(), entries.clone());
        let apply = move || {
            let mut groups = groups.borrow_mut();
            let g = groups.entry(id.clone()).or_insert_with(|| Group::new(id));
            for (t, p, o) in stored {
                g.offsets.insert((t, p), o);
            }
        };
        if let Err(e) = self.log.commit(&group, &entries, apply).await {
            tracing::error!("offset commit not stored: {e}");
            not_stored(&mut results, &group);
        }
        GroupReply::Commit(Ok(results))
    }

    /// TxnOffsetCommit: the offsets are stored as pending under the producer id (durable, so a
    /// prepared commit completes them after a restart) and become the group's only when the
    /// transaction commits ([`Coordinator::txn_complete`]). The member and generation (v3+,
    /// KIP-447) are checked like an OffsetCommit's when given.
    async fn txn_commit(
        &self,
        shard: &ShardState,
        req: crate::protocol::messages::TxnOffsetCommitRequest,
    ) -> GroupReply {
        let group = req.group_id.to_string();
        let as_commit = OffsetCommitRequest {
            group_id: req.group_id.clone(),
            generation_id_or_member_epoch: req.generation_id,
            member_id: req.member_id.clone(),
            group_instance_id: req.group_instance_id.clone(),
            ..Default::default()
        };
        // Without a member (v0-2, or a producer that passed only the group id) Kafka checks
        // nothing more than the group id.
        let anonymous = req.generation_id < 0 && req.member_id.is_empty();
        let checked = if anonymous {
            if valid_group_id(&group) {
                Ok(())
            } else {
                Err(BrokerError::InvalidGroupId {
                    group: group.clone(),
                })
            }
        } else {
            self.may_commit(&group, &as_commit)
        };
        if let Err(e) = checked {
            return GroupReply::Commit(Err(e));
        }
        let (mut results, entries) = checked_offsets(
            shard,
            &group,
            req.topics.iter().map(|t| {
                let parts = t.partitions.iter().map(|p| OffsetToStore {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_deref(),
                });
                (&*t.name, parts)
            }),
        );
        if entries.is_empty() {
            return GroupReply::Commit(Ok(results));
        }
        let groups = self.groups.clone();
        let (id, stored, pid) = (group.clone(), entries.clone(), req.producer_id);
        let apply = move || {
            let mut groups = groups.borrow_mut();
            let g = groups.entry(id.clone()).or_insert_with(|| Group::new(id));
            let pending = g.txn_offsets.entry(pid).or_default();
            for (t, p, o) in stored {
                pending.insert((t, p), o);
            }
        };
        if let Err(e) = self
            .log
            .commit_pending(&group, req.producer_id, &entries, apply)
            .await
        {
            tracing::error!("transactional offset commit not stored: {e}");
            not_stored(&mut results, &group);
        }
        GroupReply::Commit(Ok(results))
    }

    /// The end of `producer_id`'s transaction for `group`: its pending offsets become the
    /// group's (`commit`) or are dropped. Nothing pending: nothing to do (a transaction
    /// completed again after a restart).
    pub async fn txn_complete(
        &self,
        group: &str,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), BrokerError> {
        let entries: Vec<(String, i32, StoredOffset)> = {
            let groups = self.groups.borrow();
            let Some(pending) = groups
                .get(group)
                .and_then(|g| g.txn_offsets.get(&producer_id))
            else {
                return Ok(());
            };
            pending
                .iter()
                .map(|((t, p), o)| (t.clone(), *p, o.clone()))
                .collect()
        };
        let groups = self.groups.clone();
        let (id, stored) = (group.to_string(), entries.clone());
        let apply = move || {
            let mut groups = groups.borrow_mut();
            if let Some(g) = groups.get_mut(&id) {
                g.txn_offsets.remove(&producer_id);
                if commit {
                    for (t, p, o) in stored {
                        g.offsets.insert((t, p), o);
                    }
                }
            }
        };
        self.log
            .complete_pending(group, producer_id, &entries, commit, apply)
            .await
            .map_err(|e| {
                tracing::error!("transaction end of group {group} not stored: {e}");
                BrokerError::OffsetsNotStored {
                    group: group.to_string(),
                }
            })
    }

    /// Kafka's doCommitOffsets checks, in its order: may this member commit for `group` now?
    /// A "simple" commit (negative generation) to an unknown group creates it.
    fn may_commit(&self, group: &str, req: &OffsetCommitRequest) -> Result<(), BrokerError> {
        if !valid_group_id(group) {
            return Err(BrokerError::InvalidGroupId {
                group: group.to_string(),
            });
        }
        let generation = req.generation_id_or_member_epoch;
        let member_id = &*req.member_id;
        let mut groups = self.groups.borrow_mut();
        let group = group.to_string();
        if let Some(c) = self.consumers.borrow().get(&group) {
            // A KIP-848 group: the member's current epoch is the generation.
            c.may_commit(member_id, generation).map_err(|r| {
                if r.code == consumer::codes::STALE_MEMBER_EPOCH {
                    BrokerError::StaleMemberEpoch {
                        group: group.clone(),
                        member_id: member_id.to_string(),
                        epoch: generation,
                    }
                } else {
                    unknown_member(group.clone(), member_id)
                }
            })?;
            groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(group.clone()));
            return Ok(());
        }
        let Some(g) = groups.get(&group) else {
            if generation >= 0 {
                return Err(BrokerError::IllegalGeneration { group, generation });
            }
            if groups.len() >= GROUPS_PER_SHARD_MAX {
                return Err(BrokerError::GroupsFull {
                    shard: self.shard,
                    group,
                });
            }
            groups.insert(group.clone(), Group::new(group));
            return Ok(());
        };
        if g.is_fenced(req.group_instance_id.as_deref(), member_id) {
            Err(BrokerError::FencedInstanceId {
                group,
                member_id: member_id.to_string(),
            })
        } else if generation < 0 && g.state == GroupState::Empty {
            Ok(())
        } else if g.state == GroupState::CompletingRebalance {
            Err(BrokerError::RebalanceInProgress { group })
        } else if g.member(member_id).is_none() {
            Err(BrokerError::UnknownMember {
                group,
                member_id: member_id.to_string(),
            })
        } else if generation != g.generation {
            Err(BrokerError::IllegalGeneration { group, generation })
        } else {
            Ok(())
        }
    }

    fn fetch_offsets(&self, group: &str, partitions: Option<Vec<(String, i32)>>) -> GroupReply {
        if !valid_group_id(group) {
            return GroupReply::Offsets(Err(BrokerError::InvalidGroupId {
                group: group.to_string(),
            }));
        }
        let groups = self.groups.borrow();
        let offsets = groups.get(group).map(|g| &g.offsets);
        let txn_offsets = groups.get(group).map(|g| &g.txn_offsets);
        let pending = |t: &str, p: i32| {
            txn_offsets.is_some_and(|by_producer| {
                by_producer
                    .values()
                    .any(|m| m.contains_key(&(t.to_string(), p)))
            })
        };
        let fetched = |t: &str, p: i32, o: Option<&StoredOffset>| FetchedOffset {
            topic: t.to_string(),
            partition: p,
            offset: o.map_or(-1, |o| o.offset),
            leader_epoch: o.map_or(-1, |o| o.leader_epoch),
            metadata: o.map_or(Some(String::new()), |o| o.metadata.clone()),
            pending: pending(t, p),
        };
        let out = match partitions {
            Some(list) => list
                .iter()
                .map(|(t, p)| fetched(t, *p, offsets.and_then(|m| m.get(&(t.clone(), *p)))))
                .collect(),
            None => offsets
                .map(|m| {
                    m.iter()
                        .map(|((t, p), o)| fetched(t, *p, Some(o)))
                        .collect()
                })
                .unwrap_or_default(),
        };
        GroupReply::Offsets(Ok(out))
    }

    async fn delete(&self, group: &str) -> Result<(), BrokerError> {
        let named = || group.to_string();
        if !valid_group_id(group) {
            return Err(BrokerError::InvalidGroupId { group: named() });
        }
        if self
            .consumers
            .borrow()
            .get(group)
            .is_some_and(|c| !c.members.is_empty())
        {
            return Err(BrokerError::NonEmptyGroup { group: named() });
        }
        if self.consumers.borrow_mut().remove(group).is_some()
            && !self.groups.borrow().contains_key(group)
        {
            // An empty consumer group without committed offsets: nothing more to delete.
            return Ok(());
        }
        {
            let groups = self.groups.borrow();
            match groups.get(group) {
                None => return Err(BrokerError::GroupNotFound { group: named() }),
                Some(g) if g.state != GroupState::Empty || !g.members.is_empty() => {
                    return Err(BrokerError::NonEmptyGroup { group: named() })
                }
                Some(_) => {}
            }
        }
        // A tombstone for each committed offset; memory forgets exactly what became durable.
        let keys: Vec<OffsetKey> = self.groups.borrow()[group]
            .offsets
            .keys()
            .map(|(t, p)| (named(), t.clone(), *p))
            .collect();
        match self.log.delete(keys, forget_offsets(&self.groups)).await {
            Ok(()) => {
                // A commit that raced the deletion stays (its record follows the tombstones).
                let mut groups = self.groups.borrow_mut();
                if groups
                    .get(group)
                    .is_some_and(|g| g.members.is_empty() && g.offsets.is_empty())
                {
                    groups.remove(group);
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!("deleting group {group}: {e}");
                Err(BrokerError::GroupNotDeleted { group: named() })
            }
        }
    }

    /// OffsetDelete (KIP-496), as Kafka 4.4's coordinator decides it: an unknown group is
    /// GROUP_ID_NOT_FOUND; a classic group with members that does not use the "consumer"
    /// protocol type is NON_EMPTY_GROUP (its topics cannot be known); otherwise the offsets of
    /// each topic the group is subscribed to are kept (GROUP_SUBSCRIBED_TO_TOPIC) and the others
    /// go, through a durable tombstone each. An Empty group is subscribed to nothing.
    async fn delete_offsets(
        &self,
        group: &str,
        topics: Vec<(String, Vec<i32>)>,
    ) -> Result<Vec<TopicOffsetsDeleted>, BrokerError> {
        let named = || group.to_string();
        if !valid_group_id(group) {
            return Err(BrokerError::InvalidGroupId { group: named() });
        }
        let subscribed = self.subscribed_topics(group)?;
        let results: Vec<TopicOffsetsDeleted> = topics
            .into_iter()
            .map(|(topic, partitions)| TopicOffsetsDeleted {
                subscribed: subscribed.as_ref().is_none_or(|s| s.contains(&topic)),
                topic,
                partitions,
            })
            .collect();
        // A tombstone for each committed offset asked for (a partition listed twice: once).
        let keys: Vec<OffsetKey> = {
            let groups = self.groups.borrow();
            let offsets = groups.get(group).map(|g| &g.offsets);
            let mut keys = std::collections::BTreeSet::new();
            for t in results.iter().filter(|t| !t.subscribed) {
                for &p in &t.partitions {
                    if offsets.is_some_and(|o| o.contains_key(&(t.topic.clone(), p))) {
                        keys.insert((named(), t.topic.clone(), p));
                    }
                }
            }
            keys.into_iter().collect()
        };
        if keys.is_empty() {
            return Ok(results);
        }
        match self.log.delete(keys, forget_offsets(&self.groups)).await {
            Ok(()) => Ok(results),
            Err(e) => {
                tracing::error!("deleting offsets of group {group}: {e}");
                Err(BrokerError::OffsetsNotStored { group: named() })
            }
        }
    }

    /// The topics `group` consumes, for OffsetDelete: `None` when they cannot be known (every
    /// topic counts as subscribed), a refusal when the group is unknown or is a non-empty
    /// classic group of another protocol type than "consumer".
    fn subscribed_topics(
        &self,
        group: &str,
    ) -> Result<Option<std::collections::BTreeSet<String>>, BrokerError> {
        if let Some(c) = self.consumers.borrow().get(group) {
            // KIP-848: the members' subscriptions (an Empty group has none).
            let topics = c.members.values().flat_map(|m| m.topics.iter().cloned());
            return Ok(Some(topics.collect()));
        }
        let groups = self.groups.borrow();
        let Some(g) = groups.get(group) else {
            return Err(BrokerError::GroupNotFound {
                group: group.to_string(),
            });
        };
        if g.state == GroupState::Empty && g.members.is_empty() {
            return Ok(Some(Default::default()));
        }
        if g.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return Err(BrokerError::NonEmptyGroup {
                group: group.to_string(),
            });
        }
        let Some(protocol) = g.protocol_name.as_deref() else {
            return Ok(None);
        };
        let mut topics = std::collections::BTreeSet::new();
        for m in &g.members {
            let metadata = m.protocols.iter().find(|(n, _)| n == protocol);
            match metadata.map(|(_, b)| subscription_topics(b.clone())) {
                Some(Ok(ts)) => topics.extend(ts),
                // Unreadable metadata: Kafka then treats every topic as subscribed.
                Some(Err(_)) | None => return Ok(None),
            }
        }
        Ok(Some(topics))
    }

    async fn topic_deleted(&self, topic: &str) {
        let keys: Vec<OffsetKey> = self
            .groups
            .borrow()
            .iter()
            .flat_map(|(id, g)| {
                g.offsets
                    .keys()
                    .filter(|(t, _)| t == topic)
                    .map(move |(t, p)| (id.clone(), t.clone(), *p))
            })
            .collect();
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.log.delete(keys, forget_offsets(&self.groups)).await {
            tracing::error!("forgetting offsets of deleted topic {topic}: {e}");
        }
    }
}

/// The protocol type of Kafka consumers' classic groups, whose member metadata is a
/// ConsumerProtocolSubscription.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The topics of a classic consumer's JoinGroup metadata (Kafka's ConsumerProtocolSubscription):
/// an i16 version, then the topic names as v0 lays them out, a prefix every later version keeps.
fn subscription_topics(metadata: Bytes) -> Result<Vec<String>, WireError> {
    let mut r = Reader::new(metadata);
    r.i16()?;
    let cx = Cx {
        version: 0,
        flexible: false,
        nullable: false,
    };
    let topics = Vec::<Str>::read(&mut r, cx)?;
    Ok(topics.iter().map(|t| t.to_string()).collect())
}

/// Forgets committed offsets in memory, once their tombstones are durable.
fn forget_offsets(groups: &Rc<RefCell<HashMap<String, Group>>>) -> impl Fn(&[OffsetKey]) {
    let groups = groups.clone();
    move |keys| {
        let mut groups = groups.borrow_mut();
        for (group, topic, partition) in keys {
            if let Some(g) = groups.get_mut(group) {
                g.offsets.remove(&(topic.clone(), *partition));
            }
        }
    }
}

/// A member of a group this shard does not hold.
/// The catalog as the KIP-848 assignor sees it.
struct CatalogTopics<'a>(&'a crate::catalog::Catalog);

impl consumer::Topics for CatalogTopics<'_> {
    fn partitions(&self, topic: &str) -> Option<i32> {
        self.0.get(topic).map(|m| m.partitions)
    }
}

fn unknown_member(group: String, member_id: &str) -> BrokerError {
    let member_id = member_id.to_string();
    BrokerError::UnknownMember { group, member_id }
}

fn summarize(g: &Group) -> GroupSummary {
    let settled = matches!(
        g.state,
        GroupState::Stable | GroupState::CompletingRebalance
    );
    let protocol = g.protocol_name.clone().unwrap_or_default();
    GroupSummary {
        group_id: g.id.clone(),
        state: g.state.name().to_string(),
        protocol_type: g.current_protocol_type().unwrap_or_default(),
        group_type: "Classic",
        protocol_name: if settled {
            protocol.clone()
        } else {
            String::new()
        },
        members: g
            .members
            .iter()
            .map(|m| MemberSummary {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if settled {
                    m.protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default()
                } else {
                    Bytes::new()
                },
                assignment: if g.state == GroupState::Stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect(),
    }
}

fn dead_group(id: &str) -> GroupSummary {
    GroupSummary {
        group_id: id.to_string(),
        state: "Dead".into(),
        protocol_type: String::new(),
        protocol_name: String::new(),
        members: Vec::new(),
        group_type: "Classic",
    }
}

/// Send `op` to shard `target`'s coordinator (or run it here) and wait for the answer.
pub async fn call_shard(
    shard: &Rc<ShardState>,
    target: usize,
    op: GroupOp,
) -> Result<GroupReply, BrokerError> {
    if target == shard.id {
        return Ok(shard.groups.handle(shard, op).await);
    }
    let unavailable = BrokerError::CoordinatorUnavailable { shard: target };
    let (tx, rx) = mesh::oneshot();
    if !shard.send(target, ShardMsg::Group { op, reply: tx }).await {
        return Err(unavailable);
    }
    rx.recv().await.ok_or(unavailable)
}

/// Send `op` to the coordinator shard of `group_id`.
pub async fn call(
    shard: &Rc<ShardState>,
    group_id: &str,
    op: GroupOp,
) -> Result<GroupReply, BrokerError> {
    call_shard(shard, routing::group_coordinator(group_id, shard.count), op).await
}

/// Tell every shard's coordinator that a topic was deleted (offset cleanup).
pub async fn topic_deleted(shard: &Rc<ShardState>, topic: &str) {
    for target in 0..shard.count {
        let _ = call_shard(
            shard,
            target,
            GroupOp::TopicDeleted {
                topic: topic.to_string(),
            },
        )
        .await;
    }
}

/// The per-shard timer task: ticks every [`TICK_MS`] and wakes in between when an initial
/// rebalance delay ends, until shutdown; then answers waiting joins and syncs.
pub async fn run_timers(shard: Rc<ShardState>) {
    let tick = Duration::from_millis(TICK_MS);
    let mut next_tick = Instant::now() + tick;
    while !shard.shutting_down.get() {
        let groups = &shard.groups;
        // Created before the sleep is chosen: a join moving the due time earlier from here on
        // wakes this wait.
        let moved = groups.timer_wake.notified();
        let wake_at = groups
            .initial_delay_due
            .get()
            .map_or(next_tick, |due| due.min(next_tick));
        let sleep = crate::runtime::time::sleep_until(wake_at);
        let stop = shard.shutdown.notified();
        if let Either::Right(Either::Right(())) = select(sleep, select(moved, stop)).await {
            break;
        }
        let now = Instant::now();
        if now >= next_tick {
            groups.tick();
            next_tick = now + tick;
        } else if groups.initial_delay_due.get().is_some_and(|due| due <= now) {
            groups.complete_initial_delays(now);
        }
    }
    shard.groups.fail_waiters();
}
