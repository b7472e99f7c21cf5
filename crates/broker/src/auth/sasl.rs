//! One connection's authentication: its listener, where it is in the SASL exchange, and the
//! principal it authenticated as. SaslHandshake (key 17) and SaslAuthenticate (key 36) are
//! answered here, as Kafka 4.4's `SaslServerAuthenticator` answers them.
//!
//! ```text
//!  Handshake ──SaslHandshake(enabled)──> Authenticate(m) ──SaslAuthenticate ok──> Done
//!     │ one ApiVersions: stays               │ SCRAM: first round ──> ScramFinal ──┘
//!     │ anything else: close, unanswered     │ ApiVersions, SaslHandshake: ILLEGAL_SASL_STATE,
//!                                            │   close; a failed login: its answer, close;
//!                                            │   anything else: close, unanswered
//!  PLAINTEXT listeners start in Done (User:ANONYMOUS); in Done, SaslHandshake and
//!  SaslAuthenticate are answered ILLEGAL_SASL_STATE (Kafka's KafkaApis does the same).
//! ```
//! (Kafka 4.4 answers any request between the handshake and the end of the exchange with
//! that request's ILLEGAL_SASL_STATE error response before it closes; ringlog answers the two
//! requests a client may plausibly send there and closes on the others without an answer.)
//!
//! # Invariants
//! - [`Session::principal`] is `Some` exactly in `Done`.
//! - Every failure of a login is answered with SASL_AUTHENTICATION_FAILED and Kafka 4.4's
//!   message for that failure ([`plain`], [`scram_refusal`]) after
//!   [`super::AUTH_FAILURE_DELAY_MS`], and the connection closes.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::listener::ListenerInfo;
use super::scram::ScramError;
use super::scram::{ScramMechanism, ScramServer};
use super::{Principal, AUTH_FAILURE_DELAY_MS};
use crate::protocol::error;
use crate::protocol::messages::{
    ApiVersionsResponse, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use crate::protocol::wire::Str;
use crate::protocol::ApiKey;
use crate::shard::ShardState;

/// Longest PLAIN token accepted (authzid, user name and password with two NULs).
pub const PLAIN_TOKEN_BYTES_MAX: usize = 4096;

/// A SASL mechanism ringlog serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// PLAIN (RFC 4616), checked against the user's SCRAM credential.
    Plain,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    Scram(ScramMechanism),
}

impl SaslMechanism {
    /// Every mechanism, in the default `--sasl-mechanisms` order.
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::Scram(ScramMechanism::Sha256),
        SaslMechanism::Scram(ScramMechanism::Sha512),
        SaslMechanism::Plain,
    ];

    /// The SASL name.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
        }
    }

    /// The mechanism named `name` (exactly: SASL names are case-sensitive in Kafka).
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

enum State {
    /// Waiting for SaslHandshake; one ApiVersions may come first (Kafka closes the connection
    /// on a second one).
    Handshake { versions_answered: bool },
    /// The mechanism is chosen; waiting for its first token.
    Authenticate(SaslMechanism),
    /// SCRAM: the server-first message went out; waiting for the client-final one.
    ScramFinal(ScramServer),
    /// Authenticated (or a PLAINTEXT listener).
    Done(Principal),
    /// A login failed; the connection is closing.
    Failed,
}

/// What the connection does after a SASL request was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// Keep serving.
    Continue,
    /// Close the connection (after writing the response), saying why in the log.
    Close(String),
}

/// A connection's authentication state.
pub struct Session {
    listener: Arc<ListenerInfo>,
    state: RefCell<State>,
    /// The client's address (for ACLs' host rules; unspecified when the accept did not say).
    peer: std::net::IpAddr,
    /// The principal's text and whether it authenticated, once the state is `Done` (a
    /// connection authenticates once: KIP-368 re-authentication is not served).
    principal_text: RefCell<Option<(std::rc::Rc<str>, bool)>>,
    /// The share sessions this connection opened (ended when it closes).
    shares: crate::share::ConnectionShares,
}

impl Session {
    /// The share sessions this connection opened.
    pub fn shares(&self) -> &crate::share::ConnectionShares {
        &self.shares
    }

    /// The session of a connection accepted on `listener`: authenticated as `User:ANONYMOUS`
    /// at once unless the listener uses SASL.
    pub fn new(listener: Arc<ListenerInfo>, peer: Option<std::net::SocketAddr>) -> Session {
        let state = if listener.protocol.uses_sasl() {
            State::Handshake {
                versions_answered: false,
            }
        } else {
            State::Done(Principal::anonymous())
        };
        Session {
            listener,
            state: RefCell::new(state),
            peer: peer.map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |p| {
                p.ip()
            }),
            principal_text: RefCell::new(None),
            shares: crate::share::ConnectionShares::default(),
        }
    }

    /// The session of a connection on an SSL listener (no SASL): authenticated as the TLS
    /// principal (the client certificate's subject, `User:ANONYMOUS` without one). On a
    /// SASL_SSL listener SASL decides, and this changes nothing.
    pub fn with_tls_principal(self, principal: Principal) -> Session {
        if !self.listener.protocol.uses_sasl() {
            *self.state.borrow_mut() = State::Done(principal);
        }
        self
    }

    /// This request's access under the shard's current ACLs ([`crate::acl::Access`]): the
    /// authenticated principal, or `User:ANONYMOUS` (unauthenticated) before and without
    /// authentication.
    pub fn access(&self, acls: &crate::acl::ShardAcls) -> crate::acl::Access {
        let (principal, authenticated) = self.identity();
        crate::acl::Access::new(&acls.current(), principal, self.peer, authenticated)
    }

    /// The principal's text (`User:alice`, cached once authenticated) and whether the
    /// connection authenticated.
    fn identity(&self) -> (std::rc::Rc<str>, bool) {
        if let Some(known) = &*self.principal_text.borrow() {
            return known.clone();
        }
        let identity = match &*self.state.borrow() {
            State::Done(p) => (
                std::rc::Rc::from(p.to_string()),
                // SASL, or a TLS client certificate (SSL listeners: anything but ANONYMOUS).
                self.listener.protocol.uses_sasl()
                    || (self.listener.protocol.uses_tls() && p.name != crate::auth::ANONYMOUS),
            ),
            _ => return (std::rc::Rc::from(crate::acl::ANONYMOUS), false),
        };
        *self.principal_text.borrow_mut() = Some(identity.clone());
        identity
    }

    /// The listener the connection came in on.
    pub fn listener(&self) -> &ListenerInfo {
        &self.listener
    }

    /// The authenticated principal (`User:ANONYMOUS` on PLAINTEXT listeners); `None` until a
    /// SASL connection authenticated. The authorizer decides on this.
    pub fn principal(&self) -> Option<Principal> {
        match &*self.state.borrow() {
            State::Done(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// Whether a request of `api` may be handled now. Before authentication only the SASL
    /// exchange's requests are, in Kafka's order (one ApiVersions before the handshake);
    /// ApiVersions and SaslHandshake during the exchange are let through to be answered
    /// ILLEGAL_SASL_STATE ([`Session::refuse_api_versions`], [`Session::handshake`]). `Err`
    /// says why the connection must close without an answer. Records an admitted ApiVersions.
    pub fn admit(&self, api: ApiKey) -> Result<(), String> {
        match (&mut *self.state.borrow_mut(), api) {
            (State::Done(_), _) => Ok(()),
            (State::Handshake { versions_answered }, ApiKey::ApiVersions) => {
                if *versions_answered {
                    return Err("a second ApiVersions request during SASL handshake".into());
                }
                *versions_answered = true;
                Ok(())
            }
            (State::Handshake { .. }, ApiKey::SaslHandshake) => Ok(()),
            (
                State::Authenticate(_) | State::ScramFinal(_),
                ApiKey::SaslAuthenticate | ApiKey::ApiVersions | ApiKey::SaslHandshake,
            ) => Ok(()),
            (State::Handshake { .. }, _) => Err(format!(
                "unexpected {api:?} request during SASL handshake (before authentication)"
            )),
            (State::Failed, _) => Err("authentication failed".into()),
            (_, _) => Err(format!(
                "unexpected {api:?} request during SASL authentication"
            )),
        }
    }

    /// Kafka's answer to ApiVersions between SaslHandshake and the end of the SASL exchange:
    /// ILLEGAL_SASL_STATE without versions, and the connection closes. `None` when ApiVersions
    /// is served as usual.
    pub fn refuse_api_versions(&self) -> Option<(ApiVersionsResponse, After)> {
        let mut state = self.state.borrow_mut();
        if !matches!(*state, State::Authenticate(_) | State::ScramFinal(_)) {
            return None;
        }
        *state = State::Failed;
        Some((
            ApiVersionsResponse {
                error_code: error::ILLEGAL_SASL_STATE,
                ..Default::default()
            },
            After::Close("ApiVersions request during SASL authentication".into()),
        ))
    }

    /// Answers SaslHandshake.
    pub fn handshake(
        &self,
        shard: &ShardState,
        req: SaslHandshakeRequest,
    ) -> (SaslHandshakeResponse, After) {
        let enabled = &shard.config.sasl_mechanisms;
        let mut state = self.state.borrow_mut();
        let illegal = SaslHandshakeResponse {
            error_code: error::ILLEGAL_SASL_STATE,
            mechanisms: Vec::new(),
        };
        match *state {
            State::Handshake { .. } => {}
            // Authenticated, or a PLAINTEXT listener: Kafka's KafkaApis answer.
            State::Done(_) => return (illegal, After::Continue),
            // A second handshake during the exchange: Kafka answers and closes.
            State::Authenticate(_) | State::ScramFinal(_) | State::Failed => {
                *state = State::Failed;
                return (
                    illegal,
                    After::Close("SaslHandshake request during SASL authentication".into()),
                );
            }
        }
        let mechanisms = enabled.iter().map(|m| Str::from_static(m.name())).collect();
        match SaslMechanism::from_name(&req.mechanism).filter(|m| enabled.contains(m)) {
            Some(m) => {
                *state = State::Authenticate(m);
                (
                    SaslHandshakeResponse {
                        error_code: error::NONE,
                        mechanisms,
                    },
                    After::Continue,
                )
            }
            None => {
                *state = State::Failed;
                (
                    SaslHandshakeResponse {
                        error_code: error::UNSUPPORTED_SASL_MECHANISM,
                        mechanisms,
                    },
                    After::Close(format!("unsupported SASL mechanism {:?}", &*req.mechanism)),
                )
            }
        }
    }

    /// Answers SaslAuthenticate: one round of the chosen mechanism.
    pub async fn authenticate(
        &self,
        shard: &ShardState,
        req: SaslAuthenticateRequest,
    ) -> (SaslAuthenticateResponse, After) {
        let state = std::mem::replace(&mut *self.state.borrow_mut(), State::Failed);
        let (mechanism, outcome) = match state {
            State::Done(p) => {
                *self.state.borrow_mut() = State::Done(p);
                return (
                    SaslAuthenticateResponse {
                        error_code: error::ILLEGAL_SASL_STATE,
                        error_message: Some(Str::from_static(
                            "SaslAuthenticate request received after successful authentication",
                        )),
                        ..Default::default()
                    },
                    After::Continue,
                );
            }
            State::Authenticate(SaslMechanism::Plain) => {
                (SaslMechanism::Plain, plain(shard, &req.auth_bytes))
            }
            State::Authenticate(SaslMechanism::Scram(m)) => {
                let mut server = ScramServer::new(m);
                let credentials = shard.credentials.current();
                match server.client_first(&req.auth_bytes, |user| credentials.get(user, m).cloned())
                {
                    Ok(server_first) => {
                        *self.state.borrow_mut() = State::ScramFinal(server);
                        return (
                            SaslAuthenticateResponse {
                                auth_bytes: Bytes::from(server_first),
                                error_message: Some(Str::from_static("")),
                                ..Default::default()
                            },
                            After::Continue,
                        );
                    }
                    Err(e) => (SaslMechanism::Scram(m), Err(scram_refusal(m, e))),
                }
            }
            State::ScramFinal(mut server) => {
                let m = server.mechanism();
                match server.client_final(&req.auth_bytes) {
                    Ok((user, server_final)) => (
                        SaslMechanism::Scram(m),
                        Ok((user, Bytes::from(server_final))),
                    ),
                    Err(e) => (SaslMechanism::Scram(m), Err(scram_refusal(m, e))),
                }
            }
            // `admit` lets SaslAuthenticate through only in the states above.
            State::Handshake { .. } | State::Failed => {
                return (
                    SaslAuthenticateResponse {
                        error_code: error::ILLEGAL_SASL_STATE,
                        error_message: Some(Str::from_static(
                            "Unexpected SaslAuthenticate request",
                        )),
                        ..Default::default()
                    },
                    After::Close("SaslAuthenticate outside the SASL exchange".into()),
                );
            }
        };
        match outcome {
            Ok((user, auth_bytes)) => {
                tracing::debug!(principal = %Principal::user(&user), %mechanism, "authenticated");
                *self.state.borrow_mut() = State::Done(Principal::user(&user));
                (
                    SaslAuthenticateResponse {
                        auth_bytes,
                        // Kafka answers a success with an empty message, not a null one.
                        error_message: Some(Str::from_static("")),
                        // No re-authentication asked for (KIP-368 is optional).
                        session_lifetime_ms: 0,
                        ..Default::default()
                    },
                    After::Continue,
                )
            }
            Err(Refusal { answer, why }) => {
                crate::runtime::time::sleep(Duration::from_millis(AUTH_FAILURE_DELAY_MS)).await;
                crate::metrics::RejectLog::reject(
                    &shard.metrics,
                    crate::metrics::RejectReason::AuthenticationFailed,
                    &format_args!(
                        "failed authentication on a {} listener with {mechanism} ({answer}): {why}",
                        self.listener.protocol
                    ),
                );
                (
                    SaslAuthenticateResponse {
                        error_code: error::SASL_AUTHENTICATION_FAILED,
                        error_message: Some(Str::from(answer.as_str())),
                        ..Default::default()
                    },
                    After::Close(format!("authentication failed: {why}")),
                )
            }
        }
    }
}

/// A refused login: what the client is told (Kafka 4.4's message for that failure) and what
/// the broker's log says.
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    answer: String,
    why: String,
}

impl Refusal {
    fn new(answer: impl Into<String>, why: impl Into<String>) -> Refusal {
        Refusal {
            answer: answer.into(),
            why: why.into(),
        }
    }
}

/// Kafka 4.4's generic message for a failed login (every SCRAM failure but one).
pub fn failure_message(mechanism: SaslMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL \
         mechanism {mechanism}"
    )
}

/// Kafka's (PLAIN's and SCRAM's) message for a known user asking for another authorization id.
pub const AUTHZID_MISMATCH_MESSAGE: &str =
    "Authentication failed: Client requested an authorization id that is different from username";
/// Kafka's PLAIN message for a wrong password or an unknown user (the same for both).
pub const PLAIN_INVALID_MESSAGE: &str = "Authentication failed: Invalid username or password";
/// Kafka's PLAIN message for an empty user name.
pub const PLAIN_NO_USER_MESSAGE: &str = "Authentication failed: username not specified";
/// Kafka's PLAIN message for an empty password.
pub const PLAIN_NO_PASSWORD_MESSAGE: &str = "Authentication failed: password not specified";

/// Kafka's answer to a refused SCRAM message: the generic one, but for a known user asking
/// for another authorization id.
fn scram_refusal(m: ScramMechanism, e: ScramError) -> Refusal {
    let answer = match e {
        ScramError::AuthzidMismatch => AUTHZID_MISMATCH_MESSAGE.to_string(),
        _ => failure_message(SaslMechanism::Scram(m)),
    };
    Refusal::new(answer, e.to_string())
}

/// Checks a PLAIN token (`authzid NUL authcid NUL password`, RFC 4616) against the user's SCRAM
/// credential; the user name and an empty server token on success. Checked in Kafka 4.4's
/// order (`PlainSaslServer`) with its messages: the token count (Kafka counts at most 4), an
/// empty user name, an empty password, the credential, then the authorization id.
fn plain(shard: &ShardState, token: &[u8]) -> Result<(String, Bytes), Refusal> {
    if token.len() > PLAIN_TOKEN_BYTES_MAX {
        // Kafka has no limit of its own (only the frame's); refused as a bad login.
        return Err(Refusal::new(PLAIN_INVALID_MESSAGE, "PLAIN token too long"));
    }
    let tokens = (token.iter().filter(|&&b| b == 0).count() + 1).min(4);
    let mut parts = token.splitn(3, |&b| b == 0);
    let (3, Some(authzid), Some(user), Some(password)) =
        (tokens, parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::new(
            format!("Invalid SASL/PLAIN response: expected 3 tokens, got {tokens}"),
            "the PLAIN token is not authzid NUL user NUL password",
        ));
    };
    if user.is_empty() {
        return Err(Refusal::new(
            PLAIN_NO_USER_MESSAGE,
            "username not specified",
        ));
    }
    if password.is_empty() {
        return Err(Refusal::new(
            PLAIN_NO_PASSWORD_MESSAGE,
            "password not specified",
        ));
    }
    // Kafka decodes the token leniently; a name that is not UTF-8 names no user.
    let user = String::from_utf8_lossy(user);
    let credentials = shard.credentials.current();
    let known = credentials.user(&user).and_then(|by_mechanism| {
        // Any of the user's SCRAM credentials proves the password.
        by_mechanism.iter().next().map(|(m, c)| (*m, c.clone()))
    });
    match known {
        Some((m, c)) if c.matches_password(m, password) => {}
        Some(_) => return Err(Refusal::new(PLAIN_INVALID_MESSAGE, "invalid password")),
        None => {
            // The same work for an unknown user as for a known one, so the time taken does not
            // tell them apart.
            let decoy = [0u8; 1];
            let _ = ScramMechanism::Sha256.salted_password(
                password,
                &decoy,
                super::scram::ITERATIONS_DEFAULT as u32,
            );
            return Err(Refusal::new(PLAIN_INVALID_MESSAGE, "unknown user"));
        }
    }
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return Err(Refusal::new(
            AUTHZID_MISMATCH_MESSAGE,
            "an authorization id different from the user name",
        ));
    }
    Ok((user.into_owned(), Bytes::new()))
}
