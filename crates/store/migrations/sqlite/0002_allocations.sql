-- Allocations (API 1.52): one JSON document per row, like every other
-- resource. `name` and `uuid` are unique because clients address an
-- allocation by either. `node_uuid` is unique too: a node serves at most one
-- allocation, and the database refuses a second one even if two writers
-- raced past every other check. An allocation goes with its node, as in
-- Ironic. `state` is indexed for the conductor's sweep of allocations still
-- `allocating`.
CREATE TABLE allocations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    doc            TEXT NOT NULL CHECK (json_valid(doc)),
    uuid           TEXT GENERATED ALWAYS AS (json_extract(doc, '$.uuid')) STORED NOT NULL,
    name           TEXT GENERATED ALWAYS AS (json_extract(doc, '$.name')) STORED,
    node_uuid      TEXT GENERATED ALWAYS AS (json_extract(doc, '$.node_uuid')) STORED
                   REFERENCES nodes (uuid) ON DELETE CASCADE,
    state          TEXT GENERATED ALWAYS AS (json_extract(doc, '$.state')) STORED NOT NULL,
    resource_class TEXT GENERATED ALWAYS AS (json_extract(doc, '$.resource_class')) STORED,
    owner          TEXT GENERATED ALWAYS AS (json_extract(doc, '$.owner')) STORED
);
CREATE UNIQUE INDEX allocations_uuid ON allocations (uuid);
CREATE UNIQUE INDEX allocations_name ON allocations (name);
CREATE UNIQUE INDEX allocations_node_uuid ON allocations (node_uuid);
CREATE INDEX allocations_state ON allocations (state);
CREATE INDEX allocations_resource_class ON allocations (resource_class);
CREATE INDEX allocations_owner ON allocations (owner);
