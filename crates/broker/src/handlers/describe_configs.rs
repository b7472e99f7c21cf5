//! DescribeConfigs (key 32): group configs (the GROUP resource, from the group's coordinator
//! shard) and the topic configs ringlog keeps (TOPIC). Other resource types (BROKER, ...) are
//! answered with INVALID_REQUEST and a message until issue #19 adds them.

use std::rc::Rc;

use crate::protocol::error::{INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION};
use crate::protocol::messages::{
    DescribeConfigsRequest, DescribeConfigsResourceResult, DescribeConfigsResponse,
    DescribeConfigsResult, CONFIG_SOURCE_DEFAULT_CONFIG, CONFIG_SOURCE_GROUP_CONFIG,
    CONFIG_SOURCE_TOPIC_CONFIG, CONFIG_TYPE_BOOLEAN, CONFIG_TYPE_INT, CONFIG_TYPE_LIST,
    CONFIG_TYPE_STRING, RESOURCE_TYPE_GROUP, RESOURCE_TYPE_TOPIC,
};
use crate::protocol::wire::Str;
use crate::routing;
use crate::shard::ShardState;
use crate::share::config::{self, GroupConfigs};
use crate::topic_config::Source;

/// Resources per request.
pub const RESOURCES_MAX: usize = 1_000;

/// Answer a DescribeConfigs request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let mut results = Vec::with_capacity(req.resources.len().min(RESOURCES_MAX));
    for (i, r) in req.resources.iter().enumerate() {
        let wanted: Option<Vec<String>> = r
            .configuration_keys
            .as_ref()
            .map(|k| k.iter().map(|s| s.to_string()).collect());
        let outcome = if i >= RESOURCES_MAX {
            Err((
                INVALID_REQUEST,
                format!("at most {RESOURCES_MAX} resources per request"),
            ))
        } else {
            match r.resource_type {
                RESOURCE_TYPE_GROUP => Ok(group_configs(shard, r.resource_name.to_string()).await),
                RESOURCE_TYPE_TOPIC => topic_configs(shard, &r.resource_name),
                t => Err((
                    INVALID_REQUEST,
                    format!("ringlog describes GROUP and TOPIC configs for now (resource type {t} given)"),
                )),
            }
        };
        let (error_code, error_message, configs) = match outcome {
            Ok(all) => (
                0,
                None,
                all.into_iter()
                    .filter(|c| {
                        wanted
                            .as_ref()
                            .is_none_or(|w| w.iter().any(|n| **n == *c.name))
                    })
                    .collect(),
            ),
            Err((code, message)) => (code, Some(Str::from(message)), Vec::new()),
        };
        results.push(DescribeConfigsResult {
            error_code,
            error_message,
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            configs,
        });
    }
    DescribeConfigsResponse {
        throttle_time_ms: 0,
        results,
    }
}

fn entry(name: &str, value: String, source: i8, config_type: i8) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        name: Str::from(name),
        value: Some(Str::from(value)),
        read_only: false,
        config_source: source,
        is_sensitive: false,
        synonyms: Vec::new(),
        config_type,
        documentation: None,
    }
}

async fn group_configs(
    shard: &Rc<ShardState>,
    group: String,
) -> Vec<DescribeConfigsResourceResult> {
    let target = routing::group_coordinator(&group, shard.count);
    let configs: GroupConfigs = shard
        .call(target, move |s| async move {
            s.shares
                .configs
                .borrow()
                .get(&group)
                .cloned()
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default();
    let broker = &shard.config.share;
    config::NAMES
        .iter()
        .filter_map(|name| {
            let (mut value, set) = configs.value_of(name)?;
            if !set {
                // Unset group configs follow the broker's settings.
                match *name {
                    config::DELIVERY_COUNT_LIMIT => value = broker.delivery_count_limit.to_string(),
                    config::RECORD_LOCK_DURATION_MS => {
                        value = broker.record_lock_duration_ms.to_string()
                    }
                    _ => {}
                }
            }
            let source = if set {
                CONFIG_SOURCE_GROUP_CONFIG
            } else {
                CONFIG_SOURCE_DEFAULT_CONFIG
            };
            let config_type = match *name {
                config::DELIVERY_COUNT_LIMIT
                | config::HEARTBEAT_INTERVAL_MS
                | config::RECORD_LOCK_DURATION_MS
                | config::SESSION_TIMEOUT_MS => CONFIG_TYPE_INT,
                config::DLQ_COPY_RECORD => CONFIG_TYPE_BOOLEAN,
                config::RETRY_BACKOFF_MS => CONFIG_TYPE_LIST,
                _ => CONFIG_TYPE_STRING,
            };
            Some(entry(name, value, source, config_type))
        })
        .collect()
}

fn topic_configs(
    shard: &ShardState,
    topic: &str,
) -> Result<Vec<DescribeConfigsResourceResult>, (i16, String)> {
    let catalog = shard.catalog.borrow();
    let meta = catalog.get(topic).ok_or_else(|| {
        (
            UNKNOWN_TOPIC_OR_PARTITION,
            format!("Topic {topic} does not exist"),
        )
    })?;
    Ok(meta
        .configs
        .describe()
        .into_iter()
        .map(|(name, value, source)| {
            let source = match source {
                Source::Topic => CONFIG_SOURCE_TOPIC_CONFIG,
                Source::Default => CONFIG_SOURCE_DEFAULT_CONFIG,
            };
            entry(name, value, source, CONFIG_TYPE_BOOLEAN)
        })
        .collect())
}
