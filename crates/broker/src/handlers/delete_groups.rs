//! DeleteGroups (key 42): only groups without members; their committed offsets go too (a
//! tombstone in the coordinator shard's offsets log).

use std::rc::Rc;

use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::error as code;
use crate::protocol::messages::{DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse};
use crate::shard::ShardState;

/// Answer a DeleteGroups request.
pub async fn handle(shard: &Rc<ShardState>, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for group_id in req.groups_names {
        let op = GroupOp::Delete {
            group: group_id.to_string(),
        };
        let error_code = match group::call(shard, &group_id, op).await {
            Some(GroupReply::Delete(error)) => error,
            _ => code::COORDINATOR_NOT_AVAILABLE,
        };
        resp.results.push(DeletableGroupResult {
            group_id,
            error_code,
        });
    }
    resp
}
