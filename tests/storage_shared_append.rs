//! Appends from a shared `Bytes` (a slice of a Produce request frame, as the broker appends):
//! the log stores exactly the stamped batches, leaves the shared bytes as they were, and survives
//! a reopen (recovery re-checks every CRC). Run on both drivers.

use bytes::Bytes;
use ringlog::runtime::{self, IoKind, RuntimeConfig};
use ringlog::storage::batch::stamp;
use ringlog::storage::batch::testing::build_batch;
use ringlog::storage::{FlushPolicy, Log, LogConfig};

macro_rules! both_drivers {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $( #[test] fn $name() { super::$name(ringlog::runtime::IoKind::Uring) } )*
        }
        mod epoll {
            $( #[test] fn $name() { super::$name(ringlog::runtime::IoKind::Epoll) } )*
        }
    };
}

both_drivers!(
    shared_append_stores_exactly_the_stamped_batches,
    shared_append_of_more_batches_than_one_vectored_write_takes,
    shared_append_survives_a_short_write,
);

/// The leader epoch the tests stamp (not 0, so a missing epoch stamp shows).
const EPOCH: i32 = 7;

fn config() -> LogConfig {
    LogConfig {
        flush: FlushPolicy::Never,
        segment_ms: None,
        retention_bytes: None,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn on<F: std::future::Future>(io: IoKind, f: F) -> F::Output {
    runtime::block_on(&RuntimeConfig::single(io), f).expect("runtime starts")
}

/// Batches of 1..=5 records with distinct values; their record counts.
fn batches(count: usize) -> (Vec<Vec<u8>>, Vec<i64>) {
    (0..count)
        .map(|b| {
            let n = 1 + b % 5;
            let values: Vec<Vec<u8>> = (0..n).map(|r| format!("b{b}-r{r}").into_bytes()).collect();
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            (build_batch(1_000 + b as i64, &refs), n as i64)
        })
        .unzip()
}

/// A request frame: `junk` bytes, the batches, `junk` bytes; and the slice holding the batches.
fn frame_with(batches: &[Vec<u8>]) -> (Bytes, Bytes) {
    let junk = vec![0xA5u8; 37];
    let frame = Bytes::from([junk.clone(), batches.concat(), junk].concat());
    let records = frame.slice(37..frame.len() - 37);
    (frame, records)
}

/// The batches as the log must store them from offset `base`.
fn stamped(batches: &[Vec<u8>], counts: &[i64], mut base: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for (b, n) in batches.iter().zip(counts) {
        let mut b = b.clone();
        stamp(&mut b, base, EPOCH);
        out.extend_from_slice(&b);
        base += n;
    }
    out
}

async fn read_all(log: &Log) -> Vec<u8> {
    let r = log.read(0, u64::MAX).await.expect("read");
    r.read_to_vec().await.expect("read bytes")
}

async fn open(dir: &std::path::Path) -> Log {
    let log = Log::open(dir, "t", 0, config(), false)
        .await
        .expect("open log");
    log.set_leader_epoch(EPOCH);
    log
}

fn shared_append_stores_exactly_the_stamped_batches(io: IoKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    on(io, async {
        let log = open(dir.path()).await;
        let (bs, counts) = batches(3);
        let (frame, records) = frame_with(&bs);
        let frame_before = frame.to_vec();
        let n: i64 = counts.iter().sum();
        assert_eq!(log.append_bytes(records.clone()).await.expect("append"), 0);
        assert_eq!(log.append_bytes(records).await.expect("append"), n);
        assert_eq!(
            frame.to_vec(),
            frame_before,
            "the shared frame is not written to"
        );
        let want = [stamped(&bs, &counts, 0), stamped(&bs, &counts, n)].concat();
        assert!(
            read_all(&log).await == want,
            "the log holds the stamped batches"
        );
        // Exactly those bytes in the segment file: nothing of the frame around the records.
        let files: u64 = std::fs::read_dir(dir.path())
            .expect("readdir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .map(|p| std::fs::metadata(p).expect("stat").len())
            .sum();
        assert_eq!(files, want.len() as u64);
        drop(log);
        let log = open(dir.path()).await;
        assert_eq!(log.high_watermark(), 2 * n, "recovery keeps both appends");
        assert!(read_all(&log).await == want, "and their bytes");
    });
}

fn shared_append_of_more_batches_than_one_vectored_write_takes(io: IoKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    on(io, async {
        let log = open(dir.path()).await;
        // Two pieces per batch: 700 batches are 1,400 pieces, over one write's iovec limit.
        let count = runtime::fs::IOVECS_PER_WRITE_MAX * 7 / 10 + 1;
        let (bs, counts) = batches(count);
        let (_frame, records) = frame_with(&bs);
        assert_eq!(log.append_bytes(records).await.expect("append"), 0);
        assert!(read_all(&log).await == stamped(&bs, &counts, 0));
        drop(log);
        let log = open(dir.path()).await;
        assert!(
            read_all(&log).await == stamped(&bs, &counts, 0),
            "after reopen"
        );
    });
}

fn shared_append_survives_a_short_write(io: IoKind) {
    let dir = tempfile::tempdir().expect("tempdir");
    on(io, async {
        let log = open(dir.path()).await;
        let (bs, counts) = batches(4);
        let (_frame, records) = frame_with(&bs);
        // Stop inside the second batch's stamped prefix.
        runtime::fs::fault::short_next_writev(bs[0].len() + 5);
        assert_eq!(log.append_bytes(records).await.expect("append"), 0);
        assert!(read_all(&log).await == stamped(&bs, &counts, 0));
    });
}
