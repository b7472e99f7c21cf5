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
        if position
            .checked_add(len as u64)
            .is_none_or(|end| end > file_len)
        {
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

/// Granularity of a [`MappedFile`]'s length: the mapping covers the file rounded up to this, so
/// a consumer tailing a growing active segment remaps once per 64 MiB of appends, not once per
/// fetch. Only bytes below the file's current end are ever read (checked per slice).
pub const MAP_WINDOW_BYTES: u64 = 64 << 20;

/// Identity and length of an open file (one `fstat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    /// Current length in bytes.
    pub len: u64,
}

impl FileId {
    /// fstat `file`.
    pub fn of(file: &crate::runtime::fs::File) -> io::Result<FileId> {
        // SAFETY: an all-zero stat is a valid out-buffer for fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is valid for the call; the kernel checks the fd.
        if unsafe { libc::fstat(file.raw_fd(), &mut st) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileId {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            len: st.st_size.max(0) as u64,
        })
    }
}

/// A read-only shared mapping of a whole file from offset 0, kept by a connection's
/// [`crate::transfer::Transfer`] across fetches so a sequential consumer pays for `mmap`/`munmap`
/// (and the TLB shootdown `munmap` sends to every other CPU the process runs on) once per file
/// instead of once per fetch. Page-table entries are filled on first touch (fault-around maps
/// 16 pages per fault).
pub struct MappedFile {
    /// Keeps the file open (and its inode alive, even if unlinked) while mapped.
    _file: crate::runtime::fs::File,
    dev: u64,
    ino: u64,
    base: *mut libc::c_void,
    map_len: u64,
}

impl MappedFile {
    /// Map `file` (whose identity is `id`) from 0 to at least `end`, rounded up to
    /// [`MAP_WINDOW_BYTES`].
    pub fn map(file: &crate::runtime::fs::File, id: &FileId, end: u64) -> io::Result<MappedFile> {
        let map_len = end.max(1).div_ceil(MAP_WINDOW_BYTES) * MAP_WINDOW_BYTES;
        let len = usize::try_from(map_len).map_err(|_| io::Error::other("mapping too large"))?;
        // SAFETY: a fresh shared read-only mapping; the kernel checks fd and range. Pages past
        // the file's end are never touched (see `slice`).
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(MappedFile {
            _file: file.clone(),
            dev: id.dev,
            ino: id.ino,
            base,
            map_len,
        })
    }

    /// Does this mapping cover bytes `[0, end)` of the file `id`?
    pub fn covers(&self, id: &FileId, end: u64) -> bool {
        (self.dev, self.ino) == (id.dev, id.ino) && end <= self.map_len
    }

    /// An owned send buffer of `[position, position + len)`, after checking the range lies
    /// below the file's current end `file_len`, so touching it cannot SIGBUS.
    pub fn slice(
        self: &std::rc::Rc<Self>,
        position: u64,
        len: u64,
        file_len: u64,
    ) -> io::Result<MappedSlice> {
        let end = position.checked_add(len);
        if end.is_none_or(|end| end > file_len || end > self.map_len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("slice of {len} bytes at {position}: past the end of the file ({file_len} bytes)"),
            ));
        }
        Ok(MappedSlice {
            map: self.clone(),
            offset: position as usize,
            len: len as usize,
        })
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: base/map_len came from our successful mmap; unmapped exactly once, after the
        // last MappedSlice (which holds an Rc) is gone.
        unsafe { libc::munmap(self.base, self.map_len as usize) };
    }
}

/// Bytes of a [`MappedFile`], holding the mapping alive (also until a `SEND_ZC` notification).
pub struct MappedSlice {
    map: std::rc::Rc<MappedFile>,
    offset: usize,
    len: usize,
}

impl MappedSlice {
    /// The bytes from `from` on, sharing the same mapping.
    pub fn tail(&self, from: usize) -> MappedSlice {
        assert!(from <= self.len, "tail {from} of a {} byte slice", self.len);
        MappedSlice {
            map: self.map.clone(),
            offset: self.offset + from,
            len: self.len - from,
        }
    }
}

// SAFETY: the mapping does not move and lives as long as the Rc this value holds; `slice`
// checked that `offset + len` lies below the file's end and inside the mapping.
unsafe impl IoBuf for MappedSlice {
    fn stable_ptr(&self) -> *const u8 {
        if self.len == 0 {
            return std::ptr::NonNull::<u8>::dangling().as_ptr();
        }
        // SAFETY: offset < map_len (checked in `slice`).
        unsafe { (self.map.base as *const u8).add(self.offset) }
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
}
