//! One client connection: read whole frames, handle requests one at a time, write responses in
//! request order.
//!
//! Like Kafka, a connection has at most one request in progress: the next frame is read only
//! after the previous response was written. That keeps responses in request order by
//! construction, and bounds a connection's memory to one frame (`request_bytes_max`) plus the
//! response being written.
//!
//! # Invariants
//! - The read buffer never holds more than one frame plus [`READ_CHUNK_BYTES`]; a frame whose
//!   size prefix exceeds `request_bytes_max` (or is negative) closes the connection before
//!   anything is allocated for it.
//! - A request that cannot be decoded gets the answer Kafka gives (ApiVersions: the v0
//!   UNSUPPORTED_VERSION reply) or closes the connection with one log line; other connections
//!   are unaffected.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::handlers;
use super::shard::ShardState;
use crate::protocol::frame::{check_frame, split_frame, FrameLimits, FrameStatus};
use crate::protocol::{
    decode_request, encode_response, error, versions, ApiKey, DecodeError, Request, RequestHeader,
    Response,
};
use crate::runtime::future::{select, Either};
use crate::runtime::net::TcpStream;
use crate::transfer::{Piece, Transfer};

/// Read granularity: each recv asks for at least this much room (or the rest of the frame, up to
/// [`READ_GROW_BYTES_MAX`] at a time, so a client that announces a large frame and sends it
/// slowly does not make us allocate it all up front).
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Largest single growth of the read buffer.
pub const READ_GROW_BYTES_MAX: usize = 4 << 20;

/// A response body to encode (boxed: it is large and most outcomes are not).
fn respond(resp: impl Into<Response>) -> Outcome {
    Outcome::Respond(Box::new(resp.into()))
}

enum Outcome {
    Respond(Box<Response>),
    Pieces(Vec<Piece>),
    NoResponse,
    Close(String),
}

/// Serve one connection until the peer closes, an error occurs, or the broker shuts down.
pub async fn serve(shard: Rc<ShardState>, stream: TcpStream, peer: Option<SocketAddr>) {
    let _ = stream.set_nodelay(true);
    let limits = FrameLimits {
        body_bytes_max: shard.config.request_bytes_max,
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut out = BytesMut::with_capacity(4096);
    let mut transfer = Transfer::new(shard.config.transfer, peer);
    loop {
        let Some(frame) = read_frame(&shard, &stream, &mut buf, limits, peer).await else {
            return;
        };
        let (header, outcome) = match decode_request(frame) {
            Ok((header, request)) => {
                let outcome = handle(&shard, &header, request).await;
                (header, outcome)
            }
            Err(DecodeError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                api_version,
                correlation_id,
            }) => {
                tracing::debug!(
                    ?peer,
                    api_version,
                    "ApiVersions version unsupported: answering with v0"
                );
                versions::encode_api_versions_unsupported(correlation_id, &mut out);
                if !send_out(&stream, &mut out).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(?peer, "closing connection: {e}");
                return;
            }
        };
        match outcome {
            Outcome::Respond(resp) => {
                if let Err(e) = encode_response(&header, &resp, &mut out) {
                    tracing::error!(?peer, "closing connection: {e}");
                    return;
                }
                if !send_out(&stream, &mut out).await {
                    return;
                }
            }
            Outcome::Pieces(pieces) => {
                if let Err(e) = transfer.send(&stream, pieces).await {
                    tracing::debug!(?peer, "fetch transfer failed: {e}");
                    return;
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(why) => {
                tracing::warn!(?peer, "closing connection: {why}");
                return;
            }
        }
    }
}

/// Receives into `buf` until it holds a whole frame, and splits that frame off. `None` ends the
/// connection: the peer closed, a receive failed, the size prefix is out of bounds, or the broker
/// is shutting down while the connection is between requests.
async fn read_frame(
    shard: &ShardState,
    stream: &TcpStream,
    buf: &mut BytesMut,
    limits: FrameLimits,
    peer: Option<SocketAddr>,
) -> Option<Bytes> {
    loop {
        match split_frame(buf, limits) {
            Ok(Some(frame)) => return Some(frame),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(?peer, "closing connection: {e}");
                return None;
            }
        }
        let want = match check_frame(buf, limits) {
            Ok(FrameStatus::Incomplete {
                frame_bytes: Some(n),
            }) => n.saturating_sub(buf.len()),
            _ => READ_CHUNK_BYTES,
        };
        let room = buf.capacity() - buf.len();
        if room < READ_CHUNK_BYTES.min(want) || room == 0 {
            buf.reserve(want.clamp(READ_CHUNK_BYTES, READ_GROW_BYTES_MAX));
        }
        let idle = buf.is_empty();
        if idle && shard.shutting_down.get() {
            return None;
        }
        let recv = stream.recv(std::mem::take(buf));
        // Shutdown interrupts only a connection that is between requests.
        let res = if idle {
            match select(recv, shard.shutdown.notified()).await {
                Either::Left(r) => r,
                Either::Right(()) => return None,
            }
        } else {
            recv.await
        };
        let (res, b) = res;
        *buf = b;
        match res {
            Ok(0) => return None, // peer closed
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(?peer, "recv failed: {e}");
                return None;
            }
        }
    }
}

async fn send_out(stream: &TcpStream, out: &mut BytesMut) -> bool {
    let bytes = out.split().freeze();
    let (res, _) = stream.send_all(bytes).await;
    res.is_ok()
}

async fn handle(shard: &Rc<ShardState>, header: &RequestHeader, request: Request) -> Outcome {
    let v = header.api_version;
    match request {
        Request::ApiVersions(r) => respond(handlers::api_versions::handle(&r)),
        Request::Metadata(r) => respond(handlers::metadata::handle(shard, r).await),
        Request::Produce(r) => {
            let acks = r.acks;
            let resp = handlers::produce::handle(shard, r).await;
            let drop_now = shard
                .config
                .fault_drop_after_append
                .fetch_update(
                    std::sync::atomic::Ordering::AcqRel,
                    std::sync::atomic::Ordering::Acquire,
                    |n| n.checked_sub(1),
                )
                .is_ok();
            if drop_now {
                return Outcome::Close(
                    "test fault: dropping the connection after the append".into(),
                );
            }
            if acks == 0 {
                // Kafka answers nothing for acks=0, and closes the connection on an error so the
                // client notices.
                let failed = resp
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .any(|p| p.error_code != error::NONE);
                if failed {
                    Outcome::Close("acks=0 produce failed".into())
                } else {
                    Outcome::NoResponse
                }
            } else {
                respond(resp)
            }
        }
        Request::Fetch(r) => match handlers::fetch::handle(shard, header, *r).await {
            Ok(pieces) => Outcome::Pieces(pieces),
            Err(e) => Outcome::Close(format!("cannot frame fetch response: {e}")),
        },
        Request::ListOffsets(r) => respond(handlers::list_offsets::handle(shard, r).await),
        Request::CreateTopics(r) => respond(handlers::create_topics::handle(shard, r).await),
        Request::DeleteTopics(r) => respond(handlers::delete_topics::handle(shard, r).await),
        // Consumer groups.
        Request::FindCoordinator(r) => respond(handlers::find_coordinator::handle(shard, v, r)),
        Request::JoinGroup(r) => {
            respond(handlers::join_group::handle(shard, v, header.client_id.as_deref(), *r).await)
        }
        Request::SyncGroup(r) => respond(handlers::sync_group::handle(shard, *r).await),
        Request::Heartbeat(r) => respond(handlers::heartbeat::handle(shard, *r).await),
        Request::LeaveGroup(r) => respond(handlers::leave_group::handle(shard, v, *r).await),
        Request::OffsetCommit(r) => respond(handlers::offset_commit::handle(shard, *r).await),
        Request::OffsetFetch(r) => respond(handlers::offset_fetch::handle(shard, v, *r).await),
        Request::DescribeGroups(r) => respond(handlers::describe_groups::handle(shard, r).await),
        Request::ListGroups(r) => respond(handlers::list_groups::handle(shard, r).await),
        Request::DeleteGroups(r) => respond(handlers::delete_groups::handle(shard, r).await),
        Request::InitProducerId(r) => respond(handlers::init_producer_id::handle(shard, r).await),
    }
}
