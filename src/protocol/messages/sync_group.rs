//! SyncGroup (key 14): after a join, the leader hands in every member's assignment and each
//! member collects its own. Served at v0-5.

use bytes::Bytes;

use crate::protocol::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// A member's sync for its generation; the leader's carries the assignments.
    pub struct SyncGroupRequest: key 14, versions "0-5", flexible "4+" {
        group_id: Str => "0+";
        generation_id: i32 => "0+";
        member_id: Str => "0+";
        /// The static member's instance id (KIP-345), if any.
        group_instance_id: Option<Str> => "3+", nullable "3+";
        /// The protocol type the member joined with (checked against the group's, v5+).
        protocol_type: Option<Str> => "5+", nullable "5+";
        /// The protocol name the member joined with (checked against the group's, v5+).
        protocol_name: Option<Str> => "5+", nullable "5+";
        /// Every member's assignment (leader only; empty for the others).
        assignments: Vec<SyncGroupRequestAssignment> => "0+";
    }
}

wire_struct! {
    /// The assignment the leader computed for one member.
    pub struct SyncGroupRequestAssignment {
        member_id: Str => "0+";
        assignment: Bytes => "0+";
    }
}

api_message! {
    /// This member's assignment.
    pub struct SyncGroupResponse: key 14, versions "0-5", flexible "4+" {
        throttle_time_ms: i32 => "1+";
        error_code: i16 => "0+";
        protocol_type: Option<Str> => "5+", nullable "5+";
        protocol_name: Option<Str> => "5+", nullable "5+";
        assignment: Bytes => "0+";
    }
}
