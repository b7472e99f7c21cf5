//! CreateTopics (key 19): topics created with partition counts and configs. Served at v2-7.

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The topics to create.
    pub struct CreateTopicsRequest: key 19, versions "0-7", flexible "5+" {
        topics: Vec<CreatableTopic> => "0+";
        /// How long to wait for the topics to be created.
        timeout_ms: i32 => "0+", default 60000;
        /// Only check that the topics could be created.
        validate_only: bool => "1+";
    }
}

impl CreateTopicsRequest {
    /// Whether `num_partitions` and `replication_factor` may be -1 ("the broker's default")
    /// without manual assignments: from v4 (KIP-464; Kafka's CreateTopicsRequest.json, "Version 4
    /// makes partitions/replicationFactor optional even when assignments are not present").
    pub fn accepts_broker_defaults(version: i16) -> bool {
        version >= 4
    }
}

wire_struct! {
    /// One topic to create.
    pub struct CreatableTopic {
        name: Str => "0+";
        /// The partition count, or -1 for the default (or with manual assignments).
        num_partitions: i32 => "0+";
        /// The replica count, or -1 for the default (or with manual assignments).
        replication_factor: i16 => "0+";
        /// Manual replica placement, empty for automatic.
        assignments: Vec<CreatableReplicaAssignment> => "0+";
        configs: Vec<CreatableTopicConfig> => "0+";
    }
}

wire_struct! {
    /// One partition's manual replica placement.
    pub struct CreatableReplicaAssignment {
        partition_index: i32 => "0+";
        broker_ids: Vec<i32> => "0+";
    }
}

wire_struct! {
    /// One topic config to set.
    pub struct CreatableTopicConfig {
        name: Str => "0+";
        value: Option<Str> => "0+", nullable "0+";
    }
}

api_message! {
    /// The result for each topic.
    pub struct CreateTopicsResponse: key 19, versions "0-7", flexible "5+" {
        throttle_time_ms: i32 => "2+";
        topics: Vec<CreatableTopicResult> => "0+";
    }
}

wire_struct! {
    /// One topic's result and, from v5, its resulting settings.
    pub struct CreatableTopicResult {
        name: Str => "0+";
        topic_id: Uuid => "7+";
        error_code: i16 => "0+";
        /// The error message, or null.
        error_message: Option<Str> => "1+", nullable "0+";
        /// Why the configs are not returned, if they are not.
        topic_config_error_code: i16 => "5+", tag 0;
        num_partitions: i32 => "5+", default -1;
        replication_factor: i16 => "5+", default -1;
        /// The topic's configs, or null.
        configs: Option<Vec<CreatableTopicConfigs>> => "5+", nullable "5+";
    }
}

wire_struct! {
    /// One config of a created topic.
    pub struct CreatableTopicConfigs {
        name: Str => "5+";
        value: Option<Str> => "5+", nullable "5+";
        read_only: bool => "5+";
        /// Where the value comes from (DescribeConfigs' ConfigSource), -1 unknown.
        config_source: i8 => "5+", default -1;
        is_sensitive: bool => "5+";
    }
}
