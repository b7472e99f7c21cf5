//! Record batches for the client: encode records into one RecordBatch v2 (any compression), and
//! decode the batches of a Fetch response.
//!
//! The layout, the record encoding and the codecs are [`ringlog_storage::batch`] and
//! [`ringlog_storage::records`]; this module adds the client's view. Decoding trusts nothing:
//! 1. the header is validated by [`ringlog_storage::batch::validate_fetched`] (magic, lengths,
//!    CRC32C, `0 <= records_count <= last_offset_delta + 1`: compacted topics and filtered views
//!    send batches with fewer records than offsets, and empty ones);
//! 2. the records are decompressed once, into at most [`DECOMPRESSED_BATCH_BYTES_MAX`] bytes (a
//!    batch that inflates beyond is an error, not an allocation);
//! 3. exactly `records_count` records are decoded, every length and count checked against the
//!    bytes left before anything is allocated from it.
//!
//! A Fetch response may end in a partial batch (the broker cut it at `max_bytes`); that tail is
//! skipped, not an error.
//!
//! # Invariants
//! - No count from the wire reaches an allocation before it has been checked against the
//!   number of bytes that would hold that many elements.
//! - Decoded record offsets are `base_offset + offset_delta` of a CRC-checked batch.

use bytes::Bytes;

use super::error::{ClientError, Result};
use ringlog_storage::batch::{self, BatchHeader, BATCH_LENGTH_AT, LOG_OVERHEAD_BYTES};
pub use ringlog_storage::records::Compression;
use ringlog_storage::records::{self as recs, BatchMeta, Record};

/// Largest decompressed records region of one fetched batch (a decompression bomb beyond this
/// is an error).
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 256 * 1024 * 1024;

/// One record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Record key (`None` = null key).
    pub key: Option<Bytes>,
    /// Record value (`None` = null value, a tombstone).
    pub value: Option<Bytes>,
}

/// One fetched record, with its absolute offset and timestamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The record's offset in the partition.
    pub offset: i64,
    /// Milliseconds since the epoch: create time, or the batch's log-append time.
    pub timestamp: i64,
    /// Record key (`None` = null key).
    pub key: Option<Bytes>,
    /// Record value (`None` = null value, a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order: (key, value).
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// Parses a codec name as used on the command line: `none`, `gzip`, `snappy`, `lz4`, `zstd`.
pub fn parse_compression(name: &str) -> Result<Compression> {
    Compression::from_name(name).ok_or_else(|| {
        ClientError::InvalidArgument(format!(
            "unknown compression '{name}' (none, gzip, snappy, lz4, zstd)"
        ))
    })
}

/// The codec name of a batch's attributes (`none`, `gzip`, ..., or `codec-N` for unknown N).
pub fn compression_name(attributes: i16) -> String {
    match Compression::from_attributes(attributes) {
        Ok(c) => c.name().into(),
        Err(_) => format!("codec-{}", attributes & batch::ATTR_COMPRESSION_MASK),
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
    let records = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let offset_delta = i32::try_from(i).map_err(|_| {
                ClientError::InvalidArgument(format!(
                    "{} records do not fit one batch",
                    records.len()
                ))
            })?;
            Ok(Record {
                offset_delta,
                timestamp_delta: 0,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: Vec::new(),
            })
        })
        .collect::<Result<Vec<Record>>>()?;
    let meta = BatchMeta {
        base_timestamp: timestamp_ms,
        ..BatchMeta::default()
    };
    let mut out = Vec::new();
    recs::encode_batch(&meta, &records, compression, &mut out).map_err(|e| {
        ClientError::Records {
            reason: format!("encoding {} records: {e}", records.len()),
        }
    })?;
    Ok(Bytes::from(out))
}

/// The records of a Fetch response's record bytes.
#[derive(Debug, Clone, Default)]
pub struct DecodedRecords {
    /// Records in offset order (control batches left out).
    pub records: Vec<ConsumedRecord>,
    /// One past the last offset of the last whole batch, `None` if there was none.
    pub next_offset: Option<i64>,
    /// Bytes of a partial batch at the end (cut by the broker at `max_bytes`), skipped.
    pub partial_tail_bytes: usize,
}

/// Decodes every whole batch in `bytes` (see the module doc for the checks). `context` names
/// the source in errors, e.g. `orders-0`.
pub fn decode_batches(bytes: &Bytes, context: &str) -> Result<DecodedRecords> {
    decode_batches_within(bytes, context, DECOMPRESSED_BATCH_BYTES_MAX)
}

/// [`decode_batches`] with another bound on one batch's decompressed records.
pub fn decode_batches_within(
    bytes: &Bytes,
    context: &str,
    decompressed_bytes_max: usize,
) -> Result<DecodedRecords> {
    decode_batches_where(bytes, context, decompressed_bytes_max, |_| true)
}

/// [`decode_batches_within`], decoding the records only of the batches `wanted` accepts (a
/// share consumer skips batches that hold none of its acquired records). Every whole batch is
/// still validated and counts for `next_offset`.
pub fn decode_batches_where(
    bytes: &Bytes,
    context: &str,
    decompressed_bytes_max: usize,
    mut wanted: impl FnMut(&BatchHeader) -> bool,
) -> Result<DecodedRecords> {
    let mut out = DecodedRecords::default();
    let mut position = 0usize;
    while position < bytes.len() {
        let rest = &bytes[position..];
        if rest.len() < LOG_OVERHEAD_BYTES {
            out.partial_tail_bytes = rest.len();
            break;
        }
        let length_field: [u8; 4] = rest[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4]
            .try_into()
            .expect("4 bytes");
        let batch_length = i32::from_be_bytes(length_field);
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
            batch::validate_fetched(&rest[..size], u64::MAX).map_err(|e| bad(e.to_string()))?;
        let batch_bytes = bytes.slice(position..position + size);
        position += size;
        let Some(next_offset) = header.next_offset().filter(|_| header.base_offset >= 0) else {
            return Err(bad(format!(
                "batch offsets {}+{} out of range",
                header.base_offset, header.last_offset_delta
            )));
        };
        out.next_offset = Some(next_offset);
        if header.is_control() || !wanted(&header) {
            continue;
        }
        let records = recs::decode_batch_records(&batch_bytes, &header, decompressed_bytes_max)
            .map_err(|e| bad(format!("base offset {}: {e}", header.base_offset)))?;
        out.records
            .extend(records.into_iter().map(|r| consumed(&header, r)));
    }
    Ok(out)
}

/// A decoded record with its absolute offset and timestamp.
fn consumed(header: &BatchHeader, r: Record) -> ConsumedRecord {
    ConsumedRecord {
        offset: header.base_offset.wrapping_add(i64::from(r.offset_delta)),
        timestamp: if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(r.timestamp_delta)
        },
        key: r.key,
        value: r.value,
        headers: r.headers,
    }
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
            assert_eq!(h.base_sequence, batch::NO_SEQUENCE);
            assert_eq!(h.producer_id, batch::NO_PRODUCER_ID);
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
        let (delta, count) = (batch::LAST_OFFSET_DELTA_AT, batch::RECORDS_COUNT_AT);
        b[delta..delta + 4].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        b[count..count + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        batch::testing::fix_crc(&mut b);
        let e = decode_batches(&Bytes::from(b), "t-0").unwrap_err();
        assert!(e.to_string().contains("record 1 of 2147483647"), "{e}");

        // A record claiming a huge header count, in an uncompressed batch.
        let mut b = encode_batch(&[rec(None, "")], 0, Compression::None)
            .unwrap()
            .to_vec();
        b.truncate(batch::RECORDS_AT);
        for v in [8i64, 0, 0, 0, -1, -1] {
            batch::testing::put_varlong(&mut b, v);
        }
        batch::testing::put_varlong(&mut b, 1_000_000);
        let length = (b.len() - LOG_OVERHEAD_BYTES) as i32;
        b[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
        batch::testing::fix_crc(&mut b);
        let e = decode_batches(&Bytes::from(b), "t-0").unwrap_err();
        assert!(e.to_string().contains("header count 1000000"), "{e}");
    }

    #[test]
    fn bombs_and_unknown_codecs_are_errors() {
        // 10 MB of zeros in a zstd batch, decoded with a 1 MiB bound.
        let big = ProducerRecord {
            key: None,
            value: Some(Bytes::from(vec![0u8; 10_000_000])),
        };
        let b = encode_batch(&[big], 0, Compression::Zstd).unwrap();
        assert!(b.len() < 10_000);
        let e = decode_batches_within(&b, "t-0", 1 << 20).unwrap_err();
        assert!(e.to_string().contains("exceed the limit"), "{e}");
        assert_eq!(decode_batches(&b, "t-0").unwrap().records.len(), 1);

        let mut b = encode_batch(&[rec(None, "x")], 0, Compression::None)
            .unwrap()
            .to_vec();
        let at = batch::ATTRIBUTES_AT;
        b[at..at + 2].copy_from_slice(&5i16.to_be_bytes());
        batch::testing::fix_crc(&mut b);
        let e = decode_batches(&Bytes::from(b), "t-0").unwrap_err();
        assert!(e.to_string().contains("unknown compression codec 5"), "{e}");
        assert_eq!(compression_name(5), "codec-5");
        assert!(parse_compression("brotli").is_err());
    }

    #[test]
    fn control_batches_are_skipped_and_log_append_time_is_used() {
        let mut control = encode_batch(&[rec(None, "marker")], 0, Compression::None)
            .unwrap()
            .to_vec();
        let at = batch::ATTRIBUTES_AT;
        control[at..at + 2].copy_from_slice(&batch::ATTR_CONTROL.to_be_bytes());
        batch::testing::fix_crc(&mut control);
        let mut appended = encode_batch(&[rec(None, "a"), rec(None, "b")], 5, Compression::Gzip)
            .unwrap()
            .to_vec();
        batch::stamp(&mut appended, 1, 0);
        let attributes = batch::ATTR_TIMESTAMP_TYPE | Compression::Gzip.attribute_bits();
        appended[at..at + 2].copy_from_slice(&attributes.to_be_bytes());
        let ts = batch::MAX_TIMESTAMP_AT;
        appended[ts..ts + 8].copy_from_slice(&77i64.to_be_bytes());
        batch::testing::fix_crc(&mut appended);
        control.extend_from_slice(&appended);
        let out = decode_batches(&Bytes::from(control), "t-0").unwrap();
        assert_eq!(out.next_offset, Some(3));
        let got: Vec<(i64, i64)> = out
            .records
            .iter()
            .map(|r| (r.offset, r.timestamp))
            .collect();
        assert_eq!(got, [(1, 77), (2, 77)]);
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
