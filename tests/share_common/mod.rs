//! Shared by the share-group tests (issue #16): the Java driver (`tests/java/ShareDriver.java`,
//! Kafka 4.4's `KafkaShareConsumer`) prepared by `tests/java/setup.sh`, run one scenario at a time
//! with a deadline, and its JSON lines parsed into [`Event`]s for the checks.
//!
//! The driver prints one JSON object per line (see its class comment for every event); this
//! module holds the small JSON reader the checks need (the test crate has no JSON dependency),
//! and a [`Report`] that collects every failed check, so that one run shows all the parts of the
//! contract a broker broke.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ringlog::runtime::IoKind;

/// `tests/java/setup.sh` exits with this when java, javac or mvn is missing (automake's "skip").
pub const SKIP_EXIT: i32 = 77;
/// The setup (a first Maven download, javac) may take this long.
const SETUP_WAIT: Duration = Duration::from_secs(600);
/// A driver run's own deadline (`timeout_ms`) is this much shorter than the test's kill limit,
/// so that the driver reports what it waited for before it would be killed.
const DRIVER_MARGIN: Duration = Duration::from_secs(20);
/// How long a restarted `ringlog serve` may take to listen.
const LISTEN_WAIT: Duration = Duration::from_secs(20);

/// The driver's classpath, or `None` (after saying so on stderr, at every call: every test that
/// returns early shows it) when Java or Maven is absent. Prepared once per test process.
pub fn java_classpath() -> Option<&'static str> {
    static CP: OnceLock<Result<String, String>> = OnceLock::new();
    let cp = CP.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
        let out = crate::support::run_bounded(
            Command::new("bash")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/setup.sh"))
                .arg(&target),
            SETUP_WAIT,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(SKIP_EXIT) {
            return Err(stderr.trim().to_string());
        }
        assert!(
            out.status.success(),
            "tests/java/setup.sh failed ({:?}):\n{stderr}",
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
            eprintln!("SKIPPED: the Java share-group driver cannot be built: {why}");
            None
        }
    }
}

/// One driver run: its exit status and output, the lines parsed.
pub struct Run {
    pub scenario: String,
    pub topic: String,
    pub group: String,
    pub output: Output,
    pub events: Vec<Event>,
}

impl Run {
    /// Every event named `name` ("record", "dlq", ...), in order.
    pub fn all(&self, name: &str) -> Vec<&Event> {
        self.events.iter().filter(|e| e.name() == name).collect()
    }

    /// The `done` line, when the scenario completed.
    pub fn done(&self) -> Option<&Event> {
        self.events.iter().find(|e| e.name() == "done")
    }

    /// Whether the driver exited 0 with a `done` line.
    pub fn completed(&self) -> bool {
        self.output.status.success() && self.done().is_some()
    }

    /// Everything the driver printed, for failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "driver {} ({:?}; killed if no code):\nstdout:\n{}\nstderr:\n{}",
            self.scenario,
            self.output.status,
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

/// Runs `ShareDriver BOOTSTRAP TOPIC GROUP SCENARIO name=value...` with a deadline of `limit`
/// (the driver's own `timeout_ms` is [`DRIVER_MARGIN`] shorter unless `params` set it).
pub fn driver(
    cp: &str,
    bootstrap: &str,
    topic: &str,
    group: &str,
    scenario: &str,
    params: &[(&str, String)],
    limit: Duration,
) -> Run {
    let mut cmd = Command::new("java");
    // The client logs warnings and errors on stderr (shown when a check fails).
    cmd.arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .args(["-cp", cp, "ShareDriver", bootstrap, topic, group, scenario]);
    if !params.iter().any(|(k, _)| *k == "timeout_ms") {
        let own = limit
            .saturating_sub(DRIVER_MARGIN)
            .max(Duration::from_secs(1));
        cmd.arg(format!("timeout_ms={}", own.as_millis()));
    }
    for (k, v) in params {
        cmd.arg(format!("{k}={v}"));
    }
    let output = crate::support::run_bounded(cmd.stdin(Stdio::null()), limit);
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| Event(Json::parse(l).unwrap_or_else(|e| panic!("driver line {l:?}: {e}"))))
        .collect();
    Run {
        scenario: scenario.to_string(),
        topic: topic.to_string(),
        group: group.to_string(),
        output,
        events,
    }
}

/// `ringlog serve` with two shards on `io`, durable (`--flush always`), on 127.0.0.1:`port` over
/// `dir` (a fixed port, so that a restarted broker is found where its predecessor was).
pub fn serve(dir: &Path, port: u16, io: IoKind) -> crate::support::Serve {
    let io = match io {
        IoKind::Uring => "uring",
        IoKind::Epoll => "epoll",
    };
    let child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(["serve", "--cores", "2", "--flush", "always", "--io", io])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ringlog serve");
    let serve = crate::support::Serve(child);
    wait_listening(format!("127.0.0.1:{port}").parse().unwrap());
    serve
}

/// Returns once something accepts connections on `addr` (panics after [`LISTEN_WAIT`]).
pub fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + LISTEN_WAIT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Collects the checks of a test; [`Report::finish`] fails listing every one that did not hold.
#[derive(Default)]
pub struct Report {
    failed: Vec<String>,
    passed: usize,
}

impl Report {
    pub fn check(&mut self, what: impl Into<String>, ok: bool, detail: impl FnOnce() -> String) {
        let what = what.into();
        if ok {
            self.passed += 1;
            eprintln!("ok: {what}");
        } else {
            let line = format!("{what}: {}", detail());
            eprintln!("FAILED: {line}");
            self.failed.push(line);
        }
    }

    /// Panics listing the failed checks, with the transcripts of the runs they came from.
    pub fn finish(self, runs: &[&Run]) {
        if self.failed.is_empty() {
            return;
        }
        let transcripts: Vec<String> = runs.iter().map(|r| r.transcript()).collect();
        panic!(
            "{} of {} checks failed:\n  {}\n\n{}",
            self.failed.len(),
            self.failed.len() + self.passed,
            self.failed.join("\n  "),
            transcripts.join("\n")
        );
    }
}

/// One driver line.
#[derive(Debug, Clone)]
pub struct Event(pub Json);

impl Event {
    pub fn name(&self) -> &str {
        self.str("event").unwrap_or("")
    }
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.get(key)
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Json::as_str)
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        self.0.get(key).and_then(Json::as_i64)
    }
    pub fn is_null(&self, key: &str) -> bool {
        matches!(self.0.get(key), Some(Json::Null))
    }
    /// `(partition, offset)` of a record, ack, or DLQ line.
    pub fn at(&self) -> (i64, i64) {
        (
            self.int("partition").unwrap_or(-1),
            self.int("offset").unwrap_or(-1),
        )
    }
    /// A record's or DLQ record's headers as (key, UTF-8 value) pairs, in order.
    pub fn headers(&self) -> Vec<(String, Option<String>)> {
        self.get("headers")
            .and_then(Json::as_array)
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h.get("key")
                                .and_then(Json::as_str)
                                .unwrap_or("")
                                .to_string(),
                            h.get("value").and_then(Json::as_str).map(str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A JSON value, as much of JSON as the driver writes (numbers kept as f64 and their text).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.get(key),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) if n.fract() == 0.0 => Some(*n as i64),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&BTreeMap<String, Json>> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Parses one JSON text (the whole of `text`, surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let v = p.value(0)?;
        p.space();
        if p.at != p.bytes.len() {
            return Err(format!("trailing bytes at {}", p.at));
        }
        Ok(v)
    }
}

/// Nesting deeper than this is refused (the driver writes at most 4 levels).
const JSON_DEPTH_MAX: usize = 32;

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        self.space();
        if self.bytes.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", b as char, self.at))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > JSON_DEPTH_MAX {
            return Err("nested too deeply".into());
        }
        self.space();
        match self.bytes.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut m = BTreeMap::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Object(m));
                }
                loop {
                    self.space();
                    let k = self.string()?;
                    self.eat(b':')?;
                    m.insert(k, self.value(depth + 1)?);
                    self.space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(m));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut a = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Array(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    self.space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Array(a));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.at)),
                    }
                }
            }
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let from = self.at;
                while self.at < self.bytes.len()
                    && matches!(
                        self.bytes[self.at],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[from..self.at]).expect("ascii");
                text.parse()
                    .map(Json::Number)
                    .map_err(|e| format!("number {text:?}: {e}"))
            }
            _ => Err(format!("unexpected input at {}", self.at)),
        }
    }

    fn word(&mut self, word: &str, v: Json) -> Result<Json, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(v)
        } else {
            Err(format!("expected {word} at {}", self.at))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return Err(format!("expected a string at {}", self.at));
        }
        self.at += 1;
        let mut out = String::new();
        loop {
            let from = self.at;
            while self.at < self.bytes.len() && !matches!(self.bytes[self.at], b'"' | b'\\') {
                self.at += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.bytes[from..self.at]).map_err(|e| e.to_string())?,
            );
            match self.bytes.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc = *self.bytes.get(self.at + 1).ok_or("truncated escape")?;
                    self.at += 2;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = self
                                .bytes
                                .get(self.at..self.at + 4)
                                .ok_or("truncated \\u escape")?;
                            let code = u32::from_str_radix(
                                std::str::from_utf8(hex).map_err(|e| e.to_string())?,
                                16,
                            )
                            .map_err(|e| e.to_string())?;
                            self.at += 4;
                            // The driver escapes control characters only: no surrogate pairs.
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        other => return Err(format!("bad escape \\{}", other as char)),
                    }
                }
                _ => return Err("unterminated string".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Json;

    #[test]
    fn parses_what_the_driver_writes() {
        let v = Json::parse(
            r#"{"event":"dlq","offset":12,"t":-1.5e3,"key":null,"ok":true,"headers":[{"key":"a\"b\\c\u0001","value":"\u00e9x"}],"m":{}}"#,
        )
        .unwrap();
        assert_eq!(v.get("event").and_then(Json::as_str), Some("dlq"));
        assert_eq!(v.get("offset").and_then(Json::as_i64), Some(12));
        assert_eq!(v.get("t"), Some(&Json::Number(-1500.0)));
        assert_eq!(v.get("key"), Some(&Json::Null));
        let h = &v.get("headers").and_then(Json::as_array).unwrap()[0];
        assert_eq!(h.get("key").and_then(Json::as_str), Some("a\"b\\c\u{1}"));
        assert_eq!(h.get("value").and_then(Json::as_str), Some("\u{e9}x"));
        for bad in ["", "{", "{\"a\":}", "[1,]", "\"x", "{\"a\":1} x", "nul"] {
            assert!(Json::parse(bad).is_err(), "{bad:?} parsed");
        }
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert!(Json::parse(&deep).is_err());
    }
}
