//! A timer wheel-less timer heap for the epoll driver (io_uring shards use kernel timeouts).
//!
//! # Invariants
//! - At most `capacity` timers are pending; a full heap makes `sleep` wait for a free slot.
//! - A timer fires at or after its deadline, never before; timers with equal deadlines fire in
//!   registration order (the heap orders by (deadline, sequence)).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

use super::slab::{Key, Slab};

pub(crate) struct TimerEntry {
    pub waker: Option<Waker>,
    pub fired: bool,
}

pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    entries: Slab<TimerEntry>,
    sequence: u64,
    pub(crate) slot_waiters: Vec<Waker>,
}

impl Timers {
    pub(crate) fn with_capacity(capacity: usize) -> Timers {
        Timers {
            heap: BinaryHeap::new(),
            entries: Slab::with_capacity(capacity),
            sequence: 0,
            slot_waiters: Vec::new(),
        }
    }

    /// Register a timer; `None` when full.
    pub(crate) fn insert(&mut self, deadline: Instant) -> Option<Key> {
        let key = self.entries.insert(TimerEntry {
            waker: None,
            fired: false,
        })?;
        self.sequence += 1;
        self.heap
            .push(Reverse((deadline, self.sequence, key.to_u64())));
        Some(key)
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut TimerEntry> {
        self.entries.get_mut(key)
    }

    /// Forget a timer (fired or not). Its heap entry is skipped lazily.
    pub(crate) fn remove(&mut self, key: Key) -> Vec<Waker> {
        self.entries.remove(key);
        std::mem::take(&mut self.slot_waiters)
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, _, key))) = self.heap.peek() {
            match self.entries.get(Key::from_u64(*key)) {
                Some(e) if !e.fired => return Some(*deadline),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// Mark every timer due at `now` as fired; returns the wakers to wake.
    pub(crate) fn fire(&mut self, now: Instant, wake: &mut Vec<Waker>) {
        while let Some(Reverse((deadline, _, key))) = self.heap.peek() {
            if *deadline > now {
                break;
            }
            let key = Key::from_u64(*key);
            self.heap.pop();
            if let Some(e) = self.entries.get_mut(key) {
                e.fired = true;
                wake.extend(e.waker.take());
            }
        }
    }

    pub(crate) fn take_all_wakers(&mut self) -> Vec<Waker> {
        let mut out = std::mem::take(&mut self.slot_waiters);
        out.extend(self.entries.iter_mut().filter_map(|e| e.waker.take()));
        out
    }
}
