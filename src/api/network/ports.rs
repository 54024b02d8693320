//! Neutron ports — the NICs of the caller's servers: `GET /ports`, `GET /ports/detail`,
//! `POST /ports`, `GET|PUT|DELETE /ports/{id}`.
//!
//! ```text
//! POST /ports {"port": {"network_id", "device_id", "fixed_ips"?: [{"ip_address"}]}} → 201
//! DELETE /ports/{id} → 204   (kamaki's `network disconnect` reads the server's attachments)
//! ```
//! A port on the public network is made only by attaching a floating IP the caller holds
//! (`fixed_ips` naming it: kamaki's `ip attach`), and deleting it detaches the address.
//! A port's status follows its server: BUILD while it builds, ACTIVE while it runs, DOWN
//! while stopped, ERROR in error.

use std::net::Ipv4Addr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use super::networks::subnet_id;
use super::{one_to_create, required, resource};
use crate::api::compute::networks::{
    connect, disconnect, object, opt_string, server_ref, sync_nics, visible_network,
};
use crate::api::compute::servers::changeable_server;
use crate::domain::address::MacPrefix;
use crate::domain::identity::Identity;
use crate::domain::server::ServerStatus;
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;
use crate::store::networks::{FloatingIp, Port};

pub fn routes(r: Routes) -> Routes {
    r.get("/network/v2.0/ports", list)
        .get("/network/v2.0/ports/detail", list)
        .post("/network/v2.0/ports", create)
        .get("/network/v2.0/ports/{port_id}", show)
        .put("/network/v2.0/ports/{port_id}", update)
        .delete("/network/v2.0/ports/{port_id}", delete)
}

fn status(s: ServerStatus) -> &'static str {
    match s {
        ServerStatus::Build => "BUILD",
        ServerStatus::Active | ServerStatus::Reboot => "ACTIVE",
        ServerStatus::Error => "ERROR",
        _ => "DOWN",
    }
}

#[derive(Serialize)]
struct FixedIp<'a> {
    subnet_id: String,
    ip_address: &'a str,
}

/// A port, serialized straight from the record (a list holds every NIC of the user's
/// servers).
#[derive(Serialize)]
pub struct PortView<'a> {
    id: &'a str,
    name: &'a str,
    network_id: &'a str,
    device_id: String,
    device_owner: &'static str,
    mac_address: &'a str,
    fixed_ips: Vec<FixedIp<'a>>,
    status: &'static str,
    admin_state_up: bool,
    security_groups: [&'static str; 0],
    #[serde(rename = "firewallProfile")]
    firewall_profile: &'a str,
    user_id: &'a str,
    tenant_id: &'a str,
    created: String,
}

pub fn port_view(p: &Port) -> PortView<'_> {
    let n = &p.nic;
    let mut fixed_ips = Vec::new();
    if let Some(ip) = &n.ipv4 {
        fixed_ips.push(FixedIp {
            subnet_id: subnet_id(&n.network_id, 4),
            ip_address: ip,
        });
    }
    if let Some(ip) = &n.ipv6 {
        fixed_ips.push(FixedIp {
            subnet_id: subnet_id(&n.network_id, 6),
            ip_address: ip,
        });
    }
    PortView {
        id: &n.id,
        name: &p.name,
        network_id: &n.network_id,
        device_id: n.server_id.to_string(),
        device_owner: "vm",
        mac_address: &n.mac,
        fixed_ips,
        status: status(p.server_status),
        admin_state_up: true,
        security_groups: [],
        firewall_profile: n.firewall_profile.as_deref().unwrap_or("DISABLED"),
        user_id: &p.user_id,
        tenant_id: &p.project_id,
        created: time::iso(&p.created_at),
    }
}

/// The caller's port; another user's is a 404.
async fn owned_port(state: &AppState, who: &Identity, id: &str) -> ApiResult<Port> {
    match state.store.get_port(id).await? {
        Some(p) if p.user_id == who.user.id => Ok(p),
        _ => Err(ApiError::not_found(format!("port {id} not found"))),
    }
}

/// The caller's floating IP with this address on this network, if it holds one.
async fn held_ip(
    state: &AppState,
    who: &Identity,
    network_id: &str,
    address: &str,
) -> ApiResult<Option<FloatingIp>> {
    Ok(state
        .store
        .list_floating_ips(&who.user.id)
        .await?
        .into_iter()
        .find(|f| f.network_id == network_id && f.address == address))
}

/// `GET /ports` and `/ports/detail` — 200 with every NIC of the caller's servers.
async fn list(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Response> {
    let ports = state.store.list_ports(&who.user.id).await?;
    #[derive(Serialize)]
    struct List<'a> {
        ports: Vec<PortView<'a>>,
    }
    let body = List {
        ports: ports.iter().map(port_view).collect(),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// The IPv4 address of `fixed_ips` (`[{"ip_address", "subnet_id"?}]`), if any.
fn fixed_ip(m: &Map<String, Value>, network_id: &str) -> ApiResult<Option<Ipv4Addr>> {
    let list = match m.get("fixed_ips") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(l)) => l,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fixed_ips must be a list of {{\"ip_address\": …}}, not {other}"
            )));
        }
    };
    if list.len() > 1 {
        return Err(ApiError::bad_request(
            "a port takes at most one fixed IPv4 address (its IPv6 address is EUI-64)",
        ));
    }
    let Some(entry) = list.first() else {
        return Ok(None);
    };
    let ip = entry
        .get("ip_address")
        .and_then(Value::as_str)
        .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "fixed_ips entry {entry} needs an \"ip_address\" that is an IPv4 address"
            ))
        })?;
    if let Some(subnet) = entry.get("subnet_id").and_then(Value::as_str)
        && subnet != subnet_id(network_id, 4)
    {
        return Err(ApiError::bad_request(format!(
            "subnet {subnet} is not the IPv4 subnet of network {network_id} ({})",
            subnet_id(network_id, 4)
        )));
    }
    Ok(Some(ip))
}

/// `POST /ports` `{"port": {"network_id", "device_id", "fixed_ips"?}}` — 201 with the new
/// port, a NIC of the server on the network (as the compute API's `add`).
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let m = one_to_create(body, "port")?;
    let network_id = required(&m, "network_id", "a port")?;
    if m.get("device_id").is_none_or(Value::is_null) {
        return Err(ApiError::bad_request(
            "a port needs a \"device_id\": here a port is a server's NIC, made by connecting the server",
        ));
    }
    let server = server_ref(m.get("device_id"), "device_id")?;
    let name = opt_string(&m, "name")?.map(port_name).transpose()?;
    if m.get("security_groups")
        .and_then(Value::as_array)
        .is_some_and(|g| !g.is_empty())
    {
        return Err(ApiError::bad_request(
            "security groups are not supported: use the server's firewallProfile action",
        ));
    }
    let ip = fixed_ip(&m, &network_id)?;
    let n = visible_network(&state, &who, &network_id).await?;
    let nic = match (n.public, ip) {
        // The one way onto a public network: with a floating IP the caller holds
        // (kamaki's `ip attach`).
        (true, Some(ip)) => {
            let held = held_ip(&state, &who, &n.id, &ip.to_string()).await?;
            let Some(f) = held else {
                return Err(ApiError::forbidden(format!(
                    "{ip} is not a floating IP of yours: reserve it first (POST /floatingips); \
                     only held addresses can be attached on the public network"
                )));
            };
            let s = changeable_server(&state, &who, &server.to_string()).await?;
            let prefix = MacPrefix::parse(&state.config.mac_prefix).map_err(ApiError::internal)?;
            let nic = state.store.attach_floating_ip(s.id, f.id, prefix).await?;
            sync_nics(&state, s.id).await;
            if let Some(name) = name {
                state.store.set_port_name(&nic.id, name).await?;
            }
            nic
        }
        _ => connect(&state, &who, &network_id, server, ip, name).await?,
    };
    let port = owned_port(&state, &who, &nic.id).await?;
    resource(StatusCode::CREATED, "port", port_view(&port))
}

/// `GET /ports/{id}` — 200.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = owned_port(&state, &who, &id).await?;
    resource(StatusCode::OK, "port", port_view(&p))
}

/// A port name: at most 255 characters, no control characters.
fn port_name(name: String) -> ApiResult<String> {
    let name = name.trim().to_owned();
    if name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "a port name is at most 255 characters, without control characters",
        ));
    }
    Ok(name)
}

/// `PUT /ports/{id}` `{"port": {"name", "network_id"?}}` — 200 with the port (kamaki's
/// `port modify --name`, which sends the port's `network_id` along). Only the name changes.
async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let p = owned_port(&state, &who, &id).await?;
    let m = object(body, "port")?;
    if let Some(net) = opt_string(&m, "network_id")?
        && net != p.nic.network_id
    {
        return Err(ApiError::bad_request(format!(
            "port {id} is on network {}: a port cannot move to {net}",
            p.nic.network_id
        )));
    }
    if let Some(key) = m
        .keys()
        .find(|k| !["name", "network_id", "admin_state_up"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "'{key}' cannot be changed: only a port's name can"
        )));
    }
    if let Some(name) = m.get("name") {
        let name = match name {
            Value::String(s) => port_name(s.clone())?,
            Value::Null => String::new(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "\"name\" must be a string, not {other}"
                )));
            }
        };
        if !state.store.set_port_name(&p.nic.id, name).await? {
            return Err(ApiError::not_found(format!("port {id} not found")));
        }
    }
    let p = owned_port(&state, &who, &id).await?;
    resource(StatusCode::OK, "port", port_view(&p))
}

/// `DELETE /ports/{id}` — 204: the NIC is removed and its addresses are free; a port on the
/// public network is a 403, as in the compute API.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = owned_port(&state, &who, &id).await?;
    // A floating IP's port comes off the public network as it came on (kamaki's
    // `ip detach`); the server's own public NIC stays protected.
    if let Some(ip) = &p.nic.ipv4
        && held_ip(&state, &who, &p.nic.network_id, ip)
            .await?
            .is_some()
    {
        let s = changeable_server(&state, &who, &p.nic.server_id.to_string()).await?;
        state
            .store
            .disconnect_server(s.id, &p.nic.network_id, Some(p.nic.id.clone()))
            .await?;
        sync_nics(&state, s.id).await;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    disconnect(
        &state,
        &who,
        &p.nic.network_id,
        p.nic.server_id,
        Some(p.nic.id.clone()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
