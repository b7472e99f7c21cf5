//! JoinGroup (key 11): forwarded to the group's coordinator shard, which answers when the join
//! phase completes (every member rejoined, or the rebalance timeout passed).

use std::rc::Rc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::group::{self, codes, state::JoinOutcome, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

/// Answer a JoinGroup request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    client_id: Option<&str>,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let group_id = req.group_id.0.to_string();
    let member_id = req.member_id.to_string();
    let op = GroupOp::Join {
        version,
        client_id: client_id.unwrap_or_default().to_string(),
        req,
    };
    let outcome = match group::call(shard, &group_id, op).await {
        Some(GroupReply::Join(o)) => o,
        _ => JoinOutcome::error(codes::COORDINATOR_NOT_AVAILABLE, &member_id),
    };
    encode(version, outcome)
}

fn encode(version: i16, o: JoinOutcome) -> JoinGroupResponse {
    let s = StrBytes::from_string;
    let mut r = JoinGroupResponse::default()
        .with_error_code(o.error)
        .with_generation_id(o.generation)
        .with_leader(s(o.leader))
        .with_member_id(s(o.member_id));
    // The protocol name is nullable only from v7 on; older clients expect a string.
    r.protocol_name = match o.protocol_name {
        Some(n) => Some(s(n)),
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    };
    if version >= 7 {
        r.protocol_type = o.protocol_type.map(s);
    }
    r.members = o
        .members
        .into_iter()
        .map(|(id, inst, metadata)| {
            let mut m = JoinGroupResponseMember::default()
                .with_member_id(s(id))
                .with_metadata(metadata);
            if version >= 5 {
                m.group_instance_id = inst.map(s);
            }
            m
        })
        .collect();
    r
}
