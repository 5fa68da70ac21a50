//! `http.allow_ip_range`: the IP allow-list of the secret-protected APIs (ZLMediaKit syntax).
//!
//! A comma list of single addresses and `first-last` ranges, IPv4 or IPv6
//! (`::1,127.0.0.1,172.16.0.0-172.31.255.255`). CIDR blocks (`10.0.0.0/8`) are accepted too.
//! An empty list allows every address.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Range {
    V4(u32, u32),
    V6(u128, u128),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowList {
    ranges: Vec<Range>,
    allow_all: bool,
}

impl AllowList {
    /// Parses the list; bad entries are logged and skipped. A list whose entries are all invalid
    /// allows nothing (failing closed).
    pub fn parse(list: &str) -> Self {
        let entries: Vec<&str> = list.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        if entries.is_empty() {
            return Self { ranges: Vec::new(), allow_all: true };
        }
        let mut ranges = Vec::new();
        for e in entries {
            match parse_entry(e) {
                Some(r) => ranges.push(r),
                None => tracing::warn!(entry = e, "http.allow_ip_range: invalid entry skipped"),
            }
        }
        Self { ranges, allow_all: false }
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.allow_all {
            return true;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.ranges.iter().any(|r| match (r, ip) {
            (Range::V4(a, b), IpAddr::V4(v)) => (*a..=*b).contains(&u32::from(v)),
            (Range::V6(a, b), IpAddr::V6(v)) => (*a..=*b).contains(&u128::from(v)),
            _ => false,
        })
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn parse_entry(e: &str) -> Option<Range> {
    if let Some((ip, bits)) = e.split_once('/') {
        let bits: u32 = bits.trim().parse().ok()?;
        return match parse_ip(ip)? {
            IpAddr::V4(v) if bits <= 32 => {
                let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                let base = u32::from(v) & mask;
                Some(Range::V4(base, base | !mask))
            }
            IpAddr::V6(v) if bits <= 128 => {
                let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
                let base = u128::from(v) & mask;
                Some(Range::V6(base, base | !mask))
            }
            _ => None,
        };
    }
    let (a, b) = match e.split_once('-') {
        Some((a, b)) => (parse_ip(a)?, parse_ip(b)?),
        None => {
            let ip = parse_ip(e)?;
            (ip, ip)
        }
    };
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            Some(Range::V4(a.min(b), a.max(b)))
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            Some(Range::V6(a.min(b), a.max(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn zlm_default_range() {
        let l = AllowList::parse(
            "::1,127.0.0.1,172.16.0.0-172.31.255.255,192.168.0.0-192.168.255.255,10.0.0.0-10.255.255.255",
        );
        for ok in ["127.0.0.1", "::1", "172.20.1.1", "192.168.255.255", "10.0.0.0", "::ffff:10.1.2.3"] {
            assert!(l.allows(ip(ok)), "{ok}");
        }
        for bad in ["127.0.0.2", "8.8.8.8", "172.32.0.1", "2001:db8::1", "::2"] {
            assert!(!l.allows(ip(bad)), "{bad}");
        }
    }

    #[test]
    fn empty_allows_all_and_garbage_allows_none() {
        assert!(AllowList::parse("").allows(ip("8.8.8.8")));
        assert!(AllowList::parse(" , ").allows(ip("8.8.8.8")));
        assert!(!AllowList::parse("nonsense").allows(ip("8.8.8.8")));
    }

    #[test]
    fn ipv6_ranges_and_cidr() {
        let l = AllowList::parse("2001:db8::1-2001:db8::ff, 10.0.0.0/8, fd00::/8");
        assert!(l.allows(ip("2001:db8::10")));
        assert!(!l.allows(ip("2001:db8::100")));
        assert!(l.allows(ip("10.200.0.1")));
        assert!(!l.allows(ip("11.0.0.1")));
        assert!(l.allows(ip("fd12::1")));
    }
}
