//! AddPartitionsToTxn (key 24): a transactional producer adds partitions to its open
//! transaction before it produces to them. v0-3 carry one transaction (the client's form); v4+
//! carry a batch of transactions and a `verify_only` flag (the broker-to-coordinator form of
//! KIP-890); v3+ are flexible. Defined at v0-5 as in Kafka 4.4.

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Adds partitions to one transaction (v0-3) or to each of a batch of transactions (v4+).
    pub struct AddPartitionsToTxnRequest: key 24, versions "0-5", flexible "3+" {
        /// The transactions to add partitions to (v4+).
        transactions: Vec<AddPartitionsToTxnTransaction> => "4+";
        /// The transactional id (v0-3).
        v3_and_below_transactional_id: Str => "0-3";
        /// The producer id in use by the transactional id (v0-3).
        v3_and_below_producer_id: i64 => "0-3";
        /// The producer's current epoch (v0-3).
        v3_and_below_producer_epoch: i16 => "0-3";
        /// The partitions to add (v0-3).
        v3_and_below_topics: Vec<AddPartitionsToTxnTopic> => "0-3";
    }
}

wire_struct! {
    /// One transaction of a batched (v4+) request.
    pub struct AddPartitionsToTxnTransaction {
        transactional_id: Str => "4+";
        producer_id: i64 => "4+";
        producer_epoch: i16 => "4+";
        /// Only check that the partitions are already in the transaction; add nothing.
        verify_only: bool => "4+";
        topics: Vec<AddPartitionsToTxnTopic> => "4+";
    }
}

wire_struct! {
    /// The partitions of one topic to add.
    pub struct AddPartitionsToTxnTopic {
        name: Str => "0+";
        partitions: Vec<i32> => "0+";
    }
}

api_message! {
    /// Per-partition results: per topic (v0-3), or per transaction then topic (v4+).
    pub struct AddPartitionsToTxnResponse: key 24, versions "0-5", flexible "3+" {
        throttle_time_ms: i32 => "0+";
        /// The top-level error (v4+).
        error_code: i16 => "4+";
        /// The results of each transaction (v4+).
        results_by_transaction: Vec<AddPartitionsToTxnResult> => "4+";
        /// The results of each topic (v0-3).
        results_by_topic_v3_and_below: Vec<AddPartitionsToTxnTopicResult> => "0-3";
    }
}

wire_struct! {
    /// The results of one transaction (v4+).
    pub struct AddPartitionsToTxnResult {
        transactional_id: Str => "4+";
        topic_results: Vec<AddPartitionsToTxnTopicResult> => "4+";
    }
}

wire_struct! {
    /// The results of one topic.
    pub struct AddPartitionsToTxnTopicResult {
        name: Str => "0+";
        results_by_partition: Vec<AddPartitionsToTxnPartitionResult> => "0+";
    }
}

wire_struct! {
    /// The result of one partition.
    pub struct AddPartitionsToTxnPartitionResult {
        partition_index: i32 => "0+";
        partition_error_code: i16 => "0+";
    }
}
