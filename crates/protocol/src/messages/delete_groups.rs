//! DeleteGroups (key 42): deletes empty groups and their committed offsets. Served at v0-2.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Deletes the named groups.
    pub struct DeleteGroupsRequest: key 42, versions "0-2", flexible "2+" {
        groups_names: Vec<Str> => "0+";
    }
}

api_message! {
    /// One result per group.
    pub struct DeleteGroupsResponse: key 42, versions "0-2", flexible "2+" {
        throttle_time_ms: i32 => "0+";
        results: Vec<DeletableGroupResult> => "0+";
    }
}

wire_struct! {
    /// The deletion result for one group.
    pub struct DeletableGroupResult {
        group_id: Str => "0+";
        error_code: i16 => "0+";
    }
}
