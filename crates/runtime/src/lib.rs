//! The thread-per-core runtime: the only code that talks to io_uring or epoll.
//!
//! One shard per core, each a pinned thread with its own driver (an io_uring created on that
//! thread with SINGLE_ISSUER|DEFER_TASKRUN, or epoll), its own single-threaded executor of `!Send`
//! tasks, and an eventfd through which other shards wake it. Shards talk only through the
//! bounded channels of [`mesh`].
//!
//! ```text
//!  shard loop:  run ≤256 ready tasks ─> driver.turn(block = nothing ready)
//!                     ^                      │ submit SQEs / epoll_wait
//!                     └── wake (queue) <─────┘ reap CQEs / events, fire timers
//! ```
//!
//! Storage and broker code use [`net`], [`fs`], [`time`], [`sync`], [`spawn`] and never learn
//! which driver runs them. [`rng`] is the one seeded generator of every crate's tests and
//! benchmarks (it lives here because every crate depends on this one).
//!
//! # Invariants
//! - Ops own their buffers until their final completion; dropping an op's future cancels it and
//!   the driver keeps the buffers until the kernel is done with them.
//! - `user_data` is a slab key with a generation, never a pointer; every slab, queue and channel
//!   has a fixed bound, and a full one is back-pressure.
//! - No task runs inside a completion drain.
//! - A shard's state never leaves its thread; `Send` is needed only for what crosses the mesh.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod buf;
mod context;
pub mod driver;
pub mod epoll;
pub mod executor;
pub mod fs;
pub mod future;
pub mod ktls;
pub mod limits;
pub mod mesh;
pub mod net;
pub mod pipe;
pub mod rng;
pub mod shard;
pub mod signal;
pub mod slab;
mod sockaddr;
pub mod sync;
pub mod time;
mod timers;
pub mod uring;

pub use buf::{IoBuf, IoBufMut, Slice};
pub use driver::IoKind;
pub use executor::{spawn, yield_now, JoinHandle};
pub use shard::{block_on, current_shard, io_kind, online_cpus, run, RuntimeConfig, ShardInfo};
pub use uring::probe::{probe, ProbeReport};

/// Submit one `IORING_OP_NOP` and wait for it (io_uring shards), or yield once (epoll shards).
/// Used by the ring benchmark.
pub async fn nop() -> std::io::Result<()> {
    let cx = context::current();
    match &cx.driver {
        driver::Driver::Uring(_) => uring::op::Op::new(uring::op::nop::Nop).await,
        driver::Driver::Epoll(_) => {
            yield_now().await;
            Ok(())
        }
    }
}

/// How this shard's ring was set up (`None` on an epoll shard or outside a runtime).
pub fn ring_setup() -> Option<uring::RingSetup> {
    match &context::try_current()?.driver {
        driver::Driver::Uring(u) => Some(u.setup().clone()),
        driver::Driver::Epoll(_) => None,
    }
}

/// This shard's io_uring counters (`None` on an epoll shard or outside a runtime).
pub fn driver_stats() -> Option<uring::DriverStats> {
    match &context::try_current()?.driver {
        driver::Driver::Uring(u) => Some(u.stats()),
        driver::Driver::Epoll(_) => None,
    }
}

/// Number of ops (or helper jobs) in flight on this shard.
pub fn in_flight() -> usize {
    context::current().driver.in_flight()
}
