//! Append validation: every record of every batch is checked before an append, as strictly as
//! Kafka's `LogValidator` checks a producer's batches, so that a batch no consumer can read is
//! refused instead of stored. Nothing of a refused buffer is written.
//!
//! A buffer is checked in two passes, in Kafka's order (`UnifiedLog.analyzeAndValidateRecords`,
//! then `LogValidator`):
//! 1. every batch's header, size and CRC32C: [`batch::validate_buffer`];
//! 2. every batch's contents: [`Validator::validate_batch`]:
//!    - the compression codec is one of 0..=4 (for a [`AppendOrigin::Replication`] append, the
//!      last check);
//!    - from a client ([`AppendOrigin::Client`]): no control bit, no log-append-time bit, and a
//!      base sequence whenever a producer id is set;
//!    - compressed records are decompressed into the validator's scratch buffer, at most
//!      [`ValidationConfig::decompressed_bytes_max`] bytes, found while inflating;
//!    - exactly `records_count` records, each well formed ([`records::read_record`]: lengths,
//!      varints, key/value/header lengths, header count, no null header key), record `i` with
//!      offset delta `i`, and no byte after the last record;
//!    - from a client, every record timestamp other than -1 inside
//!      `[now - timestamp_before_max_ms, now + timestamp_after_max_ms]` (Kafka's
//!      `message.timestamp.before.max.ms` / `after.max.ms`; both unbounded by default).
//!
//! Validation runs on the append path only: a Fetch sends stored bytes as they are, unread.
//!
//! The scratch buffer belongs to a [`Validator`]; a log uses one per thread (one per shard,
//! [`with_thread_validator`]), so after the first batches no batch allocates output space.
//!
//! # Invariants
//! - A buffer accepted here decodes with [`records::decode_batch_records`] (same bound) and
//!   record `i` of each batch has offset delta `i`.
//! - A client's batch accepted here is not a control batch and does not claim log-append time.
//! - Nothing here panics on any input bytes; the scratch buffer never holds more than
//!   `decompressed_bytes_max` bytes, and keeps at most [`SCRATCH_RETAINED_BYTES_MAX`] of capacity
//!   between batches.

use std::cell::RefCell;

use super::batch::{self, BatchHeader, BatchInfo, BufferError, NO_PRODUCER_ID, RECORDS_AT};
use super::error::BatchError;
use super::records::{self, read_record, Compression, Decoders, RecordFault, RecordsError};

/// Default [`ValidationConfig::decompressed_bytes_max`]: 32 MiB. Kafka has no bound (it inflates
/// as it reads); producers close a batch at `batch.size` compressed bytes (Java, 16 KiB by
/// default) or uncompressed bytes (librdkafka, 1 MB), so 32 MiB is far above what a producer
/// builds, while it caps what one 1 MiB batch can cost to inflate (32x its size) and the memory
/// a shard holds while it checks one.
pub const DECOMPRESSED_BYTES_MAX_DEFAULT: usize = 32 << 20;
/// Capacity the scratch buffer keeps between batches: 8 MiB, above the inflated size of a full
/// 1 MiB batch at typical ratios, so steady produce traffic never allocates; a larger inflation
/// frees its buffer afterwards.
pub const SCRATCH_RETAINED_BYTES_MAX: usize = 8 << 20;
/// Refused records listed per batch in [`BatchError::TimestampOutOfRange`] (Kafka lists them
/// all; this keeps an error, and the Produce response carrying it, small).
pub const RECORD_ERRORS_MAX: usize = 64;
/// A record timestamp that means "none" (Kafka's `RecordBatch.NO_TIMESTAMP`); never bounded.
pub const NO_TIMESTAMP: i64 = -1;

/// Who is appending: Kafka's `AppendOrigin`, reduced to the two cases that validate differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's batches (Produce): the client rules apply (no control batches, no
    /// log-append time, sequences with producer ids, bounded timestamps).
    Client,
    /// Batches the broker or the embedding application writes itself (state logs such as the
    /// offsets log, transaction markers): control batches allowed, timestamps not bounded. The
    /// records are checked all the same.
    Internal,
    /// Batches a leader already validated, appended as they are (Kafka's `REPLICATION` origin,
    /// a follower's append): headers, sizes, CRCs and the codec are checked, the records are not
    /// read. ringlog has no replication yet; tests use it for offset arithmetic that valid
    /// records cannot reach cheaply (2^32 offsets in one segment).
    Replication,
}

/// Bounds of append validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationConfig {
    /// Largest decompressed records region of one batch, in bytes; a batch inflating beyond it
    /// is refused ([`BatchError::InflatedTooLarge`]).
    pub decompressed_bytes_max: usize,
    /// A client's record may be at most this many ms older than the broker's clock (Kafka's
    /// `message.timestamp.before.max.ms`, default `i64::MAX`: unbounded).
    pub timestamp_before_max_ms: i64,
    /// A client's record may be at most this many ms ahead of the broker's clock (Kafka's
    /// `message.timestamp.after.max.ms`, default `i64::MAX`: unbounded).
    pub timestamp_after_max_ms: i64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            decompressed_bytes_max: DECOMPRESSED_BYTES_MAX_DEFAULT,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
        }
    }
}

impl ValidationConfig {
    /// The accepted timestamps `[min, max]` at `now_ms`. A bound of `i64::MAX` leaves its side
    /// open (Kafka's default); a negative bound, which Kafka's config refuses, counts as 0.
    fn window(&self, now_ms: i64) -> (i64, i64) {
        let min = match self.timestamp_before_max_ms {
            i64::MAX => i64::MIN,
            before => now_ms.saturating_sub(before.max(0)),
        };
        let max = match self.timestamp_after_max_ms {
            i64::MAX => i64::MAX,
            after => now_ms.saturating_add(after.max(0)),
        };
        (min, max)
    }
}

/// Checks append buffers; owns the scratch buffer compressed records are inflated into, reused
/// from batch to batch.
#[derive(Debug, Default)]
pub struct Validator {
    scratch: Vec<u8>,
    /// Codec state kept between batches (a zstd context).
    decoders: Decoders,
}

impl Validator {
    /// A validator with an empty scratch buffer (it grows on the first compressed batch).
    pub fn new() -> Validator {
        Validator::default()
    }

    /// Bytes of capacity the scratch buffer holds now (for tests and memory accounting).
    pub fn scratch_capacity(&self) -> usize {
        self.scratch.capacity()
    }

    /// Bytes the validator keeps between batches: scratch capacity and codec state.
    pub fn held_bytes(&self) -> usize {
        self.scratch.capacity() + self.decoders.held_bytes()
    }

    /// Validates an append buffer of concatenated batches: the headers and CRCs of all of them
    /// first, then each batch's records. Either every batch is valid and the batches are
    /// returned, or the first problem is.
    pub fn validate_buffer(
        &mut self,
        buf: &[u8],
        batch_bytes_max: u64,
        origin: AppendOrigin,
        config: &ValidationConfig,
        now_ms: i64,
    ) -> Result<Vec<BatchInfo>, BufferError> {
        self.validate_buffer_keyed(buf, batch_bytes_max, origin, config, now_ms, false)
    }

    /// [`Validator::validate_buffer`] for a log that may also require every record to have a
    /// key (`keys_required`: a compacted topic, Kafka's `LogValidator.validateKey`); a record
    /// with a null key in a data batch is then [`RecordFault::NullKey`] (INVALID_RECORD).
    /// Control batches (markers) are not held to it.
    pub fn validate_buffer_keyed(
        &mut self,
        buf: &[u8],
        batch_bytes_max: u64,
        origin: AppendOrigin,
        config: &ValidationConfig,
        now_ms: i64,
        keys_required: bool,
    ) -> Result<Vec<BatchInfo>, BufferError> {
        let infos = batch::validate_buffer(buf, batch_bytes_max)?;
        for (batch_index, info) in infos.iter().enumerate() {
            let at = info.position as usize;
            let bytes = &buf[at..at + info.header.size_bytes() as usize];
            let keys_required = keys_required && !info.header.is_control();
            self.validate_batch_keyed(bytes, &info.header, origin, config, now_ms, keys_required)
                .map_err(|error| BufferError {
                    batch_index,
                    position: info.position,
                    error,
                })?;
        }
        Ok(infos)
    }

    /// Validates the contents of one batch (see the module docs). `batch` is exactly the batch's
    /// bytes and `header` its header, both already accepted by [`batch::validate_one`].
    pub fn validate_batch(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        origin: AppendOrigin,
        config: &ValidationConfig,
        now_ms: i64,
    ) -> Result<(), BatchError> {
        self.validate_batch_keyed(batch, header, origin, config, now_ms, false)
    }

    /// [`Validator::validate_batch`], refusing records with a null key when `keys_required`.
    fn validate_batch_keyed(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        origin: AppendOrigin,
        config: &ValidationConfig,
        now_ms: i64,
        keys_required: bool,
    ) -> Result<(), BatchError> {
        assert_eq!(
            batch.len() as u64,
            header.size_bytes(),
            "validate_batch takes exactly one header-validated batch"
        );
        let codec = Compression::from_attributes(header.attributes).map_err(|_| {
            BatchError::UnknownCodec {
                codec: header.compression_bits(),
            }
        })?;
        let window = match origin {
            AppendOrigin::Client => {
                client_rules(header)?;
                Some(config.window(now_ms))
            }
            AppendOrigin::Internal => None,
            AppendOrigin::Replication => return Ok(()),
        };
        let region = &batch[RECORDS_AT..];
        if codec == Compression::None {
            return check_records(region, header, window, keys_required);
        }
        self.scratch.clear();
        let limit = config.decompressed_bytes_max;
        let result =
            match codec.decompress_with(region, &mut self.scratch, limit, &mut self.decoders) {
                Ok(()) => check_records(&self.scratch, header, window, keys_required),
                Err(RecordsError::LimitExceeded { limit_bytes, .. }) => {
                    Err(BatchError::InflatedTooLarge { codec, limit_bytes })
                }
                Err(RecordsError::Codec { reason, .. }) => {
                    Err(BatchError::Decompress { codec, reason })
                }
                Err(other) => Err(BatchError::Decompress {
                    codec,
                    reason: other.to_string(),
                }),
            };
        if self.scratch.capacity() > SCRATCH_RETAINED_BYTES_MAX {
            self.scratch = Vec::new();
        }
        self.decoders.trim(SCRATCH_RETAINED_BYTES_MAX);
        debug_assert!(self.scratch.len() <= config.decompressed_bytes_max);
        result
    }
}

/// What Kafka's `LogValidator.validateBatch` refuses from a client beyond the header checks of
/// [`BatchHeader::parse`] (count = last offset delta + 1 > 0): control batches and idempotent
/// batches without a sequence; and, because ringlog stores a batch as sent and cannot rewrite
/// its timestamp type as Kafka does, the log-append-time bit.
fn client_rules(header: &BatchHeader) -> Result<(), BatchError> {
    if header.is_control() {
        return Err(BatchError::ControlFromClient);
    }
    if header.producer_id > NO_PRODUCER_ID && header.base_sequence < 0 {
        return Err(BatchError::MissingSequence {
            producer_id: header.producer_id,
            base_sequence: header.base_sequence,
        });
    }
    if header.is_log_append_time() {
        return Err(BatchError::LogAppendTimeFromClient);
    }
    Ok(())
}

/// Reads exactly `header.records_count` records of the uncompressed region `plain`: each well
/// formed, record `i` with offset delta `i`, nothing after the last; with a `window`, every
/// timestamp but [`NO_TIMESTAMP`] inside it. A malformed record stops the check at once; refused
/// timestamps are gathered over the whole batch, as Kafka does. With `keys_required` a record
/// with a null key is refused.
fn check_records(
    plain: &[u8],
    header: &BatchHeader,
    window: Option<(i64, i64)>,
    keys_required: bool,
) -> Result<(), BatchError> {
    let records_count = header.records_count;
    // Positive: BatchHeader::parse refuses anything else.
    let count = u32::try_from(records_count).unwrap_or(0);
    let mut refused: Vec<(u32, i64)> = Vec::new();
    let mut refused_count = 0u32;
    let mut pos = 0usize;
    for index in 0..count {
        if pos == plain.len() {
            return Err(BatchError::TooFewRecords {
                records_count,
                found: index,
            });
        }
        let invalid = |fault| BatchError::InvalidRecord {
            record_index: index,
            records_count,
            fault,
        };
        let record = read_record(plain, &mut pos, &mut |_, _| {}).map_err(invalid)?;
        if i64::from(record.offset_delta) != i64::from(index) {
            return Err(invalid(RecordFault::OffsetDelta {
                found: record.offset_delta,
                expected: index as i32,
            }));
        }
        if keys_required && record.key.is_none() {
            return Err(invalid(RecordFault::NullKey));
        }
        if let Some((min, max)) = window {
            // Java's long addition, as Kafka computes a record's timestamp.
            let timestamp = header.base_timestamp.wrapping_add(record.timestamp_delta);
            if timestamp != NO_TIMESTAMP && !(min..=max).contains(&timestamp) {
                refused_count += 1;
                if refused.len() < RECORD_ERRORS_MAX {
                    refused.push((index, timestamp));
                }
            }
        }
    }
    if pos != plain.len() {
        return Err(BatchError::TrailingBytes {
            records_count,
            bytes: plain.len() - pos,
        });
    }
    if refused_count > 0 {
        let (min_ms, max_ms) = window.expect("timestamps are refused only inside a window");
        return Err(BatchError::TimestampOutOfRange {
            records: refused,
            refused: refused_count,
            min_ms,
            max_ms,
        });
    }
    Ok(())
}

thread_local! {
    /// The validator of this thread (a shard is one thread, so one scratch buffer per shard).
    static THREAD_VALIDATOR: RefCell<Validator> = RefCell::new(Validator::new());
}

/// Runs `f` with this thread's [`Validator`], whose scratch buffer is reused by every append of
/// the thread.
pub fn with_thread_validator<T>(f: impl FnOnce(&mut Validator) -> T) -> T {
    THREAD_VALIDATOR.with(|v| match v.try_borrow_mut() {
        Ok(mut validator) => f(&mut validator),
        // Validation never re-enters itself; should it ever, a fresh validator is still correct.
        Err(_) => f(&mut Validator::new()),
    })
}

/// Decoding what was accepted: a helper for tests and fuzzing that asserts the module's first
/// invariant on one batch (`batch` exactly one accepted batch).
pub fn decodes_as_accepted(
    batch: &bytes::Bytes,
    header: &BatchHeader,
    config: &ValidationConfig,
) -> Result<(), String> {
    let decoded = records::decode_batch_records(batch, header, config.decompressed_bytes_max)
        .map_err(|e| format!("an accepted batch does not decode: {e}"))?;
    if decoded.len() as i64 != i64::from(header.records_count) {
        return Err(format!(
            "decoded {} records of {}",
            decoded.len(),
            header.records_count
        ));
    }
    match decoded
        .iter()
        .enumerate()
        .find(|(i, r)| i64::from(r.offset_delta) != *i as i64)
    {
        Some((i, r)) => Err(format!("record {i} has offset delta {}", r.offset_delta)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::batch::testing::*;
    use crate::batch::{validate_one, ATTR_CONTROL};
    use crate::records::{encode_batch, BatchMeta, Record};

    const NOW_MS: i64 = 1_700_000_000_000;
    const BATCH_MAX: u64 = 64 << 20;

    fn check(
        v: &mut Validator,
        buf: &[u8],
        origin: AppendOrigin,
        config: &ValidationConfig,
    ) -> Result<Vec<BatchInfo>, BufferError> {
        v.validate_buffer(buf, BATCH_MAX, origin, config, NOW_MS)
    }

    fn client(buf: &[u8]) -> Result<Vec<BatchInfo>, BatchError> {
        check(
            &mut Validator::new(),
            buf,
            AppendOrigin::Client,
            &ValidationConfig::default(),
        )
        .map_err(|e| e.error)
    }

    fn sample_records() -> Vec<Record> {
        (0..20)
            .map(|i| Record {
                offset_delta: i,
                timestamp_delta: i64::from(i),
                key: (i % 3 != 0).then(|| Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; 50 + i as usize])),
                headers: (0..i % 3)
                    .map(|h| {
                        (
                            Bytes::from(format!("h{h}")),
                            (h != 1).then(|| Bytes::from_static(b"hv")),
                        )
                    })
                    .collect(),
            })
            .collect()
    }

    fn encoded(codec: Compression, meta: &BatchMeta) -> Vec<u8> {
        let mut out = Vec::new();
        encode_batch(meta, &sample_records(), codec, &mut out).unwrap();
        out
    }

    fn meta() -> BatchMeta {
        BatchMeta {
            base_timestamp: NOW_MS,
            ..BatchMeta::default()
        }
    }

    #[test]
    fn valid_batches_of_every_codec_are_accepted_from_both_origins() {
        for codec in Compression::ALL {
            let b = encoded(codec, &meta());
            for origin in [AppendOrigin::Client, AppendOrigin::Internal] {
                let infos = check(
                    &mut Validator::new(),
                    &b,
                    origin,
                    &ValidationConfig::default(),
                )
                .unwrap_or_else(|e| panic!("{codec} {origin:?}: {}", e.error));
                assert_eq!(infos.len(), 1);
                assert_eq!(infos[0].header.records_count, 20);
            }
            let h = validate_one(&b, BATCH_MAX).unwrap();
            decodes_as_accepted(&Bytes::from(b), &h, &ValidationConfig::default()).unwrap();
        }
        // Idempotent batches with a sequence, and null timestamps, are fine too.
        let b = encoded(
            Compression::None,
            &BatchMeta {
                producer_id: 5,
                producer_epoch: 0,
                base_sequence: 0,
                base_timestamp: NO_TIMESTAMP,
                ..BatchMeta::default()
            },
        );
        client(&b).expect("idempotent batch");
    }

    /// Every poison batch is refused from a client, with the reason the broker maps to Kafka's
    /// code; none of them is a header or CRC problem.
    #[test]
    fn every_poison_batch_is_refused_for_its_reason() {
        let cases = poison_batches(NOW_MS);
        assert_eq!(cases.len(), 21);
        for case in cases {
            let name = case.name;
            validate_one(&case.bytes, BATCH_MAX)
                .unwrap_or_else(|e| panic!("{name}: header or CRC refused: {e}"));
            let e = client(&case.bytes).expect_err(name);
            let ok = match name {
                "garbage-records" | "zstd-garbage-records" => matches!(
                    e,
                    BatchError::InvalidRecord {
                        record_index: 0,
                        ..
                    }
                ),
                "garbage-gzip" | "garbage-lz4" | "garbage-zstd" => {
                    matches!(e, BatchError::Decompress { .. })
                }
                // Random bytes can pass for a raw snappy block that holds no valid record.
                "garbage-snappy" => matches!(
                    e,
                    BatchError::Decompress { .. } | BatchError::InvalidRecord { .. }
                ),
                "unknown-codec-5" => e == BatchError::UnknownCodec { codec: 5 },
                "unknown-codec-6" => e == BatchError::UnknownCodec { codec: 6 },
                "unknown-codec-7" => e == BatchError::UnknownCodec { codec: 7 },
                "control-bit" => e == BatchError::ControlFromClient,
                "count-above-records" | "gzip-count-above-records" => {
                    e == BatchError::TooFewRecords {
                        records_count: 4,
                        found: 3,
                    }
                }
                "count-below-records" => matches!(
                    e,
                    BatchError::TrailingBytes {
                        records_count: 2,
                        ..
                    }
                ),
                "offset-delta-beyond-last" | "lz4-offset-delta" => matches!(
                    e,
                    BatchError::InvalidRecord {
                        record_index: 1,
                        fault: RecordFault::OffsetDelta {
                            found: 7,
                            expected: 1
                        },
                        ..
                    }
                ),
                "offset-deltas-not-increasing" => matches!(
                    e,
                    BatchError::InvalidRecord {
                        record_index: 1,
                        fault: RecordFault::OffsetDelta {
                            found: 0,
                            expected: 1
                        },
                        ..
                    }
                ),
                "bad-varint" => matches!(
                    e,
                    BatchError::InvalidRecord {
                        record_index: 0,
                        fault: RecordFault::Varint {
                            field: "offset delta"
                        },
                        ..
                    }
                ),
                "trailing-bytes" => {
                    e == BatchError::TrailingBytes {
                        records_count: 3,
                        bytes: 3,
                    }
                }
                "null-header-key" => matches!(
                    e,
                    BatchError::InvalidRecord {
                        fault: RecordFault::NullHeaderKey { header: 0 },
                        ..
                    }
                ),
                "inflation-bomb" => {
                    e == BatchError::InflatedTooLarge {
                        codec: Compression::Zstd,
                        limit_bytes: DECOMPRESSED_BYTES_MAX_DEFAULT,
                    }
                }
                "log-append-time" => e == BatchError::LogAppendTimeFromClient,
                other => panic!("no expectation for poison batch {other}"),
            };
            assert!(ok, "{name}: refused for another reason: {e}");
        }
    }

    #[test]
    fn internal_appends_may_write_control_batches_but_records_are_still_checked() {
        let control = batch_with_region(&records_region(&[b"marker"], &[0]), 1, ATTR_CONTROL, 0);
        assert_eq!(client(&control), Err(BatchError::ControlFromClient));
        let mut v = Validator::new();
        let config = ValidationConfig::default();
        check(&mut v, &control, AppendOrigin::Internal, &config).expect("internal control batch");
        let broken = batch_with_region(&records_region(&[b"a", b"b"], &[0, 5]), 2, ATTR_CONTROL, 0);
        let e = check(&mut v, &broken, AppendOrigin::Internal, &config).unwrap_err();
        assert!(
            matches!(e.error, BatchError::InvalidRecord { .. }),
            "{}",
            e.error
        );
    }

    #[test]
    fn replicated_batches_are_checked_up_to_their_codec_only() {
        let config = ValidationConfig::default();
        let mut v = Validator::new();
        for case in poison_batches(NOW_MS) {
            let verdict = check(&mut v, &case.bytes, AppendOrigin::Replication, &config);
            if case.name.starts_with("unknown-codec") {
                assert!(
                    matches!(
                        verdict.map_err(|e| e.error),
                        Err(BatchError::UnknownCodec { .. })
                    ),
                    "{}",
                    case.name
                );
            } else {
                verdict.unwrap_or_else(|e| panic!("{}: {}", case.name, e.error));
            }
        }
        let mut corrupt = encoded(Compression::Lz4, &meta());
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        let e = check(&mut v, &corrupt, AppendOrigin::Replication, &config).unwrap_err();
        assert!(matches!(e.error, BatchError::CrcMismatch { .. }));
    }

    #[test]
    fn idempotent_batch_without_a_sequence_is_refused_from_a_client() {
        let b = encoded(
            Compression::None,
            &BatchMeta {
                producer_id: 9,
                producer_epoch: 0,
                base_sequence: -1,
                ..meta()
            },
        );
        assert_eq!(
            client(&b),
            Err(BatchError::MissingSequence {
                producer_id: 9,
                base_sequence: -1
            })
        );
    }

    #[test]
    fn record_lengths_varints_and_header_fields_are_checked() {
        // Hand-made single-record regions (fields as varints, attributes as the byte 0).
        let region = |fields: &[i64], tail: &[u8]| {
            let mut r = Vec::new();
            for &f in fields {
                crate::records::put_varlong(&mut r, f);
            }
            r.extend_from_slice(tail);
            r
        };
        let cases: Vec<(&str, Vec<u8>, RecordFault)> = vec![
            (
                "record longer than the region",
                region(&[40, 0, 0, 0, -1, -1, 0], b""),
                RecordFault::Length {
                    length: 40,
                    left: 6,
                },
            ),
            (
                "negative record length",
                region(&[-3, 0, 0, 0, -1, -1, 0], b""),
                RecordFault::Length {
                    length: -3,
                    left: 6,
                },
            ),
            (
                "key longer than the record",
                region(&[7, 0, 0, 0, 50, -1, 0], b"k"),
                RecordFault::FieldLength {
                    field: "key",
                    length: 50,
                    left: 3,
                },
            ),
            (
                "value length below -1",
                region(&[6, 0, 0, 0, -1, -2, 0], b""),
                RecordFault::FieldLength {
                    field: "value",
                    length: -2,
                    left: 1,
                },
            ),
            (
                "negative header count",
                region(&[6, 0, 0, 0, -1, -1, -1], b""),
                RecordFault::HeaderCount { count: -1, left: 0 },
            ),
            (
                "header count beyond the record",
                region(&[6, 0, 0, 0, -1, -1, 50], b""),
                RecordFault::HeaderCount { count: 50, left: 0 },
            ),
            (
                "fields end before the record",
                region(&[8, 0, 0, 0, -1, -1, 0], b"xy"),
                RecordFault::BytesAfterFields { bytes: 2 },
            ),
            (
                "record ends inside a varint",
                // (two bytes after the record keep the region at the header's minimum size)
                region(&[4, 0, 0, 0], &[0x80, b'x', b'x']),
                RecordFault::Varint {
                    field: "key length",
                },
            ),
            (
                "overlong record length",
                vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0],
                RecordFault::LengthVarint,
            ),
        ];
        for (what, region, fault) in cases {
            let b = batch_with_region(&region, 1, 0, NOW_MS);
            assert_eq!(
                client(&b),
                Err(BatchError::InvalidRecord {
                    record_index: 0,
                    records_count: 1,
                    fault
                }),
                "{what}"
            );
            // The same inside a compressed batch.
            let z = compressed_batch_with_region(&region, 1, Compression::Snappy, 0, NOW_MS);
            assert!(
                matches!(client(&z), Err(BatchError::InvalidRecord { .. })),
                "{what} (snappy)"
            );
        }
    }

    #[test]
    fn timestamps_outside_the_window_are_refused_from_clients_only() {
        let config = ValidationConfig {
            timestamp_before_max_ms: 1_000,
            timestamp_after_max_ms: 500,
            ..ValidationConfig::default()
        };
        let batch_at = |deltas: &[i64]| {
            let records: Vec<Record> = deltas
                .iter()
                .enumerate()
                .map(|(i, &d)| Record {
                    offset_delta: i as i32,
                    timestamp_delta: d,
                    value: Some(Bytes::from_static(b"v")),
                    ..Record::default()
                })
                .collect();
            let mut out = Vec::new();
            encode_batch(&meta(), &records, Compression::Lz4, &mut out).unwrap();
            out
        };
        let mut v = Validator::new();
        let inside = batch_at(&[-1_000, 0, 500]);
        check(&mut v, &inside, AppendOrigin::Client, &config).expect("inside the window");
        let outside = batch_at(&[-1_001, 0, 501, 10_000]);
        let e = check(&mut v, &outside, AppendOrigin::Client, &config).unwrap_err();
        assert_eq!(
            e.error,
            BatchError::TimestampOutOfRange {
                records: vec![(0, NOW_MS - 1_001), (2, NOW_MS + 501), (3, NOW_MS + 10_000)],
                refused: 3,
                min_ms: NOW_MS - 1_000,
                max_ms: NOW_MS + 500,
            }
        );
        check(&mut v, &outside, AppendOrigin::Internal, &config).expect("internal: unbounded");
        // Kafka's defaults bound nothing; a timestamp of -1 is never bounded.
        check(
            &mut v,
            &outside,
            AppendOrigin::Client,
            &ValidationConfig::default(),
        )
        .expect("default window");
        let none = batch_at(&[-1 - NOW_MS]);
        check(&mut v, &none, AppendOrigin::Client, &config).expect("no timestamp");
        // A structural fault wins over timestamps, as in Kafka (thrown at once).
        let plain_bad = batch_with_region(&records_region(&[b"a", b"b"], &[0, 3]), 2, 0, 0);
        let e = check(&mut v, &plain_bad, AppendOrigin::Client, &config).unwrap_err();
        assert!(
            matches!(e.error, BatchError::InvalidRecord { .. }),
            "{}",
            e.error
        );
        // The refused list is bounded.
        let many: Vec<i64> = (0..200).map(|_| 100_000).collect();
        let e = check(&mut v, &batch_at(&many), AppendOrigin::Client, &config).unwrap_err();
        let BatchError::TimestampOutOfRange {
            records, refused, ..
        } = e.error
        else {
            panic!("{}", e.error)
        };
        assert_eq!((records.len(), refused), (RECORD_ERRORS_MAX, 200));
    }

    #[test]
    fn the_first_bad_batch_of_a_buffer_is_named_after_every_crc_is_checked() {
        let good = encoded(Compression::Gzip, &meta());
        let bad = batch_with_region(&records_region(&[b"a", b"b"], &[0, 0]), 2, 0, 0);
        let mut buf = good.clone();
        buf.extend_from_slice(&bad);
        buf.extend_from_slice(&good);
        let mut v = Validator::new();
        let config = ValidationConfig::default();
        let e = check(&mut v, &buf, AppendOrigin::Client, &config).unwrap_err();
        assert_eq!((e.batch_index, e.position), (1, good.len() as u64));
        // A CRC error in the third batch is reported before the second batch's records.
        let mut crc_bad = buf.clone();
        let last = crc_bad.len() - 1;
        crc_bad[last] ^= 1;
        let e = check(&mut v, &crc_bad, AppendOrigin::Client, &config).unwrap_err();
        assert_eq!(e.batch_index, 2);
        assert!(matches!(e.error, BatchError::CrcMismatch { .. }));
    }

    #[test]
    fn the_scratch_buffer_is_reused_and_bounded() {
        let config = ValidationConfig::default();
        let mut v = Validator::new();
        let codecs = [
            Compression::Zstd,
            Compression::Gzip,
            Compression::Lz4,
            Compression::Snappy,
        ];
        // Warm-up: one batch of each codec.
        for codec in codecs {
            check(
                &mut v,
                &encoded(codec, &meta()),
                AppendOrigin::Client,
                &config,
            )
            .unwrap();
        }
        let (ptr, cap) = (v.scratch.as_ptr(), v.scratch_capacity());
        assert!(cap > 0);
        assert!(v.held_bytes() > cap, "a zstd context is kept too");
        let held = v.held_bytes();
        for codec in codecs {
            let b = encoded(codec, &meta());
            for _ in 0..3 {
                check(&mut v, &b, AppendOrigin::Client, &config).unwrap();
                assert_eq!(
                    (v.scratch.as_ptr(), v.scratch_capacity(), v.held_bytes()),
                    (ptr, cap, held),
                    "{codec}: the scratch buffer or the zstd context was reallocated"
                );
            }
        }
        // A large inflation may grow it to the bound, but it is not kept.
        let big = vec![7u8; SCRATCH_RETAINED_BYTES_MAX + 1];
        let z = compressed_batch_with_region(&big, 1, Compression::Lz4, 0, 0);
        let e = check(&mut v, &z, AppendOrigin::Client, &config).unwrap_err();
        assert!(matches!(e.error, BatchError::InvalidRecord { .. }));
        assert!(v.scratch_capacity() <= SCRATCH_RETAINED_BYTES_MAX);
        // The bound holds for inflation: one byte over refuses, exactly at it accepts.
        let plain = {
            let mut out = Vec::new();
            crate::records::encode_records(&sample_records(), &mut out).unwrap();
            out
        };
        let z = compressed_batch_with_region(&plain, 20, Compression::Gzip, 0, NOW_MS);
        let tight = ValidationConfig {
            decompressed_bytes_max: plain.len(),
            ..ValidationConfig::default()
        };
        check(&mut v, &z, AppendOrigin::Client, &tight).expect("exactly at the bound");
        let under = ValidationConfig {
            decompressed_bytes_max: plain.len() - 1,
            ..ValidationConfig::default()
        };
        let e = check(&mut v, &z, AppendOrigin::Client, &under).unwrap_err();
        assert_eq!(
            e.error,
            BatchError::InflatedTooLarge {
                codec: Compression::Gzip,
                limit_bytes: plain.len() - 1
            }
        );
        // The thread's validator is one and the same across calls.
        let b = encoded(Compression::Zstd, &meta());
        let first = with_thread_validator(|v| {
            v.validate_buffer(&b, BATCH_MAX, AppendOrigin::Client, &config, NOW_MS)
                .unwrap();
            v.scratch.as_ptr()
        });
        let again = with_thread_validator(|v| v.scratch.as_ptr());
        assert_eq!(first, again);
    }

    #[test]
    fn damaged_batches_never_panic_and_accepted_ones_decode() {
        use crate::runtime::rng::Rng;
        let mut rng = Rng::new(13);
        let config = ValidationConfig {
            decompressed_bytes_max: 1 << 20,
            ..ValidationConfig::default()
        };
        let mut v = Validator::new();
        for codec in Compression::ALL {
            let good = encoded(codec, &meta());
            for _ in 0..400 {
                let mut b = good.clone();
                for _ in 0..1 + rng.below(3) {
                    let at = RECORDS_AT + rng.below(b.len() - RECORDS_AT);
                    b[at] = rng.next_u64() as u8;
                }
                fix_crc(&mut b);
                for origin in [AppendOrigin::Client, AppendOrigin::Internal] {
                    if let Ok(infos) = check(&mut v, &b, origin, &config) {
                        decodes_as_accepted(&Bytes::from(b.clone()), &infos[0].header, &config)
                            .unwrap_or_else(|e| panic!("{codec}: {e}"));
                    }
                }
            }
        }
    }
}
