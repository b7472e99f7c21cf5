//! Criterion micro-benchmark: what does one `runtime::nop()` round trip cost on an io_uring shard
//! (one `IORING_OP_NOP` submitted and reaped, one `io_uring_enter` per NOP), against the epoll
//! driver, where `nop()` is a task yield (executor overhead only, the baseline)?
//!
//! Each sample runs its whole batch of iterations inside one `block_on`, so ring setup and
//! teardown stay outside the timed loop. The kernel and CPU are printed first (style convention
//! 13); `ringlog bench runtime` gives the same numbers with medians, spread and ratios.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ringlog::bench::Machine;
use ringlog::runtime::{self, IoKind, RuntimeConfig};

/// Concurrent tasks of the batched variant: NOPs per `io_uring_enter` (well below the 1024-entry
/// SQ).
const BATCH_TASKS: u64 = 32;

/// Time `iters` NOPs spread over `tasks` tasks inside one runtime on `io`.
fn nops(io: IoKind, tasks: u64, iters: u64) -> Duration {
    runtime::block_on(&RuntimeConfig::single(io), async move {
        assert_eq!(runtime::io_kind(), Some(io), "the requested driver runs");
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let n = iters / tasks + u64::from(t < iters % tasks);
                runtime::spawn(async move {
                    for _ in 0..n {
                        runtime::nop().await.expect("IORING_OP_NOP never fails");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        start.elapsed()
    })
    .expect("runtime starts")
}

fn ring_nop(c: &mut Criterion) {
    let m = Machine::current();
    eprintln!(
        "ring_nop: kernel {}, CPU {} x{}; epoll rows are a task yield (executor overhead only)",
        m.kernel, m.cpu_model, m.cpus
    );
    let uring_available = runtime::block_on(&RuntimeConfig::single(IoKind::Uring), async {
        runtime::io_kind() == Some(IoKind::Uring)
    })
    .expect("runtime starts");
    let mut group = c.benchmark_group("ring_nop");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for tasks in [1, BATCH_TASKS] {
        for io in [IoKind::Uring, IoKind::Epoll] {
            if io == IoKind::Uring && !uring_available {
                eprintln!("ring_nop: SKIPPED uring rows: io_uring cannot be set up here");
                continue;
            }
            let name = match io {
                IoKind::Uring => "uring",
                IoKind::Epoll => "epoll_yield",
            };
            group.bench_with_input(BenchmarkId::new(name, tasks), &tasks, |b, &tasks| {
                b.iter_custom(|iters| nops(io, tasks, iters))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, ring_nop);
criterion_main!(benches);
