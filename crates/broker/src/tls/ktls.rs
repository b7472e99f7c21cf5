//! Kernel TLS: whether this kernel can take a TLS session ([`available`], once at start and in
//! `ringlog probe`), the keys of a finished rustls handshake in the kernel's layout
//! ([`KtlsKeys`]), and installing them on a socket ([`install`]).
//!
//! After [`install`], the socket carries TLS records made and read by the kernel: the Fetch
//! transfer paths (sendfile, splice, io_uring splice) write file bytes to it as they do on
//! PLAINTEXT, and plain `recv` returns decrypted request bytes. A record that is not
//! application data (an alert, a TLS 1.3 KeyUpdate or NewSessionTicket) makes `recv` fail
//! with `EIO` unless read with `recvmsg` and a control buffer (the record type comes as
//! `TLS_GET_RECORD_TYPE`); the connection closes on those (a key update cannot be followed:
//! the secrets were taken with rustls' buffered API, which does not track them).
//!
//! # Invariants
//! - [`available`] never changes the process: it tries the real setsockopt calls on a
//!   throw-away loopback connection and closes it.
//! - Keys are only installed for a cipher [`available`] reported; a failed install closes the
//!   connection (the session's secrets are gone from rustls by then).

use std::fmt;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;

use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion};

use super::TlsError;
use crate::runtime::ktls::{self as sys, CryptoInfo, Direction, KtlsCipher, TlsVersion};

/// Whether kernel TLS can be used here, and with which ciphers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KtlsSupport {
    /// The `tls` ULP attaches and at least one cipher installs in both directions.
    Available {
        /// The ciphers that installed (TX and RX), in [`KtlsCipher::ALL`]'s order.
        ciphers: Vec<KtlsCipher>,
    },
    /// Not usable; every TLS connection stays in user space.
    Unavailable {
        /// Why, with what to do about it.
        reason: String,
    },
}

impl KtlsSupport {
    /// Whether sessions of `cipher` can go to the kernel.
    pub fn supports(&self, cipher: KtlsCipher) -> bool {
        matches!(self, KtlsSupport::Available { ciphers } if ciphers.contains(&cipher))
    }

    /// Where a session with `cipher` gets its records made.
    pub fn offload(&self, cipher: Option<KtlsCipher>) -> Offload {
        match (self, cipher) {
            (KtlsSupport::Unavailable { reason }, _) => Offload::UserSpace {
                reason: reason.clone(),
            },
            (_, None) => Offload::UserSpace {
                reason: "the negotiated cipher suite has no kernel TLS cipher".into(),
            },
            (_, Some(c)) if !self.supports(c) => Offload::UserSpace {
                reason: format!("this kernel's TLS does not take {}", c.name()),
            },
            (_, Some(c)) => Offload::Kernel(c),
        }
    }
}

/// Where a TLS connection's records are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Offload {
    /// By the kernel: zero-copy transfer paths stay.
    Kernel(KtlsCipher),
    /// By rustls in user space (why).
    UserSpace {
        /// Why not the kernel.
        reason: String,
    },
}

impl fmt::Display for KtlsSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KtlsSupport::Available { ciphers } => {
                let names: Vec<&str> = ciphers.iter().map(|c| c.name()).collect();
                write!(
                    f,
                    "kernel TLS (kTLS): available ({}); TLS listeners keep sendfile/splice",
                    names.join(", ")
                )
            }
            KtlsSupport::Unavailable { reason } => write!(
                f,
                "kernel TLS (kTLS): unavailable ({reason}); TLS listeners will encrypt in user \
                 space (rustls), without zero-copy Fetch"
            ),
        }
    }
}

/// The ULPs the kernel lists as available right now (empty if the file cannot be read).
pub fn available_ulps() -> String {
    std::fs::read_to_string(sys::AVAILABLE_ULP_PATH)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A connected loopback pair (client, accepted server side).
fn loopback_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    Ok((client, server))
}

/// Probe this kernel: attach the `tls` ULP to a loopback connection and install a zero key of
/// each cipher in both directions (each on its own connection). Takes well under a
/// millisecond per cipher; run once at start.
pub fn available() -> KtlsSupport {
    let ulps = available_ulps();
    let unavailable = |what: &str, e: std::io::Error| KtlsSupport::Unavailable {
        reason: format!("{what}: {e}"),
    };
    let (client, _server) = match loopback_pair() {
        Ok(p) => p,
        Err(e) => return unavailable("no loopback connection to probe with", e),
    };
    if let Err(e) = sys::attach_tls_ulp(&client) {
        let reason = if e.raw_os_error() == Some(libc::ENOENT) {
            format!(
                "tls ULP not in {} (it lists {:?}); the kernel module may be missing or not \
                 loaded: modprobe tls (needs CONFIG_TLS)",
                sys::AVAILABLE_ULP_PATH,
                ulps
            )
        } else {
            format!("setsockopt(TCP_ULP, \"tls\"): {e}")
        };
        return KtlsSupport::Unavailable { reason };
    }
    let mut ciphers = Vec::new();
    let mut last_error = None;
    for cipher in KtlsCipher::ALL {
        match probe_cipher(cipher) {
            Ok(()) => ciphers.push(cipher),
            Err(e) => last_error = Some(format!("{}: {e}", cipher.name())),
        }
    }
    if ciphers.is_empty() {
        return KtlsSupport::Unavailable {
            reason: format!(
                "the tls ULP attaches but no cipher installs ({})",
                last_error.unwrap_or_default()
            ),
        };
    }
    KtlsSupport::Available { ciphers }
}

fn probe_cipher(cipher: KtlsCipher) -> std::io::Result<()> {
    let (client, _server) = loopback_pair()?;
    sys::attach_tls_ulp(&client)?;
    let key = [0u8; 32];
    let info = CryptoInfo::new(
        TlsVersion::Tls13,
        cipher,
        &key[..cipher.key_bytes()],
        &[0; sys::NONCE_BYTES],
        0,
    )
    .map_err(std::io::Error::other)?;
    sys::install_keys(&client, Direction::Tx, &info)?;
    sys::install_keys(&client, Direction::Rx, &info)
}

/// A finished session's keys in the kernel's layout.
#[derive(Debug)]
pub struct KtlsKeys {
    /// Transmit keys (the server's write secret) with its next sequence number.
    pub tx: CryptoInfo,
    /// Receive keys (the client's write secret).
    pub rx: CryptoInfo,
    /// Next transmit record number (after the handshake records and session tickets).
    pub tx_seq: u64,
    /// Next receive record number.
    pub rx_seq: u64,
}

impl KtlsKeys {
    /// Lays out rustls' extracted secrets.
    pub fn from_secrets(
        version: ProtocolVersion,
        secrets: ExtractedSecrets,
    ) -> Result<KtlsKeys, TlsError> {
        let version = match version {
            ProtocolVersion::TLSv1_3 => TlsVersion::Tls13,
            ProtocolVersion::TLSv1_2 => TlsVersion::Tls12,
            v => return Err(TlsError::Handoff(format!("kernel TLS does not take {v:?}"))),
        };
        let (tx_seq, tx) = secrets.tx;
        let (rx_seq, rx) = secrets.rx;
        Ok(KtlsKeys {
            tx: crypto_info(version, tx, tx_seq)?,
            rx: crypto_info(version, rx, rx_seq)?,
            tx_seq,
            rx_seq,
        })
    }

    /// The cipher (the same both ways).
    pub fn cipher(&self) -> KtlsCipher {
        self.tx.cipher()
    }
}

fn crypto_info(
    version: TlsVersion,
    secrets: ConnectionTrafficSecrets,
    seq: u64,
) -> Result<CryptoInfo, TlsError> {
    let (cipher, key, iv) = match &secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (KtlsCipher::AesGcm128, key, iv),
        ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (KtlsCipher::AesGcm256, key, iv),
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
            (KtlsCipher::Chacha20Poly1305, key, iv)
        }
        _ => {
            return Err(TlsError::Handoff(
                "the session's cipher has no kernel TLS equivalent".into(),
            ))
        }
    };
    let iv: &[u8; sys::NONCE_BYTES] = iv.as_ref().try_into().map_err(|_| {
        TlsError::Handoff(format!(
            "nonce of {} bytes (expected {})",
            iv.as_ref().len(),
            sys::NONCE_BYTES
        ))
    })?;
    CryptoInfo::new(version, cipher, key.as_ref(), iv, seq)
        .map_err(|e| TlsError::Handoff(e.to_string()))
}

/// Which step of [`install`] failed.
#[derive(Debug)]
pub struct InstallError {
    /// `TCP_ULP`, `TLS_TX` or `TLS_RX`.
    pub step: &'static str,
    /// The kernel's answer.
    pub source: std::io::Error,
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel TLS {}: {}", self.step, self.source)
    }
}

impl std::error::Error for InstallError {}

/// Put the session on the socket: attach the `tls` ULP, then TX and RX keys. The socket must
/// be connected and nothing past the handshake may have been read from it
/// ([`super::TlsSession::record_bytes_wanted`]). On error the connection must be closed.
pub fn install(socket: impl AsFd, keys: &KtlsKeys) -> Result<(), InstallError> {
    let fd = socket.as_fd();
    sys::attach_tls_ulp(fd).map_err(|source| InstallError {
        step: "TCP_ULP",
        source,
    })?;
    sys::install_keys(fd, Direction::Tx, &keys.tx).map_err(|source| InstallError {
        step: "TLS_TX",
        source,
    })?;
    sys::install_keys(fd, Direction::Rx, &keys.rx).map_err(|source| InstallError {
        step: "TLS_RX",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_and_matches_the_ulp_list() {
        let support = available();
        let text = support.to_string();
        assert!(text.starts_with("kernel TLS (kTLS): "), "{text}");
        if !available_ulps().split_whitespace().any(|u| u == "tls") {
            // No tls ULP loaded: attaching may still load the module (CAP_NET_ADMIN), so
            // only a kernel without it must answer Unavailable.
            if let KtlsSupport::Unavailable { reason } = &support {
                eprintln!("kTLS unavailable here (expected on this kernel): {reason}");
                assert!(!reason.is_empty());
            }
        }
        match &support {
            KtlsSupport::Available { ciphers } => assert!(!ciphers.is_empty()),
            KtlsSupport::Unavailable { reason } => {
                assert!(text.contains("user space"), "{text}");
                assert!(!reason.is_empty());
            }
        }
    }

    #[test]
    fn fallback_is_chosen_without_kernel_support() {
        let none = KtlsSupport::Unavailable {
            reason: "tls ULP not in tcp_available_ulp".into(),
        };
        assert_eq!(
            none.offload(Some(KtlsCipher::AesGcm128)),
            Offload::UserSpace {
                reason: "tls ULP not in tcp_available_ulp".into()
            }
        );
        let some = KtlsSupport::Available {
            ciphers: vec![KtlsCipher::AesGcm128],
        };
        assert_eq!(
            some.offload(Some(KtlsCipher::AesGcm128)),
            Offload::Kernel(KtlsCipher::AesGcm128)
        );
        assert!(matches!(
            some.offload(Some(KtlsCipher::Chacha20Poly1305)),
            Offload::UserSpace { reason } if reason.contains("CHACHA20")
        ));
        assert!(matches!(some.offload(None), Offload::UserSpace { .. }));
        // And what this machine's probe decides.
        let here = available();
        match here.offload(Some(KtlsCipher::AesGcm128)) {
            Offload::Kernel(_) => assert!(here.supports(KtlsCipher::AesGcm128)),
            Offload::UserSpace { reason } => eprintln!("this kernel: user space ({reason})"),
        }
    }

    /// A real handshake, its keys installed on a loopback socket: on a kernel with kTLS the
    /// install succeeds; without, it fails at TCP_ULP, the step the probe names.
    #[test]
    fn handoff_install_matches_the_probe() {
        use super::super::test_certs::TestPki;
        use super::super::ClientAuth;
        use rustls::pki_types::ServerName;
        use std::io::Write;

        let pki = TestPki::new();
        let mut server = pki
            .settings(ClientAuth::None)
            .load()
            .unwrap()
            .session()
            .unwrap();
        let mut client = rustls::ClientConnection::new(
            pki.client_config(false, &[], &[&rustls::version::TLS13]),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        for _ in 0..8 {
            let mut c2s = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut c2s).unwrap();
            }
            assert_eq!(server.receive(&c2s).unwrap(), c2s.len());
            let mut s2c = Vec::new();
            server.write_ciphertext(&mut s2c);
            let mut rd = &s2c[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets().unwrap();
            }
        }
        assert!(!server.is_handshaking());
        client.writer().write_all(b"x").unwrap();
        let handoff = server.into_ktls().unwrap();
        let (sock, _peer) = loopback_pair().unwrap();
        let result = install(&sock, &handoff.keys);
        match available() {
            KtlsSupport::Available { ciphers } if ciphers.contains(&handoff.keys.cipher()) => {
                result.unwrap()
            }
            KtlsSupport::Available { .. } => assert!(result.is_err()),
            KtlsSupport::Unavailable { reason } => {
                let e = result.unwrap_err();
                assert_eq!(e.step, "TCP_ULP", "{e}");
                eprintln!("install failed as the probe said ({reason}): {e}");
            }
        }
    }

    /// A real kTLS round trip over loopback TCP: handshake in user space (reading record by
    /// record), keys to the kernel, then plain read/write on the socket while a rustls client
    /// on the other end encrypts and decrypts. Skips loudly where the kernel has no kTLS (run
    /// it on one with scripts/ktls-qemu.sh).
    #[test]
    fn ktls_round_trip_when_available() {
        use super::super::test_certs::TestPki;
        use super::super::ClientAuth;
        use rustls::pki_types::ServerName;
        use std::io::{Read, Write};
        use std::time::Duration;

        let support = available();
        let KtlsSupport::Available { ciphers } = &support else {
            eprintln!("SKIPPED ktls_round_trip_when_available: {support}");
            return;
        };
        let pki = TestPki::new();
        for (suite, version) in [
            (
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
                &rustls::version::TLS13,
            ),
            (
                rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
                &rustls::version::TLS13,
            ),
            (
                rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                &rustls::version::TLS13,
            ),
            (
                rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                &rustls::version::TLS12,
            ),
        ] {
            let cipher = super::super::ktls_cipher_of(suite).unwrap();
            if !ciphers.contains(&cipher) {
                eprintln!(
                    "SKIPPED {suite:?}: this kernel's TLS lacks {}",
                    cipher.name()
                );
                continue;
            }
            let (client_sock, mut sock) = loopback_pair().unwrap();
            for s in [&client_sock, &sock] {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
            }
            let config = pki.client_config(false, &[suite], &[version]);
            let client = std::thread::spawn(move || {
                let conn = rustls::ClientConnection::new(
                    config,
                    ServerName::try_from("localhost").unwrap(),
                )
                .unwrap();
                let mut tls = rustls::StreamOwned::new(conn, client_sock);
                tls.write_all(b"request").unwrap();
                tls.flush().unwrap();
                let mut got = [0u8; 8];
                tls.read_exact(&mut got).unwrap();
                got
            });

            let mut server = pki
                .settings(ClientAuth::None)
                .load()
                .unwrap()
                .session()
                .unwrap();
            let mut buf = vec![0u8; 1 << 16];
            // Bounded: a handshake is a handful of records.
            for _ in 0..64 {
                let mut out = Vec::new();
                server.write_ciphertext(&mut out);
                sock.write_all(&out).unwrap();
                if !server.is_handshaking() {
                    break;
                }
                let want = server.record_bytes_wanted();
                let n = sock.read(&mut buf[..want]).unwrap();
                assert!(n > 0, "client closed during the handshake");
                assert_eq!(server.receive(&buf[..n]).unwrap(), n);
            }
            assert!(!server.is_handshaking());
            let handoff = server.into_ktls().unwrap();
            assert_eq!(handoff.keys.cipher(), cipher);
            install(&sock, &handoff.keys).unwrap();

            // Now the kernel decrypts and encrypts.
            let mut got = handoff.plaintext.clone();
            while got.len() < 7 {
                let n = sock.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed before the request");
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(&got, b"request", "{suite:?}");
            sock.write_all(b"response").unwrap();
            assert_eq!(&client.join().unwrap(), b"response", "{suite:?}");
            eprintln!("kTLS round trip ok: {suite:?}");
        }
    }
}
