//! Image property values checked against the catalog (the operator switch
//! `metadefs_validate_image_properties`): every namespace associated with
//! `OS::Glance::Image` defines properties — at namespace level and inside objects — whose
//! names on an image carry the association's prefix (`hw_` + `cpu_cores`). An image property
//! with such a name must satisfy the definition.
//!
//! Image properties are strings, so a value is first read as the definition's type
//! (`"8"` → 8 for an integer, `"True"` → true for a boolean, `"a, b"` or Glance's operator
//! form `"<or> a <or> b"` → `["a", "b"]` for an array), then validated with the definition
//! as a JSON schema.

use serde_json::{Map, Value};

use super::{Item, ItemKind, NamespaceRecord};

pub const IMAGE_RESOURCE_TYPE: &str = "OS::Glance::Image";

/// One property name an image may carry, and what its value must be.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The name on the image, prefix included.
    pub key: String,
    /// Where it is defined: `namespace` or `namespace/object`.
    pub source: String,
    pub definition: Map<String, Value>,
}

/// The rules of the namespaces associated with `resource_type`.
pub fn rules(namespaces: &[(NamespaceRecord, Vec<Item>)], resource_type: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    for (r, items) in namespaces {
        let Some(a) = r
            .associations
            .iter()
            .find(|a| a.resource_type == resource_type)
        else {
            continue;
        };
        let prefix = a.prefix.clone().unwrap_or_default();
        for i in items {
            match i.kind {
                ItemKind::Property => out.push(Rule {
                    key: format!("{prefix}{}", i.name),
                    source: r.ns.namespace.clone(),
                    definition: i.body.clone(),
                }),
                ItemKind::Object => {
                    let defs = i.body.get("properties").and_then(Value::as_object);
                    for (name, def) in defs.into_iter().flatten() {
                        out.push(Rule {
                            key: format!("{prefix}{name}"),
                            source: format!("{}/{}", r.ns.namespace, i.name),
                            definition: def.as_object().cloned().unwrap_or_default(),
                        });
                    }
                }
                ItemKind::Tag => {}
            }
        }
    }
    out
}

/// An image property's string read as a value of `ty`.
fn read_as(ty: Option<&str>, items_ty: Option<&str>, s: &str) -> Result<Value, String> {
    let scalar = |t: Option<&str>, s: &str| -> Result<Value, String> {
        let s = s.trim();
        match t {
            Some("integer") => s
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("'{s}' is not an integer")),
            Some("number") => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("'{s}' is not a number")),
            Some("boolean") => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("'{s}' is not true or false")),
            },
            Some("object") => {
                serde_json::from_str(s).map_err(|_| format!("'{s}' is not a JSON object"))
            }
            _ => Ok(Value::from(s)),
        }
    };
    match ty {
        Some("array") => {
            // Glance's operator form `<or> a <or> b` (from definitions with `operators`), or
            // a comma-separated list.
            let parts: Vec<&str> = if s.trim_start().starts_with('<') {
                s.split_whitespace()
                    .filter(|t| !(t.starts_with('<') && t.ends_with('>')))
                    .collect()
            } else {
                s.split(',').filter(|p| !p.trim().is_empty()).collect()
            };
            parts
                .into_iter()
                .map(|p| scalar(items_ty, p))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        other => scalar(other, s),
    }
}

/// Checks one value; the error says why, in the validator's words.
pub fn check(rule: &Rule, value: &str) -> Result<(), String> {
    let def = &rule.definition;
    let ty = def.get("type").and_then(Value::as_str);
    let items_ty = def
        .get("items")
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str);
    let v = read_as(ty, items_ty, value)?;
    let schema = Value::Object(def.clone());
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| format!("its definition does not compile: {e}"))?;
    match validator.iter_errors(&v).next() {
        None => Ok(()),
        Some(e) => Err(crate::domain::image::schema::describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(def: Value) -> Rule {
        Rule {
            key: "k".into(),
            source: "N".into(),
            definition: def.as_object().cloned().unwrap(),
        }
    }

    #[test]
    fn values_are_read_as_their_type() {
        let cores = rule(json!({"type": "integer", "minimum": 1, "maximum": 64}));
        assert!(check(&cores, "8").is_ok());
        assert!(check(&cores, "0").unwrap_err().contains("minimum"));
        assert!(
            check(&cores, "eight")
                .unwrap_err()
                .contains("not an integer")
        );
        let flag = rule(json!({"type": "boolean"}));
        assert!(check(&flag, "True").is_ok() && check(&flag, "false").is_ok());
        assert!(check(&flag, "yes").is_err());
        let policy = rule(json!({"type": "string", "enum": ["shared", "dedicated"]}));
        assert!(check(&policy, "dedicated").is_ok());
        assert!(check(&policy, "fast").unwrap_err().contains("shared"));
        let hv = rule(json!({"type": "array", "operators": ["<or>"],
            "items": {"type": "string", "enum": ["qemu", "kvm"]}}));
        assert!(check(&hv, "<or> qemu <or> kvm").is_ok());
        assert!(check(&hv, "qemu,kvm").is_ok());
        assert!(check(&hv, "<or> xen").is_err());
        let ratio = rule(json!({"type": "number", "maximum": 2.5}));
        assert!(check(&ratio, "1.5").is_ok() && check(&ratio, "3").is_err());
        let id = rule(json!({"type": "string", "pattern": "^[0-9a-f]{4}$"}));
        assert!(check(&id, "beef").is_ok() && check(&id, "cow").is_err());
    }
}
