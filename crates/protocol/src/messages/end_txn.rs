//! EndTxn (key 26): a transactional producer commits or aborts its transaction. Defined at v0-5
//! as in Kafka 4.4 (flexible from v3; v5, KIP-890 part 2, returns the producer id and the epoch
//! bumped by the coordinator).

use crate::api_message;
use crate::wire::Str;

api_message! {
    /// Commits or aborts the open transaction of `transactional_id`.
    pub struct EndTxnRequest: key 26, versions "0-5", flexible "3+" {
        transactional_id: Str => "0+";
        producer_id: i64 => "0+";
        producer_epoch: i16 => "0+";
        /// True to commit, false to abort.
        committed: bool => "0+";
    }
}

api_message! {
    /// The outcome; at v5 also the producer id and epoch to use next.
    pub struct EndTxnResponse: key 26, versions "0-5", flexible "3+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        /// The producer id (v5+), -1 if none.
        producer_id: i64 => "5+", default -1;
        /// The producer epoch (v5+), -1 if none.
        producer_epoch: i16 => "5+", default -1;
    }
}
