//! Record batches for the client: encode records into one RecordBatch v2 (any compression), and
//! decode the batches of a Fetch response, with the checks kafka-protocol's decoder lacks.
//!
//! Decoding trusts nothing. `kafka_protocol::records` pre-allocates from the wire record count
//! (`Vec::reserve(record_count)`) and header count (`IndexMap::with_capacity`), so a few hostile
//! bytes could ask for terabytes and abort the process. Before a batch reaches it:
//! 1. the header is validated by [`crate::storage::batch::validate_one`] (magic, lengths, CRC32C,
//!    `records_count == last_offset_delta + 1`);
//! 2. the records are decompressed once, and [`check_records`] walks exactly `records_count`
//!    records through the (decompressed) bytes, checking each length and header count against
//!    the bytes left, so every count the decoder later allocates from is bounded by real bytes;
//! 3. the decoder gets those same bytes back through its custom-decompression hook.
//!
//! A Fetch response may end in a partial batch (the broker cut it at `max_bytes`); that tail is
//! skipped, not an error.
//!
//! # Invariants
//! - No count from the wire reaches an allocation before it has been checked against the
//!   number of bytes that would hold that many elements.
//! - Decoded record offsets are `base_offset + offset_delta` of a CRC-checked batch.

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{self as cmpr, Decompressor};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};

use super::error::{ClientError, Result};
use crate::storage::batch::{self, BatchHeader, HEADER_BYTES, LOG_OVERHEAD_BYTES};

/// Attribute bits 0..2: the compression codec.
const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 5: a control batch (transaction markers), never shown to applications.
const CONTROL_FLAG: i16 = 1 << 5;
/// Bytes of `batch_length` and everything before it.
const BATCH_LENGTH_END: usize = 12;

/// One record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Record key (`None` = null key).
    pub key: Option<Bytes>,
    /// Record value (`None` = null value, a tombstone).
    pub value: Option<Bytes>,
}

/// Parses a codec name as used on the command line: `none`, `gzip`, `snappy`, `lz4`, `zstd`.
pub fn parse_compression(name: &str) -> Result<Compression> {
    Ok(match name {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => {
            return Err(ClientError::InvalidArgument(format!(
                "unknown compression '{other}' (none, gzip, snappy, lz4, zstd)"
            )))
        }
    })
}

/// The codec name of a batch's attributes (`none`, `gzip`, ..., or `codec-N` for unknown N).
pub fn compression_name(attributes: i16) -> String {
    match attributes & COMPRESSION_MASK {
        0 => "none".into(),
        1 => "gzip".into(),
        2 => "snappy".into(),
        3 => "lz4".into(),
        4 => "zstd".into(),
        n => format!("codec-{n}"),
    }
}

/// Encodes `records` as one RecordBatch v2 (no producer id, creation timestamps all
/// `timestamp_ms`), compressed with `compression`. The broker assigns the offsets.
pub fn encode_batch(
    records: &[ProducerRecord],
    timestamp_ms: i64,
    compression: Compression,
) -> Result<Bytes> {
    if records.is_empty() {
        return Err(ClientError::InvalidArgument(
            "a record batch needs at least one record".into(),
        ));
    }
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch whenever `offset - sequence` changes; keeping it
            // constant (sequence = offset - 1) gives one batch with base_sequence = NO_SEQUENCE.
            sequence: NO_SEQUENCE + i as i32,
            timestamp: timestamp_ms,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: IndexMap::new(),
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| ClientError::Records {
        reason: format!("encoding {} records: {e}", records.len()),
    })?;
    Ok(out.freeze())
}

/// The records of a Fetch response's record bytes.
#[derive(Debug, Clone, Default)]
pub struct DecodedRecords {
    /// Records in offset order (control batches left out).
    pub records: Vec<Record>,
    /// One past the last offset of the last whole batch, `None` if there was none.
    pub next_offset: Option<i64>,
    /// Bytes of a partial batch at the end (cut by the broker at `max_bytes`), skipped.
    pub partial_tail_bytes: usize,
}

/// Decodes every whole batch in `bytes` (see the module doc for the checks). `context` names
/// the source in errors, e.g. `orders-0`.
pub fn decode_batches(bytes: &Bytes, context: &str) -> Result<DecodedRecords> {
    let mut out = DecodedRecords::default();
    let mut position = 0usize;
    while position < bytes.len() {
        let rest = &bytes[position..];
        if rest.len() < BATCH_LENGTH_END {
            out.partial_tail_bytes = rest.len();
            break;
        }
        let batch_length = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        let at = position;
        let bad = |what: String| ClientError::Records {
            reason: format!("{context}: batch at byte {at}: {what}"),
        };
        let Ok(batch_length) = usize::try_from(batch_length) else {
            return Err(bad(format!("negative batch length {batch_length}")));
        };
        let size = LOG_OVERHEAD_BYTES + batch_length;
        if rest.len() < size {
            out.partial_tail_bytes = rest.len();
            break;
        }
        let header =
            batch::validate_one(&rest[..size], u64::MAX).map_err(|e| bad(e.to_string()))?;
        let batch_bytes = bytes.slice(position..position + size);
        position += size;
        out.next_offset = Some(header.last_offset() + 1);
        if header.attributes & CONTROL_FLAG != 0 {
            continue;
        }
        let records = decode_one(&header, batch_bytes)
            .map_err(|e| bad(format!("base offset {}: {e}", header.base_offset)))?;
        out.records.extend(records);
    }
    Ok(out)
}

/// Decodes one validated batch.
fn decode_one(
    header: &BatchHeader,
    batch_bytes: Bytes,
) -> std::result::Result<Vec<Record>, String> {
    let mut region = batch_bytes.slice(HEADER_BYTES..);
    let plain = match header.attributes & COMPRESSION_MASK {
        0 => region,
        1 => decompress::<cmpr::Gzip>(&mut region, "gzip")?,
        2 => decompress::<cmpr::Snappy>(&mut region, "snappy")?,
        3 => decompress::<cmpr::Lz4>(&mut region, "lz4")?,
        4 => decompress::<cmpr::Zstd>(&mut region, "zstd")?,
        n => return Err(format!("unknown compression codec {n}")),
    };
    check_records(&plain, header.records_count)?;
    let mut buf = batch_bytes;
    let set = RecordBatchDecoder::decode_with_custom_compression(
        &mut buf,
        Some(move |_: &mut Bytes, _: Compression| Ok(plain.clone())),
    )
    .map_err(|e| e.to_string())?;
    Ok(set.records)
}

fn decompress<D: Decompressor<Bytes, Buf = Bytes>>(
    region: &mut Bytes,
    name: &str,
) -> std::result::Result<Bytes, String> {
    D::decompress(region, |plain| Ok(plain.clone())).map_err(|e| format!("{name}: {e:#}"))
}

/// Reads a zigzag varint of at most 10 bytes at `*pos`.
fn get_varlong(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut z: u64 = 0;
    for i in 0..10 {
        let byte = *b.get(*pos)?;
        *pos += 1;
        z |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((z >> 1) as i64 ^ -((z & 1) as i64));
        }
    }
    None
}

/// Walks exactly `count` records through `plain`, checking every length and header count
/// against the bytes left, so the decoder's allocations are bounded by real bytes.
pub fn check_records(plain: &[u8], count: i32) -> std::result::Result<(), String> {
    let mut pos = 0usize;
    for i in 0..count {
        let err = |what: &str| format!("record {i} of {count}: {what}");
        let len = get_varlong(plain, &mut pos).ok_or_else(|| err("truncated length"))?;
        let left = plain.len() - pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= left)
            .ok_or_else(|| err(&format!("length {len} but {left} bytes left")))?;
        let rec = &plain[pos..pos + len];
        pos += len;
        let mut p = 1usize; // attributes
        get_varlong(rec, &mut p).ok_or_else(|| err("truncated timestamp delta"))?;
        get_varlong(rec, &mut p).ok_or_else(|| err("truncated offset delta"))?;
        for field in ["key", "value"] {
            let n = get_varlong(rec, &mut p).ok_or_else(|| err(&format!("truncated {field}")))?;
            if n < -1 || (n > 0 && n as u64 > rec.len().saturating_sub(p) as u64) {
                return Err(err(&format!("{field} length {n} outside the record")));
            }
            p += n.max(0) as usize;
        }
        let headers = get_varlong(rec, &mut p).ok_or_else(|| err("truncated header count"))?;
        // Each header is at least two varint bytes (key length, value length).
        if headers < 0 || headers as u64 > (rec.len().saturating_sub(p) / 2) as u64 {
            return Err(err(&format!("header count {headers} outside the record")));
        }
    }
    if pos != plain.len() {
        return Err(format!(
            "{} bytes after the {count} records",
            plain.len() - pos
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(k: Option<&str>, v: &str) -> ProducerRecord {
        ProducerRecord {
            key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
        }
    }

    #[test]
    fn every_codec_round_trips() {
        let input = vec![
            rec(Some("k1"), "hello"),
            rec(None, "world"),
            rec(Some("k3"), ""),
        ];
        for c in ["none", "gzip", "snappy", "lz4", "zstd"] {
            let bytes =
                encode_batch(&input, 1_700_000_000_000, parse_compression(c).unwrap()).unwrap();
            let h = BatchHeader::parse(&bytes).unwrap();
            assert_eq!(
                batch::validate_buffer(&bytes, u64::MAX).unwrap().len(),
                1,
                "{c}"
            );
            assert_eq!(h.base_sequence, NO_SEQUENCE);
            assert_eq!(compression_name(h.attributes), c);
            let out = decode_batches(&bytes, "t-0").unwrap();
            assert_eq!(out.records.len(), 3, "{c}");
            assert_eq!(out.next_offset, Some(3));
            for (i, r) in out.records.iter().enumerate() {
                assert_eq!(r.offset, i as i64);
                assert_eq!(r.key, input[i].key);
                assert_eq!(r.value, input[i].value);
                assert_eq!(r.timestamp, 1_700_000_000_000);
            }
        }
    }

    #[test]
    fn partial_tail_is_skipped() {
        let a = encode_batch(&[rec(None, "a")], 0, Compression::None).unwrap();
        let mut two = a.to_vec();
        two.extend_from_slice(&a[..a.len() - 3]);
        let out = decode_batches(&Bytes::from(two), "t-0").unwrap();
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.partial_tail_bytes, a.len() - 3);
    }

    #[test]
    fn hostile_counts_are_errors_not_allocations() {
        // A compressed batch claiming 2^31-1 records: the header passes (records_count ==
        // last_offset_delta + 1, compressed so no byte bound), the walk must refuse it.
        let mut b = encode_batch(&[rec(None, "x")], 0, Compression::Lz4)
            .unwrap()
            .to_vec();
        b[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        batch::testing::fix_crc(&mut b);
        let e = decode_batches(&Bytes::from(b), "t-0").unwrap_err();
        assert!(e.to_string().contains("record 1 of 2147483647"), "{e}");

        // A record claiming a huge header count.
        let mut plain = Vec::new();
        for v in [8i64, 0, 0, 0, -1, -1, 1_000_000] {
            batch::testing::put_varlong(&mut plain, v);
        }
        assert!(check_records(&plain, 1).is_err());
    }

    #[test]
    fn crc_damage_is_reported_with_position() {
        let mut b = encode_batch(&[rec(None, "abc")], 0, Compression::None)
            .unwrap()
            .to_vec();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        let e = decode_batches(&Bytes::from(b), "orders-1").unwrap_err();
        assert!(e.to_string().contains("orders-1: batch at byte 0"), "{e}");
    }
}
