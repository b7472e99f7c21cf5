//! Valid random messages for the differential tests (test builds only).
//!
//! [`Random`] is implemented here for the primitive types and by the message macros for every
//! defined struct: a value generated at a version sets exactly the fields that version carries
//! (others keep their defaults) and uses null only where the field is nullable at that version,
//! so any other correct Kafka codec must encode it to the same bytes.

use bytes::Bytes;
use uuid::Uuid;

use super::wire::{Cx, Str};

/// The one seeded generator of the workspace (`ringlog_runtime::rng`), seeded per test case.
pub use ringlog_runtime::rng::Rng;

/// A valid random value of a wire type at a version.
pub trait Random {
    fn random(g: &mut Rng, cx: Cx) -> Self;
}

/// Integers: edges and Kafka's usual defaults (0, -1, MIN) often, so that a tagged field's
/// wrong default shows up as a byte difference; random bits otherwise.
macro_rules! random_int {
    ($($t:ty),*) => {$(
        impl Random for $t {
            #[allow(unused_comparisons, clippy::cast_possible_wrap)]
            fn random(g: &mut Rng, _cx: Cx) -> Self {
                match g.below(7) {
                    0 => <$t>::MAX,
                    1 => <$t>::MIN,
                    2 => 0,
                    3 => (-1i64) as $t,
                    4 => 1,
                    _ => g.next_u64() as $t,
                }
            }
        }
    )*};
}

random_int!(i8, i16, i32, i64, u16, u32);

impl Random for f64 {
    fn random(g: &mut Rng, _cx: Cx) -> Self {
        (g.next_u64() % 1_000_000) as f64 / 7.0
    }
}

impl Random for bool {
    fn random(g: &mut Rng, _cx: Cx) -> Self {
        g.chance(2)
    }
}

impl Random for Uuid {
    fn random(g: &mut Rng, _cx: Cx) -> Self {
        Uuid::from_u64_pair(g.next_u64(), g.next_u64())
    }
}

impl Random for Str {
    fn random(g: &mut Rng, _cx: Cx) -> Self {
        const WORDS: &[&str] = &["", "a", "orders", "consumer-1", "héllo", "range", "x.y_z-9"];
        let mut s = String::from(WORDS[g.below(WORDS.len())]);
        if g.chance(4) {
            for _ in 0..g.below(200) {
                s.push((b'a' + g.below(26) as u8) as char);
            }
        }
        Str::from(s)
    }
}

impl Random for Bytes {
    fn random(g: &mut Rng, _cx: Cx) -> Self {
        let n = if g.chance(8) {
            g.below(300)
        } else {
            g.below(12)
        };
        g.bytes(n).into()
    }
}

impl<T: Random> Random for Vec<T> {
    fn random(g: &mut Rng, cx: Cx) -> Self {
        let element = cx.field(false);
        let n = if g.chance(10) {
            g.below(150)
        } else {
            g.below(4)
        };
        (0..n).map(|_| T::random(g, element)).collect()
    }
}

impl<T: Random> Random for Option<T> {
    fn random(g: &mut Rng, cx: Cx) -> Self {
        if cx.nullable && g.chance(3) {
            None
        } else {
            Some(T::random(g, cx))
        }
    }
}
