//! `IORING_OP_SEND_ZC` (io_uring_prep_send_zc(3); kernel 6.0): zero-copy send. Two completions:
//! first the result (flagged `IORING_CQE_F_MORE` when a notification follows), then the
//! notification (`IORING_CQE_F_NOTIF`) once the kernel no longer references the pages. The buffer
//! is given back only after the notification.
//!
//! With `IORING_SEND_ZC_REPORT_USAGE` (6.2) the notification's `res` carries
//! `IORING_NOTIF_USAGE_ZC_COPIED` when the kernel fell back to copying. On loopback it always does:
//! the skb is delivered to a local socket, whose receive path must own the data, so the pages are
//! copied (kernel-notes.md). Errors: as `send.rs`.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::buf::IoBuf;
use crate::uring::Completion;

/// `IORING_SEND_ZC_REPORT_USAGE` (include/uapi/linux/io_uring.h).
const SEND_ZC_REPORT_USAGE: u16 = 1 << 3;
/// `IORING_NOTIF_USAGE_ZC_COPIED`.
const NOTIF_USAGE_ZC_COPIED: i32 = 1 << 31;

/// What the kernel reported about a zero-copy send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZcReport {
    /// A notification arrived (the buffer was pinned and then released).
    pub notified: bool,
    /// The kernel copied the data instead of sending the pages.
    pub copied: bool,
}

pub(crate) struct SendZc<B: IoBuf> {
    pub fd: SharedFd,
    pub buf: B,
    pub flags: i32,
}

impl<B: IoBuf> Operation for SendZc<B> {
    type Output = (io::Result<usize>, B, ZcReport);
    fn prep(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        opcode::SendZc::new(types::Fd(self.fd.as_raw_fd()), self.buf.stable_ptr(), len)
            .flags(self.flags | libc::MSG_NOSIGNAL)
            .zc_flags(SEND_ZC_REPORT_USAGE)
            .build()
    }
    fn complete(self, c: Completion) -> Self::Output {
        let report = match c.notif {
            Some(res) => ZcReport {
                notified: true,
                copied: res & NOTIF_USAGE_ZC_COPIED != 0,
            },
            None => ZcReport::default(),
        };
        (cqe_result(c.result).map(|n| n as usize), self.buf, report)
    }
}

/// A zero-copy send that resolves at its *result* CQE: the buffer goes to the driver, which
/// releases it at the notification. A sender that waits for the notification before its next
/// send serializes on the peer's ACK (the kernel releases the pages only once the data is
/// acknowledged, and a peer waiting for the rest of a response delays its ACK): measured at the
/// broker as ~0.02 GB/s. This keeps sends flowing while earlier buffers are still pinned.
pub(crate) struct SendZcDetached<B: IoBuf> {
    op: Option<SendZc<B>>,
    key: Option<crate::slab::Key>,
    _not_send: std::marker::PhantomData<std::rc::Rc<()>>,
}

impl<B: IoBuf> SendZcDetached<B> {
    pub(crate) fn new(op: SendZc<B>) -> Self {
        SendZcDetached {
            op: Some(op),
            key: None,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl<B: IoBuf> std::future::Future for SendZcDetached<B> {
    type Output = io::Result<usize>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        // SAFETY: the op data holds only heap pointers (module invariant of `op`), so moving it
        // out of the pinned future is sound.
        let this = unsafe { self.get_unchecked_mut() };
        super::with_uring(|uring| {
            if this.key.is_none() {
                let Some(key) = uring.reserve(cx.waker()) else {
                    return Poll::Pending;
                };
                let sqe = this.op.as_mut().expect("op").prep().user_data(key.to_u64());
                // SAFETY: the SQE points into the op's buffer, which lives in `this.op` and then
                // in the slab (detach or abandon) until the final CQE.
                unsafe { uring.push(&[sqe]) };
                this.key = Some(key);
            }
            let key = this.key.expect("key");
            match uring.poll_result(key, cx.waker()) {
                None => Poll::Pending,
                Some((c, done)) => {
                    this.key = None;
                    let op = this.op.take().expect("op");
                    if !done {
                        uring.detach(key, Box::new(op));
                    }
                    Poll::Ready(cqe_result(c.result).map(|n| n as usize))
                }
            }
        })
    }
}

impl<B: IoBuf> Drop for SendZcDetached<B> {
    fn drop(&mut self) {
        if let (Some(key), Some(op)) = (self.key.take(), self.op.take()) {
            match crate::context::try_current() {
                Some(cx) => match &cx.driver {
                    crate::driver::Driver::Uring(u) => u.abandon(key, Box::new(op)),
                    crate::driver::Driver::Epoll(_) => unreachable!(),
                },
                None => std::mem::forget(op),
            }
        }
    }
}
