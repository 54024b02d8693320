//! Plankton members: `GET|PUT /images/{id}/members`, `PUT|DELETE
//! /images/{id}/members/{member}` (kamaki's `image modify --member-add/--member-del` and
//! `image list --members-of`). They are the Image API v2's memberships:
//! - Glance v1 shares any non-public image; v2 shares only `shared` ones. Adding a member
//!   to a `private` image therefore makes it `shared` (its v2 spelling); a `public` or
//!   `community` image, which everyone may use already, takes no members (403).
//! - A member added here is `pending` in v2 until the member project accepts it (v2's
//!   rule: only the member decides); it can use the image by id meanwhile.
//! - `can_share` is always `false`: members cannot re-share.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::api::image::access::{owned_image, owns, visible_image};
use crate::domain::identity::Identity;
use crate::domain::image::{Image, Member, MemberStatus, Visibility};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    r.get("/image/v1.0/images/{image_id}/members", list)
        .put("/image/v1.0/images/{image_id}/members", replace)
        .put("/image/v1.0/images/{image_id}/members/{member_id}", add)
        .delete("/image/v1.0/images/{image_id}/members/{member_id}", remove)
}

/// `GET /images/{id}/members` — 200 `{"members": [{"member_id", "can_share"}]}`; the owner
/// sees every member, a member itself only; an image that is not shared has none.
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    let mut members = if img.visibility == Visibility::Shared {
        state.store.image_members(&id).await?
    } else {
        Vec::new()
    };
    if !(who.user.is_admin() || owns(&who, &img)) {
        members.retain(|m| m.member_id == who.user.project.id);
    }
    let docs: Vec<_> = members
        .iter()
        .map(|m| json!({"member_id": m.member_id, "can_share": false}))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"members": docs})))
}

fn member_id(raw: &str) -> ApiResult<String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 255 {
        return Err(ApiError::bad_request(
            "a member must be a project id of 1 to 255 characters",
        ));
    }
    Ok(id.to_owned())
}

/// The owned image, made `shared` if it was `private`, ready to take members.
async fn shareable(state: &AppState, who: &Identity, id: &str) -> ApiResult<Image> {
    let img = owned_image(state, who, id).await?;
    match img.visibility {
        Visibility::Shared => Ok(img),
        Visibility::Private => {
            let mut new = img.clone();
            new.visibility = Visibility::Shared;
            new.updated_at = time::now();
            state
                .store
                .update_image(new.clone(), img.updated_at)
                .await?;
            Ok(new)
        }
        v @ (Visibility::Public | Visibility::Community) => Err(ApiError::forbidden(format!(
            "image {id} is {v}: every project may use it already, so it takes no members; \
             make it private (X-Image-Meta-Is-Public: False) to share it with some"
        ))),
    }
}

async fn add_one(state: &AppState, id: &str, member: String) -> ApiResult<()> {
    if state.store.image_member(id, &member).await?.is_some() {
        return Ok(());
    }
    let now = time::now();
    let m = Member {
        image_id: id.to_owned(),
        member_id: member,
        status: MemberStatus::Pending,
        created_at: now,
        updated_at: now,
    };
    Ok(state
        .store
        .add_image_member(m, state.config.image_max_members)
        .await?)
}

/// `PUT /images/{id}/members/{member}` — 204; adding an existing member changes nothing.
async fn add(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<Response> {
    let member = member_id(&member)?;
    shareable(&state, &who, &id).await?;
    add_one(&state, &id, member).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Memberships {
    memberships: Vec<Membership>,
}

#[derive(Deserialize)]
struct Membership {
    member_id: String,
    /// Accepted for Glance v1 compatibility; members never re-share here.
    #[serde(default)]
    #[allow(dead_code)]
    can_share: Option<bool>,
}

/// `PUT /images/{id}/members` `{"memberships": [{"member_id"}]}` — 204; the image's members
/// become exactly these.
async fn replace(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Memberships>,
) -> ApiResult<Response> {
    let wanted = body
        .memberships
        .iter()
        .map(|m| member_id(&m.member_id))
        .collect::<ApiResult<Vec<_>>>()?;
    let img = if wanted.is_empty() {
        owned_image(&state, &who, &id).await?
    } else {
        shareable(&state, &who, &id).await?
    };
    if img.visibility == Visibility::Shared {
        for m in state.store.image_members(&id).await? {
            if !wanted.contains(&m.member_id) {
                state.store.delete_image_member(&id, &m.member_id).await?;
            }
        }
    }
    for m in wanted {
        add_one(&state, &id, m).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /images/{id}/members/{member}` — 204 (owner); 404 when not a member.
async fn remove(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<Response> {
    owned_image(&state, &who, &id).await?;
    if !state.store.delete_image_member(&id, &member).await? {
        return Err(ApiError::not_found(format!(
            "project {member} is not a member of image {id}"
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
