//! `IORING_OP_SPLICE` (io_uring_prep_splice(3), splice(2); kernel 5.7): move up to `len` bytes
//! between a file and a pipe, or a pipe and a socket, without copying through user space.
//!
//! Quirks (kernel-notes.md): splice is *always* executed on an io-wq worker thread (it has no
//! non-blocking path inside io_uring), so each chunk costs a worker wakeup; a chunk larger than
//! the pipe's capacity comes back short, and a short result cancels the linked next op
//! (`-ECANCELED`), so the transfer code never asks for more than the pipe holds and drains the
//! pipe before reusing it. An offset of -1 means "use and advance the file position" (pipes).

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::uring::Completion;

pub(crate) struct Splice {
    pub fd_in: SharedFd,
    pub off_in: i64,
    pub fd_out: SharedFd,
    pub off_out: i64,
    pub len: u32,
}

impl Operation for Splice {
    type Output = io::Result<usize>;
    fn prep(&mut self) -> squeue::Entry {
        opcode::Splice::new(
            types::Fd(self.fd_in.as_raw_fd()),
            self.off_in,
            types::Fd(self.fd_out.as_raw_fd()),
            self.off_out,
            self.len,
        )
        .flags(libc::SPLICE_F_MOVE)
        .build()
    }
    fn complete(self, c: Completion) -> io::Result<usize> {
        cqe_result(c.result).map(|n| n as usize)
    }
}
