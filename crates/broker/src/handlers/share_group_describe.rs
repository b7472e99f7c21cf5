//! ShareGroupDescribe (key 77, KIP-932): state, epochs and members of share groups, from each
//! group's coordinator shard.

use std::rc::Rc;

use crate::protocol::messages::{
    ShareDescribedGroup, ShareGroupAssignment, ShareGroupDescribeRequest,
    ShareGroupDescribeResponse, ShareGroupMember, ShareGroupTopicPartitions,
};
use crate::protocol::wire::Str;
use crate::routing;
use crate::shard::ShardState;
use crate::share::group::{codes, ASSIGNOR_NAME};

/// Groups described per request (each costs a coordinator round trip).
pub const GROUPS_PER_REQUEST_MAX: usize = 1_000;

/// Answer a ShareGroupDescribe request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: ShareGroupDescribeRequest,
) -> ShareGroupDescribeResponse {
    let mut groups = Vec::with_capacity(req.group_ids.len().min(GROUPS_PER_REQUEST_MAX));
    for (i, id) in req.group_ids.iter().enumerate() {
        let group_id = id.to_string();
        if i >= GROUPS_PER_REQUEST_MAX {
            groups.push(refused(
                &group_id,
                codes::INVALID_REQUEST,
                "too many groups in one request",
            ));
            continue;
        }
        let target = routing::group_coordinator(&group_id, shard.count);
        let id2 = group_id.clone();
        let described = shard
            .call(target, move |s| async move { describe(&s, &id2) })
            .await;
        groups.push(described.unwrap_or_else(|| {
            refused(
                &group_id,
                codes::COORDINATOR_NOT_AVAILABLE,
                "the coordinator shard is not available",
            )
        }));
    }
    ShareGroupDescribeResponse {
        throttle_time_ms: 0,
        groups,
    }
}

fn refused(group_id: &str, code: i16, message: &str) -> ShareDescribedGroup {
    ShareDescribedGroup {
        error_code: code,
        error_message: Some(Str::from(message)),
        group_id: Str::from(group_id),
        ..Default::default()
    }
}

/// The description of `group_id` on its coordinator.
fn describe(shard: &ShardState, group_id: &str) -> ShareDescribedGroup {
    let groups = shard.shares.groups.borrow();
    let Some(g) = groups.get(group_id) else {
        return refused(
            group_id,
            codes::GROUP_ID_NOT_FOUND,
            &format!("Group {group_id} not found."),
        );
    };
    ShareDescribedGroup {
        error_code: 0,
        error_message: None,
        group_id: Str::from(group_id),
        group_state: Str::from(g.state_name()),
        group_epoch: g.epoch,
        assignment_epoch: g.assignment_epoch,
        assignor_name: Str::from(ASSIGNOR_NAME),
        members: g
            .members
            .iter()
            .map(|(id, m)| ShareGroupMember {
                member_id: Str::from(id.as_str()),
                rack_id: m.rack.as_deref().map(Str::from),
                member_epoch: m.epoch,
                client_id: Str::from(m.client_id.as_str()),
                client_host: Str::from(m.client_host.as_str()),
                subscribed_topic_names: m.topics.iter().map(|t| Str::from(t.as_str())).collect(),
                assignment: ShareGroupAssignment {
                    topic_partitions: m
                        .assignment
                        .iter()
                        .map(|(name, (id, parts))| ShareGroupTopicPartitions {
                            topic_id: *id,
                            topic_name: Str::from(name.as_str()),
                            partitions: parts.clone(),
                        })
                        .collect(),
                },
            })
            .collect(),
        authorized_operations: i32::MIN,
    }
}
