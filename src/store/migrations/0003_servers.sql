-- Servers, their metadata, NICs and diagnostics, and the networks NICs attach to.
CREATE TABLE networks (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    cidr       TEXT,
    cidr6      TEXT,
    gateway    TEXT,
    gateway6   TEXT,
    dhcp       INTEGER NOT NULL DEFAULT 1,
    public     INTEGER NOT NULL DEFAULT 0,
    status     TEXT NOT NULL,
    user_id    TEXT,
    project_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);

CREATE TABLE servers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    project_id TEXT NOT NULL,
    flavor_id  INTEGER NOT NULL REFERENCES flavors(id),
    image_id   TEXT NOT NULL,
    status     TEXT NOT NULL,
    task       TEXT,
    progress   INTEGER NOT NULL DEFAULT 0,
    suspended  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX servers_user ON servers(user_id, deleted_at);
CREATE INDEX servers_updated ON servers(updated_at);

CREATE TABLE server_metadata (
    server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (server_id, key)
);

-- A NIC's addresses are unique among live NICs of its network; MACs across the deployment.
CREATE TABLE nics (
    id               TEXT PRIMARY KEY,
    server_id        INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    network_id       TEXT NOT NULL REFERENCES networks(id),
    ordinal          INTEGER NOT NULL,
    mac              TEXT NOT NULL UNIQUE,
    ipv4             TEXT,
    ipv6             TEXT,
    firewall_profile TEXT,
    created_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX nics_ipv4 ON nics(network_id, ipv4) WHERE ipv4 IS NOT NULL;
CREATE INDEX nics_server ON nics(server_id);

CREATE TABLE server_diagnostics (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id   INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    level       TEXT NOT NULL,
    created     TEXT NOT NULL,
    source      TEXT NOT NULL,
    source_date TEXT NOT NULL,
    message     TEXT NOT NULL,
    details     TEXT
);
CREATE INDEX server_diagnostics_server ON server_diagnostics(server_id, id);
