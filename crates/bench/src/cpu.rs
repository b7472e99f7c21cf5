//! CPU accounting from /proc, the one place the benchmarks read it: a process's user + system
//! time, one thread's on-CPU time, every thread of this process at once, and the machine's busy
//! time; each as a reading, and the delta between two readings.
//!
//! Two clocks, both from the kernel's per-task accounting:
//! - `utime` and `stime` (fields 14 and 15 of `/proc/<pid>/stat` and of
//!   `/proc/<pid>/task/<tid>/stat`), in clock ticks of [`USER_HZ`]. They are sampled (the timer
//!   interrupt charges a whole tick to whatever runs), so they are coarse over short windows; they
//!   are the only source of the user / kernel split, and a process's `stat` sums all its threads,
//!   exited ones included.
//! - `se.sum_exec_runtime`, the first field of a thread's `schedstat`, in ns on CPU (the total
//!   `getrusage(RUSAGE_THREAD)` reports as user + sys). Exact, but per thread only, and absent
//!   (or all zero) when the kernel has no CONFIG_SCHED_INFO; the tick counts stand in then.
//!
//! # Invariants
//! - A process's time comes from its `stat` (all threads), never from its `schedstat` (the main
//!   thread alone).
//! - A delta uses one clock on both sides: ns when both readings have it, ticks otherwise.
//! - Deltas never go negative: a counter that went backwards (a reused thread id) gives 0.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Clock ticks per second of /proc/*/stat times (USER_HZ, fixed at 100 by the Linux ABI).
pub const USER_HZ: f64 = 100.0;

/// utime and stime (fields 14 and 15) of a /proc/*/stat line, in clock ticks. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
pub fn parse_stat_times(stat: &str) -> Option<(u64, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11); // fields 3..=13
    let user = fields.next()?.parse().ok()?;
    let sys = fields.next()?.parse().ok()?;
    Some((user, sys))
}

/// ns on CPU (the first field) of a /proc/*/task/*/schedstat line; `None` when absent or 0 (a
/// kernel without CONFIG_SCHED_INFO reports zeros).
fn parse_schedstat_ns(schedstat: &str) -> Option<u64> {
    schedstat
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()
        .filter(|&ns| ns > 0)
}

/// Busy clock ticks of all CPUs (the "cpu" line of /proc/stat: user nice system irq softirq
/// steal; idle and iowait excluded).
fn parse_machine_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return None;
    }
    // user nice system idle iowait irq softirq steal
    Some(v[0] + v[1] + v[2] + v[5] + v[6] + v[7])
}

/// A /proc file's text; the error names the file.
fn read(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// utime and stime ticks of a `stat` file; the error names the file.
fn read_stat_times(path: &Path) -> io::Result<(u64, u64)> {
    parse_stat_times(&read(path)?).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: cannot parse utime/stime", path.display()),
        )
    })
}

/// CPU seconds (user + system, all threads, exited ones included) of this process or of `pid`.
pub fn process_seconds(pid: Option<u32>) -> io::Result<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let (user, sys) = read_stat_times(Path::new(&path))?;
    Ok((user + sys) as f64 / USER_HZ)
}

/// Busy seconds of all CPUs since boot (/proc/stat); `None` when it cannot be read.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    Some(parse_machine_busy_ticks(&stat)? as f64 / USER_HZ)
}

/// The calling thread's id, from `/proc/thread-self` (a link to `PID/task/TID`); keeps `unsafe`
/// out of the benchmarks. 0 when it cannot be read.
pub fn current_tid() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// On-CPU time of one thread over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    /// user+sys seconds.
    pub seconds: f64,
    /// Share of it spent in the kernel (from the tick-sampled utime/stime split), 0..=1.
    pub sys_share: f64,
}

/// One reading of one thread's CPU counters.
#[derive(Clone, Copy, Debug)]
pub struct ThreadCpu {
    /// `se.sum_exec_runtime` in ns from `schedstat`; `None` when the kernel reports none.
    run_ns: Option<u64>,
    /// utime in clock ticks from `stat`.
    user_ticks: u64,
    /// stime in clock ticks from `stat`.
    sys_ticks: u64,
}

impl ThreadCpu {
    /// The calling thread's counters.
    pub fn current() -> io::Result<ThreadCpu> {
        ThreadCpu::of_task(Path::new("/proc/thread-self"))
    }

    /// The counters of the task directory `dir` (`/proc/<pid>/task/<tid>`, `/proc/thread-self`).
    pub fn of_task(dir: &Path) -> io::Result<ThreadCpu> {
        let (user_ticks, sys_ticks) = read_stat_times(&dir.join("stat"))?;
        let run_ns = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| parse_schedstat_ns(&s));
        Ok(ThreadCpu {
            run_ns,
            user_ticks,
            sys_ticks,
        })
    }

    /// CPU seconds since the thread started: ns where the kernel has them, else ticks.
    pub fn seconds(&self) -> f64 {
        match self.run_ns {
            Some(ns) => ns as f64 / 1e9,
            None => (self.user_ticks + self.sys_ticks) as f64 / USER_HZ,
        }
    }

    /// CPU time from `earlier` to this reading.
    pub fn since(&self, earlier: &ThreadCpu) -> CpuTime {
        let user = self.user_ticks.saturating_sub(earlier.user_ticks) as f64;
        let sys = self.sys_ticks.saturating_sub(earlier.sys_ticks) as f64;
        let seconds = match (self.run_ns, earlier.run_ns) {
            (Some(now), Some(then)) => now.saturating_sub(then) as f64 / 1e9,
            _ => (user + sys) / USER_HZ,
        };
        CpuTime {
            seconds,
            sys_share: if user + sys > 0.0 {
                sys / (user + sys)
            } else {
                0.0
            },
        }
    }
}

/// CPU time of every thread of this process, and of the whole machine, at one instant.
pub struct ThreadsSnapshot {
    /// tid -> (thread name, CPU seconds since it started).
    threads: BTreeMap<u32, (String, f64)>,
    /// Busy seconds of all CPUs (NaN when /proc/stat cannot be read).
    machine_busy: f64,
    /// The thread that took the snapshot.
    taker: u32,
}

/// One thread's CPU seconds between two snapshots.
pub struct ThreadDelta<'a> {
    /// Thread id.
    pub tid: u32,
    /// Thread name (`comm`).
    pub name: &'a str,
    /// CPU seconds in between (from 0 for a thread that appeared).
    pub seconds: f64,
}

impl ThreadsSnapshot {
    /// Read every thread of this process (threads that exit while being read are left out).
    pub fn take() -> io::Result<ThreadsSnapshot> {
        let mut threads = BTreeMap::new();
        for e in std::fs::read_dir("/proc/self/task")? {
            let e = e?;
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let name = std::fs::read_to_string(e.path().join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if let Ok(cpu) = ThreadCpu::of_task(&e.path()) {
                threads.insert(tid, (name, cpu.seconds()));
            }
        }
        Ok(ThreadsSnapshot {
            threads,
            machine_busy: machine_busy_seconds().unwrap_or(f64::NAN),
            taker: current_tid(),
        })
    }

    /// The thread that took this snapshot.
    pub fn taker(&self) -> u32 {
        self.taker
    }

    /// Every thread of this snapshot with its CPU seconds since `before`.
    pub fn deltas_since<'a>(
        &'a self,
        before: &'a ThreadsSnapshot,
    ) -> impl Iterator<Item = ThreadDelta<'a>> + 'a {
        self.threads.iter().map(|(&tid, (name, now))| {
            let then = before.threads.get(&tid).map_or(0.0, |t| t.1);
            ThreadDelta {
                tid,
                name,
                seconds: (now - then).max(0.0),
            }
        })
    }

    /// Busy CPU seconds of the machine since `before` not spent in this process (ksoftirqd,
    /// kworkers, other tenants); 0 when /proc/stat could not be read.
    pub fn outside_since(&self, before: &ThreadsSnapshot) -> f64 {
        let process: f64 = self.deltas_since(before).map(|d| d.seconds).sum();
        (self.machine_busy - before.machine_busy - process).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn spin(d: Duration) {
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < d {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    /// Spin until `cpu_since` reports CPU time, at most 2 s: a thread's own counters move only
    /// at scheduler ticks and switches, and on a busy machine a short spin may get no tick.
    fn spin_until_counted(cpu_since: impl Fn() -> f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            spin(Duration::from_millis(30));
            let seconds = cpu_since();
            if seconds > 0.0 || Instant::now() > deadline {
                return seconds;
            }
        }
    }

    #[test]
    fn stat_times_are_fields_14_and_15_even_with_odd_command_names() {
        let stat = "28744 (a b) c)) R 28741 28741 22162 0 -1 4194304 101 0 0 0 32 7 0 0 20 0 1 0";
        assert_eq!(parse_stat_times(stat), Some((32, 7)));
        assert_eq!(parse_stat_times("1 (x) R 1 2"), None);
        assert_eq!(parse_stat_times("no parenthesis"), None);
    }

    #[test]
    fn schedstat_and_machine_lines_parse() {
        assert_eq!(parse_schedstat_ns("123456 789 10\n"), Some(123_456));
        assert_eq!(parse_schedstat_ns("0 0 0\n"), None);
        assert_eq!(parse_schedstat_ns(""), None);
        let stat = "cpu  10 1 20 1000 50 3 4 5 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n";
        assert_eq!(
            parse_machine_busy_ticks(stat),
            Some(10 + 1 + 20 + 3 + 4 + 5)
        );
        assert_eq!(parse_machine_busy_ticks("cpu 1 2 3\n"), None);
    }

    #[test]
    fn reading_this_threads_cpu_time_works_and_grows() {
        let before = ThreadCpu::current().unwrap();
        spin_until_counted(|| ThreadCpu::current().unwrap().since(&before).seconds);
        let after = ThreadCpu::current().unwrap();
        let cpu = after.since(&before);
        assert!(cpu.seconds > 0.0 && cpu.seconds < 3.0, "{cpu:?}");
        assert!((0.0..=1.0).contains(&cpu.sys_share));
    }

    #[test]
    fn process_and_thread_snapshots_see_this_thread() {
        let p0 = process_seconds(None).unwrap();
        let before = ThreadsSnapshot::take().unwrap();
        let mine_since = |before: &ThreadsSnapshot| {
            let after = ThreadsSnapshot::take().unwrap();
            let me = after.taker();
            after
                .deltas_since(before)
                .filter(|d| d.tid == me)
                .map(|d| d.seconds)
                .sum::<f64>()
        };
        let mine = spin_until_counted(|| mine_since(&before));
        assert!(mine > 0.0 && mine < 3.0, "{mine}");
        let after = ThreadsSnapshot::take().unwrap();
        assert_eq!(after.taker(), current_tid());
        assert!(process_seconds(None).unwrap() >= p0);
        assert!(after.outside_since(&before) >= 0.0);
        assert!(process_seconds(Some(u32::MAX)).is_err());
    }
}
