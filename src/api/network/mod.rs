//! The Neutron-style network service under `/network/v2.0`, as kamaki 0.16's `network`,
//! `port`, `subnet` and `ip` commands speak it: networks, subnets, ports and floating IPs.
//!
//! A second view of the same records as the compute `/networks` API, never a copy: a port
//! is a NIC (its id is the NIC id), a subnet is a network's IPv4 or IPv6 range (ids
//! `<network>-4` and `<network>-6`), and floating IPs are addresses of the public network
//! held by a user. A NIC made through one API shows in the other at once. The rules
//! (ownership, the public network's protection, quotas) are the compute API's, shared from
//! `src/api/compute/networks.rs`; faults are Cyclades' (kamaki reads them so).

pub mod floatingips;
pub mod networks;
pub mod ports;

use crate::http::routes::Routes;

/// Authenticated network routes.
pub fn routes() -> Routes {
    floatingips::routes(ports::routes(networks::routes(Routes::new())))
}
