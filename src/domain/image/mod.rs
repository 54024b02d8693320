//! The pure rules of the Image API v2 (Glance-compatible): the image record, its status
//! machine, the JSON schemas that are both served and enforced, create and JSON Patch, and
//! operator property protections. No I/O and no HTTP: the store persists [`Image`] and
//! [`Member`], the handlers map [`ImageError`] to status codes.
//!
//! | module          | what it decides                                                    |
//! |-----------------|--------------------------------------------------------------------|
//! | [`status`]      | which status an event leads to (`queued → saving → active`, …)     |
//! | [`schema`]      | `/v2/schemas/*` documents and validation against the same document |
//! | [`document`]    | the v2 entity (`GET /v2/images/{id}`) and reading one back          |
//! | [`request`]     | `POST /v2/images`                                                  |
//! | [`patch`]       | `PATCH /v2/images/{id}` in both JSON Patch media types             |
//! | [`protections`] | `property-protections-roles.conf`                                  |
//! | [`plankton`]    | the Plankton (Glance v1) headers, as v2 create bodies and patches  |

pub mod document;
pub mod patch;
pub mod plankton;
pub mod protections;
pub mod request;
pub mod schema;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::identity::Role;
use super::time::Timestamp;

pub use document::{document, is_base_attribute, member_document, view};
pub use patch::{PatchFormat, patch};
pub use protections::{PropertyOp, PropertyProtections};
pub use request::create;
pub use schema::{
    image_schema, images_schema, member_schema, members_schema, validate_image_document,
};
pub use status::{ImageEvent, transition};

/// Where an image is in its life; the spellings are Glance's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    Queued,
    Saving,
    Active,
    Killed,
    Deleted,
    PendingDelete,
    Deactivated,
    Uploading,
    Importing,
}

impl ImageStatus {
    pub const ALL: [ImageStatus; 9] = [
        ImageStatus::Queued,
        ImageStatus::Saving,
        ImageStatus::Active,
        ImageStatus::Killed,
        ImageStatus::Deleted,
        ImageStatus::PendingDelete,
        ImageStatus::Deactivated,
        ImageStatus::Uploading,
        ImageStatus::Importing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Queued => "queued",
            ImageStatus::Saving => "saving",
            ImageStatus::Active => "active",
            ImageStatus::Killed => "killed",
            ImageStatus::Deleted => "deleted",
            ImageStatus::PendingDelete => "pending_delete",
            ImageStatus::Deactivated => "deactivated",
            ImageStatus::Uploading => "uploading",
            ImageStatus::Importing => "importing",
        }
    }
}

impl fmt::Display for ImageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImageStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ImageStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "invalid image status '{s}': expected one of {}",
                    list(ImageStatus::ALL.map(ImageStatus::as_str))
                )
            })
    }
}

/// Who may see an image besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone; only an admin may make an image public.
    Public,
    /// The owner only.
    Private,
    /// The owner and the projects added as members (Glance's default since Ocata).
    Shared,
    /// Everyone may use it, but it is not listed unless asked for.
    Community,
}

impl Visibility {
    pub const ALL: [Visibility; 4] = [
        Visibility::Public,
        Visibility::Private,
        Visibility::Shared,
        Visibility::Community,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Visibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Visibility::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "invalid visibility '{s}': expected one of {}",
                    list(Visibility::ALL.map(Visibility::as_str))
                )
            })
    }
}

/// A member project's answer to an image shared with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Pending,
    Accepted,
    Rejected,
}

impl MemberStatus {
    pub const ALL: [MemberStatus; 3] = [
        MemberStatus::Pending,
        MemberStatus::Accepted,
        MemberStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }
}

impl fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemberStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MemberStatus::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "invalid member status '{s}': expected one of {}",
                    list(MemberStatus::ALL.map(MemberStatus::as_str))
                )
            })
    }
}

/// One image record, as the store keeps it. [`document()`] renders it as the v2 entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// A UUID string.
    pub id: String,
    pub name: Option<String>,
    pub status: ImageStatus,
    pub visibility: Visibility,
    pub protected: bool,
    pub os_hidden: bool,
    /// The owning project (tenant) id.
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size: Option<u64>,
    pub virtual_size: Option<u64>,
    /// md5 of the data, hex.
    pub checksum: Option<String>,
    /// `sha512`.
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub min_disk: u64,
    pub min_ram: u64,
    /// Kept sorted and unique.
    pub tags: Vec<String>,
    /// Every other (user) property; never holds a key for which [`is_base_attribute`] holds.
    pub properties: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A project an image is shared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub image_id: String,
    pub member_id: String,
    pub status: MemberStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Why an image request is refused; each variant is one HTTP status (400, 403, 404, 409,
/// 415, 413) and its message is shown to the client as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooLarge(String),
}

/// Who is asking: roles decide admin-only fields (visibility=public) and property protections.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub project_id: &'a str,
    pub roles: &'a [Role],
    /// The operator's property protections; `None` when the operator configured none.
    pub protections: Option<&'a PropertyProtections>,
}

impl Caller<'_> {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }

    /// Whether property protections let this caller do `op` on user property `property`.
    pub fn may(&self, property: &str, op: PropertyOp) -> bool {
        self.protections
            .is_none_or(|p| p.allows(property, op, self.roles))
    }
}

fn list<const N: usize>(names: [&str; N]) -> String {
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_match_serde() {
        for s in ImageStatus::ALL {
            assert_eq!(s.as_str().parse::<ImageStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(ImageStatus::PendingDelete.as_str(), "pending_delete");
        for v in Visibility::ALL {
            assert_eq!(v.as_str().parse::<Visibility>(), Ok(v));
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
        for m in MemberStatus::ALL {
            assert_eq!(m.as_str().parse::<MemberStatus>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        let err = "Public".parse::<Visibility>().unwrap_err();
        assert!(err.contains("public, private, shared, community"), "{err}");
        assert!("gone".parse::<ImageStatus>().is_err());
        assert!("maybe".parse::<MemberStatus>().is_err());
    }

    #[test]
    fn admin_is_a_role() {
        let caller = Caller {
            project_id: "p",
            roles: &[Role::Member, Role::Admin],
            protections: None,
        };
        assert!(caller.is_admin());
        assert!(caller.may("anything", PropertyOp::Delete));
        let caller = Caller {
            roles: &[Role::Member],
            ..caller
        };
        assert!(!caller.is_admin());
    }
}
