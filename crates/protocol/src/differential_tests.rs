//! Differential tests: our codec against the `kafka-protocol` crate (a dev-dependency used only
//! as an oracle, only on valid input).
//!
//! For every defined message and every version ringlog serves, random valid values (see
//! [`super::random`]) are encoded by our codec; the crate must decode those bytes and encode
//! them back byte for byte, and our decoder must read the crate's bytes back to the value we
//! started from. Both directions, requests and responses.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::messages;
use super::random::{Random, Rng};
use super::versions::SUPPORTED_APIS;
use super::wire::VersionRange;
use super::Message;

/// Random values per (message, version). Enough to hit null/non-null, empty/large arrays and
/// every tagged field both absent and present many times over.
const CASES_PER_VERSION: u64 = 200;

/// The advertised range of `api_key`, or the whole definition when the broker does not serve it
/// (messages only the client sends).
fn versions_to_check<M: Message>() -> VersionRange {
    SUPPORTED_APIS
        .iter()
        .find(|r| r.api_key as i16 == M::API_KEY)
        .map(|r| VersionRange {
            min: r.min_version,
            max: r.max_version,
        })
        .unwrap_or(M::VERSIONS)
}

fn differential<Ours, Theirs>(name: &str)
where
    Ours: Message + Random + std::fmt::Debug + PartialEq,
    Theirs: Decodable + Encodable + kafka_protocol::protocol::Message + std::fmt::Debug,
{
    let mut range = versions_to_check::<Ours>();
    assert!(
        Ours::VERSIONS.contains(range.min) && Ours::VERSIONS.contains(range.max),
        "{name}: definition does not cover the advertised versions {range:?}"
    );
    // Versions newer than the oracle knows (ApiVersions v5, KIP-1242) are covered by our own
    // round-trip tests and byte vectors instead.
    range.max = range
        .max
        .min(<Theirs as kafka_protocol::protocol::Message>::VERSIONS.max);
    for version in range.min..=range.max {
        for case in 0..CASES_PER_VERSION {
            let seed = (u64::from(Ours::API_KEY as u16) << 48) ^ ((version as u64) << 32) ^ case;
            let value = Ours::random(&mut Rng::new(seed), Ours::cx(version));
            let mut ours = BytesMut::new();
            value.encode(&mut ours, version);
            let ours = ours.freeze();

            let theirs_value = Theirs::decode(&mut ours.clone(), version).unwrap_or_else(|e| {
                panic!("{name} v{version} case {case}: kafka-protocol cannot decode our bytes: {e:#}\n{value:?}")
            });
            let mut theirs = BytesMut::new();
            theirs_value
                .encode(&mut theirs, version)
                .unwrap_or_else(|e| {
                    panic!("{name} v{version} case {case}: kafka-protocol cannot re-encode: {e:#}")
                });
            assert_eq!(
                ours,
                theirs.clone().freeze(),
                "{name} v{version} case {case}: encodings differ\nours:   {value:?}\ntheirs: {theirs_value:?}"
            );
            let back = Ours::decode(Bytes::from(theirs), version).unwrap_or_else(|e| {
                panic!("{name} v{version} case {case}: cannot decode kafka-protocol's bytes: {e}")
            });
            assert_eq!(
                back, value,
                "{name} v{version} case {case}: decoded value differs"
            );
        }
    }
}

/// One test per (request, response) pair: `name => ours, theirs;`.
macro_rules! differential_tests {
    ($($test:ident => $ours:ty, $theirs:ty;)*) => {$(
        #[test]
        fn $test() {
            differential::<$ours, $theirs>(stringify!($test));
        }
    )*};
}

use kafka_protocol::messages as kp;

differential_tests! {
    metadata_request => messages::MetadataRequest, kp::MetadataRequest;
    metadata_response => messages::MetadataResponse, kp::MetadataResponse;
    produce_request => messages::ProduceRequest, kp::ProduceRequest;
    produce_response => messages::ProduceResponse, kp::ProduceResponse;
    fetch_request => messages::FetchRequest, kp::FetchRequest;
    fetch_response => messages::FetchResponse, kp::FetchResponse;
    list_offsets_request => messages::ListOffsetsRequest, kp::ListOffsetsRequest;
    list_offsets_response => messages::ListOffsetsResponse, kp::ListOffsetsResponse;
    api_versions_request => messages::ApiVersionsRequest, kp::ApiVersionsRequest;
    api_versions_response => messages::ApiVersionsResponse, kp::ApiVersionsResponse;
    create_topics_request => messages::CreateTopicsRequest, kp::CreateTopicsRequest;
    create_topics_response => messages::CreateTopicsResponse, kp::CreateTopicsResponse;
    delete_topics_request => messages::DeleteTopicsRequest, kp::DeleteTopicsRequest;
    delete_topics_response => messages::DeleteTopicsResponse, kp::DeleteTopicsResponse;
    init_producer_id_request => messages::InitProducerIdRequest, kp::InitProducerIdRequest;
    init_producer_id_response => messages::InitProducerIdResponse, kp::InitProducerIdResponse;
    offset_commit_request => messages::OffsetCommitRequest, kp::OffsetCommitRequest;
    offset_commit_response => messages::OffsetCommitResponse, kp::OffsetCommitResponse;
    offset_fetch_request => messages::OffsetFetchRequest, kp::OffsetFetchRequest;
    offset_fetch_response => messages::OffsetFetchResponse, kp::OffsetFetchResponse;
    find_coordinator_request => messages::FindCoordinatorRequest, kp::FindCoordinatorRequest;
    find_coordinator_response => messages::FindCoordinatorResponse, kp::FindCoordinatorResponse;
    join_group_request => messages::JoinGroupRequest, kp::JoinGroupRequest;
    join_group_response => messages::JoinGroupResponse, kp::JoinGroupResponse;
    heartbeat_request => messages::HeartbeatRequest, kp::HeartbeatRequest;
    heartbeat_response => messages::HeartbeatResponse, kp::HeartbeatResponse;
    leave_group_request => messages::LeaveGroupRequest, kp::LeaveGroupRequest;
    leave_group_response => messages::LeaveGroupResponse, kp::LeaveGroupResponse;
    sync_group_request => messages::SyncGroupRequest, kp::SyncGroupRequest;
    sync_group_response => messages::SyncGroupResponse, kp::SyncGroupResponse;
    describe_groups_request => messages::DescribeGroupsRequest, kp::DescribeGroupsRequest;
    describe_groups_response => messages::DescribeGroupsResponse, kp::DescribeGroupsResponse;
    list_groups_request => messages::ListGroupsRequest, kp::ListGroupsRequest;
    list_groups_response => messages::ListGroupsResponse, kp::ListGroupsResponse;
    delete_groups_request => messages::DeleteGroupsRequest, kp::DeleteGroupsRequest;
    delete_groups_response => messages::DeleteGroupsResponse, kp::DeleteGroupsResponse;
    offset_delete_request => messages::OffsetDeleteRequest, kp::OffsetDeleteRequest;
    offset_delete_response => messages::OffsetDeleteResponse, kp::OffsetDeleteResponse;
    // Share groups (KIP-932), served: heartbeat and describe at v1, fetch and acknowledge at
    // v1-2. kafka-protocol 0.18 knows v1 only, so ShareFetch and ShareAcknowledge v2 (Kafka 4.4)
    // are checked by share_roundtrip_tests' byte vectors instead.
    share_group_heartbeat_request => messages::ShareGroupHeartbeatRequest, kp::ShareGroupHeartbeatRequest;
    share_group_heartbeat_response => messages::ShareGroupHeartbeatResponse, kp::ShareGroupHeartbeatResponse;
    share_group_describe_request => messages::ShareGroupDescribeRequest, kp::ShareGroupDescribeRequest;
    share_group_describe_response => messages::ShareGroupDescribeResponse, kp::ShareGroupDescribeResponse;
    share_fetch_request => messages::ShareFetchRequest, kp::ShareFetchRequest;
    share_fetch_response => messages::ShareFetchResponse, kp::ShareFetchResponse;
    share_acknowledge_request => messages::ShareAcknowledgeRequest, kp::ShareAcknowledgeRequest;
    share_acknowledge_response => messages::ShareAcknowledgeResponse, kp::ShareAcknowledgeResponse;
    // Share groups' Admin APIs, served: DescribeShareGroupOffsets at v0-1, Alter and
    // DeleteShareGroupOffsets at v0. kafka-protocol 0.18 knows DescribeShareGroupOffsets v0
    // only; v1 (KIP-1226's lag) is checked by share_roundtrip_tests' byte vectors.
    describe_share_group_offsets_request => messages::DescribeShareGroupOffsetsRequest, kp::DescribeShareGroupOffsetsRequest;
    describe_share_group_offsets_response => messages::DescribeShareGroupOffsetsResponse, kp::DescribeShareGroupOffsetsResponse;
    alter_share_group_offsets_request => messages::AlterShareGroupOffsetsRequest, kp::AlterShareGroupOffsetsRequest;
    alter_share_group_offsets_response => messages::AlterShareGroupOffsetsResponse, kp::AlterShareGroupOffsetsResponse;
    delete_share_group_offsets_request => messages::DeleteShareGroupOffsetsRequest, kp::DeleteShareGroupOffsetsRequest;
    delete_share_group_offsets_response => messages::DeleteShareGroupOffsetsResponse, kp::DeleteShareGroupOffsetsResponse;
    // KIP-848 consumer groups, served at v0-1.
    consumer_group_heartbeat_request => messages::ConsumerGroupHeartbeatRequest, kp::ConsumerGroupHeartbeatRequest;
    consumer_group_heartbeat_response => messages::ConsumerGroupHeartbeatResponse, kp::ConsumerGroupHeartbeatResponse;
    consumer_group_describe_request => messages::ConsumerGroupDescribeRequest, kp::ConsumerGroupDescribeRequest;
    consumer_group_describe_response => messages::ConsumerGroupDescribeResponse, kp::ConsumerGroupDescribeResponse;
    // Served: configs (GROUP configs of share groups; topic configs, issue #19).
    describe_configs_request => messages::DescribeConfigsRequest, kp::DescribeConfigsRequest;
    describe_configs_response => messages::DescribeConfigsResponse, kp::DescribeConfigsResponse;
    incremental_alter_configs_request => messages::IncrementalAlterConfigsRequest, kp::IncrementalAlterConfigsRequest;
    incremental_alter_configs_response => messages::IncrementalAlterConfigsResponse, kp::IncrementalAlterConfigsResponse;
    alter_configs_request => messages::AlterConfigsRequest, kp::AlterConfigsRequest;
    alter_configs_response => messages::AlterConfigsResponse, kp::AlterConfigsResponse;
    create_partitions_request => messages::CreatePartitionsRequest, kp::CreatePartitionsRequest;
    create_partitions_response => messages::CreatePartitionsResponse, kp::CreatePartitionsResponse;
    // Transactions (issue #18), defined ahead of their handlers: every version of the
    // definitions (Kafka 4.4's), all of which kafka-protocol 0.18 knows.
    add_partitions_to_txn_request => messages::AddPartitionsToTxnRequest, kp::AddPartitionsToTxnRequest;
    add_partitions_to_txn_response => messages::AddPartitionsToTxnResponse, kp::AddPartitionsToTxnResponse;
    add_offsets_to_txn_request => messages::AddOffsetsToTxnRequest, kp::AddOffsetsToTxnRequest;
    add_offsets_to_txn_response => messages::AddOffsetsToTxnResponse, kp::AddOffsetsToTxnResponse;
    end_txn_request => messages::EndTxnRequest, kp::EndTxnRequest;
    end_txn_response => messages::EndTxnResponse, kp::EndTxnResponse;
    txn_offset_commit_request => messages::TxnOffsetCommitRequest, kp::TxnOffsetCommitRequest;
    txn_offset_commit_response => messages::TxnOffsetCommitResponse, kp::TxnOffsetCommitResponse;
    // ACLs (issue #20).
    describe_acls_request => messages::DescribeAclsRequest, kp::DescribeAclsRequest;
    describe_acls_response => messages::DescribeAclsResponse, kp::DescribeAclsResponse;
    create_acls_request => messages::CreateAclsRequest, kp::CreateAclsRequest;
    create_acls_response => messages::CreateAclsResponse, kp::CreateAclsResponse;
    delete_acls_request => messages::DeleteAclsRequest, kp::DeleteAclsRequest;
    delete_acls_response => messages::DeleteAclsResponse, kp::DeleteAclsResponse;
    describe_transactions_request => messages::DescribeTransactionsRequest, kp::DescribeTransactionsRequest;
    describe_transactions_response => messages::DescribeTransactionsResponse, kp::DescribeTransactionsResponse;
    list_transactions_request => messages::ListTransactionsRequest, kp::ListTransactionsRequest;
    list_transactions_response => messages::ListTransactionsResponse, kp::ListTransactionsResponse;
    describe_cluster_request => messages::DescribeClusterRequest, kp::DescribeClusterRequest;
    describe_cluster_response => messages::DescribeClusterResponse, kp::DescribeClusterResponse;
    describe_producers_request => messages::DescribeProducersRequest, kp::DescribeProducersRequest;
    describe_producers_response => messages::DescribeProducersResponse, kp::DescribeProducersResponse;
    delete_records_request => messages::DeleteRecordsRequest, kp::DeleteRecordsRequest;
    delete_records_response => messages::DeleteRecordsResponse, kp::DeleteRecordsResponse;
    describe_log_dirs_request => messages::DescribeLogDirsRequest, kp::DescribeLogDirsRequest;
    describe_log_dirs_response => messages::DescribeLogDirsResponse, kp::DescribeLogDirsResponse;
    describe_topic_partitions_request => messages::DescribeTopicPartitionsRequest, kp::DescribeTopicPartitionsRequest;
    describe_topic_partitions_response => messages::DescribeTopicPartitionsResponse, kp::DescribeTopicPartitionsResponse;
    // SASL and SCRAM credentials (issue #20).
    sasl_handshake_request => messages::SaslHandshakeRequest, kp::SaslHandshakeRequest;
    sasl_handshake_response => messages::SaslHandshakeResponse, kp::SaslHandshakeResponse;
    sasl_authenticate_request => messages::SaslAuthenticateRequest, kp::SaslAuthenticateRequest;
    sasl_authenticate_response => messages::SaslAuthenticateResponse, kp::SaslAuthenticateResponse;
    // Client quotas (issue #20).
    describe_client_quotas_request => messages::DescribeClientQuotasRequest, kp::DescribeClientQuotasRequest;
    describe_client_quotas_response => messages::DescribeClientQuotasResponse, kp::DescribeClientQuotasResponse;
    alter_client_quotas_request => messages::AlterClientQuotasRequest, kp::AlterClientQuotasRequest;
    alter_client_quotas_response => messages::AlterClientQuotasResponse, kp::AlterClientQuotasResponse;
    describe_user_scram_credentials_request => messages::DescribeUserScramCredentialsRequest, kp::DescribeUserScramCredentialsRequest;
    describe_user_scram_credentials_response => messages::DescribeUserScramCredentialsResponse, kp::DescribeUserScramCredentialsResponse;
    alter_user_scram_credentials_request => messages::AlterUserScramCredentialsRequest, kp::AlterUserScramCredentialsRequest;
    alter_user_scram_credentials_response => messages::AlterUserScramCredentialsResponse, kp::AlterUserScramCredentialsResponse;
    // Not here: the ringlog-private APIs (versions::PRIVATE_APIS: DescribeDelays 32000,
    // DescribeShareState 32001, DescribeViews 32002).
    // Kafka's schemas, and so kafka-protocol, do not know them: there is no oracle to compare
    // with. roundtrip_tests checks them with hand-written byte vectors instead.
}

/// Every API the broker advertises has a definition covering its advertised versions. (That
/// each one also has a row in the table above is kept by hand, not checked here.)
#[test]
fn every_advertised_api_is_defined() {
    for range in SUPPORTED_APIS {
        let key = super::api_key::ApiKey::from_i16(range.api_key as i16).expect("known key");
        let defined = messages::defined_versions(key)
            .unwrap_or_else(|| panic!("{key:?} is advertised but has no definition"));
        assert!(defined.contains(range.min_version) && defined.contains(range.max_version));
    }
}
