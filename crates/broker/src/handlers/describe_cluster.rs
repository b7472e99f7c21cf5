//! DescribeCluster (key 60, KIP-700): the cluster id, the controller and the brokers, what
//! `Admin.describeCluster()` asks (`kafka-cluster.sh cluster-id`,
//! `kafka-broker-api-versions.sh`). ringlog is one broker, answered exactly as Metadata answers
//! it ([`super::metadata`]: node [`NODE_ID`] at the advertised address, cluster id
//! [`CLUSTER_ID`], itself the controller).
//!
//! Against Kafka 4.4 (a single-node KRaft broker, asked on its broker listener):
//! - `endpoint_type` 2 (controllers) answers MISMATCHED_ENDPOINT_TYPE and any other type but 1
//!   UNSUPPORTED_ENDPOINT_TYPE, each with Kafka's message, an empty cluster id, controller -1 and
//!   no brokers. (At v0 the field does not exist and reads as 1, so Kafka's INVALID_REQUEST for
//!   v0 cannot arise.)
//! - `cluster_authorized_operations`: `i32::MIN` ("not asked") unless asked; when asked, every
//!   operation Kafka supports on the cluster resource, which is what Kafka answers when no
//!   authorizer is configured, as ringlog has none.
//! - `include_fenced_brokers` (v2) changes nothing: the one broker is never fenced.

use std::rc::Rc;

use super::metadata::{CLUSTER_ID, NODE_ID};
use crate::protocol::error::{MISMATCHED_ENDPOINT_TYPE, UNSUPPORTED_ENDPOINT_TYPE};
use crate::protocol::messages::{
    DescribeClusterBroker, DescribeClusterRequest, DescribeClusterResponse, ENDPOINT_TYPE_BROKERS,
    ENDPOINT_TYPE_CONTROLLERS,
};
use crate::protocol::wire::Str;
use crate::shard::ShardState;

/// The cluster operations Kafka supports (its ACL operation codes as bits): CREATE 5, ALTER 7,
/// DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
/// Kafka 4.4 without an authorizer answers 0x1fa0 (measured), so ringlog, which has none, does.
pub const CLUSTER_AUTHORIZED_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// Answer a DescribeCluster request.
/// `advertised` is the `(host, port)` of the listener the client connected to.
pub fn handle(
    _shard: &Rc<ShardState>,
    advertised: (&str, i32),
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    if req.endpoint_type != ENDPOINT_TYPE_BROKERS {
        let (error_code, message) = if req.endpoint_type == ENDPOINT_TYPE_CONTROLLERS {
            (
                MISMATCHED_ENDPOINT_TYPE,
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint \
                 of type CONTROLLER"
                    .to_string(),
            )
        } else {
            (
                UNSUPPORTED_ENDPOINT_TYPE,
                format!("Unsupported endpoint type {}", req.endpoint_type),
            )
        };
        return DescribeClusterResponse {
            error_code,
            error_message: Some(Str::from(message.as_str())),
            ..Default::default()
        };
    }
    let (host, port) = advertised;
    DescribeClusterResponse {
        endpoint_type: ENDPOINT_TYPE_BROKERS,
        cluster_id: Str::from_static(CLUSTER_ID),
        controller_id: NODE_ID,
        brokers: vec![DescribeClusterBroker {
            broker_id: NODE_ID,
            host: Str::from(host),
            port,
            rack: None,
            is_fenced: false,
        }],
        cluster_authorized_operations: if req.include_cluster_authorized_operations {
            CLUSTER_AUTHORIZED_OPERATIONS
        } else {
            i32::MIN
        },
        ..Default::default()
    }
}
