//! TLS (issue #20) through kafka-python (`tests/python/kafka_python_tls.py`, version pinned in
//! `tests/python/requirements.txt`, over Python's ssl module), on both drivers, against an
//! in-process broker with SSL, SASL_SSL and PLAINTEXT listeners on free loopback ports and
//! certificates made by the test (`tls_common`):
//! - SSL with `ssl_cafile` (server verified, hostname checked), and mTLS with
//!   `ssl_certfile`/`ssl_keyfile` on a `--tls-client-auth requested` broker: produce then consume.
//! - SASL_SSL with PLAIN and SCRAM-SHA-256: produce then consume; a wrong password is refused
//!   (the first bootstrap attempt fails within a second, the constructor gives up at its
//!   bootstrap timeout with KafkaTimeoutError, as against Kafka 4.4).
//!
//! - the Java client (kafka-clients 4.4: Kafka's console producer and consumer, from the tools'
//!   classpath `tests/java/setup.sh TARGET_DIR tools` fetches) over SSL with
//!   `ssl.truststore.type=PEM` (hostname verification on, as Java's default), mTLS with a PEM
//!   keystore, and SASL_SSL with SCRAM-SHA-256: produce then consume.
//!
//! librdkafka over TLS is driven by `tests/tls_rdkafka.rs`. Skips loudly without the Python
//! clients or without Java/Maven. Loopback only; every client run is killed at a bound.

#[macro_use]
mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;
#[allow(dead_code)]
mod tls_common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use client::{create_topics_request, Client};
use ringlog::broker::auth::credentials::offline;
use ringlog::broker::auth::SecurityProtocol;
use ringlog::runtime::IoKind;
use support::{python_or_skip, run_bounded, start_broker};
use tls_common::TestPki;

both_drivers!(
    kafka_python_ssl_mtls_and_sasl_ssl,
    java_console_tools_over_ssl_mtls_and_sasl_ssl
);

const CORES: usize = 2;
const RECORDS: usize = 20;
/// A kafka-python run is killed after this (its own waits are 30 s at most).
const SCRIPT_LIMIT: Duration = Duration::from_secs(90);
/// A refused login must show within this (issue #20).
const BAD_LOGIN_MAX: Duration = Duration::from_secs(1);
/// kafka-python's bootstrap timeout in the script's badlogin mode, plus slack.
const BAD_LOGIN_GIVE_UP_MAX: Duration = Duration::from_secs(8);

fn script(py: &Path, args: &[&str]) -> Output {
    run_bounded(
        Command::new(py)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/kafka_python_tls.py"
            ))
            .args(args),
        SCRIPT_LIMIT,
    )
}

fn shown(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn tagged(out: &Output, tag: &str) -> Vec<Vec<String>> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            (f.next() == Some(tag)).then(|| f.map(str::to_string).collect())
        })
        .collect()
}

/// Creates the topics and lets every user (the certificate's principal, alice) use them and any
/// group: the broker authenticates (SASL_SSL, client certificates), so it checks ACLs.
fn create_granted(admin: &mut Client, topics: &[(&str, i32, i16)]) {
    let created = admin.call(5, &create_topics_request(topics));
    assert!(created.topics.iter().all(|t| t.error_code == 0));
    let names: Vec<&str> = topics.iter().map(|t| t.0).collect();
    client::grant_all(admin, "User:*", &names);
}

fn kafka_python_ssl_mtls_and_sasl_ssl(io: IoKind) {
    let Some(py) = python_or_skip("tls_clients kafka-python") else {
        return;
    };
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    offline::set(dir.path(), "alice", "SCRAM-SHA-256", 4096, "alice-secret").expect("offline");
    let broker = start_broker(io, dir.path(), CORES, |c| {
        c.apply(ringlog::broker::config::ConfigOverrides {
            listen: vec!["SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0".into()],
            ..Default::default()
        })
        .expect("listeners");
        c.tls = pki.options("requested");
        // The test's admin connection (PLAINTEXT, so ANONYMOUS): the broker authenticates
        // (SASL_SSL, client certificates), so it checks ACLs; the admin grants the others.
        c.super_users = vec!["User:ANONYMOUS".to_string()];
    });
    let ssl = broker
        .listener_addr(SecurityProtocol::Ssl)
        .unwrap()
        .to_string();
    let sasl_ssl = broker
        .listener_addr(SecurityProtocol::SaslSsl)
        .unwrap()
        .to_string();
    let mut admin = Client::connect(broker.listener_addr(SecurityProtocol::Plaintext).unwrap());
    let ca = pki.path("ca.pem").display().to_string();
    let cert = pki.path("client.pem").display().to_string();
    let key = pki.path("client.key").display().to_string();
    let count = RECORDS.to_string();
    let runs: [(&str, &str, &str, &str, &str, &str, &str); 4] = [
        (&ssl, "SSL", "-", "-", "-", "-", "tls-ssl"),
        (&ssl, "SSL", &cert, &key, "-", "-", "tls-mtls"),
        (
            &sasl_ssl,
            "SASL_SSL",
            "-",
            "-",
            "PLAIN",
            "alice",
            "tls-sasl-plain",
        ),
        (
            &sasl_ssl,
            "SASL_SSL",
            "-",
            "-",
            "SCRAM-SHA-256",
            "alice",
            "tls-sasl-scram",
        ),
    ];
    let topics: Vec<(&str, i32, i16)> = runs.iter().map(|r| (r.6, 1, 1)).collect();
    create_granted(&mut admin, &topics);
    let mut failed = Vec::new();
    for (addr, protocol, certfile, keyfile, mechanism, user, topic) in runs {
        let out = script(
            &py,
            &[
                "roundtrip",
                addr,
                protocol,
                &ca,
                certfile,
                keyfile,
                mechanism,
                user,
                "alice-secret",
                topic,
                &count,
            ],
        );
        let want: Vec<Vec<String>> = (0..RECORDS)
            .map(|i| vec![i.to_string(), format!("{topic}-{i}")])
            .collect();
        if !(out.status.success() && tagged(&out, "O") == want && tagged(&out, "R") == want) {
            failed.push(format!("{topic}: produce then consume\n{}", shown(&out)));
        }
    }
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        let out = script(
            &py,
            &["badlogin", &sasl_ssl, &ca, mechanism, "alice", "wrong"],
        );
        let secs = |f: Option<&Vec<String>>| f.and_then(|f| f.first()?.parse::<f64>().ok());
        let first = secs(tagged(&out, "F").first());
        let gave_up = tagged(&out, "X");
        let ok = first.is_some_and(|t| t < BAD_LOGIN_MAX.as_secs_f64())
            && secs(gave_up.first()).is_some_and(|t| t < BAD_LOGIN_GIVE_UP_MAX.as_secs_f64())
            && gave_up
                .first()
                .and_then(|x| x.get(1))
                .is_some_and(|c| c == "KafkaTimeoutError");
        if !ok {
            failed.push(format!(
                "{mechanism} wrong password refused\n{}",
                shown(&out)
            ));
        }
    }
    client::stop(broker);
    assert!(
        failed.is_empty(),
        "{} failed check(s):\n{}",
        failed.len(),
        failed.join("\n---\n")
    );
}

/// A Java tool run is killed after this.
const TOOL_RUN_LIMIT: Duration = Duration::from_secs(60);
/// The console consumer gives up after this long without a record.
const CONSUME_IDLE_MS: &str = "20000";
/// The JVM flags of every tool run: small heap, quick start, warnings only.
const JVM_FLAGS: &[&str] = &[
    "-Xmx256m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
];

fn tool(cp: &str, bootstrap: &str, class: &str, args: &[&str], stdin: Option<&Path>) -> Output {
    let mut cmd = Command::new("java");
    cmd.args(JVM_FLAGS)
        .arg("-cp")
        .arg(cp)
        .arg(class)
        .arg("--bootstrap-server")
        .arg(bootstrap)
        .args(args);
    match stdin {
        Some(path) => cmd.stdin(std::fs::File::open(path).expect("open the tool's input")),
        None => cmd.stdin(std::process::Stdio::null()),
    };
    run_bounded(&mut cmd, TOOL_RUN_LIMIT)
}

fn java_console_tools_over_ssl_mtls_and_sasl_ssl(io: IoKind) {
    let Some(cp) = support::kafka_tools_classpath("tls_clients Java") else {
        return;
    };
    let pki = TestPki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    offline::set(dir.path(), "alice", "SCRAM-SHA-256", 4096, "alice-secret").expect("offline");
    let broker = start_broker(io, dir.path(), CORES, |c| {
        c.apply(ringlog::broker::config::ConfigOverrides {
            listen: vec!["SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0".into()],
            ..Default::default()
        })
        .expect("listeners");
        c.tls = pki.options("requested");
        // The test's admin connection (PLAINTEXT: ANONYMOUS) grants the others.
        c.super_users = vec!["User:ANONYMOUS".to_string()];
    });
    let ssl = broker
        .listener_addr(SecurityProtocol::Ssl)
        .unwrap()
        .to_string();
    let sasl_ssl = broker
        .listener_addr(SecurityProtocol::SaslSsl)
        .unwrap()
        .to_string();
    // Kafka's PEM keystore: the PKCS#8 key, then the certificate.
    let keystore = pki.path("client-keystore.pem");
    std::fs::write(
        &keystore,
        std::fs::read_to_string(pki.path("client.key")).unwrap()
            + &std::fs::read_to_string(pki.path("client.pem")).unwrap(),
    )
    .unwrap();
    let trust = format!(
        "ssl.truststore.type=PEM\nssl.truststore.location={}\n",
        pki.path("ca.pem").display()
    );
    let configs = [
        (
            "java-ssl",
            ssl.as_str(),
            format!("security.protocol=SSL\n{trust}"),
        ),
        (
            "java-mtls",
            ssl.as_str(),
            format!(
                "security.protocol=SSL\n{trust}ssl.keystore.type=PEM\nssl.keystore.location={}\n",
                keystore.display()
            ),
        ),
        (
            "java-sasl-ssl",
            sasl_ssl.as_str(),
            format!(
                "security.protocol=SASL_SSL\n{trust}sasl.mechanism=SCRAM-SHA-256\n\
                 sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \
                 required username=\"alice\" password=\"alice-secret\";\n"
            ),
        ),
    ];
    let mut admin = Client::connect(broker.listener_addr(SecurityProtocol::Plaintext).unwrap());
    let topics: Vec<(&str, i32, i16)> = configs.iter().map(|c| (c.0, 1, 1)).collect();
    create_granted(&mut admin, &topics);
    let files = tempfile::tempdir().expect("temp dir");
    let mut failed = Vec::new();
    for (topic, addr, props) in &configs {
        let props_path = files.path().join(format!("{topic}.properties"));
        std::fs::write(&props_path, props).unwrap();
        let props_path = props_path.to_str().expect("utf-8 path");
        let lines: Vec<String> = (0..RECORDS).map(|i| format!("{topic}-{i}")).collect();
        let input = files.path().join(format!("{topic}.txt"));
        std::fs::write(&input, lines.join("\n") + "\n").unwrap();
        let out = tool(
            cp,
            addr,
            "org.apache.kafka.tools.ConsoleProducer",
            &["--topic", topic, "--command-config", props_path],
            Some(&input),
        );
        if !out.status.success() {
            failed.push(format!("{topic}: console producer\n{}", shown(&out)));
            continue;
        }
        let n = RECORDS.to_string();
        let out = tool(
            cp,
            addr,
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            &[
                "--topic",
                topic,
                "--from-beginning",
                "--max-messages",
                &n,
                "--timeout-ms",
                CONSUME_IDLE_MS,
                "--command-config",
                props_path,
            ],
            None,
        );
        let read: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        if !(out.status.success() && read == lines) {
            failed.push(format!(
                "{topic}: console consumer reads it back\n{}",
                shown(&out)
            ));
        }
    }
    client::stop(broker);
    assert!(
        failed.is_empty(),
        "{} failed check(s):\n{}",
        failed.len(),
        failed.join("\n---\n")
    );
}
