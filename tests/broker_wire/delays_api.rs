//! DescribeDelays (api key 32000), the ringlog-private API behind `ringlog delays` (issue #15):
//! answered on every shard, checked like Kafka's describe requests (unknown and invalid topics get
//! their error codes), refused outside its one version like any served API, and never listed by
//! ApiVersions, so Kafka clients see exactly what they saw before.
//!
//! kafka-protocol (these tests' independent codec) cannot know a private API, so its frames are
//! written and read here byte by byte, from the layout documented in
//! `crates/protocol/src/messages/describe_delays.rs`:
//!
//! ```text
//!  request:  size i32 | key i16 = 32000 | version i16 | correlation i32 | client_id i16 + bytes
//!            | header tags 00 | topics: compact array of compact strings (00 = null) | tags 00
//!  response: size i32 | correlation i32 | header tags 00 | throttle i32 | error i16
//!            | topics: compact array of { name compact string, pending i64, next_due_ms i64,
//!                                         oldest_overdue_lag_ms i64, delivered i64, tags }
//!            | tags
//! ```

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use ringlog::runtime::IoKind;

use super::client::*;

/// DescribeDelays' api key: ringlog's first private key, far above any Kafka allocates.
const DESCRIBE_DELAYS: i16 = 32_000;
/// UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// INVALID_TOPIC_EXCEPTION.
const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// Connections asking at once: with two shards, SO_REUSEPORT lands some on each.
const CONNECTIONS: usize = 6;

/// A whole DescribeDelays request frame at `version` (the v0 layout whatever the version, for
/// the refusal tests).
fn describe_delays_frame(version: i16, correlation_id: i32, topics: Option<&[&str]>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&DESCRIBE_DELAYS.to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    b.extend_from_slice(CLIENT_ID.as_bytes());
    b.push(0); // header tagged fields
    match topics {
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

/// One topic of a response: (name, pending, next_due_ms, oldest_overdue_lag_ms, delivered).
type Described = (String, i64, i64, i64, i64);

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
    fn no_tagged_fields(&mut self) {
        assert_eq!(self.uvarint(), 0, "the broker writes no tagged fields here");
    }
}

/// Parses a DescribeDelays v0 response: (error_code, topics).
fn parse_response(frame: &[u8], correlation_id: i32) -> (i16, Vec<Described>) {
    let mut c = Cursor(frame);
    assert_eq!(c.i32(), correlation_id, "correlation id");
    c.no_tagged_fields(); // response header v1
    assert_eq!(c.i32(), 0, "throttle_time_ms");
    let error_code = c.i16();
    let count = c
        .uvarint()
        .checked_sub(1)
        .expect("topics is not nullable in the response");
    let mut topics = Vec::new();
    for _ in 0..count {
        let len = c.uvarint().checked_sub(1).expect("topic name is not null") as usize;
        let name = String::from_utf8(c.take(len).to_vec()).expect("UTF-8 topic name");
        let numbers = (c.i64(), c.i64(), c.i64(), c.i64());
        c.no_tagged_fields();
        topics.push((name, numbers.0, numbers.1, numbers.2, numbers.3));
    }
    c.no_tagged_fields();
    assert!(
        c.0.is_empty(),
        "{} bytes after the response body",
        c.0.len()
    );
    (error_code, topics)
}

/// DescribeDelays v0 on `client`: (error_code, topics).
fn describe_delays(client: &mut Client, topics: Option<&[&str]>) -> (i16, Vec<Described>) {
    let corr = client.next_correlation_id();
    client
        .write_raw(&describe_delays_frame(0, corr, topics))
        .expect("send DescribeDelays");
    let frame = client
        .read_frame()
        .unwrap_or_else(|e| panic!("DescribeDelays {topics:?}: no answer: {e}"));
    parse_response(&frame, corr)
}

pub fn describe_delays_is_answered_and_never_advertised(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();

    // Kafka clients see no trace of the private API, at any ApiVersions version.
    for v in versions(ApiKey::ApiVersions) {
        let req = api_versions_request(v);
        let resp = c.call(v, &req);
        assert_eq!(resp.error_code, 0, "ApiVersions v{v}");
        assert!(
            resp.api_keys.iter().all(|k| k.api_key != DESCRIBE_DELAYS),
            "ApiVersions v{v} lists DescribeDelays: {:?}",
            resp.api_keys
        );
        assert!(
            resp.api_keys.iter().all(|k| (0..1000).contains(&k.api_key)),
            "ApiVersions v{v} lists a key Kafka does not allocate"
        );
    }

    // No topics: an empty answer, for all topics and for an empty list alike.
    assert_eq!(describe_delays(&mut c, None), (0, vec![]));
    assert_eq!(describe_delays(&mut c, Some(&[])), (0, vec![]));

    // A topic that exists (without scheduled delivery) is answered; named twice, once at most.
    let topic = "delays-plain";
    create_topic(&mut c, topic, 2);
    for asked in [&[topic][..], &[topic, topic][..]] {
        let (error_code, topics) = describe_delays(&mut c, Some(asked));
        assert_eq!(error_code, 0, "{asked:?}");
        assert!(topics.len() <= 1, "{asked:?}: {topics:?}");
        for (name, pending, next_due_ms, lag, delivered) in &topics {
            assert_eq!(name, topic);
            assert!(*pending >= 0 && *lag >= 0 && *delivered >= 0, "{topics:?}");
            assert!(*next_due_ms >= -1, "{topics:?}");
        }
    }

    // Topics that do not exist, or cannot, are refused with Kafka's codes and no list.
    let refused: [(&[&str], i16); 4] = [
        (&["no-such-topic"], UNKNOWN_TOPIC_OR_PARTITION),
        (&[topic, "no-such-topic"], UNKNOWN_TOPIC_OR_PARTITION),
        (&["bad/name"], INVALID_TOPIC_EXCEPTION),
        (&[""], INVALID_TOPIC_EXCEPTION),
    ];
    for (asked, code) in refused {
        assert_eq!(
            describe_delays(&mut c, Some(asked)),
            (code, vec![]),
            "{asked:?}"
        );
    }

    // The connection still serves Kafka requests; connections on either shard are answered.
    assert_eq!(c.call(3, &ApiVersionsRequest::default()).error_code, 0);
    let mut clients: Vec<Client> = (0..CONNECTIONS).map(|_| broker.connect()).collect();
    for client in &mut clients {
        assert_eq!(describe_delays(client, None), (0, vec![]));
    }
}

pub fn describe_delays_outside_its_version_closes_the_connection(io: IoKind) {
    let broker = TestBroker::start(io);
    // Like every served API but ApiVersions: the version is checked from the fixed header bytes
    // and the connection closed (Kafka's answer to a version it does not serve).
    for v in [1i16, -1, i16::MAX] {
        let mut c = broker.connect();
        c.write_raw(&describe_delays_frame(v, 7, None)).unwrap();
        c.assert_closed(&format!("DescribeDelays v{v}"));
    }
    // A key in ringlog's private range that is not one of its APIs: closed like any unknown key.
    let mut c = broker.connect();
    let mut frame = describe_delays_frame(0, 8, None);
    frame[4..6].copy_from_slice(&(DESCRIBE_DELAYS + 1).to_be_bytes());
    c.write_raw(&frame).unwrap();
    c.assert_closed("api key 32001");
    // The broker keeps serving.
    let mut c = broker.connect();
    assert_eq!(describe_delays(&mut c, None), (0, vec![]));
}
