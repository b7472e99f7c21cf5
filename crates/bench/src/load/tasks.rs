//! The tasks of a load run, one per connection: producers (pipelined or paced), page-cache
//! consumers, and e2e consumers that read the send stamps back.
//!
//! # Invariants
//! - A task stops sending once `stop` is set and returns after its last response; it never
//!   leaves a request unanswered on its connection.
//! - A broker error ends the task with that error; it is never counted as a completion.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::measure::Shared;
use super::payload::{read_stamp, stamp_epoch, Prebuilt};
use super::{LoadConfig, LoadError, Mode};
use crate::{whole_batches, WholeBatches};
use ringlog_client::{api, ClientError, Connection};
use ringlog_protocol::messages::{FetchRequest, FetchResponse, ProduceRequest};
use ringlog_protocol::ApiKey;
use ringlog_runtime::time;

/// Fetch long-poll wait of e2e consumers: short, so the end of the run is not held up.
pub const E2E_FETCH_WAIT_MS: u64 = 100;
/// Fetch wait of page-cache consumers: they read data that is there; 0 would spin at the end.
pub const CONSUME_FETCH_WAIT_MS: u64 = 10;

/// One producer connection. Unpaced: keep `in_flight` requests outstanding, latency from send.
/// Paced (`pace = (first, interval)`): one request at a time at `first + k * interval`, latency
/// from the scheduled time.
pub(super) async fn produce_task(
    mut conn: Connection,
    config: &LoadConfig,
    partition: i32,
    index: usize,
    batch: &Prebuilt,
    pace: Option<(Instant, Duration)>,
    shared: &Shared,
) -> Result<(), LoadError> {
    let version = conn.version(ApiKey::Produce)?;
    let topic = config.topic.as_str();
    let requests: Vec<ProduceRequest> = batch
        .batches
        .iter()
        .map(|b| api::produce_request(topic, partition, b.clone(), config.acks))
        .collect();
    let records = config.records_per_batch as u64;
    let depth = if pace.is_some() { 1 } else { config.in_flight };
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let mut k = index; // different connections start on different prebuilt batches
    loop {
        while sent_at.len() < depth && !shared.stop.get() {
            let scheduled = match pace {
                Some((first, interval)) => {
                    let t = first + interval.mul_f64((k - index) as f64);
                    time::sleep_until(t).await;
                    if shared.stop.get() {
                        break;
                    }
                    t
                }
                None => Instant::now(),
            };
            if config.mode == Mode::E2e {
                let ns = stamp_epoch().elapsed().as_nanos() as u64;
                let request =
                    api::produce_request(topic, partition, batch.stamped(k, ns), config.acks);
                conn.send(&request, version).await?;
            } else if config.acks == 0 {
                conn.send_without_response(&requests[k % requests.len()], version)
                    .await?;
                shared.count(records, batch.value_bytes);
            } else {
                conn.send(&requests[k % requests.len()], version).await?;
            }
            k += 1;
            if config.acks != 0 {
                sent_at.push_back(scheduled);
            }
        }
        let Some(sent) = sent_at.pop_front() else {
            if shared.stop.get() {
                return Ok(());
            }
            continue;
        };
        let response = conn.recv::<ProduceRequest>().await?;
        api::produce_result(&response, topic, partition)?;
        shared.latency(sent.elapsed(), 1);
        shared.count(records, batch.value_bytes);
    }
}

/// One page-cache consumer: fetch from `start`, wrap to `start` at the end of the log.
pub(super) async fn consume_task(
    mut conn: Connection,
    config: &LoadConfig,
    partition: i32,
    start: i64,
    shared: &Shared,
) -> Result<(), LoadError> {
    let version = conn.version(ApiKey::Fetch)?;
    let wait = Duration::from_millis(CONSUME_FETCH_WAIT_MS);
    let mut offset = start;
    while !shared.stop.get() {
        let sent = Instant::now();
        let p = fetch_from(&mut conn, version, config, partition, offset, wait).await?;
        let whole = WholeBatches::of(&p.0);
        match whole.next_offset {
            Some(next) => {
                shared.latency(sent.elapsed(), 1);
                shared.count(whole.records, whole.bytes);
                offset = next;
            }
            _ if offset >= p.1 => offset = start, // end of the log: read it again
            _ => {
                return Err(LoadError(format!(
                    "fetch {}-{partition} at {offset}: no whole batch below the high watermark {} \
                     (a batch larger than fetch bytes {}?)",
                    config.topic, p.1, config.fetch_bytes
                )))
            }
        }
    }
    Ok(())
}

/// One Fetch of `partition` from `offset` (long-polling up to `wait`): its record bytes and
/// high watermark.
async fn fetch_from(
    conn: &mut Connection,
    version: i16,
    config: &LoadConfig,
    partition: i32,
    offset: i64,
    wait: Duration,
) -> Result<(Bytes, i64), LoadError> {
    let request = api::fetch_request(
        &[(&config.topic, partition, offset)],
        config.fetch_bytes,
        wait,
    );
    conn.send_with_wait(&request, version, wait).await?;
    let response = conn.recv::<FetchRequest>().await?;
    fetched(&response, partition)
}

/// The one partition of a Fetch response: (record bytes, high watermark).
fn fetched(response: &FetchResponse, partition: i32) -> Result<(Bytes, i64), LoadError> {
    ClientError::check(response.error_code, None, || "fetch".to_string())?;
    let p = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| {
            LoadError(format!(
                "fetch: partition {partition} missing from the response"
            ))
        })?;
    ClientError::check(p.error_code, None, || {
        format!("fetch partition {partition}")
    })?;
    Ok((p.records.clone().unwrap_or_default(), p.high_watermark))
}

/// One e2e consumer: long-poll from the end; each stamped batch gives `records` samples of
/// receipt - stamp.
pub(super) async fn e2e_consume_task(
    mut conn: Connection,
    config: &LoadConfig,
    partition: i32,
    start: i64,
    shared: &Shared,
) -> Result<(), LoadError> {
    let version = conn.version(ApiKey::Fetch)?;
    let wait = Duration::from_millis(E2E_FETCH_WAIT_MS);
    let mut offset = start;
    while !shared.stop.get() {
        let (records, _) = fetch_from(&mut conn, version, config, partition, offset, wait).await?;
        let now_ns = stamp_epoch().elapsed().as_nanos() as u64;
        // One whole batch at a time: its records, its stamp.
        for (at, header) in whole_batches(&records) {
            let batch = &records[at..at + header.size_bytes() as usize];
            let n = header.offset_count() as u64;
            if let Some(stamp) = read_stamp(batch) {
                shared.latency(Duration::from_nanos(now_ns.saturating_sub(stamp)), n);
            }
            shared.count(n, n * config.record_bytes as u64);
            offset = header.last_offset() + 1;
        }
    }
    Ok(())
}
