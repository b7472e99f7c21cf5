//! DescribeGroups (key 15): each group asked of its coordinator shard. A group that does not
//! exist is described as state "Dead" with no error, as Kafka's classic coordinator does.

use std::rc::Rc;

use crate::error::BrokerError;
use crate::group::{self, valid_group_id, GroupOp, GroupReply, GroupSummary};
use crate::protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer a DescribeGroups request.
pub async fn handle(shard: &Rc<ShardState>, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let mut resp = DescribeGroupsResponse::default();
    for group_id in req.groups {
        let reply = if !valid_group_id(&group_id) {
            Err(BrokerError::InvalidGroupId {
                group: group_id.to_string(),
            })
        } else {
            let op = GroupOp::Describe {
                group: group_id.to_string(),
            };
            group::call(shard, &group_id, op).await
        };
        let mut d = match reply {
            Ok(GroupReply::Describe(g)) => described(g),
            Ok(_) => {
                let e = BrokerError::CoordinatorReplyMismatch { op: "Describe" };
                tracing::error!("{e}");
                DescribedGroup {
                    error_code: e.kafka_code(),
                    ..Default::default()
                }
            }
            Err(e) => DescribedGroup {
                error_code: e.kafka_code(),
                ..Default::default()
            },
        };
        d.group_id = group_id;
        resp.groups.push(d);
    }
    resp
}

fn described(g: GroupSummary) -> DescribedGroup {
    DescribedGroup {
        group_state: Str::from(g.state),
        protocol_type: Str::from(g.protocol_type),
        protocol_data: Str::from(g.protocol_name),
        members: g
            .members
            .into_iter()
            .map(|m| DescribedGroupMember {
                member_id: Str::from(m.member_id),
                group_instance_id: m.instance_id.map(Str::from),
                client_id: Str::from(m.client_id),
                client_host: Str::from(m.client_host),
                member_metadata: m.metadata,
                member_assignment: m.assignment,
            })
            .collect(),
        ..Default::default()
    }
}
