//! Kafka 4.4's topic configs: every name `kafka-configs.sh --describe --all` lists for a topic,
//! with its type, bounds, default and broker-wide synonym, checked with the words Kafka's
//! validators use (measured against the 4.4 broker), and whether ringlog acts on it.
//!
//! A config ringlog acts on changes the partition logs ([`super::TopicConfigs::log_config`]).
//! The others are kept and described so tools that set them (Streams, Connect, Terraform
//! providers) work, and have no effect on one broker without replication or tiered storage:
//! their documentation line says so. Two are refused because ringlog cannot honour them:
//! `remote.storage.enable=true` (no tiered storage, Kafka's own message) and a
//! `compression.type` other than `producer` (ringlog stores batches as the producer compressed
//! them: recompressing on the broker would take the batches off the zero-copy path).

use crate::config::BrokerConfig;

/// How a value is checked and typed (DescribeConfigs' `config_type`). `min` and `max` are
/// inclusive bounds.
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)]
pub enum Kind {
    /// A 64-bit integer within `[min, max]`.
    Long { min: i64, max: i64 },
    /// A 32-bit integer within `[min, max]`.
    Int { min: i64, max: i64 },
    /// A floating-point number within `[min, max]`.
    Double { min: f64, max: f64 },
    /// `true` or `false`, any case.
    Bool,
    /// One of these strings, case-sensitive.
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose items are each one of these (empty allowed).
    ListOf(&'static [&'static str]),
    /// Kafka's throttled-replicas list: `*` or `partition:broker` pairs (empty allowed).
    Replicas,
    /// Kafka's gzip level: -1 or 1..=9.
    GzipLevel,
}

/// What ringlog does with a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Acted on: the partition logs (or the broker's handling of the topic) follow it.
    Applied,
    /// Kept and described; nothing to do on one broker (the reason is in the documentation).
    Kept,
}

/// One topic config.
#[derive(Clone, Copy, Debug)]
pub struct Def {
    /// Its name.
    pub name: &'static str,
    /// Type and bounds.
    pub kind: Kind,
    /// The broker config that sets its default (DescribeConfigs synonyms), if any.
    pub synonym: Option<&'static str>,
    /// Applied or only kept.
    pub effect: Effect,
    /// One line for `include_documentation` (ringlog's own words).
    pub doc: &'static str,
}

const L: i64 = i64::MAX;
const I: i64 = i32::MAX as i64;

/// `cleanup.policy`.
pub const CLEANUP_POLICY: &str = "cleanup.policy";
/// `compression.type`.
pub const COMPRESSION_TYPE: &str = "compression.type";
/// `delete.retention.ms`.
pub const DELETE_RETENTION_MS: &str = "delete.retention.ms";
/// `index.interval.bytes`.
pub const INDEX_INTERVAL_BYTES: &str = "index.interval.bytes";
/// `max.compaction.lag.ms`.
pub const MAX_COMPACTION_LAG_MS: &str = "max.compaction.lag.ms";
/// `max.decompressed.message.bytes`.
pub const MAX_DECOMPRESSED_MESSAGE_BYTES: &str = "max.decompressed.message.bytes";
/// `max.message.bytes`.
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
/// `message.timestamp.after.max.ms`.
pub const TIMESTAMP_AFTER_MAX_MS: &str = "message.timestamp.after.max.ms";
/// `message.timestamp.before.max.ms`.
pub const TIMESTAMP_BEFORE_MAX_MS: &str = "message.timestamp.before.max.ms";
/// `message.timestamp.type`.
pub const TIMESTAMP_TYPE: &str = "message.timestamp.type";
/// `min.cleanable.dirty.ratio`.
pub const MIN_CLEANABLE_DIRTY_RATIO: &str = "min.cleanable.dirty.ratio";
/// `min.compaction.lag.ms`.
pub const MIN_COMPACTION_LAG_MS: &str = "min.compaction.lag.ms";
/// `min.insync.replicas`.
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
/// `remote.storage.enable`.
pub const REMOTE_STORAGE_ENABLE: &str = "remote.storage.enable";
/// `retention.bytes`.
pub const RETENTION_BYTES: &str = "retention.bytes";
/// `retention.ms`.
pub const RETENTION_MS: &str = "retention.ms";
/// `segment.bytes`.
pub const SEGMENT_BYTES: &str = "segment.bytes";
/// `segment.ms`.
pub const SEGMENT_MS: &str = "segment.ms";

/// Kafka's smallest `segment.bytes` for a topic (1 MiB). The broker's own `--segment-bytes`
/// may be smaller (tests roll segments quickly with it).
pub const SEGMENT_BYTES_MIN: i64 = 1 << 20;

const POLICIES: &[&str] = &["compact", "delete"];
const CODECS: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

const ONE_BROKER: &str = "kept, no effect on one broker without replication";
const NO_TIERED: &str = "tiered storage; kept, no effect: ringlog has none";

/// Every Kafka topic config, by name.
pub const DEFS: &[Def] = &[
    Def {
        name: CLEANUP_POLICY,
        kind: Kind::ListOf(POLICIES),
        synonym: Some("log.cleanup.policy"),
        effect: Effect::Applied,
        doc: "delete: old segments go by retention.ms/retention.bytes; compact: the cleaner keeps \
              the latest record per key; both: both; empty: neither",
    },
    Def {
        name: "compression.gzip.level",
        kind: Kind::GzipLevel,
        synonym: Some("compression.gzip.level"),
        effect: Effect::Kept,
        doc: "gzip level for broker recompression; kept, no effect: ringlog stores batches as \
              the producer compressed them",
    },
    Def {
        name: "compression.lz4.level",
        kind: Kind::Int { min: 1, max: 17 },
        synonym: Some("compression.lz4.level"),
        effect: Effect::Kept,
        doc: "lz4 level for broker recompression; kept, no effect: ringlog stores batches as \
              the producer compressed them",
    },
    Def {
        name: COMPRESSION_TYPE,
        kind: Kind::OneOf(CODECS),
        synonym: Some("compression.type"),
        effect: Effect::Applied,
        doc: "only producer: batches are stored as the producer compressed them (zero-copy \
              fetches); other codecs are refused",
    },
    Def {
        name: "compression.zstd.level",
        kind: Kind::Int {
            min: -131_072,
            max: 22,
        },
        synonym: Some("compression.zstd.level"),
        effect: Effect::Kept,
        doc: "zstd level for broker recompression; kept, no effect: ringlog stores batches as \
              the producer compressed them",
    },
    Def {
        name: DELETE_RETENTION_MS,
        kind: Kind::Long { min: 0, max: L },
        synonym: Some("log.cleaner.delete.retention.ms"),
        effect: Effect::Applied,
        doc: "how long the cleaner keeps a tombstone (a record with a null value) of a compacted \
              topic",
    },
    Def {
        name: crate::topic_config::DLQ_GROUP_ENABLE,
        kind: Kind::Bool,
        synonym: None,
        effect: Effect::Applied,
        doc: "share groups may write their dead-letter records to this topic (KIP-1191)",
    },
    Def {
        name: "file.delete.delay.ms",
        kind: Kind::Long { min: 0, max: L },
        synonym: Some("log.segment.delete.delay.ms"),
        effect: Effect::Kept,
        doc: "kept, no effect: a deleted segment goes at once, open readers keep their file",
    },
    Def {
        name: "flush.messages",
        kind: Kind::Long { min: 1, max: L },
        synonym: Some("log.flush.interval.messages"),
        effect: Effect::Kept,
        doc: "kept, no effect: when appends are fdatasynced is the broker's --flush policy",
    },
    Def {
        name: "flush.ms",
        kind: Kind::Long { min: 0, max: L },
        synonym: None,
        effect: Effect::Kept,
        doc: "kept, no effect: when appends are fdatasynced is the broker's --flush policy",
    },
    Def {
        name: "follower.replication.throttled.replicas",
        kind: Kind::Replicas,
        synonym: None,
        effect: Effect::Kept,
        doc: "replicas throttled as followers; kept, no effect on one broker without replication",
    },
    Def {
        name: INDEX_INTERVAL_BYTES,
        kind: Kind::Int { min: 0, max: I },
        synonym: Some("log.index.interval.bytes"),
        effect: Effect::Applied,
        doc: "bytes of log between two offset index entries",
    },
    Def {
        name: "leader.replication.throttled.replicas",
        kind: Kind::Replicas,
        synonym: None,
        effect: Effect::Kept,
        doc: "replicas throttled as leaders; kept, no effect on one broker without replication",
    },
    Def {
        name: "local.retention.bytes",
        kind: Kind::Long { min: -2, max: L },
        synonym: Some("log.local.retention.bytes"),
        effect: Effect::Kept,
        doc: "local part of a tiered topic's retention by size; kept, no effect: ringlog has no \
              tiered storage",
    },
    Def {
        name: "local.retention.ms",
        kind: Kind::Long { min: -2, max: L },
        synonym: Some("log.local.retention.ms"),
        effect: Effect::Kept,
        doc: "local part of a tiered topic's retention by age; kept, no effect: ringlog has no \
              tiered storage",
    },
    Def {
        name: MAX_COMPACTION_LAG_MS,
        kind: Kind::Long { min: 1, max: L },
        synonym: Some("log.cleaner.max.compaction.lag.ms"),
        effect: Effect::Applied,
        doc: "a record older than this is compacted whatever the dirty ratio",
    },
    Def {
        name: MAX_DECOMPRESSED_MESSAGE_BYTES,
        kind: Kind::Int { min: 1, max: I },
        synonym: Some("max.decompressed.message.bytes"),
        effect: Effect::Applied,
        doc: "largest decompressed records region of one batch; larger batches are refused",
    },
    Def {
        name: MAX_MESSAGE_BYTES,
        kind: Kind::Int { min: 0, max: I },
        synonym: Some("message.max.bytes"),
        effect: Effect::Applied,
        doc: "largest record batch accepted (MESSAGE_TOO_LARGE above)",
    },
    Def {
        name: TIMESTAMP_AFTER_MAX_MS,
        kind: Kind::Long { min: 0, max: L },
        synonym: Some("log.message.timestamp.after.max.ms"),
        effect: Effect::Applied,
        doc: "how far ahead of the broker's clock a CreateTime timestamp may be",
    },
    Def {
        name: TIMESTAMP_BEFORE_MAX_MS,
        kind: Kind::Long { min: 0, max: L },
        synonym: Some("log.message.timestamp.before.max.ms"),
        effect: Effect::Applied,
        doc: "how far behind the broker's clock a CreateTime timestamp may be",
    },
    Def {
        name: TIMESTAMP_TYPE,
        kind: Kind::OneOf(TIMESTAMP_TYPES),
        synonym: Some("log.message.timestamp.type"),
        effect: Effect::Applied,
        doc: "CreateTime: the producer's timestamps; LogAppendTime: the broker stamps each batch \
              with its clock when it appends it",
    },
    Def {
        name: MIN_CLEANABLE_DIRTY_RATIO,
        kind: Kind::Double { min: 0.0, max: 1.0 },
        synonym: Some("log.cleaner.min.cleanable.ratio"),
        effect: Effect::Applied,
        doc: "the cleaner compacts a log once this share of it is uncleaned",
    },
    Def {
        name: MIN_COMPACTION_LAG_MS,
        kind: Kind::Long { min: 0, max: L },
        synonym: Some("log.cleaner.min.compaction.lag.ms"),
        effect: Effect::Applied,
        doc: "a record stays uncompacted at least this long",
    },
    Def {
        name: MIN_INSYNC_REPLICAS,
        kind: Kind::Int { min: 1, max: I },
        synonym: Some("min.insync.replicas"),
        effect: Effect::Applied,
        doc: "acks=all produce needs this many in-sync replicas: above 1, one broker answers \
              NOT_ENOUGH_REPLICAS",
    },
    Def {
        name: "preallocate",
        kind: Kind::Bool,
        synonym: Some("log.preallocate"),
        effect: Effect::Kept,
        doc: "kept, no effect: segment files grow as they are written",
    },
    Def {
        name: "remote.copy.lag.bytes",
        kind: Kind::Long { min: -1, max: L },
        synonym: Some("log.remote.copy.lag.bytes"),
        effect: Effect::Kept,
        doc: NO_TIERED,
    },
    Def {
        name: "remote.copy.lag.ms",
        kind: Kind::Long { min: -1, max: L },
        synonym: Some("log.remote.copy.lag.ms"),
        effect: Effect::Kept,
        doc: NO_TIERED,
    },
    Def {
        name: "remote.log.copy.disable",
        kind: Kind::Bool,
        synonym: None,
        effect: Effect::Kept,
        doc: NO_TIERED,
    },
    Def {
        name: "remote.log.delete.on.disable",
        kind: Kind::Bool,
        synonym: None,
        effect: Effect::Kept,
        doc: NO_TIERED,
    },
    Def {
        name: REMOTE_STORAGE_ENABLE,
        kind: Kind::Bool,
        synonym: None,
        effect: Effect::Applied,
        doc: "tiered storage; only false: ringlog has none",
    },
    Def {
        name: RETENTION_BYTES,
        kind: Kind::Long {
            min: i64::MIN,
            max: L,
        },
        synonym: Some("log.retention.bytes"),
        effect: Effect::Applied,
        doc: "delete the oldest segments while the partition holds more than this (-1: no \
              bound)",
    },
    Def {
        name: RETENTION_MS,
        kind: Kind::Long { min: -1, max: L },
        synonym: Some("log.retention.ms"),
        effect: Effect::Applied,
        doc: "delete segments whose newest record is older than this (-1: keep forever)",
    },
    Def {
        name: SEGMENT_BYTES,
        kind: Kind::Int {
            min: SEGMENT_BYTES_MIN,
            max: I,
        },
        synonym: Some("log.segment.bytes"),
        effect: Effect::Applied,
        doc: "roll the active segment before it grows past this",
    },
    Def {
        name: "segment.index.bytes",
        kind: Kind::Int { min: 4, max: I },
        synonym: Some("log.index.size.max.bytes"),
        effect: Effect::Kept,
        doc: "kept, no effect: ringlog's offset index grows with its segment",
    },
    Def {
        name: "segment.jitter.ms",
        kind: Kind::Long { min: 0, max: L },
        synonym: None,
        effect: Effect::Kept,
        doc: "kept, no effect: segments roll at segment.ms",
    },
    Def {
        name: SEGMENT_MS,
        kind: Kind::Long { min: 1, max: L },
        synonym: None,
        effect: Effect::Applied,
        doc: "roll the active segment once it is this old",
    },
    Def {
        name: "unclean.leader.election.enable",
        kind: Kind::Bool,
        synonym: Some("unclean.leader.election.enable"),
        effect: Effect::Kept,
        doc: ONE_BROKER,
    },
];

/// The definition of `name`, if Kafka has such a topic config.
pub fn def(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name == name)
}

/// Checks `value` for `def` and returns it in its stored form (trimmed), or Kafka's words for
/// why not.
pub fn check(def: &Def, value: &str) -> Result<String, String> {
    let v = value.trim();
    let invalid = |why: String| format!("Invalid value {v} for configuration {}: {why}", def.name);
    let bounded = |n: i64, min: i64, max: i64| {
        if n < min {
            Err(invalid(format!("Value must be at least {min}")))
        } else if n > max {
            Err(invalid(format!("Value must be no more than {max}")))
        } else {
            Ok(n.to_string())
        }
    };
    match def.kind {
        Kind::Long { min, max } => {
            let n: i64 = v
                .parse()
                .map_err(|_| invalid("Not a number of type LONG".to_string()))?;
            bounded(n, min, max)
        }
        Kind::Int { min, max } => {
            let n: i32 = v
                .parse()
                .map_err(|_| invalid("Not a number of type INT".to_string()))?;
            bounded(i64::from(n), min, max)
        }
        Kind::Double { min, max } => {
            let n: f64 = v
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| invalid("Not a number of type DOUBLE".to_string()))?;
            if n < min {
                Err(format!(
                    "Invalid value {n:?} for configuration {}: Value must be at least {min}",
                    def.name
                ))
            } else if n > max {
                Err(format!(
                    "Invalid value {n:?} for configuration {}: Value must be no more than {max}",
                    def.name
                ))
            } else {
                Ok(v.to_string())
            }
        }
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" => Ok("true".to_string()),
            "false" => Ok("false".to_string()),
            _ => Err(invalid(
                "Expected value to be either true or false".to_string(),
            )),
        },
        Kind::OneOf(allowed) => {
            if allowed.contains(&v) {
                Ok(v.to_string())
            } else {
                Err(invalid(format!(
                    "String must be one of: {}",
                    allowed.join(", ")
                )))
            }
        }
        Kind::ListOf(allowed) => {
            for item in list_items(v) {
                if !allowed.contains(&item) {
                    return Err(format!(
                        "Invalid value {item} for configuration {}: String must be one of: {}",
                        def.name,
                        allowed.join(", ")
                    ));
                }
            }
            Ok(list_items(v).collect::<Vec<_>>().join(","))
        }
        Kind::Replicas => {
            let items: Vec<&str> = list_items(v).collect();
            let ok = items == ["*"]
                || items.iter().all(|i| {
                    i.split_once(':').is_some_and(|(p, b)| {
                        p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
                    })
                });
            if ok {
                Ok(items.join(","))
            } else {
                Err(format!(
                    "Invalid value [{}] for configuration {}: {} must be the literal '*' or a \
                     list of replicas in the following format: \
                     [partitionId]:[brokerId],[partitionId]:[brokerId],...",
                    items.join(", "),
                    def.name,
                    def.name
                ))
            }
        }
        Kind::GzipLevel => {
            let n: i32 = v
                .parse()
                .map_err(|_| invalid("Not a number of type INT".to_string()))?;
            if n == -1 || (1..=9).contains(&n) {
                Ok(n.to_string())
            } else {
                Err(invalid(
                    "Value must be between 1 and 9 or equal to -1".to_string(),
                ))
            }
        }
    }
}

/// The items of a list value: comma-separated, trimmed, empty ones dropped.
pub fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Refusals beyond the type check: what ringlog cannot honour.
pub fn refuse(name: &str, value: &str) -> Option<String> {
    match name {
        REMOTE_STORAGE_ENABLE if value == "true" => Some(
            "Tiered Storage functionality is disabled in the broker. Topic cannot be configured \
             with remote log storage."
                .to_string(),
        ),
        COMPRESSION_TYPE if value != "producer" => Some(format!(
            "Invalid value {value} for configuration {COMPRESSION_TYPE}: ringlog keeps batches \
             as the producer compressed them (only producer is supported)"
        )),
        _ => None,
    }
}

/// The broker-wide value of a topic config (what a topic that does not set it gets), and
/// whether an operator set it (`serve` flag or TOML: STATIC_BROKER_CONFIG) or it is ringlog's
/// default (DEFAULT_CONFIG).
pub fn broker_default(name: &str, broker: &BrokerConfig) -> (String, bool) {
    use crate::storage::log as slog;
    if let Some(v) = broker.topic_defaults.kafka.get(name) {
        return (v.clone(), true);
    }
    if name == crate::topic_config::DLQ_GROUP_ENABLE && broker.topic_defaults.dlq_enable {
        return ("true".to_string(), true);
    }
    let opt_ms = |v: Option<u64>| v.map_or(-1, |v| v.min(L as u64) as i64).to_string();
    match name {
        RETENTION_MS => (opt_ms(broker.retention_ms), broker.retention_ms.is_some()),
        RETENTION_BYTES => (
            opt_ms(broker.retention_bytes),
            broker.retention_bytes.is_some(),
        ),
        SEGMENT_BYTES => (
            broker.segment_bytes.to_string(),
            broker.segment_bytes != slog::SEGMENT_BYTES_DEFAULT,
        ),
        SEGMENT_MS => (slog::SEGMENT_MS_DEFAULT.to_string(), false),
        MAX_MESSAGE_BYTES => (slog::BATCH_BYTES_MAX_DEFAULT.to_string(), false),
        INDEX_INTERVAL_BYTES => (slog::INDEX_INTERVAL_BYTES_DEFAULT.to_string(), false),
        MAX_DECOMPRESSED_MESSAGE_BYTES => (
            crate::storage::validate::DECOMPRESSED_BYTES_MAX_DEFAULT.to_string(),
            false,
        ),
        TIMESTAMP_BEFORE_MAX_MS => (
            broker.message_timestamp_before_max_ms.to_string(),
            broker.message_timestamp_before_max_ms != i64::MAX,
        ),
        TIMESTAMP_AFTER_MAX_MS => (
            broker.message_timestamp_after_max_ms.to_string(),
            broker.message_timestamp_after_max_ms
                != crate::config::MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT,
        ),
        _ => (kafka_default(name).to_string(), false),
    }
}

/// Kafka 4.4's default of a topic config ringlog has no broker setting for.
fn kafka_default(name: &str) -> &'static str {
    match name {
        CLEANUP_POLICY => "delete",
        "compression.gzip.level" => "-1",
        "compression.lz4.level" => "9",
        COMPRESSION_TYPE => "producer",
        "compression.zstd.level" => "3",
        DELETE_RETENTION_MS => "86400000",
        "file.delete.delay.ms" => "60000",
        "flush.messages" | "flush.ms" | MAX_COMPACTION_LAG_MS => "9223372036854775807",
        "local.retention.bytes" | "local.retention.ms" => "-2",
        TIMESTAMP_TYPE => "CreateTime",
        MIN_CLEANABLE_DIRTY_RATIO => "0.5",
        MIN_COMPACTION_LAG_MS => "0",
        MIN_INSYNC_REPLICAS => "1",
        "remote.copy.lag.bytes" => "-1",
        "remote.copy.lag.ms" => "0",
        "segment.index.bytes" => "10485760",
        "segment.jitter.ms" => "0",
        "follower.replication.throttled.replicas" | "leader.replication.throttled.replicas" => "",
        _ => "false",
    }
}

/// DescribeConfigs' `config_type` of a definition.
pub fn config_type(def: &Def) -> i8 {
    use crate::protocol::messages as m;
    match def.kind {
        Kind::Long { .. } => m::CONFIG_TYPE_LONG,
        Kind::Int { .. } | Kind::GzipLevel => m::CONFIG_TYPE_INT,
        Kind::Double { .. } => m::CONFIG_TYPE_DOUBLE,
        Kind::Bool => m::CONFIG_TYPE_BOOLEAN,
        Kind::OneOf(_) => m::CONFIG_TYPE_STRING,
        Kind::ListOf(_) | Kind::Replicas => m::CONFIG_TYPE_LIST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(name: &str, value: &str) -> Result<String, String> {
        check(def(name).expect("known"), value)
    }

    #[test]
    fn values_are_checked_with_kafkas_words() {
        // Each expectation is what Kafka 4.4 answered IncrementalAlterConfigs.
        let cases = [
            (
                "retention.ms",
                "abc",
                "Invalid value abc for configuration retention.ms: Not a number of type LONG",
            ),
            (
                "retention.ms",
                "-5",
                "Invalid value -5 for configuration retention.ms: Value must be at least -1",
            ),
            (
                "segment.bytes",
                "100",
                "Invalid value 100 for configuration segment.bytes: Value must be at least 1048576",
            ),
            (
                "segment.bytes",
                "2147483648",
                "Invalid value 2147483648 for configuration segment.bytes: Not a number of type \
                 INT",
            ),
            (
                "cleanup.policy",
                "foo",
                "Invalid value foo for configuration cleanup.policy: String must be one of: \
                 compact, delete",
            ),
            (
                "cleanup.policy",
                "Compact",
                "Invalid value Compact for configuration cleanup.policy: String must be one of: \
                 compact, delete",
            ),
            (
                "message.timestamp.type",
                "logappendtime",
                "Invalid value logappendtime for configuration message.timestamp.type: String \
                 must be one of: CreateTime, LogAppendTime",
            ),
            (
                "min.cleanable.dirty.ratio",
                "2",
                "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no \
                 more than 1",
            ),
            (
                "min.cleanable.dirty.ratio",
                "x",
                "Invalid value x for configuration min.cleanable.dirty.ratio: Not a number of \
                 type DOUBLE",
            ),
            (
                "compression.gzip.level",
                "0",
                "Invalid value 0 for configuration compression.gzip.level: Value must be between \
                 1 and 9 or equal to -1",
            ),
            (
                "compression.zstd.level",
                "99",
                "Invalid value 99 for configuration compression.zstd.level: Value must be no more \
                 than 22",
            ),
            (
                "preallocate",
                "yes",
                "Invalid value yes for configuration preallocate: Expected value to be either \
                 true or false",
            ),
            (
                "leader.replication.throttled.replicas",
                "foo",
                "Invalid value [foo] for configuration leader.replication.throttled.replicas: \
                 leader.replication.throttled.replicas must be the literal '*' or a list of \
                 replicas in the following format: [partitionId]:[brokerId],[partitionId]:\
                 [brokerId],...",
            ),
        ];
        for (name, value, want) in cases {
            assert_eq!(checked(name, value).unwrap_err(), want, "{name}={value}");
        }
    }

    #[test]
    fn good_values_are_kept_in_their_stored_form() {
        assert_eq!(checked("retention.ms", " 100 ").unwrap(), "100");
        assert_eq!(checked("retention.bytes", "-2").unwrap(), "-2");
        assert_eq!(
            checked("cleanup.policy", "compact, delete").unwrap(),
            "compact,delete"
        );
        assert_eq!(checked("cleanup.policy", "").unwrap(), "");
        assert_eq!(checked("preallocate", "TRUE").unwrap(), "true");
        assert_eq!(
            checked("leader.replication.throttled.replicas", "0:1, 1:1").unwrap(),
            "0:1,1:1"
        );
        assert_eq!(
            checked("min.cleanable.dirty.ratio", "0.25").unwrap(),
            "0.25"
        );
    }

    #[test]
    fn what_ringlog_cannot_honour_is_refused() {
        assert!(refuse(REMOTE_STORAGE_ENABLE, "true")
            .unwrap()
            .contains("Tiered Storage functionality is disabled"));
        assert!(refuse(REMOTE_STORAGE_ENABLE, "false").is_none());
        assert!(refuse(COMPRESSION_TYPE, "gzip").is_some());
        assert!(refuse(COMPRESSION_TYPE, "producer").is_none());
    }

    #[test]
    fn every_def_has_a_default_that_passes_its_own_check() {
        let broker = BrokerConfig::default();
        for d in DEFS {
            let (value, set) = broker_default(d.name, &broker);
            assert!(!set, "{}", d.name);
            check(d, &value).unwrap_or_else(|e| panic!("{}: {e}", d.name));
        }
        let names: Vec<&str> = DEFS.iter().map(|d| d.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "DEFS is sorted by name, without repeats");
    }
}
