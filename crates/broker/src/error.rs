//! The Kafka error code the broker answers for a storage error. Storage keeps typed errors and
//! knows nothing of Kafka's codes; [`kafka_code`] is the one place they are mapped.

use crate::protocol::error as code;
use crate::storage::producer::ProducerError;
use crate::storage::{BatchError, Error};

/// The Kafka error code a response carries for `e`.
pub fn kafka_code(e: &Error) -> i16 {
    match e {
        Error::InvalidTopicName { .. } => code::INVALID_TOPIC_EXCEPTION,
        Error::InvalidPartition { .. } => code::INVALID_PARTITIONS,
        Error::UnknownTopicOrPartition { .. } | Error::Deleted { .. } => {
            code::UNKNOWN_TOPIC_OR_PARTITION
        }
        Error::TopicAlreadyExists { .. } => code::TOPIC_ALREADY_EXISTS,
        Error::InvalidBatch { source, .. } => match source {
            BatchError::Truncated { .. }
            | BatchError::BadLength { .. }
            | BatchError::CrcMismatch { .. } => code::CORRUPT_MESSAGE,
            BatchError::TooLarge { .. } => code::MESSAGE_TOO_LARGE,
            // Kafka's ProduceRequest.validateRecords rejects non-v2 batches as INVALID_RECORD.
            BatchError::BadMagic { .. } | BatchError::BadRecordCount { .. } | BatchError::Empty => {
                code::INVALID_RECORD
            }
        },
        Error::RecordListTooLarge { .. } => code::RECORD_LIST_TOO_LARGE,
        Error::Producer { source, .. } => match source {
            ProducerError::InvalidEpoch { .. } => code::INVALID_PRODUCER_EPOCH,
            ProducerError::OutOfOrder { .. } => code::OUT_OF_ORDER_SEQUENCE_NUMBER,
            ProducerError::UnknownProducer { .. } => code::UNKNOWN_PRODUCER_ID,
        },
        Error::OffsetOutOfRange { .. } => code::OFFSET_OUT_OF_RANGE,
        // The client should retry elsewhere or later.
        Error::Poisoned { .. } | Error::Io { .. } | Error::CorruptSegment { .. } => {
            code::KAFKA_STORAGE_ERROR
        }
        Error::InvalidArgument { .. } => code::INVALID_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn batch(source: BatchError) -> Error {
        Error::InvalidBatch {
            partition: "t-0".into(),
            batch_index: 0,
            position: 0,
            source,
        }
    }

    fn producer(source: ProducerError) -> Error {
        Error::Producer {
            partition: "t-0".into(),
            batch_index: 0,
            source,
        }
    }

    #[test]
    fn storage_errors_map_to_kafka_codes() {
        let partition = || "t-0".to_string();
        let cases = [
            (
                Error::InvalidTopicName {
                    name: "a b".into(),
                    reason: "space",
                },
                17,
            ),
            (
                Error::InvalidPartition {
                    topic: "t".into(),
                    partition: -1,
                },
                37,
            ),
            (
                Error::UnknownTopicOrPartition {
                    topic: "t".into(),
                    partition: 0,
                },
                3,
            ),
            (
                Error::Deleted {
                    partition: partition(),
                },
                3,
            ),
            (Error::TopicAlreadyExists { topic: "t".into() }, 36),
            (
                batch(BatchError::Truncated {
                    needed_bytes: 61,
                    available_bytes: 10,
                }),
                2,
            ),
            (batch(BatchError::BadLength { batch_length: -1 }), 2),
            (
                batch(BatchError::CrcMismatch {
                    stored: 1,
                    computed: 2,
                }),
                2,
            ),
            (
                batch(BatchError::TooLarge {
                    size_bytes: 10,
                    max_bytes: 5,
                }),
                10,
            ),
            (batch(BatchError::BadMagic { magic: 1 }), 87),
            (
                batch(BatchError::BadRecordCount {
                    records_count: 0,
                    last_offset_delta: 0,
                }),
                87,
            ),
            (batch(BatchError::Empty), 87),
            (
                Error::RecordListTooLarge {
                    partition: partition(),
                    size_bytes: 10,
                    max_bytes: 5,
                },
                18,
            ),
            (
                producer(ProducerError::InvalidEpoch { got: 0, current: 1 }),
                47,
            ),
            (
                producer(ProducerError::OutOfOrder {
                    got: 5,
                    expected: 1,
                }),
                45,
            ),
            (
                producer(ProducerError::UnknownProducer { producer_id: 7 }),
                59,
            ),
            (
                Error::OffsetOutOfRange {
                    partition: partition(),
                    offset: 10,
                    log_start_offset: 0,
                    high_watermark: 9,
                },
                1,
            ),
            (
                Error::Poisoned {
                    partition: partition(),
                    cause: "EIO".into(),
                },
                56,
            ),
            (
                Error::Io {
                    op: "fdatasync",
                    path: "/d/x.log".into(),
                    source: io::Error::from_raw_os_error(libc::EIO),
                },
                56,
            ),
            (
                Error::CorruptSegment {
                    path: "/d/x.log".into(),
                    position: 0,
                    reason: "crc".into(),
                },
                56,
            ),
            (Error::InvalidArgument { what: "x".into() }, 42),
        ];
        for (e, expected) in cases {
            assert_eq!(kafka_code(&e), expected, "{e}");
        }
    }
}
