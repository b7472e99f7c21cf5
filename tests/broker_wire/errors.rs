//! Requests the broker must refuse: unsupported versions and keys, malformed frames (connection
//! closed, broker keeps serving), and the Kafka error codes of CreateTopics and Produce.

use bytes::BytesMut;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use ringlog::protocol::versions::SUPPORTED_APIS;
use ringlog::runtime::IoKind;

use super::client::*;

/// `request_bytes_max` of the brokers in these tests: small, so oversized frames are cheap.
const REQUEST_BYTES_MAX: u32 = 1 << 20;

/// A fresh connection gets ApiVersions and Metadata answered.
fn assert_serving(broker: &TestBroker, after: &str) {
    let mut c = broker.connect();
    let resp = c.call(3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0, "after {after}: ApiVersions");
    let resp = c.call(12, &metadata_request(12, None, false));
    assert_eq!(resp.brokers.len(), 1, "after {after}: Metadata");
}

/// A frame with the given raw header fields and body.
fn raw_frame(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    header_version: i16,
    body: &[u8],
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
        .encode(&mut buf, header_version)
        .unwrap();
    buf.extend_from_slice(body);
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.to_vec()
}

fn supported_list() -> Vec<(i16, i16, i16)> {
    let mut v: Vec<_> = SUPPORTED_APIS
        .iter()
        .map(|r| (r.api_key as i16, r.min_version, r.max_version))
        .collect();
    v.sort();
    v
}

pub fn api_versions_unsupported_version_gets_the_v0_error_reply(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    // As a newer client would send it: header v2, a v4-shaped body.
    let mut body = BytesMut::new();
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("future-client"))
        .with_client_software_version(StrBytes::from_static_str("99"))
        .encode(&mut body, 4)
        .unwrap();
    for (i, v) in [99i16, 6, i16::MAX].into_iter().enumerate() {
        let corr = 4200 + i as i32;
        c.write_raw(&raw_frame(ApiKey::ApiVersions as i16, v, corr, 2, &body))
            .unwrap();
        let frame = c
            .read_frame()
            .unwrap_or_else(|e| panic!("ApiVersions v{v}: expected the v0 error reply, got {e}"));
        let mut buf = bytes::Bytes::from(frame);
        let header = ResponseHeader::decode(&mut buf, 0).unwrap();
        assert_eq!(header.correlation_id, corr, "ApiVersions v{v}");
        let resp = ApiVersionsResponse::decode(&mut buf, 0).expect("a v0 body");
        assert!(
            buf.is_empty(),
            "ApiVersions v{v}: {} bytes after the v0 body",
            buf.len()
        );
        assert_eq!(resp.error_code, 35, "ApiVersions v{v}: UNSUPPORTED_VERSION");
        let mut got: Vec<_> = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        got.sort();
        assert_eq!(
            got,
            supported_list(),
            "ApiVersions v{v}: the supported ranges"
        );
    }
    // The connection stays usable, as with Kafka: the client retries at a version we listed.
    let resp = c.call(3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
}

pub fn unknown_api_key_or_unsupported_version_closes_the_connection(io: IoKind) {
    let broker = TestBroker::start(io);
    let served = |key: i16| SUPPORTED_APIS.iter().any(|r| r.api_key as i16 == key);
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("api key 12345".into(), raw_frame(12345, 0, 1, 1, b"")),
        ("api key -1".into(), raw_frame(-1, 0, 1, 1, b"")),
    ];
    // A real Kafka API that ringlog does not serve (the table grows, so pick one at run time):
    // DescribeAcls, DescribeConfigs, CreatePartitions, ElectLeaders, DescribeCluster.
    let unserved = [29i16, 32, 37, 43, 60]
        .into_iter()
        .find(|k| !served(*k))
        .expect("some Kafka API is not served");
    cases.push((
        format!("unserved api key {unserved} v0"),
        raw_frame(unserved, 0, 1, 1, &[0; 8]),
    ));
    // Every served API except ApiVersions, one version below and one above its range. The version
    // is checked from the fixed 8 header bytes, so the body does not matter.
    for r in SUPPORTED_APIS
        .iter()
        .filter(|r| r.api_key as i16 != ApiKey::ApiVersions as i16)
    {
        let key = r.api_key as i16;
        let mut bad = vec![r.max_version + 1, i16::MAX, -1];
        if r.min_version > 0 {
            bad.push(r.min_version - 1);
        }
        for v in bad {
            cases.push((
                format!("{:?} v{v}", r.api_key),
                raw_frame(key, v, 1, 1, &[0; 16]),
            ));
        }
    }
    for (what, frame) in cases {
        let mut c = broker.connect();
        c.write_raw(&frame).unwrap();
        c.assert_closed(&what);
        assert_serving(&broker, &what);
    }
}

pub fn bad_frames_close_the_connection_and_the_broker_keeps_serving(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.request_bytes_max = REQUEST_BYTES_MAX);
    let mut truncated_client_id = raw_frame(18, 0, 1, 1, b"");
    // client_id claims 100 bytes; only CLIENT_ID's are there.
    truncated_client_id[12..14].copy_from_slice(&100i16.to_be_bytes());
    let mut metadata_garbage = raw_frame(3, 12, 1, 2, &[]);
    // topics: compact array with count 2^28, then nothing.
    metadata_garbage.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x01]);
    let n = (metadata_garbage.len() - 4) as i32;
    metadata_garbage[..4].copy_from_slice(&n.to_be_bytes());
    let mut produce_garbage = raw_frame(0, 9, 1, 2, &[]);
    produce_garbage.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x13]);
    let n = (produce_garbage.len() - 4) as i32;
    produce_garbage[..4].copy_from_slice(&n.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("size -1", (-1i32).to_be_bytes().to_vec()),
        ("size i32::MIN", i32::MIN.to_be_bytes().to_vec()),
        (
            "size request_bytes_max + 1",
            ((REQUEST_BYTES_MAX + 1) as i32).to_be_bytes().to_vec(),
        ),
        ("size i32::MAX", i32::MAX.to_be_bytes().to_vec()),
        ("empty body", 0i32.to_be_bytes().to_vec()),
        (
            "5-byte header",
            [&5i32.to_be_bytes()[..], &[0, 18, 0, 3, 0]].concat(),
        ),
        ("client_id longer than the frame", truncated_client_id),
        ("negative client_id length", {
            let mut f = raw_frame(18, 0, 1, 1, b"");
            f[12..14].copy_from_slice(&(-7i16).to_be_bytes());
            f
        }),
        (
            "Metadata v12 with a 2^28-element topic array",
            metadata_garbage,
        ),
        ("Produce v9 with a garbage body", produce_garbage),
        (
            "ApiVersions v3 with a truncated body",
            raw_frame(18, 3, 1, 2, &[5, b'a']),
        ),
    ];
    for (what, frame) in cases {
        let mut c = broker.connect();
        c.write_raw(&frame).unwrap();
        c.assert_closed(what);
        assert_serving(&broker, what);
    }
}

pub fn frame_of_exactly_request_bytes_max_is_served(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.request_bytes_max = REQUEST_BYTES_MAX);
    let mut c = broker.connect();
    // A valid ApiVersions v0 request padded with trailing bytes (ignored, as Kafka does) to exactly
    // request_bytes_max, sent in pieces.
    let mut frame = encode_frame(0, 77, &ApiVersionsRequest::default());
    frame.resize(4 + REQUEST_BYTES_MAX as usize, 0xab);
    frame[..4].copy_from_slice(&(REQUEST_BYTES_MAX as i32).to_be_bytes());
    for chunk in frame.chunks(300_000) {
        c.write_raw(chunk).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (corr, resp) = decode_response::<ApiVersionsRequest>(0, &c.read_frame().unwrap());
    assert_eq!((corr, resp.error_code), (77, 0));
    // And the connection goes on.
    let resp = c.call(3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
}

pub fn create_topics_error_codes(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let long = "x".repeat(250);
    let longest = "y".repeat(249);
    for v in versions(ApiKey::CreateTopics) {
        let existing = format!("exists-v{v}");
        create_topic(&mut c, &existing, 1);
        let fresh = format!("fresh-v{v}");
        let longest_v = format!("{}{v}", &longest[..248]);
        let cases: Vec<(&str, i32, i16, i16)> = vec![
            ("..", 1, 1, 17),
            (".", 1, 1, 17),
            ("a/b", 1, 1, 17),
            ("", 1, 1, 17),
            ("sp ace", 1, 1, 17),
            (&long, 1, 1, 17),
            (&fresh, 1, 3, 38),
            (&fresh, 1, 0, 38),
            (&fresh, 0, 1, 37),
            (&existing, 1, 1, 36),
            (&longest_v, 1, -1, 0),
        ];
        let req: CreateTopicsRequest = create_topics_request(
            &cases
                .iter()
                .map(|(n, p, rf, _)| (*n, *p, *rf))
                .collect::<Vec<_>>(),
        );
        let resp = c.call(v, &req);
        assert_eq!(resp.topics.len(), cases.len(), "CreateTopics v{v}");
        for ((name, p, rf, code), r) in cases.iter().zip(&resp.topics) {
            let shown = &name[..name.len().min(20)];
            assert_eq!(r.name.0.as_str(), *name, "CreateTopics v{v}");
            assert_eq!(
                r.error_code, *code,
                "CreateTopics v{v} {shown:?} partitions={p} rf={rf}: {:?}",
                r.error_message
            );
            if *code != 0 {
                assert!(
                    r.error_message.is_some(),
                    "CreateTopics v{v} {shown:?}: error message"
                );
                if v >= 5 {
                    assert_eq!((r.num_partitions, r.replication_factor), (-1, -1));
                }
            } else if v >= 5 {
                assert_eq!((r.num_partitions, r.replication_factor), (1, 1));
            }
        }
        // validate_only creates nothing.
        let probe = format!("validate-only-v{v}");
        let resp = c.call(
            v,
            &create_topics_request(&[(&probe, 1, 1)]).with_validate_only(true),
        );
        assert_eq!(
            resp.topics[0].error_code, 0,
            "CreateTopics v{v} validate_only"
        );
        let meta = c.call(12, &metadata_request(12, Some(&[probe.as_str()]), false));
        assert_eq!(
            meta.topics[0].error_code, 3,
            "validate_only v{v} must not create {probe}"
        );
    }
    // Only the valid topics exist.
    let meta = c.call(12, &metadata_request(12, None, false));
    let mut names: Vec<String> = meta
        .topics
        .iter()
        .map(|t| t.name.as_ref().unwrap().0.to_string())
        .collect();
    names.sort();
    let mut want: Vec<String> = versions(ApiKey::CreateTopics)
        .flat_map(|v| [format!("exists-v{v}"), format!("{}{v}", &longest[..248])])
        .collect();
    want.sort();
    assert_eq!(names, want);
}

pub fn produce_error_codes_and_nothing_is_appended(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "produce-errors";
    let id = create_topic(&mut c, topic, 1);
    let good = batch(1_700_000_000_000, &[b"good", b"record"]);
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55; // inside the CRC-covered records
    let mut bad_crc_field = good.clone();
    bad_crc_field[17] ^= 0x01; // the stored CRC itself

    for v in versions(ApiKey::Produce) {
        let p = |resp: &kafka_protocol::messages::ProduceResponse| {
            resp.responses
                .iter()
                .flat_map(|t| {
                    t.partition_responses
                        .iter()
                        .map(|p| (t.name.0.to_string(), p.index, p.error_code))
                })
                .collect::<Vec<_>>()
        };
        let resp = c.call(v, &produce_request(topic, 2, &[(0, good.clone())]));
        assert_eq!(
            p(&resp),
            [(topic.to_string(), 0, 21)],
            "Produce v{v} acks=2: INVALID_REQUIRED_ACKS"
        );
        let resp = c.call(v, &produce_request(topic, -1, &[(0, corrupt.clone())]));
        assert_eq!(
            p(&resp),
            [(topic.to_string(), 0, 2)],
            "Produce v{v} bad record bytes: CORRUPT_MESSAGE"
        );
        let resp = c.call(v, &produce_request(topic, 1, &[(0, bad_crc_field.clone())]));
        assert_eq!(
            p(&resp),
            [(topic.to_string(), 0, 2)],
            "Produce v{v} bad crc field: CORRUPT_MESSAGE"
        );
        let resp = c.call(
            v,
            &produce_request("no-such-topic", -1, &[(0, good.clone())]),
        );
        assert_eq!(
            p(&resp),
            [("no-such-topic".to_string(), 0, 3)],
            "Produce v{v} unknown topic"
        );
        let resp = c.call(v, &produce_request(topic, -1, &[(1, good.clone())]));
        assert_eq!(
            p(&resp),
            [(topic.to_string(), 1, 3)],
            "Produce v{v} unknown partition"
        );
        let resp = c.call(v, &produce_request(topic, -1, &[(-1, good.clone())]));
        assert_eq!(
            p(&resp),
            [(topic.to_string(), -1, 3)],
            "Produce v{v} negative partition"
        );
        let resp = c.call(v, &produce_request(topic, -1, &[(0, good[..40].to_vec())]));
        assert_eq!(
            p(&resp),
            [(topic.to_string(), 0, 2)],
            "Produce v{v} truncated batch"
        );
    }
    // Nothing was appended: the partition is empty, and the next good batch gets offset 0.
    let (err, hw, records) = fetch_one(&mut c, topic, id, 0, 0);
    assert_eq!(
        (err, hw, records.len()),
        (0, 0, 0),
        "rejected produces left data behind"
    );
    assert_eq!(produce_one(&mut c, topic, 0, &good), 0);
    let (err, hw, records) = fetch_one(&mut c, topic, id, 0, 0);
    assert_eq!((err, hw), (0, 2));
    assert_eq!(records, stamped(&good, 0));
}

/// An ApiVersions v5 request body (KIP-1242), encoded here: kafka-protocol stops at v4.
fn api_versions_v5_frame(correlation_id: i32, cluster_id: Option<&str>, node_id: i32) -> Vec<u8> {
    let compact = |out: &mut Vec<u8>, s: Option<&str>| match s {
        None => out.push(0),
        Some(s) => {
            assert!(s.len() < 127, "one-byte length");
            out.push(s.len() as u8 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    };
    let mut body = Vec::new();
    compact(&mut body, Some("future-client"));
    compact(&mut body, Some("5"));
    compact(&mut body, cluster_id);
    body.extend_from_slice(&node_id.to_be_bytes());
    body.push(0); // no tagged fields
    raw_frame(ApiKey::ApiVersions as i16, 5, correlation_id, 2, &body)
}

/// ApiVersions v5 (KIP-1242), as Kafka 4.4's broker answers it: without a cluster id, or naming
/// this cluster and node, the usual list; another cluster, or this cluster with another node id,
/// REBOOTSTRAP_REQUIRED (129) and no list. The connection stays usable either way.
pub fn api_versions_v5_checks_the_cluster_and_node_the_client_means(io: IoKind) {
    use ringlog::broker::handlers::metadata::{CLUSTER_ID, NODE_ID};
    use ringlog::protocol::messages::ApiVersionsResponse as Ours;
    use ringlog::protocol::Message;
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let cases: [(Option<&str>, i32, i16); 5] = [
        (None, -1, 0),
        (None, 7, 0), // no cluster named: the node id is not checked
        (Some(CLUSTER_ID), NODE_ID, 0),
        (Some(CLUSTER_ID), NODE_ID + 1, 129),
        (Some("another-cluster"), NODE_ID, 129),
    ];
    for (i, (cluster, node, code)) in cases.into_iter().enumerate() {
        let corr = 5500 + i as i32;
        c.write_raw(&api_versions_v5_frame(corr, cluster, node))
            .unwrap();
        let frame = c.read_frame().expect("a v5 reply");
        let mut buf = bytes::Bytes::from(frame);
        let header = ResponseHeader::decode(&mut buf, 0).unwrap();
        assert_eq!(header.correlation_id, corr);
        let resp = Ours::decode(buf, 5).expect("a v5 body");
        assert_eq!(resp.error_code, code, "cluster {cluster:?} node {node}");
        let listed: Vec<(i16, i16, i16)> = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        if code == 0 {
            let mut listed = listed;
            listed.sort();
            assert_eq!(listed, supported_list(), "cluster {cluster:?} node {node}");
        } else {
            assert!(listed.is_empty(), "no list with REBOOTSTRAP_REQUIRED");
        }
    }
    let resp = c.call(3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
}
