//! ListGroups (key 16): every shard lists the groups it coordinates. v4 filters by state, v5 by
//! type (classic groups, and share groups).

use std::rc::Rc;

use crate::error::BrokerError;
use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::messages::{ListGroupsRequest, ListGroupsResponse, ListedGroup};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Share groups' type and protocol type (KIP-932).
const SHARE_TYPE: &str = "Share";
const SHARE_PROTOCOL_TYPE: &str = "share";

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
    let wants_share = req.types_filter.is_empty()
        || req
            .types_filter
            .iter()
            .any(|f| f.eq_ignore_ascii_case(SHARE_TYPE));
    for target in 0..shard.count {
        if wants_share {
            let shares = shard
                .call(target, |s| async move {
                    let mut out: Vec<(String, &'static str)> = s
                        .shares
                        .groups
                        .borrow()
                        .iter()
                        .map(|(id, g)| (id.clone(), g.state_name()))
                        .collect();
                    out.sort();
                    out
                })
                .await
                .unwrap_or_default();
            for (id, state) in shares {
                if wants_state(state) {
                    resp.groups.push(ListedGroup {
                        group_id: Str::from(id),
                        protocol_type: Str::from_static(SHARE_PROTOCOL_TYPE),
                        group_state: Str::from_static(state),
                        group_type: Str::from_static(SHARE_TYPE),
                    });
                }
            }
        }
        match group::call_shard(shard, target, GroupOp::List).await {
            Ok(GroupReply::List(groups)) => {
                for g in groups {
                    let wants_type = req.types_filter.is_empty()
                        || req
                            .types_filter
                            .iter()
                            .any(|f| f.eq_ignore_ascii_case(g.group_type));
                    if !wants_state(&g.state) || !wants_type {
                        continue;
                    }
                    resp.groups.push(ListedGroup {
                        group_id: Str::from(g.group_id),
                        protocol_type: Str::from(g.protocol_type),
                        group_state: Str::from(g.state),
                        group_type: Str::from_static(g.group_type),
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
