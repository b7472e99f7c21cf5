//! The share consumer against a scripted broker on loopback: every request it sends is checked
//! (epochs, session partitions, piggybacked acknowledgements) and answered by hand.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::cli;
use crate::records::{encode_batch, Compression, ProducerRecord};
use ringlog_protocol::messages::{
    self, ApiVersion, MetadataResponse, MetadataResponseTopic, ShareAcknowledgePartitionData,
    ShareAcknowledgeResponse, ShareAcknowledgeTopicResponse, ShareAcquiredRecords,
    ShareFetchPartitionData, ShareFetchableTopicResponse, ShareGroupHeartbeatAssignment,
    ShareGroupHeartbeatTopicPartitions,
};
use ringlog_protocol::{Request, RequestHeader, Response};

const TOPIC_ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

fn read_request(s: &mut TcpStream) -> (RequestHeader, Request) {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut body = vec![0; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).unwrap();
    ringlog_protocol::decode_request(Bytes::from(body)).unwrap()
}

fn reply(s: &mut TcpStream, header: &RequestHeader, response: Response) {
    let mut out = BytesMut::new();
    ringlog_protocol::encode_response(header, &response, &mut out).unwrap();
    s.write_all(&out).unwrap();
}

/// Accepts the consumer's connection and answers ApiVersions and Metadata (topic `t`).
fn accept(listener: &TcpListener) -> TcpStream {
    let (mut s, _) = listener.accept().unwrap();
    let api = |k: ApiKey, min_version, max_version| ApiVersion {
        api_key: k as i16,
        min_version,
        max_version,
    };
    let (header, _) = read_request(&mut s);
    let versions = messages::ApiVersionsResponse {
        api_keys: vec![
            api(ApiKey::ApiVersions, 0, 3),
            api(ApiKey::Metadata, 0, 12),
            api(ApiKey::FindCoordinator, 0, 4),
            api(ApiKey::ShareGroupHeartbeat, 1, 1),
            api(ApiKey::ShareFetch, 1, 2),
            api(ApiKey::ShareAcknowledge, 1, 2),
        ],
        ..Default::default()
    };
    reply(&mut s, &header, versions.into());
    let (header, request) = read_request(&mut s);
    let Request::Metadata(m) = request else {
        panic!("{request:?}")
    };
    assert_eq!(header.api_version, 12);
    let names: Vec<_> = m.topics.iter().flatten().map(|t| t.name.clone()).collect();
    assert_eq!(names, [Some(Str::from("t"))]);
    let metadata = MetadataResponse {
        topics: vec![MetadataResponseTopic {
            name: Some(Str::from("t")),
            topic_id: TOPIC_ID,
            ..Default::default()
        }],
        ..Default::default()
    };
    reply(&mut s, &header, metadata.into());
    let (header, request) = read_request(&mut s);
    let Request::FindCoordinator(f) = request else {
        panic!("{request:?}")
    };
    assert_eq!(header.api_version, 4);
    assert_eq!(
        (f.key_type, &f.coordinator_keys[..]),
        (0, &[Str::from("g")][..])
    );
    let port = listener.local_addr().unwrap().port();
    let coordinator = messages::FindCoordinatorResponse {
        coordinators: vec![messages::Coordinator {
            key: Str::from("g"),
            node_id: 0,
            host: Str::from("127.0.0.1"),
            port: i32::from(port),
            ..Default::default()
        }],
        ..Default::default()
    };
    reply(&mut s, &header, coordinator.into());
    s
}

fn heartbeat(s: &mut TcpStream) -> (RequestHeader, ShareGroupHeartbeatRequest) {
    let (header, request) = read_request(s);
    match request {
        Request::ShareGroupHeartbeat(h) => (header, *h),
        other => panic!("{other:?}"),
    }
}

fn beat_reply(epoch: i32, assigned: Option<&[i32]>) -> Response {
    ShareGroupHeartbeatResponse {
        member_epoch: epoch,
        heartbeat_interval_ms: 5_000,
        assignment: assigned.map(|parts| ShareGroupHeartbeatAssignment {
            topic_partitions: vec![ShareGroupHeartbeatTopicPartitions {
                topic_id: TOPIC_ID,
                partitions: parts.to_vec(),
            }],
        }),
        ..Default::default()
    }
    .into()
}

fn share_fetch(s: &mut TcpStream) -> (RequestHeader, ShareFetchRequest) {
    let (header, request) = read_request(s);
    match request {
        Request::ShareFetch(f) => (header, *f),
        other => panic!("{other:?}"),
    }
}

fn share_ack(s: &mut TcpStream) -> (RequestHeader, ShareAcknowledgeRequest) {
    let (header, request) = read_request(s);
    match request {
        Request::ShareAcknowledge(a) => (header, *a),
        other => panic!("{other:?}"),
    }
}

/// The (partition, [(first, last, types)]) a ShareFetch names.
type Named = Vec<(i32, Vec<(i64, i64, Vec<i8>)>)>;

fn named(r: &ShareFetchRequest) -> Named {
    r.topics
        .iter()
        .inspect(|t| assert_eq!(t.topic_id, TOPIC_ID))
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            let batches = p.acknowledgement_batches.iter();
            let batches =
                batches.map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()));
            (p.partition_index, batches.collect())
        })
        .collect()
}

/// One batch of `n` records at `base` (values "v<offset>").
fn batch_at(base: i64, n: usize) -> Vec<u8> {
    let records: Vec<ProducerRecord> = (0..n)
        .map(|i| ProducerRecord {
            key: None,
            value: Some(Bytes::from(format!("v{}", base + i as i64))),
        })
        .collect();
    let mut b = encode_batch(&records, 0, Compression::None)
        .unwrap()
        .to_vec();
    ringlog_storage::batch::stamp(&mut b, base, 0);
    b
}

fn fetch_reply(
    records: Vec<u8>,
    acquired: &[(i64, i64, i16)],
    acknowledge_error_code: i16,
) -> Response {
    ShareFetchResponse {
        acquisition_lock_timeout_ms: 30_000,
        responses: vec![ShareFetchableTopicResponse {
            topic_id: TOPIC_ID,
            partitions: vec![ShareFetchPartitionData {
                partition_index: 0,
                acknowledge_error_code,
                records: Bytes::from(records),
                acquired_records: acquired
                    .iter()
                    .map(
                        |&(first_offset, last_offset, delivery_count)| ShareAcquiredRecords {
                            first_offset,
                            last_offset,
                            delivery_count,
                        },
                    )
                    .collect(),
                ..Default::default()
            }],
        }],
        ..Default::default()
    }
    .into()
}

fn ack_reply(partitions: &[(i32, i16)]) -> Response {
    ShareAcknowledgeResponse {
        responses: vec![ShareAcknowledgeTopicResponse {
            topic_id: TOPIC_ID,
            partitions: partitions
                .iter()
                .map(
                    |&(partition_index, error_code)| ShareAcknowledgePartitionData {
                        partition_index,
                        error_code,
                        ..Default::default()
                    },
                )
                .collect(),
        }],
        ..Default::default()
    }
    .into()
}

/// The implicit-mode life of a member, request by request.
fn implicit_broker(listener: TcpListener) {
    let mut s = accept(&listener);
    // Join: epoch 0 with the subscription and a Kafka-style id; no assignment yet.
    let (h, b) = heartbeat(&mut s);
    assert_eq!((&*b.group_id, b.member_epoch), ("g", 0));
    assert_eq!(b.member_id.len(), member_id::MEMBER_ID_CHARS);
    let subscribed: Vec<&str> = b
        .subscribed_topic_names
        .iter()
        .flatten()
        .map(|t| &**t)
        .collect();
    assert_eq!(subscribed, ["t"]);
    let member = b.member_id.clone();
    reply(&mut s, &h, beat_reply(1, None));
    // wait_for_assignment: the next heartbeat carries epoch 1 and no subscription.
    let (h, b) = heartbeat(&mut s);
    assert_eq!((b.member_epoch, &b.member_id), (1, &member));
    assert_eq!(b.subscribed_topic_names, None);
    reply(&mut s, &h, beat_reply(2, Some(&[0])));

    // Session epoch 0: the assigned partition, no acknowledgements.
    let (h, f) = share_fetch(&mut s);
    assert_eq!(h.api_version, 2);
    assert_eq!(
        (f.share_session_epoch, f.max_records, f.max_wait_ms),
        (0, 7, 50)
    );
    assert_eq!(f.member_id.as_deref(), Some(&*member));
    assert_eq!(named(&f), [(0, vec![])]);
    reply(&mut s, &h, fetch_reply(batch_at(0, 10), &[(0, 9, 1)], 0));

    // Epoch 1: records 0..=9 accepted, piggybacked.
    let (h, f) = share_fetch(&mut s);
    assert_eq!(f.share_session_epoch, 1);
    assert_eq!(named(&f), [(0, vec![(0, 9, vec![1])])]);
    let mut two = batch_at(10, 10);
    two.extend(batch_at(20, 5));
    two.truncate(two.len() - 1); // the second batch is cut: 20..=21 come back released
    reply(&mut s, &h, fetch_reply(two, &[(12, 21, 2)], 0));

    // commit: ShareAcknowledge at epoch 2 with 12..=19 accepted and 20..=21 released.
    let (h, a) = share_ack(&mut s);
    assert_eq!(a.share_session_epoch, 2);
    let acks: Vec<_> = a.topics[0].partitions[0]
        .acknowledgement_batches
        .iter()
        .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()))
        .collect();
    assert_eq!(acks, [(12, 19, vec![1]), (20, 21, vec![2])]);
    reply(&mut s, &h, ack_reply(&[(0, 0)]));

    // Epoch 3 names nothing; the broker has lost the session.
    let (h, f) = share_fetch(&mut s);
    assert_eq!(f.share_session_epoch, 3);
    assert!(f.topics.is_empty());
    let lost = ShareFetchResponse {
        error_code: error::SHARE_SESSION_NOT_FOUND,
        ..Default::default()
    };
    reply(&mut s, &h, lost.into());
    // The next poll opens a new session.
    let (h, f) = share_fetch(&mut s);
    assert_eq!((f.share_session_epoch, named(&f)), (0, vec![(0, vec![])]));
    reply(&mut s, &h, fetch_reply(Vec::new(), &[], 0));

    // close: ShareAcknowledge at -1 (nothing pending), then leave at member epoch -1.
    let (h, a) = share_ack(&mut s);
    assert_eq!((a.share_session_epoch, a.topics.len()), (FINAL_EPOCH, 0));
    reply(&mut s, &h, ack_reply(&[]));
    let (h, b) = heartbeat(&mut s);
    assert_eq!((b.member_epoch, &b.member_id), (LEAVE_EPOCH, &member));
    reply(&mut s, &h, beat_reply(LEAVE_EPOCH, None));
}

#[test]
fn implicit_mode_session_epochs_and_piggybacked_acknowledgements() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let broker = thread::spawn(move || implicit_broker(listener));
    ringlog_runtime::block_on(&cli::runtime_config(), async move {
        let config = ShareConsumerConfig {
            max_records: 7,
            max_wait: Duration::from_millis(50),
            ..ShareConsumerConfig::new("g", &["t"])
        };
        let mut c = ShareConsumer::join(addr, config).await.unwrap();
        assert_eq!(c.member_epoch(), 1);
        assert!(c.assignment().is_empty());
        c.wait_for_assignment(Duration::from_secs(5)).await.unwrap();
        assert_eq!(c.assignment(), [(Arc::from("t"), 0)]);
        assert_eq!(c.member_epoch(), 2);

        let first = c.poll().await.unwrap();
        let offsets: Vec<i64> = first.records.iter().map(|r| r.record.offset).collect();
        assert_eq!(offsets, (0..10).collect::<Vec<_>>());
        assert!(first.records.iter().all(|r| r.delivery_count == 1));
        assert_eq!(first.records[3].record.value.as_deref(), Some(&b"v3"[..]));
        assert_eq!(first.acquisition_lock_timeout_ms, 30_000);
        assert!(first.acknowledged.is_empty());
        assert_eq!(c.pending_acknowledgements(), 10);

        let second = c.poll().await.unwrap();
        let offsets: Vec<i64> = second.records.iter().map(|r| r.record.offset).collect();
        assert_eq!(offsets, (12..20).collect::<Vec<_>>());
        assert!(second.records.iter().all(|r| r.delivery_count == 2));
        assert_eq!(second.acknowledged.len(), 1);
        let a = &second.acknowledged[0];
        assert!(a.error.is_none(), "{:?}", a.error);
        assert_eq!(
            (a.acks.count(AcknowledgeType::Accept), a.partition),
            (10, 0)
        );

        let committed = c.commit().await.unwrap();
        assert_eq!(committed.len(), 1);
        assert!(committed[0].error.is_none());
        assert_eq!(committed[0].acks.count(AcknowledgeType::Release), 2);
        assert_eq!(c.pending_acknowledgements(), 0);
        assert!(
            c.commit().await.unwrap().is_empty(),
            "nothing pending: nothing sent"
        );

        let e = c.poll().await.unwrap_err();
        assert_eq!(e.kafka_code(), Some(error::SHARE_SESSION_NOT_FOUND), "{e}");
        let empty = c.poll().await.unwrap();
        assert!(empty.records.is_empty() && empty.acknowledged.is_empty());
        assert!(c.close().await.unwrap().is_empty());
    })
    .unwrap();
    broker.join().unwrap();
}

/// Explicit mode: only what the member acknowledged is sent, with the broker's verdict.
fn explicit_broker(listener: TcpListener) {
    let mut s = accept(&listener);
    let (h, _) = heartbeat(&mut s);
    reply(&mut s, &h, beat_reply(1, Some(&[0])));
    let (h, f) = share_fetch(&mut s);
    assert_eq!(f.share_session_epoch, 0);
    reply(&mut s, &h, fetch_reply(batch_at(0, 3), &[(0, 2, 1)], 0));
    let (h, f) = share_fetch(&mut s);
    assert_eq!(f.share_session_epoch, 1);
    assert_eq!(named(&f), [(0, vec![(0, 0, vec![1]), (1, 1, vec![3])])]);
    reply(
        &mut s,
        &h,
        fetch_reply(Vec::new(), &[], error::INVALID_RECORD_STATE),
    );
    let (h, a) = share_ack(&mut s);
    assert_eq!(a.share_session_epoch, FINAL_EPOCH);
    let acks = &a.topics[0].partitions[0].acknowledgement_batches;
    assert_eq!(
        (
            acks[0].first_offset,
            acks[0].last_offset,
            &acks[0].acknowledge_types[..]
        ),
        (2, 2, &[2][..])
    );
    reply(&mut s, &h, ack_reply(&[(0, 0)]));
    let (h, b) = heartbeat(&mut s);
    assert_eq!(b.member_epoch, LEAVE_EPOCH);
    reply(&mut s, &h, beat_reply(LEAVE_EPOCH, None));
}

#[test]
fn explicit_mode_sends_only_what_was_acknowledged() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let broker = thread::spawn(move || explicit_broker(listener));
    ringlog_runtime::block_on(&cli::runtime_config(), async move {
        let config = ShareConsumerConfig {
            mode: AcknowledgementMode::Explicit,
            max_wait: Duration::from_millis(50),
            ..ShareConsumerConfig::new("g", &["t"])
        };
        let mut c = ShareConsumer::join(addr, config).await.unwrap();
        c.wait_for_assignment(Duration::from_secs(5)).await.unwrap();
        let got = c.poll().await.unwrap().records;
        assert_eq!(got.len(), 3);
        assert_eq!(c.pending_acknowledgements(), 0, "explicit: nothing implied");
        c.acknowledge(&got[0], AcknowledgeType::Accept).unwrap();
        c.acknowledge(&got[1], AcknowledgeType::Reject).unwrap();
        let polled = c.poll().await.unwrap();
        let a = &polled.acknowledged[0];
        assert_eq!(
            a.error.as_ref().and_then(ClientError::kafka_code),
            Some(error::INVALID_RECORD_STATE)
        );
        assert_eq!(
            (
                a.acks.count(AcknowledgeType::Accept),
                a.acks.count(AcknowledgeType::Reject)
            ),
            (1, 1)
        );
        c.acknowledge(&got[2], AcknowledgeType::Release).unwrap();
        let closed = c.close().await.unwrap();
        assert_eq!(closed.len(), 1);
        assert!(closed[0].error.is_none());
    })
    .unwrap();
    broker.join().unwrap();
}

#[test]
fn configs_are_checked_before_connecting() {
    let ok = ShareConsumerConfig::new("g", &["t"]);
    assert!(ok.validate().is_ok());
    let bad = [
        ShareConsumerConfig::new("", &["t"]),
        ShareConsumerConfig::new("g", &[]),
        ShareConsumerConfig::new("g", &[""]),
        ShareConsumerConfig {
            max_records: 0,
            ..ok.clone()
        },
        ShareConsumerConfig {
            max_bytes: i32::MAX,
            ..ok.clone()
        },
        ShareConsumerConfig {
            max_wait: FETCH_WAIT_MAX + Duration::from_millis(1),
            ..ok.clone()
        },
    ];
    for c in bad {
        assert!(
            matches!(c.validate(), Err(ClientError::InvalidArgument(_))),
            "{c:?}"
        );
    }
}

#[test]
fn session_epochs_wrap_past_the_largest_to_1() {
    let mut s = Session {
        next_epoch: i32::MAX,
        partitions: Vec::new(),
    };
    assert_eq!(s.advance(), i32::MAX);
    assert_eq!(s.advance(), 1);
    assert_eq!(s.advance(), 2);
}

#[test]
fn the_coordinator_must_be_the_broker_connected_to() {
    let addr = SocketAddr::from(([127, 0, 0, 1], 9092));
    let at = |host: &str, port| CoordinatorInfo {
        node_id: 1,
        host: host.into(),
        port,
    };
    assert!(check_same_broker(&at("127.0.0.1", 9092), addr, "g").is_ok());
    let e = check_same_broker(&at("127.0.0.1", 9093), addr, "g").unwrap_err();
    assert!(
        e.to_string()
            .contains("coordinator of share group g is broker 1 at 127.0.0.1:9093"),
        "{e}"
    );
    assert!(check_same_broker(&at("10.1.2.3", 9092), addr, "g").is_err());
    assert!(check_same_broker(&at("127.0.0.1", -1), addr, "g").is_err());
}

/// How long the scripted broker of the prefetch test waits for the consumer's signal.
const SIGNAL_WAIT: Duration = Duration::from_secs(10);

/// A prefetching member: each poll sends the next ShareFetch before handing its records out,
/// and closing reads the prefetched answer without accepting its records.
fn prefetch_broker(listener: TcpListener, handed_out: std::sync::mpsc::Receiver<()>) {
    let mut s = accept(&listener);
    let (h, b) = heartbeat(&mut s);
    let member = b.member_id.clone();
    reply(&mut s, &h, beat_reply(1, Some(&[0])));

    // Poll 1: the session opens, then the prefetch follows at once with no acknowledgement
    // (the records of poll 1 are not processed yet).
    let (h, f) = share_fetch(&mut s);
    assert_eq!((f.share_session_epoch, named(&f)), (0, vec![(0, vec![])]));
    reply(&mut s, &h, fetch_reply(batch_at(0, 10), &[(0, 9, 1)], 0));
    let (h, f) = share_fetch(&mut s);
    assert_eq!((f.share_session_epoch, named(&f)), (1, vec![]));
    reply(&mut s, &h, fetch_reply(batch_at(10, 10), &[(10, 19, 1)], 0));

    // Poll 2 hands out 10..=19 from the prefetched answer and sends epoch 2 with 0..=9
    // accepted; the consumer has its records before this request is answered.
    let (h, f) = share_fetch(&mut s);
    assert_eq!(
        (f.share_session_epoch, named(&f)),
        (2, vec![(0, vec![(0, 9, vec![1])])])
    );
    handed_out
        .recv_timeout(SIGNAL_WAIT)
        .expect("poll 2 returned while its prefetch was unanswered");
    reply(&mut s, &h, fetch_reply(batch_at(20, 5), &[(20, 24, 1)], 0));

    // close: the prefetched answer (20..=24) is read, never handed out nor accepted; the
    // closing ShareAcknowledge accepts 10..=19 and releases the rest by closing the session.
    let (h, a) = share_ack(&mut s);
    assert_eq!(a.share_session_epoch, FINAL_EPOCH);
    let acks: Vec<_> = a.topics[0].partitions[0]
        .acknowledgement_batches
        .iter()
        .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()))
        .collect();
    assert_eq!(acks, [(10, 19, vec![1])]);
    reply(&mut s, &h, ack_reply(&[(0, 0)]));
    let (h, b) = heartbeat(&mut s);
    assert_eq!((b.member_epoch, &b.member_id), (LEAVE_EPOCH, &member));
    reply(&mut s, &h, beat_reply(LEAVE_EPOCH, None));
}

#[test]
fn prefetch_sends_the_next_fetch_before_handing_records_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (signal, handed_out) = std::sync::mpsc::channel();
    let broker = thread::spawn(move || prefetch_broker(listener, handed_out));
    ringlog_runtime::block_on(&cli::runtime_config(), async move {
        let config = ShareConsumerConfig {
            max_wait: Duration::from_millis(50),
            prefetch: true,
            ..ShareConsumerConfig::new("g", &["t"])
        };
        let mut c = ShareConsumer::join(addr, config).await.unwrap();
        c.wait_for_assignment(Duration::from_secs(5)).await.unwrap();
        let first = c.poll().await.unwrap();
        let offsets: Vec<i64> = first.records.iter().map(|r| r.record.offset).collect();
        assert_eq!(offsets, (0..10).collect::<Vec<_>>());
        let second = c.poll().await.unwrap();
        let offsets: Vec<i64> = second.records.iter().map(|r| r.record.offset).collect();
        assert_eq!(offsets, (10..20).collect::<Vec<_>>());
        signal.send(()).unwrap();
        // Only the handed-out records wait for acceptance.
        assert_eq!(c.pending_acknowledgements(), 10);
        let closed = c.close().await.unwrap();
        let accepted: Vec<(i64, i64)> = closed
            .iter()
            .inspect(|a| assert!(a.error.is_none(), "{:?}", a.error))
            .flat_map(|a| a.acks.runs().iter().map(|r| (r.first, r.last)))
            .collect();
        assert_eq!(accepted, [(0, 9), (10, 19)]);
    })
    .unwrap();
    broker.join().unwrap();
}
