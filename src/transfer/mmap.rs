//! A read-only shared mapping of a file range (the page-cache pages themselves, no copy), usable
//! as an owned send buffer.
//!
//! The mapping starts at the page that holds `position` and is unmapped when the value is
//! dropped, so a send (or a `SEND_ZC` until its notification) keeps the pages mapped exactly as
//! long as the kernel may read them.
//!
//! # Invariants
//! - Only ranges below a partition's high watermark are mapped; the broker never truncates a
//!   segment below its high watermark while serving, so touching the mapping cannot SIGBUS.
//!   (Retention unlinks whole files; an unlinked file's pages stay valid while mapped.)
//! - [`MappedRange::map`] refuses a range that runs past the file's current end (one `fstat`),
//!   so a wrong range is an error instead of a SIGBUS when the send touches the missing pages.

use std::io;
use std::os::fd::RawFd;

use crate::runtime::IoBuf;

/// A mapped file range.
pub struct MappedRange {
    base: *mut libc::c_void,
    map_len: usize,
    /// Offset of the first requested byte inside the mapping.
    skip: usize,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; nothing else unmaps it.
unsafe impl Send for MappedRange {}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

impl MappedRange {
    /// Map `len` bytes of `fd` from `position` (read-only).
    pub fn map(fd: RawFd, position: u64, len: usize) -> io::Result<MappedRange> {
        if len == 0 {
            return Ok(MappedRange {
                base: std::ptr::null_mut(),
                map_len: 0,
                skip: 0,
                len: 0,
            });
        }
        // SAFETY: an all-zero stat is a valid out-buffer for fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is valid for the call; the kernel checks `fd`.
        if unsafe { libc::fstat(fd, &mut st) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let file_len = st.st_size.max(0) as u64;
        if position.checked_add(len as u64).is_none_or(|end| end > file_len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("mapping {len} bytes at {position}: past the end of the file ({file_len} bytes)"),
            ));
        }
        let page = page_size() as u64;
        let start = position - position % page;
        let skip = (position - start) as usize;
        let map_len = skip + len;
        // SAFETY: a fresh shared read-only mapping; the kernel checks fd and range.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                start as libc::off_t,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(MappedRange {
            base,
            map_len,
            skip,
            len,
        })
    }

    /// The mapped bytes.
    pub fn as_slice(&self) -> &[u8] {
        crate::runtime::buf::as_bytes(self)
    }
}

impl Drop for MappedRange {
    fn drop(&mut self) {
        if self.map_len > 0 {
            // SAFETY: base/map_len came from our successful mmap, unmapped exactly once.
            unsafe { libc::munmap(self.base, self.map_len) };
        }
    }
}

// SAFETY: the mapping does not move when the value moves and stays valid until drop; `len` bytes
// from the returned pointer lie inside it and are readable (PROT_READ, below the file's end).
unsafe impl IoBuf for MappedRange {
    fn stable_ptr(&self) -> *const u8 {
        if self.map_len == 0 {
            return std::ptr::NonNull::<u8>::dangling().as_ptr();
        }
        // SAFETY: skip < map_len, inside the mapping.
        unsafe { (self.base as *const u8).add(self.skip) }
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
}
