//! SQL for servers, their metadata, NICs and diagnostics, and the networks NICs attach to.
//!
//! Creating a server and allocating its public NIC's addresses happen in one write
//! transaction: SQLite has one writer at a time, so reading the used addresses and inserting
//! the new one cannot interleave with another allocation — no address or MAC is handed out
//! twice, and the unique indexes back that up.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};

use super::sqlite::map_err;
use super::{NewServer, Nic, Server, ServerQuery, StoreError, StoreResult};
use crate::domain::address::{MacPrefix, eui64, free_ipv4};
use crate::domain::server::{DiagLevel, Diagnostic, RebootKind, ServerState, ServerStatus, Task};
use crate::domain::time::{self, Timestamp};

pub const PUBLIC_NETWORK: &str = "public";

pub fn task_str(t: Task) -> &'static str {
    match t {
        Task::Build => "build",
        Task::Start => "start",
        Task::Shutdown => "shutdown",
        Task::Reboot(RebootKind::Soft) => "reboot_soft",
        Task::Reboot(RebootKind::Hard) => "reboot_hard",
        Task::Destroy => "destroy",
    }
}

fn task_from(s: &str) -> Option<Task> {
    Some(match s {
        "build" => Task::Build,
        "start" => Task::Start,
        "shutdown" => Task::Shutdown,
        "reboot_soft" => Task::Reboot(RebootKind::Soft),
        "reboot_hard" => Task::Reboot(RebootKind::Hard),
        "destroy" => Task::Destroy,
        _ => return None,
    })
}

fn level_str(l: DiagLevel) -> &'static str {
    match l {
        DiagLevel::Debug => "DEBUG",
        DiagLevel::Info => "INFO",
        DiagLevel::Warning => "WARNING",
        DiagLevel::Error => "ERROR",
    }
}

fn level_from(s: &str) -> DiagLevel {
    match s {
        "DEBUG" => DiagLevel::Debug,
        "WARNING" => DiagLevel::Warning,
        "ERROR" => DiagLevel::Error,
        _ => DiagLevel::Info,
    }
}

/// Creates the `public` network from configuration, or brings its ranges up to date.
pub fn ensure_public_network(
    tx: &Transaction<'_>,
    cidr: &str,
    cidr6: Option<&str>,
) -> StoreResult<()> {
    let now = time::db(&time::now());
    let gateway = cidr
        .parse::<ipnet::Ipv4Net>()
        .ok()
        .and_then(|n| n.hosts().next())
        .map(|g| g.to_string());
    tx.execute(
        "INSERT INTO networks (id, name, type, cidr, cidr6, gateway, dhcp, public, status,
            created_at, updated_at)
         VALUES (?1, 'public', 'PUBLIC_ROUTED', ?2, ?3, ?4, 1, 1, 'ACTIVE', ?5, ?5)
         ON CONFLICT(id) DO UPDATE SET cidr = ?2, cidr6 = ?3, gateway = ?4",
        params![PUBLIC_NETWORK, cidr, cidr6, gateway, now],
    )
    .map_err(map_err)?;
    Ok(())
}

const COLUMNS: &str = "s.id, s.name, s.user_id, s.project_id, s.flavor_id, s.image_id, s.status, \
    s.task, s.progress, s.suspended, s.created_at, s.updated_at, s.deleted_at";

fn server_from_row(r: &Row<'_>) -> rusqlite::Result<Server> {
    let status: String = r.get(6)?;
    let task: Option<String> = r.get(7)?;
    let ts = |i: usize| -> rusqlite::Result<Timestamp> {
        Ok(time::parse_db(&r.get::<_, String>(i)?).unwrap_or_default())
    };
    let deleted: Option<String> = r.get(12)?;
    Ok(Server {
        id: r.get(0)?,
        name: r.get(1)?,
        user_id: r.get(2)?,
        project_id: r.get(3)?,
        flavor_id: r.get(4)?,
        image_id: r.get(5)?,
        state: ServerState {
            status: status.parse().unwrap_or(ServerStatus::Unknown),
            task: task.as_deref().and_then(task_from),
            progress: r.get::<_, i64>(8)?.clamp(0, 100) as u8,
        },
        suspended: r.get(9)?,
        metadata: BTreeMap::new(),
        nics: Vec::new(),
        created_at: ts(10)?,
        updated_at: ts(11)?,
        deleted_at: deleted.as_deref().and_then(time::parse_db),
    })
}

pub(super) fn nic_from_row(r: &Row<'_>) -> rusqlite::Result<Nic> {
    Ok(Nic {
        id: r.get(0)?,
        server_id: r.get(1)?,
        network_id: r.get(2)?,
        mac: r.get(3)?,
        ipv4: r.get(4)?,
        ipv6: r.get(5)?,
        firewall_profile: r.get(6)?,
    })
}

/// Fills in metadata and NICs.
fn complete(c: &Connection, mut s: Server) -> StoreResult<Server> {
    let mut st = c
        .prepare_cached("SELECT key, value FROM server_metadata WHERE server_id = ?1 ORDER BY key")
        .map_err(map_err)?;
    let rows = st
        .query_map([s.id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(map_err)?;
    s.metadata = rows.collect::<Result<_, _>>().map_err(map_err)?;
    let mut st = c
        .prepare_cached(
            "SELECT id, server_id, network_id, mac, ipv4, ipv6, firewall_profile FROM nics
             WHERE server_id = ?1 ORDER BY ordinal",
        )
        .map_err(map_err)?;
    let rows = st.query_map([s.id], nic_from_row).map_err(map_err)?;
    s.nics = rows.collect::<Result<_, _>>().map_err(map_err)?;
    Ok(s)
}

pub fn get(c: &Connection, id: i64) -> StoreResult<Option<Server>> {
    let s = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM servers s WHERE s.id = ?1"))
        .map_err(map_err)?
        .query_row([id], server_from_row)
        .optional()
        .map_err(map_err)?;
    s.map(|s| complete(c, s)).transpose()
}

/// The next MAC of the deployment, from a counter kept in the settings table.
fn next_mac(tx: &Transaction<'_>, prefix: &MacPrefix) -> StoreResult<String> {
    let n: i64 = tx
        .query_row(
            "SELECT value FROM settings WHERE key = 'next_mac'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(map_err)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    tx.execute(
        "INSERT INTO settings (key, value) VALUES ('next_mac', ?1)
         ON CONFLICT(key) DO UPDATE SET value = ?1",
        [(n + 1).to_string()],
    )
    .map_err(map_err)?;
    prefix
        .mac(u32::try_from(n).unwrap_or(u32::MAX))
        .map_err(StoreError::Limit)
}

/// Connects `server_id` to `network_id` with a new NIC: a fresh MAC, the first free IPv4 of
/// the network's range and the EUI-64 IPv6 of its /64.
pub fn add_nic(
    tx: &Transaction<'_>,
    server_id: i64,
    network_id: &str,
    prefix: &MacPrefix,
) -> StoreResult<Nic> {
    add_nic_with(tx, server_id, network_id, prefix, None, false)
}

/// The IPv4 addresses of `network_id` no new NIC may take: those of its NICs and the
/// floating IPs held on it.
pub(super) fn used_ipv4(tx: &Transaction<'_>, network_id: &str) -> StoreResult<HashSet<Ipv4Addr>> {
    let mut st = tx
        .prepare_cached(
            "SELECT ipv4 FROM nics WHERE network_id = ?1 AND ipv4 IS NOT NULL
             UNION ALL SELECT address FROM floating_ips WHERE network_id = ?1",
        )
        .map_err(map_err)?;
    let used = st
        .query_map([network_id], |r| r.get::<_, String>(0))
        .map_err(map_err)?
        .filter_map(|r| r.ok().and_then(|s| s.parse().ok()))
        .collect();
    Ok(used)
}

/// [`add_nic`], with the IPv4 address the caller asked for (`fixed_ip`): it must be a host
/// address of the range, not the gateway, and free (Conflict otherwise). `held`: the
/// address is a floating IP the server's owner holds (checked by the caller), so only
/// another NIC using it counts.
pub fn add_nic_with(
    tx: &Transaction<'_>,
    server_id: i64,
    network_id: &str,
    prefix: &MacPrefix,
    fixed_ip: Option<Ipv4Addr>,
    held: bool,
) -> StoreResult<Nic> {
    let (cidr, cidr6, gateway): (Option<String>, Option<String>, Option<String>) = tx
        .query_row(
            "SELECT cidr, cidr6, gateway FROM networks WHERE id = ?1 AND deleted_at IS NULL",
            [network_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound(format!("network {network_id} not found")))?;
    let mac = next_mac(tx, prefix)?;
    let net = cidr
        .as_deref()
        .and_then(|c| c.parse::<ipnet::Ipv4Net>().ok());
    let gw: Option<Ipv4Addr> = gateway.as_deref().and_then(|g| g.parse().ok());
    let ipv4 = match (net, fixed_ip) {
        (None, None) => None,
        (None, Some(ip)) => {
            return Err(StoreError::Conflict(format!(
                "network {network_id} has no IPv4 range: {ip} cannot be given"
            )));
        }
        (Some(net), Some(ip)) => {
            if !net.contains(&ip) || ip == net.network() || ip == net.broadcast() {
                return Err(StoreError::Conflict(format!(
                    "{ip} is not a host address of network {network_id} ({net})"
                )));
            }
            let taken = if held {
                tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM nics WHERE network_id = ?1 AND ipv4 = ?2)",
                    params![network_id, ip.to_string()],
                    |r| r.get::<_, bool>(0),
                )
                .map_err(map_err)?
            } else {
                used_ipv4(tx, network_id)?.contains(&ip)
            };
            if Some(ip) == gw || taken {
                return Err(StoreError::Conflict(format!(
                    "{ip} is already in use on network {network_id}"
                )));
            }
            Some(ip.to_string())
        }
        (Some(net), None) => {
            let used = used_ipv4(tx, network_id)?;
            let ip = free_ipv4(net, gw, &used).ok_or_else(|| {
                StoreError::Limit(format!(
                    "network {network_id} has no free IPv4 address left in {net}"
                ))
            })?;
            Some(ip.to_string())
        }
    };
    let ipv6 = cidr6
        .as_deref()
        .and_then(|c| c.parse::<ipnet::Ipv6Net>().ok())
        .and_then(|net| eui64(net, &mac))
        .map(|ip| ip.to_string());
    // Ordinals come from a per-server counter, so a NIC id is never handed out twice.
    let ordinal: i64 = tx
        .query_row(
            "SELECT MAX(s.next_nic, COALESCE((SELECT MAX(ordinal) + 1 FROM nics
                 WHERE server_id = s.id), 0))
             FROM servers s WHERE s.id = ?1",
            [server_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound(format!("server {server_id} not found")))?;
    tx.execute(
        "UPDATE servers SET next_nic = ?2 WHERE id = ?1",
        params![server_id, ordinal + 1],
    )
    .map_err(map_err)?;
    let id = format!("nic-{server_id}-{ordinal}");
    tx.execute(
        "INSERT INTO nics (id, server_id, network_id, ordinal, mac, ipv4, ipv6, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            server_id,
            network_id,
            ordinal,
            mac,
            ipv4,
            ipv6,
            time::db(&time::now())
        ],
    )
    .map_err(map_err)?;
    Ok(Nic {
        id,
        server_id,
        network_id: network_id.to_owned(),
        mac,
        ipv4,
        ipv6,
        firewall_profile: None,
    })
}

/// Inserts a BUILD server with its metadata and its public NIC; refuses past the user's quota.
pub fn create(
    tx: &Transaction<'_>,
    new: &NewServer,
    quota: u32,
    prefix: &MacPrefix,
) -> StoreResult<Server> {
    let live: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM servers WHERE user_id = ?1 AND deleted_at IS NULL",
            [&new.user_id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if live >= i64::from(quota) {
        return Err(StoreError::Limit(format!(
            "you already have {live} servers, the most your quota allows ({quota}); delete one first"
        )));
    }
    let now = time::db(&time::now());
    tx.execute(
        "INSERT INTO servers (name, user_id, project_id, flavor_id, image_id, status, task,
            progress, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'BUILD', 'build', 0, ?6, ?6)",
        params![
            new.name,
            new.user_id,
            new.project_id,
            new.flavor_id,
            new.image_id,
            now
        ],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
    for (k, v) in &new.metadata {
        tx.execute(
            "INSERT INTO server_metadata (server_id, key, value) VALUES (?1, ?2, ?3)",
            params![id, k, v],
        )
        .map_err(map_err)?;
    }
    add_nic(tx, id, PUBLIC_NETWORK, prefix)?;
    for (network, fixed_ip) in &new.networks {
        add_nic_with(tx, id, network, prefix, *fixed_ip, false)?;
    }
    complete(tx, get_tx(tx, id)?)
}

fn get_tx(tx: &Transaction<'_>, id: i64) -> StoreResult<Server> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM servers s WHERE s.id = ?1"),
        [id],
        server_from_row,
    )
    .map_err(map_err)
}

pub fn list(c: &Connection, q: &ServerQuery) -> StoreResult<Vec<Server>> {
    let mut wh = vec!["s.user_id = ?1".to_owned()];
    let mut args: Vec<Sql> = vec![Sql::Text(q.user_id.clone())];
    let arg = |v: Sql, args: &mut Vec<Sql>| {
        args.push(v);
        format!("?{}", args.len())
    };
    match &q.changes_since {
        // Polling clients also learn about deletions.
        Some(t) => {
            let p = arg(Sql::Text(time::db(t)), &mut args);
            wh.push(format!("s.updated_at >= {p}"));
        }
        None => wh.push("s.deleted_at IS NULL".into()),
    }
    if let Some(v) = &q.status {
        let p = arg(Sql::Text(v.as_str().to_owned()), &mut args);
        wh.push(format!("s.status = {p}"));
    }
    if let Some(v) = &q.name {
        let p = arg(Sql::Text(v.clone()), &mut args);
        wh.push(format!("s.name = {p}"));
    }
    if let Some(v) = &q.image_id {
        let p = arg(Sql::Text(v.clone()), &mut args);
        wh.push(format!("s.image_id = {p}"));
    }
    if let Some(v) = q.flavor_id {
        let p = arg(Sql::Integer(v), &mut args);
        wh.push(format!("s.flavor_id = {p}"));
    }
    if let Some(m) = q.marker {
        let p = arg(Sql::Integer(m), &mut args);
        wh.push(format!("s.id > {p}"));
    }
    let limit = arg(Sql::Integer(i64::from(q.limit)), &mut args);
    let sql = format!(
        "SELECT {COLUMNS} FROM servers s WHERE {} ORDER BY s.id LIMIT {limit}",
        wh.join(" AND ")
    );
    let mut st = c.prepare_cached(&sql).map_err(map_err)?;
    let servers: Vec<Server> = st
        .query_map(params_from_iter(args.iter()), server_from_row)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    if !q.with_details {
        return Ok(servers);
    }
    complete_all(c, servers)
}

/// Fills in metadata and NICs of many servers with one query each, not two per server.
fn complete_all(c: &Connection, mut servers: Vec<Server>) -> StoreResult<Vec<Server>> {
    if servers.is_empty() {
        return Ok(servers);
    }
    let ids = serde_json::to_string(&servers.iter().map(|s| s.id).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into());
    let index: std::collections::HashMap<i64, usize> =
        servers.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    let mut st = c
        .prepare_cached(
            "SELECT server_id, key, value FROM server_metadata
             WHERE server_id IN (SELECT value FROM json_each(?1)) ORDER BY server_id, key",
        )
        .map_err(map_err)?;
    let rows = st
        .query_map([&ids], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(map_err)?;
    for row in rows {
        let (id, k, v) = row.map_err(map_err)?;
        if let Some(&i) = index.get(&id) {
            servers[i].metadata.insert(k, v);
        }
    }
    let mut st = c
        .prepare_cached(
            "SELECT id, server_id, network_id, mac, ipv4, ipv6, firewall_profile FROM nics
             WHERE server_id IN (SELECT value FROM json_each(?1)) ORDER BY server_id, ordinal",
        )
        .map_err(map_err)?;
    let rows = st.query_map([&ids], nic_from_row).map_err(map_err)?;
    for row in rows {
        let nic = row.map_err(map_err)?;
        if let Some(&i) = index.get(&nic.server_id) {
            servers[i].nics.push(nic);
        }
    }
    Ok(servers)
}

/// Whether any of the user's servers changed at or after `since` (for 304 answers).
pub fn changed_since(c: &Connection, user_id: &str, since: &Timestamp) -> StoreResult<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM servers WHERE user_id = ?1 AND updated_at >= ?2)",
        params![user_id, time::db(since)],
        |r| r.get(0),
    )
    .map_err(map_err)
}

pub fn touch(tx: &Transaction<'_>, id: i64) -> StoreResult<()> {
    tx.execute(
        "UPDATE servers SET updated_at = ?2 WHERE id = ?1",
        params![id, time::db(&time::now())],
    )
    .map_err(map_err)?;
    Ok(())
}

pub fn rename(tx: &Transaction<'_>, id: i64, name: &str) -> StoreResult<bool> {
    let n = tx
        .execute(
            "UPDATE servers SET name = ?2, updated_at = ?3 WHERE id = ?1 AND deleted_at IS NULL",
            params![id, name, time::db(&time::now())],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

/// Changes metadata: `replace_all` first empties it (PUT on the collection); `None` values
/// delete keys. Refuses (Limit) when the result would exceed `max`.
pub fn change_metadata(
    tx: &Transaction<'_>,
    id: i64,
    changes: &[(String, Option<String>)],
    replace_all: bool,
    max: usize,
) -> StoreResult<BTreeMap<String, String>> {
    if replace_all {
        tx.execute("DELETE FROM server_metadata WHERE server_id = ?1", [id])
            .map_err(map_err)?;
    }
    for (k, v) in changes {
        match v {
            Some(v) => tx.execute(
                "INSERT INTO server_metadata (server_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(server_id, key) DO UPDATE SET value = ?3",
                params![id, k, v],
            ),
            None => {
                let n = tx
                    .execute(
                        "DELETE FROM server_metadata WHERE server_id = ?1 AND key = ?2",
                        params![id, k],
                    )
                    .map_err(map_err)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!(
                        "server {id} has no metadata '{k}'"
                    )));
                }
                Ok(0)
            }
        }
        .map_err(map_err)?;
    }
    let count: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM server_metadata WHERE server_id = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if count as usize > max {
        return Err(StoreError::Limit(format!(
            "a server may have at most {max} metadata items"
        )));
    }
    touch(tx, id)?;
    let mut st = tx
        .prepare_cached("SELECT key, value FROM server_metadata WHERE server_id = ?1 ORDER BY key")
        .map_err(map_err)?;
    let rows = st
        .query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// Persists a state the state machine computed, with an optional diagnostics entry. A
/// DELETED state also releases the server's NICs (and with them its addresses).
pub fn set_state(
    tx: &Transaction<'_>,
    id: i64,
    state: &ServerState,
    diag: Option<&Diagnostic>,
) -> StoreResult<()> {
    let now = time::db(&time::now());
    let deleted = state.status == ServerStatus::Deleted;
    tx.execute(
        "UPDATE servers SET status = ?2, task = ?3, progress = ?4, updated_at = ?5,
            deleted_at = CASE WHEN ?6 THEN COALESCE(deleted_at, ?5) ELSE deleted_at END
         WHERE id = ?1",
        params![
            id,
            state.status.as_str(),
            state.task.map(task_str),
            i64::from(state.progress),
            now,
            deleted
        ],
    )
    .map_err(map_err)?;
    if deleted {
        tx.execute("DELETE FROM nics WHERE server_id = ?1", [id])
            .map_err(map_err)?;
    }
    if let Some(d) = diag {
        add_diagnostic(tx, id, d)?;
    }
    Ok(())
}

/// The state of one server, read inside a write transaction.
pub fn state(tx: &Transaction<'_>, id: i64) -> StoreResult<Option<ServerState>> {
    tx.query_row(
        "SELECT status, task, progress FROM servers WHERE id = ?1",
        [id],
        |r| {
            let status: String = r.get(0)?;
            let task: Option<String> = r.get(1)?;
            Ok(ServerState {
                status: status.parse().unwrap_or(ServerStatus::Unknown),
                task: task.as_deref().and_then(task_from),
                progress: r.get::<_, i64>(2)?.clamp(0, 100) as u8,
            })
        },
    )
    .optional()
    .map_err(map_err)
}

pub fn add_diagnostic(tx: &Transaction<'_>, id: i64, d: &Diagnostic) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO server_diagnostics (server_id, level, created, source, source_date,
            message, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            level_str(d.level),
            time::db(&d.created),
            d.source,
            time::db(&d.source_date),
            d.message,
            d.details
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

pub fn diagnostics(c: &Connection, id: i64) -> StoreResult<Vec<Diagnostic>> {
    let mut st = c
        .prepare_cached(
            "SELECT level, created, source, source_date, message, details
             FROM server_diagnostics WHERE server_id = ?1 ORDER BY id DESC LIMIT 100",
        )
        .map_err(map_err)?;
    let rows = st
        .query_map([id], |r| {
            Ok(Diagnostic {
                level: level_from(&r.get::<_, String>(0)?),
                created: time::parse_db(&r.get::<_, String>(1)?).unwrap_or_default(),
                source: r.get(2)?,
                source_date: time::parse_db(&r.get::<_, String>(3)?).unwrap_or_default(),
                message: r.get(4)?,
                details: r.get(5)?,
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn set_suspended(tx: &Transaction<'_>, id: i64, suspended: bool) -> StoreResult<bool> {
    let n = tx
        .execute(
            "UPDATE servers SET suspended = ?2, updated_at = ?3 WHERE id = ?1 AND deleted_at IS NULL",
            params![id, suspended, time::db(&time::now())],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

pub fn reassign(tx: &Transaction<'_>, id: i64, project: &str) -> StoreResult<bool> {
    let n = tx
        .execute(
            "UPDATE servers SET project_id = ?2, updated_at = ?3
             WHERE id = ?1 AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM projects WHERE id = ?2)",
            params![id, project, time::db(&time::now())],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

/// Sets the firewall profile of one NIC of the server, or of all of them.
pub fn set_firewall(
    tx: &Transaction<'_>,
    id: i64,
    nic: Option<&str>,
    profile: &str,
) -> StoreResult<()> {
    let n = match nic {
        Some(nic) => tx.execute(
            "UPDATE nics SET firewall_profile = ?3 WHERE server_id = ?1 AND id = ?2",
            params![id, nic, profile],
        ),
        None => tx.execute(
            "UPDATE nics SET firewall_profile = ?2 WHERE server_id = ?1",
            params![id, profile],
        ),
    }
    .map_err(map_err)?;
    if n == 0 {
        return Err(StoreError::NotFound(match nic {
            Some(nic) => format!("server {id} has no NIC {nic}"),
            None => format!("server {id} has no NICs"),
        }));
    }
    touch(tx, id)
}

/// Removes servers deleted before `before` (after the polling window).
pub fn purge_deleted(tx: &Transaction<'_>, before: &Timestamp) -> StoreResult<u64> {
    tx.execute(
        "DELETE FROM servers WHERE deleted_at IS NOT NULL AND deleted_at < ?1",
        [time::db(before)],
    )
    .map(|n| n as u64)
    .map_err(map_err)
}

/// Every server not deleted, for the reconciler after a restart.
pub fn live(c: &Connection) -> StoreResult<Vec<Server>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM servers s WHERE s.deleted_at IS NULL ORDER BY s.id"
        ))
        .map_err(map_err)?;
    let rows = st.query_map([], server_from_row).map_err(map_err)?;
    let servers: Vec<Server> = rows.collect::<Result<_, _>>().map_err(map_err)?;
    complete_all(c, servers)
}
