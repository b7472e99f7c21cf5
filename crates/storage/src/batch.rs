//! Kafka RecordBatch v2 layout: the one place that knows its byte positions and attribute bits
//! (all public as `*_AT`, `ATTR_*` and size constants), header parse, validate (CRC32C), write,
//! and stamp the broker-owned fields. The records inside a batch and their compression are in
//! [`super::records`].
//!
//! The broker stores batches byte for byte as the producer sent them, except two fields that lie
//! *outside* the CRC and that the broker owns: the base offset and the partition leader epoch.
//! So a fetch can send file bytes unchanged.
//!
//! ```text
//! byte  0         8        12                16    17        21          23
//!       +---------+--------+-----------------+-----+---------+-----------+-----------------+
//!       | base    | batch  | partition       |magic| crc     | attributes| last_offset     |
//!       | offset  | length | leader epoch    | =2  | u32 BE  | i16 BE    | delta i32 BE    |
//!       | i64 BE  | i32 BE | i32 BE          | i8  | CRC32C  |           |                 |
//!       +---------+--------+-----------------+-----+---------+-----------+-----------------+
//!        ^ stamped          ^ stamped              |<--------- covered by the CRC ------------
//! byte 27             35             43            51        53          57        61
//!       +-------------+--------------+-------------+---------+-----------+---------+-------...
//!       | base        | max          | producer id | producer| base      | records | records
//!       | timestamp   | timestamp    | i64 BE      | epoch   | sequence  | count   | (varint
//!       | i64 BE      | i64 BE       |             | i16 BE  | i32 BE    | i32 BE  |  encoded)
//!       +-------------+--------------+-------------+---------+-----------+---------+-------...
//! ```
//! `batch_length` counts the bytes after itself, so a batch occupies `12 + batch_length` bytes.
//! The CRC covers bytes `21..12 + batch_length` (attributes to the end).
//!
//! Attributes (i16): bits 0..2 compression codec, bit 3 timestamp type (log-append time), bit 4
//! transactional, bit 5 control, bit 6 delete horizon set; the other bits are unused.
//!
//! # Invariants
//! - A batch accepted by [`validate_buffer`] has magic 2, `batch_length >= 49`, a size within
//!   `batch_bytes_max`, `records_count == last_offset_delta + 1 > 0` and a matching CRC32C.
//! - [`stamp`] touches only bytes 0..8 and 12..16, so the CRC stays valid.

use super::error::BatchError;
use super::records::read_record;

/// Bytes of the fixed v2 header (up to and including `records_count`).
pub const HEADER_BYTES: usize = 61;
/// Bytes before the part counted by `batch_length` (base offset + batch length).
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Smallest legal `batch_length`: the header after the length field, with zero record bytes.
pub const BATCH_LENGTH_MIN: i32 = (HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
/// The only supported batch format.
pub const MAGIC_V2: i8 = 2;

/// Attribute bits 0..2: compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: timestamp type; set = log-append time (every record's timestamp is the
/// batch's `max_timestamp`), clear = create time.
pub const ATTR_TIMESTAMP_TYPE: i16 = 1 << 3;
/// Attribute bit 4: the batch belongs to a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 1 << 4;
/// Attribute bit 5: a control batch (transaction markers), never shown to applications.
pub const ATTR_CONTROL: i16 = 1 << 5;
/// Attribute bit 6: `base_timestamp` holds the delete horizon (set by compaction).
pub const ATTR_DELETE_HORIZON: i16 = 1 << 6;

/// `producer_id` of a batch without an idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producer_epoch` of a batch without an idempotent producer.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `base_sequence` of a batch without an idempotent producer.
pub const NO_SEQUENCE: i32 = -1;
/// `partition_leader_epoch` written by producers (the broker stamps the real one).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Smallest encoded record: length, attributes, timestamp delta, offset delta, key length,
/// value length and header count, one byte each.
pub const RECORD_BYTES_MIN: usize = 7;

/// Byte position of `base_offset` (i64 BE; broker-owned, outside the CRC).
pub const BASE_OFFSET_AT: usize = 0;
/// Byte position of `batch_length` (i32 BE; bytes after this field).
pub const BATCH_LENGTH_AT: usize = 8;
/// Byte position of `partition_leader_epoch` (i32 BE; broker-owned, outside the CRC).
pub const LEADER_EPOCH_AT: usize = 12;
/// Byte position of `magic` (i8).
pub const MAGIC_AT: usize = 16;
/// Byte position of `crc` (u32 BE: CRC32C of the bytes from [`CRC_FROM`] to the batch's end).
pub const CRC_AT: usize = 17;
/// Byte position of `attributes` (i16 BE).
pub const ATTRIBUTES_AT: usize = 21;
/// Byte position of `last_offset_delta` (i32 BE).
pub const LAST_OFFSET_DELTA_AT: usize = 23;
/// Byte position of `base_timestamp` (i64 BE).
pub const BASE_TIMESTAMP_AT: usize = 27;
/// Byte position of `max_timestamp` (i64 BE).
pub const MAX_TIMESTAMP_AT: usize = 35;
/// Byte position of `producer_id` (i64 BE).
pub const PRODUCER_ID_AT: usize = 43;
/// Byte position of `producer_epoch` (i16 BE).
pub const PRODUCER_EPOCH_AT: usize = 51;
/// Byte position of `base_sequence` (i32 BE).
pub const BASE_SEQUENCE_AT: usize = 53;
/// Byte position of `records_count` (i32 BE).
pub const RECORDS_COUNT_AT: usize = 57;
/// Byte position of the records region (possibly compressed), right after the fixed header.
pub const RECORDS_AT: usize = HEADER_BYTES;
/// First byte covered by the CRC: the CRC covers `CRC_FROM..` the end of the batch.
pub const CRC_FROM: usize = ATTRIBUTES_AT;

/// Decoded fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record; stamped by the broker on append (outside the CRC).
    pub base_offset: i64,
    /// Bytes after this field (so the batch is `12 + batch_length` bytes long).
    pub batch_length: i32,
    /// Leader epoch when the batch was appended; stamped by the broker (outside the CRC).
    pub partition_leader_epoch: i32,
    /// Format version; only [`MAGIC_V2`] is accepted.
    pub magic: i8,
    /// CRC32C of bytes `21..` (attributes to the end of the batch), as stored.
    pub crc: u32,
    /// Bit flags: compression codec (bits 0..2), timestamp type, transactional, control.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset` (`records_count - 1`).
    pub last_offset_delta: i32,
    /// Timestamp of the first record, milliseconds since the epoch.
    pub base_timestamp: i64,
    /// Largest record timestamp in the batch, milliseconds since the epoch (time index key).
    pub max_timestamp: i64,
    /// Idempotent producer id, `-1` if none.
    pub producer_id: i64,
    /// Idempotent producer epoch, `-1` if none.
    pub producer_epoch: i16,
    /// Sequence number of the first record for idempotence, `-1` if none.
    pub base_sequence: i32,
    /// Number of records in the batch (`last_offset_delta + 1` for a valid batch).
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Decodes the fixed header from the first [`HEADER_BYTES`] of `bytes` and checks the
    /// structure (magic, `batch_length` lower bound, record count). Does not check the CRC or
    /// that the whole batch is present.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        let h = BatchHeader::parse_fields(bytes)?;
        // Kafka's LogValidator: a v2 batch from a client must have count > 0 and
        // count == lastOffsetDelta + 1. Empty batches only arise from compaction.
        // An uncompressed batch cannot hold more records than its bytes allow; this stops a
        // hostile count from claiming billions of offsets in a few bytes.
        let uncompressed = h.attributes & ATTR_COMPRESSION_MASK == 0;
        let records_bytes = i64::from(h.batch_length) - i64::from(BATCH_LENGTH_MIN);
        if h.records_count <= 0
            || h.last_offset_delta < 0
            || i64::from(h.records_count) != i64::from(h.last_offset_delta) + 1
            || (uncompressed
                && i64::from(h.records_count) * RECORD_BYTES_MIN as i64 > records_bytes)
        {
            return Err(BatchError::BadRecordCount {
                records_count: h.records_count,
                last_offset_delta: h.last_offset_delta,
            });
        }
        Ok(h)
    }

    /// [`BatchHeader::parse`] for a batch a broker sent in a Fetch response: such a batch may
    /// hold fewer records than its offset span (`0 <= records_count <= last_offset_delta + 1`:
    /// a compacted batch, an empty batch the cleaner kept, a filtered view's batch).
    pub fn parse_fetched(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        Self::parse_compacted(bytes)
    }

    /// [`BatchHeader::parse`] for a batch read back from a segment: the same rules as
    /// [`BatchHeader::parse_fetched`], since the cleaner ([`crate::compact`]) rewrites batches
    /// with fewer records than their offset span, or none.
    pub fn parse_stored(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        Self::parse_compacted(bytes)
    }

    /// The checks of a batch that may have been compacted.
    fn parse_compacted(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        let h = BatchHeader::parse_fields(bytes)?;
        let uncompressed = h.attributes & ATTR_COMPRESSION_MASK == 0;
        let records_bytes = i64::from(h.batch_length) - i64::from(BATCH_LENGTH_MIN);
        if h.records_count < 0
            || h.last_offset_delta < 0
            || i64::from(h.records_count) > i64::from(h.last_offset_delta) + 1
            || (uncompressed
                && i64::from(h.records_count) * RECORD_BYTES_MIN as i64 > records_bytes)
        {
            return Err(BatchError::BadRecordCount {
                records_count: h.records_count,
                last_offset_delta: h.last_offset_delta,
            });
        }
        Ok(h)
    }

    /// The fixed fields, magic and length checked.
    fn parse_fields(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        if bytes.len() < HEADER_BYTES {
            return Err(BatchError::Truncated {
                needed_bytes: HEADER_BYTES as u64,
                available_bytes: bytes.len() as u64,
            });
        }
        let h = BatchHeader {
            base_offset: be_i64(bytes, BASE_OFFSET_AT),
            batch_length: be_i32(bytes, BATCH_LENGTH_AT),
            partition_leader_epoch: be_i32(bytes, LEADER_EPOCH_AT),
            magic: bytes[MAGIC_AT] as i8,
            crc: be_i32(bytes, CRC_AT) as u32,
            attributes: be_i16(bytes, ATTRIBUTES_AT),
            last_offset_delta: be_i32(bytes, LAST_OFFSET_DELTA_AT),
            base_timestamp: be_i64(bytes, BASE_TIMESTAMP_AT),
            max_timestamp: be_i64(bytes, MAX_TIMESTAMP_AT),
            producer_id: be_i64(bytes, PRODUCER_ID_AT),
            producer_epoch: be_i16(bytes, PRODUCER_EPOCH_AT),
            base_sequence: be_i32(bytes, BASE_SEQUENCE_AT),
            records_count: be_i32(bytes, RECORDS_COUNT_AT),
        };
        if h.magic != MAGIC_V2 {
            return Err(BatchError::BadMagic { magic: h.magic });
        }
        if h.batch_length < BATCH_LENGTH_MIN {
            return Err(BatchError::BadLength {
                batch_length: h.batch_length,
            });
        }
        Ok(h)
    }

    /// Total bytes the batch occupies (`12 + batch_length`).
    pub fn size_bytes(&self) -> u64 {
        LOG_OVERHEAD_BYTES as u64 + self.batch_length as u64
    }

    /// Offset of the batch's last record.
    ///
    /// Saturates instead of overflowing: a batch read from an untrusted peer can claim a base
    /// offset near `i64::MAX`; callers that need the next offset use [`Self::next_offset`].
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset after the batch, or `None` when the batch's offsets do not fit an i64 (only a
    /// hostile or corrupt batch: the broker never assigns such offsets).
    pub fn next_offset(&self) -> Option<i64> {
        self.base_offset
            .checked_add(i64::from(self.last_offset_delta))?
            .checked_add(1)
    }

    /// Number of offsets the batch occupies.
    pub fn offset_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }

    /// The compression codec bits of `attributes` (0 = none; see [`ATTR_COMPRESSION_MASK`]).
    pub fn compression_bits(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }

    /// A control batch (transaction markers), never shown to applications.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Record timestamps are the log-append time (`max_timestamp`), not the create time.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_TIMESTAMP_TYPE != 0
    }
}

/// The `producer_id` of the batch at the start of `bytes` without parsing or validating the
/// rest; `None` if `bytes` is too short to hold it.
pub fn peek_producer_id(bytes: &[u8]) -> Option<i64> {
    let field: [u8; 8] = bytes
        .get(PRODUCER_ID_AT..PRODUCER_ID_AT + 8)?
        .try_into()
        .ok()?;
    Some(i64::from_be_bytes(field))
}

/// Appends one whole batch to `out`: the fixed header from `header`'s fields, then `records`
/// (the records region, already encoded and compressed as `header.attributes` says).
/// `header.batch_length` and `header.crc` are ignored: both are computed here. The only error
/// is a records region too large for an i32 `batch_length`.
pub fn write_batch(
    header: &BatchHeader,
    records: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), BatchError> {
    let too_large = || BatchError::TooLarge {
        size_bytes: (LOG_OVERHEAD_BYTES + BATCH_LENGTH_MIN as usize) as u64 + records.len() as u64,
        max_bytes: i32::MAX as u64 + LOG_OVERHEAD_BYTES as u64,
    };
    let batch_length = i32::try_from(records.len())
        .ok()
        .and_then(|n| n.checked_add(BATCH_LENGTH_MIN))
        .ok_or_else(too_large)?;
    let start = out.len();
    out.reserve(HEADER_BYTES + records.len());
    out.extend_from_slice(&header.base_offset.to_be_bytes());
    out.extend_from_slice(&batch_length.to_be_bytes());
    out.extend_from_slice(&header.partition_leader_epoch.to_be_bytes());
    out.push(header.magic as u8);
    out.extend_from_slice(&[0u8; 4]); // crc, filled below
    out.extend_from_slice(&header.attributes.to_be_bytes());
    out.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&header.base_timestamp.to_be_bytes());
    out.extend_from_slice(&header.max_timestamp.to_be_bytes());
    out.extend_from_slice(&header.producer_id.to_be_bytes());
    out.extend_from_slice(&header.producer_epoch.to_be_bytes());
    out.extend_from_slice(&header.base_sequence.to_be_bytes());
    out.extend_from_slice(&header.records_count.to_be_bytes());
    debug_assert_eq!(out.len() - start, HEADER_BYTES);
    out.extend_from_slice(records);
    let batch = &mut out[start..];
    let crc = compute_crc(batch);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// CRC32C of a whole batch's covered bytes ([`CRC_FROM`]..end). `batch` must hold at least
/// the fixed header.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_FROM..])
}

/// One validated batch inside an append buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Byte position of the batch in the buffer.
    pub position: u64,
    /// The batch's decoded and validated header.
    pub header: BatchHeader,
}

/// A rejection: which batch of the buffer, where it starts, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferError {
    /// Index of the rejected batch in the buffer, counting from 0.
    pub batch_index: usize,
    /// Byte position in the buffer where the rejected batch starts.
    pub position: u64,
    /// Why the batch was rejected.
    pub error: BatchError,
}

/// Validates one batch at the start of `bytes`, returning its header. `bytes` may hold more
/// than the batch.
pub fn validate_one(bytes: &[u8], batch_bytes_max: u64) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(bytes)?;
    check_whole(bytes, h, batch_bytes_max)
}

/// The batch `h` heads is within the size limit, wholly in `bytes`, and its CRC holds.
fn check_whole(
    bytes: &[u8],
    h: BatchHeader,
    batch_bytes_max: u64,
) -> Result<BatchHeader, BatchError> {
    let size = h.size_bytes();
    if size > batch_bytes_max {
        return Err(BatchError::TooLarge {
            size_bytes: size,
            max_bytes: batch_bytes_max,
        });
    }
    if size > bytes.len() as u64 {
        return Err(BatchError::Truncated {
            needed_bytes: size,
            available_bytes: bytes.len() as u64,
        });
    }
    let computed = compute_crc(&bytes[..size as usize]);
    if computed != h.crc {
        return Err(BatchError::CrcMismatch {
            stored: h.crc,
            computed,
        });
    }
    Ok(h)
}

/// [`validate_one`] for a batch a broker sent in a Fetch response ([`BatchHeader::parse_fetched`]:
/// it may hold fewer records than its offset span).
pub fn validate_fetched(bytes: &[u8], batch_bytes_max: u64) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse_fetched(bytes)?;
    check_whole(bytes, h, batch_bytes_max)
}

/// Splits a buffer of concatenated batches (a Produce request's `records`) and validates each.
/// Either every batch is valid and the buffer ends exactly at a batch boundary, or the first
/// problem is returned.
pub fn validate_buffer(buf: &[u8], batch_bytes_max: u64) -> Result<Vec<BatchInfo>, BufferError> {
    if buf.is_empty() {
        return Err(BufferError {
            batch_index: 0,
            position: 0,
            error: BatchError::Empty,
        });
    }
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let header = validate_one(&buf[pos..], batch_bytes_max).map_err(|error| BufferError {
            batch_index: out.len(),
            position: pos as u64,
            error,
        })?;
        out.push(BatchInfo {
            position: pos as u64,
            header,
        });
        pos += header.size_bytes() as usize;
    }
    Ok(out)
}

/// Writes the broker-owned fields (outside the CRC) into a batch.
pub fn stamp(batch: &mut [u8], base_offset: i64, partition_leader_epoch: i32) {
    batch[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4]
        .copy_from_slice(&partition_leader_epoch.to_be_bytes());
}

/// In a whole *uncompressed* batch, the first record whose timestamp is `>= timestamp_ms`:
/// `(offset_delta, timestamp)`. `None` for a compressed batch (the records are not readable
/// without decompressing), when no record qualifies, or when the records do not parse.
pub fn first_record_at_or_after(batch: &[u8], timestamp_ms: i64) -> Option<(i32, i64)> {
    let h = BatchHeader::parse_stored(batch).ok()?;
    if h.compression_bits() != 0 {
        return None;
    }
    let end = batch.len().min(h.size_bytes() as usize);
    let region = batch.get(RECORDS_AT..end)?;
    let mut pos = 0;
    for _ in 0..h.records_count {
        let record = read_record(region, &mut pos, &mut |_, _| {}).ok()?;
        let ts = if h.is_log_append_time() {
            h.max_timestamp
        } else {
            h.base_timestamp.checked_add(record.timestamp_delta)?
        };
        if ts >= timestamp_ms {
            return Some((record.offset_delta, ts));
        }
    }
    None
}

/// Builders of valid (and deliberately invalid) RecordBatch v2 bytes for tests, including the
/// broker's tests. Not `cfg(test)`-gated on purpose.
pub mod testing {
    use super::super::records::{encode_records, put_varint, Compression, Record};
    use super::super::runtime::rng::Rng;
    use super::super::validate::DECOMPRESSED_BYTES_MAX_DEFAULT;
    use super::*;
    use bytes::Bytes;

    /// One record for [`build_batch_with`].
    #[derive(Debug, Clone, Default)]
    pub struct TestRecord {
        /// Record key; `None` encodes a null key (length -1).
        pub key: Option<Vec<u8>>,
        /// Record value; `None` encodes a null value (a tombstone).
        pub value: Option<Vec<u8>>,
        /// Milliseconds after the batch's `base_timestamp_ms`.
        pub timestamp_delta_ms: i64,
        /// Record headers as (key, value) pairs, in order.
        pub headers: Vec<(String, Option<Vec<u8>>)>,
    }

    /// A whole batch for [`build_batch_with`].
    #[derive(Debug, Clone)]
    pub struct BatchSpec {
        /// Base offset written into the header (the broker overwrites it on append).
        pub base_offset: i64,
        /// Leader epoch written into the header (the broker overwrites it on append).
        pub partition_leader_epoch: i32,
        /// Attribute bits, e.g. a compression codec to build a batch that claims compression.
        pub attributes: i16,
        /// Timestamp of the first record, milliseconds since the epoch.
        pub base_timestamp_ms: i64,
        /// Idempotent producer id, `-1` if none.
        pub producer_id: i64,
        /// Idempotent producer epoch, `-1` if none.
        pub producer_epoch: i16,
        /// Sequence number of the first record, `-1` if none.
        pub base_sequence: i32,
        /// The records, encoded in order with offset deltas 0, 1, 2, ...
        pub records: Vec<TestRecord>,
    }

    impl Default for BatchSpec {
        fn default() -> Self {
            BatchSpec {
                base_offset: 0,
                partition_leader_epoch: -1,
                attributes: 0,
                base_timestamp_ms: 0,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                records: Vec::new(),
            }
        }
    }

    /// Zigzag varint (Kafka `varint`/`varlong`), for tests that hand-craft record bytes.
    pub use super::super::records::put_varlong;

    /// Encodes a batch: records with varints, `max_timestamp` = base + largest delta, CRC filled.
    /// Record `i` gets offset delta `i`; an empty record list gives the (invalid) header
    /// `records_count = 0`, `last_offset_delta = 0`.
    pub fn build_batch_with(spec: &BatchSpec) -> Vec<u8> {
        let records: Vec<Record> = spec
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                offset_delta: i as i32,
                timestamp_delta: r.timestamp_delta_ms,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (Bytes::from(k.clone()), v.clone().map(Bytes::from)))
                    .collect(),
            })
            .collect();
        let mut region = Vec::new();
        encode_records(&records, &mut region).expect("test records fit i32 lengths");
        let count = spec.records.len() as i32;
        let max_delta = spec
            .records
            .iter()
            .map(|r| r.timestamp_delta_ms)
            .max()
            .unwrap_or(0);
        let header = BatchHeader {
            base_offset: spec.base_offset,
            batch_length: 0,
            partition_leader_epoch: spec.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes: spec.attributes,
            last_offset_delta: (count - 1).max(0),
            base_timestamp: spec.base_timestamp_ms,
            max_timestamp: spec.base_timestamp_ms + max_delta,
            producer_id: spec.producer_id,
            producer_epoch: spec.producer_epoch,
            base_sequence: spec.base_sequence,
            records_count: count,
        };
        let mut b = Vec::with_capacity(HEADER_BYTES + region.len());
        write_batch(&header, &region, &mut b).expect("test batch fits i32 batch_length");
        b
    }

    /// A valid batch of value-only records; record `i` has timestamp `base_timestamp_ms + i`.
    pub fn build_batch(base_timestamp_ms: i64, values: &[&[u8]]) -> Vec<u8> {
        build_batch_with(&BatchSpec {
            base_timestamp_ms,
            records: values
                .iter()
                .enumerate()
                .map(|(i, v)| TestRecord {
                    value: Some(v.to_vec()),
                    timestamp_delta_ms: i as i64,
                    ..TestRecord::default()
                })
                .collect(),
            ..BatchSpec::default()
        })
    }

    /// A whole batch around a records region given byte for byte: `region` is stored as the
    /// records region (compressed or not, whatever the codec bits of `attributes` claim), with
    /// `records_count` records (`last_offset_delta = records_count - 1`) and a valid CRC. For
    /// batches whose records are broken behind a valid header.
    pub fn batch_with_region(
        region: &[u8],
        records_count: i32,
        attributes: i16,
        base_timestamp_ms: i64,
    ) -> Vec<u8> {
        let header = BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            magic: MAGIC_V2,
            crc: 0,
            attributes,
            last_offset_delta: records_count - 1,
            base_timestamp: base_timestamp_ms,
            max_timestamp: base_timestamp_ms,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            records_count,
        };
        let mut b = Vec::with_capacity(HEADER_BYTES + region.len());
        write_batch(&header, region, &mut b).expect("test region fits i32 batch_length");
        b
    }

    /// [`batch_with_region`] with the plain records region `plain` compressed by `codec` first
    /// (the codec's bits are added to `attributes`).
    pub fn compressed_batch_with_region(
        plain: &[u8],
        records_count: i32,
        codec: Compression,
        attributes: i16,
        base_timestamp_ms: i64,
    ) -> Vec<u8> {
        let mut region = Vec::new();
        codec
            .compress(plain, &mut region)
            .expect("test records compress");
        let attributes = (attributes & !ATTR_COMPRESSION_MASK) | codec.attribute_bits();
        batch_with_region(&region, records_count, attributes, base_timestamp_ms)
    }

    /// A plain records region of value-only records, record `i` with value `values[i]`,
    /// timestamp delta `i` and offset delta `offset_deltas[i]`.
    pub fn records_region(values: &[&[u8]], offset_deltas: &[i32]) -> Vec<u8> {
        assert_eq!(values.len(), offset_deltas.len());
        let records: Vec<Record> = values
            .iter()
            .zip(offset_deltas)
            .enumerate()
            .map(|(i, (v, &offset_delta))| Record {
                offset_delta,
                timestamp_delta: i as i64,
                value: Some(Bytes::copy_from_slice(v)),
                ..Record::default()
            })
            .collect();
        let mut region = Vec::new();
        encode_records(&records, &mut region).expect("test records fit i32 lengths");
        region
    }

    /// One batch a producer must not get stored (issue 13's poison batches), by name.
    #[derive(Debug, Clone)]
    pub struct PoisonBatch {
        /// What is wrong with it, e.g. `"garbage-gzip"`.
        pub name: &'static str,
        /// The whole batch: a valid header and CRC around the fault.
        pub bytes: Vec<u8>,
    }

    /// Values of the records in the poison batches: long enough that the header's bytes-per-
    /// record check never refuses a batch before its records are read.
    const POISON_VALUES: [&[u8]; 3] = [b"poison-value-0", b"poison-value-1", b"poison-value-2"];

    /// Every poison batch: each has a valid header and CRC, so only record validation can
    /// refuse it. Names: `garbage-records`, `garbage-{gzip,snappy,lz4,zstd}`,
    /// `unknown-codec-{5,6,7}`, `control-bit`, `count-above-records`, `count-below-records`,
    /// `offset-delta-beyond-last`, `offset-deltas-not-increasing`, `bad-varint`,
    /// `trailing-bytes`, `null-header-key`, `zstd-garbage-records`, `lz4-offset-delta`,
    /// `gzip-count-above-records`, `inflation-bomb` (zstd inflating to one byte more than
    /// [`DECOMPRESSED_BYTES_MAX_DEFAULT`]) and `log-append-time`.
    pub fn poison_batches(base_timestamp_ms: i64) -> Vec<PoisonBatch> {
        let ts = base_timestamp_ms;
        let mut rng = Rng::new(0x5eed_0013);
        let good = records_region(&POISON_VALUES, &[0, 1, 2]);
        let garbage = rng.bytes(good.len());
        let mut out = vec![PoisonBatch {
            name: "garbage-records",
            bytes: batch_with_region(&garbage, 3, 0, ts),
        }];
        for (name, codec) in [
            ("garbage-gzip", Compression::Gzip),
            ("garbage-snappy", Compression::Snappy),
            ("garbage-lz4", Compression::Lz4),
            ("garbage-zstd", Compression::Zstd),
        ] {
            let bytes = batch_with_region(&rng.bytes(200), 3, codec.attribute_bits(), ts);
            out.push(PoisonBatch { name, bytes });
        }
        for (name, codec) in [
            ("unknown-codec-5", 5),
            ("unknown-codec-6", 6),
            ("unknown-codec-7", 7),
        ] {
            let bytes = batch_with_region(&good, 3, codec, ts);
            out.push(PoisonBatch { name, bytes });
        }
        // Three records; one more, and one fewer, announced.
        let four = batch_with_region(&good, 4, 0, ts);
        let two = batch_with_region(&good, 2, 0, ts);
        // The fields of one record, with an overlong (6-byte) offset delta varint: length,
        // attributes, timestamp delta, offset delta, key -1, value "v", no headers.
        let mut bad_varint = Vec::new();
        let body: Vec<u8> = [&[0u8, 0][..], &[0x80; 5], &[0x00, 0x01, 0x02, b'v', 0x00]].concat();
        put_varint(&mut bad_varint, body.len() as i32);
        bad_varint.extend_from_slice(&body);
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0, 0, 0]);
        // One record whose only header has a null key: length, attributes (the byte 0, which is
        // also varint 0), timestamp delta, offset delta, key -1, value -1, one header: key -1,
        // value -1.
        let mut null_key = Vec::new();
        for v in [8i32, 0, 0, 0, -1, -1, 1, -1, -1] {
            put_varint(&mut null_key, v);
        }
        let mut bomb_plain = vec![0u8; DECOMPRESSED_BYTES_MAX_DEFAULT + 1];
        bomb_plain[..good.len()].copy_from_slice(&good);
        out.extend([
            PoisonBatch {
                name: "control-bit",
                bytes: batch_with_region(&good, 3, ATTR_CONTROL, ts),
            },
            PoisonBatch {
                name: "count-above-records",
                bytes: four,
            },
            PoisonBatch {
                name: "count-below-records",
                bytes: two,
            },
            PoisonBatch {
                name: "offset-delta-beyond-last",
                bytes: batch_with_region(&records_region(&POISON_VALUES, &[0, 7, 2]), 3, 0, ts),
            },
            PoisonBatch {
                name: "offset-deltas-not-increasing",
                bytes: batch_with_region(&records_region(&POISON_VALUES, &[0, 0, 1]), 3, 0, ts),
            },
            PoisonBatch {
                name: "bad-varint",
                bytes: batch_with_region(&bad_varint, 1, 0, ts),
            },
            PoisonBatch {
                name: "trailing-bytes",
                bytes: batch_with_region(&trailing, 3, 0, ts),
            },
            PoisonBatch {
                name: "null-header-key",
                bytes: batch_with_region(&null_key, 1, 0, ts),
            },
            PoisonBatch {
                name: "zstd-garbage-records",
                bytes: compressed_batch_with_region(&garbage, 3, Compression::Zstd, 0, ts),
            },
            PoisonBatch {
                name: "lz4-offset-delta",
                bytes: compressed_batch_with_region(
                    &records_region(&POISON_VALUES, &[0, 7, 2]),
                    3,
                    Compression::Lz4,
                    0,
                    ts,
                ),
            },
            PoisonBatch {
                name: "gzip-count-above-records",
                bytes: compressed_batch_with_region(&good, 4, Compression::Gzip, 0, ts),
            },
            PoisonBatch {
                name: "inflation-bomb",
                bytes: compressed_batch_with_region(&bomb_plain, 3, Compression::Zstd, 0, ts),
            },
            PoisonBatch {
                name: "log-append-time",
                bytes: batch_with_region(&good, 3, ATTR_TIMESTAMP_TYPE, ts),
            },
        ]);
        out
    }

    /// Recomputes and stores the CRC after a test edited covered bytes.
    pub fn fix_crc(batch: &mut [u8]) {
        let crc = compute_crc(batch);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }

    /// Recomputes the CRC of every whole batch of a buffer, walking it by `batch_length` as the
    /// decoders do, and stops at the first length that does not fit (fuzzers use it so that
    /// mutated bytes get past the CRC check to the code behind it).
    pub fn fix_crcs(bytes: &mut [u8]) {
        let mut position = 0usize;
        while let Some(rest) = bytes.get_mut(position..) {
            let Some(length) = rest.get(BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4) else {
                return;
            };
            let length = i32::from_be_bytes(length.try_into().expect("4 bytes"));
            let Ok(length) = usize::try_from(length) else {
                return;
            };
            let size = LOG_OVERHEAD_BYTES + length;
            if size < HEADER_BYTES || size > rest.len() {
                return;
            }
            fix_crc(&mut rest[..size]);
            position += size;
        }
    }

    /// Byte positions of header fields, for tests that corrupt them (the same as the public
    /// `*_AT` constants of [`super`]).
    pub mod field {
        /// Byte position of `batch_length` (i32 BE).
        pub const BATCH_LENGTH: usize = super::BATCH_LENGTH_AT;
        /// Byte position of `magic` (i8).
        pub const MAGIC: usize = super::MAGIC_AT;
        /// Byte position of `crc` (u32 BE).
        pub const CRC: usize = super::CRC_AT;
        /// Byte position of `last_offset_delta` (i32 BE).
        pub const LAST_OFFSET_DELTA: usize = super::LAST_OFFSET_DELTA_AT;
        /// Byte position of `records_count` (i32 BE).
        pub const RECORDS_COUNT: usize = super::RECORDS_COUNT_AT;
        /// Byte position of `max_timestamp` (i64 BE).
        pub const MAX_TIMESTAMP: usize = super::MAX_TIMESTAMP_AT;
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    const MAX: u64 = 1 << 20;

    #[test]
    fn valid_batch_round_trips() {
        let b = build_batch(1000, &[b"a", b"bc", b"def"]);
        let h = validate_one(&b, MAX).expect("valid");
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.max_timestamp, 1002);
        assert_eq!(h.size_bytes(), b.len() as u64);
    }

    #[test]
    fn layout_constants_tile_the_header() {
        // (position, width) of every field in order: each starts where the previous ends.
        let fields = [
            (BASE_OFFSET_AT, 8),
            (BATCH_LENGTH_AT, 4),
            (LEADER_EPOCH_AT, 4),
            (MAGIC_AT, 1),
            (CRC_AT, 4),
            (ATTRIBUTES_AT, 2),
            (LAST_OFFSET_DELTA_AT, 4),
            (BASE_TIMESTAMP_AT, 8),
            (MAX_TIMESTAMP_AT, 8),
            (PRODUCER_ID_AT, 8),
            (PRODUCER_EPOCH_AT, 2),
            (BASE_SEQUENCE_AT, 4),
            (RECORDS_COUNT_AT, 4),
        ];
        let mut end = 0;
        for (at, width) in fields {
            assert_eq!(at, end);
            end = at + width;
        }
        assert_eq!(end, HEADER_BYTES);
        assert_eq!(RECORDS_AT, HEADER_BYTES);
        assert_eq!(LEADER_EPOCH_AT, LOG_OVERHEAD_BYTES);
        assert_eq!(CRC_FROM, CRC_AT + 4);
        let all_flags = ATTR_COMPRESSION_MASK
            | ATTR_TIMESTAMP_TYPE
            | ATTR_TRANSACTIONAL
            | ATTR_CONTROL
            | ATTR_DELETE_HORIZON;
        assert_eq!(all_flags, 0x7f);
    }

    #[test]
    fn write_batch_and_peek_producer_id() {
        let b = build_batch_with(&BatchSpec {
            producer_id: 0x0102_0304_0506_0708,
            producer_epoch: 3,
            base_sequence: 11,
            attributes: ATTR_TRANSACTIONAL,
            records: vec![TestRecord::default()],
            ..BatchSpec::default()
        });
        let h = validate_one(&b, MAX).expect("valid");
        assert_eq!(peek_producer_id(&b), Some(0x0102_0304_0506_0708));
        assert_eq!(
            &b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8],
            &[1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(peek_producer_id(&b[..PRODUCER_ID_AT + 7]), None);
        assert!(h.is_transactional() && !h.is_control() && !h.is_log_append_time());
        assert_eq!(h.compression_bits(), 0);
        // Rewriting a parsed header with its records region gives the same bytes.
        let mut again = Vec::new();
        write_batch(&h, &b[RECORDS_AT..], &mut again).unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn stamp_keeps_crc_valid() {
        let mut b = build_batch(0, &[b"x"]);
        stamp(&mut b, 123_456, 7);
        let h = validate_one(&b, MAX).expect("still valid");
        assert_eq!(h.base_offset, 123_456);
        assert_eq!(h.partition_leader_epoch, 7);
    }

    #[test]
    fn rejects_bad_input() {
        let good = build_batch(0, &[b"hello", b"world"]);
        // truncated at every length
        for cut in 0..good.len() {
            let e = validate_buffer(&good[..cut], MAX).expect_err("truncated");
            // Empty, or (Kafka's CORRUPT_MESSAGE) truncated / of an impossible length / failing
            // its CRC.
            assert!(
                if cut == 0 {
                    matches!(e.error, BatchError::Empty)
                } else {
                    matches!(
                        e.error,
                        BatchError::Truncated { .. }
                            | BatchError::BadLength { .. }
                            | BatchError::CrcMismatch { .. }
                    )
                },
                "cut {cut}: {:?}",
                e.error
            );
        }
        let mut b = good.clone();
        b[30] ^= 1;
        assert!(matches!(
            validate_one(&b, MAX),
            Err(BatchError::CrcMismatch { .. })
        ));
        let mut b = good.clone();
        b[field::MAGIC] = 1;
        assert!(matches!(
            validate_one(&b, MAX),
            Err(BatchError::BadMagic { magic: 1 })
        ));
        for len in [-1i32, i32::MIN, 0, BATCH_LENGTH_MIN - 1] {
            let mut b = good.clone();
            b[field::BATCH_LENGTH..field::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
            assert!(
                matches!(validate_one(&b, MAX), Err(BatchError::BadLength { .. })),
                "{len}"
            );
        }
        let mut b = good.clone();
        b[field::BATCH_LENGTH..field::BATCH_LENGTH + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            validate_one(&b, MAX),
            Err(BatchError::TooLarge { .. })
        ));
        let mut b = good.clone();
        b[field::BATCH_LENGTH..field::BATCH_LENGTH + 4]
            .copy_from_slice(&((good.len() as i32) - 12 + 1).to_be_bytes());
        assert!(matches!(
            validate_one(&b, MAX),
            Err(BatchError::Truncated { .. })
        ));
        assert!(matches!(
            validate_one(&good, 10),
            Err(BatchError::TooLarge { .. })
        ));
        for (count, delta) in [(3, 1), (0, -1), (-5, 0), (i32::MAX, i32::MAX)] {
            let mut b = good.clone();
            b[field::RECORDS_COUNT..field::RECORDS_COUNT + 4].copy_from_slice(&count.to_be_bytes());
            b[field::LAST_OFFSET_DELTA..field::LAST_OFFSET_DELTA + 4]
                .copy_from_slice(&delta.to_be_bytes());
            fix_crc(&mut b);
            assert!(matches!(
                validate_one(&b, MAX),
                Err(BatchError::BadRecordCount { .. })
            ));
        }
    }

    #[test]
    fn buffer_of_several_batches() {
        let mut buf = build_batch(0, &[b"a"]);
        buf.extend(build_batch(5, &[b"b", b"c"]));
        let infos = validate_buffer(&buf, MAX).expect("valid");
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[1].header.records_count, 2);
        let mut bad = buf.clone();
        let second = infos[1].position as usize;
        bad[second + 40] ^= 0xff;
        let e = validate_buffer(&bad, MAX).expect_err("second batch corrupt");
        assert_eq!((e.batch_index, e.position), (1, second as u64));
        // trailing garbage after a valid batch is a truncated batch
        let mut tail = buf.clone();
        tail.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            validate_buffer(&tail, MAX).expect_err("tail").batch_index,
            2
        );
    }
}

#[cfg(test)]
mod fetched_tests {
    use super::*;

    fn framed(records_count: i32, last_offset_delta: i32) -> Vec<u8> {
        let h = BatchHeader {
            base_offset: 10,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: MAGIC_V2,
            crc: 0,
            attributes: 0,
            last_offset_delta,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            records_count,
        };
        let mut out = Vec::new();
        // Room for the claimed records (RECORD_BYTES_MIN each), so only the count rule decides.
        write_batch(&h, &vec![0u8; 7 * records_count.max(0) as usize], &mut out).unwrap();
        out
    }

    #[test]
    fn fetched_batches_may_hold_fewer_records_than_offsets() {
        // An empty batch spanning 5 offsets (a compacted or filtered tail).
        let empty = framed(0, 4);
        assert!(
            validate_one(&empty, u64::MAX).is_err(),
            "a producer may not send it"
        );
        let h = validate_fetched(&empty, u64::MAX).expect("a broker may");
        assert_eq!((h.records_count, h.last_offset()), (0, 14));
        // Fewer records than offsets: fetched only.
        assert!(validate_one(&framed(2, 4), u64::MAX).is_err());
        assert!(validate_fetched(&framed(2, 4), u64::MAX).is_ok());
        // More records than offsets, or a negative count: never.
        assert!(validate_fetched(&framed(6, 4), u64::MAX).is_err());
        assert!(validate_fetched(&framed(-1, 4), u64::MAX).is_err());
        // The CRC is still checked.
        let mut bad = framed(0, 4);
        bad[HEADER_BYTES - 1] ^= 1;
        assert!(validate_fetched(&bad, u64::MAX).is_err());
    }
}
