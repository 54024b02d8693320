//! The console action: `POST /servers/{id}/action {"console": {"type": T}}` → 200 with where
//! to connect and a one-time credential, from the console proxy (`src/console/`).
//!
//! ```text
//! {"console": {"type": "vnc", "host": "gw.example.org", "port": 15904,
//!              "password": "Xk3pQ9aZ", "url": "https://gw.example.org/console/#token=…"}}
//! ```
//!
//! `vnc`: host and port are the proxy's VNC front end, password the one-time VNC password;
//! `url` opens the same console in a browser instead. `vnc-ws` / `vnc-wss`: host and port
//! are the gateway's own, `password` the websocket's one-time token and `url` the console
//! page. Whichever credential is used first consumes the console.

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};

use super::servers::refused;
use crate::console::tickets::Binding;
use crate::console::{ConsoleError, Kind};
use crate::domain::server::{UserAction, request};
use crate::http::AppState;
use crate::http::fault::{ApiError, ApiResult, Fault};
use crate::http::links::Base;
use crate::http::negotiate::{Format, respond};
use crate::http::xml::COMPUTE_NS;
use crate::store::Server;

#[derive(Serialize)]
struct ConsoleView<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    host: &'a str,
    port: u16,
    password: &'a str,
    url: &'a str,
}

/// 200 with the console; 400 for a missing or unknown type; 409 for a server that is not
/// ACTIVE or has no screen; 503 when the proxy is at its limit.
pub async fn console(
    state: &AppState,
    s: &Server,
    args: &Map<String, Value>,
    base: &Base,
    format: Format,
) -> ApiResult<Response> {
    let kind = match args.get("type") {
        Some(Value::String(t)) => Kind::parse(t),
        _ => None,
    }
    .ok_or_else(|| ApiError::bad_request("console needs \"type\": vnc, vnc-ws or vnc-wss"))?;
    request(&s.state, UserAction::Console).map_err(refused)?;
    if !state.consoles.has_screen(s.id) {
        return Err(ApiError::conflict(format!(
            "server {} has no screen: the simulated compute backend runs no virtual machine, \
             so its servers have no VNC console (the QEMU backend's do)",
            s.id
        )));
    }
    let base_uri: Uri = base
        .0
        .parse()
        .map_err(|_| ApiError::internal(format!("the base URL {} does not parse", base.0)))?;
    let https = base_uri.scheme_str() == Some("https");
    if kind == Kind::VncWss && !https {
        return Err(ApiError::bad_request(
            "vnc-wss needs the gateway behind TLS (an https public_url, or X-Forwarded-Proto: \
             https from its front); this one is reached over plain HTTP: use vnc-ws",
        ));
    }
    let base_host = base_uri.host().unwrap_or("localhost").to_owned();
    let binding = Binding {
        server_id: s.id,
        user_id: s.user_id.clone(),
    };
    let offer = state
        .consoles
        .issue(binding, kind)
        .await
        .map_err(|e| match e {
            ConsoleError::Busy(m) => ApiError::new(Fault::ServiceUnavailable, m),
            ConsoleError::Unavailable(m) => ApiError::conflict(m),
        })?;
    let (host, port) = match offer.port {
        Some(port) => (state.config.console_host.clone().unwrap_or(base_host), port),
        None => (
            base_host,
            base_uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        ),
    };
    let url = base.url(&format!("/console/#token={}", offer.token));
    let view = ConsoleView {
        kind: kind.as_str(),
        host: &host,
        port,
        password: &offer.password,
        url: &url,
    };
    let port_text = port.to_string();
    Ok(respond(
        format,
        StatusCode::OK,
        &serde_json::json!({ "console": view }),
        |x| {
            x.empty(
                "console",
                &[
                    ("xmlns", COMPUTE_NS),
                    ("type", kind.as_str()),
                    ("host", &host),
                    ("port", &port_text),
                    ("password", &offer.password),
                    ("url", &url),
                ],
            )
        },
    ))
}
