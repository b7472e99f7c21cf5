//! Share groups (issue 16, KIP-932) on the wire, with kafka-protocol as the independent codec:
//! membership and server-side assignment (ShareGroupHeartbeat v1, ShareGroupDescribe v1),
//! share sessions and acquisition (ShareFetch v1), acknowledgement (ShareAcknowledge v1 and
//! piggybacked on ShareFetch), locks, the delivery limit, ringlog's retry backoff, dead-letter
//! topics (KIP-1191: a plain Fetch of the DLQ topic, records decoded with kafka-protocol's
//! RecordBatchDecoder), group configs (IncrementalAlterConfigs / DescribeConfigs on the GROUP
//! resource), the share state across a restart, and the admin APIs (Describe/Alter/Delete share
//! group offsets, ListGroups, DeleteGroups).
//!
//! DescribeShareGroupOffsets v1 (its `lag`, KIP-1226) is newer than kafka-protocol 0.18, which
//! knows v0 only: its request body is v0's, so the request is kafka-protocol's v0 body under a
//! v1 header, and the response is read by [`describe_share_offsets_v1`], a small reader written
//! from Kafka 4.4's `DescribeShareGroupOffsetsResponse.json`.
//!
//! Timing: every wait is bounded; timed behaviour (locks, backoff) is asserted with a lower
//! bound taken from the broker's own rule and a generous upper bound.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    create_topics_request, describe_configs_request,
    describe_configs_response::DescribeConfigsResult, describe_share_group_offsets_request,
    incremental_alter_configs_request, share_acknowledge_request, share_fetch_request,
    AlterShareGroupOffsetsRequest, ApiKey, DeleteGroupsRequest, DeleteShareGroupOffsetsRequest,
    DescribeConfigsRequest, DescribeShareGroupOffsetsRequest, GroupId,
    IncrementalAlterConfigsRequest, ListGroupsRequest, RequestHeader, ShareAcknowledgeRequest,
    ShareAcknowledgeResponse, ShareFetchRequest, ShareFetchResponse, ShareGroupDescribeRequest,
    ShareGroupDescribeResponse, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use ringlog::runtime::IoKind;
use uuid::Uuid;

use super::client::*;

// Kafka's error codes (protocol guide).
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const UNKNOWN_TOPIC_ID: i16 = 100;
const FENCED_MEMBER_EPOCH: i16 = 110;
const INVALID_RECORD_STATE: i16 = 121;
const SHARE_SESSION_NOT_FOUND: i16 = 122;
const INVALID_SHARE_SESSION_EPOCH: i16 = 123;

// AcknowledgeType (KIP-932).
const ACCEPT: i8 = 1;
const RELEASE: i8 = 2;
const REJECT: i8 = 3;

// Config resource types and sources (DescribeConfigs / IncrementalAlterConfigs).
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_GROUP: i8 = 32;
const SOURCE_DEFAULT_CONFIG: i8 = 5;
const SOURCE_GROUP_CONFIG: i8 = 8;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

// Group configs (Kafka 4.4's names) and ringlog's backoff.
const AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
const DELIVERY_COUNT_LIMIT: &str = "share.delivery.count.limit";
const LOCK_DURATION_MS: &str = "share.record.lock.duration.ms";
const SESSION_TIMEOUT_MS: &str = "share.session.timeout.ms";
const DLQ_TOPIC_NAME: &str = "errors.deadletterqueue.topic.name";
const DLQ_COPY_RECORD: &str = "errors.deadletterqueue.copy.record.enable";
const RETRY_BACKOFF_MS: &str = "ringlog.share.retry.backoff.ms";
/// The topic config that lets a topic receive dead-letter copies.
const DLQ_GROUP_ENABLE: &str = "errors.deadletterqueue.group.enable";

/// Kafka's `__dlq.errors.*` headers.
const DLQ_HEADERS: [&str; 6] = [
    "__dlq.errors.topic",
    "__dlq.errors.partition",
    "__dlq.errors.offset",
    "__dlq.errors.group",
    "__dlq.errors.delivery.count",
    "__dlq.errors.message",
];

/// Long poll of a ShareFetch that must acquire something: far above the broker's latency.
const ARRIVE_WAIT_MS: i32 = 5_000;
/// Long poll of a ShareFetch that must acquire nothing (the broker answers at its end).
const QUIET_WAIT_MS: i32 = 300;
/// How long a dead-letter copy may take to appear (the writer runs at once when woken, and
/// retries every second).
const DLQ_WAIT: Duration = Duration::from_secs(10);
/// `max_records` of a ShareFetch that takes everything there is.
const MAX_RECORDS: i32 = 500;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn v(key: ApiKey) -> i16 {
    *versions(key).end()
}

fn group_id(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_string()))
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// An acknowledgement batch: first offset, last offset, one type for the range.
type Ack = (i64, i64, i8);

/// One partition of a ShareFetch or ShareAcknowledge: topic id, partition, acknowledgements.
type PartAcks<'a> = (Uuid, i32, &'a [Ack]);

/// A share-group member on its own connection: its member epoch and the epoch its share
/// session expects next.
struct Member {
    c: Client,
    group: String,
    id: String,
    epoch: i32,
    session: i32,
}

impl Member {
    /// Joins `group` (heartbeat with epoch 0 and the subscription); asserts it was accepted.
    fn join(
        addr: SocketAddr,
        group: &str,
        id: &str,
        topics: &[&str],
    ) -> (Member, Vec<(Uuid, Vec<i32>)>) {
        let mut m = Member {
            c: Client::connect(addr),
            group: group.to_string(),
            id: id.to_string(),
            epoch: 0,
            session: 0,
        };
        let r = m.heartbeat(0, Some(topics));
        assert_eq!(r.error_code, 0, "{id} joins {group}: {:?}", r.error_message);
        assert_eq!(
            r.member_id.as_deref(),
            Some(id),
            "{id}: the member id it chose is kept"
        );
        assert!(r.member_epoch > 0, "{id}: member epoch {}", r.member_epoch);
        m.epoch = r.member_epoch;
        let assignment = assignment_of(&r).unwrap_or_else(|| panic!("{id}: no assignment on join"));
        (m, assignment)
    }

    fn heartbeat(&mut self, epoch: i32, topics: Option<&[&str]>) -> ShareGroupHeartbeatResponse {
        let req = ShareGroupHeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_member_id(str_bytes(&self.id))
            .with_member_epoch(epoch)
            .with_subscribed_topic_names(topics.map(|t| t.iter().map(|n| topic_name(n)).collect()));
        self.c.call(v(ApiKey::ShareGroupHeartbeat), &req)
    }

    /// Heartbeats with its epoch; keeps the epoch it is given.
    fn beat(&mut self) -> ShareGroupHeartbeatResponse {
        let r = self.heartbeat(self.epoch, None);
        assert_eq!(
            r.error_code, 0,
            "{} heartbeat: {:?}",
            self.id, r.error_message
        );
        self.epoch = r.member_epoch;
        r
    }

    fn leave(&mut self) {
        let r = self.heartbeat(-1, None);
        assert_eq!(
            (r.error_code, r.member_epoch),
            (0, -1),
            "{} leaves: {:?}",
            self.id,
            r.error_message
        );
    }

    /// A ShareFetch at session epoch `epoch`, without tracking the session.
    fn fetch_at(
        &mut self,
        epoch: i32,
        parts: &[PartAcks<'_>],
        wait_ms: i32,
        max_records: i32,
    ) -> ShareFetchResponse {
        let mut topics: Vec<share_fetch_request::FetchTopic> = Vec::new();
        for (topic_id, partition, acks) in parts {
            let p = share_fetch_request::FetchPartition::default()
                .with_partition_index(*partition)
                .with_acknowledgement_batches(
                    acks.iter()
                        .map(|(first, last, t)| {
                            share_fetch_request::AcknowledgementBatch::default()
                                .with_first_offset(*first)
                                .with_last_offset(*last)
                                .with_acknowledge_types(vec![*t])
                        })
                        .collect(),
                );
            match topics.iter_mut().find(|t| t.topic_id == *topic_id) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    share_fetch_request::FetchTopic::default()
                        .with_topic_id(*topic_id)
                        .with_partitions(vec![p]),
                ),
            }
        }
        let req = ShareFetchRequest::default()
            .with_group_id(Some(group_id(&self.group)))
            .with_member_id(Some(str_bytes(&self.id)))
            .with_share_session_epoch(epoch)
            .with_max_wait_ms(wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(i32::MAX)
            .with_max_records(max_records)
            .with_batch_size(max_records)
            .with_topics(topics);
        self.c.call(v(ApiKey::ShareFetch), &req)
    }

    /// A ShareFetch in the member's session (epoch 0 first), which moves on when accepted.
    fn fetch(&mut self, parts: &[PartAcks<'_>], wait_ms: i32) -> ShareFetchResponse {
        self.fetch_max(parts, wait_ms, MAX_RECORDS)
    }

    fn fetch_max(
        &mut self,
        parts: &[PartAcks<'_>],
        wait_ms: i32,
        max_records: i32,
    ) -> ShareFetchResponse {
        let r = self.fetch_at(self.session, parts, wait_ms, max_records);
        assert_eq!(
            r.error_code, 0,
            "{} ShareFetch at session epoch {}: {:?}",
            self.id, self.session, r.error_message
        );
        self.session += 1;
        r
    }

    /// A ShareAcknowledge at session epoch `epoch`, without tracking the session.
    fn ack_at(&mut self, epoch: i32, parts: &[PartAcks<'_>]) -> ShareAcknowledgeResponse {
        let mut topics: Vec<share_acknowledge_request::AcknowledgeTopic> = Vec::new();
        for (topic_id, partition, acks) in parts {
            let p = share_acknowledge_request::AcknowledgePartition::default()
                .with_partition_index(*partition)
                .with_acknowledgement_batches(
                    acks.iter()
                        .map(|(first, last, t)| {
                            share_acknowledge_request::AcknowledgementBatch::default()
                                .with_first_offset(*first)
                                .with_last_offset(*last)
                                .with_acknowledge_types(vec![*t])
                        })
                        .collect(),
                );
            match topics.iter_mut().find(|t| t.topic_id == *topic_id) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    share_acknowledge_request::AcknowledgeTopic::default()
                        .with_topic_id(*topic_id)
                        .with_partitions(vec![p]),
                ),
            }
        }
        let req = ShareAcknowledgeRequest::default()
            .with_group_id(Some(group_id(&self.group)))
            .with_member_id(Some(str_bytes(&self.id)))
            .with_share_session_epoch(epoch)
            .with_topics(topics);
        self.c.call(v(ApiKey::ShareAcknowledge), &req)
    }

    /// Acknowledges `acks` of `topic`-0 in the session; returns the partition's error code.
    fn ack(&mut self, topic: Uuid, acks: &[Ack]) -> i16 {
        let r = self.ack_at(self.session, &[(topic, 0, acks)]);
        assert_eq!(
            r.error_code, 0,
            "{} ShareAcknowledge at session epoch {}: {:?}",
            self.id, self.session, r.error_message
        );
        self.session += 1;
        let p = r
            .responses
            .iter()
            .filter(|t| t.topic_id == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == 0)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no answer for the acknowledged partition: {r:?}",
                    self.id
                )
            });
        p.error_code
    }
}

/// A member's assignment from a heartbeat answer: (topic id, sorted partitions).
fn assignment_of(r: &ShareGroupHeartbeatResponse) -> Option<Vec<(Uuid, Vec<i32>)>> {
    r.assignment.as_ref().map(|a| {
        a.topic_partitions
            .iter()
            .map(|t| {
                let mut p = t.partitions.clone();
                p.sort();
                (t.topic_id, p)
            })
            .collect()
    })
}

/// One partition of a ShareFetch answer.
#[derive(Debug, Default)]
struct Got {
    present: bool,
    error: i16,
    ack_error: i16,
    /// (first, last, delivery count).
    acquired: Vec<(i64, i64, i16)>,
    records: Vec<u8>,
}

impl Got {
    /// Every acquired offset with its delivery count.
    fn offsets(&self) -> Vec<(i64, i16)> {
        self.acquired
            .iter()
            .flat_map(|&(first, last, dc)| (first..=last).map(move |o| (o, dc)))
            .collect()
    }
}

fn got(r: &ShareFetchResponse, topic: Uuid, partition: i32) -> Got {
    let Some(p) = r
        .responses
        .iter()
        .filter(|t| t.topic_id == topic)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
    else {
        return Got::default();
    };
    Got {
        present: true,
        error: p.error_code,
        ack_error: p.acknowledge_error_code,
        acquired: p
            .acquired_records
            .iter()
            .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
            .collect(),
        records: p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default(),
    }
}

/// A decoded record: offset, timestamp, key, value, headers (name, value).
#[derive(Clone, Debug)]
struct Rec {
    offset: i64,
    /// A transaction marker's record.
    control: bool,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<String>)>,
}

/// Decodes record batches with kafka-protocol.
fn decode(bytes: &[u8]) -> Vec<Rec> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let sets = RecordBatchDecoder::decode_all(&mut buf).expect("record batches decode");
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| Rec {
            offset: r.offset,
            control: r.control,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()),
                    )
                })
                .collect(),
        })
        .collect()
}

/// The value every test record carries: `v<offset>`.
fn value_at(offset: i64) -> String {
    format!("v{offset}")
}

/// Asserts that the batches sent with `g` hold every acquired offset with its value.
fn assert_records_hold_acquired(g: &Got, what: &str) {
    let recs: BTreeMap<i64, Option<Bytes>> = decode(&g.records)
        .into_iter()
        .map(|r| (r.offset, r.value))
        .collect();
    for (o, _) in g.offsets() {
        let value = recs
            .get(&o)
            .unwrap_or_else(|| panic!("{what}: acquired offset {o} is not in the batches sent"));
        assert_eq!(
            value.as_deref(),
            Some(value_at(o).as_bytes()),
            "{what}: value of offset {o}"
        );
    }
}

/// Produces `n` records to `topic`-0 from offset `first`, `per_batch` records per batch,
/// values `v<offset>`.
fn produce_values(c: &mut Client, topic: &str, first: i64, n: i64, per_batch: i64) {
    let mut at = first;
    while at < first + n {
        let k = per_batch.min(first + n - at);
        let values: Vec<Vec<u8>> = (at..at + k).map(|o| value_at(o).into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        let base = produce_one(c, topic, 0, &batch(now_ms(), &refs));
        assert_eq!(base, at, "produce to {topic}");
        at += k;
    }
}

/// Creates `name` (1 replica) with topic configs; returns its id.
fn create_with(c: &mut Client, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Uuid {
    let mut req = create_topics_request(&[(name, partitions, 1)]);
    req.topics[0].configs = configs
        .iter()
        .map(|(k, val)| {
            create_topics_request::CreatableTopicConfig::default()
                .with_name(str_bytes(k))
                .with_value(Some(str_bytes(val)))
        })
        .collect();
    let resp = c.call(v(ApiKey::CreateTopics), &req);
    let t = &resp.topics[0];
    assert_eq!(t.error_code, 0, "create {name}: {:?}", t.error_message);
    t.topic_id
}

/// IncrementalAlterConfigs of one resource at `version`: (error code, message).
fn alter_configs(
    c: &mut Client,
    version: i16,
    resource_type: i8,
    name: &str,
    ops: &[(&str, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let req = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(str_bytes(name))
                .with_configs(
                    ops.iter()
                        .map(|(k, val)| {
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(str_bytes(k))
                                .with_config_operation(if val.is_some() {
                                    OP_SET
                                } else {
                                    OP_DELETE
                                })
                                .with_value(val.map(str_bytes))
                        })
                        .collect(),
                ),
        ]);
    let resp = c.call(version, &req);
    assert_eq!(resp.responses.len(), 1);
    let r = &resp.responses[0];
    assert_eq!(
        (r.resource_type, r.resource_name.as_str()),
        (resource_type, name)
    );
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// Sets group configs (newest IncrementalAlterConfigs); asserts they were taken.
fn set_group_configs(c: &mut Client, group: &str, configs: &[(&str, &str)]) {
    let ops: Vec<(&str, Option<&str>)> = configs.iter().map(|(k, val)| (*k, Some(*val))).collect();
    let (code, message) = alter_configs(
        c,
        v(ApiKey::IncrementalAlterConfigs),
        RESOURCE_GROUP,
        group,
        &ops,
        false,
    );
    assert_eq!(code, 0, "set {configs:?} on group {group}: {message:?}");
}

/// DescribeConfigs of one resource at `version`.
fn describe_configs(
    c: &mut Client,
    version: i16,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
) -> DescribeConfigsResult {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(str_bytes(name))
            .with_configuration_keys(keys.map(|k| k.iter().map(|s| str_bytes(s)).collect())),
    ]);
    let mut resp = c.call(version, &req);
    assert_eq!(resp.results.len(), 1);
    resp.results.remove(0)
}

/// A described config's (value, source).
fn config_of(r: &DescribeConfigsResult, name: &str) -> Option<(String, i8)> {
    r.configs.iter().find(|c| c.name.as_str() == name).map(|c| {
        (
            c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
            c.config_source,
        )
    })
}

/// The start offset and lag of one share-partition, from DescribeShareGroupOffsets v1 (`None`
/// when the group has no state for it).
fn share_offset(c: &mut Client, group: &str, topic: &str, partition: i32) -> Option<(i64, i64)> {
    let (code, parts) = describe_share_offsets_v1(c, group);
    assert_eq!(code, 0, "DescribeShareGroupOffsets {group}");
    parts
        .into_iter()
        .find(|p| p.topic == topic && p.partition == partition)
        .map(|p| {
            assert_eq!(
                p.error, 0,
                "DescribeShareGroupOffsets {group} {topic}-{partition}"
            );
            (p.start, p.lag)
        })
}

/// One partition of a DescribeShareGroupOffsets v1 answer.
#[derive(Debug)]
struct OffsetPart {
    topic: String,
    topic_id: Uuid,
    partition: i32,
    start: i64,
    lag: i64,
    error: i16,
}

/// DescribeShareGroupOffsets v1 of every topic-partition `group` has state for: the group's
/// error code and its partitions.
fn describe_share_offsets_v1(c: &mut Client, group: &str) -> (i16, Vec<OffsetPart>) {
    const VERSION: i16 = 1;
    let req = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(group_id(group))
            .with_topics(None),
    ]);
    let correlation_id = c.next_correlation_id();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    // The request is flexible at every version: header v2.
    RequestHeader::default()
        .with_request_api_key(ApiKey::DescribeShareGroupOffsets as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
        .encode(&mut buf, 2)
        .unwrap();
    // v1's request fields are v0's.
    req.encode(&mut buf, 0).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    c.write_raw(&buf)
        .expect("send DescribeShareGroupOffsets v1");
    let frame = c.read_frame().expect("DescribeShareGroupOffsets v1 answer");
    let mut r = Reader(&frame);
    assert_eq!(r.i32(), correlation_id, "correlation id");
    r.tags(); // response header v1
    let _throttle = r.i32();
    let mut groups = Vec::new();
    for _ in 0..r.count() {
        let gid = r.string().expect("group id");
        let mut parts = Vec::new();
        for _ in 0..r.count() {
            let topic = r.string().expect("topic name");
            let topic_id = r.uuid();
            for _ in 0..r.count() {
                let partition = r.i32();
                let start = r.i64();
                let _leader_epoch = r.i32();
                let lag = r.i64();
                let error = r.i16();
                let _message = r.string();
                r.tags();
                parts.push(OffsetPart {
                    topic: topic.clone(),
                    topic_id,
                    partition,
                    start,
                    lag,
                    error,
                });
            }
            r.tags();
        }
        let error = r.i16();
        let _message = r.string();
        r.tags();
        groups.push((gid, error, parts));
    }
    r.tags();
    assert!(r.0.is_empty(), "{} bytes after the answer", r.0.len());
    assert_eq!(groups.len(), 1);
    let (gid, error, parts) = groups.remove(0);
    assert_eq!(gid, group);
    (error, parts)
}

/// Reads the compact (flexible) encoding of Kafka's protocol.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(self.0.len() >= n, "answer ends early");
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    fn uvarint(&mut self) -> u64 {
        let mut out = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)[0];
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return out;
            }
        }
        panic!("varint too long");
    }
    fn uuid(&mut self) -> Uuid {
        Uuid::from_slice(self.take(16)).unwrap()
    }
    /// A compact array's element count.
    fn count(&mut self) -> usize {
        let n = self.uvarint();
        assert!(n > 0, "null array");
        (n - 1) as usize
    }
    /// A compact nullable string.
    fn string(&mut self) -> Option<String> {
        let n = self.uvarint();
        if n == 0 {
            return None;
        }
        Some(String::from_utf8(self.take((n - 1) as usize).to_vec()).expect("UTF-8"))
    }
    /// Skips tagged fields.
    fn tags(&mut self) {
        for _ in 0..self.uvarint() {
            let _tag = self.uvarint();
            let size = self.uvarint() as usize;
            self.take(size);
        }
    }
}

/// ListGroups at the newest version: (group id, type, protocol type, state) of `group`.
fn listed(c: &mut Client, group: &str) -> Option<(String, String, String)> {
    let resp = c.call(v(ApiKey::ListGroups), &ListGroupsRequest::default());
    assert_eq!(resp.error_code, 0, "ListGroups");
    resp.groups
        .iter()
        .find(|g| g.group_id.as_str() == group)
        .map(|g| {
            (
                g.group_type.to_string(),
                g.protocol_type.to_string(),
                g.group_state.to_string(),
            )
        })
}

fn share_describe(c: &mut Client, group: &str) -> ShareGroupDescribeResponse {
    let req = ShareGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]);
    c.call(v(ApiKey::ShareGroupDescribe), &req)
}

fn delete_group(c: &mut Client, group: &str) -> i16 {
    let req = DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]);
    let resp = c.call(v(ApiKey::DeleteGroups), &req);
    assert_eq!(resp.results.len(), 1);
    resp.results[0].error_code
}

// ---------------------------------------------------------------------------------------------
// Membership.

/// Members join with epoch 0 and get the partitions of their subscription (three members on
/// one partition all read partition 0; two on two partitions split them), are fenced by epoch,
/// are refused without a subscription, and leave with -1.
pub fn share_members_join_get_partitions_are_fenced_and_leave(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let one = create_topic(&mut c, "one", 1);
    let two = create_topic(&mut c, "two", 2);

    let (mut a, a_parts) = Member::join(broker.addr, "g", "member-a", &["one"]);
    assert_eq!(a_parts, vec![(one, vec![0])], "member-a's assignment");
    let (mut b, b_parts) = Member::join(broker.addr, "g", "member-b", &["one"]);
    let (_c3, c_parts) = Member::join(broker.addr, "g", "member-c", &["one"]);
    assert_eq!(b_parts, vec![(one, vec![0])], "member-b shares partition 0");
    assert_eq!(c_parts, vec![(one, vec![0])], "member-c shares partition 0");
    let r = a.beat();
    if let Some(parts) = assignment_of(&r) {
        assert_eq!(parts, vec![(one, vec![0])], "member-a keeps partition 0");
    }
    assert_eq!(
        r.heartbeat_interval_ms, 5_000,
        "Kafka's share.heartbeat.interval.ms"
    );

    let d = share_describe(&mut c, "g");
    assert_eq!(d.groups.len(), 1);
    let g = &d.groups[0];
    assert_eq!(g.error_code, 0, "{:?}", g.error_message);
    assert_eq!(g.group_state.as_str(), "Stable");
    let ids: BTreeSet<String> = g.members.iter().map(|m| m.member_id.to_string()).collect();
    assert_eq!(
        ids,
        ["member-a", "member-b", "member-c"]
            .map(String::from)
            .into()
    );
    for m in &g.members {
        let parts: Vec<(Uuid, Vec<i32>)> = m
            .assignment
            .topic_partitions
            .iter()
            .map(|t| (t.topic_id, t.partitions.clone()))
            .collect();
        assert_eq!(parts, vec![(one, vec![0])], "{} in describe", m.member_id);
        assert_eq!(
            m.client_host.as_str(),
            "/127.0.0.1",
            "{}'s address",
            m.member_id
        );
    }

    // Fencing.
    let r = a.heartbeat(a.epoch + 7, None);
    assert_eq!(
        r.error_code, FENCED_MEMBER_EPOCH,
        "wrong epoch: {:?}",
        r.error_message
    );
    let mut ghost = Member {
        c: broker.connect(),
        group: "g".to_string(),
        id: "ghost".to_string(),
        epoch: 0,
        session: 0,
    };
    let r = ghost.heartbeat(3, None);
    assert_eq!(
        r.error_code, UNKNOWN_MEMBER_ID,
        "unknown member, epoch 3: {:?}",
        r.error_message
    );
    let r = ghost.heartbeat(0, None);
    assert_eq!(
        r.error_code, INVALID_REQUEST,
        "epoch 0 without topics: {:?}",
        r.error_message
    );
    assert!(r.error_message.is_some());
    let r = ghost.heartbeat(0, Some(&[]));
    assert_eq!(
        r.error_code, INVALID_REQUEST,
        "epoch 0 with no topics: {:?}",
        r.error_message
    );
    // The member that was fenced is still a member with its epoch.
    a.beat();

    // Leaving.
    b.leave();
    let r = b.heartbeat(b.epoch, None);
    assert_eq!(
        r.error_code, UNKNOWN_MEMBER_ID,
        "heartbeat after leaving: {:?}",
        r.error_message
    );
    let d = share_describe(&mut c, "g");
    assert_eq!(d.groups[0].members.len(), 2, "after member-b left");

    // Two members on two partitions split them.
    let (mut x, x_parts) = Member::join(broker.addr, "g2", "member-x", &["two"]);
    assert_eq!(
        x_parts,
        vec![(two, vec![0, 1])],
        "a lone member reads both partitions"
    );
    let (_y, y_parts) = Member::join(broker.addr, "g2", "member-y", &["two"]);
    assert_eq!(y_parts.len(), 1);
    assert_eq!(
        y_parts[0].1.len(),
        1,
        "member-y gets one partition: {y_parts:?}"
    );
    let r = x.beat();
    let x_parts = assignment_of(&r).expect("member-x is told its new assignment");
    assert_eq!(x_parts.len(), 1);
    let mut all: Vec<i32> = x_parts[0].1.iter().chain(&y_parts[0].1).copied().collect();
    all.sort();
    assert_eq!(
        all,
        vec![0, 1],
        "each partition read by exactly one of two members"
    );
}

// ---------------------------------------------------------------------------------------------
// Share sessions.

/// ShareFetch sessions: epoch 0 opens, then each next epoch; a missing session, a wrong
/// epoch, acknowledgements in an opening request and an unknown topic id get Kafka's codes;
/// -1 closes.
pub fn share_sessions_follow_kafkas_epoch_rules(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "s", 1);
    let (mut m, _) = Member::join(broker.addr, "gs", "member-s", &["s"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];

    let r = m.fetch_at(1, part, 0, MAX_RECORDS);
    assert_eq!(
        r.error_code, SHARE_SESSION_NOT_FOUND,
        "epoch 1 without a session: {:?}",
        r.error_message
    );
    let r = m.ack_at(0, part);
    assert_eq!(
        r.error_code, INVALID_SHARE_SESSION_EPOCH,
        "ShareAcknowledge cannot open a session: {:?}",
        r.error_message
    );
    let r = m.fetch_at(0, &[(t, 0, &[(0, 0, ACCEPT)])], 0, MAX_RECORDS);
    assert_eq!(
        r.error_code, INVALID_REQUEST,
        "acknowledgements at epoch 0: {:?}",
        r.error_message
    );

    let r = m.fetch_at(0, part, 0, MAX_RECORDS);
    assert_eq!(r.error_code, 0, "epoch 0 opens: {:?}", r.error_message);
    let r = m.fetch_at(5, part, 0, MAX_RECORDS);
    assert_eq!(
        r.error_code, INVALID_SHARE_SESSION_EPOCH,
        "epoch 5 after 0: {:?}",
        r.error_message
    );
    let r = m.fetch_at(1, part, 0, MAX_RECORDS);
    assert_eq!(
        r.error_code, 0,
        "the refused epoch did not move the session: {:?}",
        r.error_message
    );
    let r = m.fetch_at(1, part, 0, MAX_RECORDS);
    assert_eq!(
        r.error_code, INVALID_SHARE_SESSION_EPOCH,
        "epoch 1 twice: {:?}",
        r.error_message
    );
    let r = m.ack_at(2, part);
    assert_eq!(
        r.error_code, 0,
        "ShareAcknowledge at the next epoch: {:?}",
        r.error_message
    );
    let r = m.fetch_at(3, part, 0, MAX_RECORDS);
    assert_eq!(
        r.error_code, 0,
        "ShareAcknowledge moved the session on: {:?}",
        r.error_message
    );

    // An unknown topic id: a partition error, the request itself is served.
    let unknown = Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0001);
    let r = m.fetch_at(0, &[(unknown, 0, &[]), (t, 0, &[])], 0, MAX_RECORDS);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let g = got(&r, unknown, 0);
    assert!(g.present, "the unknown topic is answered: {r:?}");
    assert_eq!(g.error, UNKNOWN_TOPIC_ID, "unknown topic id");
    assert_eq!(got(&r, t, 0).error, 0, "the known partition beside it");

    // -1 closes; the session is then gone.
    let r = m.fetch_at(-1, &[], 0, MAX_RECORDS);
    assert_eq!(r.error_code, 0, "epoch -1 closes: {:?}", r.error_message);
    let r = m.fetch_at(1, part, 0, MAX_RECORDS);
    assert_eq!(
        r.error_code, SHARE_SESSION_NOT_FOUND,
        "after closing: {:?}",
        r.error_message
    );
}

// ---------------------------------------------------------------------------------------------
// Acquisition and acknowledgement.

/// Records are acquired by one member at a time (delivery count 1, the stored batches sent as
/// they are), ACCEPT moves the start offset (DescribeShareGroupOffsets' start and lag), RELEASE
/// hands records to the next fetch at once with delivery count 2, acknowledging records held by
/// another member is INVALID_RECORD_STATE, and `max_records` bounds an acquisition.
pub fn share_records_are_acquired_once_accepted_and_released(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "q", 1);
    produce_values(&mut c, "q", 0, 10, 5);
    set_group_configs(&mut c, "gq", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(broker.addr, "gq", "member-a", &["q"]);
    let (mut b, _) = Member::join(broker.addr, "gq", "member-b", &["q"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];

    let r = a.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        r.acquisition_lock_timeout_ms, 30_000,
        "Kafka's default lock"
    );
    let g = got(&r, t, 0);
    assert_eq!(g.error, 0);
    assert_eq!(
        g.acquired,
        vec![(0, 9, 1)],
        "member-a acquires everything, delivered once"
    );
    assert_records_hold_acquired(&g, "member-a");
    let (code, _, plain) = fetch_one(&mut c, "q", t, 0, 0);
    assert_eq!(code, 0);
    assert_eq!(
        g.records, plain,
        "ShareFetch sends the stored batches as a Fetch does"
    );

    let r = b.fetch(part, QUIET_WAIT_MS);
    assert!(
        got(&r, t, 0).acquired.is_empty(),
        "locked records go to nobody else: {r:?}"
    );

    assert_eq!(
        a.ack(t, &[(0, 4, ACCEPT), (5, 9, RELEASE)]),
        0,
        "member-a's acks"
    );
    assert_eq!(
        share_offset(&mut c, "gq", "q", 0),
        Some((5, 5)),
        "start offset and lag after ACCEPT 0..4"
    );
    assert_eq!(
        a.ack(t, &[(5, 9, ACCEPT)]),
        INVALID_RECORD_STATE,
        "released records are available, not acquired"
    );

    let asked = Instant::now();
    let r = b.fetch(part, ARRIVE_WAIT_MS);
    let g = got(&r, t, 0);
    assert_eq!(
        g.acquired,
        vec![(5, 9, 2)],
        "released records, delivered a second time"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "without a backoff, released records are redelivered at once ({:?})",
        asked.elapsed()
    );
    assert_records_hold_acquired(&g, "member-b");
    assert!(
        decode(&g.records).iter().all(|r| r.offset >= 5),
        "the read starts at the batch of the first available record"
    );

    assert_eq!(
        a.ack(t, &[(5, 9, ACCEPT)]),
        INVALID_RECORD_STATE,
        "member-b holds 5..9"
    );
    // Piggybacked on a ShareFetch, at once (no wait).
    let r = b.fetch(&[(t, 0, &[(5, 9, ACCEPT)])], 0);
    let g = got(&r, t, 0);
    assert_eq!(
        (g.error, g.ack_error),
        (0, 0),
        "member-b accepts 5..9 in its ShareFetch"
    );
    assert_eq!(share_offset(&mut c, "gq", "q", 0), Some((10, 0)));

    // max_records bounds an acquisition at batch boundaries (one-record batches here); the
    // rest goes to the next member.
    produce_values(&mut c, "q", 10, 10, 1);
    let r = a.fetch_max(part, ARRIVE_WAIT_MS, 3);
    assert_eq!(got(&r, t, 0).acquired, vec![(10, 12, 1)], "max_records 3");
    let r = b.fetch(part, ARRIVE_WAIT_MS);
    let g = got(&r, t, 0);
    assert_eq!(
        g.acquired,
        vec![(13, 19, 1)],
        "the records member-a did not take"
    );
    assert_records_hold_acquired(&g, "member-b");
    assert_eq!(
        share_offset(&mut c, "gq", "q", 0),
        Some((10, 10)),
        "lag counts acquired records"
    );

    // Inside a batch max_records is a soft limit (ShareFetch v1, and v2's batch_optimized
    // mode, KIP-1206): the acquisition ends with the batch, so no record of it is sent
    // unacquired (and again by the next answer).
    produce_values(&mut c, "q", 20, 10, 10);
    let r = a.fetch_max(part, ARRIVE_WAIT_MS, 3);
    let g = got(&r, t, 0);
    assert_eq!(g.acquired, vec![(20, 29, 1)], "the whole 10-record batch");
    assert_records_hold_acquired(&g, "member-a");
}

/// `share.isolation.level` (KIP-932): read_committed acquires below the last stable offset and
/// archives the records of aborted transactions undelivered; read_uncommitted gets them all.
pub fn share_read_committed_skips_aborted_and_open_transactions(io: IoKind) {
    use super::txn::{add, end, init, produce_as, txn_batch};
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "rc", 1);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    // 0..=2 plain; 3..=5 aborted (marker 6); 7..=9 committed (marker 10); 11..=12 open; 13
    // plain after the open transaction's records.
    produce_values(&mut c, "rc", 0, 3, 3);
    let txn = |c: &mut Client, id: &str, n: usize| {
        let (code, pid, epoch) = init(c, id, 60_000);
        assert_eq!(code, 0, "InitProducerId {id}");
        assert_eq!(add(c, id, (pid, epoch), &[("rc", 0)]), 0, "add {id}");
        let (code, _) = produce_as(c, Some(id), "rc", 0, txn_batch((pid, epoch), 0, n, true));
        assert_eq!(code, 0, "produce {id}");
        (pid, epoch)
    };
    let aborted = txn(&mut c, "ta", 3);
    assert_eq!(end(&mut c, "ta", aborted, false), 0);
    let committed = txn(&mut c, "tb", 3);
    assert_eq!(end(&mut c, "tb", committed, true), 0);
    let open = txn(&mut c, "tc", 2);
    produce_values(&mut c, "rc", 13, 1, 1);

    set_group_configs(
        &mut c,
        "g-rc",
        &[
            (AUTO_OFFSET_RESET, "earliest"),
            ("share.isolation.level", "read_committed"),
        ],
    );
    set_group_configs(&mut c, "g-ru", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut rc, _) = Member::join(broker.addr, "g-rc", "member-rc", &["rc"]);
    let (mut ru, _) = Member::join(broker.addr, "g-ru", "member-ru", &["rc"]);

    let r = rc.fetch(part, ARRIVE_WAIT_MS);
    let g = got(&r, t, 0);
    assert_eq!(
        g.acquired,
        vec![(0, 2, 1), (6, 10, 1)],
        "read_committed: the aborted records are not acquired, the open ones not yet"
    );
    let data: Vec<i64> = decode(&g.records)
        .iter()
        .filter(|r| !r.control)
        .map(|r| r.offset)
        .filter(|o| g.acquired.iter().any(|&(a, b, _)| a <= *o && *o <= b))
        .collect();
    assert_eq!(data, vec![0, 1, 2, 7, 8, 9], "committed records only");
    // Nothing more while the transaction is open: the poll waits and ends empty.
    let accept: &[(i64, i64, i8)] = &[(0, 2, ACCEPT), (6, 10, ACCEPT)];
    let r = rc.fetch(&[(t, 0, accept)], QUIET_WAIT_MS);
    let g = got(&r, t, 0);
    assert_eq!(
        (g.ack_error, g.acquired.clone()),
        (0, vec![]),
        "beyond the stable offset"
    );
    // The commit makes the rest stable.
    assert_eq!(end(&mut c, "tc", open, true), 0);
    let r = rc.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(11, 14, 1)],
        "after the commit: its records, the plain one and the marker"
    );

    // read_uncommitted: everything up to the high watermark, the aborted records too.
    let r = ru.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(got(&r, t, 0).acquired, vec![(0, 14, 1)], "read_uncommitted");
}

/// A member's connection closes while it holds records: its share session ends and the
/// records are released at once, as Kafka 4.4 does (not when their 30 s locks end); a session
/// the member opened again on another connection is not ended by the old connection's close.
pub fn share_closed_connection_releases_its_sessions_records(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "dc", 1);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    produce_values(&mut c, "dc", 0, 5, 5);
    set_group_configs(&mut c, "g-dc", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(broker.addr, "g-dc", "member-a", &["dc"]);
    let (mut b, _) = Member::join(broker.addr, "g-dc", "member-b", &["dc"]);
    let r = a.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(got(&r, t, 0).acquired, vec![(0, 4, 1)]);
    // member-a opens its session again on a second connection.
    let mut a2 = Member {
        c: broker.connect(),
        group: "g-dc".to_string(),
        id: "member-a".to_string(),
        epoch: a.epoch,
        session: 0,
    };
    let r = a2.fetch(part, 0);
    assert!(
        got(&r, t, 0).acquired.is_empty(),
        "member-a holds them already"
    );
    drop(a);
    let r = b.fetch(part, QUIET_WAIT_MS);
    assert!(
        got(&r, t, 0).acquired.is_empty(),
        "the session lives on the second connection: nothing released"
    );
    // The connection holding the session closes: released at once.
    drop(a2);
    let asked = Instant::now();
    let r = b.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(0, 4, 2)],
        "released when the connection closed, delivered again"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "long before the 30 s lock ended ({:?})",
        asked.elapsed()
    );
}

/// Acknowledgements piggybacked on a ShareFetch that then waits (nothing to acquire) keep
/// their result: the acknowledgement error is the answer's `acknowledge_error_code` whether
/// or not the fetch long-polled.
pub fn share_piggybacked_ack_errors_survive_the_long_poll(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "p", 1);
    produce_values(&mut c, "p", 0, 5, 5);
    set_group_configs(&mut c, "gp", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(broker.addr, "gp", "member-a", &["p"]);
    let (mut b, _) = Member::join(broker.addr, "gp", "member-b", &["p"]);
    let r = a.fetch(&[(t, 0, &[])], ARRIVE_WAIT_MS);
    assert_eq!(got(&r, t, 0).acquired, vec![(0, 4, 1)]);
    b.fetch(&[(t, 0, &[])], 0);

    let r = b.fetch(&[(t, 0, &[(0, 4, ACCEPT)])], 0);
    assert_eq!(
        got(&r, t, 0).ack_error,
        INVALID_RECORD_STATE,
        "accepting member-a's records, no wait"
    );
    let r = b.fetch(&[(t, 0, &[(0, 4, ACCEPT)])], QUIET_WAIT_MS);
    let g = got(&r, t, 0);
    assert!(g.acquired.is_empty());
    assert_eq!(
        g.ack_error, INVALID_RECORD_STATE,
        "accepting member-a's records in a ShareFetch that long-polls: the refusal must be \
         reported"
    );
    assert_eq!(
        a.ack(t, &[(0, 4, ACCEPT)]),
        0,
        "the records stayed member-a's"
    );
}

/// A member that closes its session or leaves the group releases what it holds at once.
pub fn share_session_close_or_leaving_releases_held_records(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "cl", 1);
    produce_values(&mut c, "cl", 0, 4, 4);
    set_group_configs(&mut c, "gc", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(broker.addr, "gc", "member-a", &["cl"]);
    let (mut b, _) = Member::join(broker.addr, "gc", "member-b", &["cl"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];

    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 3, 1)]
    );
    let r = a.fetch_at(-1, &[], 0, MAX_RECORDS);
    assert_eq!(r.error_code, 0, "close: {:?}", r.error_message);
    let r = b.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(0, 3, 2)],
        "released by the closed session"
    );

    b.leave();
    a.session = 0;
    let r = a.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(0, 3, 3)],
        "released by the member that left"
    );
}

/// Long poll of the full-window test: far longer than anything it should wait.
const FULL_WINDOW_WAIT_MS: i32 = 20_000;

/// A full window (`group.share.partition.max.record.locks` 100, its minimum): the member that
/// holds it is answered at once (only its own acknowledgements can free the window; a
/// pipelined consumer fetches before acknowledging), another member waits and is woken by the
/// acknowledgement that frees the window, and acquires what follows.
pub fn share_full_window_answers_its_holder_and_wakes_on_acknowledgement(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.share.partition_max_record_locks = 100);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "fw", 1);
    produce_values(&mut c, "fw", 0, 150, 50);
    set_group_configs(&mut c, "gw", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(broker.addr, "gw", "member-a", &["fw"]);
    let (mut b, _) = Member::join(broker.addr, "gw", "member-b", &["fw"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];

    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 99, 1)],
        "the whole window"
    );
    let asked = Instant::now();
    let r = a.fetch(part, FULL_WINDOW_WAIT_MS);
    assert!(got(&r, t, 0).acquired.is_empty(), "{r:?}");
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_millis(FULL_WINDOW_WAIT_MS as u64 / 2),
        "the holder of the full window waited {waited:?}"
    );

    let waiting = std::thread::spawn(move || {
        let empty: &[Ack] = &[];
        let r = b.fetch(&[(t, 0, empty)], FULL_WINDOW_WAIT_MS);
        (got(&r, t, 0).acquired, Instant::now())
    });
    // member-b's poll is waiting by now (if not, it finds the freed window at once: the same
    // answer).
    std::thread::sleep(Duration::from_millis(QUIET_WAIT_MS as u64));
    let acked = Instant::now();
    assert_eq!(a.ack(t, &[(0, 99, ACCEPT)]), 0);
    let (acquired, answered) = waiting.join().expect("member-b's poll");
    assert_eq!(
        acquired,
        vec![(100, 149, 1)],
        "the records after the window"
    );
    let woken = answered.saturating_duration_since(acked);
    assert!(
        woken < Duration::from_millis(FULL_WINDOW_WAIT_MS as u64 / 2),
        "member-b was answered {woken:?} after the acknowledgement"
    );
}

/// A lock that ends (share.record.lock.duration.ms = 1 s, the minimum) hands the records to
/// another member, not before the lock's end, and the first holder can no longer acknowledge.
pub fn share_expired_lock_hands_records_to_another_member(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.share.record_lock_duration_ms = 1_000);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "lk", 1);
    produce_values(&mut c, "lk", 0, 5, 5);
    set_group_configs(&mut c, "gl", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(broker.addr, "gl", "member-a", &["lk"]);
    let (mut b, _) = Member::join(broker.addr, "gl", "member-b", &["lk"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];

    let acquired_before = Instant::now();
    let r = a.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        r.acquisition_lock_timeout_ms, 1_000,
        "the broker's lock duration"
    );
    assert_eq!(got(&r, t, 0).acquired, vec![(0, 4, 1)]);

    let r = b.fetch(part, ARRIVE_WAIT_MS);
    let waited = acquired_before.elapsed();
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(0, 4, 2)],
        "after member-a's lock ended"
    );
    assert!(
        waited >= Duration::from_millis(950),
        "handed over before the 1 s lock ended ({waited:?})"
    );
    assert!(
        waited < Duration::from_millis(4_000),
        "lock ended late ({waited:?})"
    );
    assert_eq!(
        a.ack(t, &[(0, 4, ACCEPT)]),
        INVALID_RECORD_STATE,
        "member-a's lock is over"
    );
    assert_eq!(b.ack(t, &[(0, 4, ACCEPT)]), 0);
}

/// At the delivery limit (broker setting 2) a released record is archived: never delivered
/// again, and the start offset moves past it.
pub fn share_delivery_limit_archives_records(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.share.delivery_count_limit = 2);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "dl", 1);
    produce_values(&mut c, "dl", 0, 3, 3);
    set_group_configs(&mut c, "gd", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(broker.addr, "gd", "member-a", &["dl"]);
    let (mut b, _) = Member::join(broker.addr, "gd", "member-b", &["dl"]);

    let r = a.fetch(&[(t, 0, &[])], ARRIVE_WAIT_MS);
    assert_eq!(got(&r, t, 0).acquired, vec![(0, 2, 1)]);
    let r = a.fetch(&[(t, 0, &[(0, 2, RELEASE)])], ARRIVE_WAIT_MS);
    let g = got(&r, t, 0);
    assert_eq!(g.ack_error, 0);
    assert_eq!(
        g.acquired,
        vec![(0, 2, 2)],
        "released once: delivered again"
    );
    let r = a.fetch(&[(t, 0, &[(0, 2, RELEASE)])], QUIET_WAIT_MS);
    let g = got(&r, t, 0);
    assert_eq!(g.ack_error, 0);
    assert!(
        g.acquired.is_empty(),
        "delivered twice, the limit: archived, {g:?}"
    );
    let r = b.fetch(&[(t, 0, &[])], QUIET_WAIT_MS);
    assert!(got(&r, t, 0).acquired.is_empty(), "nor to another member");
    assert_eq!(
        share_offset(&mut c, "gd", "dl", 0),
        Some((3, 0)),
        "archived records are done"
    );
}

/// ringlog.share.retry.backoff.ms = 1500: a released record comes back only after 1.5 s.
pub fn share_retry_backoff_delays_redelivery(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "bo", 1);
    produce_values(&mut c, "bo", 0, 2, 2);
    set_group_configs(
        &mut c,
        "gb",
        &[(AUTO_OFFSET_RESET, "earliest"), (RETRY_BACKOFF_MS, "1500")],
    );
    let (mut a, _) = Member::join(broker.addr, "gb", "member-a", &["bo"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 1, 1)]
    );

    let released_before = Instant::now();
    assert_eq!(a.ack(t, &[(0, 1, RELEASE)]), 0);
    let r = a.fetch(part, 0);
    assert!(
        got(&r, t, 0).acquired.is_empty()
            || released_before.elapsed() >= Duration::from_millis(1_500),
        "redelivered at once despite the backoff: {r:?}"
    );
    let r = a.fetch(part, ARRIVE_WAIT_MS);
    let waited = released_before.elapsed();
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(0, 1, 2)],
        "redelivered after the backoff"
    );
    assert!(
        waited >= Duration::from_millis(1_450),
        "redelivered {waited:?} after the release, before the 1.5 s backoff"
    );
    assert!(
        waited < Duration::from_millis(5_000),
        "backoff ended late ({waited:?})"
    );
}

/// Records from a decoded DLQ topic partition, fetched until `n` are there or [`DLQ_WAIT`].
fn dlq_records(c: &mut Client, topic: &str, id: Uuid, n: usize) -> Vec<Rec> {
    let deadline = Instant::now() + DLQ_WAIT;
    loop {
        let (code, _, bytes) = fetch_one(c, topic, id, 0, 0);
        assert_eq!(code, 0, "fetch {topic}");
        let recs = decode(&bytes);
        if recs.len() >= n || Instant::now() > deadline {
            return recs;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn header<'a>(r: &'a Rec, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
}

/// REJECTed records and records at the delivery limit are copied to the group's dead-letter
/// topic with Kafka's headers (value only with copy.record.enable); a topic without
/// errors.deadletterqueue.group.enable, or outside the `dlq.` prefix, receives nothing.
pub fn share_rejected_and_exhausted_records_reach_the_dead_letter_topic(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.share.delivery_count_limit = 2);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "orders", 1);
    let dlq = create_with(&mut c, "dlq.orders", 1, &[(DLQ_GROUP_ENABLE, "true")]);
    let plain = create_with(&mut c, "dlq.plain", 1, &[]);
    let unprefixed = create_with(&mut c, "orders.dead", 1, &[(DLQ_GROUP_ENABLE, "true")]);
    produce_values(&mut c, "orders", 0, 4, 4);
    set_group_configs(
        &mut c,
        "gdlq",
        &[
            (AUTO_OFFSET_RESET, "earliest"),
            (DLQ_TOPIC_NAME, "dlq.orders"),
            (DLQ_COPY_RECORD, "true"),
        ],
    );
    let (mut a, _) = Member::join(broker.addr, "gdlq", "member-a", &["orders"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 3, 1)]
    );
    std::thread::sleep(Duration::from_millis(20)); // copies are stamped later than the source
    let rejected_at = now_ms();
    assert_eq!(
        a.ack(t, &[(0, 1, REJECT), (2, 2, RELEASE), (3, 3, ACCEPT)]),
        0,
        "reject, release, accept"
    );
    let r = a.fetch(&[(t, 0, &[])], ARRIVE_WAIT_MS);
    assert_eq!(got(&r, t, 0).acquired, vec![(2, 2, 2)]);
    assert_eq!(a.ack(t, &[(2, 2, RELEASE)]), 0, "released at the limit");

    let recs = dlq_records(&mut c, "dlq.orders", dlq, 3);
    let summary: Vec<(i64, Option<&str>, Option<&str>)> = recs
        .iter()
        .map(|r| {
            (
                r.offset,
                header(r, "__dlq.errors.offset"),
                header(r, "__dlq.errors.delivery.count"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, Some("0"), Some("1")),
            (1, Some("1"), Some("1")),
            (2, Some("2"), Some("2")),
        ],
        "one copy per archived record, in archiving order"
    );
    for (r, message) in recs.iter().zip([
        "Offset rejected by client.",
        "Offset rejected by client.",
        "Offset delivery count exceeded the threshold.",
    ]) {
        let names: BTreeSet<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, DLQ_HEADERS.into(), "Kafka's headers on {r:?}");
        assert_eq!(
            r.headers.len(),
            DLQ_HEADERS.len(),
            "each header once: {r:?}"
        );
        assert_eq!(header(r, "__dlq.errors.topic"), Some("orders"));
        assert_eq!(header(r, "__dlq.errors.partition"), Some("0"));
        assert_eq!(header(r, "__dlq.errors.group"), Some("gdlq"));
        assert_eq!(header(r, "__dlq.errors.message"), Some(message));
        let source = header(r, "__dlq.errors.offset")
            .unwrap()
            .parse::<i64>()
            .unwrap();
        assert_eq!(
            r.value.as_deref(),
            Some(value_at(source).as_bytes()),
            "copy.record.enable=true copies the value"
        );
        assert_eq!(r.key, None, "the source records have no key");
        assert!(
            r.timestamp >= rejected_at,
            "a copy's timestamp is the copy time ({} < {rejected_at})",
            r.timestamp
        );
    }
    assert_eq!(share_offset(&mut c, "gdlq", "orders", 0), Some((4, 0)));

    // Misconfigured dead-letter topics: nothing is copied; then a valid one as the control.
    set_group_configs(
        &mut c,
        "gbad",
        &[
            (AUTO_OFFSET_RESET, "earliest"),
            (DLQ_TOPIC_NAME, "dlq.plain"),
        ],
    );
    let (mut m, _) = Member::join(broker.addr, "gbad", "member-m", &["orders"]);
    assert_eq!(
        got(&m.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 3, 1)]
    );
    assert_eq!(
        m.ack(t, &[(0, 0, REJECT)]),
        0,
        "reject into a topic without the enable config"
    );
    set_group_configs(&mut c, "gbad", &[(DLQ_TOPIC_NAME, "orders.dead")]);
    assert_eq!(
        m.ack(t, &[(1, 1, REJECT)]),
        0,
        "reject into a topic outside the prefix"
    );
    set_group_configs(&mut c, "gbad", &[(DLQ_TOPIC_NAME, "dlq.orders")]);
    assert_eq!(
        m.ack(t, &[(2, 2, REJECT)]),
        0,
        "reject into the valid topic"
    );
    let recs = dlq_records(&mut c, "dlq.orders", dlq, 4);
    let from_bad: Vec<&Rec> = recs
        .iter()
        .filter(|r| header(r, "__dlq.errors.group") == Some("gbad"))
        .collect();
    assert_eq!(from_bad.len(), 1, "only the control copy: {recs:?}");
    assert_eq!(header(from_bad[0], "__dlq.errors.offset"), Some("2"));
    assert_eq!(
        from_bad[0].value, None,
        "copy.record.enable unset: no value"
    );
    for (name, id) in [("dlq.plain", plain), ("orders.dead", unprefixed)] {
        let (code, hw, bytes) = fetch_one(&mut c, name, id, 0, 0);
        assert_eq!((code, hw), (0, 0), "{name} received nothing");
        assert!(bytes.is_empty(), "{name} received nothing");
    }
}

/// Records that reach the delivery limit without an acknowledgement are copied to the
/// dead-letter topic too: when the lock of their last delivery ends (archived by the broker's
/// own sweep, no request touching the partition) and when their holder leaves the group.
pub fn share_limit_reached_by_lock_end_or_leaving_copies_to_the_dead_letter_topic(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| {
        c.share.delivery_count_limit = 2;
        c.share.record_lock_duration_ms = 1_000;
    });
    let mut c = broker.connect();
    let t = create_topic(&mut c, "jobs", 1);
    let dlq = create_with(&mut c, "dlq.jobs", 1, &[(DLQ_GROUP_ENABLE, "true")]);
    produce_values(&mut c, "jobs", 0, 1, 1);
    set_group_configs(
        &mut c,
        "gj",
        &[
            (AUTO_OFFSET_RESET, "earliest"),
            (DLQ_TOPIC_NAME, "dlq.jobs"),
        ],
    );
    let (mut a, _) = Member::join(broker.addr, "gj", "member-a", &["jobs"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 0, 1)]
    );
    let r = a.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(0, 0, 2)],
        "after the first lock ended"
    );
    // Nothing touches the share-partition now: the second lock ends in the broker's sweep.
    let recs = dlq_records(&mut c, "dlq.jobs", dlq, 1);
    assert_eq!(recs.len(), 1, "a copy once the last lock ended: {recs:?}");
    assert_eq!(header(&recs[0], "__dlq.errors.offset"), Some("0"));
    assert_eq!(header(&recs[0], "__dlq.errors.delivery.count"), Some("2"));
    assert_eq!(
        header(&recs[0], "__dlq.errors.message"),
        Some("Offset delivery count exceeded the threshold.")
    );
    let r = a.fetch(part, QUIET_WAIT_MS);
    assert!(got(&r, t, 0).acquired.is_empty(), "archived: {r:?}");

    // The holder of a record's last delivery leaves.
    produce_values(&mut c, "jobs", 1, 1, 1);
    let r = a.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(got(&r, t, 0).acquired, vec![(1, 1, 1)]);
    let r = a.fetch(&[(t, 0, &[(1, 1, RELEASE)])], ARRIVE_WAIT_MS);
    assert_eq!(got(&r, t, 0).acquired, vec![(1, 1, 2)]);
    a.leave();
    let recs = dlq_records(&mut c, "dlq.jobs", dlq, 2);
    let offsets: Vec<(Option<&str>, Option<&str>)> = recs
        .iter()
        .map(|r| {
            (
                header(r, "__dlq.errors.offset"),
                header(r, "__dlq.errors.delivery.count"),
            )
        })
        .collect();
    assert_eq!(
        offsets,
        vec![(Some("0"), Some("2")), (Some("1"), Some("2"))],
        "a copy once the holder of the last delivery left"
    );
}

// ---------------------------------------------------------------------------------------------
// Group configs.

/// IncrementalAlterConfigs on the GROUP resource refuses bad values with INVALID_CONFIG
/// (nothing of the request kept), DescribeConfigs shows set values as GROUP_CONFIG and the rest
/// as DEFAULT_CONFIG, DELETE goes back to the default, validate_only keeps nothing, and TOPIC
/// and BROKER resources are refused with a message.
pub fn share_group_configs_are_validated_described_and_deleted(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let (v_min, v_max) = {
        let r = versions(ApiKey::IncrementalAlterConfigs);
        (*r.start(), *r.end())
    };
    let bad: &[(&str, &str)] = &[
        (DELIVERY_COUNT_LIMIT, "1"),
        (DELIVERY_COUNT_LIMIT, "11"),
        (DELIVERY_COUNT_LIMIT, "many"),
        (LOCK_DURATION_MS, "999"),
        (LOCK_DURATION_MS, "3600001"),
        (SESSION_TIMEOUT_MS, "1000"),
        (AUTO_OFFSET_RESET, "sometimes"),
        (AUTO_OFFSET_RESET, "by_duration:1H"),
        ("share.isolation.level", "read_most"),
        (DLQ_COPY_RECORD, "maybe"),
        (RETRY_BACKOFF_MS, "1000,-5"),
        (RETRY_BACKOFF_MS, "1000,soon"),
        ("share.no.such.config", "1"),
    ];
    for version in v_min..=v_max {
        for (name, value) in bad {
            let (code, message) = alter_configs(
                &mut c,
                version,
                RESOURCE_GROUP,
                "gcfg",
                &[(name, Some(value))],
                false,
            );
            assert_eq!(
                code, INVALID_CONFIG,
                "v{version} {name}={value}: {message:?}"
            );
            assert!(
                message.as_deref().is_some_and(|m| !m.is_empty()),
                "v{version} {name}={value}: a message"
            );
        }
    }
    // A good and a bad value in one resource: nothing is kept.
    let (code, _) = alter_configs(
        &mut c,
        v_max,
        RESOURCE_GROUP,
        "gcfg",
        &[
            (DELIVERY_COUNT_LIMIT, Some("3")),
            (LOCK_DURATION_MS, Some("5")),
        ],
        false,
    );
    assert_eq!(code, INVALID_CONFIG);
    // validate_only keeps nothing.
    let (code, message) = alter_configs(
        &mut c,
        v_max,
        RESOURCE_GROUP,
        "gcfg",
        &[(DELIVERY_COUNT_LIMIT, Some("3"))],
        true,
    );
    assert_eq!(code, 0, "validate_only: {message:?}");
    let d = describe_configs(
        &mut c,
        v(ApiKey::DescribeConfigs),
        RESOURCE_GROUP,
        "gcfg",
        None,
    );
    assert_eq!(d.error_code, 0, "{:?}", d.error_message);
    assert_eq!(
        config_of(&d, DELIVERY_COUNT_LIMIT),
        Some(("5".to_string(), SOURCE_DEFAULT_CONFIG)),
        "nothing was kept by the refused and the validate-only requests"
    );

    set_group_configs(
        &mut c,
        "gcfg",
        &[
            (DELIVERY_COUNT_LIMIT, "3"),
            (AUTO_OFFSET_RESET, "by_duration:PT1H"),
            (RETRY_BACKOFF_MS, "1000,5000"),
        ],
    );
    let d_range = versions(ApiKey::DescribeConfigs);
    for version in d_range.clone() {
        let d = describe_configs(&mut c, version, RESOURCE_GROUP, "gcfg", None);
        assert_eq!(d.error_code, 0, "v{version}: {:?}", d.error_message);
        assert_eq!(d.resource_type, RESOURCE_GROUP);
        assert_eq!(
            config_of(&d, DELIVERY_COUNT_LIMIT),
            Some(("3".to_string(), SOURCE_GROUP_CONFIG)),
            "v{version}"
        );
        assert_eq!(
            config_of(&d, AUTO_OFFSET_RESET),
            Some(("by_duration:PT1H".to_string(), SOURCE_GROUP_CONFIG)),
            "v{version}"
        );
        assert_eq!(
            config_of(&d, RETRY_BACKOFF_MS),
            Some(("1000,5000".to_string(), SOURCE_GROUP_CONFIG)),
            "v{version}"
        );
        assert_eq!(
            config_of(&d, LOCK_DURATION_MS),
            Some(("30000".to_string(), SOURCE_DEFAULT_CONFIG)),
            "v{version}: Kafka's default"
        );
        assert_eq!(
            config_of(&d, SESSION_TIMEOUT_MS),
            Some(("45000".to_string(), SOURCE_DEFAULT_CONFIG)),
            "v{version}: Kafka's default"
        );
    }
    let d = describe_configs(
        &mut c,
        *d_range.end(),
        RESOURCE_GROUP,
        "gcfg",
        Some(&[DELIVERY_COUNT_LIMIT]),
    );
    let names: Vec<&str> = d.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec![DELIVERY_COUNT_LIMIT], "only the key asked for");

    // DELETE: back to the default.
    let (code, message) = alter_configs(
        &mut c,
        v_max,
        RESOURCE_GROUP,
        "gcfg",
        &[(DELIVERY_COUNT_LIMIT, None)],
        false,
    );
    assert_eq!(code, 0, "delete: {message:?}");
    let d = describe_configs(&mut c, *d_range.end(), RESOURCE_GROUP, "gcfg", None);
    assert_eq!(
        config_of(&d, DELIVERY_COUNT_LIMIT),
        Some(("5".to_string(), SOURCE_DEFAULT_CONFIG))
    );
    assert_eq!(
        config_of(&d, RETRY_BACKOFF_MS),
        Some(("1000,5000".to_string(), SOURCE_GROUP_CONFIG)),
        "the others are kept"
    );

    // A topic's configs are altered the same way; the broker's settings are read-only
    // (refused with a message).
    create_topic(&mut c, "cfg-topic", 1);
    let (code, message) = alter_configs(
        &mut c,
        v_max,
        RESOURCE_TOPIC,
        "cfg-topic",
        &[("retention.ms", Some("1000"))],
        false,
    );
    assert_eq!(code, 0, "a topic config: {message:?}");
    let (code, message) = alter_configs(
        &mut c,
        v_max,
        RESOURCE_BROKER,
        "0",
        &[("retention.ms", Some("1000"))],
        false,
    );
    assert_eq!(code, INVALID_REQUEST, "a broker config: {message:?}");
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("Cannot update these configs dynamically")),
        "a broker config: {message:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Restart.

/// The share state outlives a restart: accepted records are not delivered again, acquired
/// ones come back with their delivery count + 1, released ones too, group configs are kept,
/// and ListGroups still lists the share group (type "Share").
pub fn share_state_and_group_configs_survive_a_restart(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = start_in(dir.path(), io, |_| {});
    let addr = broker.local_addr();
    let mut c = Client::connect(addr);
    let t = create_topic(&mut c, "r", 1);
    produce_values(&mut c, "r", 0, 10, 5);
    set_group_configs(
        &mut c,
        "gr",
        &[(AUTO_OFFSET_RESET, "earliest"), (DELIVERY_COUNT_LIMIT, "4")],
    );
    let (mut a, _) = Member::join(addr, "gr", "member-a", &["r"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 9, 1)]
    );
    // 0..3 done, 4..5 available (delivered once), 6..9 held.
    assert_eq!(a.ack(t, &[(0, 3, ACCEPT), (4, 5, RELEASE)]), 0);
    drop((a, c));
    stop(broker);

    let broker = start_in(dir.path(), io, |_| {});
    let addr = broker.local_addr();
    let mut c = Client::connect(addr);
    assert_eq!(
        listed(&mut c, "gr"),
        Some((
            "Share".to_string(),
            "share".to_string(),
            "Empty".to_string()
        )),
        "ListGroups after the restart"
    );
    let d = describe_configs(
        &mut c,
        v(ApiKey::DescribeConfigs),
        RESOURCE_GROUP,
        "gr",
        None,
    );
    assert_eq!(
        config_of(&d, DELIVERY_COUNT_LIMIT),
        Some(("4".to_string(), SOURCE_GROUP_CONFIG))
    );
    assert_eq!(
        config_of(&d, AUTO_OFFSET_RESET),
        Some(("earliest".to_string(), SOURCE_GROUP_CONFIG))
    );
    assert_eq!(share_offset(&mut c, "gr", "r", 0), Some((4, 6)));
    let (mut b, _) = Member::join(addr, "gr", "member-b", &["r"]);
    let r = b.fetch(part, ARRIVE_WAIT_MS);
    let g = got(&r, t, 0);
    assert_eq!(
        g.acquired,
        vec![(4, 9, 2)],
        "released and held records come back, delivered a second time; accepted ones never"
    );
    assert_records_hold_acquired(&g, "member-b after the restart");
    assert_eq!(b.ack(t, &[(4, 5, ACCEPT)]), 0);
    drop((b, c));
    stop(broker);

    // The acknowledgement made after the first restart is durable too.
    let broker = start_in(dir.path(), io, |_| {});
    let addr = broker.local_addr();
    let mut c = Client::connect(addr);
    assert_eq!(share_offset(&mut c, "gr", "r", 0), Some((6, 4)));
    let (mut m, _) = Member::join(addr, "gr", "member-c", &["r"]);
    let r = m.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(6, 9, 3)],
        "held across two restarts"
    );
    drop((m, c));
    stop(broker);
}

/// A record whose last allowed delivery (the delivery limit) was in progress when the broker
/// stopped is not delivered again after the restart: its lock ended with the broker, and a
/// lock that ends at the limit archives (README: "A record released for the
/// share.delivery.count.limit-th time is archived"). Kafka 4.4 writes share state when records
/// are acknowledged, released or their lock ends, not when they are acquired, so after its
/// restart a record comes back with the count last written and no answer ever carries a
/// delivery count above the limit.
pub fn share_restart_never_delivers_past_the_delivery_limit(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = start_in(dir.path(), io, |c| c.share.delivery_count_limit = 2);
    let addr = broker.local_addr();
    let mut c = Client::connect(addr);
    let t = create_topic(&mut c, "lim", 1);
    produce_values(&mut c, "lim", 0, 2, 2);
    set_group_configs(&mut c, "glim", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(addr, "glim", "member-a", &["lim"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 1, 1)]
    );
    let r = a.fetch(&[(t, 0, &[(0, 1, RELEASE)])], ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(0, 1, 2)],
        "the second and last delivery"
    );
    drop((a, c));
    stop(broker);

    let broker = start_in(dir.path(), io, |c| c.share.delivery_count_limit = 2);
    let addr = broker.local_addr();
    let (mut b, _) = Member::join(addr, "glim", "member-b", &["lim"]);
    let r = b.fetch(part, QUIET_WAIT_MS);
    let g = got(&r, t, 0);
    assert!(
        g.acquired.iter().all(|&(_, _, dc)| dc <= 2),
        "delivered beyond share.delivery.count.limit=2 after a restart: {:?}",
        g.acquired
    );
    drop(b);
    stop(broker);
}

// ---------------------------------------------------------------------------------------------
// Admin.

/// AlterShareGroupOffsets and DeleteShareGroupOffsets need an empty group (NON_EMPTY_GROUP
/// while a member is in it); altering restarts delivery at the new start, deleting forgets the
/// share-partition (delivery restarts where share.auto.offset.reset says); DeleteGroups of a
/// share group needs it empty too, then forgets it and its configs.
pub fn share_admin_alters_and_deletes_offsets_and_groups(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let t = create_topic(&mut c, "ad", 1);
    produce_values(&mut c, "ad", 0, 10, 10);
    set_group_configs(&mut c, "gad", &[(AUTO_OFFSET_RESET, "earliest")]);
    let (mut a, _) = Member::join(broker.addr, "gad", "member-a", &["ad"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 9, 1)]
    );
    assert_eq!(a.ack(t, &[(0, 9, ACCEPT)]), 0);
    assert_eq!(share_offset(&mut c, "gad", "ad", 0), Some((10, 0)));

    let alter = |c: &mut Client, topic: &str, partition: i32, start: i64| {
        let req = AlterShareGroupOffsetsRequest::default()
            .with_group_id(group_id("gad"))
            .with_topics(vec![
                kafka_protocol::messages::alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(topic_name(topic))
                    .with_partitions(vec![
                        kafka_protocol::messages::alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                            .with_partition_index(partition)
                            .with_start_offset(start),
                    ]),
            ]);
        c.call(v(ApiKey::AlterShareGroupOffsets), &req)
    };
    let delete_offsets = |c: &mut Client, topic: &str| {
        let req = DeleteShareGroupOffsetsRequest::default()
            .with_group_id(group_id("gad"))
            .with_topics(vec![
                kafka_protocol::messages::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(topic_name(topic)),
            ]);
        c.call(v(ApiKey::DeleteShareGroupOffsets), &req)
    };

    let r = alter(&mut c, "ad", 0, 2);
    assert_eq!(
        r.error_code, NON_EMPTY_GROUP,
        "alter with a member: {:?}",
        r.error_message
    );
    let r = delete_offsets(&mut c, "ad");
    assert_eq!(
        r.error_code, NON_EMPTY_GROUP,
        "delete offsets with a member: {:?}",
        r.error_message
    );
    assert_eq!(
        delete_group(&mut c, "gad"),
        NON_EMPTY_GROUP,
        "DeleteGroups with a member"
    );
    assert_eq!(
        share_offset(&mut c, "gad", "ad", 0),
        Some((10, 0)),
        "nothing changed"
    );

    a.leave();
    let r = alter(&mut c, "ad", 0, 2);
    assert_eq!(r.error_code, 0, "alter when empty: {:?}", r.error_message);
    let p = &r.responses[0];
    assert_eq!(p.topic_id, t);
    assert_eq!(
        p.partitions[0].error_code, 0,
        "{:?}",
        p.partitions[0].error_message
    );
    let r = alter(&mut c, "no-such-topic", 0, 0);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let r = alter(&mut c, "ad", 7, 0);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        share_offset(&mut c, "gad", "ad", 0),
        Some((2, 8)),
        "start 2, lag 8"
    );
    // v0 through kafka-protocol says the same start.
    let req = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(group_id("gad"))
            .with_topics(Some(vec![
                describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(topic_name("ad"))
                    .with_partitions(vec![0]),
            ])),
    ]);
    let r = c.call(0, &req);
    let p = &r.groups[0].topics[0].partitions[0];
    assert_eq!(
        (p.partition_index, p.start_offset, p.error_code),
        (0, 2, 0),
        "v0"
    );

    let (mut b, _) = Member::join(broker.addr, "gad", "member-b", &["ad"]);
    let r = b.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(2, 9, 1)],
        "delivery restarts at the new start"
    );
    assert_eq!(b.ack(t, &[(2, 9, ACCEPT)]), 0);
    b.leave();

    let r = delete_offsets(&mut c, "ad");
    assert_eq!(
        r.error_code, 0,
        "delete offsets when empty: {:?}",
        r.error_message
    );
    assert_eq!((r.responses[0].topic_id, r.responses[0].error_code), (t, 0));
    let (code, parts) = describe_share_offsets_v1(&mut c, "gad");
    assert_eq!(code, 0);
    assert!(
        parts.iter().all(|p| p.topic != "ad" && p.topic_id != t),
        "the share-partition is forgotten: {parts:?}"
    );
    let (mut m, _) = Member::join(broker.addr, "gad", "member-c", &["ad"]);
    let r = m.fetch(part, ARRIVE_WAIT_MS);
    assert_eq!(
        got(&r, t, 0).acquired,
        vec![(0, 9, 1)],
        "from the earliest again"
    );
    m.leave();

    assert_eq!(
        delete_group(&mut c, "gad"),
        0,
        "DeleteGroups of an empty share group"
    );
    assert_eq!(listed(&mut c, "gad"), None, "deleted");
    let d = describe_configs(
        &mut c,
        v(ApiKey::DescribeConfigs),
        RESOURCE_GROUP,
        "gad",
        None,
    );
    assert_eq!(
        config_of(&d, AUTO_OFFSET_RESET),
        Some(("latest".to_string(), SOURCE_DEFAULT_CONFIG)),
        "its configs went with it"
    );
    let (code, parts) = describe_share_offsets_v1(&mut c, "gad");
    assert!(
        code != 0 || parts.is_empty(),
        "no share state left: {parts:?}"
    );
    assert_eq!(
        delete_group(&mut c, "gad"),
        GROUP_ID_NOT_FOUND,
        "deleted twice"
    );
    let d = share_describe(&mut c, "gad");
    assert_eq!(
        d.groups[0].error_code, GROUP_ID_NOT_FOUND,
        "ShareGroupDescribe after delete"
    );
}

/// `ringlog groups configs` sets, refuses (with the broker's reason) and deletes group configs;
/// `ringlog groups list` shows the group's type and `ringlog groups describe` each
/// share-partition's window and records per state.
pub fn share_groups_through_the_cli(io: IoKind) {
    let broker = TestBroker::start(io);
    let addr = broker.addr.to_string();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringlog"))
            .arg("groups")
            .args(args)
            .args(["--broker", &addr])
            .output()
            .expect("run ringlog groups");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let mut c = broker.connect();
    let t = create_topic(&mut c, "cli-t", 1);
    produce_values(&mut c, "cli-t", 0, 10, 5);
    let (ok, out, err) = cli(&[
        "configs",
        "cg",
        "--set",
        "share.auto.offset.reset=earliest",
        "--set",
        "share.delivery.count.limit=3",
    ]);
    assert!(ok, "set: {err}");
    let line = |out: &str, name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    };
    assert_eq!(
        line(&out, DELIVERY_COUNT_LIMIT),
        Some(vec![
            DELIVERY_COUNT_LIMIT.to_string(),
            "3".into(),
            "group".into()
        ]),
        "{out}"
    );
    assert_eq!(
        line(&out, LOCK_DURATION_MS),
        Some(vec![
            LOCK_DURATION_MS.to_string(),
            "30000".into(),
            "default".into()
        ]),
        "{out}"
    );
    // A bad value: refused with the broker's words, nothing changed.
    let (ok, _, err) = cli(&["configs", "cg", "--set", "share.delivery.count.limit=1"]);
    assert!(!ok);
    assert!(err.contains("Value must be at least 2"), "{err}");
    let (ok, _, err) = cli(&["configs", "cg", "--set", "nokeyvalue"]);
    assert!(!ok && err.contains("KEY=VALUE"), "{err}");
    let (_, out, _) = cli(&["configs", "cg"]);
    assert_eq!(line(&out, DELIVERY_COUNT_LIMIT).unwrap()[1], "3");

    let (mut a, _) = Member::join(broker.addr, "cg", "member-a", &["cli-t"]);
    let part: &[PartAcks<'_>] = &[(t, 0, &[])];
    assert_eq!(
        got(&a.fetch(part, ARRIVE_WAIT_MS), t, 0).acquired,
        vec![(0, 9, 1)]
    );
    assert_eq!(
        a.ack(t, &[(0, 3, ACCEPT), (4, 4, REJECT), (5, 6, RELEASE)]),
        0
    );
    let (ok, out, err) = cli(&["list"]);
    assert!(ok, "{err}");
    let listed = line(&out, "cg").expect("cg listed");
    assert_eq!(listed[1..], ["Share", "Stable", "share"], "{out}");
    let (ok, out, err) = cli(&["describe", "cg"]);
    assert!(ok, "{err}");
    assert!(out.contains("share group cg  state Stable"), "{out}");
    assert!(
        out.contains("member-a") && out.contains("partitions=[cli-t-0]"),
        "{out}"
    );
    // 0..3 accepted and 4 archived: the start moved past them to 5; end 10; 5..6 available
    // again, 7..9 in flight.
    let row = line(&out, "cli-t").expect("a row for cli-t");
    assert_eq!(row[1..], ["0", "5", "10", "2", "3", "0", "0", "0"], "{out}");
    let (ok, out, _) = cli(&["configs", "cg", "--delete", "share.delivery.count.limit"]);
    assert!(ok);
    assert_eq!(
        line(&out, DELIVERY_COUNT_LIMIT).unwrap()[1..],
        ["5", "default"]
    );
    a.leave();
}
