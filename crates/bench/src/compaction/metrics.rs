//! Part 2 reads the broker's own account of its cleaner from the Prometheus endpoint
//! (`--metrics`): one `GET /metrics` per scrape over loopback, the text parsed just enough to
//! sum a family's samples.
//!
//! The cleaner's counters (`ringlog_cleaner_*`) grow when a pass *finishes*, with that pass's
//! totals; the dirty topic's `ringlog_partition_size_bytes` falls at each segment swap. So a
//! compaction window ends at the scrape that sees `ringlog_cleaner_passes_total` move, and the
//! difference of the counters across the window is that pass.
//!
//! # Invariants
//! - Bounded: connect, write and read each time out after [`SCRAPE_TIMEOUT_MS`], and a
//!   response larger than [`SCRAPE_BYTES_MAX`] is refused.
//! - A sample line that does not parse is skipped, never guessed at; a family with no sample
//!   sums to 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::load::LoadError;

/// Longest a scrape's connect, write or read may take.
pub const SCRAPE_TIMEOUT_MS: u64 = 5_000;
/// Largest response accepted (a broker with a few partitions answers a few tens of KiB).
pub const SCRAPE_BYTES_MAX: u64 = 16 << 20;

/// Family of finished cleaner passes.
pub const PASSES: &str = "ringlog_cleaner_passes_total";
/// Family of bytes the cleaner read.
pub const READ_BYTES: &str = "ringlog_cleaner_read_bytes_total";
/// Family of bytes the cleaner wrote.
pub const WRITTEN_BYTES: &str = "ringlog_cleaner_written_bytes_total";
/// Family of records the cleaner removed.
pub const RECORDS_REMOVED: &str = "ringlog_cleaner_records_removed_total";
/// Family of seconds the cleaner's steps took.
pub const SECONDS: &str = "ringlog_cleaner_seconds_total";
/// Family of partition sizes.
pub const PARTITION_SIZE: &str = "ringlog_partition_size_bytes";

/// The body of `GET /metrics` at `addr`.
pub fn scrape(addr: SocketAddr) -> Result<String, LoadError> {
    let fail = |what: &str, e: std::io::Error| LoadError(format!("scraping {addr}: {what}: {e}"));
    let timeout = Duration::from_millis(SCRAPE_TIMEOUT_MS);
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail("connect", e))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| fail("socket timeouts", e))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: ringlog-bench\r\n\r\n")
        .map_err(|e| fail("request", e))?;
    let mut raw = Vec::new();
    // One more byte than allowed, to tell a full response from an oversized one.
    s.take(SCRAPE_BYTES_MAX + 1)
        .read_to_end(&mut raw)
        .map_err(|e| fail("response", e))?;
    body_of(&raw).map_err(|why| LoadError(format!("scraping {addr}: {why}")))
}

/// The body of an HTTP response that must be `200`.
fn body_of(raw: &[u8]) -> Result<String, String> {
    if raw.len() as u64 > SCRAPE_BYTES_MAX {
        return Err(format!("response larger than {SCRAPE_BYTES_MAX} bytes"));
    }
    let text = std::str::from_utf8(raw).map_err(|e| format!("response not UTF-8: {e}"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("response without an end of head")?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        let line = head.lines().next().unwrap_or("");
        return Err(format!("status {line:?}"));
    }
    Ok(body.to_string())
}

/// A sample line: family name, labels (key, value), value.
type Parsed<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);

/// One sample line: its family name, labels and value; `None` for comments, blank lines and
/// lines that do not parse.
fn sample(line: &str) -> Option<Parsed<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(inside) = rest.strip_prefix('{') {
        // Label values in our families are topic names and numbers: no escapes to undo, but
        // an escaped quote must not end a value early.
        let mut r = inside;
        loop {
            r = r.trim_start_matches(',');
            if let Some(after) = r.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = r.split_once("=\"")?;
            let mut end = 0;
            let bytes = after.as_bytes();
            while end < bytes.len() && (bytes[end] != b'"' || (end > 0 && bytes[end - 1] == b'\\'))
            {
                end += 1;
            }
            if end == bytes.len() {
                return None;
            }
            labels.push((key.trim(), &after[..end]));
            r = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some((name, labels, value))
}

/// The sum of family `name`'s samples whose labels include every `(key, value)` of `with`.
pub fn sum(text: &str, name: &str, with: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(sample)
        .filter(|(n, labels, _)| *n == name && with.iter().all(|w| labels.contains(w)))
        .map(|(_, _, v)| v)
        .sum()
}

/// The cleaner's counters (all shards) and one partition's size, from one scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CleanerCounters {
    /// Passes finished.
    pub passes: f64,
    /// Bytes read.
    pub read_bytes: f64,
    /// Bytes written.
    pub written_bytes: f64,
    /// Records removed.
    pub records_removed: f64,
    /// Seconds of the passes' steps.
    pub seconds: f64,
    /// Bytes of the watched partition.
    pub partition_bytes: f64,
}

impl CleanerCounters {
    /// The counters of `text`, and the size of `topic`'s partition `partition`.
    pub fn of(text: &str, topic: &str, partition: i32) -> CleanerCounters {
        let p = partition.to_string();
        CleanerCounters {
            passes: sum(text, PASSES, &[]),
            read_bytes: sum(text, READ_BYTES, &[]),
            written_bytes: sum(text, WRITTEN_BYTES, &[]),
            records_removed: sum(text, RECORDS_REMOVED, &[]),
            seconds: sum(text, SECONDS, &[]),
            partition_bytes: sum(
                text,
                PARTITION_SIZE,
                &[("topic", topic), ("partition", p.as_str())],
            ),
        }
    }

    /// Scrapes `addr` for them.
    pub fn scrape(addr: SocketAddr, topic: &str, partition: i32) -> Result<Self, LoadError> {
        Ok(CleanerCounters::of(&scrape(addr)?, topic, partition))
    }

    /// What the counters grew by after `before` (the partition size is not a counter: this
    /// one's is kept).
    pub fn since(&self, before: &CleanerCounters) -> CleanerCounters {
        CleanerCounters {
            passes: (self.passes - before.passes).max(0.0),
            read_bytes: (self.read_bytes - before.read_bytes).max(0.0),
            written_bytes: (self.written_bytes - before.written_bytes).max(0.0),
            records_removed: (self.records_removed - before.records_removed).max(0.0),
            seconds: (self.seconds - before.seconds).max(0.0),
            partition_bytes: self.partition_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP ringlog_cleaner_passes_total Compaction passes finished.\n\
        # TYPE ringlog_cleaner_passes_total counter\n\
        ringlog_cleaner_passes_total{shard=\"0\"} 2\n\
        ringlog_cleaner_passes_total{shard=\"1\"} 1\n\
        ringlog_cleaner_read_bytes_total{shard=\"0\"} 5.5e8\n\
        ringlog_cleaner_seconds_total{shard=\"0\"} 3.25\n\
        ringlog_partition_size_bytes{topic=\"dirty\",partition=\"0\"} 1048576\n\
        ringlog_partition_size_bytes{topic=\"dirty\",partition=\"1\"} 7\n\
        ringlog_partition_size_bytes{topic=\"live\",partition=\"0\"} 99\n\
        ringlog_partition_size_bytes{topic=\"a\\\"b\",partition=\"0\"} 3\n\
        ringlog_io_wq_workers 4\n\
        ringlog_cleaner_written_bytes_total{shard=\"0\"} not-a-number\n\
        ringlog_cleaner_records_removed_total{shard=\"0\" 5\n";

    #[test]
    fn families_are_summed_over_the_matching_labels() {
        assert_eq!(sum(TEXT, PASSES, &[]), 3.0);
        assert_eq!(sum(TEXT, PASSES, &[("shard", "1")]), 1.0);
        assert_eq!(sum(TEXT, READ_BYTES, &[]), 5.5e8);
        assert_eq!(
            sum(
                TEXT,
                PARTITION_SIZE,
                &[("topic", "dirty"), ("partition", "0")]
            ),
            1048576.0
        );
        assert_eq!(sum(TEXT, PARTITION_SIZE, &[("topic", "dirty")]), 1048583.0);
        // An escaped quote inside a value does not end it.
        assert_eq!(sum(TEXT, PARTITION_SIZE, &[("topic", "a\\\"b")]), 3.0);
        // No labels at all.
        assert_eq!(sum(TEXT, "ringlog_io_wq_workers", &[]), 4.0);
        // Lines that do not parse are skipped: a bad value, an unclosed label set.
        assert_eq!(sum(TEXT, WRITTEN_BYTES, &[]), 0.0);
        assert_eq!(sum(TEXT, RECORDS_REMOVED, &[]), 0.0);
        // A family's prefix is not the family.
        assert_eq!(sum(TEXT, "ringlog_cleaner_passes", &[]), 0.0);
        assert_eq!(sum("", PASSES, &[]), 0.0);
    }

    #[test]
    fn counters_differ_across_a_window_and_keep_the_size() {
        let before = CleanerCounters::of(TEXT, "dirty", 0);
        assert_eq!(before.passes, 3.0);
        assert_eq!(before.seconds, 3.25);
        assert_eq!(before.partition_bytes, 1048576.0);
        let after = CleanerCounters {
            passes: 4.0,
            read_bytes: 6.0e8,
            seconds: 4.0,
            partition_bytes: 1000.0,
            ..before
        };
        let d = after.since(&before);
        assert_eq!((d.passes, d.read_bytes, d.seconds), (1.0, 5.0e7, 0.75));
        assert_eq!(d.partition_bytes, 1000.0);
        // A counter that went backwards (a restarted broker) counts 0.
        assert_eq!(before.since(&after).passes, 0.0);
    }

    #[test]
    fn only_a_whole_200_response_has_a_body() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(body_of(ok).unwrap(), "abc");
        let e = body_of(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap_err();
        assert!(e.contains("404"), "{e}");
        assert!(body_of(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(body_of(b"HTTP/1.1 200 OK\r\n\r\n\xff").is_err());
        let huge = vec![b'x'; SCRAPE_BYTES_MAX as usize + 1];
        assert!(body_of(&huge).unwrap_err().contains("larger"));
    }
}
