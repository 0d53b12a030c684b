-- Node history (API 1.78), as in migrations/sqlite/0005: appended in the
-- same transaction as the node change it describes (while that node's row
-- is locked), ordered by `id`, trimmed per node, gone with its node.
CREATE TABLE node_history (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc        JSONB NOT NULL,
    uuid       TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    node_uuid  TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'node_uuid') STORED NOT NULL
               REFERENCES nodes (uuid) ON DELETE CASCADE,
    created_at TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'created_at') STORED,
    severity   TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'severity') STORED,
    event_type TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'event_type') STORED
);
CREATE UNIQUE INDEX node_history_uuid ON node_history (uuid);
CREATE INDEX node_history_node ON node_history (node_uuid, id);
