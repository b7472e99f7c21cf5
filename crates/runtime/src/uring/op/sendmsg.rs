//! `IORING_OP_SENDMSG` (io_uring_prep_sendmsg(3), sendmsg(2); kernel 5.3): the vectored send. The
//! `msghdr` and the iovec array are boxed and owned by the op, as are the buffers they point to.
//!
//! Used to send a response header and its body in one syscall-free submission.
//! Errors: as `send.rs`.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};

use super::{cqe_result, Operation, SharedFd};
use crate::buf::IoBuf;
use crate::uring::Completion;

pub(crate) struct SendMsg<B: IoBuf> {
    pub fd: SharedFd,
    pub bufs: Vec<B>,
    pub iovecs: Box<[libc::iovec]>,
    pub msghdr: Box<libc::msghdr>,
    pub flags: u32,
}

impl<B: IoBuf> SendMsg<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, flags: i32) -> SendMsg<B> {
        let iovecs: Box<[libc::iovec]> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.stable_ptr() as *mut _,
                iov_len: b.bytes_init(),
            })
            .collect();
        // SAFETY: an all-zero msghdr is a valid "no name, no control" header.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_iov = iovecs.as_ptr() as *mut _;
        msghdr.msg_iovlen = iovecs.len() as _;
        SendMsg {
            fd,
            bufs,
            iovecs,
            msghdr,
            flags: (flags | libc::MSG_NOSIGNAL) as u32,
        }
    }
}

impl<B: IoBuf> Operation for SendMsg<B> {
    type Output = (io::Result<usize>, Vec<B>);
    fn prep(&mut self) -> squeue::Entry {
        debug_assert_eq!(
            self.msghdr.msg_iov as *const libc::iovec,
            self.iovecs.as_ptr()
        );
        opcode::SendMsg::new(types::Fd(self.fd.as_raw_fd()), &*self.msghdr)
            .flags(self.flags)
            .build()
    }
    fn complete(self, c: Completion) -> Self::Output {
        (cqe_result(c.result).map(|n| n as usize), self.bufs)
    }
}
