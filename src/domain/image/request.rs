//! `POST /v2/images`: an image record from the client's JSON, before any data.
//!
//! ```text
//! POST /v2/images
//! {"name": "cirros", "disk_format": "qcow2", "container_format": "bare",
//!  "visibility": "private", "tags": ["test"], "os_distro": "cirros"}
//! ```
//!
//! Rules, as Glance applies them:
//! - server-owned attributes (`status`, `checksum`, `size`, `virtual_size`, `os_hash_*`,
//!   `created_at`, `updated_at`, `self`, `file`, `schema`, `direct_url`, `locations`,
//!   `stores`) are 403 "Attribute 'x' is read-only."; `location`, `deleted`, `deleted_at` and
//!   `os_glance*` are 403 "… is reserved.";
//! - `id` may be chosen (a UUID, per the schema's pattern); otherwise a v4 UUID is made;
//! - `owner` defaults to the caller's project. An admin may give any owner (or `null`); for
//!   anyone else an owner other than their own project is 403, as Glance's
//!   "You are not permitted to create images owned by …";
//! - `visibility` defaults to `shared`, Glance's default since Ocata: the image is private
//!   to its owner until a member is added. `public` is for admins only (403);
//! - the resulting document must validate against `/v2/schemas/image` (400 naming the
//!   property), and each user property must be creatable under the property protections
//!   (403 "Property 'x' is protected").

use std::collections::BTreeMap;

use serde_json::Value;

use super::document::{document, from_document, not_settable};
use super::schema::validate_image_document;
use super::{Caller, Image, ImageError, ImageStatus, PropertyOp, Visibility};
use crate::domain::time::Timestamp;

/// The visibility of an image created without one.
pub const DEFAULT_VISIBILITY: Visibility = Visibility::Shared;

/// The new, `queued` image described by `body` (the JSON object of `POST /v2/images`).
pub fn create(body: &Value, caller: &Caller, now: Timestamp) -> Result<Image, ImageError> {
    let Value::Object(fields) = body else {
        return Err(ImageError::BadRequest(
            "the request body must be a JSON object describing the image".into(),
        ));
    };
    for key in fields.keys() {
        if let Some(refused) = not_settable(key) {
            return Err(refused);
        }
    }
    if !caller.is_admin() {
        match fields.get("owner") {
            Some(Value::String(owner)) if owner == caller.project_id => {}
            Some(Value::String(owner)) => {
                return Err(ImageError::Forbidden(format!(
                    "You are not permitted to create images owned by '{owner}'."
                )));
            }
            Some(Value::Null) => {
                return Err(ImageError::Forbidden(
                    "You are not permitted to create images without an owner.".into(),
                ));
            }
            // Not a string: the schema check below says why.
            _ => {}
        }
        if fields.get("visibility").and_then(Value::as_str) == Some("public") {
            return Err(publicize_forbidden());
        }
    }

    let skeleton = Image {
        id: match fields.get("id") {
            Some(Value::String(id)) => id.clone(),
            _ => uuid::Uuid::new_v4().to_string(),
        },
        name: None,
        status: ImageStatus::Queued,
        visibility: DEFAULT_VISIBILITY,
        protected: false,
        os_hidden: false,
        owner: Some(caller.project_id.to_string()),
        disk_format: None,
        container_format: None,
        size: None,
        virtual_size: None,
        checksum: None,
        os_hash_algo: None,
        os_hash_value: None,
        min_disk: 0,
        min_ram: 0,
        tags: Vec::new(),
        properties: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    };
    let mut doc = document(&skeleton);
    if let Value::Object(map) = &mut doc {
        for (key, value) in fields {
            map.insert(key.clone(), value.clone());
        }
    }
    validate_image_document(&doc)?;
    let image = match &doc {
        Value::Object(map) => from_document(map, &skeleton)?,
        _ => skeleton,
    };
    for key in image.properties.keys() {
        if !caller.may(key, PropertyOp::Create) {
            return Err(protected(key));
        }
    }
    Ok(image)
}

pub(crate) fn publicize_forbidden() -> ImageError {
    ImageError::Forbidden("Only an admin may make an image public (visibility 'public').".into())
}

pub(crate) fn protected(property: &str) -> ImageError {
    ImageError::Forbidden(format!("Property '{property}' is protected"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::identity::Role;
    use crate::domain::image::PropertyProtections;
    use crate::domain::image::document::tests::at;
    use crate::domain::image::protections::tests::ISSUE_POLICY;

    fn member() -> Caller<'static> {
        Caller {
            project_id: "p1",
            roles: &[Role::Member],
            protections: None,
        }
    }

    fn admin() -> Caller<'static> {
        Caller {
            project_id: "p0",
            roles: &[Role::Admin],
            protections: None,
        }
    }

    fn forbidden(body: Value, caller: &Caller) -> String {
        match create(&body, caller, at(0)) {
            Err(ImageError::Forbidden(m)) => m,
            other => panic!("expected 403 for {body}, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_create() {
        let image = create(
            &json!({
                "name": "cirros",
                "disk_format": "qcow2",
                "container_format": "bare",
                "tags": ["b", "a", "b"],
                "min_ram": 64,
                "os_distro": "cirros",
                "owner_specified.openstack.md5": "",
            }),
            &member(),
            at(5),
        )
        .unwrap();
        assert!(uuid::Uuid::parse_str(&image.id).is_ok());
        assert_eq!(image.name.as_deref(), Some("cirros"));
        assert_eq!(image.status, ImageStatus::Queued);
        assert_eq!(image.visibility, Visibility::Shared);
        assert_eq!(image.owner.as_deref(), Some("p1"));
        assert_eq!(image.disk_format.as_deref(), Some("qcow2"));
        assert_eq!(image.min_ram, 64);
        assert_eq!(image.tags, ["a", "b"]);
        assert_eq!(image.properties["os_distro"], "cirros");
        assert!(
            image
                .properties
                .contains_key("owner_specified.openstack.md5")
        );
        assert_eq!(image.size, None);
        assert_eq!((image.created_at, image.updated_at), (at(5), at(5)));
    }

    #[test]
    fn an_empty_body_makes_a_queued_shared_image() {
        let image = create(&json!({}), &member(), at(0)).unwrap();
        assert_eq!(image.name, None);
        assert_eq!(image.visibility, DEFAULT_VISIBILITY);
        assert!(image.properties.is_empty());
    }

    #[test]
    fn the_id_may_be_chosen() {
        let id = "6d9c1a0e-2c55-4bd0-8ed4-3c2b7b6a8f10";
        assert_eq!(create(&json!({"id": id}), &member(), at(0)).unwrap().id, id);
        assert!(matches!(
            create(&json!({"id": "42"}), &member(), at(0)),
            Err(ImageError::BadRequest(m)) if m.contains("'id'")
        ));
    }

    #[test]
    fn server_owned_attributes_are_refused() {
        for key in [
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
            let m = forbidden(json!({ key: null }), &admin());
            assert_eq!(m, format!("Attribute '{key}' is read-only."));
        }
        for key in ["deleted", "location", "os_glance_import_task"] {
            let m = forbidden(json!({ key: "x" }), &member());
            assert_eq!(m, format!("Attribute '{key}' is reserved."));
        }
    }

    #[test]
    fn owner_rules() {
        let own = create(&json!({"owner": "p1"}), &member(), at(0)).unwrap();
        assert_eq!(own.owner.as_deref(), Some("p1"));
        let m = forbidden(json!({"owner": "p2"}), &member());
        assert!(m.contains("'p2'"), "{m}");
        forbidden(json!({"owner": null}), &member());
        let theirs = create(&json!({"owner": "p2"}), &admin(), at(0)).unwrap();
        assert_eq!(theirs.owner.as_deref(), Some("p2"));
        let nobody = create(&json!({"owner": null}), &admin(), at(0)).unwrap();
        assert_eq!(nobody.owner, None);
    }

    #[test]
    fn only_admins_publicize() {
        let m = forbidden(json!({"visibility": "public"}), &member());
        assert!(m.contains("public"), "{m}");
        let image = create(&json!({"visibility": "public"}), &admin(), at(0)).unwrap();
        assert_eq!(image.visibility, Visibility::Public);
        for v in ["private", "shared", "community"] {
            let image = create(&json!({ "visibility": v }), &member(), at(0)).unwrap();
            assert_eq!(image.visibility.as_str(), v);
        }
    }

    #[test]
    fn invalid_bodies_are_400() {
        for (body, property) in [
            (
                json!({"min_ram": -1}),
                "'min_ram': -1 is less than the minimum of 0",
            ),
            (json!({"name": 5}), "'name'"),
            (json!({"disk_format": "floppy"}), "'disk_format'"),
            (json!({"visibility": "everyone"}), "'visibility'"),
            (json!({"protected": "yes"}), "'protected'"),
            (json!({"tags": "a,b"}), "'tags'"),
            (json!({"custom": 1}), "'custom'"),
        ] {
            match create(&body, &member(), at(0)) {
                Err(ImageError::BadRequest(m)) => assert!(m.contains(property), "{m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(matches!(
            create(&json!([]), &member(), at(0)),
            Err(ImageError::BadRequest(_))
        ));
    }

    #[test]
    fn null_non_base_properties_are_left_unset() {
        let image = create(&json!({"kernel_id": null}), &member(), at(0)).unwrap();
        assert!(image.properties.is_empty());
    }

    #[test]
    fn protections_apply_to_created_properties() {
        let rules = PropertyProtections::parse(ISSUE_POLICY).unwrap();
        let caller = Caller {
            protections: Some(&rules),
            ..member()
        };
        let m = forbidden(json!({"x_billing_code": "7"}), &caller);
        assert_eq!(m, "Property 'x_billing_code' is protected");
        create(
            &json!({"os_distro": "debian", "color": "red"}),
            &caller,
            at(0),
        )
        .unwrap();
        let admin = Caller {
            protections: Some(&rules),
            ..admin()
        };
        create(&json!({"x_billing_code": "7"}), &admin, at(0)).unwrap();
    }
}
