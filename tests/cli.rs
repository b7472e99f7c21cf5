//! End-to-end tests of `ringlog produce`, `consume`, `topics` and `inspect`: a real broker
//! in-process on 127.0.0.1 (two shards, temporary data directory), driven by the built binary.
//! Plus tests of the client library itself (pipelining, in-flight bound), without a process.
//!
//! Every child process is killed after [`CHILD_TIMEOUT`], every client wait is bounded by the
//! client's own request timeout, and the whole file runs in a few seconds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ringlog::broker::{Broker, BrokerConfig};
use ringlog::client::{api, cli, records, ClientError, ConnectOptions, Connection};
use ringlog::protocol::messages::ProduceRequest;
use ringlog::protocol::ApiKey;
use ringlog::storage::records::Compression;

/// Longest any one CLI invocation may run before the test kills it and fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

/// A broker on 127.0.0.1:0 with its own data directory.
struct TestBroker {
    broker: Option<Broker>,
    addr: String,
    // Dropped after the broker (field order).
    dir: tempfile::TempDir,
}

impl TestBroker {
    fn start() -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::start(BrokerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            cores: 2,
            ..Default::default()
        })
        .expect("broker starts");
        let addr = broker.local_addr().to_string();
        TestBroker {
            broker: Some(broker),
            addr,
            dir,
        }
    }

    /// Runs `ringlog ARGS --broker ADDR` (the broker flag only where the command takes it).
    fn cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--broker", &self.addr]);
        run_cli(&all, stdin)
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            b.shutdown();
            b.join().expect("broker stops cleanly");
        }
    }
}

/// Runs the binary with `stdin`, killing it after [`CHILD_TIMEOUT`].
fn run_cli(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringlog");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
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
    writer.join().unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    o
}

#[track_caller]
fn fails(o: Output, needle: &str) -> Output {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    assert!(
        stderr(&o).contains(needle),
        "stderr lacks {needle:?}: {}",
        stderr(&o)
    );
    o
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn topics_create_list_delete() {
    let b = TestBroker::start();
    ok(b.cli(&["topics", "create", "alpha", "--partitions", "3"], ""));
    ok(b.cli(&["topics", "create", "beta"], ""));
    let list = stdout(&ok(b.cli(&["topics", "list"], "")));
    assert!(list.lines().any(|l| l == "alpha\t3"), "{list}");
    assert!(list.lines().any(|l| l.starts_with("beta\t")), "{list}");
    fails(
        b.cli(&["topics", "create", "alpha"], ""),
        "TOPIC_ALREADY_EXISTS",
    );
    ok(b.cli(&["topics", "delete", "alpha"], ""));
    let list = stdout(&ok(b.cli(&["topics", "list"], "")));
    assert!(!list.contains("alpha"), "{list}");
    fails(
        b.cli(&["topics", "delete", "alpha"], ""),
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    fails(b.cli(&["topics", "create", "bad/name"], ""), "create topic");
}

#[test]
fn produce_then_consume_every_way() {
    let b = TestBroker::start();
    ok(b.cli(&["topics", "create", "events", "--partitions", "1"], ""));

    // Keys, then lz4, then plain values.
    let o = ok(b.cli(&["produce", "events"], "k1\tone\nk2\ttwo\n"));
    assert!(stderr(&o).contains("produced 2 records"), "{}", stderr(&o));
    assert!(stderr(&o).contains("offsets 0..=1"), "{}", stderr(&o));
    let lz4_lines: String = (0..50).map(|i| format!("lz{i}\n")).collect();
    let o = ok(b.cli(&["produce", "events", "--compression", "lz4"], &lz4_lines));
    assert!(stderr(&o).contains("offsets 2..=51"), "{}", stderr(&o));
    std::thread::sleep(Duration::from_millis(30));
    let t = now_ms();
    std::thread::sleep(Duration::from_millis(30));
    ok(b.cli(
        &["produce", "events", "--acks", "1", "--compression", "zstd"],
        "late1\nlate2\n",
    ));

    let all = stdout(&ok(
        b.cli(&["consume", "events", "--from-beginning", "-e"], "")
    ));
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 54, "{all}");
    assert_eq!(&lines[..2], ["one", "two"]);
    assert_eq!(lines[2], "lz0");
    assert_eq!(lines[51], "lz49");
    assert_eq!(&lines[52..], ["late1", "late2"]);

    let keyed = stdout(&ok(b.cli(
        &["consume", "events", "--from-beginning", "--keys", "-n", "3"],
        "",
    )));
    assert_eq!(keyed, "k1\tone\nk2\ttwo\n\tlz0\n");

    let from_offset = stdout(&ok(
        b.cli(&["consume", "events", "--offset", "50", "-e"], "")
    ));
    assert_eq!(from_offset, "lz48\nlz49\nlate1\nlate2\n");

    let from_time = stdout(&ok(b.cli(
        &["consume", "events", "--from-time", &t.to_string(), "-e"],
        "",
    )));
    assert_eq!(from_time, "late1\nlate2\n");

    // -n without -e returns as soon as enough records arrived.
    let two = stdout(&ok(
        b.cli(&["consume", "events", "--from-beginning", "-n", "2"], "")
    ));
    assert_eq!(two, "one\ntwo\n");

    // From the end with -e: nothing new, exits at once.
    assert_eq!(stdout(&ok(b.cli(&["consume", "events", "-e"], ""))), "");

    fails(
        b.cli(&["consume", "nosuch", "--from-beginning", "-e"], ""),
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    fails(
        b.cli(&["consume", "events", "--from-time", "yesterday"], ""),
        "bad time 'yesterday'",
    );
    fails(
        b.cli(&["consume", "events", "--partition", "7", "-e"], ""),
        "no partition 7",
    );
    fails(
        b.cli(&["produce", "events", "--compression", "brotli"], "x\n"),
        "unknown compression",
    );
}

#[test]
fn every_compression_round_trips_through_the_broker() {
    let b = TestBroker::start();
    for c in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{c}");
        let input: String = (0..20).map(|i| format!("{c}-{i}\n")).collect();
        ok(b.cli(&["produce", &topic, "--compression", c], &input));
        let out = stdout(&ok(
            b.cli(&["consume", &topic, "--from-beginning", "-e"], "")
        ));
        assert_eq!(out, input, "{c}");
    }
}

fn find_segment(dir: &Path, topic: &str) -> PathBuf {
    let part = dir.join(format!("{topic}-0"));
    std::fs::read_dir(&part)
        .unwrap_or_else(|e| panic!("{}: {e}", part.display()))
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("a .log segment")
}

#[test]
fn inspect_a_segment_and_a_corrupted_copy() {
    let b = TestBroker::start();
    ok(b.cli(&["topics", "create", "logs", "--partitions", "1"], ""));
    ok(b.cli(&["produce", "logs"], "a\nb\nc\n"));
    ok(b.cli(&["produce", "logs", "--compression", "gzip"], "d\ne\n"));
    ok(b.cli(&["produce", "logs"], "f\n"));
    let segment = find_segment(b.dir.path(), "logs");

    let o = ok(run_cli(&["inspect", segment.to_str().unwrap()], ""));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains("offsets 0..=2 (3 records)"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("compression gzip"), "{}", lines[1]);
    assert!(lines.iter().all(|l| l.contains("crc ok")), "{lines:?}");
    assert!(
        stderr(&o).contains("3 batches, 6 records, offsets 0..=5: ok"),
        "{}",
        stderr(&o)
    );

    // Flip the last byte of the second batch.
    let mut bytes = std::fs::read(&segment).unwrap();
    let first = 12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let second = 12 + u32::from_be_bytes(bytes[first + 8..first + 12].try_into().unwrap()) as usize;
    bytes[first + second - 1] ^= 0x55;
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join(segment.file_name().unwrap());
    std::fs::write(&copy, &bytes).unwrap();
    let o = fails(
        run_cli(&["inspect", copy.to_str().unwrap()], ""),
        "batch 1 at byte",
    );
    assert!(stderr(&o).contains("CRC mismatch"), "{}", stderr(&o));
    assert!(stdout(&o).contains("crc BAD"), "{}", stdout(&o));

    // A torn tail: half a header.
    std::fs::write(&copy, &bytes[..first + 30]).unwrap();
    fails(
        run_cli(&["inspect", copy.to_str().unwrap()], ""),
        "truncated header",
    );

    fails(
        run_cli(&["inspect", "/nonexistent/00000000000000000000.log"], ""),
        "No such file",
    );
}

#[test]
fn bad_broker_address_is_a_clear_error() {
    fails(
        run_cli(&["topics", "list", "--broker", "not an address"], ""),
        "bad --broker",
    );
    // Nothing listens on port 1 of loopback: connection refused, not a hang.
    fails(
        run_cli(&["topics", "list", "--broker", "127.0.0.1:1"], ""),
        "connect",
    );
}

/// Runs `body` on a one-shard runtime against a fresh broker.
fn with_client<T>(body: impl AsyncFnOnce(&TestBroker) -> T) -> T {
    let b = TestBroker::start();
    ringlog::runtime::block_on(&cli::runtime_config(), body(&b)).expect("runtime")
}

#[test]
fn pipelined_produces_come_back_in_order() {
    with_client(async |b| {
        let addr = b.addr.parse().unwrap();
        let options = ConnectOptions {
            in_flight_max: 16,
            ..ConnectOptions::default()
        };
        let mut conn = Connection::connect_with(addr, options).await.unwrap();
        conn.create_topics(&[("pipe", 1)]).await.unwrap();
        let version = conn.version(ApiKey::Produce).unwrap();
        for round in 0..3 {
            for i in 0..16 {
                let value = format!("r{round}-{i}");
                let batch = records::encode_batch(
                    &[records::ProducerRecord {
                        key: None,
                        value: Some(Bytes::from(value)),
                    }],
                    now_ms(),
                    Compression::None,
                )
                .unwrap();
                let request = api::produce_request("pipe", 0, batch, -1);
                conn.send(&request, version).await.unwrap();
            }
            assert_eq!(conn.in_flight(), 16);
            // The bound is enforced, not queued past.
            let extra = api::produce_request("pipe", 0, Bytes::new(), -1);
            assert!(matches!(
                conn.send(&extra, version).await,
                Err(ClientError::InFlightFull { in_flight_max: 16 })
            ));
            for i in 0..16 {
                let response = conn.recv::<ProduceRequest>().await.unwrap();
                let base = api::produce_result(&response, "pipe", 0).unwrap();
                assert_eq!(base, round * 16 + i, "responses in request order");
            }
        }
        let fetched = conn
            .fetch("pipe", 0, 0, 1 << 20, Duration::from_millis(100))
            .await
            .unwrap();
        assert_eq!(fetched.high_watermark, 48);
        let decoded = records::decode_batches(&fetched.records, "pipe-0").unwrap();
        assert_eq!(decoded.records.len(), 48);
        assert_eq!(decoded.records[17].value.as_deref(), Some(&b"r1-1"[..]));
        assert!(matches!(
            conn.recv::<ProduceRequest>().await,
            Err(ClientError::NothingInFlight)
        ));
    });
}

#[test]
fn client_helpers_and_kafka_errors() {
    with_client(async |b| {
        let mut conn = Connection::connect(b.addr.parse().unwrap()).await.unwrap();
        // Versions negotiated: the highest both speak.
        assert_eq!(conn.version(ApiKey::Metadata).unwrap(), 12);
        assert_eq!(conn.version(ApiKey::Fetch).unwrap(), 12);
        conn.create_topics(&[("helpers", 2)]).await.unwrap();
        let info = conn.topic("helpers", false).await.unwrap();
        assert_eq!(info.partitions.len(), 2);
        let batch = records::encode_batch(
            &[records::ProducerRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v")),
            }],
            1_000,
            Compression::Gzip,
        )
        .unwrap();
        assert_eq!(
            conn.produce("helpers", 1, batch.clone(), 1).await.unwrap(),
            0
        );
        assert_eq!(conn.produce("helpers", 1, batch, 0).await.unwrap(), -1);
        // acks=0 has no response; the next request still pairs with its own response.
        let ends = conn
            .list_offsets("helpers", &[0, 1], api::LATEST_TIMESTAMP)
            .await
            .unwrap();
        assert_eq!(ends, vec![0, 2]);
        let e = conn.topic("missing", false).await.unwrap_err();
        assert_eq!(e.kafka_code(), Some(3), "{e}");
        let e = conn
            .fetch("helpers", 9, 0, 1024, Duration::ZERO)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("fetch helpers-9"), "{e}");
        // A long poll with nothing to read returns after max_wait, within the bound.
        let start = Instant::now();
        let f = conn
            .fetch("helpers", 0, 0, 1024, Duration::from_millis(200))
            .await
            .unwrap();
        assert!(f.records.is_empty());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

/// Produces one batch to `topic`-`partition`, record `i` with value `{tag}-{i}` and the header
/// `tag = tags[i]` (`ringlog produce` sets no headers).
fn produce_tagged(addr: &str, topic: &str, partition: i32, tags: &[&str]) {
    use ringlog::storage::records::{encode_batch, BatchMeta, Record};
    let records: Vec<Record> = tags
        .iter()
        .enumerate()
        .map(|(i, tag)| Record {
            offset_delta: i as i32,
            timestamp_delta: 0,
            key: None,
            value: Some(Bytes::from(format!("{tag}-{i}"))),
            headers: vec![(
                Bytes::from_static(b"tag"),
                Some(Bytes::from(tag.to_string())),
            )],
        })
        .collect();
    let meta = BatchMeta {
        base_timestamp: now_ms(),
        ..BatchMeta::default()
    };
    let mut batch = Vec::new();
    encode_batch(&meta, &records, Compression::None, &mut batch).expect("encode");
    let addr = addr.parse().unwrap();
    ringlog::runtime::block_on(&cli::runtime_config(), async move {
        let mut conn = Connection::connect(addr).await.expect("connect");
        conn.produce(topic, partition, Bytes::from(batch), -1)
            .await
            .expect("produce")
    })
    .expect("runtime");
}

#[test]
fn views_create_list_describe_consume_delete() {
    // The client's config names are the broker's.
    assert_eq!(
        api::VIEW_SOURCE_CONFIG,
        ringlog::broker::topic_config::VIEW_SOURCE
    );
    assert_eq!(
        api::VIEW_FILTER_CONFIG,
        ringlog::broker::topic_config::VIEW_FILTER
    );
    let b = TestBroker::start();
    ok(b.cli(&["topics", "create", "orders", "--partitions", "2"], ""));
    let created = ok(b.cli(
        &[
            "views",
            "create",
            "red",
            "--source",
            "orders",
            "--filter",
            "tag = 'red'",
        ],
        "",
    ));
    assert!(
        stderr(&created).contains("created view red of orders"),
        "{}",
        stderr(&created)
    );
    // `--bootstrap` names the broker too.
    let list = stdout(&ok(run_cli(&["views", "list", "--bootstrap", &b.addr], "")));
    assert_eq!(list, "red\torders\t2\ttag = 'red'\n");

    // Refusals print the broker's reason and exit 1.
    let refused = fails(
        b.cli(
            &[
                "views", "create", "bad", "--source", "orders", "--filter", "tag = ",
            ],
            "",
        ),
        "position",
    );
    assert!(
        stderr(&refused).contains("create view bad of orders: broker error INVALID_CONFIG (40)"),
        "{}",
        stderr(&refused)
    );
    fails(
        b.cli(
            &[
                "views",
                "create",
                "lost",
                "--source",
                "nope",
                "--filter",
                "tag = 'red'",
            ],
            "",
        ),
        "INVALID_CONFIG",
    );
    fails(b.cli(&["views", "describe", "orders"], ""), "not a view");
    fails(b.cli(&["views", "describe", "nope"], ""), "nope");
    // `views delete` deletes views only: the source and its view stay.
    fails(b.cli(&["views", "delete", "orders"], ""), "not a view");
    fails(
        b.cli(&["topics", "delete", "orders"], ""),
        "POLICY_VIOLATION",
    );
    let list = stdout(&ok(b.cli(&["views", "list"], "")));
    assert_eq!(list, "red\torders\t2\ttag = 'red'\n");

    // Nothing delivered yet: no zero-copy share.
    let described = stdout(&ok(b.cli(&["views", "describe", "red"], "")));
    assert!(described.starts_with("view red\n"), "{described}");
    for line in [
        "  source             orders\n",
        "  filter             tag = 'red'\n",
        "  partitions         2\n",
        "  delivered bytes    0\n",
        "  zero-copy share    -\n",
    ] {
        assert!(described.contains(line), "{line:?} missing:\n{described}");
    }

    // Batches of one tag each (as RocketMQ producers send): the view's consumer gets the red
    // records only, and every delivered byte went zero-copy.
    // (Each partition ends with a match: the test below has a skipped tail.)
    produce_tagged(&b.addr, "orders", 0, &["blue", "blue", "blue"]);
    produce_tagged(&b.addr, "orders", 0, &["red", "red"]);
    produce_tagged(&b.addr, "orders", 1, &["blue"]);
    produce_tagged(&b.addr, "orders", 1, &["red"]);
    let consumed = stdout(&ok(b.cli(&["consume", "red", "--from-beginning", "-e"], "")));
    let mut values: Vec<&str> = consumed.lines().collect();
    values.sort_unstable();
    assert_eq!(values, ["red-0", "red-0", "red-1"], "{consumed}");
    let described = stdout(&ok(b.cli(&["views", "describe"], "")));
    for line in [
        "  zero-copy share    100.0%\n",
        "  bytes rewritten    0\n",
        "  batches whole      2\n",
        "  batches skipped    2\n",
        "  batches rewritten  0\n",
    ] {
        assert!(described.contains(line), "{line:?} missing:\n{described}");
    }
    let json = stdout(&ok(b.cli(&["views", "describe", "red", "--json"], "")));
    assert!(json.starts_with("{\"views\":[{\"name\":\"red\""), "{json}");
    assert!(json.contains("\"zero_copy_percent\":100.0,"), "{json}");
    assert_eq!(json.lines().count(), 1, "{json}");

    // Deleted: the view goes, its source stays (and can go now).
    let deleted = ok(b.cli(&["views", "delete", "red"], ""));
    assert!(stderr(&deleted).contains("deleted view red"));
    assert_eq!(stdout(&ok(b.cli(&["views", "list"], ""))), "");
    assert_eq!(stdout(&ok(b.cli(&["views", "describe"], ""))), "");
    fails(b.cli(&["views", "delete", "red"], ""), "red");
    let topics = stdout(&ok(b.cli(&["topics", "list"], "")));
    assert!(topics.lines().any(|l| l == "orders\t2"), "{topics}");
    ok(b.cli(&["topics", "delete", "orders"], ""));
}

#[test]
fn views_consume_past_a_skipped_tail() {
    let b = TestBroker::start();
    ok(b.cli(&["topics", "create", "orders", "--partitions", "1"], ""));
    ok(b.cli(
        &[
            "views",
            "create",
            "red",
            "--source",
            "orders",
            "--filter",
            "tag = 'red'",
        ],
        "",
    ));
    produce_tagged(&b.addr, "orders", 0, &["red", "red"]);
    produce_tagged(&b.addr, "orders", 0, &["blue", "blue", "blue"]);
    let consumed = stdout(&ok(b.cli(&["consume", "red", "--from-beginning", "-e"], "")));
    assert_eq!(consumed, "red-0\nred-1\n");
}
