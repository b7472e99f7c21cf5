//! `IORING_OP_WRITE` at an explicit offset (io_uring_prep_write(3), pwrite(2); kernel 5.6).
//!
//! Buffered writes to ext4 are punted to io-wq workers (the inode lock is taken blocking), so they
//! cost a context switch; O_DIRECT writes into preallocated space are issued inline. A short write
//! is possible (disk full); callers loop. Errors: `ENOSPC`, `EIO`, `EDQUOT` are operational and
//! poison the log (see storage); `EBADF`/`EINVAL` are bugs of ours.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::buf::IoBuf;
use crate::uring::Completion;

pub(crate) struct WriteAt<B: IoBuf> {
    pub fd: SharedFd,
    pub buf: B,
    pub pos: u64,
}

impl<B: IoBuf> Operation for WriteAt<B> {
    type Output = (io::Result<usize>, B);
    fn prep(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_init().min(u32::MAX as usize) as u32;
        opcode::Write::new(types::Fd(self.fd.as_raw_fd()), self.buf.stable_ptr(), len)
            .offset(self.pos)
            .build()
    }
    fn complete(self, c: Completion) -> Self::Output {
        (cqe_result(c.result).map(|n| n as usize), self.buf)
    }
}
