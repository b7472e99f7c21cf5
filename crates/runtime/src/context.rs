//! The per-thread shard context: which shard this thread is, its driver and its remote handle.
//!
//! # Invariants
//! - A thread has at most one context at a time; it is installed by [`super::block_on`] (or a
//!   shard thread) and removed when that returns, after every in-flight operation completed.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::driver::Driver;
use super::executor::Remote;

/// What a shard thread owns.
pub(crate) struct Context {
    pub shard_id: usize,
    pub driver: Driver,
    pub remote: Arc<Remote>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
}

/// The context of the shard running on this thread.
///
/// # Panics
/// Outside a ringlog runtime thread: ringlog I/O types are bound to a shard.
pub(crate) fn current() -> Rc<Context> {
    try_current()
        .expect("ringlog I/O used outside a ringlog runtime (use runtime::block_on or a shard)")
}

/// The context, or `None` outside a runtime thread.
pub(crate) fn try_current() -> Option<Rc<Context>> {
    CURRENT.with(|c| c.borrow().clone())
}

pub(crate) fn set(cx: Option<Rc<Context>>) -> Option<Rc<Context>> {
    CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), cx))
}
