//! TLS on a served connection: the handshake over the runtime's socket (both drivers), then
//! either kernel TLS (the socket carries plain bytes for the broker, the kernel makes and reads
//! the records, so Fetch keeps sendfile/splice) or [`TlsIo`], the user-space record layer the
//! connection reads requests from and writes responses through.
//!
//! ```text
//!  accept ──> handshake(ctx, stream)            (deadline: the frame-read deadline, from accept)
//!             ├─ Established::Kernel  keys installed with ktls::install; plain socket I/O after
//!             └─ Established::User    TlsIo: recv -> decrypt -> frames; responses -> encrypt -> send
//! ```
//!
//! # Invariants
//! - Ciphertext read and not yet taken by rustls is at most [`CIPHERTEXT_READ_BYTES`] plus what
//!   was left of the previous read; plaintext and records waiting to be sent are bounded by
//!   [`super::SEND_BUFFER_BYTES_MAX`]. A handshake makes at most [`HANDSHAKE_READS_MAX`] reads.
//! - One sender at a time ([`TlsIo::flush`]): records leave in the order rustls made them even
//!   when the reader (alerts, key updates) and the writer (responses) both have some.
//! - A handshake that kTLS may take over reads one record at a time, so no byte past the last
//!   handshake record is ever in user space when the keys go to the kernel.
//! - Nothing here panics on peer input: a bad record is a [`super::TlsError`], an alert for
//!   the peer if rustls made one, and a closed connection.

use std::cell::{Cell, RefCell};
use std::io;

use bytes::{Buf, BytesMut};

use super::ktls::{self, KtlsSupport, Offload};
use super::{ServerTls, TlsError, TlsSession, TlsSettings};
use crate::auth::Principal;
use crate::runtime::ktls::KtlsCipher;
use crate::runtime::net::TcpStream;
use crate::runtime::sync::Notify;

/// Ciphertext asked of the socket per receive in user space: four full TLS records (16 KiB of
/// plaintext each), so a large Produce frame arrives in few receives.
pub const CIPHERTEXT_READ_BYTES: usize = 64 << 10;
/// Most socket reads one handshake may take: a TLS 1.3 handshake with a client certificate is
/// about 10 records (20 reads when kTLS reads them header and body apart); a peer that
/// fragments its records into many tiny ones is cut off here as well as by the deadline.
pub const HANDSHAKE_READS_MAX: usize = 256;
/// Plaintext moved out of rustls into the connection's buffer per step, so a large frame's
/// buffer is never zeroed beyond what one step fills.
pub const PLAINTEXT_STEP_BYTES: usize = 64 << 10;

/// The TLS side of a broker: the server configuration and what this kernel can take.
#[derive(Debug)]
pub struct TlsContext {
    /// The loaded certificates and rustls configuration.
    pub server: ServerTls,
    /// kTLS here: probed once at start.
    pub ktls: KtlsSupport,
}

impl TlsContext {
    /// Loads the settings and probes the kernel once.
    pub fn start(settings: &TlsSettings) -> Result<TlsContext, TlsError> {
        Ok(TlsContext {
            server: settings.load()?,
            ktls: ktls::available(),
        })
    }
}

/// A finished handshake.
pub enum Established {
    /// The kernel makes and reads the records: the socket is used as on PLAINTEXT.
    Kernel {
        /// The client's principal (certificate subject or `User:ANONYMOUS`).
        principal: Principal,
        /// Request bytes rustls decrypted before the hand-off: read them before the socket.
        plaintext: Vec<u8>,
        /// The cipher the kernel runs.
        cipher: KtlsCipher,
    },
    /// rustls in user space.
    User {
        /// The client's principal.
        principal: Principal,
        /// The record layer (boxed: a rustls session is large).
        io: Box<TlsIo>,
        /// Why not the kernel.
        reason: String,
    },
}

/// What a handshake settled on, for the connection's log line.
fn describe(session: &TlsSession) -> String {
    format!(
        "{:?} {}",
        session
            .protocol_version()
            .map_or_else(|| "?".to_string(), |v| format!("{v:?}")),
        session.ktls_cipher().map_or("?", KtlsCipher::name)
    )
}

/// Sends every record the session has waiting (handshake flights, alerts).
async fn send_records(stream: &TcpStream, session: &mut TlsSession) -> io::Result<()> {
    let mut out = Vec::new();
    session.write_ciphertext(&mut out);
    if out.is_empty() {
        return Ok(());
    }
    let (res, _) = stream.send_all(out).await;
    res
}

/// The TLS handshake of a freshly accepted connection. The caller bounds it in time (the
/// connection's frame-read deadline runs from the accept). `Err` says why the connection must
/// close; any alert rustls made has been sent.
pub async fn handshake(ctx: &TlsContext, stream: &TcpStream) -> Result<Established, String> {
    let mut session = ctx.server.session().map_err(|e| e.to_string())?;
    // Only a connection the kernel may take over reads record by record (two reads per
    // record); the others read whatever has arrived.
    let record_wise = matches!(ctx.ktls, KtlsSupport::Available { .. });
    // Ciphertext past the handshake that rustls did not take yet (the first request).
    let mut pending = BytesMut::new();
    let mut reads = 0usize;
    loop {
        send_records(stream, &mut session)
            .await
            .map_err(|e| format!("tls handshake: sending: {e}"))?;
        if !session.is_handshaking() {
            break;
        }
        if reads == HANDSHAKE_READS_MAX {
            return Err(format!(
                "tls handshake: not done after {HANDSHAKE_READS_MAX} reads"
            ));
        }
        reads += 1;
        let want = if record_wise {
            session.record_bytes_wanted().max(1)
        } else {
            CIPHERTEXT_READ_BYTES
        };
        // Read at most `want` bytes: a Vec of that capacity.
        let (res, got) = stream.recv(Vec::with_capacity(want)).await;
        match res {
            Ok(0) => return Err("tls handshake: the peer closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("tls handshake: receiving: {e}")),
        }
        let mut off = 0;
        while off < got.len() {
            match session.receive(&got[off..]) {
                Ok(0) => break, // plaintext waits (the first request): kept below
                Ok(n) => off += n,
                Err(e) => {
                    // The alert (for Kafka bytes: decode_error), then close.
                    let _ = send_records(stream, &mut session).await;
                    return Err(format!("tls handshake: {e}"));
                }
            }
        }
        if off < got.len() {
            pending.extend_from_slice(&got[off..]);
        }
    }
    let principal = session.principal().map_err(|e| e.to_string())?;
    let settled = describe(&session);
    match ctx.ktls.offload(session.ktls_cipher()) {
        Offload::Kernel(cipher) if pending.is_empty() => {
            let handoff = session.into_ktls().map_err(|e| e.to_string())?;
            ktls::install(stream, &handoff.keys).map_err(|e| e.to_string())?;
            tracing::debug!(
                "tls {settled}: records by the kernel (kTLS {})",
                cipher.name()
            );
            Ok(Established::Kernel {
                principal,
                plaintext: handoff.plaintext,
                cipher,
            })
        }
        offload => {
            let reason = match offload {
                Offload::UserSpace { reason } => reason,
                Offload::Kernel(_) => "ciphertext past the handshake was read".into(),
            };
            tracing::debug!("tls {settled}: records in user space (rustls): {reason}");
            Ok(Established::User {
                principal,
                io: Box::new(TlsIo::new(session, pending)),
                reason,
            })
        }
    }
}

/// A connection's user-space record layer after the handshake, shared by its reader and its
/// writer (one task: no borrow is held across an await).
pub struct TlsIo {
    session: RefCell<TlsSession>,
    /// Ciphertext received and not yet taken by rustls.
    pending: RefCell<BytesMut>,
    /// A flush is sending.
    sending: Cell<bool>,
    /// A flush finished.
    sent: Notify,
    /// The ciphertext buffer between flushes (sized once: records are appended into it).
    spare: RefCell<Vec<u8>>,
}

/// Clears [`TlsIo::sending`] however a flush ends (also when its future is dropped).
struct SendingGuard<'a>(&'a TlsIo);

impl Drop for SendingGuard<'_> {
    fn drop(&mut self) {
        self.0.sending.set(false);
        self.0.sent.notify_waiters();
    }
}

impl TlsIo {
    fn new(session: TlsSession, pending: BytesMut) -> TlsIo {
        TlsIo {
            session: RefCell::new(session),
            pending: RefCell::new(pending),
            sending: Cell::new(false),
            sent: Notify::new(),
            spare: RefCell::new(Vec::new()),
        }
    }

    /// As [`TcpStream::recv`], but decrypted: plaintext into the spare capacity of `buf`.
    /// `Ok(0)`: the peer closed (TCP or close_notify), or `buf` has no spare capacity.
    pub async fn recv(
        &self,
        stream: &TcpStream,
        mut buf: BytesMut,
    ) -> (io::Result<usize>, BytesMut) {
        loop {
            let spare = buf.capacity() - buf.len();
            if spare == 0 {
                return (Ok(0), buf);
            }
            let start = buf.len();
            buf.resize(start + spare.min(PLAINTEXT_STEP_BYTES), 0);
            let read = self.session.borrow_mut().read_plaintext(&mut buf[start..]);
            match read {
                Ok(n) => {
                    buf.truncate(start + n);
                    if n > 0 {
                        return (Ok(n), buf);
                    }
                }
                Err(e) => {
                    buf.truncate(start);
                    return (Err(io::Error::other(e.to_string())), buf);
                }
            }
            if self.session.borrow().peer_closed() {
                return (Ok(0), buf);
            }
            // Ciphertext already here first, then the socket.
            let fed = {
                let mut pending = self.pending.borrow_mut();
                if pending.is_empty() {
                    None
                } else {
                    let res = self.session.borrow_mut().receive(&pending);
                    if let Ok(n) = res {
                        pending.advance(n);
                    }
                    Some(res)
                }
            };
            match fed {
                Some(Ok(0)) => {
                    // rustls took nothing and has no plaintext: it cannot move on.
                    return (
                        Err(io::Error::other("tls: the record layer refused more input")),
                        buf,
                    );
                }
                Some(Ok(_)) => {
                    // Key updates and alerts rustls answers go out now.
                    if self.session.borrow().wants_write() {
                        if let Err(e) = self.flush(stream).await {
                            return (Err(e), buf);
                        }
                    }
                    continue;
                }
                Some(Err(e)) => {
                    let _ = self.flush(stream).await;
                    return (Err(io::Error::other(e.to_string())), buf);
                }
                None => {}
            }
            let mut pending = std::mem::take(&mut *self.pending.borrow_mut());
            pending.reserve(CIPHERTEXT_READ_BYTES);
            let (res, got) = stream.recv(pending).await;
            *self.pending.borrow_mut() = got;
            match res {
                Ok(0) => return (Ok(0), buf),
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
        }
    }

    /// Encrypts `data` and sends it, [`super::SEND_BUFFER_BYTES_MAX`] at a time.
    pub async fn send(&self, stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self
                .session
                .borrow_mut()
                .write_plaintext(data)
                .map_err(|e| io::Error::other(e.to_string()))?;
            data = &data[n..];
            self.flush(stream).await?;
            if n == 0 && !self.session.borrow().wants_write() {
                // Flushed and still nothing taken: the session is closed for writing.
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "tls: the session takes no more plaintext",
                ));
            }
        }
        Ok(())
    }

    /// Sends every record waiting, one sender at a time.
    pub async fn flush(&self, stream: &TcpStream) -> io::Result<()> {
        loop {
            let done = self.sent.notified();
            if !self.sending.get() {
                break;
            }
            done.await;
        }
        self.sending.set(true);
        let _guard = SendingGuard(self);
        let mut out = std::mem::take(&mut *self.spare.borrow_mut());
        // Room for a full send buffer of records at once: appending never reallocates.
        out.reserve(super::SEND_BUFFER_BYTES_MAX + CIPHERTEXT_READ_BYTES);
        loop {
            out.clear();
            self.session.borrow_mut().write_ciphertext(&mut out);
            if out.is_empty() {
                *self.spare.borrow_mut() = out;
                return Ok(());
            }
            let (res, back) = stream.send_all(out).await;
            res?;
            out = back;
        }
    }

    /// Queues close_notify and sends it (best effort: the connection is ending).
    pub async fn close(&self, stream: &TcpStream) {
        self.session.borrow_mut().close();
        let _ = self.flush(stream).await;
    }
}
