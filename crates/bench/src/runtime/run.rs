//! Running the runtime benchmark: rounds of [every driver in turn: NOP runs, one ping-pong run],
//! each on fresh threads pinned to fixed CPUs.
//!
//! # Invariants
//! - Drivers alternate within every round, in [`DRIVERS`] order.
//! - Every benchmark thread is joined before the next run starts; a panic in one is re-raised.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use super::measure::{DriverRound, NopSample, RuntimeBenchReport};
use super::pingpong::ping_pong;
use super::{RuntimeBenchConfig, CLIENT_CPU, DRIVERS, SERVER_CPU, SETUP_TIMEOUT_MS};
use crate::Machine;
use ringlog_runtime::shard::pin_to_cpu;
use ringlog_runtime::{IoKind, RuntimeConfig};

/// Run the benchmark: `config.rounds` rounds, each measuring every driver of [`DRIVERS`] in turn.
/// Progress goes to the `tracing` log; the result is returned, not printed.
pub fn run(config: &RuntimeBenchConfig) -> io::Result<RuntimeBenchReport> {
    config.validate().map_err(io::Error::other)?;
    let machine = Machine::current();
    if machine.cpus <= CLIENT_CPU {
        tracing::warn!(
            cpus = machine.cpus,
            "fewer CPUs than the benchmark pins to: client and server share a core"
        );
    }
    let mut rounds = Vec::with_capacity(config.rounds);
    for round in 1..=config.rounds {
        let mut one = Vec::with_capacity(DRIVERS.len());
        for io in DRIVERS {
            let measured = run_driver(config, io)?;
            let pp = &measured.ping_pong;
            tracing::info!(
                "round {round}/{} {io}: {:.0} req/s, server {:.2} us/req ({:.0}% busy), \
                 client {:.2} us/req{}",
                config.rounds,
                pp.requests_per_second(),
                pp.server_cpu_us_per_request(),
                pp.server_busy() * 100.0,
                pp.client_cpu_us_per_request(),
                measured
                    .nop_sequential
                    .as_ref()
                    .map(|n| format!(", nop {:.0} ns", n.ns_per_op()))
                    .unwrap_or_default(),
            );
            one.push(measured);
        }
        let pair: [DriverRound; 2] = one
            .try_into()
            .unwrap_or_else(|_| unreachable!("one entry per driver"));
        rounds.push(pair);
    }
    Ok(RuntimeBenchReport {
        machine,
        config: config.clone(),
        rounds,
    })
}

fn run_driver(config: &RuntimeBenchConfig, io: IoKind) -> io::Result<DriverRound> {
    let (nop_sequential, nop_batched) = if config.nops == 0 {
        (None, None)
    } else {
        (
            Some(nop_run(io, config.nops, 1)?),
            Some(nop_run(io, config.nops, config.nop_tasks)?),
        )
    };
    let ping_pong = ping_pong(config, io)?;
    Ok(DriverRound {
        requested: io,
        nop_sequential,
        nop_batched,
        ping_pong,
    })
}

/// Join a benchmark thread, re-raising its panic.
pub(super) fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

pub(super) fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} took longer than {SETUP_TIMEOUT_MS} ms"),
    )
}

pub(super) fn setup_timeout() -> Duration {
    Duration::from_millis(SETUP_TIMEOUT_MS)
}

/// `ops` NOPs split over `tasks` tasks on a fresh single-shard runtime pinned to [`SERVER_CPU`].
fn nop_run(io: IoKind, ops: u64, tasks: usize) -> io::Result<NopSample> {
    thread::scope(|scope| {
        let handle = thread::Builder::new()
            .name("bench-nop".into())
            .spawn_scoped(scope, move || {
                pin_to_cpu(SERVER_CPU);
                ringlog_runtime::block_on(&RuntimeConfig::single(io), async move {
                    let driver = ringlog_runtime::io_kind().expect("inside a runtime");
                    let tasks_u64 = tasks as u64;
                    let start = Instant::now();
                    let handles: Vec<_> = (0..tasks_u64)
                        .map(|t| {
                            // The first tasks take one more NOP each when `ops` does not divide.
                            let n = ops / tasks_u64 + u64::from(t < ops % tasks_u64);
                            ringlog_runtime::spawn(async move {
                                for _ in 0..n {
                                    ringlog_runtime::nop().await?;
                                }
                                Ok::<(), io::Error>(())
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await?;
                    }
                    Ok(NopSample {
                        driver,
                        tasks,
                        ops,
                        seconds: start.elapsed().as_secs_f64(),
                    })
                })?
            })?;
        join(handle)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short end-to-end run of both drivers: every number comes out positive (the kernel share
    /// at least 0) and the JSON names both drivers. Bounded to well under two seconds of traffic.
    #[test]
    fn a_short_run_reports_both_drivers() {
        let config = RuntimeBenchConfig {
            rounds: 1,
            warmup: Duration::from_millis(50),
            measure: Duration::from_millis(200),
            connections: 4,
            nops: 2_000,
            nop_tasks: 4,
            ..Default::default()
        };
        let report = run(&config).unwrap();
        assert_eq!(report.rounds.len(), 1);
        let metrics = report.metrics();
        assert_eq!(metrics.len(), 7);
        for m in &metrics {
            // The kernel share comes from utime/stime ticks (100 per second): over a 200 ms
            // window on a busy machine a thread can collect no kernel tick at all.
            let floor = if m.name == "server CPU in kernel" {
                0.0
            } else {
                f64::MIN_POSITIVE
            };
            assert!(m.uring.median >= floor && m.epoll.median >= 0.0, "{m:?}");
        }
        let json = report.to_json();
        assert!(json.contains("\"requested\":\"uring\""));
        assert!(json.contains("\"requested\":\"epoll\""));
        let text = report.to_string();
        assert!(
            text.contains("kernel") && text.contains("uring/epoll"),
            "{text}"
        );
    }
}
