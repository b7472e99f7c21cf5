//! DescribeClientQuotas (key 48): the quotas whose entities match the filter, from this shard's
//! copy (every shard has them all), with Kafka 4.4's codes and messages for bad filters
//! ([`crate::quota::Filter::from_wire`]). Entities are listed in ringlog's order (Kafka's is its
//! hash map's), each entity's parts and values in name order.
//!
//! A caller who may not DESCRIBE_CONFIGS the CLUSTER gets CLUSTER_AUTHORIZATION_FAILED
//! ([`refused`], checked by the connection), as in Kafka.

use std::rc::Rc;

use crate::protocol::messages::{
    DescribeClientQuotasRequest, DescribeClientQuotasResponse, QuotaDescribedEntry,
    QuotaEntityPart, QuotaValue,
};
use crate::quota::{Entity, Filter};
use crate::shard::ShardState;

/// Answer a DescribeClientQuotas request.
pub fn handle(
    shard: &Rc<ShardState>,
    req: &DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let filter = Filter::from_wire(
        req.components
            .iter()
            .map(|c| (&*c.entity_type, c.match_type, c.r#match.as_deref())),
        req.strict,
    );
    let filter = match filter {
        Ok(f) => f,
        Err(refusal) => {
            return DescribeClientQuotasResponse {
                error_code: refusal.code,
                error_message: Some(refusal.message.into()),
                entries: None,
                ..Default::default()
            }
        }
    };
    let index = shard.quotas.index();
    let entries = index
        .entries()
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| QuotaDescribedEntry {
            entity: entity_parts(entity),
            values: values
                .iter()
                .map(|(k, v)| QuotaValue {
                    key: k.name().into(),
                    value: *v,
                })
                .collect(),
        })
        .collect();
    DescribeClientQuotasResponse {
        error_message: Some("".into()),
        entries: Some(entries),
        ..Default::default()
    }
}

/// An entity's parts on the wire (null name: the default entity).
pub fn entity_parts(entity: &Entity) -> Vec<QuotaEntityPart> {
    entity
        .parts()
        .into_iter()
        .map(|(t, name)| QuotaEntityPart {
            entity_type: t.into(),
            entity_name: name.map(Into::into),
        })
        .collect()
}

/// The answer to a caller who may not DESCRIBE_CONFIGS the CLUSTER.
pub fn refused() -> DescribeClientQuotasResponse {
    DescribeClientQuotasResponse {
        error_code: crate::protocol::error::CLUSTER_AUTHORIZATION_FAILED,
        error_message: Some(crate::acl::CLUSTER_AUTHORIZATION_MESSAGE.into()),
        entries: None,
        ..Default::default()
    }
}
