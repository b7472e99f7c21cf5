//! DeleteGroups (key 42): only groups without members; their committed offsets go too (a
//! tombstone in the coordinator shard's offsets log).

use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::group::{self, GroupOp, GroupReply};
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
            Ok(GroupReply::Delete(deleted)) => code_of(deleted.err().as_ref()),
            Ok(_) => {
                let e = BrokerError::CoordinatorReplyMismatch { op: "Delete" };
                tracing::error!("{e}");
                e.kafka_code()
            }
            Err(e) => e.kafka_code(),
        };
        resp.results.push(DeletableGroupResult {
            group_id,
            error_code,
        });
    }
    resp
}
