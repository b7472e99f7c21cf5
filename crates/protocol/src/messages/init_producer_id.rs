//! InitProducerId (key 22): a producer id and epoch for idempotent or transactional producers.
//! Served at v0-5.

use crate::api_message;
use crate::wire::Str;

api_message! {
    /// Asks for a producer id (or a bumped epoch for an existing one).
    pub struct InitProducerIdRequest: key 22, versions "0-5", flexible "2+" {
        /// The transactional id, or null for an idempotent-only producer.
        transactional_id: Option<Str> => "0+", nullable "0+";
        /// Idle time before an open transaction is aborted (transactional producers only).
        transaction_timeout_ms: i32 => "0+";
        /// The current producer id, -1 if none (v3+: epoch bump after a fatal error).
        producer_id: i64 => "3+", default -1;
        /// The current producer epoch, -1 if none.
        producer_epoch: i16 => "3+", default -1;
    }
}

api_message! {
    /// The producer id and epoch to use.
    pub struct InitProducerIdResponse: key 22, versions "0-5", flexible "2+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        producer_id: i64 => "0+", default -1;
        producer_epoch: i16 => "0+";
    }
}
