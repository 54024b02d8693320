//! Server actions: `POST /servers/{id}/action` with exactly one of `start`, `shutdown`,
//! `reboot` (`{"type": "SOFT"|"HARD"}`, any case), `firewallProfile`
//! (`{"profile": "ENABLED"|"DISABLED"|"PROTECTED", "nic": "nic-…"?}`) or `console`.
//!
//! ```text
//! {"start": {}}                 → 202      {"shutdown": {}}           → 202
//! {"reboot": {"type": "HARD"}}  → 202      {"firewallProfile": {…}}   → 202
//! {"console": {"type": "vnc"}}  → 200 (see `console.rs`)
//! ```

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::servers::{changeable_server, perform, refused};
use crate::domain::server::{RebootKind, UserAction, request};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::links::Base;
use crate::http::negotiate::Format;
use crate::http::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    r.post("/compute/v2.0/servers/{server_id}/action", action)
}

const PROFILES: [&str; 3] = ["ENABLED", "DISABLED", "PROTECTED"];

/// `POST /servers/{id}/action` — 202 for start, shutdown, reboot and firewallProfile, 200
/// for reassign and console; 409
/// when the server's status does not allow the action (buildInProgress while building);
/// 403 for a suspended server; 400 for an unknown or malformed action.
async fn action(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    base: Base,
    format: Format,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    if body.len() != 1 {
        return Err(ApiError::bad_request(
            "the body must name exactly one action: start, shutdown, reboot, firewallProfile, reassign or console",
        ));
    }
    let (name, args) = body.into_iter().next().unwrap_or_default();
    let args = match args {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(ApiError::bad_request(format!(
                "the arguments of '{name}' must be an object, not {other}"
            )));
        }
    };
    let s = changeable_server(&state, &who, &id).await?;
    match name.as_str() {
        "start" => perform(&state, &s, UserAction::Start).await?,
        "shutdown" => perform(&state, &s, UserAction::Shutdown).await?,
        "reboot" => {
            let kind = match args.get("type") {
                None | Some(Value::Null) => RebootKind::Soft,
                Some(Value::String(t)) => t.parse::<RebootKind>().map_err(ApiError::bad_request)?,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "reboot type must be SOFT or HARD, not {other}"
                    )));
                }
            };
            perform(&state, &s, UserAction::Reboot(kind)).await?
        }
        "firewallProfile" => {
            let profile = args
                .get("profile")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
                .filter(|p| PROFILES.contains(&p.as_str()))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "firewallProfile needs \"profile\": ENABLED, DISABLED or PROTECTED",
                    )
                })?;
            let nic = match args.get("nic") {
                None | Some(Value::Null) => None,
                Some(Value::String(n)) => Some(n.clone()),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "firewallProfile nic must be a NIC id such as nic-{}-0, not {other}",
                        s.id
                    )));
                }
            };
            request(&s.state, UserAction::SetFirewall).map_err(refused)?;
            state.store.set_server_firewall(s.id, nic, profile).await?;
            s.state
        }
        // Synnefo's reassign, as kamaki sends it: `{"reassign": {"project": P}}` → 200. A
        // user belongs to one project here, so only administrators move servers between
        // projects.
        "reassign" => {
            let project = args
                .get("project")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ApiError::bad_request("reassign needs \"project\": a project id"))?
                .to_owned();
            if project != who.user.project.id && !who.user.is_admin() {
                return Err(ApiError::forbidden(format!(
                    "you are not a member of project {project}"
                )));
            }
            if !state.store.reassign_server(s.id, project.clone()).await? {
                return Err(ApiError::not_found(format!("project {project} not found")));
            }
            return Ok(StatusCode::OK.into_response());
        }
        "console" => return super::console::console(&state, &s, &args, &base, format).await,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown action '{other}': use start, shutdown, reboot, firewallProfile, reassign or console"
            )));
        }
    };
    Ok(StatusCode::ACCEPTED.into_response())
}
