//! DescribeClientQuotas (key 48) and AlterClientQuotas (key 49) at the wire, as Kafka 4.4
//! answers them (measured against a Kafka 4.4 broker with the same requests;
//! `kafka_peer_answers_the_same` runs the scenario against one when `RINGLOG_QUOTA_PEER=host:port`
//! names it): Kafka's codes and messages for bad keys, values, entities and filters, default
//! entities, the match types and `strict`, validate_only, removal; the quotas on every shard at
//! once and across a restart; and enforcement: a greedy producer (and consumer) over its quota
//! gets throttle_time_ms, is muted for that long and held near its quota, while another client's
//! round trips stay short.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    alter_client_quotas_request, describe_client_quotas_request, AlterClientQuotasRequest, ApiKey,
    DescribeClientQuotasRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::runtime::IoKind;

use super::client::*;

const INVALID_REQUEST: i16 = 42;
const UNSUPPORTED_VERSION: i16 = 35;
const EXACT: i8 = 0;
const DEFAULT: i8 = 1;
const ANY: i8 = 2;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// An entity: (type, name; `None`: the default entity).
type Ent = &'static [(&'static str, Option<&'static str>)];
/// An entity as answered, its parts sorted.
type Answered = Vec<(String, Option<String>)>;

fn answered(e: Ent) -> Answered {
    let mut v: Answered = e
        .iter()
        .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
        .collect();
    v.sort();
    v
}

/// Filter components: (entity type, match type, match).
type Components = &'static [(&'static str, i8, Option<&'static str>)];

/// (key, value, remove)
type Op = (&'static str, f64, bool);

fn set(k: &'static str, v: f64) -> Op {
    (k, v, false)
}

fn remove(k: &'static str) -> Op {
    (k, 0.0, true)
}

/// AlterClientQuotas; the results as (sorted entity, code, message), in answer order.
fn alter(
    c: &mut Client,
    v: i16,
    entries: &[(Ent, &[Op])],
    validate_only: bool,
) -> Vec<(Answered, i16, Option<String>)> {
    let req = AlterClientQuotasRequest::default()
        .with_validate_only(validate_only)
        .with_entries(
            entries
                .iter()
                .map(|(e, ops)| {
                    alter_client_quotas_request::EntryData::default()
                        .with_entity(
                            e.iter()
                                .map(|(t, n)| {
                                    alter_client_quotas_request::EntityData::default()
                                        .with_entity_type(s(t))
                                        .with_entity_name(n.map(s))
                                })
                                .collect(),
                        )
                        .with_ops(
                            ops.iter()
                                .map(|(k, v, r)| {
                                    alter_client_quotas_request::OpData::default()
                                        .with_key(s(k))
                                        .with_value(*v)
                                        .with_remove(*r)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let resp = c.call(v, &req);
    assert_eq!(resp.throttle_time_ms, 0);
    resp.entries
        .into_iter()
        .map(|e| {
            let mut ent: Answered = e
                .entity
                .iter()
                .map(|p| {
                    (
                        p.entity_type.to_string(),
                        p.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect();
            ent.sort();
            (ent, e.error_code, e.error_message.map(|m| m.to_string()))
        })
        .collect()
}

/// One entry's alteration: its code and message.
fn alter_one(c: &mut Client, e: Ent, ops: &[Op], validate_only: bool) -> (i16, Option<String>) {
    let mut r = alter(c, 1, &[(e, ops)], validate_only);
    assert_eq!(r.len(), 1, "one result per entity");
    let (_, code, msg) = r.remove(0);
    (code, msg)
}

fn refused(msg: &str) -> (i16, Option<String>) {
    (INVALID_REQUEST, Some(msg.to_string()))
}

/// (entity, sorted (key, value)) of a describe answer, as a set.
type Described = BTreeSet<(Answered, Vec<(String, u64)>)>;

/// DescribeClientQuotas: (code, message, entries as a set; `None`: null entries).
fn describe(
    c: &mut Client,
    v: i16,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> (i16, Option<String>, Option<Described>) {
    let req = DescribeClientQuotasRequest::default()
        .with_strict(strict)
        .with_components(
            components
                .iter()
                .map(|(t, m, n)| {
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(s(t))
                        .with_match_type(*m)
                        .with_match(n.map(s))
                })
                .collect(),
        );
    let resp = c.call(v, &req);
    let entries = resp.entries.map(|es| {
        es.into_iter()
            .map(|e| {
                let mut ent: Answered = e
                    .entity
                    .iter()
                    .map(|p| {
                        (
                            p.entity_type.to_string(),
                            p.entity_name.as_ref().map(|n| n.to_string()),
                        )
                    })
                    .collect();
                ent.sort();
                let mut values: Vec<(String, u64)> = e
                    .values
                    .iter()
                    .map(|v| (v.key.to_string(), v.value.to_bits()))
                    .collect();
                values.sort();
                (ent, values)
            })
            .collect()
    });
    (
        resp.error_code,
        resp.error_message.map(|m| m.to_string()),
        entries,
    )
}

fn described(entries: &[(Ent, &[(&str, f64)])]) -> Described {
    entries
        .iter()
        .map(|(e, vals)| {
            let mut values: Vec<(String, u64)> = vals
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_bits()))
                .collect();
            values.sort();
            (answered(e), values)
        })
        .collect()
}

const ALICE: Ent = &[("user", Some("alice"))];
const USER_DEFAULT: Ent = &[("user", None)];
const ALICE_APP: Ent = &[("user", Some("alice")), ("client-id", Some("app"))];
const CLIENT_DEFAULT: Ent = &[("client-id", None)];
const APP: Ent = &[("client-id", Some("app"))];
const BOTH_DEFAULT: Ent = &[("user", None), ("client-id", None)];
const LOCALHOST: Ent = &[("ip", Some("127.0.0.1"))];
const IP_DEFAULT: Ent = &[("ip", None)];

/// Removes every quota the broker holds (Kafka keeps them across test runs).
fn clear(c: &mut Client) {
    let (code, _, all) = describe(c, 1, &[], false);
    assert_eq!(code, 0);
    for (entity, values) in all.expect("entries") {
        let leak = |v: &String| -> &'static str { Box::leak(v.clone().into_boxed_str()) };
        let ent: Vec<(&'static str, Option<&'static str>)> = entity
            .iter()
            .map(|(t, n)| (leak(t), n.as_ref().map(leak)))
            .collect();
        let ent: Ent = Box::leak(ent.into_boxed_slice());
        let ops: Vec<Op> = values.iter().map(|(k, _)| remove(leak(k))).collect();
        assert_eq!(alter_one(c, ent, &ops, false), (0, None));
    }
    settled(c, &[], Described::new());
}

/// Describes with `components` (not strict) until the answer is `want`, for 5 s at most, then
/// asserts it. ringlog answers an alteration once every shard has it, so the first answer is
/// the one; Kafka's broker applies its controller's records a little later.
fn settled(c: &mut Client, components: &[(&str, i8, Option<&str>)], want: Described) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = describe(c, 1, components, false);
        if got.2.as_ref() == Some(&want) || Instant::now() >= deadline {
            assert_eq!(got, (0, Some(String::new()), Some(want)), "{components:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The scenario both brokers answer the same.
fn scenario(addr: SocketAddr) {
    let mut c = Client::connect(addr);
    clear(&mut c);
    // Kafka's refusals of keys, values and entities (validate_only: nothing changes either way).
    let cases: &[(Ent, &[Op], &str)] = &[
        (
            ALICE,
            &[("bogus", 1.0, false)],
            "Invalid configuration key bogus",
        ),
        (
            ALICE,
            &[set("connection_creation_rate", 1.0)],
            "Invalid configuration key connection_creation_rate",
        ),
        (
            &[("ip", Some("1.2.3.4"))],
            &[set("producer_byte_rate", 1.0)],
            "Invalid configuration key producer_byte_rate",
        ),
        (
            ALICE,
            &[set("producer_byte_rate", -1.0)],
            "Quota producer_byte_rate must be greater than 0",
        ),
        (
            ALICE,
            &[set("request_percentage", 0.0)],
            "Quota request_percentage must be greater than 0",
        ),
        (
            ALICE,
            &[set("producer_byte_rate", 1.5)],
            "producer_byte_rate cannot be a fractional value.",
        ),
        (
            ALICE,
            &[set("consumer_byte_rate", f64::NAN)],
            "Quota consumer_byte_rate must be a finite number",
        ),
        (
            ALICE,
            &[set("producer_byte_rate", 1e30)],
            "Proposed value for producer_byte_rate is too large for a LONG.",
        ),
        (
            &[("ip", Some("1.2.3.4"))],
            &[set("connection_creation_rate", 1e12)],
            "Proposed value for connection_creation_rate is too large for an INT.",
        ),
        (
            &[("group", Some("g"))],
            &[set("producer_byte_rate", 1.0)],
            "Unhandled client quota entity type: group",
        ),
        (
            &[],
            &[set("producer_byte_rate", 1.0)],
            "Invalid empty client quota entity",
        ),
        (
            &[("user", Some(""))],
            &[set("producer_byte_rate", 1.0)],
            "Empty user not supported",
        ),
        (
            &[("client-id", Some(""))],
            &[set("producer_byte_rate", 1.0)],
            "Empty client-id not supported",
        ),
        (
            &[("user", Some("a")), ("ip", Some("1.2.3.4"))],
            &[set("producer_byte_rate", 1.0)],
            "Invalid quota entity combination, IP entity shouldnot be combined with User or \
             ClientId",
        ),
        (
            &[("ip", Some("not-an-ip"))],
            &[set("connection_creation_rate", 1.0)],
            "not-an-ip is not a valid IP or resolvable host.",
        ),
        (
            &[("user", Some("a"))],
            &[
                set("producer_byte_rate", 1.0),
                set("producer_byte_rate", 2.0),
            ],
            "Ignoring duplicate entity ClientQuotaEntity(entries={user=a})",
        ),
        (
            &[("user", Some("a"))],
            &[set("producer_byte_rate", -1.0), set("bogus", 1.0)],
            "Invalid configuration key bogus",
        ),
    ];
    for (entity, ops, message) in cases {
        for validate_only in [true, false] {
            assert_eq!(
                alter_one(&mut c, entity, ops, validate_only),
                refused(message),
                "{entity:?} {ops:?}"
            );
        }
    }
    // Accepted: fractional doubles, removals of anything, IPv6.
    for (entity, ops) in [
        (ALICE, &[set("request_percentage", 1.5)][..]),
        (ALICE, &[set("controller_mutation_rate", 1.5)][..]),
        (ALICE, &[remove("bogus"), remove("producer_byte_rate")][..]),
        (
            &[("ip", Some("::1"))][..],
            &[set("connection_creation_rate", 1.0)][..],
        ),
        (ALICE, &[][..]),
    ] {
        assert_eq!(
            alter_one(&mut c, entity, ops, true),
            (0, None),
            "{entity:?}"
        );
    }
    settled(&mut c, &[], Described::new());

    // Set a family of quotas (v0 and v1), one entry refused among them.
    let results = alter(
        &mut c,
        0,
        &[
            (
                ALICE,
                &[
                    set("producer_byte_rate", 1048576.0),
                    set("consumer_byte_rate", 2048.0),
                ],
            ),
            (USER_DEFAULT, &[set("producer_byte_rate", 100.0)]),
            (ALICE_APP, &[set("request_percentage", 25.5)]),
            (CLIENT_DEFAULT, &[set("controller_mutation_rate", 10.0)]),
            (APP, &[set("consumer_byte_rate", 300.0)]),
            (BOTH_DEFAULT, &[set("producer_byte_rate", 7.0)]),
            (LOCALHOST, &[set("connection_creation_rate", 5.0)]),
            (IP_DEFAULT, &[set("connection_creation_rate", 50.0)]),
            (&[("user", Some("dave"))], &[set("bogus", 1.0)]),
        ],
        false,
    );
    let results: BTreeSet<_> = results.into_iter().collect();
    let mut expected: BTreeSet<_> = [
        ALICE,
        USER_DEFAULT,
        ALICE_APP,
        CLIENT_DEFAULT,
        APP,
        BOTH_DEFAULT,
        LOCALHOST,
        IP_DEFAULT,
    ]
    .into_iter()
    .map(|e| (answered(e), 0, None))
    .collect();
    expected.insert((
        answered(&[("user", Some("dave"))]),
        INVALID_REQUEST,
        Some("Invalid configuration key bogus".into()),
    ));
    assert_eq!(results, expected);
    // validate_only changes nothing.
    assert_eq!(
        alter_one(
            &mut c,
            &[("user", Some("erin"))],
            &[set("producer_byte_rate", 1.0)],
            true
        ),
        (0, None)
    );

    let all = described(&[
        (
            ALICE,
            &[
                ("producer_byte_rate", 1048576.0),
                ("consumer_byte_rate", 2048.0),
            ],
        ),
        (USER_DEFAULT, &[("producer_byte_rate", 100.0)]),
        (ALICE_APP, &[("request_percentage", 25.5)]),
        (CLIENT_DEFAULT, &[("controller_mutation_rate", 10.0)]),
        (APP, &[("consumer_byte_rate", 300.0)]),
        (BOTH_DEFAULT, &[("producer_byte_rate", 7.0)]),
        (LOCALHOST, &[("connection_creation_rate", 5.0)]),
        (IP_DEFAULT, &[("connection_creation_rate", 50.0)]),
    ]);
    settled(&mut c, &[], all.clone());
    let only = |entities: &[Ent]| -> Described {
        let keep: BTreeSet<Answered> = entities.iter().map(|e| answered(e)).collect();
        all.iter()
            .filter(|(e, _)| keep.contains(e))
            .cloned()
            .collect()
    };
    let ok = |d: Described| (0, Some(String::new()), Some(d));
    let filters: &[(Components, bool, Described)] = &[
        (&[], false, all.clone()),
        (&[], true, Described::new()),
        (
            &[("user", ANY, None)],
            false,
            only(&[ALICE, USER_DEFAULT, ALICE_APP, BOTH_DEFAULT]),
        ),
        (&[("user", ANY, None)], true, only(&[ALICE, USER_DEFAULT])),
        (
            &[("user", EXACT, Some("alice"))],
            false,
            only(&[ALICE, ALICE_APP]),
        ),
        (&[("user", EXACT, Some("alice"))], true, only(&[ALICE])),
        (
            &[("user", DEFAULT, None)],
            false,
            only(&[USER_DEFAULT, BOTH_DEFAULT]),
        ),
        (&[("user", DEFAULT, None)], true, only(&[USER_DEFAULT])),
        (
            &[("client-id", ANY, None)],
            true,
            only(&[CLIENT_DEFAULT, APP]),
        ),
        (
            &[("client-id", DEFAULT, None)],
            false,
            only(&[CLIENT_DEFAULT, BOTH_DEFAULT]),
        ),
        (
            &[("user", ANY, None), ("client-id", ANY, None)],
            false,
            only(&[ALICE_APP, BOTH_DEFAULT]),
        ),
        (&[("ip", ANY, None)], false, only(&[LOCALHOST, IP_DEFAULT])),
        (
            &[("ip", EXACT, Some("127.0.0.1"))],
            false,
            only(&[LOCALHOST]),
        ),
        (&[("user", EXACT, Some("nobody"))], false, Described::new()),
    ];
    for (components, strict, want) in filters {
        for v in 0..=1 {
            assert_eq!(
                describe(&mut c, v, components, *strict),
                ok(want.clone()),
                "v{v} {components:?} strict {strict}"
            );
        }
    }
    // Kafka's refusals of filters.
    let bad: &[(Components, i16, &str)] = &[
        (
            &[("user", EXACT, None)],
            INVALID_REQUEST,
            "Request specified MATCH_TYPE_EXACT, but set match string to null.",
        ),
        (
            &[("group", ANY, None)],
            UNSUPPORTED_VERSION,
            "Unsupported entity type group",
        ),
        (
            &[("user", 7, None)],
            INVALID_REQUEST,
            "Unknown match type 7",
        ),
        (
            &[("user", ANY, None), ("user", ANY, None)],
            INVALID_REQUEST,
            "Entity type user cannot appear more than once in the filter.",
        ),
        (
            &[("user", DEFAULT, Some("x"))],
            INVALID_REQUEST,
            "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
        ),
        (
            &[("user", ANY, Some("x"))],
            INVALID_REQUEST,
            "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
        ),
        (
            &[("user", ANY, None), ("ip", ANY, None)],
            INVALID_REQUEST,
            "Invalid entity filter component combination. IP filter component should not be \
             used with user or clientId filter component.",
        ),
        (
            &[("", ANY, None)],
            INVALID_REQUEST,
            "Invalid empty entity type.",
        ),
    ];
    for (components, code, message) in bad {
        assert_eq!(
            describe(&mut c, 1, components, false),
            (*code, Some(message.to_string()), None),
            "{components:?}"
        );
    }
    // Removal: one key, then the last key removes the entity.
    let alice_only = &[("user", EXACT, Some("alice"))][..];
    assert_eq!(
        alter_one(&mut c, ALICE, &[remove("consumer_byte_rate")], false),
        (0, None)
    );
    settled(
        &mut c,
        alice_only,
        described(&[
            (ALICE, &[("producer_byte_rate", 1048576.0)]),
            (ALICE_APP, &[("request_percentage", 25.5)]),
        ]),
    );
    assert_eq!(
        alter_one(&mut c, ALICE, &[remove("producer_byte_rate")], false),
        (0, None)
    );
    settled(
        &mut c,
        alice_only,
        described(&[(ALICE_APP, &[("request_percentage", 25.5)])]),
    );
    // Set again overwrites.
    assert_eq!(
        alter_one(&mut c, APP, &[set("consumer_byte_rate", 900.0)], false),
        (0, None)
    );
    settled(
        &mut c,
        &[("client-id", EXACT, Some("app"))],
        described(&[
            (APP, &[("consumer_byte_rate", 900.0)]),
            (ALICE_APP, &[("request_percentage", 25.5)]),
        ]),
    );
    clear(&mut c);
}

pub fn quota_apis_answer_as_kafka(io: IoKind) {
    let broker = TestBroker::start(io);
    scenario(broker.addr);
    // ApiVersions lists both at Kafka 4.4's versions.
    let mut c = broker.connect();
    let resp = c.call(3, &api_versions_request(3));
    for key in [ApiKey::DescribeClientQuotas, ApiKey::AlterClientQuotas] {
        let k = resp
            .api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .unwrap_or_else(|| panic!("{key:?} is advertised"));
        assert_eq!((k.min_version, k.max_version), (0, 1));
    }
    // An entity in two entries is refused in both, nothing applied (Kafka: "Ignoring duplicate
    // entity"; it answers the entity once).
    let r = alter(
        &mut c,
        1,
        &[
            (&[("user", Some("x"))], &[set("producer_byte_rate", 1.0)]),
            (&[("user", Some("x"))], &[set("consumer_byte_rate", 1.0)]),
        ],
        false,
    );
    let message = Some("Ignoring duplicate entity ClientQuotaEntity(entries={user=x})".to_string());
    assert_eq!(
        r,
        vec![(answered(&[("user", Some("x"))]), INVALID_REQUEST, message); 2]
    );
    assert_eq!(describe(&mut c, 1, &[], false).2, Some(Described::new()));
    broker.stop();
}

/// The same scenario against a Kafka 4.4 broker named by `RINGLOG_QUOTA_PEER=host:port`
/// (PLAINTEXT, no authorizer); skips loudly without one.
#[test]
#[ignore = "needs a Kafka 4.4 broker: RINGLOG_QUOTA_PEER=host:port"]
fn kafka_peer_answers_the_same() {
    let Ok(peer) = std::env::var("RINGLOG_QUOTA_PEER") else {
        eprintln!("SKIPPED: RINGLOG_QUOTA_PEER is not set");
        return;
    };
    scenario(peer.parse().expect("RINGLOG_QUOTA_PEER is host:port"));
}

/// An alteration is answered only once every shard has it: connections spread over every shard
/// see it at once; the quotas survive a restart, and a restart with another shard count.
pub fn quotas_reach_every_shard_and_survive_a_restart(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = start_in(dir.path(), io, |_| {});
    let addr = broker.local_addr();
    let mut clients: Vec<Client> = (0..16).map(|_| Client::connect(addr)).collect();
    for (round, rate) in [1000.0, 2000.0, 3000.0].into_iter().enumerate() {
        assert_eq!(
            alter_one(
                &mut clients[round],
                ALICE,
                &[set("producer_byte_rate", rate)],
                false
            ),
            (0, None)
        );
        for c in &mut clients {
            assert_eq!(
                describe(c, 1, &[], false).2,
                Some(described(&[(ALICE, &[("producer_byte_rate", rate)])])),
                "round {round}"
            );
        }
    }
    let mut c = Client::connect(addr);
    assert_eq!(
        alter_one(&mut c, APP, &[set("consumer_byte_rate", 300.0)], false),
        (0, None)
    );
    assert_eq!(
        alter_one(
            &mut c,
            BOTH_DEFAULT,
            &[set("request_percentage", 12.5)],
            false
        ),
        (0, None)
    );
    assert_eq!(
        alter_one(&mut c, APP, &[remove("consumer_byte_rate")], false),
        (0, None)
    );
    let kept = described(&[
        (ALICE, &[("producer_byte_rate", 3000.0)]),
        (BOTH_DEFAULT, &[("request_percentage", 12.5)]),
    ]);
    drop(c);
    drop(clients);
    stop(broker);

    let broker = start_in(dir.path(), io, |_| {});
    for _ in 0..8 {
        let mut c = Client::connect(broker.local_addr());
        assert_eq!(describe(&mut c, 1, &[], false).2, Some(kept.clone()));
    }
    stop(broker);
    let broker = start_in(dir.path(), io, |c| c.cores = 1);
    let mut c = Client::connect(broker.local_addr());
    assert_eq!(describe(&mut c, 0, &[], false).2, Some(kept));
    stop(broker);
}

/// The quota the throttling tests give the greedy client (bytes/s): small, so a loopback client
/// runs far over it in a debug build on a loaded 2-core machine.
const QUOTA_BYTES_PER_S: f64 = 256.0 * 1024.0;
/// How long the greedy client runs.
const GREEDY_RUN: Duration = Duration::from_secs(8);
/// Kafka's rate window (11 samples of 1 s): what a client may send above `quota x elapsed`
/// before the window has filled, so the bound on what it achieves.
const WINDOW_S: f64 = 11.0;

/// Round trips of a polite client (another client id, no quota) every few ms until `stop`.
fn polite_round_trips(
    addr: SocketAddr,
    topic: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    fetch: Option<uuid::Uuid>,
) -> Vec<Duration> {
    let mut c = Client::connect_as(addr, "polite");
    let mut out = Vec::new();
    let value = vec![b'p'; 100];
    let mut offset = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let t = Instant::now();
        match fetch {
            None => {
                let resp = c.call(9, &produce_request(topic, 1, &[(1, batch(0, &[&value]))]));
                let p = &resp.responses[0].partition_responses[0];
                assert_eq!((p.error_code, resp.throttle_time_ms), (0, 0));
            }
            Some(id) => {
                let at = [FetchAt {
                    topic,
                    topic_id: id,
                    partition: 0,
                    offset,
                }];
                let mut req = fetch_request(12, &at, 0, 0);
                req.topics[0].partitions[0].partition_max_bytes = 4096;
                let resp = c.call(12, &req);
                assert_eq!(resp.throttle_time_ms, 0);
                offset += 1;
            }
        }
        out.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    out
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize]
}

/// One greedy producer with a 256 KiB/s quota sends 16 KiB batches as fast as it can: it gets
/// throttle_time_ms > 0, each throttled answer mutes its connection for that long (the next
/// answer comes no sooner), and it achieves no more than the quota over the elapsed time plus
/// Kafka's window; an old-version Produce (v5, before KIP-219) is answered only after its
/// throttle time. Meanwhile a second client's produce round trips stay far below the greedy
/// one's throttle times.
pub fn quotas_throttle_a_greedy_producer_while_another_keeps_its_latency(io: IoKind) {
    let broker = TestBroker::start(io);
    greedy_producer(broker.addr, "q", "greedy");
    broker.stop();
}

/// The same against a Kafka 4.4 broker named by `RINGLOG_QUOTA_PEER=host:port`: its answers
/// hold to the same bounds (skips loudly without one). `RINGLOG_QUOTA_TRACE=1` prints each
/// answer's throttle time, to compare the two brokers' throttling.
#[test]
#[ignore = "needs a Kafka 4.4 broker: RINGLOG_QUOTA_PEER=host:port"]
fn kafka_peer_throttles_a_greedy_producer_the_same() {
    let Ok(peer) = std::env::var("RINGLOG_QUOTA_PEER") else {
        eprintln!("SKIPPED: RINGLOG_QUOTA_PEER is not set");
        return;
    };
    // Names of their own each run: Kafka keeps topics and quotas.
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let topic: &'static str = Box::leak(format!("q-{unique}").into_boxed_str());
    let client: &'static str = Box::leak(format!("greedy-{unique}").into_boxed_str());
    greedy_producer(peer.parse().expect("host:port"), topic, client);
}

/// Kafka's partitions take a moment to have a leader after CreateTopics answered: produces a
/// record to each until it is taken (ringlog takes the first).
fn wait_for_leaders(admin: &mut Client, topic: &str, partitions: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for p in 0..partitions {
        loop {
            let resp = admin.call(9, &produce_request(topic, 1, &[(p, batch(0, &[b"x"]))]));
            let code = resp.responses[0].partition_responses[0].error_code;
            if code == 0 || Instant::now() >= deadline {
                assert_eq!(code, 0, "produce to {topic}-{p}");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn greedy_producer(addr: SocketAddr, topic: &'static str, client: &'static str) {
    let mut admin = Client::connect(addr);
    create_topic(&mut admin, topic, 2);
    wait_for_leaders(&mut admin, topic, 2);
    let entity: Ent = Box::leak(Box::new([("client-id", Some(client))]));
    assert_eq!(
        alter_one(
            &mut admin,
            entity,
            &[set("producer_byte_rate", QUOTA_BYTES_PER_S)],
            false
        ),
        (0, None)
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let polite = {
        let stop = stop.clone();
        std::thread::spawn(move || polite_round_trips(addr, topic, stop, None))
    };
    // Kafka's broker applies the quota a moment after AlterClientQuotas answered.
    std::thread::sleep(Duration::from_millis(500));
    let mut greedy = Client::connect_as(addr, client);
    let value = vec![b'g'; 16 * 1024];
    let request = produce_request(topic, 1, &[(0, batch(0, &[&value]))]);
    let request_bytes = encode_frame(9, 1, &request).len() as f64;
    let started = Instant::now();
    let mut sent = 0.0;
    let mut throttles: Vec<u64> = Vec::new();
    let mut last_answer = Instant::now();
    let mut last_throttle = 0u64;
    while started.elapsed() < GREEDY_RUN {
        let resp = greedy.call(9, &request);
        let now = Instant::now();
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
        // Muted: the previous answer's throttle time passed before this one was read.
        assert!(
            now - last_answer >= Duration::from_millis(last_throttle * 9 / 10),
            "answered {:?} after a throttle of {last_throttle} ms",
            now - last_answer
        );
        sent += request_bytes;
        last_answer = now;
        last_throttle = resp.throttle_time_ms as u64;
        if std::env::var_os("RINGLOG_QUOTA_TRACE").is_some() {
            eprintln!("{:?}: throttle {last_throttle} ms", started.elapsed());
        }
        if last_throttle > 0 {
            throttles.push(last_throttle);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // An old version is answered after its throttle time instead (the mute of the last answer
    // counts too: it is measured from the last answer).
    let t = Instant::now();
    let resp = greedy.call(5, &request);
    assert!(resp.throttle_time_ms > 0, "still over the quota");
    assert!(
        last_answer.elapsed() >= Duration::from_millis(resp.throttle_time_ms as u64 * 9 / 10),
        "v5 answered {:?} after sending, throttle {} ms",
        t.elapsed(),
        resp.throttle_time_ms
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let polite = polite.join().expect("polite client");

    assert!(
        !throttles.is_empty(),
        "the greedy producer was never throttled"
    );
    let most = QUOTA_BYTES_PER_S * (elapsed + WINDOW_S) + request_bytes;
    assert!(
        sent <= most,
        "sent {sent} bytes in {elapsed:.1} s: more than the quota allows ({most})"
    );
    let least = QUOTA_BYTES_PER_S * elapsed.min(WINDOW_S - 1.0) * 0.8;
    assert!(sent >= least, "sent only {sent} bytes in {elapsed:.1} s");
    let mean_throttle = throttles.iter().sum::<u64>() / throttles.len() as u64;
    let p90 = percentile(polite.clone(), 0.9);
    eprintln!(
        "greedy: {:.0} B/s ({} throttled answers, mean {mean_throttle} ms); polite: {} round \
         trips, p50 {:?}, p90 {p90:?}",
        sent / elapsed,
        throttles.len(),
        polite.len(),
        percentile(polite.clone(), 0.5)
    );
    assert!(
        polite.len() >= 20,
        "the polite client made {} round trips",
        polite.len()
    );
    assert!(
        p90 * 4 < Duration::from_millis(mean_throttle),
        "polite p90 {p90:?} against the greedy producer's mean throttle {mean_throttle} ms"
    );
}

/// A greedy consumer with a 256 KiB/s quota fetching 64 KiB at a time: throttled fetches come
/// back empty with throttle_time_ms > 0 (Kafka's throttled fetch response), it reads no more
/// than the quota allows, and another consumer's fetch round trips stay short.
pub fn quotas_throttle_a_greedy_consumer_while_another_keeps_its_latency(io: IoKind) {
    let broker = TestBroker::start(io);
    greedy_consumer(broker.addr, "f", "reader");
    broker.stop();
}

/// The same against a Kafka 4.4 broker named by `RINGLOG_QUOTA_PEER=host:port` (skips loudly
/// without one).
#[test]
#[ignore = "needs a Kafka 4.4 broker: RINGLOG_QUOTA_PEER=host:port"]
fn kafka_peer_throttles_a_greedy_consumer_the_same() {
    let Ok(peer) = std::env::var("RINGLOG_QUOTA_PEER") else {
        eprintln!("SKIPPED: RINGLOG_QUOTA_PEER is not set");
        return;
    };
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let topic: &'static str = Box::leak(format!("f-{unique}").into_boxed_str());
    let client: &'static str = Box::leak(format!("reader-{unique}").into_boxed_str());
    greedy_consumer(peer.parse().expect("host:port"), topic, client);
}

fn greedy_consumer(addr: SocketAddr, topic: &'static str, client: &'static str) {
    let mut admin = Client::connect(addr);
    let id = create_topic(&mut admin, topic, 1);
    wait_for_leaders(&mut admin, topic, 1);
    // 8 MiB to read, more than the greedy consumer may take in the run (after the one record
    // wait_for_leaders put first).
    let value = vec![b'f'; 60 * 1024];
    for _ in 0..140 {
        produce_one(&mut admin, topic, 0, &batch(0, &[&value]));
    }
    let entity: Ent = Box::leak(Box::new([("user", None), ("client-id", Some(client))]));
    assert_eq!(
        alter_one(
            &mut admin,
            entity,
            &[set("consumer_byte_rate", QUOTA_BYTES_PER_S)],
            false
        ),
        (0, None)
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let polite = {
        let stop = stop.clone();
        std::thread::spawn(move || polite_round_trips(addr, topic, stop, Some(id)))
    };
    // Kafka's broker applies the quota a moment after AlterClientQuotas answered.
    std::thread::sleep(Duration::from_millis(500));
    let mut reader = Client::connect_as(addr, client);
    let started = Instant::now();
    let (mut got, mut offset, mut empty_throttled) = (0usize, 0i64, 0);
    let mut throttles: Vec<u64> = Vec::new();
    while started.elapsed() < GREEDY_RUN {
        let at = [FetchAt {
            topic,
            topic_id: id,
            partition: 0,
            offset,
        }];
        let mut req = fetch_request(12, &at, 100, 1);
        req.topics[0].partitions[0].partition_max_bytes = 64 * 1024;
        let resp = reader.call(12, &req);
        if resp.throttle_time_ms > 0 {
            throttles.push(resp.throttle_time_ms as u64);
            assert!(resp.responses.is_empty(), "a throttled fetch is empty");
            empty_throttled += 1;
            continue;
        }
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0);
        let records = p.records.as_ref().map(|r| r.len()).unwrap_or(0);
        assert!(records > 0, "offset {offset} of 141");
        got += records;
        offset += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let polite = polite.join().expect("polite consumer");
    assert!(
        empty_throttled > 0,
        "the greedy consumer was never throttled"
    );
    let most = QUOTA_BYTES_PER_S * (elapsed + WINDOW_S) + 70.0 * 1024.0;
    assert!(
        (got as f64) <= most,
        "read {got} bytes in {elapsed:.1} s: more than the quota allows ({most})"
    );
    let mean_throttle = throttles.iter().sum::<u64>() / throttles.len() as u64;
    let p90 = percentile(polite.clone(), 0.9);
    eprintln!(
        "greedy consumer: {:.0} B/s ({empty_throttled} throttled, mean {mean_throttle} ms); \
         polite: {} fetches, p90 {p90:?}",
        got as f64 / elapsed,
        polite.len()
    );
    assert!(polite.len() >= 20);
    assert!(
        p90 * 4 < Duration::from_millis(mean_throttle),
        "polite p90 {p90:?} against the greedy consumer's mean throttle {mean_throttle} ms"
    );
}

/// Connections of one client id that SO_REUSEPORT spreads over both shards share one quota:
/// the shards hand each other their usage (every 100 ms, at once in a burst), so ten greedy
/// connections together send no more than one quota's window allows in a run shorter than the
/// window (each shard measuring only its own connections would let two windows through).
pub fn a_client_spread_over_shards_has_one_quota(io: IoKind) {
    let broker = TestBroker::start(io);
    let addr = broker.addr;
    let mut admin = broker.connect();
    create_topic(&mut admin, "spread", 2);
    assert_eq!(
        alter_one(
            &mut admin,
            &[("client-id", Some("spread"))],
            &[set("producer_byte_rate", QUOTA_BYTES_PER_S)],
            false
        ),
        (0, None)
    );
    const CONNECTIONS: usize = 10;
    // Sending stops after SPREAD_RUN; what was answered before SPREAD_CUT counts (the last
    // requests may wait out a mute of a few seconds).
    const SPREAD_RUN: Duration = Duration::from_secs(6);
    const SPREAD_CUT: Duration = Duration::from_millis(9_500);
    let value = vec![b's'; 16 * 1024];
    let request = produce_request("spread", 1, &[(0, batch(0, &[&value]))]);
    let request_bytes = encode_frame(9, 1, &request).len() as f64;
    let started = Instant::now();
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let request = request.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect_as(addr, "spread");
                let mut sent = 0.0;
                let mut throttled = false;
                while started.elapsed() < SPREAD_RUN {
                    let resp = c.call(9, &request);
                    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
                    // Answered at once (v9, KIP-219): counted when taken in before the cut.
                    if started.elapsed() < SPREAD_CUT {
                        sent += request_bytes;
                    }
                    throttled |= resp.throttle_time_ms > 0;
                }
                (sent, throttled)
            })
        })
        .collect();
    let results: Vec<(f64, bool)> = senders
        .into_iter()
        .map(|s| s.join().expect("sender"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let sent: f64 = results.iter().map(|r| r.0).sum();
    // Before 10 s the rate is taken over 10-11 s whatever the elapsed time: what was taken in
    // before the cut is one window's worth and one request per connection (each may push the
    // rate over once before it is muted), plus what the shards took in during the first burst
    // before they heard of each other. Measured (loaded 2-core machine, debug build): 3.7 MB
    // with the hand-off, 6.7 MB with it switched off; one window's worth is 2.9 MB.
    let most = QUOTA_BYTES_PER_S * WINDOW_S * 1.5 + CONNECTIONS as f64 * request_bytes;
    eprintln!(
        "{CONNECTIONS} connections of one client id: {sent} bytes taken in the first {:.1} s \
         against a quota of {QUOTA_BYTES_PER_S} B/s, at most {most:.0} ({} throttled)",
        SPREAD_CUT.as_secs_f64().min(elapsed),
        results.iter().filter(|r| r.1).count()
    );
    assert!(
        sent <= most,
        "sent {sent} bytes in {elapsed:.1} s over {CONNECTIONS} connections: more than one quota \
         allows ({most})"
    );
    assert!(results.iter().any(|r| r.1), "none was throttled");
    broker.stop();
}

/// `request_percentage` bounds the time a client's requests take on the shard's thread: with a
/// tiny quota (0.01 % of a thread: 1 ms over the 10 s window) a client sending Metadata
/// requests is throttled within a bounded number of them, the answer carrying the throttle time;
/// ApiVersions is exempt (a client needs it before anything else), and another client id is not
/// throttled at all.
pub fn request_percentage_throttles_a_busy_client(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut admin = broker.connect();
    create_topic(&mut admin, "r", 2);
    assert_eq!(
        alter_one(
            &mut admin,
            &[("user", None), ("client-id", Some("busy"))],
            &[set("request_percentage", 0.01)],
            false
        ),
        (0, None)
    );
    let mut busy = Client::connect_as(broker.addr, "busy");
    let v = *versions(ApiKey::Metadata).end();
    let mut throttled = None;
    for i in 0..2_000 {
        let resp = busy.call(v, &metadata_request(v, Some(&["r"]), false));
        if resp.throttle_time_ms > 0 {
            throttled = Some((i, resp.throttle_time_ms));
            break;
        }
    }
    let (after, ms) = throttled.expect("a busy client is throttled within 2,000 requests");
    eprintln!("request_percentage 0.01: throttled after {after} Metadata requests, {ms} ms");
    assert!(ms as u64 <= 11_000, "at most the window");
    // Exempt: ApiVersions is answered without a throttle time even now.
    let resp = busy.call(3, &api_versions_request(3));
    assert_eq!(resp.throttle_time_ms, 0);
    // Another client id has no quota.
    let resp = admin.call(v, &metadata_request(v, Some(&["r"]), false));
    assert_eq!(resp.throttle_time_ms, 0);
    broker.stop();
}
