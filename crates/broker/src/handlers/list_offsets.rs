//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3: the first record with the
//! log's largest timestamp and that timestamp, -1/-1 for a log without one), earliest local (-4), or
//! the first offset whose batch max timestamp is at or after a time. Under READ_COMMITTED
//! (isolation level 1, v2+) "latest" is the last stable offset (issue #18).

use std::rc::Rc;
use std::sync::Arc;

use crate::error::BrokerError;
use crate::protocol::error as code;
use crate::protocol::messages::{
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use crate::protocol::wire::Str;
use crate::shard::{OffsetReq, ShardState};

/// Answer a ListOffsets request.
pub async fn handle(shard: &Rc<ShardState>, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut lookups = Vec::new();
    let mut plan = Vec::new();
    for t in &req.topics {
        let name: Arc<str> = Arc::from(&*t.name);
        let partitions = shard.catalog.borrow().get(&name).map(|m| m.partitions);
        let mut parts = Vec::new();
        for p in &t.partitions {
            let known = partitions.is_some_and(|n| p.partition_index >= 0 && p.partition_index < n);
            if known {
                lookups.push(OffsetReq {
                    topic: name.clone(),
                    partition: p.partition_index,
                    timestamp: p.timestamp,
                    read_committed: req.isolation_level == 1,
                });
            }
            parts.push((p.partition_index, known));
        }
        plan.push((name, parts));
    }
    let mut results = shard.offsets(lookups).await.into_iter();
    let mut resp = ListOffsetsResponse::default();
    for (name, parts) in plan {
        let partitions = parts
            .into_iter()
            .map(|(partition_index, known)| {
                if !known {
                    let e = BrokerError::UnknownPartition {
                        topic: name.to_string(),
                        partition: partition_index,
                    };
                    return ListOffsetsPartitionResponse {
                        partition_index,
                        error_code: e.kafka_code(),
                        offset: -1,
                        timestamp: -1,
                        ..Default::default()
                    };
                }
                let (error_code, offset, timestamp) =
                    match results.next().expect("one result per lookup") {
                        Ok(found) => (code::NONE, found.offset, found.timestamp),
                        Err(e) => (e.kafka_code(), -1, -1),
                    };
                ListOffsetsPartitionResponse {
                    partition_index,
                    error_code,
                    offset,
                    timestamp,
                    leader_epoch: 0,
                    ..Default::default()
                }
            })
            .collect();
        resp.topics.push(ListOffsetsTopicResponse {
            name: Str::from(&*name),
            partitions,
        });
    }
    resp
}
