//! LeaveGroup (key 13): v0-2 one member by id; v3+ a batch, by member id or group instance id
//! (static members).

use std::rc::Rc;

use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, MemberResponse};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer a LeaveGroup request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let group_id = req.group_id.to_string();
    let (top, members) = match group::call(shard, &group_id, GroupOp::Leave { version, req }).await
    {
        Ok(GroupReply::Leave(top, members)) => (top, members),
        Ok(_) => unreachable!("the coordinator answers Leave with Leave"),
        Err(e) => (e.kafka_code(), Vec::new()),
    };
    LeaveGroupResponse {
        error_code: top,
        members: members
            .into_iter()
            .map(|(id, instance_id, error)| MemberResponse {
                member_id: Str::from(id),
                group_instance_id: instance_id.map(Str::from),
                error_code: error,
            })
            .collect(),
        ..Default::default()
    }
}
