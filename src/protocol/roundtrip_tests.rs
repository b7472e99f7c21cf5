//! Byte-level tests for every advertised (api, version): requests encoded by kafka-protocol and
//! decoded by [`super::decode_request`]; responses encoded by [`super::encode_response`] and
//! [`super::fetch::frame_fetch_response`] and decoded by kafka-protocol; hand-written hex vectors
//! for ApiVersions; fuzz-style robustness over random, truncated and mutated bodies.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use uuid::Uuid;

use super::fetch::{self, FetchReply, FetchReplyPartition, FetchReplyTopic, Part, RecordSlice};
use super::header::{response_header_version, RequestHeader};
use super::versions::{self, SUPPORTED_APIS};
use super::{decode_request, encode_response, DecodeError, Request};

const CLIENT_ID: &str = "ringlog-test";
const TOPIC_ID_A: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
const TOPIC_ID_B: Uuid = Uuid::from_u128(0xfedc_ba98_7654_3210_fedc_ba98_7654_3210);

fn topic(s: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(s))
}

fn s(v: &'static str) -> StrBytes {
    StrBytes::from_static_str(v)
}

fn all_versions() -> impl Iterator<Item = (ApiKey, i16)> {
    SUPPORTED_APIS
        .iter()
        .flat_map(|r| (r.min_version..=r.max_version).map(move |v| (r.api_key, v)))
}

fn correlation_id(api_key: ApiKey, v: i16) -> i32 {
    1000 * api_key as i32 + v as i32
}

/// A real RecordBatch v2 (uncompressed) holding `n` records starting at `base_offset`.
fn record_batch(base_offset: i64, n: usize) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: base_offset + i as i64,
            sequence: -1,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{base_offset}-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

// ---------------------------------------------------------------------------------------------
// Sample requests, one per (api, version), setting only fields that version carries.

fn sample_request(api_key: ApiKey, v: i16) -> Request {
    match api_key {
        k if is_group_api(k) => group_sample_request(k, v),
        ApiKey::ApiVersions => {
            let mut r = ApiVersionsRequest::default();
            if v >= 3 {
                r = r
                    .with_client_software_name(s("librdkafka"))
                    .with_client_software_version(s("2.0.2"));
            }
            Request::ApiVersions(r)
        }
        ApiKey::Metadata => {
            let mut t =
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic("orders")));
            if v >= 10 {
                t = t.with_topic_id(TOPIC_ID_A);
            }
            let mut r = MetadataRequest::default().with_topics(Some(vec![t]));
            if v >= 4 {
                r = r.with_allow_auto_topic_creation(false);
            }
            if (8..=10).contains(&v) {
                r = r.with_include_cluster_authorized_operations(true);
            }
            if v >= 8 {
                r = r.with_include_topic_authorized_operations(true);
            }
            Request::Metadata(r)
        }
        ApiKey::Produce => Request::Produce(
            ProduceRequest::default()
                .with_transactional_id(None)
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(topic("orders"))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(record_batch(0, 3))),
                        produce_request::PartitionProduceData::default()
                            .with_index(1)
                            .with_records(Some(record_batch(0, 1))),
                    ])]),
        ),
        ApiKey::Fetch => {
            let mut p = fetch_request::FetchPartition::default()
                .with_partition(2)
                .with_fetch_offset(42)
                .with_partition_max_bytes(1 << 20);
            if v >= 9 {
                p = p.with_current_leader_epoch(7);
            }
            if v >= 12 {
                p = p.with_last_fetched_epoch(6);
            }
            if v >= 5 {
                p = p.with_log_start_offset(0);
            }
            let mut t = fetch_request::FetchTopic::default().with_partitions(vec![p]);
            t = if v <= 12 {
                t.with_topic(topic("orders"))
            } else {
                t.with_topic_id(TOPIC_ID_A)
            };
            let mut r = FetchRequest::default()
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(50 << 20)
                .with_isolation_level(1)
                .with_topics(vec![t]);
            if v >= 7 {
                r = r.with_session_id(0).with_session_epoch(-1);
            }
            if v >= 11 {
                r = r.with_rack_id(s("rack-a"));
            }
            Request::Fetch(r)
        }
        ApiKey::ListOffsets => {
            let mut p = list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1);
            if v >= 4 {
                p = p.with_current_leader_epoch(3);
            }
            let mut r = ListOffsetsRequest::default().with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![p]),
            ]);
            if v >= 2 {
                r = r.with_isolation_level(1);
            }
            Request::ListOffsets(r)
        }
        ApiKey::CreateTopics => Request::CreateTopics(
            CreateTopicsRequest::default()
                .with_timeout_ms(5_000)
                .with_validate_only(false)
                .with_topics(vec![create_topics_request::CreatableTopic::default()
                    .with_name(topic("orders"))
                    .with_num_partitions(3)
                    .with_replication_factor(1)
                    .with_configs(vec![
                        create_topics_request::CreatableTopicConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("60000"))),
                    ])]),
        ),
        ApiKey::DeleteTopics => {
            let r = DeleteTopicsRequest::default().with_timeout_ms(5_000);
            Request::DeleteTopics(if v >= 6 {
                r.with_topics(vec![
                    delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(topic("orders"))),
                    delete_topics_request::DeleteTopicState::default().with_topic_id(TOPIC_ID_B),
                ])
            } else {
                r.with_topic_names(vec![topic("orders"), topic("clicks")])
            })
        }
        ApiKey::InitProducerId => {
            let mut r = InitProducerIdRequest::default().with_transaction_timeout_ms(60_000);
            if v >= 3 {
                r = r.with_producer_id(ProducerId(4242)).with_producer_epoch(3);
            }
            Request::InitProducerId(r)
        }
        other => panic!("no sample for {other:?}"),
    }
}

/// Encodes header + body with kafka-protocol (the "client side").
fn encode_request(api_key: ApiKey, v: i16, req: &Request) -> Bytes {
    let mut buf = BytesMut::new();
    kafka_protocol::messages::RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(v)
        .with_correlation_id(correlation_id(api_key, v))
        .with_client_id(Some(s(CLIENT_ID)))
        .encode(&mut buf, api_key.request_header_version(v))
        .unwrap();
    match req {
        Request::ApiVersions(r) => r.encode(&mut buf, v),
        Request::Metadata(r) => r.encode(&mut buf, v),
        Request::Produce(r) => r.encode(&mut buf, v),
        Request::Fetch(r) => r.encode(&mut buf, v),
        Request::ListOffsets(r) => r.encode(&mut buf, v),
        Request::CreateTopics(r) => r.encode(&mut buf, v),
        Request::DeleteTopics(r) => r.encode(&mut buf, v),
        Request::OffsetCommit(r) => r.encode(&mut buf, v),
        Request::OffsetFetch(r) => r.encode(&mut buf, v),
        Request::FindCoordinator(r) => r.encode(&mut buf, v),
        Request::JoinGroup(r) => r.encode(&mut buf, v),
        Request::Heartbeat(r) => r.encode(&mut buf, v),
        Request::LeaveGroup(r) => r.encode(&mut buf, v),
        Request::SyncGroup(r) => r.encode(&mut buf, v),
        Request::DescribeGroups(r) => r.encode(&mut buf, v),
        Request::ListGroups(r) => r.encode(&mut buf, v),
        Request::DeleteGroups(r) => r.encode(&mut buf, v),
        Request::InitProducerId(r) => r.encode(&mut buf, v),
    }
    .unwrap_or_else(|e| panic!("{api_key:?} v{v}: {e:#}"));
    buf.freeze()
}

#[test]
fn every_advertised_request_version_round_trips() {
    let mut count = 0;
    for (api_key, v) in all_versions() {
        let req = sample_request(api_key, v);
        let body = encode_request(api_key, v, &req);
        let (header, decoded) =
            decode_request(body).unwrap_or_else(|e| panic!("{api_key:?} v{v}: {e}"));
        assert_eq!(
            header,
            RequestHeader {
                api_key,
                api_version: v,
                correlation_id: correlation_id(api_key, v),
                client_id: Some(s(CLIENT_ID)),
            }
        );
        assert_eq!(decoded, req, "{api_key:?} v{v}");
        count += 1;
    }
    // 8 + 13 + 8 + 12 + 5 + 6 + 6 advertised versions, + 64 consumer-group versions
    // (8 + 9 + 5 + 10 + 5 + 6 + 6 + 6 + 6 + 3).
    // InitProducerId: 6.
    assert_eq!(count, 58 + 64 + 6);
}

#[test]
fn metadata_null_topics_means_all_topics() {
    for v in 1..=12 {
        let req = Request::Metadata(MetadataRequest::default().with_topics(None));
        let (_, decoded) = decode_request(encode_request(ApiKey::Metadata, v, &req)).unwrap();
        assert_eq!(decoded, req);
    }
}

#[test]
fn produce_records_are_slices_of_the_frame() {
    for v in 3..=10 {
        let body = encode_request(ApiKey::Produce, v, &sample_request(ApiKey::Produce, v));
        let frame = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
        let (_, Request::Produce(p)) = decode_request(body.clone()).unwrap() else {
            panic!("not produce")
        };
        for t in &p.topic_data {
            for part in &t.partition_data {
                let r = part.records.as_ref().unwrap();
                assert!(
                    frame.contains(&(r.as_ptr() as usize)),
                    "v{v}: records were copied"
                );
                assert!(RecordBatchDecoder::decode_all(&mut r.clone()).is_ok());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sample responses.

fn sample_response(api_key: ApiKey, v: i16) -> ResponseKind {
    match api_key {
        k if is_group_api(k) => group_sample_response(k, v),
        ApiKey::ApiVersions => ResponseKind::ApiVersions(versions::api_versions_response(0)),
        ApiKey::Metadata => {
            let mut part = metadata_response::MetadataResponsePartition::default()
                .with_partition_index(0)
                .with_leader_id(BrokerId(1))
                .with_replica_nodes(vec![BrokerId(1)])
                .with_isr_nodes(vec![BrokerId(1)]);
            if v >= 7 {
                part = part.with_leader_epoch(4);
            }
            let mut t = metadata_response::MetadataResponseTopic::default()
                .with_name(Some(topic("orders")))
                .with_partitions(vec![part]);
            if v >= 10 {
                t = t.with_topic_id(TOPIC_ID_A);
            }
            let missing = metadata_response::MetadataResponseTopic::default()
                .with_name(Some(topic("missing")))
                .with_error_code(super::error::UNKNOWN_TOPIC_OR_PARTITION);
            let mut r = MetadataResponse::default()
                .with_brokers(vec![metadata_response::MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(s("localhost"))
                    .with_port(9092)
                    .with_rack(Some(s("rack-a")))])
                .with_controller_id(BrokerId(1))
                .with_topics(vec![t, missing]);
            if v >= 2 {
                r = r.with_cluster_id(Some(s("ringlog-cluster")));
            }
            if v >= 3 {
                r = r.with_throttle_time_ms(0);
            }
            ResponseKind::Metadata(r)
        }
        ApiKey::Produce => {
            let mut p = produce_response::PartitionProduceResponse::default()
                .with_index(0)
                .with_base_offset(100)
                .with_log_append_time_ms(-1);
            if v >= 5 {
                p = p.with_log_start_offset(0);
            }
            let bad = produce_response::PartitionProduceResponse::default()
                .with_index(9)
                .with_error_code(super::error::UNKNOWN_TOPIC_OR_PARTITION)
                .with_base_offset(-1);
            ResponseKind::Produce(
                ProduceResponse::default()
                    .with_throttle_time_ms(0)
                    .with_responses(vec![produce_response::TopicProduceResponse::default()
                        .with_name(topic("orders"))
                        .with_partition_responses(vec![p, bad])]),
            )
        }
        ApiKey::Fetch => {
            // The non-zero-copy path (errors, empty fetches) still goes through encode_response.
            let mut p = fetch_response::PartitionData::default()
                .with_partition_index(0)
                .with_error_code(super::error::OFFSET_OUT_OF_RANGE)
                .with_high_watermark(10)
                .with_last_stable_offset(10)
                .with_records(Some(Bytes::new()));
            if v >= 5 {
                p = p.with_log_start_offset(0);
            }
            let mut t = fetch_response::FetchableTopicResponse::default().with_partitions(vec![p]);
            t = if v <= 12 {
                t.with_topic(topic("orders"))
            } else {
                t.with_topic_id(TOPIC_ID_A)
            };
            let mut r = FetchResponse::default().with_responses(vec![t]);
            if v >= 7 {
                r = r.with_session_id(0);
            }
            ResponseKind::Fetch(r)
        }
        ApiKey::ListOffsets => {
            let mut p = list_offsets_response::ListOffsetsPartitionResponse::default()
                .with_partition_index(0)
                .with_timestamp(-1)
                .with_offset(42);
            if v >= 4 {
                p = p.with_leader_epoch(3);
            }
            ResponseKind::ListOffsets(ListOffsetsResponse::default().with_topics(vec![
                list_offsets_response::ListOffsetsTopicResponse::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![p]),
            ]))
        }
        ApiKey::CreateTopics => {
            let mut t = create_topics_response::CreatableTopicResult::default()
                .with_name(topic("orders"))
                .with_error_code(super::error::TOPIC_ALREADY_EXISTS)
                .with_error_message(Some(s("Topic 'orders' already exists.")));
            if v >= 5 {
                t = t.with_num_partitions(3).with_replication_factor(1);
            }
            if v >= 7 {
                t = t.with_topic_id(TOPIC_ID_A);
            }
            ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(vec![t]))
        }
        ApiKey::DeleteTopics => {
            let mut t = delete_topics_response::DeletableTopicResult::default()
                .with_name(Some(topic("orders")));
            if v >= 6 {
                t = t.with_topic_id(TOPIC_ID_A);
            }
            ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(vec![t]))
        }
        ApiKey::InitProducerId => ResponseKind::InitProducerId(
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(1000))
                .with_producer_epoch(0),
        ),
        other => panic!("no sample for {other:?}"),
    }
}

/// Decodes one response frame with kafka-protocol (the "client side"); checks the size prefix
/// and that nothing is left over.
fn decode_response_frame(api_key: ApiKey, v: i16, frame: &[u8]) -> (i32, ResponseKind) {
    let mut buf = Bytes::copy_from_slice(frame);
    let size = buf.get_i32();
    assert_eq!(size as usize, buf.len(), "{api_key:?} v{v}: size prefix");
    let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(v)).unwrap();
    let body = match api_key {
        k if is_group_api(k) => Ok(decode_group_response(k, &mut buf, v)),
        ApiKey::ApiVersions => {
            ApiVersionsResponse::decode(&mut buf, v).map(ResponseKind::ApiVersions)
        }
        ApiKey::Metadata => MetadataResponse::decode(&mut buf, v).map(ResponseKind::Metadata),
        ApiKey::Produce => ProduceResponse::decode(&mut buf, v).map(ResponseKind::Produce),
        ApiKey::Fetch => FetchResponse::decode(&mut buf, v).map(ResponseKind::Fetch),
        ApiKey::ListOffsets => {
            ListOffsetsResponse::decode(&mut buf, v).map(ResponseKind::ListOffsets)
        }
        ApiKey::CreateTopics => {
            CreateTopicsResponse::decode(&mut buf, v).map(ResponseKind::CreateTopics)
        }
        ApiKey::DeleteTopics => {
            DeleteTopicsResponse::decode(&mut buf, v).map(ResponseKind::DeleteTopics)
        }
        ApiKey::InitProducerId => {
            InitProducerIdResponse::decode(&mut buf, v).map(ResponseKind::InitProducerId)
        }
        other => panic!("{other:?}"),
    }
    .unwrap_or_else(|e| panic!("{api_key:?} v{v}: {e:#}"));
    assert!(
        buf.is_empty(),
        "{api_key:?} v{v}: {} trailing bytes",
        buf.len()
    );
    (header.correlation_id, body)
}

fn header_for(api_key: ApiKey, v: i16) -> RequestHeader {
    RequestHeader {
        api_key,
        api_version: v,
        correlation_id: correlation_id(api_key, v),
        client_id: None,
    }
}

#[test]
fn every_advertised_response_version_round_trips() {
    for (api_key, v) in all_versions() {
        let resp = sample_response(api_key, v);
        let mut out = BytesMut::from(&b"previous"[..]);
        encode_response(&header_for(api_key, v), &resp, &mut out)
            .unwrap_or_else(|e| panic!("{api_key:?} v{v}: {e}"));
        assert_eq!(&out[..8], b"previous");
        let (corr, decoded) = decode_response_frame(api_key, v, &out[8..]);
        assert_eq!(corr, correlation_id(api_key, v));
        assert_eq!(decoded, resp, "{api_key:?} v{v}");
    }
}

#[test]
fn encode_response_rejects_wrong_kind_and_leaves_out_untouched() {
    let mut out = BytesMut::from(&b"xy"[..]);
    let err = encode_response(
        &header_for(ApiKey::Fetch, 12),
        &ResponseKind::Metadata(MetadataResponse::default()),
        &mut out,
    );
    assert!(err.is_err());
    // A field the version cannot carry: session_id needs Fetch v7+.
    let bad = ResponseKind::Fetch(FetchResponse::default().with_session_id(5));
    assert!(encode_response(&header_for(ApiKey::Fetch, 4), &bad, &mut out).is_err());
    assert_eq!(&out[..], b"xy");
}

// ---------------------------------------------------------------------------------------------
// Hand-written vectors (Kafka protocol guide layouts), to catch mistakes kafka-protocol would make
// symmetrically on both sides.

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Our table in v0 ApiVersion layout: api_key, min_version, max_version (i16 each).
const TABLE_V0: &str = "0000 0003 000a  0001 0004 0010  0002 0001 0008  0003 0001 000c
                        0008 0002 0009  0009 0001 0009  000a 0000 0004  000b 0000 0009
                        000c 0000 0004  000d 0000 0005  000e 0000 0005  000f 0000 0005
                        0010 0000 0005
                        0012 0000 0004  0013 0002 0007  0014 0001 0006  0016 0000 0005
                        002a 0000 0002";
/// The same in v3 layout: each entry followed by an empty tagged-field section (00).
fn table_v3() -> String {
    let digits: Vec<char> = TABLE_V0.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    digits
        .chunks(12)
        .map(|e| format!("{} 00 ", e.iter().collect::<String>()))
        .collect()
}
/// Entries in [`TABLE_V0`] (6 bytes = 12 hex digits each).
fn table_entries() -> usize {
    TABLE_V0.chars().filter(|c| c.is_ascii_hexdigit()).count() / 12
}

#[test]
fn api_versions_v0_request_vector() {
    // header v1: api_key 18, version 0, correlation 1, client_id "kcat"; v0 body is empty.
    let body = hex("0012 0000 00000001 0004 6b636174");
    let (h, r) = decode_request(Bytes::from(body)).unwrap();
    assert_eq!(h.api_key, ApiKey::ApiVersions);
    assert_eq!((h.api_version, h.correlation_id), (0, 1));
    assert_eq!(h.client_id.as_deref(), Some("kcat"));
    assert_eq!(r, Request::ApiVersions(ApiVersionsRequest::default()));
}

#[test]
fn api_versions_v3_request_vector() {
    // header v2: api_key 18, version 3, correlation 2, client_id "rdkafka" (i16 length, not
    // compact), no tagged fields; body: compact strings "librdkafka" and "2.0.2", no tagged fields.
    let body = hex("0012 0003 00000002 0007 72646b61666b61 00
         0b 6c696272646b61666b61  06 322e302e32  00");
    let (h, r) = decode_request(Bytes::from(body)).unwrap();
    assert_eq!((h.api_version, h.correlation_id), (3, 2));
    assert_eq!(h.client_id.as_deref(), Some("rdkafka"));
    let Request::ApiVersions(r) = r else { panic!() };
    assert_eq!(&*r.client_software_name, "librdkafka");
    assert_eq!(&*r.client_software_version, "2.0.2");
}

#[test]
fn api_versions_v0_response_vector() {
    let mut out = BytesMut::new();
    encode_response(
        &header_for(ApiKey::ApiVersions, 0),
        &ResponseKind::ApiVersions(versions::api_versions_response(0)),
        &mut out,
    )
    .unwrap();
    // size = correlation 4 + error 2 + count 4 + n * 6; header v0; array i32 count n.
    let n = table_entries();
    let expected = hex(&format!(
        "{:08x} 00004650 0000 {n:08x} {TABLE_V0}",
        10 + 6 * n
    ));
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn api_versions_v3_response_vector_has_v0_header_and_no_default_tagged_fields() {
    for v in [3, 4] {
        let mut out = BytesMut::new();
        encode_response(
            &header_for(ApiKey::ApiVersions, v),
            &ResponseKind::ApiVersions(versions::api_versions_response(0)),
            &mut out,
        )
        .unwrap();
        // size 12 + 7n; header v0 (correlation only, no tag byte); error 0; compact array n+1;
        // entries; throttle_time_ms 0; tagged fields: 00 (no features, no epoch, no zk flag).
        let corr = correlation_id(ApiKey::ApiVersions, v);
        let n = table_entries();
        let expected = hex(&format!(
            "{:08x} {corr:08x} 0000 {:02x} {} 00000000 00",
            12 + 7 * n,
            n + 1,
            table_v3()
        ));
        assert_eq!(&out[..], &expected[..], "v{v}");
    }
}

#[test]
fn api_versions_unsupported_reply_vector() {
    let mut out = BytesMut::new();
    versions::encode_api_versions_unsupported(5, &mut out);
    let n = table_entries();
    let expected = hex(&format!(
        "{:08x} 00000005 0023 {n:08x} {TABLE_V0}",
        10 + 6 * n
    ));
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn unsupported_versions_and_unknown_keys() {
    // ApiVersions v5 (header v2) from a future client: reported with its correlation id.
    let body = hex("0012 0005 0000002a 0001 61 00");
    assert_eq!(
        decode_request(Bytes::from(body)),
        Err(DecodeError::UnsupportedVersion {
            api_key: ApiKey::ApiVersions,
            api_version: 5,
            correlation_id: 42
        })
    );
    for (key, v) in [
        (0i16, 2i16),
        (0, 11),
        (1, 3),
        (1, 17),
        (3, 0),
        (3, 13),
        (2, 9),
    ] {
        let mut b = BytesMut::new();
        b.put_i16(key);
        b.put_i16(v);
        b.put_i32(7);
        b.put_i16(-1);
        assert!(
            matches!(
                decode_request(b.freeze()),
                Err(DecodeError::UnsupportedVersion { .. })
            ),
            "key {key} v{v}"
        );
    }
    // DescribeConfigs (32), OffsetForLeaderEpoch (23): real Kafka APIs we do not serve yet;
    // 999: not a Kafka API at all.
    for key in [32i16, 23, 999, -1] {
        let mut b = BytesMut::new();
        b.put_i16(key);
        b.put_i16(0);
        b.put_i32(8);
        assert_eq!(
            decode_request(b.freeze()),
            Err(DecodeError::UnknownApiKey {
                api_key: key,
                api_version: 0,
                correlation_id: 8
            })
        );
    }
    assert_eq!(
        decode_request(Bytes::from_static(&[0, 18, 0])),
        Err(DecodeError::HeaderTooShort {
            frame_body_bytes: 3
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Fetch: the hand framer against kafka-protocol's FetchResponse decoder and encoder.

struct FetchCase {
    slices: Vec<Bytes>,
    reply: FetchReply,
}

fn fetch_case() -> FetchCase {
    let slices = vec![record_batch(0, 3), record_batch(3, 2), record_batch(40, 5)];
    let slice = |id: usize| RecordSlice {
        slice_id: id,
        len: slices[id].len() as u32,
    };
    let reply = FetchReply {
        throttle_time_ms: 7,
        error_code: 0,
        session_id: 1234,
        topics: vec![
            FetchReplyTopic {
                name: s("orders"),
                topic_id: TOPIC_ID_A,
                partitions: vec![
                    FetchReplyPartition {
                        partition_index: 0,
                        error_code: 0,
                        high_watermark: 5,
                        last_stable_offset: 5,
                        log_start_offset: 0,
                        records: vec![slice(0), slice(1)],
                    },
                    FetchReplyPartition {
                        partition_index: 1,
                        error_code: super::error::OFFSET_OUT_OF_RANGE,
                        high_watermark: 0,
                        last_stable_offset: 0,
                        log_start_offset: 0,
                        records: vec![],
                    },
                ],
            },
            FetchReplyTopic {
                name: s("clicks"),
                topic_id: TOPIC_ID_B,
                partitions: vec![FetchReplyPartition {
                    partition_index: 7,
                    error_code: 0,
                    high_watermark: 45,
                    last_stable_offset: 45,
                    log_start_offset: 40,
                    records: vec![slice(2)],
                }],
            },
        ],
    };
    FetchCase { slices, reply }
}

/// What kafka-protocol should decode from our frame at version `v`.
fn expected_fetch_response(case: &FetchCase, v: i16) -> FetchResponse {
    let topics = case
        .reply
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut records = BytesMut::new();
                    for s in &p.records {
                        records.put_slice(&case.slices[s.slice_id]);
                    }
                    let mut d = fetch_response::PartitionData::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(p.error_code)
                        .with_high_watermark(p.high_watermark)
                        .with_last_stable_offset(p.last_stable_offset)
                        .with_aborted_transactions(None)
                        .with_records(Some(records.freeze()));
                    if v >= 5 {
                        d = d.with_log_start_offset(p.log_start_offset);
                    }
                    d
                })
                .collect();
            let ft = fetch_response::FetchableTopicResponse::default().with_partitions(partitions);
            if v <= 12 {
                ft.with_topic(TopicName(t.name.clone()))
            } else {
                ft.with_topic_id(t.topic_id)
            }
        })
        .collect();
    let mut r = FetchResponse::default()
        .with_throttle_time_ms(case.reply.throttle_time_ms)
        .with_responses(topics);
    if v >= 7 {
        r = r
            .with_error_code(case.reply.error_code)
            .with_session_id(case.reply.session_id);
    }
    r
}

/// Concatenates the parts the way the connection will send them.
fn assemble(out: &[u8], parts: &[Part], slices: &[Bytes]) -> Vec<u8> {
    let mut wire = Vec::new();
    for part in parts {
        match part {
            Part::Header(r) => wire.extend_from_slice(&out[r.clone()]),
            Part::Slice(id) => wire.extend_from_slice(&slices[*id]),
        }
    }
    wire
}

#[test]
fn fetch_framer_matches_kafka_protocol_for_every_advertised_version() {
    let case = fetch_case();
    for v in 4..=16 {
        let mut out = BytesMut::from(&b"earlier response bytes"[..]);
        let start = out.len();
        let parts = fetch::frame_fetch_response(99, v, &case.reply, &mut out).unwrap();

        // Plan invariants: header ranges in order, non-empty, covering exactly the new bytes;
        // slices in input order.
        let mut next = start;
        let mut slice_ids = Vec::new();
        for part in &parts {
            match part {
                Part::Header(r) => {
                    assert_eq!(r.start, next, "v{v}: header ranges must be contiguous");
                    assert!(r.end > r.start);
                    next = r.end;
                }
                Part::Slice(id) => slice_ids.push(*id),
            }
        }
        assert_eq!(next, out.len());
        assert_eq!(slice_ids, vec![0, 1, 2]);

        let wire = assemble(&out, &parts, &case.slices);
        let (corr, decoded) = decode_response_frame(ApiKey::Fetch, v, &wire);
        assert_eq!(corr, 99);
        let expected = expected_fetch_response(&case, v);
        assert_eq!(decoded, ResponseKind::Fetch(expected.clone()), "v{v}");

        // Byte-for-byte what kafka-protocol itself would send.
        let mut reference = BytesMut::new();
        let header = RequestHeader {
            api_key: ApiKey::Fetch,
            api_version: v,
            correlation_id: 99,
            client_id: None,
        };
        encode_response(&header, &ResponseKind::Fetch(expected), &mut reference).unwrap();
        assert_eq!(wire, &reference[..], "v{v}");

        // And the record bytes are real, decodable batches.
        let ResponseKind::Fetch(decoded) = decoded else {
            unreachable!()
        };
        let records = decoded.responses[1].partitions[0].records.clone().unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut records.clone()).unwrap();
        // (kafka-protocol's encoder starts a new batch per record when sequence is -1.)
        let offsets: Vec<i64> = sets
            .iter()
            .flat_map(|s| s.records.iter().map(|r| r.offset))
            .collect();
        assert_eq!(offsets, vec![40, 41, 42, 43, 44]);
    }
}

#[test]
fn fetch_framer_empty_response_and_header_versions() {
    for v in 4..=16 {
        let mut out = BytesMut::new();
        let parts = fetch::frame_fetch_response(1, v, &FetchReply::default(), &mut out).unwrap();
        assert_eq!(parts, vec![Part::Header(0..out.len())]);
        let (_, decoded) = decode_response_frame(ApiKey::Fetch, v, &out);
        assert_eq!(decoded, ResponseKind::Fetch(FetchResponse::default()));
        assert_eq!(
            response_header_version(ApiKey::Fetch, v),
            if v >= 12 { 1 } else { 0 }
        );
    }
}

#[test]
fn fetch_framer_errors_leave_out_untouched() {
    let mut out = BytesMut::from(&b"keep"[..]);
    for v in [3, 17, -1] {
        assert_eq!(
            fetch::frame_fetch_response(1, v, &FetchReply::default(), &mut out),
            Err(fetch::FetchFrameError::UnsupportedVersion { api_version: v })
        );
    }
    let huge = |id| RecordSlice {
        slice_id: id,
        len: 1 << 30,
    };
    let part = |i, records| FetchReplyPartition {
        partition_index: i,
        records,
        ..Default::default()
    };
    let one_partition_too_big = FetchReply {
        topics: vec![FetchReplyTopic {
            partitions: vec![part(0, vec![huge(0), huge(1)])],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(matches!(
        fetch::frame_fetch_response(1, 12, &one_partition_too_big, &mut out),
        Err(fetch::FetchFrameError::RecordsTooLarge {
            partition_index: 0,
            ..
        })
    ));
    let frame_too_big = FetchReply {
        topics: vec![FetchReplyTopic {
            partitions: vec![part(0, vec![huge(0)]), part(1, vec![huge(1)])],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(matches!(
        fetch::frame_fetch_response(1, 16, &frame_too_big, &mut out),
        Err(fetch::FetchFrameError::FrameTooLarge { .. })
    ));
    assert_eq!(&out[..], b"keep");
}

// ---------------------------------------------------------------------------------------------
// Robustness: no input may panic or abort decode_request.

/// xorshift64*: deterministic, dependency-free randomness for the fuzz-style tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn header_prefix(api_key: ApiKey, v: i16) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(api_key as i16);
    b.put_i16(v);
    b.put_i32(1);
    b
}

#[test]
fn random_truncated_and_mutated_bodies_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (api_key, v) in all_versions() {
        let valid = encode_request(api_key, v, &sample_request(api_key, v));
        // Every truncation of a valid frame.
        for n in 0..valid.len() {
            let _ = decode_request(valid.slice(..n));
        }
        // Random bytes after a valid fixed header prefix, sometimes with a valid client id.
        for i in 0..300 {
            let mut b = header_prefix(api_key, v);
            if i % 2 == 0 {
                b.put_i16(-1);
            }
            for _ in 0..rng.below(96) {
                b.put_u8(rng.next() as u8);
            }
            let _ = decode_request(b.freeze());
        }
        // Valid frames with a few bytes overwritten (length fields hit often).
        for _ in 0..300 {
            let mut b = valid.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len());
                b[at] = match rng.below(4) {
                    0 => 0xff,
                    1 => 0x7f,
                    2 => 0x00,
                    _ => rng.next() as u8,
                };
            }
            let _ = decode_request(Bytes::from(b));
        }
    }
    // Fully random frames, any api key.
    for _ in 0..5000 {
        let b: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let _ = decode_request(Bytes::from(b));
    }
}

#[test]
fn huge_array_counts_are_malformed_not_allocations() {
    // Metadata v1: header v1, null client id, topics array count i32::MAX with no elements.
    let mut b = header_prefix(ApiKey::Metadata, 1);
    b.put_i16(-1);
    b.put_i32(i32::MAX);
    assert!(matches!(
        decode_request(b.freeze()),
        Err(DecodeError::Malformed { .. })
    ));
    // Fetch v12 (flexible): header v2, topics compact array count u32::MAX - 1.
    let mut b = header_prefix(ApiKey::Fetch, 12);
    b.put_i16(-1);
    b.put_u8(0); // header tagged fields
    b.put_i32(-1); // replica_id
    b.put_i32(500); // max_wait_ms
    b.put_i32(1); // min_bytes
    b.put_i32(1 << 20); // max_bytes
    b.put_i8(0); // isolation_level
    b.put_i32(0); // session_id
    b.put_i32(-1); // session_epoch
    b.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // topics: uvarint u32::MAX
    assert!(matches!(
        decode_request(b.freeze()),
        Err(DecodeError::Malformed { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Consumer group APIs (src/broker/group): samples setting only the fields each version carries.

fn is_group_api(k: ApiKey) -> bool {
    matches!(
        k,
        ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::FindCoordinator
            | ApiKey::JoinGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::SyncGroup
            | ApiKey::DescribeGroups
            | ApiKey::ListGroups
            | ApiKey::DeleteGroups
    )
}

fn group(s: &'static str) -> GroupId {
    GroupId(StrBytes::from_static_str(s))
}

fn group_sample_request(api_key: ApiKey, v: i16) -> Request {
    match api_key {
        ApiKey::OffsetCommit => {
            let mut p = offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_offset(42)
                .with_committed_metadata(Some(s("meta")));
            if v >= 6 {
                p = p.with_committed_leader_epoch(3);
            }
            let mut r = OffsetCommitRequest::default()
                .with_group_id(group("g1"))
                .with_generation_id_or_member_epoch(5)
                .with_member_id(s("m-1"))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic("orders"))
                        .with_partitions(vec![p]),
                ]);
            if v >= 7 {
                r = r.with_group_instance_id(Some(s("i-1")));
            }
            if v <= 4 {
                r = r.with_retention_time_ms(60_000);
            }
            Request::OffsetCommit(r)
        }
        ApiKey::OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            if v <= 7 {
                r = r.with_group_id(group("g1")).with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic("orders"))
                        .with_partition_indexes(vec![0, 1]),
                ]));
            } else {
                let mut g = offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group("g1"))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(topic("orders"))
                            .with_partition_indexes(vec![0, 1]),
                    ]));
                if v >= 9 {
                    g = g.with_member_id(Some(s("m-1"))).with_member_epoch(4);
                }
                let all = offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group("g2"))
                    .with_topics(None);
                r = r.with_groups(vec![g, all]);
            }
            if v >= 7 {
                r = r.with_require_stable(true);
            }
            Request::OffsetFetch(r)
        }
        ApiKey::FindCoordinator => {
            let r = FindCoordinatorRequest::default();
            Request::FindCoordinator(match v {
                0 => r.with_key(s("g1")),
                1..=3 => r.with_key(s("g1")).with_key_type(0),
                _ => r
                    .with_key_type(0)
                    .with_coordinator_keys(vec![s("g1"), s("g2")]),
            })
        }
        ApiKey::JoinGroup => {
            let mut r = JoinGroupRequest::default()
                .with_group_id(group("g1"))
                .with_session_timeout_ms(10_000)
                .with_member_id(s("m-1"))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![
                    join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(s("range"))
                        .with_metadata(Bytes::from_static(b"\x00\x01meta")),
                    join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(s("roundrobin"))
                        .with_metadata(Bytes::from_static(b"")),
                ]);
            if v >= 1 {
                r = r.with_rebalance_timeout_ms(30_000);
            }
            if v >= 5 {
                r = r.with_group_instance_id(Some(s("i-1")));
            }
            if v >= 8 {
                r = r.with_reason(Some(s("rejoin")));
            }
            Request::JoinGroup(r)
        }
        ApiKey::Heartbeat => {
            let mut r = HeartbeatRequest::default()
                .with_group_id(group("g1"))
                .with_generation_id(3)
                .with_member_id(s("m-1"));
            if v >= 3 {
                r = r.with_group_instance_id(Some(s("i-1")));
            }
            Request::Heartbeat(r)
        }
        ApiKey::LeaveGroup => {
            let r = LeaveGroupRequest::default().with_group_id(group("g1"));
            Request::LeaveGroup(if v <= 2 {
                r.with_member_id(s("m-1"))
            } else {
                let mut m = leave_group_request::MemberIdentity::default()
                    .with_member_id(s("m-1"))
                    .with_group_instance_id(Some(s("i-1")));
                if v >= 5 {
                    m = m.with_reason(Some(s("bye")));
                }
                r.with_members(vec![m])
            })
        }
        ApiKey::SyncGroup => {
            let mut r = SyncGroupRequest::default()
                .with_group_id(group("g1"))
                .with_generation_id(3)
                .with_member_id(s("m-1"))
                .with_assignments(vec![
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(s("m-1"))
                        .with_assignment(Bytes::from_static(b"\x00\x01assign")),
                ]);
            if v >= 3 {
                r = r.with_group_instance_id(Some(s("i-1")));
            }
            if v >= 5 {
                r = r
                    .with_protocol_type(Some(s("consumer")))
                    .with_protocol_name(Some(s("range")));
            }
            Request::SyncGroup(r)
        }
        ApiKey::DescribeGroups => {
            let mut r =
                DescribeGroupsRequest::default().with_groups(vec![group("g1"), group("g2")]);
            if v >= 3 {
                r = r.with_include_authorized_operations(true);
            }
            Request::DescribeGroups(r)
        }
        ApiKey::ListGroups => {
            let mut r = ListGroupsRequest::default();
            if v >= 4 {
                r = r.with_states_filter(vec![s("Stable")]);
            }
            if v >= 5 {
                r = r.with_types_filter(vec![s("classic")]);
            }
            Request::ListGroups(r)
        }
        ApiKey::DeleteGroups => Request::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![group("g1"), group("g2")]),
        ),
        other => panic!("no group sample for {other:?}"),
    }
}

fn group_sample_response(api_key: ApiKey, v: i16) -> ResponseKind {
    match api_key {
        ApiKey::OffsetCommit => {
            ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(vec![
                offset_commit_response::OffsetCommitResponseTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        offset_commit_response::OffsetCommitResponsePartition::default()
                            .with_partition_index(1)
                            .with_error_code(super::error::UNKNOWN_TOPIC_OR_PARTITION),
                    ]),
            ]))
        }
        ApiKey::OffsetFetch => {
            let r = OffsetFetchResponse::default();
            ResponseKind::OffsetFetch(if v <= 7 {
                let mut p = offset_fetch_response::OffsetFetchResponsePartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(42)
                    .with_metadata(Some(s("meta")));
                if v >= 5 {
                    p = p.with_committed_leader_epoch(2);
                }
                r.with_topics(vec![
                    offset_fetch_response::OffsetFetchResponseTopic::default()
                        .with_name(topic("orders"))
                        .with_partitions(vec![p]),
                ])
            } else {
                r.with_groups(vec![
                    offset_fetch_response::OffsetFetchResponseGroup::default()
                        .with_group_id(group("g1"))
                        .with_topics(vec![
                            offset_fetch_response::OffsetFetchResponseTopics::default()
                                .with_name(topic("orders"))
                                .with_partitions(vec![
                                    offset_fetch_response::OffsetFetchResponsePartitions::default()
                                        .with_partition_index(0)
                                        .with_committed_offset(42)
                                        .with_committed_leader_epoch(2)
                                        .with_metadata(Some(s("meta"))),
                                ]),
                        ]),
                ])
            })
        }
        ApiKey::FindCoordinator => {
            let r = FindCoordinatorResponse::default();
            ResponseKind::FindCoordinator(if v <= 3 {
                r.with_node_id(BrokerId(0))
                    .with_host(s("127.0.0.1"))
                    .with_port(9092)
            } else {
                r.with_coordinators(vec![find_coordinator_response::Coordinator::default()
                    .with_key(s("g1"))
                    .with_node_id(BrokerId(0))
                    .with_host(s("127.0.0.1"))
                    .with_port(9092)])
            })
        }
        ApiKey::JoinGroup => {
            let mut r = JoinGroupResponse::default()
                .with_generation_id(3)
                .with_protocol_name(Some(s("range")))
                .with_leader(s("m-1"))
                .with_member_id(s("m-1"));
            let mut m = join_group_response::JoinGroupResponseMember::default()
                .with_member_id(s("m-1"))
                .with_metadata(Bytes::from_static(b"\x00\x01meta"));
            if v >= 5 {
                m = m.with_group_instance_id(Some(s("i-1")));
            }
            r = r.with_members(vec![m]);
            if v >= 7 {
                r = r.with_protocol_type(Some(s("consumer")));
            }
            ResponseKind::JoinGroup(r)
        }
        ApiKey::Heartbeat => ResponseKind::Heartbeat(
            HeartbeatResponse::default().with_error_code(super::error::NONE),
        ),
        ApiKey::LeaveGroup => {
            let r = LeaveGroupResponse::default();
            ResponseKind::LeaveGroup(if v >= 3 {
                r.with_members(vec![leave_group_response::MemberResponse::default()
                    .with_member_id(s("m-1"))
                    .with_group_instance_id(Some(s("i-1")))])
            } else {
                r
            })
        }
        ApiKey::SyncGroup => {
            let mut r =
                SyncGroupResponse::default().with_assignment(Bytes::from_static(b"\x00\x01as"));
            if v >= 5 {
                r = r
                    .with_protocol_type(Some(s("consumer")))
                    .with_protocol_name(Some(s("range")));
            }
            ResponseKind::SyncGroup(r)
        }
        ApiKey::DescribeGroups => {
            let mut m = describe_groups_response::DescribedGroupMember::default()
                .with_member_id(s("m-1"))
                .with_client_id(s("rdkafka"))
                .with_client_host(s("/127.0.0.1"))
                .with_member_metadata(Bytes::from_static(b"md"))
                .with_member_assignment(Bytes::from_static(b"as"));
            if v >= 4 {
                m = m.with_group_instance_id(Some(s("i-1")));
            }
            let mut g = describe_groups_response::DescribedGroup::default()
                .with_group_id(group("g1"))
                .with_group_state(s("Stable"))
                .with_protocol_type(s("consumer"))
                .with_protocol_data(s("range"))
                .with_members(vec![m]);
            if v >= 3 {
                g = g.with_authorized_operations(0);
            }
            ResponseKind::DescribeGroups(DescribeGroupsResponse::default().with_groups(vec![g]))
        }
        ApiKey::ListGroups => {
            let mut g = list_groups_response::ListedGroup::default()
                .with_group_id(group("g1"))
                .with_protocol_type(s("consumer"));
            if v >= 4 {
                g = g.with_group_state(s("Stable"));
            }
            if v >= 5 {
                g = g.with_group_type(s("classic"));
            }
            ResponseKind::ListGroups(ListGroupsResponse::default().with_groups(vec![g]))
        }
        ApiKey::DeleteGroups => {
            ResponseKind::DeleteGroups(DeleteGroupsResponse::default().with_results(vec![
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(group("g1"))
                    .with_error_code(68),
            ]))
        }
        other => panic!("no group sample for {other:?}"),
    }
}

fn decode_group_response(api_key: ApiKey, buf: &mut Bytes, v: i16) -> ResponseKind {
    macro_rules! dec {
        ($t:ty, $k:ident) => {
            ResponseKind::$k(
                <$t>::decode(buf, v).unwrap_or_else(|e| panic!("{api_key:?} v{v}: {e:#}")),
            )
        };
    }
    match api_key {
        ApiKey::OffsetCommit => dec!(OffsetCommitResponse, OffsetCommit),
        ApiKey::OffsetFetch => dec!(OffsetFetchResponse, OffsetFetch),
        ApiKey::FindCoordinator => dec!(FindCoordinatorResponse, FindCoordinator),
        ApiKey::JoinGroup => dec!(JoinGroupResponse, JoinGroup),
        ApiKey::Heartbeat => dec!(HeartbeatResponse, Heartbeat),
        ApiKey::LeaveGroup => dec!(LeaveGroupResponse, LeaveGroup),
        ApiKey::SyncGroup => dec!(SyncGroupResponse, SyncGroup),
        ApiKey::DescribeGroups => dec!(DescribeGroupsResponse, DescribeGroups),
        ApiKey::ListGroups => dec!(ListGroupsResponse, ListGroups),
        ApiKey::DeleteGroups => dec!(DeleteGroupsResponse, DeleteGroups),
        other => panic!("{other:?}"),
    }
}
