//! Prometheus text exposition format 0.0.4: the metric families, and a writer that appends
//! samples to one `String` without allocating per line.
//!
//! ```text
//! # HELP ringlog_requests_total Requests answered, per shard and API.
//! # TYPE ringlog_requests_total counter
//! ringlog_requests_total{shard="0",api="Produce"} 1042
//! ringlog_request_duration_seconds_bucket{shard="0",api="Produce",le="0.001"} 998
//! ...
//! ringlog_request_duration_seconds_bucket{shard="0",api="Produce",le="+Inf"} 1042
//! ringlog_request_duration_seconds_sum{shard="0",api="Produce"} 0.73
//! ringlog_request_duration_seconds_count{shard="0",api="Produce"} 1042
//! ```
//!
//! # Invariants
//! - Every family is declared once, in [`FAMILIES`], in [`Family`] order.
//! - Label values are escaped (`\\`, `\"`, `\n`); names and label names are constants.

use std::fmt::Write as _;

use crate::storage::stats::HistogramSnapshot;

/// Prometheus metric types used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
    /// `le` buckets, `_sum`, `_count`.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metric family: name, type, HELP text.
pub struct FamilyDef {
    /// Full metric name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// The HELP line.
    pub help: &'static str,
}

macro_rules! families {
    ($($variant:ident => $name:literal, $kind:ident, $help:literal;)*) => {
        /// Every metric family, in the order they are written.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Family {
            $(
                #[doc = $help]
                $variant,
            )*
        }

        /// The families' declarations, in [`Family`] order.
        pub const FAMILIES: &[FamilyDef] = &[
            $( FamilyDef { name: $name, kind: Kind::$kind, help: $help }, )*
        ];
    };
}

families! {
    Requests => "ringlog_requests_total", Counter,
        "Requests answered (acks=0 Produce: handled), per shard (the connection's) and API.";
    RequestErrors => "ringlog_request_errors_total", Counter,
        "Responses, or partitions of Produce responses, answered with a Kafka error code, per shard, API and code.";
    RequestDuration => "ringlog_request_duration_seconds", Histogram,
        "Time from a request frame read to its response written, per shard and API.";
    RequestsRejected => "ringlog_requests_rejected_total", Counter,
        "Requests refused before a handler (frame size, unknown API, unsupported version, malformed, frame read timeout), per shard and reason.";
    BytesIn => "ringlog_bytes_in_total", Counter,
        "Request frame bytes received, per shard.";
    BytesOut => "ringlog_bytes_out_total", Counter,
        "Response bytes sent (headers and record bytes), per shard.";
    ConnectionsOpen => "ringlog_connections_open", Gauge,
        "Kafka client connections open, per shard.";
    ConnectionsAccepted => "ringlog_connections_accepted_total", Counter,
        "Kafka client connections accepted, per shard.";
    TransferBytes => "ringlog_transfer_bytes_total", Counter,
        "Fetch record bytes sent from segment files, per shard and transfer path (auto resolved to the path it chose).";
    TransferZeroCopyBytes => "ringlog_transfer_zero_copy_bytes_total", Counter,
        "Fetch record bytes sent without a copy through user space (sendfile, splice, uring-splice, uring-send-zc), per shard.";
    FsyncDuration => "ringlog_fsync_duration_seconds", Histogram,
        "Group-commit fdatasync latency of partition and state logs, per shard.";
    FsyncFailures => "ringlog_fsync_failures_total", Counter,
        "Failed fdatasyncs (each poisons its log until reopened), per shard.";
    GroupCommitRecords => "ringlog_group_commit_records", Histogram,
        "Records made durable by one group-commit fdatasync, per shard.";
    UringSqes => "ringlog_uring_submissions_total", Counter,
        "io_uring SQEs queued, per shard (io_uring shards only).";
    UringCqes => "ringlog_uring_completions_total", Counter,
        "io_uring CQEs reaped, per shard (io_uring shards only).";
    UringEnters => "ringlog_uring_enters_total", Counter,
        "io_uring_enter calls, per shard (io_uring shards only).";
    OpsInFlight => "ringlog_io_ops_in_flight", Gauge,
        "io_uring ops (or epoll helper jobs) in flight, per shard.";
    IoWqWorkers => "ringlog_io_wq_workers", Gauge,
        "iou-wrk threads of the process now. io-wq punts are not reported per op by the kernel; workers exist only while punted work (buffered file writes, splices from files) runs or recently ran, so this is the observable trace of punting.";
    StandingBufferBytes => "ringlog_request_buffer_standing_bytes", Gauge,
        "Standing read buffers of open connections (64 KiB each, outside the request budget), per shard: an upper estimate.";
    RequestBudgetUsed => "ringlog_request_budget_used_bytes", Gauge,
        "Bytes of the broker-wide request memory budget (queued-max-request-bytes) held now: large request frames and copy/mmap Fetch buffers. The runtime uses no provided-buffer rings.";
    RequestBudgetLimit => "ringlog_request_budget_limit_bytes", Gauge,
        "The broker-wide request memory budget (queued-max-request-bytes).";
    Partitions => "ringlog_partitions", Gauge,
        "Partitions open, per owning shard.";
    PartitionLogEnd => "ringlog_partition_log_end_offset", Gauge,
        "One past the last written offset, per partition.";
    PartitionLogStart => "ringlog_partition_log_start_offset", Gauge,
        "The first retained offset, per partition.";
    PartitionHighWatermark => "ringlog_partition_high_watermark", Gauge,
        "The offset below which records are visible to consumers, per partition.";
    PartitionSize => "ringlog_partition_size_bytes", Gauge,
        "Bytes in the partition's segments.";
    PartitionSegments => "ringlog_partition_segments", Gauge,
        "Segments of the partition (sealed and active).";
    ConsumerCommitted => "ringlog_consumer_committed_offset", Gauge,
        "Committed offset per consumer group and partition.";
    ConsumerLag => "ringlog_consumer_lag", Gauge,
        "High watermark minus the committed offset (0 when the commit is ahead), per group and partition.";
    CleanerPasses => "ringlog_cleaner_passes_total", Counter,
        "Compaction passes finished, per shard.";
    CleanerSegments => "ringlog_cleaner_segments_total", Counter,
        "Segments rewritten by compaction, per shard.";
    CleanerBytesRead => "ringlog_cleaner_read_bytes_total", Counter,
        "Segment bytes read by compaction, per shard.";
    CleanerBytesWritten => "ringlog_cleaner_written_bytes_total", Counter,
        "Bytes written by compaction, per shard.";
    CleanerRecordsRemoved => "ringlog_cleaner_records_removed_total", Counter,
        "Records dropped by compaction (superseded by a later record with the same key), per shard.";
    CleanerTombstonesRemoved => "ringlog_cleaner_tombstones_removed_total", Counter,
        "Tombstones dropped by compaction after delete.retention.ms, per shard.";
    CleanerSeconds => "ringlog_cleaner_seconds_total", Counter,
        "Time spent compacting, per shard.";
    ViewBytesZeroCopy => "ringlog_view_bytes_zero_copy_total", Counter,
        "Bytes of whole-match batches a filtered view sent as they are stored (zero-copy), per shard and view.";
    ViewBytesRewritten => "ringlog_view_bytes_rewritten_total", Counter,
        "Bytes of batches a filtered view read and cut to their matching records, per shard and view.";
    ViewBatches => "ringlog_view_batches_total", Counter,
        "Source batches a filtered view decided, per shard, view and outcome (whole: sent as stored; skipped: not read; rewritten: read and cut; unindexed: read for want of a summary).";
}

/// Number of families.
pub const FAMILY_COUNT: usize = FAMILIES.len();

impl Family {
    /// Its declaration.
    pub fn def(self) -> &'static FamilyDef {
        &FAMILIES[self as usize]
    }
}

/// One shard's (or the controller's broker-wide) samples, one chunk of text per family.
pub struct Chunks {
    /// Indexed by [`Family`].
    pub text: Vec<String>,
}

impl Default for Chunks {
    fn default() -> Self {
        Chunks::new()
    }
}

impl Chunks {
    /// Empty chunks.
    pub fn new() -> Chunks {
        Chunks {
            text: (0..FAMILY_COUNT).map(|_| String::new()).collect(),
        }
    }

    /// The chunk of a family, to append samples to.
    pub fn of(&mut self, family: Family) -> &mut String {
        &mut self.text[family as usize]
    }

    /// Bytes of text held.
    pub fn len(&self) -> usize {
        self.text.iter().map(String::len).sum()
    }

    /// No samples at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The whole exposition: every family's HELP and TYPE, then its chunk from each part in order.
pub fn assemble(parts: &[Chunks]) -> String {
    let body: usize = parts.iter().map(Chunks::len).sum();
    let headers: usize = FAMILIES
        .iter()
        .map(|f| 2 * f.name.len() + f.help.len() + 32)
        .sum();
    let mut out = String::with_capacity(body + headers);
    for (i, def) in FAMILIES.iter().enumerate() {
        out.push_str("# HELP ");
        out.push_str(def.name);
        out.push(' ');
        out.push_str(def.help);
        out.push_str("\n# TYPE ");
        out.push_str(def.name);
        out.push(' ');
        out.push_str(def.kind.as_str());
        out.push('\n');
        for part in parts {
            out.push_str(&part.text[i]);
        }
    }
    out
}

/// A label value: text (escaped when written) or an integer.
#[derive(Clone, Copy, Debug)]
pub enum Label<'a> {
    /// Text.
    Str(&'a str),
    /// A number.
    Int(i64),
}

/// Appends `name{k="v",...} ` (no value) to `out`.
fn series(out: &mut String, name: &str, suffix: &str, labels: &[(&str, Label<'_>)]) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        push_labels(out, labels);
        out.push('}');
    }
    out.push(' ');
}

/// Appends `k="v",k="v"` (escaped values).
fn push_labels(out: &mut String, labels: &[(&str, Label<'_>)]) {
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        match v {
            Label::Str(s) => push_escaped(out, s),
            Label::Int(n) => push_i64(out, *n),
        }
        out.push('"');
    }
}

/// One integer sample.
pub fn int(out: &mut String, family: Family, labels: &[(&str, Label<'_>)], value: i64) {
    series(out, family.def().name, "", labels);
    push_i64(out, value);
    out.push('\n');
}

/// One unsigned sample.
pub fn uint(out: &mut String, family: Family, labels: &[(&str, Label<'_>)], value: u64) {
    series(out, family.def().name, "", labels);
    push_u64(out, value);
    out.push('\n');
}

/// One floating-point sample.
pub fn float(out: &mut String, family: Family, labels: &[(&str, Label<'_>)], value: f64) {
    series(out, family.def().name, "", labels);
    push_f64(out, value);
    out.push('\n');
}

/// A histogram's buckets, sum and count. `scale` divides bounds and the sum (1e9 for ns ->
/// seconds, 1 for plain counts).
pub fn histogram(
    out: &mut String,
    family: Family,
    labels: &[(&str, Label<'_>)],
    h: &HistogramSnapshot,
    scale: f64,
) {
    let name = family.def().name;
    let bucket = |out: &mut String, le: Option<f64>, cumulative: u64| {
        out.push_str(name);
        out.push_str("_bucket{");
        push_labels(out, labels);
        if !labels.is_empty() {
            out.push(',');
        }
        out.push_str("le=\"");
        match le {
            Some(bound) => push_f64(out, bound),
            None => out.push_str("+Inf"),
        }
        out.push_str("\"} ");
        push_u64(out, cumulative);
        out.push('\n');
    };
    for (bound, cumulative) in h.cumulative() {
        bucket(out, Some(bound as f64 / scale), cumulative);
    }
    bucket(out, None, h.count);
    series(out, name, "_sum", labels);
    push_f64(out, h.sum as f64 / scale);
    out.push('\n');
    series(out, name, "_count", labels);
    push_u64(out, h.count);
    out.push('\n');
}

/// Escapes `\`, `"` and newlines, as the text format requires of label values.
pub fn push_escaped(out: &mut String, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Decimal digits of `v` without going through `fmt` (the per-partition lines are most of a
/// large scrape).
pub fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // The bytes are ASCII digits.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Decimal `v`, with a minus sign when negative.
pub fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// A float as Prometheus parses it (`NaN`, `+Inf`, `-Inf`, or Rust's shortest round-trip
/// decimal).
pub fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::stats::Histogram;

    #[test]
    fn families_have_unique_prometheus_names() {
        let mut names = std::collections::HashSet::new();
        for f in FAMILIES {
            assert!(names.insert(f.name), "{} twice", f.name);
            assert!(f.name.starts_with("ringlog_"), "{}", f.name);
            assert!(
                f.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                f.name
            );
            assert_eq!(
                f.kind == Kind::Counter,
                f.name.ends_with("_total"),
                "counters and only counters end in _total: {}",
                f.name
            );
            assert!(!f.help.contains('\n'), "{}", f.name);
        }
        assert_eq!(Family::ViewBatches as usize, FAMILY_COUNT - 1);
    }

    #[test]
    fn samples_escape_labels_and_format_numbers() {
        let mut out = String::new();
        int(
            &mut out,
            Family::ConsumerLag,
            &[
                ("group", Label::Str("a\"b\\c\nd")),
                ("topic", Label::Str("t")),
                ("partition", Label::Int(-3)),
            ],
            i64::MIN,
        );
        assert_eq!(
            out,
            "ringlog_consumer_lag{group=\"a\\\"b\\\\c\\nd\",topic=\"t\",partition=\"-3\"} -9223372036854775808\n"
        );
        out.clear();
        uint(&mut out, Family::BytesIn, &[], u64::MAX);
        assert_eq!(out, "ringlog_bytes_in_total 18446744073709551615\n");
        out.clear();
        for (v, s) in [
            (0.0, "0"),
            (0.25, "0.25"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ] {
            out.clear();
            push_f64(&mut out, v);
            assert_eq!(out, s);
        }
        for v in [0u64, 7, 10, 99, 100, 12345678901234567890] {
            out.clear();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string());
        }
    }

    #[test]
    fn histogram_lines_are_cumulative_and_end_with_inf_sum_count() {
        let h = Histogram::new(&[1_000_000, 10_000_000]);
        h.record(500_000);
        h.record(5_000_000);
        h.record(50_000_000);
        let mut out = String::new();
        histogram(
            &mut out,
            Family::FsyncDuration,
            &[("shard", Label::Int(1))],
            &h.snapshot(),
            1e9,
        );
        assert_eq!(
            out,
            "ringlog_fsync_duration_seconds_bucket{shard=\"1\",le=\"0.001\"} 1\n\
             ringlog_fsync_duration_seconds_bucket{shard=\"1\",le=\"0.01\"} 2\n\
             ringlog_fsync_duration_seconds_bucket{shard=\"1\",le=\"+Inf\"} 3\n\
             ringlog_fsync_duration_seconds_sum{shard=\"1\"} 0.0555\n\
             ringlog_fsync_duration_seconds_count{shard=\"1\"} 3\n"
        );
    }

    #[test]
    fn assemble_groups_each_family_under_one_header() {
        let mut a = Chunks::new();
        let mut b = Chunks::new();
        uint(
            a.of(Family::BytesIn),
            Family::BytesIn,
            &[("shard", Label::Int(0))],
            1,
        );
        uint(
            b.of(Family::BytesIn),
            Family::BytesIn,
            &[("shard", Label::Int(1))],
            2,
        );
        uint(
            b.of(Family::BytesOut),
            Family::BytesOut,
            &[("shard", Label::Int(1))],
            3,
        );
        let text = assemble(&[a, b]);
        let lines: Vec<&str> = text.lines().collect();
        let i = lines
            .iter()
            .position(|l| *l == "# TYPE ringlog_bytes_in_total counter")
            .unwrap();
        assert_eq!(lines[i + 1], "ringlog_bytes_in_total{shard=\"0\"} 1");
        assert_eq!(lines[i + 2], "ringlog_bytes_in_total{shard=\"1\"} 2");
        assert_eq!(lines[i + 3], "# HELP ringlog_bytes_out_total Response bytes sent (headers and record bytes), per shard.");
        assert_eq!(
            text.matches("# TYPE ").count(),
            FAMILY_COUNT,
            "every family declared once"
        );
    }
}
