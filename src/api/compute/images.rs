//! Images as the compute API shows them: `GET /images`, `GET /images/detail`,
//! `GET|DELETE /images/{image-id}`, `GET|POST /images/{image-id}/metadata`,
//! `GET|PUT|DELETE /images/{image-id}/metadata/{key}`.
//!
//! These are the Image API's own records (one catalogue): status in upper case, `progress`
//! from the upload, user properties as `metadata`, `changes-since` on `updated_at`. Changes
//! go through the same rules as the Image API — ownership, property protections, the image
//! schema, the property limit.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::image::access::{caller, owned_image, visible_image};
use crate::api::image::images::{check_counts, delete_owned};
use crate::domain::identity::Identity;
use crate::domain::image::{self, Image, ImageStatus, PropertyOp, is_base_attribute};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::links::{Base, Link};
use crate::http::negotiate::{Format, respond};
use crate::http::routes::Routes;
use crate::http::xml::Xml;
use crate::store::ImageQuery;

pub fn routes(r: Routes) -> Routes {
    r.get("/compute/v2.0/images", list)
        .get("/compute/v2.0/images/detail", detail)
        .get("/compute/v2.0/images/{image_id}", show)
        .delete("/compute/v2.0/images/{image_id}", delete)
        .get("/compute/v2.0/images/{image_id}/metadata", metadata_list)
        .post("/compute/v2.0/images/{image_id}/metadata", metadata_merge)
        .get(
            "/compute/v2.0/images/{image_id}/metadata/{key}",
            metadata_show,
        )
        .put(
            "/compute/v2.0/images/{image_id}/metadata/{key}",
            metadata_put,
        )
        .delete(
            "/compute/v2.0/images/{image_id}/metadata/{key}",
            metadata_delete,
        )
}

/// Upper-case status, as the compute API spells it.
fn status(i: &Image) -> String {
    i.status.as_str().to_ascii_uppercase()
}

fn progress(state: &AppState, i: &Image) -> u8 {
    match i.status {
        ImageStatus::Active | ImageStatus::Deactivated => 100,
        ImageStatus::Saving => state.uploads.percent(&i.id).unwrap_or(0),
        _ => 0,
    }
}

fn links(base: &Base, id: &str) -> [Link; 3] {
    [
        Link::new("self", base.url(&format!("/compute/v2.0/images/{id}"))),
        Link::new("bookmark", base.url(&format!("/compute/images/{id}"))),
        Link {
            rel: "alternate",
            href: base.url(&format!("/image/v2/images/{id}")),
            media_type: Some("application/vnd.openstack.image"),
        },
    ]
}

/// The metadata the caller may read (property protections hide the rest).
fn metadata(i: &Image, c: &image::Caller<'_>) -> Map<String, Value> {
    i.properties
        .iter()
        .filter(|(k, _)| c.may(k, PropertyOp::Read))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

#[derive(Serialize)]
struct ImageView {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
    #[serde(rename = "minDisk", skip_serializing_if = "Option::is_none")]
    min_disk: Option<u64>,
    #[serde(rename = "minRam", skip_serializing_if = "Option::is_none")]
    min_ram: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Map<String, Value>>,
    links: [Link; 3],
}

fn view(
    state: &AppState,
    c: &image::Caller<'_>,
    base: &Base,
    i: &Image,
    detail: bool,
) -> ImageView {
    ImageView {
        id: i.id.clone(),
        name: i.name.clone().unwrap_or_default(),
        status: detail.then(|| status(i)),
        progress: detail.then(|| progress(state, i)),
        created: detail.then(|| time::iso(&i.created_at)),
        updated: detail.then(|| time::iso(&i.updated_at)),
        // Image records belong to projects; the owning project stands for the user too.
        user_id: detail.then(|| i.owner.clone().unwrap_or_default()),
        tenant_id: detail.then(|| i.owner.clone().unwrap_or_default()),
        min_disk: detail.then_some(i.min_disk),
        min_ram: detail.then_some(i.min_ram),
        metadata: detail.then(|| metadata(i, c)),
        links: links(base, &i.id),
    }
}

fn xml_image(x: &mut Xml, v: &ImageView, root: bool) {
    let progress = v.progress.map(|p| p.to_string());
    let (min_disk, min_ram) = (
        v.min_disk.map(|n| n.to_string()),
        v.min_ram.map(|n| n.to_string()),
    );
    let mut attrs: Vec<(&str, &str)> = vec![("id", &v.id), ("name", &v.name)];
    let optional: [(&str, &Option<String>); 8] = [
        ("status", &v.status),
        ("progress", &progress),
        ("created", &v.created),
        ("updated", &v.updated),
        ("user_id", &v.user_id),
        ("tenant_id", &v.tenant_id),
        ("minDisk", &min_disk),
        ("minRam", &min_ram),
    ];
    for (k, val) in optional.iter() {
        if let Some(val) = val {
            attrs.push((k, val));
        }
    }
    if root {
        x.start_root("image", &attrs);
    } else {
        x.start("image", &attrs);
    }
    if let Some(meta) = &v.metadata {
        x.start("metadata", &[]);
        for (k, val) in meta {
            x.text_element("meta", &[("key", k)], val.as_str().unwrap_or(""));
        }
        x.end("metadata");
    }
    for l in &v.links {
        match l.media_type {
            Some(t) => x.empty(
                "atom:link",
                &[("rel", l.rel), ("type", t), ("href", &l.href)],
            ),
            None => x.link(l.rel, &l.href),
        }
    }
    x.end("image");
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(rename = "changes-since")]
    changes_since: Option<String>,
}

/// `changes-since` as ISO 8601 (a date alone means its midnight UTC).
pub fn parse_changes_since(raw: &str) -> ApiResult<time::Timestamp> {
    let err = || {
        ApiError::bad_request(format!(
            "invalid changes-since '{raw}': expected ISO 8601, e.g. 2013-04-10T13:52:17Z"
        ))
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, f) {
            return Ok(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(err)
}

/// Every image the caller may see; compute listings are not paginated.
const LIST_LIMIT: u32 = 100_000;

async fn list_response(
    state: &AppState,
    who: &Identity,
    format: Format,
    base: &Base,
    params: &ListParams,
    detail: bool,
) -> ApiResult<Response> {
    let mut q = ImageQuery::visible_to(&who.user.project.id, who.user.is_admin(), LIST_LIMIT);
    if let Some(raw) = &params.changes_since {
        q.changes_since = Some(parse_changes_since(raw)?);
    }
    let images = state.store.list_images(q).await?;
    let c = caller(state, who);
    let views: Vec<ImageView> = images
        .iter()
        .map(|i| view(state, &c, base, i, detail))
        .collect();
    Ok(respond(
        format,
        StatusCode::OK,
        &json!({"images": views}),
        |x| {
            x.start_root("images", &[]);
            for v in &views {
                xml_image(x, v, false);
            }
            x.end("images");
        },
    ))
}

/// `GET /images` — 200; `id`, `name` and links of every image the caller may see.
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    base: Base,
    Query(p): Query<ListParams>,
) -> ApiResult<Response> {
    list_response(&state, &who, format, &base, &p, false).await
}

/// `GET /images/detail` — 200; every attribute, with `metadata`.
async fn detail(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    base: Base,
    Query(p): Query<ListParams>,
) -> ApiResult<Response> {
    list_response(&state, &who, format, &base, &p, true).await
}

/// `GET /images/{image-id}` — 200; 404 when missing or not visible.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    base: Base,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    let v = view(&state, &caller(&state, &who), &base, &img, true);
    Ok(respond(format, StatusCode::OK, &json!({"image": v}), |x| {
        xml_image(x, &v, true)
    }))
}

/// `DELETE /images/{image-id}` — 204 (owner); 403 for a protected image.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    delete_owned(&state, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn metadata_response(format: Format, status: StatusCode, meta: &Map<String, Value>) -> Response {
    respond(format, status, &json!({"metadata": meta}), |x| {
        x.start_root("metadata", &[]);
        for (k, v) in meta {
            x.text_element("meta", &[("key", k)], v.as_str().unwrap_or(""));
        }
        x.end("metadata");
    })
}

/// `GET /images/{image-id}/metadata` — 200 (the seed's table says 201 for a read; clients
/// expect 200).
async fn metadata_list(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    Ok(metadata_response(
        format,
        StatusCode::OK,
        &metadata(&img, &caller(&state, &who)),
    ))
}

#[derive(Deserialize)]
struct MetadataBody {
    #[serde(alias = "meta")]
    metadata: Map<String, Value>,
}

/// Applies metadata changes (`Some` sets, `None` removes) under the Image API's rules and
/// stores the result.
async fn change_metadata(
    state: &AppState,
    who: &Identity,
    id: &str,
    changes: Vec<(String, Option<String>)>,
) -> ApiResult<Image> {
    let img = owned_image(state, who, id).await?;
    let c = caller(state, who);
    let mut new = img.clone();
    for (k, v) in changes {
        if is_base_attribute(&k) {
            return Err(ApiError::forbidden(format!(
                "'{k}' is an image attribute, not metadata: change it through the Image API"
            )));
        }
        let op = match (&v, img.properties.contains_key(&k)) {
            (None, _) => PropertyOp::Delete,
            (Some(_), true) => PropertyOp::Update,
            (Some(_), false) => PropertyOp::Create,
        };
        if !c.may(&k, op) {
            return Err(ApiError::forbidden(format!(
                "property protections do not let you {} metadata '{k}'",
                op.as_str()
            )));
        }
        match v {
            Some(v) => {
                new.properties.insert(k, v);
            }
            None => {
                if new.properties.remove(&k).is_none() {
                    return Err(ApiError::not_found(format!(
                        "image {id} has no metadata '{k}'"
                    )));
                }
            }
        }
    }
    check_counts(state, &new)?;
    image::validate_image_document(&image::document(&new))?;
    new.updated_at = time::now();
    state
        .store
        .update_image(new.clone(), img.updated_at)
        .await?;
    Ok(new)
}

fn string_values(m: Map<String, Value>) -> ApiResult<Vec<(String, Option<String>)>> {
    m.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, Some(s))),
            other => Err(ApiError::bad_request(format!(
                "metadata '{k}' must be a string, not {other}"
            ))),
        })
        .collect()
}

/// `POST /images/{image-id}/metadata` — 201 with all metadata; the keys given are set, the
/// others kept.
async fn metadata_merge(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MetadataBody>,
) -> ApiResult<Response> {
    let changes = string_values(body.metadata)?;
    let new = change_metadata(&state, &who, &id, changes).await?;
    Ok(metadata_response(
        format,
        StatusCode::CREATED,
        &metadata(&new, &caller(&state, &who)),
    ))
}

/// `GET /images/{image-id}/metadata/{key}` — 200 `{"metadata": {key: value}}`.
async fn metadata_show(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    let meta = metadata(&img, &caller(&state, &who));
    let v = meta
        .get(&key)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::not_found(format!("image {id} has no metadata '{key}'")))?;
    Ok(item_xml(format, StatusCode::OK, &key, v))
}

/// `PUT /images/{image-id}/metadata/{key}` `{"metadata": {key: value}}` — 201.
async fn metadata_put(
    State(state): State<AppState>,
    Caller(who): Caller,
    format: Format,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<MetadataBody>,
) -> ApiResult<Response> {
    let mut changes = string_values(body.metadata)?;
    if changes.len() != 1 || changes[0].0 != key {
        return Err(ApiError::bad_request(format!(
            "the body must be {{\"metadata\": {{\"{key}\": VALUE}}}}, naming the key of the URL"
        )));
    }
    let (k, v) = changes.remove(0);
    let value = v.clone().unwrap_or_default();
    change_metadata(&state, &who, &id, vec![(k, v)]).await?;
    Ok(item_xml(format, StatusCode::CREATED, &key, &value))
}

/// `DELETE /images/{image-id}/metadata/{key}` — 204.
async fn metadata_delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    change_metadata(&state, &who, &id, vec![(key, None)]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"metadata": {key: value}}`, or `<meta key="…">value</meta>` in XML.
fn item_xml(format: Format, status: StatusCode, key: &str, value: &str) -> Response {
    respond(format, status, &json!({"metadata": {key: value}}), |x| {
        let mut attrs = vec![("xmlns", crate::http::xml::COMPUTE_NS)];
        attrs.push(("key", key));
        x.text_element("meta", &attrs, value);
    })
}
