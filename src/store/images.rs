//! SQL for images and image members. An image is one row: tags and user properties are
//! JSON columns, filtered with SQLite's JSON functions. Listing — visibility, filters,
//! several sort keys and marker pagination — happens in one query.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};

use super::sqlite::map_err;
use super::{
    CmpOp, ImageQuery, ImageSortKey, MemberStatusFilter, StoreError, StoreResult, VisibilityFilter,
};
use crate::domain::image::{Image, ImageStatus, Member, MemberStatus};
use crate::domain::time::{self, Timestamp};

const COLUMNS: &str = "i.id, i.name, i.status, i.visibility, i.protected, i.os_hidden, i.owner, \
    i.disk_format, i.container_format, i.size, i.virtual_size, i.checksum, i.os_hash_algo, \
    i.os_hash_value, i.min_disk, i.min_ram, i.tags, i.properties, i.created_at, i.updated_at";

fn bad_row(what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("stored {what} '{v}' is not valid").into(),
    )
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Image> {
    let status: String = r.get(2)?;
    let visibility: String = r.get(3)?;
    let tags: String = r.get(16)?;
    let props: String = r.get(17)?;
    let created: String = r.get(18)?;
    let updated: String = r.get(19)?;
    Ok(Image {
        id: r.get(0)?,
        name: r.get(1)?,
        status: status.parse().map_err(|_| bad_row("status", &status))?,
        visibility: visibility
            .parse()
            .map_err(|_| bad_row("visibility", &visibility))?,
        protected: r.get(4)?,
        os_hidden: r.get(5)?,
        owner: r.get(6)?,
        disk_format: r.get(7)?,
        container_format: r.get(8)?,
        size: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
        virtual_size: r.get::<_, Option<i64>>(10)?.map(|v| v as u64),
        checksum: r.get(11)?,
        os_hash_algo: r.get(12)?,
        os_hash_value: r.get(13)?,
        min_disk: r.get::<_, i64>(14)? as u64,
        min_ram: r.get::<_, i64>(15)? as u64,
        tags: serde_json::from_str(&tags).map_err(|_| bad_row("tags", &tags))?,
        properties: serde_json::from_str(&props).map_err(|_| bad_row("properties", &props))?,
        created_at: time::parse_db(&created).unwrap_or_default(),
        updated_at: time::parse_db(&updated).unwrap_or_default(),
    })
}

fn json(v: &impl serde::Serialize) -> String {
    // Serializing a Vec<String> or BTreeMap<String, String> cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| v.min(i64::MAX as u64) as i64)
}

pub fn insert(tx: &Transaction<'_>, i: &Image) -> StoreResult<()> {
    let exists = tx
        .query_row("SELECT 1 FROM images WHERE id = ?1", [&i.id], |_| Ok(()))
        .optional()
        .map_err(map_err)?
        .is_some();
    if exists {
        return Err(StoreError::Conflict(format!(
            "an image with id {} already exists",
            i.id
        )));
    }
    tx.execute(
        "INSERT INTO images (id, name, status, visibility, protected, os_hidden, owner,
            disk_format, container_format, size, virtual_size, checksum, os_hash_algo,
            os_hash_value, min_disk, min_ram, tags, properties, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20)",
        params![
            i.id,
            i.name,
            i.status.as_str(),
            i.visibility.as_str(),
            i.protected,
            i.os_hidden,
            i.owner,
            i.disk_format,
            i.container_format,
            opt_i64(i.size),
            opt_i64(i.virtual_size),
            i.checksum,
            i.os_hash_algo,
            i.os_hash_value,
            opt_i64(Some(i.min_disk)),
            opt_i64(Some(i.min_ram)),
            json(&i.tags),
            json(&i.properties),
            time::db(&i.created_at),
            time::db(&i.updated_at),
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

pub fn get(c: &Connection, id: &str) -> StoreResult<Option<Image>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM images i WHERE i.id = ?1"))
        .map_err(map_err)?
        .query_row([id], from_row)
        .optional()
        .map_err(map_err)
}

/// Replaces the record of `new.id` if it still carries `expected_updated_at`; a concurrent
/// change in between is a conflict, so no update is silently lost.
pub fn update(
    tx: &Transaction<'_>,
    new: &Image,
    expected_updated_at: &Timestamp,
) -> StoreResult<()> {
    let n = tx
        .execute(
            "UPDATE images SET name = ?2, status = ?3, visibility = ?4, protected = ?5,
                os_hidden = ?6, owner = ?7, disk_format = ?8, container_format = ?9, size = ?10,
                virtual_size = ?11, checksum = ?12, os_hash_algo = ?13, os_hash_value = ?14,
                min_disk = ?15, min_ram = ?16, tags = ?17, properties = ?18, updated_at = ?19
             WHERE id = ?1 AND updated_at = ?20",
            params![
                new.id,
                new.name,
                new.status.as_str(),
                new.visibility.as_str(),
                new.protected,
                new.os_hidden,
                new.owner,
                new.disk_format,
                new.container_format,
                opt_i64(new.size),
                opt_i64(new.virtual_size),
                new.checksum,
                new.os_hash_algo,
                new.os_hash_value,
                opt_i64(Some(new.min_disk)),
                opt_i64(Some(new.min_ram)),
                json(&new.tags),
                json(&new.properties),
                time::db(&new.updated_at),
                time::db(expected_updated_at),
            ],
        )
        .map_err(map_err)?;
    if n == 0 {
        let exists = tx
            .query_row("SELECT 1 FROM images WHERE id = ?1", [&new.id], |_| Ok(()))
            .optional()
            .map_err(map_err)?
            .is_some();
        return Err(if exists {
            StoreError::Conflict(format!(
                "image {} was changed by another request meanwhile; read it again and retry",
                new.id
            ))
        } else {
            StoreError::NotFound(format!("image {} not found", new.id))
        });
    }
    Ok(())
}

/// Moves an image from `from` to `to` only if it is in `from` now.
pub fn set_status(
    tx: &Transaction<'_>,
    id: &str,
    from: ImageStatus,
    to: ImageStatus,
    now: &Timestamp,
) -> StoreResult<bool> {
    tx.execute(
        "UPDATE images SET status = ?3, updated_at = ?4 WHERE id = ?1 AND status = ?2",
        params![id, from.as_str(), to.as_str(), time::db(now)],
    )
    .map(|n| n > 0)
    .map_err(map_err)
}

/// Records a finished upload and makes the image active, in one transaction.
pub fn finish_upload(
    tx: &Transaction<'_>,
    id: &str,
    size: u64,
    md5: &str,
    sha512: &str,
    now: &Timestamp,
) -> StoreResult<bool> {
    tx.execute(
        "UPDATE images SET status = 'active', size = ?2, checksum = ?3, os_hash_algo = 'sha512',
            os_hash_value = ?4, updated_at = ?5
         WHERE id = ?1 AND status = 'saving'",
        params![id, opt_i64(Some(size)), md5, sha512, time::db(now)],
    )
    .map(|n| n > 0)
    .map_err(map_err)
}

pub fn reset_interrupted_uploads(tx: &Transaction<'_>) -> StoreResult<u64> {
    tx.execute(
        "UPDATE images SET status = 'queued', updated_at = ?1 WHERE status = 'saving'",
        [time::db(&time::now())],
    )
    .map(|n| n as u64)
    .map_err(map_err)
}

pub fn delete(tx: &Transaction<'_>, id: &str) -> StoreResult<bool> {
    tx.execute("DELETE FROM images WHERE id = ?1", [id])
        .map(|n| n > 0)
        .map_err(map_err)
}

/// Bytes of image data owned by `owner` (for the storage quota).
pub fn owner_bytes(c: &Connection, owner: &str) -> StoreResult<u64> {
    c.query_row(
        "SELECT COALESCE(SUM(size), 0) FROM images WHERE owner = ?1",
        [owner],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .map_err(map_err)
}

/// The SQL expression a sort key orders by; NULLs sort as the smallest value.
fn sort_expr(k: ImageSortKey) -> &'static str {
    match k {
        ImageSortKey::Name => "COALESCE(i.name, '')",
        ImageSortKey::Status => "i.status",
        ImageSortKey::ContainerFormat => "COALESCE(i.container_format, '')",
        ImageSortKey::DiskFormat => "COALESCE(i.disk_format, '')",
        ImageSortKey::Size => "COALESCE(i.size, -1)",
        ImageSortKey::VirtualSize => "COALESCE(i.virtual_size, -1)",
        ImageSortKey::Id => "i.id",
        ImageSortKey::CreatedAt => "i.created_at",
        ImageSortKey::UpdatedAt => "i.updated_at",
        ImageSortKey::Visibility => "i.visibility",
        ImageSortKey::Owner => "COALESCE(i.owner, '')",
        ImageSortKey::MinDisk => "i.min_disk",
        ImageSortKey::MinRam => "i.min_ram",
    }
}

pub fn list(c: &Connection, q: &ImageQuery) -> StoreResult<Vec<Image>> {
    let mut wh: Vec<String> = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    let mut arg = |v: Sql| {
        args.push(v);
        format!("?{}", args.len())
    };

    let project = arg(Sql::Text(q.project.clone()));
    let member = |status: &MemberStatusFilter, arg: &mut dyn FnMut(Sql) -> String| match status {
        MemberStatusFilter::All => format!(
            "EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member_id = {project})"
        ),
        MemberStatusFilter::Only(s) => {
            let s = arg(Sql::Text(s.as_str().into()));
            format!(
                "EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id \
                 AND m.member_id = {project} AND m.status = {s})"
            )
        }
    };
    let shared_with_me = member(&q.member_status, &mut arg);
    let visibility = match (q.visibility, q.admin) {
        (VisibilityFilter::Default, true) => None,
        (VisibilityFilter::Default, false) => Some(format!(
            "(i.owner = {project} OR i.visibility = 'public' \
             OR (i.visibility = 'shared' AND {shared_with_me}))"
        )),
        (VisibilityFilter::Public, _) => Some("i.visibility = 'public'".into()),
        (VisibilityFilter::Community, _) => Some("i.visibility = 'community'".into()),
        (VisibilityFilter::Private, true) => Some("i.visibility = 'private'".into()),
        (VisibilityFilter::Private, false) => Some(format!(
            "(i.visibility = 'private' AND i.owner = {project})"
        )),
        (VisibilityFilter::Shared, true) => Some("i.visibility = 'shared'".into()),
        (VisibilityFilter::Shared, false) => Some(format!(
            "(i.visibility = 'shared' AND (i.owner = {project} OR {shared_with_me}))"
        )),
        (VisibilityFilter::All, true) => None,
        (VisibilityFilter::All, false) => Some(format!(
            "(i.owner = {project} OR i.visibility IN ('public', 'community') \
             OR (i.visibility = 'shared' AND {shared_with_me}))"
        )),
    };
    wh.extend(visibility);

    let mut eq = |col: &str, v: &Option<String>, wh: &mut Vec<String>| {
        if let Some(v) = v {
            let p = arg(Sql::Text(v.clone()));
            wh.push(format!("{col} = {p}"));
        }
    };
    eq("i.name", &q.name, &mut wh);
    eq("i.owner", &q.owner, &mut wh);
    eq("i.disk_format", &q.disk_format, &mut wh);
    eq("i.container_format", &q.container_format, &mut wh);
    eq("i.checksum", &q.checksum, &mut wh);
    eq("i.os_hash_value", &q.os_hash_value, &mut wh);
    eq(
        "i.status",
        &q.status.map(|s| s.as_str().to_owned()),
        &mut wh,
    );
    if let Some(v) = q.size_min {
        let p = arg(Sql::Integer(opt_i64(Some(v)).unwrap_or(0)));
        wh.push(format!("i.size >= {p}"));
    }
    if let Some(v) = q.size_max {
        let p = arg(Sql::Integer(opt_i64(Some(v)).unwrap_or(0)));
        wh.push(format!("i.size <= {p}"));
    }
    for (col, conds) in [
        ("i.created_at", &q.created_at),
        ("i.updated_at", &q.updated_at),
    ] {
        for (op, t) in conds {
            // Stored timestamps carry microseconds; equality means the same second.
            let lo = arg(Sql::Text(time::db(t)));
            let hi = arg(Sql::Text(time::db(&(*t + chrono::Duration::seconds(1)))));
            wh.push(match op {
                CmpOp::Eq => format!("({col} >= {lo} AND {col} < {hi})"),
                CmpOp::Neq => format!("({col} < {lo} OR {col} >= {hi})"),
                CmpOp::Gt => format!("{col} >= {hi}"),
                CmpOp::Gte => format!("{col} >= {lo}"),
                CmpOp::Lt => format!("{col} < {lo}"),
                CmpOp::Lte => format!("{col} < {hi}"),
            });
        }
    }
    if let Some(since) = &q.changes_since {
        let p = arg(Sql::Text(time::db(since)));
        wh.push(format!("i.updated_at >= {p}"));
    }
    match q.os_hidden {
        Some(h) => wh.push(format!("i.os_hidden = {}", h as i32)),
        None => wh.push("i.os_hidden = 0".into()),
    }
    for tag in &q.tags {
        let p = arg(Sql::Text(tag.clone()));
        wh.push(format!(
            "EXISTS (SELECT 1 FROM json_each(i.tags) WHERE value = {p})"
        ));
    }
    for (k, v) in &q.properties {
        let pk = arg(Sql::Text(k.clone()));
        let pv = arg(Sql::Text(v.clone()));
        wh.push(format!(
            "EXISTS (SELECT 1 FROM json_each(i.properties) WHERE key = {pk} AND value = {pv})"
        ));
    }

    // Sort keys, with the id as the final tie-breaker so pages never overlap.
    let mut keys = q.sort.clone();
    let last_dir = keys.last().map(|k| k.1).unwrap_or(false);
    if !keys.iter().any(|k| k.0 == ImageSortKey::Id) {
        keys.push((ImageSortKey::Id, last_dir));
    }
    if let Some(marker) = &q.marker {
        let m = get(c, marker)?
            .ok_or_else(|| StoreError::NotFound(format!("marker image {marker} not found")))?;
        // (k1 > v1) OR (k1 = v1 AND k2 > v2) OR … over the marker's own values.
        let mut ors = Vec::new();
        let mut prefix: Vec<String> = Vec::new();
        for (k, asc) in &keys {
            let v = arg(sort_value(&m, *k));
            let cmp = if *asc { ">" } else { "<" };
            let e = sort_expr(*k);
            let mut and = prefix.clone();
            and.push(format!("{e} {cmp} {v}"));
            ors.push(format!("({})", and.join(" AND ")));
            prefix.push(format!("{e} = {v}"));
        }
        wh.push(format!("({})", ors.join(" OR ")));
    }
    let order = keys
        .iter()
        .map(|(k, asc)| format!("{} {}", sort_expr(*k), if *asc { "ASC" } else { "DESC" }))
        .collect::<Vec<_>>()
        .join(", ");
    let limit = arg(Sql::Integer(q.limit as i64));
    let where_sql = if wh.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", wh.join(" AND "))
    };
    let sql = format!("SELECT {COLUMNS} FROM images i {where_sql} ORDER BY {order} LIMIT {limit}");
    let mut st = c.prepare_cached(&sql).map_err(map_err)?;
    let rows = st
        .query_map(params_from_iter(args.iter()), from_row)
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

fn sort_value(i: &Image, k: ImageSortKey) -> Sql {
    let text = |v: &Option<String>| Sql::Text(v.clone().unwrap_or_default());
    let int = |v: Option<u64>| Sql::Integer(v.map(|v| v.min(i64::MAX as u64) as i64).unwrap_or(-1));
    match k {
        ImageSortKey::Name => text(&i.name),
        ImageSortKey::Status => Sql::Text(i.status.as_str().into()),
        ImageSortKey::ContainerFormat => text(&i.container_format),
        ImageSortKey::DiskFormat => text(&i.disk_format),
        ImageSortKey::Size => int(i.size),
        ImageSortKey::VirtualSize => int(i.virtual_size),
        ImageSortKey::Id => Sql::Text(i.id.clone()),
        ImageSortKey::CreatedAt => Sql::Text(time::db(&i.created_at)),
        ImageSortKey::UpdatedAt => Sql::Text(time::db(&i.updated_at)),
        ImageSortKey::Visibility => Sql::Text(i.visibility.as_str().into()),
        ImageSortKey::Owner => text(&i.owner),
        ImageSortKey::MinDisk => int(Some(i.min_disk)),
        ImageSortKey::MinRam => int(Some(i.min_ram)),
    }
}

fn member_from_row(r: &Row<'_>) -> rusqlite::Result<Member> {
    let status: String = r.get(2)?;
    let created: String = r.get(3)?;
    let updated: String = r.get(4)?;
    Ok(Member {
        image_id: r.get(0)?,
        member_id: r.get(1)?,
        status: status
            .parse()
            .map_err(|_| bad_row("member status", &status))?,
        created_at: time::parse_db(&created).unwrap_or_default(),
        updated_at: time::parse_db(&updated).unwrap_or_default(),
    })
}

const MEMBER_COLUMNS: &str = "image_id, member_id, status, created_at, updated_at";

pub fn members(c: &Connection, image_id: &str) -> StoreResult<Vec<Member>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = ?1 ORDER BY created_at, member_id"
        ))
        .map_err(map_err)?;
    let rows = st.query_map([image_id], member_from_row).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn member(c: &Connection, image_id: &str, member_id: &str) -> StoreResult<Option<Member>> {
    c.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = ?1 AND member_id = ?2"
    ))
    .map_err(map_err)?
    .query_row([image_id, member_id], member_from_row)
    .optional()
    .map_err(map_err)
}

pub fn add_member(tx: &Transaction<'_>, m: &Member, max_members: u32) -> StoreResult<()> {
    if member_tx(tx, &m.image_id, &m.member_id)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "project {} is already a member of image {}",
            m.member_id, m.image_id
        )));
    }
    let count: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM image_members WHERE image_id = ?1",
            [&m.image_id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if count >= max_members as i64 {
        return Err(StoreError::Conflict(format!(
            "image {} already has the maximum of {max_members} members",
            m.image_id
        )));
    }
    tx.execute(
        &format!("INSERT INTO image_members ({MEMBER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![
            m.image_id,
            m.member_id,
            m.status.as_str(),
            time::db(&m.created_at),
            time::db(&m.updated_at)
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

fn member_tx(tx: &Transaction<'_>, image_id: &str, member_id: &str) -> StoreResult<Option<Member>> {
    tx.query_row(
        &format!(
            "SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = ?1 AND member_id = ?2"
        ),
        [image_id, member_id],
        member_from_row,
    )
    .optional()
    .map_err(map_err)
}

pub fn set_member_status(
    tx: &Transaction<'_>,
    image_id: &str,
    member_id: &str,
    status: MemberStatus,
    now: &Timestamp,
) -> StoreResult<Option<Member>> {
    tx.execute(
        "UPDATE image_members SET status = ?3, updated_at = ?4 WHERE image_id = ?1 AND member_id = ?2",
        params![image_id, member_id, status.as_str(), time::db(now)],
    )
    .map_err(map_err)?;
    member_tx(tx, image_id, member_id)
}

pub fn delete_member(tx: &Transaction<'_>, image_id: &str, member_id: &str) -> StoreResult<bool> {
    tx.execute(
        "DELETE FROM image_members WHERE image_id = ?1 AND member_id = ?2",
        [image_id, member_id],
    )
    .map(|n| n > 0)
    .map_err(map_err)
}
