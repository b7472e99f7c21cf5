//! Quota enforcement on one shard: Kafka's windowed rate ([`Rate`], its `Rate` over a
//! `SampledStat` with `quota.window.num` = 11 samples of `quota.window.size.seconds` = 1), the
//! throttle time of a rate over its bound (KIP-13/KIP-219:
//! `(rate - bound) / bound * window`, not bounded by the window, as in Kafka 4.4), the shard's bounded set of
//! sensors ([`Tracker`]) and a connection's cached view of which quotas apply to it
//! ([`ConnQuotas`]).
//!
//! Across shards ([`share_usage`]): a shard measures the requests of the connections it serves
//! and, every [`SHARE_INTERVAL_MS`], hands what it recorded since the last time to every other
//! shard, which adds it to its own sensors (never throttling on it). So each shard's rate of a
//! sensor is the whole broker's, at most one interval stale: a user whose connections the
//! kernel spread over several shards is held to one quota, as on one Kafka broker, give or take
//! what the other shards recorded in the last interval (the README's "Quotas").
//!
//! # Invariants
//! - A rate's samples are at most [`SAMPLES`], each [`SAMPLE_WINDOW_MS`] long; a throttle time
//!   is at most [`THROTTLE_MS_MAX`] (the wire's i32).
//! - A tracker holds at most [`SENSORS_MAX`] sensors: a new one first evicts the idle ones (no
//!   record for a whole window: they would measure 0 anyway), else the least recently used
//!   eighth.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{Measured, QuotaIndex, Resolved, SensorKey};

/// Samples of a rate (Kafka's `quota.window.num` default).
pub const SAMPLES: usize = 11;
/// Length of one sample (Kafka's `quota.window.size.seconds` default, in ms).
pub const SAMPLE_WINDOW_MS: u64 = 1_000;
/// The whole window a rate is taken over (ms): a sample older than this is gone, and a sensor
/// idle for this long measures 0.
pub const WINDOW_MS: u64 = SAMPLES as u64 * SAMPLE_WINDOW_MS;
/// Longest throttle time: what the wire's i32 holds. Kafka 4.4 does not bound a client quota's
/// throttle time by the window (measured: with a 100 B/s quota it answered a 16 KiB Produce
/// with 165,072 ms), so neither does ringlog.
pub const THROTTLE_MS_MAX: u64 = i32::MAX as u64;
/// How often a shard hands its recorded usage to the other shards (ms): small next to the 1 s
/// samples, so a rate is at most a tenth of a sample stale; an idle broker sends nothing.
pub const SHARE_INTERVAL_MS: u64 = 100;
/// Most sensors a shard tracks: one per (rate, user, client id) with a quota that is in use.
/// 10,000 x ~300 bytes is a few MiB at most, whatever clients send as client ids.
pub const SENSORS_MAX: usize = 10_000;

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    start_ms: u64,
    value: f64,
}

/// Kafka's windowed rate: the sum of the samples over the time they span (at least
/// `SAMPLES - 1` whole windows, so a new rate does not start at infinity).
#[derive(Clone, Debug, Default)]
pub struct Rate {
    samples: [Sample; SAMPLES],
    /// Samples in use (they are added one by one, then reused round-robin).
    used: usize,
    current: usize,
}

impl Rate {
    /// Adds `value` at `now_ms` (a new sample once the current one is a window old).
    pub fn record(&mut self, value: f64, now_ms: u64) {
        if self.used == 0 {
            self.samples[0] = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
            self.used = 1;
            self.current = 0;
        }
        if now_ms.saturating_sub(self.samples[self.current].start_ms) >= SAMPLE_WINDOW_MS {
            self.current = (self.current + 1) % SAMPLES;
            if self.current >= self.used {
                self.used += 1;
            }
            self.samples[self.current] = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
        }
        debug_assert!(self.used <= SAMPLES && self.current < self.used);
        self.samples[self.current].value += value;
    }

    /// Resets the samples that ended a whole window ago.
    fn purge(&mut self, now_ms: u64) {
        for s in &mut self.samples[..self.used] {
            if now_ms.saturating_sub(s.start_ms) >= WINDOW_MS {
                *s = Sample {
                    start_ms: now_ms,
                    value: 0.0,
                };
            }
        }
    }

    /// The time the rate is taken over (ms), as Kafka's `Rate.windowSize`.
    pub fn window_ms(&mut self, now_ms: u64) -> u64 {
        self.purge(now_ms);
        let oldest = self.samples[..self.used]
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full = elapsed / SAMPLE_WINDOW_MS;
        let min_full = SAMPLES as u64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * SAMPLE_WINDOW_MS;
        }
        elapsed.max(1)
    }

    /// The rate per second at `now_ms`.
    pub fn measure(&mut self, now_ms: u64) -> f64 {
        let window = self.window_ms(now_ms);
        let total: f64 = self.samples[..self.used].iter().map(|s| s.value).sum();
        total / (window as f64 / 1_000.0)
    }

    /// How long (ms) a client must hold off for the rate to come back to `bound`.
    pub fn throttle_ms(&mut self, bound: f64, now_ms: u64) -> u64 {
        let rate = self.measure(now_ms);
        if rate <= bound || bound <= 0.0 {
            return 0;
        }
        let window = self.window_ms(now_ms) as f64;
        (((rate - bound) / bound) * window)
            .round()
            .min(THROTTLE_MS_MAX as f64) as u64
    }
}

struct Sensor {
    rate: Rate,
    last_ms: u64,
}

/// The sensors of one shard.
pub struct Tracker {
    epoch: Instant,
    sensors: HashMap<SensorKey, Sensor>,
    /// Recorded here since the last hand-off to the other shards (only while
    /// [`share_usage`] runs; at most [`SENSORS_MAX`] keys).
    unshared: HashMap<SensorKey, f64>,
    shared: bool,
    /// A sensor's unshared usage reached what its quota allows in one interval: hand it over
    /// now rather than at the next tick (a burst would otherwise get a whole window's
    /// allowance on every shard before they hear of each other).
    urgent: bool,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            epoch: Instant::now(),
            sensors: HashMap::new(),
            unshared: HashMap::new(),
            shared: false,
            urgent: false,
        }
    }
}

impl Tracker {
    /// Milliseconds since the tracker started (its clock).
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Records `value` against the quota `resolved` at `now_ms`; the throttle time (ms).
    pub fn record(&mut self, resolved: &Resolved, value: f64, now_ms: u64) -> u64 {
        let unshared = self.note_unshared(&resolved.sensor, value);
        if unshared >= resolved.bound * SHARE_INTERVAL_MS as f64 / 1_000.0 {
            self.urgent = true;
        }
        self.sensor(&resolved.sensor, now_ms)
            .rate
            .record(value, now_ms);
        let sensor = self
            .sensors
            .get_mut(&resolved.sensor)
            .expect("sensor() inserted it");
        sensor.rate.throttle_ms(resolved.bound, now_ms)
    }

    /// Adds what another shard recorded (no throttle: that shard throttles its connections).
    pub fn record_remote(&mut self, usage: &[(SensorKey, f64)], now_ms: u64) {
        for (key, value) in usage {
            self.sensor(key, now_ms).rate.record(*value, now_ms);
        }
    }

    /// What was recorded here since the last call, to hand to the other shards.
    pub fn take_unshared(&mut self) -> Vec<(SensorKey, f64)> {
        self.unshared.drain().filter(|(_, v)| *v != 0.0).collect()
    }

    /// Whether usage should be handed over before the next tick (and clears the flag).
    pub fn take_urgent(&mut self) -> bool {
        std::mem::take(&mut self.urgent)
    }

    /// Adds `value` to what is handed over next; the key's total so far.
    fn note_unshared(&mut self, key: &SensorKey, value: f64) -> f64 {
        if !self.shared {
            return 0.0;
        }
        if let Some(v) = self.unshared.get_mut(key) {
            *v += value;
            *v
        } else if self.unshared.len() < SENSORS_MAX {
            self.unshared.insert(key.clone(), value);
            value
        } else {
            0.0
        }
    }

    /// The sensor of `key` (made, within the bound, if it is new), marked used at `now_ms`.
    fn sensor(&mut self, key: &SensorKey, now_ms: u64) -> &mut Sensor {
        if !self.sensors.contains_key(key) {
            self.make_room(now_ms);
            self.sensors.insert(
                key.clone(),
                Sensor {
                    rate: Rate::default(),
                    last_ms: now_ms,
                },
            );
        }
        let sensor = self.sensors.get_mut(key).expect("inserted above");
        sensor.last_ms = now_ms;
        sensor
    }

    /// Takes back `value` recorded for a response that was not sent (a throttled Fetch's).
    pub fn unrecord(&mut self, resolved: &Resolved, value: f64, now_ms: u64) {
        if let Some(sensor) = self.sensors.get_mut(&resolved.sensor) {
            sensor.rate.record(-value, now_ms);
            self.note_unshared(&resolved.sensor, -value);
        }
    }

    /// Sensors tracked now.
    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    /// Whether no sensor is tracked.
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    fn make_room(&mut self, now_ms: u64) {
        if self.sensors.len() < SENSORS_MAX {
            return;
        }
        self.sensors
            .retain(|_, s| now_ms.saturating_sub(s.last_ms) < WINDOW_MS);
        if self.sensors.len() < SENSORS_MAX {
            return;
        }
        // All in use: drop the least recently used eighth (amortized, one scan per eighth).
        let mut last: Vec<u64> = self.sensors.values().map(|s| s.last_ms).collect();
        let cut = SENSORS_MAX / 8;
        let (_, threshold, _) = last.select_nth_unstable(cut);
        let threshold = *threshold;
        self.sensors.retain(|_, s| s.last_ms > threshold);
        debug_assert!(self.sensors.len() < SENSORS_MAX);
    }
}

/// What a connection knows of the quotas that apply to it: resolved once per (index version,
/// user, client id), so a request costs a hash lookup, not eight.
#[derive(Default)]
pub struct ConnQuotas {
    cache: RefCell<Option<Cache>>,
}

struct Cache {
    version: u64,
    user: String,
    client_id: String,
    resolved: [Option<Resolved>; 3],
}

fn slot(measured: Measured) -> usize {
    match measured {
        Measured::Produce => 0,
        Measured::Fetch => 1,
        Measured::Request => 2,
    }
}

impl ConnQuotas {
    /// The quota of `measured` for this connection's `user` and `client_id` under `index`.
    pub fn resolve(
        &self,
        index: &QuotaIndex,
        user: &str,
        client_id: &str,
        measured: Measured,
    ) -> Option<Resolved> {
        if !index.enforced() {
            return None;
        }
        let mut cache = self.cache.borrow_mut();
        let fresh = cache.as_ref().is_some_and(|c| {
            c.version == index.version && c.user == user && c.client_id == client_id
        });
        if !fresh {
            *cache = Some(Cache {
                version: index.version,
                user: user.to_string(),
                client_id: client_id.to_string(),
                resolved: Measured::ALL.map(|m| index.resolve(m, user, client_id)),
            });
        }
        cache
            .as_ref()
            .and_then(|c| c.resolved[slot(measured)].clone())
    }
}

/// One request's view of the quotas that apply to its connection: built only while some
/// enforced quota exists ([`Enforcer::of`]).
pub struct Enforcer<'a> {
    shard: &'a crate::shard::ShardState,
    conn: &'a ConnQuotas,
    index: std::sync::Arc<QuotaIndex>,
    user: String,
    client_id: &'a str,
    /// The largest throttle time recorded through this enforcer.
    throttled: std::cell::Cell<u64>,
}

impl<'a> Enforcer<'a> {
    /// The enforcer of a request from `user` (the principal's name) with `client_id`, or
    /// `None` when no enforced quota exists at all (`user` is not even asked for then).
    pub fn of(
        shard: &'a crate::shard::ShardState,
        conn: &'a ConnQuotas,
        user: impl FnOnce() -> String,
        client_id: Option<&'a str>,
    ) -> Option<Enforcer<'a>> {
        // The common case, no quota at all, costs a flag check (no Arc clone, no principal).
        if !shard.quotas.enforced() {
            return None;
        }
        let index = shard.quotas.index();
        Some(Enforcer {
            shard,
            conn,
            index,
            user: user(),
            client_id: client_id.unwrap_or(""),
            throttled: std::cell::Cell::new(0),
        })
    }

    fn resolve(&self, measured: Measured) -> Option<Resolved> {
        self.conn
            .resolve(&self.index, &self.user, self.client_id, measured)
    }

    /// Records `value` of `measured`; the throttle time (ms), 0 without a quota.
    pub fn record(&self, measured: Measured, value: f64) -> u64 {
        let Some(resolved) = self.resolve(measured) else {
            return 0;
        };
        let mut tracker = self.shard.quotas.tracker.borrow_mut();
        let now = tracker.now_ms();
        let ms = tracker.record(&resolved, value, now);
        if tracker.take_urgent() {
            self.shard.quotas.share_now.notify_waiters();
        }
        self.throttled.set(self.throttled.get().max(ms));
        ms
    }

    /// The largest throttle time recorded so far.
    pub fn throttled_ms(&self) -> u64 {
        self.throttled.get()
    }

    /// Takes back `value` of `measured` (a response that was not sent after all).
    pub fn unrecord(&self, measured: Measured, value: f64) {
        if let Some(resolved) = self.resolve(measured) {
            let mut tracker = self.shard.quotas.tracker.borrow_mut();
            let now = tracker.now_ms();
            tracker.unrecord(&resolved, value, now);
        }
    }
}

/// Kafka's `nanosToPercentage`: request time as percent-seconds of one thread.
pub fn time_as_percentage(spent: Duration) -> f64 {
    spent.as_secs_f64() * 100.0
}

/// Sets `throttle_time_ms` of a response (every response that has the field: all but the SASL
/// ones).
pub fn set_throttle_time(resp: &mut crate::protocol::Response, ms: i32) {
    macro_rules! set {
        ($($api:ident),*) => {
            match resp {
                $(crate::protocol::Response::$api(r) => r.throttle_time_ms = ms,)*
                _ => {}
            }
        };
    }
    set!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        InitProducerId,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        DeleteGroups,
        OffsetDelete,
        ShareGroupHeartbeat,
        ShareGroupDescribe,
        ShareFetch,
        ShareAcknowledge,
        DescribeConfigs,
        IncrementalAlterConfigs,
        AlterConfigs,
        CreatePartitions,
        DescribeShareGroupOffsets,
        AlterShareGroupOffsets,
        DeleteShareGroupOffsets,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeCluster,
        DescribeProducers,
        DescribeTransactions,
        ListTransactions,
        DeleteRecords,
        DescribeLogDirs,
        DescribeTopicPartitions,
        DescribeAcls,
        CreateAcls,
        DeleteAcls,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
        DescribeClientQuotas,
        AlterClientQuotas,
        DescribeDelays,
        DescribeShareState,
        DescribeViews
    );
}

/// Whether requests of `api` count against request quotas: not the ones a client needs
/// before it can do anything (Kafka exempts them too).
pub fn request_quota_applies(api: crate::protocol::ApiKey) -> bool {
    use crate::protocol::ApiKey;
    !matches!(
        api,
        ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
    )
}

/// Runs on every shard of a broker with more than one (until shutdown): every
/// [`SHARE_INTERVAL_MS`], or at once when a sensor's usage reached what its quota allows in
/// one interval, hands what this shard recorded since the last time to every other shard
/// (nothing when nothing was recorded). One hand-off at a time.
pub async fn share_usage(shard: std::rc::Rc<crate::shard::ShardState>) {
    use crate::runtime::future::{select, Either};
    shard.quotas.tracker.borrow_mut().shared = true;
    loop {
        let tick = crate::runtime::time::sleep(Duration::from_millis(SHARE_INTERVAL_MS));
        let woken = select(tick, shard.quotas.share_now.notified());
        if let Either::Right(()) = select(woken, shard.shutdown.notified()).await {
            return;
        }
        if shard.shutting_down.get() {
            return;
        }
        let usage = shard.quotas.tracker.borrow_mut().take_unshared();
        if usage.is_empty() {
            continue;
        }
        let usage = std::sync::Arc::new(usage);
        let deliveries: Vec<_> = (0..shard.count)
            .filter(|target| *target != shard.id)
            .map(|target| {
                let usage = usage.clone();
                shard.call(target, move |s| async move {
                    let mut tracker = s.quotas.tracker.borrow_mut();
                    let now = tracker.now_ms();
                    tracker.record_remote(&usage, now);
                })
            })
            .collect();
        crate::runtime::future::join_all(deliveries).await;
    }
}

/// Whether a client of `api` at `version` holds off by itself after a response with a throttle
/// time (KIP-219): then the broker answers at once and mutes the connection; for older versions
/// it delays the response instead (Kafka's `shouldClientThrottle`).
pub fn client_throttles(api: crate::protocol::ApiKey, version: i16) -> bool {
    use crate::protocol::ApiKey;
    match api {
        ApiKey::Produce => version >= 6,
        ApiKey::Fetch => version >= 8,
        ApiKey::Metadata => version >= 6,
        ApiKey::ListOffsets | ApiKey::OffsetFetch => version >= 4,
        ApiKey::OffsetCommit => version >= 4,
        _ => true,
    }
}

/// A future that adds the time spent in its polls to `spent`: the time a request took on the
/// shard's thread, its waits (other shards, long polls, the disk) left out. Takes an `Unpin`
/// future (callers box theirs), so no pin projection is needed.
pub struct PollTimed<'a, F> {
    inner: F,
    spent: &'a std::cell::Cell<Duration>,
}

impl<'a, F: Future + Unpin> PollTimed<'a, F> {
    /// Wraps `inner`.
    pub fn new(inner: F, spent: &'a std::cell::Cell<Duration>) -> Self {
        PollTimed { inner, spent }
    }
}

impl<F: Future + Unpin> Future for PollTimed<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let out = Pin::new(&mut self.inner).poll(cx);
        self.spent.set(self.spent.get() + started.elapsed());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_rate_spreads_over_the_minimum_window() {
        let mut r = Rate::default();
        r.record(10_000.0, 0);
        // 10 whole windows at least: 10,000 bytes over 10 s.
        assert_eq!(r.window_ms(0), 10_000);
        assert_eq!(r.measure(0), 1_000.0);
        assert_eq!(r.throttle_ms(1_000.0, 0), 0);
        r.record(10_000.0, 500);
        // 20,000 over 10.5 s: 1904.8/s against 1,000 -> (0.9048) * 10.5 s.
        assert_eq!(r.throttle_ms(1_000.0, 500), 9_500);
    }

    #[test]
    fn samples_roll_and_expire() {
        let mut r = Rate::default();
        for s in 0..30u64 {
            r.record(1_000.0, s * 1_000);
        }
        // 11 samples of 1,000 over the 10 s they span (oldest starts at 19 s, now 29 s).
        assert_eq!(r.window_ms(29_000), 10_000);
        assert_eq!(r.measure(29_000), 1_100.0);
        // A whole window later every sample is gone.
        assert_eq!(r.measure(29_000 + WINDOW_MS), 0.0);
    }

    #[test]
    fn throttle_is_not_bounded_by_the_window_but_by_the_wire() {
        let mut r = Rate::default();
        // A 100 B/s quota and one 16,513-byte request: 155 s (Kafka 4.4 answered 165,072 ms to
        // such a request, its sensor also holding a few other small requests).
        r.record(16_513.0, 0);
        assert_eq!(r.throttle_ms(100.0, 0), 155_130);
        r.record(1e12, 0);
        assert_eq!(r.throttle_ms(1.0, 0), THROTTLE_MS_MAX);
    }

    fn key(i: usize) -> Resolved {
        Resolved {
            bound: 1e9,
            sensor: SensorKey {
                measured: Measured::Produce,
                user: format!("u{i}").into(),
                client_id: "".into(),
            },
        }
    }

    #[test]
    fn usage_handed_over_counts_on_the_other_shard() {
        let (mut a, mut b) = (Tracker::default(), Tracker::default());
        a.shared = true;
        b.shared = true;
        let q = Resolved {
            bound: 1_000.0,
            ..key(0)
        };
        // Each shard alone stays under the quota: 6,000 over the 10 s window is 600/s.
        assert_eq!(a.record(&q, 6_000.0, 0), 0);
        assert_eq!(b.record(&q, 6_000.0, 0), 0);
        let from_a = a.take_unshared();
        assert_eq!(from_a, vec![(q.sensor.clone(), 6_000.0)]);
        assert!(a.take_unshared().is_empty(), "handed over once");
        b.record_remote(&from_a, 50);
        // Together they are over it: b throttles its next request.
        assert!(b.record(&q, 1.0, 60) > 0);
        // What was handed over is not handed back.
        assert_eq!(b.take_unshared(), vec![(q.sensor.clone(), 6_001.0)]);
        // Without sharing, nothing is kept for the others.
        let mut lone = Tracker::default();
        lone.record(&q, 1.0, 0);
        assert!(lone.take_unshared().is_empty());
    }

    #[test]
    fn sensors_are_bounded_idle_ones_go_first() {
        let mut t = Tracker::default();
        for i in 0..SENSORS_MAX {
            t.record(&key(i), 1.0, 0);
        }
        assert_eq!(t.len(), SENSORS_MAX);
        // All busy: a new one evicts the least recently used eighth, never grows the set.
        t.record(&key(0), 1.0, 5);
        t.record(&key(SENSORS_MAX), 1.0, 10);
        assert!(t.len() <= SENSORS_MAX);
        assert!(
            t.sensors.contains_key(&key(0).sensor),
            "recently used one kept"
        );
        assert!(t.sensors.contains_key(&key(SENSORS_MAX).sensor));
        // A whole window later they are idle: a new one clears them all.
        for i in 0..(SENSORS_MAX * 2) {
            t.record(&key(SENSORS_MAX + 1 + i), 1.0, 20_000 + i as u64);
            assert!(t.len() <= SENSORS_MAX);
        }
        assert!(!t.sensors.contains_key(&key(0).sensor));
    }
}
