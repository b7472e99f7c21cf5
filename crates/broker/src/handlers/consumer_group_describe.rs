//! ConsumerGroupDescribe (key 69, KIP-848): a consumer-protocol group's state, epochs, members
//! with their current and target assignments.

use std::collections::BTreeSet;
use std::rc::Rc;

use crate::group::consumer::{self, Tp};
use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::messages::{
    ConsumerDescribedGroup, ConsumerGroupAssignment, ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse, ConsumerGroupMember, ConsumerGroupTopicPartitions,
    MEMBER_TYPE_CONSUMER,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Groups per request.
pub const GROUPS_MAX: usize = 1_000;

/// Answer a ConsumerGroupDescribe request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let mut groups = Vec::new();
    for (i, id) in req.group_ids.iter().enumerate() {
        let group_id = id.to_string();
        let refused = |code: i16, message: String| ConsumerDescribedGroup {
            error_code: code,
            error_message: Some(Str::from(message)),
            group_id: id.clone(),
            ..Default::default()
        };
        if i >= GROUPS_MAX || !group::valid_group_id(&group_id) {
            groups.push(refused(
                crate::protocol::error::INVALID_GROUP_ID,
                "invalid group id or too many groups".into(),
            ));
            continue;
        }
        let op = GroupOp::ConsumerDescribe {
            group: group_id.clone(),
        };
        let described = match group::call(shard, &group_id, op).await {
            Ok(GroupReply::ConsumerDescribe(Some(g))) => g,
            Ok(_) => {
                groups.push(refused(
                    crate::protocol::error::GROUP_ID_NOT_FOUND,
                    format!("Group {group_id} not found."),
                ));
                continue;
            }
            Err(e) => {
                groups.push(refused(e.kafka_code(), e.to_string()));
                continue;
            }
        };
        let assignment = |set: &BTreeSet<Tp>| {
            let catalog = shard.catalog.borrow();
            let mut out: Vec<ConsumerGroupTopicPartitions> = Vec::new();
            for (topic, p) in set {
                let Some(meta) = catalog.get(topic) else {
                    continue;
                };
                match out.iter_mut().find(|t| *t.topic_name == **topic) {
                    Some(t) => t.partitions.push(*p),
                    None => out.push(ConsumerGroupTopicPartitions {
                        topic_id: meta.id,
                        topic_name: Str::from(topic.as_str()),
                        partitions: vec![*p],
                    }),
                }
            }
            ConsumerGroupAssignment {
                topic_partitions: out,
            }
        };
        groups.push(ConsumerDescribedGroup {
            error_code: 0,
            error_message: None,
            group_id: id.clone(),
            group_state: Str::from(described.state_name()),
            group_epoch: described.epoch,
            assignment_epoch: described.assignment_epoch,
            assignor_name: Str::from(consumer::ASSIGNOR_NAME),
            members: described
                .members
                .iter()
                .map(|(member_id, m)| ConsumerGroupMember {
                    member_id: Str::from(member_id.as_str()),
                    instance_id: m.instance_id.as_deref().map(Str::from),
                    rack_id: m.rack.as_deref().map(Str::from),
                    member_epoch: m.epoch,
                    client_id: Str::from(m.client_id.as_str()),
                    client_host: Str::from(m.client_host.as_str()),
                    subscribed_topic_names: m
                        .topics
                        .iter()
                        .map(|t| Str::from(t.as_str()))
                        .collect(),
                    subscribed_topic_regex: None,
                    assignment: assignment(&m.assigned),
                    target_assignment: assignment(
                        &described.target.get(member_id).cloned().unwrap_or_default(),
                    ),
                    member_type: MEMBER_TYPE_CONSUMER,
                })
                .collect(),
            authorized_operations: i32::MIN,
        });
    }
    ConsumerGroupDescribeResponse {
        throttle_time_ms: 0,
        groups,
    }
}
