//! Pipes and the splice/sendfile primitives the zero-copy transfer paths are built from.
//!
//! `splice_to_socket` moves `len` bytes of a file to a socket through a pipe. On io_uring it is a
//! linked pair of `IORING_OP_SPLICE` (file -> pipe, then pipe -> socket) per chunk, each chunk at
//! most the pipe's capacity: a short first splice cancels the second (`-ECANCELED`), and whatever
//! sits in the pipe is drained before the pipe is used again. On epoll it is splice(2) twice,
//! with `SPLICE_F_NONBLOCK` on the socket side and a readiness wait on `EAGAIN`.
//!
//! # Invariants
//! - A pipe is empty whenever `splice_to_socket` returns `Ok` (and is discarded on `Err`, since
//!   its content is then unknown).
//! - No chunk exceeds the pipe capacity.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use super::context;
use super::driver::Driver;
use super::fs::File;
use super::net::TcpStream;
use super::uring::op::{self, Op, SharedFd};

/// Default pipe capacity: 1 MiB (the default `fs.pipe-max-size`), so a 1 MiB fetch is one chunk.
pub const PIPE_CAPACITY_BYTES_DEFAULT: usize = 1 << 20;

/// A pipe with a known capacity.
pub struct Pipe {
    read: SharedFd,
    write: SharedFd,
    capacity: usize,
}

impl Pipe {
    /// Create a pipe and ask for `capacity` bytes (F_SETPIPE_SZ); the kernel may round up, or
    /// refuse above `fs.pipe-max-size`, in which case the default (64 KiB) stays.
    pub fn new(capacity: usize) -> io::Result<Pipe> {
        let mut fds = [0i32; 2];
        // io_uring's splice blocks on an io-wq worker and needs a blocking pipe; the epoll path
        // must never block the shard, so its pipe is non-blocking.
        let nonblock = match context::try_current().map(|cx| cx.driver.kind()) {
            Some(super::IoKind::Uring) => 0,
            _ => libc::O_NONBLOCK,
        };
        // SAFETY: fds is a valid 2-int array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | nonblock) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptors we own.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: plain fcntl.
        let got = unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                capacity.min(i32::MAX as usize) as i32,
            )
        };
        let capacity = if got > 0 {
            got as usize
        } else {
            // SAFETY: plain fcntl.
            let cur = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
            if cur <= 0 {
                return Err(io::Error::last_os_error());
            }
            cur as usize
        };
        Ok(Pipe {
            read: Rc::new(read),
            write: Rc::new(write),
            capacity,
        })
    }

    /// Bytes the pipe holds when full.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

fn splice_sys(
    fd_in: i32,
    off_in: Option<&mut i64>,
    fd_out: i32,
    len: usize,
    flags: u32,
) -> io::Result<usize> {
    let off = off_in.map_or(std::ptr::null_mut(), |o| o as *mut i64);
    // SAFETY: `off` is null or points to a live i64 for the call.
    let rc = unsafe { libc::splice(fd_in, off, fd_out, std::ptr::null_mut(), len, flags) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// Move `len` bytes of `file` from `pos` to `sock` through `pipe`, with io_uring ops on an
/// io_uring shard and syscalls on an epoll shard. Returns the bytes sent (less than `len` only at
/// end of file).
pub async fn splice_to_socket(
    file: &File,
    pos: u64,
    len: usize,
    pipe: &Pipe,
    sock: &TcpStream,
) -> io::Result<usize> {
    match context::current().driver.kind() {
        super::IoKind::Uring => splice_to_socket_uring(file, pos, len, pipe, sock).await,
        super::IoKind::Epoll => splice_to_socket_sys(file, pos, len, pipe, sock).await,
    }
}

/// [`splice_to_socket`] as linked `IORING_OP_SPLICE` pairs (io_uring shards only).
pub async fn splice_to_socket_uring(
    file: &File,
    pos: u64,
    len: usize,
    pipe: &Pipe,
    sock: &TcpStream,
) -> io::Result<usize> {
    let cx = context::current();
    if !matches!(cx.driver, Driver::Uring(_)) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring splice needs an io_uring shard",
        ));
    }
    let mut sent = 0usize;
    while sent < len {
        let chunk = (len - sent).min(pipe.capacity);
        let at = pos + sent as u64;
        let a = op::splice::Splice {
            fd_in: file.shared_fd(),
            off_in: at as i64,
            fd_out: pipe.write.clone(),
            off_out: -1,
            len: chunk as u32,
        };
        let b = op::splice::Splice {
            fd_in: pipe.read.clone(),
            off_in: -1,
            fd_out: sock.shared_fd(),
            off_out: -1,
            len: chunk as u32,
        };
        let (ra, rb) = op::linked_pair(a, b).await;
        let filled = ra?;
        debug_assert!(
            filled <= chunk,
            "splice filled {filled} bytes of a {chunk}-byte chunk"
        );
        let drained = match rb {
            Ok(n) => n,
            // The first was short (the kernel cancelled the link), or the socket was full: an
            // io-wq splice does not wait for socket space and answers EAGAIN. Either way the
            // pipe still holds data; drain_uring waits for writability.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ECANCELED | libc::EAGAIN)) => 0,
            Err(e) => return Err(e),
        };
        drain_uring(pipe, sock, filled - drained.min(filled)).await?;
        if filled == 0 {
            break; // end of file
        }
        sent += filled;
    }
    Ok(sent)
}

/// [`splice_to_socket`] as splice(2) syscalls (both drivers): file -> pipe, then pipe -> socket
/// with `SPLICE_F_NONBLOCK` and a writability wait on `EAGAIN`.
pub async fn splice_to_socket_sys(
    file: &File,
    pos: u64,
    len: usize,
    pipe: &Pipe,
    sock: &TcpStream,
) -> io::Result<usize> {
    let mut sent = 0usize;
    while sent < len {
        let chunk = (len - sent).min(pipe.capacity);
        let mut off = (pos + sent as u64) as i64;
        let filled = splice_sys(
            file.raw_fd(),
            Some(&mut off),
            pipe.write.as_raw_fd(),
            chunk,
            libc::SPLICE_F_MOVE,
        )?;
        if filled == 0 {
            break; // end of file
        }
        let mut left = filled;
        while left > 0 {
            let n = sock
                .retry_write(|| {
                    splice_sys(
                        pipe.read.as_raw_fd(),
                        None,
                        sock.raw_fd(),
                        left,
                        libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
                    )
                })
                .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            debug_assert!(
                n <= left,
                "splice drained {n} bytes, {left} were in the pipe"
            );
            left -= n;
        }
        sent += filled;
    }
    Ok(sent)
}

async fn drain_uring(pipe: &Pipe, sock: &TcpStream, mut left: usize) -> io::Result<()> {
    while left > 0 {
        let res = Op::new(op::splice::Splice {
            fd_in: pipe.read.clone(),
            off_in: -1,
            fd_out: sock.shared_fd(),
            off_out: -1,
            len: left as u32,
        })
        .await;
        match res {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                debug_assert!(
                    n <= left,
                    "splice drained {n} bytes, {left} were in the pipe"
                );
                left -= n;
            }
            // The socket is full: wait for room instead of failing the transfer.
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => sock.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// sendfile(2) `len` bytes of `file` from `pos` to `sock` (a syscall on both drivers, with a
/// writability wait on `EAGAIN`). Returns bytes sent (less than `len` only at end of file).
pub async fn sendfile(file: &File, pos: u64, len: usize, sock: &TcpStream) -> io::Result<usize> {
    let mut sent = 0usize;
    while sent < len {
        let mut off = (pos + sent as u64) as libc::off_t;
        let want = len - sent;
        let n = sock
            .retry_write(|| {
                // SAFETY: `off` is a live off_t for the call.
                let rc = unsafe { libc::sendfile(sock.raw_fd(), file.raw_fd(), &mut off, want) };
                if rc < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(rc as usize)
                }
            })
            .await?;
        if n == 0 {
            break;
        }
        sent += n;
    }
    Ok(sent)
}
