//! Listener plumbing shared by Weir's HTTP/HTTPS server and its P2P signaling server, so that
//! neither protocol crate imports the other:
//!
//! * [`bind_tcp`]: a TCP listener; a wildcard address (`::` or `0.0.0.0`) becomes one
//!   dual-stack `[::]` socket (IPV6_V6ONLY off), falling back to `0.0.0.0` where IPv6 is
//!   unavailable, as the media sockets do.
//! * [`tls`]: the certificate of a TLS listener (PEM files or a self-signed one made at
//!   start) and its reload on SIGHUP or when the files change; [`hold_sighup`] keeps SIGHUP
//!   from ending the process when no certificate file is configured.

pub mod tls;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

pub use axum_server::tls_rustls::RustlsConfig;
pub use tls::{hold_sighup, load_or_generate_tls, watch_reload, TlsError};

/// Binds a listening TCP socket on `addr` (see the crate documentation for wildcards).
pub fn bind_tcp(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let std = bind_std(addr)?;
    tokio::net::TcpListener::from_std(std)
}

fn bind_std(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    if addr.ip().is_unspecified() {
        let v6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), addr.port());
        match listen(v6, Some(false)) {
            Ok(l) => return Ok(l),
            Err(e) => tracing::info!(addr = %v6, error = %e, "no dual-stack listener, IPv4 only"),
        }
        return listen(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port()), None);
    }
    listen(addr, None)
}

fn listen(addr: SocketAddr, only_v6: Option<bool>) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(v) = only_v6 {
        s.set_only_v6(v)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4
/// peer) as plain IPv4; other addresses unchanged.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wildcard_listener_accepts_ipv4_and_ipv6() {
        let l = bind_tcp("[::]:0".parse().unwrap()).unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (_, peer) = l.accept().await.unwrap();
        assert_eq!(canonical_ip(peer.ip()), IpAddr::from([127, 0, 0, 1]));
        // IPv6 loopback only where the kernel has it.
        if tokio::net::TcpStream::connect(("::1", port)).await.is_ok() {
            let (_, peer) = l.accept().await.unwrap();
            assert_eq!(peer.ip(), IpAddr::from(Ipv6Addr::LOCALHOST));
        }
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(canonical_ip(mapped), IpAddr::from([10, 1, 2, 3]));
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(canonical_ip(v6), v6);
    }
}
