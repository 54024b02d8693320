//! Servers: `GET /servers`, `GET /servers/detail`, `POST /servers`,
//! `GET|PUT|DELETE /servers/{id}`, `GET /servers/{id}/ips[/{network_id}]`,
//! `GET|POST|PUT /servers/{id}/metadata`, `GET|PUT|DELETE /servers/{id}/metadata/{key}`,
//! `GET /servers/{id}/diagnostics`.
//!
//! A request never changes a server's status itself: it asks the state machine whether the
//! action is allowed, records the task, hands the command to the compute backend and
//! answers; the reconciler applies what the backend reports (`src/backend/reconciler.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::images::parse_changes_since;
use crate::api::image::access::visible_image;
use crate::backend::{PersonalityFile, ServerSpec};
use crate::domain::address::MacPrefix;
use crate::domain::identity::Identity;
use crate::domain::image::ImageStatus;
use crate::domain::server::{
    BackendEvent, RefusalKind, ServerState, ServerStatus, Task, UserAction, request,
};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult, Fault};
use crate::http::links::{Base, Link};
use crate::http::negotiate::{Format, respond};
use crate::http::routes::Routes;
use crate::http::xml::Xml;
use crate::store::{NewServer, Server, ServerQuery};

pub fn routes(r: Routes) -> Routes {
    r.get("/compute/v2.0/servers", list)
        .get("/compute/v2.0/servers/detail", detail)
        .post("/compute/v2.0/servers", create)
        .get("/compute/v2.0/servers/{server_id}", show)
        .put("/compute/v2.0/servers/{server_id}", rename)
        .delete("/compute/v2.0/servers/{server_id}", delete)
        .get("/compute/v2.0/servers/{server_id}/ips", ips)
        .get(
            "/compute/v2.0/servers/{server_id}/ips/{network_id}",
            ips_by_network,
        )
        .get("/compute/v2.0/servers/{server_id}/metadata", metadata_list)
        .post("/compute/v2.0/servers/{server_id}/metadata", metadata_merge)
        .put(
            "/compute/v2.0/servers/{server_id}/metadata",
            metadata_replace,
        )
        .get(
            "/compute/v2.0/servers/{server_id}/metadata/{key}",
            metadata_show,
        )
        .put(
            "/compute/v2.0/servers/{server_id}/metadata/{key}",
            metadata_put,
        )
        .delete(
            "/compute/v2.0/servers/{server_id}/metadata/{key}",
            metadata_delete,
        )
        .get("/compute/v2.0/servers/{server_id}/diagnostics", diagnostics)
}

/// Server ids are positive integers (kamaki passes them through `int()`).
pub fn parse_server_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "malformed server id '{raw}': server ids are positive integers"
        ))
    })
}

/// The caller's server (deleted ones included, during the polling window); another user's
/// server is a 404, never a 403.
pub async fn owned_server(state: &AppState, who: &Identity, raw_id: &str) -> ApiResult<Server> {
    let id = parse_server_id(raw_id)?;
    match state.store.get_server(id).await? {
        Some(s) if s.user_id == who.user.id => Ok(s),
        _ => Err(ApiError::not_found(format!("server {id} not found"))),
    }
}

/// A server that may still be changed: not deleted, not suspended.
pub async fn changeable_server(
    state: &AppState,
    who: &Identity,
    raw_id: &str,
) -> ApiResult<Server> {
    let s = owned_server(state, who, raw_id).await?;
    if s.state.status == ServerStatus::Deleted {
        return Err(ApiError::bad_request(format!("server {} is deleted", s.id)));
    }
    if s.suspended {
        return Err(ApiError::forbidden(format!(
            "server {} is administratively suspended: ask the operator",
            s.id
        )));
    }
    Ok(s)
}

/// A refused action as the API's 409 fault.
pub fn refused(r: crate::domain::server::ActionRefused) -> ApiError {
    match r.fault {
        RefusalKind::BuildInProgress => ApiError::new(Fault::BuildInProgress, r.message),
        RefusalKind::Conflict => ApiError::conflict(r.message),
    }
}

// ---------------------------------------------------------------------------------------
// views

fn server_links(base: &Base, id: i64) -> [Link; 2] {
    [
        Link::new("self", base.url(&format!("/compute/v2.0/servers/{id}"))),
        Link::new("bookmark", base.url(&format!("/compute/servers/{id}"))),
    ]
}

#[derive(Serialize)]
struct Attachment<'a> {
    id: &'a str,
    network_id: &'a str,
    mac_address: &'a str,
    ipv4: &'a str,
    ipv6: &'a str,
    #[serde(rename = "firewallProfile")]
    firewall_profile: &'a str,
}

fn attachments(s: &Server) -> Vec<Attachment<'_>> {
    s.nics
        .iter()
        .map(|n| Attachment {
            id: &n.id,
            network_id: &n.network_id,
            mac_address: &n.mac,
            ipv4: n.ipv4.as_deref().unwrap_or(""),
            ipv6: n.ipv6.as_deref().unwrap_or(""),
            firewall_profile: n.firewall_profile.as_deref().unwrap_or("DISABLED"),
        })
        .collect()
}

/// OpenStack's `addresses`: network id → its addresses on this server.
fn addresses(s: &Server) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for n in &s.nics {
        let entry = out
            .entry(n.network_id.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            for (version, addr) in [(4, &n.ipv4), (6, &n.ipv6)] {
                if let Some(addr) = addr {
                    list.push(json!({"version": version, "addr": addr,
                        "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": n.mac}));
                }
            }
        }
    }
    out
}

#[derive(Serialize)]
struct OneServer<'a> {
    server: ServerView<'a>,
}

#[derive(Serialize)]
struct ServerList<T: Serialize> {
    servers: Vec<T>,
}

#[derive(Serialize)]
struct RefView<T: Serialize> {
    id: T,
    links: [Link; 2],
}

/// A server with every attribute, serialized straight from the record (a page of 1,000 of
/// them is built for every `GET /servers/detail`).
#[derive(Serialize)]
struct ServerView<'a> {
    id: i64,
    name: &'a str,
    status: &'static str,
    progress: u8,
    created: String,
    updated: String,
    #[serde(rename = "hostId")]
    host_id: &'static str,
    user_id: &'a str,
    tenant_id: &'a str,
    #[serde(rename = "imageRef")]
    image_ref: &'a str,
    #[serde(rename = "flavorRef")]
    flavor_ref: i64,
    image: RefView<&'a str>,
    flavor: RefView<i64>,
    metadata: &'a BTreeMap<String, String>,
    addresses: Map<String, Value>,
    attachments: Vec<Attachment<'a>>,
    suspended: bool,
    #[serde(rename = "accessIPv4")]
    access_ipv4: &'static str,
    #[serde(rename = "accessIPv6")]
    access_ipv6: &'static str,
    #[serde(rename = "SNF:task_state")]
    task_state: String,
    links: [Link; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<Vec<Value>>,
    #[serde(rename = "adminPass", skip_serializing_if = "Option::is_none")]
    admin_pass: Option<&'a str>,
}

fn detail_view<'a>(base: &Base, s: &'a Server, diagnostics: Option<Vec<Value>>) -> ServerView<'a> {
    ServerView {
        id: s.id,
        name: &s.name,
        status: s.state.status.as_str(),
        progress: s.state.progress,
        created: time::iso(&s.created_at),
        updated: time::iso(&s.updated_at),
        host_id: "",
        user_id: &s.user_id,
        tenant_id: &s.project_id,
        image_ref: &s.image_id,
        flavor_ref: s.flavor_id,
        image: RefView {
            id: &s.image_id,
            links: [
                Link::new(
                    "self",
                    base.url(&format!("/compute/v2.0/images/{}", s.image_id)),
                ),
                Link::new(
                    "bookmark",
                    base.url(&format!("/compute/images/{}", s.image_id)),
                ),
            ],
        },
        flavor: RefView {
            id: s.flavor_id,
            links: [
                Link::new(
                    "self",
                    base.url(&format!("/compute/v2.0/flavors/{}", s.flavor_id)),
                ),
                Link::new(
                    "bookmark",
                    base.url(&format!("/compute/flavors/{}", s.flavor_id)),
                ),
            ],
        },
        metadata: &s.metadata,
        addresses: addresses(s),
        attachments: attachments(s),
        suspended: s.suspended,
        access_ipv4: "",
        access_ipv6: "",
        task_state: s.state.task.map(|t| t.to_string()).unwrap_or_default(),
        links: server_links(base, s.id),
        diagnostics,
        admin_pass: None,
    }
}

fn xml_server(
    x: &mut Xml,
    base: &Base,
    s: &Server,
    detail: bool,
    root: bool,
    admin_pass: Option<&str>,
) {
    let id = s.id.to_string();
    let (progress, flavor) = (s.state.progress.to_string(), s.flavor_id.to_string());
    let (created, updated) = (time::iso(&s.created_at), time::iso(&s.updated_at));
    let mut attrs: Vec<(&str, &str)> = vec![("id", &id), ("name", &s.name)];
    if detail {
        attrs.extend_from_slice(&[
            ("status", s.state.status.as_str()),
            ("progress", &progress),
            ("created", &created),
            ("updated", &updated),
            ("hostId", ""),
            ("userId", &s.user_id),
            ("tenantId", &s.project_id),
            ("imageRef", &s.image_id),
            ("flavorRef", &flavor),
            ("suspended", if s.suspended { "true" } else { "false" }),
        ]);
    }
    if let Some(p) = admin_pass {
        attrs.push(("adminPass", p));
    }
    if root {
        x.start_root("server", &attrs);
    } else {
        x.start("server", &attrs);
    }
    if detail {
        x.start("image", &[("id", &s.image_id)]);
        x.link(
            "self",
            &base.url(&format!("/compute/v2.0/images/{}", s.image_id)),
        );
        x.end("image");
        x.start("flavor", &[("id", &flavor)]);
        x.link(
            "self",
            &base.url(&format!("/compute/v2.0/flavors/{}", s.flavor_id)),
        );
        x.end("flavor");
        x.start("metadata", &[]);
        for (k, v) in &s.metadata {
            x.text_element("meta", &[("key", k)], v);
        }
        x.end("metadata");
        xml_addresses(x, s, false);
        x.start("attachments", &[]);
        for a in attachments(s) {
            x.empty(
                "nic",
                &[
                    ("id", a.id),
                    ("network_id", a.network_id),
                    ("mac_address", a.mac_address),
                    ("ipv4", a.ipv4),
                    ("ipv6", a.ipv6),
                    ("firewallProfile", a.firewall_profile),
                ],
            );
        }
        x.end("attachments");
    }
    for l in server_links(base, s.id) {
        x.link(l.rel, &l.href);
    }
    x.end("server");
}

fn xml_addresses(x: &mut Xml, s: &Server, root: bool) {
    if root {
        x.start_root("addresses", &[]);
    } else {
        x.start("addresses", &[]);
    }
    let mut by_net: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for n in &s.nics {
        let e = by_net.entry(&n.network_id).or_default();
        if let Some(a) = &n.ipv4 {
            e.push(("4", a));
        }
        if let Some(a) = &n.ipv6 {
            e.push(("6", a));
        }
    }
    for (net, ips) in by_net {
        x.start("network", &[("id", net)]);
        for (version, addr) in ips {
            x.empty("ip", &[("version", version), ("addr", addr)]);
        }
        x.end("network");
    }
    x.end("addresses");
}

// ---------------------------------------------------------------------------------------
// list

#[derive(Deserialize)]
struct ListParams {
    #[serde(rename = "changes-since")]
    changes_since: Option<String>,
    status: Option<String>,
    name: Option<String>,
    image: Option<String>,
    flavor: Option<String>,
    marker: Option<String>,
    limit: Option<String>,
}

const MAX_LIMIT: u32 = 1000;

/// The last path segment of an id-or-URL reference (`imageRef`/`flavorRef` as Nova accepts).
fn ref_id(raw: &str) -> &str {
    raw.trim_end_matches('/').rsplit('/').next().unwrap_or(raw)
}

async fn list_response(
    state: &AppState,
    who: &Identity,
    format: Format,
    base: &Base,
    p: ListParams,
    detail: bool,
) -> ApiResult<Response> {
    let changes_since = p
        .changes_since
        .as_deref()
        .map(parse_changes_since)
        .transpose()?;
    let limit = match p.limit.as_deref() {
        None => MAX_LIMIT,
        Some(l) => l
            .parse::<u32>()
            .map_err(|_| {
                ApiError::bad_request(format!("limit '{l}' is not a non-negative integer"))
            })?
            .min(MAX_LIMIT),
    };
    let status = p
        .status
        .as_deref()
        .map(|s| s.to_ascii_uppercase().parse::<ServerStatus>())
        .transpose()
        .map_err(ApiError::bad_request)?;
    let flavor_id = p
        .flavor
        .as_deref()
        .map(|f| super::flavors::parse_flavor_id(ref_id(f)))
        .transpose()?;
    let marker = p.marker.as_deref().map(parse_server_id).transpose()?;
    if let Some(since) = changes_since
        && !state
            .store
            .servers_changed_since(&who.user.id, since)
            .await?
    {
        // The seed: 304 when nothing changed since then.
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let servers = state
        .store
        .list_servers(ServerQuery {
            user_id: who.user.id.clone(),
            changes_since,
            status,
            name: p.name,
            image_id: p.image.as_deref().map(|i| ref_id(i).to_owned()),
            flavor_id,
            marker,
            limit,
            with_details: detail,
        })
        .await?;
    let xml = |x: &mut Xml| {
        x.start_root("servers", &[]);
        for s in &servers {
            xml_server(x, base, s, detail, false, None);
        }
        x.end("servers");
    };
    // Only the representation asked for is built: a page can hold 1,000 servers.
    if format == Format::Xml {
        return Ok(respond(format, StatusCode::OK, &(), xml));
    }
    if detail {
        let body = ServerList {
            servers: servers.iter().map(|s| detail_view(base, s, None)).collect(),
        };
        return Ok(respond(format, StatusCode::OK, &body, xml));
    }
    #[derive(Serialize)]
    struct Brief<'a> {
        id: i64,
        name: &'a str,
        links: [Link; 2],
    }
    let body = ServerList {
        servers: servers
            .iter()
            .map(|s| Brief {
                id: s.id,
                name: &s.name,
                links: server_links(base, s.id),
            })
            .collect(),
    };
    Ok(respond(format, StatusCode::OK, &body, xml))
}

/// `GET /servers` — 200 (304 with `changes-since` when nothing changed).
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    base: Base,
    Query(p): Query<ListParams>,
) -> ApiResult<Response> {
    list_response(&state, &who, format, &base, p, false).await
}

/// `GET /servers/detail` — 200 with every attribute.
async fn detail(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    base: Base,
    Query(p): Query<ListParams>,
) -> ApiResult<Response> {
    list_response(&state, &who, format, &base, p, true).await
}

// ---------------------------------------------------------------------------------------
// create

#[derive(Deserialize)]
struct CreateBody {
    server: CreateServer,
}

#[derive(Deserialize)]
struct CreateServer {
    name: Option<String>,
    #[serde(rename = "imageRef")]
    image_ref: Option<Value>,
    #[serde(rename = "flavorRef")]
    flavor_ref: Option<Value>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    personality: Option<Vec<Personality>>,
    /// `[{"uuid": NET, "fixed_ip"?: IP}]` (kamaki's `--network NET[,IP]`).
    #[serde(default)]
    networks: Option<Value>,
}

#[derive(Deserialize)]
struct Personality {
    path: Option<String>,
    contents: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<Value>,
}

const MAX_PERSONALITY_BYTES: usize = 10240;
const MAX_META_LEN: usize = 255;

fn validate_name(name: Option<&str>) -> ApiResult<String> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_request(
            "server name must be 1 to 255 characters long",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "server name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Metadata as strings within the limits (413 past the item limit).
fn validate_metadata(m: Map<String, Value>, max: usize) -> ApiResult<BTreeMap<String, String>> {
    if m.len() > max {
        return Err(ApiError::over_limit(format!(
            "a server may have at most {max} metadata items"
        )));
    }
    m.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "metadata '{k}' must be a string, not {other}"
                    )));
                }
            };
            validate_meta_item(&k, &v)?;
            Ok((k, v))
        })
        .collect()
}

fn validate_meta_item(k: &str, v: &str) -> ApiResult<()> {
    if k.is_empty() || k.chars().count() > MAX_META_LEN {
        return Err(ApiError::bad_request(format!(
            "metadata keys must be 1 to {MAX_META_LEN} characters long"
        )));
    }
    if v.chars().count() > MAX_META_LEN {
        return Err(ApiError::bad_request(format!(
            "metadata '{k}' is longer than {MAX_META_LEN} characters"
        )));
    }
    Ok(())
}

fn validate_personality(list: Vec<Personality>, max: usize) -> ApiResult<Vec<PersonalityFile>> {
    if list.len() > max {
        return Err(ApiError::over_limit(format!(
            "at most {max} personality files per server"
        )));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let path = p.path.unwrap_or_default();
            if !path.starts_with('/') || path.len() > 255 || path.contains('\0') {
                return Err(ApiError::bad_request(format!(
                    "personality[{i}].path '{path}' must be an absolute path of at most 255 bytes"
                )));
            }
            let contents = base64::engine::general_purpose::STANDARD
                .decode(p.contents.unwrap_or_default().trim())
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "personality[{i}].contents is not valid base64 ({e})"
                    ))
                })?;
            if contents.len() > MAX_PERSONALITY_BYTES {
                return Err(ApiError::over_limit(format!(
                    "personality[{i}] is {} bytes; at most {MAX_PERSONALITY_BYTES} bytes decoded",
                    contents.len()
                )));
            }
            let mode = match p.mode {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => match n.as_u64().filter(|m| *m <= 0o7777) {
                    Some(m) => Some(m as u32),
                    None => {
                        return Err(ApiError::bad_request(format!(
                            "personality[{i}].mode {n} must be a number from 0 to 4095 (0o7777)"
                        )));
                    }
                },
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "personality[{i}].mode must be a number, not {other}"
                    )));
                }
            };
            Ok(PersonalityFile {
                path,
                contents,
                owner: p.owner.filter(|s| !s.is_empty()),
                group: p.group.filter(|s| !s.is_empty()),
                mode,
            })
        })
        .collect()
}

fn ref_string(v: &Value, what: &str) -> ApiResult<String> {
    match v {
        Value::String(s) => Ok(ref_id(s).to_owned()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(ApiError::bad_request(format!(
            "{what} must be an id or a URL, not {other}"
        ))),
    }
}

/// The files of the image's `kernel_id` and `ramdisk_id` images (OpenStack's way of
/// booting a kernel directly): each must be an active image the caller can see, with data.
async fn boot_files(
    state: &AppState,
    who: &Identity,
    image: &crate::domain::image::Image,
) -> ApiResult<(Option<std::path::PathBuf>, Option<std::path::PathBuf>)> {
    let mut files = [None, None];
    for (slot, key) in files.iter_mut().zip(["kernel_id", "ramdisk_id"]) {
        let Some(id) = image.properties.get(key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let bad = || {
            ApiError::bad_request(format!(
                "image {} has {key} {id}, which is not an active image you can use",
                image.id
            ))
        };
        let part = visible_image(state, who, id).await.map_err(|_| bad())?;
        if part.status != ImageStatus::Active {
            return Err(bad());
        }
        *slot = Some(state.images.path_of(&part.id).map_err(|_| bad())?);
    }
    let [kernel, ramdisk] = files;
    Ok((kernel, ramdisk))
}

/// A random administrator password: 12 letters and digits, shown once, never stored.
fn admin_password() -> String {
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// `POST /servers` — 202 with the BUILD server and its `adminPass` (the only time it is
/// shown); 400 for invalid input, 404 for an image or flavor the user can't see, 413 past
/// the quota or a limit.
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    base: Base,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Response> {
    let cfg = &state.config;
    let req = body.server;
    let name = validate_name(req.name.as_deref())?;
    let image_ref = req
        .image_ref
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("imageRef is required"))
        .and_then(|v| ref_string(v, "imageRef"))?;
    let flavor_ref = req
        .flavor_ref
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("flavorRef is required"))
        .and_then(|v| ref_string(v, "flavorRef"))?;
    let mut metadata =
        validate_metadata(req.metadata.unwrap_or_default(), cfg.server_max_metadata)?;
    let personality = validate_personality(
        req.personality.unwrap_or_default(),
        cfg.server_max_personality,
    )?;

    let flavor_id = super::flavors::parse_flavor_id(&flavor_ref)?;
    let flavor = state
        .store
        .get_flavor(flavor_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("flavor {flavor_id} not found")))?;
    let image = visible_image(&state, &who, &image_ref)
        .await
        .map_err(|e| match e.fault {
            Fault::ItemNotFound => ApiError::not_found(format!("image {image_ref} not found")),
            _ => e,
        })?;
    if image.status != ImageStatus::Active {
        return Err(ApiError::bad_request(format!(
            "image {image_ref} is {}: only active images can boot servers",
            image.status.as_str()
        )));
    }
    // The seed: the image's OS and users metadata are copied onto the server, in the image's
    // own spelling, unless the request sets them in any spelling (kamaki sends `os` itself,
    // and a user's `-m os=…` must win).
    for (k, v) in &image.properties {
        let copied = k.eq_ignore_ascii_case("os") || k.eq_ignore_ascii_case("users");
        if copied && !metadata.keys().any(|m| m.eq_ignore_ascii_case(k)) {
            metadata.insert(k.clone(), v.clone());
        }
    }
    if metadata.len() > cfg.server_max_metadata {
        return Err(ApiError::over_limit(format!(
            "a server may have at most {} metadata items",
            cfg.server_max_metadata
        )));
    }
    let networks = super::networks::server_networks(&state, &who, req.networks).await?;
    let (kernel_path, ramdisk_path) = boot_files(&state, &who, &image).await?;
    let prefix = MacPrefix::parse(&cfg.mac_prefix).map_err(ApiError::internal)?;
    let server = state
        .store
        .create_server(
            NewServer {
                name,
                user_id: who.user.id.clone(),
                project_id: who.user.project.id.clone(),
                flavor_id,
                image_id: image.id.clone(),
                metadata,
                networks,
            },
            cfg.server_quota,
            prefix,
        )
        .await?;
    let password = admin_password();
    let nics = crate::backend::networks::nic_specs(&state.store, &server.nics).await;
    let spec = ServerSpec {
        id: server.id,
        name: server.name.clone(),
        vcpus: flavor.vcpus,
        ram_mib: u64::from(flavor.ram),
        disk_gib: u64::from(flavor.disk),
        image_id: image.id.clone(),
        image_path: state.images.path_of(&image.id).ok(),
        image_disk_format: image.disk_format.clone(),
        kernel_path,
        ramdisk_path,
        kernel_cmdline: image.properties.get("os_command_line").cloned(),
        nics,
        admin_password: password.clone(),
        personality,
    };
    if let Err(e) = state.backend.create(spec).await {
        // Refused on the spot: no event will come, so end the build here.
        crate::backend::reconciler::apply_event(
            &state.store,
            server.id,
            BackendEvent::Failed {
                task: Task::Build,
                message: e.to_string(),
            },
        )
        .await;
    }
    let mut v = detail_view(&base, &server, None);
    v.admin_pass = Some(&password);
    Ok(respond(
        format,
        StatusCode::ACCEPTED,
        &OneServer { server: v },
        |x| xml_server(x, &base, &server, true, true, Some(&password)),
    ))
}

// ---------------------------------------------------------------------------------------
// one server

fn diagnostic_json(d: &crate::domain::server::Diagnostic) -> Value {
    json!({"level": d.level.as_str(), "created": time::iso(&d.created), "source": d.source,
        "source_date": time::iso(&d.source_date), "message": d.message, "details": d.details})
}

/// `GET /servers/{id}` — 200 with every attribute and the diagnostics.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    base: Base,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = owned_server(&state, &who, &id).await?;
    let diags: Vec<Value> = state
        .store
        .server_diagnostics(s.id)
        .await?
        .iter()
        .map(diagnostic_json)
        .collect();
    Ok(respond(
        format,
        StatusCode::OK,
        &OneServer {
            server: detail_view(&base, &s, Some(diags)),
        },
        |x| xml_server(x, &base, &s, true, true, None),
    ))
}

#[derive(Deserialize)]
struct RenameBody {
    server: RenameServer,
}

#[derive(Deserialize)]
struct RenameServer {
    name: Option<String>,
}

/// `PUT /servers/{id}` `{"server": {"name": …}}` — 204.
async fn rename(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RenameBody>,
) -> ApiResult<Response> {
    let s = changeable_server(&state, &who, &id).await?;
    let name = validate_name(body.server.name.as_deref())?;
    state.store.rename_server(s.id, name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /servers/{id}` — 204; the server shows DELETED once the backend has removed it,
/// and stays listable through `changes-since` for the polling window.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = owned_server(&state, &who, &id).await?;
    if s.suspended {
        return Err(ApiError::forbidden(format!(
            "server {} is administratively suspended: ask the operator",
            s.id
        )));
    }
    perform(&state, &s, UserAction::Delete).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Runs a state-changing action: the state machine decides, the new state is recorded, and
/// the backend gets the command. A command the backend refuses on the spot ends its task
/// at once (the reconciler's rules, with a diagnostics entry).
pub async fn perform(state: &AppState, s: &Server, action: UserAction) -> ApiResult<ServerState> {
    // Decided and recorded in one write transaction, on the state as it is then: an event
    // the reconciler applied since `s` was read is not overwritten.
    let outcome = Arc::new(Mutex::new(None));
    let decided = outcome.clone();
    state
        .store
        .transform_server_states(
            vec![s.id],
            Box::new(move |_, current| {
                let result = request(&current, action);
                let next = result.as_ref().map(|(n, _)| *n).unwrap_or(current);
                if let Ok(mut slot) = decided.lock() {
                    *slot = Some(result);
                }
                (next, Vec::new())
            }),
        )
        .await?;
    let decided = outcome.lock().ok().and_then(|mut slot| slot.take());
    let (next, task) = decided
        .ok_or_else(|| ApiError::not_found(format!("server {} not found", s.id)))?
        .map_err(refused)?;
    if let Some(task) = task
        && let Err(e) = state.backend.issue(s.id, task).await
    {
        let event = match e {
            // Deleting a server the backend no longer has: it is gone, as the delete wants.
            crate::backend::BackendError::NotFound(_) if task == Task::Destroy => {
                BackendEvent::Destroyed
            }
            e => BackendEvent::Failed {
                task,
                message: e.to_string(),
            },
        };
        crate::backend::reconciler::apply_event(&state.store, s.id, event).await;
    }
    Ok(next)
}

/// `GET /servers/{id}/ips` — 200 `{"addresses": {network: [...]}}` (OpenStack's shape) and,
/// for Cyclades clients, `attachments`.
async fn ips(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = owned_server(&state, &who, &id).await?;
    let body = json!({"addresses": addresses(&s), "attachments": attachments(&s)});
    Ok(respond(format, StatusCode::OK, &body, |x| {
        xml_addresses(x, &s, true)
    }))
}

/// `GET /servers/{id}/ips/{network_id}` — 200 with the server's addresses on that network.
async fn ips_by_network(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path((id, net)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = owned_server(&state, &who, &id).await?;
    let nics: Vec<&crate::store::Nic> = s.nics.iter().filter(|n| n.network_id == net).collect();
    if nics.is_empty() {
        return Err(ApiError::not_found(format!(
            "server {} has no NIC on network {net}",
            s.id
        )));
    }
    let mut list = Vec::new();
    for n in &nics {
        for (version, addr) in [(4, &n.ipv4), (6, &n.ipv6)] {
            if let Some(addr) = addr {
                list.push(json!({"version": version, "addr": addr}));
            }
        }
    }
    let all = attachments(&s);
    let mine: Vec<&Attachment> = all.iter().filter(|a| a.network_id == net).collect();
    let body = json!({ &net: list, "network": {"id": net, "attachments": mine}});
    Ok(respond(format, StatusCode::OK, &body, |x| {
        x.start_root("network", &[("id", &net)]);
        for n in &nics {
            for (version, addr) in [("4", &n.ipv4), ("6", &n.ipv6)] {
                if let Some(addr) = addr {
                    x.empty("ip", &[("version", version), ("addr", addr)]);
                }
            }
        }
        x.end("network");
    }))
}

// ---------------------------------------------------------------------------------------
// metadata

fn metadata_response(
    format: Format,
    status: StatusCode,
    meta: &BTreeMap<String, String>,
) -> Response {
    respond(format, status, &json!({"metadata": meta}), |x| {
        x.start_root("metadata", &[]);
        for (k, v) in meta {
            x.text_element("meta", &[("key", k)], v);
        }
        x.end("metadata");
    })
}

fn item_response(format: Format, status: StatusCode, key: &str, value: &str) -> Response {
    respond(
        format,
        status,
        &json!({"meta": {key: value}, "metadata": {key: value}}),
        |x| {
            let attrs = [("xmlns", crate::http::xml::COMPUTE_NS), ("key", key)];
            x.text_element("meta", &attrs, value);
        },
    )
}

#[derive(Deserialize)]
struct MetadataBody {
    #[serde(alias = "meta")]
    metadata: Map<String, Value>,
}

/// `GET /servers/{id}/metadata` — 200.
async fn metadata_list(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = owned_server(&state, &who, &id).await?;
    Ok(metadata_response(format, StatusCode::OK, &s.metadata))
}

async fn change_metadata(
    state: &AppState,
    who: &Identity,
    id: &str,
    body: Map<String, Value>,
    replace_all: bool,
) -> ApiResult<BTreeMap<String, String>> {
    let s = changeable_server(state, who, id).await?;
    let items = validate_metadata(body, state.config.server_max_metadata)?;
    let changes = items.into_iter().map(|(k, v)| (k, Some(v))).collect();
    Ok(state
        .store
        .change_server_metadata(s.id, changes, replace_all, state.config.server_max_metadata)
        .await?)
}

/// `POST /servers/{id}/metadata` — 201 with all metadata; keys given are set, others kept.
async fn metadata_merge(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MetadataBody>,
) -> ApiResult<Response> {
    let meta = change_metadata(&state, &who, &id, body.metadata, false).await?;
    Ok(metadata_response(format, StatusCode::CREATED, &meta))
}

/// `PUT /servers/{id}/metadata` — 200 with the new metadata, which replaces all of it (as
/// OS/Compute).
async fn metadata_replace(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MetadataBody>,
) -> ApiResult<Response> {
    let meta = change_metadata(&state, &who, &id, body.metadata, true).await?;
    Ok(metadata_response(format, StatusCode::OK, &meta))
}

/// `GET /servers/{id}/metadata/{key}` — 200 `{"meta": {key: value}}`.
async fn metadata_show(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = owned_server(&state, &who, &id).await?;
    let v = s
        .metadata
        .get(&key)
        .ok_or_else(|| ApiError::not_found(format!("server {} has no metadata '{key}'", s.id)))?;
    Ok(item_response(format, StatusCode::OK, &key, v))
}

/// `PUT /servers/{id}/metadata/{key}` `{"meta": {key: value}}` — 201; the body's key must be
/// the URL's.
async fn metadata_put(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<MetadataBody>,
) -> ApiResult<Response> {
    if body.metadata.len() != 1 || !body.metadata.contains_key(&key) {
        return Err(ApiError::bad_request(format!(
            "the body must be {{\"meta\": {{\"{key}\": VALUE}}}}, naming the key of the URL"
        )));
    }
    let meta = change_metadata(&state, &who, &id, body.metadata, false).await?;
    let v = meta.get(&key).cloned().unwrap_or_default();
    Ok(item_response(format, StatusCode::CREATED, &key, &v))
}

/// `DELETE /servers/{id}/metadata/{key}` — 204; 404 when absent.
async fn metadata_delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = changeable_server(&state, &who, &id).await?;
    state
        .store
        .change_server_metadata(
            s.id,
            vec![(key, None)],
            false,
            state.config.server_max_metadata,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /servers/{id}/diagnostics` — 200, a top-level JSON list, newest first.
async fn diagnostics(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = owned_server(&state, &who, &id).await?;
    let diags = state.store.server_diagnostics(s.id).await?;
    let list: Vec<Value> = diags.iter().map(diagnostic_json).collect();
    Ok(respond(format, StatusCode::OK, &list, |x| {
        x.start_root("diagnostics", &[]);
        for d in &diags {
            let (created, source_date) = (time::iso(&d.created), time::iso(&d.source_date));
            x.start(
                "diagnostic",
                &[
                    ("level", d.level.as_str()),
                    ("created", &created),
                    ("source", &d.source),
                    ("source_date", &source_date),
                ],
            );
            x.text_element("message", &[], &d.message);
            if let Some(details) = &d.details {
                x.text_element("details", &[], details);
            }
            x.end("diagnostic");
        }
        x.end("diagnostics");
    }))
}
