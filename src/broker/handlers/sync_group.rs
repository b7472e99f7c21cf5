//! SyncGroup (key 14): the leader sends every member's assignment; every member gets its own
//! once the leader's arrived (assignments pass through unchanged: client-side assignors).

use std::rc::Rc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::group::{self, codes, state::SyncOutcome, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

/// Answer a SyncGroup request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let group_id = req.group_id.0.to_string();
    let outcome = match group::call(shard, &group_id, GroupOp::Sync { req }).await {
        Some(GroupReply::Sync(o)) => o,
        _ => SyncOutcome::error(codes::COORDINATOR_NOT_AVAILABLE),
    };
    let mut r = SyncGroupResponse::default()
        .with_error_code(outcome.error)
        .with_assignment(outcome.assignment);
    if version >= 5 {
        r.protocol_type = outcome.protocol_type.map(StrBytes::from_string);
        r.protocol_name = outcome.protocol_name.map(StrBytes::from_string);
    }
    r
}
