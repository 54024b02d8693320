-- User networks, floating IPs on public networks, and NIC ordinals that are never reused
-- (a port id names one connection for good, even after a disconnect).
ALTER TABLE servers ADD COLUMN next_nic INTEGER NOT NULL DEFAULT 0;
UPDATE servers SET next_nic =
    (SELECT COALESCE(MAX(ordinal) + 1, 0) FROM nics WHERE nics.server_id = servers.id);

CREATE INDEX networks_user ON networks(user_id, deleted_at);
CREATE INDEX nics_network ON nics(network_id);

-- An address of a public network held by a user; no NIC may take it meanwhile, except
-- one the holder connects with it.
CREATE TABLE floating_ips (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    network_id TEXT NOT NULL REFERENCES networks(id),
    address    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    project_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX floating_ips_address ON floating_ips(network_id, address);
CREATE INDEX floating_ips_user ON floating_ips(user_id);

-- The names users give ports (NICs) through the Neutron view; most NICs have none.
CREATE TABLE port_names (
    nic_id TEXT PRIMARY KEY REFERENCES nics(id) ON DELETE CASCADE,
    name   TEXT NOT NULL
);
