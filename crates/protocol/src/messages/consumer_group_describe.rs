//! ConsumerGroupDescribe (key 69, KIP-848): state, members and assignments of consumer groups
//! of the new protocol. The Java Admin client's `describeConsumerGroups` sends it first, and
//! DescribeGroups instead for groups it learns are classic or when the broker does not serve
//! it (UNSUPPORTED_VERSION). Defined at v0-1, Kafka 4.4's versions (v1 adds the
//! member's `member_type`, KIP-1099). Served and advertised at v0-1, as a Kafka 4.4 broker does
//! (issue #16).

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

/// `member_type`: not known.
pub const MEMBER_TYPE_UNKNOWN: i8 = -1;
/// `member_type`: a member that joined with the classic protocol (JoinGroup).
pub const MEMBER_TYPE_CLASSIC: i8 = 0;
/// `member_type`: a member of the new protocol (ConsumerGroupHeartbeat).
pub const MEMBER_TYPE_CONSUMER: i8 = 1;

api_message! {
    /// Asks for a description of each named consumer group.
    pub struct ConsumerGroupDescribeRequest: key 69, versions "0-1", flexible "0+" {
        group_ids: Vec<Str> => "0+";
        include_authorized_operations: bool => "0+";
    }
}

api_message! {
    /// One description per group asked for.
    pub struct ConsumerGroupDescribeResponse: key 69, versions "0-1", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        groups: Vec<ConsumerDescribedGroup> => "0+";
    }
}

wire_struct! {
    /// One consumer group: its state, epochs, assignor and members.
    pub struct ConsumerDescribedGroup {
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
        members: Vec<ConsumerGroupMember> => "0+";
        /// Bitfield of the operations the caller may perform on the group; i32::MIN when not
        /// asked for.
        authorized_operations: i32 => "0+", default i32::MIN;
    }
}

wire_struct! {
    /// One member of a consumer group.
    pub struct ConsumerGroupMember {
        member_id: Str => "0+";
        /// The static member's instance id, or null.
        instance_id: Option<Str> => "0+", nullable "0+";
        /// The member's rack, or null.
        rack_id: Option<Str> => "0+", nullable "0+";
        member_epoch: i32 => "0+";
        client_id: Str => "0+";
        client_host: Str => "0+";
        subscribed_topic_names: Vec<Str> => "0+";
        /// The subscribed topic regular expression, or null.
        subscribed_topic_regex: Option<Str> => "0+", nullable "0+";
        /// What the member owns now.
        assignment: ConsumerGroupAssignment => "0+";
        /// What the member is being moved to.
        target_assignment: ConsumerGroupAssignment => "0+";
        /// [`MEMBER_TYPE_CLASSIC`], [`MEMBER_TYPE_CONSUMER`] or [`MEMBER_TYPE_UNKNOWN`] (v1+).
        member_type: i8 => "1+", default MEMBER_TYPE_UNKNOWN;
    }
}

wire_struct! {
    /// A member's assigned partitions.
    pub struct ConsumerGroupAssignment {
        topic_partitions: Vec<ConsumerGroupTopicPartitions> => "0+";
    }
}

wire_struct! {
    /// One topic's assigned partitions, by id and name.
    pub struct ConsumerGroupTopicPartitions {
        topic_id: Uuid => "0+";
        topic_name: Str => "0+";
        /// The partition indexes.
        partitions: Vec<i32> => "0+";
    }
}
