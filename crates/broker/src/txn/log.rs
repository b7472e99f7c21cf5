//! The byte layout of transaction state records in the state log family
//! [`super::FAMILY`]: one record per transactional id, the latest is its state.
//!
//! ```text
//! key:   kind u8 = 1 | transactional id (UTF-8, the rest of the key)
//! value: version u8 = 0 | producer_id i64 | epoch i16 | timeout_ms i32 | state u8
//!        | start_ms i64 (-1: no transaction open) | update_ms i64
//!        | partitions u32, partitions x (topic: len u16 + UTF-8, partition i32)
//!        | groups u32, groups x (group: len u16 + UTF-8)
//! ```
//! Integers big-endian. States: 0 Empty, 1 Ongoing, 2 PrepareCommit, 3 PrepareAbort,
//! 4 CompleteCommit, 5 CompleteAbort (Kafka's names, as DescribeTransactions shows them).

use std::collections::BTreeSet;

use crate::storage::codec::BeReader;

/// First byte of a key.
pub const KEY_KIND_TXN: u8 = 1;
/// First byte of a value.
pub const VALUE_VERSION: u8 = 0;

/// Where a transactional id's transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxnState {
    /// A producer id, no transaction yet.
    Empty,
    /// Partitions or offsets added: records may be written.
    Ongoing,
    /// Committing: markers being written.
    PrepareCommit,
    /// Aborting: markers being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

impl TxnState {
    const ALL: [TxnState; 6] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
    ];

    /// Kafka's name of the state (DescribeTransactions, ListTransactions filters).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    /// The state of a Kafka name (ListTransactions' state filter); `None` for an unknown one.
    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// PrepareCommit or PrepareAbort: markers may be missing, the coordinator completes it.
    pub fn is_prepared(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> Option<TxnState> {
        TxnState::ALL.get(usize::from(c)).copied()
    }
}

/// The state of one transactional id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnMeta {
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub epoch: i16,
    /// The client's `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// Where the transaction is.
    pub state: TxnState,
    /// Partitions of the (current or last) transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// Consumer groups whose offsets the transaction commits.
    pub groups: BTreeSet<String>,
    /// When the transaction started (ms since the epoch), -1 when none is open.
    pub start_ms: i64,
    /// When the state last changed (ms since the epoch).
    pub update_ms: i64,
}

impl TxnMeta {
    /// A new producer's state.
    pub fn new(producer_id: i64, epoch: i16, timeout_ms: i32) -> TxnMeta {
        TxnMeta {
            producer_id,
            epoch,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            start_ms: -1,
            update_ms: -1,
        }
    }

    /// The record value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.partitions.len() * 32);
        out.push(VALUE_VERSION);
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.timeout_ms.to_be_bytes());
        out.push(self.state.code());
        out.extend_from_slice(&self.start_ms.to_be_bytes());
        out.extend_from_slice(&self.update_ms.to_be_bytes());
        out.extend_from_slice(&(self.partitions.len() as u32).to_be_bytes());
        for (topic, partition) in &self.partitions {
            put_str16(&mut out, topic);
            out.extend_from_slice(&partition.to_be_bytes());
        }
        out.extend_from_slice(&(self.groups.len() as u32).to_be_bytes());
        for g in &self.groups {
            put_str16(&mut out, g);
        }
        out
    }

    /// Decodes a record value; an error names what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<TxnMeta, String> {
        let short = || "transaction state value cut short".to_string();
        let mut r = BeReader::new(bytes);
        let version = r.u8().ok_or_else(short)?;
        if version != VALUE_VERSION {
            return Err(format!("transaction state value version {version}"));
        }
        let producer_id = r.i64().ok_or_else(short)?;
        let epoch = r.i16().ok_or_else(short)?;
        let timeout_ms = r.i32().ok_or_else(short)?;
        let state_code = r.u8().ok_or_else(short)?;
        let state = TxnState::from_code(state_code)
            .ok_or_else(|| format!("unknown transaction state {state_code}"))?;
        let start_ms = r.i64().ok_or_else(short)?;
        let update_ms = r.i64().ok_or_else(short)?;
        let n = r.u32().ok_or_else(short)? as usize;
        let mut partitions = BTreeSet::new();
        for _ in 0..n.min(super::TXN_PARTITIONS_MAX + 1) {
            partitions.insert((r.str16().ok_or_else(short)?, r.i32().ok_or_else(short)?));
        }
        let n = r.u32().ok_or_else(short)? as usize;
        let mut groups = BTreeSet::new();
        for _ in 0..n.min(super::TXN_GROUPS_MAX + 1) {
            groups.insert(r.str16().ok_or_else(short)?);
        }
        if !r.rest.is_empty() {
            return Err("bytes after the transaction state value".into());
        }
        Ok(TxnMeta {
            producer_id,
            epoch,
            timeout_ms,
            state,
            partitions,
            groups,
            start_ms,
            update_ms,
        })
    }
}

fn put_str16(out: &mut Vec<u8>, s: &str) {
    let n = u16::try_from(s.len()).expect("topic and group names are bounded below 64 KiB");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The key of a transactional id's record.
pub fn encode_key(id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + id.len());
    out.push(KEY_KIND_TXN);
    out.extend_from_slice(id.as_bytes());
    out
}

/// The transactional id of a key; `None` for anything else.
pub fn decode_key(bytes: &[u8]) -> Option<String> {
    let (&kind, id) = bytes.split_first()?;
    if kind != KEY_KIND_TXN || id.is_empty() {
        return None;
    }
    String::from_utf8(id.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let mut m = TxnMeta::new(42, 7, 60_000);
        m.state = TxnState::PrepareCommit;
        m.partitions.insert(("orders".into(), 3));
        m.partitions.insert(("audit".into(), 0));
        m.groups.insert("g".into());
        m.start_ms = 1_700_000_000_000;
        m.update_ms = 1_700_000_000_500;
        let v = m.encode();
        assert_eq!(TxnMeta::decode(&v), Ok(m.clone()));
        for cut in 0..v.len() {
            assert!(TxnMeta::decode(&v[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = v.clone();
        longer.push(0);
        assert!(TxnMeta::decode(&longer).is_err());
        let mut bad_state = v.clone();
        bad_state[1 + 8 + 2 + 4] = 9;
        assert!(TxnMeta::decode(&bad_state).is_err());
        assert_eq!(decode_key(&encode_key("tx-1")).as_deref(), Some("tx-1"));
        assert_eq!(decode_key(&[1]), None);
        assert_eq!(decode_key(&[2, b'a']), None);
        for s in TxnState::ALL {
            assert_eq!(TxnState::from_name(s.name()), Some(s));
            assert_eq!(TxnState::from_code(s.code()), Some(s));
        }
        assert_eq!(TxnState::from_name("Dead"), None);
    }
}
