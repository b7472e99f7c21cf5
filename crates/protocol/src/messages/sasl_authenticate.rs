//! SaslAuthenticate (key 36, KIP-152): one SASL token each way, as many rounds as the mechanism
//! needs (PLAIN one, SCRAM two). Defined at v0-2 as in Kafka 4.4: v1 adds the session lifetime
//! (KIP-368 re-authentication; 0 = the broker does not ask for it), v2 is flexible.

use bytes::Bytes;

use crate::api_message;
use crate::wire::Str;

api_message! {
    /// The client's next SASL token.
    pub struct SaslAuthenticateRequest: key 36, versions "0-2", flexible "2+" {
        auth_bytes: Bytes => "0+";
    }
}

api_message! {
    /// The broker's next token, or SASL_AUTHENTICATION_FAILED / ILLEGAL_SASL_STATE with a
    /// message (the client closes the connection).
    pub struct SaslAuthenticateResponse: key 36, versions "0-2", flexible "2+" {
        error_code: i16 => "0+";
        error_message: Option<Str> => "0+", nullable "0+";
        auth_bytes: Bytes => "0+";
        session_lifetime_ms: i64 => "1+";
    }
}
