//! `ringlog bench limits`: the machine's raw limits, measured by the same tool in the same run as
//! the broker workloads, so each goal is a ratio of two numbers from one run.
//!
//! - **Loopback TCP**: one stream over 127.0.0.1, blocking `write` of [`TCP_WRITE_BYTES`] chunks
//!   from one thread, `read` into a buffer of the same size on another; no broker, no protocol.
//! - **Append + fdatasync**: `write` of `write_bytes` at the end of a file, then `fdatasync`,
//!   repeated: one sync per write, the baseline group commit must beat. The file is in the data
//!   directory's filesystem (refused on tmpfs, where fdatasync is free).
//! - **memcpy**: copies of a [`MEMCPY_BYTES`] buffer (larger than the caches), GB/s.
//!
//! # Invariants
//! - Each measurement runs for a bounded time and cleans up its socket and file.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::LoadError;
use crate::JsonObject;

/// One write of the loopback stream: large, so per-syscall cost is amortised.
pub const TCP_WRITE_BYTES: usize = 1024 * 1024;
/// memcpy buffer: larger than any L3 of this class of machine, so it measures memory.
pub const MEMCPY_BYTES: usize = 64 * 1024 * 1024;
/// Default time per measurement.
pub const SECONDS_DEFAULT: f64 = 3.0;

/// The measured limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// One loopback TCP stream, MB/s (10^6 bytes).
    pub loopback_tcp_mb_s: f64,
    /// Bytes per append of the fdatasync loop.
    pub fsync_write_bytes: usize,
    /// Appends + fdatasync per second.
    pub fsync_writes_per_s: f64,
    /// The same in MB/s.
    pub fsync_mb_s: f64,
    /// Directory of the fdatasync file.
    pub fsync_dir: PathBuf,
    /// memcpy GB/s (bytes copied, 10^9).
    pub memcpy_gb_s: f64,
}

impl Limits {
    /// Measure all three, `seconds` each.
    pub fn measure(dir: &Path, write_bytes: usize, seconds: f64) -> Result<Limits, LoadError> {
        let d = Duration::from_secs_f64(seconds);
        let loopback_tcp_mb_s = loopback_tcp(d)?;
        let fsync_writes_per_s = append_fdatasync(dir, write_bytes, d)?;
        let memcpy_gb_s = memcpy(d);
        Ok(Limits {
            loopback_tcp_mb_s,
            fsync_write_bytes: write_bytes,
            fsync_writes_per_s,
            fsync_mb_s: fsync_writes_per_s * write_bytes as f64 / 1e6,
            fsync_dir: dir.to_path_buf(),
            memcpy_gb_s,
        })
    }

    /// As a JSON object.
    pub fn to_json(&self) -> String {
        JsonObject::new()
            .num("loopback_tcp_mb_s", self.loopback_tcp_mb_s)
            .num("fsync_write_bytes", self.fsync_write_bytes as f64)
            .num("fsync_writes_per_s", self.fsync_writes_per_s)
            .num("fsync_mb_s", self.fsync_mb_s)
            .str("fsync_dir", &self.fsync_dir.display().to_string())
            .num("memcpy_gb_s", self.memcpy_gb_s)
            .finish()
    }
}

impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "loopback TCP, 1 stream, {} KiB writes: {:.0} MB/s",
            TCP_WRITE_BYTES / 1024,
            self.loopback_tcp_mb_s
        )?;
        writeln!(
            f,
            "append + fdatasync, {} B per write ({}): {:.0} writes/s = {:.1} MB/s",
            self.fsync_write_bytes,
            self.fsync_dir.display(),
            self.fsync_writes_per_s,
            self.fsync_mb_s
        )?;
        writeln!(
            f,
            "memcpy, {} MiB buffer: {:.1} GB/s",
            MEMCPY_BYTES >> 20,
            self.memcpy_gb_s
        )
    }
}

/// One loopback stream for `d`: MB/s received.
fn loopback_tcp(d: Duration) -> Result<f64, LoadError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut s = TcpStream::connect(addr)?;
        let chunk = vec![0x5au8; TCP_WRITE_BYTES];
        let end = Instant::now() + d;
        while Instant::now() < end {
            s.write_all(&chunk)?;
        }
        Ok(())
    });
    let (mut s, _) = listener.accept()?;
    let mut buf = vec![0u8; TCP_WRITE_BYTES];
    let (mut total, start) = (0u64, Instant::now());
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    writer
        .join()
        .map_err(|_| LoadError("loopback writer panicked".into()))??;
    Ok(total as f64 / seconds / 1e6)
}

/// Appends of `write_bytes` each followed by fdatasync, for `d`: writes/s.
fn append_fdatasync(dir: &Path, write_bytes: usize, d: Duration) -> Result<f64, LoadError> {
    if is_tmpfs(dir) {
        return Err(LoadError(format!(
            "{} is on tmpfs, where fdatasync costs nothing; use a directory on a disk",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("ringlog-limits-{}.dat", std::process::id()));
    let result = (|| -> std::io::Result<f64> {
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        let buf = vec![0xa5u8; write_bytes.max(1)];
        let (mut n, start) = (0u64, Instant::now());
        while start.elapsed() < d {
            f.write_all(&buf)?;
            f.sync_data()?;
            n += 1;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    })();
    let _ = std::fs::remove_file(&path);
    Ok(result?)
}

/// memcpy for `d`: GB/s copied.
fn memcpy(d: Duration) -> f64 {
    let src = vec![1u8; MEMCPY_BYTES];
    let mut dst = vec![0u8; MEMCPY_BYTES];
    dst.copy_from_slice(&src); // fault the pages in before the clock starts
    let (mut n, start) = (0u64, Instant::now());
    while start.elapsed() < d {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
        n += 1;
    }
    (n * MEMCPY_BYTES as u64) as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// Whether `dir` (or its nearest existing ancestor) is on tmpfs, by the longest mount point of
/// /proc/mounts that contains it (no `statfs` here: unsafe stays in `runtime/`).
pub fn is_tmpfs(dir: &Path) -> bool {
    let mut p = dir.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            return false;
        }
    }
    let Ok(p) = p.canonicalize() else {
        return false;
    };
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    fs_type_of(&p, &mounts).is_some_and(|t| t == "tmpfs" || t == "ramfs")
}

/// The filesystem type of the longest mount point in a /proc/mounts text containing `path`.
fn fs_type_of<'a>(path: &Path, mounts: &'a str) -> Option<&'a str> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_dev, mount, fstype) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mount).then_some((mount.len(), fstype))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_limits_are_positive() {
        // The workspace target directory: on a disk (fdatasync is measured), and ignored by git.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
        let l = Limits::measure(&dir, 4096, 0.1).unwrap();
        assert!(l.loopback_tcp_mb_s > 0.0 && l.fsync_writes_per_s > 0.0 && l.memcpy_gb_s > 0.0);
        assert!(l.to_json().contains("\"fsync_write_bytes\":4096"));
    }

    #[test]
    fn the_longest_mount_point_decides_the_filesystem() {
        let mounts = "/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n";
        assert_eq!(fs_type_of(Path::new("/tmp/x"), mounts), Some("tmpfs"));
        assert_eq!(fs_type_of(Path::new("/srv/x"), mounts), Some("ext4"));
        assert_eq!(fs_type_of(Path::new("/tmpfoo"), mounts), Some("ext4"));
    }
}
