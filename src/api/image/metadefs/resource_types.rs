//! Resource types: `GET /v2/metadefs/resource_types`, and a namespace's associations:
//! `GET|POST /v2/metadefs/namespaces/{ns}/resource_types`,
//! `DELETE /v2/metadefs/namespaces/{ns}/resource_types/{name}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::l10n::MdResult;
use super::{Body, changeable, localized, visible};
use crate::domain::metadefs::{MdError, check_deletable, request, view};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;
use crate::store::StoreError;

pub fn routes(r: Routes) -> Routes {
    r.get("/image/v2/metadefs/resource_types", localized(list_types))
        .get(
            "/image/v2/metadefs/namespaces/{namespace_name}/resource_types",
            localized(list),
        )
        .post(
            "/image/v2/metadefs/namespaces/{namespace_name}/resource_types",
            localized(associate),
        )
        .delete(
            "/image/v2/metadefs/namespaces/{namespace_name}/resource_types/{resource_type_name}",
            localized(deassociate),
        )
}

/// `GET /v2/metadefs/resource_types` — 200 `{"resource_types": […]}`: the standard ones and
/// every type an association brought in.
async fn list_types(State(state): State<AppState>, Caller(_): Caller) -> MdResult<Response> {
    let types: Vec<Value> = state
        .store
        .list_metadef_resource_types()
        .await?
        .iter()
        .map(view::resource_type)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "resource_types": types }),
    ))
}

/// `GET /v2/metadefs/namespaces/{ns}/resource_types` — 200
/// `{"resource_type_associations": […]}`.
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(ns): Path<String>,
) -> MdResult<Response> {
    let r = visible(&state, &who, &ns).await?;
    let list: Vec<Value> = r.associations.iter().map(view::association).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "resource_type_associations": list }),
    ))
}

/// `POST /v2/metadefs/namespaces/{ns}/resource_types` — 201 with the association (an
/// unknown resource type is created); 409 when already associated.
async fn associate(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(ns): Path<String>,
    Body(body): Body,
) -> MdResult<Response> {
    changeable(&state, &who, &ns).await?;
    let a = request::association(&body, time::now())?;
    let rt = a.resource_type.clone();
    match state.store.add_metadef_association(&ns, a.clone()).await {
        Err(StoreError::Conflict(_)) => {
            return Err(MdError::conflict(
                "md-association-exists",
                &[("namespace", &ns), ("resource_type", &rt)],
            )
            .into());
        }
        Err(StoreError::NotFound(_)) => return Err(MdError::no_namespace(&ns).into()),
        other => other?,
    }
    Ok(json_response(StatusCode::CREATED, &view::association(&a)))
}

/// `DELETE /v2/metadefs/namespaces/{ns}/resource_types/{name}` — 204; 404 when not
/// associated; 403 while the namespace is protected.
async fn deassociate(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((ns, rt)): Path<(String, String)>,
) -> MdResult<Response> {
    let r = changeable(&state, &who, &ns).await?;
    check_deletable(&r.ns, Some("association"))?;
    if !state.store.delete_metadef_association(&ns, &rt).await? {
        return Err(MdError::not_found(
            "md-association-not-found",
            &[("namespace", &ns), ("resource_type", &rt)],
        )
        .into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
