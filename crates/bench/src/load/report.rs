//! Reporting one load run: its text and JSON, and the live progress line while it runs.

use std::fmt;
use std::io::Write as _;
use std::time::{Duration, Instant};

use super::measure::{Latency, Shared};
use super::{LoadReport, Mode};
use crate::{human, JsonObject, Machine};

/// How often the progress line is redrawn.
const PROGRESS_MS: u64 = 500;

fn compression_name(c: ringlog_storage::records::Compression) -> &'static str {
    use ringlog_storage::records::Compression as C;
    match c {
        C::None => "none",
        C::Gzip => "gzip",
        C::Snappy => "snappy",
        C::Lz4 => "lz4",
        C::Zstd => "zstd",
    }
}

impl LoadReport {
    /// One line naming the shape of the run.
    pub fn shape(&self) -> String {
        let c = &self.config;
        let rate = c
            .rate
            .map(|r| format!(", paced at {} records/s", human(r)))
            .unwrap_or_else(|| format!(", {} in flight per connection", c.in_flight));
        match c.mode {
            Mode::Consume => format!(
                "{} connections, topic {} ({} partitions), fetch {} B",
                c.connections, c.topic, c.partitions, c.fetch_bytes
            ),
            _ => format!(
                "{} connections, topic {}, {} B records x {} per batch, acks {}, compression {}{rate}",
                c.connections,
                c.topic,
                c.record_bytes,
                c.records_per_batch,
                c.acks,
                compression_name(c.compression)
            ),
        }
    }

    /// As one JSON object (with the machine).
    pub fn to_json(&self, machine: &Machine) -> String {
        let c = &self.config;
        let latency = match &self.latency {
            Some(l) => JsonObject::new()
                .num("count", l.count as f64)
                .num("p50_us", l.p50_us)
                .num("p99_us", l.p99_us)
                .num("p999_us", l.p999_us)
                .num("max_us", l.max_us)
                .num("mean_us", l.mean_us)
                .finish(),
            None => "null".into(),
        };
        let opt = |v: Option<f64>| v.map(crate::json_number).unwrap_or("null".into());
        JsonObject::new()
            .str("benchmark", c.mode.name())
            .raw(
                "machine",
                &JsonObject::new()
                    .str("kernel", &machine.kernel)
                    .str("cpu_model", &machine.cpu_model)
                    .num("cpus", machine.cpus as f64)
                    .finish(),
            )
            .str("broker", &c.broker.to_string())
            .str("topic", &c.topic)
            .num("connections", c.connections as f64)
            .num("record_bytes", c.record_bytes as f64)
            .num("records_per_batch", c.records_per_batch as f64)
            .num("acks", c.acks as f64)
            .str("compression", compression_name(c.compression))
            .raw("rate", &opt(c.rate))
            .num("in_flight", c.in_flight as f64)
            .num("warmup_s", c.warmup.as_secs_f64())
            .num("seconds", self.seconds)
            .num("records", self.records as f64)
            .num("bytes", self.bytes as f64)
            .num("requests", self.requests as f64)
            .num("records_per_s", self.records_per_s())
            .num("mb_per_s", self.mb_per_s())
            .num("requests_per_s", self.requests_per_s())
            .raw("latency", &latency)
            .num("client_cpu_s", self.client_cpu_s)
            .bool("client_cpu_includes_broker", self.broker_in_process)
            .raw("broker_cpu_s", &opt(self.broker_cpu_s))
            .raw("broker_cpu_s_per_gb", &opt(self.broker_cpu_s_per_gb()))
            .finish()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "ringlog bench {} against {}: {}",
            c.mode.name(),
            c.broker,
            self.shape()
        )?;
        writeln!(
            f,
            "window {:.2} s after {:.1} s warm-up: {} records/s, {:.1} MB/s, {} requests/s",
            self.seconds,
            c.warmup.as_secs_f64(),
            human(self.records_per_s()),
            self.mb_per_s(),
            human(self.requests_per_s())
        )?;
        let what = match c.mode {
            Mode::Produce => "time to ack",
            Mode::Consume => "fetch round trip",
            Mode::E2e => "produce stamp to consumer receipt",
        };
        match &self.latency {
            Some(l) => writeln!(
                f,
                "latency ({what}, {} samples): p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
                human(l.count as f64),
                l.p50_us,
                l.p99_us,
                l.p999_us,
                l.max_us
            )?,
            None => writeln!(f, "latency: none recorded (acks 0, or nothing completed)")?,
        }
        write!(
            f,
            "generator CPU: {:.2} s ({:.2} s per GB)",
            self.client_cpu_s,
            self.client_cpu_s_per_gb()
        )?;
        if self.broker_in_process {
            write!(f, " [includes the in-process broker]")?;
        }
        writeln!(f)?;
        match (self.broker_cpu_s, self.broker_cpu_s_per_gb()) {
            (Some(cpu), Some(per_gb)) => writeln!(
                f,
                "broker CPU: {cpu:.2} s ({per_gb:.2} s per GB, {:.0}% of one core)",
                cpu / self.seconds * 100.0
            ),
            _ => writeln!(
                f,
                "broker CPU: not measured (give --broker-pid for a local broker)"
            ),
        }
    }
}

/// The progress line (stderr, only when asked: stdout is a terminal).
pub(super) struct Progress {
    enabled: bool,
    last: Instant,
}

impl Progress {
    pub(super) fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            last: Instant::now(),
        }
    }

    pub(super) fn draw(
        &mut self,
        phase: &str,
        shared: &Shared,
        now: Instant,
        until: Instant,
        since: Option<(Instant, u64, u64)>,
    ) {
        if !self.enabled || now.duration_since(self.last) < Duration::from_millis(PROGRESS_MS) {
            return;
        }
        self.last = now;
        let left = until.saturating_duration_since(now).as_secs_f64();
        let rates = match since {
            Some((t0, r0, b0)) => {
                let s = now.duration_since(t0).as_secs_f64().max(1e-9);
                let p99 = Latency::of(&shared.hist.borrow())
                    .map(|l| format!("  p99 {:.0} us", l.p99_us))
                    .unwrap_or_default();
                format!(
                    "  {} rec/s  {:.1} MB/s{p99}",
                    human((shared.records.get() - r0) as f64 / s),
                    (shared.bytes.get() - b0) as f64 / s / 1e6
                )
            }
            None => String::new(),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{phase} {left:>5.1} s left{rates}");
        let _ = err.flush();
    }

    pub(super) fn finish(&self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
