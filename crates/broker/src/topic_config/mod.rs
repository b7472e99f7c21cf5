//! Per-topic configs: set when a topic is created (CreateTopics `configs`, `kafka-topics
//! --config`, kafka-python's `NewTopic(topic_configs=...)`, `ringlog topics create --delay`)
//! and changed later (IncrementalAlterConfigs, AlterConfigs: `kafka-configs.sh --alter`).
//!
//! Kafka's topic configs ([`defs::DEFS`]) are checked with Kafka's words and kept; the ones
//! ringlog acts on (retention, segments, cleanup policy and compaction, batch and timestamp
//! bounds, timestamp type, min.insync.replicas) shape the partition logs through
//! [`TopicConfigs::log_config`]. ringlog's own keys (`ringlog.*`) are validated and acted on. An
//! unknown key or a bad value refuses the request with INVALID_CONFIG and Kafka's wording.
//!
//! Catalog form: `key=value` pairs after the topic name, tab-separated (a topic name has no tab;
//! values are escaped so they hold no tab and no newline).

pub mod defs;

use std::collections::BTreeMap;

use crate::error::BrokerError;
use crate::storage::log::LogConfig;

/// Records of this topic may ask for delayed delivery (`ringlog-deliver-at` /
/// `ringlog-delay-ms` headers); only such topics have their records looked into on produce.
pub const DELIVERY_DELAY_ENABLE: &str = "ringlog.delivery.delay.enable";

/// Kafka's topic config (KIP-1191) that lets a topic receive share groups' dead-letter copies.
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

/// Configs of one topic (all default when nothing was set).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopicConfigs {
    /// [`DELIVERY_DELAY_ENABLE`].
    pub delivery_delay: bool,
    /// [`DLQ_GROUP_ENABLE`].
    pub dlq_enable: bool,
    /// [`FILTER_INDEX`].
    pub filter_index: bool,
    /// [`VIEW_SOURCE`] and [`VIEW_FILTER`]: the topic is a view (both are given, or neither).
    pub view: Option<ViewSpec>,
    /// Kafka's topic configs set on this topic (other than [`DLQ_GROUP_ENABLE`]), by name, in
    /// their checked form ([`defs::check`]).
    pub kafka: BTreeMap<String, String>,
}

impl Eq for TopicConfigs {}

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
    /// Set by the operator for the broker (`serve` flag or TOML).
    StaticBroker,
    /// The default.
    Default,
}

impl Source {
    /// Kafka's `ConfigSource` id.
    pub fn id(self) -> i8 {
        match self {
            Source::Topic => 1,        // DYNAMIC_TOPIC_CONFIG
            Source::StaticBroker => 4, // STATIC_BROKER_CONFIG
            Source::Default => 5,      // DEFAULT_CONFIG
        }
    }
}

/// One config as DescribeConfigs and CreateTopics v5+ describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    /// Its name.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// Where the value comes from.
    pub source: Source,
    /// Kafka's `config_type`.
    pub config_type: i8,
    /// The values it would have at each level, most specific first (`include_synonyms`).
    pub synonyms: Vec<(String, String, Source)>,
    /// One line of documentation.
    pub doc: &'static str,
}

/// One change of an IncrementalAlterConfigs request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// Set to this value.
    Set(&'a str),
    /// Back to the default.
    Delete,
    /// Add these items to a list (those not there yet).
    Append(&'a str),
    /// Remove these items from a list.
    Subtract(&'a str),
}

/// Keys that only a topic's creation may set.
const CREATION_ONLY: &[&str] = &[VIEW_SOURCE, VIEW_FILTER, FILTER_INDEX];

/// Why a change was refused: Kafka's error code and message.
pub type Refusal = (i16, String);

impl TopicConfigs {
    /// The configs of a CreateTopics entry for `topic`. A key given twice is refused (Kafka:
    /// INVALID_REQUEST "Duplicate resource config names"; answered INVALID_CONFIG here with the
    /// same words).
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
            let Some(value) = value else {
                return Err(invalid(format!(
                    "Null value not supported for topic configs: {key}"
                )));
            };
            match key {
                VIEW_SOURCE => source = Some(value.to_string()),
                VIEW_FILTER => {
                    crate::view::filter::Filter::parse(value).map_err(|e| {
                        invalid(format!("Invalid value for configuration {key}: {e}"))
                    })?;
                    filter = Some(value.to_string());
                }
                _ => out.set(key, value).map_err(invalid)?,
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
        out.check_view().map_err(invalid)?;
        Ok(out)
    }

    /// A view holds no records of its own: only its definition is set on it.
    fn check_view(&self) -> Result<(), String> {
        if self.view.is_some()
            && (self.delivery_delay
                || self.dlq_enable
                || self.filter_index
                || !self.kafka.is_empty())
        {
            return Err(format!(
                "A view is read-only: {DELIVERY_DELAY_ENABLE}, {DLQ_GROUP_ENABLE}, \
                 {FILTER_INDEX} and Kafka's topic configs apply to its source topic"
            ));
        }
        Ok(())
    }

    /// Sets one config other than a view's definition (checked).
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            DELIVERY_DELAY_ENABLE => self.delivery_delay = parse_bool(key, value)?,
            FILTER_INDEX => self.filter_index = parse_bool(key, value)?,
            DLQ_GROUP_ENABLE => self.dlq_enable = parse_bool(key, value)?,
            _ if key.starts_with(RINGLOG_PREFIX) => {
                return Err(format!("Unknown topic config name: {key}"))
            }
            _ => {
                let def =
                    defs::def(key).ok_or_else(|| format!("Unknown topic config name: {key}"))?;
                let value = defs::check(def, value)?;
                if let Some(why) = defs::refuse(key, &value) {
                    return Err(why);
                }
                self.kafka.insert(key.to_string(), value);
            }
        }
        Ok(())
    }

    /// Back to the default.
    fn unset(&mut self, key: &str) {
        match key {
            DELIVERY_DELAY_ENABLE => self.delivery_delay = false,
            FILTER_INDEX => self.filter_index = false,
            DLQ_GROUP_ENABLE => self.dlq_enable = false,
            _ => {
                self.kafka.remove(key);
            }
        }
    }

    /// The configs after an IncrementalAlterConfigs of this topic (`ops` in request order;
    /// duplicates were refused by the caller), or why not, as Kafka 4.4 answers.
    pub fn altered(
        &self,
        topic: &str,
        ops: &[(&str, Op<'_>)],
        broker: &crate::config::BrokerConfig,
    ) -> Result<TopicConfigs, Refusal> {
        use crate::protocol::error::INVALID_CONFIG;
        let mut out = self.clone();
        for &(key, op) in ops {
            if CREATION_ONLY.contains(&key) {
                return Err((
                    INVALID_CONFIG,
                    format!(
                        "{key} is set when topic {topic} is created and cannot be changed (delete \
                         and create the topic again)"
                    ),
                ));
            }
            let list_op = |value: &str, append: bool| -> Result<String, Refusal> {
                let def = defs::def(key)
                    .ok_or_else(|| (INVALID_CONFIG, format!("Unknown topic config name: {key}")))?;
                if !matches!(def.kind, defs::Kind::ListOf(_) | defs::Kind::Replicas) {
                    let verb = if append { "APPEND to" } else { "SUBTRACT from" };
                    return Err((
                        INVALID_CONFIG,
                        format!("Can't {verb} key {key} because its type is not LIST."),
                    ));
                }
                let current = match out.kafka.get(key) {
                    Some(v) => v.clone(),
                    None => defs::broker_default(key, broker).0,
                };
                let mut items: Vec<&str> = defs::list_items(&current).collect();
                for item in defs::list_items(value) {
                    if append {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    } else {
                        items.retain(|i| *i != item);
                    }
                }
                Ok(items.join(","))
            };
            match op {
                Op::Set(value) => out.set(key, value).map_err(|e| (INVALID_CONFIG, e))?,
                Op::Delete => out.unset(key),
                Op::Append(value) => {
                    let v = list_op(value, true)?;
                    out.set(key, &v).map_err(|e| (INVALID_CONFIG, e))?
                }
                Op::Subtract(value) => {
                    let v = list_op(value, false)?;
                    out.set(key, &v).map_err(|e| (INVALID_CONFIG, e))?
                }
            }
        }
        out.check_view().map_err(|e| (INVALID_CONFIG, e))?;
        Ok(out)
    }

    /// The configs after an AlterConfigs (the legacy API, key 33) of this topic: exactly
    /// `pairs` are set, everything else returns to its default. A view's definition and the
    /// creation-only keys keep their values (giving them again with the same value is fine).
    pub fn replaced(&self, pairs: &[(&str, &str)]) -> Result<TopicConfigs, Refusal> {
        use crate::protocol::error::INVALID_CONFIG;
        let mut out = TopicConfigs {
            view: self.view.clone(),
            filter_index: self.filter_index,
            ..Default::default()
        };
        for &(key, value) in pairs {
            let same = match key {
                VIEW_SOURCE => self.view.as_ref().is_some_and(|v| v.source == value),
                VIEW_FILTER => self.view.as_ref().is_some_and(|v| v.filter == value),
                FILTER_INDEX => parse_bool(key, value).ok() == Some(self.filter_index),
                _ => {
                    out.set(key, value).map_err(|e| (INVALID_CONFIG, e))?;
                    continue;
                }
            };
            if !same {
                return Err((
                    INVALID_CONFIG,
                    format!("{key} is set when a topic is created and cannot be changed"),
                ));
            }
        }
        out.check_view().map_err(|e| (INVALID_CONFIG, e))?;
        Ok(out)
    }

    /// ringlog's own configs with their value and source (CreateTopics v5+ and DescribeConfigs
    /// list them after Kafka's).
    fn describe_own(&self) -> Vec<(&'static str, String, Source)> {
        let source = |set: bool| if set { Source::Topic } else { Source::Default };
        let mut out = vec![
            (
                DELIVERY_DELAY_ENABLE,
                self.delivery_delay.to_string(),
                source(self.delivery_delay),
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

    /// Every config of the topic, Kafka's (sorted by name) then ringlog's, with its effective
    /// value, source and synonyms: what DescribeConfigs and CreateTopics v5+ answer.
    pub fn describe_all(&self, broker: &crate::config::BrokerConfig) -> Vec<Described> {
        let mut out = Vec::with_capacity(defs::DEFS.len() + 4);
        for def in defs::DEFS {
            let (default, operator_set) = defs::broker_default(def.name, broker);
            let default_source = if operator_set {
                Source::StaticBroker
            } else {
                Source::Default
            };
            let set = if def.name == DLQ_GROUP_ENABLE {
                self.dlq_enable.then(|| "true".to_string())
            } else {
                self.kafka.get(def.name).cloned()
            };
            let mut synonyms = Vec::new();
            if let Some(v) = &set {
                synonyms.push((def.name.to_string(), v.clone(), Source::Topic));
            }
            if let Some(broker_name) = def.synonym {
                if operator_set {
                    synonyms.push((broker_name.to_string(), default.clone(), default_source));
                }
                let kafka_default = defs::broker_default(def.name, &Default::default()).0;
                synonyms.push((broker_name.to_string(), kafka_default, Source::Default));
            }
            let (value, source) = match set {
                Some(v) => (v, Source::Topic),
                None => (default, default_source),
            };
            out.push(Described {
                name: def.name,
                value,
                source,
                config_type: defs::config_type(def),
                synonyms,
                doc: def.doc,
            });
        }
        for (name, value, source) in self.describe_own() {
            let mut synonyms = Vec::new();
            if source == Source::Topic {
                synonyms.push((name.to_string(), value.clone(), Source::Topic));
            }
            out.push(Described {
                name,
                value,
                source,
                config_type: if matches!(name, VIEW_SOURCE | VIEW_FILTER) {
                    crate::protocol::messages::CONFIG_TYPE_STRING
                } else {
                    crate::protocol::messages::CONFIG_TYPE_BOOLEAN
                },
                synonyms,
                doc: match name {
                    DELIVERY_DELAY_ENABLE => {
                        "records may ask for delayed delivery with the ringlog-deliver-at or \
                         ringlog-delay-ms header"
                    }
                    FILTER_INDEX => "the broker writes a filter index for views at append time",
                    VIEW_SOURCE => "the topic this view reads",
                    _ => "the filter of this view (SQL92 subset over headers, key and tag)",
                },
            });
        }
        out
    }

    /// A Kafka config's value as set on the topic, parsed (None: not set, or not a number).
    fn num<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.kafka.get(key).and_then(|v| v.parse().ok())
    }

    /// The partition logs' configuration for this topic: `base` (the broker's) with the
    /// topic's overrides of the configs ringlog applies.
    pub fn log_config(&self, base: &LogConfig) -> LogConfig {
        let mut c = base.clone();
        let opt = |v: i64| (v >= 0).then_some(v as u64);
        if let Some(v) = self.num::<i64>(defs::RETENTION_MS) {
            c.retention_ms = opt(v);
        }
        if let Some(v) = self.num::<i64>(defs::RETENTION_BYTES) {
            c.retention_bytes = opt(v);
        }
        if let Some(v) = self.num::<u64>(defs::SEGMENT_BYTES) {
            c.segment_bytes = v;
        }
        if let Some(v) = self.num::<u64>(defs::SEGMENT_MS) {
            c.segment_ms = Some(v);
        }
        if let Some(v) = self.num::<u32>(defs::MAX_MESSAGE_BYTES) {
            c.batch_bytes_max = v;
        }
        if let Some(v) = self.num::<u32>(defs::INDEX_INTERVAL_BYTES) {
            c.index_interval_bytes = v;
        }
        if let Some(v) = self.num::<usize>(defs::MAX_DECOMPRESSED_MESSAGE_BYTES) {
            c.validation.decompressed_bytes_max = v;
        }
        if let Some(v) = self.num::<i64>(defs::TIMESTAMP_BEFORE_MAX_MS) {
            c.validation.timestamp_before_max_ms = v;
        }
        if let Some(v) = self.num::<i64>(defs::TIMESTAMP_AFTER_MAX_MS) {
            c.validation.timestamp_after_max_ms = v;
        }
        if let Some(v) = self.kafka.get(defs::TIMESTAMP_TYPE) {
            c.log_append_time = v == "LogAppendTime";
        }
        if let Some(v) = self.kafka.get(defs::CLEANUP_POLICY) {
            c.cleanup_delete = defs::list_items(v).any(|p| p == "delete");
            c.cleanup_compact = defs::list_items(v).any(|p| p == "compact");
        }
        if let Some(v) = self.num::<u64>(defs::MIN_COMPACTION_LAG_MS) {
            c.min_compaction_lag_ms = v;
        }
        if let Some(v) = self.num::<u64>(defs::MAX_COMPACTION_LAG_MS) {
            c.max_compaction_lag_ms = v;
        }
        if let Some(v) = self.num::<u64>(defs::DELETE_RETENTION_MS) {
            c.delete_retention_ms = v;
        }
        if let Some(v) = self.num::<f64>(defs::MIN_CLEANABLE_DIRTY_RATIO) {
            c.min_cleanable_dirty_ratio = v;
        }
        c
    }

    /// A Kafka config's value set on the topic, else the broker's `--topic-default` for it
    /// (`None`: Kafka's default applies). Two map lookups, no allocation: Produce asks it per
    /// topic of every request.
    fn effective<'a>(
        &'a self,
        key: &str,
        broker: &'a crate::config::BrokerConfig,
    ) -> Option<&'a str> {
        self.kafka
            .get(key)
            .or_else(|| broker.topic_defaults.kafka.get(key))
            .map(String::as_str)
    }

    /// `message.timestamp.type=LogAppendTime` (the topic's, or the broker's default): the
    /// broker stamps appended batches.
    pub fn log_append_time(&self, broker: &crate::config::BrokerConfig) -> bool {
        self.effective(defs::TIMESTAMP_TYPE, broker) == Some("LogAppendTime")
    }

    /// `cleanup.policy` (the topic's or the broker's default) compacts and does not delete:
    /// DeleteRecords is refused on such a topic, as in Kafka.
    pub fn compact_only(&self, broker: &crate::config::BrokerConfig) -> bool {
        let policy = self
            .effective(defs::CLEANUP_POLICY, broker)
            .unwrap_or("delete");
        defs::list_items(policy).any(|p| p == "compact")
            && !defs::list_items(policy).any(|p| p == "delete")
    }

    /// `min.insync.replicas` of the topic (the topic's, or the broker's default, or 1).
    pub fn min_insync_replicas(&self, broker: &crate::config::BrokerConfig) -> i32 {
        self.effective(defs::MIN_INSYNC_REPLICAS, broker)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
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
        for (key, value) in &self.kafka {
            out.push(format!("{key}={}", escape(value)));
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
    fn ringlog_and_kafka_keys_are_parsed_and_checked() {
        let c = TopicConfigs::from_request(
            "t",
            [
                ("retention.ms", Some("1000")),
                (DELIVERY_DELAY_ENABLE, Some("TRUE")),
                ("cleanup.policy", Some("compact, delete")),
            ],
        )
        .expect("valid");
        assert!(c.delivery_delay);
        assert_eq!(c.kafka["retention.ms"], "1000");
        assert_eq!(c.kafka["cleanup.policy"], "compact,delete");
        assert_eq!(
            TopicConfigs::from_request("t", []).unwrap(),
            TopicConfigs::default()
        );
        let refused = |pairs: Vec<(&str, Option<&str>)>| {
            TopicConfigs::from_request("t", pairs)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            refused(vec![("nope", Some("1"))]),
            "Unknown topic config name: nope"
        );
        assert!(refused(vec![("cleanup.policy", None)]).contains("Null value"));
        assert!(refused(vec![("retention.ms", Some("x"))]).contains("Not a number of type LONG"));
        assert!(refused(vec![("compression.type", Some("gzip"))]).contains("only producer"));
    }

    #[test]
    fn kafka_configs_shape_the_partition_logs() {
        let c = TopicConfigs::from_request(
            "t",
            [
                ("retention.ms", Some("-1")),
                ("retention.bytes", Some("5000000")),
                ("segment.bytes", Some("1048576")),
                ("segment.ms", Some("60000")),
                ("max.message.bytes", Some("2000")),
                ("cleanup.policy", Some("compact")),
                ("min.compaction.lag.ms", Some("10")),
                ("max.compaction.lag.ms", Some("20")),
                ("delete.retention.ms", Some("30")),
                ("min.cleanable.dirty.ratio", Some("0.1")),
                ("message.timestamp.type", Some("LogAppendTime")),
                ("message.timestamp.before.max.ms", Some("40")),
                ("message.timestamp.after.max.ms", Some("50")),
                ("index.interval.bytes", Some("128")),
                ("max.decompressed.message.bytes", Some("4096")),
                ("preallocate", Some("true")),
            ],
        )
        .expect("valid");
        let base = LogConfig {
            retention_ms: Some(7),
            ..LogConfig::default()
        };
        let l = c.log_config(&base);
        assert_eq!(l.retention_ms, None);
        assert_eq!(l.retention_bytes, Some(5_000_000));
        assert_eq!(l.segment_bytes, 1 << 20);
        assert_eq!(l.segment_ms, Some(60_000));
        assert_eq!(l.batch_bytes_max, 2000);
        assert!(l.cleanup_compact && !l.cleanup_delete);
        assert_eq!(
            (
                l.min_compaction_lag_ms,
                l.max_compaction_lag_ms,
                l.delete_retention_ms
            ),
            (10, 20, 30)
        );
        assert_eq!(l.min_cleanable_dirty_ratio, 0.1);
        assert!(l.log_append_time);
        assert_eq!(l.validation.timestamp_before_max_ms, 40);
        assert_eq!(l.validation.timestamp_after_max_ms, 50);
        assert_eq!(l.index_interval_bytes, 128);
        assert_eq!(l.validation.decompressed_bytes_max, 4096);
        l.validate().expect("a valid log config");
        // Unset configs keep the broker's.
        let plain = TopicConfigs::default().log_config(&base);
        assert_eq!(plain.retention_ms, Some(7));
        assert!(plain.cleanup_delete && !plain.cleanup_compact && !plain.log_append_time);
        // An empty cleanup.policy: neither deletion nor compaction.
        let none = TopicConfigs::from_request("t", [("cleanup.policy", Some(""))]).unwrap();
        let l = none.log_config(&base);
        assert!(!l.cleanup_delete && !l.cleanup_compact);
    }

    #[test]
    fn produce_settings_come_from_the_topic_then_the_broker_default() {
        let mut broker = crate::config::BrokerConfig::default();
        let plain = TopicConfigs::default();
        assert!(!plain.log_append_time(&broker) && !plain.compact_only(&broker));
        assert_eq!(plain.min_insync_replicas(&broker), 1);
        broker.topic_defaults = TopicConfigs::from_request(
            "(topic-default)",
            [
                ("message.timestamp.type", Some("LogAppendTime")),
                ("min.insync.replicas", Some("2")),
                ("cleanup.policy", Some("compact")),
            ],
        )
        .unwrap();
        assert!(plain.log_append_time(&broker) && plain.compact_only(&broker));
        assert_eq!(plain.min_insync_replicas(&broker), 2);
        let own = TopicConfigs::from_request(
            "t",
            [
                ("message.timestamp.type", Some("CreateTime")),
                ("min.insync.replicas", Some("3")),
                ("cleanup.policy", Some("compact,delete")),
            ],
        )
        .unwrap();
        assert!(!own.log_append_time(&broker) && !own.compact_only(&broker));
        assert_eq!(own.min_insync_replicas(&broker), 3);
    }

    #[test]
    fn incremental_changes_follow_kafka() {
        let broker = crate::config::BrokerConfig::default();
        let c = TopicConfigs::from_request("t", [("retention.ms", Some("1000"))]).unwrap();
        let a = c
            .altered(
                "t",
                &[
                    ("retention.ms", Op::Delete),
                    ("segment.ms", Op::Set("5000")),
                    ("cleanup.policy", Op::Append("compact")),
                    ("nope.y", Op::Delete),
                    (DELIVERY_DELAY_ENABLE, Op::Set("true")),
                ],
                &broker,
            )
            .expect("valid");
        assert!(!a.kafka.contains_key("retention.ms"));
        assert_eq!(a.kafka["segment.ms"], "5000");
        // APPEND starts from the default (delete).
        assert_eq!(a.kafka["cleanup.policy"], "delete,compact");
        assert!(a.delivery_delay);
        let b = a
            .altered("t", &[("cleanup.policy", Op::Subtract("delete"))], &broker)
            .unwrap();
        assert_eq!(b.kafka["cleanup.policy"], "compact");
        let refused = |ops: &[(&str, Op<'_>)]| a.altered("t", ops, &broker).expect_err("refused");
        assert_eq!(
            refused(&[("retention.ms", Op::Append("5"))]).1,
            "Can't APPEND to key retention.ms because its type is not LIST."
        );
        assert_eq!(
            refused(&[("nope.x", Op::Set("1"))]).1,
            "Unknown topic config name: nope.x"
        );
        assert!(refused(&[(FILTER_INDEX, Op::Set("true"))])
            .1
            .contains("cannot be changed"));
        assert!(refused(&[("segment.bytes", Op::Set("100"))])
            .1
            .contains("Value must be at least 1048576"));
    }

    #[test]
    fn alter_configs_replaces_everything_but_what_creation_fixed() {
        let c = TopicConfigs::from_request(
            "t",
            [
                ("retention.ms", Some("1000")),
                (FILTER_INDEX, Some("true")),
                (DELIVERY_DELAY_ENABLE, Some("true")),
            ],
        )
        .unwrap();
        let r = c.replaced(&[("segment.ms", "5000")]).unwrap();
        assert_eq!(r.kafka.len(), 1);
        assert_eq!(r.kafka["segment.ms"], "5000");
        assert!(r.filter_index && !r.delivery_delay);
        assert!(c.replaced(&[(FILTER_INDEX, "true")]).is_ok());
        assert!(c.replaced(&[(FILTER_INDEX, "false")]).is_err());
    }

    #[test]
    fn describe_all_lists_every_config_with_its_source_and_synonyms() {
        let broker = crate::config::BrokerConfig {
            retention_ms: Some(3_600_000),
            ..Default::default()
        };
        let c = TopicConfigs::from_request("t", [("segment.ms", Some("5000"))]).unwrap();
        let all = c.describe_all(&broker);
        assert_eq!(all.len(), defs::DEFS.len() + 2);
        let get = |n: &str| all.iter().find(|d| d.name == n).expect(n).clone();
        let seg = get("segment.ms");
        assert_eq!((seg.value.as_str(), seg.source), ("5000", Source::Topic));
        let ret = get("retention.ms");
        assert_eq!(
            (ret.value.as_str(), ret.source),
            ("3600000", Source::StaticBroker)
        );
        assert_eq!(
            ret.synonyms,
            vec![
                (
                    "log.retention.ms".to_string(),
                    "3600000".to_string(),
                    Source::StaticBroker
                ),
                (
                    "log.retention.ms".to_string(),
                    "-1".to_string(),
                    Source::Default
                ),
            ]
        );
        let policy = get("cleanup.policy");
        assert_eq!(
            (policy.value.as_str(), policy.source),
            ("delete", Source::Default)
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
                kafka: [("retention.ms", "5"), ("cleanup.policy", "compact,delete")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
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
