//! SASL (issue #20) through real clients, on both drivers, against an in-process broker with a
//! SASL_PLAINTEXT and a PLAINTEXT listener on free loopback ports:
//! - kafka-python (`tests/python/kafka_python_sasl.py`, version pinned in
//!   `tests/python/requirements.txt`) produces and consumes over SASL_PLAINTEXT with PLAIN,
//!   SCRAM-SHA-256 and SCRAM-SHA-512; alice's SCRAM-SHA-256 credential is written offline before
//!   the start (`ringlog users set`'s code), bob's SCRAM-SHA-512 one with
//!   AlterUserScramCredentials over the wire. Wrong passwords and unknown users are refused:
//!   kafka-python's first bootstrap attempt fails within a second and its constructor gives up at
//!   its bootstrap timeout (it retries a refused login until then and raises KafkaTimeoutError,
//!   against Kafka 4.4 as well; the broker's message, where it logs one, is Kafka's). Every
//!   user is granted its topics with CreateAcls (a SASL listener makes the broker deny what no
//!   ACL allows); a topic without a grant is left out of kafka-python's topic list, and reading
//!   or writing it raises TopicAuthorizationFailedError.
//! - the Java client (kafka-clients 4.4, as Kafka's console producer and consumer, from the
//!   tools' classpath `tests/java/setup.sh TARGET_DIR tools` fetches) produces and consumes with
//!   SCRAM-SHA-512, and a wrong password fails at once with SaslAuthenticationException and
//!   Kafka's message; `org.apache.kafka.tools.ConfigCommand --alter --add-config
//!   'SCRAM-SHA-256=[iterations=8192,password=...]' --entity-type users` adds a user that then
//!   logs in; `--describe --entity-type users` (DescribeClientQuotas, then the SCRAM
//!   credentials) lists the user's credential as Kafka 4.4 prints it.
//!
//! - librdkafka (the `rdkafka` crate, built with OpenSSL: its SCRAM needs it) produces and
//!   consumes with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; a wrong password fails its metadata
//!   request; as a user without an ACL on a topic it does not see the topic in Metadata, gets
//!   TOPIC_AUTHORIZATION_FAILED for it, and its delivery there fails.
//!
//! Skips loudly without the Python clients or without Java/Maven. Loopback only; every client
//! run is killed at a bound.

#[macro_use]
mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use client::{create_topics_request, Client};
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::auth::credentials::offline;
use ringlog::broker::auth::scram::ScramMechanism;
use ringlog::broker::auth::SecurityProtocol;
use ringlog::broker::Broker;
use ringlog::runtime::IoKind;
use support::{python_or_skip, run_bounded, start_broker};

both_drivers!(
    kafka_python_plain_and_scram,
    librdkafka_plain_scram_and_acls,
    java_client_scram_and_config_command
);

/// Shards of the broker under test.
const CORES: usize = 2;
/// Records each client run produces and reads back.
const RECORDS: usize = 20;
/// A kafka-python run is killed after this (its own waits are 30 s at most).
const SCRIPT_LIMIT: Duration = Duration::from_secs(90);
/// kafka-python's bootstrap timeout in the script's badlogin mode.
const BAD_LOGIN_BOOTSTRAP: Duration = Duration::from_secs(3);
/// A refused login must show within this (issue #20: "a bad login fails within a second").
const BAD_LOGIN_MAX: Duration = Duration::from_secs(1);
/// A JVM tool run is killed after this.
const TOOL_RUN_LIMIT: Duration = Duration::from_secs(60);
/// A Java client refused at login must have exited within this (a JVM start included).
const JAVA_BAD_LOGIN_MAX: Duration = Duration::from_secs(20);
/// The console consumer gives up after this long without a record.
const CONSUME_IDLE_MS: &str = "20000";
/// The JVM flags of every tool run: small heap, quick start, warnings only.
const JVM_FLAGS: &[&str] = &[
    "-Xmx256m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
];

/// Kafka 4.4's answer to a refused SCRAM login.
fn scram_failure(mechanism: &str) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL \
         mechanism {mechanism}"
    )
}
/// Kafka 4.4's answer to a refused PLAIN login.
const PLAIN_FAILURE: &str = "Authentication failed: Invalid username or password";

/// A broker with SASL_PLAINTEXT and PLAINTEXT listeners over `dir`: (broker, SASL, PLAINTEXT).
fn start_sasl(dir: &Path, io: IoKind) -> (Broker, SocketAddr, SocketAddr) {
    let broker = start_broker(io, dir, CORES, |c| {
        c.apply(ringlog::broker::config::ConfigOverrides {
            listen: vec!["SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0".into()],
            ..Default::default()
        })
        .expect("listeners");
        // The SCRAM admin APIs need CLUSTER ALTER/DESCRIBE: the test's admin connection is
        // ANONYMOUS on the PLAINTEXT listener, and bob runs kafka-configs over SASL.
        c.super_users = vec!["User:ANONYMOUS".to_string(), "User:bob".to_string()];
    });
    let sasl = broker
        .listener_addr(SecurityProtocol::SaslPlaintext)
        .expect("SASL_PLAINTEXT listener");
    let plain = broker
        .listener_addr(SecurityProtocol::Plaintext)
        .expect("PLAINTEXT listener");
    (broker, sasl, plain)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Adds a SCRAM credential with AlterUserScramCredentials (as Kafka's Admin client builds it:
/// the salted password, never the password); the result's error code.
fn upsert(c: &mut Client, user: &str, m: ScramMechanism, iterations: i32, password: &str) -> i16 {
    let salt = b"sasl-clients-test-salt-0123456789".to_vec();
    let salted = m.salted_password(password.as_bytes(), &salt, iterations as u32);
    let r = c.call(
        0,
        &AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            ScramCredentialUpsertion::default()
                .with_name(s(user))
                .with_mechanism(m.wire_type())
                .with_iterations(iterations)
                .with_salt(Bytes::from(salt))
                .with_salted_password(Bytes::from(salted)),
        ]),
    );
    r.results.first().map_or(-1, |r| r.error_code)
}

/// The (mechanism, iterations) of `user`'s credentials, from DescribeUserScramCredentials.
fn described(c: &mut Client, user: &str) -> (i16, Vec<(i8, i32)>) {
    let r = c.call(
        0,
        &DescribeUserScramCredentialsRequest::default()
            .with_users(Some(vec![UserName::default().with_name(s(user))])),
    );
    let Some(r) = r.results.first() else {
        return (-1, Vec::new());
    };
    (
        r.error_code,
        r.credential_infos
            .iter()
            .map(|i| (i.mechanism, i.iterations))
            .collect(),
    )
}

/// Creates the topics and lets every user (`User:*`) do everything on them and on every group
/// (CreateAcls as the super user): with a SASL listener the broker denies what no ACL allows.
fn create_topics(c: &mut Client, names: &[&str]) {
    let topics: Vec<(&str, i32, i16)> = names.iter().map(|n| (*n, 1, 1)).collect();
    let r = c.call(5, &create_topics_request(&topics));
    for t in &r.topics {
        assert_eq!(t.error_code, 0, "create {}", t.name.as_str());
    }
    client::grant_all(c, "User:*", names);
}

/// Collects every failed check, so a run reports them all.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn check(&mut self, holds: bool, what: impl FnOnce() -> String) {
        if !holds {
            self.0.push(what());
        }
    }

    fn finish(self, test: &str) {
        assert!(
            self.0.is_empty(),
            "{test}: {} failed check(s):\n{}",
            self.0.len(),
            self.0.join("\n---\n")
        );
    }
}

fn shown(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Lines of the script's output tagged `tag`, their fields after the tag.
fn tagged(out: &Output, tag: &str) -> Vec<Vec<String>> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            (f.next() == Some(tag)).then(|| f.map(str::to_string).collect())
        })
        .collect()
}

fn script(py: &Path, args: &[&str]) -> Output {
    run_bounded(
        Command::new(py)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/kafka_python_sasl.py"
            ))
            .args(args),
        SCRIPT_LIMIT,
    )
}

fn kafka_python_plain_and_scram(io: IoKind) {
    let Some(py) = python_or_skip("sasl_clients kafka-python") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // alice before the start, as `ringlog users set` writes it.
    offline::set(dir.path(), "alice", "SCRAM-SHA-256", 4096, "alice-secret").expect("offline");
    let (broker, sasl, plain) = start_sasl(dir.path(), io);
    let mut admin = Client::connect(plain);
    // bob over the wire, as kafka-configs.sh adds one.
    assert_eq!(
        upsert(
            &mut admin,
            "bob",
            ScramMechanism::Sha512,
            8192,
            "bob-secret"
        ),
        0
    );
    let runs = [
        ("PLAIN", "alice", "alice-secret", "sasl-plain"),
        ("SCRAM-SHA-256", "alice", "alice-secret", "sasl-sha-256"),
        ("SCRAM-SHA-512", "bob", "bob-secret", "sasl-sha-512"),
    ];
    create_topics(&mut admin, &runs.map(|r| r.3));
    let addr = sasl.to_string();
    let count = RECORDS.to_string();
    let mut report = Report::default();
    for (mechanism, user, password, topic) in runs {
        let out = script(
            &py,
            &["roundtrip", &addr, mechanism, user, password, topic, &count],
        );
        let want: Vec<Vec<String>> = (0..RECORDS)
            .map(|i| vec![i.to_string(), format!("{mechanism}-{i}")])
            .collect();
        report.check(
            out.status.success() && tagged(&out, "O") == want && tagged(&out, "R") == want,
            || format!("{mechanism} {user}: produce then consume\n{}", shown(&out)),
        );
    }
    for (mechanism, user, password, message) in [
        ("PLAIN", "alice", "wrong", PLAIN_FAILURE.to_string()),
        ("PLAIN", "nobody", "alice-secret", PLAIN_FAILURE.to_string()),
        (
            "SCRAM-SHA-256",
            "alice",
            "wrong",
            scram_failure("SCRAM-SHA-256"),
        ),
        // bob has no SCRAM-SHA-256 credential.
        (
            "SCRAM-SHA-256",
            "bob",
            "bob-secret",
            scram_failure("SCRAM-SHA-256"),
        ),
        (
            "SCRAM-SHA-512",
            "nobody",
            "x",
            scram_failure("SCRAM-SHA-512"),
        ),
    ] {
        let out = script(&py, &["badlogin", &addr, mechanism, user, password]);
        let what = format!("{mechanism} {user}/{password} refused");
        let secs = |fields: &[String]| fields.first().and_then(|f| f.parse::<f64>().ok());
        let first_failure = tagged(&out, "F").first().and_then(|f| secs(f));
        report.check(
            first_failure.is_some_and(|t| t < BAD_LOGIN_MAX.as_secs_f64()),
            || {
                format!(
                    "{what}: first bootstrap attempt failed within {BAD_LOGIN_MAX:?}\n{}",
                    shown(&out)
                )
            },
        );
        // The broker's message, where kafka-python logged one.
        for auth in tagged(&out, "A") {
            report.check(auth.get(1).is_some_and(|m| m.contains(&message)), || {
                format!(
                    "{what}: the message is Kafka's {message:?}\n{}",
                    shown(&out)
                )
            });
        }
        let gave_up = tagged(&out, "X");
        let limit = (BAD_LOGIN_BOOTSTRAP + Duration::from_secs(5)).as_secs_f64();
        report.check(
            gave_up.first().is_some_and(|x| {
                secs(x).is_some_and(|t| t < limit)
                    && x.get(1).map(String::as_str) == Some("KafkaTimeoutError")
            }),
            || {
                format!(
                    "{what}: the constructor gave up at its bootstrap timeout\n{}",
                    shown(&out)
                )
            },
        );
    }
    // A topic without an ACL for alice (created and written by the super user, not granted):
    // Metadata leaves it out, her producer gets TopicAuthorizationFailedError, and her consumer
    // never receives its record (kafka-python, seeing the topic unauthorized in Metadata, does
    // not fetch it; the Fetch refusal itself is tested at the wire).
    let secret = "sasl-secret";
    let r = admin.call(5, &create_topics_request(&[(secret, 1, 1)]));
    assert_eq!(r.topics[0].error_code, 0, "create {secret}");
    client::produce_one(&mut admin, secret, 0, &client::batch(0, &[b"hidden"]));
    let out = script(
        &py,
        &["denied", &addr, "PLAIN", "alice", "alice-secret", secret],
    );
    let listed: Vec<String> = tagged(&out, "T").into_iter().flatten().collect();
    let mut granted: Vec<String> = runs.iter().map(|r| r.3.to_string()).collect();
    granted.sort();
    report.check(listed == granted, || {
        format!(
            "alice's Metadata lists only the granted topics\n{}",
            shown(&out)
        )
    });
    report.check(
        tagged(&out, "D").contains(&vec![
            "send".to_string(),
            "TopicAuthorizationFailedError".to_string(),
        ]),
        || format!("the send to {secret} is refused\n{}", shown(&out)),
    );
    report.check(tagged(&out, "N") == vec![vec!["0".to_string()]], || {
        format!("nothing of {secret} is received\n{}", shown(&out))
    });
    client::stop(broker);
    report.finish("kafka_python_plain_and_scram");
}

/// A client properties file for SASL_PLAINTEXT with `mechanism` as `user`.
fn client_properties(
    dir: &Path,
    name: &str,
    mechanism: &str,
    user: &str,
    password: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.properties"));
    std::fs::write(
        &path,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism={mechanism}\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"{user}\" password=\"{password}\";\n"
        ),
    )
    .expect("write client properties");
    path
}

/// Runs a Kafka tool's `class` against `bootstrap` with `args`, `stdin` as its input.
fn tool(
    cp: &str,
    bootstrap: SocketAddr,
    class: &str,
    args: &[&str],
    stdin: Option<&Path>,
) -> Output {
    let mut cmd = Command::new("java");
    cmd.args(JVM_FLAGS)
        .arg("-cp")
        .arg(cp)
        .arg(class)
        .arg("--bootstrap-server")
        .arg(bootstrap.to_string())
        .args(args);
    match stdin {
        Some(path) => cmd.stdin(std::fs::File::open(path).expect("open the tool's input")),
        None => cmd.stdin(Stdio::null()),
    };
    run_bounded(&mut cmd, TOOL_RUN_LIMIT)
}

const CONSOLE_PRODUCER: &str = "org.apache.kafka.tools.ConsoleProducer";
const CONSOLE_CONSUMER: &str = "org.apache.kafka.tools.consumer.ConsoleConsumer";
const CONFIG_COMMAND: &str = "org.apache.kafka.tools.ConfigCommand";

/// A librdkafka client configuration for SASL_PLAINTEXT with `mechanism` as `user`.
fn rdkafka_config(
    addr: SocketAddr,
    mechanism: &str,
    user: &str,
    password: &str,
) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", addr.to_string())
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password)
        .set("socket.timeout.ms", "10000")
        .set("message.timeout.ms", "10000")
        .set("log_level", "2");
    c
}

fn librdkafka_plain_scram_and_acls(io: IoKind) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::RDKafkaErrorCode;
    use rdkafka::message::Message;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{Offset, TopicPartitionList};
    const WAIT: Duration = Duration::from_secs(30);

    let dir = tempfile::tempdir().expect("temp dir");
    offline::set(dir.path(), "alice", "SCRAM-SHA-256", 4096, "alice-secret").expect("offline");
    let (broker, sasl, plain) = start_sasl(dir.path(), io);
    let mut admin = Client::connect(plain);
    assert_eq!(
        upsert(
            &mut admin,
            "bob",
            ScramMechanism::Sha512,
            4096,
            "bob-secret"
        ),
        0
    );
    let topic = "rdk-sasl";
    create_topics(&mut admin, &[topic]);
    let mut report = Report::default();
    for (mechanism, user, password) in [
        ("PLAIN", "alice", "alice-secret"),
        ("SCRAM-SHA-256", "alice", "alice-secret"),
        ("SCRAM-SHA-512", "bob", "bob-secret"),
    ] {
        let config = rdkafka_config(sasl, mechanism, user, password);
        let p: BaseProducer = config
            .clone()
            .set("acks", "all")
            .create()
            .expect("producer");
        for i in 0..RECORDS {
            let value = format!("{mechanism}-{i}");
            p.send(BaseRecord::<(), _>::to(topic).payload(&value).partition(0))
                .expect("queued");
        }
        let flushed = p.flush(WAIT);
        report.check(flushed.is_ok(), || {
            format!("{mechanism} {user}: every record acknowledged: {flushed:?}")
        });
        let consumer: BaseConsumer = config
            .clone()
            .set("group.id", "rdk-sasl-assign")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).expect("assign");
        let mut mine = 0;
        let deadline = Instant::now() + WAIT;
        while mine < RECORDS && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                    if v.starts_with(&format!("{mechanism}-")) {
                        mine += 1;
                    }
                }
                Some(Err(e)) => {
                    report.check(false, || format!("{mechanism} {user}: consumer error {e}"));
                    break;
                }
                None => {}
            }
        }
        report.check(mine == RECORDS, || {
            format!("{mechanism} {user}: read back {mine} of {RECORDS}")
        });
    }
    // A wrong password: the metadata request cannot be made (the login is refused).
    let refused: BaseConsumer = rdkafka_config(sasl, "SCRAM-SHA-512", "bob", "wrong")
        .create()
        .expect("consumer");
    let started = Instant::now();
    let md = refused.fetch_metadata(None, Duration::from_secs(5));
    report.check(md.is_err(), || {
        format!(
            "a wrong password is refused (after {:?}): {:?}",
            started.elapsed(),
            md.map(|m| m.topics().len())
        )
    });
    // A topic alice has no ACL on, with a record the super user wrote: left out of Metadata,
    // refused by name, and her delivery to it fails with TOPIC_AUTHORIZATION_FAILED.
    let secret = "rdk-secret";
    let r = admin.call(5, &create_topics_request(&[(secret, 1, 1)]));
    assert_eq!(r.topics[0].error_code, 0, "create {secret}");
    client::produce_one(&mut admin, secret, 0, &client::batch(0, &[b"hidden"]));
    let config = rdkafka_config(sasl, "SCRAM-SHA-256", "alice", "alice-secret");
    let consumer: BaseConsumer = config.create().expect("consumer");
    match consumer.fetch_metadata(None, WAIT) {
        Ok(md) => {
            let names: Vec<&str> = md.topics().iter().map(|t| t.name()).collect();
            report.check(names == [topic], || {
                format!("alice's Metadata lists only {topic}: {names:?}")
            });
        }
        Err(e) => report.check(false, || format!("alice's metadata: {e}")),
    }
    match consumer.fetch_metadata(Some(secret), WAIT) {
        Ok(md) => {
            let err = md.topics().first().and_then(|t| t.error());
            report.check(
                err.is_some_and(|e| {
                    RDKafkaErrorCode::from(e) == RDKafkaErrorCode::TopicAuthorizationFailed
                }),
                || format!("{secret} by name is refused: {err:?}"),
            );
        }
        Err(e) => report.check(
            matches!(
                e.rdkafka_error_code(),
                Some(RDKafkaErrorCode::TopicAuthorizationFailed)
            ),
            || format!("{secret} by name: {e}"),
        ),
    }
    let p: rdkafka::producer::FutureProducer = config
        .clone()
        .set("acks", "all")
        .create()
        .expect("producer");
    let delivery = futures_executor::block_on(
        p.send(
            rdkafka::producer::FutureRecord::<(), _>::to(secret)
                .payload("x")
                .partition(0),
            WAIT,
        ),
    );
    report.check(
        matches!(
            &delivery,
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    RDKafkaErrorCode::TopicAuthorizationFailed
                ),
                _
            ))
        ),
        || {
            format!(
                "the delivery to {secret} fails: {:?}",
                delivery.as_ref().map_err(|e| &e.0)
            )
        },
    );
    client::stop(broker);
    report.finish("librdkafka_plain_scram_and_acls");
}

fn java_client_scram_and_config_command(io: IoKind) {
    let Some(cp) = support::kafka_tools_classpath("sasl_clients Java") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (broker, sasl, plain) = start_sasl(dir.path(), io);
    let files = tempfile::tempdir().expect("temp dir");
    let mut admin = Client::connect(plain);
    assert_eq!(
        upsert(
            &mut admin,
            "bob",
            ScramMechanism::Sha512,
            8192,
            "bob-secret"
        ),
        0
    );
    create_topics(&mut admin, &["java-sasl"]);
    let bob = client_properties(files.path(), "bob", "SCRAM-SHA-512", "bob", "bob-secret");
    let bob = bob.to_str().expect("utf-8 path");
    let mut report = Report::default();

    // Produce and consume with SCRAM-SHA-512.
    let lines: Vec<String> = (0..RECORDS).map(|i| format!("java-{i}")).collect();
    let input = files.path().join("input.txt");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write input");
    // One record for the refused producer: it fails each record on its own, a login at a time.
    let one = files.path().join("one.txt");
    std::fs::write(&one, "refused\n").expect("write input");
    let produce = |props: &str, input: &Path| {
        tool(
            cp,
            sasl,
            CONSOLE_PRODUCER,
            &["--topic", "java-sasl", "--command-config", props],
            Some(input),
        )
    };
    let out = produce(bob, &input);
    report.check(out.status.success(), || {
        format!("console producer as bob (SCRAM-SHA-512)\n{}", shown(&out))
    });
    let n = RECORDS.to_string();
    let consume = |props: &str, n: &str| {
        tool(
            cp,
            sasl,
            CONSOLE_CONSUMER,
            &[
                "--topic",
                "java-sasl",
                "--from-beginning",
                "--max-messages",
                n,
                "--timeout-ms",
                CONSUME_IDLE_MS,
                "--command-config",
                props,
            ],
            None,
        )
    };
    let out = consume(bob, &n);
    let read: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    report.check(out.status.success() && read == lines, || {
        format!(
            "console consumer as bob reads what was produced\n{}",
            shown(&out)
        )
    });

    // A wrong password: SaslAuthenticationException with Kafka's message, at once.
    let wrong = client_properties(files.path(), "wrong", "SCRAM-SHA-512", "bob", "wrong");
    let started = Instant::now();
    let out = produce(wrong.to_str().expect("utf-8 path"), &one);
    let took = started.elapsed();
    let want = format!(
        "SaslAuthenticationException: {}",
        scram_failure("SCRAM-SHA-512")
    );
    report.check(
        String::from_utf8_lossy(&out.stderr).contains(&want) && took < JAVA_BAD_LOGIN_MAX,
        || {
            format!(
                "a wrong password: {want:?} within {JAVA_BAD_LOGIN_MAX:?} (took {took:?})\n{}",
                shown(&out)
            )
        },
    );

    // kafka-configs.sh adds alice (SCRAM-SHA-256, 8192 iterations), who then logs in.
    let out = tool(
        cp,
        sasl,
        CONFIG_COMMAND,
        &[
            "--command-config",
            bob,
            "--alter",
            "--add-config",
            "SCRAM-SHA-256=[iterations=8192,password=alice-secret]",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
        None,
    );
    report.check(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).trim()
                == "Completed updating config for user alice.",
        || {
            format!(
                "ConfigCommand --alter --add-config SCRAM-SHA-256 alice\n{}",
                shown(&out)
            )
        },
    );
    let got = described(&mut admin, "alice");
    report.check(got == (0, vec![(1, 8192)]), || {
        format!("alice described as SCRAM-SHA-256/8192: {got:?}")
    });
    let alice = client_properties(
        files.path(),
        "alice",
        "SCRAM-SHA-256",
        "alice",
        "alice-secret",
    );
    let out = consume(alice.to_str().expect("utf-8 path"), &n);
    let read: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    report.check(out.status.success() && read == lines, || {
        format!(
            "console consumer as alice (added by ConfigCommand)\n{}",
            shown(&out)
        )
    });

    // `--describe --entity-type users` asks DescribeClientQuotas (none set here), then the
    // SCRAM credentials: Kafka 4.4 prints a line per user, "SCRAM credential configs for
    // user-principal 'alice' are SCRAM-SHA-256=iterations=8192".
    let out = tool(
        cp,
        sasl,
        CONFIG_COMMAND,
        &[
            "--command-config",
            bob,
            "--describe",
            "--entity-type",
            "users",
        ],
        None,
    );
    let said = String::from_utf8_lossy(&out.stdout);
    report.check(
        out.status.success()
            && said.lines().any(|l| {
                l == "SCRAM credential configs for user-principal 'alice' are \
                      SCRAM-SHA-256=iterations=8192"
            }),
        || {
            format!(
                "ConfigCommand --describe --entity-type users lists alice's credential\n{}",
                shown(&out)
            )
        },
    );
    client::stop(broker);
    report.finish("java_client_scram_and_config_command");
}
