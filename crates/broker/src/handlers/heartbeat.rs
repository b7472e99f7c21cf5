//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use std::rc::Rc;

use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use crate::shard::ShardState;

/// Answer a Heartbeat request.
pub async fn handle(shard: &Rc<ShardState>, req: HeartbeatRequest) -> HeartbeatResponse {
    let group_id = req.group_id.to_string();
    let error_code = match group::call(shard, &group_id, GroupOp::Heartbeat { req }).await {
        Ok(GroupReply::Heartbeat(error)) => error,
        Ok(_) => unreachable!("the coordinator answers Heartbeat with Heartbeat"),
        Err(e) => e.kafka_code(),
    };
    HeartbeatResponse {
        error_code,
        ..Default::default()
    }
}
