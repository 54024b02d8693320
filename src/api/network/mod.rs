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

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::api::compute::networks::{object, opt_string};
use crate::http::fault::{ApiError, ApiResult};
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;

/// Authenticated network routes.
pub fn routes() -> Routes {
    floatingips::routes(ports::routes(networks::routes(Routes::new())))
}

/// A Neutron answer: the resource (or list) under its name, `{"port": {…}}`.
fn resource(status: StatusCode, key: &str, view: impl Serialize) -> ApiResult<Response> {
    Ok(json_response(status, &json!({ key: view })))
}

/// The one resource of a create body, `{"port": {…}}`: a bulk create (`{"ports": […]}`)
/// is refused.
fn one_to_create(body: Map<String, Value>, key: &str) -> ApiResult<Map<String, Value>> {
    if body.contains_key(&format!("{key}s")) {
        return Err(ApiError::bad_request(format!(
            "bulk creation ({{\"{key}s\": […]}}) is not supported: create one {key} at a time"
        )));
    }
    object(body, key)
}

/// A string attribute a create needs; `what` names the resource for the message.
fn required(m: &Map<String, Value>, key: &str, what: &str) -> ApiResult<String> {
    opt_string(m, key)?.ok_or_else(|| ApiError::bad_request(format!("{what} needs a \"{key}\"")))
}
