-- Image API v2 records. Tags and user properties are JSON columns of the image row, so an
-- image is read and written as one row; SQLite's JSON functions filter on them.
CREATE TABLE images (
    id               TEXT PRIMARY KEY,
    name             TEXT,
    status           TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    protected        INTEGER NOT NULL DEFAULT 0,
    os_hidden        INTEGER NOT NULL DEFAULT 0,
    owner            TEXT,
    disk_format      TEXT,
    container_format TEXT,
    size             INTEGER,
    virtual_size     INTEGER,
    checksum         TEXT,
    os_hash_algo     TEXT,
    os_hash_value    TEXT,
    min_disk         INTEGER NOT NULL DEFAULT 0,
    min_ram          INTEGER NOT NULL DEFAULT 0,
    tags             TEXT NOT NULL DEFAULT '[]',
    properties       TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX images_owner ON images(owner);
CREATE INDEX images_visibility ON images(visibility);
CREATE INDEX images_updated ON images(updated_at);

CREATE TABLE image_members (
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    member_id  TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member_id)
);
CREATE INDEX image_members_member ON image_members(member_id);
