//! SaslHandshake (key 17): the client names the SASL mechanism it wants; the broker answers
//! which ones it enables. Defined at v0-1 as in Kafka 4.4 (never flexible). v1 means the SASL
//! tokens that follow travel in SaslAuthenticate requests (KIP-152); v0 clients sent raw,
//! unframed tokens, which Kafka 4.4 still accepts after a v0 handshake and ringlog does not (it
//! closes the connection).

use crate::api_message;
use crate::wire::Str;

api_message! {
    /// The mechanism the client wants (`PLAIN`, `SCRAM-SHA-256`, ...).
    pub struct SaslHandshakeRequest: key 17, versions "0-1", flexible "none" {
        mechanism: Str => "0+";
    }
}

api_message! {
    /// NONE, or UNSUPPORTED_SASL_MECHANISM / ILLEGAL_SASL_STATE; always the enabled mechanisms.
    pub struct SaslHandshakeResponse: key 17, versions "0-1", flexible "none" {
        error_code: i16 => "0+";
        mechanisms: Vec<Str> => "0+";
    }
}
