//! DescribeAcls (key 29): the ACLs matching the filter, from this shard's copy (every shard has
//! every ACL), grouped by resource pattern in (type, name, pattern) order (Kafka's order is its
//! hash map's). As Kafka 4.4: a code 0 (UNKNOWN) in the filter closes the connection (Kafka
//! cannot parse the request); another code Kafka does not know finds nothing; the answer's
//! error_message is "" on success.
//!
//! A caller who may not DESCRIBE the CLUSTER gets CLUSTER_AUTHORIZATION_FAILED ([`refused`],
//! checked by the connection), as in Kafka.

use std::rc::Rc;

use crate::acl::{AclBinding, AclFilter, Malformed};
use crate::protocol::messages::{
    AclDescription, DescribeAclsRequest, DescribeAclsResource, DescribeAclsResponse,
};
use crate::shard::ShardState;

/// Answer a DescribeAcls request; `Err`: close the connection, saying why.
pub fn handle(
    shard: &Rc<ShardState>,
    req: &DescribeAclsRequest,
) -> Result<DescribeAclsResponse, String> {
    let filter = AclFilter::from_wire(
        req.resource_type_filter,
        req.resource_name_filter.as_deref(),
        req.pattern_type_filter,
        req.principal_filter.as_deref(),
        req.host_filter.as_deref(),
        req.operation,
        req.permission_type,
    )
    .map_err(|Malformed(why)| format!("DescribeAcls: {why}"))?;
    let index = shard.acls.index();
    Ok(DescribeAclsResponse {
        error_message: Some("".into()),
        resources: group_by_resource(index.acls().iter().filter(|a| filter.matches(a))),
        ..Default::default()
    })
}

/// ACLs sorted by resource, grouped into one entry per resource pattern.
fn group_by_resource<'a>(acls: impl Iterator<Item = &'a AclBinding>) -> Vec<DescribeAclsResource> {
    let mut out: Vec<DescribeAclsResource> = Vec::new();
    for acl in acls {
        let same = out.last().is_some_and(|r| {
            r.resource_type == acl.resource_type.code()
                && *r.resource_name == *acl.name
                && r.pattern_type == acl.pattern.code()
        });
        if !same {
            out.push(DescribeAclsResource {
                resource_type: acl.resource_type.code(),
                resource_name: acl.name.as_str().into(),
                pattern_type: acl.pattern.code(),
                acls: Vec::new(),
            });
        }
        if let Some(r) = out.last_mut() {
            r.acls.push(AclDescription {
                principal: acl.principal.as_str().into(),
                host: acl.host.as_str().into(),
                operation: acl.operation.code(),
                permission_type: acl.permission.code(),
            });
        }
    }
    out
}

/// The answer to a caller who may not DESCRIBE the CLUSTER.
pub fn refused() -> DescribeAclsResponse {
    DescribeAclsResponse {
        error_code: crate::protocol::error::CLUSTER_AUTHORIZATION_FAILED,
        error_message: Some(crate::acl::CLUSTER_AUTHORIZATION_MESSAGE.into()),
        ..Default::default()
    }
}
