//! FindCoordinator (key 10): which broker coordinates a group or transactional id (always this
//! one). One key up to v3, a batch of keys from v4. Served at v0-4.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for the coordinator of one key (v0-3) or several (v4+).
    pub struct FindCoordinatorRequest: key 10, versions "0-6", flexible "3+" {
        /// The group or transactional id (v0-3).
        key: Str => "0-3";
        /// 0 = group, 1 = transaction, 2 = share group (v6+).
        key_type: i8 => "1+";
        /// The keys (v4+).
        coordinator_keys: Vec<Str> => "4+";
    }
}

api_message! {
    /// The coordinator of the one key (v0-3) or of each key (v4+).
    pub struct FindCoordinatorResponse: key 10, versions "0-6", flexible "3+" {
        throttle_time_ms: i32 => "1+";
        error_code: i16 => "0-3";
        error_message: Option<Str> => "1-3", nullable "1-3";
        node_id: i32 => "0-3";
        host: Str => "0-3";
        port: i32 => "0-3";
        coordinators: Vec<Coordinator> => "4+";
    }
}

wire_struct! {
    /// The coordinator of one key (v4+).
    pub struct Coordinator {
        key: Str => "4+";
        node_id: i32 => "4+";
        host: Str => "4+";
        port: i32 => "4+";
        error_code: i16 => "4+";
        error_message: Option<Str> => "4+", nullable "4+";
    }
}
