//! The metadata definitions catalog under `/image/v2/metadefs/…` and its schemas under
//! `/image/v2/schemas/metadefs/…`: namespaces, resource types, properties, objects and
//! tags, as Glance serves them. Rules live in `domain::metadefs`; this module parses,
//! checks who may do what, calls the store and renders. Every handler is wrapped by
//! [`l10n::localize`], so catalog refusals come in the caller's language.

mod image_check;
mod items;
pub mod l10n;
mod namespaces;
mod resource_types;
mod schemas;
mod tags;

use axum::extract::{FromRequest, Request};
use axum::handler::Handler;
use axum::http::header;
use axum::middleware;

use crate::domain::identity::Identity;
use crate::domain::metadefs::{Caller, MdError, MdErrorKind, NamespaceRecord};
use crate::http::AppState;
use crate::http::routes::Routes;
pub use image_check::check_image_properties;
use l10n::{Failure, MdResult};

/// The catalog's routes, each with the localizing middleware.
pub fn routes(r: Routes) -> Routes {
    let r = namespaces::routes(r);
    let r = resource_types::routes(r);
    let r = items::routes(r);
    let r = tags::routes(r);
    schemas::routes(r)
}

/// A handler wrapped by [`l10n::localize`].
fn localized<H, T>(h: H) -> impl Handler<T, AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    h.layer(middleware::from_fn(l10n::localize))
}

fn caller(who: &Identity) -> Caller<'_> {
    Caller {
        project: &who.user.project.id,
        admin: who.user.is_admin(),
    }
}

/// The namespace if the caller may see it; a private namespace of another project is as
/// missing as one that does not exist.
async fn visible(state: &AppState, who: &Identity, ns: &str) -> MdResult<NamespaceRecord> {
    match state.store.get_metadef_namespace(ns).await? {
        Some(r) if caller(who).may_see(&r.ns) => Ok(r),
        _ => Err(MdError::no_namespace(ns).into()),
    }
}

/// The namespace if the caller may see and change it.
async fn changeable(state: &AppState, who: &Identity, ns: &str) -> MdResult<NamespaceRecord> {
    let r = visible(state, who, ns).await?;
    caller(who).may_change(&r.ns)?;
    Ok(r)
}

/// A JSON request body whose refusals are localized: a wrong Content-Type is a 415, an
/// empty or malformed body a 400 naming the position.
pub struct Body(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Failure> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)").to_owned());
        if !crate::http::body::is_json(ct.as_deref()) {
            return Err(MdError::new(
                MdErrorKind::UnsupportedMediaType,
                "md-bad-media-type",
                &[("type", &ct.unwrap_or_default())],
            )
            .into());
        }
        let bytes = crate::http::body::bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(MdError::bad("md-empty-body", &[]).into());
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| MdError::bad("md-bad-json", &[("detail", &e.to_string())]).into())
    }
}
