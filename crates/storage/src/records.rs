//! The records inside a Kafka RecordBatch v2 and their compression: varints, the record
//! encoding, a bounded record decoder, the five codecs with bounded decompression, and whole
//! batch encode/decode on top of the layout in [`super::batch`].
//!
//! One record (all integers zigzag varints unless noted):
//! ```text
//! length (varint: bytes after itself)
//! attributes (i8, unused: 0)
//! timestamp_delta (varlong, from the batch's base_timestamp)
//! offset_delta (varint, from the batch's base_offset)
//! key_length (varint, -1 = null) key
//! value_length (varint, -1 = null) value
//! header_count (varint)
//!   header_key_length (varint, never null) header_key (UTF-8 in Kafka; kept as bytes here)
//!   header_value_length (varint, -1 = null) header_value
//! ```
//! The records region of a batch is `records_count` such records back to back, compressed as a
//! whole by the codec in the batch's attribute bits 0..2.
//!
//! Codecs (as the Java client writes them, and as this module writes them):
//! - gzip (1): RFC 1952, deflate level 6; concatenated members are accepted on decode.
//! - snappy (2): the xerial framing of snappy-java: `82 'SNAPPY' 00`, version i32 BE = 1,
//!   compatible version i32 BE = 1, then blocks of `[u32 BE length][raw snappy block]`, each
//!   holding at most 32 KiB of input. Decoding also accepts plain raw snappy (no header), as
//!   snappy-java does, and concatenated xerial streams.
//! - lz4 (3): the LZ4 frame format (KIP-57: correct header checksum), 64 KiB independent blocks,
//!   no block or content checksum, no content size.
//! - zstd (4): a standard zstd frame, level 3.
//!
//! # Invariants
//! - Nothing here panics on any input bytes; every malformed input is a [`RecordsError`].
//! - No count or length from the wire reaches an allocation before it has been checked against
//!   the bytes that would hold it; vectors sized from wire counts start at most
//!   [`PREALLOC_MAX`] elements.
//! - Decompression never grows the output beyond the caller's limit: output that would pass it
//!   is an error, found while decoding, not after inflating everything.
//! - Decoder state kept between calls ([`Decoders`]) gives the same results as a fresh decoder,
//!   also after an error.
//! - Decoded keys, values and header fields share the caller's buffer (no copies).

use std::fmt;
use std::io::{self, Read, Write};

use bytes::Bytes;

use super::batch::{
    self, BatchHeader, ATTR_COMPRESSION_MASK, MAGIC_V2, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, RECORDS_AT, RECORD_BYTES_MIN,
};

/// Largest initial capacity of a vector sized from a wire count; it grows past this only as
/// real elements are decoded.
pub const PREALLOC_MAX: usize = 1024;
/// Longest varint (32-bit value) in bytes.
const VARINT_BYTES_MAX: usize = 5;
/// Longest varlong (64-bit value) in bytes.
const VARLONG_BYTES_MAX: usize = 10;
/// Smallest encoded header: key length and value length, one byte each.
const HEADER_BYTES_MIN: usize = 2;

/// The xerial snappy stream magic (first 8 bytes of snappy-java's stream header).
pub const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Bytes of the xerial stream header: magic, version i32, compatible version i32.
pub const XERIAL_HEADER_BYTES: usize = 16;
/// The xerial header's version and compatible version as snappy-java writes them.
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
/// Uncompressed bytes per xerial block (snappy-java's default block size).
pub const XERIAL_BLOCK_BYTES: usize = 32 * 1024;
/// gzip level of Kafka's Java client (`Deflater.DEFAULT_COMPRESSION`).
const GZIP_LEVEL: u32 = 6;
/// zstd level of Kafka's Java client (`ZSTD_CLEVEL_DEFAULT`).
const ZSTD_LEVEL: i32 = 3;
/// Smallest and largest zstd window (log2 bytes) a decoder accepts; see [`zstd_window_log`].
const ZSTD_WINDOW_LOG_MIN: u32 = 23;
const ZSTD_WINDOW_LOG_MAX: u32 = 30;
/// Output growth step of the streaming decoders when nothing has been produced yet.
const GROW_BYTES_MIN: usize = 16 * 1024;
/// Most output bytes offered to a streaming decoder in one read (zero-filled first).
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Why records or compressed bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordsError {
    /// Record `index` (counting from 0) of the `count` the batch announces is malformed.
    Record {
        /// Index of the bad record.
        index: u32,
        /// Records the batch announces.
        count: u32,
        /// What is wrong with it.
        fault: RecordFault,
    },
    /// A negative record count.
    BadCount {
        /// The count as given.
        count: i32,
    },
    /// Bytes left after the announced records.
    TrailingBytes {
        /// Records the batch announces (all decoded).
        count: u32,
        /// Bytes after the last one.
        bytes: usize,
    },
    /// A batch needs at least one record.
    Empty,
    /// A field, record or batch longer than its i32 length field allows.
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length in bytes.
        bytes: usize,
    },
    /// Fewer bytes than the batch header announces.
    Truncated {
        /// Bytes the header announces.
        needed_bytes: u64,
        /// Bytes present.
        available_bytes: u64,
    },
    /// Compression codec bits 5, 6 or 7 (no such codec).
    UnknownCodec {
        /// The attribute's codec bits.
        codec: i16,
    },
    /// The codec rejected the bytes (corrupt or truncated input) or failed to compress.
    Codec {
        /// Which codec.
        codec: Compression,
        /// The codec's complaint.
        reason: String,
    },
    /// Decompressed output would pass the caller's limit (a decompression bomb, or a batch
    /// larger than the caller accepts).
    LimitExceeded {
        /// Which codec.
        codec: Compression,
        /// The limit in bytes.
        limit_bytes: usize,
    },
}

impl fmt::Display for RecordsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordsError::Record {
                index,
                count,
                fault,
            } => write!(f, "record {index} of {count}: {fault}"),
            RecordsError::BadCount { count } => write!(f, "negative record count {count}"),
            RecordsError::TrailingBytes { count, bytes } => {
                write!(f, "{bytes} bytes after the {count} records")
            }
            RecordsError::Empty => write!(f, "a record batch needs at least one record"),
            RecordsError::TooLong { what, bytes } => {
                write!(
                    f,
                    "{what} of {bytes} bytes is longer than an i32 length allows"
                )
            }
            RecordsError::Truncated {
                needed_bytes,
                available_bytes,
            } => write!(
                f,
                "batch truncated: {needed_bytes} bytes announced, {available_bytes} present"
            ),
            RecordsError::UnknownCodec { codec } => write!(f, "unknown compression codec {codec}"),
            RecordsError::Codec { codec, reason } => write!(f, "{codec}: {reason}"),
            RecordsError::LimitExceeded { codec, limit_bytes } => write!(
                f,
                "{codec}: decompressed records exceed the limit of {limit_bytes} bytes"
            ),
        }
    }
}

impl std::error::Error for RecordsError {}

// ---------------------------------------------------------------------------------------------
// Varints
// ---------------------------------------------------------------------------------------------

fn put_unsigned(out: &mut Vec<u8>, mut z: u64) {
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn unsigned_len(z: u64) -> usize {
    // 1 byte per started group of 7 bits, at least one.
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// Appends a Kafka `varint` (zigzag, 32-bit value, 1..=5 bytes).
pub fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, zigzag32(v));
}

/// Appends a Kafka `varlong` (zigzag, 64-bit value, 1..=10 bytes).
pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, zigzag64(v));
}

/// Encoded bytes of `v` as a `varint`.
pub fn varint_len(v: i32) -> usize {
    unsigned_len(zigzag32(v))
}

/// Encoded bytes of `v` as a `varlong`.
pub fn varlong_len(v: i64) -> usize {
    unsigned_len(zigzag64(v))
}

/// Reads an unsigned LEB128 of at most `max_bytes` at `*pos`, advancing `*pos` only on success.
/// `None` if truncated, longer than `max_bytes`, or carrying bits above `value_bits`.
#[inline]
fn get_unsigned(b: &[u8], pos: &mut usize, max_bytes: usize, value_bits: u32) -> Option<u64> {
    // Most varints of a record are one byte (attributes aside: deltas, null key, header count).
    if let Some(&byte) = b.get(*pos) {
        if byte & 0x80 == 0 {
            *pos += 1;
            return Some(u64::from(byte));
        }
    }
    let mut z: u64 = 0;
    for i in 0..max_bytes {
        let byte = *b.get(pos.checked_add(i)?)?;
        let shift = 7 * i as u32;
        let bits = u64::from(byte & 0x7f);
        // Bits that would fall above the value's width make the encoding invalid.
        if shift + 7 > value_bits && bits >> (value_bits - shift) != 0 {
            return None;
        }
        z |= bits << shift;
        if byte & 0x80 == 0 {
            *pos += i + 1;
            return Some(z);
        }
    }
    None
}

/// Reads a Kafka `varint` at `*pos` and advances past it; `None` (and `*pos` unchanged) if it is
/// truncated, longer than 5 bytes or outside 32 bits.
#[inline]
pub fn get_varint(b: &[u8], pos: &mut usize) -> Option<i32> {
    let z = get_unsigned(b, pos, VARINT_BYTES_MAX, 32)? as u32;
    Some(((z >> 1) as i32) ^ -((z & 1) as i32))
}

/// Reads a Kafka `varlong` at `*pos` and advances past it; `None` (and `*pos` unchanged) if it
/// is truncated or longer than 10 bytes.
#[inline]
pub fn get_varlong(b: &[u8], pos: &mut usize) -> Option<i64> {
    let z = get_unsigned(b, pos, VARLONG_BYTES_MAX, 64)?;
    Some(((z >> 1) as i64) ^ -((z & 1) as i64))
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// One record of a batch, with offset and timestamp relative to the batch header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Offset relative to the batch's `base_offset`.
    pub offset_delta: i32,
    /// Milliseconds relative to the batch's `base_timestamp`.
    pub timestamp_delta: i64,
    /// Key; `None` is a null key.
    pub key: Option<Bytes>,
    /// Value; `None` is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order: (key, value). Keys are UTF-8 in Kafka but kept as bytes here; a
    /// `None` value is a null header value.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
}

/// Encoded bytes of an optional byte field: its length varint and the bytes.
fn bytes_field_len(b: Option<&[u8]>, what: &'static str) -> Result<usize, RecordsError> {
    match b {
        None => Ok(varint_len(-1)),
        Some(b) => {
            let n = i32::try_from(b.len()).map_err(|_| RecordsError::TooLong {
                what,
                bytes: b.len(),
            })?;
            Ok(varint_len(n) + b.len())
        }
    }
}

fn put_bytes_field(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            // Lengths were checked to fit an i32 by `body_len`.
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

impl Record {
    /// Bytes of the record after its length varint; an error if any length passes i32.
    fn body_len(&self) -> Result<usize, RecordsError> {
        let headers = i32::try_from(self.headers.len()).map_err(|_| RecordsError::TooLong {
            what: "header list",
            bytes: self.headers.len(),
        })?;
        let mut n = 1 // attributes
            + varlong_len(self.timestamp_delta)
            + varint_len(self.offset_delta)
            + bytes_field_len(self.key.as_deref(), "record key")?
            + bytes_field_len(self.value.as_deref(), "record value")?
            + varint_len(headers);
        for (k, v) in &self.headers {
            n += bytes_field_len(Some(k), "header key")?;
            n += bytes_field_len(v.as_deref(), "header value")?;
        }
        if i32::try_from(n).is_err() {
            return Err(RecordsError::TooLong {
                what: "record",
                bytes: n,
            });
        }
        Ok(n)
    }

    /// Appends the encoded record (length varint first) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), RecordsError> {
        let body = self.body_len()?;
        out.reserve(varint_len(body as i32) + body);
        put_varint(out, body as i32);
        let start = out.len();
        out.push(0); // attributes (unused)
        put_varlong(out, self.timestamp_delta);
        put_varint(out, self.offset_delta);
        put_bytes_field(out, self.key.as_deref());
        put_bytes_field(out, self.value.as_deref());
        put_varint(out, self.headers.len() as i32);
        for (k, v) in &self.headers {
            put_bytes_field(out, Some(k));
            put_bytes_field(out, v.as_deref());
        }
        debug_assert_eq!(out.len() - start, body);
        Ok(())
    }
}

/// Appends `records` back to back to `out` (an uncompressed records region).
pub fn encode_records(records: &[Record], out: &mut Vec<u8>) -> Result<(), RecordsError> {
    for r in records {
        r.encode(out)?;
    }
    Ok(())
}

/// What is wrong with one record of a records region, as found by [`read_record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFault {
    /// The record's length varint is missing (no bytes left), truncated or overlong.
    LengthVarint,
    /// The record's length is not positive, or larger than the bytes left in the region.
    Length {
        /// The length as encoded.
        length: i32,
        /// Bytes left in the region after the length varint.
        left: usize,
    },
    /// A varint field runs past the record's length, or is overlong.
    Varint {
        /// Which field, e.g. `"offset delta"`.
        field: &'static str,
    },
    /// A key, value or header length below -1, or longer than what is left of the record.
    FieldLength {
        /// Which field, e.g. `"value"`.
        field: &'static str,
        /// The length as encoded.
        length: i32,
        /// Bytes left in the record after the length varint.
        left: usize,
    },
    /// A header count that is negative or cannot fit in what is left of the record.
    HeaderCount {
        /// The count as encoded.
        count: i32,
        /// Bytes left in the record after the count.
        left: usize,
    },
    /// A header with a null key (length -1); Kafka refuses it.
    NullHeaderKey {
        /// Index of the header in the record, counting from 0.
        header: u32,
    },
    /// The record's fields end before its announced length.
    BytesAfterFields {
        /// Bytes between the last field and the announced end.
        bytes: usize,
    },
    /// The record's offset delta is not its index in the batch (Kafka's producers write 0, 1,
    /// 2, ...; any other delta makes consumers see offsets out of order). Found by the produce
    /// validator, not by [`read_record`].
    OffsetDelta {
        /// The offset delta as encoded.
        found: i32,
        /// The record's index in its batch.
        expected: i32,
    },
    /// A record with a null key appended to a compacted topic (Kafka's
    /// `LogValidator.validateKey`): the cleaner keeps the latest record per key, so a record
    /// without one could never be kept. Found by the produce validator, not by [`read_record`].
    NullKey,
}

impl fmt::Display for RecordFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordFault::LengthVarint => write!(f, "truncated or overlong record length"),
            RecordFault::Length { length, left } => {
                write!(f, "record length {length} but {left} bytes left")
            }
            RecordFault::Varint { field } => write!(f, "truncated or overlong {field}"),
            RecordFault::FieldLength {
                field,
                length,
                left,
            } => write!(
                f,
                "{field} length {length} outside the record ({left} bytes left)"
            ),
            RecordFault::HeaderCount { count, left } => write!(
                f,
                "header count {count} outside the record ({left} bytes left)"
            ),
            RecordFault::NullHeaderKey { header } => write!(f, "header {header} has a null key"),
            RecordFault::BytesAfterFields { bytes } => {
                write!(f, "{bytes} bytes after the record's fields")
            }
            RecordFault::OffsetDelta { found, expected } => write!(
                f,
                "offset delta {found}, expected {expected} (deltas must be 0, 1, 2, ...)"
            ),
            RecordFault::NullKey => write!(
                f,
                "a record without a key (a compacted topic cannot accept records without keys)"
            ),
        }
    }
}

/// One record read by [`read_record`]: its fields, keys and values as slices of the records
/// region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Milliseconds relative to the batch's `base_timestamp`.
    pub timestamp_delta: i64,
    /// Offset relative to the batch's `base_offset`.
    pub offset_delta: i32,
    /// Key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is a null value.
    pub value: Option<&'a [u8]>,
    /// Number of headers (each was given to the caller's `on_header`).
    pub header_count: u32,
}

/// Reads an optional byte field of `rec` at `*p`: length varint (-1 = null), then the bytes,
/// which must lie inside `rec`. `field` is `"key"`, `"value"`, `"header key"` or
/// `"header value"`.
#[inline]
fn bytes_field<'a>(
    rec: &'a [u8],
    p: &mut usize,
    field: &'static str,
) -> Result<Option<&'a [u8]>, RecordFault> {
    let length = get_varint(rec, p).ok_or(RecordFault::Varint {
        field: match field {
            "key" => "key length",
            "value" => "value length",
            "header key" => "header key length",
            _ => "header value length",
        },
    })?;
    if length == -1 {
        return Ok(None);
    }
    let left = rec.len() - *p;
    match usize::try_from(length) {
        Ok(n) if n <= left => {
            let bytes = &rec[*p..*p + n];
            *p += n;
            Ok(Some(bytes))
        }
        _ => Err(RecordFault::FieldLength {
            field,
            length,
            left,
        }),
    }
}

/// Reads the record at `*pos` of an uncompressed records region and advances `*pos` past it:
/// the one parser of the record encoding (the produce validator, [`decode_records`] and the
/// time lookup all use it). Checked, as Kafka's `DefaultRecord.readFrom` does and a bit more:
/// every varint well-formed and inside the record, the length positive and inside `plain`,
/// key/value/header lengths `>= -1` and inside the record, the header count inside the record,
/// no null header key, and the fields filling the record exactly. The attributes byte is unused
/// and not checked (Kafka ignores it too). Each header goes to `on_header` in order. On error
/// `*pos` is unchanged. Allocates nothing.
pub fn read_record<'a>(
    plain: &'a [u8],
    pos: &mut usize,
    on_header: &mut impl FnMut(&'a [u8], Option<&'a [u8]>),
) -> Result<RecordView<'a>, RecordFault> {
    let mut at = *pos;
    let length = get_varint(plain, &mut at).ok_or(RecordFault::LengthVarint)?;
    let left = plain.len() - at;
    let record_bytes = usize::try_from(length)
        .ok()
        .filter(|&n| n > 0 && n <= left)
        .ok_or(RecordFault::Length { length, left })?;
    let rec = &plain[at..at + record_bytes];
    let mut p = 1; // attributes (unused)
    let timestamp_delta = get_varlong(rec, &mut p).ok_or(RecordFault::Varint {
        field: "timestamp delta",
    })?;
    let offset_delta = get_varint(rec, &mut p).ok_or(RecordFault::Varint {
        field: "offset delta",
    })?;
    let key = bytes_field(rec, &mut p, "key")?;
    let value = bytes_field(rec, &mut p, "value")?;
    let count = get_varint(rec, &mut p).ok_or(RecordFault::Varint {
        field: "header count",
    })?;
    let left = rec.len() - p;
    let header_count = u32::try_from(count)
        .ok()
        .filter(|&c| c as usize <= left / HEADER_BYTES_MIN)
        .ok_or(RecordFault::HeaderCount { count, left })?;
    for header in 0..header_count {
        let key =
            bytes_field(rec, &mut p, "header key")?.ok_or(RecordFault::NullHeaderKey { header })?;
        let value = bytes_field(rec, &mut p, "header value")?;
        on_header(key, value);
    }
    if p != rec.len() {
        return Err(RecordFault::BytesAfterFields {
            bytes: rec.len() - p,
        });
    }
    *pos = at + record_bytes;
    Ok(RecordView {
        timestamp_delta,
        offset_delta,
        key,
        value,
        header_count,
    })
}

/// Decodes exactly `count` records from an uncompressed records region with [`read_record`].
/// Every length and count is checked against the bytes left before anything is allocated from
/// it, and no bytes may follow the last record. Keys, values and headers are slices of `plain`.
pub fn decode_records(plain: &Bytes, count: i32) -> Result<Vec<Record>, RecordsError> {
    let count = u32::try_from(count).map_err(|_| RecordsError::BadCount { count })?;
    let fits = plain.len() / RECORD_BYTES_MIN;
    let mut out = Vec::with_capacity((count as usize).min(fits).min(PREALLOC_MAX));
    let owned = |b: &[u8]| plain.slice_ref(b);
    let mut pos = 0usize;
    for index in 0..count {
        let mut headers = Vec::new();
        let view = read_record(plain, &mut pos, &mut |k, v| {
            headers.push((owned(k), v.map(owned)));
        })
        .map_err(|fault| RecordsError::Record {
            index,
            count,
            fault,
        })?;
        out.push(Record {
            offset_delta: view.offset_delta,
            timestamp_delta: view.timestamp_delta,
            key: view.key.map(owned),
            value: view.value.map(owned),
            headers,
        });
    }
    if pos != plain.len() {
        return Err(RecordsError::TrailingBytes {
            count,
            bytes: plain.len() - pos,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------------------------

/// A batch's compression codec (attribute bits 0..2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// 0: records stored as they are.
    #[default]
    None,
    /// 1: gzip.
    Gzip,
    /// 2: snappy (xerial-framed).
    Snappy,
    /// 3: LZ4 frame.
    Lz4,
    /// 4: zstd.
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Compression {
    /// Every codec, in attribute order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec of a batch's attributes; codecs 5..7 are an error.
    pub fn from_attributes(attributes: i16) -> Result<Compression, RecordsError> {
        match attributes & ATTR_COMPRESSION_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            codec => Err(RecordsError::UnknownCodec { codec }),
        }
    }

    /// The attribute bits of this codec.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's name (`compression.type`): `none`, `gzip`, `snappy`, `lz4`, `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The codec of a Kafka name, `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Compression> {
        Compression::ALL.into_iter().find(|c| c.name() == name)
    }

    fn codec_err(self, e: impl fmt::Display) -> RecordsError {
        RecordsError::Codec {
            codec: self,
            reason: e.to_string(),
        }
    }

    /// Appends `plain` compressed with this codec to `out` (`None` copies it).
    pub fn compress(self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
        let err = |e: io::Error| self.codec_err(e);
        match self {
            Compression::None => out.extend_from_slice(plain),
            Compression::Gzip => {
                let mut w =
                    flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
                w.write_all(plain).map_err(err)?;
                w.finish().map_err(err)?;
            }
            Compression::Snappy => snappy_compress_xerial(plain, out)?,
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent)
                    .block_checksums(false)
                    .content_checksum(false);
                let mut w = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
                w.write_all(plain).map_err(err)?;
                w.finish().map_err(|e| self.codec_err(e))?;
            }
            Compression::Zstd => {
                let mut w = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(err)?;
                w.write_all(plain).map_err(err)?;
                w.finish().map_err(err)?;
            }
        }
        Ok(())
    }

    /// Appends `compressed` decompressed with this codec to `out`, producing at most `limit`
    /// bytes: input that would inflate beyond `limit` is [`RecordsError::LimitExceeded`],
    /// detected while decoding, and `out` never grows past `limit` new bytes. On any error `out`
    /// is left as it was.
    pub fn decompress(
        self,
        compressed: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), RecordsError> {
        let start = out.len();
        let result = match self {
            Compression::None => {
                if compressed.len() > limit {
                    Err(self.limit_err(limit))
                } else {
                    out.extend_from_slice(compressed);
                    Ok(())
                }
            }
            Compression::Gzip => read_bounded(
                flate2::bufread::MultiGzDecoder::new(compressed),
                out,
                limit,
                self,
            ),
            Compression::Snappy => snappy_decompress(compressed, out, limit),
            Compression::Lz4 => read_bounded(
                lz4_flex::frame::FrameDecoder::new(compressed),
                out,
                limit,
                self,
            ),
            Compression::Zstd => match zstd::zstd_safe::DCtx::try_create() {
                Some(mut context) => zstd_decompress(&mut context, compressed, out, limit),
                None => Err(self.codec_err("cannot create a zstd context")),
            },
        };
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// [`Compression::decompress`] with decoder state kept in `decoders` from one call to the
    /// next (a zstd context and its window buffer), so that a stream of batches does not set up
    /// a codec per batch. Same bounds, same results.
    pub fn decompress_with(
        self,
        compressed: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        decoders: &mut Decoders,
    ) -> Result<(), RecordsError> {
        if self != Compression::Zstd {
            return self.decompress(compressed, out, limit);
        }
        if decoders.zstd.is_none() {
            decoders.zstd = zstd::zstd_safe::DCtx::try_create();
        }
        let Some(context) = decoders.zstd.as_mut() else {
            return Err(self.codec_err("cannot create a zstd context"));
        };
        let start = out.len();
        let result = zstd_decompress(context, compressed, out, limit);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn limit_err(self, limit: usize) -> RecordsError {
        RecordsError::LimitExceeded {
            codec: self,
            limit_bytes: limit,
        }
    }
}

/// Decoder state kept between calls of [`Compression::decompress_with`]: a zstd context (with
/// its window buffer), so that a stream of batches does not set one up per batch. The other
/// codecs keep nothing (snappy's decoder allocates nothing; gzip and LZ4 set up per call).
#[derive(Default)]
pub struct Decoders {
    zstd: Option<zstd::zstd_safe::DCtx<'static>>,
}

impl fmt::Debug for Decoders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoders")
            .field("held_bytes", &self.held_bytes())
            .finish()
    }
}

impl Decoders {
    /// Bytes the kept decoder state holds.
    pub fn held_bytes(&self) -> usize {
        self.zstd.as_ref().map_or(0, |c| c.sizeof())
    }

    /// Drops kept state larger than `max_bytes` (after a frame with a large window, say), so
    /// that what stays between batches is bounded.
    pub fn trim(&mut self, max_bytes: usize) {
        if self.held_bytes() > max_bytes {
            self.zstd = None;
        }
    }
}

/// zstd into `out` with `context`, at most `limit` new bytes: a streaming decode straight into
/// `out`'s spare capacity (grown geometrically, never past the limit), frames back to back, the
/// window bounded by [`zstd_window_log`]. At the limit, a one-byte probe tells whether more
/// would come (an error). The callers truncate `out` on error.
fn zstd_decompress(
    context: &mut zstd::zstd_safe::DCtx<'static>,
    compressed: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), RecordsError> {
    use zstd::zstd_safe::{get_error_name, DParameter, InBuffer, OutBuffer, ResetDirective};
    let codec = Compression::Zstd;
    let zstd_err = |code: usize| codec.codec_err(get_error_name(code));
    context
        .reset(ResetDirective::SessionOnly)
        .map_err(zstd_err)?;
    context
        .set_parameter(DParameter::WindowLogMax(zstd_window_log(limit)))
        .map_err(zstd_err)?;
    let start = out.len();
    let mut input = InBuffer::around(compressed);
    // Whether the last call ended a frame; no input at all is no frame, and fine.
    let mut frame_done = true;
    loop {
        if input.pos() == compressed.len() && frame_done {
            return Ok(());
        }
        let produced = out.len() - start;
        let (len, read) = (out.len(), input.pos());
        let mut probe = [0u8; 1];
        let at_limit = out.len() == out.capacity() && produced == limit;
        let hint = if at_limit {
            // At the limit: the stream may still end (or start an empty frame), nothing more.
            let mut output = OutBuffer::around(&mut probe[..]);
            let hint = context
                .decompress_stream(&mut output, &mut input)
                .map_err(zstd_err)?;
            if output.pos() > 0 {
                return Err(codec.limit_err(limit));
            }
            hint
        } else {
            if out.len() == out.capacity() {
                out.reserve_exact(produced.max(GROW_BYTES_MIN).min(limit - produced));
            }
            let mut output = OutBuffer::around_pos(out, len);
            context
                .decompress_stream(&mut output, &mut input)
                .map_err(zstd_err)?
        };
        // Existing capacity (a reused buffer) may take output past the limit: an error too.
        if out.len() - start > limit {
            return Err(codec.limit_err(limit));
        }
        frame_done = hint == 0;
        let room = at_limit || out.len() < out.capacity();
        if !frame_done && room && out.len() == len && input.pos() == read {
            return Err(codec.codec_err("truncated zstd frame"));
        }
    }
}

/// The largest zstd window (log2 bytes) accepted when at most `limit` bytes may come out: a
/// window larger than the whole output is useless, but streaming producers that do not know the
/// size in advance declare the window of their level (8 MiB up to level 19), so the bound is
/// never below 2^23. The decoder's window buffer is allocated from this, not from the output.
fn zstd_window_log(limit: usize) -> u32 {
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(ZSTD_WINDOW_LOG_MIN, ZSTD_WINDOW_LOG_MAX)
}

/// Makes room for `additional` more bytes in `out`, growing geometrically but never past
/// `start + limit` bytes of capacity (the caller checked `additional` fits the limit).
fn reserve_within(out: &mut Vec<u8>, additional: usize, start: usize, limit: usize) {
    if out.capacity() - out.len() >= additional {
        return;
    }
    let produced = out.len() - start;
    let room = limit - produced;
    let grow = produced.max(additional).max(GROW_BYTES_MIN).min(room);
    out.reserve_exact(grow.max(additional));
}

/// Reads `reader` to its end into `out`, at most `limit` bytes: the reader is cut after
/// `limit + 1` bytes, and the one byte past the limit makes it an error.
fn read_bounded(
    reader: impl Read,
    out: &mut Vec<u8>,
    limit: usize,
    codec: Compression,
) -> Result<(), RecordsError> {
    let mut reader = reader.take((limit as u64).saturating_add(1));
    let start = out.len();
    loop {
        let produced = out.len() - start;
        if produced == limit {
            // Exactly at the limit: the stream must end here.
            let mut probe = [0u8; 1];
            return loop {
                match reader.read(&mut probe) {
                    Ok(0) => break Ok(()),
                    Ok(_) => break Err(codec.limit_err(limit)),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => break Err(codec.codec_err(e)),
                }
            };
        }
        let want = GROW_BYTES_MIN.min(limit - produced);
        reserve_within(out, want, start, limit);
        let at = out.len();
        let space = (out.capacity() - at)
            .min(limit - produced)
            .min(READ_CHUNK_BYTES);
        out.resize(at + space, 0);
        match reader.read(&mut out[at..]) {
            Ok(0) => {
                out.truncate(at);
                return Ok(());
            }
            Ok(n) => out.truncate(at + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => out.truncate(at),
            Err(e) => {
                out.truncate(at);
                return Err(codec.codec_err(e));
            }
        }
    }
}

/// xerial-framed snappy, as snappy-java's `SnappyOutputStream` writes it.
fn snappy_compress_xerial(plain: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_COMPATIBLE_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for block in plain.chunks(XERIAL_BLOCK_BYTES) {
        let length_at = out.len();
        out.extend_from_slice(&[0u8; 4]);
        let at = out.len();
        out.resize(at + snap::raw::max_compress_len(block.len()), 0);
        let n = encoder
            .compress(block, &mut out[at..])
            .map_err(|e| Compression::Snappy.codec_err(e))?;
        out.truncate(at + n);
        // n <= max_compress_len(32 KiB), far below u32::MAX.
        out[length_at..at].copy_from_slice(&(n as u32).to_be_bytes());
    }
    Ok(())
}

/// Snappy as Kafka accepts it: xerial-framed when the stream starts with the xerial header,
/// otherwise one raw snappy block.
fn snappy_decompress(
    compressed: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), RecordsError> {
    let start = out.len();
    let mut decoder = snap::raw::Decoder::new();
    if !is_xerial_header(compressed) {
        return snappy_block(&mut decoder, compressed, out, start, limit);
    }
    let corrupt = |what: String| Compression::Snappy.codec_err(what);
    let mut pos = XERIAL_HEADER_BYTES;
    while pos < compressed.len() {
        let rest = &compressed[pos..];
        // Concatenated xerial streams repeat the header; a block length never starts with
        // 0x82 (that would be over 2 GiB).
        if is_xerial_header(rest) {
            pos += XERIAL_HEADER_BYTES;
            continue;
        }
        let Some(length) = rest.get(..4) else {
            return Err(corrupt(format!(
                "xerial block length truncated at byte {pos}"
            )));
        };
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let block = rest.get(4..).and_then(|r| r.get(..length)).ok_or_else(|| {
            corrupt(format!(
                "xerial block at byte {pos} of {length} bytes, {} left",
                rest.len() - 4
            ))
        })?;
        snappy_block(&mut decoder, block, out, start, limit)?;
        pos += 4 + length;
    }
    Ok(())
}

fn is_xerial_header(b: &[u8]) -> bool {
    b.len() >= XERIAL_HEADER_BYTES && b.starts_with(XERIAL_MAGIC)
}

/// One raw snappy block: its declared length is checked against the limit before `out` grows.
fn snappy_block(
    decoder: &mut snap::raw::Decoder,
    block: &[u8],
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<(), RecordsError> {
    let codec = Compression::Snappy;
    let declared = snap::raw::decompress_len(block).map_err(|e| codec.codec_err(e))?;
    let produced = out.len() - start;
    if declared > limit - produced {
        return Err(codec.limit_err(limit));
    }
    reserve_within(out, declared, start, limit);
    let at = out.len();
    out.resize(at + declared, 0);
    let n = decoder
        .decompress(block, &mut out[at..])
        .map_err(|e| codec.codec_err(e))?;
    out.truncate(at + n);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Whole batches
// ---------------------------------------------------------------------------------------------

/// The header fields of a batch to encode that do not follow from its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    /// Offset of the first record (the broker overwrites it on append).
    pub base_offset: i64,
    /// Leader epoch (the broker overwrites it on append).
    pub partition_leader_epoch: i32,
    /// Attribute flags other than the codec (e.g. [`batch::ATTR_TRANSACTIONAL`]); codec bits
    /// given here are replaced by the codec's.
    pub attributes: i16,
    /// Timestamp the records' deltas are relative to, milliseconds since the epoch.
    pub base_timestamp: i64,
    /// Idempotent producer id, [`NO_PRODUCER_ID`] if none.
    pub producer_id: i64,
    /// Idempotent producer epoch, [`NO_PRODUCER_EPOCH`] if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, [`NO_SEQUENCE`] if none.
    pub base_sequence: i32,
}

impl Default for BatchMeta {
    fn default() -> Self {
        BatchMeta {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            attributes: 0,
            base_timestamp: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
        }
    }
}

/// Appends one whole RecordBatch v2 holding `records`, compressed with `compression`, to `out`.
/// `records_count` is the number of records, `last_offset_delta` the last record's offset
/// delta (give deltas 0, 1, 2, ... for a batch a broker accepts), `max_timestamp` the base plus
/// the largest timestamp delta; CRC and lengths are computed.
pub fn encode_batch(
    meta: &BatchMeta,
    records: &[Record],
    compression: Compression,
    out: &mut Vec<u8>,
) -> Result<(), RecordsError> {
    let Some(last) = records.last() else {
        return Err(RecordsError::Empty);
    };
    let records_count = i32::try_from(records.len()).map_err(|_| RecordsError::TooLong {
        what: "record list",
        bytes: records.len(),
    })?;
    let mut plain = Vec::new();
    encode_records(records, &mut plain)?;
    let region = if compression == Compression::None {
        plain
    } else {
        let mut compressed = Vec::with_capacity(plain.len() / 2 + 64);
        compression.compress(&plain, &mut compressed)?;
        compressed
    };
    let max_delta = records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0);
    let header = BatchHeader {
        base_offset: meta.base_offset,
        batch_length: 0,
        partition_leader_epoch: meta.partition_leader_epoch,
        magic: MAGIC_V2,
        crc: 0,
        attributes: (meta.attributes & !ATTR_COMPRESSION_MASK) | compression.attribute_bits(),
        last_offset_delta: last.offset_delta,
        base_timestamp: meta.base_timestamp,
        max_timestamp: meta.base_timestamp.saturating_add(max_delta),
        producer_id: meta.producer_id,
        producer_epoch: meta.producer_epoch,
        base_sequence: meta.base_sequence,
        records_count,
    };
    batch::write_batch(&header, &region, out).map_err(|_| RecordsError::TooLong {
        what: "batch records region",
        bytes: region.len(),
    })
}

/// Decodes the records of one whole batch whose header is `header` (parsed, and normally
/// CRC-checked by [`batch::validate_one`]): `batch` starts at the batch and holds at least
/// `header.size_bytes()` bytes. Decompresses at most `decompressed_bytes_max` bytes, then
/// decodes exactly `records_count` records. Uncompressed records are slices of `batch`.
pub fn decode_batch_records(
    batch: &Bytes,
    header: &BatchHeader,
    decompressed_bytes_max: usize,
) -> Result<Vec<Record>, RecordsError> {
    let size = header.size_bytes();
    if (batch.len() as u64) < size || size < RECORDS_AT as u64 {
        return Err(RecordsError::Truncated {
            needed_bytes: size,
            available_bytes: batch.len() as u64,
        });
    }
    let region = batch.slice(RECORDS_AT..size as usize);
    let compression = Compression::from_attributes(header.attributes)?;
    let plain = if compression == Compression::None {
        region
    } else {
        let mut out = Vec::new();
        compression.decompress(&region, &mut out, decompressed_bytes_max)?;
        Bytes::from(out)
    };
    decode_records(&plain, header.records_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{validate_one, ATTR_TRANSACTIONAL, HEADER_BYTES};

    use crate::runtime::rng::Rng;

    fn sample_records() -> Vec<Record> {
        vec![
            Record {
                offset_delta: 0,
                timestamp_delta: 0,
                key: Some(Bytes::from_static(b"k1")),
                value: Some(Bytes::from_static(b"hello")),
                headers: vec![
                    (Bytes::from_static(b"h1"), Some(Bytes::from_static(b"v1"))),
                    (Bytes::from_static(b"h2"), None),
                ],
            },
            Record {
                offset_delta: 1,
                timestamp_delta: -5,
                key: None,
                value: None,
                headers: vec![],
            },
            Record {
                offset_delta: 2,
                timestamp_delta: 1 << 40,
                key: Some(Bytes::new()),
                value: Some(Bytes::from(vec![7u8; 300])),
                headers: vec![(Bytes::new(), Some(Bytes::new()))],
            },
        ]
    }

    /// Mixed text-like bytes that compress but not trivially, longer than one xerial block and
    /// one LZ4 block.
    fn compressible(n: usize) -> Vec<u8> {
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
        let words: [&[u8]; 6] = [
            b"kafka ",
            b"ringlog ",
            b"batch ",
            b"record ",
            b"io_uring ",
            b"\n",
        ];
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.extend_from_slice(words[rng.below(words.len())]);
            if rng.below(8) == 0 {
                out.push(rng.next_u64() as u8);
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        for v in [0i32, 1, -1, 63, -64, 64, -65, 8191, i32::MAX, i32::MIN] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            let mut p = 0;
            assert_eq!(get_varint(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
        }
        for v in [0i64, 1, -1, i64::from(i32::MAX) + 1, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_len(v), "{v}");
            let mut p = 0;
            assert_eq!(get_varlong(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
        }
        // Known encodings: zigzag 1 -> 0x02, -1 -> 0x01, 64 -> 0x80 0x01.
        let mut b = Vec::new();
        put_varint(&mut b, 64);
        assert_eq!(b, [0x80, 0x01]);
        let mut p = 0;
        // 6-byte varint, a varint above 32 bits, an 11-byte varlong, a varlong above 64 bits,
        // and truncation: all None, position unchanged.
        for bad in [
            &[0x80u8, 0x80, 0x80, 0x80, 0x80, 0x00][..],
            &[0xff, 0xff, 0xff, 0xff, 0x1f],
            &[0x80],
            &[],
        ] {
            assert_eq!(get_varint(bad, &mut p), None, "{bad:?}");
            assert_eq!(p, 0);
        }
        assert_eq!(get_varlong(&[0x80; 11], &mut p), None);
        let mut over = [0xffu8; 10];
        over[9] = 0x02;
        assert_eq!(get_varlong(&over, &mut p), None);
        over[9] = 0x01;
        assert_eq!(get_varlong(&over, &mut p), Some(i64::MIN));
    }

    #[test]
    fn records_round_trip() {
        let records = sample_records();
        let mut plain = Vec::new();
        encode_records(&records, &mut plain).unwrap();
        let plain = Bytes::from(plain);
        assert_eq!(decode_records(&plain, 3).unwrap(), records);
        // A known encoding: record of value "a", no key, no headers, deltas 0.
        let mut one = Vec::new();
        Record {
            value: Some(Bytes::from_static(b"a")),
            ..Record::default()
        }
        .encode(&mut one)
        .unwrap();
        assert_eq!(one, [0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, b'a', 0x00]);
        // Decoded fields share the input buffer.
        let decoded = decode_records(&plain, 3).unwrap();
        let v = decoded[0].value.as_ref().unwrap();
        assert!(plain.as_ptr_range().contains(&v.as_ptr()));
    }

    #[test]
    fn records_count_and_lengths_are_checked() {
        let records = sample_records();
        let mut plain = Vec::new();
        encode_records(&records, &mut plain).unwrap();
        let plain = Bytes::from(plain);
        // Fewer records than bytes: trailing bytes. More: record 3 truncated.
        assert!(matches!(
            decode_records(&plain, 2),
            Err(RecordsError::TrailingBytes { count: 2, .. })
        ));
        let e = decode_records(&plain, 4).unwrap_err();
        assert!(e.to_string().starts_with("record 3 of 4: "), "{e}");
        assert!(matches!(
            decode_records(&plain, -1),
            Err(RecordsError::BadCount { count: -1 })
        ));
        // A hostile count with few bytes: an error after the real records, no huge allocation.
        let e = decode_records(&plain, i32::MAX).unwrap_err();
        assert!(e.to_string().starts_with("record 3 of 2147483647"), "{e}");
        // Hostile header count, key length, and a record longer than its fields.
        // Fields: length, attributes, timestamp delta, offset delta, key, value, header count.
        let hostile: [&[i64]; 4] = [
            &[8, 0, 0, 0, -1, -1, 1_000_000],
            &[8, 0, 0, 0, 1_000_000, -1, 0],
            &[6, 0, 0, 0, -2, -1, 0],
            &[8, 0, 0, 0, -1, -1, 0, 0, 0],
        ];
        for fields in hostile {
            let mut b = Vec::new();
            for &v in fields {
                put_varlong(&mut b, v);
            }
            assert!(decode_records(&Bytes::from(b), 1).is_err(), "{fields:?}");
        }
        // A null header key is invalid in Kafka.
        let mut b = Vec::new();
        for v in [8i64, 0, 0, 0, -1, -1, 1, -1, -1] {
            put_varlong(&mut b, v);
        }
        let e = decode_records(&Bytes::from(b), 1).unwrap_err();
        assert!(e.to_string().contains("null key"), "{e}");
    }

    #[test]
    fn truncated_and_random_records_never_panic() {
        let mut plain = Vec::new();
        encode_records(&sample_records(), &mut plain).unwrap();
        for cut in 0..plain.len() {
            let b = Bytes::copy_from_slice(&plain[..cut]);
            assert!(decode_records(&b, 3).is_err(), "cut {cut}");
        }
        let mut rng = Rng::new(42);
        for _ in 0..20_000 {
            let n = rng.below(64);
            let b = Bytes::from(rng.bytes(n));
            let count = match rng.below(4) {
                0 => rng.next_u64() as i32,
                _ => rng.below(8) as i32,
            };
            let _ = decode_records(&b, count);
        }
        // Single-byte damage of a valid region.
        for i in 0..plain.len() {
            let mut b = plain.clone();
            b[i] = rng.next_u64() as u8;
            let _ = decode_records(&Bytes::from(b), 3);
        }
    }

    #[test]
    fn every_codec_round_trips() {
        let inputs = [
            Vec::new(),
            b"x".to_vec(),
            compressible(1000),
            compressible(200_000),
            Rng::new(7).bytes(70_000),
        ];
        for c in Compression::ALL {
            for plain in &inputs {
                let mut z = Vec::new();
                c.compress(plain, &mut z).unwrap();
                let mut out = b"prefix".to_vec();
                c.decompress(&z, &mut out, plain.len()).unwrap();
                assert_eq!(&out[..6], b"prefix");
                assert_eq!(&out[6..], &plain[..], "{c} {}", plain.len());
                if plain.len() > 1000 && c != Compression::None && plain[0] == b"kafka"[0] {
                    assert!(z.len() < plain.len() / 2, "{c} compresses");
                }
                // One byte under the needed limit is an error, and leaves `out` untouched.
                if !plain.is_empty() {
                    let mut out = b"prefix".to_vec();
                    let e = c.decompress(&z, &mut out, plain.len() - 1).unwrap_err();
                    assert!(matches!(e, RecordsError::LimitExceeded { .. }), "{c}: {e}");
                    assert_eq!(out, b"prefix");
                }
            }
        }
    }

    #[test]
    fn codec_ids_and_names() {
        for (i, c) in Compression::ALL.into_iter().enumerate() {
            assert_eq!(c.attribute_bits(), i as i16);
            assert_eq!(
                Compression::from_attributes(i as i16 | ATTR_TRANSACTIONAL),
                Ok(c)
            );
            assert_eq!(Compression::from_name(c.name()), Some(c));
        }
        for codec in 5..=7 {
            assert_eq!(
                Compression::from_attributes(codec),
                Err(RecordsError::UnknownCodec { codec })
            );
        }
        assert_eq!(Compression::from_name("brotli"), None);
    }

    /// "abcabcabcabc" as one raw snappy block written by hand from the format description:
    /// uncompressed length 12, literal "abc" (tag (3-1)<<2), copy of 9 bytes at offset 3
    /// (1-byte-offset copy: tag 0b01 | (9-4)<<2, then offset 3).
    const RAW_SNAPPY: &[u8] = &[0x0c, 0x08, b'a', b'b', b'c', 0x15, 0x03];

    fn xerial(blocks: &[&[u8]]) -> Vec<u8> {
        let mut b = XERIAL_MAGIC.to_vec();
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        for block in blocks {
            b.extend_from_slice(&(block.len() as u32).to_be_bytes());
            b.extend_from_slice(block);
        }
        b
    }

    #[test]
    fn snappy_interop_xerial_and_raw() {
        let decode = |b: &[u8]| {
            let mut out = Vec::new();
            Compression::Snappy
                .decompress(b, &mut out, 1 << 20)
                .map(|()| out)
        };
        // Raw snappy, as some non-Java clients send it.
        assert_eq!(decode(RAW_SNAPPY).unwrap(), b"abcabcabcabc");
        // xerial framing, as the Java client sends it: one block, two blocks, and two
        // concatenated streams.
        assert_eq!(decode(&xerial(&[RAW_SNAPPY])).unwrap(), b"abcabcabcabc");
        assert_eq!(
            decode(&xerial(&[RAW_SNAPPY, RAW_SNAPPY])).unwrap(),
            b"abcabcabcabcabcabcabcabc"
        );
        let mut two = xerial(&[RAW_SNAPPY]);
        two.extend(xerial(&[RAW_SNAPPY]));
        assert_eq!(decode(&two).unwrap(), b"abcabcabcabcabcabcabcabc");
        // Header only: no data.
        assert_eq!(decode(&xerial(&[])).unwrap(), b"");
        // What we write is xerial-framed: header, then [u32 BE length][raw block] of at most
        // 32 KiB input each, every block decodable by a plain raw snappy decoder.
        let plain = compressible(XERIAL_BLOCK_BYTES * 2 + 10);
        let mut z = Vec::new();
        Compression::Snappy.compress(&plain, &mut z).unwrap();
        assert_eq!(&z[..8], XERIAL_MAGIC);
        assert_eq!(&z[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let mut pos = XERIAL_HEADER_BYTES;
        let mut blocks = Vec::new();
        while pos < z.len() {
            let n = u32::from_be_bytes(z[pos..pos + 4].try_into().unwrap()) as usize;
            let block = &z[pos + 4..pos + 4 + n];
            blocks.push(snap::raw::Decoder::new().decompress_vec(block).unwrap());
            pos += 4 + n;
        }
        assert_eq!(
            blocks.iter().map(Vec::len).collect::<Vec<_>>(),
            [XERIAL_BLOCK_BYTES, XERIAL_BLOCK_BYTES, 10]
        );
        assert_eq!(blocks.concat(), plain);
        // Damaged framing: truncated length, block past the end, bad block.
        let good = xerial(&[RAW_SNAPPY]);
        for bad in [
            &good[..good.len() - 1],
            &good[..XERIAL_HEADER_BYTES + 2],
            &xerial(&[&[0x0c, 0x08, b'a']])[..],
        ] {
            assert!(
                matches!(decode(bad), Err(RecordsError::Codec { .. })),
                "{bad:?}"
            );
        }
    }

    const HELLO: &[u8] = b"hello hello hello hello";

    #[test]
    fn lz4_frame_interop() {
        // Our frames carry the descriptor Kafka's Java client writes (LZ4 frame format, KIP-57).
        let mut z = Vec::new();
        Compression::Lz4.compress(HELLO, &mut z).unwrap();
        assert_eq!(&z[..4], &[0x04, 0x22, 0x4d, 0x18], "magic 0x184D2204 LE");
        assert_eq!(
            z[4], 0x60,
            "FLG: version 1, independent blocks, no checksums/size"
        );
        assert_eq!(z[5], 0x40, "BD: 64 KiB blocks");
        assert_eq!(z[6], 0x82, "header checksum: second byte of xxh32(FLG, BD)");
        assert_eq!(
            &z[z.len() - 4..],
            &[0, 0, 0, 0],
            "end mark, no content checksum"
        );
        // Frames of the reference lz4 tool (1.9.4), `lz4 -B4 -BI --no-frame-crc` and `lz4 -B4`
        // (FLG 0x64: with a content checksum): one compressed block of 15 bytes, end mark.
        let plain_frame: &[u8] = &[
            0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0x0f, 0x00, 0x00, 0x00, 0x68, 0x68, 0x65,
            0x6c, 0x6c, 0x6f, 0x20, 0x06, 0x00, 0x50, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00,
            0x00, 0x00,
        ];
        let checksummed: &[u8] = &[
            0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0x0f, 0x00, 0x00, 0x00, 0x68, 0x68, 0x65,
            0x6c, 0x6c, 0x6f, 0x20, 0x06, 0x00, 0x50, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00,
            0x00, 0x00, 0xf2, 0x6b, 0x94, 0x0b,
        ];
        for frame in [plain_frame, checksummed] {
            let mut out = Vec::new();
            Compression::Lz4
                .decompress(frame, &mut out, 1 << 20)
                .unwrap();
            assert_eq!(out, HELLO);
        }
        // A wrong header checksum (the pre-KIP-57 Kafka bug) and a wrong content checksum are
        // rejected.
        for at in [6, checksummed.len() - 1] {
            let mut broken = checksummed.to_vec();
            broken[at] ^= 0xff;
            assert!(
                Compression::Lz4
                    .decompress(&broken, &mut Vec::new(), 1 << 20)
                    .is_err(),
                "byte {at}"
            );
        }
    }

    #[test]
    fn gzip_and_zstd_reference_tool_output_decodes() {
        // Python's `gzip.compress(HELLO, mtime=0)` and `zstd -c` (1.5.4).
        let gzip: &[u8] = &[
            0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9,
            0xc9, 0x57, 0xc8, 0x40, 0x27, 0x01, 0xe3, 0x51, 0x3d, 0x8d, 0x17, 0x00, 0x00, 0x00,
        ];
        let zstd: &[u8] = &[
            0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x65, 0x00, 0x00, 0x30, 0x68, 0x65, 0x6c, 0x6c,
            0x6f, 0x20, 0x01, 0x00, 0x99, 0x4b, 0x11, 0x17, 0x5e, 0xae, 0x0d,
        ];
        for (c, z) in [(Compression::Gzip, gzip), (Compression::Zstd, zstd)] {
            let mut out = Vec::new();
            c.decompress(z, &mut out, 1 << 20).unwrap();
            assert_eq!(out, HELLO, "{c}");
            // Two concatenated members/frames decode as one stream.
            let twice = [z, z].concat();
            let mut out = Vec::new();
            c.decompress(&twice, &mut out, 1 << 20).unwrap();
            assert_eq!(out, [HELLO, HELLO].concat(), "{c}");
        }
    }

    #[test]
    fn decompression_bomb_is_an_error_within_the_limit() {
        const LIMIT: usize = 1 << 20;
        const BOMB: usize = 100_000_000;
        let zeros = vec![0u8; BOMB];
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut z = Vec::new();
            c.compress(&zeros, &mut z).unwrap();
            // Snappy's ratio stops near 21:1, the others go far beyond.
            assert!(z.len() < BOMB / 20, "{c}: {} bytes", z.len());
            let mut out = Vec::new();
            let e = c.decompress(&z, &mut out, LIMIT).unwrap_err();
            assert_eq!(
                e,
                RecordsError::LimitExceeded {
                    codec: c,
                    limit_bytes: LIMIT
                },
                "{c}"
            );
            assert!(out.is_empty());
            assert!(out.capacity() <= LIMIT, "{c}: grew to {}", out.capacity());
        }
        // A raw snappy block declaring 100 MB is refused from its header alone.
        let mut raw = Vec::new();
        put_unsigned(&mut raw, BOMB as u64);
        raw.extend_from_slice(&[0x00, 0x00]);
        let mut out = Vec::new();
        assert!(matches!(
            Compression::Snappy.decompress(&raw, &mut out, LIMIT),
            Err(RecordsError::LimitExceeded { .. })
        ));
        assert_eq!(out.capacity(), 0);
        // Uncompressed bytes count against the limit too.
        assert!(Compression::None
            .decompress(&[0u8; 10], &mut Vec::new(), 9)
            .is_err());
    }

    #[test]
    fn kept_decoders_give_the_same_results_and_recover_after_errors() {
        let plain = compressible(100_000);
        let mut decoders = Decoders::default();
        for c in Compression::ALL {
            let mut z = Vec::new();
            c.compress(&plain, &mut z).unwrap();
            for _ in 0..3 {
                let mut out = b"prefix".to_vec();
                c.decompress_with(&z, &mut out, plain.len(), &mut decoders)
                    .unwrap();
                assert_eq!(&out[6..], &plain[..], "{c}");
                // Truncated input fails, leaves `out` as it was, and the next call decodes.
                let mut out = b"prefix".to_vec();
                let cut = &z[..z.len() / 2];
                let truncated = c.decompress_with(cut, &mut out, plain.len(), &mut decoders);
                assert_eq!(truncated.is_err(), c != Compression::None, "{c}");
                if truncated.is_err() {
                    assert_eq!(out, b"prefix", "{c}");
                }
                out.truncate(6);
                // One byte under the needed limit is an error.
                let e = c
                    .decompress_with(&z, &mut out, plain.len() - 1, &mut decoders)
                    .unwrap_err();
                assert!(matches!(e, RecordsError::LimitExceeded { .. }), "{c}: {e}");
                assert_eq!(out, b"prefix", "{c}");
            }
        }
        assert!(decoders.held_bytes() > 0, "the zstd context is kept");
        decoders.trim(decoders.held_bytes());
        assert!(decoders.held_bytes() > 0);
        decoders.trim(0);
        assert_eq!(decoders.held_bytes(), 0);
    }

    #[test]
    fn random_and_damaged_compressed_bytes_never_panic() {
        let mut rng = Rng::new(0xdead_beef);
        let plain = compressible(5000);
        for c in Compression::ALL {
            let mut z = Vec::new();
            c.compress(&plain, &mut z).unwrap();
            for _ in 0..300 {
                let mut bad = z.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bad.len());
                    bad[i] = rng.next_u64() as u8;
                }
                bad.truncate(rng.below(bad.len() + 1));
                let mut out = Vec::new();
                let _ = c.decompress(&bad, &mut out, 1 << 16);
                assert!(out.len() <= 1 << 16);
            }
            for _ in 0..300 {
                let n = rng.below(100);
                let mut b = rng.bytes(n);
                // Also random bytes behind a valid-looking header.
                if rng.below(2) == 0 {
                    let keep = rng.below(z.len().min(20) + 1);
                    b.splice(0..0, z[..keep].iter().copied());
                }
                let _ = c.decompress(&b, &mut Vec::new(), 1 << 16);
            }
        }
    }

    #[test]
    fn whole_batches_round_trip_for_every_codec() {
        let records = sample_records();
        for c in Compression::ALL {
            let meta = BatchMeta {
                base_offset: 100,
                base_timestamp: 1_700_000_000_000,
                producer_id: 9,
                producer_epoch: 2,
                base_sequence: 40,
                attributes: ATTR_TRANSACTIONAL | 0x07,
                ..BatchMeta::default()
            };
            let mut out = Vec::new();
            encode_batch(&meta, &records, c, &mut out).unwrap();
            let h = validate_one(&out, u64::MAX).unwrap();
            assert_eq!(h.size_bytes(), out.len() as u64);
            assert_eq!(h.records_count, 3);
            assert_eq!(h.last_offset_delta, 2);
            assert_eq!(h.compression_bits(), c.attribute_bits(), "{c}");
            assert!(h.is_transactional());
            assert_eq!(h.max_timestamp, 1_700_000_000_000 + (1 << 40));
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (9, 2, 40)
            );
            assert_eq!(batch::peek_producer_id(&out), Some(9));
            let bytes = Bytes::from(out);
            assert_eq!(decode_batch_records(&bytes, &h, 1 << 20).unwrap(), records);
            // Truncated batch bytes and a tight limit are errors.
            assert!(decode_batch_records(&bytes.slice(..bytes.len() - 1), &h, 1 << 20).is_err());
            if c != Compression::None {
                assert!(matches!(
                    decode_batch_records(&bytes, &h, 10),
                    Err(RecordsError::LimitExceeded { .. })
                ));
            }
        }
        assert_eq!(
            encode_batch(
                &BatchMeta::default(),
                &[],
                Compression::None,
                &mut Vec::new()
            ),
            Err(RecordsError::Empty)
        );
        // Unknown codec bits in a batch header.
        let mut out = Vec::new();
        encode_batch(&BatchMeta::default(), &records, Compression::None, &mut out).unwrap();
        let mut h = BatchHeader::parse(&out).unwrap();
        h.attributes |= 6;
        assert_eq!(
            decode_batch_records(&Bytes::from(out), &h, 1 << 20),
            Err(RecordsError::UnknownCodec { codec: 6 })
        );
        assert_eq!(HEADER_BYTES, RECORDS_AT);
    }
}
