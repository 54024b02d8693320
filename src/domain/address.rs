//! Addresses for NICs: deployment-unique MAC addresses, IPv4 addresses from a network's
//! range, and IPv6 addresses derived from the MAC (EUI-64), as the seed's examples show
//! (`aa:00:00:…` MACs, `2001:db8::a800:ff:fe…` addresses).
//!
//! Pure functions: the store decides which addresses are in use, inside the transaction that
//! hands one out, so two concurrent allocations can never get the same address.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// The three leading bytes of every MAC this deployment hands out, e.g. `aa:00:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacPrefix([u8; 3]);

impl MacPrefix {
    pub fn parse(s: &str) -> Result<MacPrefix, String> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let bytes: Option<Vec<u8>> = parts
            .iter()
            .map(|p| {
                (p.len() == 2)
                    .then(|| u8::from_str_radix(p, 16).ok())
                    .flatten()
            })
            .collect();
        match bytes {
            Some(b) if b.len() == 3 => {
                // A unicast address: the group bit of the first byte must be clear.
                if b[0] & 1 == 1 {
                    return Err(format!(
                        "MAC prefix '{s}' is a multicast prefix: the first byte must be even"
                    ));
                }
                Ok(MacPrefix([b[0], b[1], b[2]]))
            }
            _ => Err(format!(
                "MAC prefix '{s}' must be three hex bytes, e.g. aa:00:00"
            )),
        }
    }

    /// The `n`-th MAC of the deployment (`n` < 2^24); the store keeps the counter.
    pub fn mac(&self, n: u32) -> Result<String, String> {
        if n >= 1 << 24 {
            return Err("every MAC address of the configured prefix is in use".into());
        }
        let [a, b, c] = self.0;
        Ok(format!(
            "{a:02x}:{b:02x}:{c:02x}:{:02x}:{:02x}:{:02x}",
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
            n & 0xff
        ))
    }
}

fn mac_bytes(mac: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = mac
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// The first IPv4 address of `net` that is neither the network nor the broadcast address,
/// nor the gateway, nor in `used`; `None` when the range is exhausted.
pub fn free_ipv4(
    net: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    used: &HashSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    net.hosts().find(|ip| {
        Some(*ip) != gateway && !used.contains(ip) && *ip != net.network() && *ip != net.broadcast()
    })
}

/// How many addresses a NIC can get from `net` (hosts minus the gateway).
pub fn ipv4_capacity(net: Ipv4Net, gateway: Option<Ipv4Addr>) -> u64 {
    let hosts = net
        .hosts()
        .filter(|ip| *ip != net.network() && *ip != net.broadcast())
        .count() as u64;
    hosts
        - u64::from(
            gateway.is_some_and(|g| net.contains(&g) && g != net.network() && g != net.broadcast()),
        )
}

/// The EUI-64 address of `mac` in the /64 `net`: the MAC with `ff:fe` in the middle and the
/// universal/local bit flipped, as SLAAC derives it.
pub fn eui64(net: Ipv6Net, mac: &str) -> Option<Ipv6Addr> {
    if net.prefix_len() > 64 {
        return None;
    }
    let m = mac_bytes(mac)?;
    let iid: [u8; 8] = [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
    let mut octets = net.network().octets();
    octets[8..].copy_from_slice(&iid);
    Some(Ipv6Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_sequential_and_bounded() {
        let p = MacPrefix::parse("aa:00:00").unwrap();
        assert_eq!(p.mac(0).unwrap(), "aa:00:00:00:00:00");
        assert_eq!(p.mac(0x2a0b1c).unwrap(), "aa:00:00:2a:0b:1c");
        assert!(p.mac(1 << 24).is_err());
        assert!(MacPrefix::parse("ab:00:00").is_err(), "multicast");
        assert!(MacPrefix::parse("aa:00").is_err());
        assert!(MacPrefix::parse("zz:00:00").is_err());
    }

    #[test]
    fn ipv4_skips_network_broadcast_gateway_and_used() {
        let net: Ipv4Net = "192.168.1.0/29".parse().unwrap();
        let gw: Ipv4Addr = "192.168.1.1".parse().unwrap();
        let mut used = HashSet::new();
        let mut got = Vec::new();
        while let Some(ip) = free_ipv4(net, Some(gw), &used) {
            used.insert(ip);
            got.push(ip.to_string());
        }
        assert_eq!(
            got,
            [
                "192.168.1.2",
                "192.168.1.3",
                "192.168.1.4",
                "192.168.1.5",
                "192.168.1.6"
            ]
        );
        assert_eq!(ipv4_capacity(net, Some(gw)), 5);
        let net28: Ipv4Net = "10.0.0.0/28".parse().unwrap();
        assert_eq!(ipv4_capacity(net28, Some("10.0.0.1".parse().unwrap())), 13);
    }

    #[test]
    fn eui64_matches_the_seed_style() {
        let net: Ipv6Net = "2001:648:2ffc:1112::/64".parse().unwrap();
        assert_eq!(
            eui64(net, "aa:00:00:23:0d:59").unwrap().to_string(),
            "2001:648:2ffc:1112:a800:ff:fe23:d59"
        );
        let small: Ipv6Net = "2001:db8::/96".parse().unwrap();
        assert!(eui64(small, "aa:00:00:00:00:01").is_none());
    }
}
