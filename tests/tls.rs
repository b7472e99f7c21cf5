//! TLS listeners at the wire (issue #20), on both drivers, against an in-process two-shard broker
//! on loopback, with a test-only Kafka client over rustls (`tls_common`):
//! - SSL: the handshake at TLS 1.3 and 1.2, then Kafka over it: Metadata advertises the SSL
//!   listener, Produce, and Fetch of more than one chunk of the user-space path (every file byte
//!   read, encrypted and sent, counted as `copy` in `ringlog_transfer_bytes_total`), byte for
//!   byte what was produced; where the kernel has kTLS (scripts/ktls-qemu.sh runs this file on
//!   one) the same bytes must have gone by the zero-copy paths instead.
//! - Fetch over TLS with every transfer path the driver runs (`--transfer copy, mmap, sendfile,
//!   splice`, and on io_uring `uring-splice`, `uring-send-zc`): the same bytes back, sent by that
//!   path under kTLS (uring-send-zc by mmap: MSG_ZEROCOPY is refused on kTLS sockets), through
//!   user-space encryption (`copy`) without it.
//! - ringlog's own client (`ConnectOptions::tls`, what `ringlog bench consume --tls-ca` uses)
//!   produces and fetches over TLS on the same driver as the broker; a client that trusts
//!   another CA fails the handshake with a clear error.
//! - mTLS: with `--tls-client-auth required` a client without a certificate fails the
//!   handshake; with one it is `User:CN=alice,O=ringlog tests,C=NO`, seen through the authorizer
//!   (a super user may DescribeUserScramCredentials, ANONYMOUS may not); with `requested` a client
//!   without a certificate is `User:ANONYMOUS`.
//! - SASL_SSL: PLAIN and SCRAM-SHA-256 logins over TLS; a wrong password is refused within a
//!   second; a request before authentication closes the connection.
//! - Bounds and bad input: Kafka bytes to a TLS port get a TLS alert and a close (as Kafka 4.4);
//!   a record header announcing more than TLS allows gets an alert; a handshake that stalls (or
//!   never starts) is closed at the frame-read deadline.

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;
#[allow(dead_code)]
mod tls_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use client::*;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, DescribeUserScramCredentialsRequest, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::auth::credentials::offline;
use ringlog::broker::auth::scram::{self, ScramMechanism};
use ringlog::broker::auth::SecurityProtocol;
use ringlog::broker::Broker;
use ringlog::runtime::IoKind;
use tls_common::{TestPki, TlsClient, CLIENT_PRINCIPAL};

macro_rules! both_drivers {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $( #[test] fn $name() { super::$name(ringlog::runtime::IoKind::Uring) } )*
        }
        mod epoll {
            $( #[test] fn $name() { super::$name(ringlog::runtime::IoKind::Epoll) } )*
        }
    };
}

both_drivers!(
    ssl_carries_kafka_at_tls13_and_tls12,
    fetch_over_tls_by_every_transfer_path,
    ringlog_client_over_tls,
    mtls_principal_is_the_certificate_subject,
    sasl_ssl_logins_and_refusals,
    plaintext_bytes_to_a_tls_port_get_an_alert,
    oversized_record_gets_an_alert,
    stalled_handshake_is_closed_at_the_deadline,
);

const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// TLS record content type of an alert (RFC 8446 5.1).
const ALERT: u8 = 21;
/// The frame-read deadline of the stalled-handshake test's broker.
const FRAME_READ_TIMEOUT_MS: u64 = 400;
/// How long past the deadline the close may come: the reaper's period and scheduling slack.
const CLOSE_SLACK: Duration = Duration::from_millis(1_500);
/// A bad login must be refused within this (issue #20).
const BAD_LOGIN_MAX: Duration = Duration::from_secs(1);

/// A broker over `dir` with the TLS listeners `listen` (and a PLAINTEXT one), the PKI's
/// certificates and `client_auth`.
fn start_tls(
    dir: &std::path::Path,
    io: IoKind,
    pki: &TestPki,
    listen: &str,
    client_auth: &str,
    edit: impl FnOnce(&mut ringlog::broker::BrokerConfig),
) -> Broker {
    start_in(dir, io, |c| {
        c.apply(ringlog::broker::config::ConfigOverrides {
            listen: vec![format!("{listen},PLAINTEXT://127.0.0.1:0")],
            ..Default::default()
        })
        .unwrap();
        c.tls = pki.options(client_auth);
        edit(c);
    })
}

fn ssl_carries_kafka_at_tls13_and_tls12(io: IoKind) {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let broker = start_tls(dir.path(), io, &pki, "SSL://127.0.0.1:0", "none", |c| {
        c.metrics = Some("127.0.0.1:0".parse().unwrap());
    });
    let ssl = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
    // Records of 1 KiB in a batch of ~700 KiB: the Fetch answer's file range is read and
    // encrypted in more than one chunk (transfer::TLS_CHUNK_BYTES).
    let value = vec![b'x'; 1024];
    let values: Vec<&[u8]> = (0..700).map(|_| &value[..]).collect();
    let records = batch(1_700_000_000_000, &values);
    assert!(records.len() > ringlog::broker::transfer::TLS_CHUNK_BYTES * 2);
    for (i, version) in [&rustls::version::TLS13, &rustls::version::TLS12]
        .into_iter()
        .enumerate()
    {
        let mut c = TlsClient::connect(ssl, pki.client_config(false, &[version])).unwrap();
        assert_eq!(c.version(), Some(version.version));
        let r = c.call(3, &api_versions_request(3));
        assert_eq!(r.error_code, 0);
        let topic = format!("tls-{i}");
        let v = *versions(ApiKey::CreateTopics).end();
        let created = c.call(v, &create_topics_request(&[(&topic, 1, 1)]));
        assert_eq!(created.topics[0].error_code, 0);
        let id = created.topics[0].topic_id;
        // Metadata names the SSL listener's address, not the PLAINTEXT one.
        let m = c.call(12, &metadata_request(12, Some(&[&topic]), false));
        assert_eq!(m.brokers.len(), 1);
        assert_eq!(m.brokers[0].port, i32::from(ssl.port()));
        // Produce, twice, then Fetch everything back.
        let v = *versions(ApiKey::Produce).end();
        let mut bases = Vec::new();
        for _ in 0..2 {
            let resp = c.call(v, &produce_request(&topic, -1, &[(0, records.clone())]));
            let p = &resp.responses[0].partition_responses[0];
            assert_eq!(p.error_code, 0, "{p:?}");
            bases.push(p.base_offset);
        }
        let mut want = stamped(&records, bases[0]);
        want.extend(stamped(&records, bases[1]));
        let v = *versions(ApiKey::Fetch).end();
        let at = [FetchAt {
            topic: &topic,
            topic_id: id,
            partition: 0,
            offset: 0,
        }];
        let mut got = Vec::new();
        while got.len() < want.len() {
            let offset = if got.is_empty() { 0 } else { bases[1] };
            let at = [FetchAt { offset, ..at[0] }];
            let resp = c.call(v, &fetch_request(v, &at, 0, 0));
            let p = &resp.responses[0].partitions[0];
            assert_eq!(p.error_code, 0);
            let bytes = p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default();
            assert!(!bytes.is_empty(), "fetch at {offset} returned nothing");
            got.extend(bytes);
        }
        assert_eq!(got.len(), want.len());
        assert!(
            got == want,
            "fetched bytes differ from the produced batches"
        );
    }
    // Which path the Fetch bytes took: with kTLS the zero-copy ones (auto: sendfile for these
    // slices), in user space every byte read and encrypted (counted as copy).
    let fetched: u64 = 2 * 2 * records.len() as u64; // two rounds, two batches each
    let by_path = transfer_bytes(broker.metrics_addr().unwrap());
    let copied = by_path.get("copy").copied().unwrap_or(0);
    let zero_copy: u64 = by_path
        .iter()
        .filter(|(p, _)| p.as_str() != "copy")
        .map(|(_, n)| n)
        .sum();
    match ringlog::broker::tls::ktls::available() {
        ringlog::broker::tls::ktls::KtlsSupport::Available { .. } => {
            eprintln!("kTLS available: Fetch bytes by path {by_path:?}");
            assert!(zero_copy >= fetched && copied == 0, "{by_path:?}");
        }
        ringlog::broker::tls::ktls::KtlsSupport::Unavailable { reason } => {
            eprintln!("kTLS unavailable ({reason}): Fetch bytes by path {by_path:?}");
            assert!(copied >= fetched && zero_copy == 0, "{by_path:?}");
        }
    }
    // The PLAINTEXT listener is not TLS.
    let mut plain = Client::connect(broker.listener_addr(SecurityProtocol::Plaintext).unwrap());
    assert_eq!(plain.call(3, &api_versions_request(3)).error_code, 0);
    stop(broker);
}

/// DescribeUserScramCredentials' top-level code: CLUSTER DESCRIBE decides.
fn describe_scram(c: &mut TlsClient) -> i16 {
    c.call(0, &DescribeUserScramCredentialsRequest::default())
        .error_code
}

fn mtls_principal_is_the_certificate_subject(io: IoKind) {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let super_user = |c: &mut ringlog::broker::BrokerConfig| {
        c.super_users = vec![CLIENT_PRINCIPAL.to_string()];
    };
    let broker = start_tls(
        dir.path(),
        io,
        &pki,
        "SSL://127.0.0.1:0",
        "required",
        super_user,
    );
    let ssl = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
    let v13 = &[&rustls::version::TLS13][..];
    // Required: no certificate, no connection (TLS 1.3 reports it at the first read).
    let refused = TlsClient::connect(ssl, pki.client_config(false, v13)).and_then(|mut c| {
        c.send(3, &api_versions_request(3));
        c.read_frame()
    });
    assert!(
        refused.is_err(),
        "a client without a certificate was served"
    );
    // With one: the subject is the principal, a super user here.
    let mut c = TlsClient::connect(ssl, pki.client_config(true, v13)).unwrap();
    assert_eq!(describe_scram(&mut c), 0);
    stop(broker);

    // Requested: a client without a certificate is ANONYMOUS (refused CLUSTER DESCRIBE: a
    // broker with a TLS listener checks every caller); with one, alice.
    let broker = start_tls(
        dir.path(),
        io,
        &pki,
        "SSL://127.0.0.1:0",
        "requested",
        super_user,
    );
    let ssl = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
    let mut anonymous = TlsClient::connect(ssl, pki.client_config(false, v13)).unwrap();
    assert_eq!(describe_scram(&mut anonymous), CLUSTER_AUTHORIZATION_FAILED);
    let mut alice =
        TlsClient::connect(ssl, pki.client_config(true, &[&rustls::version::TLS12])).unwrap();
    assert_eq!(describe_scram(&mut alice), 0);
    stop(broker);
}

fn handshake(c: &mut TlsClient, mechanism: &str) -> i16 {
    c.call(
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into())),
    )
    .error_code
}

fn authenticate(c: &mut TlsClient, token: &[u8]) -> (i16, Vec<u8>) {
    let r = c.call(
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
    );
    (r.error_code, r.auth_bytes.to_vec())
}

fn scram_login(c: &mut TlsClient, user: &str, password: &str) -> i16 {
    let m = ScramMechanism::Sha256;
    assert_eq!(handshake(c, m.name()), 0);
    let bare = format!("n={},r=tlstestnonce", scram::encode_saslname(user));
    let (code, server_first) = authenticate(c, format!("n,,{bare}").as_bytes());
    if code != 0 {
        return code;
    }
    let server_first = String::from_utf8(server_first).unwrap();
    let (final_msg, _) = scram::client_final(m, password.as_bytes(), &bare, &server_first).unwrap();
    authenticate(c, final_msg.as_bytes()).0
}

fn sasl_ssl_logins_and_refusals(io: IoKind) {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    offline::set(dir.path(), "alice", "SCRAM-SHA-256", 4096, "alice-secret").unwrap();
    let broker = start_tls(
        dir.path(),
        io,
        &pki,
        "SASL_SSL://127.0.0.1:0",
        "none",
        |_| {},
    );
    let addr: SocketAddr = broker.listener_addr(SecurityProtocol::SaslSsl).unwrap();
    let config = pki.client_config(false, &[&rustls::version::TLS13]);

    // SCRAM-SHA-256, then Kafka as alice.
    let mut c = TlsClient::connect(addr, config.clone()).unwrap();
    assert_eq!(c.call(3, &api_versions_request(3)).error_code, 0);
    assert_eq!(scram_login(&mut c, "alice", "alice-secret"), 0);
    let m = c.call(12, &metadata_request(12, None, false));
    assert_eq!(m.brokers[0].port, i32::from(addr.port()));

    // PLAIN (checked against the same salted credential).
    let mut c = TlsClient::connect(addr, config.clone()).unwrap();
    assert_eq!(handshake(&mut c, "PLAIN"), 0);
    assert_eq!(authenticate(&mut c, b"\0alice\0alice-secret").0, 0);
    let m = c.call(12, &metadata_request(12, None, false));
    assert_eq!(m.brokers.len(), 1);

    // Wrong passwords, both mechanisms: refused within a second.
    for plain in [false, true] {
        let mut c = TlsClient::connect(addr, config.clone()).unwrap();
        let started = Instant::now();
        let code = if plain {
            assert_eq!(handshake(&mut c, "PLAIN"), 0);
            authenticate(&mut c, b"\0alice\0wrong").0
        } else {
            scram_login(&mut c, "alice", "wrong")
        };
        assert_eq!(code, SASL_AUTHENTICATION_FAILED, "plain={plain}");
        assert!(started.elapsed() < BAD_LOGIN_MAX, "{:?}", started.elapsed());
        // ... and the connection closes.
        assert!(c.read_frame().is_err(), "served after a failed login");
    }

    // Anything but the SASL exchange before authentication closes the connection.
    let mut c = TlsClient::connect(addr, config).unwrap();
    c.send(12, &metadata_request(12, None, false));
    assert!(c.read_frame().is_err(), "Metadata answered before login");
    stop(broker);
}

/// Reads until EOF or reset (bounded by the socket's timeout); the bytes read.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                return got
            }
            Err(e) => panic!("expected the connection closed, got {e} after {got:?}"),
        }
    }
}

fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn plaintext_bytes_to_a_tls_port_get_an_alert(io: IoKind) {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let broker = start_tls(
        dir.path(),
        io,
        &pki,
        "SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "none",
        |_| {},
    );
    for protocol in [SecurityProtocol::Ssl, SecurityProtocol::SaslSsl] {
        let addr = broker.listener_addr(protocol).unwrap();
        let mut s = raw(addr);
        s.write_all(&encode_frame(3, 1, &ApiVersionsRequest::default()))
            .unwrap();
        let got = read_to_close(&mut s);
        // One alert record: type 21, a version, length 2, level fatal (2), a description.
        assert!(got.len() >= 7, "{protocol}: {got:?}");
        assert_eq!(got[0], ALERT, "{protocol}: {got:?}");
        assert_eq!(&got[3..5], &[0, 2], "{protocol}: {got:?}");
        assert_eq!(got[5], 2, "{protocol}: a fatal alert: {got:?}");
    }
    // The broker serves on.
    let ssl = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
    let mut c =
        TlsClient::connect(ssl, pki.client_config(false, &[&rustls::version::TLS13])).unwrap();
    assert_eq!(c.call(3, &api_versions_request(3)).error_code, 0);
    stop(broker);
}

fn oversized_record_gets_an_alert(io: IoKind) {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let broker = start_tls(dir.path(), io, &pki, "SSL://127.0.0.1:0", "none", |_| {});
    let addr = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
    // A handshake record announcing 65535 bytes: over TLS's 2^14 + 2048 ciphertext bound.
    let mut s = raw(addr);
    s.write_all(&[22, 3, 1, 0xff, 0xff]).unwrap();
    s.write_all(&[0u8; 4096]).unwrap();
    let got = read_to_close(&mut s);
    assert!(got.len() >= 7 && got[0] == ALERT, "{got:?}");
    stop(broker);
}

fn stalled_handshake_is_closed_at_the_deadline(io: IoKind) {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let broker = start_tls(dir.path(), io, &pki, "SSL://127.0.0.1:0", "none", |c| {
        c.frame_read_timeout_ms = FRAME_READ_TIMEOUT_MS;
    });
    let addr = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
    let deadline = Duration::from_millis(FRAME_READ_TIMEOUT_MS);
    // Half a ClientHello record header, then nothing; and a client that sends nothing.
    for first in [&[22u8, 3, 1][..], &[][..]] {
        let started = Instant::now();
        let mut s = raw(addr);
        s.write_all(first).unwrap();
        let got = read_to_close(&mut s);
        let took = started.elapsed();
        assert!(got.is_empty(), "{got:?}");
        assert!(
            took >= deadline,
            "closed after {took:?}, before the deadline"
        );
        assert!(
            took < deadline + CLOSE_SLACK,
            "closed after {took:?}, deadline {deadline:?}"
        );
    }
    // A connection whose handshake completes is not cut at the frame-read deadline.
    let mut c =
        TlsClient::connect(addr, pki.client_config(false, &[&rustls::version::TLS13])).unwrap();
    std::thread::sleep(deadline * 2);
    assert_eq!(c.call(3, &api_versions_request(3)).error_code, 0);
    stop(broker);
}

fn ringlog_client_over_tls(io: IoKind) {
    use ringlog::client::{tls_client_config, ConnectOptions, Connection};
    let pki = TestPki::new();
    let other = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let broker = start_tls(dir.path(), io, &pki, "SSL://127.0.0.1:0", "none", |_| {});
    let addr = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
    let options = |ca: &std::path::Path, name: Option<&str>| ConnectOptions {
        tls: Some((tls_client_config(ca).unwrap(), name.map(str::to_string))),
        request_timeout: IO_TIMEOUT,
        ..ConnectOptions::default()
    };
    let value = vec![b'y'; 4096];
    let values: Vec<&[u8]> = (0..100).map(|_| &value[..]).collect();
    let records = batch(1_700_000_000_000, &values);
    let want = stamped(&records, 0);
    let (got, refused) =
        ringlog::runtime::block_on(&ringlog::runtime::RuntimeConfig::single(io), async {
            // By IP address (the certificate names 127.0.0.1) and by name.
            for name in [None, Some("localhost")] {
                let mut c = Connection::connect_with(addr, options(&pki.path("ca.pem"), name))
                    .await
                    .unwrap();
                c.metadata(&[], false).await.unwrap();
            }
            let mut c = Connection::connect_with(addr, options(&pki.path("ca.pem"), None))
                .await
                .unwrap();
            c.create_topics(&[("client-tls", 1)]).await.unwrap();
            let base = c
                .produce("client-tls", 0, Bytes::from(records.clone()), -1)
                .await
                .unwrap();
            assert_eq!(base, 0);
            let fetched = c
                .fetch("client-tls", 0, 0, 1 << 20, Duration::from_millis(100))
                .await
                .unwrap();
            let refused = Connection::connect_with(addr, options(&other.path("ca.pem"), None))
                .await
                .err()
                .map(|e| e.to_string());
            (fetched.records.to_vec(), refused)
        })
        .unwrap();
    assert!(
        got == want,
        "fetched {} bytes, want {}",
        got.len(),
        want.len()
    );
    let refused = refused.expect("a client trusting another CA was served");
    assert!(refused.contains("tls"), "{refused}");
    stop(broker);
}

/// `ringlog_transfer_bytes_total` summed over shards, per path, from the metrics endpoint.
fn transfer_bytes(addr: SocketAddr) -> std::collections::BTreeMap<String, u64> {
    let mut s = raw(addr);
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let text = String::from_utf8(read_to_close(&mut s)).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("ringlog_transfer_bytes_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").unwrap();
        let path = labels
            .split(',')
            .find_map(|l| l.strip_prefix("path=\""))
            .map(|p| p.trim_end_matches('"').to_string())
            .unwrap();
        *out.entry(path).or_insert(0) += value.trim().parse::<u64>().unwrap();
    }
    assert!(!out.is_empty(), "no ringlog_transfer_bytes_total in {text}");
    out
}

fn fetch_over_tls_by_every_transfer_path(io: IoKind) {
    use ringlog::broker::tls::ktls::{available, KtlsSupport};
    use ringlog::transfer::TransferPath;
    let pki = TestPki::new();
    let ktls = matches!(available(), KtlsSupport::Available { .. });
    let value = vec![b'z'; 1024];
    let values: Vec<&[u8]> = (0..300).map(|_| &value[..]).collect();
    let records = batch(1_700_000_000_000, &values);
    let want = stamped(&records, 0);
    for path in TransferPath::ALL.into_iter().filter(|p| p.runs_on(io)) {
        let dir = tempfile::tempdir().unwrap();
        let broker = start_tls(dir.path(), io, &pki, "SSL://127.0.0.1:0", "none", |c| {
            c.transfer = path;
            c.metrics = Some("127.0.0.1:0".parse().unwrap());
        });
        let ssl = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
        let mut c =
            TlsClient::connect(ssl, pki.client_config(false, &[&rustls::version::TLS13])).unwrap();
        let v = *versions(ApiKey::CreateTopics).end();
        let created = c.call(v, &create_topics_request(&[("paths", 1, 1)]));
        assert_eq!(created.topics[0].error_code, 0);
        let id = created.topics[0].topic_id;
        let v = *versions(ApiKey::Produce).end();
        let resp = c.call(v, &produce_request("paths", -1, &[(0, records.clone())]));
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
        let v = *versions(ApiKey::Fetch).end();
        let at = [FetchAt {
            topic: "paths",
            topic_id: id,
            partition: 0,
            offset: 0,
        }];
        let resp = c.call(v, &fetch_request(v, &at, 0, 0));
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "{path}");
        let got = p.records.as_ref().map(|r| r.to_vec()).unwrap_or_default();
        assert!(
            got == want,
            "{path}: fetched {} bytes, want {}",
            got.len(),
            want.len()
        );
        let by_path = transfer_bytes(broker.metrics_addr().unwrap());
        // Under kTLS each path as configured, except uring-send-zc: MSG_ZEROCOPY is refused on
        // a kTLS socket, so those connections send from the mapping (mmap).
        let expected = match (ktls, path) {
            (false, _) => "copy".to_string(),
            (true, TransferPath::UringSendZc) => "mmap".to_string(),
            (true, p) => p.to_string(),
        };
        let sent = by_path.get(&expected).copied().unwrap_or(0);
        let total: u64 = by_path.values().sum();
        assert!(
            sent >= want.len() as u64 && sent == total,
            "{path} (kTLS {ktls}): by path {by_path:?}"
        );
        eprintln!("{path} over TLS (kTLS {ktls}): by path {by_path:?}");
        stop(broker);
    }
}
