//! TCP sockets on the shard's driver. The same methods run on io_uring (one op each) and on epoll
//! (syscall first, readiness wait on `EAGAIN`); callers cannot tell which.
//!
//! Buffers are owned: a method takes the buffer and gives it back with the result.
//!
//! # Invariants
//! - Every socket is non-blocking and close-on-exec.
//! - On epoll a socket is registered once (edge-triggered) and deregistered before its fd closes.
//! - `recv` appends to the buffer's spare capacity and never writes past it.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use super::buf::{IoBuf, IoBufMut};
use super::context;
use super::driver::Driver;
use super::epoll::Direction;
use super::slab::Key;
use super::sockaddr::{self, SockAddrBuf};
use super::uring::op::{self, Op, SharedFd};

pub use super::uring::op::send_zc::ZcReport;

/// Listen backlog: connections the kernel queues before `accept`. Kafka clients connect in
/// bursts (one connection per broker per client), so a generous queue avoids SYN retries.
pub const LISTEN_BACKLOG: i32 = 1024;

/// An epoll registration, removed when dropped (before the fd it covers is closed).
struct Registration {
    key: Key,
    fd: RawFd,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(cx) = context::try_current() {
            if let Driver::Epoll(e) = &cx.driver {
                e.deregister(self.key, self.fd);
            }
        }
    }
}

/// A socket's descriptor plus, on epoll, its registration.
struct Socket {
    // Field order matters: the registration is dropped (deregistered) before the fd closes.
    registration: Option<Registration>,
    fd: SharedFd,
}

impl Socket {
    fn new(fd: OwnedFd) -> io::Result<Socket> {
        let raw = fd.as_raw_fd();
        let cx = context::current();
        let registration = match &cx.driver {
            Driver::Uring(_) => None,
            Driver::Epoll(e) => Some(Registration {
                key: e.register(raw)?,
                fd: raw,
            }),
        };
        Ok(Socket {
            registration,
            fd: Rc::new(fd),
        })
    }

    /// Run `syscall` until it does not return `EAGAIN`, waiting for readiness in between. On
    /// io_uring shards the wait is an `IORING_OP_POLL_ADD`.
    async fn retry<T>(
        &self,
        dir: Direction,
        mut syscall: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        loop {
            match syscall() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(dir).await?,
                other => return other,
            }
        }
    }

    /// Forget the epoll readiness for `dir` (no-op on io_uring).
    fn clear(&self, dir: Direction) {
        if let (Some(reg), Some(cx)) = (&self.registration, context::try_current()) {
            if let Driver::Epoll(e) = &cx.driver {
                e.clear_ready(reg.key, dir);
            }
        }
    }

    /// Wait until the socket is ready for `dir` (after an `EAGAIN`).
    async fn wait(&self, dir: Direction) -> io::Result<()> {
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                let events = match dir {
                    Direction::Read => libc::POLLIN | libc::POLLRDHUP,
                    Direction::Write => libc::POLLOUT,
                } as u32;
                Op::new(op::poll::PollAdd {
                    fd: self.fd.clone(),
                    events,
                })
                .await
                .map(drop)
            }
            Driver::Epoll(e) => {
                let key = self
                    .registration
                    .as_ref()
                    .expect("epoll socket is registered")
                    .key;
                e.clear_ready(key, dir);
                poll_fn(|task| e.poll_ready(key, dir, task)).await;
                Ok(())
            }
        }
    }
}

fn cvt(rc: libc::ssize_t) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

fn new_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_opt(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a valid int for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as _,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A listening TCP socket.
pub struct TcpListener {
    socket: Socket,
    local: SocketAddr,
}

impl TcpListener {
    /// Bind and listen on `addr` (SO_REUSEADDR).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        Self::bind_with(addr, false)
    }

    /// Bind with SO_REUSEPORT so every shard can own a listener on the same address and the kernel
    /// spreads connections across them.
    pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
        Self::bind_with(addr, true)
    }

    fn bind_with(addr: SocketAddr, reuseport: bool) -> io::Result<TcpListener> {
        let fd = new_socket(&addr)?;
        set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if reuseport {
            set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        let sa = SockAddrBuf::from_addr(&addr);
        let (ptr, len) = sa.as_ptr_len();
        // SAFETY: ptr/len describe a valid sockaddr owned by `sa`.
        if unsafe { libc::bind(fd.as_raw_fd(), ptr, len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain syscall.
        if unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let local = local_addr(fd.as_raw_fd())?;
        Ok(TcpListener {
            socket: Socket::new(fd)?,
            local,
        })
    }

    /// Adopt a bound, listening std socket (made non-blocking); used to hand every shard a
    /// SO_REUSEPORT listener bound before the shards start.
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        let local = l.local_addr()?;
        Ok(TcpListener {
            socket: Socket::new(OwnedFd::from(l))?,
            local,
        })
    }

    /// Bind a listening std socket with SO_REUSEADDR and SO_REUSEPORT (no runtime needed).
    pub fn bind_std_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
        let fd = new_socket(&addr)?;
        set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        let sa = SockAddrBuf::from_addr(&addr);
        let (ptr, len) = sa.as_ptr_len();
        // SAFETY: ptr/len describe a valid sockaddr owned by `sa`.
        if unsafe { libc::bind(fd.as_raw_fd(), ptr, len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain syscall.
        if unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(std::net::TcpListener::from(fd))
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Accept one connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, Option<SocketAddr>)> {
        let cx = context::current();
        let (fd, peer) = match &cx.driver {
            Driver::Uring(_) => {
                Op::new(op::accept::Accept {
                    fd: self.socket.fd.clone(),
                    addr: SockAddrBuf::empty(),
                })
                .await?
            }
            Driver::Epoll(_) => {
                let raw = self.socket.fd.as_raw_fd();
                self.socket
                    .retry(Direction::Read, || {
                        let mut addr = SockAddrBuf::empty();
                        let (p, l) = addr.as_mut_ptrs();
                        // SAFETY: p/l point into `addr`, valid for the call.
                        let fd = unsafe {
                            libc::accept4(raw, p, l, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                        };
                        if fd < 0 {
                            return Err(io::Error::last_os_error());
                        }
                        // SAFETY: a fresh descriptor we own.
                        Ok((
                            unsafe { OwnedFd::from_raw_fd(fd) },
                            sockaddr::to_socket_addr(&addr),
                        ))
                    })
                    .await?
            }
        };
        Ok((TcpStream::from_fd(fd)?, peer))
    }
}

fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let mut addr = SockAddrBuf::empty();
    let (p, l) = addr.as_mut_ptrs();
    // SAFETY: p/l point into `addr`.
    if unsafe { libc::getsockname(fd, p, l) } < 0 {
        return Err(io::Error::last_os_error());
    }
    sockaddr::to_socket_addr(&addr).ok_or_else(|| io::Error::other("not an inet socket"))
}

/// A connected TCP socket.
pub struct TcpStream {
    socket: Socket,
}

/// The descriptor, borrowed (for socket options such as kernel TLS's, [`crate::ktls`]).
impl std::os::fd::AsFd for TcpStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.fd.as_fd()
    }
}

impl TcpStream {
    fn from_fd(fd: OwnedFd) -> io::Result<TcpStream> {
        Ok(TcpStream {
            socket: Socket::new(fd)?,
        })
    }

    /// Adopt a connected std socket (made non-blocking).
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        Self::from_fd(OwnedFd::from(s))
    }

    /// Connect to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = new_socket(&addr)?;
        let stream = TcpStream::from_fd(fd)?;
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                Op::new(op::connect::Connect {
                    fd: stream.socket.fd.clone(),
                    addr: SockAddrBuf::from_addr(&addr),
                })
                .await?
            }
            Driver::Epoll(_) => {
                let sa = SockAddrBuf::from_addr(&addr);
                let (p, l) = sa.as_ptr_len();
                // SAFETY: p/l describe `sa`.
                let rc = unsafe { libc::connect(stream.raw_fd(), p, l) };
                if rc < 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EINPROGRESS) {
                        return Err(e);
                    }
                    stream.socket.wait(Direction::Write).await?;
                    let mut err: i32 = 0;
                    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
                    // SAFETY: err/len are valid for the call.
                    unsafe {
                        libc::getsockopt(
                            stream.raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_ERROR,
                            (&mut err as *mut i32).cast(),
                            &mut len,
                        )
                    };
                    if err != 0 {
                        return Err(io::Error::from_raw_os_error(err));
                    }
                }
            }
        }
        Ok(stream)
    }

    /// The raw descriptor (for syscalls such as sendfile(2)).
    pub fn raw_fd(&self) -> RawFd {
        self.socket.fd.as_raw_fd()
    }

    pub(crate) fn shared_fd(&self) -> SharedFd {
        self.socket.fd.clone()
    }

    /// Disable Nagle's algorithm.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        set_int_opt(
            self.raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            on as i32,
        )
    }

    /// Set SO_SNDBUF (bytes).
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        set_int_opt(
            self.raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            bytes.min(i32::MAX as usize) as i32,
        )
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let mut addr = SockAddrBuf::empty();
        let (p, l) = addr.as_mut_ptrs();
        // SAFETY: p/l point into `addr`.
        if unsafe { libc::getpeername(self.raw_fd(), p, l) } < 0 {
            return Err(io::Error::last_os_error());
        }
        sockaddr::to_socket_addr(&addr).ok_or_else(|| io::Error::other("not an inet socket"))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        local_addr(self.raw_fd())
    }

    /// Receive into the spare capacity of `buf` (after `buf.len()`), extending its length.
    /// `Ok(0)` means the peer closed (or the buffer has no spare capacity).
    pub async fn recv<B: IoBufMut>(&self, mut buf: B) -> (io::Result<usize>, B) {
        if buf.bytes_init() == buf.bytes_total() {
            return (Ok(0), buf);
        }
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                Op::new(op::recv::Recv {
                    fd: self.socket.fd.clone(),
                    buf,
                })
                .await
            }
            Driver::Epoll(_) => {
                let fd = self.raw_fd();
                let res = self
                    .socket
                    .retry(Direction::Read, || {
                        let init = buf.bytes_init();
                        let spare = buf.bytes_total() - init;
                        // SAFETY: writes at most `spare` bytes into the buffer's spare capacity.
                        let n = cvt(unsafe {
                            libc::recv(fd, buf.stable_mut_ptr().add(init).cast(), spare, 0)
                        })?;
                        // SAFETY: the kernel initialised `n` bytes after `init`.
                        unsafe { buf.set_init(init + n) };
                        Ok((n, n < spare))
                    })
                    .await;
                // A short read drained the socket: the next recv waits for the next edge instead
                // of making a syscall that would only return EAGAIN (as tokio does).
                let res = res.map(|(n, short)| {
                    if short && n > 0 {
                        self.socket.clear(Direction::Read);
                    }
                    n
                });
                (res, buf)
            }
        }
    }

    /// `recv` that fails with `TimedOut` after `after` (a linked timeout on io_uring).
    pub async fn recv_timeout<B: IoBufMut>(
        &self,
        buf: B,
        after: Duration,
    ) -> (io::Result<usize>, B) {
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                if buf.bytes_init() == buf.bytes_total() {
                    return (Ok(0), buf);
                }
                let recv = op::recv::Recv {
                    fd: self.socket.fd.clone(),
                    buf,
                };
                Op::new(op::link_timeout::WithTimeout::new(recv, after)).await
            }
            Driver::Epoll(_) => {
                // The buffer must come back even on timeout, so race readiness, not the recv.
                let ready = async {
                    loop {
                        let mut probe = [0u8; 1];
                        // SAFETY: peeks at most one byte into a stack array.
                        let rc = unsafe {
                            libc::recv(self.raw_fd(), probe.as_mut_ptr().cast(), 1, libc::MSG_PEEK)
                        };
                        if rc >= 0 {
                            return Ok(());
                        }
                        let e = io::Error::last_os_error();
                        if e.kind() != io::ErrorKind::WouldBlock {
                            return Err(e);
                        }
                        self.socket.wait(Direction::Read).await?;
                    }
                };
                match super::time::timeout(after, ready).await {
                    Ok(Ok(())) => self.recv(buf).await,
                    Ok(Err(e)) => (Err(e), buf),
                    Err(_) => (Err(io::ErrorKind::TimedOut.into()), buf),
                }
            }
        }
    }

    /// Send the initialised bytes of `buf` (maybe partially); `flags` e.g. `libc::MSG_MORE`.
    pub async fn send_with_flags<B: IoBuf>(&self, buf: B, flags: i32) -> (io::Result<usize>, B) {
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                Op::new(op::send::Send {
                    fd: self.socket.fd.clone(),
                    buf,
                    flags,
                })
                .await
            }
            Driver::Epoll(_) => {
                let fd = self.raw_fd();
                let res = self
                    .socket
                    .retry(Direction::Write, || {
                        // SAFETY: sends the initialised bytes of `buf`.
                        cvt(unsafe {
                            libc::send(
                                fd,
                                buf.stable_ptr().cast(),
                                buf.bytes_init(),
                                flags | libc::MSG_NOSIGNAL,
                            )
                        })
                    })
                    .await;
                (res, buf)
            }
        }
    }

    /// Send the initialised bytes of `buf` (maybe partially).
    pub async fn send<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.send_with_flags(buf, 0).await
    }

    /// Send all bytes of `buf`, looping over short sends.
    pub async fn send_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        self.send_all_with_flags(buf, 0).await
    }

    /// Send all bytes of `buf` with `flags` on every send.
    pub async fn send_all_with_flags<B: IoBuf>(&self, buf: B, flags: i32) -> (io::Result<()>, B) {
        let total = buf.bytes_init();
        let (res, buf) = self.send_with_flags(buf, flags).await;
        let mut sent = match res {
            Ok(n) => n,
            Err(e) => return (Err(e), buf),
        };
        if sent == total {
            return (Ok(()), buf);
        }
        // Rare (socket buffer full): continue with owned slices of the remainder.
        let mut slice = buf.slice(..);
        while sent < total {
            let rest = slice.into_inner().slice(sent..);
            let (res, s) = self.send_with_flags(rest, flags).await;
            slice = s;
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), slice.into_inner()),
                Ok(n) => sent += n,
                Err(e) => return (Err(e), slice.into_inner()),
            }
        }
        (Ok(()), slice.into_inner())
    }

    /// Vectored send of several buffers in one op (maybe partially).
    pub async fn sendv<B: IoBuf>(&self, bufs: Vec<B>, flags: i32) -> (io::Result<usize>, Vec<B>) {
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                Op::new(op::sendmsg::SendMsg::new(
                    self.socket.fd.clone(),
                    bufs,
                    flags,
                ))
                .await
            }
            Driver::Epoll(_) => {
                let fd = self.raw_fd();
                let iov: Vec<libc::iovec> = bufs
                    .iter()
                    .map(|b| libc::iovec {
                        iov_base: b.stable_ptr() as *mut _,
                        iov_len: b.bytes_init(),
                    })
                    .collect();
                let res = self
                    .socket
                    .retry(Direction::Write, || {
                        // SAFETY: an all-zero msghdr is valid; iov points at live buffers.
                        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                        msg.msg_iov = iov.as_ptr() as *mut _;
                        msg.msg_iovlen = iov.len() as _;
                        // SAFETY: msg describes buffers alive for the call.
                        cvt(unsafe { libc::sendmsg(fd, &msg, flags | libc::MSG_NOSIGNAL) })
                    })
                    .await;
                (res, bufs)
            }
        }
    }

    /// Zero-copy send (io_uring `SEND_ZC`); resolves after the kernel released the buffer. On an
    /// epoll shard this is a plain `send` (reported as copied).
    pub async fn send_zc<B: IoBuf>(&self, buf: B, flags: i32) -> (io::Result<usize>, B, ZcReport) {
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                Op::new(op::send_zc::SendZc {
                    fd: self.socket.fd.clone(),
                    buf,
                    flags,
                })
                .await
            }
            Driver::Epoll(_) => {
                let (res, buf) = self.send_with_flags(buf, flags).await;
                (
                    res,
                    buf,
                    ZcReport {
                        notified: false,
                        copied: true,
                    },
                )
            }
        }
    }

    /// Zero-copy send that resolves at the send's result, not at the notification: the buffer is
    /// handed to the driver, which releases it when the kernel reports it no longer needs the
    /// pages. Lets a transfer keep sending while earlier pages are still pinned. On an epoll
    /// shard this is a plain `send`.
    pub async fn send_zc_detached<B: IoBuf>(&self, buf: B, flags: i32) -> io::Result<usize> {
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                op::send_zc::SendZcDetached::new(op::send_zc::SendZc {
                    fd: self.socket.fd.clone(),
                    buf,
                    flags,
                })
                .await
            }
            Driver::Epoll(_) => self.send_with_flags(buf, flags).await.0,
        }
    }

    /// Wait until the socket is writable (for syscall-driven transfers such as sendfile(2)).
    pub async fn writable(&self) -> io::Result<()> {
        self.socket.wait(Direction::Write).await
    }

    /// Run a non-blocking syscall against this socket, waiting for writability on `EAGAIN`.
    pub async fn retry_write<T>(&self, syscall: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        self.socket.retry(Direction::Write, syscall).await
    }

    /// Shut down the write side (FIN to the peer).
    pub fn shutdown_write(&self) -> io::Result<()> {
        // SAFETY: plain syscall.
        if unsafe { libc::shutdown(self.raw_fd(), libc::SHUT_WR) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Shut down both directions while the descriptor stays open: a `recv` in progress (an op on
    /// io_uring, a readiness wait on epoll) completes with 0 and a `send` with `EPIPE`, so the
    /// task that owns the socket ends its work by its normal path. Used to close a connection
    /// from outside the task serving it (idle and slowloris timers).
    pub fn shutdown_both(&self) -> io::Result<()> {
        // SAFETY: plain syscall.
        if unsafe { libc::shutdown(self.raw_fd(), libc::SHUT_RDWR) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
