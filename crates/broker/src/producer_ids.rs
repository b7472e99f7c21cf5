//! Producer id allocation for idempotent producers (InitProducerId), on the controller shard.
//!
//! Ids are handed out from blocks of [`PRODUCER_ID_BLOCK`]; before the first id of a block is
//! given out, the block's end is persisted (`{data_dir}/producer_ids`, replaced atomically and
//! durably with `storage::fsutil`). After a restart allocation resumes at the
//! persisted end, so an id is never handed out twice, even after a crash (unused ids of the last
//! block are skipped).
//!
//! File format: one line of ASCII, `next_unreserved <decimal i64>\n`.
//!
//! # Invariants
//! - Every id handed out is below the persisted bound, and the bound only grows.
//! - The bound is published to every shard ([`ProducerIdAllocator::bound`]) so a Produce naming
//!   an id that was never allocated is refused with UNKNOWN_PRODUCER_ID.

use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Ids reserved per durable write: amortizes the fsync over this many InitProducerId calls.
pub const PRODUCER_ID_BLOCK: i64 = 1000;
/// File name in the data directory.
pub const PRODUCER_IDS_FILE: &str = "producer_ids";

/// The allocator (lives on the controller shard).
pub struct ProducerIdAllocator {
    dir: PathBuf,
    next: Cell<i64>,
    reserved_end: Cell<i64>,
    bound: Arc<AtomicI64>,
}

impl ProducerIdAllocator {
    /// Read the persisted bound (0 when the file does not exist yet).
    pub fn load(dir: &Path) -> io::Result<ProducerIdAllocator> {
        let path = dir.join(PRODUCER_IDS_FILE);
        let end = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .strip_prefix("next_unreserved ")
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: damaged", path.display()),
                    )
                })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIdAllocator {
            dir: dir.to_path_buf(),
            next: Cell::new(end),
            reserved_end: Cell::new(end),
            bound: Arc::new(AtomicI64::new(end)),
        })
    }

    /// Publish the bound through `shared` (the one every shard already holds) instead of a new one.
    pub fn share_bound(mut self, shared: Arc<AtomicI64>) -> ProducerIdAllocator {
        shared.store(self.reserved_end.get(), Ordering::Release);
        self.bound = shared;
        self
    }

    /// The shared bound: every allocated id is below it.
    pub fn bound(&self) -> Arc<AtomicI64> {
        self.bound.clone()
    }

    /// Allocate one id (persisting a new block first when needed).
    pub async fn allocate(&self) -> io::Result<i64> {
        if self.next.get() >= self.reserved_end.get() {
            let end = self
                .reserved_end
                .get()
                .checked_add(PRODUCER_ID_BLOCK)
                .ok_or_else(|| io::Error::other("producer ids exhausted"))?;
            self.persist(end).await?;
            self.reserved_end.set(end);
            self.bound.store(end, Ordering::Release);
        }
        let id = self.next.get();
        self.next.set(id + 1);
        Ok(id)
    }

    async fn persist(&self, end: i64) -> io::Result<()> {
        crate::storage::fsutil::replace_atomically_on_shard(
            &self.dir.join(PRODUCER_IDS_FILE),
            format!("next_unreserved {end}\n").into_bytes(),
        )
        .await
    }
}
