//! Heartbeat (key 12): a classic group member keeps its session alive and learns of rebalances.
//! Served at v0-4.

use crate::api_message;
use crate::wire::Str;

api_message! {
    /// A member's heartbeat for its current generation.
    pub struct HeartbeatRequest: key 12, versions "0-4", flexible "4+" {
        group_id: Str => "0+";
        generation_id: i32 => "0+";
        member_id: Str => "0+";
        /// The static member's instance id (KIP-345), if any.
        group_instance_id: Option<Str> => "3+", nullable "3+";
    }
}

api_message! {
    /// The heartbeat's result (REBALANCE_IN_PROGRESS tells the member to rejoin).
    pub struct HeartbeatResponse: key 12, versions "0-4", flexible "4+" {
        throttle_time_ms: i32 => "1+";
        error_code: i16 => "0+";
    }
}
