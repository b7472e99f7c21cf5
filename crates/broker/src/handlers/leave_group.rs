//! LeaveGroup (key 13): v0-2 one member by id; v3+ a batch, by member id or group instance id
//! (static members).

use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::error as code;
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
    // v0-2 name one member and answer its error at the top level; v3+ answer per member.
    let batch = LeaveGroupRequest::carries("members", version);
    let left = match group::call(shard, &group_id, GroupOp::Leave { version, req }).await {
        Ok(GroupReply::Leave(members)) => Ok(members),
        Ok(_) => {
            let e = BrokerError::CoordinatorReplyMismatch { op: "Leave" };
            tracing::error!("{e}");
            Err(e)
        }
        Err(e) => Err(e),
    };
    let (top, members) = match left {
        Ok(members) => {
            let members: Vec<MemberResponse> = members
                .into_iter()
                .map(|(id, instance_id, left)| MemberResponse {
                    member_id: Str::from(id),
                    group_instance_id: instance_id.map(Str::from),
                    error_code: code_of(left.err().as_ref()),
                })
                .collect();
            let top = match members.first() {
                Some(m) if !batch => m.error_code,
                _ => code::NONE,
            };
            (top, members)
        }
        Err(e) => (e.kafka_code(), Vec::new()),
    };
    LeaveGroupResponse {
        error_code: top,
        members,
        ..Default::default()
    }
}
