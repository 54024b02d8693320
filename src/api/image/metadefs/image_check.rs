//! The operator switch `metadefs_validate_image_properties`: image create and patch check
//! new or changed user properties against the catalog's definitions for `OS::Glance::Image`
//! (rules in `domain::metadefs::image_rules`). The definitions that apply are those of the
//! public namespaces and of the image owner's private ones.

use crate::domain::image::Image;
use crate::domain::metadefs::image_rules::{self, IMAGE_RESOURCE_TYPE};
use crate::http::AppState;
use crate::http::fault::{ApiError, ApiResult};
use crate::store::{NamespaceQuery, NamespaceSortKey};

/// A 400 naming the property and the rule when a value `img` brings in (compared with
/// `old`, on a patch) breaks its definition. Does nothing unless the switch is on.
pub async fn check_image_properties(
    state: &AppState,
    img: &Image,
    old: Option<&Image>,
) -> ApiResult<()> {
    if !state.config.metadefs_validate_image_properties {
        return Ok(());
    }
    let changed: Vec<(&String, &String)> = img
        .properties
        .iter()
        .filter(|(k, v)| old.and_then(|o| o.properties.get(*k)) != Some(*v))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut namespaces = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = state
            .store
            .list_metadef_namespaces(NamespaceQuery {
                project: img.owner.clone().unwrap_or_default(),
                admin: false,
                visibility: None,
                resource_types: vec![IMAGE_RESOURCE_TYPE.to_owned()],
                sort_key: NamespaceSortKey::Namespace,
                ascending: true,
                marker: marker.clone(),
                limit: 500,
            })
            .await?;
        let Some(last) = page.last() else { break };
        marker = Some(last.ns.namespace.clone());
        for r in page {
            let items = state.store.metadef_items(&r.ns.namespace, None).await?;
            namespaces.push((r, items));
        }
    }
    let rules = image_rules::rules(&namespaces, IMAGE_RESOURCE_TYPE);
    for (key, value) in changed {
        for rule in rules.iter().filter(|r| &r.key == key) {
            if let Err(why) = image_rules::check(rule, value) {
                return Err(ApiError::bad_request(format!(
                    "image property {key}='{value}' breaks its metadata definition \
                     (namespace {}): {why}",
                    rule.source
                )));
            }
        }
    }
    Ok(())
}
