//! `IORING_OP_WRITEV` at an explicit offset (io_uring_prep_writev(3), pwritev(2); kernel 5.1): the
//! vectored file write. The iovec array and the buffers it points to are owned by the op.
//!
//! Used to write stamped batch headers and the payload bytes of a request frame in one
//! submission, without first copying them into one buffer. Like `write_at.rs`, buffered writes to
//! ext4 are punted to io-wq. A short write is possible (disk full, `RLIMIT_FSIZE`); callers loop.
//! Errors: `ENOSPC`, `EIO`, `EDQUOT`, `EFBIG` are operational (see storage); `EBADF` and `EINVAL`
//! (more than `IOV_MAX` iovecs) are bugs of ours.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::buf::IoBuf;
use crate::uring::Completion;

pub(crate) struct WritevAt<B: IoBuf> {
    pub fd: SharedFd,
    /// The buffers the iovecs point into (kept alive until the completion).
    pub bufs: Vec<B>,
    /// Regions of `bufs`; heap memory, so it stays put when the op value moves.
    pub iovecs: Vec<libc::iovec>,
    pub pos: u64,
}

impl<B: IoBuf> Operation for WritevAt<B> {
    type Output = (io::Result<usize>, Vec<B>, Vec<libc::iovec>);
    fn prep(&mut self) -> squeue::Entry {
        opcode::Writev::new(
            types::Fd(self.fd.as_raw_fd()),
            self.iovecs.as_ptr(),
            self.iovecs.len() as u32,
        )
        .offset(self.pos)
        .build()
    }
    fn complete(self, c: Completion) -> Self::Output {
        (
            cqe_result(c.result).map(|n| n as usize),
            self.bufs,
            self.iovecs,
        )
    }
}
