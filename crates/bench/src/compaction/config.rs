//! What `bench compaction` runs: which parts, how many rounds, the logs part 1 cleans, the
//! broker, the dirty topic and the produce load of part 2, where data and results go; and the
//! limit of every knob.

use std::path::PathBuf;
use std::time::Duration;

use ringlog_runtime::IoKind;
use ringlog_storage::records::Compression;

/// Default rounds: part 1 cleans each codec's log this many times, part 2 alternates this many
/// baseline and compaction windows (medians are taken over them).
pub const ROUNDS_DEFAULT: usize = 3;
/// Upper bound on rounds.
pub const ROUNDS_MAX: usize = 20;

/// Part 1: the codecs measured, in order.
pub const CODECS_DEFAULT: [Compression; 3] =
    [Compression::None, Compression::Lz4, Compression::Zstd];
/// Part 1: bytes of log each measurement fills and cleans (on-disk, compressed bytes). 128 MiB
/// keeps the slowest codec (zstd, ~12 MB/s of input on a shared 2-core machine) near 10 s per
/// clean, so three rounds of three codecs fit the ~5 minutes the whole benchmark may take.
pub const INPUT_BYTES_DEFAULT: u64 = 128 << 20;
/// Upper bound on part 1's log (it is written to the data directory, once per measurement).
pub const INPUT_BYTES_MAX: u64 = 16 << 30;
/// Part 1: distinct keys, written round-robin (the storage crate's own measurement: they all
/// fit one pass's offset map, so one pass cleans the whole log).
pub const RATE_KEYS_DEFAULT: u64 = 100_000;
/// Part 1: value bytes per record.
pub const RATE_VALUE_BYTES_DEFAULT: usize = 100;
/// Upper bound on part 1's distinct keys.
pub const KEYS_MAX: u64 = 100_000_000;
/// Upper bound on value bytes per record.
pub const VALUE_BYTES_MAX: usize = 1 << 20;

/// Part 2: broker shards. One, so the cleaner and the produce load share a core: the cleaner
/// runs on the shard that owns the log, between that shard's requests.
pub const BROKER_CORES: usize = 1;
/// Part 2: the broker's segment size: the fill leaves dozens of sealed (cleanable) segments.
pub const SEGMENT_BYTES_DEFAULT: u64 = 16 << 20;
/// Part 2: bytes of keyed records the dirty topic gets before each compaction window (on-disk
/// bytes). 512 MiB of lz4 batches keep the broker's cleaner busy for several seconds (~120 MB/s
/// of this input per core on a shared 2-core machine).
pub const DIRTY_BYTES_DEFAULT: u64 = 512 << 20;
/// Upper bound on the dirty fill (written once per round).
pub const DIRTY_BYTES_MAX: u64 = 16 << 30;
/// Part 2: codec of the dirty topic's batches (Kafka producers mostly compress; lz4 is the
/// common choice).
pub const DIRTY_CODEC_DEFAULT: Compression = Compression::Lz4;
/// Part 2: distinct keys of the dirty topic: few, so a pass removes almost everything.
pub const DIRTY_KEYS_DEFAULT: u64 = 1_000;
/// Upper bound on part 2's distinct keys: the fill prebuilds one batch per
/// [`DIRTY_BATCH_RECORDS`] keys (200 batches of ~60 KiB uncompressed at most).
pub const DIRTY_KEYS_MAX: u64 = 100_000;
/// Part 2: value bytes of a dirty record (a changelog's small values; text-like, so codecs
/// compress them as they compress real values).
pub const DIRTY_VALUE_BYTES: usize = 100;
/// Part 2: records per dirty batch: ~20 KiB once compressed with lz4, about what a Kafka
/// producer's `batch.size` (16 KiB, counted compressed) holds, and few enough requests that the
/// fill (one fsync per group of requests) takes seconds.
pub const DIRTY_BATCH_RECORDS: usize = 500;
/// Part 2: Produce requests in flight while filling the dirty topic.
pub const FILL_IN_FLIGHT: usize = 16;
/// Part 2: the measured produce load, records/s: well below what one shard takes with a
/// fsync per request, so what moves its latency is the cleaner, not saturation.
pub const LIVE_RATE_DEFAULT: u64 = 5_000;
/// Upper bound on the measured load's rate.
pub const LIVE_RATE_MAX: u64 = 1_000_000;
/// Part 2: records per Produce request of the measured load.
pub const LIVE_BATCH_RECORDS_DEFAULT: usize = 10;
/// Upper bound on records per request of the measured load.
pub const LIVE_BATCH_RECORDS_MAX: usize = 10_000;
/// Part 2: value bytes of a measured record (the 1 KiB).
pub const LIVE_RECORD_BYTES: usize = 1_024;
/// Part 2: length of each baseline window (no cleaning).
pub const BASELINE_MS_DEFAULT: u64 = 5_000;
/// Upper bound on a baseline window.
pub const BASELINE_MS_MAX: u64 = 600_000;
/// Part 2: a compaction window lasts until the cleaner's pass ends, at most this long (then it
/// is reported as unfinished).
pub const PASS_WAIT_MS_DEFAULT: u64 = 120_000;
/// Upper bound on the wait for a pass.
pub const PASS_WAIT_MS_MAX: u64 = 3_600_000;
/// Part 2: how often the metrics endpoint is scraped, in both kinds of window (so the scrapes
/// cost the shard the same in each).
pub const METRICS_POLL_MS: u64 = 100;
/// Part 2: pause after each fill before the baseline window, so the fill's last requests and
/// the producer's catch-up are over.
pub const SETTLE_MS: u64 = 1_000;

/// One part of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Part 1: `compaction_rate` per codec.
    Rate,
    /// Part 2: produce latency with and without the broker's cleaner at work.
    Latency,
}

impl Part {
    /// Every part, in run order.
    pub const ALL: [Part; 2] = [Part::Rate, Part::Latency];

    /// Its number (1 or 2).
    pub fn number(self) -> usize {
        self as usize + 1
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Rate => "rate",
            Part::Latency => "latency",
        }
    }

    /// A comma-separated list of parts (by number or name), sorted and without repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Part>, String> {
        let mut parts = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                Part::ALL
                    .into_iter()
                    .find(|k| p == k.name() || p.parse::<usize>().ok() == Some(k.number()))
                    .ok_or_else(|| format!("unknown part '{p}': 1|rate, 2|latency"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        parts.sort();
        parts.dedup();
        if parts.is_empty() {
            return Err("no part given".into());
        }
        Ok(parts)
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct CompactionBenchConfig {
    /// Parts to run, in order.
    pub parts: Vec<Part>,
    /// Rounds (part 1: cleans per codec; part 2: baseline + compaction window pairs).
    pub rounds: usize,
    /// Part 1: codecs, in order.
    pub codecs: Vec<Compression>,
    /// Part 1: log bytes per measurement.
    pub input_bytes: u64,
    /// Part 1: distinct keys.
    pub rate_keys: u64,
    /// Part 1: value bytes per record.
    pub rate_value_bytes: usize,
    /// Part 2: the broker's I/O driver.
    pub io: IoKind,
    /// Part 2: the broker's `--flush`.
    pub flush: String,
    /// Part 2: the broker's segment size.
    pub segment_bytes: u64,
    /// Part 2: dirty bytes written before each compaction window.
    pub dirty_bytes: u64,
    /// Part 2: codec of the dirty batches.
    pub dirty_codec: Compression,
    /// Part 2: distinct keys of the dirty topic.
    pub dirty_keys: u64,
    /// Part 2: measured produce load, records/s.
    pub live_rate: u64,
    /// Part 2: records per measured Produce request.
    pub live_batch_records: usize,
    /// Part 2: length of each baseline window.
    pub baseline: Duration,
    /// Part 2: longest a compaction window waits for the cleaner's pass to end.
    pub pass_wait: Duration,
    /// Where fresh data directories go (a disk, not tmpfs: the broker fsyncs).
    pub base_dir: PathBuf,
    /// Where `compaction-<date>.{md,json}` are written (`None`: nowhere).
    pub out_dir: Option<PathBuf>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// The command line that reproduces this run (recorded in the outputs).
    pub command: String,
}

impl Default for CompactionBenchConfig {
    fn default() -> Self {
        CompactionBenchConfig {
            parts: Part::ALL.to_vec(),
            rounds: ROUNDS_DEFAULT,
            codecs: CODECS_DEFAULT.to_vec(),
            input_bytes: INPUT_BYTES_DEFAULT,
            rate_keys: RATE_KEYS_DEFAULT,
            rate_value_bytes: RATE_VALUE_BYTES_DEFAULT,
            io: IoKind::Uring,
            flush: "always".into(),
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            dirty_bytes: DIRTY_BYTES_DEFAULT,
            dirty_codec: DIRTY_CODEC_DEFAULT,
            dirty_keys: DIRTY_KEYS_DEFAULT,
            live_rate: LIVE_RATE_DEFAULT,
            live_batch_records: LIVE_BATCH_RECORDS_DEFAULT,
            baseline: Duration::from_millis(BASELINE_MS_DEFAULT),
            pass_wait: Duration::from_millis(PASS_WAIT_MS_DEFAULT),
            base_dir: std::env::temp_dir(),
            out_dir: Some(PathBuf::from("bench-results")),
            progress: false,
            command: "ringlog bench compaction".into(),
        }
    }
}

impl CompactionBenchConfig {
    /// `--quick`: a smoke test (one round, logs of a few MiB, 1 MiB segments, 1 s windows).
    pub fn quick(mut self) -> CompactionBenchConfig {
        self.rounds = 1;
        self.input_bytes = 4 << 20;
        self.segment_bytes = 1 << 20;
        self.dirty_bytes = 8 << 20;
        self.baseline = Duration::from_millis(1_000);
        self
    }

    /// Interval between two measured Produce requests (the rate spread evenly).
    pub fn live_interval(&self) -> Duration {
        let per_s = self.live_rate.max(1) as f64 / self.live_batch_records.max(1) as f64;
        Duration::from_secs_f64(1.0 / per_s)
    }

    /// Check every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        let mib = |b: u64| b >> 20;
        let checks = [
            (!self.parts.is_empty(), "no part to run".to_string()),
            (
                (1..=ROUNDS_MAX).contains(&self.rounds),
                format!("rounds must be 1..={ROUNDS_MAX}"),
            ),
            (!self.codecs.is_empty(), "no codec to measure".to_string()),
            (
                (1 << 20..=INPUT_BYTES_MAX).contains(&self.input_bytes),
                format!("part 1's log must be 1..={} MiB", mib(INPUT_BYTES_MAX)),
            ),
            (
                (1..=KEYS_MAX).contains(&self.rate_keys),
                format!("part 1's distinct keys must be 1..={KEYS_MAX}"),
            ),
            (
                (1..=DIRTY_KEYS_MAX).contains(&self.dirty_keys),
                format!("part 2's distinct keys must be 1..={DIRTY_KEYS_MAX}"),
            ),
            (
                (1..=VALUE_BYTES_MAX).contains(&self.rate_value_bytes),
                format!("value bytes must be 1..={VALUE_BYTES_MAX}"),
            ),
            (
                matches!(self.flush.as_str(), "always" | "never")
                    || self.flush.starts_with("interval:"),
                "flush must be always, never or interval:<ms>".to_string(),
            ),
            (
                // A dirty fill of at least two segments: one sealed (cleanable) beside the
                // active one.
                self.segment_bytes >= 64 << 10 && self.dirty_bytes >= 2 * self.segment_bytes,
                "segments must be at least 64 KiB and the dirty fill at least two segments"
                    .to_string(),
            ),
            (
                self.dirty_bytes <= DIRTY_BYTES_MAX,
                format!(
                    "the dirty fill must be at most {} MiB",
                    mib(DIRTY_BYTES_MAX)
                ),
            ),
            (
                (1..=LIVE_RATE_MAX).contains(&self.live_rate),
                format!("the produce rate must be 1..={LIVE_RATE_MAX} records/s"),
            ),
            (
                (1..=LIVE_BATCH_RECORDS_MAX).contains(&self.live_batch_records),
                format!("records per request must be 1..={LIVE_BATCH_RECORDS_MAX}"),
            ),
            (
                self.baseline >= Duration::from_millis(METRICS_POLL_MS)
                    && self.baseline <= Duration::from_millis(BASELINE_MS_MAX),
                format!("baseline windows must be {METRICS_POLL_MS}..={BASELINE_MS_MAX} ms"),
            ),
            (
                self.pass_wait >= Duration::from_millis(METRICS_POLL_MS)
                    && self.pass_wait <= Duration::from_millis(PASS_WAIT_MS_MAX),
                format!("the pass wait must be {METRICS_POLL_MS}..={PASS_WAIT_MS_MAX} ms"),
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_parse_by_number_or_name_sorted_without_repeats() {
        assert_eq!(
            Part::parse_list("latency, 1,2").unwrap(),
            [Part::Rate, Part::Latency]
        );
        assert_eq!(Part::parse_list("2").unwrap(), [Part::Latency]);
        assert!(Part::parse_list("3").is_err());
        assert!(Part::parse_list("speed").is_err());
        assert!(Part::parse_list(" , ").is_err());
        assert_eq!(Part::Latency.number(), 2);
    }

    #[test]
    fn config_limits_are_enforced() {
        let ok = CompactionBenchConfig::default();
        assert!(ok.validate().is_ok());
        assert!(ok.clone().quick().validate().is_ok());
        let edge = [
            CompactionBenchConfig {
                rounds: ROUNDS_MAX,
                input_bytes: INPUT_BYTES_MAX,
                dirty_bytes: DIRTY_BYTES_MAX,
                rate_keys: KEYS_MAX,
                dirty_keys: DIRTY_KEYS_MAX,
                live_rate: LIVE_RATE_MAX,
                live_batch_records: LIVE_BATCH_RECORDS_MAX,
                baseline: Duration::from_millis(BASELINE_MS_MAX),
                pass_wait: Duration::from_millis(PASS_WAIT_MS_MAX),
                flush: "interval:5".into(),
                ..ok.clone()
            },
            CompactionBenchConfig {
                rounds: 1,
                input_bytes: 1 << 20,
                segment_bytes: 64 << 10,
                dirty_bytes: 128 << 10,
                rate_keys: 1,
                dirty_keys: 1,
                rate_value_bytes: 1,
                live_rate: 1,
                live_batch_records: 1,
                baseline: Duration::from_millis(METRICS_POLL_MS),
                pass_wait: Duration::from_millis(METRICS_POLL_MS),
                ..ok.clone()
            },
        ];
        for c in edge {
            assert!(c.validate().is_ok(), "{c:?}");
        }
        let bad = [
            CompactionBenchConfig {
                parts: vec![],
                ..ok.clone()
            },
            CompactionBenchConfig {
                rounds: 0,
                ..ok.clone()
            },
            CompactionBenchConfig {
                rounds: ROUNDS_MAX + 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                codecs: vec![],
                ..ok.clone()
            },
            CompactionBenchConfig {
                input_bytes: (1 << 20) - 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                input_bytes: INPUT_BYTES_MAX + 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                rate_keys: 0,
                ..ok.clone()
            },
            CompactionBenchConfig {
                dirty_keys: DIRTY_KEYS_MAX + 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                rate_keys: KEYS_MAX + 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                rate_value_bytes: VALUE_BYTES_MAX + 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                flush: "sometimes".into(),
                ..ok.clone()
            },
            CompactionBenchConfig {
                segment_bytes: (64 << 10) - 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                dirty_bytes: 2 * SEGMENT_BYTES_DEFAULT - 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                dirty_bytes: DIRTY_BYTES_MAX + 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                live_rate: 0,
                ..ok.clone()
            },
            CompactionBenchConfig {
                live_rate: LIVE_RATE_MAX + 1,
                ..ok.clone()
            },
            CompactionBenchConfig {
                live_batch_records: 0,
                ..ok.clone()
            },
            CompactionBenchConfig {
                baseline: Duration::from_millis(METRICS_POLL_MS - 1),
                ..ok.clone()
            },
            CompactionBenchConfig {
                baseline: Duration::from_millis(BASELINE_MS_MAX + 1),
                ..ok.clone()
            },
            CompactionBenchConfig {
                pass_wait: Duration::from_millis(PASS_WAIT_MS_MAX + 1),
                ..ok.clone()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn the_measured_load_is_spread_evenly() {
        let c = CompactionBenchConfig::default();
        // 5,000 records/s in requests of 10: one request every 2 ms.
        assert_eq!(c.live_interval(), Duration::from_millis(2));
        let slow = CompactionBenchConfig {
            live_rate: 1,
            live_batch_records: 10,
            ..c
        };
        assert_eq!(slow.live_interval(), Duration::from_secs(10));
    }
}
