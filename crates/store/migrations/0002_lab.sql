-- Lab VPCs: the customer's side of `local` peerings, kept here so they survive restarts
-- (the server re-creates their namespaces at start). Not project-scoped: they stand for
-- networks outside the platform, on this host.

CREATE TABLE lab_vpcs (
    name       TEXT PRIMARY KEY NOT NULL,
    cidr       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE lab_hosts (
    vpc  TEXT NOT NULL REFERENCES lab_vpcs (name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    ip   TEXT NOT NULL,
    PRIMARY KEY (vpc, name)
);
