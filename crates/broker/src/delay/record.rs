//! The records of a timer log. Each is one record of the shard's internal log (a state log's
//! batches, `storage::state_log`): the key is one byte naming the kind, the value its fields,
//! big-endian, then (for an entry) the held record as Kafka encodes it in a batch.
//!
//! ```text
//! E entry       fire i64 | due i64 | prev i64 | rolled_from i64 | rolled_from_fire i64
//!               | partition i32 | codec i8 | timestamp i64 | topic_len u16 | topic
//!               | record (length varint, attributes, deltas 0, key, value, headers)
//!   fire: the second whose slot chains it (-1: due now, reachable only through its intent);
//!   prev: the entry chained before it in the same slot (-1: none);
//!   rolled_from(_fire): the entry it replaces (re-written nearer its due time), or -1.
//! A accept      partition i32 | producer_id i64 | epoch i16 | base_sequence i32
//!               | last_offset_delta i32 | max_timestamp i64 | topic_len u16 | topic
//!   a producer's idempotent batch taken in (restored into the partition's producer state).
//! I intent      partition i32 | producer_id i64 | epoch i16 | base_sequence i32 | count u32
//!               | topic_len u16 | topic | count x (offset i64, fire i64)
//!   these entries are appended to the partition as this producer's batches from this
//!   sequence (producer -1: dropped, their partition is gone).
//! C checkpoint  done_through i64 | redo_from i64 | shards u32
//!   every entry chained in a slot at or before `done_through` is done; intents at or after
//!   offset `redo_from` may not have reached their partition.
//! ```

use std::sync::Arc;

use bytes::{BufMut, Bytes};

use crate::storage::records::{decode_records, Compression, Record};

/// An entry: one held record.
#[allow(missing_docs)] // the fields are the layout in the module doc
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRec {
    pub fire: i64,
    pub due: i64,
    pub prev: i64,
    pub rolled_from: i64,
    pub rolled_from_fire: i64,
    pub topic: Arc<str>,
    pub partition: i32,
    pub codec: Compression,
    pub timestamp: i64,
    /// The record as encoded in a batch (offset and timestamp deltas 0).
    pub record: Bytes,
}

/// An idempotent producer batch taken in.
#[allow(missing_docs)] // the fields are the layout in the module doc
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptRec {
    pub topic: Arc<str>,
    pub partition: i32,
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
}

/// Entries on their way to their partition.
#[allow(missing_docs)] // the fields are the layout in the module doc
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentRec {
    pub topic: Arc<str>,
    pub partition: i32,
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    /// (offset, fire) of each entry, in delivery order.
    pub entries: Vec<(i64, i64)>,
}

/// How far delivery got.
#[allow(missing_docs)] // the fields are the layout in the module doc
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointRec {
    pub done_through: i64,
    pub redo_from: i64,
    pub shards: u32,
}

/// One timer log record.
#[allow(missing_docs)] // the fields are the layout in the module doc
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimerRecord {
    Entry(EntryRec),
    Accept(AcceptRec),
    Intent(IntentRec),
    Checkpoint(CheckpointRec),
}

fn put_topic(out: &mut Vec<u8>, topic: &str) {
    // Topic names are at most 249 bytes (storage::names).
    out.put_u16(topic.len() as u16);
    out.extend_from_slice(topic.as_bytes());
}

impl TimerRecord {
    /// Key and value of the record.
    pub fn encode(&self) -> (Bytes, Bytes) {
        let mut v = Vec::new();
        let kind = match self {
            TimerRecord::Entry(e) => {
                v.put_i64(e.fire);
                v.put_i64(e.due);
                v.put_i64(e.prev);
                v.put_i64(e.rolled_from);
                v.put_i64(e.rolled_from_fire);
                v.put_i32(e.partition);
                v.put_i8(e.codec.attribute_bits() as i8);
                v.put_i64(e.timestamp);
                put_topic(&mut v, &e.topic);
                v.extend_from_slice(&e.record);
                b"E"
            }
            TimerRecord::Accept(a) => {
                v.put_i32(a.partition);
                v.put_i64(a.producer_id);
                v.put_i16(a.epoch);
                v.put_i32(a.base_sequence);
                v.put_i32(a.last_offset_delta);
                v.put_i64(a.max_timestamp);
                put_topic(&mut v, &a.topic);
                b"A"
            }
            TimerRecord::Intent(i) => {
                v.put_i32(i.partition);
                v.put_i64(i.producer_id);
                v.put_i16(i.epoch);
                v.put_i32(i.base_sequence);
                v.put_u32(i.entries.len() as u32);
                put_topic(&mut v, &i.topic);
                for &(offset, fire) in &i.entries {
                    v.put_i64(offset);
                    v.put_i64(fire);
                }
                b"I"
            }
            TimerRecord::Checkpoint(c) => {
                v.put_i64(c.done_through);
                v.put_i64(c.redo_from);
                v.put_u32(c.shards);
                b"C"
            }
        };
        (Bytes::from_static(kind), Bytes::from(v))
    }

    /// Decodes a record; `Err` says what is wrong (a corrupt or foreign log).
    pub fn decode(key: &[u8], value: &Bytes) -> Result<TimerRecord, String> {
        let mut r = Reader { b: value, at: 0 };
        let rec = match key {
            b"E" => {
                let fire = r.i64()?;
                let due = r.i64()?;
                let prev = r.i64()?;
                let rolled_from = r.i64()?;
                let rolled_from_fire = r.i64()?;
                let partition = r.i32()?;
                let codec = Compression::from_attributes(i16::from(r.i8()?))
                    .map_err(|e| format!("entry codec: {e}"))?;
                let timestamp = r.i64()?;
                let topic = r.topic()?;
                let record = value.slice(r.at..);
                TimerRecord::Entry(EntryRec {
                    fire,
                    due,
                    prev,
                    rolled_from,
                    rolled_from_fire,
                    topic,
                    partition,
                    codec,
                    timestamp,
                    record,
                })
            }
            b"A" => TimerRecord::Accept(AcceptRec {
                partition: r.i32()?,
                producer_id: r.i64()?,
                epoch: r.i16()?,
                base_sequence: r.i32()?,
                last_offset_delta: r.i32()?,
                max_timestamp: r.i64()?,
                topic: r.topic()?,
            }),
            b"I" => {
                let partition = r.i32()?;
                let producer_id = r.i64()?;
                let epoch = r.i16()?;
                let base_sequence = r.i32()?;
                let count = r.u32()? as usize;
                let topic = r.topic()?;
                if count > (value.len() - r.at) / 16 {
                    return Err(format!("intent of {count} entries in a shorter record"));
                }
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    entries.push((r.i64()?, r.i64()?));
                }
                TimerRecord::Intent(IntentRec {
                    topic,
                    partition,
                    producer_id,
                    epoch,
                    base_sequence,
                    entries,
                })
            }
            b"C" => TimerRecord::Checkpoint(CheckpointRec {
                done_through: r.i64()?,
                redo_from: r.i64()?,
                shards: r.u32()?,
            }),
            other => return Err(format!("unknown timer record kind {other:?}")),
        };
        Ok(rec)
    }
}

/// Encodes a record as it sits in a batch, with offset and timestamp deltas 0.
pub fn encode_record(record: &Record) -> Bytes {
    let mut one = record.clone();
    one.offset_delta = 0;
    one.timestamp_delta = 0;
    let mut out = Vec::new();
    // Lengths fit: the record came out of a batch that was at most batch_bytes_max.
    one.encode(&mut out)
        .expect("a decoded record encodes again");
    Bytes::from(out)
}

/// The record of an entry.
pub fn decode_record(bytes: &Bytes) -> Result<Record, String> {
    let mut records = decode_records(bytes, 1).map_err(|e| format!("entry record: {e}"))?;
    records
        .pop()
        .ok_or_else(|| "entry without a record".to_string())
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let end = self.at + N;
        let s = self
            .b
            .get(self.at..end)
            .ok_or_else(|| format!("timer record ends at {} of {end}", self.b.len()))?;
        self.at = end;
        Ok(s.try_into().expect("N bytes"))
    }
    fn i8(&mut self) -> Result<i8, String> {
        Ok(i8::from_be_bytes(self.take()?))
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take()?))
    }
    fn topic(&mut self) -> Result<Arc<str>, String> {
        let n = u16::from_be_bytes(self.take()?) as usize;
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| "timer record topic runs past its end".to_string())?;
        self.at += n;
        std::str::from_utf8(s)
            .map(Arc::from)
            .map_err(|_| "timer record topic is not UTF-8".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_truncations_are_errors() {
        let record = encode_record(&Record {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: vec![(Bytes::from_static(b"h"), None)],
            ..Record::default()
        });
        let all = [
            TimerRecord::Entry(EntryRec {
                fire: 7,
                due: 7_500,
                prev: 3,
                rolled_from: -1,
                rolled_from_fire: -1,
                topic: Arc::from("t"),
                partition: 2,
                codec: Compression::Lz4,
                timestamp: 99,
                record: record.clone(),
            }),
            TimerRecord::Accept(AcceptRec {
                topic: Arc::from("t"),
                partition: 1,
                producer_id: 5,
                epoch: 2,
                base_sequence: 10,
                last_offset_delta: 4,
                max_timestamp: 100,
            }),
            TimerRecord::Intent(IntentRec {
                topic: Arc::from("topic"),
                partition: 0,
                producer_id: i64::MAX,
                epoch: 0,
                base_sequence: 3,
                entries: vec![(1, 2), (3, 4)],
            }),
            TimerRecord::Checkpoint(CheckpointRec {
                done_through: 9,
                redo_from: 12,
                shards: 2,
            }),
        ];
        for rec in all {
            let (k, v) = rec.encode();
            assert_eq!(TimerRecord::decode(&k, &v).unwrap(), rec);
            if let TimerRecord::Entry(e) = &rec {
                let r = decode_record(&e.record).unwrap();
                assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
            }
            let short = v.slice(..v.len().saturating_sub(20));
            if !matches!(rec, TimerRecord::Entry(_)) {
                assert!(TimerRecord::decode(&k, &short).is_err(), "{rec:?}");
            }
        }
        assert!(TimerRecord::decode(b"Z", &Bytes::new()).is_err());
    }
}
