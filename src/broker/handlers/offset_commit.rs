//! OffsetCommit (key 8): stored durably by the group's coordinator shard (fdatasync before the
//! answer). Generation -1 with an empty member id is a "simple" commit, allowed only while the
//! group has no members (what `ringlog groups reset-offsets` uses).

use std::rc::Rc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::topic_name;
use crate::broker::group::{self, codes, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

/// Answer an OffsetCommit request.
pub async fn handle(shard: &Rc<ShardState>, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let group_id = req.group_id.0.to_string();
    let fallback: Vec<(String, Vec<(i32, i16)>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, codes::COORDINATOR_NOT_AVAILABLE))
                    .collect(),
            )
        })
        .collect();
    let results = match group::call(shard, &group_id, GroupOp::Commit { req }).await {
        Some(GroupReply::Commit(r)) => r,
        _ => fallback,
    };
    let mut resp = OffsetCommitResponse::default();
    for (topic, parts) in results {
        let mut t = OffsetCommitResponseTopic::default().with_name(topic_name(&topic));
        for (partition, error) in parts {
            t.partitions.push(
                OffsetCommitResponsePartition::default()
                    .with_partition_index(partition)
                    .with_error_code(error),
            );
        }
        resp.topics.push(t);
    }
    resp
}
