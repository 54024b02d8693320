-- Metadata definitions catalog (Glance's /v2/metadefs). A namespace owns its resource type
-- associations and its items — property definitions, objects and tags — which go with it
-- when it is deleted or follow it when it is renamed. An item's body is JSON: a property's
-- schema fragment, an object's description/required/properties, nothing for a tag.
CREATE TABLE metadef_namespaces (
    namespace    TEXT PRIMARY KEY,
    display_name TEXT,
    description  TEXT,
    visibility   TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    protected    INTEGER NOT NULL DEFAULT 0,
    owner        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX metadef_namespaces_owner ON metadef_namespaces(owner);

CREATE TABLE metadef_resource_types (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- The standard resource types exist from the first start.
INSERT INTO metadef_resource_types (name, created_at, updated_at)
SELECT name, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM (SELECT 'OS::Glance::Image' AS name UNION ALL SELECT 'OS::Cinder::Volume'
      UNION ALL SELECT 'OS::Nova::Flavor' UNION ALL SELECT 'OS::Nova::Aggregate'
      UNION ALL SELECT 'OS::Nova::Server' UNION ALL SELECT 'OS::Nova::Instance');

CREATE TABLE metadef_associations (
    namespace         TEXT NOT NULL REFERENCES metadef_namespaces(namespace)
                          ON DELETE CASCADE ON UPDATE CASCADE,
    resource_type     TEXT NOT NULL REFERENCES metadef_resource_types(name),
    prefix            TEXT,
    properties_target TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (namespace, resource_type)
);
CREATE INDEX metadef_associations_type ON metadef_associations(resource_type);

CREATE TABLE metadef_items (
    namespace  TEXT NOT NULL REFERENCES metadef_namespaces(namespace)
                   ON DELETE CASCADE ON UPDATE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('property', 'object', 'tag')),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, kind, name)
);
