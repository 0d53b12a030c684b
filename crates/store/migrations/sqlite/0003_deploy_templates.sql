-- Deploy templates (API 1.55): one JSON document per row, like every other
-- resource. The name is a trait and must be unique, because the conductor
-- picks templates by the traits an instance asks for; it is also how the
-- API finds a template when a client names it instead of giving its UUID.
CREATE TABLE deploy_templates (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    doc  TEXT NOT NULL CHECK (json_valid(doc)),
    uuid TEXT GENERATED ALWAYS AS (json_extract(doc, '$.uuid')) STORED NOT NULL,
    name TEXT GENERATED ALWAYS AS (json_extract(doc, '$.name')) STORED NOT NULL
);
CREATE UNIQUE INDEX deploy_templates_uuid ON deploy_templates (uuid);
CREATE UNIQUE INDEX deploy_templates_name ON deploy_templates (name);
