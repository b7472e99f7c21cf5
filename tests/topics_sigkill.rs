//! Topic creation and deletion from several clients at once, against a `ringlog serve` child that
//! is SIGKILLed in the middle: after the restart the catalog (what Metadata lists), the disk (the
//! partition directories) and the acknowledgements agree — every acknowledged creation that was
//! not deleted is there with all its partitions, no acknowledged deletion is, and no directory is
//! left that the catalog does not name. Loopback only; bounded in time.

mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::{
    connect_retry, create_topics_request, metadata_request, topic_name, versions, Client,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest};
use support::{free_port, spawn_serve, Serve};

/// Concurrent clients.
const CLIENTS: usize = 4;
/// Topics each client creates per wave (4 x 25 = 100 per wave).
const TOPICS_PER_CLIENT: usize = 25;
/// Partitions per topic (spread over both shards).
const PARTITIONS: i32 = 3;
/// Prefix of every topic this test creates (other directories in the data dir are not ours).
const PREFIX: &str = "sk";

/// What the clients were told.
#[derive(Default)]
struct Acks {
    created: BTreeSet<String>,
    /// Deletions sent (acknowledged or not: one in flight at a SIGKILL may have happened).
    delete_sent: BTreeSet<String>,
    deleted: BTreeSet<String>,
}

/// One client's wave: create its topics, delete every third right after creating it. Stops at the
/// first request that gets no answer (the broker was killed); its outcome is unknown.
fn wave(addr: SocketAddr, wave: usize, client: usize, acks: Arc<Mutex<Acks>>) {
    let create_v = *versions(ApiKey::CreateTopics).end();
    let delete_v = *versions(ApiKey::DeleteTopics).end();
    let Ok(mut c) = std::panic::catch_unwind(|| Client::connect(addr)) else {
        return;
    };
    for t in 0..TOPICS_PER_CLIENT {
        let name = format!("{PREFIX}-{wave}-{client}-{t}");
        let req = create_topics_request(&[(&name, PARTITIONS, 1)]);
        let Ok(resp) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.call(create_v, &req)))
        else {
            return;
        };
        assert_eq!(resp.topics[0].error_code, 0, "create {name}");
        acks.lock().unwrap().created.insert(name.clone());
        if t % 3 == 2 {
            acks.lock().unwrap().delete_sent.insert(name.clone());
            let req = DeleteTopicsRequest::default()
                .with_timeout_ms(5_000)
                .with_topics(vec![
                    DeleteTopicState::default().with_name(Some(topic_name(&name)))
                ]);
            let Ok(resp) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.call(delete_v, &req)))
            else {
                return;
            };
            assert_eq!(resp.responses[0].error_code, 0, "delete {name}");
            acks.lock().unwrap().deleted.insert(name);
        }
    }
}

/// Runs one wave on every client at once; `kill_after` SIGKILLs the broker while it runs.
fn run_wave(addr: SocketAddr, n: usize, acks: &Arc<Mutex<Acks>>, kill: Option<(Duration, Serve)>) {
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let acks = acks.clone();
            std::thread::spawn(move || wave(addr, n, c, acks))
        })
        .collect();
    if let Some((after, mut serve)) = kill {
        std::thread::sleep(after);
        serve.0.kill().expect("SIGKILL");
        serve.0.wait().expect("reap");
    }
    for t in threads {
        t.join().expect("client thread");
    }
}

/// Topics (ours) and their partition counts as Metadata lists them.
fn listed(c: &mut Client) -> BTreeMap<String, usize> {
    let resp = c.call(12, &metadata_request(12, None, false));
    resp.topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.to_string();
            name.starts_with(PREFIX)
                .then_some((name, t.partitions.len()))
        })
        .collect()
}

/// Partition directories (ours) on disk, as `topic -> partitions`; directories being deleted
/// (`.deleting`) and anything moved aside are not partitions.
fn on_disk(dir: &Path) -> BTreeMap<String, BTreeSet<i32>> {
    let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read data dir") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(PREFIX) {
            continue;
        }
        let Some((topic, p)) = name.rsplit_once('-') else {
            continue;
        };
        if let Ok(p) = p.parse::<i32>() {
            out.entry(topic.to_string()).or_default().insert(p);
        }
    }
    out
}

/// Catalog, disk and acknowledgements agree.
fn check_agreement(c: &mut Client, dir: &Path, acks: &Acks, when: &str) {
    let listed = listed(c);
    for name in acks.created.difference(&acks.delete_sent) {
        assert_eq!(
            listed.get(name),
            Some(&(PARTITIONS as usize)),
            "{when}: acknowledged topic {name} missing or incomplete"
        );
    }
    for name in &acks.deleted {
        assert!(
            !listed.contains_key(name),
            "{when}: acknowledged deletion of {name} undone"
        );
    }
    let disk = on_disk(dir);
    let want: BTreeMap<String, BTreeSet<i32>> = listed
        .iter()
        .map(|(t, &n)| (t.clone(), (0..n as i32).collect()))
        .collect();
    assert_eq!(
        disk.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{when}: topics on disk vs in the catalog"
    );
    assert_eq!(disk, want, "{when}: partition directories vs the catalog");
}

#[test]
fn concurrent_topic_changes_agree_across_catalog_disk_and_acks_after_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let acks = Arc::new(Mutex::new(Acks::default()));

    // Wave 0: 100 topics, a third deleted again, all acknowledged; a clean check.
    let serve = spawn_serve(dir.path(), port);
    drop(connect_retry(addr));
    run_wave(addr, 0, &acks, None);
    {
        let a = acks.lock().unwrap();
        assert_eq!(a.created.len(), CLIENTS * TOPICS_PER_CLIENT);
        check_agreement(&mut connect_retry(addr), dir.path(), &a, "after wave 0");
    }

    // Waves 1..: SIGKILL in the middle of each, at a different moment; restart; check.
    let mut serve = Some(serve);
    for (n, kill_ms) in [(1, 150), (2, 400), (3, 40)] {
        run_wave(
            addr,
            n,
            &acks,
            Some((Duration::from_millis(kill_ms), serve.take().unwrap())),
        );
        serve = Some(spawn_serve(dir.path(), port));
        let mut c = connect_retry(addr);
        let a = acks.lock().unwrap();
        check_agreement(
            &mut c,
            dir.path(),
            &a,
            &format!("after SIGKILL in wave {n}"),
        );
    }
    // Unknown outcomes settle: a clean restart lists the same.
    let before = listed(&mut connect_retry(addr));
    drop(serve.take());
    let _serve = spawn_serve(dir.path(), port);
    let mut c = connect_retry(addr);
    assert_eq!(listed(&mut c), before, "a second restart changes nothing");
    check_agreement(
        &mut c,
        dir.path(),
        &acks.lock().unwrap(),
        "after a second restart",
    );
}
