//! OffsetFetch (key 9): committed offsets of a group (v0-7) or of several groups (v8+, each asked
//! of its own coordinator shard). A partition without a commit answers offset -1, no error.
//! With `require_stable` (v7+, KIP-447), a partition whose group has a transactional commit
//! pending answers UNSTABLE_OFFSET_COMMIT (the client retries once the transaction ended).

use std::rc::Rc;

use crate::error::BrokerError;
use crate::group::{self, FetchedOffset, GroupOp, GroupReply};
use crate::protocol::error as code;
use crate::protocol::messages::{
    OffsetFetchRequest, OffsetFetchResponse, OffsetFetchResponseGroup,
    OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

async fn fetch_group(
    shard: &Rc<ShardState>,
    group_id: &str,
    partitions: Option<Vec<(String, i32)>>,
) -> Result<Vec<FetchedOffset>, BrokerError> {
    let op = GroupOp::FetchOffsets {
        group: group_id.to_string(),
        partitions,
    };
    match group::call(shard, group_id, op).await? {
        GroupReply::Offsets(offsets) => offsets,
        _ => {
            let e = BrokerError::CoordinatorReplyMismatch { op: "FetchOffsets" };
            tracing::error!("{e}");
            Err(e)
        }
    }
}

/// The group-level error code and the offsets of a group's answer (none on error).
fn split(fetched: Result<Vec<FetchedOffset>, BrokerError>) -> (i16, Vec<FetchedOffset>) {
    match fetched {
        Ok(offsets) => (code::NONE, offsets),
        Err(e) => (e.kafka_code(), Vec::new()),
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

/// The (topic, partition) list of a request's topics, each given as a name and its partitions.
fn partitions<'a>(topics: impl Iterator<Item = (&'a Str, &'a [i32])>) -> Vec<(String, i32)> {
    topics
        .flat_map(|(name, indexes)| indexes.iter().map(move |p| (name.to_string(), *p)))
        .collect()
}

/// The offset and the partition's error: a pending transactional commit is unstable when the
/// client requires stable offsets.
fn stable(o: &FetchedOffset, require_stable: bool) -> (i64, i16) {
    if require_stable && o.pending {
        (-1, code::UNSTABLE_OFFSET_COMMIT)
    } else {
        (o.offset, code::NONE)
    }
}

/// Answer an OffsetFetch request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if !OffsetFetchRequest::carries("groups", version) {
        return one_group(shard, version, req).await;
    }
    let mut resp = OffsetFetchResponse::default();
    let require_stable = req.require_stable;
    for g in req.groups {
        let wanted = g
            .topics
            .as_ref()
            .map(|ts| partitions(ts.iter().map(|t| (&t.name, t.partition_indexes.as_slice()))));
        let (error, offsets) = split(fetch_group(shard, &g.group_id, wanted).await);
        let topics = by_topic(offsets)
            .into_iter()
            .map(|(topic, parts)| OffsetFetchResponseTopics {
                name: Str::from(topic),
                partitions: parts
                    .into_iter()
                    .map(|o| {
                        let (committed_offset, error_code) = stable(&o, require_stable);
                        OffsetFetchResponsePartitions {
                            partition_index: o.partition,
                            committed_offset,
                            committed_leader_epoch: o.leader_epoch,
                            metadata: o.metadata.map(Str::from),
                            error_code,
                        }
                    })
                    .collect(),
            })
            .collect();
        resp.groups.push(OffsetFetchResponseGroup {
            group_id: g.group_id,
            topics,
            error_code: error,
        });
    }
    resp
}

/// v0-7: one group, answered in the top-level fields.
async fn one_group(
    shard: &Rc<ShardState>,
    version: i16,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let wanted = req
        .topics
        .as_ref()
        .map(|ts| partitions(ts.iter().map(|t| (&t.name, t.partition_indexes.as_slice()))));
    let (error, offsets) = split(fetch_group(shard, &req.group_id, wanted).await);
    // v0-1 have no group-level error code: the group's error goes on every partition.
    let group_error_on_partitions =
        !OffsetFetchResponse::carries("error_code", version) && error != code::NONE;
    let topics = by_topic(offsets)
        .into_iter()
        .map(|(topic, parts)| OffsetFetchResponseTopic {
            name: Str::from(topic),
            partitions: parts
                .into_iter()
                .map(|o| {
                    let (committed_offset, unstable) = stable(&o, req.require_stable);
                    OffsetFetchResponsePartition {
                        partition_index: o.partition,
                        committed_offset,
                        committed_leader_epoch: o.leader_epoch,
                        metadata: o.metadata.map(Str::from),
                        error_code: if group_error_on_partitions {
                            error
                        } else {
                            unstable
                        },
                    }
                })
                .collect(),
        })
        .collect();
    OffsetFetchResponse {
        topics,
        error_code: error,
        ..Default::default()
    }
}
