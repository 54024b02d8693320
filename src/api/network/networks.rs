//! Neutron networks and subnets: `GET|POST /networks`, `GET /networks/detail`,
//! `GET|PUT|DELETE /networks/{id}`, `GET|POST /subnets`, `GET /subnets/{id}`.
//!
//! ```text
//! POST /networks {"network": {"type": "MAC_FILTERED", "name"?, "admin_state_up"?}} → 201
//! PUT /networks/{id} {"network": {"name"}} → 200     DELETE → 204 (409 while in use)
//! POST /subnets {"subnet": {"network_id", "cidr", "ip_version"?, "gateway_ip"?}} → 201
//! ```

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{one_to_create, required, resource};
use crate::api::compute::networks::{
    create_network, delete_network, invalid, object, opt_bool, opt_string, own_network,
    visible_network,
};
use crate::domain::network::{
    GatewayChoice, NetworkRequest, ValidSubnet, allocation_pools, validate, validate_name,
    validate_subnet,
};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult, Fault};
use crate::http::routes::Routes;
use crate::store::networks::{Network, RangeChange};

pub fn routes(r: Routes) -> Routes {
    r.get("/network/v2.0/networks", list)
        .get("/network/v2.0/networks/detail", list)
        .post("/network/v2.0/networks", create)
        .get("/network/v2.0/networks/{network_id}", show)
        .put("/network/v2.0/networks/{network_id}", update)
        .delete("/network/v2.0/networks/{network_id}", delete)
        .get("/network/v2.0/subnets", subnets)
        .post("/network/v2.0/subnets", create_subnet)
        .get("/network/v2.0/subnets/{subnet_id}", subnet)
}

/// Subnet ids: the network id and the IP version.
pub fn subnet_id(network: &str, version: u8) -> String {
    format!("{network}-{version}")
}

fn parse_subnet_id(raw: &str) -> Option<(&str, u8)> {
    let (net, v) = raw.rsplit_once('-')?;
    match v {
        "4" => Some((net, 4)),
        "6" => Some((net, 6)),
        _ => None,
    }
}

fn subnet_ids(n: &Network) -> Vec<String> {
    let mut ids = Vec::new();
    if n.cidr.is_some() {
        ids.push(subnet_id(&n.id, 4));
    }
    if n.cidr6.is_some() {
        ids.push(subnet_id(&n.id, 6));
    }
    ids
}

pub fn network_view(n: &Network) -> Value {
    json!({
        "id": n.id,
        "name": n.name,
        "status": n.status.neutron(),
        "type": n.kind,
        "admin_state_up": true,
        "shared": n.public,
        "public": n.public,
        "router:external": n.public,
        "SNF:floating_ip_pool": n.public,
        "subnets": subnet_ids(n),
        "user_id": n.user_id,
        "tenant_id": n.project_id,
        "created": time::iso(&n.created_at),
        "updated": time::iso(&n.updated_at),
    })
}

fn subnet_view(n: &Network, version: u8) -> Option<Value> {
    let common = |cidr: &str, gateway: &Option<String>, dhcp: bool, pools: Vec<Value>| {
        json!({
            "id": subnet_id(&n.id, version),
            "name": n.name,
            "network_id": n.id,
            "ip_version": version,
            "cidr": cidr,
            "gateway_ip": gateway,
            "enable_dhcp": dhcp,
            "allocation_pools": pools,
            "dns_nameservers": [],
            "host_routes": [],
            "public": n.public,
            "user_id": n.user_id,
            "tenant_id": n.project_id,
        })
    };
    match version {
        4 => {
            let cidr = n.cidr.as_deref()?;
            let pools = cidr
                .parse()
                .map(|net| {
                    let gw = n.gateway.as_deref().and_then(|g| g.parse().ok());
                    allocation_pools(net, gw)
                        .into_iter()
                        .map(|(a, b)| json!({"start": a.to_string(), "end": b.to_string()}))
                        .collect()
                })
                .unwrap_or_default();
            Some(common(cidr, &n.gateway, n.dhcp, pools))
        }
        // IPv6 addresses are EUI-64 from the MAC: there is no pool to hand out from.
        _ => Some(common(n.cidr6.as_deref()?, &n.gateway6, false, Vec::new())),
    }
}

/// `GET /networks` and `/networks/detail` — 200 with every attribute (Neutron lists are
/// always detailed).
async fn list(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Response> {
    let nets = state.store.list_networks(&who.user.id).await?;
    let list: Vec<Value> = nets.iter().map(network_view).collect();
    resource(StatusCode::OK, "networks", list)
}

/// `POST /networks` — 201 with the new network, which has no subnet yet (a Neutron network
/// gets its ranges through `POST /subnets`). `type` defaults to MAC_FILTERED; `shared`
/// (a public network) is a 403.
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let m = one_to_create(body, "network")?;
    if let Some(p) = opt_string(&m, "project")?
        && p != who.user.project.id
    {
        return Err(ApiError::forbidden(format!(
            "you can create networks only in your own project ({}), not {p}",
            who.user.project.id
        )));
    }
    let req = NetworkRequest {
        name: opt_string(&m, "name")?,
        kind: Some(opt_string(&m, "type")?.unwrap_or_else(|| "MAC_FILTERED".into())),
        dhcp: None,
        cidr: Some(None),
        cidr6: None,
        gateway: None,
        gateway6: None,
        public: opt_bool(&m, "shared")?,
    };
    let v = validate(req, false).map_err(invalid)?;
    let n = create_network(&state, &who, v).await?;
    resource(StatusCode::CREATED, "network", network_view(&n))
}

/// `GET /networks/{id}` — 200.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let n = visible_network(&state, &who, &id).await?;
    resource(StatusCode::OK, "network", network_view(&n))
}

/// `PUT /networks/{id}` `{"network": {"name"}}` — 200 with the network.
async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let n = own_network(&state, &who, &id).await?;
    let m = object(body, "network")?;
    if let Some(key) = m
        .keys()
        .find(|k| !["name", "admin_state_up"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "'{key}' cannot be changed: only a network's name can"
        )));
    }
    if let Some(name) = opt_string(&m, "name")? {
        let name = validate_name(Some(&name), false).map_err(invalid)?;
        state.store.rename_network(&n.id, name).await?;
    }
    let n = visible_network(&state, &who, &id).await?;
    resource(StatusCode::OK, "network", network_view(&n))
}

/// `DELETE /networks/{id}` — 204. kamaki (as Neutron) takes a network in use as a 409, not
/// the compute API's 421: the same refusal, in this API's code.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    match delete_network(&state, &who, &id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) if e.fault == Fault::NetworkInUse => Err(ApiError::conflict(e.message)),
        Err(e) => Err(e),
    }
}

/// `GET /subnets` — 200: the IPv4 and IPv6 ranges of every network the caller sees.
async fn subnets(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Response> {
    let nets = state.store.list_networks(&who.user.id).await?;
    let list: Vec<Value> = nets
        .iter()
        .flat_map(|n| [subnet_view(n, 4), subnet_view(n, 6)])
        .flatten()
        .collect();
    resource(StatusCode::OK, "subnets", list)
}

/// `GET /subnets/{id}` — 200.
async fn subnet(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let missing = || ApiError::not_found(format!("subnet {id} not found"));
    let (net, version) = parse_subnet_id(&id).ok_or_else(missing)?;
    let n = visible_network(&state, &who, net)
        .await
        .map_err(|_| missing())?;
    let v = subnet_view(&n, version).ok_or_else(missing)?;
    resource(StatusCode::OK, "subnet", v)
}

/// `POST /subnets` `{"subnet": {"network_id", "cidr", "ip_version"?, "gateway_ip"?,
/// "enable_dhcp"?}}` — 201. Gives the caller's network the range it lacks (409 when it has
/// one of that version already). Without `gateway_ip` an IPv4 subnet's gateway is its first
/// host address, as Neutron's; `null` means none.
async fn create_subnet(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let m = one_to_create(body, "subnet")?;
    let net_id = required(&m, "network_id", "a subnet")?;
    let cidr = required(&m, "cidr", "a subnet")?;
    if m.contains_key("allocation_pools") {
        return Err(ApiError::bad_request(
            "allocation_pools cannot be chosen: a subnet's pool is its whole range less the gateway",
        ));
    }
    if let Some(Value::String(id)) = m.get("id") {
        return Err(ApiError::bad_request(format!(
            "subnet ids are not chosen ('{id}'): a network's subnets are <network>-4 and <network>-6"
        )));
    }
    let version = match m.get("ip_version") {
        None | Some(Value::Null) => 4,
        Some(v) if v == 4 || v == "4" => 4,
        Some(v) if v == 6 || v == "6" => 6,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "ip_version must be 4 or 6, not {other}"
            )));
        }
    };
    let gateway = match m.get("gateway_ip") {
        None => GatewayChoice::Default,
        Some(Value::Null) => GatewayChoice::None,
        Some(Value::String(g)) => GatewayChoice::Given(g.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "gateway_ip must be an address or null, not {other}"
            )));
        }
    };
    let n = own_network(&state, &who, &net_id).await?;
    let change = match validate_subnet(version, &cidr, gateway).map_err(invalid)? {
        ValidSubnet::V4 { net, gateway } => RangeChange::V4 {
            cidr: net.to_string(),
            gateway: gateway.map(|g| g.to_string()),
            dhcp: opt_bool(&m, "enable_dhcp")?.unwrap_or(true),
        },
        ValidSubnet::V6 { net, gateway } => RangeChange::V6 {
            cidr6: net.to_string(),
            gateway6: gateway.map(|g| g.to_string()),
        },
    };
    let n = state.store.add_network_range(&n.id, change).await?;
    let v = subnet_view(&n, version)
        .ok_or_else(|| ApiError::internal(format!("network {} lost its new subnet", n.id)))?;
    resource(StatusCode::CREATED, "subnet", v)
}
