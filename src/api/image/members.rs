//! Members of shared images: `GET|POST /v2/images/{id}/members`,
//! `GET|PUT|DELETE /v2/images/{id}/members/{member_id}`. The owner adds and removes
//! projects; each member sets its own status (pending, accepted, rejected); accepted shared
//! images appear in the member's lists.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{owns, require_owner, visible_image};
use crate::domain::identity::Identity;
use crate::domain::image::{self, Image, Member, MemberStatus, Visibility};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    r.get("/image/v2/images/{image_id}/members", list)
        .post("/image/v2/images/{image_id}/members", add)
        .get("/image/v2/images/{image_id}/members/{member_id}", show)
        .put(
            "/image/v2/images/{image_id}/members/{member_id}",
            set_status,
        )
        .delete("/image/v2/images/{image_id}/members/{member_id}", remove)
}

fn require_shared(img: &Image) -> ApiResult<()> {
    if img.visibility == Visibility::Shared {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only shared images have members; image {} is {}",
            img.id,
            img.visibility.as_str()
        )))
    }
}

fn is_owner_or_admin(who: &Identity, img: &Image) -> bool {
    who.user.is_admin() || owns(who, img)
}

fn no_member(id: &str, member: &str) -> ApiError {
    ApiError::not_found(format!("project {member} is not a member of image {id}"))
}

/// `GET /v2/images/{id}/members` — 200; the owner sees every member, a member itself only.
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    require_shared(&img)?;
    let mut members = state.store.image_members(&id).await?;
    if !is_owner_or_admin(&who, &img) {
        members.retain(|m| m.member_id == who.user.project.id);
    }
    let docs: Vec<Value> = members.iter().map(image::member_document).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"members": docs, "schema": "/v2/schemas/members"}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    member: String,
}

/// `POST /v2/images/{id}/members` `{"member": PROJECT}` — 200 with the pending membership;
/// 409 when already a member; 403 unless the image is shared and the caller owns it.
async fn add(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewMember>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    require_owner(&who, &img)?;
    require_shared(&img)?;
    let member_id = body.member.trim().to_owned();
    if member_id.is_empty() || member_id.len() > 255 {
        return Err(ApiError::bad_request(
            "member must be a project id of 1 to 255 characters",
        ));
    }
    let now = time::now();
    let m = Member {
        image_id: id,
        member_id,
        status: MemberStatus::Pending,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .add_image_member(m.clone(), state.config.image_max_members)
        .await?;
    Ok(json_response(StatusCode::OK, &image::member_document(&m)))
}

/// `GET /v2/images/{id}/members/{member_id}` — 200 for the owner and the member itself.
async fn show(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    require_shared(&img)?;
    if !is_owner_or_admin(&who, &img) && member != who.user.project.id {
        return Err(no_member(&id, &member));
    }
    let m = state
        .store
        .image_member(&id, &member)
        .await?
        .ok_or_else(|| no_member(&id, &member))?;
    Ok(json_response(StatusCode::OK, &image::member_document(&m)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
}

/// `PUT /v2/images/{id}/members/{member_id}` `{"status": "accepted"}` — 200; only the
/// member itself decides its status.
async fn set_status(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, member)): Path<(String, String)>,
    JsonBody(body): JsonBody<StatusBody>,
) -> ApiResult<Response> {
    let status: MemberStatus = body.status.parse().map_err(ApiError::bad_request)?;
    let img = visible_image(&state, &who, &id).await?;
    require_shared(&img)?;
    if member != who.user.project.id {
        return Err(ApiError::forbidden(
            "only the member project itself may accept or reject a shared image",
        ));
    }
    let m = state
        .store
        .set_image_member_status(&id, &member, status, time::now())
        .await?
        .ok_or_else(|| no_member(&id, &member))?;
    Ok(json_response(StatusCode::OK, &image::member_document(&m)))
}

/// `DELETE /v2/images/{id}/members/{member_id}` — 204 (owner).
async fn remove(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    require_owner(&who, &img)?;
    if !state.store.delete_image_member(&id, &member).await? {
        return Err(no_member(&id, &member));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
