//! Fuzz target: the client's decoder of fetched record bytes,
//! `client::records::decode_batches_within`, and the codecs behind it, on arbitrary bytes.
//!
//! The first input byte picks what the rest is:
//! - `0 mod 3`: a Fetch response partition's record bytes, exactly as received;
//! - `1 mod 3`: the same, but the CRC32C of every whole batch is recomputed first, so mutations
//!   get past the CRC check into the record decoder and the decompressors;
//! - `2 mod 3`: bytes compressed with the codec of the second byte (gzip, snappy, lz4, zstd),
//!   given straight to `Compression::decompress`.
//!
//! Checked, besides "no panic, no abort, no allocation beyond the decompression bound":
//! - on success, the bytes before the partial tail are whole, valid batches
//!   (`storage::batch::validate_buffer`), and `next_offset` is one past the last one's last offset;
//! - every decoded record is the record of a non-control batch at the same position, with offset
//!   `base_offset + offset_delta` and timestamp `base_timestamp + timestamp_delta` (or the
//!   batch's max timestamp under log-append time); control batches yield no records;
//! - decompression produces at most the limit, leaves the output untouched on error, and what it
//!   produces compresses and decompresses back to the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringlog::client::records::decode_batches_within;
use ringlog::storage::batch::{
    self, BatchHeader, BATCH_LENGTH_AT, HEADER_BYTES, LOG_OVERHEAD_BYTES,
};
use ringlog::storage::records::{decode_batch_records, Compression, RecordsError};

/// Decompression bound per batch: small enough that a bomb cannot exhaust the fuzzer's memory,
/// large enough for every real test batch.
const DECOMPRESSED_BYTES_MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => decode_and_check(Bytes::copy_from_slice(rest)),
        1 => {
            let mut bytes = rest.to_vec();
            batch::testing::fix_crcs(&mut bytes);
            decode_and_check(Bytes::from(bytes));
        }
        _ => {
            let Some((&codec, compressed)) = rest.split_first() else {
                return;
            };
            decompress_and_check(i16::from(codec % 4 + 1), compressed);
        }
    }
});


fn decode_and_check(bytes: Bytes) {
    let Ok(decoded) = decode_batches_within(&bytes, "fuzz-0", DECOMPRESSED_BYTES_MAX) else {
        return;
    };
    assert!(decoded.partial_tail_bytes <= bytes.len());
    let whole = bytes.len() - decoded.partial_tail_bytes;
    let batches = if whole == 0 {
        Vec::new()
    } else {
        batch::validate_buffer(&bytes[..whole], u64::MAX)
            .expect("the decoder accepted bytes that are not whole valid batches")
    };
    assert_eq!(
        decoded.next_offset,
        batches.last().map(|b| b.header.last_offset() + 1),
        "next_offset is one past the last whole batch"
    );

    let mut consumed = decoded.records.iter();
    for info in &batches {
        let header: &BatchHeader = &info.header;
        if header.is_control() {
            continue;
        }
        let at = info.position as usize;
        let records = decode_batch_records(&bytes.slice(at..), header, DECOMPRESSED_BYTES_MAX)
            .expect("the decoder accepted a batch whose records do not decode");
        for r in records {
            let c = consumed
                .next()
                .expect("fewer records than the batches hold");
            assert_eq!(
                c.offset,
                header.base_offset.wrapping_add(i64::from(r.offset_delta))
            );
            let timestamp = if header.is_log_append_time() {
                header.max_timestamp
            } else {
                header.base_timestamp.wrapping_add(r.timestamp_delta)
            };
            assert_eq!(c.timestamp, timestamp);
            assert_eq!(
                (&c.key, &c.value, &c.headers),
                (&r.key, &r.value, &r.headers)
            );
        }
    }
    assert!(
        consumed.next().is_none(),
        "more records than the batches hold"
    );
}

fn decompress_and_check(codec: i16, compressed: &[u8]) {
    let compression = Compression::from_attributes(codec).expect("codecs 1 to 4 exist");
    // Output appended after earlier bytes, as a caller with a reused buffer would.
    let mut out = b"earlier".to_vec();
    match compression.decompress(compressed, &mut out, DECOMPRESSED_BYTES_MAX) {
        Ok(()) => {
            assert!(out.starts_with(b"earlier"));
            let plain = &out[b"earlier".len()..];
            assert!(plain.len() <= DECOMPRESSED_BYTES_MAX);
            let mut again = Vec::new();
            compression
                .compress(plain, &mut again)
                .expect("compressing decompressed bytes");
            let mut back = Vec::new();
            compression
                .decompress(&again, &mut back, DECOMPRESSED_BYTES_MAX)
                .expect("our own compressed bytes decompress");
            assert_eq!(back, plain);
        }
        Err(e) => {
            assert_eq!(out, b"earlier", "output changed on error: {e}");
            if let RecordsError::LimitExceeded { limit_bytes, .. } = e {
                assert_eq!(limit_bytes, DECOMPRESSED_BYTES_MAX);
            }
        }
    }
}
