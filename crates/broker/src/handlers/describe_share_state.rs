//! DescribeShareState (key 32001, ringlog-private): every share-partition of one share group,
//! from every shard: its window and how many records are in each delivery state (`ringlog
//! groups describe`). Kafka has no API for these numbers; never advertised.

use std::rc::Rc;

use crate::protocol::messages::{
    DescribeShareStateRequest, DescribeShareStateResponse, DescribedSharePartition,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer a DescribeShareState request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: DescribeShareStateRequest,
) -> DescribeShareStateResponse {
    let group = req.group_id.to_string();
    if !crate::group::valid_group_id(&group) {
        return DescribeShareStateResponse {
            error_code: crate::protocol::error::INVALID_GROUP_ID,
            ..Default::default()
        };
    }
    let mut partitions = Vec::new();
    for target in 0..shard.count {
        let g = group.clone();
        let found = shard
            .call(
                target,
                move |s| async move { s.shares.describe_partitions(&g) },
            )
            .await
            .unwrap_or_default();
        partitions.extend(found.into_iter().map(|p| DescribedSharePartition {
            topic: Str::from(&*p.topic),
            partition: p.partition,
            start_offset: p.start,
            end_offset: p.end,
            available: p.counts.available,
            acquired: p.counts.acquired,
            acknowledged: p.counts.acknowledged,
            archived: p.counts.archived,
            dlq_pending: p.dlq_pending,
        }));
    }
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    DescribeShareStateResponse {
        throttle_time_ms: 0,
        error_code: 0,
        partitions,
    }
}
