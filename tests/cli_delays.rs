//! `ringlog delays` end to end (issue #15 "Visible"): the built binary against a real broker
//! in-process on 127.0.0.1 (two shards, temporary data directory), on both I/O drivers; and the
//! client against a Kafka-like broker that does not know the private DescribeDelays API.
//!
//! Every child process is killed after [`CHILD_TIMEOUT`], every socket wait is bounded, and the
//! file runs in a few seconds.

#[macro_use]
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringlog::client::{cli, ClientError, Connection};
use ringlog::protocol::messages::ApiVersionsResponse;
use ringlog::protocol::{versions, ApiKey, Request};
use ringlog::runtime::IoKind;

/// Longest any one CLI invocation may run before the test kills it and fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
/// Read and write timeout of the fake broker's socket.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

both_drivers!(delays_prints_the_table_header_and_json);

/// Runs the binary, killing it after [`CHILD_TIMEOUT`].
fn run_cli(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringlog");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "ringlog {args:?} ran longer than {CHILD_TIMEOUT:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Runs `ringlog ARGS` and returns stdout, failing the test unless it exits 0.
#[track_caller]
fn ok(args: &[&str]) -> String {
    let o = run_cli(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(
        o.status.success(),
        "ringlog {args:?}: exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
        o.status
    );
    stdout
}

/// Runs `ringlog ARGS`, which must exit 1 with `needle` in its error message.
#[track_caller]
fn fails(args: &[&str], needle: &str) {
    let o = run_cli(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "ringlog {args:?}: stderr: {stderr}"
    );
    assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
}

#[track_caller]
fn assert_header(stdout: &str) {
    let header = stdout.lines().next().unwrap_or_default();
    let words: Vec<&str> = header.split("  ").filter(|w| !w.is_empty()).collect();
    let words: Vec<&str> = words.iter().map(|w| w.trim()).collect();
    assert_eq!(words, cli::DELAYS_HEADER, "header line of:\n{stdout}");
}

fn delays_prints_the_table_header_and_json(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = support::start_broker(io, dir.path(), 2, |_| {});
    let addr = broker.local_addr().to_string();

    // No topics: the header alone; the JSON object with an empty list.
    let table = ok(&["delays", "--broker", &addr]);
    assert_header(&table);
    assert_eq!(table.lines().count(), 1, "{table}");
    assert_eq!(
        ok(&["delays", "--bootstrap", &addr, "--json"]),
        "{\"topics\":[]}\n"
    );

    // A topic without scheduled delivery: asked for by name (twice), answered with the header.
    ok(&[
        "topics",
        "create",
        "plain",
        "--partitions",
        "2",
        "--broker",
        &addr,
    ]);
    let table = ok(&[
        "delays", "--topic", "plain", "--topic", "plain", "--broker", &addr,
    ]);
    assert_header(&table);
    for row in table.lines().skip(1) {
        assert!(row.starts_with("plain "), "{table}");
    }
    let json = ok(&["delays", "--topic", "plain", "--json", "--broker", &addr]);
    assert!(
        json.starts_with("{\"topics\":[") && json.ends_with("]}\n"),
        "{json}"
    );

    // Topics that do not exist, or cannot: a clear error, exit 1.
    fails(
        &["delays", "--topic", "missing", "--broker", &addr],
        "describe delays of missing: broker error UNKNOWN_TOPIC_OR_PARTITION (3)",
    );
    fails(
        &["delays", "--topic", "no/slash", "--broker", &addr],
        "INVALID_TOPIC_EXCEPTION (17)",
    );
    // Nothing listens on port 1 of loopback: connection refused, not a hang.
    fails(&["delays", "--broker", "127.0.0.1:1"], "connect");

    broker.shutdown();
    broker.join().expect("broker stops cleanly");
}

/// Reads one request frame body from the fake broker's socket.
fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut body = vec![0; usize::try_from(i32::from_be_bytes(size)).ok()?];
    s.read_exact(&mut body).ok()?;
    Some(Bytes::from(body))
}

/// Answers ApiVersions as a Kafka broker would (ringlog's advertised table, which lacks
/// DescribeDelays), then closes the connection on the next request if its api key is unknown to
/// Kafka, as Kafka does. Returns the api keys of the requests it saw.
fn kafka_like_broker(listener: TcpListener) -> Vec<i16> {
    let (mut s, _) = listener.accept().expect("accept");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut seen = Vec::new();
    while let Some(frame) = read_frame(&mut s) {
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        seen.push(key);
        if ApiKey::from_i16(key).is_none_or(ApiKey::is_ringlog_private) {
            break; // Kafka closes the connection on an api key it does not know.
        }
        let (header, request) = ringlog::protocol::decode_request(frame).expect("a Kafka request");
        assert!(matches!(request, Request::ApiVersions(_)), "{request:?}");
        let response: ApiVersionsResponse = versions::api_versions_response(0);
        let mut out = BytesMut::new();
        ringlog::protocol::encode_response(&header, &response.into(), &mut out).unwrap();
        s.write_all(&out).expect("answer ApiVersions");
    }
    seen
}

#[test]
fn delays_against_a_broker_without_the_api_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || kafka_like_broker(listener));
    let result = ringlog::runtime::block_on(&cli::runtime_config(), async move {
        let mut conn = Connection::connect(addr).await?;
        conn.describe_delays(&["orders"]).await
    })
    .expect("runtime");
    let e = result.expect_err("a Kafka broker does not answer DescribeDelays");
    assert!(matches!(e, ClientError::Closed { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("describe delays of orders")
            && text.contains("ringlog-private")
            && text.contains("closed the connection"),
        "{text}"
    );
    let seen = fake.join().expect("fake broker");
    assert_eq!(
        seen,
        [ApiKey::ApiVersions as i16, ApiKey::DescribeDelays as i16],
        "negotiated once, then DescribeDelays sent without asking"
    );
}
