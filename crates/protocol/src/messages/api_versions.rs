//! ApiVersions (key 18): the APIs and versions the broker serves. Served at v0-5 (v5, KIP-1242:
//! the client may name the cluster and node it means to reach).
//!
//! The response header is always v0 (no tagged fields), even at flexible versions, so a client
//! can read the answer whatever version it asked with; that is the header's business, not this
//! body's.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks which APIs and versions the broker serves.
    pub struct ApiVersionsRequest: key 18, versions "0-5", flexible "3+" {
        /// The client's name (KIP-511).
        client_software_name: Str => "3+";
        /// The client's version (KIP-511).
        client_software_version: Str => "3+";
        /// The cluster the client means to reach, if it knows (KIP-1242).
        cluster_id: Option<Str> => "5+", nullable "5+";
        /// The node the client means to reach, -1 if it does not know (KIP-1242).
        node_id: i32 => "5+", default -1;
    }
}

api_message! {
    /// The APIs served, their version ranges and the broker's features.
    pub struct ApiVersionsResponse: key 18, versions "0-5", flexible "3+" {
        error_code: i16 => "0+";
        api_keys: Vec<ApiVersion> => "0+";
        throttle_time_ms: i32 => "1+";
        /// Features the broker supports.
        supported_features: Vec<SupportedFeatureKey> => "3+", tag 0;
        /// The epoch of the finalized features, -1 when unknown.
        finalized_features_epoch: i64 => "3+", tag 1, default -1;
        /// Cluster-wide finalized features (valid when the epoch is >= 0).
        finalized_features: Vec<FinalizedFeatureKey> => "3+", tag 2;
        /// Set by a KRaft controller ready for ZooKeeper migration.
        zk_migration_ready: bool => "3+", tag 3;
    }
}

wire_struct! {
    /// One API and the inclusive version range served.
    pub struct ApiVersion {
        api_key: i16 => "0+";
        min_version: i16 => "0+";
        max_version: i16 => "0+";
    }
}

wire_struct! {
    /// One feature the broker supports, with its version range.
    pub struct SupportedFeatureKey {
        name: Str => "3+";
        min_version: i16 => "3+";
        max_version: i16 => "3+";
    }
}

wire_struct! {
    /// One cluster-wide finalized feature, with its version levels.
    pub struct FinalizedFeatureKey {
        name: Str => "3+";
        max_version_level: i16 => "3+";
        min_version_level: i16 => "3+";
    }
}
