//! AlterUserScramCredentials (key 51, KIP-554): add, replace or delete users' SCRAM credentials
//! (`kafka-configs.sh --alter --add-config 'SCRAM-SHA-256=[...]' --entity-type users`). The
//! client sends the salt and the salted password (PBKDF2 of the password), never the password.
//! Defined at v0, Kafka 4.4's only version (flexible).

use bytes::Bytes;

use crate::wire::Str;
use crate::{api_message, wire_struct};

api_message! {
    /// Credentials to remove and to add or replace.
    pub struct AlterUserScramCredentialsRequest: key 51, versions "0", flexible "0+" {
        deletions: Vec<ScramCredentialDeletion> => "0+";
        upsertions: Vec<ScramCredentialUpsertion> => "0+";
    }
}

wire_struct! {
    /// Remove `name`'s credential of `mechanism`.
    pub struct ScramCredentialDeletion {
        name: Str => "0+";
        mechanism: i8 => "0+";
    }
}

wire_struct! {
    /// Add or replace `name`'s credential of `mechanism`.
    pub struct ScramCredentialUpsertion {
        name: Str => "0+";
        mechanism: i8 => "0+";
        iterations: i32 => "0+";
        salt: Bytes => "0+";
        salted_password: Bytes => "0+";
    }
}

api_message! {
    /// One result per user named in the request.
    pub struct AlterUserScramCredentialsResponse: key 51, versions "0", flexible "0+" {
        throttle_time_ms: i32 => "0+";
        results: Vec<AlterUserScramCredentialsResult> => "0+";
    }
}

wire_struct! {
    /// A user's outcome: NONE or the first error of its alterations.
    pub struct AlterUserScramCredentialsResult {
        user: Str => "0+";
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
    }
}
