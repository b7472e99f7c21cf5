//! DescribeProducers (key 61, KIP-664): the producers each asked partition's log tracks (its
//! idempotent-producer state, [`crate::storage::producer`]), with the first offset of each one's
//! open transaction; what `kafka-transactions.sh describe-producers` prints and `find-hanging`
//! reads to find transactions no coordinator will ever end.
//!
//! Each partition is read on its owner shard (one mesh call per shard holding any of them, all
//! at once). A topic or partition the catalog does not have answers UNKNOWN_TOPIC_OR_PARTITION
//! with a null message, as Kafka does. A view (issue #17) answers with its source's producers:
//! its partitions are its source's log.
//!
//! Field by field, against Kafka 4.4:
//! - `last_sequence`: the last sequence of the producer's last remembered batch, -1 if none (a
//!   producer known only from a marker).
//! - `last_timestamp`: the broker's clock when the producer last appended (or was replayed on
//!   open); Kafka reports the last batch's max timestamp, which is the producer's clock.
//! - `coordinator_epoch`: -1. Kafka reports the coordinator epoch of the producer's last marker
//!   (-1 before any); ringlog's markers all carry 0 and its producer state does not remember
//!   whether one was written, so it reports "none".
//! - `current_txn_start_offset`: the first offset of the open transaction here, -1 if none.
//!
//! # Invariants
//! - One answer per distinct (topic, partition) asked, in request order: a repeated ask is
//!   answered once, so the response is bounded by the broker's own state (partitions x
//!   `producers_max`) whatever the request repeats.

use std::collections::HashSet;
use std::rc::Rc;

use crate::error::BrokerError;
use crate::protocol::error as code;
use crate::protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, DescribedProducer,
    DescribedProducersPartition, DescribedProducersTopic,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;
use crate::storage::producer::DescribedProducer as TrackedProducer;

/// A partition's producers as read on its owner shard, or the error code and message.
type PartitionProducers = Result<Vec<TrackedProducer>, (i16, String)>;

/// Where a known partition's answer is read: (owner shard, index in that shard's reads).
type ReadSlot = (usize, usize);

/// One topic entry of the request as it will be answered: its name and, per distinct partition,
/// the slot of its read (`None`: the catalog does not have it).
type PlannedTopic = (Str, Vec<(i32, Option<ReadSlot>)>);

/// Answer a DescribeProducers request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let mut seen: HashSet<(String, i32)> = HashSet::new();
    let mut by_shard: Vec<Vec<(String, i32)>> = (0..shard.count).map(|_| Vec::new()).collect();
    let mut plan: Vec<PlannedTopic> = Vec::new();
    for t in &req.topics {
        let name = t.name.to_string();
        let partitions = shard.catalog.borrow().get(&name).map(|m| m.partitions);
        let mut parts = Vec::new();
        for &p in &t.partition_indexes {
            if !seen.insert((name.clone(), p)) {
                continue;
            }
            let known = partitions.is_some_and(|n| p >= 0 && p < n);
            let slot = known.then(|| {
                let owner = shard.owner(&name, p);
                by_shard[owner].push((name.clone(), p));
                (owner, by_shard[owner].len() - 1)
            });
            parts.push((p, slot));
        }
        plan.push((t.name.clone(), parts));
    }
    let calls = by_shard
        .into_iter()
        .enumerate()
        .map(|(owner, parts)| read_on_owner(shard, owner, parts))
        .collect::<Vec<_>>();
    let mut reads = crate::runtime::future::join_all(calls).await;
    let topics = plan
        .into_iter()
        .map(|(name, parts)| DescribedProducersTopic {
            name,
            partitions: parts
                .into_iter()
                .map(|(partition_index, slot)| {
                    let read = match slot {
                        Some((owner, i)) => {
                            reads.get_mut(owner).and_then(|r| r.get_mut(i)).map_or_else(
                                || Err((code::UNKNOWN_SERVER_ERROR, "no answer read".into())),
                                |r| std::mem::replace(r, Ok(Vec::new())),
                            )
                        }
                        None => Err((code::UNKNOWN_TOPIC_OR_PARTITION, String::new())),
                    };
                    wire_partition(partition_index, read)
                })
                .collect(),
        })
        .collect();
    DescribeProducersResponse {
        throttle_time_ms: 0,
        topics,
    }
}

/// Reads the producers of `parts` on their owner shard `owner`: one result per partition, in
/// order.
async fn read_on_owner(
    shard: &Rc<ShardState>,
    owner: usize,
    parts: Vec<(String, i32)>,
) -> Vec<PartitionProducers> {
    if parts.is_empty() {
        return Vec::new();
    }
    let asked = parts.len();
    let read = shard
        .call(owner, move |s| async move {
            parts
                .iter()
                .map(|(topic, partition)| match s.log_of(topic, *partition) {
                    Ok(log) => Ok(log.producers()),
                    Err(e) => {
                        let e = BrokerError::Storage(e);
                        Err((e.kafka_code(), e.to_string()))
                    }
                })
                .collect::<Vec<PartitionProducers>>()
        })
        .await;
    read.unwrap_or_else(|| {
        let e = BrokerError::ShardUnavailable {
            shard: owner,
            op: "describe producers",
        };
        (0..asked)
            .map(|_| Err((e.kafka_code(), e.to_string())))
            .collect()
    })
}

/// One partition's answer. An unknown partition's error carries no message (Kafka's null).
fn wire_partition(partition_index: i32, read: PartitionProducers) -> DescribedProducersPartition {
    match read {
        Ok(producers) => DescribedProducersPartition {
            partition_index,
            error_code: code::NONE,
            error_message: None,
            active_producers: producers.into_iter().map(wire_producer).collect(),
        },
        Err((error_code, message)) => DescribedProducersPartition {
            partition_index,
            error_code,
            error_message: (error_code != code::UNKNOWN_TOPIC_OR_PARTITION)
                .then(|| Str::from(message)),
            active_producers: Vec::new(),
        },
    }
}

fn wire_producer(p: TrackedProducer) -> DescribedProducer {
    DescribedProducer {
        producer_id: p.producer_id,
        producer_epoch: i32::from(p.epoch),
        last_sequence: p.last_sequence.unwrap_or(-1),
        last_timestamp: p.last_seen_ms,
        coordinator_epoch: -1,
        current_txn_start_offset: p.txn_first_offset.unwrap_or(-1),
    }
}
