//! The Kafka APIs and version ranges ringlog advertises in its ApiVersions response, and the
//! ringlog-private APIs it serves without advertising them.
//!
//! One row per API in [`SUPPORTED_APIS`] (advertised) or [`PRIVATE_APIS`] (not advertised: real
//! Kafka clients see exactly what a Kafka broker would offer; ringlog's own tools send these at
//! their one version without asking). To add an API: define it in [`super::messages`] (its line
//! in the `apis!` list there gives it a [`super::Request`] variant and its decoding; an API
//! defined earlier moves there from `unserved_apis!`), add a row here, and add it to the tables
//! of the whole-frame tests in `roundtrip_tests`: its first flexible version (from Kafka's
//! schema) in `first_flexible_version` and its request type in `with_request_type!`. Those tests
//! then exercise every version in the new range (whole request and response frames, mutated
//! bodies) and fail, naming the API, until both rows are there; the ApiVersions byte vectors
//! there (`TABLE_V0`) and the count of served versions need the new row too.
//!
//! Why these ranges (client facts measured for ringlog, see design.md §5):
//!
//! | API          | key | range  | floor / ceiling                                                      |
//! |--------------|-----|--------|----------------------------------------------------------------------|
//! | Produce      | 0   | 3..=10 | v3 = first with RecordBatch v2; librdkafka 2.16 uses 10              |
//! | Fetch        | 1   | 4..=16 | v4 = first with RecordBatch v2; librdkafka 2.16 uses 16; v13+ name topics by id |
//! | ListOffsets  | 2   | 1..=8  | v1 = Kafka 4's floor; v8 adds EARLIEST_LOCAL (-4), answered as earliest |
//! | Metadata     | 3   | 1..=12 | v0 ("empty list = all topics") left out, as Kafka 4 does; librdkafka uses 12 |
//! | OffsetCommit | 8   | 2..=9  | librdkafka 2.12 up to 9, kafka-python 3.0 up to 8 (v10 = KIP-848 topic ids) |
//! | OffsetFetch  | 9   | 1..=9  | v8+ batch groups (librdkafka uses them)      |
//! | FindCoordinator | 10 | 0..=4 | v0-3 single key (librdkafka 0-2), v4 batched keys (kafka-python admin) |
//! | JoinGroup    | 11  | 0..=9  | librdkafka 0-5, kafka-python up to 7, Java up to 9; v4+ MEMBER_ID_REQUIRED |
//! | Heartbeat    | 12  | 0..=4  |                                           |
//! | LeaveGroup   | 13  | 0..=5  | v3+ batch members (static membership)                                 |
//! | SyncGroup    | 14  | 0..=5  | v5 checks protocol type and name       |
//! | DescribeGroups | 15 | 0..=5 | v6 (KIP-1043 error messages) left out                                 |
//! | ListGroups   | 16  | 0..=5  | v4 state filter, v5 type filter ("classic" only)                      |
//! | SaslHandshake | 17 | 0..=1  | SASL listeners; v1 = tokens in SaslAuthenticate (v0's raw tokens refused, as Kafka 4) |
//! | DeleteGroups | 42  | 0..=2  |                                           |
//! | ApiVersions  | 18  | 0..=5  | aiokafka sends v0, kafkajs v2, librdkafka/kafka-python v3/v4           |
//! | CreateTopics | 19  | 2..=7  |                                          |
//! | DeleteTopics | 20  | 1..=6  | v6 deletes by name or topic id         |
//! | DeleteRecords | 21 | 0..=2  | `kafka-delete-records.sh`, Admin.deleteRecords(); Kafka 4.4's range |
//! | InitProducerId | 22 | 0..=5 | idempotent and transactional producers |
//! | AddPartitionsToTxn | 24 | 0..=5 | v4+ batched (the broker-to-broker form, served too) |
//! | AddOffsetsToTxn | 25 | 0..=4 |                                         |
//! | EndTxn       | 26  | 0..=5  | v5 answers the producer id and epoch      |
//! | TxnOffsetCommit | 28 | 0..=5 | v3+ carry the member and generation (KIP-447) |
//! | DescribeAcls | 29 | 1..=3 | `kafka-acls.sh --list`; Kafka 4.4's range (v0 removed in 4.0) |
//! | CreateAcls   | 30 | 1..=3 | `kafka-acls.sh --add`; durable, on every shard at once |
//! | DeleteAcls   | 31 | 1..=3 | `kafka-acls.sh --remove`; answered once every shard dropped them |
//! | DescribeCluster | 60 | 0..=2 | `kafka-cluster.sh cluster-id`, Admin.describeCluster(); v1 endpoint type, v2 fenced brokers |
//! | DescribeProducers | 61 | 0..=0 | `kafka-transactions.sh describe-producers`, `find-hanging` |
//! | DescribeTransactions | 65 | 0..=0 | `kafka-transactions.sh describe`   |
//! | ListTransactions | 66 | 0..=2 | v1 duration filter, v2 transactional id pattern |
//! | DescribeConfigs | 32 | 1..=4 | GROUP, TOPIC and BROKER (read-only) configs (v0 left out, as Kafka 4 does) |
//! | AlterConfigs | 33 | 0..=2 | the legacy replace-all form: TOPIC; BROKER refused (read-only) |
//! | CreatePartitions | 37 | 0..=3 | `kafka-topics.sh --alter --partitions`, Admin.createPartitions() |
//! | DescribeLogDirs | 35 | 1..=5 | `kafka-log-dirs.sh --describe`; v3 top-level error, v4 volume bytes, v5 cordoned (Kafka 4.4's range) |
//! | SaslAuthenticate | 36 | 0..=2 | PLAIN, SCRAM-SHA-256/512; v1 session lifetime (0: no re-authentication), v2 flexible |
//! | IncrementalAlterConfigs | 44 | 0..=1 | GROUP and TOPIC configs; BROKER refused (read-only) |
//! | OffsetDelete | 47 | 0..=0 | `kafka-consumer-groups.sh --delete-offsets`; Kafka 4.4's only version |
//! | DescribeClientQuotas | 48 | 0..=1 | `kafka-configs.sh --describe --entity-type users\|clients\|ips`; Kafka 4.4's range |
//! | AlterClientQuotas | 49 | 0..=1 | `kafka-configs.sh --alter --add-config producer_byte_rate=...`; durable, on every shard at once |
//! | DescribeUserScramCredentials | 50 | 0..=0 | `kafka-configs.sh --describe --entity-type users`; Kafka 4.4's only version |
//! | AlterUserScramCredentials | 51 | 0..=0 | `kafka-configs.sh --alter --add-config 'SCRAM-SHA-256=[...]'`; Kafka 4.4's only version |
//! | ConsumerGroupHeartbeat | 68 | 0..=1 | KIP-848 consumer groups; v1 adds the topic regex (refused) |
//! | ConsumerGroupDescribe  | 69 | 0..=1 | v1 adds member_type                                  |
//! | DescribeTopicPartitions | 75 | 0..=0 | `kafka-topics.sh --describe` in 4.x (Metadata is its fallback); paginated |
//! | ShareGroupHeartbeat | 76 | 1..=1 | KIP-932 share groups; v1 = Kafka 4.4's only version   |
//! | ShareGroupDescribe  | 77 | 1..=1 | (v0 was the early-access protocol, gone from 4.4)    |
//! | ShareFetch          | 78 | 1..=2 | v2: share_acquire_mode (KIP-1206), renew acks (KIP-1222) |
//! | ShareAcknowledge    | 79 | 1..=2 | v2: renew acks                                         |
//! | DescribeShareGroupOffsets | 90 | 0..=1 | v1 adds lag (KIP-1226)                           |
//! | AlterShareGroupOffsets    | 91 | 0..=0 | group must be empty                              |
//! | DeleteShareGroupOffsets   | 92 | 0..=0 | group must be empty                              |
//!
//! Private, served but never advertised:
//!
//! | API            | key   | range  | why                                                       |
//! |----------------|-------|--------|-----------------------------------------------------------|
//! | DescribeDelays | 32000 | 0..=0  | `ringlog delays`: scheduled delivery per topic (issue #15) |
//! | DescribeShareState | 32001 | 0..=0 | `ringlog groups describe`: share-partitions' windows and counts (issue #16) |
//! | DescribeViews  | 32002 | 0..=0  | `ringlog views list/describe`: filtered views and their zero-copy counters (issue #17) |
//!
//! # Invariants
//! - Every range lies inside the versions its message definition covers (tested: in
//!   `differential_tests` for the advertised APIs, which also checks every advertised version
//!   byte for byte, and below for the private ones, which Kafka's schemas do not know).
//! - Every served version, advertised or private, is exercised by a byte-level round-trip test
//!   (`roundtrip_tests`).
//! - Api keys are unique across both tables (tested); only Kafka's keys are in
//!   [`SUPPORTED_APIS`], only ringlog's private keys in [`PRIVATE_APIS`].

use bytes::BytesMut;

use super::api_key::ApiKey;
use super::error;
use super::messages::{ApiVersion, ApiVersionsResponse};

/// One advertised API: its key and the inclusive version range we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    pub api_key: ApiKey,
    pub min_version: i16,
    pub max_version: i16,
}

impl ApiRange {
    pub fn contains(&self, api_version: i16) -> bool {
        (self.min_version..=self.max_version).contains(&api_version)
    }
}

/// The APIs ringlog serves, in api-key order. See the module doc for why each range.
#[rustfmt::skip] // one row per API reads as a table
pub const SUPPORTED_APIS: &[ApiRange] = &[
    ApiRange { api_key: ApiKey::Produce, min_version: 3, max_version: 10 },
    ApiRange { api_key: ApiKey::Fetch, min_version: 4, max_version: 16 },
    ApiRange { api_key: ApiKey::ListOffsets, min_version: 1, max_version: 8 },
    ApiRange { api_key: ApiKey::Metadata, min_version: 1, max_version: 12 },
    ApiRange { api_key: ApiKey::OffsetCommit, min_version: 2, max_version: 9 },
    ApiRange { api_key: ApiKey::OffsetFetch, min_version: 1, max_version: 9 },
    ApiRange { api_key: ApiKey::FindCoordinator, min_version: 0, max_version: 4 },
    ApiRange { api_key: ApiKey::JoinGroup, min_version: 0, max_version: 9 },
    ApiRange { api_key: ApiKey::Heartbeat, min_version: 0, max_version: 4 },
    ApiRange { api_key: ApiKey::LeaveGroup, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::SyncGroup, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::DescribeGroups, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::ListGroups, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::SaslHandshake, min_version: 0, max_version: 1 },
    ApiRange { api_key: ApiKey::ApiVersions, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::CreateTopics, min_version: 2, max_version: 7 },
    ApiRange { api_key: ApiKey::DeleteTopics, min_version: 1, max_version: 6 },
    ApiRange { api_key: ApiKey::DeleteRecords, min_version: 0, max_version: 2 },
    ApiRange { api_key: ApiKey::InitProducerId, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::AddPartitionsToTxn, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::AddOffsetsToTxn, min_version: 0, max_version: 4 },
    ApiRange { api_key: ApiKey::EndTxn, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::TxnOffsetCommit, min_version: 0, max_version: 5 },
    ApiRange { api_key: ApiKey::DescribeAcls, min_version: 1, max_version: 3 },
    ApiRange { api_key: ApiKey::CreateAcls, min_version: 1, max_version: 3 },
    ApiRange { api_key: ApiKey::DeleteAcls, min_version: 1, max_version: 3 },
    ApiRange { api_key: ApiKey::DescribeConfigs, min_version: 1, max_version: 4 },
    ApiRange { api_key: ApiKey::AlterConfigs, min_version: 0, max_version: 2 },
    ApiRange { api_key: ApiKey::DescribeLogDirs, min_version: 1, max_version: 5 },
    ApiRange { api_key: ApiKey::SaslAuthenticate, min_version: 0, max_version: 2 },
    ApiRange { api_key: ApiKey::CreatePartitions, min_version: 0, max_version: 3 },
    ApiRange { api_key: ApiKey::DeleteGroups, min_version: 0, max_version: 2 },
    ApiRange { api_key: ApiKey::IncrementalAlterConfigs, min_version: 0, max_version: 1 },
    ApiRange { api_key: ApiKey::OffsetDelete, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::DescribeClientQuotas, min_version: 0, max_version: 1 },
    ApiRange { api_key: ApiKey::AlterClientQuotas, min_version: 0, max_version: 1 },
    ApiRange { api_key: ApiKey::DescribeUserScramCredentials, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::AlterUserScramCredentials, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::DescribeCluster, min_version: 0, max_version: 2 },
    ApiRange { api_key: ApiKey::DescribeProducers, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::DescribeTransactions, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::ListTransactions, min_version: 0, max_version: 2 },
    ApiRange { api_key: ApiKey::ConsumerGroupHeartbeat, min_version: 0, max_version: 1 },
    ApiRange { api_key: ApiKey::ConsumerGroupDescribe, min_version: 0, max_version: 1 },
    ApiRange { api_key: ApiKey::DescribeTopicPartitions, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::ShareGroupHeartbeat, min_version: 1, max_version: 1 },
    ApiRange { api_key: ApiKey::ShareGroupDescribe, min_version: 1, max_version: 1 },
    ApiRange { api_key: ApiKey::ShareFetch, min_version: 1, max_version: 2 },
    ApiRange { api_key: ApiKey::ShareAcknowledge, min_version: 1, max_version: 2 },
    ApiRange { api_key: ApiKey::DescribeShareGroupOffsets, min_version: 0, max_version: 1 },
    ApiRange { api_key: ApiKey::AlterShareGroupOffsets, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::DeleteShareGroupOffsets, min_version: 0, max_version: 0 },
];

/// The ringlog-private APIs served, in api-key order: decoded and answered like the advertised
/// ones, never listed by ApiVersions. See the module doc.
#[rustfmt::skip] // one row per API reads as a table
pub const PRIVATE_APIS: &[ApiRange] = &[
    ApiRange { api_key: ApiKey::DescribeDelays, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::DescribeShareState, min_version: 0, max_version: 0 },
    ApiRange { api_key: ApiKey::DescribeViews, min_version: 0, max_version: 0 },
];

/// Every API served, advertised first, then the private ones.
pub fn served_apis() -> impl Iterator<Item = &'static ApiRange> {
    SUPPORTED_APIS.iter().chain(PRIVATE_APIS)
}

/// The range served for a raw api key (advertised or private), or `None` if ringlog does not
/// serve that API.
pub fn supported_range(api_key: i16) -> Option<ApiRange> {
    served_apis().find(|r| r.api_key as i16 == api_key).copied()
}

/// The ApiVersions response body listing [`SUPPORTED_APIS`] (never [`PRIVATE_APIS`]). `error_code` is [`error::NONE`], or
/// [`error::UNSUPPORTED_VERSION`] when answering a version we do not serve.
///
/// Feature fields (supported/finalized features, zk_migration_ready) keep their defaults, so no
/// tagged fields are written for them (librdkafka 2.0.2 mis-skips tagged fields).
pub fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code,
        api_keys: SUPPORTED_APIS
            .iter()
            .map(|r| ApiVersion {
                api_key: r.api_key as i16,
                min_version: r.min_version,
                max_version: r.max_version,
            })
            .collect(),
        ..Default::default()
    }
}

/// Writes the whole frame (size prefix, v0 response header, v0 body) Kafka sends when a client
/// asks for an ApiVersions version the broker does not serve: error 35 and our ranges, encoded at
/// v0 so any client can read it and retry with a version we list.
pub fn encode_api_versions_unsupported(correlation_id: i32, out: &mut BytesMut) {
    let body = api_versions_response(error::UNSUPPORTED_VERSION);
    // The v0 body is fixed-layout: error_code i16, array count i32, 6 bytes per entry.
    let body_bytes = 2 + 4 + 6 * body.api_keys.len();
    let size = super::header::RESPONSE_HEADER_V0_BYTES + body_bytes;
    out.reserve(super::frame::SIZE_PREFIX_BYTES + size);
    // Table-sized, far below i32::MAX.
    out.extend_from_slice(&(size as i32).to_be_bytes());
    out.extend_from_slice(&correlation_id.to_be_bytes());
    out.extend_from_slice(&body.error_code.to_be_bytes());
    out.extend_from_slice(&(body.api_keys.len() as i32).to_be_bytes());
    for k in &body.api_keys {
        out.extend_from_slice(&k.api_key.to_be_bytes());
        out.extend_from_slice(&k.min_version.to_be_bytes());
        out.extend_from_slice(&k.max_version.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::decode_response_header;
    use crate::wire::Reader;
    use crate::Message;

    #[test]
    fn keys_are_unique_and_sorted() {
        // Advertised keys are all below the private ones, so the chain is sorted as a whole.
        let served: Vec<&ApiRange> = served_apis().collect();
        for w in served.windows(2) {
            assert!((w[0].api_key as i16) < (w[1].api_key as i16), "{w:?}");
        }
        for r in served {
            assert!(r.min_version <= r.max_version, "{r:?}");
        }
        assert!(SUPPORTED_APIS
            .iter()
            .all(|r| !r.api_key.is_ringlog_private()));
        assert!(PRIVATE_APIS.iter().all(|r| r.api_key.is_ringlog_private()));
    }

    #[test]
    fn private_apis_are_served_but_never_advertised() {
        for r in PRIVATE_APIS {
            assert_eq!(supported_range(r.api_key as i16), Some(*r));
            // The differential tests check this for the advertised APIs; Kafka's schemas (their
            // oracle) do not know the private ones.
            let defined = crate::messages::defined_versions(r.api_key).expect("a definition");
            assert!(
                defined.contains(r.min_version) && defined.contains(r.max_version),
                "{r:?} outside its definition {defined:?}"
            );
        }
        let listed = |error_code| {
            api_versions_response(error_code)
                .api_keys
                .iter()
                .map(|k| k.api_key)
                .collect::<Vec<i16>>()
        };
        for error_code in [error::NONE, error::UNSUPPORTED_VERSION] {
            let keys = listed(error_code);
            assert_eq!(keys.len(), SUPPORTED_APIS.len());
            for r in PRIVATE_APIS {
                assert!(!keys.contains(&(r.api_key as i16)), "{r:?} is advertised");
            }
        }
        let mut out = BytesMut::new();
        encode_api_versions_unsupported(1, &mut out);
        let body = ApiVersionsResponse::decode(out.freeze().slice(8..), 0).unwrap();
        assert!(body
            .api_keys
            .iter()
            .all(|k| k.api_key < crate::api_key::RINGLOG_PRIVATE_KEY_MIN));
    }

    #[test]
    fn unsupported_reply_is_a_v0_response() {
        let mut out = BytesMut::new();
        encode_api_versions_unsupported(77, &mut out);
        let frame = out.freeze();
        assert_eq!(
            i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        let mut r = Reader::new(frame.slice(4..));
        assert_eq!(decode_response_header(&mut r, 0), Ok(77));
        let body = ApiVersionsResponse::decode(r.rest(), 0).unwrap();
        assert_eq!(body, api_versions_response(error::UNSUPPORTED_VERSION));
        // The hand-written v0 frame is exactly what the definition encodes at v0.
        let mut encoded = BytesMut::new();
        body.encode(&mut encoded, 0);
        assert_eq!(&frame[8..], &encoded[..]);
    }
}
