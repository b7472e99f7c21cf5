//! Topic configs at creation: ringlog's own keys and Kafka's validated and kept with the topic
//! (also across a restart), bad ones refused with INVALID_CONFIG (40) and Kafka's wording; from
//! CreateTopics v5 the response lists every config of the topic.

use kafka_protocol::messages::{create_topics_request, ApiKey, CreateTopicsRequest};
use kafka_protocol::protocol::StrBytes;
use ringlog::broker::catalog::Catalog;
use ringlog::broker::topic_config::DELIVERY_DELAY_ENABLE;
use ringlog::broker::{Broker, BrokerConfig};
use ringlog::runtime::IoKind;

use super::client::*;

/// A config as sent: name and (nullable) value.
type Config<'a> = (&'a str, Option<&'a str>);

fn with_configs(name: &str, configs: &[Config]) -> CreateTopicsRequest {
    let mut req = create_topics_request(&[(name, 1, -1)]);
    req.topics[0].configs = configs
        .iter()
        .map(|(k, v)| {
            create_topics_request::CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(v.map(|v| StrBytes::from_string(v.to_string())))
        })
        .collect();
    req
}

pub fn topic_configs_are_validated_and_listed_at_creation(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    for v in versions(ApiKey::CreateTopics) {
        // Replication factor -1 needs v4+; older versions name 1.
        let fix_rf = |mut r: CreateTopicsRequest| {
            if v < 4 {
                r.topics[0].replication_factor = 1;
            }
            r
        };
        let name = format!("delayed-v{v}");
        let req = fix_rf(with_configs(
            &name,
            &[
                (DELIVERY_DELAY_ENABLE, Some("true")),
                ("retention.ms", Some("60000")),
            ],
        ));
        let resp = c.call(v, &req);
        let t = &resp.topics[0];
        assert_eq!(t.error_code, 0, "v{v}: {:?}", t.error_message);
        if v >= 5 {
            let listed: Vec<(String, Option<String>, i8)> = t
                .configs
                .as_ref()
                .expect("configs from v5")
                .iter()
                .map(|c| {
                    (
                        c.name.to_string(),
                        c.value.as_ref().map(|v| v.to_string()),
                        c.config_source,
                    )
                })
                .collect();
            // Every topic config, Kafka's and ringlog's, set (source 1, DYNAMIC_TOPIC_CONFIG) or
            // not (5, DEFAULT_CONFIG), as Kafka 4.4 lists them.
            let get = |n: &str| listed.iter().find(|c| c.0 == n).cloned();
            assert_eq!(
                get(DELIVERY_DELAY_ENABLE),
                Some((
                    DELIVERY_DELAY_ENABLE.to_string(),
                    Some("true".to_string()),
                    1
                )),
                "v{v}"
            );
            assert_eq!(
                get("retention.ms"),
                Some(("retention.ms".to_string(), Some("60000".to_string()), 1)),
                "v{v}"
            );
            assert_eq!(
                get("errors.deadletterqueue.group.enable"),
                Some((
                    "errors.deadletterqueue.group.enable".to_string(),
                    Some("false".to_string()),
                    5
                )),
                "v{v}"
            );
            assert_eq!(
                get("cleanup.policy"),
                Some(("cleanup.policy".to_string(), Some("delete".to_string()), 5)),
                "v{v}"
            );
            assert!(listed.len() >= 37, "v{v}: {} configs", listed.len());
        }
        let refusals: [(&[Config], &str); 6] = [
            (
                &[("ringlog.nope", Some("1"))],
                "Unknown topic config name: ringlog.nope",
            ),
            (
                &[(DELIVERY_DELAY_ENABLE, Some("yes"))],
                "Expected value to be either true or false",
            ),
            (&[(DELIVERY_DELAY_ENABLE, None)], "Null value not supported"),
            (&[("nope", Some("1"))], "Unknown topic config name: nope"),
            (
                &[("segment.bytes", Some("100"))],
                "Invalid value 100 for configuration segment.bytes: Value must be at least 1048576",
            ),
            (
                &[
                    (DELIVERY_DELAY_ENABLE, Some("true")),
                    (DELIVERY_DELAY_ENABLE, Some("true")),
                ],
                "Duplicate resource config names",
            ),
        ];
        for (k, (configs, words)) in refusals.iter().enumerate() {
            for validate_only in [false, true] {
                let name = format!("refused-v{v}-{k}");
                let mut req = fix_rf(with_configs(&name, configs));
                req.validate_only = validate_only;
                if v == 0 && validate_only {
                    continue; // no validate_only before v1
                }
                let resp = c.call(v, &req);
                let t = &resp.topics[0];
                assert_eq!(t.error_code, 40, "v{v} {configs:?}: INVALID_CONFIG");
                if v >= 1 {
                    let message = t.error_message.as_ref().map(|m| m.to_string());
                    assert!(
                        message.as_deref().is_some_and(|m| m.contains(words)),
                        "v{v} {configs:?}: {message:?}"
                    );
                }
                assert_eq!(
                    metadata_error(&mut c, &name),
                    3,
                    "v{v} {configs:?}: nothing was created"
                );
            }
        }
    }
}

/// UNKNOWN_TOPIC_OR_PARTITION (3) when the topic does not exist, else 0 (Metadata without
/// auto-creation).
fn metadata_error(c: &mut Client, topic: &str) -> i16 {
    let v = *versions(ApiKey::Metadata).end();
    let resp = c.call(v, &metadata_request(v, Some(&[topic]), false));
    resp.topics[0].error_code
}

pub fn topic_configs_survive_a_restart(io: IoKind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = || BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        cores: CORES,
        io,
        ..Default::default()
    };
    for round in 0..2 {
        let broker = Broker::start(config()).expect("broker starts");
        let mut c = Client::connect(broker.local_addr());
        if round == 0 {
            let v = *versions(ApiKey::CreateTopics).end();
            let resp = c.call(
                v,
                &with_configs("kept", &[(DELIVERY_DELAY_ENABLE, Some("true"))]),
            );
            assert_eq!(resp.topics[0].error_code, 0);
            let resp = c.call(v, &with_configs("plain", &[("retention.ms", Some("1"))]));
            assert_eq!(resp.topics[0].error_code, 0);
        }
        assert_eq!(metadata_error(&mut c, "kept"), 0, "round {round}");
        drop(c);
        broker.shutdown();
        broker.join().expect("clean stop");
        let catalog = Catalog::load(dir.path()).expect("catalog");
        assert!(
            catalog.get("kept").expect("kept").configs.delivery_delay,
            "round {round}"
        );
        assert!(
            !catalog.get("plain").expect("plain").configs.delivery_delay,
            "round {round}"
        );
    }
}
