//! `IORING_OP_FSYNC` (io_uring_prep_fsync(3), fsync(2)/fdatasync(2); kernel 5.1), with
//! `IORING_FSYNC_DATASYNC` for fdatasync. Always runs on an io-wq worker (it blocks).
//!
//! Ordering: an fsync only covers writes that *completed* before it started; callers wait for the
//! write CQEs first (or link with IOSQE_IO_LINK). Errors: `EIO`, `ENOSPC` mean data may be lost:
//! the storage layer poisons the log and never retries (the kernel may have dropped the dirty
//! pages, so a retried fsync can succeed without the data being on disk).

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::uring::Completion;

pub(crate) struct Fsync {
    pub fd: SharedFd,
    pub datasync: bool,
}

impl Operation for Fsync {
    type Output = io::Result<()>;
    fn prep(&mut self) -> squeue::Entry {
        let mut op = opcode::Fsync::new(types::Fd(self.fd.as_raw_fd()));
        if self.datasync {
            op = op.flags(types::FsyncFlags::DATASYNC);
        }
        op.build()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        cqe_result(c.result).map(drop)
    }
}
