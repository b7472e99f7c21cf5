//! What the runtime benchmark runs: rounds, windows, connections, message size, NOPs; the CPUs
//! it pins to, and the limit of every knob.

use std::time::Duration;

use ringlog_runtime::IoKind;

/// The drivers compared, in the order each round runs them; the first is the one under test,
/// the second the baseline of the ratios.
pub const DRIVERS: [IoKind; 2] = [IoKind::Uring, IoKind::Epoll];

/// CPU the server shard (and the NOP shard) is pinned to.
pub const SERVER_CPU: usize = 0;
/// CPU the client shard is pinned to: a different core from the server, so the server thread's
/// CPU time is its own and the client never steals its core (needs 2 CPUs; with 1 both share).
pub const CLIENT_CPU: usize = 1;

/// Default rounds: 5 gives a median that one disturbed round cannot move.
pub const ROUNDS_DEFAULT: usize = 5;
/// Upper bound on rounds (each round takes ~2 x (warm-up + measure) seconds).
pub const ROUNDS_MAX: usize = 100;
/// Default measured window per ping-pong run.
pub const MEASURE_MS_DEFAULT: u64 = 5_000;
/// Default warm-up before the window: long enough for connections, caches and the CPU
/// frequency to settle.
pub const WARMUP_MS_DEFAULT: u64 = 1_000;
/// Upper bound on warm-up and on the measured window, each.
pub const PHASE_MS_MAX: u64 = 600_000;
/// Default concurrent connections, each with one message in flight.
pub const CONNECTIONS_DEFAULT: usize = 64;
/// Upper bound on connections: every connection is two sockets in this process and a slot in
/// each shard's slab (16 Ki by default), and the listen backlog is 1024.
pub const CONNECTIONS_MAX: usize = 1_024;
/// Default message size: a small request, where per-request driver overhead dominates.
pub const MESSAGE_BYTES_DEFAULT: usize = 64;
/// Upper bound on the message size: one socket buffer's worth, so a message is one send.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Default NOPs per NOP run: about a second of sequential round trips.
pub const NOPS_DEFAULT: u64 = 1_000_000;
/// Upper bound on NOPs per run.
pub const NOPS_MAX: u64 = 100_000_000;
/// Default concurrent tasks of the batched NOP run: enough NOPs per `io_uring_enter` to amortise
/// it, far below the SQ size (1024) so no submission is forced by a full SQ.
pub const NOP_TASKS_DEFAULT: usize = 32;
/// Upper bound on concurrent NOP tasks (the SQ has 1024 entries).
pub const NOP_TASKS_MAX: usize = 1_024;
/// How long either side waits for the other to come up (bind, connect, accept, the schedule)
/// and, at the end, for connections to drain.
pub const SETUP_TIMEOUT_MS: u64 = 10_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct RuntimeBenchConfig {
    /// Rounds; each runs every measurement once per driver.
    pub rounds: usize,
    /// Ping-pong warm-up before the measured window.
    pub warmup: Duration,
    /// Ping-pong measured window.
    pub measure: Duration,
    /// Ping-pong connections.
    pub connections: usize,
    /// Ping-pong message size in bytes.
    pub message_bytes: usize,
    /// NOPs per NOP run (0 skips the NOP measurement).
    pub nops: u64,
    /// Concurrent tasks of the batched NOP run.
    pub nop_tasks: usize,
}

impl Default for RuntimeBenchConfig {
    fn default() -> Self {
        RuntimeBenchConfig {
            rounds: ROUNDS_DEFAULT,
            warmup: Duration::from_millis(WARMUP_MS_DEFAULT),
            measure: Duration::from_millis(MEASURE_MS_DEFAULT),
            connections: CONNECTIONS_DEFAULT,
            message_bytes: MESSAGE_BYTES_DEFAULT,
            nops: NOPS_DEFAULT,
            nop_tasks: NOP_TASKS_DEFAULT,
        }
    }
}

impl RuntimeBenchConfig {
    /// Check every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        let phase_max = Duration::from_millis(PHASE_MS_MAX);
        let checks = [
            (
                (1..=ROUNDS_MAX).contains(&self.rounds),
                format!("rounds must be 1..={ROUNDS_MAX}"),
            ),
            (
                self.warmup <= phase_max,
                format!("warm-up must be at most {PHASE_MS_MAX} ms"),
            ),
            (
                !self.measure.is_zero() && self.measure <= phase_max,
                format!("the measured window must be >0 and at most {PHASE_MS_MAX} ms"),
            ),
            (
                (1..=CONNECTIONS_MAX).contains(&self.connections),
                format!("connections must be 1..={CONNECTIONS_MAX}"),
            ),
            (
                (1..=MESSAGE_BYTES_MAX).contains(&self.message_bytes),
                format!("message size must be 1..={MESSAGE_BYTES_MAX} bytes"),
            ),
            (
                self.nops <= NOPS_MAX,
                format!("nops must be at most {NOPS_MAX}"),
            ),
            (
                (1..=NOP_TASKS_MAX).contains(&self.nop_tasks),
                format!("nop tasks must be 1..={NOP_TASKS_MAX}"),
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_limits_are_enforced() {
        assert!(RuntimeBenchConfig::default().validate().is_ok());
        let bad = [
            RuntimeBenchConfig {
                rounds: 0,
                ..Default::default()
            },
            RuntimeBenchConfig {
                connections: CONNECTIONS_MAX + 1,
                ..Default::default()
            },
            RuntimeBenchConfig {
                measure: Duration::ZERO,
                ..Default::default()
            },
            RuntimeBenchConfig {
                nop_tasks: 0,
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
