//! The Cyclades compute API under `/compute/v2.0`: one file per row group of the seed's
//! tables.

pub mod actions;
pub mod flavors;
pub mod images;
pub mod servers;

use crate::http::routes::Routes;

/// Authenticated compute routes.
pub fn routes() -> Routes {
    let r = images::routes(flavors::routes(Routes::new()));
    actions::routes(servers::routes(r))
}
