//! IncrementalAlterConfigs (key 44): group configs (the GROUP resource: share groups'
//! `share.*`, `errors.deadletterqueue.*` and ringlog's retry backoff), stored durably by the
//! group's coordinator shard; topic configs (TOPIC: SET, DELETE, and APPEND/SUBTRACT for list
//! configs), changed by the controller, stored with the catalog and applied to the partition
//! logs at once ([`crate::topic_config`]). The broker's settings are read-only (they come from
//! `serve` flags and the TOML file): BROKER changes are refused with INVALID_REQUEST, Kafka's
//! answer for a config that cannot change dynamically. Other resource types: INVALID_REQUEST.

use std::rc::Rc;

use crate::protocol::error::{INVALID_CONFIG, INVALID_GROUP_ID, INVALID_REQUEST};
use crate::protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResourceResponse,
    IncrementalAlterConfigsResponse, CONFIG_OPERATION_APPEND, CONFIG_OPERATION_DELETE,
    CONFIG_OPERATION_SET, CONFIG_OPERATION_SUBTRACT, RESOURCE_TYPE_BROKER, RESOURCE_TYPE_GROUP,
    RESOURCE_TYPE_TOPIC,
};
use crate::protocol::wire::Str;
use crate::routing;
use crate::shard::ShardState;
use crate::share::config::GroupConfigs;
use crate::topic_config::Op;

/// Resources per request (each group costs a coordinator round trip).
pub const RESOURCES_MAX: usize = 1_000;
/// Configs per resource.
pub const CONFIGS_PER_RESOURCE_MAX: usize = 100;

/// Answer an IncrementalAlterConfigs request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let outcomes = each_resource(&req.resources, |r| async move {
        match r.resource_type {
            RESOURCE_TYPE_GROUP => alter_group(shard, r, req.validate_only).await,
            RESOURCE_TYPE_TOPIC => alter_topic(shard, r, req.validate_only).await,
            RESOURCE_TYPE_BROKER => {
                refuse_broker(&r.resource_name, r.configs.iter().map(|c| &*c.name))
            }
            t => Err((
                INVALID_REQUEST,
                format!("ringlog alters GROUP and TOPIC configs (resource type {t} given)"),
            )),
        }
    })
    .await;
    IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses: req
            .resources
            .iter()
            .zip(outcomes)
            .map(
                |(r, (error_code, error_message))| IncrementalAlterConfigsResourceResponse {
                    error_code,
                    error_message,
                    resource_type: r.resource_type,
                    resource_name: r.resource_name.clone(),
                },
            )
            .collect(),
    }
}

/// Each resource's outcome, in order, as (error code, message; null on success): `alter` for
/// the first [`RESOURCES_MAX`], INVALID_REQUEST for the rest. One resource at a time (each may
/// wait for its coordinator or the controller).
pub async fn each_resource<'a, R, F, Fut>(
    resources: &'a [R],
    mut alter: F,
) -> Vec<(i16, Option<Str>)>
where
    F: FnMut(&'a R) -> Fut,
    Fut: std::future::Future<Output = Result<(), (i16, String)>>,
{
    let mut out = Vec::with_capacity(resources.len().min(RESOURCES_MAX));
    for (i, r) in resources.iter().enumerate() {
        let outcome = if i >= RESOURCES_MAX {
            Err((
                INVALID_REQUEST,
                format!("at most {RESOURCES_MAX} resources per request"),
            ))
        } else {
            alter(r).await
        };
        out.push(match outcome {
            Ok(()) => (0, None),
            Err((code, message)) => (code, Some(Str::from(message))),
        });
    }
    out
}

/// Runs `f` on the controller shard: its answer, or NOT_CONTROLLER when the shard is gone.
pub async fn on_controller<F, Fut>(shard: &Rc<ShardState>, f: F) -> Result<(), (i16, String)>
where
    F: FnOnce(Rc<ShardState>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), (i16, String)>> + 'static,
{
    shard
        .call(routing::CONTROLLER_SHARD, f)
        .await
        .unwrap_or_else(|| {
            Err((
                crate::protocol::error::NOT_CONTROLLER,
                "the controller shard is not available".to_string(),
            ))
        })
}

async fn alter_group(
    shard: &Rc<ShardState>,
    r: &crate::protocol::messages::IncrementalAlterConfigsResource,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    let group = r.resource_name.to_string();
    if !crate::group::valid_group_id(&group) {
        return Err((INVALID_GROUP_ID, format!("Invalid group id: {group:?}")));
    }
    if r.configs.len() > CONFIGS_PER_RESOURCE_MAX {
        return Err((
            INVALID_REQUEST,
            format!("at most {CONFIGS_PER_RESOURCE_MAX} configs per resource"),
        ));
    }
    let mut ops: Vec<(String, Option<String>)> = Vec::with_capacity(r.configs.len());
    for c in &r.configs {
        let name = c.name.to_string();
        if ops.iter().any(|(n, _)| *n == name) {
            return Err((
                INVALID_REQUEST,
                format!("Error due to duplicate config keys: {name}"),
            ));
        }
        match c.config_operation {
            CONFIG_OPERATION_SET => match &c.value {
                Some(v) => ops.push((name, Some(v.to_string()))),
                None => return Err((INVALID_REQUEST, format!("Null value not supported for: {name}"))),
            },
            CONFIG_OPERATION_DELETE => ops.push((name, None)),
            op => {
                return Err((
                    INVALID_CONFIG,
                    format!("Config operation {op} (APPEND/SUBTRACT) is not supported for group config {name}"),
                ))
            }
        }
    }
    let target = routing::group_coordinator(&group, shard.count);
    shard
        .call(target, move |s| async move {
            let mut configs: GroupConfigs = s
                .shares
                .configs
                .borrow()
                .get(&group)
                .cloned()
                .unwrap_or_default();
            for (name, value) in &ops {
                configs
                    .set(name, value.as_deref(), &s.config.share)
                    .map_err(|e| (INVALID_CONFIG, e))?;
            }
            if validate_only {
                return Ok(());
            }
            s.shares
                .store_configs(&group, configs)
                .await
                .map_err(|e| (e.kafka_code(), e.to_string()))
        })
        .await
        .unwrap_or_else(|| {
            Err((
                15,
                "the group coordinator shard is not available".to_string(),
            ))
        })
}

/// Changes a topic's configs on the controller.
async fn alter_topic(
    shard: &Rc<ShardState>,
    r: &crate::protocol::messages::IncrementalAlterConfigsResource,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    if r.configs.len() > CONFIGS_PER_RESOURCE_MAX {
        return Err((
            INVALID_REQUEST,
            format!("at most {CONFIGS_PER_RESOURCE_MAX} configs per resource"),
        ));
    }
    let mut ops: Vec<(String, i8, Option<String>)> = Vec::with_capacity(r.configs.len());
    for c in &r.configs {
        if ops.iter().any(|(n, ..)| **n == *c.name) {
            // Kafka's words, without the name.
            return Err((
                INVALID_REQUEST,
                "Error due to duplicate config keys".to_string(),
            ));
        }
        match (c.config_operation, &c.value) {
            (CONFIG_OPERATION_DELETE, _) => {}
            (CONFIG_OPERATION_SET | CONFIG_OPERATION_APPEND | CONFIG_OPERATION_SUBTRACT, None) => {
                return Err((
                    INVALID_REQUEST,
                    format!("Null value not supported for : {}", c.name),
                ))
            }
            (CONFIG_OPERATION_SET | CONFIG_OPERATION_APPEND | CONFIG_OPERATION_SUBTRACT, _) => {}
            (op, _) => {
                return Err((
                    INVALID_REQUEST,
                    format!("Unknown config operation {op} for {}", c.name),
                ))
            }
        }
        ops.push((
            c.name.to_string(),
            c.config_operation,
            c.value.as_ref().map(|v| v.to_string()),
        ));
    }
    let topic = r.resource_name.to_string();
    on_controller(shard, move |s| async move {
        let broker = s.config.clone();
        s.controller_alter_configs(
            &topic,
            |current| {
                let ops: Vec<(&str, Op<'_>)> = ops
                    .iter()
                    .map(|(name, op, value)| {
                        let v = value.as_deref().unwrap_or_default();
                        let op = match *op {
                            CONFIG_OPERATION_SET => Op::Set(v),
                            CONFIG_OPERATION_APPEND => Op::Append(v),
                            CONFIG_OPERATION_SUBTRACT => Op::Subtract(v),
                            _ => Op::Delete,
                        };
                        (name.as_str(), op)
                    })
                    .collect();
                current.altered(&topic, &ops, &broker)
            },
            validate_only,
        )
        .await
    })
    .await
}

/// The broker's settings come from its flags and TOML file: none changes at run time (Kafka
/// answers INVALID_REQUEST for a config that cannot change dynamically).
pub fn refuse_broker<'a>(
    name: &str,
    configs: impl Iterator<Item = &'a str>,
) -> Result<(), (i16, String)> {
    crate::handlers::describe_configs::check_broker_name(name)?;
    let names: Vec<&str> = configs.collect();
    Err((
        INVALID_REQUEST,
        format!(
            "Cannot update these configs dynamically: [{}] (ringlog's broker settings are \
             read-only: set them with serve flags or the TOML file)",
            names.join(", ")
        ),
    ))
}
