//! Storage errors. Each keeps its context (partition, segment path, operation, position). The
//! broker maps them to Kafka error codes (`broker::error::kafka_code`); storage knows no codes.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::records::{Compression, RecordFault};

/// Why one RecordBatch v2 was rejected. Positions are byte offsets within the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the header or than `batch_length` announces (a truncated batch).
    Truncated {
        /// Bytes the header or `batch_length` requires.
        needed_bytes: u64,
        /// Bytes actually present from the batch start.
        available_bytes: u64,
    },
    /// `batch_length` is negative or smaller than the fixed v2 header.
    BadLength {
        /// The `batch_length` field as stored.
        batch_length: i32,
    },
    /// The batch exceeds `batch_bytes_max`.
    TooLarge {
        /// Whole batch size in bytes (`12 + batch_length`).
        size_bytes: u64,
        /// The configured `batch_bytes_max` in bytes.
        max_bytes: u64,
    },
    /// Magic byte is not 2 (RecordBatch v2).
    BadMagic {
        /// The magic byte as stored.
        magic: i8,
    },
    /// CRC32C over attributes..end does not match the stored CRC.
    CrcMismatch {
        /// CRC field of the header.
        stored: u32,
        /// CRC32C computed over the covered bytes.
        computed: u32,
    },
    /// `records_count` is not positive or disagrees with `last_offset_delta + 1`.
    BadRecordCount {
        /// The `records_count` field as stored.
        records_count: i32,
        /// The `last_offset_delta` field as stored.
        last_offset_delta: i32,
    },
    /// The append buffer holds no batch at all.
    Empty,
    /// Compression codec bits 5, 6 or 7: no such codec.
    UnknownCodec {
        /// The attribute's codec bits.
        codec: i16,
    },
    /// A client sent a control batch (transaction markers are written by the broker only).
    ControlFromClient,
    /// A client set the log-append-time bit (only the broker may choose log-append time).
    LogAppendTimeFromClient,
    /// An idempotent batch (producer id set) without a base sequence.
    MissingSequence {
        /// The batch's producer id.
        producer_id: i64,
        /// The batch's base sequence as stored (negative).
        base_sequence: i32,
    },
    /// The codec rejected the compressed records (corrupt or truncated compressed bytes).
    Decompress {
        /// The batch's codec.
        codec: Compression,
        /// The codec's complaint.
        reason: String,
    },
    /// The records decompress to more than the validator's bound (a decompression bomb, or a
    /// batch far larger than any producer builds).
    InflatedTooLarge {
        /// The batch's codec.
        codec: Compression,
        /// The bound in bytes (`ValidationConfig::decompressed_bytes_max`).
        limit_bytes: usize,
    },
    /// Record `record_index` of the batch is malformed.
    InvalidRecord {
        /// Index of the record in its batch, counting from 0.
        record_index: u32,
        /// Records the batch announces.
        records_count: i32,
        /// What is wrong with it.
        fault: RecordFault,
    },
    /// The records region ends before `records_count` records (Kafka: "premature EOF").
    TooFewRecords {
        /// Records the batch announces.
        records_count: i32,
        /// Whole records found.
        found: u32,
    },
    /// Bytes follow the last of the `records_count` records (Kafka: "records still remaining").
    TrailingBytes {
        /// Records the batch announces (all read).
        records_count: i32,
        /// Bytes after the last record.
        bytes: usize,
    },
    /// Record timestamps outside the accepted window around the broker's clock
    /// (`ValidationConfig::timestamp_before_max_ms` / `timestamp_after_max_ms`).
    TimestampOutOfRange {
        /// The first refused records as (index in the batch, timestamp), at most
        /// `validate::RECORD_ERRORS_MAX`.
        records: Vec<(u32, i64)>,
        /// All refused records of the batch.
        refused: u32,
        /// Earliest accepted timestamp (ms since the epoch).
        min_ms: i64,
        /// Latest accepted timestamp (ms since the epoch).
        max_ms: i64,
    },
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Truncated { needed_bytes, available_bytes } => {
                write!(f, "truncated batch: need {needed_bytes} bytes, have {available_bytes}")
            }
            BatchError::BadLength { batch_length } => write!(f, "invalid batch_length {batch_length}"),
            BatchError::TooLarge { size_bytes, max_bytes } => {
                write!(f, "batch of {size_bytes} bytes exceeds batch_bytes_max {max_bytes}")
            }
            BatchError::BadMagic { magic } => write!(f, "unsupported magic {magic} (need 2)"),
            BatchError::CrcMismatch { stored, computed } => {
                write!(f, "crc32c mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            BatchError::BadRecordCount { records_count, last_offset_delta } => write!(
                f,
                "records_count {records_count} inconsistent with last_offset_delta {last_offset_delta}"
            ),
            BatchError::Empty => write!(f, "no record batch in buffer"),
            BatchError::UnknownCodec { codec } => write!(f, "unknown compression codec {codec}"),
            BatchError::ControlFromClient => {
                write!(f, "clients may not write control batches")
            }
            BatchError::LogAppendTimeFromClient => write!(
                f,
                "the producer set the timestamp type to log-append time (only the broker may)"
            ),
            BatchError::MissingSequence { producer_id, base_sequence } => write!(
                f,
                "invalid base sequence {base_sequence} in a batch of producer id {producer_id}"
            ),
            BatchError::Decompress { codec, reason } => {
                write!(f, "{codec} records do not decompress: {reason}")
            }
            BatchError::InflatedTooLarge { codec, limit_bytes } => write!(
                f,
                "{codec} records decompress to more than the limit of {limit_bytes} bytes"
            ),
            BatchError::InvalidRecord { record_index, records_count, fault } => {
                write!(f, "record {record_index} of {records_count}: {fault}")
            }
            BatchError::TooFewRecords { records_count, found } => write!(
                f,
                "records_count {records_count} but the records end after {found} (premature end)"
            ),
            BatchError::TrailingBytes { records_count, bytes } => {
                write!(f, "{bytes} bytes after the {records_count} records the batch announces")
            }
            BatchError::TimestampOutOfRange { records, refused, min_ms, max_ms } => {
                write!(f, "{refused} record timestamp(s) outside [{min_ms}, {max_ms}]")?;
                if let Some((index, timestamp)) = records.first() {
                    write!(f, ", the first: record {index} at {timestamp}")?;
                }
                Ok(())
            }
        }
    }
}

/// Storage error with context.
#[derive(Debug)]
pub enum Error {
    /// Topic name fails Kafka's naming rules.
    InvalidTopicName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Partition number out of range (negative, or partition count not positive / too large).
    InvalidPartition {
        /// Topic the partition (or count) was given for.
        topic: String,
        /// The rejected partition number or count (i64 so any wire value fits).
        partition: i64,
    },
    /// Topic or partition not present (or not owned by this engine).
    UnknownTopicOrPartition {
        /// Requested topic.
        topic: String,
        /// Requested partition.
        partition: i32,
    },
    /// CreateTopics for a topic that already has partition directories.
    TopicAlreadyExists {
        /// The existing topic.
        topic: String,
    },
    /// Batch `batch_index` (0-based) at byte `position` of the append buffer is invalid.
    /// Nothing of the buffer was appended.
    InvalidBatch {
        /// Partition name (`topic-partition`) the append was for.
        partition: String,
        /// Index of the rejected batch in the buffer, counting from 0.
        batch_index: usize,
        /// Byte position in the buffer where the rejected batch starts.
        position: u64,
        /// Why the batch was rejected.
        source: BatchError,
    },
    /// An idempotent producer's batch failed its sequence or epoch check; nothing was appended.
    Producer {
        /// `topic-partition`.
        partition: String,
        /// Index of the refused batch in the append buffer.
        batch_index: usize,
        /// What was wrong.
        source: super::producer::ProducerError,
    },
    /// The append buffer as a whole is larger than a segment can hold.
    RecordListTooLarge {
        /// Partition name (`topic-partition`) the append was for.
        partition: String,
        /// Size of the whole append buffer in bytes.
        size_bytes: u64,
        /// Largest accepted buffer in bytes.
        max_bytes: u64,
    },
    /// Requested offset outside `[log_start_offset, high_watermark]`.
    OffsetOutOfRange {
        /// Partition name (`topic-partition`).
        partition: String,
        /// The requested offset.
        offset: i64,
        /// Earliest readable offset at the time of the request.
        log_start_offset: i64,
        /// Readable offsets end here (exclusive) at the time of the request.
        high_watermark: i64,
    },
    /// A write or fsync failed earlier; the log refuses appends until reopened.
    Poisoned {
        /// Partition name (`topic-partition`).
        partition: String,
        /// The original failure, rendered when it happened.
        cause: String,
    },
    /// The log was deleted (topic deleted) while a handle to it was held.
    Deleted {
        /// Partition name (`topic-partition`).
        partition: String,
    },
    /// An I/O operation failed.
    Io {
        /// The operation, e.g. `"fdatasync"`, `"write"`, `"mkdir"`.
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The OS error (errno).
        source: io::Error,
    },
    /// A segment file could not be opened because the process (`EMFILE`) or the system
    /// (`ENFILE`) is out of file descriptors, even after the engine closed unused files and
    /// retried. Nothing was written; the log stays writable and a retry may succeed.
    OpenFilesExhausted {
        /// The file that could not be opened.
        path: PathBuf,
        /// Segment files the engine's cache held open at the time.
        held: usize,
        /// The OS error (`EMFILE` or `ENFILE`).
        source: io::Error,
    },
    /// A write found no space left (`ENOSPC`, or `EDQUOT` over a quota) and was rolled back:
    /// nothing of it remains in the files or in memory, so the log stays writable and the same
    /// write succeeds once space is freed.
    DiskFull {
        /// The operation, e.g. `"write"`.
        op: &'static str,
        /// The file it was applied to.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A sealed segment (or the segment chain) is damaged and `repair` was not requested.
    CorruptSegment {
        /// The damaged `.log` file (or the directory for a broken chain).
        path: PathBuf,
        /// Byte position in the file of the first damaged batch.
        position: u64,
        /// What check failed.
        reason: String,
    },
    /// Invalid configuration or argument.
    InvalidArgument {
        /// What was wrong, with the offending value.
        what: String,
    },
    /// An append to a state log would grow its live set past its bound; nothing was written.
    StateFull {
        /// The state log (`{family}/shard-{n}`).
        log: String,
        /// Live bytes, including appends queued but not yet written.
        live_bytes: u64,
        /// Live bytes the refused append would add.
        requested_bytes: u64,
        /// The bound (`StateLogConfig::live_bytes_max`).
        max_bytes: u64,
    },
}

/// Storage result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True for the errors of a full file system: `ENOSPC`, and `EDQUOT` (a quota is a full disk
    /// for this process).
    pub fn is_no_space(e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        )
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidTopicName { name, reason } => write!(f, "invalid topic name {name:?}: {reason}"),
            Error::InvalidPartition { topic, partition } => {
                write!(f, "invalid partition {partition} for topic {topic:?}")
            }
            Error::UnknownTopicOrPartition { topic, partition } => {
                write!(f, "unknown topic or partition {topic}-{partition}")
            }
            Error::TopicAlreadyExists { topic } => write!(f, "topic {topic:?} already exists"),
            Error::InvalidBatch { partition, batch_index, position, source } => write!(
                f,
                "{partition}: append rejected: batch #{batch_index} at buffer byte {position}: {source}"
            ),
            Error::Producer { partition, batch_index, source } => {
                write!(f, "{partition}: append rejected: batch #{batch_index}: {source}")
            }
            Error::RecordListTooLarge { partition, size_bytes, max_bytes } => write!(
                f,
                "{partition}: append of {size_bytes} bytes exceeds the {max_bytes} byte limit"
            ),
            Error::OffsetOutOfRange { partition, offset, log_start_offset, high_watermark } => write!(
                f,
                "{partition}: offset {offset} out of range [{log_start_offset}, {high_watermark}]"
            ),
            Error::Poisoned { partition, cause } => {
                write!(f, "{partition}: log refuses writes after an I/O failure until reopened: {cause}")
            }
            Error::Deleted { partition } => write!(f, "{partition}: log was deleted"),
            Error::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            Error::OpenFilesExhausted { path, held, source } => write!(
                f,
                "open {}: {source} (the engine holds {held} segment files; retry later)",
                path.display()
            ),
            Error::DiskFull { op, path, source } => write!(
                f,
                "{op} {}: {source} (nothing was written; retry once space is freed)",
                path.display()
            ),
            Error::CorruptSegment { path, position, reason } => {
                write!(f, "corrupt segment {} at byte {position}: {reason}", path.display())
            }
            Error::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
            Error::StateFull { log, live_bytes, requested_bytes, max_bytes } => write!(
                f,
                "{log}: {live_bytes} live bytes + {requested_bytes} would pass the {max_bytes} byte bound"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. }
            | Error::OpenFilesExhausted { source, .. }
            | Error::DiskFull { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl std::error::Error for BatchError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_in_messages() {
        let e = Error::InvalidBatch {
            partition: "t-0".into(),
            batch_index: 2,
            position: 300,
            source: BatchError::CrcMismatch {
                stored: 1,
                computed: 2,
            },
        };
        let msg = e.to_string();
        assert!(
            msg.contains("t-0") && msg.contains("#2") && msg.contains("300"),
            "{msg}"
        );
        let e = Error::io(
            "fdatasync",
            "/d/x.log",
            io::Error::from_raw_os_error(libc::EIO),
        );
        assert!(e.to_string().starts_with("fdatasync /d/x.log"));
    }
}
