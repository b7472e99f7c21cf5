//! Who a client is: listeners with Kafka's security protocols, SASL authentication (PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512) and the SCRAM credential store.
//!
//! ```text
//!  accept on a listener ──> Session (per connection: listener, SASL state, principal)
//!     PLAINTEXT       principal User:ANONYMOUS from the start
//!     SASL_PLAINTEXT  ApiVersions | SaslHandshake ──> SaslAuthenticate x 1 (PLAIN) or 2 (SCRAM)
//!                     ──> principal User:<name>; any other request before that closes it
//!  credentials: CredentialStore (scram.credentials in the data directory, shared by shards)
//! ```
//! The principal is what the authorizer decides on: [`Session::principal`] of the connection's
//! session, which [`crate::connection`] passes to every request's handling.
//!
//! # Invariants
//! - A connection on a SASL listener reaches no handler but ApiVersions, SaslHandshake and
//!   SaslAuthenticate until it authenticated ([`Session::admit`], checked by the connection's
//!   reader before a request is dispatched).
//! - No password and no salted password is ever stored: PLAIN is checked against the user's
//!   SCRAM credential ([`scram::ScramCredential::matches_password`]).
//! - A failed login is answered after [`AUTH_FAILURE_DELAY_MS`] and closes the connection.

pub mod credentials;
pub mod listener;
pub mod sasl;
pub mod scram;

pub use credentials::{CredentialStore, Credentials};
pub use listener::{ListenerInfo, ListenerSpec, SecurityProtocol};
pub use sasl::{SaslMechanism, Session};
pub use scram::{ScramCredential, ScramMechanism};

/// How long a failed authentication waits before it is answered (and the connection closed):
/// Kafka's `connections.failed.authentication.delay.ms` default. Constant, so a client cannot
/// tell an unknown user from a wrong password by the time taken, and bounded well under a
/// second.
pub const AUTH_FAILURE_DELAY_MS: u64 = 100;

/// An authenticated identity in Kafka's form (`KafkaPrincipal`): a type and a name, written
/// `User:alice`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    /// The principal type (`User` for every principal ringlog makes).
    pub kind: String,
    /// The name (the SASL user name; `ANONYMOUS` on PLAINTEXT listeners).
    pub name: String,
}

/// Kafka's principal type of users.
pub const USER_TYPE: &str = "User";
/// Kafka's name of the principal of unauthenticated (PLAINTEXT) connections.
pub const ANONYMOUS: &str = "ANONYMOUS";

impl Principal {
    /// `User:name`.
    pub fn user(name: &str) -> Principal {
        Principal {
            kind: USER_TYPE.to_string(),
            name: name.to_string(),
        }
    }

    /// `User:ANONYMOUS`, the principal of PLAINTEXT connections.
    pub fn anonymous() -> Principal {
        Principal::user(ANONYMOUS)
    }

    /// Parses `Type:name` (Kafka's `super.users` and ACL principal form).
    pub fn parse(text: &str) -> Option<Principal> {
        let (kind, name) = text.split_once(':')?;
        (!kind.is_empty() && !name.is_empty()).then(|| Principal {
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// Parses `--sasl-mechanisms` (comma-separated, Kafka's names): refuses an empty list,
/// unknown names and repeats.
pub fn parse_mechanisms(text: &str) -> Result<Vec<SaslMechanism>, String> {
    let mut out = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let m = SaslMechanism::from_name(name).ok_or_else(|| {
            format!(
                "sasl-mechanisms: unknown mechanism {name:?} (expected PLAIN, SCRAM-SHA-256 or \
                 SCRAM-SHA-512)"
            )
        })?;
        if out.contains(&m) {
            return Err(format!("sasl-mechanisms: {name} given twice"));
        }
        out.push(m);
    }
    if out.is_empty() {
        return Err("sasl-mechanisms: no mechanism given".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_and_mechanism_lists() {
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
        assert_eq!(
            Principal::parse("User:al:ice"),
            Some(Principal::user("al:ice"))
        );
        assert_eq!(Principal::parse("User:"), None);
        assert_eq!(
            parse_mechanisms("PLAIN, SCRAM-SHA-512").unwrap(),
            vec![
                SaslMechanism::Plain,
                SaslMechanism::Scram(ScramMechanism::Sha512)
            ]
        );
        for bad in ["", "GSSAPI", "PLAIN,PLAIN", "plain"] {
            assert!(parse_mechanisms(bad).is_err(), "{bad}");
        }
    }
}
