//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3, answered with the latest
//! offset: ringlog does not track the max-timestamp record separately), earliest local (-4), or
//! the first offset whose batch max timestamp is at or after a time.

use std::rc::Rc;
use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::topic_name;
use crate::broker::shard::{OffsetReq, ShardState};
use crate::protocol::error as code;

/// Answer a ListOffsets request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let mut lookups = Vec::new();
    let mut plan = Vec::new();
    for t in &req.topics {
        let name: Arc<str> = Arc::from(t.name.0.as_str());
        let partitions = shard.catalog.borrow().get(&name).map(|m| m.partitions);
        let mut parts = Vec::new();
        for p in &t.partitions {
            let known = partitions.is_some_and(|n| p.partition_index >= 0 && p.partition_index < n);
            if known {
                lookups.push(OffsetReq {
                    topic: name.clone(),
                    partition: p.partition_index,
                    timestamp: p.timestamp,
                });
            }
            parts.push((p.partition_index, known));
        }
        plan.push((name, parts));
    }
    let mut results = shard.offsets(lookups).await.into_iter();
    let mut resp = ListOffsetsResponse::default();
    for (name, parts) in plan {
        let mut t = ListOffsetsTopicResponse::default();
        t.name = topic_name(&name);
        for (index, known) in parts {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = index;
            if known {
                let r = results.next().expect("one result per lookup");
                pr.error_code = r.error;
                pr.offset = r.offset;
                pr.timestamp = r.timestamp;
                if version >= 4 {
                    pr.leader_epoch = 0;
                }
            } else {
                pr.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
                pr.offset = -1;
                pr.timestamp = -1;
            }
            t.partitions.push(pr);
        }
        resp.topics.push(t);
    }
    resp
}
