//! SQL for the metadata definitions catalog: namespaces, resource types and their
//! associations, and the items (properties, objects, tags) of each namespace. A namespace
//! page — visibility, resource type filter, sort and marker — is one query, plus one for
//! the associations of the namespaces on it.
//!
//! Conflicts of this module carry only the clashing name, so the API can say it in the
//! caller's language.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};
use serde_json::{Map, Value};

use super::sqlite::map_err;
use super::{StoreError, StoreResult};
use crate::domain::metadefs::request::NewNamespace;
use crate::domain::metadefs::{
    Association, Item, ItemKind, Namespace, NamespaceRecord, ResourceType, Visibility,
};
use crate::domain::time::{self, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceSortKey {
    Namespace,
    CreatedAt,
    UpdatedAt,
}

impl NamespaceSortKey {
    fn column(self) -> &'static str {
        match self {
            NamespaceSortKey::Namespace => "n.namespace",
            NamespaceSortKey::CreatedAt => "n.created_at",
            NamespaceSortKey::UpdatedAt => "n.updated_at",
        }
    }
}

/// One page of namespaces, as the caller may see them.
#[derive(Debug, Clone)]
pub struct NamespaceQuery {
    pub project: String,
    /// Admins see every namespace.
    pub admin: bool,
    pub visibility: Option<Visibility>,
    /// Namespaces associated with any of these.
    pub resource_types: Vec<String>,
    pub sort_key: NamespaceSortKey,
    pub ascending: bool,
    /// Start after this namespace (NotFound when the caller cannot see it).
    pub marker: Option<String>,
    pub limit: u32,
}

const NS_COLUMNS: &str = "n.namespace, n.display_name, n.description, n.visibility, n.protected, \
    n.owner, n.created_at, n.updated_at, \
    (SELECT count(*) FROM metadef_items i WHERE i.namespace = n.namespace AND i.kind = 'property'), \
    (SELECT count(*) FROM metadef_items i WHERE i.namespace = n.namespace AND i.kind = 'object'), \
    (SELECT count(*) FROM metadef_items i WHERE i.namespace = n.namespace AND i.kind = 'tag')";

fn ts(r: &Row<'_>, i: usize) -> rusqlite::Result<Timestamp> {
    let s: String = r.get(i)?;
    Ok(time::parse_db(&s).unwrap_or_default())
}

fn ns_from_row(r: &Row<'_>) -> rusqlite::Result<NamespaceRecord> {
    let vis: String = r.get(3)?;
    Ok(NamespaceRecord {
        ns: Namespace {
            namespace: r.get(0)?,
            display_name: r.get(1)?,
            description: r.get(2)?,
            visibility: vis.parse().unwrap_or(Visibility::Private),
            protected: r.get(4)?,
            owner: r.get(5)?,
            created_at: ts(r, 6)?,
            updated_at: ts(r, 7)?,
        },
        associations: Vec::new(),
        property_count: r.get::<_, i64>(8)? as u64,
        object_count: r.get::<_, i64>(9)? as u64,
        tag_count: r.get::<_, i64>(10)? as u64,
    })
}

fn associations_of(c: &Connection, ns: &str) -> StoreResult<Vec<Association>> {
    let mut st = c
        .prepare_cached(
            "SELECT resource_type, prefix, properties_target, created_at, updated_at
             FROM metadef_associations WHERE namespace = ?1 ORDER BY rowid",
        )
        .map_err(map_err)?;
    st.query_map([ns], |r| {
        Ok(Association {
            resource_type: r.get(0)?,
            prefix: r.get(1)?,
            properties_target: r.get(2)?,
            created_at: ts(r, 3)?,
            updated_at: ts(r, 4)?,
        })
    })
    .map_err(map_err)?
    .collect::<Result<_, _>>()
    .map_err(map_err)
}

fn insert_namespace(tx: &Transaction<'_>, ns: &Namespace) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO metadef_namespaces (namespace, display_name, description, visibility,
            protected, owner, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            ns.namespace,
            ns.display_name,
            ns.description,
            ns.visibility.as_str(),
            ns.protected,
            ns.owner,
            time::db(&ns.created_at),
            time::db(&ns.updated_at),
        ],
    )
    .map_err(|e| conflict_as(e, &ns.namespace))?;
    Ok(())
}

/// A uniqueness clash reported as the clashing name.
fn conflict_as(e: rusqlite::Error, name: &str) -> StoreError {
    match map_err(e) {
        StoreError::Conflict(_) => StoreError::Conflict(name.to_owned()),
        other => other,
    }
}

fn exists(c: &Connection, ns: &str) -> StoreResult<bool> {
    c.query_row(
        "SELECT 1 FROM metadef_namespaces WHERE namespace = ?1",
        [ns],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(map_err)
}

/// The namespace and everything inline in one transaction; with `replace`, a namespace of
/// the same name is deleted first (an import over an existing catalogue).
pub fn create_namespace(
    tx: &Transaction<'_>,
    new: &NewNamespace,
    replace: bool,
) -> StoreResult<()> {
    if replace {
        delete_namespace(tx, &new.ns.namespace)?;
    } else if exists(tx, &new.ns.namespace)? {
        return Err(StoreError::Conflict(new.ns.namespace.clone()));
    }
    insert_namespace(tx, &new.ns)?;
    for a in &new.associations {
        add_association(tx, &new.ns.namespace, a)?;
    }
    insert_items(tx, &new.ns.namespace, &new.items)
}

pub fn get_namespace(c: &Connection, ns: &str) -> StoreResult<Option<NamespaceRecord>> {
    let found = c
        .prepare_cached(&format!(
            "SELECT {NS_COLUMNS} FROM metadef_namespaces n WHERE n.namespace = ?1"
        ))
        .map_err(map_err)?
        .query_row([ns], ns_from_row)
        .optional()
        .map_err(map_err)?;
    match found {
        None => Ok(None),
        Some(mut r) => {
            r.associations = associations_of(c, ns)?;
            Ok(Some(r))
        }
    }
}

pub fn list_namespaces(c: &Connection, q: &NamespaceQuery) -> StoreResult<Vec<NamespaceRecord>> {
    let mut wh: Vec<String> = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    let arg = |v: Sql, args: &mut Vec<Sql>| {
        args.push(v);
        format!("?{}", args.len())
    };
    if !q.admin {
        let p = arg(Sql::Text(q.project.clone()), &mut args);
        wh.push(format!("(n.visibility = 'public' OR n.owner = {p})"));
    }
    if let Some(v) = q.visibility {
        let p = arg(Sql::Text(v.as_str().into()), &mut args);
        wh.push(format!("n.visibility = {p}"));
    }
    if !q.resource_types.is_empty() {
        let ps: Vec<String> = q
            .resource_types
            .iter()
            .map(|t| arg(Sql::Text(t.clone()), &mut args))
            .collect();
        wh.push(format!(
            "EXISTS (SELECT 1 FROM metadef_associations a WHERE a.namespace = n.namespace
                AND a.resource_type IN ({}))",
            ps.join(", ")
        ));
    }
    let col = q.sort_key.column();
    if let Some(m) = &q.marker {
        let key: Option<String> = c
            .query_row(
                &format!("SELECT {col} FROM metadef_namespaces n WHERE n.namespace = ?1"),
                [m],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        let Some(key) = key else {
            return Err(StoreError::NotFound(m.clone()));
        };
        let op = if q.ascending { ">" } else { "<" };
        let pk = arg(Sql::Text(key), &mut args);
        let pm = arg(Sql::Text(m.clone()), &mut args);
        wh.push(format!("({col}, n.namespace) {op} ({pk}, {pm})"));
    }
    let dir = if q.ascending { "ASC" } else { "DESC" };
    let lim = arg(Sql::Integer(q.limit as i64), &mut args);
    let sql = format!(
        "SELECT {NS_COLUMNS} FROM metadef_namespaces n {} ORDER BY {col} {dir}, n.namespace {dir}
         LIMIT {lim}",
        if wh.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", wh.join(" AND "))
        }
    );
    let mut st = c.prepare(&sql).map_err(map_err)?;
    let mut out: Vec<NamespaceRecord> = st
        .query_map(params_from_iter(args), ns_from_row)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    // The page's associations in a few queries rather than one per namespace (chunks keep
    // under SQLite's limit on bound parameters whatever the operator's page size).
    let mut by_ns: std::collections::HashMap<String, Vec<Association>> = Default::default();
    let names: Vec<String> = out.iter().map(|r| r.ns.namespace.clone()).collect();
    for chunk in names.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut st = c
            .prepare(&format!(
                "SELECT namespace, resource_type, prefix, properties_target, created_at,
                    updated_at FROM metadef_associations WHERE namespace IN ({marks})
                 ORDER BY rowid"
            ))
            .map_err(map_err)?;
        let rows = st
            .query_map(params_from_iter(chunk.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Association {
                        resource_type: r.get(1)?,
                        prefix: r.get(2)?,
                        properties_target: r.get(3)?,
                        created_at: ts(r, 4)?,
                        updated_at: ts(r, 5)?,
                    },
                ))
            })
            .map_err(map_err)?;
        for row in rows {
            let (ns, a) = row.map_err(map_err)?;
            by_ns.entry(ns).or_default().push(a);
        }
    }
    for r in &mut out {
        r.associations = by_ns.remove(&r.ns.namespace).unwrap_or_default();
    }
    Ok(out)
}

/// Replaces the attributes of `old` (a rename moves its contents along). NotFound when it
/// is gone; Conflict (the new name) when the new name is taken.
pub fn update_namespace(tx: &Transaction<'_>, old: &str, ns: &Namespace) -> StoreResult<()> {
    if old != ns.namespace && exists(tx, &ns.namespace)? {
        return Err(StoreError::Conflict(ns.namespace.clone()));
    }
    let n = tx
        .execute(
            "UPDATE metadef_namespaces SET namespace = ?2, display_name = ?3, description = ?4,
                visibility = ?5, protected = ?6, owner = ?7, updated_at = ?8
             WHERE namespace = ?1",
            params![
                old,
                ns.namespace,
                ns.display_name,
                ns.description,
                ns.visibility.as_str(),
                ns.protected,
                ns.owner,
                time::db(&ns.updated_at),
            ],
        )
        .map_err(|e| conflict_as(e, &ns.namespace))?;
    if n == 0 {
        return Err(StoreError::NotFound(old.to_owned()));
    }
    Ok(())
}

pub fn delete_namespace(tx: &Transaction<'_>, ns: &str) -> StoreResult<bool> {
    tx.execute("DELETE FROM metadef_namespaces WHERE namespace = ?1", [ns])
        .map(|n| n > 0)
        .map_err(map_err)
}

pub fn resource_types(c: &Connection) -> StoreResult<Vec<ResourceType>> {
    let mut st = c
        .prepare_cached(
            "SELECT name, created_at, updated_at FROM metadef_resource_types ORDER BY rowid",
        )
        .map_err(map_err)?;
    st.query_map([], |r| {
        Ok(ResourceType {
            name: r.get(0)?,
            created_at: ts(r, 1)?,
            updated_at: ts(r, 2)?,
        })
    })
    .map_err(map_err)?
    .collect::<Result<_, _>>()
    .map_err(map_err)
}

/// Associates a namespace with a resource type, creating the type when it is new (as
/// Glance does). Conflict (the type's name) when already associated.
pub fn add_association(tx: &Transaction<'_>, ns: &str, a: &Association) -> StoreResult<()> {
    let now = time::db(&a.created_at);
    tx.execute(
        "INSERT OR IGNORE INTO metadef_resource_types (name, created_at, updated_at)
         VALUES (?1, ?2, ?2)",
        params![a.resource_type, now],
    )
    .map_err(map_err)?;
    tx.execute(
        "INSERT INTO metadef_associations (namespace, resource_type, prefix, properties_target,
            created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            ns,
            a.resource_type,
            a.prefix,
            a.properties_target,
            now,
            time::db(&a.updated_at)
        ],
    )
    .map_err(|e| conflict_as(e, &a.resource_type))?;
    Ok(())
}

pub fn delete_association(tx: &Transaction<'_>, ns: &str, rt: &str) -> StoreResult<bool> {
    tx.execute(
        "DELETE FROM metadef_associations WHERE namespace = ?1 AND resource_type = ?2",
        [ns, rt],
    )
    .map(|n| n > 0)
    .map_err(map_err)
}

fn item_from_row(r: &Row<'_>) -> rusqlite::Result<Item> {
    let kind: String = r.get(0)?;
    let body: String = r.get(2)?;
    Ok(Item {
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Tag),
        name: r.get(1)?,
        body: serde_json::from_str::<Map<String, Value>>(&body).unwrap_or_default(),
        created_at: ts(r, 3)?,
        updated_at: ts(r, 4)?,
    })
}

/// A namespace's items of one kind (or all), in the order they were added.
pub fn items(c: &Connection, ns: &str, kind: Option<ItemKind>) -> StoreResult<Vec<Item>> {
    let mut st = c
        .prepare_cached(
            "SELECT kind, name, body, created_at, updated_at FROM metadef_items
             WHERE namespace = ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY rowid",
        )
        .map_err(map_err)?;
    st.query_map(params![ns, kind.map(ItemKind::as_str)], item_from_row)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)
}

pub fn item(c: &Connection, ns: &str, kind: ItemKind, name: &str) -> StoreResult<Option<Item>> {
    c.prepare_cached(
        "SELECT kind, name, body, created_at, updated_at FROM metadef_items
         WHERE namespace = ?1 AND kind = ?2 AND name = ?3",
    )
    .map_err(map_err)?
    .query_row(params![ns, kind.as_str(), name], item_from_row)
    .optional()
    .map_err(map_err)
}

fn body_json(i: &Item) -> String {
    // A map of JSON values always serializes.
    serde_json::to_string(&i.body).unwrap_or_else(|_| "{}".into())
}

/// Adds items to a namespace; Conflict (the name) when one is taken.
pub fn insert_items(tx: &Transaction<'_>, ns: &str, items: &[Item]) -> StoreResult<()> {
    let mut st = tx
        .prepare_cached(
            "INSERT INTO metadef_items (namespace, kind, name, body, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(map_err)?;
    for i in items {
        st.execute(params![
            ns,
            i.kind.as_str(),
            i.name,
            body_json(i),
            time::db(&i.created_at),
            time::db(&i.updated_at)
        ])
        .map_err(|e| conflict_as(e, &i.name))?;
    }
    Ok(())
}

/// Replaces `old_name`'s item (a rename included), keeping its creation time. False when
/// it is gone; Conflict (the new name) when the new name is taken.
pub fn update_item(tx: &Transaction<'_>, ns: &str, old_name: &str, i: &Item) -> StoreResult<bool> {
    tx.execute(
        "UPDATE metadef_items SET name = ?4, body = ?5, updated_at = ?6
         WHERE namespace = ?1 AND kind = ?2 AND name = ?3",
        params![
            ns,
            i.kind.as_str(),
            old_name,
            i.name,
            body_json(i),
            time::db(&i.updated_at)
        ],
    )
    .map(|n| n > 0)
    .map_err(|e| conflict_as(e, &i.name))
}

/// Deletes one item, or every item of the kind; returns how many went.
pub fn delete_items(
    tx: &Transaction<'_>,
    ns: &str,
    kind: ItemKind,
    name: Option<&str>,
) -> StoreResult<u64> {
    tx.execute(
        "DELETE FROM metadef_items WHERE namespace = ?1 AND kind = ?2 AND (?3 IS NULL OR name = ?3)",
        params![ns, kind.as_str(), name],
    )
    .map(|n| n as u64)
    .map_err(map_err)
}

/// Whether the namespace still exists, for writes that must not create orphans.
pub fn require_namespace(tx: &Transaction<'_>, ns: &str) -> StoreResult<()> {
    if exists(tx, ns)? {
        Ok(())
    } else {
        Err(StoreError::NotFound(ns.to_owned()))
    }
}
