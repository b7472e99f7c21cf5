//! OffsetCommit (key 8): stored durably by the group's coordinator shard (fdatasync before the
//! answer). Generation -1 with an empty member id is a "simple" commit, allowed only while the
//! group has no members (what `ringlog groups reset-offsets` uses).

use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer an OffsetCommit request.
pub async fn handle(shard: &Rc<ShardState>, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let group_id = req.group_id.to_string();
    // A group-level error goes on every partition of the request.
    let asked: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
            (t.name.to_string(), partitions)
        })
        .collect();
    let committed = match group::call(shard, &group_id, GroupOp::Commit { req }).await {
        Ok(GroupReply::Commit(committed)) => committed,
        Ok(_) => {
            let e = BrokerError::CoordinatorReplyMismatch { op: "Commit" };
            tracing::error!("{e}");
            Err(e)
        }
        Err(e) => Err(e),
    };
    let topics: Vec<OffsetCommitResponseTopic> = match committed {
        Ok(results) => results
            .into_iter()
            .map(|(topic, parts)| OffsetCommitResponseTopic {
                name: Str::from(topic),
                partitions: parts
                    .into_iter()
                    .map(|(partition_index, outcome)| OffsetCommitResponsePartition {
                        partition_index,
                        error_code: code_of(outcome.err().as_ref()),
                    })
                    .collect(),
            })
            .collect(),
        Err(e) => asked
            .into_iter()
            .map(|(topic, parts)| OffsetCommitResponseTopic {
                name: Str::from(topic),
                partitions: parts
                    .into_iter()
                    .map(|partition_index| OffsetCommitResponsePartition {
                        partition_index,
                        error_code: e.kafka_code(),
                    })
                    .collect(),
            })
            .collect(),
    };
    OffsetCommitResponse {
        topics,
        ..Default::default()
    }
}
