//! The Image API v2 under `/image/v2`. Its version documents live in `api/versions.rs`.

use crate::http::routes::Routes;

/// Authenticated image routes.
pub fn routes() -> Routes {
    Routes::new()
}
