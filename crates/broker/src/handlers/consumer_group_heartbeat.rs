//! ConsumerGroupHeartbeat (key 68, KIP-848): a member of a "consumer"-protocol group joins,
//! heartbeats, reports the partitions it owns and receives its assignment incrementally; served
//! by the group's coordinator shard (`group::consumer`).

use std::rc::Rc;

use crate::group::consumer::{self, CBeat};
use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::messages::{
    ConsumerGroupHeartbeatAssignment, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, ConsumerGroupHeartbeatTopicPartitions,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer a ConsumerGroupHeartbeat request.
pub async fn handle(
    shard: &Rc<ShardState>,
    client_id: Option<&str>,
    client_host: String,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let refused = |code: i16, message: String| ConsumerGroupHeartbeatResponse {
        error_code: code,
        error_message: Some(Str::from(message)),
        member_epoch: -1,
        ..Default::default()
    };
    let group_id = req.group_id.to_string();
    if !group::valid_group_id(&group_id) {
        return refused(
            crate::protocol::error::INVALID_GROUP_ID,
            "GroupId can't be empty.".into(),
        );
    }
    if req.member_id.is_empty() || req.member_id.len() > crate::share::group::MEMBER_ID_BYTES_MAX {
        return refused(
            consumer::codes::INVALID_REQUEST,
            "MemberId can't be empty.".into(),
        );
    }
    if req.member_epoch < -2 {
        return refused(
            consumer::codes::INVALID_REQUEST,
            format!(
                "MemberEpoch is {}, but must be greater than or equal to -2.",
                req.member_epoch
            ),
        );
    }
    if req
        .subscribed_topic_names
        .as_ref()
        .is_some_and(|t| t.len() > consumer::TOPICS_MAX)
    {
        return refused(
            consumer::codes::INVALID_REQUEST,
            "Too many subscribed topics.".into(),
        );
    }
    // Owned partitions by name (the request names topics by id).
    let owned = req.topic_partitions.as_ref().map(|tps| {
        let catalog = shard.catalog.borrow();
        tps.iter()
            .filter_map(|t| {
                catalog
                    .name_of(t.topic_id)
                    .map(|n| (n.to_string(), &t.partitions))
            })
            .flat_map(|(n, ps)| ps.iter().map(move |p| (n.clone(), *p)))
            .collect::<Vec<_>>()
    });
    let beat = CBeat {
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        topics: req
            .subscribed_topic_names
            .as_ref()
            .map(|t| t.iter().map(|s| s.to_string()).collect()),
        regex: req.subscribed_topic_regex.as_ref().map(|s| s.to_string()),
        assignor: req.server_assignor.as_ref().map(|s| s.to_string()),
        owned,
        client_id: client_id.unwrap_or_default().to_string(),
        client_host,
    };
    let op = GroupOp::ConsumerHeartbeat {
        group: group_id.clone(),
        beat,
    };
    match group::call(shard, &group_id, op).await {
        Ok(GroupReply::ConsumerHeartbeat(Ok((reply, by_id)))) => ConsumerGroupHeartbeatResponse {
            member_id: Some(req.member_id.clone()),
            member_epoch: reply.member_epoch,
            heartbeat_interval_ms: reply.heartbeat_interval_ms,
            assignment: reply.assignment.map(|_| ConsumerGroupHeartbeatAssignment {
                topic_partitions: by_id
                    .into_iter()
                    .map(
                        |(topic_id, partitions)| ConsumerGroupHeartbeatTopicPartitions {
                            topic_id,
                            partitions,
                        },
                    )
                    .collect(),
            }),
            ..Default::default()
        },
        Ok(GroupReply::ConsumerHeartbeat(Err(r))) => refused(r.code, r.message),
        Ok(_) => refused(
            crate::protocol::error::UNKNOWN_SERVER_ERROR,
            "coordinator reply mismatch".into(),
        ),
        Err(e) => refused(e.kafka_code(), e.to_string()),
    }
}
