//! The HTTP machinery every API shares: faults, JSON/XML negotiation, XML writing, links,
//! authentication, request bodies and the route table.

pub mod auth;
pub mod body;
pub mod fault;
pub mod links;
pub mod negotiate;
pub mod routes;
pub mod xml;

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
}
