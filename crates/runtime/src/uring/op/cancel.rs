//! `IORING_OP_ASYNC_CANCEL` (io_uring_prep_cancel64(3); kernel 5.5): ask the kernel to cancel an
//! in-flight op by its `user_data`. Used (fire-and-forget, `KEY_IGNORE`) when an op's future is
//! dropped: see `Uring::abandon`. The cancelled op still posts its own CQE (`-ECANCELED`, or its
//! real result if it completed first) and only then is its memory released.
//! Awaited, the result is 0 (found and cancelled), `-ENOENT` (not found: already completed) or
//! `-EALREADY` (running; cancellation was signalled).

use std::io;

use io_uring::{opcode, squeue};

use super::Operation;
use crate::uring::Completion;

pub(crate) struct Cancel {
    pub target: u64,
}

impl Operation for Cancel {
    type Output = io::Result<()>;
    fn prep(&mut self) -> squeue::Entry {
        opcode::AsyncCancel::new(self.target).build()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        match -c.result {
            0 | libc::EALREADY => Ok(()),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }
}
