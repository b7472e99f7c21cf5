//! Criterion benchmarks of the Kafka codec: what does decoding or encoding one message cost with
//! ringlog's own codec (`protocol::messages`, `protocol::fetch`), against the `kafka-protocol`
//! crate (a dev-dependency, here only as the comparison) doing the same work? One group per
//! question, two functions per group (`ringlog`, `kafka-protocol`):
//!
//! - `produce_request_decode`: a whole Produce v9 request frame body (header and body) carrying
//!   one partition with one record batch of 64 x 1 KiB records, decoded. Ours keeps the records
//!   as a slice of the frame; the stderr preamble says whether the crate's records share the
//!   frame too.
//! - `fetch_response_encode`: a Fetch v12 response frame for 10 partitions of one topic, each
//!   with one such batch. Ours is `protocol::fetch::frame_fetch_response`: it writes the frame
//!   around the records and returns a send plan in which the records stay slices (the broker
//!   sends them from the segment file); the crate encodes the whole frame, records copied in.
//! - `metadata_response_encode` / `metadata_response_decode`: a Metadata v12 response body with
//!   one broker and 100 topics x 4 partitions.
//!
//! Both sides get the same bytes: the messages are built once with our types and encoded with our
//! codec; the crate's values are decoded from those bytes, and the setup checks that both encoders
//! produce identical frames. Buffers are reused across iterations (`clear`), so the loops measure
//! the codec, not the allocator's first touch.
//!
//! Run: `cargo bench --bench codec` (under a minute); the kernel and CPU are printed first.

use std::hint::black_box;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Decodable, Encodable};
use ringlog::bench::Machine;
use ringlog::protocol::fetch::{
    frame_fetch_response, FetchReply, FetchReplyPartition, FetchReplyTopic, Part, RecordSlice,
};
use ringlog::protocol::messages::{
    FetchResponse, FetchableTopicResponse, MetadataResponse, MetadataResponseBroker,
    MetadataResponsePartition, MetadataResponseTopic, PartitionData, PartitionProduceData,
    ProduceRequest, TopicProduceData,
};
use ringlog::protocol::wire::Str;
use ringlog::protocol::{decode_request, encode_request, Message, Request};
use ringlog::storage::batch::testing::build_batch;
use uuid::Uuid;

/// Produce version: flexible (compact lengths, tagged fields), topics by name; what librdkafka
/// 2.x sends.
const PRODUCE_VERSION: i16 = 9;
/// Fetch version: flexible, topics by name (the client's ceiling).
const FETCH_VERSION: i16 = 12;
/// Metadata version: the highest ringlog serves.
const METADATA_VERSION: i16 = 12;
/// Records per batch and bytes per record value: a 64 KiB batch, a tuned producer's
/// `batch.size`.
const BATCH_RECORDS: usize = 64;
const RECORD_VALUE_BYTES: usize = 1024;
/// Partitions in the Fetch response, each carrying one batch.
const FETCH_PARTITIONS: i32 = 10;
/// Metadata response shape.
const METADATA_TOPICS: usize = 100;
const METADATA_PARTITIONS: i32 = 4;
/// Any correlation id: both sides write the same one.
const CORRELATION_ID: i32 = 7;
const TOPIC: &str = "bench-topic";
const BROKER_ID: i32 = 1;

/// Short runs: the whole bench (4 groups x 2 functions) stays under a minute.
fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

/// One uncompressed batch of `BATCH_RECORDS` values of `RECORD_VALUE_BYTES` bytes each.
fn record_batch() -> Bytes {
    let value = vec![b'v'; RECORD_VALUE_BYTES];
    let values: Vec<&[u8]> = (0..BATCH_RECORDS).map(|_| value.as_slice()).collect();
    Bytes::from(build_batch(0, &values))
}

/// Whether `inner` lies within `outer`'s memory (a slice of it rather than a copy).
fn shares(outer: &[u8], inner: &[u8]) -> bool {
    let range = outer.as_ptr_range();
    !inner.is_empty() && range.start <= inner.as_ptr() && inner.as_ptr() < range.end
}

fn produce_request_decode(c: &mut Criterion) {
    let batch = record_batch();
    let request = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: Str::from(TOPIC),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch.clone()),
            }],
        }],
    };
    let mut frame = BytesMut::new();
    encode_request(
        &request,
        PRODUCE_VERSION,
        CORRELATION_ID,
        Some("bench"),
        &mut frame,
    )
    .expect("a 64 KiB request fits a frame");
    // The bytes after the size prefix, as the broker's frame splitter hands them over.
    let body = frame.freeze().slice(4..);

    let ours = |body: Bytes| decode_request(body).expect("our own request decodes");
    let theirs = |body: Bytes| -> kp::ProduceRequest {
        let mut buf = body;
        // Dispatch as a broker must: api key and version first, then the header version.
        let key = kp::ApiKey::try_from(i16::from_be_bytes([buf[0], buf[1]])).expect("known key");
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let header = kp::RequestHeader::decode(&mut buf, key.request_header_version(version))
            .expect("the crate decodes the header");
        kp::ProduceRequest::decode(&mut buf, header.request_api_version)
            .expect("the crate decodes the body")
    };

    let (_, decoded) = ours(body.clone());
    let Request::Produce(decoded) = decoded else {
        panic!("decoded as another api: {decoded:?}");
    };
    let ours_records = decoded.topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap();
    assert_eq!(ours_records, batch);
    assert!(
        shares(&body, &ours_records),
        "our records are a slice of the frame"
    );
    let their_records = theirs(body.clone()).topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap();
    assert_eq!(their_records, batch);
    eprintln!(
        "produce_request_decode: frame body {} bytes, batch {} bytes; records a slice of the \
         frame: ringlog yes, kafka-protocol {}",
        body.len(),
        batch.len(),
        if shares(&body, &their_records) {
            "yes"
        } else {
            "no"
        }
    );

    let mut group = c.benchmark_group("produce_request_decode");
    configure(&mut group);
    group.bench_function("ringlog", |b| b.iter(|| black_box(ours(body.clone()))));
    group.bench_function("kafka-protocol", |b| {
        b.iter(|| black_box(theirs(body.clone())))
    });
    group.finish();
}

fn fetch_response_encode(c: &mut Criterion) {
    let batch = record_batch();
    let partition = |p: i32| (p, 1_000 + i64::from(p));
    let reply = FetchReply {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        topics: vec![FetchReplyTopic {
            name: Str::from(TOPIC),
            topic_id: Uuid::nil(),
            partitions: (0..FETCH_PARTITIONS)
                .map(partition)
                .map(|(p, hw)| FetchReplyPartition {
                    partition_index: p,
                    error_code: 0,
                    high_watermark: hw,
                    last_stable_offset: hw,
                    log_start_offset: 0,
                    aborted_transactions: None,
                    records: vec![RecordSlice {
                        slice_id: p as usize,
                        len: batch.len() as u32,
                    }],
                })
                .collect(),
        }],
    };
    // The same response as a message value, encoded by our codec for the crate to decode.
    let message = FetchResponse {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        responses: vec![FetchableTopicResponse {
            topic: Str::from(TOPIC),
            partitions: (0..FETCH_PARTITIONS)
                .map(partition)
                .map(|(p, hw)| PartitionData {
                    partition_index: p,
                    error_code: 0,
                    high_watermark: hw,
                    last_stable_offset: hw,
                    log_start_offset: 0,
                    aborted_transactions: None,
                    preferred_read_replica: -1,
                    records: Some(batch.clone()),
                    ..PartitionData::default()
                })
                .collect(),
            ..FetchableTopicResponse::default()
        }],
        ..FetchResponse::default()
    };
    let mut body = BytesMut::new();
    message.encode(&mut body, FETCH_VERSION);
    let response = kp::FetchResponse::decode(&mut body.freeze(), FETCH_VERSION)
        .expect("the crate decodes our Fetch response");
    let header_version = kp::ApiKey::Fetch.response_header_version(FETCH_VERSION);

    let ours = |out: &mut BytesMut| -> Vec<Part> {
        out.clear();
        frame_fetch_response(CORRELATION_ID, FETCH_VERSION, &reply, out).expect("the reply frames")
    };
    let theirs = |out: &mut BytesMut| {
        out.clear();
        out.put_i32(0); // size, patched below
        kp::ResponseHeader::default()
            .with_correlation_id(CORRELATION_ID)
            .encode(out, header_version)
            .expect("the crate encodes the header");
        response
            .encode(out, FETCH_VERSION)
            .expect("the crate encodes the body");
        let size = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&size.to_be_bytes());
    };

    // Both frames hold the same bytes once our plan's slices are filled in.
    let mut out = BytesMut::new();
    let plan = ours(&mut out);
    let mut assembled = Vec::new();
    for part in &plan {
        match part {
            Part::Header(range) => assembled.extend_from_slice(&out[range.clone()]),
            Part::Slice(_) => assembled.extend_from_slice(&batch),
        }
    }
    let header_bytes = out.len();
    theirs(&mut out);
    assert_eq!(assembled, &out[..], "both encoders write the same frame");
    eprintln!(
        "fetch_response_encode: {FETCH_PARTITIONS} partitions x {} record bytes; ringlog writes \
         {header_bytes} header bytes and a plan of {} parts, kafka-protocol the {}-byte frame",
        batch.len(),
        plan.len(),
        out.len()
    );

    let mut group = c.benchmark_group("fetch_response_encode");
    configure(&mut group);
    group.bench_function("ringlog", |b| b.iter(|| black_box(ours(&mut out))));
    group.bench_function("kafka-protocol", |b| {
        b.iter(|| {
            theirs(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

/// One broker and `METADATA_TOPICS` topics of `METADATA_PARTITIONS` partitions, all led by it.
fn metadata_response() -> MetadataResponse {
    MetadataResponse {
        throttle_time_ms: 0,
        brokers: vec![MetadataResponseBroker {
            node_id: BROKER_ID,
            host: Str::from("localhost"),
            port: 9092,
            rack: None,
        }],
        cluster_id: Some(Str::from("ringlog-bench")),
        controller_id: BROKER_ID,
        topics: (0..METADATA_TOPICS)
            .map(|t| MetadataResponseTopic {
                error_code: 0,
                name: Some(Str::from(format!("topic-{t:03}"))),
                topic_id: Uuid::from_u128(t as u128 + 1),
                is_internal: false,
                partitions: (0..METADATA_PARTITIONS)
                    .map(|p| MetadataResponsePartition {
                        error_code: 0,
                        partition_index: p,
                        leader_id: BROKER_ID,
                        leader_epoch: 0,
                        replica_nodes: vec![BROKER_ID],
                        isr_nodes: vec![BROKER_ID],
                        offline_replicas: Vec::new(),
                    })
                    .collect(),
                ..MetadataResponseTopic::default()
            })
            .collect(),
        ..MetadataResponse::default()
    }
}

fn metadata_response_codec(c: &mut Criterion) {
    let message = metadata_response();
    let mut out = BytesMut::new();
    message.encode(&mut out, METADATA_VERSION);
    let body = out.split().freeze();
    let theirs_message = kp::MetadataResponse::decode(&mut body.clone(), METADATA_VERSION)
        .expect("the crate decodes our Metadata response");
    theirs_message
        .encode(&mut out, METADATA_VERSION)
        .expect("the crate encodes");
    assert_eq!(&out[..], &body[..], "both encoders write the same body");
    assert_eq!(
        MetadataResponse::decode(body.clone(), METADATA_VERSION).expect("ours decodes"),
        message
    );
    eprintln!(
        "metadata_response: {METADATA_TOPICS} topics x {METADATA_PARTITIONS} partitions, {} bytes",
        body.len()
    );

    let mut group = c.benchmark_group("metadata_response_encode");
    configure(&mut group);
    group.bench_function("ringlog", |b| {
        b.iter(|| {
            out.clear();
            message.encode(&mut out, METADATA_VERSION);
            black_box(out.len())
        })
    });
    group.bench_function("kafka-protocol", |b| {
        b.iter(|| {
            out.clear();
            theirs_message
                .encode(&mut out, METADATA_VERSION)
                .expect("the crate encodes");
            black_box(out.len())
        })
    });
    group.finish();

    let mut group = c.benchmark_group("metadata_response_decode");
    configure(&mut group);
    group.bench_function("ringlog", |b| {
        b.iter(|| black_box(MetadataResponse::decode(body.clone(), METADATA_VERSION).unwrap()))
    });
    group.bench_function("kafka-protocol", |b| {
        b.iter(|| {
            black_box(kp::MetadataResponse::decode(&mut body.clone(), METADATA_VERSION).unwrap())
        })
    });
    group.finish();
}

fn preamble(_: &mut Criterion) {
    let m = Machine::current();
    eprintln!(
        "codec: kernel {}, CPU {} x{}; ringlog's codec vs the kafka-protocol crate",
        m.kernel, m.cpu_model, m.cpus
    );
}

criterion_group!(
    benches,
    preamble,
    produce_request_decode,
    fetch_response_encode,
    metadata_response_codec
);
criterion_main!(benches);
