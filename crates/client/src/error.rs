//! Client errors: every variant says which operation failed, against which broker, and (for
//! broker-reported failures) the Kafka error code and its name.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ringlog_protocol::error;
use ringlog_protocol::ApiKey;

/// Result of client operations.
pub type Result<T> = std::result::Result<T, ClientError>;

/// Why a client operation failed.
#[derive(Debug)]
pub enum ClientError {
    /// A socket operation failed.
    Io {
        /// What the client was doing (`connect`, `send`, `recv`).
        op: &'static str,
        /// The broker's address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// A wait ran past its bound. The connection is unusable afterwards (a response may still be
    /// on its way), so it is marked broken.
    Timeout {
        /// What the client was waiting for.
        op: String,
        /// The broker's address.
        addr: SocketAddr,
        /// The bound that passed.
        after: Duration,
    },
    /// The broker closed the connection.
    Closed {
        /// The broker's address.
        addr: SocketAddr,
        /// What the client was waiting for when the connection closed.
        op: String,
    },
    /// A response did not parse, or did not match the request it should answer.
    Protocol {
        /// The broker's address.
        addr: SocketAddr,
        /// The API whose response was being read.
        api_key: ApiKey,
        /// Its version.
        api_version: i16,
        /// What was wrong.
        reason: String,
    },
    /// The broker answered with a Kafka error code.
    Kafka {
        /// What was asked, e.g. `produce to orders-0`.
        op: String,
        /// The Kafka error code.
        code: i16,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// The broker and this client share no version of an API.
    UnsupportedApi {
        /// The API.
        api_key: ApiKey,
        /// The broker's advertised range, `None` if it does not list the API at all.
        broker: Option<(i16, i16)>,
        /// The range this client speaks.
        client: (i16, i16),
    },
    /// `send` was called with `in_flight_max` requests already awaiting responses; `recv` first.
    InFlightFull {
        /// The bound.
        in_flight_max: usize,
    },
    /// `recv` was called with no request in flight.
    NothingInFlight,
    /// An earlier failure left the connection in an unknown state; reconnect.
    Broken {
        /// The broker's address.
        addr: SocketAddr,
    },
    /// Record batch bytes could not be encoded or decoded.
    Records {
        /// Where (topic-partition, offset, position) and what was wrong.
        reason: String,
    },
    /// A caller passed something the client cannot send (e.g. a negative partition).
    InvalidArgument(String),
}

impl ClientError {
    /// The Kafka error code carried by a [`ClientError::Kafka`], `None` for other failures.
    pub fn kafka_code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the failure is a Kafka error code a client may retry
    /// ([`error::is_retriable`]); every other failure is `false`.
    pub fn is_retriable(&self) -> bool {
        self.kafka_code().is_some_and(error::is_retriable)
    }

    /// Builds a [`ClientError::Kafka`] when `code` is not 0.
    pub fn check(code: i16, message: Option<&str>, op: impl FnOnce() -> String) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        Err(ClientError::Kafka {
            op: op(),
            code,
            message: message.map(str::to_string),
        })
    }
}

/// `UNKNOWN_TOPIC_OR_PARTITION (3)`-style name of a Kafka error code (Kafka's name from
/// [`error::name`]), `unknown error code 999` for a code Kafka does not define.
pub fn kafka_error_name(code: i16) -> String {
    match error::name(code) {
        Some(name) => format!("{name} ({code})"),
        None => format!("unknown error code {code}"),
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io { op, addr, source } => write!(f, "{op} {addr}: {source}"),
            ClientError::Timeout { op, addr, after } => {
                write!(f, "{op} on {addr}: no answer within {after:?}")
            }
            ClientError::Closed { addr, op } => {
                write!(f, "{op} on {addr}: the broker closed the connection")
            }
            ClientError::Protocol {
                addr,
                api_key,
                api_version,
                reason,
            } => write!(
                f,
                "bad {api_key:?} v{api_version} response from {addr}: {reason}"
            ),
            ClientError::Kafka { op, code, message } => {
                write!(f, "{op}: broker error {}", kafka_error_name(*code))?;
                if let Some(m) = message.as_deref().filter(|m| !m.is_empty()) {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
            ClientError::UnsupportedApi {
                api_key,
                broker,
                client,
            } => match broker {
                None => write!(f, "the broker does not serve {api_key:?}"),
                Some((lo, hi)) => write!(
                    f,
                    "no common version of {api_key:?}: broker {lo}..={hi}, client {}..={}",
                    client.0, client.1
                ),
            },
            ClientError::InFlightFull { in_flight_max } => write!(
                f,
                "{in_flight_max} requests already in flight; read a response before sending more"
            ),
            ClientError::NothingInFlight => f.write_str("recv with no request in flight"),
            ClientError::Broken { addr } => write!(
                f,
                "connection to {addr} is unusable after an earlier failure; reconnect"
            ),
            ClientError::Records { reason } => write!(f, "records: {reason}"),
            ClientError::InvalidArgument(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_name_their_code() {
        assert_eq!(kafka_error_name(3), "UNKNOWN_TOPIC_OR_PARTITION (3)");
        assert_eq!(kafka_error_name(0), "NONE (0)");
        assert_eq!(kafka_error_name(9999), "unknown error code 9999");
        let e = ClientError::check(36, Some("exists"), || "create topic a".into()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "create topic a: broker error TOPIC_ALREADY_EXISTS (36): exists"
        );
        assert_eq!(e.kafka_code(), Some(36));
        assert!(!e.is_retriable());
        let e = ClientError::check(5, None, || "metadata for a".into()).unwrap_err();
        assert!(e.is_retriable());
        assert!(ClientError::check(0, None, || unreachable!()).is_ok());
    }
}
