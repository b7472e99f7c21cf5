//! Hole 2 of issue #13, "file descriptors are unbounded", and what came with it: segment files
//! are held within a budget whatever the number of partitions, `max.partitions` is a policy,
//! topic creation is all or nothing, and partition directories the catalog does not name are set
//! aside at start.
//!
//! The storage test runs in this process and counts `/proc/self/fd`. The broker tests run the
//! real binary (`ringlog serve`) in a child, some with RLIMIT_NOFILE lowered, so that the test
//! process's descriptor count only moves by a few pipes and sockets. Both drivers; loopback
//! only; every child is killed when its test ends, every wait is bounded, and each test runs in
//! a few seconds.

#[macro_use]
mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::{
    batch, create_topics_request, fetch_request, metadata_request, produce_request, stamped,
    versions, Client, FetchAt,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, MetadataRequest, ProduceRequest};
use ringlog::runtime::IoKind;
use ringlog::storage::{Engine, EngineConfig, FlushPolicy, LogConfig};

both_drivers!(
    many_partitions_within_a_small_budget_keep_the_descriptor_count_bounded,
    a_broker_with_more_partitions_than_descriptors_serves_them_all_and_restarts,
    max_partitions_is_refused_with_policy_violation_before_anything_is_created,
    a_creation_that_fails_midway_leaves_nothing_behind,
    orphan_partition_directories_are_moved_aside_at_start,
);

/// Longest a child broker may take to start listening (it recovers every partition first).
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Kafka error codes the tests expect.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PARTITIONS: i16 = 37;
const POLICY_VIOLATION: i16 = 44;

/// Descriptors open in this process.
fn fds_open() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn block_on<F: std::future::Future>(io: IoKind, f: F) -> F::Output {
    ringlog::runtime::block_on(&ringlog::runtime::RuntimeConfig::single(io), f)
        .expect("runtime starts")
}

/// 90 partitions with an engine budget of 16 files: creating, appending to (several segments
/// each) and reading every partition, then reopening, the process never holds more than the
/// budget plus a little (the runtime's own descriptors, a directory being synced, a read in
/// flight). Without the budget it held three descriptors per segment: over 800.
fn many_partitions_within_a_small_budget_keep_the_descriptor_count_bounded(io: IoKind) {
    const BUDGET: usize = 16;
    // Descriptors beyond the budget that are fine: the ones the test's other threads (child
    // brokers' pipes and sockets) and this engine's in-flight operations hold at any moment.
    const SLACK: usize = 48;
    const TOPICS: [&str; 3] = ["fd-a", "fd-b", "fd-c"];
    const PARTITIONS: i32 = 30;
    const ROUNDS: usize = 6;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        log: LogConfig {
            // A few batches per segment, so every partition has several segments.
            segment_bytes: 512,
            segment_ms: None,
            flush: FlushPolicy::Never,
            ..LogConfig::default()
        },
        open_segment_files_max: BUDGET,
        ..EngineConfig::default()
    };
    let value = |t: usize, p: i32, round: usize| format!("{t}/{p}/{round}/{}", "v".repeat(100));
    let before = fds_open();
    let mut peak = before;
    block_on(io, async {
        let engine = Engine::open(dir.path(), config.clone())
            .await
            .expect("open");
        for t in TOPICS {
            engine.create_topic(t, PARTITIONS).await.expect("create");
            peak = peak.max(fds_open());
        }
        for round in 0..ROUNDS {
            for (t, topic) in TOPICS.iter().enumerate() {
                for p in 0..PARTITIONS {
                    let b = batch(0, &[value(t, p, round).as_bytes()]);
                    let base = engine.append(topic, p, b).await.expect("append");
                    assert_eq!(base, round as i64);
                    peak = peak.max(fds_open());
                }
            }
        }
        assert!(engine.file_cache().held() <= BUDGET);
        let segments = engine.log(TOPICS[0], 0).expect("log").segment_count();
        assert!(segments >= 3, "{segments} segments: the test needs several");
        for (t, topic) in TOPICS.iter().enumerate() {
            for p in 0..PARTITIONS {
                let read = engine.read(topic, p, 0, u64::MAX).await.expect("read");
                peak = peak.max(fds_open());
                let bytes = read.read_to_vec().await.expect("bytes");
                let expected: Vec<u8> = (0..ROUNDS)
                    .flat_map(|r| stamped(&batch(0, &[value(t, p, r).as_bytes()]), r as i64))
                    .collect();
                assert_eq!(bytes, expected, "{topic}-{p}");
            }
        }
        drop(engine);
        let engine = Engine::open(dir.path(), config.clone())
            .await
            .expect("reopen");
        peak = peak.max(fds_open());
        assert_eq!(
            engine.partitions().len(),
            TOPICS.len() * PARTITIONS as usize
        );
        assert_eq!(engine.file_cache().held(), 0, "recovery keeps no file open");
        for topic in TOPICS {
            for p in 0..PARTITIONS {
                assert_eq!(engine.latest_offset(topic, p).expect("hw"), ROUNDS as i64);
                let b = batch(0, &[b"after reopen"]);
                assert_eq!(
                    engine.append(topic, p, b).await.expect("append"),
                    ROUNDS as i64
                );
                peak = peak.max(fds_open());
            }
        }
    });
    assert!(
        peak <= before + BUDGET + SLACK,
        "{} descriptors at the peak, {before} before: more than the budget of {BUDGET} + {SLACK}",
        peak
    );
}

/// A `ringlog serve` child on 127.0.0.1:0, killed when dropped (also when a test panics). Its
/// stderr is collected (the listen address and WARN lines are read from it).
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

/// How to start a child broker.
struct ServeOptions<'a> {
    io: IoKind,
    dir: &'a Path,
    /// RLIMIT_NOFILE (soft and hard) of the child; `None` keeps the test's.
    nofile: Option<u64>,
    /// Further `serve` flags.
    args: &'a [&'a str],
}

impl Serve {
    fn start(o: &ServeOptions<'_>) -> Serve {
        let io = match o.io {
            IoKind::Uring => "uring",
            IoKind::Epoll => "epoll",
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringlog"));
        cmd.args([
            "serve",
            "--cores",
            "2",
            "--io",
            io,
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(o.dir)
        .args(o.args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(n) = o.nofile {
            let limit = libc::rlimit {
                rlim_cur: n as libc::rlim_t,
                rlim_max: n as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the child (after fork,
            // before exec); `limit` is a plain value copied into the closure.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn ringlog serve");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let started = Instant::now();
        let addr = loop {
            let found = log.lock().unwrap().iter().find_map(|l| {
                let (_, rest) = l.split_once("ringlog serving:")?;
                let (_, at) = rest.split_once(" listen=")?;
                at.split_whitespace().next()?.parse::<SocketAddr>().ok()
            });
            if let Some(addr) = found {
                break addr;
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!(
                    "ringlog serve exited ({status}) before listening:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "ringlog serve did not listen within {START_TIMEOUT:?}:\n{}",
                log.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Serve { child, addr, log }
    }

    fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// The child's log lines so far.
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Descriptors of the child that are partition segment files (not the internal state
    /// logs under `__ringlog_state`, which live in the fd plan's reserve).
    fn segment_fds(&self) -> usize {
        let dir = format!("/proc/{}/fd", self.child.id());
        std::fs::read_dir(dir)
            .expect("child's fd dir")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| {
                let t = target.to_string_lossy();
                let segment =
                    t.ends_with(".log") || t.ends_with(".index") || t.ends_with(".timeindex");
                segment && !t.contains("/__ringlog_state/")
            })
            .count()
    }

    /// Samples the child's descriptor count every millisecond until the returned guard is
    /// dropped, which gives the peak.
    fn sample_fds(&self) -> FdPeak {
        let dir = format!("/proc/{}/fd", self.child.id());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(rd) = std::fs::read_dir(&dir) {
                    peak = peak.max(rd.count());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        });
        FdPeak {
            stop,
            sampler: Some(sampler),
        }
    }

    /// SIGKILL and reap.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running sample of a child's descriptor count ([`Serve::sample_fds`]).
struct FdPeak {
    stop: Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<std::thread::JoinHandle<usize>>,
}

impl FdPeak {
    /// Stops sampling; the most descriptors seen.
    fn peak(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler
            .take()
            .map_or(0, |s| s.join().expect("sampler"))
    }
}

impl Drop for FdPeak {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(LOG_LINES_ON_FAILURE)..];
            eprintln!("ringlog serve's last log lines:\n{}", tail.join("\n"));
        }
    }
}

/// Lines of a child's log shown when its test fails.
const LOG_LINES_ON_FAILURE: usize = 40;

fn create(c: &mut Client, topics: &[(&str, i32)], validate_only: bool) -> Vec<(i16, String)> {
    let v = *versions(ApiKey::CreateTopics).end();
    let specs: Vec<(&str, i32, i16)> = topics.iter().map(|(n, p)| (*n, *p, 1)).collect();
    let req: CreateTopicsRequest = create_topics_request(&specs).with_validate_only(validate_only);
    let resp = c.call(v, &req);
    assert_eq!(resp.topics.len(), topics.len());
    resp.topics
        .iter()
        .map(|t| {
            let message = t.error_message.as_deref().unwrap_or("").to_string();
            (t.error_code, message)
        })
        .collect()
}

/// (name, error code, partition count) of the topics Metadata lists (`None`: all topics).
fn metadata(
    c: &mut Client,
    topics: Option<&[&str]>,
    auto_create: bool,
) -> Vec<(String, i16, usize, uuid::Uuid)> {
    let v = *versions(ApiKey::Metadata).end();
    let req: MetadataRequest = metadata_request(v, topics, auto_create);
    let resp = c.call(v, &req);
    let mut out: Vec<_> = resp
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                t.error_code,
                t.partitions.len(),
                t.topic_id,
            )
        })
        .collect();
    out.sort();
    out
}

/// Produces one batch to each of `partitions` in one request; returns each base offset.
fn produce_all(c: &mut Client, topic: &str, parts: &[(i32, Vec<u8>)]) -> Vec<i64> {
    let v = *versions(ApiKey::Produce).end();
    let req: ProduceRequest = produce_request(topic, -1, parts);
    let resp = c.call(v, &req);
    let mut out: Vec<(i32, i64)> = resp.responses[0]
        .partition_responses
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0, "produce to {topic}-{}: {p:?}", p.index);
            (p.index, p.base_offset)
        })
        .collect();
    out.sort();
    assert_eq!(out.len(), parts.len());
    out.into_iter().map(|(_, o)| o).collect()
}

/// Fetches every partition `0..partitions` from offset 0 in one request: (error, records) each.
fn fetch_all(c: &mut Client, topic: &str, id: uuid::Uuid, partitions: i32) -> Vec<Vec<u8>> {
    // As a consumer does: fetch every partition from where it stands until each reached its
    // high watermark (a response holds at most the broker's budget of files for fetches, so one
    // Fetch of hundreds of partitions brings some of them, the next ones more).
    let v = *versions(ApiKey::Fetch).end();
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); partitions as usize];
    let mut next = vec![0i64; partitions as usize];
    for _round in 0..200 {
        let at: Vec<FetchAt<'_>> = (0..partitions)
            .map(|partition| FetchAt {
                topic,
                topic_id: id,
                partition,
                offset: next[partition as usize],
            })
            .collect();
        let resp = c.call(v, &fetch_request(v, &at, 0, 0));
        assert_eq!(resp.responses[0].partitions.len(), partitions as usize);
        let mut behind = 0;
        for p in &resp.responses[0].partitions {
            assert_eq!(
                p.error_code, 0,
                "fetch {topic}-{}: {p:?}",
                p.partition_index
            );
            let i = p.partition_index as usize;
            let records = p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default();
            let mut at = 0;
            while at < records.len() {
                let h = ringlog::storage::batch::BatchHeader::parse(&records[at..])
                    .expect("fetched batch header");
                next[i] = h.last_offset() + 1;
                at += h.size_bytes() as usize;
            }
            out[i].extend_from_slice(&records);
            if next[i] < p.high_watermark {
                behind += 1;
            }
        }
        if behind == 0 {
            return out;
        }
    }
    panic!("{topic}: partitions still behind after 200 fetches: {next:?}");
}

/// Partition directories (and anything else) at the top of the data directory.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// RLIMIT_NOFILE 512 and 900 partitions: the broker creates them, serves a Produce and a Fetch
/// of every one, holds no more segment files open than its plan gives them, and after a
/// SIGKILL starts again (recovering all 900) and serves them all again. Without the budget the
/// shards ran out of descriptors while creating them and the broker could not restart.
fn a_broker_with_more_partitions_than_descriptors_serves_them_all_and_restarts(io: IoKind) {
    const NOFILE: u64 = 512;
    const TOPICS: [&str; 3] = ["many-a", "many-b", "many-c"];
    const PARTITIONS: i32 = 300;
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ServeOptions {
        io,
        dir: dir.path(),
        nofile: Some(NOFILE),
        // Acknowledged once written: the test is about descriptors, and 1,800 fdatasyncs would
        // make it slow (a SIGKILL loses nothing written to the page cache).
        args: &["--flush", "never"],
    };
    // The plan for 512 descriptors: 128 reserved, segment files a quarter of the rest (96, 48
    // per shard), the rest for connections.
    const SEGMENT_FILES: usize = 96;
    let value = |t: &str, p: i32, round: u8| format!("{t}-{p} round {round}");
    let broker = Serve::start(&opts);
    let sampling = broker.sample_fds();
    let mut c = broker.connect();
    let specs: Vec<(&str, i32)> = TOPICS.iter().map(|t| (*t, PARTITIONS)).collect();
    for (code, message) in create(&mut c, &specs, false) {
        assert_eq!(code, 0, "create: {message}");
    }
    let ids: Vec<uuid::Uuid> = metadata(&mut c, Some(&TOPICS[..]), false)
        .into_iter()
        .map(|(name, code, partitions, id)| {
            assert_eq!((code, partitions), (0, PARTITIONS as usize), "{name}");
            id
        })
        .collect();
    let round = |c: &mut Client, round: u8| {
        for t in TOPICS {
            let parts: Vec<(i32, Vec<u8>)> = (0..PARTITIONS)
                .map(|p| (p, batch(0, &[value(t, p, round).as_bytes()])))
                .collect();
            let offsets = produce_all(c, t, &parts);
            assert!(
                offsets.iter().all(|&o| o == i64::from(round)),
                "{t}: {offsets:?}"
            );
        }
    };
    let check = |c: &mut Client, rounds: u8| {
        for (t, id) in TOPICS.iter().zip(&ids) {
            for (p, records) in fetch_all(c, t, *id, PARTITIONS).into_iter().enumerate() {
                let expected: Vec<u8> = (0..rounds)
                    .flat_map(|r| {
                        let b = batch(0, &[value(t, p as i32, r).as_bytes()]);
                        stamped(&b, i64::from(r))
                    })
                    .collect();
                assert_eq!(records, expected, "{t}-{p}");
            }
        }
    };
    round(&mut c, 0);
    check(&mut c, 1);
    let held = broker.segment_fds();
    assert!(held <= SEGMENT_FILES, "{held} segment files open");
    let peak = sampling.peak();
    eprintln!(
        "{PARTITIONS} x {} partitions, RLIMIT_NOFILE {NOFILE}: peak {peak} fds",
        TOPICS.len()
    );
    assert!(peak < NOFILE as usize);
    drop(c);
    broker.kill();

    let started = Instant::now();
    let broker = Serve::start(&opts);
    let sampling = broker.sample_fds();
    let mut c = broker.connect();
    assert_eq!(
        metadata(&mut c, None, false)
            .iter()
            .map(|(name, code, partitions, _)| (name.as_str(), *code, *partitions))
            .collect::<Vec<_>>(),
        TOPICS
            .iter()
            .map(|t| (*t, 0, PARTITIONS as usize))
            .collect::<Vec<_>>()
    );
    check(&mut c, 1);
    // Every shard has opened its partitions once a fetch of all of them is answered.
    eprintln!(
        "restart with {} partitions, until all are served: {:?}",
        TOPICS.len() * PARTITIONS as usize,
        started.elapsed()
    );
    round(&mut c, 1);
    check(&mut c, 2);
    let held = broker.segment_fds();
    assert!(
        held <= SEGMENT_FILES,
        "{held} segment files open after the restart"
    );
    let peak = sampling.peak();
    eprintln!("after the restart: peak {peak} fds");
    assert!(
        !broker
            .log()
            .iter()
            .any(|l| l.contains("Too many open files")),
        "{:#?}",
        broker.log()
    );
}

/// `--max-partitions 10`: a creation that would pass it is refused with POLICY_VIOLATION and a
/// message before anything is made (also with validate_only, and through Metadata's
/// auto-creation); a partition count out of range is still INVALID_PARTITIONS; what fits is
/// created.
fn max_partitions_is_refused_with_policy_violation_before_anything_is_created(io: IoKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Serve::start(&ServeOptions {
        io,
        dir: dir.path(),
        nofile: None,
        args: &["--max-partitions", "10", "--default-partitions", "5"],
    });
    let mut c = broker.connect();
    assert_eq!(create(&mut c, &[("fits", 6)], false)[0].0, 0);
    let before = metadata(&mut c, None, false);
    for validate_only in [true, false] {
        let (code, message) = create(&mut c, &[("over", 5)], validate_only).remove(0);
        assert_eq!(code, POLICY_VIOLATION, "validate_only={validate_only}");
        assert!(
            message.contains("max.partitions") && message.contains("11"),
            "{message}"
        );
    }
    assert_eq!(create(&mut c, &[("just", 4)], true)[0].0, 0, "fits exactly");
    assert_eq!(
        create(&mut c, &[("zero", 0)], false)[0].0,
        INVALID_PARTITIONS
    );
    assert_eq!(
        create(&mut c, &[("huge", 10_001)], false)[0].0,
        INVALID_PARTITIONS
    );
    // One request: the first topic fits, the second would pass the limit.
    let both = create(&mut c, &[("two", 2), ("three", 3)], false);
    assert_eq!((both[0].0, both[1].0), (0, POLICY_VIOLATION), "{both:?}");
    // Auto-creation (5 partitions by default) is refused the same way.
    let auto = metadata(&mut c, Some(&["auto"][..]), true);
    assert_eq!(auto[0].1, POLICY_VIOLATION, "{auto:?}");

    let mut after = metadata(&mut c, None, false);
    after.retain(|(name, ..)| name != "two");
    assert_eq!(after, before, "nothing else was created");
    let on_disk = entries(dir.path());
    for name in ["over", "just", "zero", "huge", "three", "auto"] {
        assert!(
            !on_disk.iter().any(|e| e.starts_with(&format!("{name}-"))),
            "{name}: {on_disk:?}"
        );
    }
    let catalog = std::fs::read_to_string(dir.path().join("topics.catalog")).expect("catalog");
    assert_eq!(catalog.lines().count(), 2, "{catalog}");
}

/// A file in the way of one partition's directory: the creation fails with an error, and no
/// directory of the topic, no catalog entry and no Metadata entry remains. Once the file is
/// gone the same creation works.
fn a_creation_that_fails_midway_leaves_nothing_behind(io: IoKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Serve::start(&ServeOptions {
        io,
        dir: dir.path(),
        nofile: None,
        args: &[],
    });
    let mut c = broker.connect();
    let blocker = dir.path().join("midway-7");
    std::fs::write(&blocker, b"in the way").expect("write");
    let (code, message) = create(&mut c, &[("midway", 10)], false).remove(0);
    assert_ne!(code, 0, "created with a file in the way");
    assert!(!message.is_empty());
    assert_eq!(
        entries(dir.path())
            .into_iter()
            .filter(|e| e.starts_with("midway"))
            .collect::<Vec<_>>(),
        vec!["midway-7".to_string()],
        "only the blocking file is left"
    );
    let catalog = std::fs::read_to_string(dir.path().join("topics.catalog")).unwrap_or_default();
    assert!(!catalog.contains("midway"), "{catalog}");
    assert_eq!(
        metadata(&mut c, Some(&["midway"][..]), false)[0].1,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    std::fs::remove_file(&blocker).expect("rm");
    assert_eq!(create(&mut c, &[("midway", 10)], false)[0].0, 0);
    let md = metadata(&mut c, Some(&["midway"][..]), false);
    assert_eq!((md[0].1, md[0].2), (0, 10));
    let b = batch(0, &[b"through partition 7"]);
    assert_eq!(produce_all(&mut c, "midway", &[(7, b.clone())]), vec![0]);
    let records = fetch_all(&mut c, "midway", md[0].3, 10);
    assert_eq!(records[7], stamped(&b, 0));
}

/// Partition directories the catalog does not name (a topic's directory whose creation never
/// committed, a partition beyond the topic's count) are moved into `orphaned/` at start with a
/// WARN line, and never served: a topic created later under that name starts empty.
fn orphan_partition_directories_are_moved_aside_at_start(io: IoKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ServeOptions {
        io,
        dir: dir.path(),
        nofile: None,
        args: &[],
    };
    let broker = Serve::start(&opts);
    let mut c = broker.connect();
    assert_eq!(create(&mut c, &[("kept", 2)], false)[0].0, 0);
    let b = batch(0, &[b"kept data"]);
    assert_eq!(produce_all(&mut c, "kept", &[(0, b.clone())]), vec![0]);
    drop(c);
    broker.kill();
    // Strays: a copy of a real partition under a name the catalog does not know, and a
    // partition beyond `kept`'s two.
    let copy = |to: &str| {
        let to = dir.path().join(to);
        std::fs::create_dir(&to).expect("mkdir");
        for e in std::fs::read_dir(dir.path().join("kept-0")).expect("readdir") {
            let e = e.expect("entry");
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    };
    copy("ghost-0");
    copy("kept-5");

    let broker = Serve::start(&opts);
    let mut c = broker.connect();
    let on_disk = entries(dir.path());
    assert!(
        !on_disk.contains(&"ghost-0".to_string()) && !on_disk.contains(&"kept-5".to_string()),
        "{on_disk:?}"
    );
    let aside: PathBuf = dir.path().join("orphaned");
    assert_eq!(entries(&aside), vec!["ghost-0", "kept-5"]);
    assert!(aside.join("ghost-0/00000000000000000000.log").exists());
    let log = broker.log();
    for name in ["ghost-0", "kept-5"] {
        assert!(
            log.iter()
                .any(|l| l.contains("WARN") && l.contains(name) && l.contains("orphaned")),
            "no WARN line names {name}: {log:#?}"
        );
    }
    assert_eq!(
        metadata(&mut c, Some(&["ghost"][..]), false)[0].1,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let kept = metadata(&mut c, None, false);
    assert_eq!(kept.len(), 1);
    assert_eq!(fetch_all(&mut c, "kept", kept[0].3, 2)[0], stamped(&b, 0));
    // A new topic of the orphan's name starts empty: the old directory is not served.
    assert_eq!(create(&mut c, &[("ghost", 1)], false)[0].0, 0);
    let ghost = metadata(&mut c, Some(&["ghost"][..]), false);
    assert_eq!(
        fetch_all(&mut c, "ghost", ghost[0].3, 1)[0],
        Vec::<u8>::new()
    );
}
