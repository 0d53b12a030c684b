-- Split processes (`ferrite api` + `ferrite conductor`), as in
-- migrations/sqlite/0008:
-- * a conductor's roles (`--roles power,provision`) are stored beside its
--   group, so every process routes a node's work of each kind to a live
--   conductor that takes it; '[]' means every role;
-- * driver calls an API process needs answered now (boot device, validate,
--   vendor passthru…) are rows addressed to the node's owning conductor:
--   the API inserts one and waits, the owner claims it only before its
--   deadline, runs it and writes the result. NOTIFY makes both sides quick;
--   the rows make them correct when a notification is missed.
ALTER TABLE conductors ADD COLUMN roles JSONB NOT NULL DEFAULT '[]';

CREATE TABLE driver_calls (
    id         TEXT COLLATE "C" PRIMARY KEY,
    node_uuid  TEXT COLLATE "C" NOT NULL,
    conductor  TEXT COLLATE "C" NOT NULL,
    call       JSONB NOT NULL,
    state      TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'running', 'done')),
    result     JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    deadline   TIMESTAMPTZ NOT NULL
);
CREATE INDEX driver_calls_pending ON driver_calls (conductor, deadline) WHERE state = 'pending';
