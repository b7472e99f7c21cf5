//! Filtered views (issue #17) through the wire, as an operator and a Kafka admin client meet
//! them: created by CreateTopics with `ringlog.view.source` and `ringlog.view.filter` (partitions
//! the source's, the configs echoed), refused with Kafka's codes when the filter does not parse
//! (with the position of the error), the source is unknown or is a view itself; produce to a view
//! refused; its source undeletable while it exists; and DescribeViews (api key 32002, the
//! ringlog-private API behind `ringlog views`) listing it with counters that move once the view
//! is read, summed over both shards, refused outside its one version, never advertised.
//!
//! kafka-protocol (these tests' independent codec) cannot know a private API, so DescribeViews'
//! frames are written and read here byte by byte, from the layout documented in
//! `crates/protocol/src/messages/describe_views.rs`:
//!
//! ```text
//!  request:  size i32 | key i16 = 32002 | version i16 | correlation i32 | client_id i16 + bytes
//!            | header tags 00 | views: compact array of compact strings (00 = null) | tags 00
//!  response: size i32 | correlation i32 | header tags 00 | throttle i32 | error i16
//!            | error_message compact nullable string
//!            | views: compact array of { name, source, filter: compact strings,
//!                                        partitions i32, seven i64 counters, tags }
//!            | tags
//! ```

use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    create_topics_request, delete_topics_request, ApiKey, CreateTopicsRequest, DeleteTopicsRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::topic_config::{VIEW_FILTER, VIEW_SOURCE};
use ringlog::runtime::IoKind;
use ringlog::storage::batch::testing::{build_batch_with, BatchSpec, TestRecord};

use super::client::*;

/// DescribeViews' api key: ringlog's third private key.
const DESCRIBE_VIEWS: i16 = 32_002;
/// UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// INVALID_TOPIC_EXCEPTION: an invalid name, and Kafka's answer to a produce to a topic that
/// takes none.
const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// INVALID_PARTITIONS.
const INVALID_PARTITIONS: i16 = 37;
/// INVALID_CONFIG.
const INVALID_CONFIG: i16 = 40;
/// POLICY_VIOLATION.
const POLICY_VIOLATION: i16 = 44;
/// DYNAMIC_TOPIC_CONFIG, the config source of a config set on the topic.
const SOURCE_TOPIC: i8 = 1;
/// Connections asking at once: with two shards, SO_REUSEPORT lands some on each.
const CONNECTIONS: usize = 6;
/// Partitions of the source topic.
const SOURCE_PARTITIONS: i32 = 3;
/// How long the broker's index builder may take to look at a few batches: it looks every
/// second (`view::BUILD_INTERVAL_MS`); the rest is slack for a loaded machine.
const BUILDER_CATCH_UP: Duration = Duration::from_secs(10);

/// A whole DescribeViews request frame at `version` (the v0 layout whatever the version, for
/// the refusal tests).
fn describe_views_frame(version: i16, correlation_id: i32, views: Option<&[&str]>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&DESCRIBE_VIEWS.to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    b.extend_from_slice(CLIENT_ID.as_bytes());
    b.push(0); // header tagged fields
    match views {
        None => b.push(0),
        Some(names) => {
            put_uvarint(&mut b, names.len() as u32 + 1);
            for name in names {
                put_uvarint(&mut b, name.len() as u32 + 1);
                b.extend_from_slice(name.as_bytes());
            }
        }
    }
    b.push(0); // body tagged fields
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b
}

fn put_uvarint(b: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// One view of a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Described {
    name: String,
    source: String,
    filter: String,
    partitions: i32,
    bytes_zero_copy: i64,
    bytes_rewritten: i64,
    batches_whole: i64,
    batches_skipped: i64,
    batches_rewritten: i64,
    batches_unindexed: i64,
    index_backlog_offsets: i64,
}

/// A response: error code, error message, views.
type Answer = (i16, Option<String>, Vec<Described>);

/// Reads a response frame body (after the size prefix); every byte must be consumed.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(self.0.len() >= n, "response ends early: {n} bytes wanted");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    fn uvarint(&mut self) -> u32 {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)[0];
            v |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
        }
        panic!("uvarint longer than 5 bytes");
    }
    fn nullable_string(&mut self) -> Option<String> {
        let len = self.uvarint().checked_sub(1)? as usize;
        Some(String::from_utf8(self.take(len).to_vec()).expect("UTF-8 string"))
    }
    fn string(&mut self, what: &str) -> String {
        self.nullable_string()
            .unwrap_or_else(|| panic!("{what} is not nullable"))
    }
    fn no_tagged_fields(&mut self) {
        assert_eq!(self.uvarint(), 0, "the broker writes no tagged fields here");
    }
}

/// Parses a DescribeViews v0 response.
fn parse_response(frame: &[u8], correlation_id: i32) -> Answer {
    let mut c = Cursor(frame);
    assert_eq!(c.i32(), correlation_id, "correlation id");
    c.no_tagged_fields(); // response header v1
    assert_eq!(c.i32(), 0, "throttle_time_ms");
    let error_code = c.i16();
    let error_message = c.nullable_string();
    let count = c
        .uvarint()
        .checked_sub(1)
        .expect("views is not nullable in the response");
    let mut views = Vec::new();
    for _ in 0..count {
        let v = Described {
            name: c.string("name"),
            source: c.string("source"),
            filter: c.string("filter"),
            partitions: c.i32(),
            bytes_zero_copy: c.i64(),
            bytes_rewritten: c.i64(),
            batches_whole: c.i64(),
            batches_skipped: c.i64(),
            batches_rewritten: c.i64(),
            batches_unindexed: c.i64(),
            index_backlog_offsets: c.i64(),
        };
        c.no_tagged_fields();
        views.push(v);
    }
    c.no_tagged_fields();
    assert!(
        c.0.is_empty(),
        "{} bytes after the response body",
        c.0.len()
    );
    (error_code, error_message, views)
}

/// DescribeViews v0 on `client`.
fn describe_views(client: &mut Client, views: Option<&[&str]>) -> Answer {
    let corr = client.next_correlation_id();
    client
        .write_raw(&describe_views_frame(0, corr, views))
        .expect("send DescribeViews");
    let frame = client
        .read_frame()
        .unwrap_or_else(|e| panic!("DescribeViews {views:?}: no answer: {e}"));
    parse_response(&frame, corr)
}

/// CreateTopics of one topic with `configs`, replication factor -1 (broker default).
fn create_request(name: &str, partitions: i32, configs: &[(&str, &str)]) -> CreateTopicsRequest {
    let mut req = create_topics_request(&[(name, partitions, -1)]);
    req.topics[0].configs = configs
        .iter()
        .map(|(k, v)| {
            create_topics_request::CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    req
}

/// The configs of a view over `source` through `filter`.
fn view_configs<'a>(source: &'a str, filter: &'a str) -> [(&'a str, &'a str); 2] {
    [(VIEW_SOURCE, source), (VIEW_FILTER, filter)]
}

/// CreateTopics (highest version) of the view; (error code, error message).
fn create_view(
    client: &mut Client,
    name: &str,
    source: &str,
    filter: &str,
) -> (i16, Option<String>) {
    let v = *versions(ApiKey::CreateTopics).end();
    let resp = client.call(v, &create_request(name, -1, &view_configs(source, filter)));
    assert_eq!(resp.topics.len(), 1, "{resp:?}");
    let t = &resp.topics[0];
    (
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// DeleteTopics (highest version) of one topic by name; (error code, error message).
fn delete_topic(client: &mut Client, name: &str) -> (i16, Option<String>) {
    let v = *versions(ApiKey::DeleteTopics).end();
    let req = DeleteTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![
            delete_topics_request::DeleteTopicState::default().with_name(Some(topic_name(name)))
        ]);
    let resp = client.call(v, &req);
    let r = &resp.responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// A batch of value-only records, record `i` with the header `tag = tags[i]`, stamped as the
/// broker stamps (leader epoch 0).
fn tagged_batch(tags: &[&str]) -> Vec<u8> {
    let mut b = build_batch_with(&BatchSpec {
        base_timestamp_ms: 1_700_000_000_000,
        records: tags
            .iter()
            .enumerate()
            .map(|(i, tag)| TestRecord {
                value: Some(format!("{tag}-{i}").into_bytes()),
                timestamp_delta_ms: i as i64,
                headers: vec![("tag".to_string(), Some(tag.as_bytes().to_vec()))],
                ..TestRecord::default()
            })
            .collect(),
        ..BatchSpec::default()
    });
    ringlog::storage::batch::stamp(&mut b, 0, 0);
    b
}

pub fn views_are_created_refused_and_described(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();

    // Kafka clients see no trace of the private API, at any ApiVersions version.
    for v in versions(ApiKey::ApiVersions) {
        let resp = c.call(v, &api_versions_request(v));
        assert_eq!(resp.error_code, 0, "ApiVersions v{v}");
        assert!(
            resp.api_keys.iter().all(|k| k.api_key != DESCRIBE_VIEWS),
            "ApiVersions v{v} lists DescribeViews: {:?}",
            resp.api_keys
        );
    }
    // No views yet: an empty answer, for all views and for an empty list alike.
    assert_eq!(describe_views(&mut c, None), (0, None, vec![]));
    assert_eq!(describe_views(&mut c, Some(&[])), (0, None, vec![]));

    let source = "orders";
    let source_id = create_topic(&mut c, source, SOURCE_PARTITIONS);
    let (view, filter) = ("red-orders", "tag = 'red'");

    // Created with the source's partition count (-1 asked), its configs echoed (v5+).
    let create_v = *versions(ApiKey::CreateTopics).end();
    assert!(create_v >= 5, "CreateTopics v{create_v} lists no configs");
    let resp = c.call(
        create_v,
        &create_request(view, -1, &view_configs(source, filter)),
    );
    let t = &resp.topics[0];
    assert_eq!(t.error_code, 0, "create view: {:?}", t.error_message);
    assert_eq!(t.num_partitions, SOURCE_PARTITIONS, "{t:?}");
    let view_id = t.topic_id;
    assert!(!view_id.is_nil() && view_id != source_id, "{t:?}");
    let listed: Vec<(String, Option<String>, i8)> = t
        .configs
        .as_ref()
        .expect("configs from v5")
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map(|v| v.to_string()),
                c.config_source,
            )
        })
        .collect();
    for (key, value) in view_configs(source, filter) {
        assert!(
            listed.contains(&(key.to_string(), Some(value.to_string()), SOURCE_TOPIC)),
            "{key}={value} not echoed: {listed:?}"
        );
    }

    // Refusals: each with Kafka's code and a message saying why; none creates anything.
    let (code, message) = create_view(&mut c, "bad-filter", source, "tag = ");
    assert_eq!(code, INVALID_CONFIG, "{message:?}");
    let message = message.unwrap_or_default();
    assert!(message.contains("position"), "{message}");
    let (code, message) = create_view(&mut c, "no-source", "no-such-topic", filter);
    assert_eq!(code, INVALID_CONFIG, "{message:?}");
    assert!(
        message.unwrap_or_default().contains("no-such-topic"),
        "the message names the missing source"
    );
    let (code, message) = create_view(&mut c, "view-of-view", view, filter);
    assert_eq!(code, INVALID_CONFIG, "{message:?}");
    assert!(message.unwrap_or_default().contains(view), "names the view");
    let resp = c.call(
        create_v,
        &create_request("wrong-count", 2, &view_configs(source, filter)),
    );
    assert_eq!(resp.topics[0].error_code, INVALID_PARTITIONS, "{resp:?}");
    let (code, message) = create_view(&mut c, view, source, filter);
    assert_eq!(code, 36, "TOPIC_ALREADY_EXISTS: {message:?}");

    // Produce to the view is refused, and nothing reaches the source.
    let produce_v = *versions(ApiKey::Produce).end();
    let resp = c.call(
        produce_v,
        &produce_request(view, -1, &[(0, tagged_batch(&["red"]))]),
    );
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, INVALID_TOPIC_EXCEPTION, "{p:?}");
    let (_, high_watermark, _) = fetch_one(&mut c, source, source_id, 0, 0);
    assert_eq!(
        high_watermark, 0,
        "a refused produce appended to the source"
    );

    // The source cannot be deleted while a view reads it.
    let (code, message) = delete_topic(&mut c, source);
    assert_eq!(code, POLICY_VIOLATION, "{message:?}");
    // DeleteTopics answers without a message today; one, when it comes, names the view.
    if let Some(message) = message {
        assert!(message.contains(view), "{message}");
    }

    // DescribeViews: the one view, counters at zero; named, named twice; the wrong names.
    let fresh = Described {
        name: view.into(),
        source: source.into(),
        filter: filter.into(),
        partitions: SOURCE_PARTITIONS,
        ..Described::default()
    };
    assert_eq!(describe_views(&mut c, None), (0, None, vec![fresh.clone()]));
    assert_eq!(
        describe_views(&mut c, Some(&[view, view])),
        (0, None, vec![fresh.clone()])
    );
    let refused: [(&[&str], i16, &str); 5] = [
        (
            &["no-such-view"],
            UNKNOWN_TOPIC_OR_PARTITION,
            "no-such-view",
        ),
        (&[source], UNKNOWN_TOPIC_OR_PARTITION, "not a view"),
        (
            &[view, "no-such-view"],
            UNKNOWN_TOPIC_OR_PARTITION,
            "no-such-view",
        ),
        (&["bad/name"], INVALID_TOPIC_EXCEPTION, "bad/name"),
        (&[""], INVALID_TOPIC_EXCEPTION, "invalid"),
    ];
    for (asked, code, says) in refused {
        let (got, message, views) = describe_views(&mut c, Some(asked));
        assert_eq!((got, views), (code, vec![]), "{asked:?}");
        let message = message.unwrap_or_default();
        assert!(message.contains(says), "{asked:?}: {message:?}");
    }

    // Records in the source: a batch of which every record matches, one of which none does,
    // and a mixed one, then the view read once.
    let all = tagged_batch(&["red", "red", "red"]);
    let none = tagged_batch(&["blue", "blue"]);
    let mixed = tagged_batch(&["red", "blue", "red"]);
    for b in [&all, &none, &mixed] {
        produce_one(&mut c, source, 0, b);
    }
    let (error, high_watermark, records) = fetch_one(&mut c, view, view_id, 0, 0);
    assert_eq!((error, high_watermark), (0, 8), "fetch of the view");
    assert!(!records.is_empty(), "the view delivered nothing");

    // Counters moved as the batches were: one sent whole (zero-copy, every byte of it), one
    // skipped, one rewritten to its two matching records; all three were indexed at append.
    let (code, _, views) = describe_views(&mut c, Some(&[view]));
    assert_eq!(code, 0);
    let d = &views[0];
    let moved = (
        d.batches_whole,
        d.batches_skipped,
        d.batches_rewritten,
        d.batches_unindexed,
    );
    assert_eq!(
        moved,
        (1, 1, 1, 0),
        "whole, skipped, rewritten, unindexed: {d:?}"
    );
    assert_eq!(d.bytes_zero_copy, all.len() as i64, "{d:?}");
    assert!(
        d.bytes_rewritten > 0 && d.bytes_rewritten < mixed.len() as i64,
        "the mixed batch cut to 2 of its 3 records: {d:?}"
    );
    assert!(
        (0..=high_watermark).contains(&d.index_backlog_offsets),
        "{d:?}"
    );

    // The index builder catches up (it looks every second): no backlog left.
    let deadline = Instant::now() + BUILDER_CATCH_UP;
    let caught_up = loop {
        let (_, _, views) = describe_views(&mut c, Some(&[view]));
        if views[0].index_backlog_offsets == 0 {
            break views[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "index backlog still {:?} after {BUILDER_CATCH_UP:?}",
            views[0]
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        caught_up,
        Described {
            index_backlog_offsets: 0,
            ..d.clone()
        }
    );

    // The same answer from connections on either shard (counters summed over both).
    let mut clients: Vec<Client> = (0..CONNECTIONS).map(|_| broker.connect()).collect();
    for client in &mut clients {
        assert_eq!(
            describe_views(client, None),
            (0, None, vec![caught_up.clone()]),
            "another connection sees other counters"
        );
    }

    // Deleted: the view goes, and the source can go after it.
    assert_eq!(delete_topic(&mut c, view), (0, None));
    assert_eq!(describe_views(&mut c, None), (0, None, vec![]));
    let (code, _, _) = describe_views(&mut c, Some(&[view]));
    assert_eq!(code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(delete_topic(&mut c, source), (0, None));
}

pub fn describe_views_outside_its_version_closes_the_connection(io: IoKind) {
    let broker = TestBroker::start(io);
    // Like every served API but ApiVersions: the version is checked from the fixed header bytes
    // and the connection closed (Kafka's answer to a version it does not serve).
    for v in [1i16, -1, i16::MAX] {
        let mut c = broker.connect();
        c.write_raw(&describe_views_frame(v, 7, None)).unwrap();
        c.assert_closed(&format!("DescribeViews v{v}"));
    }
    // The broker keeps serving.
    let mut c = broker.connect();
    assert_eq!(describe_views(&mut c, None), (0, None, vec![]));
}

/// A topic created with `ringlog.filter.index=true` is summarized at append before it has any
/// view, so a view created later serves its batches from the index at once: the first read
/// sends the all-match batch whole, skips the no-match one and reads only the mixed one, none
/// of them for want of a summary; its sidecar is on disk.
pub fn a_topic_indexed_before_its_views_serves_them_from_the_index(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let source = "indexed-early";
    let v = *versions(ApiKey::CreateTopics).end();
    let resp = c.call(
        v,
        &create_request(source, 1, &[("ringlog.filter.index", "true")]),
    );
    assert_eq!(resp.topics[0].error_code, 0, "{resp:?}");
    for b in [
        tagged_batch(&["red", "red"]),
        tagged_batch(&["blue", "blue", "blue"]),
        tagged_batch(&["blue", "red"]),
    ] {
        produce_one(&mut c, source, 0, &b);
    }
    let resp = c.call(
        v,
        &create_request("early-red", -1, &view_configs(source, "tag = 'red'")),
    );
    let t = &resp.topics[0];
    assert_eq!((t.error_code, t.num_partitions), (0, 1), "{resp:?}");
    let (error, high_watermark, records) = fetch_one(&mut c, "early-red", t.topic_id, 0, 0);
    assert_eq!((error, high_watermark), (0, 7), "fetch of the view");
    assert!(!records.is_empty(), "the view delivered nothing");
    let (code, _, views) = describe_views(&mut c, Some(&["early-red"]));
    assert_eq!(code, 0);
    let d = &views[0];
    assert_eq!(
        (
            d.batches_whole,
            d.batches_skipped,
            d.batches_rewritten,
            d.batches_unindexed
        ),
        (1, 1, 1, 0),
        "whole, skipped, rewritten, unindexed: {d:?}"
    );
    // The sidecar reaches the disk within the index's flush interval.
    let dir = broker.data_dir().join(format!("{source}-0"));
    let sidecar = dir.join("00000000000000000000.filter");
    let deadline = Instant::now() + BUILDER_CATCH_UP;
    while std::fs::metadata(&sidecar).map_or(0, |m| m.len()) == 0 {
        assert!(
            Instant::now() < deadline,
            "no filter index in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One read of a view looks at a bounded amount of its source (`view::read::SCAN_BYTES_MAX`,
/// 64 MiB): past 70 MiB of records none of which match, the first fetch answers with one empty
/// batch that ends before the high watermark, and the next fetch, from where it ended, reaches
/// the high watermark. So a view whose records are rare answers at once and moves on.
pub fn a_view_read_looks_at_a_bounded_span_of_its_source(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let source = "rarely-red";
    create_topic(&mut c, source, 1);
    let v = *versions(ApiKey::CreateTopics).end();
    let resp = c.call(
        v,
        &create_request("rare-red", -1, &view_configs(source, "tag = 'red'")),
    );
    let view_id = resp.topics[0].topic_id;
    assert_eq!(resp.topics[0].error_code, 0, "{resp:?}");
    // 140 batches of 32 records of 16 KiB: ~70 MiB, every record blue.
    let value = vec![b'b'; 16 * 1024];
    let mut b = build_batch_with(&BatchSpec {
        base_timestamp_ms: 1_700_000_000_000,
        records: (0..32)
            .map(|_| TestRecord {
                value: Some(value.clone()),
                headers: vec![("tag".to_string(), Some(b"blue".to_vec()))],
                ..TestRecord::default()
            })
            .collect(),
        ..BatchSpec::default()
    });
    ringlog::storage::batch::stamp(&mut b, 0, 0);
    for _ in 0..140 {
        produce_one(&mut c, source, 0, &b);
    }
    // One empty batch (61 bytes): base offset, last offset delta at 23, record count at 57.
    let empty_span = |records: &[u8]| -> (i64, i64, i32) {
        assert_eq!(
            records.len(),
            61,
            "one empty batch: {} bytes",
            records.len()
        );
        let base = i64::from_be_bytes(records[0..8].try_into().unwrap());
        let delta = i32::from_be_bytes(records[23..27].try_into().unwrap());
        let count = i32::from_be_bytes(records[57..61].try_into().unwrap());
        (base, base + i64::from(delta), count)
    };
    let (error, high_watermark, records) = fetch_one(&mut c, "rare-red", view_id, 0, 0);
    assert_eq!((error, high_watermark), (0, 140 * 32));
    let (base, last, count) = empty_span(&records);
    assert_eq!((base, count), (0, 0));
    let batch_bytes = b.len() as i64;
    let scanned = (last + 1) / 32 * batch_bytes;
    assert!(
        last + 1 < high_watermark && (64 << 20..(64 << 20) + 2 * batch_bytes).contains(&scanned),
        "the first read ended at offset {last} of {high_watermark} ({scanned} bytes looked at)"
    );
    let (error, _, records) = fetch_one(&mut c, "rare-red", view_id, 0, last + 1);
    assert_eq!(error, 0);
    let (base, end, count) = empty_span(&records);
    assert_eq!((base, end, count), (last + 1, high_watermark - 1, 0));
}
