//! Topic and partition names, and the file names derived from them.
//!
//! A topic name becomes part of a directory name (`{topic}-{partition}`), so it is validated by
//! Kafka's rule before any path is built: 1..=249 characters from `[a-zA-Z0-9._-]`, and not `.`
//! or `..`. With no `/` and no NUL allowed, and `.`/`..` excluded, no name can leave the data
//! directory. ringlog also reserves the names of Kafka's internal topics
//! ([`INTERNAL_TOPIC_NAMES`]): that state lives in internal state logs, not in topics.
//!
//! # Invariants
//! - Every path built here is `data_dir/{valid topic}-{partition >= 0}[/{base_offset:020}.ext]`.

use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// Kafka's limit (`Topic.MAX_NAME_LENGTH`): 249 so that `{topic}-{partition}` plus suffixes
/// stays within the 255-byte file name limit of common file systems.
pub const TOPIC_NAME_CHARS_MAX: usize = 249;

/// Upper bound on partitions per topic accepted by `create_topic`: keeps one request from
/// creating an unbounded number of directories.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// Names Kafka gives its internal topics (`Topic.INTERNAL_TOPICS`, and the KRaft metadata log).
/// ringlog keeps that state in internal state logs (`state_log`), never in topics, so these
/// names are refused like any invalid name: producing to one answers INVALID_TOPIC_EXCEPTION,
/// which is what Kafka answers a produce to an internal topic, and no topic of that name can be
/// created, deleted, listed or fetched.
pub const INTERNAL_TOPIC_NAMES: [&str; 4] = [
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
    "__cluster_metadata",
];

/// Suffix of a partition directory being deleted; not a valid partition number, so scans skip it.
pub const DELETING_SUFFIX: &str = ".deleting";

/// Checks a topic name against Kafka's rules.
pub fn validate_topic(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidTopicName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > TOPIC_NAME_CHARS_MAX {
        return bad("longer than 249 characters");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are reserved");
    }
    if INTERNAL_TOPIC_NAMES.contains(&name) {
        return bad("reserved for the broker's internal state");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad("only [a-zA-Z0-9._-] allowed");
    }
    Ok(())
}

/// Checks a partition number.
pub fn validate_partition(topic: &str, partition: i32) -> Result<()> {
    if partition < 0 {
        return Err(Error::InvalidPartition {
            topic: topic.to_string(),
            partition: partition.into(),
        });
    }
    Ok(())
}

/// `{topic}-{partition}`, the partition's display name and directory name.
pub fn partition_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// The partition directory after validating both parts.
pub fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> Result<PathBuf> {
    validate_topic(topic)?;
    validate_partition(topic, partition)?;
    Ok(data_dir.join(partition_name(topic, partition)))
}

/// Parses a directory name `{topic}-{partition}`; `None` for anything else.
pub fn parse_partition_dir(name: &str) -> Option<(String, i32)> {
    let (topic, p) = name.rsplit_once('-')?;
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p: i32 = p.parse().ok()?;
    validate_topic(topic).ok()?;
    Some((topic.to_string(), p))
}

/// File extension of segment data.
pub const LOG_EXT: &str = "log";
/// File extension of the sparse offset index.
pub const INDEX_EXT: &str = "index";
/// File extension of the time index.
pub const TIMEINDEX_EXT: &str = "timeindex";

/// `{base_offset:020}.{ext}` inside `dir`.
pub fn segment_file(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// Parses `{base_offset:020}.log`; `None` for anything else.
pub fn parse_segment_file(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_rejected() {
        let long = "a".repeat(250);
        for n in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a\0b",
            "a b",
            "é",
            long.as_str(),
            "/",
            "a\\b",
        ] {
            assert!(validate_topic(n).is_err(), "{n:?}");
            assert!(partition_dir(Path::new("/d"), n, 0).is_err());
        }
        assert!(validate_topic(&"a".repeat(249)).is_ok());
        for n in INTERNAL_TOPIC_NAMES {
            assert!(validate_topic(n).is_err(), "{n:?}");
            assert_eq!(parse_partition_dir(&format!("{n}-0")), None);
        }
        assert!(validate_topic("__consumer_offsets2").is_ok());
        for n in ["a", "...", "a.b_c-D9", "-"] {
            assert!(validate_topic(n).is_ok(), "{n:?}");
        }
        assert!(partition_dir(Path::new("/d"), "t", -1).is_err());
    }

    #[test]
    fn dir_and_file_names_parse_back() {
        assert_eq!(
            parse_partition_dir("my-topic-3"),
            Some(("my-topic".into(), 3))
        );
        assert_eq!(parse_partition_dir("t-3.deleting"), None);
        assert_eq!(parse_partition_dir("t-"), None);
        assert_eq!(parse_partition_dir("t--1"), Some(("t-".into(), 1)));
        assert_eq!(parse_partition_dir("-0"), None);
        let f = segment_file(Path::new("/d"), 42, LOG_EXT);
        assert_eq!(f, Path::new("/d/00000000000000000042.log"));
        assert_eq!(parse_segment_file("00000000000000000042.log"), Some(42));
        assert_eq!(parse_segment_file("42.log"), None);
        assert_eq!(parse_segment_file("00000000000000000042.index"), None);
    }
}
