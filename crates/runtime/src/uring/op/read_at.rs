//! `IORING_OP_READ` at an explicit offset (io_uring_prep_read(3), pread(2); kernel 5.6). Reads up
//! to `buf.len()` bytes into `buf[..]`; returns how many. 0 means end of file.
//!
//! Buffered reads of cached pages complete inline; a page-cache miss is punted to an io-wq worker
//! (or served by async buffered reads on 5.9+ for ext4/xfs). Errors: `EIO` is operational
//! (a storage error); `EBADF`/`EINVAL` are bugs of ours.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::uring::Completion;

pub(crate) struct ReadAt {
    pub fd: SharedFd,
    pub buf: Vec<u8>,
    pub pos: u64,
}

impl Operation for ReadAt {
    type Output = (io::Result<usize>, Vec<u8>);
    fn prep(&mut self) -> squeue::Entry {
        let len = self.buf.len().min(u32::MAX as usize) as u32;
        opcode::Read::new(types::Fd(self.fd.as_raw_fd()), self.buf.as_mut_ptr(), len)
            .offset(self.pos)
            .build()
    }
    fn complete(self, c: Completion) -> Self::Output {
        (cqe_result(c.result).map(|n| n as usize), self.buf)
    }
}
