//! Shards: one pinned thread per core, each with its own driver, created on that thread.
//!
//! # Invariants
//! - A driver is created on the thread that uses it (SINGLE_ISSUER requires it) and dropped
//!   there, after every in-flight op has completed (or, if the kernel never completes one within
//!   [`SHUTDOWN_DRAIN_MS_MAX`], after deliberately leaking the memory it may still touch).
//! - At most one runtime context per thread: nesting `block_on` panics.

use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::context::{self, Context};
use super::driver::{Driver, IoKind};
use super::epoll::{Epoll, EpollOptions};
use super::executor::{self, Remote};
use super::uring::{Uring, UringOptions};

/// How long shutdown waits for cancelled ops to post their final completion.
pub const SHUTDOWN_DRAIN_MS_MAX: u64 = 5_000;

/// Runtime configuration.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Number of shards (threads); default: online cores.
    pub cores: usize,
    /// Requested driver. `Uring` falls back to epoll (one log line) when a ring cannot be set up.
    pub io: IoKind,
    /// Pin shard `i` to CPU `i % online`.
    pub pin: bool,
    /// io_uring options.
    pub uring: UringOptions,
    /// epoll options.
    pub epoll: EpollOptions,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cores: online_cpus(),
            io: IoKind::Uring,
            pin: true,
            uring: UringOptions::default(),
            epoll: EpollOptions::default(),
        }
    }
}

impl RuntimeConfig {
    /// Defaults with a given driver and one shard.
    pub fn single(io: IoKind) -> RuntimeConfig {
        RuntimeConfig {
            cores: 1,
            io,
            pin: false,
            ..RuntimeConfig::default()
        }
    }
}

/// Number of online CPUs.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Who a shard is.
#[derive(Clone, Copy, Debug)]
pub struct ShardInfo {
    /// This shard's index, `0..count`.
    pub id: usize,
    /// Number of shards.
    pub count: usize,
}

static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

fn make_driver(config: &RuntimeConfig, remote: std::sync::Arc<Remote>) -> io::Result<Driver> {
    match config.io {
        IoKind::Epoll => Ok(Driver::Epoll(Epoll::new(&config.epoll, remote)?)),
        IoKind::Uring => match Uring::new(&config.uring, remote.clone()) {
            Ok(u) => Ok(Driver::Uring(u)),
            Err(e) => {
                if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "io_uring cannot be set up ({e}); falling back to epoll \
                         (check kernel.io_uring_disabled and seccomp filters)"
                    );
                }
                Ok(Driver::Epoll(Epoll::new(&config.epoll, remote)?))
            }
        },
    }
}

/// Run `future` to completion on the current thread as shard `id`.
pub fn run_shard<F: Future>(id: usize, config: &RuntimeConfig, future: F) -> io::Result<F::Output> {
    let remote = Remote::new()?;
    let driver = make_driver(config, remote.clone())?;
    let cx = Rc::new(Context {
        shard_id: id,
        driver,
        remote,
    });
    let prev = context::set(Some(cx.clone()));
    assert!(
        prev.is_none(),
        "a ringlog runtime is already running on this thread"
    );
    let guard = executor::enter(&cx.remote);
    let out = executor::run_until(&cx, future);
    shutdown(&cx);
    drop(guard);
    context::set(None);
    match Rc::try_unwrap(cx) {
        Ok(cx) => {
            if cx.driver.in_flight() > 0 {
                // The kernel may still write into op memory: leaking is the only safe choice.
                tracing::error!(
                    in_flight = cx.driver.in_flight(),
                    "ops still in flight at shutdown; leaking their memory"
                );
                std::mem::forget(cx);
            }
        }
        Err(cx) => {
            // Something (a leaked I/O object) still holds the context; keep it alive forever.
            std::mem::forget(cx);
        }
    }
    Ok(out)
}

/// Drop every remaining task, then wait for the kernel to finish (or cancel) their ops.
fn shutdown(cx: &Rc<Context>) {
    for _ in 0..64 {
        executor::drop_queued_tasks();
        let wakers = cx.driver.take_all_wakers();
        if wakers.is_empty() {
            break;
        }
        // Waking queues each task; dropping its runnable then drops (cancels) its future.
        wakers.into_iter().for_each(|w| w.wake());
    }
    executor::drop_queued_tasks();
    let start = Instant::now();
    while cx.driver.in_flight() > 0
        && start.elapsed() < Duration::from_millis(SHUTDOWN_DRAIN_MS_MAX)
    {
        if let Err(e) = cx.driver.turn_for(Duration::from_millis(50)) {
            tracing::error!("driver failed while draining at shutdown: {e}");
            break;
        }
        executor::drop_queued_tasks();
    }
}

/// Run `future` on the current thread as a single shard (shard 0).
pub fn block_on<F: Future>(config: &RuntimeConfig, future: F) -> io::Result<F::Output> {
    run_shard(0, config, future)
}

/// Start `config.cores` shard threads, each running `main(info)` to completion; returns their
/// outputs in shard order.
pub fn run<F, Fut>(config: &RuntimeConfig, main: F) -> io::Result<Vec<Fut::Output>>
where
    F: Fn(ShardInfo) -> Fut + Send + Sync,
    Fut: Future,
    Fut::Output: Send,
{
    let count = config.cores.max(1);
    let cpus = online_cpus();
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(count);
        for id in 0..count {
            let main = &main;
            let handle = std::thread::Builder::new()
                .name(format!("ringlog-shard-{id}"))
                .spawn_scoped(scope, move || {
                    if config.pin {
                        pin_to_cpu(id % cpus);
                    }
                    run_shard(id, config, main(ShardInfo { id, count }))
                })?;
            handles.push(handle);
        }
        let mut outs = Vec::with_capacity(count);
        for h in handles {
            match h.join() {
                Ok(r) => outs.push(r?),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        Ok(outs)
    })
}

/// Pin the calling thread to `cpu` (best effort: a failure is logged, not fatal).
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: an all-zero cpu_set_t is an empty set; CPU_SET writes within it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        tracing::warn!(
            cpu,
            "could not pin shard thread: {}",
            io::Error::last_os_error()
        );
    }
}

/// The shard id of the calling thread (`None` outside a runtime).
pub fn current_shard() -> Option<usize> {
    context::try_current().map(|cx| cx.shard_id)
}

/// The driver the calling thread's shard runs.
pub fn io_kind() -> Option<IoKind> {
    context::try_current().map(|cx| cx.driver.kind())
}
