//! The Kafka wire's primitive types and the bounded reader every message decoder is built on.
//!
//! Messages are defined declaratively in [`super::messages`] with the [`crate::wire_struct!`]
//! and [`crate::api_message!`] macros of [`super::schema`]; the code those macros generate calls
//! only the [`Wire`] implementations in this file. So every allocation a decoder can make is one
//! of the few below, and each is checked against the bytes that remain in the frame first.
//!
//! Encodings (Kafka protocol guide, "Protocol Primitive Types"):
//!
//! ```text
//!  type            classic (non-flexible) versions     flexible versions
//!  int8..int64     fixed width, big-endian              same
//!  uint16, uint32  fixed width, big-endian              same
//!  float64         IEEE 754, big-endian                 same
//!  uuid            16 bytes                             same
//!  string          i16 length (-1 = null) + UTF-8       uvarint length+1 (0 = null) + UTF-8
//!  bytes/records   i32 length (-1 = null) + bytes       uvarint length+1 (0 = null) + bytes
//!  array           i32 count (-1 = null) + elements     uvarint count+1 (0 = null) + elements
//!  nullable struct i8 marker (-1 = null, 1 = present) + the struct's fields (both)
//!  tagged fields   (none)                               uvarint count, then per field in
//!                                                        ascending tag order: uvarint tag,
//!                                                        uvarint size, size bytes
//! ```
//!
//! # Invariants
//! - No decoder panics on any input: every read is bounds-checked and reports [`WireError`].
//! - A length or count is checked against the bytes left before anything is allocated: a string
//!   or bytes field may not be longer than the rest of the frame, an array may not announce more
//!   elements than bytes remain (every element of every Kafka array takes at least one byte, as
//!   Kafka's own generated code assumes), and at most [`ARRAY_PREALLOC_MAX`] elements are
//!   reserved up front. Decoded memory therefore grows only with bytes actually parsed.
//! - Bytes and string fields are slices of the received frame ([`Bytes`]), never copies.
//! - Nesting depth is fixed by the message definitions (no recursive types), so there is no
//!   recursion the input can deepen.

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

/// A UTF-8 string that shares the received frame's memory (checked once, when decoded).
pub type Str = bytestring::ByteString;

/// At most this many array elements are reserved before they are decoded: a count is a promise
/// from the peer, the bytes are the proof. 1,024 covers every real request's arrays at once
/// (a Metadata for 1,000 topics) and bounds a lying count's reservation to a few tens of KiB.
pub const ARRAY_PREALLOC_MAX: usize = 1024;

/// The marker byte before a nullable struct (see [`crate::nullable_struct!`]): null.
pub const NULL_STRUCT_MARKER: i8 = -1;
/// The marker byte before a nullable struct: a struct follows.
pub const PRESENT_STRUCT_MARKER: i8 = 1;

/// Why bytes do not decode as the message they claim to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError {
    /// What was wrong, in a few words.
    pub reason: &'static str,
    /// Byte offset in the decoded buffer where it was found.
    pub offset: usize,
}

impl std::fmt::Display for WireError {
    #[inline]
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for WireError {}

/// An inclusive range of message versions, written as in Kafka's message schemas: `"3+"`,
/// `"0-12"`, `"none"`. Parsed at compile time by the message macros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

impl VersionRange {
    /// No version at all (`"none"`): the field or flag never applies.
    pub const NONE: VersionRange = VersionRange { min: 1, max: 0 };

    /// Parses `"N+"`, `"N-M"`, `"N"` or `"none"`; anything else fails to compile (const panic).
    pub const fn parse(s: &str) -> VersionRange {
        let b = s.as_bytes();
        if b.len() == 4 && b[0] == b'n' && b[1] == b'o' && b[2] == b'n' && b[3] == b'e' {
            return VersionRange::NONE;
        }
        let mut i = 0;
        let mut min: i32 = 0;
        let mut digits = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            min = min * 10 + (b[i] - b'0') as i32;
            i += 1;
            digits += 1;
        }
        assert!(
            digits > 0 && min <= i16::MAX as i32,
            "version range must start with a number"
        );
        if i == b.len() {
            return VersionRange {
                min: min as i16,
                max: min as i16,
            };
        }
        if b[i] == b'+' {
            assert!(
                i + 1 == b.len(),
                "nothing may follow '+' in a version range"
            );
            return VersionRange {
                min: min as i16,
                max: i16::MAX,
            };
        }
        assert!(b[i] == b'-', "version range is N+, N-M, N or none");
        i += 1;
        let mut max: i32 = 0;
        digits = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            max = max * 10 + (b[i] - b'0') as i32;
            i += 1;
            digits += 1;
        }
        assert!(
            digits > 0 && i == b.len(),
            "version range is N+, N-M, N or none"
        );
        assert!(
            max >= min && max <= i16::MAX as i32,
            "version range N-M needs N <= M"
        );
        VersionRange {
            min: min as i16,
            max: max as i16,
        }
    }

    pub const fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// What a field's encoding depends on: the message version, whether that version is flexible
/// (compact lengths, tagged fields), and whether the field may be null at that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cx {
    pub version: i16,
    pub flexible: bool,
    pub nullable: bool,
}

impl Cx {
    /// The context of one field of a struct decoded under `self`.
    pub const fn field(self, nullable: bool) -> Cx {
        Cx {
            version: self.version,
            flexible: self.flexible,
            nullable,
        }
    }
}

/// A bounds-checked cursor over a received frame. Slices it hands out share the frame's memory.
pub struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    #[inline]
    pub fn new(buf: Bytes) -> Reader {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes read so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// What is left, as a slice of the frame (consumes nothing).
    #[inline]
    pub fn rest(&self) -> Bytes {
        self.buf.slice(self.pos..)
    }

    #[inline]
    pub fn error(&self, reason: &'static str) -> WireError {
        WireError {
            reason,
            offset: self.pos,
        }
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        if self.remaining() < N {
            return Err(self.error("value runs past the end of the frame"));
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        Ok(out)
    }

    /// The next `n` bytes as a slice of the frame.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<Bytes, WireError> {
        if self.remaining() < n {
            return Err(self.error("length runs past the end of the frame"));
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    #[inline]
    pub fn skip(&mut self, n: usize) -> Result<(), WireError> {
        if self.remaining() < n {
            return Err(self.error("length runs past the end of the frame"));
        }
        self.pos += n;
        Ok(())
    }

    #[inline]
    pub fn i8(&mut self) -> Result<i8, WireError> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn i16(&mut self) -> Result<i16, WireError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn i32(&mut self) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// An unsigned LEB128 varint of at most 5 bytes (Kafka's `UNSIGNED_VARINT`).
    #[inline]
    pub fn uvarint(&mut self) -> Result<u32, WireError> {
        // Fast path: compact lengths and counts below 128 (nearly all of them) are one byte.
        if let Some(&byte) = self.buf.get(self.pos) {
            if byte < 0x80 {
                self.pos += 1;
                return Ok(u32::from(byte));
            }
        }
        self.uvarint_multibyte()
    }

    #[cold]
    fn uvarint_multibyte(&mut self) -> Result<u32, WireError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let [byte] = self.array::<1>()?;
            if i == 4 && byte > 0x0f {
                return Err(self.error("varint does not fit in 32 bits"));
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 5 bytes"))
    }

    /// A zig-zag varint of at most 5 bytes (Kafka's `VARINT`).
    #[inline]
    pub fn varint(&mut self) -> Result<i32, WireError> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// A zig-zag varint of at most 10 bytes (Kafka's `VARLONG`).
    #[inline]
    pub fn varlong(&mut self) -> Result<i64, WireError> {
        let mut raw: u64 = 0;
        for i in 0..10 {
            let [byte] = self.array::<1>()?;
            if i == 9 && byte > 0x01 {
                return Err(self.error("varlong does not fit in 64 bits"));
            }
            raw |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
            }
        }
        Err(self.error("varlong longer than 10 bytes"))
    }

    /// A length or count prefix: `None` for null. `classic_i16` picks the i16 prefix of classic
    /// strings over the i32 of bytes and arrays. Null is an error where the field is not nullable,
    /// and a length beyond the bytes left is always one (see the module invariants).
    #[inline]
    fn length(&mut self, cx: Cx, classic_i16: bool) -> Result<Option<usize>, WireError> {
        let len: i64 = if cx.flexible {
            i64::from(self.uvarint()?) - 1
        } else if classic_i16 {
            i64::from(self.i16()?)
        } else {
            i64::from(self.i32()?)
        };
        if len == -1 {
            return if cx.nullable {
                Ok(None)
            } else {
                Err(self.error("null in a non-nullable field"))
            };
        }
        if len < 0 {
            return Err(self.error("negative length"));
        }
        let len = len as usize;
        if len > self.remaining() {
            return Err(self.error("length or count exceeds the bytes left in the frame"));
        }
        Ok(Some(len))
    }
}

/// Appends a Kafka unsigned varint.
#[inline]
pub fn put_uvarint(w: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        w.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    w.put_u8(value as u8);
}

/// Appends a Kafka zig-zag varint.
#[inline]
pub fn put_varint(w: &mut BytesMut, value: i32) {
    put_uvarint(w, ((value << 1) ^ (value >> 31)) as u32);
}

/// Appends a Kafka zig-zag varlong.
#[inline]
pub fn put_varlong(w: &mut BytesMut, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        w.put_u8((raw as u8) | 0x80);
        raw >>= 7;
    }
    w.put_u8(raw as u8);
}

/// Bytes a Kafka unsigned varint of `value` takes.
#[inline]
pub fn uvarint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Appends a length or count prefix; `None` writes null. See [`Reader::length`].
#[inline]
fn put_length(w: &mut BytesMut, cx: Cx, classic_i16: bool, len: Option<usize>) {
    match (cx.flexible, len) {
        (true, None) => put_uvarint(w, 0),
        (true, Some(n)) => put_uvarint(w, u32::try_from(n + 1).unwrap_or(u32::MAX)),
        (false, None) if classic_i16 => w.put_i16(-1),
        (false, None) => w.put_i32(-1),
        (false, Some(n)) if classic_i16 => w.put_i16(i16::try_from(n).unwrap_or(i16::MAX)),
        (false, Some(n)) => w.put_i32(i32::try_from(n).unwrap_or(i32::MAX)),
    }
}

/// A value with a Kafka wire encoding. Implemented here for the primitive types and by the
/// message macros for every defined struct.
pub trait Wire: Sized {
    fn read(r: &mut Reader, cx: Cx) -> Result<Self, WireError>;
    fn write(&self, w: &mut BytesMut, cx: Cx);
}

macro_rules! fixed_width {
    ($($t:ty => $read:ident, $put:ident;)*) => {$(
        impl Wire for $t {
            #[inline]
            fn read(r: &mut Reader, _cx: Cx) -> Result<Self, WireError> {
                r.$read()
            }
            #[inline]
            fn write(&self, w: &mut BytesMut, _cx: Cx) {
                w.$put(*self);
            }
        }
    )*};
}

fixed_width! {
    i8 => i8, put_i8;
    i16 => i16, put_i16;
    i32 => i32, put_i32;
    i64 => i64, put_i64;
}

impl Wire for u16 {
    #[inline]
    fn read(r: &mut Reader, _cx: Cx) -> Result<Self, WireError> {
        Ok(u16::from_be_bytes(r.array()?))
    }
    #[inline]
    fn write(&self, w: &mut BytesMut, _cx: Cx) {
        w.put_u16(*self);
    }
}

impl Wire for u32 {
    #[inline]
    fn read(r: &mut Reader, _cx: Cx) -> Result<Self, WireError> {
        Ok(u32::from_be_bytes(r.array()?))
    }
    #[inline]
    fn write(&self, w: &mut BytesMut, _cx: Cx) {
        w.put_u32(*self);
    }
}

impl Wire for f64 {
    #[inline]
    fn read(r: &mut Reader, _cx: Cx) -> Result<Self, WireError> {
        Ok(f64::from_be_bytes(r.array()?))
    }
    #[inline]
    fn write(&self, w: &mut BytesMut, _cx: Cx) {
        w.put_f64(*self);
    }
}

impl Wire for bool {
    #[inline]
    fn read(r: &mut Reader, _cx: Cx) -> Result<Self, WireError> {
        Ok(r.array::<1>()?[0] != 0)
    }
    #[inline]
    fn write(&self, w: &mut BytesMut, _cx: Cx) {
        w.put_u8(u8::from(*self));
    }
}

impl Wire for Uuid {
    #[inline]
    fn read(r: &mut Reader, _cx: Cx) -> Result<Self, WireError> {
        Ok(Uuid::from_bytes(r.array()?))
    }
    #[inline]
    fn write(&self, w: &mut BytesMut, _cx: Cx) {
        w.put_slice(self.as_bytes());
    }
}

/// Strings, bytes and arrays: a length prefix, then the content. `Option<T>` of one of them is
/// the nullable form.
pub trait LengthPrefixed: Sized {
    /// Strings use an i16 prefix in classic versions, bytes and arrays an i32.
    const CLASSIC_I16: bool;
    /// Decodes the content after a prefix of `len` (already checked against the bytes left).
    fn read_content(r: &mut Reader, cx: Cx, len: usize) -> Result<Self, WireError>;
    /// The count or byte length the prefix announces.
    fn content_len(&self) -> usize;
    fn write_content(&self, w: &mut BytesMut, cx: Cx);
}

impl LengthPrefixed for Str {
    const CLASSIC_I16: bool = true;
    #[inline]
    fn read_content(r: &mut Reader, _cx: Cx, len: usize) -> Result<Self, WireError> {
        let at = r.position();
        let bytes = r.take(len)?;
        Str::try_from(bytes).map_err(|_| WireError {
            reason: "string is not valid UTF-8",
            offset: at,
        })
    }
    #[inline]
    fn content_len(&self) -> usize {
        self.len()
    }
    #[inline]
    fn write_content(&self, w: &mut BytesMut, _cx: Cx) {
        w.put_slice(self.as_bytes());
    }
}

impl LengthPrefixed for Bytes {
    const CLASSIC_I16: bool = false;
    #[inline]
    fn read_content(r: &mut Reader, _cx: Cx, len: usize) -> Result<Self, WireError> {
        r.take(len)
    }
    #[inline]
    fn content_len(&self) -> usize {
        self.len()
    }
    #[inline]
    fn write_content(&self, w: &mut BytesMut, _cx: Cx) {
        w.put_slice(self);
    }
}

impl<T: Wire> LengthPrefixed for Vec<T> {
    const CLASSIC_I16: bool = false;
    #[inline]
    fn read_content(r: &mut Reader, cx: Cx, count: usize) -> Result<Self, WireError> {
        let element = cx.field(false);
        let mut out = Vec::with_capacity(count.min(ARRAY_PREALLOC_MAX));
        for _ in 0..count {
            out.push(T::read(r, element)?);
        }
        Ok(out)
    }
    #[inline]
    fn content_len(&self) -> usize {
        self.len()
    }
    #[inline]
    fn write_content(&self, w: &mut BytesMut, cx: Cx) {
        let element = cx.field(false);
        for item in self {
            item.write(w, element);
        }
    }
}

macro_rules! length_prefixed_wire {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            #[inline]
            fn read(r: &mut Reader, cx: Cx) -> Result<Self, WireError> {
                match r.length(cx.field(false), <$t as LengthPrefixed>::CLASSIC_I16)? {
                    Some(len) => <$t as LengthPrefixed>::read_content(r, cx, len),
                    None => Err(r.error("null in a non-nullable field")),
                }
            }
            #[inline]
            fn write(&self, w: &mut BytesMut, cx: Cx) {
                put_length(w, cx, <$t as LengthPrefixed>::CLASSIC_I16, Some(self.content_len()));
                self.write_content(w, cx);
            }
        }
    )*};
}

length_prefixed_wire!(Str, Bytes);

impl<T: Wire> Wire for Vec<T> {
    #[inline]
    fn read(r: &mut Reader, cx: Cx) -> Result<Self, WireError> {
        match r.length(cx.field(false), false)? {
            Some(count) => <Self as LengthPrefixed>::read_content(r, cx, count),
            None => Err(r.error("null in a non-nullable field")),
        }
    }
    #[inline]
    fn write(&self, w: &mut BytesMut, cx: Cx) {
        put_length(w, cx, false, Some(self.len()));
        self.write_content(w, cx);
    }
}

/// The nullable form of a string, bytes or array field. Where the field is not nullable at the
/// message's version, null on the wire is an error and `None` encodes as empty.
impl<T: LengthPrefixed> Wire for Option<T> {
    #[inline]
    fn read(r: &mut Reader, cx: Cx) -> Result<Self, WireError> {
        match r.length(cx, T::CLASSIC_I16)? {
            Some(len) => Ok(Some(T::read_content(r, cx, len)?)),
            None => Ok(None),
        }
    }
    #[inline]
    fn write(&self, w: &mut BytesMut, cx: Cx) {
        match self {
            Some(value) => {
                put_length(w, cx, T::CLASSIC_I16, Some(value.content_len()));
                value.write_content(w, cx);
            }
            None if cx.nullable => put_length(w, cx, T::CLASSIC_I16, None),
            None => put_length(w, cx, T::CLASSIC_I16, Some(0)),
        }
    }
}

/// Reads the tagged-field section's header: the number of fields, checked like an array count.
#[inline]
pub fn read_tag_count(r: &mut Reader) -> Result<u32, WireError> {
    let count = r.uvarint()?;
    if count as usize > r.remaining() {
        return Err(r.error("tagged field count exceeds the bytes left in the frame"));
    }
    Ok(count)
}

/// Reads one tagged field's tag and size and returns a reader over exactly its bytes.
#[inline]
pub fn read_tagged_field(r: &mut Reader) -> Result<(u32, Reader), WireError> {
    let tag = r.uvarint()?;
    let size = r.uvarint()? as usize;
    let body = r.take(size)?;
    Ok((tag, Reader::new(body)))
}

/// Appends one tagged field: tag, size, then the field encoded into `scratch` (cleared first).
#[inline]
pub fn put_tagged_field<T: Wire>(w: &mut BytesMut, tag: u32, value: &T, cx: Cx) {
    let mut scratch = BytesMut::new();
    value.write(&mut scratch, cx);
    put_uvarint(w, tag);
    put_uvarint(w, u32::try_from(scratch.len()).unwrap_or(u32::MAX));
    w.put_slice(&scratch);
}

/// `value == default`, with the default's type taken from the value (no inference puzzles for
/// types that compare with several others).
#[inline]
pub fn is_default<T: PartialEq>(value: &T, default: T) -> bool {
    *value == default
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(flexible: bool, nullable: bool) -> Cx {
        Cx {
            version: 0,
            flexible,
            nullable,
        }
    }

    #[test]
    fn version_ranges_parse_like_kafka_schemas() {
        assert_eq!(
            VersionRange::parse("3+"),
            VersionRange {
                min: 3,
                max: i16::MAX
            }
        );
        assert_eq!(
            VersionRange::parse("0-12"),
            VersionRange { min: 0, max: 12 }
        );
        assert_eq!(VersionRange::parse("7"), VersionRange { min: 7, max: 7 });
        assert!(!VersionRange::parse("none").contains(0));
        assert!(VersionRange::parse("4-6").contains(6) && !VersionRange::parse("4-6").contains(7));
    }

    #[test]
    fn varints_round_trip_at_their_edges() {
        for v in [0i32, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut w = BytesMut::new();
            put_varint(&mut w, v);
            assert_eq!(Reader::new(w.freeze()).varint().unwrap(), v);
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut w = BytesMut::new();
            put_varlong(&mut w, v);
            assert_eq!(Reader::new(w.freeze()).varlong().unwrap(), v);
        }
        for v in [0u32, 0x7f, 0x80, 0x3fff, 0x4000, u32::MAX] {
            let mut w = BytesMut::new();
            put_uvarint(&mut w, v);
            assert_eq!(w.len(), uvarint_len(v));
            assert_eq!(Reader::new(w.freeze()).uvarint().unwrap(), v);
        }
        // Six continuation bytes, or a fifth byte with bits beyond 32: refused, not wrapped.
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
        assert!(r.uvarint().is_err());
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x1f]));
        assert!(r.uvarint().is_err());
    }

    #[test]
    fn huge_counts_and_lengths_are_errors_not_allocations() {
        // Classic array count i32::MAX with 3 bytes left.
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0]));
        assert!(Vec::<i32>::read(&mut r, cx(false, false)).is_err());
        // Compact array count 2^31 - 2 (uvarint 2^31 - 1).
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x07, 0]));
        assert!(Vec::<i32>::read(&mut r, cx(true, false)).is_err());
        // String length 2^15 - 1 with 3 bytes left.
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, b'a', b'b', b'c']));
        assert!(Str::read(&mut r, cx(false, false)).is_err());
        // Bytes length 2^31 - 1.
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 1]));
        assert!(Option::<Bytes>::read(&mut r, cx(false, true)).is_err());
        // Tagged field count 2^31 - 1.
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x07]));
        assert!(read_tag_count(&mut r).is_err());
    }

    #[test]
    fn null_only_where_nullable() {
        let null = Bytes::from_static(&[0xff, 0xff]);
        assert_eq!(
            Option::<Str>::read(&mut Reader::new(null.clone()), cx(false, true)),
            Ok(None)
        );
        assert!(Option::<Str>::read(&mut Reader::new(null.clone()), cx(false, false)).is_err());
        assert!(Str::read(&mut Reader::new(null), cx(false, true)).is_err());
        let mut w = BytesMut::new();
        None::<Str>.write(&mut w, cx(true, true));
        assert_eq!(&w[..], &[0]);
    }

    #[test]
    fn strings_must_be_utf8_and_share_the_frame() {
        let frame = Bytes::from_static(&[0, 2, 0xc3, 0x28]);
        assert!(Str::read(&mut Reader::new(frame), cx(false, false)).is_err());
        let frame = Bytes::from_static(&[3, b'a', b'b']);
        let s = Str::read(&mut Reader::new(frame.clone()), cx(true, false)).unwrap();
        assert_eq!(&*s, "ab");
        assert_eq!(s.as_bytes().as_ptr(), frame[1..].as_ptr());
    }
}
