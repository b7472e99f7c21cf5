//! CreatePartitions (key 37): grows topics (`kafka-topics.sh --alter --partitions N`,
//! Admin.createPartitions()). The controller adds the partitions all or nothing
//! ([`crate::shard::ShardState::controller_add_partitions`]); each topic gets its own error
//! code and message, in Kafka 4.4's words: UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS (not
//! an increase), a topic named twice INVALID_REQUEST, explicit assignments other than this
//! broker INVALID_REPLICA_ASSIGNMENT, going past `max.partitions` POLICY_VIOLATION.
//! `validate_only` runs every check and changes nothing.
//!
//! Records keep their partitions: a keyed producer's key may map to another partition after
//! the growth, as in Kafka.

use std::rc::Rc;

use crate::protocol::error::{
    INVALID_REPLICA_ASSIGNMENT, INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION,
};
use crate::protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopic,
    CreatePartitionsTopicResult,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Topics per request.
pub const TOPICS_MAX: usize = 1_000;

/// Answer a CreatePartitions request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len().min(TOPICS_MAX));
    for (i, t) in req.topics.iter().enumerate() {
        let named_twice = req.topics.iter().filter(|o| o.name == t.name).count() > 1;
        let outcome = if i >= TOPICS_MAX {
            Err((
                INVALID_REQUEST,
                format!("at most {TOPICS_MAX} topics per request"),
            ))
        } else if named_twice {
            Err((INVALID_REQUEST, "Duplicate topic in request.".to_string()))
        } else {
            grow(shard, t, req.validate_only).await
        };
        let (error_code, error_message) = match outcome {
            Ok(()) => (0, None),
            Err((code, message)) => (code, Some(Str::from(message))),
        };
        results.push(CreatePartitionsTopicResult {
            name: t.name.clone(),
            error_code,
            error_message,
        });
    }
    CreatePartitionsResponse {
        throttle_time_ms: 0,
        results,
    }
}

async fn grow(
    shard: &Rc<ShardState>,
    t: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    let name = t.name.to_string();
    if crate::storage::names::validate_topic(&name).is_err() {
        return Err((
            UNKNOWN_TOPIC_OR_PARTITION,
            "This server does not host this topic-partition.".to_string(),
        ));
    }
    if let Some(assignments) = &t.assignments {
        let node = crate::handlers::metadata::NODE_ID;
        if let Some(bad) = assignments
            .iter()
            .find(|a| a.broker_ids.as_slice() != [node])
        {
            return Err((
                INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Unknown broker ids or replication factor in assignment {:?}: this cluster \
                     is broker {node} alone",
                    bad.broker_ids
                ),
            ));
        }
    }
    let count = t.count;
    super::incremental_alter_configs::on_controller(shard, move |s| async move {
        s.controller_add_partitions(&name, count, validate_only)
            .await
    })
    .await
}
