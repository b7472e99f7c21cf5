//! The abuse suite: a `ringlog serve` child under a low open-files limit, attacked the way an
//! attacker or an unlucky operator would, while an idempotent acks=all producer writes a ledger of
//! sequence numbers; SIGKILLed three times along the way. At the end every acknowledged ledger
//! record must be there exactly once, and each attack must have been answered as Kafka would (or
//! refused with a bound). Prints one line per attack with its figures; exits 1 if any failed.
//!
//! Run it with `scripts/abuse.sh` (builds the release binary and this example), or:
//! `cargo run --release --example abuse -- target/release/ringlog` (add `--legacy` to attack a
//! broker binary from before the limits existed, for before/after figures). Loopback only; about two
//! minutes; the broker and every connection stop by themselves.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringlog::protocol::messages::*;
use ringlog::protocol::{decode_response, encode_request, ApiRequest};
use ringlog::storage::batch::testing::{
    build_batch, build_batch_with, fix_crc, BatchSpec, TestRecord,
};
use ringlog::storage::batch::{BatchHeader, ATTRIBUTES_AT, ATTR_CONTROL, HEADER_BYTES};

/// RLIMIT_NOFILE of the broker child: low, so that partitions outnumber descriptors.
const BROKER_NOFILE: u64 = 1024;
/// The broker's request-memory budget (`--queued-max-request-bytes`).
const QUEUED_BYTES: u64 = 256 << 20;
/// Slack over the budget allowed in RSS: code, page tables, allocator slack, per-connection
/// buffers, the mmap'd files of `--transfer mmap`.
const RSS_SLACK_BYTES: u64 = 160 << 20;
/// Frame-read timeout given to the broker (slowloris bound).
const FRAME_TIMEOUT_MS: u64 = 3_000;
/// Idle timeout given to the broker.
const IDLE_MS: u64 = 6_000;
/// Every socket wait in this program.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// A blocking Kafka connection (ringlog's own codec).

struct Conn {
    s: TcpStream,
    correlation_id: i32,
}

impl Conn {
    fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            s,
            correlation_id: 0,
        })
    }

    fn call<R: ApiRequest>(&mut self, version: i16, req: &R) -> io::Result<R::Response> {
        self.correlation_id += 1;
        let mut out = BytesMut::new();
        encode_request(req, version, self.correlation_id, Some("abuse"), &mut out)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.s.write_all(&out)?;
        let mut size = [0u8; 4];
        self.s.read_exact(&mut size)?;
        let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
        self.s.read_exact(&mut body)?;
        let (id, resp) = decode_response::<R>(Bytes::from(body), version)
            .map_err(|e| io::Error::other(e.to_string()))?;
        if id != self.correlation_id {
            return Err(io::Error::other("correlation id mismatch"));
        }
        Ok(resp)
    }

    /// True once the broker has closed the connection (reads EOF or a reset) within `wait`.
    fn closed_within(&mut self, wait: Duration) -> bool {
        let _ = self.s.set_read_timeout(Some(wait));
        let mut b = [0u8; 64];
        match self.s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }
}

fn create(c: &mut Conn, name: &str, partitions: i32) -> io::Result<(i16, Option<String>)> {
    let req = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    let r = c.call(7, &req)?;
    let t = &r.topics[0];
    Ok((
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    ))
}

fn delete(c: &mut Conn, name: &str) -> io::Result<i16> {
    let req = DeleteTopicsRequest {
        topic_names: vec![name.into()],
        timeout_ms: 30_000,
        ..Default::default()
    };
    Ok(c.call(5, &req)?.responses[0].error_code)
}

fn topics(c: &mut Conn) -> io::Result<Vec<(String, usize)>> {
    let req = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let r = c.call(12, &req)?;
    Ok(r.topics
        .iter()
        .filter_map(|t| Some((t.name.as_ref()?.to_string(), t.partitions.len())))
        .collect())
}

/// Produce one record set to `topic`-`partition`; (error code, base offset).
fn produce(
    c: &mut Conn,
    topic: &str,
    partition: i32,
    records: Vec<u8>,
    acks: i16,
) -> io::Result<(i16, i64)> {
    let req = ProduceRequest {
        acks,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(Bytes::from(records)),
            }],
        }],
        ..Default::default()
    };
    let r = c.call(9, &req)?;
    let p = &r.responses[0].partition_responses[0];
    Ok((p.error_code, p.base_offset))
}

fn fetch_request(topic: &str, partitions: &[(i32, i64)], max_bytes: i32) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: partitions
                .iter()
                .map(|&(partition, fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes: max_bytes,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// (error, high watermark, record bytes) of one partition from `offset`.
fn fetch(c: &mut Conn, topic: &str, partition: i32, offset: i64) -> io::Result<(i16, i64, Bytes)> {
    let r = c.call(12, &fetch_request(topic, &[(partition, offset)], 8 << 20))?;
    let p = &r.responses[0].partitions[0];
    Ok((
        p.error_code,
        p.high_watermark,
        p.records.clone().unwrap_or_default(),
    ))
}

/// Record values of a fetched record set.
fn values(mut bytes: Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    while bytes.len() >= HEADER_BYTES {
        let Ok(h) = BatchHeader::parse(&bytes) else {
            break;
        };
        let size = h.size_bytes() as usize;
        if size > bytes.len() {
            break;
        }
        let one = bytes.split_to(size);
        // A batch no consumer can decode ends the read (what a poisoned partition does to
        // clients).
        let Ok(recs) = ringlog::storage::records::decode_batch_records(&one, &h, 64 << 20) else {
            break;
        };
        out.extend(recs.into_iter().filter_map(|r| r.value));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The broker child.

struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
    /// A broker from before these limits existed (for before/after figures): none of the limit
    /// flags are passed.
    legacy: bool,
}

impl Broker {
    fn start(&mut self) {
        if let Err(e) = self.try_start() {
            panic!("{e}");
        }
    }

    fn try_start(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("broker log");
        let mut args = vec![
            "serve".to_string(),
            "--cores".into(),
            "2".into(),
            "--listen".into(),
            self.addr.to_string(),
            "--data-dir".into(),
            self.dir.display().to_string(),
        ];
        if !self.legacy {
            args.extend([
                "--queued-max-request-bytes".into(),
                QUEUED_BYTES.to_string(),
                "--frame-read-timeout-ms".into(),
                FRAME_TIMEOUT_MS.to_string(),
                "--connections-max-idle-ms".into(),
                IDLE_MS.to_string(),
            ]);
        }
        args.extend(self.extra.iter().cloned());
        let child = Command::new("bash")
            .arg("-c")
            .arg(format!("ulimit -n {BROKER_NOFILE} && exec \"$0\" \"$@\""))
            .arg(&self.bin)
            .args(&args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ringlog serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = Conn::connect(self.addr)
                .and_then(|mut c| c.call(3, &ApiVersionsRequest::default()))
                .is_ok();
            if up {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let last = log.lines().last().unwrap_or("").to_string();
                return Err(format!("broker exited at start ({status}): {last}"));
            }
            if Instant::now() > deadline {
                return Err("broker did not come up in 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Resident set size and its peak (VmHWM), bytes.
    fn rss(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.sigkill();
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger: an idempotent acks=all producer of consecutive numbers, retrying through kills.

const LEDGER: &str = "ledger";
/// Records per ledger batch.
const LEDGER_BATCH: i32 = 10;

struct Ledger {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicI64>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

fn ledger_start(addr: SocketAddr) -> Ledger {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let (s, a) = (stop.clone(), acked.clone());
    let thread = std::thread::spawn(move || -> io::Result<()> {
        let mut c = Conn::connect(addr)?;
        let r = c.call(
            4,
            &InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 60_000,
                ..Default::default()
            },
        )?;
        assert_eq!(r.error_code, 0, "InitProducerId");
        let (pid, epoch) = (r.producer_id, r.producer_epoch);
        let mut seq: i32 = 0;
        while !s.load(Ordering::Relaxed) {
            let records = (seq..seq + LEDGER_BATCH)
                .map(|n| TestRecord {
                    value: Some(n.to_be_bytes().to_vec()),
                    ..Default::default()
                })
                .collect();
            let batch = build_batch_with(&BatchSpec {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                records,
                ..Default::default()
            });
            // Retry the same batch (same sequence) until it is acknowledged: through kills and
            // restarts, the broker's idempotence must keep it from being written twice.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match produce(&mut c, LEDGER, 0, batch.clone(), -1) {
                    Ok((0, _)) => break,
                    Ok((code, _)) if code == 45 || code == 46 => {
                        return Err(io::Error::other(format!("ledger: sequence error {code}")))
                    }
                    Ok(_) | Err(_) => {
                        if Instant::now() > deadline {
                            return Err(io::Error::other("ledger: no progress for 60 s"));
                        }
                        std::thread::sleep(Duration::from_millis(100));
                        if let Ok(n) = Conn::connect(addr) {
                            c = n;
                        }
                    }
                }
            }
            seq += LEDGER_BATCH;
            a.store(i64::from(seq), Ordering::Release);
        }
        Ok(())
    });
    Ledger {
        stop,
        acked,
        thread,
    }
}

// ---------------------------------------------------------------------------------------------
// The attacks.

struct Row {
    attack: &'static str,
    figures: String,
    ok: bool,
}

/// Poison batches: each refused, the partition's end unchanged, good records still flow.
fn poison(addr: SocketAddr) -> io::Result<Row> {
    let mut c = Conn::connect(addr)?;
    create(&mut c, "poison", 1)?;
    let good = build_batch(1_000, &[b"a", b"b", b"c"]);
    let records_at = HEADER_BYTES;
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut b = good.clone();
    for x in &mut b[records_at..] {
        *x = 0xFF;
    }
    fix_crc(&mut b);
    cases.push(("garbage records", b));
    let mut b = good.clone();
    let attrs = i16::from_be_bytes([b[ATTRIBUTES_AT], b[ATTRIBUTES_AT + 1]]) | 7;
    b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attrs.to_be_bytes());
    fix_crc(&mut b);
    cases.push(("unknown codec 7", b));
    let mut b = good.clone();
    let attrs = i16::from_be_bytes([b[ATTRIBUTES_AT], b[ATTRIBUTES_AT + 1]]) | 1;
    b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attrs.to_be_bytes());
    fix_crc(&mut b);
    cases.push(("gzip flag on plain bytes", b));
    let mut b = good.clone();
    let attrs = i16::from_be_bytes([b[ATTRIBUTES_AT], b[ATTRIBUTES_AT + 1]]) | ATTR_CONTROL;
    b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attrs.to_be_bytes());
    fix_crc(&mut b);
    cases.push(("control bit from a client", b));
    let mut b = good.clone();
    let n = HEADER_BYTES - 4;
    let count = i32::from_be_bytes(b[n..n + 4].try_into().unwrap()) + 1;
    b[n..n + 4].copy_from_slice(&count.to_be_bytes());
    fix_crc(&mut b);
    cases.push(("record count off by one", b));
    // Second record's offset delta (1 byte varint after length, attributes, timestamp delta).
    let mut b = good.clone();
    let second = records_at + 1 + b[records_at] as usize / 2;
    b[second + 3] = 14; // zigzag(7): beyond lastOffsetDelta = 2
    fix_crc(&mut b);
    cases.push(("offset delta 7 of 2", b));
    let mut refused = 0;
    let mut codes = Vec::new();
    for (what, bytes) in &cases {
        let (code, _) = produce(&mut c, "poison", 0, bytes.clone(), -1)?;
        codes.push(format!("{what}={code}"));
        if code != 0 {
            refused += 1;
        }
    }
    let (code, base) = produce(&mut c, "poison", 0, good, -1)?;
    let (_, hw, bytes) = fetch(&mut c, "poison", 0, 0)?;
    let read = values(bytes);
    let ok = refused == cases.len() && code == 0 && base == 0 && hw == 3 && read.len() == 3;
    Ok(Row {
        attack: "poison batches",
        figures: format!(
            "{refused}/{} refused ({}); then good batch at offset {base}, hw {hw}, {} records read",
            cases.len(),
            codes.join(" "),
            read.len()
        ),
        ok,
    })
}

/// More partitions than file descriptors; an oversized CreateTopics refused up front.
fn partitions(broker: &Broker, topics_n: usize, per_topic: i32) -> io::Result<Row> {
    let mut c = Conn::connect(broker.addr)?;
    let (huge_code, huge_msg) = create(&mut c, "huge", 10_000)?;
    let huge_listed = topics(&mut c)?.iter().any(|(n, _)| n == "huge");
    let dirs_before = std::fs::read_dir(&broker.dir)?.count();
    let started = Instant::now();
    let mut failed = 0;
    for t in 0..topics_n {
        if create(&mut c, &format!("p{t}"), per_topic)?.0 != 0 {
            failed += 1;
        }
    }
    let create_s = started.elapsed().as_secs_f64();
    let mut produce_failed = 0;
    for t in 0..topics_n {
        for p in 0..per_topic {
            let value = format!("p{t}-{p}");
            if produce(
                &mut c,
                &format!("p{t}"),
                p,
                build_batch(1_000, &[value.as_bytes()]),
                1,
            )?
            .0 != 0
            {
                produce_failed += 1;
            }
        }
    }
    let fds = broker.fds();
    let read_ok = read_every_partition(&mut c, topics_n, per_topic)?;
    let total = topics_n * per_topic as usize;
    Ok(Row {
        attack: "partitions > fds",
        figures: format!(
            "10,000-partition CreateTopics: code {huge_code} ({}), listed: {huge_listed}, \
             dirs {dirs_before}; {total} partitions created in {create_s:.1} s ({failed} failed), \
             {produce_failed} produce failures, every partition read: {read_ok}, broker fds {fds} \
             (limit {BROKER_NOFILE})",
            huge_msg.unwrap_or_default()
        ),
        ok: huge_code == 44
            && !huge_listed
            && failed == 0
            && produce_failed == 0
            && read_ok
            && (fds as u64) < BROKER_NOFILE,
    })
}

fn read_every_partition(c: &mut Conn, topics_n: usize, per_topic: i32) -> io::Result<bool> {
    for t in 0..topics_n {
        for p in 0..per_topic {
            let (err, _, bytes) = fetch(c, &format!("p{t}"), p, 0)?;
            let want = format!("p{t}-{p}");
            if err != 0 || values(bytes).first().map(|v| &v[..]) != Some(want.as_bytes()) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// 30 clients creating and deleting at once.
fn concurrent_topics(broker: &Broker) -> io::Result<Row> {
    let addr = broker.addr;
    let threads: Vec<_> = (0..30)
        .map(|i| {
            std::thread::spawn(move || -> io::Result<(i16, i16)> {
                let mut c = Conn::connect(addr)?;
                let name = format!("race{i}");
                let created = create(&mut c, &name, 2)?.0;
                let kept = i % 2 == 0;
                let deleted = if kept { 0 } else { delete(&mut c, &name)? };
                Ok((created, deleted))
            })
        })
        .collect();
    let mut errors = 0;
    for t in threads {
        let (a, b) = t.join().expect("client thread")?;
        errors += usize::from(a != 0) + usize::from(b != 0);
    }
    let mut c = Conn::connect(addr)?;
    let listed: BTreeSet<String> = topics(&mut c)?
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("race"))
        .collect();
    let want: BTreeSet<String> = (0..30).step_by(2).map(|i| format!("race{i}")).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&broker.dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("race") && !n.ends_with(".deleting"))
        .filter_map(|n| Some(n.rsplit_once('-')?.0.to_string()))
        .collect();
    Ok(Row {
        attack: "30 concurrent create/delete",
        figures: format!(
            "{errors} errors; listed {} of {} kept topics; disk agrees: {}",
            listed.len(),
            want.len(),
            on_disk == want
        ),
        ok: errors == 0 && listed == want && on_disk == want,
    })
}

/// Thousands of connections: the broker stops at its limit, logs a bounded number of lines, and
/// serves again when they go.
fn connection_flood(broker: &Broker, n: usize) -> io::Result<Row> {
    let lines_before = broker.log_lines();
    let started = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..n {
        match TcpStream::connect_timeout(&broker.addr, Duration::from_millis(200)) {
            Ok(s) => conns.push(s),
            Err(_) => break,
        }
    }
    let opened = conns.len();
    std::thread::sleep(Duration::from_secs(2));
    let fds = broker.fds();
    let secs = started.elapsed().as_secs_f64();
    let lines = broker.log_lines().saturating_sub(lines_before);
    drop(conns);
    std::thread::sleep(Duration::from_millis(500));
    let served = Conn::connect(broker.addr)
        .and_then(|mut c| c.call(3, &ApiVersionsRequest::default()))
        .is_ok();
    Ok(Row {
        attack: "connection flood",
        figures: format!(
            "{opened} connects in {secs:.1} s; broker fds {fds} (limit {BROKER_NOFILE}); \
             {lines} log lines ({:.1}/s); served after: {served}",
            lines as f64 / secs
        ),
        ok: (fds as u64) < BROKER_NOFILE && served && (lines as f64 / secs) < 5.0,
    })
}

/// Slowloris and idle connections are closed at their deadlines.
fn slow_and_idle(broker: &Broker) -> io::Result<Row> {
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut c = Conn::connect(broker.addr)?;
        c.s.write_all(&100i32.to_be_bytes())?;
        c.s.write_all(&[0])?;
        slow.push(c);
    }
    let mut idle = Conn::connect(broker.addr)?;
    let started = Instant::now();
    // Drip one byte per second into half of them.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_secs(1));
        for c in slow.iter_mut().step_by(2) {
            let _ = c.s.write_all(&[0]);
        }
    }
    let closed = slow
        .iter_mut()
        .map(|c| c.closed_within(Duration::from_millis(FRAME_TIMEOUT_MS + 2_000)))
        .filter(|&closed| closed)
        .count();
    let slow_s = started.elapsed().as_secs_f64();
    let idle_closed = idle.closed_within(Duration::from_millis(IDLE_MS + 3_000));
    let idle_s = started.elapsed().as_secs_f64();
    Ok(Row {
        attack: "slowloris + idle",
        figures: format!(
            "{closed}/20 slow frames closed by {slow_s:.1} s (timeout {:.1} s); idle closed: \
             {idle_closed} at {idle_s:.1} s (timeout {:.1} s)",
            FRAME_TIMEOUT_MS as f64 / 1000.0,
            IDLE_MS as f64 / 1000.0
        ),
        ok: closed == 20 && idle_closed,
    })
}

/// 10 connections each send 96 MiB of an announced 100 MiB frame: the broker's RSS stays within
/// its request budget, and other clients are served meanwhile.
fn big_frames(broker: &Broker) -> io::Result<Row> {
    const ANNOUNCED: i32 = 100 << 20;
    const SENT: usize = 96 << 20;
    let rss_before = broker.rss().0;
    let addr = broker.addr;
    let senders: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || -> usize {
                let Ok(mut s) = TcpStream::connect(addr) else {
                    return 0;
                };
                let _ = s.set_write_timeout(Some(Duration::from_secs(6)));
                let _ = s.write_all(&ANNOUNCED.to_be_bytes());
                let chunk = vec![0u8; 1 << 20];
                let mut sent = 0;
                while sent < SENT {
                    match s.write(&chunk) {
                        Ok(n) => sent += n,
                        Err(_) => break,
                    }
                }
                // Hold the connection (and whatever the broker holds for it) a moment.
                std::thread::sleep(Duration::from_secs(1));
                sent
            })
        })
        .collect();
    let mut peak = 0;
    let mut served = true;
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        peak = peak.max(broker.rss().0);
        served &= Conn::connect(addr)
            .and_then(|mut c| c.call(3, &ApiVersionsRequest::default()))
            .is_ok();
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent: usize = senders.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    let growth = peak.saturating_sub(rss_before);
    Ok(Row {
        attack: "10 x 96 MiB partial frames",
        figures: format!(
            "{} MiB sent; broker RSS {} -> peak {} MiB (+{} MiB; budget {} MiB + slack {} MiB); \
             other clients served: {served}",
            sent >> 20,
            rss_before >> 20,
            peak >> 20,
            growth >> 20,
            QUEUED_BYTES >> 20,
            RSS_SLACK_BYTES >> 20
        ),
        ok: growth <= QUEUED_BYTES + RSS_SLACK_BYTES && served,
    })
}

/// One Fetch naming one partition 2,200 times: read once.
fn duplicate_fetch(broker: &Broker) -> io::Result<Row> {
    let mut c = Conn::connect(broker.addr)?;
    create(&mut c, "dup", 1)?;
    let value = vec![1u8; 900 << 10];
    produce(&mut c, "dup", 0, build_batch(1_000, &[&value]), 1)?;
    let parts: Vec<(i32, i64)> = (0..2_200).map(|_| (0, 0)).collect();
    let r = c.call(12, &fetch_request("dup", &parts, i32::MAX))?;
    let bytes: usize = r
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    Ok(Row {
        attack: "fetch naming a partition 2,200 times",
        figures: format!("response record bytes {} KiB", bytes >> 10),
        ok: bytes < (2 << 20),
    })
}

/// Three fetches with max_bytes 2^31-1 that are never read, over `--transfer copy`.
fn slow_copy_fetches(broker: &Broker) -> io::Result<Row> {
    let mut c = Conn::connect(broker.addr)?;
    create(&mut c, "bulk", 1)?;
    // Under the default message.max.bytes (1 MiB + 12 bytes) with the batch overhead.
    let value = vec![2u8; 1000 << 10];
    let mut produced = 0;
    for _ in 0..200 {
        if produce(&mut c, "bulk", 0, build_batch(1_000, &[&value]), 1)?.0 == 0 {
            produced += 1;
        }
    }
    let rss_before = broker.rss().0;
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut r = Conn::connect(broker.addr)?;
        r.s.set_nonblocking(false)?;
        let mut out = BytesMut::new();
        encode_request(
            &fetch_request("bulk", &[(0, 0)], i32::MAX),
            12,
            1,
            Some("slow"),
            &mut out,
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
        r.s.write_all(&out)?;
        readers.push(r);
    }
    let mut peak = 0;
    for _ in 0..20 {
        peak = peak.max(broker.rss().0);
        std::thread::sleep(Duration::from_millis(100));
    }
    let growth = peak.saturating_sub(rss_before);
    // The responses the readers never read: their announced sizes.
    let mut sizes = Vec::new();
    for r in &mut readers {
        let mut size = [0u8; 4];
        sizes.push(match r.s.read_exact(&mut size) {
            Ok(()) => i32::from_be_bytes(size) >> 20,
            Err(_) => -1,
        });
    }
    drop(readers);
    Ok(Row {
        attack: "3 unread copy fetches, max_bytes 2^31-1",
        figures: format!(
            "{produced} x 1000 KiB in the partition; responses of {sizes:?} MiB; broker RSS {} -> peak \
             {} MiB (+{} MiB)",
            rss_before >> 20,
            peak >> 20,
            growth >> 20
        ),
        // fetch.max.bytes (55 MiB by default) caps each response.
        ok: produced == 200
            && sizes.iter().all(|&mib| (0..=56).contains(&mib))
            && growth <= QUEUED_BYTES + RSS_SLACK_BYTES,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let legacy = args.iter().any(|a| a == "--legacy");
    let bin = PathBuf::from(
        args.iter()
            .find(|a| !a.starts_with("--"))
            .cloned()
            .unwrap_or_else(|| "target/release/ringlog".into()),
    );
    assert!(bin.exists(), "no broker binary at {}", bin.display());
    // This process opens thousands of sockets in the flood.
    let _ = ringlog::runtime::limits::raise_nofile_to_hard();
    let work = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut broker = Broker {
        bin,
        dir: work.path().join("data"),
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        log: work.path().join("broker.log"),
        child: None,
        extra: Vec::new(),
        legacy,
    };
    broker.start();
    let mut rows = Vec::new();
    let mut c = Conn::connect(broker.addr).expect("connect");
    create(&mut c, LEDGER, 1).expect("ledger topic");
    let ledger = ledger_start(broker.addr);
    let step = |name: &str, r: io::Result<Row>, rows: &mut Vec<Row>| {
        let row = r.unwrap_or_else(|e| Row {
            attack: "(error)",
            figures: format!("{name}: {e}"),
            ok: false,
        });
        println!(
            "{} {:<40} {}",
            if row.ok { "PASS" } else { "FAIL" },
            row.attack,
            row.figures
        );
        rows.push(row);
    };
    step("poison", poison(broker.addr), &mut rows);
    step("partitions", partitions(&broker, 250, 4), &mut rows);
    step("concurrent", concurrent_topics(&broker), &mut rows);
    broker.sigkill();
    let restart = match broker.try_start() {
        Ok(()) => {
            let read_ok = {
                let mut c = Conn::connect(broker.addr).expect("connect");
                read_every_partition(&mut c, 250, 4).unwrap_or(false)
            };
            Row {
                attack: "SIGKILL 1 + restart with 1,000 partitions",
                figures: format!("every partition read back: {read_ok}; fds {}", broker.fds()),
                ok: read_ok,
            }
        }
        Err(e) => {
            // Go on with the other attacks on a fresh data directory.
            broker.dir = work.path().join("data-2");
            broker.start();
            Row {
                attack: "SIGKILL 1 + restart with 1,000 partitions",
                figures: format!("no restart: {e}"),
                ok: false,
            }
        }
    };
    step("restart", Ok(restart), &mut rows);
    step("flood", connection_flood(&broker, 3_000), &mut rows);
    step("slow", slow_and_idle(&broker), &mut rows);
    step("frames", big_frames(&broker), &mut rows);
    step("dup", duplicate_fetch(&broker), &mut rows);
    broker.sigkill();
    broker.extra = vec!["--transfer".into(), "copy".into()];
    broker.start();
    step("copy", slow_copy_fetches(&broker), &mut rows);
    broker.sigkill();
    broker.extra.clear();
    broker.start();

    // Let the ledger make progress after the last restart, then stop it and check it.
    let at_kill = ledger.acked.load(Ordering::Acquire);
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger.acked.load(Ordering::Acquire) < at_kill + 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    ledger.stop.store(true, Ordering::Relaxed);
    let ledger_result = ledger.thread.join().expect("ledger thread");
    let acked = ledger.acked.load(Ordering::Acquire);
    let mut c = Conn::connect(broker.addr).expect("connect");
    let mut got: Vec<i32> = Vec::new();
    loop {
        let Ok((0, hw, bytes)) = fetch(&mut c, LEDGER, 0, got.len() as i64) else {
            break;
        };
        let vals = values(bytes);
        if vals.is_empty() || got.len() as i64 >= hw {
            break;
        }
        got.extend(
            vals.iter()
                .map(|v| i32::from_be_bytes(v[..4].try_into().unwrap())),
        );
    }
    let in_order = got.iter().enumerate().all(|(i, &n)| n == i as i32);
    let ledger_ok = ledger_result.is_ok() && in_order && got.len() as i64 >= acked;
    step(
        "ledger",
        Ok(Row {
            attack: "ledger (idempotent acks=all, 3 SIGKILLs)",
            figures: format!(
                "{acked} acknowledged, {} read, each once and in order: {in_order}{}",
                got.len(),
                ledger_result
                    .err()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
            ok: ledger_ok,
        }),
        &mut rows,
    );
    let alive = broker.alive();
    step(
        "alive",
        Ok(Row {
            attack: "broker alive at the end",
            figures: format!("{alive}; log {}", broker.log.display()),
            ok: alive,
        }),
        &mut rows,
    );
    let failed = rows.iter().filter(|r| !r.ok).count();
    println!("{} of {} checks passed", rows.len() - failed, rows.len());
    if failed > 0 {
        // Keep the data and log for a look.
        let kept = work.keep();
        eprintln!("data and broker log kept in {}", kept.display());
        std::process::exit(1);
    }
}
