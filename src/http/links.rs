//! Absolute URLs for links and the service catalog: the configured `public_url`, else the
//! request's own scheme (`X-Forwarded-Proto` from a reverse proxy, else http) and `Host`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::Serialize;

use super::AppState;
use super::fault::ApiError;
use crate::config::Config;

/// The gateway's base URL, without a trailing slash.
#[derive(Debug, Clone)]
pub struct Base(pub String);

impl Base {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

pub fn base_url(config: &Config, headers: &HeaderMap) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    // Only well-formed host[:port] values go into links: a hostile Host header must not be
    // able to inject markup or other URLs into responses.
    let valid_host = |h: &&str| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(valid_host)
        .map(str::to_owned)
        .unwrap_or_else(|| config.listen.to_string());
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

impl FromRequestParts<AppState> for Base {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Base, ApiError> {
        Ok(Base(base_url(&state.config, &parts.headers)))
    }
}

/// A JSON link, `{"rel": "self", "href": "…"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub rel: &'static str,
    pub href: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<&'static str>,
}

impl Link {
    pub fn new(rel: &'static str, href: String) -> Link {
        Link {
            rel,
            href,
            media_type: None,
        }
    }
}
