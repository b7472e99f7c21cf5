//! TLS for SSL and SASL_SSL listeners: the server configuration (rustls, TLS 1.2 and 1.3),
//! a user-space record layer over byte buffers ([`session::TlsSession`]), the mTLS principal
//! ([`principal`]) and the hand-off of session keys to kernel TLS ([`ktls`]) so that the Fetch
//! transfer paths (sendfile, splice) stay zero-copy where the kernel has kTLS.
//!
//! ```text
//!  start:  TlsSettings (--tls-cert/--tls-key/--tls-ca/--tls-client-auth) ── load() ──> ServerTls
//!          ktls::available() once: Available { ciphers } | Unavailable { reason }
//!  accept: ServerTls::session() ──> TlsSession: handshake in user space (byte buffers)
//!          ├─ kTLS available for the negotiated cipher: into_ktls() ──> ktls::install(socket)
//!          │     then plain send/sendfile/splice on the socket; the kernel makes the records
//!          └─ otherwise: every byte goes through TlsSession (read/write plaintext)
//! ```
//!
//! Cipher suites are only those kTLS can take (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, in
//! that order, TLS 1.3 before 1.2) and the server's order wins, so a session can always be
//! handed to a kernel that has the cipher.
//!
//! # Invariants
//! - A [`ServerTls`] exists only for settings that loaded completely: the certificate chain and
//!   key parse and match, a CA is given whenever client certificates are asked for.
//! - Secret extraction is enabled on every session (kTLS needs it); the keys leave rustls only
//!   through [`session::TlsSession::into_ktls`], into structures that zero themselves.
//! - Nothing here panics on peer input; every buffer is bounded ([`SEND_BUFFER_BYTES_MAX`]).

pub mod ktls;
pub mod principal;
pub mod session;
pub mod transport;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{CipherSuite, RootCertStore, ServerConfig, SupportedCipherSuite};

use crate::runtime::ktls::KtlsCipher;

pub use session::TlsSession;

/// Largest PEM file read (certificate chain, key or CA bundle): 1 MiB holds hundreds of
/// certificates; anything larger is a wrong path, not a certificate.
pub const PEM_FILE_BYTES_MAX: u64 = 1 << 20;
/// Plaintext and records a session buffers for sending before the caller must flush
/// (rustls' buffer limit): 256 KiB, a few full 16 KiB records per socket write.
pub const SEND_BUFFER_BYTES_MAX: usize = 256 << 10;

/// Whether clients must present a certificate (Kafka's `ssl.client.auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for; the principal is `User:ANONYMOUS`.
    #[default]
    None,
    /// Asked for; a client without one connects as `User:ANONYMOUS`.
    Requested,
    /// Required; a client without a valid one fails the handshake.
    Required,
}

impl ClientAuth {
    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Requested => "requested",
            ClientAuth::Required => "required",
        }
    }
}

impl std::str::FromStr for ClientAuth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            ClientAuth::None,
            ClientAuth::Requested,
            ClientAuth::Required,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| format!("tls-client-auth {s:?}: expected none, requested or required"))
    }
}

/// The TLS settings of a broker (`--tls-cert FILE --tls-key FILE [--tls-ca FILE]
/// [--tls-client-auth none|requested|required]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file with the server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM file with the CA certificates client certificates are checked against.
    pub ca: Option<PathBuf>,
    /// Whether clients must present a certificate.
    pub client_auth: ClientAuth,
}

/// What went wrong loading TLS settings or on a TLS session. Always says which file or step.
#[derive(Debug)]
pub enum TlsError {
    /// A setting is missing or contradicts another.
    Settings(String),
    /// A file could not be read.
    Read {
        /// Which file (`tls-cert`, `tls-key`, `tls-ca`).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not usable PEM of the kind expected.
    Pem {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// rustls refused the configuration (for example the key does not match the certificate).
    Config(String),
    /// The peer broke the protocol or the handshake failed; an alert may be waiting to be sent
    /// ([`TlsSession::wants_write`]).
    Protocol(rustls::Error),
    /// The session cannot be handed to the kernel (why).
    Handoff(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Settings(s) => write!(f, "tls settings: {s}"),
            TlsError::Read { what, path, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            TlsError::Pem { what, path, detail } => {
                write!(f, "{what} {}: {detail}", path.display())
            }
            TlsError::Config(s) => write!(f, "tls configuration: {s}"),
            TlsError::Protocol(e) => write!(f, "tls: {e}"),
            TlsError::Handoff(s) => write!(f, "kernel tls hand-off: {s}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The TLS flags as given (file and command line merged, flags last), before they are
/// checked together ([`TlsOptions::settings`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `tls-cert`.
    pub cert: Option<PathBuf>,
    /// `tls-key`.
    pub key: Option<PathBuf>,
    /// `tls-ca`.
    pub ca: Option<PathBuf>,
    /// `tls-client-auth`.
    pub client_auth: Option<ClientAuth>,
}

impl TlsOptions {
    /// The settings, `None` when no TLS flag is given (see [`TlsSettings::from_parts`]).
    pub fn settings(&self) -> Result<Option<TlsSettings>, String> {
        TlsSettings::from_parts(
            self.cert.clone(),
            self.key.clone(),
            self.ca.clone(),
            self.client_auth,
        )
    }
}

impl TlsSettings {
    /// The settings the flags give, or `None` when no TLS flag is given. Errors when some but
    /// not all required ones are, or client authentication is asked for without a CA.
    pub fn from_parts(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        ca: Option<PathBuf>,
        client_auth: Option<ClientAuth>,
    ) -> Result<Option<TlsSettings>, String> {
        let (cert, key) = match (cert, key) {
            (Some(c), Some(k)) => (c, k),
            (None, None) => {
                if ca.is_some() || client_auth.is_some() {
                    return Err("tls-ca and tls-client-auth need tls-cert and tls-key".into());
                }
                return Ok(None);
            }
            (Some(_), None) => return Err("tls-cert is given without tls-key".into()),
            (None, Some(_)) => return Err("tls-key is given without tls-cert".into()),
        };
        let client_auth = client_auth.unwrap_or_default();
        if client_auth != ClientAuth::None && ca.is_none() {
            return Err(format!(
                "tls-client-auth {} needs tls-ca (the CA certificates client certificates are \
                 checked against)",
                client_auth.name()
            ));
        }
        Ok(Some(TlsSettings {
            cert,
            key,
            ca,
            client_auth,
        }))
    }

    /// Read the files and build the server configuration.
    pub fn load(&self) -> Result<ServerTls, TlsError> {
        let chain = read_certs("tls-cert", &self.cert)?;
        let key = read_key(&self.key)?;
        let provider = Arc::new(ktls_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match (&self.ca, self.client_auth) {
            (_, ClientAuth::None) => builder.with_no_client_auth(),
            (None, auth) => {
                return Err(TlsError::Settings(format!(
                    "tls-client-auth {} needs tls-ca",
                    auth.name()
                )))
            }
            (Some(ca), auth) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs("tls-ca", ca)? {
                    roots.add(cert).map_err(|e| TlsError::Pem {
                        what: "tls-ca",
                        path: ca.clone(),
                        detail: format!("not a usable CA certificate: {e}"),
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if auth == ClientAuth::Requested {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsError::Config(format!("tls-ca {}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            TlsError::Config(format!(
                "tls-cert {} with tls-key {}: {e}",
                self.cert.display(),
                self.key.display()
            ))
        })?;
        // kTLS needs the session keys after the handshake.
        config.enable_secret_extraction = true;
        // Our suite order (kTLS-friendly, most widely supported first) wins over the client's.
        config.ignore_client_order = true;
        Ok(ServerTls {
            config: Arc::new(config),
            settings: self.clone(),
        })
    }
}

/// A loaded server configuration, shared by every shard's TLS listeners.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    settings: TlsSettings,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A new server session for one accepted connection.
    pub fn session(&self) -> Result<TlsSession, TlsError> {
        TlsSession::new(self.config.clone())
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// The settings it was loaded from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }
}

/// The kTLS cipher of a rustls cipher suite (`None`: kTLS cannot take it).
pub fn ktls_cipher_of(suite: CipherSuite) -> Option<KtlsCipher> {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Some(KtlsCipher::AesGcm128),
        CipherSuite::TLS13_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(KtlsCipher::AesGcm256),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            Some(KtlsCipher::Chacha20Poly1305)
        }
        _ => None,
    }
}

/// The ring provider with only the suites kTLS can take: TLS 1.3 first, then by
/// [`KtlsCipher::ALL`]'s order.
pub fn ktls_provider() -> CryptoProvider {
    let base = rustls::crypto::ring::default_provider();
    let rank = |s: &SupportedCipherSuite| {
        let cipher =
            ktls_cipher_of(s.suite()).and_then(|c| KtlsCipher::ALL.iter().position(|a| *a == c));
        let tls12 = matches!(s, SupportedCipherSuite::Tls12(_));
        (tls12, cipher)
    };
    let mut suites: Vec<SupportedCipherSuite> = base
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| ktls_cipher_of(s.suite()).is_some())
        .collect();
    suites.sort_by_key(rank);
    CryptoProvider {
        cipher_suites: suites,
        ..base
    }
}

/// Reads a PEM file of bounded size.
fn read_pem_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_err = |source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > PEM_FILE_BYTES_MAX {
        return Err(TlsError::Pem {
            what,
            path: path.to_path_buf(),
            detail: format!("{len} bytes, more than the {PEM_FILE_BYTES_MAX} a PEM file may have"),
        });
    }
    std::fs::read(path).map_err(read_err)
}

/// Every certificate of a PEM file (at least one).
fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read_pem_file(what, path)?;
    let bad = |detail: String| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE section".into()));
    }
    Ok(certs)
}

/// The first private key of a PEM file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read_pem_file("tls-key", path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| TlsError::Pem {
        what: "tls-key",
        path: path.to_path_buf(),
        detail: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY section (PKCS#8, RSA or EC)".into()
            }
            e => format!("bad PEM: {e}"),
        },
    })
}

#[cfg(test)]
pub(crate) mod test_certs;

#[cfg(test)]
mod tests {
    use super::test_certs::TestPki;
    use super::*;

    #[test]
    fn client_auth_parses_kafka_names() {
        assert_eq!("none".parse::<ClientAuth>().unwrap(), ClientAuth::None);
        assert_eq!(
            "Requested".parse::<ClientAuth>().unwrap(),
            ClientAuth::Requested
        );
        assert_eq!(
            "required".parse::<ClientAuth>().unwrap(),
            ClientAuth::Required
        );
        assert!("yes"
            .parse::<ClientAuth>()
            .unwrap_err()
            .contains("expected none"));
    }

    #[test]
    fn from_parts_checks_combinations() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(TlsSettings::from_parts(None, None, None, None), Ok(None));
        assert!(TlsSettings::from_parts(p("c"), None, None, None)
            .unwrap_err()
            .contains("without tls-key"));
        assert!(TlsSettings::from_parts(None, p("k"), None, None)
            .unwrap_err()
            .contains("without tls-cert"));
        assert!(TlsSettings::from_parts(None, None, p("ca"), None)
            .unwrap_err()
            .contains("need tls-cert"));
        let e =
            TlsSettings::from_parts(p("c"), p("k"), None, Some(ClientAuth::Required)).unwrap_err();
        assert!(e.contains("needs tls-ca"), "{e}");
        let s = TlsSettings::from_parts(p("c"), p("k"), p("ca"), Some(ClientAuth::Requested))
            .unwrap()
            .unwrap();
        assert_eq!(s.client_auth, ClientAuth::Requested);
        let s = TlsSettings::from_parts(p("c"), p("k"), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(s.client_auth, ClientAuth::None);
    }

    #[test]
    fn load_accepts_good_files_and_every_client_auth() {
        let pki = TestPki::new();
        for auth in [
            ClientAuth::None,
            ClientAuth::Requested,
            ClientAuth::Required,
        ] {
            let tls = pki.settings(auth).load().unwrap();
            assert!(tls.config().enable_secret_extraction);
        }
    }

    #[test]
    fn load_errors_name_the_file_and_the_problem() {
        let pki = TestPki::new();
        let dir = pki.dir();
        let mut s = pki.settings(ClientAuth::None);
        s.cert = dir.join("missing.pem");
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("tls-cert") && e.contains("missing.pem"), "{e}");

        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "hello\n").unwrap();
        let mut s = pki.settings(ClientAuth::None);
        s.cert = junk.clone();
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("no CERTIFICATE section"), "{e}");
        let mut s = pki.settings(ClientAuth::None);
        s.key = junk.clone();
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("tls-key") && e.contains("no PRIVATE KEY"), "{e}");

        let broken = dir.join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let mut s = pki.settings(ClientAuth::None);
        s.cert = broken;
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("bad PEM"), "{e}");

        // The client's key with the server's certificate.
        let mut s = pki.settings(ClientAuth::None);
        s.key = pki.client_key_path();
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("tls-cert") && e.contains("tls-key"), "{e}");
        assert!(e.to_lowercase().contains("key"), "{e}");

        let mut s = pki.settings(ClientAuth::Required);
        s.ca = Some(junk);
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("tls-ca"), "{e}");

        let mut s = pki.settings(ClientAuth::Required);
        s.ca = None;
        assert!(s.load().unwrap_err().to_string().contains("needs tls-ca"));
    }

    #[test]
    fn oversized_pem_is_refused_before_reading() {
        let pki = TestPki::new();
        let big = pki.dir().join("big.pem");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(PEM_FILE_BYTES_MAX + 1).unwrap();
        let mut s = pki.settings(ClientAuth::None);
        s.cert = big;
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
        // Exactly at the bound is read (and then fails as PEM, not as too large).
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&s.cert)
            .unwrap();
        f.set_len(PEM_FILE_BYTES_MAX).unwrap();
        let e = s.load().unwrap_err().to_string();
        assert!(!e.contains("more than"), "{e}");
    }

    #[test]
    fn provider_offers_only_ktls_suites_tls13_and_aes128_first() {
        let p = ktls_provider();
        assert!(!p.cipher_suites.is_empty());
        for s in &p.cipher_suites {
            assert!(ktls_cipher_of(s.suite()).is_some(), "{:?}", s.suite());
        }
        assert_eq!(
            p.cipher_suites[0].suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        let first12 = p
            .cipher_suites
            .iter()
            .position(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .unwrap();
        assert!(p.cipher_suites[..first12]
            .iter()
            .all(|s| matches!(s, SupportedCipherSuite::Tls13(_))));
        assert!(p.cipher_suites[first12..]
            .iter()
            .all(|s| matches!(s, SupportedCipherSuite::Tls12(_))));
    }
}
