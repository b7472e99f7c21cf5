//! `IORING_OP_LINK_TIMEOUT` (io_uring_prep_link_timeout(3); kernel 5.5): a timeout linked behind
//! another op with `IOSQE_IO_LINK`. If the timer fires first the kernel cancels the op, which then
//! completes with `-ECANCELED` (mapped to `TimedOut` here); if the op completes first the timer is
//! cancelled. The timeout's own CQE is ignored (`KEY_IGNORE`).

use std::io;
use std::time::Duration;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::uring::Completion;

/// Wraps an op so that it fails with `TimedOut` unless it completes within `after`.
pub(crate) struct WithTimeout<T> {
    pub op: T,
    pub ts: Box<types::Timespec>,
}

impl<T> WithTimeout<T> {
    pub(crate) fn new(op: T, after: Duration) -> WithTimeout<T> {
        WithTimeout {
            op,
            ts: Box::new(types::Timespec::from(after)),
        }
    }
}

/// Ops whose output can report a timeout.
pub(crate) trait TimeoutOutput {
    fn timed_out(self) -> Self;
}

impl<B> TimeoutOutput for (io::Result<usize>, B) {
    fn timed_out(self) -> Self {
        (Err(io::ErrorKind::TimedOut.into()), self.1)
    }
}

impl<T: Operation> Operation for WithTimeout<T>
where
    T::Output: TimeoutOutput,
{
    type Output = T::Output;
    fn prep(&mut self) -> squeue::Entry {
        self.op.prep()
    }
    fn linked(&mut self) -> Option<squeue::Entry> {
        Some(opcode::LinkTimeout::new(&*self.ts).build())
    }
    fn complete(self, c: Completion) -> T::Output {
        let cancelled = c.result == -libc::ECANCELED;
        let out = self.op.complete(c);
        if cancelled {
            out.timed_out()
        } else {
            out
        }
    }
}
