//! OffsetFetch (key 9): a group's committed offsets; one group per request up to v7, a batch of
//! groups from v8. Served at v1-9.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for the committed offsets of one group (v0-7) or of several (v8+).
    pub struct OffsetFetchRequest: key 9, versions "0-9", flexible "6+" {
        /// The group (v0-7).
        group_id: Str => "0-7";
        /// The partitions to fetch (v0-7); null = every partition the group committed (v2+).
        topics: Option<Vec<OffsetFetchRequestTopic>> => "0-7", nullable "2-7";
        /// The groups to fetch (v8+).
        groups: Vec<OffsetFetchRequestGroup> => "8+";
        /// Whether to answer UNSTABLE_OFFSET_COMMIT for partitions with pending transactional
        /// commits instead of their last stable offset.
        require_stable: bool => "7+";
    }
}

wire_struct! {
    /// One topic's partitions to fetch (v0-7).
    pub struct OffsetFetchRequestTopic {
        name: Str => "0-7";
        partition_indexes: Vec<i32> => "0-7";
    }
}

wire_struct! {
    /// One group to fetch offsets for (v8+).
    pub struct OffsetFetchRequestGroup {
        group_id: Str => "8+";
        /// The member id under the consumer protocol (KIP-848), or null.
        member_id: Option<Str> => "9+", nullable "9+";
        /// The member epoch under the consumer protocol (KIP-848), or -1.
        member_epoch: i32 => "9+", default -1;
        /// The partitions to fetch; null = every partition the group committed.
        topics: Option<Vec<OffsetFetchRequestTopics>> => "8+", nullable "8+";
    }
}

wire_struct! {
    /// One topic's partitions to fetch within a group (v8+).
    pub struct OffsetFetchRequestTopics {
        name: Str => "8+";
        partition_indexes: Vec<i32> => "8+";
    }
}

api_message! {
    /// The committed offsets, per topic (v0-7) or per group (v8+).
    pub struct OffsetFetchResponse: key 9, versions "0-9", flexible "6+" {
        throttle_time_ms: i32 => "3+";
        /// The offsets of the one group asked for (v0-7).
        topics: Vec<OffsetFetchResponseTopic> => "0-7";
        /// The group-level error (v2-7; earlier versions repeat it on every partition).
        error_code: i16 => "2-7";
        /// The offsets per group asked for (v8+).
        groups: Vec<OffsetFetchResponseGroup> => "8+";
    }
}

wire_struct! {
    /// One topic's committed offsets (v0-7).
    pub struct OffsetFetchResponseTopic {
        name: Str => "0-7";
        partitions: Vec<OffsetFetchResponsePartition> => "0-7";
    }
}

wire_struct! {
    /// One partition's committed offset (v0-7).
    pub struct OffsetFetchResponsePartition {
        partition_index: i32 => "0-7";
        /// The committed offset, or -1 if none.
        committed_offset: i64 => "0-7";
        committed_leader_epoch: i32 => "5-7", default -1;
        /// The metadata committed with the offset.
        metadata: Option<Str> => "0-7", nullable "0-7";
        error_code: i16 => "0-7";
    }
}

wire_struct! {
    /// One group's committed offsets and error (v8+).
    pub struct OffsetFetchResponseGroup {
        group_id: Str => "8+";
        topics: Vec<OffsetFetchResponseTopics> => "8+";
        error_code: i16 => "8+";
    }
}

wire_struct! {
    /// One topic's committed offsets within a group (v8+).
    pub struct OffsetFetchResponseTopics {
        name: Str => "8+";
        partitions: Vec<OffsetFetchResponsePartitions> => "8+";
    }
}

wire_struct! {
    /// One partition's committed offset within a group (v8+).
    pub struct OffsetFetchResponsePartitions {
        partition_index: i32 => "8+";
        /// The committed offset, or -1 if none.
        committed_offset: i64 => "8+";
        committed_leader_epoch: i32 => "8+", default -1;
        /// The metadata committed with the offset.
        metadata: Option<Str> => "8+", nullable "8+";
        error_code: i16 => "8+";
    }
}
