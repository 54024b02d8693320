//! The console's web front: the page (`web/console.html`, `web/console.js`, built into the
//! binary), the noVNC library it imports (served from the `@novnc/novnc` npm package's
//! directory, never from the repository), and the websocket.
//!
//! ```text
//! GET /console/#token=T         the page; the token stays in the fragment, off the wire
//! GET /console/console.js       the page's script
//! GET /console/novnc/core/…     noVNC's ES modules
//! GET /console/websocket?token  RFB over a websocket
//! ```

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::config::Config;
use crate::http::AppState;
use crate::http::fault::{ApiError, ApiResult, Fault};
use crate::http::routes::Routes;

const PAGE: &str = include_str!("../../web/console.html");
const SCRIPT: &str = include_str!("../../web/console.js");

/// Where npm installs noVNC in the source tree (`tests/clients/console_setup.sh`).
const NOVNC_IN_TREE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web/node_modules/@novnc/novnc");

pub fn routes() -> Routes {
    Routes::new()
        .get("/console/", page)
        .get("/console/console.js", script)
        .get("/console/novnc/{*path}", novnc)
        .get("/console/websocket", super::websocket::websocket)
}

/// The `@novnc/novnc` package directory: `console_novnc_dir`, else the source tree's.
pub fn novnc_dir(cfg: &Config) -> PathBuf {
    cfg.console_novnc_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(NOVNC_IN_TREE))
}

fn with_type(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The page holds no secret (the token is in the fragment), but must not be framed by
    // another site.
    resp.headers_mut().insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    resp
}

/// `GET /console/` — the console page.
async fn page() -> Response {
    with_type(PAGE, "text/html; charset=utf-8")
}

/// `GET /console/console.js` — the page's module script.
async fn script() -> Response {
    with_type(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /console/novnc/{path}` — a file of the noVNC package (its ES modules); 404 for
/// anything else; 503 when the package is not installed.
async fn novnc(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    let dir = novnc_dir(&state.config);
    if !dir.join("core/rfb.js").is_file() {
        return Err(ApiError::new(
            Fault::ServiceUnavailable,
            "the console page's library (@novnc/novnc) is not installed: run npm install in \
             web/ or set console_novnc_dir",
        ));
    }
    let rest = req
        .uri()
        .path()
        .strip_prefix("/console/novnc")
        .unwrap_or("/")
        .to_owned();
    let (mut parts, body) = req.into_parts();
    parts.uri = rest
        .parse()
        .map_err(|_| ApiError::not_found("no such file of the console's library"))?;
    // ServeDir refuses `..` and paths outside the directory.
    let resp = ServeDir::new(dir)
        .oneshot(Request::from_parts(parts, body))
        .await
        .map_err(ApiError::internal)?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(ApiError::not_found("no such file of the console's library"));
    }
    Ok(resp.map(Body::new))
}
