//! DescribeLogDirs (key 35, KIP-113): the broker's log directories and the size of each
//! partition's log in them, what `kafka-log-dirs.sh --describe` and `Admin.describeLogDirs` ask.
//!
//! ringlog has one log directory, the data directory (reported as an absolute path), and every
//! shard's engine holds its own partitions there: each shard holding any partition asked for is
//! asked at once (one mesh call per shard). As Kafka 4.4 answers it:
//! - `topics` null: every partition's log; else the partitions asked for that have a log here,
//!   the others left out without an error (Kafka's answer for partitions it does not host). A
//!   view (issue #17) has no log of its own (its partitions are its source's) and is left out
//!   the same way.
//! - Per partition: the bytes of its segments, an offset lag of max(high watermark - log end, 0)
//!   (0 on a leader), never a future log.
//! - v4+: the volume's total and usable bytes (statvfs(3)); -1 each when they cannot be read.
//!   v5: never cordoned.
//!
//! # Invariants
//! - One entry per distinct partition asked (or per log), topics in name order, partitions in
//!   index order: the response is bounded by the broker's partitions whatever the request
//!   repeats.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::error::BrokerError;
use crate::protocol::error as code;
use crate::protocol::messages::{
    DescribeLogDirsPartition, DescribeLogDirsRequest, DescribeLogDirsResponse,
    DescribeLogDirsResult, DescribeLogDirsTopic,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// One partition's log as its owner shard measured it: (topic, partition, bytes, offset lag).
type LogSize = (String, i32, u64, i64);

/// Answer a DescribeLogDirs request.
pub async fn handle(
    shard: &Rc<ShardState>,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    // Per shard: `None` = all its logs, else the partitions asked that routing gives it.
    let asked: Vec<Option<Vec<(String, i32)>>> = match &req.topics {
        None => (0..shard.count).map(|_| None).collect(),
        Some(topics) => {
            let distinct: BTreeSet<(&str, i32)> = topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|&p| (&*t.topic, p)))
                .collect();
            let mut by_shard: Vec<Option<Vec<(String, i32)>>> =
                (0..shard.count).map(|_| Some(Vec::new())).collect();
            for (topic, p) in distinct {
                if let Some(parts) = &mut by_shard[shard.owner(topic, p)] {
                    parts.push((topic.to_string(), p));
                }
            }
            by_shard
        }
    };
    let calls = asked
        .into_iter()
        .enumerate()
        .map(|(owner, parts)| sizes_on(shard, owner, parts))
        .collect::<Vec<_>>();
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for (topic, partition_index, bytes, offset_lag) in crate::runtime::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
    {
        by_topic
            .entry(topic)
            .or_default()
            .push(DescribeLogDirsPartition {
                partition_index,
                partition_size: i64::try_from(bytes).unwrap_or(i64::MAX),
                offset_lag,
                is_future_key: false,
            });
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic {
                name: Str::from(name),
                partitions,
            }
        })
        .collect();
    let dir = &shard.config.data_dir;
    let log_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    let (total_bytes, usable_bytes) = match crate::runtime::fs::volume_bytes(&log_dir) {
        Ok(v) => (
            i64::try_from(v.total).unwrap_or(i64::MAX),
            i64::try_from(v.usable).unwrap_or(i64::MAX),
        ),
        Err(e) => {
            tracing::warn!("describe log dirs: statvfs {}: {e}", log_dir.display());
            (-1, -1)
        }
    };
    DescribeLogDirsResponse {
        throttle_time_ms: 0,
        error_code: code::NONE,
        results: vec![DescribeLogDirsResult {
            error_code: code::NONE,
            log_dir: Str::from(log_dir.display().to_string()),
            topics,
            total_bytes,
            usable_bytes,
            is_cordoned: false,
        }],
    }
}

/// The logs of shard `owner`: all of them (`None`) or those of `parts` it has.
async fn sizes_on(
    shard: &Rc<ShardState>,
    owner: usize,
    parts: Option<Vec<(String, i32)>>,
) -> Vec<LogSize> {
    if parts.as_ref().is_some_and(Vec::is_empty) {
        return Vec::new();
    }
    let read = shard
        .call(owner, move |s| async move {
            let parts = parts.unwrap_or_else(|| s.engine.partitions());
            parts
                .into_iter()
                // The engine's own logs only: a view's name has none.
                .filter_map(|(topic, p)| {
                    let log = s.engine.log(&topic, p).ok()?;
                    let lag = (log.high_watermark() - log.log_end_offset()).max(0);
                    Some((topic, p, log.size_bytes(), lag))
                })
                .collect::<Vec<LogSize>>()
        })
        .await;
    read.unwrap_or_else(|| {
        let e = BrokerError::ShardUnavailable {
            shard: owner,
            op: "describe log dirs",
        };
        tracing::warn!("{e}");
        Vec::new()
    })
}
