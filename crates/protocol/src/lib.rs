//! Kafka wire protocol for ringlog: request framing, request headers, the APIs we advertise,
//! request decoding, response encoding, and the zero-copy Fetch and ShareFetch response framers.
//!
//! A connection's read path is: [`frame::split_frame`] cuts a whole frame off the read buffer,
//! [`decode_request`] turns its body into a [`RequestHeader`] and a [`Request`]. The write path is
//! [`encode_response`] for every response built from [`messages`], and
//! [`fetch::frame_fetch_response`] and [`frame_share_fetch_response`] for Fetch and ShareFetch
//! responses whose record bytes go from a segment file straight to the socket.
//!
//! ```text
//!  request frame                               response frame
//!  +--------+----------------+--------------+  +--------+-----------------+---------------+
//!  | size   | request header | request body |  | size   | response header | response body |
//!  | i32 BE | v1 or v2       |              |  | i32 BE | v0 or v1        |               |
//!  +--------+----------------+--------------+  +--------+-----------------+---------------+
//! ```
//!
//! Header layouts are in [`header`], the Fetch response layout in [`fetch`], the ShareFetch one
//! in [`share_fetch_frame`].
//!
//! # Invariants
//! - No input panics or aborts: every decoder is bounds-checked, and every length and count is
//!   checked against the bytes left before any allocation, with at most
//!   [`wire::ARRAY_PREALLOC_MAX`] elements pre-allocated (see [`wire`]). Decoded memory thus
//!   tracks bytes actually parsed, within the frame bound. Fuzz-style tests feed random, truncated
//!   and mutated bodies for every advertised (api, version); a cargo-fuzz target does the same.
//! - Only versions listed in [`versions::SUPPORTED_APIS`] or [`versions::PRIVATE_APIS`] are
//!   decoded; everything else is a [`DecodeError`] the caller can answer or close on.
//! - Produce record sets stay `Bytes` slices of the request frame (no copy).
//! - No response ever carries a tagged field holding its default value (the message macros omit
//!   them; checked byte for byte against Kafka's encoding in the differential tests).
//! - Every Kafka message is defined once, in [`messages`]; nothing outside this crate decodes or
//!   encodes Kafka wire types by hand except the zero-copy Fetch and ShareFetch framers, which
//!   are tested byte for byte against the Fetch and ShareFetch definitions.
#![deny(unsafe_code)]
// Protocol items mirror names from the Kafka protocol spec (API keys, error codes, fields);
// their documentation is the spec itself.
#![allow(missing_docs)]

pub mod api_key;
pub mod error;
pub mod fetch;
pub mod frame;
pub mod header;
pub mod messages;
#[cfg(test)]
pub mod random;
pub mod schema;
pub mod share_fetch_frame;
pub mod versions;
pub mod wire;

#[cfg(test)]
mod differential_tests;

#[cfg(test)]
mod roundtrip_tests;

#[cfg(test)]
mod share_roundtrip_tests;

use bytes::{BufMut, Bytes, BytesMut};

pub use api_key::ApiKey;
pub use header::RequestHeader;
pub use messages::{ApiRequest, Request, Response};
pub use share_fetch_frame::{
    frame_share_fetch_response, ShareFetchReply, ShareFetchReplyPartition, ShareFetchReplyTopic,
};

/// A top-level request or response body (implemented by [`api_message!`]).
pub trait Message: wire::Wire + Default {
    /// The Kafka api key this message belongs to.
    const API_KEY: i16;
    /// The versions this definition covers.
    const VERSIONS: wire::VersionRange;
    /// The versions that use compact lengths and tagged fields.
    const FLEXIBLE: wire::VersionRange;

    /// The decoding context of the whole message at `version`.
    fn cx(version: i16) -> wire::Cx {
        wire::Cx {
            version,
            flexible: Self::FLEXIBLE.contains(version),
            nullable: false,
        }
    }

    /// Decodes a body (trailing bytes are ignored, as Kafka does). Fields are slices of `body`.
    fn decode(body: Bytes, version: i16) -> Result<Self, wire::WireError> {
        if !Self::VERSIONS.contains(version) {
            return Err(wire::WireError {
                reason: "version outside the message definition",
                offset: 0,
            });
        }
        Self::read(&mut wire::Reader::new(body), Self::cx(version))
    }

    /// Appends the body at `version`; fields the version does not carry are left out.
    fn encode(&self, out: &mut BytesMut, version: i16) {
        self.write(out, Self::cx(version));
    }
}

/// Why a request frame could not be decoded, with what the caller needs to react.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// Fewer than 8 bytes: not even api_key, api_version and correlation_id. Close the connection.
    HeaderTooShort { frame_body_bytes: usize },
    /// An api key ringlog does not serve (unknown to Kafka, or known but not in our table).
    /// Kafka closes the connection; so should we.
    UnknownApiKey {
        api_key: i16,
        api_version: i16,
        correlation_id: i32,
    },
    /// A served API at a version outside our range. For ApiVersions answer with
    /// [`versions::encode_api_versions_unsupported`] (v0 reply, error 35, our ranges), as Kafka
    /// does; for any other API close the connection.
    UnsupportedVersion {
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
    },
    /// The header or body does not parse at its declared version. Log and close.
    Malformed {
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
        reason: String,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::HeaderTooShort { frame_body_bytes } => write!(
                f,
                "request of {frame_body_bytes} bytes is shorter than the 8-byte header prefix"
            ),
            DecodeError::UnknownApiKey {
                api_key,
                api_version,
                correlation_id,
            } => write!(
                f,
                "unsupported api key {api_key} (version {api_version}, correlation id {correlation_id})"
            ),
            DecodeError::UnsupportedVersion {
                api_key,
                api_version,
                correlation_id,
            } => write!(
                f,
                "unsupported version {api_version} of {api_key:?} (correlation id {correlation_id})"
            ),
            DecodeError::Malformed {
                api_key,
                api_version,
                correlation_id,
                reason,
            } => write!(
                f,
                "malformed {api_key:?} v{api_version} request (correlation id {correlation_id}): {reason}"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one request frame body (the bytes after the size prefix).
///
/// Trailing bytes after the body are ignored, as Kafka does. Byte fields of the result (Produce
/// record sets, strings) are slices of `frame_body`, not copies.
#[inline]
pub fn decode_request(frame_body: Bytes) -> Result<(RequestHeader, Request), DecodeError> {
    let mut r = wire::Reader::new(frame_body);
    let header = header::decode_request_header(&mut r)?;
    match Request::decode(header.api_key, header.api_version, &mut r) {
        Ok(Some(request)) => Ok((header, request)),
        // decode_request_header only returns keys from the versions tables; a table row
        // without a definition is our bug, reported rather than panicked on (and tested).
        Ok(None) => Err(DecodeError::UnknownApiKey {
            api_key: header.api_key as i16,
            api_version: header.api_version,
            correlation_id: header.correlation_id,
        }),
        Err(e) => Err(DecodeError::Malformed {
            api_key: header.api_key,
            api_version: header.api_version,
            correlation_id: header.correlation_id,
            reason: e.to_string(),
        }),
    }
}

/// Why a response could not be encoded. Always a broker bug (wrong response kind, or a field set
/// that the request's version cannot carry); `out` is left as it was.
#[derive(Debug)]
pub enum EncodeError {
    /// The response kind does not answer the request's api key.
    WrongResponseKind { api_key: ApiKey },
    /// The frame would exceed i32::MAX bytes.
    TooLarge { api_key: ApiKey, frame_bytes: usize },
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::WrongResponseKind { api_key } => {
                write!(f, "response kind does not answer a {api_key:?} request")
            }
            EncodeError::TooLarge {
                api_key,
                frame_bytes,
            } => write!(
                f,
                "{api_key:?} response of {frame_bytes} bytes exceeds i32::MAX"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Appends one whole response frame to `out`: i32 size prefix, response header (v0 or v1, always
/// v0 for ApiVersions) with the request's correlation id, and `resp` encoded at the request's
/// version. On error `out` is truncated back to its length on entry.
pub fn encode_response(
    header: &RequestHeader,
    resp: &Response,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let api_key = header.api_key;
    if resp.api_key() != api_key {
        return Err(EncodeError::WrongResponseKind { api_key });
    }
    let start = out.len();
    out.put_i32(0); // size, patched below
    header::encode_response_header(header.correlation_id, header.response_header_version(), out);
    resp.encode(out, header.api_version);
    patch_size_prefix(out, start).map_err(|frame_bytes| EncodeError::TooLarge {
        api_key,
        frame_bytes,
    })
}

/// Writes the size prefix of the frame that starts at `start`; on overflow truncates `out` back
/// to `start` and returns the frame's length.
fn patch_size_prefix(out: &mut BytesMut, start: usize) -> Result<(), usize> {
    let frame_bytes = out.len() - start;
    let Ok(size) = i32::try_from(frame_bytes - frame::SIZE_PREFIX_BYTES) else {
        out.truncate(start);
        return Err(frame_bytes);
    };
    out[start..start + frame::SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Appends one whole request frame (the client's side): size prefix, request header v1/v2,
/// `request` at `api_version`. Fails only if the frame would exceed i32::MAX bytes.
pub fn encode_request<R: ApiRequest>(
    request: &R,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_i32(0);
    header::encode_request_header(R::KEY, api_version, correlation_id, client_id, out);
    request.encode(out, api_version);
    patch_size_prefix(out, start).map_err(|frame_bytes| EncodeError::TooLarge {
        api_key: R::KEY,
        frame_bytes,
    })
}

/// Decodes a response frame body (after the size prefix) to a request of `R` sent at
/// `api_version`: the correlation id and the body. Byte fields are slices of `frame_body`.
pub fn decode_response<R: ApiRequest>(
    frame_body: Bytes,
    api_version: i16,
) -> Result<(i32, R::Response), wire::WireError> {
    let mut r = wire::Reader::new(frame_body);
    let correlation_id = header::decode_response_header(
        &mut r,
        header::response_header_version(R::KEY, api_version),
    )?;
    let cx = <R::Response as Message>::cx(api_version);
    let body = <R::Response as wire::Wire>::read(&mut r, cx)?;
    Ok((correlation_id, body))
}
