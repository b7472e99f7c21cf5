//! The storage suite on the epoll driver (the same files as `storage_uring.rs`).
#![allow(dead_code)]

const IO: ringlog::runtime::IoKind = ringlog::runtime::IoKind::Epoll;

#[path = "storage/common.rs"]
mod common;
#[path = "storage/compact.rs"]
mod compact;
#[path = "storage/engine.rs"]
mod engine;
#[path = "storage/fuzz_decoders.rs"]
mod fuzz_decoders;
#[path = "storage/log_basic.rs"]
mod log_basic;
#[path = "storage/model.rs"]
mod model;
#[path = "storage/recovery.rs"]
mod recovery;

/// Epoll shards hand fdatasync to a helper thread; an append under `FlushPolicy::Always` must
/// wait for that thread, not just for the hand-off.
mod epoll_fsync_helper {
    use std::cell::Cell;
    use std::rc::Rc;

    use crate::common::{block_on, open, small_config, spawn, test_batch};
    use ringlog::runtime::fs::fault;
    use ringlog::storage::FlushPolicy;

    /// Yields before giving up on seeing the sync dispatched (the append task needs one poll).
    const YIELDS_MAX: usize = 1000;

    #[test]
    fn always_append_waits_for_the_fsync_helper_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = small_config();
        cfg.flush = FlushPolicy::Always;
        let log = Rc::new(open(dir.path(), &cfg));
        block_on(async {
            assert_eq!(
                ringlog::runtime::io_kind(),
                Some(ringlog::runtime::IoKind::Epoll)
            );
            let syncs_before = fault::sync_calls();
            let done = Rc::new(Cell::new(false));
            let (l2, d2) = (log.clone(), done.clone());
            let h = spawn(async move {
                let r = l2.append(test_batch(0, 2, 0)).await;
                d2.set(true);
                r
            });
            // Run until the append has written and handed its fdatasync to the helper thread.
            let mut seen_in_flight = false;
            for _ in 0..YIELDS_MAX {
                ringlog::runtime::yield_now().await;
                if fault::sync_calls() > syncs_before && !done.get() {
                    assert_eq!(log.log_end_offset(), 2, "written before the sync");
                    assert_eq!(
                        log.durable_offset(),
                        0,
                        "not durable while the helper syncs"
                    );
                    assert_eq!(
                        log.high_watermark(),
                        0,
                        "not visible while the helper syncs"
                    );
                    seen_in_flight = true;
                    break;
                }
            }
            assert!(
                seen_in_flight,
                "the append never waited on an in-flight fdatasync"
            );
            assert_eq!(h.await.expect("append"), 0);
            assert_eq!(fault::sync_calls(), syncs_before + 1, "one fdatasync");
            assert_eq!(log.durable_offset(), 2, "durable once the helper finished");
            assert_eq!(log.high_watermark(), 2);
        });
    }
}
