//! What `bench views` runs: the broker (started here, or one at `--bootstrap`), the topic's
//! records and how many match, the fetch size and wait, rounds; and the limit of every knob.

use std::path::PathBuf;
use std::time::Duration;

use crate::round_broker::TARGET_INVALID;
pub use crate::round_broker::{Target, CORES_DEFAULT};

/// Default rounds (medians are taken over them): a round takes about 10 s at the default
/// records on 2 cores; three keep one disturbed consume out of the median.
pub const ROUNDS_DEFAULT: usize = 3;
/// Upper bound on rounds.
pub const ROUNDS_MAX: usize = 20;
/// Default records per topic (1 KiB each: 1 GiB per layout, two layouts per round, on a fresh
/// data directory per round for a broker started here). At 200,000 the view delivered 20 MB in ~15 ms, so a
/// millisecond of start-up moved its rate by 7%; at 1,000,000 it delivers 100 MB in ~50 ms.
pub const RECORDS_DEFAULT: u64 = 1_000_000;
/// Upper bound on records per topic (the fill and every consume are linear in it).
pub const RECORDS_MAX: u64 = 50_000_000;
/// Default value bytes per record (the 1 KiB).
pub const RECORD_BYTES_DEFAULT: usize = 1_024;
/// Upper bound on value bytes per record.
pub const RECORD_BYTES_MAX: usize = 1 << 20;
/// Default share of records that match the view's filter, in percent (the 10%).
pub const MATCH_PERCENT_DEFAULT: u32 = 10;
/// Produce batches of the fill hold about this many value bytes (64 records of 1 KiB: a
/// batch the size a busy Java producer sends with `linger.ms` > 0).
pub const FILL_BATCH_BYTES: usize = 64 * 1024;
/// Produce requests in flight during the fill.
pub const FILL_IN_FLIGHT: usize = 8;
/// Bytes of one Fetch (the Java client's `max.partition.fetch.bytes` default).
pub const FETCH_BYTES_DEFAULT: i32 = 1024 * 1024;
/// Long-poll wait of every Fetch: `bench share`'s (a consumer reading a full log never waits;
/// a short wait keeps a consumer that reached the end from idling on it).
pub const MAX_WAIT_MS_DEFAULT: u64 = 10;
/// Upper bound on the long-poll wait.
pub const MAX_WAIT_MS_MAX: u64 = 30_000;
/// A consume that has not reached the end of the log after this long fails (a broker that
/// stopped answering, or a view whose reads stopped moving forward).
pub const RUN_TIMEOUT_MS: u64 = 120_000;
/// How long the view's filter index may take to cover the whole source after the fill
/// (written at append time, so normally at once; a backlog left is recorded, not waited out).
pub const INDEX_WAIT_MS: u64 = 10_000;
/// How often the index backlog is asked while waiting for it.
pub const INDEX_POLL_MS: u64 = 50;
/// The header the filter reads (RocketMQ's TAGS, as the issue defines `tag`).
pub const TAG_HEADER: &str = "tag";
/// The tag of matching records.
pub const MATCH_TAG: &str = "red";
/// Tags of the records that do not match, used in turn.
pub const OTHER_TAGS: [&str; 4] = ["blue", "green", "yellow", "black"];
/// The view's filter.
pub const FILTER: &str = "tag = 'red'";

/// How the matching records lie in the source topic's batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Every batch holds one tag (as RocketMQ producers usually send): a batch matches
    /// entirely or not at all.
    Homogeneous,
    /// Every batch holds every tag: `match_percent` of each batch matches.
    Mixed,
}

/// The layouts measured, in order.
pub const LAYOUTS: [Layout; 2] = [Layout::Homogeneous, Layout::Mixed];

impl Layout {
    /// Short name (topic names, JSON).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Homogeneous => "homogeneous",
            Layout::Mixed => "mixed",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct ViewsBenchConfig {
    /// The broker under test (a ringlog: the views are ringlog's).
    pub target: Target,
    /// Pid of the broker at `--bootstrap`, for its CPU seconds (a broker started here is
    /// always measured).
    pub broker_pid: Option<u32>,
    /// What the report calls the broker.
    pub label: String,
    /// Rounds.
    pub rounds: usize,
    /// Records per topic (one topic per layout and round).
    pub records: u64,
    /// Value bytes per record.
    pub record_bytes: usize,
    /// Records that match the filter, percent.
    pub match_percent: u32,
    /// Bytes of one Fetch.
    pub fetch_bytes: i32,
    /// Long-poll wait of every Fetch.
    pub max_wait: Duration,
    /// Where fresh data directories go (a broker started here).
    pub base_dir: PathBuf,
    /// Where `views-<date>.{md,json}` are written (`None`: nowhere).
    pub out_dir: Option<PathBuf>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// The command line that reproduces this run (recorded in the outputs).
    pub command: String,
}

impl ViewsBenchConfig {
    /// Defaults against `target`.
    pub fn new(target: Target) -> ViewsBenchConfig {
        ViewsBenchConfig {
            target,
            broker_pid: None,
            label: "ringlog".into(),
            rounds: ROUNDS_DEFAULT,
            records: RECORDS_DEFAULT,
            record_bytes: RECORD_BYTES_DEFAULT,
            match_percent: MATCH_PERCENT_DEFAULT,
            fetch_bytes: FETCH_BYTES_DEFAULT,
            max_wait: Duration::from_millis(MAX_WAIT_MS_DEFAULT),
            base_dir: std::env::temp_dir(),
            out_dir: Some(PathBuf::from("bench-results")),
            progress: false,
            command: "ringlog bench views".into(),
        }
    }

    /// `--quick`: a smoke test (one round, 20,000 records).
    pub fn quick(mut self) -> ViewsBenchConfig {
        self.rounds = 1;
        self.records = 20_000;
        self
    }

    /// Records per produced batch of the fill.
    pub fn fill_batch_records(&self) -> usize {
        (FILL_BATCH_BYTES / self.record_bytes.max(1)).max(1)
    }

    /// Check every field against its limit.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            (
                (1..=ROUNDS_MAX).contains(&self.rounds),
                format!("rounds must be 1..={ROUNDS_MAX}"),
            ),
            (
                (1..=RECORDS_MAX).contains(&self.records),
                format!("records must be 1..={RECORDS_MAX}"),
            ),
            (
                (1..=RECORD_BYTES_MAX).contains(&self.record_bytes),
                format!("record bytes must be 1..={RECORD_BYTES_MAX}"),
            ),
            (
                (1..=100).contains(&self.match_percent),
                "the matching share must be 1..=100 percent".to_string(),
            ),
            (
                self.fetch_bytes >= 1
                    && self.fetch_bytes as usize >= self.record_bytes + FETCH_OVERHEAD_BYTES,
                "fetch bytes must hold at least one record batch".to_string(),
            ),
            (
                self.max_wait <= Duration::from_millis(MAX_WAIT_MS_MAX),
                format!("the fetch wait must be at most {MAX_WAIT_MS_MAX} ms"),
            ),
            (self.target.is_valid(), TARGET_INVALID.to_string()),
            (!self.label.is_empty(), "the label is empty".to_string()),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }
}

/// Bytes a one-record batch adds to its value (batch header, record framing, the tag header),
/// rounded up.
const FETCH_OVERHEAD_BYTES: usize = 128;

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use ringlog_runtime::IoKind;

    #[test]
    fn config_limits_are_enforced() {
        let ok = ViewsBenchConfig::new(Target::Bootstrap(SocketAddr::from(([127, 0, 0, 1], 1))));
        assert!(ok.validate().is_ok());
        assert!(ok.clone().quick().validate().is_ok());
        let own = ViewsBenchConfig::new(Target::Own {
            exe: PathBuf::from("ringlog"),
            cores: 1,
            io: IoKind::Uring,
            flush: "interval:5".into(),
        });
        assert!(own.validate().is_ok());
        let edge = [
            ViewsBenchConfig {
                rounds: ROUNDS_MAX,
                records: RECORDS_MAX,
                match_percent: 100,
                max_wait: Duration::from_millis(MAX_WAIT_MS_MAX),
                ..ok.clone()
            },
            ViewsBenchConfig {
                records: 1,
                match_percent: 1,
                record_bytes: 1,
                fetch_bytes: 1 + FETCH_OVERHEAD_BYTES as i32,
                ..ok.clone()
            },
        ];
        for c in edge {
            assert!(c.validate().is_ok(), "{c:?}");
        }
        let bad = [
            ViewsBenchConfig {
                rounds: 0,
                ..ok.clone()
            },
            ViewsBenchConfig {
                rounds: ROUNDS_MAX + 1,
                ..ok.clone()
            },
            ViewsBenchConfig {
                records: 0,
                ..ok.clone()
            },
            ViewsBenchConfig {
                records: RECORDS_MAX + 1,
                ..ok.clone()
            },
            ViewsBenchConfig {
                record_bytes: RECORD_BYTES_MAX + 1,
                ..ok.clone()
            },
            ViewsBenchConfig {
                match_percent: 0,
                ..ok.clone()
            },
            ViewsBenchConfig {
                match_percent: 101,
                ..ok.clone()
            },
            ViewsBenchConfig {
                record_bytes: 4096,
                fetch_bytes: 4096,
                ..ok.clone()
            },
            ViewsBenchConfig {
                max_wait: Duration::from_millis(MAX_WAIT_MS_MAX + 1),
                ..ok.clone()
            },
            ViewsBenchConfig {
                label: String::new(),
                ..ok.clone()
            },
            ViewsBenchConfig {
                target: Target::Own {
                    exe: PathBuf::from("ringlog"),
                    cores: 0,
                    io: IoKind::Uring,
                    flush: "always".into(),
                },
                ..ok.clone()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
        assert_eq!(ok.fill_batch_records(), 64);
        assert_eq!(Layout::Mixed.name(), "mixed");
    }
}
