//! The Cyclades compute API under `/compute/v2.0`: one file per row group of the seed's
//! tables.

pub mod flavors;

use crate::http::routes::Routes;

/// Authenticated compute routes.
pub fn routes() -> Routes {
    flavors::routes(Routes::new())
}
