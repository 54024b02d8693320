//! The Cyclades compute API under `/compute/v2.0`: one file per row group of the seed's
//! tables.

pub mod flavors;
pub mod images;

use crate::http::routes::Routes;

/// Authenticated compute routes.
pub fn routes() -> Routes {
    images::routes(flavors::routes(Routes::new()))
}
