//! Text and JSON of one load run, and the small formatting helpers the load benchmarks share.

use std::fmt;

use super::{LoadReport, Mode};
pub use crate::bench::{human, parse_stat_times};
use crate::bench::{JsonObject, Machine};

fn compression_name(c: crate::storage::records::Compression) -> &'static str {
    use crate::storage::records::Compression as C;
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
        let opt = |v: Option<f64>| v.map(crate::bench::json_number).unwrap_or("null".into());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_fields_14_and_15_even_with_odd_command_names() {
        let stat = "28744 (a b) c)) R 28741 28741 22162 0 -1 4194304 101 0 0 0 32 7 0 0 20 0 1 0";
        assert_eq!(parse_stat_times(stat), Some((32, 7)));
        assert_eq!(parse_stat_times("1 (x) R 1 2"), None);
    }

    #[test]
    fn human_groups_thousands() {
        assert_eq!(human(1_234_567.8), "1,234,568");
        assert_eq!(human(4.257), "4.26");
        assert_eq!(human(-1234.0), "-1,234");
        assert_eq!(human(f64::INFINITY), "n/a");
    }
}
