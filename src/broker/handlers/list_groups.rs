//! ListGroups (key 16): every shard lists the groups it coordinates. v4 filters by state, v5 by
//! type (ringlog only has "classic" groups).

use std::rc::Rc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::group::{self, codes, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

/// The only group type ringlog runs (KIP-848 "consumer" groups are not supported).
const GROUP_TYPE: &str = "classic";

/// Answer a ListGroups request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let mut resp = ListGroupsResponse::default();
    let wants_state = |state: &str| {
        req.states_filter.is_empty()
            || req
                .states_filter
                .iter()
                .any(|f| f.as_str().eq_ignore_ascii_case(state))
    };
    let wants_type = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|f| f.as_str().eq_ignore_ascii_case(GROUP_TYPE));
    for target in 0..shard.count {
        match group::call_shard(shard, target, GroupOp::List).await {
            Some(GroupReply::List(groups)) => {
                for g in groups {
                    if !wants_state(&g.state) || !wants_type {
                        continue;
                    }
                    let mut l = ListedGroup::default()
                        .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                        .with_protocol_type(StrBytes::from_string(g.protocol_type));
                    if version >= 4 {
                        l.group_state = StrBytes::from_string(g.state);
                    }
                    if version >= 5 {
                        l.group_type = StrBytes::from_static_str(GROUP_TYPE);
                    }
                    resp.groups.push(l);
                }
            }
            _ => resp.error_code = codes::COORDINATOR_NOT_AVAILABLE,
        }
    }
    resp
}
