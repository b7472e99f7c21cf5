//! A share consumer (KIP-932, "Queues for Kafka"): a member of a share group that acquires
//! records from partitions it shares with other members, and acknowledges each one. The same
//! code runs against ringlog and against Apache Kafka 4.4.
//!
//! ```text
//!  join:  Metadata (topic ids) ─ FindCoordinator (this broker) ─
//!         ShareGroupHeartbeat(epoch 0, subscribed topics)
//!  poll:  [ShareGroupHeartbeat(epoch) when the interval has passed]
//!         ShareFetch(session epoch 0: every assigned partition | 1, 2, ...: new partitions and
//!                    those with acknowledgements; acknowledgements piggybacked)
//!           -> batches as stored + acquired ranges -> records of the ranges, delivery counts
//!  commit: ShareAcknowledge(session epoch n, acknowledgements)
//!  close:  ShareAcknowledge(epoch -1, the rest) ─ ShareGroupHeartbeat(epoch -1)
//! ```
//!
//! - `acks`: acknowledgement types and the per-partition runs sent as acknowledgement batches.
//! - `fetched`: one partition of a ShareFetch response: the acquired records, automatic GAP and
//!   RELEASE acknowledgements for acquired offsets without a record.
//! - `member_id`: Kafka-style member ids (22 characters of base64url).
//!
//! The group coordinator must be the broker connected to (ringlog answers every request on any
//! shard; a single Kafka broker is its own coordinator): FindCoordinator checks it once at join
//! (and makes Kafka create its group offsets topic, without which it coordinates no group).
//!
//! Acknowledgement modes, as Kafka's `share.acknowledgement.mode`: `Implicit` accepts every
//! record a poll handed out with the next request (poll, commit or close); `Explicit` sends
//! what [`ShareConsumer::acknowledge`] was told, and leaves records it was not told about to
//! their acquisition lock.
//!
//! # Invariants
//! - Every request carries the share session epoch the broker expects: 0 opens the session with
//!   every assigned partition and never carries acknowledgements, each later request (ShareFetch
//!   or ShareAcknowledge) the next epoch, -1 closes it. After a session error the session is
//!   forgotten and the next poll opens a new one.
//! - Acknowledgements are sent once: they leave the pending set when the request carrying them
//!   is written, and each comes back as an [`Acknowledged`] with the broker's verdict, or is
//!   reported dropped (a request that failed as a whole loses them; the broker makes the records
//!   available again when their locks end).
//! - Every wait is bounded: requests by the connection's timeout (a ShareFetch also by its
//!   `max_wait`), a coordinator that is not ready by [`COORDINATOR_WAIT_MS`], an assignment by
//!   [`ShareConsumer::wait_for_assignment`]'s bound.

pub mod acks;
pub mod fetched;
pub mod member_id;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::api::{CoordinatorInfo, FETCH_WAIT_MAX};
use crate::connection::{ConnectOptions, Connection};
use crate::error::{ClientError, Result};
use crate::records::ConsumedRecord;
pub use acks::{AckRanges, AckRun, AcknowledgeType};
use ringlog_protocol::error;
use ringlog_protocol::messages::{
    ShareAcknowledgePartition, ShareAcknowledgeRequest, ShareAcknowledgeTopic, ShareFetchPartition,
    ShareFetchRequest, ShareFetchResponse, ShareFetchTopic, ShareForgottenTopic,
    ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse,
};
use ringlog_protocol::wire::Str;
use ringlog_protocol::ApiKey;

/// Records one ShareFetch may acquire (Kafka's `max.poll.records` default).
pub const MAX_RECORDS_DEFAULT: i32 = 500;
/// Bytes one ShareFetch may return (Kafka's `fetch.max.bytes` default, 50 MiB; below the
/// connection's response bound).
pub const MAX_BYTES_DEFAULT: i32 = 50 * 1024 * 1024;
/// How long a ShareFetch may wait for records (Kafka's `fetch.max.wait.ms` default).
pub const MAX_WAIT_MS_DEFAULT: u64 = 500;
/// How often a member without an assignment heartbeats while it waits for one: the broker may
/// compute assignments after the join answered (Kafka 4.4 does), and waiting a whole heartbeat
/// interval (5 s by default) would make joining slow.
pub const UNASSIGNED_HEARTBEAT_MS: u64 = 200;
/// How long joining may wait for the group's coordinator to be ready: Kafka creates its group
/// offsets topic on the first FindCoordinator and answers NOT_COORDINATOR or
/// COORDINATOR_LOAD_IN_PROGRESS (retriable) until it has loaded it.
pub const COORDINATOR_WAIT_MS: u64 = 30_000;
/// Pause between those attempts.
pub const COORDINATOR_BACKOFF_MS: u64 = 100;
/// The session epoch that closes a share session.
pub const FINAL_EPOCH: i32 = -1;
/// The member epoch that leaves a group.
pub const LEAVE_EPOCH: i32 = -1;
/// The first ShareFetch/ShareAcknowledge version that has RENEW acknowledgements (KIP-1222).
pub const RENEW_VERSION: i16 = 2;

/// How records are acknowledged (Kafka's `share.acknowledgement.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AcknowledgementMode {
    /// Every record handed out is accepted with the next request.
    #[default]
    Implicit,
    /// Only what [`ShareConsumer::acknowledge`] was told.
    Explicit,
}

/// What a share consumer joins, and how it fetches.
#[derive(Clone, Debug)]
pub struct ShareConsumerConfig {
    /// The share group.
    pub group_id: String,
    /// Topics subscribed to.
    pub topics: Vec<String>,
    /// Acknowledgement mode.
    pub mode: AcknowledgementMode,
    /// Records one ShareFetch may acquire ([`MAX_RECORDS_DEFAULT`]): a soft limit that the
    /// broker exceeds to the end of the last batch, unless `record_limit`.
    pub max_records: i32,
    /// KIP-1206's record_limit acquire mode (Kafka's `share.acquire.mode=record_limit`): at
    /// most `max_records` records per ShareFetch even inside a batch. Default false:
    /// batch_optimized, Kafka's default.
    pub record_limit: bool,
    /// Bytes one ShareFetch may return ([`MAX_BYTES_DEFAULT`]).
    pub max_bytes: i32,
    /// How long one ShareFetch may wait for records ([`MAX_WAIT_MS_DEFAULT`]; at most
    /// [`FETCH_WAIT_MAX`]).
    pub max_wait: Duration,
    /// The connection's options (client id, timeouts, response bound).
    pub connect: ConnectOptions,
    /// Send the next ShareFetch as soon as a poll has its answer, before handing its records
    /// out (the broker acquires and reads the next records while the caller handles these, as
    /// Kafka's client fetches in the background). The prefetched records are acquired (their
    /// locks run) while they wait for the next poll; closing releases them undelivered.
    pub prefetch: bool,
}

impl ShareConsumerConfig {
    /// Kafka's defaults for `group_id` subscribed to `topics`.
    pub fn new(group_id: &str, topics: &[&str]) -> ShareConsumerConfig {
        ShareConsumerConfig {
            group_id: group_id.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            mode: AcknowledgementMode::Implicit,
            max_records: MAX_RECORDS_DEFAULT,
            record_limit: false,
            max_bytes: MAX_BYTES_DEFAULT,
            max_wait: Duration::from_millis(MAX_WAIT_MS_DEFAULT),
            connect: ConnectOptions::default(),
            prefetch: false,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |why: &str| {
            Err(ClientError::InvalidArgument(format!(
                "share consumer: {why}"
            )))
        };
        if self.group_id.is_empty() {
            return bad("the group id is empty");
        }
        if self.topics.is_empty() || self.topics.iter().any(String::is_empty) {
            return bad("subscribe to at least one topic, each named");
        }
        if self.max_records < 1 || self.max_bytes < 1 {
            return bad("max_records and max_bytes must be at least 1");
        }
        if u64::try_from(self.max_bytes).unwrap_or(0) > u64::from(self.connect.response_bytes_max) {
            return bad("max_bytes must fit the connection's response_bytes_max");
        }
        if self.max_wait > FETCH_WAIT_MAX {
            return bad("max_wait is above the client's fetch wait bound");
        }
        Ok(())
    }
}

/// One record this member acquired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRecord {
    /// Topic name.
    pub topic: Arc<str>,
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub partition: i32,
    /// How often the record has been delivered, this time included (1 the first time).
    pub delivery_count: i16,
    /// The record.
    pub record: ConsumedRecord,
}

/// Acknowledgements sent for one partition, and the broker's verdict.
#[derive(Debug)]
pub struct Acknowledged {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
    /// What was acknowledged.
    pub acks: AckRanges,
    /// `None` when the broker took them; otherwise why not (for dropped ones, why they were
    /// never sent).
    pub error: Option<ClientError>,
}

/// What one poll brought.
#[derive(Debug, Default)]
pub struct Polled {
    /// Records acquired, in partition and offset order.
    pub records: Vec<ShareRecord>,
    /// Verdicts on the acknowledgements this poll carried (or sent just before it).
    pub acknowledged: Vec<Acknowledged>,
    /// Partitions the fetch failed for (each error names its partition).
    pub fetch_errors: Vec<ClientError>,
    /// How long the records stay locked to this member, ms.
    pub acquisition_lock_timeout_ms: i32,
}

/// The member's share session.
#[derive(Clone, Debug)]
struct Session {
    /// The epoch of the next request.
    next_epoch: i32,
    /// The partitions the broker fetches for this session.
    partitions: Vec<(Uuid, i32)>,
}

impl Session {
    fn advance(&mut self) -> i32 {
        let epoch = self.next_epoch;
        // Epochs run 1..=i32::MAX, then wrap to 1 (0 and -1 open and close).
        self.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        epoch
    }
}

/// The negotiated versions of the share APIs.
#[derive(Clone, Copy, Debug)]
struct Versions {
    heartbeat: i16,
    fetch: i16,
    acknowledge: i16,
}

/// This consumer speaks to one broker, which must coordinate its group: `coordinator` must
/// resolve to `addr`.
fn check_same_broker(coordinator: &CoordinatorInfo, addr: SocketAddr, group: &str) -> Result<()> {
    use std::net::ToSocketAddrs;
    let same = u16::try_from(coordinator.port).is_ok_and(|port| {
        (coordinator.host.as_str(), port)
            .to_socket_addrs()
            .is_ok_and(|mut all| all.any(|a| a == addr))
    });
    if same {
        return Ok(());
    }
    Err(ClientError::InvalidArgument(format!(
        "the coordinator of share group {group} is broker {} at {}:{}, not {addr}: this \
         consumer speaks to one broker, which must coordinate the group",
        coordinator.node_id, coordinator.host, coordinator.port
    )))
}

/// A share-group member on one connection (see the module doc). Not `Send`.
pub struct ShareConsumer {
    conn: Connection,
    config: ShareConsumerConfig,
    versions: Versions,
    member_id: String,
    member_epoch: i32,
    heartbeat_interval: Duration,
    next_heartbeat: Instant,
    /// Names of the subscribed topics' ids.
    names: HashMap<Uuid, Arc<str>>,
    /// Assigned partitions, sorted.
    assignment: Vec<(Uuid, i32)>,
    session: Option<Session>,
    /// Acknowledgements not sent yet, per partition.
    acks: BTreeMap<(Uuid, i32), AckRanges>,
    /// A ShareFetch sent ahead by the last poll ([`ShareConsumerConfig::prefetch`]), or its
    /// answer, received early because another request had to go out first.
    ahead: Option<Ahead>,
}

/// A ShareFetch that was written: the acknowledgements it carries, and the session before it
/// (a refused first request forgets the session it opened).
struct Started {
    sent: BTreeMap<(Uuid, i32), AckRanges>,
    session_before: Option<Session>,
}

/// A prefetched ShareFetch.
enum Ahead {
    /// Written, its answer not read yet.
    Sent(Started),
    /// Answered: the response, with the acknowledgements it carried.
    Received(ShareFetchResponse, BTreeMap<(Uuid, i32), AckRanges>),
}

impl ShareConsumer {
    /// Connects to `addr`, looks up the subscribed topics' ids and joins the group (a heartbeat
    /// at member epoch 0 with a new member id). The assignment may come later: see
    /// [`ShareConsumer::wait_for_assignment`].
    pub async fn join(addr: SocketAddr, config: ShareConsumerConfig) -> Result<ShareConsumer> {
        config.validate()?;
        let mut conn = Connection::connect_with(addr, config.connect.clone()).await?;
        let versions = Versions {
            heartbeat: conn.version(ApiKey::ShareGroupHeartbeat)?,
            fetch: conn.version(ApiKey::ShareFetch)?,
            acknowledge: conn.version(ApiKey::ShareAcknowledge)?,
        };
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        let ids = conn.topic_ids(&topics).await?;
        let names = ids
            .into_iter()
            .zip(&config.topics)
            .map(|(id, name)| (id, Arc::from(name.as_str())))
            .collect();
        // The coordinator must be this broker; asking also makes Kafka create its group
        // offsets topic, without which it coordinates no group.
        let deadline = Instant::now() + Duration::from_millis(COORDINATOR_WAIT_MS);
        let backoff = Duration::from_millis(COORDINATOR_BACKOFF_MS);
        let coordinator = loop {
            match conn.find_group_coordinator(&config.group_id).await {
                Ok(c) => break c,
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    ringlog_runtime::time::sleep(backoff).await
                }
                Err(e) => return Err(e),
            }
        };
        check_same_broker(&coordinator, conn.addr(), &config.group_id)?;
        let mut consumer = ShareConsumer {
            conn,
            config,
            versions,
            member_id: member_id::new_member_id(),
            member_epoch: 0,
            heartbeat_interval: Duration::from_millis(UNASSIGNED_HEARTBEAT_MS),
            next_heartbeat: Instant::now(),
            names,
            assignment: Vec::new(),
            session: None,
            acks: BTreeMap::new(),
            ahead: None,
        };
        loop {
            match consumer.heartbeat().await {
                Ok(()) => return Ok(consumer),
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    ringlog_runtime::time::sleep(backoff).await
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// This member's id.
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The member epoch the group gave this member (0 before it joined).
    pub fn member_epoch(&self) -> i32 {
        self.member_epoch
    }

    /// The assigned partitions, as (topic, partition), sorted by topic id and partition.
    pub fn assignment(&self) -> Vec<(Arc<str>, i32)> {
        self.assignment
            .iter()
            .map(|&(id, p)| (self.name_of(id), p))
            .collect()
    }

    /// The connection (for its address and negotiated versions).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Offsets whose acknowledgement has not been sent yet.
    pub fn pending_acknowledgements(&self) -> u64 {
        self.acks.values().map(AckRanges::len).sum()
    }

    fn name_of(&self, id: Uuid) -> Arc<str> {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Arc::from(id.to_string()))
    }

    /// Heartbeats (every [`UNASSIGNED_HEARTBEAT_MS`]) until the group assigns this member at
    /// least one partition; a timeout error after `wait_max`.
    pub async fn wait_for_assignment(&mut self, wait_max: Duration) -> Result<()> {
        self.receive_ahead().await?;
        let deadline = Instant::now() + wait_max;
        while self.assignment.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    op: format!(
                        "waiting for an assignment in share group {}",
                        self.config.group_id
                    ),
                    addr: self.conn.addr(),
                    after: wait_max,
                });
            }
            let pause = Duration::from_millis(UNASSIGNED_HEARTBEAT_MS).min(deadline - now);
            ringlog_runtime::time::sleep(pause).await;
            self.heartbeat().await?;
        }
        Ok(())
    }

    /// One ShareGroupHeartbeat at the member's epoch (0: joining, with the subscription). A
    /// fenced or unknown member joins again at once, with the same id, as Kafka's client does.
    async fn heartbeat(&mut self) -> Result<()> {
        let response = self.heartbeat_once().await?;
        let response = match response.error_code {
            error::FENCED_MEMBER_EPOCH | error::UNKNOWN_MEMBER_ID if self.member_epoch != 0 => {
                self.member_epoch = 0;
                self.assignment.clear();
                self.heartbeat_once().await?
            }
            _ => response,
        };
        ClientError::check(
            response.error_code,
            response.error_message.as_deref(),
            || {
                format!(
                    "heartbeat of member {} in share group {}",
                    self.member_id, self.config.group_id
                )
            },
        )?;
        self.member_epoch = response.member_epoch;
        if response.heartbeat_interval_ms > 0 {
            self.heartbeat_interval = Duration::from_millis(response.heartbeat_interval_ms as u64);
        }
        self.next_heartbeat = Instant::now() + self.heartbeat_interval;
        if let Some(assignment) = response.assignment {
            let mut parts: Vec<(Uuid, i32)> = assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p)))
                .collect();
            parts.sort_unstable();
            parts.dedup();
            if parts.iter().any(|(id, _)| !self.names.contains_key(id)) {
                self.refresh_names().await?;
            }
            self.assignment = parts;
        }
        Ok(())
    }

    async fn heartbeat_once(&mut self) -> Result<ShareGroupHeartbeatResponse> {
        let joining = self.member_epoch == 0;
        let request = ShareGroupHeartbeatRequest {
            group_id: Str::from(self.config.group_id.as_str()),
            member_id: Str::from(self.member_id.as_str()),
            member_epoch: self.member_epoch,
            rack_id: None,
            // Sent when joining; null afterwards means "unchanged".
            subscribed_topic_names: joining.then(|| {
                self.config
                    .topics
                    .iter()
                    .map(|t| Str::from(t.as_str()))
                    .collect()
            }),
        };
        self.conn.request(&request, self.versions.heartbeat).await
    }

    /// A subscribed topic was recreated (a new id): look the ids up again.
    async fn refresh_names(&mut self) -> Result<()> {
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        let ids = self.conn.topic_ids(&topics).await?;
        self.names = ids
            .into_iter()
            .zip(&self.config.topics)
            .map(|(id, name)| (id, Arc::from(name.as_str())))
            .collect();
        Ok(())
    }

    /// Tells how `record` is acknowledged, sent with the next poll, commit or close. Only in
    /// explicit mode; RENEW needs ShareFetch/ShareAcknowledge v2 on both sides.
    pub fn acknowledge(&mut self, record: &ShareRecord, ack: AcknowledgeType) -> Result<()> {
        if self.config.mode != AcknowledgementMode::Explicit {
            return Err(ClientError::InvalidArgument(
                "acknowledge needs the explicit acknowledgement mode (implicit mode accepts \
                 every record with the next request)"
                    .into(),
            ));
        }
        if ack == AcknowledgeType::Renew
            && self.versions.fetch.min(self.versions.acknowledge) < RENEW_VERSION
        {
            return Err(ClientError::InvalidArgument(format!(
                "RENEW needs ShareFetch and ShareAcknowledge v{RENEW_VERSION}; the broker speaks \
                 v{} and v{}",
                self.versions.fetch, self.versions.acknowledge
            )));
        }
        let offset = record.record.offset;
        self.acks
            .entry((record.topic_id, record.partition))
            .or_default()
            .add(offset, offset, ack)
            .map_err(ClientError::InvalidArgument)
    }

    /// Heartbeats if due, then one ShareFetch carrying the pending acknowledgements; the
    /// records it acquired. Waits up to `max_wait` for records; with no assignment yet it only
    /// heartbeats (after a pause of at most `max_wait`).
    ///
    /// With [`ShareConsumerConfig::prefetch`] the answer is usually that of the ShareFetch the
    /// last poll sent ahead, and this poll sends the next one (with the acknowledgements
    /// pending now: in implicit mode the records of the last poll) before it decodes what it
    /// hands out. A heartbeat that fails after the answer arrived loses that answer's records
    /// to their acquisition locks (they come back when the locks end).
    pub async fn poll(&mut self) -> Result<Polled> {
        let ahead = self.finish_ahead().await?;
        if Instant::now() >= self.next_heartbeat {
            self.heartbeat().await?;
        }
        let mut polled = Polled::default();
        let (response, sent) = match ahead {
            Some(answer) => answer,
            None => match self.start_fetch(&mut polled).await? {
                Some(started) => self.finish_fetch(started).await?,
                None => {
                    let pause = self
                        .next_heartbeat
                        .saturating_duration_since(Instant::now())
                        .min(self.config.max_wait);
                    ringlog_runtime::time::sleep(pause).await;
                    polled.acknowledged =
                        self.drop_acks("the member has no assignment and no session");
                    return Ok(polled);
                }
            },
        };
        if self.config.prefetch {
            self.ahead = self.start_fetch(&mut polled).await?.map(Ahead::Sent);
        }
        self.read_fetch_response(response, sent, &mut polled)?;
        Ok(polled)
    }

    /// The answer of the prefetched ShareFetch, if one was sent (read now if it was not yet).
    async fn finish_ahead(
        &mut self,
    ) -> Result<Option<(ShareFetchResponse, BTreeMap<(Uuid, i32), AckRanges>)>> {
        Ok(match self.ahead.take() {
            None => None,
            Some(Ahead::Received(response, sent)) => Some((response, sent)),
            Some(Ahead::Sent(started)) => Some(self.finish_fetch(started).await?),
        })
    }

    /// Reads the prefetched ShareFetch's answer, if one is awaited, and keeps it for the next
    /// poll: the connection answers in order, so any other request waits for it.
    async fn receive_ahead(&mut self) -> Result<()> {
        if let Some(Ahead::Sent(started)) = self.ahead.take() {
            let (response, sent) = self.finish_fetch(started).await?;
            self.ahead = Some(Ahead::Received(response, sent));
        }
        Ok(())
    }

    /// Writes one ShareFetch carrying the pending acknowledgements (after a ShareAcknowledge
    /// of those of partitions leaving the session, whose verdicts go to `polled`); `None`
    /// when the member has neither an assignment nor a session (nothing to fetch).
    async fn start_fetch(&mut self, polled: &mut Polled) -> Result<Option<Started>> {
        if self.assignment.is_empty() && self.session.is_none() {
            return Ok(None);
        }
        // Partitions leaving the session take their acknowledgements with them first.
        let forgotten: Vec<(Uuid, i32)> = match &self.session {
            Some(s) => s
                .partitions
                .iter()
                .filter(|p| self.assignment.binary_search(p).is_err())
                .copied()
                .collect(),
            None => Vec::new(),
        };
        if forgotten.iter().any(|p| self.acks.contains_key(p)) {
            let verdicts = self.commit().await?;
            polled.acknowledged.extend(verdicts);
        }
        let (epoch, named) = match &mut self.session {
            None => {
                // Epoch 0 opens the session and may carry no acknowledgements.
                polled
                    .acknowledged
                    .extend(self.drop_acks("a new share session cannot carry acknowledgements"));
                (0, self.assignment.clone())
            }
            Some(s) => {
                let mut named: Vec<(Uuid, i32)> = self.acks.keys().copied().collect();
                named.extend(
                    self.assignment
                        .iter()
                        .filter(|p| !s.partitions.contains(p))
                        .copied(),
                );
                named.sort_unstable();
                named.dedup();
                (s.advance(), named)
            }
        };
        let sent = std::mem::take(&mut self.acks);
        let request = self.fetch_request(epoch, &named, &sent, &forgotten);
        let session_before = self.session.clone();
        match &mut self.session {
            None => {
                self.session = Some(Session {
                    next_epoch: 1,
                    partitions: named.clone(),
                })
            }
            Some(s) => {
                for p in &named {
                    if !s.partitions.contains(p) {
                        s.partitions.push(*p);
                    }
                }
                s.partitions.retain(|p| !forgotten.contains(p));
            }
        }
        let wait = self.config.max_wait;
        self.conn
            .send_with_wait(&request, self.versions.fetch, wait)
            .await?;
        Ok(Some(Started {
            sent,
            session_before,
        }))
    }

    /// Reads the answer of a written ShareFetch; a top-level error is returned (the
    /// acknowledgements it carried are lost with it).
    async fn finish_fetch(
        &mut self,
        started: Started,
    ) -> Result<(ShareFetchResponse, BTreeMap<(Uuid, i32), AckRanges>)> {
        let response = self.conn.recv::<ShareFetchRequest>().await?;
        if let Err(e) = self.check_top_level(
            response.error_code,
            response.error_message.as_deref(),
            "share fetch",
        ) {
            if started.session_before.is_none() {
                self.session = None;
            }
            return Err(e);
        }
        Ok((response, started.sent))
    }
    fn fetch_request(
        &self,
        epoch: i32,
        named: &[(Uuid, i32)],
        acks: &BTreeMap<(Uuid, i32), AckRanges>,
        forgotten: &[(Uuid, i32)],
    ) -> ShareFetchRequest {
        let mut topics: Vec<ShareFetchTopic> = Vec::new();
        for &(topic_id, partition) in named {
            let partition = ShareFetchPartition {
                partition_index: partition,
                acknowledgement_batches: acks
                    .get(&(topic_id, partition))
                    .map(AckRanges::batches)
                    .unwrap_or_default(),
            };
            match topics.last_mut() {
                Some(t) if t.topic_id == topic_id => t.partitions.push(partition),
                _ => topics.push(ShareFetchTopic {
                    topic_id,
                    partitions: vec![partition],
                }),
            }
        }
        let mut forgotten_topics: Vec<ShareForgottenTopic> = Vec::new();
        for &(topic_id, partition) in forgotten {
            match forgotten_topics.iter_mut().find(|t| t.topic_id == topic_id) {
                Some(t) => t.partitions.push(partition),
                None => forgotten_topics.push(ShareForgottenTopic {
                    topic_id,
                    partitions: vec![partition],
                }),
            }
        }
        let c = &self.config;
        ShareFetchRequest {
            group_id: Some(Str::from(c.group_id.as_str())),
            member_id: Some(Str::from(self.member_id.as_str())),
            share_session_epoch: epoch,
            max_wait_ms: c.max_wait.as_millis() as i32,
            min_bytes: 1,
            max_bytes: c.max_bytes,
            max_records: c.max_records,
            batch_size: c.max_records,
            // KIP-1206: 0 batch_optimized (Kafka's default), 1 record_limit.
            share_acquire_mode: i8::from(c.record_limit),
            is_renew_ack: acks.values().any(|a| a.count(AcknowledgeType::Renew) > 0),
            topics,
            forgotten_topics_data: forgotten_topics,
        }
    }

    /// A top-level error: a session error forgets the session (the next poll opens one).
    fn check_top_level(&mut self, code: i16, message: Option<&str>, op: &str) -> Result<()> {
        if matches!(
            code,
            error::SHARE_SESSION_NOT_FOUND | error::INVALID_SHARE_SESSION_EPOCH
        ) {
            self.session = None;
        }
        ClientError::check(code, message, || {
            format!("{op} in share group {}", self.config.group_id)
        })
    }

    /// The verdicts of a ShareFetch answer on the acknowledgements it carried (`sent`), its
    /// records left alone.
    fn fetch_verdicts(
        &self,
        response: &ShareFetchResponse,
        mut sent: BTreeMap<(Uuid, i32), AckRanges>,
    ) -> Vec<Acknowledged> {
        let mut out = Vec::with_capacity(sent.len());
        for t in &response.responses {
            for p in &t.partitions {
                let Some(acks) = sent.remove(&(t.topic_id, p.partition_index)) else {
                    continue;
                };
                let topic = self.name_of(t.topic_id);
                let error = ClientError::check(
                    p.acknowledge_error_code,
                    p.acknowledge_error_message.as_deref(),
                    || format!("acknowledge {topic}-{}", p.partition_index),
                )
                .err();
                out.push(Acknowledged {
                    topic,
                    partition: p.partition_index,
                    acks,
                    error,
                });
            }
        }
        out.extend(self.missing_verdicts(sent));
        out
    }

    /// Acknowledgements a ShareFetch carried for partitions its answer does not name.
    fn missing_verdicts(&self, sent: BTreeMap<(Uuid, i32), AckRanges>) -> Vec<Acknowledged> {
        sent.into_iter()
            .map(|((topic_id, partition), acks)| Acknowledged {
                topic: self.name_of(topic_id),
                partition,
                acks,
                error: Some(ClientError::Records {
                    reason: format!(
                        "share fetch: partition {partition} of topic {topic_id} carried \
                         acknowledgements but is missing from the response"
                    ),
                }),
            })
            .collect()
    }

    fn read_fetch_response(
        &mut self,
        response: ShareFetchResponse,
        mut sent: BTreeMap<(Uuid, i32), AckRanges>,
        polled: &mut Polled,
    ) -> Result<()> {
        polled.acquisition_lock_timeout_ms = response.acquisition_lock_timeout_ms;
        for t in &response.responses {
            let topic = self.name_of(t.topic_id);
            for p in &t.partitions {
                let key = (t.topic_id, p.partition_index);
                let name = || format!("{topic}-{}", p.partition_index);
                if let Some(acks) = sent.remove(&key) {
                    let error = ClientError::check(
                        p.acknowledge_error_code,
                        p.acknowledge_error_message.as_deref(),
                        || format!("acknowledge {}", name()),
                    )
                    .err();
                    polled.acknowledged.push(Acknowledged {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        acks,
                        error,
                    });
                }
                if let Err(e) = ClientError::check(p.error_code, p.error_message.as_deref(), || {
                    format!("share fetch {}", name())
                }) {
                    polled.fetch_errors.push(e);
                    continue;
                }
                if p.acquired_records.is_empty() {
                    continue;
                }
                let got = fetched::acquired_records(
                    &topic,
                    t.topic_id,
                    p.partition_index,
                    &p.records,
                    &p.acquired_records,
                )?;
                let pending = self.acks.entry(key).or_default();
                for run in got.auto_acks.runs() {
                    pending
                        .add(run.first, run.last, run.ack)
                        .expect("runs are valid ranges");
                }
                if self.config.mode == AcknowledgementMode::Implicit {
                    for r in &got.records {
                        let o = r.record.offset;
                        pending
                            .add(o, o, AcknowledgeType::Accept)
                            .expect("record offsets of a checked batch are at least 0");
                    }
                }
                if pending.is_empty() {
                    self.acks.remove(&key);
                }
                polled.records.extend(got.records);
            }
        }
        let missing = self.missing_verdicts(sent);
        polled.acknowledged.extend(missing);
        Ok(())
    }

    /// Sends the pending acknowledgements now (ShareAcknowledge) and returns the broker's
    /// verdicts; nothing is sent when none is pending. Without an open session (before the
    /// first poll, or after a session error) they cannot be sent and are reported dropped.
    pub async fn commit(&mut self) -> Result<Vec<Acknowledged>> {
        if self.acks.is_empty() {
            return Ok(Vec::new());
        }
        self.receive_ahead().await?;
        let Some(session) = &mut self.session else {
            return Ok(self.drop_acks("no share session is open"));
        };
        let epoch = session.advance();
        self.send_acknowledgements(epoch).await
    }

    /// One ShareAcknowledge at `epoch` with every pending acknowledgement.
    async fn send_acknowledgements(&mut self, epoch: i32) -> Result<Vec<Acknowledged>> {
        let sent = std::mem::take(&mut self.acks);
        let mut topics: Vec<ShareAcknowledgeTopic> = Vec::new();
        for (&(topic_id, partition), acks) in &sent {
            let partition = ShareAcknowledgePartition {
                partition_index: partition,
                acknowledgement_batches: acks.batches(),
            };
            match topics.last_mut() {
                Some(t) if t.topic_id == topic_id => t.partitions.push(partition),
                _ => topics.push(ShareAcknowledgeTopic {
                    topic_id,
                    partitions: vec![partition],
                }),
            }
        }
        let request = ShareAcknowledgeRequest {
            group_id: Some(Str::from(self.config.group_id.as_str())),
            member_id: Some(Str::from(self.member_id.as_str())),
            share_session_epoch: epoch,
            is_renew_ack: sent.values().any(|a| a.count(AcknowledgeType::Renew) > 0),
            topics,
        };
        let response = self
            .conn
            .request(&request, self.versions.acknowledge)
            .await?;
        self.check_top_level(
            response.error_code,
            response.error_message.as_deref(),
            "share acknowledge",
        )?;
        let mut out = Vec::with_capacity(sent.len());
        for ((topic_id, partition), acks) in sent {
            let topic = self.name_of(topic_id);
            let verdict = response
                .responses
                .iter()
                .filter(|t| t.topic_id == topic_id)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == partition);
            let error = match verdict {
                Some(p) => ClientError::check(p.error_code, p.error_message.as_deref(), || {
                    format!("acknowledge {topic}-{partition}")
                })
                .err(),
                None => Some(ClientError::Records {
                    reason: format!(
                        "share acknowledge: {topic}-{partition} is missing from the response"
                    ),
                }),
            };
            out.push(Acknowledged {
                topic,
                partition,
                acks,
                error,
            });
        }
        Ok(out)
    }

    /// Takes every pending acknowledgement as dropped, with `why`.
    fn drop_acks(&mut self, why: &str) -> Vec<Acknowledged> {
        std::mem::take(&mut self.acks)
            .into_iter()
            .map(|((topic_id, partition), acks)| Acknowledged {
                topic: self.name_of(topic_id),
                partition,
                acks,
                error: Some(ClientError::InvalidArgument(format!(
                    "acknowledgements not sent: {why}"
                ))),
            })
            .collect()
    }

    /// Leaves: the pending acknowledgements with a ShareAcknowledge that closes the session
    /// (epoch -1, which also releases what this member still holds), then a heartbeat at
    /// member epoch -1. Both are tried; the first error is returned.
    pub async fn close(mut self) -> Result<Vec<Acknowledged>> {
        // A prefetched answer's records were never handed out: the closing request releases
        // them with the rest; only the verdicts on the acknowledgements it carried are kept.
        let early = match self.finish_ahead().await {
            Ok(Some((response, sent))) => Ok(self.fetch_verdicts(&response, sent)),
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        let acked = match self.session.take() {
            Some(_) => self.send_acknowledgements(FINAL_EPOCH).await,
            None => Ok(self.drop_acks("no share session is open")),
        };
        let acked = early.and_then(|mut early| {
            early.extend(acked?);
            Ok(early)
        });
        self.member_epoch = LEAVE_EPOCH;
        let left = self.heartbeat_once().await.and_then(|r| {
            ClientError::check(r.error_code, r.error_message.as_deref(), || {
                format!(
                    "leave share group {} (member {})",
                    self.config.group_id, self.member_id
                )
            })
        });
        let acked = acked?;
        left?;
        Ok(acked)
    }
}

#[cfg(test)]
mod tests;
