//! SyncGroup (key 14): after a join, the leader hands in every member's assignment and each
//! member collects its own. Served at v0-5.

use bytes::Bytes;

use crate::wire::{Cx, Reader, Str, Wire, WireError};
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

wire_struct! {
    /// What a "consumer" protocol leader assigns one member: the content of a SyncGroup
    /// `assignment` after its own i16 version (Kafka's ConsumerProtocolAssignment, v0-3, never
    /// flexible). Decode with [`ConsumerProtocolAssignment::decode_versioned`].
    pub struct ConsumerProtocolAssignment {
        assigned_partitions: Vec<AssignedTopicPartitions> => "0+";
        user_data: Option<Bytes> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// One topic's assigned partitions.
    pub struct AssignedTopicPartitions {
        topic: Str => "0+";
        partitions: Vec<i32> => "0+";
    }
}

impl ConsumerProtocolAssignment {
    /// The newest version defined; a newer one is read as this one (its known prefix).
    pub const VERSION_MAX: i16 = 3;

    /// Decodes assignment bytes: an i16 version, then the assignment at that version (clamped
    /// to 0..=[`Self::VERSION_MAX`]).
    pub fn decode_versioned(bytes: Bytes) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.i16()?.clamp(0, Self::VERSION_MAX);
        let cx = Cx {
            version,
            flexible: false,
            nullable: false,
        };
        Self::read(&mut r, cx)
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::consumer_protocol_assignment as kp;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;

    /// Kafka's bytes (kafka-protocol as the oracle) at every version, with the version prefix.
    fn kafka_bytes(version: i16, encode_at: i16) -> Bytes {
        let theirs = kp::ConsumerProtocolAssignment::default()
            .with_assigned_partitions(vec![kp::TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![0, 2])])
            .with_user_data(Some(Bytes::from_static(b"u")));
        let mut out = BytesMut::new();
        out.put_i16(version);
        theirs.encode(&mut out, encode_at).expect("encodes");
        out.freeze()
    }

    #[test]
    fn consumer_protocol_assignment_reads_kafka_bytes() {
        let expected = ConsumerProtocolAssignment {
            assigned_partitions: vec![AssignedTopicPartitions {
                topic: Str::from_static("t"),
                partitions: vec![0, 2],
            }],
            user_data: Some(Bytes::from_static(b"u")),
        };
        for version in 0..=ConsumerProtocolAssignment::VERSION_MAX {
            let bytes = kafka_bytes(version, version);
            assert_eq!(
                ConsumerProtocolAssignment::decode_versioned(bytes.clone()),
                Ok(expected.clone()),
                "v{version}"
            );
            for cut in 0..bytes.len() {
                assert!(ConsumerProtocolAssignment::decode_versioned(bytes.slice(..cut)).is_err());
            }
        }
        // A newer version is read by its known prefix.
        assert_eq!(
            ConsumerProtocolAssignment::decode_versioned(kafka_bytes(7, 3)),
            Ok(expected)
        );
    }
}
