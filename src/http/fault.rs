//! One error type for every API, rendered in each API's own fault format.
//!
//! Handlers return [`ApiError`]. Each API's router is wrapped by a renderer
//! ([`render_faults`]) that negotiates the representation, and turns
//! every error response — ours, axum's rejections, body-limit and timeout layers, a caught
//! panic — into that API's fault body, so no client ever sees a bare text error.
//!
//! ```text
//! {"badRequest": {"code": 400, "message": "…", "details": "…"}}
//! <badRequest xmlns="http://docs.openstack.org/compute/api/v1.1" code="400">
//!   <message>…</message><details>…</details></badRequest>
//! ```

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::negotiate::{self, Format};
use super::xml::Xml;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    BadRequest,
    Unauthorized,
    Forbidden,
    ItemNotFound,
    Conflict,
    BuildInProgress,
    RequestTimeout,
    OverLimit,
    BadMediaType,
    RangeNotSatisfiable,
    NetworkInUse,
    ComputeFault,
    ServiceUnavailable,
}

impl Fault {
    pub fn status(self) -> StatusCode {
        match self {
            Fault::BadRequest => StatusCode::BAD_REQUEST,
            Fault::Unauthorized => StatusCode::UNAUTHORIZED,
            Fault::Forbidden => StatusCode::FORBIDDEN,
            Fault::ItemNotFound => StatusCode::NOT_FOUND,
            Fault::Conflict | Fault::BuildInProgress => StatusCode::CONFLICT,
            Fault::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Fault::OverLimit => StatusCode::PAYLOAD_TOO_LARGE,
            Fault::BadMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Fault::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            // 421 is Cyclades' own "network in use" code.
            Fault::NetworkInUse => StatusCode::MISDIRECTED_REQUEST,
            Fault::ComputeFault => StatusCode::INTERNAL_SERVER_ERROR,
            Fault::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The fault's name as Cyclades/OpenStack Compute v1.1 spell it.
    pub fn name(self) -> &'static str {
        match self {
            Fault::BadRequest => "badRequest",
            Fault::Unauthorized => "unauthorized",
            Fault::Forbidden => "forbidden",
            Fault::ItemNotFound => "itemNotFound",
            Fault::Conflict => "conflict",
            Fault::BuildInProgress => "buildInProgress",
            Fault::RequestTimeout => "requestTimeout",
            Fault::OverLimit => "overLimit",
            Fault::BadMediaType => "badMediaType",
            Fault::RangeNotSatisfiable => "rangeNotSatisfiable",
            Fault::NetworkInUse => "networkInUse",
            Fault::ComputeFault => "computeFault",
            Fault::ServiceUnavailable => "serviceUnavailable",
        }
    }

    fn from_status(status: StatusCode) -> Fault {
        match status.as_u16() {
            401 => Fault::Unauthorized,
            403 => Fault::Forbidden,
            404 => Fault::ItemNotFound,
            408 => Fault::RequestTimeout,
            409 => Fault::Conflict,
            413 => Fault::OverLimit,
            415 => Fault::BadMediaType,
            416 => Fault::RangeNotSatisfiable,
            421 => Fault::NetworkInUse,
            503 => Fault::ServiceUnavailable,
            500..=599 => Fault::ComputeFault,
            _ => Fault::BadRequest,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub fault: Fault,
    pub message: String,
    pub details: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(fault: Fault, message: impl Into<String>) -> ApiError {
        ApiError {
            fault,
            message: message.into(),
            details: None,
        }
    }
    pub fn with_details(mut self, details: impl Into<String>) -> ApiError {
        self.details = Some(details.into());
        self
    }
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(Fault::BadRequest, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> ApiError {
        ApiError::new(Fault::Unauthorized, m)
    }
    pub fn forbidden(m: impl Into<String>) -> ApiError {
        ApiError::new(Fault::Forbidden, m)
    }
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(Fault::ItemNotFound, m)
    }
    pub fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(Fault::Conflict, m)
    }
    pub fn over_limit(m: impl Into<String>) -> ApiError {
        ApiError::new(Fault::OverLimit, m)
    }
    pub fn bad_media_type(m: impl Into<String>) -> ApiError {
        ApiError::new(Fault::BadMediaType, m)
    }
    /// An internal failure: `cause` goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            Fault::ComputeFault,
            "the gateway failed to complete the request; quote the X-Openstack-Request-Id \
             response header when reporting it",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.fault.name(),
            self.fault.status(),
            self.message
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Limit(m) => ApiError::over_limit(m),
            StoreError::Busy => ApiError::new(
                Fault::ServiceUnavailable,
                "the gateway is busy; retry in a moment",
            ),
            StoreError::Full => ApiError::over_limit(
                "the gateway's storage is full; nothing was written. Ask the operator to free space",
            ),
            StoreError::Internal(m) => ApiError::internal(m),
        }
    }
}

/// Which API's fault format to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Compute, network, identity and account: Cyclades faults, JSON or XML.
    Compute,
    /// Image API v2: Glance-style JSON errors.
    Image,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Rendered as a compute JSON fault here; the API's renderer re-renders it in the
        // negotiated format from the copy kept in the extensions.
        let mut resp = render(Api::Compute, Format::Json, &self);
        resp.extensions_mut().insert(self);
        resp
    }
}

pub fn render(api: Api, format: Format, err: &ApiError) -> Response {
    let status = err.fault.status();
    let details = err.details.clone().unwrap_or_default();
    let (body, content_type) = match (api, format) {
        (Api::Compute, Format::Json) => (
            json!({ err.fault.name(): {
                "code": status.as_u16(), "message": err.message, "details": details
            }})
            .to_string()
            .into_bytes(),
            negotiate::JSON,
        ),
        (Api::Compute, Format::Xml) => {
            let mut x = Xml::new();
            let code = status.as_u16().to_string();
            x.start_root(err.fault.name(), &[("code", &code)]);
            x.text_element("message", &[], &err.message);
            x.text_element("details", &[], &details);
            x.end(err.fault.name());
            (x.finish(), negotiate::XML)
        }
        // Every top-level value is an object with a `message`: glanceclient reads the error
        // text as `[v.get('message') for v in body.values()]`.
        (Api::Image, _) => (
            json!({ "error": { "code": status.as_u16(),
                "title": status.canonical_reason().unwrap_or("Error"),
                "message": err.message, "details": details } })
            .to_string()
            .into_bytes(),
            negotiate::JSON,
        ),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// What a fault renderer knows: its API's format, and the methods each of its route
/// templates allows (for the "wrong method" message).
pub struct Renderer {
    pub api: Api,
    pub allowed: std::collections::HashMap<&'static str, String>,
}

impl Renderer {
    pub fn new(api: Api, routes: &[super::routes::RouteInfo]) -> std::sync::Arc<Renderer> {
        let mut allowed: std::collections::HashMap<&'static str, String> = Default::default();
        for r in routes {
            let entry = allowed.entry(r.path).or_default();
            if !entry.is_empty() {
                entry.push_str(", ");
            }
            entry.push_str(r.method);
        }
        std::sync::Arc::new(Renderer { api, allowed })
    }
}

/// Middleware rendering every error response of one API in that API's fault format.
pub async fn render_faults(
    axum::extract::State(r): axum::extract::State<std::sync::Arc<Renderer>>,
    mut req: Request,
    next: Next,
) -> Response {
    let api = r.api;
    let format = match negotiate::from_request(req.uri(), req.headers()) {
        Ok(f) => f,
        Err(e) => return render(api, Format::Json, &e),
    };
    req.extensions_mut().insert(format);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let allowed = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .and_then(|m| r.allowed.get(m.as_str()))
        .cloned()
        .unwrap_or_default();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let err = match resp.extensions().get::<ApiError>() {
        Some(e) => e.clone(),
        None => foreign_error(resp, &method, &path, &allowed).await,
    };
    let mut out = render(api, format, &err);
    if method == Method::HEAD {
        *out.body_mut() = Body::empty();
    }
    out
}

/// Turns an error response that did not come from an [`ApiError`] (axum's rejections,
/// tower-http layers, a caught panic) into one, keeping the useful part of its text.
async fn foreign_error(resp: Response, method: &Method, path: &str, allowed: &str) -> ApiError {
    let status = resp.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        let msg = format!("method {method} is not allowed on {path}; allowed: {allowed}");
        // The seed's Overview: a wrong method is a badRequest fault, not a 405.
        return ApiError::bad_request(msg);
    }
    if status.is_server_error() {
        return ApiError::internal(format!("{status} from a layer on {method} {path}"));
    }
    let text = axum::body::to_bytes(resp.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than this endpoint accepts".to_owned()
        }
        StatusCode::REQUEST_TIMEOUT => "the request took too long and was abandoned".to_owned(),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
        _ => text,
    };
    ApiError::new(Fault::from_status(status), message)
}

/// The response a caught panic becomes: a computeFault, with the panic only in the log.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::internal(format!("handler panicked: {what}")).into_response()
}
