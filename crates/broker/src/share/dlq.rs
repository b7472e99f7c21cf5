//! Dead-letter topics of share groups (KIP-1191, as Kafka 4.4 implements it), exactly once.
//!
//! A record REJECTed, or archived because its delivery count reached the limit, is copied to
//! the group's dead-letter topic (group config `errors.deadletterqueue.topic.name`) when that
//! topic is valid: its name does not start with `__`, starts with the broker's
//! `errors.deadletterqueue.topic.name.prefix` (default `dlq.`; empty lifts the rule), and the
//! topic exists with `errors.deadletterqueue.group.enable=true`, or is missing and the broker
//! has `errors.deadletterqueue.auto.create.topics.enable=true` (it is then created with that
//! config). Otherwise the record is archived without a copy and the reason is logged, as Kafka
//! does.
//!
//! The copy, as Kafka writes it: one record per offset, in partition
//! `source partition % dead-letter partitions`, timestamp = the time of the copy (CreateTime),
//! uncompressed, key and value copied only with `errors.deadletterqueue.copy.record.enable=true`
//! (else null), and the headers `__dlq.errors.topic`, `__dlq.errors.partition`,
//! `__dlq.errors.offset`, `__dlq.errors.group`, `__dlq.errors.delivery.count` (decimal text) and
//! `__dlq.errors.message` ("Offset rejected by client." or "Offset delivery count exceeded the
//! threshold.").
//!
//! Exactly once (Kafka's copy is at-least-once at best: a plain produce, retried): when records
//! are archived, the same durable share-state write that archives them records the copy to make
//! ([`super::partition::PendingDlq`]) with the dead-letter partition and the idempotent sequence
//! it will carry, under this shard's own producer id ([`producer_id`], above every id the
//! broker hands out). The shard's writer task appends pending copies in sequence order and then
//! forgets them (one more share-state write). After a crash, a pending copy whose last sequence
//! is at or below the dead-letter partition's last sequence for that producer had landed and is
//! only forgotten; the others are appended again, and the partition's idempotence check drops
//! any duplicate. Sequences of one dead-letter partition are handed out by one shard in order
//! and never reused (sequence space wraps after 2^31 copies per partition and shard; not
//! handled).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::partition::{ArchiveReason, Archived, PendingDlq};
use super::PartKey;
use crate::shard::ShardState;
use crate::storage::batch::validate_buffer;
use crate::storage::producer::seq_add;
use crate::storage::records::{decode_batch_records, encode_batch, BatchMeta, Compression, Record};

/// Header: the source topic.
pub const HEADER_TOPIC: &str = "__dlq.errors.topic";
/// Header: the source partition.
pub const HEADER_PARTITION: &str = "__dlq.errors.partition";
/// Header: the source offset.
pub const HEADER_OFFSET: &str = "__dlq.errors.offset";
/// Header: the share group.
pub const HEADER_GROUP: &str = "__dlq.errors.group";
/// Header: the delivery count at archiving.
pub const HEADER_DELIVERY_COUNT: &str = "__dlq.errors.delivery.count";
/// Header: why the record was archived.
pub const HEADER_MESSAGE: &str = "__dlq.errors.message";
/// `__dlq.errors.message` of a rejected record (Kafka's text).
pub const MESSAGE_REJECTED: &str = "Offset rejected by client.";
/// `__dlq.errors.message` of a record that reached the delivery limit (Kafka's text).
pub const MESSAGE_DELIVERY_LIMIT: &str = "Offset delivery count exceeded the threshold.";
/// The topic config that lets a topic receive dead-letter copies.
pub const TOPIC_ENABLE: &str = "errors.deadletterqueue.group.enable";
/// Records per copy batch (a longer archived range becomes several pending copies).
pub const BATCH_RECORDS_MAX: i64 = 500;
/// Bytes of source records read per copy (records larger than this are copied without key
/// and value, as if missing).
pub const SOURCE_READ_BYTES_MAX: u64 = 8 << 20;
/// Pause before a failed copy is tried again.
pub const RETRY_MS: u64 = 1_000;

/// The idempotent producer id of shard `shard`'s dead-letter copies: above every id the
/// broker hands out (Produce refuses those), and apart from the timer's ids
/// ([`crate::delay::timer::rounds_producer_id`] uses `i64::MAX - 2 * shard` and the one below).
pub fn producer_id(shard: usize) -> i64 {
    i64::MAX - (1 << 20) - shard as i64
}

/// A group's valid dead-letter topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The topic.
    pub topic: String,
    /// Its partition count.
    pub partitions: i32,
    /// `errors.deadletterqueue.copy.record.enable`.
    pub copy_record: bool,
}

/// The group's dead-letter topic if its configuration is valid (creating the topic when it is
/// missing and the broker allows it); `None` with the reason logged otherwise, or when none is
/// configured.
pub async fn target(
    shard: &Rc<ShardState>,
    group: &str,
    configs: &super::config::GroupConfigs,
) -> Option<Target> {
    let topic = configs.dlq_topic.clone()?;
    let copy_record = configs.dlq_copy_record.unwrap_or(false);
    let broker = &shard.config.share;
    let refuse = |why: String| {
        tracing::warn!("share group {group}: no dead-letter copy: {why}");
        None
    };
    if topic.starts_with("__") {
        return refuse(format!(
            "Configured DLQ topic name in share group: {group} cannot start with __, topic: {topic}."
        ));
    }
    let prefix = &broker.dlq_topic_name_prefix;
    if !prefix.is_empty() && !topic.starts_with(prefix.as_str()) {
        return refuse(format!(
            "Configured DLQ topic name does not comply with the DLQ topic prefix in share group: \
             {group}, topic: {topic}, prefix: {prefix}."
        ));
    }
    let known = shard
        .catalog
        .borrow()
        .get(&topic)
        .map(|m| (m.partitions, m.configs.dlq_enable));
    match known {
        Some((partitions, true)) => Some(Target {
            topic,
            partitions,
            copy_record,
        }),
        Some((_, false)) => refuse(format!(
            "DLQ is not enabled on configured DLQ topic for share group: {group}, topic: {topic}."
        )),
        None if !broker.dlq_auto_create_topics => refuse(format!(
            "DLQ topic does not exist and auto create is disabled on cluster for share group: \
             {group}, topic: {topic}."
        )),
        None => {
            let configs = crate::topic_config::TopicConfigs {
                dlq_enable: true,
                ..Default::default()
            };
            let partitions = shard.config.default_partitions();
            match shard
                .create_topic(topic.clone(), partitions, configs, false)
                .await
            {
                Ok(()) | Err(crate::error::BrokerError::TopicExists { .. }) => {}
                Err(e) => return refuse(format!("creating DLQ topic {topic} failed: {e}")),
            }
            let partitions = shard.catalog.borrow().get(&topic).map(|m| m.partitions)?;
            Some(Target {
                topic,
                partitions,
                copy_record,
            })
        }
    }
}

/// Plans the copies of `archived` records of share-partition `key` (on its owner): each range
/// cut into batches of at most [`BATCH_RECORDS_MAX`], each given the next sequences of its
/// dead-letter partition.
pub async fn plan(
    shard: &Rc<ShardState>,
    key: &PartKey,
    archived: &[Archived],
    target: &Target,
) -> Result<Vec<PendingDlq>, crate::error::BrokerError> {
    let partition = key.2 % target.partitions.max(1);
    let next = next_sequence(shard, &target.topic, partition).await?;
    let mut seq = next;
    let mut out = Vec::new();
    for a in archived {
        let mut first = a.first;
        while first <= a.last {
            let last = a.last.min(first + BATCH_RECORDS_MAX - 1);
            out.push(PendingDlq {
                first,
                last,
                delivery_count: a.delivery_count,
                reason: a.reason,
                topic: target.topic.clone(),
                partition,
                base_sequence: seq,
                copy_record: target.copy_record,
            });
            seq = seq_add(seq, last - first + 1);
            first = last + 1;
        }
    }
    shard
        .shares
        .dlq_next
        .borrow_mut()
        .insert((target.topic.clone(), partition), seq);
    Ok(out)
}

/// The next sequence to hand out for `topic`-`partition`: known after the first use, else the
/// partition's last sequence for this shard's producer, moved past every pending copy.
async fn next_sequence(
    shard: &Rc<ShardState>,
    topic: &str,
    partition: i32,
) -> Result<i32, crate::error::BrokerError> {
    let k = (topic.to_string(), partition);
    if let Some(&n) = shard.shares.dlq_next.borrow().get(&k) {
        return Ok(n);
    }
    let last = last_sequence(shard, topic, partition).await?;
    let mut next = last.map_or(0, |l| seq_add(l, 1));
    for p in shard.shares.all_pending() {
        if p.1.topic == topic && p.1.partition == partition {
            let end = seq_add(p.1.base_sequence, p.1.last - p.1.first + 1);
            if end > next {
                next = end;
            }
        }
    }
    // Another task may have set it while this one waited: the larger one wins.
    let mut map = shard.shares.dlq_next.borrow_mut();
    let n = map.entry(k).or_insert(next);
    *n = (*n).max(next);
    Ok(*n)
}

/// The last sequence the dead-letter partition holds from this shard's producer.
async fn last_sequence(
    shard: &Rc<ShardState>,
    topic: &str,
    partition: i32,
) -> Result<Option<i32>, crate::error::BrokerError> {
    let pid = producer_id(shard.id);
    let owner = shard.owner(topic, partition);
    let t = topic.to_string();
    shard
        .call(owner, move |s| async move {
            s.engine
                .log(&t, partition)
                .map(|log| log.producer_last(pid).map(|(_, seq)| seq))
                .map_err(crate::error::BrokerError::Storage)
        })
        .await
        .unwrap_or(Err(crate::error::BrokerError::ShardUnavailable {
            shard: owner,
            op: "dead-letter sequence",
        }))
}

/// Builds one copy batch: a record per offset of `p`, with Kafka's headers.
async fn build(
    shard: &Rc<ShardState>,
    key: &PartKey,
    p: &PendingDlq,
    copy_record: bool,
) -> Vec<u8> {
    let (group, topic, source_partition) = key;
    let source = if copy_record {
        source_records(shard, topic, *source_partition, p.first, p.last).await
    } else {
        HashMap::new()
    };
    let message = match p.reason {
        ArchiveReason::Rejected => MESSAGE_REJECTED,
        ArchiveReason::DeliveryLimit => MESSAGE_DELIVERY_LIMIT,
    };
    let h = |k: &str, v: String| (Bytes::from(k.to_string()), Some(Bytes::from(v)));
    let records: Vec<Record> = (p.first..=p.last)
        .enumerate()
        .map(|(i, offset)| {
            let (key, value) = source.get(&offset).cloned().unwrap_or((None, None));
            Record {
                offset_delta: i as i32,
                timestamp_delta: 0,
                key,
                value,
                headers: vec![
                    h(HEADER_TOPIC, topic.to_string()),
                    h(HEADER_PARTITION, source_partition.to_string()),
                    h(HEADER_OFFSET, offset.to_string()),
                    h(HEADER_GROUP, group.clone()),
                    h(HEADER_DELIVERY_COUNT, p.delivery_count.to_string()),
                    h(HEADER_MESSAGE, message.to_string()),
                ],
            }
        })
        .collect();
    let meta = BatchMeta {
        base_timestamp: crate::storage::log::now_ms(),
        producer_id: producer_id(shard.id),
        producer_epoch: 0,
        base_sequence: p.base_sequence,
        ..BatchMeta::default()
    };
    let mut out = Vec::new();
    if let Err(e) = encode_batch(&meta, &records, Compression::None, &mut out) {
        // Only a record too long for the format: copy without keys and values.
        tracing::warn!(
            "dead-letter copy of {topic}-{source_partition}: {e}; copied without records' data"
        );
        let bare: Vec<Record> = records
            .into_iter()
            .map(|r| Record {
                key: None,
                value: None,
                ..r
            })
            .collect();
        out.clear();
        encode_batch(&meta, &bare, Compression::None, &mut out)
            .expect("headers-only records encode");
    }
    out
}

/// Keys and values of the source records `first..=last` (on their owner: this shard).
async fn source_records(
    shard: &Rc<ShardState>,
    topic: &Arc<str>,
    partition: i32,
    first: i64,
    last: i64,
) -> HashMap<i64, (Option<Bytes>, Option<Bytes>)> {
    let mut out = HashMap::new();
    // A share group on a view (issue #17) reads the view's source.
    let Ok(log) = shard.log_of(topic, partition) else {
        return out;
    };
    let Ok(read) = log
        .read(first.max(log.log_start_offset()), SOURCE_READ_BYTES_MAX)
        .await
    else {
        return out;
    };
    let Ok(bytes) = read.read_to_vec().await else {
        return out;
    };
    let bytes = Bytes::from(bytes);
    let limits = shard.engine.log_config();
    let Ok(batches) = validate_buffer(&bytes, u64::from(limits.batch_bytes_max)) else {
        return out;
    };
    for b in batches {
        let at = b.position as usize;
        let Ok(records) = decode_batch_records(
            &bytes.slice(at..),
            &b.header,
            limits.validation.decompressed_bytes_max,
        ) else {
            continue;
        };
        for r in records {
            let offset = b.header.base_offset + i64::from(r.offset_delta);
            if (first..=last).contains(&offset) {
                out.insert(offset, (r.key, r.value));
            }
        }
    }
    out
}

/// Runs the shard's dead-letter writer until shutdown: woken when copies are planned, and every
/// [`RETRY_MS`] while some are pending.
pub async fn run_writer(shard: Rc<ShardState>) {
    use crate::runtime::future::{select, Either};
    loop {
        if shard.shutting_down.get() {
            return;
        }
        // Registered before the drain: a copy planned while it runs wakes the next pass at
        // once (a notification only reaches waiters that exist when it fires).
        let woken = shard.shares.dlq_wake.notified();
        let pending = shard.shares.all_pending();
        if !pending.is_empty() {
            drain(&shard, pending).await;
        }
        let wait = if shard.shares.all_pending().is_empty() {
            u64::MAX / 4
        } else {
            RETRY_MS
        };
        let tick = crate::runtime::time::sleep(std::time::Duration::from_millis(wait));
        match select(select(tick, woken), shard.shutdown.notified()).await {
            Either::Left(_) => {}
            Either::Right(()) => return,
        }
    }
}

/// A pending copy: its share-partition, the copy, and whether to copy the records' data.
type PendingCopy = (PartKey, PendingDlq, bool);

/// Appends pending copies, per dead-letter partition in sequence order, and forgets the done
/// ones.
async fn drain(shard: &Rc<ShardState>, pending: Vec<PendingCopy>) {
    let mut by_target: HashMap<(String, i32), Vec<PendingCopy>> = HashMap::new();
    for p in pending {
        by_target
            .entry((p.1.topic.clone(), p.1.partition))
            .or_default()
            .push(p);
    }
    let mut done: Vec<(PartKey, PendingDlq)> = Vec::new();
    for ((topic, partition), mut entries) in by_target {
        entries.sort_by_key(|e| e.1.base_sequence);
        let last = match last_sequence(shard, &topic, partition).await {
            Ok(last) => last,
            Err(e) => {
                let exists = shard
                    .catalog
                    .borrow()
                    .get(&topic)
                    .is_some_and(|m| partition < m.partitions);
                if !exists {
                    tracing::warn!(
                        "dead-letter topic {topic}-{partition} is gone: {} copies dropped",
                        entries.len()
                    );
                    done.extend(entries.into_iter().map(|(k, p, _)| (k, p)));
                } else {
                    tracing::warn!("dead-letter copies to {topic}-{partition} wait: {e}");
                }
                continue;
            }
        };
        for (key, p, copy_record) in entries {
            let end = seq_add(p.base_sequence, p.last - p.first);
            if last.is_some_and(|l| end <= l) {
                done.push((key, p));
                continue;
            }
            let batch = build(shard, &key, &p, copy_record).await;
            let appended = match shard
                .start_append(
                    Arc::from(topic.as_str()),
                    partition,
                    Bytes::from(batch),
                    crate::shard::AppendFlags::default(),
                    None,
                )
                .await
            {
                Ok(pending) => pending.outcome().await.map(|_| ()),
                Err(e) => Err(e),
            };
            match appended {
                Ok(()) => done.push((key, p)),
                Err(e) => {
                    tracing::warn!(
                        "dead-letter copy to {topic}-{partition} failed (tried again): {e}"
                    );
                    break;
                }
            }
        }
    }
    if !done.is_empty() {
        shard.shares.forget_pending(&done).await;
    }
}
