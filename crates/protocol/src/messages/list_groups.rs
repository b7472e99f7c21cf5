//! ListGroups (key 16): every group the broker coordinates, optionally filtered by state (v4+)
//! and type (v5+; the Java Admin client's `listGroups(ListGroupsOptions.forShareGroups())`
//! filters by type "share"). Served at v0-5.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Lists groups; empty filters mean all.
    pub struct ListGroupsRequest: key 16, versions "0-5", flexible "3+" {
        /// Only groups in these states (v4+).
        states_filter: Vec<Str> => "4+";
        /// Only groups of these types, e.g. "share" (v5+).
        types_filter: Vec<Str> => "5+";
    }
}

api_message! {
    /// The groups listed.
    pub struct ListGroupsResponse: key 16, versions "0-5", flexible "3+" {
        throttle_time_ms: i32 => "1+";
        error_code: i16 => "0+";
        groups: Vec<ListedGroup> => "0+";
    }
}

wire_struct! {
    /// One group listed.
    pub struct ListedGroup {
        group_id: Str => "0+";
        protocol_type: Str => "0+";
        group_state: Str => "4+";
        /// The group's type (v5+). Kafka 4.4 writes its `GroupType` names, "Classic",
        /// "Consumer", "Share" or "Streams"; clients parse them ignoring case.
        group_type: Str => "5+";
    }
}
