//! The v2 image entity, as `GET /v2/images/{id}` returns it, and the reverse: reading an
//! [`Image`] back from a (created or patched, schema-valid) document.
//!
//! ```text
//! {"id": "…", "name": "cirros", "status": "active", "visibility": "shared",
//!  "protected": false, "os_hidden": false, "owner": "…", "checksum": "…",
//!  "os_hash_algo": "sha512", "os_hash_value": "…", "size": 13267968,
//!  "virtual_size": null, "disk_format": "qcow2", "container_format": "bare",
//!  "min_disk": 0, "min_ram": 0, "tags": [], "created_at": "2014-11-07T17:07:06Z",
//!  "updated_at": "2014-11-07T17:07:06Z", "self": "/v2/images/…",
//!  "file": "/v2/images/…/file", "schema": "/v2/schemas/image", "os_distro": "cirros"}
//! ```
//!
//! Links are relative, as Glance's are. Unset base attributes are `null`, as Glance returns
//! them; user properties are top-level strings.

use serde_json::{Map, Value};

use super::schema::MAX_MIN_REQUIREMENT;
use super::{Caller, Image, ImageError, Member, PropertyOp};
use crate::domain::time::iso;

/// Attributes that are part of every image (Glance's domain attributes) or of its
/// representation; everything else is a user property. Base attributes can't be removed.
const BASE_ATTRIBUTES: [&str; 25] = [
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "disk_format",
    "container_format",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_disk",
    "min_ram",
    "tags",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
    "stores",
];

/// Set by the server only (Glance's `_readonly_properties`, plus `locations` and `stores`:
/// this gateway keeps image data itself, there are no external locations to manage).
/// `id` may be chosen on create, so it is checked apart.
const READ_ONLY: [&str; 14] = [
    "status",
    "checksum",
    "size",
    "virtual_size",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
    "stores",
];

/// Glance's `_reserved_properties`; every name under `os_glance` is reserved as well.
const RESERVED: [&str; 3] = ["location", "deleted", "deleted_at"];

/// Whether `name` is a base attribute rather than a user property.
pub fn is_base_attribute(name: &str) -> bool {
    BASE_ATTRIBUTES.contains(&name)
}

/// Why a client may not set attribute `name` (Glance's wording), or `None` if it may.
pub(crate) fn not_settable(name: &str) -> Option<ImageError> {
    if READ_ONLY.contains(&name) {
        Some(ImageError::Forbidden(format!(
            "Attribute '{name}' is read-only."
        )))
    } else if RESERVED.contains(&name) || name.starts_with("os_glance") {
        Some(ImageError::Forbidden(format!(
            "Attribute '{name}' is reserved."
        )))
    } else {
        None
    }
}

/// The full v2 entity, every user property included. Use [`view`] for what a caller sees.
pub fn document(image: &Image) -> Value {
    let mut doc = Map::new();
    for (key, value) in &image.properties {
        if !is_base_attribute(key) {
            doc.insert(key.clone(), Value::String(value.clone()));
        }
    }
    let id = &image.id;
    let base = [
        ("id", Value::from(id.as_str())),
        ("name", Value::from(image.name.clone())),
        ("status", Value::from(image.status.as_str())),
        ("visibility", Value::from(image.visibility.as_str())),
        ("protected", Value::from(image.protected)),
        ("os_hidden", Value::from(image.os_hidden)),
        ("owner", Value::from(image.owner.clone())),
        ("disk_format", Value::from(image.disk_format.clone())),
        (
            "container_format",
            Value::from(image.container_format.clone()),
        ),
        ("size", Value::from(image.size)),
        ("virtual_size", Value::from(image.virtual_size)),
        ("checksum", Value::from(image.checksum.clone())),
        ("os_hash_algo", Value::from(image.os_hash_algo.clone())),
        ("os_hash_value", Value::from(image.os_hash_value.clone())),
        ("min_disk", Value::from(image.min_disk)),
        ("min_ram", Value::from(image.min_ram)),
        ("tags", Value::from(image.tags.clone())),
        ("created_at", Value::from(iso(&image.created_at))),
        ("updated_at", Value::from(iso(&image.updated_at))),
        ("self", Value::from(format!("/v2/images/{id}"))),
        ("file", Value::from(format!("/v2/images/{id}/file"))),
        ("schema", Value::from("/v2/schemas/image")),
    ];
    for (key, value) in base {
        doc.insert(key.to_string(), value);
    }
    Value::Object(doc)
}

/// [`document()`] without the user properties the caller may not read under the
/// operator's property protections (Images API v2.2).
pub fn view(image: &Image, caller: &Caller) -> Value {
    let mut doc = document(image);
    if let Value::Object(map) = &mut doc {
        map.retain(|key, _| is_base_attribute(key) || caller.may(key, PropertyOp::Read));
    }
    doc
}

/// `GET /v2/images/{id}/members/{member_id}`.
pub fn member_document(member: &Member) -> Value {
    serde_json::json!({
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status.as_str(),
        "created_at": iso(&member.created_at),
        "updated_at": iso(&member.updated_at),
        "schema": "/v2/schemas/member",
    })
}

/// Reads the client-settable attributes and the user properties of a schema-valid document;
/// everything the server owns (status, data attributes, timestamps) comes from `base`.
/// A user property whose value is `null` (the schema allows it for e.g. `kernel_id`) is
/// left unset: the store keeps only string properties.
pub(crate) fn from_document(doc: &Map<String, Value>, base: &Image) -> Result<Image, ImageError> {
    let mut image = base.clone();
    if let Some(id) = doc.get("id").and_then(Value::as_str) {
        image.id = id.to_string();
    }
    image.name = optional_string(doc, "name")?;
    if let Some(v) = doc.get("visibility") {
        image.visibility = v
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(ImageError::BadRequest)?;
    }
    image.protected = flag(doc, "protected", base.protected)?;
    image.os_hidden = flag(doc, "os_hidden", base.os_hidden)?;
    image.owner = optional_string(doc, "owner")?;
    image.disk_format = optional_string(doc, "disk_format")?;
    image.container_format = optional_string(doc, "container_format")?;
    image.min_disk = count(doc, "min_disk")?;
    image.min_ram = count(doc, "min_ram")?;

    let mut tags = Vec::new();
    match doc.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(tag) => tags.push(tag.clone()),
                    other => return Err(invalid("tags", other, "a string")),
                }
            }
        }
        Some(other) => return Err(invalid("tags", other, "a list of strings")),
    }
    tags.sort();
    tags.dedup();
    image.tags = tags;

    image.properties.clear();
    for (key, value) in doc {
        if is_base_attribute(key) {
            continue;
        }
        match value {
            Value::String(s) => {
                image.properties.insert(key.clone(), s.clone());
            }
            Value::Null => {}
            other => return Err(invalid(key, other, "a string")),
        }
    }
    Ok(image)
}

fn invalid(name: &str, value: &Value, expected: &str) -> ImageError {
    ImageError::BadRequest(format!(
        "invalid image: '{name}': {value} is not {expected}"
    ))
}

fn optional_string(doc: &Map<String, Value>, name: &str) -> Result<Option<String>, ImageError> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(name, other, "a string or null")),
    }
}

fn flag(doc: &Map<String, Value>, name: &str, default: bool) -> Result<bool, ImageError> {
    match doc.get(name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(invalid(name, other, "a boolean")),
    }
}

/// `min_disk`/`min_ram`. JSON Schema counts `512.0` as an integer, so accept it too.
fn count(doc: &Map<String, Value>, name: &str) -> Result<u64, ImageError> {
    let Some(value) = doc.get(name) else {
        return Ok(0);
    };
    value
        .as_u64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .filter(|n| *n <= MAX_MIN_REQUIREMENT)
        .ok_or_else(|| invalid(name, value, "an integer from 0 to 2147483647"))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::domain::identity::Role;
    use crate::domain::image::{
        ImageStatus, PropertyProtections, Visibility, validate_image_document,
    };
    use crate::domain::time::Timestamp;

    pub(crate) fn at(secs: i64) -> Timestamp {
        chrono::Utc.timestamp_opt(1_415_380_026 + secs, 0).unwrap()
    }

    pub(crate) fn sample() -> Image {
        Image {
            id: "6d9c1a0e-2c55-4bd0-8ed4-3c2b7b6a8f10".into(),
            name: Some("cirros".into()),
            status: ImageStatus::Active,
            visibility: Visibility::Shared,
            protected: false,
            os_hidden: false,
            owner: Some("p1".into()),
            disk_format: Some("qcow2".into()),
            container_format: Some("bare".into()),
            size: Some(13_267_968),
            virtual_size: None,
            checksum: Some("ee1eca47dc88f4879d8a229cc70a07c6".into()),
            os_hash_algo: Some("sha512".into()),
            os_hash_value: Some("1b03ca1bc3fafe448b90583c12f367949f8b0e665685979d95b004e48574b953316799e23240f4f739d1b5eb4c4ca24d38fdc6f4f9d8247a2bc64db25d6bbdb2".into()),
            min_disk: 1,
            min_ram: 64,
            tags: vec!["a".into(), "b".into()],
            properties: BTreeMap::from([
                ("os_distro".to_string(), "cirros".to_string()),
                ("x_billing_code".to_string(), "42".to_string()),
            ]),
            created_at: at(0),
            updated_at: at(60),
        }
    }

    #[test]
    fn the_entity_as_glance_returns_it() {
        let doc = document(&sample());
        assert_eq!(doc["id"], "6d9c1a0e-2c55-4bd0-8ed4-3c2b7b6a8f10");
        assert_eq!(
            doc["self"],
            "/v2/images/6d9c1a0e-2c55-4bd0-8ed4-3c2b7b6a8f10"
        );
        assert_eq!(
            doc["file"],
            "/v2/images/6d9c1a0e-2c55-4bd0-8ed4-3c2b7b6a8f10/file"
        );
        assert_eq!(doc["schema"], "/v2/schemas/image");
        assert_eq!(doc["created_at"], "2014-11-07T17:07:06Z");
        assert_eq!(doc["updated_at"], "2014-11-07T17:08:06Z");
        assert_eq!(doc["virtual_size"], Value::Null);
        assert!(doc.as_object().unwrap().contains_key("virtual_size"));
        assert_eq!(doc["size"], 13_267_968);
        assert_eq!(doc["os_distro"], "cirros");
        assert_eq!(doc["tags"], json!(["a", "b"]));
        assert_eq!(doc["os_hidden"], false);
        validate_image_document(&doc).unwrap();
    }

    #[test]
    fn unset_attributes_are_null() {
        let mut image = sample();
        image.name = None;
        image.owner = None;
        image.checksum = None;
        image.size = None;
        let doc = document(&image);
        for key in ["name", "owner", "checksum", "size"] {
            assert_eq!(doc[key], Value::Null, "{key}");
        }
        validate_image_document(&doc).unwrap();
    }

    #[test]
    fn round_trip() {
        let image = sample();
        let doc = document(&image);
        let back = from_document(doc.as_object().unwrap(), &image).unwrap();
        assert_eq!(back, image);
    }

    #[test]
    fn view_hides_what_the_caller_may_not_read() {
        let rules = PropertyProtections::parse(
            "[^x_billing_.*]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n",
        )
        .unwrap();
        let member = Caller {
            project_id: "p1",
            roles: &[Role::Member],
            protections: Some(&rules),
        };
        let seen = view(&sample(), &member);
        assert!(seen.get("x_billing_code").is_none());
        assert_eq!(seen["os_distro"], "cirros");
        assert_eq!(seen["name"], "cirros");

        let admin = Caller {
            roles: &[Role::Admin],
            ..member
        };
        assert_eq!(view(&sample(), &admin)["x_billing_code"], "42");
        let unprotected = Caller {
            protections: None,
            ..member
        };
        assert_eq!(view(&sample(), &unprotected), document(&sample()));
    }

    #[test]
    fn members_render_with_their_schema() {
        let m = Member {
            image_id: sample().id,
            member_id: "p2".into(),
            status: crate::domain::image::MemberStatus::Pending,
            created_at: at(0),
            updated_at: at(0),
        };
        let doc = member_document(&m);
        assert_eq!(doc["status"], "pending");
        assert_eq!(doc["schema"], "/v2/schemas/member");
        assert!(jsonschema::is_valid(
            crate::domain::image::member_schema(),
            &doc
        ));
    }
}
