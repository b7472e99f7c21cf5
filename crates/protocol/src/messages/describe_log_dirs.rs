//! DescribeLogDirs (key 35, KIP-113): the log directories and the size of each partition in
//! them, what `kafka-log-dirs.sh --describe` and `Admin.describeLogDirs` ask. Defined at v1-5 as
//! in Kafka 4.4 (v0 was removed in 4.0; flexible from v2): v3 adds the top-level error code, v4
//! the volume's total and usable bytes, v5 whether the directory is cordoned.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The partitions to describe, or null for all.
    pub struct DescribeLogDirsRequest: key 35, versions "1-5", flexible "2+" {
        topics: Option<Vec<DescribableLogDirTopic>> => "1+", nullable "1+";
    }
}

wire_struct! {
    /// The partitions of one topic to describe.
    pub struct DescribableLogDirTopic {
        topic: Str => "1+";
        partitions: Vec<i32> => "1+";
    }
}

api_message! {
    /// One result per log directory.
    pub struct DescribeLogDirsResponse: key 35, versions "1-5", flexible "2+" {
        throttle_time_ms: i32 => "1+";
        error_code: i16 => "3+";
        results: Vec<DescribeLogDirsResult> => "1+";
    }
}

wire_struct! {
    /// One log directory and the partitions in it.
    pub struct DescribeLogDirsResult {
        error_code: i16 => "1+";
        /// The absolute path of the directory.
        log_dir: Str => "1+";
        topics: Vec<DescribeLogDirsTopic> => "1+";
        /// The size of the volume holding the directory, -1 if unknown.
        total_bytes: i64 => "4+", default -1;
        /// The bytes of that volume usable by the broker, -1 if unknown.
        usable_bytes: i64 => "4+", default -1;
        is_cordoned: bool => "5+";
    }
}

wire_struct! {
    /// One topic's partitions in a log directory.
    pub struct DescribeLogDirsTopic {
        name: Str => "1+";
        partitions: Vec<DescribeLogDirsPartition> => "1+";
    }
}

wire_struct! {
    /// One partition's log in a directory.
    pub struct DescribeLogDirsPartition {
        partition_index: i32 => "1+";
        /// The bytes of its segments.
        partition_size: i64 => "1+";
        /// How far the log end is past the high watermark (or, for a future log, behind the
        /// current one).
        offset_lag: i64 => "1+";
        /// The log is a future replica being moved here by AlterReplicaLogDirs.
        is_future_key: bool => "1+";
    }
}
