//! AlterClientQuotas (key 49, KIP-546): set or remove client quotas (`kafka-configs.sh --alter
//! --entity-type users|clients|ips --add-config|--delete-config`, `Admin.alterClientQuotas`).
//! Defined at v0-1, Kafka 4.4's versions (v1 is the first flexible one). The entity parts are
//! [`super::QuotaEntityPart`]s, as in DescribeClientQuotas.

use crate::wire::Str;
use crate::{api_message, wire_struct};

use super::QuotaEntityPart;

api_message! {
    /// The changes, per entity; `validate_only`: check them and change nothing.
    pub struct AlterClientQuotasRequest: key 49, versions "0-1", flexible "1+" {
        entries: Vec<QuotaAlterEntry> => "0+";
        validate_only: bool => "0+";
    }
}

wire_struct! {
    /// One entity and the changes to its quotas.
    pub struct QuotaAlterEntry {
        entity: Vec<QuotaEntityPart> => "0+";
        ops: Vec<QuotaOp> => "0+";
    }
}

wire_struct! {
    /// Set `key` to `value`, or (`remove`) remove it.
    pub struct QuotaOp {
        key: Str => "0+";
        value: f64 => "0+";
        remove: bool => "0+";
    }
}

api_message! {
    /// One result per entry, in request order.
    pub struct AlterClientQuotasResponse: key 49, versions "0-1", flexible "1+" {
        throttle_time_ms: i32 => "0+";
        entries: Vec<QuotaAlterResult> => "0+";
    }
}

wire_struct! {
    /// The outcome for one entity.
    pub struct QuotaAlterResult {
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        entity: Vec<QuotaEntityPart> => "0+";
    }
}
