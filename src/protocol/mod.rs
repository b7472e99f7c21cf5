//! Kafka wire protocol for ringlog: request framing, request headers, the APIs we advertise,
//! request decoding, response encoding, and the zero-copy Fetch response framer.
//!
//! A connection's read path is: [`frame::split_frame`] cuts a whole frame off the read buffer,
//! [`decode_request`] turns its body into a [`RequestHeader`] and a [`Request`]. The write path is
//! [`encode_response`] for every response built with kafka-protocol, and
//! [`fetch::frame_fetch_response`] for Fetch responses whose record bytes go from a segment file
//! straight to the socket.
//!
//! ```text
//!  request frame                               response frame
//!  +--------+----------------+--------------+  +--------+-----------------+---------------+
//!  | size   | request header | request body |  | size   | response header | response body |
//!  | i32 BE | v1 or v2       |              |  | i32 BE | v0 or v1        |               |
//!  +--------+----------------+--------------+  +--------+-----------------+---------------+
//! ```
//!
//! Header layouts are in [`header`], the Fetch response layout in [`fetch`].
//!
//! # Invariants
//! - No input panics or aborts: every decoder is bounds-checked, and array counts are checked
//!   against the bytes left before any allocation, with at most 1024 elements pre-allocated
//!   (vendored kafka-protocol patch, see `vendor/kafka-protocol/PATCHED.md`). Decoded memory thus
//!   tracks bytes actually parsed, within the frame bound. Fuzz-style tests feed random, truncated
//!   and mutated bodies for every advertised (api, version).
//! - Only versions listed in [`versions::SUPPORTED_APIS`] are decoded; everything else is a
//!   [`DecodeError`] the caller can answer or close on.
//! - Produce record sets stay `Bytes` slices of the request frame (no copy).
//! - No response ever carries a tagged field holding its default value (kafka-protocol omits them;
//!   checked byte for byte in the tests).

pub mod api_key;
pub mod error;
pub mod fetch;
pub mod frame;
pub mod header;
pub mod messages;
#[cfg(test)]
pub mod random;
pub mod schema;
pub mod versions;
pub mod wire;

#[cfg(test)]
mod differential_tests;

#[cfg(test)]
mod roundtrip_tests;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, FetchRequest,
    InitProducerIdRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest, ResponseKind,
};
use kafka_protocol::protocol::Decodable;
// Consumer groups (src/broker/group).
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest,
};

pub use header::RequestHeader;

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

/// A decoded request of one of the APIs in [`versions::SUPPORTED_APIS`].
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    ApiVersions(ApiVersionsRequest),
    Metadata(MetadataRequest),
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    SyncGroup(SyncGroupRequest),
    DescribeGroups(DescribeGroupsRequest),
    ListGroups(ListGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
    InitProducerId(InitProducerIdRequest),
}

impl Request {
    pub fn api_key(&self) -> ApiKey {
        match self {
            Request::ApiVersions(_) => ApiKey::ApiVersions,
            Request::Metadata(_) => ApiKey::Metadata,
            Request::Produce(_) => ApiKey::Produce,
            Request::Fetch(_) => ApiKey::Fetch,
            Request::ListOffsets(_) => ApiKey::ListOffsets,
            Request::CreateTopics(_) => ApiKey::CreateTopics,
            Request::DeleteTopics(_) => ApiKey::DeleteTopics,
            Request::OffsetCommit(_) => ApiKey::OffsetCommit,
            Request::OffsetFetch(_) => ApiKey::OffsetFetch,
            Request::FindCoordinator(_) => ApiKey::FindCoordinator,
            Request::JoinGroup(_) => ApiKey::JoinGroup,
            Request::Heartbeat(_) => ApiKey::Heartbeat,
            Request::LeaveGroup(_) => ApiKey::LeaveGroup,
            Request::SyncGroup(_) => ApiKey::SyncGroup,
            Request::DescribeGroups(_) => ApiKey::DescribeGroups,
            Request::ListGroups(_) => ApiKey::ListGroups,
            Request::DeleteGroups(_) => ApiKey::DeleteGroups,
            Request::InitProducerId(_) => ApiKey::InitProducerId,
        }
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
pub fn decode_request(frame_body: Bytes) -> Result<(RequestHeader, Request), DecodeError> {
    let mut buf = frame_body;
    let header = header::decode_request_header(&mut buf)?;
    let v = header.api_version;
    let body = match header.api_key {
        ApiKey::ApiVersions => ApiVersionsRequest::decode(&mut buf, v).map(Request::ApiVersions),
        ApiKey::Metadata => MetadataRequest::decode(&mut buf, v).map(Request::Metadata),
        ApiKey::Produce => ProduceRequest::decode(&mut buf, v).map(Request::Produce),
        ApiKey::Fetch => FetchRequest::decode(&mut buf, v).map(Request::Fetch),
        ApiKey::ListOffsets => ListOffsetsRequest::decode(&mut buf, v).map(Request::ListOffsets),
        ApiKey::CreateTopics => CreateTopicsRequest::decode(&mut buf, v).map(Request::CreateTopics),
        ApiKey::DeleteTopics => DeleteTopicsRequest::decode(&mut buf, v).map(Request::DeleteTopics),
        ApiKey::OffsetCommit => OffsetCommitRequest::decode(&mut buf, v).map(Request::OffsetCommit),
        ApiKey::OffsetFetch => OffsetFetchRequest::decode(&mut buf, v).map(Request::OffsetFetch),
        ApiKey::FindCoordinator => {
            FindCoordinatorRequest::decode(&mut buf, v).map(Request::FindCoordinator)
        }
        ApiKey::JoinGroup => JoinGroupRequest::decode(&mut buf, v).map(Request::JoinGroup),
        ApiKey::Heartbeat => HeartbeatRequest::decode(&mut buf, v).map(Request::Heartbeat),
        ApiKey::LeaveGroup => LeaveGroupRequest::decode(&mut buf, v).map(Request::LeaveGroup),
        ApiKey::SyncGroup => SyncGroupRequest::decode(&mut buf, v).map(Request::SyncGroup),
        ApiKey::DescribeGroups => {
            DescribeGroupsRequest::decode(&mut buf, v).map(Request::DescribeGroups)
        }
        ApiKey::ListGroups => ListGroupsRequest::decode(&mut buf, v).map(Request::ListGroups),
        ApiKey::DeleteGroups => DeleteGroupsRequest::decode(&mut buf, v).map(Request::DeleteGroups),
        ApiKey::InitProducerId => {
            InitProducerIdRequest::decode(&mut buf, v).map(Request::InitProducerId)
        }
        // decode_request_header only returns keys from versions::SUPPORTED_APIS; a table row
        // without an arm here is our bug, reported rather than panicked on.
        other => {
            return Err(DecodeError::UnknownApiKey {
                api_key: other as i16,
                api_version: v,
                correlation_id: header.correlation_id,
            })
        }
    };
    match body {
        Ok(request) => Ok((header, request)),
        Err(e) => Err(DecodeError::Malformed {
            api_key: header.api_key,
            api_version: v,
            correlation_id: header.correlation_id,
            reason: format!("{e:#}"),
        }),
    }
}

/// Why a response could not be encoded. Always a broker bug (wrong response kind, or a field set
/// that the request's version cannot carry); `out` is left as it was.
#[derive(Debug)]
pub enum EncodeError {
    /// The response kind does not answer the request's api key.
    WrongResponseKind { api_key: ApiKey },
    /// kafka-protocol refused to encode the body at this version.
    Body {
        api_key: ApiKey,
        api_version: i16,
        reason: String,
    },
    /// The frame would exceed i32::MAX bytes.
    TooLarge { api_key: ApiKey, frame_bytes: usize },
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::WrongResponseKind { api_key } => {
                write!(f, "response kind does not answer a {api_key:?} request")
            }
            EncodeError::Body {
                api_key,
                api_version,
                reason,
            } => write!(
                f,
                "cannot encode {api_key:?} v{api_version} response: {reason}"
            ),
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

/// The api key a response kind answers, for the kinds ringlog sends.
fn response_api_key(resp: &ResponseKind) -> Option<ApiKey> {
    Some(match resp {
        ResponseKind::ApiVersions(_) => ApiKey::ApiVersions,
        ResponseKind::Metadata(_) => ApiKey::Metadata,
        ResponseKind::Produce(_) => ApiKey::Produce,
        ResponseKind::Fetch(_) => ApiKey::Fetch,
        ResponseKind::ListOffsets(_) => ApiKey::ListOffsets,
        ResponseKind::CreateTopics(_) => ApiKey::CreateTopics,
        ResponseKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        ResponseKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        ResponseKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        ResponseKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        ResponseKind::JoinGroup(_) => ApiKey::JoinGroup,
        ResponseKind::Heartbeat(_) => ApiKey::Heartbeat,
        ResponseKind::LeaveGroup(_) => ApiKey::LeaveGroup,
        ResponseKind::SyncGroup(_) => ApiKey::SyncGroup,
        ResponseKind::DescribeGroups(_) => ApiKey::DescribeGroups,
        ResponseKind::ListGroups(_) => ApiKey::ListGroups,
        ResponseKind::DeleteGroups(_) => ApiKey::DeleteGroups,
        ResponseKind::InitProducerId(_) => ApiKey::InitProducerId,
        _ => return None,
    })
}

/// Appends one whole response frame to `out`: i32 size prefix, response header (v0 or v1, always
/// v0 for ApiVersions) with the request's correlation id, and `resp` encoded at the request's
/// version. On error `out` is truncated back to its length on entry.
pub fn encode_response(
    header: &RequestHeader,
    resp: &ResponseKind,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let api_key = header.api_key;
    if response_api_key(resp) != Some(api_key) {
        return Err(EncodeError::WrongResponseKind { api_key });
    }
    let start = out.len();
    out.put_i32(0); // size, patched below
    header::encode_response_header(header.correlation_id, header.response_header_version(), out);
    if let Err(e) = resp.encode(out, header.api_version) {
        out.truncate(start);
        return Err(EncodeError::Body {
            api_key,
            api_version: header.api_version,
            reason: format!("{e:#}"),
        });
    }
    let frame_bytes = out.len() - start;
    let Ok(size) = i32::try_from(frame_bytes - frame::SIZE_PREFIX_BYTES) else {
        out.truncate(start);
        return Err(EncodeError::TooLarge {
            api_key,
            frame_bytes,
        });
    };
    out[start..start + frame::SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(())
}
