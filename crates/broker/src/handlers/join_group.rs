//! JoinGroup (key 11): forwarded to the group's coordinator shard, which answers when the join
//! phase completes (every member rejoined, or the rebalance timeout passed).

use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::group::{self, state::JoinOutcome, GroupOp, GroupReply};
use crate::protocol::messages::{JoinGroupRequest, JoinGroupResponse, JoinGroupResponseMember};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer a JoinGroup request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    client_id: Option<&str>,
    client_host: String,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let group_id = req.group_id.to_string();
    let member_id = req.member_id.to_string();
    let op = GroupOp::Join {
        version,
        client_id: client_id.unwrap_or_default().to_string(),
        client_host,
        req,
    };
    let outcome = match group::call(shard, &group_id, op).await {
        Ok(GroupReply::Join(o)) => o,
        Ok(_) => {
            let e = BrokerError::CoordinatorReplyMismatch { op: "Join" };
            tracing::error!("{e}");
            JoinOutcome::error(e, &member_id)
        }
        Err(e) => JoinOutcome::error(e, &member_id),
    };
    response(outcome)
}

fn response(o: JoinOutcome) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: code_of(o.error.as_ref()),
        generation_id: o.generation,
        protocol_type: o.protocol_type.map(Str::from),
        // No protocol yet is null from v7, an empty string before (where it is not nullable).
        protocol_name: o.protocol_name.map(Str::from),
        leader: Str::from(o.leader),
        member_id: Str::from(o.member_id),
        members: o
            .members
            .into_iter()
            .map(|(id, instance_id, metadata)| JoinGroupResponseMember {
                member_id: Str::from(id),
                group_instance_id: instance_id.map(Str::from),
                metadata,
            })
            .collect(),
        ..Default::default()
    }
}
