//! The transaction coordinator (issue #18): Kafka's transactions for every client, on one
//! broker.
//!
//! Each shard coordinates the transactional ids [`crate::routing::group_coordinator`] hashes to
//! it (the same hash as groups) and keeps their state in its state log of the family
//! [`FAMILY`] (`{data_dir}/__ringlog_state/txn_state/shard-{n}`), one record per
//! transactional id ([`log`] has the byte layout). Memory changes only after the record is
//! durable (the state log's `apply`), so memory is what a replay gives, except that a completed
//! transaction's Complete state is not written (a replay gives its Prepare, which the shard
//! completes again: markers and offsets are idempotent).
//!
//! A transaction, as Kafka's coordinator runs it (the classic protocol, `transaction.version`
//! 1: the client adds partitions itself):
//! ```text
//!   InitProducerId ─▶ Empty ─AddPartitionsToTxn/AddOffsetsToTxn─▶ Ongoing
//!   Ongoing ─EndTxn(commit)─▶ PrepareCommit ─markers, group offsets─▶ CompleteCommit
//!   Ongoing ─EndTxn(abort) / timeout / new InitProducerId─▶ PrepareAbort ─▶ CompleteAbort
//!   Complete* ─AddPartitionsToTxn─▶ Ongoing (the next transaction)
//! ```
//! - **Markers**: ringlog is its own partition leader, so the coordinator writes the commit or
//!   abort marker into each partition of the transaction itself (on the partition's owner
//!   shard, [`crate::storage::Log::append_marker`]) and tells each group coordinator to commit
//!   or drop the transaction's pending offsets. EndTxn is answered when all of that is done
//!   (Kafka answers after the prepare and writes markers afterwards), so a read_committed
//!   consumer sees a committed transaction as soon as `commitTransaction()` returns.
//! - **Crash safety**: the Prepare state is durable before any marker is written; at start and
//!   at every check ([`run_upkeep`]) a shard finishes every prepared transaction (markers and
//!   offsets are idempotent: a second marker for a closed transaction changes nothing).
//! - **Fencing**: a new InitProducerId for an id bumps the epoch; an open transaction is
//!   aborted first with the bumped epoch, so a zombie's later batches (older epoch) are refused
//!   by every partition the marker reached, and its EndTxn/AddPartitions get PRODUCER_FENCED.
//! - **Timeout**: a transaction open longer than its `transaction.timeout.ms` is aborted with a
//!   bumped epoch (the producer is fenced, as Kafka does), checked every
//!   `transaction_abort_check_ms`.
//! - One operation at a time per transactional id: another one meanwhile gets
//!   CONCURRENT_TRANSACTIONS, which every client retries.
//!
//! # Invariants
//! - A transaction's markers are written only after its Prepare state is durable; its
//!   Complete state is set (in memory: the Prepare record stays the latest on disk until the
//!   id's next change, and a restart completes it again) only after every marker and group
//!   completion succeeded. Otherwise memory changes only after the record is durable.
//! - A prepared transaction is completed in the direction it was prepared, however many times
//!   the broker restarts.
//! - The partitions and groups of a transaction are bounded ([`TXN_PARTITIONS_MAX`],
//!   [`TXN_GROUPS_MAX`]), so its record fits the state log's value bound.

pub mod log;

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use crate::error::BrokerError;
use crate::protocol::error as code;
use crate::runtime::IoKind;
use crate::shard::ShardState;
use crate::storage::log::FlushPolicy;
use crate::storage::state_log::{StateLog, StateLogConfig, Update};

pub use log::{TxnMeta, TxnState};

/// The state log family of transaction state.
pub const FAMILY: &str = "txn_state";
/// Kafka's `transaction.max.timeout.ms` default (15 minutes).
pub const TRANSACTION_MAX_TIMEOUT_MS_DEFAULT: i32 = 900_000;
/// Kafka's `transaction.abort.timed.out.transaction.cleanup.interval.ms` default.
pub const ABORT_CHECK_MS_DEFAULT: u64 = 10_000;
/// Upper bound of the check interval.
pub const ABORT_CHECK_MS_MAX: u64 = 3_600_000;
/// Most partitions one transaction may span.
pub const TXN_PARTITIONS_MAX: usize = 2_000;
/// Most consumer groups one transaction may commit offsets for.
pub const TXN_GROUPS_MAX: usize = 100;
/// Longest transactional id (bytes).
pub const TRANSACTIONAL_ID_BYTES_MAX: usize = 1_024;
/// Transactional ids one shard coordinates at most (each costs a record of state).
pub const TXN_IDS_PER_SHARD_MAX: usize = 100_000;
/// Environment variable of the crash test hook: `txn-prepared` makes the process abort (no
/// cleanup, like a SIGKILL) right after a Prepare state is durable, before any marker (tests of
/// recovery only).
pub const CRASH_AT_ENV: &str = "RINGLOG_TEST_CRASH_AT";

/// The shard coordinating `transactional_id`.
pub fn coordinator_of(transactional_id: &str, shards: usize) -> usize {
    crate::routing::group_coordinator(transactional_id, shards)
}

/// Whether Kafka accepts `id` as a transactional id (non-empty) and ringlog's bound holds.
pub fn valid_transactional_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= TRANSACTIONAL_ID_BYTES_MAX
}

fn refuse(code: i16, id: &str, reason: impl Into<String>) -> BrokerError {
    BrokerError::Txn {
        code,
        transactional_id: id.to_string(),
        reason: reason.into(),
    }
}

/// One shard's transaction coordinator.
#[derive(Default)]
pub struct Txns {
    log: OnceCell<StateLog>,
    txns: Rc<RefCell<HashMap<String, TxnMeta>>>,
    /// Transactional ids with an operation in progress.
    busy: RefCell<HashSet<String>>,
}

/// Marks an id busy until dropped.
struct Busy<'a> {
    txns: &'a Txns,
    id: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.txns.busy.borrow_mut().remove(&self.id);
    }
}

/// What DescribeTransactions shows of one transactional id.
pub type Described = Result<TxnMeta, BrokerError>;

impl Txns {
    /// Opens this shard's transaction state log and replays it. Call [`prepare`] first.
    pub async fn open(
        &self,
        data_dir: &Path,
        shard: usize,
        shards: usize,
        flush: FlushPolicy,
    ) -> io::Result<()> {
        let root = crate::storage::state_log::state_root(data_dir);
        let mut txns = HashMap::new();
        let config = StateLogConfig {
            flush,
            ..StateLogConfig::default()
        };
        let state = StateLog::open(&root, FAMILY, shard, config, |k, v| {
            let id = log::decode_key(k).ok_or("not a transaction state key")?;
            let owner = coordinator_of(&id, shards);
            if owner != shard {
                return Err(format!("transactional id {id:?} belongs to shard {owner}"));
            }
            txns.insert(id, TxnMeta::decode(v)?);
            Ok(())
        })
        .await
        .map_err(|e| io::Error::other(format!("shard {shard}: transaction state: {e}")))?;
        let prepared = txns.values().filter(|t| t.state.is_prepared()).count();
        if prepared > 0 {
            tracing::info!("shard {shard}: {prepared} prepared transaction(s) to complete");
        }
        *self.txns.borrow_mut() = txns;
        let _ = self.log.set(state);
        Ok(())
    }

    /// The state of a transactional id.
    pub fn get(&self, id: &str) -> Option<TxnMeta> {
        self.txns.borrow().get(id).cloned()
    }

    /// Every transactional id here with its state.
    pub fn all(&self) -> Vec<(String, TxnMeta)> {
        self.txns
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn begin(&self, id: &str) -> Result<Busy<'_>, BrokerError> {
        if !self.busy.borrow_mut().insert(id.to_string()) {
            return Err(refuse(
                code::CONCURRENT_TRANSACTIONS,
                id,
                "another operation on this transactional id is in progress",
            ));
        }
        Ok(Busy {
            txns: self,
            id: id.to_string(),
        })
    }

    /// Stores `meta` as `id`'s state; memory changes once it is durable.
    async fn store(&self, id: &str, meta: TxnMeta) -> Result<(), BrokerError> {
        let Some(state) = self.log.get() else {
            return Err(refuse(
                code::COORDINATOR_NOT_AVAILABLE,
                id,
                "the transaction state is not open",
            ));
        };
        let value = meta.encode();
        if value.len() > crate::storage::state_log::VALUE_BYTES_MAX {
            return Err(refuse(
                code::INVALID_REQUEST,
                id,
                format!("transaction state of {} bytes is too large", value.len()),
            ));
        }
        let txns = self.txns.clone();
        let key = id.to_string();
        state
            .append(vec![Update::put(log::encode_key(id), value)], move || {
                txns.borrow_mut().insert(key, meta);
            })
            .await
            .map_err(|e| {
                tracing::error!("transaction {id:?}: state not stored: {e}");
                refuse(
                    code::COORDINATOR_NOT_AVAILABLE,
                    id,
                    format!("state not stored: {e}"),
                )
            })
    }
}

/// Which code a fenced producer gets: PRODUCER_FENCED where the API version knows it (KIP-588),
/// INVALID_PRODUCER_EPOCH before.
pub fn fenced_code(version: i16, first_version_with_fenced: i16) -> i16 {
    if version >= first_version_with_fenced {
        code::PRODUCER_FENCED
    } else {
        code::INVALID_PRODUCER_EPOCH
    }
}

/// The producer named by a request must be the transaction's current one.
fn check_producer(
    id: &str,
    meta: &TxnMeta,
    producer_id: i64,
    epoch: i16,
    fenced: i16,
) -> Result<(), BrokerError> {
    if meta.producer_id != producer_id {
        return Err(refuse(
            code::INVALID_PRODUCER_ID_MAPPING,
            id,
            format!(
                "producer id {producer_id} is not the transaction's ({})",
                meta.producer_id
            ),
        ));
    }
    if meta.epoch != epoch {
        return Err(refuse(
            fenced,
            id,
            format!(
                "producer epoch {epoch} is not the transaction's ({}): fenced",
                meta.epoch
            ),
        ));
    }
    Ok(())
}

fn now_ms() -> i64 {
    crate::storage::log::now_ms()
}

/// InitProducerId with a transactional id, on its coordinator shard: a new producer id (epoch 0)
/// for an id never seen, else the id's producer with its epoch bumped (an open transaction is
/// aborted first, a prepared one completed). `expected` is the (producer id, epoch) the client
/// passed (v3+, KIP-360), `(-1, -1)` when none. `fenced` is the code for a mismatch.
pub async fn init_producer_id(
    shard: &Rc<ShardState>,
    id: &str,
    timeout_ms: i32,
    expected: (i64, i16),
    fenced: i16,
) -> Result<(i64, i16), BrokerError> {
    let txns = &shard.txns;
    let _busy = txns.begin(id)?;
    let current = txns.get(id);
    if current.is_none() && txns.txns.borrow().len() >= TXN_IDS_PER_SHARD_MAX {
        return Err(refuse(
            code::COORDINATOR_NOT_AVAILABLE,
            id,
            format!("this shard coordinates {TXN_IDS_PER_SHARD_MAX} transactional ids already"),
        ));
    }
    let mut meta = match current {
        None => {
            let producer_id = shard.allocate_producer_id().await?;
            TxnMeta::new(producer_id, 0, timeout_ms)
        }
        Some(mut meta) => {
            if expected.0 >= 0 && (expected.0, expected.1) != (meta.producer_id, meta.epoch) {
                return Err(refuse(
                    fenced,
                    id,
                    format!(
                        "producer {}/{} is not the current {}/{}",
                        expected.0, expected.1, meta.producer_id, meta.epoch
                    ),
                ));
            }
            match meta.state {
                TxnState::Ongoing => {
                    // Fence the old producer: its transaction ends with a bumped epoch.
                    meta = bump(shard, meta).await?;
                    meta = finish(shard, id, meta, false).await?;
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => {
                    let commit = meta.state == TxnState::PrepareCommit;
                    meta = finish(shard, id, meta, commit).await?;
                }
                _ => {}
            }
            let mut next = bump(shard, meta).await?;
            next.state = TxnState::Empty;
            next.timeout_ms = timeout_ms;
            next.partitions.clear();
            next.groups.clear();
            next.start_ms = -1;
            next
        }
    };
    meta.update_ms = now_ms();
    let answer = (meta.producer_id, meta.epoch);
    txns.store(id, meta).await?;
    Ok(answer)
}

/// The next epoch of `meta`'s producer, or a new producer id at epoch 0 when the epoch would
/// reach its maximum (Kafka's rule).
async fn bump(shard: &Rc<ShardState>, mut meta: TxnMeta) -> Result<TxnMeta, BrokerError> {
    if meta.epoch >= i16::MAX - 1 {
        meta.producer_id = shard.allocate_producer_id().await?;
        meta.epoch = 0;
    } else {
        meta.epoch += 1;
    }
    Ok(meta)
}

/// AddPartitionsToTxn (and with `partitions` empty and `group` set, AddOffsetsToTxn) on the
/// coordinator shard. `verify_only`: only check that the partitions are in the transaction
/// (the v4+ broker form). Unknown partitions are refused before anything is added.
#[allow(clippy::too_many_arguments)]
pub async fn add_to_txn(
    shard: &Rc<ShardState>,
    id: &str,
    producer_id: i64,
    epoch: i16,
    partitions: &[(String, i32)],
    group: Option<&str>,
    verify_only: bool,
    fenced: i16,
) -> Result<(), BrokerError> {
    let txns = &shard.txns;
    tracing::debug!(
        "AddToTxn {id:?} {producer_id}/{epoch}: {partitions:?} group {group:?} verify {verify_only}"
    );
    let _busy = txns.begin(id)?;
    let Some(mut meta) = txns.get(id) else {
        return Err(refuse(
            code::INVALID_PRODUCER_ID_MAPPING,
            id,
            "unknown transactional id (InitProducerId first)",
        ));
    };
    check_producer(id, &meta, producer_id, epoch, fenced)?;
    if meta.state.is_prepared() {
        return Err(refuse(
            code::CONCURRENT_TRANSACTIONS,
            id,
            "the previous transaction is still completing",
        ));
    }
    if verify_only {
        let missing = partitions
            .iter()
            .any(|p| !meta.partitions.contains(p) || meta.state != TxnState::Ongoing);
        return if missing {
            Err(refuse(
                code::INVALID_TXN_STATE,
                id,
                "a partition is not part of the open transaction",
            ))
        } else {
            Ok(())
        };
    }
    if meta.state != TxnState::Ongoing {
        // The next transaction: the last one's partitions and groups are done with.
        meta.state = TxnState::Ongoing;
        meta.partitions.clear();
        meta.groups.clear();
        meta.start_ms = now_ms();
    } else if partitions.iter().all(|p| meta.partitions.contains(p))
        && group.is_none_or(|g| meta.groups.contains(g))
    {
        return Ok(());
    }
    meta.partitions.extend(partitions.iter().cloned());
    if let Some(g) = group {
        meta.groups.insert(g.to_string());
    }
    if meta.partitions.len() > TXN_PARTITIONS_MAX || meta.groups.len() > TXN_GROUPS_MAX {
        return Err(refuse(
            code::INVALID_REQUEST,
            id,
            format!(
                "a transaction spans at most {TXN_PARTITIONS_MAX} partitions and \
                 {TXN_GROUPS_MAX} groups"
            ),
        ));
    }
    meta.update_ms = now_ms();
    txns.store(id, meta).await
}

/// TxnOffsetCommit's check on the coordinator shard (the group coordinator asks before it stores
/// pending offsets): the producer must be the transaction's current one, the transaction open,
/// and the group added to it (AddOffsetsToTxn), else a zombie's or a stray commit would wait
/// pending and be committed by a later transaction of the same producer id.
pub fn verify_offsets(
    shard: &ShardState,
    id: &str,
    producer_id: i64,
    epoch: i16,
    group: &str,
    fenced: i16,
) -> Result<(), BrokerError> {
    let Some(meta) = shard.txns.get(id) else {
        return Err(refuse(
            code::INVALID_PRODUCER_ID_MAPPING,
            id,
            "unknown transactional id",
        ));
    };
    check_producer(id, &meta, producer_id, epoch, fenced)?;
    if meta.state != TxnState::Ongoing || !meta.groups.contains(group) {
        return Err(refuse(
            code::INVALID_TXN_STATE,
            id,
            format!("group {group:?} is not part of an open transaction (AddOffsetsToTxn first)"),
        ));
    }
    Ok(())
}

/// Produce's check of transactional batches (KIP-890 part 1's verification, on the coordinator
/// shard, once per Produce request): the producer must be the id's current one and every
/// partition part of its open transaction. A fenced zombie writing to a partition its old
/// transaction never reached would otherwise open a transaction there that no marker ends,
/// holding the partition's last stable offset forever.
pub fn verify_produce(
    shard: &ShardState,
    id: &str,
    producer_id: i64,
    epoch: i16,
    partitions: &[(String, i32)],
) -> Result<(), BrokerError> {
    let Some(meta) = shard.txns.get(id) else {
        return Err(refuse(
            code::INVALID_PRODUCER_ID_MAPPING,
            id,
            "unknown transactional id",
        ));
    };
    check_producer(id, &meta, producer_id, epoch, code::INVALID_PRODUCER_EPOCH)?;
    if meta.state != TxnState::Ongoing {
        return Err(refuse(
            code::INVALID_TXN_STATE,
            id,
            format!("no open transaction (state {})", meta.state.name()),
        ));
    }
    if let Some((t, p)) = partitions.iter().find(|p| !meta.partitions.contains(*p)) {
        return Err(refuse(
            code::INVALID_TXN_STATE,
            id,
            format!("{t}-{p} was not added to the transaction (AddPartitionsToTxn first)"),
        ));
    }
    Ok(())
}

/// EndTxn on the coordinator shard: prepare, write the markers and end the group offsets,
/// complete. A retry of the transaction's completed end answers success again. Returns the
/// producer id and epoch (EndTxn v5 carries them).
pub async fn end_txn(
    shard: &Rc<ShardState>,
    id: &str,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    fenced: i16,
) -> Result<(i64, i16), BrokerError> {
    let txns = &shard.txns;
    tracing::debug!("EndTxn {id:?} {producer_id}/{epoch} commit {commit}");
    let _busy = txns.begin(id)?;
    let Some(meta) = txns.get(id) else {
        return Err(refuse(
            code::INVALID_PRODUCER_ID_MAPPING,
            id,
            "unknown transactional id",
        ));
    };
    tracing::debug!("EndTxn {id:?}: {:?} {:?}", meta.state, meta.partitions);
    check_producer(id, &meta, producer_id, epoch, fenced)?;
    let answer = (meta.producer_id, meta.epoch);
    match (meta.state, commit) {
        (TxnState::Ongoing, _) => {
            finish(shard, id, meta, commit).await?;
            Ok(answer)
        }
        (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(answer),
        (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
            finish(shard, id, meta, commit).await?;
            Ok(answer)
        }
        (TxnState::PrepareCommit | TxnState::PrepareAbort, _) => Err(refuse(
            code::CONCURRENT_TRANSACTIONS,
            id,
            "the transaction is completing the other way",
        )),
        (state, _) => Err(refuse(
            code::INVALID_TXN_STATE,
            id,
            format!(
                "cannot {} a transaction in state {}",
                if commit { "commit" } else { "abort" },
                state.name()
            ),
        )),
    }
}

/// Takes `meta` (Ongoing or already prepared) to Prepare{Commit,Abort} (durable), writes the
/// markers and ends the groups' pending offsets, then stores Complete{Commit,Abort}. Returns the
/// completed state.
async fn finish(
    shard: &Rc<ShardState>,
    id: &str,
    mut meta: TxnMeta,
    commit: bool,
) -> Result<TxnMeta, BrokerError> {
    let prepare = if commit {
        TxnState::PrepareCommit
    } else {
        TxnState::PrepareAbort
    };
    if meta.state != prepare {
        meta.state = prepare;
        meta.update_ms = now_ms();
        shard.txns.store(id, meta.clone()).await?;
        if std::env::var(CRASH_AT_ENV).is_ok_and(|v| v == "txn-prepared") {
            tracing::warn!("{CRASH_AT_ENV}=txn-prepared: aborting the broker after the prepare");
            // No cleanup, no flush, like a SIGKILL: what is durable is what a crash leaves.
            std::process::abort();
        }
    }
    write_markers(shard, &meta, commit).await?;
    for group in &meta.groups {
        let op = crate::group::GroupOp::TxnComplete {
            group: group.clone(),
            producer_id: meta.producer_id,
            commit,
        };
        match crate::group::call(shard, group, op).await? {
            crate::group::GroupReply::Delete(r) => r?,
            _ => {
                return Err(BrokerError::CoordinatorReplyMismatch { op: "TxnComplete" });
            }
        }
    }
    meta.state = if commit {
        TxnState::CompleteCommit
    } else {
        TxnState::CompleteAbort
    };
    meta.update_ms = now_ms();
    // Not written: the id's next state change writes its whole state anyway, and until then a
    // restart finds the Prepare record and completes it again (markers and group offsets are
    // idempotent). One fdatasync less on every commit's path.
    shard
        .txns
        .txns
        .borrow_mut()
        .insert(id.to_string(), meta.clone());
    Ok(meta)
}

/// Writes `meta`'s marker into every partition of its transaction, each on its owner shard, all
/// shards at once. A partition whose topic was deleted meanwhile is skipped.
async fn write_markers(
    shard: &Rc<ShardState>,
    meta: &TxnMeta,
    commit: bool,
) -> Result<(), BrokerError> {
    let mut by_shard: Vec<Vec<(String, i32)>> = (0..shard.count).map(|_| Vec::new()).collect();
    for (topic, partition) in &meta.partitions {
        by_shard[shard.owner(topic, *partition)].push((topic.clone(), *partition));
    }
    let (producer_id, epoch) = (meta.producer_id, meta.epoch);
    let calls = by_shard
        .into_iter()
        .enumerate()
        .filter(|(_, parts)| !parts.is_empty())
        .map(|(owner, parts)| async move {
            shard
                .call(owner, move |s| async move {
                    for (topic, partition) in parts {
                        let log = match s.engine.log(&topic, partition) {
                            Ok(log) => log,
                            Err(crate::storage::Error::UnknownTopicOrPartition { .. }) => continue,
                            Err(e) => return Err(e.to_string()),
                        };
                        if let Err(e) = log.append_marker(producer_id, epoch, commit, 0).await {
                            return Err(format!("{topic}-{partition}: {e}"));
                        }
                    }
                    Ok(())
                })
                .await
                .unwrap_or_else(|| Err(format!("shard {owner} is not available")))
        })
        .collect::<Vec<_>>();
    for r in crate::runtime::future::join_all(calls).await {
        if let Err(reason) = r {
            tracing::error!(
                "transaction markers of producer {producer_id}: {reason}; completed later"
            );
            return Err(BrokerError::Txn {
                code: code::COORDINATOR_NOT_AVAILABLE,
                transactional_id: String::new(),
                reason: format!("markers not written: {reason}"),
            });
        }
    }
    Ok(())
}

/// The coordinator's background work on one shard, every `transaction_abort_check_ms` until
/// shutdown: abort (with a bumped epoch) every transaction open past its timeout, and complete
/// every prepared one (after a restart, or after a marker could not be written).
pub async fn run_upkeep(shard: Rc<ShardState>) {
    let every = Duration::from_millis(shard.config.transaction_abort_check_ms);
    loop {
        upkeep_once(&shard).await;
        if shard.shutting_down.get() {
            return;
        }
        let shutdown = shard.shutdown.notified();
        if crate::runtime::time::timeout(every, shutdown).await.is_ok() {
            return;
        }
    }
}

/// One pass of [`run_upkeep`].
pub async fn upkeep_once(shard: &Rc<ShardState>) {
    let now = now_ms();
    let due: Vec<(String, TxnMeta)> = shard
        .txns
        .txns
        .borrow()
        .iter()
        .filter(|(id, t)| {
            !shard.txns.busy.borrow().contains(*id)
                && (t.state.is_prepared()
                    || (t.state == TxnState::Ongoing
                        && now.saturating_sub(t.start_ms) > i64::from(t.timeout_ms)))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (id, meta) in due {
        if shard.shutting_down.get() {
            return;
        }
        let Ok(_busy) = shard.txns.begin(&id) else {
            continue;
        };
        let r = match meta.state {
            TxnState::Ongoing => {
                tracing::info!(
                    "transaction {id:?} of producer {} open past its timeout of {} ms: aborted",
                    meta.producer_id,
                    meta.timeout_ms
                );
                match bump(shard, meta).await {
                    Ok(bumped) => finish(shard, &id, bumped, false).await.map(drop),
                    Err(e) => Err(e),
                }
            }
            state => {
                let commit = state == TxnState::PrepareCommit;
                finish(shard, &id, meta, commit).await.map(drop)
            }
        };
        if let Err(e) = r {
            tracing::warn!("transaction {id:?}: {e}; retried at the next check");
        }
    }
}

/// Before the shards start (blocking, once): re-route the transaction state when the shard
/// count changed.
pub fn prepare(data_dir: &Path, shards: usize, io: IoKind) -> io::Result<()> {
    let route = move |key: &[u8]| log::decode_key(key).map(|id| coordinator_of(&id, shards));
    crate::state::prepare_family(data_dir, FAMILY, shards, io, &route, Vec::new()).map(drop)
}

/// Transactions as ListTransactions and DescribeTransactions show them, from every shard.
pub async fn list_all(shard: &Rc<ShardState>) -> Vec<(String, TxnMeta)> {
    let mut out = Vec::new();
    for target in 0..shard.count {
        if let Some(list) = shard.call(target, |s| async move { s.txns.all() }).await {
            out.extend(list);
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
