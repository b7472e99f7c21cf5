//! `IORING_OP_TIMEOUT` (io_uring_prep_timeout(3); kernel 5.4): a kernel timer on the ring. A pure
//! timeout completes with `-ETIME`, which is success here. The timespec is boxed and the kernel
//! copies it when the SQE is submitted.
//!
//! Errors: `-ECANCELED` (removed/cancelled) is returned as `Interrupted`.

use std::io;
use std::time::Duration;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::uring::Completion;

pub(crate) struct Timeout {
    pub ts: Box<types::Timespec>,
}

impl Timeout {
    pub(crate) fn new(d: Duration) -> Timeout {
        Timeout {
            ts: Box::new(types::Timespec::from(d)),
        }
    }
}

impl Operation for Timeout {
    type Output = io::Result<()>;
    fn prep(&mut self) -> squeue::Entry {
        opcode::Timeout::new(&*self.ts).build()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        match -c.result {
            0 | libc::ETIME => Ok(()),
            libc::ECANCELED => Err(io::ErrorKind::Interrupted.into()),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }
}
