//! SCRAM (RFC 5802) with SHA-256 and SHA-512 (RFC 7677), as Kafka's SCRAM-SHA-256 and
//! SCRAM-SHA-512 mechanisms use it: the credential a broker keeps, the server's side of the
//! two-round exchange, and (for tests and tools) the client's computations.
//!
//! ```text
//! SaltedPassword = Hi(password, salt, iterations)        PBKDF2-HMAC-H, one hash length
//! ClientKey      = HMAC(SaltedPassword, "Client Key")
//! StoredKey      = H(ClientKey)                         kept
//! ServerKey      = HMAC(SaltedPassword, "Server Key")   kept
//! AuthMessage    = client-first-bare "," server-first "," client-final-without-proof
//! ClientProof    = ClientKey XOR HMAC(StoredKey, AuthMessage)
//! ServerSignature= HMAC(ServerKey, AuthMessage)
//! ```
//! The server checks `H(ClientProof XOR HMAC(StoredKey, AuthMessage)) == StoredKey` and answers
//! `v=ServerSignature`, so it never needs (or keeps) the password or the salted password.
//!
//! # Invariants
//! - A [`ScramCredential`]'s iterations are within [`ITERATIONS_MIN`]..=[`ITERATIONS_MAX`] and
//!   its keys are one hash long ([`ScramCredential::new`] checks; the store never holds other).
//! - The server nonce is 32 bytes from the OS CSPRNG; the client's final nonce must be the
//!   client nonce followed by it, and its channel binding the header of its first message.
//! - Keys are compared in constant time.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Fewest PBKDF2 iterations a credential may have (Kafka's `ScramMechanism.minIterations`,
/// RFC 7677's recommendation).
pub const ITERATIONS_MIN: i32 = 4096;
/// Most PBKDF2 iterations a credential may have (Kafka's `ScramMechanism.maxIterations`): each
/// login of a PLAIN client costs the broker this many HMACs.
pub const ITERATIONS_MAX: i32 = 16384;
/// Iterations of a credential written without a count (Kafka's `kafka-configs.sh` default).
pub const ITERATIONS_DEFAULT: i32 = ITERATIONS_MAX / 2;
/// Bytes of a salt the broker makes (`ringlog users set`).
pub const SALT_BYTES: usize = 32;
/// Longest salt accepted from a client (AlterUserScramCredentials); Kafka's clients send 32
/// bytes of random data (RFC 5802 leaves the length open).
pub const SALT_BYTES_MAX: usize = 1024;
/// Random bytes in the server's part of the nonce (base64 in the message).
pub const SERVER_NONCE_BYTES: usize = 32;
/// Longest SCRAM message accepted from a client: a user name, a nonce and a proof fit easily.
pub const MESSAGE_BYTES_MAX: usize = 4096;

/// A SCRAM mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramMechanism {
    /// Both mechanisms, in Kafka's type order.
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism named `name` (exactly, as SASL names are matched).
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Kafka's type byte on the wire (DescribeUserScramCredentials, AlterUserScramCredentials).
    pub fn wire_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism of Kafka's type byte (0 is Kafka's UNKNOWN).
    pub fn from_wire_type(t: i8) -> Option<ScramMechanism> {
        Self::ALL.into_iter().find(|m| m.wire_type() == t)
    }

    /// Bytes of a hash (and of every key).
    pub fn hash_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length, so `new_from_slice` cannot fail.
        match self {
            ScramMechanism::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// `Hi(password, salt, iterations)`: PBKDF2 with this mechanism's HMAC, one hash long.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.hash_len()];
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

impl std::fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the broker keeps of one user's password for one mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: i32,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why a credential is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialError {
    /// Iterations below [`ITERATIONS_MIN`].
    TooFewIterations,
    /// Iterations above [`ITERATIONS_MAX`].
    TooManyIterations,
    /// An empty salt or one over [`SALT_BYTES_MAX`].
    BadSalt,
    /// Keys not one hash long.
    BadKeys,
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Kafka's messages where Kafka has one (ScramControlManager).
        f.write_str(match self {
            CredentialError::TooFewIterations => "Too few iterations",
            CredentialError::TooManyIterations => "Too many iterations",
            CredentialError::BadSalt => "The salt must be 1 to 1024 bytes",
            CredentialError::BadKeys => "The keys are not one hash long",
        })
    }
}

/// Checks an iteration count against Kafka's range.
pub fn check_iterations(iterations: i32) -> Result<(), CredentialError> {
    if iterations < ITERATIONS_MIN {
        Err(CredentialError::TooFewIterations)
    } else if iterations > ITERATIONS_MAX {
        Err(CredentialError::TooManyIterations)
    } else {
        Ok(())
    }
}

impl ScramCredential {
    /// A credential from its parts, checked.
    pub fn new(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        iterations: i32,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
    ) -> Result<ScramCredential, CredentialError> {
        check_iterations(iterations)?;
        if salt.is_empty() || salt.len() > SALT_BYTES_MAX {
            return Err(CredentialError::BadSalt);
        }
        if stored_key.len() != mechanism.hash_len() || server_key.len() != mechanism.hash_len() {
            return Err(CredentialError::BadKeys);
        }
        Ok(ScramCredential {
            salt,
            iterations,
            stored_key,
            server_key,
        })
    }

    /// The credential of a salted password (what AlterUserScramCredentials carries).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        iterations: i32,
        salted_password: &[u8],
    ) -> Result<ScramCredential, CredentialError> {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let server_key = mechanism.hmac(salted_password, b"Server Key");
        ScramCredential::new(mechanism, salt, iterations, stored_key, server_key)
    }

    /// The credential of a password with a fresh random salt (`ringlog users set`).
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &[u8],
        iterations: i32,
    ) -> Result<ScramCredential, String> {
        check_iterations(iterations).map_err(|e| e.to_string())?;
        let mut salt = vec![0u8; SALT_BYTES];
        getrandom::fill(&mut salt).map_err(|e| format!("random salt: {e}"))?;
        let salted = mechanism.salted_password(password, &salt, iterations as u32);
        ScramCredential::from_salted_password(mechanism, salt, iterations, &salted)
            .map_err(|e| e.to_string())
    }

    /// Whether `password` is this credential's (PLAIN logins): the salted password is derived
    /// with the stored salt and iterations and both keys are compared, in constant time.
    pub fn matches_password(&self, mechanism: ScramMechanism, password: &[u8]) -> bool {
        let Ok(iterations) = u32::try_from(self.iterations) else {
            return false;
        };
        let salted = mechanism.salted_password(password, &self.salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let server_key = mechanism.hmac(&salted, b"Server Key");
        // `&` (not `&&`): both comparisons always run.
        ct_eq(&stored_key, &self.stored_key) & ct_eq(&server_key, &self.server_key)
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Why a SCRAM exchange failed. All but [`ScramError::AuthzidMismatch`] are answered to the
/// client alike (Kafka's generic SASL_AUTHENTICATION_FAILED message); the detail is for the
/// broker's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScramError {
    /// A message that does not follow RFC 5802's grammar.
    Malformed(&'static str),
    /// The user has no credential for this mechanism.
    UnknownUser,
    /// The proof does not match the credential.
    BadProof,
    /// The final message's nonce or channel binding is not this exchange's.
    BadNonce,
    /// A message after the exchange ended.
    Finished,
    /// The client asked for delegation-token authentication, which ringlog has not.
    TokenAuth,
    /// A known user asked for an authorization id other than its own name (Kafka answers this
    /// one with its own message; checked after the credential lookup, as Kafka does, so an
    /// unknown user gets the generic answer).
    AuthzidMismatch,
    /// The OS random generator failed.
    Random(String),
}

impl std::fmt::Display for ScramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScramError::Malformed(why) => write!(f, "malformed SCRAM message: {why}"),
            ScramError::UnknownUser => f.write_str("unknown user"),
            ScramError::BadProof => f.write_str("invalid client proof"),
            ScramError::BadNonce => f.write_str("invalid nonce or channel binding"),
            ScramError::Finished => f.write_str("the SCRAM exchange already ended"),
            ScramError::TokenAuth => f.write_str("delegation tokens are not supported"),
            ScramError::AuthzidMismatch => {
                f.write_str("an authorization id different from the user name")
            }
            ScramError::Random(e) => write!(f, "server nonce: {e}"),
        }
    }
}

/// Decodes a SCRAM `saslname` (`=2C` is ',' and `=3D` is '='; a bare '=' is malformed).
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3);
        match esc {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in a user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Encodes a user name as a SCRAM `saslname`.
pub fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// The value of attribute `key` (`key=value`) in `part`.
fn attr(part: Option<&str>, key: char) -> Result<&str, ScramError> {
    let part = part.ok_or(ScramError::Malformed("an attribute is missing"))?;
    let mut chars = part.chars();
    if chars.next() != Some(key) || chars.next() != Some('=') {
        return Err(ScramError::Malformed(
            "an attribute is not where RFC 5802 puts it",
        ));
    }
    Ok(&part[2..])
}

/// The parts of a client-first message the server needs.
struct ClientFirst<'a> {
    /// `gs2-header` (channel binding flag and authzid), echoed in the final's `c=`.
    gs2_header: &'a str,
    /// `client-first-message-bare` (part of the AuthMessage).
    bare: &'a str,
    user: String,
    /// The decoded authorization id (empty when the client named none).
    authzid: String,
    nonce: &'a str,
}

fn parse_client_first(msg: &str) -> Result<ClientFirst<'_>, ScramError> {
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    let (flag, rest) = msg
        .split_once(',')
        .ok_or(ScramError::Malformed("no gs2 header"))?;
    match flag {
        "n" | "y" => {}
        _ => return Err(ScramError::Malformed("channel binding is not supported")),
    }
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(ScramError::Malformed("no gs2 header"))?;
    let gs2_len = flag.len() + 1 + authzid.len() + 1;
    let mut parts = bare.split(',');
    let first = parts.next();
    if first.is_some_and(|p| p.starts_with("m=")) {
        return Err(ScramError::Malformed(
            "mandatory extensions are not supported",
        ));
    }
    let user = decode_saslname(attr(first, 'n')?)?;
    let nonce = attr(parts.next(), 'r')?;
    if user.is_empty() || nonce.is_empty() {
        return Err(ScramError::Malformed("empty user name or nonce"));
    }
    // Kafka refuses an authorization id other than the user, after the credential lookup
    // ([`ScramServer::client_first`]).
    let authzid = if authzid.is_empty() {
        String::new()
    } else {
        decode_saslname(attr(Some(authzid), 'a')?)?
    };
    // Extensions (Kafka's `tokenauth=true` for delegation tokens) follow the nonce.
    for ext in parts {
        if ext == "tokenauth=true" {
            return Err(ScramError::TokenAuth);
        }
    }
    Ok(ClientFirst {
        gs2_header: &msg[..gs2_len],
        bare,
        user,
        authzid,
        nonce,
    })
}

/// The server's side of one SCRAM exchange.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: ServerState,
}

enum ServerState {
    AwaitClientFirst,
    AwaitClientFinal {
        user: String,
        credential: ScramCredential,
        /// `client-first-message-bare "," server-first-message`.
        auth_prefix: String,
        gs2_header: String,
        nonce: String,
    },
    Done,
}

impl ScramServer {
    /// A new exchange.
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer {
            mechanism,
            state: ServerState::AwaitClientFirst,
        }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Takes the client-first message; answers the server-first message. `lookup` gives the
    /// user's credential for this mechanism.
    pub fn client_first(
        &mut self,
        msg: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        let mut nonce = [0u8; SERVER_NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| ScramError::Random(e.to_string()))?;
        self.client_first_with_nonce(msg, &BASE64.encode(nonce), lookup)
    }

    /// [`Self::client_first`] with a given server nonce (RFC 7677's test vector).
    pub fn client_first_with_nonce(
        &mut self,
        msg: &[u8],
        server_nonce: &str,
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, ServerState::AwaitClientFirst) {
            self.state = ServerState::Done;
            return Err(ScramError::Finished);
        }
        self.state = ServerState::Done;
        if msg.len() > MESSAGE_BYTES_MAX {
            return Err(ScramError::Malformed("message too long"));
        }
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let first = parse_client_first(msg)?;
        let credential = lookup(&first.user).ok_or(ScramError::UnknownUser)?;
        if !first.authzid.is_empty() && first.authzid != first.user {
            return Err(ScramError::AuthzidMismatch);
        }
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        self.state = ServerState::AwaitClientFinal {
            user: first.user,
            credential,
            auth_prefix: format!("{},{server_first}", first.bare),
            gs2_header: first.gs2_header.to_string(),
            nonce,
        };
        Ok(server_first.into_bytes())
    }

    /// Takes the client-final message; on a valid proof answers the server-final message and
    /// the authenticated user.
    pub fn client_final(&mut self, msg: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        let state = std::mem::replace(&mut self.state, ServerState::Done);
        let ServerState::AwaitClientFinal {
            user,
            credential,
            auth_prefix,
            gs2_header,
            nonce,
        } = state
        else {
            return Err(ScramError::Finished);
        };
        if msg.len() > MESSAGE_BYTES_MAX {
            return Err(ScramError::Malformed("message too long"));
        }
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut parts = without_proof.split(',');
        let binding = attr(parts.next(), 'c')?;
        let final_nonce = attr(parts.next(), 'r')?;
        let binding = BASE64
            .decode(binding)
            .map_err(|_| ScramError::Malformed("channel binding is not base64"))?;
        if binding != gs2_header.as_bytes() || final_nonce != nonce {
            return Err(ScramError::BadNonce);
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        let m = self.mechanism;
        if proof.len() != m.hash_len() {
            return Err(ScramError::BadProof);
        }
        let auth_message = format!("{auth_prefix},{without_proof}");
        let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !ct_eq(&m.hash(&client_key), &credential.stored_key) {
            return Err(ScramError::BadProof);
        }
        let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
        Ok((
            user,
            format!("v={}", BASE64.encode(server_signature)).into_bytes(),
        ))
    }
}

/// The client's side, for tests and tools: the final message for a server-first message, and
/// the server signature to expect.
pub fn client_final(
    mechanism: ScramMechanism,
    password: &[u8],
    client_first_bare: &str,
    server_first: &str,
) -> Result<(String, String), ScramError> {
    let mut parts = server_first.split(',');
    let nonce = attr(parts.next(), 'r')?;
    let salt = BASE64
        .decode(attr(parts.next(), 's')?)
        .map_err(|_| ScramError::Malformed("salt is not base64"))?;
    let iterations: u32 = attr(parts.next(), 'i')?
        .parse()
        .map_err(|_| ScramError::Malformed("iterations"))?;
    let m = mechanism;
    let salted = m.salted_password(password, &salt, iterations);
    let client_key = m.hmac(&salted, b"Client Key");
    let stored_key = m.hash(&client_key);
    let server_key = m.hmac(&salted, b"Server Key");
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = m.hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_signature = m.hmac(&server_key, auth_message.as_bytes());
    Ok((
        format!("{without_proof},p={}", BASE64.encode(proof)),
        format!("v={}", BASE64.encode(server_signature)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3's exchange, user "user", password "pencil", on the server side.
    #[test]
    fn rfc_7677_sha_256_test_vector() {
        let m = ScramMechanism::Sha256;
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let cred = ScramCredential::from_salted_password(m, salt, 4096, &salted).unwrap();
        assert!(cred.matches_password(m, b"pencil"));
        assert!(!cred.matches_password(m, b"pencil2"));
        let mut server = ScramServer::new(m);
        let server_first = server
            .client_first_with_nonce(
                b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                |u| (u == "user").then(|| cred.clone()),
            )
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&server_first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let (user, server_final) = server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(user, "user");
        assert_eq!(
            std::str::from_utf8(&server_final).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // The client side computes the RFC's proof and signature too.
        let (final_msg, sig) = client_final(
            m,
            b"pencil",
            "n=user,r=rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        )
        .unwrap();
        assert!(final_msg.ends_with("p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
        assert_eq!(sig, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    fn exchange(
        m: ScramMechanism,
        cred: &ScramCredential,
        user: &str,
        password: &[u8],
    ) -> Result<String, ScramError> {
        let bare = format!("n={},r=clientnonce123", encode_saslname(user));
        let mut server = ScramServer::new(m);
        let server_first = server.client_first(format!("n,,{bare}").as_bytes(), |u| {
            (u == "al=i,ce").then(|| cred.clone())
        })?;
        let server_first = String::from_utf8(server_first).unwrap();
        let (final_msg, expected_sig) = client_final(m, password, &bare, &server_first)?;
        let (who, sig) = server.client_final(final_msg.as_bytes())?;
        assert_eq!(String::from_utf8(sig).unwrap(), expected_sig);
        // The exchange is over: another message is refused.
        assert_eq!(server.client_final(b"x").unwrap_err(), ScramError::Finished);
        Ok(who)
    }

    #[test]
    fn sha_512_round_trip_and_refusals() {
        for m in ScramMechanism::ALL {
            let cred = ScramCredential::from_password(m, b"s3cret", ITERATIONS_MIN).unwrap();
            assert_eq!(cred.stored_key.len(), m.hash_len());
            assert_eq!(exchange(m, &cred, "al=i,ce", b"s3cret").unwrap(), "al=i,ce");
            assert_eq!(
                exchange(m, &cred, "al=i,ce", b"wrong").unwrap_err(),
                ScramError::BadProof
            );
            assert_eq!(
                exchange(m, &cred, "bob", b"s3cret").unwrap_err(),
                ScramError::UnknownUser
            );
            assert!(cred.matches_password(m, b"s3cret"));
            assert!(!cred.matches_password(m, b""));
        }
    }

    #[test]
    fn malformed_and_foreign_messages_are_refused() {
        let m = ScramMechanism::Sha256;
        let cred = ScramCredential::from_password(m, b"pw", ITERATIONS_MIN).unwrap();
        let lookup = |_: &str| Some(cred.clone());
        for bad in [
            &b""[..],
            b"n,,",
            b"p=tls-unique,,n=u,r=x",
            b"n,,m=ext,n=u,r=x",
            b"n,,n=u",
            b"n,,n=,r=x",
            b"n,,n=u=,r=x",
            b"n,a=other=,n=u,r=x",
            b"n,,n=u,r=x,tokenauth=true",
            b"n,,r=x,n=u",
            &[0xff, 0xfe],
        ] {
            assert!(
                ScramServer::new(m).client_first(bad, lookup).is_err(),
                "{bad:?}"
            );
        }
        assert!(ScramServer::new(m)
            .client_first(&vec![b'a'; MESSAGE_BYTES_MAX + 1], lookup)
            .is_err());
        // Another authorization id: its own error for a known user, after the lookup (an
        // unknown user is just unknown, as in Kafka).
        assert_eq!(
            ScramServer::new(m)
                .client_first(b"n,a=other,n=u,r=x", lookup)
                .unwrap_err(),
            ScramError::AuthzidMismatch
        );
        assert_eq!(
            ScramServer::new(m)
                .client_first(b"n,a=other,n=u,r=x", |_| None)
                .unwrap_err(),
            ScramError::UnknownUser
        );
        // A final message with another nonce or channel binding.
        let mut s = ScramServer::new(m);
        let first = s.client_first(b"n,a=u,n=u,r=abc", lookup).unwrap();
        let first = String::from_utf8(first).unwrap();
        let (good, _) = client_final(m, b"pw", "n=u,r=abc", &first).unwrap();
        // c=biws is "n,," but this client sent "n,a=u,": the binding does not match.
        assert_eq!(
            s.client_final(good.as_bytes()).unwrap_err(),
            ScramError::BadNonce
        );
        let mut s = ScramServer::new(m);
        let first = String::from_utf8(s.client_first(b"n,,n=u,r=abc", lookup).unwrap()).unwrap();
        let forged = first.replacen("r=abc", "r=abd", 1);
        let (msg, _) = client_final(m, b"pw", "n=u,r=abc", &forged).unwrap();
        assert_eq!(
            s.client_final(msg.as_bytes()).unwrap_err(),
            ScramError::BadNonce
        );
    }

    #[test]
    fn iterations_follow_kafkas_range() {
        assert_eq!(
            check_iterations(4095),
            Err(CredentialError::TooFewIterations)
        );
        assert_eq!(
            check_iterations(16385),
            Err(CredentialError::TooManyIterations)
        );
        assert!(check_iterations(4096).is_ok() && check_iterations(16384).is_ok());
        let m = ScramMechanism::Sha512;
        assert_eq!(
            ScramCredential::from_salted_password(m, vec![], 4096, b"x").unwrap_err(),
            CredentialError::BadSalt
        );
        assert_eq!(
            ScramCredential::new(m, vec![1], 4096, vec![0; 32], vec![0; 64]).unwrap_err(),
            CredentialError::BadKeys
        );
        assert_eq!(ScramMechanism::from_wire_type(2), Some(m));
        assert_eq!(ScramMechanism::from_wire_type(0), None);
        assert_eq!(ScramMechanism::from_name("SCRAM-SHA-512"), Some(m));
        assert_eq!(ScramMechanism::from_name("scram-sha-512"), None);
    }
}
