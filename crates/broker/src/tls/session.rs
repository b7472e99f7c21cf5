//! A server TLS session over byte buffers, for a connection layer that owns its socket I/O
//! (io_uring ops own their buffers, so rustls never touches the socket itself):
//!
//! ```text
//!  socket bytes in ──> receive(&[u8]) -> consumed ──> read_plaintext(&mut [u8])  ──> Kafka frames
//!  socket bytes out <── write_ciphertext(&mut Vec<u8>) <── write_plaintext(&[u8]) <── responses
//! ```
//! After every `receive`, and after writing plaintext, the caller sends what
//! `write_ciphertext` gives (`wants_write`), so handshake messages and alerts go out. A
//! `receive` that fails (for example plaintext Kafka bytes on a TLS port) leaves an alert to
//! send: send it, then close.
//!
//! For kernel TLS the session is turned into keys with [`TlsSession::into_ktls`] once the
//! handshake is done. The kernel can only decrypt records it reads from the socket itself, so
//! no byte past the last handshake record may have been read into user space: during the
//! handshake a kTLS connection reads at most [`TlsSession::record_bytes_wanted`] bytes at a
//! time (a record header, then its body), which keeps every read inside one record.
//!
//! # Invariants
//! - `record` tracks exactly the bytes given to rustls, so `record.at_boundary()` says whether
//!   a record was cut by the last read.
//! - Plaintext and records waiting to be sent are bounded by [`super::SEND_BUFFER_BYTES_MAX`];
//!   received plaintext by rustls' own bound (it stops taking bytes until it is read).

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::{ProtocolVersion, ServerConfig, ServerConnection};

use super::ktls::KtlsKeys;
use super::{ktls_cipher_of, TlsError, SEND_BUFFER_BYTES_MAX};
use crate::auth::Principal;
use crate::runtime::ktls::KtlsCipher;

/// Bytes of a TLS record header: type, version, length (RFC 8446 5.1).
pub const RECORD_HEADER_BYTES: usize = 5;

/// Where the bytes given to rustls stand in the TLS record stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RecordCursor {
    header: [u8; RECORD_HEADER_BYTES],
    header_len: usize,
    body_left: usize,
}

impl RecordCursor {
    fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.header_len < RECORD_HEADER_BYTES {
                let n = (RECORD_HEADER_BYTES - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                bytes = &bytes[n..];
                if self.header_len == RECORD_HEADER_BYTES {
                    self.body_left =
                        usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                    if self.body_left == 0 {
                        self.header_len = 0;
                    }
                }
            } else {
                let n = self.body_left.min(bytes.len());
                self.body_left -= n;
                bytes = &bytes[n..];
                if self.body_left == 0 {
                    self.header_len = 0;
                }
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.header_len == 0
    }

    fn bytes_to_boundary(&self) -> usize {
        if self.header_len < RECORD_HEADER_BYTES {
            RECORD_HEADER_BYTES - self.header_len
        } else {
            self.body_left
        }
    }
}

/// One connection's server side of TLS.
pub struct TlsSession {
    conn: ServerConnection,
    record: RecordCursor,
    peer_closed: bool,
}

/// What [`TlsSession::into_ktls`] gives: the keys for the kernel, what the client had already
/// sent that rustls decrypted, and who the client is.
#[derive(Debug)]
pub struct KtlsHandoff {
    /// Both directions' keys and sequence numbers.
    pub keys: KtlsKeys,
    /// Plaintext received before the hand-off (the start of the first Kafka request, if the
    /// client sent it with its Finished): the connection reads it before the socket.
    pub plaintext: Vec<u8>,
    /// The client's principal.
    pub principal: Principal,
}

impl TlsSession {
    /// A session with `config` (see [`super::ServerTls::session`]).
    pub fn new(config: Arc<ServerConfig>) -> Result<TlsSession, TlsError> {
        let mut conn = ServerConnection::new(config).map_err(TlsError::Protocol)?;
        conn.set_buffer_limit(Some(SEND_BUFFER_BYTES_MAX));
        Ok(TlsSession {
            conn,
            record: RecordCursor::default(),
            peer_closed: false,
        })
    }

    /// Give bytes received from the socket; returns how many were taken. Fewer than given
    /// when decrypted plaintext waits to be read ([`Self::read_plaintext`]) or the peer closed:
    /// give the rest again after reading. An error is fatal for the connection: send what
    /// [`Self::write_ciphertext`] gives (the alert), then close.
    pub fn receive(&mut self, mut ciphertext: &[u8]) -> Result<usize, TlsError> {
        let mut taken = 0;
        while !ciphertext.is_empty() && !self.peer_closed {
            let before = ciphertext;
            // A slice never fails to read; rustls errors only when its received-plaintext
            // buffer is full, which means: read plaintext first.
            let n = match self.conn.read_tls(&mut ciphertext) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.record.advance(&before[..n]);
            taken += n;
            let state = self
                .conn
                .process_new_packets()
                .map_err(TlsError::Protocol)?;
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
            if state.plaintext_bytes_to_read() > 0 {
                break;
            }
        }
        Ok(taken)
    }

    /// Decrypted bytes into `buf`; 0 when none are waiting (or the peer closed: see
    /// [`Self::peer_closed`]).
    pub fn read_plaintext(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        match self.conn.reader().read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(TlsError::Handoff(format!("reading plaintext: {e}"))),
        }
    }

    /// Queue plaintext to send; returns how much was taken (less than given when
    /// [`super::SEND_BUFFER_BYTES_MAX`] is reached: send ciphertext, then give the rest).
    /// Before the handshake completes, the bytes wait for it.
    pub fn write_plaintext(&mut self, data: &[u8]) -> Result<usize, TlsError> {
        self.conn
            .writer()
            .write(data)
            .map_err(|e| TlsError::Handoff(format!("queueing plaintext: {e}")))
    }

    /// Whether records wait to be sent.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Append every record waiting to be sent to `out`; returns the bytes appended.
    pub fn write_ciphertext(&mut self, out: &mut Vec<u8>) -> usize {
        let before = out.len();
        while self.conn.wants_write() {
            // Writing into a Vec cannot fail.
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        out.len() - before
    }

    /// Queue a close_notify alert (send it with [`Self::write_ciphertext`]).
    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether the peer sent close_notify.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// How many bytes to read from the socket next so that the read ends at or before the end
    /// of the current TLS record: used during the handshake of a connection that will hand its
    /// keys to the kernel.
    pub fn record_bytes_wanted(&self) -> usize {
        self.record.bytes_to_boundary()
    }

    /// The negotiated version (after the handshake).
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.conn.protocol_version()
    }

    /// The negotiated cipher as kTLS names it (after the handshake).
    pub fn ktls_cipher(&self) -> Option<KtlsCipher> {
        self.conn
            .negotiated_cipher_suite()
            .and_then(|s| ktls_cipher_of(s.suite()))
    }

    /// The client's principal: its certificate's subject, or `User:ANONYMOUS` without one.
    pub fn principal(&self) -> Result<Principal, TlsError> {
        let leaf = self
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref());
        super::principal::principal_of(leaf).map_err(|e| TlsError::Handoff(e.to_string()))
    }

    /// Turn the session into kernel keys. Refused (with the session gone: close the
    /// connection) when the handshake is not complete, records wait to be sent, or a record
    /// was read only in part; the caller checks [`Self::is_handshaking`], sends
    /// [`Self::write_ciphertext`] and reads by [`Self::record_bytes_wanted`] first.
    pub fn into_ktls(mut self) -> Result<KtlsHandoff, TlsError> {
        if self.conn.is_handshaking() {
            return Err(TlsError::Handoff("the handshake is not complete".into()));
        }
        if self.conn.wants_write() {
            return Err(TlsError::Handoff("records wait to be sent".into()));
        }
        if !self.record.at_boundary() {
            return Err(TlsError::Handoff(format!(
                "a record was read in part ({} bytes of it are still in the socket)",
                self.record.bytes_to_boundary()
            )));
        }
        let version = self
            .conn
            .protocol_version()
            .ok_or_else(|| TlsError::Handoff("no protocol version".into()))?;
        let principal = self.principal()?;
        let mut plaintext = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.read_plaintext(&mut chunk)?;
            if n == 0 {
                break;
            }
            plaintext.extend_from_slice(&chunk[..n]);
        }
        #[allow(deprecated)] // The replacement needs rustls' unbuffered API; see ktls.rs.
        let secrets = self
            .conn
            .dangerous_extract_secrets()
            .map_err(|e| TlsError::Handoff(format!("extracting secrets: {e}")))?;
        Ok(KtlsHandoff {
            keys: KtlsKeys::from_secrets(version, secrets)?,
            plaintext,
            principal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_certs::{TestPki, CLIENT_DN};
    use super::super::ClientAuth;
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::ClientConnection;

    /// Moves every pending record between client and session until neither has anything.
    fn pump(client: &mut ClientConnection, server: &mut TlsSession) -> Result<(), TlsError> {
        for _ in 0..32 {
            let mut c2s = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut c2s).unwrap();
            }
            let mut off = 0;
            while off < c2s.len() {
                let n = server.receive(&c2s[off..])?;
                if n == 0 {
                    break;
                }
                off += n;
            }
            let mut s2c = Vec::new();
            server.write_ciphertext(&mut s2c);
            let mut rd = &s2c[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets().unwrap();
            }
            if c2s.is_empty() && s2c.is_empty() {
                return Ok(());
            }
        }
        panic!("handshake did not settle in 32 rounds");
    }

    fn connect(
        pki: &TestPki,
        auth: ClientAuth,
        client_cert: bool,
        suites: &[rustls::CipherSuite],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> (ClientConnection, TlsSession) {
        let server = pki.settings(auth).load().unwrap().session().unwrap();
        let client = ClientConnection::new(
            pki.client_config(client_cert, suites, versions),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        (client, server)
    }

    fn read_all(server: &mut TlsSession) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            let n = server.read_plaintext(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn handshake_and_round_trip_tls13_and_tls12() {
        let pki = TestPki::new();
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let (mut client, mut server) = connect(&pki, ClientAuth::None, false, &[], versions);
            pump(&mut client, &mut server).unwrap();
            assert!(!server.is_handshaking());
            assert_eq!(server.protocol_version(), Some(versions[0].version));
            assert_eq!(
                server.ktls_cipher(),
                Some(KtlsCipher::AesGcm128),
                "server order wins"
            );
            assert_eq!(server.principal().unwrap().to_string(), "User:ANONYMOUS");

            client.writer().write_all(b"ApiVersions request").unwrap();
            pump(&mut client, &mut server).unwrap();
            assert_eq!(read_all(&mut server), b"ApiVersions request");

            assert_eq!(server.write_plaintext(b"response").unwrap(), 8);
            pump(&mut client, &mut server).unwrap();
            let mut got = vec![0u8; 8];
            client.reader().read_exact(&mut got).unwrap();
            assert_eq!(got, b"response");

            client.send_close_notify();
            pump(&mut client, &mut server).unwrap();
            assert!(server.peer_closed());
        }
    }

    #[test]
    fn large_messages_respect_the_buffer_bounds() {
        let pki = TestPki::new();
        let (mut client, mut server) = connect(
            &pki,
            ClientAuth::None,
            false,
            &[],
            &[&rustls::version::TLS13],
        );
        pump(&mut client, &mut server).unwrap();
        // A 1 MiB response goes out in pieces of at most SEND_BUFFER_BYTES_MAX.
        let big: Vec<u8> = (0..(1usize << 20)).map(|i| i as u8).collect();
        let mut sent = 0;
        let mut got = Vec::new();
        while sent < big.len() {
            let n = server.write_plaintext(&big[sent..]).unwrap();
            assert!(n <= SEND_BUFFER_BYTES_MAX + 1);
            assert!(n > 0, "an emptied buffer takes bytes");
            sent += n;
            let mut out = Vec::new();
            server.write_ciphertext(&mut out);
            let mut rd = &out[..];
            let mut buf = vec![0u8; 1 << 16];
            while !rd.is_empty() {
                // The client's plaintext buffer is bounded too: read it as it fills.
                if client.read_tls(&mut rd).is_ok() {
                    client.process_new_packets().unwrap();
                }
                while let Ok(n) = client.reader().read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            }
        }
        assert_eq!(got, big);
        // A 1 MiB request comes in although rustls holds little plaintext at a time.
        client.set_buffer_limit(None);
        client.writer().write_all(&big).unwrap();
        let mut c2s = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut c2s).unwrap();
        }
        let mut off = 0;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        while off < c2s.len() {
            off += server.receive(&c2s[off..]).unwrap();
            loop {
                let n = server.read_plaintext(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(got, big);
    }

    #[test]
    fn plaintext_kafka_bytes_get_an_alert() {
        let pki = TestPki::new();
        let mut server = pki
            .settings(ClientAuth::None)
            .load()
            .unwrap()
            .session()
            .unwrap();
        // An ApiVersions v3 request frame as a PLAINTEXT client sends it.
        let frame = [
            0, 0, 0, 0x1b, 0, 0x12, 0, 3, 0, 0, 0, 1, 0, 4, b'k', b'c', b'a', b't',
        ];
        assert!(matches!(server.receive(&frame), Err(TlsError::Protocol(_))));
        let mut out = Vec::new();
        assert!(server.write_ciphertext(&mut out) > 0);
        assert_eq!(out[0], 21, "an alert record");
    }

    #[test]
    fn mtls_principal_is_the_subject_and_required_refuses_no_cert() {
        let pki = TestPki::new();
        let v13 = &[&rustls::version::TLS13][..];
        let (mut client, mut server) = connect(&pki, ClientAuth::Required, true, &[], v13);
        pump(&mut client, &mut server).unwrap();
        assert_eq!(
            server.principal().unwrap().to_string(),
            format!("User:{CLIENT_DN}")
        );

        let (mut client, mut server) = connect(&pki, ClientAuth::Requested, false, &[], v13);
        pump(&mut client, &mut server).unwrap();
        assert_eq!(server.principal().unwrap().to_string(), "User:ANONYMOUS");

        let (mut client, mut server) = connect(&pki, ClientAuth::Required, false, &[], v13);
        assert!(matches!(
            pump(&mut client, &mut server),
            Err(TlsError::Protocol(_))
        ));
    }

    #[test]
    fn record_cursor_tracks_boundaries() {
        let mut c = RecordCursor::default();
        assert_eq!(c.bytes_to_boundary(), 5);
        c.advance(&[23, 3, 3]);
        assert_eq!(c.bytes_to_boundary(), 2);
        c.advance(&[0, 10]);
        assert_eq!(c.bytes_to_boundary(), 10);
        assert!(!c.at_boundary());
        c.advance(&[0; 9]);
        assert_eq!(c.bytes_to_boundary(), 1);
        // The end of one record and a whole second one (empty body) and half a header.
        c.advance(&[0, 23, 3, 3, 0, 0, 23, 3]);
        assert_eq!(c.bytes_to_boundary(), 3);
        c.advance(&[3, 0xff, 0xff]);
        assert_eq!(c.bytes_to_boundary(), 65535);
    }

    #[test]
    fn into_ktls_gives_keys_for_each_cipher_and_version() {
        use rustls::CipherSuite as S;
        let pki = TestPki::new();
        let cases = [
            (
                S::TLS13_AES_128_GCM_SHA256,
                &rustls::version::TLS13,
                KtlsCipher::AesGcm128,
            ),
            (
                S::TLS13_AES_256_GCM_SHA384,
                &rustls::version::TLS13,
                KtlsCipher::AesGcm256,
            ),
            (
                S::TLS13_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS13,
                KtlsCipher::Chacha20Poly1305,
            ),
            (
                S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                &rustls::version::TLS12,
                KtlsCipher::AesGcm128,
            ),
            (
                S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                &rustls::version::TLS12,
                KtlsCipher::AesGcm256,
            ),
            (
                S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS12,
                KtlsCipher::Chacha20Poly1305,
            ),
        ];
        for (suite, version, cipher) in cases {
            let (mut client, mut server) =
                connect(&pki, ClientAuth::Required, true, &[suite], &[version]);
            // Refused while handshaking.
            let early = pki
                .settings(ClientAuth::None)
                .load()
                .unwrap()
                .session()
                .unwrap();
            assert!(early
                .into_ktls()
                .unwrap_err()
                .to_string()
                .contains("not complete"));

            pump(&mut client, &mut server).unwrap();
            assert_eq!(server.ktls_cipher(), Some(cipher), "{suite:?}");
            // The first request arrives with (or right after) the handshake.
            client.writer().write_all(b"first request").unwrap();
            let mut c2s = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut c2s).unwrap();
            }
            assert_eq!(server.receive(&c2s).unwrap(), c2s.len());
            let handoff = server.into_ktls().unwrap();
            assert_eq!(handoff.plaintext, b"first request");
            assert_eq!(handoff.principal.to_string(), format!("User:{CLIENT_DN}"));
            assert_eq!(handoff.keys.cipher(), cipher);
            assert_eq!(handoff.keys.tx.cipher(), cipher);
            let wire = if *version == rustls::version::TLS13 {
                0x0304
            } else {
                0x0303
            };
            assert_eq!(handoff.keys.tx.header().version, wire);
            assert_eq!(handoff.keys.rx.header().version, wire);
            // The receive sequence counts the one application record after the handshake.
            assert!(
                handoff.keys.rx_seq >= 1,
                "{suite:?}: {}",
                handoff.keys.rx_seq
            );
        }
    }

    #[test]
    fn into_ktls_refuses_a_record_read_in_part() {
        let pki = TestPki::new();
        let (mut client, mut server) = connect(
            &pki,
            ClientAuth::None,
            false,
            &[],
            &[&rustls::version::TLS13],
        );
        pump(&mut client, &mut server).unwrap();
        client.writer().write_all(b"request").unwrap();
        let mut c2s = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut c2s).unwrap();
        }
        server.receive(&c2s[..3]).unwrap();
        assert_eq!(server.record_bytes_wanted(), 2);
        let e = server.into_ktls().unwrap_err().to_string();
        assert!(e.contains("read in part"), "{e}");
    }
}
