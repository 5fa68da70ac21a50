//! Which peers a relay may talk to.
//!
//! A TURN server sits on a network its clients cannot reach directly; without a filter it would
//! let anyone on the Internet send UDP to the server's own services or to the internal network.
//! By default every address that is not a public unicast address is refused: loopback, private
//! (RFC 1918, fc00::/7), shared (100.64.0.0/10), link-local, multicast, broadcast, unspecified
//! and reserved ranges, IPv4 addresses embedded in NAT64/6to4 IPv6 addresses of those ranges, and
//! the server's own addresses. Rules, first match wins:
//!
//! 1. the deny list (`[rtc] turnDenyPeers`): refused;
//! 2. the server's own STUN/TURN listener (own address or loopback, listener port): refused;
//! 3. the allow list (`[rtc] turnAllowPeers`): allowed;
//! 4. a special-purpose address as above: refused;
//! 5. one of the server's own addresses: allowed only towards a live relay address of this
//!    server (two clients of this server relaying to each other); a permission (which has no
//!    port) for an own address is allowed and the port is checked when data is sent;
//! 6. anything else: allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use weir_core::net::{in_ranges, parse_ip_range, parse_ip_ranges, IpRange};

/// The special-purpose class of `ip`, if it is not a public unicast address.
pub fn special_class(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v) => special_v4(v),
        IpAddr::V6(v) => special_v6(v),
    }
}

fn special_v4(v: Ipv4Addr) -> Option<&'static str> {
    let o = v.octets();
    Some(if v.is_unspecified() || o[0] == 0 {
        "unspecified"
    } else if v.is_loopback() {
        "loopback"
    } else if v.is_private() {
        "private"
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        "shared (100.64.0.0/10)"
    } else if v.is_link_local() {
        "link-local"
    } else if v.is_multicast() {
        "multicast"
    } else if v.is_broadcast() || o[0] >= 240 {
        "reserved"
    } else {
        return None;
    })
}

fn special_v6(v: Ipv6Addr) -> Option<&'static str> {
    let s = v.segments();
    Some(if v.is_unspecified() {
        "unspecified"
    } else if v.is_loopback() {
        "loopback"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "private"
    } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        "link-local"
    } else if v.is_multicast() {
        "multicast"
    } else if s[..6] == [0; 6] {
        // ::/96 (IPv4-compatible, deprecated); ::ffff:0:0/96 never gets here (canonicalised).
        "reserved"
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix: the embedded IPv4 address decides.
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return special_v4(v4);
    } else if s[0] == 0x2002 {
        // 6to4: the embedded IPv4 address decides.
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return special_v4(v4);
    } else {
        return None;
    })
}

/// The peer filter of one server.
#[derive(Debug, Clone, Default)]
pub struct PeerFilter {
    /// Always allowed (unless denied).
    pub allow: Vec<IpRange>,
    /// Always refused.
    pub deny: Vec<IpRange>,
    /// The server's own addresses (interfaces, advertised addresses).
    pub own_ips: Vec<IpAddr>,
    /// Ports of the server's STUN/TURN listeners.
    pub listener_ports: Vec<u16>,
}

impl PeerFilter {
    fn is_own(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.own_ips.iter().any(|o| o.to_canonical() == ip)
    }

    /// Checks a peer IP for a permission (CreatePermission).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        if in_ranges(&self.deny, ip) {
            return Err("peer is in turnDenyPeers");
        }
        if in_ranges(&self.allow, ip) {
            return Ok(());
        }
        if let Some(class) = special_class(ip) {
            return Err(class);
        }
        // An own address: the port is checked when data is sent (see `check_addr`).
        Ok(())
    }

    /// Checks a peer transport address (ChannelBind, Send). `is_relay` says whether an address
    /// is a live relay address of this server.
    pub fn check_addr(&self, peer: SocketAddr, is_relay: impl Fn(SocketAddr) -> bool) -> Result<(), &'static str> {
        let ip = peer.ip().to_canonical();
        if in_ranges(&self.deny, ip) {
            return Err("peer is in turnDenyPeers");
        }
        if (self.is_own(ip) || ip.is_loopback() || ip.is_unspecified())
            && self.listener_ports.contains(&peer.port())
        {
            return Err("the server's own STUN/TURN port");
        }
        if in_ranges(&self.allow, ip) {
            return Ok(());
        }
        if let Some(class) = special_class(ip) {
            return Err(class);
        }
        if self.is_own(ip) {
            let peer = SocketAddr::new(ip, peer.port());
            return if is_relay(peer) { Ok(()) } else { Err("the server's own address") };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_classes() {
        for (a, want) in [
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("255.255.255.255", Some("reserved")),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("100.64.0.1", Some("shared (100.64.0.0/10)")),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fd00::1", Some("private")),
            ("fc00::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("ff02::1", Some("multicast")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            ("64:ff9b::a00:1", Some("private")),
            ("2002:c0a8:101::1", Some("private")),
            ("::1.2.3.4", Some("reserved")),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2001:db8::1", None),
            ("2606:4700::1111", None),
            ("64:ff9b::808:808", None),
            ("::ffff:8.8.4.4", None),
        ] {
            assert_eq!(special_class(ip(a)), want, "{a}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_ip_range("127.0.0.1"), Some((ip("127.0.0.1"), ip("127.0.0.1"))));
        assert_eq!(parse_ip_range("10.0.0.0/8"), Some((ip("10.0.0.0"), ip("10.255.255.255"))));
        assert_eq!(parse_ip_range(" 1.2.3.4 - 1.2.3.9 "), Some((ip("1.2.3.4"), ip("1.2.3.9"))));
        assert_eq!(parse_ip_range("[::1]"), Some((ip("::1"), ip("::1"))));
        assert_eq!(parse_ip_range("fd00::/8"), Some((ip("fd00::"), ip("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))));
        assert_eq!(parse_ip_range("0.0.0.0/0"), Some((ip("0.0.0.0"), ip("255.255.255.255"))));
        for bad in ["", "x", "1.2.3.4/33", "1.2.3.9-1.2.3.4", "1.2.3.4-::1", "::/129"] {
            assert_eq!(parse_ip_range(bad), None, "{bad}");
        }
        assert_eq!(parse_ip_ranges("127.0.0.1, ::1,,").unwrap().len(), 2);
        assert_eq!(parse_ip_ranges("127.0.0.1,nope"), Err("nope".to_owned()));
    }

    #[test]
    fn default_policy() {
        let f = PeerFilter {
            own_ips: vec![ip("203.0.113.5"), ip("127.0.0.1")],
            listener_ports: vec![3478],
            ..Default::default()
        };
        let no_relay = |_: SocketAddr| false;
        assert_eq!(f.check_ip(ip("127.0.0.1")), Err("loopback"));
        assert_eq!(f.check_ip(ip("192.168.0.10")), Err("private"));
        assert_eq!(f.check_ip(ip("198.51.100.1")), Ok(()));
        assert_eq!(f.check_addr(sa("198.51.100.1:9"), no_relay), Ok(()));
        assert_eq!(f.check_addr(sa("[::ffff:10.0.0.1]:9"), no_relay), Err("private"));
        // Own public address: permission yes, data only towards a live relay.
        assert_eq!(f.check_ip(ip("203.0.113.5")), Ok(()));
        assert_eq!(f.check_addr(sa("203.0.113.5:22"), no_relay), Err("the server's own address"));
        assert_eq!(f.check_addr(sa("203.0.113.5:50000"), |a| a == sa("203.0.113.5:50000")), Ok(()));
        assert_eq!(f.check_addr(sa("203.0.113.5:3478"), |_| true), Err("the server's own STUN/TURN port"));
    }

    #[test]
    fn allow_and_deny_lists() {
        let f = PeerFilter {
            allow: parse_ip_ranges("127.0.0.1,10.0.0.0/8").unwrap(),
            deny: parse_ip_ranges("10.9.0.0/16, 8.8.8.8").unwrap(),
            own_ips: vec![ip("127.0.0.1")],
            listener_ports: vec![3478, 3479],
        };
        let no_relay = |_: SocketAddr| false;
        assert_eq!(f.check_ip(ip("127.0.0.1")), Ok(()));
        assert_eq!(f.check_ip(ip("127.0.0.2")), Err("loopback"));
        assert_eq!(f.check_ip(ip("10.1.1.1")), Ok(()));
        assert_eq!(f.check_ip(ip("10.9.1.1")), Err("peer is in turnDenyPeers"));
        assert_eq!(f.check_ip(ip("8.8.8.8")), Err("peer is in turnDenyPeers"));
        assert_eq!(f.check_addr(sa("127.0.0.1:5000"), no_relay), Ok(()));
        assert_eq!(f.check_addr(sa("127.0.0.1:3479"), no_relay), Err("the server's own STUN/TURN port"));
        assert_eq!(f.check_addr(sa("[::ffff:127.0.0.1]:3478"), no_relay), Err("the server's own STUN/TURN port"));
        assert_eq!(f.check_addr(sa("[::ffff:127.0.0.1]:80"), no_relay), Ok(()));
    }
}
