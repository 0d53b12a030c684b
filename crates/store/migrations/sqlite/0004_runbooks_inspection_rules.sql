-- Runbooks (API 1.92) and inspection rules (API 1.96): one JSON document
-- per row, like every other resource.
--
-- A runbook's name is unique because clients name the runbook to run in a
-- provision request instead of giving its UUID; `owner` is a column because
-- lists filter on the project that owns a runbook.
CREATE TABLE runbooks (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    doc   TEXT NOT NULL CHECK (json_valid(doc)),
    uuid  TEXT GENERATED ALWAYS AS (json_extract(doc, '$.uuid')) STORED NOT NULL,
    name  TEXT GENERATED ALWAYS AS (json_extract(doc, '$.name')) STORED NOT NULL,
    owner TEXT GENERATED ALWAYS AS (json_extract(doc, '$.owner')) STORED
);
CREATE UNIQUE INDEX runbooks_uuid ON runbooks (uuid);
CREATE UNIQUE INDEX runbooks_name ON runbooks (name);
CREATE INDEX runbooks_owner ON runbooks (owner);

-- Inspection rules have no names; lists filter on the phase a rule runs in
-- and inspection reads them by priority.
CREATE TABLE inspection_rules (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    doc      TEXT NOT NULL CHECK (json_valid(doc)),
    uuid     TEXT GENERATED ALWAYS AS (json_extract(doc, '$.uuid')) STORED NOT NULL,
    phase    TEXT GENERATED ALWAYS AS (json_extract(doc, '$.phase')) STORED NOT NULL,
    priority INTEGER GENERATED ALWAYS AS (json_extract(doc, '$.priority')) STORED NOT NULL
);
CREATE UNIQUE INDEX inspection_rules_uuid ON inspection_rules (uuid);
CREATE INDEX inspection_rules_phase_priority ON inspection_rules (phase, priority);
