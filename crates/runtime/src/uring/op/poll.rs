//! `IORING_OP_POLL_ADD` (io_uring_prep_poll_add(3), poll(2); kernel 5.1), one-shot: wait until a
//! descriptor is readable or writable. Used where the work itself is a plain syscall on a
//! non-blocking socket (the `sendfile` and `splice(2)` transfer paths on an io_uring shard).

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::uring::Completion;

pub(crate) struct PollAdd {
    pub fd: SharedFd,
    pub events: u32,
}

impl Operation for PollAdd {
    type Output = io::Result<u32>;
    fn prep(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.as_raw_fd()), self.events).build()
    }
    fn complete(self, c: Completion) -> io::Result<u32> {
        cqe_result(c.result)
    }
}
