//! IncrementalAlterConfigs (key 44): sets, deletes, appends to or subtracts from single configs
//! of topics, brokers and groups (the Java Admin client's `incrementalAlterConfigs`, and so
//! `kafka-configs.sh --alter`). ringlog needs it for GROUP configs (issue #16) and topic configs
//! (issue #19). Defined at v0-1, Kafka 4.4's versions (v1 is the flexible one). Served and
//! advertised at v0-1, the range a Kafka 4.4 broker advertises.
//!
//! Resource types are [`super::describe_configs`]'s `RESOURCE_TYPE_*`.

use crate::wire::Str;
use crate::{api_message, wire_struct};

/// `config_operation`: set the value (Kafka's `AlterConfigOp.OpType.SET`).
pub const CONFIG_OPERATION_SET: i8 = 0;
/// `config_operation`: remove the config, back to its default.
pub const CONFIG_OPERATION_DELETE: i8 = 1;
/// `config_operation`: add the value to a list config.
pub const CONFIG_OPERATION_APPEND: i8 = 2;
/// `config_operation`: remove the value from a list config.
pub const CONFIG_OPERATION_SUBTRACT: i8 = 3;

api_message! {
    /// Changes for each resource.
    pub struct IncrementalAlterConfigsRequest: key 44, versions "0-1", flexible "1+" {
        resources: Vec<IncrementalAlterConfigsResource> => "0+";
        /// Whether only to validate the changes, not apply them.
        validate_only: bool => "0+";
    }
}

wire_struct! {
    /// One resource and its config changes.
    pub struct IncrementalAlterConfigsResource {
        /// One of [`super::describe_configs`]'s `RESOURCE_TYPE_*` constants.
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
        configs: Vec<IncrementalAlterableConfig> => "0+";
    }
}

wire_struct! {
    /// One config change.
    pub struct IncrementalAlterableConfig {
        name: Str => "0+";
        /// One of the `CONFIG_OPERATION_*` constants.
        config_operation: i8 => "0+";
        /// The value to set, append or subtract, or null (DELETE).
        value: Option<Str> => "0+", nullable "0+";
    }
}

api_message! {
    /// The outcome for each resource.
    pub struct IncrementalAlterConfigsResponse: key 44, versions "0-1", flexible "1+" {
        throttle_time_ms: i32 => "0+";
        responses: Vec<IncrementalAlterConfigsResourceResponse> => "0+";
    }
}

wire_struct! {
    /// One resource's outcome.
    pub struct IncrementalAlterConfigsResourceResponse {
        error_code: i16 => "0+";
        /// The error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
    }
}
