//! Percentiles of latency samples (lateness of delivery, produce-to-consume latency) and the
//! broker's memory from /proc.
//!
//! Samples are kept whole (a round has thousands, not millions) and percentiles are exact
//! nearest-rank values: the p-th percentile is the smallest sample with at least p% of the
//! samples at or below it. Lateness can be negative (a record seen before its due time), so
//! samples are signed.

/// Percentiles of signed samples in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Smallest sample.
    pub min_us: i64,
    /// Median.
    pub p50_us: i64,
    /// 99th percentile.
    pub p99_us: i64,
    /// Largest sample.
    pub max_us: i64,
}

impl Percentiles {
    /// Percentiles of `samples` (sorted here); `None` when there are none.
    pub fn of(samples: &mut [i64]) -> Option<Percentiles> {
        samples.sort_unstable();
        Some(Percentiles {
            count: samples.len() as u64,
            min_us: *samples.first()?,
            p50_us: nearest_rank(samples, 0.50)?,
            p99_us: nearest_rank(samples, 0.99)?,
            max_us: *samples.last()?,
        })
    }
}

/// The nearest-rank `q`-quantile (0 < q <= 1) of sorted `samples`: the sample at rank
/// ceil(q * n) (1-based). `None` when empty or `q` is out of range.
pub fn nearest_rank(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() || !(q > 0.0 && q <= 1.0) {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Resident memory of a process, bytes (from `/proc/<pid>/status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss: u64,
    /// VmHWM: the peak of VmRSS.
    pub hwm: u64,
    /// RssAnon: resident anonymous memory (the heap: what the broker itself holds).
    pub anon: u64,
}

/// The [`Memory`] of a `/proc/<pid>/status` text.
pub fn memory_of_status(status: &str) -> Option<Memory> {
    let kib = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let mut words = line[name.len()..].split_whitespace();
        let n: u64 = words.next()?.parse().ok()?;
        (words.next()? == "kB").then_some(n * 1024)
    };
    Some(Memory {
        rss: kib("VmRSS:")?,
        hwm: kib("VmHWM:")?,
        anon: kib("RssAnon:")?,
    })
}

/// The [`Memory`] of process `pid`.
pub fn memory_of(pid: u32) -> std::io::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)?;
    memory_of_status(&status).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{path}: no VmRSS/VmHWM/RssAnon"),
        )
    })
}

/// Samples a process's memory every [`WATCH_INTERVAL_MS`] on a thread of its own, keeping the
/// peak, and kills the process (SIGKILL) if its VmRSS passes `limit` bytes: a broker whose
/// memory runs away must not take a shared machine's memory (and its neighbours) with it.
pub struct Watchdog {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(Memory, bool)>,
}

/// How often the watchdog samples.
pub const WATCH_INTERVAL_MS: u64 = 50;

impl Watchdog {
    /// Starts watching `pid`.
    pub fn start(pid: u32, limit: u64) -> Watchdog {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = Memory::default();
            while !flag.load(Ordering::Relaxed) {
                let Ok(m) = memory_of(pid) else { break };
                peak.rss = peak.rss.max(m.rss);
                peak.anon = peak.anon.max(m.anon);
                peak.hwm = peak.hwm.max(m.hwm);
                if m.rss > limit {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    return (peak, true);
                }
                std::thread::sleep(std::time::Duration::from_millis(WATCH_INTERVAL_MS));
            }
            (peak, false)
        });
        Watchdog { stop, thread }
    }

    /// Stops watching: the peak memory seen, and whether the process was killed.
    pub fn finish(self) -> (Memory, bool) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_the_smallest_sample_covering_the_share() {
        let s: Vec<i64> = (1..=100).collect();
        assert_eq!(nearest_rank(&s, 0.50), Some(50));
        assert_eq!(nearest_rank(&s, 0.99), Some(99));
        assert_eq!(nearest_rank(&s, 1.0), Some(100));
        assert_eq!(nearest_rank(&s, 0.001), Some(1));
        // 10 samples: p99 is the largest (rank ceil(9.9) = 10), p50 the 5th.
        let t: Vec<i64> = (0..10).collect();
        assert_eq!(nearest_rank(&t, 0.99), Some(9));
        assert_eq!(nearest_rank(&t, 0.5), Some(4));
        assert_eq!(nearest_rank(&[7], 0.99), Some(7));
        assert_eq!(nearest_rank(&[], 0.5), None);
        assert_eq!(nearest_rank(&t, 0.0), None);
        assert_eq!(nearest_rank(&t, 1.5), None);
        assert_eq!(nearest_rank(&t, f64::NAN), None);
    }

    #[test]
    fn percentiles_sort_and_keep_negative_samples() {
        let mut s = vec![5, -3, 1_000, 2, 4, 3, 1, 0, 6, 7];
        let p = Percentiles::of(&mut s).unwrap();
        assert_eq!(
            (p.count, p.min_us, p.p50_us, p.p99_us, p.max_us),
            (10, -3, 3, 1_000, 1_000)
        );
        assert!(Percentiles::of(&mut []).is_none());
    }

    #[test]
    fn memory_comes_from_vmrss_and_vmhwm_in_kib() {
        let status = "Name:\tringlog\nVmPeak:\t  999 kB\nVmHWM:\t   2048 kB\n\
                      VmRSS:\t   1024 kB\nRssAnon:\t  512 kB\nRssFile:\t 512 kB\n";
        assert_eq!(
            memory_of_status(status),
            Some(Memory {
                rss: 1 << 20,
                hwm: 2 << 20,
                anon: 512 << 10
            })
        );
        assert_eq!(memory_of_status("VmRSS:\t1 kB\nVmHWM:\t1 kB\n"), None);
        assert_eq!(
            memory_of_status("VmRSS:\tx kB\nVmHWM:\t1 kB\nRssAnon:\t1 kB\n"),
            None
        );
        assert_eq!(
            memory_of_status("VmRSS:\t1 MB\nVmHWM:\t1 kB\nRssAnon:\t1 kB\n"),
            None
        );
        let m = memory_of(std::process::id()).unwrap();
        assert!(m.rss > 0 && m.hwm >= m.rss && m.anon <= m.rss, "{m:?}");
        // This process stays far below 1 TiB: watched, not killed.
        let w = Watchdog::start(std::process::id(), 1 << 40);
        std::thread::sleep(std::time::Duration::from_millis(2 * WATCH_INTERVAL_MS));
        let (peak, killed) = w.finish();
        assert!(!killed && peak.rss > 0, "{peak:?}");
    }
}
