//! Connection and memory limits under abuse (issue #13, holes 4 and 5): idle connections and
//! slowloris frames are closed at their deadlines, `max.connections` holds new clients in the
//! backlog until a connection closes, `max.connections.per.ip` closes the extra connection at
//! once (with overrides), the memory budget bounds the broker's RSS against partial frames and
//! slow `copy` fetches while small requests are still answered, and a broker out of file
//! descriptors keeps serving and logs one line instead of a storm.
//!
//! The RSS and fd tests run `ringlog serve` as a child process, so that what is measured is the
//! broker alone (this test binary runs other brokers and clients on parallel threads).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, FetchRequest};
use ringlog::runtime::IoKind;

use super::client::*;

/// RSS the broker may hold beyond its configured budget in the memory tests: standing read
/// buffers of the test's few connections, allocator and thread overhead, the page tables of
/// what was touched. The documented bound is `queued_max_request_bytes` + this.
const RSS_SLACK_BYTES: u64 = 48 << 20;

/// `ApiVersions` on a raw stream; `Err` when the connection was closed or did not answer.
fn api_versions(stream: &mut TcpStream) -> io::Result<()> {
    let v = *versions(ApiKey::ApiVersions).end();
    stream.write_all(&encode_frame(v, 1, &ApiVersionsRequest::default()))?;
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix)?;
    let mut body = vec![0u8; i32::from_be_bytes(prefix).max(0) as usize];
    stream.read_exact(&mut body)?;
    let (_, resp) = decode_response::<ApiVersionsRequest>(v, &body);
    assert_eq!(resp.error_code, 0);
    Ok(())
}

/// A connection with the test timeouts, optionally from a chosen loopback source address.
fn connect_from(source: Option<IpAddr>, to: SocketAddr) -> TcpStream {
    let stream = match source {
        None => TcpStream::connect_timeout(&to, IO_TIMEOUT).expect("connect"),
        Some(IpAddr::V4(src)) => {
            use std::os::fd::FromRawFd;
            // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr_in
            // values live across the calls that read them.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
                let stream = TcpStream::from_raw_fd(fd);
                let sa = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: port.to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(ip).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                let local = sa(src, 0);
                let rc = libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len);
                assert_eq!(rc, 0, "bind {src}: {}", io::Error::last_os_error());
                let SocketAddr::V4(to4) = to else {
                    panic!("IPv4 broker address expected")
                };
                let remote = sa(*to4.ip(), to4.port());
                let rc = libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len);
                assert_eq!(rc, 0, "connect from {src}: {}", io::Error::last_os_error());
                stream
            }
        }
        Some(IpAddr::V6(_)) => panic!("IPv4 source addresses only"),
    };
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Waits for the broker to close `stream` and returns how long that took; panics if it sends
/// anything or is still open after [`IO_TIMEOUT`].
fn closed_after(stream: &mut TcpStream, what: &str) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(n) => panic!("{what}: expected a close, got {n} bytes"),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                return started.elapsed()
            }
            Err(e) => panic!("{what}: still open after {:?} ({e})", started.elapsed()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deadlines.

pub fn idle_connections_close_after_connections_max_idle_ms(io: IoKind) {
    const IDLE_MS: u64 = 1_000;
    let broker = TestBroker::start_with(io, |c| c.connections_max_idle_ms = IDLE_MS);
    let addr = broker.addr;
    let id = {
        let mut setup = broker.connect();
        create_topic(&mut setup, "idle", 1)
    };

    // Idle after one request: closed once the idle time has passed since its response.
    let idle = std::thread::spawn(move || {
        let mut s = connect_from(None, addr);
        api_versions(&mut s).expect("first request answered");
        closed_after(&mut s, "idle connection")
    });
    // Active: a request every 200 ms for 2.4 s, never idle for long.
    let active = std::thread::spawn(move || {
        let mut s = connect_from(None, addr);
        for round in 0..12 {
            api_versions(&mut s).unwrap_or_else(|e| panic!("active round {round}: {e}"));
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    // A long poll longer than the idle time is a request in progress, not idleness.
    let long_poll = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        let v = *versions(ApiKey::Fetch).end();
        let at = [FetchAt {
            topic: "idle",
            topic_id: id,
            partition: 0,
            offset: 0,
        }];
        let started = Instant::now();
        let resp = c.call(v, &fetch_request(v, &at, 2 * IDLE_MS as i32, 1));
        assert_eq!(resp.responses[0].partitions[0].error_code, 0);
        assert!(started.elapsed() >= Duration::from_millis(IDLE_MS + 500));
        api_versions(&mut c.stream).expect("open after a long poll");
    });
    active.join().expect("active connection served throughout");
    long_poll.join().expect("long poll not cut short");
    let took = idle.join().expect("idle connection closed");
    assert!(
        took >= Duration::from_millis(IDLE_MS - 100) && took < Duration::from_millis(3 * IDLE_MS),
        "idle connection closed after {took:?}, connections_max_idle_ms = {IDLE_MS}"
    );
}

pub fn slowloris_frames_close_at_the_frame_read_deadline(io: IoKind) {
    const FRAME_MS: u64 = 1_000;
    let broker = TestBroker::start_with(io, |c| c.frame_read_timeout_ms = FRAME_MS);
    let addr = broker.addr;
    let bound = |took: Duration, what: &str| {
        assert!(
            took >= Duration::from_millis(FRAME_MS - 100)
                && took < Duration::from_millis(3 * FRAME_MS),
            "{what}: closed after {took:?}, frame_read_timeout_ms = {FRAME_MS}"
        );
    };

    // A size prefix and three bytes of the frame, then nothing.
    let stalled = std::thread::spawn(move || {
        let mut s = connect_from(None, addr);
        s.write_all(&[0, 0, 0, 100, 0, 18, 0]).unwrap();
        closed_after(&mut s, "stalled frame")
    });
    // One byte every 100 ms: always progressing, never done.
    let drip = std::thread::spawn(move || {
        let mut s = connect_from(None, addr);
        let mut writer = s.try_clone().unwrap();
        writer.write_all(&[0, 0, 3, 232]).unwrap(); // a 1000-byte frame
        let dripping = std::thread::spawn(move || {
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(100));
                if writer.write_all(&[0]).is_err() {
                    return;
                }
            }
        });
        let took = closed_after(&mut s, "dripped frame");
        dripping.join().unwrap();
        took
    });
    // Connected and silent: no frame has started, so only the (long) idle timer applies.
    let silent = std::thread::spawn(move || {
        let mut s = connect_from(None, addr);
        std::thread::sleep(Duration::from_millis(2 * FRAME_MS));
        api_versions(&mut s).expect("a silent connection is not a slow frame");
    });
    bound(
        stalled.join().expect("stalled frame closed"),
        "stalled frame",
    );
    bound(drip.join().expect("dripped frame closed"), "dripped frame");
    silent.join().expect("silent connection kept");
}

// ---------------------------------------------------------------------------------------------
// Connection counts.

pub fn max_connections_holds_new_clients_until_one_closes(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.max_connections = Some(4));
    let addr = broker.addr;
    let mut first: Vec<TcpStream> = (0..4).map(|_| connect_from(None, addr)).collect();
    for (i, s) in first.iter_mut().enumerate() {
        api_versions(s).unwrap_or_else(|e| panic!("connection {i}: {e}"));
    }
    // The fifth completes its TCP handshake (the kernel's backlog) but is not served...
    let mut fifth = connect_from(None, addr);
    let v = *versions(ApiKey::ApiVersions).end();
    fifth
        .write_all(&encode_frame(v, 1, &ApiVersionsRequest::default()))
        .unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_millis(1_000)))
        .unwrap();
    let mut prefix = [0u8; 4];
    match fifth.read_exact(&mut prefix) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("fifth connection served or closed at the limit: {other:?}"),
    }
    // ...until one of the first four closes; then it is, request already sent included.
    drop(first.remove(0));
    let started = Instant::now();
    fifth.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    fifth
        .read_exact(&mut prefix)
        .expect("fifth served after a close");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "fifth served only after {:?}",
        started.elapsed()
    );
    let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
    fifth.read_exact(&mut body).unwrap();
    let (_, resp) = decode_response::<ApiVersionsRequest>(v, &body);
    assert_eq!(resp.error_code, 0);
    for (i, s) in first.iter_mut().enumerate() {
        api_versions(s).unwrap_or_else(|e| panic!("connection {} after: {e}", i + 1));
    }
}

pub fn max_connections_per_ip_closes_the_extra_connection_with_overrides(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| {
        c.max_connections_per_ip = 2;
        c.max_connections_per_ip_overrides = "127.0.0.2:3".into();
    });
    let addr = broker.addr;
    let one: IpAddr = "127.0.0.1".parse().unwrap();
    let two: IpAddr = "127.0.0.2".parse().unwrap();
    let mut held = Vec::new();
    for (source, allowed) in [(one, 2), (two, 3)] {
        for i in 0..allowed {
            let mut s = connect_from(Some(source), addr);
            api_versions(&mut s).unwrap_or_else(|e| panic!("{source} #{i}: {e}"));
            held.push((source, s));
        }
        let mut extra = connect_from(Some(source), addr);
        let took = closed_after(&mut extra, &format!("{source} over its limit"));
        assert!(
            took < Duration::from_secs(1),
            "{source}: closed after {took:?}"
        );
    }
    // A closed connection gives its address's slot back.
    held.remove(0);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut s = connect_from(Some(one), addr);
        if api_versions(&mut s).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "127.0.0.1 never got its slot back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (source, s) in &mut held {
        api_versions(s).unwrap_or_else(|e| panic!("{source} after: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Memory and descriptors, measured on a `ringlog serve` child.

/// A `ringlog serve` child on 127.0.0.1 (a free port), its stderr collected; killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Serve {
    /// `ringlog serve --cores 2 --io IO ARGS`, run by bash after `prelude` when one is given.
    fn start(io: IoKind, args: &[&str], prelude: Option<&str>) -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        let io_arg = match io {
            IoKind::Uring => "uring",
            IoKind::Epoll => "epoll",
        };
        let data_dir = dir.path().to_str().expect("utf-8 temp dir").to_string();
        let mut serve_args: Vec<String> = [
            "serve",
            "--cores",
            "2",
            "--io",
            io_arg,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        serve_args.extend(args.iter().map(|s| s.to_string()));
        let bin = env!("CARGO_BIN_EXE_ringlog");
        let mut cmd = match prelude {
            None => Command::new(bin),
            Some(prelude) => {
                let mut c = Command::new("bash");
                c.arg("-c")
                    .arg(format!("{prelude}\nexec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
        };
        let mut child = cmd
            .args(&serve_args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringlog serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { return };
                    if let Some(at) = line.find("listen=") {
                        let addr: String = line[at + 7..]
                            .chars()
                            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                            .collect();
                        let _ = tx.send(addr);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "ringlog serve did not start: {:?}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Serve {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("child status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kib * 1024
    }

    fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MIB: u64 = 1 << 20;

/// Highest RSS of `serve` seen until `settled` says so (checked every 100 ms) or `max` passes.
fn peak_rss(serve: &Serve, max: Duration, mut settled: impl FnMut() -> bool) -> u64 {
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < max {
        peak = peak.max(serve.rss_bytes());
        if settled() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    peak.max(serve.rss_bytes())
}

pub fn memory_budget_bounds_partial_frames(io: IoKind) {
    const BUDGET: u64 = 256 * MIB;
    const FRAME: u64 = 100 * MIB;
    const SENT: u64 = 96 * MIB;
    const CONNECTIONS: usize = 10;
    let serve = Serve::start(
        io,
        &[
            "--queued-max-request-bytes",
            &BUDGET.to_string(),
            "--request-bytes-max",
            &FRAME.to_string(),
        ],
        None,
    );
    let mut probe = connect_from(None, serve.addr);
    api_versions(&mut probe).expect("answered before");
    let before = serve.rss_bytes();

    // Ten connections each announce a 100 MiB frame and send 96 MiB of it.
    let written = Arc::new(AtomicU64::new(0));
    let chunk = Arc::new(vec![0u8; MIB as usize]);
    let mut sockets = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut s = connect_from(None, serve.addr);
        s.set_write_timeout(None).unwrap();
        sockets.push(s.try_clone().unwrap());
        let (written, chunk) = (written.clone(), chunk.clone());
        writers.push(std::thread::spawn(move || {
            let size = (FRAME - 4) as i32;
            if s.write_all(&size.to_be_bytes()).is_err() {
                return;
            }
            for _ in 0..SENT / MIB {
                if s.write_all(&chunk).is_err() {
                    return;
                }
                written.fetch_add(MIB, Ordering::Relaxed);
            }
        }));
    }
    // Until the writers stop making progress (the broker stopped reading the ones over budget).
    let (mut last, mut still) = (0, 0);
    let peak = peak_rss(&serve, Duration::from_secs(10), || {
        let now = written.load(Ordering::Relaxed);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        now > 0 && still >= 10
    });
    api_versions(&mut probe).expect("small requests answered while the budget is spent");
    let growth = peak.saturating_sub(before);
    eprintln!(
        "{io:?}: {CONNECTIONS} x {} MiB of {} MiB frames: broker RSS {} -> peak {} MiB (+{} MiB; \
         budget {} MiB); clients wrote {} MiB",
        SENT / MIB,
        FRAME / MIB,
        before / MIB,
        peak / MIB,
        growth / MIB,
        BUDGET / MIB,
        written.load(Ordering::Relaxed) / MIB
    );
    assert!(
        growth < BUDGET + RSS_SLACK_BYTES,
        "RSS grew {} MiB with a budget of {} MiB",
        growth / MIB,
        BUDGET / MIB
    );
    for s in &sockets {
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    for w in writers {
        w.join().unwrap();
    }
}

pub fn memory_budget_bounds_slow_copy_fetches(io: IoKind) {
    const BUDGET: u64 = 32 * MIB;
    const FETCH_MAX: u64 = 100 * MIB;
    const FETCHERS: usize = 3;
    let serve = Serve::start(
        io,
        &[
            "--transfer",
            "copy",
            "--flush",
            "never",
            "--queued-max-request-bytes",
            &BUDGET.to_string(),
            "--request-bytes-max",
            &(16 * MIB).to_string(),
            "--fetch-max-bytes",
            &FETCH_MAX.to_string(),
        ],
        None,
    );
    // 100 MiB in one partition, 1 MiB per batch.
    let mut c = Client::connect(serve.addr);
    let id = create_topic(&mut c, "slow", 1);
    let value = vec![7u8; MIB as usize - 1024];
    for _ in 0..FETCH_MAX / MIB {
        produce_one(&mut c, "slow", 0, &batch(1_700_000_000_000, &[&value]));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = serve.rss_bytes();

    // Three consumers ask for everything and never read the answer.
    let v = *versions(ApiKey::Fetch).end();
    let at = [FetchAt {
        topic: "slow",
        topic_id: id,
        partition: 0,
        offset: 0,
    }];
    let mut req: FetchRequest = fetch_request(v, &at, 0, 1);
    req.max_bytes = i32::MAX;
    req.topics[0].partitions[0].partition_max_bytes = i32::MAX;
    let frame = encode_frame(v, 9, &req);
    let slow: Vec<TcpStream> = (0..FETCHERS)
        .map(|_| {
            let mut s = connect_from(None, serve.addr);
            s.write_all(&frame).unwrap();
            s
        })
        .collect();
    let mut polls = 0;
    let peak = peak_rss(&serve, Duration::from_secs(4), || {
        polls += 1;
        polls >= 30
    });
    // The broker still answers others, small fetches included.
    let (error, high_watermark, bytes) = fetch_one(&mut c, "slow", id, 0, 0);
    assert_eq!((error, high_watermark), (0, (FETCH_MAX / MIB) as i64));
    assert!(!bytes.is_empty());
    let growth = peak.saturating_sub(before);
    eprintln!(
        "{io:?}: {FETCHERS} slow copy fetches of {} MiB: broker RSS {} -> peak {} MiB (+{} MiB; \
         budget {} MiB)",
        FETCH_MAX / MIB,
        before / MIB,
        peak / MIB,
        growth / MIB,
        BUDGET / MIB
    );
    assert!(
        growth < BUDGET + RSS_SLACK_BYTES,
        "RSS grew {} MiB with a budget of {} MiB",
        growth / MIB,
        BUDGET / MIB
    );
    drop(slow);
}

pub fn out_of_file_descriptors_keeps_serving_with_one_log_line(io: IoKind) {
    // The child may open 1,024 files, and inherits 900 of them already open: the broker's fd
    // plan (from the limit) allows far more connections than the descriptors left, so the flood
    // below runs accept into EMFILE, as anything else holding descriptors would.
    const NOFILE: u32 = 1_024;
    const FREE: u32 = 124;
    const FLOOD: usize = 300;
    const WINDOW: Duration = Duration::from_secs(3);
    ringlog::runtime::limits::raise_nofile_to_hard().unwrap();
    let prelude = format!(
        "ulimit -n {NOFILE} || exit 1\nfor ((fd = 3; fd < {}; fd++)); do eval \"exec $fd</dev/null\"; done",
        NOFILE - FREE
    );
    let serve = Serve::start(io, &[], Some(&prelude));
    let mut existing = connect_from(None, serve.addr);
    api_versions(&mut existing).expect("answered before the flood");

    let lines_before = serve.log_lines().len();
    let flood_started = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        if let Ok(s) = TcpStream::connect_timeout(&serve.addr, Duration::from_secs(2)) {
            flood.push(s);
        }
    }
    while flood_started.elapsed() < WINDOW {
        api_versions(&mut existing).expect("an existing connection is served at the fd limit");
        std::thread::sleep(Duration::from_millis(200));
    }
    let window = flood_started.elapsed();
    let accept_lines: Vec<String> = serve.log_lines()[lines_before..]
        .iter()
        .filter(|l| l.contains("accept"))
        .cloned()
        .collect();
    eprintln!(
        "{io:?}: {} flood connections, {} accept log lines in {window:?}: {accept_lines:#?}",
        flood.len(),
        accept_lines.len()
    );
    assert!(
        accept_lines
            .iter()
            .any(|l| l.contains("Too many open files")),
        "the flood did not reach EMFILE: {accept_lines:#?}"
    );
    assert!(
        accept_lines.len() <= 2,
        "{} accept lines in {window:?}",
        accept_lines.len()
    );
    drop(flood);
    // Descriptors free again: new clients are served (after at most one backoff).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = connect_from(None, serve.addr);
        s.set_read_timeout(Some(Duration::from_millis(1_500)))
            .unwrap();
        if api_versions(&mut s).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new clients not served after the flood"
        );
    }
}
