//! The driver interface: the one place that knows whether io_uring or epoll runs this shard.
//!
//! Everything above the runtime (storage, broker) calls the driver-agnostic types in
//! [`super::net`], [`super::fs`] and [`super::time`]; those dispatch on [`Driver`] with a `match`
//! (enum dispatch, no virtual calls on the hot path).
//!
//! # Invariants
//! - `turn(block)` submits queued work, reaps completions and wakes (queues) the tasks waiting on
//!   them; it never runs a task itself.
//! - `turn(true)` returns after at least one completion, timer or remote wakeup; `turn(false)`
//!   never blocks.

use std::fmt;
use std::io;
use std::str::FromStr;

use super::epoll::Epoll;
use super::uring::Uring;

/// Which I/O driver a shard uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoKind {
    /// io_uring, with SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them.
    Uring,
    /// Edge-triggered epoll plus plain syscalls; fsync on a helper thread.
    Epoll,
}

impl fmt::Display for IoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoKind::Uring => "uring",
            IoKind::Epoll => "epoll",
        })
    }
}

impl FromStr for IoKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uring" | "io_uring" | "io-uring" => Ok(IoKind::Uring),
            "epoll" => Ok(IoKind::Epoll),
            other => Err(format!(
                "unknown io driver '{other}': expected 'uring' or 'epoll'"
            )),
        }
    }
}

/// The shard's driver.
pub(crate) enum Driver {
    Uring(Uring),
    Epoll(Epoll),
}

impl Driver {
    pub(crate) fn kind(&self) -> IoKind {
        match self {
            Driver::Uring(_) => IoKind::Uring,
            Driver::Epoll(_) => IoKind::Epoll,
        }
    }

    pub(crate) fn turn(&self, block: bool) -> io::Result<()> {
        match self {
            Driver::Uring(d) => d.turn(block),
            Driver::Epoll(d) => d.turn(block),
        }
    }

    /// Submit and reap, waiting at most `d` (shutdown drain).
    pub(crate) fn turn_for(&self, d: std::time::Duration) -> io::Result<()> {
        match self {
            Driver::Uring(u) => u.turn_for(d),
            Driver::Epoll(e) => e.wait(d.as_millis().min(i32::MAX as u128) as i32),
        }
    }

    /// In-flight operations (io_uring ops or epoll helper jobs).
    pub(crate) fn in_flight(&self) -> usize {
        match self {
            Driver::Uring(d) => d.in_flight(),
            Driver::Epoll(d) => d.in_flight(),
        }
    }

    /// Wake every task waiting on this driver (shutdown: their futures get dropped and cancel).
    pub(crate) fn take_all_wakers(&self) -> Vec<std::task::Waker> {
        match self {
            Driver::Uring(d) => d.take_all_wakers(),
            Driver::Epoll(d) => d.take_all_wakers(),
        }
    }
}
