//! Reporting `bench views`: the Markdown tables (per layout, the goals on homogeneous batches,
//! the cost on mixed ones), the JSON, and the files `views-<date>.{md,json}`.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use super::clients::now_ms;
use super::config::{Layout, FILTER, MATCH_TAG, TAG_HEADER};
use super::measure::{
    Consume, LayoutRun, ViewsReport, DELIVERED_GOAL_RATIO, TIME_GOAL_RATIO, WIRE_GOAL_RATIO,
    ZERO_COPY_GOAL_SHARE,
};
use crate::format::{count, failures_markdown, json_strings, write_dated};
use crate::load::LoadError;
use crate::{cell, human, json_array, summary_json, JsonObject, Summary};

/// A ratio with two decimals, or `n/a`.
fn times(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}"))
}

/// A share (0..=1) as a percentage with one decimal, or `n/a`.
fn percent(s: Option<f64>) -> String {
    s.map_or("n/a".into(), |s| format!("{:.1}%", s * 100.0))
}

fn option_json(v: Option<f64>) -> String {
    v.map_or("null".into(), crate::json_number)
}

fn consume_json(t: &Consume) -> String {
    let mut o = JsonObject::new();
    o.num("records", t.records as f64)
        .num("bytes", t.bytes as f64)
        .num("wire_bytes", t.wire_bytes as f64)
        .num("fetches", t.fetches as f64)
        .num("seconds", t.seconds)
        .num("all_matches_seconds", t.all_matches_seconds)
        .num("mb_per_s", t.mb_per_s())
        .num("records_per_s", t.records_per_s())
        .raw("broker_cpu_s", &option_json(t.broker_cpu_s))
        .raw("client_cpu_s", &option_json(t.client_cpu_s))
        .num("foreign", t.foreign as f64);
    o.finish()
}

fn heading(layout: Layout) -> &'static str {
    match layout {
        Layout::Homogeneous => "Homogeneous batches (every batch holds one tag)",
        Layout::Mixed => "Mixed batches (every batch holds every tag)",
    }
}

/// The three consumers of one layout, in table order: name, and how to get the consume.
type Row = (&'static str, fn(&LayoutRun) -> &Consume);
const ROWS: [Row; 3] = [
    ("view (Fetch of the view)", |l| &l.view),
    ("whole topic, filtered in the client", |l| &l.client_filter),
    ("whole topic, unfiltered", |l| &l.unfiltered),
];

impl ViewsReport {
    fn consume_summary(
        &self,
        layout: Layout,
        get: fn(&LayoutRun) -> &Consume,
        f: impl Fn(&Consume) -> Option<f64>,
    ) -> Option<Summary> {
        self.summary(layout, |l| f(get(l)))
    }

    fn layout_markdown(&self, s: &mut String, layout: Layout) {
        let _ = writeln!(
            s,
            "\n## {}\n\n| consumer | delivered MB/s | records/s | x unfiltered | all matches \
             after s | wire MB | broker CPU s/GB delivered | consumer CPU s/GB delivered |\n\
             |---|---|---|---|---|---|---|---|",
            heading(layout)
        );
        let unfiltered = self
            .consume_summary(layout, |l| &l.unfiltered, |c| Some(c.mb_per_s()))
            .map(|u| u.median);
        for (name, get) in ROWS {
            let mb = self.consume_summary(layout, get, |c| Some(c.mb_per_s()));
            let x = mb.zip(unfiltered).and_then(|(m, u)| ratio(m.median, u));
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                cell(mb, 1),
                cell(
                    self.consume_summary(layout, get, |c| Some(c.records_per_s())),
                    0
                ),
                times(x),
                cell(
                    self.consume_summary(layout, get, |c| Some(c.all_matches_seconds)),
                    3
                ),
                cell(self.consume_summary(layout, get, |c| Some(c.wire_mb())), 1),
                cell(self.consume_summary(layout, get, |c| c.cpu_s_per_gb()), 2),
                cell(
                    self.consume_summary(layout, get, |c| c.client_cpu_s_per_gb()),
                    2
                ),
            );
        }
        let zc = self.summary(layout, |l| l.counters?.zero_copy_share());
        let _ = writeln!(
            s,
            "\nThe view's batches (DescribeViews, summed over rounds): {} sent whole \
             (zero-copy), {} skipped unread, {} read and rewritten, {} read unindexed; zero-copy \
             share of the delivered bytes {} (min {}, max {}); records delivered by the view that \
             do not match: {}.",
            count(self.total(layout, |l| l.counters.map_or(0, |c| c.batches_whole))),
            count(self.total(layout, |l| l.counters.map_or(0, |c| c.batches_skipped))),
            count(self.total(layout, |l| l.counters.map_or(0, |c| c.batches_rewritten))),
            count(self.total(layout, |l| l.counters.map_or(0, |c| c.batches_unindexed))),
            percent(zc.map(|z| z.median)),
            percent(zc.map(|z| z.min)),
            percent(zc.map(|z| z.max)),
            count(self.total(layout, |l| l.view.foreign)),
        );
    }

    fn ratios_markdown(&self, s: &mut String, layout: Layout, verdicts: bool) {
        for g in self.goals(layout) {
            let value = if g.what.starts_with("share") {
                percent(Some(g.value))
            } else {
                format!("{:.2} x", g.value)
            };
            let goal = if g.what.starts_with("share") {
                percent(Some(g.goal))
            } else {
                format!("{} x", g.goal)
            };
            let verdict = match (verdicts, g.met) {
                (false, _) => String::new(),
                (true, true) => ", met".into(),
                (true, false) => ", **not met**".into(),
            };
            let _ = writeln!(s, "- {}: {value} (goal >= {goal}){verdict}", g.what);
        }
        let _ = writeln!(
            s,
            "- broker CPU per delivered GB, view / client-side filter: {} x",
            times(self.cpu_ratio(layout))
        );
        let _ = writeln!(
            s,
            "- broker + consumer CPU per delivered GB, view / client-side filter: {} x",
            times(self.total_cpu_ratio(layout))
        );
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# ringlog bench views: a filtered view against filtering in the client (issue #17)\n"
        );
        let _ = writeln!(
            s,
            "Machine: {} CPUs, {}, kernel {}. Broker {}. Per round and layout a new topic, 1 \
             partition, {} records of {} B ({:.0} MB of values), {}% of them with header \
             `{TAG_HEADER}` = '{MATCH_TAG}' and the others another tag, produced in batches of {} \
             records (uncompressed) after the view `<topic>-red` (`{FILTER}`) was created with \
             CreateTopics configs `ringlog.view.source`/`ringlog.view.filter`, so its filter \
             index is written at append time. Consumers: ringlog's own client, one connection, \
             Fetch from offset 0 until past the source's log end ({} bytes per fetch, long-poll \
             wait {} ms), every record received decoded; the three consumes of a layout run in \
             an order rotated every round, each right after the topic was read into the page \
             cache (its files, for a broker started here; an unmeasured consume through the \
             broker at `--bootstrap`). Delivered bytes: the values of the records handed to the \
             application (the matching ones for the view and the client-side filter, all for the \
             unfiltered consume); MB/s to the log end; wire: record-batch bytes of the Fetch \
             responses; all matches after: from the first Fetch to the receipt of the last \
             matching record; CPU over the consume, per delivered GB: the broker's, summed over its \
             threads (`/proc/PID/task/*/schedstat`, ns: a consume of the view lasts milliseconds, \
             too short for the 10 ms ticks of `/proc/PID/stat`), and the consuming thread's. \
             Rounds: \
             {}; a figure is the median (min..max of the rounds); ratios are of medians. Wall \
             time {:.0} s; load average {} at the start, {} at the end.\n",
            m.cpus,
            m.cpu_model,
            m.kernel,
            self.broker,
            human(c.records as f64),
            c.record_bytes,
            c.records as f64 * c.record_bytes as f64 / 1e6,
            c.match_percent,
            c.fill_batch_records(),
            c.fetch_bytes,
            c.max_wait.as_millis(),
            c.rounds,
            self.wall_seconds,
            self.loadavg[0],
            self.loadavg[1],
        );
        let _ = writeln!(s, "Reproduce: `{}`", c.command);
        for layout in self.layouts() {
            self.layout_markdown(&mut s, layout);
        }
        if self.layouts().contains(&Layout::Homogeneous) {
            let _ = writeln!(s, "\n## Goals (homogeneous batches)\n");
            self.ratios_markdown(&mut s, Layout::Homogeneous, true);
        }
        if self.layouts().contains(&Layout::Mixed) {
            let _ = writeln!(
                s,
                "\n## Mixed batches: the cost\n\nNo batch matches entirely or not at all, so \
                 every batch is read and rewritten to its matching records: nothing goes out \
                 zero-copy. The same ratios, without a verdict (the goals are for homogeneous \
                 batches):\n"
            );
            self.ratios_markdown(&mut s, Layout::Mixed, false);
        }
        failures_markdown(&mut s, &self.failures);
        let _ = writeln!(
            s,
            "\n## Rounds\n\n| round | layout | fill s | index backlog | view MB/s (fetches) | \
             view all matches s | client-side all matches s | unfiltered MB/s | zero-copy | \
             batches whole/skipped/rewritten/unindexed |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.rounds {
            for l in &r.layouts {
                let batches = l.counters.map_or("n/a".into(), |k| {
                    format!(
                        "{}/{}/{}/{}",
                        k.batches_whole,
                        k.batches_skipped,
                        k.batches_rewritten,
                        k.batches_unindexed
                    )
                });
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1} | {} | {:.1} ({}) | {:.3} | {:.3} | {:.1} | {} | {batches} |",
                    r.round,
                    l.layout.name(),
                    l.fill_seconds,
                    l.index_backlog.map_or("n/a".into(), |b| b.to_string()),
                    l.view.mb_per_s(),
                    l.view.fetches,
                    l.view.all_matches_seconds,
                    l.client_filter.all_matches_seconds,
                    l.unfiltered.mb_per_s(),
                    percent(l.counters.and_then(|k| k.zero_copy_share())),
                );
            }
        }
        if let Some(e) = self
            .rounds
            .iter()
            .flat_map(|r| r.layouts.iter())
            .find_map(|l| l.counters_error.as_deref())
        {
            let _ = writeln!(s, "\nDescribeViews failed (no counters): {e}");
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
            .num("match_percent", f64::from(c.match_percent))
            .num("batch_records", c.fill_batch_records() as f64)
            .num("fetch_bytes", f64::from(c.fetch_bytes))
            .num("max_wait_ms", c.max_wait.as_millis() as f64)
            .str("filter", FILTER)
            .finish();
        let layouts = json_array(self.layouts().into_iter().map(|layout| {
            let consumers = ROWS.map(|(_, get)| {
                JsonObject::new()
                    .raw(
                        "mb_per_s",
                        &summary_json(self.consume_summary(layout, get, |c| Some(c.mb_per_s()))),
                    )
                    .raw(
                        "records_per_s",
                        &summary_json(
                            self.consume_summary(layout, get, |c| Some(c.records_per_s())),
                        ),
                    )
                    .raw(
                        "all_matches_seconds",
                        &summary_json(
                            self.consume_summary(layout, get, |c| Some(c.all_matches_seconds)),
                        ),
                    )
                    .raw(
                        "wire_bytes",
                        &summary_json(
                            self.consume_summary(layout, get, |c| Some(c.wire_bytes as f64)),
                        ),
                    )
                    .raw(
                        "cpu_s_per_gb",
                        &summary_json(self.consume_summary(layout, get, |c| c.cpu_s_per_gb())),
                    )
                    .raw(
                        "client_cpu_s_per_gb",
                        &summary_json(
                            self.consume_summary(layout, get, |c| c.client_cpu_s_per_gb()),
                        ),
                    )
                    .finish()
            });
            let goals = json_array(self.goals(layout).iter().map(|g| {
                JsonObject::new()
                    .str("what", g.what)
                    .num("value", g.value)
                    .num("goal", g.goal)
                    .bool("met", g.met)
                    .finish()
            }));
            JsonObject::new()
                .str("layout", layout.name())
                .raw("view", &consumers[0])
                .raw("client_filter", &consumers[1])
                .raw("unfiltered", &consumers[2])
                .raw(
                    "zero_copy_share",
                    &summary_json(self.summary(layout, |l| l.counters?.zero_copy_share())),
                )
                .raw(
                    "delivered_ratio",
                    &option_json(self.delivered_ratio(layout)),
                )
                .raw("wire_ratio", &option_json(self.wire_ratio(layout)))
                .raw("time_ratio", &option_json(self.time_ratio(layout)))
                .raw("cpu_ratio", &option_json(self.cpu_ratio(layout)))
                .raw(
                    "total_cpu_ratio",
                    &option_json(self.total_cpu_ratio(layout)),
                )
                .raw("goals", &goals)
                .bool("goals_apply", layout == Layout::Homogeneous)
                .finish()
        }));
        let rounds = json_array(self.rounds.iter().flat_map(|r| {
            r.layouts.iter().map(move |l| {
                let mut o = JsonObject::new();
                o.num("round", r.round as f64)
                    .str("layout", l.layout.name())
                    .str("topic", &l.topic)
                    .num("fill_seconds", l.fill_seconds)
                    .num("matching", l.matching as f64)
                    .raw(
                        "index_backlog",
                        &option_json(l.index_backlog.map(|b| b as f64)),
                    )
                    .raw("view", &consume_json(&l.view))
                    .raw("client_filter", &consume_json(&l.client_filter))
                    .raw("unfiltered", &consume_json(&l.unfiltered));
                match &l.counters {
                    Some(k) => o.raw(
                        "counters",
                        &JsonObject::new()
                            .num("bytes_zero_copy", k.bytes_zero_copy as f64)
                            .num("bytes_rewritten", k.bytes_rewritten as f64)
                            .num("batches_whole", k.batches_whole as f64)
                            .num("batches_skipped", k.batches_skipped as f64)
                            .num("batches_rewritten", k.batches_rewritten as f64)
                            .num("batches_unindexed", k.batches_unindexed as f64)
                            .finish(),
                    ),
                    None => o.raw("counters", "null"),
                };
                if let Some(e) = &l.counters_error {
                    o.str("counters_error", e);
                }
                o.finish()
            })
        }));
        JsonObject::new()
            .str("benchmark", "views")
            .str("label", &c.label)
            .str("broker", &self.broker)
            .str("command", &c.command)
            .raw("machine", &machine)
            .str("loadavg_start", &self.loadavg[0])
            .str("loadavg_end", &self.loadavg[1])
            .num("wall_seconds", self.wall_seconds)
            .raw("config", &config)
            .raw(
                "goal_targets",
                &JsonObject::new()
                    .num("delivered_ratio", DELIVERED_GOAL_RATIO)
                    .num("zero_copy_share", ZERO_COPY_GOAL_SHARE)
                    .num("wire_ratio", WIRE_GOAL_RATIO)
                    .num("time_ratio", TIME_GOAL_RATIO)
                    .finish(),
            )
            .raw("layouts", &layouts)
            .raw("rounds", &rounds)
            .raw("failures", &json_strings(&self.failures))
            .finish()
    }

    /// Writes `views-<date>.md` and `.json` into `dir`; returns the Markdown file's path.
    pub fn write_files(&self, dir: &Path) -> Result<PathBuf, LoadError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| LoadError(format!("creating {}: {e}", dir.display())))?;
        write_dated(dir, "views", now_ms(), self.markdown(), self.to_json())
    }
}

/// `a / b`, `None` unless `b` is positive.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

impl fmt::Display for ViewsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.markdown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::measure::tests::report;

    #[test]
    fn markdown_has_the_tables_the_goals_and_the_mixed_cost() {
        let md = report().markdown();
        assert!(
            md.contains(
                "| view (Fetch of the view) | 160.0 (100.0..200.0) | 160,000 (100,000..200,000) \
                 | 0.80 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| whole topic, unfiltered | 200.0 (200.0..200.0) |"),
            "{md}"
        );
        assert!(
            md.contains("- view / unfiltered delivered bytes/s: 0.80 x (goal >= 0.8 x), met"),
            "{md}"
        );
        assert!(
            md.contains(
                "- share of the view's delivered bytes sent zero-copy: 96.0% (goal >= 95.0%), met"
            ),
            "{md}"
        );
        assert!(
            md.contains("- wire bytes, client-side filter / view: 10.00 x (goal >= 5 x), met"),
            "{md}"
        );
        // Mixed: the same ratios without a verdict.
        let mixed = md.split("## Mixed batches: the cost").nth(1).unwrap();
        assert!(
            mixed.contains("- view / unfiltered delivered bytes/s: 0.20 x (goal >= 0.8 x)\n"),
            "{md}"
        );
        assert!(!mixed.split("## Rounds").next().unwrap().contains("met"));
        assert!(
            md.contains("3 sent whole (zero-copy), 27 skipped unread"),
            "{md}"
        );
        assert_eq!(
            md.matches("\n| 2 | homogeneous | 1.0 | 0 | 160.0 (10) |")
                .count(),
            1
        );
        assert!(!md.contains("Failed rounds"));
    }

    #[test]
    fn json_carries_medians_ratios_and_goals() {
        let json = report().to_json();
        assert!(
            json.starts_with("{\"benchmark\":\"views\",\"label\":\"ringlog\""),
            "{json}"
        );
        assert!(
            json.contains(
                "{\"layout\":\"homogeneous\",\"view\":{\"mb_per_s\":{\"median\":160,\"min\":100,\
                 \"max\":200}"
            ),
            "{json}"
        );
        assert!(json.contains("\"delivered_ratio\":0.8,"), "{json}");
        assert!(json.contains("\"wire_ratio\":10,"), "{json}");
        assert!(json.contains("\"goals_apply\":false"), "{json}");
        assert!(
            json.contains("\"counters\":{\"bytes_zero_copy\":96,"),
            "{json}"
        );
        assert!(json.contains("\"failures\":[]"), "{json}");
    }

    #[test]
    fn counts_and_shares_print_as_said() {
        assert_eq!(count(999), "999");
        assert_eq!(count(4_608), "4,608");
        assert_eq!(percent(Some(0.9567)), "95.7%");
        assert_eq!(percent(None), "n/a");
        assert_eq!(times(None), "n/a");
        assert_eq!(ratio(1.0, 0.0), None);
    }
}
