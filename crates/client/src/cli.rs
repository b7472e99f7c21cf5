//! What `ringlog produce`, `consume`, `topics`, `delays`, `views` and `inspect` do, as library functions
//! over readers and writers, so the binary only parses arguments and tests need no process.
//!
//! # Invariants
//! - Every loop is bounded: `produce` batches at most [`BATCH_RECORDS_MAX`] records or
//!   [`BATCH_BYTES_MAX`] bytes and keeps at most [`PRODUCE_IN_FLIGHT_MAX`] batches unanswered;
//!   `consume` stops at `count`, at the end with `exit_at_end`, or runs until interrupted with
//!   every fetch bounded by `max_wait`.
//! - Bad input (addresses, times, files) is a [`CliError`] with a message, never a panic.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::api::{self, TopicDelays, ViewInfo, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use super::connection::Connection;
use super::error::ClientError;
use super::records::{self, Compression, ProducerRecord};
use ringlog_protocol::messages::ProduceRequest;
use ringlog_protocol::ApiKey;
use ringlog_runtime::{block_on, IoKind, RuntimeConfig};
use ringlog_storage::batch::{self, BatchHeader, HEADER_BYTES};

/// Broker address used when `--broker` is not given.
pub const BROKER_DEFAULT: &str = "127.0.0.1:9092";
/// Records per produced batch: amortises request overhead while keeping a batch well under the
/// broker's per-batch bound.
pub const BATCH_RECORDS_MAX: usize = 1000;
/// Uncompressed bytes per produced batch: half of Kafka's default 1 MiB `max.message.bytes`, so
/// a batch is never refused for size even with per-record overhead.
pub const BATCH_BYTES_MAX: usize = 512 * 1024;
/// Produce requests awaiting acknowledgement at once: enough to hide a round trip behind
/// reading stdin, few enough that a failure is noticed within a few batches.
pub const PRODUCE_IN_FLIGHT_MAX: usize = 8;
/// Largest input line accepted by `produce` (one record), in bytes.
pub const LINE_BYTES_MAX: usize = BATCH_BYTES_MAX;
/// Fetch size per partition and request: Kafka's default `max.partition.fetch.bytes` (1 MiB).
pub const FETCH_BYTES_DEFAULT: i32 = 1024 * 1024;
/// Largest fetch size `consume` grows to when a single batch is bigger than the current one.
pub const FETCH_BYTES_MAX: i32 = 64 * 1024 * 1024;
/// Long-poll wait of `consume` when not exiting at the end (Kafka's `fetch.max.wait.ms`).
pub const CONSUME_WAIT_DEFAULT: Duration = Duration::from_millis(500);

/// A command failure: the message to print; the exit code is 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError(e.to_string())
    }
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |e| CliError(format!("{what}: {e}"))
}

/// The runtime a command runs on: one unpinned shard (io_uring, or epoll where the kernel has
/// no usable ring).
pub fn runtime_config() -> RuntimeConfig {
    RuntimeConfig {
        cores: 1,
        io: IoKind::Uring,
        pin: false,
        ..RuntimeConfig::default()
    }
}

/// Runs `fut` on a one-shard runtime.
pub fn run<T>(fut: impl std::future::Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    block_on(&runtime_config(), fut).map_err(|e| CliError(format!("starting the runtime: {e}")))?
}

/// Resolves `HOST:PORT` (a name or an address) to the first socket address.
pub fn resolve_broker(broker: &str) -> Result<SocketAddr, CliError> {
    let bad = |why: String| CliError(format!("bad --broker '{broker}': {why}"));
    let mut addrs = broker.to_socket_addrs().map_err(|e| bad(e.to_string()))?;
    addrs.next().ok_or_else(|| bad("no address".into()))
}

/// Parses `--acks`: `all`/`-1`, `0`, `1`.
pub fn parse_acks(s: &str) -> Result<i16, CliError> {
    match s {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        _ => Err(CliError(format!("bad --acks '{s}': use all, -1, 0 or 1"))),
    }
}

/// Parses `--compression`.
pub fn parse_compression(s: &str) -> Result<Compression, CliError> {
    records::parse_compression(s).map_err(|e| CliError(format!("bad --compression: {e}")))
}

/// Parses `--from-time`: milliseconds since the epoch, or RFC 3339
/// (`2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.250+02:00`).
pub fn parse_time(s: &str) -> Result<i64, CliError> {
    let bad = |why: &str| {
        CliError(format!(
            "bad time '{s}': {why} (ms since the epoch, or RFC 3339 like 2024-05-01T12:00:00Z)"
        ))
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad("too large"));
    }
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, CliError> {
        let part = b.get(from..from + len).ok_or_else(|| bad("too short"))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("expected digits"));
        }
        Ok(std::str::from_utf8(part)
            .expect("ascii")
            .parse()
            .expect("digits"))
    };
    let sep = |at: usize, chars: &[u8]| -> Result<(), CliError> {
        match b.get(at) {
            Some(c) if chars.contains(c) => Ok(()),
            _ => Err(bad("unexpected character")),
        }
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    sep(4, b"-")?;
    sep(7, b"-")?;
    sep(10, b"Tt ")?;
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    sep(13, b":")?;
    sep(16, b":")?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad("field out of range"));
    }
    let mut at = 19;
    let mut millis = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return Err(bad("empty fraction"));
        }
        let frac = &s[start..at.min(start + 3)];
        millis = format!("{frac:0<3}").parse().expect("digits");
    }
    let offset_s = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(c @ (b'+' | b'-')) if at + 6 == b.len() => {
            sep(at + 3, b":")?;
            let (oh, om) = (num(at + 1, 2)?, num(at + 4, 2)?);
            let sign = if *c == b'+' { 1 } else { -1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return Err(bad("missing or bad time zone (Z or +HH:MM)")),
    };
    // Days from 1970-01-01 to the civil date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Ok(secs * 1000 + millis)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// produce

/// `ringlog produce` settings.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Topic (auto-created if the broker allows it).
    pub topic: String,
    /// Partition to write to.
    pub partition: i32,
    /// -1 (all), 0 (no response) or 1.
    pub acks: i16,
    /// Batch compression.
    pub compression: Compression,
    /// Split each line at its first TAB into key and value (otherwise the line is the value).
    pub keys: bool,
}

/// What `produce` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceSummary {
    /// Records sent.
    pub records: u64,
    /// Uncompressed key + value bytes sent.
    pub bytes: u64,
    /// Batches (Produce requests) sent.
    pub batches: u64,
    /// First and last offset assigned (unknown with `acks = 0`).
    pub offsets: Option<(i64, i64)>,
}

impl fmt::Display for ProduceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "produced {} records ({} bytes) in {} batches",
            self.records, self.bytes, self.batches
        )?;
        if let Some((first, last)) = self.offsets {
            write!(f, ", offsets {first}..={last}")?;
        }
        Ok(())
    }
}

/// Splits one input line into a record.
fn line_record(line: &[u8], keys: bool) -> ProducerRecord {
    let split = if keys {
        line.iter().position(|&b| b == b'\t')
    } else {
        None
    };
    match split {
        Some(i) => ProducerRecord {
            key: Some(Bytes::copy_from_slice(&line[..i])),
            value: Some(Bytes::copy_from_slice(&line[i + 1..])),
        },
        None => ProducerRecord {
            key: None,
            value: Some(Bytes::copy_from_slice(line)),
        },
    }
}

/// Reads `input` one record per line and produces it in batches, pipelined.
pub async fn produce_lines(
    conn: &mut Connection,
    options: &ProduceOptions,
    mut input: impl BufRead,
) -> Result<ProduceSummary, CliError> {
    let info = conn.topic(&options.topic, true).await?;
    if !info
        .partitions
        .iter()
        .any(|p| p.partition == options.partition)
    {
        return Err(CliError(format!(
            "topic {} has no partition {} (it has {})",
            options.topic,
            options.partition,
            info.partitions.len()
        )));
    }
    let version = conn.version(ApiKey::Produce)?;
    let mut summary = ProduceSummary::default();
    let mut pending: Vec<ProducerRecord> = Vec::new();
    let mut pending_bytes = 0usize;
    // Record counts of batches sent and not yet acknowledged, oldest first.
    let mut unacked: VecDeque<u64> = VecDeque::new();
    let mut line = Vec::new();
    let mut done = false;
    while !done {
        line.clear();
        let n = (&mut input)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io_err("reading standard input"))?;
        if n == 0 {
            done = true;
        } else {
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            } else if line.len() > LINE_BYTES_MAX {
                return Err(CliError(format!(
                    "line {} is longer than {LINE_BYTES_MAX} bytes",
                    summary.records + pending.len() as u64 + 1
                )));
            }
            let record = line_record(&line, options.keys);
            pending_bytes += line.len();
            pending.push(record);
        }
        let full = pending.len() >= BATCH_RECORDS_MAX || pending_bytes >= BATCH_BYTES_MAX;
        if pending.is_empty() || !(full || done) {
            continue;
        }
        let batch = records::encode_batch(&pending, now_ms(), options.compression)?;
        let request = api::produce_request(&options.topic, options.partition, batch, options.acks);
        if options.acks == 0 {
            conn.send_without_response(&request, version).await?;
        } else {
            if unacked.len() >= PRODUCE_IN_FLIGHT_MAX {
                ack_one(conn, options, &mut unacked, &mut summary).await?;
            }
            conn.send(&request, version).await?;
            unacked.push_back(pending.len() as u64);
        }
        summary.records += pending.len() as u64;
        summary.bytes += pending_bytes as u64;
        summary.batches += 1;
        pending.clear();
        pending_bytes = 0;
    }
    while !unacked.is_empty() {
        ack_one(conn, options, &mut unacked, &mut summary).await?;
    }
    Ok(summary)
}

async fn ack_one(
    conn: &mut Connection,
    options: &ProduceOptions,
    unacked: &mut VecDeque<u64>,
    summary: &mut ProduceSummary,
) -> Result<(), CliError> {
    let count = unacked.pop_front().expect("caller checked");
    let response = conn.recv::<ProduceRequest>().await?;
    let base = api::produce_result(&response, &options.topic, options.partition)?;
    let last = base + count as i64 - 1;
    summary.offsets = Some(match summary.offsets {
        None => (base, last),
        Some((first, _)) => (first, last),
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// consume

/// Where `consume` starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The first retained offset.
    Beginning,
    /// The log end: only records produced from now on.
    End,
    /// This offset in every partition.
    Offset(i64),
    /// The first record with a timestamp at or after this (ms since the epoch); the end if none.
    Time(i64),
}

/// `ringlog consume` settings.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// Topic (must exist).
    pub topic: String,
    /// Only this partition (default: all).
    pub partition: Option<i32>,
    /// Start position.
    pub start: StartAt,
    /// Stop after this many records.
    pub count: Option<u64>,
    /// Stop when every partition has reached its high watermark.
    pub exit_at_end: bool,
    /// Print `key<TAB>value` instead of the value.
    pub keys: bool,
    /// Long-poll wait per fetch when not exiting at the end.
    pub max_wait: Duration,
}

/// What `consume` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumeSummary {
    /// Records printed.
    pub records: u64,
    /// Next offset per partition when it stopped.
    pub positions: Vec<(i32, i64)>,
}

/// Consumes `options.topic`, writing one line per record to `out`.
pub async fn consume_to(
    conn: &mut Connection,
    options: &ConsumeOptions,
    out: &mut impl Write,
) -> Result<ConsumeSummary, CliError> {
    let topic = options.topic.as_str();
    let info = conn.topic(topic, false).await?;
    let partitions: Vec<i32> = match options.partition {
        Some(p) if info.partitions.iter().any(|i| i.partition == p) => vec![p],
        Some(p) => {
            return Err(CliError(format!(
                "topic {topic} has no partition {p} (it has {})",
                info.partitions.len()
            )))
        }
        None => info.partitions.iter().map(|p| p.partition).collect(),
    };
    if partitions.is_empty() {
        return Err(CliError(format!("topic {topic} has no partitions")));
    }
    let mut positions: Vec<i64> = match options.start {
        StartAt::Beginning => {
            conn.list_offsets(topic, &partitions, EARLIEST_TIMESTAMP)
                .await?
        }
        StartAt::End => {
            conn.list_offsets(topic, &partitions, LATEST_TIMESTAMP)
                .await?
        }
        StartAt::Offset(o) if o < 0 => {
            return Err(CliError(format!("bad --offset {o}: must be >= 0")))
        }
        StartAt::Offset(o) => vec![o; partitions.len()],
        StartAt::Time(t) => {
            let by_time = conn.list_offsets(topic, &partitions, t).await?;
            let end = conn
                .list_offsets(topic, &partitions, LATEST_TIMESTAMP)
                .await?;
            by_time
                .iter()
                .zip(&end)
                .map(|(&o, &e)| if o < 0 { e } else { o })
                .collect()
        }
    };
    let mut at_end = vec![false; partitions.len()];
    let mut fetch_bytes = vec![FETCH_BYTES_DEFAULT; partitions.len()];
    let mut summary = ConsumeSummary::default();
    let wait = if options.exit_at_end {
        Duration::ZERO
    } else {
        options.max_wait
    };
    let reached_count = |s: &ConsumeSummary| options.count.is_some_and(|c| s.records >= c);
    let all_at_end = |at_end: &[bool]| options.exit_at_end && at_end.iter().all(|&e| e);
    while !(reached_count(&summary) || all_at_end(&at_end)) {
        let asked: Vec<usize> = (0..partitions.len())
            .filter(|&i| !(options.exit_at_end && at_end[i]))
            .collect();
        let request: Vec<(&str, i32, i64)> = asked
            .iter()
            .map(|&i| (topic, partitions[i], positions[i]))
            .collect();
        let max_bytes = asked
            .iter()
            .map(|&i| fetch_bytes[i])
            .max()
            .unwrap_or(FETCH_BYTES_DEFAULT);
        let fetched = conn.fetch_many(&request, max_bytes, wait).await?;
        for (&i, f) in asked.iter().zip(&fetched) {
            let context = format!("{topic}-{}", partitions[i]);
            let decoded = records::decode_batches(&f.records, &context)?;
            for r in &decoded.records {
                if r.offset < positions[i] || reached_count(&summary) {
                    continue;
                }
                let mut write = || -> std::io::Result<()> {
                    if options.keys {
                        out.write_all(r.key.as_deref().unwrap_or_default())?;
                        out.write_all(b"\t")?;
                    }
                    out.write_all(r.value.as_deref().unwrap_or_default())?;
                    out.write_all(b"\n")
                };
                if !output_ok(write())? {
                    return Ok(summary);
                }
                summary.records += 1;
            }
            match decoded.next_offset {
                Some(next) if next > positions[i] => positions[i] = next,
                _ if decoded.partial_tail_bytes > 0 => {
                    // One batch is larger than the fetch size: ask for more next time.
                    if fetch_bytes[i] >= FETCH_BYTES_MAX {
                        return Err(CliError(format!(
                            "{context}: the batch at offset {} is larger than {FETCH_BYTES_MAX} bytes",
                            positions[i]
                        )));
                    }
                    fetch_bytes[i] = fetch_bytes[i].saturating_mul(2).min(FETCH_BYTES_MAX);
                }
                _ => {}
            }
            at_end[i] = positions[i] >= f.high_watermark;
        }
        if !output_ok(out.flush())? {
            return Ok(summary);
        }
    }
    summary.positions = partitions.iter().copied().zip(positions).collect();
    Ok(summary)
}

/// `Ok(false)` when the reader of our output went away (`consume | head -1`): a normal stop,
/// not an error.
fn output_ok(result: std::io::Result<()>) -> Result<bool, CliError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError(format!("writing output: {e}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// topics

/// Lines `name<TAB>partitions` for every topic.
pub async fn topics_list(conn: &mut Connection, out: &mut impl Write) -> Result<usize, CliError> {
    let topics = conn.metadata(&[], false).await?;
    for t in &topics {
        writeln!(out, "{}\t{}", t.name, t.partitions.len()).map_err(io_err("writing output"))?;
    }
    Ok(topics.len())
}

// ---------------------------------------------------------------------------------------------
// delays

/// Column headers of the `ringlog delays` table.
pub const DELAYS_HEADER: [&str; 5] = [
    "TOPIC",
    "PENDING",
    "NEXT DUE",
    "OLDEST OVERDUE LAG",
    "DELIVERED",
];

/// Writes the scheduled-delivery state of `topics` (every topic the broker reports when empty):
/// a table (header even when no topic has delayed records), or one JSON object with `json`.
/// Returns the number of topics written.
pub async fn delays(
    conn: &mut Connection,
    topics: &[String],
    json: bool,
    out: &mut impl Write,
) -> Result<usize, CliError> {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let rows = conn.describe_delays(&names).await?;
    let text = if json {
        delays_json(&rows)
    } else {
        delays_table(&rows, now_ms())
    };
    output_ok(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
    Ok(rows.len())
}

/// The `ringlog delays` table, columns aligned, times relative to `now_ms` (this machine's
/// clock): next due as RFC 3339 UTC and "in 4.2 s" (or "3.0 s ago" for one already overdue),
/// "-" where there is nothing pending or nothing overdue.
pub fn delays_table(rows: &[TopicDelays], now_ms: i64) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let next_due = match r.next_due_ms {
                None => "-".to_string(),
                Some(due) => format!("{} ({})", format_rfc3339_ms(due), relative(due, now_ms)),
            };
            let lag = match r.oldest_overdue_lag_ms {
                0 => "-".to_string(),
                ms => format_duration_ms(ms),
            };
            [
                r.topic.clone(),
                r.pending.to_string(),
                next_due,
                lag,
                r.delivered.to_string(),
            ]
        })
        .collect();
    let mut widths = DELAYS_HEADER.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |row: [&str; 5]| {
        // Counts are right-aligned, text left-aligned; no trailing blanks.
        let [topic, pending, next_due, lag, delivered] = row;
        let [w0, w1, w2, w3, w4] = widths;
        let text =
            format!("{topic:<w0$}  {pending:>w1$}  {next_due:<w2$}  {lag:<w3$}  {delivered:>w4$}");
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(DELAYS_HEADER);
    for row in &cells {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    out
}

/// The `ringlog delays --json` object (one line): `{"topics":[{"topic", "pending",
/// "next_due_ms" (null when none), "next_due" (RFC 3339 UTC or null), "oldest_overdue_lag_ms",
/// "delivered"}]}`.
pub fn delays_json(rows: &[TopicDelays]) -> String {
    let topics: Vec<String> = rows
        .iter()
        .map(|r| {
            let (due_ms, due) = match r.next_due_ms {
                None => ("null".to_string(), "null".to_string()),
                Some(ms) => (ms.to_string(), json_string(&format_rfc3339_ms(ms))),
            };
            format!(
                "{{\"topic\":{},\"pending\":{},\"next_due_ms\":{due_ms},\"next_due\":{due},\
                 \"oldest_overdue_lag_ms\":{},\"delivered\":{}}}",
                json_string(&r.topic),
                r.pending,
                r.oldest_overdue_lag_ms,
                r.delivered
            )
        })
        .collect();
    format!("{{\"topics\":[{}]}}\n", topics.join(","))
}

// ---------------------------------------------------------------------------------------------
// views

/// `ringlog views create`: the view `name` of `source` through `filter`. A filter the broker
/// cannot parse is refused with its message (which gives the position of the error).
pub async fn views_create(
    conn: &mut Connection,
    name: &str,
    source: &str,
    filter: &str,
) -> Result<(), CliError> {
    conn.create_view(name, source, filter).await?;
    Ok(())
}

/// `ringlog views delete`: deletes the view `name`, refusing a name that is not a view (a plain
/// topic is deleted with `ringlog topics delete`).
pub async fn views_delete(conn: &mut Connection, name: &str) -> Result<(), CliError> {
    conn.delete_view(name).await?;
    Ok(())
}

/// `ringlog views list`: lines `name<TAB>source<TAB>partitions<TAB>filter` for every view,
/// by name (control characters of a filter written as escapes, so each view is one line).
/// Returns the number of views.
pub async fn views_list(conn: &mut Connection, out: &mut impl Write) -> Result<usize, CliError> {
    let views = conn.describe_views(&[]).await?;
    let mut text = String::new();
    for v in &views {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            v.name,
            v.source,
            v.partitions,
            one_line(&v.filter)
        ));
    }
    output_ok(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
    Ok(views.len())
}

/// `ringlog views describe`: `names` (every view when empty), each as a block
/// ([`views_describe_text`]), or one JSON object with `json` ([`views_json`]). Returns the
/// number of views written.
pub async fn views_describe(
    conn: &mut Connection,
    names: &[String],
    json: bool,
    out: &mut impl Write,
) -> Result<usize, CliError> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let views = conn.describe_views(&names).await?;
    let text = if json {
        views_json(&views)
    } else {
        views_describe_text(&views)
    };
    output_ok(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
    Ok(views.len())
}

/// Labels of the `ringlog views describe` block, in order (the first line is `view NAME`).
pub const VIEW_LABELS: [&str; 12] = [
    "source",
    "filter",
    "partitions",
    "delivered bytes",
    "zero-copy share",
    "bytes zero-copy",
    "bytes rewritten",
    "batches whole",
    "batches skipped",
    "batches rewritten",
    "batches unindexed",
    "index backlog",
];

/// The `ringlog views describe` text: per view a line `view NAME`, then one indented
/// `label  value` line per [`VIEW_LABELS`] entry, values aligned; views separated by an empty
/// line. The zero-copy share is of the delivered bytes, truncated to a tenth of a percent
/// ("-" when nothing was delivered yet); the counters are since the broker started.
pub fn views_describe_text(views: &[ViewInfo]) -> String {
    let width = VIEW_LABELS.iter().map(|l| l.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let values = [
            v.source.clone(),
            one_line(&v.filter),
            v.partitions.to_string(),
            v.bytes_delivered().to_string(),
            zero_copy_percent(v).map_or("-".to_string(), |p| format!("{p}%")),
            v.bytes_zero_copy.to_string(),
            v.bytes_rewritten.to_string(),
            v.batches_whole.to_string(),
            v.batches_skipped.to_string(),
            v.batches_rewritten.to_string(),
            v.batches_unindexed.to_string(),
            format!("{} offsets", v.index_backlog_offsets),
        ];
        out.push_str(&format!("view {}\n", v.name));
        for (label, value) in VIEW_LABELS.iter().zip(values) {
            out.push_str(&format!("  {label:<width$}  {value}\n"));
        }
    }
    out
}

/// The share of `v`'s delivered bytes sent zero-copy as `98.2` (truncated), `None` when
/// nothing was delivered.
fn zero_copy_percent(v: &ViewInfo) -> Option<String> {
    v.zero_copy_per_mille()
        .map(|pm| format!("{}.{}", pm / 10, pm % 10))
}

/// The `ringlog views describe --json` object (one line): `{"views":[{"name", "source",
/// "filter", "partitions", "bytes_zero_copy", "bytes_rewritten", "zero_copy_percent" (null
/// when nothing was delivered), "batches_whole", "batches_skipped", "batches_rewritten",
/// "batches_unindexed", "index_backlog_offsets"}]}`.
pub fn views_json(views: &[ViewInfo]) -> String {
    let items: Vec<String> = views
        .iter()
        .map(|v| {
            format!(
                "{{\"name\":{},\"source\":{},\"filter\":{},\"partitions\":{},\
                 \"bytes_zero_copy\":{},\"bytes_rewritten\":{},\"zero_copy_percent\":{},\
                 \"batches_whole\":{},\"batches_skipped\":{},\"batches_rewritten\":{},\
                 \"batches_unindexed\":{},\"index_backlog_offsets\":{}}}",
                json_string(&v.name),
                json_string(&v.source),
                json_string(&v.filter),
                v.partitions,
                v.bytes_zero_copy,
                v.bytes_rewritten,
                zero_copy_percent(v).unwrap_or_else(|| "null".to_string()),
                v.batches_whole,
                v.batches_skipped,
                v.batches_rewritten,
                v.batches_unindexed,
                v.index_backlog_offsets
            )
        })
        .collect();
    format!("{{\"views\":[{}]}}\n", items.join(","))
}

/// `s` on one line: control characters (a filter may span lines) written as Rust-style
/// escapes (`\n`, `\t`, `\u{1}`), everything else as is.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON string with the escapes RFC 8259 requires (also `ringlog-bench`'s reports).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `due` relative to `now`: "in 4.2 s", "now", "3.0 s ago".
fn relative(due_ms: i64, now_ms: i64) -> String {
    let delta = i128::from(due_ms) - i128::from(now_ms);
    let magnitude = u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX);
    match delta {
        0 => "now".to_string(),
        d if d > 0 => format!("in {}", format_duration_ms(magnitude)),
        _ => format!("{} ago", format_duration_ms(magnitude)),
    }
}

/// A duration for people: "850 ms", "4.2 s", "12.5 min", "3.0 h", "2.1 d" (one decimal,
/// truncated, so a value never reads as the next unit up).
pub fn format_duration_ms(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1_000, "s"),
    ];
    for (unit_ms, name) in UNITS {
        if ms >= unit_ms {
            let tenths = ms / (unit_ms / 10);
            return format!("{}.{} {name}", tenths / 10, tenths % 10);
        }
    }
    format!("{ms} ms")
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds (`2023-11-14T22:13:20.000Z`); what
/// [`parse_time`] reads back.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    // The civil date of a day count from 1970-01-01 (Howard Hinnant's civil_from_days, the
    // inverse of the days_from_civil in parse_time).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

// ---------------------------------------------------------------------------------------------
// inspect

/// What `inspect` found in a segment file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InspectReport {
    /// Batches read (including damaged ones whose length could be trusted).
    pub batches: u64,
    /// Records in the batches read.
    pub records: u64,
    /// First base offset and last offset seen.
    pub offsets: Option<(i64, i64)>,
    /// Each problem found, naming the batch, its byte position and base offset.
    pub damage: Vec<String>,
}

/// Parses the base offset from a `{base_offset:020}.log` file name.
fn base_offset_from_name(path: &Path) -> Option<i64> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".log")?;
    if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
        stem.parse().ok()
    } else {
        None
    }
}

/// Reads a segment `.log` file batch by batch, writes one line per batch to `out`, and checks
/// each (structure, CRC32C, contiguous offsets, first offset = the file name's). Stops at the
/// first batch whose length cannot be trusted.
pub fn inspect(path: &Path, out: &mut impl Write) -> Result<InspectReport, CliError> {
    let shown = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(io_err(&shown))?;
    let len = file.metadata().map_err(io_err(&shown))?.len();
    let mut report = InspectReport::default();
    let mut expected = base_offset_from_name(path);
    let mut position = 0u64;
    let mut buf = Vec::new();
    let w = |e: std::io::Error| CliError(format!("writing output: {e}"));
    while position < len {
        let index = report.batches;
        let left = len - position;
        if left < HEADER_BYTES as u64 {
            report.damage.push(format!(
                "batch {index} at byte {position}: truncated header ({left} bytes left, {HEADER_BYTES} needed)"
            ));
            break;
        }
        buf.resize(HEADER_BYTES, 0);
        file.read_exact(&mut buf).map_err(io_err(&shown))?;
        let header = match BatchHeader::parse(&buf) {
            Ok(h) => h,
            Err(e) => {
                report
                    .damage
                    .push(format!("batch {index} at byte {position}: bad header: {e}"));
                break;
            }
        };
        let size = header.size_bytes();
        if size > left {
            report.damage.push(format!(
                "batch {index} at byte {position} (base offset {}): truncated: {size} bytes but {left} left in the file",
                header.base_offset
            ));
            break;
        }
        // size <= left <= file length: the allocation is bounded by the file actually present.
        buf.resize(size as usize, 0);
        file.read_exact(&mut buf[HEADER_BYTES..])
            .map_err(io_err(&shown))?;
        let computed = batch::compute_crc(&buf);
        let crc_ok = computed == header.crc;
        writeln!(
            out,
            "batch {index} @{position}: offsets {}..={} ({} records), {size} bytes, timestamps {}..={}, compression {}, producer id {} epoch {} seq {}, crc {}",
            header.base_offset,
            header.last_offset(),
            header.records_count,
            header.base_timestamp,
            header.max_timestamp,
            records::compression_name(header.attributes),
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            if crc_ok { "ok".to_string() } else { format!("BAD (stored {:#010x}, computed {computed:#010x})", header.crc) },
        )
        .map_err(w)?;
        if !crc_ok {
            report.damage.push(format!(
                "batch {index} at byte {position} (base offset {}): CRC mismatch (stored {:#010x}, computed {computed:#010x})",
                header.base_offset, header.crc
            ));
        }
        if let Some(e) = expected.filter(|&e| e != header.base_offset) {
            report.damage.push(format!(
                "batch {index} at byte {position}: base offset {} but {e} expected (offsets not contiguous)",
                header.base_offset
            ));
        }
        expected = header.next_offset();
        report.batches += 1;
        report.records += header.records_count as u64;
        report.offsets = Some(match report.offsets {
            None => (header.base_offset, header.last_offset()),
            Some((first, _)) => (first, header.last_offset()),
        });
        position += size;
    }
    Ok(report)
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} batches, {} records", self.batches, self.records)?;
        if let Some((first, last)) = self.offsets {
            write!(f, ", offsets {first}..={last}")?;
        }
        if self.damage.is_empty() {
            write!(f, ": ok")
        } else {
            write!(f, ": DAMAGED ({} problems)", self.damage.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, zero_copy: u64, rewritten: u64) -> ViewInfo {
        ViewInfo {
            name: name.into(),
            source: "orders".into(),
            filter: "tag = 'red'\nAND amount > 100".into(),
            partitions: 3,
            bytes_zero_copy: zero_copy,
            bytes_rewritten: rewritten,
            batches_whole: 4,
            batches_skipped: 12,
            batches_rewritten: 1,
            batches_unindexed: 0,
            index_backlog_offsets: 7,
        }
    }

    #[test]
    fn views_describe_text_aligns_blocks_and_shows_the_zero_copy_share() {
        let text = views_describe_text(&[view("red", 9_999, 1), view("idle", 0, 0)]);
        let expected = "\
view red
  source             orders
  filter             tag = 'red'\\nAND amount > 100
  partitions         3
  delivered bytes    10000
  zero-copy share    99.9%
  bytes zero-copy    9999
  bytes rewritten    1
  batches whole      4
  batches skipped    12
  batches rewritten  1
  batches unindexed  0
  index backlog      7 offsets

view idle
  source             orders
  filter             tag = 'red'\\nAND amount > 100
  partitions         3
  delivered bytes    0
  zero-copy share    -
  bytes zero-copy    0
  bytes rewritten    0
  batches whole      4
  batches skipped    12
  batches rewritten  1
  batches unindexed  0
  index backlog      7 offsets
";
        assert_eq!(text, expected);
        assert_eq!(views_describe_text(&[]), "");
    }

    #[test]
    fn views_json_is_one_line_with_null_share_when_nothing_was_delivered() {
        let json = views_json(&[view("r\"ed", 1, 3), view("idle", 0, 0)]);
        assert_eq!(
            json,
            "{\"views\":[{\"name\":\"r\\\"ed\",\"source\":\"orders\",\
             \"filter\":\"tag = 'red'\\nAND amount > 100\",\"partitions\":3,\
             \"bytes_zero_copy\":1,\"bytes_rewritten\":3,\"zero_copy_percent\":25.0,\
             \"batches_whole\":4,\"batches_skipped\":12,\"batches_rewritten\":1,\
             \"batches_unindexed\":0,\"index_backlog_offsets\":7},\
             {\"name\":\"idle\",\"source\":\"orders\",\
             \"filter\":\"tag = 'red'\\nAND amount > 100\",\"partitions\":3,\
             \"bytes_zero_copy\":0,\"bytes_rewritten\":0,\"zero_copy_percent\":null,\
             \"batches_whole\":4,\"batches_skipped\":12,\"batches_rewritten\":1,\
             \"batches_unindexed\":0,\"index_backlog_offsets\":7}]}\n"
        );
        assert_eq!(views_json(&[]), "{\"views\":[]}\n");
    }

    #[test]
    fn one_line_escapes_only_control_characters() {
        assert_eq!(one_line("a = 'x\ty'\r\nb\u{1}"), "a = 'x\\ty'\\r\\nb\\u{1}");
        assert_eq!(one_line("tag = 'é\\'"), "tag = 'é\\'");
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5Z").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20.123+02:00").unwrap(),
            1_700_000_000_123
        );
        for bad in [
            "",
            "yesterday",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_formatting_reads_back() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_ms(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            format_rfc3339_ms(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        // Every day over 1600..2400 (leap rules of 4, 100 and 400 years), at a ms within it.
        let mut ms = -11_676_096_000_000i64; // 1600-01-01
        while ms < 13_569_465_600_000 {
            let text = format_rfc3339_ms(ms + 45_296_789);
            assert_eq!(parse_time(&text).unwrap(), ms + 45_296_789, "{text}");
            ms += 86_400_000;
        }
        // Whatever a broker sends, formatting does not panic.
        for ms in [i64::MIN, i64::MAX] {
            assert!(format_rfc3339_ms(ms).ends_with('Z'));
        }
    }

    #[test]
    fn durations_for_people() {
        let cases = [
            (0, "0 ms"),
            (999, "999 ms"),
            (1_000, "1.0 s"),
            (4_250, "4.2 s"),
            (59_999, "59.9 s"),
            (60_000, "1.0 min"),
            (5_400_000, "1.5 h"),
            (90_000_000, "1.0 d"),
            (u64::MAX, "213503982334.6 d"),
        ];
        for (ms, text) in cases {
            assert_eq!(format_duration_ms(ms), text);
        }
        assert_eq!(relative(10_000, 5_800), "in 4.2 s");
        assert_eq!(relative(5_000, 5_000), "now");
        assert_eq!(relative(2_000, 5_000), "3.0 s ago");
        assert_eq!(
            relative(i64::MAX, i64::MIN),
            format!("in {}", format_duration_ms(u64::MAX))
        );
    }

    fn delays_rows() -> Vec<TopicDelays> {
        vec![
            TopicDelays {
                topic: "orders".into(),
                pending: 12_345,
                next_due_ms: Some(1_700_000_004_200),
                oldest_overdue_lag_ms: 0,
                delivered: 7,
            },
            TopicDelays {
                topic: "r\"x".into(),
                pending: 0,
                next_due_ms: None,
                oldest_overdue_lag_ms: 1_500,
                delivered: 1_000_000,
            },
        ]
    }

    #[test]
    fn delays_table_aligns_columns() {
        let table = delays_table(&delays_rows(), 1_700_000_000_000);
        let want = "\
TOPIC   PENDING  NEXT DUE                             OLDEST OVERDUE LAG  DELIVERED
orders    12345  2023-11-14T22:13:24.200Z (in 4.2 s)  -                           7
r\"x           0  -                                    1.5 s                 1000000
";
        assert_eq!(table, want);
        assert_eq!(
            delays_table(&[], 0),
            "TOPIC  PENDING  NEXT DUE  OLDEST OVERDUE LAG  DELIVERED\n"
        );
    }

    #[test]
    fn delays_json_is_one_object() {
        assert_eq!(delays_json(&[]), "{\"topics\":[]}\n");
        assert_eq!(
            delays_json(&delays_rows()),
            concat!(
                r#"{"topics":[{"topic":"orders","pending":12345,"next_due_ms":1700000004200,"#,
                r#""next_due":"2023-11-14T22:13:24.200Z","oldest_overdue_lag_ms":0,"delivered":7},"#,
                r#"{"topic":"r\"x","pending":0,"next_due_ms":null,"next_due":null,"#,
                r#""oldest_overdue_lag_ms":1500,"delivered":1000000}]}"#,
                "\n"
            )
        );
        assert_eq!(json_string("a\u{1}\\\n"), r#""a\u0001\\\n""#);
    }

    #[test]
    fn acks_and_lines() {
        assert_eq!(parse_acks("all").unwrap(), -1);
        assert!(parse_acks("2").is_err());
        let r = line_record(b"k\tv\tw", true);
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v\tw"[..]));
        assert_eq!(line_record(b"k\tv", false).key, None);
    }

    #[test]
    fn inspect_finds_crc_damage_and_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{:020}.log", 5));
        let mut a = batch::testing::build_batch(10, &[b"a", b"b"]);
        batch::stamp(&mut a, 5, 0);
        let mut b = batch::testing::build_batch(20, &[b"c"]);
        batch::stamp(&mut b, 7, 0);
        let mut bytes = a.clone();
        bytes.extend_from_slice(&b);
        std::fs::write(&path, &bytes).unwrap();
        let mut out = Vec::new();
        let r = inspect(&path, &mut out).unwrap();
        assert!(r.damage.is_empty(), "{:?}", r.damage);
        assert_eq!((r.batches, r.records, r.offsets), (2, 3, Some((5, 7))));
        assert!(String::from_utf8(out).unwrap().contains("crc ok"));

        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        bytes.extend_from_slice(&a[..30]);
        std::fs::write(&path, &bytes).unwrap();
        let r = inspect(&path, &mut Vec::new()).unwrap();
        assert_eq!(r.damage.len(), 2, "{:?}", r.damage);
        assert!(r.damage[0].contains("batch 1 at byte"), "{:?}", r.damage);
        assert!(r.damage[0].contains("CRC mismatch"));
        assert!(r.damage[1].contains("truncated header"));
    }
}
