//! The io_uring driver: ring setup, the in-flight op slab, submission and the completion drain.
//!
//! Each shard creates its ring on its own thread with `IORING_SETUP_SINGLE_ISSUER |
//! IORING_SETUP_DEFER_TASKRUN` (kernel 6.1+): completions are then processed only when this thread
//! enters the kernel with `GETEVENTS`, which removes the task-work interrupts that otherwise make
//! io_uring lose 11-25% to epoll on small request/response workloads (measured, kernel-notes.md).
//! Older kernels get `COOP_TASKRUN | TASKRUN_FLAG` (5.19+), then a plain ring.
//!
//! ```text
//!  task ──Op::poll──> slab.insert ──> SQE(user_data = slot|gen<<32) ──> SQ
//!                                                                        │ io_uring_enter
//!  task <──wake── Lifecycle::Completed <── reap CQE(user_data) <──────── CQ
//! ```
//!
//! # Invariants
//! - `user_data` is a slab key (slot + generation) or one of the reserved keys below; never a
//!   pointer. A stale key (slot reused) is ignored and counted, never dereferenced.
//! - An op's data (buffers, sockaddrs, the fd it uses) lives until its *final* CQE: if the future
//!   is dropped first, the data moves into the slab (`Lifecycle::Ignored`) and an
//!   `IORING_OP_ASYNC_CANCEL` is queued; the data is dropped only when the final CQE arrives.
//! - The slab never grows past `ops_in_flight_max`: a full slab parks the submitting task until a
//!   slot frees (back-pressure).
//! - The completion drain only stores results and wakes tasks; no task runs inside it.

pub(crate) mod op;
pub mod probe;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::task::Waker;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::executor::Remote;
use super::slab::{Key, Slab};

/// `user_data` of completions nobody waits for (cancels, linked timeouts).
pub(crate) const KEY_IGNORE: u64 = u64::MAX;
/// `user_data` of the shard's eventfd read (cross-shard wakeups).
const KEY_EVENTFD: u64 = u64::MAX - 1;

/// CQEs reaped per drain before tasks get to run; bounds the work done with the ring borrowed.
const CQES_PER_REAP_MAX: usize = 4096;

/// How a shard's ring was set up.
#[derive(Clone, Debug)]
pub struct RingSetup {
    /// SQ entries.
    pub entries: u32,
    /// SINGLE_ISSUER|DEFER_TASKRUN were accepted.
    pub defer_taskrun: bool,
    /// COOP_TASKRUN|TASKRUN_FLAG were used (fallback for kernels without DEFER_TASKRUN).
    pub coop_taskrun: bool,
    /// SQPOLL is on.
    pub sqpoll: bool,
    /// The ring fd is registered (IORING_REGISTER_RING_FDS, 5.18+).
    pub registered_ring: bool,
}

/// Options for creating a ring.
#[derive(Clone, Debug)]
pub struct UringOptions {
    /// Submission queue entries (the CQ gets 4x).
    pub entries: u32,
    /// Use SQPOLL with this idle time in ms (burns a core while busy; off by default).
    pub sqpoll_idle_ms: Option<u32>,
    /// Maximum in-flight ops (slab capacity).
    pub ops_in_flight_max: usize,
    /// Write to files with `pwrite(2)` on the shard thread instead of `IORING_OP_WRITE`.
    /// ext4 cannot do buffered writes without blocking (no async buffered write support), so
    /// io_uring punts every one to an io-wq worker: measured here at ~60 us per 1 KiB append vs
    /// ~2.2 us for the plain syscall into the page cache (kernel-notes.md, storage section).
    pub inline_buffered_writes: bool,
}

impl Default for UringOptions {
    fn default() -> Self {
        UringOptions {
            entries: 1024,
            sqpoll_idle_ms: None,
            ops_in_flight_max: 16 * 1024,
            inline_buffered_writes: true,
        }
    }
}

/// Where an in-flight op stands.
pub(crate) enum Lifecycle {
    /// Submitted; no task has polled since.
    Submitted,
    /// A task waits for the final completion.
    Waiting(Waker),
    /// The future was dropped; this data is kept alive until the final completion.
    Ignored(#[allow(dead_code)] Box<dyn Any>),
    /// The final completion arrived.
    Completed,
}

/// The result of an op, as the kernel reported it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Completion {
    /// `cqe.res` of the (first) result completion.
    pub result: i32,
    /// `cqe.flags` of the result completion.
    pub flags: u32,
    /// `cqe.res` of the notification completion (send_zc), if one came.
    pub notif: Option<i32>,
}

/// The ring's counters (see [`DriverStats`]).
#[derive(Default)]
struct DriverStatsCells {
    sqes: Cell<u64>,
    cqes: Cell<u64>,
    enters: Cell<u64>,
}

/// What a shard's ring has done since it was created (read by the broker's metrics endpoint).
///
/// io-wq punts (an op the kernel could not complete inline, handed to an `iou-wrk` worker
/// thread) are not reported by the kernel per op; the closest observable is the number of
/// `iou-wrk-*` threads of the process, which the broker reads from `/proc/self/task`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// SQEs queued for the kernel (every op, cancel and linked timeout).
    pub sqes_submitted: u64,
    /// CQEs reaped (results, send_zc notifications, eventfd wakeups).
    pub cqes_reaped: u64,
    /// `io_uring_enter` calls made by the shard's turns.
    pub enters: u64,
    /// CQEs whose op slot had been reused (ignored).
    pub stale_completions: u64,
}

pub(crate) struct OpSlot {
    pub lifecycle: Lifecycle,
    pub completion: Completion,
    pub got_result: bool,
}

pub(crate) struct Uring {
    ring: RefCell<IoUring>,
    ops: RefCell<Slab<OpSlot>>,
    slot_waiters: RefCell<Vec<Waker>>,
    reaped: RefCell<Vec<(u64, i32, u32)>>,
    /// Target of the always-armed eventfd read; boxed so its address is stable.
    eventfd_buf: Box<Cell<u64>>,
    remote: Arc<Remote>,
    setup: RingSetup,
    stale_completions: Cell<u64>,
    /// Counters for the broker's metrics (plain cells: the ring is this shard's alone).
    stats: DriverStatsCells,
    /// Index of the registered ring fd (`IORING_REGISTER_RING_FDS`), used with
    /// `IORING_ENTER_REGISTERED_RING` to skip the fd lookup on every enter.
    ring_index: Option<u32>,
    inline_writes: bool,
}

impl Uring {
    /// Create the ring on the calling thread (SINGLE_ISSUER binds it to this thread).
    pub(crate) fn new(opts: &UringOptions, remote: Arc<Remote>) -> io::Result<Uring> {
        let (ring, mut setup) = build_ring(opts)?;
        // io-uring 0.7's `Submitter::register_ring_fd` keeps the index in the temporary
        // `Submitter`, so it would be lost at once; we register and enter ourselves.
        let ring_index = register_ring_fd(ring.as_raw_fd());
        setup.registered_ring = ring_index.is_some();
        let driver = Uring {
            ring: RefCell::new(ring),
            ops: RefCell::new(Slab::with_capacity(opts.ops_in_flight_max)),
            slot_waiters: RefCell::new(Vec::new()),
            reaped: RefCell::new(Vec::with_capacity(256)),
            eventfd_buf: Box::new(Cell::new(0)),
            remote,
            setup,
            stale_completions: Cell::new(0),
            stats: DriverStatsCells::default(),
            ring_index,
            inline_writes: opts.inline_buffered_writes,
        };
        driver.arm_eventfd();
        Ok(driver)
    }

    pub(crate) fn inline_buffered_writes(&self) -> bool {
        self.inline_writes
    }

    pub(crate) fn setup(&self) -> &RingSetup {
        &self.setup
    }

    fn arm_eventfd(&self) {
        let sqe = opcode::Read::new(
            types::Fd(self.remote.eventfd()),
            self.eventfd_buf.as_ptr().cast::<u8>(),
            8,
        )
        .build()
        .user_data(KEY_EVENTFD);
        // SAFETY: the buffer is a field of the driver, boxed, and the driver outlives the ring's
        // in-flight ops (shutdown drains the ring before dropping the driver).
        unsafe { self.push(&[sqe]) };
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.ops.borrow().len()
    }

    /// Try to reserve a slot for a new op; `None` when the slab is full (the waker is queued and
    /// woken when a slot frees).
    pub(crate) fn reserve(&self, waker: &Waker) -> Option<Key> {
        let key = self.ops.borrow_mut().insert(OpSlot {
            lifecycle: Lifecycle::Submitted,
            completion: Completion::default(),
            got_result: false,
        });
        if key.is_none() {
            self.slot_waiters.borrow_mut().push(waker.clone());
        }
        key
    }

    /// Release a reserved slot that never had an SQE pushed.
    pub(crate) fn unreserve(&self, key: Key) {
        self.ops.borrow_mut().remove(key);
        self.wake_slot_waiters();
    }

    /// Push SQEs as one unit (a linked chain must not be split across submissions).
    ///
    /// # Safety
    /// Every pointer in the entries must stay valid until the entry's final completion.
    pub(crate) unsafe fn push(&self, chain: &[squeue::Entry]) {
        let mut ring = self.ring.borrow_mut();
        loop {
            let room = {
                let sq = ring.submission();
                sq.capacity() - sq.len()
            };
            if room >= chain.len() {
                // SAFETY: forwarded from the caller; there is room for the whole chain.
                let pushed = unsafe { ring.submission().push_multiple(chain) };
                let sqes = &self.stats.sqes;
                sqes.set(sqes.get() + chain.len() as u64);
                debug_assert!(
                    pushed.is_ok(),
                    "SQ push of {} entries failed with room checked",
                    chain.len()
                );
                return;
            }
            // The SQ is full: hand what is queued to the kernel to make room. With NODROP the
            // kernel keeps overflowed CQEs itself, so submission can always proceed; EBUSY means
            // the CQ overflow list is full and we must reap first.
            match ring.submit() {
                Ok(_) => {}
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY)
                        || e.raw_os_error() == Some(libc::EINTR) =>
                {
                    drop(ring);
                    self.reap();
                    ring = self.ring.borrow_mut();
                }
                Err(e) => panic!("io_uring submit failed with the SQ full: {e}"),
            }
        }
    }

    /// Poll an op: `Some(completion)` once its final CQE arrived (the slot is then freed).
    pub(crate) fn poll_op(&self, key: Key, waker: &Waker) -> Option<Completion> {
        let mut ops = self.ops.borrow_mut();
        let slot = ops.get_mut(key).expect("polled an op whose slot is gone");
        match &slot.lifecycle {
            Lifecycle::Completed => {
                let c = slot.completion;
                ops.remove(key);
                drop(ops);
                self.wake_slot_waiters();
                Some(c)
            }
            Lifecycle::Waiting(w) if w.will_wake(waker) => None,
            _ => {
                // Overwriting `Ignored` would free data the kernel may still write to.
                assert!(
                    !matches!(slot.lifecycle, Lifecycle::Ignored(_)),
                    "op {key:?} polled after its future was abandoned"
                );
                slot.lifecycle = Lifecycle::Waiting(waker.clone());
                None
            }
        }
    }

    /// Poll for an op's *result* CQE even when more CQEs follow (send_zc's notification):
    /// `Some((completion, true))` when the op is fully done (slot freed), `Some((completion,
    /// false))` when only the result is in (the caller must then [`Uring::detach`] the op's data).
    pub(crate) fn poll_result(&self, key: Key, waker: &Waker) -> Option<(Completion, bool)> {
        {
            let ops = self.ops.borrow();
            let slot = ops.get(key).expect("polled an op whose slot is gone");
            if slot.got_result && !matches!(slot.lifecycle, Lifecycle::Completed) {
                return Some((slot.completion, false));
            }
        }
        self.poll_op(key, waker).map(|c| (c, true))
    }

    /// Hand an op's data to the driver until its final CQE, without cancelling it (the result
    /// is already in; the kernel may still read the buffer until the notification).
    /// Returns true when the op is still in flight (its data now waits in the slab).
    pub(crate) fn detach(&self, key: Key, data: Box<dyn Any>) -> bool {
        let mut ops = self.ops.borrow_mut();
        let Some(slot) = ops.get_mut(key) else {
            return false;
        };
        if let Lifecycle::Completed = slot.lifecycle {
            ops.remove(key);
            drop(ops);
            drop(data);
            self.wake_slot_waiters();
            return false;
        }
        slot.lifecycle = Lifecycle::Ignored(data);
        true
    }

    /// The future of an in-flight op was dropped: keep `data` until the final CQE and ask the
    /// kernel to cancel the op.
    pub(crate) fn abandon(&self, key: Key, data: Box<dyn Any>) {
        if !self.detach(key, data) {
            return; // already complete: nothing to cancel
        }
        let mut cancel = op::cancel::Cancel {
            target: key.to_u64(),
        };
        let cancel = op::Operation::prep(&mut cancel).user_data(KEY_IGNORE);
        // SAFETY: AsyncCancel carries no pointers.
        unsafe { self.push(&[cancel]) };
    }

    fn wake_slot_waiters(&self) {
        if self.slot_waiters.borrow().is_empty() {
            return;
        }
        let waiters = std::mem::take(&mut *self.slot_waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }

    /// Submit, wait if `block`, reap.
    pub(crate) fn turn(&self, block: bool) -> io::Result<()> {
        let res = {
            let mut ring = self.ring.borrow_mut();
            let (to_submit, taskrun, overflow) = {
                let mut sq = ring.submission();
                sq.sync();
                (sq.len(), sq.taskrun(), sq.cq_overflow())
            };
            if block {
                self.enter(&ring, to_submit as u32, 1)
            } else if to_submit == 0 && !taskrun && !overflow {
                // Nothing to hand over and no deferred completions pending (TASKRUN_FLAG tells
                // us): skip the syscall and just reap what is already in the CQ.
                Ok(0)
            } else {
                // GETEVENTS with min_complete 0 never blocks and runs deferred task work so
                // completions become visible.
                self.enter(&ring, to_submit as u32, 0)
            }
        };
        match res {
            Ok(_) => {}
            // Interrupted, or the CQ overflow list is full and must be reaped first: both are
            // handled by reaping now and entering again on the next turn.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap();
        Ok(())
    }

    /// `io_uring_enter(to_submit, min_complete, GETEVENTS)`, through the registered ring fd when
    /// there is one.
    fn enter(&self, ring: &IoUring, to_submit: u32, min_complete: u32) -> io::Result<usize> {
        const IORING_ENTER_GETEVENTS: u32 = 1;
        const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
        let (fd, flags) = match self.ring_index {
            Some(i) => (
                i as i32,
                IORING_ENTER_GETEVENTS | IORING_ENTER_REGISTERED_RING,
            ),
            None => (ring.as_raw_fd(), IORING_ENTER_GETEVENTS),
        };
        // SAFETY: io_uring_enter with no signal mask / ext arg (null, 0); the ring outlives
        // the call and the SQ tail was synced by the caller.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                fd,
                to_submit,
                min_complete,
                flags,
                std::ptr::null::<libc::c_void>(),
                0usize,
            )
        };
        self.stats.enters.set(self.stats.enters.get() + 1);
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(rc as usize)
    }

    /// Submit and wait for a completion at most `d` (shutdown drain).
    pub(crate) fn turn_for(&self, d: std::time::Duration) -> io::Result<()> {
        let ts = types::Timespec::from(d);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.borrow().submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap();
        Ok(())
    }

    fn reap(&self) {
        let mut reaped = self.reaped.borrow_mut();
        reaped.clear();
        {
            let mut ring = self.ring.borrow_mut();
            for cqe in ring.completion().take(CQES_PER_REAP_MAX) {
                reaped.push((cqe.user_data(), cqe.result(), cqe.flags()));
            }
        }
        let cqes = &self.stats.cqes;
        cqes.set(cqes.get() + reaped.len() as u64);
        let mut freed = false;
        let mut eventfd = false;
        for &(user_data, result, flags) in reaped.iter() {
            match user_data {
                KEY_IGNORE => {}
                KEY_EVENTFD => eventfd = true,
                raw => freed |= self.complete(Key::from_u64(raw), result, flags),
            }
        }
        drop(reaped);
        if eventfd {
            self.remote.on_eventfd_readable();
            self.arm_eventfd();
        }
        if freed {
            self.wake_slot_waiters();
        }
    }

    /// Record one CQE. Returns true when a slot was freed.
    fn complete(&self, key: Key, result: i32, flags: u32) -> bool {
        let mut ops = self.ops.borrow_mut();
        let Some(slot) = ops.get_mut(key) else {
            self.stale_completions.set(self.stale_completions.get() + 1);
            tracing::debug!(key = key.to_u64(), result, "completion for a stale op slot");
            return false;
        };
        if cqueue::notif(flags) {
            slot.completion.notif = Some(result);
        } else if !slot.got_result {
            slot.got_result = true;
            slot.completion.result = result;
            slot.completion.flags = flags;
        }
        if cqueue::more(flags) {
            // More completions (the send_zc notification) will follow. Wake the waiter anyway:
            // a detached send ([`Uring::poll_result`]) completes on the result alone; a plain
            // op re-registers and keeps waiting.
            if let Lifecycle::Waiting(_) = slot.lifecycle {
                if let Lifecycle::Waiting(w) =
                    std::mem::replace(&mut slot.lifecycle, Lifecycle::Submitted)
                {
                    drop(ops);
                    w.wake();
                }
            }
            return false;
        }
        match std::mem::replace(&mut slot.lifecycle, Lifecycle::Completed) {
            Lifecycle::Ignored(data) => {
                ops.remove(key);
                drop(ops);
                drop(data); // only now may the kernel no longer touch it
                true
            }
            Lifecycle::Waiting(waker) => {
                drop(ops);
                waker.wake();
                false
            }
            Lifecycle::Submitted | Lifecycle::Completed => false,
        }
    }

    /// The ring's counters so far.
    pub(crate) fn stats(&self) -> DriverStats {
        DriverStats {
            sqes_submitted: self.stats.sqes.get(),
            cqes_reaped: self.stats.cqes.get(),
            enters: self.stats.enters.get(),
            stale_completions: self.stale_completions.get(),
        }
    }

    pub(crate) fn take_all_wakers(&self) -> Vec<Waker> {
        let mut out = std::mem::take(&mut *self.slot_waiters.borrow_mut());
        for slot in self.ops.borrow_mut().iter_mut() {
            if let Lifecycle::Waiting(_) = slot.lifecycle {
                if let Lifecycle::Waiting(w) =
                    std::mem::replace(&mut slot.lifecycle, Lifecycle::Submitted)
                {
                    out.push(w);
                }
            }
        }
        out
    }
}

/// Register the ring's own fd (`IORING_REGISTER_RING_FDS`, 5.18); `None` when unsupported.
fn register_ring_fd(ring_fd: i32) -> Option<u32> {
    #[repr(C)]
    struct RsrcUpdate {
        offset: u32,
        resv: u32,
        data: u64,
    }
    const IORING_REGISTER_RING_FDS: u32 = 20;
    // offset u32::MAX asks the kernel to pick a free slot.
    let mut update = RsrcUpdate {
        offset: u32::MAX,
        resv: 0,
        data: ring_fd as u64,
    };
    // SAFETY: one valid io_uring_rsrc_update for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd,
            IORING_REGISTER_RING_FDS,
            &mut update as *mut RsrcUpdate,
            1u32,
        )
    };
    (rc == 1).then_some(update.offset)
}

fn build_ring(opts: &UringOptions) -> io::Result<(IoUring, RingSetup)> {
    let cq = opts.entries.saturating_mul(4);
    let mut setup = RingSetup {
        entries: opts.entries,
        defer_taskrun: false,
        coop_taskrun: false,
        sqpoll: false,
        registered_ring: false,
    };
    if let Some(idle) = opts.sqpoll_idle_ms {
        // SQPOLL and DEFER_TASKRUN exclude each other: the poller thread is the submitter.
        let ring = IoUring::builder()
            .setup_cqsize(cq)
            .setup_sqpoll(idle)
            .build(opts.entries)?;
        setup.sqpoll = true;
        return Ok((ring, setup));
    }
    match IoUring::builder()
        .setup_cqsize(cq)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .build(opts.entries)
    {
        Ok(ring) => {
            setup.defer_taskrun = true;
            return Ok((ring, setup));
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        Err(e) => return Err(e),
    }
    match IoUring::builder()
        .setup_cqsize(cq)
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .build(opts.entries)
    {
        Ok(ring) => {
            setup.coop_taskrun = true;
            Ok((ring, setup))
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok((
            IoUring::builder().setup_cqsize(cq).build(opts.entries)?,
            setup,
        )),
        Err(e) => Err(e),
    }
}
