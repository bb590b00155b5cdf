-- A network's address range as integers, so the overlap rule reads only the networks
-- that can collide with a new CIDR instead of every network of the project. Rows written
-- before this migration are filled in by the store when it opens (SQL cannot parse CIDRs).
ALTER TABLE resources ADD COLUMN range_start INTEGER NULL;
ALTER TABLE resources ADD COLUMN range_end INTEGER NULL;
CREATE INDEX resources_by_range ON resources (kind, project_id, range_start, range_end);
