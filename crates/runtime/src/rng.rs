//! A small deterministic pseudo-random generator: the one source of randomness for tests,
//! fuzz-style loops, chaos runs and benchmark payloads across every ringlog crate.
//!
//! The algorithm is splitmix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number
//! generators", OOPSLA 2014): one `u64` of state advanced by a fixed odd constant, and a mixing
//! function applied to it. Every seed is valid (0 included) and neighbouring seeds (test case
//! numbers) give unrelated streams from the first output.
//!
//! Why not the `rand` crate: the point is reproducibility, not quality or security. A test or a
//! benchmark prints its seed, and the same seed must give the same sequence on every build,
//! forever; `rand`'s value streams may change between its versions, and the embeddable engine
//! keeps its dependency list short. Never use this for anything an attacker must not predict
//! (ids handed to clients use UUID v4 from the OS).
//!
//! # Invariants
//! - The sequence depends on the seed only: same seed, same values, on every platform.
//! - `below(n)` is in `0..n`; `n == 0` is a caller bug and panics.

/// Added to the state on every step: 2^64 / golden ratio, odd, so the state visits every `u64`.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A seeded generator. Cheap to create and copy; not shared between threads.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A generator for another thread or sub-task, seeded from this one's next output: its
    /// stream is unrelated to this one's and to other forks' (seeds that differ by a multiple of
    /// the step would give shifted copies of one stream).
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }

    /// A value in `0..n` (multiply-shift, no division; the bias is below 2^-32 for every `n`
    /// a test uses).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0): empty range");
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// `true` once in `one_in` calls on average.
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_is_fixed_by_the_seed() {
        // splitmix64's published first outputs for seed 0, so the stream never changes silently.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let mut r = Rng::new(42);
        assert_eq!(a, (0..8).map(|_| r.next_u64()).collect::<Vec<_>>());
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn forks_are_unrelated_streams() {
        let mut parent = Rng::new(9);
        let mut a = parent.fork();
        let mut b = parent.fork();
        let xs: Vec<u64> = (0..64).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..64).map(|_| b.next_u64()).collect();
        assert!(xs.iter().all(|x| !ys.contains(x)));
    }

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut r = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = r.below(10);
            seen[v] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(r.below(1), 0);
        assert!(r.below(usize::MAX) < usize::MAX);
    }

    #[test]
    #[should_panic(expected = "empty range")]
    fn below_zero_is_a_bug() {
        Rng::new(1).below(0);
    }

    #[test]
    fn fill_covers_every_length() {
        for n in 0..20 {
            let mut a = vec![0u8; n];
            Rng::new(3).fill(&mut a);
            let b = Rng::new(3).bytes(n);
            assert_eq!(a, b);
            // The first 8 bytes are the first output, little-endian.
            let first = Rng::new(3).next_u64().to_le_bytes();
            assert_eq!(a[..n.min(8)], first[..n.min(8)]);
        }
        let v = Rng::new(5).bytes(4096);
        assert!(
            v.iter().filter(|&&b| b == 0).count() < 64,
            "not random-looking"
        );
    }
}
