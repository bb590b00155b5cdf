-- Unique claims: an index whose values no two live objects may share (a public endpoint
-- address across the installation) says so on each of its entries, and the database
-- refuses a second claim of the same value in the same scope whatever the admission
-- rules decided. 0004's `public_ips` had this guarantee as its primary key; 0006 moved
-- the claims into `resource_index` and lost it.
--
-- Unique claims are single values (start = end), so equality is overlap and a partial
-- UNIQUE index can enforce it. Should two live clusters already share an address, this
-- migration fails and names the constraint: that database needs a look by hand.
ALTER TABLE resource_index ADD COLUMN is_unique INTEGER NOT NULL DEFAULT 0
    CHECK (is_unique IN (0, 1));
UPDATE resource_index SET is_unique = 1 WHERE index_name = 'public_ip';
CREATE UNIQUE INDEX resource_index_unique
    ON resource_index (index_name, scope, range_start) WHERE is_unique = 1;
