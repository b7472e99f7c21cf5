//! SyncGroup (key 14): the leader sends every member's assignment; every member gets its own
//! once the leader's arrived (assignments pass through unchanged: client-side assignors).

use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::group::{self, state::SyncOutcome, GroupOp, GroupReply};
use crate::protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer a SyncGroup request.
pub async fn handle(shard: &Rc<ShardState>, req: SyncGroupRequest) -> SyncGroupResponse {
    let group_id = req.group_id.to_string();
    let outcome = match group::call(shard, &group_id, GroupOp::Sync { req }).await {
        Ok(GroupReply::Sync(o)) => o,
        Ok(_) => {
            let e = BrokerError::CoordinatorReplyMismatch { op: "Sync" };
            tracing::error!("{e}");
            SyncOutcome::error(e)
        }
        Err(e) => SyncOutcome::error(e),
    };
    SyncGroupResponse {
        error_code: code_of(outcome.error.as_ref()),
        protocol_type: outcome.protocol_type.map(Str::from),
        protocol_name: outcome.protocol_name.map(Str::from),
        assignment: outcome.assignment,
        ..Default::default()
    }
}
