//! ApiVersions (key 18): the versions ringlog advertises, exactly those the tests cover.
//! Unknown versions get the v0 reply with UNSUPPORTED_VERSION (handled in `connection.rs`, since
//! the request cannot be decoded at that version).
//!
//! From v5 (KIP-1242) a client may name the cluster and node it means to reach; as Kafka 4.4's
//! broker, a named cluster that is not this one, or this cluster with another node id, is
//! answered REBOOTSTRAP_REQUIRED (129) and no API list: the client's metadata is stale. Without a
//! cluster id the node id is not checked.

use super::metadata::{CLUSTER_ID, NODE_ID};
use crate::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::{error as code, versions};

/// Answer an ApiVersions request of version `version`.
pub fn handle(version: i16, req: &ApiVersionsRequest) -> ApiVersionsResponse {
    let stale = version >= 5
        && req
            .cluster_id
            .as_deref()
            .is_some_and(|cluster| cluster != CLUSTER_ID || req.node_id != NODE_ID);
    if stale {
        return ApiVersionsResponse {
            error_code: code::REBOOTSTRAP_REQUIRED,
            ..Default::default()
        };
    }
    versions::api_versions_response(code::NONE)
}
