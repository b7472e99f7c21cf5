//! The broker under test of `bench share` and `bench views`, and the rounds run against it: a
//! fresh `ringlog serve` child per round (in its own data directory), or the broker at
//! `--bootstrap` for every round.
//!
//! # Invariants
//! - A broker started here is stopped after its round, also when the round failed; its data
//!   directory lies under one root that is removed when the [`RoundBrokers`] of the run is
//!   dropped.
//! - A failed round is recorded as `round N: why` and the run goes on with the next one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ringlog_runtime::IoKind;

use crate::load::compare::{data_root_in, BrokerUnderTest, CompareConfig, DirGuard, Launcher};
use crate::load::LoadError;

/// Broker shards of the broker a benchmark starts.
pub const CORES_DEFAULT: usize = 1;

/// Why [`Target::is_valid`] refused a target (the same words for every benchmark).
pub(crate) const TARGET_INVALID: &str =
    "the broker needs at least 1 core and flush always, never or interval:<ms>";

/// Where the broker under test comes from.
#[derive(Clone, Debug)]
pub enum Target {
    /// `exe serve` as a child process, a fresh data directory per round.
    Own {
        /// The `ringlog` binary.
        exe: PathBuf,
        /// Its `--cores`.
        cores: usize,
        /// Its `--io`.
        io: IoKind,
        /// Its `--flush`.
        flush: String,
    },
    /// A running broker (ringlog or Kafka); each round uses a new topic and new groups.
    Bootstrap(SocketAddr),
}

impl Target {
    /// A broker started here has at least one core and a `--flush` that `ringlog serve`
    /// takes; a broker at `--bootstrap` is always valid.
    pub(crate) fn is_valid(&self) -> bool {
        match self {
            Target::Own { cores, flush, .. } => {
                *cores >= 1
                    && (matches!(flush.as_str(), "always" | "never")
                        || flush.starts_with("interval:"))
            }
            Target::Bootstrap(_) => true,
        }
    }
}

/// A sentence naming the broker under test.
pub(crate) fn broker_sentence(target: &Target, label: &str) -> String {
    match target {
        Target::Own {
            cores, io, flush, ..
        } => format!(
            "{label}: `ringlog serve --cores {cores} --io {io} --flush {flush}` started by the \
             benchmark as a child process, a fresh data directory per round"
        ),
        Target::Bootstrap(addr) => format!("{label}: the broker at {addr} (`--bootstrap`)"),
    }
}

/// The brokers of a run's rounds: where they come from and, for brokers started here, the root
/// of their data directories (named after the benchmark, under the base directory), removed
/// when this is dropped.
pub(crate) struct RoundBrokers<'a> {
    target: &'a Target,
    bootstrap_pid: Option<u32>,
    root: Option<PathBuf>,
    _guard: Option<DirGuard>,
}

impl<'a> RoundBrokers<'a> {
    /// The brokers of `target` (`bootstrap_pid`: the pid of the broker at `--bootstrap`, when
    /// known); for a broker started here, creates the root of the data directories under
    /// `base_dir`.
    pub(crate) fn new(
        target: &'a Target,
        bootstrap_pid: Option<u32>,
        base_dir: &Path,
        benchmark: &str,
    ) -> Result<RoundBrokers<'a>, LoadError> {
        let root = match target {
            Target::Own { .. } => Some(data_root_in(base_dir, benchmark)?),
            Target::Bootstrap(_) => None,
        };
        let _guard = root.clone().map(DirGuard);
        Ok(RoundBrokers {
            target,
            bootstrap_pid,
            root,
            _guard,
        })
    }

    /// Runs rounds `1..=rounds` in order, saying each, `measure` on the round's broker (see
    /// [`RoundBrokers::on_round`]); returns the rounds that completed and, for each that
    /// failed, `round N: why` (said too).
    pub(crate) fn run<R>(
        &self,
        rounds: usize,
        say: impl Fn(&str),
        measure: impl Fn(usize, SocketAddr, Option<u32>, Option<&Path>) -> Result<R, LoadError>,
    ) -> (Vec<R>, Vec<String>) {
        let (mut done, mut failures) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            say(&format!("round {round}/{rounds}"));
            match self.on_round(round, |addr, pid, dir| measure(round, addr, pid, dir)) {
                Ok(r) => done.push(r),
                Err(e) => {
                    say(&format!("round {round} failed: {e}"));
                    failures.push(format!("round {round}: {e}"));
                }
            }
        }
        (done, failures)
    }

    /// Runs `measure` against the broker of round `round`: one started here in
    /// `<root>/round-<round>` and stopped afterwards (`measure` gets its address, pid and data
    /// directory), or the one at `--bootstrap` (its address and pid, no directory).
    fn on_round<R>(
        &self,
        round: usize,
        measure: impl FnOnce(SocketAddr, Option<u32>, Option<&Path>) -> Result<R, LoadError>,
    ) -> Result<R, LoadError> {
        match (self.target, &self.root) {
            (
                Target::Own {
                    exe,
                    cores,
                    io,
                    flush,
                },
                Some(root),
            ) => {
                let compare = CompareConfig {
                    broker_cores: *cores,
                    launcher: Launcher::Child(exe.clone()),
                    ..CompareConfig::new(exe.clone())
                };
                let dir = root.join(format!("round-{round}"));
                let broker = BrokerUnderTest::start(&compare, *io, flush, dir.clone())?;
                let r = measure(broker.addr, Some(broker.pid), Some(&dir));
                broker.stop()?;
                r
            }
            (Target::Bootstrap(addr), _) => measure(*addr, self.bootstrap_pid, None),
            (Target::Own { .. }, None) => Err(LoadError("no data directory for the broker".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn own(cores: usize, flush: &str) -> Target {
        Target::Own {
            exe: PathBuf::from("ringlog"),
            cores,
            io: IoKind::Uring,
            flush: flush.into(),
        }
    }

    #[test]
    fn targets_need_a_core_and_a_flush_serve_takes() {
        for flush in ["always", "never", "interval:5"] {
            assert!(own(1, flush).is_valid(), "{flush}");
        }
        assert!(!own(0, "always").is_valid());
        assert!(!own(1, "sometimes").is_valid());
        assert!(Target::Bootstrap(SocketAddr::from(([127, 0, 0, 1], 1))).is_valid());
    }

    #[test]
    fn sentences_name_the_command_or_the_address() {
        assert_eq!(
            broker_sentence(&own(2, "never"), "ringlog"),
            "ringlog: `ringlog serve --cores 2 --io uring --flush never` started by the \
             benchmark as a child process, a fresh data directory per round"
        );
        let at = Target::Bootstrap(SocketAddr::from(([127, 0, 0, 1], 9092)));
        assert_eq!(
            broker_sentence(&at, "kafka"),
            "kafka: the broker at 127.0.0.1:9092 (`--bootstrap`)"
        );
    }

    #[test]
    fn failed_rounds_are_recorded_and_the_run_goes_on() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 9092));
        let target = Target::Bootstrap(addr);
        let brokers = RoundBrokers::new(&target, Some(7), Path::new("/"), "x").unwrap();
        assert!(brokers.root.is_none());
        let said = RefCell::new(Vec::new());
        let (done, failures) = brokers.run(
            3,
            |s| said.borrow_mut().push(s.to_string()),
            |round, a, pid, dir| match round {
                2 => Err(LoadError("broken".into())),
                _ => Ok((round, a, pid, dir.is_some())),
            },
        );
        assert_eq!(done, [(1, addr, Some(7), false), (3, addr, Some(7), false)]);
        assert_eq!(failures, ["round 2: broken"]);
        assert_eq!(
            said.into_inner(),
            [
                "round 1/3",
                "round 2/3",
                "round 2 failed: broken",
                "round 3/3"
            ]
        );
    }

    #[test]
    fn a_broker_started_here_needs_a_data_directory() {
        let target = own(1, "always");
        let brokers = RoundBrokers {
            target: &target,
            bootstrap_pid: None,
            root: None,
            _guard: None,
        };
        let err = brokers.on_round(1, |_, _, _| Ok(())).unwrap_err();
        assert_eq!(err.0, "no data directory for the broker");
    }
}
