//! The broker's durable state families (committed offsets, share state, transaction state) are
//! state logs, one per shard ([`crate::storage::state_log`]). Before the shards start, each
//! family is laid out for the shard count once ([`prepare_family`]).

use std::io;
use std::path::Path;

use crate::runtime::{IoKind, RuntimeConfig};
use crate::storage::state_log::{self, StateLogConfig, Update};

/// Blocking, once, before the shards start: re-routes `family`'s records to the shard `route`
/// gives them under `shards` shards when the count changed, and writes `seed` (migrations). On
/// a thread of its own with a one-core runtime (the caller may itself be running one). Returns
/// whether the family was rewritten.
pub fn prepare_family(
    data_dir: &Path,
    family: &str,
    shards: usize,
    io: IoKind,
    route: &(dyn Fn(&[u8]) -> Option<usize> + Sync),
    seed: Vec<Update>,
) -> io::Result<bool> {
    let root = state_log::state_root(data_dir);
    let config = RuntimeConfig {
        cores: 1,
        io,
        pin: false,
        ..RuntimeConfig::default()
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            crate::runtime::block_on(&config, async {
                state_log::prepare_family(
                    &root,
                    family,
                    shards,
                    &StateLogConfig::default(),
                    route,
                    seed,
                )
                .await
            })
        })
        .join()
        .map_err(|_| io::Error::other(format!("preparing {family} panicked")))
    })?
    .map_err(|e| io::Error::other(format!("{family}: {e}")))?
    .map_err(|e| io::Error::other(format!("{family}: {e}")))
}
