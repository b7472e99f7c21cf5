//! DescribeDelays (key 32000, ringlog-private): per topic, the records a broker holds for
//! scheduled delivery (issue #15). Served at v0 and never advertised in ApiVersions (see
//! [`crate::versions::PRIVATE_APIS`]); `ringlog delays` sends it at v0 without negotiating.
//!
//! Every version is flexible (compact strings and arrays, tagged fields, request header v2,
//! response header v1), as Kafka's newer APIs are, so later fields can be added as tagged ones
//! without a new version. v0 body layouts:
//!
//! ```text
//!  request                              response
//!  +-------------------------------+    +----------------------------------------------+
//!  | topics: compact array of      |    | throttle_time_ms  i32                        |
//!  |   compact string, 0 = null    |    | error_code        i16                        |
//!  |   (null: every topic)         |    | topics: compact array of                     |
//!  | tagged fields                 |    |   name                    compact string     |
//!  +-------------------------------+    |   pending                 i64                |
//!                                       |   next_due_ms             i64  -1 = none     |
//!                                       |   oldest_overdue_lag_ms   i64  0 = none      |
//!                                       |   delivered               i64                |
//!                                       |   tagged fields                              |
//!                                       | tagged fields                                |
//!                                       +----------------------------------------------+
//! ```

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for the scheduled-delivery state of some topics, or of all.
    pub struct DescribeDelaysRequest: key 32_000, versions "0", flexible "0+" {
        /// The topics to describe; null = every topic with scheduled delivery.
        topics: Option<Vec<Str>> => "0+", nullable "0+";
    }
}

api_message! {
    /// The scheduled-delivery state per topic.
    pub struct DescribeDelaysResponse: key 32_000, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        /// A topic asked for is invalid or unknown (then `topics` is empty), else 0.
        error_code: i16 => "0+";
        topics: Vec<DescribedTopicDelays> => "0+";
    }
}

wire_struct! {
    /// One topic's delayed records.
    pub struct DescribedTopicDelays {
        name: Str => "0+";
        /// Records held, not yet appended to their partition.
        pending: i64 => "0+";
        /// Epoch ms when the earliest pending record is due; -1 when none is pending.
        next_due_ms: i64 => "0+", default -1;
        /// How late the oldest overdue pending record already is, in ms; 0 when none is overdue.
        oldest_overdue_lag_ms: i64 => "0+";
        /// Records delivered so far (appended to their partition when due).
        delivered: i64 => "0+";
    }
}
