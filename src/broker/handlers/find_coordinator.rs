//! FindCoordinator (key 10): ringlog is a single broker (node 0), so the coordinator of every
//! group is this broker; which *shard* coordinates it is internal
//! ([`crate::broker::routing::group_coordinator`]). v0-3 ask for one key, v4+ for a batch.
//! Transaction coordinators (key type 1) are not served: COORDINATOR_NOT_AVAILABLE.

use std::rc::Rc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::metadata::NODE_ID;
use crate::broker::group::{codes, valid_group_id};
use crate::broker::shard::ShardState;

/// Key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// Key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

fn check(key_type: i8, key: &str) -> (i16, Option<&'static str>) {
    match key_type {
        KEY_TYPE_GROUP if valid_group_id(key) => (codes::NONE, None),
        KEY_TYPE_GROUP => (codes::INVALID_GROUP_ID, Some("invalid group id")),
        KEY_TYPE_TRANSACTION => (
            codes::COORDINATOR_NOT_AVAILABLE,
            Some("ringlog does not support transactions"),
        ),
        _ => (codes::INVALID_REQUEST, Some("unknown coordinator key type")),
    }
}

/// Answer a FindCoordinator request.
pub fn handle(
    shard: &Rc<ShardState>,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (host, port) = shard.config.advertised();
    let host = StrBytes::from_string(host);
    let mut resp = FindCoordinatorResponse::default();
    if version <= 3 {
        let (error, message) = check(req.key_type, req.key.as_str());
        resp.error_code = error;
        if error == codes::NONE {
            resp.node_id = BrokerId(NODE_ID);
            resp.host = host;
            resp.port = port;
        } else {
            resp.node_id = BrokerId(-1);
            resp.port = -1;
        }
        if version >= 1 {
            resp.error_message = message.map(StrBytes::from_static_str);
        }
        return resp;
    }
    for key in req.coordinator_keys {
        let (error, message) = check(req.key_type, key.as_str());
        let mut c = Coordinator::default().with_key(key).with_error_code(error);
        if error == codes::NONE {
            c = c
                .with_node_id(BrokerId(NODE_ID))
                .with_host(host.clone())
                .with_port(port);
        } else {
            c = c
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_message(message.map(StrBytes::from_static_str));
        }
        resp.coordinators.push(c);
    }
    resp
}
