//! A full disk: the broker's data directory on a small tmpfs (mounted by the test; the test skips
//! loudly where mounting is not allowed). Appends that hit ENOSPC are answered
//! KAFKA_STORAGE_ERROR with a message and leave the partition usable: once space is freed the
//! next produce succeeds without a restart, and every acknowledged record reads back. On a 100%
//! full disk a topic can still be deleted (which is how an operator frees space through the
//! broker). Both drivers; loopback only; bounded in time.

#[macro_use]
mod support;

#[allow(dead_code)]
#[path = "broker_wire/client.rs"]
mod client;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use client::{
    batch, create_topic, fetch_one, metadata_request, produce_request, topic_name, versions, Client,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest};
use ringlog::runtime::IoKind;
use ringlog::storage::batch::BatchHeader;

both_drivers!(
    enospc_is_a_storage_error_and_the_partition_recovers_when_space_is_back,
    a_topic_can_be_deleted_on_a_full_disk,
);

/// Size of the test file system: room for the broker's own files and a few MiB of records.
const FS_BYTES: u64 = 24 << 20;
/// KAFKA_STORAGE_ERROR.
const KAFKA_STORAGE_ERROR: i16 = 56;

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    /// `None` (after a loud note) where this process may not mount.
    fn mount(test: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={FS_BYTES}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallFs { dir }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED {test}: cannot mount a small tmpfs here ({}); run as root to test a \
                     full disk",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED {test}: no mount command ({e})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system with a filler file until ENOSPC; returns its path.
    fn fill(&self, name: &str) -> PathBuf {
        let path = self.path().join(name);
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0xAAu8; 64 << 10];
        loop {
            match f.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling: {e}"),
            }
        }
        // Whatever a partial chunk left: fill to the last byte.
        let mut byte = [0u8; 1];
        while f.write(&byte).map(|n| n == 1).unwrap_or(false) {
            byte[0] ^= 1;
        }
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Produces `values` as one batch; returns (error code, base offset, error message).
fn produce(c: &mut Client, topic: &str, values: &[&[u8]]) -> (i16, i64, Option<String>) {
    let v = *versions(ApiKey::Produce).end();
    let resp = c.call(v, &produce_request(topic, -1, &[(0, batch(1_000, values))]));
    let p = &resp.responses[0].partition_responses[0];
    (
        p.error_code,
        p.base_offset,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// Every record value in a fetched record set.
fn values(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while bytes.len() >= ringlog::storage::batch::HEADER_BYTES {
        let h = BatchHeader::parse(bytes).expect("batch header");
        let size = h.size_bytes() as usize;
        let (one, rest) = bytes.split_at(size);
        let one = bytes::Bytes::copy_from_slice(one);
        let recs = ringlog::storage::records::decode_batch_records(&one, &h, 64 << 20)
            .expect("records decode");
        out.extend(recs.into_iter().map(|r| r.value.expect("value").to_vec()));
        bytes = rest;
    }
    out
}

/// Reads partition 0 from offset 0 to the end.
fn read_all(c: &mut Client, topic: &str, id: uuid::Uuid) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let (err, hw, bytes) = fetch_one(c, topic, id, 0, out.len() as i64);
        assert_eq!(err, 0, "fetch {topic}");
        if bytes.is_empty() {
            assert_eq!(out.len() as i64, hw, "read to the high watermark");
            return out;
        }
        out.extend(values(&bytes));
    }
}

pub fn enospc_is_a_storage_error_and_the_partition_recovers_when_space_is_back(io: IoKind) {
    let Some(fs) = SmallFs::mount("disk_full::enospc") else {
        return;
    };
    let data = fs.path().join("data");
    let broker = support::start_broker(io, &data, 1, |c| {
        c.segment_bytes = 1 << 20;
    });
    let mut c = Client::connect(broker.local_addr());
    // The disk fills in the middle of a segment, and right when the next append rolls one
    // (17 x 60 KiB leave no room for another in the 1 MiB segment).
    let mut topics = Vec::new();
    for (topic, before) in [("full-mid", 4), ("full-roll", 17)] {
        let id = create_topic(&mut c, topic, 1);
        let value = vec![7u8; 60 << 10];
        let mut acked = 0usize;
        for _ in 0..before {
            assert_eq!(produce(&mut c, topic, &[&value]).0, 0);
            acked += 1;
        }
        let filler = fs.fill("filler");
        // The disk is full: each produce is refused with a storage error and a message.
        for _ in 0..3 {
            let (code, base, msg) = produce(&mut c, topic, &[&value]);
            assert_eq!(code, KAFKA_STORAGE_ERROR, "{topic}: produce on a full disk");
            assert_eq!(base, -1);
            let msg = msg.expect("an error message");
            assert!(msg.contains("No space left"), "message: {msg}");
        }
        // Space is back: the very next produce succeeds, no restart, and nothing was lost or
        // half-written in between.
        std::fs::remove_file(&filler).expect("free space");
        for _ in 0..4 {
            let (code, base, msg) = produce(&mut c, topic, &[&value]);
            assert_eq!(code, 0, "{topic}: produce after freeing space: {msg:?}");
            assert_eq!(
                base, acked as i64,
                "offsets continue from the last good batch"
            );
            acked += 1;
        }
        let got = read_all(&mut c, topic, id);
        assert_eq!(got.len(), acked);
        assert!(got.iter().all(|v| *v == value), "record bytes intact");
        topics.push((topic, id, acked));
    }
    drop(c);
    broker.shutdown();
    broker.join().expect("broker stops cleanly");
    // And a restart finds exactly the acknowledged records.
    let broker = support::start_broker(io, &data, 1, |_| {});
    let mut c = Client::connect(broker.local_addr());
    for (topic, id, acked) in topics {
        assert_eq!(
            read_all(&mut c, topic, id).len(),
            acked,
            "{topic} after a restart"
        );
    }
    drop(c);
    broker.shutdown();
    broker.join().expect("broker stops cleanly");
}

pub fn a_topic_can_be_deleted_on_a_full_disk(io: IoKind) {
    let Some(fs) = SmallFs::mount("disk_full::delete") else {
        return;
    };
    let data = fs.path().join("data");
    let broker = support::start_broker(io, &data, 2, |_| {});
    let mut c = Client::connect(broker.local_addr());
    create_topic(&mut c, "big", 2);
    create_topic(&mut c, "keep", 2);
    let value = vec![3u8; 100 << 10];
    for _ in 0..20 {
        assert_eq!(produce(&mut c, "big", &[&value]).0, 0);
    }
    let _filler = fs.fill("filler");
    let v = *versions(ApiKey::DeleteTopics).end();
    let req = DeleteTopicsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name("big")))
        ]);
    let resp = c.call(v, &req);
    assert_eq!(
        resp.responses[0].error_code, 0,
        "delete on a 100% full disk: {:?}",
        resp.responses[0].error_message
    );
    // The space of the deleted topic is free again: the other topic takes writes.
    let (code, _, msg) = produce(&mut c, "keep", &[b"after the delete"]);
    assert_eq!(code, 0, "produce after deleting on a full disk: {msg:?}");
    // The space reserve the catalog save used is put back by housekeeping (space allows now).
    let reserve = data.join(ringlog::broker::reserve::SPACE_RESERVE_FILE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&reserve).map_or(0, |m| m.len())
        != ringlog::broker::reserve::SPACE_RESERVE_BYTES
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the space reserve was not put back"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(c);
    broker.shutdown();
    broker.join().expect("broker stops cleanly");
    // The deletion is durable.
    let broker = support::start_broker(io, &data, 2, |_| {});
    let mut c = Client::connect(broker.local_addr());
    let resp = c.call(12, &metadata_request(12, None, false));
    let names: Vec<String> = resp
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    assert_eq!(names, vec!["keep".to_string()]);
    drop(c);
    broker.shutdown();
    broker.join().expect("broker stops cleanly");
}
