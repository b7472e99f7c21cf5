//! Fuzz target: the broker's append validation, `storage::validate::Validator`, and the record
//! decoder behind it (`records::read_record`, `decode_batch_records`), on arbitrary bytes.
//!
//! The first input byte picks what the rest is:
//! - `0 mod 3`: a Produce partition's records exactly as received;
//! - `1 mod 3`: the same, with the CRC32C of every whole batch recomputed first, so mutations get
//!   past the CRC into the codecs and the record parser;
//! - `2 mod 3`: a plain records region (the second byte picks the codec, the third the record
//!   count), wrapped into one batch with a valid header and CRC: garbage records, counts that do
//!   not match, bad offset deltas and varints reach the record checks inside every codec.
//!
//! Checked, besides "no panic, no abort, no allocation beyond the bounds":
//! - what the validator accepts, from a client or internally, is whole batches with valid
//!   headers, and every accepted batch decodes with `decode_batch_records` into exactly
//!   `records_count` records with offset deltas 0, 1, 2, ...;
//! - a client's accepted batch is neither a control batch nor log-append time;
//! - conversely, a batch whose records decode with offset deltas 0, 1, 2, ... (and a known codec,
//!   within the bound) is accepted internally: the validator refuses nothing the decoder reads;
//! - the scratch buffer stays within the retained bound between batches.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringlog::storage::batch::{
    self, testing, BATCH_LENGTH_AT, HEADER_BYTES, LOG_OVERHEAD_BYTES,
};
use ringlog::storage::records::{decode_batch_records, Compression};
use ringlog::storage::validate::{
    decodes_as_accepted, AppendOrigin, ValidationConfig, Validator, SCRATCH_RETAINED_BYTES_MAX,
};

/// Decompression bound: small enough that a bomb cannot exhaust the fuzzer's memory, large
/// enough for every input libFuzzer makes.
const DECOMPRESSED_BYTES_MAX: usize = 1 << 20;
/// Largest batch accepted (a stand-in for `batch_bytes_max`).
const BATCH_BYTES_MAX: u64 = 1 << 20;
/// The broker clock the validator sees.
const NOW_MS: i64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let config = ValidationConfig {
        decompressed_bytes_max: DECOMPRESSED_BYTES_MAX,
        // A bounded window, so the timestamp checks run too.
        timestamp_before_max_ms: 1 << 40,
        timestamp_after_max_ms: 1 << 30,
    };
    match mode % 3 {
        0 => validate_and_check(rest, &config),
        1 => {
            let mut bytes = rest.to_vec();
            batch::testing::fix_crcs(&mut bytes);
            validate_and_check(&bytes, &config);
        }
        _ => {
            let [codec, count, region @ ..] = rest else {
                return;
            };
            let codec = Compression::ALL[usize::from(*codec) % Compression::ALL.len()];
            let count = i32::from(*count % 16) + 1;
            let b = testing::compressed_batch_with_region(region, count, codec, 0, NOW_MS);
            validate_and_check(&b, &config);
        }
    }
});


fn validate_and_check(buf: &[u8], config: &ValidationConfig) {
    let mut v = Validator::new();
    for origin in [AppendOrigin::Client, AppendOrigin::Internal] {
        let result = v.validate_buffer(buf, BATCH_BYTES_MAX, origin, config, NOW_MS);
        assert!(v.scratch_capacity() <= SCRATCH_RETAINED_BYTES_MAX);
        let Ok(infos) = result else {
            continue;
        };
        let again = batch::validate_buffer(buf, BATCH_BYTES_MAX)
            .expect("the validator accepted bytes that are not whole valid batches");
        assert_eq!(infos, again);
        for info in &infos {
            let at = info.position as usize;
            let bytes = Bytes::copy_from_slice(&buf[at..at + info.header.size_bytes() as usize]);
            if let Err(e) = decodes_as_accepted(&bytes, &info.header, config) {
                panic!("{origin:?}: {e}");
            }
            if origin == AppendOrigin::Client {
                assert!(!info.header.is_control() && !info.header.is_log_append_time());
            }
        }
    }
    // The other direction: every header-valid batch whose records the decoder reads with
    // offset deltas 0, 1, 2, ... is accepted internally.
    let Ok(infos) = batch::validate_buffer(buf, BATCH_BYTES_MAX) else {
        return;
    };
    for info in infos {
        let at = info.position as usize;
        let whole = &buf[at..at + info.header.size_bytes() as usize];
        let decoded = decode_batch_records(
            &Bytes::copy_from_slice(whole),
            &info.header,
            config.decompressed_bytes_max,
        );
        let readable = decoded.is_ok_and(|records| {
            records
                .iter()
                .enumerate()
                .all(|(i, r)| i64::from(r.offset_delta) == i as i64)
        });
        let verdict =
            v.validate_batch(whole, &info.header, AppendOrigin::Internal, config, NOW_MS);
        assert_eq!(
            readable,
            verdict.is_ok(),
            "decoder and validator disagree: {verdict:?}"
        );
    }
}
