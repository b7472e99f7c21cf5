//! DeleteShareGroupOffsets (key 92, KIP-932): drops an empty share group's state for whole
//! topics; the Java Admin client's `deleteShareGroupOffsets`. Defined at v0, the only version
//! Kafka 4.4 has. Served and advertised at v0, as a Kafka 4.4 broker does (issue #16).

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The topics whose share state one group drops.
    pub struct DeleteShareGroupOffsetsRequest: key 92, versions "0", flexible "0+" {
        group_id: Str => "0+";
        topics: Vec<DeleteShareGroupOffsetsRequestTopic> => "0+";
    }
}

wire_struct! {
    /// One topic, by name (all its partitions).
    pub struct DeleteShareGroupOffsetsRequestTopic {
        topic_name: Str => "0+";
    }
}

api_message! {
    /// The outcome for the group and for each topic.
    pub struct DeleteShareGroupOffsetsResponse: key 92, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        /// The top-level error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        responses: Vec<DeleteShareGroupOffsetsResponseTopic> => "0+";
    }
}

wire_struct! {
    /// One topic's outcome, by name and id.
    pub struct DeleteShareGroupOffsetsResponseTopic {
        topic_name: Str => "0+";
        topic_id: Uuid => "0+";
        error_code: i16 => "0+";
        /// The error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
    }
}
