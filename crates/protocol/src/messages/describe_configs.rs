//! DescribeConfigs (key 32): the configuration of topics, brokers and groups. ringlog needs it for
//! GROUP configs (share groups' `share.*` and dead-letter settings, issue #16) and topic configs
//! (issue #19). Defined at v1-4, Kafka 4.4's versions (v0 was removed in Kafka 4.0; v1 adds
//! synonyms and `config_source`, v3 documentation and `config_type`, v4 is the first flexible
//! one). Served and advertised at v1-4, the range a Kafka 4.4 broker advertises.
//!
//! The resource types, sources and types below are Kafka's (`ConfigResource.Type`,
//! `DescribeConfigsResponse.ConfigSource`, `DescribeConfigsResponse.ConfigType`); they are
//! shared with [`super::IncrementalAlterConfigsRequest`].

use crate::wire::Str;
use crate::{api_message, wire_struct};

/// `resource_type`: a resource Kafka does not know.
pub const RESOURCE_TYPE_UNKNOWN: i8 = 0;
/// `resource_type`: a topic, by name.
pub const RESOURCE_TYPE_TOPIC: i8 = 2;
/// `resource_type`: a broker, by id ("" for the cluster-wide default).
pub const RESOURCE_TYPE_BROKER: i8 = 4;
/// `resource_type`: a broker's loggers.
pub const RESOURCE_TYPE_BROKER_LOGGER: i8 = 8;
/// `resource_type`: a client-metrics subscription.
pub const RESOURCE_TYPE_CLIENT_METRICS: i8 = 16;
/// `resource_type`: a consumer or share group, by group id (KIP-848, KIP-932).
pub const RESOURCE_TYPE_GROUP: i8 = 32;

/// `config_source`: not known.
pub const CONFIG_SOURCE_UNKNOWN: i8 = 0;
/// `config_source`: set on the topic.
pub const CONFIG_SOURCE_TOPIC_CONFIG: i8 = 1;
/// `config_source`: set dynamically on this broker.
pub const CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG: i8 = 2;
/// `config_source`: set dynamically as every broker's default.
pub const CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
/// `config_source`: from the broker's configuration file.
pub const CONFIG_SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
/// `config_source`: the built-in default.
pub const CONFIG_SOURCE_DEFAULT_CONFIG: i8 = 5;
/// `config_source`: a broker logger's level set dynamically.
pub const CONFIG_SOURCE_DYNAMIC_BROKER_LOGGER_CONFIG: i8 = 6;
/// `config_source`: set on a client-metrics resource.
pub const CONFIG_SOURCE_CLIENT_METRICS_CONFIG: i8 = 7;
/// `config_source`: set on the group.
pub const CONFIG_SOURCE_GROUP_CONFIG: i8 = 8;

/// `config_type`: not known.
pub const CONFIG_TYPE_UNKNOWN: i8 = 0;
pub const CONFIG_TYPE_BOOLEAN: i8 = 1;
pub const CONFIG_TYPE_STRING: i8 = 2;
pub const CONFIG_TYPE_INT: i8 = 3;
pub const CONFIG_TYPE_SHORT: i8 = 4;
pub const CONFIG_TYPE_LONG: i8 = 5;
pub const CONFIG_TYPE_DOUBLE: i8 = 6;
pub const CONFIG_TYPE_LIST: i8 = 7;
pub const CONFIG_TYPE_CLASS: i8 = 8;
pub const CONFIG_TYPE_PASSWORD: i8 = 9;

api_message! {
    /// Asks for the configuration of each resource.
    pub struct DescribeConfigsRequest: key 32, versions "1-4", flexible "4+" {
        resources: Vec<DescribeConfigsResource> => "0+";
        /// Whether to list each config's synonyms (v1+).
        include_synonyms: bool => "1+";
        /// Whether to include each config's documentation (v3+).
        include_documentation: bool => "3+";
    }
}

wire_struct! {
    /// One resource to describe.
    pub struct DescribeConfigsResource {
        /// One of the `RESOURCE_TYPE_*` constants.
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
        /// The config keys to list, or null for all of them.
        configuration_keys: Option<Vec<Str>> => "0+", nullable "0+";
    }
}

api_message! {
    /// The configuration of each resource, or its error.
    pub struct DescribeConfigsResponse: key 32, versions "1-4", flexible "4+" {
        throttle_time_ms: i32 => "0+";
        results: Vec<DescribeConfigsResult> => "0+";
    }
}

wire_struct! {
    /// One resource's configs.
    pub struct DescribeConfigsResult {
        error_code: i16 => "0+";
        /// The error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
        configs: Vec<DescribeConfigsResourceResult> => "0+";
    }
}

wire_struct! {
    /// One config of a resource.
    pub struct DescribeConfigsResourceResult {
        name: Str => "0+";
        /// The value, or null (sensitive values are always null).
        value: Option<Str> => "0+", nullable "0+";
        read_only: bool => "0+";
        /// One of the `CONFIG_SOURCE_*` constants (v1+).
        config_source: i8 => "1+", default -1;
        is_sensitive: bool => "0+";
        /// Where else the config is set, most specific first (v1+, when asked for).
        synonyms: Vec<DescribeConfigsSynonym> => "1+";
        /// One of the `CONFIG_TYPE_*` constants (v3+).
        config_type: i8 => "3+";
        /// The config's documentation, or null (v3+, when asked for).
        documentation: Option<Str> => "3+", nullable "0+";
    }
}

wire_struct! {
    /// A config of the same name set at another level.
    pub struct DescribeConfigsSynonym {
        name: Str => "1+";
        /// The value there, or null.
        value: Option<Str> => "1+", nullable "0+";
        /// One of the `CONFIG_SOURCE_*` constants.
        source: i8 => "1+";
    }
}
