//! `IORING_OP_ACCEPT` (io_uring_prep_accept(3), accept4(2); kernel 5.5). The new socket is created
//! non-blocking and close-on-exec. The peer address is written into a boxed `sockaddr_storage`.
//!
//! Errors: `EAGAIN` cannot happen (io_uring arms a poll and retries); `ECONNABORTED`, `EMFILE`,
//! `ENFILE`, `ENOBUFS`, `ENOMEM` are operational and returned to the caller, which keeps accepting.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::sockaddr::{self, SockAddrBuf};
use crate::uring::Completion;

pub(crate) struct Accept {
    pub fd: SharedFd,
    pub addr: Box<SockAddrBuf>,
}

impl Operation for Accept {
    type Output = io::Result<(OwnedFd, Option<SocketAddr>)>;
    fn prep(&mut self) -> squeue::Entry {
        let (storage, len) = self.addr.as_mut_ptrs();
        opcode::Accept::new(types::Fd(self.fd.as_raw_fd()), storage, len)
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
    }
    fn complete(self, c: Completion) -> Self::Output {
        let fd = cqe_result(c.result)? as i32;
        // SAFETY: a successful accept returns a new descriptor that we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok((fd, sockaddr::to_socket_addr(&self.addr)))
    }
}
