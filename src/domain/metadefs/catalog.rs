//! Glance's catalogue files — the `etc/metadefs/*.json` that the glance package installs,
//! one namespace per file — read into records and written back.
//!
//! A file is a namespace create body (`namespace`, `display_name`, `description`,
//! `visibility`, `protected`, `resource_type_associations`, `properties`, `objects`, and
//! optionally `tags` and `owner`), so reading one is [`super::request::namespace_create`]
//! with an operator's rights; writing one renders the same shape without timestamps or
//! links, so an exported directory imports to the same catalogue.

use serde_json::{Map, Value};

use super::request::{self, NewNamespace};
use super::{Caller, Item, ItemKind, MdError, NamespaceRecord};
use crate::domain::time::Timestamp;

/// The project that owns imported namespaces when neither the file nor the operator
/// names one (Glance's loader uses the same word).
pub const DEFAULT_OWNER: &str = "admin";

/// A namespace file, owned by `owner` unless the file says otherwise.
pub fn read(text: &str, owner: &str, now: Timestamp) -> Result<NewNamespace, CatalogError> {
    let body: Value = serde_json::from_str(text).map_err(|e| CatalogError::Json(e.to_string()))?;
    let operator = Caller {
        project: owner,
        admin: true,
    };
    request::namespace_create(&body, &operator, now).map_err(CatalogError::Invalid)
}

#[derive(Debug)]
pub enum CatalogError {
    Json(String),
    Invalid(MdError),
}

/// The file of one namespace, in Glance's format.
pub fn write(r: &NamespaceRecord, items: &[Item]) -> Value {
    let ns = &r.ns;
    let mut m = Map::new();
    m.insert("namespace".into(), Value::from(ns.namespace.clone()));
    if let Some(d) = &ns.display_name {
        m.insert("display_name".into(), Value::from(d.clone()));
    }
    if let Some(d) = &ns.description {
        m.insert("description".into(), Value::from(d.clone()));
    }
    m.insert("visibility".into(), Value::from(ns.visibility.as_str()));
    m.insert("protected".into(), Value::from(ns.protected));
    m.insert("owner".into(), Value::from(ns.owner.clone()));
    let assocs: Vec<Value> = r
        .associations
        .iter()
        .map(|a| {
            let mut e = Map::new();
            e.insert("name".into(), Value::from(a.resource_type.clone()));
            if let Some(p) = &a.prefix {
                e.insert("prefix".into(), Value::from(p.clone()));
            }
            if let Some(t) = &a.properties_target {
                e.insert("properties_target".into(), Value::from(t.clone()));
            }
            Value::Object(e)
        })
        .collect();
    m.insert("resource_type_associations".into(), Value::Array(assocs));
    let props: Map<String, Value> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Property)
        .map(|i| (i.name.clone(), Value::Object(i.body.clone())))
        .collect();
    m.insert("properties".into(), Value::Object(props));
    let objects: Vec<Value> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Object)
        .map(|i| {
            let mut o = Map::new();
            o.insert("name".into(), Value::from(i.name.clone()));
            o.extend(i.body.clone());
            Value::Object(o)
        })
        .collect();
    m.insert("objects".into(), Value::Array(objects));
    let tags: Vec<Value> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Tag)
        .map(|i| serde_json::json!({"name": i.name}))
        .collect();
    if !tags.is_empty() {
        m.insert("tags".into(), Value::Array(tags));
    }
    Value::Object(m)
}

/// A file name for a namespace: its name with anything but letters, digits, `.`, `_` and
/// `-` replaced (`OS::Compute::Quota` → `OS__Compute__Quota.json`).
pub fn file_name(namespace: &str) -> String {
    let safe: String = namespace
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back_the_same() {
        let text = r#"{"namespace": "OS::X", "display_name": "X", "visibility": "public",
            "protected": true, "resource_type_associations": [{"name": "OS::Nova::Flavor",
            "prefix": "x:"}], "properties": {"a": {"title": "A", "type": "integer",
            "minimum": 1}}, "objects": [{"name": "o", "description": "d",
            "properties": {"b": {"title": "B", "type": "string", "enum": ["u", "v"]}}}],
            "tags": [{"name": "t"}]}"#;
        let now = Default::default();
        let n = read(text, DEFAULT_OWNER, now).unwrap();
        assert_eq!(n.ns.owner, "admin");
        let rec = NamespaceRecord {
            ns: n.ns.clone(),
            associations: n.associations.clone(),
            property_count: 1,
            object_count: 1,
            tag_count: 1,
        };
        let out = write(&rec, &n.items).to_string();
        let again = read(&out, "other", now).unwrap();
        assert_eq!(again, n);
        assert_eq!(file_name("OS::Compute::Quota"), "OS__Compute__Quota.json");
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(matches!(
            read("{", "a", Default::default()),
            Err(CatalogError::Json(_))
        ));
        assert!(matches!(
            read(
                r#"{"namespace": "N", "properties": {"p": {"title": "P"}}}"#,
                "a",
                Default::default()
            ),
            Err(CatalogError::Invalid(_))
        ));
    }
}
