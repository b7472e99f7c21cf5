//! OffsetCommit (key 8): stored durably by the group's coordinator shard (fdatasync before the
//! answer). Generation -1 with an empty member id is a "simple" commit, allowed only while the
//! group has no members (what `ringlog groups reset-offsets` uses).

use std::rc::Rc;

use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::error as code;
use crate::protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer an OffsetCommit request.
pub async fn handle(shard: &Rc<ShardState>, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let group_id = req.group_id.to_string();
    let fallback: Vec<(String, Vec<(i32, i16)>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.to_string(),
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, code::COORDINATOR_NOT_AVAILABLE))
                    .collect(),
            )
        })
        .collect();
    let results = match group::call(shard, &group_id, GroupOp::Commit { req }).await {
        Some(GroupReply::Commit(r)) => r,
        _ => fallback,
    };
    let topics = results
        .into_iter()
        .map(|(topic, parts)| OffsetCommitResponseTopic {
            name: Str::from(topic),
            partitions: parts
                .into_iter()
                .map(
                    |(partition_index, error_code)| OffsetCommitResponsePartition {
                        partition_index,
                        error_code,
                    },
                )
                .collect(),
        })
        .collect();
    OffsetCommitResponse {
        topics,
        ..Default::default()
    }
}
