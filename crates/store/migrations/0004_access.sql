-- Issue 5: who gets in.

-- A lab VPC may sit behind another one's gateway (a VPN-client range, a spoke of a hub).
ALTER TABLE lab_vpcs ADD COLUMN behind TEXT NULL;

-- The lab's internet: hosts with public-looking addresses, outside every lab VPC.
CREATE TABLE lab_internet_hosts (
    name       TEXT PRIMARY KEY NOT NULL,
    ip         TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- Public endpoint addresses, unique across the installation (not per project): the key
-- makes a second claim of an address fail even if a rule were ever to hand it out twice.
-- Written in the same transaction as the cluster that holds the address.
CREATE TABLE public_ips (
    ip         TEXT PRIMARY KEY NOT NULL,
    cluster_id TEXT NOT NULL UNIQUE
);
