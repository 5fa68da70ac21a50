//! Which server addresses go into an answer as ICE host candidates.
//!
//! [`plan`] is a pure function: interface addresses and environment lookups are passed in, so
//! every rule is unit-tested. [`interface_addrs`] and [`env_lookup`] collect the real ones.
//!
//! Rules, first match wins:
//! 1. A per-request override:
//!    * SRS `eip` / `candidate` = `ip` or `ip:port`: that IP for both UDP and TCP; a port replaces
//!      both configured ports.
//!    * ZLMediaKit `cand_udp=ip:port` / `cand_tcp=ip:port`: as in ZLMediaKit (`setWebRtcArgs`),
//!      when either is given the answer carries exactly those candidates and nothing else.
//! 2. `rtc.externIP`: comma list, entries trimmed; `$NAME` reads the environment variable `NAME`
//!    (skipped if unset; its value may itself be a comma list); `*` = every interface address,
//!    IPv4 and IPv6, link-local excluded. Unparsable entries are skipped with a warning. A list
//!    that yields no address falls through to the next rule.
//! 3. The request's `Host` header, if its host part is an IP address (loopback included) other
//!    than the unspecified `0.0.0.0` / `::`.
//! 4. Every non-loopback, non-link-local interface address.
//! 5. `127.0.0.1`.
//!
//! UDP candidates use `rtc.port`, TCP candidates `rtc.tcpPort`; a port of 0 disables that kind
//! (except for ZLMediaKit's explicit `cand_*`, which carry their own port). The result is
//! de-duplicated, keeping first-seen order.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use weir_core::CandidatePlan;

/// A candidate choice made by the request itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CandidateOverride {
    #[default]
    None,
    /// SRS `eip` / `candidate`.
    Srs { ip: IpAddr, port: Option<u16> },
    /// ZLMediaKit `cand_udp` / `cand_tcp`.
    Zlm { udp: Option<SocketAddr>, tcp: Option<SocketAddr> },
}

impl CandidateOverride {
    /// Parses SRS's `eip` value (`ip`, `ip:port`, `[v6]:port`). `None` when it is not an address.
    pub fn parse_srs(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        if let Ok(sa) = value.parse::<SocketAddr>() {
            return Some(Self::Srs { ip: sa.ip(), port: nonzero(sa.port()) });
        }
        let bare = value.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().ok().map(|ip| Self::Srs { ip, port: None })
    }

    /// Builds ZLMediaKit's override from `cand_udp` / `cand_tcp` (`ip:port` each, `[v6]:port`
    /// accepted). Values that do not parse are ignored, like ZLMediaKit does; `None` when neither
    /// gives an address.
    pub fn parse_zlm(cand_udp: Option<&str>, cand_tcp: Option<&str>) -> Option<Self> {
        let parse = |v: Option<&str>| v.and_then(|v| v.trim().parse::<SocketAddr>().ok()).filter(|sa| sa.port() != 0);
        let (udp, tcp) = (parse(cand_udp), parse(cand_tcp));
        if udp.is_none() && tcp.is_none() {
            None
        } else {
            Some(Self::Zlm { udp, tcp })
        }
    }
}

fn nonzero(port: u16) -> Option<u16> {
    (port != 0).then_some(port)
}

/// Everything [`plan`] decides from.
#[derive(Debug, Clone, Copy)]
pub struct CandidateInput<'a> {
    /// `rtc.port` (0 = no UDP candidates).
    pub udp_port: u16,
    /// `rtc.tcpPort` (0 = no TCP candidates).
    pub tcp_port: u16,
    /// `rtc.externIP`.
    pub extern_ip: &'a str,
    pub request_override: &'a CandidateOverride,
    /// The request's `Host` header (or `:authority`), verbatim.
    pub host_header: Option<&'a str>,
    /// All interface addresses, loopback and link-local included; [`plan`] filters.
    pub interfaces: &'a [IpAddr],
}

/// Builds the candidate plan; see the module documentation for the rules.
pub fn plan(input: &CandidateInput<'_>, env: &dyn Fn(&str) -> Option<String>) -> CandidatePlan {
    let mut out = CandidatePlan::default();
    match input.request_override {
        CandidateOverride::Zlm { udp, tcp } => {
            out.udp.extend(udp);
            out.tcp.extend(tcp);
            return out;
        }
        CandidateOverride::Srs { ip, port } => {
            let udp_port = if input.udp_port != 0 { port.unwrap_or(input.udp_port) } else { 0 };
            let tcp_port = if input.tcp_port != 0 { port.unwrap_or(input.tcp_port) } else { 0 };
            push_ips(&mut out, &[*ip], udp_port, tcp_port);
            return out;
        }
        CandidateOverride::None => {}
    }
    let ips = choose_ips(input, env);
    push_ips(&mut out, &ips, input.udp_port, input.tcp_port);
    out
}

fn choose_ips(input: &CandidateInput<'_>, env: &dyn Fn(&str) -> Option<String>) -> Vec<IpAddr> {
    let from_extern = extern_ips(input.extern_ip, input.interfaces, env);
    if !from_extern.is_empty() {
        return from_extern;
    }
    if let Some(ip) = input.host_header.and_then(host_ip) {
        if !ip.is_unspecified() {
            return vec![ip];
        }
    }
    let ifs: Vec<IpAddr> =
        input.interfaces.iter().copied().filter(|ip| !ip.is_loopback() && !is_link_local(ip) && !ip.is_unspecified()).collect();
    if !ifs.is_empty() {
        return ifs;
    }
    vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
}

fn extern_ips(list: &str, interfaces: &[IpAddr], env: &dyn Fn(&str) -> Option<String>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if let Some(name) = entry.strip_prefix('$') {
            match env(name) {
                Some(value) => {
                    for v in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                        push_extern_entry(&mut out, v, interfaces);
                    }
                }
                None => tracing::debug!(variable = name, "rtc.externIP: environment variable unset, skipped"),
            }
        } else {
            push_extern_entry(&mut out, entry, interfaces);
        }
    }
    out
}

fn push_extern_entry(out: &mut Vec<IpAddr>, entry: &str, interfaces: &[IpAddr]) {
    if entry == "*" {
        out.extend(interfaces.iter().copied().filter(|ip| !is_link_local(ip) && !ip.is_unspecified()));
        return;
    }
    match entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => out.push(ip),
        Err(_) => tracing::warn!(entry, "rtc.externIP: not an IP address, skipped"),
    }
}

fn push_ips(out: &mut CandidatePlan, ips: &[IpAddr], udp_port: u16, tcp_port: u16) {
    for ip in ips {
        let ip = canonical(*ip);
        if udp_port != 0 {
            let sa = SocketAddr::new(ip, udp_port);
            if !out.udp.contains(&sa) {
                out.udp.push(sa);
            }
        }
        if tcp_port != 0 {
            let sa = SocketAddr::new(ip, tcp_port);
            if !out.tcp.contains(&sa) {
                out.tcp.push(sa);
            }
        }
    }
}

/// IPv4-mapped IPv6 addresses are advertised as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub(crate) fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The host part of a `Host` header (`1.2.3.4:80`, `[::1]:80`, `[::1]`, `name:80`), unparsed.
pub fn host_part(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    // A bare IPv6 address (no brackets, several colons) has no port.
    if host.matches(':').count() > 1 {
        return host;
    }
    host.split(':').next().unwrap_or(host)
}

/// The host part of a `Host` header when it is an IP address.
pub fn host_ip(host: &str) -> Option<IpAddr> {
    host_part(host).parse::<IpAddr>().ok()
}

/// Every address of every interface that is not down, loopback and link-local included.
pub fn interface_addrs() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(ifs) => ifs.into_iter().filter(|i| i.oper_status != if_addrs::IfOperStatus::Down).map(|i| i.ip()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list network interfaces");
            Vec::new()
        }
    }
}

/// Reads an environment variable (the real lookup for `$NAME` entries).
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
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
    fn no_env(_: &str) -> Option<String> {
        None
    }
    fn ifs() -> Vec<IpAddr> {
        vec![ip("127.0.0.1"), ip("10.0.0.5"), ip("::1"), ip("fe80::1"), ip("169.254.3.4"), ip("2001:db8::5")]
    }
    fn input<'a>(extern_ip: &'a str, ov: &'a CandidateOverride, host: Option<&'a str>, ifs: &'a [IpAddr]) -> CandidateInput<'a> {
        CandidateInput { udp_port: 8000, tcp_port: 8001, extern_ip, request_override: ov, host_header: host, interfaces: ifs }
    }

    #[test]
    fn srs_override_wins_and_port_replaces_both() {
        let ifs = ifs();
        let ov = CandidateOverride::parse_srs("1.2.3.4:9000").unwrap();
        let p = plan(&input("5.6.7.8", &ov, Some("9.9.9.9"), &ifs), &no_env);
        assert_eq!(p.udp, vec![sa("1.2.3.4:9000")]);
        assert_eq!(p.tcp, vec![sa("1.2.3.4:9000")]);

        let ov = CandidateOverride::parse_srs("1.2.3.4").unwrap();
        let p = plan(&input("", &ov, None, &ifs), &no_env);
        assert_eq!(p.udp, vec![sa("1.2.3.4:8000")]);
        assert_eq!(p.tcp, vec![sa("1.2.3.4:8001")]);

        let ov = CandidateOverride::parse_srs("[::1]:7000").unwrap();
        assert_eq!(ov, CandidateOverride::Srs { ip: ip("::1"), port: Some(7000) });
        assert_eq!(CandidateOverride::parse_srs("::1"), Some(CandidateOverride::Srs { ip: ip("::1"), port: None }));
        assert_eq!(CandidateOverride::parse_srs("example.com"), None);
        assert_eq!(CandidateOverride::parse_srs(""), None);
    }

    #[test]
    fn srs_override_respects_disabled_transport() {
        let ifs = ifs();
        let ov = CandidateOverride::parse_srs("1.2.3.4:9000").unwrap();
        let mut i = input("", &ov, None, &ifs);
        i.tcp_port = 0;
        let p = plan(&i, &no_env);
        assert_eq!(p.udp, vec![sa("1.2.3.4:9000")]);
        assert!(p.tcp.is_empty());
    }

    #[test]
    fn zlm_override_replaces_all_candidates() {
        let ifs = ifs();
        let ov = CandidateOverride::parse_zlm(Some("1.2.3.4:1000"), None).unwrap();
        let p = plan(&input("5.6.7.8", &ov, None, &ifs), &no_env);
        assert_eq!(p.udp, vec![sa("1.2.3.4:1000")]);
        assert!(p.tcp.is_empty());

        let ov = CandidateOverride::parse_zlm(Some(" 1.2.3.4:1000 "), Some("[::1]:2000")).unwrap();
        let p = plan(&input("", &ov, None, &ifs), &no_env);
        assert_eq!(p.udp, vec![sa("1.2.3.4:1000")]);
        assert_eq!(p.tcp, vec![sa("[::1]:2000")]);

        assert_eq!(CandidateOverride::parse_zlm(Some("1.2.3.4"), Some("")), None);
        assert_eq!(CandidateOverride::parse_zlm(None, None), None);
    }

    #[test]
    fn extern_ip_list_with_env_and_star() {
        let ifs = ifs();
        let env = |n: &str| match n {
            "PUBLIC_IP" => Some(" 3.3.3.3 ".to_string()),
            _ => None,
        };
        let ov = CandidateOverride::None;
        let p = plan(&input(" 2.2.2.2 , $PUBLIC_IP, $UNSET, bogus, 2.2.2.2", &ov, Some("9.9.9.9"), &ifs), &env);
        assert_eq!(p.udp, vec![sa("2.2.2.2:8000"), sa("3.3.3.3:8000")]);
        assert_eq!(p.tcp, vec![sa("2.2.2.2:8001"), sa("3.3.3.3:8001")]);

        let p = plan(&input("*", &ov, None, &ifs), &no_env);
        assert_eq!(p.udp, vec![sa("127.0.0.1:8000"), sa("10.0.0.5:8000"), sa("[::1]:8000"), sa("[2001:db8::5]:8000")]);
    }

    #[test]
    fn extern_ip_yielding_nothing_falls_through() {
        let ifs = ifs();
        let ov = CandidateOverride::None;
        let p = plan(&input("$UNSET", &ov, Some("192.168.1.10:80"), &ifs), &no_env);
        assert_eq!(p.udp, vec![sa("192.168.1.10:8000")]);
    }

    #[test]
    fn host_header_ip_is_used() {
        let ifs = ifs();
        let ov = CandidateOverride::None;
        for (host, want) in [
            ("192.168.1.10:80", "192.168.1.10:8000"),
            ("127.0.0.1:8080", "127.0.0.1:8000"),
            ("[::1]:8080", "[::1]:8000"),
            ("[::1]", "[::1]:8000"),
            ("10.1.1.1", "10.1.1.1:8000"),
        ] {
            let p = plan(&input("", &ov, Some(host), &ifs), &no_env);
            assert_eq!(p.udp, vec![sa(want)], "host {host}");
        }
    }

    #[test]
    fn names_and_unspecified_hosts_use_interfaces() {
        let ifs = ifs();
        let ov = CandidateOverride::None;
        for host in ["example.com:80", "localhost", "0.0.0.0:80", "[::]:80"] {
            let p = plan(&input("", &ov, Some(host), &ifs), &no_env);
            assert_eq!(p.udp, vec![sa("10.0.0.5:8000"), sa("[2001:db8::5]:8000")], "host {host}");
            assert_eq!(p.tcp, vec![sa("10.0.0.5:8001"), sa("[2001:db8::5]:8001")]);
        }
    }

    #[test]
    fn loopback_only_machine_falls_back_to_localhost() {
        let ifs = vec![ip("127.0.0.1"), ip("::1"), ip("fe80::1")];
        let ov = CandidateOverride::None;
        let p = plan(&input("", &ov, None, &ifs), &no_env);
        assert_eq!(p.udp, vec![sa("127.0.0.1:8000")]);
        let p = plan(&input("", &ov, None, &[]), &no_env);
        assert_eq!(p.tcp, vec![sa("127.0.0.1:8001")]);
    }

    #[test]
    fn zero_ports_disable_kinds() {
        let ifs = ifs();
        let ov = CandidateOverride::None;
        let mut i = input("1.1.1.1", &ov, None, &ifs);
        i.udp_port = 0;
        let p = plan(&i, &no_env);
        assert!(p.udp.is_empty());
        assert_eq!(p.tcp, vec![sa("1.1.1.1:8001")]);
    }

    #[test]
    fn host_part_forms() {
        assert_eq!(host_part("a.b:80"), "a.b");
        assert_eq!(host_part("[::1]:80"), "::1");
        assert_eq!(host_part("::1"), "::1");
        assert_eq!(host_part("1.2.3.4"), "1.2.3.4");
        assert_eq!(host_ip("localhost:80"), None);
    }
}
