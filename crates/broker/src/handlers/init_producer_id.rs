//! InitProducerId (key 22). Without a transactional id: a fresh producer id with epoch 0 from
//! the controller shard's allocator (as Kafka does, also when the client passes its old id and
//! epoch to bump, KIP-360). With one (issue #18): the transaction coordinator's answer
//! ([`crate::txn::init_producer_id`]) on the id's coordinator shard: a new producer, or the
//! id's producer with a bumped epoch (its open transaction aborted, fencing the old one).

use std::rc::Rc;

use crate::error::BrokerError;
use crate::protocol::error as code;
use crate::protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use crate::shard::ShardState;
use crate::txn;

/// First InitProducerId version whose clients know PRODUCER_FENCED (KIP-588).
const FENCED_VERSION: i16 = 4;

/// Answer an InitProducerId request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let refused = |e: BrokerError| {
        if e.kafka_code() != code::CONCURRENT_TRANSACTIONS {
            tracing::debug!("InitProducerId refused: {e}");
        }
        InitProducerIdResponse {
            error_code: e.kafka_code(),
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        }
    };
    let Some(id) = &req.transactional_id else {
        return match shard.allocate_producer_id().await {
            Ok(producer_id) => InitProducerIdResponse {
                producer_id,
                producer_epoch: 0,
                ..Default::default()
            },
            Err(e) => refused(e),
        };
    };
    let id = id.to_string();
    if id.is_empty() || id.len() > txn::TRANSACTIONAL_ID_BYTES_MAX {
        return refused(BrokerError::Txn {
            code: code::INVALID_REQUEST,
            transactional_id: id,
            reason: format!(
                "a transactional id is 1 to {} bytes",
                txn::TRANSACTIONAL_ID_BYTES_MAX
            ),
        });
    }
    let max = shard.config.transaction_max_timeout_ms;
    if req.transaction_timeout_ms <= 0 || req.transaction_timeout_ms > max {
        return refused(BrokerError::Txn {
            code: code::INVALID_TRANSACTION_TIMEOUT,
            transactional_id: id,
            reason: format!(
                "transaction.timeout.ms {} is not in 1..={max} (transaction.max.timeout.ms)",
                req.transaction_timeout_ms
            ),
        });
    }
    let target = txn::coordinator_of(&id, shard.count);
    let timeout = req.transaction_timeout_ms;
    let expected = (req.producer_id, req.producer_epoch);
    let fenced = txn::fenced_code(version, FENCED_VERSION);
    let answer = shard
        .call(target, move |s| async move {
            txn::init_producer_id(&s, &id, timeout, expected, fenced).await
        })
        .await
        .unwrap_or(Err(BrokerError::ShardUnavailable {
            shard: target,
            op: "init producer id",
        }));
    match answer {
        Ok((producer_id, producer_epoch)) => InitProducerIdResponse {
            producer_id,
            producer_epoch,
            ..Default::default()
        },
        Err(e) => refused(e),
    }
}
