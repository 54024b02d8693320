//! `X-Auth-Token` on every compute, network and image route: missing, unknown, revoked or
//! expired tokens get a 401 fault before any handler runs.

use axum::Extension;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::fault::{ApiError, ApiResult};
use crate::domain::identity::{Identity, token_hash};
use crate::domain::time;

pub const TOKEN_HEADER: &str = "x-auth-token";

pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Identity> {
    let found = state
        .store
        .token_user(token_hash(token), time::now())
        .await?;
    match found {
        Some((user, token_expires)) => Ok(Identity {
            user,
            token_expires,
        }),
        None => Err(ApiError::unauthorized(
            "the X-Auth-Token is unknown, revoked or expired: get a new one from \
             POST /identity/v2.0/tokens",
        )),
    }
}

pub fn token_of(parts_headers: &axum::http::HeaderMap) -> Option<&str> {
    parts_headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Middleware: resolves the token into an [`Identity`] kept in the request's extensions.
pub async fn require_token(
    Extension(state): Extension<AppState>,
    mut req: Request,
    next: Next,
) -> ApiResult<Response> {
    let Some(token) = token_of(req.headers()) else {
        return Err(ApiError::unauthorized(
            "this request needs an X-Auth-Token header: get a token from \
             POST /identity/v2.0/tokens or with `cyclades token issue USER`",
        ));
    };
    let identity = authenticate(&state, token).await?;
    req.extensions_mut().insert(identity);
    Ok(next.run(req).await)
}

/// The authenticated caller of a handler behind [`require_token`].
pub struct Caller(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Caller> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::internal("route without authentication asked for a caller"))
    }
}
