//! Plankton images: `GET /images/` (a bare JSON list), `GET /images/detail`, `POST /images/`,
//! `HEAD|GET|PUT|DELETE /images/{id}`. Metadata travels in `X-Image-Meta-*` headers; the
//! records, uploads and deletes are the Image API v2's own.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::image::access::{caller, not_found, owned_image, visible_image};
use crate::api::image::data::{data_response, header_u64, receive, require_octet_stream};
use crate::api::image::images::{check_counts, delete_owned};
use crate::domain::identity::Identity;
use crate::domain::image::plankton::{self, HeaderMeta};
use crate::domain::image::{
    self, Caller as ImageCaller, Image, ImageEvent, ImageStatus, PatchFormat, transition,
};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;
use crate::store::{ImageQuery, ImageSortKey};

pub fn routes(r: Routes) -> Routes {
    // kamaki asks for `/images/` (trailing slash) to list and register; Glance v1 clients
    // use `/images`. Both are served.
    r.get("/image/v1.0/images/", list)
        .get("/image/v1.0/images", list)
        .post("/image/v1.0/images/", create)
        .post("/image/v1.0/images", create)
        .get("/image/v1.0/images/detail", detail)
        .head("/image/v1.0/images/{image_id}", meta)
        .get("/image/v1.0/images/{image_id}", download)
        .put("/image/v1.0/images/{image_id}", update)
        .delete("/image/v1.0/images/{image_id}", delete)
}

fn bad(m: String) -> ApiError {
    ApiError::bad_request(m)
}

fn parse_u64(key: &str, v: &str) -> ApiResult<u64> {
    v.parse()
        .map_err(|_| bad(format!("{key} '{v}' is not a non-negative integer")))
}

/// Everything the caller may see; Plankton lists are not paginated unless `limit` asks.
const LIST_LIMIT: u32 = 100_000;

/// Glance v1's list parameters (`property-KEY=VALUE` filters on a user property).
fn list_query(state: &AppState, who: &Identity, raw: &str) -> ApiResult<ImageQuery> {
    let mut q = ImageQuery::visible_to(&who.user.project.id, who.user.is_admin(), LIST_LIMIT);
    let (mut key, mut asc) = (ImageSortKey::CreatedAt, false);
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let (k, v) = (k.as_ref(), v.as_ref());
        match k {
            "name" => q.name = Some(v.to_owned()),
            "status" => q.status = Some(v.parse::<ImageStatus>().map_err(bad)?),
            "container_format" => q.container_format = Some(v.to_owned()),
            "disk_format" => q.disk_format = Some(v.to_owned()),
            "size_min" => q.size_min = Some(parse_u64(k, v)?),
            "size_max" => q.size_max = Some(parse_u64(k, v)?),
            "sort_key" => key = v.parse().map_err(bad)?,
            "sort_dir" => {
                asc = match v {
                    "asc" => true,
                    "desc" => false,
                    _ => return Err(bad(format!("sort_dir '{v}' must be asc or desc"))),
                }
            }
            "marker" => q.marker = Some(v.to_owned()),
            "limit" => {
                let n = parse_u64(k, v)?;
                q.limit = n.min(u64::from(state.config.image_list_max_limit)) as u32;
            }
            "json" => {}
            _ => match k.strip_prefix("property-") {
                Some(p) if !p.is_empty() => q.properties.push((p.to_owned(), v.to_owned())),
                _ => {
                    return Err(bad(format!(
                        "unknown list parameter '{k}': use name, status, container_format, \
                         disk_format, size_min, size_max, sort_key, sort_dir, marker, limit or \
                         property-NAME"
                    )));
                }
            },
        }
    }
    q.sort = vec![(key, asc), (ImageSortKey::Id, asc)];
    Ok(q)
}

async fn list_response(
    state: &AppState,
    who: &Identity,
    uri: &Uri,
    view: impl Fn(&Image) -> Value,
) -> ApiResult<Response> {
    let q = list_query(state, who, uri.query().unwrap_or(""))?;
    let found = state.store.list_images(q).await.map_err(|e| match e {
        // An unknown marker.
        crate::store::StoreError::NotFound(m) => ApiError::bad_request(m),
        other => other.into(),
    })?;
    let images: Vec<Value> = found.iter().map(view).collect();
    Ok(json_response(StatusCode::OK, &images))
}

/// `GET /images/` — 200, a bare JSON list of `{id, name, status, disk_format,
/// container_format, size, checksum}` (kamaki iterates the body itself).
async fn list(State(state): State<AppState>, Caller(who): Caller, uri: Uri) -> ApiResult<Response> {
    list_response(&state, &who, &uri, plankton::brief).await
}

/// `GET /images/detail` — 200, a bare JSON list with every attribute and `properties`.
async fn detail(
    State(state): State<AppState>,
    Caller(who): Caller,
    uri: Uri,
) -> ApiResult<Response> {
    let c = caller(&state, &who);
    list_response(&state, &who, &uri, |i| plankton::detail(i, &c)).await
}

/// Adds the image's `X-Image-Meta-*` headers. They are valid by construction (names and
/// values are encoded), so a failure here is a bug, not something to drop silently.
fn with_meta(mut resp: Response, img: &Image, c: &ImageCaller<'_>) -> ApiResult<Response> {
    for (k, v) in plankton::headers(img, c) {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| ApiError::internal(format!("header name {k:?}: {e}")))?;
        let value = HeaderValue::from_str(&v)
            .map_err(|e| ApiError::internal(format!("header {k} value {v:?}: {e}")))?;
        resp.headers_mut().append(name, value);
    }
    Ok(resp)
}

/// 200 with the headers and `{"image": {…detail…}}`.
fn image_response(img: &Image, c: &ImageCaller<'_>) -> ApiResult<Response> {
    let resp = json_response(StatusCode::OK, &json!({"image": plankton::detail(img, c)}));
    with_meta(resp, img, c)
}

fn header_meta(headers: &HeaderMap) -> ApiResult<HeaderMeta> {
    Ok(plankton::parse_headers(
        headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
    )?)
}

/// Whether the request carries a body (image data): a chunked one, or a Content-Length
/// above 0 (kamaki sends `Content-Length: 0` on metadata-only requests).
fn has_data(headers: &HeaderMap) -> ApiResult<bool> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Ok(true);
    }
    Ok(header_u64(headers, header::CONTENT_LENGTH.as_str())?.is_some_and(|n| n > 0))
}

async fn reload(state: &AppState, id: &str) -> ApiResult<Image> {
    state
        .store
        .get_image(id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// `POST /images/` — 200 with the new image's headers and `{"image": …}`: metadata from the
/// headers, data (when there is a body) streamed and hashed like a v2 upload; a failed
/// upload keeps nothing. `X-Image-Meta-Location` is 400 (no object store here).
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let meta = header_meta(&headers)?;
    let data = has_data(&headers)?;
    if data {
        require_octet_stream(&headers)?;
    }
    let (doc, expect) = plankton::create_body(&meta, data)?;
    let c = caller(&state, &who);
    let img = image::create(&doc, &c, time::now())?;
    check_counts(&state, &img)?;
    state.store.create_image(img.clone()).await?;
    if data {
        let size = expect
            .size
            .or(header_u64(&headers, header::CONTENT_LENGTH.as_str())?);
        let guard = CreatedGuard {
            state: state.clone(),
            id: Some(img.id.clone()),
        };
        if let Err(e) = receive(&state, &img, size, expect.checksum.as_deref(), body).await {
            guard.remove().await;
            return Err(e);
        }
        guard.keep();
    }
    image_response(&reload(&state, &img.id).await?, &c)
}

/// The record a `POST` with data made for that data: removed unless the upload finished —
/// on an error, and when the client goes away mid-upload and the request is dropped — so a
/// failed create keeps nothing (the upload's own guard has removed the bytes).
struct CreatedGuard {
    state: AppState,
    id: Option<String>,
}

impl CreatedGuard {
    fn keep(mut self) {
        self.id = None;
    }

    /// Removes the record now, before the error response goes out.
    async fn remove(mut self) {
        if let Some(id) = self.id.take()
            && let Err(e) = self.state.store.delete_image(&id).await
        {
            tracing::warn!(image = %id, "could not remove a failed create: {e}");
        }
    }
}

impl Drop for CreatedGuard {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let store = self.state.store.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.delete_image(&id).await {
                    tracing::warn!(image = %id, "could not remove an abandoned create: {e}");
                }
            });
        }
    }
}

/// `HEAD /images/{id}` — 200 with the metadata in `X-Image-Meta-*` headers (kamaki's
/// `image info`); 404 when missing or not visible.
async fn meta(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    with_meta(StatusCode::OK.into_response(), &img, &caller(&state, &who))
}

/// `GET /images/{id}` — 200 with the data and the same headers (204 when the image has no
/// data yet); ranges as in v2.
async fn download(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    let resp = data_response(&state, &who, &img, &headers).await?;
    with_meta(resp, &img, &caller(&state, &who))
}

/// `PUT /images/{id}` — 200 with the updated headers and `{"image": …}`. Headers update the
/// record through a v2 JSON Patch (properties are replaced, see
/// `domain::image::plankton`); a body uploads the data of a queued image (409 otherwise).
async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let meta = header_meta(&headers)?;
    let data = has_data(&headers)?;
    if data {
        require_octet_stream(&headers)?;
    }
    let mut img = owned_image(&state, &who, &id).await?;
    if data {
        transition(img.status, ImageEvent::BeginUpload)?;
    }
    let c = caller(&state, &who);
    let (ops, expect) = plankton::update_patch(&img, &meta, &c, data)?;
    if !ops.is_empty() {
        let patch = serde_json::to_vec(&ops).map_err(ApiError::internal)?;
        let new = image::patch(&img, PatchFormat::V2_1, &patch, &c, time::now())?;
        check_counts(&state, &new)?;
        state
            .store
            .update_image(new.clone(), img.updated_at)
            .await?;
        img = new;
    }
    if data {
        let size = expect
            .size
            .or(header_u64(&headers, header::CONTENT_LENGTH.as_str())?);
        receive(&state, &img, size, expect.checksum.as_deref(), body).await?;
        img = reload(&state, &id).await?;
    }
    image_response(&img, &c)
}

/// `DELETE /images/{id}` — 204 (kamaki's `image unregister`); 403 while `protected`.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    delete_owned(&state, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
