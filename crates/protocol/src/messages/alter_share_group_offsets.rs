//! AlterShareGroupOffsets (key 91, KIP-932): sets share partitions' start offsets of an empty
//! share group; the Java Admin client's `alterShareGroupOffsets`. Defined at v0, the only version
//! Kafka 4.4 has. Served and advertised at v0, as a Kafka 4.4 broker does (issue #16).

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// New start offsets for one group's share partitions.
    pub struct AlterShareGroupOffsetsRequest: key 91, versions "0", flexible "0+" {
        group_id: Str => "0+";
        topics: Vec<AlterShareGroupOffsetsRequestTopic> => "0+";
    }
}

wire_struct! {
    /// One topic's partitions, by name.
    pub struct AlterShareGroupOffsetsRequestTopic {
        topic_name: Str => "0+";
        partitions: Vec<AlterShareGroupOffsetsRequestPartition> => "0+";
    }
}

wire_struct! {
    /// One partition's new share-partition start offset.
    pub struct AlterShareGroupOffsetsRequestPartition {
        partition_index: i32 => "0+";
        start_offset: i64 => "0+";
    }
}

api_message! {
    /// The outcome for the group and for each partition.
    pub struct AlterShareGroupOffsetsResponse: key 91, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        /// The top-level error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
        responses: Vec<AlterShareGroupOffsetsResponseTopic> => "0+";
    }
}

wire_struct! {
    /// One topic's partition outcomes, by name and id.
    pub struct AlterShareGroupOffsetsResponseTopic {
        topic_name: Str => "0+";
        topic_id: Uuid => "0+";
        partitions: Vec<AlterShareGroupOffsetsResponsePartition> => "0+";
    }
}

wire_struct! {
    /// One partition's outcome.
    pub struct AlterShareGroupOffsetsResponsePartition {
        partition_index: i32 => "0+";
        error_code: i16 => "0+";
        /// The error's message, or null.
        error_message: Option<Str> => "0+", nullable "0+";
    }
}
