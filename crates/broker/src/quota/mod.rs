//! Client quotas (issue #20): Kafka's quota model (KIP-13, KIP-55, KIP-124, KIP-219, KIP-546),
//! its durable store and the enforcement on every shard.
//!
//! A quota entity ([`Entity`]) is a user, a client id, a user and client id, or an IP address;
//! each part names one entity or the default one (`<default>`, `None` here). Its values
//! ([`QuotaKey`]) are `producer_byte_rate` and `consumer_byte_rate` (bytes/s),
//! `request_percentage` (percent of one request-handling thread), `controller_mutation_rate`
//! (accepted and stored, not enforced: ringlog has no controller mutation accounting) for
//! user/client-id entities, and `connection_creation_rate` for IP entities (accepted and stored,
//! not enforced either). Validation and its messages are Kafka 4.4's ([`Alteration::from_wire`],
//! [`Filter::from_wire`]), measured against a Kafka 4.4 broker.
//!
//! Which quota applies to a request ([`QuotaIndex::resolve`]) is Kafka's precedence, per key:
//! `/config/users/<user>/clients/<client-id>`, `/config/users/<user>/clients/<default>`,
//! `/config/users/<user>`, `/config/users/<default>/clients/<client-id>`,
//! `/config/users/<default>/clients/<default>`, `/config/users/<default>`,
//! `/config/clients/<client-id>`, `/config/clients/<default>`; the first entity that has the key
//! wins. Who shares a rate is Kafka's too ([`SensorKey`]): a quota on a user (named or default)
//! is shared by all the user's client ids; a quota on a client id alone by every user of it.
//!
//! Storage ([`store`]) is the ACLs' mechanism: a state log family owned by the controller shard,
//! one record per (entity, key), and an immutable [`QuotaIndex`] on every shard, replaced on
//! every shard before an alteration is answered. Enforcement ([`rate`]): each shard measures the
//! requests of the connections it serves and hands its usage to the other shards every 100 ms
//! (at once in a burst), so the whole broker holds a user spread over shards to one quota (the
//! README's "Quotas" has the measured figures).
//!
//! # Invariants
//! - Every stored entity and value passed the checks of [`Alteration::from_wire`] (known entity
//!   types, no IP with user or client id, bounded names, finite values > 0 of the key's kind).
//! - A shard's index only moves to a newer version; an alteration is answered only after every
//!   shard installed an index that has it.
//! - Enforcement state is bounded: at most [`rate::SENSORS_MAX`] sensors per shard.

pub mod rate;
pub mod store;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use store::ShardQuotas;

/// Longest entity name (bytes): above Kafka's principal names and client ids in practice, so
/// every real one fits, and small enough for a state log key.
pub const ENTITY_NAME_BYTES_MAX: usize = 1_024;
/// Most (entity, key) values the broker holds: every shard keeps them all in memory and the
/// controller rebuilds the index (linear in the set) on every change. Real deployments hold a
/// few hundred.
pub const QUOTA_VALUES_MAX: usize = 100_000;

/// Kafka's entity type names.
pub const ENTITY_USER: &str = "user";
/// Kafka's entity type name of client ids.
pub const ENTITY_CLIENT_ID: &str = "client-id";
/// Kafka's entity type name of IP addresses.
pub const ENTITY_IP: &str = "ip";

/// A quota key, Kafka's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaKey {
    /// Produce request bytes per second.
    ProducerByteRate = 1,
    /// Fetch response bytes per second.
    ConsumerByteRate = 2,
    /// Request handling time, percent of one thread.
    RequestPercentage = 3,
    /// Partition mutations per second (stored, not enforced).
    ControllerMutationRate = 4,
    /// New connections per second from an IP (stored, not enforced).
    ConnectionCreationRate = 5,
}

/// What numbers a key takes (Kafka's config types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ValueKind {
    Long,
    Int,
    Double,
}

impl QuotaKey {
    /// Every key, in code order.
    pub const ALL: [QuotaKey; 5] = [
        QuotaKey::ProducerByteRate,
        QuotaKey::ConsumerByteRate,
        QuotaKey::RequestPercentage,
        QuotaKey::ControllerMutationRate,
        QuotaKey::ConnectionCreationRate,
    ];

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            QuotaKey::ProducerByteRate => "producer_byte_rate",
            QuotaKey::ConsumerByteRate => "consumer_byte_rate",
            QuotaKey::RequestPercentage => "request_percentage",
            QuotaKey::ControllerMutationRate => "controller_mutation_rate",
            QuotaKey::ConnectionCreationRate => "connection_creation_rate",
        }
    }

    /// The key of a name.
    pub fn from_name(name: &str) -> Option<QuotaKey> {
        QuotaKey::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The store's code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The key of a store code.
    pub fn from_code(code: u8) -> Option<QuotaKey> {
        QuotaKey::ALL.into_iter().find(|k| k.code() == code)
    }

    fn kind(self) -> ValueKind {
        match self {
            QuotaKey::ProducerByteRate | QuotaKey::ConsumerByteRate => ValueKind::Long,
            QuotaKey::ConnectionCreationRate => ValueKind::Int,
            QuotaKey::RequestPercentage | QuotaKey::ControllerMutationRate => ValueKind::Double,
        }
    }

    /// Whether the key applies to IP entities (only `connection_creation_rate`) rather than
    /// to user/client-id ones (all the others).
    fn for_ip(self) -> bool {
        self == QuotaKey::ConnectionCreationRate
    }
}

/// One part of an entity: a name, or the default entity (`None`).
pub type Part = Option<String>;

/// A quota entity: which of user, client id and IP it names (`None`: not part of it).
/// IP never goes with the others.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entity {
    /// The user (the principal's name, without `User:`).
    pub user: Option<Part>,
    /// The client id.
    pub client_id: Option<Part>,
    /// The IP address.
    pub ip: Option<Part>,
}

impl Entity {
    /// The parts as (Kafka's type name, name), in type-name order (as Kafka lists them).
    pub fn parts(&self) -> Vec<(&'static str, Option<&str>)> {
        let mut out = Vec::with_capacity(2);
        if let Some(c) = &self.client_id {
            out.push((ENTITY_CLIENT_ID, c.as_deref()));
        }
        if let Some(i) = &self.ip {
            out.push((ENTITY_IP, i.as_deref()));
        }
        if let Some(u) = &self.user {
            out.push((ENTITY_USER, u.as_deref()));
        }
        out
    }

    fn part(&self, entity_type: EntityType) -> &Option<Part> {
        match entity_type {
            EntityType::User => &self.user,
            EntityType::ClientId => &self.client_id,
            EntityType::Ip => &self.ip,
        }
    }

    fn part_mut(&mut self, entity_type: EntityType) -> &mut Option<Part> {
        match entity_type {
            EntityType::User => &mut self.user,
            EntityType::ClientId => &mut self.client_id,
            EntityType::Ip => &mut self.ip,
        }
    }

    /// Kafka's `ClientQuotaEntity(entries={...})` text (in its messages).
    pub(crate) fn kafka_text(&self) -> String {
        let parts: Vec<String> = [
            (ENTITY_USER, &self.user),
            (ENTITY_CLIENT_ID, &self.client_id),
            (ENTITY_IP, &self.ip),
        ]
        .into_iter()
        .filter_map(|(t, p)| {
            p.as_ref()
                .map(|n| format!("{t}={}", n.as_deref().unwrap_or("null")))
        })
        .collect();
        format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
    }
}

/// Kafka's quota entity types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityType {
    /// `user`
    User,
    /// `client-id`
    ClientId,
    /// `ip`
    Ip,
}

impl EntityType {
    /// The type of a Kafka name.
    pub fn from_name(name: &str) -> Option<EntityType> {
        match name {
            ENTITY_USER => Some(EntityType::User),
            ENTITY_CLIENT_ID => Some(EntityType::ClientId),
            ENTITY_IP => Some(EntityType::Ip),
            _ => None,
        }
    }

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            EntityType::User => ENTITY_USER,
            EntityType::ClientId => ENTITY_CLIENT_ID,
            EntityType::Ip => ENTITY_IP,
        }
    }
}

/// Why an alteration or a filter is refused: Kafka's code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Kafka's error code.
    pub code: i16,
    /// Kafka's message.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal {
        code: crate::protocol::error::INVALID_REQUEST,
        message: message.into(),
    }
}

/// The entity of AlterClientQuotas/DescribeClientQuotas-answer parts, checked as Kafka 4.4
/// checks them (a type named twice keeps its last name, as Kafka's map does).
pub fn entity_from_wire<'a>(
    parts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<Entity, Refusal> {
    let mut entity = Entity::default();
    let mut any = false;
    for (entity_type, name) in parts {
        any = true;
        let t = EntityType::from_name(entity_type)
            .ok_or_else(|| invalid(format!("Unhandled client quota entity type: {entity_type}")))?;
        if name == Some("") {
            return Err(invalid(format!("Empty {} not supported", t.name())));
        }
        if let Some(n) = name {
            if n.len() > ENTITY_NAME_BYTES_MAX {
                return Err(invalid(format!(
                    "{} name of {} bytes is longer than {ENTITY_NAME_BYTES_MAX} bytes",
                    t.name(),
                    n.len()
                )));
            }
        }
        *entity.part_mut(t) = Some(name.map(str::to_string));
    }
    if !any {
        return Err(invalid("Invalid empty client quota entity"));
    }
    if entity.ip.is_some() && (entity.user.is_some() || entity.client_id.is_some()) {
        return Err(invalid(
            "Invalid quota entity combination, IP entity shouldnot be combined with User or \
             ClientId",
        ));
    }
    if let Some(Some(ip)) = &entity.ip {
        if ip.parse::<IpAddr>().is_err() {
            // Kafka also takes a host name it can resolve; ringlog takes addresses only.
            return Err(invalid(format!(
                "{ip} is not a valid IP or resolvable host."
            )));
        }
    }
    Ok(entity)
}

/// One change of AlterClientQuotas: set (`Some`) or remove (`None`) a key.
pub type Change = (QuotaKey, Option<f64>);

/// One AlterClientQuotas entry, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Alteration {
    /// The entity.
    pub entity: Entity,
    /// The changes; removals of keys Kafka does not know are dropped (Kafka accepts them).
    pub changes: Vec<Change>,
}

impl Alteration {
    /// Checks an entity's ops as Kafka 4.4 does: the keys of the values set (each must apply
    /// to the entity's kind), then the values (finite, > 0, integral and in range for the
    /// long and int keys). A key named twice refuses the entity.
    pub fn from_wire<'a>(
        entity: Entity,
        ops: impl IntoIterator<Item = (&'a str, f64, bool)> + Clone,
    ) -> Result<Alteration, Refusal> {
        let mut seen: Vec<&str> = Vec::new();
        for (key, _, _) in ops.clone() {
            if seen.contains(&key) {
                return Err(invalid(format!(
                    "Ignoring duplicate entity {}",
                    entity.kafka_text()
                )));
            }
            seen.push(key);
        }
        let is_ip = entity.ip.is_some();
        let mut changes = Vec::new();
        for (key, _, remove) in ops.clone() {
            let k = QuotaKey::from_name(key).filter(|k| k.for_ip() == is_ip);
            match (k, remove) {
                (Some(k), true) => changes.push((k, None)),
                (None, true) => {}
                (Some(_), false) => {}
                (None, false) => {
                    return Err(invalid(format!("Invalid configuration key {key}")));
                }
            }
        }
        for (key, value, remove) in ops {
            if remove {
                continue;
            }
            let k = QuotaKey::from_name(key).expect("checked above");
            check_value(k, value)?;
            changes.push((k, Some(value)));
        }
        Ok(Alteration { entity, changes })
    }
}

/// Kafka 4.4's checks of a quota value.
fn check_value(key: QuotaKey, value: f64) -> Result<(), Refusal> {
    let name = key.name();
    if !value.is_finite() {
        return Err(invalid(format!("Quota {name} must be a finite number")));
    }
    if value <= 0.0 {
        return Err(invalid(format!("Quota {name} must be greater than 0")));
    }
    match key.kind() {
        ValueKind::Double => Ok(()),
        ValueKind::Long | ValueKind::Int if value.fract() != 0.0 => {
            Err(invalid(format!("{name} cannot be a fractional value.")))
        }
        ValueKind::Long if value > i64::MAX as f64 => Err(invalid(format!(
            "Proposed value for {name} is too large for a LONG."
        ))),
        ValueKind::Int if value > f64::from(i32::MAX) => Err(invalid(format!(
            "Proposed value for {name} is too large for an INT."
        ))),
        _ => Ok(()),
    }
}

/// How a filter component matches an entity part (Kafka's match types).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Match {
    /// The named entity.
    Exact(String),
    /// The default entity.
    Default,
    /// Any entity of the type (the default too).
    Any,
}

/// A DescribeClientQuotas filter, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    components: Vec<(EntityType, Match)>,
    strict: bool,
}

impl Filter {
    /// The filter of DescribeClientQuotas components (entity type, match type, match), with
    /// Kafka 4.4's codes and messages.
    pub fn from_wire<'a>(
        components: impl IntoIterator<Item = (&'a str, i8, Option<&'a str>)>,
        strict: bool,
    ) -> Result<Filter, Refusal> {
        use crate::protocol::messages::{QUOTA_MATCH_ANY, QUOTA_MATCH_DEFAULT, QUOTA_MATCH_EXACT};
        let mut out: Vec<(EntityType, Match)> = Vec::new();
        for (entity_type, match_type, name) in components {
            if entity_type.is_empty() {
                return Err(invalid("Invalid empty entity type."));
            }
            let t = EntityType::from_name(entity_type).ok_or_else(|| Refusal {
                code: crate::protocol::error::UNSUPPORTED_VERSION,
                message: format!("Unsupported entity type {entity_type}"),
            })?;
            if out.iter().any(|(seen, _)| *seen == t) {
                return Err(invalid(format!(
                    "Entity type {entity_type} cannot appear more than once in the filter."
                )));
            }
            let m =
                match (match_type, name) {
                    (QUOTA_MATCH_EXACT, Some(n)) => Match::Exact(n.to_string()),
                    (QUOTA_MATCH_EXACT, None) => {
                        return Err(invalid(
                            "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                        ))
                    }
                    (QUOTA_MATCH_DEFAULT, None) => Match::Default,
                    (QUOTA_MATCH_DEFAULT, Some(_)) => return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                    )),
                    (QUOTA_MATCH_ANY, None) => Match::Any,
                    (QUOTA_MATCH_ANY, Some(_)) => {
                        return Err(invalid(
                            "Request specified MATCH_TYPE_SPECIFIED, but also specified a match \
                         string.",
                        ))
                    }
                    (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
                };
            out.push((t, m));
        }
        let has = |t| out.iter().any(|(seen, _)| *seen == t);
        if has(EntityType::Ip) && (has(EntityType::User) || has(EntityType::ClientId)) {
            return Err(invalid(
                "Invalid entity filter component combination. IP filter component should not \
                 be used with user or clientId filter component.",
            ));
        }
        Ok(Filter {
            components: out,
            strict,
        })
    }

    /// Whether `entity` matches: every component matches its part; `strict`: the entity has
    /// no other parts.
    pub fn matches(&self, entity: &Entity) -> bool {
        let each = self
            .components
            .iter()
            .all(|(t, m)| match (m, entity.part(*t)) {
                (_, None) => false,
                (Match::Any, Some(_)) => true,
                (Match::Default, Some(p)) => p.is_none(),
                (Match::Exact(n), Some(p)) => p.as_deref() == Some(n.as_str()),
            });
        let others = [EntityType::User, EntityType::ClientId, EntityType::Ip]
            .into_iter()
            .filter(|t| entity.part(*t).is_some())
            .all(|t| self.components.iter().any(|(c, _)| *c == t));
        each && (!self.strict || others)
    }
}

/// The rate a quota applies to (the enforced keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measured {
    /// Produce request bytes.
    Produce,
    /// Fetch response bytes.
    Fetch,
    /// Request handling time.
    Request,
}

impl Measured {
    /// Every measured rate.
    pub const ALL: [Measured; 3] = [Measured::Produce, Measured::Fetch, Measured::Request];

    /// The key whose value bounds it.
    pub fn key(self) -> QuotaKey {
        match self {
            Measured::Produce => QuotaKey::ProducerByteRate,
            Measured::Fetch => QuotaKey::ConsumerByteRate,
            Measured::Request => QuotaKey::RequestPercentage,
        }
    }
}

/// Who shares one measured rate (Kafka's metric tags of the quota entity that applies): the
/// user's name unless the quota is on client ids alone, the client id unless it is on users
/// alone (`""` where a tag is left out).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensorKey {
    /// The rate.
    pub measured: Measured,
    /// The user tag.
    pub user: Arc<str>,
    /// The client id tag.
    pub client_id: Arc<str>,
}

/// The quota that applies to one (user, client id) for one rate, and who shares its rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The bound (bytes/s, or percent of a thread).
    pub bound: f64,
    /// Whose rate it bounds.
    pub sensor: SensorKey,
}

/// Every stored quota, immutable; every shard holds the same one (by version).
#[derive(Debug, Default)]
pub struct QuotaIndex {
    /// Grows with every change the controller makes.
    pub version: u64,
    entries: BTreeMap<Entity, BTreeMap<QuotaKey, f64>>,
    /// Whether any entity holds an enforced key (else enforcement is skipped entirely).
    enforced: bool,
}

impl QuotaIndex {
    /// The index of `entries` (entities without values are dropped).
    pub fn build(version: u64, mut entries: BTreeMap<Entity, BTreeMap<QuotaKey, f64>>) -> Self {
        entries.retain(|_, values| !values.is_empty());
        let enforced = entries.values().any(|values| {
            values
                .keys()
                .any(|k| Measured::ALL.iter().any(|m| m.key() == *k))
        });
        QuotaIndex {
            version,
            entries,
            enforced,
        }
    }

    /// Every entity and its values.
    pub fn entries(&self) -> &BTreeMap<Entity, BTreeMap<QuotaKey, f64>> {
        &self.entries
    }

    /// Number of stored values.
    pub fn values_len(&self) -> usize {
        self.entries.values().map(BTreeMap::len).sum()
    }

    /// Whether any enforced key is set at all.
    pub fn enforced(&self) -> bool {
        self.enforced
    }

    /// The quota of `measured` for `user` (the principal's name) and `client_id`, in Kafka's
    /// precedence order (module doc); `None`: unlimited.
    pub fn resolve(&self, measured: Measured, user: &str, client_id: &str) -> Option<Resolved> {
        if !self.enforced {
            return None;
        }
        let key = measured.key();
        let named = |s: &str| Some(Some(s.to_string()));
        let default: Option<Part> = Some(None);
        // (entity, user tag kept, client tag kept), Kafka's order.
        let order: [(Option<Part>, Option<Part>, bool, bool); 8] = [
            (named(user), named(client_id), true, true),
            (named(user), default.clone(), true, true),
            (named(user), None, true, false),
            (default.clone(), named(client_id), true, true),
            (default.clone(), default.clone(), true, true),
            (default.clone(), None, true, false),
            (None, named(client_id), false, true),
            (None, default.clone(), false, true),
        ];
        for (u, c, keep_user, keep_client) in order {
            let entity = Entity {
                user: u,
                client_id: c,
                ip: None,
            };
            if let Some(bound) = self.entries.get(&entity).and_then(|v| v.get(&key)) {
                return Some(Resolved {
                    bound: *bound,
                    sensor: SensorKey {
                        measured,
                        user: if keep_user { user.into() } else { "".into() },
                        client_id: if keep_client {
                            client_id.into()
                        } else {
                            "".into()
                        },
                    },
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Part>, client_id: Option<Part>) -> Entity {
        Entity {
            user,
            client_id,
            ip: None,
        }
    }

    fn n(s: &str) -> Option<Part> {
        Some(Some(s.to_string()))
    }

    const D: Option<Part> = Some(None);

    #[test]
    fn precedence_is_kafkas_per_key() {
        let mut entries: BTreeMap<Entity, BTreeMap<QuotaKey, f64>> = BTreeMap::new();
        let mut put = |e: Entity, k: QuotaKey, v: f64| {
            entries.entry(e).or_default().insert(k, v);
        };
        use QuotaKey::*;
        put(entity(None, D), ProducerByteRate, 8.0);
        put(entity(None, n("app")), ProducerByteRate, 7.0);
        put(entity(D, None), ProducerByteRate, 6.0);
        put(entity(D, D), ProducerByteRate, 5.0);
        put(entity(D, n("app")), ProducerByteRate, 4.0);
        put(entity(n("alice"), None), ProducerByteRate, 3.0);
        put(entity(n("alice"), D), ProducerByteRate, 2.0);
        put(entity(n("alice"), n("app")), ProducerByteRate, 1.0);
        put(entity(n("alice"), None), ConsumerByteRate, 30.0);
        let index = QuotaIndex::build(1, entries);
        let bound = |u: &str, c: &str| {
            index.resolve(Measured::Produce, u, c).map(|r| {
                (
                    r.bound,
                    r.sensor.user.to_string(),
                    r.sensor.client_id.to_string(),
                )
            })
        };
        assert_eq!(
            bound("alice", "app"),
            Some((1.0, "alice".into(), "app".into()))
        );
        assert_eq!(
            bound("alice", "other"),
            Some((2.0, "alice".into(), "other".into()))
        );
        assert_eq!(bound("bob", "app"), Some((4.0, "bob".into(), "app".into())));
        assert_eq!(
            bound("bob", "other"),
            Some((5.0, "bob".into(), "other".into()))
        );
        // Per key: alice's consumer quota is on the user alone, shared by all her clients.
        let fetch = index.resolve(Measured::Fetch, "alice", "app").unwrap();
        assert_eq!((fetch.bound, &*fetch.sensor.client_id), (30.0, ""));
        assert_eq!(index.resolve(Measured::Fetch, "bob", "app"), None);
        assert_eq!(index.resolve(Measured::Request, "alice", "app"), None);
    }

    #[test]
    fn lower_levels_apply_when_higher_ones_are_absent() {
        let mut entries: BTreeMap<Entity, BTreeMap<QuotaKey, f64>> = BTreeMap::new();
        let put = |entries: &mut BTreeMap<Entity, BTreeMap<QuotaKey, f64>>, e: Entity, v: f64| {
            entries
                .entry(e)
                .or_default()
                .insert(QuotaKey::ProducerByteRate, v);
        };
        put(&mut entries, entity(None, D), 8.0);
        put(&mut entries, entity(None, n("app")), 7.0);
        let index = QuotaIndex::build(1, entries.clone());
        let r = index.resolve(Measured::Produce, "bob", "app").unwrap();
        assert_eq!(
            (r.bound, &*r.sensor.user, &*r.sensor.client_id),
            (7.0, "", "app")
        );
        let r = index.resolve(Measured::Produce, "bob", "x").unwrap();
        assert_eq!(
            (r.bound, &*r.sensor.user, &*r.sensor.client_id),
            (8.0, "", "x")
        );
        put(&mut entries, entity(D, None), 6.0);
        let index = QuotaIndex::build(2, entries);
        let r = index.resolve(Measured::Produce, "bob", "app").unwrap();
        assert_eq!(
            (r.bound, &*r.sensor.user, &*r.sensor.client_id),
            (6.0, "bob", "")
        );
        // Only unenforced keys: enforcement is off.
        let mut only_ip = BTreeMap::new();
        only_ip.insert(
            Entity {
                ip: Some(None),
                ..Entity::default()
            },
            BTreeMap::from([(QuotaKey::ConnectionCreationRate, 5.0)]),
        );
        assert!(!QuotaIndex::build(3, only_ip).enforced());
    }

    #[test]
    fn alterations_are_checked_as_kafka_checks_them() {
        let user = |name: &str| entity_from_wire([("user", Some(name))]).unwrap();
        let msg = |r: Result<Alteration, Refusal>| r.unwrap_err().message;
        assert_eq!(
            msg(Alteration::from_wire(user("a"), [("bogus", 1.0, false)])),
            "Invalid configuration key bogus"
        );
        assert_eq!(
            msg(Alteration::from_wire(
                user("a"),
                [("producer_byte_rate", -1.0, false), ("bogus", 1.0, false)]
            )),
            "Invalid configuration key bogus"
        );
        assert_eq!(
            msg(Alteration::from_wire(
                user("a"),
                [("connection_creation_rate", 1.0, false)]
            )),
            "Invalid configuration key connection_creation_rate"
        );
        assert_eq!(
            msg(Alteration::from_wire(
                user("a"),
                [("producer_byte_rate", 0.0, false)]
            )),
            "Quota producer_byte_rate must be greater than 0"
        );
        assert_eq!(
            msg(Alteration::from_wire(
                user("a"),
                [("producer_byte_rate", f64::NAN, false)]
            )),
            "Quota producer_byte_rate must be a finite number"
        );
        assert_eq!(
            msg(Alteration::from_wire(
                user("a"),
                [("producer_byte_rate", 1.5, false)]
            )),
            "producer_byte_rate cannot be a fractional value."
        );
        assert_eq!(
            msg(Alteration::from_wire(
                user("a"),
                [("producer_byte_rate", 1e30, false)]
            )),
            "Proposed value for producer_byte_rate is too large for a LONG."
        );
        let ip = entity_from_wire([("ip", Some("1.2.3.4"))]).unwrap();
        assert_eq!(
            msg(Alteration::from_wire(
                ip.clone(),
                [("connection_creation_rate", 1e12, false)]
            )),
            "Proposed value for connection_creation_rate is too large for an INT."
        );
        assert_eq!(
            msg(Alteration::from_wire(
                user("a"),
                [
                    ("producer_byte_rate", 1.0, false),
                    ("producer_byte_rate", 2.0, false)
                ]
            )),
            "Ignoring duplicate entity ClientQuotaEntity(entries={user=a})"
        );
        // Fractional doubles, removals of anything, ip keys on ip entities.
        let ok = Alteration::from_wire(
            user("a"),
            [
                ("request_percentage", 25.5, false),
                ("bogus", 0.0, true),
                ("consumer_byte_rate", -3.0, true),
            ],
        )
        .unwrap();
        assert_eq!(
            ok.changes,
            vec![
                (QuotaKey::ConsumerByteRate, None),
                (QuotaKey::RequestPercentage, Some(25.5))
            ]
        );
        assert!(Alteration::from_wire(ip, [("connection_creation_rate", 5.0, false)]).is_ok());
    }

    #[test]
    fn entities_are_checked_as_kafka_checks_them() {
        let msg = |parts: &[(&str, Option<&str>)]| {
            entity_from_wire(parts.iter().copied()).unwrap_err().message
        };
        assert_eq!(msg(&[]), "Invalid empty client quota entity");
        assert_eq!(
            msg(&[("group", Some("g"))]),
            "Unhandled client quota entity type: group"
        );
        assert_eq!(msg(&[("user", Some(""))]), "Empty user not supported");
        assert_eq!(
            msg(&[("client-id", Some(""))]),
            "Empty client-id not supported"
        );
        assert_eq!(
            msg(&[("user", Some("a")), ("ip", Some("1.2.3.4"))]),
            "Invalid quota entity combination, IP entity shouldnot be combined with User or \
             ClientId"
        );
        assert_eq!(
            msg(&[("ip", Some("not-an-ip"))]),
            "not-an-ip is not a valid IP or resolvable host."
        );
        // A type named twice keeps the last name, as Kafka's map does.
        assert_eq!(
            entity_from_wire([("user", Some("a")), ("user", Some("b"))]).unwrap(),
            entity(n("b"), None)
        );
        let long = "x".repeat(ENTITY_NAME_BYTES_MAX + 1);
        assert!(entity_from_wire([("user", Some(long.as_str()))]).is_err());
    }

    #[test]
    fn filters_match_as_kafkas() {
        let f =
            |c: &[(&str, i8, Option<&str>)], strict| Filter::from_wire(c.iter().copied(), strict);
        let alice = entity(n("alice"), None);
        let alice_app = entity(n("alice"), n("app"));
        let dflt = entity(D, None);
        let any_user = f(&[("user", 2, None)], false).unwrap();
        assert!(
            any_user.matches(&alice) && any_user.matches(&alice_app) && any_user.matches(&dflt)
        );
        let strict = f(&[("user", 2, None)], true).unwrap();
        assert!(strict.matches(&alice) && !strict.matches(&alice_app));
        let exact = f(&[("user", 0, Some("alice"))], false).unwrap();
        assert!(exact.matches(&alice) && exact.matches(&alice_app) && !exact.matches(&dflt));
        let default = f(&[("user", 1, None)], false).unwrap();
        assert!(!default.matches(&alice) && default.matches(&dflt));
        assert!(f(&[], false).unwrap().matches(&alice));
        assert!(!f(&[], true).unwrap().matches(&alice));
        let err = |c: &[(&str, i8, Option<&str>)]| f(c, false).unwrap_err();
        assert_eq!(err(&[("group", 2, None)]).code, 35);
        assert_eq!(err(&[("", 2, None)]).message, "Invalid empty entity type.");
        assert_eq!(err(&[("user", 7, None)]).message, "Unknown match type 7");
        assert_eq!(
            err(&[("user", 2, None), ("user", 2, None)]).message,
            "Entity type user cannot appear more than once in the filter."
        );
        assert_eq!(
            err(&[("user", 0, None)]).message,
            "Request specified MATCH_TYPE_EXACT, but set match string to null."
        );
        assert_eq!(err(&[("user", 2, None), ("ip", 2, None)]).code, 42);
    }
}
