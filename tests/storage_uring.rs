//! The storage suite on the uring driver (the same files as `storage_epoll.rs`).
#![allow(dead_code)]

const IO: ringlog::runtime::IoKind = ringlog::runtime::IoKind::Uring;

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
