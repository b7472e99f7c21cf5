//! AddOffsetsToTxn (key 25): a transactional producer adds a consumer group's offsets topic
//! partition to its transaction, before TxnOffsetCommit. Defined at v0-4 as in Kafka 4.4
//! (flexible from v3).

use crate::api_message;
use crate::wire::Str;

api_message! {
    /// Adds the group's offsets to the transaction.
    pub struct AddOffsetsToTxnRequest: key 25, versions "0-4", flexible "3+" {
        transactional_id: Str => "0+";
        producer_id: i64 => "0+";
        producer_epoch: i16 => "0+";
        /// The consumer group whose offsets the transaction will commit.
        group_id: Str => "0+";
    }
}

api_message! {
    /// Whether the group was added.
    pub struct AddOffsetsToTxnResponse: key 25, versions "0-4", flexible "3+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
    }
}
