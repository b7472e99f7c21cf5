//! FindCoordinator (key 10): ringlog is a single broker (node 0), so the coordinator of every
//! group is this broker; which *shard* coordinates it is internal
//! ([`crate::routing::group_coordinator`]). v0-3 ask for one key, v4+ for a batch.
//! Transaction coordinators (key type 1, issue #18) are this broker too
//! ([`crate::txn::coordinator_of`] picks the shard).

use std::rc::Rc;

use super::metadata::NODE_ID;
use crate::error::BrokerError;
use crate::group::valid_group_id;
use crate::protocol::error as code;
use crate::protocol::messages::{Coordinator, FindCoordinatorRequest, FindCoordinatorResponse};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// Key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Whether this broker coordinates `key` of `key_type`.
fn check(key_type: i8, key: &str) -> Result<(), BrokerError> {
    match key_type {
        KEY_TYPE_GROUP if valid_group_id(key) => Ok(()),
        KEY_TYPE_GROUP => Err(BrokerError::InvalidGroupId {
            group: key.to_string(),
        }),
        KEY_TYPE_TRANSACTION if crate::txn::valid_transactional_id(key) => Ok(()),
        KEY_TYPE_TRANSACTION => Err(BrokerError::InvalidTransactionalId {
            key: key.to_string(),
        }),
        _ => Err(BrokerError::UnknownCoordinatorKeyType { key_type }),
    }
}

/// Answer a FindCoordinator request.
/// `advertised` is the `(host, port)` of the listener the client connected to.
pub fn handle(
    _shard: &Rc<ShardState>,
    advertised: (&str, i32),
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (host, port) = advertised;
    let host = Str::from(host);
    if !FindCoordinatorRequest::carries("coordinator_keys", version) {
        // One key, answered in the top-level fields.
        return match check(req.key_type, &req.key) {
            Ok(()) => FindCoordinatorResponse {
                node_id: NODE_ID,
                host,
                port,
                ..Default::default()
            },
            Err(e) => FindCoordinatorResponse {
                error_code: e.kafka_code(),
                error_message: e.message().map(Str::from_static),
                node_id: -1,
                host: Str::new(),
                port: -1,
                ..Default::default()
            },
        };
    }
    let coordinators = req
        .coordinator_keys
        .into_iter()
        .map(|key| match check(req.key_type, &key) {
            Ok(()) => Coordinator {
                key,
                node_id: NODE_ID,
                host: host.clone(),
                port,
                error_code: code::NONE,
                // An empty message, not null, as Kafka sends.
                error_message: Some(Str::new()),
            },
            Err(e) => Coordinator {
                key,
                node_id: -1,
                port: -1,
                error_code: e.kafka_code(),
                error_message: e.message().map(Str::from_static),
                ..Default::default()
            },
        })
        .collect();
    FindCoordinatorResponse {
        coordinators,
        ..Default::default()
    }
}
