//! ShareGroupDescribe (key 77, KIP-932): state, members and assignments of share groups.
//! Defined, served and advertised at v1, the only version Kafka 4.4 has (issue #16).

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for a description of each named share group.
    pub struct ShareGroupDescribeRequest: key 77, versions "1", flexible "0+" {
        group_ids: Vec<Str> => "0+";
        include_authorized_operations: bool => "0+";
    }
}

api_message! {
    /// One description per group asked for.
    pub struct ShareGroupDescribeResponse: key 77, versions "1", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        groups: Vec<ShareDescribedGroup> => "0+";
    }
}

wire_struct! {
    /// One share group: its state, epochs, assignor and members.
    pub struct ShareDescribedGroup {
        error_code: i16 => "0+";
        /// The error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        group_id: Str => "0+";
        /// The group state, or the empty string.
        group_state: Str => "0+";
        group_epoch: i32 => "0+";
        assignment_epoch: i32 => "0+";
        /// The assignor the group uses.
        assignor_name: Str => "0+";
        members: Vec<ShareGroupMember> => "0+";
        /// Bitfield of the operations the caller may perform on the group; i32::MIN when not
        /// asked for.
        authorized_operations: i32 => "0+", default i32::MIN;
    }
}

wire_struct! {
    /// One member of a share group.
    pub struct ShareGroupMember {
        member_id: Str => "0+";
        /// The member's rack, or null.
        rack_id: Option<Str> => "0+", nullable "0+";
        member_epoch: i32 => "0+";
        client_id: Str => "0+";
        client_host: Str => "0+";
        subscribed_topic_names: Vec<Str> => "0+";
        /// The member's current assignment.
        assignment: ShareGroupAssignment => "0+";
    }
}

wire_struct! {
    /// A member's assigned partitions.
    pub struct ShareGroupAssignment {
        topic_partitions: Vec<ShareGroupTopicPartitions> => "0+";
    }
}

wire_struct! {
    /// One topic's assigned partitions, by id and name.
    pub struct ShareGroupTopicPartitions {
        topic_id: Uuid => "0+";
        topic_name: Str => "0+";
        /// The partition indexes.
        partitions: Vec<i32> => "0+";
    }
}
