-- Runbooks (API 1.92) and inspection rules (API 1.96), as in
-- migrations/sqlite/0004.
CREATE TABLE runbooks (
    id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc   JSONB NOT NULL,
    uuid  TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    name  TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED NOT NULL,
    owner TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'owner') STORED
);
CREATE UNIQUE INDEX runbooks_uuid ON runbooks (uuid);
CREATE UNIQUE INDEX runbooks_name ON runbooks (name);
CREATE INDEX runbooks_owner ON runbooks (owner);

CREATE TABLE inspection_rules (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc      JSONB NOT NULL,
    uuid     TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    phase    TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'phase') STORED NOT NULL,
    priority INTEGER GENERATED ALWAYS AS ((doc->>'priority')::integer) STORED NOT NULL
);
CREATE UNIQUE INDEX inspection_rules_uuid ON inspection_rules (uuid);
CREATE INDEX inspection_rules_phase_priority ON inspection_rules (phase, priority);
