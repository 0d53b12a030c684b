-- Deploy templates (API 1.55), as in migrations/sqlite/0003: the name is a
-- trait and unique.
CREATE TABLE deploy_templates (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc  JSONB NOT NULL,
    uuid TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'uuid') STORED NOT NULL,
    name TEXT COLLATE "C" GENERATED ALWAYS AS (doc->>'name') STORED NOT NULL
);
CREATE UNIQUE INDEX deploy_templates_uuid ON deploy_templates (uuid);
CREATE UNIQUE INDEX deploy_templates_name ON deploy_templates (name);
