//! Shared by the black-box test files: the two-driver test generator, a broker on loopback, and
//! the Python client virtualenv. Each test crate uses a subset, hence the allow.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use ringlog::broker::{Broker, BrokerConfig};
use ringlog::runtime::IoKind;

/// For each `fn name(io: IoKind)`, generate `uring::name` and `epoll::name` tests.
#[macro_export]
macro_rules! both_drivers {
    ($($name:ident),* $(,)?) => {
        mod uring { $( #[test] fn $name() { super::$name(ringlog::runtime::IoKind::Uring) } )* }
        mod epoll { $( #[test] fn $name() { super::$name(ringlog::runtime::IoKind::Epoll) } )* }
    };
}

/// A broker on 127.0.0.1 (a free port) over `dir`, with `cores` shards; `edit` adjusts the rest.
pub fn start_broker(
    io: IoKind,
    dir: &Path,
    cores: usize,
    edit: impl FnOnce(&mut BrokerConfig),
) -> Broker {
    let mut config = BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        cores,
        io,
        ..BrokerConfig::default()
    };
    edit(&mut config);
    Broker::start(config).expect("broker starts")
}

/// The virtualenv's python with the pinned clients, created once per test process by
/// [`python`], or `None` after saying loudly on stderr that `what` is skipped because the Python
/// clients cannot be set up (a test that needs them skips, it never passes silently).
pub fn python_or_skip(what: &str) -> Option<PathBuf> {
    match std::panic::catch_unwind(python) {
        Ok(p) => Some(p.clone()),
        Err(e) => {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            eprintln!("SKIPPED: {what}: the Python clients cannot be set up: {why}");
            None
        }
    }
}

/// `tests/python/setup.sh` under the target directory.
pub fn python() -> &'static PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
        let out = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/setup.sh"
            ))
            .arg(&target)
            .output()
            .expect("run tests/python/setup.sh");
        assert!(
            out.status.success(),
            "python setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim())
    })
}

/// A `ringlog serve` child process, killed (SIGKILL) when dropped, also when a test panics.
pub struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ringlog serve` with two shards on 127.0.0.1:`port` over `dir` (a fixed port, so that a
/// restarted child is found where its predecessor was).
pub fn spawn_serve(dir: &Path, port: u16) -> Serve {
    Serve(
        Command::new(env!("CARGO_BIN_EXE_ringlog"))
            .args([
                "serve",
                "--cores",
                "2",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ringlog serve"),
    )
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Runs `cmd` with piped output, killed at `limit` (a client under test never hangs the suite).
/// Its output is read while it runs (by a thread per pipe), so a child that writes more than a
/// pipe holds is not blocked until the limit kills it.
pub fn run_bounded(cmd: &mut Command, limit: std::time::Duration) -> std::process::Output {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = child.wait().expect("wait");
    std::process::Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Exit status of `tests/java/setup.sh` when Java or Maven is missing (the tests skip).
pub const JAVA_SETUP_SKIP_EXIT: i32 = 77;
/// Longest `tests/java/setup.sh` may take (a first run downloads the jars).
pub const JAVA_SETUP_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The classpath of Kafka 4.4's command-line tools (`tests/java/setup.sh TARGET tools`, once
/// per test process), or `None` after saying loudly on stderr that `what` is skipped because
/// Java or Maven is missing.
pub fn kafka_tools_classpath(what: &str) -> Option<&'static str> {
    static CP: OnceLock<Result<String, String>> = OnceLock::new();
    let cp = CP.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
        let out = run_bounded(
            Command::new("bash")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/setup.sh"))
                .arg(&target)
                .arg("tools"),
            JAVA_SETUP_WAIT,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(JAVA_SETUP_SKIP_EXIT) {
            return Err(stderr.trim().to_string());
        }
        assert!(
            out.status.success(),
            "tests/java/setup.sh tools failed ({:?}):\n{stderr}",
            out.status
        );
        Ok(String::from_utf8(out.stdout)
            .expect("utf-8 classpath")
            .trim()
            .to_string())
    });
    match cp {
        Ok(cp) => Some(cp),
        Err(why) => {
            eprintln!("SKIPPED: {what}: Kafka's command-line tools cannot be set up: {why}");
            None
        }
    }
}
