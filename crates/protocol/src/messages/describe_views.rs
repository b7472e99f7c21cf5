//! DescribeViews (key 32002, ringlog-private): filtered views (issue #17) with their source,
//! filter and partition count, and what serving them cost, summed over every shard since the
//! broker started: bytes sent zero-copy against bytes rewritten, and batches sent whole, skipped
//! unread, rewritten, or read because the filter index had no summary for them. Behind `ringlog
//! views list|describe`. Served at v0 and never advertised in ApiVersions (see
//! [`crate::versions::PRIVATE_APIS`]); Kafka has no views.
//!
//! Flexible at every version, as DescribeDelays. v0 body layouts:
//!
//! ```text
//!  request                              response
//!  +-------------------------------+    +----------------------------------------------+
//!  | views: compact array of       |    | throttle_time_ms  i32                        |
//!  |   compact string, 0 = null    |    | error_code        i16                        |
//!  |   (null: every view)          |    | error_message     compact string, 0 = null   |
//!  | tagged fields                 |    | views: compact array of                      |
//!  +-------------------------------+    |   name                   compact string      |
//!                                       |   source                 compact string      |
//!                                       |   filter                 compact string      |
//!                                       |   partitions             i32                 |
//!                                       |   bytes_zero_copy        i64                 |
//!                                       |   bytes_rewritten        i64                 |
//!                                       |   batches_whole          i64                 |
//!                                       |   batches_skipped        i64                 |
//!                                       |   batches_rewritten      i64                 |
//!                                       |   batches_unindexed      i64                 |
//!                                       |   index_backlog_offsets  i64                 |
//!                                       |   tagged fields                              |
//!                                       | tagged fields                                |
//!                                       +----------------------------------------------+
//! ```

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for some views, or all.
    pub struct DescribeViewsRequest: key 32_002, versions "0", flexible "0+" {
        /// The views to describe; null = every view.
        views: Option<Vec<Str>> => "0+", nullable "0+";
    }
}

api_message! {
    /// The views asked for, sorted by name.
    pub struct DescribeViewsResponse: key 32_002, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        /// INVALID_TOPIC_EXCEPTION for an invalid name, UNKNOWN_TOPIC_OR_PARTITION for a name
        /// that is not a view (then `views` is empty), else 0.
        error_code: i16 => "0+";
        /// What was wrong, naming the view; null when `error_code` is 0.
        error_message: Option<Str> => "0+", nullable "0+";
        views: Vec<DescribedView> => "0+";
    }
}

wire_struct! {
    /// One view: its definition and its counters summed over every shard.
    pub struct DescribedView {
        name: Str => "0+";
        /// The topic whose records the view filters.
        source: Str => "0+";
        /// The filter, as given at creation.
        filter: Str => "0+";
        /// Partitions (its source's).
        partitions: i32 => "0+";
        /// Bytes of batches in which every record matched, sent as stored (zero-copy).
        bytes_zero_copy: i64 => "0+";
        /// Bytes of batches rewritten to their matching records.
        bytes_rewritten: i64 => "0+";
        /// Batches sent whole.
        batches_whole: i64 => "0+";
        /// Batches in which no record matched, skipped without reading them.
        batches_skipped: i64 => "0+";
        /// Batches read and cut down to their matching records.
        batches_rewritten: i64 => "0+";
        /// Batches read because the filter index had no summary for them (yet).
        batches_unindexed: i64 => "0+";
        /// Offsets of the source the index builder has not looked at yet, over all
        /// partitions (0: caught up; batches appended meanwhile are indexed as they come).
        index_backlog_offsets: i64 => "0+";
    }
}
