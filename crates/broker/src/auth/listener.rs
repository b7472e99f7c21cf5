//! Listeners in Kafka's terms: `PROTOCOL://host:port`, several at once, each advertised to the
//! clients that connect through it.
//!
//! A listener's name is its security protocol (Kafka's default `listener.security.protocol.map`
//! without custom names), so there is at most one listener per protocol, as Kafka requires
//! distinct listener names. `host:port` alone is a PLAINTEXT listener (ringlog's form before
//! listeners had protocols). An empty host (`PLAINTEXT://:9092`) binds every interface, as in
//! Kafka.
//!
//! The protocol says whether the connection is TLS ([`SecurityProtocol::uses_tls`], the
//! handshake in `crate::tls::transport`) and whether it authenticates with SASL
//! ([`SecurityProtocol::uses_sasl`]).
//!
//! # Invariants
//! - Listener names are unique within a broker ([`parse_listeners`] refuses duplicates).
//! - Every advertised entry names a configured listener ([`parse_advertised`]).

use std::net::{SocketAddr, ToSocketAddrs};

/// Most listeners one broker may have (one per security protocol).
pub const LISTENERS_MAX: usize = 4;

/// Kafka's security protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// No TLS, no authentication: every client is `User:ANONYMOUS`.
    Plaintext,
    /// SASL authentication over plain TCP.
    SaslPlaintext,
    /// TLS; the principal is the client certificate's subject (mTLS) or `User:ANONYMOUS`.
    Ssl,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name of the protocol (also the listener's name).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Clients must authenticate with SASL before anything else.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// The connection is TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// The protocol named `name` (case-insensitive, as Kafka's `SecurityProtocol.forName`).
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        [
            SecurityProtocol::Plaintext,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslSsl,
        ]
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One configured listener: its protocol and the address to bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerSpec {
    /// Security protocol (and name).
    pub protocol: SecurityProtocol,
    /// Address to bind (every shard binds it with SO_REUSEPORT; port 0 picks one at start).
    pub addr: SocketAddr,
}

impl std::fmt::Display for ListenerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.protocol, self.addr)
    }
}

/// A listener once bound: what a connection accepted on it needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerInfo {
    /// Security protocol (and name).
    pub protocol: SecurityProtocol,
    /// The bound address (the real port when 0 was asked for).
    pub local_addr: SocketAddr,
    /// Host clients of this listener are told to connect to (Metadata, FindCoordinator,
    /// DescribeCluster).
    pub advertised_host: String,
    /// Port clients of this listener are told to connect to.
    pub advertised_port: i32,
}

impl ListenerInfo {
    /// The listener's advertised `(host, port)`.
    pub fn advertised(&self) -> (&str, i32) {
        (&self.advertised_host, self.advertised_port)
    }
}

/// Splits `PROTO://rest` into the protocol name and the rest; `None` without `://`.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    text.split_once("://")
}

/// Splits `host:port` at the last colon, taking brackets off an IPv6 host.
fn split_host_port(text: &str) -> Result<(&str, &str), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?}: expected HOST:PORT"))?;
    Ok((host.trim_start_matches('[').trim_end_matches(']'), port))
}

/// Parses one bind address: `host:port`, the host an IP address, a name resolved once here,
/// or empty for every interface.
fn parse_bind_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = split_host_port(text)?;
    let port: u16 = port
        .parse()
        .map_err(|e| format!("{text:?}: port {port:?}: {e}"))?;
    if host.is_empty() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{text:?}: cannot resolve {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?}: {host:?} resolves to no address"))
}

/// Parses `--listen` values: each comma-separated entry `PROTOCOL://host:port` or bare
/// `host:port` (PLAINTEXT). Refuses an empty list, unknown protocols, more than
/// [`LISTENERS_MAX`] listeners and two listeners with the same name.
pub fn parse_listeners<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<ListenerSpec>, String> {
    let mut out: Vec<ListenerSpec> = Vec::new();
    for entry in values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (protocol, addr) = match split_scheme(entry) {
            Some((name, rest)) => {
                let protocol = SecurityProtocol::from_name(name).ok_or_else(|| {
                    format!(
                        "listener {entry:?}: unknown security protocol {name:?} (expected \
                         PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL; custom listener names \
                         are not supported)"
                    )
                })?;
                (protocol, rest)
            }
            None => (SecurityProtocol::Plaintext, entry),
        };
        let addr = parse_bind_addr(addr).map_err(|e| format!("listener {entry:?}: {e}"))?;
        if out.iter().any(|l| l.protocol == protocol) {
            return Err(format!(
                "listener {entry:?}: a second {protocol} listener (each listener name may \
                 appear once, as in Kafka)"
            ));
        }
        out.push(ListenerSpec { protocol, addr });
    }
    if out.is_empty() {
        return Err("listen: no listener given".into());
    }
    if out.len() > LISTENERS_MAX {
        return Err(format!(
            "listen: {} listeners, at most {LISTENERS_MAX}",
            out.len()
        ));
    }
    Ok(out)
}

/// One advertised address: the listener it belongs to and `(host, port)`.
pub type Advertised = (SecurityProtocol, String, i32);

/// Parses `--advertise`: Kafka's `advertised.listeners` form (`PROTOCOL://host:port,...`, each
/// naming a configured listener), or one bare `host:port`, which advertises the first
/// listener (ringlog's form before listeners had protocols). Listeners not named advertise
/// their bound address.
pub fn parse_advertised(text: &str, listeners: &[ListenerSpec]) -> Result<Vec<Advertised>, String> {
    let mut out: Vec<Advertised> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (protocol, rest) = match split_scheme(entry) {
            Some((name, rest)) => {
                let protocol = SecurityProtocol::from_name(name).ok_or_else(|| {
                    format!("advertise {entry:?}: unknown security protocol {name:?}")
                })?;
                if !listeners.iter().any(|l| l.protocol == protocol) {
                    return Err(format!(
                        "advertise {entry:?}: there is no {protocol} listener to advertise"
                    ));
                }
                (protocol, rest)
            }
            None => {
                let first = listeners
                    .first()
                    .ok_or_else(|| "advertise: no listener".to_string())?;
                (first.protocol, entry)
            }
        };
        let (host, port) = split_host_port(rest).map_err(|e| format!("advertise {e}"))?;
        let port: u16 = port
            .parse()
            .map_err(|e| format!("advertise {entry:?}: port {port:?}: {e}"))?;
        if host.is_empty() {
            return Err(format!("advertise {entry:?}: empty host"));
        }
        if out.iter().any(|(p, _, _)| *p == protocol) {
            return Err(format!(
                "advertise {entry:?}: {protocol} is advertised twice"
            ));
        }
        out.push((protocol, host.to_string(), i32::from(port)));
    }
    Ok(out)
}

/// The listener infos once every listener is bound at `bound` (same order as `listeners`):
/// the advertised address from `advertised` when it names the listener, else the bound one (an
/// unspecified bind address advertises the loopback address of its family, so a local client
/// can still follow it).
pub fn listener_infos(
    listeners: &[ListenerSpec],
    bound: &[SocketAddr],
    advertised: &[Advertised],
) -> Vec<ListenerInfo> {
    debug_assert_eq!(listeners.len(), bound.len());
    listeners
        .iter()
        .zip(bound)
        .map(|(spec, &local_addr)| {
            let (host, port) = match advertised.iter().find(|(p, _, _)| *p == spec.protocol) {
                Some((_, host, port)) => (host.clone(), *port),
                None => {
                    let ip = if local_addr.ip().is_unspecified() {
                        match local_addr {
                            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                        }
                    } else {
                        local_addr.ip()
                    };
                    (ip.to_string(), i32::from(local_addr.port()))
                }
            };
            ListenerInfo {
                protocol: spec.protocol,
                local_addr,
                advertised_host: host,
                advertised_port: port,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_parse_in_kafkas_form_and_bare() {
        let l = parse_listeners(["SASL_PLAINTEXT://127.0.0.1:9093, PLAINTEXT://127.0.0.1:9092"])
            .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(l[0].addr, "127.0.0.1:9093".parse().unwrap());
        assert_eq!(l[1].protocol, SecurityProtocol::Plaintext);
        // Repeated flags and lower-case names, bare host:port, an empty host, IPv6.
        let l = parse_listeners(["127.0.0.1:1", "sasl_plaintext://[::1]:2", "SSL://:3"]).unwrap();
        assert_eq!(l[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(l[1].addr, "[::1]:2".parse().unwrap());
        assert_eq!(l[2].addr, "0.0.0.0:3".parse().unwrap());
        assert!(l[2].protocol.uses_tls() && !l[2].protocol.uses_sasl());
        for (bad, why) in [
            ("", "no listener"),
            ("FOO://127.0.0.1:1", "unknown security protocol"),
            (
                "PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2",
                "second PLAINTEXT",
            ),
            ("127.0.0.1:1,PLAINTEXT://127.0.0.1:2", "second PLAINTEXT"),
            ("PLAINTEXT://127.0.0.1", "HOST:PORT"),
            ("PLAINTEXT://127.0.0.1:99999", "port"),
        ] {
            let e = parse_listeners([bad]).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn advertised_listeners_match_by_name() {
        let l =
            parse_listeners(["SASL_PLAINTEXT://0.0.0.0:9093,PLAINTEXT://127.0.0.1:9092"]).unwrap();
        let a = parse_advertised("SASL_PLAINTEXT://broker.example:19093", &l).unwrap();
        assert_eq!(
            a,
            vec![(
                SecurityProtocol::SaslPlaintext,
                "broker.example".into(),
                19093
            )]
        );
        // A bare host:port advertises the first listener.
        let a = parse_advertised("[::1]:7", &l).unwrap();
        assert_eq!(a, vec![(SecurityProtocol::SaslPlaintext, "::1".into(), 7)]);
        let infos = listener_infos(
            &l,
            &[
                "0.0.0.0:9093".parse().unwrap(),
                "127.0.0.1:9092".parse().unwrap(),
            ],
            &a,
        );
        assert_eq!(infos[0].advertised(), ("::1", 7));
        assert_eq!(infos[1].advertised(), ("127.0.0.1", 9092));
        let infos = listener_infos(&l[..1], &["0.0.0.0:5".parse().unwrap()], &[]);
        assert_eq!(infos[0].advertised(), ("127.0.0.1", 5));
        for (bad, why) in [
            ("SSL://h:1", "no SSL listener"),
            ("PLAINTEXT://h:1,PLAINTEXT://h:2", "twice"),
            ("PLAINTEXT://:1", "empty host"),
            ("nohost", "HOST:PORT"),
            ("BAR://h:1", "unknown security protocol"),
        ] {
            let e = parse_advertised(bad, &l).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
