//! Per-topic configs set when a topic is created (CreateTopics `configs`, `kafka-topics
//! --config`, kafka-python's `NewTopic(topic_configs=...)`, `ringlog topics create --delay`).
//!
//! ringlog's own keys (`ringlog.*`) are validated, kept in the catalog with the topic and acted
//! on; an unknown `ringlog.*` key or a bad value refuses the topic with INVALID_CONFIG and
//! Kafka's wording. Kafka's topic configs (`retention.ms`, `cleanup.policy`, ...) are accepted
//! and not applied yet: retention and segment size are broker-wide settings for now.
//!
//! Catalog form: `key=value` pairs after the topic name, tab-separated (a topic name has no tab;
//! values are checked to hold no tab, no newline and no `=` in the key).

use crate::error::BrokerError;

/// Records of this topic may ask for delayed delivery (`ringlog-deliver-at` /
/// `ringlog-delay-ms` headers); only such topics have their records looked into on produce.
pub const DELIVERY_DELAY_ENABLE: &str = "ringlog.delivery.delay.enable";

/// Kafka's topic config (KIP-1191) that lets a topic receive share groups' dead-letter copies;
/// kept and acted on (the other Kafka topic configs are accepted and not applied yet).
pub const DLQ_GROUP_ENABLE: &str = "errors.deadletterqueue.group.enable";

/// Prefix of ringlog's own topic configs.
pub const RINGLOG_PREFIX: &str = "ringlog.";

/// The configs of one topic that ringlog acts on (all default when nothing was set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicConfigs {
    /// [`DELIVERY_DELAY_ENABLE`].
    pub delivery_delay: bool,
    /// [`DLQ_GROUP_ENABLE`].
    pub dlq_enable: bool,
}

/// Where a config value comes from, as DescribeConfigs' `ConfigSource` (CreateTopics v5+).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Set on the topic.
    Topic,
    /// The default.
    Default,
}

impl Source {
    /// Kafka's `ConfigSource` id.
    pub fn id(self) -> i8 {
        match self {
            Source::Topic => 1,   // DYNAMIC_TOPIC_CONFIG
            Source::Default => 5, // DEFAULT_CONFIG
        }
    }
}

impl TopicConfigs {
    /// The configs of a CreateTopics entry for `topic`: ringlog's keys parsed, Kafka's passed
    /// over. A key given twice is refused (Kafka: INVALID_REQUEST "Duplicate resource config
    /// names"; answered INVALID_CONFIG here with the same words).
    pub fn from_request<'a>(
        topic: &str,
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<TopicConfigs, BrokerError> {
        let invalid = |reason: String| BrokerError::InvalidConfig {
            topic: topic.to_string(),
            reason,
        };
        let mut out = TopicConfigs::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key) {
                return Err(invalid(format!("Duplicate resource config names: {key}")));
            }
            seen.push(key);
            if key == DLQ_GROUP_ENABLE {
                if let Some(value) = value {
                    out.dlq_enable = parse_bool(key, value).map_err(invalid)?;
                }
                continue;
            }
            if !key.starts_with(RINGLOG_PREFIX) {
                continue;
            }
            let Some(value) = value else {
                return Err(invalid(format!(
                    "Null value not supported for topic configs: {key}"
                )));
            };
            match key {
                DELIVERY_DELAY_ENABLE => {
                    out.delivery_delay = parse_bool(key, value).map_err(invalid)?
                }
                _ => return Err(invalid(format!("Unknown topic config name: {key}"))),
            }
        }
        Ok(out)
    }

    /// Every config ringlog acts on with its value and source (CreateTopics v5+ `configs`).
    pub fn describe(&self) -> Vec<(&'static str, String, Source)> {
        let source = |set: bool| if set { Source::Topic } else { Source::Default };
        vec![
            (
                DELIVERY_DELAY_ENABLE,
                self.delivery_delay.to_string(),
                source(self.delivery_delay),
            ),
            (
                DLQ_GROUP_ENABLE,
                self.dlq_enable.to_string(),
                source(self.dlq_enable),
            ),
        ]
    }

    /// The catalog form: the non-default configs as `key=value` words.
    pub fn to_catalog(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.delivery_delay {
            out.push(format!("{DELIVERY_DELAY_ENABLE}=true"));
        }
        if self.dlq_enable {
            out.push(format!("{DLQ_GROUP_ENABLE}=true"));
        }
        out
    }

    /// Parses the catalog form (see [`TopicConfigs::to_catalog`]).
    pub fn from_catalog<'a>(
        words: impl IntoIterator<Item = &'a str>,
    ) -> Result<TopicConfigs, String> {
        let mut pairs = Vec::new();
        for word in words {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| format!("config {word:?} is not key=value"))?;
            pairs.push((key, Some(value)));
        }
        TopicConfigs::from_request("(catalog)", pairs).map_err(|e| e.to_string())
    }
}

/// Kafka's boolean config values: `true` or `false`, any case.
fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!(
            "Invalid value {value} for configuration {key}: Expected value to be either true or \
             false"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ringlog_keys_are_parsed_and_kafkas_passed_over() {
        let c = TopicConfigs::from_request(
            "t",
            [
                ("retention.ms", Some("1000")),
                (DELIVERY_DELAY_ENABLE, Some("TRUE")),
                ("cleanup.policy", None),
            ],
        )
        .expect("valid");
        assert!(c.delivery_delay);
        assert_eq!(
            TopicConfigs::from_request("t", []).unwrap(),
            TopicConfigs::default()
        );
    }

    #[test]
    fn bad_ringlog_configs_are_refused_with_kafkas_words() {
        let refused = |pairs: Vec<(&str, Option<&str>)>| {
            let e = TopicConfigs::from_request("t", pairs).expect_err("refused");
            assert_eq!(e.kafka_code(), crate::protocol::error::INVALID_CONFIG);
            e.to_string()
        };
        assert!(refused(vec![("ringlog.nope", Some("1"))])
            .contains("Unknown topic config name: ringlog.nope"));
        assert!(refused(vec![(DELIVERY_DELAY_ENABLE, Some("yes"))])
            .contains("Expected value to be either true or false"));
        assert!(refused(vec![(DELIVERY_DELAY_ENABLE, None)]).contains("Null value"));
        assert!(refused(vec![
            (DELIVERY_DELAY_ENABLE, Some("true")),
            (DELIVERY_DELAY_ENABLE, Some("false"))
        ])
        .contains("Duplicate"));
    }

    #[test]
    fn the_catalog_form_round_trips() {
        for c in [
            TopicConfigs::default(),
            TopicConfigs {
                delivery_delay: true,
                dlq_enable: false,
            },
            TopicConfigs {
                delivery_delay: true,
                dlq_enable: true,
            },
        ] {
            let words = c.to_catalog();
            let back = TopicConfigs::from_catalog(words.iter().map(String::as_str)).unwrap();
            assert_eq!(back, c);
        }
        assert!(TopicConfigs::from_catalog(["novalue"]).is_err());
    }
}
