//! `IORING_OP_CONNECT` (io_uring_prep_connect(3), connect(2); kernel 5.5). The address lives in a
//! box owned by the op until completion.
//!
//! Errors: `ECONNREFUSED`, `ETIMEDOUT`, `ENETUNREACH`, `EADDRNOTAVAIL` are operational; `EISCONN`
//! or `EALREADY` would be a bug of ours (connect issued twice).

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::sockaddr::SockAddrBuf;
use crate::uring::Completion;

pub(crate) struct Connect {
    pub fd: SharedFd,
    pub addr: Box<SockAddrBuf>,
}

impl Operation for Connect {
    type Output = io::Result<()>;
    fn prep(&mut self) -> squeue::Entry {
        let (storage, len) = self.addr.as_ptr_len();
        opcode::Connect::new(types::Fd(self.fd.as_raw_fd()), storage, len).build()
    }
    fn complete(self, c: Completion) -> io::Result<()> {
        cqe_result(c.result).map(drop)
    }
}
