-- The change feed: every change to a node, port, portgroup, allocation or
-- deploy template appended by the store in the same transaction as the
-- change (see `sqlite::events`). AUTOINCREMENT makes `seq` strictly
-- increasing and never reused, even after the newest events were trimmed:
-- a consumer's cursor stays meaningful for the life of the database.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    time     TEXT NOT NULL,
    type     TEXT NOT NULL,
    resource TEXT NOT NULL,
    uuid     TEXT NOT NULL,
    data     TEXT NOT NULL CHECK (json_valid(data))
);
-- Age-based retention deletes by time.
CREATE INDEX events_time ON events (time);

-- Webhook subscriptions, one JSON document per row like the resources;
-- the delivery cursor lives in the document, so a restart resumes where
-- the last acknowledged delivery left off.
CREATE TABLE webhooks (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    doc  TEXT NOT NULL CHECK (json_valid(doc)),
    uuid TEXT GENERATED ALWAYS AS (json_extract(doc, '$.uuid')) STORED NOT NULL
);
CREATE UNIQUE INDEX webhooks_uuid ON webhooks (uuid);
