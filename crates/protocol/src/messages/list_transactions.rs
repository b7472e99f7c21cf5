//! ListTransactions (key 66, KIP-664): the transactional ids this broker coordinates, filtered.
//! Defined at v0-2 as in Kafka 4.4 (flexible; v1 adds `duration_filter`, KIP-994; v2 adds
//! `transactional_id_pattern`, KIP-1152).

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Filters; an empty list or a negative duration does not filter.
    pub struct ListTransactionsRequest: key 66, versions "0-2", flexible "0+" {
        /// Only transactions in one of these states (Kafka's state names).
        state_filters: Vec<Str> => "0+";
        /// Only transactions of one of these producer ids.
        producer_id_filters: Vec<i64> => "0+";
        /// Only transactions running longer than this many ms; negative = all (v1+).
        duration_filter: i64 => "1+", default -1;
        /// Only transactional ids matching this regular expression; null or empty = all (v2+).
        transactional_id_pattern: Option<Str> => "2+", nullable "2+";
    }
}

api_message! {
    /// The matching transactions.
    pub struct ListTransactionsResponse: key 66, versions "0-2", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        /// The state filters of the request that name no known state.
        unknown_state_filters: Vec<Str> => "0+";
        transaction_states: Vec<ListedTransaction> => "0+";
    }
}

wire_struct! {
    /// One listed transaction (Kafka's `TransactionState` struct).
    pub struct ListedTransaction {
        transactional_id: Str => "0+";
        producer_id: i64 => "0+";
        transaction_state: Str => "0+";
    }
}
