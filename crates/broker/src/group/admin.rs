//! Group administration over the Kafka protocol, for `ringlog groups ...`: a tiny blocking
//! client (one connection, one request at a time, fixed API versions this broker advertises).
//!
//! `reset_offsets` is RocketMQ's "backtracking" for a whole group: it commits, for every
//! partition of a topic, the earliest, latest or first-at-time offset. It is refused while the
//! group has members (their positions would overwrite ours at their next commit), exactly as
//! Kafka's `kafka-consumer-groups --reset-offsets` refuses an active group; the broker enforces
//! it too (a generation -1 commit to a non-empty group gets UNKNOWN_MEMBER_ID).
//!
//! # Invariants
//! - Every wait is bounded by [`ADMIN_TIMEOUT_MS`]; every response is checked for its
//!   correlation id.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;

use crate::protocol::error as code;
use crate::protocol::frame::{
    check_frame, split_frame, FrameLimits, FrameStatus, SIZE_PREFIX_BYTES,
};
use crate::protocol::messages::*;
use crate::protocol::wire::Str;
use crate::protocol::ApiKey;
use crate::protocol::{decode_response, encode_request, ApiRequest};

/// The client id the admin requests carry.
const CLIENT_ID: &str = "ringlog-cli";

/// Socket read/write timeout of admin requests.
pub const ADMIN_TIMEOUT_MS: u64 = 30_000;
/// Largest response accepted (a ListGroups of many groups fits easily).
pub const ADMIN_RESPONSE_BYTES_MAX: u32 = 64 << 20;

/// Where `reset-offsets` moves a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetTo {
    /// Log start of each partition.
    Earliest,
    /// High watermark of each partition (skip everything).
    Latest,
    /// First offset whose timestamp is at or after this time (ms since the epoch); latest when
    /// no record is that new.
    Time(i64),
}

/// "topic-partition" names of an assignment given as (topic, partitions) pairs.
fn partition_names<'a>(tps: impl Iterator<Item = (&'a Str, &'a [i32])>) -> Vec<String> {
    tps.flat_map(|(t, ps)| ps.iter().map(move |p| format!("{t}-{p}")))
        .collect()
}

/// A share group as `groups describe` prints it.
#[derive(Debug)]
pub struct ShareGroupDescription {
    /// The group id.
    pub group_id: String,
    /// Empty or Stable.
    pub state: String,
    /// The group epoch.
    pub epoch: i32,
    /// member id, client id, assigned "topic-partition" list.
    pub members: Vec<(String, String, Vec<String>)>,
    /// Each share-partition's window and counts.
    pub partitions: Vec<DescribedSharePartition>,
}

/// A group as `groups describe` prints it.
#[derive(Debug)]
#[allow(missing_docs)] // names as DescribeGroups spells them
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    /// member id, client id, instance id, assigned "topic-partition" list.
    pub members: Vec<(String, String, Option<String>, Vec<String>)>,
    /// topic, partition, committed offset, high watermark.
    pub offsets: Vec<(String, i32, i64, i64)>,
}

/// What an admin socket operation was doing when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminOp {
    /// Connecting.
    Connect,
    /// Setting the socket timeouts.
    SetTimeout,
    /// Sending a request of this API or reading its response.
    Request(ApiKey),
}

/// Why an admin request failed. `Display` is what `ringlog groups` prints.
#[derive(Debug)]
pub enum AdminError {
    /// A socket operation on the connection to `addr` failed.
    Io {
        /// The broker address.
        addr: String,
        /// What was being done.
        op: AdminOp,
        /// The OS error.
        source: io::Error,
    },
    /// A request could not be encoded, or a response was not a valid answer.
    Protocol {
        /// What was being encoded or decoded, e.g. `"ListGroups response"`.
        context: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The broker answered with a Kafka error code.
    Kafka {
        /// What was asked, e.g. `"OffsetFetch my-group"`.
        context: String,
        /// The error code.
        code: i16,
        /// What the user may do about it, if anything specific.
        hint: Option<&'static str>,
    },
    /// The broker refused with a Kafka error code and said why.
    Refused {
        /// What was asked.
        context: String,
        /// The error code.
        code: i16,
        /// The broker's message.
        message: String,
    },
    /// The group has live members: its offsets are not reset (their next commit would win).
    GroupActive {
        /// The group.
        group: String,
        /// How many members it has.
        members: usize,
        /// Its state.
        state: String,
    },
    /// The command was given arguments it cannot use.
    InvalidArgument(String),
}

impl AdminError {
    fn protocol(context: impl Into<String>, detail: impl fmt::Display) -> AdminError {
        AdminError::Protocol {
            context: context.into(),
            detail: detail.to_string(),
        }
    }

    fn kafka(context: impl Into<String>, code: i16) -> AdminError {
        AdminError::Kafka {
            context: context.into(),
            code,
            hint: None,
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Io { addr, op, source } => match op {
                AdminOp::Connect => write!(f, "connect to {addr}: {source}"),
                AdminOp::SetTimeout => write!(f, "set timeouts on {addr}: {source}"),
                AdminOp::Request(api) => write!(f, "{api:?}: {source}"),
            },
            AdminError::Protocol { context, detail } => write!(f, "{context}: {detail}"),
            AdminError::Kafka {
                context,
                code,
                hint,
            } => {
                write!(f, "{context}: error {code}")?;
                if let Some(name) = code::name(*code) {
                    write!(f, " ({name})")?;
                }
                match hint {
                    Some(hint) => write!(f, ", {hint}"),
                    None => Ok(()),
                }
            }
            AdminError::GroupActive {
                group,
                members,
                state,
            } => write!(
                f,
                "group {group} has {members} live member(s) (state {state}): stop its consumers \
                 first; their next commit would overwrite the reset"
            ),
            AdminError::InvalidArgument(what) => write!(f, "{what}"),
            AdminError::Refused {
                context,
                code,
                message,
            } => {
                write!(f, "{context}: error {code}")?;
                if let Some(name) = code::name(*code) {
                    write!(f, " ({name})")?;
                }
                write!(f, ": {message}")
            }
        }
    }
}

impl std::error::Error for AdminError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AdminError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A blocking admin connection.
pub struct AdminClient {
    stream: TcpStream,
    addr: String,
    correlation_id: i32,
}

impl AdminClient {
    /// Connect to `addr` (host:port).
    pub fn connect(addr: &str) -> Result<AdminClient, AdminError> {
        let io = |op| {
            move |source| AdminError::Io {
                addr: addr.to_string(),
                op,
                source,
            }
        };
        let stream = TcpStream::connect(addr).map_err(io(AdminOp::Connect))?;
        let t = Some(Duration::from_millis(ADMIN_TIMEOUT_MS));
        stream
            .set_read_timeout(t)
            .map_err(io(AdminOp::SetTimeout))?;
        stream
            .set_write_timeout(t)
            .map_err(io(AdminOp::SetTimeout))?;
        Ok(AdminClient {
            stream,
            addr: addr.to_string(),
            correlation_id: 0,
        })
    }

    fn call<R: ApiRequest>(&mut self, version: i16, req: &R) -> Result<R::Response, AdminError> {
        let api_key = R::KEY;
        self.correlation_id += 1;
        let mut frame = BytesMut::new();
        encode_request(
            req,
            version,
            self.correlation_id,
            Some(CLIENT_ID),
            &mut frame,
        )
        .map_err(|e| AdminError::protocol(format!("encoding {api_key:?}"), e))?;
        let addr = &self.addr;
        let io = |source| AdminError::Io {
            addr: addr.clone(),
            op: AdminOp::Request(api_key),
            source,
        };
        self.stream.write_all(&frame).map_err(io)?;
        // One request at a time: read exactly the prefix, then exactly the body it announces.
        let limits = FrameLimits {
            body_bytes_max: ADMIN_RESPONSE_BYTES_MAX,
        };
        let mut buf = BytesMut::new();
        let body = loop {
            match split_frame(&mut buf, limits) {
                Ok(Some(body)) => break body,
                Ok(None) => {}
                Err(e) => return Err(AdminError::protocol(format!("{api_key:?} response"), e)),
            }
            let want = match check_frame(&buf, limits) {
                Ok(FrameStatus::Incomplete {
                    frame_bytes: Some(n),
                }) => n,
                _ => SIZE_PREFIX_BYTES,
            };
            let have = buf.len();
            buf.resize(want, 0);
            self.stream.read_exact(&mut buf[have..]).map_err(io)?;
        };
        let (correlation_id, resp) = decode_response::<R>(body, version)
            .map_err(|e| AdminError::protocol(format!("{api_key:?} response"), e))?;
        if correlation_id != self.correlation_id {
            return Err(AdminError::protocol(
                format!("{api_key:?} response"),
                format_args!(
                    "correlation id mismatch (got {correlation_id}, expected {})",
                    self.correlation_id
                ),
            ));
        }
        Ok(resp)
    }

    /// Every group: (group id, protocol type, state, group type: Classic, Consumer, Share).
    pub fn list_groups(&mut self) -> Result<Vec<(String, String, String, String)>, AdminError> {
        let resp = self.call(5, &ListGroupsRequest::default())?;
        if resp.error_code != code::NONE {
            return Err(AdminError::kafka("ListGroups failed", resp.error_code));
        }
        let mut out: Vec<_> = resp
            .groups
            .into_iter()
            .map(|g| {
                (
                    g.group_id.to_string(),
                    g.protocol_type.to_string(),
                    g.group_state.to_string(),
                    g.group_type.to_string(),
                )
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The type of `group` ("Classic", "Consumer", "Share"), or `None` when no group has it.
    pub fn group_type(&mut self, group: &str) -> Result<Option<String>, AdminError> {
        Ok(self
            .list_groups()?
            .into_iter()
            .find(|g| g.0 == group)
            .map(|g| g.3))
    }

    /// A group's configs (DescribeConfigs on the GROUP resource): (name, value, whether it
    /// was set on the group rather than defaulted).
    pub fn group_configs(
        &mut self,
        group: &str,
    ) -> Result<Vec<(String, String, bool)>, AdminError> {
        let req = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: RESOURCE_TYPE_GROUP,
                resource_name: Str::from(group),
                configuration_keys: None,
            }],
            include_synonyms: false,
            include_documentation: false,
        };
        let r = self
            .call(4, &req)?
            .results
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::protocol("DescribeConfigs", "empty answer"))?;
        if r.error_code != code::NONE {
            return Err(AdminError::Refused {
                context: format!("DescribeConfigs {group}"),
                code: r.error_code,
                message: r.error_message.map(|m| m.to_string()).unwrap_or_default(),
            });
        }
        Ok(r.configs
            .into_iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.value.map(|v| v.to_string()).unwrap_or_default(),
                    c.config_source == CONFIG_SOURCE_GROUP_CONFIG,
                )
            })
            .collect())
    }

    /// Sets (`Some`) or deletes (`None`) group configs, all or none
    /// (IncrementalAlterConfigs on the GROUP resource).
    pub fn alter_group_configs(
        &mut self,
        group: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<(), AdminError> {
        let req = IncrementalAlterConfigsRequest {
            resources: vec![IncrementalAlterConfigsResource {
                resource_type: RESOURCE_TYPE_GROUP,
                resource_name: Str::from(group),
                configs: changes
                    .iter()
                    .map(|(name, value)| IncrementalAlterableConfig {
                        name: Str::from(name.as_str()),
                        config_operation: if value.is_some() {
                            CONFIG_OPERATION_SET
                        } else {
                            CONFIG_OPERATION_DELETE
                        },
                        value: value.as_deref().map(Str::from),
                    })
                    .collect(),
            }],
            validate_only: false,
        };
        let r = self
            .call(1, &req)?
            .responses
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::protocol("IncrementalAlterConfigs", "empty answer"))?;
        if r.error_code != code::NONE {
            return Err(AdminError::Refused {
                context: format!("IncrementalAlterConfigs {group}"),
                code: r.error_code,
                message: r.error_message.map(|m| m.to_string()).unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// A share group: its members and assignments (ShareGroupDescribe), and each
    /// share-partition's window and delivery-state counts (ringlog's DescribeShareState).
    pub fn describe_share_group(
        &mut self,
        group: &str,
    ) -> Result<ShareGroupDescription, AdminError> {
        let req = ShareGroupDescribeRequest {
            group_ids: vec![Str::from(group)],
            include_authorized_operations: false,
        };
        let g = self
            .call(1, &req)?
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::protocol("ShareGroupDescribe", "empty answer"))?;
        if g.error_code != code::NONE {
            return Err(AdminError::kafka(
                format!("ShareGroupDescribe {group}"),
                g.error_code,
            ));
        }
        let state = self.call(
            0,
            &DescribeShareStateRequest {
                group_id: Str::from(group),
            },
        )?;
        if state.error_code != code::NONE {
            return Err(AdminError::kafka(
                format!("DescribeShareState {group}"),
                state.error_code,
            ));
        }
        Ok(ShareGroupDescription {
            group_id: group.to_string(),
            state: g.group_state.to_string(),
            epoch: g.group_epoch,
            members: g
                .members
                .iter()
                .map(|m| {
                    let tps = m.assignment.topic_partitions.iter();
                    let parts = partition_names(tps.map(|t| (&t.topic_name, &t.partitions[..])));
                    (m.member_id.to_string(), m.client_id.to_string(), parts)
                })
                .collect(),
            partitions: state.partitions,
        })
    }

    /// A KIP-848 consumer group: members with their current assignments
    /// (ConsumerGroupDescribe) and committed offsets with the partitions' ends.
    pub fn describe_consumer_group(&mut self, group: &str) -> Result<GroupDescription, AdminError> {
        let req = ConsumerGroupDescribeRequest {
            group_ids: vec![Str::from(group)],
            include_authorized_operations: false,
        };
        let g = self
            .call(1, &req)?
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::protocol("ConsumerGroupDescribe", "empty answer"))?;
        if g.error_code != code::NONE {
            return Err(AdminError::kafka(
                format!("ConsumerGroupDescribe {group}"),
                g.error_code,
            ));
        }
        let members = g
            .members
            .iter()
            .map(|m| {
                let tps = m.assignment.topic_partitions.iter();
                let parts = partition_names(tps.map(|t| (&t.topic_name, &t.partitions[..])));
                (
                    m.member_id.to_string(),
                    m.client_id.to_string(),
                    m.instance_id.as_deref().map(str::to_string),
                    parts,
                )
            })
            .collect();
        let offsets = self.offsets_with_ends(group)?;
        Ok(GroupDescription {
            group_id: group.to_string(),
            state: g.group_state.to_string(),
            protocol_type: "consumer".to_string(),
            protocol: g.assignor_name.to_string(),
            members,
            offsets,
        })
    }

    fn describe_raw(&mut self, group: &str) -> Result<DescribedGroup, AdminError> {
        let req = DescribeGroupsRequest {
            groups: vec![Str::from(group)],
            ..Default::default()
        };
        let resp = self.call(5, &req)?;
        let g = resp
            .groups
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::protocol("DescribeGroups", "empty answer"))?;
        if g.error_code != code::NONE {
            return Err(AdminError::kafka(
                format!("DescribeGroups {group}"),
                g.error_code,
            ));
        }
        Ok(g)
    }

    fn committed(&mut self, group: &str) -> Result<Vec<(String, i32, i64)>, AdminError> {
        let req = OffsetFetchRequest {
            group_id: Str::from(group),
            // Every partition the group committed.
            topics: None,
            ..Default::default()
        };
        let resp = self.call(7, &req)?;
        if resp.error_code != code::NONE {
            return Err(AdminError::kafka(
                format!("OffsetFetch {group}"),
                resp.error_code,
            ));
        }
        let mut out = Vec::new();
        for t in resp.topics {
            for p in t.partitions {
                out.push((t.name.to_string(), p.partition_index, p.committed_offset));
            }
        }
        out.sort();
        Ok(out)
    }

    fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
    ) -> Result<Vec<(i32, i64)>, AdminError> {
        let req = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: Str::from(topic),
                partitions: partitions
                    .iter()
                    .map(|p| ListOffsetsPartition {
                        partition_index: *p,
                        timestamp,
                        ..Default::default()
                    })
                    .collect(),
            }],
            ..Default::default()
        };
        let resp = self.call(7, &req)?;
        let mut out = Vec::new();
        for t in resp.topics {
            for p in t.partitions {
                if p.error_code != code::NONE {
                    return Err(AdminError::kafka(
                        format!("ListOffsets {topic}-{}", p.partition_index),
                        p.error_code,
                    ));
                }
                out.push((p.partition_index, p.offset));
            }
        }
        Ok(out)
    }

    fn partitions(&mut self, topic: &str) -> Result<Vec<i32>, AdminError> {
        let req = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(Str::from(topic)),
                ..Default::default()
            }]),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let resp = self.call(9, &req)?;
        let t = resp
            .topics
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::protocol("Metadata", "empty answer"))?;
        if t.error_code != code::NONE {
            return Err(AdminError::Kafka {
                context: format!("topic {topic}"),
                code: t.error_code,
                hint: Some("does it exist?"),
            });
        }
        let mut ps: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        ps.sort();
        Ok(ps)
    }

    /// State, members with their assignments, committed offsets with the high watermarks.
    pub fn describe_group(&mut self, group: &str) -> Result<GroupDescription, AdminError> {
        let g = self.describe_raw(group)?;
        let members = g
            .members
            .iter()
            .map(|m| {
                let mut parts = Vec::new();
                if m.member_assignment.len() >= 2 {
                    let assignment =
                        ConsumerProtocolAssignment::decode_versioned(m.member_assignment.clone());
                    for t in assignment
                        .map(|a| a.assigned_partitions)
                        .unwrap_or_default()
                    {
                        for p in t.partitions {
                            parts.push(format!("{}-{p}", t.topic));
                        }
                    }
                }
                (
                    m.member_id.to_string(),
                    m.client_id.to_string(),
                    m.group_instance_id.as_deref().map(str::to_string),
                    parts,
                )
            })
            .collect();
        let offsets = self.offsets_with_ends(group)?;
        Ok(GroupDescription {
            group_id: group.to_string(),
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
            offsets,
        })
    }

    /// The group's committed offsets with each partition's high watermark: (topic, partition,
    /// committed, end).
    fn offsets_with_ends(
        &mut self,
        group: &str,
    ) -> Result<Vec<(String, i32, i64, i64)>, AdminError> {
        let committed = self.committed(group)?;
        let mut offsets = Vec::new();
        let mut topics: Vec<String> = committed.iter().map(|c| c.0.clone()).collect();
        topics.dedup();
        for topic in topics {
            let ps: Vec<i32> = committed
                .iter()
                .filter(|c| c.0 == topic)
                .map(|c| c.1)
                .collect();
            let ends = self.list_offsets(&topic, &ps, -1).unwrap_or_default();
            for c in committed.iter().filter(|c| c.0 == topic) {
                let end = ends.iter().find(|e| e.0 == c.1).map_or(-1, |e| e.1);
                offsets.push((c.0.clone(), c.1, c.2, end));
            }
        }
        Ok(offsets)
    }

    /// Commit new positions for every partition of `topic`; refused while the group has members.
    /// Returns (partition, new offset).
    pub fn reset_offsets(
        &mut self,
        group: &str,
        topic: &str,
        to: ResetTo,
    ) -> Result<Vec<(i32, i64)>, AdminError> {
        let g = self.describe_raw(group)?;
        if !g.members.is_empty() {
            return Err(AdminError::GroupActive {
                group: group.to_string(),
                members: g.members.len(),
                state: g.group_state.to_string(),
            });
        }
        let partitions = self.partitions(topic)?;
        let targets = match to {
            ResetTo::Earliest => self.list_offsets(topic, &partitions, -2)?,
            ResetTo::Latest => self.list_offsets(topic, &partitions, -1)?,
            ResetTo::Time(t) => {
                let at = self.list_offsets(topic, &partitions, t)?;
                let latest = self.list_offsets(topic, &partitions, -1)?;
                at.into_iter()
                    .map(|(p, o)| {
                        let end = latest.iter().find(|l| l.0 == p).map_or(o, |l| l.1);
                        (p, if o < 0 { end } else { o })
                    })
                    .collect()
            }
        };
        let req = OffsetCommitRequest {
            group_id: Str::from(group),
            // A "simple" commit: no member, no generation.
            generation_id_or_member_epoch: -1,
            member_id: Str::new(),
            topics: vec![OffsetCommitRequestTopic {
                name: Str::from(topic),
                partitions: targets
                    .iter()
                    .map(|(p, o)| OffsetCommitRequestPartition {
                        partition_index: *p,
                        committed_offset: *o,
                        // Empty metadata, not null.
                        committed_metadata: Some(Str::new()),
                        ..Default::default()
                    })
                    .collect(),
            }],
            ..Default::default()
        };
        let resp = self.call(8, &req)?;
        for t in &resp.topics {
            for p in &t.partitions {
                match p.error_code {
                    code::NONE => {}
                    code::UNKNOWN_MEMBER_ID | code::REBALANCE_IN_PROGRESS => {
                        return Err(AdminError::Kafka {
                            context: format!("group {group} gained members during the reset"),
                            code: p.error_code,
                            hint: Some("stop its consumers and retry"),
                        })
                    }
                    e => {
                        return Err(AdminError::kafka(
                            format!("commit {topic}-{}", p.partition_index),
                            e,
                        ))
                    }
                }
            }
        }
        Ok(targets)
    }
}
