//! CreateTopics (key 19): create through the controller shard. Replication factor must be -1 or
//! 1 (one broker); explicit replica assignments are refused. Topic configs (Kafka's and
//! ringlog's) are checked with Kafka's words and kept with the topic; see
//! [`crate::topic_config`]. From v5 the response lists every config of the new topic with its
//! value and source, as Kafka's does.
//!
//! As Kafka's controller: each topic gets its own error code and message; `validate_only` runs
//! every check (including `max.partitions`, answered POLICY_VIOLATION as a create-topic policy
//! would be) and creates nothing. A topic is created whole or not at all (see
//! `ShardState::controller_create`).

use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::protocol::messages::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;
use crate::topic_config::TopicConfigs;

/// The message for a topic that could not be created, when the error has none of its own.
const FAILED_MESSAGE: &str = "topic creation failed";

/// The `error_message` of a refused topic. A policy violation says by how much, as Kafka's
/// create-topic policies do in their `PolicyViolationException` message.
fn error_message(e: &BrokerError) -> Str {
    match e {
        BrokerError::PartitionLimit { .. } | BrokerError::InvalidConfig { .. } => {
            Str::from(e.to_string())
        }
        _ => Str::from_static(e.message().unwrap_or(FAILED_MESSAGE)),
    }
}

/// Answer a CreateTopics request.
pub async fn handle(shard: &Rc<ShardState>, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut resp = CreateTopicsResponse::default();
    for t in req.topics {
        let name = t.name.to_string();
        let (configs, config_error) = match TopicConfigs::from_request(
            &name,
            t.configs.iter().map(|c| (&*c.name, c.value.as_deref())),
        ) {
            Ok(configs) => (configs, None),
            Err(e) => (TopicConfigs::default(), Some(e)),
        };
        // A view (issue #17) has its source's partition count: -1 (the default) is passed on
        // for the controller to resolve.
        let is_view = configs.view.is_some();
        let mut partitions = if t.num_partitions == -1 && !is_view {
            shard.config.default_partitions()
        } else {
            t.num_partitions
        };
        let outcome = if !matches!(t.replication_factor, -1 | 1) {
            Err(BrokerError::InvalidReplicationFactor {
                topic: name.clone(),
                replication_factor: t.replication_factor,
            })
        } else if !t.assignments.is_empty() {
            Err(BrokerError::ReplicaAssignment {
                topic: name.clone(),
            })
        } else if partitions < 1 && !(is_view && partitions == -1) {
            Err(BrokerError::InvalidPartitions {
                topic: name.clone(),
                partitions,
            })
        } else {
            match config_error {
                Some(e) => Err(e),
                None => {
                    shard
                        .create_topic(name.clone(), partitions, configs.clone(), req.validate_only)
                        .await
                }
            }
        };
        let error = outcome.as_ref().err();
        let created = error.is_none();
        if created && is_view {
            let catalog = shard.catalog.borrow();
            let source = configs.view.as_ref().map(|v| v.source.as_str());
            if let Some(m) = catalog
                .get(&name)
                .or_else(|| catalog.get(source.unwrap_or("")))
            {
                partitions = m.partitions;
            }
        }
        let topic_id = if created && !req.validate_only {
            shard.catalog.borrow().get(&name).map(|m| m.id)
        } else {
            None
        };
        resp.topics.push(CreatableTopicResult {
            name: t.name,
            topic_id: topic_id.unwrap_or_default(),
            error_code: code_of(error),
            // As Kafka's controller: a null message on success (ReplicationControlManager sets
            // it to null explicitly), the reason otherwise.
            error_message: error.map(error_message),
            num_partitions: if created { partitions } else { -1 },
            replication_factor: if created { 1 } else { -1 },
            configs: Some(match created {
                true => configs
                    .describe_all(&shard.config)
                    .into_iter()
                    .map(|d| CreatableTopicConfigs {
                        name: Str::from_static(d.name),
                        value: Some(Str::from(d.value)),
                        read_only: false,
                        config_source: d.source.id(),
                        is_sensitive: false,
                    })
                    .collect(),
                false => Vec::new(),
            }),
            ..Default::default()
        });
    }
    resp
}
