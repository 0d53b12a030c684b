-- The PostgreSQL schema keeps the SQLite one's shape (migrations/sqlite,
-- same numbers): every resource is one JSON document per row (`doc`, JSONB)
-- and STORED generated columns expose the fields that are unique, filtered,
-- sorted or joined on, so they can carry indexes and foreign keys while the
-- document stays the single source of truth. `id` is the insertion order,
-- the default sort of every list.
--
-- Text columns use the "C" collation: bytewise order and equality, as
-- SQLite's BINARY, so lists sort and names collide the same on both
-- backends whatever the database's locale.

CREATE TABLE chassis (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc  JSONB NOT NULL,
    uuid TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL
);
CREATE UNIQUE INDEX chassis_uuid ON chassis (uuid);

CREATE TABLE nodes (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc             JSONB NOT NULL,
    uuid            TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    name            TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED,
    instance_uuid   TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'instance_uuid') STORED,
    provision_state TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'provision_state') STORED,
    driver          TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'driver') STORED,
    chassis_uuid    TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'chassis_uuid') STORED,
    reservation     TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'reservation') STORED,
    conductor_group TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'conductor_group') STORED,
    resource_class  TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'resource_class') STORED,
    owner           TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'owner') STORED,
    lessee          TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'lessee') STORED,
    maintenance     BOOLEAN GENERATED ALWAYS AS ((doc->>'maintenance')::boolean) STORED,
    has_intent      BOOLEAN GENERATED ALWAYS AS ((doc->>'intent') IS NOT NULL) STORED
);
CREATE UNIQUE INDEX nodes_uuid ON nodes (uuid);
CREATE UNIQUE INDEX nodes_name ON nodes (name);
CREATE UNIQUE INDEX nodes_instance_uuid ON nodes (instance_uuid);
CREATE INDEX nodes_provision_state ON nodes (provision_state);
CREATE INDEX nodes_driver ON nodes (driver);
CREATE INDEX nodes_chassis_uuid ON nodes (chassis_uuid);
CREATE INDEX nodes_reservation ON nodes (reservation);
CREATE INDEX nodes_conductor_group ON nodes (conductor_group);
CREATE INDEX nodes_resource_class ON nodes (resource_class);
CREATE INDEX nodes_owner ON nodes (owner);
CREATE INDEX nodes_lessee ON nodes (lessee);
CREATE INDEX nodes_maintenance ON nodes (maintenance);
-- The conductor's sweep for pending intents reads only the nodes that
-- have one and no reservation: a partial index holds exactly those.
CREATE INDEX nodes_pending_intent ON nodes (id) WHERE has_intent AND reservation IS NULL;
ALTER TABLE nodes ADD CONSTRAINT nodes_chassis_uuid_fkey
    FOREIGN KEY (chassis_uuid) REFERENCES chassis (uuid);

-- A node's ports go with it: deleting the node deletes them in the same
-- statement, and a port can never point at a node that does not exist.
-- The API checks `portgroup_uuid` itself, so it carries no foreign key.
CREATE TABLE ports (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc            JSONB NOT NULL,
    uuid           TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    address        TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'address') STORED,
    name           TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED,
    node_uuid      TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'node_uuid') STORED NOT NULL
                   REFERENCES nodes (uuid) ON DELETE CASCADE,
    portgroup_uuid TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'portgroup_uuid') STORED
);
CREATE UNIQUE INDEX ports_uuid ON ports (uuid);
CREATE UNIQUE INDEX ports_address ON ports (address);
CREATE UNIQUE INDEX ports_name ON ports (name);
CREATE INDEX ports_node_uuid ON ports (node_uuid);
CREATE INDEX ports_portgroup_uuid ON ports (portgroup_uuid);

CREATE TABLE portgroups (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc       JSONB NOT NULL,
    uuid      TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    name      TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED,
    address   TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'address') STORED,
    node_uuid TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'node_uuid') STORED NOT NULL
              REFERENCES nodes (uuid) ON DELETE CASCADE
);
CREATE UNIQUE INDEX portgroups_uuid ON portgroups (uuid);
CREATE UNIQUE INDEX portgroups_name ON portgroups (name);
CREATE UNIQUE INDEX portgroups_address ON portgroups (address);
CREATE INDEX portgroups_node_uuid ON portgroups (node_uuid);

-- A unique index spanning two columns is named after the last one, which is
-- how a collision on it is explained to the client.
CREATE TABLE volume_connectors (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc          JSONB NOT NULL,
    uuid         TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    node_uuid    TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'node_uuid') STORED NOT NULL
                 REFERENCES nodes (uuid) ON DELETE CASCADE,
    type         TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'type') STORED,
    connector_id TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'connector_id') STORED
);
CREATE UNIQUE INDEX volume_connectors_uuid ON volume_connectors (uuid);
CREATE UNIQUE INDEX volume_connectors_type_connector_id
    ON volume_connectors (type, connector_id);
CREATE INDEX volume_connectors_node_uuid ON volume_connectors (node_uuid);

CREATE TABLE volume_targets (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc        JSONB NOT NULL,
    uuid       TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    node_uuid  TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'node_uuid') STORED NOT NULL
               REFERENCES nodes (uuid) ON DELETE CASCADE,
    boot_index INTEGER GENERATED ALWAYS AS ((doc->>'boot_index')::integer) STORED,
    volume_id  TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'volume_id') STORED
);
CREATE UNIQUE INDEX volume_targets_uuid ON volume_targets (uuid);
CREATE UNIQUE INDEX volume_targets_node_uuid_boot_index ON volume_targets (node_uuid, boot_index);
CREATE INDEX volume_targets_volume_id ON volume_targets (volume_id);

-- Conductors are few and fixed in shape, so they get plain typed columns.
CREATE TABLE conductors (
    hostname        TEXT COLLATE "C" PRIMARY KEY,
    conductor_group TEXT COLLATE "C" NOT NULL DEFAULT '',
    drivers         JSONB NOT NULL DEFAULT '[]',
    online          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ
);
CREATE INDEX conductors_conductor_group ON conductors (conductor_group);
