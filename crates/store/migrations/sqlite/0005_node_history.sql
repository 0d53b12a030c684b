-- Node history (API 1.78): entries appended by the store in the same
-- transaction as the node change they describe (see `write::update`), so
-- a failure is never recorded without its cause or lost after it. They go
-- with their node; `id` orders them and bounds what is kept per node.
CREATE TABLE node_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    doc        TEXT NOT NULL CHECK (json_valid(doc)),
    uuid       TEXT GENERATED ALWAYS AS (json_extract(doc, '$.uuid')) STORED NOT NULL,
    node_uuid  TEXT GENERATED ALWAYS AS (json_extract(doc, '$.node_uuid')) STORED NOT NULL
               REFERENCES nodes (uuid) ON DELETE CASCADE,
    created_at TEXT GENERATED ALWAYS AS (json_extract(doc, '$.created_at')) STORED,
    severity   TEXT GENERATED ALWAYS AS (json_extract(doc, '$.severity')) STORED,
    event_type TEXT GENERATED ALWAYS AS (json_extract(doc, '$.event_type')) STORED
);
CREATE UNIQUE INDEX node_history_uuid ON node_history (uuid);
CREATE INDEX node_history_node ON node_history (node_uuid, id);
