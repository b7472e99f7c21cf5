//! LeaveGroup (key 13): members leave a classic group; one member up to v2, a batch from v3.
//! Served at v0-5.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Removes one member (v0-2) or several (v3+) from a group.
    pub struct LeaveGroupRequest: key 13, versions "0-5", flexible "4+" {
        group_id: Str => "0+";
        /// The member leaving (v0-2).
        member_id: Str => "0-2";
        /// The members leaving (v3+).
        members: Vec<MemberIdentity> => "3+";
    }
}

wire_struct! {
    /// One member leaving, by member id and/or static instance id.
    pub struct MemberIdentity {
        member_id: Str => "3+";
        group_instance_id: Option<Str> => "3+", nullable "3+";
        /// Why the member leaves, for the broker's log.
        reason: Option<Str> => "5+", nullable "5+";
    }
}

api_message! {
    /// The overall result, and one per member from v3.
    pub struct LeaveGroupResponse: key 13, versions "0-5", flexible "4+" {
        throttle_time_ms: i32 => "1+";
        error_code: i16 => "0+";
        members: Vec<MemberResponse> => "3+";
    }
}

wire_struct! {
    /// The result for one member leaving (v3+).
    pub struct MemberResponse {
        member_id: Str => "3+";
        group_instance_id: Option<Str> => "3+", nullable "3+";
        error_code: i16 => "3+";
    }
}
