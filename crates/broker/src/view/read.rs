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
use crate::runtime::fs::File;
use crate::shard::{PartitionRead, ReadReq, ShardState};
use crate::storage::batch::{self, BatchHeader, MAGIC_V2};
use crate::storage::records::{self, Compression, Record};
use crate::transfer::{FileRange, Piece};
use crate::view::filter::Decision;
use crate::view::index::{segment_of, Summarized};
use crate::view::summary::BatchSummary;
use crate::view::View;

/// Source bytes one read of a view partition looks at, at most: a view whose records are rare
/// still answers a fetch quickly (the client asks again from where the read stopped, which an
/// empty batch tells it); skipped batches cost a header read each.
pub const SCAN_BYTES_MAX: u64 = 64 << 20;
/// Source bytes read per step of a view read where the index does not cover the batches.
const STEP_BYTES: u64 = 4 << 20;
/// Source bytes read per step where it does: the index walk goes on from the last batch read.
const INDEXED_STEP_BYTES: u64 = 1;

/// What was decided for one batch.
enum Sent {
    Whole,
    Skipped,
    Rewritten(Bytes),
}

/// One batch as the read walks it: where it is, its offsets, and (when the read found it) its
/// header; a batch walked through the index alone has none.
struct At<'a> {
    file: &'a Rc<File>,
    position: u64,
    base_offset: i64,
    last_offset: i64,
    size: u64,
    header: Option<BatchHeader>,
}

/// Where the walk through the index goes on: the batch at `offset` starts at `position` of
/// `file`, the segment whose base offset is `segment`.
struct Anchor {
    file: Rc<File>,
    segment: i64,
    position: u64,
    offset: i64,
}

/// The read's result so far.
struct Gather<'v> {
    view: &'v View,
    out: PartitionRead,
    delivered: u64,
    scanned: u64,
    /// The run of whole batches being gathered into one file range.
    run: Option<FileRange>,
    /// The batches skipped since the last one sent: first offset, last offset.
    skipped: Option<(i64, i64)>,
    /// The leader epoch of the last header seen (for the closing empty batch).
    epoch: i32,
}

impl Gather<'_> {
    /// Takes the decision for batch `at`; true when the read has enough.
    fn take(&mut self, at: &At<'_>, sent: Sent, r: &ReadReq) -> bool {
        let stats = &self.view.stats;
        self.scanned += at.size;
        match sent {
            Sent::Skipped => {
                stats.batches_skipped.set(stats.batches_skipped.get() + 1);
                let from = self.skipped.map_or(at.base_offset, |(from, _)| from);
                self.skipped = Some((from, at.last_offset));
            }
            Sent::Whole => {
                self.skipped = None;
                stats.batches_whole.set(stats.batches_whole.get() + 1);
                stats
                    .bytes_zero_copy
                    .set(stats.bytes_zero_copy.get() + at.size);
                self.delivered += at.size;
                match self.run.as_mut() {
                    Some(range)
                        if range.position + range.len == at.position
                            && range.file.raw_fd() == at.file.raw_fd() =>
                    {
                        range.len += at.size
                    }
                    _ => {
                        if let Some(done) = self.run.take() {
                            self.out.ranges.push(Piece::File(done));
                        }
                        self.run = Some(FileRange {
                            file: (**at.file).clone(),
                            position: at.position,
                            len: at.size,
                            hold: None,
                        });
                    }
                }
            }
            Sent::Rewritten(bytes) => {
                self.skipped = None;
                if let Some(done) = self.run.take() {
                    self.out.ranges.push(Piece::File(done));
                }
                stats
                    .batches_rewritten
                    .set(stats.batches_rewritten.get() + 1);
                stats
                    .bytes_rewritten
                    .set(stats.bytes_rewritten.get() + bytes.len() as u64);
                self.delivered += bytes.len() as u64;
                self.out.ranges.push(Piece::Bytes(bytes));
            }
        }
        self.out.next_offset = at.last_offset + 1;
        self.delivered >= r.max_bytes
            || at.last_offset >= r.last_wanted
            || self.scanned >= SCAN_BYTES_MAX
    }

    /// Nothing was gathered yet (an error now is the read's answer).
    fn is_empty(&self) -> bool {
        self.out.ranges.is_empty() && self.run.is_none()
    }
}

/// Reads partition `r.partition` of `view` (on the source partition's owner).
pub async fn read(shard: &ShardState, view: &Rc<View>, r: &ReadReq) -> PartitionRead {
    let log = match shard.engine.log(&view.source, r.partition) {
        Ok(log) => log,
        Err(e) => return PartitionRead::failed(BrokerError::Storage(e)),
    };
    let indexes = &shard.views.indexes;
    indexes.open(&view.source, r.partition, log.dir(), log.log_start_offset());
    let decompressed_max = shard.engine.log_config().validation.decompressed_bytes_max;
    let mut g = Gather {
        view,
        out: PartitionRead {
            error: None,
            high_watermark: log.high_watermark(),
            log_start_offset: log.log_start_offset(),
            // Views read their source READ_UNCOMMITTED (issue #18 notes).
            last_stable_offset: log.last_stable_offset(),
            aborted: None,
            next_offset: r.offset,
            ranges: Vec::new(),
        },
        delivered: 0,
        scanned: 0,
        run: None,
        skipped: None,
        epoch: -1,
    };
    let mut anchor: Option<Anchor> = None;
    // The log's segments as of the last read through them (a mixed batch's summary is
    // recorded under its segment).
    let mut bases = log.segment_base_offsets();
    let mut offset = r.offset;
    // The first read finds the batch holding `r.offset`; later ones go on where the index
    // walk stopped, reading more at once while the index does not cover the batches.
    let mut step = INDEXED_STEP_BYTES;
    'read: loop {
        // Through the index: no segment read for batches it has verified entries of.
        while let Some(a) = anchor.as_mut() {
            let hw = g.out.high_watermark;
            let Some((last, size, summary)) =
                indexes.next_verified(&view.source, r.partition, a.segment, a.offset)
            else {
                break;
            };
            if last >= hw {
                break 'read;
            }
            let decision = decide_summary(view, &summary);
            let at = At {
                file: &a.file,
                position: a.position,
                base_offset: a.offset,
                last_offset: last,
                size,
                header: None,
            };
            let sent = match decision {
                Decision::All => Sent::Whole,
                Decision::None => Sent::Skipped,
                Decision::Mixed => {
                    match rewrite(shard, view, r, &bases, &at, decompressed_max).await {
                        Ok(Some(bytes)) => Sent::Rewritten(bytes),
                        Ok(None) => Sent::Skipped,
                        Err(e) => {
                            // The index and the segment disagree (or the batch does not decode):
                            // read it the slow way, through its header.
                            tracing::debug!("view {}: {e}; read through its header", view.name);
                            break;
                        }
                    }
                }
            };
            let (next_position, next_offset) = (a.position + size, last + 1);
            let done = g.take(&at, sent, r);
            a.position = next_position;
            a.offset = next_offset;
            offset = next_offset;
            if done || next_offset >= hw {
                break 'read;
            }
        }
        // Through the segment: the batches' headers, from `offset`.
        let budget = SCAN_BYTES_MAX.saturating_sub(g.scanned).max(1);
        let (res, batches) = match log
            .read_batches(offset, step.min(budget), r.last_wanted)
            .await
        {
            Ok(x) => x,
            Err(e) => {
                if g.is_empty() {
                    g.out.error = Some(BrokerError::Storage(e));
                    g.out.high_watermark = log.high_watermark();
                    g.out.log_start_offset = log.log_start_offset();
                    return g.out;
                }
                break;
            }
        };
        g.out.high_watermark = res.high_watermark;
        g.out.log_start_offset = res.log_start_offset;
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            break;
        };
        bases = log.segment_base_offsets();
        indexes
            .load(
                &view.source,
                r.partition,
                &bases,
                first.header.base_offset,
                last.header.last_offset(),
            )
            .await;
        let mut indexed = true;
        for b in &batches {
            let h = b.header;
            g.epoch = h.partition_leader_epoch;
            let at = At {
                file: &b.file,
                position: b.position,
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
                size: h.size_bytes(),
                header: Some(h),
            };
            let decision = decide(shard, view, r.partition, &bases, &h);
            indexed &= decision.is_some();
            let sent = match decision.unwrap_or(Decision::Mixed) {
                Decision::All => Sent::Whole,
                Decision::None => Sent::Skipped,
                Decision::Mixed => {
                    match rewrite(shard, view, r, &bases, &at, decompressed_max).await {
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
                            if g.is_empty() {
                                g.out.error = Some(BrokerError::CorruptBatch {
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
            if g.take(&at, sent, r) {
                break 'read;
            }
        }
        offset = res.next_offset;
        if offset >= res.high_watermark {
            break;
        }
        // Go on through the index from the batch after the last one read, if it is in the
        // same segment (the next segment's first batch is found by a read).
        anchor = segment_of(&bases, last.header.base_offset)
            .filter(|seg| segment_of(&bases, offset) == Some(*seg))
            .map(|segment| Anchor {
                file: last.file.clone(),
                segment,
                position: last.position + last.header.size_bytes(),
                offset,
            });
        step = if indexed {
            INDEXED_STEP_BYTES
        } else {
            STEP_BYTES
        };
    }
    if let Some(done) = g.run.take() {
        g.out.ranges.push(Piece::File(done));
    }
    if let Some((from, last)) = g.skipped {
        g.out
            .ranges
            .push(Piece::Bytes(empty_batch(from, last, g.epoch)));
    }
    let mut out = g.out;
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

/// The filter's decision for batch `h` from its summary when the index has a matching one
/// (`None` when not: the batch is read). Control batches go out as they are.
fn decide(
    shard: &ShardState,
    view: &View,
    partition: i32,
    bases: &[i64],
    h: &BatchHeader,
) -> Option<Decision> {
    if h.is_control() {
        return Some(Decision::All);
    }
    match shard
        .views
        .indexes
        .lookup(&view.source, partition, bases, h)
    {
        Some(s) => Some(decide_summary(view, &s)),
        None => {
            view.stats
                .batches_unindexed
                .set(view.stats.batches_unindexed.get() + 1);
            None
        }
    }
}

/// The view's decision from a summary (kept with it for the next read of the same batch).
fn decide_summary(view: &View, s: &Summarized) -> Decision {
    let (id, decision) = s.decided.get();
    if id == view.id {
        return decision;
    }
    let decision = view.filter.decide(&s.summary);
    s.decided.set((view.id, decision));
    decision
}

/// Reads batch `at`, records its summary if the index lacks it, and returns the batch cut down
/// to its matching records at or after the offset asked for (`None` when there are none; the
/// whole batch, unchanged, when every record matches). A batch walked through the index is
/// checked against the header its bytes start with.
async fn rewrite(
    shard: &ShardState,
    view: &View,
    r: &ReadReq,
    bases: &[i64],
    at: &At<'_>,
    decompressed_max: usize,
) -> Result<Option<Bytes>, String> {
    let (r_io, buf) = at
        .file
        .read_exact_at(vec![0u8; at.size as usize], at.position)
        .await;
    r_io.map_err(|e| format!("reading the batch at {}: {e}", at.base_offset))?;
    let bytes = Bytes::from(buf);
    let h = match at.header {
        Some(h) => h,
        None => {
            let h = BatchHeader::parse_stored(&bytes).map_err(|e| format!("its header: {e}"))?;
            if h.base_offset != at.base_offset
                || h.last_offset() != at.last_offset
                || h.size_bytes() != at.size
            {
                return Err(format!(
                    "the index says batch {}..={} ({} bytes), the segment holds {}..={} ({} \
                     bytes) there",
                    at.base_offset,
                    at.last_offset,
                    at.size,
                    h.base_offset,
                    h.last_offset(),
                    h.size_bytes()
                ));
            }
            h
        }
    };
    let indexes = &shard.views.indexes;
    if !indexes.covers(&view.source, r.partition, bases, &h) {
        // Not indexed yet: summarize it on the way (the builder would read it again).
        let recs = records::decode_batch_records(&bytes, &h, decompressed_max)
            .map_err(|e| format!("decoding its records: {e}"))?;
        let summary = BatchSummary::of_records(&recs);
        if indexes.record(&view.source, r.partition, bases, &h, summary) {
            indexes.flush_partition(&view.source, r.partition).await;
        }
    }
    let compression =
        Compression::from_attributes(h.attributes).map_err(|e| format!("its codec: {e}"))?;
    let size = h.size_bytes() as usize;
    let region = bytes.slice(batch::RECORDS_AT..size.min(bytes.len()));
    let plain = if compression == Compression::None {
        region
    } else {
        let mut out = Vec::new();
        compression
            .decompress(&region, &mut out, decompressed_max)
            .map_err(|e| format!("decompressing it: {e}"))?;
        Bytes::from(out)
    };
    // Each record is read into one reused `Record` (its fields share `plain`), tested, and if
    // kept its encoded bytes are copied as they are: nothing is encoded again.
    let mut kept_region = Vec::new();
    let (mut kept, mut total) = (0i32, 0i32);
    let mut rec = Record::default();
    let mut pos = 0usize;
    while pos < plain.len() && total < h.records_count {
        let start = pos;
        rec.headers.clear();
        let headers = &mut rec.headers;
        let v = records::read_record(&plain, &mut pos, &mut |k, v| {
            headers.push((plain.slice_ref(k), v.map(|v| plain.slice_ref(v))));
        })
        .map_err(|e| format!("record {total}: {e}"))?;
        total += 1;
        if h.base_offset + i64::from(v.offset_delta) < r.offset {
            continue;
        }
        rec.offset_delta = v.offset_delta;
        rec.timestamp_delta = v.timestamp_delta;
        rec.key = v.key.map(|k| plain.slice_ref(k));
        rec.value = None; // a filter reads headers and the key only
        if view.filter.matches(&rec) {
            kept_region.extend_from_slice(&plain[start..pos]);
            kept += 1;
        }
    }
    if total != h.records_count || pos != plain.len() {
        return Err(format!(
            "{total} records in {pos} bytes where the header says {} in {}",
            h.records_count,
            plain.len()
        ));
    }
    if kept == 0 {
        return Ok(None);
    }
    if kept == total {
        return Ok(Some(bytes.slice(..size)));
    }
    frame_kept(&h, kept, kept_region, compression).map(Some)
}

/// The batch `h` cut to `kept` records whose encoded bytes are `plain`: `h`'s header fields
/// (offset span, timestamps, producer, codec) with its own length, record count and CRC.
fn frame_kept(
    h: &BatchHeader,
    kept: i32,
    plain: Vec<u8>,
    compression: Compression,
) -> Result<Bytes, String> {
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
        records_count: kept,
        ..*h
    };
    let mut out = Vec::with_capacity(batch::HEADER_BYTES + region.len());
    batch::write_batch(&header, &region, &mut out).map_err(|e| format!("framing: {e}"))?;
    Ok(Bytes::from(out))
}

/// A batch with `h`'s header fields (offset span, timestamps, producer, codec) holding only
/// `kept`, with its own length, record count and CRC.
pub fn cut_batch(h: &BatchHeader, kept: &[Record]) -> Result<Bytes, String> {
    let mut plain = Vec::new();
    records::encode_records(kept, &mut plain).map_err(|e| format!("encoding: {e}"))?;
    let compression =
        Compression::from_attributes(h.attributes).map_err(|e| format!("its codec: {e}"))?;
    frame_kept(h, kept.len() as i32, plain, compression)
}

/// A batch without records spanning offsets `from..=last`: a consumer moves its position past
/// it (as past the empty batches Kafka's log cleaner keeps).
pub fn empty_batch(from: i64, last: i64, partition_leader_epoch: i32) -> Bytes {
    let header = BatchHeader {
        base_offset: from,
        batch_length: 0,
        partition_leader_epoch,
        magic: MAGIC_V2,
        crc: 0,
        attributes: 0,
        last_offset_delta: (last - from) as i32,
        base_timestamp: NO_TIMESTAMP,
        max_timestamp: NO_TIMESTAMP,
        producer_id: batch::NO_PRODUCER_ID,
        producer_epoch: batch::NO_PRODUCER_EPOCH,
        base_sequence: batch::NO_SEQUENCE,
        records_count: 0,
    };
    let mut out = Vec::with_capacity(batch::HEADER_BYTES);
    batch::write_batch(&header, &[], &mut out).expect("an empty batch fits");
    Bytes::from(out)
}

/// Kafka's "no timestamp".
const NO_TIMESTAMP: i64 = -1;

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
        let empty = empty_batch(20, last.last_offset(), 3);
        let h = raw_header(&empty);
        assert_eq!(h.base_offset, 20);
        assert_eq!(h.last_offset(), 54);
        assert_eq!(h.records_count, 0);
        assert_eq!(h.partition_leader_epoch, 3);
        assert_eq!(empty.len(), batch::HEADER_BYTES);
    }
}
