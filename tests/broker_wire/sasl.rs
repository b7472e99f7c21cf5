//! Listeners with security protocols and SASL (issue #20) at the wire: a broker with a
//! SASL_PLAINTEXT and a PLAINTEXT listener; Kafka 4.4's rules before authentication (only
//! ApiVersions, SaslHandshake, SaslAuthenticate; anything else closes the connection), its
//! handshake and failure answers, PLAIN and SCRAM-SHA-256/512 logins, bad logins refused within
//! a second, each listener advertising itself, and the SCRAM admin APIs with Kafka's errors,
//! durable across a restart. The expected answers (codes, messages, which connections close)
//! are what a Kafka 4.4 broker with a SASL_PLAINTEXT listener answered to the same requests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, DescribeClusterRequest,
    DescribeUserScramCredentialsRequest, FindCoordinatorRequest, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::auth::credentials::offline;
use ringlog::broker::auth::scram::{self, ScramMechanism};
use ringlog::broker::auth::SecurityProtocol;
use ringlog::broker::Broker;
use ringlog::runtime::IoKind;

use super::client::*;

const NONE: i16 = 0;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;
const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;
/// A bad login must be refused within this (issue #20: "a bad login fails within a second").
const BAD_LOGIN_MAX: Duration = Duration::from_secs(1);

/// A broker with SASL_PLAINTEXT and PLAINTEXT listeners on free ports over `dir`.
/// The super user of [`start_sasl`]'s brokers.
const ADMIN: &str = "User:alice";
/// Kafka's GROUP_AUTHORIZATION_FAILED.
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
/// Kafka's CLUSTER_AUTHORIZATION_FAILED.
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;

pub fn start_sasl(dir: &std::path::Path, io: IoKind) -> (Broker, SocketAddr, SocketAddr) {
    let broker = start_in(dir, io, |c| {
        c.apply(ringlog::broker::config::ConfigOverrides {
            listen: vec!["SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0".into()],
            ..Default::default()
        })
        .unwrap();
        // The admin of these tests: the SCRAM admin APIs need CLUSTER ALTER/DESCRIBE.
        c.super_users = vec![ADMIN.to_string()];
    });
    let sasl = broker
        .listener_addr(SecurityProtocol::SaslPlaintext)
        .unwrap();
    let plain = broker.listener_addr(SecurityProtocol::Plaintext).unwrap();
    assert_eq!(broker.local_addr(), sasl, "the first listener");
    (broker, sasl, plain)
}

pub fn handshake(c: &mut Client, mechanism: &str) -> (i16, Vec<String>) {
    let r = c.call(
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.into())),
    );
    (
        r.error_code,
        r.mechanisms.iter().map(|m| m.to_string()).collect(),
    )
}

pub fn authenticate(c: &mut Client, v: i16, token: &[u8]) -> (i16, Option<String>, Vec<u8>, i64) {
    let r = c.call(
        v,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
    );
    (
        r.error_code,
        r.error_message.map(|m| m.to_string()),
        r.auth_bytes.to_vec(),
        r.session_lifetime_ms,
    )
}

pub fn plain_token(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

/// A whole SCRAM login; the final round's answer.
pub fn scram_login(
    c: &mut Client,
    m: ScramMechanism,
    user: &str,
    password: &str,
) -> (i16, Option<String>) {
    assert_eq!(handshake(c, m.name()).0, NONE);
    let bare = format!("n={},r=wiretestnonce", scram::encode_saslname(user));
    let (code, message, server_first, _) = authenticate(c, 2, format!("n,,{bare}").as_bytes());
    if code != NONE {
        return (code, message);
    }
    let server_first = String::from_utf8(server_first).unwrap();
    assert!(
        server_first.starts_with("r=wiretestnonce"),
        "{server_first}"
    );
    let (final_msg, signature) =
        scram::client_final(m, password.as_bytes(), &bare, &server_first).unwrap();
    let (code, message, server_final, lifetime) = authenticate(c, 2, final_msg.as_bytes());
    if code == NONE {
        assert_eq!(String::from_utf8(server_final).unwrap(), signature);
        assert_eq!(lifetime, 0, "no re-authentication asked for");
    }
    (code, message)
}

/// Kafka's answer to a wrong password or an unknown user: PLAIN's own message, SCRAM's generic.
fn failure(mechanism: &str) -> Option<String> {
    Some(if mechanism == "PLAIN" {
        "Authentication failed: Invalid username or password".to_string()
    } else {
        format!(
            "Authentication failed during authentication due to invalid credentials with SASL \
             mechanism {mechanism}"
        )
    })
}

/// Kafka's (PLAIN's and SCRAM's) answer to another authorization id than the user.
const AUTHZID_MISMATCH: &str =
    "Authentication failed: Client requested an authorization id that is different from username";

/// Kafka answers a successful SaslAuthenticate with an empty message, not a null one.
fn ok() -> (i16, Option<String>) {
    (NONE, Some(String::new()))
}

fn metadata_broker(c: &mut Client) -> (String, i32) {
    let v = *versions(ApiKey::Metadata).end();
    let r = c.call(v, &metadata_request(v, Some(&[]), false));
    assert_eq!(r.brokers.len(), 1);
    (r.brokers[0].host.to_string(), r.brokers[0].port)
}

pub fn sasl_listener_follows_kafkas_rules(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    offline::set(dir.path(), "alice", "SCRAM-SHA-256", 4096, "alice-secret").unwrap();
    offline::set(dir.path(), "bob", "SCRAM-SHA-512", 8192, "bob-secret").unwrap();
    let (broker, sasl, plain) = start_sasl(dir.path(), io);

    // ApiVersions is answered before authentication and lists the SASL and SCRAM APIs.
    let mut c = Client::connect(sasl);
    let v = api_versions_request(3);
    let r = c.call(3, &v);
    for key in [17, 36, 50, 51] {
        assert!(r.api_keys.iter().any(|k| k.api_key == key), "api key {key}");
    }
    // An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled ones, then closed.
    assert_eq!(
        handshake(&mut c, "GSSAPI"),
        (
            UNSUPPORTED_SASL_MECHANISM,
            vec![
                "SCRAM-SHA-256".into(),
                "SCRAM-SHA-512".into(),
                "PLAIN".into()
            ]
        )
    );
    c.assert_closed("after an unsupported mechanism");

    // Any other request before authentication closes the connection, unanswered.
    let mut c = Client::connect(sasl);
    let mv = *versions(ApiKey::Metadata).end();
    c.send(mv, &metadata_request(mv, Some(&[]), false));
    c.assert_closed("Metadata before the handshake");
    let mut c = Client::connect(sasl);
    c.send(9, &produce_request("t", 1, &[(0, batch(0, &[b"x"]))]));
    c.assert_closed("Produce before the handshake");
    let mut c = Client::connect(sasl);
    c.send(0, &SaslAuthenticateRequest::default());
    c.assert_closed("SaslAuthenticate before the handshake");
    let mut c = Client::connect(sasl);
    assert_eq!(handshake(&mut c, "PLAIN").0, NONE);
    c.send(mv, &metadata_request(mv, Some(&[]), false));
    c.assert_closed("Metadata between handshake and authentication");
    // One ApiVersions before the handshake; Kafka closes on a second one.
    let mut c = Client::connect(sasl);
    assert_eq!(c.call(3, &v).error_code, NONE);
    c.send(3, &v);
    c.assert_closed("a second ApiVersions before the handshake");
    // ApiVersions or SaslHandshake during the exchange (PLAIN before its token, SCRAM between
    // its rounds): ILLEGAL_SASL_STATE, then closed.
    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        let start = |c: &mut Client| {
            assert_eq!(handshake(c, mechanism).0, NONE);
            if mechanism != "PLAIN" {
                let (code, _, first, _) = authenticate(c, 2, b"n,,n=alice,r=abc");
                assert!(code == NONE && !first.is_empty());
            }
        };
        let mut c = Client::connect(sasl);
        start(&mut c);
        let r = c.call(3, &v);
        assert_eq!((r.error_code, r.api_keys.len()), (ILLEGAL_SASL_STATE, 0));
        c.assert_closed("ApiVersions during the SASL exchange");
        let mut c = Client::connect(sasl);
        start(&mut c);
        assert_eq!(handshake(&mut c, "PLAIN"), (ILLEGAL_SASL_STATE, vec![]));
        c.assert_closed("a second SaslHandshake during the SASL exchange");
    }

    // Bad logins: SASL_AUTHENTICATION_FAILED with Kafka's message, within a second, closed.
    for (mechanism, user, password) in [
        ("PLAIN", "alice", "wrong"),
        ("PLAIN", "nobody", "alice-secret"),
        ("SCRAM-SHA-256", "alice", "wrong"),
        ("SCRAM-SHA-256", "nobody", "x"),
        // bob has no SHA-256 credential.
        ("SCRAM-SHA-256", "bob", "bob-secret"),
        ("SCRAM-SHA-512", "bob", "wrong"),
    ] {
        let mut c = Client::connect(sasl);
        let started = Instant::now();
        let (code, message) = match ScramMechanism::from_name(mechanism) {
            Some(m) => scram_login(&mut c, m, user, password),
            None => {
                assert_eq!(handshake(&mut c, mechanism).0, NONE);
                let (code, message, _, _) = authenticate(&mut c, 1, &plain_token(user, password));
                (code, message)
            }
        };
        let what = format!("{mechanism} {user}/{password}");
        assert_eq!(
            (code, message),
            (SASL_AUTHENTICATION_FAILED, failure(mechanism)),
            "{what}"
        );
        assert!(
            started.elapsed() < BAD_LOGIN_MAX,
            "{what}: {:?}",
            started.elapsed()
        );
        c.assert_closed(&what);
    }

    // PLAIN tokens Kafka refuses with a message of their own (checked in its order: the token
    // count, at most 4 counted; the user name; the password; the credential; the authorization
    // id), and SCRAM's one message of its own: another authorization id of a known user.
    let tokens = |n: usize| {
        Some(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {n}"
        ))
    };
    let s = |t: &str| Some(t.to_string());
    for (token, message) in [
        (&b""[..], tokens(1)),
        (b"alice", tokens(1)),
        (b"\0alice", tokens(2)),
        (b"\0alice\0alice-secret\0", tokens(4)),
        (b"\0a\0b\0c\0d\0e", tokens(4)),
        (b"\0\0", s("Authentication failed: username not specified")),
        (b"\0\0x", s("Authentication failed: username not specified")),
        (
            b"\0alice\0",
            s("Authentication failed: password not specified"),
        ),
        (b"zed\0alice\0alice-secret", s(AUTHZID_MISMATCH)),
        // The password is checked before the authorization id.
        (b"zed\0alice\0wrong", failure("PLAIN")),
        (b"\0\xff\0alice-secret", failure("PLAIN")),
    ] {
        let mut c = Client::connect(sasl);
        assert_eq!(handshake(&mut c, "PLAIN").0, NONE);
        let (code, got, _, _) = authenticate(&mut c, 2, token);
        assert_eq!(
            (code, got),
            (SASL_AUTHENTICATION_FAILED, message),
            "{token:?}"
        );
        c.assert_closed(&format!("PLAIN token {token:?}"));
    }
    let mut c = Client::connect(sasl);
    assert_eq!(handshake(&mut c, "PLAIN").0, NONE);
    let (code, message, _, _) = authenticate(&mut c, 2, b"alice\0alice\0alice-secret");
    assert_eq!((code, message), ok(), "the user's own authorization id");
    for (first, message) in [
        (&b"n,a=zed,n=alice,r=abc"[..], s(AUTHZID_MISMATCH)),
        (b"n,a=zed,n=nobody,r=abc", failure("SCRAM-SHA-256")),
        (b"p=tls-unique,,n=alice,r=abc", failure("SCRAM-SHA-256")),
        (b"n,,n=alice,r=abc,tokenauth=true", failure("SCRAM-SHA-256")),
        (b"garbage", failure("SCRAM-SHA-256")),
    ] {
        let mut c = Client::connect(sasl);
        assert_eq!(handshake(&mut c, "SCRAM-SHA-256").0, NONE);
        let (code, got, _, _) = authenticate(&mut c, 2, first);
        assert_eq!(
            (code, got),
            (SASL_AUTHENTICATION_FAILED, message),
            "{first:?}"
        );
        c.assert_closed(&format!("SCRAM client-first {first:?}"));
    }

    // Good logins, every SaslAuthenticate version; then the connection is served and its
    // listener advertised.
    for v in versions(ApiKey::SaslAuthenticate) {
        let mut c = Client::connect(sasl);
        assert_eq!(handshake(&mut c, "PLAIN").0, NONE);
        let (code, message, _, _) = authenticate(&mut c, v, &plain_token("alice", "alice-secret"));
        assert_eq!((code, message), ok(), "PLAIN v{v}");
        assert_eq!(
            metadata_broker(&mut c),
            ("127.0.0.1".into(), i32::from(sasl.port()))
        );
    }
    for (m, user, password) in [
        (ScramMechanism::Sha256, "alice", "alice-secret"),
        (ScramMechanism::Sha512, "bob", "bob-secret"),
    ] {
        let mut c = Client::connect(sasl);
        assert_eq!(scram_login(&mut c, m, user, password), ok(), "{m}");
        let port = i32::from(sasl.port());
        assert_eq!(metadata_broker(&mut c), ("127.0.0.1".into(), port));
        let fc = c.call(
            1,
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
        );
        // The super user finds it; bob has no ACL on the group (refused here already, as Kafka).
        let found = if user == "alice" {
            (NONE, port)
        } else {
            (GROUP_AUTHORIZATION_FAILED, -1)
        };
        assert_eq!((fc.error_code, fc.port), found, "{user}");
        let dc = c.call(0, &DescribeClusterRequest::default());
        assert_eq!(dc.brokers[0].port, port);
        // After authentication the SASL requests are answered ILLEGAL_SASL_STATE (KafkaApis).
        assert_eq!(handshake(&mut c, "PLAIN").0, ILLEGAL_SASL_STATE);
        let (code, message, _, _) = authenticate(&mut c, 1, b"x");
        assert_eq!(
            (code, message.as_deref()),
            (
                ILLEGAL_SASL_STATE,
                Some("SaslAuthenticate request received after successful authentication")
            )
        );
        assert_eq!(metadata_broker(&mut c).1, port, "still served");
    }

    // The PLAINTEXT listener: served at once (User:ANONYMOUS), advertising itself.
    let mut c = Client::connect(plain);
    assert_eq!(
        metadata_broker(&mut c),
        ("127.0.0.1".into(), i32::from(plain.port()))
    );
    assert_eq!(handshake(&mut c, "PLAIN").0, ILLEGAL_SASL_STATE);
    stop(broker);
}

pub fn upsert(name: &str, m: i8, iterations: i32, password: &str) -> ScramCredentialUpsertion {
    let salt = b"0123456789abcdef0123456789abcdef".to_vec();
    let salted = ScramMechanism::from_wire_type(m)
        .map(|m| m.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32))
        .unwrap_or_default();
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(name.into()))
        .with_mechanism(m)
        .with_iterations(iterations)
        .with_salt(Bytes::from(salt))
        .with_salted_password(Bytes::from(salted))
}

fn deletion(name: &str, m: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default()
        .with_name(StrBytes::from_string(name.into()))
        .with_mechanism(m)
}

fn alter(
    c: &mut Client,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16, Option<String>)> {
    let r = c.call(
        0,
        &AlterUserScramCredentialsRequest::default()
            .with_deletions(deletions)
            .with_upsertions(upsertions),
    );
    r.results
        .iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.error_message.as_ref().map(|m| m.to_string()),
            )
        })
        .collect()
}

type Described = Vec<(String, i16, Vec<(i8, i32)>)>;

fn describe(c: &mut Client, users: Option<&[&str]>) -> Described {
    let r = c.call(
        0,
        &DescribeUserScramCredentialsRequest::default().with_users(users.map(|u| {
            u.iter()
                .map(|n| UserName::default().with_name(StrBytes::from_string(n.to_string())))
                .collect()
        })),
    );
    assert_eq!(r.error_code, NONE);
    r.results
        .iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.credential_infos
                    .iter()
                    .map(|i| (i.mechanism, i.iterations))
                    .collect(),
            )
        })
        .collect()
}

pub fn scram_admin_apis_follow_kafka_and_survive_a_restart(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    offline::set(dir.path(), "alice", "SCRAM-SHA-256", 4096, "alice-secret").unwrap();
    let (broker, sasl, plain) = start_sasl(dir.path(), io);
    // The admin APIs from an authenticated SASL connection.
    let mut c = Client::connect(sasl);
    assert_eq!(
        scram_login(&mut c, ScramMechanism::Sha256, "alice", "alice-secret"),
        ok()
    );
    assert_eq!(
        alter(
            &mut c,
            vec![],
            vec![upsert("carol", 2, 8192, "carol-secret")]
        ),
        vec![("carol".into(), NONE, None)]
    );
    // Kafka's errors, per user (ScramControlManager): a user named twice gets
    // DUPLICATE_RESOURCE and no change, unless its first alteration already failed (that error
    // stands).
    let results = alter(
        &mut c,
        vec![
            deletion("nobody", 1),
            deletion("dave", 1),
            deletion("hank", 0),
            deletion("carol", 2),
        ],
        vec![
            upsert("carol", 2, 4096, "other"),
            upsert("dave", 1, 4096, "x"),
            upsert("erin", 1, 4095, "x"),
            upsert("frank", 1, 16385, "x"),
            upsert("gina", 3, 4096, "x"),
            upsert("", 1, 4096, "x"),
        ],
    );
    let s = |t: &str| Some(t.to_string());
    assert_eq!(
        results,
        vec![
            (
                "nobody".into(),
                RESOURCE_NOT_FOUND,
                s("Attempt to delete a user credential that does not exist")
            ),
            (
                "dave".into(),
                RESOURCE_NOT_FOUND,
                s("Attempt to delete a user credential that does not exist")
            ),
            (
                "hank".into(),
                UNSUPPORTED_SASL_MECHANISM,
                s("Unknown SCRAM mechanism")
            ),
            (
                "carol".into(),
                DUPLICATE_RESOURCE,
                s("A user credential cannot be altered twice in the same request")
            ),
            (
                "erin".into(),
                UNACCEPTABLE_CREDENTIAL,
                s("Too few iterations")
            ),
            (
                "frank".into(),
                UNACCEPTABLE_CREDENTIAL,
                s("Too many iterations")
            ),
            (
                "gina".into(),
                UNSUPPORTED_SASL_MECHANISM,
                s("Unknown SCRAM mechanism")
            ),
            (
                "".into(),
                UNACCEPTABLE_CREDENTIAL,
                s("Username must not be empty")
            ),
        ]
    );
    let everyone = vec![
        ("alice".to_string(), NONE, vec![(1, 4096)]),
        ("carol".to_string(), NONE, vec![(2, 8192)]),
    ];
    assert_eq!(describe(&mut c, None), everyone);
    assert_eq!(describe(&mut c, Some(&[])), everyone);
    assert_eq!(
        describe(&mut c, Some(&["carol", "nobody", "alice", "alice"])),
        vec![
            ("carol".into(), NONE, vec![(2, 8192)]),
            ("nobody".into(), RESOURCE_NOT_FOUND, vec![]),
            ("alice".into(), DUPLICATE_RESOURCE, vec![]),
        ]
    );
    // Kafka's messages: empty (not null) on success, the user named on errors.
    let r = c.call(
        0,
        &DescribeUserScramCredentialsRequest::default().with_users(Some(
            ["carol", "nobody", "alice", "alice"]
                .iter()
                .map(|n| UserName::default().with_name(StrBytes::from_string(n.to_string())))
                .collect(),
        )),
    );
    let messages: Vec<_> = r
        .results
        .iter()
        .map(|r| r.error_message.as_ref().map(|m| m.to_string()))
        .collect();
    assert_eq!(r.error_message.as_deref(), Some(""));
    assert_eq!(
        messages,
        vec![
            s(""),
            s("Attempt to describe a user credential that does not exist: nobody"),
            s(
                "Cannot describe SCRAM credentials for the same user twice in a single request: \
               alice"
            ),
        ]
    );
    // The new credential logs in at once, on a new connection.
    let mut carol = Client::connect(sasl);
    assert_eq!(
        scram_login(&mut carol, ScramMechanism::Sha512, "carol", "carol-secret"),
        ok()
    );
    // carol is no super user and has no ACL: CLUSTER ALTER / DESCRIBE are refused
    // (CLUSTER_AUTHORIZATION_FAILED, per user for the alteration, at the top for describe), and
    // so is ANONYMOUS on the PLAINTEXT listener of a broker that authenticates.
    let refused = (
        "dave".to_string(),
        CLUSTER_AUTHORIZATION_FAILED,
        s("Cluster authorization failed."),
    );
    let mut anonymous = Client::connect(plain);
    for c in [&mut carol, &mut anonymous] {
        assert_eq!(
            alter(c, vec![], vec![upsert("dave", 1, 4096, "x")]),
            vec![refused.clone()]
        );
        let r = c.call(0, &DescribeUserScramCredentialsRequest::default());
        assert_eq!(
            (r.error_code, r.error_message.as_deref(), r.results.len()),
            (
                CLUSTER_AUTHORIZATION_FAILED,
                Some("Cluster authorization failed."),
                0
            )
        ); // The client quota APIs likewise (CLUSTER ALTER_CONFIGS / DESCRIBE_CONFIGS).
        let r = c.call(
            1,
            &kafka_protocol::messages::DescribeClientQuotasRequest::default(),
        );
        assert_eq!(
            (
                r.error_code,
                r.error_message.as_deref(),
                r.entries.is_none()
            ),
            (
                CLUSTER_AUTHORIZATION_FAILED,
                Some("Cluster authorization failed."),
                true
            )
        );
        use kafka_protocol::messages::alter_client_quotas_request as acq;
        let r = c.call(
            1,
            &kafka_protocol::messages::AlterClientQuotasRequest::default().with_entries(vec![
                acq::EntryData::default()
                    .with_entity(vec![acq::EntityData::default()
                        .with_entity_type(StrBytes::from_static_str("user"))
                        .with_entity_name(Some(StrBytes::from_static_str("dave")))])
                    .with_ops(vec![acq::OpData::default()
                        .with_key(StrBytes::from_static_str("producer_byte_rate"))
                        .with_value(1024.0)]),
            ]),
        );
        let got: Vec<_> = r
            .entries
            .iter()
            .map(|e| {
                (
                    e.error_code,
                    e.error_message.as_ref().map(|m| m.to_string()),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![(
                CLUSTER_AUTHORIZATION_FAILED,
                s("Cluster authorization failed.")
            )]
        );
    }
    stop(broker);

    // Durable: after a restart carol is there and alice can be deleted.
    let (broker, sasl, _plain) = start_sasl(dir.path(), io);
    let mut c = Client::connect(sasl);
    assert_eq!(
        scram_login(&mut c, ScramMechanism::Sha256, "alice", "alice-secret"),
        ok()
    );
    assert_eq!(describe(&mut c, None), everyone);
    assert_eq!(
        alter(&mut c, vec![deletion("alice", 1)], vec![]),
        vec![("alice".into(), NONE, None)]
    );
    assert_eq!(describe(&mut c, None), everyone[1..].to_vec());
    let mut c = Client::connect(sasl);
    assert_eq!(
        scram_login(&mut c, ScramMechanism::Sha256, "alice", "alice-secret").0,
        SASL_AUTHENTICATION_FAILED
    );
    stop(broker);
}

pub fn tls_listeners_are_refused_until_built(io: IoKind) {
    let dir = tempfile::tempdir().unwrap();
    for listen in ["SSL://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"] {
        let mut config = ringlog::broker::BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            cores: CORES,
            io,
            ..Default::default()
        };
        config
            .apply(ringlog::broker::config::ConfigOverrides {
                listen: vec![listen.into()],
                ..Default::default()
            })
            .unwrap();
        let e = Broker::start(config).err().expect("refused").to_string();
        // Without certificate files the TLS settings are what is missing; with them, the TLS
        // transport (not built yet).
        assert!(
            e.contains("not built yet") || e.contains("need --tls-cert and --tls-key"),
            "{listen}: {e}"
        );
    }
}
