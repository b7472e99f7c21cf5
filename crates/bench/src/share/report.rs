//! Reporting `bench share`: the Markdown table (with the goal), the JSON (what
//! `bench/peers/share-side-by-side.sh` reads), and the files `share-<date>.{md,json}`.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use super::clients::now_ms;
use super::measure::{ShareReport, Throughput, SHARE_GOAL_RATIO};
use crate::format::{failures_markdown, json_strings, write_dated};
use crate::load::LoadError;
use crate::{cell, human, json_array, summary_json, JsonObject};

/// A count of records: whole, thousands grouped.
fn count(v: f64) -> String {
    if v.abs() < 1_000.0 {
        format!("{v:.0}")
    } else {
        human(v)
    }
}

fn throughput_json(t: &Throughput) -> String {
    let mut o = JsonObject::new();
    o.num("records", t.records as f64)
        .num("bytes", t.bytes as f64)
        .num("seconds", t.seconds)
        .num("mb_per_s", t.mb_per_s())
        .num("records_per_s", t.records_per_s());
    if let Some(cpu) = t.broker_cpu_s {
        o.num("broker_cpu_s", cpu);
    }
    o.finish()
}

impl ShareReport {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# ringlog bench share: share groups against a classic consumer (issue #16)\n"
        );
        let _ = writeln!(
            s,
            "Machine: {} CPUs, {}, kernel {}. Broker {}. Topic: 1 partition, {} records of {} B \
             ({:.0} MB of values), produced before each round's measurements. Consumers: \
             ringlog's own client, one connection each, all on one thread of the benchmark's \
             process on the same machine; every record decoded; {}. Classic: Fetch from offset \
             0 to the end ({} bytes per fetch). Share: a new group per run \
             (`share.auto.offset.reset=earliest` set with IncrementalAlterConfigs), implicit \
             acknowledgement (ACCEPT piggybacked on the next ShareFetch; ShareAcknowledge once \
             every record is out), at most {} records per ShareFetch ({}), timed from the moment every \
             member holds its assignment until the broker confirmed the last acceptance. \
             Long-poll wait {} ms. Acknowledgement round trip: one member, explicit mode, one \
             ShareAcknowledge of one ACCEPT at a time, {} per round. Rounds: {}; a figure is the \
             median (min..max of the rounds); ratios are of medians. Wall time {:.0} s; load \
             average {} at the start, {} at the end.\n",
            m.cpus,
            m.cpu_model,
            m.kernel,
            self.broker,
            human(c.records as f64),
            c.record_bytes,
            c.records as f64 * c.record_bytes as f64 / 1e6,
            if c.pipeline {
                "pipelined (`--pipeline`: each consumer sends its next Fetch or ShareFetch as soon \
                 as an answer arrives, before decoding its records)"
            } else {
                "one request at a time per consumer"
            },
            c.fetch_bytes,
            c.max_records,
            if c.max_records == super::matched_max_records(c.fetch_bytes, c.record_bytes) {
                "about the bytes of one classic Fetch, the default"
            } else {
                "set with --max-records"
            },
            c.max_wait.as_millis(),
            human(c.ack_samples as f64),
            c.rounds,
            self.wall_seconds,
            self.loadavg[0],
            self.loadavg[1],
        );
        let _ = writeln!(s, "Reproduce: `{}`\n", c.command);
        let _ = writeln!(
            s,
            "| consumption | MB/s | records/s | x classic | broker CPU s/GB | redelivered | \
             duplicates | ack errors | all delivered after s | records per member |\n\
             |---|---|---|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            s,
            "| classic Fetch, 1 consumer | {} | {} | 1.00 | {} | - | - | - | - | - |",
            cell(self.classic_mb(), 1),
            cell(self.classic_records(), 0),
            cell(self.classic_cpu(), 2),
        );
        for &k in &c.consumers {
            let ratio = self
                .share_ratio(k)
                .map_or("n/a".into(), |r| format!("{r:.2}"));
            let _ = writeln!(
                s,
                "| share, {k} consumer{} | {} | {} | {ratio} | {} | {} | {} | {} | {} | {} |",
                if k == 1 { "" } else { "s" },
                cell(self.share_mb(k), 1),
                cell(
                    self.share_summary(k, |r| Some(r.throughput.records_per_s())),
                    0
                ),
                cell(self.share_summary(k, |r| r.throughput.cpu_s_per_gb()), 2),
                self.share_total(k, |r| r.redelivered),
                self.share_total(k, |r| r.duplicates),
                self.share_total(k, |r| r.ack_errors),
                cell(self.share_summary(k, |r| Some(r.delivered_seconds)), 2),
                match (
                    self.share_summary(k, |r| Some(r.per_member_min as f64)),
                    self.share_summary(k, |r| Some(r.per_member_max as f64)),
                ) {
                    (Some(lo), Some(hi)) => format!("{}..{}", count(lo.median), count(hi.median)),
                    _ => "n/a".into(),
                },
            );
        }
        let _ = writeln!(
            s,
            "\n| acknowledgement round trip (1 record) | p50 µs | p99 µs |\n|---|---|---|\n\
             | ShareAcknowledge, send to response | {} | {} |",
            cell(self.ack_summary(|p| p.p50_us), 0),
            cell(self.ack_summary(|p| p.p99_us), 0),
        );
        let _ = writeln!(
            s,
            "\n## Goal: share >= {SHARE_GOAL_RATIO} x classic bytes/s\n"
        );
        for g in self.goals() {
            let _ = writeln!(
                s,
                "- {} consumer{}: {:.2} x classic, {}",
                g.consumers,
                if g.consumers == 1 { "" } else { "s" },
                g.ratio,
                if g.met { "met" } else { "**not met**" }
            );
        }
        failures_markdown(&mut s, &self.failures);
        let _ = writeln!(
            s,
            "\n## Rounds\n\n| round | fill s | classic MB/s | {} | ack p50/p99 µs |\n|---|---|---|{}---|",
            c.consumers
                .iter()
                .map(|k| format!("share x{k} MB/s (ShareFetches, empty)"))
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(c.consumers.len())
        );
        for r in &self.rounds {
            let shares: Vec<String> = r
                .share
                .iter()
                .map(|x| {
                    format!(
                        "{:.1} ({}, {})",
                        x.throughput.mb_per_s(),
                        x.polls,
                        x.empty_polls
                    )
                })
                .collect();
            let ack = r
                .ack
                .as_ref()
                .and_then(|a| a.rtt)
                .map_or("n/a".into(), |p| format!("{}/{}", p.p50_us, p.p99_us));
            let _ = writeln!(
                s,
                "| {} | {:.1} | {:.1} | {} | {ack} |",
                r.round,
                r.fill_seconds,
                r.classic.mb_per_s(),
                shares.join(" | ")
            );
        }
        let errors: Vec<String> = self
            .rounds
            .iter()
            .flat_map(|r| {
                let share = r.share.iter().filter_map(|x| x.first_ack_error.clone());
                share.chain(r.ack.iter().filter_map(|a| a.first_error.clone()))
            })
            .collect();
        if let Some(first) = errors.first() {
            let _ = writeln!(s, "\nFirst acknowledgement error: {first}");
        }
        s
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let c = &self.config;
        let machine = self.machine.to_json();
        let config = JsonObject::new()
            .num("rounds", c.rounds as f64)
            .num("records", c.records as f64)
            .num("record_bytes", c.record_bytes as f64)
            .raw(
                "consumers",
                &json_array(c.consumers.iter().map(|k| k.to_string())),
            )
            .num("ack_samples", c.ack_samples as f64)
            .num("max_records", f64::from(c.max_records))
            .num("fetch_bytes", f64::from(c.fetch_bytes))
            .num("max_wait_ms", c.max_wait.as_millis() as f64)
            .raw("pipeline", if c.pipeline { "true" } else { "false" })
            .num("warmup_records", c.warmup_records as f64)
            .finish();
        let share = json_array(c.consumers.iter().map(|&k| {
            let mut o = JsonObject::new();
            o.num("consumers", k as f64)
                .raw("mb_per_s", &summary_json(self.share_mb(k)))
                .raw(
                    "records_per_s",
                    &summary_json(self.share_summary(k, |r| Some(r.throughput.records_per_s()))),
                )
                .raw(
                    "cpu_s_per_gb",
                    &summary_json(self.share_summary(k, |r| r.throughput.cpu_s_per_gb())),
                )
                .raw(
                    "delivered_seconds",
                    &summary_json(self.share_summary(k, |r| Some(r.delivered_seconds))),
                )
                .num("redelivered", self.share_total(k, |r| r.redelivered) as f64)
                .num("duplicates", self.share_total(k, |r| r.duplicates) as f64)
                .num("ack_errors", self.share_total(k, |r| r.ack_errors) as f64);
            match self.share_ratio(k) {
                Some(r) => o.num("ratio_to_classic", r),
                None => o.raw("ratio_to_classic", "null"),
            };
            o.finish()
        }));
        let summary = JsonObject::new()
            .raw(
                "classic",
                &JsonObject::new()
                    .raw("mb_per_s", &summary_json(self.classic_mb()))
                    .raw("records_per_s", &summary_json(self.classic_records()))
                    .raw("cpu_s_per_gb", &summary_json(self.classic_cpu()))
                    .finish(),
            )
            .raw("share", &share)
            .raw(
                "ack",
                &JsonObject::new()
                    .raw("p50_us", &summary_json(self.ack_summary(|p| p.p50_us)))
                    .raw("p99_us", &summary_json(self.ack_summary(|p| p.p99_us)))
                    .finish(),
            )
            .finish();
        let rounds = json_array(self.rounds.iter().map(|r| {
            let share = json_array(r.share.iter().map(|x| {
                JsonObject::new()
                    .num("consumers", x.consumers as f64)
                    .raw("throughput", &throughput_json(&x.throughput))
                    .num("delivered_seconds", x.delivered_seconds)
                    .num("redelivered", x.redelivered as f64)
                    .num("duplicates", x.duplicates as f64)
                    .num("ack_errors", x.ack_errors as f64)
                    .num("polls", x.polls as f64)
                    .num("empty_polls", x.empty_polls as f64)
                    .num("per_member_min", x.per_member_min as f64)
                    .num("per_member_max", x.per_member_max as f64)
                    .finish()
            }));
            let mut o = JsonObject::new();
            o.num("round", r.round as f64)
                .str("topic", &r.topic)
                .num("fill_seconds", r.fill_seconds)
                .raw("classic", &throughput_json(&r.classic))
                .raw("share", &share);
            if let Some(p) = r.ack.as_ref().and_then(|a| a.rtt) {
                o.raw(
                    "ack_rtt_us",
                    &JsonObject::new()
                        .num("count", p.count as f64)
                        .num("min", p.min_us as f64)
                        .num("p50", p.p50_us as f64)
                        .num("p99", p.p99_us as f64)
                        .num("max", p.max_us as f64)
                        .finish(),
                );
            }
            o.finish()
        }));
        let goals = json_array(self.goals().iter().map(|g| {
            JsonObject::new()
                .num("consumers", g.consumers as f64)
                .num("ratio", g.ratio)
                .bool("met", g.met)
                .finish()
        }));
        JsonObject::new()
            .str("benchmark", "share")
            .str("label", &c.label)
            .str("broker", &self.broker)
            .str("command", &c.command)
            .raw("machine", &machine)
            .str("loadavg_start", &self.loadavg[0])
            .str("loadavg_end", &self.loadavg[1])
            .num("wall_seconds", self.wall_seconds)
            .raw("config", &config)
            .raw("summary", &summary)
            .raw("goals", &goals)
            .raw("rounds", &rounds)
            .raw("failures", &json_strings(&self.failures))
            .finish()
    }

    /// Writes `share-<date>.md` and `.json` into `dir`; returns the Markdown file's path.
    pub fn write_files(&self, dir: &Path) -> Result<PathBuf, LoadError> {
        std::fs::create_dir_all(dir)?;
        write_dated(dir, "share", now_ms(), self.markdown(), self.to_json())
    }
}

impl fmt::Display for ShareReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.markdown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::measure::tests::report;

    #[test]
    fn markdown_has_the_table_the_goal_and_every_round() {
        let md = report().markdown();
        assert!(
            md.contains("| classic Fetch, 1 consumer | 110.0 (100.0..120.0) |"),
            "{md}"
        );
        assert!(
            md.contains("| share, 4 consumers | 70.0 (60.0..90.0) |"),
            "{md}"
        );
        assert!(md.contains("- 1 consumer: 0.82 x classic, met"), "{md}");
        assert!(
            md.contains("- 4 consumers: 0.64 x classic, **not met**"),
            "{md}"
        );
        assert!(
            md.contains("| ShareAcknowledge, send to response | 300 (300..300) | 900 (900..900) |"),
            "{md}"
        );
        assert_eq!(md.matches("\n| 2 | 1.0 | 120.0 |").count(), 1, "{md}");
    }

    #[test]
    fn json_carries_the_medians_the_script_reads() {
        let json = report().to_json();
        assert!(
            json.starts_with("{\"benchmark\":\"share\",\"label\":\"ringlog\""),
            "{json}"
        );
        assert!(
            json.contains("\"classic\":{\"mb_per_s\":{\"median\":110"),
            "{json}"
        );
        assert!(
            json.contains("\"consumers\":4,\"mb_per_s\":{\"median\":70"),
            "{json}"
        );
        assert!(json.contains("\"p99_us\":{\"median\":900"), "{json}");
        assert!(json.contains("\"failures\":[]"), "{json}");
    }

    #[test]
    fn counts_are_whole() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(512.0), "512");
        assert_eq!(count(4_608.0), "4,608");
    }
}
