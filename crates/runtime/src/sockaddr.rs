//! Conversions between `std::net::SocketAddr` and the kernel's `sockaddr_storage`, in a box whose
//! address stays stable while an op (accept, connect) is in flight.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A `sockaddr_storage` and its length, as accept(2)/connect(2) use them.
pub(crate) struct SockAddrBuf {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl SockAddrBuf {
    /// An empty buffer for accept to fill.
    pub(crate) fn empty() -> Box<SockAddrBuf> {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let storage = unsafe { std::mem::zeroed() };
        Box::new(SockAddrBuf {
            storage,
            len: std::mem::size_of::<libc::sockaddr_storage>() as _,
        })
    }

    /// Encode `addr`.
    pub(crate) fn from_addr(addr: &SocketAddr) -> Box<SockAddrBuf> {
        let mut b = Self::empty();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
                let sin = unsafe { &mut *(&mut b.storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as _;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                b.len = std::mem::size_of::<libc::sockaddr_in>() as _;
            }
            SocketAddr::V6(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut b.storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as _;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                b.len = std::mem::size_of::<libc::sockaddr_in6>() as _;
            }
        }
        b
    }

    pub(crate) fn as_mut_ptrs(&mut self) -> (*mut libc::sockaddr, *mut libc::socklen_t) {
        (
            &mut self.storage as *mut _ as *mut libc::sockaddr,
            &mut self.len,
        )
    }

    pub(crate) fn as_ptr_len(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        (&self.storage as *const _ as *const libc::sockaddr, self.len)
    }
}

/// Decode an address filled in by the kernel; `None` for families we do not speak (unix).
pub(crate) fn to_socket_addr(b: &SockAddrBuf) -> Option<SocketAddr> {
    match i32::from(b.storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin = unsafe { &*(&b.storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6 = unsafe { &*(&b.storage as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for a in ["127.0.0.1:9092", "[::1]:19092"] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(to_socket_addr(&SockAddrBuf::from_addr(&addr)), Some(addr));
        }
    }
}
