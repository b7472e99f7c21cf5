//! The hand-framed Fetch response, so record bytes can go from a segment file to the socket.
//!
//! [`frame_fetch_response`] writes everything except the record bytes into one contiguous buffer
//! and returns a plan, a list of [`Part`]s: header ranges of that buffer interleaved with opaque
//! record slices that the caller sends itself (sendfile, splice, mmap, ...). Sending the parts in
//! order produces exactly the bytes the [`super::messages::FetchResponse`] definition encodes with the
//! slices' bytes as each partition's `records`.
//!
//! Frame layout (integers big-endian; `[v]` = only in versions v and later):
//!
//! ```text
//! size                     i32   counts everything after itself, slices included
//! correlation_id           i32   response header v0 (v4..=11) / v1 (v12+)
//! header tagged fields     uvarint 0                                   [12]
//! throttle_time_ms         i32
//! error_code               i16                                         [7]
//! session_id               i32                                         [7]
//! topics                   array: i32 count / uvarint count+1 [12]
//! | topic name             string: i16 len / uvarint len+1 [12]        only v4..=12
//! | topic_id               16 bytes (UUID)                             [13]
//! | partitions             array (as above)
//! | | partition_index      i32
//! | | error_code           i16
//! | | high_watermark       i64
//! | | last_stable_offset   i64
//! | | log_start_offset     i64                                         [5]
//! | | aborted_transactions nullable array: null (i32 -1 / uvarint 0 [12]) for
//! | |                      READ_UNCOMMITTED, else count and entries of
//! | |                      producer_id i64, first_offset i64, tagged fields uvarint 0 [12]
//! | | preferred_read_replica i32, always -1                            [11]
//! | | records              bytes: i32 len / uvarint len+1 [12], then the slices, in order
//! | | partition tagged fields uvarint 0                                [12]
//! | topic tagged fields    uvarint 0                                   [12]
//! response tagged fields   uvarint 0                                   [12]
//! ```
//!
//! Tagged fields (diverging_epoch, current_leader, snapshot_id, node_endpoints) are never written:
//! they would hold their defaults, and librdkafka 2.0.2 mis-skips tagged fields.
//!
//! The plan types ([`Part`], [`RecordSlice`], [`FetchFrameError`]) and the writer that cuts the
//! header bytes around the slices are shared with the ShareFetch framer,
//! [`super::share_fetch_frame`].
//!
//! # Invariants
//! - Only the Fetch versions in [`super::versions::SUPPORTED_APIS`] are framed.
//! - The size prefix equals header bytes after it plus the sum of all slice lengths, and fits i32.
//! - Every partition's records length equals the sum of its slices' lengths.
//! - `Part::Header` ranges are non-empty, in order, and together cover the bytes appended to `out`.
//! - On error `out` is left as it was.

use std::ops::Range;

use bytes::{BufMut, BytesMut};
use uuid::Uuid;

use super::api_key::ApiKey;
use super::frame::SIZE_PREFIX_BYTES;
use super::header;
use super::versions;
use super::wire::{self, Str};

/// `aborted_transactions` of a READ_UNCOMMITTED fetch: null (not an empty array), as Kafka
/// sends.
const ABORTED_TRANSACTIONS_NULL: i32 = -1;
/// No follower fetching: always read from the leader.
const PREFERRED_READ_REPLICA_NONE: i32 = -1;

/// One Fetch response to frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReply {
    pub throttle_time_ms: i32,
    /// Top-level error (v7+; not written for older versions).
    pub error_code: i16,
    /// Fetch session id (v7+; not written for older versions), 0 = no session.
    pub session_id: i32,
    pub topics: Vec<FetchReplyTopic>,
}

/// One topic of a [`FetchReply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReplyTopic {
    /// Written for v4..=12.
    pub name: Str,
    /// Written for v13+.
    pub topic_id: Uuid,
    pub partitions: Vec<FetchReplyPartition>,
}

/// One partition of a [`FetchReplyTopic`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReplyPartition {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// Written for v5+.
    pub log_start_offset: i64,
    /// READ_COMMITTED fetches: the aborted transactions of the returned range, as (producer id,
    /// first offset); `None` (null) for READ_UNCOMMITTED.
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    /// The record bytes, in order; empty means an empty (not null) records field.
    pub records: Vec<RecordSlice>,
}

/// An opaque run of record bytes the caller will send; `slice_id` is the caller's handle for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSlice {
    pub slice_id: usize,
    pub len: u32,
}

/// One step of sending a framed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Send `out[range]`.
    Header(Range<usize>),
    /// Send the bytes of the slice with this `slice_id`.
    Slice(usize),
}

/// A Fetch or ShareFetch response that cannot be framed. All are broker bugs or impossible
/// sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFrameError {
    /// The version is not one the framer of `api_key` covers (Fetch: the advertised ones;
    /// ShareFetch: the defined ones).
    UnsupportedVersion { api_key: ApiKey, api_version: i16 },
    /// A topic name longer than a Kafka string can hold (i16::MAX bytes).
    TopicNameTooLong { name_bytes: usize },
    /// Another string (an error message, a host) longer than a Kafka string can hold.
    StringTooLong {
        field: &'static str,
        string_bytes: usize,
    },
    /// One partition's records exceed i32::MAX bytes.
    RecordsTooLarge {
        partition_index: i32,
        records_bytes: u64,
    },
    /// The whole frame exceeds i32::MAX bytes.
    FrameTooLarge { frame_bytes: u64 },
}

impl std::fmt::Display for FetchFrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchFrameError::UnsupportedVersion {
                api_key,
                api_version,
            } => {
                write!(f, "{api_key:?} v{api_version} cannot be framed")
            }
            FetchFrameError::TopicNameTooLong { name_bytes } => {
                write!(f, "topic name of {name_bytes} bytes is too long")
            }
            FetchFrameError::StringTooLong {
                field,
                string_bytes,
            } => write!(f, "{field} of {string_bytes} bytes is too long"),
            FetchFrameError::RecordsTooLarge {
                partition_index,
                records_bytes,
            } => write!(
                f,
                "partition {partition_index}: {records_bytes} record bytes exceed i32::MAX"
            ),
            FetchFrameError::FrameTooLarge { frame_bytes } => {
                write!(f, "response of {frame_bytes} bytes exceeds i32::MAX")
            }
        }
    }
}

impl std::error::Error for FetchFrameError {}

/// The longest Kafka string, in bytes (the classic encoding's i16 length; Kafka's generated
/// writers refuse longer ones in the compact encoding too).
pub const STRING_BYTES_MAX: usize = i16::MAX as usize;

/// Appends the header bytes of a Fetch response frame to `out` and returns the send plan.
/// `Part::Header` ranges index into `out` (including bytes it held on entry).
pub fn frame_fetch_response(
    correlation_id: i32,
    api_version: i16,
    reply: &FetchReply,
    out: &mut BytesMut,
) -> Result<Vec<Part>, FetchFrameError> {
    let supported =
        versions::supported_range(ApiKey::Fetch as i16).is_some_and(|r| r.contains(api_version));
    if !supported {
        return Err(FetchFrameError::UnsupportedVersion {
            api_key: ApiKey::Fetch,
            api_version,
        });
    }
    let header_version = header::response_header_version(ApiKey::Fetch, api_version);
    PlanWriter::frame(
        out,
        api_version >= 12,
        correlation_id,
        header_version,
        |w| write_fetch(w, api_version, reply),
    )
}

fn write_fetch(w: &mut PlanWriter, v: i16, reply: &FetchReply) -> Result<(), FetchFrameError> {
    w.out.put_i32(reply.throttle_time_ms);
    if v >= 7 {
        w.out.put_i16(reply.error_code);
        w.out.put_i32(reply.session_id);
    }
    w.array_len(reply.topics.len());
    for topic in &reply.topics {
        if v <= 12 {
            if topic.name.len() > STRING_BYTES_MAX {
                return Err(FetchFrameError::TopicNameTooLong {
                    name_bytes: topic.name.len(),
                });
            }
            w.string(&topic.name);
        } else {
            w.out.put_slice(topic.topic_id.as_bytes());
        }
        w.array_len(topic.partitions.len());
        for p in &topic.partitions {
            write_fetch_partition(w, v, p)?;
        }
        w.no_tagged_fields();
    }
    w.no_tagged_fields();
    Ok(())
}

fn write_fetch_partition(
    w: &mut PlanWriter,
    v: i16,
    p: &FetchReplyPartition,
) -> Result<(), FetchFrameError> {
    w.out.put_i32(p.partition_index);
    w.out.put_i16(p.error_code);
    w.out.put_i64(p.high_watermark);
    w.out.put_i64(p.last_stable_offset);
    if v >= 5 {
        w.out.put_i64(p.log_start_offset);
    }
    match &p.aborted_transactions {
        None if w.flexible => w.uvarint(0), // compact nullable array: 0 = null
        None => w.out.put_i32(ABORTED_TRANSACTIONS_NULL),
        Some(list) => {
            w.array_len(list.len());
            for &(producer_id, first_offset) in list {
                w.out.put_i64(producer_id);
                w.out.put_i64(first_offset);
                w.no_tagged_fields();
            }
        }
    }
    if v >= 11 {
        w.out.put_i32(PREFERRED_READ_REPLICA_NONE);
    }
    w.records(p.partition_index, &p.records)?;
    w.no_tagged_fields();
    Ok(())
}

/// Builds a send plan: the frame's header bytes go to `out`, cut into [`Part::Header`] ranges
/// around the [`Part::Slice`]s of record bytes. Shared by the Fetch and ShareFetch framers.
pub(crate) struct PlanWriter<'a> {
    pub(crate) out: &'a mut BytesMut,
    /// Compact lengths and tag sections (the response's version is flexible).
    pub(crate) flexible: bool,
    parts: Vec<Part>,
    /// Start of the header bytes not yet covered by a `Part::Header`.
    header_start: usize,
    /// Sum of all slice lengths so far.
    slice_bytes: u64,
}

impl<'a> PlanWriter<'a> {
    /// Frames one response: the size prefix (patched at the end to count the slices too), the
    /// response header, then whatever `body` writes. On error `out` is truncated back to its
    /// length on entry.
    pub(crate) fn frame(
        out: &'a mut BytesMut,
        flexible: bool,
        correlation_id: i32,
        header_version: i16,
        body: impl FnOnce(&mut PlanWriter<'a>) -> Result<(), FetchFrameError>,
    ) -> Result<Vec<Part>, FetchFrameError> {
        let start = out.len();
        let mut w = PlanWriter {
            out,
            flexible,
            parts: Vec::new(),
            header_start: start,
            slice_bytes: 0,
        };
        w.out.put_i32(0); // size, patched below
        header::encode_response_header(correlation_id, header_version, w.out);
        if let Err(e) = body(&mut w) {
            w.out.truncate(start);
            return Err(e);
        }
        w.flush_header();
        let frame_bytes = (w.out.len() - start) as u64 + w.slice_bytes;
        let size = frame_bytes - SIZE_PREFIX_BYTES as u64;
        let Ok(size) = i32::try_from(size) else {
            w.out.truncate(start);
            return Err(FetchFrameError::FrameTooLarge { frame_bytes });
        };
        w.out[start..start + SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
        debug_assert!(w.parts.iter().all(|p| match p {
            Part::Header(r) => r.start < r.end && r.end <= w.out.len(),
            Part::Slice(_) => true,
        }));
        Ok(w.parts)
    }

    /// One partition's records field: its length (the sum of the slices') here, the slices
    /// themselves as [`Part::Slice`]s in order. No slices is an empty, not null, field.
    pub(crate) fn records(
        &mut self,
        partition_index: i32,
        slices: &[RecordSlice],
    ) -> Result<(), FetchFrameError> {
        let records_bytes: u64 = slices.iter().map(|s| u64::from(s.len)).sum();
        let Ok(len) = i32::try_from(records_bytes) else {
            return Err(FetchFrameError::RecordsTooLarge {
                partition_index,
                records_bytes,
            });
        };
        if self.flexible {
            self.uvarint(len as u32 + 1); // len <= i32::MAX, so no overflow
        } else {
            self.out.put_i32(len);
        }
        if !slices.is_empty() {
            self.flush_header();
            self.parts
                .extend(slices.iter().map(|s| Part::Slice(s.slice_id)));
            self.slice_bytes += records_bytes;
        }
        Ok(())
    }

    /// Closes the pending header range, if it is non-empty.
    fn flush_header(&mut self) {
        let end = self.out.len();
        if end > self.header_start {
            self.parts.push(Part::Header(self.header_start..end));
        }
        self.header_start = end;
    }

    pub(crate) fn array_len(&mut self, n: usize) {
        // Counts are bounded by the frame size check: every element writes at least 4 bytes.
        if self.flexible {
            self.uvarint(n as u32 + 1);
        } else {
            self.out.put_i32(n as i32);
        }
    }

    /// A string the caller has checked against [`STRING_BYTES_MAX`].
    fn string(&mut self, s: &str) {
        debug_assert!(s.len() <= STRING_BYTES_MAX);
        if self.flexible {
            self.uvarint(s.len() as u32 + 1);
        } else {
            self.out.put_i16(s.len() as i16);
        }
        self.out.put_slice(s.as_bytes());
    }

    pub(crate) fn no_tagged_fields(&mut self) {
        if self.flexible {
            self.out.put_u8(0);
        }
    }

    pub(crate) fn uvarint(&mut self, value: u32) {
        wire::put_uvarint(self.out, value);
    }
}
