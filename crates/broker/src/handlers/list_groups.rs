//! ListGroups (key 16): every shard lists the groups it coordinates. v4 filters by state, v5 by
//! type (ringlog only has "classic" groups).

use std::rc::Rc;

use crate::error::BrokerError;
use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::messages::{ListGroupsRequest, ListGroupsResponse, ListedGroup};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// The only group type ringlog runs (KIP-848 "consumer" groups are not supported).
const GROUP_TYPE: &str = "classic";

/// Answer a ListGroups request.
pub async fn handle(shard: &Rc<ShardState>, req: ListGroupsRequest) -> ListGroupsResponse {
    let mut resp = ListGroupsResponse::default();
    // Filters absent at the request's version decode empty: everything matches.
    let wants_state = |state: &str| {
        req.states_filter.is_empty()
            || req
                .states_filter
                .iter()
                .any(|f| f.eq_ignore_ascii_case(state))
    };
    let wants_type = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|f| f.eq_ignore_ascii_case(GROUP_TYPE));
    for target in 0..shard.count {
        match group::call_shard(shard, target, GroupOp::List).await {
            Ok(GroupReply::List(groups)) => {
                for g in groups {
                    if !wants_state(&g.state) || !wants_type {
                        continue;
                    }
                    resp.groups.push(ListedGroup {
                        group_id: Str::from(g.group_id),
                        protocol_type: Str::from(g.protocol_type),
                        group_state: Str::from(g.state),
                        group_type: Str::from_static(GROUP_TYPE),
                    });
                }
            }
            Ok(_) => {
                let e = BrokerError::CoordinatorReplyMismatch { op: "List" };
                tracing::error!("{e}");
                resp.error_code = e.kafka_code();
            }
            Err(e) => resp.error_code = e.kafka_code(),
        }
    }
    resp
}
