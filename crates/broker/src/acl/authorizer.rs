//! The decision function: may this caller do this operation on this resource?
//!
//! [`AclIndex`] is an immutable index of every ACL, per resource type: the LITERAL `*` ACLs,
//! a hash map of the other LITERAL ACLs by name, and a hash map of the PREFIXED ACLs by prefix
//! together with the distinct prefix lengths (a name's matching prefixes are found with one
//! lookup per distinct length, not one per ACL). [`Authorizer`] pairs an index with the broker's
//! settings; [`Authorizer::authorize`] decides as Kafka 4.4's `StandardAuthorizer`:
//!
//! ```text
//!   caller unauthenticated and open_to_anonymous     -> allow   (no authorizer, as today)
//!   principal in super users                         -> allow
//!   any ACL of the resource (LITERAL name, LITERAL *, PREFIXED prefix of the name):
//!     one matching DENY                              -> deny    (DENY beats ALLOW)
//!     else one matching ALLOW                        -> allow
//!     else                                           -> deny
//!   no ACL names the resource at all                 -> allow.everyone.if.no.acl.found
//! an ACL matches when its principal is the caller's or User:*, its host is * or the caller's
//! address, and its operation is ALL or the operation asked — for an ALLOW also an operation
//! that implies it (READ/WRITE/DELETE/ALTER imply DESCRIBE, ALTER_CONFIGS implies
//! DESCRIBE_CONFIGS; Operation::allows).
//! ```
//! Hosts compare as addresses (an ACL host that is not an IP address never matches; IPv4-mapped
//! IPv6 addresses are their IPv4 address), where Kafka compares Java's text of the address: the
//! same for IPv4, while an IPv6 ACL matches here in any spelling of the address.
//!
//! # Invariants
//! - No allocation when deciding: names, principals and hosts are looked up by reference.
//! - An index never changes once built; a shard replaces its whole index (a newer version).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::{
    AclBinding, Operation, PatternType, Permission, ResourceType, WILDCARD_HOST,
    WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};

/// Who asks: the connection's principal and address.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// Kafka's principal string, `User:alice`; [`super::ANONYMOUS`] without authentication.
    pub principal: &'a str,
    /// The client's address.
    pub host: IpAddr,
    /// Whether the connection authenticated (SASL, or a TLS client certificate). An
    /// unauthenticated caller is `User:ANONYMOUS`, and is let through unchecked when the broker
    /// is open to anonymous callers ([`AuthorizerConfig::open_to_anonymous`]).
    pub authenticated: bool,
}

/// The broker's authorization settings.
#[derive(Clone, Debug, Default)]
pub struct AuthorizerConfig {
    /// Principals allowed everything (Kafka's `super.users`), exact `Type:name` strings.
    pub super_users: HashSet<String>,
    /// What a resource no ACL names gives (Kafka's `allow.everyone.if.no.acl.found`, default
    /// false).
    pub allow_everyone_if_no_acl_found: bool,
    /// Unauthenticated callers are allowed everything without a look at the ACLs: a broker
    /// whose listeners are all PLAINTEXT has no way to tell clients apart, and stays as open as
    /// it was before ACLs existed (as Kafka without `authorizer.class.name`). The integrator
    /// sets it false as soon as a listener authenticates (SASL, mTLS): unauthenticated callers
    /// are then `User:ANONYMOUS` under the ACLs like everyone else, as in Kafka.
    pub open_to_anonymous: bool,
}

impl AuthorizerConfig {
    /// The settings of a broker config.
    pub fn of(config: &crate::config::BrokerConfig) -> AuthorizerConfig {
        AuthorizerConfig {
            super_users: config.super_users.iter().cloned().collect(),
            allow_everyone_if_no_acl_found: config.allow_everyone_if_no_acl_found,
            // A broker with an authenticating listener checks everyone, ANONYMOUS included.
            open_to_anonymous: !config
                .listeners()
                .iter()
                .any(|l| l.protocol.uses_sasl() || l.protocol.uses_tls()),
        }
    }
}

/// How an ACL's host matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostMatch {
    Any,
    Addr(IpAddr),
    /// Not an IP address: never matches a client.
    Never,
}

impl HostMatch {
    fn of(host: &str) -> HostMatch {
        if host == WILDCARD_HOST {
            return HostMatch::Any;
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => HostMatch::Addr(ip.to_canonical()),
            Err(_) => HostMatch::Never,
        }
    }

    fn matches(self, host: IpAddr) -> bool {
        match self {
            HostMatch::Any => true,
            HostMatch::Addr(a) => a == host.to_canonical(),
            HostMatch::Never => false,
        }
    }
}

/// One ACL as the index keeps it.
#[derive(Clone, Debug)]
struct Entry {
    /// `None`: `User:*`.
    principal: Option<Box<str>>,
    host: HostMatch,
    operation: Operation,
    permission: Permission,
}

impl Entry {
    fn of(acl: &AclBinding) -> Entry {
        Entry {
            principal: (acl.principal != WILDCARD_PRINCIPAL).then(|| acl.principal.as_str().into()),
            host: HostMatch::of(&acl.host),
            operation: acl.operation,
            permission: acl.permission,
        }
    }

    /// What this ACL says about `caller` doing `op` (`None`: it does not apply).
    fn decide(&self, caller: &Caller<'_>, op: Operation) -> Option<Permission> {
        if self
            .principal
            .as_deref()
            .is_some_and(|p| p != caller.principal)
            || !self.host.matches(caller.host)
        {
            return None;
        }
        let applies = match self.permission {
            Permission::Allow => self.operation.allows(op),
            Permission::Deny => self.operation.denies(op),
        };
        applies.then_some(self.permission)
    }
}

/// The ACLs of one resource type.
#[derive(Debug, Default)]
struct TypeAcls {
    /// LITERAL `*`.
    wildcard: Vec<Entry>,
    /// LITERAL, by name.
    literal: HashMap<Box<str>, Vec<Entry>>,
    /// PREFIXED, by prefix.
    prefixed: HashMap<Box<str>, Vec<Entry>>,
    /// The distinct lengths of the prefixes, ascending.
    prefix_lens: Vec<usize>,
}

impl TypeAcls {
    fn is_empty(&self) -> bool {
        self.wildcard.is_empty() && self.literal.is_empty() && self.prefixed.is_empty()
    }

    /// Every entry of an ACL whose pattern selects `name`, section by section.
    fn sections<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [Entry]> + 'a {
        let literal = self.literal.get(name).map(Vec::as_slice);
        let prefixed = self
            .prefix_lens
            .iter()
            .take_while(move |&&len| len <= name.len())
            .filter_map(move |&len| {
                let prefix = name.get(..len)?;
                self.prefixed.get(prefix).map(Vec::as_slice)
            });
        std::iter::once(self.wildcard.as_slice())
            .chain(literal)
            .chain(prefixed)
    }
}

/// An immutable index of every ACL (see the module doc), with the sorted set it was built
/// from (what DescribeAcls and DeleteAcls read).
#[derive(Debug, Default)]
pub struct AclIndex {
    /// Grows with every change; a shard installs only a newer index.
    pub version: u64,
    types: [TypeAcls; 6],
    acls: std::collections::BTreeSet<AclBinding>,
}

impl AclIndex {
    /// The index of `acls` at `version`.
    pub fn build(version: u64, acls: std::collections::BTreeSet<AclBinding>) -> AclIndex {
        let mut types: [TypeAcls; 6] = Default::default();
        for acl in &acls {
            let t = &mut types[acl.resource_type.index()];
            let entry = Entry::of(acl);
            match acl.pattern {
                PatternType::Literal if acl.name == WILDCARD_RESOURCE => t.wildcard.push(entry),
                PatternType::Literal => t
                    .literal
                    .entry(acl.name.as_str().into())
                    .or_default()
                    .push(entry),
                PatternType::Prefixed => t
                    .prefixed
                    .entry(acl.name.as_str().into())
                    .or_default()
                    .push(entry),
            }
        }
        for t in &mut types {
            let mut lens: Vec<usize> = t.prefixed.keys().map(|p| p.len()).collect();
            lens.sort_unstable();
            lens.dedup();
            t.prefix_lens = lens;
        }
        AclIndex {
            version,
            types,
            acls,
        }
    }

    /// Every ACL, sorted by resource.
    pub fn acls(&self) -> &std::collections::BTreeSet<AclBinding> {
        &self.acls
    }

    /// Number of ACLs.
    pub fn len(&self) -> usize {
        self.acls.len()
    }

    /// No ACL at all.
    pub fn is_empty(&self) -> bool {
        self.acls.is_empty()
    }
}

/// An index with the broker's settings: the decision function. Cheap to clone (two `Arc`s).
#[derive(Clone, Debug, Default)]
pub struct Authorizer {
    config: Arc<AuthorizerConfig>,
    index: Arc<AclIndex>,
}

impl Authorizer {
    /// The authorizer of `config` over `index`.
    pub fn new(config: Arc<AuthorizerConfig>, index: Arc<AclIndex>) -> Authorizer {
        Authorizer { config, index }
    }

    /// The index.
    pub fn index(&self) -> &Arc<AclIndex> {
        &self.index
    }

    /// The settings.
    pub fn config(&self) -> &Arc<AuthorizerConfig> {
        &self.config
    }

    /// Whether `caller` may do `operation` on the resource of `resource_type` named `name`
    /// (the rules are in the module doc). Allocation-free.
    pub fn authorize(
        &self,
        caller: &Caller<'_>,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if let Some(early) = self.before_acls(caller) {
            return early;
        }
        let acls = &self.index.types[resource_type.index()];
        if acls.is_empty() {
            return self.config.allow_everyone_if_no_acl_found;
        }
        let mut named = false;
        let mut allowed = false;
        for section in acls.sections(name) {
            for entry in section {
                named = true;
                match entry.decide(caller, operation) {
                    Some(Permission::Deny) => return false,
                    Some(Permission::Allow) => allowed = true,
                    None => {}
                }
            }
        }
        allowed || (!named && self.config.allow_everyone_if_no_acl_found)
    }

    /// [`Authorizer::authorize`] for several names of one type, in order (Kafka's batch
    /// `authorize`; Metadata filters its topics with it).
    pub fn authorize_all<'n>(
        &self,
        caller: &Caller<'_>,
        operation: Operation,
        resource_type: ResourceType,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Vec<bool> {
        names
            .into_iter()
            .map(|n| self.authorize(caller, operation, resource_type, n))
            .collect()
    }

    /// Whether `caller` may do `operation` on at least one resource of `resource_type`
    /// (Kafka's `Authorizer.authorizeByResourceType`, which KIP-679's idempotent producers rely
    /// on: WRITE on any topic lets InitProducerId through without IDEMPOTENT_WRITE). As Kafka:
    /// allowed when a resource no ACL names would be (super users, the no-ACL default) or when
    /// an ALLOW of the operation (exact or ALL) on a literal name or prefix is not overridden by
    /// a DENY of the same literal name, of a prefix of it, or of every resource (`*`).
    pub fn authorize_by_resource_type(
        &self,
        caller: &Caller<'_>,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        // Kafka checks a made-up name first, so super users and the no-ACL default apply.
        if self.authorize(caller, operation, resource_type, "hardcode") {
            return true;
        }
        let acls = &self.index.types[resource_type.index()];
        let applies = |e: &Entry, permission: Permission| {
            e.permission == permission
                && (e.operation == operation || e.operation == Operation::All)
                && e.principal.as_deref().is_none_or(|p| p == caller.principal)
                && e.host.matches(caller.host)
        };
        let any = |entries: &[Entry], permission| entries.iter().any(|e| applies(e, permission));
        if any(&acls.wildcard, Permission::Deny) {
            return false;
        }
        if any(&acls.wildcard, Permission::Allow) {
            return true;
        }
        let denied_prefix = |name: &str| {
            acls.prefix_lens
                .iter()
                .take_while(|&&len| len <= name.len())
                .filter_map(|&len| acls.prefixed.get(name.get(..len)?))
                .any(|entries| any(entries, Permission::Deny))
        };
        let literal_ok = acls.literal.iter().any(|(name, entries)| {
            any(entries, Permission::Allow)
                && !any(entries, Permission::Deny)
                && !denied_prefix(name)
        });
        literal_ok
            || acls
                .prefixed
                .iter()
                .any(|(prefix, entries)| any(entries, Permission::Allow) && !denied_prefix(prefix))
    }

    /// The checks before any ACL: `Some(decision)` for open anonymous callers and super users.
    /// Whether `caller` is let through before any ACL is looked at (an unauthenticated caller
    /// on a broker open to anonymous callers, or a super user): every check would allow it.
    pub fn allows_everything(&self, caller: &Caller<'_>) -> bool {
        self.before_acls(caller) == Some(true)
    }

    fn before_acls(&self, caller: &Caller<'_>) -> Option<bool> {
        if !caller.authenticated && self.config.open_to_anonymous {
            return Some(true);
        }
        if !self.config.super_users.is_empty() && self.config.super_users.contains(caller.principal)
        {
            return Some(true);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::AclBinding;
    use super::*;
    use Operation::*;
    use PatternType::*;
    use Permission::*;
    use ResourceType::*;

    fn acl(
        t: ResourceType,
        name: &str,
        pattern: PatternType,
        principal: &str,
        host: &str,
        operation: Operation,
        permission: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type: t,
            name: name.into(),
            pattern,
            principal: principal.into(),
            host: host.into(),
            operation,
            permission,
        }
    }

    fn authorizer(acls: Vec<AclBinding>, supers: &[&str], allow_if_none: bool) -> Authorizer {
        let config = AuthorizerConfig {
            super_users: supers.iter().map(|s| s.to_string()).collect(),
            allow_everyone_if_no_acl_found: allow_if_none,
            open_to_anonymous: false,
        };
        Authorizer::new(
            Arc::new(config),
            Arc::new(AclIndex::build(
                1,
                acls.into_iter().collect::<BTreeSet<_>>(),
            )),
        )
    }

    const HOME: &str = "10.0.0.1";
    const AWAY: &str = "10.0.0.2";

    fn who<'a>(principal: &'a str, host: &str) -> Caller<'a> {
        Caller {
            principal,
            host: host.parse().unwrap(),
            authenticated: true,
        }
    }

    /// (principal, host, operation, type, name, expected) against one ACL set.
    type Case = (
        &'static str,
        &'static str,
        Operation,
        ResourceType,
        &'static str,
        bool,
    );

    fn check(a: &Authorizer, cases: &[Case]) {
        for &(principal, host, op, t, name, want) in cases {
            let got = a.authorize(&who(principal, host), op, t, name);
            assert_eq!(got, want, "{principal}@{host} {op:?} {t:?}:{name}");
        }
    }

    #[test]
    fn literal_prefixed_and_wildcard_resources() {
        let a = authorizer(
            vec![
                acl(Topic, "orders", Literal, "User:alice", "*", Read, Allow),
                acl(Topic, "pay", Prefixed, "User:bob", "*", Write, Allow),
                acl(Topic, "*", Literal, "User:carol", "*", Describe, Allow),
                acl(Group, "g", Prefixed, "User:*", "*", Read, Allow),
            ],
            &[],
            false,
        );
        check(
            &a,
            &[
                ("User:alice", HOME, Read, Topic, "orders", true),
                ("User:alice", HOME, Read, Topic, "orders2", false),
                ("User:alice", HOME, Read, Topic, "order", false),
                ("User:alice", HOME, Write, Topic, "orders", false),
                ("User:alice", HOME, Read, Group, "orders", false),
                ("User:bob", HOME, Write, Topic, "pay", true),
                ("User:bob", HOME, Write, Topic, "payments", true),
                ("User:bob", HOME, Write, Topic, "pa", false),
                ("User:bob", HOME, Write, Topic, "xpay", false),
                ("User:carol", HOME, Describe, Topic, "anything", true),
                ("User:carol", HOME, Describe, Topic, "orders", true),
                ("User:carol", HOME, Read, Topic, "orders", false),
                ("User:anyone", HOME, Read, Group, "g1", true),
                ("Group:x", HOME, Read, Group, "g1", true),
                ("User:anyone", HOME, Read, Group, "h", false),
                // Principals compare whole: type and name.
                ("User:alic", HOME, Read, Topic, "orders", false),
                ("Group:alice", HOME, Read, Topic, "orders", false),
            ],
        );
    }

    #[test]
    fn deny_beats_allow_from_any_pattern() {
        let a = authorizer(
            vec![
                acl(Topic, "orders", Literal, "User:alice", "*", All, Allow),
                acl(Topic, "ord", Prefixed, "User:alice", "*", Write, Deny),
                acl(Topic, "*", Literal, "User:*", AWAY, Read, Deny),
                acl(Topic, "audit", Literal, "User:*", "*", Read, Allow),
                acl(Topic, "audit", Literal, "User:mallory", "*", All, Deny),
            ],
            &[],
            false,
        );
        check(
            &a,
            &[
                ("User:alice", HOME, Read, Topic, "orders", true),
                ("User:alice", HOME, Write, Topic, "orders", false),
                ("User:alice", AWAY, Read, Topic, "orders", false),
                ("User:alice", AWAY, Describe, Topic, "orders", true),
                ("User:alice", HOME, Read, Topic, "audit", true),
                ("User:mallory", HOME, Read, Topic, "audit", false),
                ("User:mallory", HOME, Describe, Topic, "audit", false),
            ],
        );
    }

    #[test]
    fn implied_operations() {
        let a = authorizer(
            vec![
                acl(Topic, "r", Literal, "User:u", "*", Read, Allow),
                acl(Topic, "w", Literal, "User:u", "*", Write, Allow),
                acl(Topic, "d", Literal, "User:u", "*", Delete, Allow),
                acl(Topic, "a", Literal, "User:u", "*", Alter, Allow),
                acl(Topic, "ac", Literal, "User:u", "*", AlterConfigs, Allow),
                acl(Topic, "c", Literal, "User:u", "*", Create, Allow),
                acl(
                    Cluster,
                    "kafka-cluster",
                    Literal,
                    "User:u",
                    "*",
                    Write,
                    Allow,
                ),
                acl(Topic, "x", Literal, "User:u", "*", All, Allow),
                acl(Topic, "x", Literal, "User:u", "*", Read, Deny),
                acl(Topic, "dr", Literal, "User:u", "*", Describe, Allow),
            ],
            &[],
            false,
        );
        check(
            &a,
            &[
                ("User:u", HOME, Describe, Topic, "r", true),
                ("User:u", HOME, Describe, Topic, "w", true),
                ("User:u", HOME, Describe, Topic, "d", true),
                ("User:u", HOME, Describe, Topic, "a", true),
                ("User:u", HOME, DescribeConfigs, Topic, "ac", true),
                ("User:u", HOME, Describe, Topic, "ac", false),
                ("User:u", HOME, DescribeConfigs, Topic, "a", false),
                ("User:u", HOME, Describe, Topic, "c", false),
                ("User:u", HOME, Read, Topic, "dr", false),
                // WRITE on the cluster does not imply IDEMPOTENT_WRITE in the authorizer
                // (KafkaApis asks for WRITE on any topic instead: authorize_by_resource_type).
                (
                    "User:u",
                    HOME,
                    IdempotentWrite,
                    Cluster,
                    "kafka-cluster",
                    false,
                ),
                // A DENY of READ does not deny DESCRIBE.
                ("User:u", HOME, Read, Topic, "x", false),
                ("User:u", HOME, Describe, Topic, "x", true),
                ("User:u", HOME, TwoPhaseCommit, Topic, "x", true),
            ],
        );
    }

    #[test]
    fn super_users_and_the_no_acl_default() {
        let acls = || {
            vec![
                acl(Topic, "t", Literal, "User:admin", "*", All, Deny),
                acl(Topic, "p", Prefixed, "User:x", "*", Read, Allow),
            ]
        };
        for allow_if_none in [false, true] {
            let a = authorizer(acls(), &["User:admin", "User:ops"], allow_if_none);
            check(
                &a,
                &[
                    // Super users: always, whatever DENY says.
                    ("User:admin", HOME, Write, Topic, "t", true),
                    ("User:ops", HOME, Alter, Cluster, "kafka-cluster", true),
                    // A named resource: the ACLs decide, whatever the default.
                    ("User:y", HOME, Read, Topic, "t", false),
                    ("User:y", HOME, Read, Topic, "p1", false),
                    ("User:x", HOME, Read, Topic, "p1", true),
                    // A resource no ACL names, and a type without ACLs: the default.
                    ("User:y", HOME, Read, Topic, "q", allow_if_none),
                    ("User:y", HOME, Read, Group, "g", allow_if_none),
                    ("User:ANONYMOUS", HOME, Read, Group, "g", allow_if_none),
                ],
            );
        }
        // Exact principals only: no wildcard super user, no prefix.
        let a = authorizer(acls(), &["User:admin"], false);
        check(&a, &[("User:admin2", HOME, Read, Topic, "q", false)]);
    }

    #[test]
    fn hosts_compare_as_addresses() {
        let a = authorizer(
            vec![
                acl(Topic, "t", Literal, "User:u", HOME, Read, Allow),
                acl(Topic, "v6", Literal, "User:u", "::1", Read, Allow),
                acl(Topic, "name", Literal, "User:u", "localhost", Read, Allow),
            ],
            &[],
            false,
        );
        check(
            &a,
            &[
                ("User:u", HOME, Read, Topic, "t", true),
                ("User:u", AWAY, Read, Topic, "t", false),
                ("User:u", "::ffff:10.0.0.1", Read, Topic, "t", true),
                ("User:u", "::1", Read, Topic, "v6", true),
                ("User:u", "0:0:0:0:0:0:0:1", Read, Topic, "v6", true),
                ("User:u", "127.0.0.1", Read, Topic, "name", false),
            ],
        );
    }

    #[test]
    fn open_to_anonymous_lets_unauthenticated_callers_through_only() {
        let index = Arc::new(AclIndex::build(
            1,
            [acl(Topic, "t", Literal, "User:*", "*", All, Deny)]
                .into_iter()
                .collect(),
        ));
        let open = Authorizer::new(
            Arc::new(AuthorizerConfig {
                open_to_anonymous: true,
                ..Default::default()
            }),
            index.clone(),
        );
        let anonymous = Caller {
            principal: super::super::ANONYMOUS,
            host: HOME.parse().unwrap(),
            authenticated: false,
        };
        assert!(open.authorize(&anonymous, Write, Topic, "t"));
        assert!(!open.authorize(&who("User:a", HOME), Write, Topic, "t"));
        let closed = Authorizer::new(Arc::new(AuthorizerConfig::default()), index);
        assert!(!closed.authorize(&anonymous, Write, Topic, "t"));
        assert!(!closed.authorize(&anonymous, Write, Topic, "u"));
    }

    #[test]
    fn by_resource_type_follows_kafkas_default_rules() {
        let caller = who("User:u", HOME);
        let run = |acls: Vec<AclBinding>, allow_if_none: bool| {
            authorizer(acls, &[], allow_if_none).authorize_by_resource_type(&caller, Write, Topic)
        };
        assert!(!run(vec![], false));
        assert!(run(vec![], true));
        assert!(run(
            vec![acl(Topic, "t", Literal, "User:u", "*", Write, Allow)],
            false
        ));
        assert!(run(
            vec![acl(Topic, "t", Prefixed, "User:*", "*", All, Allow)],
            false
        ));
        // Read does not count; another user's WRITE does not count.
        assert!(!run(
            vec![acl(Topic, "t", Literal, "User:u", "*", Read, Allow)],
            false
        ));
        assert!(!run(
            vec![acl(Topic, "t", Literal, "User:v", "*", Write, Allow)],
            false
        ));
        // A literal allow under a denied prefix, a literal deny of the same name, a wildcard
        // deny: all overridden.
        assert!(!run(
            vec![
                acl(Topic, "tx", Literal, "User:u", "*", Write, Allow),
                acl(Topic, "t", Prefixed, "User:u", "*", Write, Deny),
            ],
            false
        ));
        assert!(!run(
            vec![
                acl(Topic, "t", Literal, "User:u", "*", Write, Allow),
                acl(Topic, "t", Literal, "User:*", "*", All, Deny),
            ],
            false
        ));
        assert!(!run(
            vec![
                acl(Topic, "t", Literal, "User:u", "*", Write, Allow),
                acl(Topic, "*", Literal, "User:u", "*", Write, Deny),
            ],
            false
        ));
        // Another allowed name still counts.
        assert!(run(
            vec![
                acl(Topic, "tx", Literal, "User:u", "*", Write, Allow),
                acl(Topic, "t", Prefixed, "User:u", "*", Write, Deny),
                acl(Topic, "u", Literal, "User:u", "*", Write, Allow),
            ],
            false
        ));
        // A host that is not the caller's does not count.
        assert!(!run(
            vec![acl(Topic, "t", Literal, "User:u", AWAY, Write, Allow)],
            false
        ));
    }

    #[test]
    fn many_prefix_lengths_and_a_batch() {
        let mut acls = Vec::new();
        for len in 1..=40 {
            acls.push(acl(
                Topic,
                &"p".repeat(len),
                Prefixed,
                &format!("User:u{len}"),
                "*",
                Read,
                Allow,
            ));
        }
        let a = authorizer(acls, &[], false);
        let name = "p".repeat(20);
        for len in 1..=40 {
            let principal = format!("User:u{len}");
            assert_eq!(
                a.authorize(&who(&principal, HOME), Read, Topic, &name),
                len <= 20,
                "prefix of {len}"
            );
        }
        // A name that is not valid UTF-8 at a prefix length: no panic (multi-byte chars).
        assert!(!a.authorize(&who("User:u1", HOME), Read, Topic, "é"));
        let names = ["p", "q", "pp"];
        assert_eq!(
            a.authorize_all(&who("User:u2", HOME), Read, Topic, names),
            vec![false, false, true]
        );
    }
}
