-- Inspection inventories and firmware components, as in
-- migrations/sqlite/0006: large, read one node at a time, gone with their
-- node.
CREATE TABLE node_inventory (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc  JSONB NOT NULL,
    uuid TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL
         REFERENCES nodes (uuid) ON DELETE CASCADE
);
CREATE UNIQUE INDEX node_inventory_uuid ON node_inventory (uuid);

CREATE TABLE firmware_components (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc       JSONB NOT NULL,
    uuid      TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    node_uuid TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'node_uuid') STORED NOT NULL
              REFERENCES nodes (uuid) ON DELETE CASCADE,
    component TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'component') STORED NOT NULL
);
CREATE UNIQUE INDEX firmware_components_uuid ON firmware_components (uuid);
CREATE UNIQUE INDEX firmware_components_node_uuid_component
    ON firmware_components (node_uuid, component);
