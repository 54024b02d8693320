//! The secret that signs the stats graphs' URLs (`src/api/compute/stats.rs`), kept in the
//! `settings` table so that URLs handed out before a restart still work after it.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::sqlite::map_err;
use super::{StoreError, StoreResult};

const KEY: &str = "stats_url_secret";

fn decode(hex_value: &str) -> StoreResult<Vec<u8>> {
    hex::decode(hex_value)
        .ok()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| StoreError::Internal(format!("settings.{KEY} is not a hex secret")))
}

/// The secret, when one was made.
pub fn secret(c: &Connection) -> StoreResult<Option<Vec<u8>>> {
    c.query_row("SELECT value FROM settings WHERE key = ?1", [KEY], |r| {
        r.get::<_, String>(0)
    })
    .optional()
    .map_err(map_err)?
    .map(|v| decode(&v))
    .transpose()
}

/// Keeps `fresh` as the secret unless another request made one first, and returns the one
/// kept.
pub fn create_secret(tx: &Transaction<'_>, fresh: &[u8]) -> StoreResult<Vec<u8>> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
        [KEY, &hex::encode(fresh)],
    )
    .map_err(map_err)?;
    secret(tx)?.ok_or_else(|| StoreError::Internal(format!("settings.{KEY} vanished")))
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn one_secret_made_once_and_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = SqliteStore::open(&path, 2).await.unwrap();
        let (a, b) = tokio::join!(store.stats_secret(), store.stats_secret());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len(), 32);
        assert_eq!(a, b, "concurrent first uses agree on one secret");
        store.close().await;
        let store = SqliteStore::open(&path, 2).await.unwrap();
        assert_eq!(store.stats_secret().await.unwrap(), a);

        let other = SqliteStore::open(&dir.path().join("other"), 1)
            .await
            .unwrap();
        assert_ne!(other.stats_secret().await.unwrap(), a, "per deployment");
    }
}
