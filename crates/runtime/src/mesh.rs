//! The mesh: bounded channels between shards, the only way data crosses a shard boundary.
//!
//! A channel is a lock-free bounded queue (`crossbeam_queue::ArrayQueue`) plus wakers. A receiver
//! parks with an `AtomicWaker`; waking it from another shard schedules the task through that
//! shard's injection queue and eventfd (see `executor.rs`), so a parked shard wakes up without
//! polling. Senders that find the queue full park until the receiver takes an item.
//!
//! # Invariants
//! - A channel never holds more than its capacity: a full channel is back-pressure for senders.
//! - Items are delivered in the order each sender sent them (FIFO per channel).
//! - `recv` returns `None` only after every sender is gone and the queue is drained.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use atomic_waker::AtomicWaker;
use crossbeam_queue::ArrayQueue;

struct Channel<T> {
    queue: ArrayQueue<T>,
    receiver: AtomicWaker,
    senders_waiting: Mutex<Vec<Waker>>,
    senders: AtomicUsize,
    receiver_alive: AtomicBool,
}

/// Sending half; `Send + Clone`, one per producing shard (or task).
pub struct Sender<T> {
    chan: Arc<Channel<T>>,
}

/// Receiving half; lives on one shard.
pub struct Receiver<T> {
    chan: Arc<Channel<T>>,
}

/// The channel is full (`try_send`) or closed.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// No room; the item is given back.
    Full(T),
    /// The receiver is gone; the item is given back.
    Closed(T),
}

/// A bounded channel holding at most `capacity` items.
pub fn channel<T: Send>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Channel {
        queue: ArrayQueue::new(capacity.max(1)),
        receiver: AtomicWaker::new(),
        senders_waiting: Mutex::new(Vec::new()),
        senders: AtomicUsize::new(1),
        receiver_alive: AtomicBool::new(true),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let before = self.chan.senders.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "mesh sender count underflow");
        if before == 1 {
            self.chan.receiver.wake();
        }
    }
}

impl<T> Sender<T> {
    fn receiver_alive(&self) -> bool {
        self.chan.receiver_alive.load(Ordering::SeqCst)
    }

    /// Send without waiting.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        if !self.receiver_alive() {
            return Err(TrySendError::Closed(item));
        }
        match self.chan.queue.push(item) {
            Ok(()) => {
                if !self.receiver_alive() {
                    // The receiver went away between the check and the push: nobody will ever
                    // pop this item, so drop what is queued here (a reply channel inside it then
                    // closes instead of leaving its waiter hanging).
                    while self.chan.queue.pop().is_some() {}
                    return Ok(());
                }
                self.chan.receiver.wake();
                Ok(())
            }
            Err(item) => Err(TrySendError::Full(item)),
        }
    }

    /// Send, waiting while the channel is full. Gives the item back if the receiver is gone.
    pub async fn send(&self, item: T) -> Result<(), T> {
        let mut item = Some(item);
        poll_fn(|cx| {
            let it = item.take().expect("item");
            match self.try_send(it) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(TrySendError::Closed(it)) => Poll::Ready(Err(it)),
                Err(TrySendError::Full(it)) => {
                    self.chan
                        .senders_waiting
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(cx.waker().clone());
                    // Re-check after registering: the receiver may have drained in between.
                    match self.try_send(it) {
                        Ok(()) => Poll::Ready(Ok(())),
                        Err(TrySendError::Closed(it)) => Poll::Ready(Err(it)),
                        Err(TrySendError::Full(it)) => {
                            item = Some(it);
                            Poll::Pending
                        }
                    }
                }
            }
        })
        .await
    }
}

impl<T> Receiver<T> {
    /// Take an item without waiting.
    pub fn try_recv(&self) -> Option<T> {
        let item = self.chan.queue.pop()?;
        self.wake_senders();
        Some(item)
    }

    fn wake_senders(&self) {
        let waiting = std::mem::take(
            &mut *self
                .chan
                .senders_waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for w in waiting {
            w.wake();
        }
    }

    /// Wait for an item; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&self) -> Option<T> {
        poll_fn(|cx| {
            if let Some(item) = self.try_recv() {
                return Poll::Ready(Some(item));
            }
            self.chan.receiver.register(cx.waker());
            if let Some(item) = self.try_recv() {
                return Poll::Ready(Some(item));
            }
            if self.chan.senders.load(Ordering::Acquire) == 0 {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.receiver_alive.store(false, Ordering::SeqCst);
        // Drop undelivered items now (their reply channels close, their waiters see `None`)
        // rather than when the last sender goes away.
        while self.chan.queue.pop().is_some() {}
        self.wake_senders();
    }
}

/// A full mesh for `n` shards: `senders[i][j]` sends from shard `i` to shard `j`; shard `j`
/// receives everything addressed to it on `receivers[j]` (one channel per destination, shared by
/// all sources, so a shard waits on one queue).
pub struct Mesh<T> {
    /// Per destination shard, a sender (clone it for each source).
    pub senders: Vec<Sender<T>>,
    /// Per shard, its inbox.
    pub receivers: Vec<Receiver<T>>,
}

impl<T: Send> Mesh<T> {
    /// Build inboxes of `capacity` items for `n` shards.
    pub fn new(n: usize, capacity: usize) -> Mesh<T> {
        let (senders, receivers) = (0..n).map(|_| channel(capacity)).unzip();
        Mesh { senders, receivers }
    }
}

struct OneshotInner<T> {
    value: Mutex<Option<T>>,
    waker: AtomicWaker,
    sender_gone: AtomicBool,
}

/// Sending half of a cross-shard one-shot reply.
pub struct OneshotSender<T> {
    inner: Option<Arc<OneshotInner<T>>>,
}

/// Receiving half of a cross-shard one-shot reply.
pub struct OneshotReceiver<T> {
    inner: Arc<OneshotInner<T>>,
}

/// A channel for exactly one value (a reply to a mesh request).
pub fn oneshot<T: Send>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let inner = Arc::new(OneshotInner {
        value: Mutex::new(None),
        waker: AtomicWaker::new(),
        sender_gone: AtomicBool::new(false),
    });
    (
        OneshotSender {
            inner: Some(inner.clone()),
        },
        OneshotReceiver { inner },
    )
}

impl<T> OneshotSender<T> {
    /// Deliver the value (dropped silently if the receiver is gone).
    pub fn send(mut self, value: T) {
        if let Some(inner) = self.inner.take() {
            *inner.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
            inner.sender_gone.store(true, Ordering::Release);
            inner.waker.wake();
        }
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.sender_gone.store(true, Ordering::Release);
            inner.waker.wake();
        }
    }
}

impl<T> OneshotReceiver<T> {
    /// Wait for the value; `None` if the sender was dropped without sending.
    pub async fn recv(self) -> Option<T> {
        poll_fn(|cx| {
            if let Some(v) = self
                .inner
                .value
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                return Poll::Ready(Some(v));
            }
            self.inner.waker.register(cx.waker());
            // `gone` before the value: `send` stores the value before it marks the sender gone,
            // so a sender seen gone has either left its value or sent none. (Reading the value
            // first could miss a value stored just after and then see the sender gone: a reply
            // lost as "unanswered".)
            let gone = self.inner.sender_gone.load(Ordering::Acquire);
            if let Some(v) = self
                .inner
                .value
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                return Poll::Ready(Some(v));
            }
            if gone {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::Context;

    /// A reply sent from another thread while the receiver is being polled is never reported as
    /// unanswered (the receiver once read the value, then the sender's flag, and could see the
    /// flag of a send whose value it had just missed).
    #[test]
    fn a_reply_racing_the_receivers_poll_is_never_lost() {
        const ROUNDS: usize = 100_000;
        let (tx, rx) = std::sync::mpsc::channel::<OneshotSender<usize>>();
        let sender = std::thread::spawn(move || {
            for (i, reply) in rx.into_iter().enumerate() {
                reply.send(i);
            }
        });
        let mut cx = Context::from_waker(Waker::noop());
        for i in 0..ROUNDS {
            let (reply, receiver) = oneshot::<usize>();
            let mut recv = std::pin::pin!(receiver.recv());
            // Poll before, while and after the other thread sends.
            assert!(recv.as_mut().poll(&mut cx).is_pending());
            tx.send(reply).expect("sender thread");
            let got = loop {
                if let Poll::Ready(v) = recv.as_mut().poll(&mut cx) {
                    break v;
                }
            };
            assert_eq!(got, Some(i), "round {i}: the reply was lost");
        }
        drop(tx);
        sender.join().expect("sender thread");
    }

    /// A sender dropped without sending is reported as such.
    #[test]
    fn a_dropped_sender_is_none() {
        let (reply, receiver) = oneshot::<u8>();
        drop(reply);
        let mut cx = Context::from_waker(Waker::noop());
        let mut recv = std::pin::pin!(receiver.recv());
        assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(None));
    }
}
