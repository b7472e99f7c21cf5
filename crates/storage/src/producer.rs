//! Idempotent-producer state of one partition: for each producer id, its epoch and the sequence
//! ranges of its last [`PRODUCER_BATCHES_RETAINED`] batches, as Kafka keeps them.
//!
//! On append, a batch carrying a producer id is checked ([`ProducerStateTable::check`]):
//! - a batch whose sequence range equals one of the retained batches is a retried duplicate:
//!   it is answered with its original offset and not appended again;
//! - otherwise its first sequence must follow the last one (`last + 1`, wrapping at `i32::MAX`),
//!   else `OUT_OF_ORDER_SEQUENCE_NUMBER`;
//! - an epoch below the producer's current one is `INVALID_PRODUCER_EPOCH`; a higher epoch must
//!   start again at sequence 0;
//! - an unknown producer (never seen, or expired) must start at sequence 0, else
//!   `UNKNOWN_PRODUCER_ID`.
//!
//! Transactions ([`crate::txn`]): a producer's first transactional batch opens its transaction
//! in this partition (its offset is kept: the last stable offset cannot pass it), and the
//! producer's marker ([`ProducerStateTable::end_txn`]) closes it. A control batch is checked
//! for its epoch only (a marker may carry the epoch the coordinator bumped to fence a zombie),
//! and a non-transactional batch of a producer with an open transaction is refused.
//!
//! The state is rebuilt on open from the last snapshot plus the batch headers after it (the
//! headers carry producer id, epoch and sequences), and snapshotted when a segment rolls.
//!
//! Snapshot file `{base_offset:020}.snapshot` (state as of that offset), big-endian:
//! ```text
//! +--------+---------+-------+------------------------------------------------+--------+
//! | "RLPS" | version | count | count x entry                                  | crc32c |
//! | 4 B    | u16 = 2 | u32   | producer_id i64, epoch i16, last_seen_ms i64,  | u32 of |
//! |        |         |       | txn_first_offset i64 (-1: none; absent in v1), | all    |
//! |        |         |       | batches u8, batches x (first_seq i32,           | before |
//! |        |         |       |   last_seq i32, base_offset i64, last_offset i64) |        |
//! +--------+---------+-------+------------------------------------------------+--------+
//! ```
//! Version 1 snapshots (before transactions) are read as having no open transaction.
//!
//! # Invariants
//! - At most [`PRODUCER_BATCHES_RETAINED`] batches per producer and `producers_max` producers
//!   per partition (the least recently seen is evicted first).
//! - `check` never mutates; `update` is called only for batches that were really appended (or
//!   replayed from the log), in offset order.

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::batch::BatchHeader;
use crate::codec::BeReader;

/// Batches remembered per producer: Kafka's `max.in.flight.requests.per.connection` limit for
/// idempotence is 5, so a retry can only ever duplicate one of the last 5 batches.
pub const PRODUCER_BATCHES_RETAINED: usize = 5;
/// Default bound on producers tracked per partition.
pub const PRODUCERS_PER_PARTITION_MAX_DEFAULT: usize = 10_000;
/// Default idle time after which a producer's state is dropped: Kafka's
/// `producer.id.expiration.ms` default (1 day).
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: u64 = 24 * 3600 * 1000;

const SNAPSHOT_MAGIC: &[u8; 4] = b"RLPS";
const SNAPSHOT_VERSION: u16 = 2;
const SNAPSHOT_VERSION_V1: u16 = 1;

/// One remembered batch of a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMeta {
    /// First sequence number of the batch.
    pub first_seq: i32,
    /// Last sequence number of the batch.
    pub last_seq: i32,
    /// Offset the batch was appended at.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
}

/// What the table knows of one producer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerEntry {
    /// Current epoch.
    pub epoch: i16,
    /// The last batches, oldest first.
    pub batches: VecDeque<BatchMeta>,
    /// Broker wall-clock time (ms) the producer was last seen (appended, or replayed on open),
    /// for expiry.
    pub last_seen_ms: i64,
    /// First offset of the producer's open transaction in this partition, if one is open.
    pub txn_first_offset: Option<i64>,
}

/// One tracked producer as [`ProducerStateTable::describe`] reports it (DescribeProducers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DescribedProducer {
    /// The producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub epoch: i16,
    /// The last sequence of its last remembered batch; `None` when none is remembered (only a
    /// marker seen, or batches cleared by an epoch bump).
    pub last_sequence: Option<i32>,
    /// Broker wall-clock time (ms since the epoch) it was last seen.
    pub last_seen_ms: i64,
    /// First offset of its open transaction in this partition, if one is open.
    pub txn_first_offset: Option<i64>,
}

/// The verdict on a batch before it is appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not idempotent, or the next batch in sequence: append it.
    Append,
    /// A retry of a batch already in the log at `base_offset`: do not append again.
    Duplicate {
        /// Where the original landed.
        base_offset: i64,
    },
}

/// Why a batch is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerError {
    /// The batch's epoch is older than the producer's (Kafka: INVALID_PRODUCER_EPOCH).
    InvalidEpoch {
        /// Epoch in the batch.
        got: i16,
        /// The producer's epoch.
        current: i16,
    },
    /// A gap or overlap in sequence numbers (Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER).
    OutOfOrder {
        /// First sequence in the batch.
        got: i32,
        /// The sequence that would have been next.
        expected: i32,
    },
    /// A producer the partition does not know sent a sequence other than 0 (Kafka:
    /// UNKNOWN_PRODUCER_ID).
    UnknownProducer {
        /// The producer id.
        producer_id: i64,
    },
    /// A non-transactional batch from a producer whose transaction is open here (Kafka:
    /// INVALID_TXN_STATE).
    TransactionOpen {
        /// The producer id.
        producer_id: i64,
    },
}

impl std::fmt::Display for ProducerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProducerError::InvalidEpoch { got, current } => {
                write!(f, "producer epoch {got} is older than {current}")
            }
            ProducerError::OutOfOrder { got, expected } => {
                write!(f, "sequence {got} out of order, expected {expected}")
            }
            ProducerError::UnknownProducer { producer_id } => {
                write!(f, "unknown producer {producer_id} must start at sequence 0")
            }
            ProducerError::TransactionOpen { producer_id } => write!(
                f,
                "producer {producer_id} sent a non-transactional batch while its transaction \
                 is open in this partition"
            ),
        }
    }
}

/// `seq + n` on Kafka's sequence ring (wraps from `i32::MAX` to 0).
pub fn seq_add(seq: i32, n: i64) -> i32 {
    ((i64::from(seq) + n).rem_euclid(i64::from(i32::MAX) + 1)) as i32
}

fn last_seq(h: &BatchHeader) -> i32 {
    seq_add(h.base_sequence, i64::from(h.last_offset_delta))
}

/// Producer state of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerStateTable {
    entries: HashMap<i64, ProducerEntry>,
    producers_max: usize,
    /// (first offset, producer id) of every open transaction: the smallest bounds the LSO.
    open_txns: BTreeSet<(i64, i64)>,
}

impl Default for ProducerStateTable {
    fn default() -> Self {
        ProducerStateTable::new(PRODUCERS_PER_PARTITION_MAX_DEFAULT)
    }
}

impl ProducerStateTable {
    /// An empty table bounded to `producers_max` producers.
    pub fn new(producers_max: usize) -> ProducerStateTable {
        ProducerStateTable {
            entries: HashMap::new(),
            producers_max: producers_max.max(1),
            open_txns: BTreeSet::new(),
        }
    }

    /// First offset of the oldest open transaction (the LSO cannot pass it).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open_txns.first().map(|&(offset, _)| offset)
    }

    /// Open transactions here: (first offset, producer id), oldest first.
    pub fn open_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.open_txns.iter().copied()
    }

    /// Closes `producer_id`'s transaction here (its marker was written at `marker_offset` with
    /// `epoch`); returns the transaction's first offset, or `None` when none was open (a marker
    /// written again after a restart). The producer's epoch becomes `epoch` if that is newer.
    pub fn end_txn(&mut self, producer_id: i64, epoch: i16, now_ms: i64) -> Option<i64> {
        let entry = self
            .entries
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::new(),
                last_seen_ms: now_ms,
                txn_first_offset: None,
            });
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
        let first = entry.txn_first_offset.take()?;
        self.open_txns.remove(&(first, producer_id));
        Some(first)
    }

    /// Producers tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of a producer.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.entries.get(&producer_id)
    }

    /// Every tracked producer, by producer id (read-only; for DescribeProducers).
    pub fn describe(&self) -> Vec<DescribedProducer> {
        let mut described: Vec<DescribedProducer> = self
            .entries
            .iter()
            .map(|(&producer_id, e)| DescribedProducer {
                producer_id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map(|b| b.last_seq),
                last_seen_ms: e.last_seen_ms,
                txn_first_offset: e.txn_first_offset,
            })
            .collect();
        described.sort_unstable_by_key(|d| d.producer_id);
        described
    }

    /// Decide what to do with a batch (does not change the table).
    pub fn check(&self, h: &BatchHeader) -> Result<Verdict, ProducerError> {
        if h.producer_id < 0 {
            return Ok(Verdict::Append);
        }
        if h.is_control() {
            // A marker: written by the broker with the producer's epoch or a newer one.
            return match self.entries.get(&h.producer_id) {
                Some(e) if h.producer_epoch < e.epoch => Err(ProducerError::InvalidEpoch {
                    got: h.producer_epoch,
                    current: e.epoch,
                }),
                _ => Ok(Verdict::Append),
            };
        }
        let Some(entry) = self.entries.get(&h.producer_id) else {
            return if h.base_sequence == 0 {
                Ok(Verdict::Append)
            } else {
                Err(ProducerError::UnknownProducer {
                    producer_id: h.producer_id,
                })
            };
        };
        if h.producer_epoch < entry.epoch {
            return Err(ProducerError::InvalidEpoch {
                got: h.producer_epoch,
                current: entry.epoch,
            });
        }
        if entry.txn_first_offset.is_some() && !h.is_transactional() {
            return Err(ProducerError::TransactionOpen {
                producer_id: h.producer_id,
            });
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                Ok(Verdict::Append)
            } else {
                Err(ProducerError::OutOfOrder {
                    got: h.base_sequence,
                    expected: 0,
                })
            };
        }
        let last = last_seq(h);
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last)
        {
            return Ok(Verdict::Duplicate {
                base_offset: dup.base_offset,
            });
        }
        match entry.batches.back() {
            None => Ok(Verdict::Append),
            Some(prev) => {
                let expected = seq_add(prev.last_seq, 1);
                if h.base_sequence == expected {
                    Ok(Verdict::Append)
                } else {
                    Err(ProducerError::OutOfOrder {
                        got: h.base_sequence,
                        expected,
                    })
                }
            }
        }
    }

    /// Record a batch that was appended at `base_offset` (or replayed from the log).
    pub fn update(&mut self, h: &BatchHeader, base_offset: i64, now_ms: i64) {
        if h.producer_id < 0 || h.is_control() {
            // Markers change the state through `end_txn`.
            return;
        }
        if !self.entries.contains_key(&h.producer_id) && self.entries.len() >= self.producers_max {
            // Evict the least recently seen producer without an open transaction; it can come
            // back starting at sequence 0.
            if let Some((&oldest, _)) = self
                .entries
                .iter()
                .filter(|(_, e)| e.txn_first_offset.is_none())
                .min_by_key(|(_, e)| e.last_seen_ms)
            {
                self.entries.remove(&oldest);
            }
        }
        let entry = self
            .entries
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: h.producer_epoch,
                batches: VecDeque::with_capacity(PRODUCER_BATCHES_RETAINED),
                last_seen_ms: now_ms,
                txn_first_offset: None,
            });
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(base_offset);
            self.open_txns.insert((base_offset, h.producer_id));
        }
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == PRODUCER_BATCHES_RETAINED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            base_offset,
            last_offset: base_offset + i64::from(h.last_offset_delta),
        });
        entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
    }

    /// Drop producers idle for longer than `expiration_ms`; returns how many.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: u64) -> usize {
        let before = self.entries.len();
        let horizon = now_ms.saturating_sub(expiration_ms.min(i64::MAX as u64) as i64);
        // A producer with an open transaction is kept: the transaction's end needs it.
        self.entries
            .retain(|_, e| e.last_seen_ms >= horizon || e.txn_first_offset.is_some());
        before - self.entries.len()
    }

    /// Forget batches at or after `offset` (log truncation); producers left without batches are
    /// dropped (they restart at sequence 0 or are rebuilt from the log by the caller).
    pub fn truncate_to(&mut self, offset: i64) {
        for (id, e) in self.entries.iter_mut() {
            e.batches.retain(|b| b.base_offset < offset);
            if e.txn_first_offset.is_some_and(|first| first >= offset) {
                self.open_txns
                    .remove(&(e.txn_first_offset.take().unwrap_or(0), *id));
            }
        }
        self.entries
            .retain(|_, e| !e.batches.is_empty() || e.txn_first_offset.is_some());
    }

    /// Encode a snapshot (format in the module docs).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(14 + self.entries.len() * 48);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        let mut ids: Vec<&i64> = self.entries.keys().collect();
        ids.sort();
        for id in ids {
            let e = &self.entries[id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&e.last_seen_ms.to_be_bytes());
            out.extend_from_slice(&e.txn_first_offset.unwrap_or(-1).to_be_bytes());
            out.push(e.batches.len() as u8);
            for b in &e.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.base_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decode a snapshot; `None` if it is damaged (the caller then rebuilds from the log).
    pub fn decode_snapshot(bytes: &[u8], producers_max: usize) -> Option<ProducerStateTable> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, crc) = bytes.split_at(body_len);
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return None;
        }
        let mut r = BeReader::new(body);
        if r.take(4)? != SNAPSHOT_MAGIC {
            return None;
        }
        let version = r.u16()?;
        if version != SNAPSHOT_VERSION && version != SNAPSHOT_VERSION_V1 {
            return None;
        }
        let count = r.u32()? as usize;
        let mut table = ProducerStateTable::new(producers_max);
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let last_seen_ms = r.i64()?;
            let txn_first_offset = if version == SNAPSHOT_VERSION {
                Some(r.i64()?).filter(|&o| o >= 0)
            } else {
                None
            };
            let n = r.take(1)?[0] as usize;
            if n > PRODUCER_BATCHES_RETAINED {
                return None;
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(BatchMeta {
                    first_seq: r.u32()? as i32,
                    last_seq: r.u32()? as i32,
                    base_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            if let Some(first) = txn_first_offset {
                table.open_txns.insert((first, id));
            }
            table.entries.insert(
                id,
                ProducerEntry {
                    epoch,
                    batches,
                    last_seen_ms,
                    txn_first_offset,
                },
            );
        }
        if !r.rest.is_empty() {
            return None;
        }
        Some(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn sequences_duplicates_gaps_and_epochs() {
        let mut t = ProducerStateTable::default();
        assert_eq!(
            t.check(&batch(-1, -1, -1, 3)),
            Ok(Verdict::Append),
            "not idempotent"
        );
        assert_eq!(
            t.check(&batch(7, 0, 5, 1)),
            Err(ProducerError::UnknownProducer { producer_id: 7 })
        );
        assert_eq!(t.check(&batch(7, 0, 0, 3)), Ok(Verdict::Append));
        t.update(&batch(7, 0, 0, 3), 100, 1);
        assert_eq!(
            t.check(&batch(7, 0, 0, 3)),
            Ok(Verdict::Duplicate { base_offset: 100 })
        );
        assert_eq!(
            t.check(&batch(7, 0, 4, 1)),
            Err(ProducerError::OutOfOrder {
                got: 4,
                expected: 3
            })
        );
        assert_eq!(t.check(&batch(7, 0, 3, 2)), Ok(Verdict::Append));
        t.update(&batch(7, 0, 3, 2), 103, 2);
        // Only the last 5 batches are remembered.
        for i in 0..5 {
            t.update(&batch(7, 0, 5 + i, 1), 105 + i64::from(i), 3);
        }
        assert_eq!(t.get(7).unwrap().batches.len(), PRODUCER_BATCHES_RETAINED);
        assert_eq!(
            t.check(&batch(7, 0, 0, 3)),
            Err(ProducerError::OutOfOrder {
                got: 0,
                expected: 10
            })
        );
        assert_eq!(
            t.check(&batch(7, 0, 9, 1)),
            Ok(Verdict::Duplicate { base_offset: 109 })
        );
        assert_eq!(
            t.check(&batch(7, 1, 3, 1)),
            Err(ProducerError::OutOfOrder {
                got: 3,
                expected: 0
            })
        );
        assert_eq!(t.check(&batch(7, 1, 0, 1)), Ok(Verdict::Append));
        t.update(&batch(7, 1, 0, 1), 200, 4);
        assert_eq!(
            t.check(&batch(7, 0, 10, 1)),
            Err(ProducerError::InvalidEpoch { got: 0, current: 1 })
        );
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut t = ProducerStateTable::default();
        t.update(&batch(1, 0, 0, 1), 0, 0);
        let near = i32::MAX - 1;
        t.entries
            .get_mut(&1)
            .unwrap()
            .batches
            .back_mut()
            .unwrap()
            .last_seq = near;
        assert_eq!(t.check(&batch(1, 0, i32::MAX, 2)), Ok(Verdict::Append));
        t.update(&batch(1, 0, i32::MAX, 2), 10, 0);
        assert_eq!(t.get(1).unwrap().batches.back().unwrap().last_seq, 0);
        assert_eq!(t.check(&batch(1, 0, 1, 1)), Ok(Verdict::Append));
    }

    #[test]
    fn bounded_expiry_truncation_and_snapshots() {
        let mut t = ProducerStateTable::new(3);
        for pid in 0..5 {
            t.update(&batch(pid, 0, 0, 1), pid * 10, pid);
        }
        assert_eq!(t.len(), 3, "bounded: the least recently seen were evicted");
        assert!(t.get(0).is_none() && t.get(4).is_some());
        let bytes = t.encode_snapshot();
        assert_eq!(
            ProducerStateTable::decode_snapshot(&bytes, 3),
            Some(t.clone())
        );
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert_eq!(
            ProducerStateTable::decode_snapshot(&bad, 3),
            None,
            "a damaged snapshot is refused"
        );
        assert_eq!(
            ProducerStateTable::decode_snapshot(&bytes[..bytes.len() - 1], 3),
            None
        );
        assert_eq!(
            t.expire(100, 97),
            1,
            "pid 2 last seen at 2 expires at horizon 3"
        );
        t.truncate_to(40);
        assert!(t.get(4).is_none() && t.get(3).is_some());
    }

    #[test]
    fn describe_lists_every_producer_by_id() {
        let mut t = ProducerStateTable::default();
        assert!(t.describe().is_empty());
        t.update(&batch(9, 2, 0, 3), 0, 100);
        let mut txn = batch(4, 0, 0, 2);
        txn.attributes = crate::batch::ATTR_TRANSACTIONAL;
        t.update(&txn, 3, 200);
        // Only a marker seen: no sequence remembered.
        t.end_txn(7, 1, 300);
        let described = t.describe();
        assert_eq!(
            described,
            vec![
                DescribedProducer {
                    producer_id: 4,
                    epoch: 0,
                    last_sequence: Some(1),
                    last_seen_ms: 200,
                    txn_first_offset: Some(3),
                },
                DescribedProducer {
                    producer_id: 7,
                    epoch: 1,
                    last_sequence: None,
                    last_seen_ms: 300,
                    txn_first_offset: None,
                },
                DescribedProducer {
                    producer_id: 9,
                    epoch: 2,
                    last_sequence: Some(2),
                    last_seen_ms: 100,
                    txn_first_offset: None,
                },
            ]
        );
        t.end_txn(4, 0, 400);
        assert_eq!(
            t.describe()[0].txn_first_offset,
            None,
            "the marker closed it"
        );
    }
}
