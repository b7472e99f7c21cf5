//! CreateTopics (key 19): create through the controller shard. Replication factor must be -1 or
//! 1 (one broker); explicit replica assignments are refused; topic configs are accepted and
//! ignored (retention and segment size are broker-wide settings for now).

use std::rc::Rc;

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::shard::ShardState;
use crate::protocol::error as code;

/// Answer a CreateTopics request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
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
        let mut r = CreatableTopicResult::default();
        r.name = t.name;
        r.error_code = error;
        if version >= 1 && error != code::NONE {
            r.error_message = Some(StrBytes::from_static_str(match error {
                code::TOPIC_ALREADY_EXISTS => "topic already exists",
                code::INVALID_TOPIC_EXCEPTION => {
                    "invalid topic name: [a-zA-Z0-9._-]{1,249}, not . or .."
                }
                code::INVALID_PARTITIONS => "partition count out of range",
                code::INVALID_REPLICATION_FACTOR => "replication factor must be 1 (single broker)",
                _ => "topic creation failed",
            }));
        }
        if version >= 5 {
            r.num_partitions = if error == code::NONE { partitions } else { -1 };
            r.replication_factor = if error == code::NONE { 1 } else { -1 };
        }
        if version >= 7 && error == code::NONE && !req.validate_only {
            if let Some(meta) = shard.catalog.borrow().get(&name) {
                r.topic_id = meta.id;
            }
        }
        resp.topics.push(r);
    }
    resp
}
