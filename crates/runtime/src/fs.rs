//! Files on the shard's driver: positioned reads and writes, fsync/fdatasync, directory sync.
//!
//! On io_uring each call is one op (`read_at.rs`, `write_at.rs`, `writev_at.rs`, `fsync.rs`). On epoll, reads and
//! writes are plain `pread`/`pwrite` (they hit the page cache) and fsync/fdatasync run on the
//! shard's helper threads, so a shard never blocks on the disk.
//!
//! # Invariants
//! - Buffers are owned by the call and returned with the result.
//! - `write_all_at` either writes every byte or returns the error of the first failed write;
//!   callers (the storage layer) treat any error as fatal for the log.
//! - `writev_all_at` writes its buffers back to back from `pos`, all of them or up to the first
//!   failed write, with at most [`IOVECS_PER_WRITE_MAX`] iovecs per call, resuming after short
//!   writes mid-buffer.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::rc::Rc;

use super::buf::IoBuf;
use super::context;
use super::driver::Driver;
use super::epoll::blocking;
use super::uring::op::{self, Op, SharedFd};

/// Most iovecs one vectored write passes to the kernel: Linux's `IOV_MAX` (pwritev(2) and
/// `IORING_OP_WRITEV` refuse more with `EINVAL`). Longer lists are written in several calls.
pub const IOVECS_PER_WRITE_MAX: usize = 1024;

thread_local! {
    /// The iovec array of the shard's vectored writes, kept between calls so a write allocates
    /// none (taken while in use: a second write in flight on the same shard makes its own).
    static IOVECS: std::cell::Cell<Vec<libc::iovec>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An open file bound to the shard's driver.
#[derive(Clone)]
pub struct File {
    fd: SharedFd,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "File(fd={})", self.fd.as_raw_fd())
    }
}

impl File {
    /// Adopt an open std file.
    pub fn from_std(f: std::fs::File) -> File {
        File {
            fd: Rc::new(OwnedFd::from(f)),
        }
    }

    /// The raw descriptor.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(crate) fn shared_fd(&self) -> SharedFd {
        self.fd.clone()
    }

    /// A duplicate descriptor (close-on-exec) that another shard can own: the file stays open
    /// (and readable, even if unlinked) until every copy is closed.
    pub fn dup_fd(&self) -> io::Result<OwnedFd> {
        // SAFETY: F_DUPFD_CLOEXEC has no memory preconditions; the result is checked.
        let new = unsafe { libc::fcntl(self.raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if new < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(new) })
    }

    /// Current length (fstat).
    pub fn len(&self) -> io::Result<u64> {
        // SAFETY: an all-zero stat is a valid out-buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: st is valid for the call.
        if unsafe { libc::fstat(self.raw_fd(), &mut st) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st.st_size as u64)
    }

    /// True when the file is empty.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Truncate or extend (ftruncate).
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        // SAFETY: plain syscall.
        if unsafe { libc::ftruncate(self.raw_fd(), len as libc::off_t) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Read up to `buf.len()` bytes at `pos` into `buf[..]`; returns the count (0 at EOF).
    pub async fn read_at(&self, mut buf: Vec<u8>, pos: u64) -> (io::Result<usize>, Vec<u8>) {
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                Op::new(op::read_at::ReadAt {
                    fd: self.fd.clone(),
                    buf,
                    pos,
                })
                .await
            }
            Driver::Epoll(_) => {
                // SAFETY: reads at most buf.len() bytes into the Vec's initialised region.
                let rc = unsafe {
                    libc::pread(
                        self.raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        pos as libc::off_t,
                    )
                };
                let res = if rc < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(rc as usize)
                };
                (res, buf)
            }
        }
    }

    /// Fill all of `buf` from `pos`; `UnexpectedEof` when the file ends first.
    pub async fn read_exact_at(&self, buf: Vec<u8>, pos: u64) -> (io::Result<()>, Vec<u8>) {
        let total = buf.len();
        let (res, mut buf) = self.read_at(buf, pos).await;
        let mut done = match res {
            Ok(n) => n,
            Err(e) => return (Err(e), buf),
        };
        while done < total {
            // Short read (rare: a concurrent truncate or a signal): read the rest into a scratch
            // buffer and copy it over.
            let scratch = vec![0u8; total - done];
            let (res, scratch) = self.read_at(scratch, pos + done as u64).await;
            match res {
                Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
                Ok(n) => {
                    buf[done..done + n].copy_from_slice(&scratch[..n]);
                    done += n;
                }
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Write `buf` at `pos` (maybe partially).
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> (io::Result<usize>, B) {
        if let Some(errno) = fault::take_write_failure() {
            return (Err(io::Error::from_raw_os_error(errno)), buf);
        }
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(u) if !u.inline_buffered_writes() => {
                Op::new(op::write_at::WriteAt {
                    fd: self.fd.clone(),
                    buf,
                    pos,
                })
                .await
            }
            // epoll shards, and io_uring shards with inline buffered writes (the default): a
            // page-cache write is a short syscall, while IORING_OP_WRITE on ext4 is punted to
            // io-wq (see UringOptions::inline_buffered_writes).
            _ => {
                // SAFETY: writes the initialised bytes of `buf`.
                let rc = unsafe {
                    libc::pwrite(
                        self.raw_fd(),
                        buf.stable_ptr().cast(),
                        buf.bytes_init(),
                        pos as libc::off_t,
                    )
                };
                let res = if rc < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(rc as usize)
                };
                (res, buf)
            }
        }
    }

    /// Write every byte of `buf` at `pos`.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> (io::Result<()>, B) {
        let total = buf.bytes_init();
        let (res, buf) = self.write_at(buf, pos).await;
        let mut done = match res {
            Ok(n) => n,
            Err(e) => return (Err(e), buf),
        };
        if done == total {
            return (Ok(()), buf);
        }
        let mut slice = buf.slice(..);
        while done < total {
            let rest = slice.into_inner().slice(done..);
            let (res, s) = self.write_at(rest, pos + done as u64).await;
            slice = s;
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), slice.into_inner()),
                Ok(n) => done += n,
                Err(e) => return (Err(e), slice.into_inner()),
            }
        }
        (Ok(()), slice.into_inner())
    }

    /// Write `bufs` back to back from `pos`, every byte (vectored: no copy into one buffer).
    /// Short writes resume where the kernel stopped, mid-buffer if need be; more than
    /// [`IOVECS_PER_WRITE_MAX`] buffers take several calls. The buffers come back unchanged.
    pub async fn writev_all_at<B: IoBuf>(
        &self,
        mut bufs: Vec<B>,
        pos: u64,
    ) -> (io::Result<()>, Vec<B>) {
        let total: usize = bufs.iter().map(IoBuf::bytes_init).sum();
        let mut iovecs = IOVECS.with(|c| c.take());
        // The next unwritten byte: buffer `first`, `skip` bytes into it.
        let (mut first, mut skip, mut done) = (0usize, 0usize, 0usize);
        let mut result = Ok(());
        while done < total {
            iovecs.clear();
            for (i, b) in bufs[first..].iter().enumerate() {
                if iovecs.len() == IOVECS_PER_WRITE_MAX {
                    break;
                }
                let from = if i == 0 { skip } else { 0 };
                let len = b.bytes_init() - from;
                if len > 0 {
                    iovecs.push(libc::iovec {
                        // SAFETY: `from <= bytes_init()`, so the pointer stays within the buffer.
                        iov_base: unsafe { b.stable_ptr().add(from) } as *mut libc::c_void,
                        iov_len: len,
                    });
                }
            }
            debug_assert!(!iovecs.is_empty(), "bytes left but no iovec to write them");
            let res;
            (res, bufs, iovecs) = self.writev_at(bufs, iovecs, pos + done as u64).await;
            let mut n = match res {
                Ok(0) => {
                    result = Err(io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => n,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            assert!(
                n <= total - done,
                "vectored write reports {n} bytes, only {} were passed",
                total - done
            );
            done += n;
            // Advance (first, skip) past the n bytes written.
            while n > 0 {
                let left = bufs[first].bytes_init() - skip;
                if n < left {
                    skip += n;
                    n = 0;
                } else {
                    n -= left;
                    first += 1;
                    skip = 0;
                }
            }
        }
        iovecs.clear();
        IOVECS.with(|c| c.set(iovecs));
        (result, bufs)
    }

    /// One vectored write of the regions `iovecs` (pointing into `bufs`) at `pos` (maybe
    /// partially).
    async fn writev_at<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        mut iovecs: Vec<libc::iovec>,
        pos: u64,
    ) -> (io::Result<usize>, Vec<B>, Vec<libc::iovec>) {
        debug_assert!(iovecs.len() <= IOVECS_PER_WRITE_MAX);
        if let Some(errno) = fault::take_write_failure() {
            return (Err(io::Error::from_raw_os_error(errno)), bufs, iovecs);
        }
        if let Some(max) = fault::SHORT_WRITEV.with(|c| c.take()) {
            // Forced short write: pass only the first `max` bytes to the kernel.
            let mut left = max;
            let mut keep = 0;
            for v in iovecs.iter_mut() {
                if left == 0 {
                    break;
                }
                v.iov_len = v.iov_len.min(left);
                left -= v.iov_len;
                keep += 1;
            }
            iovecs.truncate(keep.max(1));
        }
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(u) if !u.inline_buffered_writes() => {
                Op::new(op::writev_at::WritevAt {
                    fd: self.fd.clone(),
                    bufs,
                    iovecs,
                    pos,
                })
                .await
            }
            // As `write_at`: a page-cache write is a short syscall on either driver.
            _ => {
                // SAFETY: every iovec points at initialised bytes of a buffer in `bufs`, which
                // outlives the call; the count is at most IOV_MAX.
                let rc = unsafe {
                    libc::pwritev(
                        self.raw_fd(),
                        iovecs.as_ptr(),
                        iovecs.len() as libc::c_int,
                        pos as libc::off_t,
                    )
                };
                let res = if rc < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(rc as usize)
                };
                (res, bufs, iovecs)
            }
        }
    }

    /// fdatasync(2): data and the metadata needed to read it back are durable.
    pub async fn fdatasync(&self) -> io::Result<()> {
        self.sync(true).await
    }

    /// fsync(2): data and all metadata are durable.
    pub async fn fsync(&self) -> io::Result<()> {
        self.sync(false).await
    }

    async fn sync(&self, datasync: bool) -> io::Result<()> {
        fault::SYNC_CALLS.with(|c| c.set(c.get() + 1));
        if let Some(d) = fault::SYNC_DELAY.with(|c| c.take()) {
            super::time::sleep(d).await;
        }
        if fault::take(&fault::FAIL_SYNCS) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let cx = context::current();
        match &cx.driver {
            Driver::Uring(_) => {
                Op::new(op::fsync::Fsync {
                    fd: self.fd.clone(),
                    datasync,
                })
                .await
            }
            Driver::Epoll(e) => blocking::fsync(&e.blocking, self.raw_fd(), datasync).await,
        }
    }
}

/// fsync a directory so entries created, renamed or removed in it are durable.
pub async fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = std::fs::File::open(path)?;
    File::from_std(dir).fsync().await
}

/// The size of the file system holding `path` and the bytes of it an unprivileged process may
/// still use (statvfs(3): `f_blocks` and `f_bavail` times `f_frsize`): Kafka's DescribeLogDirs
/// v4 total and usable bytes. Blocking, but one syscall on metadata the kernel has in memory.
pub fn volume_bytes(path: &Path) -> io::Result<VolumeBytes> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: an all-zero statvfs is a valid out-buffer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a NUL-terminated string and st a valid out-buffer, both live for the call.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // The field types are u64 on 64-bit Linux but narrower elsewhere: the conversions stay.
    #[allow(clippy::useless_conversion)]
    let (frsize, blocks, available) = (
        u64::from(st.f_frsize),
        u64::from(st.f_blocks),
        u64::from(st.f_bavail),
    );
    Ok(VolumeBytes {
        total: blocks.saturating_mul(frsize),
        usable: available.saturating_mul(frsize),
    })
}

/// What [`volume_bytes`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeBytes {
    /// The size of the file system.
    pub total: u64,
    /// The bytes an unprivileged process may still write there.
    pub usable: u64,
}

/// Fault injection for storage tests: make the next writes or syncs on this thread fail with
/// `EIO` (without touching the file), and count syncs. Zero cost when unused (a thread-local
/// read per write).
#[doc(hidden)]
pub mod fault {
    use std::cell::Cell;

    thread_local! {
        pub(super) static FAIL_WRITES: Cell<u32> = const { Cell::new(0) };
        pub(super) static WRITES_BEFORE_FAILING: Cell<u32> = const { Cell::new(0) };
        pub(super) static WRITE_ERRNO: Cell<i32> = const { Cell::new(libc::EIO) };
        pub(super) static FAIL_SYNCS: Cell<u32> = const { Cell::new(0) };
        pub(super) static SYNC_CALLS: Cell<u64> = const { Cell::new(0) };
        pub(super) static SYNC_DELAY: Cell<Option<std::time::Duration>> = const { Cell::new(None) };
        pub(super) static SHORT_WRITEV: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// The next vectored write on this thread passes at most `max_bytes` (at least one iovec) to
    /// the kernel, as a short write would (to test that writers resume where it stopped).
    pub fn short_next_writev(max_bytes: usize) {
        SHORT_WRITEV.with(|c| c.set(Some(max_bytes)));
    }

    /// The next fdatasync/fsync on this thread starts only after `d` (to observe written but
    /// not yet durable data deterministically).
    pub fn delay_next_sync(d: std::time::Duration) {
        SYNC_DELAY.with(|c| c.set(Some(d)));
    }

    /// The next `n` writes on this thread fail with EIO.
    pub fn fail_next_writes(n: u32) {
        fail_writes_with(0, n, libc::EIO);
    }

    /// After `skip` more writes succeed on this thread, the next `n` fail with `errno` (e.g.
    /// ENOSPC after a segment write went through, failing the index write that follows it).
    pub fn fail_writes_with(skip: u32, n: u32, errno: i32) {
        WRITES_BEFORE_FAILING.with(|c| c.set(skip));
        WRITE_ERRNO.with(|c| c.set(errno));
        FAIL_WRITES.with(|c| c.set(n));
    }

    /// The errno this write must fail with, if a failure is due.
    pub(super) fn take_write_failure() -> Option<i32> {
        if FAIL_WRITES.with(|c| c.get()) == 0 {
            return None;
        }
        let skip = WRITES_BEFORE_FAILING.with(|c| c.get());
        if skip > 0 {
            WRITES_BEFORE_FAILING.with(|c| c.set(skip - 1));
            return None;
        }
        take(&FAIL_WRITES).then(|| WRITE_ERRNO.with(|c| c.get()))
    }

    /// The next `n` fdatasync/fsync calls on this thread fail with EIO.
    pub fn fail_next_syncs(n: u32) {
        FAIL_SYNCS.with(|c| c.set(n));
    }

    /// fdatasync/fsync calls made on this thread so far.
    pub fn sync_calls() -> u64 {
        SYNC_CALLS.with(|c| c.get())
    }

    pub(super) fn take(c: &'static std::thread::LocalKey<Cell<u32>>) -> bool {
        c.with(|c| {
            let n = c.get();
            if n > 0 {
                c.set(n - 1);
            }
            n > 0
        })
    }
}

#[cfg(test)]
mod volume_tests {
    use super::*;

    #[test]
    fn volume_bytes_of_a_directory_and_of_nothing() {
        let v = volume_bytes(&std::env::temp_dir()).expect("statvfs of the temp dir");
        assert!(v.total > 0 && v.usable <= v.total, "{v:?}");
        let missing = std::env::temp_dir().join("ringlog-no-such-dir/x");
        assert_eq!(
            volume_bytes(&missing).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            volume_bytes(Path::new("a\0b")).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
