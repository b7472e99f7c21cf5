//! DeleteRecords (key 21, KIP-107): moves partitions' log start offsets up, deleting the
//! records below them (`kafka-delete-records.sh`, `Admin.deleteRecords`). Each partition's owner
//! shard does it ([`crate::storage::Log::delete_records`]: durable before it answers, whole
//! segments below the new start deleted); the owners of all partitions asked work at once.
//!
//! Per partition, as Kafka 4.4 answers it (its single replica is the only one to wait for, so
//! `timeout_ms` never runs out):
//! - the new log start offset as `low_watermark`; an offset below the current start moves
//!   nothing and answers the current start; -1 means the high watermark;
//! - a topic or partition the catalog does not have: UNKNOWN_TOPIC_OR_PARTITION;
//! - an offset past the high watermark, or negative other than -1: OFFSET_OUT_OF_RANGE;
//! - a view (issue #17): INVALID_TOPIC_EXCEPTION, as Produce to a view (a view is read-only;
//!   Kafka refuses internal topics the same way);
//! - a topic whose `cleanup.policy` compacts without deleting: POLICY_VIOLATION, as Kafka;
//! - any error: `low_watermark` -1.
//!
//! # Invariants
//! - One answer per distinct (topic, partition) asked, grouped by topic in the order topics
//!   were first asked; a partition asked twice is deleted once, to the offset asked last (Kafka
//!   reads the request into a map).

use std::collections::hash_map::{Entry, HashMap};
use std::rc::Rc;

use crate::error::BrokerError;
use crate::protocol::messages::{
    DeleteRecordsPartitionResult, DeleteRecordsRequest, DeleteRecordsResponse,
    DeleteRecordsTopicResult,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// The low watermark answered with an error.
const LOW_WATERMARK_UNKNOWN: i64 = -1;

/// A partition's new log start, or the error code.
type Deleted = Result<i64, i16>;

/// Answer a DeleteRecords request.
pub async fn handle(shard: &Rc<ShardState>, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    // Distinct topics in first-asked order, each with its distinct partitions and offsets.
    // Indexes keep this linear in the request, whatever it repeats.
    let mut plan: Vec<(Str, Vec<(i32, i64)>)> = Vec::new();
    let mut topic_at: HashMap<&str, usize> = HashMap::new();
    let mut partition_at: HashMap<(usize, i32), usize> = HashMap::new();
    for t in &req.topics {
        let at = *topic_at.entry(&*t.name).or_insert_with(|| {
            plan.push((t.name.clone(), Vec::new()));
            plan.len() - 1
        });
        let parts = &mut plan[at].1;
        for p in &t.partitions {
            match partition_at.entry((at, p.partition_index)) {
                Entry::Occupied(slot) => parts[*slot.get()].1 = p.offset,
                Entry::Vacant(slot) => {
                    slot.insert(parts.len());
                    parts.push((p.partition_index, p.offset));
                }
            }
        }
    }
    // What each partition gets: an answer now, or a slot in its owner's work.
    let mut by_shard: Vec<Vec<(String, i32, i64)>> = (0..shard.count).map(|_| Vec::new()).collect();
    let mut answers: Vec<Vec<Result<Deleted, (usize, usize)>>> = Vec::with_capacity(plan.len());
    for (name, parts) in &plan {
        let (partitions, view_of, compact_only) = {
            let catalog = shard.catalog.borrow();
            match catalog.get(name) {
                Some(m) => (
                    Some(m.partitions),
                    m.configs.view.as_ref().map(|v| v.source.clone()),
                    m.configs.compact_only(&shard.config),
                ),
                None => (None, None, false),
            }
        };
        let mut topic_answers = Vec::with_capacity(parts.len());
        for &(p, offset) in parts {
            let answer = if !partitions.is_some_and(|n| p >= 0 && p < n) {
                Ok(Err(BrokerError::UnknownPartition {
                    topic: name.to_string(),
                    partition: p,
                }
                .kafka_code()))
            } else if let Some(source) = &view_of {
                Ok(Err(BrokerError::ViewNotWritable {
                    view: name.to_string(),
                    source: source.clone(),
                }
                .kafka_code()))
            } else if compact_only {
                Ok(Err(crate::protocol::error::POLICY_VIOLATION))
            } else {
                let owner = shard.owner(name, p);
                by_shard[owner].push((name.to_string(), p, offset));
                Err((owner, by_shard[owner].len() - 1))
            };
            topic_answers.push(answer);
        }
        answers.push(topic_answers);
    }
    let calls = by_shard
        .into_iter()
        .enumerate()
        .map(|(owner, parts)| delete_on(shard, owner, parts))
        .collect::<Vec<_>>();
    let done = crate::runtime::future::join_all(calls).await;
    let topics = plan
        .into_iter()
        .zip(answers)
        .map(|((name, parts), topic_answers)| DeleteRecordsTopicResult {
            name,
            partitions: parts
                .into_iter()
                .zip(topic_answers)
                .map(|((partition_index, _), answer)| {
                    let deleted = answer.unwrap_or_else(|(owner, i)| {
                        done.get(owner)
                            .and_then(|d| d.get(i))
                            .copied()
                            .unwrap_or(Err(crate::protocol::error::UNKNOWN_SERVER_ERROR))
                    });
                    let (low_watermark, error_code) = match deleted {
                        Ok(start) => (start, crate::protocol::error::NONE),
                        Err(code) => (LOW_WATERMARK_UNKNOWN, code),
                    };
                    DeleteRecordsPartitionResult {
                        partition_index,
                        low_watermark,
                        error_code,
                    }
                })
                .collect(),
        })
        .collect();
    DeleteRecordsResponse {
        throttle_time_ms: 0,
        topics,
    }
}

/// Moves the log starts of `parts` on their owner shard `owner`, all at once: one answer per
/// partition, in order.
async fn delete_on(
    shard: &Rc<ShardState>,
    owner: usize,
    parts: Vec<(String, i32, i64)>,
) -> Vec<Deleted> {
    if parts.is_empty() {
        return Vec::new();
    }
    let asked = parts.len();
    let done = shard
        .call(owner, move |s| async move {
            let deletions = parts.into_iter().map(|(topic, partition, offset)| {
                let s = s.clone();
                async move {
                    let log = s.engine.log(&topic, partition)?;
                    log.delete_records(offset).await
                }
            });
            crate::runtime::future::join_all(deletions.collect())
                .await
                .into_iter()
                .map(|r| {
                    r.map_err(|e| {
                        let e = BrokerError::Storage(e);
                        if e.kafka_code() != crate::protocol::error::OFFSET_OUT_OF_RANGE {
                            tracing::warn!("delete records: {e}");
                        }
                        e.kafka_code()
                    })
                })
                .collect::<Vec<Deleted>>()
        })
        .await;
    done.unwrap_or_else(|| {
        let e = BrokerError::ShardUnavailable {
            shard: owner,
            op: "delete records",
        };
        (0..asked).map(|_| Err(e.kafka_code())).collect()
    })
}
