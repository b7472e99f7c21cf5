//! DescribeClientQuotas (key 48, KIP-546): the client quotas whose entities match a filter
//! (`kafka-configs.sh --describe --entity-type users|clients|ips`, `Admin.describeClientQuotas`).
//! Defined at v0-1, Kafka 4.4's versions (v1 is the first flexible one).
//!
//! A filter component names an entity type (`user`, `client-id`, `ip`) and how to match it:
//! [`QUOTA_MATCH_EXACT`] (the entity named `match`; null `match` is the default entity),
//! [`QUOTA_MATCH_DEFAULT`] (the default entity) or [`QUOTA_MATCH_ANY`] (any entity of the type,
//! the default included). A null `entity_name` in an answer is the default entity.

use crate::wire::Str;
use crate::{api_message, wire_struct};

/// `match_type` of a filter component: the entity named by `match`.
pub const QUOTA_MATCH_EXACT: i8 = 0;
/// `match_type` of a filter component: the default entity of the type.
pub const QUOTA_MATCH_DEFAULT: i8 = 1;
/// `match_type` of a filter component: any entity of the type.
pub const QUOTA_MATCH_ANY: i8 = 2;

api_message! {
    /// The filter: every component must match; `strict`: the entity has no other types.
    pub struct DescribeClientQuotasRequest: key 48, versions "0-1", flexible "1+" {
        components: Vec<QuotaFilterComponent> => "0+";
        strict: bool => "0+";
    }
}

wire_struct! {
    /// One component of the filter.
    pub struct QuotaFilterComponent {
        entity_type: Str => "0+";
        match_type: i8 => "0+";
        /// The name to match (EXACT); null otherwise.
        r#match: Option<Str> => "0+", nullable "0+";
    }
}

api_message! {
    /// An error (then null entries), or one entry per matching entity.
    pub struct DescribeClientQuotasResponse: key 48, versions "0-1", flexible "1+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        entries: Option<Vec<QuotaDescribedEntry>> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// One entity and its quota values.
    pub struct QuotaDescribedEntry {
        entity: Vec<QuotaEntityPart> => "0+";
        values: Vec<QuotaValue> => "0+";
    }
}

wire_struct! {
    /// One part of an entity (its type and name; null name: the default entity).
    pub struct QuotaEntityPart {
        entity_type: Str => "0+";
        entity_name: Option<Str> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// One quota value.
    pub struct QuotaValue {
        key: Str => "0+";
        value: f64 => "0+";
    }
}
