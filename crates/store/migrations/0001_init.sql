-- Isthmus state. Networks, peerings and clusters share one `resources` table: the full
-- resource is the JSON `body`; the columns beside it exist to index and filter.
-- Deleted resources stay as tombstones (status 'deleted').

CREATE TABLE projects (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE resources (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('network', 'peering', 'cluster')),
    project_id TEXT NOT NULL REFERENCES projects (id),
    network_id TEXT NULL REFERENCES resources (id),
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX resources_by_project ON resources (kind, project_id, id);
CREATE INDEX resources_by_network ON resources (network_id, kind);

-- The audit log: append-only, ordered by seq.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    TEXT NULL,
    time          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    before        TEXT NULL,
    after         TEXT NULL
);
CREATE INDEX events_by_project ON events (project_id, seq);

-- API tokens: only the hash of the secret is stored.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    superuser   INTEGER NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE memberships (
    project_id TEXT NOT NULL REFERENCES projects (id),
    token_id   TEXT NOT NULL REFERENCES tokens (id),
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    PRIMARY KEY (project_id, token_id)
);
CREATE INDEX memberships_by_token ON memberships (token_id);

-- Idempotency-Key records of creates, written in the create's own transaction.
CREATE TABLE idempotency (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
