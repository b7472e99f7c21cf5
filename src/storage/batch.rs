//! Kafka RecordBatch v2 header: parse, validate (CRC32C), stamp the broker-owned fields.
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
//! # Invariants
//! - A batch accepted by [`validate_buffer`] has magic 2, `batch_length >= 49`, a size within
//!   `batch_bytes_max`, `records_count == last_offset_delta + 1 > 0` and a matching CRC32C.
//! - [`stamp`] touches only bytes 0..8 and 12..16, so the CRC stays valid.

use super::error::BatchError;

/// Bytes of the fixed v2 header (up to and including `records_count`).
pub const HEADER_BYTES: usize = 61;
/// Bytes before the part counted by `batch_length` (base offset + batch length).
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Smallest legal `batch_length`: the header after the length field, with zero record bytes.
pub const BATCH_LENGTH_MIN: i32 = (HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
/// The only supported batch format.
pub const MAGIC_V2: i8 = 2;

/// Attribute bits 0..2: compression codec (0 = none).
const COMPRESSION_MASK: i16 = 0x07;
/// Smallest encoded record: length, attributes, timestamp delta, offset delta, key length,
/// value length and header count, one byte each.
const RECORD_BYTES_MIN: i64 = 7;

const BASE_OFFSET_AT: usize = 0;
const BATCH_LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORDS_COUNT_AT: usize = 57;

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
        // Kafka's LogValidator: a v2 batch from a client must have count > 0 and
        // count == lastOffsetDelta + 1. Empty batches only arise from compaction.
        // An uncompressed batch cannot hold more records than its bytes allow; this stops a
        // hostile count from claiming billions of offsets in a few bytes.
        let uncompressed = h.attributes & COMPRESSION_MASK == 0;
        let records_bytes = i64::from(h.batch_length) - i64::from(BATCH_LENGTH_MIN);
        if h.records_count <= 0
            || h.last_offset_delta < 0
            || i64::from(h.records_count) != i64::from(h.last_offset_delta) + 1
            || (uncompressed && i64::from(h.records_count) * RECORD_BYTES_MIN > records_bytes)
        {
            return Err(BatchError::BadRecordCount {
                records_count: h.records_count,
                last_offset_delta: h.last_offset_delta,
            });
        }
        Ok(h)
    }

    /// Total bytes the batch occupies (`12 + batch_length`).
    pub fn size_bytes(&self) -> u64 {
        LOG_OVERHEAD_BYTES as u64 + self.batch_length as u64
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Number of offsets the batch occupies.
    pub fn offset_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }
}

/// CRC32C of a whole batch's covered bytes (attributes..end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_AT..])
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

/// Read a zigzag varint (Kafka `varint`/`varlong`) at `*pos`; `None` if truncated or longer than
/// 10 bytes.
fn read_varlong(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut z: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        z |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    None
}

/// In a whole *uncompressed* batch, the first record whose timestamp is `>= timestamp_ms`:
/// `(offset_delta, timestamp)`. `None` for a compressed batch (the records are not readable
/// without decompressing), when no record qualifies, or when the records do not parse.
pub fn first_record_at_or_after(batch: &[u8], timestamp_ms: i64) -> Option<(i32, i64)> {
    let h = BatchHeader::parse(batch).ok()?;
    if h.attributes & COMPRESSION_MASK != 0 {
        return None;
    }
    let end = batch.len().min(h.size_bytes() as usize);
    let mut pos = HEADER_BYTES;
    for _ in 0..h.records_count {
        let len = read_varlong(batch, &mut pos)?;
        let record_end = pos.checked_add(usize::try_from(len).ok()?)?;
        if record_end > end {
            return None;
        }
        let mut p = pos + 1; // attributes (unused)
        let ts_delta = read_varlong(batch, &mut p)?;
        let offset_delta = read_varlong(batch, &mut p)?;
        let ts = h.base_timestamp.checked_add(ts_delta)?;
        if ts >= timestamp_ms {
            return Some((i32::try_from(offset_delta).ok()?, ts));
        }
        pos = record_end;
    }
    None
}

/// Builders of valid (and deliberately invalid) RecordBatch v2 bytes for tests, including the
/// broker's tests. Not `cfg(test)`-gated on purpose.
pub mod testing {
    use super::*;

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

    /// Zigzag varint (Kafka `varint`/`varlong`).
    pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
        match b {
            None => put_varlong(out, -1),
            Some(b) => {
                put_varlong(out, b.len() as i64);
                out.extend_from_slice(b);
            }
        }
    }

    /// Encodes a batch: records with varints, `max_timestamp` = base + largest delta, CRC filled.
    pub fn build_batch_with(spec: &BatchSpec) -> Vec<u8> {
        let mut records = Vec::new();
        for (i, r) in spec.records.iter().enumerate() {
            let mut body = Vec::new();
            body.push(0u8); // record attributes (unused)
            put_varlong(&mut body, r.timestamp_delta_ms);
            put_varlong(&mut body, i as i64);
            put_bytes(&mut body, r.key.as_deref());
            put_bytes(&mut body, r.value.as_deref());
            put_varlong(&mut body, r.headers.len() as i64);
            for (k, v) in &r.headers {
                put_bytes(&mut body, Some(k.as_bytes()));
                put_bytes(&mut body, v.as_deref());
            }
            put_varlong(&mut records, body.len() as i64);
            records.extend_from_slice(&body);
        }
        let count = spec.records.len() as i32;
        let max_delta = spec
            .records
            .iter()
            .map(|r| r.timestamp_delta_ms)
            .max()
            .unwrap_or(0);
        let mut b = Vec::with_capacity(HEADER_BYTES + records.len());
        b.extend_from_slice(&spec.base_offset.to_be_bytes());
        b.extend_from_slice(
            &((HEADER_BYTES - LOG_OVERHEAD_BYTES + records.len()) as i32).to_be_bytes(),
        );
        b.extend_from_slice(&spec.partition_leader_epoch.to_be_bytes());
        b.push(MAGIC_V2 as u8);
        b.extend_from_slice(&[0u8; 4]); // crc, filled below
        b.extend_from_slice(&spec.attributes.to_be_bytes());
        b.extend_from_slice(&(count - 1).max(0).to_be_bytes());
        b.extend_from_slice(&spec.base_timestamp_ms.to_be_bytes());
        b.extend_from_slice(&(spec.base_timestamp_ms + max_delta).to_be_bytes());
        b.extend_from_slice(&spec.producer_id.to_be_bytes());
        b.extend_from_slice(&spec.producer_epoch.to_be_bytes());
        b.extend_from_slice(&spec.base_sequence.to_be_bytes());
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&records);
        let crc = compute_crc(&b);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
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

    /// Recomputes and stores the CRC after a test edited covered bytes.
    pub fn fix_crc(batch: &mut [u8]) {
        let crc = compute_crc(batch);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }

    /// Byte positions of header fields, for tests that corrupt them.
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
            assert_eq!(
                e.error.kafka_error_code(),
                if cut == 0 { 87 } else { 2 },
                "cut {cut}"
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
