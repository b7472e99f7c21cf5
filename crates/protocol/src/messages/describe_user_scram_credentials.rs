//! DescribeUserScramCredentials (key 50, KIP-554): which SCRAM mechanisms (and iteration counts)
//! each user has a credential for, never the credential itself (`kafka-configs.sh --describe
//! --entity-type users`). Defined at v0, Kafka 4.4's only version (flexible).

use crate::wire::Str;
use crate::{api_message, wire_struct};

/// `mechanism` of SCRAM-SHA-256 on the wire (Kafka's `ScramMechanism` type byte).
pub const SCRAM_MECHANISM_SHA_256: i8 = 1;
/// `mechanism` of SCRAM-SHA-512 on the wire.
pub const SCRAM_MECHANISM_SHA_512: i8 = 2;

api_message! {
    /// The users to describe; null (or empty) for every user with a credential.
    pub struct DescribeUserScramCredentialsRequest: key 50, versions "0", flexible "0+" {
        users: Option<Vec<ScramUserName>> => "0+", nullable "0+";
    }
}

wire_struct! {
    /// A user asked for.
    pub struct ScramUserName {
        name: Str => "0+";
    }
}

api_message! {
    /// A request-level error, or one result per user.
    pub struct DescribeUserScramCredentialsResponse: key 50, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        results: Vec<DescribeUserScramCredentialsResult> => "0+";
    }
}

wire_struct! {
    /// One user's credentials, or RESOURCE_NOT_FOUND / DUPLICATE_RESOURCE.
    pub struct DescribeUserScramCredentialsResult {
        user: Str => "0+";
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        credential_infos: Vec<ScramCredentialInfo> => "0+";
    }
}

wire_struct! {
    /// One mechanism the user has a credential for.
    pub struct ScramCredentialInfo {
        mechanism: i8 => "0+";
        iterations: i32 => "0+";
    }
}
