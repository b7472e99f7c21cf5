//! Helpers shared by the integration tests.

use std::path::Path;

use ringlog::storage::batch::stamp;
use ringlog::storage::batch::testing::build_batch;
use ringlog::storage::{FlushPolicy, Log, LogConfig};

/// Small segments and a dense index so tests cross segment and index boundaries.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        segment_ms: None,
        index_interval_bytes: 128,
        batch_bytes_max: 64 * 1024,
        retention_bytes: None,
        retention_ms: None,
        flush: FlushPolicy::Never,
        verify_sealed_on_open: false,
        ..LogConfig::default()
    }
}

/// A deterministic valid batch: `records` values derived from `seed`, timestamps from `ts`.
pub fn test_batch(seed: u64, records: usize, ts: i64) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..records)
        .map(|r| format!("v{seed}-{r}-{}", "x".repeat((seed % 17) as usize)).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    build_batch(ts, &refs)
}

/// The bytes a batch has on disk once stamped with `base_offset` (leader epoch 0).
pub fn stamped(batch: &[u8], base_offset: i64) -> Vec<u8> {
    let mut b = batch.to_vec();
    stamp(&mut b, base_offset, 0);
    b
}

pub fn open(dir: &Path, cfg: &LogConfig) -> Log {
    block_on(Log::open(dir, "t", 0, cfg.clone(), false)).expect("open log")
}

/// Reads everything from `offset` to the high watermark.
pub fn read_all(log: &Log, offset: i64) -> Vec<u8> {
    block_on(async {
        let r = log.read(offset, u64::MAX).await.expect("read");
        r.read_to_vec().await.expect("read bytes")
    })
}

/// Run a test body on the driver this test binary was built for (`crate::IO`).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    ringlog::runtime::block_on(&ringlog::runtime::RuntimeConfig::single(crate::IO), f)
        .expect("runtime starts")
}

pub use ringlog::runtime::spawn;
