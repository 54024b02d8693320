//! The JSON shapes of the catalog's responses, as the reference shows them: links
//! (`self`, `schema`) relative to the Image API root, timestamps in UTC with a `Z`, and
//! optional attributes left out when unset.

use serde_json::{Map, Value, json};

use super::{Association, Item, ItemKind, NamespaceRecord, ResourceType};
use crate::domain::time::iso;

pub fn namespace_href(ns: &str) -> String {
    format!("/v2/metadefs/namespaces/{ns}")
}

fn put_opt(m: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(k.into(), Value::from(v.clone()));
    }
}

/// An association as namespaces and `…/{ns}/resource_types` show it.
pub fn association(a: &Association) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::from(a.resource_type.clone()));
    put_opt(&mut m, "prefix", &a.prefix);
    put_opt(&mut m, "properties_target", &a.properties_target);
    m.insert("created_at".into(), Value::from(iso(&a.created_at)));
    m.insert("updated_at".into(), Value::from(iso(&a.updated_at)));
    Value::Object(m)
}

pub fn resource_type(rt: &ResourceType) -> Value {
    json!({"name": rt.name, "created_at": iso(&rt.created_at), "updated_at": iso(&rt.updated_at)})
}

/// A namespace's own attributes, its links, associations and counts: one entry of the
/// list, and the head of the detail view.
pub fn namespace_summary(r: &NamespaceRecord) -> Value {
    let ns = &r.ns;
    let mut m = Map::new();
    m.insert("namespace".into(), Value::from(ns.namespace.clone()));
    put_opt(&mut m, "display_name", &ns.display_name);
    put_opt(&mut m, "description", &ns.description);
    m.insert("visibility".into(), Value::from(ns.visibility.as_str()));
    m.insert("protected".into(), Value::from(ns.protected));
    m.insert("owner".into(), Value::from(ns.owner.clone()));
    m.insert("self".into(), Value::from(namespace_href(&ns.namespace)));
    m.insert(
        "schema".into(),
        Value::from("/v2/schemas/metadefs/namespace"),
    );
    m.insert("created_at".into(), Value::from(iso(&ns.created_at)));
    m.insert("updated_at".into(), Value::from(iso(&ns.updated_at)));
    if !r.associations.is_empty() {
        m.insert(
            "resource_type_associations".into(),
            r.associations.iter().map(association).collect(),
        );
    }
    m.insert("property_count".into(), Value::from(r.property_count));
    m.insert("object_count".into(), Value::from(r.object_count));
    m.insert("tag_count".into(), Value::from(r.tag_count));
    Value::Object(m)
}

/// `GET /v2/metadefs/namespaces/{ns}`: the summary plus every property, object and tag.
/// With `prefix` (from `?resource_type=`), property names carry that resource type's
/// prefix, as they would on the resource.
pub fn namespace_detail(r: &NamespaceRecord, items: &[Item], prefix: Option<&str>) -> Value {
    let mut v = namespace_summary(r);
    let props = properties(items, prefix);
    if props.as_object().is_some_and(|p| !p.is_empty()) {
        v["properties"] = props;
    }
    let objects: Vec<Value> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Object)
        .map(|i| object(&r.ns.namespace, i, prefix))
        .collect();
    if !objects.is_empty() {
        v["objects"] = Value::Array(objects);
    }
    let tags: Vec<Value> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Tag)
        .map(tag)
        .collect();
    if !tags.is_empty() {
        v["tags"] = Value::Array(tags);
    }
    v
}

fn prefixed(prefix: Option<&str>, name: &str) -> String {
    format!("{}{name}", prefix.unwrap_or(""))
}

fn prefix_all(defs: &Map<String, Value>, prefix: Option<&str>) -> Map<String, Value> {
    defs.iter()
        .map(|(k, v)| (prefixed(prefix, k), v.clone()))
        .collect()
}

/// `{name: definition, …}` of the namespace's properties.
pub fn properties(items: &[Item], prefix: Option<&str>) -> Value {
    Value::Object(
        items
            .iter()
            .filter(|i| i.kind == ItemKind::Property)
            .map(|i| (prefixed(prefix, &i.name), Value::Object(i.body.clone())))
            .collect(),
    )
}

/// One property with its name (`GET …/properties/{name}`).
pub fn property(i: &Item) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::from(i.name.clone()));
    m.extend(i.body.clone());
    Value::Object(m)
}

pub fn object(ns: &str, i: &Item, prefix: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::from(i.name.clone()));
    for (k, v) in &i.body {
        let v = match (k.as_str(), v) {
            ("properties", Value::Object(defs)) => Value::Object(prefix_all(defs, prefix)),
            ("required", Value::Array(names)) => names
                .iter()
                .map(|n| Value::from(prefixed(prefix, n.as_str().unwrap_or_default())))
                .collect(),
            _ => v.clone(),
        };
        m.insert(k.clone(), v);
    }
    m.insert(
        "self".into(),
        Value::from(format!("{}/objects/{}", namespace_href(ns), i.name)),
    );
    m.insert("schema".into(), Value::from("/v2/schemas/metadefs/object"));
    m.insert("created_at".into(), Value::from(iso(&i.created_at)));
    m.insert("updated_at".into(), Value::from(iso(&i.updated_at)));
    Value::Object(m)
}

pub fn tag(i: &Item) -> Value {
    json!({"name": i.name, "created_at": iso(&i.created_at), "updated_at": iso(&i.updated_at)})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metadefs::{Namespace, Visibility};

    #[test]
    fn prefixes_apply_to_properties_and_required() {
        let now = Default::default();
        let r = NamespaceRecord {
            ns: Namespace {
                namespace: "N".into(),
                display_name: None,
                description: None,
                visibility: Visibility::Public,
                protected: false,
                owner: "p".into(),
                created_at: now,
                updated_at: now,
            },
            associations: vec![],
            property_count: 1,
            object_count: 1,
            tag_count: 0,
        };
        let body = |v: Value| v.as_object().cloned().unwrap();
        let items = vec![
            Item {
                kind: ItemKind::Property,
                name: "a".into(),
                body: body(json!({"type": "string"})),
                created_at: now,
                updated_at: now,
            },
            Item {
                kind: ItemKind::Object,
                name: "o".into(),
                body: body(json!({"required": ["b"], "properties": {"b": {"type": "integer"}}})),
                created_at: now,
                updated_at: now,
            },
        ];
        let v = namespace_detail(&r, &items, Some("hw_"));
        assert!(v["properties"]["hw_a"].is_object());
        assert_eq!(v["objects"][0]["required"], json!(["hw_b"]));
        assert!(v["objects"][0]["properties"]["hw_b"].is_object());
        assert_eq!(
            v["objects"][0]["self"],
            "/v2/metadefs/namespaces/N/objects/o"
        );
        assert!(v.get("tags").is_none());
        assert!(v.get("display_name").is_none());
    }
}
