//! Property-based fuzzing of the decoders of untrusted bytes: the batch validator (append input)
//! and recovery (segment file contents). Neither may panic; recovery keeps exactly the valid
//! prefix. (A cargo-fuzz target can reuse these bodies.)

use crate::common::block_on;
use crate::common::*;
use proptest::prelude::*;
use ringlog::storage::batch::validate_buffer;

fn valid_buffer(n: usize) -> Vec<u8> {
    (0..n as u64)
        .flat_map(|i| test_batch(i, 1 + (i % 3) as usize, i as i64))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validator_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = validate_buffer(&bytes, 1 << 20);
    }

    #[test]
    fn validator_rejects_any_single_byte_flip_in_covered_bytes(n in 1usize..4, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut buf = valid_buffer(n);
        let i = at.index(buf.len());
        buf[i] ^= 1 << bit;
        // bytes 0..8 (base offset) and 12..16 (leader epoch) of each batch are outside the CRC
        let mut pos = 0usize;
        let mut outside = false;
        for k in 0..n as u64 {
            let len = test_batch(k, 1 + (k % 3) as usize, k as i64).len();
            if i >= pos && i < pos + len {
                let r = i - pos;
                outside = r < 8 || (12..16).contains(&r);
            }
            pos += len;
        }
        let res = validate_buffer(&buf, 1 << 20);
        prop_assert_eq!(res.is_ok(), outside, "flip at {}", i);
    }

    #[test]
    fn recovery_keeps_exactly_the_valid_prefix(n in 1usize..6, garbage in prop::collection::vec(any::<u8>(), 0..200), at in any::<prop::sample::Index>()) {
        // write n valid batches, then overwrite from a random point with random bytes
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = small_config();
        let log = open(dir.path(), &cfg);
        let mut ends = vec![0usize];
        for i in 0..n as u64 {
            block_on(log.append(test_batch(i, 1, 0))).expect("append");
            ends.push(log.size_bytes() as usize);
        }
        drop(log);
        let path = dir.path().join(format!("{:020}.log", 0));
        let original = std::fs::read(&path).expect("read");
        let mut bytes = original.clone();
        let cut = at.index(bytes.len() + 1);
        bytes.truncate(cut);
        bytes.extend_from_slice(&garbage);
        std::fs::write(&path, &bytes).expect("write");
        let log = open(dir.path(), &cfg);
        // Whole batches before the first changed byte survive (garbage that happens to repeat
        // the bytes it overwrote, e.g. a batch's last byte 0 written as 0, changes nothing);
        // random garbage never forms a valid batch with the right offset and CRC
        // (probability ~2^-32).
        let same = bytes
            .iter()
            .zip(&original)
            .take_while(|(a, b)| a == b)
            .count();
        let kept = ends.iter().filter(|e| **e <= same).count() - 1;
        prop_assert_eq!(log.high_watermark(), kept as i64);
        prop_assert_eq!(log.size_bytes() as usize, ends[kept]);
        prop_assert_eq!(block_on(log.append(test_batch(99, 1, 0))).expect("append"), kept as i64);
    }
}
