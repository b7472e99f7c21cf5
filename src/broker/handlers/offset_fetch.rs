//! OffsetFetch (key 9): committed offsets of a group (v0-7) or of several groups (v8+, each asked
//! of its own coordinator shard). A partition without a commit answers offset -1, no error.

use std::rc::Rc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_name;
use crate::broker::group::{self, codes, FetchedOffset, GroupOp, GroupReply};
use crate::broker::shard::ShardState;

async fn fetch_group(
    shard: &Rc<ShardState>,
    group_id: &str,
    partitions: Option<Vec<(String, i32)>>,
) -> (i16, Vec<FetchedOffset>) {
    let op = GroupOp::FetchOffsets {
        group: group_id.to_string(),
        partitions,
    };
    match group::call(shard, group_id, op).await {
        Some(GroupReply::Offsets(error, offsets)) => (error, offsets),
        _ => (codes::COORDINATOR_NOT_AVAILABLE, Vec::new()),
    }
}

/// Topics in first-seen order, each with its partitions.
fn by_topic(offsets: Vec<FetchedOffset>) -> Vec<(String, Vec<FetchedOffset>)> {
    let mut out: Vec<(String, Vec<FetchedOffset>)> = Vec::new();
    for o in offsets {
        match out.iter_mut().find(|(t, _)| *t == o.topic) {
            Some((_, v)) => v.push(o),
            None => out.push((o.topic.clone(), vec![o])),
        }
    }
    out
}

/// Answer an OffsetFetch request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let mut resp = OffsetFetchResponse::default();
    if version <= 7 {
        let group_id = req.group_id.0.to_string();
        let partitions = req.topics.as_ref().map(|ts| {
            ts.iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|p| (t.name.0.to_string(), *p))
                })
                .collect()
        });
        let (error, offsets) = fetch_group(shard, &group_id, partitions).await;
        if version >= 2 {
            resp.error_code = error;
        }
        for (topic, parts) in by_topic(offsets) {
            let mut t = OffsetFetchResponseTopic::default().with_name(topic_name(&topic));
            for o in parts {
                let mut p = OffsetFetchResponsePartition::default()
                    .with_partition_index(o.partition)
                    .with_committed_offset(o.offset)
                    .with_metadata(o.metadata.map(StrBytes::from_string))
                    .with_error_code(if version < 2 && error != codes::NONE {
                        error
                    } else {
                        o.error
                    });
                if version >= 5 {
                    p.committed_leader_epoch = o.leader_epoch;
                }
                t.partitions.push(p);
            }
            resp.topics.push(t);
        }
        return resp;
    }
    for g in req.groups {
        let group_id = g.group_id.0.to_string();
        let partitions = g.topics.as_ref().map(|ts| {
            ts.iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|p| (t.name.0.to_string(), *p))
                })
                .collect()
        });
        let (error, offsets) = fetch_group(shard, &group_id, partitions).await;
        let mut rg = OffsetFetchResponseGroup::default()
            .with_group_id(GroupId(StrBytes::from_string(group_id)))
            .with_error_code(error);
        for (topic, parts) in by_topic(offsets) {
            let mut t = OffsetFetchResponseTopics::default().with_name(topic_name(&topic));
            for o in parts {
                t.partitions.push(
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(o.partition)
                        .with_committed_offset(o.offset)
                        .with_committed_leader_epoch(o.leader_epoch)
                        .with_metadata(o.metadata.map(StrBytes::from_string))
                        .with_error_code(o.error),
                );
            }
            rg.topics.push(t);
        }
        resp.groups.push(rg);
    }
    resp
}
