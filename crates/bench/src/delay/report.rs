//! Reporting `bench delay`: the Markdown tables (with the goals), the JSON, and the files
//! `bench-results/delay-<date>.{md,json}`.

use std::fmt::{self, Write as _};
use std::path::Path;

use super::config::{
    ENQUEUE_BATCH_RECORDS, ENQUEUE_CONNECTIONS, ENQUEUE_IN_FLIGHT, PARTITIONS, PENDING_AHEAD_MS,
    PENDING_SPREAD_SLOTS, RECORD_BYTES, STREAM_LEAD_MS, STREAM_TICK_MS,
};
use super::measure::{DelayReport, Variant};
use super::run::LOAD_SHAPE;
use super::stats::Percentiles;
use crate::format::{count, failures_markdown, json_strings, write_dated};
use crate::load::LoadError;
use crate::{cell, human, json_array, summary_json, JsonObject};

const MIB: f64 = (1u64 << 20) as f64;

fn percentiles_json(p: Option<Percentiles>) -> String {
    match p {
        Some(p) => JsonObject::new()
            .num("count", p.count as f64)
            .num("min_us", p.min_us as f64)
            .num("p50_us", p.p50_us as f64)
            .num("p99_us", p.p99_us as f64)
            .num("max_us", p.max_us as f64)
            .finish(),
        None => "null".into(),
    }
}

impl DelayReport {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(s, "# ringlog bench delay: scheduled delivery (issue #15)\n");
        let _ = writeln!(
            s,
            "Machine: {} CPUs, {}, kernel {}. Broker under test: `ringlog serve --cores {} --io {} \
             --flush {}` as a child process, a fresh data directory per round (part 4: \
             `--flush never`). Rounds: {}; a figure over rounds is the median (min..max of the \
             rounds). Load generators and consumers run in the benchmark's process on the same \
             machine. Wall time {:.0} s; load average {} at the start, {} at the end.\n",
            m.cpus,
            m.cpu_model,
            m.kernel,
            c.cores,
            c.io,
            c.flush,
            c.rounds,
            self.wall_seconds,
            self.loadavg[0],
            self.loadavg[1]
        );
        let _ = writeln!(s, "Reproduce: `{}`\n", c.command);
        let _ = writeln!(s, "## Goals\n\n| goal | measured | met |\n|---|---|---|");
        for g in self.goals() {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                g.goal,
                g.measured,
                if g.met { "yes" } else { "**no**" }
            );
        }
        failures_markdown(&mut s, &self.failures);
        self.markdown_precision(&mut s);
        self.markdown_throughput(&mut s);
        self.markdown_capacity(&mut s);
        self.markdown_cost(&mut s);
        s
    }

    fn markdown_precision(&self, s: &mut String) {
        let levels = self.levels();
        if levels.is_empty() {
            return;
        }
        let c = &self.config;
        let load = match self.calibration {
            Some(max) => format!(
                "{} connections x {} x {} B records, acks=1, paced at {:.0}% of what the machine \
                 does alone with that shape ({} records/s, closed loop with one request in \
                 flight per connection as when paced, same run)",
                LOAD_SHAPE.0,
                LOAD_SHAPE.1,
                LOAD_SHAPE.2,
                c.load_share * 100.0,
                human(max)
            ),
            None => "none".into(),
        };
        let _ = writeln!(
            s,
            "\n## 1. Precision: lateness of delivery\n\n\
             Measured stream: {} delayed records/s whose `ringlog-deliver-at` due times span {} s \
             ({} per {} ms tick, spread over the tick), each produced {} ms before it is due (so \
             it waits in an unloaded slot of the wheel), acks=all, to a delay-enabled topic of {} \
             partitions; plus one record without delay per tick to the same partition (the \
             baseline: the consumer's own produce-to-fetch latency). Lateness = time a \
             long-polling consumer (one connection per partition) receives the record minus its \
             due time. Pending records wait in another delay-enabled topic, due {} h ahead over \
             {} one-second slots. Concurrent plain load: {load}.\n",
            count(c.stream_rate),
            c.stream.as_secs_f64(),
            c.records_per_tick(),
            STREAM_TICK_MS,
            STREAM_LEAD_MS,
            PARTITIONS,
            PENDING_AHEAD_MS / 3_600_000,
            PENDING_SPREAD_SLOTS,
        );
        let _ = writeln!(
            s,
            "| pending | lateness p50 ms | p99 ms | max ms | baseline p50 ms | p99 ms | max ms | \
             samples | missing | early | plain load records/s | its p99 ack us | broker VmRSS \
             before MiB | peak MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for l in &levels {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} |",
                count(l.level),
                cell(l.lateness_ms[0], 2),
                cell(l.lateness_ms[1], 2),
                cell(l.lateness_ms[2], 2),
                cell(l.baseline_ms[0], 2),
                cell(l.baseline_ms[1], 2),
                cell(l.baseline_ms[2], 2),
                count(l.samples),
                l.missing,
                l.early,
                cell(l.load[0], 0),
                cell(l.load[1], 0),
                l.rss[0].map_or(f64::NAN, |r| r.median / MIB),
                l.rss[1].map_or(f64::NAN, |r| r.median / MIB),
            );
        }
        let _ = writeln!(s);
        for l in &levels {
            if let ([Some(l50), Some(l99), _], [Some(b50), Some(b99), _]) =
                (l.lateness_ms, l.baseline_ms)
            {
                let _ = writeln!(
                    s,
                    "- {} pending: the consumer's own produce-to-fetch latency (baseline p50 \
                     {:.2} ms) is {:.0}% of the median lateness ({:.2} ms); at p99 delivery adds \
                     {:.1} ms over the baseline's p99.",
                    count(l.level),
                    b50.median,
                    (b50.median / l50.median * 100.0).min(100.0),
                    l50.median,
                    l99.median - b99.median
                );
            }
        }
    }

    fn markdown_throughput(&self, s: &mut String) {
        if self.throughput.is_empty() {
            return;
        }
        let c = &self.config;
        let _ = writeln!(
            s,
            "\n## 2. Throughput on {} cores\n\n\
             Enqueue: {} connections, {} records of {} B per batch (each with \
             `ringlog-deliver-at`), {} requests in flight per connection, acks=all, for {} s; \
             records due {} h ahead. Delivery (a fresh broker): {} records due at one instant, \
             enqueued the same way (the instant is set after the enqueue is expected to end); \
             delivered/s = records / (time the consumers, one per partition, have them all - \
             due time).\n",
            c.cores,
            ENQUEUE_CONNECTIONS,
            ENQUEUE_BATCH_RECORDS,
            RECORD_BYTES,
            ENQUEUE_IN_FLIGHT,
            c.enqueue.as_secs_f64(),
            PENDING_AHEAD_MS / 3_600_000,
            count(c.delivery_records),
        );
        let _ = writeln!(
            s,
            "| round | enqueued/s | delivery: enqueued/s | acked after due ms | received | due -> \
             first ms | due -> all ms | delivered/s | broker peak VmRSS MiB |\n\
             |---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.throughput {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
                r.round,
                human(r.enqueue_per_s()),
                human(r.delivery_enqueue_rate),
                r.enqueue_overran_ms,
                count(r.received),
                r.first_after_due_ms
                    .map_or("n/a".into(), |v| format!("{v:.0}")),
                r.all_after_due_ms
                    .map_or("n/a".into(), |v| format!("{v:.0}")),
                human(r.delivery_per_s()),
                r.delivery_peak.rss as f64 / MIB,
            );
        }
        let [enq, del] = self.throughput_summary();
        let _ = writeln!(
            s,
            "\nMedians: enqueued {}/s, delivered {}/s.",
            cell(enq, 0),
            cell(del, 0)
        );
    }

    fn markdown_capacity(&self, s: &mut String) {
        let Some(cap) = &self.capacity else { return };
        let _ = writeln!(
            s,
            "\n## 3. Pending capacity\n\n\
             {} records of {} B enqueued as in part 2, due {} h ahead over {} one-second slots; \
             the broker's memory from /proc/<pid>/status after the broker reported them all \
             pending (and 1.5 s for a checkpoint); the timer logs' files under \
             `__ringlog_state/timers`.\n",
            count(cap.records),
            RECORD_BYTES,
            PENDING_AHEAD_MS / 3_600_000,
            PENDING_SPREAD_SLOTS,
        );
        let _ = writeln!(
            s,
            "| records | enqueued/s | pending reported | VmRSS before MiB | VmRSS after MiB | \
             RssAnon after MiB | VmHWM MiB | timer log bytes | allocated | bytes per record |\n\
             |---|---|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {:.1} |",
            count(cap.records),
            human(cap.enqueue_per_s),
            count(cap.pending_seen),
            cap.before.rss as f64 / MIB,
            cap.after.rss as f64 / MIB,
            cap.after.anon as f64 / MIB,
            cap.after.hwm as f64 / MIB,
            count(cap.timer_bytes),
            count(cap.timer_allocated),
            cap.bytes_per_record(),
        );
    }

    fn markdown_cost(&self, s: &mut String) {
        if self.cost.is_empty() {
            return;
        }
        let c = &self.config;
        let _ = writeln!(
            s,
            "\n## 4. Cost on topics without delay\n\n\
             The same closed-loop produce load ({} connections, {} records of {} B per batch, {} \
             in flight, acks=1, {} partitions, {} s after a 1 s warm-up; broker `--flush never` \
             so the figures are CPU, not the disk) against each variant, alternately in each \
             round, a fresh broker each time.{}\n",
            ENQUEUE_CONNECTIONS,
            ENQUEUE_BATCH_RECORDS,
            RECORD_BYTES,
            ENQUEUE_IN_FLIGHT,
            PARTITIONS,
            c.cost.as_secs_f64(),
            match &c.baseline_exe {
                Some(_) => " The baseline build is a separate binary (`--baseline-exe`).",
                None => " No baseline build was given (`--baseline-exe`).",
            }
        );
        let _ = writeln!(
            s,
            "| variant | records/s | broker CPU s per GB |\n|---|---|---|"
        );
        for v in Variant::ALL {
            let [rps, cpu] = self.cost_summary(v);
            if rps.is_some() {
                let _ = writeln!(s, "| {} | {} | {} |", v.name(), cell(rps, 0), cell(cpu, 2));
            }
        }
        for (v, base) in [
            (Variant::DelayTopic, Variant::Plain),
            (Variant::Plain, Variant::Baseline),
        ] {
            if let Some((ratio, spread)) = self.cost_ratio(v, base) {
                let cpu = match (self.cost_summary(v)[1], self.cost_summary(base)[1]) {
                    (Some(a), Some(b)) => {
                        format!("; broker CPU per GB {:.3}x", a.median / b.median)
                    }
                    _ => String::new(),
                };
                let _ = writeln!(
                    s,
                    "\n{} / {}: {ratio:.3}x records/s (per round {:.3}..{:.3}){cpu}",
                    v.name(),
                    base.name(),
                    spread.min,
                    spread.max
                );
            }
        }
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let c = &self.config;
        let machine = self.machine.to_json();
        let config = JsonObject::new()
            .str("command", &c.command)
            .num("rounds", c.rounds as f64)
            .num("cores", c.cores as f64)
            .str("io", &c.io.to_string())
            .str("flush", &c.flush)
            .num("stream_rate", c.stream_rate as f64)
            .num("load_share", c.load_share)
            .num("stream_ms", c.stream.as_millis() as f64)
            .num("delivery_records", c.delivery_records as f64)
            .num("capacity_records", c.capacity_records as f64)
            .bool("baseline", c.baseline_exe.is_some())
            .finish();
        let precision = json_array(self.precision.iter().map(|r| {
            JsonObject::new()
                .num("round", r.round as f64)
                .num("pending", r.level as f64)
                .num("pending_seen", r.pending_seen as f64)
                .num("rss_bytes", r.memory.rss as f64)
                .num("rss_anon_bytes", r.memory.anon as f64)
                .num("peak_rss_bytes", r.peak.rss as f64)
                .num("expected", r.expected as f64)
                .num("received", r.received as f64)
                .num("early", r.early as f64)
                .raw("lateness", &percentiles_json(r.lateness))
                .raw("baseline", &percentiles_json(r.baseline))
                .num(
                    "load_records_per_s",
                    r.load.as_ref().map_or(f64::NAN, |l| l.records_per_s()),
                )
                .num(
                    "load_p99_us",
                    r.load
                        .as_ref()
                        .and_then(|l| l.latency)
                        .map_or(f64::NAN, |l| l.p99_us),
                )
                .finish()
        }));
        let levels = json_array(self.levels().iter().map(|l| {
            JsonObject::new()
                .num("pending", l.level as f64)
                .raw("lateness_p50_ms", &summary_json(l.lateness_ms[0]))
                .raw("lateness_p99_ms", &summary_json(l.lateness_ms[1]))
                .raw("lateness_max_ms", &summary_json(l.lateness_ms[2]))
                .raw("baseline_p50_ms", &summary_json(l.baseline_ms[0]))
                .raw("baseline_p99_ms", &summary_json(l.baseline_ms[1]))
                .raw("baseline_max_ms", &summary_json(l.baseline_ms[2]))
                .num("missing", l.missing as f64)
                .num("early", l.early as f64)
                .finish()
        }));
        let throughput = json_array(self.throughput.iter().map(|r| {
            JsonObject::new()
                .num("round", r.round as f64)
                .num("enqueue_per_s", r.enqueue_per_s())
                .num("delivery_records", r.delivery_records as f64)
                .num("received", r.received as f64)
                .num("enqueue_overran_ms", r.enqueue_overran_ms as f64)
                .num(
                    "first_after_due_ms",
                    r.first_after_due_ms.unwrap_or(f64::NAN),
                )
                .num("all_after_due_ms", r.all_after_due_ms.unwrap_or(f64::NAN))
                .num("delivery_per_s", r.delivery_per_s())
                .num("delivery_peak_rss_bytes", r.delivery_peak.rss as f64)
                .finish()
        }));
        let capacity = self.capacity.as_ref().map_or("null".into(), |cap| {
            JsonObject::new()
                .num("records", cap.records as f64)
                .num("enqueue_per_s", cap.enqueue_per_s)
                .num("pending_seen", cap.pending_seen as f64)
                .num("rss_before_bytes", cap.before.rss as f64)
                .num("rss_after_bytes", cap.after.rss as f64)
                .num("rss_anon_after_bytes", cap.after.anon as f64)
                .num("hwm_after_bytes", cap.after.hwm as f64)
                .num("timer_log_bytes", cap.timer_bytes as f64)
                .num("timer_log_allocated_bytes", cap.timer_allocated as f64)
                .num("bytes_per_record", cap.bytes_per_record())
                .finish()
        });
        let cost = json_array(self.cost.iter().map(|r| {
            JsonObject::new()
                .num("round", r.round as f64)
                .str("variant", r.variant.name())
                .num("records_per_s", r.report.records_per_s())
                .num(
                    "broker_cpu_s_per_gb",
                    r.report.broker_cpu_s_per_gb().unwrap_or(f64::NAN),
                )
                .finish()
        }));
        let goals = json_array(self.goals().iter().map(|g| {
            JsonObject::new()
                .str("goal", &g.goal)
                .str("measured", &g.measured)
                .bool("met", g.met)
                .finish()
        }));
        JsonObject::new()
            .str("benchmark", "delay")
            .raw("machine", &machine)
            .raw("config", &config)
            .num("wall_seconds", self.wall_seconds)
            .str("loadavg_start", &self.loadavg[0])
            .str("loadavg_end", &self.loadavg[1])
            .num(
                "load_alone_records_per_s",
                self.calibration.unwrap_or(f64::NAN),
            )
            .raw("precision_levels", &levels)
            .raw("precision_runs", &precision)
            .raw("throughput_runs", &throughput)
            .raw("capacity", &capacity)
            .raw("cost_runs", &cost)
            .raw("goals", &goals)
            .raw("failures", &json_strings(&self.failures))
            .num("json_version", 1.0)
            .finish()
            .replace(":NaN", ":null")
    }

    /// Writes `delay-<stamp>.md` and `.json` into `dir`; returns the Markdown path.
    pub fn write_files(&self, dir: &Path) -> Result<std::path::PathBuf, LoadError> {
        std::fs::create_dir_all(dir)?;
        let now_ms = super::wire::now_ms();
        write_dated(dir, "delay", now_ms, self.markdown(), self.to_json())
    }
}

impl fmt::Display for DelayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.markdown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::config::DelayBenchConfig;
    use super::super::measure::{CapacityRun, CostRun, PrecisionRun, ThroughputRun};
    use super::super::stats::Memory;
    use crate::load::{LoadConfig, LoadReport, Mode};
    use crate::Machine;

    fn load(records_per_s: f64) -> LoadReport {
        LoadReport {
            config: LoadConfig::new(Mode::Produce, "127.0.0.1:1".parse().unwrap()),
            seconds: 1.0,
            records: records_per_s as u64,
            bytes: records_per_s as u64 * 100,
            requests: 1,
            latency: None,
            client_cpu_s: 0.1,
            broker_cpu_s: Some(0.2),
            broker_in_process: false,
        }
    }

    /// A report of one round of every part, as the runs would fill it.
    fn report() -> DelayReport {
        let lateness = |p99_us| Percentiles {
            count: 100,
            min_us: 100,
            p50_us: 1_000,
            p99_us,
            max_us: p99_us + 1,
        };
        DelayReport {
            machine: Machine::current(),
            loadavg: ["0.1 0.2 0.3".into(), "0.4 0.5 0.6".into()],
            config: DelayBenchConfig {
                rounds: 1,
                pending_levels: vec![10, 100],
                baseline_exe: Some("old".into()),
                ..DelayBenchConfig::new("ringlog".into())
            },
            calibration: Some(1_000.0),
            precision: [(10, 5_000), (100, 20_000)]
                .into_iter()
                .map(|(level, p99)| PrecisionRun {
                    round: 1,
                    level,
                    pending_seen: level,
                    memory: Memory::default(),
                    peak: Memory::default(),
                    expected: 100,
                    received: 100,
                    early: 0,
                    lateness: Some(lateness(p99)),
                    baseline: Some(lateness(2_000)),
                    load: Some(load(500.0)),
                })
                .collect(),
            throughput: vec![ThroughputRun {
                round: 1,
                enqueue_records: 300_000,
                enqueue_seconds: 1.0,
                due_ms: 0,
                delivery_enqueue_rate: 1.0,
                enqueue_overran_ms: 0,
                delivery_records: 1_000,
                received: 1_000,
                first_after_due_ms: Some(1.0),
                all_after_due_ms: Some(4.0),
                delivery_peak: Memory::default(),
            }],
            capacity: Some(CapacityRun {
                records: 10,
                enqueue_per_s: 1.0,
                pending_seen: 10,
                before: Memory::default(),
                after: Memory::default(),
                timer_bytes: 2_210,
                timer_allocated: 4_096,
            }),
            cost: [
                (Variant::Plain, 100.0),
                (Variant::DelayTopic, 80.0),
                (Variant::Baseline, 100.0),
            ]
            .into_iter()
            .map(|(variant, rps)| CostRun {
                round: 1,
                variant,
                report: load(rps),
            })
            .collect(),
            failures: vec!["part 2, round 2: the broker \"closed\"".into()],
            wall_seconds: 1.0,
        }
    }

    #[test]
    fn the_report_judges_each_goal_and_writes_every_part() {
        let r = report();
        let met: Vec<(String, bool)> = r.goals().into_iter().map(|g| (g.goal, g.met)).collect();
        let judged = |prefix: &str| {
            met.iter()
                .find(|(g, _)| g.starts_with(prefix))
                .map(|(_, m)| *m)
        };
        // p99 5 ms at 10 pending meets the goal, 20 ms at 100 does not.
        assert_eq!(judged("lateness p99 <= 10 ms with 10 "), Some(true));
        assert_eq!(judged("lateness p99 <= 10 ms with 100 "), Some(false));
        assert_eq!(judged("delayed 100 B records enqueued"), Some(true));
        assert_eq!(judged("delayed 100 B records delivered"), Some(true));
        assert_eq!(judged("10 pending with broker RSS"), Some(true));
        // 80 over 100 records/s is below 0.95; 100 over 100 is not.
        assert_eq!(
            judged("produce throughput: delay-enabled topic"),
            Some(false)
        );
        assert_eq!(judged("produce throughput: plain topic /"), Some(true));
        let md = r.markdown();
        for part in [
            "## 1.",
            "## 2.",
            "## 3.",
            "## 4.",
            "## Failed rounds",
            "0.800x",
        ] {
            assert!(md.contains(part), "{part} missing:\n{md}");
        }
        let json = r.to_json();
        assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
        assert!(
            !json.contains("NaN") && json.contains(r#"\"closed\""#),
            "{json}"
        );
        assert_eq!(r.capacity.unwrap().bytes_per_record(), 221.0);
    }
}
