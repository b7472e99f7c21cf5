//! ShareGroupHeartbeat (key 76, KIP-932): a share-group member joins, stays and leaves, and
//! receives its assignment; served by the group's coordinator shard (`share::group`).

use std::rc::Rc;
use std::time::Instant;

use crate::protocol::messages::{
    ShareGroupHeartbeatAssignment, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse,
    ShareGroupHeartbeatTopicPartitions,
};
use crate::protocol::wire::Str;
use crate::routing;
use crate::shard::ShardState;
use crate::share::group::{self, codes, Beat, BeatReply, Refusal};

/// Answer a ShareGroupHeartbeat request.
pub async fn handle(
    shard: &Rc<ShardState>,
    client_id: Option<&str>,
    client_host: String,
    req: ShareGroupHeartbeatRequest,
) -> ShareGroupHeartbeatResponse {
    let member_id = req.member_id.to_string();
    let reply = match check(&req) {
        Err(r) => Err(r),
        Ok(()) => {
            let group_id = req.group_id.to_string();
            let beat = Beat {
                member_id: member_id.clone(),
                member_epoch: req.member_epoch,
                rack: req.rack_id.as_ref().map(|r| r.to_string()),
                topics: req
                    .subscribed_topic_names
                    .as_ref()
                    .map(|t| t.iter().map(|s| s.to_string()).collect()),
                client_id: client_id.unwrap_or_default().to_string(),
                client_host,
            };
            let target = routing::group_coordinator(&group_id, shard.count);
            shard
                .call(target, move |s| async move {
                    // A new share group is recorded durably before its first member is
                    // answered (it then survives a restart).
                    if s.groups.has_group(&group_id) {
                        return Err(Refusal::new(
                            codes::GROUP_ID_NOT_FOUND,
                            format!("Group {group_id} is not a share group."),
                        ));
                    }
                    let known = s.shares.groups.borrow().contains_key(&group_id);
                    if !known && beat.member_epoch == 0 {
                        if let Err(e) = s.shares.remember_group(&group_id).await {
                            return Err(Refusal::new(e.kafka_code(), e.to_string()));
                        }
                    }
                    on_coordinator(&s, group_id, beat)
                })
                .await
                .unwrap_or_else(|| {
                    Err(Refusal::new(
                        codes::COORDINATOR_NOT_AVAILABLE,
                        "the group coordinator shard is not available",
                    ))
                })
        }
    };
    match reply {
        Ok(BeatReply {
            member_epoch,
            heartbeat_interval_ms,
            assignment,
        }) => ShareGroupHeartbeatResponse {
            member_id: Some(Str::from(member_id.as_str())),
            member_epoch,
            heartbeat_interval_ms,
            assignment: assignment.map(|a| ShareGroupHeartbeatAssignment {
                topic_partitions: a
                    .into_iter()
                    .map(
                        |(topic_id, partitions)| ShareGroupHeartbeatTopicPartitions {
                            topic_id,
                            partitions,
                        },
                    )
                    .collect(),
            }),
            ..Default::default()
        },
        Err(r) => ShareGroupHeartbeatResponse {
            error_code: r.code,
            error_message: Some(Str::from(r.message.as_str())),
            member_id: None,
            member_epoch: -1,
            ..Default::default()
        },
    }
}

/// The request checks Kafka makes before the coordinator looks at it.
fn check(req: &ShareGroupHeartbeatRequest) -> Result<(), Refusal> {
    if req.group_id.is_empty() {
        return Err(Refusal::new(
            codes::INVALID_GROUP_ID,
            "GroupId can't be empty.",
        ));
    }
    if req.group_id.len() > crate::group::GROUP_ID_BYTES_MAX {
        return Err(Refusal::new(
            codes::INVALID_GROUP_ID,
            "GroupId is too long.",
        ));
    }
    if req.member_id.is_empty() {
        return Err(Refusal::new(
            codes::INVALID_REQUEST,
            "MemberId can't be empty.",
        ));
    }
    if req.member_id.len() > group::MEMBER_ID_BYTES_MAX {
        return Err(Refusal::new(
            codes::INVALID_REQUEST,
            "MemberId is too long.",
        ));
    }
    if req.member_epoch < -1 {
        return Err(Refusal::new(
            codes::INVALID_REQUEST,
            format!(
                "MemberEpoch is {}, but must be greater than or equal to -1.",
                req.member_epoch
            ),
        ));
    }
    if req.member_epoch == 0
        && req
            .subscribed_topic_names
            .as_ref()
            .is_none_or(|t| t.is_empty())
    {
        return Err(Refusal::new(
            codes::INVALID_REQUEST,
            "SubscribedTopicNames must be set in first request.",
        ));
    }
    if req
        .subscribed_topic_names
        .as_ref()
        .is_some_and(|t| t.len() > group::SUBSCRIBED_TOPICS_MAX)
    {
        return Err(Refusal::new(
            codes::INVALID_REQUEST,
            "Too many subscribed topics.",
        ));
    }
    Ok(())
}

fn on_coordinator(
    shard: &Rc<ShardState>,
    group_id: String,
    beat: Beat,
) -> Result<BeatReply, Refusal> {
    let configs = shard
        .shares
        .configs
        .borrow()
        .get(&group_id)
        .cloned()
        .unwrap_or_default();
    let mut left = Vec::new();
    let reply = {
        let mut groups = shard.shares.groups.borrow_mut();
        if !groups.contains_key(&group_id) && groups.len() >= group::GROUPS_PER_SHARD_MAX {
            return Err(Refusal::new(
                codes::COORDINATOR_NOT_AVAILABLE,
                format!(
                    "this coordinator shard holds {} share groups",
                    group::GROUPS_PER_SHARD_MAX
                ),
            ));
        }
        let g = groups.entry(group_id.clone()).or_default();
        let catalog = shard.catalog.borrow();
        g.heartbeat(beat, Instant::now(), &configs, &catalog, &mut left)
    };
    for member in left {
        crate::share::release_everywhere(shard, group_id.clone(), member);
    }
    reply
}
