//! One log line per rejected request, rate-limited per shard: a token bucket lets through at
//! most [`REJECT_LOG_BURST`] lines at once and [`REJECT_LOG_LINES_PER_SEC`] a second after that;
//! the lines held back are counted and reported by one "N more rejected requests suppressed"
//! line per [`REJECT_SUMMARY_INTERVAL_MS`] (from [`run_summary`]). Every rejection is counted in
//! the metrics whether or not its line is written.
//!
//! # Invariants
//! - At most `REJECT_LOG_BURST + REJECT_LOG_LINES_PER_SEC x seconds` rejection lines, plus one
//!   summary line per interval, per shard, whatever the request rate.
//! - Every rejection is either logged or counted in `suppressed` (and later reported).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::runtime::future::{select, Either};
use crate::shard::ShardState;

/// Rejection lines a shard writes per second once its burst is spent: enough to see what is
/// going on, few enough that a flood of bad requests cannot flood the log (or the disk under it).
pub const REJECT_LOG_LINES_PER_SEC: u64 = 10;
/// Rejection lines a shard may write at once after a quiet spell.
pub const REJECT_LOG_BURST: u64 = 10;
/// How often a shard reports the lines it held back.
pub const REJECT_SUMMARY_INTERVAL_MS: u64 = 10_000;

/// Why a request was refused before (or instead of) its handler; a label of
/// `ringlog_requests_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The size prefix is negative or over `request-bytes-max`.
    FrameSize,
    /// Fewer bytes than a request header's fixed part.
    HeaderTooShort,
    /// An api key ringlog does not serve.
    UnknownApi,
    /// A served API at a version ringlog does not serve.
    UnsupportedVersion,
    /// The header or body does not parse.
    Malformed,
    /// A started frame did not arrive within `frame-read-timeout-ms` (slowloris).
    FrameTimeout,
    /// A SASL login was refused (wrong password, unknown user, bad token): logged through the
    /// same bucket, so a password-guessing client cannot flood the log.
    AuthenticationFailed,
}

impl RejectReason {
    /// Number of reasons.
    pub const COUNT: usize = 7;
    /// Every reason, in label order.
    pub const ALL: [RejectReason; Self::COUNT] = [
        RejectReason::FrameSize,
        RejectReason::HeaderTooShort,
        RejectReason::UnknownApi,
        RejectReason::UnsupportedVersion,
        RejectReason::Malformed,
        RejectReason::FrameTimeout,
        RejectReason::AuthenticationFailed,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::FrameSize => "frame_size",
            RejectReason::HeaderTooShort => "header_too_short",
            RejectReason::UnknownApi => "unknown_api",
            RejectReason::UnsupportedVersion => "unsupported_version",
            RejectReason::Malformed => "malformed",
            RejectReason::FrameTimeout => "frame_timeout",
            RejectReason::AuthenticationFailed => "authentication_failed",
        }
    }

    /// The Kafka error code the rejection corresponds to (what a log reader searches for).
    pub fn error_name(self) -> &'static str {
        match self {
            RejectReason::UnsupportedVersion | RejectReason::UnknownApi => "UNSUPPORTED_VERSION",
            RejectReason::FrameSize | RejectReason::HeaderTooShort | RejectReason::Malformed => {
                "INVALID_REQUEST"
            }
            RejectReason::FrameTimeout => "REQUEST_TIMED_OUT",
            RejectReason::AuthenticationFailed => "SASL_AUTHENTICATION_FAILED",
        }
    }
}

/// A shard's token bucket for rejection lines (plain cells: one shard's).
pub struct RejectLog {
    /// Tokens in thousandths, so the refill needs no floating point.
    milli_tokens: Cell<u64>,
    refilled: Cell<Instant>,
    suppressed: Cell<u64>,
}

impl Default for RejectLog {
    fn default() -> Self {
        RejectLog::new()
    }
}

impl RejectLog {
    /// A full bucket.
    pub fn new() -> RejectLog {
        RejectLog {
            milli_tokens: Cell::new(REJECT_LOG_BURST * 1000),
            refilled: Cell::new(Instant::now()),
            suppressed: Cell::new(0),
        }
    }

    /// May a rejection line be written at `now`? `false` counts it as suppressed.
    pub fn admit(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled.get());
        let refill = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .saturating_mul(REJECT_LOG_LINES_PER_SEC)
            / 1000;
        if refill > 0 {
            self.milli_tokens
                .set((self.milli_tokens.get() + refill).min(REJECT_LOG_BURST * 1000));
            self.refilled.set(now);
        }
        if self.milli_tokens.get() >= 1000 {
            self.milli_tokens.set(self.milli_tokens.get() - 1000);
            true
        } else {
            self.suppressed.set(self.suppressed.get() + 1);
            false
        }
    }

    /// Lines held back since the last call (resets the count).
    pub fn take_suppressed(&self) -> u64 {
        self.suppressed.replace(0)
    }

    /// Log one rejected request (if the bucket allows) and count it in the metrics.
    pub fn reject(
        metrics: &super::ShardMetrics,
        reason: RejectReason,
        why: &dyn std::fmt::Display,
    ) {
        metrics.rejected(reason);
        if metrics.reject_log.admit(Instant::now()) {
            tracing::warn!(
                code = reason.error_name(),
                reason = reason.label(),
                "rejected request: {why}"
            );
        }
    }
}

/// Reports the rejection lines this shard held back, once per [`REJECT_SUMMARY_INTERVAL_MS`]
/// when there were any. Runs until the shard shuts down.
pub async fn run_summary(shard: Rc<ShardState>) {
    let every = Duration::from_millis(REJECT_SUMMARY_INTERVAL_MS);
    while !shard.shutting_down.get() {
        if let Either::Right(()) = select(
            crate::runtime::time::sleep(every),
            shard.shutdown.notified(),
        )
        .await
        {
            return;
        }
        let held_back = shard.metrics.reject_log.take_suppressed();
        if held_back > 0 {
            tracing::warn!(
                "shard {}: {held_back} more rejected requests suppressed in the last {} s \
                 (at most {REJECT_LOG_LINES_PER_SEC} lines/s are logged; \
                 ringlog_requests_rejected_total counts them all)",
                shard.id,
                REJECT_SUMMARY_INTERVAL_MS / 1000
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_lets_the_burst_through_then_the_rate() {
        let log = RejectLog::new();
        let t0 = log.refilled.get();
        let admitted = (0..1000).filter(|_| log.admit(t0)).count() as u64;
        assert_eq!(admitted, REJECT_LOG_BURST);
        assert_eq!(log.take_suppressed(), 1000 - REJECT_LOG_BURST);
        assert_eq!(log.take_suppressed(), 0, "taking resets");
        // 10 s of a flood, one attempt per ms: the rate, and nothing more.
        let mut admitted = 0u64;
        for ms in 1..=10_000u64 {
            if log.admit(t0 + Duration::from_millis(ms)) {
                admitted += 1;
            }
        }
        assert!(
            admitted <= REJECT_LOG_LINES_PER_SEC * 10 + 1,
            "{admitted} lines in 10 s"
        );
        assert!(admitted >= REJECT_LOG_LINES_PER_SEC * 10 - 1, "{admitted}");
        assert_eq!(log.take_suppressed(), 10_000 - admitted);
        // A quiet spell refills the burst, never beyond it.
        let later = t0 + Duration::from_secs(3600);
        let admitted = (0..100).filter(|_| log.admit(later)).count() as u64;
        assert_eq!(admitted, REJECT_LOG_BURST);
    }

    #[test]
    fn clock_going_backwards_admits_nothing_extra() {
        let log = RejectLog::new();
        let t0 = log.refilled.get();
        for _ in 0..REJECT_LOG_BURST {
            assert!(log.admit(t0));
        }
        assert!(!log.admit(t0 - Duration::from_millis(1).min(t0.elapsed())));
    }

    #[test]
    fn every_reason_has_a_distinct_label() {
        let labels: std::collections::HashSet<_> =
            RejectReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), RejectReason::COUNT);
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "ALL is in discriminant order");
        }
    }
}
