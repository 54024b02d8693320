//! Neutron floating IPs — addresses of a public network held by a user:
//! `GET|POST /floatingips`, `GET|DELETE /floatingips/{id}`.
//!
//! ```text
//! POST /floatingips {"floatingip": {"floating_network_id"?, "floating_ip_address"?}} → 200
//! DELETE /floatingips/{id} → 204
//! ```
//! A held address is left out of every NIC allocation on that network until it is
//! released; without `floating_network_id` it comes from `public`.

use std::net::Ipv4Addr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::resource;
use crate::api::compute::networks::{object, opt_string, visible_network};
use crate::domain::identity::Identity;
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::routes::Routes;
use crate::store::networks::FloatingIp;

pub fn routes(r: Routes) -> Routes {
    r.get("/network/v2.0/floatingips", list)
        .post("/network/v2.0/floatingips", create)
        .get("/network/v2.0/floatingips/{floatingip_id}", show)
        .delete("/network/v2.0/floatingips/{floatingip_id}", delete)
}

fn view(f: &FloatingIp) -> Value {
    json!({
        "id": f.id.to_string(),
        "floating_ip_address": f.address,
        "floating_network_id": f.network_id,
        "fixed_ip_address": f.port.as_ref().map(|_| &f.address),
        "port_id": f.port.as_ref().map(|p| &p.id),
        "instance_id": f.port.as_ref().map(|p| p.server_id.to_string()),
        "user_id": f.user_id,
        "tenant_id": f.project_id,
        "deleted": false,
        "created": time::iso(&f.created_at),
    })
}

async fn owned(state: &AppState, who: &Identity, raw: &str) -> ApiResult<FloatingIp> {
    let missing = || ApiError::not_found(format!("floating IP {raw} not found"));
    let id: i64 = raw.parse().map_err(|_| missing())?;
    match state.store.get_floating_ip(id).await? {
        Some(f) if f.user_id == who.user.id => Ok(f),
        _ => Err(missing()),
    }
}

/// `GET /floatingips` — 200 with the caller's floating IPs.
async fn list(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Response> {
    let ips = state.store.list_floating_ips(&who.user.id).await?;
    let list: Vec<Value> = ips.iter().map(view).collect();
    resource(StatusCode::OK, "floatingips", list)
}

/// `POST /floatingips` — 200 (kamaki checks for 200, not Neutron's 201) with the reserved
/// address: the one asked for when it is free, else the first free one of the pool; 413
/// past `floating_ip_quota` or when the pool is exhausted, 409 for an address in use.
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let m = object(body, "floatingip")?;
    let network_id = opt_string(&m, "floating_network_id")?.unwrap_or_else(|| "public".into());
    let n = visible_network(&state, &who, &network_id).await?;
    if !n.public {
        return Err(ApiError::bad_request(format!(
            "network {network_id} is not public: floating IPs come from public networks"
        )));
    }
    let address = opt_string(&m, "floating_ip_address")?
        .map(|a| {
            a.trim().parse::<Ipv4Addr>().map_err(|_| {
                ApiError::bad_request(format!("floating_ip_address '{a}' is not an IPv4 address"))
            })
        })
        .transpose()?;
    if let Some(p) = opt_string(&m, "project")?
        && p != who.user.project.id
    {
        return Err(ApiError::forbidden(format!(
            "you can reserve addresses only in your own project ({}), not {p}",
            who.user.project.id
        )));
    }
    let f = state
        .store
        .create_floating_ip(
            &who.user.id,
            &who.user.project.id,
            &n.id,
            address,
            state.config.floating_ip_quota,
        )
        .await?;
    resource(StatusCode::OK, "floatingip", view(&f))
}

/// `GET /floatingips/{id}` — 200.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let f = owned(&state, &who, &id).await?;
    resource(StatusCode::OK, "floatingip", view(&f))
}

/// `DELETE /floatingips/{id}` — 204: the address is free again.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let f = owned(&state, &who, &id).await?;
    if !state.store.delete_floating_ip(f.id).await? {
        return Err(ApiError::not_found(format!("floating IP {id} not found")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
