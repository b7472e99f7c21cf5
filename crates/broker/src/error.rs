//! The broker's errors, typed and with their context, and the one place they become Kafka error
//! codes ([`BrokerError::kafka_code`]) and response messages ([`BrokerError::message`]).
//!
//! Storage keeps its own typed errors and knows nothing of Kafka's codes; a storage error reaches a
//! response as [`BrokerError::Storage`], mapped by [`kafka_code`]. Everything the broker itself
//! decides (a request check, a catalog lookup, a shard that did not answer, a group rule) is a
//! variant here, so handlers and the shard inbox pass `Result<_, BrokerError>` around and turn it
//! into a code only where the response is built.
//!
//! The group state machine (`group::state`) decides these errors too: its outcomes
//! (`JoinOutcome`, `SyncOutcome`, heartbeat and leave results) carry `BrokerError`s across shards,
//! and the group handlers turn them into codes where they build the response.
//!
//! # Invariants
//! - Every variant maps to exactly one Kafka code, never `NONE`; the code of a storage error is
//!   [`kafka_code`]'s.
//! - Messages are static text (what Kafka's controller or coordinator would say); the error's
//!   `Display`, with its context, is for the log.

use std::fmt;
use std::io;
use std::sync::Arc;

use uuid::Uuid;

use crate::protocol::error as code;
use crate::storage::producer::ProducerError;
use crate::storage::{BatchError, Error};

/// Something the broker refuses or fails to do, with what it was doing.
#[derive(Debug)]
pub enum BrokerError {
    /// The storage engine refused or failed (including topic-name rules).
    Storage(Error),

    // Between shards.
    /// Shard `shard` did not take a request through the mesh, or dropped it unanswered (its
    /// inbox closed: the broker is shutting down).
    ShardUnavailable {
        /// The shard asked.
        shard: usize,
        /// What it was asked, e.g. `"create topic"`.
        op: &'static str,
    },
    /// The owner shard dropped an append unanswered: whether it was written is unknown, so the
    /// client is told to retry as after a timeout.
    AppendUnanswered {
        /// Topic appended to.
        topic: Arc<str>,
        /// Partition appended to.
        partition: i32,
    },
    /// The coordinator shard `shard` of a group did not take or answer group work.
    CoordinatorUnavailable {
        /// The coordinator shard.
        shard: usize,
    },
    /// The coordinator answered group work with a reply of another kind (a broker bug: the
    /// request is answered with an error instead of a panic).
    CoordinatorReplyMismatch {
        /// The group operation asked, e.g. `"Join"`.
        op: &'static str,
    },
    /// The broker is shutting down: waiting group work is answered so clients go elsewhere.
    ShuttingDown,
    /// A broker file operation failed (topic catalog, producer id bound, segment descriptor).
    Io {
        /// The operation, e.g. `"store"`, `"dup"`.
        op: &'static str,
        /// What it was applied to (a path or a partition).
        target: String,
        /// The OS error.
        source: io::Error,
    },

    // Topics and partitions.
    /// No such topic in the catalog.
    UnknownTopic {
        /// The topic asked for.
        topic: String,
    },
    /// The topic does not exist or has no such partition.
    UnknownPartition {
        /// The topic asked for.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// The caller may not use the topic (its ACLs).
    TopicAuthorizationFailed {
        /// The topic asked for.
        topic: String,
    },
    /// No topic has this id.
    UnknownTopicId {
        /// The id asked for.
        id: Uuid,
    },
    /// CreateTopics for a topic already in the catalog.
    TopicExists {
        /// The topic.
        topic: String,
    },
    /// A partition count below 1 or above `storage::names::PARTITIONS_PER_TOPIC_MAX`.
    InvalidPartitions {
        /// The topic being created.
        topic: String,
        /// The refused count.
        partitions: i32,
    },
    /// Creating the topic would take the broker past `max.partitions` (all topics together);
    /// nothing was created.
    PartitionLimit {
        /// The topic being created.
        topic: String,
        /// Its partition count.
        partitions: i32,
        /// Partitions the broker hosts now.
        hosted: u64,
        /// `max.partitions`.
        max: u32,
    },
    /// Replication factor other than 1 (or -1, the default): there is one broker.
    InvalidReplicationFactor {
        /// The topic being created.
        topic: String,
        /// The refused factor.
        replication_factor: i16,
    },
    /// A record of a delay-enabled topic asks for its delivery time badly (not a number,
    /// negative, beyond the maximum delay, or both headers): the batch is refused.
    InvalidDelay {
        /// The topic produced to.
        topic: String,
        /// The partition.
        partition: i32,
        /// Index of the record in its batch.
        record_index: i32,
        /// What is wrong with its header.
        reason: String,
    },
    /// The shard's timer log of delayed records failed (it refuses delayed records until the
    /// broker restarts; the cause was logged when it happened).
    TimerFailed {
        /// The cause.
        reason: String,
    },
    /// KIP-848: an offset commit with a member epoch other than the member's current one.
    StaleMemberEpoch {
        /// The group.
        group: String,
        /// The member.
        member_id: String,
        /// The epoch given.
        epoch: i32,
    },
    /// The shard's share-group state could not be kept (its state log failed, or a bound was
    /// reached); the request is refused rather than served without durable state.
    ShareState {
        /// The cause.
        reason: String,
    },
    /// A topic config refused at creation (unknown `ringlog.*` key, bad value).
    InvalidConfig {
        /// The topic being created.
        topic: String,
        /// What is wrong, in Kafka's words.
        reason: String,
    },
    /// CreateTopics with explicit replica assignments (one broker: nothing to assign).
    ReplicaAssignment {
        /// The topic being created.
        topic: String,
    },

    /// Produce to a view (issue #17): views are read-only.
    ViewNotWritable {
        /// The view.
        view: String,
        /// Its source topic (where records go).
        source: String,
    },
    /// DeleteTopics of a topic that views read from: they would serve nothing.
    TopicHasViews {
        /// The topic.
        topic: String,
        /// Its views.
        views: Vec<String>,
    },
    /// A batch of a view's source that could not be read or decoded to filter it.
    CorruptBatch {
        /// The view.
        topic: String,
        /// The partition.
        partition: i32,
        /// The batch's base offset.
        offset: i64,
        /// What failed.
        reason: String,
    },

    // Produce, Fetch, ListOffsets, InitProducerId.
    /// Produce `acks` other than -1, 0 or 1.
    InvalidRequiredAcks {
        /// The refused value.
        acks: i16,
    },
    /// acks=all to a topic whose `min.insync.replicas` is above 1: one broker is one replica.
    NotEnoughReplicas {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The topic's `min.insync.replicas`.
        min_isr: i32,
    },
    /// Produce for a partition with null or empty records.
    NoRecords {
        /// Topic produced to.
        topic: String,
        /// Partition produced to.
        partition: i32,
    },
    /// A batch names a producer id this broker never handed out.
    UnknownProducerId {
        /// The id in the batch header.
        producer_id: i64,
    },
    /// Fetch with a negative `partition_max_bytes`.
    InvalidFetchSize {
        /// Topic fetched.
        topic: String,
        /// Partition fetched.
        partition: i32,
        /// The refused size.
        max_bytes: i32,
    },
    /// ListOffsets with a negative timestamp that names no special offset (-1 to -4).
    InvalidTimestamp {
        /// Topic asked.
        topic: Arc<str>,
        /// Partition asked.
        partition: i32,
        /// The refused timestamp.
        timestamp: i64,
    },
    /// Producer ids are allocated on the controller shard only.
    NotController {
        /// The shard that was asked.
        shard: usize,
    },
    /// A transaction coordinator's refusal (issue #18): the Kafka code it answers with
    /// (INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, INVALID_TXN_STATE, CONCURRENT_TRANSACTIONS,
    /// ...) and why.
    Txn {
        /// The Kafka error code.
        code: i16,
        /// The transactional id.
        transactional_id: String,
        /// What was refused and why.
        reason: String,
    },

    // Coordinators and groups.
    /// FindCoordinator for a transaction coordinator with an empty transactional id.
    InvalidTransactionalId {
        /// The transactional id asked for.
        key: String,
    },
    /// FindCoordinator with a key type that is neither group (0) nor transaction (1).
    UnknownCoordinatorKeyType {
        /// The refused key type.
        key_type: i8,
    },
    /// A group id that is empty or longer than `group::GROUP_ID_BYTES_MAX`.
    InvalidGroupId {
        /// The refused id.
        group: String,
    },
    /// This coordinator shard already holds `group::GROUPS_PER_SHARD_MAX` groups.
    GroupsFull {
        /// The coordinator shard.
        shard: usize,
        /// The group that would have been created.
        group: String,
    },
    /// A session timeout outside the broker's bounds.
    InvalidSessionTimeout {
        /// The group joined.
        group: String,
        /// The refused timeout.
        session_timeout_ms: i32,
    },
    /// A JoinGroup whose protocols exceed `group::JOIN_METADATA_BYTES_MAX` or
    /// `group::JOIN_PROTOCOLS_MAX`.
    JoinMetadataTooLarge {
        /// The group joined.
        group: String,
        /// Total protocol name and metadata bytes.
        metadata_bytes: usize,
        /// Protocols listed.
        protocols: usize,
    },
    /// A SyncGroup assignment larger than `group::ASSIGNMENT_BYTES_MAX`.
    AssignmentTooLarge {
        /// The group synced.
        group: String,
    },
    /// The member is not in the group (or the group does not exist).
    UnknownMember {
        /// The group.
        group: String,
        /// The member id given.
        member_id: String,
    },
    /// The generation given is not the group's current one.
    IllegalGeneration {
        /// The group.
        group: String,
        /// The generation given.
        generation: i32,
    },
    /// A static member's instance id now belongs to another member id.
    FencedInstanceId {
        /// The group.
        group: String,
        /// The member id given.
        member_id: String,
    },
    /// The group is rebalancing; the member must rejoin first.
    RebalanceInProgress {
        /// The group.
        group: String,
    },
    /// A JoinGroup whose protocol type or protocols do not fit the group's other members (or
    /// a SyncGroup naming another protocol than the group's).
    InconsistentGroupProtocol {
        /// The group.
        group: String,
        /// The member id given.
        member_id: String,
    },
    /// The group already has `group::GROUP_MEMBERS_MAX` members (and pending member ids).
    GroupMaxSizeReached {
        /// The group.
        group: String,
        /// The bound.
        members_max: usize,
    },
    /// KIP-394: a new member got its member id and must join again with it.
    MemberIdRequired {
        /// The group.
        group: String,
        /// The member id handed out.
        member_id: String,
    },
    /// Committed offset metadata longer than `group::OFFSET_METADATA_BYTES_MAX`.
    OffsetMetadataTooLarge {
        /// The group committing.
        group: String,
        /// Metadata bytes given.
        metadata_bytes: usize,
    },
    /// A commit could not be made durable (the cause is logged where it happened).
    OffsetsNotStored {
        /// The group committing.
        group: String,
    },
    /// DeleteGroups for a group this coordinator does not hold.
    GroupNotFound {
        /// The group.
        group: String,
    },
    /// DeleteGroups for a group that still has members (or is rebalancing).
    NonEmptyGroup {
        /// The group.
        group: String,
    },
    /// A group deletion could not be made durable (the cause is logged where it happened).
    GroupNotDeleted {
        /// The group.
        group: String,
    },
}

impl BrokerError {
    /// The Kafka error code a response carries for this error: the one mapping.
    pub fn kafka_code(&self) -> i16 {
        use BrokerError as E;
        match self {
            E::Storage(e) => kafka_code(e),
            // A broker bug is not fixed by retrying elsewhere.
            E::ShardUnavailable { .. } | E::CoordinatorReplyMismatch { .. } => {
                code::UNKNOWN_SERVER_ERROR
            }
            E::AppendUnanswered { .. } => code::REQUEST_TIMED_OUT,
            E::CoordinatorUnavailable { .. }
            | E::GroupsFull { .. }
            | E::OffsetsNotStored { .. } => code::COORDINATOR_NOT_AVAILABLE,
            // The client looks the coordinator up again, and finds the broker gone or back.
            E::ShuttingDown | E::NotController { .. } => code::NOT_COORDINATOR,
            E::Io { .. } | E::GroupNotDeleted { .. } => code::KAFKA_STORAGE_ERROR,
            E::UnknownTopic { .. } | E::UnknownPartition { .. } => code::UNKNOWN_TOPIC_OR_PARTITION,
            E::UnknownTopicId { .. } => code::UNKNOWN_TOPIC_ID,
            E::TopicAuthorizationFailed { .. } => code::TOPIC_AUTHORIZATION_FAILED,
            E::TopicExists { .. } => code::TOPIC_ALREADY_EXISTS,
            E::InvalidPartitions { .. } => code::INVALID_PARTITIONS,
            E::PartitionLimit { .. } => code::POLICY_VIOLATION,
            E::InvalidReplicationFactor { .. } => code::INVALID_REPLICATION_FACTOR,
            E::InvalidConfig { .. } => code::INVALID_CONFIG,
            // As Kafka answers a produce to an internal topic.
            E::ViewNotWritable { .. } => code::INVALID_TOPIC_EXCEPTION,
            E::TopicHasViews { .. } => code::POLICY_VIOLATION,
            E::CorruptBatch { .. } => code::CORRUPT_MESSAGE,
            E::InvalidDelay { .. } => code::INVALID_RECORD,
            E::TimerFailed { .. } => code::KAFKA_STORAGE_ERROR,
            E::ShareState { .. } => code::KAFKA_STORAGE_ERROR,
            E::StaleMemberEpoch { .. } => code::STALE_MEMBER_EPOCH,
            E::ReplicaAssignment { .. }
            | E::InvalidTimestamp { .. }
            | E::UnknownCoordinatorKeyType { .. }
            | E::JoinMetadataTooLarge { .. }
            | E::AssignmentTooLarge { .. } => code::INVALID_REQUEST,
            E::InvalidRequiredAcks { .. } => code::INVALID_REQUIRED_ACKS,
            E::NotEnoughReplicas { .. } => code::NOT_ENOUGH_REPLICAS,
            E::NoRecords { .. } => code::CORRUPT_MESSAGE,
            E::UnknownProducerId { .. } => code::UNKNOWN_PRODUCER_ID,
            E::InvalidFetchSize { .. } => code::INVALID_FETCH_SIZE,
            E::Txn { code, .. } => *code,
            E::InvalidTransactionalId { .. } => code::INVALID_REQUEST,
            E::InvalidGroupId { .. } => code::INVALID_GROUP_ID,
            E::InvalidSessionTimeout { .. } => code::INVALID_SESSION_TIMEOUT,
            E::UnknownMember { .. } => code::UNKNOWN_MEMBER_ID,
            E::IllegalGeneration { .. } => code::ILLEGAL_GENERATION,
            E::FencedInstanceId { .. } => code::FENCED_INSTANCE_ID,
            E::RebalanceInProgress { .. } => code::REBALANCE_IN_PROGRESS,
            E::InconsistentGroupProtocol { .. } => code::INCONSISTENT_GROUP_PROTOCOL,
            E::GroupMaxSizeReached { .. } => code::GROUP_MAX_SIZE_REACHED,
            E::MemberIdRequired { .. } => code::MEMBER_ID_REQUIRED,
            E::OffsetMetadataTooLarge { .. } => code::OFFSET_METADATA_TOO_LARGE,
            E::GroupNotFound { .. } => code::GROUP_ID_NOT_FOUND,
            E::NonEmptyGroup { .. } => code::NON_EMPTY_GROUP,
        }
    }

    /// The message a response with an error message field (CreateTopics, FindCoordinator)
    /// carries for this error; `None` where the broker has no specific text (the handler then
    /// sends its API's generic one, or null).
    pub fn message(&self) -> Option<&'static str> {
        use BrokerError as E;
        Some(match self {
            E::TopicExists { .. } | E::Storage(Error::TopicAlreadyExists { .. }) => {
                "topic already exists"
            }
            E::Storage(Error::InvalidTopicName { name, .. })
                if crate::storage::names::INTERNAL_TOPIC_NAMES.contains(&name.as_str()) =>
            {
                "invalid topic name: reserved for the broker's internal state"
            }
            E::Storage(Error::InvalidTopicName { .. }) => {
                "invalid topic name: [a-zA-Z0-9._-]{1,249}, not . or .."
            }
            E::InvalidPartitions { .. } | E::Storage(Error::InvalidPartition { .. }) => {
                "partition count out of range"
            }
            E::InvalidReplicationFactor { .. } => "replication factor must be 1 (single broker)",
            E::InvalidGroupId { .. } => "invalid group id",
            E::InvalidTransactionalId { .. } => "the transactional id is empty",
            E::UnknownCoordinatorKeyType { .. } => "unknown coordinator key type",
            _ => return None,
        })
    }
}

/// One entry of a Produce v8+ response's `record_errors`: the index of a refused record in its
/// batch, and why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Index of the record in its batch, counting from 0 (Kafka's `batch_index`).
    pub batch_index: i32,
    /// What is wrong with that record.
    pub message: String,
}

impl BrokerError {
    /// The records a Produce v8+ response blames for this error (`record_errors`), as Kafka
    /// lists them for INVALID_RECORD and INVALID_TIMESTAMP; empty when no single record is to
    /// blame (a batch-level problem, or an error that is not about records at all).
    pub fn record_errors(&self) -> Vec<RecordError> {
        if let BrokerError::InvalidDelay {
            record_index,
            reason,
            ..
        } = self
        {
            return vec![RecordError {
                batch_index: *record_index,
                message: reason.clone(),
            }];
        }
        let BrokerError::Storage(Error::InvalidBatch { source, .. }) = self else {
            return Vec::new();
        };
        let one = |index: u32, message: String| RecordError {
            batch_index: i32::try_from(index).unwrap_or(i32::MAX),
            message,
        };
        match source {
            BatchError::InvalidRecord {
                record_index,
                fault,
                ..
            } => vec![one(*record_index, fault.to_string())],
            BatchError::TooFewRecords { found, .. } => vec![one(
                *found,
                "the records end before this record (premature end of the batch)".to_string(),
            )],
            BatchError::TimestampOutOfRange {
                records,
                min_ms,
                max_ms,
                ..
            } => records
                .iter()
                .map(|&(index, timestamp)| {
                    one(
                        index,
                        format!("timestamp {timestamp} is out of range [{min_ms}, {max_ms}]"),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The `error_message` of a Produce v8+ partition response: what is wrong with the refused
    /// records, with the partition and the batch. Kafka sends one only with per-record errors;
    /// ringlog with every refused batch (a batch-level reason is no less useful to a producer),
    /// and with storage errors: a full disk or a lack of descriptors says so, where Kafka would
    /// take the log directory offline and answer without a reason.
    pub fn produce_message(&self) -> Option<String> {
        match self {
            BrokerError::Storage(
                e @ (Error::InvalidBatch { .. }
                | Error::DiskFull { .. }
                | Error::OpenFilesExhausted { .. }
                | Error::Poisoned { .. }
                | Error::Io { .. }),
            ) => Some(e.to_string()),
            e @ (BrokerError::InvalidDelay { .. }
            | BrokerError::TimerFailed { .. }
            | BrokerError::NotEnoughReplicas { .. }) => Some(e.to_string()),
            _ => None,
        }
    }
}

/// The Kafka code of a per-partition (or per-group) outcome: `NONE` when there is no error.
pub fn code_of(error: Option<&BrokerError>) -> i16 {
    error.map_or(code::NONE, BrokerError::kafka_code)
}

impl From<Error> for BrokerError {
    fn from(e: Error) -> BrokerError {
        BrokerError::Storage(e)
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BrokerError as E;
        match self {
            E::Storage(e) => write!(f, "{e}"),
            E::ShardUnavailable { shard, op } => write!(f, "{op}: shard {shard} did not answer"),
            E::AppendUnanswered { topic, partition } => {
                write!(f, "append to {topic}-{partition}: the owner shard did not answer")
            }
            E::CoordinatorUnavailable { shard } => {
                write!(f, "group coordinator shard {shard} did not answer")
            }
            E::CoordinatorReplyMismatch { op } => {
                write!(f, "the group coordinator answered {op} with another kind of reply")
            }
            E::ShuttingDown => write!(f, "the broker is shutting down"),
            E::Io { op, target, source } => write!(f, "{op} {target}: {source}"),
            E::UnknownTopic { topic } => write!(f, "unknown topic {topic:?}"),
            E::UnknownPartition { topic, partition } => {
                write!(f, "unknown topic or partition {topic}-{partition}")
            }
            E::UnknownTopicId { id } => write!(f, "unknown topic id {id}"),
            E::TopicAuthorizationFailed { topic } => {
                write!(f, "not authorized to access topic {topic}")
            }
            E::TopicExists { topic } => write!(f, "topic {topic:?} already exists"),
            E::InvalidPartitions { topic, partitions } => {
                write!(f, "topic {topic:?}: partition count {partitions} out of range")
            }
            E::PartitionLimit {
                topic,
                partitions,
                hosted,
                max,
            } => write!(
                f,
                "topic {topic:?}: {partitions} more partitions would bring the broker to {}, \
                 over max.partitions = {max}",
                hosted + u64::from(partitions.unsigned_abs())
            ),
            E::InvalidReplicationFactor {
                topic,
                replication_factor,
            } => write!(
                f,
                "topic {topic:?}: replication factor {replication_factor} (one broker: must be 1)"
            ),
            E::InvalidConfig { reason, .. } => write!(f, "{reason}"),
            E::ViewNotWritable { view, source } => write!(
                f,
                "Cannot append to view {view}: a view is read-only (produce to its source \
                 topic {source})"
            ),
            E::TopicHasViews { topic, views } => write!(
                f,
                "Topic {topic} has views ({}); delete them first",
                views.join(", ")
            ),
            E::CorruptBatch {
                topic,
                partition,
                offset,
                reason,
            } => write!(
                f,
                "view {topic}-{partition}: the batch at offset {offset} cannot be filtered: \
                 {reason}"
            ),
            E::InvalidDelay {
                topic,
                partition,
                record_index,
                reason,
            } => write!(
                f,
                "{topic}-{partition}: record {record_index}: {reason}"
            ),
            E::TimerFailed { reason } => write!(f, "the timer log of delayed records failed: {reason}"),
            E::ShareState { reason } => write!(f, "share-group state: {reason}"),
            E::StaleMemberEpoch {
                group,
                member_id,
                epoch,
            } => write!(
                f,
                "group {group}: member {member_id}'s epoch {epoch} is not its current epoch"
            ),
            E::ReplicaAssignment { topic } => {
                write!(f, "topic {topic:?}: explicit replica assignments are not supported")
            }
            E::InvalidRequiredAcks { acks } => write!(f, "acks {acks} (must be -1, 0 or 1)"),
            // Kafka's words (Partition.appendRecordsToLeader).
            E::NotEnoughReplicas {
                topic,
                partition,
                min_isr,
            } => write!(
                f,
                "The size of the current ISR : 1 is insufficient to satisfy the min.isr \
                 requirement of {min_isr} for partition {topic}-{partition}"
            ),
            E::NoRecords { topic, partition } => {
                write!(f, "produce to {topic}-{partition} without records")
            }
            E::UnknownProducerId { producer_id } => {
                write!(f, "producer id {producer_id} was never allocated")
            }
            E::InvalidFetchSize {
                topic,
                partition,
                max_bytes,
            } => write!(f, "fetch {topic}-{partition}: partition_max_bytes {max_bytes}"),
            E::InvalidTimestamp {
                topic,
                partition,
                timestamp,
            } => write!(f, "list offsets {topic}-{partition}: timestamp {timestamp}"),
            E::NotController { shard } => {
                write!(f, "shard {shard} is not the controller: no producer ids here")
            }
            E::Txn {
                transactional_id,
                reason,
                ..
            } => write!(f, "transaction {transactional_id:?}: {reason}"),
            E::InvalidTransactionalId { key } => {
                write!(f, "transaction coordinator for {key:?}: empty transactional id")
            }
            E::UnknownCoordinatorKeyType { key_type } => {
                write!(f, "unknown coordinator key type {key_type}")
            }
            E::InvalidGroupId { group } => write!(f, "invalid group id {group:?}"),
            E::GroupsFull { shard, group } => {
                write!(f, "shard {shard} holds its maximum of groups; refusing {group:?}")
            }
            E::InvalidSessionTimeout {
                group,
                session_timeout_ms,
            } => write!(f, "group {group:?}: session timeout {session_timeout_ms} ms out of bounds"),
            E::JoinMetadataTooLarge {
                group,
                metadata_bytes,
                protocols,
            } => write!(
                f,
                "group {group:?}: join with {protocols} protocol(s), {metadata_bytes} metadata bytes"
            ),
            E::AssignmentTooLarge { group } => {
                write!(f, "group {group:?}: an assignment exceeds the size limit")
            }
            E::UnknownMember { group, member_id } => {
                write!(f, "group {group:?}: unknown member {member_id:?}")
            }
            E::IllegalGeneration { group, generation } => {
                write!(f, "group {group:?}: generation {generation} is not current")
            }
            E::FencedInstanceId { group, member_id } => {
                write!(f, "group {group:?}: member {member_id:?} is fenced by its instance id")
            }
            E::RebalanceInProgress { group } => write!(f, "group {group:?} is rebalancing"),
            E::InconsistentGroupProtocol { group, member_id } => write!(
                f,
                "group {group:?}: member {member_id:?} joins with protocols the group does not share"
            ),
            E::GroupMaxSizeReached { group, members_max } => {
                write!(f, "group {group:?} already has its maximum of {members_max} members")
            }
            E::MemberIdRequired { group, member_id } => {
                write!(f, "group {group:?}: new member must rejoin as {member_id:?}")
            }
            E::OffsetMetadataTooLarge {
                group,
                metadata_bytes,
            } => write!(f, "group {group:?}: commit metadata of {metadata_bytes} bytes"),
            E::OffsetsNotStored { group } => write!(f, "group {group:?}: commit not stored"),
            E::GroupNotFound { group } => write!(f, "group {group:?} not found"),
            E::NonEmptyGroup { group } => write!(f, "group {group:?} still has members"),
            E::GroupNotDeleted { group } => write!(f, "group {group:?}: deletion not stored"),
        }
    }
}

impl std::error::Error for BrokerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BrokerError::Storage(e) => Some(e),
            BrokerError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The Kafka error code a response carries for the storage error `e` (the storage part of
/// [`BrokerError::kafka_code`]).
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
            // Kafka's ProduceRequest.validateRecords rejects non-v2 batches as INVALID_RECORD, and
            // LogValidator malformed records, control batches from clients and idempotent
            // batches without a sequence. Compressed bytes that do not decompress are an
            // UNKNOWN_SERVER_ERROR in Kafka (a KafkaException); ringlog says INVALID_RECORD: the
            // CRC matched, so resending the same bytes cannot help.
            BatchError::BadMagic { .. }
            | BatchError::BadRecordCount { .. }
            | BatchError::Empty
            | BatchError::ControlFromClient
            | BatchError::MissingSequence { .. }
            | BatchError::Decompress { .. }
            | BatchError::InvalidRecord { .. }
            | BatchError::TooFewRecords { .. }
            | BatchError::TrailingBytes { .. } => code::INVALID_RECORD,
            // Kafka fails the whole request (UNKNOWN_SERVER_ERROR) on codec bits 5..7.
            BatchError::UnknownCodec { .. } => code::UNSUPPORTED_COMPRESSION_TYPE,
            // Kafka has no bound; a producer that gets this splits the batch and retries.
            BatchError::InflatedTooLarge { .. } => code::MESSAGE_TOO_LARGE,
            BatchError::LogAppendTimeFromClient | BatchError::TimestampOutOfRange { .. } => {
                code::INVALID_TIMESTAMP
            }
        },
        Error::RecordListTooLarge { .. } => code::RECORD_LIST_TOO_LARGE,
        Error::Producer { source, .. } => match source {
            ProducerError::InvalidEpoch { .. } => code::INVALID_PRODUCER_EPOCH,
            ProducerError::OutOfOrder { .. } => code::OUT_OF_ORDER_SEQUENCE_NUMBER,
            ProducerError::UnknownProducer { .. } => code::UNKNOWN_PRODUCER_ID,
            ProducerError::TransactionOpen { .. } => code::INVALID_TXN_STATE,
        },
        Error::OffsetOutOfRange { .. } => code::OFFSET_OUT_OF_RANGE,
        // The client should retry elsewhere or later.
        // Out of descriptors and a full disk are retriable too: the log is not poisoned, and the
        // same append succeeds once descriptors or space are free again.
        Error::Poisoned { .. }
        | Error::Io { .. }
        | Error::OpenFilesExhausted { .. }
        | Error::DiskFull { .. }
        | Error::CorruptSegment { .. } => code::KAFKA_STORAGE_ERROR,
        Error::InvalidArgument { .. } => code::INVALID_REQUEST,
        // Only coordinators keep state logs; a full one is answered like a full coordinator.
        Error::StateFull { .. } => code::COORDINATOR_NOT_AVAILABLE,
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

    /// Every broker error with the code Kafka's broker answers for it (numbers, not constants,
    /// so a wrong constant cannot hide a wrong mapping).
    fn broker_cases() -> Vec<(BrokerError, i16)> {
        let g = || "g".to_string();
        let t = || "t".to_string();
        use BrokerError as E;
        vec![
            (E::Storage(Error::TopicAlreadyExists { topic: t() }), 36),
            (
                E::ShardUnavailable {
                    shard: 1,
                    op: "read",
                },
                -1,
            ),
            (
                E::AppendUnanswered {
                    topic: Arc::from("t"),
                    partition: 0,
                },
                7,
            ),
            (E::CoordinatorUnavailable { shard: 1 }, 15),
            (E::CoordinatorReplyMismatch { op: "Join" }, -1),
            (E::ShuttingDown, 16),
            (
                E::Io {
                    op: "store",
                    target: "/d/topics.catalog".into(),
                    source: io::Error::from_raw_os_error(libc::EIO),
                },
                56,
            ),
            (E::UnknownTopic { topic: t() }, 3),
            (
                E::InvalidDelay {
                    topic: t(),
                    partition: 0,
                    record_index: 2,
                    reason: "bad".into(),
                },
                87,
            ),
            (
                E::TimerFailed {
                    reason: "eio".into(),
                },
                56,
            ),
            (
                E::ShareState {
                    reason: "eio".into(),
                },
                56,
            ),
            (
                E::UnknownPartition {
                    topic: t(),
                    partition: 9,
                },
                3,
            ),
            (E::UnknownTopicId { id: Uuid::nil() }, 100),
            (E::TopicAuthorizationFailed { topic: t() }, 29),
            (E::TopicExists { topic: t() }, 36),
            (
                E::ViewNotWritable {
                    view: t(),
                    source: t(),
                },
                17,
            ),
            (
                E::TopicHasViews {
                    topic: t(),
                    views: vec![t()],
                },
                44,
            ),
            (
                E::CorruptBatch {
                    topic: t(),
                    partition: 0,
                    offset: 5,
                    reason: "bad".into(),
                },
                2,
            ),
            (
                E::InvalidPartitions {
                    topic: t(),
                    partitions: 0,
                },
                37,
            ),
            (
                E::PartitionLimit {
                    topic: t(),
                    partitions: 300,
                    hosted: 9_900,
                    max: 10_000,
                },
                44,
            ),
            (
                E::InvalidReplicationFactor {
                    topic: t(),
                    replication_factor: 3,
                },
                38,
            ),
            (E::ReplicaAssignment { topic: t() }, 42),
            (
                E::InvalidConfig {
                    topic: t(),
                    reason: "Unknown topic config name: x".into(),
                },
                40,
            ),
            (E::InvalidRequiredAcks { acks: 2 }, 21),
            (
                E::NoRecords {
                    topic: t(),
                    partition: 0,
                },
                2,
            ),
            (E::UnknownProducerId { producer_id: 7 }, 59),
            (
                E::InvalidFetchSize {
                    topic: t(),
                    partition: 0,
                    max_bytes: -1,
                },
                4,
            ),
            (
                E::InvalidTimestamp {
                    topic: Arc::from("t"),
                    partition: 0,
                    timestamp: -9,
                },
                42,
            ),
            (E::NotController { shard: 1 }, 16),
            (
                E::Txn {
                    code: 90,
                    transactional_id: "tx".into(),
                    reason: "fenced".into(),
                },
                90,
            ),
            (E::InvalidTransactionalId { key: "".into() }, 42),
            (E::UnknownCoordinatorKeyType { key_type: 7 }, 42),
            (
                E::InvalidGroupId {
                    group: String::new(),
                },
                24,
            ),
            (
                E::GroupsFull {
                    shard: 0,
                    group: g(),
                },
                15,
            ),
            (
                E::InvalidSessionTimeout {
                    group: g(),
                    session_timeout_ms: 1,
                },
                26,
            ),
            (
                E::JoinMetadataTooLarge {
                    group: g(),
                    metadata_bytes: 1 << 21,
                    protocols: 1,
                },
                42,
            ),
            (E::AssignmentTooLarge { group: g() }, 42),
            (
                E::UnknownMember {
                    group: g(),
                    member_id: "m".into(),
                },
                25,
            ),
            (
                E::IllegalGeneration {
                    group: g(),
                    generation: 3,
                },
                22,
            ),
            (
                E::FencedInstanceId {
                    group: g(),
                    member_id: "m".into(),
                },
                82,
            ),
            (E::RebalanceInProgress { group: g() }, 27),
            (
                E::InconsistentGroupProtocol {
                    group: g(),
                    member_id: "m".into(),
                },
                23,
            ),
            (
                E::GroupMaxSizeReached {
                    group: g(),
                    members_max: 1_000,
                },
                81,
            ),
            (
                E::MemberIdRequired {
                    group: g(),
                    member_id: "m".into(),
                },
                79,
            ),
            (
                E::OffsetMetadataTooLarge {
                    group: g(),
                    metadata_bytes: 5000,
                },
                12,
            ),
            (E::OffsetsNotStored { group: g() }, 15),
            (E::GroupNotFound { group: g() }, 69),
            (E::NonEmptyGroup { group: g() }, 68),
            (E::GroupNotDeleted { group: g() }, 56),
        ]
    }

    #[test]
    fn broker_errors_map_to_kafka_codes() {
        for (e, expected) in broker_cases() {
            assert_eq!(e.kafka_code(), expected, "{e}");
            assert_ne!(e.kafka_code(), code::NONE, "{e}");
        }
    }

    #[test]
    fn storage_errors_keep_their_code_inside_broker_errors() {
        let e = Error::OffsetOutOfRange {
            partition: "t-0".into(),
            offset: 10,
            log_start_offset: 0,
            high_watermark: 9,
        };
        let code = kafka_code(&e);
        let e = BrokerError::from(e);
        assert_eq!(e.kafka_code(), code);
        assert!(std::error::Error::source(&e).is_some());
    }

    /// The messages CreateTopics and FindCoordinator send, exactly as before the errors were
    /// typed (clients and tests compare them).
    #[test]
    fn response_messages() {
        let invalid_name = Error::InvalidTopicName {
            name: "a b".into(),
            reason: "space",
        };
        let cases: Vec<(BrokerError, Option<&str>)> = vec![
            (
                BrokerError::TopicExists { topic: "t".into() },
                Some("topic already exists"),
            ),
            (
                BrokerError::Storage(invalid_name),
                Some("invalid topic name: [a-zA-Z0-9._-]{1,249}, not . or .."),
            ),
            (
                BrokerError::Storage(Error::InvalidTopicName {
                    name: "__consumer_offsets".into(),
                    reason: "reserved for the broker's internal state",
                }),
                Some("invalid topic name: reserved for the broker's internal state"),
            ),
            (
                BrokerError::InvalidPartitions {
                    topic: "t".into(),
                    partitions: 0,
                },
                Some("partition count out of range"),
            ),
            (
                BrokerError::InvalidReplicationFactor {
                    topic: "t".into(),
                    replication_factor: 3,
                },
                Some("replication factor must be 1 (single broker)"),
            ),
            (
                BrokerError::InvalidGroupId {
                    group: String::new(),
                },
                Some("invalid group id"),
            ),
            (
                BrokerError::InvalidTransactionalId { key: "".into() },
                Some("the transactional id is empty"),
            ),
            (
                BrokerError::UnknownCoordinatorKeyType { key_type: 7 },
                Some("unknown coordinator key type"),
            ),
            (BrokerError::ReplicaAssignment { topic: "t".into() }, None),
            (
                BrokerError::ShardUnavailable {
                    shard: 0,
                    op: "create topic",
                },
                None,
            ),
        ];
        for (e, expected) in cases {
            assert_eq!(e.message(), expected, "{e}");
        }
    }

    /// The record validation refusals: Kafka's code for each, and the records blamed in a
    /// Produce v8+ response (`record_errors`) with an `error_message` for every refused batch.
    #[test]
    fn record_validation_errors_map_to_codes_and_record_errors() {
        use crate::storage::records::{Compression, RecordFault};
        let fault = RecordFault::OffsetDelta {
            found: 7,
            expected: 1,
        };
        let cases: Vec<(BatchError, i16, Vec<i32>)> = vec![
            (BatchError::UnknownCodec { codec: 7 }, 76, vec![]),
            (BatchError::ControlFromClient, 87, vec![]),
            (BatchError::LogAppendTimeFromClient, 32, vec![]),
            (
                BatchError::MissingSequence {
                    producer_id: 1,
                    base_sequence: -1,
                },
                87,
                vec![],
            ),
            (
                BatchError::Decompress {
                    codec: Compression::Gzip,
                    reason: "bad header".into(),
                },
                87,
                vec![],
            ),
            (
                BatchError::InflatedTooLarge {
                    codec: Compression::Zstd,
                    limit_bytes: 1,
                },
                10,
                vec![],
            ),
            (
                BatchError::InvalidRecord {
                    record_index: 1,
                    records_count: 3,
                    fault,
                },
                87,
                vec![1],
            ),
            (
                BatchError::TooFewRecords {
                    records_count: 4,
                    found: 3,
                },
                87,
                vec![3],
            ),
            (
                BatchError::TrailingBytes {
                    records_count: 2,
                    bytes: 9,
                },
                87,
                vec![],
            ),
            (
                BatchError::TimestampOutOfRange {
                    records: vec![(0, 5), (4, 6)],
                    refused: 2,
                    min_ms: 10,
                    max_ms: 20,
                },
                32,
                vec![0, 4],
            ),
        ];
        for (source, code, blamed) in cases {
            let e = BrokerError::Storage(batch(source));
            assert_eq!(e.kafka_code(), code, "{e}");
            let records = e.record_errors();
            assert_eq!(
                records.iter().map(|r| r.batch_index).collect::<Vec<_>>(),
                blamed,
                "{e}"
            );
            assert!(records.iter().all(|r| !r.message.is_empty()), "{e}");
            let message = e.produce_message().expect("a refused batch has a message");
            assert!(
                message.contains("t-0") && message.contains("batch #0"),
                "{message}"
            );
        }
        let timestamps = BrokerError::Storage(batch(BatchError::TimestampOutOfRange {
            records: vec![(2, 5)],
            refused: 1,
            min_ms: 10,
            max_ms: 20,
        }));
        assert_eq!(
            timestamps.record_errors()[0].message,
            "timestamp 5 is out of range [10, 20]"
        );
        // Errors that are not about records blame none and carry no produce message.
        let other = BrokerError::InvalidRequiredAcks { acks: 2 };
        assert!(other.record_errors().is_empty() && other.produce_message().is_none());
    }

    #[test]
    fn display_keeps_the_context() {
        let e = BrokerError::UnknownPartition {
            topic: "orders".into(),
            partition: 7,
        };
        assert_eq!(e.to_string(), "unknown topic or partition orders-7");
        let e = BrokerError::Io {
            op: "store",
            target: "/d/topics.catalog".into(),
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let text = e.to_string();
        assert!(text.starts_with("store /d/topics.catalog: "), "{text}");
    }
}
