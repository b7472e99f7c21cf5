//! The `ringlog` command line: a thin layer that parses arguments and calls the library.

use clap::{Parser, Subcommand};

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
    /// Print the kernel version, the io_uring opcodes and setup flags found, and what the
    /// runtime will use.
    Probe,
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
        Command::Probe => {
            println!("{}", ringlog::runtime::probe());
        }
    }
}
