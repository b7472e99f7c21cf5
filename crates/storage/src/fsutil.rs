//! Atomic, durable replacement of a small file: the one way ringlog rewrites a whole file
//! (the topic catalog, the producer-id reservation, producer-state snapshots). Committed offsets
//! are not files of their own: they live in a state log ([`crate::state_log`]).
//!
//! Steps: write the new bytes to a temporary sibling `{name}.tmp.{pid}.{counter}` (created
//! exclusively), fdatasync it, rename it over `{name}`, fsync the directory. A reader sees either
//! the old file or the new one, never a mix; once the call returns, the new file survives a
//! crash.
//!
//! Two entry points share the steps: [`replace_atomically`] blocks the calling thread (today
//! only this module's tests call it); [`replace_atomically_on_shard`] runs the write and the
//! syncs on the shard's driver ([`crate::runtime::fs`]), so a shard never blocks on the disk.
//!
//! # Invariants
//! - Every call uses its own temporary name (process id + a process-wide counter), so
//!   overlapping replacements of the same file never write or rename each other's temporary:
//!   the last rename wins and the file is always one complete version.
//! - On any error the temporary file is removed and the target is left as it was (or as the
//!   rename made it, when only the directory fsync failed); the error names the step and path.
//! - A temporary left by a crash carries a dead process id; [`remove_stale_temps`] removes those
//!   and never a temporary of the running process.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::fs::File;

/// Marks a temporary file: `{name}{TEMP_MARKER}{pid}.{counter}`.
const TEMP_MARKER: &str = ".tmp.";

/// Per-process counter that makes temporary names unique across calls and threads.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An I/O error with the step and the path it happened on. Wrapped in the [`io::Error`] the
/// helpers return (same [`io::ErrorKind`]); the original error is its `source()`.
#[derive(Debug)]
pub struct FsError {
    /// The step: "create", "write", "fdatasync", "rename", "fsync dir".
    pub op: &'static str,
    /// The file or directory the step acted on.
    pub path: PathBuf,
    /// The error the system returned.
    pub source: io::Error,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.source)
    }
}

impl std::error::Error for FsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps an `io::Error` with the operation and path it came from (same kind, [`FsError`] inside):
/// `std::fs::remove_file(&p).map_err(fsutil::context("remove", &p))?`.
pub fn context<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |source| {
        io::Error::new(
            source.kind(),
            FsError {
                op,
                path: path.to_path_buf(),
                source,
            },
        )
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh temporary name next to `path`, unique within this process.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        context("create", path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = name.to_os_string();
    tmp.push(format!("{TEMP_MARKER}{}.{n}", std::process::id()));
    Ok(parent_dir(path).join(tmp))
}

fn create_temp(tmp: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(context("create", tmp))
}

/// Removes the temporary after a failed step (best effort: the step's error is the one that
/// matters; a leftover temporary is only a wasted file, see [`remove_stale_temps`]).
fn discard<T>(tmp: &Path, r: io::Result<T>) -> io::Result<T> {
    if r.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    r
}

/// Replaces `path` with `bytes` atomically and durably, blocking the calling thread.
pub fn replace_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = temp_path(path)?;
    let mut f = create_temp(&tmp)?;
    let r = f
        .write_all(bytes)
        .map_err(context("write", &tmp))
        .and_then(|()| f.sync_data().map_err(context("fdatasync", &tmp)))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(context("rename", path)));
    discard(&tmp, r)?;
    fsync_dir(parent_dir(path))
}

/// Replaces `path` with `bytes` atomically and durably; the write and the syncs run on the
/// shard's driver (io_uring ops, or the epoll shard's helper threads).
pub async fn replace_atomically_on_shard(path: &Path, bytes: Vec<u8>) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let f = File::from_std(create_temp(&tmp)?);
    let r = async {
        let (r, _) = f.write_all_at(bytes, 0).await;
        r.map_err(context("write", &tmp))?;
        f.fdatasync().await.map_err(context("fdatasync", &tmp))?;
        std::fs::rename(&tmp, path).map_err(context("rename", path))
    }
    .await;
    discard(&tmp, r)?;
    let dir = parent_dir(path);
    crate::runtime::fs::sync_dir(dir)
        .await
        .map_err(context("fsync dir", dir))
}

/// fsyncs a directory so entries created, renamed or removed in it are durable (blocking; on a
/// shard use [`crate::runtime::fs::sync_dir`]).
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(context("fsync dir", dir))
}

/// Whether `name` is a temporary of this module, and which process made it.
fn temp_owner(name: &str) -> Option<u32> {
    let (_, tail) = name.rsplit_once(TEMP_MARKER)?;
    let (pid, counter) = tail.split_once('.')?;
    counter.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes the temporaries in `dir` that other (dead) processes left behind, e.g. after a crash
/// between create and rename. Temporaries of the running process are in flight and kept.
/// Returns how many were removed.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let me = std::process::id();
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(context("readdir", dir))? {
        let entry = entry.map_err(context("readdir", dir))?;
        let stale = entry
            .file_name()
            .to_str()
            .and_then(temp_owner)
            .is_some_and(|pid| pid != me);
        if stale {
            let p = entry.path();
            match std::fs::remove_file(&p) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(context("remove", &p)(e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        replace_atomically(&path, b"first version").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first version");
        replace_atomically(&path, b"2").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2");
        assert_eq!(names(dir.path()), ["state"]);
    }

    #[test]
    fn on_shard_replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::write(&path, b"old").unwrap();
        let cfg = crate::runtime::RuntimeConfig::default();
        crate::runtime::block_on(&cfg, async {
            replace_atomically_on_shard(&path, b"new contents".to_vec()).await
        })
        .unwrap()
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        assert_eq!(names(dir.path()), ["state"]);
    }

    #[test]
    fn failed_rename_removes_temporary_and_keeps_target() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file: the rename fails after the
        // temporary was written and synced.
        let path = dir.path().join("occupied");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();
        let err = replace_atomically(&path, b"bytes").unwrap_err();
        let ctx = err.get_ref().and_then(|e| e.downcast_ref::<FsError>());
        assert_eq!(ctx.map(|c| c.op), Some("rename"), "{err}");
        assert!(err.to_string().contains("occupied"), "{err}");
        assert_eq!(names(dir.path()), ["occupied"]);
        assert!(path.join("inside").exists());
    }

    #[test]
    fn failed_sync_on_shard_removes_temporary_and_keeps_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::write(&path, b"old").unwrap();
        let cfg = crate::runtime::RuntimeConfig::default();
        let r = crate::runtime::block_on(&cfg, async {
            crate::runtime::fs::fault::fail_next_syncs(1);
            replace_atomically_on_shard(&path, b"new".to_vec()).await
        })
        .unwrap();
        let err = r.unwrap_err();
        assert!(err.to_string().starts_with("fdatasync "), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["state"]);
    }

    #[test]
    fn missing_directory_is_an_error_with_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no_such_dir").join("state");
        let err = replace_atomically(&path, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().starts_with("create "), "{err}");
        assert!(err.to_string().contains("no_such_dir"), "{err}");
    }

    #[test]
    fn concurrent_replacements_leave_one_complete_version() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 20;
        const LEN_BYTES: usize = 64 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("state"));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let path = Arc::clone(&path);
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        replace_atomically(&path, &vec![t as u8; LEN_BYTES]).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let bytes = std::fs::read(&*path).unwrap();
        assert_eq!(bytes.len(), LEN_BYTES);
        assert!(bytes.iter().all(|&b| b == bytes[0]), "a mix of versions");
        assert_eq!(names(dir.path()), ["state"]);
    }

    #[test]
    fn stale_temporaries_of_other_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let dead = if me == 1 { 2 } else { me - 1 };
        for name in [
            format!("state.tmp.{dead}.0"),
            format!("state.tmp.{me}.7"),
            "state".to_string(),
            "state.tmp".to_string(),
            "notes.tmp.x.1".to_string(),
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 1);
        let mut want = vec![
            "notes.tmp.x.1".to_string(),
            "state".to_string(),
            "state.tmp".to_string(),
            format!("state.tmp.{me}.7"),
        ];
        want.sort();
        assert_eq!(names(dir.path()), want);
    }

    #[test]
    fn temporary_names_are_unique_and_recognised() {
        let a = temp_path(Path::new("/d/catalog")).unwrap();
        let b = temp_path(Path::new("/d/catalog")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/d")));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_owner(name), Some(std::process::id()));
        assert_eq!(
            temp_path(Path::new("x")).unwrap().parent(),
            Some(Path::new("."))
        );
        assert!(temp_path(Path::new("/")).is_err());
    }
}
