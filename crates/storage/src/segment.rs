//! One segment: `{base_offset:020}.log` plus its `.index` and `.timeindex` (see [`super::index`]).
//!
//! The `.log` file is a plain concatenation of RecordBatch v2 batches (layout in
//! [`super::batch`]), with increasing offsets, contiguous until the cleaner
//! ([`super::compact`]) removes batches of a sealed segment (it keeps every kept batch's
//! offsets, so what it leaves are gaps):
//! ```text
//! position 0                      p1                      p2
//!          +----------------------+-----------------------+------ ... ---+
//!          | batch base_offset=B  | batch base=B+n0       | ...          |  size_bytes
//!          | (n0 offsets)         | (n1 offsets)          |              |
//!          +----------------------+-----------------------+------ ... ---+
//! ```
//! A segment is *active* (the last one, appended to) or *sealed* (immutable, its files fsynced,
//! its time index closed with the segment's maximum timestamp).
//!
//! A segment holds no file descriptor of its own: each use takes its file from the engine's
//! [`FileCache`] (see [`super::files`]), which opens it on demand within the engine's budget.
//! The index files are needed only while the segment is active or its indexes are rewritten;
//! a sealed segment is read through its in-memory indexes and its `.log`.
//!
//! # Invariants
//! - The first batch's base offset is at least the segment's base offset (equal until a clean);
//!   each next batch starts after the previous batch's `last_offset` (at `last_offset + 1` until
//!   a clean); `next_offset` is one past the last batch.
//! - `size_bytes` (every written byte) fits in a `u32` position and relative offsets fit in a `u32`.
//! - Only the log's writer (holding the log's write lock) changes segment state; state borrows
//!   are never held across an `.await`.
//! - A sealed segment's index files are not held open (released when it is sealed or recovered).

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;

use super::batch::{BatchHeader, HEADER_BYTES};
use super::error::{Error, Result};
use super::files::{CachedFile, Create, FileCache};
use super::index::{IndexMark, SegmentIndexes, OFFSET_ENTRY_BYTES, TIME_ENTRY_BYTES};
use super::names::{segment_file, INDEX_EXT, LOG_EXT, TIMEINDEX_EXT};
use super::rt::fs::File;
use super::rt::time::Instant;

/// Largest segment: positions in `.index` are u32, and Kafka caps `segment.bytes` at i32::MAX.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;
/// Extension of the empty marker file `{base_offset:020}.compacted` of a segment the cleaner
/// wrote ([`super::compact`]): its batches may leave gaps in the offsets (before its first
/// batch, between batches, after its last one), which recovery then accepts; in any other
/// segment a gap is damage.
pub const COMPACTED_EXT: &str = "compacted";

/// Mutable state of a segment.
#[derive(Debug)]
pub struct SegmentState {
    /// In-memory offset and time indexes, mirrored to `.index` / `.timeindex`.
    pub indexes: SegmentIndexes,
    /// Bytes written to `.log` (the dirty end).
    pub size_bytes: u64,
    /// One past the last offset written.
    pub next_offset: i64,
    /// No more appends; index files are final and the data is fsynced.
    pub sealed: bool,
}

/// One segment and its files. The files are opened on use through the engine's [`FileCache`]
/// (see [`super::files`]): a segment holds no descriptor of its own, and a sealed segment needs
/// only its `.log` (its indexes are in memory).
#[derive(Debug)]
pub struct Segment {
    /// Offset of the segment's first batch (also its file name, zero-padded to 20 digits).
    pub base_offset: i64,
    files: Rc<FileCache>,
    log_file: CachedFile,
    index_file: CachedFile,
    time_file: CachedFile,
    /// The files were deleted (retention, truncation, topic deletion): a use that must open
    /// them again finds them gone.
    deleted: Cell<bool>,
    /// When this process opened or created the segment (age for `segment_ms`).
    pub created: Instant,
    /// Size, next offset, indexes and sealed flag; changed only under the log's write lock.
    pub state: RefCell<SegmentState>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.release_files();
    }
}

/// A batch written by [`Segment::append`]: its offsets and where it sits in the write buffer.
#[derive(Debug, Clone, Copy)]
pub struct WrittenBatch {
    /// Offset stamped into the batch.
    pub base_offset: i64,
    /// Byte position of the batch within the append buffer.
    pub buffer_position: u64,
    /// Whole batch size in bytes.
    pub size_bytes: u64,
    /// The batch's max timestamp, milliseconds since the epoch (for the time index).
    pub max_timestamp: i64,
}

/// fdatasync of a segment's three files, in order `.log`, `.index`, `.timeindex`.
async fn sync_files(seg: &Segment, log: &File, index: &File, time: &File) -> Result<()> {
    for (file, path) in [
        (log, seg.log_path()),
        (index, seg.index_path()),
        (time, seg.time_path()),
    ] {
        file.fdatasync()
            .await
            .map_err(|e| Error::io("fdatasync", path, e))?;
    }
    Ok(())
}

/// The batches of one append buffer, in order, cover it exactly with increasing base offsets.
fn batches_tile(batches: &[WrittenBatch], buffer_bytes: u64) -> bool {
    let mut position = 0;
    let mut offset = i64::MIN;
    for b in batches {
        if b.buffer_position != position || b.base_offset <= offset {
            return false;
        }
        position += b.size_bytes;
        offset = b.base_offset;
    }
    position == buffer_bytes
}

impl Segment {
    /// Creates a new, empty active segment (fails if its `.log` already exists); its three files
    /// are created empty and held in the cache (they are about to be written).
    pub fn create(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        files: &Rc<FileCache>,
    ) -> Result<Segment> {
        let s = Self::open(dir, base_offset, files);
        // `New`: never overwrite a `.log` (its data); nothing is removed if this fails.
        s.files.create(&s.log_file, Create::New)?;
        let indexes = s
            .files
            .create(&s.index_file, Create::Truncate)
            .and_then(|_| s.files.create(&s.time_file, Create::Truncate));
        if let Err(e) = indexes {
            // All or nothing: a `.log` left behind would make the next attempt fail (it exists).
            let _ = s.delete_files();
            return Err(e);
        }
        s.state.borrow_mut().indexes = SegmentIndexes::new(index_interval_bytes);
        Ok(s)
    }

    /// An existing segment, its files not opened yet; the state is filled in by recovery.
    pub fn open(dir: &Path, base_offset: i64, files: &Rc<FileCache>) -> Segment {
        Segment {
            base_offset,
            files: files.clone(),
            log_file: CachedFile::new(segment_file(dir, base_offset, LOG_EXT)),
            index_file: CachedFile::created_if_missing(segment_file(dir, base_offset, INDEX_EXT)),
            time_file: CachedFile::created_if_missing(segment_file(
                dir,
                base_offset,
                TIMEINDEX_EXT,
            )),
            deleted: Cell::new(false),
            created: Instant::now(),
            state: RefCell::new(SegmentState {
                indexes: SegmentIndexes::new(0),
                size_bytes: 0,
                next_offset: base_offset,
                sealed: false,
            }),
        }
    }

    /// Path of the `.log` file (batches).
    pub fn log_path(&self) -> &Path {
        self.log_file.path()
    }
    /// Path of the `.index` file (sparse offset index).
    pub fn index_path(&self) -> &Path {
        self.index_file.path()
    }
    /// Path of the `.timeindex` file (time index).
    pub fn time_path(&self) -> &Path {
        self.time_file.path()
    }

    /// The `.log` file, opened if the cache does not hold it. Readers keep the `Rc` while they
    /// use it (a [`super::log::FileSlice`] in flight), so eviction never closes it under them.
    /// A deleted or retired segment opens nothing: its path may name another segment's file now
    /// (the cleaner renames a cleaned segment over the one it replaces).
    pub fn log_file(&self) -> Result<Rc<File>> {
        if self.deleted.get() {
            return Err(Error::io(
                "open",
                self.log_path(),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        self.files.get(&self.log_file)
    }

    fn index_files(&self) -> Result<(Rc<File>, Rc<File>)> {
        Ok((
            self.files.get(&self.index_file)?,
            self.files.get(&self.time_file)?,
        ))
    }

    /// Stops holding the index files open (a sealed segment reads only its `.log`).
    pub fn release_index_files(&self) {
        self.files.release(&self.index_file);
        self.files.release(&self.time_file);
    }

    /// Stops holding any of the segment's files open.
    pub fn release_files(&self) {
        self.files.release(&self.log_file);
        self.release_index_files();
    }

    /// Path of the segment's compacted marker ([`COMPACTED_EXT`]).
    pub fn compacted_path(&self) -> std::path::PathBuf {
        self.log_path().with_extension(COMPACTED_EXT)
    }

    /// Whether the cleaner wrote this segment (its compacted marker exists): offsets may have
    /// gaps.
    pub fn is_compacted(&self) -> bool {
        self.compacted_path().exists()
    }

    /// True once [`Segment::delete_files`] or [`Segment::retire`] ran.
    pub fn is_deleted(&self) -> bool {
        self.deleted.get()
    }

    /// The segment was replaced by a cleaned one of the same base offset whose files took its
    /// paths ([`crate::compact`]): stop holding its files and never open them again by path
    /// (a reader holding its `.log` keeps reading the old file until it drops it).
    pub fn retire(&self) {
        self.deleted.set(true);
        self.release_files();
    }

    /// Current length of the `.log` file (fstat), whole batches or not.
    pub fn log_file_len(&self) -> Result<u64> {
        self.log_file()?
            .len()
            .map_err(|e| Error::io("stat", self.log_path(), e))
    }

    /// Bytes of whole batches written to `.log` (readers never look past this).
    pub fn size_bytes(&self) -> u64 {
        self.state.borrow().size_bytes
    }
    /// One past the last offset written to this segment.
    pub fn next_offset(&self) -> i64 {
        self.state.borrow().next_offset
    }
    /// True if no batch has been written (an empty active segment is never rolled).
    pub fn is_empty(&self) -> bool {
        self.size_bytes() == 0
    }
    /// Largest batch max timestamp in the segment, ms since the epoch (`i64::MIN` if empty).
    pub fn max_timestamp(&self) -> i64 {
        self.state.borrow().indexes.max_timestamp
    }

    /// Relative offset of `offset` in this segment, if representable.
    pub fn relative(&self, offset: i64) -> Option<u32> {
        u32::try_from(offset - self.base_offset).ok()
    }

    /// Reads the whole `.index`/`.timeindex` files.
    pub async fn read_index_files(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let _permit = self.files.write_permit().await;
        let (index, time) = self.index_files()?;
        let ilen = index
            .len()
            .map_err(|e| Error::io("stat", self.index_path(), e))?;
        let tlen = time
            .len()
            .map_err(|e| Error::io("stat", self.time_path(), e))?;
        let (r, ib) = index.read_exact_at(vec![0u8; ilen as usize], 0).await;
        r.map_err(|e| Error::io("read", self.index_path(), e))?;
        let (r, tb) = time.read_exact_at(vec![0u8; tlen as usize], 0).await;
        r.map_err(|e| Error::io("read", self.time_path(), e))?;
        Ok((ib, tb))
    }

    /// Replaces both index files with the in-memory indexes (after a rebuild).
    pub async fn rewrite_index_files(&self) -> Result<()> {
        let (ib, tb) = {
            let st = self.state.borrow();
            (st.indexes.encode_offsets(), st.indexes.encode_times())
        };
        let _permit = self.files.write_permit().await;
        let (index, time) = self.index_files()?;
        index
            .set_len(0)
            .map_err(|e| Error::io("truncate", self.index_path(), e))?;
        let (r, _) = index.write_all_at(ib, 0).await;
        r.map_err(|e| Error::io("write", self.index_path(), e))?;
        time.set_len(0)
            .map_err(|e| Error::io("truncate", self.time_path(), e))?;
        let (r, _) = time.write_all_at(tb, 0).await;
        r.map_err(|e| Error::io("write", self.time_path(), e))?;
        Ok(())
    }

    /// Writes `pieces` back to back (already validated and stamped batches, cut anywhere: the
    /// log hands over each batch's stamped prefix and the rest of it as slices of the request)
    /// at the end of the log in one vectored write, then updates the indexes and mirrors new
    /// entries to the index files. `batches` positions are relative to the start of `pieces`.
    pub async fn append(&self, pieces: Vec<Bytes>, batches: &[WrittenBatch]) -> Result<()> {
        let len: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        // Every file first: running out of descriptors must fail before any byte is written
        // (the caller then leaves the log as it was, writable).
        let _permit = self.files.write_permit().await;
        let log = self.log_file()?;
        let (index, time) = self.index_files()?;
        let (position, mark) = {
            let st = self.state.borrow();
            assert!(
                !st.sealed,
                "append to sealed segment {}",
                self.log_path().display()
            );
            // Offsets contiguous: the first batch continues the segment.
            assert!(
                batches
                    .first()
                    .is_none_or(|b| b.base_offset == st.next_offset),
                "append to segment {} at offset {:?}, its next offset is {}",
                self.log_path().display(),
                batches.first().map(|b| b.base_offset),
                st.next_offset
            );
            debug_assert!(
                batches_tile(batches, len),
                "append to segment {}: batches {batches:?} do not tile a {len}-byte buffer",
                self.log_path().display()
            );
            (st.size_bytes, st.indexes.mark())
        };
        assert!(
            position + len <= SEGMENT_BYTES_MAX,
            "segment {} position overflow: {position} + {len} bytes > {SEGMENT_BYTES_MAX}",
            self.log_path().display()
        );
        match self
            .write_append(&log, &index, &time, pieces, len, batches, position, mark)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => Err(self.undo_append(&log, &index, &time, position, mark, e)),
        }
    }

    /// The writes of [`Segment::append`]: the batches, then the index entries they add.
    #[allow(clippy::too_many_arguments)]
    async fn write_append(
        &self,
        log: &File,
        index: &File,
        time: &File,
        pieces: Vec<Bytes>,
        len: u64,
        batches: &[WrittenBatch],
        position: u64,
        mark: IndexMark,
    ) -> Result<()> {
        let (r, _pieces) = log.writev_all_at(pieces, position).await;
        r.map_err(|e| Error::io("write", self.log_path(), e))?;
        let (offsets_before, times_before) = (mark.offset_entries(), mark.time_entries());
        let (ib, tb) = {
            let mut st = self.state.borrow_mut();
            for b in batches {
                let rel = u32::try_from(b.base_offset - self.base_offset)
                    .expect("relative offset checked by roll");
                let pos = (position + b.buffer_position) as u32;
                st.indexes.on_batch(rel, pos, b.size_bytes, b.max_timestamp);
            }
            st.size_bytes = position + len;
            let ib: Vec<u8> = st.indexes.offsets[offsets_before..]
                .iter()
                .flat_map(|e| e.encode())
                .collect();
            let tb: Vec<u8> = st.indexes.times[times_before..]
                .iter()
                .flat_map(|e| e.encode())
                .collect();
            (ib, tb)
        };
        if !ib.is_empty() {
            let at = (offsets_before * OFFSET_ENTRY_BYTES) as u64;
            let (r, _) = index.write_all_at(ib, at).await;
            r.map_err(|e| Error::io("write", self.index_path(), e))?;
        }
        if !tb.is_empty() {
            let at = (times_before * TIME_ENTRY_BYTES) as u64;
            let (r, _) = time.write_all_at(tb, at).await;
            r.map_err(|e| Error::io("write", self.time_path(), e))?;
        }
        Ok(())
    }

    /// After a failed append write: if the file system is full, cut the three files back to
    /// where the append began and rewind the in-memory state, so nothing of the append remains
    /// and the same write can succeed once space is freed ([`Error::DiskFull`]). Shrinking a
    /// file needs no space. Any other failure (or a failed cut) is returned as it was: the log
    /// poisons itself, since the files may no longer match what it knows.
    fn undo_append(
        &self,
        log: &File,
        index: &File,
        time: &File,
        position: u64,
        mark: IndexMark,
        err: Error,
    ) -> Error {
        let Error::Io { op, path, source } = err else {
            return err;
        };
        if !Error::is_no_space(&source) {
            return Error::Io { op, path, source };
        }
        let cut = log
            .set_len(position)
            .map_err(|e| Error::io("truncate", self.log_path(), e))
            .and_then(|()| {
                index
                    .set_len((mark.offset_entries() * OFFSET_ENTRY_BYTES) as u64)
                    .map_err(|e| Error::io("truncate", self.index_path(), e))
            })
            .and_then(|()| {
                time.set_len((mark.time_entries() * TIME_ENTRY_BYTES) as u64)
                    .map_err(|e| Error::io("truncate", self.time_path(), e))
            });
        if let Err(e) = cut {
            tracing::error!("undoing an append that found the disk full: {e}");
            return Error::Io { op, path, source };
        }
        let mut st = self.state.borrow_mut();
        st.size_bytes = position;
        st.indexes.rewind(mark);
        Error::DiskFull { op, path, source }
    }

    /// Sets `next_offset` after an append (kept separate so the caller decides visibility).
    pub fn set_next_offset(&self, next: i64) {
        self.state.borrow_mut().next_offset = next;
    }

    /// Seals the segment: closes the time index and fsyncs all three files. The index files are
    /// then released (reads of a sealed segment use the in-memory indexes and the `.log`).
    pub async fn seal(&self) -> Result<()> {
        // Every file first (see `append`): after this only a write or fsync can fail.
        let _permit = self.files.write_permit().await;
        let log = self.log_file()?;
        let (index, time) = self.index_files()?;
        let (entry, count) = {
            let mut st = self.state.borrow_mut();
            let e = st.indexes.seal();
            (e, st.indexes.times.len())
        };
        if let Some(e) = entry {
            let at = ((count - 1) * TIME_ENTRY_BYTES) as u64;
            let (r, _) = time.write_all_at(e.encode().to_vec(), at).await;
            if let Err(source) = r {
                if !Error::is_no_space(&source) {
                    return Err(Error::io("write", self.time_path(), source));
                }
                // Full disk: forget the closing entry (the next roll adds it again) and cut
                // whatever part of it reached the file.
                self.state.borrow_mut().indexes.times.pop();
                if let Err(e) = time.set_len(at) {
                    return Err(Error::io("truncate", self.time_path(), e));
                }
                return Err(Error::DiskFull {
                    op: "write",
                    path: self.time_path().to_path_buf(),
                    source,
                });
            }
        }
        sync_files(self, &log, &index, &time).await?;
        self.state.borrow_mut().sealed = true;
        self.release_index_files();
        Ok(())
    }

    /// fdatasync of the log and both index files (a file the cache had closed is opened again:
    /// fdatasync on any descriptor flushes the inode's dirty pages).
    pub async fn sync_all(&self) -> Result<()> {
        let _permit = self.files.write_permit().await;
        let log = self.log_file()?;
        let (index, time) = self.index_files()?;
        sync_files(self, &log, &index, &time).await
    }

    /// Reads and structurally checks the header of the batch at `position`.
    pub async fn header_at(&self, position: u64) -> Result<BatchHeader> {
        let log = self.log_file()?;
        let (r, buf) = log.read_exact_at(vec![0u8; HEADER_BYTES], position).await;
        r.map_err(|e| Error::io("read", self.log_path(), e))?;
        BatchHeader::parse_stored(&buf).map_err(|e| Error::CorruptSegment {
            path: self.log_path().to_path_buf(),
            position,
            reason: e.to_string(),
        })
    }

    /// Finds the first batch whose last offset is `>= offset`, scanning from the nearest index
    /// entry, not past `end_position`. Returns its position and header.
    pub async fn find_batch(
        &self,
        offset: i64,
        end_position: u64,
    ) -> Result<Option<(u64, BatchHeader)>> {
        self.find_batch_with(&mut HeaderScan::new(self), offset, end_position)
            .await
    }

    /// [`Segment::find_batch`] through `scan`, whose window the caller goes on reading from.
    pub async fn find_batch_with(
        &self,
        scan: &mut HeaderScan<'_>,
        offset: i64,
        end_position: u64,
    ) -> Result<Option<(u64, BatchHeader)>> {
        let start = {
            let st = self.state.borrow();
            let rel = self
                .relative(offset.max(self.base_offset))
                .unwrap_or(u32::MAX);
            st.indexes
                .lookup_offset(rel)
                .map_or(0, |e| u64::from(e.position))
        };
        debug_assert!(
            start == 0 || start < self.size_bytes(),
            "index of segment {} points at {start}, past its {} bytes",
            self.log_path().display(),
            self.size_bytes()
        );
        let mut pos = start;
        while pos < end_position {
            let h = scan.header_at(pos, end_position).await?;
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size_bytes();
        }
        Ok(None)
    }

    /// Deletes the segment's files and stops holding them open (a reader that holds the `.log`
    /// keeps reading it until it drops it).
    pub fn delete_files(&self) -> Result<()> {
        self.deleted.set(true);
        self.release_files();
        let compacted = self.compacted_path();
        for p in [
            self.log_path(),
            self.index_path(),
            self.time_path(),
            compacted.as_path(),
        ] {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("unlink", p, e)),
            }
        }
        Ok(())
    }
}

/// Batches smaller than this are read a window at a time ([`HeaderScan`]).
pub const SMALL_BATCH_BYTES: u64 = 4 * 1024;
/// The window [`HeaderScan`] reads while batches are small: headers of up to ~500 batches of
/// 61 bytes, or of 8 batches of 4 KiB, in one read.
pub const HEADER_WINDOW_BYTES: usize = 32 * 1024;

/// Reads the batch headers of one segment front to back. While batches are small it reads a
/// window of the file at a time and parses every header inside it (one read for many batches);
/// once a batch is large it reads just the next header (a window would mostly copy record bytes
/// nobody looks at). One reused buffer. The `.log` is taken once, at the first read, and held
/// for the scan: a scan that started keeps reading the same file even if the cleaner replaces
/// the segment meanwhile (the segment's in-memory state describes that file).
pub struct HeaderScan<'a> {
    seg: &'a Segment,
    file: Option<Rc<File>>,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_at: u64,
    /// The last batch read was small: read a window next time.
    small: bool,
    reads: u64,
}

impl<'a> HeaderScan<'a> {
    /// A scan of `seg` that has read nothing yet.
    pub fn new(seg: &'a Segment) -> HeaderScan<'a> {
        HeaderScan {
            seg,
            file: None,
            buf: Vec::new(),
            buf_at: 0,
            small: true,
            reads: 0,
        }
    }

    /// Reads from the file this scan made so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The structurally checked header of the batch at `position`; the segment's bytes end at
    /// `end_position` (nothing at or past it is read).
    pub async fn header_at(&mut self, position: u64, end_position: u64) -> Result<BatchHeader> {
        let header = HEADER_BYTES as u64;
        let buffered =
            position >= self.buf_at && position + header <= self.buf_at + self.buf.len() as u64;
        if !buffered {
            let want = if self.small {
                HEADER_WINDOW_BYTES as u64
            } else {
                header
            };
            let len = want.min(end_position.saturating_sub(position)).max(header) as usize;
            let log = match &self.file {
                Some(f) => f.clone(),
                None => {
                    let f = self.seg.log_file()?;
                    self.file = Some(f.clone());
                    f
                }
            };
            let mut buf = std::mem::take(&mut self.buf);
            buf.resize(len, 0);
            let (r, buf) = log.read_exact_at(buf, position).await;
            self.buf = buf;
            self.reads += 1;
            if let Err(e) = r {
                self.buf.clear();
                return Err(Error::io("read", self.seg.log_path(), e));
            }
            self.buf_at = position;
        }
        let at = (position - self.buf_at) as usize;
        let h = BatchHeader::parse_stored(&self.buf[at..at + HEADER_BYTES]).map_err(|e| {
            Error::CorruptSegment {
                path: self.seg.log_path().to_path_buf(),
                position,
                reason: e.to_string(),
            }
        })?;
        self.small = h.size_bytes() < SMALL_BATCH_BYTES;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::testing::build_batch;
    use super::super::batch::{stamp, BatchHeader};
    use super::super::index::decode_offset_index;
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::runtime::block_on(
            &crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Uring),
            f,
        )
        .expect("runtime")
    }
    use super::*;

    fn batch_at(base: i64, n: usize) -> Vec<u8> {
        let values: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 20]).collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        let mut b = build_batch(base * 10, &refs);
        stamp(&mut b, base, 0);
        b
    }

    /// Appends one batch of `n` records at `next` as the log would; returns the next offset.
    async fn append_one(seg: &Segment, next: i64, n: usize) -> i64 {
        let b = batch_at(next, n);
        let h = BatchHeader::parse(&b).expect("header");
        let w = WrittenBatch {
            base_offset: next,
            buffer_position: 0,
            size_bytes: b.len() as u64,
            max_timestamp: h.max_timestamp,
        };
        seg.append(vec![b.into()], &[w]).await.expect("append");
        let next = next + h.offset_count();
        seg.set_next_offset(next);
        next
    }

    /// The header scan parses many small batches per read and reads one header at a time
    /// between large batches, and gives exactly the headers one read per batch gives.
    #[test]
    fn header_scan_reads_small_batches_in_windows_and_large_ones_one_by_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = FileCache::new(8);
        let seg = Segment::create(dir.path(), 0, 1 << 20, &files).expect("create");
        block_on(async {
            let mut next = 0;
            // 300 small batches (~90-120 bytes), then 20 large ones (~8 KiB), then small again.
            let sizes: Vec<usize> = (0..300)
                .map(|k| 1 + k % 2)
                .chain(std::iter::repeat_n(300, 20))
                .chain((0..100).map(|k| 1 + k % 3))
                .collect();
            for &n in &sizes {
                next = append_one(&seg, next, n).await;
            }
            let end = seg.size_bytes();
            let mut scan = HeaderScan::new(&seg);
            let (mut pos, mut batches) = (0u64, 0usize);
            while pos < end {
                let h = scan.header_at(pos, end).await.expect("scan");
                assert_eq!(h, seg.header_at(pos).await.expect("one read"), "at {pos}");
                pos += h.size_bytes();
                batches += 1;
            }
            assert_eq!((pos, batches), (end, sizes.len()));
            let small_bytes: u64 = 400 * 130;
            let windows = small_bytes / HEADER_WINDOW_BYTES as u64 + 4;
            // One read per large batch, a few windows for all the small ones.
            assert!(
                scan.reads() <= 20 + windows,
                "{} reads for {} batches",
                scan.reads(),
                sizes.len()
            );
            // A scan that stops early never reads past its end (a window is cut there).
            let third = {
                let mut s = HeaderScan::new(&seg);
                let h0 = s.header_at(0, end).await.expect("first");
                let h1 = s.header_at(h0.size_bytes(), end).await.expect("second");
                h0.size_bytes() + h1.size_bytes()
            };
            let mut short = HeaderScan::new(&seg);
            short
                .header_at(0, third)
                .await
                .expect("window cut at the end");
            assert_eq!(short.buf.len() as u64, third);
        });
    }

    #[test]
    fn append_indexes_mirrors_files_and_finds_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = FileCache::new(8);
        let seg = Segment::create(dir.path(), 100, 64, &files).expect("create");
        assert!(
            Segment::create(dir.path(), 100, 64, &files).is_err(),
            "never overwrite a segment"
        );
        block_on(async {
            let mut next = 100;
            for k in 0..8 {
                next = append_one(&seg, next, 1 + k % 2).await;
            }
            let size = seg.size_bytes();
            let (ib, _) = seg.read_index_files().await.expect("index files");
            let on_disk = decode_offset_index(&ib, size).expect("valid index");
            assert!(!on_disk.is_empty());
            assert_eq!(on_disk, seg.state.borrow().indexes.offsets);
            for o in 100..next {
                let (pos, h) = seg.find_batch(o, size).await.expect("scan").expect("found");
                assert!(h.base_offset <= o && o <= h.last_offset());
                assert_eq!(seg.header_at(pos).await.expect("header"), h);
            }
            assert!(seg.find_batch(next, size).await.expect("scan").is_none());
            seg.seal().await.expect("seal");
            assert!(seg.state.borrow().sealed);
            assert_eq!(
                files.held(),
                1,
                "a sealed segment keeps at most its .log open"
            );
            assert_eq!(
                seg.state.borrow().indexes.times.last().map(|t| t.timestamp),
                Some(seg.max_timestamp())
            );
        });
        seg.delete_files().expect("delete");
        assert!(seg.is_deleted() && files.held() == 0);
        assert!(!seg.log_path().exists() && !seg.index_path().exists());
        assert!(!seg.time_path().exists());
    }

    /// With a budget of one file, every append and read evicts another of the segment's files;
    /// all of it still works and ends with the same bytes on disk.
    #[test]
    fn appends_and_reads_through_a_one_file_budget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = FileCache::new(1);
        let seg = Segment::create(dir.path(), 0, 64, &files).expect("create");
        let opened = Segment::open(dir.path(), 0, &files);
        assert_eq!(files.held(), 1, "create holds at most the budget");
        block_on(async {
            let mut next = 0;
            for k in 0..6 {
                next = append_one(&seg, next, 1 + k % 3).await;
                // Another handle on the same files evicts this one's between appends.
                assert!(opened.log_file_len().expect("len") > 0);
                assert_eq!(files.held(), 1);
            }
            let size = seg.size_bytes();
            for o in 0..next {
                let (_, h) = seg.find_batch(o, size).await.expect("scan").expect("found");
                assert!(h.base_offset <= o && o <= h.last_offset());
            }
            let (ib, _) = seg.read_index_files().await.expect("index files");
            assert_eq!(
                decode_offset_index(&ib, size).expect("valid index"),
                seg.state.borrow().indexes.offsets
            );
            seg.seal().await.expect("seal");
        });
        assert!(files.stats().evictions > 6, "{:?}", files.stats());
        assert!(files.held() <= 1);
    }

    #[test]
    #[should_panic(expected = "its next offset is 100")]
    fn append_that_skips_offsets_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = Segment::create(dir.path(), 100, 64, &FileCache::new(3)).expect("create");
        let b = batch_at(105, 1);
        let w = WrittenBatch {
            base_offset: 105,
            buffer_position: 0,
            size_bytes: b.len() as u64,
            max_timestamp: 0,
        };
        block_on(seg.append(vec![b.into()], &[w])).expect("append");
    }
}
