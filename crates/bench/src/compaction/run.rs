//! Running `bench compaction`: part 1 cleans a fresh log per codec and round on this thread;
//! part 2 starts one broker in this process (one shard) and alternates, per round, a fill of
//! the dirty topic, a baseline window and a compaction window, while the measured producer runs
//! throughout on a thread of its own.
//!
//! ```text
//!  part 2, per round:  fill dirty (policy delete) | settle | baseline T | alter compact,
//!                      wait for the pass (scrape every 100 ms) | alter delete
//!  producer:          ─── one request every interval, from the first round to the last ───
//! ```
//!
//! # Invariants
//! - Every log directory and the broker's data directory are removed when the run ends, also
//!   on errors; the broker and the producer are stopped before the run returns.
//! - Windows never overlap and each compaction window starts right after its alter, so the
//!   requests scheduled in it met a cleaner that had a pass to run.
//! - A failed part is recorded and the run goes on with the next one; part 2's windows that
//!   completed before a failure are still reported.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::clients::{self, admin, Filled, Producer, DIRTY_TOPIC};
use super::config::*;
use super::measure::{CompactionReport, RateRun, Window, WindowKind};
use super::metrics::CleanerCounters;
use super::stats::{latencies_in, worst_round_trip, Latencies, Span};
use crate::load::compare::{data_root_in, DirGuard};
use crate::load::LoadError;
use crate::machine::loadavg;
use crate::Machine;
use ringlog_runtime::RuntimeConfig;
use ringlog_storage::compact::measure::compaction_rate;
use ringlog_storage::records::Compression;

/// Run the benchmark.
pub fn run(config: &CompactionBenchConfig) -> Result<CompactionReport, LoadError> {
    config.validate().map_err(LoadError)?;
    let started = Instant::now();
    let root = data_root_in(&config.base_dir, "compaction")?;
    let _guard = DirGuard(root.clone());
    let machine = Machine::current();
    say(
        config,
        &format!(
            "{} CPUs, {}, kernel {}",
            machine.cpus, machine.cpu_model, machine.kernel
        ),
    );
    let mut report = CompactionReport {
        machine,
        loadavg: [loadavg(), String::new()],
        config: config.clone(),
        rate: Vec::new(),
        windows: Vec::new(),
        dropped_samples: 0,
        failures: Vec::new(),
        wall_seconds: 0.0,
    };
    for &part in &config.parts {
        match part {
            Part::Rate => {
                for round in 1..=config.rounds {
                    for &codec in &config.codecs {
                        match rate_once(config, &root, codec, round) {
                            Ok(r) => report.rate.push(r),
                            Err(e) => {
                                let what = format!("part 1, {codec}, round {round}");
                                say(config, &format!("{what} failed: {e}"));
                                report.failures.push(format!("{what}: {e}"));
                            }
                        }
                    }
                }
            }
            Part::Latency => {
                let (windows, dropped, failure) = latency_part(config, &root);
                report.windows = windows;
                report.dropped_samples = dropped;
                if let Some(e) = failure {
                    say(config, &format!("part 2 failed: {e}"));
                    report.failures.push(format!("part 2: {e}"));
                }
            }
        }
    }
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.loadavg[1] = loadavg();
    if let Some(out) = &config.out_dir {
        let md = report.write_files(out)?;
        say(config, &format!("wrote {}", md.display()));
    }
    Ok(report)
}

fn say(c: &CompactionBenchConfig, what: &str) {
    if c.progress {
        eprintln!("bench compaction: {what}");
    }
}

/// Part 1, one clean: a fresh log of `codec` batches in its own directory under `root`,
/// filled and cleaned on this thread, then removed.
fn rate_once(
    c: &CompactionBenchConfig,
    root: &Path,
    codec: Compression,
    round: usize,
) -> Result<RateRun, LoadError> {
    say(
        c,
        &format!(
            "part 1, round {round}/{}: {codec}, {} MiB",
            c.rounds,
            c.input_bytes >> 20
        ),
    );
    let dir = root.join(format!("rate-{codec}-{round}"));
    std::fs::create_dir_all(&dir)
        .map_err(|e| LoadError(format!("creating {}: {e}", dir.display())))?;
    let started = Instant::now();
    let r = ringlog_runtime::block_on(
        &RuntimeConfig::single(c.io),
        compaction_rate(&dir, c.input_bytes, c.rate_keys, c.rate_value_bytes, codec),
    );
    let call_seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let r = r?.map_err(|e| LoadError(format!("compaction_rate of {codec} batches: {e}")))?;
    if r.stats.segments_read == 0 {
        return Err(LoadError(format!(
            "compaction_rate of {codec} batches cleaned nothing"
        )));
    }
    Ok(RateRun {
        codec,
        round,
        input_bytes: r.input_bytes,
        output_bytes: r.output_bytes,
        read_bytes: r.stats.bytes_read,
        records_removed: r.stats.records_removed,
        busy_seconds: r.stats.busy.as_secs_f64(),
        elapsed_seconds: r.stats.elapsed.as_secs_f64(),
        call_seconds,
    })
}

/// A window as the coordinator saw it (its latencies come from the producer's samples once it
/// stopped).
#[derive(Clone, Debug)]
struct Mark {
    round: usize,
    kind: WindowKind,
    span: Span,
    cleaner: CleanerCounters,
    dirty_bytes_before: f64,
    finished: bool,
    fill: Option<Filled>,
}

/// Part 2: the broker, the producer and the rounds; returns the windows that completed, the
/// samples dropped, and why the part stopped early (if it did).
fn latency_part(c: &CompactionBenchConfig, root: &Path) -> (Vec<Window>, u64, Option<LoadError>) {
    let dir = root.join("broker");
    let config = ringlog_broker::BrokerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.clone(),
        cores: BROKER_CORES,
        io: c.io,
        segment_bytes: c.segment_bytes,
        default_partitions: Some(1),
        metrics: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..Default::default()
    };
    let config = match ringlog_broker::config::parse_flush(&c.flush) {
        Ok(flush) => ringlog_broker::BrokerConfig { flush, ..config },
        Err(e) => return (Vec::new(), 0, Some(LoadError(e))),
    };
    say(c, "part 2: starting the broker (1 shard, in this process)");
    let broker = match ringlog_broker::Broker::start(config) {
        Ok(b) => b,
        Err(e) => {
            return (
                Vec::new(),
                0,
                Some(LoadError(format!("starting the broker: {e}"))),
            )
        }
    };
    let (addr, metrics) = (broker.local_addr(), broker.metrics_addr());
    let epoch = Instant::now();
    let mut marks = Vec::new();
    let mut failure = None;
    let mut produced = None;
    match metrics.ok_or_else(|| LoadError("the broker serves no metrics".into())) {
        Err(e) => failure = Some(e),
        Ok(metrics) => {
            let setup = admin(addr, async |conn| clients::create_topics(conn).await)
                .and_then(|()| clients::dirty_batches(c.dirty_keys, c.dirty_codec))
                .and_then(|batches| {
                    Producer::start(addr, c, epoch).map(|producer| (batches, producer))
                });
            match setup {
                Err(e) => failure = Some(e),
                Ok((batches, producer)) => {
                    let rounds = Rounds {
                        c,
                        addr,
                        metrics,
                        epoch,
                        batches,
                    };
                    if let Err(e) = rounds.run(&mut marks) {
                        failure = Some(e);
                    }
                    match producer.stop() {
                        Ok(p) => produced = Some(p),
                        Err(e) => failure = failure.or(Some(e)),
                    }
                }
            }
        }
    }
    broker.shutdown();
    if let Err(e) = broker.join() {
        failure = failure.or(Some(LoadError(format!("stopping the broker: {e}"))));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let Some(produced) = produced else {
        return (Vec::new(), 0, failure);
    };
    let windows = marks
        .into_iter()
        .map(|m| Window {
            round: m.round,
            kind: m.kind,
            span: m.span,
            latency: Latencies::of(&latencies_in(&produced.samples, m.span, |s| s.latency_us)),
            round_trip: Latencies::of(&latencies_in(&produced.samples, m.span, |s| {
                s.round_trip_us
            })),
            worst_at_s: worst_round_trip(&produced.samples, m.span).map(|(_, at)| at),
            cleaner: m.cleaner,
            dirty_bytes_before: m.dirty_bytes_before,
            finished: m.finished,
            fill: m.fill,
        })
        .collect();
    (windows, produced.dropped, failure)
}

/// Part 2's rounds against a running broker and producer.
struct Rounds<'a> {
    c: &'a CompactionBenchConfig,
    addr: SocketAddr,
    metrics: SocketAddr,
    epoch: Instant,
    batches: Vec<Bytes>,
}

impl Rounds<'_> {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn scrape(&self) -> Result<CleanerCounters, LoadError> {
        CleanerCounters::scrape(self.metrics, DIRTY_TOPIC, 0)
    }

    fn run(&self, marks: &mut Vec<Mark>) -> Result<(), LoadError> {
        let c = self.c;
        for round in 1..=c.rounds {
            say(
                c,
                &format!(
                    "part 2, round {round}/{}: filling {DIRTY_TOPIC} with {} MiB of {} batches",
                    c.rounds,
                    c.dirty_bytes >> 20,
                    c.dirty_codec
                ),
            );
            let filled = admin(self.addr, async |conn| {
                clients::fill_dirty(conn, &self.batches, c.dirty_bytes).await
            })?;
            std::thread::sleep(Duration::from_millis(SETTLE_MS));

            say(c, &format!("part 2, round {round}: baseline window"));
            let before = self.scrape()?;
            let start_ns = self.now_ns();
            let end = Instant::now() + c.baseline;
            let mut last = before;
            while Instant::now() < end {
                let left = end.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(Duration::from_millis(METRICS_POLL_MS)));
                last = self.scrape()?;
            }
            marks.push(Mark {
                round,
                kind: WindowKind::Baseline,
                span: Span {
                    start_ns,
                    end_ns: self.now_ns(),
                },
                cleaner: last.since(&before),
                dirty_bytes_before: before.partition_bytes,
                finished: true,
                fill: Some(filled),
            });

            say(c, &format!("part 2, round {round}: compaction window"));
            let before = self.scrape()?;
            admin(self.addr, async |conn| {
                clients::set_policy(conn, "compact").await
            })?;
            let start_ns = self.now_ns();
            let deadline = Instant::now() + c.pass_wait;
            let (mut last, mut finished) = (before, false);
            while !finished && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(METRICS_POLL_MS));
                last = self.scrape()?;
                finished = last.passes > before.passes;
            }
            let end_ns = self.now_ns();
            admin(self.addr, async |conn| {
                clients::set_policy(conn, "delete").await
            })?;
            let cleaner = last.since(&before);
            say(
                c,
                &format!(
                    "part 2, round {round}: the cleaner read {:.0} MB in {:.1} s{}; {} bytes \
                     -> {}",
                    cleaner.read_bytes / 1e6,
                    (end_ns - start_ns) as f64 / 1e9,
                    if finished { "" } else { " (pass unfinished)" },
                    before.partition_bytes,
                    cleaner.partition_bytes
                ),
            );
            marks.push(Mark {
                round,
                kind: WindowKind::Compaction,
                span: Span { start_ns, end_ns },
                cleaner,
                dirty_bytes_before: before.partition_bytes,
                finished,
                fill: None,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole benchmark with tiny sizes against an in-process broker: part 1 cleans each
    /// codec's log, part 2's compaction window waits for a pass that really cleans the dirty
    /// topic, and both kinds of window carry latencies. Bounded: a few seconds in debug (the
    /// pass wait bounds a broken cleaner at 60 s).
    #[test]
    fn a_tiny_run_measures_both_parts() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-test");
        let out = dir.join(format!("compaction-out-{}", std::process::id()));
        let config = CompactionBenchConfig {
            rounds: 1,
            input_bytes: 1 << 20,
            rate_keys: 1_000,
            segment_bytes: 256 << 10,
            dirty_bytes: 2 << 20,
            dirty_keys: 100,
            live_rate: 1_000,
            baseline: Duration::from_millis(300),
            pass_wait: Duration::from_secs(60),
            base_dir: dir.clone(),
            out_dir: Some(out.clone()),
            ..CompactionBenchConfig::default()
        };
        let report = run(&config).unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(report.codecs(), config.codecs);
        for r in &report.rate {
            assert!(
                r.mb_per_s_per_core() > 0.0 && r.output_ratio() < 0.5,
                "{r:?}"
            );
        }
        assert_eq!(report.windows.len(), 2);
        let (base, comp) = (&report.windows[0], &report.windows[1]);
        assert_eq!(
            (base.kind, comp.kind),
            (WindowKind::Baseline, WindowKind::Compaction)
        );
        assert!(
            base.latency.is_some() && comp.latency.is_some(),
            "{report:?}"
        );
        assert_eq!(base.cleaner.passes, 0.0, "no cleaning in a baseline window");
        assert!(comp.finished && comp.cleaner.passes >= 1.0, "{comp:?}");
        assert!(comp.cleaner.read_bytes > 0.0, "{comp:?}");
        assert!(
            comp.cleaner.partition_bytes < comp.dirty_bytes_before / 2.0,
            "the dirty topic shrank: {comp:?}"
        );
        assert!(base.fill.is_some_and(|f| f.bytes >= config.dirty_bytes));
        let written: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
        assert_eq!(written.len(), 2, "the .md and the .json");
        let _ = std::fs::remove_dir_all(&out);
    }
}
