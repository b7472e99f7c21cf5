//! DescribeGroups (key 15): each group asked of its coordinator shard. A group that does not
//! exist is described as state "Dead" with no error, as Kafka's classic coordinator does.

use std::rc::Rc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;

use crate::broker::group::{self, codes, valid_group_id, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

/// Answer a DescribeGroups request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let s = StrBytes::from_string;
    let mut resp = DescribeGroupsResponse::default();
    for id in req.groups {
        let group_id = id.0.to_string();
        let mut d = DescribedGroup::default().with_group_id(GroupId(s(group_id.clone())));
        if !valid_group_id(&group_id) {
            d.error_code = codes::INVALID_GROUP_ID;
        } else {
            let op = GroupOp::Describe {
                group: group_id.clone(),
            };
            match group::call(shard, &group_id, op).await {
                Some(GroupReply::Describe(g)) => {
                    d.group_state = s(g.state);
                    d.protocol_type = s(g.protocol_type);
                    d.protocol_data = s(g.protocol_name);
                    d.members = g
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut dm = DescribedGroupMember::default()
                                .with_member_id(s(m.member_id))
                                .with_client_id(s(m.client_id))
                                .with_client_host(StrBytes::from_static_str(""))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if version >= 4 {
                                dm.group_instance_id = m.instance_id.map(s);
                            }
                            dm
                        })
                        .collect();
                }
                _ => d.error_code = codes::COORDINATOR_NOT_AVAILABLE,
            }
        }
        resp.groups.push(d);
    }
    resp
}
