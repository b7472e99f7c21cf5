//! Authorization of every API (issue #20): for each request, the resources it names are checked
//! with Kafka 4.4's operations ([`Access`]); what the caller may not touch is taken out of the
//! request before its handler runs and answered with Kafka's `*_AUTHORIZATION_FAILED` code in
//! the response afterwards, so handlers never see a resource the caller may not use.
//!
//! The functions come in pairs: `X(access, &mut request) -> Denied` removes and remembers the
//! refused parts, `Denied::into(response)` adds their answers. A request refused as a whole
//! (a group API whose group may not be read, a transactional API whose id may not be written)
//! gets its refusal from [`whole`]'s functions, and the handler is not called. With
//! [`Access::everything`] (a broker open to anonymous callers, or a super user) every check is
//! skipped: no allocation, no lookup on the data path.
//!
//! The table, as Kafka's `KafkaApis` checks it (operation on resource → code when refused):
//!
//! | API | checks |
//! |---|---|
//! | Produce | TRANSACTIONAL_ID WRITE (53, every partition); TOPIC WRITE (29) |
//! | Fetch, DescribeProducers | TOPIC READ (29) |
//! | ListOffsets, Metadata, DescribeTopicPartitions | TOPIC DESCRIBE (29; hidden when all topics are asked) |
//! | Metadata auto-creation | CLUSTER CREATE or TOPIC CREATE (29) |
//! | CreateTopics | CLUSTER CREATE or TOPIC CREATE (29) |
//! | DeleteTopics, DeleteRecords | TOPIC DELETE (29) |
//! | CreatePartitions | TOPIC ALTER (29) |
//! | Describe/Alter/IncrementalAlterConfigs | TOPIC (29), GROUP (30), BROKER: CLUSTER (31) DESCRIBE_CONFIGS / ALTER_CONFIGS |
//! | FindCoordinator | GROUP DESCRIBE (30), TRANSACTIONAL_ID DESCRIBE (53) |
//! | JoinGroup, SyncGroup, Heartbeat, LeaveGroup, Consumer/ShareGroupHeartbeat | GROUP READ (30); subscribed topics DESCRIBE (29) |
//! | OffsetCommit, TxnOffsetCommit, ShareFetch, ShareAcknowledge | GROUP READ (30); TOPIC READ (29) |
//! | OffsetFetch | GROUP DESCRIBE (30); TOPIC DESCRIBE (29, hidden when all are asked) |
//! | DescribeGroups, Consumer/ShareGroupDescribe | GROUP DESCRIBE (30 per group) |
//! | ListGroups | CLUSTER DESCRIBE, else only the groups the caller may DESCRIBE |
//! | DeleteGroups, OffsetDelete | GROUP DELETE (30); OffsetDelete: TOPIC READ (29) |
//! | InitProducerId | TRANSACTIONAL_ID WRITE (53); idempotent: CLUSTER IDEMPOTENT_WRITE or WRITE on any topic (31) |
//! | AddPartitionsToTxn | TRANSACTIONAL_ID WRITE (53); TOPIC WRITE (29, the others OPERATION_NOT_ATTEMPTED) |
//! | AddOffsetsToTxn | TRANSACTIONAL_ID WRITE (53); GROUP READ (30) |
//! | EndTxn | TRANSACTIONAL_ID WRITE (53) |
//! | DescribeTransactions, ListTransactions | TRANSACTIONAL_ID DESCRIBE (53 / hidden) |
//! | Describe/Alter/DeleteShareGroupOffsets | GROUP DESCRIBE / READ / DELETE (30); TOPIC DESCRIBE / READ / READ (29) |
//! | DescribeLogDirs, ringlog's private Describe* APIs | CLUSTER DESCRIBE (31) |
//! | ACL and SCRAM admin APIs | CLUSTER DESCRIBE / ALTER (31) |

use std::collections::HashSet;

use crate::acl::{Access, Operation, ResourceType};
use crate::protocol::error as codes;
use crate::protocol::messages::*;
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Kafka's ConfigResource types.
const CONFIG_TOPIC: i8 = 2;
const CONFIG_BROKER: i8 = 4;
const CONFIG_BROKER_LOGGER: i8 = 8;
const CONFIG_GROUP: i8 = 32;

/// Takes out of `items` the ones `allowed` refuses, in order.
fn split_off<T>(items: &mut Vec<T>, mut allowed: impl FnMut(&T) -> bool) -> Vec<T> {
    let mut refused = Vec::new();
    let mut kept = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        if allowed(&item) {
            kept.push(item);
        } else {
            refused.push(item);
        }
    }
    *items = kept;
    refused
}

/// The topic name of `id` in this shard's catalog.
fn name_of(shard: &ShardState, id: uuid::Uuid) -> Option<String> {
    shard.catalog.borrow().name_of(id).map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// Produce and the data path.

/// Produce partitions refused: their answers.
#[derive(Default)]
pub struct ProduceDenied(Vec<TopicProduceResponse>);

/// Produce: a transactional id the caller may not WRITE refuses every partition (53); else each
/// topic the caller may not WRITE is refused (29).
pub fn produce(access: &Access, req: &mut ProduceRequest) -> ProduceDenied {
    if access.everything() {
        return ProduceDenied::default();
    }
    let txn_refused = req
        .transactional_id
        .as_ref()
        .is_some_and(|id| !access.transactional_id(Operation::Write, id));
    let refused = if txn_refused {
        std::mem::take(&mut req.topic_data)
    } else {
        split_off(&mut req.topic_data, |t| {
            access.topic(Operation::Write, &t.name)
        })
    };
    let code = if txn_refused {
        codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    } else {
        codes::TOPIC_AUTHORIZATION_FAILED
    };
    ProduceDenied(
        refused
            .into_iter()
            .map(|t| TopicProduceResponse {
                name: t.name,
                partition_responses: t
                    .partition_data
                    .into_iter()
                    .map(|p| PartitionProduceResponse {
                        index: p.index,
                        error_code: code,
                        base_offset: -1,
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect(),
    )
}

impl ProduceDenied {
    /// Whether nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the refused partitions' answers.
    pub fn into(self, resp: &mut ProduceResponse) {
        resp.responses.extend(self.0);
    }
}

/// ListOffsets partitions refused.
#[derive(Default)]
pub struct ListOffsetsDenied(Vec<ListOffsetsTopicResponse>);

/// ListOffsets: TOPIC DESCRIBE (29).
pub fn list_offsets(access: &Access, req: &mut ListOffsetsRequest) -> ListOffsetsDenied {
    if access.everything() {
        return ListOffsetsDenied::default();
    }
    let refused = split_off(&mut req.topics, |t| {
        access.topic(Operation::Describe, &t.name)
    });
    ListOffsetsDenied(
        refused
            .into_iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: -1,
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect(),
    )
}

impl ListOffsetsDenied {
    /// Adds the refused partitions' answers.
    pub fn into(self, resp: &mut ListOffsetsResponse) {
        resp.topics.extend(self.0);
    }
}

/// DeleteRecords partitions refused.
#[derive(Default)]
pub struct DeleteRecordsDenied(Vec<DeleteRecordsTopicResult>);

/// DeleteRecords: TOPIC DELETE (29).
pub fn delete_records(access: &Access, req: &mut DeleteRecordsRequest) -> DeleteRecordsDenied {
    if access.everything() {
        return DeleteRecordsDenied::default();
    }
    let refused = split_off(&mut req.topics, |t| {
        access.topic(Operation::Delete, &t.name)
    });
    DeleteRecordsDenied(
        refused
            .into_iter()
            .map(|t| DeleteRecordsTopicResult {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark: -1,
                        error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                    })
                    .collect(),
            })
            .collect(),
    )
}

impl DeleteRecordsDenied {
    /// Adds the refused partitions' answers.
    pub fn into(self, resp: &mut DeleteRecordsResponse) {
        resp.topics.extend(self.0);
    }
}

/// DescribeProducers partitions refused.
#[derive(Default)]
pub struct DescribeProducersDenied(Vec<DescribedProducersTopic>);

/// DescribeProducers: TOPIC READ (29).
pub fn describe_producers(
    access: &Access,
    req: &mut DescribeProducersRequest,
) -> DescribeProducersDenied {
    if access.everything() {
        return DescribeProducersDenied::default();
    }
    let refused = split_off(&mut req.topics, |t| access.topic(Operation::Read, &t.name));
    DescribeProducersDenied(
        refused
            .into_iter()
            .map(|t| DescribedProducersTopic {
                name: t.name,
                partitions: t
                    .partition_indexes
                    .into_iter()
                    .map(|p| DescribedProducersPartition {
                        partition_index: p,
                        error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect(),
    )
}

impl DescribeProducersDenied {
    /// Adds the refused partitions' answers.
    pub fn into(self, resp: &mut DescribeProducersResponse) {
        resp.topics.extend(self.0);
    }
}

/// DescribeTopicPartitions: topics the caller may not DESCRIBE are answered 29 when named and
/// left out when every topic is asked; the others report the caller's operations.
pub fn describe_topic_partitions(
    access: &Access,
    asked_all: bool,
    resp: &mut DescribeTopicPartitionsResponse,
) {
    if access.everything() {
        return;
    }
    if asked_all {
        resp.topics.retain(|t| {
            t.name
                .as_deref()
                .is_none_or(|n| access.topic(Operation::Describe, n))
        });
    }
    for t in &mut resp.topics {
        let Some(name) = t.name.as_deref() else {
            continue;
        };
        if access.topic(Operation::Describe, name) {
            t.topic_authorized_operations = access.operations(ResourceType::Topic, name);
        } else {
            t.error_code = codes::TOPIC_AUTHORIZATION_FAILED;
            t.topic_id = uuid::Uuid::nil();
            t.is_internal = false;
            t.partitions = Vec::new();
            t.topic_authorized_operations = i32::MIN;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Topic administration.

/// CreateTopics topics refused.
#[derive(Default)]
pub struct CreateTopicsDenied(Vec<CreatableTopicResult>);

/// CreateTopics: CLUSTER CREATE allows every topic; else TOPIC CREATE per name (29).
pub fn create_topics(access: &Access, req: &mut CreateTopicsRequest) -> CreateTopicsDenied {
    if access.everything() || access.cluster(Operation::Create) {
        return CreateTopicsDenied::default();
    }
    let refused = split_off(&mut req.topics, |t| {
        access.topic(Operation::Create, &t.name)
    });
    CreateTopicsDenied(
        refused
            .into_iter()
            .map(|t| CreatableTopicResult {
                name: t.name,
                error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                error_message: Some(Str::from_static("Authorization failed.")),
                topic_config_error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                num_partitions: -1,
                replication_factor: -1,
                ..Default::default()
            })
            .collect(),
    )
}

impl CreateTopicsDenied {
    /// Adds the refused topics' answers.
    pub fn into(self, resp: &mut CreateTopicsResponse) {
        resp.topics.extend(self.0);
    }
}

/// DeleteTopics topics refused.
#[derive(Default)]
pub struct DeleteTopicsDenied(Vec<DeletableTopicResult>);

/// DeleteTopics: TOPIC DELETE (29), by name (v0-5 names, v6 states) or by id (v6).
pub fn delete_topics(
    shard: &ShardState,
    access: &Access,
    req: &mut DeleteTopicsRequest,
) -> DeleteTopicsDenied {
    if access.everything() {
        return DeleteTopicsDenied::default();
    }
    let mut out: Vec<DeletableTopicResult> =
        split_off(&mut req.topic_names, |n| access.topic(Operation::Delete, n))
            .into_iter()
            .map(|name| DeletableTopicResult {
                name: Some(name),
                error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                ..Default::default()
            })
            .collect();
    let refused = split_off(&mut req.topics, |t| {
        let name = match &t.name {
            Some(n) => Some(n.to_string()),
            None => name_of(shard, t.topic_id),
        };
        // An unknown id is the handler's to answer (UNKNOWN_TOPIC_ID).
        name.is_none_or(|n| access.topic(Operation::Delete, &n))
    });
    out.extend(refused.into_iter().map(|t| DeletableTopicResult {
        name: t.name,
        topic_id: t.topic_id,
        error_code: codes::TOPIC_AUTHORIZATION_FAILED,
        ..Default::default()
    }));
    DeleteTopicsDenied(out)
}

impl DeleteTopicsDenied {
    /// Adds the refused topics' answers.
    pub fn into(self, resp: &mut DeleteTopicsResponse) {
        resp.responses.extend(self.0);
    }
}

/// CreatePartitions topics refused.
#[derive(Default)]
pub struct CreatePartitionsDenied(Vec<CreatePartitionsTopicResult>);

/// CreatePartitions: TOPIC ALTER (29).
pub fn create_partitions(
    access: &Access,
    req: &mut CreatePartitionsRequest,
) -> CreatePartitionsDenied {
    if access.everything() {
        return CreatePartitionsDenied::default();
    }
    let refused = split_off(&mut req.topics, |t| access.topic(Operation::Alter, &t.name));
    CreatePartitionsDenied(
        refused
            .into_iter()
            .map(|t| CreatePartitionsTopicResult {
                name: t.name,
                error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                error_message: None,
            })
            .collect(),
    )
}

impl CreatePartitionsDenied {
    /// Adds the refused topics' answers.
    pub fn into(self, resp: &mut CreatePartitionsResponse) {
        resp.results.extend(self.0);
    }
}

/// The refusal of one config resource, `None` when `operation` is allowed on it. Kafka answers
/// the resource's own authorization code without a message.
fn config_refusal(access: &Access, operation: Operation, kind: i8, name: &str) -> Option<i16> {
    let (allowed, code) = match kind {
        CONFIG_TOPIC => (
            access.topic(operation, name),
            codes::TOPIC_AUTHORIZATION_FAILED,
        ),
        CONFIG_GROUP => (
            access.group(operation, name),
            codes::GROUP_AUTHORIZATION_FAILED,
        ),
        CONFIG_BROKER | CONFIG_BROKER_LOGGER => (
            access.cluster(operation),
            codes::CLUSTER_AUTHORIZATION_FAILED,
        ),
        // An unknown type is the handler's to refuse (INVALID_REQUEST).
        _ => (true, codes::NONE),
    };
    (!allowed).then_some(code)
}

/// Config resources refused: (code, type, name) in request order.
#[derive(Default)]
pub struct ConfigsDenied(Vec<(i16, i8, Str)>);

/// DescribeConfigs: DESCRIBE_CONFIGS on each resource.
pub fn describe_configs(access: &Access, req: &mut DescribeConfigsRequest) -> ConfigsDenied {
    configs_denied(
        access,
        Operation::DescribeConfigs,
        &mut req.resources,
        |r| (r.resource_type, r.resource_name.clone()),
    )
}

/// AlterConfigs: ALTER_CONFIGS on each resource.
pub fn alter_configs(access: &Access, req: &mut AlterConfigsRequest) -> ConfigsDenied {
    configs_denied(access, Operation::AlterConfigs, &mut req.resources, |r| {
        (r.resource_type, r.resource_name.clone())
    })
}

/// IncrementalAlterConfigs: ALTER_CONFIGS on each resource.
pub fn incremental_alter_configs(
    access: &Access,
    req: &mut IncrementalAlterConfigsRequest,
) -> ConfigsDenied {
    configs_denied(access, Operation::AlterConfigs, &mut req.resources, |r| {
        (r.resource_type, r.resource_name.clone())
    })
}

fn configs_denied<T>(
    access: &Access,
    operation: Operation,
    resources: &mut Vec<T>,
    key: impl Fn(&T) -> (i8, Str),
) -> ConfigsDenied {
    if access.everything() {
        return ConfigsDenied::default();
    }
    let mut out = Vec::new();
    resources.retain(|r| {
        let (kind, name) = key(r);
        match config_refusal(access, operation, kind, &name) {
            None => true,
            Some(code) => {
                out.push((code, kind, name));
                false
            }
        }
    });
    ConfigsDenied(out)
}

impl ConfigsDenied {
    /// Adds the refused resources' answers to a DescribeConfigs response.
    pub fn into_describe(self, resp: &mut DescribeConfigsResponse) {
        resp.results.extend(
            self.0
                .into_iter()
                .map(|(code, kind, name)| DescribeConfigsResult {
                    error_code: code,
                    error_message: None,
                    resource_type: kind,
                    resource_name: name,
                    configs: Vec::new(),
                }),
        );
    }

    /// Adds the refused resources' answers to an AlterConfigs response.
    pub fn into_alter(self, resp: &mut AlterConfigsResponse) {
        resp.responses
            .extend(
                self.0
                    .into_iter()
                    .map(|(code, kind, name)| AlterConfigsResourceResponse {
                        error_code: code,
                        error_message: None,
                        resource_type: kind,
                        resource_name: name,
                    }),
            );
    }

    /// Adds the refused resources' answers to an IncrementalAlterConfigs response.
    pub fn into_incremental(self, resp: &mut IncrementalAlterConfigsResponse) {
        resp.responses
            .extend(self.0.into_iter().map(|(code, kind, name)| {
                IncrementalAlterConfigsResourceResponse {
                    error_code: code,
                    error_message: None,
                    resource_type: kind,
                    resource_name: name,
                }
            }));
    }
}

// ---------------------------------------------------------------------------------------------
// Groups.

/// FindCoordinator: GROUP DESCRIBE for groups and share groups (30), TRANSACTIONAL_ID DESCRIBE
/// for transactional ids (53); applied to the handler's answer (finding a coordinator changes
/// nothing).
pub fn find_coordinator(access: &Access, key_type: i8, resp: &mut FindCoordinatorResponse) {
    if access.everything() {
        return;
    }
    let allowed = |key: &str| match key_type {
        1 => access.transactional_id(Operation::Describe, key),
        _ => access.group(Operation::Describe, key),
    };
    let code = match key_type {
        1 => codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        _ => codes::GROUP_AUTHORIZATION_FAILED,
    };
    for c in &mut resp.coordinators {
        if !allowed(&c.key) {
            c.error_code = code;
            c.error_message = None;
            c.node_id = -1;
            c.host = Str::from_static("");
            c.port = -1;
        }
    }
}

/// FindCoordinator before v4 (one key, answered in the top-level fields).
pub fn find_coordinator_one(
    access: &Access,
    key_type: i8,
    key: &str,
) -> Option<FindCoordinatorResponse> {
    let allowed = match key_type {
        1 => access.transactional_id(Operation::Describe, key),
        _ => access.group(Operation::Describe, key),
    };
    (!allowed).then(|| FindCoordinatorResponse {
        error_code: match key_type {
            1 => codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            _ => codes::GROUP_AUTHORIZATION_FAILED,
        },
        node_id: -1,
        host: Str::from_static(""),
        port: -1,
        ..Default::default()
    })
}

/// Group ids refused, in request order, for the describe APIs.
#[derive(Default)]
pub struct GroupsDenied(Vec<Str>);

/// DescribeGroups / ConsumerGroupDescribe / ShareGroupDescribe: GROUP DESCRIBE per group.
pub fn describe_groups(access: &Access, groups: &mut Vec<Str>) -> GroupsDenied {
    if access.everything() {
        return GroupsDenied::default();
    }
    GroupsDenied(split_off(groups, |g| access.group(Operation::Describe, g)))
}

/// DeleteGroups: GROUP DELETE per group.
pub fn delete_groups(access: &Access, groups: &mut Vec<Str>) -> GroupsDenied {
    if access.everything() {
        return GroupsDenied::default();
    }
    GroupsDenied(split_off(groups, |g| access.group(Operation::Delete, g)))
}

/// A group in a describe answer (DescribeGroups, ConsumerGroupDescribe, ShareGroupDescribe).
pub trait DescribedGroupEntry {
    /// Its group id.
    fn group_id(&self) -> &str;
    /// Sets its `authorized_operations`.
    fn set_authorized_operations(&mut self, bits: i32);
    /// The answer for a group the caller may not describe.
    fn refused(group_id: Str) -> Self;
}

macro_rules! described_group_entry {
    ($($ty:ty),*) => {$(
        impl DescribedGroupEntry for $ty {
            fn group_id(&self) -> &str {
                &self.group_id
            }
            fn set_authorized_operations(&mut self, bits: i32) {
                self.authorized_operations = bits;
            }
            fn refused(group_id: Str) -> Self {
                Self {
                    error_code: codes::GROUP_AUTHORIZATION_FAILED,
                    group_id,
                    ..Default::default()
                }
            }
        }
    )*};
}
described_group_entry!(DescribedGroup, ConsumerDescribedGroup, ShareDescribedGroup);

impl GroupsDenied {
    /// Adds the refused groups' answers to a describe answer's groups, and fills the described
    /// ones' operations when asked (on an open broker too: every operation).
    pub fn into_described<G: DescribedGroupEntry>(
        self,
        access: &Access,
        asked_ops: bool,
        groups: &mut Vec<G>,
    ) {
        if asked_ops {
            for g in groups.iter_mut() {
                let bits = access.operations(ResourceType::Group, g.group_id());
                g.set_authorized_operations(bits);
            }
        }
        groups.extend(self.0.into_iter().map(G::refused));
    }

    /// Adds the refused groups' answers to a DeleteGroups response.
    pub fn into_delete(self, resp: &mut DeleteGroupsResponse) {
        resp.results
            .extend(self.0.into_iter().map(|group_id| DeletableGroupResult {
                group_id,
                error_code: codes::GROUP_AUTHORIZATION_FAILED,
            }));
    }
}

/// ListGroups: every group with CLUSTER DESCRIBE, else only those the caller may DESCRIBE.
pub fn list_groups(access: &Access, resp: &mut ListGroupsResponse) {
    if access.everything() || access.cluster(Operation::Describe) {
        return;
    }
    resp.groups
        .retain(|g| access.group(Operation::Describe, &g.group_id));
}

/// OffsetCommit partitions refused.
#[derive(Default)]
pub struct OffsetCommitDenied(Vec<OffsetCommitResponseTopic>);

/// OffsetCommit: GROUP READ refuses every partition (30); else TOPIC READ per topic (29).
pub fn offset_commit(access: &Access, req: &mut OffsetCommitRequest) -> OffsetCommitDenied {
    if access.everything() {
        return OffsetCommitDenied::default();
    }
    let (refused, code) = if !access.group(Operation::Read, &req.group_id) {
        (
            std::mem::take(&mut req.topics),
            codes::GROUP_AUTHORIZATION_FAILED,
        )
    } else {
        (
            split_off(&mut req.topics, |t| access.topic(Operation::Read, &t.name)),
            codes::TOPIC_AUTHORIZATION_FAILED,
        )
    };
    OffsetCommitDenied(
        refused
            .into_iter()
            .map(|t| OffsetCommitResponseTopic {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code,
                    })
                    .collect(),
            })
            .collect(),
    )
}

impl OffsetCommitDenied {
    /// Whether the request had something left for the handler.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the refused partitions' answers.
    pub fn into(self, resp: &mut OffsetCommitResponse) {
        resp.topics.extend(self.0);
    }
}

/// What OffsetFetch's check needs of the request, taken before the handler consumes it: per
/// group (one before v8), its id and whether every topic was asked. Empty on an open broker.
pub fn offset_fetch_asked(
    access: &Access,
    version: i16,
    req: &OffsetFetchRequest,
) -> Vec<(Str, bool)> {
    if access.everything() {
        Vec::new()
    } else if !OffsetFetchRequest::carries("groups", version) {
        vec![(req.group_id.clone(), req.topics.is_none())]
    } else {
        req.groups
            .iter()
            .map(|g| (g.group_id.clone(), g.topics.is_none()))
            .collect()
    }
}

/// Answers 29 on the partitions of every topic the caller may not DESCRIBE, and leaves those
/// topics out when every topic was asked (OffsetFetch's two response layouts).
macro_rules! mask_topics {
    ($access:expr, $all:expr, $topics:expr) => {{
        if $all {
            $topics.retain(|t| $access.topic(Operation::Describe, &t.name));
        }
        for t in $topics.iter_mut() {
            if !$access.topic(Operation::Describe, &t.name) {
                for p in &mut t.partitions {
                    p.error_code = codes::TOPIC_AUTHORIZATION_FAILED;
                    p.committed_offset = -1;
                    p.committed_leader_epoch = -1;
                    p.metadata = None;
                }
            }
        }
    }};
}

/// OffsetFetch: groups the caller may not DESCRIBE are refused (30), whole; partitions of topics
/// it may not DESCRIBE are answered 29 when named and left out when every topic is asked.
/// Applied to the handler's answer (a fetch of offsets changes nothing); `asked` is
/// [`offset_fetch_asked`]'s.
pub fn offset_fetch(
    access: &Access,
    version: i16,
    asked: &[(Str, bool)],
    resp: &mut OffsetFetchResponse,
) {
    if access.everything() {
        return;
    }
    if !OffsetFetchRequest::carries("groups", version) {
        let Some((group, all)) = asked.first() else {
            return;
        };
        if !access.group(Operation::Describe, group) {
            *resp = OffsetFetchResponse {
                error_code: codes::GROUP_AUTHORIZATION_FAILED,
                ..Default::default()
            };
            return;
        }
        mask_topics!(access, *all, resp.topics);
        return;
    }
    for (g, (_, all)) in resp.groups.iter_mut().zip(asked) {
        if !access.group(Operation::Describe, &g.group_id) {
            g.error_code = codes::GROUP_AUTHORIZATION_FAILED;
            g.topics = Vec::new();
            continue;
        }
        mask_topics!(access, *all, g.topics);
    }
}

/// OffsetDelete: GROUP DELETE refuses the request (30); else TOPIC READ per topic (29).
pub fn offset_delete(
    access: &Access,
    req: &mut OffsetDeleteRequest,
) -> Result<Vec<OffsetDeleteResponseTopic>, OffsetDeleteResponse> {
    if access.everything() {
        return Ok(Vec::new());
    }
    if !access.group(Operation::Delete, &req.group_id) {
        return Err(OffsetDeleteResponse {
            error_code: codes::GROUP_AUTHORIZATION_FAILED,
            ..Default::default()
        });
    }
    Ok(
        split_off(&mut req.topics, |t| access.topic(Operation::Read, &t.name))
            .into_iter()
            .map(|t| OffsetDeleteResponseTopic {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// The subscribed topics of a KIP-848 or share heartbeat the caller may not DESCRIBE, as
/// Kafka's message names them; `None` when every one may be described.
fn subscription_refused(access: &Access, topics: Option<&Vec<Str>>) -> Option<String> {
    let refused: Vec<&str> = topics?
        .iter()
        .map(|t| &**t)
        .filter(|t| !access.topic(Operation::Describe, t))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    (!refused.is_empty()).then(|| {
        format!(
            "The group has subscribed to topics that are not authorized: {}",
            refused.join(", ")
        )
    })
}

/// ConsumerGroupHeartbeat: GROUP READ (30), then DESCRIBE on every subscribed topic (29).
pub fn consumer_group_heartbeat(
    access: &Access,
    req: &ConsumerGroupHeartbeatRequest,
) -> Option<ConsumerGroupHeartbeatResponse> {
    if access.everything() {
        return None;
    }
    let (code, message) = if !access.group(Operation::Read, &req.group_id) {
        (codes::GROUP_AUTHORIZATION_FAILED, None)
    } else {
        let m = subscription_refused(access, req.subscribed_topic_names.as_ref())?;
        (codes::TOPIC_AUTHORIZATION_FAILED, Some(Str::from(m)))
    };
    Some(ConsumerGroupHeartbeatResponse {
        error_code: code,
        error_message: message,
        ..Default::default()
    })
}

/// ShareGroupHeartbeat: GROUP READ (30), then DESCRIBE on every subscribed topic (29).
pub fn share_group_heartbeat(
    access: &Access,
    req: &ShareGroupHeartbeatRequest,
) -> Option<ShareGroupHeartbeatResponse> {
    if access.everything() {
        return None;
    }
    let (code, message) = if !access.group(Operation::Read, &req.group_id) {
        (codes::GROUP_AUTHORIZATION_FAILED, None)
    } else {
        let m = subscription_refused(access, req.subscribed_topic_names.as_ref())?;
        (codes::TOPIC_AUTHORIZATION_FAILED, Some(Str::from(m)))
    };
    Some(ShareGroupHeartbeatResponse {
        error_code: code,
        error_message: message,
        ..Default::default()
    })
}

/// ShareAcknowledge partitions refused (TOPIC READ, by topic id).
#[derive(Default)]
pub struct ShareAcknowledgeDenied(Vec<ShareAcknowledgeTopicResponse>);

/// ShareAcknowledge: GROUP READ refuses the request (30, top level); else TOPIC READ per topic
/// (29). An unknown topic id is the handler's to answer.
pub fn share_acknowledge(
    shard: &ShardState,
    access: &Access,
    req: &mut ShareAcknowledgeRequest,
) -> Result<ShareAcknowledgeDenied, ShareAcknowledgeResponse> {
    if access.everything() {
        return Ok(ShareAcknowledgeDenied::default());
    }
    // A missing group id is the handler's to refuse (INVALID_REQUEST).
    let group = req.group_id.as_deref().filter(|g| !g.is_empty());
    if group.is_some_and(|g| !access.group(Operation::Read, g)) {
        return Err(ShareAcknowledgeResponse {
            error_code: codes::GROUP_AUTHORIZATION_FAILED,
            ..Default::default()
        });
    }
    let refused = split_off(&mut req.topics, |t| {
        name_of(shard, t.topic_id).is_none_or(|n| access.topic(Operation::Read, &n))
    });
    Ok(ShareAcknowledgeDenied(
        refused
            .into_iter()
            .map(|t| ShareAcknowledgeTopicResponse {
                topic_id: t.topic_id,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| ShareAcknowledgePartitionData {
                        partition_index: p.partition_index,
                        error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect(),
    ))
}

impl ShareAcknowledgeDenied {
    /// Adds the refused partitions' answers.
    pub fn into(self, resp: &mut ShareAcknowledgeResponse) {
        resp.responses.extend(self.0);
    }
}

/// The topic ids of a ShareFetch the caller may not READ (the handler answers their partitions
/// 29). Unknown ids are the handler's to answer.
pub fn share_fetch_refused_topics(
    shard: &ShardState,
    access: &Access,
    req: &ShareFetchRequest,
) -> HashSet<uuid::Uuid> {
    if access.everything() {
        return HashSet::new();
    }
    req.topics
        .iter()
        .map(|t| t.topic_id)
        .filter(|id| name_of(shard, *id).is_some_and(|n| !access.topic(Operation::Read, &n)))
        .collect()
}

/// Describe/Alter/DeleteShareGroupOffsets: the group operation (30), then the topic operation
/// per topic (29), applied to the handler's answer for Describe (nothing changes) and before
/// the handler for Alter and Delete.
pub fn describe_share_group_offsets(access: &Access, resp: &mut DescribeShareGroupOffsetsResponse) {
    if access.everything() {
        return;
    }
    for g in &mut resp.groups {
        if !access.group(Operation::Describe, &g.group_id) {
            g.error_code = codes::GROUP_AUTHORIZATION_FAILED;
            g.error_message = None;
            g.topics = Vec::new();
            continue;
        }
        g.topics
            .retain(|t| access.topic(Operation::Describe, &t.topic_name));
    }
}

/// AlterShareGroupOffsets: GROUP READ (30), TOPIC READ (29).
pub fn alter_share_group_offsets(
    access: &Access,
    req: &mut AlterShareGroupOffsetsRequest,
) -> Result<Vec<AlterShareGroupOffsetsResponseTopic>, AlterShareGroupOffsetsResponse> {
    if access.everything() {
        return Ok(Vec::new());
    }
    if !access.group(Operation::Read, &req.group_id) {
        return Err(AlterShareGroupOffsetsResponse {
            error_code: codes::GROUP_AUTHORIZATION_FAILED,
            ..Default::default()
        });
    }
    Ok(split_off(&mut req.topics, |t| {
        access.topic(Operation::Read, &t.topic_name)
    })
    .into_iter()
    .map(|t| AlterShareGroupOffsetsResponseTopic {
        topic_name: t.topic_name,
        topic_id: uuid::Uuid::nil(),
        partitions: t
            .partitions
            .into_iter()
            .map(|p| AlterShareGroupOffsetsResponsePartition {
                partition_index: p.partition_index,
                error_code: codes::TOPIC_AUTHORIZATION_FAILED,
                error_message: None,
            })
            .collect(),
    })
    .collect())
}

/// DeleteShareGroupOffsets: GROUP DELETE (30), TOPIC READ (29).
pub fn delete_share_group_offsets(
    access: &Access,
    req: &mut DeleteShareGroupOffsetsRequest,
) -> Result<Vec<DeleteShareGroupOffsetsResponseTopic>, DeleteShareGroupOffsetsResponse> {
    if access.everything() {
        return Ok(Vec::new());
    }
    if !access.group(Operation::Delete, &req.group_id) {
        return Err(DeleteShareGroupOffsetsResponse {
            error_code: codes::GROUP_AUTHORIZATION_FAILED,
            ..Default::default()
        });
    }
    Ok(split_off(&mut req.topics, |t| {
        access.topic(Operation::Read, &t.topic_name)
    })
    .into_iter()
    .map(|t| DeleteShareGroupOffsetsResponseTopic {
        topic_name: t.topic_name,
        topic_id: uuid::Uuid::nil(),
        error_code: codes::TOPIC_AUTHORIZATION_FAILED,
        error_message: None,
    })
    .collect())
}

// ---------------------------------------------------------------------------------------------
// Transactions.

/// InitProducerId: TRANSACTIONAL_ID WRITE (53); without a transactional id, CLUSTER
/// IDEMPOTENT_WRITE or WRITE on any topic (31), as Kafka since KIP-679.
pub fn init_producer_id(access: &Access, req: &InitProducerIdRequest) -> Option<i16> {
    if access.everything() {
        return None;
    }
    match req.transactional_id.as_deref() {
        Some(id) if !id.is_empty() => (!access.transactional_id(Operation::Write, id))
            .then_some(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        _ => (!access.cluster(Operation::IdempotentWrite)
            && !access.any(Operation::Write, ResourceType::Topic))
        .then_some(codes::CLUSTER_AUTHORIZATION_FAILED),
    }
}

/// One transaction's AddPartitionsToTxn check: `None` when every partition may be added, else
/// the whole transaction's answer (53 everywhere; or 29 for the topics the caller may not
/// WRITE and OPERATION_NOT_ATTEMPTED for the others, as Kafka).
pub fn add_partitions_refusal(
    access: &Access,
    transactional_id: &str,
    topics: &[AddPartitionsToTxnTopic],
) -> Option<Vec<AddPartitionsToTxnTopicResult>> {
    if access.everything() {
        return None;
    }
    let txn_ok = access.transactional_id(Operation::Write, transactional_id);
    let refused: HashSet<&str> = topics
        .iter()
        .filter(|t| !access.topic(Operation::Write, &t.name))
        .map(|t| &*t.name)
        .collect();
    if txn_ok && refused.is_empty() {
        return None;
    }
    Some(
        topics
            .iter()
            .map(|t| {
                let code = if !txn_ok {
                    codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                } else if refused.contains(&*t.name) {
                    codes::TOPIC_AUTHORIZATION_FAILED
                } else {
                    codes::OPERATION_NOT_ATTEMPTED
                };
                AddPartitionsToTxnTopicResult {
                    name: t.name.clone(),
                    results_by_partition: t
                        .partitions
                        .iter()
                        .map(|p| AddPartitionsToTxnPartitionResult {
                            partition_index: *p,
                            partition_error_code: code,
                        })
                        .collect(),
                }
            })
            .collect(),
    )
}

/// AddOffsetsToTxn: TRANSACTIONAL_ID WRITE (53), GROUP READ (30).
pub fn add_offsets_to_txn(access: &Access, req: &AddOffsetsToTxnRequest) -> Option<i16> {
    if access.everything() {
        return None;
    }
    if !access.transactional_id(Operation::Write, &req.transactional_id) {
        return Some(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    (!access.group(Operation::Read, &req.group_id)).then_some(codes::GROUP_AUTHORIZATION_FAILED)
}

/// EndTxn: TRANSACTIONAL_ID WRITE (53).
pub fn end_txn(access: &Access, req: &EndTxnRequest) -> Option<i16> {
    (!access.transactional_id(Operation::Write, &req.transactional_id))
        .then_some(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
}

/// TxnOffsetCommit partitions refused.
#[derive(Default)]
pub struct TxnOffsetCommitDenied(Vec<TxnOffsetCommitResponseTopic>);

/// TxnOffsetCommit: TRANSACTIONAL_ID WRITE (53) and GROUP READ (30) refuse every partition;
/// else TOPIC READ per topic (29).
pub fn txn_offset_commit(
    access: &Access,
    req: &mut TxnOffsetCommitRequest,
) -> TxnOffsetCommitDenied {
    if access.everything() {
        return TxnOffsetCommitDenied::default();
    }
    let whole = if !access.transactional_id(Operation::Write, &req.transactional_id) {
        Some(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !access.group(Operation::Read, &req.group_id) {
        Some(codes::GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    let (refused, code) = match whole {
        Some(code) => (std::mem::take(&mut req.topics), code),
        None => (
            split_off(&mut req.topics, |t| access.topic(Operation::Read, &t.name)),
            codes::TOPIC_AUTHORIZATION_FAILED,
        ),
    };
    TxnOffsetCommitDenied(
        refused
            .into_iter()
            .map(|t| TxnOffsetCommitResponseTopic {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| TxnOffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code,
                    })
                    .collect(),
            })
            .collect(),
    )
}

impl TxnOffsetCommitDenied {
    /// Adds the refused partitions' answers.
    pub fn into(self, resp: &mut TxnOffsetCommitResponse) {
        resp.topics.extend(self.0);
    }
}

/// DescribeTransactions: TRANSACTIONAL_ID DESCRIBE per id (53); the partitions of topics the
/// caller may not DESCRIBE are left out of the allowed ones, as Kafka.
pub fn describe_transactions(access: &Access, resp: &mut DescribeTransactionsResponse) {
    if access.everything() {
        return;
    }
    for t in &mut resp.transaction_states {
        if !access.transactional_id(Operation::Describe, &t.transactional_id) {
            *t = DescribedTransaction {
                error_code: codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                transactional_id: std::mem::take(&mut t.transactional_id),
                ..Default::default()
            };
            continue;
        }
        t.topics
            .retain(|topic| access.topic(Operation::Describe, &topic.topic));
    }
}

/// ListTransactions: only the ids the caller may DESCRIBE.
pub fn list_transactions(access: &Access, resp: &mut ListTransactionsResponse) {
    if access.everything() {
        return;
    }
    resp.transaction_states
        .retain(|t| access.transactional_id(Operation::Describe, &t.transactional_id));
}
