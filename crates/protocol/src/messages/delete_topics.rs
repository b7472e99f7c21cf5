//! DeleteTopics (key 20): topics deleted by name (or by id from v6). Served at v1-6.

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The topics to delete.
    pub struct DeleteTopicsRequest: key 20, versions "0-6", flexible "4+" {
        /// The topics, each by name or id (v6+).
        topics: Vec<DeleteTopicState> => "6+";
        /// The topics, by name (v0-5).
        topic_names: Vec<Str> => "0-5";
        /// How long to wait for the deletions to complete.
        timeout_ms: i32 => "0+";
    }
}

wire_struct! {
    /// One topic to delete: by name, or by id with a null name.
    pub struct DeleteTopicState {
        name: Option<Str> => "6+", nullable "6+";
        topic_id: Uuid => "6+";
    }
}

api_message! {
    /// The result for each topic.
    pub struct DeleteTopicsResponse: key 20, versions "0-6", flexible "4+" {
        throttle_time_ms: i32 => "1+";
        responses: Vec<DeletableTopicResult> => "0+";
    }
}

wire_struct! {
    /// One topic's result.
    pub struct DeletableTopicResult {
        /// The topic name (null from v6 when it was asked for by an unknown id).
        name: Option<Str> => "0+", nullable "6+";
        topic_id: Uuid => "6+";
        error_code: i16 => "0+";
        /// The error message, or null.
        error_message: Option<Str> => "5+", nullable "5+";
    }
}
