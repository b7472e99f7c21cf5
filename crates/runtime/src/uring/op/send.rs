//! `IORING_OP_SEND` (io_uring_prep_send(3), send(2); kernel 5.6). Sends the initialised bytes of an
//! owned buffer with `MSG_NOSIGNAL` (a closed peer is an `EPIPE` error, not a signal), plus any
//! caller flags (`MSG_MORE` to cork a header in front of a following transfer).
//!
//! A short send is possible on stream sockets; callers that need all bytes loop.
//! Errors: `EPIPE`, `ECONNRESET` are operational.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::buf::IoBuf;
use crate::uring::Completion;

pub(crate) struct Send<B: IoBuf> {
    pub fd: SharedFd,
    pub buf: B,
    pub flags: i32,
}

impl<B: IoBuf> Operation for Send<B> {
    type Output = (io::Result<usize>, B);
    fn prep(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        opcode::Send::new(types::Fd(self.fd.as_raw_fd()), self.buf.stable_ptr(), len)
            .flags(self.flags | libc::MSG_NOSIGNAL)
            .build()
    }
    fn complete(self, c: Completion) -> Self::Output {
        (cqe_result(c.result).map(|n| n as usize), self.buf)
    }
}
