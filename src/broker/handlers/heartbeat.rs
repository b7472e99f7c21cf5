//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use std::rc::Rc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::group::{self, codes, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

/// Answer a Heartbeat request.
pub async fn handle(shard: &Rc<ShardState>, req: HeartbeatRequest) -> HeartbeatResponse {
    let group_id = req.group_id.0.to_string();
    let error = match group::call(shard, &group_id, GroupOp::Heartbeat { req }).await {
        Some(GroupReply::Heartbeat(code)) => code,
        _ => codes::COORDINATOR_NOT_AVAILABLE,
    };
    HeartbeatResponse::default().with_error_code(error)
}
