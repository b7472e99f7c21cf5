//! `IORING_OP_RECV` (io_uring_prep_recv(3), recv(2); kernel 5.6). Receives into the spare capacity
//! of an owned `Vec` (after its current length) and extends the length by the bytes received, so
//! framing code can keep appending to one buffer. 0 means the peer closed its side.
//!
//! Errors: `ECONNRESET`, `ETIMEDOUT` are operational; `ECANCELED` is our cancellation (the future
//! was dropped, or a linked timeout fired: see `link_timeout.rs`).

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::buf::IoBufMut;
use crate::uring::Completion;

/// `IORING_RECVSEND_POLL_FIRST` (include/uapi/linux/io_uring.h).
const RECVSEND_POLL_FIRST: u16 = 1;

pub(crate) struct Recv<B: IoBufMut> {
    pub fd: SharedFd,
    pub buf: B,
}

impl<B: IoBufMut> Operation for Recv<B> {
    type Output = (io::Result<usize>, B);
    fn prep(&mut self) -> squeue::Entry {
        let init = self.buf.bytes_init();
        let spare = self.buf.bytes_total() - init;
        // SAFETY: init <= capacity, so the pointer stays within the allocation.
        let ptr = unsafe { self.buf.stable_mut_ptr().add(init) };
        // An empty buffer means we wait for a new message, which has most likely not arrived yet:
        // IORING_RECVSEND_POLL_FIRST (5.19) arms the poll at once instead of first trying a
        // receive that fails with EAGAIN. A partly filled buffer (a frame in progress) tries
        // the receive first.
        let ioprio = if init == 0 { RECVSEND_POLL_FIRST } else { 0 };
        opcode::Recv::new(
            types::Fd(self.fd.as_raw_fd()),
            ptr,
            spare.min(u32::MAX as usize) as u32,
        )
        .ioprio(ioprio)
        .build()
    }
    fn complete(mut self, c: Completion) -> Self::Output {
        match cqe_result(c.result) {
            Ok(n) => {
                let n = n as usize;
                let len = self.buf.bytes_init() + n;
                // SAFETY: the kernel wrote `n` bytes right after the old length.
                unsafe { self.buf.set_init(len) };
                (Ok(n), self.buf)
            }
            Err(e) => (Err(e), self.buf),
        }
    }
}
