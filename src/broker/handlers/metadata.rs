//! Metadata (key 3): one broker (this one, at the advertised address), every topic or the ones
//! asked for, auto-creating missing topics when the client allows it.

use std::rc::Rc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_name;
use crate::broker::shard::ShardState;
use crate::protocol::error as code;

/// The node id of this (single) broker.
pub const NODE_ID: i32 = 0;
/// Reported cluster id.
pub const CLUSTER_ID: &str = "ringlog";

/// Answer a Metadata request.
pub async fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: MetadataRequest,
) -> MetadataResponse {
    let (host, port) = shard.config.advertised();
    let mut resp = MetadataResponse::default();
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = BrokerId(NODE_ID);
    broker.host = StrBytes::from_string(host);
    broker.port = port;
    resp.brokers = vec![broker];
    if version >= 2 {
        resp.cluster_id = Some(StrBytes::from_static_str(CLUSTER_ID));
    }
    resp.controller_id = BrokerId(NODE_ID);

    let names: Vec<(Option<String>, uuid::Uuid)> = match &req.topics {
        None => shard
            .catalog
            .borrow()
            .iter()
            .map(|(n, _)| (Some(n.clone()), uuid::Uuid::nil()))
            .collect(),
        Some(topics) => topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect(),
    };
    // Metadata v1-v3 have no flag and Kafka auto-creates for them; kafka-protocol decodes `true`.
    let auto_create = req.allow_auto_topic_creation && req.topics.is_some();
    for (name, id) in names {
        let name = match name {
            Some(n) => n,
            None => match shard.catalog.borrow().name_of(id) {
                Some(n) => n.to_string(),
                None => {
                    let mut t = MetadataResponseTopic::default();
                    t.error_code = code::UNKNOWN_TOPIC_ID;
                    if version >= 10 {
                        t.topic_id = id;
                    }
                    resp.topics.push(t);
                    continue;
                }
            },
        };
        let mut t = MetadataResponseTopic::default();
        t.name = Some(topic_name(&name));
        let mut meta = shard.catalog.borrow().get(&name).cloned();
        if meta.is_none() && auto_create {
            let err = shard
                .create_topic(name.clone(), shard.config.default_partitions(), false)
                .await;
            if err != code::NONE && err != code::TOPIC_ALREADY_EXISTS {
                t.error_code = err;
                resp.topics.push(t);
                continue;
            }
            meta = shard.catalog.borrow().get(&name).cloned();
        }
        let Some(meta) = meta else {
            t.error_code = if crate::storage::names::validate_topic(&name).is_err() {
                code::INVALID_TOPIC_EXCEPTION
            } else {
                code::UNKNOWN_TOPIC_OR_PARTITION
            };
            resp.topics.push(t);
            continue;
        };
        if version >= 10 {
            t.topic_id = meta.id;
        }
        for p in 0..meta.partitions {
            let mut part = MetadataResponsePartition::default();
            part.partition_index = p;
            part.leader_id = BrokerId(NODE_ID);
            if version >= 7 {
                part.leader_epoch = 0;
            }
            part.replica_nodes = vec![BrokerId(NODE_ID)];
            part.isr_nodes = vec![BrokerId(NODE_ID)];
            t.partitions.push(part);
        }
        resp.topics.push(t);
    }
    resp
}
