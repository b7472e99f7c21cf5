//! LeaveGroup (key 13): v0-2 one member by id; v3+ a batch, by member id or group instance id
//! (static members).

use std::rc::Rc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::group::{self, codes, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

/// Answer a LeaveGroup request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let group_id = req.group_id.0.to_string();
    let (top, members) = match group::call(shard, &group_id, GroupOp::Leave { version, req }).await
    {
        Some(GroupReply::Leave(top, members)) => (top, members),
        _ => (codes::COORDINATOR_NOT_AVAILABLE, Vec::new()),
    };
    let mut r = LeaveGroupResponse::default().with_error_code(top);
    if version >= 3 {
        r.members = members
            .into_iter()
            .map(|(id, inst, error)| {
                MemberResponse::default()
                    .with_member_id(StrBytes::from_string(id))
                    .with_group_instance_id(inst.map(StrBytes::from_string))
                    .with_error_code(error)
            })
            .collect();
    }
    r
}
