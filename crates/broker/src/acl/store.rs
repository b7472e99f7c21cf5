//! The durable store of ACLs and every shard's copy.
//!
//! The ACLs are the state log family [`FAMILY`] (`{data_dir}/__ringlog_state/acls/shard-0`),
//! written by the controller shard only, one record per ACL (the key is the whole ACL, the value
//! a version byte; deleting an ACL is its tombstone). A state log rather than a file replaced
//! whole (as the topic catalog is): a change appends only the ACLs it adds or removes, with one
//! fdatasync shared by concurrent changes, and torn tails, compaction and re-sharding are the
//! state log's, tested there. Every shard holds the whole set as an immutable [`AclIndex`] in
//! its [`ShardAcls`], so a decision never leaves the shard.
//!
//! A change (CreateAcls, DeleteAcls) runs on the controller, one at a time: the records are
//! appended and durable, the controller builds the next index (version + 1) from its own and
//! the change, and hands it to every shard (itself included); the change is answered once every
//! shard installed it. So an ACL deleted is gone on every shard when DeleteAcls answers. At
//! start, the controller replays the log and hands the index to every shard before any shard
//! accepts a connection (`shard_main` opens the store before the start gate).
//!
//! ```text
//! key:   kind u8 = 1 | resource_type i8 | pattern_type i8 | operation i8 | permission i8
//!        | name: len u16 + UTF-8 | principal: len u16 + UTF-8 | host: len u16 + UTF-8
//! value: version u8 = 0
//! ```
//! Integers big-endian; codes are Kafka's.
//!
//! # Invariants
//! - Only the controller writes the log; changes run one at a time (the turn), each from the
//!   index the previous one installed.
//! - A shard's index only moves forward (versions grow); memory changes only after the records
//!   are durable.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use super::authorizer::{AclIndex, Authorizer, AuthorizerConfig, Caller};
use super::{AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType, ACLS_MAX};
use crate::routing::CONTROLLER_SHARD;
use crate::runtime::sync::Notify;
use crate::runtime::IoKind;
use crate::shard::ShardState;
use crate::storage::codec::BeReader;
use crate::storage::state_log::{StateLog, StateLogConfig, Update};

/// The state log family of the ACLs (the controller's shard only).
pub const FAMILY: &str = "acls";
/// First byte of a key.
const KEY_KIND_ACL: u8 = 1;
/// The value of every record.
const VALUE_VERSION: u8 = 0;
/// Most ACL records per append: the largest ACL key is under 2.4 KiB, so a chunk stays far
/// below the state log's append bound (64 MiB) whatever a request holds.
pub const APPEND_CHUNK_ACLS: usize = 4_096;

/// The key of an ACL's record.
pub fn encode_key(acl: &AclBinding) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + 6 + acl.name.len() + acl.principal.len() + acl.host.len());
    out.push(KEY_KIND_ACL);
    out.push(acl.resource_type.code() as u8);
    out.push(acl.pattern.code() as u8);
    out.push(acl.operation.code() as u8);
    out.push(acl.permission.code() as u8);
    for s in [&acl.name, &acl.principal, &acl.host] {
        // validate() bounds every field far below 64 KiB.
        let n = u16::try_from(s.len()).expect("ACL fields are bounded below 64 KiB");
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// The ACL of a key; the error names what is wrong.
pub fn decode_key(bytes: &[u8]) -> Result<AclBinding, String> {
    let short = || "ACL key cut short".to_string();
    let mut r = BeReader::new(bytes);
    let kind = r.u8().ok_or_else(short)?;
    if kind != KEY_KIND_ACL {
        return Err(format!("ACL key kind {kind}"));
    }
    let code = |r: &mut BeReader<'_>| r.u8().map(|b| b as i8).ok_or_else(short);
    let (t, p, o, perm) = (code(&mut r)?, code(&mut r)?, code(&mut r)?, code(&mut r)?);
    let acl = AclBinding {
        resource_type: ResourceType::from_code(t).ok_or(format!("ACL resource type {t}"))?,
        pattern: PatternType::from_code(p).ok_or(format!("ACL pattern type {p}"))?,
        operation: Operation::from_code(o).ok_or(format!("ACL operation {o}"))?,
        permission: Permission::from_code(perm).ok_or(format!("ACL permission {perm}"))?,
        name: r.str16().ok_or_else(short)?,
        principal: r.str16().ok_or_else(short)?,
        host: r.str16().ok_or_else(short)?,
    };
    if !r.rest.is_empty() {
        return Err("bytes after the ACL key".into());
    }
    acl.validate().map_err(|e| e.0)?;
    Ok(acl)
}

/// Why a change was not (wholly) made: Kafka's code and message for the ACLs it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeError {
    /// Kafka's error code.
    pub code: i16,
    /// The message.
    pub message: String,
}

impl ChangeError {
    fn storage(e: impl std::fmt::Display) -> ChangeError {
        ChangeError {
            code: crate::protocol::error::UNKNOWN_SERVER_ERROR,
            message: format!("the ACLs were not stored: {e}"),
        }
    }

    fn unavailable() -> ChangeError {
        ChangeError {
            code: crate::protocol::error::UNKNOWN_SERVER_ERROR,
            message: "the controller shard did not answer (shutting down)".into(),
        }
    }
}

/// One shard's ACLs: its copy of the index (every shard) and the store (the controller).
pub struct ShardAcls {
    authorizer: RefCell<Authorizer>,
    /// The controller's state log of the ACLs.
    log: OnceCell<StateLog>,
    /// Controller: a change is in progress.
    busy: Cell<bool>,
    /// Controller: fires when `busy` is cleared.
    idle: Notify,
}

/// One turn of ACL changes on the controller; ends (and wakes the next) when dropped.
struct Turn<'a>(&'a ShardAcls);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        debug_assert!(self.0.busy.get(), "ACL turn ended twice");
        self.0.busy.set(false);
        self.0.idle.notify_waiters();
    }
}

impl ShardAcls {
    /// A shard's ACLs before the controller hands it the stored ones (empty, version 0).
    pub fn new(config: AuthorizerConfig) -> ShardAcls {
        ShardAcls {
            authorizer: RefCell::new(Authorizer::new(
                Arc::new(config),
                Arc::new(AclIndex::default()),
            )),
            log: OnceCell::new(),
            busy: Cell::new(false),
            idle: Notify::new(),
        }
    }

    /// The decision function on this shard's copy ([`Authorizer::authorize`]): no allocation,
    /// no message to another shard.
    pub fn authorize(
        &self,
        caller: &Caller<'_>,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.authorizer
            .borrow()
            .authorize(caller, operation, resource_type, name)
    }

    /// The authorizer as it is now (two `Arc` clones): for a handler that decides many times,
    /// or across an await.
    pub fn authorizer(&self) -> Authorizer {
        self.authorizer.borrow().clone()
    }

    /// The authorizer as it is now, borrowed (no clone): [`crate::acl::Access::new`] clones
    /// it only for a caller the ACLs apply to.
    pub fn current(&self) -> std::cell::Ref<'_, Authorizer> {
        self.authorizer.borrow()
    }

    /// The ACLs as this shard has them now.
    pub fn index(&self) -> Arc<AclIndex> {
        self.authorizer.borrow().index().clone()
    }

    /// Installs `index` unless this shard has a newer one (changes may arrive out of order).
    pub fn install(&self, index: Arc<AclIndex>) {
        let mut a = self.authorizer.borrow_mut();
        if index.version > a.index().version {
            *a = Authorizer::new(a.config().clone(), index);
        }
    }

    async fn turn(&self) -> Turn<'_> {
        // Single-threaded shard: nothing runs between the check and the waiter's registration
        // in the first poll of `notified()`; every waiter rechecks after a wake-up.
        while self.busy.get() {
            self.idle.notified().await;
        }
        self.busy.set(true);
        Turn(self)
    }
}

/// Before the shards start (blocking, once): lays the family out for the shard count (every
/// record on the controller's shard, whatever the count).
pub fn prepare(data_dir: &Path, shards: usize, io: IoKind) -> io::Result<()> {
    let route = |_: &[u8]| Some(CONTROLLER_SHARD);
    crate::state::prepare_family(data_dir, FAMILY, shards, io, &route, Vec::new()).map(drop)
}

/// At start, on every shard after its inbox runs and before it accepts connections: the
/// controller opens the store, replays it and hands the ACLs to every shard (the others do
/// nothing; they wait for it at the start gate).
pub async fn open(shard: &Rc<ShardState>) -> io::Result<()> {
    if shard.id != CONTROLLER_SHARD {
        return Ok(());
    }
    let root = crate::storage::state_log::state_root(&shard.config.data_dir);
    let mut acls = BTreeSet::new();
    // ACLs are rare and security state: always synced, whatever the broker's flush policy.
    let log = StateLog::open(
        &root,
        FAMILY,
        CONTROLLER_SHARD,
        StateLogConfig::default(),
        |k, _| {
            acls.insert(decode_key(k)?);
            Ok(())
        },
    )
    .await
    .map_err(|e| io::Error::other(format!("shard {}: ACLs: {e}", shard.id)))?;
    if !acls.is_empty() {
        tracing::info!("{} ACL(s) loaded", acls.len());
    }
    let _ = shard.acls.log.set(log);
    broadcast(shard, Arc::new(AclIndex::build(1, acls))).await;
    Ok(())
}

/// Hands `index` to every shard (this one included) and waits until all installed it.
async fn broadcast(shard: &Rc<ShardState>, index: Arc<AclIndex>) {
    let installs: Vec<_> = (0..shard.count)
        .map(|target| {
            let index = index.clone();
            shard.call(target, move |s| async move { s.acls.install(index) })
        })
        .collect();
    crate::runtime::future::join_all(installs).await;
}

/// CreateAcls on the controller: adds `acls` (each already validated); one result per ACL, in
/// order (`None`: created, or it existed already, which is no error in Kafka either).
pub async fn create(shard: &Rc<ShardState>, acls: Vec<AclBinding>) -> Vec<Option<ChangeError>> {
    let n = acls.len();
    shard
        .call(CONTROLLER_SHARD, move |s| async move {
            controller_create(&s, acls).await
        })
        .await
        .unwrap_or_else(|| vec![Some(ChangeError::unavailable()); n])
}

async fn controller_create(
    shard: &Rc<ShardState>,
    acls: Vec<AclBinding>,
) -> Vec<Option<ChangeError>> {
    let store = &shard.acls;
    let _turn = store.turn().await;
    let Some(log) = store.log.get() else {
        return vec![Some(ChangeError::storage("the ACL store is not open")); acls.len()];
    };
    let current = store.index();
    let mut next = current.acls().clone();
    // The ACLs to write: new ones, each once, within the bound.
    let mut results: Vec<Option<ChangeError>> = vec![None; acls.len()];
    let mut fresh: Vec<(usize, AclBinding)> = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, acl) in acls.into_iter().enumerate() {
        if next.contains(&acl) || !seen.insert(acl.clone()) {
            continue;
        }
        if next.len() + fresh.len() >= ACLS_MAX {
            results[i] = Some(ChangeError {
                code: crate::protocol::error::INVALID_REQUEST,
                message: format!("the broker holds the maximum of {ACLS_MAX} ACLs"),
            });
            continue;
        }
        fresh.push((i, acl));
    }
    let mut failed: Option<ChangeError> = None;
    for chunk in fresh.chunks(APPEND_CHUNK_ACLS) {
        if let Some(e) = &failed {
            for (i, _) in chunk {
                results[*i] = Some(e.clone());
            }
            continue;
        }
        let updates = chunk
            .iter()
            .map(|(_, acl)| Update::put(encode_key(acl), vec![VALUE_VERSION]))
            .collect();
        match log.append(updates, || {}).await {
            Ok(()) => next.extend(chunk.iter().map(|(_, acl)| acl.clone())),
            Err(e) => {
                tracing::error!("CreateAcls: {e}");
                let e = ChangeError::storage(e);
                for (i, _) in chunk {
                    results[*i] = Some(e.clone());
                }
                failed = Some(e);
            }
        }
    }
    if next.len() != current.len() {
        broadcast(shard, Arc::new(AclIndex::build(current.version + 1, next))).await;
    }
    results
}

/// DeleteAcls on the controller: removes every ACL matching each filter; per filter, the ACLs
/// it matched before the request (an ACL two filters match is reported by both, as Kafka does),
/// or why they were not removed.
pub async fn delete(
    shard: &Rc<ShardState>,
    filters: Vec<AclFilter>,
) -> Vec<Result<Vec<AclBinding>, ChangeError>> {
    let n = filters.len();
    shard
        .call(CONTROLLER_SHARD, move |s| async move {
            controller_delete(&s, filters).await
        })
        .await
        .unwrap_or_else(|| vec![Err(ChangeError::unavailable()); n])
}

async fn controller_delete(
    shard: &Rc<ShardState>,
    filters: Vec<AclFilter>,
) -> Vec<Result<Vec<AclBinding>, ChangeError>> {
    let store = &shard.acls;
    let _turn = store.turn().await;
    let Some(log) = store.log.get() else {
        let e = ChangeError::storage("the ACL store is not open");
        return vec![Err(e); filters.len()];
    };
    let current = store.index();
    let matched: Vec<Vec<AclBinding>> = filters
        .iter()
        .map(|f| {
            current
                .acls()
                .iter()
                .filter(|a| f.matches(a))
                .cloned()
                .collect()
        })
        .collect();
    let doomed: BTreeSet<&AclBinding> = matched.iter().flatten().collect();
    let doomed: Vec<&AclBinding> = doomed.into_iter().collect();
    let mut next = current.acls().clone();
    let mut failed: Option<ChangeError> = None;
    for chunk in doomed.chunks(APPEND_CHUNK_ACLS) {
        let updates = chunk
            .iter()
            .map(|acl| Update::delete(encode_key(acl)))
            .collect();
        match log.append(updates, || {}).await {
            Ok(()) => {
                for acl in chunk {
                    next.remove(*acl);
                }
            }
            Err(e) => {
                tracing::error!("DeleteAcls: {e}");
                failed = Some(ChangeError::storage(e));
                break;
            }
        }
    }
    // After a failure, a filter whose ACLs are not all gone reports the error.
    let results = matched
        .into_iter()
        .map(|acls| match &failed {
            Some(e) if acls.iter().any(|a| next.contains(a)) => Err(e.clone()),
            _ => Ok(acls),
        })
        .collect();
    if next.len() != current.len() {
        broadcast(shard, Arc::new(AclIndex::build(current.version + 1, next))).await;
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_damage_is_refused() {
        let acl = AclBinding {
            resource_type: ResourceType::TransactionalId,
            name: "tx-ü".into(),
            pattern: PatternType::Prefixed,
            principal: "User:alice".into(),
            host: "10.0.0.1".into(),
            operation: Operation::TwoPhaseCommit,
            permission: Permission::Deny,
        };
        let k = encode_key(&acl);
        assert_eq!(decode_key(&k), Ok(acl.clone()));
        for cut in 0..k.len() {
            assert!(decode_key(&k[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = k.clone();
        longer.push(0);
        assert!(decode_key(&longer).is_err());
        for (at, bad) in [(0, 2u8), (1, 1), (2, 2), (3, 1), (4, 0), (1, 8)] {
            let mut damaged = k.clone();
            damaged[at] = bad;
            assert!(decode_key(&damaged).is_err(), "byte {at} = {bad}");
        }
        // A principal without a colon never reaches the store.
        let mut no_colon = acl.clone();
        no_colon.principal = "alice".into();
        assert!(decode_key(&encode_key(&no_colon)).is_err());
        // The largest ACL fits a state log key.
        let largest = AclBinding {
            name: "n".repeat(super::super::RESOURCE_NAME_BYTES_MAX),
            principal: format!("U:{}", "p".repeat(super::super::PRINCIPAL_BYTES_MAX - 2)),
            host: "h".repeat(super::super::HOST_BYTES_MAX),
            ..acl
        };
        let k = encode_key(&largest);
        assert!(k.len() <= crate::storage::state_log::KEY_BYTES_MAX);
        assert_eq!(decode_key(&k), Ok(largest));
    }

    #[test]
    fn install_only_moves_forward() {
        let acls = ShardAcls::new(AuthorizerConfig::default());
        let one = |v| Arc::new(AclIndex::build(v, BTreeSet::new()));
        acls.install(one(2));
        assert_eq!(acls.index().version, 2);
        acls.install(one(1));
        assert_eq!(acls.index().version, 2);
        acls.install(one(3));
        assert_eq!(acls.index().version, 3);
    }
}
