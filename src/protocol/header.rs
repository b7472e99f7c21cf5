//! Request header decoding and response header encoding.
//!
//! Request header v1 (requests with non-flexible bodies), all integers big-endian:
//!
//! ```text
//!  0         2             4                8               10             10+n
//!  +---------+-------------+----------------+---------------+--------------+
//!  | api_key | api_version | correlation_id | client_id len | client_id    |
//!  | i16     | i16         | i32            | i16 (-1=null) | n bytes UTF-8|
//!  +---------+-------------+----------------+---------------+--------------+
//! ```
//!
//! Request header v2 (flexible bodies) is v1 followed by tagged fields. `client_id` stays a
//! non-compact nullable string in v2 (KIP-482 kept it for ApiVersions compatibility):
//!
//! ```text
//!  +-----------+---------------------+-------------------------------------------+
//!  | v1 header | tag count: uvarint  | per field: tag uvarint, size uvarint,     |
//!  |           |                     |            `size` bytes                   |
//!  +-----------+---------------------+-------------------------------------------+
//! ```
//!
//! Response header v0 is `correlation_id: i32`; v1 (flexible responses) appends the tag count
//! uvarint, which ringlog always writes as 0. The ApiVersions response header is always v0, even for
//! flexible ApiVersions v3+, so a client can read the reply before it knows what the broker speaks.
//!
//! Which header version goes with which (api_key, api_version) comes from kafka-protocol's
//! generated tables (`ApiKey::request_header_version`, `ApiKey::response_header_version`).
//!
//! # Invariants
//! - The api key is checked against [`super::versions::SUPPORTED_APIS`] and the version against its
//!   range from the fixed 8 bytes alone, so an unknown key or unsupported version is reported with
//!   its correlation id even if the rest of the header is garbage.
//! - Header tagged fields are skipped, never stored: no allocation driven by their count or size.
//! - Every read is bounds-checked; malformed input is an error, never a panic.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;

use super::versions;
use super::DecodeError;

/// Bytes of api_key + api_version + correlation_id, present in every request header version.
pub const REQUEST_HEADER_FIXED_BYTES: usize = 8;
/// Response header v0: correlation_id only.
pub const RESPONSE_HEADER_V0_BYTES: usize = 4;

/// A decoded request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    /// `None` when the client sent a null client id.
    pub client_id: Option<StrBytes>,
}

impl RequestHeader {
    /// Response header version for this request (0 or 1).
    pub fn response_header_version(&self) -> i16 {
        response_header_version(self.api_key, self.api_version)
    }
}

/// Request header version (1 or 2) for `api_key` at `api_version`.
pub fn request_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    api_key.request_header_version(api_version)
}

/// Response header version (0 or 1) for `api_key` at `api_version`; always 0 for ApiVersions.
pub fn response_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if api_key == ApiKey::ApiVersions {
        return 0;
    }
    api_key.response_header_version(api_version)
}

/// Writes a response header: `correlation_id`, then for v1 a zero tag count.
pub fn encode_response_header(correlation_id: i32, header_version: i16, out: &mut BytesMut) {
    out.put_i32(correlation_id);
    if header_version >= 1 {
        out.put_u8(0); // uvarint 0: no tagged fields
    }
}

/// Decodes the request header from the front of `body`, leaving `body` at the request body.
pub(crate) fn decode_request_header(body: &mut Bytes) -> Result<RequestHeader, DecodeError> {
    if body.len() < REQUEST_HEADER_FIXED_BYTES {
        return Err(DecodeError::HeaderTooShort {
            frame_body_bytes: body.len(),
        });
    }
    let raw_api_key = body.get_i16();
    let api_version = body.get_i16();
    let correlation_id = body.get_i32();
    let Some(range) = versions::supported_range(raw_api_key) else {
        return Err(DecodeError::UnknownApiKey {
            api_key: raw_api_key,
            api_version,
            correlation_id,
        });
    };
    let api_key = range.api_key;
    if !range.contains(api_version) {
        return Err(DecodeError::UnsupportedVersion {
            api_key,
            api_version,
            correlation_id,
        });
    }
    let malformed = |reason: String| DecodeError::Malformed {
        api_key,
        api_version,
        correlation_id,
        reason,
    };
    let client_id =
        decode_nullable_string(body).map_err(|r| malformed(format!("client_id: {r}")))?;
    if request_header_version(api_key, api_version) >= 2 {
        skip_tagged_fields(body).map_err(|r| malformed(format!("header tagged fields: {r}")))?;
    }
    Ok(RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id,
    })
}

fn decode_nullable_string(buf: &mut Bytes) -> Result<Option<StrBytes>, String> {
    if buf.len() < 2 {
        return Err("truncated length".into());
    }
    let len = buf.get_i16();
    if len == -1 {
        return Ok(None);
    }
    let Ok(len) = usize::try_from(len) else {
        return Err(format!("negative length {len}"));
    };
    if buf.len() < len {
        return Err(format!("length {len} but {} bytes left", buf.len()));
    }
    StrBytes::from_utf8(buf.split_to(len))
        .map(Some)
        .map_err(|e| format!("not UTF-8: {e}"))
}

/// Reads an unsigned varint (at most 5 bytes, value must fit u32).
pub(crate) fn get_uvarint(buf: &mut Bytes) -> Result<u32, String> {
    let mut value: u32 = 0;
    for i in 0..5 {
        if buf.is_empty() {
            return Err("truncated varint".into());
        }
        let b = buf.get_u8();
        if i == 4 && b > 0x0f {
            return Err("varint overflows u32".into());
        }
        value |= u32::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err("varint longer than 5 bytes".into())
}

fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), String> {
    let count = get_uvarint(buf)?;
    // Each field costs at least 2 bytes (tag, size), so the loop is bounded by the frame length.
    for _ in 0..count {
        let _tag = get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        if buf.len() < size {
            return Err(format!(
                "tagged field of {size} bytes but {} left",
                buf.len()
            ));
        }
        buf.advance(size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_header_versions() {
        for v in 0..=4 {
            assert_eq!(response_header_version(ApiKey::ApiVersions, v), 0);
        }
        assert_eq!(response_header_version(ApiKey::Fetch, 11), 0);
        assert_eq!(response_header_version(ApiKey::Fetch, 12), 1);
        assert_eq!(response_header_version(ApiKey::Produce, 8), 0);
        assert_eq!(response_header_version(ApiKey::Produce, 9), 1);
        assert_eq!(response_header_version(ApiKey::Metadata, 9), 1);
        assert_eq!(request_header_version(ApiKey::ApiVersions, 2), 1);
        assert_eq!(request_header_version(ApiKey::ApiVersions, 3), 2);
    }

    #[test]
    fn encode_header_v0_v1() {
        let mut out = BytesMut::new();
        encode_response_header(0x01020304, 0, &mut out);
        assert_eq!(&out[..], &[1, 2, 3, 4]);
        out.clear();
        encode_response_header(-1, 1, &mut out);
        assert_eq!(&out[..], &[0xff, 0xff, 0xff, 0xff, 0]);
    }

    #[test]
    fn header_v2_with_unknown_tagged_fields_and_null_client_id() {
        // Metadata v12 (header v2), correlation 9, client_id null, two tagged fields.
        let mut b = BytesMut::new();
        b.put_i16(3);
        b.put_i16(12);
        b.put_i32(9);
        b.put_i16(-1);
        b.put_slice(&[2, 0, 1, 0xaa, 5, 2, 0xbb, 0xcc]);
        b.put_slice(b"body");
        let mut bytes = b.freeze();
        let h = decode_request_header(&mut bytes).unwrap();
        assert_eq!(h.api_key, ApiKey::Metadata);
        assert_eq!(h.client_id, None);
        assert_eq!(&bytes[..], b"body");
    }

    #[test]
    fn uvarint_limits() {
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(get_uvarint(&mut b), Ok(u32::MAX));
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x1f]);
        assert!(get_uvarint(&mut b).is_err());
        let mut b = Bytes::from_static(&[0x80]);
        assert!(get_uvarint(&mut b).is_err());
    }
}
