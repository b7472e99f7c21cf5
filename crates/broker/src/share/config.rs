//! Group configs of share groups (Kafka's GROUP config resource, KIP-932 and KIP-1191), and
//! ringlog's retry backoff. Kept by the group's coordinator shard, durable in its share state
//! log, and handed to the partitions' owners with every ShareFetch.
//!
//! Names, defaults and bounds are Kafka 4.4's (`GroupConfig`, `ShareGroupConfig`); a group
//! config left unset follows the broker's setting.

use super::partition::ShareSettings;

/// `share.auto.offset.reset`: where a share-partition starts when the group first reads it.
pub const AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
/// `share.record.lock.duration.ms`.
pub const RECORD_LOCK_DURATION_MS: &str = "share.record.lock.duration.ms";
/// `share.delivery.count.limit`.
pub const DELIVERY_COUNT_LIMIT: &str = "share.delivery.count.limit";
/// `share.isolation.level`: read_committed acquires below the last stable offset and archives
/// the records of aborted transactions undelivered.
pub const ISOLATION_LEVEL: &str = "share.isolation.level";
/// `share.session.timeout.ms`.
pub const SESSION_TIMEOUT_MS: &str = "share.session.timeout.ms";
/// `share.heartbeat.interval.ms`.
pub const HEARTBEAT_INTERVAL_MS: &str = "share.heartbeat.interval.ms";
/// `errors.deadletterqueue.topic.name` (KIP-1191): the group's dead-letter topic.
pub const DLQ_TOPIC_NAME: &str = "errors.deadletterqueue.topic.name";
/// `errors.deadletterqueue.copy.record.enable`: copy key and value into the DLQ record.
pub const DLQ_COPY_RECORD: &str = "errors.deadletterqueue.copy.record.enable";
/// `share.partition.max.record.locks`: the in-flight window of each share-partition.
pub const PARTITION_MAX_RECORD_LOCKS: &str = "share.partition.max.record.locks";
/// `share.renew.acknowledge.enable`: RENEW acknowledgements (KIP-1222) accepted.
pub const RENEW_ACKNOWLEDGE_ENABLE: &str = "share.renew.acknowledge.enable";
/// `share.assignment.interval.ms`: how often Kafka's assignor runs. ringlog assigns at every
/// heartbeat that changes the group, so any interval is met; kept for Kafka's tools.
pub const ASSIGNMENT_INTERVAL_MS: &str = "share.assignment.interval.ms";
/// ringlog's retry backoff: a comma-separated list of delays in ms, by delivery count.
pub const RETRY_BACKOFF_MS: &str = "ringlog.share.retry.backoff.ms";

/// Kafka's `group.share.record.lock.duration.ms` default.
pub const LOCK_MS_DEFAULT: i64 = 30_000;
/// Kafka's `group.share.min.record.lock.duration.ms`.
pub const LOCK_MS_MIN: i64 = 1_000;
/// Kafka's `group.share.max.record.lock.duration.ms`.
pub const LOCK_MS_MAX: i64 = 3_600_000;
/// Kafka's `group.share.delivery.count.limit` default.
pub const DELIVERY_LIMIT_DEFAULT: u16 = 5;
/// Kafka's `group.share.min.delivery.count.limit`.
pub const DELIVERY_LIMIT_MIN: u16 = 2;
/// Kafka's `group.share.max.delivery.count.limit`.
pub const DELIVERY_LIMIT_MAX: u16 = 10;
/// Kafka's `group.share.partition.max.record.locks` default.
pub const RECORD_LOCKS_DEFAULT: i64 = 2_000;
/// Kafka's `group.share.session.timeout.ms` default.
pub const SESSION_TIMEOUT_MS_DEFAULT: i64 = 45_000;
/// Kafka's `group.share.min.session.timeout.ms`.
pub const SESSION_TIMEOUT_MS_MIN: i64 = 45_000;
/// Kafka's `group.share.max.session.timeout.ms`.
pub const SESSION_TIMEOUT_MS_MAX: i64 = 60_000;
/// Kafka's `group.share.heartbeat.interval.ms` default.
pub const HEARTBEAT_INTERVAL_MS_DEFAULT: i64 = 5_000;
/// Kafka's `group.share.min.heartbeat.interval.ms`.
pub const HEARTBEAT_INTERVAL_MS_MIN: i64 = 5_000;
/// Kafka's `group.share.max.heartbeat.interval.ms`.
pub const HEARTBEAT_INTERVAL_MS_MAX: i64 = 15_000;
/// Most entries of a backoff list.
pub const BACKOFF_ENTRIES_MAX: usize = 32;
/// Longest backoff (one day): the delay lives in memory and in the share state.
pub const BACKOFF_MS_MAX: i64 = 86_400_000;
/// Longest dead-letter topic name (Kafka's topic name bound).
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Smallest `group.share.partition.max.record.locks` (Kafka's bound).
pub const RECORD_LOCKS_MIN: i64 = 100;
/// Largest `group.share.partition.max.record.locks` (Kafka's bound).
pub const RECORD_LOCKS_MAX: i64 = 10_000;
/// Kafka's `group.share.min.record.lock.duration.ms` default: the shortest lock a group
/// config may set.
pub const GROUP_LOCK_MS_MIN_DEFAULT: i64 = 15_000;
/// Kafka's `group.share.max.record.lock.duration.ms` default.
pub const GROUP_LOCK_MS_MAX_DEFAULT: i64 = 60_000;
/// Kafka's `group.share.max.partition.max.record.locks` default.
pub const GROUP_RECORD_LOCKS_MAX_DEFAULT: i64 = 4_000;
/// Kafka's `share.assignment.interval.ms` default.
pub const ASSIGNMENT_INTERVAL_MS_DEFAULT: i64 = 1_000;
/// Kafka's `errors.deadletterqueue.topic.name.prefix` default.
pub const DLQ_PREFIX_DEFAULT: &str = "dlq.";

/// Share groups' broker settings (`ringlog serve` flags and TOML keys named as Kafka's broker
/// configs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerShareConfig {
    /// `group.share.delivery.count.limit`.
    pub delivery_count_limit: u16,
    /// `group.share.record.lock.duration.ms`.
    pub record_lock_duration_ms: i64,
    /// `group.share.partition.max.record.locks`.
    pub partition_max_record_locks: i64,
    /// `group.share.max.partition.max.record.locks`: the largest a group may set.
    pub max_partition_max_record_locks: i64,
    /// `group.share.min.record.lock.duration.ms`: the shortest lock a group may set.
    pub min_record_lock_duration_ms: i64,
    /// `group.share.max.record.lock.duration.ms`: the longest lock a group may set.
    pub max_record_lock_duration_ms: i64,
    /// `errors.deadletterqueue.topic.name.prefix`.
    pub dlq_topic_name_prefix: String,
    /// `errors.deadletterqueue.auto.create.topics.enable`.
    pub dlq_auto_create_topics: bool,
}

impl Default for BrokerShareConfig {
    fn default() -> BrokerShareConfig {
        BrokerShareConfig {
            delivery_count_limit: DELIVERY_LIMIT_DEFAULT,
            record_lock_duration_ms: LOCK_MS_DEFAULT,
            partition_max_record_locks: RECORD_LOCKS_DEFAULT,
            max_partition_max_record_locks: GROUP_RECORD_LOCKS_MAX_DEFAULT,
            min_record_lock_duration_ms: GROUP_LOCK_MS_MIN_DEFAULT,
            max_record_lock_duration_ms: GROUP_LOCK_MS_MAX_DEFAULT,
            dlq_topic_name_prefix: DLQ_PREFIX_DEFAULT.to_string(),
            dlq_auto_create_topics: false,
        }
    }
}

impl BrokerShareConfig {
    /// Checks every setting against Kafka's bounds.
    pub fn validate(&self) -> Result<(), String> {
        if !(DELIVERY_LIMIT_MIN..=DELIVERY_LIMIT_MAX).contains(&self.delivery_count_limit) {
            return Err(format!(
                "group-share-delivery-count-limit must be in {DELIVERY_LIMIT_MIN}..={DELIVERY_LIMIT_MAX}, got {}",
                self.delivery_count_limit
            ));
        }
        if !(LOCK_MS_MIN..=LOCK_MS_MAX).contains(&self.record_lock_duration_ms) {
            return Err(format!(
                "group-share-record-lock-duration-ms must be in {LOCK_MS_MIN}..={LOCK_MS_MAX}, got {}",
                self.record_lock_duration_ms
            ));
        }
        if !(RECORD_LOCKS_MIN..=RECORD_LOCKS_MAX).contains(&self.partition_max_record_locks) {
            return Err(format!(
                "group-share-partition-max-record-locks must be in {RECORD_LOCKS_MIN}..={RECORD_LOCKS_MAX}, got {}",
                self.partition_max_record_locks
            ));
        }
        if !(LOCK_MS_MIN..=self.max_record_lock_duration_ms)
            .contains(&self.min_record_lock_duration_ms)
            || self.max_record_lock_duration_ms > LOCK_MS_MAX
        {
            return Err(format!(
                "group-share-min/max-record-lock-duration-ms must satisfy {LOCK_MS_MIN} <= min <= max <= {LOCK_MS_MAX}, got {} and {}",
                self.min_record_lock_duration_ms, self.max_record_lock_duration_ms
            ));
        }
        if !(RECORD_LOCKS_MIN..=RECORD_LOCKS_MAX).contains(&self.max_partition_max_record_locks) {
            return Err(format!(
                "group-share-max-partition-max-record-locks must be in {RECORD_LOCKS_MIN}..={RECORD_LOCKS_MAX}, got {}",
                self.max_partition_max_record_locks
            ));
        }
        if self.dlq_topic_name_prefix.len() > TOPIC_NAME_BYTES_MAX {
            return Err(
                "errors-deadletterqueue-topic-name-prefix is longer than a topic name".to_string(),
            );
        }
        Ok(())
    }
}

/// Where a share-partition starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoReset {
    /// At the high watermark (Kafka's default).
    #[default]
    Latest,
    /// At the log start.
    Earliest,
    /// At the first record not older than this many ms (`by_duration:<ISO-8601 duration>`).
    ByDuration(i64),
}

/// One share group's configs (unset = the broker's default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupConfigs {
    /// share.auto.offset.reset.
    pub auto_reset: Option<AutoReset>,
    /// share.record.lock.duration.ms.
    pub lock_ms: Option<i64>,
    /// share.delivery.count.limit.
    pub delivery_limit: Option<u16>,
    /// share.session.timeout.ms.
    pub session_timeout_ms: Option<i64>,
    /// share.heartbeat.interval.ms.
    pub heartbeat_interval_ms: Option<i64>,
    /// errors.deadletterqueue.topic.name.
    pub dlq_topic: Option<String>,
    /// errors.deadletterqueue.copy.record.enable.
    pub dlq_copy_record: Option<bool>,
    /// ringlog.share.retry.backoff.ms.
    pub backoff_ms: Option<Vec<i64>>,
    /// share.partition.max.record.locks.
    pub record_locks: Option<i64>,
    /// share.renew.acknowledge.enable.
    pub renew_enabled: Option<bool>,
    /// `share.isolation.level=read_committed`.
    pub read_committed: Option<bool>,
    /// Exactly what was set, as (name, value) (for describe and storage).
    pub raw: Vec<(String, String)>,
}

/// The names a GROUP resource accepts for share groups, in describe order.
pub const NAMES: &[&str] = &[
    ASSIGNMENT_INTERVAL_MS,
    AUTO_OFFSET_RESET,
    DELIVERY_COUNT_LIMIT,
    HEARTBEAT_INTERVAL_MS,
    ISOLATION_LEVEL,
    PARTITION_MAX_RECORD_LOCKS,
    RECORD_LOCK_DURATION_MS,
    RENEW_ACKNOWLEDGE_ENABLE,
    SESSION_TIMEOUT_MS,
    DLQ_COPY_RECORD,
    DLQ_TOPIC_NAME,
    RETRY_BACKOFF_MS,
];

impl GroupConfigs {
    /// The settings a share-partition applies: the group's, else the broker's.
    pub fn settings(&self, broker: &BrokerShareConfig) -> ShareSettings {
        ShareSettings {
            lock_ms: self.lock_ms.unwrap_or(broker.record_lock_duration_ms),
            delivery_limit: self.delivery_limit.unwrap_or(broker.delivery_count_limit),
            record_locks_max: self
                .record_locks
                .unwrap_or(broker.partition_max_record_locks),
            backoff_ms: self.backoff_ms.clone().unwrap_or_default(),
            renew_enabled: self.renew_enabled.unwrap_or(true),
            read_committed: self.read_committed.unwrap_or(false),
        }
    }

    /// `share.heartbeat.interval.ms` in effect.
    pub fn heartbeat_interval_ms(&self) -> i64 {
        self.heartbeat_interval_ms
            .unwrap_or(HEARTBEAT_INTERVAL_MS_DEFAULT)
    }

    /// `share.session.timeout.ms` in effect.
    pub fn session_timeout_ms(&self) -> i64 {
        self.session_timeout_ms
            .unwrap_or(SESSION_TIMEOUT_MS_DEFAULT)
    }

    /// The value in effect of `name` (for DescribeConfigs), and whether it was set.
    pub fn value_of(&self, name: &str) -> Option<(String, bool)> {
        if let Some((_, v)) = self.raw.iter().find(|(k, _)| k == name) {
            return Some((v.clone(), true));
        }
        let default = match name {
            AUTO_OFFSET_RESET => "latest".to_string(),
            DELIVERY_COUNT_LIMIT => DELIVERY_LIMIT_DEFAULT.to_string(),
            HEARTBEAT_INTERVAL_MS => HEARTBEAT_INTERVAL_MS_DEFAULT.to_string(),
            ISOLATION_LEVEL => "read_uncommitted".to_string(),
            RECORD_LOCK_DURATION_MS => LOCK_MS_DEFAULT.to_string(),
            SESSION_TIMEOUT_MS => SESSION_TIMEOUT_MS_DEFAULT.to_string(),
            DLQ_COPY_RECORD => "false".to_string(),
            DLQ_TOPIC_NAME => String::new(),
            RETRY_BACKOFF_MS => String::new(),
            PARTITION_MAX_RECORD_LOCKS => RECORD_LOCKS_DEFAULT.to_string(),
            RENEW_ACKNOWLEDGE_ENABLE => "true".to_string(),
            ASSIGNMENT_INTERVAL_MS => ASSIGNMENT_INTERVAL_MS_DEFAULT.to_string(),
            _ => return None,
        };
        Some((default, false))
    }

    /// Applies one change: `Some(value)` sets, `None` deletes (back to the default). Refused
    /// with Kafka's INVALID_CONFIG wording.
    pub fn set(
        &mut self,
        name: &str,
        value: Option<&str>,
        broker: &BrokerShareConfig,
    ) -> Result<(), String> {
        let Some(value) = value else {
            if !NAMES.contains(&name) {
                return Err(format!("Unknown group config name: {name}"));
            }
            self.raw.retain(|(k, _)| k != name);
            return self.reparse(Some(broker));
        };
        let mut next = self.clone();
        next.raw.retain(|(k, _)| k != name);
        next.raw.push((name.to_string(), value.to_string()));
        next.reparse(Some(broker))?;
        *self = next;
        Ok(())
    }

    /// Builds the typed fields from `raw`, checking values against the broker's bounds when
    /// given (a change), or only against the absolute ones (stored configs, whose bounds may
    /// have moved since).
    pub fn reparse(&mut self, broker: Option<&BrokerShareConfig>) -> Result<(), String> {
        let mut out = GroupConfigs {
            raw: std::mem::take(&mut self.raw),
            ..GroupConfigs::default()
        };
        for (k, v) in &out.raw.clone() {
            match k.as_str() {
                AUTO_OFFSET_RESET => out.auto_reset = Some(parse_reset(v)?),
                RECORD_LOCK_DURATION_MS => {
                    let (min, max) = broker.map_or((LOCK_MS_MIN, LOCK_MS_MAX), |b| {
                        (b.min_record_lock_duration_ms, b.max_record_lock_duration_ms)
                    });
                    let n = parse_int(k, v, i64::MIN, i64::MAX)?;
                    if n < min || n > max {
                        return Err(format!(
                            "{k} must be in the range {min} to {max} inclusive."
                        ));
                    }
                    out.lock_ms = Some(n)
                }
                PARTITION_MAX_RECORD_LOCKS => {
                    let max = broker.map_or(RECORD_LOCKS_MAX, |b| b.max_partition_max_record_locks);
                    out.record_locks = Some(parse_int(k, v, RECORD_LOCKS_MIN, max)?)
                }
                RENEW_ACKNOWLEDGE_ENABLE => out.renew_enabled = Some(parse_bool(k, v)?),
                ASSIGNMENT_INTERVAL_MS => {
                    parse_int(k, v, 1, i64::from(i32::MAX))?;
                }
                DELIVERY_COUNT_LIMIT => {
                    out.delivery_limit = Some(parse_int(
                        k,
                        v,
                        i64::from(DELIVERY_LIMIT_MIN),
                        i64::from(DELIVERY_LIMIT_MAX),
                    )? as u16)
                }
                SESSION_TIMEOUT_MS => {
                    out.session_timeout_ms = Some(parse_int(
                        k,
                        v,
                        SESSION_TIMEOUT_MS_MIN,
                        SESSION_TIMEOUT_MS_MAX,
                    )?)
                }
                HEARTBEAT_INTERVAL_MS => {
                    out.heartbeat_interval_ms = Some(parse_int(
                        k,
                        v,
                        HEARTBEAT_INTERVAL_MS_MIN,
                        HEARTBEAT_INTERVAL_MS_MAX,
                    )?)
                }
                ISOLATION_LEVEL => {
                    if v != "read_uncommitted" && v != "read_committed" {
                        return Err(format!(
                            "Invalid value {v} for configuration {k}: String must be one of: \
                             read_committed, read_uncommitted"
                        ));
                    }
                    out.read_committed = Some(v == "read_committed");
                }
                DLQ_TOPIC_NAME => {
                    // Kafka refuses only internal names here; a missing, unprepared or badly
                    // named topic is found when a record is archived (logged, no copy).
                    if v.starts_with("__") {
                        return Err(format!(
                            "Invalid value {v} for configuration {k}: DLQ topic name must not start with '__'"
                        ));
                    }
                    out.dlq_topic = (!v.is_empty()).then(|| v.clone());
                }
                DLQ_COPY_RECORD => out.dlq_copy_record = Some(parse_bool(k, v)?),
                RETRY_BACKOFF_MS => out.backoff_ms = Some(parse_backoff(k, v)?),
                _ => return Err(format!("Unknown group config name: {k}")),
            }
        }
        *self = out;
        Ok(())
    }

    /// Storage form: `name=value` lines.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for (k, v) in &self.raw {
            out.push_str(k);
            out.push('=');
            out.push_str(v);
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Reads [`GroupConfigs::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Result<GroupConfigs, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "group configs are not UTF-8")?;
        let mut out = GroupConfigs::default();
        for line in text.lines() {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("group config line {line:?} has no '='"))?;
            out.raw.push((k.to_string(), v.to_string()));
        }
        out.reparse(None)?;
        Ok(out)
    }
}

fn parse_int(name: &str, value: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = value.trim().parse().map_err(|_| {
        format!("Invalid value {value} for configuration {name}: Not a number of type INT")
    })?;
    if n < min {
        return Err(format!(
            "Invalid value {n} for configuration {name}: Value must be at least {min}"
        ));
    }
    if n > max {
        return Err(format!(
            "Invalid value {n} for configuration {name}: Value must be no more than {max}"
        ));
    }
    Ok(n)
}

fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!(
            "Invalid value {value} for configuration {name}: Expected value to be either true or false"
        )),
    }
}

fn parse_reset(value: &str) -> Result<AutoReset, String> {
    match value {
        "latest" => Ok(AutoReset::Latest),
        "earliest" => Ok(AutoReset::Earliest),
        v => match v.strip_prefix("by_duration:") {
            Some(d) => parse_iso_duration_ms(d).map(AutoReset::ByDuration).ok_or_else(|| {
                format!("Invalid value {v} for configuration {AUTO_OFFSET_RESET}: the duration is not ISO-8601 (e.g. PT1H)")
            }),
            None => Err(format!(
                "Invalid value {v} for configuration {AUTO_OFFSET_RESET}: String must be one of: \
                 latest, earliest, by_duration:PnDTnHnMn.nS"
            )),
        },
    }
}

/// An ISO-8601 duration of days, hours, minutes and seconds (`P1DT2H3M4.5S`), as Java's
/// `Duration.parse` reads it (no years or months), in ms.
fn parse_iso_duration_ms(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
    let (days, time) = match rest.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut ms: i64 = 0;
    let mut any = false;
    if !days.is_empty() {
        let n: i64 = days.strip_suffix(['D', 'd'])?.parse().ok()?;
        ms = ms.checked_add(n.checked_mul(86_400_000)?)?;
        any = true;
    }
    if let Some(mut t) = time {
        if t.is_empty() {
            return None;
        }
        for (unit, factor) in [('H', 3_600_000f64), ('M', 60_000f64), ('S', 1_000f64)] {
            if let Some(i) = t.find([unit, unit.to_ascii_lowercase()]) {
                let n: f64 = t[..i].parse().ok()?;
                ms = ms.checked_add((n * factor) as i64)?;
                t = &t[i + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            return None;
        }
    }
    (any && ms >= 0).then_some(ms)
}

fn parse_backoff(name: &str, value: &str) -> Result<Vec<i64>, String> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<&str> = value.split(',').collect();
    if list.len() > BACKOFF_ENTRIES_MAX {
        return Err(format!(
            "Invalid value {value} for configuration {name}: at most {BACKOFF_ENTRIES_MAX} delays"
        ));
    }
    list.into_iter()
        .map(|v| parse_int(name, v, 0, BACKOFF_MS_MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_validates_and_round_trips() {
        let mut c = GroupConfigs::default();
        let b = BrokerShareConfig::default();
        c.set(DELIVERY_COUNT_LIMIT, Some("3"), &b).unwrap();
        c.set(RETRY_BACKOFF_MS, Some("1000,5000"), &b).unwrap();
        c.set(AUTO_OFFSET_RESET, Some("earliest"), &b).unwrap();
        c.set(DLQ_TOPIC_NAME, Some("dlq.orders"), &b).unwrap();
        assert_eq!(
            c.set(DELIVERY_COUNT_LIMIT, Some("1"), &b),
            Err("Invalid value 1 for configuration share.delivery.count.limit: Value must be at least 2".to_string())
        );
        assert!(c.set(DELIVERY_COUNT_LIMIT, Some("x"), &b).is_err());
        assert!(c.set("share.nope", Some("1"), &b).is_err());
        assert!(c.set(RETRY_BACKOFF_MS, Some("1,-2"), &b).is_err());
        assert_eq!(
            c.set(RECORD_LOCK_DURATION_MS, Some("1000"), &b),
            Err(
                "share.record.lock.duration.ms must be in the range 15000 to 60000 inclusive."
                    .to_string()
            )
        );
        assert!(c.set(DLQ_TOPIC_NAME, Some("__x"), &b).is_err());
        c.set(PARTITION_MAX_RECORD_LOCKS, Some("150"), &b).unwrap();
        assert!(c.set(PARTITION_MAX_RECORD_LOCKS, Some("99"), &b).is_err());
        assert_eq!(c.delivery_limit, Some(3));
        let s = c.settings(&BrokerShareConfig::default());
        assert_eq!(
            (s.delivery_limit, s.backoff_ms.clone()),
            (3, vec![1000, 5000])
        );
        assert_eq!(GroupConfigs::decode(&c.encode()).unwrap(), c);
        c.set(DELIVERY_COUNT_LIMIT, None, &b).unwrap();
        assert_eq!(
            c.settings(&BrokerShareConfig::default()).delivery_limit,
            DELIVERY_LIMIT_DEFAULT
        );
        assert_eq!(
            c.value_of(DELIVERY_COUNT_LIMIT),
            Some(("5".to_string(), false))
        );
    }

    #[test]
    fn iso_durations() {
        assert_eq!(parse_iso_duration_ms("PT1H"), Some(3_600_000));
        assert_eq!(parse_iso_duration_ms("P1DT0.5S"), Some(86_400_500));
        assert_eq!(parse_iso_duration_ms("PT"), None);
        assert_eq!(parse_iso_duration_ms("1H"), None);
        assert_eq!(
            parse_reset("by_duration:PT10M"),
            Ok(AutoReset::ByDuration(600_000))
        );
    }
}
