//! What `bench delay` runs: which parts, how many rounds, the shape of every load, where data
//! and results go; and the limit of every knob.

use std::path::PathBuf;
use std::time::Duration;

use ringlog_runtime::IoKind;

/// Default rounds of each part that is repeated (medians are taken over them).
pub const ROUNDS_DEFAULT: usize = 3;
/// Upper bound on rounds.
pub const ROUNDS_MAX: usize = 20;
/// Broker shards (the goals are stated for 2 cores).
pub const CORES_DEFAULT: usize = 2;
/// Value bytes of every record this benchmark produces (the 100-byte records).
pub const RECORD_BYTES: usize = 100;
/// Partitions of every topic: two per shard of a 2-core broker, so both shards' timers work.
pub const PARTITIONS: i32 = 4;

/// Part 1: pending records under which precision is measured, in the order they are reached.
pub const PENDING_LEVELS_DEFAULT: [u64; 3] = [10_000, 100_000, 1_000_000];
/// Upper bound on any count of records this benchmark enqueues.
pub const RECORDS_MAX: u64 = 100_000_000;
/// Part 1: measured delayed records per second (due times, evenly spaced).
pub const STREAM_RATE_DEFAULT: u64 = 2_000;
/// Upper bound on the measured stream's rate.
pub const STREAM_RATE_MAX: u64 = 100_000;
/// Part 1: how long the measured records' due times span.
pub const STREAM_MS_DEFAULT: u64 = 5_000;
/// Upper bound on the stream's span.
pub const STREAM_MS_MAX: u64 = 600_000;
/// Part 1: a measured record is produced this long before it is due: more than the timer's
/// one-second look-ahead plus one slot, so every one waits in an unloaded slot of the wheel
/// and is found again by walking its slot's chain.
pub const STREAM_LEAD_MS: u64 = 3_000;
/// Part 1: the measured producer sends one batch of delayed records (and one non-delayed
/// baseline record) per tick.
pub const STREAM_TICK_MS: u64 = 10;
/// Part 1: the concurrent plain produce load runs at this share of what the machine does alone
/// with the same shape (closed loop, measured first in the same run) by default.
pub const LOAD_SHARE: f64 = 0.5;
/// Part 1: pending records are due this far ahead (hours: they stay in the wheel throughout)...
pub const PENDING_AHEAD_MS: i64 = 2 * 3_600_000;
/// ...spread over this many one-second slots.
pub const PENDING_SPREAD_SLOTS: i64 = 3_600;

/// Parts 2 and 3: producer connections of the enqueue load (one partition each, round robin).
pub const ENQUEUE_CONNECTIONS: usize = 4;
/// Parts 2 and 3: records per produced batch ("a few hundred").
pub const ENQUEUE_BATCH_RECORDS: usize = 250;
/// Parts 2 and 3: Produce requests in flight per connection (Kafka's max.in.flight default).
pub const ENQUEUE_IN_FLIGHT: usize = 5;
/// Part 2: measured window of the enqueue rate.
pub const ENQUEUE_MS_DEFAULT: u64 = 3_000;
/// Part 2: records due at one instant for the delivery rate: within the timer's loaded bound
/// on 2 shards (2 x 256 Ki), so the slot is walked before it is due and the figure is the
/// delivery rounds' rate.
pub const DELIVERY_RECORDS_DEFAULT: u64 = 500_000;
/// A broker whose VmRSS passes this is killed and its round reported as failed: on a shared
/// machine of 24 GiB a runaway broker must not make the kernel's OOM killer pick a neighbour.
pub const BROKER_RSS_ABORT_BYTES: u64 = 4 << 30;
/// Part 2: the due instant is this long after the enqueue is expected to end (its expected
/// length comes from the enqueue rate measured just before), so every record is acknowledged
/// before the first is due.
pub const DELIVERY_MARGIN_MS: i64 = 3_000;
/// Part 3: records pending for the capacity measurement.
pub const CAPACITY_RECORDS_DEFAULT: u64 = 10_000_000;
/// Part 3: the goal for the broker's resident memory with that many pending.
pub const RSS_GOAL_BYTES: u64 = 256 << 20;

/// Part 4: measured window of each produce run.
pub const COST_MS_DEFAULT: u64 = 3_000;
/// Part 4 (and the calibration of part 1's load): warm-up before each window.
pub const WARMUP_MS: u64 = 1_000;
/// How long a consumer may wait for records after they are due before the run fails.
pub const DRAIN_TIMEOUT_MS: u64 = 60_000;

/// One measurement of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Lateness of delivery at several pending counts, under a concurrent plain load.
    Precision,
    /// Delayed records enqueued and delivered per second.
    Throughput,
    /// Broker memory and timer-log bytes with millions pending.
    Capacity,
    /// Plain-topic produce: this build, a delay-enabled topic without headers, the old build.
    Cost,
}

impl Part {
    /// Every part, in run order.
    pub const ALL: [Part; 4] = [
        Part::Precision,
        Part::Throughput,
        Part::Capacity,
        Part::Cost,
    ];

    /// Its number (1..=4, as in the task) and name.
    pub fn number(self) -> usize {
        self as usize + 1
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Precision => "precision",
            Part::Throughput => "throughput",
            Part::Capacity => "capacity",
            Part::Cost => "cost",
        }
    }

    /// A part by number or name.
    pub fn parse(s: &str) -> Result<Part, String> {
        let s = s.trim();
        Part::ALL
            .into_iter()
            .find(|p| s == p.name() || s.parse::<usize>().ok() == Some(p.number()))
            .ok_or_else(|| {
                format!("unknown part '{s}': 1|precision, 2|throughput, 3|capacity, 4|cost")
            })
    }

    /// A comma-separated list of parts, sorted and without repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Part>, String> {
        let mut parts = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Part::parse)
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
pub struct DelayBenchConfig {
    /// The `ringlog` binary started as the broker under test.
    pub exe: PathBuf,
    /// A `ringlog` binary built before scheduled delivery (part 4's baseline; `None`: skipped).
    pub baseline_exe: Option<PathBuf>,
    /// Parts to run, in order.
    pub parts: Vec<Part>,
    /// Rounds of each repeated part.
    pub rounds: usize,
    /// Broker shards.
    pub cores: usize,
    /// Broker I/O driver.
    pub io: IoKind,
    /// Broker `--flush` for parts 1 to 3 (part 4 runs `never`, to isolate CPU cost).
    pub flush: String,
    /// Part 1: pending counts, ascending.
    pub pending_levels: Vec<u64>,
    /// Part 1: share (0..=1) of the machine's closed-loop rate at which the plain load runs
    /// beside the measured stream (0: no load, no calibration).
    pub load_share: f64,
    /// Part 1: measured delayed records per second.
    pub stream_rate: u64,
    /// Part 1: span of the measured records' due times.
    pub stream: Duration,
    /// Part 2: enqueue window.
    pub enqueue: Duration,
    /// Part 2: records due at one instant.
    pub delivery_records: u64,
    /// Part 3: records pending.
    pub capacity_records: u64,
    /// Part 4: window of each produce run.
    pub cost: Duration,
    /// Where fresh data directories go (a disk, not tmpfs).
    pub base_dir: PathBuf,
    /// Where `delay-<date>.{md,json}` are written (`None`: nowhere).
    pub out_dir: Option<PathBuf>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// The command line that reproduces this run (recorded in the outputs).
    pub command: String,
}

impl DelayBenchConfig {
    /// Defaults, brokers started from `exe`.
    pub fn new(exe: PathBuf) -> DelayBenchConfig {
        DelayBenchConfig {
            exe,
            baseline_exe: None,
            parts: Part::ALL.to_vec(),
            rounds: ROUNDS_DEFAULT,
            cores: CORES_DEFAULT,
            io: IoKind::Uring,
            flush: "always".into(),
            pending_levels: PENDING_LEVELS_DEFAULT.to_vec(),
            load_share: LOAD_SHARE,
            stream_rate: STREAM_RATE_DEFAULT,
            stream: Duration::from_millis(STREAM_MS_DEFAULT),
            enqueue: Duration::from_millis(ENQUEUE_MS_DEFAULT),
            delivery_records: DELIVERY_RECORDS_DEFAULT,
            capacity_records: CAPACITY_RECORDS_DEFAULT,
            cost: Duration::from_millis(COST_MS_DEFAULT),
            base_dir: std::env::temp_dir(),
            out_dir: Some(PathBuf::from("bench-results")),
            progress: false,
            command: "ringlog bench delay".into(),
        }
    }

    /// `--quick`: a smoke test (one round, small counts, short windows).
    pub fn quick(mut self) -> DelayBenchConfig {
        self.rounds = 1;
        self.pending_levels = vec![1_000, 10_000];
        self.stream = Duration::from_millis(1_000);
        self.enqueue = Duration::from_millis(1_000);
        self.delivery_records = 50_000;
        self.capacity_records = 200_000;
        self.cost = Duration::from_millis(1_000);
        self
    }

    /// Check every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        let levels_ok = !self.pending_levels.is_empty()
            && self.pending_levels.windows(2).all(|w| w[0] < w[1])
            && self.pending_levels.iter().all(|&n| n <= RECORDS_MAX);
        let checks = [
            (
                (1..=ROUNDS_MAX).contains(&self.rounds),
                format!("rounds must be 1..={ROUNDS_MAX}"),
            ),
            (
                self.cores >= 1,
                "the broker needs at least 1 core".to_string(),
            ),
            (!self.parts.is_empty(), "no part to run".to_string()),
            (
                levels_ok,
                format!("pending counts must be ascending and at most {RECORDS_MAX}"),
            ),
            (
                (0.0..=1.0).contains(&self.load_share),
                "the load share must be 0..=1".to_string(),
            ),
            (
                (1..=STREAM_RATE_MAX).contains(&self.stream_rate),
                format!("the measured stream's rate must be 1..={STREAM_RATE_MAX} records/s"),
            ),
            (
                self.stream >= Duration::from_millis(STREAM_TICK_MS)
                    && self.stream <= Duration::from_millis(STREAM_MS_MAX),
                format!("the measured stream must span {STREAM_TICK_MS}..={STREAM_MS_MAX} ms"),
            ),
            (
                !self.enqueue.is_zero() && !self.cost.is_zero(),
                "windows must be > 0".to_string(),
            ),
            (
                (1..=RECORDS_MAX).contains(&self.delivery_records)
                    && (1..=RECORDS_MAX).contains(&self.capacity_records),
                format!("record counts must be 1..={RECORDS_MAX}"),
            ),
            (
                matches!(self.flush.as_str(), "always" | "never")
                    || self.flush.starts_with("interval:"),
                "flush must be always, never or interval:<ms>".to_string(),
            ),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }

    /// Measured records per stream tick (at least one).
    pub fn records_per_tick(&self) -> usize {
        ((self.stream_rate * STREAM_TICK_MS).div_ceil(1_000)).max(1) as usize
    }

    /// Ticks of the measured stream.
    pub fn ticks(&self) -> u64 {
        (self.stream.as_millis() as u64 / STREAM_TICK_MS).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_parse_by_number_or_name_sorted_without_repeats() {
        assert_eq!(
            Part::parse_list("4,precision,2,4").unwrap(),
            [Part::Precision, Part::Throughput, Part::Cost]
        );
        assert_eq!(Part::parse_list(" capacity ").unwrap(), [Part::Capacity]);
        assert!(Part::parse_list("5").is_err());
        assert!(Part::parse_list("speed").is_err());
        assert!(Part::parse_list(",").is_err());
        assert_eq!(Part::Cost.number(), 4);
    }

    #[test]
    fn config_limits_are_enforced() {
        let ok = DelayBenchConfig::new(PathBuf::from("ringlog"));
        assert!(ok.validate().is_ok());
        assert!(ok.clone().quick().validate().is_ok());
        let bad = [
            DelayBenchConfig {
                rounds: 0,
                ..ok.clone()
            },
            DelayBenchConfig {
                pending_levels: vec![100, 10],
                ..ok.clone()
            },
            DelayBenchConfig {
                pending_levels: vec![],
                ..ok.clone()
            },
            DelayBenchConfig {
                stream_rate: 0,
                ..ok.clone()
            },
            DelayBenchConfig {
                load_share: 1.5,
                ..ok.clone()
            },
            DelayBenchConfig {
                load_share: f64::NAN,
                ..ok.clone()
            },
            DelayBenchConfig {
                stream: Duration::from_millis(1),
                ..ok.clone()
            },
            DelayBenchConfig {
                capacity_records: RECORDS_MAX + 1,
                ..ok.clone()
            },
            DelayBenchConfig {
                flush: "sometimes".into(),
                ..ok.clone()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn the_stream_is_cut_into_ticks() {
        let c = DelayBenchConfig::new(PathBuf::new());
        // 2,000/s over 5 s in 10 ms ticks: 500 ticks of 20.
        assert_eq!((c.records_per_tick(), c.ticks()), (20, 500));
        let slow = DelayBenchConfig {
            stream_rate: 10,
            ..c
        };
        assert_eq!(slow.records_per_tick(), 1);
    }
}
