//! DescribeCluster (key 60, KIP-700): the cluster id, the controller and the brokers, what
//! `Admin.describeCluster()` (`kafka-cluster.sh cluster-id`, `kafka-broker-api-versions.sh`)
//! asks instead of Metadata. Defined at v0-2 as in Kafka 4.4 (flexible from v0): v1 adds the
//! endpoint type (KIP-919), v2 fenced brokers (KIP-1073).

use crate::wire::Str;
use crate::{api_message, wire_struct};

/// `endpoint_type` of a broker listener (the only kind ringlog has).
pub const ENDPOINT_TYPE_BROKERS: i8 = 1;
/// `endpoint_type` of a KRaft controller listener.
pub const ENDPOINT_TYPE_CONTROLLERS: i8 = 2;

api_message! {
    /// What to describe.
    pub struct DescribeClusterRequest: key 60, versions "0-2", flexible "0+" {
        include_cluster_authorized_operations: bool => "0+";
        /// Which listeners the client thinks it talks to: 1 = brokers, 2 = controllers.
        endpoint_type: i8 => "1+", default ENDPOINT_TYPE_BROKERS;
        include_fenced_brokers: bool => "2+";
    }
}

api_message! {
    /// The cluster as the answering node sees it, or a top-level error.
    pub struct DescribeClusterResponse: key 60, versions "0-2", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        /// The endpoint type described: 1 = brokers, 2 = controllers.
        endpoint_type: i8 => "1+", default ENDPOINT_TYPE_BROKERS;
        cluster_id: Str => "0+";
        controller_id: i32 => "0+", default -1;
        brokers: Vec<DescribeClusterBroker> => "0+";
        /// A bit per ACL operation code, or `i32::MIN` when not asked for.
        cluster_authorized_operations: i32 => "0+", default i32::MIN;
    }
}

wire_struct! {
    /// One broker.
    pub struct DescribeClusterBroker {
        broker_id: i32 => "0+";
        host: Str => "0+";
        port: i32 => "0+";
        rack: Option<Str> => "0+", nullable "0+";
        is_fenced: bool => "2+";
    }
}
