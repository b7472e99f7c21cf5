//! The hand-framed ShareFetch response (KIP-932, issue #16), so acquired records go from a
//! segment file to the socket as they are stored, exactly like Fetch's ([`super::fetch`]).
//!
//! [`frame_share_fetch_response`] writes everything except the record bytes into one contiguous
//! buffer and returns the same plan of [`Part`]s as [`super::fetch::frame_fetch_response`]:
//! header ranges of that buffer interleaved with opaque record slices the caller sends itself.
//! Sending the parts in order produces exactly the bytes the
//! [`super::messages::ShareFetchResponse`] definition encodes with the slices' bytes as each
//! partition's `records`.
//!
//! Frame layout (integers big-endian; every ShareFetch version is flexible: arrays and strings
//! have compact lengths, uvarint n+1, 0 for null; every struct ends with a tag section, always
//! empty here, uvarint 0):
//!
//! ```text
//! size                          i32   counts everything after itself, slices included
//! correlation_id                i32   response header v1
//! header tagged fields          uvarint 0
//! throttle_time_ms              i32
//! error_code                    i16
//! error_message                 compact nullable string
//! acquisition_lock_timeout_ms   i32
//! responses                     compact array
//! | topic_id                    16 bytes (UUID)
//! | partitions                  compact array
//! | | partition_index           i32
//! | | error_code                i16
//! | | error_message             compact nullable string
//! | | acknowledge_error_code    i16
//! | | acknowledge_error_message compact nullable string
//! | | current_leader            leader_id i32, leader_epoch i32, tagged fields uvarint 0
//! | | records                   uvarint len+1, then the slices, in order (never null)
//! | | acquired_records          compact array of
//! | |                           first_offset i64, last_offset i64, delivery_count i16, uvarint 0
//! | | partition tagged fields   uvarint 0
//! | topic tagged fields         uvarint 0
//! node_endpoints                compact array of node_id i32, host compact string, port i32,
//!                               rack compact nullable string, uvarint 0
//! response tagged fields        uvarint 0
//! ```
//!
//! v1 and v2 responses have the same layout (v2 changed only the request).
//!
//! # Invariants
//! - Only the versions of the ShareFetch definition are framed.
//! - The size prefix equals header bytes after it plus the sum of all slice lengths, and fits i32.
//! - Every partition's records length equals the sum of its slices' lengths.
//! - `Part::Header` ranges are non-empty, in order, and together cover the bytes appended to `out`.
//! - Every string fits a Kafka string ([`STRING_BYTES_MAX`] bytes), checked before anything is
//!   written.
//! - On error `out` is left as it was.

use bytes::{BufMut, BytesMut};
use uuid::Uuid;

use super::api_key::ApiKey;
use super::fetch::{FetchFrameError, Part, PlanWriter, RecordSlice, STRING_BYTES_MAX};
use super::header;
use super::messages::{
    ShareAcquiredRecords, ShareFetchResponse, ShareLeaderIdAndEpoch, ShareNodeEndpoint,
};
use super::wire::{Cx, Str, Wire};
use super::Message;

/// One ShareFetch response to frame: [`ShareFetchResponse`] with record slices in place of each
/// partition's record bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareFetchReply {
    pub throttle_time_ms: i32,
    /// Top-level error (share session errors).
    pub error_code: i16,
    pub error_message: Option<Str>,
    /// How long the records acquired here stay locked to the member.
    pub acquisition_lock_timeout_ms: i32,
    pub topics: Vec<ShareFetchReplyTopic>,
    /// Endpoints of the leaders named in NOT_LEADER_OR_FOLLOWER partition errors.
    pub node_endpoints: Vec<ShareNodeEndpoint>,
}

/// One topic of a [`ShareFetchReply`], by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareFetchReplyTopic {
    pub topic_id: Uuid,
    pub partitions: Vec<ShareFetchReplyPartition>,
}

/// One partition of a [`ShareFetchReplyTopic`]: the acquired records' bytes as slices, and the
/// acquired offset ranges with their delivery counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareFetchReplyPartition {
    pub partition_index: i32,
    pub error_code: i16,
    pub error_message: Option<Str>,
    pub acknowledge_error_code: i16,
    pub acknowledge_error_message: Option<Str>,
    pub current_leader: ShareLeaderIdAndEpoch,
    /// The record bytes, in order; empty means an empty records field.
    pub records: Vec<RecordSlice>,
    pub acquired_records: Vec<ShareAcquiredRecords>,
}

/// Appends the header bytes of a ShareFetch response frame to `out` and returns the send plan.
/// `Part::Header` ranges index into `out` (including bytes it held on entry).
pub fn frame_share_fetch_response(
    correlation_id: i32,
    api_version: i16,
    reply: &ShareFetchReply,
    out: &mut BytesMut,
) -> Result<Vec<Part>, FetchFrameError> {
    if !ShareFetchResponse::VERSIONS.contains(api_version) {
        return Err(FetchFrameError::UnsupportedVersion {
            api_key: ApiKey::ShareFetch,
            api_version,
        });
    }
    // Strings are checked first, so the writer below cannot fail on them half-way.
    check_strings(reply)?;
    let cx = ShareFetchResponse::cx(api_version);
    debug_assert!(cx.flexible, "every ShareFetch version is flexible");
    let header_version = header::response_header_version(ApiKey::ShareFetch, api_version);
    PlanWriter::frame(out, cx.flexible, correlation_id, header_version, |w| {
        write_share_fetch(w, cx, reply)
    })
}

fn write_share_fetch(
    w: &mut PlanWriter,
    cx: Cx,
    reply: &ShareFetchReply,
) -> Result<(), FetchFrameError> {
    let nullable = cx.field(true);
    let plain = cx.field(false);
    w.out.put_i32(reply.throttle_time_ms);
    w.out.put_i16(reply.error_code);
    reply.error_message.write(w.out, nullable);
    w.out.put_i32(reply.acquisition_lock_timeout_ms);
    w.array_len(reply.topics.len());
    for topic in &reply.topics {
        w.out.put_slice(topic.topic_id.as_bytes());
        w.array_len(topic.partitions.len());
        for p in &topic.partitions {
            w.out.put_i32(p.partition_index);
            w.out.put_i16(p.error_code);
            p.error_message.write(w.out, nullable);
            w.out.put_i16(p.acknowledge_error_code);
            p.acknowledge_error_message.write(w.out, nullable);
            p.current_leader.write(w.out, plain);
            w.records(p.partition_index, &p.records)?;
            p.acquired_records.write(w.out, plain);
            w.no_tagged_fields();
        }
        w.no_tagged_fields();
    }
    reply.node_endpoints.write(w.out, plain);
    w.no_tagged_fields();
    Ok(())
}

/// Every string of the reply fits a Kafka string.
fn check_strings(reply: &ShareFetchReply) -> Result<(), FetchFrameError> {
    let check = |field: &'static str, s: Option<&Str>| match s {
        Some(s) if s.len() > STRING_BYTES_MAX => Err(FetchFrameError::StringTooLong {
            field,
            string_bytes: s.len(),
        }),
        _ => Ok(()),
    };
    check("error_message", reply.error_message.as_ref())?;
    for p in reply.topics.iter().flat_map(|t| &t.partitions) {
        check("partition error_message", p.error_message.as_ref())?;
        check(
            "acknowledge_error_message",
            p.acknowledge_error_message.as_ref(),
        )?;
    }
    for node in &reply.node_endpoints {
        check("node_endpoints host", Some(&node.host))?;
        check("node_endpoints rack", node.rack.as_ref())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::messages::{
        ShareFetchPartitionData, ShareFetchRequest, ShareFetchableTopicResponse,
    };
    use crate::random::{Random, Rng};
    use crate::wire::Reader;

    const VERSIONS: std::ops::RangeInclusive<i16> = 1..=2;
    /// Random replies per version.
    const CASES_PER_VERSION: u64 = 300;

    /// `response` as a reply: each partition's record bytes cut into 0-3 slices (held in the
    /// returned list, by slice id).
    fn reply_of(response: &ShareFetchResponse, g: &mut Rng) -> (ShareFetchReply, Vec<Bytes>) {
        let mut slices: Vec<Bytes> = Vec::new();
        let topics = response
            .responses
            .iter()
            .map(|t| ShareFetchReplyTopic {
                topic_id: t.topic_id,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut records = Vec::new();
                        let mut rest = p.records.clone();
                        while !rest.is_empty() {
                            let n = if g.chance(2) {
                                rest.len()
                            } else {
                                1 + g.below(rest.len())
                            };
                            let slice = rest.split_to(n);
                            records.push(RecordSlice {
                                slice_id: slices.len(),
                                len: slice.len() as u32,
                            });
                            slices.push(slice);
                        }
                        ShareFetchReplyPartition {
                            partition_index: p.partition_index,
                            error_code: p.error_code,
                            error_message: p.error_message.clone(),
                            acknowledge_error_code: p.acknowledge_error_code,
                            acknowledge_error_message: p.acknowledge_error_message.clone(),
                            current_leader: p.current_leader.clone(),
                            records,
                            acquired_records: p.acquired_records.clone(),
                        }
                    })
                    .collect(),
            })
            .collect();
        let reply = ShareFetchReply {
            throttle_time_ms: response.throttle_time_ms,
            error_code: response.error_code,
            error_message: response.error_message.clone(),
            acquisition_lock_timeout_ms: response.acquisition_lock_timeout_ms,
            topics,
            node_endpoints: response.node_endpoints.clone(),
        };
        (reply, slices)
    }

    /// The whole frame the definition encodes: size, response header v1, body.
    fn reference_frame(correlation_id: i32, v: i16, response: &ShareFetchResponse) -> Vec<u8> {
        let mut body = BytesMut::new();
        body.put_i32(correlation_id);
        body.put_u8(0); // response header v1: empty tag section
        response.encode(&mut body, v);
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    /// Frames `reply` after some earlier bytes in `out`, checks the plan's invariants and
    /// returns the bytes the connection would send.
    fn frame_and_send(reply: &ShareFetchReply, slices: &[Bytes], v: i16, corr: i32) -> Vec<u8> {
        let mut out = BytesMut::from(&b"earlier response bytes"[..]);
        let start = out.len();
        let parts = frame_share_fetch_response(corr, v, reply, &mut out)
            .unwrap_or_else(|e| panic!("v{v}: {e}"));

        let mut next = start;
        let mut slice_ids = Vec::new();
        let mut wire = Vec::new();
        for part in &parts {
            match part {
                Part::Header(r) => {
                    assert_eq!(r.start, next, "v{v}: header ranges must be contiguous");
                    assert!(r.end > r.start, "v{v}: empty header range");
                    next = r.end;
                    wire.extend_from_slice(&out[r.clone()]);
                }
                Part::Slice(id) => {
                    slice_ids.push(*id);
                    wire.extend_from_slice(&slices[*id]);
                }
            }
        }
        assert_eq!(
            next,
            out.len(),
            "v{v}: header ranges cover the appended bytes"
        );
        let expected_ids: Vec<usize> = reply
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .flat_map(|p| p.records.iter().map(|s| s.slice_id))
            .collect();
        assert_eq!(slice_ids, expected_ids, "v{v}: every slice once, in order");

        // Size prefix: header bytes after it plus every slice.
        let slice_bytes: usize = slices.iter().map(Bytes::len).sum();
        let size = i32::from_be_bytes(out[start..start + 4].try_into().unwrap());
        assert_eq!(size as usize, out.len() - start - 4 + slice_bytes, "v{v}");
        assert_eq!(size as usize, wire.len() - 4, "v{v}");
        wire
    }

    #[test]
    fn framer_matches_the_definition_on_random_replies() {
        for v in VERSIONS {
            for case in 0..CASES_PER_VERSION {
                let g = &mut Rng::new(0x5f_f3a3e ^ ((v as u64) << 32) ^ case);
                let response = ShareFetchResponse::random(g, ShareFetchResponse::cx(v));
                let (reply, slices) = reply_of(&response, g);
                let corr = g.next_u64() as i32;
                let wire = frame_and_send(&reply, &slices, v, corr);
                assert_eq!(
                    wire,
                    reference_frame(corr, v, &response),
                    "v{v} case {case}: framer differs from the definition"
                );
            }
        }
    }

    #[test]
    fn a_client_reads_the_framed_records_back() {
        let slices = [
            Bytes::from_static(b"first batch"),
            Bytes::from_static(b"second"),
        ];
        let slice = |id: usize| RecordSlice {
            slice_id: id,
            len: slices[id].len() as u32,
        };
        let acquired = ShareAcquiredRecords {
            first_offset: 10,
            last_offset: 14,
            delivery_count: 2,
        };
        let reply = ShareFetchReply {
            acquisition_lock_timeout_ms: 30_000,
            topics: vec![ShareFetchReplyTopic {
                topic_id: Uuid::from_u128(7),
                partitions: vec![
                    ShareFetchReplyPartition {
                        partition_index: 0,
                        current_leader: ShareLeaderIdAndEpoch {
                            leader_id: 1,
                            leader_epoch: 0,
                        },
                        records: vec![slice(0), slice(1)],
                        acquired_records: vec![acquired.clone()],
                        ..Default::default()
                    },
                    ShareFetchReplyPartition {
                        partition_index: 1,
                        acknowledge_error_code: crate::error::INVALID_REQUEST,
                        acknowledge_error_message: Some(Str::from("bad ack")),
                        ..Default::default()
                    },
                ],
            }],
            ..Default::default()
        };
        for v in VERSIONS {
            let wire = frame_and_send(&reply, &slices, v, 5);
            let (corr, back) =
                crate::decode_response::<ShareFetchRequest>(Bytes::from(wire).slice(4..), v)
                    .unwrap_or_else(|e| panic!("v{v}: {e}"));
            assert_eq!(corr, 5);
            assert_eq!(back.acquisition_lock_timeout_ms, 30_000);
            let partitions = &back.responses[0].partitions;
            assert_eq!(&partitions[0].records[..], b"first batchsecond", "v{v}");
            assert_eq!(partitions[0].acquired_records, vec![acquired.clone()]);
            // No records: an empty field (compact length 1), not null.
            assert!(partitions[1].records.is_empty(), "v{v}");
            assert_eq!(
                partitions[1].acknowledge_error_code,
                crate::error::INVALID_REQUEST
            );
        }
    }

    #[test]
    fn empty_reply_is_one_header_part() {
        for v in VERSIONS {
            let mut out = BytesMut::new();
            let parts =
                frame_share_fetch_response(1, v, &ShareFetchReply::default(), &mut out).unwrap();
            assert_eq!(parts, vec![Part::Header(0..out.len())], "v{v}");
            assert_eq!(
                &out[..],
                &reference_frame(1, v, &ShareFetchResponse::default())[..],
                "v{v}"
            );
        }
    }

    /// A partition without records is framed without a slice and as an empty records field,
    /// byte for byte what the definition writes.
    #[test]
    fn partitions_without_records_have_no_slices() {
        let response = ShareFetchResponse {
            responses: vec![ShareFetchableTopicResponse {
                topic_id: Uuid::from_u128(1),
                partitions: vec![ShareFetchPartitionData::default(); 3],
            }],
            ..Default::default()
        };
        for v in VERSIONS {
            let (reply, slices) = reply_of(&response, &mut Rng::new(1));
            assert!(slices.is_empty());
            let mut out = BytesMut::new();
            let parts = frame_share_fetch_response(9, v, &reply, &mut out).unwrap();
            assert_eq!(parts, vec![Part::Header(0..out.len())]);
            assert_eq!(&out[..], &reference_frame(9, v, &response)[..], "v{v}");
        }
    }

    #[test]
    fn errors_leave_out_untouched() {
        let mut out = BytesMut::from(&b"keep"[..]);
        for v in [0, 3, -1] {
            assert_eq!(
                frame_share_fetch_response(1, v, &ShareFetchReply::default(), &mut out),
                Err(FetchFrameError::UnsupportedVersion {
                    api_key: ApiKey::ShareFetch,
                    api_version: v
                })
            );
        }
        let huge = |id| RecordSlice {
            slice_id: id,
            len: 1 << 30,
        };
        let part = |i, records| ShareFetchReplyPartition {
            partition_index: i,
            records,
            ..Default::default()
        };
        let reply_of_parts = |partitions| ShareFetchReply {
            topics: vec![ShareFetchReplyTopic {
                topic_id: Uuid::nil(),
                partitions,
            }],
            ..Default::default()
        };
        assert!(matches!(
            frame_share_fetch_response(
                1,
                1,
                &reply_of_parts(vec![part(4, vec![huge(0), huge(1)])]),
                &mut out
            ),
            Err(FetchFrameError::RecordsTooLarge {
                partition_index: 4,
                ..
            })
        ));
        assert!(matches!(
            frame_share_fetch_response(
                1,
                2,
                &reply_of_parts(vec![part(0, vec![huge(0)]), part(1, vec![huge(1)])]),
                &mut out
            ),
            Err(FetchFrameError::FrameTooLarge { .. })
        ));
        let long = Str::from("m".repeat(STRING_BYTES_MAX + 1));
        let long_message = ShareFetchReply {
            error_message: Some(long.clone()),
            ..Default::default()
        };
        let long_ack_message = reply_of_parts(vec![ShareFetchReplyPartition {
            acknowledge_error_message: Some(long.clone()),
            ..Default::default()
        }]);
        let long_host = ShareFetchReply {
            node_endpoints: vec![ShareNodeEndpoint {
                host: long,
                ..Default::default()
            }],
            ..Default::default()
        };
        for (reply, field) in [
            (long_message, "error_message"),
            (long_ack_message, "acknowledge_error_message"),
            (long_host, "node_endpoints host"),
        ] {
            assert_eq!(
                frame_share_fetch_response(1, 2, &reply, &mut out),
                Err(FetchFrameError::StringTooLong {
                    field,
                    string_bytes: STRING_BYTES_MAX + 1
                })
            );
        }
        assert_eq!(&out[..], b"keep");
    }

    /// The longest string Kafka allows is framed, and read back.
    #[test]
    fn strings_up_to_the_limit_are_framed() {
        let reply = ShareFetchReply {
            error_message: Some(Str::from("e".repeat(STRING_BYTES_MAX))),
            ..Default::default()
        };
        let mut out = BytesMut::new();
        frame_share_fetch_response(1, 1, &reply, &mut out).unwrap();
        let frame = out.freeze();
        assert_eq!(
            Reader::new(frame.clone()).i32().unwrap() as usize,
            frame.len() - 4
        );
        let (_, back) = crate::decode_response::<ShareFetchRequest>(frame.slice(4..), 1).unwrap();
        assert_eq!(back.error_message, reply.error_message);
    }
}
