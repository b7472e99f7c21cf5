//! InitProducerId (key 22) for idempotent, non-transactional producers: a fresh producer id with
//! epoch 0 from the controller shard's allocator (as Kafka does when `transactional_id` is null,
//! also when the client passes its old id and epoch to bump, KIP-360). Transactional ids are
//! refused: transactions are not supported yet.

use std::rc::Rc;

use crate::error::BrokerError;
use crate::protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use crate::shard::ShardState;

/// Answer an InitProducerId request.
pub async fn handle(shard: &Rc<ShardState>, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let refused = |e: BrokerError| InitProducerIdResponse {
        error_code: e.kafka_code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    if let Some(id) = &req.transactional_id {
        return refused(BrokerError::TransactionalId {
            transactional_id: id.to_string(),
        });
    }
    match shard.allocate_producer_id().await {
        Ok(producer_id) => InitProducerIdResponse {
            producer_id,
            producer_epoch: 0,
            ..Default::default()
        },
        Err(e) => refused(e),
    }
}
