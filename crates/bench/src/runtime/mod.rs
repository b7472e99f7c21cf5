//! The runtime benchmark (issue 2): does the io_uring driver serve small request/response traffic
//! at least as fast, and at no more CPU per request, than the epoll driver, and what does one
//! ring round trip cost?
//!
//! Two measurements, each run once per driver per round, drivers alternating (uring, epoll,
//! uring, epoll, ...) so machine drift spreads over both:
//!
//! - **Ring NOP**: `nops` calls of [`ringlog_runtime::nop`] on one shard, first from one task
//!   (every NOP is one `io_uring_enter`), then from `nop_tasks` concurrent tasks (NOPs batched
//!   per enter).
//!   On an epoll shard `nop()` is a task yield: that column is executor overhead only, and the
//!   difference between the two is the cost of the ring round trip itself.
//! - **Loopback ping-pong**: a server shard (driver under test, one thread pinned to
//!   [`SERVER_CPU`]) echoes `message_bytes`-byte messages; a client shard (always the **epoll**
//!   driver, so the load generator is identical for both servers, pinned to [`CLIENT_CPU`]) keeps
//!   `connections` connections each with one message in flight. After `warmup`, both sides sample
//!   their counters and their thread's CPU time, run for `measure`, and sample again.
//!
//! ```text
//!  CPU 1: client shard (epoll)             CPU 0: server shard (uring | epoll)
//!   conn task x C: send 64 B ──loopback──>  echo task x C: recv ─> send_all
//!                  recv 64 B <──loopback──
//!   |--- warm-up ---|------------ measured window ------------|  stop, close, drain
//!                  sample                                     sample
//! ```
//!
//! Server CPU time is the on-CPU time of the server thread (`/proc/thread-self/schedstat`, in ns;
//! the same total `getrusage(RUSAGE_THREAD)` reports as user+sys), read by the server thread
//! itself at both window edges. It includes the loopback TCP processing the kernel does on that
//! thread's behalf, which is the same work for both drivers.
//!
//! - `config`: what runs, the CPUs, every limit.
//! - `run`: the rounds and the NOP runs; `pingpong`: the server and client shards.
//! - `measure`: samples, rounds, the comparison rows; CPU time via [`crate::cpu`].
//! - `report`: text and JSON.
//!
//! # Invariants
//! - Bounded: fixed counts and durations, every limit a named constant (`config`), sockets only on
//!   127.0.0.1, every wait for the other side has a timeout. The benchmark stops by itself.
//! - The client shard always runs the epoll driver; only the server's driver changes.
//! - The driver that really ran is recorded (a ring that cannot be set up falls back to epoll),
//!   and a fallback is reported, never silently compared.

mod config;
mod measure;
mod pingpong;
mod report;
mod run;

pub use config::*;
pub use measure::{CpuTime, DriverRound, Metric, NopSample, PingPongSample, RuntimeBenchReport};
pub use run::run;
