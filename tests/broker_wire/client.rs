//! A tiny blocking Kafka client over `std::net` for the wire tests, plus a broker fixture.
//!
//! Requests are encoded and responses decoded with kafka-protocol, independently of the broker's
//! own codec: the request header version comes from the request type, the response header version
//! from the response type (kafka-protocol says 0 for every ApiVersions response, as Kafka does).
//! Every socket has read and write timeouts, so no test can hang on a silent broker.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    create_topics_request, fetch_request, metadata_request, produce_request, ApiKey,
    CreateTopicsRequest, FetchRequest, MetadataRequest, ProduceRequest, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use ringlog::broker::{Broker, BrokerConfig};
use ringlog::protocol::versions::SUPPORTED_APIS;
use ringlog::runtime::IoKind;
use uuid::Uuid;

/// Read and write timeout of every test socket: far above any legitimate broker latency here,
/// far below the test harness' patience.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped broker may take to join: its grace period for busy connections plus slack.
pub const JOIN_TIMEOUT: Duration =
    Duration::from_millis(ringlog::broker::SHUTDOWN_GRACE_MS + 5_000);
/// Shards per test broker: two, so that cross-shard forwarding is always exercised.
pub const CORES: usize = 2;
/// Client id sent in every request header.
pub const CLIENT_ID: &str = "broker-wire-test";

/// A broker on 127.0.0.1 with its own temporary data directory.
pub struct TestBroker {
    broker: Option<Broker>,
    pub addr: SocketAddr,
    // Dropped after the broker (field order), so the broker never sees its directory vanish.
    _dir: tempfile::TempDir,
}

impl TestBroker {
    pub fn start(io: IoKind) -> TestBroker {
        TestBroker::start_with(io, |_| {})
    }

    pub fn start_with(io: IoKind, edit: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = start_in(dir.path(), io, edit);
        let addr = broker.local_addr();
        TestBroker {
            broker: Some(broker),
            addr,
            _dir: dir,
        }
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Shut down and join, failing the test if the broker does not stop within [`JOIN_TIMEOUT`].
    /// Returns how long the join took.
    pub fn stop(mut self) -> Duration {
        let broker = self.broker.take().expect("running");
        let started = std::time::Instant::now();
        stop(broker);
        started.elapsed()
    }
}

/// A two-shard broker on a free loopback port over `dir` (a test that restarts a broker on the
/// same data keeps the directory itself), its config edited by `edit`.
pub fn start_in(dir: &std::path::Path, io: IoKind, edit: impl FnOnce(&mut BrokerConfig)) -> Broker {
    let mut config = BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        cores: CORES,
        io,
        ..Default::default()
    };
    edit(&mut config);
    Broker::start(config).expect("broker starts")
}

/// Shuts a broker down and joins it, failing the test if it does not stop within
/// [`JOIN_TIMEOUT`].
pub fn stop(broker: Broker) {
    broker.shutdown();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(broker.join());
    });
    match rx.recv_timeout(JOIN_TIMEOUT) {
        Ok(res) => res.expect("broker stops cleanly"),
        Err(_) => panic!("broker did not stop within {JOIN_TIMEOUT:?}"),
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            // Broker's own Drop shuts down and joins; join in the background so a panicking test
            // is never held up by a broker that does not stop.
            std::thread::spawn(move || drop(b));
        }
    }
}

/// The advertised version range of an API (kafka-protocol's key, compared by value with ours),
/// up to the newest version kafka-protocol (the tests' independent encoder) knows: ApiVersions
/// v5 (KIP-1242) is newer and is tested with bytes of our own
/// (`errors::api_versions_v5_checks_the_cluster_and_node_the_client_means`).
pub fn versions(api_key: ApiKey) -> RangeInclusive<i16> {
    let r = SUPPORTED_APIS
        .iter()
        .find(|r| r.api_key as i16 == api_key as i16)
        .unwrap_or_else(|| panic!("{api_key:?} is not advertised"));
    r.min_version..=r.max_version.min(api_key.valid_versions().max)
}

/// Encodes a whole request frame (size prefix, header, body).
pub fn encode_frame<R: Request>(version: i16, correlation_id: i32, req: &R) -> Vec<u8> {
    encode_frame_as(CLIENT_ID, version, correlation_id, req)
}

/// [`encode_frame`] with another client id in the header.
pub fn encode_frame_as<R: Request>(
    client_id: &'static str,
    version: i16,
    correlation_id: i32,
    req: &R,
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(client_id)))
        .encode(&mut buf, R::header_version(version))
        .expect("header encodes");
    req.encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("api {} v{version} request encodes: {e:#}", R::KEY));
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.to_vec()
}

/// Decodes a response frame body (without the size prefix), insisting every byte is consumed.
pub fn decode_response<R: Request>(version: i16, frame: &[u8]) -> (i32, R::Response) {
    let mut buf = Bytes::copy_from_slice(frame);
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::decode(&mut buf, header_version)
        .unwrap_or_else(|e| panic!("api {} v{version}: response header: {e:#}", R::KEY));
    let body = <R::Response as Decodable>::decode(&mut buf, version)
        .unwrap_or_else(|e| panic!("api {} v{version}: response body: {e:#}", R::KEY));
    assert!(
        buf.is_empty(),
        "api {} v{version}: {} bytes left after the response body",
        R::KEY,
        buf.len()
    );
    (header.correlation_id, body)
}

/// One blocking connection.
pub struct Client {
    pub stream: TcpStream,
    next_correlation_id: i32,
    /// The client id of its request headers ([`CLIENT_ID`] unless connected with another).
    client_id: &'static str,
}

impl Client {
    /// A connection whose requests carry `client_id`.
    #[allow(dead_code)] // used by the quota tests
    pub fn connect_as(addr: SocketAddr, client_id: &'static str) -> Client {
        Client {
            client_id,
            ..Client::connect(addr)
        }
    }

    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            next_correlation_id: 1,
            client_id: CLIENT_ID,
        }
    }

    pub fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id += 1;
        id
    }

    /// Sends one request; returns its correlation id.
    pub fn send<R: Request>(&mut self, version: i16, req: &R) -> i32 {
        let id = self.next_correlation_id();
        let frame = encode_frame_as(self.client_id, version, id, req);
        self.stream.write_all(&frame).expect("send request");
        id
    }

    /// Reads one response and checks its correlation id.
    pub fn recv<R: Request>(&mut self, version: i16, correlation_id: i32) -> R::Response {
        let frame = self
            .read_frame()
            .unwrap_or_else(|e| panic!("api {} v{version}: reading the response: {e}", R::KEY));
        let (got, resp) = decode_response::<R>(version, &frame);
        assert_eq!(
            got,
            correlation_id,
            "api {} v{version}: correlation id",
            R::KEY
        );
        resp
    }

    /// Request, response.
    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> R::Response {
        let id = self.send(version, req);
        self.recv::<R>(version, id)
    }

    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one size-prefixed frame and returns its body.
    pub fn read_frame(&mut self) -> io::Result<Vec<u8>> {
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix)?;
        let size = i32::from_be_bytes(prefix);
        let size = usize::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative response size"))?;
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body)?;
        Ok(body)
    }

    /// Asserts the broker closes the connection (EOF or reset) without sending anything.
    pub fn assert_closed(&mut self, what: &str) {
        let mut buf = [0u8; 256];
        let read = loop {
            match self.stream.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(0) => {}
            Ok(n) => panic!(
                "{what}: expected the connection closed, got {n} bytes: {:?}",
                &buf[..n]
            ),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => panic!("{what}: expected the connection closed, got {e} (still open?)"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request builders.

pub fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// A valid RecordBatch v2 of value-only records with timestamps `base_timestamp_ms + i`, with the
/// partition leader epoch the broker stamps (0), so that what a Fetch returns differs from it only
/// in the base offset field.
pub fn batch(base_timestamp_ms: i64, values: &[&[u8]]) -> Vec<u8> {
    let mut b = ringlog::storage::batch::testing::build_batch(base_timestamp_ms, values);
    ringlog::storage::batch::stamp(&mut b, 0, 0);
    b
}

/// `batch` with its base offset field set to what the broker assigned.
pub fn stamped(batch: &[u8], base_offset: i64) -> Vec<u8> {
    let mut b = batch.to_vec();
    ringlog::storage::batch::stamp(&mut b, base_offset, 0);
    b
}

/// Metadata for the named topics (`None` = all topics); `auto_create` is sent only where the
/// version has the flag (v4+; older versions always auto-create).
pub fn metadata_request(
    version: i16,
    topics: Option<&[&str]>,
    auto_create: bool,
) -> MetadataRequest {
    let mut r = MetadataRequest::default().with_topics(topics.map(|ts| {
        ts.iter()
            .map(|t| {
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic_name(t)))
            })
            .collect()
    }));
    if version >= 4 {
        r = r.with_allow_auto_topic_creation(auto_create);
    }
    r
}

/// Produce one record set per (partition, records).
pub fn produce_request(topic: &str, acks: i16, parts: &[(i32, Vec<u8>)]) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(
                parts
                    .iter()
                    .map(|(p, r)| {
                        produce_request::PartitionProduceData::default()
                            .with_index(*p)
                            .with_records(Some(Bytes::from(r.clone())))
                    })
                    .collect(),
            )])
}

/// One partition of a Fetch request.
#[derive(Clone, Copy, Debug)]
pub struct FetchAt<'a> {
    pub topic: &'a str,
    pub topic_id: Uuid,
    pub partition: i32,
    pub offset: i64,
}

/// Bytes asked per partition.
pub const PARTITION_MAX_BYTES: i32 = 1 << 20;

/// A Fetch request; v13+ names topics by id, older versions by name.
pub fn fetch_request(
    version: i16,
    at: &[FetchAt<'_>],
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    let mut topics: Vec<fetch_request::FetchTopic> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for a in at {
        let i = match keys.iter().position(|k| *k == a.topic) {
            Some(i) => i,
            None => {
                keys.push(a.topic);
                let t = fetch_request::FetchTopic::default();
                topics.push(if version >= 13 {
                    t.with_topic_id(a.topic_id)
                } else {
                    t.with_topic(topic_name(a.topic))
                });
                topics.len() - 1
            }
        };
        topics[i].partitions.push(
            fetch_request::FetchPartition::default()
                .with_partition(a.partition)
                .with_fetch_offset(a.offset)
                .with_partition_max_bytes(PARTITION_MAX_BYTES),
        );
    }
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_topics(topics)
}

/// CreateTopics for (name, partitions, replication factor).
pub fn create_topics_request(topics: &[(&str, i32, i16)]) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(
            topics
                .iter()
                .map(|(n, p, rf)| {
                    create_topics_request::CreatableTopic::default()
                        .with_name(topic_name(n))
                        .with_num_partitions(*p)
                        .with_replication_factor(*rf)
                })
                .collect(),
        )
}

/// Lets `principal` do everything (ALL, ALLOW, any host) on each topic of `topics` and on every
/// group, with CreateAcls (LITERAL names): the grant a test's admin gives its users on a broker
/// that checks ACLs.
#[allow(dead_code)] // used by the SASL and TLS client tests
pub fn grant_all(client: &mut Client, principal: &str, topics: &[&str]) {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    // Kafka's codes: TOPIC 2, GROUP 3, LITERAL 3, ALL 2, ALLOW 3.
    let grants = topics
        .iter()
        .map(|t| (2, *t))
        .chain([(3, "*")])
        .map(|(kind, name)| {
            AclCreation::default()
                .with_resource_type(kind)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_resource_pattern_type(3)
                .with_principal(StrBytes::from_string(principal.to_string()))
                .with_host(StrBytes::from_static_str("*"))
                .with_operation(2)
                .with_permission_type(3)
        })
        .collect();
    let r = client.call(
        3,
        &kafka_protocol::messages::CreateAclsRequest::default().with_creations(grants),
    );
    for a in &r.results {
        assert_eq!(a.error_code, 0, "grant {principal}: {:?}", a.error_message);
    }
}

/// Creates a topic with CreateTopics (highest version) and returns its id.
pub fn create_topic(client: &mut Client, name: &str, partitions: i32) -> Uuid {
    let v = *versions(ApiKey::CreateTopics).end();
    let resp = client.call(v, &create_topics_request(&[(name, partitions, 1)]));
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(
        resp.topics[0].error_code, 0,
        "create {name}: {:?}",
        resp.topics[0]
    );
    assert!(!resp.topics[0].topic_id.is_nil(), "create {name}: topic id");
    resp.topics[0].topic_id
}

/// Produces `records` to one partition (Produce, highest version, acks=-1) and returns the base
/// offset.
pub fn produce_one(client: &mut Client, topic: &str, partition: i32, records: &[u8]) -> i64 {
    let v = *versions(ApiKey::Produce).end();
    let resp = client.call(
        v,
        &produce_request(topic, -1, &[(partition, records.to_vec())]),
    );
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce to {topic}-{partition}: {p:?}");
    p.base_offset
}

/// Fetches one partition from `offset` at the highest version by topic id (no waiting) and
/// returns (error, high watermark, record bytes).
pub fn fetch_one(
    client: &mut Client,
    topic: &str,
    id: Uuid,
    partition: i32,
    offset: i64,
) -> (i16, i64, Vec<u8>) {
    let v = *versions(ApiKey::Fetch).end();
    let at = [FetchAt {
        topic,
        topic_id: id,
        partition,
        offset,
    }];
    let resp = client.call(v, &fetch_request(v, &at, 0, 0));
    let p = &resp.responses[0].partitions[0];
    (
        p.error_code,
        p.high_watermark,
        p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default(),
    )
}

/// Connect once the broker answers a request. Right after a SIGKILL, the dead process's
/// listener can linger in the SO_REUSEPORT group (its ring still holds an in-flight ACCEPT until
/// the kernel's ring teardown runs), and a connection hashed to it is reset: probe with a real
/// request until one goes through (for 20 s at most).
#[allow(dead_code)] // used by the files that SIGKILL a serve child (idempotence, topics_sigkill)
pub fn connect_retry(addr: SocketAddr) -> Client {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let probe = std::panic::catch_unwind(|| {
            let mut c = Client::connect(addr);
            let v = *versions(ApiKey::ApiVersions).end();
            let _ = c.call(v, &kafka_protocol::messages::ApiVersionsRequest::default());
        });
        if probe.is_ok() {
            return Client::connect(addr);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "broker did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An ApiVersions request as a client sends it at version `v` (software name and version from
/// v3).
pub fn api_versions_request(v: i16) -> kafka_protocol::messages::ApiVersionsRequest {
    let req = kafka_protocol::messages::ApiVersionsRequest::default();
    if v < 3 {
        return req;
    }
    req.with_client_software_name(StrBytes::from_static_str("broker-wire"))
        .with_client_software_version(StrBytes::from_static_str("0.1"))
}
