//! DescribeCluster (key 60, KIP-700) at the wire, every advertised version: the one broker at its
//! address, the same cluster id and controller as Metadata answers, the cluster's authorized
//! operations only when asked (Kafka 4.4's answer without an authorizer), and the endpoint-type
//! errors (v1+) with Kafka's codes and messages.

use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterRequest};
use ringlog::runtime::IoKind;

use super::client::*;

const NONE: i16 = 0;
const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;
/// `cluster_authorized_operations` when not asked for.
const NOT_REQUESTED: i32 = i32::MIN;
/// What Kafka 4.4 answers when asked, without an authorizer (measured): CREATE, ALTER, DESCRIBE,
/// CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
const ALL_CLUSTER_OPERATIONS: i32 = 0x1fa0;

pub fn describe_cluster_every_version_answers_this_broker(io: IoKind) {
    let broker = TestBroker::start(io);
    let mut c = broker.connect();
    let port = i32::from(broker.addr.port());
    let metadata_version = *versions(ApiKey::Metadata).end();
    let meta = c.call(
        metadata_version,
        &metadata_request(metadata_version, Some(&[]), false),
    );
    assert!(versions(ApiKey::DescribeCluster).contains(&0));
    for v in versions(ApiKey::DescribeCluster) {
        for (asked, operations) in [(false, NOT_REQUESTED), (true, ALL_CLUSTER_OPERATIONS)] {
            let r = c.call(
                v,
                &DescribeClusterRequest::default()
                    .with_include_cluster_authorized_operations(asked)
                    // Only v2 has the flag (and the one broker is never fenced anyway).
                    .with_include_fenced_brokers(v >= 2),
            );
            let what = format!("DescribeCluster v{v}, operations asked: {asked}");
            assert_eq!((r.error_code, r.error_message), (NONE, None), "{what}");
            assert_eq!(r.throttle_time_ms, 0, "{what}");
            assert_eq!(
                Some(r.cluster_id.to_string()),
                meta.cluster_id.as_ref().map(|s| s.to_string()),
                "{what}: Metadata's cluster id"
            );
            assert_eq!(r.controller_id, meta.controller_id, "{what}");
            assert_eq!(r.controller_id, BrokerId(0), "{what}");
            if v >= 1 {
                assert_eq!(r.endpoint_type, 1, "{what}: brokers");
            }
            let brokers: Vec<_> = r
                .brokers
                .iter()
                .map(|b| {
                    (
                        b.broker_id.0,
                        b.host.to_string(),
                        b.port,
                        b.rack.clone(),
                        b.is_fenced,
                    )
                })
                .collect();
            assert_eq!(
                brokers,
                vec![(0, "127.0.0.1".to_string(), port, None, false)],
                "{what}"
            );
            assert_eq!(r.cluster_authorized_operations, operations, "{what}");
        }
    }

    // v1+: the endpoint type the client thinks it talks to.
    for v in versions(ApiKey::DescribeCluster).filter(|v| *v >= 1) {
        for (endpoint_type, code, message) in [
            (
                2,
                MISMATCHED_ENDPOINT_TYPE,
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of \
                 type CONTROLLER",
            ),
            (3, UNSUPPORTED_ENDPOINT_TYPE, "Unsupported endpoint type 3"),
            (
                -1,
                UNSUPPORTED_ENDPOINT_TYPE,
                "Unsupported endpoint type -1",
            ),
        ] {
            let r = c.call(
                v,
                &DescribeClusterRequest::default()
                    .with_include_cluster_authorized_operations(true)
                    .with_endpoint_type(endpoint_type),
            );
            let what = format!("DescribeCluster v{v}, endpoint type {endpoint_type}");
            assert_eq!(r.error_code, code, "{what}");
            assert_eq!(
                r.error_message.as_deref().map(|m| m.to_string()),
                Some(message.to_string()),
                "{what}"
            );
            // As Kafka: nothing else described.
            assert_eq!(r.cluster_id.as_str(), "", "{what}");
            assert_eq!(r.controller_id, BrokerId(-1), "{what}");
            assert!(r.brokers.is_empty(), "{what}");
            assert_eq!(r.cluster_authorized_operations, NOT_REQUESTED, "{what}");
        }
    }
    broker.stop();
}
