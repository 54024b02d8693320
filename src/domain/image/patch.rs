//! `PATCH /v2/images/{id}`: JSON Patch over the image document, in both media types Glance
//! accepts.
//!
//! ```text
//! Content-Type: application/openstack-images-v2.1-json-patch      (RFC 6902)
//! [{"op": "replace", "path": "/name", "value": "Fedora 17"},
//!  {"op": "add", "path": "/os_distro", "value": "fedora"},
//!  {"op": "remove", "path": "/x_old"}]
//!
//! Content-Type: application/openstack-images-v2.0-json-patch      (older tooling)
//! [{"replace": "/name", "value": "Fedora 17"}, {"remove": "/x_old"}]
//! ```
//!
//! The 2.0 form is converted to RFC 6902 and both are applied with the `json-patch` crate to
//! a copy of the image's document, so nothing changes unless every operation applies and
//! the result validates against `/v2/schemas/image`. Glance's rules:
//! - only `add`, `remove`, `replace`, on top-level attributes (`/name`, not `/tags/0`): 400;
//! - server-owned and reserved attributes (`id`, `status`, `checksum`, `size`, `os_hash_*`,
//!   `self`, `file`, …), and `owner` for non-admins: 403; `visibility: public` for
//!   non-admins: 403;
//! - `remove` of a base attribute (`/name`, `/tags`, …): 403 "Property … may not be
//!   removed."; `remove` or `replace` of a property that does not exist: 409;
//! - 2.0 `add` of an attribute that is already there: 409 "Property … already present."
//!   (2.1 `add` follows RFC 6902 and sets it);
//! - property protections: setting a new user property needs `create`, changing an existing
//!   one `update`, removing one (or setting it to `null`) `delete` — judged on what the
//!   operation does, as Glance's protected-properties proxy does: 403.

use serde_json::{Map, Value, json};

use super::document::{document, from_document, is_base_attribute, not_settable};
use super::request::{protected, publicize_forbidden};
use super::schema::validate_image_document;
use super::{Caller, Image, ImageError, PropertyOp};
use crate::domain::time::Timestamp;

/// The JSON Patch dialect of a `PATCH` request, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFormat {
    /// `application/openstack-images-v2.1-json-patch`: RFC 6902 operation objects.
    V2_1,
    /// `application/openstack-images-v2.0-json-patch`: `{"replace": "/name", "value": …}`.
    V2_0,
}

impl PatchFormat {
    pub const V2_1_MEDIA_TYPE: &'static str = "application/openstack-images-v2.1-json-patch";
    pub const V2_0_MEDIA_TYPE: &'static str = "application/openstack-images-v2.0-json-patch";
    /// The `Accept-Patch` header Glance sends with a 415.
    pub const ACCEPT_PATCH: &'static str = "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch";

    /// The format a `Content-Type` header names (parameters such as `charset` are ignored);
    /// anything else is 415.
    pub fn from_content_type(ct: &str) -> Result<PatchFormat, ImageError> {
        let media_type = ct.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case(Self::V2_1_MEDIA_TYPE) {
            Ok(PatchFormat::V2_1)
        } else if media_type.eq_ignore_ascii_case(Self::V2_0_MEDIA_TYPE) {
            Ok(PatchFormat::V2_0)
        } else {
            Err(ImageError::UnsupportedMediaType(format!(
                "unsupported Content-Type '{ct}' for PATCH: send {} (or the older {})",
                Self::V2_1_MEDIA_TYPE,
                Self::V2_0_MEDIA_TYPE
            )))
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            PatchFormat::V2_1 => Self::V2_1_MEDIA_TYPE,
            PatchFormat::V2_0 => Self::V2_0_MEDIA_TYPE,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Replace,
}

impl Op {
    const ALL: [Op; 3] = [Op::Add, Op::Remove, Op::Replace];
    const NAMES: &'static str = "add, remove, replace";

    fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
        }
    }

    fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

/// One operation, on the top-level attribute `name`.
#[derive(Debug)]
struct Change {
    op: Op,
    name: String,
    value: Option<Value>,
}

/// `image` with the patch in `body` applied, `updated_at` set to `now`; `image` itself is
/// never modified. See the module doc for the rules.
pub fn patch(
    image: &Image,
    format: PatchFormat,
    body: &[u8],
    caller: &Caller,
    now: Timestamp,
) -> Result<Image, ImageError> {
    let changes = parse(format, body)?;
    if changes.is_empty() {
        return Ok(image.clone());
    }
    let mut working = match document(image) {
        Value::Object(mut map) => {
            for link in ["self", "file", "schema"] {
                map.remove(link);
            }
            Value::Object(map)
        }
        other => other,
    };
    for change in &changes {
        if let Value::Object(map) = &working {
            check(change, map, format, caller)?;
        }
        apply(change, &mut working)?;
    }
    validate_image_document(&working)?;
    let Value::Object(map) = &working else {
        return Err(ImageError::BadRequest(
            "the patched image is not an object".into(),
        ));
    };
    let mut patched = from_document(map, image)?;
    patched.updated_at = now;
    Ok(patched)
}

fn parse(format: PatchFormat, body: &[u8]) -> Result<Vec<Change>, ImageError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ImageError::BadRequest(format!("Malformed JSON in request body: {e}")))?;
    let Value::Array(raw_changes) = body else {
        return Err(ImageError::BadRequest(
            "Request body must be a JSON array of operation objects.".into(),
        ));
    };
    raw_changes
        .iter()
        .map(|raw| {
            let Value::Object(raw) = raw else {
                return Err(ImageError::BadRequest(
                    "Operations must be JSON objects.".into(),
                ));
            };
            let (op, path) = match format {
                PatchFormat::V2_1 => operation_v2_1(raw)?,
                PatchFormat::V2_0 => operation_v2_0(raw)?,
            };
            let name = decode_pointer(path)?;
            if let Some(refused) = not_settable(&name) {
                return Err(refused);
            }
            if name == "id" {
                return Err(ImageError::Forbidden("Attribute 'id' is read-only.".into()));
            }
            let value = match op {
                Op::Remove => None,
                Op::Add | Op::Replace => {
                    let value = raw.get("value").ok_or_else(|| {
                        ImageError::BadRequest(format!(
                            "Operation \"{}\" requires a member named \"value\".",
                            op.as_str()
                        ))
                    })?;
                    // As Glance does, each value is checked on its own first, so the error
                    // names the operation's own property.
                    validate_image_document(&json!({ name.as_str(): value }))?;
                    Some(value.clone())
                }
            };
            Ok(Change { op, name, value })
        })
        .collect()
}

/// `{"op": "replace", "path": "/name", …}`
fn operation_v2_1(raw: &Map<String, Value>) -> Result<(Op, &str), ImageError> {
    let op = match raw.get("op") {
        None => {
            return Err(ImageError::BadRequest(format!(
                "Unable to find `op` in JSON Schema change. It must be one of the following: {}.",
                Op::NAMES
            )));
        }
        Some(op) => op.as_str().and_then(Op::parse).ok_or_else(|| {
            let shown = op.as_str().map_or_else(|| op.to_string(), str::to_string);
            ImageError::BadRequest(format!(
                "Invalid operation: `{shown}`. It must be one of the following: {}.",
                Op::NAMES
            ))
        })?,
    };
    let path = raw.get("path").and_then(Value::as_str).ok_or_else(|| {
        ImageError::BadRequest("Unable to find 'path' in JSON Schema change".into())
    })?;
    Ok((op, path))
}

/// `{"replace": "/name", …}`: the operation is the one key among add/remove/replace.
fn operation_v2_0(raw: &Map<String, Value>) -> Result<(Op, &str), ImageError> {
    let mut found = Op::ALL
        .into_iter()
        .filter(|op| raw.contains_key(op.as_str()));
    let (Some(op), None) = (found.next(), found.next()) else {
        return Err(ImageError::BadRequest(
            "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\"."
                .into(),
        ));
    };
    let path = raw
        .get(op.as_str())
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ImageError::BadRequest(format!(
                "The \"{}\" member must be a JSON pointer string.",
                op.as_str()
            ))
        })?;
    Ok((op, path))
}

/// The attribute a pointer names, checked the way Glance checks it: one level only, RFC 6901
/// escapes, surrounding blanks of the token ignored (Glance strips them).
fn decode_pointer(pointer: &str) -> Result<String, ImageError> {
    let bad = |why: &str| ImageError::BadRequest(format!("Pointer `{pointer}` {why}"));
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(bad("does not start with \"/\"."));
    };
    let mut escapes = rest.split('~').skip(1);
    if escapes.any(|after| !after.starts_with(['0', '1'])) {
        return Err(bad(
            "contains \"~\" not part of a recognized escape sequence.",
        ));
    }
    let tokens: Vec<&str> = rest.split('/').collect();
    if tokens.iter().any(|t| t.trim().is_empty()) {
        return Err(bad("does not contain a valid property name."));
    }
    if tokens.len() != 1 {
        return Err(ImageError::BadRequest(format!(
            "Invalid JSON pointer for this resource: '{pointer}'"
        )));
    }
    Ok(rest
        .replace("~1", "/")
        .replace("~0", "~")
        .trim()
        .to_string())
}

fn encode_pointer(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// The rules that depend on the document as the earlier operations left it.
fn check(
    change: &Change,
    doc: &Map<String, Value>,
    format: PatchFormat,
    caller: &Caller,
) -> Result<(), ImageError> {
    let name = change.name.as_str();
    let present = doc.contains_key(name);
    if name == "owner" && !caller.is_admin() {
        return Err(ImageError::Forbidden(
            "Attribute 'owner' can only be changed by an admin.".into(),
        ));
    }
    match change.op {
        Op::Remove if is_base_attribute(name) => {
            return Err(ImageError::Forbidden(format!(
                "Property {name} may not be removed."
            )));
        }
        Op::Remove | Op::Replace if !present => {
            return Err(ImageError::Conflict(format!(
                "Property {name} does not exist."
            )));
        }
        Op::Add if present && format == PatchFormat::V2_0 => {
            return Err(ImageError::Conflict(format!(
                "Property {name} already present."
            )));
        }
        _ => {}
    }
    if name == "visibility"
        && !caller.is_admin()
        && change.value.as_ref().and_then(Value::as_str) == Some("public")
    {
        return Err(publicize_forbidden());
    }
    if !is_base_attribute(name) {
        let needed = match (&change.value, present) {
            (None | Some(Value::Null), true) => Some(PropertyOp::Delete),
            (None | Some(Value::Null), false) => None,
            (Some(_), true) => Some(PropertyOp::Update),
            (Some(_), false) => Some(PropertyOp::Create),
        };
        if needed.is_some_and(|op| !caller.may(name, op)) {
            return Err(protected(name));
        }
    }
    Ok(())
}

fn apply(change: &Change, doc: &mut Value) -> Result<(), ImageError> {
    let path = encode_pointer(&change.name);
    let operation = match &change.value {
        Some(value) => json!([{ "op": change.op.as_str(), "path": path, "value": value }]),
        None => json!([{ "op": change.op.as_str(), "path": path }]),
    };
    let operations: json_patch::Patch = serde_json::from_value(operation)
        .map_err(|e| ImageError::BadRequest(format!("invalid JSON Patch operation: {e}")))?;
    json_patch::patch(doc, &operations).map_err(|e| {
        ImageError::Conflict(format!("can't {} {}: {e}", change.op.as_str(), change.name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::Role;
    use crate::domain::image::document::tests::{at, sample};
    use crate::domain::image::protections::tests::ISSUE_POLICY;
    use crate::domain::image::{PropertyProtections, Visibility};

    const MEMBER: Caller<'static> = Caller {
        project_id: "p1",
        roles: &[Role::Member],
        protections: None,
    };
    const ADMIN: Caller<'static> = Caller {
        project_id: "p0",
        roles: &[Role::Admin],
        protections: None,
    };

    fn v21(body: Value, caller: &Caller) -> Result<Image, ImageError> {
        patch(
            &sample(),
            PatchFormat::V2_1,
            body.to_string().as_bytes(),
            caller,
            at(600),
        )
    }

    fn v20(body: Value, caller: &Caller) -> Result<Image, ImageError> {
        patch(
            &sample(),
            PatchFormat::V2_0,
            body.to_string().as_bytes(),
            caller,
            at(600),
        )
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchFormat::from_content_type("application/openstack-images-v2.1-json-patch"),
            Ok(PatchFormat::V2_1)
        );
        assert_eq!(
            PatchFormat::from_content_type(
                "application/openstack-images-v2.0-json-patch; charset=UTF-8"
            ),
            Ok(PatchFormat::V2_0)
        );
        match PatchFormat::from_content_type("application/json-patch+json") {
            Err(ImageError::UnsupportedMediaType(m)) => {
                assert!(m.contains(PatchFormat::V2_1_MEDIA_TYPE), "{m}");
                assert!(m.contains(PatchFormat::V2_0_MEDIA_TYPE), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(PatchFormat::from_content_type("").is_err());
        assert_eq!(PatchFormat::V2_0.media_type(), PatchFormat::V2_0_MEDIA_TYPE);
    }

    #[test]
    fn both_formats_do_the_same() {
        let a = v21(
            json!([
                {"op": "replace", "path": "/name", "value": "Fedora 17"},
                {"op": "replace", "path": "/tags", "value": ["fedora", "beefy", "fedora"]},
                {"op": "add", "path": "/architecture", "value": "x86_64"},
                {"op": "remove", "path": "/os_distro"},
                {"op": "replace", "path": "/min_ram", "value": 512},
                {"op": "replace", "path": "/protected", "value": true},
            ]),
            &MEMBER,
        )
        .unwrap();
        let b = v20(
            json!([
                {"replace": "/name", "value": "Fedora 17"},
                {"replace": "/tags", "value": ["fedora", "beefy", "fedora"]},
                {"add": "/architecture", "value": "x86_64"},
                {"remove": "/os_distro"},
                {"replace": "/min_ram", "value": 512},
                {"replace": "/protected", "value": true},
            ]),
            &MEMBER,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.name.as_deref(), Some("Fedora 17"));
        assert_eq!(a.tags, ["beefy", "fedora"]);
        assert_eq!(
            a.properties.get("architecture").map(String::as_str),
            Some("x86_64")
        );
        assert!(!a.properties.contains_key("os_distro"));
        assert_eq!(a.min_ram, 512);
        assert!(a.protected);
        assert_eq!(a.updated_at, at(600));
        // What the client does not touch stays as it was.
        let before = sample();
        assert_eq!(
            (&a.id, a.status, &a.checksum, a.size, a.created_at),
            (
                &before.id,
                before.status,
                &before.checksum,
                before.size,
                before.created_at
            )
        );
    }

    #[test]
    fn glanceclient_replaces_unset_base_attributes() {
        let mut image = sample();
        image.name = None;
        image.disk_format = None;
        let body = json!([
            {"op": "replace", "path": "/name", "value": "n"},
            {"op": "replace", "path": "/disk_format", "value": "raw"},
            {"op": "add", "path": "/os_version", "value": "12"},
        ]);
        let patched = patch(
            &image,
            PatchFormat::V2_1,
            body.to_string().as_bytes(),
            &MEMBER,
            at(1),
        )
        .unwrap();
        assert_eq!(patched.name.as_deref(), Some("n"));
        assert_eq!(patched.disk_format.as_deref(), Some("raw"));
        assert_eq!(patched.properties["os_version"], "12");
    }

    #[test]
    fn add_sets_in_2_1_but_conflicts_in_2_0() {
        let a = v21(
            json!([{"op": "add", "path": "/os_distro", "value": "debian"}]),
            &MEMBER,
        )
        .unwrap();
        assert_eq!(a.properties["os_distro"], "debian");
        assert_eq!(
            v20(json!([{"add": "/os_distro", "value": "debian"}]), &MEMBER),
            Err(ImageError::Conflict(
                "Property os_distro already present.".into()
            ))
        );
        let n = v21(
            json!([{"op": "add", "path": "/name", "value": "x"}]),
            &MEMBER,
        )
        .unwrap();
        assert_eq!(n.name.as_deref(), Some("x"));
    }

    #[test]
    fn read_only_and_reserved_paths_are_403() {
        for key in [
            "id",
            "status",
            "checksum",
            "size",
            "virtual_size",
            "self",
            "file",
            "schema",
            "created_at",
            "updated_at",
            "os_hash_algo",
            "os_hash_value",
            "direct_url",
            "locations",
        ] {
            for op in ["add", "replace", "remove"] {
                let r = v21(
                    json!([{"op": op, "path": format!("/{key}"), "value": "x"}]),
                    &ADMIN,
                );
                assert_eq!(
                    r,
                    Err(ImageError::Forbidden(format!(
                        "Attribute '{key}' is read-only."
                    ))),
                    "{op} {key}"
                );
            }
        }
        let r = v21(
            json!([{"op": "add", "path": "/deleted_at", "value": "x"}]),
            &ADMIN,
        );
        assert_eq!(
            r,
            Err(ImageError::Forbidden(
                "Attribute 'deleted_at' is reserved.".into()
            ))
        );
        let r = v20(json!([{"add": "/os_glance_foo", "value": "x"}]), &ADMIN);
        assert!(matches!(r, Err(ImageError::Forbidden(_))));
    }

    #[test]
    fn owner_is_for_admins() {
        let r = v21(
            json!([{"op": "replace", "path": "/owner", "value": "p2"}]),
            &MEMBER,
        );
        assert!(matches!(r, Err(ImageError::Forbidden(m)) if m.contains("owner")));
        let r = v21(
            json!([{"op": "replace", "path": "/owner", "value": "p2"}]),
            &ADMIN,
        )
        .unwrap();
        assert_eq!(r.owner.as_deref(), Some("p2"));
    }

    #[test]
    fn visibility() {
        let r = v21(
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
            &MEMBER,
        );
        assert!(matches!(r, Err(ImageError::Forbidden(m)) if m.contains("public")));
        let r = v21(
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
            &ADMIN,
        );
        assert_eq!(r.unwrap().visibility, Visibility::Public);
        let r = v21(
            json!([{"op": "replace", "path": "/visibility", "value": "community"}]),
            &MEMBER,
        );
        assert_eq!(r.unwrap().visibility, Visibility::Community);
        let r = v21(
            json!([{"op": "replace", "path": "/visibility", "value": "world"}]),
            &MEMBER,
        );
        assert!(matches!(r, Err(ImageError::BadRequest(m)) if m.contains("'visibility'")));
    }

    #[test]
    fn removing_and_replacing_follow_glance() {
        for base in [
            "name",
            "tags",
            "visibility",
            "min_ram",
            "protected",
            "disk_format",
        ] {
            assert_eq!(
                v21(
                    json!([{"op": "remove", "path": format!("/{base}")}]),
                    &MEMBER
                ),
                Err(ImageError::Forbidden(format!(
                    "Property {base} may not be removed."
                )))
            );
        }
        assert_eq!(
            v21(json!([{"op": "remove", "path": "/nope"}]), &MEMBER),
            Err(ImageError::Conflict("Property nope does not exist.".into()))
        );
        assert_eq!(
            v21(
                json!([{"op": "replace", "path": "/nope", "value": "x"}]),
                &MEMBER
            ),
            Err(ImageError::Conflict("Property nope does not exist.".into()))
        );
    }

    #[test]
    fn only_add_remove_replace() {
        for op in ["move", "copy", "test", "frobnicate"] {
            let r = v21(
                json!([{"op": op, "path": "/name", "from": "/os_distro", "value": "x"}]),
                &MEMBER,
            );
            match r {
                Err(ImageError::BadRequest(m)) => {
                    assert!(m.contains(op) && m.contains("add, remove, replace"), "{m}")
                }
                other => panic!("{op}: {other:?}"),
            }
        }
        assert!(matches!(
            v21(json!([{"path": "/name"}]), &MEMBER),
            Err(ImageError::BadRequest(_))
        ));
        assert!(
            matches!(v21(json!([{"op": "add", "path": "/name"}]), &MEMBER),
            Err(ImageError::BadRequest(m)) if m.contains("\"value\""))
        );
        assert!(matches!(
            v20(json!([{"move": "/name"}]), &MEMBER),
            Err(ImageError::BadRequest(_))
        ));
        assert!(matches!(
            v20(
                json!([{"add": "/a", "replace": "/b", "value": "x"}]),
                &MEMBER
            ),
            Err(ImageError::BadRequest(_))
        ));
    }

    #[test]
    fn malformed_bodies_and_pointers_are_400() {
        let raw = |body: &str| {
            patch(
                &sample(),
                PatchFormat::V2_1,
                body.as_bytes(),
                &MEMBER,
                at(1),
            )
        };
        assert!(matches!(raw("{not json"), Err(ImageError::BadRequest(_))));
        assert!(
            matches!(raw(r#"{"op": "add"}"#), Err(ImageError::BadRequest(m)) if m.contains("array"))
        );
        assert!(matches!(raw(r#"["add"]"#), Err(ImageError::BadRequest(_))));
        for path in [
            "name", "/", "//name", "/name/", "/tags/0", "/tags/-", "/a~2", "/a~",
        ] {
            let r = v21(json!([{"op": "add", "path": path, "value": "x"}]), &MEMBER);
            assert!(matches!(r, Err(ImageError::BadRequest(_))), "{path}: {r:?}");
        }
    }

    #[test]
    fn escaped_pointers_name_odd_properties() {
        let r = v21(
            json!([{"op": "add", "path": "/a~1b~0c", "value": "x"}]),
            &MEMBER,
        )
        .unwrap();
        assert_eq!(r.properties["a/b~c"], "x");
        let r = v21(
            json!([{"op": "add", "path": "/owner_specified.openstack.sha256", "value": "x"}]),
            &MEMBER,
        )
        .unwrap();
        assert_eq!(r.properties["owner_specified.openstack.sha256"], "x");
    }

    #[test]
    fn invalid_results_are_400_naming_the_property() {
        let r = v21(
            json!([{"op": "replace", "path": "/min_ram", "value": -1}]),
            &MEMBER,
        );
        assert_eq!(
            r,
            Err(ImageError::BadRequest(
                "invalid image: 'min_ram': -1 is less than the minimum of 0".into()
            ))
        );
        let r = v21(
            json!([{"op": "add", "path": "/custom", "value": 5}]),
            &MEMBER,
        );
        assert!(matches!(r, Err(ImageError::BadRequest(m)) if m.contains("'custom'")));
        let r = v21(
            json!([{"op": "replace", "path": "/tags", "value": ["x".repeat(256)]}]),
            &MEMBER,
        );
        assert!(matches!(r, Err(ImageError::BadRequest(m)) if m.contains("tags")));
    }

    #[test]
    fn nothing_changes_unless_the_whole_patch_applies() {
        let image = sample();
        let before = image.clone();
        for second in [
            json!({"op": "replace", "path": "/status", "value": "active"}),
            json!({"op": "remove", "path": "/missing"}),
            json!({"op": "replace", "path": "/min_disk", "value": "big"}),
            json!({"op": "move", "path": "/name", "from": "/os_distro"}),
        ] {
            let body = json!([{"op": "replace", "path": "/name", "value": "changed"}, second]);
            let r = patch(
                &image,
                PatchFormat::V2_1,
                body.to_string().as_bytes(),
                &MEMBER,
                at(9),
            );
            assert!(r.is_err(), "{second}");
            assert_eq!(image, before);
        }
        let r = patch(&image, PatchFormat::V2_1, b"[]", &MEMBER, at(9)).unwrap();
        assert_eq!(
            r, before,
            "an empty patch changes nothing, not even updated_at"
        );
    }

    #[test]
    fn operations_see_the_earlier_ones() {
        let r = v21(
            json!([
                {"op": "add", "path": "/x_new", "value": "1"},
                {"op": "replace", "path": "/x_new", "value": "2"},
                {"op": "add", "path": "/y_gone", "value": "1"},
                {"op": "remove", "path": "/y_gone"},
            ]),
            &MEMBER,
        )
        .unwrap();
        assert_eq!(r.properties["x_new"], "2");
        assert!(!r.properties.contains_key("y_gone"));
    }

    #[test]
    fn property_protections() {
        let rules = PropertyProtections::parse(ISSUE_POLICY).unwrap();
        let member = Caller {
            protections: Some(&rules),
            ..MEMBER
        };
        let admin = Caller {
            protections: Some(&rules),
            ..ADMIN
        };
        let protected = |r: Result<Image, ImageError>, name: &str| {
            assert_eq!(
                r,
                Err(ImageError::Forbidden(format!(
                    "Property '{name}' is protected"
                )))
            );
        };
        // create
        protected(
            v21(
                json!([{"op": "add", "path": "/x_billing_plan", "value": "a"}]),
                &member,
            ),
            "x_billing_plan",
        );
        // update (both through replace and through add of an existing property)
        protected(
            v21(
                json!([{"op": "replace", "path": "/x_billing_code", "value": "1"}]),
                &member,
            ),
            "x_billing_code",
        );
        protected(
            v20(
                json!([{"replace": "/x_billing_code", "value": "1"}]),
                &member,
            ),
            "x_billing_code",
        );
        // delete, also by setting a nullable property to null
        protected(
            v21(json!([{"op": "remove", "path": "/os_distro"}]), &member),
            "os_distro",
        );
        let mut with_kernel = sample();
        with_kernel
            .properties
            .insert("os_kernel".into(), "k".into());
        let r = patch(
            &with_kernel,
            PatchFormat::V2_1,
            br#"[{"op": "remove", "path": "/os_kernel"}]"#,
            &member,
            at(1),
        );
        protected(r, "os_kernel");
        // allowed
        let r = v21(
            json!([{"op": "replace", "path": "/os_distro", "value": "debian"}]),
            &member,
        )
        .unwrap();
        assert_eq!(r.properties["os_distro"], "debian");
        let r = v21(json!([{"op": "remove", "path": "/os_distro"}]), &admin).unwrap();
        assert!(!r.properties.contains_key("os_distro"));
        let r = v21(
            json!([{"op": "replace", "path": "/x_billing_code", "value": "1"}]),
            &admin,
        )
        .unwrap();
        assert_eq!(r.properties["x_billing_code"], "1");
        // A member may change other properties of an image holding ones it can't read;
        // those stay as they are.
        let r = v21(
            json!([{"op": "replace", "path": "/name", "value": "n"}]),
            &member,
        )
        .unwrap();
        assert_eq!(r.properties["x_billing_code"], "42");
    }

    #[test]
    fn null_for_a_nullable_property_unsets_it() {
        let mut image = sample();
        image.properties.insert(
            "kernel_id".into(),
            "6d9c1a0e-2c55-4bd0-8ed4-3c2b7b6a8f11".into(),
        );
        let r = patch(
            &image,
            PatchFormat::V2_1,
            br#"[{"op": "replace", "path": "/kernel_id", "value": null}]"#,
            &MEMBER,
            at(1),
        )
        .unwrap();
        assert!(!r.properties.contains_key("kernel_id"));
    }
}
