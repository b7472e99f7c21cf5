//! Reporting `bench compaction`: the Markdown tables, the JSON, and the files
//! `bench-results/compaction-<date>.{md,json}`.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use super::clients::{now_ms, DIRTY_TOPIC, LIVE_IN_FLIGHT_MAX, LIVE_TOPIC};
use super::config::{
    BROKER_CORES, DIRTY_BATCH_RECORDS, DIRTY_VALUE_BYTES, FILL_IN_FLIGHT, LIVE_RECORD_BYTES,
    METRICS_POLL_MS, SETTLE_MS,
};
use super::measure::{CompactionReport, RateRun, Which, Window, WindowKind};
use super::stats::Latencies;
use crate::format::{count, failures_markdown, json_strings, write_dated};
use crate::load::LoadError;
use crate::{cell, json_array, summary_json, JsonObject};
use ringlog_storage::compact::measure::RECORDS_PER_BATCH;
use ringlog_storage::compact::COMPACT_STEP_BYTES_DEFAULT;

const MIB: f64 = (1u64 << 20) as f64;

/// A ratio with two decimals and an `x`, or `n/a`.
fn times(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}x"))
}

fn option_json(v: Option<f64>) -> String {
    v.map_or("null".into(), crate::json_number)
}

/// The latency figures of a window, in table order: name, getter.
type Figure = (&'static str, fn(&Latencies) -> u64);
const FIGURES: [Figure; 4] = [
    ("p50", |l| l.p50_us),
    ("p99", |l| l.p99_us),
    ("p99.9", |l| l.p999_us),
    ("max", |l| l.max_us),
];

fn latencies_json(l: &Option<Latencies>) -> String {
    match l {
        Some(l) => JsonObject::new()
            .num("count", l.count as f64)
            .num("p50_us", l.p50_us as f64)
            .num("p99_us", l.p99_us as f64)
            .num("p999_us", l.p999_us as f64)
            .num("max_us", l.max_us as f64)
            .finish(),
        None => "null".into(),
    }
}

fn rate_json(r: &RateRun) -> String {
    JsonObject::new()
        .str("codec", &r.codec.to_string())
        .num("round", r.round as f64)
        .num("input_bytes", r.input_bytes as f64)
        .num("output_bytes", r.output_bytes as f64)
        .num("read_bytes", r.read_bytes as f64)
        .num("records_removed", r.records_removed as f64)
        .num("busy_seconds", r.busy_seconds)
        .num("elapsed_seconds", r.elapsed_seconds)
        .num("call_seconds", r.call_seconds)
        .num("mb_per_s_per_core", r.mb_per_s_per_core())
        .num("wall_mb_per_s", r.wall_mb_per_s())
        .num("output_ratio", r.output_ratio())
        .finish()
}

fn window_json(w: &Window) -> String {
    let k = &w.cleaner;
    let mut o = JsonObject::new();
    o.num("round", w.round as f64)
        .str("kind", w.kind.name())
        .num("seconds", w.seconds())
        .raw("latency", &latencies_json(&w.latency))
        .raw("round_trip", &latencies_json(&w.round_trip))
        .raw("worst_round_trip_at_s", &option_json(w.worst_at_s))
        .raw(
            "cleaner",
            &JsonObject::new()
                .num("passes", k.passes)
                .num("read_bytes", k.read_bytes)
                .num("written_bytes", k.written_bytes)
                .num("records_removed", k.records_removed)
                .num("seconds", k.seconds)
                .finish(),
        )
        .num("cleaner_read_mb_per_s", w.cleaner_read_mb_per_s())
        .num("busy_share", w.busy_share())
        .num("dirty_bytes_before", w.dirty_bytes_before)
        .num("dirty_bytes_after", k.partition_bytes)
        .bool("finished", w.finished);
    if let Some(f) = &w.fill {
        o.raw(
            "fill",
            &JsonObject::new()
                .num("bytes", f.bytes as f64)
                .num("records", f.records as f64)
                .num("seconds", f.seconds)
                .finish(),
        );
    }
    o.finish()
}

impl CompactionReport {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# ringlog bench compaction: cleaning rate per core, and produce latency while the \
             cleaner works (issue #19)\n"
        );
        let _ = writeln!(
            s,
            "Machine: {} CPUs, {}, kernel {}. Rounds: {}; a figure over rounds is the median \
             (min..max of the rounds); ratios are of medians of this run. Wall time {:.0} s; \
             load average {} at the start, {} at the end.\n",
            m.cpus,
            m.cpu_model,
            m.kernel,
            c.rounds,
            self.wall_seconds,
            self.loadavg[0],
            self.loadavg[1],
        );
        let _ = writeln!(s, "Reproduce: `{}`", c.command);
        failures_markdown(&mut s, &self.failures);
        self.rate_markdown(&mut s);
        self.latency_markdown(&mut s);
        s
    }

    fn rate_markdown(&self, s: &mut String) {
        let codecs = self.codecs();
        if codecs.is_empty() {
            return;
        }
        let c = &self.config;
        let _ = writeln!(
            s,
            "\n## 1. Compaction rate per core\n\n\
             `compact::measure::compaction_rate` on one thread (a one-shard runtime, {}): a log \
             of {:.0} MiB (on-disk bytes) of batches of {} records, keys round-robin over {} \
             distinct keys, values of {} B (one repeated byte), 64 MiB segments, no fsync; then \
             one pass cleans it in steps of {} KiB of I/O back to back. Input MB/s per core = \
             log bytes before the clean / time inside the pass's steps (their wall time, I/O \
             waits included: the time a shard would be busy); wall MB/s = log bytes / time from \
             the pass's first step to its last. Codecs alternate within each round.\n",
            c.io,
            c.input_bytes as f64 / MIB,
            RECORDS_PER_BATCH,
            count(c.rate_keys),
            c.rate_value_bytes,
            COMPACT_STEP_BYTES_DEFAULT >> 10,
        );
        let _ = writeln!(
            s,
            "| codec | input MB/s per core (busy) | wall MB/s | output / input | bytes read / \
             input | busy s | fill + clean s |\n|---|---|---|---|---|---|---|"
        );
        for codec in codecs {
            let f = |g: fn(&RateRun) -> f64, d| cell(self.rate_summary(codec, g), d);
            let _ = writeln!(
                s,
                "| {codec} | {} | {} | {} | {} | {} | {} |",
                f(RateRun::mb_per_s_per_core, 1),
                f(RateRun::wall_mb_per_s, 1),
                f(RateRun::output_ratio, 4),
                f(|r| r.read_bytes as f64 / r.input_bytes.max(1) as f64, 2),
                f(|r| r.busy_seconds, 2),
                f(|r| r.call_seconds, 1),
            );
        }
    }

    fn latency_markdown(&self, s: &mut String) {
        if self.windows.is_empty() {
            return;
        }
        let c = &self.config;
        let interval_ms = c.live_interval().as_secs_f64() * 1e3;
        let _ = writeln!(
            s,
            "\n## 2. Produce latency while the broker compacts\n\n\
             Broker: `Broker::start` in the benchmark's process, {BROKER_CORES} shard (pinned to \
             CPU 0), `--io {}`, `--flush {}`, segments of {:.0} MiB, the metrics endpoint on \
             loopback. **One shard: the cleaner and the measured load share its core** (the \
             cleaner runs on the shard that owns the log, one step of at most {} KiB of I/O at a \
             time, the shard's requests served between steps). Measured load: one connection \
             (a thread of its own, pinned to the last CPU), {} records of {} B per Produce \
             request (uncompressed, no keys) to `{LIVE_TOPIC}`, acks=1, one request every \
             {interval_ms:.1} ms ({} records/s, far below the shard's capacity), sent at its \
             time when fewer than {LIVE_IN_FLIGHT_MAX} are unanswered (Kafka's \
             `max.in.flight.requests.per.connection` default), else as soon as one is; latency \
             from each request's *scheduled* send time to its response, so a stall delays the \
             requests behind it and counts for them too (the round trip from the actual send \
             is given beside it). Per round: `{DIRTY_TOPIC}` (cleanup.policy=delete) gets {:.0} MiB of \
             {} batches of {} records ({} distinct keys in turn, {} B text-like values; {} \
             requests in flight), {:.1} s pause, then a **baseline** window of {:.1} s; then \
             `{DIRTY_TOPIC}` is switched to cleanup.policy=compact (IncrementalAlterConfigs) \
             and the **compaction** window runs from that switch until the broker's \
             `ringlog_cleaner_passes_total` shows the pass finished (the cleaner wakes within \
             1 s; at most {:.0} s), then the topic goes back to delete. The metrics endpoint is \
             scraped every {METRICS_POLL_MS} ms in both kinds of window; the cleaner's bytes \
             read, written and busy seconds are its counters' growth over the window (they grow \
             when a pass ends).\n",
            c.io,
            c.flush,
            c.segment_bytes as f64 / MIB,
            COMPACT_STEP_BYTES_DEFAULT >> 10,
            c.live_batch_records,
            LIVE_RECORD_BYTES,
            count(c.live_rate),
            c.dirty_bytes as f64 / MIB,
            c.dirty_codec,
            DIRTY_BATCH_RECORDS,
            count(c.dirty_keys),
            DIRTY_VALUE_BYTES,
            FILL_IN_FLIGHT,
            SETTLE_MS as f64 / 1e3,
            c.baseline.as_secs_f64(),
            c.pass_wait.as_secs_f64(),
        );
        let _ = writeln!(
            s,
            "| window | p50 us | p99 us | p99.9 us | max us | round trip p50 us | round trip \
             p99 us | samples | window s | cleaner read MB/s | cleaner busy share |\n\
             |---|---|---|---|---|---|---|---|---|---|---|"
        );
        for kind in WindowKind::ALL {
            let lat = |which: Which, g: fn(&Latencies) -> u64| {
                cell(
                    self.window_summary(kind, |w| which.of(w).map(|l| g(&l) as f64)),
                    0,
                )
            };
            let (at, rt) = (Which::Scheduled, Which::RoundTrip);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                kind.name(),
                lat(at, |l| l.p50_us),
                lat(at, |l| l.p99_us),
                lat(at, |l| l.p999_us),
                lat(at, |l| l.max_us),
                lat(rt, |l| l.p50_us),
                lat(rt, |l| l.p99_us),
                lat(at, |l| l.count),
                cell(self.window_summary(kind, |w| Some(w.seconds())), 1),
                cell(
                    self.window_summary(kind, |w| Some(w.cleaner_read_mb_per_s())),
                    1
                ),
                cell(self.window_summary(kind, |w| Some(w.busy_share())), 2),
            );
        }
        let ratios = |which: Which| -> String {
            FIGURES
                .iter()
                .map(|(name, g)| format!("{name} {}", times(self.latency_ratio(which, *g))))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "\nCompaction / baseline (medians), from the schedule: {}; round trips: {}.",
            ratios(Which::Scheduled),
            ratios(Which::RoundTrip)
        );
        let input = self.window_summary(WindowKind::Compaction, |w| Some(w.input_mb_per_s()));
        let _ = writeln!(
            s,
            "Cleaning inside the broker: the cleaner read {} MB/s of the compaction window \
             (median); the dirty log ({} MB before the window) went at {} MB/s of input per \
             window second.",
            cell(
                self.window_summary(WindowKind::Compaction, |w| Some(w.cleaner_read_mb_per_s())),
                1
            ),
            cell(
                self.window_summary(WindowKind::Compaction, |w| Some(w.dirty_bytes_before / 1e6)),
                0
            ),
            cell(input, 1),
        );
        if self.unfinished() > 0 {
            let _ = writeln!(
                s,
                "\n**{} compaction window(s) ended before the pass did** (at the {:.0} s \
                 bound): their cleaner counters are 0.",
                self.unfinished(),
                self.config.pass_wait.as_secs_f64()
            );
        }
        if self.dropped_samples > 0 {
            let _ = writeln!(
                s,
                "\n{} measured requests were answered past the sample bound and not kept.",
                self.dropped_samples
            );
        }
        let _ = writeln!(
            s,
            "\n### Windows\n\n| round | window | s | samples | p50 us | p99 us | p99.9 us | max \
             us | round trip p99 us | longest round trip us, at (s into the window) | passes | \
             cleaner read MB | written MB | busy s | dirty MB before -> after | fill MB in s |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for w in &self.windows {
            let l =
                |g: fn(&Latencies) -> u64| w.latency.as_ref().map_or("n/a".into(), |l| count(g(l)));
            let k = &w.cleaner;
            let _ = writeln!(
                s,
                "| {} | {}{} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {:.1} \
                 | {:.2} | {:.1} -> {:.1} | {} |",
                w.round,
                w.kind.name(),
                if w.finished { "" } else { " (unfinished)" },
                w.seconds(),
                l(|l| l.count),
                l(|l| l.p50_us),
                l(|l| l.p99_us),
                l(|l| l.p999_us),
                l(|l| l.max_us),
                w.round_trip
                    .as_ref()
                    .map_or("n/a".into(), |l| count(l.p99_us)),
                match (w.round_trip, w.worst_at_s) {
                    (Some(l), Some(at)) => format!("{} at {at:.2} s", count(l.max_us)),
                    _ => "n/a".into(),
                },
                k.passes,
                k.read_bytes / 1e6,
                k.written_bytes / 1e6,
                k.seconds,
                w.dirty_bytes_before / 1e6,
                k.partition_bytes / 1e6,
                w.fill.map_or("".into(), |f| format!(
                    "{:.1} in {:.2}",
                    f.bytes as f64 / 1e6,
                    f.seconds
                )),
            );
        }
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let c = &self.config;
        let config = JsonObject::new()
            .str(
                "parts",
                &c.parts
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .num("rounds", c.rounds as f64)
            .str(
                "codecs",
                &c.codecs
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .num("input_bytes", c.input_bytes as f64)
            .num("rate_keys", c.rate_keys as f64)
            .num("rate_value_bytes", c.rate_value_bytes as f64)
            .num("rate_batch_records", RECORDS_PER_BATCH as f64)
            .num("step_bytes", COMPACT_STEP_BYTES_DEFAULT as f64)
            .num("broker_cores", BROKER_CORES as f64)
            .str("io", &c.io.to_string())
            .str("flush", &c.flush)
            .num("segment_bytes", c.segment_bytes as f64)
            .num("dirty_bytes", c.dirty_bytes as f64)
            .str("dirty_codec", &c.dirty_codec.to_string())
            .num("dirty_keys", c.dirty_keys as f64)
            .num("dirty_value_bytes", DIRTY_VALUE_BYTES as f64)
            .num("dirty_batch_records", DIRTY_BATCH_RECORDS as f64)
            .num("live_rate", c.live_rate as f64)
            .num("live_batch_records", c.live_batch_records as f64)
            .num("live_record_bytes", LIVE_RECORD_BYTES as f64)
            .num("baseline_seconds", c.baseline.as_secs_f64())
            .num("pass_wait_seconds", c.pass_wait.as_secs_f64())
            .num("metrics_poll_ms", METRICS_POLL_MS as f64)
            .finish();
        let rate = json_array(self.codecs().into_iter().map(|codec| {
            JsonObject::new()
                .str("codec", &codec.to_string())
                .raw(
                    "mb_per_s_per_core",
                    &summary_json(self.rate_summary(codec, RateRun::mb_per_s_per_core)),
                )
                .raw(
                    "wall_mb_per_s",
                    &summary_json(self.rate_summary(codec, RateRun::wall_mb_per_s)),
                )
                .raw(
                    "output_ratio",
                    &summary_json(self.rate_summary(codec, RateRun::output_ratio)),
                )
                .finish()
        }));
        let windows = json_array(WindowKind::ALL.into_iter().map(|kind| {
            let mut o = JsonObject::new();
            o.str("kind", kind.name());
            for which in Which::ALL {
                let mut l = JsonObject::new();
                for (name, g) in FIGURES {
                    l.raw(
                        &format!("{}_us", name.replace('.', "")),
                        &summary_json(
                            self.window_summary(kind, |w| which.of(w).map(|l| g(&l) as f64)),
                        ),
                    );
                }
                o.raw(which.name(), &l.finish());
            }
            o.raw(
                "seconds",
                &summary_json(self.window_summary(kind, |w| Some(w.seconds()))),
            )
            .raw(
                "cleaner_read_mb_per_s",
                &summary_json(self.window_summary(kind, |w| Some(w.cleaner_read_mb_per_s()))),
            )
            .raw(
                "busy_share",
                &summary_json(self.window_summary(kind, |w| Some(w.busy_share()))),
            )
            .finish()
        }));
        let mut ratios = JsonObject::new();
        for which in Which::ALL {
            let mut r = JsonObject::new();
            for (name, g) in FIGURES {
                r.raw(
                    &name.replace('.', ""),
                    &option_json(self.latency_ratio(which, g)),
                );
            }
            ratios.raw(which.name(), &r.finish());
        }
        JsonObject::new()
            .str("benchmark", "compaction")
            .str("command", &c.command)
            .raw("machine", &self.machine.to_json())
            .str("loadavg_start", &self.loadavg[0])
            .str("loadavg_end", &self.loadavg[1])
            .num("wall_seconds", self.wall_seconds)
            .raw("config", &config)
            .raw("rate", &rate)
            .raw("windows", &windows)
            .raw("latency_ratio_compaction_over_baseline", &ratios.finish())
            .num("unfinished_passes", self.unfinished() as f64)
            .num("dropped_samples", self.dropped_samples as f64)
            .raw("rate_runs", &json_array(self.rate.iter().map(rate_json)))
            .raw(
                "window_runs",
                &json_array(self.windows.iter().map(window_json)),
            )
            .raw("failures", &json_strings(&self.failures))
            .finish()
    }

    /// Writes `compaction-<date>.md` and `.json` into `dir`; returns the Markdown file's path.
    pub fn write_files(&self, dir: &Path) -> Result<PathBuf, LoadError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| LoadError(format!("creating {}: {e}", dir.display())))?;
        write_dated(dir, "compaction", now_ms(), self.markdown(), self.to_json())
    }
}

impl fmt::Display for CompactionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.markdown())
    }
}

#[cfg(test)]
mod tests {
    use crate::compaction::measure::tests::report;

    #[test]
    fn markdown_has_both_parts_the_ratios_and_every_window() {
        let md = report().markdown();
        assert!(md.contains("kernel 6.18.44"), "{md}");
        // None: 100, 200, 125 MB/s per core; wall 80, 160, 100.
        assert!(
            md.contains("| none | 125.0 (100.0..200.0) | 100.0 (80.0..160.0) | 0.0100 "),
            "{md}"
        );
        assert!(md.contains("| lz4 | 50.0 (50.0..50.0) |"), "{md}");
        assert!(!md.contains("| zstd |"), "{md}");
        assert!(
            md.contains("| baseline | 275 (250..300) | 1,100 (1,000..1,200) |"),
            "{md}"
        );
        assert!(
            md.contains("| compaction | 1,500 (1,000..2,000) | 6,000 (4,000..8,000) |"),
            "{md}"
        );
        assert!(
            md.contains("from the schedule: p50 5.45x, p99 5.45x,"),
            "{md}"
        );
        assert!(md.contains("round trips: p50 5.47x, p99 5.45x,"), "{md}");
        assert!(
            md.contains("the cleaner read 80.0 (50.0..100.0) MB/s"),
            "{md}"
        );
        assert!(md.contains("1 compaction window(s) ended before the pass did"));
        assert_eq!(
            md.matches("\n| 2 | baseline | 5.0 | 2,500 |").count(),
            1,
            "{md}"
        );
        assert!(md.contains("| 3 | compaction (unfinished) | 8.0 |"), "{md}");
        assert!(md.contains("| 200.0 in 1.00 |"), "{md}");
        assert!(!md.contains("Failed rounds"));
    }

    #[test]
    fn json_carries_medians_ratios_and_every_run() {
        let json = report().to_json();
        assert!(
            json.starts_with("{\"benchmark\":\"compaction\",\"command\":"),
            "{json}"
        );
        assert!(
            json.contains(
                "{\"codec\":\"none\",\"mb_per_s_per_core\":{\"median\":125,\"min\":100,\"max\":200}"
            ),
            "{json}"
        );
        assert!(
            json.contains("\"kind\":\"compaction\",\"scheduled\":{\"p50_us\":{\"median\":1500,"),
            "{json}"
        );
        assert!(
            json.contains("\"round_trip\":{\"p50\":5.474452554744525,\"p99\":5.45"),
            "{json}"
        );
        assert!(json.contains("\"unfinished_passes\":1"), "{json}");
        assert!(json.contains("\"dirty_codec\":\"lz4\""), "{json}");
        assert!(json.contains("\"fill\":{\"bytes\":200000000,"), "{json}");
        assert!(json.contains("\"failures\":[]"), "{json}");
        assert_eq!(json.matches("\"kind\":\"baseline\"").count(), 4, "{json}");
    }
}
