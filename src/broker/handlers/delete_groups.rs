//! DeleteGroups (key 42): only groups without members; their committed offsets go too (a
//! tombstone in the coordinator shard's offsets log).

use std::rc::Rc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::broker::group::{self, codes, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

/// Answer a DeleteGroups request.
pub async fn handle(shard: &Rc<ShardState>, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for id in req.groups_names {
        let group_id = id.0.to_string();
        let op = GroupOp::Delete {
            group: group_id.clone(),
        };
        let error = match group::call(shard, &group_id, op).await {
            Some(GroupReply::Delete(code)) => code,
            _ => codes::COORDINATOR_NOT_AVAILABLE,
        };
        resp.results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(error),
        );
    }
    resp
}
