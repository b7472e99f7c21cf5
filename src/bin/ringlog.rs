//! The `ringlog` command line: a thin layer that parses arguments and calls the library.

use std::time::Duration;

use clap::{Parser, Subcommand};
use ringlog::{bench, client};

#[derive(Parser)]
#[command(
    name = "ringlog",
    version,
    about = "A thread-per-core Kafka-protocol log broker on io_uring"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker (zero configuration: data in ./data, listening on 127.0.0.1:9092).
    // Boxed: its flags make it far larger than the other commands.
    Serve(Box<ServeArgs>),
    /// Print the kernel version, the io_uring opcodes and setup flags found, and what the
    /// runtime will use.
    Probe,
    /// Run a benchmark. Each answers one question and prints the kernel, the CPU, the driver or
    /// path under test and ratios against a baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        kind: BenchCommand,
    },
    /// Groups (classic, KIP-848 consumer and share groups): list, describe, reset offsets (over
    /// the Kafka protocol).
    Groups(GroupsArgs),
    /// Produce standard input to a topic, one record per line (`key<TAB>value` sets a key).
    Produce(ProduceArgs),
    /// Print a topic's records, one value (or `key<TAB>value` with --keys) per line.
    Consume(ConsumeArgs),
    /// List, create or delete topics.
    Topics(TopicsArgs),
    /// Scheduled delivery per topic: records pending, when the next is due, how late the oldest
    /// overdue one is, records delivered (a ringlog broker only: Kafka has no such API).
    Delays(DelaysArgs),
    /// Filtered views: read-only topics of a source topic's records that match a filter
    /// (create, list, describe with zero-copy counters, delete; a ringlog broker only).
    Views(ViewsArgs),
    /// SCRAM users of a data directory, offline (before the broker starts; a running broker's
    /// users are changed with AlterUserScramCredentials, e.g. kafka-configs.sh).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Dump and check the batches of a segment `.log` file (exit 1 if it is damaged).
    Inspect {
        /// Path of a segment file, e.g. data/orders-0/00000000000000000000.log.
        path: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add or replace a user's SCRAM credential (salted and hashed; the password is read from
    /// standard input, its first line).
    Set {
        /// User name (the principal is User:NAME).
        name: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long)]
        mechanism: String,
        /// PBKDF2 iterations, 4096..=16384 (Kafka's range).
        #[arg(long, default_value_t = ringlog::broker::auth::scram::ITERATIONS_DEFAULT)]
        iterations: i32,
        /// Read the password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Data directory of the broker.
        #[arg(long)]
        data_dir: std::path::PathBuf,
    },
    /// List users with their mechanisms and iterations.
    List {
        /// Data directory of the broker.
        #[arg(long)]
        data_dir: std::path::PathBuf,
    },
    /// Delete a user's credential of one mechanism, or all of them.
    Delete {
        /// User name.
        name: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512 (default: both).
        #[arg(long)]
        mechanism: Option<String>,
        /// Data directory of the broker.
        #[arg(long)]
        data_dir: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct ProduceArgs {
    /// Topic (auto-created if the broker allows it).
    topic: String,
    /// Broker HOST:PORT.
    #[arg(long, default_value = client::cli::BROKER_DEFAULT)]
    broker: String,
    /// Partition to write to.
    #[arg(long, default_value_t = 0)]
    partition: i32,
    /// Acknowledgements: all (-1), 1, or 0 (no response).
    #[arg(long, default_value = "all", allow_hyphen_values = true)]
    acks: String,
    /// Batch compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    compression: String,
    /// Take every whole line as the value, even if it contains a TAB.
    #[arg(long)]
    no_keys: bool,
}

#[derive(clap::Args)]
struct ConsumeArgs {
    /// Topic.
    topic: String,
    /// Broker HOST:PORT.
    #[arg(long, default_value = client::cli::BROKER_DEFAULT)]
    broker: String,
    /// Start at the first retained offset (default: the end, only new records).
    #[arg(long, conflicts_with_all = ["offset", "from_time"])]
    from_beginning: bool,
    /// Start at this offset in every partition read.
    #[arg(long, conflicts_with = "from_time")]
    offset: Option<i64>,
    /// Start at the first record at or after this time: ms since the epoch or RFC 3339.
    #[arg(long)]
    from_time: Option<String>,
    /// Exit after this many records.
    #[arg(short = 'n', long)]
    count: Option<u64>,
    /// Read only this partition (default: all).
    #[arg(long)]
    partition: Option<i32>,
    /// Print `key<TAB>value`.
    #[arg(long)]
    keys: bool,
    /// Exit when every partition has reached its high watermark (like kcat -e).
    #[arg(short = 'e', long)]
    exit_at_end: bool,
}

#[derive(clap::Args)]
struct TopicsArgs {
    /// Broker HOST:PORT.
    #[arg(long, global = true, default_value = client::cli::BROKER_DEFAULT)]
    broker: String,
    #[command(subcommand)]
    action: TopicsAction,
}

#[derive(Subcommand)]
enum TopicsAction {
    /// One line per topic: name<TAB>partitions.
    List,
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Partitions (default: the broker's default).
        #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
        partitions: i32,
        /// Records may ask for delayed delivery (`ringlog.delivery.delay.enable=true`).
        #[arg(long)]
        delay: bool,
        /// A topic config KEY=VALUE, as `kafka-topics --config` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
        configs: Vec<(String, String)>,
    },
    /// Delete a topic.
    Delete {
        /// Topic name.
        name: String,
    },
}

#[derive(clap::Args)]
struct DelaysArgs {
    /// Only this topic (repeatable; default: every topic the broker reports).
    #[arg(long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,
    /// Broker HOST:PORT.
    #[arg(long, visible_alias = "bootstrap", default_value = client::cli::BROKER_DEFAULT)]
    broker: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ViewsArgs {
    /// Broker HOST:PORT.
    #[arg(long, global = true, visible_alias = "bootstrap", default_value = client::cli::BROKER_DEFAULT)]
    broker: String,
    #[command(subcommand)]
    action: ViewsAction,
}

#[derive(Subcommand)]
enum ViewsAction {
    /// Create a view: a read-only topic holding the records of --source that match --filter,
    /// at their source offsets (partitions: the source's).
    Create {
        /// View name.
        name: String,
        /// The topic whose records the view filters.
        #[arg(long)]
        source: String,
        /// The filter, RocketMQ's SQL92 subset over record headers, `__key` and `tag`, e.g.
        /// "tag = 'red' AND amount > 100".
        #[arg(long, allow_hyphen_values = true)]
        filter: String,
    },
    /// One line per view: name<TAB>source<TAB>partitions<TAB>filter.
    List,
    /// Views (default: all) with their source, filter, partitions and what serving them cost
    /// since the broker started: bytes sent zero-copy and rewritten, batches sent whole,
    /// skipped, rewritten, read unindexed.
    Describe {
        /// View names.
        names: Vec<String>,
        /// Print one JSON object instead of the text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a view (its source and the source's records stay).
    Delete {
        /// View name.
        name: String,
    },
}

/// The benchmark kinds, one subcommand each.
#[derive(Subcommand)]
enum BenchCommand {
    /// Ring NOP cost and loopback ping-pong (64 B echo) with the server on io_uring vs epoll.
    Runtime(RuntimeBenchArgs),
    /// Every consumer transfer path x slice size x driver over loopback, and a broker consume
    /// per path against the best raw path of the same run.
    Transfer(TransferBenchArgs),
    /// Kafka-protocol produce load against --broker: records/s, MB/s, time-to-ack percentiles.
    Produce(LoadArgs),
    /// Kafka-protocol consume load (page cache, wrapping at the log end) against --broker.
    Consume(LoadArgs),
    /// Paced produce plus consumers: produce-to-receipt latency percentiles.
    E2e(LoadArgs),
    /// The broker on io_uring vs epoll (started here, fresh data dirs) on six workloads, with
    /// the raw limits of the same run; writes bench-results/compare.{md,svg,json}.
    Compare(CompareArgs),
    /// The machine's raw limits: one loopback TCP stream, append + fdatasync, memcpy.
    Limits(LimitsArgs),
    /// Scheduled delivery (issue 15): lateness at 10k/100k/1M pending under a plain load,
    /// enqueue and delivery rates, memory with 10M pending, and the cost on topics without
    /// delay; writes bench-results/delay-<date>.{md,json}.
    Delay(DelayBenchArgs),
    /// Share groups (issue 16): share consume throughput with 1, 4 and 16 consumers on one
    /// partition against a classic consumer of the same topic, and ShareAcknowledge round trips,
    /// against a ringlog started here or --bootstrap (Kafka 4.4 too); writes
    /// bench-results/share-<date>.{md,json}.
    Share(ShareBenchArgs),
    /// Filtered views (issue 17): consuming a view (`tag = 'red'`, 10% of 1 KiB records)
    /// against consuming the whole topic and filtering in the client, and against the
    /// unfiltered consume, on homogeneous and mixed batches, with the share sent zero-copy;
    /// against a ringlog started here or --bootstrap; writes bench-results/views-<date>.{md,json}.
    Views(ViewsBenchArgs),
    /// Log compaction (issue 19): the cleaning rate in MB/s of input per core for codecs none,
    /// lz4 and zstd, and the produce p50/p99 of a topic on a one-shard broker (started here)
    /// while its cleaner compacts another topic, against the same load without cleaning;
    /// writes bench-results/compaction-<date>.{md,json}.
    Compaction(CompactionBenchArgs),
}

/// What `bench share` and `bench views` know of a broker at `--bootstrap` and what their reports
/// call the broker under test.
#[derive(clap::Args)]
struct ReportedBrokerArgs {
    /// Pid of the --bootstrap broker, for its CPU seconds.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// What the report calls the broker (default: ringlog, or the --bootstrap address).
    #[arg(long)]
    label: Option<String>,
}

/// The broker `bench share` and `bench views` start per round when there is no `--bootstrap`.
#[derive(clap::Args)]
struct OwnBrokerArgs {
    /// Shards of the broker started here.
    // One constant: `bench::views::CORES_DEFAULT` is this one.
    #[arg(long, default_value_t = bench::share::CORES_DEFAULT)]
    cores: usize,
    /// I/O driver of the broker started here: uring or epoll.
    #[arg(long, default_value = "uring")]
    io: ringlog::runtime::IoKind,
    /// --flush of the broker started here.
    #[arg(long, default_value = "always")]
    flush: String,
    /// The ringlog binary started as the broker (default: this one).
    #[arg(long)]
    exe: Option<std::path::PathBuf>,
}

impl OwnBrokerArgs {
    /// The broker under test (the one at `bootstrap`, else one started here) and what the
    /// report calls it unless `--label` says otherwise.
    fn target(
        &self,
        bootstrap: Option<&str>,
    ) -> Result<(bench::share::Target, String), Box<dyn std::error::Error>> {
        use bench::share::Target;
        Ok(match bootstrap {
            Some(b) => {
                let addr = client::cli::resolve_broker(b)?;
                (Target::Bootstrap(addr), b.to_string())
            }
            None => {
                let exe = match &self.exe {
                    Some(exe) => exe.clone(),
                    None => std::env::current_exe()?,
                };
                let target = Target::Own {
                    exe,
                    cores: self.cores,
                    io: self.io,
                    flush: self.flush.clone(),
                };
                (target, "ringlog".to_string())
            }
        })
    }
}

#[derive(clap::Args)]
struct ViewsBenchArgs {
    /// A running ringlog HOST:PORT instead of one started here.
    #[arg(long)]
    bootstrap: Option<String>,
    #[command(flatten)]
    reported: ReportedBrokerArgs,
    /// Rounds (medians are taken over them).
    #[arg(long, default_value_t = bench::views::ROUNDS_DEFAULT)]
    rounds: usize,
    /// Records per topic (one topic per layout and round).
    #[arg(long, default_value_t = bench::views::RECORDS_DEFAULT)]
    records: u64,
    /// Value bytes per record.
    #[arg(long, default_value_t = bench::views::RECORD_BYTES_DEFAULT)]
    record_bytes: usize,
    /// Records that match the view's filter, percent.
    #[arg(long, default_value_t = bench::views::MATCH_PERCENT_DEFAULT)]
    match_percent: u32,
    /// Bytes of one Fetch.
    #[arg(long, default_value_t = bench::views::FETCH_BYTES_DEFAULT)]
    fetch_bytes: i32,
    /// Long-poll wait of every Fetch, ms.
    #[arg(long, default_value_t = bench::views::MAX_WAIT_MS_DEFAULT)]
    max_wait_ms: u64,
    #[command(flatten)]
    own: OwnBrokerArgs,
    /// Smoke test: 1 round, 20,000 records.
    #[arg(long)]
    quick: bool,
    /// Where fresh data directories go (a disk, not tmpfs; default: the temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Output directory of views-<date>.md and .json.
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
    /// Print JSON instead of the Markdown report.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CompactionBenchArgs {
    /// Parts, comma-separated: 1|rate, 2|latency (default: both).
    #[arg(long, default_value = "1,2")]
    parts: String,
    /// Rounds: part 1 cleans per codec, part 2 baseline + compaction window pairs (medians
    /// are taken over them).
    #[arg(long, default_value_t = bench::compaction::ROUNDS_DEFAULT)]
    rounds: usize,
    /// Part 1: codecs, comma-separated (default none,lz4,zstd).
    #[arg(long, value_delimiter = ',')]
    codecs: Option<Vec<String>>,
    /// Part 1: MiB of log each clean starts from.
    #[arg(long, default_value_t = bench::compaction::INPUT_BYTES_DEFAULT >> 20)]
    input_mib: u64,
    /// Part 1: distinct keys (round-robin).
    #[arg(long, default_value_t = bench::compaction::RATE_KEYS_DEFAULT)]
    keys: u64,
    /// Part 1: value bytes per record.
    #[arg(long, default_value_t = bench::compaction::RATE_VALUE_BYTES_DEFAULT)]
    value_bytes: usize,
    /// Part 2: I/O driver of the broker: uring or epoll.
    #[arg(long, default_value = "uring")]
    io: ringlog::runtime::IoKind,
    /// Part 2: --flush of the broker.
    #[arg(long, default_value = "always")]
    flush: String,
    /// Part 2: the broker's segment size, MiB.
    #[arg(long, default_value_t = bench::compaction::SEGMENT_BYTES_DEFAULT >> 20)]
    segment_mib: u64,
    /// Part 2: MiB of keyed records written to the dirty topic before each compaction window.
    #[arg(long, default_value_t = bench::compaction::DIRTY_BYTES_DEFAULT >> 20)]
    dirty_mib: u64,
    /// Part 2: codec of the dirty topic's batches: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "lz4")]
    dirty_codec: String,
    /// Part 2: distinct keys of the dirty topic.
    #[arg(long, default_value_t = bench::compaction::DIRTY_KEYS_DEFAULT)]
    dirty_keys: u64,
    /// Part 2: the measured produce load, records/s.
    #[arg(long, default_value_t = bench::compaction::LIVE_RATE_DEFAULT)]
    rate: u64,
    /// Part 2: records per measured Produce request.
    #[arg(long, default_value_t = bench::compaction::LIVE_BATCH_RECORDS_DEFAULT)]
    batch_records: usize,
    /// Part 2: seconds of each baseline window.
    #[arg(long, default_value_t = bench::compaction::BASELINE_MS_DEFAULT as f64 / 1000.0)]
    baseline_seconds: f64,
    /// Part 2: longest a compaction window waits for the cleaner's pass, seconds.
    #[arg(long, default_value_t = bench::compaction::PASS_WAIT_MS_DEFAULT as f64 / 1000.0)]
    pass_wait_seconds: f64,
    /// Smoke test: 1 round, logs of a few MiB, 1 MiB segments, 1 s baseline windows (other
    /// sizes given are ignored).
    #[arg(long)]
    quick: bool,
    /// Where fresh data directories go (a disk, not tmpfs; default: the temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Output directory of compaction-<date>.md and .json.
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
    /// Print JSON instead of the Markdown report.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ShareBenchArgs {
    /// A running broker HOST:PORT (ringlog or Kafka) instead of a ringlog started here.
    #[arg(long)]
    bootstrap: Option<String>,
    #[command(flatten)]
    reported: ReportedBrokerArgs,
    /// Rounds (medians are taken over them).
    #[arg(long, default_value_t = bench::share::ROUNDS_DEFAULT)]
    rounds: usize,
    /// Records in the topic.
    #[arg(long, default_value_t = bench::share::RECORDS_DEFAULT)]
    records: u64,
    /// Value bytes per record.
    #[arg(long, default_value_t = bench::share::RECORD_BYTES_DEFAULT)]
    record_bytes: usize,
    /// Share consumer counts, comma-separated (default 1,4,16).
    #[arg(long, value_delimiter = ',')]
    consumers: Option<Vec<usize>>,
    /// ShareAcknowledge round trips sampled per round (0: none).
    #[arg(long, default_value_t = bench::share::ACK_SAMPLES_DEFAULT)]
    ack_samples: usize,
    /// Records one ShareFetch may acquire (default: about --fetch-bytes of records, so share
    /// and classic consumers move the same bytes per request; the Java share consumer's
    /// max.poll.records default is 500).
    #[arg(long)]
    max_records: Option<i32>,
    /// Bytes of one classic Fetch.
    #[arg(long, default_value_t = bench::share::FETCH_BYTES_DEFAULT)]
    fetch_bytes: i32,
    /// Long-poll wait of every Fetch and ShareFetch, ms.
    #[arg(long, default_value_t = bench::share::MAX_WAIT_MS_DEFAULT)]
    max_wait_ms: u64,
    /// Pipelined consumers, classic and share alike: the next fetch is sent before the last
    /// answer's records are decoded (default: one request at a time per consumer).
    #[arg(long)]
    pipeline: bool,
    /// Records read by each round's warm-up (0: none).
    #[arg(long, default_value_t = bench::share::WARMUP_RECORDS_DEFAULT)]
    warmup_records: u64,
    #[command(flatten)]
    own: OwnBrokerArgs,
    /// Smoke test: 1 round, 20,000 records, 500 acknowledgements.
    #[arg(long)]
    quick: bool,
    /// Where fresh data directories go (a disk, not tmpfs; default: the temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Output directory of share-<date>.md and .json.
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
    /// Print JSON instead of the Markdown report.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct DelayBenchArgs {
    /// Parts, comma-separated: 1|precision, 2|throughput, 3|capacity, 4|cost (default: all).
    #[arg(long, default_value = "1,2,3,4")]
    parts: String,
    /// Rounds of each repeated part (medians are taken over them).
    #[arg(long, default_value_t = bench::delay::ROUNDS_DEFAULT)]
    rounds: usize,
    /// Broker shards.
    #[arg(long, default_value_t = bench::delay::CORES_DEFAULT)]
    cores: usize,
    /// Broker I/O driver: uring or epoll.
    #[arg(long, default_value = "uring")]
    io: ringlog::runtime::IoKind,
    /// Broker --flush for parts 1 to 3.
    #[arg(long, default_value = "always")]
    flush: String,
    /// The ringlog binary under test (default: this one).
    #[arg(long)]
    exe: Option<std::path::PathBuf>,
    /// A ringlog binary built before scheduled delivery: part 4's baseline.
    #[arg(long)]
    baseline_exe: Option<std::path::PathBuf>,
    /// Part 1: pending counts, ascending, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pending: Option<Vec<u64>>,
    /// Part 1: the plain load beside the measured stream, as a share (0..=1) of what the
    /// machine does alone with its shape (0: no load).
    #[arg(long, default_value_t = bench::delay::LOAD_SHARE)]
    load_share: f64,
    /// Part 1: measured delayed records per second.
    #[arg(long, default_value_t = bench::delay::STREAM_RATE_DEFAULT)]
    stream_rate: u64,
    /// Part 1: seconds the measured records' due times span.
    #[arg(long, default_value_t = bench::delay::STREAM_MS_DEFAULT as f64 / 1000.0)]
    stream_seconds: f64,
    /// Part 2: seconds of the enqueue window.
    #[arg(long, default_value_t = bench::delay::ENQUEUE_MS_DEFAULT as f64 / 1000.0)]
    enqueue_seconds: f64,
    /// Part 2: records due at one instant.
    #[arg(long, default_value_t = bench::delay::DELIVERY_RECORDS_DEFAULT)]
    delivery_records: u64,
    /// Part 3: records pending.
    #[arg(long, default_value_t = bench::delay::CAPACITY_RECORDS_DEFAULT)]
    capacity_records: u64,
    /// Part 4: measured seconds per produce run.
    #[arg(long, default_value_t = bench::delay::COST_MS_DEFAULT as f64 / 1000.0)]
    cost_seconds: f64,
    /// Smoke test: 1 round, small counts, short windows (other sizes given are ignored).
    #[arg(long)]
    quick: bool,
    /// Where fresh data directories go (a disk, not tmpfs; default: the temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Output directory of delay-<date>.md and .json.
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
    /// Print JSON instead of the Markdown report.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct LoadArgs {
    /// Broker HOST:PORT (any Kafka-compatible broker).
    #[arg(long, default_value = client::cli::BROKER_DEFAULT)]
    broker: String,
    /// Topic (created with --partitions if missing).
    #[arg(long, default_value = "ringlog-bench")]
    topic: String,
    /// Partitions when the topic is created.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Connections (one producer or consumer task each).
    #[arg(long, default_value_t = bench::load::CONNECTIONS_DEFAULT)]
    connections: usize,
    /// Value bytes per record.
    #[arg(long, default_value_t = bench::load::RECORD_BYTES_DEFAULT)]
    record_bytes: usize,
    /// Records per batch (one batch per Produce request).
    #[arg(long, default_value_t = bench::load::RECORDS_PER_BATCH_DEFAULT)]
    records_per_batch: usize,
    /// Batch size in value bytes instead of --records-per-batch.
    #[arg(long)]
    batch_bytes: Option<usize>,
    /// Acknowledgements: all (-1), 1, 0.
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    acks: String,
    /// Compression: none, lz4, zstd (also gzip, snappy).
    #[arg(long, default_value = "none")]
    compression: String,
    /// Measured seconds (an upper bound with --count).
    #[arg(long, default_value_t = bench::load::DURATION_MS_DEFAULT as f64 / 1000.0)]
    seconds: f64,
    /// Stop after this many records in the measured window.
    #[arg(long)]
    count: Option<u64>,
    /// Offered load in records/s over all connections (latency at a fixed load).
    #[arg(long)]
    rate: Option<f64>,
    /// Warm-up seconds before the window.
    #[arg(long, default_value_t = bench::load::WARMUP_MS_DEFAULT as f64 / 1000.0)]
    warmup: f64,
    /// Produce requests in flight per connection (unpaced runs).
    #[arg(long, default_value_t = bench::load::IN_FLIGHT_DEFAULT)]
    in_flight: usize,
    /// Consume: MB (10^6) the topic must hold first (produced if missing).
    #[arg(long, default_value_t = bench::load::FILL_BYTES_DEFAULT / 1_000_000)]
    fill_mb: u64,
    /// Fetch max_bytes.
    #[arg(long, default_value_t = bench::load::FETCH_BYTES_DEFAULT)]
    fetch_bytes: i32,
    /// Pid of a local broker: its CPU seconds per GB are reported.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Pin the generator thread to this CPU.
    #[arg(long)]
    client_cpu: Option<usize>,
    /// Generator driver: epoll, or uring (default: uring with --rate, whose ns timers pace
    /// precisely; epoll timers round up to whole ms).
    #[arg(long)]
    client_io: Option<ringlog::runtime::IoKind>,
    /// TLS to an SSL listener: the PEM file of the CA the broker's certificate chains to.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,
    /// With --tls-ca: the name the broker's certificate must carry (default: its IP address).
    #[arg(long, requires = "tls_ca")]
    tls_server_name: Option<String>,
    /// Print one JSON object instead of the text summary.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// Rounds per workload (uring, epoll alternately).
    #[arg(long, default_value_t = bench::load::compare::ROUNDS_DEFAULT)]
    rounds: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = bench::load::compare::MEASURE_MS_DEFAULT as f64 / 1000.0)]
    seconds: f64,
    /// Warm-up seconds per run.
    #[arg(long, default_value_t = bench::load::compare::WARMUP_MS_DEFAULT as f64 / 1000.0)]
    warmup: f64,
    /// Smoke test: 2 rounds, short windows (explicit --rounds/--seconds are ignored).
    #[arg(long)]
    quick: bool,
    /// Shards of the broker under test (pinned from CPU 0; the generator takes the last CPU).
    #[arg(long, default_value_t = 1)]
    broker_cores: usize,
    /// Where fresh data directories go (a disk, not tmpfs; default: the temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Output directory of compare.md, compare.svg, compare.json.
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
    /// Workloads to run, comma-separated (default: 1,2,3,4,5,6).
    #[arg(long, value_delimiter = ',')]
    workloads: Option<Vec<usize>>,
    /// Print JSON instead of the Markdown table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct LimitsArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = bench::load::limits::SECONDS_DEFAULT)]
    seconds: f64,
    /// Directory of the fdatasync file (a disk, not tmpfs; default: the temp dir).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Bytes per append (default: the batch size of compare's workload 2).
    #[arg(long)]
    write_bytes: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct TransferBenchArgs {
    /// Runs per cell (median and spread are taken over them).
    #[arg(long, default_value_t = bench::transfer::RUNS_DEFAULT)]
    runs: usize,
    /// Bytes per raw run.
    #[arg(long, default_value_t = bench::transfer::BYTES_DEFAULT)]
    bytes: u64,
    /// Slice sizes in bytes, comma-separated (default 16 KiB, 256 KiB, 1 MiB, 8 MiB).
    #[arg(long, value_delimiter = ',')]
    slices: Option<Vec<u64>>,
    /// Paths, comma-separated (default: all and auto).
    #[arg(long, value_delimiter = ',')]
    paths: Option<Vec<ringlog::transfer::TransferPath>>,
    /// Sender drivers, comma-separated (default: uring,epoll).
    #[arg(long, value_delimiter = ',')]
    drivers: Option<Vec<ringlog::runtime::IoKind>>,
    /// Skip the raw matrix.
    #[arg(long)]
    no_raw: bool,
    /// Skip the broker consume runs.
    #[arg(long)]
    no_broker: bool,
    /// Bytes produced for the broker runs.
    #[arg(long, default_value_t = bench::transfer::BROKER_BYTES_DEFAULT)]
    broker_bytes: u64,
    /// Directory for the benchmark's files (a disk filesystem, not tmpfs).
    #[arg(long, default_value = "bench-results")]
    dir: std::path::PathBuf,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Write an SVG bar chart here.
    #[arg(long)]
    svg: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct RuntimeBenchArgs {
    /// Rounds; each runs the io_uring server, then the epoll server.
    #[arg(long, default_value_t = bench::runtime::ROUNDS_DEFAULT)]
    rounds: usize,
    /// Measured seconds per ping-pong run.
    #[arg(long, default_value_t = bench::runtime::MEASURE_MS_DEFAULT as f64 / 1000.0)]
    seconds: f64,
    /// Warm-up seconds before each measured window.
    #[arg(long, default_value_t = bench::runtime::WARMUP_MS_DEFAULT as f64 / 1000.0)]
    warmup: f64,
    /// Client connections, each with one message in flight.
    #[arg(long, default_value_t = bench::runtime::CONNECTIONS_DEFAULT)]
    connections: usize,
    /// NOPs per NOP run (0 skips the NOP measurement).
    #[arg(long, default_value_t = bench::runtime::NOPS_DEFAULT)]
    nops: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML file with the same keys as these flags (flags given here win).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    settings: ringlog::broker::config::ConfigOverrides,
}

fn serve(args: ServeArgs) -> Result<(), String> {
    use ringlog::broker::{Broker, BrokerConfig};
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        config.merge_toml(&text)?;
    }
    config.apply(args.settings)?;
    init_logging(config.log_format);
    ringlog::runtime::signal::block_termination_signals().map_err(|e| e.to_string())?;
    let broker = Broker::start(config).map_err(|e| e.to_string())?;
    let stop = broker.shutdown_handle();
    // The signal waiter stops the broker; the broker may also stop by itself (a shard failed).
    std::thread::Builder::new()
        .name("ringlog-signals".into())
        .spawn(move || {
            if let Ok(sig) = ringlog::runtime::signal::wait_for_termination_signal() {
                tracing::info!(
                    signal = sig,
                    "shutting down: no new connections, finishing requests, flushing"
                );
                stop.shutdown();
            }
        })
        .map_err(|e| e.to_string())?;
    broker.join().map_err(|e| e.to_string())?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Log lines to stderr, filtered by `RUST_LOG` (default `info`), as text or one JSON object per
/// line. Set once per process: `serve` after reading its config (the format may come from the
/// TOML file), every other command at start.
fn init_logging(format: ringlog::broker::config::LogFormat) {
    use ringlog::broker::config::LogFormat;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        // Spans (the connection's shard, number, peer and client id) as a list on every line.
        LogFormat::Json => builder.json().with_span_list(true).try_init(),
    };
}

fn main() {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        init_logging(ringlog::broker::config::LogFormat::Text);
    }
    match cli.command {
        Command::Serve(args) => {
            if let Err(e) = serve(*args) {
                eprintln!("ringlog serve: {e}");
                std::process::exit(1);
            }
        }
        Command::Probe => {
            println!("{}", ringlog::runtime::probe());
            println!("{}", ringlog::broker::tls::ktls::available());
        }
        Command::Groups(args) => {
            if let Err(e) = run_groups(args) {
                eprintln!("ringlog groups: {e}");
                std::process::exit(1);
            }
        }
        Command::Bench { kind } => {
            if let Err(e) = run_bench(kind) {
                eprintln!("ringlog bench: {e}");
                std::process::exit(1);
            }
        }
        Command::Produce(args) => exit_on_error("produce", produce(args)),
        Command::Consume(args) => exit_on_error("consume", consume(args)),
        Command::Topics(args) => exit_on_error("topics", topics(args)),
        Command::Delays(args) => exit_on_error("delays", delays(args)),
        Command::Views(args) => exit_on_error("views", views(args)),
        Command::Inspect { path } => exit_on_error("inspect", inspect(&path)),
        Command::Users { command } => {
            if let Err(e) = users(command) {
                eprintln!("ringlog users: {e}");
                std::process::exit(1);
            }
        }
    }
}

fn users(command: UsersCommand) -> Result<(), String> {
    use ringlog::broker::auth::credentials::offline;
    match command {
        UsersCommand::Set {
            name,
            mechanism,
            iterations,
            password_stdin: _,
            data_dir,
        } => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("reading the password from standard input: {e}"))?;
            let password = line.trim_end_matches(['\n', '\r']);
            offline::set(&data_dir, &name, &mechanism, iterations, password)?;
            eprintln!("user {name}: {mechanism} credential stored (iterations={iterations})");
        }
        UsersCommand::List { data_dir } => print!("{}", offline::list(&data_dir)?),
        UsersCommand::Delete {
            name,
            mechanism,
            data_dir,
        } => {
            offline::delete(&data_dir, &name, mechanism.as_deref())?;
            eprintln!("user {name}: deleted");
        }
    }
    Ok(())
}

fn exit_on_error(command: &str, result: Result<(), client::cli::CliError>) {
    if let Err(e) = result {
        eprintln!("ringlog {command}: {e}");
        std::process::exit(1);
    }
}

fn produce(args: ProduceArgs) -> Result<(), client::cli::CliError> {
    use client::cli;
    let options = cli::ProduceOptions {
        topic: args.topic,
        partition: args.partition,
        acks: cli::parse_acks(&args.acks)?,
        compression: cli::parse_compression(&args.compression)?,
        keys: !args.no_keys,
    };
    let addr = cli::resolve_broker(&args.broker)?;
    let summary = cli::run(async {
        let mut conn = client::Connection::connect(addr).await?;
        cli::produce_lines(&mut conn, &options, std::io::stdin().lock()).await
    })?;
    eprintln!("{summary} to {}-{}", options.topic, options.partition);
    Ok(())
}

fn consume(args: ConsumeArgs) -> Result<(), client::cli::CliError> {
    use client::cli::{self, StartAt};
    let start = match (args.from_beginning, args.offset, &args.from_time) {
        (true, _, _) => StartAt::Beginning,
        (_, Some(o), _) => StartAt::Offset(o),
        (_, _, Some(t)) => StartAt::Time(cli::parse_time(t)?),
        _ => StartAt::End,
    };
    let options = cli::ConsumeOptions {
        topic: args.topic,
        partition: args.partition,
        start,
        count: args.count,
        exit_at_end: args.exit_at_end,
        keys: args.keys,
        max_wait: cli::CONSUME_WAIT_DEFAULT,
    };
    let addr = cli::resolve_broker(&args.broker)?;
    cli::run(async {
        let mut conn = client::Connection::connect(addr).await?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        cli::consume_to(&mut conn, &options, &mut out).await
    })?;
    Ok(())
}

fn topics(args: TopicsArgs) -> Result<(), client::cli::CliError> {
    use client::cli;
    let addr = cli::resolve_broker(&args.broker)?;
    cli::run(async {
        let mut conn = client::Connection::connect(addr).await?;
        match &args.action {
            TopicsAction::List => {
                cli::topics_list(&mut conn, &mut std::io::stdout().lock()).await?;
            }
            TopicsAction::Create {
                name,
                partitions,
                delay,
                configs,
            } => {
                let mut pairs: Vec<(&str, &str)> = configs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                if *delay {
                    pairs.push((ringlog::broker::topic_config::DELIVERY_DELAY_ENABLE, "true"));
                }
                conn.create_topics_with_configs(&[(name, *partitions, &pairs[..])])
                    .await?;
                eprintln!("created topic {name}");
            }
            TopicsAction::Delete { name } => {
                conn.delete_topics(&[name]).await?;
                eprintln!("deleted topic {name}");
            }
        }
        Ok(())
    })
}

fn delays(args: DelaysArgs) -> Result<(), client::cli::CliError> {
    use client::cli;
    let addr = cli::resolve_broker(&args.broker)?;
    cli::run(async {
        let mut conn = client::Connection::connect(addr).await?;
        let mut out = std::io::stdout().lock();
        cli::delays(&mut conn, &args.topics, args.json, &mut out).await
    })?;
    Ok(())
}

fn views(args: ViewsArgs) -> Result<(), client::cli::CliError> {
    use client::cli;
    let addr = cli::resolve_broker(&args.broker)?;
    cli::run(async {
        let mut conn = client::Connection::connect(addr).await?;
        match &args.action {
            ViewsAction::Create {
                name,
                source,
                filter,
            } => {
                cli::views_create(&mut conn, name, source, filter).await?;
                eprintln!("created view {name} of {source}");
            }
            ViewsAction::List => {
                cli::views_list(&mut conn, &mut std::io::stdout().lock()).await?;
            }
            ViewsAction::Describe { names, json } => {
                cli::views_describe(&mut conn, names, *json, &mut std::io::stdout().lock()).await?;
            }
            ViewsAction::Delete { name } => {
                cli::views_delete(&mut conn, name).await?;
                eprintln!("deleted view {name}");
            }
        }
        Ok(())
    })
}

fn inspect(path: &std::path::Path) -> Result<(), client::cli::CliError> {
    let report = client::cli::inspect(path, &mut std::io::stdout().lock())?;
    for problem in &report.damage {
        eprintln!("{}: damaged: {problem}", path.display());
    }
    if report.damage.is_empty() {
        eprintln!("{}: {report}", path.display());
        Ok(())
    } else {
        Err(client::cli::CliError(format!(
            "{}: {report}",
            path.display()
        )))
    }
}

fn run_bench(kind: BenchCommand) -> Result<(), Box<dyn std::error::Error>> {
    match kind {
        BenchCommand::Runtime(args) => {
            let config = bench::runtime::RuntimeBenchConfig {
                rounds: args.rounds,
                warmup: Duration::try_from_secs_f64(args.warmup)?,
                measure: Duration::try_from_secs_f64(args.seconds)?,
                connections: args.connections,
                nops: args.nops,
                ..Default::default()
            };
            let report = bench::runtime::run(&config)?;
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
        }
        BenchCommand::Transfer(args) => {
            let defaults = bench::transfer::TransferBenchConfig::default();
            let config = bench::transfer::TransferBenchConfig {
                runs: args.runs,
                bytes: args.bytes,
                slices: args.slices.unwrap_or(defaults.slices.clone()),
                paths: args.paths.unwrap_or(defaults.paths.clone()),
                drivers: args.drivers.unwrap_or(defaults.drivers.clone()),
                raw: !args.no_raw,
                broker: !args.no_broker,
                broker_bytes: args.broker_bytes,
                dir: args.dir,
                ..defaults
            };
            let report = bench::transfer::run(&config, &mut |line| eprintln!("{line}"))?;
            print!("{report}");
            if let Some(path) = args.json {
                std::fs::write(&path, report.to_json() + "\n")?;
            }
            if let Some(path) = args.svg {
                std::fs::write(&path, report.to_svg())?;
            }
        }
        BenchCommand::Produce(args) => run_load(bench::load::Mode::Produce, args)?,
        BenchCommand::Consume(args) => run_load(bench::load::Mode::Consume, args)?,
        BenchCommand::E2e(args) => run_load(bench::load::Mode::E2e, args)?,
        BenchCommand::Compare(args) => {
            use bench::load::compare;
            let mut config = compare::CompareConfig::new(std::env::current_exe()?);
            if args.quick {
                config = config.quick();
            } else {
                config.rounds = args.rounds;
                config.measure = Duration::try_from_secs_f64(args.seconds)?;
                config.warmup = Duration::try_from_secs_f64(args.warmup)?;
            }
            config.broker_cores = args.broker_cores;
            if let Some(dir) = args.dir {
                config.base_dir = dir;
            }
            config.out_dir = Some(args.out);
            if let Some(w) = args.workloads {
                config.workloads = w;
            }
            config.progress = true;
            config.command = command_line();
            let report = compare::run(&config)?;
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
        }
        BenchCommand::Delay(args) => {
            let report = bench::delay::run(&delay_config(&args)?)?;
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
        }
        BenchCommand::Share(args) => {
            let report = bench::share::run(&share_config(&args)?)?;
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
        }
        BenchCommand::Views(args) => {
            let report = bench::views::run(&views_config(&args)?)?;
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
        }
        BenchCommand::Compaction(args) => {
            let report = bench::compaction::run(&compaction_config(&args)?)?;
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
        }
        BenchCommand::Limits(args) => {
            use bench::load::{self as load, limits::Limits};
            let write_bytes = match args.write_bytes {
                Some(n) => n,
                None => {
                    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                    let c = load::compare::CompareConfig::new(std::path::PathBuf::new());
                    load::batch_bytes_of(&load::compare::load_of(2, any, &c, None))?
                }
            };
            let dir = args.dir.unwrap_or_else(std::env::temp_dir);
            let limits = Limits::measure(&dir, write_bytes, args.seconds)?;
            let machine = bench::Machine::current();
            if args.json {
                println!("{}", limits.to_json());
            } else {
                println!(
                    "ringlog bench limits: {} CPUs, {}, kernel {}",
                    machine.cpus, machine.cpu_model, machine.kernel
                );
                print!("{limits}");
            }
        }
    }
    Ok(())
}

/// The command line that reproduces this run, as the reports record it.
fn command_line() -> String {
    std::env::args()
        .skip(1)
        .fold("ringlog".to_string(), |acc, a| acc + " " + &a)
}

fn delay_config(
    args: &DelayBenchArgs,
) -> Result<bench::delay::DelayBenchConfig, Box<dyn std::error::Error>> {
    let exe = match &args.exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe()?,
    };
    let mut c = bench::delay::DelayBenchConfig::new(exe);
    if args.quick {
        c = c.quick();
    } else {
        c.rounds = args.rounds;
        if let Some(p) = &args.pending {
            c.pending_levels = p.clone();
        }
        c.stream = Duration::try_from_secs_f64(args.stream_seconds)?;
        c.enqueue = Duration::try_from_secs_f64(args.enqueue_seconds)?;
        c.delivery_records = args.delivery_records;
        c.capacity_records = args.capacity_records;
        c.cost = Duration::try_from_secs_f64(args.cost_seconds)?;
    }
    c.parts = bench::delay::Part::parse_list(&args.parts)?;
    c.baseline_exe = args.baseline_exe.clone();
    c.cores = args.cores;
    c.io = args.io;
    c.flush = args.flush.clone();
    c.stream_rate = args.stream_rate;
    c.load_share = args.load_share;
    if let Some(dir) = &args.dir {
        c.base_dir = dir.clone();
    }
    c.out_dir = Some(args.out.clone());
    c.progress = true;
    c.command = command_line();
    c.validate()?;
    Ok(c)
}

fn share_config(
    args: &ShareBenchArgs,
) -> Result<bench::share::ShareBenchConfig, Box<dyn std::error::Error>> {
    use bench::share::ShareBenchConfig;
    let (target, label) = args.own.target(args.bootstrap.as_deref())?;
    let mut c = ShareBenchConfig::new(target);
    if args.quick {
        c = c.quick();
    } else {
        c.rounds = args.rounds;
        c.records = args.records;
        c.ack_samples = args.ack_samples;
        c.warmup_records = args.warmup_records;
    }
    c.label = args.reported.label.clone().unwrap_or(label);
    c.broker_pid = args.reported.broker_pid;
    c.record_bytes = args.record_bytes;
    if let Some(k) = &args.consumers {
        c.consumers = k.clone();
    }
    c.max_records = args
        .max_records
        .unwrap_or_else(|| bench::share::matched_max_records(args.fetch_bytes, args.record_bytes));
    c.fetch_bytes = args.fetch_bytes;
    c.max_wait = Duration::from_millis(args.max_wait_ms);
    c.pipeline = args.pipeline;
    if let Some(dir) = &args.dir {
        c.base_dir = dir.clone();
    }
    c.out_dir = Some(args.out.clone());
    c.progress = true;
    c.command = command_line();
    c.validate()?;
    Ok(c)
}

fn views_config(
    args: &ViewsBenchArgs,
) -> Result<bench::views::ViewsBenchConfig, Box<dyn std::error::Error>> {
    use bench::views::ViewsBenchConfig;
    let (target, label) = args.own.target(args.bootstrap.as_deref())?;
    let mut c = ViewsBenchConfig::new(target);
    if args.quick {
        c = c.quick();
    } else {
        c.rounds = args.rounds;
        c.records = args.records;
    }
    c.label = args.reported.label.clone().unwrap_or(label);
    c.broker_pid = args.reported.broker_pid;
    c.record_bytes = args.record_bytes;
    c.match_percent = args.match_percent;
    c.fetch_bytes = args.fetch_bytes;
    c.max_wait = Duration::from_millis(args.max_wait_ms);
    if let Some(dir) = &args.dir {
        c.base_dir = dir.clone();
    }
    c.out_dir = Some(args.out.clone());
    c.progress = true;
    c.command = command_line();
    c.validate()?;
    Ok(c)
}

fn compaction_config(
    args: &CompactionBenchArgs,
) -> Result<bench::compaction::CompactionBenchConfig, Box<dyn std::error::Error>> {
    use bench::compaction::{CompactionBenchConfig, Part};
    let mut c = CompactionBenchConfig::default();
    if args.quick {
        c = c.quick();
    } else {
        c.rounds = args.rounds;
        c.input_bytes = args.input_mib.saturating_mul(1 << 20);
        c.segment_bytes = args.segment_mib.saturating_mul(1 << 20);
        c.dirty_bytes = args.dirty_mib.saturating_mul(1 << 20);
        c.baseline = Duration::try_from_secs_f64(args.baseline_seconds)?;
    }
    c.parts = Part::parse_list(&args.parts)?;
    if let Some(codecs) = &args.codecs {
        c.codecs = codecs
            .iter()
            .map(|s| client::cli::parse_compression(s))
            .collect::<Result<_, _>>()?;
    }
    c.rate_keys = args.keys;
    c.rate_value_bytes = args.value_bytes;
    c.io = args.io;
    c.flush = args.flush.clone();
    c.dirty_codec = client::cli::parse_compression(&args.dirty_codec)?;
    c.dirty_keys = args.dirty_keys;
    c.live_rate = args.rate;
    c.live_batch_records = args.batch_records;
    c.pass_wait = Duration::try_from_secs_f64(args.pass_wait_seconds)?;
    if let Some(dir) = &args.dir {
        c.base_dir = dir.clone();
    }
    c.out_dir = Some(args.out.clone());
    c.progress = true;
    c.command = command_line();
    c.validate()?;
    Ok(c)
}

fn run_load(
    mode: ringlog::bench::load::Mode,
    args: LoadArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    use bench::load::LoadConfig;
    let broker = client::cli::resolve_broker(&args.broker)?;
    let records_per_batch = match args.batch_bytes {
        Some(b) => (b / args.record_bytes.max(1)).max(1),
        None => args.records_per_batch,
    };
    let config = LoadConfig {
        topic: args.topic,
        partitions: args.partitions,
        connections: args.connections,
        record_bytes: args.record_bytes,
        records_per_batch,
        acks: client::cli::parse_acks(&args.acks)?,
        compression: client::cli::parse_compression(&args.compression)?,
        warmup: Duration::try_from_secs_f64(args.warmup)?,
        duration: Duration::try_from_secs_f64(args.seconds)?,
        count: args.count,
        rate: args.rate,
        in_flight: args.in_flight,
        fill_bytes: args.fill_mb.saturating_mul(1_000_000),
        fetch_bytes: args.fetch_bytes,
        broker_pid: args.broker_pid,
        client_cpu: args.client_cpu,
        client_io: args.client_io.unwrap_or(match args.rate {
            Some(_) => ringlog::runtime::IoKind::Uring,
            None => ringlog::runtime::IoKind::Epoll,
        }),
        tls: args.tls_ca.map(|ca| (ca, args.tls_server_name)),
        ..LoadConfig::new(mode, broker)
    };
    let report = bench::load::run(&config)?;
    let machine = bench::Machine::current();
    if args.json {
        println!("{}", report.to_json(&machine));
    } else {
        println!(
            "machine: {} CPUs, {}, kernel {}",
            machine.cpus, machine.cpu_model, machine.kernel
        );
        print!("{report}");
    }
    Ok(())
}

#[derive(clap::Args)]
struct GroupsArgs {
    /// Broker HOST:PORT.
    #[arg(long, global = true, default_value = "127.0.0.1:9092")]
    broker: String,
    #[command(subcommand)]
    command: GroupsCommand,
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// Every group: id, type (Classic, Consumer, Share), state, protocol type.
    List,
    /// A group's state, members with their partitions, committed offsets and lag; for a share
    /// group, each share-partition's window and records per delivery state.
    Describe {
        /// Group id.
        group: String,
    },
    /// A group's configs (share groups: share.*, errors.deadletterqueue.*,
    /// ringlog.share.retry.backoff.ms), and changes to them (all or none; refused with the
    /// broker's reason). Kafka's `kafka-configs --entity-type groups` does the same.
    Configs {
        /// Group id.
        group: String,
        /// Set a config: KEY=VALUE (repeatable).
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Back to the default: KEY (repeatable).
        #[arg(long, value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Move a group's committed offsets on every partition of a topic (refused while the group
    /// has live members).
    ResetOffsets {
        /// Group id.
        group: String,
        /// Topic whose partitions are reset.
        #[arg(long)]
        topic: String,
        /// To the first offset still stored.
        #[arg(long, group = "to")]
        to_earliest: bool,
        /// To the end (skip everything stored).
        #[arg(long, group = "to")]
        to_latest: bool,
        /// To the first record at or after this time, in milliseconds since the Unix epoch.
        #[arg(long, group = "to", value_name = "MS")]
        to_time: Option<i64>,
    },
}

fn run_groups(args: GroupsArgs) -> Result<(), ringlog::broker::group::admin::AdminError> {
    use ringlog::broker::group::admin::{AdminClient, AdminError, ResetTo};
    let mut admin = AdminClient::connect(&args.broker)?;
    match args.command {
        GroupsCommand::List => {
            println!(
                "{:<40} {:<12} {:<20} PROTOCOL-TYPE",
                "GROUP", "TYPE", "STATE"
            );
            for (id, ptype, state, gtype) in admin.list_groups()? {
                println!("{id:<40} {gtype:<12} {state:<20} {ptype}");
            }
        }
        GroupsCommand::Describe { group } => {
            let kind = admin.group_type(&group)?;
            if kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("share"))
            {
                let d = admin.describe_share_group(&group)?;
                println!(
                    "share group {}  state {}  epoch {}",
                    d.group_id, d.state, d.epoch
                );
                println!("{} member(s)", d.members.len());
                for (id, client, parts) in &d.members {
                    println!("  {id}  client={client}  partitions=[{}]", parts.join(","));
                }
                println!(
                    "{:<30} {:>9} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>8}",
                    "TOPIC",
                    "PARTITION",
                    "START",
                    "END",
                    "AVAILABLE",
                    "IN-FLIGHT",
                    "ACKED",
                    "ARCHIVED",
                    "DLQ-WAIT"
                );
                for p in &d.partitions {
                    println!(
                        "{:<30} {:>9} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10} {:>8}",
                        p.topic,
                        p.partition,
                        p.start_offset,
                        p.end_offset,
                        p.available,
                        p.acquired,
                        p.acknowledged,
                        p.archived,
                        p.dlq_pending
                    );
                }
                return Ok(());
            }
            let d = if kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("consumer"))
            {
                admin.describe_consumer_group(&group)?
            } else {
                admin.describe_group(&group)?
            };
            println!(
                "group {}  state {}  protocol {} / {}",
                d.group_id, d.state, d.protocol_type, d.protocol
            );
            println!("{} member(s)", d.members.len());
            for (id, client, instance, parts) in &d.members {
                let instance = instance.as_deref().unwrap_or("-");
                println!(
                    "  {id}  client={client}  instance={instance}  partitions=[{}]",
                    parts.join(",")
                );
            }
            println!(
                "{:<30} {:>9} {:>14} {:>14} {:>10}",
                "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"
            );
            for (t, p, committed, end) in &d.offsets {
                let lag = if *end >= 0 && *committed >= 0 {
                    (end - committed).to_string()
                } else {
                    "-".into()
                };
                println!("{t:<30} {p:>9} {committed:>14} {end:>14} {lag:>10}");
            }
        }
        GroupsCommand::Configs { group, set, delete } => {
            let mut changes = Vec::new();
            for kv in &set {
                let Some((k, v)) = kv.split_once('=') else {
                    return Err(AdminError::InvalidArgument(format!(
                        "--set {kv:?}: expected KEY=VALUE"
                    )));
                };
                changes.push((k.to_string(), Some(v.to_string())));
            }
            changes.extend(delete.iter().map(|k| (k.clone(), None)));
            if !changes.is_empty() {
                admin.alter_group_configs(&group, &changes)?;
            }
            println!("{:<45} {:<30} SOURCE", "CONFIG", "VALUE");
            for (name, value, set) in admin.group_configs(&group)? {
                let source = if set { "group" } else { "default" };
                println!("{name:<45} {value:<30} {source}");
            }
        }
        GroupsCommand::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_time,
        } => {
            let to = match (to_earliest, to_latest, to_time) {
                (true, false, None) => ResetTo::Earliest,
                (false, true, None) => ResetTo::Latest,
                (false, false, Some(t)) => ResetTo::Time(t),
                _ => {
                    return Err(AdminError::InvalidArgument(
                        "give exactly one of --to-earliest, --to-latest, --to-time MS".into(),
                    ))
                }
            };
            let done = admin.reset_offsets(&group, &topic, to)?;
            println!("group {group}: committed new offsets for {topic}");
            for (p, o) in done {
                println!("  {topic}-{p} -> {o}");
            }
        }
    }
    Ok(())
}

/// A `KEY=VALUE` topic config from the command line.
fn parse_config(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}
