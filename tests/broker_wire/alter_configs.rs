//! Topic configs after creation (issue #19): DescribeConfigs for TOPIC and BROKER,
//! IncrementalAlterConfigs and AlterConfigs for TOPIC (BROKER read-only), CreatePartitions, and
//! the configs acting on the partition logs (max.message.bytes, min.insync.replicas,
//! message.timestamp.type, segment.bytes/segment.ms, retention), also after a restart. Every
//! code and message was first seen from Kafka 4.4.

use kafka_protocol::messages::{
    alter_configs_request, create_partitions_request, describe_configs_request,
    incremental_alter_configs_request, AlterConfigsRequest, ApiKey, CreatePartitionsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use ringlog::runtime::IoKind;

use super::client::*;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One change of IncrementalAlterConfigs: (name, op, value).
type Change<'a> = (&'a str, i8, Option<&'a str>);

/// IncrementalAlterConfigs of one resource: (name, op, value) changes.
fn incremental(
    kind: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(s(name))
                .with_configs(
                    ops.iter()
                        .map(|(n, op, v)| {
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(s(n))
                                .with_config_operation(*op)
                                .with_value(v.map(s))
                        })
                        .collect(),
                ),
        ])
}

/// The (code, message) of altering one resource.
fn alter(c: &mut Client, kind: i8, name: &str, ops: &[(&str, i8, Option<&str>)]) -> (i16, String) {
    let v = *versions(ApiKey::IncrementalAlterConfigs).end();
    let resp = c.call(v, &incremental(kind, name, ops, false));
    let r = &resp.responses[0];
    (
        r.error_code,
        r.error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

/// Every config of a resource: (name, value, source, read_only, synonyms, documentation).
type Described = (
    String,
    String,
    i8,
    bool,
    Vec<(String, String, i8)>,
    Option<String>,
);

fn describe(c: &mut Client, kind: i8, name: &str, keys: Option<&[&str]>) -> (i16, Vec<Described>) {
    let v = *versions(ApiKey::DescribeConfigs).end();
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(s(name))
                .with_configuration_keys(keys.map(|k| k.iter().map(|k| s(k)).collect())),
        ]);
    let resp = c.call(v, &req);
    let r = &resp.results[0];
    let configs = r
        .configs
        .iter()
        .map(|e| {
            (
                e.name.to_string(),
                e.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                e.config_source,
                e.read_only,
                e.synonyms
                    .iter()
                    .map(|s| {
                        (
                            s.name.to_string(),
                            s.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                            s.source,
                        )
                    })
                    .collect(),
                e.documentation.as_ref().map(|d| d.to_string()),
            )
        })
        .collect();
    (r.error_code, configs)
}

fn value_of(c: &mut Client, topic: &str, key: &str) -> (String, i8) {
    let (code, configs) = describe(c, TOPIC, topic, Some(&[key]));
    assert_eq!(code, 0, "describe {topic}");
    assert_eq!(configs.len(), 1, "{key} of {topic}: {configs:?}");
    (configs[0].1.clone(), configs[0].2)
}

pub fn topic_configs_are_described_and_altered_as_kafka_does(io: IoKind) {
    let broker = TestBroker::start_with(io, |c| c.retention_ms = Some(3_600_000));
    let mut c = broker.connect();
    create_topic(&mut c, "t", 2);

    // Every Kafka topic config, described with its source, synonyms and documentation.
    let (code, all) = describe(&mut c, TOPIC, "t", None);
    assert_eq!(code, 0);
    assert!(all.len() >= 37, "{} configs", all.len());
    let get = |all: &[Described], n: &str| all.iter().find(|d| d.0 == n).cloned().expect(n);
    let retention = get(&all, "retention.ms");
    assert_eq!(
        (retention.1.as_str(), retention.2),
        ("3600000", 4),
        "STATIC_BROKER_CONFIG"
    );
    assert_eq!(
        retention.4[0],
        ("log.retention.ms".into(), "3600000".into(), 4)
    );
    assert!(retention.5.is_some(), "documentation when asked");
    let policy = get(&all, "cleanup.policy");
    assert_eq!(
        (policy.1.as_str(), policy.2, policy.3),
        ("delete", 5, false)
    );

    // SET, DELETE, APPEND and SUBTRACT.
    let ok = (0, String::new());
    assert_eq!(
        alter(
            &mut c,
            TOPIC,
            "t",
            &[
                ("retention.ms", SET, Some("60000")),
                ("segment.ms", SET, Some("1000"))
            ]
        ),
        ok
    );
    assert_eq!(value_of(&mut c, "t", "retention.ms"), ("60000".into(), 1));
    let (_, all) = describe(&mut c, TOPIC, "t", Some(&["retention.ms"]));
    assert_eq!(
        all[0].4,
        vec![
            ("retention.ms".into(), "60000".into(), 1),
            ("log.retention.ms".into(), "3600000".into(), 4),
            ("log.retention.ms".into(), "-1".into(), 5),
        ],
        "synonyms, most specific first"
    );
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("retention.ms", DELETE, None)]),
        ok
    );
    assert_eq!(value_of(&mut c, "t", "retention.ms"), ("3600000".into(), 4));
    assert_eq!(
        alter(
            &mut c,
            TOPIC,
            "t",
            &[("cleanup.policy", APPEND, Some("compact"))]
        ),
        ok
    );
    assert_eq!(
        value_of(&mut c, "t", "cleanup.policy"),
        ("delete,compact".into(), 1)
    );
    assert_eq!(
        alter(
            &mut c,
            TOPIC,
            "t",
            &[("cleanup.policy", SUBTRACT, Some("delete"))]
        ),
        ok
    );
    assert_eq!(
        value_of(&mut c, "t", "cleanup.policy"),
        ("compact".into(), 1)
    );
    // Deleting a config that is not set (or does not exist) is no error, as in Kafka.
    assert_eq!(alter(&mut c, TOPIC, "t", &[("nope.y", DELETE, None)]), ok);

    // Refusals, in Kafka's words.
    let cases: &[(&[Change], i16, &str)] = &[
        (&[("retention.ms", SET, Some("abc"))], 40, "Invalid value abc for configuration retention.ms: Not a number of type LONG"),
        (&[("segment.bytes", SET, Some("100"))], 40, "Invalid value 100 for configuration segment.bytes: Value must be at least 1048576"),
        (&[("cleanup.policy", SET, Some("foo"))], 40, "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete"),
        (&[("nope.x", SET, Some("1"))], 40, "Unknown topic config name: nope.x"),
        (&[("retention.ms", APPEND, Some("5"))], 40, "Can't APPEND to key retention.ms because its type is not LIST."),
        (&[("remote.storage.enable", SET, Some("true"))], 40, "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."),
        (&[("retention.ms", SET, Some("1")), ("retention.ms", SET, Some("2"))], 42, "Error due to duplicate config keys"),
        (&[("ringlog.filter.index", SET, Some("true"))], 40, "cannot be changed"),
    ];
    for (ops, code, words) in cases {
        let (got, message) = alter(&mut c, TOPIC, "t", ops);
        assert_eq!(got, *code, "{ops:?}: {message}");
        assert!(message.contains(words), "{ops:?}: {message}");
    }
    let (code, message) = alter(&mut c, TOPIC, "nosuch", &[("retention.ms", SET, Some("1"))]);
    assert_eq!(
        (code, message.as_str()),
        (3, "The topic 'nosuch' does not exist.")
    );
    // A refused change leaves everything as it was.
    assert_eq!(
        value_of(&mut c, "t", "cleanup.policy"),
        ("compact".into(), 1)
    );

    // validate_only checks and changes nothing.
    let v = *versions(ApiKey::IncrementalAlterConfigs).end();
    let resp = c.call(
        v,
        &incremental(TOPIC, "t", &[("segment.ms", SET, Some("2000"))], true),
    );
    assert_eq!(resp.responses[0].error_code, 0);
    assert_eq!(value_of(&mut c, "t", "segment.ms"), ("1000".into(), 1));
    let resp = c.call(
        v,
        &incremental(TOPIC, "t", &[("segment.ms", SET, Some("0"))], true),
    );
    assert_eq!(resp.responses[0].error_code, 40);

    // AlterConfigs (legacy) replaces every config of the topic.
    for v in versions(ApiKey::AlterConfigs) {
        let req = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s("t"))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(s("retention.bytes"))
                    .with_value(Some(s(&format!("{}", 1_000_000 + i64::from(v)))))]),
        ]);
        let resp = c.call(v, &req);
        assert_eq!(resp.responses[0].error_code, 0, "v{v}");
        assert_eq!(
            value_of(&mut c, "t", "retention.bytes"),
            (format!("{}", 1_000_000 + i64::from(v)), 1)
        );
        assert_eq!(
            value_of(&mut c, "t", "cleanup.policy"),
            ("delete".into(), 5),
            "v{v}: reset"
        );
    }

    // The broker's settings: described read-only, never altered.
    let (code, all) = describe(&mut c, BROKER, "0", None);
    assert_eq!(code, 0);
    let retention = get(&all, "log.retention.ms");
    assert_eq!(
        (retention.1.as_str(), retention.2, retention.3),
        ("3600000", 4, true)
    );
    assert!(all.iter().all(|d| d.3), "every broker setting is read-only");
    assert_eq!(
        describe(&mut c, BROKER, "", None).0,
        0,
        "the cluster default"
    );
    assert_eq!(describe(&mut c, BROKER, "7", None).0, 42);
    let (code, message) = alter(&mut c, BROKER, "0", &[("log.retention.ms", SET, Some("1"))]);
    assert_eq!(code, 42);
    assert!(
        message.starts_with("Cannot update these configs dynamically: [log.retention.ms]"),
        "{message}"
    );
    drop(c);
    broker.stop();
}

/// CreatePartitions of `topic` to `count`: (code, message).
fn grow(c: &mut Client, v: i16, topic: &str, count: i32, validate_only: bool) -> (i16, String) {
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(5_000)
        .with_validate_only(validate_only)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic_name(topic))
                .with_count(count),
        ]);
    let resp = c.call(v, &req);
    let r = &resp.results[0];
    (
        r.error_code,
        r.error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

fn partition_count(c: &mut Client, topic: &str) -> usize {
    let v = *versions(ApiKey::Metadata).end();
    let resp = c.call(v, &metadata_request(v, Some(&[topic]), false));
    resp.topics[0].partitions.len()
}

pub fn create_partitions_grows_topics_and_their_views(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = start_in(dir.path(), io, |c| c.max_partitions = 40);
    let mut c = Client::connect(broker.local_addr());
    let id = create_topic(&mut c, "g", 1);
    let v = *versions(ApiKey::CreateTopics).end();
    let mut req = create_topics_request(&[("g-view", -1, -1)]);
    req.topics[0].configs = [
        ("ringlog.view.source", "g"),
        ("ringlog.view.filter", "tag = 'x'"),
    ]
    .iter()
    .map(|(k, val)| {
        kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
            .with_name(s(k))
            .with_value(Some(s(val)))
    })
    .collect();
    assert_eq!(c.call(v, &req).topics[0].error_code, 0);
    for v in versions(ApiKey::CreatePartitions) {
        let before = partition_count(&mut c, "g") as i32;
        assert_eq!(
            grow(&mut c, v, "g", before, false),
            (37, format!("Topic already has {before} partition(s)."))
        );
        assert_eq!(
            grow(&mut c, v, "g", before - 1, false),
            (
                37,
                format!(
                    "The topic g currently has {before} partition(s); {} would not be an increase.",
                    before - 1
                )
            )
        );
        assert_eq!(
            grow(&mut c, v, "nosuch", 5, false),
            (3, "This server does not host this topic-partition.".into())
        );
        assert_eq!(grow(&mut c, v, "g", before + 1, true), (0, String::new()));
        assert_eq!(
            partition_count(&mut c, "g"),
            before as usize,
            "validate_only"
        );
        assert_eq!(grow(&mut c, v, "g", before + 1, false), (0, String::new()));
        assert_eq!(partition_count(&mut c, "g"), before as usize + 1);
        assert_eq!(
            partition_count(&mut c, "g-view"),
            before as usize + 1,
            "the view follows"
        );
        // The new partition takes records and serves them.
        let offset = produce_one(&mut c, "g", before, &batch(1_000, &[b"new"]));
        assert_eq!(offset, 0);
        let (code, hw, records) = fetch_one(&mut c, "g", id, before, 0);
        assert_eq!((code, hw), (0, 1));
        assert!(!records.is_empty());
    }
    let (code, message) = grow(&mut c, 3, "g", 100, false);
    assert_eq!(code, 44, "POLICY_VIOLATION past max.partitions: {message}");
    let (code, _) = grow(&mut c, 3, "g-view", 10, false);
    assert_eq!(code, 42, "a view's partitions are its source's");
    // A topic named twice.
    let req = CreatePartitionsRequest::default().with_topics(vec![
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(topic_name("g"))
            .with_count(20),
        create_partitions_request::CreatePartitionsTopic::default()
            .with_name(topic_name("g"))
            .with_count(21),
    ]);
    let resp = c.call(3, &req);
    assert!(resp.results.iter().all(|r| r.error_code == 42));
    drop(c);
    stop(broker);
    let catalog = ringlog::broker::catalog::Catalog::load(dir.path()).expect("catalog");
    assert_eq!(catalog.get("g").expect("g").partitions, 5);
    assert_eq!(catalog.get("g-view").expect("view").partitions, 5);
}

/// Produce at `acks` to `topic`-0: (code, base offset, log_append_time_ms).
fn produce(c: &mut Client, topic: &str, acks: i16, records: Vec<u8>) -> (i16, i64, i64) {
    let v = *versions(ApiKey::Produce).end();
    let resp = c.call(v, &produce_request(topic, acks, &[(0, records)]));
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset, p.log_append_time_ms)
}

pub fn topic_configs_act_on_the_partition_logs(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    for round in 0..2 {
        let broker = start_in(dir.path(), io, |_| {});
        let mut c = Client::connect(broker.local_addr());
        if round == 0 {
            create_topic(&mut c, "small", 1);
            create_topic(&mut c, "stamped", 1);
            create_topic(&mut c, "isr", 1);
            let ok = (0, String::new());
            assert_eq!(
                alter(
                    &mut c,
                    TOPIC,
                    "small",
                    &[("max.message.bytes", SET, Some("200"))]
                ),
                ok
            );
            assert_eq!(
                alter(
                    &mut c,
                    TOPIC,
                    "stamped",
                    &[("message.timestamp.type", SET, Some("LogAppendTime"))]
                ),
                ok
            );
            assert_eq!(
                alter(
                    &mut c,
                    TOPIC,
                    "isr",
                    &[("min.insync.replicas", SET, Some("2"))]
                ),
                ok
            );
        }
        // max.message.bytes: a batch above it is MESSAGE_TOO_LARGE (10).
        let big = batch(1_000, &[&[7u8; 400]]);
        assert_eq!(produce(&mut c, "small", 1, big).0, 10, "round {round}");
        assert_eq!(produce(&mut c, "small", 1, batch(1_000, &[b"x"])).0, 0);
        // min.insync.replicas = 2: acks=all cannot be met by one broker (NOT_ENOUGH_REPLICAS,
        // 19); acks=1 is.
        assert_eq!(produce(&mut c, "isr", -1, batch(1_000, &[b"x"])).0, 19);
        assert_eq!(produce(&mut c, "isr", 1, batch(1_000, &[b"x"])).0, 0);
        // LogAppendTime: the stored batch carries the broker's clock and the attribute bit,
        // the response the append time.
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let (code, offset, append_time) =
            produce(&mut c, "stamped", 1, batch(1_000, &[b"a", b"b"]));
        assert_eq!(code, 0);
        assert!(
            append_time >= before,
            "log_append_time_ms {append_time} >= {before}"
        );
        let v = 12; // by topic name
        let resp = c.call(
            v,
            &fetch_request(
                v,
                &[FetchAt {
                    topic: "stamped",
                    topic_id: Default::default(),
                    partition: 0,
                    offset,
                }],
                0,
                0,
            ),
        );
        let bytes = resp.responses[0].partitions[0]
            .records
            .clone()
            .expect("records");
        // The batch's max timestamp is what consumers read as every record's timestamp.
        let max_timestamp = i64::from_be_bytes(bytes[35..43].try_into().unwrap());
        assert!(
            (before..before + 60_000).contains(&max_timestamp),
            "max timestamp {max_timestamp}, appended after {before}"
        );
        let mut bytes = bytes;
        let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes)
            .expect("a valid batch, CRC included");
        let record = &sets[0].records[0];
        assert_eq!(
            record.timestamp_type,
            kafka_protocol::records::TimestampType::LogAppend
        );
        assert_eq!(
            record.value.as_deref(),
            Some(&b"a"[..]),
            "records untouched"
        );
        // DeleteRecords on a topic that compacts without deleting: POLICY_VIOLATION (44), as
        // Kafka; with delete in the policy it moves the start.
        if round == 1 {
            let delete = |c: &mut Client| {
                use kafka_protocol::messages::delete_records_request::{
                    DeleteRecordsPartition, DeleteRecordsTopic,
                };
                let v = *versions(ApiKey::DeleteRecords).end();
                let req = kafka_protocol::messages::DeleteRecordsRequest::default()
                    .with_timeout_ms(5_000)
                    .with_topics(vec![DeleteRecordsTopic::default()
                        .with_name(topic_name("small"))
                        .with_partitions(vec![DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(-1)])]);
                c.call(v, &req).topics[0].partitions[0].error_code
            };
            let ok = (0, String::new());
            let policy = |p| [("cleanup.policy", SET, Some(p))];
            assert_eq!(alter(&mut c, TOPIC, "small", &policy("compact")), ok);
            assert_eq!(delete(&mut c), 44);
            // A compacted topic refuses records without a key (INVALID_RECORD, 87).
            assert_eq!(produce(&mut c, "small", 1, batch(1_000, &[b"x"])).0, 87);
            assert_eq!(alter(&mut c, TOPIC, "small", &policy("compact,delete")), ok);
            assert_eq!(delete(&mut c), 0);
        }
        drop(c);
        stop(broker);
    }
}
