//! DescribeConfigs (key 32): group configs (the GROUP resource, from the group's coordinator
//! shard), every topic config (TOPIC: Kafka's and ringlog's, with value, source, synonyms and
//! documentation when asked, as `kafka-configs.sh --describe --all` shows them) and the
//! broker's settings in Kafka's names (BROKER, read-only: they come from `serve` flags and the
//! TOML file). BROKER_LOGGER and CLIENT_METRICS are answered INVALID_REQUEST with a message.

use std::rc::Rc;

use crate::protocol::error::{INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION};
use crate::protocol::messages::{
    DescribeConfigsRequest, DescribeConfigsResourceResult, DescribeConfigsResponse,
    DescribeConfigsResult, CONFIG_SOURCE_DEFAULT_CONFIG, CONFIG_SOURCE_GROUP_CONFIG,
    CONFIG_TYPE_BOOLEAN, CONFIG_TYPE_INT, CONFIG_TYPE_LIST, CONFIG_TYPE_STRING,
    RESOURCE_TYPE_GROUP, RESOURCE_TYPE_TOPIC,
};
use crate::protocol::messages::{
    DescribeConfigsSynonym, CONFIG_SOURCE_STATIC_BROKER_CONFIG, CONFIG_TYPE_LONG,
    RESOURCE_TYPE_BROKER,
};
use crate::protocol::wire::Str;
use crate::routing;
use crate::shard::ShardState;
use crate::share::config::{self, GroupConfigs};
use crate::topic_config::{defs, Described};

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
                RESOURCE_TYPE_TOPIC => topic_configs(
                    shard,
                    &r.resource_name,
                    req.include_synonyms,
                    req.include_documentation,
                ),
                RESOURCE_TYPE_BROKER => broker_configs(
                    shard,
                    &r.resource_name,
                    req.include_synonyms,
                    req.include_documentation,
                ),
                t => Err((
                    INVALID_REQUEST,
                    format!(
                        "ringlog describes GROUP, TOPIC and BROKER configs (resource type {t} \
                         given)"
                    ),
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
    synonyms: bool,
    documentation: bool,
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
        .describe_all(&shard.config)
        .into_iter()
        .map(|d| described(d, synonyms, documentation))
        .collect())
}

/// One described config on the wire.
pub fn described(
    d: Described,
    synonyms: bool,
    documentation: bool,
) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        name: Str::from_static(d.name),
        value: Some(Str::from(d.value)),
        read_only: false,
        config_source: d.source.id(),
        is_sensitive: false,
        synonyms: if synonyms {
            d.synonyms
                .into_iter()
                .map(|(name, value, source)| DescribeConfigsSynonym {
                    name: Str::from(name),
                    value: Some(Str::from(value)),
                    source: source.id(),
                })
                .collect()
        } else {
            Vec::new()
        },
        config_type: d.config_type,
        documentation: documentation.then(|| Str::from_static(d.doc)),
    }
}

/// The broker's settings, read-only, in Kafka's names: the defaults of the topic configs
/// (`log.retention.ms`, ...) and the broker-wide ones ringlog has.
fn broker_configs(
    shard: &ShardState,
    name: &str,
    synonyms: bool,
    documentation: bool,
) -> Result<Vec<DescribeConfigsResourceResult>, (i16, String)> {
    check_broker_name(name)?;
    let mut out: Vec<DescribeConfigsResourceResult> = broker_settings(&shard.config)
        .into_iter()
        .map(|(name, value, operator_set, config_type, doc)| {
            let source = if operator_set {
                CONFIG_SOURCE_STATIC_BROKER_CONFIG
            } else {
                CONFIG_SOURCE_DEFAULT_CONFIG
            };
            DescribeConfigsResourceResult {
                name: Str::from(name),
                value: Some(Str::from(value.clone())),
                read_only: true,
                config_source: source,
                is_sensitive: false,
                synonyms: if synonyms {
                    vec![DescribeConfigsSynonym {
                        name: Str::from(name),
                        value: Some(Str::from(value)),
                        source,
                    }]
                } else {
                    Vec::new()
                },
                config_type,
                documentation: documentation.then(|| Str::from_static(doc)),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A BROKER resource names this broker (its node id) or is empty (the cluster-wide default,
/// which `kafka-configs.sh --entity-default` describes).
pub fn check_broker_name(name: &str) -> Result<(), (i16, String)> {
    let node = crate::handlers::metadata::NODE_ID;
    if name.is_empty() || name.parse::<i32>().ok() == Some(node) {
        Ok(())
    } else {
        Err((
            INVALID_REQUEST,
            format!("Unexpected broker id, expected {node} or empty string, but received {name}"),
        ))
    }
}

/// (name, value, set by the operator, config type, documentation) of every broker setting.
pub fn broker_settings(
    config: &crate::config::BrokerConfig,
) -> Vec<(&'static str, String, bool, i8, &'static str)> {
    let mut out: Vec<(&'static str, String, bool, i8, &'static str)> = Vec::new();
    for def in defs::DEFS {
        if let Some(broker_name) = def.synonym {
            if out.iter().any(|(n, ..)| *n == broker_name) {
                continue;
            }
            let (value, set) = defs::broker_default(def.name, config);
            out.push((broker_name, value, set, defs::config_type(def), def.doc));
        }
    }
    let node = crate::handlers::metadata::NODE_ID.to_string();
    let partitions = config.default_partitions();
    out.extend([
        (
            "broker.id",
            node.clone(),
            false,
            CONFIG_TYPE_INT,
            "this broker's id",
        ),
        ("node.id", node, false, CONFIG_TYPE_INT, "this broker's id"),
        (
            "log.dirs",
            config.data_dir.display().to_string(),
            true,
            CONFIG_TYPE_STRING,
            "the data directory (--data-dir)",
        ),
        (
            "num.partitions",
            partitions.to_string(),
            config.default_partitions.is_some(),
            CONFIG_TYPE_INT,
            "partitions of auto-created topics and CreateTopics with -1 (--default-partitions)",
        ),
        (
            "fetch.max.bytes",
            config.fetch_max_bytes.to_string(),
            config.fetch_max_bytes != crate::config::FETCH_MAX_BYTES_DEFAULT,
            CONFIG_TYPE_INT,
            "most record bytes in one Fetch response",
        ),
        (
            "socket.request.max.bytes",
            config.request_bytes_max.to_string(),
            config.request_bytes_max != crate::protocol::frame::REQUEST_BYTES_MAX_DEFAULT,
            CONFIG_TYPE_INT,
            "largest request frame accepted",
        ),
        (
            "connections.max.idle.ms",
            config.connections_max_idle_ms.to_string(),
            config.connections_max_idle_ms != crate::config::CONNECTIONS_MAX_IDLE_MS_DEFAULT,
            CONFIG_TYPE_LONG,
            "a connection without a request for this long is closed",
        ),
        (
            "max.connections.per.ip",
            config.max_connections_per_ip.to_string(),
            config.max_connections_per_ip != i32::MAX as u32,
            CONFIG_TYPE_INT,
            "most connections from one address",
        ),
        (
            "queued.max.request.bytes",
            config.queued_max_request_bytes.to_string(),
            false,
            CONFIG_TYPE_LONG,
            "request bytes held in memory at once, all connections together",
        ),
        (
            "transaction.max.timeout.ms",
            config.transaction_max_timeout_ms.to_string(),
            config.transaction_max_timeout_ms != crate::txn::TRANSACTION_MAX_TIMEOUT_MS_DEFAULT,
            CONFIG_TYPE_INT,
            "longest transaction.timeout.ms a producer may ask for",
        ),
        (
            "group.initial.rebalance.delay.ms",
            config.group_initial_rebalance_delay_ms.to_string(),
            false,
            CONFIG_TYPE_INT,
            "how long a new classic group's first rebalance waits for more members",
        ),
        (
            "group.share.delivery.count.limit",
            config.share.delivery_count_limit.to_string(),
            false,
            CONFIG_TYPE_INT,
            "deliveries of a share-group record before it is archived (or dead-lettered)",
        ),
        (
            "group.share.record.lock.duration.ms",
            config.share.record_lock_duration_ms.to_string(),
            false,
            CONFIG_TYPE_INT,
            "how long a share consumer holds an acquired record",
        ),
        (
            "errors.deadletterqueue.topic.name.prefix",
            config.share.dlq_topic_name_prefix.clone(),
            false,
            CONFIG_TYPE_STRING,
            "dead-letter topics of share groups must start with this",
        ),
        (
            "errors.deadletterqueue.auto.create.topics.enable",
            config.share.dlq_auto_create_topics.to_string(),
            false,
            CONFIG_TYPE_BOOLEAN,
            "a missing dead-letter topic is created",
        ),
        (
            "auto.create.topics.enable",
            "true".to_string(),
            false,
            CONFIG_TYPE_BOOLEAN,
            "Metadata and Produce create a missing topic",
        ),
    ]);
    out
}
