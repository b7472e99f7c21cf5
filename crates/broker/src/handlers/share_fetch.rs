//! ShareFetch (key 78, KIP-932): a share-group member acknowledges what it processed and
//! acquires more, in its share session (`share::serve`). The answer is framed by hand like a
//! Fetch: the stored batches go from the segment files to the socket untouched (the same
//! transfer paths), with the acquired offset ranges and their delivery counts beside them; the
//! client keeps only the acquired records of each batch.
//!
//! Partitions in the answer: those named in the request (they carry acknowledgement results),
//! and the session's others that acquired records or failed.

use std::rc::Rc;

use bytes::BytesMut;

use super::authorize;
use crate::acl::{Access, Operation};
use crate::config::FETCH_WAIT_MS_MAX;
use crate::error::code_of;
use crate::protocol::fetch::{FetchFrameError, Part, RecordSlice};
use crate::protocol::messages::{
    ShareAcquiredRecords, ShareFetchRequest, ShareFetchTopic, ShareLeaderIdAndEpoch,
};
use crate::protocol::share_fetch_frame::{
    frame_share_fetch_response, ShareFetchReply, ShareFetchReplyPartition, ShareFetchReplyTopic,
};
use crate::protocol::wire::Str;
use crate::protocol::RequestHeader;
use crate::shard::ShardState;
use crate::share::group::codes;
use crate::share::{self, FetchLimits, Wanted};
use crate::transfer::Piece;

/// `max_records` when the request has none (v0 had none; every served version has it).
pub const MAX_RECORDS_DEFAULT: i64 = 500;
/// `ShareAcquireMode` BATCH_OPTIMIZED (KIP-1206): `max_records` is a soft limit, acquisition
/// ends with the last batch read.
pub const SHARE_ACQUIRE_BATCH_OPTIMIZED: i8 = 0;
/// `ShareAcquireMode` RECORD_LIMIT: at most `max_records` records are acquired.
pub const SHARE_ACQUIRE_RECORD_LIMIT: i8 = 1;

/// Answer a ShareFetch request with the pieces of the framed response.
///
/// A group `access` may not READ refuses the request (GROUP_AUTHORIZATION_FAILED); the
/// partitions of a topic it may not READ are answered TOPIC_AUTHORIZATION_FAILED (their
/// acknowledgements are not applied).
pub async fn handle(
    shard: &Rc<ShardState>,
    access: &Access,
    connection: &share::ConnectionShares,
    header: &RequestHeader,
    mut req: ShareFetchRequest,
) -> Result<Vec<Piece>, FetchFrameError> {
    let refused_topics = authorize::share_fetch_refused_topics(shard, access, &req);
    let refused_topics: Vec<ShareFetchTopic> = if refused_topics.is_empty() {
        Vec::new()
    } else {
        let (refused, kept) = std::mem::take(&mut req.topics)
            .into_iter()
            .partition(|t| refused_topics.contains(&t.topic_id));
        req.topics = kept;
        refused
    };
    let reply = match (req.group_id.as_ref(), req.member_id.as_ref()) {
        (Some(group), _) if !group.is_empty() && !access.group(Operation::Read, group) => {
            Err(refused(
                crate::protocol::error::GROUP_AUTHORIZATION_FAILED,
                "Not authorized to access group",
            ))
        }
        (Some(group), Some(member)) if !group.is_empty() && !member.is_empty() => serve(
            shard,
            connection,
            group.to_string(),
            member.to_string(),
            &req,
        )
        .await
        .map(|(mut reply, ranges)| {
            reply.topics.extend(refused_topics.into_iter().map(|t| {
                ShareFetchReplyTopic {
                    topic_id: t.topic_id,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| ShareFetchReplyPartition {
                            partition_index: p.partition_index,
                            error_code: crate::protocol::error::TOPIC_AUTHORIZATION_FAILED,
                            ..Default::default()
                        })
                        .collect(),
                }
            }));
            (reply, ranges)
        }),
        _ => Err(refused(
            codes::INVALID_REQUEST,
            "GroupId and MemberId must be set",
        )),
    };
    let (reply, ranges) = match reply {
        Ok(r) => r,
        Err(r) => (r, Vec::new()),
    };
    let mut head = BytesMut::with_capacity(256);
    let parts =
        frame_share_fetch_response(header.correlation_id, header.api_version, &reply, &mut head)?;
    let head = head.freeze();
    let mut ranges: Vec<Option<Piece>> = ranges.into_iter().map(Some).collect();
    Ok(parts
        .into_iter()
        .map(|part| match part {
            Part::Header(r) => Piece::Bytes(head.slice(r)),
            Part::Slice(id) => ranges[id].take().expect("each slice sent once"),
        })
        .collect())
}

fn refused(code: i16, message: &str) -> ShareFetchReply {
    ShareFetchReply {
        error_code: code,
        error_message: Some(Str::from(message)),
        ..Default::default()
    }
}

async fn serve(
    shard: &Rc<ShardState>,
    connection: &share::ConnectionShares,
    group: String,
    member: String,
    req: &ShareFetchRequest,
) -> Result<(ShareFetchReply, Vec<Piece>), ShareFetchReply> {
    // KIP-1206: 0 batch_optimized (v1's behaviour and the Java client's default), 1 record_limit.
    let whole_batches = match req.share_acquire_mode {
        SHARE_ACQUIRE_BATCH_OPTIMIZED => true,
        SHARE_ACQUIRE_RECORD_LIMIT => false,
        other => {
            return Err(refused(
                codes::INVALID_REQUEST,
                &format!("Unknown share acquire mode {other}"),
            ))
        }
    };
    let wanted: Vec<Wanted> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                Wanted::new(t.topic_id, p.partition_index, &p.acknowledgement_batches)
            })
        })
        .collect();
    let named: Vec<(uuid::Uuid, i32)> = wanted.iter().map(|w| (w.topic_id, w.partition)).collect();
    let forgotten = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
        .collect();
    let max_bytes = if req.max_bytes > 0 {
        req.max_bytes as u64
    } else {
        i32::MAX as u64
    }
    .min(u64::from(shard.config.fetch_max_bytes));
    let limits = FetchLimits {
        max_records: if req.max_records > 0 {
            i64::from(req.max_records)
        } else {
            MAX_RECORDS_DEFAULT
        },
        max_bytes,
        whole_batches,
        min_bytes: req.min_bytes.max(0) as u64,
        connection: connection.id.get(),
        max_wait: std::time::Duration::from_millis(
            (req.max_wait_ms.max(0) as u64).min(FETCH_WAIT_MS_MAX),
        ),
    };
    // Only a session's first request is remembered by the connection (no copies per fetch).
    let opening = (req.share_session_epoch == 0).then(|| (group.clone(), member.clone()));
    let served = share::serve(
        shard,
        group,
        member,
        req.share_session_epoch,
        wanted,
        forgotten,
        Some(limits),
    )
    .await
    .map_err(|r| refused(r.code, &r.message))?;
    if let Some((group, member)) = &opening {
        // Ended, with its member's records released, when this connection closes.
        connection.opened(group, member);
    }
    let mut reply = ShareFetchReply {
        acquisition_lock_timeout_ms: served.lock_ms as i32,
        ..Default::default()
    };
    let mut ranges: Vec<Piece> = Vec::new();
    for (topic_id, partition, outcome) in served.parts {
        let mut p = ShareFetchReplyPartition {
            partition_index: partition,
            current_leader: ShareLeaderIdAndEpoch {
                leader_id: 0,
                leader_epoch: 0,
            },
            ..Default::default()
        };
        let mut keep = named.contains(&(topic_id, partition));
        match outcome {
            Err(e) => {
                p.error_code = code_of(Some(&e));
                p.error_message = Some(Str::from(e.to_string()));
                keep = true;
            }
            Ok(o) => {
                if let Some((code, message)) = o.ack_error {
                    p.acknowledge_error_code = code;
                    p.acknowledge_error_message = Some(Str::from(message));
                }
                if let Some(e) = o.fetch_error {
                    p.error_code = code_of(Some(&e));
                    p.error_message = Some(Str::from(e.to_string()));
                    keep = true;
                }
                if let Some(read) = o.read {
                    // Acquired records are always sent: each owner read at most its share of
                    // the response's bytes (`share::serve` divides `max_bytes`), at least one
                    // batch (KIP-74).
                    let read = read.into_local();
                    for range in read.ranges {
                        p.records.push(RecordSlice {
                            slice_id: ranges.len(),
                            len: range.len() as u32,
                        });
                        ranges.push(range);
                    }
                    p.acquired_records = o
                        .acquired
                        .iter()
                        .map(|a| ShareAcquiredRecords {
                            first_offset: a.first,
                            last_offset: a.last,
                            delivery_count: a.delivery_count as i16,
                        })
                        .collect();
                    keep = true;
                }
            }
        }
        if !keep {
            continue;
        }
        match reply.topics.iter_mut().find(|t| t.topic_id == topic_id) {
            Some(t) => t.partitions.push(p),
            None => reply.topics.push(ShareFetchReplyTopic {
                topic_id,
                partitions: vec![p],
            }),
        }
    }
    Ok((reply, ranges))
}
