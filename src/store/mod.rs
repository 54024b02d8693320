//! Persistent state behind one interface.
//!
//! Handlers see only [`Store`]; SQLite ([`sqlite::SqliteStore`]) is the embedded driver, and
//! a PostgreSQL driver can be added beside it without touching them. All SQL lives in this
//! module tree.

mod flavors;
mod identity;
pub mod sqlite;

use async_trait::async_trait;

use crate::domain::flavor::{Flavor, NewFlavor};
use crate::domain::identity::{NewUser, User};
use crate::domain::time::Timestamp;

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

    /// The schema version the store is at.
    async fn schema_version(&self) -> StoreResult<String>;
    /// Flushes and closes; later calls fail.
    async fn close(&self);
}
