//! Authorization: ACLs in Kafka's model (issue #20) — the model, the broker's durable store of
//! ACLs, the decision function ([`Authorizer::authorize`]) and one request's access
//! ([`Access`]); which API checks which resource and operation is `handlers::authorize`'s table.
//! CreateAcls, DescribeAcls and DeleteAcls manage the ACLs.
//!
//! An ACL ([`AclBinding`]) says: `principal` from `host` is ALLOWed or DENYed `operation` on the
//! resources of `resource_type` that `pattern` and `name` select — LITERAL: the resource named
//! `name` (`*`: every resource of the type), PREFIXED: every resource whose name starts with
//! `name`. Principals are Kafka's `Type:name` strings (`User:alice`; `User:*` is everyone);
//! hosts are `*` or an IP address. Every code is Kafka's (`ResourceType`, `PatternType`,
//! `AclOperation`, `AclPermissionType`), on the wire and in the store.
//!
//! The decision, as Kafka 4.4's `StandardAuthorizer` makes it ([`authorizer`] has the details):
//! super users may do anything; else a matching DENY wins over any ALLOW; an ALLOW of the
//! operation (or of ALL, or of an operation that implies it: READ, WRITE, DELETE and ALTER imply
//! DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS) allows; a resource no ACL names at all is
//! allowed only with `allow.everyone.if.no.acl.found`; anything else is denied.
//!
//! Storage ([`store`]): the ACLs are a state log family owned by the controller shard (0), one
//! record per ACL; every shard holds the whole set as an immutable index the controller rebuilds
//! and hands to every shard after each change, before the change is answered.
//!
//! # Invariants
//! - Every stored ACL passed [`AclBinding::validate`] (a concrete type, LITERAL or PREFIXED, a
//!   concrete operation and permission, a principal with a `:`, bounded fields).
//! - A shard's index only moves to a newer version ([`store`]); a change is answered only after
//!   every shard installed an index that has it.

pub mod access;
pub mod authorizer;
pub mod store;

pub use access::Access;
pub use authorizer::{AclIndex, Authorizer, AuthorizerConfig, Caller};
pub use store::ShardAcls;

/// Kafka's name of the cluster resource: the only valid name of a CLUSTER ACL.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The message of CLUSTER_AUTHORIZATION_FAILED (Kafka's default for the code).
pub const CLUSTER_AUTHORIZATION_MESSAGE: &str = "Cluster authorization failed.";
/// The resource name (LITERAL) that matches every resource of its type.
pub const WILDCARD_RESOURCE: &str = "*";
/// The principal that matches every user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The host that matches every client address.
pub const WILDCARD_HOST: &str = "*";
/// The principal of a connection that did not authenticate (Kafka's `User:ANONYMOUS`).
pub const ANONYMOUS: &str = "User:ANONYMOUS";
/// Longest resource name of an ACL (bytes): above Kafka's topic names (249) and ringlog's group
/// and transactional ids (1 KiB), so every real resource can be named.
pub const RESOURCE_NAME_BYTES_MAX: usize = 1_024;
/// Longest principal of an ACL (bytes); principals are short (`User:` and a user name).
pub const PRINCIPAL_BYTES_MAX: usize = 1_024;
/// Longest host of an ACL (bytes): an IPv6 address with a scope fits many times.
pub const HOST_BYTES_MAX: usize = 256;
/// Most ACLs the broker holds: every shard keeps the whole set in memory and the controller
/// rebuilds the index (linear in the set) on every change, so the set is bounded. Real
/// deployments hold hundreds to a few thousand.
pub const ACLS_MAX: usize = 100_000;

/// Kafka's `ResourceType` of a concrete ACL (UNKNOWN 0 and ANY 1 are filter-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i8)]
pub enum ResourceType {
    /// A topic, by name.
    Topic = 2,
    /// A consumer or share group, by group id.
    Group = 3,
    /// The cluster (the only name is [`CLUSTER_NAME`]).
    Cluster = 4,
    /// A transactional id.
    TransactionalId = 5,
    /// A delegation token, by token id.
    DelegationToken = 6,
    /// A user (as a resource: CREATE_TOKENS/DESCRIBE_TOKENS on behalf of it).
    User = 7,
}

impl ResourceType {
    /// Every concrete type, in code order.
    pub const ALL: [ResourceType; 6] = [
        ResourceType::Topic,
        ResourceType::Group,
        ResourceType::Cluster,
        ResourceType::TransactionalId,
        ResourceType::DelegationToken,
        ResourceType::User,
    ];

    /// Kafka's code.
    pub fn code(self) -> i8 {
        self as i8
    }

    /// The type of a code; `None` for UNKNOWN, ANY and codes Kafka does not know.
    pub fn from_code(code: i8) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Index into per-type tables (0..6).
    pub(crate) fn index(self) -> usize {
        (self.code() - ResourceType::Topic.code()) as usize
    }

    /// Kafka's name (as `kafka-acls.sh` prints it).
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Topic => "TOPIC",
            ResourceType::Group => "GROUP",
            ResourceType::Cluster => "CLUSTER",
            ResourceType::TransactionalId => "TRANSACTIONAL_ID",
            ResourceType::DelegationToken => "DELEGATION_TOKEN",
            ResourceType::User => "USER",
        }
    }
}

/// Kafka's `PatternType` of a concrete ACL (UNKNOWN 0, ANY 1 and MATCH 2 are filter-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i8)]
pub enum PatternType {
    /// The resource named exactly (`*`: every resource of the type).
    Literal = 3,
    /// Every resource whose name starts with the ACL's name.
    Prefixed = 4,
}

impl PatternType {
    /// Kafka's code.
    pub fn code(self) -> i8 {
        self as i8
    }

    /// The pattern type of a code; `None` for the filter-only and unknown codes.
    pub fn from_code(code: i8) -> Option<PatternType> {
        match code {
            3 => Some(PatternType::Literal),
            4 => Some(PatternType::Prefixed),
            _ => None,
        }
    }

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            PatternType::Literal => "LITERAL",
            PatternType::Prefixed => "PREFIXED",
        }
    }
}

/// Kafka's `AclOperation` of a concrete ACL (UNKNOWN 0 and ANY 1 are filter-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i8)]
#[allow(missing_docs)] // Kafka's operation names say it
pub enum Operation {
    /// Every operation.
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
    /// KIP-939's two-phase commit (Kafka 4.x).
    TwoPhaseCommit = 15,
}

impl Operation {
    /// Every concrete operation, in code order.
    pub const ALL: [Operation; 14] = [
        Operation::All,
        Operation::Read,
        Operation::Write,
        Operation::Create,
        Operation::Delete,
        Operation::Alter,
        Operation::Describe,
        Operation::ClusterAction,
        Operation::DescribeConfigs,
        Operation::AlterConfigs,
        Operation::IdempotentWrite,
        Operation::CreateTokens,
        Operation::DescribeTokens,
        Operation::TwoPhaseCommit,
    ];

    /// Kafka's code.
    pub fn code(self) -> i8 {
        self as i8
    }

    /// The operation of a code; `None` for UNKNOWN, ANY and codes Kafka does not know.
    pub fn from_code(code: i8) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.code() == code)
    }

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::All => "ALL",
            Operation::Read => "READ",
            Operation::Write => "WRITE",
            Operation::Create => "CREATE",
            Operation::Delete => "DELETE",
            Operation::Alter => "ALTER",
            Operation::Describe => "DESCRIBE",
            Operation::ClusterAction => "CLUSTER_ACTION",
            Operation::DescribeConfigs => "DESCRIBE_CONFIGS",
            Operation::AlterConfigs => "ALTER_CONFIGS",
            Operation::IdempotentWrite => "IDEMPOTENT_WRITE",
            Operation::CreateTokens => "CREATE_TOKENS",
            Operation::DescribeTokens => "DESCRIBE_TOKENS",
            Operation::TwoPhaseCommit => "TWO_PHASE_COMMIT",
        }
    }

    /// Whether an ALLOW ACL of `self` allows `asked` (Kafka's rules: ALL allows everything;
    /// READ, WRITE, DELETE and ALTER allow DESCRIBE; ALTER_CONFIGS allows DESCRIBE_CONFIGS).
    /// A DENY ACL denies only its own operation (or everything, for ALL).
    pub fn allows(self, asked: Operation) -> bool {
        self == Operation::All
            || self == asked
            || (asked == Operation::Describe
                && matches!(
                    self,
                    Operation::Read | Operation::Write | Operation::Delete | Operation::Alter
                ))
            || (asked == Operation::DescribeConfigs && self == Operation::AlterConfigs)
    }

    /// Whether a DENY ACL of `self` denies `asked`.
    pub fn denies(self, asked: Operation) -> bool {
        self == Operation::All || self == asked
    }

    /// The operations a resource of `resource_type` supports (Kafka's
    /// `AclEntry.supportedOperations`): the bits of its `authorizedOperations` fields.
    pub fn supported_by(resource_type: ResourceType) -> &'static [Operation] {
        use Operation::*;
        match resource_type {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
        }
    }
}

/// Kafka's `AclPermissionType` of a concrete ACL (UNKNOWN 0 and ANY 1 are filter-only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i8)]
pub enum Permission {
    /// The ACL refuses; wins over every ALLOW.
    Deny = 2,
    /// The ACL grants.
    Allow = 3,
}

impl Permission {
    /// Kafka's code.
    pub fn code(self) -> i8 {
        self as i8
    }

    /// The permission of a code; `None` for UNKNOWN, ANY and unknown codes.
    pub fn from_code(code: i8) -> Option<Permission> {
        match code {
            2 => Some(Permission::Deny),
            3 => Some(Permission::Allow),
            _ => None,
        }
    }

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Deny => "DENY",
            Permission::Allow => "ALLOW",
        }
    }
}

/// Kafka's "ANY" code of every enum (filters).
pub const CODE_ANY: i8 = 1;
/// Kafka's MATCH pattern type (filters).
pub const PATTERN_MATCH: i8 = 2;

/// One ACL. Ordered by resource (type, name, pattern) first, so a sorted set lists each
/// resource's ACLs together (DescribeAcls groups them so).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The resource name (LITERAL `*`: every resource of the type).
    pub name: String,
    /// How `name` selects resources.
    pub pattern: PatternType,
    /// `Type:name` (`User:*`: everyone).
    pub principal: String,
    /// `*` or a client IP address.
    pub host: String,
    /// The operation.
    pub operation: Operation,
    /// ALLOW or DENY.
    pub permission: Permission,
}

/// Why an ACL or a filter is refused: Kafka's INVALID_REQUEST with this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

/// A request Kafka 4.4 cannot even parse: an ACL or filter with a code 0 (UNKNOWN) in any of
/// its enum fields. Kafka closes the connection (its request parser throws); so does ringlog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Whether CreateAcls/DescribeAcls/DeleteAcls fields hold a code 0 (UNKNOWN), which makes Kafka
/// refuse the whole request (see [`Malformed`]).
pub fn check_codes(codes: [i8; 4], what: &str) -> Result<(), Malformed> {
    if codes.contains(&0) {
        return Err(Malformed(format!(
            "{what} contains UNKNOWN elements (codes {codes:?}): Kafka cannot parse it"
        )));
    }
    Ok(())
}

impl AclBinding {
    /// The binding of CreateAcls fields (with no code 0: [`check_codes`]), checked as Kafka
    /// 4.4 checks them, with ringlog's bounds on the lengths; the error is the INVALID_REQUEST
    /// message. The filter-only codes (ANY, MATCH) make Kafka fail the whole request with
    /// UNKNOWN_SERVER_ERROR and no message (its `ResourcePattern` constructor throws); ringlog
    /// refuses only that creation, INVALID_REQUEST with the constructor's message.
    pub fn from_wire(
        resource_type: i8,
        name: &str,
        pattern: i8,
        principal: &str,
        host: &str,
        operation: i8,
        permission: i8,
    ) -> Result<AclBinding, Invalid> {
        if resource_type == CODE_ANY {
            return Err(Invalid("resourceType must not be ANY".into()));
        }
        if pattern == CODE_ANY || pattern == PATTERN_MATCH {
            return Err(Invalid(format!(
                "patternType must not be {}",
                pattern_name(pattern)
            )));
        }
        if operation == CODE_ANY {
            return Err(Invalid("operation must not be ANY".into()));
        }
        if permission == CODE_ANY {
            return Err(Invalid("permissionType must not be ANY".into()));
        }
        // The broker's checks, then the controller's (Kafka's order).
        if resource_type == ResourceType::Cluster.code() && name != CLUSTER_NAME {
            return Err(Invalid(format!(
                "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
            )));
        }
        if name.is_empty() {
            return Err(Invalid("Invalid empty resource name".into()));
        }
        let resource_type = ResourceType::from_code(resource_type)
            .ok_or_else(|| Invalid(format!("Invalid resourceType {}", type_name(resource_type))))?;
        let pattern = PatternType::from_code(pattern)
            .ok_or_else(|| Invalid(format!("Invalid patternType {}", pattern_name(pattern))))?;
        let operation = Operation::from_code(operation)
            .ok_or_else(|| Invalid(format!("Invalid operation {}", operation_name(operation))))?;
        let permission = Permission::from_code(permission).ok_or_else(|| {
            Invalid(format!(
                "Invalid permissionType {}",
                permission_name(permission)
            ))
        })?;
        if !principal.contains(':') {
            return Err(Invalid(format!(
                "Could not parse principal from `{principal}` (no colon is present separating \
                 the principal type from the principal name)"
            )));
        }
        if host.is_empty() {
            return Err(Invalid("Host pattern cannot be null or empty".into()));
        }
        let binding = AclBinding {
            resource_type,
            name: name.to_string(),
            pattern,
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        };
        binding.validate()?;
        Ok(binding)
    }

    /// ringlog's bounds (Kafka has none) and the rules above: every field fits the store's
    /// record.
    pub fn validate(&self) -> Result<(), Invalid> {
        let long = |what: &str, len: usize, max: usize| {
            Invalid(format!(
                "ACL {what} of {len} bytes is longer than {max} bytes"
            ))
        };
        if self.name.len() > RESOURCE_NAME_BYTES_MAX {
            return Err(long(
                "resource name",
                self.name.len(),
                RESOURCE_NAME_BYTES_MAX,
            ));
        }
        if self.principal.len() > PRINCIPAL_BYTES_MAX {
            return Err(long("principal", self.principal.len(), PRINCIPAL_BYTES_MAX));
        }
        if self.host.len() > HOST_BYTES_MAX {
            return Err(long("host", self.host.len(), HOST_BYTES_MAX));
        }
        if self.name.is_empty() || !self.principal.contains(':') || self.host.is_empty() {
            return Err(Invalid(
                "an ACL needs a resource name, a Type:name principal and a host".into(),
            ));
        }
        Ok(())
    }
}

/// Kafka's name of a resource type code (its enum's, UNKNOWN for codes it does not know).
pub fn type_name(code: i8) -> &'static str {
    match code {
        1 => "ANY",
        c => ResourceType::from_code(c).map_or("UNKNOWN", ResourceType::name),
    }
}

/// Kafka's name of a pattern type code.
pub fn pattern_name(code: i8) -> &'static str {
    match code {
        1 => "ANY",
        2 => "MATCH",
        c => PatternType::from_code(c).map_or("UNKNOWN", PatternType::name),
    }
}

/// Kafka's name of an operation code.
pub fn operation_name(code: i8) -> &'static str {
    match code {
        1 => "ANY",
        c => Operation::from_code(c).map_or("UNKNOWN", Operation::name),
    }
}

/// Kafka's name of a permission code.
pub fn permission_name(code: i8) -> &'static str {
    match code {
        1 => "ANY",
        c => Permission::from_code(c).map_or("UNKNOWN", Permission::name),
    }
}

/// How a filter selects by pattern type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternFilter {
    /// Any pattern type; a name must equal the ACL's.
    Any,
    /// The ACLs that apply to the resource named: literal ones of that name or `*`, prefixed
    /// ones whose prefix starts the name (every ACL when no name is given).
    Match,
    /// Only this pattern type; a name must equal the ACL's.
    Is(PatternType),
}

/// A filter element with a code Kafka does not know (neither 0 nor one of its values): Kafka
/// reads it as UNKNOWN, so DescribeAcls finds nothing and DeleteAcls refuses the filter with
/// [`UnknownPart::message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownPart {
    /// The resource type or the pattern type.
    Pattern,
    /// The operation or the permission.
    Entry,
}

impl UnknownPart {
    /// Kafka's INVALID_REQUEST message for a DeleteAcls filter with it.
    pub fn message(self) -> &'static str {
        match self {
            UnknownPart::Pattern => "Unknown patternFilter.",
            UnknownPart::Entry => "Unknown entryFilter.",
        }
    }
}

/// Kafka's `AclBindingFilter`: `None` fields match anything. Principal and host compare as
/// strings (a filter of `User:*` finds the wildcard ACLs only, as in Kafka).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclFilter {
    /// The resource type, or any.
    pub resource_type: Option<ResourceType>,
    /// The resource name, or any.
    pub name: Option<String>,
    /// How the name selects.
    pub pattern: PatternFilter,
    /// The principal, or any.
    pub principal: Option<String>,
    /// The host, or any.
    pub host: Option<String>,
    /// The operation, or any.
    pub operation: Option<Operation>,
    /// The permission, or any.
    pub permission: Option<Permission>,
    /// A code Kafka does not know: the filter matches nothing.
    pub unknown: Option<UnknownPart>,
}

impl AclFilter {
    /// The filter that matches every ACL.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: None,
            name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
            unknown: None,
        }
    }

    /// The filter of DescribeAcls/DeleteAcls fields. A code 0 (UNKNOWN) makes the request
    /// [`Malformed`]; another code Kafka does not know makes the filter match nothing
    /// ([`AclFilter::unknown`]).
    #[allow(clippy::too_many_arguments)] // the wire's seven fields
    pub fn from_wire(
        resource_type: i8,
        name: Option<&str>,
        pattern: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission: i8,
    ) -> Result<AclFilter, Malformed> {
        check_codes(
            [resource_type, pattern, operation, permission],
            "the ACL filter",
        )?;
        let mut unknown_pattern = false;
        let mut unknown_entry = false;
        let resource_type = match resource_type {
            CODE_ANY => None,
            c => {
                let t = ResourceType::from_code(c);
                unknown_pattern |= t.is_none();
                t
            }
        };
        let pattern = match pattern {
            CODE_ANY => PatternFilter::Any,
            PATTERN_MATCH => PatternFilter::Match,
            c => match PatternType::from_code(c) {
                Some(p) => PatternFilter::Is(p),
                None => {
                    unknown_pattern = true;
                    PatternFilter::Any
                }
            },
        };
        let operation = match operation {
            CODE_ANY => None,
            c => {
                let o = Operation::from_code(c);
                unknown_entry |= o.is_none();
                o
            }
        };
        let permission = match permission {
            CODE_ANY => None,
            c => {
                let p = Permission::from_code(c);
                unknown_entry |= p.is_none();
                p
            }
        };
        let unknown = if unknown_pattern {
            Some(UnknownPart::Pattern)
        } else if unknown_entry {
            Some(UnknownPart::Entry)
        } else {
            None
        };
        Ok(AclFilter {
            resource_type,
            name: name.map(str::to_string),
            pattern,
            principal: principal.map(str::to_string),
            host: host.map(str::to_string),
            operation,
            permission,
            unknown,
        })
    }

    /// Whether `acl` matches (Kafka's `AclBindingFilter.matches`).
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.unknown.is_none()
            && self.resource_type.is_none_or(|t| t == acl.resource_type)
            && self.matches_name(acl)
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && self.operation.is_none_or(|o| o == acl.operation)
            && self.permission.is_none_or(|p| p == acl.permission)
    }

    fn matches_name(&self, acl: &AclBinding) -> bool {
        if let PatternFilter::Is(p) = self.pattern {
            if p != acl.pattern {
                return false;
            }
        }
        let Some(name) = &self.name else {
            return true;
        };
        match (self.pattern, acl.pattern) {
            (PatternFilter::Match, PatternType::Literal) => {
                *name == acl.name || acl.name == WILDCARD_RESOURCE
            }
            (PatternFilter::Match, PatternType::Prefixed) => name.starts_with(acl.name.as_str()),
            _ => *name == acl.name,
        }
    }
}

/// Parses Kafka's `super.users`: principals separated by `;` (spaces around them ignored,
/// empty entries skipped). Each needs a `:` (`User:admin`); an entry without one could never
/// match a principal, so it is refused rather than silently ignored.
pub fn parse_super_users(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        if !entry.contains(':') || entry.len() > PRINCIPAL_BYTES_MAX {
            return Err(format!(
                "super-users entry {entry:?}: expected a principal as Type:name (User:admin), \
                 at most {PRINCIPAL_BYTES_MAX} bytes"
            ));
        }
        out.push(entry.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(t: ResourceType, name: &str, p: PatternType) -> AclBinding {
        AclBinding {
            resource_type: t,
            name: name.into(),
            pattern: p,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: Operation::Read,
            permission: Permission::Allow,
        }
    }

    #[test]
    fn codes_are_kafkas_and_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::from_code(t.code()), Some(t));
        }
        assert_eq!(ResourceType::Topic.code(), 2);
        assert_eq!(ResourceType::User.code(), 7);
        for c in [0, 1, 8, -1, i8::MAX] {
            assert_eq!(ResourceType::from_code(c), None);
        }
        for o in Operation::ALL {
            assert_eq!(Operation::from_code(o.code()), Some(o));
        }
        assert_eq!(Operation::All.code(), 2);
        assert_eq!(Operation::TwoPhaseCommit.code(), 15);
        assert_eq!(Operation::from_code(16), None);
        assert_eq!(Permission::Deny.code(), 2);
        assert_eq!(Permission::Allow.code(), 3);
        assert_eq!(PatternType::Literal.code(), 3);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(PatternType::from_code(PATTERN_MATCH), None);
        assert_eq!(pattern_name(2), "MATCH");
        assert_eq!(type_name(9), "UNKNOWN");
        assert_eq!(operation_name(1), "ANY");
    }

    #[test]
    fn creations_are_checked_as_kafka_checks_them() {
        let ok = AclBinding::from_wire(2, "t", 3, "User:a", "*", 3, 3);
        assert!(ok.is_ok());
        // Kafka accepts any principal with a colon and any host text.
        assert!(AclBinding::from_wire(2, "t", 3, ":", "not-an-ip", 3, 3).is_ok());
        let err = |r: Result<AclBinding, Invalid>| r.unwrap_err().0;
        // The messages Kafka 4.4 sends (measured), and the filter-only codes' constructor
        // messages.
        for (fields, want) in [
            (
                (2, "t", 2, "User:a", "*", 3, 3),
                "patternType must not be MATCH",
            ),
            (
                (2, "t", 1, "User:a", "*", 3, 3),
                "patternType must not be ANY",
            ),
            (
                (1, "t", 3, "User:a", "*", 3, 3),
                "resourceType must not be ANY",
            ),
            (
                (2, "t", 3, "User:a", "*", 1, 3),
                "operation must not be ANY",
            ),
            (
                (2, "t", 3, "User:a", "*", 3, 1),
                "permissionType must not be ANY",
            ),
            (
                (99, "t", 3, "User:a", "*", 3, 3),
                "Invalid resourceType UNKNOWN",
            ),
            (
                (2, "t", 99, "User:a", "*", 3, 3),
                "Invalid patternType UNKNOWN",
            ),
            (
                (2, "t", 3, "User:a", "*", 99, 3),
                "Invalid operation UNKNOWN",
            ),
            (
                (2, "t", 3, "User:a", "*", 3, 99),
                "Invalid permissionType UNKNOWN",
            ),
            (
                (2, "", 3, "User:a", "*", 3, 3),
                "Invalid empty resource name",
            ),
            (
                (2, "t", 3, "User:a", "", 3, 3),
                "Host pattern cannot be null or empty",
            ),
            (
                (4, "c", 3, "User:a", "*", 3, 3),
                "The only valid name for the CLUSTER resource is kafka-cluster",
            ),
            (
                (2, "t", 3, "alice", "*", 3, 3),
                "Could not parse principal from `alice` (no colon is present separating the \
                 principal type from the principal name)",
            ),
        ] {
            let (t, n, p, pr, h, o, pe) = fields;
            assert_eq!(err(AclBinding::from_wire(t, n, p, pr, h, o, pe)), want);
        }
        assert!(check_codes([2, 3, 3, 3], "x").is_ok());
        assert!(check_codes([2, 3, 0, 3], "x").is_err());
        // Every bound, at and past it.
        let at = "n".repeat(RESOURCE_NAME_BYTES_MAX);
        assert!(AclBinding::from_wire(2, &at, 3, "User:a", "*", 3, 3).is_ok());
        let past = "n".repeat(RESOURCE_NAME_BYTES_MAX + 1);
        assert!(AclBinding::from_wire(2, &past, 3, "User:a", "*", 3, 3).is_err());
        let p = format!("User:{}", "p".repeat(PRINCIPAL_BYTES_MAX - 5));
        assert!(AclBinding::from_wire(2, "t", 3, &p, "*", 3, 3).is_ok());
        assert!(AclBinding::from_wire(2, "t", 3, &format!("{p}x"), "*", 3, 3).is_err());
        let h = "h".repeat(HOST_BYTES_MAX);
        assert!(AclBinding::from_wire(2, "t", 3, "User:a", &h, 3, 3).is_ok());
        assert!(AclBinding::from_wire(2, "t", 3, "User:a", &format!("{h}h"), 3, 3).is_err());
    }

    #[test]
    fn filters_match_as_kafkas_do() {
        use PatternType::*;
        use ResourceType::*;
        let lit = acl(Topic, "orders", Literal);
        let star = acl(Topic, "*", Literal);
        let pre = acl(Topic, "ord", Prefixed);
        let group = acl(Group, "orders", Literal);
        let f = |name: Option<&str>, pattern: i8| {
            AclFilter::from_wire(2, name, pattern, None, None, 1, 1).unwrap()
        };
        let all = [&lit, &star, &pre, &group];
        let hits = |f: &AclFilter| all.iter().filter(|a| f.matches(a)).count();
        assert_eq!(hits(&AclFilter::any()), 4);
        assert_eq!(hits(&f(None, 1)), 3);
        assert_eq!(hits(&f(None, 2)), 3);
        assert_eq!(hits(&f(Some("orders"), 1)), 1);
        assert_eq!(hits(&f(Some("orders"), 3)), 1);
        assert_eq!(hits(&f(Some("ord"), 4)), 1);
        assert_eq!(hits(&f(Some("orders"), 4)), 0);
        // MATCH: literal of the name, the wildcard, and prefixes of the name.
        assert!(f(Some("orders"), 2).matches(&lit));
        assert!(f(Some("orders"), 2).matches(&star));
        assert!(f(Some("orders"), 2).matches(&pre));
        assert!(!f(Some("or"), 2).matches(&pre));
        assert!(!f(Some("other"), 2).matches(&lit));
        // Principal and host compare as strings.
        let by_principal = AclFilter::from_wire(1, None, 1, Some("User:*"), None, 1, 1).unwrap();
        assert!(!by_principal.matches(&lit));
        let by_op = AclFilter::from_wire(1, None, 1, None, Some("*"), 4, 1).unwrap();
        assert!(!by_op.matches(&lit));
        // Code 0 makes the request malformed; other unknown codes match nothing.
        for bad in [
            AclFilter::from_wire(0, None, 1, None, None, 1, 1),
            AclFilter::from_wire(1, None, 0, None, None, 1, 1),
            AclFilter::from_wire(1, None, 1, None, None, 0, 1),
            AclFilter::from_wire(1, None, 1, None, None, 1, 0),
        ] {
            assert!(bad.is_err());
        }
        for (codes, part) in [
            ((99, 1, 1, 1), UnknownPart::Pattern),
            ((1, 99, 1, 1), UnknownPart::Pattern),
            ((1, 1, 99, 1), UnknownPart::Entry),
            ((1, 1, 1, 99), UnknownPart::Entry),
            ((99, 1, 99, 1), UnknownPart::Pattern),
        ] {
            let f =
                AclFilter::from_wire(codes.0, None, codes.1, None, None, codes.2, codes.3).unwrap();
            assert_eq!(f.unknown, Some(part));
            assert_eq!(hits(&f), 0);
        }
        assert_eq!(UnknownPart::Pattern.message(), "Unknown patternFilter.");
        assert_eq!(UnknownPart::Entry.message(), "Unknown entryFilter.");
    }

    #[test]
    fn super_users_use_kafkas_syntax() {
        assert_eq!(
            parse_super_users(" User:admin ; User:ops;;").unwrap(),
            vec!["User:admin".to_string(), "User:ops".to_string()]
        );
        assert_eq!(parse_super_users("").unwrap(), Vec::<String>::new());
        assert!(parse_super_users("admin").is_err());
        let long = format!("User:{}", "a".repeat(PRINCIPAL_BYTES_MAX));
        assert!(parse_super_users(&long).is_err());
        // The TOML keys (and so the flags, one definition).
        let mut c = crate::config::BrokerConfig::default();
        assert!(!c.allow_everyone_if_no_acl_found);
        c.merge_toml(
            "super-users = \"User:admin;User:ops\"\nallow-everyone-if-no-acl-found = true\n",
        )
        .unwrap();
        assert_eq!(c.super_users, vec!["User:admin", "User:ops"]);
        assert!(c.allow_everyone_if_no_acl_found);
        let auth = AuthorizerConfig::of(&c);
        assert!(auth.super_users.contains("User:ops"));
        assert!(auth.allow_everyone_if_no_acl_found);
        assert!(c.merge_toml("super-users = \"admin\"\n").is_err());
    }

    #[test]
    fn implication_rules_are_kafkas() {
        use Operation::*;
        for asked in Operation::ALL {
            assert!(All.allows(asked));
            assert!(All.denies(asked));
            assert!(asked.allows(asked));
        }
        for op in [Read, Write, Delete, Alter] {
            assert!(op.allows(Describe));
            assert!(!op.denies(Describe));
        }
        for op in [
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
        ] {
            assert!(!op.allows(Describe), "{op:?}");
        }
        assert!(AlterConfigs.allows(DescribeConfigs));
        assert!(!Alter.allows(DescribeConfigs));
        assert!(!Write.allows(IdempotentWrite));
        assert!(!Describe.allows(Read));
        assert!(!Read.allows(Write));
    }
}
