//! Open segment files within a budget: a least-recently-used cache of file descriptors, one per
//! engine (shard).
//!
//! A segment does not hold its files open. It names each of them with a [`CachedFile`] (a path
//! and a slab key); an operation asks the engine's [`FileCache`] for the file and gets an
//! `Rc<File>`. On a hit the file becomes the most recently used; on a miss the cache opens it
//! (read-write), first closing the least recently used file if the budget is
//! spent. So a broker with ten thousand partitions holds at most `budget` segment files open per
//! shard, whatever the number of segments, and a partition nobody reads or writes costs no
//! descriptor at all.
//!
//! ```text
//!   slots (slab, at most `budget` long)         CachedFile { path, key: (index, generation) }
//!   +-------+-------+-------+-------+             key valid <=> slots[index].generation matches
//!   | gen 3 | gen 0 | free  | gen 7 |           newest <-> ... <-> oldest   (doubly linked list
//!   | file  | file  |       | file  |                                          through the slots)
//!   +-------+-------+-------+-------+
//! ```
//!
//! Users hold the `Rc<File>` only for the operation (a read, a write, a fetch's transfer). An
//! evicted file that is still in use stays open until its last user drops it: the cache only drops
//! its own reference, and the budget counts what the cache holds. A later use of an evicted file
//! opens it again, transparently.
//!
//! Opening a file can fail because the process is out of descriptors (`EMFILE`, or `ENFILE` for
//! the whole system). The cache then closes a few of its least recently used files that nobody
//! uses ([`EVICTIONS_ON_EXHAUSTION`]) and retries once; if that fails too the caller gets
//! [`Error::OpenFilesExhausted`], a typed error that says to retry later. It never poisons a
//! log: nothing was written.
//!
//! Files in use by writes are bounded too: the operations of the write path that hold files
//! across an await (an append's writes, a seal, a flush, an index rewrite, a directory sync) take
//! one of a few write permits first ([`FileCache::write_permit`]). Each holds at most three
//! files (and, on epoll, the duplicate its fdatasync runs on), so the write path adds at most
//! about the budget again, however many partitions a Produce names. In-flight reads (a fetch's
//! file slices) hold one file per segment they read from until the response is sent.
//!
//! Closing a file with data not yet fdatasynced is safe: `fdatasync` on a later descriptor of the
//! same inode flushes it, and since Linux 4.16 ("errseq: Always report a writeback error once") a
//! writeback error nobody has seen yet is reported to the next opener's fsync.
//!
//! # Invariants
//! - The cache holds at most `budget` files (`held <= budget` after every call), and `held` is
//!   the number of occupied slots, which is the length of the recency list.
//! - At most `write_permits` write-path operations hold files at once; none of them waits for
//!   another permit while it holds one (no nesting, so no deadlock).
//! - A [`CachedFile`]'s key is valid only while its slot's generation matches; a stale key is a
//!   miss, never another file.
//! - The cache never creates a `.log` on a miss: only [`FileCache::create`] does (a new
//!   segment). A missing index file is created empty ([`CachedFile::created_if_missing`]).
//! - Single-threaded (`!Send`): one cache per engine, shared by that engine's logs as
//!   `Rc<FileCache>`.

use std::cell::{Cell, RefCell};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::error::{Error, Result};
use super::rt::fs::File;
use super::rt::sync::Notify;

/// Least recently used files the cache closes when an open fails with `EMFILE`/`ENFILE`, before
/// its one retry. One would do for this open; a few more leave room for the next opens of this
/// shard while other threads of the process compete for the same freed descriptors.
pub const EVICTIONS_ON_EXHAUSTION: usize = 4;

/// errno "too many open files" (this process), from Linux's `asm-generic/errno-base.h`, the same
/// on every architecture (the engine does not link libc for two numbers).
const EMFILE: i32 = 24;
/// errno "too many open files in system" (see [`EMFILE`]).
const ENFILE: i32 = 23;

/// Most write-path operations of one engine that hold files across an await at once (see the
/// module docs); the engine uses a quarter of its budget, between 1 and this. 16 fdatasyncs in
/// parallel keep a device's queue busy; more buy little on one disk and cost descriptors.
pub const WRITES_IN_FLIGHT_MAX: usize = 16;

/// End of the recency list.
const NIL: u32 = u32::MAX;

/// A slot of the cache: index into the slab and the generation it had when filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlotKey {
    index: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot {
    /// `None`: the slot is free (on the free list).
    file: Option<Rc<File>>,
    /// Bumped whenever the slot is emptied, so old keys miss.
    generation: u32,
    /// Toward the newest end of the recency list.
    newer: u32,
    /// Toward the oldest end.
    older: u32,
}

/// The slab and the recency list (no I/O here; the cache opens files).
#[derive(Debug)]
struct Lru {
    slots: Vec<Slot>,
    free: Vec<u32>,
    newest: u32,
    oldest: u32,
    held: usize,
}

impl Lru {
    fn new() -> Lru {
        Lru {
            slots: Vec::new(),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
            held: 0,
        }
    }

    fn valid(&self, key: SlotKey) -> bool {
        self.slots
            .get(key.index as usize)
            .is_some_and(|s| s.generation == key.generation && s.file.is_some())
    }

    fn unlink(&mut self, i: u32) {
        let (newer, older) = {
            let s = &self.slots[i as usize];
            (s.newer, s.older)
        };
        match newer {
            NIL => self.newest = older,
            n => self.slots[n as usize].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o as usize].newer = newer,
        }
    }

    fn push_newest(&mut self, i: u32) {
        let old_newest = self.newest;
        {
            let s = &mut self.slots[i as usize];
            s.newer = NIL;
            s.older = old_newest;
        }
        match old_newest {
            NIL => self.oldest = i,
            n => self.slots[n as usize].newer = i,
        }
        self.newest = i;
    }

    /// The file of `key`, made the most recently used; `None` if the key is stale.
    fn get(&mut self, key: SlotKey) -> Option<Rc<File>> {
        if !self.valid(key) {
            return None;
        }
        if self.newest != key.index {
            self.unlink(key.index);
            self.push_newest(key.index);
        }
        self.slots[key.index as usize].file.clone()
    }

    /// Fills a free slot (the caller made room) as the most recently used.
    fn insert(&mut self, file: Rc<File>) -> SlotKey {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).expect("budget fits in u32");
                self.slots.push(Slot {
                    file: None,
                    generation: 0,
                    newer: NIL,
                    older: NIL,
                });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        debug_assert!(slot.file.is_none(), "insert into an occupied slot {index}");
        slot.file = Some(file);
        let key = SlotKey {
            index,
            generation: slot.generation,
        };
        self.push_newest(index);
        self.held += 1;
        key
    }

    /// Empties slot `index` (it must be occupied); returns its file for the caller to drop.
    fn take(&mut self, index: u32) -> Rc<File> {
        self.unlink(index);
        let slot = &mut self.slots[index as usize];
        let file = slot.file.take().expect("take from an occupied slot");
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.held -= 1;
        file
    }

    /// Empties the slot of `key` if the key is still valid.
    fn remove(&mut self, key: SlotKey) -> Option<Rc<File>> {
        self.valid(key).then(|| self.take(key.index))
    }

    /// Empties the least recently used slot, if any.
    fn evict_oldest(&mut self) -> Option<Rc<File>> {
        (self.oldest != NIL).then(|| self.take(self.oldest))
    }

    /// Empties the least recently used slot whose file nobody else holds (closing it frees a
    /// descriptor), if any.
    fn evict_oldest_unused(&mut self) -> Option<Rc<File>> {
        let mut i = self.oldest;
        while i != NIL {
            let slot = &self.slots[i as usize];
            if slot.file.as_ref().is_some_and(|f| Rc::strong_count(f) == 1) {
                return Some(self.take(i));
            }
            i = slot.newer;
        }
        None
    }

    /// The structural invariants (tests and debug builds): list length equals `held`, occupied
    /// slots are exactly the listed ones, and `held <= budget`.
    fn check(&self, budget: usize) {
        let mut n = 0;
        let mut i = self.newest;
        let mut newer = NIL;
        while i != NIL {
            let s = &self.slots[i as usize];
            assert!(s.file.is_some(), "free slot {i} on the recency list");
            assert_eq!(s.newer, newer, "recency list broken at slot {i}");
            newer = i;
            i = s.older;
            n += 1;
            assert!(n <= self.slots.len(), "recency list has a cycle");
        }
        assert_eq!(newer, self.oldest, "recency list ends at the wrong slot");
        assert_eq!(n, self.held, "recency list length differs from held files");
        assert_eq!(self.held + self.free.len(), self.slots.len());
        assert!(
            self.held <= budget,
            "{} files held over a budget of {budget}",
            self.held
        );
    }
}

/// Counters of a [`FileCache`], for tests and for the operator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileCacheStats {
    /// Files opened (misses and creations).
    pub opens: u64,
    /// Uses served by an open file.
    pub hits: u64,
    /// Files closed to stay within the budget or after `EMFILE`/`ENFILE`.
    pub evictions: u64,
    /// Opens that failed with `EMFILE`/`ENFILE` (each retried once after evicting).
    pub exhausted: u64,
}

/// A file a segment may use: its path and, while the cache holds it open, its slot.
#[derive(Debug)]
pub struct CachedFile {
    path: PathBuf,
    key: Cell<Option<SlotKey>>,
    /// Opening a missing file creates it empty (an index: rebuilt from its `.log`).
    create_if_missing: bool,
}

impl CachedFile {
    /// A file at `path`, not open; a use fails if it is missing (a segment's `.log`).
    pub fn new(path: PathBuf) -> CachedFile {
        CachedFile {
            path,
            key: Cell::new(None),
            create_if_missing: false,
        }
    }

    /// A file at `path`, not open, created empty by the first use that finds it missing (a
    /// segment's index files: recovery rebuilds a missing or empty index from the `.log`).
    pub fn created_if_missing(path: PathBuf) -> CachedFile {
        CachedFile {
            create_if_missing: true,
            ..CachedFile::new(path)
        }
    }

    /// Where the file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache")
            .field("budget", &self.budget)
            .field("held", &self.held())
            .field("write_permits_free", &self.write_permits_free.get())
            .field("stats", &self.stats.get())
            .finish()
    }
}

/// A write permit of a [`FileCache`], returned when dropped.
#[derive(Debug)]
pub struct WritePermit<'a>(&'a FileCache);

impl Drop for WritePermit<'_> {
    fn drop(&mut self) {
        let free = self.0.write_permits_free.get() + 1;
        debug_assert!(free <= FileCache::write_permits_for(self.0.budget));
        self.0.write_permits_free.set(free);
        self.0.write_permit_returned.notify_waiters();
    }
}

/// How [`FileCache::create`] makes a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// The file must not exist yet (a new segment's `.log`: never overwrite data).
    New,
    /// Create it, or empty it if it exists (a new segment's index files).
    Truncate,
}

/// The open files of one engine, at most `budget` at once. Single-threaded (`!Send`).
pub struct FileCache {
    budget: usize,
    lru: RefCell<Lru>,
    stats: Cell<FileCacheStats>,
    /// Write permits not taken.
    write_permits_free: Cell<usize>,
    /// A write permit was returned.
    write_permit_returned: Notify,
    /// Tests: after skipping `.0` opens, the next `.1` opens fail with `EMFILE` before reaching
    /// the kernel.
    #[cfg(test)]
    fail_opens: Cell<(u32, u32)>,
}

impl FileCache {
    /// A cache that keeps at most `budget` files open (`budget >= 1`).
    pub fn new(budget: usize) -> Rc<FileCache> {
        assert!(
            budget >= 1,
            "a file cache needs a budget of at least one file"
        );
        assert!(budget < NIL as usize, "file budget {budget} too large");
        Rc::new(FileCache {
            budget,
            lru: RefCell::new(Lru::new()),
            stats: Cell::new(FileCacheStats::default()),
            write_permits_free: Cell::new(Self::write_permits_for(budget)),
            write_permit_returned: Notify::new(),
            #[cfg(test)]
            fail_opens: Cell::new((0, 0)),
        })
    }

    /// Most files held open at once.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Write permits of a cache with `budget` files: a quarter of it, within
    /// `1..=`[`WRITES_IN_FLIGHT_MAX`].
    pub fn write_permits_for(budget: usize) -> usize {
        (budget / 4).clamp(1, WRITES_IN_FLIGHT_MAX)
    }

    /// Waits for one of the write permits (see the module docs); it is returned when dropped.
    /// The holder must not wait for another permit.
    pub async fn write_permit(&self) -> WritePermit<'_> {
        loop {
            // Registered before the check: a permit returned in between wakes this waiter.
            let returned = self.write_permit_returned.notified();
            let free = self.write_permits_free.get();
            if free > 0 {
                self.write_permits_free.set(free - 1);
                return WritePermit(self);
            }
            returned.await;
        }
    }

    /// Files held open now (not counting evicted files still in use).
    pub fn held(&self) -> usize {
        self.lru.borrow().held
    }

    /// Counters since the cache was made.
    pub fn stats(&self) -> FileCacheStats {
        self.stats.get()
    }

    fn count(&self, f: impl FnOnce(&mut FileCacheStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// True while the cache holds `file` open.
    pub fn is_open(&self, file: &CachedFile) -> bool {
        file.key.get().is_some_and(|k| self.lru.borrow().valid(k))
    }

    /// The open file, opening it (read-write, not creating it) if the cache does not hold it.
    pub fn get(&self, file: &CachedFile) -> Result<Rc<File>> {
        if let Some(key) = file.key.get() {
            if let Some(f) = self.lru.borrow_mut().get(key) {
                self.count(|s| s.hits += 1);
                return Ok(f);
            }
            file.key.set(None);
        }
        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(true)
            .create(file.create_if_missing);
        let opened = self.open(&file.path, &options)?;
        Ok(self.insert(file, opened))
    }

    /// Creates the file (see [`Create`]) and holds it open.
    pub fn create(&self, file: &CachedFile, how: Create) -> Result<Rc<File>> {
        self.release(file);
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        match how {
            Create::New => options.create_new(true),
            Create::Truncate => options.create(true).truncate(true),
        };
        let opened = self.open(&file.path, &options)?;
        Ok(self.insert(file, opened))
    }

    /// fsyncs directory `dir` so entries created, renamed or removed in it are durable. The
    /// directory is opened for the call only, with the same retry after `EMFILE`/`ENFILE` as a
    /// segment file.
    pub async fn sync_dir(&self, dir: &Path) -> Result<()> {
        let _permit = self.write_permit().await;
        let mut options = OpenOptions::new();
        options.read(true);
        let opened = File::from_std(self.open(dir, &options)?);
        opened
            .fsync()
            .await
            .map_err(|e| Error::io("fsync dir", dir, e))
    }

    /// Stops holding `file` open (it closes once no user holds it). No-op if not held.
    pub fn release(&self, file: &CachedFile) {
        if let Some(key) = file.key.take() {
            let dropped = self.lru.borrow_mut().remove(key);
            drop(dropped);
        }
    }

    /// Makes room (evicting the least recently used file when the budget is spent) and holds
    /// `opened` as the most recently used file.
    fn insert(&self, file: &CachedFile, opened: std::fs::File) -> Rc<File> {
        let opened = Rc::new(File::from_std(opened));
        let evicted = {
            let mut lru = self.lru.borrow_mut();
            let evicted = if lru.held >= self.budget {
                lru.evict_oldest()
            } else {
                None
            };
            let key = lru.insert(opened.clone());
            file.key.set(Some(key));
            if cfg!(debug_assertions) {
                lru.check(self.budget);
            }
            evicted
        };
        if evicted.is_some() {
            self.count(|s| s.evictions += 1);
        }
        self.count(|s| s.opens += 1);
        opened
    }

    /// `open(2)` with one retry after `EMFILE`/`ENFILE`, having closed up to
    /// [`EVICTIONS_ON_EXHAUSTION`] unused files.
    fn open(&self, path: &Path, options: &OpenOptions) -> Result<std::fs::File> {
        let first = self.open_once(path, options);
        match first {
            Err(e) if is_exhaustion(&e) => {
                self.count(|s| s.exhausted += 1);
                let evicted: Vec<Rc<File>> = {
                    let mut lru = self.lru.borrow_mut();
                    (0..EVICTIONS_ON_EXHAUSTION)
                        .map_while(|_| lru.evict_oldest_unused())
                        .collect()
                };
                let closed = evicted.len();
                self.count(|s| s.evictions += closed as u64);
                drop(evicted);
                self.open_once(path, options).map_err(|source| {
                    if is_exhaustion(&source) {
                        Error::OpenFilesExhausted {
                            path: path.to_path_buf(),
                            held: self.held(),
                            source,
                        }
                    } else {
                        Error::io("open", path, source)
                    }
                })
            }
            Err(e) => Err(Error::io("open", path, e)),
            Ok(f) => Ok(f),
        }
    }

    fn open_once(&self, path: &Path, options: &OpenOptions) -> std::io::Result<std::fs::File> {
        #[cfg(test)]
        match self.fail_opens.get() {
            (0, 0) => {}
            (0, fail) => {
                self.fail_opens.set((0, fail - 1));
                return Err(std::io::Error::from_raw_os_error(EMFILE));
            }
            (skip, fail) => self.fail_opens.set((skip - 1, fail)),
        }
        options.open(path)
    }

    /// Tests: after `skip` more opens, the next `n` fail with `EMFILE` (as if the process were
    /// out of descriptors); `(0, 0)` clears it.
    #[cfg(test)]
    pub(crate) fn fail_opens(&self, skip: u32, n: u32) {
        self.fail_opens.set((skip, n));
    }
}

/// True for the errors that mean "out of file descriptors" (per process or system-wide).
pub fn is_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(EMFILE) | Some(ENFILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, n: usize) -> Vec<CachedFile> {
        (0..n)
            .map(|i| {
                let path = dir.join(format!("f{i}"));
                std::fs::write(&path, format!("file {i}")).expect("write");
                CachedFile::new(path)
            })
            .collect()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::runtime::block_on(
            &crate::runtime::RuntimeConfig::single(crate::runtime::IoKind::Uring),
            f,
        )
        .expect("runtime")
    }

    async fn contents(f: &File) -> String {
        let len = f.len().expect("len") as usize;
        let (r, b) = f.read_exact_at(vec![0u8; len], 0).await;
        r.expect("read");
        String::from_utf8(b).expect("utf8")
    }

    #[test]
    fn errno_numbers_are_the_kernel_ones() {
        assert_eq!((EMFILE, ENFILE), (libc::EMFILE, libc::ENFILE));
    }

    #[test]
    fn budget_is_respected_and_the_least_recently_used_file_goes_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FileCache::new(3);
        let fs = files(dir.path(), 5);
        for f in &fs[..3] {
            cache.get(f).expect("open");
        }
        assert_eq!(cache.held(), 3);
        // f0 becomes the most recently used, so f1 is the one evicted for f3.
        cache.get(&fs[0]).expect("hit");
        cache.get(&fs[3]).expect("open");
        assert_eq!(cache.held(), 3);
        assert!(cache.is_open(&fs[0]) && !cache.is_open(&fs[1]));
        assert!(cache.is_open(&fs[2]) && cache.is_open(&fs[3]));
        cache.get(&fs[4]).expect("open");
        assert!(!cache.is_open(&fs[2]), "f2 was the least recently used");
        let s = cache.stats();
        assert_eq!((s.opens, s.hits, s.evictions), (5, 1, 2));
        cache.lru.borrow().check(3);
        cache.release(&fs[4]);
        assert_eq!(cache.held(), 2);
        cache.lru.borrow().check(3);
    }

    #[test]
    fn an_evicted_file_is_reopened_transparently() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FileCache::new(1);
        let fs = files(dir.path(), 2);
        block_on(async {
            for round in 0..3 {
                for (i, f) in fs.iter().enumerate() {
                    let file = cache.get(f).expect("open");
                    assert_eq!(contents(&file).await, format!("file {i}"), "round {round}");
                }
            }
        });
        assert_eq!(cache.held(), 1);
        assert_eq!(
            cache.stats().opens,
            6,
            "every use after an eviction reopens"
        );
    }

    #[test]
    fn an_evicted_file_in_use_stays_open_until_its_user_drops_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FileCache::new(1);
        let fs = files(dir.path(), 2);
        let in_flight = cache.get(&fs[0]).expect("open");
        cache.get(&fs[1]).expect("open evicts f0 from the cache");
        assert!(!cache.is_open(&fs[0]));
        assert_eq!(cache.held(), 1, "the budget counts what the cache holds");
        assert_eq!(
            Rc::strong_count(&in_flight),
            1,
            "only the reader holds f0 now"
        );
        // The reader's descriptor still reads the same file, even once it is unlinked.
        std::fs::remove_file(fs[0].path()).expect("unlink");
        block_on(async { assert_eq!(contents(&in_flight).await, "file 0") });
        assert!(
            matches!(cache.get(&fs[0]), Err(Error::Io { .. })),
            "a new use reopens by path (and finds it gone)"
        );
    }

    #[test]
    fn a_stale_key_misses_after_its_slot_is_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FileCache::new(1);
        let fs = files(dir.path(), 2);
        cache.get(&fs[0]).expect("open");
        let stale = fs[0].key.get().expect("key");
        cache.get(&fs[1]).expect("reuses slot 0");
        assert_eq!(fs[1].key.get().map(|k| k.index), Some(stale.index));
        assert!(!cache.lru.borrow().valid(stale), "generation differs");
        block_on(async {
            let f0 = cache.get(&fs[0]).expect("reopen");
            assert_eq!(contents(&f0).await, "file 0");
        });
    }

    #[test]
    fn exhaustion_evicts_unused_files_and_retries_once_then_fails_typed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FileCache::new(8);
        let fs = files(dir.path(), 8);
        let busy = cache.get(&fs[0]).expect("open");
        for f in &fs[1..6] {
            cache.get(f).expect("open");
        }
        cache.fail_opens(0, 1);
        cache
            .get(&fs[6])
            .expect("the retry after evicting succeeds");
        assert_eq!(cache.stats().exhausted, 1);
        assert!(
            cache.is_open(&fs[0]),
            "a file in use is not evicted for EMFILE"
        );
        assert_eq!(
            cache.held(),
            6 - EVICTIONS_ON_EXHAUSTION + 1,
            "closed {EVICTIONS_ON_EXHAUSTION} unused files"
        );
        cache.fail_opens(0, 2);
        match cache.get(&fs[7]) {
            Err(Error::OpenFilesExhausted { path, .. }) => assert_eq!(path, fs[7].path()),
            other => panic!("expected OpenFilesExhausted, got {other:?}"),
        }
        assert!(!cache.is_open(&fs[7]));
        cache
            .get(&fs[7])
            .expect("works again once descriptors are back");
        drop(busy);
    }

    #[test]
    fn write_permits_are_bounded_and_returned() {
        let cache = FileCache::new(8);
        assert_eq!(FileCache::write_permits_for(8), 2);
        assert_eq!(FileCache::write_permits_for(1), 1);
        assert_eq!(FileCache::write_permits_for(10_000), WRITES_IN_FLIGHT_MAX);
        block_on(async {
            let in_flight = std::rc::Rc::new(Cell::new(0usize));
            let peak = std::rc::Rc::new(Cell::new(0usize));
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let (cache, in_flight, peak) = (cache.clone(), in_flight.clone(), peak.clone());
                    crate::runtime::spawn(async move {
                        let _permit = cache.write_permit().await;
                        in_flight.set(in_flight.get() + 1);
                        peak.set(peak.get().max(in_flight.get()));
                        crate::runtime::yield_now().await;
                        in_flight.set(in_flight.get() - 1);
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            assert_eq!(peak.get(), 2, "two permits for a budget of 8");
        });
        assert_eq!(cache.write_permits_free.get(), 2, "every permit returned");
    }

    #[test]
    fn a_miss_never_creates_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = FileCache::new(2);
        let f = CachedFile::new(dir.path().join("missing"));
        assert!(matches!(cache.get(&f), Err(Error::Io { op: "open", .. })));
        assert!(!f.path().exists());
        cache.create(&f, Create::New).expect("create");
        assert!(cache.create(&f, Create::New).is_err(), "never overwrite");
        assert!(f.path().exists());
    }
}
