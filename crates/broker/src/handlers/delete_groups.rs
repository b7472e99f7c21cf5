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
        if let Some(error_code) = delete_share_group(shard, &group_id).await {
            resp.results.push(DeletableGroupResult {
                group_id,
                error_code,
            });
            continue;
        }
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

/// Deletes `group_id` if it is a share group: refused with NON_EMPTY_GROUP while it has members;
/// else its configs, marker and every share-partition go. `None`: not a share group.
async fn delete_share_group(shard: &Rc<ShardState>, group_id: &str) -> Option<i16> {
    let target = crate::routing::group_coordinator(group_id, shard.count);
    let g = group_id.to_string();
    let members = shard
        .call(target, move |s| async move {
            s.shares.groups.borrow().get(&g).map(|g| g.members.len())
        })
        .await
        .flatten()?;
    if members > 0 {
        return Some(crate::protocol::error::NON_EMPTY_GROUP);
    }
    for shard_id in 0..shard.count {
        let g = group_id.to_string();
        let dropped = shard
            .call(shard_id, move |s| async move {
                s.shares.drop_group_parts(&g, None).await
            })
            .await;
        if let Some(Err(e)) = dropped {
            return Some(e.kafka_code());
        }
    }
    let g = group_id.to_string();
    match shard
        .call(
            target,
            move |s| async move { s.shares.forget_group(&g).await },
        )
        .await
    {
        Some(Ok(())) => Some(0),
        Some(Err(e)) => Some(e.kafka_code()),
        None => Some(crate::share::group::codes::COORDINATOR_NOT_AVAILABLE),
    }
}
