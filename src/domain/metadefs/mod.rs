//! The pure rules of Glance's metadata definitions catalog (`/v2/metadefs/…`): namespaces,
//! their resource type associations, and the properties, objects and tags inside them. No
//! I/O and no HTTP: the store persists [`Namespace`], [`Association`] and [`Item`], the
//! handlers turn [`MdError`] into localized API errors.
//!
//! | module       | what it decides                                                          |
//! |--------------|--------------------------------------------------------------------------|
//! | [`schema`]   | `/v2/schemas/metadefs/*`, and validation against those same documents   |
//! | [`request`]  | reading create/update bodies (namespaces with inline contents, items)   |
//! | [`view`]     | the JSON shapes of responses                                             |
//! | [`catalog`]  | Glance's catalogue files (`etc/metadefs/*.json`) for import and export  |
//! | [`image_rules`] | image property values against the definitions for `OS::Glance::Image` |
//!
//! Errors carry a message id and its arguments, not English text: the API renders them
//! in the caller's language from the catalogues in `locales/`.

pub mod catalog;
pub mod image_rules;
pub mod request;
pub mod schema;
pub mod view;

use serde_json::{Map, Value};

use super::time::Timestamp;

/// The resource types every catalog has from its first start (the migration seeds them).
pub const STANDARD_RESOURCE_TYPES: [&str; 6] = [
    "OS::Glance::Image",
    "OS::Cinder::Volume",
    "OS::Nova::Flavor",
    "OS::Nova::Aggregate",
    "OS::Nova::Server",
    "OS::Nova::Instance",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

impl std::str::FromStr for Visibility {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "public" => Ok(Visibility::Public),
            "private" => Ok(Visibility::Private),
            _ => Err(()),
        }
    }
}

/// A namespace's own attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    pub namespace: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub visibility: Visibility,
    pub protected: bool,
    /// The owning project.
    pub owner: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A namespace as lists and detail views show it: its attributes, its resource type
/// associations and how many properties, objects and tags it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceRecord {
    pub ns: Namespace,
    pub associations: Vec<Association>,
    pub property_count: u64,
    pub object_count: u64,
    pub tag_count: u64,
}

/// A namespace's link to a resource type, with the prefix its properties take there.
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    pub resource_type: String,
    pub prefix: Option<String>,
    pub properties_target: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What lives inside a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    Property,
    Object,
    Tag,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Property => "property",
            ItemKind::Object => "object",
            ItemKind::Tag => "tag",
        }
    }

    pub fn parse(s: &str) -> Option<ItemKind> {
        match s {
            "property" => Some(ItemKind::Property),
            "object" => Some(ItemKind::Object),
            "tag" => Some(ItemKind::Tag),
            _ => None,
        }
    }
}

/// A property definition, an object or a tag. `body` is the item without its name: a
/// property's JSON-schema fragment (`type`, `title`, `enum`, …), an object's
/// `description`/`required`/`properties`, nothing for a tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub name: String,
    pub body: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdErrorKind {
    BadRequest,
    Forbidden,
    NotFound,
    Conflict,
    UnsupportedMediaType,
}

/// A refusal: its kind (the status code) and a message id of `locales/*/metadefs.ftl`
/// with the message's arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct MdError {
    pub kind: MdErrorKind,
    pub id: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl MdError {
    pub fn new(kind: MdErrorKind, id: &'static str, args: &[(&'static str, &str)]) -> MdError {
        MdError {
            kind,
            id,
            args: args.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        }
    }
    pub fn bad(id: &'static str, args: &[(&'static str, &str)]) -> MdError {
        MdError::new(MdErrorKind::BadRequest, id, args)
    }
    pub fn forbidden(id: &'static str, args: &[(&'static str, &str)]) -> MdError {
        MdError::new(MdErrorKind::Forbidden, id, args)
    }
    pub fn not_found(id: &'static str, args: &[(&'static str, &str)]) -> MdError {
        MdError::new(MdErrorKind::NotFound, id, args)
    }
    pub fn conflict(id: &'static str, args: &[(&'static str, &str)]) -> MdError {
        MdError::new(MdErrorKind::Conflict, id, args)
    }

    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The 404 of a namespace that does not exist or that the caller may not see.
    pub fn no_namespace(ns: &str) -> MdError {
        MdError::not_found("md-namespace-not-found", &[("namespace", ns)])
    }

    /// The 404 of an item missing from a namespace.
    pub fn no_item(ns: &str, kind: ItemKind, name: &str) -> MdError {
        let id = match kind {
            ItemKind::Property => "md-property-not-found",
            ItemKind::Object => "md-object-not-found",
            ItemKind::Tag => "md-tag-not-found",
        };
        MdError::not_found(id, &[("namespace", ns), ("name", name)])
    }

    /// The 409 of an item whose name is taken.
    pub fn item_exists(ns: &str, kind: ItemKind, name: &str) -> MdError {
        let id = match kind {
            ItemKind::Property => "md-property-exists",
            ItemKind::Object => "md-object-exists",
            ItemKind::Tag => "md-tag-exists",
        };
        MdError::conflict(id, &[("namespace", ns), ("name", name)])
    }
}

/// Who is asking, as far as the catalog cares.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub project: &'a str,
    pub admin: bool,
}

impl Caller<'_> {
    /// Private namespaces are seen by their owner's project (and admins), public ones by
    /// everyone. A namespace the caller may not see is reported as missing.
    pub fn may_see(&self, ns: &Namespace) -> bool {
        self.admin || ns.visibility == Visibility::Public || ns.owner == self.project
    }

    /// Changing a namespace or anything in it is for its owner's project and admins.
    pub fn may_change(&self, ns: &Namespace) -> Result<(), MdError> {
        if self.admin || ns.owner == self.project {
            Ok(())
        } else {
            Err(MdError::forbidden(
                "md-not-owner",
                &[("namespace", &ns.namespace)],
            ))
        }
    }

    /// A namespace's new attributes are allowed: only admins publish namespaces or give
    /// them to another project.
    pub fn may_set(&self, ns: &Namespace) -> Result<(), MdError> {
        if self.admin {
            return Ok(());
        }
        if ns.visibility == Visibility::Public {
            return Err(MdError::forbidden("md-public-needs-admin", &[]));
        }
        if ns.owner != self.project {
            return Err(MdError::forbidden(
                "md-owner-needs-admin",
                &[("owner", &ns.owner)],
            ));
        }
        Ok(())
    }
}

/// Deleting a namespace, or anything from it (`what`: `property`, `object`, `tag` or
/// `association`), waits until it is unprotected.
pub fn check_deletable(ns: &Namespace, what: Option<&str>) -> Result<(), MdError> {
    if !ns.protected {
        return Ok(());
    }
    match what {
        None => Err(MdError::forbidden(
            "md-namespace-protected",
            &[("namespace", &ns.namespace)],
        )),
        Some(kind) => Err(MdError::forbidden(
            "md-namespace-protected-content",
            &[("namespace", &ns.namespace), ("kind", kind)],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(owner: &str, vis: Visibility, protected: bool) -> Namespace {
        Namespace {
            namespace: "N".into(),
            display_name: None,
            description: None,
            visibility: vis,
            protected,
            owner: owner.into(),
            created_at: Default::default(),
            updated_at: Default::default(),
        }
    }

    #[test]
    fn visibility_and_ownership() {
        let me = Caller {
            project: "p1",
            admin: false,
        };
        let admin = Caller {
            project: "p0",
            admin: true,
        };
        assert!(me.may_see(&ns("p1", Visibility::Private, false)));
        assert!(!me.may_see(&ns("p2", Visibility::Private, false)));
        assert!(me.may_see(&ns("p2", Visibility::Public, false)));
        assert!(admin.may_see(&ns("p2", Visibility::Private, false)));
        assert!(me.may_change(&ns("p2", Visibility::Public, false)).is_err());
        assert!(me.may_change(&ns("p1", Visibility::Private, false)).is_ok());
        assert_eq!(
            me.may_set(&ns("p1", Visibility::Public, false))
                .unwrap_err()
                .id,
            "md-public-needs-admin"
        );
        assert_eq!(
            me.may_set(&ns("p2", Visibility::Private, false))
                .unwrap_err()
                .id,
            "md-owner-needs-admin"
        );
        assert!(admin.may_set(&ns("p2", Visibility::Public, false)).is_ok());
    }

    #[test]
    fn protected_namespaces_keep_their_contents() {
        let p = ns("p1", Visibility::Private, true);
        assert_eq!(
            check_deletable(&p, None).unwrap_err().id,
            "md-namespace-protected"
        );
        let e = check_deletable(&p, Some(ItemKind::Tag.as_str())).unwrap_err();
        assert_eq!(e.id, "md-namespace-protected-content");
        assert_eq!(e.arg("kind"), Some("tag"));
        assert!(check_deletable(&ns("p1", Visibility::Private, false), None).is_ok());
    }
}
