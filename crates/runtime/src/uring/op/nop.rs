//! `IORING_OP_NOP` (io_uring_prep_nop(3), kernel 5.1): completes immediately with 0. Used by the
//! ring benchmark to measure the pure submission/completion overhead.

use std::io;

use io_uring::{opcode, squeue};

use super::{cqe_result, Operation};
use crate::uring::Completion;

pub(crate) struct Nop;

impl Operation for Nop {
    type Output = io::Result<()>;
    fn prep(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        cqe_result(c.result).map(drop)
    }
}
