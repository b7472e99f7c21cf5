//! Reporting `compare`: the Markdown table (with the goals), the bar chart of the io_uring
//! advantage (hand-written SVG), the JSON, and the files `bench-results/compare.{md,svg,json}`.

use std::fmt::Write as _;
use std::path::Path;

use super::measure::{CompareReport, WorkloadResult};
use super::{DRIVERS, WORKLOADS};
use crate::load::{Latency, LoadError, LoadReport};
use crate::{human, json_array, json_number, xml, JsonObject, Summary};

/// Chart width, px.
const W: f64 = 760.0;
/// Chart height, px.
const H: f64 = 400.0;
/// x of the value axis, px.
const LEFT: f64 = 60.0;
/// y of the zero line, px.
const BOTTOM: f64 = 330.0;
/// y of the largest value, px.
const TOP: f64 = 50.0;
/// The largest advantage the chart shows (taller bars are cut).
const TOP_VALUE_MAX: f64 = 10.0;

/// The vertical scale of the chart: advantages 0..=`top_value` onto BOTTOM..=TOP.
struct Scale {
    top_value: f64,
}

impl Scale {
    fn y(&self, v: f64) -> f64 {
        BOTTOM - (v.min(self.top_value) / self.top_value) * (BOTTOM - TOP)
    }
}

impl CompareReport {
    /// The results table in Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        self.markdown_setup(&mut s);
        self.markdown_results(&mut s);
        self.markdown_goals(&mut s);
        self.markdown_detail(&mut s);
        s
    }

    /// The machine, the command, how the runs were made, and the raw limits.
    fn markdown_setup(&self, s: &mut String) {
        let m = &self.machine;
        let c = &self.config;
        let _ = writeln!(s, "# ringlog bench compare: broker on io_uring vs epoll\n");
        let _ = writeln!(
            s,
            "Machine: {} CPUs, `{}`, kernel `{}`. Command: `{}`. {} rounds per workload (uring, \
             epoll alternately, a fresh broker and data directory per run), {:.1} s warm-up + \
             {:.1} s measured per run; broker: {} shard(s) pinned from CPU 0, `ringlog serve` as \
             a child process; generator: one thread pinned to CPU {} (epoll driver; io_uring for the paced workload 6, for ns timers). Wall clock {:.0} s.\n",
            m.cpus,
            m.cpu_model,
            m.kernel,
            c.command,
            c.rounds,
            c.warmup.as_secs_f64(),
            c.measure.as_secs_f64(),
            c.broker_cores,
            m.cpus.saturating_sub(1),
            self.wall_seconds
        );
        let _ = writeln!(s, "Raw limits, same run:\n");
        for line in self.limits.to_string().lines() {
            let _ = writeln!(s, "- {line}");
        }
        if let Some([u, e]) = self.calibration {
            let _ = writeln!(
                s,
                "- workload 6 calibration (its shape, closed loop): uring {} records/s, epoll {} \
                 records/s; offered load = 50% of the lower",
                human(u),
                human(e)
            );
        }
    }

    /// One row per workload: medians per driver, the advantage, broker CPU; fallbacks.
    fn markdown_results(&self, s: &mut String) {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| # | workload | metric | io_uring median (min..max) | epoll median (min..max) | \
             io_uring advantage (rounds min..max) | broker CPU s/GB uring | epoll |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for w in &self.workloads {
            let cell = |x: Option<Summary>| match x {
                Some(x) => format!("{} ({}..{})", human(x.median), human(x.min), human(x.max)),
                None => "n/a".into(),
            };
            let adv = match w.advantage() {
                Some((a, r)) => format!("**{a:.2}x** ({:.2}..{:.2})", r.min, r.max),
                None => "n/a".into(),
            };
            let cpu = |i| {
                w.cpu_per_gb(i)
                    .map_or("n/a".into(), |x| format!("{:.2}", x.median))
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                w.workload.id,
                w.workload.name,
                w.workload.metric.unit(),
                cell(w.metric(0)),
                cell(w.metric(1)),
                adv,
                cpu(0),
                cpu(1)
            );
        }
        let _ = writeln!(
            s,
            "\nAdvantage > 1 means io_uring is better (throughput: uring/epoll; latency: \
             epoll/uring). CPU s/GB: broker process CPU (user+sys, /proc/<pid>/stat) per 10^9 \
             payload bytes."
        );
        let fallbacks: usize = self.workloads.iter().map(WorkloadResult::fallbacks).sum();
        if fallbacks > 0 {
            let _ = writeln!(
                s,
                "\n**WARNING**: io_uring could not be set up in {fallbacks} run(s); those broker \
                 runs used epoll."
            );
        }
    }

    /// The goals of issue 6, met or not.
    fn markdown_goals(&self, s: &mut String) {
        let _ = writeln!(s, "\n| goal | measured | met |\n|---|---|---|");
        for g in self.goals() {
            let met = match g.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "n/a",
            };
            let _ = writeln!(s, "| {} | {} | {met} |", g.goal, g.measured);
        }
    }

    /// Latency percentiles and generator CPU per workload and driver.
    fn markdown_detail(&self, s: &mut String) {
        let _ = writeln!(s, "\nLatency and CPU detail (medians over rounds):\n");
        let _ = writeln!(
            s,
            "| # | driver | records/s | MB/s | p50 us | p99 us | p99.9 us | max us | generator CPU s/GB |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for w in &self.workloads {
            for (i, io) in DRIVERS.iter().enumerate() {
                let med =
                    |f: &dyn Fn(&LoadReport) -> f64| w.values(i, f).map_or(f64::NAN, |x| x.median);
                let lat = |f: fn(&Latency) -> f64| {
                    move |r: &LoadReport| r.latency.as_ref().map_or(f64::NAN, f)
                };
                let _ = writeln!(
                    s,
                    "| {} | {io} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
                    w.workload.id,
                    human(med(&|r| r.records_per_s())),
                    med(&|r| r.mb_per_s()),
                    med(&lat(|l| l.p50_us)),
                    med(&lat(|l| l.p99_us)),
                    med(&lat(|l| l.p999_us)),
                    med(&lat(|l| l.max_us)),
                    med(&|r| r.client_cpu_s_per_gb()),
                );
            }
        }
    }

    /// A bar chart of the io_uring advantage per workload, hand-written SVG.
    pub fn svg(&self) -> String {
        let bars: Vec<(usize, f64, Summary)> = self
            .workloads
            .iter()
            .filter_map(|w| w.advantage().map(|(a, s)| (w.workload.id, a, s)))
            .collect();
        let scale = Scale {
            top_value: bars
                .iter()
                .map(|(_, a, s)| a.max(s.max))
                .fold(1.5f64, f64::max)
                .min(TOP_VALUE_MAX),
        };
        let mut s = String::new();
        self.svg_axes(&mut s, &scale);
        svg_bars(&mut s, &scale, &bars);
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{}" fill="#555">dashed: 1.0x (parity), 1.2x (goal for workloads 2 and 5)</text>"##,
            H - 12.0
        );
        s.push_str("</svg>\n");
        s
    }

    /// Title, machine line, grid, and the dashed goal lines.
    fn svg_axes(&self, s: &mut String, scale: &Scale) {
        let (top_value, y) = (scale.top_value, |v| scale.y(v));
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">ringlog broker: io_uring advantage over epoll (median, whiskers = per-round min..max)</text>"#,
            W / 2.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="40" text-anchor="middle" fill="#555">{} CPUs, {}, kernel {}; {} rounds; &gt;1 = io_uring better</text>"##,
            W / 2.0,
            self.machine.cpus,
            xml(&self.machine.cpu_model),
            xml(&self.machine.kernel),
            self.config.rounds
        );
        // Axis and grid.
        let mut tick = 0.0;
        while tick <= top_value + 1e-9 {
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{tick:.1}x</text>"##,
                W - 20.0,
                LEFT - 6.0,
                y(tick) + 4.0,
                y = y(tick)
            );
            tick += if top_value > 3.0 { 1.0 } else { 0.25 };
        }
        for (goal, color) in [(1.0, "#333"), (1.2, "#c60")] {
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="{color}" stroke-dasharray="6,4"/>"#,
                W - 20.0,
                y = y(goal)
            );
        }
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        let machine = self.machine.to_json();
        let workloads = json_array(self.workloads.iter().map(|w| {
            let runs = json_array(w.rounds.iter().enumerate().flat_map(|(i, pair)| {
                pair.iter()
                    .map(|r| {
                        JsonObject::new()
                            .num("round", (i + 1) as f64)
                            .str("requested", &r.requested.to_string())
                            .str("effective", &r.effective.to_string())
                            .raw("report", &r.report.to_json(&self.machine))
                            .finish()
                    })
                    .collect::<Vec<_>>()
            }));
            let adv = w.advantage();
            JsonObject::new()
                .num("id", w.workload.id as f64)
                .str("name", w.workload.name)
                .str("metric", w.workload.metric.unit())
                .num("uring_median", w.metric(0).map_or(f64::NAN, |x| x.median))
                .num("epoll_median", w.metric(1).map_or(f64::NAN, |x| x.median))
                .num("advantage", adv.map_or(f64::NAN, |a| a.0))
                .num("advantage_min", adv.map_or(f64::NAN, |a| a.1.min))
                .num("advantage_max", adv.map_or(f64::NAN, |a| a.1.max))
                .raw("rate", &w.rate.map_or("null".into(), json_number))
                .num("batch_bytes", w.batch_bytes as f64)
                .raw("runs", &runs)
                .finish()
        }));
        let goals = json_array(self.goals().into_iter().map(|g| {
            JsonObject::new()
                .str("goal", &g.goal)
                .str("measured", &g.measured)
                .raw("met", &g.met.map_or("null".into(), |m| m.to_string()))
                .finish()
        }));
        JsonObject::new()
            .str("benchmark", "compare")
            .str("command", &self.config.command)
            .raw("machine", &machine)
            .num("rounds", self.config.rounds as f64)
            .num("warmup_s", self.config.warmup.as_secs_f64())
            .num("measure_s", self.config.measure.as_secs_f64())
            .num("broker_cores", self.config.broker_cores as f64)
            .raw("limits", &self.limits.to_json())
            .raw("workloads", &workloads)
            .raw("goals", &goals)
            .num("wall_seconds", self.wall_seconds)
            .finish()
    }

    /// Write compare.md, compare.svg, compare.json into `dir`.
    pub fn write_files(&self, dir: &Path) -> Result<(), LoadError> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, text: String| {
            std::fs::write(dir.join(name), text)
                .map_err(|e| LoadError(format!("{}: {e}", dir.join(name).display())))
        };
        write("compare.md", self.markdown())?;
        write("compare.svg", self.svg())?;
        write("compare.json", self.to_json() + "\n")
    }
}

/// One bar per workload (`(id, advantage, per-round spread)`) with its whisker and label.
fn svg_bars(s: &mut String, scale: &Scale, bars: &[(usize, f64, Summary)]) {
    let y = |v| scale.y(v);
    let slot = (W - LEFT - 20.0) / bars.len().max(1) as f64;
    for (i, (id, adv, spread)) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + slot * 0.2;
        let bw = slot * 0.6;
        let color = if *adv >= 1.0 { "#2a7ab9" } else { "#c0392b" };
        let _ = writeln!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{color}"/>"#,
            y(*adv),
            BOTTOM - y(*adv)
        );
        let cx = x + bw / 2.0;
        let _ = writeln!(
            s,
            r#"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle">{adv:.2}x</text>"#,
            y(spread.min),
            y(spread.max),
            y(adv.max(spread.max)) - 6.0
        );
        let name = WORKLOADS[id - 1].name;
        let (a, b) = split_label(name);
        let _ = writeln!(
            s,
            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{id}. {}</text><text x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            BOTTOM + 18.0,
            xml(a),
            BOTTOM + 34.0,
            xml(b)
        );
    }
}

impl std::fmt::Display for CompareReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.markdown())
    }
}

/// Split a workload name at the first ", " for a two-line chart label.
fn split_label(name: &str) -> (&str, &str) {
    name.split_once(", ").unwrap_or((name, ""))
}
