//! What `bench delay` says to the broker: topics with or without scheduled delivery, batches of
//! 100-byte records whose `ringlog-deliver-at` header names their exact due time, and the
//! broker's own count of pending records.
//!
//! ```text
//!  delayed record:  value = 100 B, headers [ringlog-deliver-at: "<due, epoch ms>"]
//!  baseline record: value = 100 B, headers [ringlog-bench-sent-us: "<send time, epoch us>"]
//! ```
//!
//! # Invariants
//! - Every timestamp put in a header is wall-clock time (epoch), so the broker's clock and the
//!   consumer's are the same clock (one machine).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::config::RECORD_BYTES;
use crate::load::LoadError;
use ringlog_broker::delay::DELIVER_AT_HEADER;
use ringlog_broker::topic_config::DELIVERY_DELAY_ENABLE;
use ringlog_client::{ConnectOptions, Connection};
use ringlog_protocol::error::TOPIC_ALREADY_EXISTS;
use ringlog_storage::records::{encode_batch, BatchMeta, Compression, Record};

/// Header of baseline records: when the producer sent them, epoch microseconds.
pub const SENT_US_HEADER: &str = "ringlog-bench-sent-us";

/// Wall-clock time in microseconds since the epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Wall-clock time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    now_us() / 1_000
}

/// A connection named for this benchmark.
pub async fn connect(addr: SocketAddr) -> Result<Connection, LoadError> {
    let options = ConnectOptions {
        client_id: "ringlog-bench-delay".into(),
        ..ConnectOptions::default()
    };
    Ok(Connection::connect_with(addr, options).await?)
}

/// Creates `topic` with `partitions` (delay-enabled or not; an existing one is kept) and waits
/// until its metadata lists every partition.
pub async fn create_topic(
    conn: &mut Connection,
    topic: &str,
    partitions: i32,
    delay: bool,
) -> Result<(), LoadError> {
    let configs: &[(&str, &str)] = if delay {
        &[(DELIVERY_DELAY_ENABLE, "true")]
    } else {
        &[]
    };
    match conn
        .create_topics_with_configs(&[(topic, partitions, configs)])
        .await
    {
        Ok(()) => {}
        Err(e) if e.kafka_code() == Some(TOPIC_ALREADY_EXISTS) => {}
        Err(e) => return Err(e.into()),
    }
    let info = conn.topic(topic, false).await?;
    if info.partitions.len() != partitions as usize {
        return Err(LoadError(format!(
            "topic {topic}: {} partitions listed, {partitions} created",
            info.partitions.len()
        )));
    }
    Ok(())
}

/// The 100-byte value of every record (deterministic, compressible like text).
pub fn value() -> Bytes {
    Bytes::from(
        (0..RECORD_BYTES)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz012345"[(i * 7 + i / 5) % 32])
            .collect::<Vec<u8>>(),
    )
}

/// One uncompressed batch of records with `value`, each with the header `name: values[i]`
/// (decimal), or none for `None`.
pub fn batch_with_header(value: &Bytes, name: &str, values: &[Option<i64>]) -> Bytes {
    let key = Bytes::copy_from_slice(name.as_bytes());
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            offset_delta: i as i32,
            timestamp_delta: 0,
            key: None,
            value: Some(value.clone()),
            headers: v
                .iter()
                .map(|v| (key.clone(), Some(Bytes::from(v.to_string()))))
                .collect(),
        })
        .collect();
    let meta = BatchMeta {
        base_timestamp: now_ms(),
        ..BatchMeta::default()
    };
    let mut out = Vec::new();
    encode_batch(&meta, &records, Compression::None, &mut out)
        .expect("an uncompressed batch of small records encodes");
    Bytes::from(out)
}

/// A batch of delayed records, record `i` due at `due_ms[i]` (epoch ms).
pub fn delayed_batch(value: &Bytes, due_ms: &[i64]) -> Bytes {
    let values: Vec<Option<i64>> = due_ms.iter().map(|&d| Some(d)).collect();
    batch_with_header(value, DELIVER_AT_HEADER, &values)
}

/// The value of header `name` of a record as a decimal number.
pub fn header_number(headers: &[(Bytes, Option<Bytes>)], name: &str) -> Option<i64> {
    let (_, v) = headers
        .iter()
        .find(|(k, _)| k.as_ref() == name.as_bytes())?;
    std::str::from_utf8(v.as_ref()?).ok()?.parse().ok()
}

/// Records the broker reports pending for `topic` (DescribeDelays).
pub async fn pending(conn: &mut Connection, topic: &str) -> Result<u64, LoadError> {
    let rows = conn.describe_delays(&[topic]).await?;
    Ok(rows.iter().map(|r| r.pending).sum())
}

/// Waits (bounded by `wait_max`) until the broker reports at least `want` records pending
/// for `topic`; returns the last count seen.
pub async fn wait_pending(
    conn: &mut Connection,
    topic: &str,
    want: u64,
    wait_max: Duration,
) -> Result<u64, LoadError> {
    let deadline = std::time::Instant::now() + wait_max;
    loop {
        let n = pending(conn, topic).await?;
        if n >= want || std::time::Instant::now() >= deadline {
            return Ok(n);
        }
        ringlog_runtime::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_client::records::decode_batches;

    #[test]
    fn delayed_batches_carry_each_records_due_time_in_its_header() {
        let v = value();
        assert_eq!(v.len(), RECORD_BYTES);
        let b = delayed_batch(&v, &[1_700_000_000_000, 1_700_000_000_001]);
        let got = decode_batches(&b, "test").unwrap().records;
        assert_eq!(got.len(), 2);
        assert_eq!(
            header_number(&got[1].headers, DELIVER_AT_HEADER),
            Some(1_700_000_000_001)
        );
        assert_eq!(got[0].value.as_ref(), Some(&v));
        let plain = batch_with_header(&v, SENT_US_HEADER, &[None, Some(5)]);
        let got = decode_batches(&plain, "test").unwrap().records;
        assert!(got[0].headers.is_empty());
        assert_eq!(header_number(&got[1].headers, SENT_US_HEADER), Some(5));
        assert_eq!(header_number(&got[1].headers, DELIVER_AT_HEADER), None);
    }
}
