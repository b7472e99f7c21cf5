//! DeleteTopics (key 20): delete through the controller shard; v6 may name topics by id.

use std::rc::Rc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::topic_name;
use crate::broker::shard::ShardState;
use crate::protocol::error as code;

/// Answer a DeleteTopics request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let mut targets: Vec<(Option<String>, uuid::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
        .collect();
    targets.extend(
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)),
    );
    let mut resp = DeleteTopicsResponse::default();
    for (name, id) in targets {
        let resolved = match &name {
            Some(n) => Some(n.clone()),
            None => shard.catalog.borrow().name_of(id).map(str::to_string),
        };
        let mut r = DeletableTopicResult::default();
        r.error_code = match &resolved {
            Some(n) => {
                let code = shard.delete_topic(n.clone()).await;
                if code == code::NONE {
                    crate::broker::group::topic_deleted(shard, n).await;
                }
                code
            }
            None => code::UNKNOWN_TOPIC_ID,
        };
        r.name = resolved.as_deref().map(topic_name);
        if version >= 6 {
            r.topic_id = id;
        }
        resp.responses.push(r);
    }
    resp
}
