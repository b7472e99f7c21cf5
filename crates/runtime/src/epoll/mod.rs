//! The epoll driver: the same async surface as io_uring, built from readiness and syscalls.
//!
//! A fair baseline, not a straw man: sockets are non-blocking and registered once,
//! edge-triggered, for both directions (`EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`), so a busy socket
//! costs no `epoll_ctl` per request; one `epoll_wait` returns up to [`EVENTS_PER_WAIT_MAX`]
//! events; file reads and writes are plain `pread`/`pwrite` (page cache); fsync/fdatasync run on
//! helper threads ([`blocking`]) so a shard never blocks on the disk.
//!
//! # Invariants
//! - An I/O future tries its syscall first; only on `EAGAIN` does it clear the readiness bit and
//!   wait. Clearing happens before the next `epoll_wait`, so no edge is lost (single thread).
//! - Registrations and helper jobs live in bounded slabs; a full slab is an error for new
//!   sockets (the caller refuses the connection) and back-pressure for fsync jobs.
//! - Tasks are only woken (queued) while reaping events; none runs inside the drain.

pub(crate) mod blocking;

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Instant;

use super::executor::Remote;
use super::slab::{Key, Slab};
use super::timers::Timers;

/// Events handled per `epoll_wait`. Bounds the work per turn; more stay queued in the kernel.
pub const EVENTS_PER_WAIT_MAX: usize = 1024;

/// `data.u64` of the shard's eventfd (cross-shard wakeups and helper-thread completions).
const TOKEN_EVENTFD: u64 = u64::MAX - 1;

/// Readiness we wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> u32 {
        match self {
            Direction::Read => {
                (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32
            }
            Direction::Write => (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32,
        }
    }
}

struct ScheduledIo {
    readiness: u32,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// Options for the epoll driver.
#[derive(Clone, Debug)]
pub struct EpollOptions {
    /// Maximum registered sockets and pending timers per shard.
    pub registrations_max: usize,
    /// Helper threads per shard that run fsync/fdatasync.
    pub fsync_threads: usize,
}

impl Default for EpollOptions {
    fn default() -> Self {
        EpollOptions {
            registrations_max: 16 * 1024,
            fsync_threads: 2,
        }
    }
}

pub(crate) struct Epoll {
    epfd: OwnedFd,
    events: RefCell<Vec<libc::epoll_event>>,
    ios: RefCell<Slab<ScheduledIo>>,
    pub(crate) timers: RefCell<Timers>,
    pub(crate) blocking: blocking::Blocking,
    remote: Arc<Remote>,
}

impl Epoll {
    pub(crate) fn new(opts: &EpollOptions, remote: Arc<Remote>) -> io::Result<Epoll> {
        // SAFETY: no pointer arguments; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let driver = Epoll {
            epfd,
            events: RefCell::new(Vec::with_capacity(EVENTS_PER_WAIT_MAX)),
            ios: RefCell::new(Slab::with_capacity(opts.registrations_max)),
            timers: RefCell::new(Timers::with_capacity(opts.registrations_max)),
            blocking: blocking::Blocking::new(
                opts.fsync_threads,
                opts.registrations_max.min(4096),
                remote.clone(),
            ),
            remote,
        };
        driver.ctl(
            libc::EPOLL_CTL_ADD,
            driver.remote.eventfd(),
            libc::EPOLLIN as u32 | libc::EPOLLET as u32,
            TOKEN_EVENTFD,
        )?;
        Ok(driver)
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Register a non-blocking socket for both directions, edge-triggered.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<Key> {
        let key = self
            .ios
            .borrow_mut()
            .insert(ScheduledIo {
                readiness: 0,
                reader: None,
                writer: None,
            })
            .ok_or_else(|| {
                io::Error::other("epoll registrations are exhausted (registrations_max)")
            })?;
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, fd, events, key.to_u64()) {
            self.ios.borrow_mut().remove(key);
            return Err(e);
        }
        Ok(key)
    }

    /// Remove a registration (before the fd is closed).
    pub(crate) fn deregister(&self, key: Key, fd: RawFd) {
        // An error here means the fd is already gone from the set; nothing to undo.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
        self.ios.borrow_mut().remove(key);
    }

    /// Ready when the last event for `key` showed `dir`; otherwise park the waker.
    pub(crate) fn poll_ready(
        &self,
        key: Key,
        dir: Direction,
        cx: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let mut ios = self.ios.borrow_mut();
        let Some(io) = ios.get_mut(key) else {
            return Poll::Ready(());
        };
        if io.readiness & dir.mask() != 0 {
            return Poll::Ready(());
        }
        let slot = match dir {
            Direction::Read => &mut io.reader,
            Direction::Write => &mut io.writer,
        };
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The syscall said EAGAIN: forget the readiness for `dir` until the next edge.
    pub(crate) fn clear_ready(&self, key: Key, dir: Direction) {
        if let Some(io) = self.ios.borrow_mut().get_mut(key) {
            let keep = match dir {
                // HUP/ERR stay set: they are final and must keep waking both directions.
                Direction::Read => libc::EPOLLIN | libc::EPOLLRDHUP,
                Direction::Write => libc::EPOLLOUT,
            } as u32;
            io.readiness &= !keep;
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.blocking.in_flight()
    }

    pub(crate) fn turn(&self, block: bool) -> io::Result<()> {
        let deadline = self.timers.borrow_mut().next_deadline();
        let timeout_ms: i32 = if !block {
            0
        } else {
            match deadline {
                None => -1,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        0
                    } else {
                        // Round up: epoll_wait must not return before the deadline.
                        let d = d - now;
                        (d.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
                    }
                }
            }
        };
        self.wait(timeout_ms)
    }

    /// One `epoll_wait` with `timeout_ms` (-1: forever), then dispatch events and timers.
    pub(crate) fn wait(&self, timeout_ms: i32) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        // SAFETY: the buffer has capacity for EVENTS_PER_WAIT_MAX events; the kernel writes at
        // most that many and we set the length to what it reports.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS_PER_WAIT_MAX as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(());
            }
            return Err(e);
        }
        assert!(
            n as usize <= events.capacity(),
            "epoll_wait reported {n} events into a buffer of {}",
            events.capacity()
        );
        // SAFETY: the kernel initialised `n` entries, within the capacity (checked above).
        unsafe { events.set_len(n as usize) };
        let mut wake = Vec::new();
        let mut eventfd = false;
        {
            let mut ios = self.ios.borrow_mut();
            for ev in events.iter() {
                let (token, bits) = (ev.u64, ev.events);
                if token == TOKEN_EVENTFD {
                    eventfd = true;
                    continue;
                }
                let Some(io) = ios.get_mut(Key::from_u64(token)) else {
                    continue;
                };
                io.readiness |= bits;
                if bits & Direction::Read.mask() != 0 {
                    wake.extend(io.reader.take());
                }
                if bits & Direction::Write.mask() != 0 {
                    wake.extend(io.writer.take());
                }
            }
        }
        events.clear();
        drop(events);
        if eventfd {
            let mut v: u64 = 0;
            // SAFETY: reading 8 bytes into a valid u64 from our non-blocking eventfd.
            unsafe { libc::read(self.remote.eventfd(), (&mut v as *mut u64).cast(), 8) };
            self.remote.on_eventfd_readable();
            self.blocking.reap(&mut wake);
        }
        self.timers.borrow_mut().fire(Instant::now(), &mut wake);
        for w in wake {
            w.wake();
        }
        Ok(())
    }

    pub(crate) fn take_all_wakers(&self) -> Vec<Waker> {
        let mut out = Vec::new();
        for io in self.ios.borrow_mut().iter_mut() {
            out.extend(io.reader.take());
            out.extend(io.writer.take());
        }
        out.extend(self.timers.borrow_mut().take_all_wakers());
        out.extend(self.blocking.take_all_wakers());
        out
    }
}
