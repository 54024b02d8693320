//! Reading request bodies into records: a namespace with its inline contents (create, and
//! Glance's catalogue files), a namespace update, a property definition, an object, tags
//! and a resource type association. Each body is first checked against the schema the
//! server publishes ([`super::schema`]); read-only attributes a client echoes back
//! (`self`, `schema`, `created_at`, counts, …) are accepted and ignored.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::schema::{self, Doc};
use super::{Association, Caller, Item, ItemKind, MdError, Namespace, Visibility};
use crate::domain::time::Timestamp;

/// A namespace to create, with everything that comes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNamespace {
    pub ns: Namespace,
    pub associations: Vec<Association>,
    pub items: Vec<Item>,
}

fn str_of(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn object_of(body: &Value) -> Result<&Map<String, Value>, MdError> {
    body.as_object()
        .ok_or_else(|| MdError::bad("md-body-not-object", &[]))
}

/// `POST /v2/metadefs/namespaces`: the namespace, its associations, properties, objects
/// and tags, all checked before anything is stored. The owner defaults to the caller's
/// project; visibility to private.
pub fn namespace_create(
    body: &Value,
    caller: &Caller<'_>,
    now: Timestamp,
) -> Result<NewNamespace, MdError> {
    let m = object_of(body)?;
    schema::validate(Doc::Namespace, body)?;
    let ns = Namespace {
        namespace: str_of(m, "namespace").unwrap_or_default(),
        display_name: str_of(m, "display_name"),
        description: str_of(m, "description"),
        visibility: visibility(m, Visibility::Private),
        protected: m.get("protected").and_then(Value::as_bool).unwrap_or(false),
        owner: str_of(m, "owner").unwrap_or_else(|| caller.project.to_owned()),
        created_at: now,
        updated_at: now,
    };
    caller.may_set(&ns)?;
    let mut associations = Vec::new();
    let mut seen = BTreeSet::new();
    for a in m
        .get("resource_type_associations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let a = association_fields(a, now)?;
        if !seen.insert(a.resource_type.clone()) {
            return Err(duplicate(&a.resource_type));
        }
        associations.push(a);
    }
    let mut items = Vec::new();
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (name, def) in props {
            items.push(definition(name, def, now)?);
        }
    }
    let mut names = BTreeSet::new();
    for o in m
        .get("objects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let item = object_fields(o, None, now)?;
        if !names.insert(item.name.clone()) {
            return Err(duplicate(&item.name));
        }
        items.push(item);
    }
    let mut tags = BTreeSet::new();
    for t in m
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        let item = tag(name, now)?;
        if !tags.insert(item.name.clone()) {
            return Err(duplicate(&item.name));
        }
        items.push(item);
    }
    Ok(NewNamespace {
        ns,
        associations,
        items,
    })
}

fn duplicate(name: &str) -> MdError {
    MdError::bad("md-duplicate-in-request", &[("name", name)])
}

fn visibility(m: &Map<String, Value>, default: Visibility) -> Visibility {
    m.get("visibility")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `PUT /v2/metadefs/namespaces/{ns}`: the attributes the body names replace the old ones
/// (a rename included); inline contents in the body are ignored — they have their own
/// endpoints. glanceclient sends back the whole namespace it read, contents and all.
pub fn namespace_update(
    old: &Namespace,
    body: &Value,
    caller: &Caller<'_>,
    now: Timestamp,
) -> Result<Namespace, MdError> {
    let m = object_of(body)?;
    let mut checked = m.clone();
    checked
        .entry("namespace")
        .or_insert_with(|| Value::from(old.namespace.clone()));
    schema::validate(Doc::Namespace, &Value::Object(checked.clone()))?;
    let keep = |k: &str, old: &Option<String>| match m.get(k) {
        Some(v) => v.as_str().map(str::to_owned),
        None => old.clone(),
    };
    let new = Namespace {
        namespace: str_of(&checked, "namespace").unwrap_or_else(|| old.namespace.clone()),
        display_name: keep("display_name", &old.display_name),
        description: keep("description", &old.description),
        visibility: visibility(m, old.visibility),
        protected: m
            .get("protected")
            .and_then(Value::as_bool)
            .unwrap_or(old.protected),
        owner: str_of(m, "owner").unwrap_or_else(|| old.owner.clone()),
        created_at: old.created_at,
        updated_at: now,
    };
    if new.visibility != old.visibility || new.owner != old.owner {
        caller.may_set(&new)?;
    }
    Ok(new)
}

/// One property definition of a namespace or object body (already schema-checked).
fn definition(name: &str, def: &Value, now: Timestamp) -> Result<Item, MdError> {
    let mut body = def.as_object().cloned().unwrap_or_default();
    body.remove("name");
    schema::check_definition(name, &body)?;
    Ok(Item {
        kind: ItemKind::Property,
        name: name.to_owned(),
        body,
        created_at: now,
        updated_at: now,
    })
}

/// `POST …/properties` and `PUT …/properties/{name}`: `{"name": …, "type": …, …}`. On
/// update the body's `name` renames; without one the path's name is kept.
pub fn property(body: &Value, path_name: Option<&str>, now: Timestamp) -> Result<Item, MdError> {
    let m = object_of(body)?;
    let mut checked = m.clone();
    if let Some(n) = path_name {
        checked.entry("name").or_insert_with(|| Value::from(n));
    }
    let checked = Value::Object(checked);
    schema::validate(Doc::Property, &checked)?;
    let name = checked
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    definition(name, &checked, now)
}

/// `POST …/objects` and `PUT …/objects/{name}`.
pub fn object(body: &Value, path_name: Option<&str>, now: Timestamp) -> Result<Item, MdError> {
    object_fields(body, path_name, now)
}

fn object_fields(body: &Value, path_name: Option<&str>, now: Timestamp) -> Result<Item, MdError> {
    let m = object_of(body)?;
    let mut checked = m.clone();
    if let Some(n) = path_name {
        checked.entry("name").or_insert_with(|| Value::from(n));
    }
    let checked = Value::Object(checked);
    schema::validate(Doc::Object, &checked)?;
    let name = checked
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut out = Map::new();
    if let Some(d) = m.get("description") {
        out.insert("description".into(), d.clone());
    }
    let props = m
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut defs = Map::new();
    for (pname, def) in &props {
        let item = definition(&format!("{name}.{pname}"), def, now)?;
        defs.insert(pname.clone(), Value::Object(item.body));
    }
    if let Some(req) = m.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !props.contains_key(r) {
                return Err(MdError::bad(
                    "md-required-undefined",
                    &[("object", &name), ("property", r)],
                ));
            }
        }
        out.insert("required".into(), Value::Array(req.clone()));
    }
    if m.contains_key("properties") {
        out.insert("properties".into(), Value::Object(defs));
    }
    Ok(Item {
        kind: ItemKind::Object,
        name,
        body: out,
        created_at: now,
        updated_at: now,
    })
}

/// A tag named `name` (`POST …/tags/{name}`, or an entry of a list).
pub fn tag(name: &str, now: Timestamp) -> Result<Item, MdError> {
    schema::validate(Doc::Tag, &serde_json::json!({ "name": name }))?;
    Ok(Item {
        kind: ItemKind::Tag,
        name: name.to_owned(),
        body: Map::new(),
        created_at: now,
        updated_at: now,
    })
}

/// `POST …/tags`: `{"tags": [{"name": …}, …]}`; a name twice is a 400.
pub fn tags(body: &Value, now: Timestamp) -> Result<Vec<Item>, MdError> {
    let m = object_of(body)?;
    let list = m
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| MdError::bad("md-tags-missing", &[]))?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for t in list {
        schema::validate(Doc::Tag, t)?;
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        if !seen.insert(name.to_owned()) {
            return Err(duplicate(name));
        }
        out.push(tag(name, now)?);
    }
    Ok(out)
}

/// `PUT …/tags/{name}`: `{"name": new}`.
pub fn tag_rename(body: &Value, now: Timestamp) -> Result<Item, MdError> {
    schema::validate(Doc::Tag, body)?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    tag(name, now)
}

/// `POST …/{ns}/resource_types`: `{"name", "prefix"?, "properties_target"?}`.
pub fn association(body: &Value, now: Timestamp) -> Result<Association, MdError> {
    association_fields(body, now)
}

fn association_fields(body: &Value, now: Timestamp) -> Result<Association, MdError> {
    let m = object_of(body)?;
    schema::validate(Doc::Association, body)?;
    Ok(Association {
        resource_type: str_of(m, "name").unwrap_or_default(),
        prefix: str_of(m, "prefix"),
        properties_target: str_of(m, "properties_target"),
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ME: Caller<'static> = Caller {
        project: "p1",
        admin: false,
    };

    #[test]
    fn inline_contents_are_read() {
        let n = namespace_create(
            &json!({"namespace": "N", "resource_type_associations": [{"name": "OS::Glance::Image",
                "prefix": "hw_"}], "properties": {"a": {"type": "string", "title": "A"}},
                "objects": [{"name": "o", "required": ["x"], "properties": {"x": {"type": "integer"}}}],
                "tags": [{"name": "t"}]}),
            &ME,
            Default::default(),
        )
        .unwrap();
        assert_eq!(n.ns.owner, "p1");
        assert_eq!(n.ns.visibility, Visibility::Private);
        assert_eq!(n.associations[0].prefix.as_deref(), Some("hw_"));
        let kinds: Vec<_> = n.items.iter().map(|i| (i.kind, i.name.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (ItemKind::Property, "a"),
                (ItemKind::Object, "o"),
                (ItemKind::Tag, "t")
            ]
        );
    }

    #[test]
    fn refusals() {
        let e = |b: Value| namespace_create(&b, &ME, Default::default()).unwrap_err();
        assert_eq!(
            e(json!({"namespace": "N", "visibility": "public"})).id,
            "md-public-needs-admin"
        );
        assert_eq!(
            e(json!({"namespace": "N", "tags": [{"name": "t"}, {"name": "t"}]})).id,
            "md-duplicate-in-request"
        );
        assert_eq!(e(json!({"display_name": "x"})).id, "md-invalid-namespace");
        assert_eq!(e(json!([1])).id, "md-body-not-object");
        let o = object(
            &json!({"name": "o", "required": ["y"], "properties": {"x": {"type": "integer"}}}),
            None,
            Default::default(),
        )
        .unwrap_err();
        assert_eq!(o.id, "md-required-undefined");
    }

    #[test]
    fn updates_keep_what_the_body_leaves_out() {
        let old = namespace_create(
            &json!({"namespace": "N", "display_name": "D", "protected": true}),
            &ME,
            Default::default(),
        )
        .unwrap()
        .ns;
        let new = namespace_update(
            &old,
            &json!({"description": "x", "self": "/v2/…", "properties": {}}),
            &ME,
            Default::default(),
        )
        .unwrap();
        assert_eq!(new.display_name.as_deref(), Some("D"));
        assert_eq!(new.description.as_deref(), Some("x"));
        assert!(new.protected);
        let renamed =
            namespace_update(&old, &json!({"namespace": "M"}), &ME, Default::default()).unwrap();
        assert_eq!(renamed.namespace, "M");
        assert!(
            namespace_update(
                &old,
                &json!({"visibility": "public"}),
                &ME,
                Default::default()
            )
            .is_err()
        );
    }

    #[test]
    fn property_rename_and_path_name() {
        let p = property(&json!({"type": "string"}), Some("p"), Default::default()).unwrap();
        assert_eq!(p.name, "p");
        assert!(!p.body.contains_key("name"));
        let q = property(
            &json!({"name": "q", "type": "string"}),
            Some("p"),
            Default::default(),
        )
        .unwrap();
        assert_eq!(q.name, "q");
    }
}
