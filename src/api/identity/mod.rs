//! Identity enough for real clients: Keystone-v2.0-style `POST /identity/v2.0/tokens` with
//! the service catalog kamaki reads, and Astakos' `POST /account/v1.0/user_catalogs`.
//! See `../shared/CLIENTS.md` for what each client needs of these shapes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::identity::{User, new_token, token_hash, verify_password};
use crate::domain::time::{self, Timestamp};
use crate::http::AppState;
use crate::http::auth::{Caller, authenticate};
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::links::Base;
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;
use crate::store::Store;

/// Routes that need no token (the token endpoint is how one gets a token).
pub fn public_routes() -> Routes {
    Routes::new().post("/identity/v2.0/tokens", issue_token)
}

/// Routes behind `X-Auth-Token`.
pub fn routes() -> Routes {
    Routes::new().post("/account/v1.0/user_catalogs", user_catalogs)
}

#[derive(Deserialize)]
struct TokenRequest {
    auth: AuthBody,
}

#[derive(Deserialize)]
struct AuthBody {
    token: Option<TokenCredentials>,
    #[serde(rename = "passwordCredentials")]
    password_credentials: Option<PasswordCredentials>,
    #[serde(rename = "tenantName")]
    tenant_name: Option<String>,
    #[serde(rename = "tenantId")]
    tenant_id: Option<String>,
}

#[derive(Deserialize)]
struct TokenCredentials {
    id: String,
}

#[derive(Deserialize)]
struct PasswordCredentials {
    username: String,
    password: String,
}

/// Issues a token for `user` valid for the configured lifetime.
pub async fn issue_for(
    store: &Arc<dyn Store>,
    ttl_secs: u64,
    user: &User,
) -> ApiResult<(String, Timestamp)> {
    let token = new_token();
    let ttl = chrono::Duration::seconds(ttl_secs.min(i64::MAX as u64) as i64);
    let expires = time::now() + ttl;
    store
        .insert_token(token_hash(&token), user.id.clone(), expires)
        .await?;
    Ok((token, expires))
}

/// `POST /identity/v2.0/tokens` — 200 with `access` (token, user, serviceCatalog) for token
/// credentials (kamaki: the same token comes back) or password credentials (a new token);
/// 401 for unknown credentials or a project the user is not in.
async fn issue_token(
    State(state): State<AppState>,
    base: Base,
    JsonBody(req): JsonBody<TokenRequest>,
) -> ApiResult<Response> {
    let auth = req.auth;
    let (token, user, expires) = match (auth.token, auth.password_credentials) {
        (Some(t), _) => {
            let identity = authenticate(&state, t.id.trim()).await?;
            (
                t.id.trim().to_owned(),
                identity.user,
                identity.token_expires,
            )
        }
        (None, Some(p)) => {
            let denied = || ApiError::unauthorized("wrong user name or password");
            let user = state
                .store
                .user_by_name(&p.username)
                .await?
                .ok_or_else(denied)?;
            let hash = user.password_hash.clone().ok_or_else(denied)?;
            // Argon2 is deliberately slow: keep it off the async workers.
            let ok = tokio::task::spawn_blocking(move || verify_password(&p.password, &hash))
                .await
                .map_err(ApiError::internal)?;
            if !ok {
                return Err(denied());
            }
            let (token, expires) =
                issue_for(&state.store, state.config.token_ttl_secs, &user).await?;
            (token, user, expires)
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "auth needs either \"token\": {\"id\": …} or \"passwordCredentials\": \
                 {\"username\": …, \"password\": …}",
            ));
        }
    };
    let project = &user.project;
    let wrong_tenant = auth.tenant_id.as_deref().is_some_and(|t| t != project.id)
        || auth
            .tenant_name
            .as_deref()
            .is_some_and(|t| t != project.name && t != project.id);
    if wrong_tenant {
        return Err(ApiError::unauthorized(format!(
            "user '{}' is not a member of the requested project",
            user.name
        )));
    }
    Ok(json_response(
        StatusCode::OK,
        &access_document(&state, &base, &token, &user, &expires),
    ))
}

fn access_document(
    state: &AppState,
    base: &Base,
    token: &str,
    user: &User,
    expires: &Timestamp,
) -> Value {
    let region = &state.config.region;
    let endpoint = |url: String| json!({"region": region, "publicURL": url, "internalURL": url, "adminURL": url});
    let mut account = endpoint(base.url("/account/v1.0"));
    account["versionId"] = json!("v1.0");
    // kamaki fails on every command when the account endpoint lacks this key.
    account["SNF:uiURL"] = json!(base.url("/ui"));
    let service = |name: &str, kind: &str, ep: Value| json!({"name": name, "type": kind, "endpoints": [ep], "endpoints_links": []});
    let roles: Vec<Value> = user
        .roles
        .iter()
        .map(|r| json!({"name": r.as_str()}))
        .collect();
    json!({"access": {
        "token": {
            "id": token,
            "expires": time::iso(expires),
            "tenant": {"id": user.project.id, "name": user.project.name},
        },
        "user": {
            "id": user.id,
            "name": user.name,
            "username": user.name,
            "roles": roles,
            "roles_links": [],
        },
        "serviceCatalog": [
            service("astakos_account", "account", account),
            service("astakos_identity", "identity", endpoint(base.url("/identity/v2.0"))),
            service("cyclades_compute", "compute", endpoint(base.url("/compute"))),
            service("cyclades_network", "network", endpoint(base.url("/network"))),
            service("cyclades_plankton", "image", endpoint(base.url("/image"))),
        ],
        "metadata": {"is_admin": if user.is_admin() { 1 } else { 0 }, "roles": []},
    }})
}

#[derive(Deserialize)]
struct CatalogRequest {
    #[serde(default)]
    uuids: Vec<String>,
    #[serde(default)]
    displaynames: Vec<String>,
}

/// `POST /account/v1.0/user_catalogs` — 200 with `uuid_catalog` (user or project id → name) and
/// `displayname_catalog` (name → id) for the ids and names asked; unknown ones are left out.
async fn user_catalogs(
    State(state): State<AppState>,
    _caller: Caller,
    JsonBody(req): JsonBody<CatalogRequest>,
) -> ApiResult<Response> {
    const MAX: usize = 1000;
    if req.uuids.len() + req.displaynames.len() > MAX {
        return Err(ApiError::bad_request(format!(
            "ask for at most {MAX} users at once"
        )));
    }
    let by_id = state.store.user_names(req.uuids).await?;
    let by_name = state.store.user_ids(req.displaynames).await?;
    let uuid_catalog: serde_json::Map<String, Value> = by_id
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let name_catalog: serde_json::Map<String, Value> = by_name
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"uuid_catalog": uuid_catalog, "displayname_catalog": name_catalog}),
    ))
}
