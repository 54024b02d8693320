//! Who may see and change an image, and how the domain's refusals become API errors.

use crate::domain::identity::Identity;
use crate::domain::image::{self, Image, ImageError, Visibility};
use crate::http::AppState;
use crate::http::fault::{ApiError, ApiResult, Fault};

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> ApiError {
        match e {
            ImageError::BadRequest(m) => ApiError::bad_request(m),
            ImageError::Forbidden(m) => ApiError::forbidden(m),
            ImageError::NotFound(m) => ApiError::not_found(m),
            ImageError::Conflict(m) => ApiError::conflict(m),
            ImageError::UnsupportedMediaType(m) => ApiError::bad_media_type(m),
            ImageError::TooLarge(m) => ApiError::new(Fault::OverLimit, m),
        }
    }
}

/// The domain's view of the caller.
pub fn caller<'a>(state: &'a AppState, who: &'a Identity) -> image::Caller<'a> {
    image::Caller {
        project_id: &who.user.project.id,
        roles: &who.user.roles,
        protections: state.protections.as_deref(),
    }
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no image with id {id}"))
}

/// The image if the caller may see it: admins, the owner, anyone for public and community
/// images, members (whatever their status) for shared ones. Everything else is a 404, so
/// another project's private image is indistinguishable from a missing one.
pub async fn visible_image(state: &AppState, who: &Identity, id: &str) -> ApiResult<Image> {
    let img = state
        .store
        .get_image(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if who.user.is_admin() || owns(who, &img) {
        return Ok(img);
    }
    match img.visibility {
        Visibility::Public | Visibility::Community => Ok(img),
        Visibility::Shared => {
            let member = state.store.image_member(id, &who.user.project.id).await?;
            member.map(|_| img).ok_or_else(|| not_found(id))
        }
        Visibility::Private => Err(not_found(id)),
    }
}

pub fn owns(who: &Identity, img: &Image) -> bool {
    img.owner.as_deref() == Some(who.user.project.id.as_str())
}

/// Changing an image is for its owner (and admins).
pub fn require_owner(who: &Identity, img: &Image) -> ApiResult<()> {
    if who.user.is_admin() || owns(who, img) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only the owner of image {} may change it",
            img.id
        )))
    }
}

/// An image the caller may change: visible and owned.
pub async fn owned_image(state: &AppState, who: &Identity, id: &str) -> ApiResult<Image> {
    let img = visible_image(state, who, id).await?;
    require_owner(who, &img)?;
    Ok(img)
}
