//! The embedded SQLite driver.
//!
//! One writer connection (behind a mutex: SQLite allows one writer at a time, so queuing
//! here instead of in SQLite's busy handler keeps `SQLITE_BUSY` away from clients) and a
//! pool of readers. Every statement runs on tokio's blocking threads, never on the async
//! runtime. WAL with `synchronous=FULL`: a committed transaction survives a kill or a power
//! loss.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use rusqlite_migration::{M, Migrations};

use super::{
    FinishedUpload, ImageQuery, NewServer, Nic, Server, ServerQuery, Store, StoreError,
    StoreResult, flavors, identity, images, metadefs, networks, servers,
};
use crate::domain::address::MacPrefix;
use crate::domain::flavor::{Flavor, NewFlavor};
use crate::domain::identity::{NewUser, User};
use crate::domain::image::{Image, ImageStatus, Member, MemberStatus};
use crate::domain::metadefs::request::NewNamespace;
use crate::domain::metadefs::{
    Association, Item, ItemKind, Namespace, NamespaceRecord, ResourceType,
};
use crate::domain::network::NetworkStatus;
use crate::domain::server::Diagnostic;
use crate::domain::time::Timestamp;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_init.sql")),
        M::up(include_str!("migrations/0002_images.sql")),
        M::up(include_str!("migrations/0003_servers.sql")),
        M::up(include_str!("migrations/0004_networks.sql")),
        M::up(include_str!("migrations/0005_metadefs.sql")),
    ])
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => return StoreError::Busy,
            ErrorCode::DiskFull => return StoreError::Full,
            ErrorCode::ConstraintViolation => {
                return StoreError::Conflict(msg.clone().unwrap_or_else(|| "conflict".into()));
            }
            _ => {}
        }
    }
    StoreError::Internal(e.to_string())
}

pub struct SqliteStore {
    writer: Arc<Mutex<Option<Connection>>>,
    readers: r2d2::Pool<SqliteConnectionManager>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database, migrates it to the latest schema and seeds
    /// the first-start defaults.
    pub async fn open(path: &Path, readers: u32) -> anyhow::Result<SqliteStore> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, readers)).await?
    }

    fn open_blocking(path: &Path, readers: u32) -> anyhow::Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let mut writer = Connection::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", path.display()))?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            anyhow::bail!("database {} refused WAL mode (got {mode})", path.display());
        }
        configure(&writer)?;
        migrations()
            .to_latest(&mut writer)
            .map_err(|e| anyhow::anyhow!("migrating {}: {e}", path.display()))?;
        flavors::seed_defaults(&mut writer).map_err(map_err)?;

        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                c.busy_timeout(BUSY_TIMEOUT)?;
                c.pragma_update(None, "foreign_keys", "ON")
            });
        let readers = r2d2::Pool::builder()
            .max_size(readers)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .build(manager)?;
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(Some(writer))),
            readers,
        })
    }

    /// Runs `f` in one write transaction on a blocking thread.
    async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<R> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = writer
                .lock()
                .map_err(|_| StoreError::Internal("writer lock poisoned".into()))?;
            let conn = guard
                .as_mut()
                .ok_or_else(|| StoreError::Internal("store is closed".into()))?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let out = f(&tx)?;
            tx.commit().map_err(map_err)?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }

    /// Runs `f` on a pooled read-only connection on a blocking thread.
    async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get().map_err(|_| StoreError::Busy)?;
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.write(move |tx| identity::create_user(tx, user)).await
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.read(identity::list_users).await
    }
    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        let name = name.to_owned();
        self.read(move |c| identity::user_by_name(c, &name)).await
    }
    async fn count_users(&self) -> StoreResult<u64> {
        self.read(identity::count_users).await
    }
    async fn user_names(&self, ids: Vec<String>) -> StoreResult<Vec<(String, String)>> {
        self.read(move |c| identity::lookup(c, "id", &ids)).await
    }
    async fn user_ids(&self, names: Vec<String>) -> StoreResult<Vec<(String, String)>> {
        self.read(move |c| identity::lookup(c, "name", &names))
            .await
    }
    async fn insert_token(
        &self,
        hash: String,
        user_id: String,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| identity::insert_token(tx, &hash, &user_id, &expires_at))
            .await
    }
    async fn token_user(
        &self,
        hash: String,
        now: Timestamp,
    ) -> StoreResult<Option<(User, Timestamp)>> {
        self.read(move |c| identity::token_user(c, &hash, &now))
            .await
    }
    async fn revoke_token(&self, hash: String) -> StoreResult<bool> {
        self.write(move |tx| identity::revoke_token(tx, &hash))
            .await
    }

    async fn create_flavor(&self, flavor: NewFlavor) -> StoreResult<Flavor> {
        self.write(move |tx| flavors::create(tx, &flavor)).await
    }
    async fn list_flavors(&self) -> StoreResult<Vec<Flavor>> {
        self.read(flavors::list).await
    }
    async fn get_flavor(&self, id: i64) -> StoreResult<Option<Flavor>> {
        self.read(move |c| flavors::get(c, id)).await
    }
    async fn delete_flavor(&self, id: i64) -> StoreResult<bool> {
        self.write(move |tx| flavors::delete(tx, id)).await
    }

    async fn create_image(&self, image: Image) -> StoreResult<()> {
        self.write(move |tx| images::insert(tx, &image)).await
    }
    async fn get_image(&self, id: &str) -> StoreResult<Option<Image>> {
        let id = id.to_owned();
        self.read(move |c| images::get(c, &id)).await
    }
    async fn list_images(&self, query: ImageQuery) -> StoreResult<Vec<Image>> {
        self.read(move |c| images::list(c, &query)).await
    }
    async fn update_image(&self, image: Image, expected: Timestamp) -> StoreResult<()> {
        self.write(move |tx| images::update(tx, &image, &expected))
            .await
    }
    async fn set_image_status(
        &self,
        id: &str,
        from: ImageStatus,
        to: ImageStatus,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |tx| images::set_status(tx, &id, from, to, &now))
            .await
    }
    async fn finish_upload(&self, id: &str, u: FinishedUpload) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |tx| {
            images::finish_upload(tx, &id, u.size, &u.md5_hex, &u.sha512_hex, &u.at)
        })
        .await
    }
    async fn delete_image(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |tx| images::delete(tx, &id)).await
    }
    async fn reset_interrupted_uploads(&self) -> StoreResult<u64> {
        self.write(images::reset_interrupted_uploads).await
    }
    async fn project_image_bytes(&self, project: &str) -> StoreResult<u64> {
        let project = project.to_owned();
        self.read(move |c| images::owner_bytes(c, &project)).await
    }
    async fn image_members(&self, image_id: &str) -> StoreResult<Vec<Member>> {
        let id = image_id.to_owned();
        self.read(move |c| images::members(c, &id)).await
    }
    async fn image_member(&self, image_id: &str, member_id: &str) -> StoreResult<Option<Member>> {
        let (i, m) = (image_id.to_owned(), member_id.to_owned());
        self.read(move |c| images::member(c, &i, &m)).await
    }
    async fn add_image_member(&self, member: Member, max_members: u32) -> StoreResult<()> {
        self.write(move |tx| images::add_member(tx, &member, max_members))
            .await
    }
    async fn set_image_member_status(
        &self,
        image_id: &str,
        member_id: &str,
        status: MemberStatus,
        now: Timestamp,
    ) -> StoreResult<Option<Member>> {
        let (i, m) = (image_id.to_owned(), member_id.to_owned());
        self.write(move |tx| images::set_member_status(tx, &i, &m, status, &now))
            .await
    }
    async fn delete_image_member(&self, image_id: &str, member_id: &str) -> StoreResult<bool> {
        let (i, m) = (image_id.to_owned(), member_id.to_owned());
        self.write(move |tx| images::delete_member(tx, &i, &m))
            .await
    }

    async fn create_metadef_namespace(&self, new: NewNamespace, replace: bool) -> StoreResult<()> {
        self.write(move |tx| metadefs::create_namespace(tx, &new, replace))
            .await
    }
    async fn get_metadef_namespace(&self, name: &str) -> StoreResult<Option<NamespaceRecord>> {
        let name = name.to_owned();
        self.read(move |c| metadefs::get_namespace(c, &name)).await
    }
    async fn list_metadef_namespaces(
        &self,
        query: super::NamespaceQuery,
    ) -> StoreResult<Vec<NamespaceRecord>> {
        self.read(move |c| metadefs::list_namespaces(c, &query))
            .await
    }
    async fn update_metadef_namespace(&self, old: &str, ns: Namespace) -> StoreResult<()> {
        let old = old.to_owned();
        self.write(move |tx| metadefs::update_namespace(tx, &old, &ns))
            .await
    }
    async fn delete_metadef_namespace(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |tx| metadefs::delete_namespace(tx, &name))
            .await
    }
    async fn list_metadef_resource_types(&self) -> StoreResult<Vec<ResourceType>> {
        self.read(metadefs::resource_types).await
    }
    async fn add_metadef_association(&self, ns: &str, a: Association) -> StoreResult<()> {
        let ns = ns.to_owned();
        self.write(move |tx| {
            metadefs::require_namespace(tx, &ns)?;
            metadefs::add_association(tx, &ns, &a)
        })
        .await
    }
    async fn delete_metadef_association(&self, ns: &str, rt: &str) -> StoreResult<bool> {
        let (ns, rt) = (ns.to_owned(), rt.to_owned());
        self.write(move |tx| metadefs::delete_association(tx, &ns, &rt))
            .await
    }
    async fn metadef_items(&self, ns: &str, kind: Option<ItemKind>) -> StoreResult<Vec<Item>> {
        let ns = ns.to_owned();
        self.read(move |c| metadefs::items(c, &ns, kind)).await
    }
    async fn metadef_item(
        &self,
        ns: &str,
        kind: ItemKind,
        name: &str,
    ) -> StoreResult<Option<Item>> {
        let (ns, name) = (ns.to_owned(), name.to_owned());
        self.read(move |c| metadefs::item(c, &ns, kind, &name))
            .await
    }
    async fn add_metadef_items(
        &self,
        ns: &str,
        items: Vec<Item>,
        replace: Option<ItemKind>,
    ) -> StoreResult<()> {
        let ns = ns.to_owned();
        self.write(move |tx| {
            metadefs::require_namespace(tx, &ns)?;
            if let Some(kind) = replace {
                metadefs::delete_items(tx, &ns, kind, None)?;
            }
            metadefs::insert_items(tx, &ns, &items)
        })
        .await
    }
    async fn update_metadef_item(&self, ns: &str, old_name: &str, item: Item) -> StoreResult<bool> {
        let (ns, old) = (ns.to_owned(), old_name.to_owned());
        self.write(move |tx| metadefs::update_item(tx, &ns, &old, &item))
            .await
    }
    async fn delete_metadef_items(
        &self,
        ns: &str,
        kind: ItemKind,
        name: Option<String>,
    ) -> StoreResult<u64> {
        let ns = ns.to_owned();
        self.write(move |tx| metadefs::delete_items(tx, &ns, kind, name.as_deref()))
            .await
    }

    async fn ensure_public_network(&self, cidr: String, cidr6: Option<String>) -> StoreResult<()> {
        self.write(move |tx| servers::ensure_public_network(tx, &cidr, cidr6.as_deref()))
            .await
    }
    async fn create_server(
        &self,
        new: NewServer,
        quota: u32,
        mac_prefix: MacPrefix,
    ) -> StoreResult<Server> {
        self.write(move |tx| servers::create(tx, &new, quota, &mac_prefix))
            .await
    }
    async fn get_server(&self, id: i64) -> StoreResult<Option<Server>> {
        self.read(move |c| servers::get(c, id)).await
    }
    async fn list_servers(&self, query: ServerQuery) -> StoreResult<Vec<Server>> {
        self.read(move |c| servers::list(c, &query)).await
    }
    async fn servers_changed_since(&self, user_id: &str, since: Timestamp) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.read(move |c| servers::changed_since(c, &user_id, &since))
            .await
    }
    async fn rename_server(&self, id: i64, name: String) -> StoreResult<bool> {
        self.write(move |tx| servers::rename(tx, id, &name)).await
    }
    async fn change_server_metadata(
        &self,
        id: i64,
        changes: Vec<(String, Option<String>)>,
        replace_all: bool,
        max: usize,
    ) -> StoreResult<BTreeMap<String, String>> {
        self.write(move |tx| servers::change_metadata(tx, id, &changes, replace_all, max))
            .await
    }
    async fn transform_server_states(
        &self,
        ids: Vec<i64>,
        mut change: super::StateChange,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            for id in ids {
                let Some(old) = servers::state(tx, id)? else {
                    continue;
                };
                let (new, diags) = change(id, old);
                if new != old {
                    servers::set_state(tx, id, &new, None)?;
                }
                for d in &diags {
                    servers::add_diagnostic(tx, id, d)?;
                }
            }
            Ok(())
        })
        .await
    }
    async fn server_diagnostics(&self, id: i64) -> StoreResult<Vec<Diagnostic>> {
        self.read(move |c| servers::diagnostics(c, id)).await
    }
    async fn set_server_suspended(&self, id: i64, suspended: bool) -> StoreResult<bool> {
        self.write(move |tx| servers::set_suspended(tx, id, suspended))
            .await
    }
    async fn reassign_server(&self, id: i64, project: String) -> StoreResult<bool> {
        self.write(move |tx| servers::reassign(tx, id, &project))
            .await
    }
    async fn set_server_firewall(
        &self,
        id: i64,
        nic: Option<String>,
        profile: String,
    ) -> StoreResult<()> {
        self.write(move |tx| servers::set_firewall(tx, id, nic.as_deref(), &profile))
            .await
    }
    async fn purge_deleted_servers(&self, before: Timestamp) -> StoreResult<u64> {
        self.write(move |tx| servers::purge_deleted(tx, &before))
            .await
    }
    async fn live_servers(&self) -> StoreResult<Vec<Server>> {
        self.read(servers::live).await
    }

    async fn create_network(
        &self,
        new: networks::NewNetwork,
        quota: u32,
    ) -> StoreResult<networks::Network> {
        self.write(move |tx| networks::create(tx, &new, quota))
            .await
    }
    async fn get_network(&self, id: &str) -> StoreResult<Option<networks::Network>> {
        let id = id.to_owned();
        self.read(move |c| networks::get(c, &id)).await
    }
    async fn list_networks(&self, user_id: &str) -> StoreResult<Vec<networks::Network>> {
        let user_id = user_id.to_owned();
        self.read(move |c| networks::list(c, &user_id)).await
    }
    async fn rename_network(&self, id: &str, name: String) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |tx| networks::rename(tx, &id, &name)).await
    }
    async fn add_network_range(
        &self,
        id: &str,
        change: networks::RangeChange,
    ) -> StoreResult<networks::Network> {
        let id = id.to_owned();
        self.write(move |tx| networks::add_range(tx, &id, &change))
            .await
    }
    async fn set_network_status(
        &self,
        id: &str,
        from: NetworkStatus,
        to: NetworkStatus,
    ) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |tx| networks::set_status(tx, &id, from, to))
            .await
    }
    async fn pending_networks(&self) -> StoreResult<Vec<networks::Network>> {
        self.read(networks::pending).await
    }
    async fn delete_network(&self, id: &str) -> StoreResult<networks::NetworkDelete> {
        let id = id.to_owned();
        self.write(move |tx| networks::delete(tx, &id)).await
    }
    async fn connect_server(
        &self,
        server_id: i64,
        network_id: &str,
        fixed_ip: Option<Ipv4Addr>,
        mac_prefix: MacPrefix,
        name: Option<String>,
    ) -> StoreResult<Nic> {
        let network_id = network_id.to_owned();
        self.write(move |tx| {
            networks::connect(
                tx,
                server_id,
                &network_id,
                fixed_ip,
                &mac_prefix,
                name.as_deref(),
            )
        })
        .await
    }
    async fn set_port_name(&self, nic_id: &str, name: String) -> StoreResult<bool> {
        let nic_id = nic_id.to_owned();
        self.write(move |tx| networks::set_port_name(tx, &nic_id, &name))
            .await
    }
    async fn attach_floating_ip(
        &self,
        server_id: i64,
        floating_id: i64,
        mac_prefix: MacPrefix,
    ) -> StoreResult<Nic> {
        self.write(move |tx| networks::attach_floating(tx, server_id, floating_id, &mac_prefix))
            .await
    }
    async fn disconnect_server(
        &self,
        server_id: i64,
        network_id: &str,
        nic: Option<String>,
    ) -> StoreResult<Vec<Nic>> {
        let network_id = network_id.to_owned();
        self.write(move |tx| networks::disconnect(tx, server_id, &network_id, nic.as_deref()))
            .await
    }
    async fn list_ports(&self, user_id: &str) -> StoreResult<Vec<networks::Port>> {
        let user_id = user_id.to_owned();
        self.read(move |c| networks::ports(c, &user_id)).await
    }
    async fn get_port(&self, id: &str) -> StoreResult<Option<networks::Port>> {
        let id = id.to_owned();
        self.read(move |c| networks::port(c, &id)).await
    }
    async fn create_floating_ip(
        &self,
        user_id: &str,
        project_id: &str,
        network_id: &str,
        address: Option<Ipv4Addr>,
        quota: u32,
    ) -> StoreResult<networks::FloatingIp> {
        let (u, p, n) = (
            user_id.to_owned(),
            project_id.to_owned(),
            network_id.to_owned(),
        );
        self.write(move |tx| networks::create_floating(tx, &u, &p, &n, address, quota))
            .await
    }
    async fn list_floating_ips(&self, user_id: &str) -> StoreResult<Vec<networks::FloatingIp>> {
        let user_id = user_id.to_owned();
        self.read(move |c| networks::floatings(c, &user_id)).await
    }
    async fn get_floating_ip(&self, id: i64) -> StoreResult<Option<networks::FloatingIp>> {
        self.read(move |c| networks::floating(c, id)).await
    }
    async fn delete_floating_ip(&self, id: i64) -> StoreResult<bool> {
        self.write(move |tx| networks::delete_floating(tx, id))
            .await
    }

    async fn stats_secret(&self) -> StoreResult<Vec<u8>> {
        if let Some(secret) = self.read(super::stats::secret).await? {
            return Ok(secret);
        }
        let fresh: [u8; 32] = rand::random();
        self.write(move |tx| super::stats::create_secret(tx, &fresh))
            .await
    }

    async fn schema_version(&self) -> StoreResult<String> {
        self.read(|c| {
            migrations()
                .current_version(c)
                .map(|v| match v {
                    rusqlite_migration::SchemaVersion::NoneSet => "0 (empty)".to_owned(),
                    rusqlite_migration::SchemaVersion::Inside(n) => n.to_string(),
                    rusqlite_migration::SchemaVersion::Outside(n) => {
                        format!("{n} (newer than this binary knows)")
                    }
                })
                .map_err(|e| StoreError::Internal(e.to_string()))
        })
        .await
    }

    async fn close(&self) {
        let writer = self.writer.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(mut guard) = writer.lock()
                && let Some(conn) = guard.take()
            {
                // Fold the WAL back into the main file so the data dir is one file at rest.
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                let _ = conn.close();
            }
        })
        .await;
    }
}
