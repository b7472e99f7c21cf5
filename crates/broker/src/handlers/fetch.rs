//! Fetch (key 1): read whole batches from each partition's owner, long-poll until `min_bytes`
//! or `max_wait_ms`, and frame the response by hand so the record bytes go from the segment
//! files straight to the socket (see `transfer`).
//!
//! Limits, as Kafka applies them (KIP-74): each partition returns at most `partition_max_bytes`
//! but at least one whole batch; the response holds at most `max_bytes`, except that the first
//! partition with data is always returned whole. A later partition that does not fit is returned
//! without records (with its high watermark), to be fetched next time.
//!
//! No incremental fetch sessions (KIP-227): every response carries session id 0, which tells the
//! client no session was created, so it keeps sending full requests.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::acl::{Access, Operation};
use crate::config::FETCH_WAIT_MS_MAX;
use crate::error::{code_of, BrokerError};
use crate::protocol::fetch::{
    frame_fetch_response, FetchFrameError, FetchReply, FetchReplyPartition, FetchReplyTopic, Part,
    RecordSlice,
};
use crate::protocol::messages::{FetchRequest, FetchTopic};
use crate::protocol::wire::Str;
use crate::protocol::RequestHeader;
use crate::shard::{PartitionRead, ReadReq, ShardState};
use crate::transfer::Piece;

/// One partition asked for, checked against the catalog.
struct Wanted {
    /// The topic to read, or the error to answer without reading.
    topic: Result<Arc<str>, BrokerError>,
    partition: i32,
    offset: i64,
    max_bytes: u64,
}

/// One topic asked for: the name and id to answer with, and its partitions.
struct WantedTopic {
    name: Str,
    topic_id: uuid::Uuid,
    partitions: Vec<Wanted>,
}

/// Answer a Fetch request with the pieces of the framed response.
/// A topic `access` may not READ is answered TOPIC_AUTHORIZATION_FAILED on each partition.
pub async fn handle(
    shard: &Rc<ShardState>,
    access: &Access,
    header: &RequestHeader,
    req: FetchRequest,
    quota: Option<&crate::quota::rate::Enforcer<'_>>,
) -> Result<Vec<Piece>, FetchFrameError> {
    let version = header.api_version;
    let by_id = FetchTopic::carries("topic_id", version);
    let mut topics: Vec<WantedTopic> = req
        .topics
        .iter()
        .map(|t| wanted(shard, access, by_id, t))
        .collect();
    dedupe(&mut topics);
    // `max_bytes` decodes as i32::MAX at versions without it (v0-2); the broker's
    // `fetch.max.bytes` caps it whatever the client asks, as Kafka does. No partition reads more
    // than the whole response may hold (but always its first batch, KIP-74).
    let max_bytes = if req.max_bytes > 0 {
        req.max_bytes as u64
    } else {
        i32::MAX as u64
    }
    .min(u64::from(shard.config.fetch_max_bytes));
    // READ_COMMITTED (v4+): below the last stable offset, with the aborted transactions.
    let read_committed = req.isolation_level == 1;
    let reads: Vec<ReadReq> = topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|w| Some((w, w.topic.as_ref().ok()?)))
        .map(|(w, topic)| ReadReq {
            topic: topic.clone(),
            partition: w.partition,
            offset: w.offset,
            max_bytes: w.max_bytes.clamp(1, max_bytes),
            last_wanted: i64::MAX,
            read_committed,
        })
        .collect();
    let min_bytes = req.min_bytes.max(0) as u64;
    let max_wait = Duration::from_millis((req.max_wait_ms.max(0) as u64).min(FETCH_WAIT_MS_MAX));
    let results = read_until_ready(shard, reads, min_bytes, Instant::now() + max_wait).await;
    let (reply, mut ranges) = assemble(topics, results, max_bytes);

    let mut head = BytesMut::with_capacity(256);
    let mut parts = frame_fetch_response(header.correlation_id, version, &reply, &mut head)?;
    if let Some(quota) = quota {
        // Kafka's fetch quota: the response's bytes are recorded; over the quota the client
        // gets an empty response with the throttle time instead, and the bytes are taken back.
        let bytes = (head.len() as u64 + ranges.iter().map(Piece::len).sum::<u64>()) as f64;
        let throttle_ms = quota.record(crate::quota::Measured::Fetch, bytes);
        if throttle_ms > 0 {
            quota.unrecord(crate::quota::Measured::Fetch, bytes);
            let empty = crate::protocol::fetch::FetchReply {
                throttle_time_ms: i32::try_from(throttle_ms).unwrap_or(i32::MAX),
                session_id: reply.session_id,
                ..Default::default()
            };
            head.clear();
            ranges.clear();
            parts = frame_fetch_response(header.correlation_id, version, &empty, &mut head)?;
        }
    }
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

/// Collapses partitions named more than once (in one topic entry or in repeated entries of the
/// same topic) into one, as Kafka's broker does (it keys a fetch by topic-partition): the first
/// occurrence keeps its place and takes the last occurrence's offset and size. Topics left with
/// no partitions are dropped. So a request naming one partition 2,000 times reads it once.
fn dedupe(topics: &mut Vec<WantedTopic>) {
    let mut first: std::collections::HashMap<(Str, uuid::Uuid, i32), (usize, usize)> =
        std::collections::HashMap::new();
    let mut duplicates = false;
    for (ti, topic) in topics.iter().enumerate() {
        for (pi, w) in topic.partitions.iter().enumerate() {
            let key = (topic.name.clone(), topic.topic_id, w.partition);
            if first.insert(key, (ti, pi)).is_some() {
                duplicates = true;
            }
        }
    }
    if !duplicates {
        return;
    }
    // `first` now maps each key to its LAST occurrence; walk in order, keep the first one and
    // give it the last one's request.
    let mut kept: std::collections::HashSet<(Str, uuid::Uuid, i32)> =
        std::collections::HashSet::new();
    let mut last_values: Vec<Vec<Option<(i64, u64)>>> = topics
        .iter()
        .map(|t| {
            t.partitions
                .iter()
                .map(|w| Some((w.offset, w.max_bytes)))
                .collect()
        })
        .collect();
    let mut emptied = vec![false; topics.len()];
    for (ti, topic) in topics.iter_mut().enumerate() {
        let name = topic.name.clone();
        let id = topic.topic_id;
        let had_partitions = !topic.partitions.is_empty();
        topic.partitions.retain_mut(|w| {
            let key = (name.clone(), id, w.partition);
            if !kept.insert(key.clone()) {
                return false;
            }
            let (lt, lp) = first[&key];
            if let Some((offset, max_bytes)) = last_values[lt][lp].take() {
                w.offset = offset;
                w.max_bytes = max_bytes;
            }
            true
        });
        emptied[ti] = had_partitions && topic.partitions.is_empty();
    }
    let mut index = 0;
    topics.retain(|_| {
        index += 1;
        !emptied[index - 1]
    });
}

/// Checks one requested topic (by id if `by_id`, else by name) and its partitions.
fn wanted(shard: &ShardState, access: &Access, by_id: bool, t: &FetchTopic) -> WantedTopic {
    let resolved: Option<(Arc<str>, i32)> = {
        let catalog = shard.catalog.borrow();
        let name = if by_id {
            catalog.name_of(t.topic_id)
        } else {
            Some(&*t.topic)
        };
        name.and_then(|n| catalog.get(n).map(|m| (Arc::from(n), m.partitions)))
    };
    let partitions = t
        .partitions
        .iter()
        .map(|p| {
            let topic = match &resolved {
                // Checked before existence, so a refused topic's partitions do not leak.
                Some((name, _)) if !access.topic(Operation::Read, name) => {
                    Err(BrokerError::TopicAuthorizationFailed {
                        topic: name.to_string(),
                    })
                }
                None if !by_id && !access.topic(Operation::Read, &t.topic) => {
                    Err(BrokerError::TopicAuthorizationFailed {
                        topic: t.topic.to_string(),
                    })
                }
                Some((name, n)) if p.partition >= 0 && p.partition < *n => {
                    if p.partition_max_bytes < 0 {
                        Err(BrokerError::InvalidFetchSize {
                            topic: name.to_string(),
                            partition: p.partition,
                            max_bytes: p.partition_max_bytes,
                        })
                    } else {
                        Ok(name.clone())
                    }
                }
                Some((name, _)) => Err(BrokerError::UnknownPartition {
                    topic: name.to_string(),
                    partition: p.partition,
                }),
                None if by_id => Err(BrokerError::UnknownTopicId { id: t.topic_id }),
                None => Err(BrokerError::UnknownPartition {
                    topic: t.topic.to_string(),
                    partition: p.partition,
                }),
            };
            Wanted {
                topic,
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as u64,
            }
        })
        .collect();
    // By name, the request's own string (shares the frame); by id, the catalog's name.
    let name = match &resolved {
        Some((n, _)) if by_id => Str::from(&**n),
        _ => t.topic.clone(),
    };
    WantedTopic {
        name,
        topic_id: t.topic_id,
        partitions,
    }
}

/// Reads `reads` until they hold `min_bytes`, one of them fails, `deadline` passes or the broker
/// shuts down (the long poll), and returns the last read, one result per `reads` entry.
async fn read_until_ready(
    shard: &Rc<ShardState>,
    reads: Vec<ReadReq>,
    min_bytes: u64,
    deadline: Instant,
) -> Vec<PartitionRead> {
    loop {
        let results = shard.read(reads.clone()).await;
        let bytes: u64 = results.iter().map(PartitionRead::bytes).sum();
        let errors = results.iter().any(|r| r.error.is_some());
        let now = Instant::now();
        if reads.is_empty()
            || bytes >= min_bytes
            || errors
            || now >= deadline
            || shard.shutting_down.get()
        {
            return results;
        }
        // Not enough yet: let go of the files this pass holds while waiting (they count in the
        // broker's budget of files held by fetches), and wait for the next append past the high
        // watermark each read saw: what lies below it was read (or, READ_COMMITTED, is not
        // readable until a marker, itself an append, moves the last stable offset). Waiting
        // only past the fetch offset ended at once while the data there fell short of
        // `min_bytes`, and the loop re-read the same bytes until the deadline, holding its shard
        // (found by the chaos test: a fresh connection went unanswered for 10 s on epoll).
        let parts = reads
            .iter()
            .zip(&results)
            .map(|(r, res)| {
                let offset = if res.error.is_none() {
                    r.offset.max(res.high_watermark)
                } else {
                    r.offset
                };
                (r.topic.clone(), r.partition, offset)
            })
            .collect();
        drop(results);
        shard.wait_for_data(parts, deadline - now).await;
        if Instant::now() >= deadline {
            return shard.read(reads).await;
        }
    }
}

/// Builds the reply in request order, applying the response-wide byte limit, and returns it
/// with the record ranges its slices refer to (slice id = index).
fn assemble(
    topics: Vec<WantedTopic>,
    results: Vec<PartitionRead>,
    max_bytes: u64,
) -> (FetchReply, Vec<Piece>) {
    let mut reply = FetchReply::default();
    let mut ranges = Vec::new();
    let mut used = 0u64;
    let mut results = results.into_iter();
    for topic in topics {
        let mut t = FetchReplyTopic {
            name: topic.name,
            topic_id: topic.topic_id,
            partitions: Vec::with_capacity(topic.partitions.len()),
        };
        for w in topic.partitions {
            let mut p = FetchReplyPartition {
                partition_index: w.partition,
                error_code: code_of(w.topic.as_ref().err()),
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                aborted_transactions: None,
                records: Vec::new(),
            };
            if w.topic.is_ok() {
                let r = results.next().expect("one result per read");
                p.error_code = code_of(r.error.as_ref());
                p.high_watermark = r.high_watermark;
                p.last_stable_offset = r.last_stable_offset;
                p.log_start_offset = r.log_start_offset;
                let bytes = r.bytes();
                if used == 0 || used + bytes <= max_bytes {
                    used += bytes;
                    p.aborted_transactions = r.aborted;
                    for range in r.ranges {
                        // Ranges lie inside one segment, whose positions are u32; a rewritten
                        // batch is smaller than the one it came from.
                        debug_assert!(
                            u32::try_from(range.len()).is_ok(),
                            "fetch range of {} bytes",
                            range.len()
                        );
                        p.records.push(RecordSlice {
                            slice_id: ranges.len(),
                            len: range.len() as u32,
                        });
                        ranges.push(range);
                    }
                }
            }
            t.partitions.push(p);
        }
        reply.topics.push(t);
    }
    debug_assert!(
        results.next().is_none(),
        "fetch: more partition reads than partitions to answer"
    );
    (reply, ranges)
}
