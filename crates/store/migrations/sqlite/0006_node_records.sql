-- What a node's hardware reported: its inspection inventory (one row per
-- node, `uuid` is the node's) and its firmware components. Kept apart
-- from the node document, which every list reads, because they are large
-- and read one node at a time. Both go with their node.
CREATE TABLE node_inventory (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    doc  TEXT NOT NULL CHECK (json_valid(doc)),
    uuid TEXT GENERATED ALWAYS AS (json_extract(doc, '$.uuid')) STORED NOT NULL
         REFERENCES nodes (uuid) ON DELETE CASCADE
);
CREATE UNIQUE INDEX node_inventory_uuid ON node_inventory (uuid);

CREATE TABLE firmware_components (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    doc       TEXT NOT NULL CHECK (json_valid(doc)),
    uuid      TEXT GENERATED ALWAYS AS (json_extract(doc, '$.uuid')) STORED NOT NULL,
    node_uuid TEXT GENERATED ALWAYS AS (json_extract(doc, '$.node_uuid')) STORED NOT NULL
              REFERENCES nodes (uuid) ON DELETE CASCADE,
    component TEXT GENERATED ALWAYS AS (json_extract(doc, '$.component')) STORED NOT NULL
);
CREATE UNIQUE INDEX firmware_components_uuid ON firmware_components (uuid);
CREATE UNIQUE INDEX firmware_components_node ON firmware_components (node_uuid, component);
