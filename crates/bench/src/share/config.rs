//! What `bench share` runs: the broker (started here, or one at `--bootstrap`), the topic's
//! records, the consumer counts, the acknowledgement samples, rounds; and the limit of every
//! knob.

use std::path::PathBuf;
use std::time::Duration;

use crate::round_broker::TARGET_INVALID;
pub use crate::round_broker::{Target, CORES_DEFAULT};

/// Default rounds (medians are taken over them).
pub const ROUNDS_DEFAULT: usize = 3;
/// Upper bound on rounds.
pub const ROUNDS_MAX: usize = 20;
/// Default records in the topic (1 KiB each: 200 MiB, in the page cache of any machine that
/// runs this, several seconds of share consumption on 2 cores).
pub const RECORDS_DEFAULT: u64 = 200_000;
/// Upper bound on records (the accepted-offsets bitmap is 1 bit per record).
pub const RECORDS_MAX: u64 = 100_000_000;
/// Default value bytes per record (the 1 KiB).
pub const RECORD_BYTES_DEFAULT: usize = 1_024;
/// Upper bound on value bytes per record.
pub const RECORD_BYTES_MAX: usize = 1 << 20;
/// Produce batches of the fill hold about this many value bytes (the Java producer's default
/// `batch.size` is 16 KiB; larger batches fill faster and are what a share fetch acquires by).
pub const FILL_BATCH_BYTES: usize = 64 * 1024;
/// Produce requests in flight during the fill.
pub const FILL_IN_FLIGHT: usize = 8;
/// Share consumer counts measured by default (the 1, 4 and 16).
pub const CONSUMERS_DEFAULT: [usize; 3] = [1, 4, 16];
/// Upper bound on share consumers in one run (Kafka's `group.share.max.size` default is 200).
pub const CONSUMERS_MAX: usize = 64;
/// Default ShareAcknowledge round trips sampled per round ("a few thousand").
pub const ACK_SAMPLES_DEFAULT: usize = 2_000;
/// Upper bound on acknowledgement samples per round.
pub const ACK_SAMPLES_MAX: usize = 1_000_000;
/// Stored bytes per record beyond its value in the fill's batches (record framing and the
/// batch header's share), for [`matched_max_records`].
pub const RECORD_OVERHEAD_BYTES: usize = 16;

/// Records per ShareFetch that carry about the bytes of one classic Fetch of `fetch_bytes`
/// (the default of `--max-records`): share and classic consumers then move the same bytes per
/// round trip, so the comparison is of the two protocols, not of request sizes (the Java share
/// consumer's `max.poll.records` default is 500: `--max-records 500` measures with it).
pub fn matched_max_records(fetch_bytes: i32, record_bytes: usize) -> i32 {
    let per = record_bytes.saturating_add(RECORD_OVERHEAD_BYTES).max(1);
    let n = usize::try_from(fetch_bytes.max(1)).unwrap_or(1) / per;
    i32::try_from(n.max(1)).unwrap_or(i32::MAX)
}
/// Bytes of one classic Fetch (the Java client's `max.partition.fetch.bytes` default).
pub const FETCH_BYTES_DEFAULT: i32 = 1024 * 1024;
/// Long-poll wait of every Fetch and ShareFetch: the page-cache consumers' wait of `bench
/// consume`. Kafka's client default is 500 ms, but near the end of a share run a member whose
/// ShareFetch (carrying its last acknowledgements) waits for records that others hold delays the
/// run's end by up to this wait (measured: 100 ms turned a 0.08 s delivery of 20 MB into 0.18 s
/// against Kafka 4.4), so the benchmark waits briefly.
pub const MAX_WAIT_MS_DEFAULT: u64 = 10;
/// Records a warm-up share consumer reads before each round's measurements (not reported): the
/// JIT of a JVM broker, internal topics and code paths are warm before anything is timed.
pub const WARMUP_RECORDS_DEFAULT: u64 = 20_000;
/// How long the members of one run may take to be assigned the partition.
pub const JOIN_WAIT_MS: u64 = 30_000;
/// A measured run that has not ended after this long fails (a lost acknowledgement would
/// otherwise wait for its 30 s lock, or forever for a broker that stopped answering).
pub const RUN_TIMEOUT_MS: u64 = 300_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct ShareBenchConfig {
    /// The broker under test.
    pub target: Target,
    /// Pid of the broker at `--bootstrap`, for its CPU seconds (a broker started here is
    /// always measured).
    pub broker_pid: Option<u32>,
    /// What the report calls the broker (`ringlog`, `kafka`, ...).
    pub label: String,
    /// Rounds.
    pub rounds: usize,
    /// Records in the topic.
    pub records: u64,
    /// Value bytes per record.
    pub record_bytes: usize,
    /// Share consumer counts, one run each.
    pub consumers: Vec<usize>,
    /// ShareAcknowledge round trips sampled per round.
    pub ack_samples: usize,
    /// Records one ShareFetch may acquire.
    pub max_records: i32,
    /// Bytes of one classic Fetch.
    pub fetch_bytes: i32,
    /// Long-poll wait of every Fetch and ShareFetch.
    pub max_wait: Duration,
    /// Pipelined consumers (`--pipeline`): the next Fetch or ShareFetch is sent as soon as an
    /// answer arrives, before its records are decoded. Off (the default): one request at a
    /// time. Applies to the classic consumer and the share members alike. Off by default: a
    /// pipelined share member holds two fetches' records, so with 4 or 16 members the
    /// share-partition's window (`group.share.partition.max.record.locks`, 2,000) is full most
    /// of the time (measured: 0.45-0.58 x classic against 0.84-1.2 x unpipelined).
    pub pipeline: bool,
    /// Records of each round's warm-up (0: none).
    pub warmup_records: u64,
    /// Where fresh data directories go (a broker started here).
    pub base_dir: PathBuf,
    /// Where `share-<date>.{md,json}` are written (`None`: nowhere).
    pub out_dir: Option<PathBuf>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// The command line that reproduces this run (recorded in the outputs).
    pub command: String,
}

impl ShareBenchConfig {
    /// Defaults against `target`.
    pub fn new(target: Target) -> ShareBenchConfig {
        ShareBenchConfig {
            target,
            broker_pid: None,
            label: "ringlog".into(),
            rounds: ROUNDS_DEFAULT,
            records: RECORDS_DEFAULT,
            record_bytes: RECORD_BYTES_DEFAULT,
            consumers: CONSUMERS_DEFAULT.to_vec(),
            ack_samples: ACK_SAMPLES_DEFAULT,
            max_records: matched_max_records(FETCH_BYTES_DEFAULT, RECORD_BYTES_DEFAULT),
            fetch_bytes: FETCH_BYTES_DEFAULT,
            max_wait: Duration::from_millis(MAX_WAIT_MS_DEFAULT),
            pipeline: false,
            warmup_records: WARMUP_RECORDS_DEFAULT,
            base_dir: std::env::temp_dir(),
            out_dir: Some(PathBuf::from("bench-results")),
            progress: false,
            command: "ringlog bench share".into(),
        }
    }

    /// `--quick`: a smoke test (one round, 20,000 records, 500 acknowledgements).
    pub fn quick(mut self) -> ShareBenchConfig {
        self.rounds = 1;
        self.records = 20_000;
        self.ack_samples = 500;
        self.warmup_records = 2_000;
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
                self.consumers
                    .iter()
                    .all(|&c| (1..=CONSUMERS_MAX).contains(&c)),
                format!("share consumer counts must be 1..={CONSUMERS_MAX}"),
            ),
            (
                self.ack_samples <= ACK_SAMPLES_MAX && self.ack_samples as u64 <= self.records,
                format!(
                    "acknowledgement samples must be at most {ACK_SAMPLES_MAX} and at most the \
                     records"
                ),
            ),
            (
                self.max_records >= 1 && self.fetch_bytes >= 1,
                "max records and fetch bytes must be at least 1".to_string(),
            ),
            (
                self.fetch_bytes as usize >= self.record_bytes + FETCH_OVERHEAD_BYTES,
                "fetch bytes must hold at least one record batch".to_string(),
            ),
            (
                self.max_wait <= Duration::from_secs(30),
                "the fetch wait must be at most 30 s".to_string(),
            ),
            (
                self.warmup_records <= self.records,
                "warm-up records must be at most the records".to_string(),
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

/// Bytes a one-record batch adds to its value (batch header and record framing), rounded up.
const FETCH_OVERHEAD_BYTES: usize = 128;

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use ringlog_runtime::IoKind;

    #[test]
    fn matched_max_records_carry_about_one_classic_fetch() {
        // 1 KiB records in a 1 MiB Fetch: about a thousand, not the Java client's 500.
        let n = matched_max_records(FETCH_BYTES_DEFAULT, RECORD_BYTES_DEFAULT);
        assert_eq!(n, 1_008);
        let bytes = n as usize * (RECORD_BYTES_DEFAULT + RECORD_OVERHEAD_BYTES);
        assert!(bytes <= FETCH_BYTES_DEFAULT as usize && bytes * 100 >= 99 * 1_048_576);
        // Degenerate sizes still ask for a record.
        assert_eq!(matched_max_records(1, 1 << 20), 1);
        assert_eq!(matched_max_records(0, 0), 1);
        assert_eq!(matched_max_records(i32::MAX, 0), i32::MAX / 16);
    }

    #[test]
    fn config_limits_are_enforced() {
        let ok = ShareBenchConfig::new(Target::Bootstrap(SocketAddr::from(([127, 0, 0, 1], 1))));
        assert!(ok.validate().is_ok());
        assert!(ok.clone().quick().validate().is_ok());
        let own = ShareBenchConfig::new(Target::Own {
            exe: PathBuf::from("ringlog"),
            cores: 1,
            io: IoKind::Uring,
            flush: "interval:5".into(),
        });
        assert!(own.validate().is_ok());
        let bad = [
            ShareBenchConfig {
                rounds: 0,
                ..ok.clone()
            },
            ShareBenchConfig {
                records: 0,
                ..ok.clone()
            },
            ShareBenchConfig {
                consumers: vec![1, CONSUMERS_MAX + 1],
                ..ok.clone()
            },
            ShareBenchConfig {
                ack_samples: RECORDS_DEFAULT as usize + 1,
                ..ok.clone()
            },
            ShareBenchConfig {
                record_bytes: 4096,
                fetch_bytes: 4096,
                ..ok.clone()
            },
            ShareBenchConfig {
                max_records: 0,
                ..ok.clone()
            },
            ShareBenchConfig {
                warmup_records: RECORDS_DEFAULT + 1,
                ..ok.clone()
            },
            ShareBenchConfig {
                target: Target::Own {
                    exe: PathBuf::from("ringlog"),
                    cores: 1,
                    io: IoKind::Uring,
                    flush: "sometimes".into(),
                },
                ..ok.clone()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
        assert_eq!(ok.fill_batch_records(), 64);
    }
}
