//! The Admin client's share-group offset APIs (KIP-932): DescribeShareGroupOffsets (key 90:
//! each share-partition's start offset and lag), AlterShareGroupOffsets (91: set start
//! offsets) and DeleteShareGroupOffsets (92: forget a topic's share-partitions). Altering and
//! deleting need the group to have no members (NON_EMPTY_GROUP otherwise), as in Kafka.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use uuid::Uuid;

use crate::protocol::error::{NON_EMPTY_GROUP, UNKNOWN_TOPIC_OR_PARTITION};
use crate::protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse,
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
    DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse,
    DeleteShareGroupOffsetsResponseTopic, DescribeShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsResponse, DescribeShareGroupOffsetsResponseGroup,
    DescribeShareGroupOffsetsResponsePartition, DescribeShareGroupOffsetsResponseTopic,
};
use crate::protocol::wire::Str;
use crate::routing;
use crate::shard::ShardState;
use crate::share::group::codes;

/// Groups per DescribeShareGroupOffsets request.
pub const GROUPS_MAX: usize = 1_000;

/// Every share-partition of `group` on every shard: (topic, partition, start offset, lag).
async fn all_offsets(shard: &Rc<ShardState>, group: &str) -> Vec<(Arc<str>, i32, i64, i64)> {
    let mut out = Vec::new();
    for target in 0..shard.count {
        let g = group.to_string();
        let found = shard
            .call(target, move |s| async move {
                s.shares.offsets_of(&g, |t, p| {
                    s.log_of(t, p).ok().map(|log| log.high_watermark())
                })
            })
            .await
            .unwrap_or_default();
        out.extend(found);
    }
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

/// The group's member count on its coordinator (`None`: not a known share group).
async fn members(shard: &Rc<ShardState>, group: &str) -> Option<usize> {
    let target = routing::group_coordinator(group, shard.count);
    let g = group.to_string();
    shard
        .call(target, move |s| async move {
            s.shares.groups.borrow().get(&g).map(|g| g.members.len())
        })
        .await
        .flatten()
}

fn topic_id(shard: &ShardState, topic: &str) -> Option<(Uuid, i32)> {
    shard
        .catalog
        .borrow()
        .get(topic)
        .map(|m| (m.id, m.partitions))
}

/// Answer DescribeShareGroupOffsets.
pub async fn describe(
    shard: &Rc<ShardState>,
    req: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    let mut groups = Vec::new();
    for (i, g) in req.groups.iter().enumerate() {
        let group_id = g.group_id.to_string();
        if i >= GROUPS_MAX || !crate::group::valid_group_id(&group_id) {
            groups.push(DescribeShareGroupOffsetsResponseGroup {
                group_id: g.group_id.clone(),
                error_code: codes::INVALID_GROUP_ID,
                error_message: Some(Str::from("invalid group id or too many groups")),
                ..Default::default()
            });
            continue;
        }
        let found = all_offsets(shard, &group_id).await;
        let mut by_topic: HashMap<Arc<str>, Vec<(i32, i64, i64)>> = HashMap::new();
        for (t, p, start, lag) in &found {
            by_topic
                .entry(t.clone())
                .or_default()
                .push((*p, *start, *lag));
        }
        // The topics asked for (every partition named), or every topic the group has state in.
        let wanted: Vec<(String, Option<Vec<i32>>)> = match &g.topics {
            Some(topics) => topics
                .iter()
                .map(|t| (t.topic_name.to_string(), Some(t.partitions.clone())))
                .collect(),
            None => {
                let mut names: Vec<String> = by_topic.keys().map(|t| t.to_string()).collect();
                names.sort();
                names.into_iter().map(|n| (n, None)).collect()
            }
        };
        let mut topics = Vec::new();
        for (name, partitions) in wanted {
            let known = by_topic.get(name.as_str());
            let (id, count) = topic_id(shard, &name).unwrap_or((Uuid::nil(), 0));
            let parts: Vec<i32> = partitions.unwrap_or_else(|| {
                known
                    .map(|k| k.iter().map(|x| x.0).collect())
                    .unwrap_or_default()
            });
            topics.push(DescribeShareGroupOffsetsResponseTopic {
                topic_name: Str::from(name.as_str()),
                topic_id: id,
                partitions: parts
                    .into_iter()
                    .map(|p| {
                        let state = known.and_then(|k| k.iter().find(|x| x.0 == p));
                        let (error_code, error_message) = if p < 0 || p >= count {
                            (
                                UNKNOWN_TOPIC_OR_PARTITION,
                                Some(Str::from("This server does not host this topic-partition.")),
                            )
                        } else {
                            (0, None)
                        };
                        DescribeShareGroupOffsetsResponsePartition {
                            partition_index: p,
                            start_offset: state.map_or(-1, |s| s.1),
                            leader_epoch: 0,
                            lag: state.map_or(-1, |s| s.2),
                            error_code,
                            error_message,
                        }
                    })
                    .collect(),
            });
        }
        groups.push(DescribeShareGroupOffsetsResponseGroup {
            group_id: g.group_id.clone(),
            topics,
            error_code: 0,
            error_message: None,
        });
    }
    DescribeShareGroupOffsetsResponse {
        throttle_time_ms: 0,
        groups,
    }
}

/// Answer AlterShareGroupOffsets.
pub async fn alter(
    shard: &Rc<ShardState>,
    req: AlterShareGroupOffsetsRequest,
) -> AlterShareGroupOffsetsResponse {
    let group = req.group_id.to_string();
    let refuse = |code: i16, message: String| AlterShareGroupOffsetsResponse {
        error_code: code,
        error_message: Some(Str::from(message)),
        ..Default::default()
    };
    if !crate::group::valid_group_id(&group) {
        return refuse(
            codes::INVALID_GROUP_ID,
            format!("Invalid group id: {group:?}"),
        );
    }
    if members(shard, &group).await.unwrap_or(0) > 0 {
        return refuse(
            NON_EMPTY_GROUP,
            format!("The group {group} has active members: stop them before altering offsets."),
        );
    }
    let mut responses = Vec::new();
    for t in &req.topics {
        let name = t.topic_name.to_string();
        let known = topic_id(shard, &name);
        let mut parts = Vec::new();
        for p in &t.partitions {
            let (error_code, error_message) = match known {
                None => (
                    UNKNOWN_TOPIC_OR_PARTITION,
                    Some(format!("Topic {name} does not exist")),
                ),
                Some((_, n)) if p.partition_index < 0 || p.partition_index >= n => (
                    UNKNOWN_TOPIC_OR_PARTITION,
                    Some(format!(
                        "Partition {} of {name} does not exist",
                        p.partition_index
                    )),
                ),
                Some(_) if p.start_offset < 0 => (
                    codes::INVALID_REQUEST,
                    Some(format!("start offset {} is negative", p.start_offset)),
                ),
                Some(_) => {
                    let owner = shard.owner(&name, p.partition_index);
                    let (g, topic, partition, offset) = (
                        group.clone(),
                        Arc::<str>::from(name.as_str()),
                        p.partition_index,
                        p.start_offset,
                    );
                    match shard
                        .call(owner, move |s| async move {
                            s.shares.reset_start(&g, &topic, partition, offset).await
                        })
                        .await
                    {
                        Some(Ok(())) => (0, None),
                        Some(Err(e)) => (e.kafka_code(), Some(e.to_string())),
                        None => (
                            codes::COORDINATOR_NOT_AVAILABLE,
                            Some("shard unavailable".to_string()),
                        ),
                    }
                }
            };
            parts.push(AlterShareGroupOffsetsResponsePartition {
                partition_index: p.partition_index,
                error_code,
                error_message: error_message.map(Str::from),
            });
        }
        responses.push(AlterShareGroupOffsetsResponseTopic {
            topic_name: t.topic_name.clone(),
            topic_id: known.map_or(Uuid::nil(), |k| k.0),
            partitions: parts,
        });
    }
    AlterShareGroupOffsetsResponse {
        responses,
        ..Default::default()
    }
}

/// Answer DeleteShareGroupOffsets.
pub async fn delete(
    shard: &Rc<ShardState>,
    req: DeleteShareGroupOffsetsRequest,
) -> DeleteShareGroupOffsetsResponse {
    let group = req.group_id.to_string();
    let refuse = |code: i16, message: String| DeleteShareGroupOffsetsResponse {
        error_code: code,
        error_message: Some(Str::from(message)),
        ..Default::default()
    };
    if !crate::group::valid_group_id(&group) {
        return refuse(
            codes::INVALID_GROUP_ID,
            format!("Invalid group id: {group:?}"),
        );
    }
    match members(shard, &group).await {
        None => {
            return refuse(
                codes::GROUP_ID_NOT_FOUND,
                format!("Group {group} not found."),
            )
        }
        Some(n) if n > 0 => {
            return refuse(
                NON_EMPTY_GROUP,
                format!("The group {group} has active members: stop them before deleting offsets."),
            )
        }
        Some(_) => {}
    }
    let mut responses = Vec::new();
    for t in &req.topics {
        let name = t.topic_name.to_string();
        let (error_code, error_message, id) = match topic_id(shard, &name) {
            None => (
                UNKNOWN_TOPIC_OR_PARTITION,
                Some(format!("Topic {name} does not exist")),
                Uuid::nil(),
            ),
            Some((id, _)) => {
                let mut failed = None;
                for target in 0..shard.count {
                    let (g, n) = (group.clone(), name.clone());
                    let r = shard
                        .call(target, move |s| async move {
                            s.shares.drop_group_parts(&g, Some(&n)).await
                        })
                        .await;
                    if let Some(Err(e)) = r {
                        failed = Some(e);
                    }
                }
                match failed {
                    None => (0, None, id),
                    Some(e) => (e.kafka_code(), Some(e.to_string()), id),
                }
            }
        };
        responses.push(DeleteShareGroupOffsetsResponseTopic {
            topic_name: t.topic_name.clone(),
            topic_id: id,
            error_code,
            error_message: error_message.map(Str::from),
        });
    }
    DeleteShareGroupOffsetsResponse {
        responses,
        ..Default::default()
    }
}
