//! The per-shard executor: a run queue of `!Send` tasks, spawning, and the loop that alternates
//! between running tasks and turning the I/O driver.
//!
//! Tasks are `async-task` tasks: it gives a correct, small, allocation-per-task state machine with
//! join handles and cancellation, and lets the schedule function decide where a woken task goes.
//! We chose it over a hand-rolled `Rc` task because wakers must be `Send + Sync` (a waker can be
//! cloned into a cross-shard channel), and async-task gets that right for `!Send` futures.
//!
//! # Invariants
//! - A task's future is only polled and dropped on the shard thread that spawned it; a wake from
//!   another thread goes through the shard's injection queue plus its eventfd.
//! - The loop runs at most [`TASKS_PER_TICK_MAX`] tasks before turning the driver again, so I/O
//!   completions are never starved by a busy task set.
//! - No task runs inside a completion drain: drivers only wake (queue) tasks while reaping.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use async_task::Runnable;

use super::context::{self, Context};

/// Tasks run per loop iteration before the driver is turned again. Large enough to amortise the
/// `io_uring_enter`/`epoll_wait` syscall, small enough to keep completion latency low.
pub const TASKS_PER_TICK_MAX: usize = 256;

thread_local! {
    static RUN_QUEUE: RefCell<VecDeque<Runnable>> = const { RefCell::new(VecDeque::new()) };
    /// Address of the `Remote` of the shard running on this thread (0 when none).
    static CURRENT_REMOTE: Cell<usize> = const { Cell::new(0) };
}

/// The part of a shard other threads may touch: injected runnables and the eventfd that wakes it.
pub(crate) struct Remote {
    injected: Mutex<Vec<Runnable>>,
    /// Set when an eventfd write is pending; coalesces wakeups to one syscall per park.
    notified: AtomicBool,
    eventfd: OwnedFd,
}

impl Remote {
    pub(crate) fn new() -> std::io::Result<Arc<Remote>> {
        // SAFETY: eventfd has no memory-safety preconditions; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Arc::new(Remote {
            injected: Mutex::new(Vec::new()),
            notified: AtomicBool::new(false),
            eventfd,
        }))
    }

    pub(crate) fn eventfd(&self) -> i32 {
        self.eventfd.as_raw_fd()
    }

    /// Wake the shard if it is (or is about to be) parked. Callable from any thread.
    pub(crate) fn wake(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a valid u64 to an eventfd we own.
            let n = unsafe { libc::write(self.eventfd(), (&one as *const u64).cast(), 8) };
            // EAGAIN means the counter is saturated: the shard is certainly going to wake.
            debug_assert!(
                n == 8 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN)
            );
        }
    }

    /// Called by the driver after it consumed the eventfd: clear the flag, then pull injected
    /// runnables (in that order, so a wake racing with us either lands in this drain or writes the
    /// eventfd again).
    pub(crate) fn on_eventfd_readable(&self) {
        self.notified.store(false, Ordering::SeqCst);
        let injected =
            std::mem::take(&mut *self.injected.lock().unwrap_or_else(|e| e.into_inner()));
        if !injected.is_empty() {
            RUN_QUEUE.with(|q| q.borrow_mut().extend(injected));
        }
    }

    fn is_current(self: &Arc<Self>) -> bool {
        CURRENT_REMOTE.with(|c| c.get()) == Arc::as_ptr(self) as usize
    }

    fn schedule(self: &Arc<Self>, runnable: Runnable) {
        if self.is_current() {
            RUN_QUEUE.with(|q| q.borrow_mut().push_back(runnable));
        } else {
            self.injected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(runnable);
            self.wake();
        }
    }
}

/// Mark this thread as running the shard of `remote` (for the duration of the guard).
pub(crate) struct EnterGuard(usize);

pub(crate) fn enter(remote: &Arc<Remote>) -> EnterGuard {
    let prev = CURRENT_REMOTE.with(|c| c.replace(Arc::as_ptr(remote) as usize));
    EnterGuard(prev)
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT_REMOTE.with(|c| c.set(self.0));
    }
}

/// A handle to a spawned task. Awaiting it gives the task's output; dropping it detaches the
/// task (it keeps running); [`JoinHandle::cancel`] stops it.
pub struct JoinHandle<T> {
    task: Option<async_task::Task<T>>,
}

impl<T> JoinHandle<T> {
    /// Cancel the task: its future is dropped at the next opportunity on its own shard.
    pub async fn cancel(mut self) -> Option<T> {
        match self.task.take() {
            Some(t) => t.cancel().await,
            None => None,
        }
    }
    /// True when the task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T> {
        let task = self
            .task
            .as_mut()
            .expect("JoinHandle polled after completion");
        Pin::new(task).poll(cx)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.detach();
        }
    }
}

/// Spawn a task on the current shard. The future need not be `Send`.
///
/// # Panics
/// When called outside a ringlog runtime thread.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let remote = context::current().remote.clone();
    let (runnable, task) = async_task::spawn_local(future, move |r| remote.schedule(r));
    runnable.schedule();
    JoinHandle { task: Some(task) }
}

/// Yield to other tasks once.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

struct MainWaker {
    woken: AtomicBool,
    remote: Arc<Remote>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if !self.remote.is_current() {
            self.remote.wake();
        }
    }
}

fn run_batch() -> usize {
    let mut ran = 0;
    while ran < TASKS_PER_TICK_MAX {
        let Some(runnable) = RUN_QUEUE.with(|q| q.borrow_mut().pop_front()) else {
            break;
        };
        runnable.run();
        ran += 1;
    }
    ran
}

fn queue_is_empty() -> bool {
    RUN_QUEUE.with(|q| q.borrow().is_empty())
}

/// Drive `future` to completion on this thread's shard, running spawned tasks and the driver.
pub(crate) fn run_until<F: Future>(cx: &Rc<Context>, future: F) -> F::Output {
    let main = Arc::new(MainWaker {
        woken: AtomicBool::new(true),
        remote: cx.remote.clone(),
    });
    let waker = Waker::from(main.clone());
    let mut task_cx = TaskContext::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if main.woken.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(v) = future.as_mut().poll(&mut task_cx) {
                return v;
            }
        }
        run_batch();
        let idle = queue_is_empty() && !main.woken.load(Ordering::Acquire);
        if let Err(e) = cx.driver.turn(idle) {
            // A failing io_uring_enter/epoll_wait is a bug or a broken kernel: nothing can make
            // progress, so stop loudly rather than spin.
            panic!("shard {} driver failed: {e}", cx.shard_id);
        }
    }
}

/// Drop every queued task (on shutdown). Their futures are dropped on this thread.
pub(crate) fn drop_queued_tasks() {
    loop {
        let batch: Vec<Runnable> = RUN_QUEUE.with(|q| q.borrow_mut().drain(..).collect());
        if batch.is_empty() {
            break;
        }
        drop(batch);
    }
}
