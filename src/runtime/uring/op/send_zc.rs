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
use crate::runtime::buf::IoBuf;
use crate::runtime::uring::Completion;

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
