//! Transfer paths: how a Fetch response's record bytes go from segment files to the socket.
//!
//! | path | mechanism | copies to socket | CPU copy on a NIC |
//! |---|---|---|---|
//! | `copy` | pread into a buffer + send | 2 | yes |
//! | `mmap` | map the range + send from the mapping (RocketMQ) | 1 | yes |
//! | `sendfile` | sendfile(2) (Kafka) | 0 | no |
//! | `splice` | splice(2) file -> pipe -> socket | 0 | no |
//! | `uring-splice` | `IORING_OP_SPLICE` linked pair through a pipe | 0 | no |
//! | `uring-send-zc` | `IORING_OP_SEND_ZC` from the mapping, held until the notification | 0 | no |
//! | `auto` | per connection and slice size, from the measured table | | |
//!
//! The response header bytes always go out *with* the first slice: as one vectored send with
//! the slice bytes (copy, mmap), or with `MSG_MORE` so the kernel holds them for the zero-copy
//! transfer that follows (sendfile, splice, send_zc); never as a separate tiny packet.
//!
//! `auto` (kernel-notes.md "Transfer paths" has the numbers): slices under
//! [`AUTO_COPY_BELOW_BYTES`] are copied; on loopback, slices up to [`AUTO_SENDFILE_FROM_BYTES`]
//! are sent from a per-connection cached mapping of the segment (`mmap`, the fastest raw path
//! at 16-256 KiB), larger ones with `sendfile` (fastest at the broker for 1 MiB fetches: the
//! broker's share of each request/response round is smallest). To a remote peer through a NIC
//! with scatter-gather, `sendfile` avoids the CPU copy entirely, so `auto` picks it for every
//! slice from 16 KiB (not measurable on this machine; stated as such in kernel-notes.md).
//!
//! Memory: `copy` reads a slice [`COPY_CHUNK_BYTES`] at a time, so a Fetch response never sits
//! whole in memory; each chunk's buffer, and each slice `mmap` sends, is reserved from the
//! broker's memory budget (`queued_max_request_bytes`, [`crate::limits`]) while it is being sent,
//! so slow consumers can hold at most the budget between them. The zero-copy paths hold no
//! buffer.
//!
//! # Invariants
//! - Every path sends exactly the requested bytes of every slice, in order, or returns an error
//!   (the connection is then closed: a half-sent frame cannot be repaired).
//! - Nothing outlives the call: pipes, mappings and buffers are released on every return path,
//!   also when the peer disconnects mid-transfer; so are budget reservations.

pub mod mmap;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;

use bytes::Bytes;

use std::rc::Rc;
use std::time::Instant;

use crate::limits::{Conn, Phase, Reservation, ShardLimits, UNBUDGETED_BYTES_MAX};
use crate::runtime::fs::File;
use crate::runtime::net::TcpStream;
use crate::runtime::pipe::{self, Pipe};
use crate::runtime::{IoBuf, IoKind};

/// Slices smaller than this are copied by `auto` (below the smallest size measured; a copy of a
/// few KiB costs less than the fstat + mapping bookkeeping).
pub const AUTO_COPY_BELOW_BYTES: u64 = 16 * 1024;
/// From this slice size `auto` uses sendfile on every connection. Measured (kernel-notes.md,
/// "Transfer paths"): a broker answering 1 MiB fetches to one consumer on loopback delivers
/// ~3.9 GB/s with sendfile against ~2.9 with mmap, because request/response leaves the
/// broker's per-fetch work on the critical path and sendfile's broker-side work is ~0.18 CPU-s/GB
/// against mmap's ~0.28 (its copy). A 1 MiB fetch yields slices just under 1 MiB (whole batches),
/// hence half of it.
pub const AUTO_SENDFILE_FROM_BYTES: u64 = 512 * 1024;

/// Most slices one vectored `mmap` send gathers (well under `IOV_MAX`, 1024): a filtered view's
/// 1 MiB response of 64 KiB batches holds 16.
pub const GATHER_SLICES_MAX: usize = 64;

/// Largest buffer `copy` reads a slice into at once: big enough that the pread + send pair per
/// chunk costs nothing next to the copy itself, small enough that a consumer that stops reading
/// holds at most this much.
pub const COPY_CHUNK_BYTES: usize = 1 << 20;

/// Largest piece of a file range read at once for a user-space TLS connection
/// ([`Transfer::send_through`]): the session's send buffer (`tls::SEND_BUFFER_BYTES_MAX`), so
/// each chunk is encrypted and sent in one go.
pub const TLS_CHUNK_BYTES: usize = 256 << 10;

/// How record bytes reach the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferPath {
    /// pread + send.
    Copy,
    /// mmap + send.
    Mmap,
    /// sendfile(2).
    Sendfile,
    /// splice(2) through a pipe.
    Splice,
    /// io_uring splice, linked file->pipe->socket.
    UringSplice,
    /// io_uring SEND_ZC from a mapping.
    UringSendZc,
    /// Chosen per connection and slice size.
    Auto,
}

impl TransferPath {
    /// Every concrete path (not `Auto`).
    pub const ALL: [TransferPath; 6] = [
        TransferPath::Copy,
        TransferPath::Mmap,
        TransferPath::Sendfile,
        TransferPath::Splice,
        TransferPath::UringSplice,
        TransferPath::UringSendZc,
    ];

    /// Can a shard with this driver run the path?
    pub fn runs_on(self, io: IoKind) -> bool {
        !matches!(self, TransferPath::UringSplice | TransferPath::UringSendZc)
            || io == IoKind::Uring
    }

    /// The path `auto` uses for a peer and a slice size.
    pub fn auto_for(peer: Option<SocketAddr>, slice_bytes: u64) -> TransferPath {
        if slice_bytes < AUTO_COPY_BELOW_BYTES {
            return TransferPath::Copy;
        }
        match peer {
            Some(addr) if !addr.ip().is_loopback() => TransferPath::Sendfile,
            _ if slice_bytes >= AUTO_SENDFILE_FROM_BYTES => TransferPath::Sendfile,
            _ => TransferPath::Mmap,
        }
    }
}

impl fmt::Display for TransferPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransferPath::Copy => "copy",
            TransferPath::Mmap => "mmap",
            TransferPath::Sendfile => "sendfile",
            TransferPath::Splice => "splice",
            TransferPath::UringSplice => "uring-splice",
            TransferPath::UringSendZc => "uring-send-zc",
            TransferPath::Auto => "auto",
        })
    }
}

impl FromStr for TransferPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "copy" => TransferPath::Copy,
            "mmap" => TransferPath::Mmap,
            "sendfile" => TransferPath::Sendfile,
            "splice" => TransferPath::Splice,
            "uring-splice" => TransferPath::UringSplice,
            "uring-send-zc" => TransferPath::UringSendZc,
            "auto" => TransferPath::Auto,
            other => {
                return Err(format!(
                    "unknown transfer path {other:?}: expected copy, mmap, sendfile, splice, uring-splice, uring-send-zc or auto"
                ))
            }
        })
    }
}

/// A run of bytes of an open file.
#[derive(Clone, Debug)]
pub struct FileRange {
    /// The file.
    pub file: File,
    /// First byte.
    pub position: u64,
    /// Byte count.
    pub len: u64,
    /// The descriptor's place in the broker's budget of files held by Fetch responses, given
    /// back when the last copy of the range is dropped (after it was sent). `None` outside a
    /// broker (benchmarks, tests).
    pub hold: Option<std::sync::Arc<crate::limits::Reservation>>,
}

/// One piece of an outgoing frame.
#[derive(Clone, Debug)]
pub enum Piece {
    /// Bytes in memory (response header parts).
    Bytes(Bytes),
    /// Bytes of a file.
    File(FileRange),
}

impl Piece {
    /// Bytes the piece sends.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File(r) => r.len,
        }
    }

    /// The piece sends nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-connection transfer state (the pipe of the splice paths, created on first use).
pub struct Transfer {
    path: TransferPath,
    peer: Option<SocketAddr>,
    pipe: Option<Pipe>,
    /// The pipe of `uring-splice` (blocking, for io-wq workers).
    /// The last file mapped by `mmap` / `uring-send-zc`, reused while fetches stay in it.
    mapped: Option<std::rc::Rc<mmap::MappedFile>>,
    /// The broker's budget to reserve buffers from and the connection whose send progress is
    /// reported (none in benchmarks and tests of the paths alone).
    limits: Option<(Rc<ShardLimits>, Rc<Conn>)>,
    /// The shard whose metrics count the bytes sent per path (none in benchmarks and tests of
    /// the paths alone).
    shard: Option<Rc<crate::shard::ShardState>>,
    /// The socket carries kernel TLS: `uring-send-zc` goes by `mmap` (MSG_ZEROCOPY sends are
    /// refused on a kTLS socket: the wire test under scripts/ktls-qemu.sh saw the connection
    /// fail on Debian's 6.1 kernel); every other path works unchanged.
    kernel_tls: bool,
}

impl Transfer {
    /// State for one connection.
    pub fn new(path: TransferPath, peer: Option<SocketAddr>) -> Transfer {
        Transfer {
            path,
            peer,
            pipe: None,
            mapped: None,
            limits: None,
            shard: None,
            kernel_tls: false,
        }
    }

    /// The connection's socket carries kernel TLS (see [`Transfer::path_for`]).
    pub fn with_kernel_tls(mut self, on: bool) -> Transfer {
        self.kernel_tls = on;
        self
    }

    /// Reserve `copy` and `mmap` buffers from the broker's memory budget, and report send
    /// progress to the connection's idle clock.
    pub fn with_limits(mut self, limits: Rc<ShardLimits>, conn: Rc<Conn>) -> Transfer {
        self.limits = Some((limits, conn));
        self
    }

    /// Count the record bytes sent per path in `shard`'s metrics.
    pub fn with_metrics(mut self, shard: Rc<crate::shard::ShardState>) -> Transfer {
        self.shard = Some(shard);
        self
    }

    /// Record bytes of `len` went out by `path`.
    fn sent(&self, path: TransferPath, len: u64) {
        if let Some(shard) = &self.shard {
            shard.metrics.transferred(path, len);
        }
    }

    /// Take `bytes` from the budget for a buffer (none without limits, or for a small buffer).
    /// A wait for the budget does not count as a stalled send.
    async fn reserve(&self, bytes: usize) -> Option<Reservation> {
        match &self.limits {
            Some((limits, conn)) if bytes > UNBUDGETED_BYTES_MAX => {
                let (phase, _) = conn.phase();
                conn.enter(Phase::Busy, Instant::now());
                let reservation = limits.reserve(bytes).await;
                conn.enter(phase, Instant::now());
                reservation
            }
            _ => None,
        }
    }

    /// A piece of the response went out.
    fn progress(&self) {
        if let Some((_, conn)) = &self.limits {
            conn.progress();
        }
    }

    fn pipe(&mut self) -> io::Result<&Pipe> {
        if self.pipe.is_none() {
            self.pipe = Some(Pipe::new(pipe::PIPE_CAPACITY_BYTES_DEFAULT)?);
        }
        Ok(self.pipe.as_ref().expect("pipe"))
    }

    /// A mapping of `range`'s file covering the range: the cached one, or a new one that
    /// replaces it (one mapping per connection at most).
    fn mapping(&mut self, range: &FileRange) -> io::Result<mmap::MappedSlice> {
        // One fstat: the file's identity (a range from another shard arrives on a dup'd fd of
        // the same segment, which must hit the same mapping) and its current length.
        let id = mmap::FileId::of(&range.file)?;
        let end = range.position.saturating_add(range.len);
        let hit = self.mapped.as_ref().is_some_and(|m| m.covers(&id, end));
        if !hit {
            self.mapped = None; // unmap the old one first
            self.mapped = Some(std::rc::Rc::new(mmap::MappedFile::map(
                &range.file,
                &id,
                end,
            )?));
        }
        self.mapped
            .as_ref()
            .expect("mapped")
            .slice(range.position, range.len, id.len)
    }

    /// The path a slice of `len` bytes goes by on this connection, in a run of consecutive
    /// slices (no bytes between them) of `run` bytes. `auto` picks by the run: a filtered
    /// view's 1 MiB response is a run of 64 KiB batches, which `sendfile` sends for less broker
    /// CPU than `mmap` does, as it does for one 1 MiB slice (kernel-notes.md, "Features without
    /// giving up zero-copy").
    fn path_for(&self, len: u64, run: u64) -> TransferPath {
        match self.path {
            TransferPath::UringSendZc if self.kernel_tls => TransferPath::Mmap,
            TransferPath::Auto if len >= AUTO_COPY_BELOW_BYTES => {
                TransferPath::auto_for(self.peer, len.max(run))
            }
            TransferPath::Auto => TransferPath::auto_for(self.peer, len),
            p => p,
        }
    }

    /// Send `pieces` in order.
    pub async fn send(&mut self, stream: &TcpStream, pieces: Vec<Piece>) -> io::Result<()> {
        let mut pending: Option<Bytes> = None; // header bytes not yet sent
        let count = pieces.len();
        let runs = run_bytes(&pieces);
        let mut pieces = pieces.into_iter().enumerate().peekable();
        while let Some((i, piece)) = pieces.next() {
            let last = i + 1 == count;
            match piece {
                Piece::Bytes(b) => {
                    pending = Some(match pending.take() {
                        None => b,
                        Some(p) => [p, b].concat().into(),
                    });
                }
                Piece::File(range) => {
                    let head = pending.take().unwrap_or_default();
                    let path = self.path_for(range.len, runs[i]);
                    // Consecutive slices that go by `mmap` leave in one vectored send, not one
                    // each.
                    let mut gathered = Vec::new();
                    if path == TransferPath::Mmap {
                        while gathered.len() + 1 < GATHER_SLICES_MAX {
                            let next_mmap = matches!(
                                pieces.peek(),
                                Some((j, Piece::File(next)))
                                    if self.path_for(next.len, runs[*j]) == TransferPath::Mmap
                            );
                            if !next_mmap {
                                break;
                            }
                            if let Some((_, Piece::File(next))) = pieces.next() {
                                gathered.push(next);
                            }
                        }
                    }
                    let len = range.len + gathered.iter().map(|r| r.len).sum::<u64>();
                    let result = if gathered.is_empty() {
                        self.send_range(stream, head, &range, path, last).await
                    } else {
                        let last = pieces.peek().is_none();
                        gathered.insert(0, range);
                        self.send_mapped(stream, head, &gathered, last).await
                    };
                    if result.is_ok() {
                        // `Copy` also stands for `Auto`'s fallback (send_range copies it).
                        let path = if path == TransferPath::Auto {
                            TransferPath::Copy
                        } else {
                            path
                        };
                        self.sent(path, len);
                    }
                    if let Err(e) = result {
                        // The pipe's content is unknown after an error: never reuse it.
                        self.pipe = None;
                        return Err(e);
                    }
                    self.progress();
                }
            }
        }
        if let Some(head) = pending {
            let (res, _) = stream.send_all(head).await;
            res?;
        }
        Ok(())
    }

    /// Send `pieces` in order through a user-space TLS record layer: every byte is encrypted,
    /// so file ranges are read [`TLS_CHUNK_BYTES`] at a time into a buffer reserved from the
    /// broker's memory budget (as `copy` does), encrypted and sent. Counted as `copy` in the
    /// per-path metrics: it is one, with the encryption on top.
    pub async fn send_through(
        &mut self,
        stream: &TcpStream,
        tls: &crate::tls::transport::TlsIo,
        pieces: Vec<Piece>,
    ) -> io::Result<()> {
        // One read buffer for the whole response, zeroed once.
        let mut chunk: Vec<u8> = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Bytes(b) => tls.send(stream, &b).await?,
                Piece::File(range) => {
                    let len = usize::try_from(range.len)
                        .map_err(|_| io::Error::other("slice too large"))?;
                    let mut done = 0usize;
                    while done < len {
                        let n = (len - done).min(TLS_CHUNK_BYTES);
                        let _budget = self.reserve(n).await;
                        chunk.resize(n, 0);
                        let (res, data) = range
                            .file
                            .read_exact_at(std::mem::take(&mut chunk), range.position + done as u64)
                            .await;
                        chunk = data;
                        res?;
                        tls.send(stream, &chunk).await?;
                        done += n;
                        self.progress();
                    }
                    self.sent(TransferPath::Copy, range.len);
                }
            }
        }
        Ok(())
    }

    /// Sends `head` and `ranges` by `mmap` in one vectored send.
    async fn send_mapped(
        &mut self,
        stream: &TcpStream,
        head: Bytes,
        ranges: &[FileRange],
        last: bool,
    ) -> io::Result<()> {
        let more = if last { 0 } else { libc::MSG_MORE };
        let len: u64 = ranges.iter().map(|r| r.len).sum();
        let len = usize::try_from(len).map_err(|_| io::Error::other("slices too large"))?;
        let _budget = self.reserve(len).await;
        let mut bodies = Vec::with_capacity(ranges.len());
        for range in ranges {
            bodies.push(self.mapping(range)?);
        }
        send_gathered(stream, head, bodies, more).await
    }

    async fn send_range(
        &mut self,
        stream: &TcpStream,
        head: Bytes,
        range: &FileRange,
        path: TransferPath,
        last: bool,
    ) -> io::Result<()> {
        let len = usize::try_from(range.len).map_err(|_| io::Error::other("slice too large"))?;
        let more = if last { 0 } else { libc::MSG_MORE };
        match path {
            TransferPath::Copy | TransferPath::Auto => {
                // Chunk by chunk, the header with the first; at least one round (an empty slice
                // still sends the header).
                let mut head = Some(head);
                let mut done = 0usize;
                loop {
                    let n = (len - done).min(COPY_CHUNK_BYTES);
                    let _budget = self.reserve(n).await;
                    let (res, data) = range
                        .file
                        .read_exact_at(vec![0u8; n], range.position + done as u64)
                        .await;
                    res?;
                    done += n;
                    let flags = if done < len { libc::MSG_MORE } else { more };
                    send_two(stream, head.take().unwrap_or_default(), data, flags).await?;
                    if done == len {
                        return Ok(());
                    }
                    self.progress();
                }
            }
            TransferPath::Mmap => {
                let _budget = self.reserve(len).await;
                let map = self.mapping(range)?;
                send_two(stream, head, map, more).await
            }
            TransferPath::UringSendZc => {
                send_head(stream, head).await?;
                let map = self.mapping(range)?;
                // Detached sends: each resolves at its result CQE and the driver keeps the
                // mapping (an Rc) until the notification. Waiting for the notification before
                // the next send would serialize on the peer's delayed ACK (~0.02 GB/s measured).
                let mut sent = 0usize;
                while sent < len {
                    let n = stream.send_zc_detached(map.tail(sent), more).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    sent += n;
                }
                Ok(())
            }
            TransferPath::Sendfile => {
                send_head(stream, head).await?;
                let n = pipe::sendfile(&range.file, range.position, len, stream).await?;
                short(n, len)
            }
            TransferPath::Splice => {
                send_head(stream, head).await?;
                let pipe = self.pipe()?;
                let n = pipe::splice_to_socket_sys(&range.file, range.position, len, pipe, stream)
                    .await?;
                short(n, len)
            }
            TransferPath::UringSplice => {
                if crate::runtime::io_kind() != Some(IoKind::Uring) {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "transfer path uring-splice needs an io_uring shard",
                    ));
                }
                send_head(stream, head).await?;
                let pipe = self.pipe()?;
                let n =
                    pipe::splice_to_socket_uring(&range.file, range.position, len, pipe, stream)
                        .await?;
                short(n, len)
            }
        }
    }
}

/// For each piece, the bytes of the run of consecutive file pieces it belongs to (0 for bytes).
fn run_bytes(pieces: &[Piece]) -> Vec<u64> {
    let mut runs = vec![0u64; pieces.len()];
    let mut start = 0;
    while start < pieces.len() {
        let end = pieces[start..]
            .iter()
            .position(|p| matches!(p, Piece::Bytes(_)))
            .map_or(pieces.len(), |k| start + k);
        let total: u64 = pieces[start..end].iter().map(Piece::len).sum();
        runs[start..end].fill(total);
        start = end + 1;
    }
    runs
}

fn short(n: usize, want: usize) -> io::Result<()> {
    if n < want {
        // The file ended before the slice did: the frame promised more bytes than exist.
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("slice ended after {n} of {want} bytes"),
        ));
    }
    Ok(())
}

/// Send header bytes with MSG_MORE so they leave with what follows.
async fn send_head(stream: &TcpStream, head: Bytes) -> io::Result<()> {
    if head.is_empty() {
        return Ok(());
    }
    let (res, _) = stream.send_all_with_flags(head, libc::MSG_MORE).await;
    res
}

/// Send `head` then `body` as one vectored send, finishing with plain sends if it was short.
async fn send_two<B: IoBuf>(stream: &TcpStream, head: Bytes, body: B, more: i32) -> io::Result<()> {
    let head_len = head.len();
    let total = head_len + body.bytes_init();
    let (res, mut bufs) = stream
        .sendv(vec![Either2::A(head), Either2::B(body)], more)
        .await;
    let sent = res?;
    if sent == total {
        return Ok(());
    }
    let (Some(Either2::B(body)), Some(Either2::A(head))) = (bufs.pop(), bufs.pop()) else {
        unreachable!("sendv gives back the buffers in order");
    };
    if sent < head_len {
        let (res, _) = stream
            .send_all_with_flags(head.slice(sent..), libc::MSG_MORE)
            .await;
        res?;
        let (res, _) = stream.send_all_with_flags(body, more).await;
        res
    } else {
        let (res, _) = stream
            .send_all_with_flags(body.slice(sent - head_len..), more)
            .await;
        res
    }
}

/// Send `head` then every one of `bodies` as one vectored send, finishing with plain sends
/// if it was short.
async fn send_gathered(
    stream: &TcpStream,
    head: Bytes,
    bodies: Vec<mmap::MappedSlice>,
    more: i32,
) -> io::Result<()> {
    let total = head.len() + bodies.iter().map(IoBuf::bytes_init).sum::<usize>();
    let mut bufs = Vec::with_capacity(1 + bodies.len());
    bufs.push(Either2::A(head));
    bufs.extend(bodies.into_iter().map(Either2::B));
    let (res, bufs) = stream.sendv(bufs, more).await;
    let mut skip = res?;
    if skip == total {
        return Ok(());
    }
    let count = bufs.len();
    for (i, buf) in bufs.into_iter().enumerate() {
        let len = buf.bytes_init();
        if skip >= len {
            skip -= len;
            continue;
        }
        let flags = if i + 1 == count { more } else { libc::MSG_MORE };
        let res = match buf {
            Either2::A(head) => {
                stream
                    .send_all_with_flags(head.slice(skip..), flags)
                    .await
                    .0
            }
            Either2::B(body) => stream.send_all_with_flags(body.tail(skip), flags).await.0,
        };
        res?;
        skip = 0;
    }
    Ok(())
}

/// Two buffer types in one vectored send.
enum Either2<A, B> {
    A(A),
    B(B),
}

// SAFETY: delegates to the wrapped buffer, which upholds the IoBuf contract.
unsafe impl<A: IoBuf, B: IoBuf> IoBuf for Either2<A, B> {
    fn stable_ptr(&self) -> *const u8 {
        match self {
            Either2::A(a) => a.stable_ptr(),
            Either2::B(b) => b.stable_ptr(),
        }
    }
    fn bytes_init(&self) -> usize {
        match self {
            Either2::A(a) => a.bytes_init(),
            Either2::B(b) => b.bytes_init(),
        }
    }
}

#[cfg(test)]
mod run_tests {
    use super::*;

    #[test]
    fn runs_are_the_consecutive_file_pieces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![0u8; 1000]).expect("write");
        let file = File::from_std(std::fs::File::open(&path).expect("open"));
        let range = |len: u64| {
            Piece::File(FileRange {
                file: file.clone(),
                position: 0,
                len,
                hold: None,
            })
        };
        let bytes = || Piece::Bytes(Bytes::from_static(b"head"));
        let pieces = vec![
            bytes(),
            range(10),
            range(20),
            bytes(),
            range(5),
            range(1),
            range(2),
        ];
        assert_eq!(run_bytes(&pieces), vec![0, 30, 30, 0, 8, 8, 8]);
        assert!(run_bytes(&[]).is_empty());
        assert_eq!(run_bytes(&[bytes(), bytes()]), vec![0, 0]);
    }

    #[test]
    fn auto_sends_a_large_run_of_mapped_size_slices_by_sendfile() {
        let t = Transfer::new(
            TransferPath::Auto,
            Some("127.0.0.1:9".parse().expect("addr")),
        );
        assert_eq!(t.path_for(64 << 10, 64 << 10), TransferPath::Mmap);
        assert_eq!(t.path_for(64 << 10, 1 << 20), TransferPath::Sendfile);
        assert_eq!(t.path_for(4 << 10, 1 << 20), TransferPath::Copy);
        let fixed = Transfer::new(
            TransferPath::Mmap,
            Some("127.0.0.1:9".parse().expect("addr")),
        );
        assert_eq!(fixed.path_for(64 << 10, 1 << 20), TransferPath::Mmap);
    }
}
