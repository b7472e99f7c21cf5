//! DescribeTopicPartitions (key 75, KIP-966): what `kafka-topics.sh --describe` and
//! `Admin.describeTopics` ask in Kafka 4.x (Metadata is their fallback). Answered from this
//! shard's catalog copy, as Metadata is: the single broker leads every partition and is its only
//! replica and in-sync replica; a view (issue #17) is a topic like any other.
//!
//! As Kafka 4.4 answers it:
//! - No topics asked: every topic (ringlog has no internal topics in its catalog, so none is
//!   hidden or marked internal); unknown ones are not mentioned. Topics asked: each distinct
//!   name, unknown ones with UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for a name no
//!   topic may have) and the nil topic id.
//! - Topics are answered in name order from the cursor's topic on, partitions from the cursor's
//!   partition on (the cursor's topic only). At most `max(min(limit, 2000), 1)` partitions are
//!   answered; a topic cut short gets a next cursor at its next partition, and when the limit is
//!   used up exactly the next topic in order gets a cursor at its partition 0.
//! - A cursor whose topic is not among the topics asked, or whose partition is negative, is
//!   INVALID_REQUEST on every topic asked (Kafka's error response for the request).
//! - `topic_authorized_operations`: always filled (the request cannot ask), with every operation
//!   on a topic, as Kafka without an authorizer.
//!
//! # Invariants
//! - The response holds at most [`PARTITIONS_PER_RESPONSE_MAX`] partitions and one entry per
//!   distinct topic asked (or per catalog topic), whatever the request repeats.

use std::collections::BTreeSet;
use std::rc::Rc;

use super::metadata::NODE_ID;
use crate::protocol::error as code;
use crate::protocol::messages::{
    DescribeTopicPartitionsCursor, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
    DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
    DESCRIBE_TOPIC_PARTITIONS_LIMIT_DEFAULT,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// The most partitions one response answers: Kafka's `max.request.partition.size.limit`
/// default, which bounds the client's `response_partition_limit`.
pub const PARTITIONS_PER_RESPONSE_MAX: i32 = DESCRIBE_TOPIC_PARTITIONS_LIMIT_DEFAULT;

/// Every ACL operation on a topic (READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
/// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11), one bit per operation code: what Kafka without an
/// authorizer answers.
pub const TOPIC_AUTHORIZED_OPERATIONS_ALL: i32 = 0x0df8;

/// Answer a DescribeTopicPartitions request.
pub fn handle(
    shard: &Rc<ShardState>,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let catalog = shard.catalog.borrow();
    let fetch_all = req.topics.is_empty();
    let cursor_topic = req.cursor.as_ref().map(|c| &*c.topic_name).unwrap_or("");
    let topics: BTreeSet<&str> = if fetch_all {
        catalog
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| *name >= cursor_topic)
            .collect()
    } else {
        req.topics
            .iter()
            .map(|t| &*t.name)
            .filter(|name| *name >= cursor_topic)
            .collect()
    };
    let cursor_invalid = req
        .cursor
        .as_ref()
        .is_some_and(|c| c.partition_index < 0 || (!fetch_all && !topics.contains(&*c.topic_name)));
    if cursor_invalid {
        return invalid_request(&req);
    }
    let limit = req
        .response_partition_limit
        .clamp(1, PARTITIONS_PER_RESPONSE_MAX);
    let mut remaining = limit;
    let mut resp = DescribeTopicPartitionsResponse::default();
    for name in topics {
        if remaining == 0 {
            resp.next_cursor = Some(DescribeTopicPartitionsCursor {
                topic_name: Str::from(name),
                partition_index: 0,
            });
            break;
        }
        let Some(meta) = catalog.get(name) else {
            if !fetch_all {
                let error_code = match crate::storage::names::validate_topic(name) {
                    Ok(()) => code::UNKNOWN_TOPIC_OR_PARTITION,
                    Err(_) => code::INVALID_TOPIC_EXCEPTION,
                };
                resp.topics.push(DescribeTopicPartitionsResponseTopic {
                    error_code,
                    name: Some(Str::from(name)),
                    topic_authorized_operations: TOPIC_AUTHORIZED_OPERATIONS_ALL,
                    ..Default::default()
                });
            }
            continue;
        };
        let start = match &req.cursor {
            Some(c) if &*c.topic_name == name => c.partition_index,
            _ => 0,
        };
        let upper = meta.partitions.min(start.saturating_add(remaining));
        let partitions: Vec<_> = (start..upper).map(partition).collect();
        remaining -= i32::try_from(partitions.len()).unwrap_or(remaining);
        resp.topics.push(DescribeTopicPartitionsResponseTopic {
            error_code: code::NONE,
            name: Some(Str::from(name)),
            topic_id: meta.id,
            is_internal: false,
            partitions,
            topic_authorized_operations: TOPIC_AUTHORIZED_OPERATIONS_ALL,
        });
        if upper < meta.partitions {
            resp.next_cursor = Some(DescribeTopicPartitionsCursor {
                topic_name: Str::from(name),
                partition_index: upper,
            });
            break;
        }
    }
    debug_assert!(
        resp.topics
            .iter()
            .map(|t| t.partitions.len())
            .sum::<usize>()
            <= limit as usize,
        "more partitions than the limit {limit}"
    );
    resp
}

/// One partition, as Metadata answers it (this broker leads it and is its only replica).
fn partition(partition_index: i32) -> DescribeTopicPartitionsResponsePartition {
    DescribeTopicPartitionsResponsePartition {
        error_code: code::NONE,
        partition_index,
        leader_id: NODE_ID,
        leader_epoch: 0,
        replica_nodes: vec![NODE_ID],
        isr_nodes: vec![NODE_ID],
        // Kafka answers its (empty) ELR lists, not null, when ELR is off.
        eligible_leader_replicas: Some(Vec::new()),
        last_known_elr: Some(Vec::new()),
        offline_replicas: Vec::new(),
    }
}

/// Kafka's error response for an invalid request: INVALID_REQUEST on every topic asked (as
/// asked: repeated names too), no partitions, no cursor.
fn invalid_request(req: &DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    DescribeTopicPartitionsResponse {
        topics: req
            .topics
            .iter()
            .map(|t| DescribeTopicPartitionsResponseTopic {
                error_code: code::INVALID_REQUEST,
                name: Some(t.name.clone()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
