//! Server stats: `GET /servers/{id}/stats` answers with the URLs of six graphs — the
//! seed's four (CPU, network) and, as a cyclades extension, two of disk I/O — and
//! `GET /servers/{id}/stats/{graph}.svg` serves them, drawn from the compute backend's
//! samples (`src/graphs.rs`).
//!
//! The graphs are meant for an `<img>` tag, which sends no `X-Auth-Token`; so their URLs
//! carry an expiring signature instead, made with a per-deployment secret that the store
//! keeps:
//!
//! ```text
//! GET /compute/v2.0/servers/42/stats
//! {"stats": {"serverRef": 42, "refresh": 10,
//!   "cpuBar": "https://gw/compute/v2.0/servers/42/stats/cpu-bar.svg?expires=1714564800&sig=…",
//!   "cpuTimeSeries": "…/cpu-ts.svg?…", "netBar": "…/net-bar.svg?…", "netTimeSeries": "…/net-ts.svg?…",
//!   "diskBar": "…/disk-bar.svg?…", "diskTimeSeries": "…/disk-ts.svg?…"}}
//!
//! sig = hex(HMAC-SHA256(secret, "42:cpu-bar:1714564800"))
//! ```
//!
//! A URL works for [`URL_LIFETIME`] after the stats response handed it out; a client that
//! shows the graphs longer asks for the stats again (every `refresh` seconds is the rhythm
//! the seed suggests).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::servers::{changeable_server, parse_server_id};
use crate::domain::server::ServerStatus;
use crate::domain::time;
use crate::graphs::{self, Graph};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::links::Base;
use crate::http::negotiate::{Format, respond};
use crate::http::routes::Routes;
use crate::http::xml::{ATOM_NS, COMPUTE_NS};

/// How long a graph URL works after the stats response handed it out.
pub const URL_LIFETIME: Duration = Duration::from_secs(600);

/// Authenticated: the stats document.
pub fn routes(r: Routes) -> Routes {
    r.get("/compute/v2.0/servers/{server_id}/stats", stats)
}

/// Without `X-Auth-Token`: the graphs, authorised by their URL's signature.
pub fn public_routes(r: Routes) -> Routes {
    r.get("/compute/v2.0/servers/{server_id}/stats/{graph}", graph)
}

// ---------------------------------------------------------------------------------------
// signing

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], server_id: i64, graph: Graph, expires: i64) -> ApiResult<HmacSha256> {
    // HMAC takes a key of any length, so this cannot fail; a store handing back an odd
    // secret still must not panic a request.
    let mut m = HmacSha256::new_from_slice(secret).map_err(ApiError::internal)?;
    m.update(format!("{server_id}:{graph}:{expires}").as_bytes());
    Ok(m)
}

/// The `sig` of a graph URL, in hex.
pub fn sign(secret: &[u8], server_id: i64, graph: Graph, expires: i64) -> ApiResult<String> {
    Ok(hex::encode(
        mac(secret, server_id, graph, expires)?
            .finalize()
            .into_bytes(),
    ))
}

/// Checks a graph URL's `expires` and `sig` (compared in constant time) at `now` (Unix
/// seconds); a refusal is a 403 that says what is wrong with the URL.
pub fn verify(
    secret: &[u8],
    server_id: i64,
    graph: Graph,
    expires: Option<&str>,
    sig: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    let (Some(expires), Some(sig)) = (expires, sig) else {
        return Err(ApiError::forbidden(
            "a graph URL needs its expires and sig parameters: take the URLs from \
             GET /compute/v2.0/servers/{id}/stats",
        ));
    };
    let bad = || {
        ApiError::forbidden(
            "the graph URL's signature does not match: take the URLs from \
             GET /compute/v2.0/servers/{id}/stats unchanged",
        )
    };
    let expires: i64 = expires.parse().map_err(|_| bad())?;
    let sig = hex::decode(sig).map_err(|_| bad())?;
    mac(secret, server_id, graph, expires)?
        .verify_slice(&sig)
        .map_err(|_| bad())?;
    if now > expires {
        return Err(ApiError::forbidden(format!(
            "the graph URL expired {} s ago: get fresh URLs from \
             GET /compute/v2.0/servers/{server_id}/stats",
            now - expires
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// handlers

/// The seed's `refresh`: the sampling interval in whole seconds, rounded up (refreshing
/// faster than samples arrive shows nothing new), at least 1.
fn refresh_secs(interval: Duration) -> u64 {
    (interval.as_secs_f64().ceil() as u64).max(1)
}

/// `GET /servers/{id}/stats` — 200 `{"stats": {serverRef, refresh, cpuBar, cpuTimeSeries,
/// netBar, netTimeSeries, diskBar, diskTimeSeries}}`; 400 for a deleted server, 403 for a
/// suspended one, 404 for another user's.
async fn stats(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    base: Base,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = changeable_server(&state, &who, &id).await?;
    let secret = state.store.stats_secret().await?;
    let expires = time::now().timestamp() + URL_LIFETIME.as_secs() as i64;
    let mut urls = Vec::with_capacity(Graph::ALL.len());
    for g in Graph::ALL {
        let sig = sign(&secret, s.id, g, expires)?;
        let path = format!(
            "/compute/v2.0/servers/{}/stats/{g}.svg?expires={expires}&sig={sig}",
            s.id
        );
        urls.push((g.stats_key(), base.url(&path)));
    }
    let refresh = refresh_secs(state.backend.sample_interval());
    let mut body = Map::new();
    body.insert("serverRef".into(), json!(s.id));
    body.insert("refresh".into(), json!(refresh));
    for (key, url) in &urls {
        body.insert((*key).into(), json!(url));
    }
    Ok(respond(
        format,
        StatusCode::OK,
        &json!({ "stats": Value::Object(body) }),
        |x| {
            let (id, refresh) = (s.id.to_string(), refresh.to_string());
            let mut attrs = vec![
                ("xmlns", COMPUTE_NS),
                ("xmlns:atom", ATOM_NS),
                ("serverRef", id.as_str()),
                ("refresh", refresh.as_str()),
            ];
            attrs.extend(urls.iter().map(|(k, u)| (*k, u.as_str())));
            x.empty("stats", &attrs);
        },
    ))
}

#[derive(Deserialize)]
struct Signed {
    expires: Option<String>,
    sig: Option<String>,
}

/// `GET /servers/{id}/stats/{graph}.svg?expires=…&sig=…` (no `X-Auth-Token`) — 200
/// `image/svg+xml`; 403 for a missing, wrong or expired signature and for a suspended
/// server, 404 for an unknown graph and for a server that is gone or deleted.
async fn graph(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    Query(q): Query<Signed>,
) -> ApiResult<Response> {
    let graph = file
        .strip_suffix(".svg")
        .and_then(Graph::from_name)
        .ok_or_else(|| {
            let names: Vec<String> = Graph::ALL.iter().map(|g| format!("{g}.svg")).collect();
            ApiError::not_found(format!(
                "no graph '{file}': the graphs are {}",
                names.join(", ")
            ))
        })?;
    let id = parse_server_id(&id)?;
    let secret = state.store.stats_secret().await?;
    // The signature before the store: an unsigned request learns nothing of the server.
    verify(
        &secret,
        id,
        graph,
        q.expires.as_deref(),
        q.sig.as_deref(),
        time::now().timestamp(),
    )?;
    let server = state
        .store
        .get_server(id)
        .await?
        .filter(|s| s.state.status != ServerStatus::Deleted)
        .ok_or_else(|| ApiError::not_found(format!("server {id} not found")))?;
    if server.suspended {
        return Err(ApiError::forbidden(format!(
            "server {id} is administratively suspended: ask the operator"
        )));
    }
    let samples = state.backend.samples(id).await;
    let interval = state.backend.sample_interval();
    // Hundreds of samples take a few milliseconds to draw: off the async runtime.
    let svg = tokio::task::spawn_blocking(move || graphs::render(graph, id, &samples, interval))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mut resp = svg.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Opened on its own, the document runs nothing and loads nothing.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::fault::Fault;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_714_564_800;

    fn check(id: i64, g: Graph, expires: &str, sig: &str, now: i64) -> ApiResult<()> {
        verify(SECRET, id, g, Some(expires), Some(sig), now)
    }

    #[test]
    fn a_signed_url_verifies_until_it_expires() {
        let exp = NOW + 600;
        let sig = sign(SECRET, 42, Graph::CpuBar, exp).unwrap();
        assert_eq!(sig.len(), 64);
        check(42, Graph::CpuBar, &exp.to_string(), &sig, NOW).unwrap();
        check(42, Graph::CpuBar, &exp.to_string(), &sig, exp).unwrap();
        let late = check(42, Graph::CpuBar, &exp.to_string(), &sig, exp + 1).unwrap_err();
        assert_eq!(late.fault, Fault::Forbidden);
        assert!(late.message.contains("expired"), "{}", late.message);
    }

    #[test]
    fn tampering_with_any_part_is_refused() {
        let exp = NOW + 600;
        let sig = sign(SECRET, 42, Graph::NetTimeSeries, exp).unwrap();
        let e = exp.to_string();
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        let refused = [
            check(42, Graph::NetTimeSeries, &e, &flipped, NOW),
            check(43, Graph::NetTimeSeries, &e, &sig, NOW),
            check(42, Graph::NetBar, &e, &sig, NOW),
            check(
                42,
                Graph::NetTimeSeries,
                &(exp + 3600).to_string(),
                &sig,
                NOW,
            ),
            check(42, Graph::NetTimeSeries, &e, &sig[..62], NOW),
            check(42, Graph::NetTimeSeries, &e, "not hex", NOW),
            check(42, Graph::NetTimeSeries, "soon", &sig, NOW),
            verify(
                b"another deployment",
                42,
                Graph::NetTimeSeries,
                Some(&e),
                Some(&sig),
                NOW,
            ),
            verify(SECRET, 42, Graph::NetTimeSeries, Some(&e), None, NOW),
            verify(SECRET, 42, Graph::NetTimeSeries, None, Some(&sig), NOW),
        ];
        for (i, r) in refused.into_iter().enumerate() {
            let err = r.expect_err(&format!("case {i} accepted"));
            assert_eq!(err.fault, Fault::Forbidden, "case {i}");
        }
    }

    #[test]
    fn an_expired_url_with_a_valid_signature_says_it_expired() {
        let exp = NOW - 5;
        let sig = sign(SECRET, 1, Graph::CpuTimeSeries, exp).unwrap();
        let err = check(1, Graph::CpuTimeSeries, &exp.to_string(), &sig, NOW).unwrap_err();
        assert!(err.message.contains("expired 5 s ago"), "{}", err.message);
    }

    #[test]
    fn refresh_is_whole_seconds_at_least_one() {
        assert_eq!(refresh_secs(Duration::from_millis(200)), 1);
        assert_eq!(refresh_secs(Duration::from_secs(10)), 10);
        assert_eq!(refresh_secs(Duration::from_millis(10_400)), 11);
    }
}
