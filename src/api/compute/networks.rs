//! The Cyclades compute networks: `GET /networks`, `GET /networks/detail`, `POST /networks`,
//! `GET|PUT|DELETE /networks/{id}`, `POST /networks/{id}/action` (`add`/`remove`), in JSON
//! and XML, as the seed's tables give them.
//!
//! The rules both network APIs share live here too (ownership, the public network's
//! protection, connect and disconnect), so that the Neutron-style view under
//! `/network/v2.0` (`src/api/network/`) is the same model seen another way. The range rules
//! are in `src/domain/network.rs`, the SQL in `src/store/networks.rs`.

use std::net::Ipv4Addr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use super::servers::{changeable_server, parse_server_id};
use crate::domain::address::MacPrefix;
use crate::domain::identity::Identity;
use crate::domain::network::{
    Invalid, NetworkRequest, ValidNetwork, nic_server, validate, validate_name,
};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult, Fault};
use crate::http::negotiate::{Format, respond};
use crate::http::routes::Routes;
use crate::http::xml::Xml;
use crate::store::Nic;
use crate::store::networks::{Network, NetworkDelete, NewNetwork};

pub fn routes(r: Routes) -> Routes {
    r.get("/compute/v2.0/networks", list)
        .get("/compute/v2.0/networks/detail", detail)
        .post("/compute/v2.0/networks", create)
        .get("/compute/v2.0/networks/{network_id}", show)
        .put("/compute/v2.0/networks/{network_id}", rename)
        .delete("/compute/v2.0/networks/{network_id}", delete)
        .post("/compute/v2.0/networks/{network_id}/action", action)
}

// ---------------------------------------------------------------------------------------
// rules both network APIs share

pub fn invalid(e: Invalid) -> ApiError {
    match e {
        Invalid::BadRequest(m) => ApiError::bad_request(m),
        Invalid::Forbidden(m) => ApiError::forbidden(m),
        Invalid::BadType(m) => ApiError::bad_media_type(m),
    }
}

/// A network the caller may see: the public one or its own. Another user's network is a
/// 404, never a 403, as for servers.
pub async fn visible_network(state: &AppState, who: &Identity, id: &str) -> ApiResult<Network> {
    match state.store.get_network(id).await? {
        Some(n) if n.visible_to(&who.user.id) => Ok(n),
        _ => Err(ApiError::not_found(format!("network {id} not found"))),
    }
}

/// A network the caller may change: its own. The public network is a 403.
pub async fn own_network(state: &AppState, who: &Identity, id: &str) -> ApiResult<Network> {
    let n = visible_network(state, who, id).await?;
    if n.public {
        return Err(ApiError::forbidden(format!(
            "network {id} is the public network: users cannot rename, delete, connect or \
             disconnect it"
        )));
    }
    Ok(n)
}

/// Records a PENDING network and asks the backend for it in the background.
pub async fn create_network(
    state: &AppState,
    who: &Identity,
    v: ValidNetwork,
) -> ApiResult<Network> {
    let n = state
        .store
        .create_network(
            NewNetwork {
                name: v.name,
                kind: v.kind,
                cidr: v.cidr.map(|c| c.to_string()),
                cidr6: v.cidr6.map(|c| c.to_string()),
                gateway: v.gateway.map(|g| g.to_string()),
                gateway6: v.gateway6.map(|g| g.to_string()),
                dhcp: v.dhcp,
                user_id: who.user.id.clone(),
                project_id: who.user.project.id.clone(),
            },
            state.config.network_quota,
        )
        .await?;
    crate::backend::networks::spawn_activate(state.store.clone(), state.backend.clone(), n.clone());
    Ok(n)
}

/// The server id of a `serverRef`/`device_id`: an integer, or a string holding one.
pub fn server_ref(v: Option<&Value>, what: &str) -> ApiResult<i64> {
    match v {
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|i| *i > 0)
            .ok_or_else(|| ApiError::bad_request(format!("{what} {n} is not a server id"))),
        Some(Value::String(s)) => parse_server_id(s.trim()),
        None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "{what} is missing: name the server to connect or disconnect"
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "{what} must be a server id, not {other}"
        ))),
    }
}

/// Most `networks` entries one `POST /servers` may carry.
const MAX_SERVER_NETWORKS: usize = 16;

/// The `networks` of a `POST /servers` (`[{"uuid": NET, "fixed_ip"?: IP}]`, as kamaki's
/// `--network NET[,IP]` sends them): the caller's networks to connect the new server to,
/// besides `public`, which every server is on anyway (an entry naming it adds nothing, and
/// kamaki's `--no-network`, an empty list, does not take it away).
pub async fn server_networks(
    state: &AppState,
    who: &Identity,
    raw: Option<Value>,
) -> ApiResult<Vec<(String, Option<Ipv4Addr>)>> {
    let list = match raw {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(l)) => l,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "networks must be a list of {{\"uuid\": NETWORK, \"fixed_ip\"?: IP}}, not {other}"
            )));
        }
    };
    if list.len() > MAX_SERVER_NETWORKS {
        return Err(ApiError::over_limit(format!(
            "at most {MAX_SERVER_NETWORKS} networks per new server"
        )));
    }
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let m = entry.as_object().ok_or_else(|| {
            ApiError::bad_request(format!("networks[{i}] must be an object, not {entry}"))
        })?;
        if m.get("port").is_some_and(|p| !p.is_null()) {
            return Err(ApiError::bad_request(format!(
                "networks[{i}]: existing ports cannot be given; name the network (uuid)"
            )));
        }
        let id = opt_string(m, "uuid")?
            .ok_or_else(|| ApiError::bad_request(format!("networks[{i}] needs a \"uuid\"")))?;
        let fixed_ip = opt_string(m, "fixed_ip")?
            .map(|ip| {
                ip.trim().parse::<Ipv4Addr>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "networks[{i}].fixed_ip '{ip}' is not an IPv4 address"
                    ))
                })
            })
            .transpose()?;
        let n = visible_network(state, who, &id).await?;
        if n.public {
            if fixed_ip.is_some() {
                return Err(ApiError::forbidden(
                    "addresses on the public network are allocated, not chosen",
                ));
            }
            continue;
        }
        if n.status == crate::domain::network::NetworkStatus::Error {
            return Err(ApiError::conflict(format!(
                "network {id} is in error (the backend could not make it)"
            )));
        }
        out.push((n.id, fixed_ip));
    }
    Ok(out)
}

/// Connects the caller's server to the caller's network with a new NIC (`name`: the port
/// name the Neutron view was given).
pub async fn connect(
    state: &AppState,
    who: &Identity,
    network_id: &str,
    server_id: i64,
    fixed_ip: Option<Ipv4Addr>,
    name: Option<String>,
) -> ApiResult<Nic> {
    let n = own_network(state, who, network_id).await?;
    if n.status == crate::domain::network::NetworkStatus::Error {
        return Err(ApiError::conflict(format!(
            "network {network_id} is in error (the backend could not make it): delete it"
        )));
    }
    let s = changeable_server(state, who, &server_id.to_string()).await?;
    let prefix = MacPrefix::parse(&state.config.mac_prefix).map_err(ApiError::internal)?;
    let nic = state
        .store
        .connect_server(s.id, &n.id, fixed_ip, prefix, name)
        .await?;
    sync_nics(state, s.id).await;
    Ok(nic)
}

/// After a NIC change committed: the backend gets the server's NIC list (a refusal is a
/// diagnostics entry, not this call's failure).
pub async fn sync_nics(state: &AppState, server: i64) {
    crate::backend::networks::sync_nics(&state.store, &state.backend, server).await;
}

/// Removes the named NIC, or every NIC between the server and the network.
pub async fn disconnect(
    state: &AppState,
    who: &Identity,
    network_id: &str,
    server_id: i64,
    nic: Option<String>,
) -> ApiResult<Vec<Nic>> {
    let n = own_network(state, who, network_id).await?;
    let s = changeable_server(state, who, &server_id.to_string()).await?;
    let removed = state.store.disconnect_server(s.id, &n.id, nic).await?;
    sync_nics(state, s.id).await;
    Ok(removed)
}

/// Deletes the caller's network: 421 networkInUse while NICs are attached.
pub async fn delete_network(state: &AppState, who: &Identity, id: &str) -> ApiResult<()> {
    let n = own_network(state, who, id).await?;
    match state.store.delete_network(&n.id).await? {
        NetworkDelete::Deleted => Ok(()),
        NetworkDelete::NotFound => Err(ApiError::not_found(format!("network {id} not found"))),
        NetworkDelete::InUse(nics) => Err(ApiError::new(
            Fault::NetworkInUse,
            format!(
                "network {id} is in use by {} NIC(s) ({}): disconnect them first",
                nics.len(),
                nics.join(", ")
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// views

#[derive(Serialize)]
struct Brief<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
pub struct NetworkView<'a> {
    id: &'a str,
    name: &'a str,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'a str,
    created: String,
    updated: String,
    cidr: Option<&'a str>,
    cidr6: Option<&'a str>,
    gateway: Option<&'a str>,
    gateway6: Option<&'a str>,
    dhcp: bool,
    public: bool,
    user_id: Option<&'a str>,
    tenant_id: Option<&'a str>,
    attachments: &'a [String],
}

pub fn view(n: &Network) -> NetworkView<'_> {
    NetworkView {
        id: &n.id,
        name: &n.name,
        status: n.status.as_str(),
        kind: &n.kind,
        created: time::iso(&n.created_at),
        updated: time::iso(&n.updated_at),
        cidr: n.cidr.as_deref(),
        cidr6: n.cidr6.as_deref(),
        gateway: n.gateway.as_deref(),
        gateway6: n.gateway6.as_deref(),
        dhcp: n.dhcp,
        public: n.public,
        user_id: n.user_id.as_deref(),
        tenant_id: n.project_id.as_deref(),
        attachments: &n.attachments,
    }
}

fn xml_network(x: &mut Xml, n: &Network, detail: bool, root: bool) {
    let (created, updated) = (time::iso(&n.created_at), time::iso(&n.updated_at));
    let mut attrs: Vec<(&str, &str)> = vec![("id", &n.id), ("name", &n.name)];
    if detail {
        attrs.extend_from_slice(&[
            ("status", n.status.as_str()),
            ("type", &n.kind),
            ("created", &created),
            ("updated", &updated),
            ("cidr", n.cidr.as_deref().unwrap_or("")),
            ("cidr6", n.cidr6.as_deref().unwrap_or("")),
            ("gateway", n.gateway.as_deref().unwrap_or("")),
            ("gateway6", n.gateway6.as_deref().unwrap_or("")),
            ("dhcp", if n.dhcp { "true" } else { "false" }),
            ("public", if n.public { "true" } else { "false" }),
        ]);
        if let Some(u) = &n.user_id {
            attrs.push(("user_id", u));
        }
        if let Some(t) = &n.project_id {
            attrs.push(("tenant_id", t));
        }
    }
    if root {
        x.start_root("network", &attrs);
    } else if !detail {
        x.empty("network", &attrs);
        return;
    } else {
        x.start("network", &attrs);
    }
    if detail {
        x.start("attachments", &[]);
        for a in &n.attachments {
            x.empty("nic", &[("id", a)]);
        }
        x.end("attachments");
    }
    x.end("network");
}

fn one(format: Format, status: StatusCode, n: &Network) -> Response {
    #[derive(Serialize)]
    struct One<'a> {
        network: NetworkView<'a>,
    }
    respond(format, status, &One { network: view(n) }, |x| {
        xml_network(x, n, true, true)
    })
}

// ---------------------------------------------------------------------------------------
// handlers

async fn list_response(
    state: &AppState,
    who: &Identity,
    format: Format,
    detail: bool,
) -> ApiResult<Response> {
    let nets = state.store.list_networks(&who.user.id).await?;
    let xml = |x: &mut Xml| {
        x.start_root("networks", &[]);
        for n in &nets {
            xml_network(x, n, detail, false);
        }
        x.end("networks");
    };
    if detail {
        let body = serde_json::json!({"networks": nets.iter().map(view).collect::<Vec<_>>()});
        return Ok(respond(format, StatusCode::OK, &body, xml));
    }
    let body = serde_json::json!({"networks": nets.iter().map(|n| Brief { id: &n.id, name: &n.name }).collect::<Vec<_>>()});
    Ok(respond(format, StatusCode::OK, &body, xml))
}

/// `GET /networks` — 200 with `id` and `name` of the public network and the caller's own.
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
) -> ApiResult<Response> {
    list_response(&state, &who, format, false).await
}

/// `GET /networks/detail` — 200 with every attribute.
async fn detail(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
) -> ApiResult<Response> {
    list_response(&state, &who, format, true).await
}

pub fn opt_string(m: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "\"{key}\" must be a string, not {other}"
        ))),
    }
}

pub fn opt_bool(m: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        // Clients that build bodies from form fields send "true"/"false".
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "\"{key}\" must be true or false, not {other}"
        ))),
    }
}

/// The object under `key` of a request body (`{"network": {…}}`).
pub fn object(body: Map<String, Value>, key: &str) -> ApiResult<Map<String, Value>> {
    match body.into_iter().find(|(k, _)| k == key) {
        Some((_, Value::Object(m))) => Ok(m),
        Some((_, other)) => Err(ApiError::bad_request(format!(
            "\"{key}\" must be an object, not {other}"
        ))),
        None => Err(ApiError::bad_request(format!(
            "the body must be {{\"{key}\": {{…}}}}"
        ))),
    }
}

/// `POST /networks` `{"network": {"name", "type", "dhcp"?, "cidr"?, "cidr6"?, "gateway"?,
/// "gateway6"?}}` — 202 with the PENDING network; 400 for invalid ranges, 403 for
/// `public: true`, 413 past the quota, 415 for an unknown type.
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let m = object(body, "network")?;
    let req = NetworkRequest {
        name: opt_string(&m, "name")?,
        kind: opt_string(&m, "type")?,
        dhcp: opt_bool(&m, "dhcp")?,
        cidr: match m.get("cidr") {
            Some(Value::Null) => Some(None),
            _ => opt_string(&m, "cidr")?.map(Some),
        },
        cidr6: opt_string(&m, "cidr6")?,
        gateway: opt_string(&m, "gateway")?,
        gateway6: opt_string(&m, "gateway6")?,
        public: opt_bool(&m, "public")?,
    };
    let v = validate(req, true).map_err(invalid)?;
    let n = create_network(&state, &who, v).await?;
    Ok(one(format, StatusCode::ACCEPTED, &n))
}

/// `GET /networks/{id}` — 200.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let n = visible_network(&state, &who, &id).await?;
    Ok(one(format, StatusCode::OK, &n))
}

/// `PUT /networks/{id}` `{"network": {"name": …}}` — 204; 403 for the public network.
async fn rename(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let n = own_network(&state, &who, &id).await?;
    let m = object(body, "network")?;
    let name = validate_name(opt_string(&m, "name")?.as_deref(), true).map_err(invalid)?;
    if !state.store.rename_network(&n.id, name).await? {
        return Err(ApiError::not_found(format!("network {id} not found")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /networks/{id}` — 204; 421 networkInUse while NICs are attached; 403 for the
/// public network.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    delete_network(&state, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/{id}/action` — 202 for `{"add": {"serverRef": S}}` (a new NIC, even when
/// the server already has one on this network) and `{"remove": {"serverRef": S}}` (every
/// NIC between them) or `{"remove": {"attachment": "nic-S-N"}}` (that NIC); 403 for the
/// public network.
async fn action(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    if body.len() != 1 {
        return Err(ApiError::bad_request(
            "the body must name exactly one action: add or remove",
        ));
    }
    let name = body.keys().next().cloned().unwrap_or_default();
    let args = object(body, &name)?;
    match name.as_str() {
        "add" => {
            let server = server_ref(args.get("serverRef"), "serverRef")?;
            connect(&state, &who, &id, server, None, None).await?;
        }
        "remove" => {
            let (server, nic) = match args.get("attachment") {
                Some(Value::String(nic)) => {
                    let server = nic_server(nic).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "attachment '{nic}' is not a NIC id such as nic-42-1"
                        ))
                    })?;
                    (server, Some(nic.clone()))
                }
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "attachment must be a NIC id such as nic-42-1, not {other}"
                    )));
                }
                None => (server_ref(args.get("serverRef"), "serverRef")?, None),
            };
            disconnect(&state, &who, &id, server, nic).await?;
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown network action '{other}': use add or remove"
            )));
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
