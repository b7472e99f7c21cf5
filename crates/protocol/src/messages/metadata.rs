//! Metadata (key 3): brokers, topics and partitions. Served at v1-12.

use uuid::Uuid;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Asks for the cluster's brokers and the named (or all) topics.
    pub struct MetadataRequest: key 3, versions "0-12", flexible "9+" {
        /// The topics to describe; null = all topics (v1+), empty = none (v1+) or all (v0).
        topics: Option<Vec<MetadataRequestTopic>> => "0+", nullable "1+";
        /// Whether the broker may create topics that do not exist.
        allow_auto_topic_creation: bool => "4+", default true;
        include_cluster_authorized_operations: bool => "8-10";
        include_topic_authorized_operations: bool => "8+";
    }
}

wire_struct! {
    /// One topic asked for, by name (or by id from v12).
    pub struct MetadataRequestTopic {
        topic_id: Uuid => "10+";
        name: Option<Str> => "0+", nullable "10+";
    }
}

api_message! {
    /// The brokers (always just this one) and the topics asked for.
    pub struct MetadataResponse: key 3, versions "0-12", flexible "9+" {
        throttle_time_ms: i32 => "3+";
        brokers: Vec<MetadataResponseBroker> => "0+";
        cluster_id: Option<Str> => "2+", nullable "2+";
        controller_id: i32 => "1+", default -1;
        topics: Vec<MetadataResponseTopic> => "0+";
        cluster_authorized_operations: i32 => "8-10", default i32::MIN;
    }
}

wire_struct! {
    /// One broker: where clients connect.
    pub struct MetadataResponseBroker {
        node_id: i32 => "0+";
        host: Str => "0+";
        port: i32 => "0+";
        rack: Option<Str> => "1+", nullable "1+";
    }
}

wire_struct! {
    /// One topic: its error, id and partitions.
    pub struct MetadataResponseTopic {
        error_code: i16 => "0+";
        name: Option<Str> => "0+", nullable "12+";
        topic_id: Uuid => "10+";
        is_internal: bool => "1+";
        partitions: Vec<MetadataResponsePartition> => "0+";
        topic_authorized_operations: i32 => "8+", default i32::MIN;
    }
}

wire_struct! {
    /// One partition: its leader (this broker) and replicas.
    pub struct MetadataResponsePartition {
        error_code: i16 => "0+";
        partition_index: i32 => "0+";
        leader_id: i32 => "0+";
        leader_epoch: i32 => "7+", default -1;
        replica_nodes: Vec<i32> => "0+";
        isr_nodes: Vec<i32> => "0+";
        offline_replicas: Vec<i32> => "5+";
    }
}
