//! A little disk space kept back for the broker's own state, so that an operator can still free
//! space through the broker when the disk is full.
//!
//! Deleting a topic must save the catalog before the topic's files go (the save is the commit
//! point), and the save writes a new file. On a 100% full disk that write fails, so without a
//! reserve a full disk could not be emptied through Kafka's own DeleteTopics. The controller
//! keeps [`SPACE_RESERVE_BYTES`] in `{data-dir}/.space-reserve`; a catalog save that finds no
//! space releases it and tries once more; housekeeping puts it back once space allows.
//!
//! # Invariants
//! - The reserve file is either absent or fully written (a partial one is removed at once).
//! - Only the controller shard touches it (catalog saves happen there).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Space kept back: more than the largest catalog the broker can have (`max.partitions` of
/// 10,000 one-partition topics with 249-character names is about 2.9 MB), since a save writes the
/// new catalog beside the old one.
pub const SPACE_RESERVE_BYTES: u64 = 4 << 20;
/// File name of the reserve in the data directory (not a partition directory: never scanned).
pub const SPACE_RESERVE_FILE: &str = ".space-reserve";

/// The reserve file of one data directory.
#[derive(Debug)]
pub struct SpaceReserve {
    path: PathBuf,
}

impl SpaceReserve {
    /// The reserve of `data_dir` (nothing is written until [`SpaceReserve::ensure`]).
    pub fn new(data_dir: &Path) -> SpaceReserve {
        SpaceReserve {
            path: data_dir.join(SPACE_RESERVE_FILE),
        }
    }

    /// True if the reserve is in place, whole.
    pub fn is_held(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() == SPACE_RESERVE_BYTES)
    }

    /// Puts the reserve in place if it is not (blocking; 4 MiB of zeros written once, so the
    /// blocks are really allocated, not a sparse promise). `Ok(false)`: there is no room for it
    /// now (nothing is left behind).
    pub fn ensure(&self) -> io::Result<bool> {
        if self.is_held() {
            return Ok(true);
        }
        let written = (|| {
            let mut f = std::fs::File::create(&self.path)?;
            let chunk = vec![0u8; 64 << 10];
            let mut left = SPACE_RESERVE_BYTES;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                f.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            f.sync_all()
        })();
        match written {
            Ok(()) => Ok(true),
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                if crate::storage::Error::is_no_space(&e) {
                    Ok(false)
                } else {
                    Err(io::Error::new(
                        e.kind(),
                        format!("space reserve {}: {e}", self.path.display()),
                    ))
                }
            }
        }
    }

    /// Gives the reserved space back to the file system. `true` if there was one to release.
    pub fn release(&self) -> bool {
        let held = self.path.exists();
        if held {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::error!("releasing the space reserve {}: {e}", self.path.display());
                return false;
            }
            tracing::warn!(
                "disk full: released the {} MiB space reserve to save broker state; it is put \
                 back once space allows",
                SPACE_RESERVE_BYTES >> 20
            );
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_whole_or_absent() {
        let dir = tempfile::tempdir().unwrap();
        let r = SpaceReserve::new(dir.path());
        assert!(!r.is_held());
        assert!(r.ensure().unwrap());
        assert!(r.is_held());
        assert_eq!(
            std::fs::metadata(dir.path().join(SPACE_RESERVE_FILE))
                .unwrap()
                .len(),
            SPACE_RESERVE_BYTES
        );
        assert!(r.ensure().unwrap(), "ensure is idempotent");
        assert!(r.release());
        assert!(!r.is_held() && !r.release());
        // A short file (a crash mid-write) is replaced by a whole one.
        std::fs::write(dir.path().join(SPACE_RESERVE_FILE), b"partial").unwrap();
        assert!(!r.is_held());
        assert!(r.ensure().unwrap());
        assert!(r.is_held());
    }
}
