//! DescribeTransactions (key 65, KIP-664): the state of transactional ids this broker
//! coordinates. Defined at v0 as in Kafka 4.4 (flexible).

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// The transactional ids to describe (empty: none).
    pub struct DescribeTransactionsRequest: key 65, versions "0", flexible "0+" {
        transactional_ids: Vec<Str> => "0+";
    }
}

api_message! {
    /// One state per transactional id asked for.
    pub struct DescribeTransactionsResponse: key 65, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        transaction_states: Vec<DescribedTransaction> => "0+";
    }
}

wire_struct! {
    /// One transactional id's state (Kafka's `TransactionState` struct).
    pub struct DescribedTransaction {
        error_code: i16 => "0+";
        transactional_id: Str => "0+";
        /// Kafka's state name: "Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
        /// "CompleteCommit", "CompleteAbort", "Dead" or "PrepareEpochFence".
        transaction_state: Str => "0+";
        transaction_timeout_ms: i32 => "0+";
        /// When the open transaction started (ms since the epoch), -1 if none.
        transaction_start_time_ms: i64 => "0+";
        producer_id: i64 => "0+";
        producer_epoch: i16 => "0+";
        /// The partitions in the transaction (while preparing: those still without a marker).
        topics: Vec<DescribedTransactionTopic> => "0+";
    }
}

wire_struct! {
    /// The partitions of one topic in a described transaction (Kafka's `TopicData`).
    pub struct DescribedTransactionTopic {
        topic: Str => "0+";
        partitions: Vec<i32> => "0+";
    }
}
