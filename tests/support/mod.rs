//! Shared by the black-box test files: the two-driver test generator and a broker on loopback.

use std::path::Path;

use ringlog::broker::{Broker, BrokerConfig};
use ringlog::runtime::IoKind;

/// For each `fn name(io: IoKind)`, generate `uring::name` and `epoll::name` tests.
#[macro_export]
macro_rules! both_drivers {
    ($($name:ident),* $(,)?) => {
        mod uring { $( #[test] fn $name() { super::$name(ringlog::runtime::IoKind::Uring) } )* }
        mod epoll { $( #[test] fn $name() { super::$name(ringlog::runtime::IoKind::Epoll) } )* }
    };
}

/// A broker on 127.0.0.1 (a free port) over `dir`, with `cores` shards; `edit` adjusts the rest.
pub fn start_broker(
    io: IoKind,
    dir: &Path,
    cores: usize,
    edit: impl FnOnce(&mut BrokerConfig),
) -> Broker {
    let mut config = BrokerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        cores,
        io,
        ..BrokerConfig::default()
    };
    edit(&mut config);
    Broker::start(config).expect("broker starts")
}
