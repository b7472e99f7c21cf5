//! Running `bench views`: per round a broker (a fresh `ringlog serve` child, or the one at
//! `--bootstrap`), then per layout a new topic and its view, the fill, and the three consumes
//! (view, client-side filter, unfiltered) in an order rotated every round, each right after
//! the page cache was warmed, all from one generator thread.
//!
//! # Invariants
//! - A broker started here is stopped and its data directory removed after its round, also on
//!   errors; the whole tree of data directories is removed when the run ends.
//! - Names are new per run, round and layout (`views-bench-<ms>-r<round>-<layout>`, the view
//!   after them), so repeated runs against one long-running broker never share a topic.
//! - The view's counters are read right before and right after its consume, so their
//!   difference is that consume's alone.
//! - A failed round is recorded and the run goes on with the next one.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use super::clients::{self, now_ms, Reader, TagPlan, Warm};
use super::config::*;
use super::measure::{Consume, LayoutRun, RoundRun, ViewsReport};
use crate::load::LoadError;
use crate::machine::loadavg;
use crate::round_broker::{broker_sentence, RoundBrokers};
use crate::Machine;
use ringlog_runtime::{IoKind, RuntimeConfig};

/// The consumers of a layout, in the order of round 1 (later rounds rotate it).
const READERS: [Reader; 3] = [Reader::View, Reader::ClientFilter, Reader::Unfiltered];

/// Run the benchmark.
pub fn run(config: &ViewsBenchConfig) -> Result<ViewsReport, LoadError> {
    config.validate().map_err(LoadError)?;
    let started = Instant::now();
    let brokers = RoundBrokers::new(&config.target, config.broker_pid, &config.base_dir, "views")?;
    let machine = Machine::current();
    say(
        config,
        &format!(
            "{} CPUs, {}, kernel {}",
            machine.cpus, machine.cpu_model, machine.kernel
        ),
    );
    let mut report = ViewsReport {
        machine,
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
        |round, addr, pid, data_dir| measure_round(config, round, stamp, addr, pid, data_dir),
    );
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.loadavg[1] = loadavg();
    if let Some(out) = &config.out_dir {
        let md = report.write_files(out)?;
        say(config, &format!("wrote {}", md.display()));
    }
    Ok(report)
}

fn say(c: &ViewsBenchConfig, what: &str) {
    if c.progress {
        eprintln!("bench views: {what}");
    }
}

/// Everything one round measures against the broker at `addr` (its data directory `data_dir`
/// when it was started here).
fn measure_round(
    c: &ViewsBenchConfig,
    round: usize,
    stamp: i64,
    addr: SocketAddr,
    pid: Option<u32>,
    data_dir: Option<&Path>,
) -> Result<RoundRun, LoadError> {
    ringlog_runtime::block_on(&RuntimeConfig::single(IoKind::Epoll), async {
        let mut admin = clients::connect(addr).await?;
        let mut layouts = Vec::with_capacity(LAYOUTS.len());
        for layout in LAYOUTS {
            let topic = format!("views-bench-{stamp}-r{round}-{}", layout.name());
            let view = format!("{topic}-red");
            let plan = TagPlan::of(c, layout);
            say(c, &format!("filling {topic} ({} batches)", layout.name()));
            let filled = Instant::now();
            clients::create_and_fill(&mut admin, &topic, &view, &plan, c).await?;
            let fill_seconds = filled.elapsed().as_secs_f64();
            let (mut counters, mut counters_error) = (None, None);
            let index_backlog = match clients::wait_for_index(&mut admin, &view).await {
                Ok(backlog) => Some(backlog),
                Err(e) => {
                    counters_error = Some(e.to_string());
                    // DescribeViews closes the connection on a broker without it.
                    admin = clients::connect(addr).await?;
                    None
                }
            };
            let warm = match data_dir {
                Some(d) => Warm::Files(
                    ringlog_storage::names::partition_dir(d, &topic, 0)
                        .map_err(|e| LoadError(format!("the directory of {topic}: {e}")))?,
                ),
                None => Warm::Fetch,
            };
            let end = c.records as i64;
            let matching = plan.matching();
            let consume =
                |reader| clients::consume(addr, reader, &topic, &view, end, matching, c, pid);
            let (mut view_run, mut client_filter, mut unfiltered) = (None, None, None);
            for k in 0..READERS.len() {
                let reader = READERS[(k + round - 1) % READERS.len()];
                match &warm {
                    Warm::Files(dir) => {
                        clients::warm_files(dir)?;
                    }
                    Warm::Fetch => {
                        consume(Reader::Unfiltered).await?;
                    }
                }
                say(
                    c,
                    &format!("{} consume, {} batches", reader.name(), layout.name()),
                );
                match reader {
                    Reader::View => {
                        let before = clients::describe(&mut admin, &view).await;
                        let run = consume(Reader::View).await?;
                        let after = clients::describe(&mut admin, &view).await;
                        match (before, after) {
                            (Ok(b), Ok(a)) => {
                                counters = Some(clients::counters(&a).since(&clients::counters(&b)))
                            }
                            (Err(e), _) | (_, Err(e)) => {
                                counters_error = Some(e.to_string());
                                // DescribeViews closes the connection on a broker without it.
                                admin = clients::connect(addr).await?;
                            }
                        }
                        view_run = Some(run);
                    }
                    Reader::ClientFilter => client_filter = Some(consume(reader).await?),
                    Reader::Unfiltered => unfiltered = Some(consume(reader).await?),
                }
            }
            let missing = || LoadError(format!("{topic}: a consume did not run"));
            let checked = |x: Option<Consume>| x.ok_or_else(missing);
            layouts.push(LayoutRun {
                layout,
                topic: topic.clone(),
                fill_seconds,
                matching,
                index_backlog,
                view: checked(view_run)?,
                counters,
                counters_error,
                client_filter: checked(client_filter)?,
                unfiltered: checked(unfiltered)?,
            });
        }
        Ok(RoundRun { round, layouts })
    })?
}
