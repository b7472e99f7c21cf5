//! Sparse offset index and time index of one segment.
//!
//! Both are kept whole in memory and mirrored to files so a sealed segment opens without a scan.
//!
//! `.index`: one 8-byte entry roughly every `index_interval_bytes` of log data.
//! ```text
//! byte 0                 4                 8
//!      +-----------------+-----------------+
//!      | relative_offset | position        |   relative_offset = batch base offset - segment base
//!      | u32 BE          | u32 BE          |   position = byte position of that batch in .log
//!      +-----------------+-----------------+
//! ```
//! `.timeindex`: 12-byte entries, added when a batch raises the segment's running maximum
//! timestamp and at least `index_interval_bytes` were appended since the previous entry; sealing a
//! segment adds a final entry for the segment's maximum timestamp.
//! ```text
//! byte 0                                   8                 12
//!      +-----------------------------------+-----------------+
//!      | timestamp i64 BE                  | relative_offset |   timestamp = running max of batch
//!      | (max timestamp so far)            | u32 BE          |   max timestamps; relative offset of
//!      +-----------------------------------+-----------------+   the batch that set it (its base)
//! ```
//!
//! # Invariants
//! - Offset entries strictly increase in both `relative_offset` and `position`; each points at
//!   the start of a batch.
//! - Time entries strictly increase in `timestamp` and in `relative_offset`. Every batch at or
//!   before an entry's batch has a max timestamp `<=` the entry's timestamp.
//! - Entries depend only on the sequence of (batch, size, max timestamp), so rebuilding from the
//!   log gives the same entries as appending did.

/// Bytes per `.index` entry.
pub const OFFSET_ENTRY_BYTES: usize = 8;
/// Bytes per `.timeindex` entry.
pub const TIME_ENTRY_BYTES: usize = 12;

/// One `.index` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Base offset of the indexed batch minus the segment's base offset.
    pub relative_offset: u32,
    /// Byte position of that batch in the segment's `.log`.
    pub position: u32,
}

/// One `.timeindex` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Running maximum batch timestamp up to the entry's batch, milliseconds since the epoch.
    pub timestamp: i64,
    /// Base offset of the batch that set `timestamp`, minus the segment's base offset.
    pub relative_offset: u32,
}

impl OffsetEntry {
    /// The entry's 8 on-disk bytes (layout in the module docs).
    pub fn encode(&self) -> [u8; OFFSET_ENTRY_BYTES] {
        let mut b = [0u8; OFFSET_ENTRY_BYTES];
        b[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        b[4..].copy_from_slice(&self.position.to_be_bytes());
        b
    }
}

impl TimeEntry {
    /// The entry's 12 on-disk bytes (layout in the module docs).
    pub fn encode(&self) -> [u8; TIME_ENTRY_BYTES] {
        let mut b = [0u8; TIME_ENTRY_BYTES];
        b[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..].copy_from_slice(&self.relative_offset.to_be_bytes());
        b
    }
}

/// Decodes a `.index` file, checking its invariants against the log's length.
pub fn decode_offset_index(bytes: &[u8], log_len_bytes: u64) -> Result<Vec<OffsetEntry>, String> {
    if bytes.len() % OFFSET_ENTRY_BYTES != 0 {
        return Err(format!(
            "index length {} not a multiple of {OFFSET_ENTRY_BYTES}",
            bytes.len()
        ));
    }
    let mut out: Vec<OffsetEntry> = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_BYTES);
    for c in bytes.chunks_exact(OFFSET_ENTRY_BYTES) {
        let e = OffsetEntry {
            relative_offset: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            position: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
        };
        if let Some(p) = out.last() {
            if e.relative_offset <= p.relative_offset || e.position <= p.position {
                return Err(format!("index entry {} not increasing", out.len()));
            }
        }
        if u64::from(e.position) >= log_len_bytes {
            return Err(format!("index entry {} points past the log end", out.len()));
        }
        out.push(e);
    }
    Ok(out)
}

/// Decodes a `.timeindex` file, checking its invariants.
pub fn decode_time_index(bytes: &[u8]) -> Result<Vec<TimeEntry>, String> {
    if bytes.len() % TIME_ENTRY_BYTES != 0 {
        return Err(format!(
            "time index length {} not a multiple of {TIME_ENTRY_BYTES}",
            bytes.len()
        ));
    }
    let mut out: Vec<TimeEntry> = Vec::with_capacity(bytes.len() / TIME_ENTRY_BYTES);
    for c in bytes.chunks_exact(TIME_ENTRY_BYTES) {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&c[..8]);
        let e = TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
        };
        if let Some(p) = out.last() {
            if e.timestamp <= p.timestamp || e.relative_offset <= p.relative_offset {
                return Err(format!("time index entry {} not increasing", out.len()));
            }
        }
        out.push(e);
    }
    Ok(out)
}

/// Entries added by one batch, to be mirrored to the files.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// New `.index` entry, if the batch crossed `index_interval_bytes`.
    pub offset: Option<OffsetEntry>,
    /// New `.timeindex` entry, if the batch raised the max timestamp past the interval.
    pub time: Option<TimeEntry>,
}

/// Where [`SegmentIndexes`] stood before an append, to undo the append if its write fails
/// ([`SegmentIndexes::rewind`]).
#[derive(Debug, Clone, Copy)]
pub struct IndexMark {
    offsets: usize,
    times: usize,
    bytes_since_offset_entry: u64,
    bytes_since_time_entry: u64,
    max_timestamp: i64,
    max_timestamp_relative: u32,
}

impl IndexMark {
    /// `.index` entries at the mark.
    pub fn offset_entries(&self) -> usize {
        self.offsets
    }
    /// `.timeindex` entries at the mark.
    pub fn time_entries(&self) -> usize {
        self.times
    }
}

/// The in-memory indexes of one segment plus the state that decides when to add entries.
#[derive(Debug, Clone)]
pub struct SegmentIndexes {
    /// The `.index` entries, increasing in offset and position.
    pub offsets: Vec<OffsetEntry>,
    /// The `.timeindex` entries, increasing in timestamp and offset.
    pub times: Vec<TimeEntry>,
    interval_bytes: u64,
    bytes_since_offset_entry: u64,
    bytes_since_time_entry: u64,
    /// Running maximum of batch max timestamps (`i64::MIN` when the segment is empty).
    pub max_timestamp: i64,
    /// Relative offset of the batch that set `max_timestamp`.
    pub max_timestamp_relative: u32,
}

impl SegmentIndexes {
    /// Empty indexes of a new segment adding entries every `interval_bytes` of log data.
    pub fn new(interval_bytes: u64) -> Self {
        SegmentIndexes {
            offsets: Vec::new(),
            times: Vec::new(),
            interval_bytes,
            bytes_since_offset_entry: 0,
            bytes_since_time_entry: 0,
            max_timestamp: i64::MIN,
            max_timestamp_relative: 0,
        }
    }

    /// Indexes from files of a sealed segment (already validated by the decoders).
    pub fn from_sealed(
        interval_bytes: u64,
        offsets: Vec<OffsetEntry>,
        times: Vec<TimeEntry>,
    ) -> Self {
        let (max_timestamp, max_timestamp_relative) = times
            .last()
            .map(|t| (t.timestamp, t.relative_offset))
            .unwrap_or((i64::MIN, 0));
        SegmentIndexes {
            offsets,
            times,
            interval_bytes,
            bytes_since_offset_entry: 0,
            bytes_since_time_entry: 0,
            max_timestamp,
            max_timestamp_relative,
        }
    }

    /// Where the indexes stand now.
    pub fn mark(&self) -> IndexMark {
        IndexMark {
            offsets: self.offsets.len(),
            times: self.times.len(),
            bytes_since_offset_entry: self.bytes_since_offset_entry,
            bytes_since_time_entry: self.bytes_since_time_entry,
            max_timestamp: self.max_timestamp,
            max_timestamp_relative: self.max_timestamp_relative,
        }
    }

    /// Back to `mark`, forgetting every batch recorded since (entries are only ever appended, so
    /// truncating the vectors and restoring the counters is exact).
    pub fn rewind(&mut self, mark: IndexMark) {
        assert!(
            mark.offsets <= self.offsets.len() && mark.times <= self.times.len(),
            "index rewind to a mark ahead of the indexes"
        );
        self.offsets.truncate(mark.offsets);
        self.times.truncate(mark.times);
        self.bytes_since_offset_entry = mark.bytes_since_offset_entry;
        self.bytes_since_time_entry = mark.bytes_since_time_entry;
        self.max_timestamp = mark.max_timestamp;
        self.max_timestamp_relative = mark.max_timestamp_relative;
    }

    /// Records one batch appended at `position`; returns the entries it added.
    pub fn on_batch(
        &mut self,
        relative_offset: u32,
        position: u32,
        size_bytes: u64,
        max_timestamp: i64,
    ) -> Added {
        let mut added = Added::default();
        if self.bytes_since_offset_entry >= self.interval_bytes {
            let e = OffsetEntry {
                relative_offset,
                position,
            };
            debug_assert!(
                self.offsets
                    .last()
                    .is_none_or(|p| p.relative_offset < relative_offset && p.position < position),
                "offset index entry {e:?} does not follow {:?}",
                self.offsets.last()
            );
            self.offsets.push(e);
            self.bytes_since_offset_entry = 0;
            added.offset = Some(e);
        }
        self.bytes_since_offset_entry += size_bytes;
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.max_timestamp_relative = relative_offset;
            if self.bytes_since_time_entry >= self.interval_bytes {
                let e = TimeEntry {
                    timestamp: max_timestamp,
                    relative_offset,
                };
                debug_assert!(
                    self.times.last().is_none_or(
                        |p| p.timestamp < e.timestamp && p.relative_offset < relative_offset
                    ),
                    "time index entry {e:?} does not follow {:?}",
                    self.times.last()
                );
                self.times.push(e);
                self.bytes_since_time_entry = 0;
                added.time = Some(e);
            }
        }
        self.bytes_since_time_entry += size_bytes;
        added
    }

    /// On sealing: makes the last time entry carry the segment's maximum timestamp.
    pub fn seal(&mut self) -> Option<TimeEntry> {
        if self.max_timestamp == i64::MIN {
            return None;
        }
        if self
            .times
            .last()
            .is_none_or(|t| t.timestamp < self.max_timestamp)
        {
            let e = TimeEntry {
                timestamp: self.max_timestamp,
                relative_offset: self.max_timestamp_relative,
            };
            debug_assert!(
                self.times
                    .last()
                    .is_none_or(|p| p.relative_offset < e.relative_offset),
                "closing time index entry {e:?} does not follow {:?}",
                self.times.last()
            );
            self.times.push(e);
            return Some(e);
        }
        None
    }

    /// The last offset entry at or before `relative_offset` (the position to start a scan).
    pub fn lookup_offset(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let i = self
            .offsets
            .partition_point(|e| e.relative_offset <= relative_offset);
        i.checked_sub(1).map(|i| self.offsets[i])
    }

    /// Where a scan for the first batch with max timestamp `>= ts` may start: the relative offset
    /// after the last time entry whose timestamp is `< ts` (every batch up to it is older).
    pub fn time_scan_start(&self, ts: i64) -> u32 {
        let i = self.times.partition_point(|e| e.timestamp < ts);
        match i.checked_sub(1) {
            Some(i) => self.times[i].relative_offset.saturating_add(1),
            None => 0,
        }
    }

    /// Encodes all offset entries (for rewriting the file after a rebuild).
    pub fn encode_offsets(&self) -> Vec<u8> {
        self.offsets.iter().flat_map(|e| e.encode()).collect()
    }

    /// Encodes all time entries.
    pub fn encode_times(&self) -> Vec<u8> {
        self.times.iter().flat_map(|e| e.encode()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_entries_and_lookup() {
        let mut ix = SegmentIndexes::new(100);
        // 10 batches of 60 bytes, one offset each, timestamps increasing by 10
        for i in 0..10u32 {
            ix.on_batch(i, i * 60, 60, i64::from(i) * 10);
        }
        // entries when >= 100 bytes accumulated: before batch 2, 4, 6, 8
        let rels: Vec<u32> = ix.offsets.iter().map(|e| e.relative_offset).collect();
        assert_eq!(rels, vec![2, 4, 6, 8]);
        assert_eq!(ix.lookup_offset(0), None);
        assert_eq!(ix.lookup_offset(5).map(|e| e.position), Some(240));
        assert_eq!(ix.lookup_offset(99).map(|e| e.relative_offset), Some(8));
        assert_eq!(
            ix.seal(),
            Some(TimeEntry {
                timestamp: 90,
                relative_offset: 9
            })
        );
        assert_eq!(ix.seal(), None);
        assert_eq!(ix.time_scan_start(0), 0);
        assert!(ix.time_scan_start(45) <= 5);
        let bytes = ix.encode_offsets();
        assert_eq!(decode_offset_index(&bytes, 600).expect("valid"), ix.offsets);
        assert_eq!(
            decode_time_index(&ix.encode_times()).expect("valid"),
            ix.times
        );
    }

    #[test]
    fn decoders_reject_damage() {
        let e = [
            OffsetEntry {
                relative_offset: 5,
                position: 10,
            },
            OffsetEntry {
                relative_offset: 4,
                position: 20,
            },
        ];
        let b: Vec<u8> = e.iter().flat_map(|e| e.encode()).collect();
        assert!(decode_offset_index(&b, 100).is_err());
        assert!(decode_offset_index(&b[..7], 100).is_err());
        let ok = e[0].encode();
        assert!(
            decode_offset_index(&ok, 10).is_err(),
            "position past log end"
        );
        let t: Vec<u8> = [
            TimeEntry {
                timestamp: 5,
                relative_offset: 1,
            },
            TimeEntry {
                timestamp: 5,
                relative_offset: 2,
            },
        ]
        .iter()
        .flat_map(|e| e.encode())
        .collect();
        assert!(decode_time_index(&t).is_err());
    }

    #[test]
    fn time_entries_only_on_new_max() {
        let mut ix = SegmentIndexes::new(0);
        ix.on_batch(0, 0, 10, 50);
        ix.on_batch(1, 10, 10, 40);
        ix.on_batch(2, 20, 10, 60);
        assert_eq!(ix.times.len(), 2);
        assert_eq!(ix.time_scan_start(55), 1);
        assert_eq!(ix.time_scan_start(50), 0);
    }
}
