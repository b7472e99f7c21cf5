//! Filtered views (issue #17): a read-only topic defined by a source topic and a filter over
//! record headers and keys, served from the source's log with the source's offsets.
//!
//! - [`filter`]: the filter language (RocketMQ's SQL92 subset) and its evaluation.
//! - [`summary`]: the per-batch summary written at append time, from which a filter decides
//!   "every record matches" / "no record matches" without reading the batch.

pub mod filter;
pub mod index;
pub mod read;
pub mod summary;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::Catalog;
use crate::shard::ShardState;
use crate::storage::batch::BatchHeader;
use crate::storage::log::CheckedAppend;
use crate::view::filter::Filter;
use crate::view::summary::BatchSummary;

/// Source bytes the background builder looks at per partition per step (then it lets the
/// shard's other work run).
pub const BUILD_STEP_BYTES: u64 = 4 << 20;
/// How often the builder looks for batches the index lacks.
pub const BUILD_INTERVAL_MS: u64 = 1_000;

/// What this shard counted for one view since the broker started (merged over shards when
/// described).
#[derive(Debug, Default)]
pub struct ViewStats {
    /// Bytes of whole-match batches sent as they are (segment file ranges: zero-copy).
    pub bytes_zero_copy: Cell<u64>,
    /// Bytes of batches rewritten to their matching records.
    pub bytes_rewritten: Cell<u64>,
    /// Batches sent as they are.
    pub batches_whole: Cell<u64>,
    /// Batches skipped without reading their records.
    pub batches_skipped: Cell<u64>,
    /// Batches read and cut down (some records matched, or the batch was not indexed).
    pub batches_rewritten: Cell<u64>,
    /// Batches read because the index had no summary for them (yet).
    pub batches_unindexed: Cell<u64>,
}

/// One view as this shard serves it.
#[derive(Debug)]
pub struct View {
    /// The view's name.
    pub name: String,
    /// Its source topic.
    pub source: Arc<str>,
    /// Its filter.
    pub filter: Filter,
    /// Its counters on this shard.
    pub stats: ViewStats,
    /// Unique on this shard (never 0): tags the decisions cached with the index's summaries.
    pub id: u64,
}

/// This shard's views and filter indexes.
#[derive(Default)]
pub struct Views {
    views: RefCell<HashMap<String, Rc<View>>>,
    /// The last view id given out.
    last_id: Cell<u64>,
    /// The filter indexes of the indexed partitions this shard owns.
    pub indexes: index::Indexes,
}

impl Views {
    /// The view `name` as the catalog defines it (`None`: not a view).
    pub fn get(&self, catalog: &Catalog, name: &str) -> Option<Rc<View>> {
        let spec = catalog.get(name)?.configs.view.as_ref()?;
        if let Some(v) = self.views.borrow().get(name) {
            if *v.source == *spec.source && v.filter.text() == spec.filter {
                return Some(v.clone());
            }
        }
        // Checked when the view was created; a catalog edited by hand that does not parse
        // serves nothing rather than everything.
        let filter = match Filter::parse(&spec.filter) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("view {name}: its filter does not parse: {e}");
                return None;
            }
        };
        let view = Rc::new(View {
            name: name.to_string(),
            source: Arc::from(spec.source.as_str()),
            filter,
            stats: ViewStats::default(),
            id: self.last_id.get() + 1,
        });
        self.last_id.set(view.id);
        self.views
            .borrow_mut()
            .insert(name.to_string(), view.clone());
        Some(view)
    }

    /// Forgets a deleted view's state (or a deleted topic's index).
    pub fn topic_deleted(&self, name: &str, partitions: i32) {
        self.views.borrow_mut().remove(name);
        let topic: Arc<str> = Arc::from(name);
        for p in 0..partitions.max(0) {
            self.indexes.close(&topic, p);
        }
    }

    /// Every view this shard has served, with its counters.
    pub fn served(&self) -> Vec<Rc<View>> {
        self.views.borrow().values().cloned().collect()
    }
}

/// The summary of every batch of `checked` (of an indexed topic), computed where the append
/// was validated, before it goes to the partition's owner. `None` for a batch whose records do
/// not decode within the limit (it is indexed later by reading it, or filtered by reading).
pub fn summarize_append(
    checked: &CheckedAppend,
    decompressed_max: usize,
) -> Vec<Option<BatchSummary>> {
    let records = checked.records();
    checked
        .batches()
        .iter()
        .map(|b| {
            let at = b.position as usize;
            let bytes = records.slice(at..at + b.header.size_bytes() as usize);
            crate::storage::records::decode_batch_records(&bytes, &b.header, decompressed_max)
                .ok()
                .map(|recs| BatchSummary::of_records(&recs))
        })
        .collect()
}

/// After an append of `headers` (the stamped batches, from base offset `base_offset` on) to an
/// indexed partition this shard owns: records their summaries.
pub async fn record_append(
    shard: &ShardState,
    topic: &Arc<str>,
    partition: i32,
    base_offset: i64,
    headers: &[BatchHeader],
    summaries: Vec<Option<BatchSummary>>,
) {
    let Ok(log) = shard.engine.log(topic, partition) else {
        return;
    };
    let indexes = &shard.views.indexes;
    indexes.open(topic, partition, log.dir(), log.log_start_offset());
    let bases = log.segment_base_offsets();
    let mut offset = base_offset;
    let mut flush = false;
    for (h, summary) in headers.iter().zip(summaries) {
        let stamped = BatchHeader {
            base_offset: offset,
            ..*h
        };
        offset = stamped.last_offset() + 1;
        if let Some(summary) = summary {
            flush |= indexes.record(topic, partition, &bases, &stamped, summary);
        }
    }
    if flush {
        indexes.flush_partition(topic, partition).await;
    }
}

/// The shard's index upkeep, until shutdown: writes unwritten entries every
/// [`index::FLUSH_INTERVAL_MS`], and every [`BUILD_INTERVAL_MS`] indexes what the index lacks
/// in every indexed partition this shard owns (batches appended before the topic had views, by
/// the delay timer or the share groups' dead-letter writer, or whose entries were damaged or
/// lost in a crash), [`BUILD_STEP_BYTES`] at a time.
pub async fn run_upkeep(shard: Rc<ShardState>) {
    let mut since_build = u64::MAX / 2;
    while !shard.shutting_down.get() {
        flush_indexes(&shard).await;
        // While the builder has work it goes on after a short pause (the shard serves requests
        // meanwhile); once caught up it looks again every BUILD_INTERVAL_MS.
        let pause_ms = if since_build >= BUILD_INTERVAL_MS {
            since_build = 0;
            if build_step(&shard).await {
                since_build = BUILD_INTERVAL_MS;
                1
            } else {
                index::FLUSH_INTERVAL_MS
            }
        } else {
            index::FLUSH_INTERVAL_MS
        };
        since_build += pause_ms;
        crate::runtime::time::sleep(Duration::from_millis(pause_ms)).await;
    }
    flush_indexes(&shard).await;
}

/// Writes the shard's unwritten index entries (and forgets deleted segments' sidecars).
async fn flush_indexes(shard: &ShardState) {
    let engine = &shard.engine;
    shard
        .views
        .indexes
        .flush(|t, p| engine.log(t, p).ok().map(|l| l.segment_base_offsets()))
        .await;
}

/// The indexed partitions this shard owns, per the catalog.
fn owned_indexed(shard: &ShardState) -> Vec<(Arc<str>, i32)> {
    let catalog = shard.catalog.borrow();
    catalog
        .iter()
        .filter(|(name, _)| catalog.is_indexed(name))
        .flat_map(|(name, m)| (0..m.partitions).map(move |p| (name, p)))
        .filter(|(name, p)| shard.owner(name, *p) == shard.id)
        .map(|(name, p)| (Arc::from(name.as_str()), p))
        .collect()
}

/// One step of the builder over every indexed partition; true when some partition has more to
/// look at.
async fn build_step(shard: &Rc<ShardState>) -> bool {
    let mut more = false;
    let indexes = &shard.views.indexes;
    let decompressed_max = shard.engine.log_config().validation.decompressed_bytes_max;
    for (topic, partition) in owned_indexed(shard) {
        if shard.shutting_down.get() {
            return false;
        }
        let Ok(log) = shard.engine.log(&topic, partition) else {
            continue;
        };
        indexes.open(&topic, partition, log.dir(), log.log_start_offset());
        let from = indexes
            .built_to(&topic, partition)
            .unwrap_or(0)
            .max(log.log_start_offset());
        if from >= log.high_watermark() {
            continue;
        }
        let (res, batches) = match log.read_batches(from, BUILD_STEP_BYTES, i64::MAX).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("indexing {topic}-{partition} from {from}: {e}");
                continue;
            }
        };
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            continue;
        };
        let bases = log.segment_base_offsets();
        indexes
            .load(
                &topic,
                partition,
                &bases,
                first.header.base_offset,
                last.header.last_offset(),
            )
            .await;
        for b in &batches {
            if b.header.is_control() || indexes.covers(&topic, partition, &bases, &b.header) {
                continue;
            }
            let Ok(bytes) = b.read().await else {
                continue;
            };
            let bytes = bytes::Bytes::from(bytes);
            if let Ok(recs) =
                crate::storage::records::decode_batch_records(&bytes, &b.header, decompressed_max)
            {
                indexes.record(
                    &topic,
                    partition,
                    &bases,
                    &b.header,
                    BatchSummary::of_records(&recs),
                );
            }
        }
        indexes.set_built_to(&topic, partition, res.next_offset);
        indexes.flush_partition(&topic, partition).await;
        more |= res.next_offset < log.high_watermark();
    }
    more
}
