//! Round-trip tests for the APIs issue #16 adds, all served now: the share-group APIs
//! (ShareGroupHeartbeat 76, ShareGroupDescribe 77, ShareFetch 78, ShareAcknowledge 79), the
//! Admin client's share-group offset APIs (Describe/Alter/DeleteShareGroupOffsets 90-92),
//! KIP-848's ConsumerGroupHeartbeat and ConsumerGroupDescribe (68, 69), DescribeConfigs (32) and
//! IncrementalAlterConfigs (44). (They are also in `roundtrip_tests`' whole-frame tests over
//! every served version, like every other served API.)
//!
//! The differential tests check their bodies byte for byte against the `kafka-protocol` crate,
//! but that crate (0.18) knows only v1 of the share APIs and v0 of DescribeShareGroupOffsets;
//! ShareFetch and ShareAcknowledge v2 (Kafka 4.4, KIP-1206/KIP-1222) and DescribeShareGroupOffsets
//! v1 (KIP-1226) are checked here with hand-written byte vectors laid out from Kafka's message
//! schemas. Also here:
//! - random values of every defined version decode back to themselves, as bodies and as whole
//!   frames through the client side's [`super::encode_request`] and [`super::decode_response`]
//!   (request header v2 and response header v1 for flexible versions, v1 and v0 otherwise);
//! - they are advertised with exactly the ranges a Kafka 4.4 broker advertises, and the group
//!   APIs' request frames decode at those versions and no others;
//! - the APIs defined ahead of their handlers are exactly [`UNSERVED_KEYS`], and every
//!   Kafka key without a served definition is still neither served nor advertised, a request
//!   frame for one an unknown key;
//! - truncated and mutated bodies never panic, and whatever decodes re-encodes to a fixed point.

use std::fmt::Debug;

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::api_key::ApiKey;
use super::header::{request_header_version, response_header_version};
use super::messages::{
    self, ConsumerGroupHeartbeatAssignment, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, ConsumerGroupHeartbeatTopicPartitions,
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsRequestGroup,
    DescribeShareGroupOffsetsResponse, DescribeShareGroupOffsetsResponseGroup,
    DescribeShareGroupOffsetsResponsePartition, DescribeShareGroupOffsetsResponseTopic,
    ShareAcknowledgeRequest, ShareAcknowledgeResponse, ShareAcknowledgementBatch,
    ShareFetchPartition, ShareFetchRequest, ShareFetchTopic, ShareGroupHeartbeatAssignment,
    ShareGroupHeartbeatResponse, ShareGroupHeartbeatTopicPartitions,
};
use super::random::{Random, Rng};
use super::versions;
use super::wire::{Cx, Reader, Str, Wire};
use super::{decode_request, decode_response, encode_request, ApiRequest, DecodeError, Message};

/// Random values per (message, version).
const CASES_PER_VERSION: u64 = 200;

/// The APIs defined but not served (`unserved_apis!`), in Kafka's numbering: none today (the
/// transaction APIs of issue #18 were, until their handlers came).
const UNSERVED_KEYS: [ApiKey; 0] = [];

/// The share-group APIs served, the consumer's and the Admin client's, with the version ranges
/// (min, max) a Kafka 4.4 broker advertises for them in its ApiVersions response (read from a
/// running 4.4.0 broker; the same as its schemas' validVersions). Written out here rather than
/// taken from [`versions::SUPPORTED_APIS`].
const SERVED_SHARE_APIS: [(ApiKey, i16, i16); 7] = [
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::ShareFetch, 1, 2),
    (ApiKey::ShareAcknowledge, 1, 2),
    (ApiKey::DescribeShareGroupOffsets, 0, 1),
    (ApiKey::AlterShareGroupOffsets, 0, 0),
    (ApiKey::DeleteShareGroupOffsets, 0, 0),
];

/// KIP-848's consumer-group APIs served, with the ranges a Kafka 4.4 broker advertises for them,
/// read the same way (its ApiVersions v0 and v3 list 0044 0000 0001 and 0045 0000 0001).
const SERVED_CONSUMER_GROUP_APIS: [(ApiKey, i16, i16); 2] = [
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
];

/// The config APIs served (GROUP configs of share groups), with the ranges a Kafka 4.4 broker
/// advertises for them, read the same way. DescribeConfigs v0 was removed in Kafka 4.0.
const SERVED_CONFIG_APIS: [(ApiKey, i16, i16); 2] = [
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
];

fn seed(key: i16, v: i16, case: u64) -> u64 {
    (u64::from(key as u16) << 48) ^ ((v as u64) << 32) ^ (0x5a << 20) ^ case
}

fn body<M: Message>(value: &M, v: i16) -> Bytes {
    let mut b = BytesMut::new();
    value.encode(&mut b, v);
    b.freeze()
}

/// Random bodies of `M` at every defined version decode back to the value, and re-encode to
/// the same bytes.
fn bodies_round_trip<M: Message + Random + Debug + PartialEq>() {
    for v in M::VERSIONS.min..=M::VERSIONS.max {
        for case in 0..CASES_PER_VERSION {
            let value = M::random(&mut Rng::new(seed(M::API_KEY, v, case)), M::cx(v));
            let bytes = body(&value, v);
            let back = M::decode(bytes.clone(), v)
                .unwrap_or_else(|e| panic!("key {} v{v} case {case}: {e}", M::API_KEY));
            assert_eq!(back, value, "key {} v{v} case {case}", M::API_KEY);
            assert_eq!(body(&back, v), bytes, "key {} v{v} case {case}", M::API_KEY);
        }
    }
}

/// A request frame from [`encode_request`] has the size prefix, the request header (v2 with an
/// empty tag section after the client id where the version is flexible, v1 otherwise) and the
/// body; a response frame with header v1 (flexible) or v0 decodes through [`decode_response`].
fn frames_round_trip<R>()
where
    R: ApiRequest + Random + Debug + PartialEq,
    R::Response: Random + Debug + PartialEq,
{
    for v in R::VERSIONS.min..=R::VERSIONS.max {
        let flexible = R::FLEXIBLE.contains(v);
        assert_eq!(
            request_header_version(R::KEY, v),
            if flexible { 2 } else { 1 },
            "{:?} v{v}",
            R::KEY
        );
        assert_eq!(
            response_header_version(R::KEY, v),
            i16::from(flexible),
            "{:?} v{v}",
            R::KEY
        );
        for case in 0..CASES_PER_VERSION / 8 {
            let mut g = Rng::new(seed(R::API_KEY, v, case) ^ 1);
            let request = R::random(&mut g, R::cx(v));
            let mut frame = BytesMut::new();
            let correlation_id = 7000 + i32::from(v);
            encode_request(
                &request,
                v,
                correlation_id,
                Some("share-client"),
                &mut frame,
            )
            .expect("small frame");
            let mut r = Reader::new(frame.freeze());
            let size = r.i32().unwrap();
            assert_eq!(
                size as usize,
                r.remaining(),
                "{:?} v{v}: size prefix",
                R::KEY
            );
            assert_eq!(r.i16().unwrap(), R::API_KEY);
            assert_eq!(r.i16().unwrap(), v);
            assert_eq!(r.i32().unwrap(), correlation_id);
            let client_id = Option::<Str>::read(
                &mut r,
                Cx {
                    version: 0,
                    flexible: false,
                    nullable: true,
                },
            )
            .unwrap();
            assert_eq!(client_id.as_deref(), Some("share-client"));
            if flexible {
                assert_eq!(r.uvarint().unwrap(), 0, "header tag section");
            }
            let back = R::read(&mut r, R::cx(v)).unwrap();
            assert_eq!(back, request, "{:?} v{v} case {case}", R::KEY);
            assert_eq!(r.remaining(), 0);

            let response = R::Response::random(&mut g, R::Response::cx(v));
            let mut frame = BytesMut::new();
            frame.put_i32(correlation_id);
            if flexible {
                frame.put_u8(0); // response header v1: empty tag section
            }
            response.encode(&mut frame, v);
            let (got_id, back) = decode_response::<R>(frame.freeze(), v).unwrap();
            assert_eq!(got_id, correlation_id);
            assert_eq!(back, response, "{:?} response v{v} case {case}", R::KEY);
        }
    }
}

#[test]
fn share_group_heartbeat_round_trips() {
    bodies_round_trip::<messages::ShareGroupHeartbeatRequest>();
    bodies_round_trip::<messages::ShareGroupHeartbeatResponse>();
    frames_round_trip::<messages::ShareGroupHeartbeatRequest>();
}

#[test]
fn share_group_describe_round_trips() {
    bodies_round_trip::<messages::ShareGroupDescribeRequest>();
    bodies_round_trip::<messages::ShareGroupDescribeResponse>();
    frames_round_trip::<messages::ShareGroupDescribeRequest>();
}

#[test]
fn share_fetch_round_trips() {
    bodies_round_trip::<messages::ShareFetchRequest>();
    bodies_round_trip::<messages::ShareFetchResponse>();
    frames_round_trip::<messages::ShareFetchRequest>();
}

#[test]
fn share_acknowledge_round_trips() {
    bodies_round_trip::<messages::ShareAcknowledgeRequest>();
    bodies_round_trip::<messages::ShareAcknowledgeResponse>();
    frames_round_trip::<messages::ShareAcknowledgeRequest>();
}

#[test]
fn describe_share_group_offsets_round_trips() {
    bodies_round_trip::<messages::DescribeShareGroupOffsetsRequest>();
    bodies_round_trip::<messages::DescribeShareGroupOffsetsResponse>();
    frames_round_trip::<messages::DescribeShareGroupOffsetsRequest>();
}

#[test]
fn alter_share_group_offsets_round_trips() {
    bodies_round_trip::<messages::AlterShareGroupOffsetsRequest>();
    bodies_round_trip::<messages::AlterShareGroupOffsetsResponse>();
    frames_round_trip::<messages::AlterShareGroupOffsetsRequest>();
}

#[test]
fn delete_share_group_offsets_round_trips() {
    bodies_round_trip::<messages::DeleteShareGroupOffsetsRequest>();
    bodies_round_trip::<messages::DeleteShareGroupOffsetsResponse>();
    frames_round_trip::<messages::DeleteShareGroupOffsetsRequest>();
}

#[test]
fn consumer_group_heartbeat_round_trips() {
    bodies_round_trip::<messages::ConsumerGroupHeartbeatRequest>();
    bodies_round_trip::<messages::ConsumerGroupHeartbeatResponse>();
    frames_round_trip::<messages::ConsumerGroupHeartbeatRequest>();
}

#[test]
fn consumer_group_describe_round_trips() {
    bodies_round_trip::<messages::ConsumerGroupDescribeRequest>();
    bodies_round_trip::<messages::ConsumerGroupDescribeResponse>();
    frames_round_trip::<messages::ConsumerGroupDescribeRequest>();
}

#[test]
fn describe_configs_round_trips() {
    bodies_round_trip::<messages::DescribeConfigsRequest>();
    bodies_round_trip::<messages::DescribeConfigsResponse>();
    frames_round_trip::<messages::DescribeConfigsRequest>();
}

#[test]
fn incremental_alter_configs_round_trips() {
    bodies_round_trip::<messages::IncrementalAlterConfigsRequest>();
    bodies_round_trip::<messages::IncrementalAlterConfigsResponse>();
    frames_round_trip::<messages::IncrementalAlterConfigsRequest>();
}

/// The versions Kafka 4.4's schemas declare (validVersions, flexibleVersions), written out here
/// rather than taken from the definitions. Kafka 4.4's clients send the newest of these the
/// broker advertises (their request builders pin none of them).
#[test]
fn defined_versions_are_kafka_4_4s() {
    // (key, min, max, first flexible version)
    let want = [
        (ApiKey::DescribeConfigs, 1, 4, 4),
        (ApiKey::IncrementalAlterConfigs, 0, 1, 1),
        (ApiKey::ConsumerGroupHeartbeat, 0, 1, 0),
        (ApiKey::ConsumerGroupDescribe, 0, 1, 0),
        (ApiKey::ShareGroupHeartbeat, 1, 1, 0),
        (ApiKey::ShareGroupDescribe, 1, 1, 0),
        (ApiKey::ShareFetch, 1, 2, 0),
        (ApiKey::ShareAcknowledge, 1, 2, 0),
        (ApiKey::DescribeShareGroupOffsets, 0, 1, 0),
        (ApiKey::AlterShareGroupOffsets, 0, 0, 0),
        (ApiKey::DeleteShareGroupOffsets, 0, 0, 0),
        // Served already; types_filter (v5) lets the Admin client list share groups.
        (ApiKey::ListGroups, 0, 5, 3),
    ];
    assert_eq!(
        want.len(),
        SERVED_SHARE_APIS.len() + SERVED_CONSUMER_GROUP_APIS.len() + SERVED_CONFIG_APIS.len() + 1
    );
    for key in SERVED_SHARE_APIS
        .into_iter()
        .chain(SERVED_CONSUMER_GROUP_APIS)
        .chain(SERVED_CONFIG_APIS)
        .map(|(key, _, _)| key)
    {
        assert!(want.iter().any(|w| w.0 == key), "{key:?} not checked");
    }
    for (key, min, max, flexible_from) in want {
        let defined = messages::defined_versions(key).expect("defined");
        assert_eq!((defined.min, defined.max), (min, max), "{key:?}");
        for v in min..=max {
            assert_eq!(
                messages::request_is_flexible(key, v),
                Some(v >= flexible_from),
                "{key:?} v{v}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Served: the share-group, consumer-group and config APIs, advertised as Kafka 4.4 advertises
// them.

/// A request frame body (no size prefix) for `key` at `v`: header v2 (every share-group and
/// consumer-group version is flexible) with a null client id, then `body`.
fn request_frame(key: ApiKey, v: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    let mut frame = BytesMut::new();
    frame.put_i16(key as i16);
    frame.put_i16(v);
    frame.put_i32(correlation_id);
    frame.put_i16(-1); // null client id
    frame.put_u8(0); // header tag section
    frame.put_slice(body);
    frame.freeze()
}

#[test]
fn served_apis_are_advertised_with_kafka_4_4s_ranges() {
    let listed = |response: &messages::ApiVersionsResponse, key: ApiKey| {
        response
            .api_keys
            .iter()
            .filter(|k| k.api_key == key as i16)
            .map(|k| (k.min_version, k.max_version))
            .collect::<Vec<_>>()
    };
    // The reply to an unsupported ApiVersions version is hand-framed at v0: it lists them too.
    let mut unsupported = BytesMut::new();
    versions::encode_api_versions_unsupported(1, &mut unsupported);
    let unsupported = messages::ApiVersionsResponse::decode(unsupported.freeze().slice(8..), 0)
        .expect("a v0 body");
    for (key, min, max) in SERVED_SHARE_APIS
        .into_iter()
        .chain(SERVED_CONSUMER_GROUP_APIS)
        .chain(SERVED_CONFIG_APIS)
    {
        let range = versions::supported_range(key as i16).unwrap_or_else(|| panic!("{key:?}"));
        assert_eq!(
            (range.min_version, range.max_version),
            (min, max),
            "{key:?}"
        );
        for error_code in [0, super::error::UNSUPPORTED_VERSION] {
            let advertised = versions::api_versions_response(error_code);
            assert_eq!(listed(&advertised, key), [(min, max)], "{key:?}");
        }
        assert_eq!(listed(&unsupported, key), [(min, max)], "{key:?}");
        // Kafka 4.4 defines nothing outside these versions, so the definition is the range.
        let defined = messages::defined_versions(key).expect("defined");
        assert_eq!((defined.min, defined.max), (min, max), "{key:?}");
    }
}

/// A request for each served share-group and consumer-group API decodes, at every advertised
/// version, into its own [`super::Request`] variant; one version below or above the range is an
/// unsupported version (which the broker answers with UNSUPPORTED_VERSION), not an unknown key.
#[test]
fn served_group_api_frames_decode_at_their_versions_only() {
    for (key, min, max) in SERVED_SHARE_APIS
        .into_iter()
        .chain(SERVED_CONSUMER_GROUP_APIS)
    {
        for v in min..=max {
            let body = match key {
                ApiKey::ShareGroupHeartbeat => body(
                    &messages::ShareGroupHeartbeatRequest {
                        group_id: Str::from("g"),
                        member_id: Str::from("m"),
                        member_epoch: 0,
                        rack_id: None,
                        subscribed_topic_names: Some(vec![Str::from("t")]),
                    },
                    v,
                ),
                ApiKey::ShareGroupDescribe => body(
                    &messages::ShareGroupDescribeRequest {
                        group_ids: vec![Str::from("g")],
                        include_authorized_operations: false,
                    },
                    v,
                ),
                ApiKey::ShareFetch => body(&sample_share_fetch(), v),
                ApiKey::ShareAcknowledge => body(&sample_share_acknowledge(), v),
                ApiKey::DescribeShareGroupOffsets => body(
                    &DescribeShareGroupOffsetsRequest {
                        groups: vec![DescribeShareGroupOffsetsRequestGroup {
                            group_id: Str::from("g"),
                            topics: Some(vec![messages::DescribeShareGroupOffsetsRequestTopic {
                                topic_name: Str::from("t"),
                                partitions: vec![0, 2],
                            }]),
                        }],
                    },
                    v,
                ),
                ApiKey::AlterShareGroupOffsets => body(
                    &messages::AlterShareGroupOffsetsRequest {
                        group_id: Str::from("g"),
                        topics: vec![messages::AlterShareGroupOffsetsRequestTopic {
                            topic_name: Str::from("t"),
                            partitions: vec![messages::AlterShareGroupOffsetsRequestPartition {
                                partition_index: 0,
                                start_offset: 42,
                            }],
                        }],
                    },
                    v,
                ),
                ApiKey::DeleteShareGroupOffsets => body(
                    &messages::DeleteShareGroupOffsetsRequest {
                        group_id: Str::from("g"),
                        topics: vec![messages::DeleteShareGroupOffsetsRequestTopic {
                            topic_name: Str::from("t"),
                        }],
                    },
                    v,
                ),
                ApiKey::ConsumerGroupHeartbeat => body(
                    &ConsumerGroupHeartbeatRequest {
                        group_id: Str::from("g"),
                        member_id: Str::from("m"),
                        member_epoch: 0,
                        instance_id: None,
                        rack_id: None,
                        rebalance_timeout_ms: 300_000,
                        subscribed_topic_names: Some(vec![Str::from("t")]),
                        subscribed_topic_regex: None,
                        server_assignor: None,
                        topic_partitions: Some(vec![]),
                    },
                    v,
                ),
                ApiKey::ConsumerGroupDescribe => body(
                    &messages::ConsumerGroupDescribeRequest {
                        group_ids: vec![Str::from("g")],
                        include_authorized_operations: false,
                    },
                    v,
                ),
                other => panic!("{other:?} is not a share-group or consumer-group API"),
            };
            let (header, request) = decode_request(request_frame(key, v, 9, &body))
                .unwrap_or_else(|e| panic!("{key:?} v{v}: {e}"));
            assert_eq!(
                (header.api_key, header.api_version, header.correlation_id),
                (key, v, 9)
            );
            assert_eq!(request.api_key(), key, "{key:?} v{v}");
            let mut again = BytesMut::new();
            request.encode(&mut again, v);
            assert_eq!(again.freeze(), body, "{key:?} v{v}");
        }
        for v in [min - 1, max + 1] {
            assert_eq!(
                decode_request(request_frame(key, v, 10, &[0])),
                Err(DecodeError::UnsupportedVersion {
                    api_key: key,
                    api_version: v,
                    correlation_id: 10,
                }),
                "{key:?} v{v}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Not served: nothing is defined ahead of its handler; keys without a definition stay unknown.

/// Every Kafka key is served (a [`versions::SUPPORTED_APIS`] row and a definition), defined but
/// not served (`unserved_apis!`, [`UNSERVED_KEYS`]) or neither. The kinds are read
/// from the definitions and the versions table, not from a list written here, so an API left in
/// `unserved_apis!` or a row without a definition fails this test; and the broker's view of every
/// key not served is what it was: not advertised, and a well-formed frame is an unknown key (the
/// broker closes the connection, as Kafka does).
#[test]
fn keys_without_a_served_definition_are_unknown() {
    let advertised = versions::api_versions_response(0);
    let mut unserved_defined = Vec::new();
    let mut undefined = 0;
    for &key in ApiKey::ALL {
        let defined = messages::defined_versions(key);
        if versions::supported_range(key as i16).is_some() {
            assert!(defined.is_some(), "{key:?} is served without a definition");
            continue;
        }
        assert!(
            advertised.api_keys.iter().all(|k| k.api_key != key as i16),
            "{key:?} advertised"
        );
        let v = match defined {
            Some(versions) => {
                unserved_defined.push(key);
                versions.max
            }
            None => {
                undefined += 1;
                for v in [0, 1] {
                    assert_eq!(messages::request_is_flexible(key, v), None, "{key:?} v{v}");
                }
                0
            }
        };
        let mut frame = BytesMut::new();
        frame.put_i16(key as i16);
        frame.put_i16(v);
        frame.put_i32(42);
        frame.put_i16(-1); // null client id
        frame.put_u8(0); // header tag section (v2) or the body's first byte (v1)
        frame.put_u8(0); // a body that does not matter
        assert_eq!(
            decode_request(frame.freeze()),
            Err(DecodeError::UnknownApiKey {
                api_key: key as i16,
                api_version: v,
                correlation_id: 42,
            }),
            "{key:?}"
        );
    }
    assert_eq!(unserved_defined, UNSERVED_KEYS, "defined but not served");
    assert_eq!(
        versions::SUPPORTED_APIS.len() + UNSERVED_KEYS.len() + undefined,
        ApiKey::ALL.len(),
        "every Kafka key is of exactly one kind"
    );
}

// ---------------------------------------------------------------------------------------------
// Hand-written vectors (Kafka's flexible encoding: compact lengths are length + 1 as an
// unsigned varint, null is 0; each struct ends with its tag section, here empty: 0x00).

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn sample_share_fetch() -> ShareFetchRequest {
    ShareFetchRequest {
        group_id: Some(Str::from("g")),
        member_id: Some(Str::from("m")),
        share_session_epoch: 0,
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 0x7fff_ffff,
        max_records: 500,
        batch_size: 500,
        share_acquire_mode: 1,
        is_renew_ack: true,
        topics: vec![ShareFetchTopic {
            topic_id: Uuid::from_u128(1),
            partitions: vec![ShareFetchPartition {
                partition_index: 3,
                acknowledgement_batches: vec![ShareAcknowledgementBatch {
                    first_offset: 10,
                    last_offset: 12,
                    acknowledge_types: vec![4],
                }],
            }],
        }],
        forgotten_topics_data: vec![],
    }
}

const SHARE_FETCH_HEAD: &str = "
    02 67                   group_id \"g\"
    02 6d                   member_id \"m\"
    00000000                share_session_epoch 0
    000001f4                max_wait_ms 500
    00000001                min_bytes 1
    7fffffff                max_bytes
    000001f4                max_records 500
    000001f4                batch_size 500";

const SHARE_FETCH_TAIL: &str = "
    02                      topics: 1
    00000000000000000000000000000001  topic_id
    02                      partitions: 1
    00000003                partition_index 3
    02                      acknowledgement_batches: 1
    000000000000000a        first_offset 10
    000000000000000c        last_offset 12
    02 04                   acknowledge_types [4 = renew]
    00 00 00                tag sections: batch, partition, topic
    01                      forgotten_topics_data: 0
    00                      tag section";

/// Strips the `name value` comments of a vector: keeps only whitespace-separated hex words.
fn vector(parts: &[&str]) -> Vec<u8> {
    let words: Vec<String> = parts
        .iter()
        .flat_map(|p| p.lines())
        .flat_map(|line| {
            line.split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_hexdigit()))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    hex(&words.join(""))
}

#[test]
fn share_fetch_request_vectors() {
    let value = sample_share_fetch();
    // v2: share_acquire_mode and is_renew_ack after batch_size.
    let v2 = vector(&[
        SHARE_FETCH_HEAD,
        "01 01   share_acquire_mode, is_renew_ack",
        SHARE_FETCH_TAIL,
    ]);
    assert_eq!(body(&value, 2).as_ref(), v2.as_slice());
    assert_eq!(
        ShareFetchRequest::decode(Bytes::from(v2), 2).unwrap(),
        value
    );
    // v1: neither field; they decode as their defaults.
    let v1 = vector(&[SHARE_FETCH_HEAD, SHARE_FETCH_TAIL]);
    assert_eq!(body(&value, 1).as_ref(), v1.as_slice());
    let back = ShareFetchRequest::decode(Bytes::from(v1), 1).unwrap();
    assert_eq!((back.share_acquire_mode, back.is_renew_ack), (0, false));
}

fn sample_share_acknowledge() -> ShareAcknowledgeRequest {
    ShareAcknowledgeRequest {
        group_id: None,
        member_id: Some(Str::from("m")),
        share_session_epoch: -1,
        is_renew_ack: true,
        topics: vec![],
    }
}

#[test]
fn share_acknowledge_vectors() {
    let request = sample_share_acknowledge();
    let v2 = vector(&[
        "00 02 6d ffffffff 01  group null, member \"m\", epoch -1, renew",
        "01 00",
    ]);
    assert_eq!(body(&request, 2).as_ref(), v2.as_slice());
    assert_eq!(
        ShareAcknowledgeRequest::decode(Bytes::from(v2), 2).unwrap(),
        request
    );
    let v1 = vector(&["00 02 6d ffffffff  no is_renew_ack", "01 00"]);
    assert_eq!(body(&request, 1).as_ref(), v1.as_slice());

    let response = ShareAcknowledgeResponse {
        throttle_time_ms: 0,
        error_code: 0,
        error_message: None,
        acquisition_lock_timeout_ms: 30_000,
        responses: vec![],
        node_endpoints: vec![],
    };
    let v2 = vector(&[
        "00000000 0000 00  throttle, error, null message",
        "00007530  lock 30 s",
        "01 01 00",
    ]);
    assert_eq!(body(&response, 2).as_ref(), v2.as_slice());
    assert_eq!(
        ShareAcknowledgeResponse::decode(Bytes::from(v2), 2).unwrap(),
        response
    );
    let v1 = vector(&["00000000 0000 00", "01 01 00"]);
    assert_eq!(body(&response, 1).as_ref(), v1.as_slice());
}

#[test]
fn share_group_heartbeat_assignment_is_a_nullable_struct() {
    let mut response = ShareGroupHeartbeatResponse {
        throttle_time_ms: 0,
        error_code: 0,
        error_message: None,
        member_id: Some(Str::from("m")),
        member_epoch: 1,
        heartbeat_interval_ms: 5000,
        assignment: None,
    };
    let head = "00000000 0000 00 02 6d 00000001 00001388";
    let null = vector(&[head, "ff  assignment null", "00"]);
    assert_eq!(body(&response, 1).as_ref(), null.as_slice());
    assert_eq!(
        ShareGroupHeartbeatResponse::decode(Bytes::from(null), 1).unwrap(),
        response
    );

    response.assignment = Some(ShareGroupHeartbeatAssignment {
        topic_partitions: vec![ShareGroupHeartbeatTopicPartitions {
            topic_id: Uuid::from_u128(2),
            partitions: vec![0, 5],
        }],
    });
    let present = vector(&[
        head,
        "01  assignment present",
        "02 00000000000000000000000000000002 03 00000000 00000005 00  one topic, partitions [0, 5]",
        "00  assignment tag section",
        "00",
    ]);
    assert_eq!(body(&response, 1).as_ref(), present.as_slice());
    assert_eq!(
        ShareGroupHeartbeatResponse::decode(Bytes::from(present.clone()), 1).unwrap(),
        response
    );

    // Any marker other than -1 and 1 is malformed, not a guess.
    let mut bad = present;
    let at = hex(head).len();
    for marker in [0x00, 0x02, 0x7f, 0x80] {
        bad[at] = marker;
        assert!(
            ShareGroupHeartbeatResponse::decode(Bytes::from(bad.clone()), 1).is_err(),
            "marker {marker:#x}"
        );
    }
}

fn sample_share_group_offsets() -> DescribeShareGroupOffsetsResponse {
    DescribeShareGroupOffsetsResponse {
        throttle_time_ms: 0,
        groups: vec![DescribeShareGroupOffsetsResponseGroup {
            group_id: Str::from("g"),
            topics: vec![DescribeShareGroupOffsetsResponseTopic {
                topic_name: Str::from("t"),
                topic_id: Uuid::from_u128(3),
                partitions: vec![DescribeShareGroupOffsetsResponsePartition {
                    partition_index: 0,
                    start_offset: 5,
                    leader_epoch: 1,
                    lag: 7,
                    error_code: 0,
                    error_message: None,
                }],
            }],
            error_code: 0,
            error_message: None,
        }],
    }
}

const SHARE_GROUP_OFFSETS_HEAD: &str = "
    00000000                throttle_time_ms 0
    02                      groups: 1
    02 67                   group_id \"g\"
    02                      topics: 1
    02 74                   topic_name \"t\"
    00000000000000000000000000000003  topic_id
    02                      partitions: 1
    00000000                partition_index 0
    0000000000000005        start_offset 5
    00000001                leader_epoch 1";

const SHARE_GROUP_OFFSETS_TAIL: &str = "
    0000 00 00              error_code, null error_message, partition tag section
    00                      topic tag section
    0000 00 00              group error_code, null error_message, group tag section
    00                      tag section";

/// DescribeShareGroupOffsets v1 (KIP-1226) adds `lag` after `leader_epoch`; the oracle knows v0
/// only.
#[test]
fn describe_share_group_offsets_vectors() {
    let value = sample_share_group_offsets();
    let v1 = vector(&[
        SHARE_GROUP_OFFSETS_HEAD,
        "0000000000000007  lag 7",
        SHARE_GROUP_OFFSETS_TAIL,
    ]);
    assert_eq!(body(&value, 1).as_ref(), v1.as_slice());
    assert_eq!(
        DescribeShareGroupOffsetsResponse::decode(Bytes::from(v1), 1).unwrap(),
        value
    );
    // v0: no lag on the wire; it decodes as -1 (unknown), Kafka's default.
    let v0 = vector(&[SHARE_GROUP_OFFSETS_HEAD, SHARE_GROUP_OFFSETS_TAIL]);
    assert_eq!(body(&value, 0).as_ref(), v0.as_slice());
    let back = DescribeShareGroupOffsetsResponse::decode(Bytes::from(v0), 0).unwrap();
    assert_eq!(back.groups[0].topics[0].partitions[0].lag, -1);

    // The request's topics are nullable: null asks for every partition with state.
    let request = DescribeShareGroupOffsetsRequest {
        groups: vec![DescribeShareGroupOffsetsRequestGroup {
            group_id: Str::from("g"),
            topics: None,
        }],
    };
    for v in 0..=1 {
        let bytes = vector(&["02 02 67 00 00  one group \"g\", topics null", "00"]);
        assert_eq!(body(&request, v).as_ref(), bytes.as_slice());
        assert_eq!(
            DescribeShareGroupOffsetsRequest::decode(Bytes::from(bytes), v).unwrap(),
            request
        );
    }
}

#[test]
fn consumer_group_heartbeat_assignment_is_a_nullable_struct() {
    let mut response = ConsumerGroupHeartbeatResponse {
        throttle_time_ms: 0,
        error_code: 0,
        error_message: None,
        member_id: Some(Str::from("m")),
        member_epoch: 3,
        heartbeat_interval_ms: 5000,
        assignment: None,
    };
    let head = "00000000 0000 00 02 6d 00000003 00001388";
    for v in 0..=1 {
        let null = vector(&[head, "ff  assignment null", "00"]);
        assert_eq!(body(&response, v).as_ref(), null.as_slice(), "v{v}");
        assert_eq!(
            ConsumerGroupHeartbeatResponse::decode(Bytes::from(null), v).unwrap(),
            response
        );
    }

    response.assignment = Some(ConsumerGroupHeartbeatAssignment {
        topic_partitions: vec![ConsumerGroupHeartbeatTopicPartitions {
            topic_id: Uuid::from_u128(2),
            partitions: vec![1],
        }],
    });
    let present = vector(&[
        head,
        "01  assignment present",
        "02 00000000000000000000000000000002 02 00000001 00  one topic, partition [1]",
        "00  assignment tag section",
        "00",
    ]);
    assert_eq!(body(&response, 1).as_ref(), present.as_slice());
    assert_eq!(
        ConsumerGroupHeartbeatResponse::decode(Bytes::from(present.clone()), 1).unwrap(),
        response
    );
    let mut bad = present;
    let at = hex(head).len();
    for marker in [0x00, 0x02, 0xfe, 0x80] {
        bad[at] = marker;
        assert!(
            ConsumerGroupHeartbeatResponse::decode(Bytes::from(bad.clone()), 1).is_err(),
            "marker {marker:#x}"
        );
    }
}

/// ConsumerGroupHeartbeat v1 adds `subscribed_topic_regex` after the topic names; at v0 the
/// field is not on the wire, whatever its value.
#[test]
fn consumer_group_heartbeat_request_vectors() {
    let request = ConsumerGroupHeartbeatRequest {
        group_id: Str::from("g"),
        member_id: Str::from("m"),
        member_epoch: 0,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: -1,
        subscribed_topic_names: None,
        subscribed_topic_regex: Some(Str::from("t")),
        server_assignor: None,
        topic_partitions: Some(vec![]),
    };
    let head = "02 67 02 6d 00000000 00 00 ffffffff 00  group, member, epoch 0, instance, rack, timeout -1, names null";
    let tail = "00 01 00  assignor null, owned partitions: empty (not null), tag section";
    let v1 = vector(&[head, "02 74  regex \"t\"", tail]);
    assert_eq!(body(&request, 1).as_ref(), v1.as_slice());
    assert_eq!(
        ConsumerGroupHeartbeatRequest::decode(Bytes::from(v1), 1).unwrap(),
        request
    );
    let v0 = vector(&[head, tail]);
    assert_eq!(body(&request, 0).as_ref(), v0.as_slice());
    let back = ConsumerGroupHeartbeatRequest::decode(Bytes::from(v0), 0).unwrap();
    assert_eq!(back.subscribed_topic_regex, None);
}

// ---------------------------------------------------------------------------------------------
// Robustness: truncated, mutated and random bodies never panic.

/// Whatever decodes is a fixed point of re-encoding.
fn decode_never_panics<M: Message + Debug + PartialEq>(bytes: Bytes, v: i16) -> bool {
    let Ok(value) = M::decode(bytes, v) else {
        return false;
    };
    let once = body(&value, v);
    let again = M::decode(once.clone(), v).expect("re-encoded body decodes");
    assert_eq!(body(&again, v), once);
    true
}

fn mutations<M: Message + Random + Debug + PartialEq>(g: &mut Rng) -> usize {
    let mut decoded = 0;
    for v in M::VERSIONS.min..=M::VERSIONS.max {
        for case in 0..4 {
            let value = M::random(&mut Rng::new(seed(M::API_KEY, v, case) ^ 2), M::cx(v));
            let valid = body(&value, v);
            for n in 0..valid.len().min(2048) {
                decode_never_panics::<M>(valid.slice(..n), v);
            }
            for _ in 0..100 {
                let mut b = valid.to_vec();
                if b.is_empty() {
                    break;
                }
                for _ in 0..1 + g.below(4) {
                    let at = g.below(b.len());
                    b[at] = match g.below(4) {
                        0 => 0xff,
                        1 => 0x7f,
                        2 => 0x00,
                        _ => g.next_u64() as u8,
                    };
                }
                if decode_never_panics::<M>(Bytes::from(b), v) {
                    decoded += 1;
                }
            }
        }
        for _ in 0..300 {
            let n = g.below(96);
            decode_never_panics::<M>(Bytes::from(g.bytes(n)), v);
        }
    }
    decoded
}

#[test]
fn truncated_and_mutated_share_bodies_never_panic() {
    let mut g = Rng::new(0x5ba7_e000_0000_0016);
    let decoded = mutations::<messages::ShareGroupHeartbeatRequest>(&mut g)
        + mutations::<messages::ShareGroupHeartbeatResponse>(&mut g)
        + mutations::<messages::ShareGroupDescribeRequest>(&mut g)
        + mutations::<messages::ShareGroupDescribeResponse>(&mut g)
        + mutations::<messages::ShareFetchRequest>(&mut g)
        + mutations::<messages::ShareFetchResponse>(&mut g)
        + mutations::<messages::ShareAcknowledgeRequest>(&mut g)
        + mutations::<messages::ShareAcknowledgeResponse>(&mut g)
        + mutations::<messages::DescribeShareGroupOffsetsRequest>(&mut g)
        + mutations::<messages::DescribeShareGroupOffsetsResponse>(&mut g)
        + mutations::<messages::AlterShareGroupOffsetsRequest>(&mut g)
        + mutations::<messages::AlterShareGroupOffsetsResponse>(&mut g)
        + mutations::<messages::DeleteShareGroupOffsetsRequest>(&mut g)
        + mutations::<messages::DeleteShareGroupOffsetsResponse>(&mut g);
    // Enough mutations still decode for the fixed-point check to mean something.
    assert!(decoded > 200, "{decoded}");
}

#[test]
fn truncated_and_mutated_group_and_config_bodies_never_panic() {
    let mut g = Rng::new(0x5ba7_e000_0000_0848);
    let decoded = mutations::<messages::ConsumerGroupHeartbeatRequest>(&mut g)
        + mutations::<messages::ConsumerGroupHeartbeatResponse>(&mut g)
        + mutations::<messages::ConsumerGroupDescribeRequest>(&mut g)
        + mutations::<messages::ConsumerGroupDescribeResponse>(&mut g)
        + mutations::<messages::DescribeConfigsRequest>(&mut g)
        + mutations::<messages::DescribeConfigsResponse>(&mut g)
        + mutations::<messages::IncrementalAlterConfigsRequest>(&mut g)
        + mutations::<messages::IncrementalAlterConfigsResponse>(&mut g);
    assert!(decoded > 200, "{decoded}");
}
