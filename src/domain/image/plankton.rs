//! The Plankton (Glance v1-style) view of the image record: `X-Image-Meta-*` headers in and
//! out, and how a header update becomes the same create body or JSON Patch the Image API v2
//! applies — so every rule of the record (read-only attributes, the schema, admin-only
//! fields, property protections) holds in this view too, from the code that enforces it
//! for v2. No I/O and no HTTP types: headers come in as `(lower-case name, raw bytes)`.
//!
//! ```text
//! HEAD /image/v1.0/images/{id}                    PUT /image/v1.0/images/{id}
//! x-image-meta-id: 5a7c…                          X-Image-Meta-Name: Debian%20Base
//! x-image-meta-name: Debian%20Base                X-Image-Meta-Is-Public: False
//! x-image-meta-status: active                     X-Image-Meta-Property-OS: debian
//! x-image-meta-is-public: False
//! x-image-meta-property-os-distro: debian%20%C3%A9
//! ```
//!
//! Rules (where Glance v1, Plankton and kamaki 0.16 are vague, kamaki decides):
//! - **Values are URL-encoded** both ways, as Plankton does and kamaki expects: kamaki quotes
//!   the name and property values it sends and unquotes the name, description, location and
//!   property values it receives. Out, the name and every property value are always
//!   percent-encoded (Python's `quote`, so kamaki's `unquote` gives the value back exactly);
//!   other values are sent as they are unless they are not valid in a header, then they
//!   are percent-encoded too. In, every value is percent-decoded and must be UTF-8.
//! - **Property names** become header names with `_` as `-` (kamaki turns `-` back into
//!   `_`); a character that is not allowed in a header name is percent-encoded. Header
//!   names are case-insensitive, so a property in a request is the record's existing
//!   property whose name matches case- and `-`/`_`-insensitively, or else a new property
//!   named in lower case with `_` (Plankton's spelling).
//! - **A `PUT` that names properties replaces them** (Plankton's rule, which kamaki's
//!   `image modify` depends on: it re-sends every property it read and leaves out the ones
//!   to delete). A `PUT` that names none keeps them, so changing the name with a bare
//!   header cannot wipe the properties; `X-Glance-Registry-Purge-Props: true|false` (Glance
//!   v1's header) forces either way. Properties the caller cannot read under property
//!   protections are never dropped: the caller never saw them.
//! - **kamaki sends one property twice** on `image modify -p key=value`: the value it read
//!   under the lower-case name and the new one under the upper-cased name. Of several
//!   values for one property, the one that differs from the record's is the change.
//! - `is-public: True` is visibility `public`; `False` makes a public image `shared` (private
//!   to its owner until members are added) and leaves other visibilities as they are.
//! - Server-owned values (`id` on update, `status`, `size`, `checksum`, dates) are 403 unless
//!   they repeat the record's value; with data in the body, `size` and `checksum` are what
//!   the data must match.
//! - `X-Image-Meta-Location` (kamaki's `image register` sends `pithos://…`) and `-Store` are
//!   400: this gateway keeps image data itself and has no object store to point into.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::{Caller, Image, ImageError, PropertyOp, Visibility, is_base_attribute};
use crate::domain::time::iso;

pub const META_PREFIX: &str = "x-image-meta-";
pub const PROPERTY_PREFIX: &str = "x-image-meta-property-";
pub const PURGE_PROPS: &str = "x-glance-registry-purge-props";

/// What Python 2's `urllib.quote` leaves alone (letters, digits, `_.-` and `/`), so kamaki's
/// `unquote` inverts our encoding.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'/');

/// Header-name characters (RFC 9110 `tchar`) kept as they are in a property's header name;
/// `%` is not among them, so the encoding can be undone.
const NAME: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'*')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

pub const NO_LOCATIONS: &str = "this gateway has no object store (Pithos+) to register image \
    locations from: create the image and send its data through the Image API (POST \
    /image/v2/images, then PUT /image/v2/images/{id}/file), or POST /image/v1.0/images/ with \
    the data as the request body";

/// A value as it goes out in a header that kamaki unquotes (the name, properties).
pub fn quote(value: &str) -> String {
    utf8_percent_encode(value, QUOTE).to_string()
}

/// Any other value: as it is when it is valid in a header (visible ASCII, inner blanks),
/// percent-encoded when not, so nothing can break the response or be dropped.
pub fn header_safe(value: &str) -> String {
    let valid = value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t']);
    if valid {
        value.to_owned()
    } else {
        quote(value)
    }
}

/// The header a user property is shown in.
pub fn property_header(key: &str) -> String {
    let dashed = key.replace('_', "-");
    format!(
        "{PROPERTY_PREFIX}{}",
        utf8_percent_encode(&dashed, NAME)
            .to_string()
            .to_ascii_lowercase()
    )
}

/// How a property name compares with a header's: case and `-`/`_` do not count.
fn form(key: &str) -> String {
    key.to_lowercase().replace('_', "-")
}

fn decode(what: &str, raw: &[u8]) -> Result<String, ImageError> {
    percent_decode(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            ImageError::BadRequest(format!(
                "{what} is not UTF-8 once URL-decoded: send text, percent-encoded as UTF-8"
            ))
        })
}

/// The `X-Image-Meta-*` headers of a request, decoded.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HeaderMeta {
    /// `name`, `disk-format`, … (the part after `x-image-meta-`, `_` read as `-`) → value.
    pub fields: BTreeMap<String, String>,
    /// A property's compared form ([`form`]) → (its name as sent, every value sent).
    pub properties: BTreeMap<String, (String, Vec<String>)>,
    /// `X-Glance-Registry-Purge-Props`, when sent.
    pub purge_props: Option<bool>,
}

/// The `X-Image-Meta-*` attributes a client may send, with what they mean.
const SETTABLE: [&str; 8] = [
    "id",
    "name",
    "disk-format",
    "container-format",
    "min-disk",
    "min-ram",
    "protected",
    "is-public",
];
/// Set by the server: accepted only as a repeat of the record's value (or, with data, as
/// what the data must match).
const SERVER_OWNED: [&str; 8] = [
    "status",
    "size",
    "checksum",
    "created-at",
    "updated-at",
    "deleted-at",
    "deleted",
    "virtual-size",
];

/// Reads the image headers of a request; `headers` yields lower-case names and raw values.
pub fn parse_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<HeaderMeta, ImageError> {
    let mut meta = HeaderMeta::default();
    for (name, raw) in headers {
        if name == PURGE_PROPS {
            let v = decode(name, raw)?;
            meta.purge_props = Some(parse_bool(name, &v)?);
        } else if let Some(suffix) = name.strip_prefix(PROPERTY_PREFIX) {
            let sent = decode(&format!("the header name {name}"), suffix.as_bytes())?;
            if sent.trim().is_empty() {
                return Err(ImageError::BadRequest(format!(
                    "the header {name} names no property"
                )));
            }
            let value = decode(&format!("the value of {name}"), raw)?;
            let entry = meta
                .properties
                .entry(form(&sent))
                .or_insert_with(|| (sent, Vec::new()));
            entry.1.push(value);
        } else if let Some(suffix) = name.strip_prefix(META_PREFIX) {
            let key = suffix.replace('_', "-");
            if !(SETTABLE.contains(&key.as_str())
                || SERVER_OWNED.contains(&key.as_str())
                || ["owner", "location", "store"].contains(&key.as_str()))
            {
                return Err(ImageError::BadRequest(format!(
                    "unknown image header {name}: the attributes are X-Image-Meta-{{{}, owner}} \
                     and user properties go in X-Image-Meta-Property-NAME",
                    SETTABLE.join(", ")
                )));
            }
            let value = decode(&format!("the value of {name}"), raw)?;
            match meta.fields.get(&key) {
                Some(old) if *old != value => {
                    return Err(ImageError::BadRequest(format!(
                        "the header {name} is sent twice with different values"
                    )));
                }
                _ => {
                    meta.fields.insert(key, value);
                }
            }
        }
    }
    if meta.fields.contains_key("location") || meta.fields.contains_key("store") {
        return Err(ImageError::BadRequest(NO_LOCATIONS.into()));
    }
    Ok(meta)
}

fn parse_bool(what: &str, v: &str) -> Result<bool, ImageError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ImageError::BadRequest(format!(
            "{what} must be True or False, not '{v}'"
        ))),
    }
}

fn parse_count(what: &str, v: &str) -> Result<u64, ImageError> {
    v.trim().parse().map_err(|_| {
        ImageError::BadRequest(format!(
            "x-image-meta-{what} must be a non-negative integer, not '{v}'"
        ))
    })
}

/// What the data sent with a create or update must match.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DataExpectation {
    pub size: Option<u64>,
    /// md5, hex.
    pub checksum: Option<String>,
}

fn expectation(meta: &HeaderMeta) -> Result<DataExpectation, ImageError> {
    Ok(DataExpectation {
        size: meta
            .fields
            .get("size")
            .map(|v| parse_count("size", v))
            .transpose()?,
        checksum: meta.fields.get("checksum").map(|c| c.trim().to_owned()),
    })
}

fn server_owned(key: &str) -> ImageError {
    ImageError::Forbidden(format!(
        "x-image-meta-{key} is set by the server and cannot be changed"
    ))
}

/// A property's value among those sent for it: the one that differs from `current` when
/// kamaki sent the old one alongside (see the module doc).
fn chosen_value(
    sent: &str,
    values: &[String],
    current: Option<&str>,
) -> Result<String, ImageError> {
    let mut distinct: Vec<&String> = Vec::new();
    for v in values {
        if !distinct.contains(&v) {
            distinct.push(v);
        }
    }
    if distinct.len() > 1 {
        distinct.retain(|v| Some(v.as_str()) != current);
    }
    match distinct.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(ImageError::BadRequest(format!(
            "property '{sent}' is sent with several different values"
        ))),
    }
}

/// The name a property header refers to: the record's property with the same form, or a new
/// property in Plankton's spelling (lower case, `_`).
fn resolve_key(form_key: &str, sent: &str, existing: &BTreeMap<String, String>) -> String {
    let new_key = sent.to_lowercase().replace('-', "_");
    if existing.contains_key(&new_key) {
        return new_key;
    }
    existing
        .keys()
        .find(|k| form(k) == form_key)
        .cloned()
        .unwrap_or(new_key)
}

fn attribute_as_property(key: &str) -> Result<(), ImageError> {
    if is_base_attribute(key) {
        let header = key.replace('_', "-");
        Err(ImageError::BadRequest(format!(
            "'{key}' is an image attribute, not a property: send it as X-Image-Meta-{header}"
        )))
    } else {
        Ok(())
    }
}

/// The `POST /v2/images` body for a Plankton `POST /images/`, and what its data (if any)
/// must match. `has_data`: the request carries a body.
pub fn create_body(
    meta: &HeaderMeta,
    has_data: bool,
) -> Result<(Value, DataExpectation), ImageError> {
    let mut body = Map::new();
    for (key, value) in &meta.fields {
        let v = value.as_str();
        match key.as_str() {
            "id" | "name" | "disk-format" | "container-format" | "owner" => {
                body.insert(key.replace('-', "_"), json!(v));
            }
            "min-disk" | "min-ram" => {
                body.insert(key.replace('-', "_"), json!(parse_count(key, v)?));
            }
            "protected" => {
                body.insert("protected".into(), json!(parse_bool(key, v)?));
            }
            "is-public" => {
                if parse_bool(key, v)? {
                    body.insert("visibility".into(), json!("public"));
                }
            }
            "size" | "checksum" if has_data => {}
            "size" | "checksum" => {
                return Err(ImageError::BadRequest(format!(
                    "x-image-meta-{key} describes the image data: send the data as the request \
                     body (or upload it through the Image API)"
                )));
            }
            other => return Err(server_owned(other)),
        }
    }
    let none = BTreeMap::new();
    for (form_key, (sent, values)) in &meta.properties {
        let key = resolve_key(form_key, sent, &none);
        attribute_as_property(&key)?;
        body.insert(key, json!(chosen_value(sent, values, None)?));
    }
    Ok((Value::Object(body), expectation(meta)?))
}

fn op(op: &str, key: &str, value: Option<Value>) -> Value {
    let path = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
    match value {
        Some(v) => json!({"op": op, "path": path, "value": v}),
        None => json!({"op": op, "path": path}),
    }
}

/// The RFC 6902 patch (`application/openstack-images-v2.1-json-patch`) that a Plankton
/// `PUT /images/{id}` asks of `img`, and what its data (if any) must match. Only changes
/// are in it, so re-sending the values read is never refused.
pub fn update_patch(
    img: &Image,
    meta: &HeaderMeta,
    caller: &Caller,
    has_data: bool,
) -> Result<(Vec<Value>, DataExpectation), ImageError> {
    let mut ops = Vec::new();
    let current = current_fields(img);
    for (key, value) in &meta.fields {
        let v = value.as_str();
        let attr = key.replace('-', "_");
        let same = current.get(key.as_str()).is_some_and(|c| c == v.trim());
        match key.as_str() {
            "name" | "disk-format" | "container-format" | "owner" if !same => {
                ops.push(op("replace", &attr, Some(json!(v))));
            }
            "min-disk" | "min-ram" => {
                let n = parse_count(key, v)?;
                if current.get(key.as_str()) != Some(&n.to_string()) {
                    ops.push(op("replace", &attr, Some(json!(n))));
                }
            }
            "protected" => {
                let b = parse_bool(key, v)?;
                if b != img.protected {
                    ops.push(op("replace", "protected", Some(json!(b))));
                }
            }
            "is-public" => {
                let public = parse_bool(key, v)?;
                let now_public = img.visibility == Visibility::Public;
                if public && !now_public {
                    ops.push(op("replace", "visibility", Some(json!("public"))));
                } else if !public && now_public {
                    ops.push(op("replace", "visibility", Some(json!("shared"))));
                }
            }
            "size" | "checksum" if has_data => {}
            _ if same => {}
            "id" => {
                return Err(ImageError::Forbidden(
                    "x-image-meta-id cannot be changed".into(),
                ));
            }
            _ => return Err(server_owned(key)),
        }
    }
    let mut named = Vec::new();
    for (form_key, (sent, values)) in &meta.properties {
        let key = resolve_key(form_key, sent, &img.properties);
        attribute_as_property(&key)?;
        let old = img.properties.get(&key).map(String::as_str);
        let value = chosen_value(sent, values, old)?;
        if old != Some(value.as_str()) {
            ops.push(op("add", &key, Some(json!(value))));
        }
        named.push(key);
    }
    if meta.purge_props.unwrap_or(!meta.properties.is_empty()) {
        for key in img.properties.keys() {
            if !named.contains(key) && caller.may(key, PropertyOp::Read) {
                ops.push(op("remove", key, None));
            }
        }
    }
    Ok((ops, expectation(meta)?))
}

/// The record's values as Plankton spells them, keyed by header suffix.
fn current_fields(img: &Image) -> BTreeMap<&'static str, String> {
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    BTreeMap::from([
        ("id", img.id.clone()),
        ("name", text(&img.name)),
        ("status", img.status.as_str().to_owned()),
        ("disk-format", text(&img.disk_format)),
        ("container-format", text(&img.container_format)),
        ("size", img.size.unwrap_or(0).to_string()),
        ("checksum", text(&img.checksum)),
        ("created-at", iso(&img.created_at)),
        ("updated-at", iso(&img.updated_at)),
        ("deleted-at", String::new()),
        ("deleted", "False".to_owned()),
        ("is-public", py_bool(img.visibility == Visibility::Public)),
        ("protected", py_bool(img.protected)),
        ("min-disk", img.min_disk.to_string()),
        ("min-ram", img.min_ram.to_string()),
        ("owner", text(&img.owner)),
    ])
}

/// Glance v1 and Plankton print booleans the Python way.
fn py_bool(b: bool) -> String {
    if b { "True" } else { "False" }.to_owned()
}

/// The response headers of `HEAD`/`GET /images/{id}` (and of `POST`/`PUT`): every attribute,
/// and each property the caller may read.
pub fn headers(img: &Image, caller: &Caller) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in current_fields(img) {
        if ["deleted-at", "deleted"].contains(&key) {
            continue;
        }
        let value = if key == "name" {
            quote(&value)
        } else {
            header_safe(&value)
        };
        out.push((format!("{META_PREFIX}{key}"), value));
    }
    for (key, value) in &img.properties {
        if caller.may(key, PropertyOp::Read) {
            out.push((property_header(key), quote(value)));
        }
    }
    out
}

/// An entry of `GET /images/` (Plankton's list fields).
pub fn brief(img: &Image) -> Value {
    json!({
        "id": img.id,
        "name": img.name.clone().unwrap_or_default(),
        "status": img.status.as_str(),
        "disk_format": img.disk_format,
        "container_format": img.container_format,
        "size": img.size.unwrap_or(0),
        "checksum": img.checksum,
    })
}

/// An entry of `GET /images/detail`, and the `image` of `POST`/`PUT` responses.
pub fn detail(img: &Image, caller: &Caller) -> Value {
    let properties: Map<String, Value> = img
        .properties
        .iter()
        .filter(|(k, _)| caller.may(k, PropertyOp::Read))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut v = brief(img);
    if let Value::Object(m) = &mut v {
        m.insert("created_at".into(), json!(iso(&img.created_at)));
        m.insert("updated_at".into(), json!(iso(&img.updated_at)));
        m.insert("deleted_at".into(), json!(""));
        m.insert(
            "is_public".into(),
            json!(img.visibility == Visibility::Public),
        );
        m.insert("protected".into(), json!(img.protected));
        m.insert("min_disk".into(), json!(img.min_disk));
        m.insert("min_ram".into(), json!(img.min_ram));
        m.insert("owner".into(), json!(img.owner.clone().unwrap_or_default()));
        m.insert("properties".into(), Value::Object(properties));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::Role;
    use crate::domain::image::document::tests::sample;
    use crate::domain::image::{PatchFormat, PropertyProtections, patch};

    fn member() -> Caller<'static> {
        Caller {
            project_id: "p1",
            roles: &[Role::Member],
            protections: None,
        }
    }

    fn parse(hs: &[(&str, &str)]) -> Result<HeaderMeta, ImageError> {
        parse_headers(hs.iter().map(|(k, v)| (*k, v.as_bytes())))
    }

    fn decode_py(s: &str) -> String {
        percent_decode(s.as_bytes())
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    #[test]
    fn values_are_quoted_like_python_and_round_trip() {
        assert_eq!(quote("Debian Base/1.0_x-y"), "Debian%20Base/1.0_x-y");
        assert_eq!(quote("a\nb"), "a%0Ab");
        assert_eq!(quote("é%"), "%C3%A9%25");
        for s in ["plain", "two\nlines", "ünïcödé ☃", "100%", "  padded  ", ""] {
            assert_eq!(decode_py(&quote(s)), s);
            assert!(quote(s).bytes().all(|b| b.is_ascii_graphic()));
            let safe = header_safe(s);
            assert!(!safe.contains('\n') && safe.is_ascii(), "{safe:?}");
        }
        assert_eq!(header_safe("qcow2"), "qcow2");
        assert_eq!(header_safe("a b"), "a b");
        assert_eq!(header_safe(" a"), "%20a");
    }

    #[test]
    fn property_names_become_valid_header_names() {
        assert_eq!(
            property_header("os_distro"),
            "x-image-meta-property-os-distro"
        );
        assert_eq!(
            property_header("owner_specified.openstack.md5"),
            "x-image-meta-property-owner-specified.openstack.md5"
        );
        let h = property_header("My Key:é");
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.%".contains(&b))
        );
        let suffix = h.strip_prefix(PROPERTY_PREFIX).unwrap();
        assert_eq!(decode_py(suffix), "my key:é");
    }

    #[test]
    fn headers_are_read_and_decoded() {
        let m = parse(&[
            ("x-image-meta-name", "Debian%20Base"),
            ("x-image-meta-disk_format", "diskdump"),
            ("x-image-meta-property-os", "debian"),
            ("x-image-meta-property-os", "ubuntu"),
            ("x-glance-registry-purge-props", "false"),
            ("x-auth-token", "ignored"),
        ])
        .unwrap();
        assert_eq!(m.fields["name"], "Debian Base");
        assert_eq!(m.fields["disk-format"], "diskdump");
        assert_eq!(m.properties["os"].1, ["debian", "ubuntu"]);
        assert_eq!(m.purge_props, Some(false));
        for bad in [
            ("x-image-meta-colour", "red"),
            ("x-image-meta-name", "%FF"),
            ("x-image-meta-property-", "x"),
        ] {
            assert!(
                matches!(parse(&[bad]), Err(ImageError::BadRequest(_))),
                "{bad:?}"
            );
        }
        let err = parse(&[("x-image-meta-location", "pithos://u/c/o")]).unwrap_err();
        assert!(err.to_string().contains("Image API"), "{err}");
        assert!(parse(&[("x-image-meta-name", "a"), ("x-image-meta-name", "b")]).is_err());
    }

    #[test]
    fn a_create_is_a_v2_body() {
        let m = parse(&[
            ("x-image-meta-name", "deb"),
            ("x-image-meta-is-public", "True"),
            ("x-image-meta-min-ram", "512"),
            ("x-image-meta-property-OS-Distro", "debian"),
        ])
        .unwrap();
        let (body, exp) = create_body(&m, false).unwrap();
        assert_eq!(
            body,
            json!({"name": "deb", "visibility": "public", "min_ram": 512, "os_distro": "debian"})
        );
        assert_eq!(exp, DataExpectation::default());
        let m = parse(&[("x-image-meta-size", "3"), ("x-image-meta-checksum", "abc")]).unwrap();
        assert!(create_body(&m, false).is_err());
        let (_, exp) = create_body(&m, true).unwrap();
        assert_eq!(exp.size, Some(3));
        assert_eq!(exp.checksum.as_deref(), Some("abc"));
        let m = parse(&[("x-image-meta-status", "active")]).unwrap();
        assert!(matches!(
            create_body(&m, false),
            Err(ImageError::Forbidden(_))
        ));
        let m = parse(&[("x-image-meta-property-name", "x")]).unwrap();
        assert!(matches!(
            create_body(&m, false),
            Err(ImageError::BadRequest(_))
        ));
    }

    fn apply(img: &Image, ops: &[Value], c: &Caller) -> Result<Image, ImageError> {
        let body = serde_json::to_vec(ops).unwrap();
        patch(img, PatchFormat::V2_1, &body, c, img.updated_at)
    }

    #[test]
    fn kamaki_modify_sets_one_property_and_keeps_the_rest() {
        let mut img = sample();
        img.properties = BTreeMap::from([
            ("os".to_owned(), "debian".to_owned()),
            ("owner_specified.openstack.md5".to_owned(), "x".to_owned()),
            ("Mixed_Case".to_owned(), "m".to_owned()),
        ]);
        // What kamaki 0.16 sends for `image modify ID -p os=ubuntu --name New`: every
        // property it read (lower case, '-' for '_'), plus the new value upper-cased.
        let m = parse(&[
            ("x-image-meta-name", "New"),
            ("x-image-meta-property-os", "debian"),
            ("x-image-meta-property-os", "ubuntu"),
            ("x-image-meta-property-owner_specified.openstack.md5", "x"),
            ("x-image-meta-property-mixed_case", "m"),
        ])
        .unwrap();
        let (ops, _) = update_patch(&img, &m, &member(), false).unwrap();
        let new = apply(&img, &ops, &member()).unwrap();
        assert_eq!(new.name.as_deref(), Some("New"));
        assert_eq!(new.properties["os"], "ubuntu");
        assert_eq!(new.properties.len(), 3, "{:?}", new.properties);
        assert!(new.properties.contains_key("Mixed_Case"));
        // Re-sending exactly what was read changes nothing.
        let m = parse(&[
            ("x-image-meta-name", "New"),
            ("x-image-meta-property-os", "ubuntu"),
            ("x-image-meta-property-owner-specified.openstack.md5", "x"),
            ("x-image-meta-property-mixed-case", "m"),
            ("x-image-meta-status", new.status.as_str()),
        ])
        .unwrap();
        assert_eq!(
            update_patch(&new, &m, &member(), false).unwrap().0,
            Vec::<Value>::new()
        );
    }

    #[test]
    fn put_replaces_properties_unless_told_not_to() {
        let mut img = sample();
        img.properties = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]);
        let m = parse(&[("x-image-meta-property-a", "1")]).unwrap();
        let (ops, _) = update_patch(&img, &m, &member(), false).unwrap();
        let new = apply(&img, &ops, &member()).unwrap();
        assert_eq!(new.properties.keys().collect::<Vec<_>>(), ["a"]);
        let m = parse(&[
            ("x-image-meta-property-a", "1"),
            ("x-glance-registry-purge-props", "False"),
        ])
        .unwrap();
        assert!(
            update_patch(&img, &m, &member(), false)
                .unwrap()
                .0
                .is_empty()
        );
        // Naming no property keeps them all, unless purging is asked for.
        let m = parse(&[("x-image-meta-name", "n")]).unwrap();
        let (ops, _) = update_patch(&img, &m, &member(), false).unwrap();
        assert_eq!(apply(&img, &ops, &member()).unwrap().properties.len(), 2);
        let m = parse(&[("x-glance-registry-purge-props", "true")]).unwrap();
        let (ops, _) = update_patch(&img, &m, &member(), false).unwrap();
        assert!(apply(&img, &ops, &member()).unwrap().properties.is_empty());
    }

    #[test]
    fn unreadable_properties_survive_and_protections_apply() {
        let rules = PropertyProtections::parse(
            "[^secret$]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n\
             [^locked$]\ncreate = admin\nread = member\nupdate = admin\ndelete = admin\n\
             [.*]\ncreate = member\nread = member\nupdate = member\ndelete = member\n",
        )
        .unwrap();
        let c = Caller {
            protections: Some(&rules),
            ..member()
        };
        let mut img = sample();
        img.properties = BTreeMap::from([
            ("secret".to_owned(), "s".to_owned()),
            ("locked".to_owned(), "l".to_owned()),
        ]);
        let shown = headers(&img, &c);
        assert!(shown.iter().all(|(k, _)| !k.ends_with("secret")));
        let m = parse(&[("x-image-meta-property-locked", "l")]).unwrap();
        let (ops, _) = update_patch(&img, &m, &c, false).unwrap();
        assert!(ops.is_empty(), "{ops:?}");
        let m = parse(&[("x-image-meta-property-locked", "changed")]).unwrap();
        let (ops, _) = update_patch(&img, &m, &c, false).unwrap();
        assert!(matches!(
            apply(&img, &ops, &c),
            Err(ImageError::Forbidden(_))
        ));
        // Dropping the readable but protected one is refused; the unreadable one is kept.
        let m = parse(&[("x-image-meta-property-other", "o")]).unwrap();
        let (ops, _) = update_patch(&img, &m, &c, false).unwrap();
        assert!(!ops.iter().any(|o| o["path"] == "/secret"), "{ops:?}");
        assert!(matches!(
            apply(&img, &ops, &c),
            Err(ImageError::Forbidden(_))
        ));
    }

    #[test]
    fn is_public_and_server_owned_values() {
        let mut img = sample();
        img.visibility = Visibility::Public;
        let m = parse(&[("x-image-meta-is-public", "False")]).unwrap();
        let (ops, _) = update_patch(&img, &m, &member(), false).unwrap();
        assert_eq!(ops, [op("replace", "visibility", Some(json!("shared")))]);
        img.visibility = Visibility::Private;
        assert!(
            update_patch(&img, &m, &member(), false)
                .unwrap()
                .0
                .is_empty()
        );
        let m = parse(&[("x-image-meta-status", "killed")]).unwrap();
        assert!(matches!(
            update_patch(&img, &m, &member(), false),
            Err(ImageError::Forbidden(_))
        ));
        let m = parse(&[("x-image-meta-size", "99")]).unwrap();
        assert!(update_patch(&img, &m, &member(), false).is_err());
        assert_eq!(
            update_patch(&img, &m, &member(), true).unwrap().1.size,
            Some(99)
        );
    }

    proptest::proptest! {
        /// Whatever a value or a property name holds, it goes out as a valid header and
        /// comes back, through the request parser, as it was.
        #[test]
        fn any_value_and_name_round_trips(value in ".*", key in "[^A-Z]{0,10}[a-z0-9_.:-][^A-Z]{0,10}") {
            let name = property_header(&key);
            let quoted = quote(&value);
            proptest::prop_assert!(name.bytes().all(|b| b.is_ascii_graphic()));
            proptest::prop_assert!(quoted.bytes().all(|b| b.is_ascii_graphic()));
            proptest::prop_assert!(
                header_safe(&value).bytes().all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
            );
            let m = parse_headers([(name.as_str(), quoted.as_bytes())]).unwrap();
            let (form_key, (sent, values)) = m.properties.iter().next().unwrap();
            proptest::prop_assert_eq!(values, &vec![value.clone()]);
            proptest::prop_assert_eq!(form_key, &form(&key));
            let existing = BTreeMap::from([(key.clone(), String::new())]);
            proptest::prop_assert_eq!(resolve_key(form_key, sent, &existing), key);
        }
    }

    #[test]
    fn views_carry_every_attribute() {
        let img = sample();
        let hs: BTreeMap<String, String> = headers(&img, &member()).into_iter().collect();
        assert_eq!(hs["x-image-meta-id"], img.id);
        assert_eq!(hs["x-image-meta-status"], img.status.as_str());
        assert!(hs.contains_key("x-image-meta-is-public"));
        let d = detail(&img, &member());
        assert_eq!(d["id"], img.id);
        assert!(d["properties"].is_object());
        assert_eq!(d["is_public"], json!(img.visibility == Visibility::Public));
    }
}
