//! Reading a view's partition: the source partition's batches, each decided by the view's
//! filter from its summary in the filter index ([`super::index`]):
//! - every record matches: the batch goes out as it is, as a range of the segment file (runs of
//!   such batches are one range), through the connection's transfer path: zero-copy;
//! - no record matches: skipped, its records never read;
//! - some match, or the batch is not indexed: read, its records decoded and filtered, and the
//!   matching ones sent as a new batch with the original header fields (base offset, last
//!   offset delta, timestamps, producer, codec: the records keep their offsets, a consumer
//!   moves past the whole original batch) and a new CRC; an unindexed batch's summary is
//!   recorded on the way.
//!
//! Offsets are the source's: a consumer sees gaps where records did not match, as on a
//! compacted topic. When the read ends with skipped batches, an empty batch (no records, the
//! skipped batches' offset span, as Kafka's log cleaner leaves behind) tells the consumer to
//! move past them, so a consumer of a view whose tail does not match is not stuck re-reading it.
//!
//! Control batches (transaction markers) always go out as they are.

use std::rc::Rc;

use bytes::Bytes;

use crate::error::BrokerError;
use crate::shard::{PartitionRead, ReadReq, ShardState};
use crate::storage::batch::{self, BatchHeader, MAGIC_V2};
use crate::storage::log::BatchRef;
use crate::storage::records::{self, Compression, Record};
use crate::transfer::{FileRange, Piece};
use crate::view::filter::Decision;
use crate::view::summary::BatchSummary;
use crate::view::View;

/// Source bytes one read of a view partition looks at, at most: a view whose records are rare
/// still answers a fetch quickly (the client asks again from where the read stopped, which an
/// empty batch tells it); skipped batches cost a header read each.
pub const SCAN_BYTES_MAX: u64 = 64 << 20;
/// Source bytes read per step of a view read.
const STEP_BYTES: u64 = 4 << 20;

/// What was decided for one batch.
enum Sent {
    Whole,
    Skipped,
    Rewritten(Bytes),
}

/// Reads partition `r.partition` of `view` (on the source partition's owner).
pub async fn read(shard: &ShardState, view: &Rc<View>, r: &ReadReq) -> PartitionRead {
    let log = match shard.engine.log(&view.source, r.partition) {
        Ok(log) => log,
        Err(e) => return PartitionRead::failed(BrokerError::Storage(e)),
    };
    let indexes = &shard.views.indexes;
    if !indexes.is_open(&view.source, r.partition) {
        indexes.open(&view.source, r.partition, log.dir(), log.log_start_offset());
    }
    let decompressed_max = shard.engine.log_config().validation.decompressed_bytes_max;
    let mut out = PartitionRead {
        error: None,
        high_watermark: log.high_watermark(),
        log_start_offset: log.log_start_offset(),
        next_offset: r.offset,
        ranges: Vec::new(),
    };
    let mut delivered = 0u64;
    let mut scanned = 0u64;
    let mut offset = r.offset;
    // The run of whole batches being gathered into one file range, and the skipped batches
    // since the last batch sent (first offset, last header).
    let mut run: Option<FileRange> = None;
    let mut skipped: Option<(i64, BatchHeader)> = None;
    'read: loop {
        let step = STEP_BYTES.min(SCAN_BYTES_MAX - scanned).max(1);
        let (res, batches) = match log.read_batches(offset, step, r.last_wanted).await {
            Ok(x) => x,
            Err(e) => {
                if out.ranges.is_empty() && run.is_none() {
                    out.error = Some(BrokerError::Storage(e));
                    out.high_watermark = log.high_watermark();
                    out.log_start_offset = log.log_start_offset();
                    return out;
                }
                break;
            }
        };
        out.high_watermark = res.high_watermark;
        out.log_start_offset = res.log_start_offset;
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            break;
        };
        let bases = log.segment_base_offsets();
        indexes
            .load(
                &view.source,
                r.partition,
                &bases,
                first.header.base_offset,
                last.header.last_offset(),
            )
            .await;
        for b in &batches {
            let h = b.header;
            let sent = match decide(shard, view, r.partition, &bases, &h) {
                Decision::All => Sent::Whole,
                Decision::None => Sent::Skipped,
                Decision::Mixed => {
                    match rewrite(shard, view, r, &bases, b, decompressed_max).await {
                        Ok(Some(bytes)) => Sent::Rewritten(bytes),
                        Ok(None) => Sent::Skipped,
                        Err(e) => {
                            // A batch the log holds but that cannot be decoded: the source's
                            // consumers would fail on it too; say so rather than skip data.
                            tracing::warn!(
                                "view {}: batch {}..={} of {}-{}: {e}",
                                view.name,
                                h.base_offset,
                                h.last_offset(),
                                view.source,
                                r.partition
                            );
                            if out.ranges.is_empty() && run.is_none() {
                                out.error = Some(BrokerError::CorruptBatch {
                                    topic: view.name.clone(),
                                    partition: r.partition,
                                    offset: h.base_offset,
                                    reason: e,
                                });
                            }
                            break 'read;
                        }
                    }
                }
            };
            match sent {
                Sent::Skipped => {
                    view.stats
                        .batches_skipped
                        .set(view.stats.batches_skipped.get() + 1);
                    let from = skipped.map_or(h.base_offset, |(from, _)| from);
                    skipped = Some((from, h));
                }
                Sent::Whole => {
                    skipped = None;
                    let len = h.size_bytes();
                    view.stats
                        .batches_whole
                        .set(view.stats.batches_whole.get() + 1);
                    view.stats
                        .bytes_zero_copy
                        .set(view.stats.bytes_zero_copy.get() + len);
                    delivered += len;
                    match run.as_mut() {
                        Some(range)
                            if range.position + range.len == b.position
                                && range.file.raw_fd() == b.file.raw_fd() =>
                        {
                            range.len += len
                        }
                        _ => {
                            if let Some(done) = run.take() {
                                out.ranges.push(Piece::File(done));
                            }
                            run = Some(FileRange {
                                file: (*b.file).clone(),
                                position: b.position,
                                len,
                                hold: None,
                            });
                        }
                    }
                }
                Sent::Rewritten(bytes) => {
                    skipped = None;
                    if let Some(done) = run.take() {
                        out.ranges.push(Piece::File(done));
                    }
                    view.stats
                        .batches_rewritten
                        .set(view.stats.batches_rewritten.get() + 1);
                    view.stats
                        .bytes_rewritten
                        .set(view.stats.bytes_rewritten.get() + bytes.len() as u64);
                    delivered += bytes.len() as u64;
                    out.ranges.push(Piece::Bytes(bytes));
                }
            }
            out.next_offset = h.last_offset() + 1;
            if delivered >= r.max_bytes || h.last_offset() >= r.last_wanted {
                break 'read;
            }
        }
        scanned += res.size_bytes();
        offset = res.next_offset;
        if offset >= res.high_watermark || scanned >= SCAN_BYTES_MAX {
            break;
        }
    }
    if let Some(done) = run.take() {
        out.ranges.push(Piece::File(done));
    }
    if let Some((from, last)) = skipped {
        out.ranges.push(Piece::Bytes(empty_batch(from, &last)));
    }
    if !hold_files(shard, &mut out) {
        tracing::debug!(
            "fetch of view {}-{}: the in-flight fetch file budget is spent; answered without data",
            view.name,
            r.partition
        );
        out.ranges.clear();
        out.next_offset = r.offset;
    }
    out
}

/// Gives every file range its share of the in-flight fetch file budget; false when it is spent.
fn hold_files(shard: &ShardState, out: &mut PartitionRead) -> bool {
    for piece in &mut out.ranges {
        if let Piece::File(range) = piece {
            match shard.fetch_files.try_reserve(1) {
                Some(hold) => range.hold = Some(std::sync::Arc::new(hold)),
                None => return false,
            }
        }
    }
    true
}

/// The filter's decision for batch `h`: from its summary when the index has a matching one,
/// `Mixed` (read it) when not. Control batches go out as they are.
fn decide(
    shard: &ShardState,
    view: &View,
    partition: i32,
    bases: &[i64],
    h: &BatchHeader,
) -> Decision {
    if h.is_control() {
        return Decision::All;
    }
    match shard
        .views
        .indexes
        .lookup(&view.source, partition, bases, h)
    {
        Some(s) => {
            let (id, decision) = s.decided.get();
            if id == view.id {
                return decision;
            }
            let decision = view.filter.decide(&s.summary);
            s.decided.set((view.id, decision));
            decision
        }
        None => {
            view.stats
                .batches_unindexed
                .set(view.stats.batches_unindexed.get() + 1);
            Decision::Mixed
        }
    }
}

/// Reads batch `b`, records its summary if the index lacks it, and returns the batch cut down
/// to its matching records at or after the offset asked for (`None` when there are none; the
/// whole batch, unchanged, when every record matches).
async fn rewrite(
    shard: &ShardState,
    view: &View,
    r: &ReadReq,
    bases: &[i64],
    b: &BatchRef,
    decompressed_max: usize,
) -> Result<Option<Bytes>, String> {
    let h = b.header;
    let bytes = Bytes::from(b.read().await.map_err(|e| format!("reading it: {e}"))?);
    let recs = records::decode_batch_records(&bytes, &h, decompressed_max)
        .map_err(|e| format!("decoding its records: {e}"))?;
    let indexes = &shard.views.indexes;
    if !indexes.covers(&view.source, r.partition, bases, &h) {
        let summary = BatchSummary::of_records(&recs);
        if indexes.record(&view.source, r.partition, bases, &h, summary) {
            indexes.flush_partition(&view.source, r.partition).await;
        }
    }
    let total = recs.len();
    let kept: Vec<Record> = recs
        .into_iter()
        .filter(|rec| h.base_offset + i64::from(rec.offset_delta) >= r.offset)
        .filter(|rec| view.filter.matches(rec))
        .collect();
    if kept.is_empty() {
        return Ok(None);
    }
    if kept.len() == total {
        return Ok(Some(bytes));
    }
    cut_batch(&h, &kept).map(Some)
}

/// A batch with `h`'s header fields (offset span, timestamps, producer, codec) holding only
/// `kept`, with its own length, record count and CRC.
pub fn cut_batch(h: &BatchHeader, kept: &[Record]) -> Result<Bytes, String> {
    let mut plain = Vec::new();
    records::encode_records(kept, &mut plain).map_err(|e| format!("encoding: {e}"))?;
    let compression =
        Compression::from_attributes(h.attributes).map_err(|e| format!("its codec: {e}"))?;
    let region = if compression == Compression::None {
        plain
    } else {
        let mut out = Vec::with_capacity(plain.len() / 2 + 64);
        compression
            .compress(&plain, &mut out)
            .map_err(|e| format!("compressing: {e}"))?;
        out
    };
    let header = BatchHeader {
        records_count: kept.len() as i32,
        ..*h
    };
    let mut out = Vec::with_capacity(batch::HEADER_BYTES + region.len());
    batch::write_batch(&header, &region, &mut out).map_err(|e| format!("framing: {e}"))?;
    Ok(Bytes::from(out))
}

/// A batch without records spanning offsets `from..=last.last_offset()`: a consumer moves its
/// position past it (as past the empty batches Kafka's log cleaner keeps).
pub fn empty_batch(from: i64, last: &BatchHeader) -> Bytes {
    let header = BatchHeader {
        base_offset: from,
        batch_length: 0,
        partition_leader_epoch: last.partition_leader_epoch,
        magic: MAGIC_V2,
        crc: 0,
        attributes: 0,
        last_offset_delta: (last.last_offset() - from) as i32,
        base_timestamp: last.max_timestamp,
        max_timestamp: last.max_timestamp,
        producer_id: batch::NO_PRODUCER_ID,
        producer_epoch: batch::NO_PRODUCER_EPOCH,
        base_sequence: batch::NO_SEQUENCE,
        records_count: 0,
    };
    let mut out = Vec::with_capacity(batch::HEADER_BYTES);
    batch::write_batch(&header, &[], &mut out).expect("an empty batch fits");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(delta: i32, tag: &str) -> Record {
        Record {
            offset_delta: delta,
            timestamp_delta: i64::from(delta),
            key: Some(Bytes::from(format!("k{delta}"))),
            value: Some(Bytes::from(vec![b'v'; 100])),
            headers: vec![(
                Bytes::from_static(b"tag"),
                Some(Bytes::from(tag.to_string())),
            )],
        }
    }

    /// The header fields of a batch whose record count does not span its offsets (which
    /// `BatchHeader::parse` refuses, as Kafka's broker refuses it from producers), CRC checked.
    fn raw_header(b: &[u8]) -> BatchHeader {
        let i64_at = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().unwrap());
        let i32_at = |at: usize| i32::from_be_bytes(b[at..at + 4].try_into().unwrap());
        let crc = i32_at(batch::CRC_AT) as u32;
        assert_eq!(crc, batch::compute_crc(b), "CRC");
        assert_eq!(
            i32_at(batch::BATCH_LENGTH_AT) as usize + 12,
            b.len(),
            "length"
        );
        BatchHeader {
            base_offset: i64_at(batch::BASE_OFFSET_AT),
            batch_length: i32_at(batch::BATCH_LENGTH_AT),
            partition_leader_epoch: i32_at(batch::LEADER_EPOCH_AT),
            magic: b[batch::MAGIC_AT] as i8,
            crc,
            attributes: i16::from_be_bytes(b[21..23].try_into().unwrap()),
            last_offset_delta: i32_at(batch::LAST_OFFSET_DELTA_AT),
            base_timestamp: i64_at(batch::BASE_TIMESTAMP_AT),
            max_timestamp: i64_at(batch::MAX_TIMESTAMP_AT),
            producer_id: i64_at(batch::PRODUCER_ID_AT),
            producer_epoch: i16::from_be_bytes(b[51..53].try_into().unwrap()),
            base_sequence: i32_at(batch::BASE_SEQUENCE_AT),
            records_count: i32_at(batch::RECORDS_COUNT_AT),
        }
    }

    #[test]
    fn a_cut_batch_keeps_offsets_span_and_codec_and_is_valid() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let all: Vec<Record> = (0..10)
                .map(|i| rec(i, if i % 3 == 0 { "red" } else { "blue" }))
                .collect();
            let meta = records::BatchMeta {
                base_offset: 1000,
                base_timestamp: 5_000,
                ..Default::default()
            };
            let mut whole = Vec::new();
            records::encode_batch(&meta, &all, codec, &mut whole).expect("encode");
            let h = batch::validate_one(&whole, u64::MAX).expect("valid");
            let kept: Vec<Record> = all
                .iter()
                .filter(|r| r.offset_delta % 3 == 0)
                .cloned()
                .collect();
            let cut = cut_batch(&h, &kept).expect("cut");
            let ch = raw_header(&cut);
            assert_eq!(ch.base_offset, 1000);
            assert_eq!(ch.last_offset(), h.last_offset(), "{codec:?}: span kept");
            assert_eq!(ch.records_count, 4);
            assert_eq!(ch.max_timestamp, h.max_timestamp);
            assert_eq!(ch.compression_bits(), h.compression_bits());
            let back = records::decode_batch_records(&cut, &ch, 1 << 20).expect("decode");
            assert_eq!(back, kept, "{codec:?}");
        }
    }

    #[test]
    fn an_empty_batch_spans_the_skipped_offsets() {
        let all: Vec<Record> = (0..5).map(|i| rec(i, "x")).collect();
        let mut whole = Vec::new();
        records::encode_batch(
            &records::BatchMeta {
                base_offset: 50,
                ..Default::default()
            },
            &all,
            Compression::None,
            &mut whole,
        )
        .expect("encode");
        let last = batch::validate_one(&whole, u64::MAX).expect("valid");
        let empty = empty_batch(20, &last);
        let h = raw_header(&empty);
        assert_eq!(h.base_offset, 20);
        assert_eq!(h.last_offset(), 54);
        assert_eq!(h.records_count, 0);
        assert_eq!(empty.len(), batch::HEADER_BYTES);
    }
}
