//! AlterConfigs (key 33): the legacy config change (`kafka-configs.sh` before IncrementalAlter,
//! kafka-python's `alter_configs`, Sarama, Terraform providers): every config of a resource is
//! replaced by the ones given. Defined at v0-2, Kafka 4.4's versions (flexible from v2).

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The new configs of each resource.
    pub struct AlterConfigsRequest: key 33, versions "0-2", flexible "2+" {
        resources: Vec<AlterConfigsResource> => "0+";
        /// Whether only to validate the changes, not apply them.
        validate_only: bool => "0+";
    }
}

wire_struct! {
    /// One resource and all its configs.
    pub struct AlterConfigsResource {
        /// One of [`super::describe_configs`]'s `RESOURCE_TYPE_*` constants.
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
        configs: Vec<AlterableConfig> => "0+";
    }
}

wire_struct! {
    /// One config and its value.
    pub struct AlterableConfig {
        name: Str => "0+";
        /// The value, or null.
        value: Option<Str> => "0+", nullable "0+";
    }
}

api_message! {
    /// The outcome for each resource.
    pub struct AlterConfigsResponse: key 33, versions "0-2", flexible "2+" {
        throttle_time_ms: i32 => "0+";
        responses: Vec<AlterConfigsResourceResponse> => "0+";
    }
}

wire_struct! {
    /// One resource's outcome.
    pub struct AlterConfigsResourceResponse {
        error_code: i16 => "0+";
        /// The error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        resource_type: i8 => "0+";
        resource_name: Str => "0+";
    }
}
