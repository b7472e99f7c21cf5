//! Single-shard synchronisation: a `Notify` for "something changed, look again" (used for
//! high-watermark moves that wake long-poll fetches).
//!
//! # Invariants
//! - `notify_waiters` wakes every future that was created by `notified()` before the call.
//! - Waiters are counted by generation, so a waiter never misses a notification that happened
//!   after it was created, and never blocks forever on one that happened before.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Wake-all notification for tasks on one shard (`!Send`).
#[derive(Default)]
pub struct Notify {
    generation: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Notify {
    /// A new notifier.
    pub fn new() -> Notify {
        Notify::default()
    }

    /// A future that completes at the next `notify_waiters` after this call.
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.generation.get(),
        }
    }

    /// Wake every pending `notified()` future.
    pub fn notify_waiters(&self) {
        self.generation.set(self.generation.get() + 1);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }

    /// Number of parked wakers (may include stale ones from dropped futures until the next
    /// notification clears them).
    pub fn waiter_count(&self) -> usize {
        self.waiters.borrow().len()
    }
}

/// Future returned by [`Notify::notified`].
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: u64,
}

impl Future for Notified<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.generation.get() != self.generation {
            return Poll::Ready(());
        }
        let mut waiters = self.notify.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
