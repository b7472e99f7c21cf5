//! Produce (key 0): validate acks, route each partition's record batches to the owning shard,
//! answer with base offsets. `acks = 0` gets no response (the connection layer skips it).
//!
//! Every record is validated by the owning shard's log before anything is written
//! (`storage::validate`, as a client's append); a refused partition gets Kafka's code and, at
//! v8+, the records to blame (`record_errors`) and what is wrong (`error_message`). Nothing of a
//! refused partition's records is stored; the other partitions of the request are unaffected.

use std::rc::Rc;
use std::sync::Arc;

use crate::error::BrokerError;
use crate::protocol::messages::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, ProduceRequest, ProduceResponse,
    TopicProduceResponse,
};
use crate::protocol::wire::Str;
use crate::runtime::future::join_all;
use crate::shard::{AppendFlags, AppendResult, PendingAppend, ShardState};

/// A topic's name as received (answered as is, no copy) and its partitions with the error each
/// got before appending (`Ok`: append it).
/// A topic's partitions and their checks, and whether the topic stamps log-append time.
type TopicPlan = (Str, Vec<(i32, Result<(), BrokerError>)>, bool);

/// A Produce whose appends are under way: its plan and the appends to wait for.
pub struct Dispatched {
    plan: Vec<TopicPlan>,
    pending: Vec<PendingAppend>,
}

/// The first half of a Produce: checks every partition and starts its append, in request order
/// (validation runs here, on the connection's shard). Returns once every append is under way, so
/// a connection may dispatch its next Produce while the owners write this one's: appends of one
/// connection reach each partition in request order ([`ShardState::start_append`]).
pub async fn dispatch(shard: &Rc<ShardState>, req: ProduceRequest) -> Dispatched {
    let mut plan: Vec<TopicPlan> = Vec::with_capacity(req.topic_data.len());
    let mut pending = Vec::new();
    let txn_refused = verify_transactional(shard, &req).await;
    for topic in req.topic_data {
        let name: Arc<str> = Arc::from(&*topic.name);
        // Once per topic, not per partition; the owner shard looks the log up without
        // validating the name again.
        let name_valid = crate::storage::names::validate_topic(&name).is_ok();
        let (known, flags, view_of, min_isr, append_time, topic_config) = {
            let catalog = shard.catalog.borrow();
            catalog
                .get(&name)
                .map_or((None, AppendFlags::default(), None, 1, false, None), |m| {
                    let flags = AppendFlags {
                        delays: m.configs.delivery_delay,
                        indexed: catalog.is_indexed(&name),
                    };
                    let view_of = m.configs.view.as_ref().map(|v| v.source.clone());
                    let min_isr = m.configs.min_insync_replicas(&shard.config);
                    let append_time = m.configs.log_append_time(&shard.config);
                    // Checked here with the topic's bounds, so its owner need not check again.
                    let topic_config = (!m.configs.kafka.is_empty())
                        .then(|| m.configs.log_config(shard.engine.log_config()));
                    (
                        Some(m.partitions),
                        flags,
                        view_of,
                        min_isr,
                        append_time,
                        topic_config,
                    )
                })
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let records = p.records.as_deref();
            let mut checked = check(shard, req.acks, &name, name_valid, known, p.index, records);
            if let (Ok(()), Some(source)) = (&checked, &view_of) {
                checked = Err(BrokerError::ViewNotWritable {
                    view: name.to_string(),
                    source: source.clone(),
                });
            }
            // One broker is one in-sync replica: acks=all cannot meet a higher minimum.
            if checked.is_ok() && req.acks == -1 && min_isr > 1 {
                checked = Err(BrokerError::NotEnoughReplicas {
                    topic: name.to_string(),
                    partition: p.index,
                    min_isr,
                });
            }
            if let (Ok(()), Some((code, reason))) = (&checked, &txn_refused) {
                if records.is_some_and(is_transactional) {
                    checked = Err(BrokerError::Txn {
                        code: *code,
                        transactional_id: req
                            .transactional_id
                            .as_deref()
                            .unwrap_or_default()
                            .to_string(),
                        reason: reason.clone(),
                    });
                }
            }
            if checked.is_ok() {
                let records = p.records.expect("checked above");
                match shard
                    .start_append(name.clone(), p.index, records, flags, topic_config.as_ref())
                    .await
                {
                    Ok(append) => pending.push(append),
                    Err(e) => checked = Err(e),
                }
            }
            partitions.push((p.index, checked));
        }
        plan.push((topic.name, partitions, append_time));
    }
    Dispatched { plan, pending }
}

/// Whether the first batch of `records` is transactional (a Produce's batches come from one
/// producer: its first batch says).
fn is_transactional(records: &[u8]) -> bool {
    use crate::storage::batch::{ATTRIBUTES_AT, ATTR_TRANSACTIONAL};
    records
        .get(ATTRIBUTES_AT..ATTRIBUTES_AT + 2)
        .is_some_and(|a| i16::from_be_bytes([a[0], a[1]]) & ATTR_TRANSACTIONAL != 0)
}

/// Transactional batches are checked with their transaction's coordinator, once per request
/// ([`crate::txn::verify_produce`]): the refusal (code, reason) every transactional partition
/// gets, or `None`. A request without transactional batches is not checked; transactional
/// batches without a transactional id are refused (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as
/// Kafka answers).
async fn verify_transactional(
    shard: &Rc<ShardState>,
    req: &ProduceRequest,
) -> Option<(i16, String)> {
    let id = req.transactional_id.as_deref().filter(|id| !id.is_empty());
    let Some(id) = id else {
        // Kafka refuses transactional records without a transactional id as unauthorized.
        let any = req
            .topic_data
            .iter()
            .flat_map(|t| &t.partition_data)
            .any(|p| p.records.as_deref().is_some_and(is_transactional));
        return any.then(|| {
            (
                crate::protocol::error::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                "transactional records without a transactional id".to_string(),
            )
        });
    };
    let mut producer = None;
    let mut partitions = Vec::new();
    for t in &req.topic_data {
        for p in &t.partition_data {
            let Some(records) = p.records.as_deref().filter(|r| is_transactional(r)) else {
                continue;
            };
            if producer.is_none() {
                let pid = crate::storage::batch::peek_producer_id(records)?;
                let at = crate::storage::batch::PRODUCER_EPOCH_AT;
                let epoch = records
                    .get(at..at + 2)
                    .map(|e| i16::from_be_bytes([e[0], e[1]]))?;
                producer = Some((pid, epoch));
            }
            partitions.push((t.name.to_string(), p.index));
        }
    }
    let (pid, epoch) = producer?;
    let id = id.to_string();
    let target = crate::txn::coordinator_of(&id, shard.count);
    let verdict = shard
        .call(target, move |s| async move {
            crate::txn::verify_produce(&s, &id, pid, epoch, &partitions)
                .map_err(|e| (e.kafka_code(), e.to_string()))
        })
        .await
        .unwrap_or_else(|| {
            Err((
                crate::protocol::error::COORDINATOR_NOT_AVAILABLE,
                format!("shard {target} is not available"),
            ))
        });
    verdict.err()
}

impl Dispatched {
    /// The second half: waits for the appends and answers.
    pub async fn response(self) -> ProduceResponse {
        let Dispatched { plan, pending } = self;
        let mut results = join_all(pending.into_iter().map(PendingAppend::outcome).collect())
            .await
            .into_iter();
        let mut out = ProduceResponse::default();
        for (name, partitions, append_time) in plan {
            let partition_responses = partitions
                .into_iter()
                .map(|(index, checked)| {
                    let appended = checked
                        .and_then(|()| results.next().expect("one result per appended partition"));
                    let mut r = partition_response(index, appended);
                    // The broker's clock when the answer is made, at most milliseconds after
                    // the one the batches were stamped with (Kafka answers the exact stamp).
                    if append_time && r.error_code == 0 {
                        r.log_append_time_ms = crate::storage::log::now_ms();
                    }
                    r
                })
                .collect();
            out.responses.push(TopicProduceResponse {
                name,
                partition_responses,
            });
        }
        debug_assert!(
            results.next().is_none(),
            "produce: more append results than partitions appended"
        );
        out
    }
}

/// One partition's answer.
fn partition_response(index: i32, appended: AppendResult) -> PartitionProduceResponse {
    match appended {
        Ok(a) => PartitionProduceResponse {
            index,
            base_offset: a.base_offset,
            log_start_offset: a.log_start_offset,
            ..Default::default()
        },
        Err(e) => PartitionProduceResponse {
            index,
            error_code: e.kafka_code(),
            base_offset: -1,
            log_start_offset: -1,
            record_errors: e
                .record_errors()
                .into_iter()
                .map(|r| BatchIndexAndErrorMessage {
                    batch_index: r.batch_index,
                    batch_index_error_message: Some(Str::from(r.message)),
                })
                .collect(),
            error_message: e.produce_message().map(Str::from),
            ..Default::default()
        },
    }
}

/// Why one partition's records are refused before the append, in Kafka's order of checks.
fn check(
    shard: &ShardState,
    acks: i16,
    topic: &str,
    name_valid: bool,
    partitions: Option<i32>,
    partition: i32,
    records: Option<&[u8]>,
) -> Result<(), BrokerError> {
    if !matches!(acks, -1..=1) {
        return Err(BrokerError::InvalidRequiredAcks { acks });
    }
    if !name_valid {
        // Checked again only to say why.
        crate::storage::names::validate_topic(topic)?;
    }
    if !partitions.is_some_and(|n| partition >= 0 && partition < n) {
        return Err(BrokerError::UnknownPartition {
            topic: topic.to_string(),
            partition,
        });
    }
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return Err(BrokerError::NoRecords {
            topic: topic.to_string(),
            partition,
        });
    };
    let bound = shard
        .producer_id_bound
        .load(std::sync::atomic::Ordering::Acquire);
    match crate::storage::batch::peek_producer_id(records) {
        // A producer id this broker never handed out.
        Some(producer_id) if producer_id >= bound => {
            Err(BrokerError::UnknownProducerId { producer_id })
        }
        _ => Ok(()),
    }
}
