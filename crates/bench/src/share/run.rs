//! Running `bench share`: per round a broker (a fresh `ringlog serve` child, or the one at
//! `--bootstrap`), a new topic filled with the records, a warm-up, then in order the classic
//! consumer, a share run per consumer count and the acknowledgement round trips, all from one
//! generator thread.
//!
//! # Invariants
//! - A broker started here is stopped and its data directory removed after its round, also on
//!   errors; the whole tree of data directories is removed when the run ends.
//! - Names are new per run and round (`share-bench-<ms>-r<round>`, groups after them), so
//!   repeated runs against one long-running broker never share a topic or a group.
//! - A failed round is recorded and the run goes on with the next one.

use std::net::SocketAddr;
use std::time::Instant;

use super::clients::{self, now_ms};
use super::config::*;
use super::measure::{RoundRun, ShareReport};
use crate::load::LoadError;
use crate::machine::loadavg;
use crate::round_broker::{broker_sentence, RoundBrokers};
use crate::Machine;
use ringlog_runtime::{IoKind, RuntimeConfig};

/// Run the benchmark.
pub fn run(config: &ShareBenchConfig) -> Result<ShareReport, LoadError> {
    config.validate().map_err(LoadError)?;
    let started = Instant::now();
    let brokers = RoundBrokers::new(&config.target, config.broker_pid, &config.base_dir, "share")?;
    let mut report = ShareReport {
        machine: Machine::current(),
        loadavg: [loadavg(), String::new()],
        config: config.clone(),
        broker: broker_sentence(&config.target, &config.label),
        rounds: Vec::new(),
        failures: Vec::new(),
        wall_seconds: 0.0,
    };
    let stamp = now_ms();
    (report.rounds, report.failures) = brokers.run(
        config.rounds,
        |what| say(config, what),
        |round, addr, pid, _| measure_round(config, round, stamp, addr, pid),
    );
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.loadavg[1] = loadavg();
    if let Some(out) = &config.out_dir {
        let md = report.write_files(out)?;
        say(config, &format!("wrote {}", md.display()));
    }
    Ok(report)
}

fn say(c: &ShareBenchConfig, what: &str) {
    if c.progress {
        eprintln!("bench share: {what}");
    }
}

/// Everything one round measures against the broker at `addr`.
fn measure_round(
    c: &ShareBenchConfig,
    round: usize,
    stamp: i64,
    addr: SocketAddr,
    pid: Option<u32>,
) -> Result<RoundRun, LoadError> {
    let topic = format!("share-bench-{stamp}-r{round}");
    let group = |what: &str| format!("{topic}-{what}");
    ringlog_runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async {
        let mut admin = clients::connect(addr).await?;
        say(c, &format!("filling {topic}"));
        let filled = Instant::now();
        clients::create_and_fill(&mut admin, &topic, c).await?;
        let fill_seconds = filled.elapsed().as_secs_f64();
        if c.warmup_records > 0 {
            say(c, "warm-up");
            clients::classic(addr, &topic, c, Some(c.warmup_records), pid).await?;
            let warm = group("warmup");
            clients::warm_up(addr, &mut admin, &topic, &warm, c.warmup_records, c).await?;
        }
        say(c, "classic consume");
        let classic = clients::classic(addr, &topic, c, None, pid).await?;
        let mut share = Vec::with_capacity(c.consumers.len());
        for &k in &c.consumers {
            say(c, &format!("share consume, {k} consumers"));
            let g = group(&format!("x{k}"));
            share.push(clients::share(addr, &mut admin, &topic, &g, k, c, pid).await?);
        }
        let ack = if c.ack_samples > 0 {
            say(c, "acknowledgement round trips");
            let g = group("ack");
            Some(clients::ack_round_trips(addr, &mut admin, &topic, &g, c).await?)
        } else {
            None
        };
        Ok(RoundRun {
            round,
            topic: topic.clone(),
            fill_seconds,
            classic,
            share,
            ack,
        })
    })?
}
