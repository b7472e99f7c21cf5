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
