//! CreateTopics (key 19): create through the controller shard. Replication factor must be -1 or
//! 1 (one broker); explicit replica assignments are refused; topic configs are accepted and
//! ignored (retention and segment size are broker-wide settings for now).

use std::rc::Rc;

use crate::protocol::error as code;
use crate::protocol::messages::{CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// The message for a topic that could not be created.
fn error_message(error: i16) -> &'static str {
    match error {
        code::TOPIC_ALREADY_EXISTS => "topic already exists",
        code::INVALID_TOPIC_EXCEPTION => "invalid topic name: [a-zA-Z0-9._-]{1,249}, not . or ..",
        code::INVALID_PARTITIONS => "partition count out of range",
        code::INVALID_REPLICATION_FACTOR => "replication factor must be 1 (single broker)",
        _ => "topic creation failed",
    }
}

/// Answer a CreateTopics request.
pub async fn handle(shard: &Rc<ShardState>, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    for t in req.topics {
        let name = t.name.to_string();
        let partitions = if t.num_partitions == -1 {
            shard.config.default_partitions()
        } else {
            t.num_partitions
        };
        let error = if !matches!(t.replication_factor, -1 | 1) {
            code::INVALID_REPLICATION_FACTOR
        } else if !t.assignments.is_empty() {
            code::INVALID_REQUEST
        } else if partitions < 1 {
            code::INVALID_PARTITIONS
        } else {
            shard
                .create_topic(name.clone(), partitions, req.validate_only)
                .await
        };
        let created = error == code::NONE;
        let topic_id = if created && !req.validate_only {
            shard.catalog.borrow().get(&name).map(|m| m.id)
        } else {
            None
        };
        resp.topics.push(CreatableTopicResult {
            name: t.name,
            topic_id: topic_id.unwrap_or_default(),
            error_code: error,
            // As Kafka's controller: a null message on success (ReplicationControlManager sets
            // it to null explicitly), the reason otherwise.
            error_message: (!created).then(|| Str::from_static(error_message(error))),
            num_partitions: if created { partitions } else { -1 },
            replication_factor: if created { 1 } else { -1 },
            configs: Some(Vec::new()),
            ..Default::default()
        });
    }
    resp
}
