//! Several threads throw seeded garbage at the broker for a few seconds; afterwards a normal
//! client must be served and the data produced before must be intact.
//!
//! Set `RINGLOG_CHAOS_SEED=<n>` to replay a run; the seed is printed either way (thread timing
//! still varies, so a replay is not exact). What a seed finds is then pinned down by a
//! deterministic test here: an unsatisfiable long poll must leave its shard serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    list_offsets_request, ApiKey, ApiVersionsRequest, CreateTopicsRequest, FetchRequest,
    ListOffsetsRequest,
};
use ringlog::runtime::rng::Rng;
use ringlog::runtime::IoKind;

use super::client::*;

/// How long the garbage flows.
const CHAOS_MS: u64 = 3_000;
/// Garbage-throwing threads.
const THREADS: u64 = 4;
/// Largest random write.
const GARBAGE_BYTES_MAX: usize = 8 * 1024;

/// How long the unsatisfiable long polls of the stall test wait (the broker caps any wait at
/// `FETCH_WAIT_MS_MAX`, 30 s).
const STALL_POLL_MS: u64 = 4_000;
/// Unsatisfiable long polls parked at once, alternating between the topic's two partitions:
/// eight per partition, so each shard almost surely serves one for a partition it owns (the
/// kernel spreads connections over the shards' listeners; a miss is a 1 in 2^8 chance per
/// shard).
const STALL_POLLERS: usize = 16;
/// Fresh connections that must be answered while the long polls wait: enough to reach both
/// shards.
const STALL_PROBES: usize = 8;
/// How long a fresh connection's ApiVersions may take while the long polls wait: milliseconds
/// on an idle broker; half the polls' wait leaves room for a loaded debug build and is far below
/// what a stalled shard takes (a whole wait per poll it serves).
const STALL_PROBE_MS: u64 = STALL_POLL_MS / 2;

/// What the chaos seed 1796189900177689053 found, replayed deterministically: a Fetch whose
/// `min_bytes` cannot be met (a garbage byte in the field) at an offset below the high
/// watermark, with a long `max_wait_ms`. It must wait for new data like any long poll, not
/// re-read the data it already has in a loop: on the epoll driver file reads complete without
/// ever yielding, so such a loop held its whole shard (every connection on it, new ones never
/// accepted) for the full wait, once per such poll.
pub fn an_unsatisfiable_long_poll_below_the_high_watermark_leaves_its_shard_serving(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "stall";
    let id = create_topic(&mut c, topic, 2);
    let have: Vec<Vec<u8>> = (0..2)
        .map(|p| {
            let b = batch(1_600_000_000_000, &[format!("stall-{p}").as_bytes()]);
            assert_eq!(produce_one(&mut c, topic, p, &b), 0);
            stamped(&b, 0)
        })
        .collect();

    // Long polls from offset 0 (one batch there, the high watermark 1) that no data can satisfy.
    let v = *versions(ApiKey::Fetch).end();
    let pollers: Vec<(Client, i32, i32, Instant)> = (0..STALL_POLLERS)
        .map(|i| {
            let partition = (i % 2) as i32;
            let at = [FetchAt {
                topic,
                topic_id: id,
                partition,
                offset: 0,
            }];
            let mut poller = broker.connect();
            let sent = Instant::now();
            let corr = poller.send(v, &fetch_request(v, &at, STALL_POLL_MS as i32, i32::MAX));
            (poller, corr, partition, sent)
        })
        .collect();
    // Let the broker take them all in before the probes connect.
    std::thread::sleep(Duration::from_millis(100));

    // Every shard keeps serving meanwhile: new connections, accepted and answered.
    let probe_bound = Duration::from_millis(STALL_PROBE_MS);
    for probe in 0..STALL_PROBES {
        let started = Instant::now();
        let mut p = broker.connect();
        p.stream.set_read_timeout(Some(probe_bound)).unwrap();
        let av = *versions(ApiKey::ApiVersions).end();
        let corr = p.send(av, &ApiVersionsRequest::default());
        let frame = p.read_frame().unwrap_or_else(|e| {
            panic!(
                "probe {probe}: no ApiVersions answer within {probe_bound:?} while {STALL_POLLERS} \
                 unsatisfiable long polls wait ({e}): their shard is stalled"
            )
        });
        let (got, resp) = decode_response::<ApiVersionsRequest>(av, &frame);
        assert_eq!((got, resp.error_code), (corr, 0), "probe {probe}");
        assert!(
            started.elapsed() < probe_bound,
            "probe {probe}: answered after {:?} while the long polls wait",
            started.elapsed()
        );
    }

    // Each long poll ends at its max wait, as Kafka's does when min_bytes cannot be met, with
    // the batch it found.
    for (i, (mut poller, corr, partition, sent)) in pollers.into_iter().enumerate() {
        let resp = poller.recv::<FetchRequest>(v, corr);
        let waited = sent.elapsed();
        let part = &resp.responses[0].partitions[0];
        assert_eq!(
            (part.error_code, part.high_watermark),
            (0, 1),
            "poll {i} (partition {partition})"
        );
        assert!(
            part.records.as_deref() == Some(&have[partition as usize][..]),
            "poll {i}: partition {partition}'s batch"
        );
        assert!(
            waited >= Duration::from_millis(STALL_POLL_MS),
            "poll {i}: answered after {waited:?}, before its max wait of {STALL_POLL_MS} ms \
             although min_bytes was not met"
        );
    }
    broker.stop();
}

/// A valid request frame of a random (api, version). DeleteTopics is left out so garbage can never
/// delete the topic under test; produces go to a scratch topic. CreateTopics only when
/// `with_create` (never for frames that get mutated: a flipped partition count could ask for
/// thousands of partitions and slow the test down for nothing).
fn valid_frame(rng: &mut Rng, correlation_id: i32, with_create: bool) -> Vec<u8> {
    let pick = |rng: &mut Rng, k: ApiKey| {
        let r = versions(k);
        r.start() + rng.below((r.end() - r.start() + 1) as usize) as i16
    };
    match rng.below(if with_create { 6 } else { 5 }) {
        0 => {
            let v = pick(rng, ApiKey::ApiVersions);
            encode_frame(v, correlation_id, &ApiVersionsRequest::default())
        }
        1 => {
            let v = pick(rng, ApiKey::Metadata);
            encode_frame(
                v,
                correlation_id,
                &metadata_request(v, Some(&["chaos-scratch"]), true),
            )
        }
        2 => {
            let v = pick(rng, ApiKey::Produce);
            let b = batch(1_700_000_000_000, &[&rng.bytes(16)]);
            encode_frame(
                v,
                correlation_id,
                &produce_request("chaos-scratch", -1, &[(0, b)]),
            )
        }
        3 => {
            let v = pick(rng, ApiKey::Fetch);
            let at = [FetchAt {
                topic: "chaos",
                topic_id: uuid::Uuid::nil(),
                partition: rng.below(3) as i32,
                offset: rng.below(4) as i64 - 1,
            }];
            // Short waits only: a garbage thread must not sit in a long poll.
            encode_frame(
                v,
                correlation_id,
                &fetch_request(v, &at, rng.below(50) as i32, 1),
            )
        }
        4 => {
            let v = pick(rng, ApiKey::ListOffsets);
            let req = ListOffsetsRequest::default()
                .with_replica_id((-1).into())
                .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic_name("chaos"))
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(rng.below(3) as i32)
                            .with_timestamp(rng.below(5) as i64 - 4),
                    ])]);
            encode_frame(v, correlation_id, &req)
        }
        _ => {
            let v = pick(rng, ApiKey::CreateTopics);
            let name = format!("chaos-created-{}", rng.below(8));
            let req: CreateTopicsRequest = create_topics_request(&[(&name, 1, 1)]);
            encode_frame(v, correlation_id, &req)
        }
    }
}

/// What one garbage connection does.
fn one_connection(addr: std::net::SocketAddr, rng: &mut Rng) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return;
    };
    let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
    let _ = s.set_read_timeout(Some(Duration::from_millis(20 + rng.below(80) as u64)));
    let _ = s.set_nodelay(true);
    let mut out: Vec<u8> = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let corr = rng.next_u64() as i32;
        match rng.below(5) {
            // Pure noise, possibly with a plausible size prefix.
            0 => {
                let n = rng.below(GARBAGE_BYTES_MAX);
                out.extend(rng.bytes(n));
            }
            // A valid frame with random bytes flipped after the 8 fixed header bytes.
            1 => {
                let mut f = valid_frame(rng, corr, false);
                for _ in 0..1 + rng.below(6) {
                    if f.len() > 12 {
                        let at = 12 + rng.below(f.len() - 12);
                        f[at] = rng.next_u64() as u8;
                    }
                }
                out.extend(f);
            }
            // A valid frame whose body is cut short, followed by nothing (the close cuts it).
            2 => {
                let f = valid_frame(rng, corr, true);
                let cut = rng.below(f.len());
                out.extend(&f[..cut]);
            }
            // A valid size prefix and header, then garbage of the announced length.
            3 => {
                let f = valid_frame(rng, corr, false);
                let keep = 12.min(f.len());
                let mut g = f[..keep].to_vec();
                g.extend(rng.bytes(f.len() - keep));
                out.extend(g);
            }
            // A whole valid request (its response is read, or abandoned).
            _ => out.extend(valid_frame(rng, corr, true)),
        }
    }
    // Write in random pieces, reading a little now and then, and stop at a random point.
    let stop_at = if rng.below(3) == 0 {
        rng.below(out.len() + 1)
    } else {
        out.len()
    };
    let mut pos = 0;
    let mut sink = [0u8; 4096];
    while pos < stop_at {
        let n = (1 + rng.below(2048)).min(stop_at - pos);
        if s.write_all(&out[pos..pos + n]).is_err() {
            return;
        }
        pos += n;
        if rng.below(4) == 0 {
            let _ = s.read(&mut sink);
        }
    }
    if rng.below(2) == 0 {
        let _ = s.read(&mut sink);
    }
    // Dropped here: a FIN, or a reset when the broker's answer is still unread.
}

pub fn garbage_from_many_connections_then_a_normal_round_trip(io: IoKind) {
    let seed: u64 = match std::env::var("RINGLOG_CHAOS_SEED") {
        Ok(s) => s.parse().expect("RINGLOG_CHAOS_SEED is a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    };
    println!("chaos seed ({io}): RINGLOG_CHAOS_SEED={seed}");
    eprintln!("chaos seed ({io}): RINGLOG_CHAOS_SEED={seed}");

    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let topic = "chaos";
    let id = create_topic(&mut c, topic, 2);
    create_topic(&mut c, "chaos-scratch", 1);
    let before: Vec<Vec<u8>> = (0..2)
        .map(|p| {
            let b = batch(1_600_000_000_000, &[format!("before-chaos-{p}").as_bytes()]);
            assert_eq!(produce_one(&mut c, topic, p, &b), 0);
            stamped(&b, 0)
        })
        .collect();

    let deadline = Instant::now() + Duration::from_millis(CHAOS_MS);
    let addr = broker.addr;
    let mut seeds = Rng::new(seed);
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let mut rng = seeds.fork();
            std::thread::spawn(move || {
                let mut connections = 0u64;
                while Instant::now() < deadline {
                    one_connection(addr, &mut rng);
                    connections += 1;
                }
                connections
            })
        })
        .collect();
    let connections: u64 = threads
        .into_iter()
        .map(|t| t.join().expect("chaos thread"))
        .sum();
    println!("chaos ({io}): {connections} garbage connections in {CHAOS_MS} ms");
    assert!(connections >= THREADS, "the chaos threads did connect");

    // A fresh connection: the data from before is intact, and produce + fetch work on both shards.
    let mut c = broker.connect();
    let resp = c.call(3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0, "seed {seed}");
    for p in 0..2 {
        let (err, hw, records) = fetch_one(&mut c, topic, id, p, 0);
        assert_eq!(
            (err, hw),
            (0, 1),
            "seed {seed}: partition {p} after the chaos"
        );
        assert!(
            records == before[p as usize],
            "seed {seed}: partition {p} data changed"
        );
        let b = batch(1_700_000_000_000, &[format!("after-chaos-{p}").as_bytes()]);
        assert_eq!(
            produce_one(&mut c, topic, p, &b),
            1,
            "seed {seed}: partition {p}"
        );
        let v = *versions(ApiKey::Fetch).end();
        let at = [FetchAt {
            topic,
            topic_id: id,
            partition: p,
            offset: 0,
        }];
        let resp = c.call::<FetchRequest>(v, &fetch_request(v, &at, 100, 1));
        let part = &resp.responses[0].partitions[0];
        assert_eq!(
            (part.error_code, part.high_watermark),
            (0, 2),
            "seed {seed}"
        );
        let want = [before[p as usize].clone(), stamped(&b, 1)].concat();
        assert!(
            part.records.as_deref() == Some(&want[..]),
            "seed {seed}: partition {p} round trip after the chaos"
        );
    }
    broker.stop();
}

/// The stall test on both drivers (registered here rather than in `both_drivers!`, whose list
/// lives in the crate root). Without the long poll waiting past the high watermark it saw
/// (`handlers::fetch::read_until_ready`), the epoll run fails every time.
mod unsatisfiable_long_poll {
    use ringlog::runtime::IoKind;

    #[test]
    fn uring() {
        crate::run(
            IoKind::Uring,
            "an_unsatisfiable_long_poll_below_the_high_watermark_leaves_its_shard_serving",
            super::an_unsatisfiable_long_poll_below_the_high_watermark_leaves_its_shard_serving,
        )
    }

    #[test]
    fn epoll() {
        crate::run(
            IoKind::Epoll,
            "an_unsatisfiable_long_poll_below_the_high_watermark_leaves_its_shard_serving",
            super::an_unsatisfiable_long_poll_below_the_high_watermark_leaves_its_shard_serving,
        )
    }
}
