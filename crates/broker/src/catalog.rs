//! The topic catalog: which topics exist, their partition counts and topic ids.
//!
//! The controller shard (shard 0) is the only writer; it persists the catalog and then tells every
//! shard, which keeps its own copy (no shared map on the data path).
//!
//! On-disk format, `{data_dir}/topics.catalog`, one line per topic, UTF-8 text:
//! ```text
//! +--------------------------------------+---+------------+---+-------+----+
//! | topic id (UUID, 36 chars, hyphenated) | ' ' | partitions (decimal) | ' ' | name | '\n' |
//! +--------------------------------------+---+------------+---+-------+----+
//! ```
//! A topic created with configs ringlog acts on ([`crate::topic_config`]) has them after its
//! name as tab-separated `key=value` words (a name never holds a tab; catalogs written before
//! topic configs existed read as topics with default configs).
//! It is replaced atomically and durably with `storage::fsutil` (temporary file, fdatasync,
//! rename over the old file, directory fsync).
//!
//! # Invariants
//! - Every name in the catalog passed `storage::names::validate_topic`.
//! - Topic ids are random v4 UUIDs, never reused, never the nil UUID.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::topic_config::TopicConfigs;

/// File name of the catalog inside the data directory.
pub const CATALOG_FILE: &str = "topics.catalog";

/// What the broker knows about one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMeta {
    /// Partition count.
    pub partitions: i32,
    /// Topic id (Kafka 2.8+ clients fetch by id).
    pub id: Uuid,
    /// Configs set at creation that ringlog acts on.
    pub configs: TopicConfigs,
}

/// All topics, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    topics: BTreeMap<String, TopicMeta>,
    /// Topics written with a filter index (kept with `topics`: asked on every append).
    indexed: std::collections::BTreeSet<String>,
}

impl Catalog {
    /// Topic by name.
    pub fn get(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    /// Topic name by id.
    pub fn name_of(&self, id: Uuid) -> Option<&str> {
        self.topics
            .iter()
            .find(|(_, m)| m.id == id)
            .map(|(n, _)| n.as_str())
    }

    /// The topic whose partitions hold `name`'s records and decide its owner shard: a view's
    /// source (issue #17), any other topic itself. A view of a view is refused at creation, so
    /// one step is enough.
    pub fn routing_name<'a>(&'a self, name: &'a str) -> &'a str {
        match self.topics.get(name).and_then(|m| m.configs.view.as_ref()) {
            Some(view) => &view.source,
            None => name,
        }
    }

    /// The views of `source`, in name order.
    pub fn views_of(&self, source: &str) -> Vec<&str> {
        self.topics
            .iter()
            .filter(|(_, m)| m.configs.view.as_ref().is_some_and(|v| v.source == source))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The topic is written with a filter index: it has views or `ringlog.filter.index=true`.
    pub fn is_indexed(&self, name: &str) -> bool {
        self.indexed.contains(name)
    }

    /// Recomputes `indexed` after a change.
    fn reindex(&mut self) {
        // One pass for the sources views read, one for the topics: linear in the catalog.
        let sources: std::collections::BTreeSet<&str> = self
            .topics
            .values()
            .filter_map(|m| m.configs.view.as_ref().map(|v| v.source.as_str()))
            .collect();
        self.indexed = self
            .topics
            .iter()
            .filter(|(name, m)| {
                m.configs.view.is_none()
                    && (m.configs.filter_index || sources.contains(name.as_str()))
            })
            .map(|(name, _)| name.clone())
            .collect();
    }

    /// All topics in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &TopicMeta)> {
        self.topics.iter()
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// True when there are no topics.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Partitions of all topics together (what `max.partitions` bounds); a view's partitions
    /// are its source's and count once.
    pub fn partition_count(&self) -> u64 {
        self.topics
            .values()
            .filter(|m| m.configs.view.is_none())
            .map(|m| u64::from(m.partitions.unsigned_abs()))
            .sum()
    }

    /// Add or replace a topic.
    pub fn insert(&mut self, name: String, meta: TopicMeta) {
        self.topics.insert(name, meta);
        self.reindex();
    }

    /// Remove a topic.
    pub fn remove(&mut self, name: &str) -> Option<TopicMeta> {
        let removed = self.topics.remove(name);
        self.reindex();
        removed
    }

    fn path(dir: &Path) -> PathBuf {
        dir.join(CATALOG_FILE)
    }

    /// Load the catalog from `dir` (empty when the file does not exist).
    pub fn load(dir: &Path) -> io::Result<Catalog> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Catalog::default()),
            Err(e) => return Err(e),
        };
        let mut catalog = Catalog::default();
        for (n, line) in text.lines().enumerate() {
            let bad = |why: &str| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}:{}: {why}", path.display(), n + 1),
                )
            };
            let mut fields = line.splitn(3, ' ');
            let (Some(id), Some(parts), Some(name)) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected 'id partitions name'"));
            };
            let id = Uuid::parse_str(id).map_err(|_| bad("bad topic id"))?;
            let partitions: i32 = parts.parse().map_err(|_| bad("bad partition count"))?;
            let mut words = name.split('\t');
            let name = words.next().unwrap_or_default();
            if partitions < 1 || crate::storage::names::validate_topic(name).is_err() {
                return Err(bad("invalid topic entry"));
            }
            let configs = TopicConfigs::from_catalog(words).map_err(|e| bad(&e))?;
            catalog.topics.insert(
                name.to_string(),
                TopicMeta {
                    partitions,
                    id,
                    configs,
                },
            );
        }
        catalog.reindex();
        Ok(catalog)
    }

    /// Write the catalog atomically and durably (`storage::fsutil`).
    pub async fn store(&self, dir: &Path) -> io::Result<()> {
        let mut text = String::new();
        for (name, m) in &self.topics {
            text.push_str(&format!("{} {} {}", m.id.hyphenated(), m.partitions, name));
            for word in m.configs.to_catalog() {
                text.push('\t');
                text.push_str(&word);
            }
            text.push('\n');
        }
        crate::storage::fsutil::replace_atomically_on_shard(&Self::path(dir), text.into_bytes())
            .await
    }
}

/// A fresh topic id.
pub fn new_topic_id() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if !id.is_nil() {
            return id;
        }
    }
}
