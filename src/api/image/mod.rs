//! The Image API v2 under `/image/v2`: images, data, tags, members, schemas and info. Its
//! version documents live in `api/versions.rs`.

pub(crate) mod access;
pub mod data;
pub(crate) mod images;
mod members;
pub mod metadefs;
mod schemas;
mod tags;

use crate::http::routes::Routes;

/// Authenticated image routes.
pub fn routes() -> Routes {
    let r = images::routes(Routes::new());
    let r = data::routes(r);
    let r = tags::routes(r);
    let r = members::routes(r);
    let r = metadefs::routes(r);
    schemas::routes(r)
}
