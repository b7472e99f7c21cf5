//! DescribeViews (key 32002, ringlog-private, never advertised): the filtered views (issue #17)
//! with their definition from the catalog and their counters summed over every shard, for
//! `ringlog views list|describe`.
//!
//! As DescribeDelays, one error code for the whole request (the command asks about a few views
//! and wants all or nothing): a name that is not a valid topic name answers
//! INVALID_TOPIC_EXCEPTION, one that is not a view (no such topic, or a plain topic)
//! UNKNOWN_TOPIC_OR_PARTITION, each with a message naming it, and the list is then empty. A view
//! named twice is described once; views come back sorted by name.
//!
//! The counters live per shard ([`crate::view::ViewStats`], on the shard that owns the
//! partition read: a view's partitions are its source's). A shard that has not served a view yet
//! has none, which counts as zero. The index backlog is, over the source's partitions, the
//! offsets between where each shard's index builder has got to and the high watermark.

use std::collections::HashMap;
use std::rc::Rc;

use crate::protocol::error as code;
use crate::protocol::messages::{DescribeViewsRequest, DescribeViewsResponse, DescribedView};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// A view as the catalog defines it (plain data: it crosses to other shards).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Defined {
    name: String,
    source: String,
    filter: String,
    partitions: i32,
}

/// One view's counters: on one shard, or summed over all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    bytes_zero_copy: u64,
    bytes_rewritten: u64,
    batches_whole: u64,
    batches_skipped: u64,
    batches_rewritten: u64,
    batches_unindexed: u64,
    index_backlog_offsets: u64,
}

impl Counters {
    /// Adds `other` (saturating: a counter this large cannot happen, and must not wrap).
    fn add(&mut self, other: &Counters) {
        let sum = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        sum(&mut self.bytes_zero_copy, other.bytes_zero_copy);
        sum(&mut self.bytes_rewritten, other.bytes_rewritten);
        sum(&mut self.batches_whole, other.batches_whole);
        sum(&mut self.batches_skipped, other.batches_skipped);
        sum(&mut self.batches_rewritten, other.batches_rewritten);
        sum(&mut self.batches_unindexed, other.batches_unindexed);
        sum(&mut self.index_backlog_offsets, other.index_backlog_offsets);
    }
}

/// Answer a DescribeViews request.
pub async fn handle(shard: &Rc<ShardState>, req: DescribeViewsRequest) -> DescribeViewsResponse {
    let defined = match defined_views(shard, req.views) {
        Ok(defined) => defined,
        Err((error_code, message)) => {
            return DescribeViewsResponse {
                error_code,
                error_message: Some(Str::from(message)),
                ..Default::default()
            }
        }
    };
    let mut totals = vec![Counters::default(); defined.len()];
    if !defined.is_empty() {
        for target in 0..shard.count {
            let asked = defined.clone();
            // A shard that cannot answer (shutting down) adds nothing.
            let found = shard
                .call(target, move |s| async move { shard_counters(&s, &asked) })
                .await
                .unwrap_or_default();
            for (total, c) in totals.iter_mut().zip(&found) {
                total.add(c);
            }
        }
    }
    DescribeViewsResponse {
        throttle_time_ms: 0,
        error_code: code::NONE,
        error_message: None,
        views: defined
            .into_iter()
            .zip(totals)
            .map(|(d, c)| wire_view(d, c))
            .collect(),
    }
}

/// The views asked for (every view for `None`), sorted by name, from this shard's catalog; or
/// the error code and message of the first name that is invalid or not a view.
fn defined_views(
    shard: &ShardState,
    asked: Option<Vec<Str>>,
) -> Result<Vec<Defined>, (i16, String)> {
    let catalog = shard.catalog.borrow();
    let defined = |name: &str| {
        let meta = catalog.get(name)?;
        let view = meta.configs.view.as_ref()?;
        Some(Defined {
            name: name.to_string(),
            source: view.source.clone(),
            filter: view.filter.clone(),
            partitions: meta.partitions,
        })
    };
    let Some(names) = asked else {
        // The catalog iterates in name order.
        return Ok(catalog
            .iter()
            .filter_map(|(name, _)| defined(name))
            .collect());
    };
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for name in &names {
        if let Err(e) = crate::storage::names::validate_topic(name) {
            return Err((
                code::INVALID_TOPIC_EXCEPTION,
                format!("View name {name:?} is invalid: {e}"),
            ));
        }
        match defined(name) {
            Some(d) => out.push(d),
            None if catalog.get(name).is_some() => {
                return Err((
                    code::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("{name} is a topic, not a view"),
                ))
            }
            None => {
                return Err((
                    code::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("View {name} does not exist"),
                ))
            }
        }
    }
    Ok(out)
}

/// This shard's counters of each of `views`, in the same order.
fn shard_counters(shard: &ShardState, views: &[Defined]) -> Vec<Counters> {
    let served = shard.views.served();
    // Views often share a source: its backlog is looked up once.
    let mut backlogs: HashMap<&str, u64> = HashMap::new();
    views
        .iter()
        .map(|d| {
            let mut c = Counters::default();
            // A view deleted and created again with another source keeps no old counters.
            if let Some(v) = served
                .iter()
                .find(|v| v.name == d.name && *v.source == *d.source)
            {
                let s = &v.stats;
                c.bytes_zero_copy = s.bytes_zero_copy.get();
                c.bytes_rewritten = s.bytes_rewritten.get();
                c.batches_whole = s.batches_whole.get();
                c.batches_skipped = s.batches_skipped.get();
                c.batches_rewritten = s.batches_rewritten.get();
                c.batches_unindexed = s.batches_unindexed.get();
            }
            c.index_backlog_offsets = *backlogs
                .entry(d.source.as_str())
                .or_insert_with(|| index_backlog(shard, &d.source, d.partitions));
            c
        })
        .collect()
}

/// Offsets of `source`'s partitions owned by this shard that its index builder has not looked
/// at yet (from where it has got to, or the log start before it has started, to the high
/// watermark).
fn index_backlog(shard: &ShardState, source: &str, partitions: i32) -> u64 {
    let source_arc: std::sync::Arc<str> = std::sync::Arc::from(source);
    (0..partitions.max(0))
        .filter(|&p| shard.owner(source, p) == shard.id)
        .filter_map(|p| {
            let log = shard.engine.log(source, p).ok()?;
            let start = log.log_start_offset();
            let built = shard
                .views
                .indexes
                .built_to(&source_arc, p)
                .unwrap_or(start)
                .max(start);
            u64::try_from(log.high_watermark().saturating_sub(built)).ok()
        })
        .fold(0u64, u64::saturating_add)
}

/// One view on the wire: counts as i64 (saturating: no count this large can exist).
fn wire_view(d: Defined, c: Counters) -> DescribedView {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    DescribedView {
        name: Str::from(d.name),
        source: Str::from(d.source),
        filter: Str::from(d.filter),
        partitions: d.partitions,
        bytes_zero_copy: count(c.bytes_zero_copy),
        bytes_rewritten: count(c.bytes_rewritten),
        batches_whole: count(c.batches_whole),
        batches_skipped: count(c.batches_skipped),
        batches_rewritten: count(c.batches_rewritten),
        batches_unindexed: count(c.batches_unindexed),
        index_backlog_offsets: count(c.index_backlog_offsets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_saturates_and_wire_view_saturates_to_i64_max() {
        let mut total = Counters {
            bytes_zero_copy: u64::MAX - 1,
            batches_skipped: 3,
            ..Default::default()
        };
        total.add(&Counters {
            bytes_zero_copy: 5,
            bytes_rewritten: 7,
            batches_whole: 1,
            batches_skipped: 4,
            batches_rewritten: 2,
            batches_unindexed: 6,
            index_backlog_offsets: 9,
        });
        assert_eq!(
            total,
            Counters {
                bytes_zero_copy: u64::MAX,
                bytes_rewritten: 7,
                batches_whole: 1,
                batches_skipped: 7,
                batches_rewritten: 2,
                batches_unindexed: 6,
                index_backlog_offsets: 9,
            }
        );
        let d = Defined {
            name: "red".into(),
            source: "orders".into(),
            filter: "tag = 'red'".into(),
            partitions: 3,
        };
        let w = wire_view(d, total);
        assert_eq!(
            (&*w.name, &*w.source, &*w.filter, w.partitions),
            ("red", "orders", "tag = 'red'", 3)
        );
        assert_eq!(
            (
                w.bytes_zero_copy,
                w.bytes_rewritten,
                w.batches_whole,
                w.batches_skipped,
                w.batches_rewritten,
                w.batches_unindexed,
                w.index_backlog_offsets
            ),
            (i64::MAX, 7, 1, 7, 2, 6, 9)
        );
    }
}
