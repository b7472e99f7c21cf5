//! One shard's broker state and its inbox: what other shards may ask it to do.
//!
//! # Invariants
//! - A shard touches only the partitions `routing::owner` gives it; everything else is a message
//!   to the owner through the mesh, answered through a one-shot reply.
//! - Record bytes never cross shards by copy: a Produce forwards the request's `Bytes` (a
//!   reference-counted slice), a Fetch gets back file descriptors and ranges (`dup`ed, so the
//!   owner may delete the segment meanwhile) and sends them itself.
//! - The catalog copy changes only on messages from the controller shard, applied in order.
//! - A topic enters the catalog only after every shard opened its partitions of it, and
//!   `max.partitions` and the partition count are checked before anything is made; a creation
//!   that fails at any step is rolled back on every shard (partitions closed, directories
//!   removed), so the catalog, the disk and Metadata never disagree about it.

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::catalog::{Catalog, TopicMeta};
use super::config::BrokerConfig;
use super::error::BrokerError;
use super::routing;
use crate::protocol::error as code;
use crate::runtime::fs::File;
use crate::runtime::future::join_all;
use crate::runtime::mesh::{self, OneshotSender};
use crate::runtime::sync::Notify;
use crate::storage::validate::AppendOrigin;
use crate::storage::{AppendTurn, CheckedAppend, Engine, Error as StorageError};
use crate::transfer::{FileRange, Piece};

/// Messages between shards (field names say it all; every request carries its reply channel).
#[allow(missing_docs)]
pub enum ShardMsg {
    /// Run a task on this shard with its state (work whose state lives on one shard, such as
    /// share groups; see [`ShardState::call`]).
    Call(ShardCall),
    /// To a group's coordinator shard (`routing::group_coordinator`): group work.
    Group {
        op: super::group::GroupOp,
        reply: OneshotSender<super::group::GroupReply>,
    },
    /// To the controller: allocate an idempotent producer id.
    AllocateProducerId {
        reply: OneshotSender<Result<i64, BrokerError>>,
    },
    /// Append to a partition this shard owns: records the sender's shard already validated
    /// (and, for a delay-enabled topic, split into records due now and delayed ones).
    Append {
        topic: Arc<str>,
        partition: i32,
        records: AppendPayload,
        reply: OneshotSender<AppendResult>,
    },
    /// The delay numbers of this shard's timer (`ringlog delays`).
    DescribeDelays {
        topics: Option<Vec<String>>,
        reply: OneshotSender<Vec<crate::delay::TopicDelays>>,
    },
    /// Read from partitions this shard owns.
    Read {
        reads: Vec<ReadReq>,
        reply: OneshotSender<Vec<ReadResultMsg>>,
    },
    /// Resolve when any of these partitions' high watermark passes the offset (or the deadline).
    Wait {
        parts: Vec<(Arc<str>, i32, i64)>,
        wait: Duration,
        reply: OneshotSender<()>,
    },
    /// ListOffsets for partitions this shard owns.
    Offsets {
        reqs: Vec<OffsetReq>,
        reply: OneshotSender<Vec<OffsetResult>>,
    },
    /// To the controller: create a topic.
    CreateTopic {
        name: String,
        partitions: i32,
        configs: crate::topic_config::TopicConfigs,
        validate_only: bool,
        reply: OneshotSender<Result<(), BrokerError>>,
    },
    /// To the controller: delete a topic.
    DeleteTopic {
        name: String,
        reply: OneshotSender<Result<(), BrokerError>>,
    },
    /// From the controller, the second step of a creation (after every partition directory was
    /// made): open this shard's partitions of the topic, all or none. Not in the catalog yet.
    OpenTopic {
        name: String,
        partitions: i32,
        configs: crate::topic_config::TopicConfigs,
        reply: OneshotSender<Result<(), BrokerError>>,
    },
    /// From the controller, the roll-back of a failed creation: close this shard's partitions
    /// of the topic (the controller then removes the directories).
    CloseTopic {
        name: String,
        reply: OneshotSender<()>,
    },
    /// From the controller: a topic now exists (its partitions are open; it joins the catalog).
    TopicCreated {
        name: String,
        meta: TopicMeta,
        reply: OneshotSender<()>,
    },
    /// From the controller: a topic is gone (delete owned partitions).
    TopicDeleted {
        name: String,
        reply: OneshotSender<()>,
    },
}

/// A task for another shard: given that shard's state, it returns the future to run there.
pub type ShardCall = Box<
    dyn FnOnce(Rc<ShardState>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send,
>;

/// What an append carries to the partition's owner.
#[derive(Debug)]
pub enum AppendPayload {
    /// Records appended as they are.
    Checked(CheckedAppend),
    /// Records of a delay-enabled topic of which some are delayed: taken in by the owner's
    /// timer ([`crate::delay`]).
    Held(Box<crate::delay::HeldBatch>),
    /// Records of an indexed topic (issue #17) with each batch's summary, computed where they
    /// were validated; the owner records them in the filter index after the append.
    Indexed(
        CheckedAppend,
        Vec<Option<crate::view::summary::BatchSummary>>,
    ),
}

/// What the catalog says about a topic that an append needs to know.
#[derive(Clone, Copy, Debug, Default)]
pub struct AppendFlags {
    /// Delay-enabled: records are looked into for delivery times.
    pub delays: bool,
    /// Written with a filter index: every batch is summarized.
    pub indexed: bool,
}

/// Outcome of an append.
pub type AppendResult = Result<Appended, BrokerError>;

/// Where an append landed.
#[derive(Clone, Copy, Debug)]
pub struct Appended {
    /// Base offset of the first appended batch.
    pub base_offset: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
}

/// A read of one partition.
#[derive(Clone, Debug)]
pub struct ReadReq {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// First offset wanted.
    pub offset: i64,
    /// Most bytes wanted (at least one batch is returned anyway).
    pub max_bytes: u64,
    /// Stop after the batch holding this offset (`i64::MAX`: no such bound; share groups read
    /// only what they may acquire).
    pub last_wanted: i64,
    /// READ_COMMITTED (issue #18): read below the last stable offset only, and list the aborted
    /// transactions of what was read.
    pub read_committed: bool,
}

/// Record bytes that can cross to another shard: file ranges (descriptors are `dup`s), or
/// bytes a filtered view rewrote.
pub enum SendRange {
    /// A range of a segment file.
    File {
        /// The `dup`ed descriptor.
        fd: OwnedFd,
        /// Where the range starts.
        position: u64,
        /// Its length.
        len: u64,
        /// Its share of the in-flight fetch file budget.
        hold: Option<std::sync::Arc<crate::limits::Reservation>>,
    },
    /// Bytes in memory.
    Bytes(Bytes),
}

impl SendRange {
    fn len(&self) -> u64 {
        match self {
            SendRange::File { len, .. } => *len,
            SendRange::Bytes(b) => b.len() as u64,
        }
    }
}

/// Result of one partition read, as sent across shards.
pub struct ReadResultMsg {
    /// Why the read failed (`None`: it did not).
    pub error: Option<BrokerError>,
    /// High watermark.
    pub high_watermark: i64,
    /// Log start offset.
    pub log_start_offset: i64,
    /// Last stable offset.
    pub last_stable_offset: i64,
    /// READ_COMMITTED reads: the aborted transactions of the range read.
    pub aborted: Option<Vec<(i64, i64)>>,
    /// The offset after the last record read.
    pub next_offset: i64,
    /// The record bytes.
    pub ranges: Vec<SendRange>,
}

/// Result of one partition read on the connection's shard.
#[derive(Debug)]
pub struct PartitionRead {
    /// Why the read failed (`None`: it did not). High watermark and log start offset are set
    /// when the partition exists.
    pub error: Option<BrokerError>,
    /// High watermark.
    pub high_watermark: i64,
    /// Log start offset.
    pub log_start_offset: i64,
    /// Last stable offset (the high watermark where no transaction is open; -1 unknown).
    pub last_stable_offset: i64,
    /// READ_COMMITTED reads: the aborted transactions (producer id, first offset) of the range
    /// read; `None` for READ_UNCOMMITTED.
    pub aborted: Option<Vec<(i64, i64)>>,
    /// The offset after the last record of `ranges` (the offset asked for when they are empty).
    pub next_offset: i64,
    /// The record bytes: segment file ranges, and (on a filtered view) batches rewritten in
    /// memory.
    pub ranges: Vec<Piece>,
}

impl PartitionRead {
    /// A read that failed before reaching the partition's log.
    pub(crate) fn failed(error: BrokerError) -> PartitionRead {
        PartitionRead {
            error: Some(error),
            high_watermark: -1,
            log_start_offset: -1,
            last_stable_offset: -1,
            aborted: None,
            next_offset: -1,
            ranges: Vec::new(),
        }
    }

    /// Total record bytes.
    pub fn bytes(&self) -> u64 {
        self.ranges.iter().map(Piece::len).sum()
    }
}

impl ReadResultMsg {
    /// Total record bytes.
    pub fn bytes(&self) -> u64 {
        self.ranges.iter().map(SendRange::len).sum()
    }

    /// The read on the receiving shard (descriptors become files again).
    pub fn into_local(self) -> PartitionRead {
        PartitionRead {
            error: self.error,
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
            last_stable_offset: self.last_stable_offset,
            aborted: self.aborted,
            next_offset: self.next_offset,
            ranges: self
                .ranges
                .into_iter()
                .map(|r| match r {
                    SendRange::File {
                        fd,
                        position,
                        len,
                        hold,
                    } => Piece::File(FileRange {
                        file: File::from_std(std::fs::File::from(fd)),
                        position,
                        len,
                        hold,
                    }),
                    SendRange::Bytes(b) => Piece::Bytes(b),
                })
                .collect(),
        }
    }
}

/// A ListOffsets lookup.
#[derive(Clone, Debug)]
pub struct OffsetReq {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// -1 latest, -2 earliest, -3 max timestamp, -4 earliest local, or a timestamp in ms.
    pub timestamp: i64,
    /// READ_COMMITTED (isolation level 1): "latest" is the last stable offset.
    pub read_committed: bool,
}

/// A ListOffsets answer.
pub type OffsetResult = Result<OffsetFound, BrokerError>;

/// The offset a ListOffsets lookup found.
#[derive(Clone, Copy, Debug)]
pub struct OffsetFound {
    /// The offset (-1 when none).
    pub offset: i64,
    /// The timestamp of that offset (-1 when unknown).
    pub timestamp: i64,
}

/// The state of one broker shard.
pub struct ShardState {
    /// This shard's id.
    pub id: usize,
    /// Number of shards.
    pub count: usize,
    /// Broker configuration.
    pub config: Arc<BrokerConfig>,
    /// Storage for the partitions this shard owns.
    pub engine: Engine,
    /// This shard's copy of the topic catalog.
    pub catalog: RefCell<Catalog>,
    /// Senders to every shard's inbox (including our own).
    pub peers: Vec<mesh::Sender<ShardMsg>>,
    /// Fires when the broker shuts down.
    pub shutdown: Notify,
    /// Set once shutdown began.
    pub shutting_down: Cell<bool>,
    /// The producer id allocator (controller shard only).
    pub producer_ids: Option<super::producer_ids::ProducerIdAllocator>,
    /// Every producer id ever allocated is below this (shared with the controller).
    pub producer_id_bound: Arc<std::sync::atomic::AtomicI64>,
    /// The consumer groups this shard coordinates, and its committed-offsets log.
    pub groups: super::group::Coordinator,
    /// Controller only: a topic creation or deletion is in progress. They run one at a time, so
    /// each starts from the catalog its predecessor stored and broadcast, and the last save is
    /// the latest state (overlapping ones used to build on the same old catalog and rename
    /// over each other: acknowledged topics vanished at the next start).
    pub controller_busy: Cell<bool>,
    /// Controller only: fires when `controller_busy` is cleared.
    pub controller_idle: Notify,
    /// Space kept back for catalog saves on a full disk (used by the controller only).
    pub space_reserve: super::reserve::SpaceReserve,
    /// How the open-files limit is shared out (broker-wide numbers; see `config::FdPlan`).
    pub fd_plan: super::config::FdPlan,
    /// The broker-wide budget of segment file ranges held by Fetch responses in flight.
    pub fetch_files: Arc<super::limits::MemoryBudget>,
    /// Filtered views served here and the filter indexes of the partitions this shard owns.
    pub views: crate::view::Views,
    /// This shard's timer of delayed records (set once at start, before serving).
    pub timer: std::cell::OnceCell<Rc<crate::delay::Timer>>,
    /// Share groups: share-partitions this shard owns, and membership, sessions and configs
    /// of the share groups it coordinates.
    pub shares: crate::share::Shares,
    /// The transactions this shard coordinates (issue #18).
    pub txns: crate::txn::Txns,
    /// This shard's request counters for the metrics endpoint (plain cells, this shard's only).
    pub metrics: crate::metrics::ShardMetrics,
    /// The SCRAM credential store, shared by every shard (read once per login).
    pub credentials: Arc<crate::auth::CredentialStore>,
    /// This shard's copy of the ACLs and the decision function (the controller: their store).
    pub acls: crate::acl::ShardAcls,
    /// This shard's copy of the client quotas and the sensors of its connections (the
    /// controller: their store).
    pub quotas: crate::quota::ShardQuotas,
}

/// This shard's share of the broker's budget of open segment files (the fd plan's
/// `segment_files`, split evenly between the shards; at least one file each).
pub fn segment_files_per_shard(plan: &super::config::FdPlan, shards: usize) -> usize {
    let per_shard = plan.segment_files / (shards.max(1) as u64);
    usize::try_from(per_shard).unwrap_or(usize::MAX).max(1)
}

/// One turn of the controller's catalog changes; ends (and wakes the next) when dropped.
struct ControllerTurn<'a>(&'a ShardState);

impl Drop for ControllerTurn<'_> {
    fn drop(&mut self) {
        debug_assert!(self.0.controller_busy.get(), "controller turn ended twice");
        self.0.controller_busy.set(false);
        self.0.controller_idle.notify_waiters();
    }
}

impl ShardState {
    /// Owner shard of a partition.
    pub fn owner(&self, topic: &str, partition: i32) -> usize {
        // A view's partitions live with its source's (issue #17): one shard reads, filters and
        // keeps share state for both.
        let catalog = self.catalog.borrow();
        routing::owner(catalog.routing_name(topic), partition, self.count)
    }

    /// The topic whose log holds `topic`'s records: a view's source, any other topic itself.
    pub fn log_topic(&self, topic: &str) -> String {
        self.catalog.borrow().routing_name(topic).to_string()
    }

    /// The log holding `topic`'s records on this shard (a view's: its source's), looked up
    /// under the catalog's borrow, without copying the name.
    pub fn log_of(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Rc<crate::storage::Log>, StorageError> {
        let catalog = self.catalog.borrow();
        self.engine.log(catalog.routing_name(topic), partition)
    }

    /// Send a message to `shard` (waits while its inbox is full).
    pub async fn send(&self, shard: usize, msg: ShardMsg) -> bool {
        self.peers[shard].send(msg).await.is_ok()
    }

    /// Starts an append on the owning shard and returns once it is under way; its outcome is
    /// [`PendingAppend::outcome`]. Appends started one after the other by a task reach the
    /// partition's log in that order: a local one takes its place in the log's append order now
    /// and is spawned; a remote one goes to the owner's inbox, FIFO per sender, whose loop takes
    /// each Append's place in arrival order before spawning it
    /// ([`ShardState::start_remote_append`]). The records are validated here, on the
    /// connection's shard (the CPU-heavy part: every batch's CRC, every record, decompression),
    /// and handed over checked, so the owner only stamps offsets, checks idempotence and writes:
    /// one hot partition's produce work is split over the connection's shard and the owner's.
    /// `flags.delays`: the topic is delay-enabled (its records are looked into for delivery
    /// times here too); `flags.indexed`: every batch is summarized here for the filter index
    /// (the caller read both from the catalog with the partition count). `topic_config`: the
    /// topic's own log configuration when its configs change the checks (max.message.bytes,
    /// the timestamp bounds, compaction's key rule), so the owner need not check again; `None`
    /// checks with the broker's.
    pub async fn start_append(
        self: &Rc<Self>,
        topic: Arc<str>,
        partition: i32,
        records: Bytes,
        flags: AppendFlags,
        topic_config: Option<&crate::storage::LogConfig>,
    ) -> Result<PendingAppend, BrokerError> {
        let owner = self.owner(&topic, partition);
        let config = topic_config.unwrap_or(self.engine.log_config());
        let checked =
            CheckedAppend::check(config, &topic, partition, records, AppendOrigin::Client)
                .map_err(|e| append_failed(&topic, partition, e))?;
        let payload = if flags.delays {
            // Only delay-enabled topics have their records looked into; on this shard, so the
            // owner only writes.
            match crate::delay::header::split(
                &checked,
                crate::storage::log::now_ms(),
                self.config.delivery_delay_max_ms,
                config.validation.decompressed_bytes_max,
            ) {
                Ok(None) => AppendPayload::Checked(checked),
                Ok(Some(held)) => AppendPayload::Held(Box::new(held)),
                Err((record_index, reason)) => {
                    return Err(BrokerError::InvalidDelay {
                        topic: topic.to_string(),
                        partition,
                        record_index,
                        reason,
                    })
                }
            }
        } else if flags.indexed {
            let summaries =
                crate::view::summarize_append(&checked, config.validation.decompressed_bytes_max);
            AppendPayload::Indexed(checked, summaries)
        } else {
            AppendPayload::Checked(checked)
        };
        if owner == self.id {
            let turn = self.append_turn(&topic, partition);
            let shard = self.clone();
            return Ok(PendingAppend::Local(crate::runtime::spawn(async move {
                shard.append_local(&topic, partition, turn, payload).await
            })));
        }
        let (tx, rx) = mesh::oneshot();
        if !self
            .send(
                owner,
                ShardMsg::Append {
                    topic: topic.clone(),
                    partition,
                    records: payload,
                    reply: tx,
                },
            )
            .await
        {
            return Err(BrokerError::ShardUnavailable {
                shard: owner,
                op: "append",
            });
        }
        Ok(PendingAppend::Remote {
            topic,
            partition,
            reply: rx,
        })
    }

    /// The append on the owner, of records validated by [`ShardState::start_append`]. The Produce
    /// handler validated the topic name, so the log is looked up once, without validating it
    /// again, and the records are written from the request frame as they are (the log stamps
    /// copies of the batch headers).
    async fn append_local(
        &self,
        topic: &Arc<str>,
        partition: i32,
        turn: Result<AppendTurn, StorageError>,
        records: AppendPayload,
    ) -> AppendResult {
        while self
            .config
            .fault_hold_appends
            .load(std::sync::atomic::Ordering::Acquire)
        {
            crate::runtime::time::sleep(Duration::from_millis(1)).await;
        }
        let turn = turn.map_err(|e| append_failed(topic, partition, e))?;
        let log = turn.log().clone();
        let base_offset = match records {
            AppendPayload::Checked(checked) => log
                .append_checked_in_turn(turn, checked)
                .await
                .map_err(|e| append_failed(topic, partition, e))?,
            AppendPayload::Indexed(checked, summaries) => {
                let headers: Vec<crate::storage::batch::BatchHeader> =
                    checked.batches().iter().map(|b| b.header).collect();
                let base = log
                    .append_checked_in_turn(turn, checked)
                    .await
                    .map_err(|e| append_failed(topic, partition, e))?;
                crate::view::record_append(self, topic, partition, base, &headers, summaries).await;
                base
            }
            AppendPayload::Held(held) => {
                let Some(timer) = self.timer.get() else {
                    return Err(BrokerError::TimerFailed {
                        reason: "the timer is not open".to_string(),
                    });
                };
                timer.admit(turn, topic, partition, *held).await?
            }
        };
        Ok(Appended {
            base_offset,
            log_start_offset: log.log_start_offset(),
        })
    }

    /// The partition's place in append order, taken now (an append's order is fixed when it is
    /// started, not when its task first runs).
    fn append_turn(&self, topic: &str, partition: i32) -> Result<AppendTurn, StorageError> {
        self.engine
            .find_log(topic, partition)
            .map(|log| log.append_turn())
    }

    /// An Append message from another shard, in inbox order: its turn is taken before anything
    /// else runs, and the append is spawned. Any other message is given back.
    pub fn start_remote_append(self: &Rc<Self>, msg: ShardMsg) -> Option<ShardMsg> {
        let ShardMsg::Append {
            topic,
            partition,
            records,
            reply,
        } = msg
        else {
            return Some(msg);
        };
        let turn = self.append_turn(&topic, partition);
        let shard = self.clone();
        crate::runtime::spawn(async move {
            reply.send(shard.append_local(&topic, partition, turn, records).await);
        });
        None
    }

    /// Runs `f` on `shard` (here, without a message, when it is this shard) and returns its
    /// output; `None` when that shard is gone (shutting down).
    pub async fn call<T, F, Fut>(self: &Rc<Self>, shard: usize, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(Rc<ShardState>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + 'static,
    {
        if shard == self.id {
            return Some(f(self.clone()).await);
        }
        let (tx, rx) = mesh::oneshot();
        let call: ShardCall = Box::new(move |state| {
            Box::pin(async move {
                tx.send(f(state).await);
            })
        });
        if !self.send(shard, ShardMsg::Call(call)).await {
            return None;
        }
        rx.recv().await
    }

    /// Read partitions, each on its owner; results in request order.
    pub async fn read(self: &Rc<Self>, reads: Vec<ReadReq>) -> Vec<PartitionRead> {
        let mut by_shard: Vec<Vec<(usize, ReadReq)>> =
            (0..self.count).map(|_| Vec::new()).collect();
        for (i, r) in reads.into_iter().enumerate() {
            by_shard[self.owner(&r.topic, r.partition)].push((i, r));
        }
        let total: usize = by_shard.iter().map(Vec::len).sum();
        let mut out: Vec<Option<PartitionRead>> = (0..total).map(|_| None).collect();
        // Fan out before awaiting anything: every other shard's reads are sent first, then the
        // local ones run, then the remote answers are collected, so the shards read in parallel
        // and a Fetch costs its slowest shard, not their sum. (Local reads stay one after the
        // other: mostly in-memory index lookups; running them concurrently measured no gain.)
        let mut remote = Vec::new();
        let mut local = Vec::new();
        for (shard, reqs) in by_shard.into_iter().enumerate() {
            if reqs.is_empty() {
                continue;
            }
            if shard == self.id {
                local = reqs;
                continue;
            }
            let (idx, reqs): (Vec<usize>, Vec<ReadReq>) = reqs.into_iter().unzip();
            let (tx, rx) = mesh::oneshot();
            let sent = self
                .send(
                    shard,
                    ShardMsg::Read {
                        reads: reqs,
                        reply: tx,
                    },
                )
                .await;
            remote.push((shard, idx, sent.then_some(rx)));
        }
        for (i, r) in local {
            out[i] = Some(self.read_one(&r).await);
        }
        for (shard, idx, rx) in remote {
            let results = match rx {
                Some(rx) => rx.recv().await.unwrap_or_default(),
                None => Vec::new(),
            };
            let mut results = results.into_iter();
            for i in idx {
                out[i] = Some(match results.next() {
                    Some(r) => r.into_local(),
                    None => {
                        PartitionRead::failed(BrokerError::ShardUnavailable { shard, op: "read" })
                    }
                });
            }
        }
        out.into_iter()
            .map(|r| r.expect("every read is answered above"))
            .collect()
    }

    /// Local reads for another shard's Fetch: each partition's ranges with their segment files
    /// `dup`ed, so the owner may delete a segment while the fetching shard still sends from it.
    async fn read_for_send(&self, reads: &[ReadReq]) -> Vec<ReadResultMsg> {
        let mut out = Vec::with_capacity(reads.len());
        for r in reads {
            out.push(self.sendable(r, self.read_one(r).await));
        }
        out
    }

    /// A local read made sendable to another shard (segment files `dup`ed).
    pub fn sendable(&self, r: &ReadReq, local: PartitionRead) -> ReadResultMsg {
        let mut ranges = Vec::with_capacity(local.ranges.len());
        let mut error = local.error;
        for piece in local.ranges {
            let range = match piece {
                Piece::Bytes(b) => {
                    ranges.push(SendRange::Bytes(b));
                    continue;
                }
                Piece::File(range) => range,
            };
            match range.file.dup_fd() {
                Ok(fd) => ranges.push(SendRange::File {
                    fd,
                    position: range.position,
                    len: range.len,
                    hold: range.hold,
                }),
                Err(source) => {
                    let e = BrokerError::Io {
                        op: "dup",
                        target: format!("a segment fd of {}-{}", r.topic, r.partition),
                        source,
                    };
                    tracing::error!("{e}");
                    error = Some(e);
                    ranges.clear();
                    break;
                }
            }
        }
        ReadResultMsg {
            error,
            high_watermark: local.high_watermark,
            log_start_offset: local.log_start_offset,
            last_stable_offset: local.last_stable_offset,
            aborted: local.aborted,
            next_offset: local.next_offset,
            ranges,
        }
    }

    /// Reads one partition this shard owns.
    pub async fn read_one(&self, r: &ReadReq) -> PartitionRead {
        let view = {
            let catalog = self.catalog.borrow();
            self.views.get(&catalog, &r.topic)
        };
        if let Some(view) = view {
            return crate::view::read::read(self, &view, r).await;
        }
        let log = match self.engine.log(&r.topic, r.partition) {
            Ok(log) => log,
            Err(e) => return PartitionRead::failed(BrokerError::Storage(e)),
        };
        // Transactions (issue #18): READ_COMMITTED reads whole batches below the last stable
        // offset (a transaction's first batch starts there, so the bound is a batch boundary)
        // and lists the aborted transactions of what it read; the bytes still go out as they
        // are stored.
        let lso = log.last_stable_offset();
        let mut last_wanted = r.last_wanted;
        if r.read_committed {
            if r.offset >= lso && r.offset <= log.high_watermark() {
                return PartitionRead {
                    error: None,
                    high_watermark: log.high_watermark(),
                    log_start_offset: log.log_start_offset(),
                    last_stable_offset: lso,
                    aborted: Some(Vec::new()),
                    next_offset: r.offset,
                    ranges: Vec::new(),
                };
            }
            last_wanted = last_wanted.min(lso - 1);
        }
        let aborted_of = |from: i64, to: i64| {
            r.read_committed
                .then(|| log.aborted_between(from, to.max(from)))
        };
        match log.read_through(r.offset, r.max_bytes, last_wanted).await {
            Ok(res) => {
                // Every range holds a descriptor until its response is sent: within the
                // broker's budget, or the partition answers without data this time (the client
                // fetches again), so a Fetch naming thousands of partitions cannot exhaust fds.
                let holds: Option<Vec<_>> = res
                    .slices
                    .iter()
                    .map(|_| self.fetch_files.try_reserve(1).map(std::sync::Arc::new))
                    .collect();
                let ranges = match holds {
                    Some(holds) => res
                        .slices
                        .into_iter()
                        .zip(holds)
                        .map(|(s, hold)| {
                            Piece::File(FileRange {
                                file: (*s.file).clone(),
                                position: s.position,
                                len: s.length,
                                hold: Some(hold),
                            })
                        })
                        .collect(),
                    None => {
                        tracing::debug!(
                            "fetch of {}-{}: the in-flight fetch file budget ({}) is spent; \
                             answered without data",
                            r.topic,
                            r.partition,
                            self.fetch_files.limit_bytes()
                        );
                        Vec::new()
                    }
                };
                // Without data (the budget is spent), nothing was read.
                let next_offset = if ranges.is_empty() {
                    r.offset
                } else {
                    res.next_offset
                };
                PartitionRead {
                    error: None,
                    high_watermark: res.high_watermark,
                    log_start_offset: res.log_start_offset,
                    last_stable_offset: lso.min(res.high_watermark),
                    aborted: aborted_of(r.offset, next_offset),
                    next_offset,
                    ranges,
                }
            }
            Err(e) => PartitionRead {
                error: Some(BrokerError::Storage(e)),
                high_watermark: log.high_watermark(),
                log_start_offset: log.log_start_offset(),
                last_stable_offset: lso,
                aborted: None,
                next_offset: r.offset,
                ranges: Vec::new(),
            },
        }
    }

    /// Wait until any partition's high watermark passes its offset, or `wait` elapses.
    pub async fn wait_for_data(self: &Rc<Self>, parts: Vec<(Arc<str>, i32, i64)>, wait: Duration) {
        let mut by_shard: Vec<Vec<(Arc<str>, i32, i64)>> =
            (0..self.count).map(|_| Vec::new()).collect();
        for p in parts {
            let owner = self.owner(&p.0, p.1);
            by_shard[owner].push(p);
        }
        let mut futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> = Vec::new();
        for (shard, parts) in by_shard.into_iter().enumerate() {
            if parts.is_empty() {
                continue;
            }
            if shard == self.id {
                let me = self.clone();
                futures.push(Box::pin(async move { me.wait_local(parts, wait).await }));
            } else {
                let (tx, rx) = mesh::oneshot();
                if self
                    .send(
                        shard,
                        ShardMsg::Wait {
                            parts,
                            wait,
                            reply: tx,
                        },
                    )
                    .await
                {
                    futures.push(Box::pin(async move {
                        rx.recv().await;
                    }));
                }
            }
        }
        if futures.is_empty() {
            crate::runtime::time::sleep(wait).await;
            return;
        }
        if self.shutting_down.get() {
            return;
        }
        let any = crate::runtime::future::select_any(futures);
        let shutdown = self.shutdown.notified();
        let _ = crate::runtime::time::timeout(wait, crate::runtime::future::select(any, shutdown))
            .await;
    }

    async fn wait_local(&self, parts: Vec<(Arc<str>, i32, i64)>, wait: Duration) {
        let mut futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>> =
            Vec::new();
        for (topic, partition, offset) in parts {
            let topic = self.log_topic(&topic);
            futures.push(Box::pin(async move {
                // An error (deleted or broken partition) also ends the wait: the fetch that
                // follows reports it.
                let _ = self.engine.wait_for_append(&topic, partition, offset).await;
            }));
        }
        if self.shutting_down.get() {
            return; // the shutdown notification already fired: do not wait for it
        }
        let any = crate::runtime::future::select_any(futures);
        let shutdown = self.shutdown.notified();
        let _ = crate::runtime::time::timeout(wait, crate::runtime::future::select(any, shutdown))
            .await;
    }

    /// ListOffsets lookups, each on its owner.
    pub async fn offsets(self: &Rc<Self>, reqs: Vec<OffsetReq>) -> Vec<OffsetResult> {
        let mut by_shard: Vec<Vec<(usize, OffsetReq)>> =
            (0..self.count).map(|_| Vec::new()).collect();
        for (i, r) in reqs.into_iter().enumerate() {
            by_shard[self.owner(&r.topic, r.partition)].push((i, r));
        }
        let total: usize = by_shard.iter().map(Vec::len).sum();
        let mut out: Vec<Option<OffsetResult>> = (0..total).map(|_| None).collect();
        // Every shard's lookups at once (the remote ones sent before any is awaited).
        let lookups = by_shard
            .into_iter()
            .enumerate()
            .filter(|(_, reqs)| !reqs.is_empty())
            .map(|(shard, reqs)| {
                let (idx, reqs): (Vec<usize>, Vec<OffsetReq>) = reqs.into_iter().unzip();
                async move {
                    let results = if shard == self.id {
                        self.offsets_local(reqs).await
                    } else {
                        let (tx, rx) = mesh::oneshot();
                        if self
                            .send(shard, ShardMsg::Offsets { reqs, reply: tx })
                            .await
                        {
                            rx.recv().await.unwrap_or_default()
                        } else {
                            Vec::new()
                        }
                    };
                    (shard, idx, results)
                }
            })
            .collect();
        for (shard, idx, results) in join_all(lookups).await {
            let mut results = results.into_iter();
            for i in idx {
                out[i] = Some(results.next().unwrap_or(Err(BrokerError::ShardUnavailable {
                    shard,
                    op: "list offsets",
                })));
            }
        }
        out.into_iter()
            .map(|r| r.expect("every lookup is answered above"))
            .collect()
    }

    async fn offsets_local(&self, reqs: Vec<OffsetReq>) -> Vec<OffsetResult> {
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            // A view answers with its source's offsets (they are the view's offsets too).
            let log_topic = self.log_topic(&r.topic);
            let res = match r.timestamp {
                -1 if r.read_committed => self
                    .engine
                    .log(&log_topic, r.partition)
                    .map(|log| (log.last_stable_offset(), -1)),
                -1 => self
                    .engine
                    .latest_offset(&log_topic, r.partition)
                    .map(|o| (o, -1)),
                -3 => match self.engine.log(&log_topic, r.partition) {
                    Ok(log) => log
                        .max_timestamp_record()
                        .await
                        .map(|o| o.unwrap_or((-1, -1))),
                    Err(e) => Err(e),
                },
                -2 | -4 => self
                    .engine
                    .earliest_offset(&log_topic, r.partition)
                    .map(|o| (o, -1)),
                t if t >= 0 => self
                    .engine
                    .record_for_timestamp(&log_topic, r.partition, t)
                    .await
                    .map(|o| o.unwrap_or((-1, -1))),
                timestamp => {
                    out.push(Err(BrokerError::InvalidTimestamp {
                        topic: r.topic,
                        partition: r.partition,
                        timestamp,
                    }));
                    continue;
                }
            };
            out.push(match res {
                Ok((offset, timestamp)) => Ok(OffsetFound { offset, timestamp }),
                Err(e) => Err(BrokerError::Storage(e)),
            });
        }
        out
    }

    /// Create a topic through the controller.
    pub async fn create_topic(
        self: &Rc<Self>,
        name: String,
        partitions: i32,
        configs: crate::topic_config::TopicConfigs,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let (tx, rx) = mesh::oneshot();
        let msg = ShardMsg::CreateTopic {
            name,
            partitions,
            configs,
            validate_only,
            reply: tx,
        };
        self.ask_controller(msg, rx, "create topic").await
    }

    /// Allocate a producer id on the controller shard.
    pub async fn allocate_producer_id(self: &Rc<Self>) -> Result<i64, BrokerError> {
        let (tx, rx) = mesh::oneshot();
        let msg = ShardMsg::AllocateProducerId { reply: tx };
        self.ask_controller(msg, rx, "allocate producer id").await
    }

    /// Delete a topic through the controller.
    pub async fn delete_topic(self: &Rc<Self>, name: String) -> Result<(), BrokerError> {
        let (tx, rx) = mesh::oneshot();
        let msg = ShardMsg::DeleteTopic { name, reply: tx };
        self.ask_controller(msg, rx, "delete topic").await
    }

    /// Send `msg` to the controller shard and wait for its answer on `rx`.
    async fn ask_controller<T: Send>(
        &self,
        msg: ShardMsg,
        rx: mesh::OneshotReceiver<Result<T, BrokerError>>,
        op: &'static str,
    ) -> Result<T, BrokerError> {
        let unavailable = BrokerError::ShardUnavailable {
            shard: routing::CONTROLLER_SHARD,
            op,
        };
        if !self.send(routing::CONTROLLER_SHARD, msg).await {
            return Err(unavailable);
        }
        rx.recv().await.unwrap_or(Err(unavailable))
    }

    /// Handle one inbox message (spawned as its own task, so a slow append does not hold up
    /// reads).
    pub async fn handle(self: Rc<Self>, msg: ShardMsg) {
        match msg {
            msg @ ShardMsg::Append { .. } => {
                // Normally taken by the inbox loop (`start_remote_append`) in arrival order.
                let given_back = self.start_remote_append(msg);
                debug_assert!(given_back.is_none(), "an Append message is started");
            }
            ShardMsg::Call(call) => call(self.clone()).await,
            ShardMsg::Read { reads, reply } => reply.send(self.read_for_send(&reads).await),
            ShardMsg::DescribeDelays { topics, reply } => reply.send(
                self.timer
                    .get()
                    .map(|t| t.describe(topics.as_deref()))
                    .unwrap_or_default(),
            ),
            ShardMsg::Wait { parts, wait, reply } => {
                self.wait_local(parts, wait).await;
                reply.send(());
            }
            ShardMsg::Offsets { reqs, reply } => reply.send(self.offsets_local(reqs).await),
            ShardMsg::CreateTopic {
                name,
                partitions,
                configs,
                validate_only,
                reply,
            } => reply.send(
                self.controller_create(name, partitions, configs, validate_only)
                    .await,
            ),
            ShardMsg::DeleteTopic { name, reply } => reply.send(self.controller_delete(name).await),
            ShardMsg::AllocateProducerId { reply } => {
                let result = match &self.producer_ids {
                    Some(alloc) => alloc.allocate().await.map_err(|source| {
                        let e = BrokerError::Io {
                            op: "store",
                            target: format!(
                                "the producer id bound in {}",
                                self.config.data_dir.display()
                            ),
                            source,
                        };
                        tracing::error!("{e}");
                        e
                    }),
                    None => Err(BrokerError::NotController { shard: self.id }),
                };
                reply.send(result);
            }
            ShardMsg::OpenTopic {
                name,
                partitions,
                configs,
                reply,
            } => {
                let opened = self.engine.open_topic(&name, partitions).await;
                // Before the topic is in the catalog (and so before any append can reach
                // these logs): they start with the topic's configs.
                if opened.is_ok() {
                    self.apply_topic_configs(&name, &configs);
                }
                reply.send(opened.map(drop).map_err(|e| {
                    tracing::error!("shard {}: opening the partitions of {name}: {e}", self.id);
                    BrokerError::Storage(e)
                }));
            }
            ShardMsg::CloseTopic { name, reply } => {
                self.engine.close_topic(&name);
                reply.send(());
            }
            ShardMsg::TopicCreated { name, meta, reply } => {
                self.apply_topic_configs(&name, &meta.configs);
                self.catalog.borrow_mut().insert(name, meta);
                reply.send(());
            }
            ShardMsg::Group { op, reply } => reply.send(self.groups.handle(&self, op).await),
            ShardMsg::TopicDeleted { name, reply } => {
                let removed = self.catalog.borrow_mut().remove(&name);
                let partitions = removed.map_or(0, |m| m.partitions);
                self.views.topic_deleted(&name, partitions);
                self.shares.topic_deleted(&name).await;
                if let Err(e) = self.engine.delete_topic(&name).await {
                    if !matches!(e, StorageError::UnknownTopicOrPartition { .. }) {
                        tracing::error!("shard {}: deleting {name} failed: {e}", self.id);
                    }
                }
                reply.send(());
            }
        }
    }

    async fn broadcast(&self, make: impl Fn(OneshotSender<()>) -> ShardMsg) {
        let mut acks = Vec::new();
        for shard in 0..self.count {
            let (tx, rx) = mesh::oneshot();
            if self.send(shard, make(tx)).await {
                acks.push(rx);
            }
        }
        for rx in acks {
            rx.recv().await;
        }
    }

    /// Waits until no other catalog change runs on the controller, then holds the turn.
    async fn controller_turn(&self) -> ControllerTurn<'_> {
        // Single-threaded shard: nothing runs between the check and the waiter's registration
        // in the first poll of `notified()`; every waiter rechecks after a wake-up.
        while self.controller_busy.get() {
            self.controller_idle.notified().await;
        }
        self.controller_busy.set(true);
        ControllerTurn(self)
    }

    /// Creates a topic, all or nothing. Every check comes before anything is made (and is all
    /// a `validate_only` request gets, as in Kafka). Then: every partition directory
    /// (controller), every shard opens its partitions, the catalog is stored (the commit point),
    /// and every shard learns of the topic. If a step fails, what the steps before made is
    /// undone (partitions closed, directories removed) and the catalog is unchanged; a crash
    /// before the commit leaves directories that the next start sets aside.
    async fn controller_create(
        &self,
        name: String,
        partitions: i32,
        configs: crate::topic_config::TopicConfigs,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        crate::storage::names::validate_topic(&name)?;
        let _turn = self.controller_turn().await;
        let partitions = match &configs.view {
            Some(view) => self.check_view(&name, partitions, view)?,
            None => partitions,
        };
        if !(1..=crate::storage::names::PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            return Err(BrokerError::InvalidPartitions {
                topic: name,
                partitions,
            });
        }
        if self.catalog.borrow().get(&name).is_some() {
            return Err(BrokerError::TopicExists { topic: name });
        }
        let hosted = self.catalog.borrow().partition_count();
        let max = self.config.max_partitions;
        if hosted + u64::from(partitions.unsigned_abs()) > u64::from(max) {
            return Err(BrokerError::PartitionLimit {
                topic: name,
                partitions,
                hosted,
                max,
            });
        }
        if validate_only {
            return Ok(());
        }
        let is_view = configs.view.is_some();
        let meta = TopicMeta {
            partitions,
            id: super::catalog::new_topic_id(),
            configs,
        };
        // A view has no partitions of its own: its records are its source's.
        if !is_view {
            self.create_partition_dirs(&name, partitions).await?;
        }
        let opened = if is_view {
            Ok(())
        } else {
            self.open_everywhere(&name, partitions, &meta.configs).await
        };
        let committed = match opened {
            Ok(()) => {
                let mut next = self.catalog.borrow().clone();
                next.insert(name.clone(), meta.clone());
                self.store_catalog(&next).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = committed {
            self.roll_back_creation(&name).await;
            tracing::error!("creating topic {name} failed, nothing of it is left: {e}");
            return Err(e);
        }
        self.broadcast(|tx| ShardMsg::TopicCreated {
            name: name.clone(),
            meta: meta.clone(),
            reply: tx,
        })
        .await;
        tracing::info!(topic = %name, partitions, "topic created");
        Ok(())
    }

    /// Every partition directory of a topic being created. Directories of that name that are
    /// already there are not in the catalog, so nothing serves them: leftovers of a creation
    /// whose roll-back could not remove them. They are set aside (as at start) and the creation
    /// retried once.
    async fn create_partition_dirs(&self, name: &str, partitions: i32) -> Result<(), BrokerError> {
        let made = match self.engine.create_partition_dirs(name, partitions).await {
            Err(StorageError::TopicAlreadyExists { .. }) => {
                crate::storage::engine::set_aside_unclaimed(&self.config.data_dir, |t, _| {
                    t != name
                })?;
                self.engine.create_partition_dirs(name, partitions).await
            }
            other => other,
        };
        made.map_err(|e| {
            tracing::error!("creating the partition directories of {name}: {e}");
            BrokerError::Storage(e)
        })
    }

    /// Asks every shard to open its partitions of a topic being created; the first failure
    /// (every one is logged where it happened).
    async fn open_everywhere(
        &self,
        name: &str,
        partitions: i32,
        configs: &crate::topic_config::TopicConfigs,
    ) -> Result<(), BrokerError> {
        let mut answers = Vec::with_capacity(self.count);
        for shard in 0..self.count {
            let (tx, rx) = mesh::oneshot();
            let msg = ShardMsg::OpenTopic {
                name: name.to_string(),
                partitions,
                configs: configs.clone(),
                reply: tx,
            };
            answers.push((shard, self.send(shard, msg).await.then_some(rx)));
        }
        let mut first_error = None;
        for (shard, rx) in answers {
            let answer = match rx {
                Some(rx) => rx.recv().await,
                None => None,
            };
            let result = answer.unwrap_or(Err(BrokerError::ShardUnavailable {
                shard,
                op: "open partitions",
            }));
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Undoes a creation that did not commit: every shard closes its partitions of the topic,
    /// then the directories go. A directory that cannot be removed is not in the catalog and is
    /// set aside at the next start (or by the next creation of the name).
    async fn roll_back_creation(&self, name: &str) {
        assert!(
            self.catalog.borrow().get(name).is_none(),
            "rolling back the creation of {name}, which the catalog already names"
        );
        self.broadcast(|tx| ShardMsg::CloseTopic {
            name: name.to_string(),
            reply: tx,
        })
        .await;
        if let Err(e) = self.engine.remove_topic_dirs(name).await {
            tracing::error!(
                "removing the partition directories of {name} after a failed creation: {e}"
            );
        }
    }

    /// A view's source must be a topic (not a view), and its partition count is the source's
    /// (`-1`, the default, or the same number); returns that count.
    fn check_view(
        &self,
        name: &str,
        partitions: i32,
        view: &crate::topic_config::ViewSpec,
    ) -> Result<i32, BrokerError> {
        let invalid = |reason: String| BrokerError::InvalidConfig {
            topic: name.to_string(),
            reason,
        };
        let catalog = self.catalog.borrow();
        let Some(source) = catalog.get(&view.source) else {
            return Err(invalid(format!(
                "The source topic {} of view {name} does not exist",
                view.source
            )));
        };
        if source.configs.view.is_some() {
            return Err(invalid(format!(
                "The source {} of view {name} is a view itself; a view reads a topic",
                view.source
            )));
        }
        if view.source == name {
            return Err(invalid(format!("View {name} cannot read itself")));
        }
        if partitions != -1 && partitions != source.partitions {
            return Err(BrokerError::InvalidPartitions {
                topic: name.to_string(),
                partitions,
            });
        }
        Ok(source.partitions)
    }

    async fn controller_delete(&self, name: String) -> Result<(), BrokerError> {
        crate::storage::names::validate_topic(&name)?;
        let _turn = self.controller_turn().await;
        if self.catalog.borrow().get(&name).is_none() {
            return Err(BrokerError::UnknownTopic { topic: name });
        }
        let views: Vec<String> = self
            .catalog
            .borrow()
            .views_of(&name)
            .into_iter()
            .map(str::to_string)
            .collect();
        if !views.is_empty() {
            return Err(BrokerError::TopicHasViews { topic: name, views });
        }
        let mut next = self.catalog.borrow().clone();
        next.remove(&name);
        self.store_catalog(&next).await?;
        self.broadcast(|tx| ShardMsg::TopicDeleted {
            name: name.clone(),
            reply: tx,
        })
        .await;
        tracing::info!(topic = %name, "topic deleted");
        Ok(())
    }

    /// Gives this shard's partition logs of `name` the topic's configs (the broker's
    /// [`crate::storage::log::LogConfig`] with the topic's overrides). A config the storage
    /// refuses was checked when it was set, so this only logs.
    pub fn apply_topic_configs(&self, name: &str, configs: &crate::topic_config::TopicConfigs) {
        if configs.view.is_some() {
            return;
        }
        let log = configs.log_config(self.engine.log_config());
        if let Err(e) = self.engine.set_topic_config(name, log) {
            tracing::error!("shard {}: applying the configs of {name}: {e}", self.id);
        }
    }

    /// On the controller: changes a topic's configs (IncrementalAlterConfigs, AlterConfigs).
    /// `change` computes the new configs from the current ones; they are stored with the
    /// catalog, then every shard applies them. `validate_only` stops after the check.
    pub async fn controller_alter_configs(
        &self,
        name: &str,
        change: impl FnOnce(
            &crate::topic_config::TopicConfigs,
        )
            -> Result<crate::topic_config::TopicConfigs, crate::topic_config::Refusal>,
        validate_only: bool,
    ) -> Result<(), crate::topic_config::Refusal> {
        use crate::protocol::error::UNKNOWN_TOPIC_OR_PARTITION;
        let _turn = self.controller_turn().await;
        let Some(meta) = self.catalog.borrow().get(name).cloned() else {
            return Err((
                UNKNOWN_TOPIC_OR_PARTITION,
                format!("The topic '{name}' does not exist."),
            ));
        };
        let configs = change(&meta.configs)?;
        // The storage's own bounds (a topic's segment.bytes against the broker's batch size,
        // say) are checked before anything is stored.
        if configs.view.is_none() {
            configs
                .log_config(self.engine.log_config())
                .validate()
                .map_err(|e| (crate::protocol::error::INVALID_CONFIG, e.to_string()))?;
        }
        if validate_only || configs == meta.configs {
            return Ok(());
        }
        let meta = TopicMeta { configs, ..meta };
        let mut next = self.catalog.borrow().clone();
        next.insert(name.to_string(), meta.clone());
        self.store_catalog(&next)
            .await
            .map_err(|e| (e.kafka_code(), e.to_string()))?;
        self.broadcast(|tx| ShardMsg::TopicCreated {
            name: name.to_string(),
            meta: meta.clone(),
            reply: tx,
        })
        .await;
        tracing::info!(topic = %name, "topic configs changed");
        Ok(())
    }

    /// On the controller: grows a topic to `count` partitions (CreatePartitions), all or
    /// nothing, as a creation does: directories, every shard opens its new partitions with the
    /// topic's configs, the catalog is stored (the commit point), every shard learns the new
    /// count (and so do the topic's views, whose partitions are their source's).
    pub async fn controller_add_partitions(
        self: &Rc<Self>,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), crate::topic_config::Refusal> {
        use crate::protocol::error::{
            INVALID_PARTITIONS, INVALID_REQUEST, POLICY_VIOLATION, UNKNOWN_TOPIC_OR_PARTITION,
        };
        let _turn = self.controller_turn().await;
        let Some(meta) = self.catalog.borrow().get(name).cloned() else {
            return Err((
                UNKNOWN_TOPIC_OR_PARTITION,
                "This server does not host this topic-partition.".to_string(),
            ));
        };
        if meta.configs.view.is_some() {
            return Err((
                INVALID_REQUEST,
                format!(
                    "{name} is a view: its partitions are its source's; add partitions to the \
                     source topic"
                ),
            ));
        }
        let current = meta.partitions;
        if count == current {
            return Err((
                INVALID_PARTITIONS,
                format!("Topic already has {current} partition(s)."),
            ));
        }
        if count < current {
            return Err((
                INVALID_PARTITIONS,
                format!(
                    "The topic {name} currently has {current} partition(s); {count} would not \
                     be an increase."
                ),
            ));
        }
        if count > crate::storage::names::PARTITIONS_PER_TOPIC_MAX {
            return Err((
                INVALID_PARTITIONS,
                format!(
                    "Topic {name} cannot have {count} partitions: at most {} per topic",
                    crate::storage::names::PARTITIONS_PER_TOPIC_MAX
                ),
            ));
        }
        let hosted = self.catalog.borrow().partition_count();
        let added = u64::from((count - current).unsigned_abs());
        let max = self.config.max_partitions;
        if hosted + added > u64::from(max) {
            return Err((
                POLICY_VIOLATION,
                format!(
                    "Adding {added} partitions to {name} would make {} partitions, above \
                     max.partitions = {max}",
                    hosted + added
                ),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let storage = |e: BrokerError| (e.kafka_code(), e.to_string());
        let made = match self.engine.add_partition_dirs(name, current, count).await {
            Err(StorageError::TopicAlreadyExists { .. }) => {
                // Leftovers of an addition that did not commit: nothing serves them.
                crate::storage::engine::set_aside_unclaimed(&self.config.data_dir, |t, p| {
                    t != name || p < current
                })
                .map_err(|e| storage(e.into()))?;
                self.engine.add_partition_dirs(name, current, count).await
            }
            other => other,
        };
        made.map_err(|e| storage(BrokerError::Storage(e)))?;
        let opened = self.open_everywhere(name, count, &meta.configs).await;
        let mut next = self.catalog.borrow().clone();
        let grown = TopicMeta {
            partitions: count,
            ..meta.clone()
        };
        next.insert(name.to_string(), grown.clone());
        let views: Vec<(String, TopicMeta)> = next
            .views_of(name)
            .into_iter()
            .filter_map(|v| {
                let m = next.get(v)?.clone();
                Some((
                    v.to_string(),
                    TopicMeta {
                        partitions: count,
                        ..m
                    },
                ))
            })
            .collect();
        for (v, m) in &views {
            next.insert(v.clone(), m.clone());
        }
        let committed = match opened {
            Ok(()) => self.store_catalog(&next).await,
            Err(e) => Err(e),
        };
        if let Err(e) = committed {
            // Undo: close the new partitions everywhere, then set their directories aside.
            for shard in 0..self.count {
                let topic = name.to_string();
                self.call(shard, move |s| async move {
                    s.engine.close_partitions_from(&topic, current);
                })
                .await;
            }
            if let Err(e) =
                crate::storage::engine::set_aside_unclaimed(&self.config.data_dir, |t, p| {
                    t != name || p < current
                })
            {
                tracing::error!("setting aside the new partitions of {name}: {e}");
            }
            tracing::error!("adding partitions to {name} failed, nothing of it is left: {e}");
            return Err(storage(e));
        }
        for (topic, m) in std::iter::once((name.to_string(), grown)).chain(views) {
            self.broadcast(|tx| ShardMsg::TopicCreated {
                name: topic.clone(),
                meta: m.clone(),
                reply: tx,
            })
            .await;
        }
        tracing::info!(topic = %name, from = current, to = count, "partitions added");
        Ok(())
    }

    /// Persist `catalog` as the controller's new catalog (logged on failure: the caller answers
    /// with the error). On a full disk the space reserve is released and the save tried once
    /// more, so that a topic can be deleted (and space freed) on a 100% full disk.
    async fn store_catalog(&self, catalog: &Catalog) -> Result<(), BrokerError> {
        let dir = &self.config.data_dir;
        let mut stored = catalog.store(dir).await;
        if let Err(e) = &stored {
            if crate::storage::Error::is_no_space(e) && self.space_reserve.release() {
                stored = catalog.store(dir).await;
            }
        }
        stored.map_err(|source| {
            let e = BrokerError::Io {
                op: "store",
                target: dir.join(super::catalog::CATALOG_FILE).display().to_string(),
                source,
            };
            tracing::error!("persisting the topic catalog failed: {e}");
            e
        })
    }
}

/// An append under way ([`ShardState::start_append`]); it completes whether or not its outcome
/// is awaited.
#[allow(missing_docs)]
pub enum PendingAppend {
    /// On this shard: the spawned append.
    Local(crate::runtime::JoinHandle<AppendResult>),
    /// On the owner: its reply.
    Remote {
        topic: Arc<str>,
        partition: i32,
        reply: mesh::OneshotReceiver<AppendResult>,
    },
}

impl PendingAppend {
    /// The append's outcome: the base offset, or why it failed.
    pub async fn outcome(self) -> AppendResult {
        match self {
            PendingAppend::Local(task) => task.await,
            PendingAppend::Remote {
                topic,
                partition,
                reply,
            } => match reply.recv().await {
                Some(result) => result,
                None => Err(BrokerError::AppendUnanswered { topic, partition }),
            },
        }
    }
}

/// A refused or failed append as the broker's error, logged by how bad it is: a storage failure
/// as an error, a refusal of the client's records at debug level.
fn append_failed(topic: &str, partition: i32, e: StorageError) -> BrokerError {
    let e = BrokerError::Storage(e);
    if e.kafka_code() == code::KAFKA_STORAGE_ERROR {
        tracing::error!("append to {topic}-{partition} failed: {e}");
    } else {
        tracing::debug!("append to {topic}-{partition} rejected: {e}");
    }
    e
}
