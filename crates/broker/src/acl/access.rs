//! One request's authorization: who asks ([`Access`]) and the checks the handlers make on every
//! resource a request names, with Kafka 4.4's operations and error codes.
//!
//! Built once per request from the connection's session and the shard's ACLs. The common case
//! costs nothing per check: a caller the authorizer lets through before looking at any ACL (an
//! unauthenticated caller on a broker with no authenticating listener, or a super user) is
//! [`Access::everything`] and every check answers `true` without a lookup. Otherwise the
//! request holds the shard's current authorizer (two `Arc` clones, so a change of the ACLs
//! during a long request does not move under it) and each check is one index lookup
//! ([`Authorizer::authorize`], allocation-free).
//!
//! Which API checks what (Kafka's `KafkaApis` / `AuthHelper`, checked on Kafka 4.4 where noted
//! in the tests): data APIs check TOPIC READ / WRITE / DESCRIBE per topic and answer
//! TOPIC_AUTHORIZATION_FAILED per partition; group APIs check GROUP READ / DESCRIBE / DELETE and
//! answer GROUP_AUTHORIZATION_FAILED; transactional APIs check TRANSACTIONAL_ID WRITE / DESCRIBE
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); cluster-wide APIs check the CLUSTER resource
//! (CLUSTER_AUTHORIZATION_FAILED). A topic the caller may not DESCRIBE is answered
//! TOPIC_AUTHORIZATION_FAILED whether it exists or not, so its existence does not leak.

use std::net::IpAddr;
use std::rc::Rc;

use super::{Authorizer, Caller, Operation, ResourceType, CLUSTER_NAME};

/// Who asks, and what the authorizer lets them do.
pub struct Access {
    /// `None`: everything is allowed (see the module doc).
    authorizer: Option<Authorizer>,
    principal: Rc<str>,
    host: IpAddr,
    authenticated: bool,
}

impl Access {
    /// The access of `principal` from `host` under `authorizer`.
    pub fn new(
        authorizer: &Authorizer,
        principal: Rc<str>,
        host: IpAddr,
        authenticated: bool,
    ) -> Access {
        let caller = Caller {
            principal: &principal,
            host,
            authenticated,
        };
        let authorizer = (!authorizer.allows_everything(&caller)).then(|| authorizer.clone());
        Access {
            authorizer,
            principal,
            host,
            authenticated,
        }
    }

    /// The caller's address as Kafka's describe answers show it (`/127.0.0.1`).
    pub fn client_host(&self) -> String {
        format!("/{}", self.host)
    }

    /// Everything allowed (the broker's access before ACLs existed): for internal callers and
    /// tests.
    pub fn unrestricted() -> Access {
        Access {
            authorizer: None,
            principal: Rc::from(super::ANONYMOUS),
            host: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            authenticated: false,
        }
    }

    /// Whether every check answers `true` without a lookup.
    pub fn everything(&self) -> bool {
        self.authorizer.is_none()
    }

    /// The caller's principal (`User:alice`).
    pub fn principal(&self) -> &str {
        &self.principal
    }

    fn caller(&self) -> Caller<'_> {
        Caller {
            principal: &self.principal,
            host: self.host,
            authenticated: self.authenticated,
        }
    }

    /// Whether the caller may do `operation` on the resource of `resource_type` named `name`.
    pub fn allows(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        match &self.authorizer {
            None => true,
            Some(a) => a.authorize(&self.caller(), operation, resource_type, name),
        }
    }

    /// [`Access::allows`] on a topic.
    pub fn topic(&self, operation: Operation, name: &str) -> bool {
        self.allows(operation, ResourceType::Topic, name)
    }

    /// [`Access::allows`] on a group.
    pub fn group(&self, operation: Operation, id: &str) -> bool {
        self.allows(operation, ResourceType::Group, id)
    }

    /// [`Access::allows`] on a transactional id.
    pub fn transactional_id(&self, operation: Operation, id: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, id)
    }

    /// [`Access::allows`] on the cluster.
    pub fn cluster(&self, operation: Operation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Whether the caller may do `operation` on at least one resource of `resource_type`
    /// ([`Authorizer::authorize_by_resource_type`]).
    pub fn any(&self, operation: Operation, resource_type: ResourceType) -> bool {
        match &self.authorizer {
            None => true,
            Some(a) => a.authorize_by_resource_type(&self.caller(), operation, resource_type),
        }
    }

    /// Kafka's `authorizedOperations` bit field of a resource (bit i set when operation code i
    /// is allowed; UNKNOWN, ANY and ALL never set), for the responses that report it.
    pub fn operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        let mut bits = 0;
        for op in Operation::supported_by(resource_type) {
            if self.allows(*op, resource_type, name) {
                bits |= 1 << op.code();
            }
        }
        bits
    }
}
