//! Images: `GET|POST /v2/images`, `GET|PATCH|DELETE /v2/images/{id}`,
//! `POST /v2/images/{id}/actions/deactivate|reactivate`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::access::{caller, owned_image, visible_image};
use crate::domain::image::{self, ImageEvent, ImageStatus, MemberStatus, PatchFormat, transition};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;
use crate::store::{CmpOp, ImageQuery, ImageSortKey, MemberStatusFilter, VisibilityFilter};

pub fn routes(r: Routes) -> Routes {
    r.get("/image/v2/images", list)
        .post("/image/v2/images", create)
        .get("/image/v2/images/{image_id}", show)
        .patch("/image/v2/images/{image_id}", update)
        .delete("/image/v2/images/{image_id}", delete)
        .post("/image/v2/images/{image_id}/actions/deactivate", deactivate)
        .post("/image/v2/images/{image_id}/actions/reactivate", reactivate)
}

fn bad(m: String) -> ApiError {
    ApiError::bad_request(m)
}

fn parse_u64(key: &str, v: &str) -> ApiResult<u64> {
    v.parse()
        .map_err(|_| bad(format!("{key} '{v}' is not a non-negative integer")))
}

/// `gt:2016-12-01T00:00:00Z` and friends; a bare timestamp means `eq:`.
fn parse_time_filter(key: &str, v: &str) -> ApiResult<(CmpOp, time::Timestamp)> {
    let (op, t) = match v.split_once(':') {
        Some((op, rest)) if ["gt", "gte", "lt", "lte", "eq", "neq"].contains(&op) => (op, rest),
        _ => ("eq", v),
    };
    let op = match op {
        "gt" => CmpOp::Gt,
        "gte" => CmpOp::Gte,
        "lt" => CmpOp::Lt,
        "lte" => CmpOp::Lte,
        "neq" => CmpOp::Neq,
        _ => CmpOp::Eq,
    };
    let t = chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            bad(format!(
                "invalid {key} '{v}': expected [gt|gte|lt|lte|eq|neq:]ISO 8601, e.g. \
                 gte:2016-12-01T00:00:00Z"
            ))
        })?;
    Ok((op, t))
}

fn parse_bool(key: &str, v: &str) -> ApiResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(format!("{key} '{v}' must be true or false"))),
    }
}

/// Builds the store query from Glance's list parameters.
fn list_query(
    state: &AppState,
    who: &crate::domain::identity::Identity,
    raw: &str,
) -> ApiResult<ImageQuery> {
    let cfg = &state.config;
    let mut q = ImageQuery::visible_to(
        &who.user.project.id,
        who.user.is_admin(),
        cfg.image_list_default_limit,
    );
    q.sort.clear();
    let (mut keys, mut dirs) = (Vec::<String>::new(), Vec::<String>::new());
    let mut member_status: Option<MemberStatusFilter> = None;
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let (k, v) = (k.as_ref(), v.as_ref());
        match k {
            "limit" => {
                let n = parse_u64(k, v)?;
                q.limit = n.clamp(0, cfg.image_list_max_limit as u64) as u32;
            }
            "marker" => q.marker = Some(v.to_owned()),
            "sort_key" => keys.extend(v.split(',').map(|s| s.trim().to_owned())),
            "sort_dir" => dirs.extend(v.split(',').map(|s| s.trim().to_owned())),
            "sort" => {
                for part in v.split(',') {
                    let (key, dir) = part.split_once(':').unwrap_or((part, "desc"));
                    keys.push(key.trim().to_owned());
                    dirs.push(dir.trim().to_owned());
                }
            }
            "name" => q.name = Some(v.to_owned()),
            "owner" => q.owner = Some(v.to_owned()),
            "disk_format" => q.disk_format = Some(v.to_owned()),
            "container_format" => q.container_format = Some(v.to_owned()),
            "checksum" => q.checksum = Some(v.to_owned()),
            "os_hash_value" => q.os_hash_value = Some(v.to_owned()),
            "status" => {
                q.status = Some(v.parse::<ImageStatus>().map_err(bad)?);
            }
            "visibility" => {
                q.visibility = match v {
                    "public" => VisibilityFilter::Public,
                    "private" => VisibilityFilter::Private,
                    "shared" => VisibilityFilter::Shared,
                    "community" => VisibilityFilter::Community,
                    "all" => VisibilityFilter::All,
                    _ => {
                        return Err(bad(format!(
                            "visibility '{v}' must be public, private, shared, community or all"
                        )));
                    }
                }
            }
            "member_status" => {
                member_status = Some(if v == "all" {
                    MemberStatusFilter::All
                } else {
                    MemberStatusFilter::Only(v.parse::<MemberStatus>().map_err(bad)?)
                });
            }
            "tag" => q.tags.push(v.to_owned()),
            "size_min" => q.size_min = Some(parse_u64(k, v)?),
            "size_max" => q.size_max = Some(parse_u64(k, v)?),
            "created_at" => q.created_at.push(parse_time_filter(k, v)?),
            "updated_at" => q.updated_at.push(parse_time_filter(k, v)?),
            "os_hidden" => q.os_hidden = Some(parse_bool(k, v)?),
            // Representation flags are not filters.
            "json" | "xml" => {}
            _ => q.properties.push((k.to_owned(), v.to_owned())),
        }
    }
    if let Some(ms) = member_status {
        q.member_status = ms;
    } else if q.visibility == VisibilityFilter::Shared {
        q.member_status = MemberStatusFilter::All;
    }
    if keys.is_empty() {
        keys.push("created_at".into());
    }
    if dirs.len() > keys.len() {
        return Err(bad(
            "there are more sort_dir values than sort_key values".into()
        ));
    }
    for (i, key) in keys.iter().enumerate() {
        let key: ImageSortKey = key.parse().map_err(bad)?;
        let dir = dirs
            .get(i)
            .or(dirs.last())
            .map(String::as_str)
            .unwrap_or("desc");
        let asc = match dir {
            "asc" => true,
            "desc" => false,
            _ => return Err(bad(format!("sort_dir '{dir}' must be asc or desc"))),
        };
        q.sort.push((key, asc));
    }
    Ok(q)
}

/// `GET /v2/images` — 200 `{"images": […], "schema", "first", "next"?}`.
async fn list(State(state): State<AppState>, Caller(who): Caller, uri: Uri) -> ApiResult<Response> {
    let raw = uri.query().unwrap_or("");
    let mut q = list_query(&state, &who, raw)?;
    let limit = q.limit as usize;
    q.limit = q.limit.saturating_add(1);
    let mut found = state.store.list_images(q).await.map_err(|e| match e {
        crate::store::StoreError::NotFound(m) => ApiError::bad_request(m),
        other => other.into(),
    })?;
    let more = found.len() > limit;
    found.truncate(limit);
    let c = caller(&state, &who);
    let images: Vec<Value> = found.iter().map(|i| image::view(i, &c)).collect();
    // first/next keep every parameter but the marker.
    let rest: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let encode = |extra: Option<&str>| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if let Some(m) = extra {
            s.append_pair("marker", m);
        }
        for (k, v) in &rest {
            s.append_pair(k, v);
        }
        let q = s.finish();
        if q.is_empty() {
            "/v2/images".to_owned()
        } else {
            format!("/v2/images?{q}")
        }
    };
    let mut body = json!({"images": images, "schema": "/v2/schemas/images", "first": encode(None)});
    if more && let Some(last) = found.last() {
        body["next"] = json!(encode(Some(&last.id)));
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /v2/images` — 201 with the new (queued) image.
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let c = caller(&state, &who);
    let img = image::create(&body, &c, time::now())?;
    check_counts(&state, &img)?;
    super::metadefs::check_image_properties(&state, &img, None).await?;
    state.store.create_image(img.clone()).await?;
    let mut resp = json_response(StatusCode::CREATED, &image::view(&img, &c));
    if let Ok(v) = format!("/image/v2/images/{}", img.id).parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The operator's limits on tags and properties (413 past them, as Glance's quotas).
pub fn check_counts(state: &AppState, img: &image::Image) -> ApiResult<()> {
    let cfg = &state.config;
    if img.tags.len() > cfg.image_max_tags {
        return Err(ApiError::over_limit(format!(
            "an image may have at most {} tags",
            cfg.image_max_tags
        )));
    }
    if img.properties.len() > cfg.image_max_properties {
        return Err(ApiError::over_limit(format!(
            "an image may have at most {} properties",
            cfg.image_max_properties
        )));
    }
    Ok(())
}

/// `GET /v2/images/{id}` — 200, or 404 when missing or not visible.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &image::view(&img, &caller(&state, &who)),
    ))
}

/// `PATCH /v2/images/{id}` — 200 with the patched image; 415 for other media types than the
/// two JSON Patch ones; 403 for read-only attributes; 400 for an invalid result. Nothing is
/// written unless the whole patch applies.
async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = PatchFormat::from_content_type(ct)?;
    let img = owned_image(&state, &who, &id).await?;
    let c = caller(&state, &who);
    let new = image::patch(&img, format, &body, &c, time::now())?;
    check_counts(&state, &new)?;
    super::metadefs::check_image_properties(&state, &new, Some(&img)).await?;
    state
        .store
        .update_image(new.clone(), img.updated_at)
        .await?;
    Ok(json_response(StatusCode::OK, &image::view(&new, &c)))
}

/// `DELETE /v2/images/{id}` — 204; 403 while `protected`.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    delete_owned(&state, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes an image the caller owns (record, then data); shared with the compute view.
pub(crate) async fn delete_owned(
    state: &AppState,
    who: &crate::domain::identity::Identity,
    id: &str,
) -> ApiResult<()> {
    let img = owned_image(state, who, id).await?;
    if img.protected {
        return Err(ApiError::forbidden(format!(
            "image {id} is protected: set protected to false before deleting it"
        )));
    }
    transition(img.status, ImageEvent::Delete)?;
    if !state.store.delete_image(id).await? {
        return Err(super::access::not_found(id));
    }
    // The record goes first: a crash in between leaves an orphan file (wasted space), never
    // a record whose data is missing.
    if let Err(e) = state.images.delete(id).await {
        tracing::warn!(image = %id, "could not remove image data: {e}");
    }
    Ok(())
}

async fn status_action(
    state: &AppState,
    who: &crate::domain::identity::Identity,
    id: &str,
    ev: ImageEvent,
) -> ApiResult<Response> {
    let img = visible_image(state, who, id).await?;
    if !who.user.is_admin() {
        return Err(ApiError::forbidden(
            "only administrators may deactivate or reactivate images",
        ));
    }
    let to = transition(img.status, ev)?;
    if to != img.status {
        let mut new = img.clone();
        new.status = to;
        new.updated_at = time::now();
        state.store.update_image(new, img.updated_at).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v2/images/{id}/actions/deactivate` — 204 (admins).
async fn deactivate(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    status_action(&state, &who, &id, ImageEvent::Deactivate).await
}

/// `POST /v2/images/{id}/actions/reactivate` — 204 (admins).
async fn reactivate(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    status_action(&state, &who, &id, ImageEvent::Reactivate).await
}
