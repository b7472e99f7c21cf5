//! The embedding API: topics, names, ownership, append/read through the engine.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::common::*;
use crate::common::{block_on, spawn};
use ringlog::broker::error::kafka_code as error_code;
use ringlog::protocol::error as kafka_code;
use ringlog::storage::{Engine, EngineConfig, Error};

fn config() -> EngineConfig {
    EngineConfig {
        log: small_config(),
        ..EngineConfig::default()
    }
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn create_append_read_reopen_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    block_on(async {
        let engine = Engine::open(dir.path(), config()).await.expect("open");
        engine.create_topic("orders", 3).await.expect("create");
        assert!(matches!(
            engine.create_topic("orders", 1).await,
            Err(Error::TopicAlreadyExists { .. })
        ));
        assert_eq!(
            entries(dir.path()),
            vec!["orders-0", "orders-1", "orders-2"]
        );
        let b = test_batch(1, 2, 77);
        assert_eq!(
            engine.append("orders", 1, b.clone()).await.expect("append"),
            0
        );
        assert_eq!(
            engine.append("orders", 1, b.clone()).await.expect("append"),
            2
        );
        assert_eq!(engine.latest_offset("orders", 1).expect("latest"), 4);
        assert_eq!(engine.earliest_offset("orders", 1).expect("earliest"), 0);
        assert_eq!(engine.latest_offset("orders", 0).expect("latest"), 0);
        assert_eq!(
            engine
                .offset_for_timestamp("orders", 1, 78)
                .await
                .expect("ts"),
            Some(0)
        );
        let r = engine.read("orders", 1, 2, 1 << 20).await.expect("read");
        assert_eq!(r.read_to_vec().await.expect("bytes"), stamped(&b, 2));
        assert!(matches!(
            engine.append("orders", 3, b.clone()).await,
            Err(Error::UnknownTopicOrPartition { partition: 3, .. })
        ));
        assert!(matches!(
            engine.append("nope", 0, b.clone()).await,
            Err(Error::UnknownTopicOrPartition { .. })
        ));
        let topics = engine.topics().expect("topics");
        assert_eq!(topics, BTreeMap::from([("orders".to_string(), 3)]));
    });
    block_on(async {
        let engine = Engine::open(dir.path(), config()).await.expect("reopen");
        assert_eq!(engine.partitions().len(), 3);
        assert_eq!(engine.latest_offset("orders", 1).expect("latest"), 4);
        let held = engine.log("orders", 1).expect("log");
        assert_eq!(engine.delete_topic("orders").await.expect("delete"), 3);
        assert!(entries(dir.path()).is_empty());
        assert!(matches!(
            held.append(test_batch(0, 1, 0)).await,
            Err(Error::Deleted { .. })
        ));
        assert!(matches!(
            engine.delete_topic("orders").await,
            Err(Error::UnknownTopicOrPartition { .. })
        ));
        assert!(engine.topics().expect("topics").is_empty());
    });
}

#[test]
fn hostile_topic_names_rejected_and_nothing_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    block_on(async {
        let engine = Engine::open(dir.path(), config()).await.expect("open");
        let long = "a".repeat(250);
        for name in [
            "..",
            ".",
            "a/b",
            "../etc",
            "",
            "a\0b",
            long.as_str(),
            "a b",
            "ü",
        ] {
            let e = engine.create_topic(name, 1).await.expect_err(name);
            assert_eq!(
                error_code(&e),
                kafka_code::INVALID_TOPIC_EXCEPTION,
                "{name:?}"
            );
            assert!(engine.append(name, 0, test_batch(0, 1, 0)).await.is_err());
            assert!(engine.delete_topic(name).await.is_err());
        }
        for n in [0, -1, 10_001] {
            assert!(matches!(
                engine.create_topic("t", n).await,
                Err(Error::InvalidPartition { .. })
            ));
        }
        assert!(entries(dir.path()).is_empty());
        engine
            .create_topic(&"a".repeat(249), 1)
            .await
            .expect("249 chars is fine");
        assert!(engine.append("t", -1, test_batch(0, 1, 0)).await.is_err());
    });
    assert!(!dir.path().parent().expect("parent").join("etc-0").exists());
}

#[test]
fn ownership_filter_splits_partitions_between_engines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = |me: i32| EngineConfig {
        owns: Some(Arc::new(move |_topic: &str, p: i32| p % 2 == me)),
        ..config()
    };
    block_on(async {
        let e0 = Engine::open(dir.path(), shard(0)).await.expect("open 0");
        let e1 = Engine::open(dir.path(), shard(1)).await.expect("open 1");
        e0.create_topic("t", 4).await.expect("create");
        assert_eq!(
            e0.partitions(),
            vec![("t".to_string(), 0), ("t".to_string(), 2)]
        );
        assert!(e1.partitions().is_empty());
        assert_eq!(e1.refresh().await.expect("refresh"), 2);
        assert_eq!(
            e1.partitions(),
            vec![("t".to_string(), 1), ("t".to_string(), 3)]
        );
        assert!(
            e0.append("t", 1, test_batch(0, 1, 0)).await.is_err(),
            "not owned"
        );
        e1.append("t", 1, test_batch(0, 1, 0)).await.expect("owned");
        assert_eq!(e1.topics().expect("topics")["t"], 4);
        assert_eq!(e0.delete_topic("t").await.expect("delete own"), 2);
        assert_eq!(e1.delete_topic("t").await.expect("delete own"), 2);
        assert!(entries(dir.path()).is_empty());
    });
}

#[test]
fn long_poll_notification_through_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    block_on(async {
        let engine = Rc::new(Engine::open(dir.path(), config()).await.expect("open"));
        engine.create_topic("t", 1).await.expect("create");
        let e2 = engine.clone();
        let waiter = spawn(async move { e2.wait_for_append("t", 0, 0).await });
        let log = engine.log("t", 0).expect("log");
        assert_eq!(log.high_watermark(), 0);
        engine
            .append("t", 0, test_batch(0, 2, 0))
            .await
            .expect("append");
        assert_eq!(waiter.await.expect("woken"), 2);
    });
}

#[test]
fn leftover_deleting_directories_are_removed_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("t-0.deleting/sub")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("not a partition")).expect("mkdir");
    block_on(async {
        let engine = Engine::open(dir.path(), config()).await.expect("open");
        assert!(engine.partitions().is_empty());
    });
    assert_eq!(entries(dir.path()), vec!["not a partition"]);
}

/// A file in the way of one partition's directory: the creation fails and leaves no directory
/// of the topic and no open partition; once the file is gone the same creation works.
#[test]
fn create_topic_is_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("t-2"), b"in the way").expect("write");
    block_on(async {
        let engine = Engine::open(dir.path(), config()).await.expect("open");
        match engine.create_topic("t", 4).await {
            Err(Error::Io { op: "mkdir", .. }) => {}
            other => panic!("expected a mkdir error, got {other:?}"),
        }
        assert_eq!(entries(dir.path()), vec!["t-2"], "only the file is left");
        assert!(engine.partitions().is_empty());
        assert!(engine.log("t", 0).is_err());
        std::fs::remove_file(dir.path().join("t-2")).expect("rm");
        engine.create_topic("t", 4).await.expect("create");
        assert_eq!(engine.partitions().len(), 4);
    });
}

/// The broker's steps of a creation: directories, then each engine opens its partitions, all or
/// none; a roll-back closes them (handles fail with `Deleted`) and removes every directory.
#[test]
fn open_topic_is_all_or_nothing_and_a_roll_back_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    block_on(async {
        let engine = Engine::open(dir.path(), config()).await.expect("open");
        engine.create_partition_dirs("t", 3).await.expect("dirs");
        assert!(matches!(
            engine.create_partition_dirs("t", 3).await,
            Err(Error::TopicAlreadyExists { .. })
        ));
        // Partition 2 cannot be opened: a damaged sealed segment (not repaired).
        let p2 = dir.path().join("t-2");
        std::fs::write(p2.join(format!("{:020}.log", 0)), [7u8; 100]).expect("write");
        std::fs::write(p2.join(format!("{:020}.log", 5)), b"").expect("write");
        assert!(matches!(
            engine.open_topic("t", 3).await,
            Err(Error::CorruptSegment { .. })
        ));
        assert!(
            engine.partitions().is_empty(),
            "partitions 0 and 1 closed again"
        );
        assert_eq!(engine.remove_topic_dirs("t").await.expect("remove"), 3);
        assert!(entries(dir.path()).is_empty());

        engine.create_partition_dirs("t", 2).await.expect("dirs");
        assert_eq!(engine.open_topic("t", 2).await.expect("open"), 2);
        let log = engine.log("t", 1).expect("log");
        assert_eq!(engine.close_topic("t"), 2);
        assert!(matches!(
            log.append(test_batch(0, 1, 0)).await,
            Err(Error::Deleted { .. })
        ));
        engine.remove_topic_dirs("t").await.expect("remove");
        assert!(entries(dir.path()).is_empty());
    });
}

/// Directories nobody claims go to `orphaned/` (a second one of the same name gets a suffix),
/// claimed ones stay; an engine opened afterwards does not open the orphans.
#[test]
fn unclaimed_partition_directories_are_set_aside() {
    use ringlog::storage::engine::{set_aside_unclaimed, ORPHANED_DIR};
    let dir = tempfile::tempdir().expect("tempdir");
    block_on(async {
        let engine = Engine::open(dir.path(), config()).await.expect("open");
        engine.create_topic("kept", 2).await.expect("create");
        engine.create_topic("ghost", 1).await.expect("create");
        engine
            .append("ghost", 0, test_batch(0, 1, 0))
            .await
            .expect("append");
    });
    std::fs::create_dir(dir.path().join("kept-7")).expect("mkdir");
    let claimed = |t: &str, p: i32| t == "kept" && p < 2;
    let moved = set_aside_unclaimed(dir.path(), claimed).expect("set aside");
    assert_eq!(moved.len(), 2);
    let aside = dir.path().join(ORPHANED_DIR);
    assert_eq!(entries(&aside), vec!["ghost-0", "kept-7"]);
    assert!(aside.join(format!("ghost-0/{:020}.log", 0)).exists());
    std::fs::create_dir(dir.path().join("ghost-0")).expect("mkdir again");
    set_aside_unclaimed(dir.path(), claimed).expect("set aside");
    assert_eq!(entries(&aside), vec!["ghost-0", "ghost-0.1", "kept-7"]);
    assert!(set_aside_unclaimed(dir.path(), claimed)
        .expect("nothing left")
        .is_empty());
    block_on(async {
        let engine = Engine::open(dir.path(), config()).await.expect("reopen");
        assert_eq!(
            engine.partitions(),
            vec![("kept".to_string(), 0), ("kept".to_string(), 1)]
        );
    });
}

/// An engine's budget bounds the files its cache holds, whatever the number of partitions and
/// segments, and a budget of 0 is refused.
#[test]
fn the_engine_holds_at_most_its_budget_of_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let budget = EngineConfig {
        open_segment_files_max: 5,
        ..config()
    };
    block_on(async {
        assert!(matches!(
            Engine::open(
                dir.path(),
                EngineConfig {
                    open_segment_files_max: 0,
                    ..config()
                }
            )
            .await,
            Err(Error::InvalidArgument { .. })
        ));
        let engine = Engine::open(dir.path(), budget.clone())
            .await
            .expect("open");
        engine.create_topic("t", 12).await.expect("create");
        assert_eq!(engine.file_cache().held(), 0, "opening keeps no file open");
        for round in 0..16 {
            for p in 0..12 {
                engine
                    .append("t", p, test_batch(round, 10, 0))
                    .await
                    .expect("append");
                assert!(engine.file_cache().held() <= 5);
            }
        }
        assert!(engine.log("t", 0).expect("log").segment_count() > 2);
        for p in 0..12 {
            let r = engine.read("t", p, 0, u64::MAX).await.expect("read");
            assert_eq!(r.slices.last().map(|s| s.last_offset), Some(159));
            assert!(engine.file_cache().held() <= 5);
        }
        let stats = engine.file_cache().stats();
        assert!(stats.evictions > 0, "{stats:?}");
    });
}
