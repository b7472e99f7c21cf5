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

/// A view's source topic (issue #17): the topic is a read-only filtered view of that topic.
pub const VIEW_SOURCE: &str = "ringlog.view.source";

/// A view's filter (issue #17, the language of [`crate::view::filter`]).
pub const VIEW_FILTER: &str = "ringlog.view.filter";

/// The broker writes a filter index for this topic at append time even without views (it
/// always does for a topic that has views).
pub const FILTER_INDEX: &str = "ringlog.filter.index";

/// Prefix of ringlog's own topic configs.
pub const RINGLOG_PREFIX: &str = "ringlog.";

/// The configs of one topic that ringlog acts on (all default when nothing was set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicConfigs {
    /// [`DELIVERY_DELAY_ENABLE`].
    pub delivery_delay: bool,
    /// [`DLQ_GROUP_ENABLE`].
    pub dlq_enable: bool,
    /// [`FILTER_INDEX`].
    pub filter_index: bool,
    /// [`VIEW_SOURCE`] and [`VIEW_FILTER`]: the topic is a view (both are given, or neither).
    pub view: Option<ViewSpec>,
}

/// What defines a view: its source topic and its filter's text (parsed where it is used; the
/// text was checked to parse when the view was created).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewSpec {
    /// The source topic.
    pub source: String,
    /// The filter, as given.
    pub filter: String,
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
        let (mut source, mut filter) = (None, None);
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
                FILTER_INDEX => out.filter_index = parse_bool(key, value).map_err(invalid)?,
                VIEW_SOURCE => source = Some(value.to_string()),
                VIEW_FILTER => {
                    crate::view::filter::Filter::parse(value).map_err(|e| {
                        invalid(format!("Invalid value for configuration {key}: {e}"))
                    })?;
                    filter = Some(value.to_string());
                }
                _ => return Err(invalid(format!("Unknown topic config name: {key}"))),
            }
        }
        out.view = match (source, filter) {
            (Some(source), Some(filter)) => Some(ViewSpec { source, filter }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(format!(
                    "A view needs a filter: {VIEW_SOURCE} is set, {VIEW_FILTER} is not"
                )))
            }
            (None, Some(_)) => {
                return Err(invalid(format!(
                    "A view needs a source topic: {VIEW_FILTER} is set, {VIEW_SOURCE} is not"
                )))
            }
        };
        if out.view.is_some() && (out.delivery_delay || out.dlq_enable || out.filter_index) {
            return Err(invalid(format!(
                "A view is read-only: {DELIVERY_DELAY_ENABLE}, {DLQ_GROUP_ENABLE} and \
                 {FILTER_INDEX} apply to its source topic"
            )));
        }
        Ok(out)
    }

    /// Every config ringlog acts on with its value and source (CreateTopics v5+ `configs`).
    pub fn describe(&self) -> Vec<(&'static str, String, Source)> {
        let source = |set: bool| if set { Source::Topic } else { Source::Default };
        let mut out = vec![
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
            (
                FILTER_INDEX,
                self.filter_index.to_string(),
                source(self.filter_index),
            ),
        ];
        if let Some(view) = &self.view {
            out.push((VIEW_SOURCE, view.source.clone(), Source::Topic));
            out.push((VIEW_FILTER, view.filter.clone(), Source::Topic));
        }
        out
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
        if self.filter_index {
            out.push(format!("{FILTER_INDEX}=true"));
        }
        if let Some(view) = &self.view {
            out.push(format!("{VIEW_SOURCE}={}", escape(&view.source)));
            out.push(format!("{VIEW_FILTER}={}", escape(&view.filter)));
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
            pairs.push((key, unescape(value)?));
        }
        TopicConfigs::from_request(
            "(catalog)",
            pairs.iter().map(|(k, v)| (*k, Some(v.as_str()))),
        )
        .map_err(|e| e.to_string())
    }
}

/// A value in the catalog form: backslash, tab, newline and carriage return escaped (a filter
/// may hold them; the catalog separates words with tabs and topics with newlines).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`].
fn unescape(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            other => return Err(format!("bad escape \\{other:?} in config value {value:?}")),
        });
    }
    Ok(out)
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
                ..Default::default()
            },
            TopicConfigs {
                delivery_delay: true,
                dlq_enable: true,
                filter_index: true,
                view: None,
            },
            TopicConfigs {
                view: Some(ViewSpec {
                    source: "orders".to_string(),
                    filter: "tag = 'a\tb\\c'\nAND\r\nx = '='".to_string(),
                }),
                ..Default::default()
            },
        ] {
            let words = c.to_catalog();
            let back = TopicConfigs::from_catalog(words.iter().map(String::as_str)).unwrap();
            assert_eq!(back, c);
        }
        assert!(TopicConfigs::from_catalog(["novalue"]).is_err());
        assert!(TopicConfigs::from_catalog(["ringlog.view.filter=a\\q"]).is_err());
    }

    #[test]
    fn a_view_needs_source_and_filter_and_a_parsable_filter() {
        let view = TopicConfigs::from_request(
            "v",
            [
                (VIEW_SOURCE, Some("orders")),
                (VIEW_FILTER, Some("tag = 'red'")),
            ],
        )
        .expect("a view");
        assert_eq!(
            view.view,
            Some(ViewSpec {
                source: "orders".to_string(),
                filter: "tag = 'red'".to_string()
            })
        );
        let refused = |pairs: Vec<(&str, Option<&str>)>| {
            TopicConfigs::from_request("v", pairs)
                .expect_err("refused")
                .to_string()
        };
        assert!(refused(vec![(VIEW_SOURCE, Some("orders"))]).contains("needs a filter"));
        assert!(refused(vec![(VIEW_FILTER, Some("tag = 'red'"))]).contains("needs a source"));
        assert!(refused(vec![
            (VIEW_SOURCE, Some("orders")),
            (VIEW_FILTER, Some("tag = "))
        ])
        .contains("position"));
        assert!(refused(vec![
            (VIEW_SOURCE, Some("orders")),
            (VIEW_FILTER, Some("tag = 'red'")),
            (FILTER_INDEX, Some("true"))
        ])
        .contains("read-only"));
    }
}
