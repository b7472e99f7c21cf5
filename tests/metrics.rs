//! The metrics endpoint (`--metrics`, issue #19) and the rejection log, black-box:
//!
//! - `load`: a known load (Produce, Fetch, OffsetCommit, one refused Produce) against a two-shard
//!   broker, scraped while a background producer runs and after; the exposition is parsed and
//!   validated (HELP/TYPE once per family, contiguous families, cumulative buckets ending in
//!   `+Inf` = `_count`), and its counters must agree with what was sent: request counts, bytes
//!   in and out, log end offsets, high watermarks, consumer lag, transfer bytes, fsyncs.
//! - `bad_http`: garbage, a non-GET, an unknown path, an oversized head, a slowloris client and
//!   more connections than the endpoint serves each get their status or a close, and neither
//!   the endpoint nor the Kafka side notices.
//! - `ten_thousand_partitions`: a scrape of 10,000 partitions (10 topics of 1,000), median of
//!   several, within 10 ms in a release build (debug builds only check a loose bound: the
//!   rendering is unoptimized there; say so when it runs).
//! - `rejection_log_is_bounded`: a spawned `ringlog serve --log-format json` gets 10,000
//!   unsupported-version requests and 200 unknown-api connections; every rejection is counted,
//!   the log holds at most the rate limit's lines plus the "suppressed" summary, and every line
//!   is a JSON object carrying the connection's span.

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use client::{
    batch, create_topic, fetch_request, produce_request, versions, Client, FetchAt, IO_TIMEOUT,
};
use kafka_protocol::messages::{
    create_topics_request, offset_commit_request, ApiKey, CreateTopicsRequest, GroupId,
    OffsetCommitRequest, SaslAuthenticateRequest, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::metrics::http::{
    HTTP_CONNECTIONS_MAX, HTTP_READ_TIMEOUT_MS, HTTP_REQUEST_BYTES_MAX,
};
use ringlog::broker::metrics::reject_log::{REJECT_LOG_BURST, REJECT_LOG_LINES_PER_SEC};
use ringlog::runtime::IoKind;

// ---------------------------------------------------------------------------------------------
// HTTP and the text format, as a scraper sees them.

/// Sends `request` and reads until the server closes: (status code, body).
fn http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to metrics");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(request).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .expect("read the response to its end");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    if status == 200 {
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("Content-Length: {head}"));
    assert_eq!(length, body.len(), "Content-Length matches the body");
    (status, body.to_string())
}

fn scrape(addr: SocketAddr) -> Exposition {
    let (status, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(status, 200, "{body}");
    Exposition::parse(&body)
}

/// One sample.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed and validated exposition.
struct Exposition {
    samples: Vec<Sample>,
}

impl Exposition {
    /// Parses the text format, checking what Prometheus relies on.
    fn parse(text: &str) -> Exposition {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps: HashMap<String, ()> = HashMap::new();
        let mut finished: Vec<String> = Vec::new(); // families whose samples ended
        let mut current: Option<String> = None;
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert!(
                    helps.insert(name.to_string(), ()).is_none(),
                    "HELP twice: {name}"
                );
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(
                    types.insert(name.to_string(), kind.to_string()).is_none(),
                    "TYPE twice: {name}"
                );
                continue;
            }
            assert!(!line.starts_with('#'), "unknown comment {line}");
            let sample = parse_sample(line);
            let family = family_of(&sample.name, &types);
            assert!(
                types.contains_key(&family) && helps.contains_key(&family),
                "sample before its HELP/TYPE: {line}"
            );
            if current.as_deref() != Some(family.as_str()) {
                assert!(
                    !finished.contains(&family),
                    "family {family} not contiguous"
                );
                if let Some(done) = current.take() {
                    finished.push(done);
                }
                current = Some(family.clone());
            }
            samples.push(sample);
        }
        let exposition = Exposition { samples };
        exposition.check_histograms(&types);
        exposition
    }

    /// Buckets cumulative, `+Inf` equal to `_count`, per series.
    fn check_histograms(&self, types: &HashMap<String, String>) {
        let mut series: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        let mut counts: HashMap<String, f64> = HashMap::new();
        for s in &self.samples {
            let key = |s: &Sample| {
                let mut l: Vec<String> = s
                    .labels
                    .iter()
                    .filter(|(k, _)| k != "le")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                l.sort();
                l.join(",")
            };
            if let Some(base) = s.name.strip_suffix("_bucket") {
                if types.get(base).map(String::as_str) == Some("histogram") {
                    let le = s.label("le").expect("bucket with le");
                    let bound = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().expect("numeric le")
                    };
                    series
                        .entry(format!("{base}|{}", key(s)))
                        .or_default()
                        .push((bound, s.value));
                }
            } else if let Some(base) = s.name.strip_suffix("_count") {
                if types.get(base).map(String::as_str) == Some("histogram") {
                    counts.insert(format!("{base}|{}", key(s)), s.value);
                }
            }
        }
        for (k, buckets) in &series {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{k}: buckets ascend and cumulate: {buckets:?}"
            );
            let last = buckets.last().unwrap();
            assert_eq!(last.0, f64::INFINITY, "{k}: ends with +Inf");
            assert_eq!(Some(&last.1), counts.get(k), "{k}: +Inf = _count");
        }
    }

    /// Sum of the samples named `name` whose labels include all of `with`.
    fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.matching(name, with).map(|s| s.value).sum()
    }

    /// The one sample named `name` with these labels.
    fn one(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.matching(name, with).collect();
        assert_eq!(found.len(), 1, "{name} {with:?}: {found:?}");
        found[0].value
    }

    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.name == name && with.iter().all(|(k, v)| s.label(k) == Some(*v)))
    }
}

fn family_of(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).map(String::as_str) == Some("histogram") {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

/// `name{k="v",...} value` with the format's escapes.
fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
            let mut labels = Vec::new();
            let mut chars = body.chars().peekable();
            while chars.peek().is_some() {
                let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                assert_eq!(chars.next(), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(c @ ('\\' | '"')) => value.push(c),
                            other => panic!("bad escape {other:?} in {line}"),
                        },
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => panic!("unterminated label in {line}"),
                    }
                }
                labels.push((key, value));
                match chars.next() {
                    Some(',') | None => {}
                    other => panic!("{other:?} after a label in {line}"),
                }
            }
            (name, labels)
        }
    };
    assert!(
        name.starts_with("ringlog_")
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "{line}"
    );
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

/// Scrapes until `check` holds (a response is written before its request is counted, so a
/// scrape right after an answer may miss the last request by a few microseconds); panics with
/// the last failure after a few seconds.
fn scrape_until(addr: SocketAddr, mut check: impl FnMut(&Exposition) -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let e = scrape(addr);
        match check(&e) {
            Ok(()) => return,
            Err(why) if Instant::now() > deadline => panic!("{why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn eq(what: &str, got: f64, want: f64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, want {want}"))
    }
}

/// A two-shard broker with the metrics endpoint on a free loopback port.
struct MetricsBroker {
    broker: Option<ringlog::broker::Broker>,
    addr: SocketAddr,
    // Dropped after the broker (field order).
    _dir: tempfile::TempDir,
}

impl MetricsBroker {
    fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    fn stop(mut self) {
        client::stop(self.broker.take().expect("running"));
    }
}

impl Drop for MetricsBroker {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            std::thread::spawn(move || drop(b));
        }
    }
}

fn start_with_metrics(io: IoKind) -> (MetricsBroker, SocketAddr) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = client::start_in(dir.path(), io, |c| {
        c.metrics = Some("127.0.0.1:0".parse().unwrap());
    });
    let metrics = broker.metrics_addr().expect("a metrics endpoint");
    let addr = broker.local_addr();
    let broker = MetricsBroker {
        broker: Some(broker),
        addr,
        _dir: dir,
    };
    (broker, metrics)
}

fn commit(client: &mut Client, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|&(p, o)| {
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                        })
                        .collect(),
                ),
        ]);
    let resp = client.call(2, &req);
    for p in &resp.topics[0].partitions {
        assert_eq!(p.error_code, 0, "commit {p:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The load.

/// Records per partition, and the value size of each.
const RECORDS: i64 = 500;
const VALUE_BYTES: usize = 100;
/// Records per Produce request.
const RECORDS_PER_PRODUCE: i64 = 50;

fn load_counts_agree(io: IoKind) {
    let (broker, maddr) = start_with_metrics(io);
    let mut c = broker.connect();
    let id = create_topic(&mut c, "load", 2);
    create_topic(&mut c, "bg", 1);

    // A producer of its own connection runs through the first scrapes.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bg = {
        let (addr, stop) = (broker.addr, stop.clone());
        std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                client::produce_one(&mut c, "bg", 0, &batch(0, &[b"bg"]));
                sent += 1;
            }
            sent
        })
    };
    let value = [b'v'; VALUE_BYTES];
    let values: Vec<&[u8]> = (0..RECORDS_PER_PRODUCE).map(|_| &value[..]).collect();
    let mut produces = 0u64;
    let mut payload = 0usize;
    let mut last_seen = 0.0;
    let v = *versions(ApiKey::Produce).end();
    for round in 0..RECORDS / RECORDS_PER_PRODUCE {
        for p in 0..2 {
            let records = batch(0, &values);
            payload += records.len();
            let resp = c.call(v, &produce_request("load", -1, &[(p, records)]));
            assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
            produces += 1;
        }
        if round % 3 == 0 {
            // Counters only grow while the load runs.
            let e = scrape(maddr);
            let now = e.sum("ringlog_requests_total", &[("api", "Produce")]);
            assert!(
                now >= last_seen,
                "Produce count went back: {now} < {last_seen}"
            );
            last_seen = now;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let bg_sent = bg.join().expect("background producer");
    // One refused Produce (no such partition): an error code, counted.
    let resp = c.call(v, &produce_request("load", -1, &[(99, batch(0, &[b"x"]))]));
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 3);
    produces += 1;

    // Fetch everything back.
    let fv = *versions(ApiKey::Fetch).end();
    let mut fetched_record_bytes = 0usize;
    let mut fetches = 0u64;
    for p in 0..2 {
        let mut offset = 0i64;
        while offset < RECORDS {
            let at = [FetchAt {
                topic: "load",
                topic_id: id,
                partition: p,
                offset,
            }];
            let resp = c.call(fv, &fetch_request(fv, &at, 0, 0));
            fetches += 1;
            let part = &resp.responses[0].partitions[0];
            assert_eq!(part.error_code, 0);
            let records = part.records.clone().unwrap_or_default();
            assert!(!records.is_empty(), "fetch from {offset} returned nothing");
            fetched_record_bytes += records.len();
            offset = next_offset(&records);
        }
    }
    let committed = [(0, 200), (1, RECORDS)];
    commit(&mut c, "metrics-group", "load", &committed);

    scrape_until(maddr, |e| {
        let produce_total = (produces + bg_sent) as f64;
        eq(
            "Produce requests",
            e.sum("ringlog_requests_total", &[("api", "Produce")]),
            produce_total,
        )?;
        eq(
            "Produce latency count",
            e.sum(
                "ringlog_request_duration_seconds_count",
                &[("api", "Produce")],
            ),
            produce_total,
        )?;
        eq(
            "Fetch requests",
            e.sum("ringlog_requests_total", &[("api", "Fetch")]),
            fetches as f64,
        )?;
        eq(
            "OffsetCommit requests",
            e.sum("ringlog_requests_total", &[("api", "OffsetCommit")]),
            1.0,
        )?;
        eq(
            "record bytes sent from files",
            e.sum("ringlog_transfer_bytes_total", &[]),
            fetched_record_bytes as f64,
        )
    });
    let e = scrape(maddr);
    assert_eq!(
        e.sum(
            "ringlog_request_errors_total",
            &[("api", "Produce"), ("code", "UNKNOWN_TOPIC_OR_PARTITION")]
        ),
        1.0
    );
    assert!(e.sum("ringlog_bytes_in_total", &[]) >= payload as f64);
    assert!(e.sum("ringlog_bytes_out_total", &[]) >= fetched_record_bytes as f64);
    for p in ["0", "1"] {
        let part = [("topic", "load"), ("partition", p)];
        assert_eq!(
            e.one("ringlog_partition_log_end_offset", &part),
            RECORDS as f64
        );
        assert_eq!(
            e.one("ringlog_partition_high_watermark", &part),
            RECORDS as f64
        );
        assert_eq!(e.one("ringlog_partition_log_start_offset", &part), 0.0);
        assert!(
            e.one("ringlog_partition_size_bytes", &part) >= (RECORDS as usize * VALUE_BYTES) as f64
        );
        assert!(e.one("ringlog_partition_segments", &part) >= 1.0);
    }
    assert_eq!(
        e.one(
            "ringlog_partition_log_end_offset",
            &[("topic", "bg"), ("partition", "0")]
        ),
        bg_sent as f64
    );
    assert_eq!(e.sum("ringlog_partitions", &[]), 3.0);
    for (p, offset) in committed {
        let labels = [
            ("group", "metrics-group"),
            ("topic", "load"),
            ("partition", &*p.to_string()),
        ];
        assert_eq!(
            e.one("ringlog_consumer_committed_offset", &labels),
            offset as f64
        );
        assert_eq!(
            e.one("ringlog_consumer_lag", &labels),
            (RECORDS - offset) as f64
        );
    }
    // Every acknowledged record was fdatasynced (flush=always), in group commits.
    assert!(e.sum("ringlog_fsync_duration_seconds_count", &[]) > 0.0);
    assert!(
        e.sum("ringlog_group_commit_records_sum", &[]) >= (2 * RECORDS) as f64 + bg_sent as f64
    );
    assert!(e.sum("ringlog_connections_open", &[]) >= 1.0);
    assert!(e.sum("ringlog_connections_accepted_total", &[]) >= 2.0);
    assert_eq!(
        e.sum("ringlog_requests_rejected_total", &[]),
        0.0,
        "nothing was refused"
    );
    assert!(e.has("ringlog_request_budget_limit_bytes"));
    assert_eq!(
        e.has("ringlog_uring_submissions_total"),
        io == IoKind::Uring
    );
    if io == IoKind::Uring {
        assert!(e.sum("ringlog_uring_submissions_total", &[]) > 0.0);
        assert!(e.sum("ringlog_uring_completions_total", &[]) > 0.0);
    }

    // A filtered view over `load` that matches nothing (the records carry no header): its
    // reads are counted per view and outcome, nothing goes out zero-copy.
    let cv = *versions(ApiKey::CreateTopics).end();
    let view = CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("load-red")))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_configs(
                [
                    ("ringlog.view.source", "load"),
                    ("ringlog.view.filter", "tag = 'red'"),
                ]
                .into_iter()
                .map(|(k, v)| {
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(StrBytes::from_static_str(k))
                        .with_value(Some(StrBytes::from_static_str(v)))
                })
                .collect(),
            )]);
    assert_eq!(c.call(cv, &view).topics[0].error_code, 0, "view created");
    let at = [FetchAt {
        topic: "load-red",
        topic_id: Default::default(),
        partition: 0,
        offset: 0,
    }];
    let resp = c.call(12, &fetch_request(12, &at, 0, 0));
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);
    scrape_until(maddr, |e| {
        let view = [("view", "load-red")];
        let decided = e.sum("ringlog_view_batches_total", &view);
        if decided < 1.0 {
            return Err(format!("view batches decided: {decided}"));
        }
        eq(
            "view bytes sent zero-copy",
            e.sum("ringlog_view_bytes_zero_copy_total", &view),
            0.0,
        )?;
        eq(
            "view batches sent whole",
            e.sum(
                "ringlog_view_batches_total",
                &[("view", "load-red"), ("outcome", "whole")],
            ),
            0.0,
        )
    });
    drop(c);
    broker.stop();
}

/// The offset after the last batch of a Fetch's record bytes.
fn next_offset(records: &[u8]) -> i64 {
    let mut at = 0usize;
    let mut next = 0i64;
    while at + 61 <= records.len() {
        let base = i64::from_be_bytes(records[at..at + 8].try_into().unwrap());
        let len = i32::from_be_bytes(records[at + 8..at + 12].try_into().unwrap()) as usize;
        let last_delta = i32::from_be_bytes(records[at + 23..at + 27].try_into().unwrap());
        next = base + i64::from(last_delta) + 1;
        at += 12 + len;
    }
    next
}

// ---------------------------------------------------------------------------------------------
// Bad HTTP.

fn bad_http_never_affects_the_broker(io: IoKind) {
    let (broker, maddr) = start_with_metrics(io);
    let mut kafka = broker.connect();
    create_topic(&mut kafka, "t", 1);

    assert_eq!(http(maddr, b"\x00\x01garbage\r\n\r\n").0, 400);
    assert_eq!(http(maddr, b"POST /metrics HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(http(maddr, b"GET /other HTTP/1.1\r\n\r\n").0, 404);
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    huge.resize(64 * 1024, b'a');
    assert_eq!(http(maddr, &huge).0, 431, "an oversized head");
    huge.truncate(HTTP_REQUEST_BYTES_MAX);
    assert_eq!(
        http(maddr, &huge).0,
        431,
        "a head of exactly the bound, unfinished"
    );
    let mut many = b"GET /metrics HTTP/1.1\r\n".to_vec();
    for i in 0..1000 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    assert_eq!(http(maddr, &many).0, 431, "too many headers");

    // Slowloris: half a head, then nothing. Scrapes and Kafka go on meanwhile; the endpoint
    // closes the slow connection after its read timeout.
    let started = Instant::now();
    let mut slow = TcpStream::connect(maddr).unwrap();
    slow.write_all(b"GET /met").unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(HTTP_READ_TIMEOUT_MS * 3)))
        .unwrap();
    scrape(maddr);
    client::produce_one(&mut kafka, "t", 0, &batch(0, &[b"during slowloris"]));
    let mut buf = [0u8; 64];
    let n = slow.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(HTTP_READ_TIMEOUT_MS - 100)
            && waited < Duration::from_millis(HTTP_READ_TIMEOUT_MS * 2),
        "closed after {waited:?}"
    );

    // More idle connections than the endpoint serves: the extra ones are closed at once, and
    // a scrape gets through as soon as the held ones are gone.
    let held: Vec<TcpStream> = (0..HTTP_CONNECTIONS_MAX)
        .map(|_| TcpStream::connect(maddr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = TcpStream::connect(maddr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        extra.read(&mut buf).unwrap_or(0),
        0,
        "over the bound: closed"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(100));
    let e = scrape(maddr);
    assert_eq!(e.sum("ringlog_requests_rejected_total", &[]), 0.0);
    client::produce_one(&mut kafka, "t", 0, &batch(0, &[b"after"]));
    broker.stop();
}

// ---------------------------------------------------------------------------------------------
// 10,000 partitions.

/// Scrapes timed (the median is checked).
const TIMED_SCRAPES: usize = 9;
/// The bound, release builds.
const SCRAPE_MS_MAX_RELEASE: f64 = 10.0;
/// Debug builds render unoptimized: only a sanity bound there.
const SCRAPE_MS_MAX_DEBUG: f64 = 1_000.0;

fn ten_thousand_partitions(io: IoKind) {
    let (broker, maddr) = start_with_metrics(io);
    let mut c = broker.connect();
    let started = Instant::now();
    for t in 0..10 {
        create_topic(&mut c, &format!("many-{t}"), 1_000);
    }
    let created = started.elapsed();
    let first = scrape(maddr);
    assert_eq!(first.sum("ringlog_partitions", &[]), 10_000.0);
    assert_eq!(
        first
            .samples
            .iter()
            .filter(|s| s.name == "ringlog_partition_log_end_offset")
            .count(),
        10_000
    );
    let mut times: Vec<f64> = (0..TIMED_SCRAPES)
        .map(|_| {
            let t = Instant::now();
            let (status, body) = http(maddr, b"GET /metrics HTTP/1.1\r\n\r\n");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(status, 200);
            assert!(body.len() > 10_000 * 5 * 40);
            ms
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[TIMED_SCRAPES / 2];
    let (bound, build) = if cfg!(debug_assertions) {
        (SCRAPE_MS_MAX_DEBUG, "debug (unoptimized: loose bound)")
    } else {
        (SCRAPE_MS_MAX_RELEASE, "release")
    };
    eprintln!(
        "10,000 partitions ({io}, created in {created:?}): scrape median {median:.2} ms, \
         min {:.2}, max {:.2} ({build} build, bound {bound} ms)",
        times[0],
        times[TIMED_SCRAPES - 1]
    );
    assert!(
        median < bound,
        "scrape median {median:.2} ms over {bound} ms"
    );
    broker.stop();
}

// ---------------------------------------------------------------------------------------------
// The rejection log of a spawned broker.

/// Bad requests sent on one connection (each answered, the connection kept).
const BAD_REQUESTS: usize = 10_000;
/// Connections that each send one request of an unknown api key (each closed).
const UNKNOWN_API_CONNECTIONS: usize = 200;
/// How long the test waits for the periodic "suppressed" line (its interval plus slack).
const SUMMARY_WAIT: Duration = Duration::from_secs(15);

/// An ApiVersions request at a version nobody serves, client id "flood".
fn bad_api_versions(correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&99i16.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&5i16.to_be_bytes());
    body.extend_from_slice(b"flood");
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn rejection_log_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringlog"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ])
        .args(["--cores", "2", "--log-format", "json", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ringlog serve");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        })
    };
    // The addresses, from the start-up lines.
    let find = |needle: &str, end: char| -> Option<String> {
        lines.lock().unwrap().iter().find_map(|l| {
            let at = l.find(needle)? + needle.len();
            Some(l[at..].split(end).next()?.to_string())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (kafka, metrics) = loop {
        if let (Some(k), Some(m)) = (find("listen=", ' '), find("http://", '/')) {
            break (
                k.parse::<SocketAddr>().unwrap(),
                m.parse::<SocketAddr>().unwrap(),
            );
        }
        assert!(
            Instant::now() < deadline,
            "no start-up lines: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    };

    let flood_started = Instant::now();
    let mut flood = Client::connect(kafka);
    let mut frames = Vec::new();
    for i in 0..BAD_REQUESTS {
        frames.extend_from_slice(&bad_api_versions(i as i32));
    }
    let mut answers = flood.stream.try_clone().unwrap();
    let counter = std::thread::spawn(move || {
        let mut prefix = [0u8; 4];
        let mut n = 0;
        while n < BAD_REQUESTS && answers.read_exact(&mut prefix).is_ok() {
            let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
            answers.read_exact(&mut body).unwrap();
            n += 1;
        }
        n
    });
    flood.write_raw(&frames).unwrap();
    assert_eq!(counter.join().unwrap(), BAD_REQUESTS, "every one answered");
    for i in 0..UNKNOWN_API_CONNECTIONS {
        let mut c = Client::connect(kafka);
        let mut frame = bad_api_versions(i as i32);
        frame[4..6].copy_from_slice(&9_999i16.to_be_bytes());
        c.write_raw(&frame).unwrap();
        c.assert_closed("unknown api key");
    }
    let e = scrape(metrics);
    assert_eq!(
        e.sum(
            "ringlog_requests_rejected_total",
            &[("reason", "unsupported_version")]
        ),
        BAD_REQUESTS as f64
    );
    assert_eq!(
        e.sum(
            "ringlog_requests_rejected_total",
            &[("reason", "unknown_api")]
        ),
        UNKNOWN_API_CONNECTIONS as f64
    );
    // The flood is over; the next summary reports what was held back.
    let deadline = Instant::now() + SUMMARY_WAIT;
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("rejected requests suppressed"))
    {
        assert!(Instant::now() < deadline, "no suppressed-lines summary");
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = flood_started.elapsed().as_secs_f64();
    // SIGTERM: the broker stops cleanly and the reader sees the end of its stderr.
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    reader.join().unwrap();

    let lines = lines.lock().unwrap();
    let rejected: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("rejected request:"))
        .collect();
    let shards = 2.0;
    let bound =
        shards * (REJECT_LOG_BURST as f64 + REJECT_LOG_LINES_PER_SEC as f64 * (elapsed + 1.0));
    eprintln!(
        "{} rejection lines for {} rejected requests in {elapsed:.1} s (bound {bound:.0}); \
         {} lines in all",
        rejected.len(),
        BAD_REQUESTS + UNKNOWN_API_CONNECTIONS,
        lines.len()
    );
    assert!(!rejected.is_empty(), "rejections are logged");
    assert!(rejected.len() as f64 <= bound, "{} lines", rejected.len());
    assert!(
        lines.len() < 400,
        "the whole log stays small: {} lines",
        lines.len()
    );
    for l in lines.iter() {
        assert!(
            l.starts_with('{') && l.ends_with('}'),
            "not a JSON line: {l}"
        );
    }
    for l in &rejected {
        assert!(
            l.contains("\"name\":\"conn\"") && l.contains("\"peer\":\"127.0.0.1:"),
            "a rejection names its connection: {l}"
        );
        assert!(l.contains("UNSUPPORTED_VERSION"), "{l}");
    }
}

/// Refused SASL logins go through the rejection bucket (a password-guessing client cannot
/// flood the log) and are counted: `ringlog_requests_rejected_total{reason="authentication_failed"}`.
fn failed_logins_are_counted(io: IoKind) {
    const BAD_LOGINS: usize = 12;
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = client::start_in(dir.path(), io, |c| {
        c.metrics = Some("127.0.0.1:0".parse().unwrap());
        c.apply(ringlog::broker::config::ConfigOverrides {
            listen: vec!["SASL_PLAINTEXT://127.0.0.1:0".into()],
            ..Default::default()
        })
        .unwrap();
    });
    let metrics = broker.metrics_addr().expect("a metrics endpoint");
    for _ in 0..BAD_LOGINS {
        let mut c = Client::connect(broker.local_addr());
        let h = c.call(
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        );
        assert_eq!(h.error_code, 0);
        let a = c.call(
            2,
            &SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from_static(b"\0nobody\0wrong")),
        );
        assert_eq!(a.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    }
    scrape_until(metrics, |e| {
        eq(
            "refused logins",
            e.sum(
                "ringlog_requests_rejected_total",
                &[("reason", "authentication_failed")],
            ),
            BAD_LOGINS as f64,
        )
    });
    client::stop(broker);
}

mod uring {
    use super::*;

    #[test]
    fn load() {
        load_counts_agree(IoKind::Uring);
    }

    #[test]
    fn failed_logins() {
        failed_logins_are_counted(IoKind::Uring);
    }

    #[test]
    fn bad_http() {
        bad_http_never_affects_the_broker(IoKind::Uring);
    }

    #[test]
    fn ten_thousand_partitions() {
        super::ten_thousand_partitions(IoKind::Uring);
    }
}

mod epoll {
    use super::*;

    #[test]
    fn failed_logins() {
        failed_logins_are_counted(IoKind::Epoll);
    }

    #[test]
    fn load() {
        load_counts_agree(IoKind::Epoll);
    }

    #[test]
    fn bad_http() {
        bad_http_never_affects_the_broker(IoKind::Epoll);
    }
}
