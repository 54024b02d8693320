//! Persistent state behind one interface.
//!
//! Handlers see only [`Store`]; SQLite ([`sqlite::SqliteStore`]) is the embedded driver, and
//! a PostgreSQL driver can be added beside it without touching them. All SQL lives in this
//! module tree.

mod flavors;
mod identity;
mod images;
pub mod metadefs;
pub mod networks;
pub mod servers;
pub mod sqlite;
mod stats;

use async_trait::async_trait;

use crate::domain::address::MacPrefix;
use crate::domain::flavor::{Flavor, NewFlavor};
use crate::domain::identity::{NewUser, User};
use crate::domain::image::{Image, ImageStatus, Member, MemberStatus};
use crate::domain::server::{Diagnostic, ServerState, ServerStatus};
use crate::domain::time::Timestamp;
use std::collections::BTreeMap;

use crate::domain::metadefs::request::NewNamespace;
use crate::domain::metadefs::{
    Association, Item, ItemKind, Namespace, NamespaceRecord, ResourceType,
};
pub use metadefs::{NamespaceQuery, NamespaceSortKey};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the message names the clash.
    #[error("{0}")]
    Conflict(String),
    /// A referenced row does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The database stayed locked past the busy timeout.
    #[error("the database is busy; retry shortly")]
    Busy,
    /// A limit (quota, address range) would be exceeded; the message names it.
    #[error("{0}")]
    Limit(String),
    /// The disk is full: nothing was written.
    #[error("the gateway's disk is full; nothing was written")]
    Full,
    #[error("store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // identity
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>>;
    async fn count_users(&self) -> StoreResult<u64>;
    /// Names of the users with these ids (unknown ids are left out).
    async fn user_names(&self, ids: Vec<String>) -> StoreResult<Vec<(String, String)>>;
    /// Ids of the users with these names (unknown names are left out).
    async fn user_ids(&self, names: Vec<String>) -> StoreResult<Vec<(String, String)>>;
    async fn insert_token(
        &self,
        hash: String,
        user_id: String,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// The user owning an unexpired token, with its expiry.
    async fn token_user(
        &self,
        hash: String,
        now: Timestamp,
    ) -> StoreResult<Option<(User, Timestamp)>>;
    async fn revoke_token(&self, hash: String) -> StoreResult<bool>;

    // flavors
    async fn create_flavor(&self, flavor: NewFlavor) -> StoreResult<Flavor>;
    async fn list_flavors(&self) -> StoreResult<Vec<Flavor>>;
    async fn get_flavor(&self, id: i64) -> StoreResult<Option<Flavor>>;
    async fn delete_flavor(&self, id: i64) -> StoreResult<bool>;

    // images
    async fn create_image(&self, image: Image) -> StoreResult<()>;
    async fn get_image(&self, id: &str) -> StoreResult<Option<Image>>;
    async fn list_images(&self, query: ImageQuery) -> StoreResult<Vec<Image>>;
    /// Replaces the record if it still carries `expected_updated_at` (else Conflict).
    async fn update_image(&self, image: Image, expected_updated_at: Timestamp) -> StoreResult<()>;
    /// Moves the image from `from` to `to` if it is in `from`; false otherwise.
    async fn set_image_status(
        &self,
        id: &str,
        from: ImageStatus,
        to: ImageStatus,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// saving → active with the upload's size and hashes, in one transaction.
    async fn finish_upload(&self, id: &str, upload: FinishedUpload) -> StoreResult<bool>;
    async fn delete_image(&self, id: &str) -> StoreResult<bool>;
    /// Images left `saving` by a stop mid-upload go back to `queued`; returns how many.
    async fn reset_interrupted_uploads(&self) -> StoreResult<u64>;
    /// Bytes of image data owned by a project.
    async fn project_image_bytes(&self, project: &str) -> StoreResult<u64>;
    async fn image_members(&self, image_id: &str) -> StoreResult<Vec<Member>>;
    async fn image_member(&self, image_id: &str, member_id: &str) -> StoreResult<Option<Member>>;
    async fn add_image_member(&self, member: Member, max_members: u32) -> StoreResult<()>;
    async fn set_image_member_status(
        &self,
        image_id: &str,
        member_id: &str,
        status: MemberStatus,
        now: Timestamp,
    ) -> StoreResult<Option<Member>>;
    async fn delete_image_member(&self, image_id: &str, member_id: &str) -> StoreResult<bool>;

    // metadefs
    // Conflicts of these methods carry only the clashing name; NotFound the missing one.
    /// A namespace with its inline associations and items, in one transaction. With
    /// `replace`, a namespace of the same name is replaced instead of being a Conflict.
    async fn create_metadef_namespace(&self, new: NewNamespace, replace: bool) -> StoreResult<()>;
    async fn get_metadef_namespace(&self, name: &str) -> StoreResult<Option<NamespaceRecord>>;
    async fn list_metadef_namespaces(
        &self,
        query: NamespaceQuery,
    ) -> StoreResult<Vec<NamespaceRecord>>;
    /// Replaces the attributes of namespace `old` (renaming it when `ns` says so).
    async fn update_metadef_namespace(&self, old: &str, ns: Namespace) -> StoreResult<()>;
    /// Deletes a namespace and everything in it.
    async fn delete_metadef_namespace(&self, name: &str) -> StoreResult<bool>;
    async fn list_metadef_resource_types(&self) -> StoreResult<Vec<ResourceType>>;
    /// Creates the resource type when it is new.
    async fn add_metadef_association(&self, ns: &str, a: Association) -> StoreResult<()>;
    async fn delete_metadef_association(&self, ns: &str, resource_type: &str) -> StoreResult<bool>;
    /// Items of one kind (or all) in the order they were added.
    async fn metadef_items(&self, ns: &str, kind: Option<ItemKind>) -> StoreResult<Vec<Item>>;
    async fn metadef_item(&self, ns: &str, kind: ItemKind, name: &str)
    -> StoreResult<Option<Item>>;
    /// Adds items; with `replace`, every item of that kind goes first (one transaction).
    async fn add_metadef_items(
        &self,
        ns: &str,
        items: Vec<Item>,
        replace: Option<ItemKind>,
    ) -> StoreResult<()>;
    /// Replaces item `old_name` of `item.kind`; false when it is gone.
    async fn update_metadef_item(&self, ns: &str, old_name: &str, item: Item) -> StoreResult<bool>;
    /// Deletes one item, or every item of the kind; returns how many went.
    async fn delete_metadef_items(
        &self,
        ns: &str,
        kind: ItemKind,
        name: Option<String>,
    ) -> StoreResult<u64>;

    // servers
    /// Creates the `public` network from configuration or updates its ranges.
    async fn ensure_public_network(&self, cidr: String, cidr6: Option<String>) -> StoreResult<()>;
    /// A new BUILD server with its metadata and a NIC on the public network (Limit past the
    /// user's quota or when the public range is exhausted).
    async fn create_server(
        &self,
        new: NewServer,
        quota: u32,
        mac_prefix: MacPrefix,
    ) -> StoreResult<Server>;
    async fn get_server(&self, id: i64) -> StoreResult<Option<Server>>;
    async fn list_servers(&self, query: ServerQuery) -> StoreResult<Vec<Server>>;
    async fn servers_changed_since(&self, user_id: &str, since: Timestamp) -> StoreResult<bool>;
    async fn rename_server(&self, id: i64, name: String) -> StoreResult<bool>;
    /// `None` values delete keys (NotFound when absent); `replace_all` empties first.
    async fn change_server_metadata(
        &self,
        id: i64,
        changes: Vec<(String, Option<String>)>,
        replace_all: bool,
        max: usize,
    ) -> StoreResult<BTreeMap<String, String>>;
    /// In one write transaction, for each id: reads the server's state, asks `change` for
    /// the new state and diagnostics, and stores them. Reading and writing in the same
    /// transaction means no concurrent request's change is overwritten, and a batch of the
    /// reconciler's events costs one fsync.
    async fn transform_server_states(&self, ids: Vec<i64>, change: StateChange) -> StoreResult<()>;
    async fn server_diagnostics(&self, id: i64) -> StoreResult<Vec<Diagnostic>>;
    async fn set_server_suspended(&self, id: i64, suspended: bool) -> StoreResult<bool>;
    /// Moves a live server to an existing project; false when either does not exist.
    async fn reassign_server(&self, id: i64, project: String) -> StoreResult<bool>;
    async fn set_server_firewall(
        &self,
        id: i64,
        nic: Option<String>,
        profile: String,
    ) -> StoreResult<()>;
    async fn purge_deleted_servers(&self, before: Timestamp) -> StoreResult<u64>;
    async fn live_servers(&self) -> StoreResult<Vec<Server>>;

    // networks
    /// A PENDING network owned by the user (Limit past `quota` live networks).
    async fn create_network(
        &self,
        new: networks::NewNetwork,
        quota: u32,
    ) -> StoreResult<networks::Network>;
    /// A live network with its attachments.
    async fn get_network(&self, id: &str) -> StoreResult<Option<networks::Network>>;
    /// The public network and the user's live networks.
    async fn list_networks(&self, user_id: &str) -> StoreResult<Vec<networks::Network>>;
    async fn rename_network(&self, id: &str, name: String) -> StoreResult<bool>;
    /// Gives a network the IPv4 or IPv6 range it lacks (a Neutron subnet).
    async fn add_network_range(
        &self,
        id: &str,
        change: networks::RangeChange,
    ) -> StoreResult<networks::Network>;
    async fn set_network_status(
        &self,
        id: &str,
        from: crate::domain::network::NetworkStatus,
        to: crate::domain::network::NetworkStatus,
    ) -> StoreResult<bool>;
    async fn pending_networks(&self) -> StoreResult<Vec<networks::Network>>;
    async fn delete_network(&self, id: &str) -> StoreResult<networks::NetworkDelete>;
    /// A new NIC between a live server and a live network, with fresh addresses (or the
    /// IPv4 address asked for), and the port name given.
    async fn connect_server(
        &self,
        server_id: i64,
        network_id: &str,
        fixed_ip: Option<std::net::Ipv4Addr>,
        mac_prefix: MacPrefix,
        name: Option<String>,
    ) -> StoreResult<Nic>;
    /// Names a port; false when there is no such NIC.
    async fn set_port_name(&self, nic_id: &str, name: String) -> StoreResult<bool>;
    /// A NIC on the floating IP's network with its address, for the holder's server.
    async fn attach_floating_ip(
        &self,
        server_id: i64,
        floating_id: i64,
        mac_prefix: MacPrefix,
    ) -> StoreResult<Nic>;
    /// Removes the named NIC, or every NIC between the server and the network.
    async fn disconnect_server(
        &self,
        server_id: i64,
        network_id: &str,
        nic: Option<String>,
    ) -> StoreResult<Vec<Nic>>;
    async fn list_ports(&self, user_id: &str) -> StoreResult<Vec<networks::Port>>;
    async fn get_port(&self, id: &str) -> StoreResult<Option<networks::Port>>;
    async fn create_floating_ip(
        &self,
        user_id: &str,
        project_id: &str,
        network_id: &str,
        address: Option<std::net::Ipv4Addr>,
        quota: u32,
    ) -> StoreResult<networks::FloatingIp>;
    async fn list_floating_ips(&self, user_id: &str) -> StoreResult<Vec<networks::FloatingIp>>;
    async fn get_floating_ip(&self, id: i64) -> StoreResult<Option<networks::FloatingIp>>;
    async fn delete_floating_ip(&self, id: i64) -> StoreResult<bool>;

    /// The deployment's secret for signing the stats graphs' URLs: 32 random bytes made on
    /// first use, once even under concurrent calls, and kept across restarts.
    async fn stats_secret(&self) -> StoreResult<Vec<u8>>;

    /// The schema version the store is at.
    async fn schema_version(&self) -> StoreResult<String>;
    /// Flushes and closes; later calls fail.
    async fn close(&self);
}

/// The result of a completed upload, recorded when the image becomes active.
#[derive(Debug, Clone)]
pub struct FinishedUpload {
    pub size: u64,
    pub md5_hex: String,
    pub sha512_hex: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// Which images a listing covers, by Glance's `visibility` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibilityFilter {
    /// No filter: the caller's own, public, and shared-with-it images (admins: all).
    Default,
    Public,
    Private,
    Shared,
    Community,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatusFilter {
    Only(MemberStatus),
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSortKey {
    Name,
    Status,
    ContainerFormat,
    DiskFormat,
    Size,
    VirtualSize,
    Id,
    CreatedAt,
    UpdatedAt,
    Visibility,
    Owner,
    MinDisk,
    MinRam,
}

impl std::str::FromStr for ImageSortKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "name" => ImageSortKey::Name,
            "status" => ImageSortKey::Status,
            "container_format" => ImageSortKey::ContainerFormat,
            "disk_format" => ImageSortKey::DiskFormat,
            "size" => ImageSortKey::Size,
            "virtual_size" => ImageSortKey::VirtualSize,
            "id" => ImageSortKey::Id,
            "created_at" => ImageSortKey::CreatedAt,
            "updated_at" => ImageSortKey::UpdatedAt,
            "visibility" => ImageSortKey::Visibility,
            "owner" => ImageSortKey::Owner,
            "min_disk" => ImageSortKey::MinDisk,
            "min_ram" => ImageSortKey::MinRam,
            other => {
                return Err(format!(
                    "unknown sort key '{other}': use name, status, container_format, \
                     disk_format, size, virtual_size, id, created_at, updated_at, visibility, \
                     owner, min_disk or min_ram"
                ));
            }
        })
    }
}

/// One page of an image listing, as the caller may see it.
#[derive(Debug, Clone)]
pub struct ImageQuery {
    /// The caller's project.
    pub project: String,
    pub admin: bool,
    pub visibility: VisibilityFilter,
    /// Which memberships make a shared image appear (default: accepted).
    pub member_status: MemberStatusFilter,
    pub name: Option<String>,
    pub status: Option<ImageStatus>,
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    /// md5 of the data (`checksum`) and sha512 (`os_hash_value`).
    pub checksum: Option<String>,
    pub os_hash_value: Option<String>,
    /// Every tag must be present.
    pub tags: Vec<String>,
    pub size_min: Option<u64>,
    pub size_max: Option<u64>,
    pub created_at: Vec<(CmpOp, Timestamp)>,
    pub updated_at: Vec<(CmpOp, Timestamp)>,
    /// Compute's `changes-since`: updated at or after.
    pub changes_since: Option<Timestamp>,
    /// None: hidden images are left out; Some(b): only images with `os_hidden == b`.
    pub os_hidden: Option<bool>,
    /// Every user property must have this value.
    pub properties: Vec<(String, String)>,
    /// Sort keys with ascending = true.
    pub sort: Vec<(ImageSortKey, bool)>,
    /// Start after this image (it must exist).
    pub marker: Option<String>,
    pub limit: u32,
}

impl ImageQuery {
    /// Everything `project` may see, newest first, up to `limit`.
    pub fn visible_to(project: &str, admin: bool, limit: u32) -> ImageQuery {
        ImageQuery {
            project: project.to_owned(),
            admin,
            visibility: VisibilityFilter::Default,
            member_status: MemberStatusFilter::Only(MemberStatus::Accepted),
            name: None,
            status: None,
            owner: None,
            disk_format: None,
            container_format: None,
            checksum: None,
            os_hash_value: None,
            tags: Vec::new(),
            size_min: None,
            size_max: None,
            created_at: Vec::new(),
            updated_at: Vec::new(),
            changes_since: None,
            os_hidden: None,
            properties: Vec::new(),
            sort: vec![(ImageSortKey::CreatedAt, false)],
            marker: None,
            limit,
        }
    }
}

/// A server record with its metadata and NICs.
#[derive(Debug, Clone)]
pub struct Server {
    /// A positive integer: kamaki passes server ids through `int()`.
    pub id: i64,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub flavor_id: i64,
    pub image_id: String,
    pub state: ServerState,
    pub suspended: bool,
    pub metadata: BTreeMap<String, String>,
    pub nics: Vec<Nic>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

/// A server's connection to a network (`nic-<server>-<n>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub id: String,
    pub server_id: i64,
    pub network_id: String,
    pub mac: String,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub firewall_profile: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewServer {
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub flavor_id: i64,
    pub image_id: String,
    pub metadata: BTreeMap<String, String>,
    /// NICs to make besides the public one, in order: network id and the IPv4 address asked
    /// for (`networks` of the create request, checked by the caller for ownership).
    pub networks: Vec<(String, Option<std::net::Ipv4Addr>)>,
}

/// One page of a user's servers.
#[derive(Debug, Clone)]
pub struct ServerQuery {
    pub user_id: String,
    /// Changed at or after (deleted servers included); without it deleted ones are left out.
    pub changes_since: Option<Timestamp>,
    pub status: Option<ServerStatus>,
    pub name: Option<String>,
    pub image_id: Option<String>,
    pub flavor_id: Option<i64>,
    /// Start after this server id.
    pub marker: Option<i64>,
    pub limit: u32,
    /// Load metadata and NICs too.
    pub with_details: bool,
}

/// What [`Store::transform_server_states`] does to one server: its id and current state in,
/// its new state and the diagnostics to append out.
pub type StateChange =
    Box<dyn FnMut(i64, ServerState) -> (ServerState, Vec<Diagnostic>) + Send + 'static>;
