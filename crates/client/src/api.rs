//! The requests a producer, a consumer and an admin tool need, as methods on [`Connection`]:
//! each picks the highest version both sides speak, builds the request, and turns the
//! response's error codes into [`ClientError::Kafka`] with the topic and partition named.
//!
//! For pipelining (a load generator), the `*_request` builders and `*_result` readers are public:
//! `send` many built requests, then `recv` and read each result in order.
//!
//! # Invariants
//! - Every request is sent at a version both the broker and [`super::connection::CLIENT_APIS`]
//!   list, so the same code runs against ringlog and Kafka.
//! - A response that does not mention the asked topic/partition is an error, never a default.

use std::time::Duration;

use bytes::Bytes;

use super::connection::Connection;
use super::error::{ClientError, Result};
use ringlog_protocol::error;
use ringlog_protocol::messages::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, DeleteTopicState,
    DeleteTopicsRequest, DescribeDelaysRequest, DescribeDelaysResponse, DescribeViewsRequest,
    DescribeViewsResponse, FetchPartition, FetchRequest, FetchTopic, FindCoordinatorRequest,
    FindCoordinatorResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResource,
    IncrementalAlterableConfig, ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
    MetadataRequest, MetadataRequestTopic, MetadataResponse, PartitionProduceData, ProduceRequest,
    ProduceResponse, TopicProduceData,
};
use ringlog_protocol::wire::Str;
use ringlog_protocol::ApiKey;
use uuid::Uuid;

/// A topic to create: name, partitions (-1: the broker's default), configs `(key, value)`.
pub type NewTopic<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

/// ListOffsets timestamp asking for the log end (next offset to be written).
pub const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp asking for the log start (first retained offset).
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// How long the broker may take to create or delete topics, and to replicate a produce, in ms.
/// Kafka clients default to 30 s; a single broker answers in milliseconds.
pub const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// Largest Fetch wait a caller may ask for: the broker caps it at 30 s anyway
/// (`FETCH_WAIT_MS_MAX`), and every client wait must stay bounded.
pub const FETCH_WAIT_MAX: Duration = Duration::from_secs(30);
/// The version DescribeDelays is sent at: ringlog-private APIs are never advertised by
/// ApiVersions, so there is nothing to negotiate; each has the versions its definition covers.
pub const DESCRIBE_DELAYS_VERSION: i16 = 0;
/// The version DescribeViews is sent at (ringlog-private, like DescribeDelays).
pub const DESCRIBE_VIEWS_VERSION: i16 = 0;
/// The topic config naming a view's source topic (issue #17); the broker's
/// `topic_config::VIEW_SOURCE` (this crate does not depend on the broker; a test checks both
/// agree).
pub const VIEW_SOURCE_CONFIG: &str = "ringlog.view.source";
/// The topic config holding a view's filter; the broker's `topic_config::VIEW_FILTER`.
pub const VIEW_FILTER_CONFIG: &str = "ringlog.view.filter";
/// The first Metadata version whose response carries topic ids (KIP-516), which the share
/// APIs name topics by.
pub const METADATA_TOPIC_ID_VERSION: i16 = 10;
pub use ringlog_protocol::messages::{
    CONFIG_OPERATION_SET, RESOURCE_TYPE_GROUP, RESOURCE_TYPE_TOPIC,
};

/// One partition of a topic, as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader broker id (-1 when none).
    pub leader_id: i32,
    /// Per-partition Kafka error code (0 = none).
    pub error_code: i16,
}

/// One topic, as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic-level Kafka error code (0 = none; 3 = unknown topic).
    pub error_code: i16,
    /// Its partitions, sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// What a Fetch returned for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Record batch bytes (decode with [`super::records::decode_batches`]); may end with a
    /// partial batch.
    pub records: Bytes,
    /// Offset one past the last committed record.
    pub high_watermark: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
}

/// One topic's scheduled-delivery state (issue #15), as DescribeDelays reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDelays {
    /// Topic name.
    pub topic: String,
    /// Records the broker holds, not yet appended to their partition.
    pub pending: u64,
    /// Epoch ms when the earliest pending record is due; `None` when none is pending.
    pub next_due_ms: Option<i64>,
    /// How late the oldest overdue pending record already is, in ms; 0 when none is overdue.
    pub oldest_overdue_lag_ms: u64,
    /// Records delivered so far (appended to their partition when due).
    pub delivered: u64,
}

/// The topics of a DescribeDelays response, sorted by name; a negative count, or a next due time
/// below -1, is a malformed response (named in the error), never a default.
pub fn describe_delays_result(
    response: &DescribeDelaysResponse,
    asked: &[&str],
) -> std::result::Result<Vec<TopicDelays>, String> {
    let mut out = Vec::with_capacity(response.topics.len());
    for t in &response.topics {
        let count = |field: &str, n: i64| {
            u64::try_from(n).map_err(|_| format!("topic {}: negative {field} {n}", t.name))
        };
        let next_due_ms = match t.next_due_ms {
            -1 => None,
            ms if ms >= 0 => Some(ms),
            ms => return Err(format!("topic {}: next due time {ms}", t.name)),
        };
        out.push(TopicDelays {
            topic: t.name.to_string(),
            pending: count("pending count", t.pending)?,
            next_due_ms,
            oldest_overdue_lag_ms: count("overdue lag", t.oldest_overdue_lag_ms)?,
            delivered: count("delivered count", t.delivered)?,
        });
    }
    if let Some(t) = out
        .iter()
        .find(|t| !asked.is_empty() && !asked.contains(&t.topic.as_str()))
    {
        return Err(format!("topic {} was not asked for", t.topic));
    }
    out.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(out)
}

/// One filtered view (issue #17), as DescribeViews reports it: its definition, and what serving
/// it has cost since the broker started, summed over the broker's shards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewInfo {
    /// View name.
    pub name: String,
    /// The topic whose records it filters.
    pub source: String,
    /// The filter, as given at creation.
    pub filter: String,
    /// Partitions (its source's).
    pub partitions: i32,
    /// Bytes of batches in which every record matched, sent as stored (zero-copy).
    pub bytes_zero_copy: u64,
    /// Bytes of batches rewritten to their matching records.
    pub bytes_rewritten: u64,
    /// Batches sent whole.
    pub batches_whole: u64,
    /// Batches in which no record matched, skipped unread.
    pub batches_skipped: u64,
    /// Batches read and cut down to their matching records.
    pub batches_rewritten: u64,
    /// Batches read because the filter index had no summary for them.
    pub batches_unindexed: u64,
    /// Offsets of the source the broker's index builder has not looked at yet.
    pub index_backlog_offsets: u64,
}

impl ViewInfo {
    /// Bytes delivered: zero-copy plus rewritten.
    pub fn bytes_delivered(&self) -> u64 {
        self.bytes_zero_copy.saturating_add(self.bytes_rewritten)
    }

    /// The share of delivered bytes sent zero-copy, in tenths of a percent, truncated (so
    /// 999 of 1000 bytes reads 99.9%, never 100.0%); `None` when nothing was delivered.
    pub fn zero_copy_per_mille(&self) -> Option<u64> {
        let total = u128::from(self.bytes_delivered());
        if total == 0 {
            return None;
        }
        let share = u128::from(self.bytes_zero_copy) * 1000 / total;
        Some(u64::try_from(share).unwrap_or(1000))
    }
}

/// The views of a DescribeViews response, sorted by name; a negative count, a partition count
/// below 1, or a view not asked for is a malformed response (named in the error), never a
/// default.
pub fn describe_views_result(
    response: &DescribeViewsResponse,
    asked: &[&str],
) -> std::result::Result<Vec<ViewInfo>, String> {
    let mut out = Vec::with_capacity(response.views.len());
    for v in &response.views {
        let count = |field: &str, n: i64| {
            u64::try_from(n).map_err(|_| format!("view {}: negative {field} {n}", v.name))
        };
        if v.partitions < 1 {
            return Err(format!("view {}: {} partitions", v.name, v.partitions));
        }
        if !asked.is_empty() && !asked.contains(&&*v.name) {
            return Err(format!("view {} was not asked for", v.name));
        }
        out.push(ViewInfo {
            name: v.name.to_string(),
            source: v.source.to_string(),
            filter: v.filter.to_string(),
            partitions: v.partitions,
            bytes_zero_copy: count("zero-copy byte count", v.bytes_zero_copy)?,
            bytes_rewritten: count("rewritten byte count", v.bytes_rewritten)?,
            batches_whole: count("whole batch count", v.batches_whole)?,
            batches_skipped: count("skipped batch count", v.batches_skipped)?,
            batches_rewritten: count("rewritten batch count", v.batches_rewritten)?,
            batches_unindexed: count("unindexed batch count", v.batches_unindexed)?,
            index_backlog_offsets: count("index backlog", v.index_backlog_offsets)?,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `e` with `op` as what was asked when it is a broker's error code (a view's creation is a
/// CreateTopics underneath, but the operator asked for a view); other failures unchanged.
fn kafka_op(e: ClientError, op: impl FnOnce() -> String) -> ClientError {
    match e {
        ClientError::Kafka { code, message, .. } => ClientError::Kafka {
            op: op(),
            code,
            message,
        },
        other => other,
    }
}

/// Builds a Produce request for one partition.
pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest {
        acks,
        timeout_ms: ADMIN_TIMEOUT_MS,
        topic_data: vec![TopicProduceData {
            name: Str::from(topic),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
            }],
        }],
        ..Default::default()
    }
}

/// The base offset assigned to the one partition of a Produce response.
pub fn produce_result(response: &ProduceResponse, topic: &str, partition: i32) -> Result<i64> {
    let op = || format!("produce to {topic}-{partition}");
    let p = response
        .responses
        .iter()
        .filter(|t| &*t.name == topic)
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition)
        .ok_or_else(|| ClientError::Records {
            reason: format!("{}: partition missing from the response", op()),
        })?;
    ClientError::check(p.error_code, p.error_message.as_deref(), op)?;
    Ok(p.base_offset)
}

/// Builds a single-partition-per-entry Fetch request (no fetch session, read-uncommitted).
pub fn fetch_request(
    partitions: &[(&str, i32, i64)],
    max_bytes: i32,
    max_wait: Duration,
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for &(topic, partition, offset) in partitions {
        let part = FetchPartition {
            partition,
            fetch_offset: offset,
            partition_max_bytes: max_bytes,
            ..Default::default()
        };
        match topics.iter_mut().find(|t| &*t.topic == topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(FetchTopic {
                topic: Str::from(topic),
                partitions: vec![part],
                ..Default::default()
            }),
        }
    }
    // The defaults are a consumer's: replica_id -1, no fetch session (id 0, epoch -1).
    FetchRequest {
        max_wait_ms: max_wait.min(FETCH_WAIT_MAX).as_millis() as i32,
        min_bytes: 1,
        max_bytes,
        isolation_level: 0,
        topics,
        ..Default::default()
    }
}

/// FindCoordinator's key type of groups (classic, consumer and share groups alike).
pub const COORDINATOR_KEY_TYPE_GROUP: i8 = 0;

/// A group's coordinator, as FindCoordinator names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorInfo {
    /// Broker id.
    pub node_id: i32,
    /// Host it listens on.
    pub host: String,
    /// Port.
    pub port: i32,
}

/// The coordinator of `group` in a FindCoordinator response (v0-3 one key, v4+ a list).
pub fn coordinator_result(
    response: &FindCoordinatorResponse,
    group: &str,
    version: i16,
) -> Result<CoordinatorInfo> {
    let op = || format!("find the coordinator of group {group}");
    if version < 4 {
        ClientError::check(response.error_code, response.error_message.as_deref(), op)?;
        return Ok(CoordinatorInfo {
            node_id: response.node_id,
            host: response.host.to_string(),
            port: response.port,
        });
    }
    let c = response
        .coordinators
        .iter()
        .find(|c| &*c.key == group)
        .ok_or_else(|| ClientError::Records {
            reason: format!("{}: the group is missing from the response", op()),
        })?;
    ClientError::check(c.error_code, c.error_message.as_deref(), op)?;
    Ok(CoordinatorInfo {
        node_id: c.node_id,
        host: c.host.to_string(),
        port: c.port,
    })
}

/// The ids of `asked` in a Metadata response, in the order asked; a topic's error (an unknown
/// topic), a missing topic or a nil id is an error naming the topic.
pub fn topic_ids_result(response: &MetadataResponse, asked: &[&str]) -> Result<Vec<Uuid>> {
    asked
        .iter()
        .map(|&name| {
            let op = || format!("metadata for {name}");
            let t = response
                .topics
                .iter()
                .find(|t| t.name.as_deref() == Some(name))
                .ok_or_else(|| ClientError::Records {
                    reason: format!("{}: topic missing from the response", op()),
                })?;
            ClientError::check(t.error_code, None, op)?;
            if t.topic_id.is_nil() {
                return Err(ClientError::Records {
                    reason: format!("{}: the broker gave no topic id", op()),
                });
            }
            Ok(t.topic_id)
        })
        .collect()
}

impl Connection {
    /// Metadata for `topics` (all topics when empty), auto-creating missing ones if
    /// `auto_create` (and the broker allows it). Unknown topics come back with error code 3.
    pub async fn metadata(&mut self, topics: &[&str], auto_create: bool) -> Result<Vec<TopicInfo>> {
        let version = self.version(ApiKey::Metadata)?;
        let response = self.metadata_response(topics, auto_create, version).await?;
        let mut out: Vec<TopicInfo> = response
            .topics
            .iter()
            .map(|t| {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader_id: p.leader_id,
                        error_code: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                TopicInfo {
                    name: t.name.as_deref().unwrap_or_default().to_string(),
                    error_code: t.error_code,
                    partitions,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The Metadata request for `topics` (all when empty) at `version`, and its response.
    async fn metadata_response(
        &mut self,
        topics: &[&str],
        auto_create: bool,
        version: i16,
    ) -> Result<MetadataResponse> {
        // Before v4 the request cannot carry `allow_auto_topic_creation` (the encoder leaves it
        // out) and the broker's own setting decides.
        let request = MetadataRequest {
            topics: (!topics.is_empty()).then(|| {
                topics
                    .iter()
                    .map(|&t| MetadataRequestTopic {
                        name: Some(Str::from(t)),
                        ..Default::default()
                    })
                    .collect()
            }),
            allow_auto_topic_creation: auto_create,
            ..Default::default()
        };
        self.request(&request, version).await
    }

    /// The topic id of each of `topics` (which must exist), in the order asked: what the share
    /// APIs name topics by. Needs Metadata v10 or later (Kafka 2.8+, every ringlog).
    pub async fn topic_ids(&mut self, topics: &[&str]) -> Result<Vec<Uuid>> {
        let version = self.version(ApiKey::Metadata)?;
        if version < METADATA_TOPIC_ID_VERSION {
            return Err(ClientError::UnsupportedApi {
                api_key: ApiKey::Metadata,
                broker: self.broker_range(ApiKey::Metadata),
                client: (METADATA_TOPIC_ID_VERSION, version),
            });
        }
        if topics.is_empty() {
            return Ok(Vec::new());
        }
        let response = self.metadata_response(topics, false, version).await?;
        topic_ids_result(&response, topics)
    }

    /// The coordinator of `group` (FindCoordinator). Kafka creates its group-offsets topic on
    /// the first such request, and answers NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE
    /// (retriable) until it has: callers retry.
    pub async fn find_group_coordinator(&mut self, group: &str) -> Result<CoordinatorInfo> {
        let version = self.version(ApiKey::FindCoordinator)?;
        let request = FindCoordinatorRequest {
            key: Str::from(group),
            key_type: COORDINATOR_KEY_TYPE_GROUP,
            coordinator_keys: vec![Str::from(group)],
        };
        let response = self.request(&request, version).await?;
        coordinator_result(&response, group, version)
    }

    /// Sets configs of one resource (IncrementalAlterConfigs, `SET` of each `(name, value)`):
    /// a group's share-group configs (`resource_type` [`RESOURCE_TYPE_GROUP`]), as
    /// `kafka-configs.sh --alter --entity-type groups` does, or a topic's.
    pub async fn set_configs(
        &mut self,
        resource_type: i8,
        resource_name: &str,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let version = self.version(ApiKey::IncrementalAlterConfigs)?;
        let request = IncrementalAlterConfigsRequest {
            resources: vec![IncrementalAlterConfigsResource {
                resource_type,
                resource_name: Str::from(resource_name),
                configs: configs
                    .iter()
                    .map(|&(name, value)| IncrementalAlterableConfig {
                        name: Str::from(name),
                        config_operation: CONFIG_OPERATION_SET,
                        value: Some(Str::from(value)),
                    })
                    .collect(),
            }],
            validate_only: false,
        };
        let response = self.request(&request, version).await?;
        let op = || format!("set configs of {resource_name} (resource type {resource_type})");
        let r = response
            .responses
            .iter()
            .find(|r| &*r.resource_name == resource_name && r.resource_type == resource_type)
            .ok_or_else(|| ClientError::Records {
                reason: format!("{}: resource missing from the response", op()),
            })?;
        ClientError::check(r.error_code, r.error_message.as_deref(), op)
    }

    /// Metadata of one topic that must exist (optionally auto-created), with its partitions.
    pub async fn topic(&mut self, topic: &str, auto_create: bool) -> Result<TopicInfo> {
        // A just auto-created topic may report LEADER_NOT_AVAILABLE once: retriable errors are
        // asked again briefly. A topic that does not exist and is not to be created is reported
        // at once, although Kafka counts UNKNOWN_TOPIC_OR_PARTITION as retriable.
        const ATTEMPTS: usize = 5;
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            let info = self
                .metadata(&[topic], auto_create)
                .await?
                .into_iter()
                .find(|t| t.name == topic)
                .ok_or_else(|| ClientError::Records {
                    reason: format!("metadata for {topic}: topic missing from the response"),
                })?;
            let absent = info.error_code == error::UNKNOWN_TOPIC_OR_PARTITION && !auto_create;
            let retriable = error::is_retriable(info.error_code) && !absent;
            if !retriable || attempt + 1 == ATTEMPTS {
                ClientError::check(info.error_code, None, || format!("metadata for {topic}"))?;
                return Ok(info);
            }
            last = Some(info);
            ringlog_runtime::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
        Ok(last.expect("at least one attempt"))
    }

    /// Creates topics `(name, partitions)`; `partitions = -1` takes the broker's default.
    /// Every topic's error is checked; the first one is returned.
    pub async fn create_topics(&mut self, topics: &[(&str, i32)]) -> Result<()> {
        let topics: Vec<NewTopic<'_>> = topics.iter().map(|&(n, p)| (n, p, &[][..])).collect();
        self.create_topics_with_configs(&topics).await
    }

    /// [`Connection::create_topics`] with topic configs (`key=value`, as `kafka-topics
    /// --config`) for each topic.
    pub async fn create_topics_with_configs(&mut self, topics: &[NewTopic<'_>]) -> Result<()> {
        let version = self.version(ApiKey::CreateTopics)?;
        // Without broker defaults (before v4) a single broker means one replica.
        let replication_factor = if CreateTopicsRequest::accepts_broker_defaults(version) {
            -1
        } else {
            1
        };
        let request = CreateTopicsRequest {
            timeout_ms: ADMIN_TIMEOUT_MS,
            topics: topics
                .iter()
                .map(|&(name, num_partitions, configs)| CreatableTopic {
                    name: Str::from(name),
                    num_partitions,
                    replication_factor,
                    configs: configs
                        .iter()
                        .map(|&(k, v)| CreatableTopicConfig {
                            name: Str::from(k),
                            value: Some(Str::from(v)),
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let response = self.request(&request, version).await?;
        for t in &response.topics {
            ClientError::check(t.error_code, t.error_message.as_deref(), || {
                format!("create topic {}", t.name)
            })?;
        }
        Ok(())
    }

    /// Deletes topics by name. Every topic's error is checked; the first one is returned.
    pub async fn delete_topics(&mut self, topics: &[&str]) -> Result<()> {
        let version = self.version(ApiKey::DeleteTopics)?;
        // Both lists are filled; the encoder keeps the one the version carries (names before v6).
        let request = DeleteTopicsRequest {
            topics: topics
                .iter()
                .map(|&t| DeleteTopicState {
                    name: Some(Str::from(t)),
                    ..Default::default()
                })
                .collect(),
            topic_names: topics.iter().map(|&t| Str::from(t)).collect(),
            timeout_ms: ADMIN_TIMEOUT_MS,
        };
        let response = self.request(&request, version).await?;
        for r in &response.responses {
            let name = r.name.as_deref().unwrap_or_default();
            ClientError::check(r.error_code, r.error_message.as_deref(), || {
                format!("delete topic {name}")
            })?;
        }
        Ok(())
    }

    /// The offset for `timestamp` in each of `partitions` of `topic`: [`LATEST_TIMESTAMP`],
    /// [`EARLIEST_TIMESTAMP`], or ms since the epoch (the first offset whose timestamp is at
    /// least that; `-1` when there is none). Returned in the order asked.
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
    ) -> Result<Vec<i64>> {
        let version = self.version(ApiKey::ListOffsets)?;
        let request = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 0,
            topics: vec![ListOffsetsTopic {
                name: Str::from(topic),
                partitions: partitions
                    .iter()
                    .map(|&partition_index| ListOffsetsPartition {
                        partition_index,
                        timestamp,
                        ..Default::default()
                    })
                    .collect(),
            }],
            timeout_ms: ADMIN_TIMEOUT_MS,
        };
        let response = self.request(&request, version).await?;
        partitions
            .iter()
            .map(|&p| {
                let op = || format!("list offsets of {topic}-{p} at {timestamp}");
                let r = response
                    .topics
                    .iter()
                    .filter(|t| &*t.name == topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|r| r.partition_index == p)
                    .ok_or_else(|| ClientError::Records {
                        reason: format!("{}: partition missing from the response", op()),
                    })?;
                ClientError::check(r.error_code, None, op)?;
                Ok(r.offset)
            })
            .collect()
    }

    /// Produces one record batch to `topic`-`partition` and returns the base offset the broker
    /// assigned (`-1` with `acks = 0`, which gets no response).
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: Bytes,
        acks: i16,
    ) -> Result<i64> {
        let version = self.version(ApiKey::Produce)?;
        let request = produce_request(topic, partition, records, acks);
        if acks == 0 {
            self.send_without_response(&request, version).await?;
            return Ok(-1);
        }
        let response = self.request(&request, version).await?;
        produce_result(&response, topic, partition)
    }

    /// The scheduled-delivery state of `topics` (when empty: every topic the broker reports),
    /// sorted by name. A topic asked for that does not exist is an error
    /// (UNKNOWN_TOPIC_OR_PARTITION).
    ///
    /// DescribeDelays is ringlog-private: ApiVersions never lists it, so it is sent at
    /// [`DESCRIBE_DELAYS_VERSION`] without negotiating. A Kafka broker, or a ringlog broker
    /// without scheduled delivery, closes the connection on it; the error says so.
    pub async fn describe_delays(&mut self, topics: &[&str]) -> Result<Vec<TopicDelays>> {
        let request = DescribeDelaysRequest {
            topics: (!topics.is_empty()).then(|| topics.iter().map(|&t| Str::from(t)).collect()),
        };
        let op = || match topics {
            [] => "describe delays".to_string(),
            _ => format!("describe delays of {}", topics.join(", ")),
        };
        let response = match self.request(&request, DESCRIBE_DELAYS_VERSION).await {
            Err(ClientError::Closed { addr, .. }) => {
                return Err(ClientError::Closed {
                    addr,
                    op: format!(
                        "{} (DescribeDelays is ringlog-private: a Kafka broker, or a ringlog \
                         broker without scheduled delivery, closes the connection on it)",
                        op()
                    ),
                })
            }
            other => other?,
        };
        ClientError::check(response.error_code, None, op)?;
        describe_delays_result(&response, topics).map_err(|reason| ClientError::Protocol {
            addr: self.addr(),
            api_key: ApiKey::DescribeDelays,
            api_version: DESCRIBE_DELAYS_VERSION,
            reason,
        })
    }

    /// The filtered views `views` (when empty: every view), sorted by name. A name that is
    /// not a view (no such topic, or a plain topic) is an error (UNKNOWN_TOPIC_OR_PARTITION,
    /// with the broker's message naming it).
    ///
    /// DescribeViews is ringlog-private: ApiVersions never lists it, so it is sent at
    /// [`DESCRIBE_VIEWS_VERSION`] without negotiating. A Kafka broker, or a ringlog broker
    /// without views, closes the connection on it; the error says so.
    pub async fn describe_views(&mut self, views: &[&str]) -> Result<Vec<ViewInfo>> {
        let request = DescribeViewsRequest {
            views: (!views.is_empty()).then(|| views.iter().map(|&v| Str::from(v)).collect()),
        };
        let op = || match views {
            [] => "describe views".to_string(),
            _ => format!("describe views {}", views.join(", ")),
        };
        let response = match self.request(&request, DESCRIBE_VIEWS_VERSION).await {
            Err(ClientError::Closed { addr, .. }) => {
                return Err(ClientError::Closed {
                    addr,
                    op: format!(
                        "{} (DescribeViews is ringlog-private: a Kafka broker, or a ringlog \
                         broker without views, closes the connection on it)",
                        op()
                    ),
                })
            }
            other => other?,
        };
        ClientError::check(response.error_code, response.error_message.as_deref(), op)?;
        describe_views_result(&response, views).map_err(|reason| ClientError::Protocol {
            addr: self.addr(),
            api_key: ApiKey::DescribeViews,
            api_version: DESCRIBE_VIEWS_VERSION,
            reason,
        })
    }

    /// Creates the view `name` of `source` through `filter` (CreateTopics with
    /// [`VIEW_SOURCE_CONFIG`] and [`VIEW_FILTER_CONFIG`], partitions -1: the source's count),
    /// as any Kafka admin client can. A filter that does not parse comes back as
    /// INVALID_CONFIG with the broker's message giving the position of the error.
    pub async fn create_view(&mut self, name: &str, source: &str, filter: &str) -> Result<()> {
        let configs = [(VIEW_SOURCE_CONFIG, source), (VIEW_FILTER_CONFIG, filter)];
        self.create_topics_with_configs(&[(name, -1, &configs[..])])
            .await
            .map_err(|e| kafka_op(e, || format!("create view {name} of {source}")))
    }

    /// Deletes the view `name`, after checking that it is one (DescribeViews): DeleteTopics
    /// alone would as well delete a plain topic of that name with all its records.
    pub async fn delete_view(&mut self, name: &str) -> Result<()> {
        let op = || format!("delete view {name}");
        self.describe_views(&[name])
            .await
            .map_err(|e| kafka_op(e, op))?;
        self.delete_topics(&[name])
            .await
            .map_err(|e| kafka_op(e, op))
    }

    /// Fetches from one partition: up to `max_bytes` of record batches starting at the batch
    /// holding `offset`, waiting up to `max_wait` for at least one byte.
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: i32,
        max_wait: Duration,
    ) -> Result<FetchedPartition> {
        let mut all = self
            .fetch_many(&[(topic, partition, offset)], max_bytes, max_wait)
            .await?;
        Ok(all.remove(0))
    }

    /// Fetches from several partitions in one request; results in the order asked.
    pub async fn fetch_many(
        &mut self,
        partitions: &[(&str, i32, i64)],
        max_bytes: i32,
        max_wait: Duration,
    ) -> Result<Vec<FetchedPartition>> {
        if partitions.is_empty() {
            return Err(ClientError::InvalidArgument(
                "fetch of no partitions".into(),
            ));
        }
        let version = self.version(ApiKey::Fetch)?;
        let request = fetch_request(partitions, max_bytes, max_wait);
        let wait = max_wait.min(FETCH_WAIT_MAX);
        self.send_with_wait(&request, version, wait).await?;
        let response = self.recv::<FetchRequest>().await?;
        ClientError::check(response.error_code, None, || "fetch".to_string())?;
        partitions
            .iter()
            .map(|&(topic, partition, offset)| {
                let op = || format!("fetch {topic}-{partition} at offset {offset}");
                let p = response
                    .responses
                    .iter()
                    .filter(|t| &*t.topic == topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == partition)
                    .ok_or_else(|| ClientError::Records {
                        reason: format!("{}: partition missing from the response", op()),
                    })?;
                ClientError::check(p.error_code, None, op)?;
                Ok(FetchedPartition {
                    topic: topic.to_string(),
                    partition,
                    records: p.records.clone().unwrap_or_default(),
                    high_watermark: p.high_watermark,
                    log_start_offset: p.log_start_offset,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_request_groups_partitions_by_topic_as_a_consumer() {
        let r = fetch_request(
            &[("a", 0, 5), ("b", 1, 7), ("a", 2, 9)],
            1000,
            Duration::from_secs(99),
        );
        assert_eq!(r.max_wait_ms, FETCH_WAIT_MAX.as_millis() as i32);
        assert_eq!((r.min_bytes, r.max_bytes, r.isolation_level), (1, 1000, 0));
        assert_eq!((r.replica_id, r.session_id, r.session_epoch), (-1, 0, -1));
        type Asked<'a> = Vec<(&'a str, Vec<(i32, i64, i32)>)>;
        let asked: Asked = r
            .topics
            .iter()
            .map(|t| {
                let parts = t.partitions.iter();
                let parts = parts.map(|p| (p.partition, p.fetch_offset, p.partition_max_bytes));
                (&*t.topic, parts.collect())
            })
            .collect();
        assert_eq!(
            asked,
            [
                ("a", vec![(0, 5, 1000), (2, 9, 1000)]),
                ("b", vec![(1, 7, 1000)])
            ]
        );
    }

    #[test]
    fn describe_delays_result_sorts_and_refuses_impossible_values() {
        use ringlog_protocol::messages::DescribedTopicDelays;
        let topic = |name: &str, pending, next_due_ms| DescribedTopicDelays {
            name: Str::from(name),
            pending,
            next_due_ms,
            oldest_overdue_lag_ms: 5,
            delivered: 9,
        };
        let mut response = DescribeDelaysResponse {
            topics: vec![topic("b", 2, -1), topic("a", 1, 1_700_000_000_000)],
            ..Default::default()
        };
        let got = describe_delays_result(&response, &[]).unwrap();
        assert_eq!(
            got,
            [
                TopicDelays {
                    topic: "a".into(),
                    pending: 1,
                    next_due_ms: Some(1_700_000_000_000),
                    oldest_overdue_lag_ms: 5,
                    delivered: 9,
                },
                TopicDelays {
                    topic: "b".into(),
                    pending: 2,
                    next_due_ms: None,
                    oldest_overdue_lag_ms: 5,
                    delivered: 9,
                },
            ]
        );
        assert_eq!(describe_delays_result(&response, &["a", "b"]).unwrap(), got);
        let e = describe_delays_result(&response, &["a"]).unwrap_err();
        assert!(e.contains("topic b was not asked for"), "{e}");
        response.topics = vec![topic("a", -1, -1)];
        let e = describe_delays_result(&response, &[]).unwrap_err();
        assert!(e.contains("negative pending count -1"), "{e}");
        response.topics = vec![topic("a", 0, -2)];
        let e = describe_delays_result(&response, &[]).unwrap_err();
        assert!(e.contains("next due time -2"), "{e}");
    }

    #[test]
    fn describe_views_result_sorts_and_refuses_impossible_values() {
        use ringlog_protocol::messages::DescribedView;
        let view = |name: &str, partitions, skipped| DescribedView {
            name: Str::from(name),
            source: Str::from("orders"),
            filter: Str::from("tag = 'red'"),
            partitions,
            bytes_zero_copy: 900,
            bytes_rewritten: 100,
            batches_whole: 3,
            batches_skipped: skipped,
            batches_rewritten: 1,
            batches_unindexed: 0,
            index_backlog_offsets: 5,
        };
        let mut response = DescribeViewsResponse {
            views: vec![view("red", 2, 4), view("blue", 2, 0)],
            ..Default::default()
        };
        let got = describe_views_result(&response, &[]).unwrap();
        assert_eq!(
            got.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["blue", "red"]
        );
        assert_eq!(
            got[1],
            ViewInfo {
                name: "red".into(),
                source: "orders".into(),
                filter: "tag = 'red'".into(),
                partitions: 2,
                bytes_zero_copy: 900,
                bytes_rewritten: 100,
                batches_whole: 3,
                batches_skipped: 4,
                batches_rewritten: 1,
                batches_unindexed: 0,
                index_backlog_offsets: 5,
            }
        );
        assert_eq!(
            describe_views_result(&response, &["red", "blue"]).unwrap(),
            got
        );
        let e = describe_views_result(&response, &["red"]).unwrap_err();
        assert!(e.contains("view blue was not asked for"), "{e}");
        response.views = vec![view("red", 2, -1)];
        let e = describe_views_result(&response, &[]).unwrap_err();
        assert!(e.contains("negative skipped batch count -1"), "{e}");
        response.views = vec![view("red", 0, 0)];
        let e = describe_views_result(&response, &[]).unwrap_err();
        assert!(e.contains("view red: 0 partitions"), "{e}");
    }

    #[test]
    fn kafka_op_renames_only_broker_errors() {
        let e = ClientError::Kafka {
            op: "create topic red".into(),
            code: error::INVALID_CONFIG,
            message: Some("at position 4: ...".into()),
        };
        let e = kafka_op(e, || "create view red of orders".into());
        assert_eq!(
            e.to_string(),
            "create view red of orders: broker error INVALID_CONFIG (40): at position 4: ..."
        );
        let other = kafka_op(ClientError::NothingInFlight, || unreachable!("not asked"));
        assert!(matches!(other, ClientError::NothingInFlight));
    }

    #[test]
    fn zero_copy_share_is_truncated_and_absent_when_nothing_was_delivered() {
        let share = |zero_copy, rewritten| {
            ViewInfo {
                bytes_zero_copy: zero_copy,
                bytes_rewritten: rewritten,
                ..Default::default()
            }
            .zero_copy_per_mille()
        };
        assert_eq!(share(0, 0), None);
        assert_eq!(share(5, 0), Some(1000));
        assert_eq!(share(0, 5), Some(0));
        assert_eq!(share(999, 1), Some(999));
        assert_eq!(share(9_999, 1), Some(999), "99.99% reads 99.9%");
        assert_eq!(share(1, 2), Some(333));
        // Sums past u64::MAX saturate; the share stays within 0..=1000.
        assert_eq!(share(u64::MAX, u64::MAX), Some(1000));
        assert_eq!(share(u64::MAX, 0), Some(1000));
    }

    #[test]
    fn topic_ids_come_in_the_order_asked_and_refuse_what_is_missing() {
        use ringlog_protocol::messages::MetadataResponseTopic;
        let topic = |name: &str, error_code, id: u128| MetadataResponseTopic {
            name: Some(Str::from(name)),
            error_code,
            topic_id: Uuid::from_u128(id),
            ..Default::default()
        };
        let response = MetadataResponse {
            topics: vec![
                topic("a", 0, 1),
                topic("b", 0, 2),
                topic("gone", error::UNKNOWN_TOPIC_OR_PARTITION, 0),
                topic("old", 0, 0),
            ],
            ..Default::default()
        };
        let ids = topic_ids_result(&response, &["b", "a"]).unwrap();
        assert_eq!(ids, [Uuid::from_u128(2), Uuid::from_u128(1)]);
        let e = topic_ids_result(&response, &["gone"]).unwrap_err();
        assert_eq!(e.kafka_code(), Some(error::UNKNOWN_TOPIC_OR_PARTITION));
        let e = topic_ids_result(&response, &["old"]).unwrap_err();
        assert!(e.to_string().contains("no topic id"), "{e}");
        let e = topic_ids_result(&response, &["c"]).unwrap_err();
        assert!(
            e.to_string().contains("metadata for c: topic missing"),
            "{e}"
        );
    }

    #[test]
    fn coordinators_are_read_from_either_response_shape() {
        use ringlog_protocol::messages::Coordinator;
        let single = FindCoordinatorResponse {
            node_id: 1,
            host: Str::from("h"),
            port: 9,
            ..Default::default()
        };
        let want = CoordinatorInfo {
            node_id: 1,
            host: "h".into(),
            port: 9,
        };
        assert_eq!(coordinator_result(&single, "g", 3).unwrap(), want);
        let refused = FindCoordinatorResponse {
            error_code: error::COORDINATOR_NOT_AVAILABLE,
            ..Default::default()
        };
        let e = coordinator_result(&refused, "g", 3).unwrap_err();
        assert!(e.is_retriable(), "{e}");
        let batched = FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: Str::from("g"),
                node_id: 1,
                host: Str::from("h"),
                port: 9,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(coordinator_result(&batched, "g", 4).unwrap(), want);
        let e = coordinator_result(&batched, "other", 4).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn produce_result_names_the_partition() {
        use ringlog_protocol::messages::{PartitionProduceResponse, TopicProduceResponse};
        let response = ProduceResponse {
            responses: vec![TopicProduceResponse {
                name: Str::from("t"),
                partition_responses: vec![
                    PartitionProduceResponse {
                        index: 0,
                        base_offset: 42,
                        ..Default::default()
                    },
                    PartitionProduceResponse {
                        index: 1,
                        error_code: error::NOT_LEADER_OR_FOLLOWER,
                        ..Default::default()
                    },
                ],
            }],
            ..Default::default()
        };
        assert_eq!(produce_result(&response, "t", 0).unwrap(), 42);
        let e = produce_result(&response, "t", 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "produce to t-1: broker error NOT_LEADER_OR_FOLLOWER (6)"
        );
        assert!(e.is_retriable());
        let e = produce_result(&response, "u", 0).unwrap_err();
        assert!(e.to_string().contains("partition missing"), "{e}");
    }
}
