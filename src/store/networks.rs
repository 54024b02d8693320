//! SQL for networks, the NICs that connect servers to them (seen as ports by the Neutron
//! view) and floating IPs.
//!
//! Every allocation runs inside the one write transaction the SQLite driver holds, so
//! reading the used addresses and inserting the new one never interleave with another
//! request: no IPv4 address or MAC is handed out twice, and the unique indexes on `nics`
//! and `floating_ips` back that up.

use std::net::Ipv4Addr;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::servers::{add_nic_with, nic_from_row, touch, used_ipv4};
use super::sqlite::map_err;
use super::{Nic, StoreError, StoreResult};
use crate::domain::address::{MacPrefix, free_ipv4};
use crate::domain::network::NetworkStatus;
use crate::domain::server::ServerStatus;
use crate::domain::time::{self, Timestamp};

/// A network record with the ids of the NICs attached to it.
#[derive(Debug, Clone)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub cidr: Option<String>,
    pub cidr6: Option<String>,
    pub gateway: Option<String>,
    pub gateway6: Option<String>,
    pub dhcp: bool,
    pub public: bool,
    pub status: NetworkStatus,
    /// `None` for the public network, which belongs to the deployment.
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// NIC ids, in the order they were made.
    pub attachments: Vec<String>,
}

impl Network {
    /// Whether `user_id` may see it: the public network, or one of the user's own.
    pub fn visible_to(&self, user_id: &str) -> bool {
        self.public || self.user_id.as_deref() == Some(user_id)
    }
}

#[derive(Debug, Clone)]
pub struct NewNetwork {
    pub name: String,
    pub kind: String,
    pub cidr: Option<String>,
    pub cidr6: Option<String>,
    pub gateway: Option<String>,
    pub gateway6: Option<String>,
    pub dhcp: bool,
    pub user_id: String,
    pub project_id: String,
}

/// Which range of a network a change is about (a Neutron subnet).
#[derive(Debug, Clone)]
pub enum RangeChange {
    V4 {
        cidr: String,
        gateway: Option<String>,
        dhcp: bool,
    },
    V6 {
        cidr6: String,
        gateway6: Option<String>,
    },
}

/// How a delete went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkDelete {
    Deleted,
    /// The NICs still attached (421 networkInUse).
    InUse(Vec<String>),
    NotFound,
}

/// A NIC seen as a Neutron port: with its server's owner and state.
#[derive(Debug, Clone)]
pub struct Port {
    pub nic: Nic,
    /// Empty unless a name was given through the Neutron view.
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub server_status: ServerStatus,
    pub created_at: Timestamp,
}

/// An address of a public network held by a user.
#[derive(Debug, Clone)]
pub struct FloatingIp {
    pub id: i64,
    pub network_id: String,
    pub address: String,
    pub user_id: String,
    pub project_id: String,
    pub created_at: Timestamp,
    /// The NIC of the holder's that uses the address, when one does.
    pub port: Option<Nic>,
}

const COLUMNS: &str = "id, name, type, cidr, cidr6, gateway, gateway6, dhcp, public, status, \
    user_id, project_id, created_at, updated_at";

fn ts(s: String) -> Timestamp {
    time::parse_db(&s).unwrap_or_default()
}

fn network_from_row(r: &Row<'_>) -> rusqlite::Result<Network> {
    Ok(Network {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        cidr: r.get(3)?,
        cidr6: r.get(4)?,
        gateway: r.get(5)?,
        gateway6: r.get(6)?,
        dhcp: r.get(7)?,
        public: r.get(8)?,
        status: NetworkStatus::parse(&r.get::<_, String>(9)?),
        user_id: r.get(10)?,
        project_id: r.get(11)?,
        created_at: ts(r.get(12)?),
        updated_at: ts(r.get(13)?),
        attachments: Vec::new(),
    })
}

fn attachments(c: &Connection, id: &str) -> StoreResult<Vec<String>> {
    let mut st = c
        .prepare_cached("SELECT id FROM nics WHERE network_id = ?1 ORDER BY created_at, id")
        .map_err(map_err)?;
    let rows = st
        .query_map([id], |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// A live network with its attachments.
pub fn get(c: &Connection, id: &str) -> StoreResult<Option<Network>> {
    let n = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM networks WHERE id = ?1 AND deleted_at IS NULL"
        ))
        .map_err(map_err)?
        .query_row([id], network_from_row)
        .optional()
        .map_err(map_err)?;
    match n {
        None => Ok(None),
        Some(mut n) => {
            n.attachments = attachments(c, &n.id)?;
            Ok(Some(n))
        }
    }
}

/// The public network and the user's live networks, public first, then oldest first.
pub fn list(c: &Connection, user_id: &str) -> StoreResult<Vec<Network>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM networks WHERE deleted_at IS NULL AND (public = 1 OR user_id = ?1)
             ORDER BY public DESC, CAST(id AS INTEGER), id"
        ))
        .map_err(map_err)?;
    let mut nets: Vec<Network> = st
        .query_map([user_id], network_from_row)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    for n in &mut nets {
        n.attachments = attachments(c, &n.id)?;
    }
    Ok(nets)
}

/// Networks left PENDING (the backend has not made them yet, or a stop came first).
pub fn pending(c: &Connection) -> StoreResult<Vec<Network>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM networks WHERE deleted_at IS NULL AND status = 'PENDING'"
        ))
        .map_err(map_err)?;
    let rows = st.query_map([], network_from_row).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// A PENDING network with the next numeric id; Limit past the user's quota.
pub fn create(tx: &Transaction<'_>, new: &NewNetwork, quota: u32) -> StoreResult<Network> {
    let live: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM networks WHERE user_id = ?1 AND deleted_at IS NULL",
            [&new.user_id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if live >= i64::from(quota) {
        return Err(StoreError::Limit(format!(
            "you already have {live} networks, the most your quota allows ({quota}); delete one first"
        )));
    }
    // Deleted networks keep their rows, so an id is never given twice.
    let id: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(CAST(id AS INTEGER)), 0) + 1 FROM networks",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    let id = id.to_string();
    let now = time::db(&time::now());
    tx.execute(
        "INSERT INTO networks (id, name, type, cidr, cidr6, gateway, gateway6, dhcp, public,
            status, user_id, project_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 'PENDING', ?9, ?10, ?11, ?11)",
        params![
            id,
            new.name,
            new.kind,
            new.cidr,
            new.cidr6,
            new.gateway,
            new.gateway6,
            new.dhcp,
            new.user_id,
            new.project_id,
            now
        ],
    )
    .map_err(map_err)?;
    get(tx, &id)?.ok_or_else(|| StoreError::Internal(format!("network {id} vanished")))
}

pub fn rename(tx: &Transaction<'_>, id: &str, name: &str) -> StoreResult<bool> {
    let n = tx
        .execute(
            "UPDATE networks SET name = ?2, updated_at = ?3
             WHERE id = ?1 AND deleted_at IS NULL AND public = 0",
            params![id, name, time::db(&time::now())],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

/// Gives a network the IPv4 or IPv6 range it lacks (Conflict when it has one already).
pub fn add_range(tx: &Transaction<'_>, id: &str, change: &RangeChange) -> StoreResult<Network> {
    let now = time::db(&time::now());
    let n = match change {
        RangeChange::V4 {
            cidr,
            gateway,
            dhcp,
        } => tx.execute(
            "UPDATE networks SET cidr = ?2, gateway = ?3, dhcp = ?4, updated_at = ?5
             WHERE id = ?1 AND deleted_at IS NULL AND public = 0 AND cidr IS NULL",
            params![id, cidr, gateway, dhcp, now],
        ),
        RangeChange::V6 { cidr6, gateway6 } => tx.execute(
            "UPDATE networks SET cidr6 = ?2, gateway6 = ?3, updated_at = ?4
             WHERE id = ?1 AND deleted_at IS NULL AND public = 0 AND cidr6 IS NULL",
            params![id, cidr6, gateway6, now],
        ),
    }
    .map_err(map_err)?;
    if n == 0 {
        let version = match change {
            RangeChange::V4 { .. } => 4,
            RangeChange::V6 { .. } => 6,
        };
        return Err(StoreError::Conflict(format!(
            "network {id} already has an IPv{version} subnet: a network has at most one of each"
        )));
    }
    get(tx, id)?.ok_or_else(|| StoreError::NotFound(format!("network {id} not found")))
}

/// Moves a live network from `from` to `to`; false when it is not in `from`.
pub fn set_status(
    tx: &Transaction<'_>,
    id: &str,
    from: NetworkStatus,
    to: NetworkStatus,
) -> StoreResult<bool> {
    let n = tx
        .execute(
            "UPDATE networks SET status = ?3, updated_at = ?4
             WHERE id = ?1 AND status = ?2 AND deleted_at IS NULL",
            params![id, from.as_str(), to.as_str(), time::db(&time::now())],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

/// Deletes a network no NIC is attached to; the record stays (deleted) so its id is never
/// reused, and it leaves every listing.
pub fn delete(tx: &Transaction<'_>, id: &str) -> StoreResult<NetworkDelete> {
    let live: Option<bool> = tx
        .query_row(
            "SELECT public FROM networks WHERE id = ?1 AND deleted_at IS NULL",
            [id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?;
    if live.is_none() {
        return Ok(NetworkDelete::NotFound);
    }
    let nics = attachments(tx, id)?;
    if !nics.is_empty() {
        return Ok(NetworkDelete::InUse(nics));
    }
    tx.execute("DELETE FROM floating_ips WHERE network_id = ?1", [id])
        .map_err(map_err)?;
    tx.execute(
        "UPDATE networks SET status = 'DELETED', deleted_at = ?2, updated_at = ?2 WHERE id = ?1",
        params![id, time::db(&time::now())],
    )
    .map_err(map_err)?;
    Ok(NetworkDelete::Deleted)
}

/// A new NIC between a live server and a live network (NotFound when either is gone by
/// now: a concurrent delete may have come first).
pub fn connect(
    tx: &Transaction<'_>,
    server_id: i64,
    network_id: &str,
    fixed_ip: Option<Ipv4Addr>,
    prefix: &MacPrefix,
    name: Option<&str>,
) -> StoreResult<Nic> {
    let live: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM servers WHERE id = ?1 AND deleted_at IS NULL
                AND status != 'DELETED')",
            [server_id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if !live {
        return Err(StoreError::NotFound(format!(
            "server {server_id} not found"
        )));
    }
    let nic = add_nic_with(tx, server_id, network_id, prefix, fixed_ip, false)?;
    if let Some(name) = name {
        set_port_name(tx, &nic.id, name)?;
    }
    touch(tx, server_id)?;
    tx.execute(
        "UPDATE networks SET updated_at = ?2 WHERE id = ?1",
        params![network_id, time::db(&time::now())],
    )
    .map_err(map_err)?;
    Ok(nic)
}

/// Attaches a floating IP to a server: a NIC on the floating IP's (public) network with
/// that address. The server must be live and its owner the address's holder (NotFound
/// otherwise); an address another NIC uses is a Conflict.
pub fn attach_floating(
    tx: &Transaction<'_>,
    server_id: i64,
    floating_id: i64,
    prefix: &MacPrefix,
) -> StoreResult<Nic> {
    let f = floating(tx, floating_id)?
        .ok_or_else(|| StoreError::NotFound(format!("floating IP {floating_id} not found")))?;
    let owner: Option<String> = tx
        .query_row(
            "SELECT user_id FROM servers WHERE id = ?1 AND deleted_at IS NULL
                AND status != 'DELETED'",
            [server_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?;
    if owner.as_deref() != Some(f.user_id.as_str()) {
        return Err(StoreError::NotFound(format!(
            "server {server_id} not found"
        )));
    }
    if let Some(port) = f.port {
        return Err(StoreError::Conflict(format!(
            "floating IP {} is already attached, as port {}",
            f.address, port.id
        )));
    }
    let ip: Ipv4Addr = f
        .address
        .parse()
        .map_err(|_| StoreError::Internal(format!("floating IP {floating_id} is malformed")))?;
    let nic = add_nic_with(tx, server_id, &f.network_id, prefix, Some(ip), true)?;
    touch(tx, server_id)?;
    Ok(nic)
}

/// Removes NICs between a server and a network: the one named, or all of them. Their
/// addresses are free again at once. Returns what was removed.
pub fn disconnect(
    tx: &Transaction<'_>,
    server_id: i64,
    network_id: &str,
    nic: Option<&str>,
) -> StoreResult<Vec<Nic>> {
    let mut st = tx
        .prepare_cached(
            "SELECT id, server_id, network_id, mac, ipv4, ipv6, firewall_profile FROM nics
             WHERE server_id = ?1 AND network_id = ?2 AND (?3 IS NULL OR id = ?3)
             ORDER BY ordinal",
        )
        .map_err(map_err)?;
    let gone: Vec<Nic> = st
        .query_map(params![server_id, network_id, nic], nic_from_row)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    if gone.is_empty() {
        return Err(StoreError::NotFound(match nic {
            Some(nic) => format!("server {server_id} has no NIC {nic} on network {network_id}"),
            None => format!("server {server_id} is not connected to network {network_id}"),
        }));
    }
    for n in &gone {
        tx.execute("DELETE FROM nics WHERE id = ?1", [&n.id])
            .map_err(map_err)?;
    }
    touch(tx, server_id)?;
    tx.execute(
        "UPDATE networks SET updated_at = ?2 WHERE id = ?1",
        params![network_id, time::db(&time::now())],
    )
    .map_err(map_err)?;
    Ok(gone)
}

const PORT_COLUMNS: &str = "n.id, n.server_id, n.network_id, n.mac, n.ipv4, n.ipv6, \
    n.firewall_profile, s.user_id, s.project_id, s.status, n.created_at, \
    COALESCE(pn.name, '')";
const PORT_FROM: &str = "nics n JOIN servers s ON s.id = n.server_id \
    LEFT JOIN port_names pn ON pn.nic_id = n.id";

fn port_from_row(r: &Row<'_>) -> rusqlite::Result<Port> {
    Ok(Port {
        nic: nic_from_row(r)?,
        user_id: r.get(7)?,
        project_id: r.get(8)?,
        server_status: r
            .get::<_, String>(9)?
            .parse()
            .unwrap_or(ServerStatus::Unknown),
        created_at: ts(r.get(10)?),
        name: r.get(11)?,
    })
}

/// Names a port (an empty name removes it); false when there is no such NIC.
pub fn set_port_name(tx: &Transaction<'_>, nic_id: &str, name: &str) -> StoreResult<bool> {
    let exists: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM nics WHERE id = ?1)",
            [nic_id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if !exists {
        return Ok(false);
    }
    if name.is_empty() {
        tx.execute("DELETE FROM port_names WHERE nic_id = ?1", [nic_id])
    } else {
        tx.execute(
            "INSERT INTO port_names (nic_id, name) VALUES (?1, ?2)
             ON CONFLICT(nic_id) DO UPDATE SET name = ?2",
            params![nic_id, name],
        )
    }
    .map_err(map_err)?;
    Ok(true)
}

/// The NICs of the user's servers.
pub fn ports(c: &Connection, user_id: &str) -> StoreResult<Vec<Port>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {PORT_COLUMNS} FROM {PORT_FROM}
             WHERE s.user_id = ?1 ORDER BY n.server_id, n.ordinal"
        ))
        .map_err(map_err)?;
    let rows = st.query_map([user_id], port_from_row).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn port(c: &Connection, id: &str) -> StoreResult<Option<Port>> {
    c.prepare_cached(&format!(
        "SELECT {PORT_COLUMNS} FROM {PORT_FROM} WHERE n.id = ?1"
    ))
    .map_err(map_err)?
    .query_row([id], port_from_row)
    .optional()
    .map_err(map_err)
}

fn floating_from_row(r: &Row<'_>) -> rusqlite::Result<FloatingIp> {
    Ok(FloatingIp {
        id: r.get(0)?,
        network_id: r.get(1)?,
        address: r.get(2)?,
        user_id: r.get(3)?,
        project_id: r.get(4)?,
        created_at: ts(r.get(5)?),
        port: None,
    })
}

/// The holder's NIC that uses the address.
fn floating_port(c: &Connection, f: &mut FloatingIp) -> StoreResult<()> {
    f.port = c
        .prepare_cached(
            "SELECT n.id, n.server_id, n.network_id, n.mac, n.ipv4, n.ipv6, n.firewall_profile
             FROM nics n JOIN servers s ON s.id = n.server_id
             WHERE n.network_id = ?1 AND n.ipv4 = ?2 AND s.user_id = ?3",
        )
        .map_err(map_err)?
        .query_row(params![f.network_id, f.address, f.user_id], nic_from_row)
        .optional()
        .map_err(map_err)?;
    Ok(())
}

const FLOATING_COLUMNS: &str = "id, network_id, address, user_id, project_id, created_at";

/// Reserves an address of a public network for the user: the one asked for, when it is a
/// free host address, or the first free one; Limit past the quota or when none is left.
pub fn create_floating(
    tx: &Transaction<'_>,
    user_id: &str,
    project_id: &str,
    network_id: &str,
    address: Option<Ipv4Addr>,
    quota: u32,
) -> StoreResult<FloatingIp> {
    let held: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM floating_ips WHERE user_id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if held >= i64::from(quota) {
        return Err(StoreError::Limit(format!(
            "you already hold {held} floating IPs, the most your quota allows ({quota}); release one first"
        )));
    }
    let (cidr, gateway): (Option<String>, Option<String>) = tx
        .query_row(
            "SELECT cidr, gateway FROM networks WHERE id = ?1 AND public = 1 AND deleted_at IS NULL",
            [network_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(map_err)?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "public network {network_id} not found: floating IPs come from public networks"
            ))
        })?;
    let net = cidr
        .as_deref()
        .and_then(|c| c.parse::<ipnet::Ipv4Net>().ok())
        .ok_or_else(|| StoreError::Conflict(format!("network {network_id} has no IPv4 range")))?;
    let gw: Option<Ipv4Addr> = gateway.as_deref().and_then(|g| g.parse().ok());
    let used = used_ipv4(tx, network_id)?;
    let ip = match address {
        Some(ip) => {
            if !net.contains(&ip) || ip == net.network() || ip == net.broadcast() || Some(ip) == gw
            {
                return Err(StoreError::Conflict(format!(
                    "{ip} is not an address of network {network_id}'s pool ({net})"
                )));
            }
            if used.contains(&ip) {
                return Err(StoreError::Conflict(format!(
                    "{ip} is already in use on network {network_id}"
                )));
            }
            ip
        }
        None => free_ipv4(net, gw, &used).ok_or_else(|| {
            StoreError::Limit(format!(
                "network {network_id} has no free address left in {net}"
            ))
        })?,
    };
    tx.execute(
        "INSERT INTO floating_ips (network_id, address, user_id, project_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            network_id,
            ip.to_string(),
            user_id,
            project_id,
            time::db(&time::now())
        ],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
    floating(tx, id)?.ok_or_else(|| StoreError::Internal(format!("floating IP {id} vanished")))
}

pub fn floating(c: &Connection, id: i64) -> StoreResult<Option<FloatingIp>> {
    let f = c
        .prepare_cached(&format!(
            "SELECT {FLOATING_COLUMNS} FROM floating_ips WHERE id = ?1"
        ))
        .map_err(map_err)?
        .query_row([id], floating_from_row)
        .optional()
        .map_err(map_err)?;
    match f {
        None => Ok(None),
        Some(mut f) => {
            floating_port(c, &mut f)?;
            Ok(Some(f))
        }
    }
}

pub fn floatings(c: &Connection, user_id: &str) -> StoreResult<Vec<FloatingIp>> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT {FLOATING_COLUMNS} FROM floating_ips WHERE user_id = ?1 ORDER BY id"
        ))
        .map_err(map_err)?;
    let mut list: Vec<FloatingIp> = st
        .query_map([user_id], floating_from_row)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    for f in &mut list {
        floating_port(c, f)?;
    }
    Ok(list)
}

/// Releases a floating IP that no NIC uses (Conflict while one does).
pub fn delete_floating(tx: &Transaction<'_>, id: i64) -> StoreResult<bool> {
    let Some(f) = floating(tx, id)? else {
        return Ok(false);
    };
    if let Some(port) = f.port {
        return Err(StoreError::Conflict(format!(
            "floating IP {} is in use by port {}: disconnect it first",
            f.address, port.id
        )));
    }
    tx.execute("DELETE FROM floating_ips WHERE id = ?1", [id])
        .map_err(map_err)?;
    Ok(true)
}
