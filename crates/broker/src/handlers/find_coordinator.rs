//! FindCoordinator (key 10): ringlog is a single broker (node 0), so the coordinator of every
//! group is this broker; which *shard* coordinates it is internal
//! ([`crate::routing::group_coordinator`]). v0-3 ask for one key, v4+ for a batch.
//! Transaction coordinators (key type 1) are not served: COORDINATOR_NOT_AVAILABLE.

use std::rc::Rc;

use super::metadata::NODE_ID;
use crate::group::valid_group_id;
use crate::protocol::error as code;
use crate::protocol::messages::{Coordinator, FindCoordinatorRequest, FindCoordinatorResponse};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// Key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// Key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

fn check(key_type: i8, key: &str) -> (i16, Option<&'static str>) {
    match key_type {
        KEY_TYPE_GROUP if valid_group_id(key) => (code::NONE, None),
        KEY_TYPE_GROUP => (code::INVALID_GROUP_ID, Some("invalid group id")),
        KEY_TYPE_TRANSACTION => (
            code::COORDINATOR_NOT_AVAILABLE,
            Some("ringlog does not support transactions"),
        ),
        _ => (code::INVALID_REQUEST, Some("unknown coordinator key type")),
    }
}

/// Answer a FindCoordinator request.
pub fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (host, port) = shard.config.advertised();
    let host = Str::from(host);
    if !FindCoordinatorRequest::carries("coordinator_keys", version) {
        // One key, answered in the top-level fields.
        let (error, message) = check(req.key_type, &req.key);
        let found = error == code::NONE;
        return FindCoordinatorResponse {
            error_code: error,
            error_message: message.map(Str::from_static),
            node_id: if found { NODE_ID } else { -1 },
            host: if found { host } else { Str::new() },
            port: if found { port } else { -1 },
            ..Default::default()
        };
    }
    let coordinators = req
        .coordinator_keys
        .into_iter()
        .map(|key| {
            let (error, message) = check(req.key_type, &key);
            if error == code::NONE {
                Coordinator {
                    key,
                    node_id: NODE_ID,
                    host: host.clone(),
                    port,
                    error_code: error,
                    // An empty message, not null, as Kafka sends.
                    error_message: Some(Str::new()),
                }
            } else {
                Coordinator {
                    key,
                    node_id: -1,
                    port: -1,
                    error_code: error,
                    error_message: message.map(Str::from_static),
                    ..Default::default()
                }
            }
        })
        .collect();
    FindCoordinatorResponse {
        coordinators,
        ..Default::default()
    }
}
