//! `File::writev_all_at` on every write path: io_uring with inline buffered writes (pwritev, the
//! default), io_uring with `IORING_OP_WRITEV`, and epoll (pwritev). Each test writes buffers of
//! mixed kinds and sizes and reads the file back byte for byte.

use bytes::Bytes;
use ringlog::runtime::{self, fs::File, IoKind, RuntimeConfig};

/// Generate one `#[test]` per write path for each body `fn name(config: RuntimeConfig)`.
macro_rules! every_write_path {
    ($($name:ident),* $(,)?) => {
        mod uring_inline {
            $( #[test] fn $name() { super::$name(super::config(ringlog::runtime::IoKind::Uring, true)) } )*
        }
        mod uring_op {
            $( #[test] fn $name() { super::$name(super::config(ringlog::runtime::IoKind::Uring, false)) } )*
        }
        mod epoll {
            $( #[test] fn $name() { super::$name(super::config(ringlog::runtime::IoKind::Epoll, true)) } )*
        }
    };
}

every_write_path!(
    vectored_write_stores_buffers_back_to_back,
    vectored_write_beyond_iov_max_takes_several_calls,
    vectored_write_resumes_after_short_writes,
    vectored_write_error_returns_the_buffers,
);

fn config(io: IoKind, inline_writes: bool) -> RuntimeConfig {
    let mut config = RuntimeConfig::single(io);
    config.uring.inline_buffered_writes = inline_writes;
    config
}

fn open(path: &std::path::Path) -> File {
    File::from_std(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)
            .unwrap(),
    )
}

/// `count` buffers: slices of one shared `Bytes` (as a request frame's records are) of sizes
/// cycling through 0, 1, 16 and 997 bytes, and their concatenation.
fn pieces(count: usize) -> (Vec<Bytes>, Vec<u8>) {
    let sizes = [0usize, 1, 16, 997];
    let len: usize = (0..count).map(|i| sizes[i % sizes.len()]).sum();
    let frame = Bytes::from((0..len).map(|i| (i * 31 % 253) as u8).collect::<Vec<u8>>());
    let mut at = 0;
    let bufs = (0..count)
        .map(|i| {
            let b = frame.slice(at..at + sizes[i % sizes.len()]);
            at += b.len();
            b
        })
        .collect();
    (bufs, frame.to_vec())
}

async fn read_all(f: &File) -> Vec<u8> {
    let len = f.len().unwrap() as usize;
    let (res, got) = f.read_exact_at(vec![0; len], 0).await;
    res.unwrap();
    got
}

fn vectored_write_stores_buffers_back_to_back(config: RuntimeConfig) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    runtime::block_on(&config, async move {
        let f = open(&path);
        let (bufs, want) = pieces(40);
        let (res, back) = f.writev_all_at(bufs.clone(), 100).await;
        res.unwrap();
        assert_eq!(back, bufs, "the buffers come back unchanged");
        let got = read_all(&f).await;
        assert_eq!(got.len(), 100 + want.len());
        assert!(got[..100].iter().all(|&b| b == 0), "nothing before pos");
        assert!(got[100..] == want[..], "bytes as concatenated");
        // An empty list and a list of empty buffers write nothing.
        let (res, _) = f.writev_all_at(Vec::<Bytes>::new(), 0).await;
        res.unwrap();
        let (res, _) = f.writev_all_at(vec![Bytes::new(), Bytes::new()], 0).await;
        res.unwrap();
        assert_eq!(f.len().unwrap() as usize, 100 + want.len());
    })
    .expect("runtime starts");
}

fn vectored_write_beyond_iov_max_takes_several_calls(config: RuntimeConfig) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    runtime::block_on(&config, async move {
        let f = open(&path);
        // 3.5 x IOV_MAX non-empty buffers (pwritev alone would refuse them with EINVAL).
        let count = runtime::fs::IOVECS_PER_WRITE_MAX * 7 / 2;
        let bufs: Vec<Vec<u8>> = (0..count)
            .map(|i| vec![(i % 251) as u8; 1 + i % 5])
            .collect();
        let want = bufs.concat();
        let (res, back) = f.writev_all_at(bufs, 0).await;
        res.unwrap();
        assert_eq!(back.len(), count);
        assert!(read_all(&f).await == want, "bytes as concatenated");
    })
    .expect("runtime starts");
}

fn vectored_write_resumes_after_short_writes(config: RuntimeConfig) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    runtime::block_on(&config, async move {
        let f = open(&path);
        let (bufs, want) = pieces(41);
        // Stop mid-buffer (the 997-byte one), at a buffer's end, and after one byte.
        for cut in [500, 1014, 1] {
            std::fs::File::create(&path).unwrap().set_len(0).unwrap();
            runtime::fs::fault::short_next_writev(cut);
            let (res, _) = f.writev_all_at(bufs.clone(), 7).await;
            res.unwrap();
            let got = read_all(&f).await;
            assert!(
                got[7..] == want[..],
                "every byte once, in order (cut {cut})"
            );
        }
    })
    .expect("runtime starts");
}

fn vectored_write_error_returns_the_buffers(config: RuntimeConfig) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    runtime::block_on(&config, async move {
        let f = open(&path);
        let (bufs, _) = pieces(8);
        runtime::fs::fault::fail_next_writes(1);
        let (res, back) = f.writev_all_at(bufs.clone(), 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EIO));
        assert_eq!(back, bufs);
        assert_eq!(f.len().unwrap(), 0, "nothing written");
    })
    .expect("runtime starts");
}
