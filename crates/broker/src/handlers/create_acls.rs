//! CreateAcls (key 30): each creation is checked as Kafka 4.4 checks it (INVALID_REQUEST with
//! Kafka's message), then the valid ones are stored together through the controller
//! ([`crate::acl::store::create`]), answered once every shard has them. An ACL that exists
//! already is no error. As Kafka 4.4: a code 0 (UNKNOWN) in any creation closes the connection
//! (Kafka cannot parse the request), and a created ACL's error_message is "".
//!
//! A caller who may not ALTER the CLUSTER gets CLUSTER_AUTHORIZATION_FAILED for every creation
//! ([`refused`], checked by the connection), as in Kafka.

use std::rc::Rc;

use crate::acl::{self, AclBinding};
use crate::protocol::error as code;
use crate::protocol::messages::{AclCreationResult, CreateAclsRequest, CreateAclsResponse};
use crate::shard::ShardState;

/// Answer a CreateAcls request; `Err`: close the connection, saying why.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: CreateAclsRequest,
) -> Result<CreateAclsResponse, String> {
    for c in &req.creations {
        let codes = [
            c.resource_type,
            c.resource_pattern_type,
            c.operation,
            c.permission_type,
        ];
        acl::check_codes(codes, "a CreateAcls creation")
            .map_err(|acl::Malformed(why)| format!("CreateAcls: {why}"))?;
    }
    let mut results: Vec<AclCreationResult> = Vec::with_capacity(req.creations.len());
    let mut valid: Vec<(usize, AclBinding)> = Vec::new();
    for (i, c) in req.creations.iter().enumerate() {
        match AclBinding::from_wire(
            c.resource_type,
            &c.resource_name,
            c.resource_pattern_type,
            &c.principal,
            &c.host,
            c.operation,
            c.permission_type,
        ) {
            Ok(binding) => {
                valid.push((i, binding));
                results.push(AclCreationResult {
                    error_code: code::NONE,
                    error_message: Some("".into()),
                });
            }
            Err(acl::Invalid(message)) => results.push(AclCreationResult {
                error_code: code::INVALID_REQUEST,
                error_message: Some(message.into()),
            }),
        }
    }
    if !valid.is_empty() {
        let (at, bindings): (Vec<usize>, Vec<AclBinding>) = valid.into_iter().unzip();
        let outcomes = acl::store::create(shard, bindings).await;
        for (i, outcome) in at.into_iter().zip(outcomes) {
            if let Some(e) = outcome {
                results[i] = AclCreationResult {
                    error_code: e.code,
                    error_message: Some(e.message.into()),
                };
            }
        }
    }
    Ok(CreateAclsResponse {
        results,
        ..Default::default()
    })
}

/// The answer to a caller who may not ALTER the CLUSTER: every creation refused.
pub fn refused(req: &CreateAclsRequest) -> CreateAclsResponse {
    CreateAclsResponse {
        results: req
            .creations
            .iter()
            .map(|_| AclCreationResult {
                error_code: code::CLUSTER_AUTHORIZATION_FAILED,
                error_message: Some(acl::CLUSTER_AUTHORIZATION_MESSAGE.into()),
            })
            .collect(),
        ..Default::default()
    }
}
