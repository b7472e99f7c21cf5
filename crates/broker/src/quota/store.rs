//! The durable store of client quotas and every shard's copy (the ACL store's mechanism,
//! [`crate::acl::store`]).
//!
//! The quotas are the state log family [`FAMILY`] (`{data_dir}/__ringlog_state/quotas/shard-0`),
//! written by the controller shard only, one record per (entity, key); removing a value is its
//! tombstone. Every shard holds the whole set as an immutable [`QuotaIndex`]; an alteration runs
//! on the controller, one at a time: records appended and durable, then the next index
//! (version plus one) handed to every shard, and only then answered. At start the controller replays the log
//! and hands the index to every shard before any accepts a connection.
//!
//! ```text
//! key:   kind u8 = 1 | user part | client-id part | ip part | quota key u8
//!        part: 0 = absent | 1 = the default entity | 2, len u16, UTF-8 name
//! value: version u8 = 0 | value f64
//! ```
//! Integers and the f64 big-endian; quota key codes are [`QuotaKey::code`].
//!
//! # Invariants
//! - Only the controller writes the log; alterations run one at a time (the turn), each from
//!   the index the previous one installed.
//! - A shard's index only moves forward (versions grow); memory changes only after the records
//!   are durable.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use super::rate::Tracker;
use super::{Alteration, Entity, Part, QuotaIndex, QuotaKey, Refusal, QUOTA_VALUES_MAX};
use crate::routing::CONTROLLER_SHARD;
use crate::runtime::sync::Notify;
use crate::runtime::IoKind;
use crate::shard::ShardState;
use crate::storage::codec::BeReader;
use crate::storage::state_log::{StateLog, StateLogConfig, Update};

/// The state log family of the quotas (the controller's shard only).
pub const FAMILY: &str = "quotas";
const KEY_KIND_QUOTA: u8 = 1;
const VALUE_VERSION: u8 = 0;
const PART_ABSENT: u8 = 0;
const PART_DEFAULT: u8 = 1;
const PART_NAMED: u8 = 2;

fn put_part(out: &mut Vec<u8>, part: &Option<Part>) {
    match part {
        None => out.push(PART_ABSENT),
        Some(None) => out.push(PART_DEFAULT),
        Some(Some(name)) => {
            out.push(PART_NAMED);
            // entity_from_wire bounds names to ENTITY_NAME_BYTES_MAX (1 KiB).
            let n = u16::try_from(name.len()).expect("entity names are bounded below 64 KiB");
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(name.as_bytes());
        }
    }
}

/// The key of one (entity, key) record.
pub fn encode_key(entity: &Entity, key: QuotaKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 64);
    out.push(KEY_KIND_QUOTA);
    for part in [&entity.user, &entity.client_id, &entity.ip] {
        put_part(&mut out, part);
    }
    out.push(key.code());
    out
}

/// The value of a record.
pub fn encode_value(value: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(VALUE_VERSION);
    out.extend_from_slice(&value.to_be_bytes());
    out
}

/// The (entity, key) of a record key; the error names what is wrong.
pub fn decode_key(bytes: &[u8]) -> Result<(Entity, QuotaKey), String> {
    let short = || "quota key cut short".to_string();
    let mut r = BeReader::new(bytes);
    let kind = r.u8().ok_or_else(short)?;
    if kind != KEY_KIND_QUOTA {
        return Err(format!("quota key kind {kind}"));
    }
    let part = |r: &mut BeReader<'_>| -> Result<Option<Part>, String> {
        match r.u8().ok_or_else(short)? {
            PART_ABSENT => Ok(None),
            PART_DEFAULT => Ok(Some(None)),
            PART_NAMED => Ok(Some(Some(r.str16().ok_or_else(short)?))),
            other => Err(format!("quota entity part tag {other}")),
        }
    };
    let entity = Entity {
        user: part(&mut r)?,
        client_id: part(&mut r)?,
        ip: part(&mut r)?,
    };
    let code = r.u8().ok_or_else(short)?;
    let key = QuotaKey::from_code(code).ok_or(format!("quota key code {code}"))?;
    if !r.rest.is_empty() {
        return Err("bytes after the quota key".into());
    }
    // The same checks as an alteration's.
    let parts = entity.parts();
    let checked = super::entity_from_wire(parts.iter().copied()).map_err(|e| e.message)?;
    if checked != entity {
        return Err("quota entity does not round-trip".into());
    }
    Ok((entity, key))
}

/// The value of a record.
pub fn decode_value(bytes: &[u8]) -> Result<f64, String> {
    match bytes {
        [VALUE_VERSION, rest @ ..] if rest.len() == 8 => {
            let v = f64::from_be_bytes(rest.try_into().expect("8 bytes"));
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(format!("quota value {v}"))
            }
        }
        _ => Err(format!("quota value of {} bytes", bytes.len())),
    }
}

/// One shard's quotas: its copy of the index (every shard), the sensors of its connections,
/// and the store (the controller).
pub struct ShardQuotas {
    index: RefCell<Arc<QuotaIndex>>,
    /// The sensors of the connections this shard serves.
    pub tracker: RefCell<Tracker>,
    /// Wakes [`super::rate::share_usage`] before its next tick.
    pub share_now: Notify,
    log: OnceCell<StateLog>,
    busy: Cell<bool>,
    idle: Notify,
}

struct Turn<'a>(&'a ShardQuotas);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        debug_assert!(self.0.busy.get(), "quota turn ended twice");
        self.0.busy.set(false);
        self.0.idle.notify_waiters();
    }
}

impl Default for ShardQuotas {
    fn default() -> Self {
        ShardQuotas {
            index: RefCell::new(Arc::new(QuotaIndex::default())),
            tracker: RefCell::new(Tracker::default()),
            share_now: Notify::new(),
            log: OnceCell::new(),
            busy: Cell::new(false),
            idle: Notify::new(),
        }
    }
}

impl ShardQuotas {
    /// The quotas as this shard has them now.
    pub fn index(&self) -> Arc<QuotaIndex> {
        self.index.borrow().clone()
    }

    /// Whether any enforced quota exists (cheap: checked on every request).
    pub fn enforced(&self) -> bool {
        self.index.borrow().enforced()
    }

    /// Installs `index` unless this shard has a newer one (changes may arrive out of order).
    pub fn install(&self, index: Arc<QuotaIndex>) {
        let mut current = self.index.borrow_mut();
        if index.version > current.version {
            *current = index;
        }
    }

    async fn turn(&self) -> Turn<'_> {
        // Single-threaded shard: nothing runs between the check and the waiter's registration.
        while self.busy.get() {
            self.idle.notified().await;
        }
        self.busy.set(true);
        Turn(self)
    }
}

/// Before the shards start (blocking, once): lays the family out for the shard count (every
/// record on the controller's shard).
pub fn prepare(data_dir: &Path, shards: usize, io: IoKind) -> io::Result<()> {
    let route = |_: &[u8]| Some(CONTROLLER_SHARD);
    crate::state::prepare_family(data_dir, FAMILY, shards, io, &route, Vec::new()).map(drop)
}

/// At start, on every shard before it accepts connections: the controller replays the store
/// and hands the quotas to every shard.
pub async fn open(shard: &Rc<ShardState>) -> io::Result<()> {
    if shard.id != CONTROLLER_SHARD {
        return Ok(());
    }
    let root = crate::storage::state_log::state_root(&shard.config.data_dir);
    let mut entries: BTreeMap<Entity, BTreeMap<QuotaKey, f64>> = BTreeMap::new();
    let log = StateLog::open(
        &root,
        FAMILY,
        CONTROLLER_SHARD,
        StateLogConfig::default(),
        |k, v| {
            let (entity, key) = decode_key(k)?;
            entries
                .entry(entity)
                .or_default()
                .insert(key, decode_value(v)?);
            Ok(())
        },
    )
    .await
    .map_err(|e| io::Error::other(format!("shard {}: quotas: {e}", shard.id)))?;
    if !entries.is_empty() {
        tracing::info!("client quotas of {} entities loaded", entries.len());
    }
    let _ = shard.quotas.log.set(log);
    broadcast(shard, Arc::new(QuotaIndex::build(1, entries))).await;
    Ok(())
}

async fn broadcast(shard: &Rc<ShardState>, index: Arc<QuotaIndex>) {
    let installs: Vec<_> = (0..shard.count)
        .map(|target| {
            let index = index.clone();
            shard.call(target, move |s| async move { s.quotas.install(index) })
        })
        .collect();
    crate::runtime::future::join_all(installs).await;
}

fn storage_error(e: impl std::fmt::Display) -> Refusal {
    Refusal {
        code: crate::protocol::error::UNKNOWN_SERVER_ERROR,
        message: format!("the quotas were not stored: {e}"),
    }
}

/// AlterClientQuotas on the controller: applies each alteration (already checked), in order;
/// one result per alteration (`None`: done).
pub async fn alter(shard: &Rc<ShardState>, alterations: Vec<Alteration>) -> Vec<Option<Refusal>> {
    let n = alterations.len();
    shard
        .call(CONTROLLER_SHARD, move |s| async move {
            controller_alter(&s, alterations).await
        })
        .await
        .unwrap_or_else(|| {
            vec![
                Some(Refusal {
                    code: crate::protocol::error::UNKNOWN_SERVER_ERROR,
                    message: "the controller shard did not answer (shutting down)".into(),
                });
                n
            ]
        })
}

async fn controller_alter(
    shard: &Rc<ShardState>,
    alterations: Vec<Alteration>,
) -> Vec<Option<Refusal>> {
    let store = &shard.quotas;
    let _turn = store.turn().await;
    let Some(log) = store.log.get() else {
        return vec![Some(storage_error("the quota store is not open")); alterations.len()];
    };
    let current = store.index();
    let mut next = current.entries().clone();
    let mut count = current.values_len();
    let mut results = Vec::with_capacity(alterations.len());
    let mut changed = false;
    // One append per alteration: each entity's changes are durable together, or not at all.
    for alteration in alterations {
        let values = next.get(&alteration.entity);
        let added = alteration
            .changes
            .iter()
            .filter(|(k, v)| v.is_some() && !values.is_some_and(|m| m.contains_key(k)))
            .count();
        if count + added > QUOTA_VALUES_MAX {
            results.push(Some(Refusal {
                code: crate::protocol::error::INVALID_REQUEST,
                message: format!("the broker holds the maximum of {QUOTA_VALUES_MAX} quota values"),
            }));
            continue;
        }
        let updates: Vec<Update> = alteration
            .changes
            .iter()
            .map(|(k, v)| match v {
                Some(v) => Update::put(encode_key(&alteration.entity, *k), encode_value(*v)),
                None => Update::delete(encode_key(&alteration.entity, *k)),
            })
            .collect();
        if updates.is_empty() {
            results.push(None);
            continue;
        }
        match log.append(updates, || {}).await {
            Ok(()) => {
                let values = next.entry(alteration.entity).or_default();
                for (k, v) in alteration.changes {
                    match v {
                        Some(v) => {
                            if values.insert(k, v).is_none() {
                                count += 1;
                            }
                        }
                        None => {
                            if values.remove(&k).is_some() {
                                count -= 1;
                            }
                        }
                    }
                }
                changed = true;
                results.push(None);
            }
            Err(e) => {
                tracing::error!("AlterClientQuotas: {e}");
                results.push(Some(storage_error(e)));
            }
        }
    }
    if changed {
        broadcast(
            shard,
            Arc::new(QuotaIndex::build(current.version + 1, next)),
        )
        .await;
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let entity = Entity {
            user: Some(Some("alice-ü".into())),
            client_id: Some(None),
            ip: None,
        };
        let k = encode_key(&entity, QuotaKey::RequestPercentage);
        assert_eq!(
            decode_key(&k),
            Ok((entity.clone(), QuotaKey::RequestPercentage))
        );
        for cut in 0..k.len() {
            assert!(decode_key(&k[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = k.clone();
        longer.push(0);
        assert!(decode_key(&longer).is_err());
        for (at, bad) in [(0, 2u8), (1, 3), (k.len() - 1, 0), (k.len() - 1, 9)] {
            let mut damaged = k.clone();
            damaged[at] = bad;
            assert!(decode_key(&damaged).is_err(), "byte {at} = {bad}");
        }
        // No parts at all, or ip with user: refused as an alteration would be.
        assert!(decode_key(&[KEY_KIND_QUOTA, 0, 0, 0, 1]).is_err());
        assert!(decode_key(&[KEY_KIND_QUOTA, 1, 0, 1, 5]).is_err());
        assert_eq!(decode_value(&encode_value(1048576.0)), Ok(1048576.0));
        assert!(decode_value(&encode_value(-1.0)).is_err());
        assert!(decode_value(&encode_value(f64::NAN)).is_err());
        assert!(decode_value(&[0, 1, 2]).is_err());
        // The longest name fits a state log key.
        let longest = Entity {
            user: Some(Some("u".repeat(super::super::ENTITY_NAME_BYTES_MAX))),
            client_id: Some(Some("c".repeat(super::super::ENTITY_NAME_BYTES_MAX))),
            ip: None,
        };
        assert!(
            encode_key(&longest, QuotaKey::ProducerByteRate).len()
                <= crate::storage::state_log::KEY_BYTES_MAX
        );
    }

    #[test]
    fn install_only_moves_forward() {
        let q = ShardQuotas::default();
        let one = |v| Arc::new(QuotaIndex::build(v, BTreeMap::new()));
        q.install(one(2));
        q.install(one(1));
        assert_eq!(q.index().version, 2);
        q.install(one(3));
        assert_eq!(q.index().version, 3);
    }
}
