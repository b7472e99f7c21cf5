//! Behavioural suite for the runtime, run once per driver (io_uring and epoll) by the
//! `both_drivers!` macro. Every network test talks to 127.0.0.1 only and is bounded in time.

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringlog::runtime::{
    self, fs::File, mesh, net::TcpListener, net::TcpStream, time, IoKind, RuntimeConfig,
};

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
    tcp_echo_with_250_concurrent_connections,
    file_write_read_fdatasync_round_trip,
    timers_fire_in_deadline_order,
    timeout_cancels_the_slow_future,
    recv_timeout_returns_the_buffer,
    cancelling_an_in_flight_recv_leaks_nothing,
    cancelling_an_in_flight_send_zc_leaks_nothing,
    full_op_slab_is_back_pressure,
    cross_shard_messages_arrive_in_order,
    splice_and_sendfile_deliver_file_bytes,
    vectored_send_delivers_all_buffers,
);

/// The leak checks count this process's descriptors, so the tests of this file run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn cfg(io: IoKind) -> RuntimeConfig {
    RuntimeConfig::single(io)
}

fn on<F: std::future::Future>(io: IoKind, f: F) -> F::Output {
    let out = runtime::block_on(&cfg(io), async {
        assert_eq!(runtime::io_kind(), Some(io), "the requested driver runs");
        f.await
    });
    out.expect("runtime starts")
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn tcp_echo_with_250_concurrent_connections(io: IoKind) {
    const CONNECTIONS: usize = 250;
    const ROUNDS: usize = 20;
    on(io, async {
        let listener = TcpListener::bind(loopback()).unwrap();
        let addr = listener.local_addr();
        let server = runtime::spawn(async move {
            for _ in 0..CONNECTIONS {
                let (stream, _) = listener.accept().await.unwrap();
                runtime::spawn(async move {
                    let mut buf = Vec::with_capacity(4096);
                    loop {
                        buf.clear();
                        let (res, b) = stream.recv(buf).await;
                        buf = b;
                        match res {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {
                                let (res, b) = stream.send_all(buf).await;
                                buf = b;
                                res.unwrap();
                            }
                        }
                    }
                });
            }
        });
        let mut clients = Vec::new();
        for c in 0..CONNECTIONS {
            clients.push(runtime::spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                for r in 0..ROUNDS {
                    let msg = format!("conn {c} round {r} {}", "x".repeat(c % 64)).into_bytes();
                    let want = msg.clone();
                    let (res, _) = stream.send_all(msg).await;
                    res.unwrap();
                    let mut got = Vec::with_capacity(want.len());
                    while got.len() < want.len() {
                        let (res, g) = stream.recv(got).await;
                        got = g;
                        assert!(res.unwrap() > 0, "server closed early");
                    }
                    assert_eq!(got, want);
                }
            }));
        }
        for c in clients {
            c.await;
        }
        server.await;
    });
}

fn file_write_read_fdatasync_round_trip(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    on(io, async move {
        let f = File::from_std(
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&path)
                .unwrap(),
        );
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (res, back) = f.write_all_at(data.clone(), 4096).await;
        res.unwrap();
        assert_eq!(back, data, "buffer comes back unchanged");
        f.fdatasync().await.unwrap();
        f.fsync().await.unwrap();
        assert_eq!(f.len().unwrap(), 4096 + 200_000);
        let (res, got) = f.read_exact_at(vec![0; 200_000], 4096).await;
        res.unwrap();
        assert_eq!(got, data);
        let (res, _) = f.read_exact_at(vec![0; 10], 4096 + 199_995).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        let (res, hole) = f.read_at(vec![1; 4096], 0).await;
        assert_eq!(res.unwrap(), 4096);
        assert!(
            hole.iter().all(|&b| b == 0),
            "the hole before the write reads as zeros"
        );
        runtime::fs::sync_dir(path.parent().unwrap()).await.unwrap();
    });
}

fn timers_fire_in_deadline_order(io: IoKind) {
    on(io, async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for ms in [40u64, 10, 30, 0, 20] {
            let order = order.clone();
            tasks.push(runtime::spawn(async move {
                time::sleep(Duration::from_millis(ms)).await;
                assert!(
                    start.elapsed() >= Duration::from_millis(ms),
                    "a timer fired early"
                );
                order.borrow_mut().push(ms);
            }));
        }
        for t in tasks {
            t.await;
        }
        assert_eq!(*order.borrow(), vec![0, 10, 20, 30, 40]);
    });
}

fn timeout_cancels_the_slow_future(io: IoKind) {
    on(io, async {
        let r = time::timeout(
            Duration::from_millis(10),
            time::sleep(Duration::from_secs(30)),
        )
        .await;
        assert!(r.is_err());
        let r = time::timeout(Duration::from_secs(30), async { 7 }).await;
        assert_eq!(r, Ok(7));
        // The abandoned 30 s sleep must not keep an op (or heap timer waker) alive forever.
        time::sleep(Duration::from_millis(5)).await;
        assert_eq!(runtime::in_flight(), 0);
    });
}

fn recv_timeout_returns_the_buffer(io: IoKind) {
    on(io, async {
        let listener = TcpListener::bind(loopback()).unwrap();
        let client = TcpStream::connect(listener.local_addr()).await.unwrap();
        let (_server, _) = listener.accept().await.unwrap();
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"kept");
        let t0 = Instant::now();
        let (res, buf) = client.recv_timeout(buf, Duration::from_millis(30)).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert!(t0.elapsed() >= Duration::from_millis(25));
        assert_eq!(buf, b"kept", "the buffer comes back intact");
        assert_eq!(buf.capacity(), 64);
    });
}

fn cancelling_an_in_flight_recv_leaks_nothing(io: IoKind) {
    let before = open_fds();
    on(io, async {
        let listener = TcpListener::bind(loopback()).unwrap();
        let client = TcpStream::connect(listener.local_addr()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        for _ in 0..50 {
            // The recv is submitted, then its future dropped by the timeout: the driver keeps the
            // buffer until the cancellation completes.
            let r = time::timeout(
                Duration::from_millis(1),
                client.recv(Vec::with_capacity(1 << 16)),
            )
            .await;
            assert!(r.is_err());
        }
        // Data sent after the cancellations must reach a fresh recv intact.
        let (res, _) = server.send_all(b"after-cancel".to_vec()).await;
        res.unwrap();
        let (res, got) = client.recv(Vec::with_capacity(64)).await;
        res.unwrap();
        assert_eq!(got, b"after-cancel");
        time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            runtime::in_flight(),
            0,
            "every cancelled op reached its final completion"
        );
    });
    assert_eq!(open_fds(), before, "no descriptor leaked");
}

fn cancelling_an_in_flight_send_zc_leaks_nothing(io: IoKind) {
    let before = open_fds();
    on(io, async {
        let listener = TcpListener::bind(loopback()).unwrap();
        let client = TcpStream::connect(listener.local_addr()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.set_send_buffer_size(64 * 1024).unwrap();
        // Fill the socket so the next send cannot complete while nobody reads.
        let payload = vec![0xabu8; 8 << 20];
        let r = time::timeout(Duration::from_millis(50), client.send_zc(payload, 0)).await;
        match r {
            // io_uring keeps the send in flight until it can make progress: the timeout drops the
            // future and the driver must hold the 8 MiB buffer until the final completion.
            Err(_) => {}
            // epoll's send on a non-blocking socket returns the short count at once.
            Ok((res, _, _)) => {
                assert_eq!(
                    io,
                    IoKind::Epoll,
                    "an io_uring send to a peer that never reads cannot finish"
                );
                assert!(res.unwrap() < 8 << 20);
            }
        }
        // Now read everything the peer got: no crash, the stream still works.
        let mut total = 0usize;
        loop {
            let r = time::timeout(
                Duration::from_millis(100),
                server.recv(Vec::with_capacity(1 << 20)),
            )
            .await;
            match r {
                Ok((Ok(0), _)) | Err(_) => break,
                Ok((Ok(n), buf)) => {
                    assert!(buf.iter().all(|&b| b == 0xab));
                    total += n;
                }
                Ok((Err(e), _)) => panic!("recv failed: {e}"),
            }
        }
        assert!(total <= 8 << 20);
        let (res, _, report) = client.send_zc(b"tail".to_vec(), 0).await;
        assert_eq!(res.unwrap(), 4);
        if runtime::io_kind() == Some(IoKind::Uring) {
            assert!(
                report.notified,
                "send_zc completes only after its notification"
            );
            assert!(
                report.copied,
                "on loopback the kernel copies zero-copy sends"
            );
        }
        time::sleep(Duration::from_millis(5)).await;
        assert_eq!(runtime::in_flight(), 0);
    });
    assert_eq!(open_fds(), before, "no descriptor leaked");
}

fn full_op_slab_is_back_pressure(io: IoKind) {
    const SLOTS: usize = 4;
    const TASKS: usize = 64;
    let mut config = cfg(io);
    config.uring.ops_in_flight_max = SLOTS;
    config.epoll.registrations_max = SLOTS;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    runtime::block_on(&config, async move {
        let f = File::from_std(
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)
                .unwrap(),
        );
        let peak = Rc::new(RefCell::new(0usize));
        let mut tasks = Vec::new();
        for i in 0..TASKS {
            let (f, peak) = (f.clone(), peak.clone());
            tasks.push(runtime::spawn(async move {
                let (res, _) = f.write_all_at(vec![i as u8; 512], (i * 512) as u64).await;
                res.unwrap();
                f.fdatasync().await.unwrap();
                let now = runtime::in_flight();
                let mut p = peak.borrow_mut();
                *p = (*p).max(now);
            }));
        }
        // Sample while the tasks run.
        let sampler_peak = peak.clone();
        let sampler = runtime::spawn(async move {
            for _ in 0..10_000 {
                let now = runtime::in_flight();
                {
                    let mut p = sampler_peak.borrow_mut();
                    *p = (*p).max(now);
                }
                runtime::yield_now().await;
            }
        });
        for t in tasks {
            t.await;
        }
        sampler.cancel().await;
        assert!(
            *peak.borrow() <= SLOTS,
            "in-flight ops exceeded the slab: {}",
            peak.borrow()
        );
        assert_eq!(
            f.len().unwrap(),
            (TASKS * 512) as u64,
            "every queued op still ran"
        );
    })
    .unwrap();
}

fn cross_shard_messages_arrive_in_order(io: IoKind) {
    const SHARDS: usize = 3;
    const PER_PAIR: u64 = 2_000;
    let mut config = cfg(io);
    config.cores = SHARDS;
    // A small capacity forces senders to wait on full inboxes.
    let mesh = mesh::Mesh::<(usize, u64)>::new(SHARDS, 16);
    let senders = mesh.senders;
    let receivers: Vec<_> = mesh
        .receivers
        .into_iter()
        .map(|r| std::sync::Mutex::new(Some(r)))
        .collect();
    let results = runtime::run(&config, |info| {
        let me = info.id;
        let inbox = receivers[me].lock().unwrap().take().unwrap();
        let outs: Vec<_> = senders.to_vec();
        async move {
            let sending = runtime::spawn(async move {
                for seq in 0..PER_PAIR {
                    for (to, tx) in outs.iter().enumerate() {
                        if to != me {
                            tx.send((me, seq)).await.unwrap();
                        }
                    }
                }
            });
            let mut next = [0u64; SHARDS];
            let mut got = 0;
            while got < (SHARDS as u64 - 1) * PER_PAIR {
                let (from, seq) = inbox.recv().await.unwrap();
                assert_eq!(seq, next[from], "messages from shard {from} out of order");
                next[from] += 1;
                got += 1;
            }
            sending.await;
            (runtime::current_shard(), got)
        }
    })
    .unwrap();
    drop(senders);
    for (i, (shard, got)) in results.into_iter().enumerate() {
        assert_eq!(shard, Some(i));
        assert_eq!(got, (SHARDS as u64 - 1) * PER_PAIR);
    }
}

fn splice_and_sendfile_deliver_file_bytes(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seg");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    on(io, async move {
        let file = File::from_std(std::fs::File::open(&path).unwrap());
        let listener = TcpListener::bind(loopback()).unwrap();
        let client = TcpStream::connect(listener.local_addr()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // Ranges that start and end mid-page, exceed the pipe, and run past the end of file.
        let ranges = [
            (100usize, 5000usize),
            (4095, 1 << 20),
            (7, 2_500_000),
            (2_999_000, 5000),
            (0, 0),
        ];
        let reader = runtime::spawn(async move {
            let mut all = Vec::new();
            loop {
                let (res, buf) = client.recv(Vec::with_capacity(1 << 20)).await;
                match res.unwrap() {
                    0 => return all,
                    _ => all.extend_from_slice(&buf),
                }
            }
        });
        let pipe = runtime::pipe::Pipe::new(64 * 1024).unwrap();
        let mut expected = Vec::new();
        for (pos, len) in ranges {
            let end = (pos + len).min(data.len());
            expected.extend_from_slice(&data[pos..end]);
            let n = runtime::pipe::splice_to_socket(&file, pos as u64, len, &pipe, &server)
                .await
                .unwrap();
            assert_eq!(n, end - pos);
            expected.extend_from_slice(&data[pos..end]);
            let n = runtime::pipe::sendfile(&file, pos as u64, len, &server)
                .await
                .unwrap();
            assert_eq!(n, end - pos);
        }
        server.shutdown_write().unwrap();
        let got = reader.await;
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes differ");
    });
}

fn vectored_send_delivers_all_buffers(io: IoKind) {
    on(io, async {
        let listener = TcpListener::bind(loopback()).unwrap();
        let client = TcpStream::connect(listener.local_addr()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let bufs = vec![b"head ".to_vec(), b"body ".to_vec(), b"tail".to_vec()];
        let (res, bufs) = server.sendv(bufs, 0).await;
        assert_eq!(res.unwrap(), 14);
        assert_eq!(bufs.len(), 3);
        let mut got = Vec::with_capacity(64);
        while got.len() < 14 {
            let (res, g) = client.recv(got).await;
            got = g;
            res.unwrap();
        }
        assert_eq!(got, b"head body tail");
    });
}

#[test]
fn io_uring_setup_failure_falls_back_to_epoll() {
    let _g = serial();
    // 1<<20 entries is above IORING_MAX_ENTRIES and we do not ask for CLAMP: io_uring_setup
    // really fails with EINVAL, as it would with kernel.io_uring_disabled=2 (EPERM).
    let mut config = RuntimeConfig::single(IoKind::Uring);
    config.uring.entries = 1 << 20;
    let kind = runtime::block_on(&config, async {
        time::sleep(Duration::from_millis(1)).await;
        runtime::io_kind()
    })
    .unwrap();
    assert_eq!(kind, Some(IoKind::Epoll));
}

#[test]
fn uring_shards_use_single_issuer_defer_taskrun() {
    let _g = serial();
    let report = runtime::probe();
    if !report.defer_taskrun {
        eprintln!(
            "SKIPPED: this kernel ({}) has no IORING_SETUP_DEFER_TASKRUN",
            report.kernel
        );
        return;
    }
    let setup = runtime::block_on(&RuntimeConfig::single(IoKind::Uring), async {
        runtime::ring_setup()
    })
    .unwrap();
    let setup = setup.expect("an io_uring shard");
    assert!(setup.defer_taskrun && !setup.sqpoll);
    assert!(
        setup.registered_ring,
        "the ring fd is registered and every enter uses it"
    );
}

#[test]
fn dropping_an_inbox_closes_the_replies_queued_in_it() {
    let _g = serial();
    let (tx, rx) = mesh::channel::<mesh::OneshotSender<u32>>(4);
    let (reply_tx, reply_rx) = mesh::oneshot::<u32>();
    assert!(tx.try_send(reply_tx).is_ok());
    // The shard owning the inbox stops: the queued request must not leave its waiter hanging.
    drop(rx);
    let got = runtime::block_on(&cfg(IoKind::Epoll), reply_rx.recv()).unwrap();
    assert_eq!(got, None);
    let (reply_tx, _reply_rx) = mesh::oneshot::<u32>();
    assert!(matches!(
        tx.try_send(reply_tx),
        Err(mesh::TrySendError::Closed(_))
    ));
}
