//! Produce (key 0): record batches appended to partitions. Served at v3-10.
//!
//! Also defines [`LeaderIdAndEpoch`] and [`NodeEndpoint`], which the Fetch response reuses (the
//! same shape in both schemas; their fields exist wherever the struct itself does).

use bytes::Bytes;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Record batches to append, per topic and partition.
    pub struct ProduceRequest: key 0, versions "0-11", flexible "9+" {
        /// The transactional id, or null if the producer is not transactional.
        transactional_id: Option<Str> => "3+", nullable "3+";
        /// Acknowledgments required: 0 none (no response is sent), 1 the leader, -1 all ISR.
        acks: i16 => "0+";
        timeout_ms: i32 => "0+";
        topic_data: Vec<TopicProduceData> => "0+";
    }
}

wire_struct! {
    /// One topic to produce to.
    pub struct TopicProduceData {
        name: Str => "0+";
        partition_data: Vec<PartitionProduceData> => "0+";
    }
}

wire_struct! {
    /// One partition's records.
    pub struct PartitionProduceData {
        /// The partition index.
        index: i32 => "0+";
        /// The record batches, a slice of the request frame.
        records: Option<Bytes> => "0+", nullable "0+";
    }
}

api_message! {
    /// Where each partition's records were appended, or why not.
    pub struct ProduceResponse: key 0, versions "0-11", flexible "9+" {
        responses: Vec<TopicProduceResponse> => "0+";
        throttle_time_ms: i32 => "1+";
        /// Endpoints of the current leaders named in NOT_LEADER_OR_FOLLOWER partition errors.
        node_endpoints: Vec<NodeEndpoint> => "10+", tag 0;
    }
}

wire_struct! {
    /// One topic's results.
    pub struct TopicProduceResponse {
        name: Str => "0+";
        partition_responses: Vec<PartitionProduceResponse> => "0+";
    }
}

wire_struct! {
    /// One partition's result.
    pub struct PartitionProduceResponse {
        /// The partition index.
        index: i32 => "0+";
        error_code: i16 => "0+";
        /// The offset of the first appended record.
        base_offset: i64 => "0+";
        /// The broker's append time under LogAppendTime, -1 under CreateTime.
        log_append_time_ms: i64 => "2+", default -1;
        log_start_offset: i64 => "5+", default -1;
        /// The batch indices of the records that made the batch be dropped.
        record_errors: Vec<BatchIndexAndErrorMessage> => "8+";
        /// Summary of the root cause of the record errors, or null.
        error_message: Option<Str> => "8+", nullable "8+";
        /// The current leader, sent with NOT_LEADER_OR_FOLLOWER.
        current_leader: LeaderIdAndEpoch => "10+", tag 0;
    }
}

wire_struct! {
    /// One record that made its batch be dropped.
    pub struct BatchIndexAndErrorMessage {
        batch_index: i32 => "8+";
        batch_index_error_message: Option<Str> => "8+", nullable "8+";
    }
}

wire_struct! {
    /// A partition's current leader and epoch, -1 each when unknown. Produce response v10+ and
    /// Fetch response v12+ (`current_leader`).
    pub struct LeaderIdAndEpoch {
        leader_id: i32 => "10+", default -1;
        leader_epoch: i32 => "10+", default -1;
    }
}

wire_struct! {
    /// Where a broker listens. Produce response v10+ and Fetch response v16+ (`node_endpoints`).
    pub struct NodeEndpoint {
        node_id: i32 => "10+";
        host: Str => "10+";
        port: i32 => "10+";
        rack: Option<Str> => "10+", nullable "10+";
    }
}
