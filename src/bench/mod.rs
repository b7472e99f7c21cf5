//! Benchmarks that run from the `ringlog bench` command: each answers one question, prints the
//! machine it ran on (kernel, CPU), the path or driver under test, and ratios against a baseline
//! measured in the same run.
//!
//! This module holds what every benchmark shares: the machine description, the median/spread
//! summary of repeated rounds, a small JSON writer for `--json` output (the crate has no
//! serde; the reports are flat enough not to need it), and the walk over the whole record batches
//! of a Fetch response (headers read through [`crate::storage::batch`], the one layout module).
//!
//! - [`runtime`]: ring NOP cost and loopback ping-pong, io_uring against epoll.
//! - [`load`]: the Kafka-protocol load generator (`produce`, `consume`, `e2e`), the machine's raw
//!   limits, and the broker comparison io_uring against epoll (`compare`).
//! - [`transfer`]: every consumer transfer path x slice size x driver over loopback, and a broker
//!   consume per path against the best raw path of the same run.
//!
//! # Invariants
//! - Every benchmark is bounded: fixed counts and durations, each limit a named constant, and
//!   network traffic only on 127.0.0.1. A benchmark stops by itself.
//! - Drivers under comparison run alternately (A B A B ...) in the same process, so slow drift of
//!   the machine (other tenants, thermal state) spreads over both sides instead of biasing one.
//! - Reported ratios compare medians measured in the same run, never numbers from elsewhere.

pub mod load;
pub mod runtime;
pub mod transfer;

use std::fmt::Write as _;

use crate::storage::batch::BatchHeader;

/// The machine a benchmark ran on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// First "model name" of /proc/cpuinfo ("unknown" when absent, e.g. on some ARM kernels).
    pub cpu_model: String,
    /// Online CPUs.
    pub cpus: usize,
}

impl Machine {
    /// Describe the machine this process runs on.
    pub fn current() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| cpu_model_of(&s))
            .unwrap_or_else(|| "unknown".to_string());
        Machine {
            kernel: crate::runtime::uring::probe::kernel_release(),
            cpu_model,
            cpus: crate::runtime::online_cpus(),
        }
    }
}

/// The first "model name" value of a /proc/cpuinfo text.
fn cpu_model_of(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

/// Median and spread of one quantity over the rounds of a benchmark.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarise `values`; `None` when there are none (or one is NaN).
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }

    /// Half the min..max range relative to the median, in percent (0 when the median is 0).
    pub fn spread_percent(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / 2.0 / self.median.abs() * 100.0
        }
    }
}

/// A minimal JSON object writer: keys in insertion order, values already encoded.
#[derive(Default)]
pub(crate) struct JsonObject {
    out: String,
}

impl JsonObject {
    pub(crate) fn new() -> JsonObject {
        JsonObject::default()
    }

    fn key(&mut self, key: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        self.out.push_str(&json_string(key));
        self.out.push(':');
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(&json_string(value));
        self
    }

    pub(crate) fn num(&mut self, key: &str, value: f64) -> &mut Self {
        self.key(key);
        self.out.push_str(&json_number(value));
        self
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// Insert an already-encoded JSON value (an object or an array).
    pub(crate) fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub(crate) fn finish(&mut self) -> String {
        if self.out.is_empty() {
            return "{}".to_string();
        }
        let mut s = std::mem::take(&mut self.out);
        s.push('}');
        s
    }
}

/// Encode a JSON array of already-encoded values.
pub(crate) fn json_array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// Encode a JSON number; NaN and infinities (which JSON lacks) become `null`.
pub(crate) fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".to_string()
    }
}

/// Encode a JSON string with the escapes RFC 8259 requires.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `1234567.8` -> `"1,234,568"`; small values keep two decimals.
pub fn human(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v.abs() < 100.0 {
        return format!("{v:.2}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// utime and stime (fields 14 and 15) of a /proc/*/stat line, in clock ticks. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
pub fn parse_stat_times(stat: &str) -> Option<(u64, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11); // fields 3..=13
    let user = fields.next()?.parse().ok()?;
    let sys = fields.next()?.parse().ok()?;
    Some((user, sys))
}

/// The whole record batches at the front of fetched record bytes, in order, as (position,
/// header). A Fetch may end with a partial batch (KIP-74); the walk stops there, and at the first
/// header that does not parse.
pub(crate) fn whole_batches(records: &[u8]) -> impl Iterator<Item = (usize, BatchHeader)> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let rest = records.get(at..)?;
        let header = BatchHeader::parse(rest).ok()?;
        let size = usize::try_from(header.size_bytes()).ok()?;
        if size > rest.len() {
            return None;
        }
        let position = at;
        at += size;
        Some((position, header))
    })
}

/// What the whole batches at the front of fetched record bytes hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WholeBatches {
    /// Records (offsets) in them.
    pub records: u64,
    /// Their bytes: where the first partial batch, if any, starts.
    pub bytes: u64,
    /// The offset after the last of them; `None` when there is no whole batch.
    pub next_offset: Option<i64>,
}

impl WholeBatches {
    /// Sums up [`whole_batches`] of `records`.
    pub(crate) fn of(records: &[u8]) -> WholeBatches {
        whole_batches(records).fold(WholeBatches::default(), |sum, (at, h)| WholeBatches {
            records: sum.records + h.offset_count() as u64,
            bytes: at as u64 + h.size_bytes(),
            next_offset: Some(h.last_offset() + 1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::{
        write_batch, MAGIC_V2, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    };

    #[test]
    fn summary_takes_the_middle_value_or_the_mean_of_the_two_middle_values() {
        let odd = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max), (3.0, 1.0, 5.0));
        let even = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((even.median, even.min, even.max), (2.5, 1.0, 4.0));
        assert_eq!(even.spread_percent(), 60.0);
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn cpu_model_is_the_first_model_name_line() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\n\
                       model name\t: other\n";
        assert_eq!(cpu_model_of(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model_of("processor\t: 0\n"), None);
    }

    #[test]
    fn json_escapes_strings_and_nulls_non_finite_numbers() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(json_number(2.5), "2.5");
        let obj = JsonObject::new()
            .str("k", "v")
            .num("n", 1.0)
            .bool("b", true)
            .raw("a", &json_array(["1".to_string(), "2".to_string()]))
            .finish();
        assert_eq!(obj, r#"{"k":"v","n":1,"b":true,"a":[1,2]}"#);
        assert_eq!(JsonObject::new().finish(), "{}");
    }

    /// A valid batch header of `count` records at `base`, with `count` bytes of records each.
    fn batch(base: i64, count: i32, out: &mut Vec<u8>) {
        let header = BatchHeader {
            base_offset: base,
            batch_length: 0, // computed by write_batch
            partition_leader_epoch: 0,
            magic: MAGIC_V2,
            crc: 0, // computed by write_batch
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            records_count: count,
        };
        let records = vec![0u8; 8 * count as usize];
        write_batch(&header, &records, out).unwrap();
    }

    #[test]
    fn whole_batches_stop_at_a_partial_last_batch() {
        let mut b = Vec::new();
        batch(0, 10, &mut b);
        let first = b.len();
        batch(10, 5, &mut b);
        let all = WholeBatches::of(&b);
        assert_eq!(
            (all.records, all.bytes, all.next_offset),
            (15, b.len() as u64, Some(15))
        );
        let cut = WholeBatches::of(&b[..b.len() - 1]);
        assert_eq!(
            (cut.records, cut.bytes, cut.next_offset),
            (10, first as u64, Some(10))
        );
        assert_eq!(WholeBatches::of(&b[..20]), WholeBatches::default());
        let positions: Vec<usize> = whole_batches(&b).map(|(at, _)| at).collect();
        assert_eq!(positions, [0, first]);
    }
}
