//! DeleteTopics (key 20): delete through the controller shard; v6 may name topics by id.

use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::protocol::messages::{DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Answer a DeleteTopics request.
pub async fn handle(shard: &Rc<ShardState>, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    // v0-5 name topics in `topic_names`, v6+ in `topics` (by name or id): a request carries one
    // of the two lists, the other decodes empty.
    let mut targets: Vec<(Option<String>, uuid::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
        .collect();
    targets.extend(
        req.topics
            .iter()
            .map(|t| (t.name.as_deref().map(str::to_string), t.topic_id)),
    );
    let mut resp = DeleteTopicsResponse::default();
    for (name, id) in targets {
        let resolved = match &name {
            Some(n) => Some(n.clone()),
            None => shard.catalog.borrow().name_of(id).map(str::to_string),
        };
        let deleted = match &resolved {
            Some(n) => shard.delete_topic(n.clone()).await,
            None => Err(BrokerError::UnknownTopicId { id }),
        };
        if let (Ok(()), Some(n)) = (&deleted, &resolved) {
            crate::group::topic_deleted(shard, n).await;
        }
        let error_code = code_of(deleted.as_ref().err());
        // v5+: why a topic with views stays (Kafka sets a message only for such refusals).
        let error_message = match deleted.as_ref().err() {
            Some(e @ BrokerError::TopicHasViews { .. }) => Some(Str::from(e.to_string())),
            _ => None,
        };
        resp.responses.push(DeletableTopicResult {
            name: resolved.map(Str::from),
            topic_id: id,
            error_code,
            error_message,
        });
    }
    resp
}
