//! The clients of `bench views`, all on the benchmark's one generator thread: the fill (the
//! source topic and its view, records tagged by [`Layout`]), the page-cache warmer, the three
//! consumers (the view; the whole topic filtered here; the whole topic) and the view's
//! counters (DescribeViews).
//!
//! # Invariants
//! - Which records match is a pure function of the record's index ([`TagPlan`]), so the fill
//!   and the consumers agree on how many matching records there are without a shared table.
//! - Every consumer reads from offset 0 to the source's log end, decodes every record it
//!   receives, and fails at [`RUN_TIMEOUT_MS`] or when a fetch stops moving forward.
//! - A record the view delivers that does not match is counted (`foreign`), never dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::*;
use super::measure::{Consume, ViewCounters};
use crate::cpu::ThreadCpu;
use crate::load::LoadError;
use ringlog_client::api::{self, ViewInfo, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use ringlog_client::records::{decode_batches, ConsumedRecord};
use ringlog_client::{ConnectOptions, Connection};
use ringlog_protocol::error::TOPIC_ALREADY_EXISTS;
use ringlog_protocol::messages::ProduceRequest;
use ringlog_protocol::ApiKey;
use ringlog_runtime::time;
use ringlog_storage::records::{self as recs, BatchMeta, Compression, Record};

/// Bytes read per call while warming the page cache.
const WARM_CHUNK_BYTES: usize = 1 << 20;

/// A connection named for this benchmark.
pub async fn connect(addr: SocketAddr) -> Result<Connection, LoadError> {
    let options = ConnectOptions {
        client_id: "ringlog-bench-views".into(),
        ..ConnectOptions::default()
    };
    Ok(Connection::connect_with(addr, options).await?)
}

/// Wall-clock time in milliseconds since the epoch (batch timestamps, unique names).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// CPU seconds of every thread of the broker, by thread id, when its pid is known and
/// readable. Per thread because a consume of a view lasts tens of milliseconds: the process's
/// `stat` counts 10 ms ticks, a thread's `schedstat` nanoseconds ([`crate::cpu`]).
pub fn broker_cpu(pid: Option<u32>) -> Option<BTreeMap<u32, f64>> {
    let dir = format!("/proc/{}/task", pid?);
    let mut threads = BTreeMap::new();
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // A thread that exits while being read is left out.
        if let Ok(cpu) = ThreadCpu::of_task(&e.path()) {
            threads.insert(tid, cpu.seconds());
        }
    }
    Some(threads)
}

/// Broker CPU seconds between two readings of [`broker_cpu`]: a thread that appeared counts
/// from 0; one that exited in between is missing (the broker's shard threads live as long as
/// it does).
pub fn broker_cpu_since(before: &BTreeMap<u32, f64>, after: &BTreeMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(tid, now)| (now - before.get(tid).copied().unwrap_or(0.0)).max(0.0))
        .sum()
}

/// Which records of a fill match: `percent` of them, spread evenly (record `i`, or the batch
/// holding it, matches when `floor((i + 1) * percent / 100)` steps past `floor(i * percent /
/// 100)`, so every window of `100 / percent` records or batches holds one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagPlan {
    /// The layout.
    pub layout: Layout,
    /// Records.
    pub records: u64,
    /// Records per produced batch.
    pub per_batch: u64,
    /// Matching share, percent (1..=100).
    pub percent: u32,
}

impl TagPlan {
    /// The plan of `c`'s fill in `layout`.
    pub fn of(c: &ViewsBenchConfig, layout: Layout) -> TagPlan {
        TagPlan {
            layout,
            records: c.records,
            per_batch: c.fill_batch_records() as u64,
            percent: c.match_percent,
        }
    }

    fn step(i: u64, percent: u32) -> bool {
        let p = u128::from(percent);
        let i = u128::from(i);
        (i + 1) * p / 100 > i * p / 100
    }

    /// Whether record `i` (0-based, its offset) matches.
    pub fn matches(&self, i: u64) -> bool {
        match self.layout {
            Layout::Homogeneous => Self::step(i / self.per_batch.max(1), self.percent),
            Layout::Mixed => Self::step(i, self.percent),
        }
    }

    /// The tag of record `i`: [`MATCH_TAG`], or one of [`OTHER_TAGS`] in turn (by batch for
    /// homogeneous batches, by record for mixed ones).
    pub fn tag(&self, i: u64) -> &'static str {
        if self.matches(i) {
            return MATCH_TAG;
        }
        let turn = match self.layout {
            Layout::Homogeneous => i / self.per_batch.max(1),
            Layout::Mixed => i,
        };
        OTHER_TAGS[(turn % OTHER_TAGS.len() as u64) as usize]
    }

    /// How many of the records match.
    pub fn matching(&self) -> u64 {
        let per = self.per_batch.max(1);
        match self.layout {
            Layout::Mixed => self.records * u64::from(self.percent) / 100,
            Layout::Homogeneous => (0..self.records.div_ceil(per))
                .filter(|&b| Self::step(b, self.percent))
                .map(|b| per.min(self.records - b * per))
                .sum(),
        }
    }
}

/// Whether a consumed record carries the matching tag (the client-side filter: what a Kafka
/// consumer's own code does with every record it receives).
pub fn is_match(r: &ConsumedRecord) -> bool {
    r.headers
        .iter()
        .any(|(k, v)| &k[..] == TAG_HEADER.as_bytes() && v.as_deref() == Some(MATCH_TAG.as_bytes()))
}

/// The value of every record: `bytes` of text (sent uncompressed: its content does not
/// matter, only its size).
fn value(bytes: usize) -> Bytes {
    Bytes::from(
        (0..bytes)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz012345"[i % 32])
            .collect::<Vec<u8>>(),
    )
}

/// Records `first..first + n` of the plan as one batch (uncompressed, header `tag`).
fn encode(plan: &TagPlan, first: u64, n: u64, value: &Bytes) -> Result<Bytes, LoadError> {
    let records = (0..n)
        .map(|d| {
            let tag = plan.tag(first + d);
            Ok(Record {
                offset_delta: i32::try_from(d)
                    .map_err(|_| LoadError(format!("{n} records do not fit one batch")))?,
                timestamp_delta: 0,
                key: None,
                value: Some(value.clone()),
                headers: vec![(
                    Bytes::from_static(TAG_HEADER.as_bytes()),
                    Some(Bytes::from_static(tag.as_bytes())),
                )],
            })
        })
        .collect::<Result<Vec<Record>, LoadError>>()?;
    let meta = BatchMeta {
        base_timestamp: now_ms(),
        ..BatchMeta::default()
    };
    let mut out = Vec::new();
    recs::encode_batch(&meta, &records, Compression::None, &mut out)
        .map_err(|e| LoadError(format!("encoding records {first}..{}: {e}", first + n)))?;
    Ok(Bytes::from(out))
}

/// Creates `topic` (one partition) and the view `view` of it with [`FILTER`] before any
/// record is written (so the filter index is written at append time), then fills the topic
/// as `plan` says (acks=all, [`FILL_IN_FLIGHT`] requests in flight) and checks that it holds
/// exactly offsets `0..records`.
pub async fn create_and_fill(
    conn: &mut Connection,
    topic: &str,
    view: &str,
    plan: &TagPlan,
    c: &ViewsBenchConfig,
) -> Result<(), LoadError> {
    match conn.create_topics(&[(topic, 1)]).await {
        Ok(()) => {}
        Err(e) if e.kafka_code() == Some(TOPIC_ALREADY_EXISTS) => {
            return Err(LoadError(format!("topic {topic} exists already")))
        }
        Err(e) => return Err(e.into()),
    }
    let wait = Duration::from_millis(crate::load::topic_wait::TOPIC_VISIBLE_WAIT_MS_MAX);
    crate::load::topic_wait::wait_until_visible(conn, topic, wait).await?;
    conn.create_view(view, topic, FILTER)
        .await
        .map_err(|e| LoadError(format!("creating the view {view} of {topic}: {e}")))?;
    crate::load::topic_wait::wait_until_visible(conn, view, wait).await?;
    let value = value(c.record_bytes);
    let per = plan.per_batch.max(1);
    let version = conn.version(ApiKey::Produce)?;
    let (mut next, mut in_flight) = (0u64, 0usize);
    while next < plan.records || in_flight > 0 {
        while next < plan.records && in_flight < FILL_IN_FLIGHT {
            let n = per.min(plan.records - next);
            let batch = encode(plan, next, n, &value)?;
            conn.send(&api::produce_request(topic, 0, batch, -1), version)
                .await?;
            next += n;
            in_flight += 1;
        }
        let response = conn.recv::<ProduceRequest>().await?;
        api::produce_result(&response, topic, 0)?;
        in_flight -= 1;
    }
    let start = conn.list_offsets(topic, &[0], EARLIEST_TIMESTAMP).await?[0];
    let end = conn.list_offsets(topic, &[0], LATEST_TIMESTAMP).await?[0];
    if (start, end) != (0, plan.records as i64) {
        return Err(LoadError(format!(
            "topic {topic} holds offsets {start}..{end} after a fill of {} records",
            plan.records
        )));
    }
    Ok(())
}

/// The view's counters and index backlog (DescribeViews).
pub async fn describe(conn: &mut Connection, view: &str) -> Result<ViewInfo, LoadError> {
    let mut views = conn
        .describe_views(&[view])
        .await
        .map_err(|e| LoadError(format!("DescribeViews of {view}: {e}")))?;
    match views.pop() {
        Some(v) if v.name == view && views.is_empty() => Ok(v),
        _ => Err(LoadError(format!(
            "DescribeViews of {view} did not answer for exactly that view"
        ))),
    }
}

/// The counters of a DescribeViews answer.
pub fn counters(v: &ViewInfo) -> ViewCounters {
    ViewCounters {
        bytes_zero_copy: v.bytes_zero_copy,
        bytes_rewritten: v.bytes_rewritten,
        batches_whole: v.batches_whole,
        batches_skipped: v.batches_skipped,
        batches_rewritten: v.batches_rewritten,
        batches_unindexed: v.batches_unindexed,
    }
}

/// Waits (at most [`INDEX_WAIT_MS`]) until the view's filter index covers the whole source;
/// returns the backlog left (0 normally: the index is written at append time).
pub async fn wait_for_index(conn: &mut Connection, view: &str) -> Result<u64, LoadError> {
    let deadline = Instant::now() + Duration::from_millis(INDEX_WAIT_MS);
    loop {
        let backlog = describe(conn, view).await?.index_backlog_offsets;
        if backlog == 0 || Instant::now() >= deadline {
            return Ok(backlog);
        }
        time::sleep(Duration::from_millis(INDEX_POLL_MS)).await;
    }
}

/// How to put a topic's data into the page cache right before a consume.
#[derive(Clone, Debug)]
pub enum Warm {
    /// Read every file of the source partition's directory (a broker started here: segments,
    /// offset indexes and filter indexes).
    Files(PathBuf),
    /// Nothing to read here (a broker at `--bootstrap`): an unmeasured consume of the whole
    /// topic reads it through the broker.
    Fetch,
}

/// Reads every regular file of `dir`; returns the bytes read.
pub fn warm_files(dir: &Path) -> Result<u64, LoadError> {
    use std::os::unix::fs::FileExt;
    let what = |e: std::io::Error| LoadError(format!("warming {}: {e}", dir.display()));
    let mut buf = vec![0u8; WARM_CHUNK_BYTES];
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir).map_err(what)? {
        let entry = entry.map_err(what)?;
        if !entry.file_type().map_err(what)?.is_file() {
            continue;
        }
        // A file the broker removed meanwhile (a rolled-away index) is not an error.
        let Ok(f) = std::fs::File::open(entry.path()) else {
            continue;
        };
        let mut pos = 0u64;
        loop {
            let n = f.read_at(&mut buf, pos).map_err(what)?;
            if n == 0 {
                break;
            }
            pos += n as u64;
        }
        total += pos;
    }
    Ok(total)
}

/// What a consumer hands to its application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// Fetches the view: every record it receives is delivered.
    View,
    /// Fetches the whole source and keeps the matching records (what a Kafka user does).
    ClientFilter,
    /// Fetches the whole source and delivers every record.
    Unfiltered,
}

impl Reader {
    /// Short name (progress, JSON).
    pub fn name(self) -> &'static str {
        match self {
            Reader::View => "view",
            Reader::ClientFilter => "client-side filter",
            Reader::Unfiltered => "unfiltered",
        }
    }
}

/// The counts of one consume while it runs.
#[derive(Debug, Default)]
struct Tally {
    records: u64,
    bytes: u64,
    matching_seen: u64,
    foreign: u64,
}

impl Tally {
    /// Counts the records of one fetch at or past `offset` (a fetch starts at the batch holding
    /// `offset`, so records before it were counted already).
    fn add(&mut self, reader: Reader, records: &[ConsumedRecord], offset: i64) {
        for r in records.iter().filter(|r| r.offset >= offset) {
            let m = is_match(r);
            if m {
                self.matching_seen += 1;
            }
            let delivered = match reader {
                Reader::View => {
                    if !m {
                        self.foreign += 1;
                    }
                    true
                }
                Reader::ClientFilter => m,
                Reader::Unfiltered => true,
            };
            if delivered {
                self.records += 1;
                self.bytes += r.value.as_ref().map_or(0, |v| v.len() as u64);
            }
        }
    }
}

/// One consumer: Fetch `reader`'s topic (`view` or `source`) from offset 0 until the source's
/// log end `end`, every record decoded.
#[allow(clippy::too_many_arguments)]
pub async fn consume(
    addr: SocketAddr,
    reader: Reader,
    source: &str,
    view: &str,
    end: i64,
    matching: u64,
    c: &ViewsBenchConfig,
    broker_pid: Option<u32>,
) -> Result<Consume, LoadError> {
    let topic = match reader {
        Reader::View => view,
        Reader::ClientFilter | Reader::Unfiltered => source,
    };
    let mut conn = connect(addr).await?;
    let fail = |what: String| LoadError(format!("{} consume of {topic}: {what}", reader.name()));
    // The consumer is this thread: the benchmark's client runs on one thread.
    let (cpu0, own0) = (broker_cpu(broker_pid), ThreadCpu::current().ok());
    let started = Instant::now();
    let deadline = started + Duration::from_millis(RUN_TIMEOUT_MS);
    let mut tally = Tally::default();
    let (mut offset, mut wire_bytes, mut fetches) = (0i64, 0u64, 0u64);
    let mut all_matches = (matching == 0).then_some(0.0);
    while offset < end {
        if Instant::now() >= deadline {
            return Err(fail(format!(
                "at offset {offset} of {end} after {RUN_TIMEOUT_MS} ms"
            )));
        }
        let p = conn
            .fetch(topic, 0, offset, c.fetch_bytes, c.max_wait)
            .await?;
        fetches += 1;
        wire_bytes += p.records.len() as u64;
        let decoded = decode_batches(&p.records, topic)?;
        tally.add(reader, &decoded.records, offset);
        if all_matches.is_none() && tally.matching_seen >= matching {
            all_matches = Some(started.elapsed().as_secs_f64());
        }
        match decoded.next_offset {
            Some(next) if next > offset => offset = next,
            _ if p.high_watermark <= offset => {
                return Err(fail(format!(
                    "the log ends at {} before the source's end {end}",
                    p.high_watermark
                )))
            }
            _ => {
                return Err(fail(format!(
                    "no whole batch at offset {offset} within {} fetch bytes",
                    c.fetch_bytes
                )))
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (cpu1, own1) = (broker_cpu(broker_pid), ThreadCpu::current().ok());
    let Some(all_matches_seconds) = all_matches else {
        return Err(fail(format!(
            "{} of {matching} matching records seen by the log end",
            tally.matching_seen
        )));
    };
    Ok(Consume {
        records: tally.records,
        bytes: tally.bytes,
        wire_bytes,
        fetches,
        seconds,
        all_matches_seconds,
        broker_cpu_s: cpu0.zip(cpu1).map(|(a, b)| broker_cpu_since(&a, &b)),
        client_cpu_s: own0.zip(own1).map(|(a, b)| b.since(&a).seconds),
        foreign: tally.foreign,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(layout: Layout, records: u64, per_batch: u64, percent: u32) -> TagPlan {
        TagPlan {
            layout,
            records,
            per_batch,
            percent,
        }
    }

    #[test]
    fn plans_match_the_asked_share_evenly() {
        let mixed = plan(Layout::Mixed, 1_000, 64, 10);
        assert_eq!(mixed.matching(), 100);
        assert_eq!((0..1_000).filter(|&i| mixed.matches(i)).count(), 100);
        // One in every ten consecutive records.
        assert!((0..991).all(|i| (i..i + 10).filter(|&j| mixed.matches(j)).count() == 1));
        assert_eq!(mixed.tag(9), MATCH_TAG);
        assert_ne!(mixed.tag(8), MATCH_TAG);
        let homo = plan(Layout::Homogeneous, 200_000, 64, 10);
        let counted = (0..200_000).filter(|&i| homo.matches(i)).count() as u64;
        assert_eq!(homo.matching(), counted);
        // 3,125 batches, one in ten matches: 312 of them, 64 records each.
        assert_eq!(counted, 312 * 64);
        // A batch is all one tag.
        for b in 0..3_125u64 {
            let tags: std::collections::HashSet<_> =
                (b * 64..(b + 1) * 64).map(|i| homo.tag(i)).collect();
            assert_eq!(tags.len(), 1, "batch {b}");
        }
        // A partial last batch (batch 19, 10 records, matching) counts with its own size.
        let tail = plan(Layout::Homogeneous, 19 * 64 + 10, 64, 10);
        assert_eq!(tail.matching(), 64 + 10);
        assert_eq!(
            tail.matching(),
            (0..19 * 64 + 10).filter(|&i| tail.matches(i)).count() as u64
        );
        // The bounds: everything, and nothing of a tiny fill.
        assert_eq!(plan(Layout::Mixed, 7, 64, 100).matching(), 7);
        assert_eq!(plan(Layout::Mixed, 7, 64, 1).matching(), 0);
        assert_eq!(plan(Layout::Homogeneous, 7, 64, 1).matching(), 0);
    }

    #[test]
    fn the_client_side_filter_reads_the_tag_header() {
        let rec = |tag: Option<&'static str>| ConsumedRecord {
            headers: tag
                .map(|t| {
                    vec![(
                        Bytes::from_static(b"tag"),
                        Some(Bytes::from_static(t.as_bytes())),
                    )]
                })
                .unwrap_or_default(),
            value: Some(Bytes::from_static(b"12345")),
            ..Default::default()
        };
        assert!(is_match(&rec(Some("red"))));
        assert!(!is_match(&rec(Some("blue"))) && !is_match(&rec(None)));
        let records = vec![
            ConsumedRecord {
                offset: 0,
                ..rec(Some("red"))
            },
            ConsumedRecord {
                offset: 1,
                ..rec(Some("blue"))
            },
            ConsumedRecord {
                offset: 2,
                ..rec(Some("red"))
            },
        ];
        let mut view = Tally::default();
        view.add(Reader::View, &records, 1);
        assert_eq!(
            (view.records, view.bytes, view.matching_seen, view.foreign),
            (2, 10, 1, 1)
        );
        let mut client = Tally::default();
        client.add(Reader::ClientFilter, &records, 0);
        assert_eq!((client.records, client.bytes, client.foreign), (2, 10, 0));
        let mut all = Tally::default();
        all.add(Reader::Unfiltered, &records, 0);
        assert_eq!((all.records, all.bytes, all.matching_seen), (3, 15, 2));
    }

    #[test]
    fn broker_cpu_sums_per_thread_deltas() {
        let before = BTreeMap::from([(1, 1.0), (2, 5.0), (3, 2.0)]);
        // Thread 2 went backwards (a reused id): 0; thread 3 exited; thread 4 is new.
        let after = BTreeMap::from([(1, 1.25), (2, 4.0), (4, 0.5)]);
        assert_eq!(broker_cpu_since(&before, &after), 0.75);
        assert_eq!(broker_cpu(None), None);
        let me = broker_cpu(Some(std::process::id())).unwrap();
        assert!(me.contains_key(&crate::cpu::current_tid()), "{me:?}");
    }

    #[test]
    fn fills_encode_one_tag_header_per_record() {
        let p = plan(Layout::Mixed, 20, 10, 10);
        let batch = encode(&p, 10, 10, &value(16)).unwrap();
        let decoded = decode_batches(&batch, "t").unwrap();
        assert_eq!(decoded.records.len(), 10);
        let red: Vec<i64> = decoded
            .records
            .iter()
            .filter(|r| is_match(r))
            .map(|r| r.offset)
            .collect();
        // Offsets are batch-relative before the broker assigns them: record 19 is delta 9.
        assert_eq!(red, vec![9]);
    }
}
