//! io_uring operations: one file per op. Each builds its SQE (`prep`) and turns the kernel's
//! result into a typed value (`complete`), mapping every errno on purpose.
//!
//! # Invariants
//! - Every pointer an SQE carries points into heap memory owned by the op value (a `Vec`, a
//!   `Box`), never into the op value itself: the value moves when its future is abandoned.
//! - Ops hold the file descriptors they use as [`SharedFd`] clones, so a socket closed by its
//!   owner while a cancelled op is still queued cannot be reused under the op's feet.
//! - An op's future completes only after the op's *final* CQE (for send_zc, the notification).

pub(crate) mod accept;
pub(crate) mod cancel;
pub(crate) mod connect;
pub(crate) mod fsync;
pub(crate) mod link_timeout;
pub(crate) mod nop;
pub(crate) mod poll;
pub(crate) mod read_at;
pub(crate) mod recv;
pub(crate) mod send;
pub(crate) mod send_zc;
pub(crate) mod sendmsg;
pub(crate) mod splice;
pub(crate) mod timeout;
pub(crate) mod write_at;
pub(crate) mod writev_at;

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use io_uring::squeue;

use super::{Completion, Uring};
use crate::context;
use crate::driver::Driver;
use crate::slab::Key;

/// A file descriptor shared between its owner and the ops using it.
pub(crate) type SharedFd = Rc<std::os::fd::OwnedFd>;

/// One io_uring operation.
pub(crate) trait Operation: 'static {
    type Output;
    /// Build the SQE (without `user_data`). Called once, right before submission.
    fn prep(&mut self) -> squeue::Entry;
    /// An SQE linked after this one (a linked timeout), submitted with `KEY_IGNORE`.
    fn linked(&mut self) -> Option<squeue::Entry> {
        None
    }
    /// Decode the final completion.
    fn complete(self, completion: Completion) -> Self::Output;
}

/// Turn a negative `cqe.res` into an `io::Error`, or the non-negative value into `Ok`.
pub(crate) fn cqe_result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

enum State<T> {
    Unsubmitted(T),
    Submitted(Key, T),
    Done,
}

/// The future of one op on the current shard's ring.
pub(crate) struct Op<T: Operation> {
    state: State<T>,
    _not_send: PhantomData<Rc<()>>,
}

impl<T: Operation> Op<T> {
    pub(crate) fn new(op: T) -> Op<T> {
        Op {
            state: State::Unsubmitted(op),
            _not_send: PhantomData,
        }
    }
}

pub(crate) fn with_uring<R>(f: impl FnOnce(&Uring) -> R) -> R {
    let cx = context::current();
    match &cx.driver {
        Driver::Uring(u) => f(u),
        Driver::Epoll(_) => unreachable!("an io_uring op was created on an epoll shard"),
    }
}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T::Output> {
        // SAFETY: we never move out of `state` while it is pinned except by replacing the whole
        // enum; the op data holds only heap pointers (module invariant), so moving it is sound.
        let this = unsafe { self.get_unchecked_mut() };
        with_uring(|uring| loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Unsubmitted(mut op) => {
                    let Some(key) = uring.reserve(cx.waker()) else {
                        this.state = State::Unsubmitted(op);
                        return Poll::Pending; // back-pressure: woken when a slot frees
                    };
                    let first = op.prep().user_data(key.to_u64());
                    match op.linked() {
                        None => {
                            // SAFETY: the SQE points into `op`'s heap data, which lives in
                            // `this.state` (or the slab, if abandoned) until the final CQE.
                            unsafe { uring.push(&[first]) }
                        }
                        Some(link) => {
                            let first = first.flags(squeue::Flags::IO_LINK);
                            let link = link.user_data(super::KEY_IGNORE);
                            // SAFETY: as above; the linked timeout's timespec is copied by the
                            // kernel when the chain is submitted.
                            unsafe { uring.push(&[first, link]) }
                        }
                    }
                    this.state = State::Submitted(key, op);
                }
                State::Submitted(key, op) => match uring.poll_op(key, cx.waker()) {
                    Some(completion) => return Poll::Ready(op.complete(completion)),
                    None => {
                        this.state = State::Submitted(key, op);
                        return Poll::Pending;
                    }
                },
                State::Done => panic!("op polled after completion"),
            }
        })
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        if let State::Submitted(key, op) = std::mem::replace(&mut self.state, State::Done) {
            match context::try_current() {
                Some(cx) => match &cx.driver {
                    Driver::Uring(u) => u.abandon(key, Box::new(op)),
                    Driver::Epoll(_) => unreachable!(),
                },
                // No runtime any more: the ring is gone, and with it every in-flight op (the
                // kernel completes or cancels them on ring teardown before our memory could be
                // freed? Not guaranteed) — leak rather than free memory the kernel may touch.
                None => std::mem::forget(op),
            }
        }
    }
}

/// Submit a linked pair `a -> b` (IOSQE_IO_LINK) and wait for both final completions.
/// If `a` fails or is short, the kernel cancels `b` (-ECANCELED).
pub(crate) async fn linked_pair<A: Operation, B: Operation>(a: A, b: B) -> (A::Output, B::Output) {
    LinkedPair {
        a: Some(a),
        b: Some(b),
        keys: None,
        done: [None, None],
        _not_send: PhantomData,
    }
    .await
}

struct LinkedPair<A: Operation, B: Operation> {
    a: Option<A>,
    b: Option<B>,
    keys: Option<(Key, Key)>,
    done: [Option<Completion>; 2],
    _not_send: PhantomData<Rc<()>>,
}

impl<A: Operation, B: Operation> Future for LinkedPair<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // SAFETY: as in `Op::poll`, op data holds only heap pointers.
        let this = unsafe { self.get_unchecked_mut() };
        with_uring(|uring| {
            if this.keys.is_none() {
                let Some(ka) = uring.reserve(cx.waker()) else {
                    return Poll::Pending;
                };
                let Some(kb) = uring.reserve(cx.waker()) else {
                    uring.unreserve(ka);
                    return Poll::Pending;
                };
                let (a, b) = (this.a.as_mut().expect("a"), this.b.as_mut().expect("b"));
                let sa = a
                    .prep()
                    .user_data(ka.to_u64())
                    .flags(squeue::Flags::IO_LINK);
                let sb = b.prep().user_data(kb.to_u64());
                // SAFETY: both SQEs point into heap data owned by `this` (or the slab when
                // abandoned) until their final CQEs.
                unsafe { uring.push(&[sa, sb]) };
                this.keys = Some((ka, kb));
            }
            let (ka, kb) = this.keys.expect("keys");
            if this.done[0].is_none() {
                this.done[0] = uring.poll_op(ka, cx.waker());
            }
            if this.done[1].is_none() {
                this.done[1] = uring.poll_op(kb, cx.waker());
            }
            match (this.done[0], this.done[1]) {
                (Some(ca), Some(cb)) => {
                    this.keys = None;
                    let a = this.a.take().expect("a").complete(ca);
                    let b = this.b.take().expect("b").complete(cb);
                    Poll::Ready((a, b))
                }
                _ => Poll::Pending,
            }
        })
    }
}

impl<A: Operation, B: Operation> Drop for LinkedPair<A, B> {
    fn drop(&mut self) {
        let Some((ka, kb)) = self.keys.take() else {
            return;
        };
        let Some(cx) = context::try_current() else {
            std::mem::forget(self.a.take());
            std::mem::forget(self.b.take());
            return;
        };
        let Driver::Uring(u) = &cx.driver else {
            unreachable!()
        };
        if self.done[0].is_none() {
            u.abandon(ka, Box::new(self.a.take()));
        }
        if self.done[1].is_none() {
            u.abandon(kb, Box::new(self.b.take()));
        }
    }
}
