//! Test PKI made at test time (no key material is committed): a CA, a server certificate for
//! `localhost` and a client certificate whose subject is `C=NO, O=ringlog tests, CN=alice`,
//! written as PEM files into a temporary directory, plus rustls client configurations.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{ClientAuth, TlsSettings};

/// The client certificate's subject in Kafka's principal form (RFC 2253, last RDN first).
pub const CLIENT_DN: &str = "CN=alice,O=ringlog tests,C=NO";

pub struct TestPki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
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
        let mut server_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
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

        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki {
            dir,
            ca_pem: ca.pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        };
        std::fs::write(pki.dir().join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(pki.dir().join("server.pem"), server.pem()).unwrap();
        std::fs::write(pki.dir().join("server.key"), server_key.serialize_pem()).unwrap();
        std::fs::write(pki.client_key_path(), &pki.client_key_pem).unwrap();
        pki
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn client_key_path(&self) -> PathBuf {
        self.dir().join("client.key")
    }

    pub fn settings(&self, client_auth: ClientAuth) -> TlsSettings {
        TlsSettings {
            cert: self.dir().join("server.pem"),
            key: self.dir().join("server.key"),
            ca: Some(self.dir().join("ca.pem")),
            client_auth,
        }
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        roots
    }

    /// The client certificate, DER.
    pub fn client_cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.client_cert_pem.as_bytes()).unwrap()
    }

    /// A client configuration trusting the test CA, with the client certificate when
    /// `with_cert`, restricted to `suites` (all of the ring provider's when empty) and
    /// `versions`.
    pub fn client_config(
        &self,
        with_cert: bool,
        suites: &[rustls::CipherSuite],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !suites.is_empty() {
            provider
                .cipher_suites
                .retain(|s| suites.contains(&s.suite()));
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(self.roots());
        let config = if with_cert {
            let key = PrivateKeyDer::from_pem_slice(self.client_key_pem.as_bytes()).unwrap();
            builder
                .with_client_auth_cert(vec![self.client_cert_der()], key)
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}
