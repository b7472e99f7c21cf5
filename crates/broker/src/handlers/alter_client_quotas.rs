//! AlterClientQuotas (key 49): sets and removes client quotas, durable and on every shard before
//! the answer ([`crate::quota::store`]). Each entry is checked as Kafka 4.4 checks it (codes
//! and messages measured against it, [`crate::quota::Alteration::from_wire`]); an entity named
//! by two entries is refused in both, as Kafka refuses it. `validate_only` checks and changes
//! nothing. One result per entry, in request order (Kafka answers in its map's order).
//!
//! A caller who may not ALTER_CONFIGS the CLUSTER gets CLUSTER_AUTHORIZATION_FAILED for every
//! entry ([`refused`]), as in Kafka.

use std::rc::Rc;

use crate::protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, QuotaAlterResult, QuotaEntityPart,
};
use crate::quota::{entity_from_wire, Alteration, Refusal};
use crate::shard::ShardState;

/// Most entries one request may carry: each is one append on the controller, and a request
/// bigger than this is no real tool's. Over it the whole request is refused INVALID_REQUEST.
pub const ENTRIES_MAX: usize = 10_000;

fn result(entity: Vec<QuotaEntityPart>, outcome: Option<Refusal>) -> QuotaAlterResult {
    match outcome {
        None => QuotaAlterResult {
            error_code: 0,
            error_message: None,
            entity,
        },
        Some(r) => QuotaAlterResult {
            error_code: r.code,
            error_message: Some(r.message.into()),
            entity,
        },
    }
}

/// Answer an AlterClientQuotas request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    if req.entries.len() > ENTRIES_MAX {
        let refusal = Refusal {
            code: crate::protocol::error::INVALID_REQUEST,
            message: format!(
                "{} entries in one request; at most {ENTRIES_MAX}",
                req.entries.len()
            ),
        };
        return AlterClientQuotasResponse {
            entries: req
                .entries
                .into_iter()
                .map(|e| result(e.entity, Some(refusal.clone())))
                .collect(),
            ..Default::default()
        };
    }
    let mut checked: Vec<Result<Alteration, Refusal>> = req
        .entries
        .iter()
        .map(|e| {
            let entity = entity_from_wire(
                e.entity
                    .iter()
                    .map(|p| (&*p.entity_type, p.entity_name.as_deref())),
            )?;
            Alteration::from_wire(
                entity,
                e.ops.iter().map(|op| (&*op.key, op.value, op.remove)),
            )
        })
        .collect();
    // An entity in two entries: Kafka refuses it ("Ignoring duplicate entity").
    let mut times: std::collections::HashMap<&crate::quota::Entity, usize> =
        std::collections::HashMap::new();
    for a in checked.iter().flatten() {
        *times.entry(&a.entity).or_default() += 1;
    }
    let twice: Vec<bool> = checked
        .iter()
        .map(|c| matches!(c, Ok(a) if times[&a.entity] > 1))
        .collect();
    drop(times);
    for (c, twice) in checked.iter_mut().zip(twice) {
        if let (true, Ok(a)) = (twice, &*c) {
            let message = format!("Ignoring duplicate entity {}", a.entity.kafka_text());
            *c = Err(Refusal {
                code: crate::protocol::error::INVALID_REQUEST,
                message,
            });
        }
    }
    let mut outcomes: Vec<Option<Refusal>> =
        checked.iter().map(|c| c.as_ref().err().cloned()).collect();
    if !req.validate_only {
        let (at, good): (Vec<usize>, Vec<Alteration>) = checked
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| c.ok().map(|a| (i, a)))
            .unzip();
        if !good.is_empty() {
            let done = crate::quota::store::alter(shard, good).await;
            for (i, outcome) in at.into_iter().zip(done) {
                outcomes[i] = outcome;
            }
        }
    }
    AlterClientQuotasResponse {
        entries: req
            .entries
            .into_iter()
            .zip(outcomes)
            .map(|(e, outcome)| result(e.entity, outcome))
            .collect(),
        ..Default::default()
    }
}

/// The answer to a caller who may not ALTER_CONFIGS the CLUSTER.
pub fn refused(req: &AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let refusal = Refusal {
        code: crate::protocol::error::CLUSTER_AUTHORIZATION_FAILED,
        message: crate::acl::CLUSTER_AUTHORIZATION_MESSAGE.into(),
    };
    AlterClientQuotasResponse {
        entries: req
            .entries
            .iter()
            .map(|e| result(e.entity.clone(), Some(refusal.clone())))
            .collect(),
        ..Default::default()
    }
}
