-- Isthmus state on PostgreSQL: the schema SQLite reaches after its migrations 0001-0007,
-- in one step (a PostgreSQL installation starts here; `isthmus store copy` moves an
-- SQLite one over). Columns keep SQLite's representations (ids and RFC 3339 times as
-- text, bodies as the JSON text written), so both backends read and write the same
-- values and a copy is row for row. Text that is ordered or paged on is `COLLATE "C"`:
-- byte order, as SQLite compares, whatever the database's locale.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE projects (
    id         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE resources (
    id              TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    plural          TEXT NOT NULL,
    project_id      TEXT COLLATE "C" NOT NULL REFERENCES projects (id),
    owner_id        TEXT COLLATE "C" NULL REFERENCES resources (id),
    on_owner_delete TEXT NULL CHECK (on_owner_delete IN ('block', 'cascade')),
    status          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    -- A network's place, read from its body by the database itself, for the exclusion
    -- constraint below: NULL for every other kind.
    net_provider    TEXT GENERATED ALWAYS AS
        (CASE WHEN kind = 'network' THEN body::jsonb ->> 'provider' END) STORED,
    net_region      TEXT GENERATED ALWAYS AS
        (CASE WHEN kind = 'network' THEN body::jsonb ->> 'region' END) STORED,
    net_cidr        CIDR GENERATED ALWAYS AS
        (CASE WHEN kind = 'network' THEN (body::jsonb ->> 'cidr_block')::cidr END) STORED,
    -- The backstop of the overlap rule (checked by the store in the write transaction):
    -- two live networks of a project in one provider and region never share an address,
    -- whatever a rule decided. `inet_ops` is named: with btree_gist installed the
    -- default operator class of inet would be btree_gist's, which has no `&&`.
    CONSTRAINT networks_do_not_overlap EXCLUDE USING gist
        (project_id WITH =, net_provider WITH =, net_region WITH =, net_cidr inet_ops WITH &&)
        WHERE (status <> 'deleted')
);
CREATE INDEX resources_by_project ON resources (kind, project_id, id);
CREATE INDEX resources_by_owner ON resources (owner_id, kind);

-- The audit log: append-only. `seq` is taken inside the write transaction, under the
-- store's write lock (`MAX(seq) + 1`), so sequence order is commit order and a reader
-- that follows the log by sequence never skips an event that commits later.
CREATE TABLE events (
    seq           BIGINT PRIMARY KEY,
    project_id    TEXT COLLATE "C" NULL,
    time          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    before        TEXT NULL,
    after         TEXT NULL
);
CREATE INDEX events_by_project ON events (project_id, seq);

CREATE TABLE tokens (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    superuser   BOOLEAN NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT NULL,
    revoked_at  TEXT NULL
);

CREATE TABLE memberships (
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id),
    token_id   TEXT COLLATE "C" NOT NULL REFERENCES tokens (id),
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    PRIMARY KEY (project_id, token_id)
);
CREATE INDEX memberships_by_token ON memberships (token_id);

CREATE TABLE idempotency (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE lab_vpcs (
    name       TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    cidr       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    behind     TEXT NULL
);

CREATE TABLE lab_hosts (
    vpc  TEXT COLLATE "C" NOT NULL REFERENCES lab_vpcs (name) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    ip   TEXT NOT NULL,
    PRIMARY KEY (vpc, name)
);

CREATE TABLE lab_internet_hosts (
    name       TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    ip         TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- Claims in shared spaces (SQLite's 0006/0007): IPv4 values as integers.
CREATE TABLE resource_index (
    index_name  TEXT NOT NULL,
    scope       TEXT NOT NULL,
    range_start BIGINT NOT NULL,
    range_end   BIGINT NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL REFERENCES resources (id),
    is_unique   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (index_name, scope, range_start, range_end, resource_id)
);
CREATE INDEX resource_index_by_resource ON resource_index (resource_id);
CREATE UNIQUE INDEX resource_index_unique
    ON resource_index (index_name, scope, range_start) WHERE is_unique;
