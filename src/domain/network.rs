//! Networks users create: their types, statuses and the rules a create request must meet
//! (ranges checked with `ipnet`). Pure: the store allocates addresses, the handlers turn a
//! [`Invalid`] into the API's fault.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// The network types of the seed's create request; `PUBLIC_ROUTED` is the public network's
/// own and cannot be asked for.
pub const USER_TYPES: [&str; 4] = ["CUSTOM", "IP_LESS_ROUTED", "MAC_FILTERED", "PHYSICAL_VLAN"];

/// The range a network gets when the request names none (the seed's default).
pub const DEFAULT_CIDR: &str = "192.168.1.0/24";

/// A network's lifecycle: PENDING until the backend has it ready, ACTIVE, ERROR when the
/// backend refused it, DELETED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkStatus {
    Pending,
    Active,
    Error,
    Deleted,
}

impl NetworkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkStatus::Pending => "PENDING",
            NetworkStatus::Active => "ACTIVE",
            NetworkStatus::Error => "ERROR",
            NetworkStatus::Deleted => "DELETED",
        }
    }

    pub fn parse(s: &str) -> NetworkStatus {
        match s {
            "ACTIVE" => NetworkStatus::Active,
            "ERROR" => NetworkStatus::Error,
            "DELETED" => NetworkStatus::Deleted,
            _ => NetworkStatus::Pending,
        }
    }

    /// The Neutron spelling: BUILD for a network still being made.
    pub fn neutron(self) -> &'static str {
        match self {
            NetworkStatus::Pending => "BUILD",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for NetworkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request is refused, by the fault the seed gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// 400: malformed values.
    BadRequest(String),
    /// 403: `public: true`.
    Forbidden(String),
    /// 415: the seed's "Bad network type".
    BadType(String),
}

impl Invalid {
    pub fn message(&self) -> &str {
        match self {
            Invalid::BadRequest(m) | Invalid::Forbidden(m) | Invalid::BadType(m) => m,
        }
    }
}

/// A create request as it came, every field optional.
#[derive(Debug, Clone, Default)]
pub struct NetworkRequest {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub dhcp: Option<bool>,
    /// `Some(None)` is an explicit null: no IPv4 range at all.
    pub cidr: Option<Option<String>>,
    pub cidr6: Option<String>,
    pub gateway: Option<String>,
    pub gateway6: Option<String>,
    pub public: Option<bool>,
}

/// A request that meets every rule, ranges normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidNetwork {
    pub name: String,
    pub kind: String,
    pub dhcp: bool,
    pub cidr: Option<Ipv4Net>,
    pub cidr6: Option<Ipv6Net>,
    pub gateway: Option<Ipv4Addr>,
    pub gateway6: Option<Ipv6Addr>,
}

/// Network names: at most 255 characters, no control characters; `required` refuses an
/// empty one (the compute API needs a name, the Neutron view does not).
pub fn validate_name(name: Option<&str>, required: bool) -> Result<String, Invalid> {
    let name = name.map(str::trim).unwrap_or_default();
    if required && name.is_empty() {
        return Err(Invalid::BadRequest("a network needs a \"name\"".into()));
    }
    if name.chars().count() > 255 {
        return Err(Invalid::BadRequest(
            "a network name is at most 255 characters long".into(),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::BadRequest(
            "a network name must not contain control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// An IPv4 range that leaves room for hosts: the network address itself (no host bits), a
/// prefix of /30 or shorter (a /31 or /32 has no address besides network and broadcast).
pub fn parse_cidr(raw: &str) -> Result<Ipv4Net, Invalid> {
    let net: Ipv4Net = raw.trim().parse().map_err(|_| {
        Invalid::BadRequest(format!(
            "cidr '{raw}' is not an IPv4 range such as 192.168.1.0/24"
        ))
    })?;
    if net.trunc() != net {
        return Err(Invalid::BadRequest(format!(
            "cidr '{raw}' has host bits set: did you mean {}?",
            net.trunc()
        )));
    }
    if net.prefix_len() > 30 {
        return Err(Invalid::BadRequest(format!(
            "cidr '{raw}' leaves no room for hosts: use a /30 or a larger range"
        )));
    }
    Ok(net)
}

/// An IPv6 range NICs can take EUI-64 addresses from: a /64 or shorter, no host bits.
pub fn parse_cidr6(raw: &str) -> Result<Ipv6Net, Invalid> {
    let net: Ipv6Net = raw.trim().parse().map_err(|_| {
        Invalid::BadRequest(format!(
            "cidr6 '{raw}' is not an IPv6 range such as 2001:db8:1::/64"
        ))
    })?;
    if net.trunc() != net {
        return Err(Invalid::BadRequest(format!(
            "cidr6 '{raw}' has host bits set: did you mean {}?",
            net.trunc()
        )));
    }
    if net.prefix_len() > 64 {
        return Err(Invalid::BadRequest(format!(
            "cidr6 '{raw}' is longer than /64: NIC addresses are EUI-64, which needs a /64"
        )));
    }
    Ok(net)
}

/// A gateway inside `net` that is neither its network nor its broadcast address.
pub fn parse_gateway(raw: &str, net: Ipv4Net) -> Result<Ipv4Addr, Invalid> {
    let gw: Ipv4Addr = raw
        .trim()
        .parse()
        .map_err(|_| Invalid::BadRequest(format!("gateway '{raw}' is not an IPv4 address")))?;
    if !net.contains(&gw) {
        return Err(Invalid::BadRequest(format!(
            "gateway {gw} is outside the network's range {net}"
        )));
    }
    if gw == net.network() || gw == net.broadcast() {
        return Err(Invalid::BadRequest(format!(
            "gateway {gw} is the network or broadcast address of {net}: pick a host address"
        )));
    }
    Ok(gw)
}

/// An IPv6 gateway inside `net` that is not its subnet-router (network) address.
pub fn parse_gateway6(raw: &str, net: Ipv6Net) -> Result<Ipv6Addr, Invalid> {
    let gw: Ipv6Addr = raw
        .trim()
        .parse()
        .map_err(|_| Invalid::BadRequest(format!("gateway6 '{raw}' is not an IPv6 address")))?;
    if !net.contains(&gw) {
        return Err(Invalid::BadRequest(format!(
            "gateway6 {gw} is outside the network's range {net}"
        )));
    }
    if gw == net.network() {
        return Err(Invalid::BadRequest(format!(
            "gateway6 {gw} is the subnet-router address of {net}: pick a host address"
        )));
    }
    Ok(gw)
}

/// Checks a create request against the seed's rules. `name_required`: see [`validate_name`].
pub fn validate(req: NetworkRequest, name_required: bool) -> Result<ValidNetwork, Invalid> {
    if req.public == Some(true) {
        return Err(Invalid::Forbidden(
            "users cannot create public networks: the public network comes from the \
             operator's configuration"
                .into(),
        ));
    }
    let name = validate_name(req.name.as_deref(), name_required)?;
    let kind = match req.kind.as_deref() {
        None => {
            return Err(Invalid::BadRequest(format!(
                "a network needs a \"type\": one of {}",
                USER_TYPES.join(", ")
            )));
        }
        Some(t) => USER_TYPES
            .iter()
            .find(|u| u.eq_ignore_ascii_case(t.trim()))
            .ok_or_else(|| {
                Invalid::BadType(format!(
                    "network type '{t}' is not one of {}",
                    USER_TYPES.join(", ")
                ))
            })?,
    };
    let cidr = match req.cidr {
        None => Some(parse_cidr(DEFAULT_CIDR)?),
        Some(None) => None,
        Some(Some(c)) => Some(parse_cidr(&c)?),
    };
    let gateway = match (req.gateway.as_deref(), cidr) {
        (None, _) => None,
        (Some(g), Some(net)) => Some(parse_gateway(g, net)?),
        (Some(_), None) => {
            return Err(Invalid::BadRequest(
                "a gateway needs an IPv4 range (cidr)".into(),
            ));
        }
    };
    let cidr6 = req.cidr6.as_deref().map(parse_cidr6).transpose()?;
    let gateway6 = match (req.gateway6.as_deref(), cidr6) {
        (None, _) => None,
        (Some(g), Some(net)) => Some(parse_gateway6(g, net)?),
        (Some(_), None) => {
            return Err(Invalid::BadRequest(
                "gateway6 needs an IPv6 range (cidr6)".into(),
            ));
        }
    };
    Ok(ValidNetwork {
        name,
        kind: (*kind).to_owned(),
        dhcp: req.dhcp.unwrap_or(true),
        cidr,
        cidr6,
        gateway,
        gateway6,
    })
}

/// The gateway a subnet request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayChoice {
    /// Not given: an IPv4 subnet's first host, as Neutron's; none for IPv6.
    Default,
    /// `null`: no gateway.
    None,
    Given(String),
}

/// A range to add to a network (a Neutron subnet), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidSubnet {
    V4 {
        net: Ipv4Net,
        gateway: Option<Ipv4Addr>,
    },
    V6 {
        net: Ipv6Net,
        gateway: Option<Ipv6Addr>,
    },
}

/// Checks a subnet request with the create request's range rules.
pub fn validate_subnet(
    version: u8,
    cidr: &str,
    gateway: GatewayChoice,
) -> Result<ValidSubnet, Invalid> {
    match version {
        4 => {
            let net = parse_cidr(cidr)?;
            let gateway = match gateway {
                GatewayChoice::Default => net.hosts().next(),
                GatewayChoice::None => None,
                GatewayChoice::Given(g) => Some(parse_gateway(&g, net)?),
            };
            Ok(ValidSubnet::V4 { net, gateway })
        }
        6 => {
            let net = parse_cidr6(cidr)?;
            let gateway = match gateway {
                GatewayChoice::Default | GatewayChoice::None => None,
                GatewayChoice::Given(g) => Some(parse_gateway6(&g, net)?),
            };
            Ok(ValidSubnet::V6 { net, gateway })
        }
        other => Err(Invalid::BadRequest(format!(
            "ip_version must be 4 or 6, not {other}"
        ))),
    }
}

/// The server a NIC id (`nic-<server>-<n>`) belongs to.
pub fn nic_server(nic_id: &str) -> Option<i64> {
    let (server, n) = nic_id.strip_prefix("nic-")?.rsplit_once('-')?;
    n.parse::<u32>().ok()?;
    server.parse::<i64>().ok().filter(|s| *s > 0)
}

/// The addresses NICs get from `net`, as Neutron's `allocation_pools`: its host addresses
/// less the gateway, as one or two inclusive ranges.
pub fn allocation_pools(net: Ipv4Net, gateway: Option<Ipv4Addr>) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    let first = u32::from(net.network()) + 1;
    let last = u32::from(net.broadcast()).saturating_sub(1);
    if first > last {
        return Vec::new();
    }
    let mut pools = Vec::new();
    match gateway
        .map(u32::from)
        .filter(|g| (first..=last).contains(g))
    {
        None => pools.push((first, last)),
        Some(g) => {
            if g > first {
                pools.push((first, g - 1));
            }
            if g < last {
                pools.push((g + 1, last));
            }
        }
    }
    pools
        .into_iter()
        .map(|(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: &str) -> NetworkRequest {
        NetworkRequest {
            name: Some("net".into()),
            kind: Some(kind.into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_follow_the_seed() {
        let v = validate(req("mac_filtered"), true).unwrap();
        assert_eq!(v.kind, "MAC_FILTERED");
        assert!(v.dhcp);
        assert_eq!(v.cidr.unwrap().to_string(), DEFAULT_CIDR);
        assert_eq!(v.cidr6, None);
        assert_eq!(v.gateway, None);
    }

    #[test]
    fn name_type_and_public_rules() {
        let mut r = req("CUSTOM");
        r.name = None;
        assert!(matches!(validate(r, true), Err(Invalid::BadRequest(_))));
        let mut r = req("CUSTOM");
        r.name = None;
        assert_eq!(validate(r, false).unwrap().name, "");
        assert!(matches!(
            validate(req("FANCY"), true),
            Err(Invalid::BadType(_))
        ));
        let mut r = req("CUSTOM");
        r.kind = None;
        assert!(matches!(validate(r, true), Err(Invalid::BadRequest(_))));
        let mut r = req("CUSTOM");
        r.public = Some(true);
        assert!(matches!(validate(r, true), Err(Invalid::Forbidden(_))));
        let mut r = req("CUSTOM");
        r.name = Some("a\u{7}b".into());
        assert!(validate(r, true).is_err());
    }

    #[test]
    fn ranges_and_gateways() {
        let with = |cidr: &str, gw: Option<&str>| {
            let mut r = req("CUSTOM");
            r.cidr = Some(Some(cidr.into()));
            r.gateway = gw.map(Into::into);
            validate(r, true)
        };
        assert!(with("10.0.0.0/28", Some("10.0.0.1")).is_ok());
        assert!(with("10.0.0.0/30", None).is_ok());
        for bad in [
            "10.0.0.0/31",
            "10.0.0.0/32",
            "10.0.0.5/24",
            "nonsense",
            "10.0.0.0/33",
        ] {
            assert!(
                matches!(with(bad, None), Err(Invalid::BadRequest(_))),
                "{bad}"
            );
        }
        for gw in ["10.0.0.0", "10.0.0.15", "10.0.1.1", "x"] {
            assert!(with("10.0.0.0/28", Some(gw)).is_err(), "{gw}");
        }
        let mut r = req("CUSTOM");
        r.cidr = Some(None);
        r.gateway = Some("10.0.0.1".into());
        assert!(validate(r, true).is_err(), "a gateway without a range");
        let mut r = req("CUSTOM");
        r.cidr = Some(None);
        assert_eq!(validate(r, true).unwrap().cidr, None);
    }

    #[test]
    fn subnets_and_nic_ids() {
        let v = validate_subnet(4, "10.3.0.0/24", GatewayChoice::Default).unwrap();
        assert_eq!(
            v,
            ValidSubnet::V4 {
                net: "10.3.0.0/24".parse().unwrap(),
                gateway: Some("10.3.0.1".parse().unwrap())
            }
        );
        let v = validate_subnet(4, "10.3.0.0/24", GatewayChoice::None).unwrap();
        assert!(matches!(v, ValidSubnet::V4 { gateway: None, .. }));
        assert!(
            validate_subnet(4, "10.3.0.0/24", GatewayChoice::Given("10.3.0.255".into())).is_err()
        );
        assert!(
            validate_subnet(
                6,
                "2001:db8::/64",
                GatewayChoice::Given("2001:db8::".into())
            )
            .is_err()
        );
        assert!(
            validate_subnet(
                6,
                "2001:db8::/64",
                GatewayChoice::Given("2001:db8::1".into())
            )
            .is_ok()
        );
        assert!(validate_subnet(5, "10.3.0.0/24", GatewayChoice::Default).is_err());
        assert_eq!(nic_server("nic-42-1"), Some(42));
        for bad in [
            "nic-42", "eth0", "nic-x-1", "nic-42-x", "nic-0-1", "nic--1-2",
        ] {
            assert_eq!(nic_server(bad), None, "{bad}");
        }
    }

    #[test]
    fn pools_leave_out_the_gateway() {
        let net: Ipv4Net = "10.0.0.0/28".parse().unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            allocation_pools(net, Some(ip("10.0.0.1"))),
            [(ip("10.0.0.2"), ip("10.0.0.14"))]
        );
        assert_eq!(
            allocation_pools(net, Some(ip("10.0.0.5"))),
            [
                (ip("10.0.0.1"), ip("10.0.0.4")),
                (ip("10.0.0.6"), ip("10.0.0.14"))
            ]
        );
        assert_eq!(
            allocation_pools(net, None),
            [(ip("10.0.0.1"), ip("10.0.0.14"))]
        );
    }

    #[test]
    fn ipv6_ranges_must_allow_eui64() {
        let with = |cidr6: &str, gw6: Option<&str>| {
            let mut r = req("CUSTOM");
            r.cidr6 = Some(cidr6.into());
            r.gateway6 = gw6.map(Into::into);
            validate(r, true)
        };
        assert!(with("2001:db8:1::/64", Some("2001:db8:1::1")).is_ok());
        assert!(with("2001:db8:1::/48", None).is_ok());
        assert!(with("2001:db8:1::/80", None).is_err());
        assert!(with("2001:db8:1::5/64", None).is_err());
        assert!(with("2001:db8:1::/64", Some("2001:db8:1::")).is_err());
        assert!(with("2001:db8:1::/64", Some("2001:db8:2::1")).is_err());
        let mut r = req("CUSTOM");
        r.gateway6 = Some("2001:db8::1".into());
        assert!(validate(r, true).is_err(), "gateway6 without cidr6");
    }

    proptest::proptest! {
        /// For any range and gateway the rules accept, the pools are exactly the addresses
        /// a NIC can get: the range's hosts less the gateway.
        #[test]
        fn accepted_ranges_have_consistent_pools(
            addr in proptest::prelude::any::<u32>(),
            prefix in 16u8..=30,
            gw_offset in proptest::prelude::any::<u32>(),
            with_gateway in proptest::prelude::any::<bool>(),
        ) {
            let net = Ipv4Net::new(Ipv4Addr::from(addr), prefix).unwrap().trunc();
            let size = 1u32 << (32 - prefix);
            let gw = Ipv4Addr::from(u32::from(net.network()) + gw_offset % size);
            let mut r = NetworkRequest {
                name: Some("n".into()),
                kind: Some("CUSTOM".into()),
                cidr: Some(Some(net.to_string())),
                ..Default::default()
            };
            if with_gateway {
                r.gateway = Some(gw.to_string());
            }
            match validate(r, true) {
                Ok(v) => {
                    let gateway = v.gateway;
                    if let Some(g) = gateway {
                        proptest::prop_assert!(net.contains(&g));
                        proptest::prop_assert!(g != net.network() && g != net.broadcast());
                    }
                    let pools = allocation_pools(net, gateway);
                    let total: u64 = pools
                        .iter()
                        .map(|(a, b)| u64::from(u32::from(*b) - u32::from(*a) + 1))
                        .sum();
                    proptest::prop_assert_eq!(
                        total,
                        crate::domain::address::ipv4_capacity(net, gateway)
                    );
                    for (a, b) in pools {
                        proptest::prop_assert!(a > net.network() && b < net.broadcast());
                        if let Some(g) = gateway {
                            proptest::prop_assert!(!(a..=b).contains(&g));
                        }
                    }
                }
                Err(_) => {
                    // Refused only for a gateway that is the network or broadcast address.
                    proptest::prop_assert!(with_gateway);
                    proptest::prop_assert!(gw == net.network() || gw == net.broadcast());
                }
            }
        }
    }
}
