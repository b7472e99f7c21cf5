//! Embedding the storage engine: create a topic, produce, fetch as file slices, list offsets,
//! long-poll for new data, reopen.
//!
//! Run: `cargo run -p ringlog-storage --example embed -- ./embed-data`

use std::rc::Rc;
use std::time::Duration;

use ringlog_storage::batch::testing::build_batch;
use ringlog_storage::runtime::{spawn, IoKind, RuntimeConfig};
use ringlog_storage::{Engine, EngineConfig, FlushPolicy, LogConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./embed-data".to_string());
    let config = EngineConfig {
        log: LogConfig {
            flush: FlushPolicy::Always, // an append resolves once its data is fdatasynced
            segment_bytes: 64 << 20,
            ..LogConfig::default()
        },
        // One engine per shard: this one owns every partition.
        owns: None,
        repair: false,
        // Segment files kept open at once, all partitions together; others are opened on use.
        open_segment_files_max: 64,
    };
    // The engine runs on a ringlog shard (io_uring here; IoKind::Epoll works the same way).
    let shard = RuntimeConfig::single(IoKind::Uring);
    ringlog_storage::runtime::block_on(&shard, async move {
        let engine = Rc::new(Engine::open(&dir, config.clone()).await?);
        if !engine.topics()?.contains_key("events") {
            engine.create_topic("events", 2).await?;
        }
        println!("topics on disk: {:?}", engine.topics()?);

        // Produce: the bytes of a Produce request's `records` field (one or more batches).
        let mut records = build_batch(1_700_000_000_000, &[b"hello", b"world"]);
        records.extend(build_batch(1_700_000_000_100, &[b"again"]));
        let base = engine.append("events", 0, records).await?;
        println!("appended at base offset {base}");

        // Long-poll fetch: wait until the high watermark passes what the consumer has.
        let hw = engine.latest_offset("events", 0)?;
        let e2 = engine.clone();
        let waiter = spawn(async move { e2.wait_for_append("events", 0, hw).await });
        engine
            .append("events", 0, build_batch(1_700_000_000_200, &[b"late"]))
            .await?;
        println!("long poll woke at high watermark {}", waiter.await?);

        // Fetch: whole batches as (file, position, length) slices, ready for sendfile/splice.
        let r = engine.read("events", 0, base, 1 << 20).await?;
        for s in &r.slices {
            println!(
                "slice: fd {} pos {} len {} offsets {}..={}",
                s.file.raw_fd(),
                s.position,
                s.length,
                s.first_offset,
                s.last_offset
            );
        }
        println!(
            "high watermark {}, log start {}",
            r.high_watermark, r.log_start_offset
        );

        // ListOffsets.
        println!(
            "earliest {}, latest {}, first batch with max timestamp >= 1_700_000_000_050: {:?}",
            engine.earliest_offset("events", 0)?,
            engine.latest_offset("events", 0)?,
            engine
                .offset_for_timestamp("events", 0, 1_700_000_000_050)
                .await?
        );

        // Housekeeping the broker runs from timers.
        engine.apply_retention().await?;
        engine.flush_due().await?;
        ringlog_storage::runtime::time::sleep(Duration::from_millis(1)).await;
        drop(engine);

        // Reopen: recovery verifies the active segments and the data is still there.
        let engine = Engine::open(&dir, config).await?;
        println!(
            "after reopen: latest {}",
            engine.latest_offset("events", 0)?
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })?
}
