//! Kafka API keys (Kafka protocol guide, "Api Keys"): every key Kafka 4.x defines, so a request
//! for any of them can be named in logs and answered as Kafka would, whether ringlog serves it
//! or not, and ringlog's own private APIs. Which ones ringlog serves, and at which versions, is
//! [`super::versions`].
//!
//! # Invariants
//! - Kafka's keys ([`ApiKey::ALL`]) are all below [`RINGLOG_PRIVATE_KEY_MIN`]; ringlog's own
//!   ([`RINGLOG_PRIVATE`]) are all at or above it, so the two can never collide (tested).

/// A Kafka API, by its key on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i16)]
pub enum ApiKey {
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    DescribeGroups = 15,
    ListGroups = 16,
    SaslHandshake = 17,
    ApiVersions = 18,
    CreateTopics = 19,
    DeleteTopics = 20,
    DeleteRecords = 21,
    InitProducerId = 22,
    OffsetForLeaderEpoch = 23,
    AddPartitionsToTxn = 24,
    AddOffsetsToTxn = 25,
    EndTxn = 26,
    WriteTxnMarkers = 27,
    TxnOffsetCommit = 28,
    DescribeAcls = 29,
    CreateAcls = 30,
    DeleteAcls = 31,
    DescribeConfigs = 32,
    AlterConfigs = 33,
    AlterReplicaLogDirs = 34,
    DescribeLogDirs = 35,
    SaslAuthenticate = 36,
    CreatePartitions = 37,
    CreateDelegationToken = 38,
    RenewDelegationToken = 39,
    ExpireDelegationToken = 40,
    DescribeDelegationToken = 41,
    DeleteGroups = 42,
    ElectLeaders = 43,
    IncrementalAlterConfigs = 44,
    AlterPartitionReassignments = 45,
    ListPartitionReassignments = 46,
    OffsetDelete = 47,
    DescribeClientQuotas = 48,
    AlterClientQuotas = 49,
    DescribeUserScramCredentials = 50,
    AlterUserScramCredentials = 51,
    Vote = 52,
    BeginQuorumEpoch = 53,
    EndQuorumEpoch = 54,
    DescribeQuorum = 55,
    AlterPartition = 56,
    UpdateFeatures = 57,
    Envelope = 58,
    FetchSnapshot = 59,
    DescribeCluster = 60,
    DescribeProducers = 61,
    BrokerRegistration = 62,
    BrokerHeartbeat = 63,
    UnregisterBroker = 64,
    DescribeTransactions = 65,
    ListTransactions = 66,
    AllocateProducerIds = 67,
    ConsumerGroupHeartbeat = 68,
    ConsumerGroupDescribe = 69,
    ControllerRegistration = 70,
    GetTelemetrySubscriptions = 71,
    PushTelemetry = 72,
    AssignReplicasToDirs = 73,
    ListConfigResources = 74,
    DescribeTopicPartitions = 75,
    ShareGroupHeartbeat = 76,
    ShareGroupDescribe = 77,
    ShareFetch = 78,
    ShareAcknowledge = 79,
    AddRaftVoter = 80,
    RemoveRaftVoter = 81,
    UpdateRaftVoter = 82,
    InitializeShareGroupState = 83,
    ReadShareGroupState = 84,
    WriteShareGroupState = 85,
    DeleteShareGroupState = 86,
    ReadShareGroupStateSummary = 87,
    DescribeShareGroupOffsets = 90,
    AlterShareGroupOffsets = 91,
    DeleteShareGroupOffsets = 92,
    // ringlog-private APIs, from RINGLOG_PRIVATE_KEY_MIN up (served, never advertised).
    /// Scheduled delivery: pending, next due and delivered records per topic (`ringlog delays`).
    DescribeDelays = 32_000,
    /// Share groups: each share-partition's window and delivery-state counts (`ringlog groups
    /// describe`).
    DescribeShareState = 32_001,
    /// Filtered views: definition and zero-copy/rewrite counters per view (`ringlog views`).
    DescribeViews = 32_002,
}

/// The first api key of ringlog's private APIs. Kafka allocates its keys one by one from 0 (92
/// in Kafka 4.x, growing by a few per release), so keys this high stay clear of it for the
/// foreseeable future, and still fit the wire's i16 with room for more.
pub const RINGLOG_PRIVATE_KEY_MIN: i16 = 32_000;

/// ringlog's private APIs, in key order. They are decoded and answered like any served API but
/// never listed in ApiVersions ([`super::versions::PRIVATE_APIS`]), so Kafka clients see exactly
/// the APIs a Kafka broker would offer them.
pub const RINGLOG_PRIVATE: &[ApiKey] = &[
    ApiKey::DescribeDelays,
    ApiKey::DescribeShareState,
    ApiKey::DescribeViews,
];

impl ApiKey {
    /// Every key Kafka defines, in key order (ringlog's own are [`RINGLOG_PRIVATE`]).
    pub const ALL: &'static [ApiKey] = &[
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::SyncGroup,
        ApiKey::DescribeGroups,
        ApiKey::ListGroups,
        ApiKey::SaslHandshake,
        ApiKey::ApiVersions,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::DeleteRecords,
        ApiKey::InitProducerId,
        ApiKey::OffsetForLeaderEpoch,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::WriteTxnMarkers,
        ApiKey::TxnOffsetCommit,
        ApiKey::DescribeAcls,
        ApiKey::CreateAcls,
        ApiKey::DeleteAcls,
        ApiKey::DescribeConfigs,
        ApiKey::AlterConfigs,
        ApiKey::AlterReplicaLogDirs,
        ApiKey::DescribeLogDirs,
        ApiKey::SaslAuthenticate,
        ApiKey::CreatePartitions,
        ApiKey::CreateDelegationToken,
        ApiKey::RenewDelegationToken,
        ApiKey::ExpireDelegationToken,
        ApiKey::DescribeDelegationToken,
        ApiKey::DeleteGroups,
        ApiKey::ElectLeaders,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::AlterPartitionReassignments,
        ApiKey::ListPartitionReassignments,
        ApiKey::OffsetDelete,
        ApiKey::DescribeClientQuotas,
        ApiKey::AlterClientQuotas,
        ApiKey::DescribeUserScramCredentials,
        ApiKey::AlterUserScramCredentials,
        ApiKey::Vote,
        ApiKey::BeginQuorumEpoch,
        ApiKey::EndQuorumEpoch,
        ApiKey::DescribeQuorum,
        ApiKey::AlterPartition,
        ApiKey::UpdateFeatures,
        ApiKey::Envelope,
        ApiKey::FetchSnapshot,
        ApiKey::DescribeCluster,
        ApiKey::DescribeProducers,
        ApiKey::BrokerRegistration,
        ApiKey::BrokerHeartbeat,
        ApiKey::UnregisterBroker,
        ApiKey::DescribeTransactions,
        ApiKey::ListTransactions,
        ApiKey::AllocateProducerIds,
        ApiKey::ConsumerGroupHeartbeat,
        ApiKey::ConsumerGroupDescribe,
        ApiKey::ControllerRegistration,
        ApiKey::GetTelemetrySubscriptions,
        ApiKey::PushTelemetry,
        ApiKey::AssignReplicasToDirs,
        ApiKey::ListConfigResources,
        ApiKey::DescribeTopicPartitions,
        ApiKey::ShareGroupHeartbeat,
        ApiKey::ShareGroupDescribe,
        ApiKey::ShareFetch,
        ApiKey::ShareAcknowledge,
        ApiKey::AddRaftVoter,
        ApiKey::RemoveRaftVoter,
        ApiKey::UpdateRaftVoter,
        ApiKey::InitializeShareGroupState,
        ApiKey::ReadShareGroupState,
        ApiKey::WriteShareGroupState,
        ApiKey::DeleteShareGroupState,
        ApiKey::ReadShareGroupStateSummary,
        ApiKey::DescribeShareGroupOffsets,
        ApiKey::AlterShareGroupOffsets,
        ApiKey::DeleteShareGroupOffsets,
    ];

    /// The key for a raw wire value, or `None` for a key neither Kafka nor ringlog defines.
    pub fn from_i16(key: i16) -> Option<ApiKey> {
        let table = if key >= RINGLOG_PRIVATE_KEY_MIN {
            RINGLOG_PRIVATE
        } else {
            ApiKey::ALL
        };
        table.iter().copied().find(|k| *k as i16 == key)
    }

    /// Whether this is one of ringlog's private APIs (never advertised).
    pub fn is_ringlog_private(self) -> bool {
        self as i16 >= RINGLOG_PRIVATE_KEY_MIN
    }
}

impl TryFrom<i16> for ApiKey {
    type Error = i16;
    fn try_from(key: i16) -> Result<ApiKey, i16> {
        ApiKey::from_i16(key).ok_or(key)
    }
}

#[cfg(test)]
mod tests {
    use super::{ApiKey, RINGLOG_PRIVATE, RINGLOG_PRIVATE_KEY_MIN};

    #[test]
    fn keys_are_unique_sorted_and_round_trip() {
        for table in [ApiKey::ALL, RINGLOG_PRIVATE] {
            for pair in table.windows(2) {
                assert!((pair[0] as i16) < (pair[1] as i16));
            }
            for key in table {
                assert_eq!(ApiKey::from_i16(*key as i16), Some(*key));
            }
        }
        assert_eq!(ApiKey::from_i16(4), None); // LeaderAndIsr: removed in Kafka 4
        assert_eq!(ApiKey::from_i16(-1), None);
        assert_eq!(ApiKey::from_i16(RINGLOG_PRIVATE_KEY_MIN - 1), None);
        assert_eq!(ApiKey::from_i16(i16::MAX), None);
    }

    #[test]
    fn kafka_and_ringlog_keys_never_collide() {
        for key in ApiKey::ALL {
            assert!((*key as i16) < RINGLOG_PRIVATE_KEY_MIN, "{key:?}");
            assert!(!key.is_ringlog_private(), "{key:?}");
        }
        for key in RINGLOG_PRIVATE {
            assert!(key.is_ringlog_private(), "{key:?}");
        }
        assert_eq!(ApiKey::DescribeDelays as i16, 32_000);
        assert_eq!(ApiKey::DescribeShareState as i16, 32_001);
        assert_eq!(ApiKey::DescribeViews as i16, 32_002);
    }
}
