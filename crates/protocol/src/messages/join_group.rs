//! JoinGroup (key 11): a member joins (or rejoins) a classic group and waits for the rebalance.
//! Served at v0-9.

use bytes::Bytes;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Joins a group, offering the assignment protocols the member supports.
    pub struct JoinGroupRequest: key 11, versions "0-9", flexible "6+" {
        group_id: Str => "0+";
        /// No heartbeat for this long and the member is removed.
        session_timeout_ms: i32 => "0+";
        /// How long the coordinator waits for every member to rejoin during a rebalance
        /// (v0 uses the session timeout).
        rebalance_timeout_ms: i32 => "1+", default -1;
        /// Empty on the first join; the id the coordinator assigned afterwards.
        member_id: Str => "0+";
        /// The static member's instance id (KIP-345), if any.
        group_instance_id: Option<Str> => "5+", nullable "5+";
        /// The protocol class, e.g. "consumer".
        protocol_type: Str => "0+";
        protocols: Vec<JoinGroupRequestProtocol> => "0+";
        /// Why the member (re)joins, for the broker's log.
        reason: Option<Str> => "8+", nullable "8+";
    }
}

impl JoinGroupRequest {
    /// Whether a new member (empty member id, no group instance id) must first get its member id
    /// with MEMBER_ID_REQUIRED and join again with it, instead of joining at once: from v4 on
    /// (KIP-394; Kafka's `JoinGroupRequest.requiresKnownMemberId`), so that a client that times
    /// out during a long join rejoins as the same member instead of leaving one behind.
    pub fn requires_known_member_id(version: i16) -> bool {
        version >= 4
    }
}

wire_struct! {
    /// One assignment protocol the member supports, with its metadata.
    pub struct JoinGroupRequestProtocol {
        /// The protocol name, e.g. "range".
        name: Str => "0+";
        metadata: Bytes => "0+";
    }
}

api_message! {
    /// The generation joined, the chosen protocol and (for the leader) every member.
    pub struct JoinGroupResponse: key 11, versions "0-9", flexible "6+" {
        throttle_time_ms: i32 => "2+";
        error_code: i16 => "0+";
        generation_id: i32 => "0+", default -1;
        protocol_type: Option<Str> => "7+", nullable "7+";
        /// The assignment protocol the coordinator chose.
        protocol_name: Option<Str> => "0+", nullable "7+";
        /// The leader's member id.
        leader: Str => "0+";
        /// Whether the leader must skip running the assignment (KIP-814).
        skip_assignment: bool => "9+";
        /// The member id of the member that joined.
        member_id: Str => "0+";
        /// Every member (sent to the leader only; empty for the others).
        members: Vec<JoinGroupResponseMember> => "0+";
    }
}

wire_struct! {
    /// One member of the group, as the leader sees it.
    pub struct JoinGroupResponseMember {
        member_id: Str => "0+";
        group_instance_id: Option<Str> => "5+", nullable "5+";
        /// The member's metadata for the chosen protocol.
        metadata: Bytes => "0+";
    }
}
