-- Allocations (API 1.52), as in migrations/sqlite/0002: `node_uuid` is
-- unique so the database refuses a second allocation of one node even if
-- two writers raced past every other check.
CREATE TABLE allocations (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc            JSONB NOT NULL,
    uuid           TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    name           TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED,
    node_uuid      TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'node_uuid') STORED
                   REFERENCES nodes (uuid) ON DELETE CASCADE,
    state          TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'state') STORED NOT NULL,
    resource_class TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'resource_class') STORED,
    owner          TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'owner') STORED
);
CREATE UNIQUE INDEX allocations_uuid ON allocations (uuid);
CREATE UNIQUE INDEX allocations_name ON allocations (name);
CREATE UNIQUE INDEX allocations_node_uuid ON allocations (node_uuid);
CREATE INDEX allocations_state ON allocations (state);
CREATE INDEX allocations_resource_class ON allocations (resource_class);
CREATE INDEX allocations_owner ON allocations (owner);
