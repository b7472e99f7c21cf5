//! Helper threads that run fsync/fdatasync for an epoll shard, so the shard's event loop never
//! blocks on the disk.
//!
//! The job carries a `dup`ed descriptor, so the file may be closed by its owner while the fsync
//! runs without the number being reused under the helper. Results come back through a mutex-held
//! list and the shard's eventfd.
//!
//! # Invariants
//! - At most `jobs_max` jobs are pending per shard (a bounded slab and a bounded channel of the
//!   same size, so the channel never blocks the shard).
//! - A job whose future was dropped still completes; its slot is freed then.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use crate::executor::Remote;
use crate::slab::{Key, Slab};

struct Job {
    key: Key,
    fd: OwnedFd,
    datasync: bool,
}

struct JobSlot {
    waker: Option<Waker>,
    result: Option<i32>,
    abandoned: bool,
}

pub(crate) struct Blocking {
    threads: usize,
    tx: RefCell<Option<SyncSender<Job>>>,
    results: Arc<Mutex<Vec<(Key, i32)>>>,
    jobs: RefCell<Slab<JobSlot>>,
    slot_waiters: RefCell<Vec<Waker>>,
    remote: Arc<Remote>,
    jobs_max: usize,
}

impl Blocking {
    pub(crate) fn new(threads: usize, jobs_max: usize, remote: Arc<Remote>) -> Blocking {
        Blocking {
            threads: threads.max(1),
            tx: RefCell::new(None),
            results: Arc::new(Mutex::new(Vec::new())),
            jobs: RefCell::new(Slab::with_capacity(jobs_max)),
            slot_waiters: RefCell::new(Vec::new()),
            remote,
            jobs_max,
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.jobs.borrow().len()
    }

    fn sender(&self) -> io::Result<SyncSender<Job>> {
        if let Some(tx) = &*self.tx.borrow() {
            return Ok(tx.clone());
        }
        let (tx, rx) = sync_channel::<Job>(self.jobs_max);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..self.threads {
            let rx = rx.clone();
            let results = self.results.clone();
            let remote = self.remote.clone();
            std::thread::Builder::new()
                .name(format!("ringlog-fsync-{i}"))
                .spawn(move || worker(rx, results, remote))?;
        }
        *self.tx.borrow_mut() = Some(tx.clone());
        Ok(tx)
    }

    /// Start an fsync job for `fd`; `Ok(None)` when the job slab is full (waker queued).
    fn start(
        &self,
        fd: RawFd,
        datasync: bool,
        cx: &mut TaskContext<'_>,
    ) -> io::Result<Option<Key>> {
        let Some(key) = self.jobs.borrow_mut().insert(JobSlot {
            waker: Some(cx.waker().clone()),
            result: None,
            abandoned: false,
        }) else {
            self.slot_waiters.borrow_mut().push(cx.waker().clone());
            return Ok(None);
        };
        // SAFETY: F_DUPFD_CLOEXEC has no memory preconditions; the result is checked.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            self.jobs.borrow_mut().remove(key);
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(dup) };
        let tx = match self.sender() {
            Ok(tx) => tx,
            Err(e) => {
                self.jobs.borrow_mut().remove(key);
                return Err(e);
            }
        };
        // The channel holds jobs_max entries and the slab admits at most jobs_max jobs, so
        // try_send never sees a full channel; a disconnected one means every helper died.
        if tx.try_send(Job { key, fd, datasync }).is_err() {
            self.jobs.borrow_mut().remove(key);
            return Err(io::Error::other("fsync helper threads are gone"));
        }
        Ok(Some(key))
    }

    fn poll_job(&self, key: Key, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        let mut jobs = self.jobs.borrow_mut();
        let Some(slot) = jobs.get_mut(key) else {
            return Poll::Ready(Err(io::Error::other("fsync job lost")));
        };
        match slot.result {
            Some(res) => {
                jobs.remove(key);
                drop(jobs);
                self.wake_slot_waiters();
                Poll::Ready(if res == 0 {
                    Ok(())
                } else {
                    Err(io::Error::from_raw_os_error(res))
                })
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn abandon(&self, key: Key) {
        let mut jobs = self.jobs.borrow_mut();
        if let Some(slot) = jobs.get_mut(key) {
            if slot.result.is_some() {
                jobs.remove(key);
            } else {
                slot.abandoned = true;
                slot.waker = None;
            }
        }
    }

    fn wake_slot_waiters(&self) {
        let waiters = std::mem::take(&mut *self.slot_waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }

    /// Collect finished jobs (called after the eventfd fired).
    pub(crate) fn reap(&self, wake: &mut Vec<Waker>) {
        let done = std::mem::take(&mut *self.results.lock().unwrap_or_else(|e| e.into_inner()));
        if done.is_empty() {
            return;
        }
        let mut jobs = self.jobs.borrow_mut();
        let mut freed = false;
        for (key, res) in done {
            let Some(slot) = jobs.get_mut(key) else {
                continue;
            };
            if slot.abandoned {
                jobs.remove(key);
                freed = true;
            } else {
                slot.result = Some(res);
                wake.extend(slot.waker.take());
            }
        }
        drop(jobs);
        if freed {
            wake.append(&mut self.slot_waiters.borrow_mut());
        }
    }

    pub(crate) fn take_all_wakers(&self) -> Vec<Waker> {
        let mut out = std::mem::take(&mut *self.slot_waiters.borrow_mut());
        out.extend(
            self.jobs
                .borrow_mut()
                .iter_mut()
                .filter_map(|j| j.waker.take()),
        );
        out
    }
}

fn worker(
    rx: Arc<Mutex<Receiver<Job>>>,
    results: Arc<Mutex<Vec<(Key, i32)>>>,
    remote: Arc<Remote>,
) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // the shard is gone
            }
        };
        // SAFETY: the job owns a valid descriptor.
        let rc = unsafe {
            if job.datasync {
                libc::fdatasync(job.fd.as_raw_fd())
            } else {
                libc::fsync(job.fd.as_raw_fd())
            }
        };
        let res = if rc == 0 {
            0
        } else {
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        };
        drop(job.fd);
        results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((job.key, res));
        remote.wake();
    }
}

/// fsync/fdatasync `fd` on a helper thread.
pub(crate) async fn fsync(blocking: &Blocking, fd: RawFd, datasync: bool) -> io::Result<()> {
    struct Guard<'a> {
        blocking: &'a Blocking,
        key: Option<Key>,
    }
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            if let Some(key) = self.key {
                self.blocking.abandon(key);
            }
        }
    }
    let mut guard = Guard {
        blocking,
        key: None,
    };
    std::future::poll_fn(|cx| {
        if guard.key.is_none() {
            match blocking.start(fd, datasync, cx) {
                Ok(Some(key)) => guard.key = Some(key),
                Ok(None) => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let key = guard.key.expect("key");
        match blocking.poll_job(key, cx) {
            Poll::Ready(r) => {
                guard.key = None;
                Poll::Ready(r)
            }
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
