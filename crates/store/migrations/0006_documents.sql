-- Issue 11: one table for objects of every kind, and one index for their claims.
--
-- `resources` is rebuilt (SQLite cannot drop a CHECK or rename a referenced column in
-- place; https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
-- Schema Changes"): the kind list of the first migration goes, so a new kind needs no
-- migration; `network_id` becomes `owner_id` (the object this one lives in, of any
-- kind); `plural` and `on_owner_delete` record, per row, what the owner's delete must
-- know about its children without knowing their kinds (the name the 409 uses for them,
-- and whether they block the delete or go down with it).
--
-- `resource_index` holds the claims objects make in shared spaces (a network's address
-- range per project, a public endpoint address per installation) and replaces the
-- range columns of 0003 and the `public_ips` table of 0004. A claim is held from the
-- write that makes it until its object is `deleted`.
--
-- sqlx runs this file in one transaction, where `PRAGMA foreign_keys` cannot change;
-- instead the foreign keys are checked at commit, once the rebuilt table has taken the
-- old one's name.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE resources_rebuilt (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    plural          TEXT NOT NULL,
    project_id      TEXT NOT NULL REFERENCES projects (id),
    owner_id        TEXT NULL REFERENCES resources_rebuilt (id),
    on_owner_delete TEXT NULL CHECK (on_owner_delete IN ('block', 'cascade')),
    status          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- rowid is kept: it is the order rows were written in.
INSERT INTO resources_rebuilt
    (rowid, id, kind, plural, project_id, owner_id, on_owner_delete, status, version, body,
     created_at)
SELECT rowid, id, kind, kind || 's', project_id, network_id,
       CASE kind WHEN 'peering' THEN 'cascade' WHEN 'cluster' THEN 'block' END,
       status, version, body, created_at
FROM resources ORDER BY rowid;

-- Kept aside until the claims are copied below.
CREATE TEMP TABLE legacy_ranges AS
SELECT id, project_id, range_start, range_end, json_extract(body, '$.cidr_block') AS cidr
FROM resources WHERE kind = 'network' AND status != 'deleted';

DROP INDEX resources_by_range;
DROP INDEX resources_by_network;
DROP INDEX resources_by_project;
DROP TABLE resources;
ALTER TABLE resources_rebuilt RENAME TO resources;
CREATE INDEX resources_by_project ON resources (kind, project_id, id);
CREATE INDEX resources_by_owner ON resources (owner_id, kind);

CREATE TABLE resource_index (
    index_name  TEXT NOT NULL,
    -- Where claims collide: a project id, or '' for the whole installation.
    scope       TEXT NOT NULL,
    -- First and last value claimed, inclusive (IPv4 addresses as integers).
    range_start INTEGER NOT NULL,
    range_end   INTEGER NOT NULL,
    resource_id TEXT NOT NULL REFERENCES resources (id),
    PRIMARY KEY (index_name, scope, range_start, range_end, resource_id)
) WITHOUT ROWID;
CREATE INDEX resource_index_by_resource ON resource_index (resource_id);

-- Networks: the range columns of 0003, or, for rows stored before 0003 filled them,
-- the range of the stored CIDR (`a.b.c.d/len`, never with host bits).
WITH cidr AS (
    SELECT id, project_id, range_start, range_end,
           substr(cidr, 1, instr(cidr, '/') - 1) AS ip,
           CAST(substr(cidr, instr(cidr, '/') + 1) AS INTEGER) AS len
    FROM legacy_ranges
),
octets AS (
    SELECT id, project_id, range_start, range_end, len, ip AS o1,
           substr(ip, instr(ip, '.') + 1) AS r1
    FROM cidr
),
octets2 AS (
    SELECT *, substr(r1, instr(r1, '.') + 1) AS r2 FROM octets
),
octets3 AS (
    SELECT *, substr(r2, instr(r2, '.') + 1) AS r3 FROM octets2
),
parsed AS (
    SELECT id, project_id, range_start, range_end, len,
           CAST(o1 AS INTEGER) * 16777216 + CAST(r1 AS INTEGER) * 65536
             + CAST(r2 AS INTEGER) * 256 + CAST(r3 AS INTEGER) AS first
    FROM octets3
)
INSERT INTO resource_index (index_name, scope, range_start, range_end, resource_id)
SELECT 'network_range', project_id,
       COALESCE(range_start, first),
       COALESCE(range_end, first + (1 << (32 - len)) - 1),
       id
FROM parsed;

-- Public endpoint addresses: the rows of 0004's table, as integers.
WITH octets AS (
    SELECT cluster_id, ip AS o1, substr(ip, instr(ip, '.') + 1) AS r1 FROM public_ips
),
octets2 AS (
    SELECT *, substr(r1, instr(r1, '.') + 1) AS r2 FROM octets
),
octets3 AS (
    SELECT *, substr(r2, instr(r2, '.') + 1) AS r3 FROM octets2
),
parsed AS (
    SELECT cluster_id,
           CAST(o1 AS INTEGER) * 16777216 + CAST(r1 AS INTEGER) * 65536
             + CAST(r2 AS INTEGER) * 256 + CAST(r3 AS INTEGER) AS ip
    FROM octets3
)
INSERT INTO resource_index (index_name, scope, range_start, range_end, resource_id)
SELECT 'public_ip', '', ip, ip, cluster_id
FROM parsed WHERE cluster_id IN (SELECT id FROM resources);

DROP TABLE public_ips;
DROP TABLE legacy_ranges;
