//! Reporting the transfer benchmark: the raw table (GB/s and CPU per GB per cell, against the
//! best of its slice size), the broker table (consume against the best raw path), JSON, and a
//! grouped bar chart (hand-written SVG).

use std::fmt::{self, Write as _};

use ringlog_broker::transfer::TransferPath;
use ringlog_runtime::IoKind;

use super::measure::{BrokerRow, BrokerSample, Cell, RawSample, TransferBenchReport};
use super::{FETCH_BYTES, HEADER_BYTES, RECEIVER_CPU, RECORD_BYTES, SENDER_CPU};
use crate::{json_array, xml, JsonObject, Summary};

/// Chart: bar width, px.
const BAR_W: f64 = 12.0;
/// Chart: gap between slice groups, px.
const GAP: f64 = 24.0;
/// Chart: x of the value axis, px.
const LEFT: f64 = 60.0;
/// Chart: y of the plot's top, px.
const TOP: f64 = 40.0;
/// Chart: plot height, px.
const PLOT_H: f64 = 300.0;
/// Chart: room right of the plot for the legend, px.
const LEGEND_W: f64 = 260.0;
/// Chart: one color per path (io_uring bars opaque, epoll bars half transparent).
const PALETTE: [&str; 7] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
];

impl TransferBenchReport {
    /// One JSON object with the machine, the configuration, every cell and every sample.
    pub fn to_json(&self) -> String {
        let (rows, best) = self.broker_rows();
        JsonObject::new()
            .str("benchmark", "transfer")
            .str("kernel", &self.machine.kernel)
            .str("cpu", &self.machine.cpu_model)
            .num("cpus", self.machine.cpus as f64)
            .num("runs", self.config.runs as f64)
            .num("bytes_per_run", self.config.bytes as f64)
            .num("file_bytes", self.config.file_bytes as f64)
            .num("header_bytes", HEADER_BYTES as f64)
            .raw("cells", &json_array(self.cells().iter().map(cell_json)))
            .raw("samples", &json_array(self.raw.iter().map(raw_sample_json)))
            .num("broker_segment_bytes", self.segment_bytes as f64)
            .num("broker_fetch_bytes", FETCH_BYTES as f64)
            .str(
                "broker_best_raw_path",
                &best.map_or(String::new(), |b| b.0.to_string()),
            )
            .num("broker_best_raw_gbps", best.map_or(f64::NAN, |b| b.1))
            .raw("broker", &json_array(rows.iter().map(broker_row_json)))
            .raw(
                "broker_samples",
                &json_array(self.broker.iter().map(broker_sample_json)),
            )
            .raw(
                "broker_raw_samples",
                &json_array(self.broker_raw.iter().map(raw_sample_json)),
            )
            .finish()
    }

    /// A grouped bar chart (GB/s median with min..max whiskers) per slice size, one bar per
    /// driver x path; hand-written SVG.
    pub fn to_svg(&self) -> String {
        let cells = self.cells();
        let chart = Chart::of(&cells, self.config.slices.len());
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="11">"#,
            chart.width,
            TOP + PLOT_H + 60.0
        );
        let _ = write!(
            s,
            r#"<text x="{LEFT}" y="20" font-size="14">ringlog bench transfer: GB/s over loopback (median, min..max of {} runs); kernel {}</text>"#,
            self.config.runs,
            xml(&self.machine.kernel)
        );
        chart.grid(&mut s);
        for (g, &slice) in self.config.slices.iter().enumerate() {
            chart.group(&mut s, g, slice, &cells);
        }
        chart.legend(&mut s);
        let _ = write!(
            s,
            r#"<text x="{LEFT}" y="{}">slice size (one 64 B header + one file slice per Transfer::send); sender CPU {SENDER_CPU}, reader CPU {RECEIVER_CPU}</text></svg>"#,
            TOP + PLOT_H + 40.0
        );
        s.push('\n');
        s
    }

    /// The raw table: one row per cell, against the best median of its slice size.
    fn write_raw(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "raw: {} per run from a {} file warmed before each run, {HEADER_BYTES} B header + one slice per send, median ±half-range of {} runs; CPU in seconds per GB",
            size(self.config.bytes),
            size(self.config.file_bytes),
            self.config.runs
        )?;
        let cells = self.cells();
        if !cells.is_empty() {
            writeln!(
                f,
                "| driver | path | slice | GB/s | sender CPU-s/GB | receiver CPU-s/GB | io-wq CPU-s/GB | outside CPU-s/GB | vs best of row |"
            )?;
            writeln!(f, "|---|---|---|---|---|---|---|---|---|")?;
            for c in &cells {
                let best = cells
                    .iter()
                    .filter(|o| o.slice == c.slice)
                    .map(|o| o.gbps.median)
                    .fold(0.0, f64::max);
                writeln!(
                    f,
                    "| {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.2} |",
                    c.driver,
                    c.path,
                    size(c.slice),
                    cell_text(&c.gbps, 2),
                    cell_text(&c.cpu_per_gb[0], 3),
                    cell_text(&c.cpu_per_gb[1], 3),
                    c.cpu_per_gb[2].median,
                    c.cpu_per_gb[3].median,
                    c.gbps.median / best
                )?;
            }
        }
        Ok(())
    }

    /// The broker table: consume per path against the best raw path of the same run.
    fn write_broker(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rows, best) = self.broker_rows();
        if let Some((best_path, best_gbps)) = best {
            writeln!(
                f,
                "\nbroker: one shard (io_uring, flush never), {} segment of {RECORD_BYTES} B records, one consumer (CPU {RECEIVER_CPU}) with {} fetches from offset 0; raw = same segment file in {} slices, same run",
                size(self.segment_bytes - self.segment_bytes % 1024),
                size(FETCH_BYTES),
                size(FETCH_BYTES)
            )?;
            writeln!(
                f,
                "| path | consume GB/s | raw GB/s (same path) | broker CPU-s/GB | consumer CPU-s/GB | io-wq CPU-s/GB | consume / best raw ({best_path} {best_gbps:.2}) |"
            )?;
            writeln!(f, "|---|---|---|---|---|---|---|")?;
            for r in &rows {
                writeln!(
                    f,
                    "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.2} |",
                    r.path,
                    cell_text(&r.gbps, 2),
                    cell_text(&r.raw_gbps, 2),
                    r.broker_cpu_per_gb,
                    r.consumer_cpu_per_gb,
                    r.workers_cpu_per_gb,
                    r.ratio_to_best_raw
                )?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for TransferBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "transfer bench: kernel {}, CPU {} x{}; sender on CPU {SENDER_CPU}, reader on CPU {RECEIVER_CPU}",
            self.machine.kernel, self.machine.cpu_model, self.machine.cpus
        )?;
        self.write_raw(f)?;
        self.write_broker(f)
    }
}

fn summary_json(s: &Summary) -> String {
    JsonObject::new()
        .num("median", s.median)
        .num("min", s.min)
        .num("max", s.max)
        .num("spread_percent", s.spread_percent())
        .finish()
}

fn cell_json(c: &Cell) -> String {
    JsonObject::new()
        .str("driver", &c.driver.to_string())
        .str("path", &c.path.to_string())
        .num("slice_bytes", c.slice as f64)
        .raw("gbps", &summary_json(&c.gbps))
        .raw("sender_cpu_s_per_gb", &summary_json(&c.cpu_per_gb[0]))
        .raw("receiver_cpu_s_per_gb", &summary_json(&c.cpu_per_gb[1]))
        .raw("worker_cpu_s_per_gb", &summary_json(&c.cpu_per_gb[2]))
        .raw("outside_cpu_s_per_gb", &summary_json(&c.cpu_per_gb[3]))
        .finish()
}

fn raw_sample_json(s: &RawSample) -> String {
    JsonObject::new()
        .str("driver", &s.driver.to_string())
        .str("path", &s.path.to_string())
        .num("slice_bytes", s.slice as f64)
        .num("bytes", s.bytes as f64)
        .num("seconds", s.seconds)
        .num("sender_cpu_s", s.cpu.sender)
        .num("receiver_cpu_s", s.cpu.receiver)
        .num("worker_cpu_s", s.cpu.workers)
        .num("other_cpu_s", s.cpu.other)
        .num("outside_cpu_s", s.cpu.outside)
        .finish()
}

fn broker_row_json(r: &BrokerRow) -> String {
    JsonObject::new()
        .str("path", &r.path.to_string())
        .raw("consume_gbps", &summary_json(&r.gbps))
        .raw("raw_gbps", &summary_json(&r.raw_gbps))
        .num("broker_cpu_s_per_gb", r.broker_cpu_per_gb)
        .num("consumer_cpu_s_per_gb", r.consumer_cpu_per_gb)
        .num("worker_cpu_s_per_gb", r.workers_cpu_per_gb)
        .num("ratio_to_best_raw", r.ratio_to_best_raw)
        .finish()
}

fn broker_sample_json(b: &BrokerSample) -> String {
    JsonObject::new()
        .str("path", &b.path.to_string())
        .num("bytes", b.bytes as f64)
        .num("fetches", b.fetches as f64)
        .num("seconds", b.seconds)
        .num("broker_cpu_s", b.cpu.sender)
        .num("consumer_cpu_s", b.cpu.receiver)
        .num("worker_cpu_s", b.cpu.workers)
        .num("other_cpu_s", b.cpu.other)
        .num("outside_cpu_s", b.cpu.outside)
        .finish()
}

/// The geometry of the chart: one group of bars per slice size, one bar per (driver, path)
/// series, values 0..=`max` GB/s.
struct Chart {
    series: Vec<(IoKind, TransferPath)>,
    max: f64,
    group_w: f64,
    width: f64,
}

impl Chart {
    fn of(cells: &[Cell], slices: usize) -> Chart {
        let mut series = Vec::new();
        for c in cells {
            if !series.contains(&(c.driver, c.path)) {
                series.push((c.driver, c.path));
            }
        }
        let max = cells
            .iter()
            .map(|c| c.gbps.max)
            .fold(1.0f64, f64::max)
            .ceil();
        let group_w = series.len() as f64 * BAR_W + GAP;
        Chart {
            width: LEFT + group_w * slices as f64 + LEGEND_W,
            series,
            max,
            group_w,
        }
    }

    /// A horizontal line and a label per whole GB/s.
    fn grid(&self, s: &mut String) {
        let (max, top, plot_h, left, width) = (self.max, TOP, PLOT_H, LEFT, self.width);
        for i in 0..=max as usize {
            let y = top + plot_h - plot_h * i as f64 / max;
            let _ = write!(
                s,
                r##"<line x1="{left}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{i}</text>"##,
                width - LEGEND_W,
                left - 6.0,
                y + 4.0
            );
        }
    }

    /// The bars (with whiskers) of slice size number `g`, and its label.
    fn group(&self, s: &mut String, g: usize, slice: u64, cells: &[Cell]) {
        let (max, top, plot_h, left, bar_w, gap) = (self.max, TOP, PLOT_H, LEFT, BAR_W, GAP);
        let x0 = left + g as f64 * self.group_w + gap / 2.0;
        for (k, &(driver, path)) in self.series.iter().enumerate() {
            let Some(c) = cells
                .iter()
                .find(|c| (c.driver, c.path, c.slice) == (driver, path, slice))
            else {
                continue;
            };
            let x = x0 + k as f64 * bar_w;
            let h = plot_h * c.gbps.median / max;
            let (color, opacity) = (path_color(path), driver_opacity(driver));
            let _ = write!(
                s,
                r#"<rect x="{x}" y="{}" width="{}" height="{h}" fill="{color}" fill-opacity="{opacity}"><title>{driver} {path} {}: {:.2} GB/s</title></rect>"#,
                top + plot_h - h,
                bar_w - 1.0,
                size(slice),
                c.gbps.median
            );
            let (y1, y2) = (
                top + plot_h - plot_h * c.gbps.min / max,
                top + plot_h - plot_h * c.gbps.max / max,
            );
            let xm = x + bar_w / 2.0 - 0.5;
            let _ = write!(
                s,
                r##"<line x1="{xm}" y1="{y1}" x2="{xm}" y2="{y2}" stroke="#333"/>"##
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x0 + self.series.len() as f64 * bar_w / 2.0,
            top + plot_h + 16.0,
            size(slice)
        );
    }

    /// One swatch and name per series.
    fn legend(&self, s: &mut String) {
        let lx = self.width - 250.0;
        for (k, &(driver, path)) in self.series.iter().enumerate() {
            let y = TOP + k as f64 * 16.0;
            let (color, opacity) = (path_color(path), driver_opacity(driver));
            let _ = write!(
                s,
                r#"<rect x="{lx}" y="{y}" width="10" height="10" fill="{color}" fill-opacity="{opacity}"/><text x="{}" y="{}">{driver} {path}</text>"#,
                lx + 14.0,
                y + 9.0
            );
        }
    }
}

/// The chart color of `path` (by its place in [`TransferPath::ALL`], then `auto`).
fn path_color(path: TransferPath) -> &'static str {
    PALETTE[TransferPath::ALL
        .iter()
        .chain([TransferPath::Auto].iter())
        .position(|p| *p == path)
        .unwrap_or(0)
        % PALETTE.len()]
}

/// io_uring bars opaque, epoll bars half transparent.
fn driver_opacity(driver: IoKind) -> &'static str {
    if driver == IoKind::Uring {
        "1"
    } else {
        "0.5"
    }
}

/// "16 KiB", "1 MiB".
pub(super) fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

fn cell_text(s: &Summary, digits: usize) -> String {
    format!("{:.*} ±{:.0}%", digits, s.median, s.spread_percent())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(size(16 << 10), "16 KiB");
        assert_eq!(size(8 << 20), "8 MiB");
        assert_eq!(size(100), "100 B");
    }
}
