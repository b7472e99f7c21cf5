//! OffsetDelete (key 47, KIP-496): deletes a group's committed offsets of some partitions, as
//! `kafka-consumer-groups.sh --delete-offsets` asks. The group's coordinator shard decides (see
//! `Coordinator::delete_offsets`): a group-level error answers alone (no topics), else every
//! partition asked for gets 0 or GROUP_SUBSCRIBED_TO_TOPIC.

use std::rc::Rc;

use crate::error::BrokerError;
use crate::group::{self, GroupOp, GroupReply, TopicOffsetsDeleted};
use crate::protocol::error as code;
use crate::protocol::messages::{
    OffsetDeleteRequest, OffsetDeleteResponse, OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer an OffsetDelete request.
pub async fn handle(shard: &Rc<ShardState>, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let group_id = req.group_id.to_string();
    let op = GroupOp::DeleteOffsets {
        group: group_id.clone(),
        topics: req
            .topics
            .iter()
            .map(|t| {
                let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
                (t.name.to_string(), partitions)
            })
            .collect(),
    };
    let deleted = match group::call(shard, &group_id, op).await {
        Ok(GroupReply::DeleteOffsets(deleted)) => deleted,
        Ok(_) => {
            let e = BrokerError::CoordinatorReplyMismatch {
                op: "DeleteOffsets",
            };
            tracing::error!("{e}");
            Err(e)
        }
        Err(e) => Err(e),
    };
    match deleted {
        Ok(topics) => OffsetDeleteResponse {
            topics: topics.into_iter().map(topic_result).collect(),
            ..Default::default()
        },
        Err(e) => OffsetDeleteResponse {
            error_code: e.kafka_code(),
            ..Default::default()
        },
    }
}

fn topic_result(t: TopicOffsetsDeleted) -> OffsetDeleteResponseTopic {
    let error_code = if t.subscribed {
        code::GROUP_SUBSCRIBED_TO_TOPIC
    } else {
        code::NONE
    };
    OffsetDeleteResponseTopic {
        name: Str::from(t.topic),
        partitions: t
            .partitions
            .into_iter()
            .map(|partition_index| OffsetDeleteResponsePartition {
                partition_index,
                error_code,
            })
            .collect(),
    }
}
