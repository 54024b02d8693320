//! The JSON schemas of `/v2/schemas/{image,images,member,members}`, in Glance's shape, and
//! the validation of image documents against the very same `image` schema: what a client
//! downloads is exactly what the server enforces.
//!
//! glanceclient builds its CLI options from the image schema and validates both its requests
//! and our responses against it, hence the exact Glance forms: nullable attributes are typed
//! `["null", "string"]`, `additionalProperties` is `{"type": "string"}`, and the commonly
//! advertised non-base properties carry `"is_base": false` (glanceclient patches those with
//! `add`, base ones with `replace`).
//!
//! Two keywords are ours, not Glance's: `minimum`/`maximum` on `min_ram`/`min_disk` (Glance
//! checks those in code; the store keeps them as 32-bit integers, as Glance's database does)
//! and `propertyNames: {"maxLength": 255}` (Glance's "Custom property should not be greater
//! than 255 characters"). Both only make explicit what Glance enforces anyway.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::ImageError;

/// The `pattern` Glance gives image ids.
pub const UUID_PATTERN: &str =
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$";

/// Glance's default `disk_formats`.
pub const DISK_FORMATS: [&str; 11] = [
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];

/// Glance's default `container_formats`.
pub const CONTAINER_FORMATS: [&str; 8] = [
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

/// The largest `min_ram`/`min_disk`: Glance's (and our store's) 32-bit integer columns.
pub const MAX_MIN_REQUIREMENT: u64 = i32::MAX as u64;

/// `GET /v2/schemas/image`.
pub fn image_schema() -> &'static Value {
    static SCHEMA: LazyLock<Value> = LazyLock::new(build_image_schema);
    &SCHEMA
}

/// `GET /v2/schemas/images`: a page of images, with its `first`/`next` links.
pub fn images_schema() -> &'static Value {
    static SCHEMA: LazyLock<Value> = LazyLock::new(|| collection("images", image_schema()));
    &SCHEMA
}

/// `GET /v2/schemas/member`.
pub fn member_schema() -> &'static Value {
    static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
        json!({
            "name": "member",
            "properties": {
                "member_id": {
                    "type": "string",
                    "description": "An identifier for the image member (tenantId)",
                },
                "image_id": {
                    "type": "string",
                    "description": "An identifier for the image",
                    "pattern": UUID_PATTERN,
                },
                "created_at": {
                    "type": "string",
                    "description": "Date and time of image member creation",
                },
                "updated_at": {
                    "type": "string",
                    "description": "Date and time of last modification of image member",
                },
                "status": {
                    "type": "string",
                    "description": "The status of this image member",
                    "enum": ["pending", "accepted", "rejected"],
                },
                "schema": {"readOnly": true, "type": "string"},
            },
            "additionalProperties": false,
        })
    });
    &SCHEMA
}

/// `GET /v2/schemas/members`.
pub fn members_schema() -> &'static Value {
    static SCHEMA: LazyLock<Value> = LazyLock::new(|| collection("members", member_schema()));
    &SCHEMA
}

/// Checks a whole image document (as [`super::document()`] renders it, with or without
/// `self`/`file`/`schema`) against [`image_schema()`]. The message names each offending
/// property and why, e.g. `invalid image: 'min_ram': -1 is less than the minimum of 0`.
pub fn validate_image_document(doc: &Value) -> Result<(), ImageError> {
    static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
        // The schema is a constant of this program; `image_schema_compiles` tests it.
        jsonschema::validator_for(image_schema()).expect("the image schema compiles")
    });
    let problems: Vec<String> = VALIDATOR.iter_errors(doc).map(|e| describe(&e)).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ImageError::BadRequest(format!(
            "invalid image: {}",
            problems.join("; ")
        )))
    }
}

/// `/min_ram` → `min_ram`, `/tags/0` → `tags/0`, the root → `None`.
fn pointer_to_name(pointer: &str) -> Option<String> {
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|part| part.replace("~1", "/").replace("~0", "~"))
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// `'property': why`, in the validator's words, with two changes: an enum lists every
/// allowed value (the validator says "or 2 other candidates"), and long offending values
/// are cut short — a client that sent a megabyte-long name needs the reason, not its name
/// echoed back.
pub(crate) fn describe(e: &jsonschema::ValidationError) -> String {
    use jsonschema::error::ValidationErrorKind as Kind;

    let instance = e.instance().to_string();
    let why = match e.kind() {
        Kind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|values| values.iter().map(Value::to_string).collect())
                .unwrap_or_default();
            format!(
                "{} is not one of {}",
                shorten(&instance),
                allowed.join(", ")
            )
        }
        Kind::PropertyNames { error } => {
            let name = error.instance().to_string();
            let reason = error.to_string().replacen(&name, "", 1);
            return format!("property name {}{reason}", shorten(&name));
        }
        _ => e.to_string().replacen(&instance, &shorten(&instance), 1),
    };
    match pointer_to_name(e.instance_path().as_str()) {
        Some(name) => format!("'{}': {why}", shorten(&name)),
        None => why,
    }
}

fn shorten(s: &str) -> String {
    const KEEP: usize = 40;
    if s.chars().count() <= KEEP {
        return s.to_string();
    }
    let mut short: String = s.chars().take(KEEP).collect();
    short.push('…');
    short
}

fn nullable_enum(values: &[&str]) -> Value {
    let mut all = vec![Value::Null];
    all.extend(values.iter().map(|v| Value::from(*v)));
    Value::Array(all)
}

fn build_image_schema() -> Value {
    json!({
        "name": "image",
        "properties": {
            "id": {
                "type": "string",
                "description": "An identifier for the image",
                "pattern": UUID_PATTERN,
            },
            "name": {
                "type": ["null", "string"],
                "description": "Descriptive name for the image",
                "maxLength": 255,
            },
            "status": {
                "type": "string",
                "readOnly": true,
                "description": "Status of the image",
                "enum": ["queued", "saving", "active", "killed", "deleted", "uploading",
                         "importing", "pending_delete", "deactivated"],
            },
            "visibility": {
                "type": "string",
                "description": "Scope of image accessibility",
                "enum": ["community", "public", "private", "shared"],
            },
            "protected": {
                "type": "boolean",
                "description": "If true, image will not be deletable.",
            },
            "os_hidden": {
                "type": "boolean",
                "description": "If true, image will not appear in default image list response.",
            },
            "checksum": {
                "type": ["null", "string"],
                "readOnly": true,
                "description": "md5 hash of image contents.",
                "maxLength": 32,
            },
            "os_hash_algo": {
                "type": ["null", "string"],
                "readOnly": true,
                "description": "Algorithm to calculate the os_hash_value",
                "maxLength": 64,
            },
            "os_hash_value": {
                "type": ["null", "string"],
                "readOnly": true,
                "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
                "maxLength": 128,
            },
            "owner": {
                "type": ["null", "string"],
                "description": "Owner of the image",
                "maxLength": 255,
            },
            "size": {
                "type": ["null", "integer"],
                "readOnly": true,
                "description": "Size of image file in bytes",
            },
            "virtual_size": {
                "type": ["null", "integer"],
                "readOnly": true,
                "description": "Virtual size of image in bytes",
            },
            "container_format": {
                "type": ["null", "string"],
                "description": "Format of the container",
                "enum": nullable_enum(&CONTAINER_FORMATS),
            },
            "disk_format": {
                "type": ["null", "string"],
                "description": "Format of the disk",
                "enum": nullable_enum(&DISK_FORMATS),
            },
            "created_at": {
                "type": "string",
                "readOnly": true,
                "description": "Date and time of image registration",
            },
            "updated_at": {
                "type": "string",
                "readOnly": true,
                "description": "Date and time of the last image modification",
            },
            "tags": {
                "type": "array",
                "description": "List of strings related to the image",
                "items": {"type": "string", "maxLength": 255},
            },
            "direct_url": {
                "type": "string",
                "readOnly": true,
                "description": "URL to access the image file kept in external store",
            },
            "min_ram": {
                "type": "integer",
                "description": "Amount of ram (in MB) required to boot image.",
                "minimum": 0,
                "maximum": MAX_MIN_REQUIREMENT,
            },
            "min_disk": {
                "type": "integer",
                "description": "Amount of disk space (in GB) required to boot image.",
                "minimum": 0,
                "maximum": MAX_MIN_REQUIREMENT,
            },
            "self": {
                "type": "string",
                "readOnly": true,
                "description": "An image self url",
            },
            "file": {
                "type": "string",
                "readOnly": true,
                "description": "An image file url",
            },
            "stores": {
                "type": "string",
                "readOnly": true,
                "description": "Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers.",
            },
            "schema": {
                "type": "string",
                "readOnly": true,
                "description": "An image schema url",
            },
            "locations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "url": {"type": "string", "maxLength": 255},
                        "metadata": {"type": "object"},
                    },
                    "required": ["url", "metadata"],
                },
                "description": "A set of URLs to access the image file kept in external store",
            },
            "kernel_id": {
                "type": ["null", "string"],
                "pattern": UUID_PATTERN,
                "description": "ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.",
                "is_base": false,
            },
            "ramdisk_id": {
                "type": ["null", "string"],
                "pattern": UUID_PATTERN,
                "description": "ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.",
                "is_base": false,
            },
            "instance_uuid": {
                "type": "string",
                "description": "Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)",
                "is_base": false,
            },
            "architecture": {
                "type": "string",
                "description": "Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html",
                "is_base": false,
            },
            "os_distro": {
                "type": "string",
                "description": "Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html",
                "is_base": false,
            },
            "os_version": {
                "type": "string",
                "description": "Operating system version as specified by the distributor.",
                "is_base": false,
            },
            "description": {
                "type": "string",
                "description": "A human-readable string describing this image.",
                "is_base": false,
            },
        },
        "additionalProperties": {"type": "string"},
        "propertyNames": {"maxLength": 255},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

/// Glance's `CollectionSchema`: the item schema under the collection's name, plus the
/// pagination links.
pub(crate) fn collection(name: &str, item: &Value) -> Value {
    json!({
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_request(doc: Value) -> String {
        match validate_image_document(&doc) {
            Err(ImageError::BadRequest(m)) => m,
            other => panic!("expected a 400 for {doc}, got {other:?}"),
        }
    }

    #[test]
    fn image_schema_compiles() {
        assert!(jsonschema::validator_for(image_schema()).is_ok());
        for s in [images_schema(), member_schema(), members_schema()] {
            assert!(jsonschema::validator_for(s).is_ok());
        }
    }

    #[test]
    fn glanceclient_shapes() {
        let s = image_schema();
        assert_eq!(s["name"], "image");
        assert_eq!(s["additionalProperties"], json!({"type": "string"}));
        for nullable in [
            "name",
            "checksum",
            "owner",
            "disk_format",
            "container_format",
            "os_hash_algo",
            "os_hash_value",
        ] {
            assert_eq!(s["properties"][nullable]["type"], json!(["null", "string"]));
        }
        assert_eq!(s["properties"]["size"]["type"], json!(["null", "integer"]));
        assert_eq!(
            s["properties"]["virtual_size"]["type"],
            json!(["null", "integer"])
        );
        assert_eq!(s["properties"]["disk_format"]["enum"][0], Value::Null);
        assert!(
            s["properties"]["disk_format"]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("qcow2"))
        );
        assert!(
            s["properties"]["container_format"]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("bare"))
        );
        for non_base in [
            "kernel_id",
            "ramdisk_id",
            "instance_uuid",
            "architecture",
            "os_distro",
            "os_version",
        ] {
            assert_eq!(s["properties"][non_base]["is_base"], false, "{non_base}");
        }
        assert_eq!(s["properties"]["status"]["readOnly"], true);
        assert_eq!(s["links"][1], json!({"rel": "enclosure", "href": "{file}"}));

        let list = images_schema();
        assert_eq!(list["name"], "images");
        assert_eq!(&list["properties"]["images"]["items"], s);
        assert_eq!(list["properties"]["next"], json!({"type": "string"}));
        assert_eq!(
            members_schema()["properties"]["members"]["items"],
            *member_schema()
        );
        assert_eq!(member_schema()["additionalProperties"], false);
    }

    #[test]
    fn messages_name_the_property_and_the_reason() {
        assert_eq!(
            bad_request(json!({"min_ram": -1})),
            "invalid image: 'min_ram': -1 is less than the minimum of 0"
        );
        let m = bad_request(json!({"visibility": "everyone"}));
        assert_eq!(
            m,
            "invalid image: 'visibility': \"everyone\" is not one of \"community\", \"public\", \"private\", \"shared\""
        );
        let m = bad_request(json!({"disk_format": "floppy"}));
        assert!(m.contains("'disk_format'") && m.contains("floppy"), "{m}");
        let m = bad_request(json!({"custom": 5}));
        assert!(m.contains("'custom'") && m.contains("string"), "{m}");
        let m = bad_request(json!({"tags": ["ok", 7]}));
        assert!(m.contains("'tags/1'"), "{m}");
        let m = bad_request(json!({"id": "not-a-uuid"}));
        assert!(m.contains("'id'"), "{m}");
        let m = bad_request(json!({"kernel_id": "nope"}));
        assert!(m.contains("'kernel_id'"), "{m}");
    }

    #[test]
    fn long_values_are_not_echoed_whole() {
        let m = bad_request(json!({"name": "x".repeat(10_000)}));
        assert!(m.contains("'name'") && m.len() < 400, "{}", m.len());
        let m = bad_request(json!({"k".repeat(300): "v"}));
        assert!(m.starts_with("invalid image: property name \"kkk"), "{m}");
        assert!(m.ends_with("… is longer than 255 characters"), "{m}");
    }

    #[test]
    fn valid_documents_pass() {
        validate_image_document(&json!({
            "id": "6d9c1a0e-2c55-4bd0-8ed4-3c2b7b6a8f10",
            "name": null,
            "status": "queued",
            "visibility": "shared",
            "protected": false,
            "size": null,
            "disk_format": null,
            "min_ram": 0,
            "tags": [],
            "kernel_id": null,
            "owner_specified.openstack.md5": "abc",
        }))
        .unwrap();
    }
}
