//! Which peer addresses a listener admits. It decides on the address alone, never the port.

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks a listener admits peers from; an empty list admits everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    nets: Vec<IpNet>,
}

impl Allowlist {
    /// Admits peers from `nets` only; no networks means no restriction.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    /// Whether `ip` may connect. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack
    /// socket reports for IPv4 peers) are matched as the IPv4 address they carry.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.is_empty() || self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether every address is admitted.
    pub fn is_open(&self) -> bool {
        self.nets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(nets: &[&str]) -> Allowlist {
        Allowlist::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_list_admits_everyone() {
        let open = Allowlist::default();
        assert!(open.is_open());
        assert!(open.allows(ip("203.0.113.9")));
        assert!(open.allows(ip("2001:db8::1")));
    }

    #[test]
    fn only_listed_networks_are_admitted() {
        let allow = list(&["10.0.0.0/8", "2001:db8::/32"]);
        assert!(!allow.is_open());
        assert!(allow.allows(ip("10.1.2.3")));
        assert!(allow.allows(ip("2001:db8::7")));
        assert!(!allow.allows(ip("11.0.0.1")));
        assert!(!allow.allows(ip("2001:db9::1")));
    }

    #[test]
    fn ipv4_mapped_ipv6_peer_matches_ipv4_ranges() {
        let allow = list(&["192.0.2.0/24"]);
        assert!(allow.allows(ip("::ffff:192.0.2.10")));
        assert!(!allow.allows(ip("::ffff:198.51.100.1")));
        // A bare IPv6 address is not an IPv4 one in disguise.
        assert!(!allow.allows(ip("::c000:20a")));
    }
}
