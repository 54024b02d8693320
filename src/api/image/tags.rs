//! Tags: `PUT|DELETE /v2/images/{id}/tags/{tag}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::access::owned_image;
use super::images::check_counts;
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    r.put("/image/v2/images/{image_id}/tags/{tag}", add)
        .delete("/image/v2/images/{image_id}/tags/{tag}", remove)
}

/// `PUT /v2/images/{id}/tags/{tag}` — 204 (adding a present tag is a no-op); 413 past the
/// tag limit.
async fn add(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    if tag.is_empty() || tag.chars().count() > 255 {
        return Err(ApiError::bad_request(
            "a tag must be 1 to 255 characters long",
        ));
    }
    let img = owned_image(&state, &who, &id).await?;
    if img.tags.contains(&tag) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut new = img.clone();
    new.tags.push(tag);
    new.tags.sort();
    new.updated_at = time::now();
    check_counts(&state, &new)?;
    state.store.update_image(new, img.updated_at).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v2/images/{id}/tags/{tag}` — 204; 404 when the image lacks the tag.
async fn remove(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    let img = owned_image(&state, &who, &id).await?;
    if !img.tags.contains(&tag) {
        return Err(ApiError::not_found(format!(
            "image {id} has no tag '{tag}'"
        )));
    }
    let mut new = img.clone();
    new.tags.retain(|t| *t != tag);
    new.updated_at = time::now();
    state.store.update_image(new, img.updated_at).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
