//! DescribeGroups (key 15): state, protocol and members of groups. Served at v0-5; the
//! definition also covers v6 (KIP-1043 error message), taken from the kafka-protocol crate.

use bytes::Bytes;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for a description of each named group.
    pub struct DescribeGroupsRequest: key 15, versions "0-6", flexible "5+" {
        groups: Vec<Str> => "0+";
        include_authorized_operations: bool => "3+";
    }
}

api_message! {
    /// One description per group asked for.
    pub struct DescribeGroupsResponse: key 15, versions "0-6", flexible "5+" {
        throttle_time_ms: i32 => "1+";
        groups: Vec<DescribedGroup> => "0+";
    }
}

wire_struct! {
    /// One group: its state, protocol and members.
    pub struct DescribedGroup {
        error_code: i16 => "0+";
        /// The error's message, or null (v6+).
        error_message: Option<Str> => "6+", nullable "6+";
        group_id: Str => "0+";
        /// "Stable", "PreparingRebalance", "Empty", "Dead", ... or empty.
        group_state: Str => "0+";
        /// The protocol type, e.g. "consumer", or empty.
        protocol_type: Str => "0+";
        /// The chosen protocol's name, e.g. "range", or empty.
        protocol_data: Str => "0+";
        members: Vec<DescribedGroupMember> => "0+";
        /// Bitfield of the operations the client may perform on the group (v3+).
        authorized_operations: i32 => "3+", default i32::MIN;
    }
}

wire_struct! {
    /// One member of a described group.
    pub struct DescribedGroupMember {
        member_id: Str => "0+";
        group_instance_id: Option<Str> => "4+", nullable "4+";
        /// The client id of the member's last JoinGroup.
        client_id: Str => "0+";
        client_host: Str => "0+";
        /// The member's metadata for the chosen protocol.
        member_metadata: Bytes => "0+";
        /// The assignment the leader gave the member.
        member_assignment: Bytes => "0+";
    }
}
