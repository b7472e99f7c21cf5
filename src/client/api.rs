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
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteTopicsRequest, FetchRequest, ListOffsetsRequest,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::connection::Connection;
use super::error::{ClientError, Result};

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

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

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

/// Builds a Produce request for one partition.
pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(ADMIN_TIMEOUT_MS)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

/// The base offset assigned to the one partition of a Produce response.
pub fn produce_result(response: &ProduceResponse, topic: &str, partition: i32) -> Result<i64> {
    let op = || format!("produce to {topic}-{partition}");
    let p = response
        .responses
        .iter()
        .filter(|t| t.name.0.as_str() == topic)
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
        let part = FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(max_bytes);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait.min(FETCH_WAIT_MAX).as_millis() as i32)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

impl Connection {
    /// Metadata for `topics` (all topics when empty), auto-creating missing ones if
    /// `auto_create` (and the broker allows it). Unknown topics come back with error code 3.
    pub async fn metadata(&mut self, topics: &[&str], auto_create: bool) -> Result<Vec<TopicInfo>> {
        let version = self.version(ApiKey::Metadata)?;
        let request = MetadataRequest::default()
            .with_topics(if topics.is_empty() {
                None
            } else {
                Some(
                    topics
                        .iter()
                        .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                        .collect(),
                )
            })
            .with_allow_auto_topic_creation(auto_create && version >= 4);
        let response: MetadataResponse = self.request(&request, version).await?;
        let mut out: Vec<TopicInfo> = response
            .topics
            .iter()
            .map(|t| {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader_id: p.leader_id.0,
                        error_code: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                TopicInfo {
                    name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                    error_code: t.error_code,
                    partitions,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Metadata of one topic that must exist (optionally auto-created), with its partitions.
    pub async fn topic(&mut self, topic: &str, auto_create: bool) -> Result<TopicInfo> {
        // A just auto-created topic may report LEADER_NOT_AVAILABLE once; ask again briefly.
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
            let retriable = info.error_code == crate::protocol::error::LEADER_NOT_AVAILABLE;
            if !retriable || attempt + 1 == ATTEMPTS {
                ClientError::check(info.error_code, None, || format!("metadata for {topic}"))?;
                return Ok(info);
            }
            last = Some(info);
            crate::runtime::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
        Ok(last.expect("at least one attempt"))
    }

    /// Creates topics `(name, partitions)`; `partitions = -1` takes the broker's default.
    /// Every topic's error is checked; the first one is returned.
    pub async fn create_topics(&mut self, topics: &[(&str, i32)]) -> Result<()> {
        let version = self.version(ApiKey::CreateTopics)?;
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topics(
                topics
                    .iter()
                    .map(|&(name, partitions)| {
                        CreatableTopic::default()
                            .with_name(topic_name(name))
                            .with_num_partitions(partitions)
                            // -1 (broker default) needs v4+; before that a single broker means 1.
                            .with_replication_factor(if version >= 4 { -1 } else { 1 })
                    })
                    .collect(),
            );
        let response = self.request(&request, version).await?;
        for t in &response.topics {
            ClientError::check(t.error_code, t.error_message.as_deref(), || {
                format!("create topic {}", t.name.0)
            })?;
        }
        Ok(())
    }

    /// Deletes topics by name. Every topic's error is checked; the first one is returned.
    pub async fn delete_topics(&mut self, topics: &[&str]) -> Result<()> {
        let version = self.version(ApiKey::DeleteTopics)?;
        let mut request = DeleteTopicsRequest::default().with_timeout_ms(ADMIN_TIMEOUT_MS);
        if version >= 6 {
            request.topics = topics
                .iter()
                .map(|t| DeleteTopicState::default().with_name(Some(topic_name(t))))
                .collect();
        } else {
            request.topic_names = topics.iter().map(|t| topic_name(t)).collect();
        }
        let response = self.request(&request, version).await?;
        for r in &response.responses {
            let name = r.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
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
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_isolation_level(0)
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )]);
        let response = self.request(&request, version).await?;
        partitions
            .iter()
            .map(|&p| {
                let op = || format!("list offsets of {topic}-{p} at {timestamp}");
                let r = response
                    .topics
                    .iter()
                    .filter(|t| t.name.0.as_str() == topic)
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
                    .filter(|t| t.topic.0.as_str() == topic)
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
