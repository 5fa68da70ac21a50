//! IP address ranges as operators write them in the configuration (`http.allow_ip_range`,
//! `rtc.turnAllowPeers`, ...): a single address, `lo-hi` (one family, lo <= hi), or a CIDR block
//! `net/bits`; IPv6 may be bracketed. One parser for every list, so they all mean the same.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Inclusive address range; a single address is `(a, a)`. Both ends of one family.
pub type IpRange = (IpAddr, IpAddr);

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Parses one entry; `None` if it is not an address, a range or a CIDR block.
pub fn parse_ip_range(entry: &str) -> Option<IpRange> {
    let entry = entry.trim();
    if let Some((net, bits)) = entry.split_once('/') {
        let bits: u32 = bits.trim().parse().ok()?;
        return match parse_ip(net)? {
            IpAddr::V4(v) if bits <= 32 => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                let lo = u32::from(v) & mask;
                Some((Ipv4Addr::from(lo).into(), Ipv4Addr::from(lo | !mask).into()))
            }
            IpAddr::V6(v) if bits <= 128 => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                let lo = u128::from(v) & mask;
                Some((Ipv6Addr::from(lo).into(), Ipv6Addr::from(lo | !mask).into()))
            }
            _ => None,
        };
    }
    // `-` never occurs in an IPv4 or IPv6 address, so it separates the bounds.
    let (lo, hi) = match entry.split_once('-') {
        Some((lo, hi)) => (parse_ip(lo)?, parse_ip(hi)?),
        None => {
            let ip = parse_ip(entry)?;
            (ip, ip)
        }
    };
    (lo.is_ipv4() == hi.is_ipv4() && lo <= hi).then_some((lo, hi))
}

/// Parses a comma list of entries (empty entries skipped); `Err` names the first bad entry.
pub fn parse_ip_ranges(list: &str) -> Result<Vec<IpRange>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| parse_ip_range(e).ok_or_else(|| e.to_owned()))
        .collect()
}

/// Whether `ip` is inside one of `ranges`; IPv4-mapped IPv6 addresses count as IPv4.
pub fn in_ranges(ranges: &[IpRange], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ranges.iter().any(|(lo, hi)| {
        let (lo, hi) = (lo.to_canonical(), hi.to_canonical());
        lo.is_ipv4() == ip.is_ipv4() && lo <= ip && ip <= hi
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries() {
        assert_eq!(parse_ip_range("127.0.0.1"), Some((ip("127.0.0.1"), ip("127.0.0.1"))));
        assert_eq!(parse_ip_range("10.0.0.0/8"), Some((ip("10.0.0.0"), ip("10.255.255.255"))));
        assert_eq!(parse_ip_range(" 172.16.0.0-172.31.255.255 "), Some((ip("172.16.0.0"), ip("172.31.255.255"))));
        assert_eq!(parse_ip_range("[::1]"), Some((ip("::1"), ip("::1"))));
        assert_eq!(parse_ip_range("fc00::/7").map(|r| r.1), Some(ip("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert_eq!(parse_ip_range("0.0.0.0/0"), Some((ip("0.0.0.0"), ip("255.255.255.255"))));
        for bad in ["", "x", "10.0.0.0/33", "10.0.0.2-10.0.0.1", "::1-10.0.0.1", "1.2.3.4/x"] {
            assert_eq!(parse_ip_range(bad), None, "{bad}");
        }
        assert_eq!(parse_ip_ranges("127.0.0.1, ,10.0.0.0/8").map(|v| v.len()), Ok(2));
        assert_eq!(parse_ip_ranges("127.0.0.1,nope"), Err("nope".to_owned()));
    }

    #[test]
    fn membership_treats_mapped_v4_as_v4() {
        let r = parse_ip_ranges("127.0.0.1,192.168.0.0-192.168.255.255").unwrap();
        assert!(in_ranges(&r, ip("192.168.3.4")));
        assert!(in_ranges(&r, ip("::ffff:127.0.0.1")));
        assert!(!in_ranges(&r, ip("8.8.8.8")));
        assert!(!in_ranges(&r, ip("::1")));
    }
}
