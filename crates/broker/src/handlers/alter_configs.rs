//! AlterConfigs (key 33), the legacy form of a config change: each TOPIC resource gets exactly
//! the configs given (everything else returns to its default), checked and stored by the
//! controller as IncrementalAlterConfigs does ([`crate::topic_config::TopicConfigs::replaced`]).
//! BROKER settings are read-only; GROUP configs are changed with IncrementalAlterConfigs only
//! (as in Kafka, whose AlterConfigs has no GROUP resource). Other types: INVALID_REQUEST.

use std::rc::Rc;

use crate::protocol::error::{INVALID_REQUEST, NOT_CONTROLLER};
use crate::protocol::messages::{
    AlterConfigsRequest, AlterConfigsResource, AlterConfigsResourceResponse, AlterConfigsResponse,
    RESOURCE_TYPE_BROKER, RESOURCE_TYPE_TOPIC,
};
use crate::protocol::wire::Str;
use crate::routing;
use crate::shard::ShardState;

use super::incremental_alter_configs::{refuse_broker, CONFIGS_PER_RESOURCE_MAX, RESOURCES_MAX};

/// Answer an AlterConfigs request.
pub async fn handle(shard: &Rc<ShardState>, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len().min(RESOURCES_MAX));
    for (i, r) in req.resources.iter().enumerate() {
        let outcome = if i >= RESOURCES_MAX {
            Err((
                INVALID_REQUEST,
                format!("at most {RESOURCES_MAX} resources per request"),
            ))
        } else {
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
        };
        let (error_code, error_message) = match outcome {
            Ok(()) => (0, None),
            Err((code, message)) => (code, Some(Str::from(message))),
        };
        responses.push(AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
        });
    }
    AlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
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
    shard
        .call(routing::CONTROLLER_SHARD, move |s| async move {
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
        .unwrap_or_else(|| {
            Err((
                NOT_CONTROLLER,
                "the controller shard is not available".to_string(),
            ))
        })
}
