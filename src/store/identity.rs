//! SQL for projects, users and tokens.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::sqlite::map_err;
use super::{StoreError, StoreResult};
use crate::domain::identity::{NewUser, Project, User, new_id, roles_from_string, roles_to_string};
use crate::domain::time::{self, Timestamp};

const USER_COLUMNS: &str = "u.id, u.name, u.roles, u.password_hash, u.created_at, p.id, p.name";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let created: String = r.get(4)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        roles: roles_from_string(&r.get::<_, String>(2)?),
        password_hash: r.get(3)?,
        created_at: time::parse_db(&created).unwrap_or_default(),
        project: Project {
            id: r.get(5)?,
            name: r.get(6)?,
        },
    })
}

pub fn create_user(tx: &Transaction<'_>, new: NewUser) -> StoreResult<User> {
    let taken: bool = tx
        .query_row("SELECT 1 FROM users WHERE name = ?1", [&new.name], |_| {
            Ok(())
        })
        .optional()
        .map_err(map_err)?
        .is_some();
    if taken {
        return Err(StoreError::Conflict(format!(
            "a user named '{}' already exists",
            new.name
        )));
    }
    let project_id = new.project.unwrap_or_else(new_id);
    tx.execute(
        "INSERT INTO projects (id, name) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING",
        params![project_id, project_id],
    )
    .map_err(map_err)?;
    let id = new_id();
    let now = time::now();
    tx.execute(
        "INSERT INTO users (id, name, project_id, roles, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            new.name,
            project_id,
            roles_to_string(&new.roles),
            new.password_hash,
            time::db(&now)
        ],
    )
    .map_err(map_err)?;
    tx.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users u JOIN projects p ON p.id = u.project_id WHERE u.id = ?1"),
        [&id],
        user_from_row,
    )
    .map_err(map_err)
}

pub fn list_users(c: &Connection) -> StoreResult<Vec<User>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN projects p ON p.id = u.project_id ORDER BY u.name"
        ))
        .map_err(map_err)?;
    let rows = st.query_map([], user_from_row).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn user_by_name(c: &Connection, name: &str) -> StoreResult<Option<User>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN projects p ON p.id = u.project_id WHERE u.name = ?1"
    ))
    .map_err(map_err)?
    .query_row([name], user_from_row)
    .optional()
    .map_err(map_err)
}

pub fn count_users(c: &Connection) -> StoreResult<u64> {
    c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(map_err)
}

/// Pairs `(key, other)` for the users whose `key_column` (`id` or `name`) is in `keys`.
/// Ids that name no user but a project resolve to the project's name: image owners and
/// members are project (tenant) ids, and clients look those up in the same catalog.
pub fn lookup(
    c: &Connection,
    key_column: &str,
    keys: &[String],
) -> StoreResult<Vec<(String, String)>> {
    let (key, other) = match key_column {
        "id" => ("id", "name"),
        _ => ("name", "id"),
    };
    let mut users = c
        .prepare_cached(&format!("SELECT {other} FROM users WHERE {key} = ?1"))
        .map_err(map_err)?;
    let mut projects = c
        .prepare_cached("SELECT name FROM projects WHERE id = ?1")
        .map_err(map_err)?;
    let mut out = Vec::new();
    for k in keys {
        let mut found = users
            .query_row([k], |r| r.get::<_, String>(0))
            .optional()
            .map_err(map_err)?;
        if found.is_none() && key == "id" {
            found = projects
                .query_row([k], |r| r.get::<_, String>(0))
                .optional()
                .map_err(map_err)?;
        }
        if let Some(v) = found {
            out.push((k.clone(), v));
        }
    }
    Ok(out)
}

pub fn insert_token(
    tx: &Transaction<'_>,
    hash: &str,
    user_id: &str,
    expires_at: &Timestamp,
) -> StoreResult<()> {
    let now = time::now();
    // Expired tokens are useless; dropping them here keeps the table small.
    tx.execute(
        "DELETE FROM tokens WHERE expires_at <= ?1",
        [time::db(&now)],
    )
    .map_err(map_err)?;
    tx.execute(
        "INSERT INTO tokens (hash, user_id, expires_at, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash, user_id, time::db(expires_at), time::db(&now)],
    )
    .map_err(map_err)?;
    Ok(())
}

pub fn token_user(
    c: &Connection,
    hash: &str,
    now: &Timestamp,
) -> StoreResult<Option<(User, Timestamp)>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, t.expires_at FROM tokens t
         JOIN users u ON u.id = t.user_id JOIN projects p ON p.id = u.project_id
         WHERE t.hash = ?1 AND t.expires_at > ?2"
    ))
    .map_err(map_err)?
    .query_row(params![hash, time::db(now)], |r| {
        let expires: String = r.get(7)?;
        Ok((
            user_from_row(r)?,
            time::parse_db(&expires).unwrap_or_default(),
        ))
    })
    .optional()
    .map_err(map_err)
}

pub fn revoke_token(tx: &Transaction<'_>, hash: &str) -> StoreResult<bool> {
    tx.execute("DELETE FROM tokens WHERE hash = ?1", [hash])
        .map(|n| n > 0)
        .map_err(map_err)
}
