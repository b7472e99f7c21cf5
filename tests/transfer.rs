//! Transfer paths (issue 5): every path delivers the exact bytes of every range, in order, and a
//! consumer that disconnects mid-transfer leaks nothing. Run once per driver; the uring-* paths
//! skip loudly on the epoll driver (the broker refuses them there at startup).
//!
//! The reader is a plain blocking std socket on its own thread, so the receive side never
//! depends on the driver under test.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use ringlog::runtime::{self, fs::File, net::TcpListener, IoKind, RuntimeConfig};
use ringlog::transfer::{FileRange, Piece, Transfer, TransferPath};

/// Generate `mod uring { #[test] fn name() }` and `mod epoll { ... }` for each test body
/// `fn name(io: IoKind)`.
macro_rules! both_drivers {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $( #[test] fn $name() { let _g = super::serial(); super::$name(ringlog::runtime::IoKind::Uring) } )*
        }
        mod epoll {
            $( #[test] fn $name() { let _g = super::serial(); super::$name(ringlog::runtime::IoKind::Epoll) } )*
        }
    };
}

both_drivers!(
    every_path_delivers_identical_bytes_for_every_range,
    header_and_several_pieces_arrive_in_order,
    runs_of_slices_arrive_in_order,
    a_consumer_that_disconnects_mid_transfer_leaks_nothing,
    a_range_past_the_end_of_file_is_an_error_not_a_crash,
);

/// The leak check counts this process's descriptors and mappings, so the tests of this file run
/// one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pipe capacity the splice paths ask for (1 MiB): "larger than the pipe" means more than this.
const PIPE_BYTES: usize = ringlog::runtime::pipe::PIPE_CAPACITY_BYTES_DEFAULT;
/// Size of the test file: a few pipes' worth, not a multiple of the page size.
const FILE_BYTES: usize = 3 * PIPE_BYTES + 12_345;
/// Bound on every transfer of this file (a hang is a failure, not a stuck test run).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The paths to run on `io` (with `auto`); the others are reported as skipped.
fn paths_for(io: IoKind, test: &str) -> Vec<TransferPath> {
    let mut out = Vec::new();
    for path in TransferPath::ALL.into_iter().chain([TransferPath::Auto]) {
        if path.runs_on(io) {
            out.push(path);
        } else {
            eprintln!("SKIPPED: {test}: transfer path {path} needs io_uring, this driver is {io}");
        }
    }
    out
}

fn content(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

fn temp_file(data: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000000.log");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(data)
        .unwrap();
    (dir, path)
}

fn on<F: std::future::Future>(io: IoKind, f: F) -> F::Output {
    runtime::block_on(&RuntimeConfig::single(io), async {
        assert_eq!(runtime::io_kind(), Some(io), "the requested driver runs");
        f.await
    })
    .expect("runtime starts")
}

/// A blocking reader that connects to `addr_rx`'s address and reads to end of stream.
fn spawn_reader(addr_rx: mpsc::Receiver<SocketAddr>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let addr = addr_rx.recv().unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(SEND_TIMEOUT)).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        all
    })
}

fn range(file: &File, position: usize, len: usize) -> Piece {
    Piece::File(FileRange {
        file: file.clone(),
        position: position as u64,
        len: len as u64,
        hold: None,
    })
}

/// Send each batch of pieces with one `Transfer::send` on one connection per path and compare
/// what the reader got against `expected` (CRC32C and length, then the first differing byte).
fn send_and_check(
    io: IoKind,
    path: &std::path::Path,
    batches: &[Vec<(usize, usize)>],
    with_header: bool,
) {
    let data = std::fs::read(path).unwrap();
    for tpath in paths_for(io, "send_and_check") {
        let (addr_tx, addr_rx) = mpsc::channel();
        let reader = spawn_reader(addr_rx);
        let mut expected = Vec::new();
        on(io, async {
            let file = File::from_std(std::fs::File::open(path).unwrap());
            let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            addr_tx.send(listener.local_addr()).unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            let mut transfer = Transfer::new(tpath, peer);
            for (b, batch) in batches.iter().enumerate() {
                let mut pieces = Vec::new();
                if with_header {
                    let head = format!("header of batch {b}");
                    expected.extend_from_slice(head.as_bytes());
                    pieces.push(Piece::Bytes(Bytes::from(head)));
                }
                for (i, &(pos, len)) in batch.iter().enumerate() {
                    expected.extend_from_slice(&data[pos..pos + len]);
                    pieces.push(range(&file, pos, len));
                    if with_header && i % 2 == 1 {
                        let mid = format!("[between {i} and {}]", i + 1);
                        expected.extend_from_slice(mid.as_bytes());
                        pieces.push(Piece::Bytes(Bytes::from(mid)));
                    }
                }
                runtime::time::timeout(SEND_TIMEOUT, transfer.send(&stream, pieces))
                    .await
                    .unwrap_or_else(|_| panic!("{tpath} on {io}: send hung"))
                    .unwrap_or_else(|e| panic!("{tpath} on {io}: batch {b}: {e}"));
            }
            stream.shutdown_write().unwrap();
            // Keep the socket open until the reader has everything (a close could reset).
            let _keep = stream;
            runtime::time::sleep(Duration::from_millis(1)).await;
        });
        let got = reader.join().unwrap();
        assert_eq!(
            (got.len(), crc32c::crc32c(&got)),
            (expected.len(), crc32c::crc32c(&expected)),
            "{tpath} on {io}: bytes differ (first difference at {:?})",
            got.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
}

fn every_path_delivers_identical_bytes_for_every_range(io: IoKind) {
    let (_dir, path) = temp_file(&content(FILE_BYTES));
    // One range per send: mid-page start and end; larger than the pipe (3 MiB from a mid-page
    // start); empty (mid-file and at the end); ending exactly at end of file, mid-page and
    // page-aligned starts; a single byte; the whole file.
    let cases = vec![
        vec![(100, 5_000)],
        vec![(4_095, 3 * PIPE_BYTES + 2)],
        vec![(12_345, 0)],
        vec![(FILE_BYTES, 0)],
        vec![(FILE_BYTES - 777, 777)],
        vec![(FILE_BYTES - (FILE_BYTES % 4096), FILE_BYTES % 4096)],
        vec![(FILE_BYTES - 1, 1)],
        vec![(0, FILE_BYTES)],
        vec![(PIPE_BYTES - 1, PIPE_BYTES + 2)],
    ];
    send_and_check(io, &path, &cases, false);
}

fn header_and_several_pieces_arrive_in_order(io: IoKind) {
    let (_dir, path) = temp_file(&content(FILE_BYTES));
    // Header + several file pieces (and bytes between them) in one send, as a multi-partition
    // Fetch response is framed; sizes straddle the auto copy threshold and the pipe.
    let cases = vec![
        vec![
            (10, 100),
            (5_000, 70_000),
            (0, 0),
            (1 << 20, PIPE_BYTES + 3),
            (FILE_BYTES - 9, 9),
        ],
        vec![(3, 16 * 1024 - 1), (8_191, 16 * 1024 + 1)],
        vec![(0, 0)],
    ];
    send_and_check(io, &path, &cases, true);
}

/// Many consecutive file pieces with no bytes between them (a filtered view's response: runs
/// of whole batches of one segment), more than one vectored send gathers, in sizes the `auto`
/// path maps; in total well past a socket buffer, so gathered sends come back short and finish
/// piece by piece.
fn runs_of_slices_arrive_in_order(io: IoKind) {
    let (_dir, path) = temp_file(&content(FILE_BYTES));
    let sizes = [16 * 1024, 20_000, 65_536, 100_003, 131_072];
    let many: Vec<(usize, usize)> = (0..150)
        .map(|i: usize| {
            let len = sizes[i % sizes.len()];
            ((i * 7_919) % (FILE_BYTES - len), len)
        })
        .collect();
    send_and_check(
        io,
        &path,
        &[many, vec![(0, 16 * 1024), (1, 16 * 1024)]],
        false,
    );
    send_and_check(
        io,
        &path,
        &[(0..70).map(|i| (i * 1_000, 17_000)).collect()],
        true,
    );
}

/// Descriptors of this process, with what they point at.
fn fds() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    out.sort();
    out
}

/// Lines of /proc/self/maps.
fn maps() -> Vec<String> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn diff(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|l| !before.contains(l))
        .map(|l| format!("+ {l}"))
        .chain(
            before
                .iter()
                .filter(|l| !after.contains(l))
                .map(|l| format!("- {l}")),
        )
        .collect()
}

/// Size of the range the disconnecting consumer asks for.
const DISCONNECT_RANGE_BYTES: u64 = 64 << 20;
/// What the consumer reads before it closes (less than one socket buffer).
const DISCONNECT_AFTER_BYTES: usize = 64 * 1024;

/// One disconnect: returns the send's result and the (fds, maps) counts before the connection
/// and after the transfer state is dropped.
fn disconnect_once(
    io: IoKind,
    file: &std::path::Path,
    tpath: TransferPath,
) -> (Result<(), String>, [Vec<String>; 4]) {
    // The reader thread exists (stack and buffer allocated) before the first count, so its own
    // mappings do not show up as differences; it closes its socket before the second count.
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let (closed_tx, closed_rx) = mpsc::channel::<()>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; DISCONNECT_AFTER_BYTES];
        // Thread start-up (stack, signal stack, allocator arena) is done by now.
        ready_tx.send(()).unwrap();
        let addr = addr_rx.recv().unwrap();
        {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.read_exact(&mut buf).unwrap();
            // Dropped with unread data queued: the kernel answers with a reset.
        }
        closed_tx.send(()).unwrap();
        let _ = exit_rx.recv();
    });
    ready_rx.recv().unwrap();
    let out = on(io, async {
        let file = File::from_std(std::fs::File::open(file).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (fds_before, maps_before) = (fds(), maps());
        addr_tx.send(listener.local_addr()).unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let mut transfer = Transfer::new(tpath, peer);
        let pieces = vec![
            Piece::Bytes(Bytes::from_static(b"fetch response header")),
            Piece::File(FileRange {
                file: file.clone(),
                position: 1000,
                len: DISCONNECT_RANGE_BYTES,
                hold: None,
            }),
        ];
        let result =
            match runtime::time::timeout(SEND_TIMEOUT, transfer.send(&stream, pieces)).await {
                Err(_) => Err(format!(
                    "{tpath} on {io}: send still running after {SEND_TIMEOUT:?}"
                )),
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
            };
        drop(transfer);
        drop(stream);
        closed_rx.recv_timeout(SEND_TIMEOUT).unwrap();
        // Give a send_zc notification or an io-wq splice a moment to finish releasing.
        runtime::time::sleep(Duration::from_millis(20)).await;
        let (fds_after, maps_after) = (fds(), maps());
        exit_tx.send(()).unwrap();
        (result, [fds_before, maps_before, fds_after, maps_after])
    });
    reader.join().unwrap();
    out
}

fn a_consumer_that_disconnects_mid_transfer_leaks_nothing(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    {
        // Real bytes (not a hole), so the splice paths move page-cache pages.
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = content(1 << 20);
        for _ in 0..(DISCONNECT_RANGE_BYTES >> 20) + 1 {
            f.write_all(&chunk).unwrap();
        }
    }
    for tpath in paths_for(io, "a_consumer_that_disconnects_mid_transfer_leaks_nothing") {
        // A first round warms everything that is created once per process or thread (allocator
        // arenas, the runtime's lazily built state); the second round is the one counted.
        let _ = disconnect_once(io, &path, tpath);
        let (result, [fds_before, maps_before, fds_after, maps_after]) =
            disconnect_once(io, &path, tpath);
        match result {
            Err(e) if e.contains("still running") => panic!("{e}"),
            Err(e) => eprintln!("{tpath} on {io}: send failed as it should: {e}"),
            Ok(()) => panic!("{tpath} on {io}: a 64 MiB send to a closed peer reported success"),
        }
        assert_eq!(
            fds_before.len(),
            fds_after.len(),
            "{tpath} on {io}: descriptors leaked: {:#?}",
            diff(&fds_before, &fds_after)
        );
        assert_eq!(
            maps_before.len(),
            maps_after.len(),
            "{tpath} on {io}: mappings leaked: {:#?}",
            diff(&maps_before, &maps_after)
        );
    }
}

fn a_range_past_the_end_of_file_is_an_error_not_a_crash(io: IoKind) {
    // The broker never asks for this (slices end at or below the high watermark), but a wrong
    // range must fail the send, never SIGBUS the broker through a mapping past end of file.
    let (_dir, path) = temp_file(&content(3 * 4096 + 10));
    for tpath in paths_for(io, "a_range_past_the_end_of_file_is_an_error_not_a_crash") {
        let (addr_tx, addr_rx) = mpsc::channel();
        let reader = spawn_reader(addr_rx);
        let err = on(io, async {
            let file = File::from_std(std::fs::File::open(&path).unwrap());
            let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            addr_tx.send(listener.local_addr()).unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            let mut transfer = Transfer::new(tpath, peer);
            let pieces = vec![range(&file, 4096 * 2, 3 * 4096)];
            runtime::time::timeout(SEND_TIMEOUT, transfer.send(&stream, pieces))
                .await
                .unwrap_or_else(|_| panic!("{tpath} on {io}: send hung"))
        });
        assert!(
            err.is_err(),
            "{tpath} on {io}: a range past end of file was reported sent"
        );
        let _ = reader.join();
    }
}
