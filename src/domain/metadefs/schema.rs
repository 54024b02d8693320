//! The JSON schemas of `/v2/schemas/metadefs/*`, in Glance's shape, and validation of
//! request bodies against the very same documents: glanceclient validates what it sends and
//! what it receives with them, and the server enforces exactly what it publishes.
//!
//! Two differences from Glance, both for the reference's own examples: a property's
//! `title` is optional (the `StorageQOS` object of the reference defines `minIOPS` without
//! one), and a namespace carries read-only `property_count`, `object_count` and `tag_count`
//! (the list's "counts", as the reference's note says). A property definition also rejects
//! keywords it does not know (`additionalProperties: false`), so a typo such as `minimun`
//! is a 400 that names it instead of a silently ignored constraint.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::MdError;
use crate::domain::image::schema::{collection, describe};

/// The value types a property definition may declare.
pub const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// One property definition: a JSON-schema fragment plus Glance's `title`, `readonly` and
/// `operators`.
fn definition_schema(with_name: bool) -> Value {
    let mut props = json!({
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": TYPES},
        "readonly": {"type": "boolean"},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "default": {},
        "items": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": TYPES},
                "enum": {"type": "array"},
            },
        },
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": false},
        "additionalItems": {"type": "boolean"},
    });
    if with_name && let Some(m) = props.as_object_mut() {
        m.insert(
            "name".into(),
            json!({"type": "string", "minLength": 1, "maxLength": 255}),
        );
    }
    json!({
        "type": "object",
        "required": ["type"],
        "properties": props,
        "additionalProperties": false,
    })
}

fn definitions() -> Value {
    json!({
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"},
                                              {"default": 0}]},
        "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
        "property": {
            "type": "object",
            "propertyNames": {"minLength": 1, "maxLength": 255},
            "additionalProperties": definition_schema(false),
        },
    })
}

fn timestamp(what: &str) -> Value {
    json!({"type": "string", "readOnly": true, "format": "date-time", "description": what})
}

fn object_properties() -> Value {
    json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": "string"},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"},
        "schema": {"readOnly": true, "type": "string"},
        "self": {"readOnly": true, "type": "string"},
        "created_at": timestamp("Date and time of object creation"),
        "updated_at": timestamp("Date and time of the last object modification"),
    })
}

fn association_properties() -> Value {
    json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 80,
                 "description": "Resource type names should be aligned with Heat resource types"},
        "prefix": {"type": "string", "maxLength": 80,
                   "description": "Prefix of the namespace's properties on this resource type"},
        "properties_target": {"type": "string", "maxLength": 80,
                              "description": "Where the properties go on the resource (e.g. image)"},
        "created_at": timestamp("Date and time of resource type association"),
        "updated_at": timestamp("Date and time of the last resource type association modification"),
    })
}

fn tag_properties() -> Value {
    json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "created_at": timestamp("Date and time of tag creation"),
        "updated_at": timestamp("Date and time of the last tag modification"),
    })
}

fn count(what: &str) -> Value {
    json!({"type": "integer", "readOnly": true, "minimum": 0, "description": what})
}

/// `GET /v2/schemas/metadefs/namespace`.
pub fn namespace_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| {
        json!({
            "name": "namespace",
            "required": ["namespace"],
            "additionalProperties": false,
            "definitions": definitions(),
            "properties": {
                "namespace": {"type": "string", "minLength": 1, "maxLength": 80,
                              "pattern": "^[^/]+$",
                              "description": "The unique namespace text."},
                "display_name": {"type": "string", "maxLength": 80,
                                 "description": "The user friendly name for the namespace."},
                "description": {"type": "string", "maxLength": 500,
                                "description": "Provides a user friendly description of the namespace."},
                "visibility": {"type": "string", "enum": ["public", "private"],
                               "description": "Scope of namespace accessibility."},
                "protected": {"type": "boolean",
                              "description": "If true, namespace will not be deletable."},
                "owner": {"type": "string", "maxLength": 255,
                          "description": "Owner of the namespace."},
                "created_at": timestamp("Date and time of namespace creation."),
                "updated_at": timestamp("Date and time of the last namespace modification."),
                "schema": {"readOnly": true, "type": "string"},
                "self": {"readOnly": true, "type": "string"},
                "resource_type_associations": {
                    "type": "array",
                    "items": {"type": "object", "properties": association_properties()},
                },
                "properties": {"$ref": "#/definitions/property"},
                "objects": {
                    "type": "array",
                    "items": {"type": "object", "properties": object_properties()},
                },
                "tags": {
                    "type": "array",
                    "items": {"type": "object", "properties": tag_properties()},
                },
                "property_count": count("Number of property definitions in the namespace"),
                "object_count": count("Number of objects in the namespace"),
                "tag_count": count("Number of tags in the namespace"),
            },
        })
    });
    &S
}

/// `GET /v2/schemas/metadefs/namespaces`.
pub fn namespaces_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| {
        let mut s = collection("namespaces", namespace_schema());
        s["definitions"] = definitions();
        s
    });
    &S
}

/// `GET /v2/schemas/metadefs/property`: one definition with its `name`.
pub fn property_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| {
        let mut s = definition_schema(true);
        s["name"] = json!("property");
        s["required"] = json!(["name", "type"]);
        s["definitions"] = definitions();
        s
    });
    &S
}

/// `GET /v2/schemas/metadefs/properties`.
pub fn properties_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| {
        json!({
            "name": "properties",
            "properties": {
                "properties": {"$ref": "#/definitions/property"},
                "first": {"type": "string"},
                "next": {"type": "string"},
                "schema": {"type": "string"},
            },
            "definitions": definitions(),
            "links": [
                {"rel": "first", "href": "{first}"},
                {"rel": "next", "href": "{next}"},
                {"rel": "describedby", "href": "{schema}"},
            ],
        })
    });
    &S
}

/// `GET /v2/schemas/metadefs/object`.
pub fn object_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| {
        json!({
            "name": "object",
            "required": ["name"],
            "additionalProperties": false,
            "definitions": definitions(),
            "properties": object_properties(),
        })
    });
    &S
}

/// `GET /v2/schemas/metadefs/objects`.
pub fn objects_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| {
        let mut s = collection("objects", object_schema());
        s["definitions"] = definitions();
        s
    });
    &S
}

/// `GET /v2/schemas/metadefs/resource_type`: an association of a namespace.
pub fn resource_type_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| {
        json!({
            "name": "resource_type_association",
            "required": ["name"],
            "additionalProperties": false,
            "properties": association_properties(),
        })
    });
    &S
}

/// `GET /v2/schemas/metadefs/resource_types`.
pub fn resource_types_schema() -> &'static Value {
    static S: LazyLock<Value> =
        LazyLock::new(|| collection("resource_type_associations", resource_type_schema()));
    &S
}

/// `GET /v2/schemas/metadefs/tag`.
pub fn tag_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| {
        json!({
            "name": "tag",
            "required": ["name"],
            "additionalProperties": false,
            "properties": tag_properties(),
        })
    });
    &S
}

/// `GET /v2/schemas/metadefs/tags`.
pub fn tags_schema() -> &'static Value {
    static S: LazyLock<Value> = LazyLock::new(|| collection("tags", tag_schema()));
    &S
}

/// Every served schema by its name under `/v2/schemas/metadefs/`.
pub fn by_name(name: &str) -> Option<&'static Value> {
    Some(match name {
        "namespace" => namespace_schema(),
        "namespaces" => namespaces_schema(),
        "property" => property_schema(),
        "properties" => properties_schema(),
        "object" => object_schema(),
        "objects" => objects_schema(),
        "resource_type" => resource_type_schema(),
        "resource_types" => resource_types_schema(),
        "tag" => tag_schema(),
        "tags" => tags_schema(),
        _ => return None,
    })
}

pub const NAMES: [&str; 10] = [
    "namespace",
    "namespaces",
    "property",
    "properties",
    "object",
    "objects",
    "resource_type",
    "resource_types",
    "tag",
    "tags",
];

fn compile(schema: &Value) -> jsonschema::Validator {
    // The schemas are constants of this program; `every_schema_compiles` tests them.
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("a metadefs schema compiles")
}

/// Which document a body is checked against; each error names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Namespace,
    Property,
    Object,
    Tag,
    Association,
}

impl Doc {
    fn validator(self) -> &'static jsonschema::Validator {
        static NS: LazyLock<jsonschema::Validator> = LazyLock::new(|| compile(namespace_schema()));
        static PROP: LazyLock<jsonschema::Validator> = LazyLock::new(|| compile(property_schema()));
        static OBJ: LazyLock<jsonschema::Validator> = LazyLock::new(|| compile(object_schema()));
        static TAG: LazyLock<jsonschema::Validator> = LazyLock::new(|| compile(tag_schema()));
        static RT: LazyLock<jsonschema::Validator> =
            LazyLock::new(|| compile(resource_type_schema()));
        match self {
            Doc::Namespace => &NS,
            Doc::Property => &PROP,
            Doc::Object => &OBJ,
            Doc::Tag => &TAG,
            Doc::Association => &RT,
        }
    }

    fn message_id(self) -> &'static str {
        match self {
            Doc::Namespace => "md-invalid-namespace",
            Doc::Property => "md-invalid-property",
            Doc::Object => "md-invalid-object",
            Doc::Tag => "md-invalid-tag",
            Doc::Association => "md-invalid-association",
        }
    }
}

fn segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The keyword a definition error is about: the next path segment, or — for an error on
/// the definition itself — the missing or unknown keyword.
fn keyword_of(e: &jsonschema::ValidationError, rest: &[String]) -> String {
    use jsonschema::error::ValidationErrorKind as Kind;
    if let Some(k) = rest.first() {
        return k.clone();
    }
    match e.kind() {
        Kind::Required { property } => property.as_str().unwrap_or("?").to_owned(),
        Kind::AdditionalProperties { unexpected } => {
            unexpected.first().cloned().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// Checks `body` against `doc`'s schema. An error inside a property definition names the
/// property and the keyword (`md-invalid-definition`); anything else is the document's
/// own message with the validator's reason.
pub fn validate(doc: Doc, body: &Value) -> Result<(), MdError> {
    let Some(e) = doc.validator().iter_errors(body).next() else {
        return Ok(());
    };
    let path = segments(e.instance_path().as_str());
    // Where property definitions sit in each document.
    let definition = match (doc, path.as_slice()) {
        (Doc::Property, rest) => {
            let name = body.get("name").and_then(Value::as_str).unwrap_or("?");
            Some((name.to_owned(), rest.to_vec()))
        }
        (Doc::Namespace, [p, name, rest @ ..]) if p == "properties" => {
            Some((name.clone(), rest.to_vec()))
        }
        (Doc::Object, [p, name, rest @ ..]) if p == "properties" => {
            let obj = body.get("name").and_then(Value::as_str).unwrap_or("?");
            Some((format!("{obj}.{name}"), rest.to_vec()))
        }
        (Doc::Namespace, [o, i, p, name, rest @ ..]) if o == "objects" && p == "properties" => {
            let obj = body
                .pointer(&format!("/objects/{i}/name"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            Some((format!("{obj}.{name}"), rest.to_vec()))
        }
        _ => None,
    };
    match definition {
        Some((name, rest))
            if !(doc == Doc::Property && rest.first().is_some_and(|k| k == "name")) =>
        {
            // The path is in the message's own words already; the reason is enough.
            let why = describe(&e);
            let why = match why.strip_prefix('\'').and_then(|w| w.split_once("': ")) {
                Some((_, reason)) => reason.to_owned(),
                None => why,
            };
            Err(definition_error(&name, &keyword_of(&e, &rest), &why))
        }
        _ => Err(MdError::bad(doc.message_id(), &[("detail", &describe(&e))])),
    }
}

fn definition_error(property: &str, keyword: &str, detail: &str) -> MdError {
    MdError::bad(
        "md-invalid-definition",
        &[
            ("property", property),
            ("keyword", keyword),
            ("detail", detail),
        ],
    )
}

/// The rules of a definition that a schema cannot say: bounds in order and a `default` of
/// the declared type (`pattern` is checked by the schema's `format: regex`). (A `default` outside its own `enum` is
/// allowed: Glance's own catalogue has one.)
pub fn check_definition(property: &str, def: &Map<String, Value>) -> Result<(), MdError> {
    for (lo, hi) in [
        ("minimum", "maximum"),
        ("minLength", "maxLength"),
        ("minItems", "maxItems"),
    ] {
        if let (Some(a), Some(b)) = (
            def.get(lo).and_then(Value::as_f64),
            def.get(hi).and_then(Value::as_f64),
        ) && a > b
        {
            return Err(definition_error(
                property,
                lo,
                &format!("{lo} {a} is greater than {hi} {b}"),
            ));
        }
    }
    if let (Some(t), Some(d)) = (def.get("type").and_then(Value::as_str), def.get("default"))
        && !of_type(t, d)
    {
        return Err(definition_error(
            property,
            "default",
            &format!("{d} is not of type {t}"),
        ));
    }
    Ok(())
}

fn of_type(t: &str, v: &Value) -> bool {
    match t {
        "array" => v.is_array(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "object" => v.is_object(),
        "string" => v.is_string(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles() {
        for name in NAMES {
            let s = by_name(name).unwrap();
            assert!(jsonschema::validator_for(s).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_wrong_keyword_is_named() {
        let e = validate(
            Doc::Property,
            &json!({"name": "p", "type": "integer", "minimum": "ten"}),
        )
        .unwrap_err();
        assert_eq!(e.id, "md-invalid-definition");
        assert_eq!(e.arg("keyword"), Some("minimum"));
        let e = validate(
            Doc::Property,
            &json!({"name": "p", "type": "integer", "minimun": 1}),
        )
        .unwrap_err();
        assert_eq!(e.arg("keyword"), Some("minimun"));
        let e = validate(Doc::Property, &json!({"name": "p", "title": "P"})).unwrap_err();
        assert_eq!(e.arg("keyword"), Some("type"));
        let e = validate(Doc::Property, &json!({"name": "p", "type": "decimal"})).unwrap_err();
        assert_eq!(e.arg("keyword"), Some("type"));
        assert!(e.arg("detail").unwrap().contains("\"string\""));
    }

    #[test]
    fn definitions_inside_namespaces_and_objects_are_checked() {
        let e = validate(
            Doc::Namespace,
            &json!({"namespace": "N", "objects": [{"name": "o",
                "properties": {"p": {"type": "array", "items": {"type": "strin"}}}}]}),
        )
        .unwrap_err();
        assert_eq!(e.arg("property"), Some("o.p"));
        assert_eq!(e.arg("keyword"), Some("items"));
        let e = validate(
            Doc::Object,
            &json!({"name": "o", "properties": {"p": {"type": "string", "pattern": "("}}}),
        )
        .unwrap_err();
        assert_eq!(e.arg("keyword"), Some("pattern"));
        let e = validate(Doc::Namespace, &json!({"namespace": "a/b"})).unwrap_err();
        assert_eq!(e.id, "md-invalid-namespace");
    }

    #[test]
    fn semantic_rules() {
        let def = |v: Value| v.as_object().cloned().unwrap();
        let e = check_definition(
            "p",
            &def(json!({"type": "integer", "minimum": 5, "maximum": 1})),
        )
        .unwrap_err();
        assert_eq!(e.arg("keyword"), Some("minimum"));
        let e =
            check_definition("p", &def(json!({"type": "integer", "default": "x"}))).unwrap_err();
        assert_eq!(e.arg("keyword"), Some("default"));
        assert!(
            check_definition(
                "p",
                &def(json!({"type": "string", "enum": ["a"], "default": "b"}))
            )
            .is_ok()
        );
    }
}
