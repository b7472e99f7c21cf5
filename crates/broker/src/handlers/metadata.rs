//! Metadata (key 3): one broker (this one, at the advertised address), every topic or the ones
//! asked for, auto-creating missing topics when the client allows it.

use std::rc::Rc;

use crate::acl::{Access, Operation, ResourceType};
use crate::error::BrokerError;
use crate::protocol::messages::{
    MetadataRequest, MetadataResponse, MetadataResponseBroker, MetadataResponsePartition,
    MetadataResponseTopic,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// The node id of this (single) broker.
pub const NODE_ID: i32 = 0;
/// Reported cluster id.
pub const CLUSTER_ID: &str = "ringlog";

/// Answer a Metadata request.
/// `advertised` is the `(host, port)` of the listener the client connected to.
///
/// Topics `access` may not DESCRIBE are left out when every topic is asked and answered
/// TOPIC_AUTHORIZATION_FAILED when named; a missing topic is auto-created only for a caller
/// with CLUSTER CREATE or TOPIC CREATE on it (else TOPIC_AUTHORIZATION_FAILED, as Kafka).
pub async fn handle(
    shard: &Rc<ShardState>,
    access: &Access,
    advertised: (&str, i32),
    req: MetadataRequest,
) -> MetadataResponse {
    let (host, port) = advertised;
    let mut resp = MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: NODE_ID,
            host: Str::from(host),
            port,
            ..Default::default()
        }],
        cluster_id: Some(Str::from_static(CLUSTER_ID)),
        controller_id: NODE_ID,
        ..Default::default()
    };

    let names: Vec<(Option<String>, uuid::Uuid)> = match &req.topics {
        None => shard
            .catalog
            .borrow()
            .iter()
            .map(|(n, _)| (Some(n.clone()), uuid::Uuid::nil()))
            .collect(),
        Some(topics) => topics
            .iter()
            .map(|t| (t.name.as_deref().map(str::to_string), t.topic_id))
            .collect(),
    };
    // Metadata v1-v3 have no flag and Kafka auto-creates for them; the field decodes as its
    // default, `true`, at those versions.
    let auto_create = req.allow_auto_topic_creation && req.topics.is_some();
    let asked_all = req.topics.is_none();
    if req.include_cluster_authorized_operations {
        resp.cluster_authorized_operations =
            access.operations(ResourceType::Cluster, crate::acl::CLUSTER_NAME);
    }
    for (name, id) in names {
        let name = match name {
            Some(n) => n,
            None => match shard.catalog.borrow().name_of(id) {
                Some(n) => n.to_string(),
                None => {
                    resp.topics.push(MetadataResponseTopic {
                        error_code: BrokerError::UnknownTopicId { id }.kafka_code(),
                        // Null, as Kafka answers an unknown topic id (the name is unknown too).
                        name: None,
                        topic_id: id,
                        ..Default::default()
                    });
                    continue;
                }
            },
        };
        if !access.topic(Operation::Describe, &name) {
            if !asked_all {
                resp.topics.push(MetadataResponseTopic {
                    error_code: crate::protocol::error::TOPIC_AUTHORIZATION_FAILED,
                    // By id, the name stays unknown to the caller (Kafka answers null too).
                    name: id.is_nil().then(|| Str::from(name.as_str())),
                    topic_id: id,
                    ..Default::default()
                });
            }
            continue;
        }
        let mut t = MetadataResponseTopic {
            name: Some(Str::from(name.as_str())),
            ..Default::default()
        };
        if req.include_topic_authorized_operations {
            t.topic_authorized_operations = access.operations(ResourceType::Topic, &name);
        }
        let mut meta = shard.catalog.borrow().get(&name).cloned();
        if meta.is_none()
            && auto_create
            && !access.cluster(Operation::Create)
            && !access.topic(Operation::Create, &name)
        {
            t.error_code = crate::protocol::error::TOPIC_AUTHORIZATION_FAILED;
            resp.topics.push(t);
            continue;
        }
        if meta.is_none() && auto_create {
            let created = shard
                .create_topic(
                    name.clone(),
                    shard.config.default_partitions(),
                    Default::default(),
                    false,
                )
                .await;
            match created {
                // Created meanwhile by another request: answer with it.
                Ok(()) | Err(BrokerError::TopicExists { .. }) => {}
                Err(e) => {
                    t.error_code = e.kafka_code();
                    resp.topics.push(t);
                    continue;
                }
            }
            meta = shard.catalog.borrow().get(&name).cloned();
        }
        let Some(meta) = meta else {
            let e = match crate::storage::names::validate_topic(&name) {
                Err(e) => BrokerError::Storage(e),
                Ok(()) => BrokerError::UnknownTopic { topic: name },
            };
            t.error_code = e.kafka_code();
            resp.topics.push(t);
            continue;
        };
        t.topic_id = meta.id;
        t.partitions = (0..meta.partitions)
            .map(|p| MetadataResponsePartition {
                partition_index: p,
                leader_id: NODE_ID,
                leader_epoch: 0,
                replica_nodes: vec![NODE_ID],
                isr_nodes: vec![NODE_ID],
                ..Default::default()
            })
            .collect();
        resp.topics.push(t);
    }
    resp
}
