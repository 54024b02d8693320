//! Property definitions and objects of a namespace, which share their life cycle:
//! `GET|POST|DELETE /v2/metadefs/namespaces/{ns}/properties` and
//! `GET|PUT|DELETE …/properties/{name}`; the same under `…/objects`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::l10n::MdResult;
use super::{Body, changeable, localized, visible};
use crate::domain::metadefs::{Item, ItemKind, MdError, check_deletable, request, view};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;
use crate::store::StoreError;

const PROPS: &str = "/image/v2/metadefs/namespaces/{namespace_name}/properties";
const PROP: &str = "/image/v2/metadefs/namespaces/{namespace_name}/properties/{property_name}";
const OBJS: &str = "/image/v2/metadefs/namespaces/{namespace_name}/objects";
const OBJ: &str = "/image/v2/metadefs/namespaces/{namespace_name}/objects/{object_name}";

type S = State<AppState>;
type One = Path<(String, String)>;
type All = Path<String>;

pub fn routes(r: Routes) -> Routes {
    use ItemKind::{Object, Property};
    r.get(
        PROPS,
        localized(|s: S, c: Caller, p: All| list(s, c, p, Property)),
    )
    .post(
        PROPS,
        localized(|s: S, c: Caller, p: All, b: Body| create(s, c, p, b, Property)),
    )
    .delete(
        PROPS,
        localized(|s: S, c: Caller, p: All| delete_all(s, c, p, Property)),
    )
    .get(
        PROP,
        localized(|s: S, c: Caller, p: One| show(s, c, p, Property)),
    )
    .put(
        PROP,
        localized(|s: S, c: Caller, p: One, b: Body| update(s, c, p, b, Property)),
    )
    .delete(
        PROP,
        localized(|s: S, c: Caller, p: One| delete(s, c, p, Property)),
    )
    .get(
        OBJS,
        localized(|s: S, c: Caller, p: All| list(s, c, p, Object)),
    )
    .post(
        OBJS,
        localized(|s: S, c: Caller, p: All, b: Body| create(s, c, p, b, Object)),
    )
    .delete(
        OBJS,
        localized(|s: S, c: Caller, p: All| delete_all(s, c, p, Object)),
    )
    .get(
        OBJ,
        localized(|s: S, c: Caller, p: One| show(s, c, p, Object)),
    )
    .put(
        OBJ,
        localized(|s: S, c: Caller, p: One, b: Body| update(s, c, p, b, Object)),
    )
    .delete(
        OBJ,
        localized(|s: S, c: Caller, p: One| delete(s, c, p, Object)),
    )
}

fn render(ns: &str, i: &Item) -> Value {
    match i.kind {
        ItemKind::Object => view::object(ns, i, None),
        _ => view::property(i),
    }
}

fn parse(kind: ItemKind, body: &Value, path_name: Option<&str>) -> Result<Item, MdError> {
    match kind {
        ItemKind::Object => request::object(body, path_name, time::now()),
        _ => request::property(body, path_name, time::now()),
    }
}

/// `GET …/properties` — 200 `{"properties": {name: definition}}`;
/// `GET …/objects` — 200 `{"objects": […], "schema"}`.
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(ns): Path<String>,
    kind: ItemKind,
) -> MdResult<Response> {
    visible(&state, &who, &ns).await?;
    let items = state.store.metadef_items(&ns, Some(kind)).await?;
    let body = match kind {
        ItemKind::Object => json!({
            "objects": items.iter().map(|i| view::object(&ns, i, None)).collect::<Vec<_>>(),
            "schema": "/v2/schemas/metadefs/objects",
        }),
        _ => json!({"properties": view::properties(&items, None),
                    "schema": "/v2/schemas/metadefs/properties"}),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST …/properties|objects` — 201 with the new item; 409 when its name is taken; 400
/// naming the keyword of an invalid definition.
async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(ns): Path<String>,
    Body(body): Body,
    kind: ItemKind,
) -> MdResult<Response> {
    changeable(&state, &who, &ns).await?;
    let item = parse(kind, &body, None)?;
    match state
        .store
        .add_metadef_items(&ns, vec![item.clone()], None)
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(MdError::item_exists(&ns, kind, &item.name).into());
        }
        Err(StoreError::NotFound(_)) => return Err(MdError::no_namespace(&ns).into()),
        other => other?,
    }
    Ok(json_response(StatusCode::CREATED, &render(&ns, &item)))
}

async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((ns, name)): Path<(String, String)>,
    kind: ItemKind,
) -> MdResult<Response> {
    visible(&state, &who, &ns).await?;
    match state.store.metadef_item(&ns, kind, &name).await? {
        Some(i) => Ok(json_response(StatusCode::OK, &render(&ns, &i))),
        None => Err(MdError::no_item(&ns, kind, &name).into()),
    }
}

/// `PUT …/{name}` — 200 with the item; the body's `name` renames it (409 when taken).
async fn update(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((ns, name)): Path<(String, String)>,
    Body(body): Body,
    kind: ItemKind,
) -> MdResult<Response> {
    changeable(&state, &who, &ns).await?;
    let Some(old) = state.store.metadef_item(&ns, kind, &name).await? else {
        return Err(MdError::no_item(&ns, kind, &name).into());
    };
    let mut item = parse(kind, &body, Some(&name))?;
    item.created_at = old.created_at;
    let updated = match state
        .store
        .update_metadef_item(&ns, &name, item.clone())
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(MdError::item_exists(&ns, kind, &item.name).into());
        }
        other => other?,
    };
    if !updated {
        return Err(MdError::no_item(&ns, kind, &name).into());
    }
    Ok(json_response(StatusCode::OK, &render(&ns, &item)))
}

/// `DELETE …/{name}` — 204; 403 while the namespace is protected.
async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((ns, name)): Path<(String, String)>,
    kind: ItemKind,
) -> MdResult<Response> {
    let r = changeable(&state, &who, &ns).await?;
    check_deletable(&r.ns, Some(kind.as_str()))?;
    if state
        .store
        .delete_metadef_items(&ns, kind, Some(name.clone()))
        .await?
        == 0
    {
        return Err(MdError::no_item(&ns, kind, &name).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE …/properties|objects` — 204, every item of the kind; 403 while protected.
async fn delete_all(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(ns): Path<String>,
    kind: ItemKind,
) -> MdResult<Response> {
    let r = changeable(&state, &who, &ns).await?;
    check_deletable(&r.ns, Some(kind.as_str()))?;
    state.store.delete_metadef_items(&ns, kind, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
