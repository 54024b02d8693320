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

use anyhow::Context;

use crate::api::image::data::Uploads;
use crate::backend::ComputeBackend;
use crate::config::Config;
use crate::domain::image::PropertyProtections;
use crate::imagestore::ImageStore;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    /// Image bytes, under the data dir.
    pub images: Arc<ImageStore>,
    /// The operator's property protections, when configured.
    pub protections: Option<Arc<PropertyProtections>>,
    pub uploads: Arc<Uploads>,
    /// Runs the servers.
    pub backend: Arc<dyn ComputeBackend>,
    /// The console proxy: tickets and open consoles.
    pub consoles: Arc<crate::console::Consoles>,
}

impl AppState {
    /// Opens the image store under the data dir and reads the property protections file.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        backend: Arc<dyn ComputeBackend>,
    ) -> anyhow::Result<AppState> {
        let images = ImageStore::open(&config.data_dir).with_context(|| {
            format!(
                "cannot open the image store in {}",
                config.data_dir.display()
            )
        })?;
        let protections = match &config.property_protections_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let rules = PropertyProtections::parse(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                Some(Arc::new(rules))
            }
        };
        let consoles = crate::console::Consoles::new(
            crate::console::Settings::from_config(&config),
            store.clone(),
            backend.clone(),
        );
        Ok(AppState {
            consoles,
            config: Arc::new(config),
            store,
            images: Arc::new(images),
            protections,
            uploads: Arc::new(Uploads::default()),
            backend,
        })
    }
}
