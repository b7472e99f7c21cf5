//! The transaction APIs (issue #18): AddPartitionsToTxn (24, v0-3 one transaction, v4+ batched),
//! AddOffsetsToTxn (25), EndTxn (26), TxnOffsetCommit (28), DescribeTransactions (65) and
//! ListTransactions (66). Each transactional id is handled on its coordinator shard
//! ([`crate::txn`]); TxnOffsetCommit on the group's.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::error::{code_of, BrokerError};
use crate::group::{self, GroupOp, GroupReply};
use crate::protocol::error as code;
use crate::protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnResult,
    AddPartitionsToTxnTopic, AddPartitionsToTxnTopicResult, DescribeTransactionsRequest,
    DescribeTransactionsResponse, DescribedTransaction, DescribedTransactionTopic, EndTxnRequest,
    EndTxnResponse, ListTransactionsRequest, ListTransactionsResponse, ListedTransaction,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition,
    TxnOffsetCommitResponseTopic,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;
use crate::txn::{self, TxnMeta, TxnState};

/// First versions whose clients know PRODUCER_FENCED (KIP-588); older ones get
/// INVALID_PRODUCER_EPOCH.
const ADD_PARTITIONS_FENCED_VERSION: i16 = 2;
const ADD_OFFSETS_FENCED_VERSION: i16 = 2;
const END_TXN_FENCED_VERSION: i16 = 2;
const TXN_OFFSET_COMMIT_FENCED_VERSION: i16 = 3;

/// Runs `f` on `id`'s coordinator shard.
async fn on_coordinator<T, F, Fut>(shard: &Rc<ShardState>, id: &str, f: F) -> Result<T, BrokerError>
where
    T: Send + 'static,
    F: FnOnce(Rc<ShardState>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, BrokerError>> + 'static,
{
    let target = txn::coordinator_of(id, shard.count);
    shard
        .call(target, f)
        .await
        .unwrap_or(Err(BrokerError::ShardUnavailable {
            shard: target,
            op: "transaction coordinator",
        }))
}

fn invalid_id(id: &str) -> Option<BrokerError> {
    (!txn::valid_transactional_id(id)).then(|| BrokerError::Txn {
        code: code::INVALID_REQUEST,
        transactional_id: id.to_string(),
        reason: "invalid transactional id".into(),
    })
}

/// One transaction's AddPartitionsToTxn: the per-topic results.
async fn add_partitions(
    shard: &Rc<ShardState>,
    id: Str,
    producer_id: i64,
    epoch: i16,
    topics: Vec<AddPartitionsToTxnTopic>,
    verify_only: bool,
    fenced: i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    // Unknown partitions are refused, and then nothing is added: the others are
    // OPERATION_NOT_ATTEMPTED (Kafka's answer).
    let mut unknown = Vec::new();
    let mut wanted = Vec::new();
    {
        let catalog = shard.catalog.borrow();
        for t in &topics {
            let partitions = catalog.get(&t.name).map(|m| m.partitions);
            for &p in &t.partitions {
                if partitions.is_some_and(|n| p >= 0 && p < n) {
                    wanted.push((t.name.to_string(), p));
                } else {
                    unknown.push((t.name.to_string(), p));
                }
            }
        }
    }
    let outcome: Result<(), BrokerError> = if let Some(e) = invalid_id(&id) {
        Err(e)
    } else if !unknown.is_empty() {
        Ok(())
    } else {
        let id = id.to_string();
        let parts = wanted.clone();
        on_coordinator(shard, &id.clone(), move |s| async move {
            txn::add_to_txn(
                &s,
                &id,
                producer_id,
                epoch,
                &parts,
                None,
                verify_only,
                fenced,
            )
            .await
        })
        .await
    };
    let code_for = |t: &str, p: i32| -> i16 {
        match &outcome {
            Err(e) => e.kafka_code(),
            Ok(()) if unknown.is_empty() => code::NONE,
            Ok(()) if unknown.iter().any(|(ut, up)| ut == t && *up == p) => {
                code::UNKNOWN_TOPIC_OR_PARTITION
            }
            Ok(()) => code::OPERATION_NOT_ATTEMPTED,
        }
    };
    if let Err(e) = &outcome {
        if e.kafka_code() != code::CONCURRENT_TRANSACTIONS {
            tracing::debug!("AddPartitionsToTxn refused: {e}");
        }
    }
    topics
        .into_iter()
        .map(|t| AddPartitionsToTxnTopicResult {
            results_by_partition: t
                .partitions
                .iter()
                .map(|&p| AddPartitionsToTxnPartitionResult {
                    partition_index: p,
                    partition_error_code: code_for(&t.name, p),
                })
                .collect(),
            name: t.name,
        })
        .collect()
}

/// Answer an AddPartitionsToTxn request.
pub async fn add_partitions_to_txn(
    shard: &Rc<ShardState>,
    version: i16,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let fenced = txn::fenced_code(version, ADD_PARTITIONS_FENCED_VERSION);
    if !AddPartitionsToTxnRequest::carries("transactions", version) {
        let results = add_partitions(
            shard,
            req.v3_and_below_transactional_id,
            req.v3_and_below_producer_id,
            req.v3_and_below_producer_epoch,
            req.v3_and_below_topics,
            false,
            fenced,
        )
        .await;
        return AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: results,
            ..Default::default()
        };
    }
    let mut out = Vec::with_capacity(req.transactions.len());
    for t in req.transactions {
        let topic_results = add_partitions(
            shard,
            t.transactional_id.clone(),
            t.producer_id,
            t.producer_epoch,
            t.topics,
            t.verify_only,
            fenced,
        )
        .await;
        out.push(AddPartitionsToTxnResult {
            transactional_id: t.transactional_id,
            topic_results,
        });
    }
    AddPartitionsToTxnResponse {
        results_by_transaction: out,
        ..Default::default()
    }
}

/// Answer an AddOffsetsToTxn request.
pub async fn add_offsets_to_txn(
    shard: &Rc<ShardState>,
    version: i16,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let id = req.transactional_id.to_string();
    let group_id = req.group_id.to_string();
    let outcome = if let Some(e) = invalid_id(&id) {
        Err(e)
    } else if !group::valid_group_id(&group_id) {
        Err(BrokerError::InvalidGroupId { group: group_id })
    } else {
        let fenced = txn::fenced_code(version, ADD_OFFSETS_FENCED_VERSION);
        let (pid, epoch) = (req.producer_id, req.producer_epoch);
        on_coordinator(shard, &id.clone(), move |s| async move {
            txn::add_to_txn(&s, &id, pid, epoch, &[], Some(&group_id), false, fenced).await
        })
        .await
    };
    AddOffsetsToTxnResponse {
        error_code: code_of(outcome.err().as_ref()),
        ..Default::default()
    }
}

/// Answer an EndTxn request.
pub async fn end_txn(shard: &Rc<ShardState>, version: i16, req: EndTxnRequest) -> EndTxnResponse {
    let id = req.transactional_id.to_string();
    let outcome = if let Some(e) = invalid_id(&id) {
        Err(e)
    } else {
        let fenced = txn::fenced_code(version, END_TXN_FENCED_VERSION);
        let (pid, epoch, commit) = (req.producer_id, req.producer_epoch, req.committed);
        on_coordinator(shard, &id.clone(), move |s| async move {
            txn::end_txn(&s, &id, pid, epoch, commit, fenced).await
        })
        .await
    };
    match outcome {
        Ok((producer_id, producer_epoch)) => EndTxnResponse {
            producer_id,
            producer_epoch,
            ..Default::default()
        },
        Err(e) => {
            if e.kafka_code() != code::CONCURRENT_TRANSACTIONS {
                tracing::debug!("EndTxn refused: {e}");
            }
            EndTxnResponse {
                error_code: e.kafka_code(),
                ..Default::default()
            }
        }
    }
}

/// Answer a TxnOffsetCommit request: the transaction coordinator checks the producer and that
/// the group is in its open transaction, then the offsets wait, pending, on the group's
/// coordinator until the transaction ends.
pub async fn txn_offset_commit(
    shard: &Rc<ShardState>,
    version: i16,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let group_id = req.group_id.to_string();
    let asked: Vec<(Str, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let id = req.transactional_id.to_string();
    let verified = if let Some(e) = invalid_id(&id) {
        Err(e)
    } else {
        let fenced = txn::fenced_code(version, TXN_OFFSET_COMMIT_FENCED_VERSION);
        let (pid, epoch, group) = (req.producer_id, req.producer_epoch, group_id.clone());
        on_coordinator(shard, &id.clone(), move |s| async move {
            txn::verify_offsets(&s, &id, pid, epoch, &group, fenced)
        })
        .await
    };
    let committed = if let Err(e) = verified {
        Err(e)
    } else {
        let op = GroupOp::TxnCommit { req: Box::new(req) };
        match group::call(shard, &group_id, op).await {
            Ok(GroupReply::Commit(committed)) => committed,
            Ok(_) => Err(BrokerError::CoordinatorReplyMismatch { op: "TxnCommit" }),
            Err(e) => Err(e),
        }
    };
    let topics = match committed {
        Ok(results) => results
            .into_iter()
            .map(|(topic, parts)| TxnOffsetCommitResponseTopic {
                name: Str::from(topic),
                partitions: parts
                    .into_iter()
                    .map(
                        |(partition_index, outcome)| TxnOffsetCommitResponsePartition {
                            partition_index,
                            error_code: code_of(outcome.err().as_ref()),
                        },
                    )
                    .collect(),
            })
            .collect(),
        Err(e) => asked
            .into_iter()
            .map(|(name, parts)| TxnOffsetCommitResponseTopic {
                name,
                partitions: parts
                    .into_iter()
                    .map(|partition_index| TxnOffsetCommitResponsePartition {
                        partition_index,
                        error_code: e.kafka_code(),
                    })
                    .collect(),
            })
            .collect(),
    };
    TxnOffsetCommitResponse {
        topics,
        ..Default::default()
    }
}

/// A transaction's partitions grouped by topic, as DescribeTransactions lists them.
fn topics_of(meta: &TxnMeta) -> Vec<DescribedTransactionTopic> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in &meta.partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(topic, partitions)| DescribedTransactionTopic {
            topic: Str::from(topic),
            partitions,
        })
        .collect()
}

/// Whether a transaction's partitions are part of what it shows (Kafka lists them while the
/// transaction is open or completing; an Empty or completed one shows none).
fn shows_partitions(state: TxnState) -> bool {
    matches!(
        state,
        TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
    )
}

/// Answer a DescribeTransactions request.
pub async fn describe_transactions(
    shard: &Rc<ShardState>,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(req.transactional_ids.len());
    for id in req.transactional_ids {
        let key = id.to_string();
        let found = on_coordinator(
            shard,
            &key.clone(),
            move |s| async move { Ok(s.txns.get(&key)) },
        )
        .await;
        states.push(match found {
            Ok(Some(meta)) => DescribedTransaction {
                error_code: code::NONE,
                transactional_id: id,
                transaction_state: Str::from_static(meta.state.name()),
                transaction_timeout_ms: meta.timeout_ms,
                transaction_start_time_ms: if shows_partitions(meta.state) {
                    meta.start_ms
                } else {
                    -1
                },
                producer_id: meta.producer_id,
                producer_epoch: meta.epoch,
                topics: if shows_partitions(meta.state) {
                    topics_of(&meta)
                } else {
                    Vec::new()
                },
            },
            Ok(None) => DescribedTransaction {
                error_code: code::TRANSACTIONAL_ID_NOT_FOUND,
                transactional_id: id,
                ..Default::default()
            },
            Err(e) => DescribedTransaction {
                error_code: e.kafka_code(),
                transactional_id: id,
                ..Default::default()
            },
        });
    }
    DescribeTransactionsResponse {
        transaction_states: states,
        ..Default::default()
    }
}

/// Answer a ListTransactions request: every transactional id of every shard that passes the
/// filters (states, producer ids, running at least `duration_filter` ms (v1), id pattern
/// (v2, a regular expression the whole id must match)).
pub async fn list_transactions(
    shard: &Rc<ShardState>,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for s in &req.state_filters {
        match TxnState::from_name(s) {
            Some(state) => states.push(state),
            None => unknown.push(s.clone()),
        }
    }
    let pattern = match req.transactional_id_pattern.as_deref() {
        None | Some("") => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(r) => Some(r),
            Err(_) => {
                return ListTransactionsResponse {
                    error_code: code::INVALID_REGULAR_EXPRESSION,
                    ..Default::default()
                }
            }
        },
    };
    let now = crate::storage::log::now_ms();
    let listed = txn::list_all(shard)
        .await
        .into_iter()
        .filter(|(_, m)| states.is_empty() || states.contains(&m.state))
        .filter(|(_, m)| {
            req.producer_id_filters.is_empty() || req.producer_id_filters.contains(&m.producer_id)
        })
        .filter(|(_, m)| {
            req.duration_filter < 0
                || (m.start_ms >= 0 && now.saturating_sub(m.start_ms) >= req.duration_filter)
        })
        .filter(|(id, _)| pattern.as_ref().is_none_or(|r| r.is_match(id)))
        .map(|(id, m)| ListedTransaction {
            transactional_id: Str::from(id),
            producer_id: m.producer_id,
            transaction_state: Str::from_static(m.state.name()),
        })
        .collect();
    ListTransactionsResponse {
        unknown_state_filters: unknown,
        transaction_states: listed,
        ..Default::default()
    }
}
