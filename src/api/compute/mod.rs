//! The Cyclades compute API under `/compute/v2.0`: one file per row group of the seed's
//! tables.

pub mod actions;
pub mod console;
pub mod flavors;
pub mod images;
pub mod networks;
pub mod servers;
pub mod stats;

use crate::http::routes::Routes;

/// Authenticated compute routes.
pub fn routes() -> Routes {
    let r = images::routes(flavors::routes(Routes::new()));
    let r = stats::routes(actions::routes(servers::routes(r)));
    networks::routes(r)
}

/// Compute routes without `X-Auth-Token`: the stats graphs, which carry a signature.
pub fn public_routes() -> Routes {
    stats::public_routes(Routes::new())
}
