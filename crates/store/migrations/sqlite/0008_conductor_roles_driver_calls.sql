-- Split processes; see migrations/postgres/0008. A SQLite database serves
-- one process (`ferrite serve`), which never uses driver_calls; the table
-- exists so both backends keep one schema and one migration history.
ALTER TABLE conductors ADD COLUMN roles TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(roles));

CREATE TABLE driver_calls (
    id         TEXT PRIMARY KEY NOT NULL,
    node_uuid  TEXT NOT NULL,
    conductor  TEXT NOT NULL,
    call       TEXT NOT NULL CHECK (json_valid(call)),
    state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done')),
    result     TEXT CHECK (result IS NULL OR json_valid(result)),
    created_at TEXT NOT NULL,
    deadline   TEXT NOT NULL
);
CREATE INDEX driver_calls_pending ON driver_calls (conductor, deadline) WHERE state = 'pending';
