//! A raw Kafka-protocol client for the group tests: one blocking connection, requests encoded
//! and responses decoded with kafka-protocol at the version the test names.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

pub struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

/// Consumer-protocol subscription metadata (version prefix + v0 body) for one topic.
pub fn subscription(topic: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(vec![s(topic)])
        .encode(&mut b, 0)
        .unwrap();
    b.freeze()
}

/// Decode a consumer-protocol assignment to its partitions of `topic`.
pub fn assigned_partitions(mut a: Bytes, topic: &str) -> Vec<i32> {
    if a.len() < 2 {
        return Vec::new();
    }
    let v = a.get_i16();
    let ca = ConsumerProtocolAssignment::decode(&mut a, v.clamp(0, 3)).unwrap();
    ca.assigned_partitions
        .into_iter()
        .filter(|t| t.topic.0.as_str() == topic)
        .flat_map(|t| t.partitions)
        .collect()
}

impl RawClient {
    pub fn connect(addr: &str) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        RawClient {
            stream,
            correlation_id: 0,
        }
    }

    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        v: i16,
        req: &Req,
    ) -> Resp {
        self.correlation_id += 1;
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(v)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(s("raw-test")))
            .encode(&mut body, key.request_header_version(v))
            .unwrap();
        req.encode(&mut body, v).unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).unwrap();
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .unwrap_or_else(|e| panic!("{key:?} v{v}: no response: {e}"));
        let mut buf = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut buf).unwrap();
        let mut buf = Bytes::from(buf);
        let h = ResponseHeader::decode(&mut buf, key.response_header_version(v)).unwrap();
        assert_eq!(h.correlation_id, self.correlation_id);
        let resp = Resp::decode(&mut buf, v).unwrap_or_else(|e| panic!("{key:?} v{v}: {e:#}"));
        assert!(buf.is_empty(), "{key:?} v{v}: trailing bytes");
        resp
    }

    pub fn join(&mut self, v: i16, req: &JoinGroupRequest) -> JoinGroupResponse {
        self.call(ApiKey::JoinGroup, v, req)
    }

    /// JoinGroup v5 for a consumer of `topic` (range), answering MEMBER_ID_REQUIRED.
    pub fn join_consumer(
        &mut self,
        group: &str,
        topic: &str,
        session_ms: i32,
    ) -> JoinGroupResponse {
        let mut req = JoinGroupRequest::default()
            .with_group_id(gid(group))
            .with_session_timeout_ms(session_ms)
            .with_rebalance_timeout_ms(20_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))
            .with_metadata(subscription(topic))]);
        let first = self.join(5, &req);
        if first.error_code != 79 {
            return first;
        }
        req.member_id = first.member_id;
        self.join(5, &req)
    }

    /// Join as a (non-leader) consumer and sync; returns (member id, assigned partitions).
    pub fn join_and_sync_consumer(
        &mut self,
        group: &str,
        topic: &str,
        session_ms: i32,
    ) -> (String, Vec<i32>) {
        let j = self.join_consumer(group, topic, session_ms);
        assert_eq!(j.error_code, 0, "join: {j:?}");
        assert_ne!(j.leader, j.member_id, "the raw member must not lead");
        let sync: SyncGroupResponse = self.call(
            ApiKey::SyncGroup,
            3,
            &SyncGroupRequest::default()
                .with_group_id(gid(group))
                .with_generation_id(j.generation_id)
                .with_member_id(j.member_id.clone()),
        );
        assert_eq!(sync.error_code, 0, "sync: {sync:?}");
        (
            j.member_id.to_string(),
            assigned_partitions(sync.assignment, topic),
        )
    }
}

/// A RecordBatch v2 of `n` small records.
pub fn record_batch(n: usize) -> Bytes {
    use kafka_protocol::records::*;
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}
