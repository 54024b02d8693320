//! Tags of a namespace, as Glance has them: `GET|POST|DELETE
//! /v2/metadefs/namespaces/{ns}/tags` and `GET|POST|PUT|DELETE …/tags/{name}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::l10n::MdResult;
use super::{Body, changeable, localized, visible};
use crate::domain::metadefs::{ItemKind, MdError, check_deletable, request, view};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;
use crate::store::StoreError;

const TAGS: &str = "/image/v2/metadefs/namespaces/{namespace_name}/tags";
const TAG: &str = "/image/v2/metadefs/namespaces/{namespace_name}/tags/{tag_name}";
const KIND: ItemKind = ItemKind::Tag;

pub fn routes(r: Routes) -> Routes {
    r.get(TAGS, localized(list))
        .post(TAGS, localized(create_many))
        .delete(TAGS, localized(delete_all))
        .get(TAG, localized(show))
        .post(TAG, localized(create))
        .put(TAG, localized(rename))
        .delete(TAG, localized(delete))
}

/// `GET …/tags` — 200 `{"tags": […]}`.
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(ns): Path<String>,
) -> MdResult<Response> {
    visible(&state, &who, &ns).await?;
    let tags: Vec<Value> = state
        .store
        .metadef_items(&ns, Some(KIND))
        .await?
        .iter()
        .map(view::tag)
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "tags": tags })))
}

/// `POST …/tags` with `{"tags": [{"name": …}]}` — 201 with the new tags. They replace the
/// namespace's tags, or join them with `X-Openstack-Append: true` (glanceclient's
/// `md-tag-create-multiple --append`).
async fn create_many(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(ns): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> MdResult<Response> {
    let r = changeable(&state, &who, &ns).await?;
    let append = headers
        .get("x-openstack-append")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let tags = request::tags(&body, time::now())?;
    if !append && r.tag_count > 0 {
        check_deletable(&r.ns, Some(KIND.as_str()))?;
    }
    let replace = (!append).then_some(KIND);
    match state
        .store
        .add_metadef_items(&ns, tags.clone(), replace)
        .await
    {
        Err(StoreError::Conflict(name)) => {
            return Err(MdError::item_exists(&ns, KIND, &name).into());
        }
        Err(StoreError::NotFound(_)) => return Err(MdError::no_namespace(&ns).into()),
        other => other?,
    }
    let list: Vec<Value> = tags.iter().map(view::tag).collect();
    Ok(json_response(StatusCode::CREATED, &json!({ "tags": list })))
}

/// `POST …/tags/{name}` — 201 with the tag; 409 when present.
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((ns, name)): Path<(String, String)>,
) -> MdResult<Response> {
    changeable(&state, &who, &ns).await?;
    let tag = request::tag(&name, time::now())?;
    match state
        .store
        .add_metadef_items(&ns, vec![tag.clone()], None)
        .await
    {
        Err(StoreError::Conflict(_)) => return Err(MdError::item_exists(&ns, KIND, &name).into()),
        Err(StoreError::NotFound(_)) => return Err(MdError::no_namespace(&ns).into()),
        other => other?,
    }
    Ok(json_response(StatusCode::CREATED, &view::tag(&tag)))
}

async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((ns, name)): Path<(String, String)>,
) -> MdResult<Response> {
    visible(&state, &who, &ns).await?;
    match state.store.metadef_item(&ns, KIND, &name).await? {
        Some(t) => Ok(json_response(StatusCode::OK, &view::tag(&t))),
        None => Err(MdError::no_item(&ns, KIND, &name).into()),
    }
}

/// `PUT …/tags/{name}` with `{"name": new}` — 200 with the renamed tag.
async fn rename(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((ns, name)): Path<(String, String)>,
    Body(body): Body,
) -> MdResult<Response> {
    changeable(&state, &who, &ns).await?;
    let Some(old) = state.store.metadef_item(&ns, KIND, &name).await? else {
        return Err(MdError::no_item(&ns, KIND, &name).into());
    };
    let mut tag = request::tag_rename(&body, time::now())?;
    tag.created_at = old.created_at;
    let updated = match state
        .store
        .update_metadef_item(&ns, &name, tag.clone())
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(MdError::item_exists(&ns, KIND, &tag.name).into());
        }
        other => other?,
    };
    if !updated {
        return Err(MdError::no_item(&ns, KIND, &name).into());
    }
    Ok(json_response(StatusCode::OK, &view::tag(&tag)))
}

/// `DELETE …/tags/{name}` — 204; 403 while the namespace is protected.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((ns, name)): Path<(String, String)>,
) -> MdResult<Response> {
    let r = changeable(&state, &who, &ns).await?;
    check_deletable(&r.ns, Some(KIND.as_str()))?;
    if state
        .store
        .delete_metadef_items(&ns, KIND, Some(name.clone()))
        .await?
        == 0
    {
        return Err(MdError::no_item(&ns, KIND, &name).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE …/tags` — 204, every tag; 403 while protected.
async fn delete_all(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(ns): Path<String>,
) -> MdResult<Response> {
    let r = changeable(&state, &who, &ns).await?;
    check_deletable(&r.ns, Some(KIND.as_str()))?;
    state.store.delete_metadef_items(&ns, KIND, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
