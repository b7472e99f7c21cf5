//! A real crash: a child process appends with `FlushPolicy::Always` and reports each
//! acknowledged offset; it is killed with SIGKILL at a random moment; reopening finds every
//! acknowledged offset, with its bytes, in a contiguous log that accepts appends at its end.
//!
//! The child is this test binary itself, re-executed with `--exact child_appender` and
//! [`CHILD_DIR_ENV`] / [`CHILD_IO_ENV`] set; without them `child_appender` returns at once. The
//! child runs [`APPENDERS`] concurrent appenders on one shard (so group commit is exercised and
//! kills land between a write and its fdatasync), with small segments (so kills also land in
//! rolls and index writes). Each acknowledged append becomes one stdout line
//! `ack <base_offset> <records> <appender> <seq> <sync_calls>`, flushed before the next append
//! of that appender starts.
//!
//! The kill moment is drawn from a seed printed by the test; rerun a failure with
//! `RINGLOG_CRASH_SEED=<seed>`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringlog::runtime::fs::fault;
use ringlog::runtime::rng::Rng;
use ringlog::runtime::{self, IoKind, RuntimeConfig};
use ringlog::storage::batch::testing::build_batch;
use ringlog::storage::batch::{stamp, validate_buffer};
use ringlog::storage::{FlushPolicy, Log, LogConfig};

/// Child mode: the partition directory to append to.
const CHILD_DIR_ENV: &str = "RINGLOG_CRASH_CHILD_DIR";
/// Child mode: `uring` or `epoll`.
const CHILD_IO_ENV: &str = "RINGLOG_CRASH_CHILD_IO";
/// Fixes the seed of the kill moment (otherwise taken from the clock and printed).
const SEED_ENV: &str = "RINGLOG_CRASH_SEED";

/// Concurrent appenders in the child: enough that several appends share one fdatasync.
const APPENDERS: u64 = 4;
/// Kill window after the first acknowledged append, milliseconds (the brief: 100..600).
const KILL_AFTER_MS_MIN: u64 = 100;
const KILL_AFTER_MS_MAX: u64 = 600;
/// The child gives up on its own after this long (if the parent died without killing it).
const CHILD_RUN_MS_MAX: u64 = 30_000;
/// The parent fails if the child has not acknowledged anything after this long (exec, runtime
/// and log setup take milliseconds; this only bounds a hung child).
const FIRST_ACK_WAIT_MS_MAX: u64 = 20_000;
/// Small segments so the run rolls many times: kills land in rolls and index writes too.
const SEGMENT_BYTES: u64 = 16 * 1024;
const INDEX_INTERVAL_BYTES: u32 = 512;
/// Records per batch cycle through 1..=RECORDS_MAX.
const RECORDS_MAX: u64 = 5;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        segment_ms: None,
        index_interval_bytes: INDEX_INTERVAL_BYTES,
        batch_bytes_max: 64 * 1024,
        retention_bytes: None,
        retention_ms: None,
        flush: FlushPolicy::Always,
        // The production open path: sealed segments load from their index files.
        verify_sealed_on_open: false,
        ..LogConfig::default()
    }
}

fn io_name(io: IoKind) -> &'static str {
    match io {
        IoKind::Uring => "uring",
        IoKind::Epoll => "epoll",
    }
}

/// The batch appender `appender` sends as its `seq`-th append; the parent rebuilds it from the
/// ack line to compare bytes. Value sizes vary so batches straddle index intervals.
fn batch_for(appender: u64, seq: u64) -> Vec<u8> {
    let records = records_for(appender, seq);
    let values: Vec<Vec<u8>> = (0..records)
        .map(|r| {
            let pad = "p".repeat(((appender * 31 + seq * 7 + r) % 97) as usize);
            format!("a{appender}-s{seq}-r{r}-{pad}").into_bytes()
        })
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    build_batch(1_700_000_000_000 + seq as i64, &refs)
}

fn records_for(appender: u64, seq: u64) -> u64 {
    1 + (appender + seq) % RECORDS_MAX
}

/// The child: appends until killed (or [`CHILD_RUN_MS_MAX`]). A no-op in a normal test run.
#[test]
fn child_appender() {
    let (Ok(dir), Ok(io)) = (std::env::var(CHILD_DIR_ENV), std::env::var(CHILD_IO_ENV)) else {
        return;
    };
    let io = match io.as_str() {
        "uring" => IoKind::Uring,
        "epoll" => IoKind::Epoll,
        other => panic!("{CHILD_IO_ENV}={other}: expected uring or epoll"),
    };
    runtime::block_on(&RuntimeConfig::single(io), async move {
        let log = Rc::new(
            Log::open(Path::new(&dir), "crash", 0, config(), false)
                .await
                .expect("child opens the log"),
        );
        let deadline = Instant::now() + Duration::from_millis(CHILD_RUN_MS_MAX);
        let handles: Vec<_> = (0..APPENDERS)
            .map(|appender| {
                let log = log.clone();
                runtime::spawn(async move {
                    let mut seq = 0u64;
                    while Instant::now() < deadline {
                        let base = log
                            .append(batch_for(appender, seq))
                            .await
                            .expect("child append");
                        // Acknowledged: the append future resolved Ok under FlushPolicy::Always.
                        let mut out = std::io::stdout().lock();
                        writeln!(
                            out,
                            "ack {base} {} {appender} {seq} {}",
                            records_for(appender, seq),
                            fault::sync_calls()
                        )
                        .and_then(|()| out.flush())
                        .expect("child writes its ack line");
                        seq += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
    })
    .expect("child runtime starts");
}

/// One acknowledged append as reported by the child.
#[derive(Debug, Clone, Copy)]
struct Ack {
    base_offset: i64,
    records: u64,
    appender: u64,
    seq: u64,
    sync_calls: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut f = line.strip_prefix("ack ")?.split(' ');
    let mut next = || f.next().and_then(|s| s.parse::<i64>().ok());
    Some(Ack {
        base_offset: next()?,
        records: next()? as u64,
        appender: next()? as u64,
        seq: next()? as u64,
        sync_calls: next()? as u64,
    })
}

fn crash_and_recover(io: IoKind) {
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let kill_after_ms =
        KILL_AFTER_MS_MIN + Rng::new(seed).next_u64() % (KILL_AFTER_MS_MAX - KILL_AFTER_MS_MIN + 1);
    eprintln!(
        "crash test ({}): seed {seed} (rerun with {SEED_ENV}={seed}), SIGKILL {kill_after_ms} ms \
         after the first ack",
        io_name(io)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let part = dir.path().join("crash-0");
    let mut child = Command::new(std::env::current_exe().expect("own test binary"))
        .args([
            "--exact",
            "child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, &part)
        .env(CHILD_IO_ENV, io_name(io))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut acks: Vec<Ack> = Vec::new();
    let take = |line: String, acks: &mut Vec<Ack>| {
        if let Some(a) = parse_ack(&line) {
            acks.push(a);
        }
    };
    // Wait for the first ack, then keep reading for the drawn window.
    let first_deadline = Instant::now() + Duration::from_millis(FIRST_ACK_WAIT_MS_MAX);
    while acks.is_empty() {
        let left = first_deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => take(line, &mut acks),
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("no ack from the child ({e:?}); child status {status:?}");
            }
        }
    }
    let kill_at = Instant::now() + Duration::from_millis(kill_after_ms);
    loop {
        let left = kill_at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match rx.recv_timeout(left) {
            Ok(line) => take(line, &mut acks),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("child exited before the kill: {:?}", child.wait())
            }
        }
    }
    // Child::kill sends SIGKILL on Unix: no destructor, no flush, no atexit in the child.
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "child still running"
    );
    child.kill().expect("SIGKILL child");
    let status = child.wait().expect("reap child");
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL), "killed by SIGKILL");
    }
    // Lines written before the kill are still in the pipe: they were acknowledged too.
    reader.join().expect("reader thread");
    acks.extend(rx.try_iter().filter_map(|l| parse_ack(&l)));
    let syncs = acks.iter().map(|a| a.sync_calls).max().unwrap_or(0);
    eprintln!(
        "crash test ({}): {} acknowledged appends, ~{syncs} fdatasync/fsync calls in the child \
         ({:.2} acks per sync)",
        io_name(io),
        acks.len(),
        acks.len() as f64 / syncs.max(1) as f64
    );

    verify_after_crash(io, &part, &acks);
}

/// Reopens the log on `io` and checks every ack, contiguity and that appends continue.
fn verify_after_crash(io: IoKind, part: &Path, acks: &[Ack]) {
    runtime::block_on(&RuntimeConfig::single(io), async {
        let log = Log::open(part, "crash", 0, config(), false)
            .await
            .expect("reopen after SIGKILL");
        let actual = runtime::io_kind();
        if actual != Some(io) {
            eprintln!(
                "crash test ({}): NOTE: the runtime fell back to {actual:?} (io_uring unavailable)",
                io_name(io)
            );
        }
        let report = log.recovery_report().clone();
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        assert_eq!(start, 0, "no retention: the log starts at 0");
        assert_eq!(
            log.high_watermark(),
            end,
            "after open everything is durable"
        );
        eprintln!(
            "crash test ({}): reopened: offsets {start}..{end} in {} segments, recovery {report:?}",
            io_name(io),
            log.segment_count()
        );

        // Contiguity: walk every batch from the start.
        let bytes = log
            .read(start, u64::MAX)
            .await
            .expect("read all")
            .read_to_vec()
            .await
            .expect("read bytes");
        let infos = if bytes.is_empty() {
            Vec::new()
        } else {
            validate_buffer(&bytes, u64::MAX).expect("every recovered batch is whole and valid")
        };
        let mut by_base: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
        let mut next = start;
        for info in &infos {
            assert_eq!(info.header.base_offset, next, "offsets are contiguous");
            next = info.header.last_offset() + 1;
            by_base.insert(
                info.header.base_offset,
                (info.position as usize, info.header.size_bytes() as usize),
            );
        }
        assert_eq!(next, end, "the batches end at the log end offset");

        // Every acknowledged append is there with its bytes.
        for a in acks {
            let Some(&(pos, size)) = by_base.get(&a.base_offset) else {
                panic!("acknowledged {a:?} missing: log is 0..{end}");
            };
            let mut expect = batch_for(a.appender, a.seq);
            assert_eq!(a.records, records_for(a.appender, a.seq), "{a:?}");
            stamp(&mut expect, a.base_offset, 0);
            assert_eq!(&bytes[pos..pos + size], &expect[..], "content of {a:?}");
        }
        let acked_end = acks
            .iter()
            .map(|a| a.base_offset + a.records as i64)
            .max()
            .unwrap_or(0);
        assert!(
            end >= acked_end,
            "log end {end} < acknowledged end {acked_end}"
        );

        // Appends continue at the end.
        let b = batch_for(APPENDERS, 0);
        let base = log.append(b.clone()).await.expect("append after recovery");
        assert_eq!(base, end, "the next append starts at the recovered log end");
        let got = log
            .read(base, u64::MAX)
            .await
            .expect("read new batch")
            .read_to_vec()
            .await
            .expect("read bytes");
        let mut expect = b;
        stamp(&mut expect, base, 0);
        assert_eq!(got, expect);
    })
    .expect("runtime starts");
}

#[test]
fn sigkill_during_appends_keeps_every_ack_uring() {
    crash_and_recover(IoKind::Uring);
}

#[test]
fn sigkill_during_appends_keeps_every_ack_epoll() {
    crash_and_recover(IoKind::Epoll);
}
