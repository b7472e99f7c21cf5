//! The clients of `bench share`, all on the benchmark's one generator thread: the fill, the
//! classic consumer, the share-group members (one task and connection each) and the
//! acknowledgement round-trip sampler.
//!
//! # Invariants
//! - A share run ends when every offset of the topic has been accepted once (an acknowledgement
//!   the broker confirmed without error), or fails at [`RUN_TIMEOUT_MS`]; every member then
//!   closes its session and leaves.
//! - Offsets are counted in bitmaps: a record delivered twice counts once towards the end and
//!   is reported as a duplicate.
//! - Clocks start when every member holds its assignment (joining is not measured: Kafka 4.4
//!   assigns after its own interval) and stop at the confirmation of the last acceptance.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::*;
use super::measure::{AckRun, ShareRun, Throughput};
use crate::delay::Percentiles;
use crate::load::LoadError;
use ringlog_client::api::{
    self, FetchedPartition, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, RESOURCE_TYPE_GROUP,
};
use ringlog_client::records::{decode_batches, encode_batch, Compression, ProducerRecord};
use ringlog_client::share::{
    AcknowledgeType, Acknowledged, AcknowledgementMode, ShareConsumer, ShareConsumerConfig,
    ShareRecord,
};
use ringlog_client::{ConnectOptions, Connection};
use ringlog_protocol::error::TOPIC_ALREADY_EXISTS;
use ringlog_protocol::messages::{FetchRequest, ProduceRequest};
use ringlog_protocol::ApiKey;
use ringlog_runtime::time;

/// The group config that makes a new share group start at the log start (Kafka's default is
/// `latest`: a group formed after the fill would see nothing).
pub const AUTO_OFFSET_RESET: (&str, &str) = ("share.auto.offset.reset", "earliest");
/// How often waiting members look whether the run may start.
const BARRIER_POLL_MS: u64 = 1;

/// A connection named for this benchmark.
pub async fn connect(addr: SocketAddr) -> Result<Connection, LoadError> {
    Ok(Connection::connect_with(addr, options()).await?)
}

fn options() -> ConnectOptions {
    ConnectOptions {
        client_id: "ringlog-bench-share".into(),
        ..ConnectOptions::default()
    }
}

/// Wall-clock time in milliseconds since the epoch (batch timestamps, unique names).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// CPU seconds of the broker, when it is known and readable.
pub fn broker_cpu(pid: Option<u32>) -> Option<f64> {
    crate::cpu::process_seconds(Some(pid?)).ok()
}

/// Creates `topic` with one partition, waits until it serves, fills it with `c.records`
/// records of `c.record_bytes` (acks=all, [`FILL_IN_FLIGHT`] requests in flight) and checks
/// that it holds exactly offsets `0..records`.
pub async fn create_and_fill(
    conn: &mut Connection,
    topic: &str,
    c: &ShareBenchConfig,
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
    let value = value(c.record_bytes);
    let per = c.fill_batch_records();
    let batch = |n: usize| -> Result<Bytes, LoadError> {
        let records = vec![
            ProducerRecord {
                key: None,
                value: Some(value.clone()),
            };
            n
        ];
        Ok(encode_batch(&records, now_ms(), Compression::None)?)
    };
    let full = batch(per)?;
    let version = conn.version(ApiKey::Produce)?;
    let (mut left, mut in_flight) = (c.records, 0usize);
    while left > 0 || in_flight > 0 {
        while left > 0 && in_flight < FILL_IN_FLIGHT {
            let n = left.min(per as u64) as usize;
            let records = if n == per { full.clone() } else { batch(n)? };
            conn.send(&api::produce_request(topic, 0, records, -1), version)
                .await?;
            left -= n as u64;
            in_flight += 1;
        }
        let response = conn.recv::<ProduceRequest>().await?;
        api::produce_result(&response, topic, 0)?;
        in_flight -= 1;
    }
    let start = conn.list_offsets(topic, &[0], EARLIEST_TIMESTAMP).await?[0];
    let end = conn.list_offsets(topic, &[0], LATEST_TIMESTAMP).await?[0];
    if (start, end) != (0, c.records as i64) {
        return Err(LoadError(format!(
            "topic {topic} holds offsets {start}..{end} after a fill of {} records",
            c.records
        )));
    }
    Ok(())
}

/// The value of every record: `bytes` of text-like, compressible content.
pub fn value(bytes: usize) -> Bytes {
    Bytes::from(
        (0..bytes)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz012345"[(i * 7 + i / 5) % 32])
            .collect::<Vec<u8>>(),
    )
}

/// One classic consumer: Fetch from offset 0 until `count` records were read (every record
/// decoded, as the share consumer does); `None` for `count` reads the whole topic. Pipelined
/// (`c.pipeline`): the Fetch for the offset after an answer's whole batches is sent before the
/// answer's records are decoded, so at most one Fetch is in flight while the client decodes.
pub async fn classic(
    addr: SocketAddr,
    topic: &str,
    c: &ShareBenchConfig,
    count: Option<u64>,
    broker_pid: Option<u32>,
) -> Result<Throughput, LoadError> {
    let want = count.unwrap_or(c.records).min(c.records);
    let mut conn = connect(addr).await?;
    let version = conn.version(ApiKey::Fetch)?;
    let cpu0 = broker_cpu(broker_pid);
    let started = Instant::now();
    let deadline = started + Duration::from_millis(RUN_TIMEOUT_MS);
    let (mut offset, mut records, mut bytes) = (0i64, 0u64, 0u64);
    // The offset of the Fetch in flight, if one is.
    let mut in_flight: Option<i64> = None;
    while records < want {
        if Instant::now() >= deadline {
            return Err(LoadError(format!(
                "classic consume of {topic}: {records} of {want} records in {RUN_TIMEOUT_MS} ms"
            )));
        }
        if in_flight.is_none() {
            send_fetch(&mut conn, version, topic, offset, c).await?;
        }
        in_flight = None;
        let p = recv_fetch(&mut conn, topic, offset).await?;
        let ahead = whole_batches_end(&p.records);
        if c.pipeline && records < want {
            if let Some(next) = ahead.filter(|&n| n > offset && n < p.high_watermark) {
                send_fetch(&mut conn, version, topic, next, c).await?;
                in_flight = Some(next);
            }
        }
        let decoded = decode_batches(&p.records, topic)?;
        for r in decoded.records.iter().filter(|r| r.offset >= offset) {
            records += 1;
            bytes += r.value.as_ref().map_or(0, |v| v.len() as u64);
        }
        if let Some(sent) = in_flight {
            if decoded.next_offset != Some(sent) {
                return Err(LoadError(format!(
                    "classic consume of {topic}: the batches at offset {offset} end at {:?}, \
                     not at {sent} as their headers said",
                    decoded.next_offset
                )));
            }
        }
        match decoded.next_offset {
            Some(next) if next > offset => offset = next,
            _ if p.high_watermark <= offset => {
                return Err(LoadError(format!(
                    "classic consume of {topic}: the log ends at {} with {records} of {want} \
                     records read",
                    p.high_watermark
                )))
            }
            _ => {
                return Err(LoadError(format!(
                    "classic consume of {topic}: no whole batch at offset {offset} within {} \
                     fetch bytes",
                    c.fetch_bytes
                )))
            }
        }
    }
    // A Fetch sent ahead of the last records is answered before the connection closes.
    if in_flight.is_some() {
        recv_fetch(&mut conn, topic, offset).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Throughput {
        records,
        bytes,
        seconds,
        broker_cpu_s: cpu0.zip(broker_cpu(broker_pid)).map(|(a, b)| b - a),
    })
}

/// Writes one Fetch of partition 0 of `topic` at `offset`.
async fn send_fetch(
    conn: &mut Connection,
    version: i16,
    topic: &str,
    offset: i64,
    c: &ShareBenchConfig,
) -> Result<(), LoadError> {
    let request = api::fetch_request(&[(topic, 0, offset)], c.fetch_bytes, c.max_wait);
    let wait = c.max_wait.min(api::FETCH_WAIT_MAX);
    Ok(conn.send_with_wait(&request, version, wait).await?)
}

/// Reads the answer of a Fetch of partition 0 of `topic` at `offset`.
async fn recv_fetch(
    conn: &mut Connection,
    topic: &str,
    offset: i64,
) -> Result<FetchedPartition, LoadError> {
    let response = conn.recv::<FetchRequest>().await?;
    let what = || format!("classic fetch of {topic}-0 at offset {offset}");
    if response.error_code != 0 {
        return Err(LoadError(format!(
            "{}: error code {}",
            what(),
            response.error_code
        )));
    }
    let p = response
        .responses
        .iter()
        .filter(|t| &*t.topic == topic)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == 0)
        .ok_or_else(|| LoadError(format!("{}: partition missing from the answer", what())))?;
    if p.error_code != 0 {
        return Err(LoadError(format!(
            "{}: error code {}",
            what(),
            p.error_code
        )));
    }
    Ok(FetchedPartition {
        topic: topic.to_string(),
        partition: 0,
        records: p.records.clone().unwrap_or_default(),
        high_watermark: p.high_watermark,
        log_start_offset: p.log_start_offset,
    })
}

/// Record batch v2 header fields (Kafka's message format): base offset (int64) at 0, batch
/// length (int32, the bytes after it) at 8, last offset delta (int32) at 23.
const BATCH_LENGTH_AT: usize = 8;
const LAST_OFFSET_DELTA_AT: usize = 23;
/// Bytes before the batch length's count starts (base offset and the length itself).
const LOG_OVERHEAD_BYTES: usize = 12;

/// The offset after the last whole batch of `bytes`, from the batch headers alone (the
/// pipelined consumer's next fetch offset; the decode that follows checks every batch).
fn whole_batches_end(bytes: &[u8]) -> Option<i64> {
    let mut at = 0usize;
    let mut end = None;
    while bytes.len() - at > LAST_OFFSET_DELTA_AT + 4 {
        let field = |from: usize, n: usize| &bytes[at + from..at + from + n];
        let base = i64::from_be_bytes(field(0, 8).try_into().expect("8 bytes"));
        let length = i32::from_be_bytes(field(BATCH_LENGTH_AT, 4).try_into().expect("4 bytes"));
        let delta = i32::from_be_bytes(field(LAST_OFFSET_DELTA_AT, 4).try_into().expect("4 bytes"));
        let size = usize::try_from(length).ok()? + LOG_OVERHEAD_BYTES;
        if bytes.len() - at < size || size <= LAST_OFFSET_DELTA_AT + 4 {
            break;
        }
        end = Some(base.checked_add(i64::from(delta))?.checked_add(1)?);
        at += size;
    }
    end
}

/// One bit per offset.
struct Bitmap(Vec<u64>);

impl Bitmap {
    fn new(bits: u64) -> Bitmap {
        Bitmap(vec![0; bits.div_ceil(64) as usize])
    }

    /// Sets bit `i`; whether it was clear.
    fn set(&mut self, i: u64) -> bool {
        let (word, bit) = ((i / 64) as usize, 1u64 << (i % 64));
        let was_clear = self.0[word] & bit == 0;
        self.0[word] |= bit;
        was_clear
    }
}

/// What the members of one share run see together.
struct Progress {
    records: u64,
    broker_pid: Option<u32>,
    delivered: Bitmap,
    accepted: Bitmap,
    delivered_count: u64,
    accepted_count: u64,
    redelivered: u64,
    duplicates: u64,
    ack_errors: u64,
    first_ack_error: Option<String>,
    polls: u64,
    empty_polls: u64,
    per_member: Vec<u64>,
    ready: usize,
    failed: bool,
    go: Option<Instant>,
    cpu_at_go: Option<f64>,
    delivered_all: Option<Instant>,
    accepted_all: Option<Instant>,
    cpu_at_end: Option<f64>,
}

impl Progress {
    fn new(records: u64, members: usize, broker_pid: Option<u32>) -> Progress {
        Progress {
            records,
            broker_pid,
            delivered: Bitmap::new(records),
            accepted: Bitmap::new(records),
            delivered_count: 0,
            accepted_count: 0,
            redelivered: 0,
            duplicates: 0,
            ack_errors: 0,
            first_ack_error: None,
            polls: 0,
            empty_polls: 0,
            per_member: vec![0; members],
            ready: 0,
            failed: false,
            go: None,
            cpu_at_go: None,
            delivered_all: None,
            accepted_all: None,
            cpu_at_end: None,
        }
    }

    fn delivered(&mut self, member: usize, records: &[ShareRecord]) {
        self.polls += 1;
        if records.is_empty() {
            self.empty_polls += 1;
        }
        self.per_member[member] += records.len() as u64;
        for r in records {
            let o = r.record.offset;
            if r.delivery_count > 1 {
                self.redelivered += 1;
            }
            if o < 0 || o as u64 >= self.records {
                continue;
            }
            if self.delivered.set(o as u64) {
                self.delivered_count += 1;
            } else {
                self.duplicates += 1;
            }
        }
        if self.delivered_count == self.records && self.delivered_all.is_none() {
            self.delivered_all = Some(Instant::now());
        }
    }

    fn acknowledged(&mut self, verdicts: &[Acknowledged]) {
        for a in verdicts {
            if let Some(e) = &a.error {
                self.ack_errors += a.acks.len();
                self.first_ack_error.get_or_insert_with(|| e.to_string());
                continue;
            }
            for run in a.acks.runs() {
                if run.ack != AcknowledgeType::Accept {
                    continue;
                }
                let last = run.last.min(self.records as i64 - 1);
                for o in run.first.max(0)..=last {
                    if self.accepted.set(o as u64) {
                        self.accepted_count += 1;
                    }
                }
            }
        }
        if self.accepted_count == self.records && self.accepted_all.is_none() {
            self.accepted_all = Some(Instant::now());
            self.cpu_at_end = broker_cpu(self.broker_pid);
        }
    }

    fn done(&self) -> bool {
        self.accepted_count == self.records || self.failed
    }
}

fn member_config(group: &str, topic: &str, c: &ShareBenchConfig) -> ShareConsumerConfig {
    ShareConsumerConfig {
        max_records: c.max_records,
        max_wait: c.max_wait,
        connect: options(),
        prefetch: c.pipeline,
        ..ShareConsumerConfig::new(group, &[topic])
    }
}

/// Sets `share.auto.offset.reset=earliest` on a new group (IncrementalAlterConfigs, GROUP).
pub async fn prepare_group(conn: &mut Connection, group: &str) -> Result<(), LoadError> {
    let (key, value) = AUTO_OFFSET_RESET;
    Ok(conn
        .set_configs(RESOURCE_TYPE_GROUP, group, &[(key, value)])
        .await?)
}

/// `members` share consumers of a new group on `topic`, implicit acknowledgement, until every
/// record was accepted once.
pub async fn share(
    addr: SocketAddr,
    admin: &mut Connection,
    topic: &str,
    group: &str,
    members: usize,
    c: &ShareBenchConfig,
    broker_pid: Option<u32>,
) -> Result<ShareRun, LoadError> {
    prepare_group(admin, group).await?;
    let progress = Rc::new(RefCell::new(Progress::new(c.records, members, broker_pid)));
    let tasks: Vec<_> = (0..members)
        .map(|i| {
            let config = member_config(group, topic, c);
            let p = progress.clone();
            ringlog_runtime::spawn(async move {
                let r = member(addr, config, i, &p).await;
                if r.is_err() {
                    p.borrow_mut().failed = true;
                }
                r
            })
        })
        .collect();
    // Start the clock when every member holds its assignment.
    let join_deadline = Instant::now() + Duration::from_millis(JOIN_WAIT_MS + 5_000);
    loop {
        let ready = {
            let p = progress.borrow();
            p.ready == members || p.failed
        };
        if ready || Instant::now() >= join_deadline {
            break;
        }
        time::sleep(Duration::from_millis(BARRIER_POLL_MS)).await;
    }
    {
        let mut p = progress.borrow_mut();
        if p.ready < members {
            p.failed = true;
        }
        p.cpu_at_go = broker_cpu(broker_pid);
        p.go = Some(Instant::now());
    }
    let mut first_error = None;
    for t in tasks {
        if let Err(e) = t.await {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let p = progress.borrow();
    let go = p.go.expect("set before the members run");
    let (Some(accepted), Some(delivered)) = (p.accepted_all, p.delivered_all) else {
        return Err(LoadError(format!(
            "share run of {members}: {} of {} records accepted",
            p.accepted_count, p.records
        )));
    };
    Ok(ShareRun {
        consumers: members,
        throughput: Throughput {
            records: p.records,
            bytes: p.records * c.record_bytes as u64,
            seconds: (accepted - go).as_secs_f64(),
            broker_cpu_s: p.cpu_at_go.zip(p.cpu_at_end).map(|(a, b)| b - a),
        },
        delivered_seconds: (delivered - go).as_secs_f64(),
        redelivered: p.redelivered,
        duplicates: p.duplicates,
        ack_errors: p.ack_errors,
        first_ack_error: p.first_ack_error.clone(),
        polls: p.polls,
        empty_polls: p.empty_polls,
        per_member_min: p.per_member.iter().copied().min().unwrap_or(0),
        per_member_max: p.per_member.iter().copied().max().unwrap_or(0),
    })
}

/// One member of a share run (see the module doc).
async fn member(
    addr: SocketAddr,
    config: ShareConsumerConfig,
    index: usize,
    progress: &RefCell<Progress>,
) -> Result<(), LoadError> {
    let mut consumer = ShareConsumer::join(addr, config).await?;
    consumer
        .wait_for_assignment(Duration::from_millis(JOIN_WAIT_MS))
        .await?;
    progress.borrow_mut().ready += 1;
    let go = loop {
        if let Some(go) = progress.borrow().go {
            break go;
        }
        time::sleep(Duration::from_millis(BARRIER_POLL_MS)).await;
    };
    let deadline = go + Duration::from_millis(RUN_TIMEOUT_MS);
    while !progress.borrow().done() {
        if Instant::now() >= deadline {
            return Err(LoadError(format!(
                "share run: not every record accepted within {RUN_TIMEOUT_MS} ms"
            )));
        }
        let all_delivered = progress.borrow().delivered_all.is_some();
        // Once every record is out, what this member holds is acknowledged at once instead
        // of riding on a ShareFetch that would wait for records that may not come.
        let verdicts = if all_delivered && consumer.pending_acknowledgements() > 0 {
            consumer.commit().await?
        } else {
            let polled = consumer.poll().await?;
            if let Some(e) = polled.fetch_errors.into_iter().next() {
                return Err(e.into());
            }
            progress.borrow_mut().delivered(index, &polled.records);
            polled.acknowledged
        };
        progress.borrow_mut().acknowledged(&verdicts);
    }
    let verdicts = consumer.close().await?;
    progress.borrow_mut().acknowledged(&verdicts);
    Ok(())
}

/// A warm-up share consumer of a new group: reads `records` (or the topic), then leaves,
/// releasing what it holds. Nothing is reported.
pub async fn warm_up(
    addr: SocketAddr,
    admin: &mut Connection,
    topic: &str,
    group: &str,
    records: u64,
    c: &ShareBenchConfig,
) -> Result<(), LoadError> {
    prepare_group(admin, group).await?;
    let mut consumer = ShareConsumer::join(addr, member_config(group, topic, c)).await?;
    consumer
        .wait_for_assignment(Duration::from_millis(JOIN_WAIT_MS))
        .await?;
    let deadline = Instant::now() + Duration::from_millis(RUN_TIMEOUT_MS);
    let mut got = 0u64;
    while got < records.min(c.records) {
        if Instant::now() >= deadline {
            return Err(LoadError(format!(
                "warm-up: {got} of {records} records within {RUN_TIMEOUT_MS} ms"
            )));
        }
        got += consumer.poll().await?.records.len() as u64;
    }
    consumer.close().await?;
    Ok(())
}

/// ShareAcknowledge round trips: one member of a new group, explicit acknowledgement, each
/// record accepted on its own, timed from send to response.
pub async fn ack_round_trips(
    addr: SocketAddr,
    admin: &mut Connection,
    topic: &str,
    group: &str,
    c: &ShareBenchConfig,
) -> Result<AckRun, LoadError> {
    prepare_group(admin, group).await?;
    let config = ShareConsumerConfig {
        mode: AcknowledgementMode::Explicit,
        max_records: c.max_records.min(c.ack_samples.max(1) as i32),
        // One ShareAcknowledge at a time, nothing else in flight.
        prefetch: false,
        ..member_config(group, topic, c)
    };
    let mut consumer = ShareConsumer::join(addr, config).await?;
    consumer
        .wait_for_assignment(Duration::from_millis(JOIN_WAIT_MS))
        .await?;
    let deadline = Instant::now() + Duration::from_millis(RUN_TIMEOUT_MS);
    let mut rtts_us: Vec<i64> = Vec::with_capacity(c.ack_samples);
    let (mut errors, mut first_error) = (0u64, None);
    while rtts_us.len() < c.ack_samples {
        if Instant::now() >= deadline {
            return Err(LoadError(format!(
                "acknowledgement round trips: {} of {} within {RUN_TIMEOUT_MS} ms",
                rtts_us.len(),
                c.ack_samples
            )));
        }
        let polled = consumer.poll().await?;
        if let Some(e) = polled.fetch_errors.into_iter().next() {
            return Err(e.into());
        }
        for r in &polled.records {
            if rtts_us.len() == c.ack_samples {
                break;
            }
            consumer.acknowledge(r, AcknowledgeType::Accept)?;
            let sent = Instant::now();
            let verdicts = consumer.commit().await?;
            rtts_us.push(sent.elapsed().as_micros() as i64);
            for v in verdicts {
                if let Some(e) = v.error {
                    errors += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    // Records fetched beyond the samples are released by the close.
    consumer.close().await?;
    Ok(AckRun {
        rtt: Percentiles::of(&mut rtts_us),
        errors,
        first_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_client::records::ConsumedRecord;
    use ringlog_client::share::AckRanges;
    use std::sync::Arc;

    fn record(offset: i64, delivery_count: i16) -> ShareRecord {
        ShareRecord {
            topic: Arc::from("t"),
            topic_id: Default::default(),
            partition: 0,
            delivery_count,
            record: ConsumedRecord {
                offset,
                ..Default::default()
            },
        }
    }

    fn accepted(first: i64, last: i64, error: Option<&str>) -> Acknowledged {
        let mut acks = AckRanges::default();
        acks.add(first, last, AcknowledgeType::Accept).unwrap();
        Acknowledged {
            topic: Arc::from("t"),
            partition: 0,
            acks,
            error: error.map(|e| ringlog_client::ClientError::InvalidArgument(e.into())),
        }
    }

    #[test]
    fn progress_counts_each_offset_once_and_ends_at_the_last_acceptance() {
        let mut p = Progress::new(10, 2, None);
        p.delivered(0, &[record(0, 1), record(1, 1), record(2, 2)]);
        p.delivered(1, &[record(2, 2), record(3, 1), record(99, 1)]);
        p.delivered(1, &[]);
        assert_eq!((p.delivered_count, p.duplicates, p.redelivered), (4, 1, 2));
        assert_eq!(
            (p.polls, p.empty_polls, p.per_member.clone()),
            (3, 1, vec![3, 3])
        );
        p.acknowledged(&[
            accepted(0, 3, None),
            accepted(4, 9, Some("INVALID_RECORD_STATE")),
        ]);
        assert_eq!((p.accepted_count, p.ack_errors), (4, 6));
        assert!(p
            .first_ack_error
            .as_deref()
            .unwrap()
            .contains("INVALID_RECORD_STATE"));
        assert!(!p.done() && p.accepted_all.is_none());
        p.delivered(0, &(4..10).map(|o| record(o, 1)).collect::<Vec<_>>());
        assert!(p.delivered_all.is_some());
        // Offsets outside the topic are ignored; 4..=9 once more ends the run.
        p.acknowledged(&[accepted(4, 20, None)]);
        assert!(p.done() && p.accepted_all.is_some());
        assert_eq!(p.accepted_count, 10);
    }

    #[test]
    fn bitmaps_set_each_bit_once() {
        let mut b = Bitmap::new(130);
        assert!(b.set(0) && b.set(63) && b.set(64) && b.set(129));
        assert!(!b.set(63));
        assert_eq!(b.0.len(), 3);
    }

    #[test]
    fn values_have_the_asked_length() {
        assert_eq!(value(1024).len(), 1024);
        assert_eq!(value(0).len(), 0);
    }
}
