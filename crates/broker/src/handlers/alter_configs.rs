//! AlterConfigs (key 33), the legacy form of a config change: each TOPIC resource gets exactly
//! the configs given (everything else returns to its default), checked and stored by the
//! controller as IncrementalAlterConfigs does ([`crate::topic_config::TopicConfigs::replaced`]).
//! BROKER settings are read-only; GROUP configs are changed with IncrementalAlterConfigs only
//! (as in Kafka, whose AlterConfigs has no GROUP resource). Other types: INVALID_REQUEST.

use std::rc::Rc;

use crate::protocol::error::INVALID_REQUEST;
use crate::protocol::messages::{
    AlterConfigsRequest, AlterConfigsResource, AlterConfigsResourceResponse, AlterConfigsResponse,
    RESOURCE_TYPE_BROKER, RESOURCE_TYPE_TOPIC,
};
use crate::shard::ShardState;

use super::incremental_alter_configs::{
    each_resource, on_controller, refuse_broker, CONFIGS_PER_RESOURCE_MAX,
};

/// Answer an AlterConfigs request.
pub async fn handle(shard: &Rc<ShardState>, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let outcomes = each_resource(&req.resources, |r| async move {
        match r.resource_type {
            RESOURCE_TYPE_TOPIC => replace_topic(shard, r, req.validate_only).await,
            RESOURCE_TYPE_BROKER => {
                refuse_broker(&r.resource_name, r.configs.iter().map(|c| &*c.name))
            }
            t => Err((
                INVALID_REQUEST,
                format!("AlterConfigs changes TOPIC configs (resource type {t} given)"),
            )),
        }
    })
    .await;
    AlterConfigsResponse {
        throttle_time_ms: 0,
        responses: req
            .resources
            .iter()
            .zip(outcomes)
            .map(
                |(r, (error_code, error_message))| AlterConfigsResourceResponse {
                    error_code,
                    error_message,
                    resource_type: r.resource_type,
                    resource_name: r.resource_name.clone(),
                },
            )
            .collect(),
    }
}

async fn replace_topic(
    shard: &Rc<ShardState>,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    if r.configs.len() > CONFIGS_PER_RESOURCE_MAX {
        return Err((
            INVALID_REQUEST,
            format!("at most {CONFIGS_PER_RESOURCE_MAX} configs per resource"),
        ));
    }
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(r.configs.len());
    for c in &r.configs {
        if pairs.iter().any(|(n, _)| **n == *c.name) {
            return Err((
                INVALID_REQUEST,
                "Error due to duplicate config keys".to_string(),
            ));
        }
        let Some(value) = &c.value else {
            return Err((
                INVALID_REQUEST,
                format!("Null value not supported for topic configs: {}", c.name),
            ));
        };
        pairs.push((c.name.to_string(), value.to_string()));
    }
    let topic = r.resource_name.to_string();
    on_controller(shard, move |s| async move {
        s.controller_alter_configs(
            &topic,
            |current| {
                let pairs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                current.replaced(&pairs)
            },
            validate_only,
        )
        .await
    })
    .await
}
