//! IncrementalAlterConfigs (key 44): group configs (the GROUP resource: share groups'
//! `share.*`, `errors.deadletterqueue.*` and ringlog's retry backoff), stored durably by the
//! group's coordinator shard. Topic and broker configs are not alterable yet (issue #19): such
//! resources are refused with INVALID_REQUEST and a message saying so.

use std::rc::Rc;

use crate::protocol::error::{INVALID_CONFIG, INVALID_GROUP_ID, INVALID_REQUEST};
use crate::protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResourceResponse,
    IncrementalAlterConfigsResponse, CONFIG_OPERATION_DELETE, CONFIG_OPERATION_SET,
    RESOURCE_TYPE_GROUP,
};
use crate::protocol::wire::Str;
use crate::routing;
use crate::shard::ShardState;
use crate::share::config::GroupConfigs;

/// Resources per request (each group costs a coordinator round trip).
pub const RESOURCES_MAX: usize = 1_000;
/// Configs per resource.
pub const CONFIGS_PER_RESOURCE_MAX: usize = 100;

/// Answer an IncrementalAlterConfigs request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len().min(RESOURCES_MAX));
    for (i, r) in req.resources.iter().enumerate() {
        let outcome = if i >= RESOURCES_MAX {
            Err((
                INVALID_REQUEST,
                format!("at most {RESOURCES_MAX} resources per request"),
            ))
        } else if r.resource_type != RESOURCE_TYPE_GROUP {
            Err((
                INVALID_REQUEST,
                format!(
                    "ringlog alters only GROUP configs for now (resource type {} given)",
                    r.resource_type
                ),
            ))
        } else {
            alter_group(shard, r, req.validate_only).await
        };
        let (error_code, error_message) = match outcome {
            Ok(()) => (0, None),
            Err((code, message)) => (code, Some(Str::from(message))),
        };
        responses.push(IncrementalAlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
        });
    }
    IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    }
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
