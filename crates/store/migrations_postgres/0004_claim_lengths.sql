-- See the SQLite migration of the same name: the longest claim of an index and scope,
-- found without a scan, bounds the search for the claims meeting a range.
CREATE INDEX resource_index_by_length
    ON resource_index (index_name, scope, (range_end - range_start));
