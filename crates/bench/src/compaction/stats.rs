//! Part 2's samples and what is derived from them: every measured Produce request as (scheduled
//! send time, latency), the windows they fall in, and exact nearest-rank percentiles of each
//! window.
//!
//! The producer runs for the whole of part 2 (fills and pauses included); a window keeps the
//! requests *scheduled* inside it. Latency is measured from the scheduled send time, so a
//! request that could not be sent on time (requests before it still unanswered) carries its
//! wait and a stalled shard shows as latency, not as a lower offered load; the round trip from
//! the actual send is kept beside it.
//!
//! # Invariants
//! - A sample belongs to at most one window: windows are half-open `[start, end)` and the run
//!   never opens one before the previous one closed.
//! - Percentiles are of whole sample sets (a window has thousands, not millions): exact, no
//!   histogram buckets.

use crate::delay::nearest_rank;

/// One measured Produce request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When it was scheduled to be sent, ns since the run's epoch.
    pub scheduled_ns: u64,
    /// From the scheduled send time to its response, microseconds.
    pub latency_us: u64,
    /// From the actual send to its response, microseconds (the request's own round trip).
    pub round_trip_us: u64,
}

/// A window of the run: `[start_ns, end_ns)`, ns since the run's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First instant inside.
    pub start_ns: u64,
    /// First instant after.
    pub end_ns: u64,
}

impl Span {
    /// Its length in seconds (0 for an empty or reversed span).
    pub fn seconds(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }

    /// Whether `ns` lies inside.
    pub fn contains(&self, ns: u64) -> bool {
        (self.start_ns..self.end_ns).contains(&ns)
    }
}

/// `f` of the samples scheduled inside `span`, in sample order.
pub fn latencies_in(samples: &[Sample], span: Span, f: fn(&Sample) -> u64) -> Vec<u64> {
    samples
        .iter()
        .filter(|s| span.contains(s.scheduled_ns))
        .map(f)
        .collect()
}

/// The sample scheduled inside `span` with the longest round trip: (its round trip in µs, its
/// scheduled time in seconds after the span's start); `None` when none lies inside. The first
/// of equal round trips wins.
pub fn worst_round_trip(samples: &[Sample], span: Span) -> Option<(u64, f64)> {
    samples
        .iter()
        .filter(|s| span.contains(s.scheduled_ns))
        .fold(None, |best: Option<&Sample>, s| match best {
            Some(b) if b.round_trip_us >= s.round_trip_us => Some(b),
            _ => Some(s),
        })
        .map(|s| {
            let at = (s.scheduled_ns - span.start_ns) as f64 / 1e9;
            (s.round_trip_us, at)
        })
}

/// Latency percentiles of one window, microseconds (nearest rank: the p-th percentile is the
/// smallest sample with at least p% of the samples at or below it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latencies {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl Latencies {
    /// Percentiles of `latencies_us`; `None` when there are none.
    pub fn of(latencies_us: &[u64]) -> Option<Latencies> {
        let mut sorted: Vec<i64> = latencies_us
            .iter()
            .map(|&l| i64::try_from(l).unwrap_or(i64::MAX))
            .collect();
        sorted.sort_unstable();
        let at = |q: f64| nearest_rank(&sorted, q).map(|v| v as u64);
        Some(Latencies {
            count: sorted.len() as u64,
            p50_us: at(0.50)?,
            p99_us: at(0.99)?,
            p999_us: at(0.999)?,
            max_us: *sorted.last()? as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, latency_us: u64) -> Sample {
        Sample {
            scheduled_ns: at_ms * 1_000_000,
            latency_us,
            round_trip_us: latency_us / 2,
        }
    }

    const LATENCY: fn(&Sample) -> u64 = |s| s.latency_us;

    #[test]
    fn windows_keep_the_samples_scheduled_inside_them_once() {
        // One request every 2 ms for 100 ms; latency = its index.
        let samples: Vec<Sample> = (0..50).map(|i| sample(2 * i, i)).collect();
        let a = Span {
            start_ns: 10_000_000,
            end_ns: 20_000_000,
        };
        let b = Span {
            start_ns: 20_000_000,
            end_ns: 30_000_000,
        };
        // [10, 20) ms: requests at 10, 12, ..., 18 (indexes 5..=9); 20 ms goes to b alone.
        assert_eq!(latencies_in(&samples, a, LATENCY), vec![5, 6, 7, 8, 9]);
        assert_eq!(latencies_in(&samples, b, LATENCY), vec![10, 11, 12, 13, 14]);
        assert_eq!(
            latencies_in(&samples, b, |s| s.round_trip_us),
            vec![5, 5, 6, 6, 7]
        );
        assert!((a.seconds() - 0.01).abs() < 1e-12);
        let empty = Span {
            start_ns: 5,
            end_ns: 5,
        };
        assert!(latencies_in(&samples, empty, LATENCY).is_empty());
        let reversed = Span {
            start_ns: 9,
            end_ns: 3,
        };
        assert_eq!(reversed.seconds(), 0.0);
        // The longest round trip in b is the last one (index 14, at 28 ms: 8 ms in); none in
        // an empty span.
        assert_eq!(worst_round_trip(&samples, b), Some((7, 0.008)));
        assert_eq!(worst_round_trip(&samples, empty), None);
        let ties = [sample(1, 10), sample(2, 10), sample(3, 4)];
        let all = Span {
            start_ns: 0,
            end_ns: 10_000_000,
        };
        assert_eq!(worst_round_trip(&ties, all), Some((5, 0.001)));
        assert!(!reversed.contains(5));
        // After the last sample: nothing.
        let late = Span {
            start_ns: 1_000_000_000,
            end_ns: 2_000_000_000,
        };
        assert!(latencies_in(&samples, late, LATENCY).is_empty());
    }

    #[test]
    fn percentiles_are_nearest_rank_of_the_window() {
        // 1..=1000 us shuffled: p50 = 500, p99 = 990, p99.9 = 999, max = 1000.
        let mut v: Vec<u64> = (1..=1_000).map(|i| (i * 7_919) % 1_000 + 1).collect();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 1_000);
        v.reverse();
        let p = Latencies::of(&v).unwrap();
        assert_eq!(
            (p.count, p.p50_us, p.p99_us, p.p999_us, p.max_us),
            (1_000, 500, 990, 999, 1_000)
        );
        // Ten samples: p99 and p99.9 are the largest (rank ceil(9.9) = ceil(9.99) = 10).
        let ten: Vec<u64> = (1..=10).collect();
        let p = Latencies::of(&ten).unwrap();
        assert_eq!((p.p50_us, p.p99_us, p.p999_us, p.max_us), (5, 10, 10, 10));
        let one = Latencies::of(&[42]).unwrap();
        assert_eq!((one.count, one.p50_us, one.max_us), (1, 42, 42));
        assert_eq!(Latencies::of(&[]), None);
        // A latency past i64 is kept as the largest, not wrapped.
        assert_eq!(
            Latencies::of(&[u64::MAX, 1]).unwrap().max_us,
            i64::MAX as u64
        );
    }
}
