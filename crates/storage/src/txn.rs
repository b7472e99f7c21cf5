//! Transactions in one partition's log: control batches (commit/abort markers), the aborted
//! transactions of each segment, and what the last stable offset (LSO) is made of.
//!
//! A transactional producer's batches carry the transactional attribute bit; the transaction
//! ends in each partition with a **marker**: a control batch (attributes control +
//! transactional, the producer's id and epoch, base sequence -1) holding one control record,
//! laid out as Kafka's clients read it:
//! ```text
//! key:   version i16 = 0 | type i16 (0 = abort, 1 = commit)
//! value: version i16 = 0 | coordinator_epoch i32
//! ```
//! The producer-state table ([`crate::producer`]) knows, per producer, the first offset of its
//! open transaction in this partition; the LSO is the smallest of those (or the high watermark
//! when none is open). A read_committed consumer reads below the LSO only, and drops the records
//! of the aborted transactions the fetch lists.
//!
//! Aborted transactions are indexed per segment in `{base_offset:020}.txnindex` (one entry per
//! abort marker in that segment), Kafka's layout, big-endian, 34 bytes per entry:
//! ```text
//! version i16 = 0 | producer_id i64 | first_offset i64 | last_offset i64 | last_stable_offset i64
//! ```
//! `last_offset` is the marker's offset. An entry is written when its marker is appended (not
//! synced then: everything after the latest producer snapshot is rebuilt from the log on open);
//! a segment's index is synced when the segment is sealed, before the snapshot at its end.
//!
//! # Invariants
//! - Markers are written only by the broker ([`crate::validate::AppendOrigin::Internal`]);
//!   clients' control batches are refused at validation.
//! - The aborted list is ordered by `last_offset` (markers are appended in offset order).

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::batch::{
    BatchHeader, ATTR_COMPRESSION_MASK, ATTR_CONTROL, ATTR_TRANSACTIONAL, HEADER_BYTES, NO_SEQUENCE,
};
use crate::codec::BeReader;
use crate::error::{Error, Result};
use crate::records::{encode_batch, get_varint, get_varlong, BatchMeta, Compression, Record};

/// File suffix of a segment's aborted-transactions index.
pub const TXN_INDEX_SUFFIX: &str = "txnindex";
/// Bytes of one index entry.
pub const TXN_INDEX_ENTRY_BYTES: usize = 34;
/// Control record type of an abort marker.
pub const MARKER_ABORT: i16 = 0;
/// Control record type of a commit marker.
pub const MARKER_COMMIT: i16 = 1;
/// Bytes read past a control batch's header to find its record's key: the record's length,
/// attributes, timestamp and offset deltas and key length (varints) and the 4-byte key.
pub const MARKER_PEEK_BYTES: usize = 32;

/// One aborted transaction of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Its first offset in this partition.
    pub first_offset: i64,
    /// The abort marker's offset.
    pub last_offset: i64,
    /// The LSO when the marker was written.
    pub last_stable_offset: i64,
}

/// The index file of the segment based at `base`.
pub fn index_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{base:020}.{TXN_INDEX_SUFFIX}"))
}

/// A marker batch of `producer_id`/`producer_epoch`: commit or abort, stamped `timestamp_ms`.
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> Vec<u8> {
    let kind = if commit { MARKER_COMMIT } else { MARKER_ABORT };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        offset_delta: 0,
        timestamp_delta: 0,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Vec::new(),
    };
    let meta = BatchMeta {
        attributes: ATTR_CONTROL | ATTR_TRANSACTIONAL,
        base_timestamp: timestamp_ms,
        producer_id,
        producer_epoch,
        base_sequence: NO_SEQUENCE,
        ..BatchMeta::default()
    };
    let mut out = Vec::with_capacity(HEADER_BYTES + 24);
    encode_batch(&meta, &[record], Compression::None, &mut out)
        .expect("a one-record marker batch always encodes");
    out
}

/// Whether the control batch starting at `batch` (its header `h`, at least the header and
/// [`MARKER_PEEK_BYTES`] more, or the whole batch) is a commit marker (`Some(true)`), an abort
/// marker (`Some(false)`), or not a marker ringlog knows (`None`: another control type, or
/// compressed, or cut short).
pub fn marker_kind(h: &BatchHeader, batch: &[u8]) -> Option<bool> {
    if !h.is_control() || h.attributes & ATTR_COMPRESSION_MASK != 0 {
        return None;
    }
    let end = batch.len().min(h.size_bytes() as usize);
    let records = batch.get(HEADER_BYTES..end)?;
    let mut pos = 0;
    let _len = get_varint(records, &mut pos)?;
    let _attributes = *records.get(pos)?;
    pos += 1;
    let _ts = get_varlong(records, &mut pos)?;
    let _delta = get_varint(records, &mut pos)?;
    let key_len = get_varint(records, &mut pos)?;
    if key_len < 4 {
        return None;
    }
    let key = records.get(pos..pos + 4)?;
    match i16::from_be_bytes([key[2], key[3]]) {
        MARKER_COMMIT => Some(true),
        MARKER_ABORT => Some(false),
        _ => None,
    }
}

fn encode_entry(e: &AbortedTxn) -> [u8; TXN_INDEX_ENTRY_BYTES] {
    let mut out = [0u8; TXN_INDEX_ENTRY_BYTES];
    out[2..10].copy_from_slice(&e.producer_id.to_be_bytes());
    out[10..18].copy_from_slice(&e.first_offset.to_be_bytes());
    out[18..26].copy_from_slice(&e.last_offset.to_be_bytes());
    out[26..34].copy_from_slice(&e.last_stable_offset.to_be_bytes());
    out
}

/// The bytes of an index holding `entries` (the cleaner writes a cleaned segment's index).
pub fn encode_entries(entries: &[AbortedTxn]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * TXN_INDEX_ENTRY_BYTES);
    for e in entries {
        bytes.extend_from_slice(&encode_entry(e));
    }
    bytes
}

/// Appends `entry` to the index at `path` (created if missing). Not synced: see the module docs.
pub fn append_entry(path: &Path, entry: &AbortedTxn) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    f.write_all(&encode_entry(entry))
        .map_err(|e| Error::io("write", path, e))
}

/// Writes `entries` as the whole index at `path` (replacing it; removed when empty). Not synced.
pub fn rewrite(path: &Path, entries: &[AbortedTxn]) -> Result<()> {
    if entries.is_empty() {
        return match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("unlink", path, e)),
        };
    }
    std::fs::write(path, encode_entries(entries)).map_err(|e| Error::io("write", path, e))
}

/// fsyncs the index at `path` if it exists.
pub fn sync(path: &Path) -> Result<()> {
    match std::fs::File::open(path) {
        Ok(f) => f.sync_data().map_err(|e| Error::io("fdatasync", path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

/// Removes the index at `path` if it exists.
pub fn remove(path: &Path) -> Result<()> {
    rewrite(path, &[])
}

/// The entries of the index at `path` (none if it does not exist). A torn last entry (a crash
/// during its write) is ignored; an entry of an unknown version is an error.
pub fn load(path: &Path) -> Result<Vec<AbortedTxn>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let mut out = Vec::with_capacity(bytes.len() / TXN_INDEX_ENTRY_BYTES);
    for (i, chunk) in bytes.chunks_exact(TXN_INDEX_ENTRY_BYTES).enumerate() {
        let mut r = BeReader::new(chunk);
        let corrupt = |reason: String| Error::CorruptSegment {
            path: path.to_path_buf(),
            position: (i * TXN_INDEX_ENTRY_BYTES) as u64,
            reason,
        };
        let version = r.i16().ok_or_else(|| corrupt("short entry".into()))?;
        if version != 0 {
            return Err(corrupt(format!("unknown entry version {version}")));
        }
        let (Some(producer_id), Some(first_offset), Some(last_offset), Some(lso)) =
            (r.i64(), r.i64(), r.i64(), r.i64())
        else {
            return Err(corrupt("short entry".into()));
        };
        out.push(AbortedTxn {
            producer_id,
            first_offset,
            last_offset,
            last_stable_offset: lso,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_encode_and_are_recognized() {
        for commit in [true, false] {
            let b = marker_batch(42, 3, commit, 7, 1_700_000_000_000);
            let h = BatchHeader::parse(&b[..HEADER_BYTES]).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, -1)
            );
            assert_eq!(marker_kind(&h, &b), Some(commit));
            crate::batch::validate_one(&b, 1 << 20).expect("a valid batch");
        }
        let b = marker_batch(1, 0, true, 0, 0);
        let h = BatchHeader::parse(&b[..HEADER_BYTES]).unwrap();
        assert_eq!(marker_kind(&h, &b[..HEADER_BYTES + 3]), None, "cut short");
    }

    #[test]
    fn index_entries_round_trip_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = index_path(dir.path(), 100);
        assert_eq!(load(&path).unwrap(), vec![]);
        let a = AbortedTxn {
            producer_id: 5,
            first_offset: 100,
            last_offset: 120,
            last_stable_offset: 100,
        };
        let b = AbortedTxn {
            producer_id: 6,
            first_offset: 110,
            last_offset: 130,
            last_stable_offset: 110,
        };
        append_entry(&path, &a).unwrap();
        append_entry(&path, &b).unwrap();
        assert_eq!(load(&path).unwrap(), vec![a, b]);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&[0, 0, 1]).unwrap();
        assert_eq!(load(&path).unwrap(), vec![a, b], "torn tail ignored");
        rewrite(&path, &[b]).unwrap();
        assert_eq!(load(&path).unwrap(), vec![b]);
        std::fs::write(&path, [0u8, 9].repeat(17)).unwrap();
        assert!(load(&path).is_err(), "unknown version refused");
        remove(&path).unwrap();
        assert!(!path.exists());
    }
}
