//! The route table of every API and the layers around it.
//!
//! ```text
//! request id ─► access log ─► CORS ─► per-API: fault renderer ─► panic catcher ─► timeout
//!            ─► body limit ─► auth (X-Auth-Token) ─► handler
//! ```

pub mod compute;
pub mod identity;
pub mod image;
pub mod network;
pub mod plankton;
pub mod versions;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Router};
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Config;
use crate::http::AppState;
use crate::http::auth::require_token;
use crate::http::fault::{self, Api, ApiError, Renderer, panic_response, render_faults};
use crate::http::negotiate::{self, Format};
use crate::http::routes::{RouteInfo, Routes};

/// The OpenAPI 3.1 description served at `/api-docs/openapi.json`.
pub const OPENAPI: &str = include_str!("../../api-docs/openapi.json");

pub const REQUEST_ID: &str = "x-openstack-request-id";

/// Layers shared by the APIs that speak Cyclades faults and JSON request bodies.
fn compute_stack(
    routes: Routes,
    authed: bool,
    cfg: &Config,
    all: &mut Vec<RouteInfo>,
) -> Router<AppState> {
    let (mut router, list) = routes.into_parts();
    if authed && !list.is_empty() {
        router = router.route_layer(middleware::from_fn(require_token));
    }
    router = router
        .layer(DefaultBodyLimit::max(cfg.max_json_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(cfg.request_timeout_secs),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            Renderer::new(Api::Compute, &list),
            render_faults,
        ));
    all.extend(list);
    router
}

fn image_stack(routes: Routes, cfg: &Config, all: &mut Vec<RouteInfo>) -> Router<AppState> {
    let (mut router, list) = routes.into_parts();
    if !list.is_empty() {
        router = router.route_layer(middleware::from_fn(require_token));
    }
    let renderer = Renderer::new(Api::Image, &list);
    all.extend(list);
    router
        .layer(DefaultBodyLimit::max(cfg.max_json_body))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(renderer, render_faults))
}

/// Plankton (`/image/v1.0`): Cyclades faults like compute, but no request timeout, since
/// `POST`/`PUT` may stream image data as a v2 upload does.
fn plankton_stack(routes: Routes, cfg: &Config, all: &mut Vec<RouteInfo>) -> Router<AppState> {
    let (router, list) = routes.into_parts();
    let renderer = Renderer::new(Api::Compute, &list);
    all.extend(list);
    router
        .route_layer(middleware::from_fn(require_token))
        .layer(DefaultBodyLimit::max(cfg.max_json_body))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(renderer, render_faults))
}

/// The console page, its library and its websocket: no `X-Auth-Token` (a browser opening a
/// link can't send one; the one-time token authenticates), no body and no request timeout
/// (a websocket lives as long as its console); faults as the compute API renders them.
fn console_stack(routes: Routes, all: &mut Vec<RouteInfo>) -> Router<AppState> {
    let (router, list) = routes.into_parts();
    let renderer = Renderer::new(Api::Compute, &list);
    all.extend(list);
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(renderer, render_faults))
}

/// Every route with its API's layers, and the list of what is routed.
pub fn build(cfg: &Config) -> (Router<AppState>, Vec<RouteInfo>) {
    let mut all = Vec::new();
    let router = Router::new()
        .merge(compute_stack(versions::routes(), false, cfg, &mut all))
        .merge(compute_stack(
            identity::public_routes(),
            false,
            cfg,
            &mut all,
        ))
        .merge(compute_stack(identity::routes(), true, cfg, &mut all))
        .merge(compute_stack(compute::routes(), true, cfg, &mut all))
        .merge(compute_stack(network::routes(), true, cfg, &mut all))
        .merge(compute_stack(
            compute::public_routes(),
            false,
            cfg,
            &mut all,
        ))
        .merge(image_stack(image::routes(), cfg, &mut all))
        .merge(plankton_stack(plankton::routes(), cfg, &mut all))
        .merge(console_stack(crate::console::page::routes(), &mut all));
    (router, all)
}

#[derive(Clone)]
struct OpenstackRequestId;

impl MakeRequestId for OpenstackRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("req-{}", uuid::Uuid::new_v4());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn cors(cfg: &Config) -> CorsLayer {
    let origin = if cfg.cors_allowed_origins.is_empty() {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(
            cfg.cors_allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([HeaderName::from_static(REQUEST_ID), header::LOCATION])
}

/// The whole gateway as one service.
pub fn app(state: AppState) -> Router {
    let (router, _) = build(&state.config);
    let request_id = HeaderName::from_static(REQUEST_ID);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // A console websocket's query is its one-time token: it stays out of the log.
            let uri = req.uri();
            if uri.path().starts_with("/console/") {
                let path = uri.path();
                tracing::info_span!("request", method = %req.method(), uri = %path, id)
            } else {
                tracing::info_span!("request", method = %req.method(), uri = %uri, id)
            }
        })
        .on_request(())
        .on_response(
            DefaultOnResponse::new()
                .level(tracing::Level::INFO)
                .latency_unit(LatencyUnit::Micros),
        );
    router
        .fallback(fallback)
        .layer(Extension(state.clone()))
        .layer(cors(&state.config))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(request_id, OpenstackRequestId))
        .with_state(state)
}

/// Unknown URLs: a badRequest fault, as the seed's Overview says (the Image API answers 404
/// like Glance). Version-less compute URLs — the `bookmark` links — redirect to v2.0.
async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path == plankton::PREFIX || path.starts_with(&format!("{}/", plankton::PREFIX)) {
        let err = ApiError::not_found(format!(
            "unknown URL {method} {path}: Plankton serves {0}/images/, {0}/images/detail, \
             {0}/images/{{id}} and {0}/images/{{id}}/members",
            plankton::PREFIX
        ));
        return fault::render(Api::Compute, Format::Json, &err);
    }
    if path.starts_with("/image/") {
        let err = ApiError::not_found(format!(
            "unknown URL {method} {path}: the Image API is under /image/v2/"
        ));
        return fault::render(Api::Image, Format::Json, &err);
    }
    if let Some(rest) = path.strip_prefix("/compute/") {
        let versioned = rest.starts_with("v2.0/") || rest == "v2.0";
        if !versioned && !rest.is_empty() && (method == Method::GET || method == Method::HEAD) {
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            return Redirect::permanent(&format!("/compute/v2.0/{rest}{query}")).into_response();
        }
    }
    let format = negotiate::from_request(&uri, &headers).unwrap_or(Format::Json);
    let err = ApiError::bad_request(format!(
        "unknown URL {method} {path}: GET / lists the services this gateway serves"
    ));
    fault::render(Api::Compute, format, &err)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;
    use crate::store::sqlite::SqliteStore;

    async fn boom() -> &'static str {
        panic!("secret internals")
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_compute_fault() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db"), 1).await.unwrap();
        let cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let (tx, _rx) = crate::backend::event_channel();
        let backend = Arc::new(crate::backend::SimulatedBackend::new(
            crate::backend::SimulatedConfig::default(),
            tx,
        ));
        let state = AppState::new(cfg.clone(), Arc::new(store), backend).unwrap();
        let routes = Routes::new().get("/boom", boom);
        let app = compute_stack(routes, false, &cfg, &mut Vec::new()).with_state(state);
        for accept in ["application/json", "application/xml"] {
            let req = axum::http::Request::get("/boom")
                .header("Accept", accept)
                .body(Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains("computeFault"), "{text}");
            assert!(!text.contains("secret"), "internals leaked: {text}");
        }
    }
}
