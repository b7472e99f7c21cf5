//! Criterion benchmarks of the storage engine, one question per group:
//!
//! - `validate`: how fast is append-time validation (`batch::validate_buffer`: header checks and
//!   CRC32C) over a 1 MiB buffer of batches, against a bare CRC32C of the same bytes (baseline)?
//! - `index_lookup`: how many offset -> position lookups per second: the in-memory sparse index
//!   of a full 1 GiB segment (binary search), and a whole `Log::read` of one batch (index + header
//!   reads through the driver) on io_uring vs epoll.
//! - `append`: append MB/s and batches/s at 1 KiB, 16 KiB and 1 MiB batches, `FlushPolicy::Never`
//!   vs `Always`, io_uring vs epoll.
//! - `group_commit`: with `FlushPolicy::Always`, do 8 concurrent appenders (sharing fdatasyncs)
//!   beat one appender doing write + fdatasync per batch, at 4 KiB and 64 KiB batches? The
//!   baseline is a raw runtime file write + fdatasync loop (no log), the same shape as fio with
//!   `fdatasync=1`.
//!
//! Every log lives in a fresh temporary directory on a real disk (tmpfs would make fdatasync
//! free): `/tmp` unless it is tmpfs, then `target/bench-tmp`. Setup (directory, open, data for
//! lookups) is outside the timed loops. Append buffers are cloned from a prebuilt batch inside
//! the loop (a memcpy, like the copy a broker makes when it receives a request).
//!
//! Run: `cargo bench --bench storage` (about 4 minutes); the kernel, CPU and data directory are
//! printed first.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringlog::bench::Machine;
use ringlog::runtime::fs::File;
use ringlog::runtime::rng::Rng;
use ringlog::runtime::{self, IoKind, RuntimeConfig};
use ringlog::storage::batch::testing::build_batch;
use ringlog::storage::batch::validate_buffer;
use ringlog::storage::index::SegmentIndexes;
use ringlog::storage::{FlushPolicy, Log, LogConfig};

/// Size of the buffer validated per iteration (the brief: 1 MiB).
const VALIDATE_BUFFER_BYTES: usize = 1 << 20;
/// Batch size inside that buffer: a typical producer `batch.size` (16 KiB).
const VALIDATE_BATCH_BYTES: usize = 16 * 1024;
/// Index lookups: a full default segment (1 GiB) at the default 4 KiB index interval.
const INDEX_SEGMENT_BYTES: u64 = 1 << 30;
const INDEX_INTERVAL_BYTES: u64 = 4096;
/// Data behind the `Log::read` lookups: 32 MiB of 1 KiB batches (32,768 batches, ~8,192 index
/// entries), kept in the page cache.
const READ_LOG_BYTES: usize = 32 << 20;
const READ_BATCH_BYTES: usize = 1024;
/// Appenders in the group-commit case (the brief: 8).
const GROUP_APPENDERS: u64 = 8;
/// tmpfs `f_type` (statfs(2)): fdatasync there is a no-op, so it must not hold bench data.
const TMPFS_MAGIC: i64 = 0x0102_1994;

fn uring_available() -> bool {
    runtime::block_on(&RuntimeConfig::single(IoKind::Uring), async {
        runtime::io_kind() == Some(IoKind::Uring)
    })
    .expect("runtime starts")
}

fn drivers() -> Vec<IoKind> {
    if uring_available() {
        vec![IoKind::Uring, IoKind::Epoll]
    } else {
        eprintln!("storage bench: SKIPPED io_uring rows: io_uring cannot be set up here");
        vec![IoKind::Epoll]
    }
}

fn io_name(io: IoKind) -> &'static str {
    match io {
        IoKind::Uring => "uring",
        IoKind::Epoll => "epoll",
    }
}

/// A directory on a real disk for benchmark data.
fn data_root() -> PathBuf {
    let tmp = std::env::temp_dir();
    let is_tmpfs = {
        let c = std::ffi::CString::new(tmp.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: an all-zero statfs is a valid out-buffer; `c` is a valid C string.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call.
        let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
        rc == 0 && st.f_type as i64 == TMPFS_MAGIC
    };
    if is_tmpfs {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-tmp");
        std::fs::create_dir_all(&d).expect("mkdir target/bench-tmp");
        d
    } else {
        tmp
    }
}

fn fresh_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ringlog-bench-")
        .tempdir_in(data_root())
        .expect("tempdir")
}

/// One valid batch of exactly `size_bytes` (one record; its value is padded to fit).
fn batch_of(size_bytes: usize) -> Vec<u8> {
    let mut value_len = size_bytes.saturating_sub(80);
    for _ in 0..8 {
        let value: Vec<u8> = (0..value_len).map(|i| (i % 251) as u8).collect();
        let b = build_batch(1_700_000_000_000, &[&value]);
        if b.len() == size_bytes {
            return b;
        }
        value_len = (value_len + size_bytes).saturating_sub(b.len());
    }
    panic!("cannot build a batch of exactly {size_bytes} bytes");
}

fn log_config(flush: FlushPolicy) -> LogConfig {
    LogConfig {
        segment_ms: None,
        flush,
        ..LogConfig::default()
    }
}

fn validate(c: &mut Criterion) {
    let one = batch_of(VALIDATE_BATCH_BYTES);
    let buf: Vec<u8> = one.repeat(VALIDATE_BUFFER_BYTES / VALIDATE_BATCH_BYTES);
    assert_eq!(buf.len(), VALIDATE_BUFFER_BYTES);
    let mut g = c.benchmark_group("validate");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("validate_buffer_1MiB_of_16KiB_batches", |b| {
        b.iter(|| {
            let infos = validate_buffer(std::hint::black_box(&buf), u64::MAX).expect("valid");
            assert_eq!(infos.len(), VALIDATE_BUFFER_BYTES / VALIDATE_BATCH_BYTES);
        })
    });
    g.bench_function("crc32c_1MiB_baseline", |b| {
        b.iter(|| crc32c::crc32c(std::hint::black_box(&buf)))
    });
    g.finish();
}

fn index_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("index_lookup");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));

    // In memory: one entry per 4 KiB batch of a full 1 GiB segment, 4 offsets per batch.
    let mut ix = SegmentIndexes::new(INDEX_INTERVAL_BYTES);
    let batches = (INDEX_SEGMENT_BYTES / INDEX_INTERVAL_BYTES) as u32;
    for i in 0..batches {
        ix.on_batch(
            i * 4,
            i * INDEX_INTERVAL_BYTES as u32,
            INDEX_INTERVAL_BYTES,
            0,
        );
    }
    let mut rng = Rng::new(7);
    let targets: Vec<u32> = (0..4096)
        .map(|_| (rng.next_u64() % (u64::from(batches) * 4)) as u32)
        .collect();
    eprintln!(
        "index_lookup: in-memory index of {} entries (1 GiB segment, 4 KiB interval)",
        ix.offsets.len()
    );
    let mut k = 0usize;
    g.bench_function("segment_index_in_memory", |b| {
        b.iter(|| {
            k = (k + 1) % targets.len();
            ix.lookup_offset(std::hint::black_box(targets[k]))
        })
    });

    // Through the log: offset -> first batch slice (index lookup + header reads).
    let dir = fresh_dir();
    let part = dir.path().join("t-0");
    let batch = batch_of(READ_BATCH_BYTES);
    let count = (READ_LOG_BYTES / READ_BATCH_BYTES) as u64;
    runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async {
        let log = Log::open(&part, "t", 0, log_config(FlushPolicy::Never), false)
            .await
            .expect("open");
        let mut buf = Vec::with_capacity(READ_LOG_BYTES);
        for _ in 0..count {
            buf.extend_from_slice(&batch);
        }
        // 1 MiB appends of 1 KiB batches: fast setup, same on-disk result.
        for chunk in buf.chunks(1 << 20) {
            log.append(chunk.to_vec()).await.expect("append");
        }
        log.flush().await.expect("flush");
    })
    .expect("runtime starts");
    let offsets: Vec<i64> = (0..4096).map(|_| (rng.next_u64() % count) as i64).collect();
    for io in drivers() {
        g.bench_function(BenchmarkId::new("log_read_one_batch", io_name(io)), |b| {
            b.iter_custom(|iters| {
                let part = part.clone();
                let offsets = offsets.clone();
                runtime::block_on(&RuntimeConfig::single(io), async move {
                    assert_eq!(runtime::io_kind(), Some(io), "the requested driver runs");
                    let log = Log::open(&part, "t", 0, log_config(FlushPolicy::Never), false)
                        .await
                        .expect("open");
                    let start = Instant::now();
                    for i in 0..iters as usize {
                        let off = offsets[i % offsets.len()];
                        let r = log.read(off, 1).await.expect("read");
                        assert_eq!(r.slices[0].first_offset, off);
                    }
                    start.elapsed()
                })
                .expect("runtime starts")
            })
        });
    }
    g.finish();
}

/// Times `iters` appends of `batch` spread over `appenders` tasks on a fresh log.
fn time_appends(
    io: IoKind,
    flush: FlushPolicy,
    batch: Rc<Vec<u8>>,
    appenders: u64,
    iters: u64,
) -> Duration {
    let dir = fresh_dir();
    let part = dir.path().join("t-0");
    runtime::block_on(&RuntimeConfig::single(io), async move {
        assert_eq!(runtime::io_kind(), Some(io), "the requested driver runs");
        let log = Rc::new(
            Log::open(&part, "t", 0, log_config(flush), false)
                .await
                .expect("open"),
        );
        let start = Instant::now();
        let handles: Vec<_> = (0..appenders)
            .map(|a| {
                let n = iters / appenders + u64::from(a < iters % appenders);
                let log = log.clone();
                let batch = batch.clone();
                runtime::spawn(async move {
                    for _ in 0..n {
                        log.append(batch.to_vec()).await.expect("append");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        let elapsed = start.elapsed();
        assert_eq!(log.log_end_offset(), iters as i64);
        elapsed
    })
    .expect("runtime starts")
}

/// Times `iters` raw appends (write at the file end, then fdatasync) of `batch` on one task.
fn time_raw_write_fdatasync(io: IoKind, batch: Rc<Vec<u8>>, iters: u64) -> Duration {
    let dir = fresh_dir();
    let path = dir.path().join("raw.log");
    runtime::block_on(&RuntimeConfig::single(io), async move {
        assert_eq!(runtime::io_kind(), Some(io), "the requested driver runs");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .expect("create");
        let f = File::from_std(f);
        let start = Instant::now();
        let mut pos = 0u64;
        for _ in 0..iters {
            let (r, _) = f.write_all_at(batch.to_vec(), pos).await;
            r.expect("write");
            f.fdatasync().await.expect("fdatasync");
            pos += batch.len() as u64;
        }
        start.elapsed()
    })
    .expect("runtime starts")
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    for size in [1usize << 10, 16 << 10, 1 << 20] {
        let batch = Rc::new(batch_of(size));
        g.throughput(Throughput::Bytes(size as u64));
        for (flush, fname) in [
            (FlushPolicy::Never, "never"),
            (FlushPolicy::Always, "always"),
        ] {
            for io in drivers() {
                let id = BenchmarkId::new(format!("{}KiB_flush_{fname}", size >> 10), io_name(io));
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| time_appends(io, flush, batch.clone(), 1, iters))
                });
            }
        }
    }
    g.finish();
}

fn group_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("group_commit");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    for size in [4usize << 10, 64 << 10] {
        let batch = Rc::new(batch_of(size));
        g.throughput(Throughput::Bytes(size as u64));
        for io in drivers() {
            let kib = size >> 10;
            g.bench_function(
                BenchmarkId::new(format!("{kib}KiB_raw_write_fdatasync"), io_name(io)),
                |b| b.iter_custom(|iters| time_raw_write_fdatasync(io, batch.clone(), iters)),
            );
            g.bench_function(
                BenchmarkId::new(format!("{kib}KiB_log_1_appender"), io_name(io)),
                |b| {
                    b.iter_custom(|iters| {
                        time_appends(io, FlushPolicy::Always, batch.clone(), 1, iters)
                    })
                },
            );
            g.bench_function(
                BenchmarkId::new(
                    format!("{kib}KiB_log_{GROUP_APPENDERS}_appenders"),
                    io_name(io),
                ),
                |b| {
                    b.iter_custom(|iters| {
                        time_appends(
                            io,
                            FlushPolicy::Always,
                            batch.clone(),
                            GROUP_APPENDERS,
                            iters,
                        )
                    })
                },
            );
        }
    }
    g.finish();
}

fn machine(_c: &mut Criterion) {
    let m = Machine::current();
    eprintln!(
        "storage bench: kernel {}, CPU {} x{}, data directory {} (fresh tempdir per run)",
        m.kernel,
        m.cpu_model,
        m.cpus,
        data_root().display()
    );
}

criterion_group!(
    benches,
    machine,
    validate,
    index_lookup,
    append,
    group_commit
);
criterion_main!(benches);
