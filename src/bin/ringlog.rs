//! The `ringlog` command line: a thin layer that parses arguments and calls the library.

use std::time::Duration;

use clap::{Parser, Subcommand};
use ringlog::bench;

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
    Serve(ServeArgs),
    /// Print the kernel version, the io_uring opcodes and setup flags found, and what the
    /// runtime will use.
    Probe,
    /// Run a benchmark. Each answers one question and prints the kernel, the CPU, the driver or
    /// path under test and ratios against a baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        kind: BenchCommand,
    },
}

/// The benchmark kinds, one subcommand each.
#[derive(Subcommand)]
enum BenchCommand {
    /// Ring NOP cost and loopback ping-pong (64 B echo) with the server on io_uring vs epoll.
    Runtime(RuntimeBenchArgs),
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
    /// Address to listen on.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// HOST:PORT given to clients in Metadata (default: the listen address).
    #[arg(long)]
    advertise: Option<String>,
    /// Data directory.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Shards (threads, one per core; default: all online cores).
    #[arg(long)]
    cores: Option<usize>,
    /// I/O driver: uring or epoll.
    #[arg(long)]
    io: Option<ringlog::runtime::IoKind>,
    /// Fetch transfer path: copy, mmap, sendfile, splice, uring-splice, uring-send-zc, auto.
    #[arg(long)]
    transfer: Option<ringlog::transfer::TransferPath>,
    /// Durability: always (group commit), never, or interval:<ms>.
    #[arg(long)]
    flush: Option<String>,
    /// Partitions of auto-created topics (default: the number of shards).
    #[arg(long)]
    default_partitions: Option<i32>,
    /// Largest request frame accepted, in bytes.
    #[arg(long)]
    request_bytes_max: Option<u32>,
    /// Segment size in bytes before rolling.
    #[arg(long)]
    segment_bytes: Option<u64>,
}

fn serve(args: ServeArgs) -> Result<(), String> {
    use ringlog::broker::{config::parse_flush, Broker, BrokerConfig};
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        config.merge_toml(&text)?;
    }
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.advertise {
        config.advertise = Some(v);
    }
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.cores {
        config.cores = v;
    }
    if let Some(v) = args.io {
        config.io = v;
    }
    if let Some(v) = args.transfer {
        config.transfer = v;
    }
    if let Some(v) = args.flush {
        config.flush = parse_flush(&v)?;
    }
    if let Some(v) = args.default_partitions {
        config.default_partitions = Some(v);
    }
    if let Some(v) = args.request_bytes_max {
        config.request_bytes_max = v;
    }
    if let Some(v) = args.segment_bytes {
        config.segment_bytes = v;
    }
    ringlog::runtime::signal::block_termination_signals().map_err(|e| e.to_string())?;
    let broker = Broker::start(config).map_err(|e| e.to_string())?;
    let sig = ringlog::runtime::signal::wait_for_termination_signal().map_err(|e| e.to_string())?;
    tracing::info!(
        signal = sig,
        "shutting down: no new connections, finishing requests, flushing"
    );
    broker.shutdown();
    broker.join().map_err(|e| e.to_string())?;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            if let Err(e) = serve(args) {
                eprintln!("ringlog serve: {e}");
                std::process::exit(1);
            }
        }
        Command::Probe => {
            println!("{}", ringlog::runtime::probe());
        }
        Command::Bench { kind } => {
            if let Err(e) = run_bench(kind) {
                eprintln!("ringlog bench: {e}");
                std::process::exit(1);
            }
        }
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
    }
    Ok(())
}
