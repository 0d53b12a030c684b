-- The change feed, as in migrations/sqlite/0007: every change to a node,
-- port, portgroup, allocation or deploy template, appended by the store in
-- the change's own transaction (see `postgres::events`).
--
-- `seq` is not a sequence: concurrent writers would draw numbers in one
-- order and commit in another, and a reader that has seen seq N could
-- later find N-1 appear behind it. Each appending transaction instead
-- takes the next numbers from the one row of `event_head`, whose row lock
-- it holds until it commits, so events become visible in `seq` order. The
-- row also keeps the head when every event has been trimmed, so a seq is
-- never reused.
CREATE TABLE events (
    seq      BIGINT PRIMARY KEY,
    time     TIMESTAMPTZ NOT NULL,
    type     TEXT COLLATE "C" NOT NULL,
    resource TEXT COLLATE "C" NOT NULL,
    uuid     TEXT COLLATE "C" NOT NULL,
    data     JSONB NOT NULL
);
-- Age-based retention deletes by time.
CREATE INDEX events_time ON events (time);

CREATE TABLE event_head (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq BIGINT NOT NULL
);
INSERT INTO event_head (one, seq) VALUES (TRUE, 0);

-- Webhook subscriptions, one JSON document per row like the resources;
-- the delivery cursor and lease live in the document.
CREATE TABLE webhooks (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc  JSONB NOT NULL,
    uuid TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL
);
CREATE UNIQUE INDEX webhooks_uuid ON webhooks (uuid);
