//! TLS (issue #20) through librdkafka (the `rdkafka` crate, built with OpenSSL), on both
//! drivers, against an in-process broker with SSL, SASL_SSL and PLAINTEXT listeners on free
//! loopback ports and certificates made by the test (`tls_common`), `--tls-client-auth
//! requested`:
//! - SSL with `ssl.ca.location` (server verified), and mTLS with `ssl.certificate.location` /
//!   `ssl.key.location`: produce, then consume the records back;
//! - SASL_SSL with PLAIN and SCRAM-SHA-512: the same; a wrong password fails the metadata
//!   request;
//! - a client whose CA does not know the broker's certificate cannot fetch metadata;
//! - the mTLS principal (the certificate's subject) is what the ACLs decide on: without a grant
//!   it gets TOPIC_AUTHORIZATION_FAILED for a topic, with one it reads it.
//!
//! Loopback only; every wait is bounded.

#[macro_use]
mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;
#[allow(dead_code)]
mod tls_common;

use std::time::{Duration, Instant};

use client::{create_topics_request, grant_all, Client};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use ringlog::broker::auth::credentials::offline;
use ringlog::broker::auth::SecurityProtocol;
use ringlog::runtime::IoKind;
use support::start_broker;
use tls_common::TestPki;

both_drivers!(librdkafka_ssl_mtls_and_sasl_ssl);

const CORES: usize = 2;
const RECORDS: usize = 50;
const WAIT: Duration = Duration::from_secs(30);

/// Produces `RECORDS` records to partition 0 of `topic` and reads them back from the start;
/// `Err` says what went wrong.
fn round_trip(config: &ClientConfig, topic: &str, tag: &str) -> Result<(), String> {
    let p: BaseProducer = config
        .clone()
        .set("acks", "all")
        .create()
        .map_err(|e| e.to_string())?;
    for i in 0..RECORDS {
        let value = format!("{tag}-{i}");
        p.send(BaseRecord::<(), _>::to(topic).payload(&value).partition(0))
            .map_err(|(e, _)| e.to_string())?;
    }
    p.flush(WAIT).map_err(|e| format!("flush: {e}"))?;
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", "tls-rdkafka-assign")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < RECORDS {
        if Instant::now() > deadline {
            return Err(format!("read back {} of {RECORDS}", got.len()));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string())
            }
            Some(Err(e)) => return Err(format!("consumer: {e}")),
            None => {}
        }
    }
    let want: Vec<String> = (0..RECORDS).map(|i| format!("{tag}-{i}")).collect();
    (got == want)
        .then_some(())
        .ok_or_else(|| format!("read back {got:?}"))
}

fn librdkafka_ssl_mtls_and_sasl_ssl(io: IoKind) {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    offline::set(dir.path(), "bob", "SCRAM-SHA-512", 4096, "bob-secret").expect("offline");
    let broker = start_broker(io, dir.path(), CORES, |c| {
        c.apply(ringlog::broker::config::ConfigOverrides {
            listen: vec!["SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0".into()],
            ..Default::default()
        })
        .expect("listeners");
        c.tls = pki.options("requested");
        // The test's admin connection: PLAINTEXT, so ANONYMOUS (and so are SSL clients
        // without a certificate).
        c.super_users = vec!["User:ANONYMOUS".to_string()];
    });
    let ssl = broker.listener_addr(SecurityProtocol::Ssl).unwrap();
    let sasl_ssl = broker.listener_addr(SecurityProtocol::SaslSsl).unwrap();
    let mut admin = Client::connect(broker.listener_addr(SecurityProtocol::Plaintext).unwrap());
    let topics = ["rdk-ssl", "rdk-mtls", "rdk-sasl-plain", "rdk-sasl-scram"];
    let specs: Vec<(&str, i32, i16)> = topics.iter().map(|t| (*t, 1, 1)).collect();
    let created = admin.call(5, &create_topics_request(&specs));
    assert!(created.topics.iter().all(|t| t.error_code == 0));
    grant_all(
        &mut admin,
        "User:bob",
        &["rdk-sasl-plain", "rdk-sasl-scram"],
    );

    let base = |addr: std::net::SocketAddr, protocol: &str| {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", addr.to_string())
            .set("security.protocol", protocol)
            .set("ssl.ca.location", pki.path("ca.pem").display().to_string())
            .set("socket.timeout.ms", "10000")
            .set("message.timeout.ms", "10000")
            .set("log_level", "2");
        c
    };
    let mut failed = Vec::new();
    let mut check = |what: &str, r: Result<(), String>| {
        if let Err(e) = r {
            failed.push(format!("{what}: {e}"));
        }
    };
    // SSL without a client certificate: ANONYMOUS (a super user here).
    check("SSL", round_trip(&base(ssl, "SSL"), "rdk-ssl", "ssl"));
    // mTLS: the principal is the certificate's subject, which has no grant yet.
    let mut mtls = base(ssl, "SSL");
    mtls.set(
        "ssl.certificate.location",
        pki.path("client.pem").display().to_string(),
    )
    .set(
        "ssl.key.location",
        pki.path("client.key").display().to_string(),
    );
    let consumer: BaseConsumer = mtls.create().expect("consumer");
    let refused = match consumer.fetch_metadata(Some("rdk-mtls"), WAIT) {
        Ok(md) => md
            .topics()
            .first()
            .and_then(|t| t.error())
            .map(RDKafkaErrorCode::from),
        Err(e) => e.rdkafka_error_code(),
    };
    check(
        "mTLS principal without a grant",
        (refused == Some(RDKafkaErrorCode::TopicAuthorizationFailed))
            .then_some(())
            .ok_or_else(|| format!("{refused:?}")),
    );
    // Grant the certificate's principal (Kafka's RFC 2253 form of its subject) and go again.
    grant_all(&mut admin, tls_common::CLIENT_PRINCIPAL, &["rdk-mtls"]);
    check("mTLS", round_trip(&mtls, "rdk-mtls", "mtls"));
    for (mechanism, topic) in [
        ("PLAIN", "rdk-sasl-plain"),
        ("SCRAM-SHA-512", "rdk-sasl-scram"),
    ] {
        let mut c = base(sasl_ssl, "SASL_SSL");
        c.set("sasl.mechanisms", mechanism)
            .set("sasl.username", "bob")
            .set("sasl.password", "bob-secret");
        check(
            &format!("SASL_SSL {mechanism}"),
            round_trip(&c, topic, mechanism),
        );
    }
    // A wrong password over SASL_SSL, and a CA that does not know the broker.
    let mut wrong = base(sasl_ssl, "SASL_SSL");
    wrong
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", "bob")
        .set("sasl.password", "wrong");
    let consumer: BaseConsumer = wrong.create().expect("consumer");
    check(
        "a wrong password is refused",
        match consumer.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(_) => Err("metadata answered".into()),
            Err(_) => Ok(()),
        },
    );
    let mut untrusted = base(ssl, "SSL");
    untrusted.set(
        "ssl.ca.location",
        pki.path("client.pem").display().to_string(),
    );
    let consumer: BaseConsumer = untrusted.create().expect("consumer");
    check(
        "an unknown CA cannot connect",
        match consumer.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(_) => Err("metadata answered".into()),
            Err(_) => Ok(()),
        },
    );
    client::stop(broker);
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
