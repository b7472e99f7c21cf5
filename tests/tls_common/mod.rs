//! What the TLS tests share: a test PKI made at test time (a CA, a `localhost` server
//! certificate, a client certificate with subject `C=NO, O=ringlog tests, CN=alice`; no key
//! material is committed), written as PEM files into a temporary directory, and a blocking
//! Kafka client over rustls.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kafka_protocol::protocol::Request;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::client::{decode_response, encode_frame, IO_TIMEOUT};

/// The client certificate's principal as Kafka's default principal builder names it.
pub const CLIENT_PRINCIPAL: &str = "User:CN=alice,O=ringlog tests,C=NO";

/// A CA, a server certificate for `localhost` and a client certificate, as PEM files.
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    pub fn new() -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ringlog test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        client_params.distinguished_name = rcgen::DistinguishedName::new();
        client_params
            .distinguished_name
            .push(DnType::CountryName, "NO");
        client_params
            .distinguished_name
            .push(DnType::OrganizationName, "ringlog tests");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "alice");
        let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();

        let pki = TestPki {
            dir: tempfile::tempdir().unwrap(),
        };
        for (name, text) in [
            ("ca.pem", ca.pem()),
            ("server.pem", server.pem()),
            ("server.key", server_key.serialize_pem()),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
        ] {
            std::fs::write(pki.path(name), text).unwrap();
        }
        pki
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file of the PKI: ca.pem, server.pem, server.key, client.pem, client.key.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// The broker's TLS flags with `client_auth`.
    pub fn options(&self, client_auth: &str) -> ringlog::broker::tls::TlsOptions {
        ringlog::broker::tls::TlsOptions {
            cert: Some(self.path("server.pem")),
            key: Some(self.path("server.key")),
            ca: Some(self.path("ca.pem")),
            client_auth: Some(client_auth.parse().unwrap()),
        }
    }

    /// A client configuration trusting the test CA, with the client certificate when
    /// `with_cert`, for `versions`.
    pub fn client_config(
        &self,
        with_cert: bool,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
        Arc::new(if with_cert {
            let chain = CertificateDer::pem_file_iter(self.path("client.pem"))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(self.path("client.key")).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        } else {
            builder.with_no_client_auth()
        })
    }
}

/// A blocking Kafka connection over TLS (rustls), every socket operation bounded by
/// [`IO_TIMEOUT`].
pub struct TlsClient {
    pub tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    next_correlation_id: i32,
}

impl TlsClient {
    /// Connects and completes the handshake (an error when the server refuses it).
    pub fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> io::Result<TlsClient> {
        let sock = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        sock.set_read_timeout(Some(IO_TIMEOUT))?;
        sock.set_write_timeout(Some(IO_TIMEOUT))?;
        sock.set_nodelay(true)?;
        let conn =
            rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap())
                .map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(TlsClient {
            tls,
            next_correlation_id: 1,
        })
    }

    pub fn send<R: Request>(&mut self, version: i16, req: &R) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let frame = encode_frame(version, id, req);
        self.tls.write_all(&frame).expect("send request");
        self.tls.flush().expect("flush request");
        id
    }

    pub fn read_frame(&mut self) -> io::Result<Vec<u8>> {
        let mut prefix = [0u8; 4];
        self.tls.read_exact(&mut prefix)?;
        let size = usize::try_from(i32::from_be_bytes(prefix))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative response size"))?;
        let mut body = vec![0u8; size];
        self.tls.read_exact(&mut body)?;
        Ok(body)
    }

    pub fn try_call<R: Request>(&mut self, version: i16, req: &R) -> io::Result<R::Response> {
        let id = self.send(version, req);
        let frame = self.read_frame()?;
        let (got, resp) = decode_response::<R>(version, &frame);
        assert_eq!(got, id, "api {} v{version}: correlation id", R::KEY);
        Ok(resp)
    }

    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> R::Response {
        self.try_call(version, req)
            .unwrap_or_else(|e| panic!("api {} v{version}: reading the response: {e}", R::KEY))
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls.conn.protocol_version()
    }
}
