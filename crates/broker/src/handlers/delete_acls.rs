//! DeleteAcls (key 31): every ACL matching a filter goes, through the controller
//! ([`crate::acl::store::delete`]); the answer comes once every shard dropped them, so a
//! deleted ACL grants or denies nothing anywhere afterwards. Each filter's result lists the
//! ACLs it deleted, as they were before the request (an ACL two filters match is listed by
//! both, as Kafka 4.4 does). As Kafka: a code 0 (UNKNOWN) in any filter closes the connection
//! (Kafka cannot parse the request); another code it does not know is INVALID_REQUEST for that
//! filter ("Unknown patternFilter." / "Unknown entryFilter."), the others still run.
//!
//! Authorization: the connection checks CLUSTER ALTER before calling [`handle`] and answers
//! every filter CLUSTER_AUTHORIZATION_FAILED ([`refused`]) without it, as Kafka.

use std::rc::Rc;

use crate::acl::{self, AclFilter};
use crate::protocol::error as code;
use crate::protocol::messages::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl, DeleteAclsRequest, DeleteAclsResponse,
};
use crate::shard::ShardState;

/// Answer a DeleteAcls request; `Err`: close the connection, saying why.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: DeleteAclsRequest,
) -> Result<DeleteAclsResponse, String> {
    let mut results: Vec<DeleteAclsFilterResult> = Vec::with_capacity(req.filters.len());
    let mut valid: Vec<(usize, AclFilter)> = Vec::new();
    for (i, f) in req.filters.iter().enumerate() {
        let filter = AclFilter::from_wire(
            f.resource_type_filter,
            f.resource_name_filter.as_deref(),
            f.pattern_type_filter,
            f.principal_filter.as_deref(),
            f.host_filter.as_deref(),
            f.operation,
            f.permission_type,
        )
        .map_err(|acl::Malformed(why)| format!("DeleteAcls: {why}"))?;
        match filter.unknown {
            None => {
                valid.push((i, filter));
                results.push(DeleteAclsFilterResult::default());
            }
            Some(part) => results.push(DeleteAclsFilterResult {
                error_code: code::INVALID_REQUEST,
                error_message: Some(part.message().into()),
                matching_acls: Vec::new(),
            }),
        }
    }
    if !valid.is_empty() {
        let (at, filters): (Vec<usize>, Vec<AclFilter>) = valid.into_iter().unzip();
        let outcomes = acl::store::delete(shard, filters).await;
        for (i, outcome) in at.into_iter().zip(outcomes) {
            results[i] = match outcome {
                Ok(deleted) => DeleteAclsFilterResult {
                    matching_acls: deleted
                        .into_iter()
                        .map(|a| DeleteAclsMatchingAcl {
                            error_code: code::NONE,
                            error_message: None,
                            resource_type: a.resource_type.code(),
                            resource_name: a.name.into(),
                            pattern_type: a.pattern.code(),
                            principal: a.principal.into(),
                            host: a.host.into(),
                            operation: a.operation.code(),
                            permission_type: a.permission.code(),
                        })
                        .collect(),
                    ..Default::default()
                },
                Err(e) => DeleteAclsFilterResult {
                    error_code: e.code,
                    error_message: Some(e.message.into()),
                    matching_acls: Vec::new(),
                },
            };
        }
    }
    Ok(DeleteAclsResponse {
        filter_results: results,
        ..Default::default()
    })
}

/// The answer to a caller who may not ALTER the CLUSTER: every filter refused, nothing
/// deleted.
pub fn refused(req: &DeleteAclsRequest) -> DeleteAclsResponse {
    DeleteAclsResponse {
        filter_results: req
            .filters
            .iter()
            .map(|_| DeleteAclsFilterResult {
                error_code: code::CLUSTER_AUTHORIZATION_FAILED,
                error_message: Some(acl::CLUSTER_AUTHORIZATION_MESSAGE.into()),
                matching_acls: Vec::new(),
            })
            .collect(),
        ..Default::default()
    }
}
