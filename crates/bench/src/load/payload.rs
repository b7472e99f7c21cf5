//! What a load run sends: record batches (and the e2e send stamp inside them), all built before
//! the clock starts, so the measured window only frames and sends.
//!
//! ```text
//!  e2e batch: [61 B batch header][record 0: ... value = [stamp u64 BE][RLBENCH!][payload]]...
//!             the stamp is patched in at send time, then the batch CRC is recomputed
//! ```
//!
//! # Invariants
//! - Payload bytes are deterministic (a fixed-seed generator): two runs send the same bytes.
//! - A stamp is found only behind [`STAMP_MARKER`], in the first record of a batch this
//!   generator built.

use std::sync::OnceLock;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{LoadConfig, LoadError};
use ringlog_client::records;
use ringlog_runtime::rng::Rng;
use ringlog_storage::batch;
use ringlog_storage::records::Compression;

/// Distinct prebuilt batches per connection, cycled: enough that no two consecutive requests
/// are byte-identical, few enough to stay in cache.
pub const PREBUILT_BATCHES: usize = 4;
/// Marker after the 8-byte send stamp in e2e payloads, so a consumer never mistakes other
/// records for stamped ones.
pub const STAMP_MARKER: &[u8; 8] = b"RLBENCH!";
/// Bytes of a stamp: ns since the run epoch (u64 BE) + the marker.
pub(super) const STAMP_BYTES: usize = 16;

/// The monotonic epoch of e2e stamps (shared by producers and consumers of this process).
pub(super) fn stamp_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The batches a run sends, built before the clock starts.
pub(super) struct Prebuilt {
    /// `PREBUILT_BATCHES` distinct encoded batches.
    pub(super) batches: Vec<Bytes>,
    /// Where the e2e stamp sits in each batch (uncompressed batches only).
    stamp_at: Option<usize>,
    /// Value bytes per batch.
    pub(super) value_bytes: u64,
}

impl Prebuilt {
    pub(super) fn new(config: &LoadConfig) -> Result<Prebuilt, LoadError> {
        let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
        let timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut batches = Vec::with_capacity(PREBUILT_BATCHES);
        let mut stamp_at = None;
        for _ in 0..PREBUILT_BATCHES {
            let records: Vec<records::ProducerRecord> = (0..config.records_per_batch)
                .enumerate()
                .map(|(i, _)| {
                    let mut value = payload(&mut rng, config.record_bytes);
                    if i == 0 && value.len() >= STAMP_BYTES {
                        value[8..STAMP_BYTES].copy_from_slice(STAMP_MARKER);
                    }
                    records::ProducerRecord {
                        key: None,
                        value: Some(Bytes::from(value)),
                    }
                })
                .collect();
            let batch = records::encode_batch(&records, timestamp_ms, config.compression)?;
            if config.compression == Compression::None {
                stamp_at = find(&batch, STAMP_MARKER).map(|at| at - 8);
            }
            batches.push(batch);
        }
        Ok(Prebuilt {
            batches,
            stamp_at,
            value_bytes: (config.record_bytes * config.records_per_batch) as u64,
        })
    }

    /// Bytes of one encoded batch (the broker's write size per request).
    fn batch_bytes(&self) -> usize {
        self.batches[0].len()
    }

    /// Batch `k` with the send stamp `ns` patched in and the CRC recomputed.
    pub(super) fn stamped(&self, k: usize, ns: u64) -> Bytes {
        let at = self
            .stamp_at
            .expect("e2e batches are uncompressed and stamped");
        let mut b = BytesMut::from(&self.batches[k % self.batches.len()][..]);
        b[at..at + 8].copy_from_slice(&ns.to_be_bytes());
        let crc = batch::compute_crc(&b);
        b[batch::CRC_AT..batch::CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }
}

/// The encoded size of one batch of `config`'s shape (the write size of its Produce requests).
pub fn batch_bytes_of(config: &LoadConfig) -> Result<usize, LoadError> {
    Ok(Prebuilt::new(config)?.batch_bytes())
}

/// Record values: bytes from a 32-letter alphabet, so compressors find some (but not much)
/// redundancy, as in text-like payloads.
fn payload(rng: &mut Rng, n: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";
    (0..n)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The send stamp of a batch this generator produced, found by its marker in the first record.
pub(super) fn read_stamp(batch: &[u8]) -> Option<u64> {
    // The first record starts right after the header; its value sits within a few varints.
    let window =
        &batch[batch::RECORDS_AT.min(batch.len())..batch.len().min(batch::RECORDS_AT + 40)];
    let m = find(window, STAMP_MARKER)?;
    let at = m.checked_sub(8)?;
    Some(u64::from_be_bytes(window[at..at + 8].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Mode;
    use crate::WholeBatches;

    #[test]
    fn stamps_survive_the_crc_patch_and_are_found_again() {
        let config = LoadConfig {
            records_per_batch: 3,
            record_bytes: 100,
            ..LoadConfig::new(Mode::E2e, "127.0.0.1:1".parse().unwrap())
        };
        let p = Prebuilt::new(&config).unwrap();
        let b = p.stamped(1, 123_456_789);
        assert_eq!(read_stamp(&b), Some(123_456_789));
        batch::validate_one(&b, u64::MAX).expect("CRC recomputed");
        let whole = WholeBatches::of(&b);
        assert_eq!(
            (whole.records, whole.bytes as usize, whole.next_offset),
            (3, b.len(), Some(3))
        );
        // A cut batch is not whole.
        assert_eq!(WholeBatches::of(&b[..b.len() - 1]).records, 0);
    }
}
