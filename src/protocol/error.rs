//! Kafka error codes ringlog puts on the wire.
//!
//! Plain `i16` constants, named as in the Kafka protocol guide
//! (<https://kafka.apache.org/protocol#protocol_error_codes>), so a handler writes
//! `error_code: error::UNKNOWN_TOPIC_OR_PARTITION` and a reader can grep the spec for the name.
//! kafka-protocol's `ResponseError` enum covers the same codes; these constants exist so the codes we
//! actually send are listed in one short file.
//!
//! # Invariants
//! - Every value equals the code in the Kafka protocol guide (checked against
//!   `kafka_protocol::ResponseError` in the tests below).

/// No error.
pub const NONE: i16 = 0;
/// Unexpected server error; the client may retry.
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
/// Requested offset is outside the range of offsets the partition holds.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// A record failed its CRC check or is otherwise corrupt.
pub const CORRUPT_MESSAGE: i16 = 2;
/// This broker does not host the topic or partition.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// The requested fetch size is invalid.
pub const INVALID_FETCH_SIZE: i16 = 4;
/// The partition has no leader right now (e.g. during auto-create); retriable.
pub const LEADER_NOT_AVAILABLE: i16 = 5;
/// This broker is not the leader for the partition.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// The request timed out.
pub const REQUEST_TIMED_OUT: i16 = 7;
/// A record batch is larger than the broker accepts.
pub const MESSAGE_TOO_LARGE: i16 = 10;
/// The topic name is invalid (empty, too long, bad characters, reserved).
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// The produce request's record set for one partition is larger than allowed.
pub const RECORD_LIST_TOO_LARGE: i16 = 18;
/// Fewer in-sync replicas than `min.insync.replicas`.
pub const NOT_ENOUGH_REPLICAS: i16 = 19;
/// `acks` is not -1, 0 or 1.
pub const INVALID_REQUIRED_ACKS: i16 = 21;
/// The API version is not supported by this broker.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// CreateTopics: the topic already exists.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// CreateTopics: the partition count is invalid.
pub const INVALID_PARTITIONS: i16 = 37;
/// CreateTopics: the replication factor is invalid.
pub const INVALID_REPLICATION_FACTOR: i16 = 38;
/// The request is malformed or inconsistent.
pub const INVALID_REQUEST: i16 = 42;
/// A disk error while reading or writing the log.
pub const KAFKA_STORAGE_ERROR: i16 = 56;
/// A record in the batch is invalid (e.g. bad offsets, compacted topic without key).
pub const INVALID_RECORD: i16 = 87;
/// The topic id does not match any topic on this broker.
pub const UNKNOWN_TOPIC_ID: i16 = 100;

/// The coordinator is not on this broker/shard.
pub const NOT_COORDINATOR: i16 = 16;
/// Sequence numbers out of order for an idempotent producer.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// The producer's epoch is stale.
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// The broker does not know this producer id.
pub const UNKNOWN_PRODUCER_ID: i16 = 59;

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::ResponseError as E;

    #[test]
    fn codes_match_kafka_protocol() {
        let pairs = [
            (UNKNOWN_SERVER_ERROR, E::UnknownServerError),
            (OFFSET_OUT_OF_RANGE, E::OffsetOutOfRange),
            (CORRUPT_MESSAGE, E::CorruptMessage),
            (UNKNOWN_TOPIC_OR_PARTITION, E::UnknownTopicOrPartition),
            (INVALID_FETCH_SIZE, E::InvalidFetchSize),
            (LEADER_NOT_AVAILABLE, E::LeaderNotAvailable),
            (NOT_LEADER_OR_FOLLOWER, E::NotLeaderOrFollower),
            (REQUEST_TIMED_OUT, E::RequestTimedOut),
            (MESSAGE_TOO_LARGE, E::MessageTooLarge),
            (INVALID_TOPIC_EXCEPTION, E::InvalidTopicException),
            (RECORD_LIST_TOO_LARGE, E::RecordListTooLarge),
            (NOT_ENOUGH_REPLICAS, E::NotEnoughReplicas),
            (INVALID_REQUIRED_ACKS, E::InvalidRequiredAcks),
            (UNSUPPORTED_VERSION, E::UnsupportedVersion),
            (TOPIC_ALREADY_EXISTS, E::TopicAlreadyExists),
            (INVALID_PARTITIONS, E::InvalidPartitions),
            (INVALID_REPLICATION_FACTOR, E::InvalidReplicationFactor),
            (INVALID_REQUEST, E::InvalidRequest),
            (KAFKA_STORAGE_ERROR, E::KafkaStorageError),
            (INVALID_RECORD, E::InvalidRecord),
            (UNKNOWN_TOPIC_ID, E::UnknownTopicId),
        ];
        for (code, err) in pairs {
            assert_eq!(code, err.code(), "{err:?}");
        }
        assert_eq!(NONE, 0);
    }
}
