//! InitProducerId (key 22) for idempotent, non-transactional producers: a fresh producer id with
//! epoch 0 from the controller shard's allocator (as Kafka does when `transactional_id` is null,
//! also when the client passes its old id and epoch to bump, KIP-360). Transactional ids are
//! refused: transactions are not supported yet.

use std::rc::Rc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::shard::ShardState;
use crate::protocol::error as code;

/// Answer an InitProducerId request.
pub async fn handle(shard: &Rc<ShardState>, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if req.transactional_id.is_some() {
        resp.error_code = code::UNSUPPORTED_VERSION;
        return resp;
    }
    match shard.allocate_producer_id().await {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(error) => resp.error_code = error,
    }
    resp
}
