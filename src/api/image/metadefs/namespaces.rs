//! Namespaces: `GET|POST /v2/metadefs/namespaces`,
//! `GET|PUT|DELETE /v2/metadefs/namespaces/{namespace}`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::l10n::MdResult;
use super::{Body, caller, changeable, localized, visible};
use crate::domain::identity::Identity;
use crate::domain::metadefs::{MdError, Visibility, check_deletable, request, view};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;
use crate::store::{NamespaceQuery, NamespaceSortKey, StoreError};

pub fn routes(r: Routes) -> Routes {
    r.get("/image/v2/metadefs/namespaces", localized(list))
        .post("/image/v2/metadefs/namespaces", localized(create))
        .get(
            "/image/v2/metadefs/namespaces/{namespace_name}",
            localized(show),
        )
        .put(
            "/image/v2/metadefs/namespaces/{namespace_name}",
            localized(update),
        )
        .delete(
            "/image/v2/metadefs/namespaces/{namespace_name}",
            localized(delete),
        )
}

fn bad_param(param: &str, value: &str) -> MdError {
    MdError::bad(
        match param {
            "limit" => "md-bad-limit",
            "sort_key" => "md-bad-sort-key",
            "sort_dir" => "md-bad-sort-dir",
            _ => "md-bad-visibility",
        },
        &[("value", value)],
    )
}

/// The store query from Glance's list parameters (others are ignored, as Glance does).
fn list_query(state: &AppState, who: &Identity, raw: &str) -> MdResult<NamespaceQuery> {
    let cfg = &state.config;
    let mut q = NamespaceQuery {
        project: who.user.project.id.clone(),
        admin: who.user.is_admin(),
        visibility: None,
        resource_types: Vec::new(),
        sort_key: NamespaceSortKey::CreatedAt,
        ascending: false,
        marker: None,
        limit: cfg.metadefs_list_default_limit,
    };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let (k, v) = (k.as_ref(), v.as_ref());
        match k {
            "limit" => {
                let n: u64 = v.parse().map_err(|_| bad_param(k, v))?;
                q.limit = n.min(cfg.metadefs_list_max_limit as u64) as u32;
            }
            "marker" => q.marker = Some(v.to_owned()),
            "sort_key" => {
                q.sort_key = match v {
                    "namespace" => NamespaceSortKey::Namespace,
                    "created_at" => NamespaceSortKey::CreatedAt,
                    "updated_at" => NamespaceSortKey::UpdatedAt,
                    _ => return Err(bad_param(k, v).into()),
                }
            }
            "sort_dir" => {
                q.ascending = match v {
                    "asc" => true,
                    "desc" => false,
                    _ => return Err(bad_param(k, v).into()),
                }
            }
            "visibility" => {
                q.visibility = Some(
                    v.parse::<Visibility>()
                        .map_err(|_| bad_param("visibility", v))?,
                )
            }
            "resource_types" => q.resource_types.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    Ok(q)
}

/// `GET /v2/metadefs/namespaces` — 200 `{"namespaces": [summary…], "first", "next"?,
/// "schema"}`. Summaries carry associations and counts; contents only on the detail.
async fn list(State(state): State<AppState>, Caller(who): Caller, uri: Uri) -> MdResult<Response> {
    let raw = uri.query().unwrap_or("");
    let mut q = list_query(&state, &who, raw)?;
    let limit = q.limit as usize;
    q.limit = q.limit.saturating_add(1);
    let marker = q.marker.clone();
    let mut found = match state.store.list_metadef_namespaces(q).await {
        Err(StoreError::NotFound(_)) => {
            let m = marker.unwrap_or_default();
            return Err(MdError::bad("md-bad-marker", &[("marker", &m)]).into());
        }
        other => other?,
    };
    // A marker the caller cannot see is as unknown as a missing one.
    if let Some(m) = &marker
        && let Some(r) = state.store.get_metadef_namespace(m).await?
        && !caller(&who).may_see(&r.ns)
    {
        return Err(MdError::bad("md-bad-marker", &[("marker", m)]).into());
    }
    let more = found.len() > limit;
    found.truncate(limit);
    let rest: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let link = |marker: Option<&str>| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &rest {
            s.append_pair(k, v);
        }
        if let Some(m) = marker {
            s.append_pair("marker", m);
        }
        let q = s.finish();
        if q.is_empty() {
            "/v2/metadefs/namespaces".to_owned()
        } else {
            format!("/v2/metadefs/namespaces?{q}")
        }
    };
    let list: Vec<Value> = found.iter().map(view::namespace_summary).collect();
    let mut body = json!({"namespaces": list, "first": link(None),
        "schema": "/v2/schemas/metadefs/namespaces"});
    if more && let Some(last) = found.last() {
        body["next"] = json!(link(Some(&last.ns.namespace)));
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /v2/metadefs/namespaces` — 201 with the namespace's detail. Inline properties,
/// objects, tags and resource type associations are created with it, atomically; 409 when
/// the name is taken.
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body,
) -> MdResult<Response> {
    let new = request::namespace_create(&body, &caller(&who), time::now())?;
    let name = new.ns.namespace.clone();
    match state.store.create_metadef_namespace(new, false).await {
        Err(StoreError::Conflict(_)) => {
            return Err(MdError::conflict("md-namespace-exists", &[("namespace", &name)]).into());
        }
        other => other?,
    }
    detail(&state, &who, &name, None, StatusCode::CREATED).await
}

async fn detail(
    state: &AppState,
    who: &Identity,
    name: &str,
    resource_type: Option<&str>,
    status: StatusCode,
) -> MdResult<Response> {
    let r = visible(state, who, name).await?;
    let prefix = match resource_type {
        None => None,
        Some(rt) => match r.associations.iter().find(|a| a.resource_type == rt) {
            Some(a) => a.prefix.clone(),
            None => {
                return Err(MdError::not_found(
                    "md-association-not-found",
                    &[("namespace", name), ("resource_type", rt)],
                )
                .into());
            }
        },
    };
    let items = state.store.metadef_items(name, None).await?;
    let body = view::namespace_detail(&r, &items, prefix.as_deref());
    Ok(json_response(status, &body))
}

/// `GET /v2/metadefs/namespaces/{ns}[?resource_type=T]` — 200 with properties, objects,
/// tags and associations; with `resource_type`, property names carry that type's prefix.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    uri: Uri,
) -> MdResult<Response> {
    let rt = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "resource_type")
        .map(|(_, v)| v.into_owned());
    detail(&state, &who, &name, rt.as_deref(), StatusCode::OK).await
}

/// `PUT /v2/metadefs/namespaces/{ns}` — 200 with the updated detail (a rename included);
/// 409 when the new name is taken.
async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Body(body): Body,
) -> MdResult<Response> {
    let old = changeable(&state, &who, &name).await?;
    let new = request::namespace_update(&old.ns, &body, &caller(&who), time::now())?;
    let new_name = new.namespace.clone();
    match state.store.update_metadef_namespace(&name, new).await {
        Err(StoreError::Conflict(_)) => {
            return Err(
                MdError::conflict("md-namespace-exists", &[("namespace", &new_name)]).into(),
            );
        }
        Err(StoreError::NotFound(_)) => return Err(MdError::no_namespace(&name).into()),
        other => other?,
    }
    detail(&state, &who, &new_name, None, StatusCode::OK).await
}

/// `DELETE /v2/metadefs/namespaces/{ns}` — 204, with everything in it; 403 while protected.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> MdResult<Response> {
    let r = changeable(&state, &who, &name).await?;
    check_deletable(&r.ns, None)?;
    if !state.store.delete_metadef_namespace(&name).await? {
        return Err(MdError::no_namespace(&name).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
