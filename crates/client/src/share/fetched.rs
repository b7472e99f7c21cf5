//! One partition of a ShareFetch response, as a share consumer hands it out: the broker sends
//! whole stored batches (it never rewrites them) and, beside them, the offset ranges this member
//! acquired with their delivery counts. Only records inside those ranges are this member's.
//!
//! ```text
//!  batches:   [0 ......... 9][10 ........ 19][20 ... 24 (cut)]
//!  acquired:        {5..=14, delivery 1}  {18..=24, delivery 2}
//!  handed out: 5..=14 (count 1), 18..=19 (count 2)
//!  auto acks:  20..=24 RELEASE (past the last whole batch: not received, so not lost)
//!              offsets of acquired ranges inside whole batches without a record (control
//!              records, compacted away) GAP, as Kafka's client does
//! ```
//!
//! # Invariants
//! - A record is handed out only if its offset lies in an acquired range, at most once, with
//!   that range's delivery count.
//! - Every acquired offset is either handed out or gets an automatic acknowledgement (GAP or
//!   RELEASE), so no acquisition is left to its lock by the client's own decoding.
//! - Acquired ranges are checked (`0 <= first <= last < i64::MAX`, no overlaps) before anything is
//!   decoded; a bad range is an error naming the partition.

use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::acks::{AckRanges, AcknowledgeType};
use super::ShareRecord;
use crate::error::{ClientError, Result};
use crate::records::{decode_batches_where, DECOMPRESSED_BATCH_BYTES_MAX};
use ringlog_protocol::messages::ShareAcquiredRecords;

/// The records of one partition this member acquired, and the automatic acknowledgements of
/// acquired offsets without a record.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Records in acquired ranges, in offset order.
    pub records: Vec<ShareRecord>,
    /// GAP for acquired offsets inside the whole batches that hold no record, RELEASE for those
    /// past the last whole batch.
    pub auto_acks: AckRanges,
}

/// Reads one partition's `records` bytes against its `acquired` ranges (see the module doc).
pub fn acquired_records(
    topic: &Arc<str>,
    topic_id: Uuid,
    partition: i32,
    records: &Bytes,
    acquired: &[ShareAcquiredRecords],
) -> Result<Fetched> {
    let context = format!("{topic}-{partition}");
    let mut ranges: Vec<(i64, i64, i16)> = acquired
        .iter()
        .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
        .collect();
    ranges.sort_unstable();
    let bad = |what: String| ClientError::Records {
        reason: format!("{context}: acquired records {what}"),
    };
    if let Some(&(first, last, _)) = ranges
        .iter()
        .find(|r| r.0 < 0 || r.1 < r.0 || r.1 == i64::MAX)
    {
        return Err(bad(format!("{first}..={last}")));
    }
    if let Some(w) = ranges.windows(2).find(|w| w[0].1 >= w[1].0) {
        return Err(bad(format!(
            "{}..={} and {}..={} overlap",
            w[0].0, w[0].1, w[1].0, w[1].1
        )));
    }
    // The acquired range holding `offset`, if any.
    let range_of = |offset: i64| -> Option<usize> {
        let i = ranges.partition_point(|r| r.1 < offset);
        (i < ranges.len() && ranges[i].0 <= offset).then_some(i)
    };
    let decoded = decode_batches_where(records, &context, DECOMPRESSED_BATCH_BYTES_MAX, |h| {
        // Decode only batches that hold acquired offsets.
        let i = ranges.partition_point(|r| r.1 < h.base_offset);
        i < ranges.len() && ranges[i].0 <= h.last_offset()
    })?;
    let mut out = Fetched::default();
    let mut last_kept: Option<i64> = None;
    for record in decoded.records {
        let Some(i) = range_of(record.offset) else {
            continue;
        };
        // Batches come in offset order; a repeated or backwards offset is not handed out twice.
        if last_kept.is_some_and(|l| record.offset <= l) {
            continue;
        }
        last_kept = Some(record.offset);
        out.records.push(ShareRecord {
            topic: topic.clone(),
            topic_id,
            partition,
            delivery_count: ranges[i].2,
            record,
        });
    }
    // Acquired offsets without a record: GAP below the end of the whole batches, RELEASE from
    // there on.
    let whole_end = decoded.next_offset.unwrap_or(i64::MIN);
    let mut kept = out.records.iter().map(|r| r.record.offset).peekable();
    for &(first, last, _) in &ranges {
        let mut at = first;
        while at <= last {
            // The next handed-out offset in this range, or past it.
            while kept.next_if(|&o| o < at).is_some() {}
            let next = kept.peek().copied().filter(|&o| o <= last);
            let gap_end = next.map_or(last, |o| o - 1);
            if gap_end >= at {
                add_missing(&mut out.auto_acks, at, gap_end, whole_end);
            }
            match next {
                Some(o) => {
                    kept.next();
                    at = o + 1;
                }
                None => break,
            }
        }
    }
    Ok(out)
}

/// Acknowledges missing offsets `first..=last`: GAP below `whole_end`, RELEASE from it on.
fn add_missing(acks: &mut AckRanges, first: i64, last: i64, whole_end: i64) {
    let split = whole_end.clamp(first, last.saturating_add(1));
    let mut add = |a: i64, b: i64, ack| {
        if a <= b {
            acks.add(a, b, ack)
                .expect("ranges were checked: 0 <= first <= last");
        }
    };
    add(first, split - 1, AcknowledgeType::Gap);
    add(split, last, AcknowledgeType::Release);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{encode_batch, Compression, ProducerRecord};
    use ringlog_storage::batch;

    /// Uncompressed batches of `counts[i]` one-byte records each, offsets from 0, each value
    /// the low byte of its offset.
    fn batches(counts: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut base = 0i64;
        for &n in counts {
            let records: Vec<ProducerRecord> = (0..n)
                .map(|i| ProducerRecord {
                    key: None,
                    value: Some(Bytes::from(vec![(base + i as i64) as u8])),
                })
                .collect();
            let mut b = encode_batch(&records, 0, Compression::None)
                .unwrap()
                .to_vec();
            batch::stamp(&mut b, base, 0);
            out.extend_from_slice(&b);
            base += n as i64;
        }
        out
    }

    fn acquired(first: i64, last: i64, delivery_count: i16) -> ShareAcquiredRecords {
        ShareAcquiredRecords {
            first_offset: first,
            last_offset: last,
            delivery_count,
        }
    }

    fn read(bytes: Vec<u8>, ranges: &[ShareAcquiredRecords]) -> Result<Fetched> {
        let topic: Arc<str> = Arc::from("t");
        acquired_records(&topic, Uuid::nil(), 3, &Bytes::from(bytes), ranges)
    }

    fn auto(f: &Fetched) -> Vec<(i64, i64, AcknowledgeType)> {
        f.auto_acks
            .runs()
            .iter()
            .map(|r| (r.first, r.last, r.ack))
            .collect()
    }

    #[test]
    fn only_acquired_records_are_handed_out_with_their_delivery_counts() {
        let all = batches(&[10, 10]);
        let f = read(all, &[acquired(18, 19, 2), acquired(5, 14, 1)]).unwrap();
        let got: Vec<(i64, i16)> = f
            .records
            .iter()
            .map(|r| (r.record.offset, r.delivery_count))
            .collect();
        let want: Vec<(i64, i16)> = (5..=14).map(|o| (o, 1)).chain([(18, 2), (19, 2)]).collect();
        assert_eq!(got, want);
        assert!(f
            .records
            .iter()
            .all(|r| r.partition == 3 && &*r.topic == "t"));
        assert_eq!(f.records[0].record.value.as_deref(), Some(&[5u8][..]));
        assert!(f.auto_acks.is_empty());
    }

    #[test]
    fn acquired_offsets_past_the_whole_batches_are_released_and_holes_are_gaps() {
        let mut bytes = batches(&[10, 10, 5]);
        bytes.truncate(bytes.len() - 3); // the third batch is cut
        let f = read(bytes.clone(), &[acquired(5, 24, 1)]).unwrap();
        assert_eq!(f.records.len(), 15);
        assert_eq!(auto(&f), [(20, 24, AcknowledgeType::Release)]);

        // A control batch inside an acquired range: its offsets are gaps.
        let mut control = batches(&[10, 10]);
        let second = batch::BatchHeader::parse(&control).unwrap().size_bytes() as usize;
        let at = second + batch::ATTRIBUTES_AT;
        control[at..at + 2].copy_from_slice(&batch::ATTR_CONTROL.to_be_bytes());
        batch::testing::fix_crc(&mut control[second..]);
        let f = read(control, &[acquired(8, 12, 1), acquired(19, 21, 1)]).unwrap();
        let offsets: Vec<i64> = f.records.iter().map(|r| r.record.offset).collect();
        assert_eq!(offsets, [8, 9]);
        assert_eq!(
            auto(&f),
            [
                (10, 12, AcknowledgeType::Gap),
                (19, 19, AcknowledgeType::Gap),
                (20, 21, AcknowledgeType::Release)
            ]
        );

        // No bytes at all: everything acquired is released.
        let f = read(Vec::new(), &[acquired(0, 4, 3)]).unwrap();
        assert!(f.records.is_empty());
        assert_eq!(auto(&f), [(0, 4, AcknowledgeType::Release)]);
    }

    #[test]
    fn bad_ranges_are_errors_naming_the_partition() {
        let e = read(batches(&[5]), &[acquired(4, 3, 1)]).unwrap_err();
        assert!(e.to_string().contains("t-3: acquired records 4..=3"), "{e}");
        let e = read(batches(&[5]), &[acquired(-2, 3, 1)]).unwrap_err();
        assert!(e.to_string().contains("-2..=3"), "{e}");
        let e = read(batches(&[5]), &[acquired(0, 3, 1), acquired(3, 4, 1)]).unwrap_err();
        assert!(e.to_string().contains("overlap"), "{e}");
        // Damaged batch bytes are the decoder's error.
        let mut b = batches(&[5]);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(read(b, &[acquired(0, 4, 1)]).is_err());
    }

    #[test]
    fn a_hostile_huge_range_costs_runs_not_memory() {
        let f = read(batches(&[3]), &[acquired(1, i64::MAX - 1, 1)]).unwrap();
        assert_eq!(f.records.len(), 2);
        assert_eq!(auto(&f), [(3, i64::MAX - 1, AcknowledgeType::Release)]);
    }
}
