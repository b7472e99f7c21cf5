//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use crate::shard::ShardState;

/// Answer a Heartbeat request.
pub async fn handle(shard: &Rc<ShardState>, req: HeartbeatRequest) -> HeartbeatResponse {
    let group_id = req.group_id.to_string();
    let beat = match group::call(shard, &group_id, GroupOp::Heartbeat { req }).await {
        Ok(GroupReply::Heartbeat(beat)) => beat,
        Ok(_) => {
            let e = BrokerError::CoordinatorReplyMismatch { op: "Heartbeat" };
            tracing::error!("{e}");
            Err(e)
        }
        Err(e) => Err(e),
    };
    let error_code = code_of(beat.err().as_ref());
    HeartbeatResponse {
        error_code,
        ..Default::default()
    }
}
