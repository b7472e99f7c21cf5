//! Produce (key 0): validate acks, route each partition's record batches to the owning shard,
//! answer with base offsets. `acks = 0` gets no response (the connection layer skips it).

use std::rc::Rc;
use std::sync::Arc;

use crate::protocol::error as code;
use crate::protocol::messages::{
    PartitionProduceResponse, ProduceRequest, ProduceResponse, TopicProduceResponse,
};
use crate::protocol::wire::Str;
use crate::runtime::future::join_all;
use crate::shard::ShardState;

/// A topic's partitions and the error each got before appending (0: append it).
type TopicPlan = (Arc<str>, Vec<(i32, i16)>);

/// Answer a Produce request.
pub async fn handle(shard: &Rc<ShardState>, req: ProduceRequest) -> ProduceResponse {
    let acks_ok = matches!(req.acks, -1..=1);
    let mut plan: Vec<TopicPlan> = Vec::with_capacity(req.topic_data.len());
    let mut work = Vec::new();
    for topic in req.topic_data {
        let name: Arc<str> = Arc::from(&*topic.name);
        let known = shard.catalog.borrow().get(&name).map(|m| m.partitions);
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let error = if !acks_ok {
                code::INVALID_REQUIRED_ACKS
            } else if crate::storage::names::validate_topic(&name).is_err() {
                code::INVALID_TOPIC_EXCEPTION
            } else if !known.is_some_and(|n| p.index >= 0 && p.index < n) {
                code::UNKNOWN_TOPIC_OR_PARTITION
            } else if p.records.as_ref().is_none_or(|r| r.is_empty()) {
                code::CORRUPT_MESSAGE
            } else if producer_id(p.records.as_ref().expect("checked")).is_some_and(|id| {
                id >= shard
                    .producer_id_bound
                    .load(std::sync::atomic::Ordering::Acquire)
            }) {
                // A producer id this broker never handed out.
                code::UNKNOWN_PRODUCER_ID
            } else {
                code::NONE
            };
            partitions.push((p.index, error));
            if error == code::NONE {
                let records = p.records.expect("checked above");
                let (shard, name) = (shard.clone(), name.clone());
                work.push(async move { shard.append(name, p.index, records).await });
            }
        }
        plan.push((name, partitions));
    }
    let mut results = join_all(work).await.into_iter();
    let mut out = ProduceResponse::default();
    for (name, partitions) in plan {
        let partition_responses = partitions
            .into_iter()
            .map(|(index, error)| {
                if error != code::NONE {
                    return PartitionProduceResponse {
                        index,
                        error_code: error,
                        base_offset: -1,
                        ..Default::default()
                    };
                }
                let r = results.next().expect("one result per appended partition");
                PartitionProduceResponse {
                    index,
                    error_code: r.error,
                    base_offset: r.base_offset,
                    log_start_offset: r.log_start_offset,
                    ..Default::default()
                }
            })
            .collect();
        out.responses.push(TopicProduceResponse {
            name: Str::from(&*name),
            partition_responses,
        });
    }
    out
}

/// The producer id in the first batch header, if the buffer is long enough.
fn producer_id(records: &[u8]) -> Option<i64> {
    crate::storage::batch::peek_producer_id(records)
}
