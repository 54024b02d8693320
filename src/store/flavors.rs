//! SQL for flavors. Deleting a flavor hides it; the row stays so that servers built with it
//! keep a meaningful `flavor` reference.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::sqlite::map_err;
use super::{StoreError, StoreResult};
use crate::domain::flavor::{Flavor, NewFlavor};
use crate::domain::time;

const COLUMNS: &str = "id, name, vcpus, ram, disk, disk_template, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Flavor> {
    let created: String = r.get(6)?;
    Ok(Flavor {
        id: r.get(0)?,
        name: r.get(1)?,
        vcpus: r.get(2)?,
        ram: r.get(3)?,
        disk: r.get(4)?,
        disk_template: r.get(5)?,
        created_at: time::parse_db(&created).unwrap_or_default(),
    })
}

pub fn create(tx: &Transaction<'_>, f: &NewFlavor) -> StoreResult<Flavor> {
    let taken = tx
        .query_row(
            "SELECT 1 FROM flavors WHERE name = ?1 AND deleted = 0",
            [&f.name],
            |_| Ok(()),
        )
        .optional()
        .map_err(map_err)?
        .is_some();
    if taken {
        return Err(StoreError::Conflict(format!(
            "a flavor named '{}' already exists",
            f.name
        )));
    }
    tx.execute(
        "INSERT INTO flavors (name, vcpus, ram, disk, disk_template, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            f.name,
            f.vcpus,
            f.ram,
            f.disk,
            f.disk_template,
            time::db(&time::now())
        ],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM flavors WHERE id = ?1"),
        [id],
        from_row,
    )
    .map_err(map_err)
}

pub fn list(c: &Connection) -> StoreResult<Vec<Flavor>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM flavors WHERE deleted = 0 ORDER BY id"
        ))
        .map_err(map_err)?;
    let rows = st.query_map([], from_row).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn get(c: &Connection, id: i64) -> StoreResult<Option<Flavor>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM flavors WHERE id = ?1 AND deleted = 0"
    ))
    .map_err(map_err)?
    .query_row([id], from_row)
    .optional()
    .map_err(map_err)
}

pub fn delete(tx: &Transaction<'_>, id: i64) -> StoreResult<bool> {
    tx.execute(
        "UPDATE flavors SET deleted = 1 WHERE id = ?1 AND deleted = 0",
        [id],
    )
    .map(|n| n > 0)
    .map_err(map_err)
}

/// Creates the default flavors once, on the first start of a data dir; deleting them later
/// is the operator's choice and they do not come back.
pub fn seed_defaults(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let seeded = tx
        .query_row(
            "SELECT 1 FROM settings WHERE key = 'default_flavors_seeded'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !seeded {
        for f in NewFlavor::defaults() {
            tx.execute(
                "INSERT INTO flavors (name, vcpus, ram, disk, disk_template, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    f.name,
                    f.vcpus,
                    f.ram,
                    f.disk,
                    f.disk_template,
                    time::db(&time::now())
                ],
            )?;
        }
        tx.execute(
            "INSERT INTO settings (key, value) VALUES ('default_flavors_seeded', '1')",
            [],
        )?;
    }
    tx.commit()
}
