//! Plankton, Synnefo's Glance v1-style image API under `/image/v1.0`, which kamaki 0.16's
//! plain `image` commands speak. It is one more view of the Image API v2's records: every
//! read comes from the same store, every change goes through the v2 create, patch, upload,
//! member and delete code (see `domain::image::plankton` for how headers become v2
//! requests), so an image changed here shows in `/image/v2` and compute `/images` at once.
//! Faults are Cyclades-style JSON (`{"itemNotFound": {"code": 404, …}}`), as Synnefo's are.
//!
//! | route                                              | handler                |
//! |----------------------------------------------------|------------------------|
//! | `GET /images/`, `GET /images/detail`               | [`images`] list        |
//! | `POST /images/`                                    | [`images`] create      |
//! | `HEAD\|GET\|PUT\|DELETE /images/{id}`              | [`images`]             |
//! | `GET\|PUT /images/{id}/members`                    | [`members`]            |
//! | `PUT\|DELETE /images/{id}/members/{member}`        | [`members`]            |

mod images;
mod members;

use crate::http::routes::Routes;

/// The prefix every Plankton route lives under.
pub const PREFIX: &str = "/image/v1.0";

/// Authenticated Plankton routes.
pub fn routes() -> Routes {
    members::routes(images::routes(Routes::new()))
}
