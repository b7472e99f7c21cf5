//! Re-sharding a family of state logs (and seeding it: migrations), crash-safe through the
//! directory swap of the parent module's doc.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;

use super::disk::{
    fsync_parent, open_log, recover_swap, remove_dir_if_exists, scan_live, sibling, swap_in,
    FreshWriter,
};
use super::{
    shard_dir, validate_family, validate_shards, StateLogConfig, Update, RETIRED_SUFFIX,
    STAGED_SUFFIX,
};
use crate::error::{Error, Result};
use crate::log::FlushPolicy;
use crate::rt::fs::sync_dir;

/// Makes `{root}/{family}` hold exactly the logs `shard-0..shard-{shards-1}`, each with the live
/// records that `route` sends to it, followed by `seed` (applied after everything on disk: a
/// migration's records). Nothing is rewritten when the shards on disk already are `0..shards`
/// and `seed` is empty; otherwise every live record is read, routed, written to
/// `{family}.new` and swapped in (crash-safe, see the module doc). Call it before any shard
/// opens its log; it runs on one shard. Returns whether the family was rewritten.
///
/// `route` maps a key to its shard (`< shards`); `None` (a key the caller cannot read) fails.
pub async fn prepare_family(
    root: &Path,
    family: &str,
    shards: usize,
    config: &StateLogConfig,
    route: &dyn Fn(&[u8]) -> Option<usize>,
    seed: Vec<Update>,
) -> Result<bool> {
    validate_family(family)?;
    validate_shards(shards)?;
    config.validate()?;
    let dir = root.join(family);
    std::fs::create_dir_all(root).map_err(|e| Error::io("mkdir", root, e))?;
    if recover_swap(&dir).await? {
        tracing::info!("{family}: finished a re-sharding interrupted by a crash");
    }
    let on_disk = shards_on_disk(&dir)?;
    for &n in &on_disk {
        recover_swap(&shard_dir(root, family, n)).await?;
    }
    let wanted: BTreeSet<usize> = (0..shards).collect();
    if seed.is_empty() && (on_disk == wanted || on_disk.is_empty()) {
        return Ok(false);
    }
    // Everything live, by key (a key lives in one shard; were it in two, the higher shard wins).
    let mut merged: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    for &n in &on_disk {
        let log = open_log(
            &shard_dir(root, family, n),
            family,
            n,
            config,
            FlushPolicy::Never,
        )
        .await?;
        scan_live(&log, |e| {
            let value = e.value.expect("live records have values");
            merged.insert(
                Bytes::copy_from_slice(&e.key),
                Bytes::copy_from_slice(&value),
            );
            Ok(())
        })
        .await?;
    }
    for u in seed {
        match u.value {
            Some(v) => merged.insert(u.key, v),
            None => merged.remove(&u.key),
        };
    }
    let mut per_shard: Vec<Vec<Update>> = (0..shards).map(|_| Vec::new()).collect();
    for (key, value) in merged {
        let shard = route(&key)
            .filter(|&s| s < shards)
            .ok_or_else(|| Error::CorruptSegment {
                path: dir.clone(),
                position: 0,
                reason: format!("a key of {family} routes to no shard of {shards}: {key:?}"),
            })?;
        per_shard[shard].push(Update {
            key,
            value: Some(value),
        });
    }
    let staged = sibling(&dir, STAGED_SUFFIX);
    remove_dir_if_exists(&staged).await?;
    std::fs::create_dir(&staged).map_err(|e| Error::io("mkdir", &staged, e))?;
    for (n, updates) in per_shard.iter().enumerate() {
        let log = open_log(
            &staged.join(format!("shard-{n}")),
            family,
            n,
            config,
            FlushPolicy::Never,
        )
        .await?;
        let mut writer = FreshWriter::new(&log);
        for u in updates {
            writer.push(u).await?;
        }
        writer.finish().await?;
    }
    sync_dir(&staged)
        .await
        .map_err(|e| Error::io("fsync dir", &staged, e))?;
    fsync_parent(&staged).await?;
    swap_in(&dir, &staged).await?;
    tracing::info!(
        "{family}: {} live record(s) re-routed from shard(s) {on_disk:?} to {shards}",
        per_shard.iter().map(Vec::len).sum::<usize>()
    );
    Ok(true)
}

/// Shard numbers with a directory (live, or left by an interrupted compaction) in `dir`.
pub(super) fn shards_on_disk(dir: &Path) -> Result<BTreeSet<usize>> {
    let mut out = BTreeSet::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("readdir", dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("readdir", dir, e))?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("shard-")) else {
            continue;
        };
        let digits = rest
            .strip_suffix(STAGED_SUFFIX)
            .or_else(|| rest.strip_suffix(RETIRED_SUFFIX))
            .unwrap_or(rest);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = digits.parse::<usize>() {
                out.insert(n);
            }
        }
    }
    Ok(out)
}
