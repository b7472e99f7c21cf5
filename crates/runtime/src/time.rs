//! Timers: `sleep` and `timeout`. On io_uring a sleep is an `IORING_OP_TIMEOUT` (a kernel timer
//! on the ring); on epoll it is an entry in the driver's timer heap, which bounds the
//! `epoll_wait` timeout.
//!
//! # Invariants
//! - A sleep never completes before its deadline.
//! - Dropping a sleep releases its timer (cancels the op, or forgets the heap entry).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
pub use std::time::Instant;

use super::context;
use super::driver::Driver;
use super::slab::Key;
use super::uring::op::{timeout::Timeout, Op};

/// Wait for `d`.
pub async fn sleep(d: Duration) {
    let cx = context::current();
    match &cx.driver {
        Driver::Uring(_) => {
            // ECANCELED only happens on shutdown; either way the sleep is over.
            let _ = Op::new(Timeout::new(d)).await;
        }
        Driver::Epoll(e) => {
            let deadline = Instant::now() + d;
            struct Guard<'a>(&'a std::cell::RefCell<super::timers::Timers>, Option<Key>);
            impl Drop for Guard<'_> {
                fn drop(&mut self) {
                    if let Some(k) = self.1.take() {
                        let waiters = self.0.borrow_mut().remove(k);
                        waiters.into_iter().for_each(|w| w.wake());
                    }
                }
            }
            let mut guard = Guard(&e.timers, None);
            poll_fn(|task| {
                let mut timers = e.timers.borrow_mut();
                let key = match guard.1 {
                    Some(k) => k,
                    None => match timers.insert(deadline) {
                        Some(k) => {
                            guard.1 = Some(k);
                            k
                        }
                        None => {
                            timers.slot_waiters.push(task.waker().clone());
                            return Poll::Pending;
                        }
                    },
                };
                let entry = timers.get_mut(key).expect("live timer");
                if entry.fired {
                    return Poll::Ready(());
                }
                entry.waker = Some(task.waker().clone());
                Poll::Pending
            })
            .await
        }
    }
}

/// Wait until `deadline`.
pub async fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        sleep(deadline - now).await;
    }
}

/// The deadline passed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Run `fut` for at most `d`; the future is dropped (cancelled) when the time is up.
pub async fn timeout<F: Future>(d: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = pin!(fut);
    let mut timer = pin!(sleep(d));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
