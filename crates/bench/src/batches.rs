//! The walk over the whole record batches of a Fetch response, for the consumers of the load and
//! transfer benchmarks; headers are read through [`ringlog_storage::batch`], the one layout module.
//!
//! # Invariants
//! - Only whole batches are counted: a Fetch may end with a partial batch (KIP-74), and the walk
//!   stops there, and at the first header that does not parse.

use ringlog_storage::batch::BatchHeader;

/// The whole record batches at the front of fetched record bytes, in order, as (position,
/// header). A Fetch may end with a partial batch (KIP-74); the walk stops there, and at the first
/// header that does not parse.
pub(crate) fn whole_batches(records: &[u8]) -> impl Iterator<Item = (usize, BatchHeader)> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let rest = records.get(at..)?;
        let header = BatchHeader::parse(rest).ok()?;
        let size = usize::try_from(header.size_bytes()).ok()?;
        if size > rest.len() {
            return None;
        }
        let position = at;
        at += size;
        Some((position, header))
    })
}

/// What the whole batches at the front of fetched record bytes hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WholeBatches {
    /// Records (offsets) in them.
    pub records: u64,
    /// Their bytes: where the first partial batch, if any, starts.
    pub bytes: u64,
    /// The offset after the last of them; `None` when there is no whole batch.
    pub next_offset: Option<i64>,
}

impl WholeBatches {
    /// Sums up [`whole_batches`] of `records`.
    pub(crate) fn of(records: &[u8]) -> WholeBatches {
        whole_batches(records).fold(WholeBatches::default(), |sum, (at, h)| WholeBatches {
            records: sum.records + h.offset_count() as u64,
            bytes: at as u64 + h.size_bytes(),
            next_offset: Some(h.last_offset() + 1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_storage::batch::{
        write_batch, MAGIC_V2, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    };

    /// A valid batch header of `count` records at `base`, with `count` bytes of records each.
    fn batch(base: i64, count: i32, out: &mut Vec<u8>) {
        let header = BatchHeader {
            base_offset: base,
            batch_length: 0, // computed by write_batch
            partition_leader_epoch: 0,
            magic: MAGIC_V2,
            crc: 0, // computed by write_batch
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            records_count: count,
        };
        let records = vec![0u8; 8 * count as usize];
        write_batch(&header, &records, out).unwrap();
    }

    #[test]
    fn whole_batches_stop_at_a_partial_last_batch() {
        let mut b = Vec::new();
        batch(0, 10, &mut b);
        let first = b.len();
        batch(10, 5, &mut b);
        let all = WholeBatches::of(&b);
        assert_eq!(
            (all.records, all.bytes, all.next_offset),
            (15, b.len() as u64, Some(15))
        );
        let cut = WholeBatches::of(&b[..b.len() - 1]);
        assert_eq!(
            (cut.records, cut.bytes, cut.next_offset),
            (10, first as u64, Some(10))
        );
        assert_eq!(WholeBatches::of(&b[..20]), WholeBatches::default());
        let positions: Vec<usize> = whole_batches(&b).map(|(at, _)| at).collect();
        assert_eq!(positions, [0, first]);
    }
}
