//! Hostile frames that once could take the whole broker down (a count or length of 2^31-1 in a
//! frame of a few bytes made the old decoder reserve ~150 GB and abort every shard). Each must be
//! answered with a closed connection, as Kafka closes on a request it cannot parse, while a
//! second client keeps producing and consuming on the same broker the whole time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use ringlog::runtime::IoKind;

use super::client::*;

/// Builds one frame by hand: size, header (v1, or v2 with an empty tag section), body. No codec
/// is involved, so the frame can lie in ways no encoder would.
fn frame(api_key: i16, api_version: i16, header_v2: bool, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(api_key);
    b.put_i16(api_version);
    b.put_i32(7);
    b.put_i16(-1); // null client id
    if header_v2 {
        b.put_u8(0);
    }
    b.put_slice(body);
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b.to_vec()
}

/// Uvarint 2^31 - 1 (a compact count of 2^31 - 2 elements, or a tag count of 2^31 - 1).
const UVARINT_2_31_MINUS_1: [u8; 5] = [0xff, 0xff, 0xff, 0xff, 0x07];

/// The hostile cases: (what, frame).
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut cases = Vec::new();

    // Metadata v1: topics array count i32::MAX, then nothing.
    cases.push((
        "Metadata v1 topics count 2^31-1",
        frame(3, 1, false, &[0x7f, 0xff, 0xff, 0xff]),
    ));

    // Metadata v12 (flexible): compact topics count 2^31-2.
    let mut body = UVARINT_2_31_MINUS_1.to_vec();
    body.extend_from_slice(&[1, 0, 0]);
    cases.push((
        "Metadata v12 compact topics count 2^31-2",
        frame(3, 12, true, &body),
    ));

    // CreateTopics v2: one topic whose name claims 2^15-1 bytes with 3 left.
    cases.push((
        "CreateTopics v2 string length 2^15-1 with 3 bytes left",
        frame(19, 2, false, &[0, 0, 0, 1, 0x7f, 0xff, b'a', b'b', b'c']),
    ));

    // Produce v3: one topic "t", one partition, records length i32::MAX.
    let mut body = BytesMut::new();
    body.put_i16(-1); // transactional id: null
    body.put_i16(1); // acks
    body.put_i32(1000); // timeout
    body.put_i32(1); // topics
    body.put_i16(1);
    body.put_u8(b't');
    body.put_i32(1); // partitions
    body.put_i32(0); // index
    body.put_i32(i32::MAX); // records length
    body.put_slice(&[0; 16]);
    cases.push((
        "Produce v3 records length 2^31-1",
        frame(0, 3, false, &body),
    ));

    // Metadata v12: a valid body, then a tagged-field count of 2^31-1.
    let mut body = vec![0u8, 1, 0];
    body.extend_from_slice(&UVARINT_2_31_MINUS_1);
    cases.push((
        "Metadata v12 tagged field count 2^31-1",
        frame(3, 12, true, &body),
    ));

    // Fetch v12: every array a count of 2^31-2, nested as deep as the schema goes and beyond
    // (64 KiB of array headers): depth is fixed by the message definitions, so this is one
    // count checked against the bytes left, not a recursion.
    let mut body = BytesMut::new();
    body.put_i32(-1); // replica id
    body.put_i32(500); // max wait
    body.put_i32(1); // min bytes
    body.put_i32(1 << 20); // max bytes
    body.put_i8(0); // isolation
    body.put_i32(0); // session id
    body.put_i32(-1); // session epoch
    for _ in 0..(64 * 1024 / 5) {
        body.put_slice(&UVARINT_2_31_MINUS_1);
    }
    cases.push((
        "Fetch v12 64 KiB of nested compact counts",
        frame(1, 12, true, &body),
    ));

    // JoinGroup v5: protocols count i32::MAX after valid strings.
    let mut body = BytesMut::new();
    for s in ["g", ""] {
        body.put_i16(s.len() as i16);
        body.put_slice(s.as_bytes());
    }
    body.put_i32(10_000); // session timeout
    body.put_i32(10_000); // rebalance timeout
    body.put_i16(0); // member id ""
    body.put_i16(-1); // group instance id: null
    body.put_i16(8);
    body.put_slice(b"consumer");
    body.put_i32(i32::MAX);
    cases.push((
        "JoinGroup v5 protocols count 2^31-1",
        frame(11, 5, false, &body),
    ));

    cases
}

pub fn hostile_counts_and_lengths_close_the_connection_while_others_are_served(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut setup = broker.connect();
    let id = create_topic(&mut setup, "steady", 2);

    // The bystander: produce and fetch back, over and over, until the hostile cases are done.
    let done = Arc::new(AtomicBool::new(false));
    let addr = broker.addr;
    let bystander = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut rounds = 0u32;
            let mut next_offset = 0i64;
            while !done.load(Ordering::Relaxed) || rounds < 3 {
                let records = batch(1_700_000_000_000, &[b"steady"]);
                let offset = produce_one(&mut c, "steady", 1, &records);
                assert_eq!(offset, next_offset, "bystander round {rounds}: offset");
                let (error, high_watermark, bytes) = fetch_one(&mut c, "steady", id, 1, offset);
                assert_eq!(error, 0, "bystander round {rounds}: fetch error");
                assert_eq!(high_watermark, offset + 1, "bystander round {rounds}");
                assert_eq!(bytes, stamped(&records, offset), "bystander round {rounds}");
                next_offset += 1;
                rounds += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            rounds
        })
    };

    for (what, bytes) in cases() {
        let mut c = broker.connect();
        c.write_raw(&bytes)
            .unwrap_or_else(|e| panic!("{what}: writing the frame: {e}"));
        c.assert_closed(what);
    }
    done.store(true, Ordering::Relaxed);
    let rounds = bystander
        .join()
        .expect("bystander kept producing and consuming");
    assert!(rounds >= 3, "bystander ran {rounds} rounds");

    // And a fresh connection still gets everything answered.
    let mut c = broker.connect();
    let (error, high_watermark, _) = fetch_one(&mut c, "steady", id, 1, 0);
    assert_eq!((error, high_watermark), (0, i64::from(rounds)));
}
