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
//! Which header version goes with which (api_key, api_version) follows from the message
//! definitions: flexible request bodies take header v2 and flexible responses header v1
//! ([`super::messages::request_is_flexible`]).
//!
//! # Invariants
//! - The api key is checked against the served APIs ([`super::versions::supported_range`]:
//!   advertised and private) and the version against its range from the fixed 8 bytes alone, so
//!   an unknown key or unsupported version is reported with its correlation id even if the rest
//!   of the header is garbage.
//! - Header tagged fields are skipped, never stored: no allocation driven by their count or size.
//! - Every read is bounds-checked; malformed input is an error, never a panic.

use bytes::{BufMut, BytesMut};

use super::api_key::ApiKey;
use super::messages::request_is_flexible;
use super::versions;
use super::wire::{self, Cx, Reader, Str, Wire};
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
    pub client_id: Option<Str>,
}

impl RequestHeader {
    /// Response header version for this request (0 or 1).
    pub fn response_header_version(&self) -> i16 {
        response_header_version(self.api_key, self.api_version)
    }
}

/// Request header version (1 or 2) for `api_key` at `api_version`.
pub fn request_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if request_is_flexible(api_key, api_version).unwrap_or(false) {
        2
    } else {
        1
    }
}

/// Response header version (0 or 1) for `api_key` at `api_version`; always 0 for ApiVersions.
pub fn response_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if api_key == ApiKey::ApiVersions {
        return 0;
    }
    if request_is_flexible(api_key, api_version).unwrap_or(false) {
        1
    } else {
        0
    }
}

/// Appends a request header (v1 or v2 as `api_key` at `api_version` needs): the client's side.
pub fn encode_request_header(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    out: &mut BytesMut,
) {
    out.put_i16(api_key as i16);
    out.put_i16(api_version);
    out.put_i32(correlation_id);
    // client_id stays a classic nullable string even in header v2 (KIP-482).
    let classic_nullable = Cx {
        version: 0,
        flexible: false,
        nullable: true,
    };
    client_id.map(Str::from).write(out, classic_nullable);
    if request_header_version(api_key, api_version) >= 2 {
        wire::put_uvarint(out, 0);
    }
}

/// Decodes a response header (v0 or v1) from the front of `r`: the correlation id. Tagged fields
/// of v1 are skipped.
pub fn decode_response_header(r: &mut Reader, header_version: i16) -> Result<i32, wire::WireError> {
    let correlation_id = r.i32()?;
    if header_version >= 1 {
        skip_tagged_fields(r)?;
    }
    Ok(correlation_id)
}

/// Writes a response header: `correlation_id`, then for v1 a zero tag count.
pub fn encode_response_header(correlation_id: i32, header_version: i16, out: &mut BytesMut) {
    out.put_i32(correlation_id);
    if header_version >= 1 {
        out.put_u8(0); // uvarint 0: no tagged fields
    }
}

/// Decodes the request header from the front of `r`, leaving `r` at the request body.
pub(crate) fn decode_request_header(r: &mut Reader) -> Result<RequestHeader, DecodeError> {
    let frame_body_bytes = r.remaining();
    let fixed = |r: &mut Reader| -> Result<(i16, i16, i32), wire::WireError> {
        Ok((r.i16()?, r.i16()?, r.i32()?))
    };
    let Ok((raw_api_key, api_version, correlation_id)) = fixed(r) else {
        return Err(DecodeError::HeaderTooShort { frame_body_bytes });
    };
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
    let malformed = |what: &str, e: wire::WireError| DecodeError::Malformed {
        api_key,
        api_version,
        correlation_id,
        reason: format!("{what}: {e}"),
    };
    let classic_nullable = Cx {
        version: 0,
        flexible: false,
        nullable: true,
    };
    let client_id =
        Option::<Str>::read(r, classic_nullable).map_err(|e| malformed("client_id", e))?;
    if request_header_version(api_key, api_version) >= 2 {
        skip_tagged_fields(r).map_err(|e| malformed("header tagged fields", e))?;
    }
    Ok(RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id,
    })
}

/// Skips a tagged-field section (header fields are never stored: no allocation from their count).
fn skip_tagged_fields(r: &mut Reader) -> Result<(), wire::WireError> {
    let count = wire::read_tag_count(r)?;
    for _ in 0..count {
        wire::read_tagged_field(r)?;
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
        let mut r = Reader::new(b.freeze());
        let h = decode_request_header(&mut r).unwrap();
        assert_eq!(h.api_key, ApiKey::Metadata);
        assert_eq!(h.client_id, None);
        assert_eq!(&r.rest()[..], b"body");
    }
}
